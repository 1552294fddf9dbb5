#!/usr/bin/env bash
# A long version history in GSM: the versions list comes in pages (nextPageToken). The
# newest 149 versions disabled and only v1 ENABLED: push restores v1 (REPAIRED), check says
# so; every version disabled over several pages stays MISSING; an ambiguous addVersion on
# such a secret is found by the paged list, not added twice.
. "$(dirname "$0")/lib.sh"
. "$TESTS/gsm_env.sh"
add_cleanup gsm_stop
gsm_start || { echo "RESULT 0 1"; exit 1; }
cd "$T"
G=(--endpoint "$FAKE_GSM_URL" --ca-file "$FAKE_GSM_CA" --token-file "$FAKE_GSM_TOKEN_FILE")
same() { # MSG WANT GOT
    if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: got [$3], want [$2]"; fi
}
q() { gsm_query "$1"; }
V1=sk-v1$(od -An -tx1 -N20 /dev/urandom | tr -d ' \n' | head -c 46)
# litellm-salt-key: v1 ENABLED, v2..v150 DISABLED; vllm-api-key: v1..v230 all DISABLED
$PY - "$V1" > preload.json <<'PYEOF'
import json, sys
salt = [{"data": sys.argv[1]}] + [{"data": "sk-old%03d" % i, "state": "DISABLED"} for i in range(2, 151)]
vllm = [{"data": "old%03d" % i, "state": "DISABLED"} for i in range(1, 231)]
print(json.dumps({"secrets": [{"id": "litellm-salt-key", "versions": salt},
                              {"id": "vllm-api-key", "versions": vllm}]}))
PYEOF
gsm_ctl POST preload @preload.json > /dev/null
same "setup: 150 and 230 versions preloaded" "150 230" \
    "$(q 'str(len(versions("litellm-salt-key"))) + " " + str(len(versions("vllm-api-key")))')"
same "the fake pages like GSM: pageSize 100 gives 100 versions and a nextPageToken" "100 True" \
    "$($PY - "$FAKE_GSM_CA" "$FAKE_GSM_TOKEN" "${FAKE_GSM_URL%/}/v1/projects/ai-lab/secrets/litellm-salt-key/versions?pageSize=100" <<'PYEOF'
import json, ssl, sys, urllib.request
ca, tok, url = sys.argv[1:4]
req = urllib.request.Request(url, headers={"Authorization": "Bearer " + tok})
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                     urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=ca)))
d = json.load(opener.open(req))
print(len(d["versions"]), bool(d.get("nextPageToken")))
PYEOF
)"

# check, before push: the enabled v1 behind 149 disabled versions is seen
"$SEEDSEC" -c "$CONFIG" check "${G[@]}" > /dev/null 2> check1.err
rc=$?
same "check: problems, exit 1" 1 "$rc"
check "check: latest 150 DISABLED, push can re-add the newest enabled version" \
    grep -qF 'BAD litellm-salt-key (latest version 150 is DISABLED (seedsec push re-adds the newest enabled version)' check1.err
check "check: 230 disabled versions: no enabled version left" \
    grep -qF 'BAD vllm-api-key (latest version 230 is DISABLED; no enabled version is left' check1.err
check "check: the listing followed nextPageToken" \
    [ "$(q 'sum(1 for e in log() if e["path"].endswith("/litellm-salt-key/versions") and "pageToken" in (e.get("query") or ""))')" -ge 1 ]

# push --dry-run
CLOUDFLARE_API_TOKEN=cfut_tok "$SEEDSEC" -c "$CONFIG" --state st push --dry-run "${G[@]}" > /dev/null 2> dry.err
check "dry-run: WOULD-REPAIR from version 1" \
    grep -qxF "WOULD-REPAIR litellm-salt-key (latest version 150 is DISABLED: would re-add version 1's value)" dry.err
check "dry-run: still nothing recoverable in vllm-api-key" \
    grep -qF 'MISSING vllm-api-key (no enabled version: latest version 230 is DISABLED and no older one is enabled' dry.err

# push, the repairing addVersion lands but its reply is lost: found in the paged list, not re-sent
gsm_faults '[{"method":"POST","path":"litellm-salt-key:addVersion$","action":"reset_after"}]'
CLOUDFLARE_API_TOKEN=cfut_tok "$SEEDSEC" -c "$CONFIG" --state st push "${G[@]}" > /dev/null 2> push.err
rc=$?
same "push: exit 1 (vllm-api-key cannot be recovered)" 1 "$rc"
check "push: REPAIRED from version 1, as version 151" \
    grep -qxF "REPAIRED litellm-salt-key (latest version 150 was DISABLED; re-added version 1's value as version 151, unchanged)" push.err
check "push: no false MISSING for litellm-salt-key" bash -c '! grep -q "MISSING litellm-salt-key" push.err'
same "the lost reply's fault fired once" 1 "$(q 'sum(f.get("fired", 0) for f in s["faults"])')"
same "version 151 holds exactly v1's bytes, added once" "$V1 151 ENABLED" \
    "$(q 'b64d(sec("litellm-salt-key")["versions"][-1]["data"]).decode() + " " + str(len(versions("litellm-salt-key"))) + " " + versions("litellm-salt-key")[-1][1]')"
same "nothing added to the 230 disabled versions" "230 0" \
    "$(q 'str(len(versions("vllm-api-key"))) + " " + str(sum(1 for v in versions("vllm-api-key") if v[1] != "DISABLED"))')"
gsm_state > state.json
check "no stored value (any secret, any version) in the stderr of check, dry-run or push" \
    $PY -c '
import base64, json, sys
s = json.load(open("state.json"))
vals = {base64.b64decode(v["data"]) for x in s["secrets"] for v in x["versions"] if v.get("data")}
err = b"".join(open(f, "rb").read() for f in sys.argv[1:])
sys.exit(1 if len(vals) < 300 or any(v in err for v in vals if len(v) >= 6) else 0)' check1.err dry.err push.err

# check, after: the repaired key passes; a second push changes nothing for it
"$SEEDSEC" -c "$CONFIG" check "${G[@]}" > /dev/null 2> check2.err
check "check after push: litellm-salt-key OK" grep -qx 'OK litellm-salt-key' check2.err
check "check after push: only vllm-api-key is still bad" \
    [ "$(grep -cE '^(BAD|MISSING) ' check2.err)" = 1 ] && grep -q '^BAD vllm-api-key' check2.err
CLOUDFLARE_API_TOKEN=cfut_tok "$SEEDSEC" -c "$CONFIG" --state st push "${G[@]}" > /dev/null 2> push2.err
check "second push: EXISTS" grep -qx 'EXISTS litellm-salt-key' push2.err
same "second push: still 151 versions" 151 "$(q 'len(versions("litellm-salt-key"))')"
finish
