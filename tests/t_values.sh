# Provided values, earlier values, Dex state, bcrypt, contract (issue 3; C3-C7, C11).
. "$(dirname "$0")/lib.sh"
cd "$T"
V="$PY $TESTS/values.py"

# --- C3: a token file ending in a newline
tok="hf_abcdefghijklmnopqrstuvwxyzABCDEFGH"
printf '%s\n' "$tok" > hf.txt
"$SEEDSEC" --value hf-token=@hf.txt render > c3.yaml 2> c3.err
check "C3: hf gate on because a value was supplied" grep -q '^CREATED hf-token (from --value hf-token=@hf.txt)$' c3.err
check "C3: stored without the LF, exact bytes" [ "$($V get c3.yaml hf-token | od -An -tx1)" = "$(printf '%s' "$tok" | od -An -tx1)" ]
HF_TOKEN="$tok
" "$SEEDSEC" render > c3e.yaml 2>/dev/null
check "C3: same through HF_TOKEN with a trailing newline" [ "$($V get c3e.yaml hf-token)" = "$tok" ]
printf '%s' "$tok" | "$SEEDSEC" --value hf-token=@- render > c3s.yaml 2>/dev/null
check "C3: --value KEY=@- reads stdin" [ "$($V get c3s.yaml hf-token)" = "$tok" ]

# --- C4: Windows file: BOM, value, CRLF; a CR inside
printf '\xef\xbb\xbfcfut_windows_token\r\n' > win.txt
"$SEEDSEC" --enable dns --value cloudflare-api-token=@win.txt render > c4.yaml 2>/dev/null
check "C4: BOM and CRLF stripped" [ "$($V get c4.yaml cloudflare-api-token | od -An -c | tr -s ' ')" = "$(printf 'cfut_windows_token' | od -An -c | tr -s ' ')" ]
printf 'cfut_a\rb\r\n' > cr.txt
"$SEEDSEC" --enable dns --value cloudflare-api-token=@cr.txt render -o c4bad.yaml 2> c4.err
rc=$?
check "C4: CR inside: exit 2" [ $rc = 2 ]
check "C4: error names the key and the offset" grep -q 'cloudflare-api-token (from --value cloudflare-api-token=@cr.txt): line break inside the value at byte 6; nothing written' c4.err
check "C4: nothing written" [ ! -e c4bad.yaml ] && [ ! -e secrets ]

# --- C5: NUL, invalid UTF-8 (a lone 0xff), control byte, inner space
c5() {  # file-content expect-substring
    printf "$1" > c5.txt
    "$SEEDSEC" --enable hf --value hf-token=@c5.txt render -o c5.yaml > /dev/null 2> c5.err
    local rc=$?
    if [ $rc = 2 ] && grep -q "$2" c5.err && [ ! -e c5.yaml ] && [ "$(wc -l < c5.err)" = 1 ]; then
        pass "C5: $2 (exit 2, nothing written)"
    else
        fail "C5: $2: rc=$rc $(cat c5.err)"
    fi
}
c5 'hf_ab\000cd' 'hf-token (from --value hf-token=@c5.txt): NUL byte at byte 5'
c5 'hf_ab\377cd' 'hf-token (from --value hf-token=@c5.txt): invalid UTF-8 at byte 5'
c5 'hf_\033[31m' 'control byte 0x1b at byte 3'
c5 'hf_a b' 'whitespace inside the value at byte 4'
HF_TOKEN=$(printf 'hf_\377') "$SEEDSEC" render > /dev/null 2> c5e.err
check "C5: from the environment too, naming HF_TOKEN" grep -q 'hf-token (from HF_TOKEN): invalid UTF-8 at byte 3' c5e.err
printf '   \r\n' > blank.txt
"$SEEDSEC" --enable hf --value hf-token=@blank.txt render > /dev/null 2> blank.err
check "an empty value is not provided: MISSING, exit 1" grep -q '^MISSING hf-token' blank.err
HF_TOKEN=hf_x "$SEEDSEC" --disable hf render > nohf.yaml 2> nohf.err
check "--disable hf wins over a supplied value" [ "$($V dump nohf.yaml | grep -c hf-token)" = 0 ]
HF_TOKEN=notprefixed "$SEEDSEC" render > hint.yaml 2> hint.err
check "shape hint warns, never blocks" [ "$($V get hint.yaml hf-token)" = notprefixed ] && grep -q 'does not start with hf_' hint.err

