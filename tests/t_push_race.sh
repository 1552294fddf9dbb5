#!/usr/bin/env bash
# Two pushes into one project at the same time (first boot on several nodes): both may add
# a first version. The first enabled version wins: the run that lost disables its own
# version, adds the winner's value again on top, and (for the Dex pair) takes over the
# winner's password for its hash and its mirror. Read back with the real gcloud.
. "$(dirname "$0")/lib.sh"
. "$TESTS/gsm_env.sh"
add_cleanup gsm_stop
gsm_start || { echo "RESULT 0 1"; exit 1; }
cd "$T"
same() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: got [$3], want [$2]"; fi; }
q() { gsm_query "$1"; }
reset_fake() { gsm_ctl POST reset '{}' >/dev/null; }
FIVE="-c $CONFIG --disable identity,n8n,dns"
DEX="-c $CONFIG --disable n8n,dns --bcrypt-cost 10"
access() { # SECRET VERSION PROJECT: the bytes, through gcloud
    gcloud secrets versions access "$2" --secret="$1" --project="$3" --quiet 2>>gcloud.err
}
# wait until the fake has taken the delayed request (its fault fired)
wait_fired() {
    local i
    for i in $(seq 1 200); do
        [ "$(gsm_ctl GET faults | $PY -c 'import json,sys; print(sum(r["fired"] for r in json.load(sys.stdin)))')" -ge 1 ] && return 0
        sleep 0.05
    done
    return 1
}
# every secret: all ENABLED versions hold one value, and the latest is ENABLED
converged='all(len({v["data"] for v in x["versions"] if v["state"] == "ENABLED"}) == 1 and x["versions"][-1]["state"] == "ENABLED" for x in s["secrets"])'

# ---- a plain key: run A's first addVersion is held; run B adds first ---------------------
reset_fake
gsm_faults '[{"method":"POST","path":"litellm-salt-key:addVersion$","action":"delay","seconds":2}]'
"$SEEDSEC" --state a $FIVE push --json >a.out 2>a.err &
apid=$!
wait_fired || fail "the fake never took A's addVersion"
"$SEEDSEC" --state b $FIVE push --json >b.out 2>b.err
brc=$?
wait $apid
arc=$?
same "both runs exit 0" "0 0" "$arc $brc"
same "litellm-salt-key: B's version 1, A's version 2 disabled, version 1's value again as 3" \
    '[[1, "ENABLED"], [2, "DISABLED"], [3, "ENABLED"]]' "$(q 'versions("litellm-salt-key")')"
check "A says so (REPAIRED: another run added version 1 first)" \
    grep -q "^REPAIRED litellm-salt-key (another run added version 1 first; this run's version 2 is disabled and version 1's value added again as version 3)$" a.err
check "B saw a secret without a version and added the first one" \
    grep -q "^REPAIRED litellm-salt-key (the secret had no version; added version 1)$" b.err
check "gcloud reads the same bytes from latest and from version 1" \
    eval '[ "$(access litellm-salt-key latest ai-lab | base64 -w0)" = "$(access litellm-salt-key 1 ai-lab | base64 -w0)" ] && [ -n "$(access litellm-salt-key 1 ai-lab)" ]'
check "every key: one value among its enabled versions, latest enabled" test "$(q "$converged")" = True
same "A's --json report: version 3, REPAIRED" "REPAIRED 3" \
    "$($PY -c 'import json,sys; k=[k for k in json.load(open(sys.argv[1]))["keys"] if k["name"]=="litellm-salt-key"][0]; print(k["status"], k["version"])' a.out)"
"$SEEDSEC" $FIVE check >chk.out 2>chk.err
same "check afterwards: exit 0" 0 "$?"

# ---- the Dex pair: A's password is held; B's wins; A takes it over -------------------------
reset_fake
gsm_faults '[{"method":"POST","path":"dex-admin-password:addVersion$","action":"delay","seconds":3}]'
"$SEEDSEC" --state a2 $DEX push >a2.out 2>a2.err &
apid=$!
wait_fired || fail "the fake never took A's dex-admin-password addVersion"
"$SEEDSEC" --state b2 $DEX push >b2.out 2>b2.err
brc=$?
wait $apid
arc=$?
same "Dex: both runs exit 0" "0 0" "$arc $brc"
same "dex-admin-password: 1 enabled, 2 disabled, 3 enabled" '[[1, "ENABLED"], [2, "DISABLED"], [3, "ENABLED"]]' \
    "$(q 'versions("dex-admin-password")')"
same "dex-admin-hash: one version (B's; A found it there)" '[[1, "ENABLED"]]' "$(q 'versions("dex-admin-hash")')"
access dex-admin-password latest ai-lab >pw.latest
access dex-admin-hash latest ai-lab >hash.latest
check "both mirrors hold the stored password" eval 'cmp -s pw.latest a2/dex-admin-password && cmp -s pw.latest b2/dex-admin-password'
check "the stored hash verifies the stored password (python3-bcrypt)" \
    $PY -c 'import bcrypt; assert bcrypt.checkpw(open("pw.latest","rb").read(), open("hash.latest","rb").read())'
