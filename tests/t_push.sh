#!/usr/bin/env bash
# seedsec push against the fake GSM (tests/fake_gsm.py), read back with the real gcloud CLI.
# The full contract of the real config, C11 (a second run changes nothing), C9, C10, the Dex
# pair, --dry-run, reset-dex-admin, a non-gcpsm backend.
. "$(dirname "$0")/lib.sh"
. "$TESTS/gsm_env.sh"
add_cleanup gsm_stop
gsm_start || { echo "RESULT 0 1"; exit 1; }
command -v gcloud >/dev/null || { fail "gcloud is not installed"; finish; exit 1; }
cd "$T"
STATE=$T/state
CF_TOKEN=cfut_$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')

# run NAME [seedsec args...]: stdout NAME.out, stderr NAME.err, exit code in $rc
run() {
    local name=$1
    shift
    "$SEEDSEC" --state "$STATE" "$@" >"$T/$name.out" 2>"$T/$name.err"
    rc=$?
}
# the status lines of a run (CREATED/EXISTS/...)
lines() { grep -E '^(CREATED|EXISTS|REPAIRED|MISSING|MISMATCH|FAILED|ROTATED|WOULD-[A-Z]+) ' "$T/$1.err"; }
same() { # MSG WANT GOT
    if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: got [$3], want [$2]"; fi
}
q() { gsm_query "$1"; }
reset_fake() { gsm_ctl POST reset '{}' >/dev/null; rm -rf "$STATE"; }
ALL_KEYS="litellm-master-key litellm-salt-key vllm-api-key litellm-db-password
litellm-grafana-ro-password n8n-encryption-key oauth2-proxy-cookie-secret dex-admin-password
dex-admin-hash dex-oauth2-proxy-client-secret dex-argocd-client-secret dex-litellm-client-secret
dex-grafana-client-secret dex-open-webui-client-secret dex-tabby-client-secret cloudflare-api-token"
GSM_KEYS=$(echo $ALL_KEYS)

# ---------------------------------------------------------------- the whole contract, then gcloud
t0=$(date +%s.%N)
CLOUDFLARE_API_TOKEN=$CF_TOKEN run full -c "$CONFIG" push --json
t1=$(date +%s.%N)
same "full push of the real config exits 0" 0 "$rc"
want=$(for k in $GSM_KEYS; do
    if [ "$k" = cloudflare-api-token ]; then echo "CREATED $k (from CLOUDFLARE_API_TOKEN)"; else echo "CREATED $k"; fi
done)
same "one CREATED line per key, in contract order" "$want" "$(lines full)"
same "--json report: every needed key CREATED, hf/anthropic not needed" \
    "16 CREATED, 2 NOT_NEEDED, exit 0, 1 connection" \
    "$($PY -c '
import json, sys
d = json.load(open(sys.argv[1]))
st = [k["status"] for k in d["keys"]]
print("%d CREATED, %d NOT_NEEDED, exit %d, %d connection" % (st.count("CREATED"), st.count("NOT_NEEDED"), d["exit"], d["connections"]))
' "$T/full.out")"
echo "# full push: $($PY -c "print('%.2f s' % ($t1 - $t0))"), $($PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["requests"], "requests over", d["connections"], "connection(s)")' "$T/full.out")"
same "each secret: exactly one ENABLED version, label managed-by=seedsec, automatic replication, CRC sent" \
    "16" "$(q 'sum(1 for x in s["secrets"] if [(v["version"], v["state"], v["clientSpecifiedPayloadChecksum"]) for v in x["versions"]] == [(1, "ENABLED", True)] and x["labels"] == {"managed-by": "seedsec"} and x["replication"] == {"automatic": {}})')"
same "nothing else in the project" "16" "$(q 'len(s["secrets"])')"