# --- a --value file that cannot be read: the message names the path, then the key
"$SEEDSEC" --value hf-token=@nonexist render > /dev/null 2> vf.err
rc=$?
check "--value KEY=@missing: exit 2, \"can't open PATH (the value of KEY): reason\"" \
    eval '[ $rc = 2 ] && [ "$(cat vf.err)" = "seedsec: can'"'"'t open nonexist (the value of hf-token): No such file or directory" ]'
mkdir -p vdir
"$SEEDSEC" --value hf-token=@vdir render > /dev/null 2> vd.err
rc=$?
check "--value KEY=@DIR: exit 2, says it is a directory" \
    eval '[ $rc = 2 ] && [ "$(cat vd.err)" = "seedsec: can'"'"'t read vdir (the value of hf-token): it is a directory" ]'

# --- values never on argv
"$SEEDSEC" --value hf-token=hf_secretliteral render > argv.out 2> argv.err
check "--value KEY=literal refused, exit 2" [ $? = 2 ]
check "the refusal says why and never echoes the value" grep -q 'never taken from the command line' argv.err && ! grep -q hf_secretliteral argv.err

# --- a provided value larger than a Kubernetes Secret can hold (1 MiB): refused up front
{ printf hf_; head -c 1048574 /dev/zero | tr '\0' a; } > big1m1.txt
"$SEEDSEC" --value hf-token=@big1m1.txt render -o big.yaml > /dev/null 2> big.err
rc=$?
check "render --value over 1 MiB: exit 2, the error names the key, its size and the limit; no file" \
    eval '[ $rc = 2 ] && [ "$(cat big.err)" = "seedsec: hf-token (from --value hf-token=@big1m1.txt): the value is 1048577 bytes, larger than the 1 MiB a Kubernetes Secret can hold (1048576 bytes); nothing written" ] && [ ! -e big.yaml ] && [ -z "$(ls | grep "\.tmp-")" ]'
head -c 1048576 big1m1.txt > big1m.txt
"$SEEDSEC" --value hf-token=@big1m.txt render -o big.yaml 2>/dev/null
rc=$?
check "render --value of exactly 1 MiB: exit 0, kept byte for byte" eval '[ $rc = 0 ] && [ "$($V get big.yaml hf-token | wc -c)" = 1048576 ]'
HF_TOKEN=$(head -c 70000 big1m.txt) "$SEEDSEC" render -o big70k.yaml 2>/dev/null
rc=$?
check "render: HF_TOKEN over GSM's 64 KiB is fine for a Secret (exit 0)" [ $rc = 0 ]

# --- C6: awkward earlier values come back byte-identical
$PY - <<'P' > c6.yaml
import base64
vals = ["yes", "0123", "null", "~", "!pw", "*x", "a #b", "1e3"]
names = ["litellm-master-key", "litellm-salt-key", "vllm-api-key", "litellm-db-password",
         "litellm-grafana-ro-password", "dex-tabby-client-secret", "dex-argocd-client-secret",
         "dex-grafana-client-secret"]
for n, v in zip(names, vals):
    print("---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n  namespace: secret-source\ntype: Opaque\ndata:\n  value: %s"
          % (n, base64.b64encode(v.encode()).decode()))
