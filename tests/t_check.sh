# check against a plaintext stream (issue 7): a passing and a failing value per rule; C1, C2.
. "$(dirname "$0")/lib.sh"
cd "$T"
V="$PY $TESTS/values.py"

# one good stream for every key
HF_TOKEN=hf_abcdefghijklmnopqrstuvwxyzABCDEFGH ANTHROPIC_API_KEY=sk-ant-api03-x CLOUDFLARE_API_TOKEN=cfut_x \
    "$SEEDSEC" --all render -o good.yaml 2>/dev/null
"$SEEDSEC" --all check --existing good.yaml > /dev/null 2> good.err
check "a clean render passes check (exit 0, 18 OK)" [ $? = 0 -a "$(grep -c '^OK ' good.err)" = 18 ]

# replace one key's value (bytes given as python literal) and run check
with_value() {  # key python-bytes-literal
    $PY - good.yaml "$1" "$2" <<'P' > mod.yaml
import sys, yaml, base64, ast
docs = list(yaml.safe_load_all(open(sys.argv[1])))
for d in docs:
    if d["metadata"]["name"] == sys.argv[2]:
        d["data"]["value"] = base64.b64encode(ast.literal_eval(sys.argv[3])).decode()
print(yaml.safe_dump_all(docs), end="")
P
}
case_() {  # want(0|1) key literal expect-substring description
    with_value "$2" "$3"
    "$SEEDSEC" --all check --existing mod.yaml > mod.json --json 2> mod.err
    local rc=$? line
    line=$(grep -E "^(BAD|MISSING) " mod.err | head -n 1)
    if [ "$1" = 0 ]; then
        if [ $rc = 0 ] && [ -z "$line" ]; then pass "check passes: $5"; else fail "check should pass: $5: rc=$rc $line"; fi
    else
        if [ $rc = 1 ] && [[ $line == *"$2"*"$4"* ]] && [ "$(grep -cE '^(BAD|MISSING) ' mod.err)" = 1 ]; then
            pass "check flags: $5"
        else
            fail "check should flag: $5: rc=$rc '$line'"
        fi
        # the message never carries the value
        $PY -c 'import ast,sys; v=ast.literal_eval(sys.argv[1]); sys.exit(1 if len(v)>=4 and v in open(sys.argv[2],"rb").read() else 0)' "$3" mod.err \
            || fail "value leaked into check output: $5"
    fi
}
# C1: cookie secret by oauth2-proxy's rule
case_ 0 oauth2-proxy-cookie-secret "b'$(head -c 32 /dev/urandom | base64 | tr '+/' '-_')'" "" "cookie: URL-safe base64 of 32 bytes"
case_ 0 oauth2-proxy-cookie-secret "b'0123456789abcdef0123456789abcdef'" "" "cookie: openssl rand -hex 16 (32 chars -> 24 bytes)"
case_ 0 oauth2-proxy-cookie-secret "b'abcdefghijklmnop'" "" "cookie: a raw 16-byte string"
std64=$($PY -c 'import base64; print(base64.b64encode(b"\xfb\xff" * 16).decode())')
case_ 1 oauth2-proxy-cookie-secret "b'$std64'" "reads it as 44 bytes" "C1: cookie like openssl rand -base64 32 (+ and /)"
case_ 1 oauth2-proxy-cookie-secret "b'$(printf '%064d' 7)'" "reads it as 64 bytes" "C1: cookie like openssl rand -hex 32"
# C2: Dex hash
h2y=$(htpasswd -nbB u x | cut -d: -f2)
case_ 1 dex-admin-hash "b'$h2y'" "cost 5 is outside 10..16" "C2: htpasswd -nbB default \$2y\$05\$"
good_hash=$($V get good.yaml dex-admin-hash)
case_ 1 dex-admin-hash "b' $good_hash'" "surrounding whitespace" "C2: hash with a leading space"
other=$(printf 'other' | "$SEEDSEC" bcrypt -C 10)
case_ 1 dex-admin-hash "b'$other'" "does not match dex-admin-password" "C2: hash of another password"
case_ 1 dex-admin-hash "b'\$2a\$12\$$(printf '!%.0s' $(seq 53))'" "outside bcrypt's alphabet" "hash: bad alphabet"
case_ 0 dex-admin-hash "b'$(printf '%s' "$($V get good.yaml dex-admin-password)" | htpasswd -niBC 11 u | cut -d: -f2)'" "" "hash: htpasswd \$2y\$11\$ of the password"
# master key
case_ 1 litellm-master-key "b'sk-1234'" "documented example key" "master key sk-1234"
case_ 1 litellm-master-key "b'hello-world'" "must start with sk-" "master key without sk-"
case_ 0 litellm-master-key "b'sk-abc'" "" "a short sk- master key is accepted"
# database passwords
case_ 1 litellm-db-password "b'p@ss:w/rd'" "[A-Za-z0-9] only" "db password with @ : /"
case_ 1 litellm-grafana-ro-password "b'abc%2B'" "[A-Za-z0-9] only" "grafana ro password with %"
case_ 0 litellm-db-password "b'abcDEF123'" "" "db password alphanumeric"
# whitespace, newline, control byte, invalid UTF-8 for any key
case_ 1 vllm-api-key "b'abcdef\\n'" "ends with a newline" "trailing newline"
case_ 1 vllm-api-key "b' abcdef'" "surrounding whitespace" "leading space"
case_ 1 n8n-encryption-key "b'abc\\x07def'" "control byte at byte 3" "control byte"
case_ 1 dex-tabby-client-secret "b'abc\\xffdef'" "invalid UTF-8 at byte 3" "invalid UTF-8"
case_ 1 hf-token "b'hf_a b'" "whitespace at byte 4" "provided token with inner space"
case_ 0 hf-token "b'whatever_shape'" "" "provided token of any shape (hints only warn)"
# missing keys
$PY -c 'import sys,yaml; ds=[d for d in yaml.safe_load_all(open(sys.argv[1])) if d["metadata"]["name"]!="anthropic-api-key"]; print(yaml.safe_dump_all(ds),end="")' good.yaml > miss.yaml
"$SEEDSEC" --all check --existing miss.yaml > /dev/null 2> miss.err
check "a missing needed key: exit 1 and how to provide it" [ $? = 1 ] && grep -q '^MISSING anthropic-api-key (needed: --all; set ANTHROPIC_API_KEY' miss.err
"$SEEDSEC" -c "$CONFIG" check --existing miss.yaml > /dev/null 2> cfg.err
check "gates come from the config: egress off, anthropic not needed" [ $? = 0 ]
# --json report
with_value vllm-api-key "b'x y'"
"$SEEDSEC" --all check --existing mod.yaml --json > rep.json 2>/dev/null
$PY -c '
import json,sys
r=json.load(open(sys.argv[1]))
bad=[k for k in r["keys"] if k["status"]!="OK"]
assert r["problems"] is True and len(bad)==1 and bad[0]["name"]=="vllm-api-key" and "whitespace" in bad[0]["problem"]' rep.json \
    && pass "--json report names the key and the rule" || fail "--json report"
# Secrets of another namespace: the warning says what check does, not "rendering"
sed 's/namespace: secret-source/namespace: team-b/' good.yaml > otherns.yaml
"$SEEDSEC" --all check --existing otherns.yaml > /dev/null 2> otherns.err
rc=$?
check "check of Secrets in another namespace: exit 0, each warning says 'checking as namespace secret-source', none says rendering" \
    eval '[ $rc = 0 ] && [ "$(grep -c "Secret [a-z0-9-]* is in namespace team-b; checking as namespace secret-source$" otherns.err)" = 18 ] && ! grep -q rendering otherns.err'
# check writes nothing
before=$(ls -lA --full-time | md5sum)
"$SEEDSEC" --all check --existing good.yaml > /dev/null 2>&1
check "check writes nothing (no mirror, no files)" [ "$(ls -lA --full-time | md5sum)" = "$before" ]
finish