# every value back through gcloud, checked against its consumer's rule
mkdir -p "$T/back"
# (8 gcloud processes at a time: each one spends most of its second starting up)
printf '%s\n' $GSM_KEYS | xargs -P 8 -I{} sh -c \
    'gcloud secrets versions access latest --secret="$1" --project=ai-lab --quiet --out-file="$2/$1" 2>>"$2/../gcloud.err"' _ {} "$T/back"
same "gcloud reads back all 16 secrets" 16 "$(ls "$T/back" | wc -l)"
check "each value read by gcloud obeys its rule; the hash verifies the password; the token is byte-identical" \
    $PY - "$T/back" "$CF_TOKEN" <<'EOF'
import base64, os, re, sys, bcrypt
d, cf = sys.argv[1], sys.argv[2].encode()
v = {k: open(os.path.join(d, k), "rb").read() for k in os.listdir(d)}
rules = {
    "litellm-master-key": rb"sk-[A-Za-z0-9]{48}", "litellm-salt-key": rb"sk-[A-Za-z0-9]{48}",
    "vllm-api-key": rb"[A-Za-z0-9]{48}", "n8n-encryption-key": rb"[A-Za-z0-9]{48}",
    "litellm-db-password": rb"[A-Za-z0-9]{32}", "litellm-grafana-ro-password": rb"[A-Za-z0-9]{32}",
    "dex-admin-password": rb"[A-Za-z0-9]{32}", "dex-admin-hash": rb"\$2a\$12\$[./A-Za-z0-9]{53}",
    "oauth2-proxy-cookie-secret": rb"[A-Za-z0-9_-]{43}=",
}
for c in ("oauth2-proxy", "argocd", "litellm", "grafana", "open-webui", "tabby"):
    rules["dex-%s-client-secret" % c] = rb"[A-Za-z0-9]{48}"
bad = [k for k, r in rules.items() if not re.fullmatch(r, v[k])]
bad += [] if len(base64.urlsafe_b64decode(v["oauth2-proxy-cookie-secret"])) == 32 else ["cookie bytes"]
bad += [] if bcrypt.checkpw(v["dex-admin-password"], v["dex-admin-hash"]) else ["hash"]
bad += [] if v["cloudflare-api-token"] == cf else ["cloudflare"]
bad += [] if len(set(v.values())) == 16 else ["duplicates"]
print("bad:", bad) if bad else None
sys.exit(1 if bad else 0)
EOF
check "the Dex password is mirrored (0600) and equals the one in GSM" \
    cmp -s "$STATE/dex-admin-password" "$T/back/dex-admin-password"
same "mirror mode" "600" "$(stat -c %a "$STATE/dex-admin-password")"
leak=0
for k in $GSM_KEYS; do
    for f in "$T/full.err" "$T/full.out"; do grep -qF -- "$(cat "$T/back/$k")" "$f" && leak=1; done
done
grep -qF -- "$FAKE_GSM_TOKEN" "$T/full.err" "$T/full.out" && leak=1
same "no value and no access token on stderr or in the report" 0 "$leak"

# ---------------------------------------------------------------- C11: the second run changes nothing
seq0=$(q 's["seq"]')
CLOUDFLARE_API_TOKEN=$CF_TOKEN run second -c "$CONFIG" push --json
same "second push exits 0" 0 "$rc"
same "second push: EXISTS for every key" "$(for k in $GSM_KEYS; do echo "EXISTS $k"; done)" "$(lines second)"
same "second push: no write request at all (GETs only)" "[]" \
    "$(gsm_ctl GET "log?since=$seq0" | $PY -c 'import json,sys; print(json.dumps([e["method"] for e in json.load(sys.stdin) if e["method"] != "GET"]))')"
same "second push: 16 lists + 3 reads (the Dex pair verified, the supplied token compared), no other request" "19" \
    "$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["requests"])' "$T/second.out")"
same "second push: the same token again is no warning" "" "$(grep warning "$T/second.err")"
same "C11: still one version per secret" "16" "$(q 'sum(1 for x in s["secrets"] if len(x["versions"]) == 1)')"
for k in litellm-salt-key n8n-encryption-key; do
    check "C11: $k byte-identical after the second run" cmp -s <(gsm_value "$k") "$T/back/$k"