P
"$SEEDSEC" --enable identity render --existing c6.yaml > c6out.yaml 2> c6.err
$PY - c6out.yaml <<'P' && pass "C6: yes 0123 null ~ !pw *x 'a #b' 1e3 byte-identical after a round trip" || fail "C6"
import sys, yaml, base64
want = dict(zip(["litellm-master-key", "litellm-salt-key", "vllm-api-key", "litellm-db-password",
                 "litellm-grafana-ro-password", "dex-tabby-client-secret", "dex-argocd-client-secret",
                 "dex-grafana-client-secret"], ["yes", "0123", "null", "~", "!pw", "*x", "a #b", "1e3"]))
got = {d["metadata"]["name"]: base64.b64decode(d["data"]["value"]).decode() for d in yaml.safe_load_all(open(sys.argv[1]))}
assert all(got[k] == v for k, v in want.items()), got
P
check "C6: rule breaks are warned about, never replaced" grep -q "earlier litellm-master-key must start with sk-" c6.err
check "C6: no value on stderr" no_values_in c6.err c6out.yaml
# stringData with quoted YAML strings is read too
printf 'apiVersion: v1\nkind: Secret\nmetadata: {name: vllm-api-key}\nstringData:\n  value: "0123"\n' > sd.yaml
"$SEEDSEC" render --existing sd.yaml > sdout.yaml 2>/dev/null
check "stringData value kept" [ "$($V get sdout.yaml vllm-api-key)" = 0123 ]

# --- kubectl's own JSON and YAML for Secrets
printf 'sk-fromkubectl0123456789' > mk.txt
kubectl create secret generic litellm-master-key -n secret-source --from-file=value=mk.txt --dry-run=client -o json > k.json
kubectl create secret generic litellm-master-key -n secret-source --from-file=value=mk.txt --dry-run=client -o yaml > k.yaml
"$SEEDSEC" render --existing k.json > kj.yaml 2>/dev/null
check "kubectl -o json accepted by --existing" [ "$($V get kj.yaml litellm-master-key)" = sk-fromkubectl0123456789 ]
"$SEEDSEC" render --existing k.yaml > ky.yaml 2>/dev/null
check "kubectl -o yaml accepted by --existing" [ "$($V get ky.yaml litellm-master-key)" = sk-fromkubectl0123456789 ]
$PY -c 'import json,sys; s=json.load(open(sys.argv[1])); print(json.dumps({"apiVersion":"v1","kind":"List","items":[s],"metadata":{"resourceVersion":""}}, indent=4))' k.json > klist.json
"$SEEDSEC" render --existing klist.json > kl.yaml 2>/dev/null
check "kubectl get -o json (a List) accepted" [ "$($V get kl.yaml litellm-master-key)" = sk-fromkubectl0123456789 ]