check "A: REPAIRED dex-admin-password (another run first), dex-admin-hash EXISTS" \
    eval 'grep -q "^REPAIRED dex-admin-password (another run added version 1 first" a2.err && grep -q "^EXISTS dex-admin-hash$" a2.err'
"$SEEDSEC" ${DEX% --bcrypt-cost 10} check >chk2.out 2>chk2.err
same "check afterwards: exit 0 (the hash matches)" 0 "$?"
check "no value on either run's stderr" eval '! grep -qF "$(cat pw.latest)" a2.err b2.err'

export CLOUDFLARE_API_TOKEN=cfut_race0123456789abcdefghij
# together LABEL RUN...: start one push per RUN name at once (state dir LABEL/RUN), wait for all,
# then check what must hold however they interleaved; rcs gets their exit codes
together() {
    local p=$1 r pid
    shift
    mkdir -p "$p"
    local pids=()
    for r in "$@"; do
        "$SEEDSEC" --state "$p/$r" $DEX --project ai-lab push >"$p/$r.out" 2>"$p/$r.err" &
        pids+=($!)
    done
    rcs=
    for pid in "${pids[@]}"; do wait "$pid"; rcs="$rcs$? "; done
    gsm_faults '[]'
    check "$p: every key converged to one value" test "$(q "$converged")" = True
    "$SEEDSEC" ${DEX% --bcrypt-cost 10} --project ai-lab check >"$p/chk.out" 2>"$p/chk.err"
    same "$p: check exit 0 (the stored hash matches the stored password)" 0 "$?"
    local pw mirrors=1
    pw=$(q 'b64d([v for v in sec("dex-admin-password")["versions"] if v["state"] == "ENABLED"][-1]["data"]).decode()')
    for r in "$@"; do [ "$pw" = "$(cat "$p/$r/dex-admin-password")" ] || mirrors=0; done
    check "$p: every run's mirror holds the stored password" [ $mirrors = 1 ]
}
# ---- no delay: two runs started together, three times (the full contract, Dex on) ---------
for p in r1 r2 r3; do
    reset_fake
    together "two at once ($p)" a b
    same "two at once ($p): both exit 0" "0 0 " "$rcs"
done
# ---- three runs at once, every addVersion reply held back 0.3 s (runs overtake each other) --
for p in t1 t2 t3; do
    reset_fake
    gsm_faults '[{"method":"POST","path":":addVersion$","action":"delay","seconds":0.3,"when":"after","times":-1}]'
    together "three at once ($p)" a b c
    # a run that looked while another was still settling may say MISMATCH (exit 1); never 2
    check "three at once ($p): no run failed (exit 0 or 1: $rcs)" eval '! echo "$rcs" | grep -q 2'
done

# ---- what an observer sees mid-race, made still: a password with two enabled versions -------
PW1=Aa1Bb2Cc3Dd4Ee5Ff6Gg7Hh8 PW2=Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2
H1=$($PY -c 'import bcrypt,sys; print(bcrypt.hashpw(sys.argv[1].encode(), bcrypt.gensalt(10, prefix=b"2a")).decode())' "$PW1")
reset_fake
gsm_ctl POST preload "{\"secrets\":[{\"id\":\"dex-admin-password\",\"versions\":[\"$PW1\",\"$PW2\"]}]}" >/dev/null
"$SEEDSEC" --state o1 $DEX push >o1.out 2>o1.err
same "no hash yet, two enabled passwords: the hash is made from the first (first wins), exit 0" "0 True" \
    "$? $($PY -c 'import bcrypt,sys; print(bcrypt.checkpw(sys.argv[1].encode(), sys.stdin.buffer.read()))' "$PW1" < <(gsm_value dex-admin-hash))"
same "... and the first is mirrored" "$PW1" "$(cat o1/dex-admin-password)"
reset_fake
gsm_ctl POST preload "{\"secrets\":[{\"id\":\"dex-admin-password\",\"versions\":[\"$PW1\",\"$PW2\"]},{\"id\":\"dex-admin-hash\",\"versions\":[\"$H1\"]}]}" >/dev/null
"$SEEDSEC" --state o2 $DEX push >o2.out 2>o2.err
same "a hash of the older password: MISMATCH naming the version it matches, exit 1" "1 1" \
    "$? $(grep -c '^MISMATCH dex-admin-hash (does not match the latest dex-admin-password; it matches version 1, which is mirrored' o2.err)"
same "... the password that logs in (version 1) is mirrored, nothing written to GSM" \
    "$PW1 [[1, \"ENABLED\"], [2, \"ENABLED\"]] [[1, \"ENABLED\"]]" \
    "$(cat o2/dex-admin-password) $(q 'versions("dex-admin-password")') $(q 'versions("dex-admin-hash")')"
check "no password on stderr" eval '! grep -qF -e "$PW1" -e "$PW2" o1.err o2.err'

finish