done

# ---------------------------------------------------------------- C9: a secret without a version
reset_fake
gsm_ctl POST preload '{"secrets":[{"id":"vllm-api-key","versions":[]},{"id":"litellm-salt-key","versions":[]}]}' >/dev/null
run c9 -c "$CONFIG" --disable identity,n8n,dns push
same "C9: push exits 0" 0 "$rc"
same "C9: REPAIRED for the versionless secrets, CREATED for the rest" \
"CREATED litellm-master-key
REPAIRED litellm-salt-key (the secret had no version; added version 1)
REPAIRED vllm-api-key (the secret had no version; added version 1)
CREATED litellm-db-password
CREATED litellm-grafana-ro-password" "$(lines c9)"
same "C9: each now has one enabled version with a valid value" "[[1, \"ENABLED\"]] True" \
    "$(q 'json.dumps(versions("vllm-api-key")) + " " + str(__import__("re").fullmatch(rb"[A-Za-z0-9]{48}", b64d(sec("vllm-api-key")["versions"][0]["data"])) is not None)')"
run c9b -c "$CONFIG" --disable identity,n8n,dns push
same "C9: the next push says EXISTS" "EXISTS litellm-salt-key
EXISTS vllm-api-key" "$(lines c9b | grep -E 'salt|vllm')"

# ---------------------------------------------------------------- C10: latest disabled, older enabled
reset_fake
gsm_ctl POST preload '{"secrets":[{"id":"litellm-salt-key","versions":["sk-v1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","sk-v2bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",{"data":"sk-v3cccccccccccccccccccccccccccccccccccccccccccccccc","state":"DISABLED"}]},
 {"id":"vllm-api-key","versions":[{"data":"x","state":"DESTROYED"},{"data":"y","state":"DISABLED"}]}]}' >/dev/null