# --- malformed earlier values: error naming the document, exit 2, nothing written
bad_existing() {  # name content expect
    printf -- "$2" > "$1"; rm -f be.yaml
    "$SEEDSEC" render --existing "$1" -o be.yaml > /dev/null 2> be.err
    local rc=$?
    if [ $rc = 2 ] && grep -q "$3" be.err && [ ! -e be.yaml ]; then pass "bad --existing ($1): $3"
    else fail "bad --existing ($1): rc=$rc $(cat be.err)"; fi
}
bad_existing notb64.yaml 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: vllm-api-key\ndata:\n  value: "abc"\n' 'notb64.yaml: document 1 (line 1): Secret vllm-api-key: data.value is not padded standard base64'
bad_existing notutf8.yaml 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: vllm-api-key\ndata:\n  value: /w==\n' 'not UTF-8 text'
bad_existing cm.yaml '---\napiVersion: v1\nkind: Secret\nmetadata: {name: a-b}\ndata: {value: YQ==}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n' 'cm.yaml: document 2 (line 6): expected a v1 Secret (kind ConfigMap)'
bad_existing dup.yaml '---\napiVersion: v1\nkind: Secret\nmetadata: {name: vllm-api-key}\ndata: {value: YQ==}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: vllm-api-key}\ndata: {value: YQ==}\n' 'a second Secret named vllm-api-key'
bad_existing noprop.yaml 'apiVersion: v1\nkind: Secret\nmetadata: {name: vllm-api-key}\ndata: {token: YQ==}\n' "has no data key 'value' (see --property)"
bad_existing badjson.json '{"apiVersion": "v1", "kind": "Secret",\n "metadata": {"name": "x"}, }' 'badjson.json:2: invalid JSON'
bad_existing dupns.yaml '{"apiVersion":"v1","kind":"List","items":[\n{"apiVersion":"v1","kind":"Secret","metadata":{"name":"vllm-api-key","namespace":"secret-source"},"data":{"value":"YQ=="}},\n{"apiVersion":"v1","kind":"Secret","metadata":{"name":"vllm-api-key","namespace":"team-b"},"data":{"value":"Yg=="}}]}\n' 'dupns.yaml: document 1 (line 1) item 2: a second Secret named vllm-api-key (namespace team-b; the first, dupns.yaml: document 1 (line 1) item 1, is in namespace secret-source): give the Secrets of one namespace (kubectl get secret -n secret-source)'
printf 'apiVersion: v1\nkind: Secret\nmetadata: {name: not-in-contract}\ndata: {value: YQ==}\n' > other.yaml
"$SEEDSEC" render --existing other.yaml > other.out 2> other.err
check "a Secret outside the contract is reported and ignored" grep -q '^IGNORED not-in-contract' other.err

# --- --value vs an earlier value: never replaced
printf 'sk-different' > diff.txt
"$SEEDSEC" --all render --existing c6.yaml --value litellm-master-key=@diff.txt -o d.yaml > /dev/null 2> d.err
check "--value differing from an earlier value: exit 2, nothing written" [ $? = 2 ] && [ ! -e d.yaml ]
check "... and the message says it is never replaced" grep -q 'never replaces an existing value' d.err
printf 'yes' > same.txt
"$SEEDSEC" render --existing c6.yaml --value litellm-master-key=@same.txt > /dev/null 2>&1
check "--value equal to the earlier value is fine" [ $? = 0 ]

# --- Dex state: mirror reuse, restore, legacy hash-only
rm -rf secrets st
"$SEEDSEC" --enable identity render --state st > d1.yaml 2>/dev/null
pw1=$($V get d1.yaml dex-admin-password)
check "--state DIR holds the mirror" [ "$(cat st/dex-admin-password)" = "$pw1" ]
$PY -c '
import sys,yaml
ds=[d for d in yaml.safe_load_all(open(sys.argv[1])) if d["metadata"]["name"]!="dex-admin-password"]
print(yaml.safe_dump_all(ds))' d1.yaml > nopw.yaml
"$SEEDSEC" --enable identity render --state st --existing nopw.yaml > d2.yaml 2> d2.err
check "password missing from --existing: reused from the mirror" [ "$($V get d2.yaml dex-admin-password)" = "$pw1" ]
check "... reported as EXISTS (from the mirror)" grep -q '^EXISTS dex-admin-password (from st/dex-admin-password)$' d2.err
rm -rf st
"$SEEDSEC" --enable identity render --state st --existing nopw.yaml > d3.yaml 2> d3.err
check "hash only, no mirror: MISSING password, exit 1, hash kept" [ $? = 1 ] && grep -q '^MISSING dex-admin-password (only the hash exists' d3.err && [ "$($V get d3.yaml dex-admin-hash)" = "$($V get d1.yaml dex-admin-hash)" ]
mkdir -p st; (umask 077; printf 'stale-mirror' > st/dex-admin-password)
"$SEEDSEC" --enable identity render --state st --existing d1.yaml > d4.yaml 2> d4.err
check "a stale mirror is restored from the stored password" [ "$(cat st/dex-admin-password)" = "$pw1" ] && grep -q '^REPAIRED st/dex-admin-password' d4.err
check "... and the old copy is kept" [ "$(cat st/dex-admin-password.*.bak)" = stale-mirror ]

