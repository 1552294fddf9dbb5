#!/usr/bin/env bash
# valgrind (memcheck) over a glibc build of seedsec.c (gcc -O1 -g, Mbed TLS built with gcc):
# render, seal, check (a stream and GSM), push against the fake GSM (clean, again, through
# faults), reset-dex-admin (GSM, plain, sealed), bcrypt, application-default credentials. No memory error, no definite or indirect leak.
# Skipped (one pass saying so) when valgrind is not installed.
. "$(dirname "$0")/lib.sh"
if ! command -v valgrind >/dev/null; then
    pass "valgrind not installed: skipped (.ci/deps installs it)"
    finish
    exit
fi
. "$TESTS/gsm_env.sh"
add_cleanup gsm_stop
gsm_start || { echo "RESULT 0 1"; exit 1; }
cd "$T"
if ! VG_BIN=$(sh "$TESTS/build_glibc.sh" plain 2>build.err); then
    fail "glibc build failed: $(tail -n 3 build.err)"
    finish
    exit
fi
export CLOUDFLARE_API_TOKEN=cfut_valgrind0123456789abcdef HF_TOKEN=hf_valgrind0123456789abcdef
ALL=(-c "$CONFIG" --all --bcrypt-cost 10)
GATES=(-c "$CONFIG" --all)
printf 'sk-ant-valgrind0123456789' >an.txt
openssl genrsa -out key.pem 2048 2>/dev/null
openssl req -new -x509 -key key.pem -subj / -days 30 -out cert.pem 2>/dev/null
n=0
# vg NAME WANT_EXIT [--stdin FILE] ARGS...
vg() {
    local name=$1 want=$2 in=/dev/null
    shift 2
    if [ "$1" = --stdin ]; then in=$2; shift 2; fi
    valgrind -q --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
        --error-exitcode=99 --log-file="vg-$name.log" "$VG_BIN" "$@" >"vg-$name.out" 2>"vg-$name.err" <"$in"
    local rc=$?
    if [ "$rc" = "$want" ] && [ ! -s "vg-$name.log" ]; then
        pass "valgrind: $name (exit $rc, clean)"
    else
        fail "valgrind: $name: exit $rc (want $want)"
        sed 's/^/    /' "vg-$name.log" | head -n 40
        tail -n 3 "vg-$name.err" | sed 's/^/    stderr: /'
    fi
}
vg render 0 "${ALL[@]}" --state st --value anthropic-api-key=@an.txt render -o r1.yaml
vg render-existing 0 "${ALL[@]}" --state st render --existing r1.yaml --format json
vg render-bad-value 2 "${ALL[@]}" --value anthropic-api-key=@/dev/null --value hf-token=@cert.pem render
vg seal 0 "${ALL[@]}" --state st seal --cert cert.pem --existing r1.yaml
vg check-existing 0 "${GATES[@]}" check --existing r1.yaml --json
vg reset-offline 0 "${ALL[@]}" --state st reset-dex-admin --existing r1.yaml -o r2.yaml
vg reset-sealed 0 "${ALL[@]}" --state st reset-dex-admin --cert cert.pem --existing vg-seal.out -o r3.yaml
vg bcrypt 0 --stdin an.txt bcrypt -C 10
vg bcrypt-verify 1 --stdin an.txt bcrypt --verify '$2a$10$abcdefghijklmnopqrstuu5Ju2Ylrb7BO5M3WEBF0EwEyFT6Ea6ma'
vg push 0 "${ALL[@]}" --state st2 --value anthropic-api-key=@an.txt push --json
vg push-again 0 "${ALL[@]}" --state st2 push
vg check-gsm 0 "${GATES[@]}" check
vg reset-gsm 0 "${ALL[@]}" --state st2 reset-dex-admin
gsm_ctl POST reset '{}' >/dev/null
gsm_faults '[{"index":2,"status":503},{"index":3,"action":"reset_after"},{"index":5,"action":"close_after"},{"index":7,"action":"truncate"},{"index":9,"status":429,"headers":{"Retry-After":"0"}},{"index":11,"action":"reset_before"}]'
vg push-faults 0 "${ALL[@]}" --state st3 --value anthropic-api-key=@an.txt push
gsm_make_sa_key "$T/sa.json"
(unset CLOUDSDK_AUTH_ACCESS_TOKEN_FILE; vg check-sa 0 "${GATES[@]}" --credentials "$T/sa.json" check) | tee sa.res
[ -s sa.res ] && { grep -q '^ok' sa.res && npass=$((npass + 1)) || nfail=$((nfail + 1)); }
mkdir -p "$T/adc"
gsm_make_authorized_user "$T/adc/application_default_credentials.json"
(unset CLOUDSDK_AUTH_ACCESS_TOKEN_FILE; CLOUDSDK_CONFIG=$T/adc vg check-adc 0 "${GATES[@]}" check) | tee adc.res
[ -s adc.res ] && { grep -q '^ok' adc.res && npass=$((npass + 1)) || nfail=$((nfail + 1)); }
# two runs at once: the valgrind run's dex-admin-password is held, a native run adds first;
# the valgrind run disables its own version, re-adds the winner's and takes the password over
gsm_ctl POST reset '{}' >/dev/null
gsm_faults '[{"method":"POST","path":"dex-admin-password:addVersion$","action":"delay","seconds":4}]'
(
    for i in $(seq 1 400); do
        [ "$(gsm_ctl GET faults | $PY -c 'import json,sys; print(sum(r["fired"] for r in json.load(sys.stdin)))')" -ge 1 ] && break
        sleep 0.05
    done
    "$SEEDSEC" "${ALL[@]}" --state st6 --value anthropic-api-key=@an.txt push >/dev/null 2>&1
) &
racer=$!
vg push-race 0 "${ALL[@]}" --state st5 --value anthropic-api-key=@an.txt push
wait $racer
if grep -q "^REPAIRED dex-admin-password (another run added version 1 first" vg-push-race.err && cmp -s st5/dex-admin-password st6/dex-admin-password; then
    pass "valgrind: push-race took the path it is there for (lost, took the winner's password)"
else
    fail "valgrind: push-race did not lose the race as arranged: $(grep dex-admin vg-push-race.err | head -n 3)"
fi
gsm_ctl POST reset '{}' >/dev/null
gsm_faults '[{"method":"POST","path":":addVersion$","status":503,"times":-1}]'
vg push-fails 2 "${ALL[@]}" --state st4 --value anthropic-api-key=@an.txt push --json
finish
