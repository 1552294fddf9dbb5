#!/usr/bin/env bash
# Secret hygiene (issue #8) across every command and its error paths:
#  1. no generated or provided value on stderr, in an error message, or on a stdout that is
#     not the point of the command (every value seen is collected: canaries given through the
#     environment and --value files, rendered streams, GSM, mirrors, bcrypt);
#  2. values never come from argv: --value KEY=literal is refused without echoing it, and the
#     /proc/PID/cmdline of a running push holds none;
#  3. files written are 0600 and the state dir 0700, also under umask 000;
#  4. buffers that held a secret are wiped before free: a glibc build of seedsec.c with
#     tests/zshim.c wrapped around free/realloc dumps every freed block, tests/zscan.py
#     looks for every value in them (render, seal, push, check, reset-dex-admin, bcrypt).
. "$(dirname "$0")/lib.sh"
. "$TESTS/gsm_env.sh"
add_cleanup gsm_stop
gsm_start || { echo "RESULT 0 1"; exit 1; }
cd "$T"
H="$PY $TESTS/hygiene.py"
VALS=$T/vals.tsv
: >"$VALS"
mkdir -p cap dumps
rnd() { od -An -tx1 -N10 /dev/urandom | tr -d ' \n'; }
CF=cfut_CanaryCloudflare$(rnd)
AN=sk-ant-CanaryAnthropic$(rnd)
HF=hf_CanaryHuggingFace$(rnd)
DBPW=CanaryDbPassword$(rnd)          # a provided value for a generated key
DEXPW=CanaryDexAdmin$(rnd)           # 32 chars: a provided Dex admin password
DEXPW=${DEXPW:0:32}
BCPW='Canary bcrypt pass'$(rnd)      # bcrypt reads any bytes
LIT=hf_CanaryLiteral$(rnd)           # what a careless user types on the command line
(umask 077
 printf '%s\n' "$DBPW" >dbpw.txt
 printf '%s' "$DEXPW" >dexpw.txt
 printf '%s\r\n' "$HF" >hf.txt)
gsm_make_sa_key "$T/sa.json"
gsm_make_authorized_user "$T/au.json"
TOK=$FAKE_GSM_TOKEN
SAKEY=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["private_key"].splitlines()[5])' "$T/sa.json")
REFRESH=$($PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["refresh_token"])' "$T/au.json")
for v in CF AN HF DBPW DEXPW BCPW LIT TOK SAKEY REFRESH; do printf '%s\t%s\n' "canary-$v" "${!v}" >>"$VALS"; done
export CLOUDFLARE_API_TOKEN=$CF ANTHROPIC_API_KEY=$AN HF_TOKEN=$HF
S=("$SEEDSEC")
GATES=(-c "$CONFIG" --all)
ALL=("${GATES[@]}" --bcrypt-cost 10)
# stdout of these captures is the point of the command (values expected there)
VALUE_OUT=()

# r NAME [--values-out] CMD...: stdout cap/NAME.out, stderr cap/NAME.err, exit in $rc
r() {
    local name=$1
    shift
    if [ "$1" = --values-out ]; then VALUE_OUT+=("cap/$name.out"); shift; fi
    "$@" >"cap/$name.out" 2>"cap/$name.err" </dev/null
    rc=$?
}
# ri NAME INPUTFILE CMD...: the same with stdin from a file
ri() {
    local name=$1 in=$2
    shift 2
    "$@" >"cap/$name.out" 2>"cap/$name.err" <"$in"
    rc=$?
}
is() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: got [$3], want [$2]"; fi; }
reset_fake() { gsm_ctl POST reset '{}' >/dev/null; }
harvest() { $H gsm "$VALS" "$FAKE_GSM_CONTROL"; }

# ================================================================ 1. every command, its error paths
r plan "${S[@]}" "${GATES[@]}" plan
is "plan" 0 "$rc"
r plan-json "${S[@]}" "${GATES[@]}" plan --json
is "plan --json" 0 "$rc"
r contract "${S[@]}" contract
is "contract" 0 "$rc"
r contract-json "${S[@]}" contract --json
is "contract --json" 0 "$rc"