# --- bcrypt cost
"$SEEDSEC" --enable identity --bcrypt-cost 10 --state c10 render > cost.yaml 2>/dev/null
check "--bcrypt-cost 10 gives \$2a\$10\$" [ "$($V get cost.yaml dex-admin-hash | cut -c1-7)" = '$2a$10$' ]
"$SEEDSEC" --enable identity --bcrypt-cost 9 render > /dev/null 2> cost.err
check "--bcrypt-cost 9 refused, saying Dex's range" [ $? = 2 ] && grep -q 'must be 10..16 (Dex refuses' cost.err
expect_exit 2 "--bcrypt-cost 17 refused" "$SEEDSEC" --enable identity --bcrypt-cost 17 render

# --- offline reset-dex-admin: the whole stream, only the Dex pair new
rm -rf secrets
"$SEEDSEC" --all render --existing "$T/c6.yaml" > base.yaml 2>/dev/null
HF_TOKEN=hf_x ANTHROPIC_API_KEY=sk-ant-x CLOUDFLARE_API_TOKEN=cfut_x "$SEEDSEC" --all render --existing base.yaml -o base2.yaml 2>/dev/null
"$SEEDSEC" reset-dex-admin --existing base2.yaml > reset.yaml 2> reset.err
$PY - base2.yaml reset.yaml <<'P' && pass "reset-dex-admin: 18 documents, only the Dex pair changed, new hash verifies" || fail "reset-dex-admin offline"
import sys, yaml, base64, bcrypt
def vals(p): return {d["metadata"]["name"]: base64.b64decode(d["data"]["value"]) for d in yaml.safe_load_all(open(p))}
a, b = vals(sys.argv[1]), vals(sys.argv[2])
assert set(a) == set(b) and len(b) == 18
changed = sorted(k for k in a if a[k] != b[k])
assert changed == ["dex-admin-hash", "dex-admin-password"], changed
assert bcrypt.checkpw(b["dex-admin-password"], b["dex-admin-hash"])
P
check "reset-dex-admin updates the mirror" [ "$(cat secrets/dex-admin-password)" = "$($V get reset.yaml dex-admin-password)" ]
check "reset-dex-admin: no value on stderr" no_values_in reset.err reset.yaml base2.yaml
# --- offline reset-dex-admin --dry-run: reads and checks, writes nothing
cp base2.yaml dry.yaml
cp secrets/dex-admin-password dry.mirror
ls -A secrets > dry.ls
"$SEEDSEC" reset-dex-admin --dry-run --existing dry.yaml -o dry.yaml > dry.out 2> dry.err
rc=$?
check "reset-dex-admin --dry-run --existing F -o F: exit 0, says WOULD-ROTATE (nothing written)" \
    eval '[ $rc = 0 ] && grep -qx "WOULD-ROTATE dex-admin-password and dex-admin-hash (nothing written)" dry.err && ! grep -q "^ROTATED" dry.err'
check "  ... F byte for byte, no stdout, the mirror and its directory unchanged, no temp file" \
    eval 'cmp -s dry.yaml base2.yaml && [ ! -s dry.out ] && cmp -s secrets/dex-admin-password dry.mirror && [ "$(ls -A secrets)" = "$(cat dry.ls)" ] && [ -z "$(ls | grep "\.tmp-")" ]'
"$SEEDSEC" reset-dex-admin --dry-run --existing dry.yaml -o dry-new.yaml > dry.out 2> dry.err
rc=$?
check "reset-dex-admin --dry-run -o NEW: exit 0, NEW not created, no stdout" \
    eval '[ $rc = 0 ] && [ ! -e dry-new.yaml ] && [ ! -s dry.out ] && grep -q "^WOULD-ROTATE" dry.err'