run c10 -c "$CONFIG" --disable identity,n8n,dns push
same "C10: push re-adds v2's value; nothing recoverable is reported; exit 1" "1
REPAIRED litellm-salt-key (latest version 3 was DISABLED; re-added version 2's value as version 4, unchanged)
MISSING vllm-api-key (no enabled version: latest version 2 is DISABLED and no older one is enabled; enable one (gcloud secrets versions enable) or add a value yourself)" \
    "$rc
$(lines c10 | grep -E 'salt|vllm')"
same "C10: version 4 holds exactly v2's bytes; v3 stays DISABLED" \
    "sk-v2bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb [[1, \"ENABLED\"], [2, \"ENABLED\"], [3, \"DISABLED\"], [4, \"ENABLED\"]]" \
    "$(gsm_value litellm-salt-key 4) $(q 'versions("litellm-salt-key")')"
same "C10: nothing added to the unrecoverable secret" '[[1, "DESTROYED"], [2, "DISABLED"]]' "$(q 'versions("vllm-api-key")')"

# ---------------------------------------------------------------- the Dex pair
PW=Abcdefghijklmnopqrstuvwxyz012345
HASH=$($PY -c 'import bcrypt,sys; print(bcrypt.hashpw(sys.argv[1].encode(), bcrypt.gensalt(10)).decode().replace("$2b$","$2a$",1))' "$PW")
OTHER=$($PY -c 'import bcrypt; print(bcrypt.hashpw(b"not-the-password", bcrypt.gensalt(10)).decode())')
dex_only="--disable n8n,dns -c $CONFIG"
# both there and matching
reset_fake
gsm_ctl POST preload "{\"secrets\":[{\"id\":\"dex-admin-password\",\"versions\":[\"$PW\"]},{\"id\":\"dex-admin-hash\",\"versions\":[\"$HASH\"]}]}" >/dev/null
run dex1 $dex_only push
same "Dex: both there and matching: EXISTS, exit 0, password mirrored" "0
EXISTS dex-admin-password
EXISTS dex-admin-hash
$PW" "$rc
$(lines dex1 | grep admin)
$(cat "$STATE/dex-admin-password")"
# both there, mismatch: reported, never overwritten
reset_fake
gsm_ctl POST preload "{\"secrets\":[{\"id\":\"dex-admin-password\",\"versions\":[\"$PW\"]},{\"id\":\"dex-admin-hash\",\"versions\":[\"$OTHER\"]}]}" >/dev/null
run dex2 $dex_only push
same "Dex: mismatch reported, exit 1, nothing written to the pair" "1
EXISTS dex-admin-password
MISMATCH dex-admin-hash (does not match dex-admin-password; both kept; run seedsec reset-dex-admin)
[[1, \"ENABLED\"]] [[1, \"ENABLED\"]]" "$rc
$(lines dex2 | grep admin)
$(q 'versions("dex-admin-password")') $(q 'versions("dex-admin-hash")')"
# password only: the hash is made from it
reset_fake
gsm_ctl POST preload "{\"secrets\":[{\"id\":\"dex-admin-password\",\"versions\":[\"$PW\"]}]}" >/dev/null
run dex3 $dex_only push
same "Dex: password only: hash CREATED, exit 0" "0
EXISTS dex-admin-password
CREATED dex-admin-hash" "$rc
$(lines dex3 | grep admin)"
check "Dex: the new hash (\$2a\$12\$) verifies the stored password" $PY -c '
import bcrypt, sys
h = sys.stdin.buffer.read()
sys.exit(0 if h.startswith(b"$2a$12$") and len(h) == 60 and bcrypt.checkpw(sys.argv[1].encode(), h) else 1)' "$PW" < <(gsm_value dex-admin-hash)
# hash only: legacy state, pointed to reset-dex-admin
reset_fake
gsm_ctl POST preload "{\"secrets\":[{\"id\":\"dex-admin-hash\",\"versions\":[\"$HASH\"]}]}" >/dev/null
run dex4 $dex_only push
same "Dex: hash only: MISSING password with the way out, exit 1, no password secret made" "1
MISSING dex-admin-password (only dex-admin-hash exists and a hash cannot be reversed: run seedsec reset-dex-admin)
EXISTS dex-admin-hash
None" "$rc
$(lines dex4 | grep admin)
$(q 'sec("dex-admin-password")')"

# ---------------------------------------------------------------- reset-dex-admin against GSM
reset_fake
gsm_ctl POST preload "{\"secrets\":[{\"id\":\"dex-admin-password\",\"versions\":[\"$PW\"]},{\"id\":\"dex-admin-hash\",\"versions\":[\"$HASH\"]}]}" >/dev/null
(umask 077; mkdir -p "$STATE" && printf '%s' "$PW" >"$STATE/dex-admin-password")
seq0=$(q 's["seq"]')
run reset -c "$CONFIG" reset-dex-admin
same "reset-dex-admin: exit 0, new versions of both" "0
ROTATED dex-admin-password (version 2; mirrored to $STATE/dex-admin-password)
ROTATED dex-admin-hash (version 2)" "$rc
$(lines reset)"
same "reset-dex-admin: password written first, then the hash" \
    '["/v1/projects/ai-lab/secrets/dex-admin-password:addVersion", "/v1/projects/ai-lab/secrets/dex-admin-hash:addVersion"]' \
    "$(gsm_ctl GET "log?since=$seq0" | $PY -c 'import json,sys; print(json.dumps([e["path"] for e in json.load(sys.stdin) if e["method"] == "POST"]))')"
check "reset-dex-admin: new hash verifies the new password, which differs from the old and is mirrored" $PY -c '
import bcrypt, sys, urllib.request
get = lambda p: urllib.request.urlopen(sys.argv[1] + "/value/ai-lab/" + p).read()
pw, h = get("dex-admin-password/2"), get("dex-admin-hash/2")
mirror = open(sys.argv[2], "rb").read()
sys.exit(0 if bcrypt.checkpw(pw, h) and pw != sys.argv[3].encode() and mirror == pw else 1)' \
    "$FAKE_GSM_CONTROL" "$STATE/dex-admin-password" "$PW"
check "reset-dex-admin: the old mirror is kept aside" bash -c "ls '$STATE'/dex-admin-password.*.bak >/dev/null"

# ---------------------------------------------------------------- --dry-run reads only
reset_fake
gsm_ctl POST preload '{"secrets":[{"id":"vllm-api-key","versions":[]},{"id":"litellm-salt-key","versions":["sk-v1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",{"data":"sk-v2bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","state":"DISABLED"}]}]}' >/dev/null
seq0=$(q 's["seq"]')
run dry -c "$CONFIG" --disable identity,n8n,dns push --dry-run --json
same "--dry-run: what would happen, exit 0" "0
WOULD-CREATE litellm-master-key
WOULD-REPAIR litellm-salt-key (latest version 2 is DISABLED: would re-add version 1's value)
WOULD-REPAIR vllm-api-key (the secret has no version: would add one)
WOULD-CREATE litellm-db-password
WOULD-CREATE litellm-grafana-ro-password" "$rc
$(lines dry)"
same "--dry-run: only GET requests, no mirror written" "[] no-mirror" \
    "$(gsm_ctl GET "log?since=$seq0" | $PY -c 'import json,sys; print(json.dumps([e["method"] for e in json.load(sys.stdin) if e["method"] != "GET"]))') $([ -e "$STATE/dex-admin-password" ] && echo mirror || echo no-mirror)"
same "--dry-run --json: statuses" "WOULD_CREATE WOULD_REPAIR WOULD_REPAIR WOULD_CREATE WOULD_CREATE" \
    "$($PY -c 'import json,sys; print(" ".join(k["status"] for k in json.load(open(sys.argv[1]))["keys"] if k["needed"]))' "$T/dry.out")"

# ---------------------------------------------------------------- a provided value for a key GSM holds
reset_fake
gsm_ctl POST preload "{\"secrets\":[{\"id\":\"cloudflare-api-token\",\"versions\":[\"$CF_TOKEN\"]}]}" >/dev/null
seq0=$(q 's["seq"]')
CLOUDFLARE_API_TOKEN=$CF_TOKEN run cfsame -c "$CONFIG" --disable identity,n8n push
same "provided value identical to the stored one: EXISTS, no warning, exit 0" "0
EXISTS cloudflare-api-token
" "$rc
$(lines cfsame | grep cloudflare)
$(grep 'warning' "$T/cfsame.err")"
same "  ... the stored value was read once to compare (one access request)" 1 \
    "$(gsm_ctl GET "log?since=$seq0" | $PY -c 'import json,sys; print(sum(1 for e in json.load(sys.stdin) if e["path"].endswith("cloudflare-api-token/versions/1:access")))')"
CLOUDFLARE_API_TOKEN=${CF_TOKEN}Z run cfdiff -c "$CONFIG" --disable identity,n8n push
same "provided value differing from the stored one: EXISTS, a warning that it differs and the stored one was kept" "0
EXISTS cloudflare-api-token
seedsec: warning: cloudflare-api-token exists in GSM with a different value; the stored value was kept and the one from CLOUDFLARE_API_TOKEN not used (seedsec never replaces a value)" "$rc
$(lines cfdiff | grep cloudflare)
$(grep 'warning' "$T/cfdiff.err")"
same "  ... GSM still holds the old value, one version" "$CF_TOKEN 1" "$(gsm_value cloudflare-api-token) $(gsm_versions cloudflare-api-token | wc -l)"
check "  ... neither value on stderr" eval '! grep -q "$CF_TOKEN" "$T/cfdiff.err"'
gsm_faults '[{"method":"GET","path":"cloudflare-api-token/versions/1:access$","status":200,"body":"{\"payload\": {\"data\": oops","content_type":"application/json"}]'
CLOUDFLARE_API_TOKEN=$CF_TOKEN run badjson -c "$CONFIG" --disable identity,n8n push
same "an access reply that is not JSON: exit 2, the error names the request (key and version)" "2
seedsec: GET secrets/cloudflare-api-token/versions/1:access: the reply is not JSON (unexpected character at line 1 of the reply)" \
    "$rc
$(grep '^seedsec:' "$T/badjson.err")"
gsm_ctl DELETE faults >/dev/null
seq0=$(q 's["seq"]')
run cfnone -c "$CONFIG" --disable identity,n8n push
same "no provided value: no access request for the existing key" 0 \
    "$(gsm_ctl GET "log?since=$seq0" | $PY -c 'import json,sys; print(sum(1 for e in json.load(sys.stdin) if ":access" in e["path"]))')"

# ---------------------------------------------------------------- a provided value over GSM's 64 KiB
reset_fake
seq0=$(q 's["seq"]')
{ printf hf_; head -c 65534 /dev/zero | tr '\0' a; } >"$T/hf-64k1"
run big -c "$CONFIG" --disable identity,n8n,dns --value hf-token=@"$T/hf-64k1" push
same "--value over 64 KiB: exit 2, one error naming the key, the size and the limit" \
    "2
seedsec: hf-token (from --value hf-token=@$T/hf-64k1): the value is 65537 bytes, larger than GSM's 64 KiB payload limit (65536 bytes); nothing written" \
    "$rc
$(grep -v '^seedsec: warning' "$T/big.err")"
same "  ... refused before any request: nothing asked, nothing in the project" "0 0" \
    "$(gsm_ctl GET "log?since=$seq0" | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))') $(q 'len(s["secrets"])')"
CLOUDFLARE_API_TOKEN=cfut_$(head -c 65600 /dev/zero | tr '\0' b) run bigenv -c "$CONFIG" --disable identity,n8n push
same "CLOUDFLARE_API_TOKEN over 64 KiB: exit 2, refused before any request" "2 0 0" \
    "$rc $(gsm_ctl GET "log?since=$seq0" | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))') $(q 'len(s["secrets"])')"
check "  ... the error names the key and the limit, never the value" \
    eval 'grep -q "^seedsec: cloudflare-api-token (from CLOUDFLARE_API_TOKEN): the value is 65605 bytes, larger than GSM.s 64 KiB payload limit" "$T/bigenv.err" && ! grep -q bbbbbbbb "$T/bigenv.err"'
head -c 65536 "$T/hf-64k1" >"$T/hf-64k"
run big64 -c "$CONFIG" --disable identity,n8n,dns --value hf-token=@"$T/hf-64k" push
same "--value of exactly 64 KiB: created, exit 0" "0 CREATED hf-token (from --value hf-token=@$T/hf-64k) 65536" \
    "$rc $(lines big64 | grep hf-token) $(gsm_value hf-token | wc -c)"

# ---------------------------------------------------------------- missing provided value; other backend
reset_fake
run nocf -c "$CONFIG" --disable identity,n8n push
same "no CLOUDFLARE_API_TOKEN: MISSING with how to provide it, the rest created, exit 1" "1
MISSING cloudflare-api-token (set CLOUDFLARE_API_TOKEN or pass --value cloudflare-api-token=@FILE)
5" "$rc
$(lines nocf | grep -v CREATED)
$(lines nocf | grep -c CREATED)"
seq0=$(q 's["seq"]')
run other -c "$PLATFORM/config-variants/backend-other.config.yaml" push
same "non-gcpsm backend: refused (exit 2), no request made" "2 0" "$rc $(gsm_ctl GET "log?since=$seq0" | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')"
check "non-gcpsm backend: the key list and the ESO provider docs link" \
    grep -q "^  litellm-master-key$" "$T/other.err"
check "non-gcpsm backend: docs link" grep -qF "https://external-secrets.io/latest/provider/" "$T/other.err"

finish