# render: values from the environment, --value files (one of them on stdin)
r render --values-out "${S[@]}" "${ALL[@]}" --state st1 --value litellm-db-password=@dbpw.txt \
    --value dex-admin-password=@dexpw.txt --value hf-token=@hf.txt render
is "render --all with provided values" 0 "$rc"
ri render-stdin hf.txt "${S[@]}" "${ALL[@]}" --state st1 --value hf-token=@- render --format json
VALUE_OUT+=(cap/render-stdin.out)
is "render --value hf-token=@- (stdin), json" 0 "$rc"
r render-o "${S[@]}" "${ALL[@]}" --state st1 --value hf-token=@hf.txt render -o r1.yaml
is "render -o" 0 "$rc"
r render-split "${S[@]}" "${ALL[@]}" --state st1 render --split split1 --format json
is "render --split" 0 "$rc"
r render-existing --values-out "${S[@]}" "${ALL[@]}" --state st1 render --existing r1.yaml
is "render --existing" 0 "$rc"
r render-inplace "${S[@]}" "${ALL[@]}" --state st1 render --existing r1.yaml -o r1.yaml
is "render --existing F -o F (in place)" 0 "$rc"
$H render "$VALS" cap/render.out cap/render-stdin.out r1.yaml cap/render-existing.out split1/*
# render error paths
r e-literal "${S[@]}" "${ALL[@]}" --value "hf-token=$LIT" render
is "--value KEY=literal: refused" 2 "$rc"
check "--value KEY=literal: the message says why and does not repeat the value" \
    grep -q 'never taken from the command line' cap/e-literal.err
r e-literal2 "${S[@]}" --value="litellm-db-password=$LIT" render
is "--value=KEY=literal: refused" 2 "$rc"
r e-noeq "${S[@]}" --value "$LIT" render
is "--value LITERAL (no KEY=): refused" 2 "$rc"
r e-unknown "${S[@]}" --value "nosuch=$LIT" render
is "--value unknown=literal: refused" 2 "$rc"
(umask 077
 printf 'hf_%s inner space' "$(rnd)" >ws.txt
 printf 'hf_%s\001ctl' "$(rnd)" >ctl.txt
 printf 'hf_%s\377utf' "$(rnd)" >utf.txt
 printf 'Bad@Password:%s' "$(rnd)" >rule.txt)
printf 'canary-ws\t%s\ncanary-ctl\t%s\ncanary-utf\t%s\ncanary-rule\t%s\n' \
    "$(head -c 23 ws.txt)" "$(head -c 23 ctl.txt)" "$(head -c 23 utf.txt)" "$(cat rule.txt)" >>"$VALS"
for f in ws ctl utf; do
    r "e-$f" "${S[@]}" "${ALL[@]}" --value "hf-token=@$f.txt" render
    is "a $f value in a --value file: error" 2 "$rc"
done
r e-envws env "HF_TOKEN=hf_$(rnd) Canary" "${S[@]}" "${ALL[@]}" render
is "a value with inner whitespace in HF_TOKEN: error" 2 "$rc"
r w-rule --values-out "${S[@]}" "${ALL[@]}" --state st1 --value litellm-db-password=@rule.txt render
is "a rule-breaking provided value: used with a warning" "0 1" "$rc $(grep -c 'must be \[A-Za-z0-9\]' cap/w-rule.err)"
r e-exists "${S[@]}" "${ALL[@]}" --state st1 render -o r1.yaml
is "-o onto an existing file: refused" 2 "$rc"
# a broken --existing stream: the parse error must not quote the line it is on
$PY - r1.yaml broken.yaml <<'P'
import sys
lines = open(sys.argv[1]).read().splitlines()
i = next(n for n, l in enumerate(lines) if l.strip().startswith("value:"))
lines[i] = lines[i] + " : ]["
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
P
r e-broken "${S[@]}" "${ALL[@]}" --state st1 render --existing broken.yaml
is "a broken --existing stream: error" 2 "$rc"
TABV=sk-CanaryTab$(rnd)
printf '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"litellm-salt-key"},"data":{"value":"%s"}}\n' \
    "$(printf '%s\tTab' "$TABV" | base64 -w0)" >tab.json
printf 'canary-tab\t%s\n' "$TABV" >>"$VALS"
r e-tab --values-out "${S[@]}" "${ALL[@]}" --state st1 render --existing tab.json
is "an --existing value with a tab: kept, with a warning naming the byte" "0 1" "$rc $(grep -c 'control byte at byte 32; kept' cap/e-tab.err)"

# check --existing: good, then bad values (the BAD lines name the rule, never the value)
r check-ok "${S[@]}" "${GATES[@]}" check --existing r1.yaml --json
is "check --existing (all good)" 0 "$rc"
$PY - r1.yaml bad.yaml "$(cat rule.txt)" <<'P'
import base64, sys, yaml
ds = list(yaml.safe_load_all(open(sys.argv[1])))
for d in ds:
    n = d["metadata"]["name"]
    if n == "litellm-db-password":
        d["data"]["value"] = base64.b64encode(sys.argv[3].encode()).decode()
    if n == "dex-admin-hash":   # a valid hash of another password
        d["data"]["value"] = base64.b64encode(b"$2a$10$abcdefghijklmnopqrstuu5Ju2Ylrb7BO5M3WEBF0EwEyFT6Ea6ma").decode()
yaml.safe_dump_all(ds, open(sys.argv[2], "w"))
P
r check-bad "${S[@]}" "${GATES[@]}" check --existing bad.yaml --json
is "check --existing with a rule break and a Dex mismatch: exit 1" 1 "$rc"

# reset-dex-admin offline
r reset-off "${S[@]}" "${ALL[@]}" --state st1 reset-dex-admin --existing r1.yaml -o r2.yaml
is "reset-dex-admin offline" 0 "$rc"
$H render "$VALS" r2.yaml

# seal (values known from r1.yaml, the plain stream it seals)
openssl genrsa -out key.pem 2048 2>/dev/null
openssl req -new -x509 -key key.pem -subj / -days 30 -out cert.pem 2>/dev/null
r seal "${S[@]}" "${ALL[@]}" --state st1 seal --cert cert.pem --existing r1.yaml -o sealed.yaml
is "seal --existing plain" 0 "$rc"
cp sealed.yaml sealed-rot.yaml
r reset-sealed "${S[@]}" "${ALL[@]}" --state st1 reset-dex-admin --cert cert.pem --existing sealed-rot.yaml -o sealed-rot.yaml
is "reset-dex-admin --cert inside a sealed file" 0 "$rc"
printf 'canary-rotated\t%s\n' "$(cat st1/dex-admin-password)" >>"$VALS"
r seal-new --values-out "${S[@]}" "${ALL[@]}" --state st1 --value hf-token=@hf.txt seal --cert cert.pem
is "seal, new values" 0 "$rc"
r e-seal "${S[@]}" "${ALL[@]}" --state st1 seal --cert key.pem --existing r1.yaml
is "seal with a private key as --cert: error" 2 "$rc"

# store, patch: no values, run with the canaries in the environment all the same
r store "${S[@]}" store
is "store" 0 "$rc"
r patch "${S[@]}" patch "$PLATFORM/externalsecrets"
is "patch" 0 "$rc"

# bcrypt: the password on stdin, never on argv or stderr
printf '%s' "$BCPW" >bcpw.txt
ri bcrypt bcpw.txt "${S[@]}" bcrypt -C 10
is "bcrypt -C 10" 0 "$rc"
VALUE_OUT+=(cap/bcrypt.out)
printf 'canary-bchash\t%s\n' "$(cat cap/bcrypt.out)" >>"$VALS"
ri bcrypt-v bcpw.txt "${S[@]}" bcrypt --verify "$(cat cap/bcrypt.out)"
is "bcrypt --verify (right)" 0 "$rc"
printf '%s' "x$BCPW" >bcpw2.txt
ri bcrypt-vbad bcpw2.txt "${S[@]}" bcrypt --verify "$(cat cap/bcrypt.out)"
is "bcrypt --verify (wrong password)" 1 "$rc"
head -c 100 /dev/zero | tr '\0' 'A' >long.txt
printf 'canary-long\t%s\n' "$(cat long.txt)" >>"$VALS"
ri bcrypt-long long.txt "${S[@]}" bcrypt -C 10
is "bcrypt of a password over 72 bytes: hashed, with a warning" "0 1" "$rc $(grep -c 'only the first 72 bytes' cap/bcrypt-long.err)"
VALUE_OUT+=(cap/bcrypt-long.out)
ri bcrypt-cost bcpw.txt "${S[@]}" bcrypt -C 9
is "bcrypt -C 9: refused" 2 "$rc"

# push against the fake: a full push, the re-run, --dry-run, the error paths
reset_fake
r push "${S[@]}" "${ALL[@]}" --state st2 --value hf-token=@hf.txt --value litellm-db-password=@dbpw.txt push --json
is "push --all" 0 "$rc"
harvest
r push2 "${S[@]}" "${ALL[@]}" --state st2 --value hf-token=@hf.txt push --json
is "push again (EXISTS, the provided value not used: warned)" 0 "$rc"
r push-dry "${S[@]}" "${ALL[@]}" --state st2 push --dry-run --json
is "push --dry-run" 0 "$rc"
r check-gsm "${S[@]}" "${GATES[@]}" check --json
is "check against GSM" 0 "$rc"
r check-sa env -u CLOUDSDK_AUTH_ACCESS_TOKEN_FILE "${S[@]}" "${GATES[@]}" --credentials "$T/sa.json" check
is "check with a service-account key" 0 "$rc"
r check-au env -u CLOUDSDK_AUTH_ACCESS_TOKEN_FILE "${S[@]}" "${GATES[@]}" --credentials "$T/au.json" check
is "check with an authorized_user refresh token" 0 "$rc"
gsm_ctl POST tokens '{"revoke_minted": true}' >/dev/null
r check-sa-revoked env -u CLOUDSDK_AUTH_ACCESS_TOKEN_FILE "${S[@]}" "${GATES[@]}" --credentials "$T/sa.json" check
is "check with a service-account key (minted token refused once: refreshed)" 0 "$rc"
r reset-gsm "${S[@]}" "${ALL[@]}" --state st2 reset-dex-admin --json
is "reset-dex-admin against GSM" 0 "$rc"
harvest
r reset-dry "${S[@]}" "${ALL[@]}" --state st2 reset-dex-admin --dry-run
is "reset-dex-admin --dry-run" 0 "$rc"
# GSM holds bad values: check says BAD without them; push reports the Dex mismatch
reset_fake
gsm_ctl POST preload "{\"secrets\":[{\"id\":\"litellm-db-password\",\"versions\":[\"$(cat rule.txt)\"]},
  {\"id\":\"dex-admin-password\",\"versions\":[\"$DEXPW\"]},
  {\"id\":\"dex-admin-hash\",\"versions\":[\"\$2a\$10\$abcdefghijklmnopqrstuu5Ju2Ylrb7BO5M3WEBF0EwEyFT6Ea6ma\"]},
  {\"id\":\"litellm-salt-key\",\"versions\":[\"sk-$LIT\",{\"data\":\"sk-Canary$(rnd)\",\"state\":\"DISABLED\"}]}]}" >/dev/null
harvest
r check-gsm-bad "${S[@]}" "${GATES[@]}" check --json
is "check against GSM with a rule break and a Dex mismatch: exit 1" 1 "$rc"
r push-bad "${S[@]}" "${ALL[@]}" --state st3 push --json
is "push: Dex mismatch reported, exit 1" 1 "$rc"
harvest
# failures: 400 and 403 on addVersion, 503 for ever, a 401 token, a reply the client cannot read
n=0
for f in '2 {"method":"POST","path":":addVersion$","status":400,"message":"Bad payload."}' \
         '2 {"method":"POST","path":":addVersion$","status":403}' \
         '2 {"method":"POST","path":":addVersion$","status":503,"times":-1}' \
         '2 {"kind":"gsm","status":401,"times":-1}' \
         '2 {"method":"GET","path":":access$","status":404,"times":-1}' \
         '0 {"method":"POST","path":":addVersion$","action":"truncate","times":-1}'; do
    reset_fake
    [ $n = 4 ] && gsm_ctl POST preload "{\"secrets\":[{\"id\":\"dex-admin-password\",\"versions\":[\"$DEXPW\"]}]}" >/dev/null
    gsm_faults "[${f#* }]"
    n=$((n + 1))
    r "push-fail$n" "${S[@]}" "${ALL[@]}" --state "st-f$n" --value hf-token=@hf.txt push --json
    is "push with fault ${f#* }: exit ${f%% *}" "${f%% *}" "$rc"
    harvest
done
reset_fake
gsm_faults '[{"method":"GET","path":":access$","status":500,"times":-1}]'
gsm_ctl POST preload "{\"secrets\":[{\"id\":\"dex-admin-password\",\"versions\":[\"$DEXPW\"]}]}" >/dev/null
r check-fail "${S[@]}" "${GATES[@]}" check
is "check with GSM failing on access: exit 2" 2 "$rc"

# ================================================================ 2. argv: a running push holds no value
reset_fake
gsm_faults '[{"index":1,"action":"delay","seconds":3}]'
"$SEEDSEC" "${ALL[@]}" --state st4 --value litellm-db-password=@dbpw.txt --value hf-token=@hf.txt \
    push >cap/argv.out 2>cap/argv.err </dev/null &
pid=$!
for ((i = 0; i < 200; i++)); do
    [ "$(gsm_query 's["requests"]')" -ge 1 ] && break
    sleep 0.02
done
check "/proc/PID/cmdline of a push stalled on GSM holds no value" $H cmdline "$VALS" "$pid"
is "... and it holds the arguments (the check looked at something)" yes \
    "$(tr '\0' ' ' </proc/$pid/cmdline | grep -q -- '--value litellm-db-password=@dbpw.txt' && echo yes)"
is "/proc/PID/environ is private to the user (the env-var canaries live there)" 400 "$(stat -c %a /proc/$pid/environ)"
wait "$pid"
is "the stalled push finishes" 0 "$?"

# ================================================================ 3. modes under umask 000
(
    umask 000
    "$SEEDSEC" "${ALL[@]}" --state u/st render -o u1.yaml 2>/dev/null
    "$SEEDSEC" "${ALL[@]}" --state u/st render --split u/split 2>/dev/null
    "$SEEDSEC" "${ALL[@]}" --state u/st render --existing u1.yaml -o u1.yaml 2>/dev/null
    "$SEEDSEC" "${ALL[@]}" --state u/st reset-dex-admin --existing u1.yaml -o u2.yaml 2>/dev/null
    "$SEEDSEC" "${ALL[@]}" --state u/st seal --cert cert.pem -o u3.yaml 2>/dev/null
    "$SEEDSEC" store -o u4.yaml 2>/dev/null
    "$SEEDSEC" patch "$PLATFORM/externalsecrets" -o u5.yaml 2>/dev/null
    gsm_ctl POST reset '{}' >/dev/null
    "$SEEDSEC" "${ALL[@]}" --state u/st-push push 2>/dev/null
    "$SEEDSEC" "${ALL[@]}" --state u/st-push reset-dex-admin 2>/dev/null
) </dev/null
modes=$(for f in u1.yaml u2.yaml u3.yaml u4.yaml u5.yaml u/split/* u/st/* u/st-push/*; do
    m=$(stat -c %a "$f"); [ "$m" = 600 ] || echo "$f=$m"; done)
is "umask 000: every file written is 0600 (render -o/--split/in place, reset, seal, store, patch, mirrors, .bak)" "" "$modes"
is "umask 000: the state dirs are 0700" "700 700" "$(stat -c %a u/st u/st-push | xargs)"
is "umask 000: all of them were written" "1 1 1 1 1 18 2 2" \
    "$(for f in u1.yaml u2.yaml u3.yaml u4.yaml u5.yaml; do [ -s "$f" ] && printf '1 '; done)$(ls u/split | wc -l) $(ls u/st | wc -l) $(ls u/st-push | wc -l)"
is "umask 000: the --split dir is not open to others" "" "$(stat -c %a u/split | grep -v '^7[0-5]0$')"
$H render "$VALS" u1.yaml u2.yaml
harvest

# ================================================================ 4. freed buffers are wiped
ZS=
if ! command -v gcc >/dev/null || ! ZS=$(sh "$TESTS/build_glibc.sh" zshim 2>"$T/zbuild.err"); then
    fail "building the free() shim variant failed: $(tail -n 3 "$T/zbuild.err")"
    ZS=
fi
[ -z "$ZS" ] || {
# zr NAME [--stdin FILE] ARGS...: the shim build, every freed block dumped to dumps/NAME
zr() {
    local name=$1 in=/dev/null
    shift
    if [ "$1" = --values-out ]; then VALUE_OUT+=("cap/z-$name.out"); shift; fi
    if [ "$1" = --stdin ]; then in=$2; shift 2; fi
    SEEDSEC_FREED=$T/dumps/$name "$ZS" "$@" >"cap/z-$name.out" 2>"cap/z-$name.err" <"$in"
    rc=$?
    [ -f "dumps/$name" ] || : >"dumps/$name"
}
zr render --values-out "${ALL[@]}" --state zst --value hf-token=@hf.txt --value litellm-db-password=@dbpw.txt render
is "shim: render" 0 "$rc"
zr render-existing --values-out "${ALL[@]}" --state zst render --existing r1.yaml
is "shim: render --existing" 0 "$rc"
zr render-o --values-out "${ALL[@]}" --state zst --value dex-admin-password=@dexpw.txt render --format json -o z1.json
is "shim: render -o (json)" 0 "$rc"
zr seal --values-out "${ALL[@]}" --state zst seal --cert cert.pem --existing r1.yaml
is "shim: seal --existing" 0 "$rc"
zr seal-new --values-out "${ALL[@]}" --state zst2 seal --cert cert.pem
is "shim: seal, new values (sealed: values unknown, the wipes still checked)" 0 "$rc"
zr check-existing "${GATES[@]}" check --existing bad.yaml
is "shim: check --existing (bad values)" 1 "$rc"
zr reset-off --values-out "${ALL[@]}" --state zst reset-dex-admin --existing r1.yaml -o z2.yaml
is "shim: reset-dex-admin offline" 0 "$rc"
zr bcrypt --values-out --stdin bcpw.txt bcrypt -C 10
is "shim: bcrypt" 0 "$rc"
zr bcrypt-verify --values-out --stdin bcpw.txt bcrypt --verify "$(cat cap/bcrypt.out)"
is "shim: bcrypt --verify" 0 "$rc"
reset_fake
zr push "${ALL[@]}" --state zst3 --value hf-token=@hf.txt --value litellm-db-password=@dbpw.txt push --json
is "shim: push" 0 "$rc"
harvest
zr push-again "${ALL[@]}" --state zst3 push
is "shim: push again (reads the Dex pair back)" 0 "$rc"
zr check-gsm "${GATES[@]}" check
is "shim: check against GSM (reads every value)" 0 "$rc"
SEEDSEC_FREED=$T/dumps/check-sa env -u CLOUDSDK_AUTH_ACCESS_TOKEN_FILE "$ZS" "${GATES[@]}" \
    --credentials "$T/sa.json" check >cap/z-check-sa.out 2>cap/z-check-sa.err </dev/null
is "shim: check with a service-account key (JWT signed, token minted)" 0 "$?"
SEEDSEC_FREED=$T/dumps/check-au env -u CLOUDSDK_AUTH_ACCESS_TOKEN_FILE "$ZS" "${GATES[@]}" \
    --credentials "$T/au.json" check >cap/z-check-au.out 2>cap/z-check-au.err </dev/null
is "shim: check with an authorized_user refresh token" 0 "$?"
zr reset-gsm "${ALL[@]}" --state zst3 reset-dex-admin
is "shim: reset-dex-admin against GSM" 0 "$rc"
harvest
gsm_ctl POST preload "{\"secrets\":[{\"id\":\"litellm-salt-key\",\"versions\":[\"sk-$LIT\",{\"data\":\"sk-x\",\"state\":\"DISABLED\"}]}]}" >/dev/null
zr push-repair "${ALL[@]}" --state zst3 push
is "shim: push repairing a disabled latest (reads and re-adds a value)" 0 "$rc"
harvest
gsm_faults '[{"method":"POST","path":":addVersion$","action":"reset_after"}]'
gsm_ctl POST preload '{"secrets":[{"id":"vllm-api-key","versions":[]}]}' >/dev/null
zr push-ambiguous "${ALL[@]}" --state zst3 push
is "shim: push through an ambiguous addVersion (lists and compares values)" 0 "$rc"
harvest
reset_fake
gsm_faults '[{"method":"POST","path":":addVersion$","status":503,"times":-1}]'
zr push-fail "${ALL[@]}" --state zst4 --value hf-token=@hf.txt push
is "shim: push failing (exit 2 through die)" 2 "$rc"
harvest
zr e-value --values-out "${ALL[@]}" --value hf-token=@ws.txt render
is "shim: render with a bad value (exit 2 through die)" 2 "$rc"
# the access tokens the fake minted for the service account and the refresh token
$PY -c 'import json,sys; [print("minted-token\t" + t) for t in json.load(open(sys.argv[1])).get("minted", {})]' \
    "$FAKE_GSM_DIR/state/state.json" >>"$VALS"
is "minted tokens collected too" yes "$(grep -q '^minted-token' "$VALS" && echo yes)"
[ -f zst/dex-admin-password ] && printf 'mirror-zst\t%s\n' "$(cat zst/dex-admin-password)" >>"$VALS"
$H render "$VALS" cap/z-render.out cap/z-render-existing.out z1.json z2.yaml
printf 'canary-zbchash\t%s\n' "$(cat cap/z-bcrypt.out)" >>"$VALS"
is "shim: no value on the shim runs' stderr" "" "$($H leaks "$VALS" cap/z-*.err)"
zfail=0
for d in dumps/*; do
    out=$($PY "$TESTS/zscan.py" "$d" "$ZS" "$VALS")
    if [ $? = 0 ]; then
        pass "wiped before free: ${d#dumps/} ($(tail -n 1 <<<"$out" | sed 's/^# //'))"
    else
        zfail=1
        fail "unwiped secrets in blocks freed by ${d#dumps/}:"
        grep -v '^#' <<<"$out" | sed 's/^/    /'
    fi
done
check "the shim saw freed blocks (it is wired in)" [ "$(cat dumps/render | wc -c)" -gt 10000 ]
}

# ---------------------------------------------------------------- collect, then look everywhere
for d in st1 st2 st3; do [ -f "$d/dex-admin-password" ] && printf 'mirror-%s\t%s\n' "$d" "$(cat "$d/dex-admin-password")" >>"$VALS"; done
$H render "$VALS" cap/w-rule.out
is "values collected (canaries, streams, GSM, mirrors)" ok "$([ "$(cut -f2 "$VALS" | sort -u | wc -l)" -ge 40 ] && echo ok || echo "only $(cut -f2 "$VALS" | sort -u | wc -l)")"
not_value_out=()
for f in cap/*.out; do
    case " ${VALUE_OUT[*]} " in *" $f "*) ;; *) not_value_out+=("$f") ;; esac
done
leaks=$($H leaks "$VALS" cap/*.err "${not_value_out[@]}")
is "no value in any of $(ls cap/*.err | wc -l) stderr captures or $(echo ${#not_value_out[@]}) non-render stdouts" "" "$leaks"
leaks=$($H leaks "$VALS" "$FAKE_GSM_LOG")
is "no value in the fake GSM's own request log either (sanity)" "" "$leaks"
check "the error paths were reached: whitespace, control byte, UTF-8, tab, parse" \
    bash -c "grep -q 'whitespace inside the value' cap/e-ws.err && grep -q 'control byte' cap/e-ctl.err && grep -q 'invalid UTF-8' cap/e-utf.err && grep -q 'control byte at byte 32' cap/e-tab.err && grep -q 'broken.yaml' cap/e-broken.err"

finish