"$SEEDSEC" reset-dex-admin --dry-run --existing dry.yaml > dry.out 2> dry.err
rc=$?
check "reset-dex-admin --dry-run to stdout: exit 0, no stream on stdout" eval '[ $rc = 0 ] && [ ! -s dry.out ]'
"$SEEDSEC" reset-dex-admin --dry-run --existing dry.yaml --split dry-split > dry.out 2> dry.err
rc=$?
check "reset-dex-admin --dry-run --split DIR: exit 0, DIR not made" eval '[ $rc = 0 ] && [ ! -e dry-split ]'
"$SEEDSEC" reset-dex-admin --dry-run --existing dry.yaml -o dry-new.yaml --json > dry.json 2> dry.err
check "reset-dex-admin --dry-run --json: the pair WOULD_ROTATE, the rest EXISTS" $PY -c '
import json; r = json.load(open("dry.json"))
st = {k["name"]: k["status"] for k in r["keys"]}
assert st["dex-admin-password"] == st["dex-admin-hash"] == "WOULD_ROTATE", st
assert st["litellm-salt-key"] == "EXISTS" and r["exit"] == 0, st'
cp base.yaml dry-other.yaml
expect_exit 2 "reset-dex-admin --dry-run -o an existing other file: refused as the real run would be" \
    "$SEEDSEC" reset-dex-admin --dry-run --existing dry.yaml -o dry-other.yaml 2>/dev/null
check "mirror still unchanged after every dry run" cmp -s secrets/dex-admin-password dry.mirror

# --- offline reset: an unusable mirror stops it before the file is rewritten; missing keys: exit 1
cp base2.yaml mirr.yaml
mkdir -p bad-state/dex-admin-password
"$SEEDSEC" --state bad-state reset-dex-admin --existing mirr.yaml -o mirr.yaml > /dev/null 2> mirr.err
rc=$?
check "reset-dex-admin with an unusable mirror: exit 2, the file unchanged" eval '[ $rc = 2 ] && cmp -s mirr.yaml base2.yaml'
$PY - base2.yaml partial.yaml <<'P'
import sys, yaml
ds = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d["metadata"]["name"] != "litellm-salt-key"]
yaml.safe_dump_all(ds, open(sys.argv[2], "w"))
P
"$SEEDSEC" reset-dex-admin --existing partial.yaml -o partial-out.yaml > /dev/null 2> partial.err
rc=$?
check "reset-dex-admin on a stream missing a key: exit 1, MISSING litellm-salt-key, the rest rotated" \
    eval '[ $rc = 1 ] && grep -q "^MISSING litellm-salt-key" partial.err && grep -q "^ROTATED" partial.err'

# --- contract: the consumer table agrees with every ExternalSecret the platform ships
"$SEEDSEC" contract --json > contract.json
$PY - contract.json "$PLATFORM/externalsecrets" <<'P' && pass "contract: every remoteRef key of the platform's ExternalSecrets is a contract key consumed in that namespace" || fail "contract vs ExternalSecrets"
import sys, json, yaml, glob, os
rows = json.load(open(sys.argv[1]))
ns_of = {}
for r in rows: ns_of.setdefault(r["backendKey"], set()).add(r["namespace"])
n = 0
for f in glob.glob(os.path.join(sys.argv[2], "*.yaml")):
    for d in yaml.safe_load_all(open(f)):
        if not d or d.get("kind") != "ExternalSecret": continue
        for e in d["spec"]["data"]:
            k = e["remoteRef"]["key"]
            assert k in ns_of, k
            assert d["metadata"]["namespace"] in ns_of[k], (k, d["metadata"]["namespace"])
            n += 1
assert n >= 25, n
P
"$SEEDSEC" contract > contract.txt
check "contract table: dex-secrets row" grep -qE '^dex +dex-secrets +DEX_ADMIN_PASSWORD_HASH +<- dex-admin-hash$' contract.txt
finish
