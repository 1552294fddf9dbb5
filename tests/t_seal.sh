#!/usr/bin/env bash
# seal: SealedSecrets without kubeseal (issue #5, cases C7, C8).
# Every sealed value is opened with node's crypto (OpenSSL: tests/unseal.js),
# not with seedsec's own Mbed TLS, and compared byte for byte with the plain
# render of the same values.
. "$(dirname "$0")/lib.sh"
CHK="$PY $TESTS/seal_check.py"
UNSEAL="node $TESTS/unseal.js"
cd "$T" || exit 2

# ---- keys and certificates, made with openssl ------------------------------
openssl genrsa -out key.pem 4096 2>/dev/null
# what the controller serves: self-signed, empty issuer and subject
openssl req -new -x509 -key key.pem -subj / -days 3650 -out cert.pem 2>/dev/null
openssl pkey -in key.pem -pubout -out pub.pem
openssl x509 -in cert.pem -outform der -out cert.der
openssl req -new -key key.pem -subj / -out req.csr 2>/dev/null
openssl x509 -req -in req.csr -signkey key.pem -days -1 -out expired.pem 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out ec.pem 2>/dev/null
openssl req -new -x509 -key ec.pem -subj / -days 30 -out eccert.pem 2>/dev/null
openssl pkey -in ec.pem -pubout -out ecpub.pem
openssl genpkey -algorithm ed25519 -out ed.pem 2>/dev/null
openssl pkey -in ed.pem -pubout -out edpub.pem
openssl genrsa -out small.pem 1024 2>/dev/null
openssl req -new -x509 -key small.pem -subj / -days 30 -out smallcert.pem 2>/dev/null
check "test certificate has an empty subject and issuer" \
    test "$(openssl x509 -in cert.pem -noout -subject -issuer)" = "$(printf 'subject=\nissuer=')"

S() { "$SEEDSEC" --state "$T/state" "$@"; }
# open every value of a sealed file (label from the document, as the controller does)
opens_as() { # SEALED PLAIN [--as-scope S]
    local f=$1 plain=$2
    shift 2
    $CHK items "$f" "$@" | $UNSEAL key.pem >opened.json && $CHK compare opened.json "$plain" >/dev/null
}
wrong_label_fails() { # SEALED PLAIN SCOPE
    $CHK items "$1" --as-scope "$3" | $UNSEAL key.pem >opened.json &&
        $CHK compare opened.json "$2" --expect-fail >/dev/null
}

# ---- the full contract, plain: provided values and C6-style earlier values --
printf 'hf_%s\n' abcdefghijABCDEFGHIJabcdefghijABCD >hf.txt
printf 'sk-ant-api03-%s\n' xyzXYZ0123456789 >anth.txt
printf 'cfut_%s\r\n' Q1w2E3r4T5y6U7i8O9p0 >cf.txt
cat >earlier.yaml <<'EOF'
---
apiVersion: v1
kind: Secret
metadata:
  name: litellm-salt-key
  namespace: secret-source
type: Opaque
stringData:
  value: "sk-yes"
---
apiVersion: v1
kind: Secret
metadata:
  name: n8n-encryption-key
  namespace: secret-source
type: Opaque
data:
  value: MDEyMw==
EOF
S render --all --existing earlier.yaml --value hf-token=@hf.txt --value anthropic-api-key=@anth.txt \
    --value cloudflare-api-token=@cf.txt -o plain.yaml 2>render.err
check "plain render of the full contract has 18 Secrets" test "$($CHK docs plain.yaml)" = 18

# ---- each scope: layout, opened by an independent implementation -----------
wrong=(namespace-wide cluster-wide strict)
i=0
for scope in strict namespace-wide cluster-wide; do
    expect_exit 0 "seal --scope $scope of the full contract" \
        S seal --cert cert.pem --scope "$scope" --existing plain.yaml -o "sealed-$scope.yaml" 2>"seal-$scope.err"
    check "$scope: 18 SealedSecrets in kubeseal's layout, RSA length 512" \
        test "$($CHK layout "sealed-$scope.yaml" "$scope" secret-source 512)" = 18
    check "$scope: node's crypto opens every value, equal to the plain render" \
        opens_as "sealed-$scope.yaml" plain.yaml
    check "$scope: another scope's label (${wrong[$i]}) opens nothing" \
        wrong_label_fails "sealed-$scope.yaml" plain.yaml "${wrong[$i]}"
    check "$scope: stderr shows no value" $CHK leak "seal-$scope.err" plain.yaml
    check "$scope: file mode 0600" test "$(stat -c %a "sealed-$scope.yaml")" = 600
    i=$((i + 1))
done
if [ ! -s sealed-strict.yaml ]; then
    fail "seal does not produce output; the remaining cases would only repeat that"
    finish
    exit 1
fi
check "the scope annotation is on the top-level metadata" \
    grep -q -x '  annotations:' sealed-namespace-wide.yaml
check "strict output: every document starts with ---" \
    test "$(grep -c -x -- --- sealed-strict.yaml)" = 18
check "strict output carries creationTimestamp: null like kubeseal" \
    grep -q -x '  creationTimestamp: null' sealed-strict.yaml
check "all 18 reported EXISTS (values reused from --existing)" \
    test "$(grep -c '^EXISTS ' seal-strict.err)" = 18

# other inputs: a PEM public key, the DER certificate; JSON output; --split
expect_exit 0 "seal with a PEM public key, --format json" \
    S seal --cert pub.pem --format json --existing plain.yaml -o sealed.json 2>/dev/null
check "json: layout and values" \
    eval '[ "$($CHK layout sealed.json strict secret-source 512)" = 18 ] && opens_as sealed.json plain.yaml'
check "json: output parses with node's JSON.parse per document" \
    node -e 'const t=require("fs").readFileSync("sealed.json","utf8");let n=0;for(const m of t.split(/\n(?=\{)/)){JSON.parse(m);n++};if(n!==18)process.exit(1)'
expect_exit 0 "seal with a DER certificate, --split" \
    S seal --cert cert.der --existing plain.yaml --split split 2>/dev/null
check "split: 18 files, each one SealedSecret that opens" \
    eval '[ "$(ls split | wc -l)" = 18 ] && cat split/*.yaml >split-all.yaml && opens_as split-all.yaml plain.yaml'
check "split: hf-token.yaml is one document" test "$($CHK docs split/hf-token.yaml)" = 1
expect_exit 0 "seal to stdout" sh -c "'$SEEDSEC' --state '$T/state' seal --cert cert.pem --existing plain.yaml >stdout.yaml 2>/dev/null"
check "stdout: 18 documents that open" eval '[ "$($CHK docs stdout.yaml)" = 18 ] && opens_as stdout.yaml plain.yaml'

# ---- create-if-absent: a sealed file kept in git ----------------------------
S render -o base-plain.yaml 2>/dev/null
S seal --cert cert.pem --existing base-plain.yaml -o base.yaml 2>/dev/null
check "base: the 5 always-on keys sealed" test "$($CHK docs base.yaml)" = 5
cp base.yaml base.orig
expect_exit 0 "re-run with one more gate (--enable n8n), -o the same file" \
    S seal --cert cert.pem --existing base.yaml --enable n8n -o base.yaml 2>rerun.err
check "re-run: the earlier documents are byte-identical" \
    cmp -s -n "$(stat -c %s base.orig)" base.orig base.yaml
check "re-run: exactly one new document" test "$($CHK docs base.yaml)" = 6
check "re-run: CREATED n8n-encryption-key, the rest EXISTS" \
    eval '[ "$(grep -c ^CREATED rerun.err)" = 1 ] && grep -q "^CREATED n8n-encryption-key$" rerun.err && [ "$(grep -c ^EXISTS rerun.err)" = 5 ]'
check "re-run: the new document is n8n-encryption-key and is appended" \
    eval 'tail -c +$(( $(stat -c %s base.orig) + 1 )) base.yaml | grep -q "^  name: n8n-encryption-key$"'
$CHK items base.yaml | $UNSEAL key.pem >opened.json
check "re-run: every value opens (old ones equal the plain render)" \
    $PY -c '
import json, base64, sys, yaml
o = json.load(open("opened.json"))
plain = {d["metadata"]["name"]: base64.b64decode(d["data"]["value"]) for d in yaml.safe_load_all(open("plain.yaml")) if d}
assert len(o) == 6 and all("value" in r for r in o.values()), o
for i, r in o.items():
    name = i.split("/")[1]
    v = base64.b64decode(r["value"])
    plain = {d["metadata"]["name"]: base64.b64decode(d["data"]["value"]) for d in yaml.safe_load_all(open("base-plain.yaml")) if d}
    if name == "n8n-encryption-key":
        assert len(v) == 48 and v.isalnum() and name not in plain
    else:
        assert v == plain[name], name
'
cp base.yaml base6
expect_exit 0 "re-run with nothing to add" S seal --cert cert.pem --existing base.yaml --enable n8n -o base.yaml 2>same.err
check "nothing to add: file unchanged, says UNCHANGED" \
    eval 'cmp -s base6 base.yaml && grep -q "^UNCHANGED base.yaml" same.err && ! grep -q ^CREATED same.err'
expect_exit 0 "sealed stream on stdin, new documents to stdout" \
    sh -c "'$SEEDSEC' --state '$T/state' seal --cert cert.pem --existing - --enable identity <base.yaml >more.yaml 2>more.err"
check "stdin: old bytes first, then the 9 identity documents" \
    eval 'cmp -s -n "$(stat -c %s base.yaml)" base.yaml more.yaml && [ "$($CHK docs more.yaml)" = 15 ]'
check "stdin: the Dex password is mirrored to the state dir (it cannot be read back)" \
    test -s "$T/state/dex-admin-password"
check "stdin: the new dex-admin-hash opens to a bcrypt of the mirrored password" \
    eval '$CHK items more.yaml | $UNSEAL key.pem >opened.json && $PY -c "
import json, base64, bcrypt
o = json.load(open(\"opened.json\"))
pw = open(\"$T/state/dex-admin-password\", \"rb\").read()
h = base64.b64decode(o[\"secret-source/dex-admin-hash/value\"][\"value\"])
p = base64.b64decode(o[\"secret-source/dex-admin-password/value\"][\"value\"])
assert p == pw and bcrypt.checkpw(pw, h)
"'
check "a sealed stream on stdin: stderr shows no value" $CHK leak more.err plain.yaml

# the Dex pair when one half is sealed: never a new password against a sealed hash
$PY - <<'EOF'
import yaml
docs = open("more.yaml").read().split("\n---\n")
keep = [d for d in docs if "  name: dex-admin-password\n" not in d]
open("nopw.yaml", "w").write("\n---\n".join(keep))
EOF
expect_exit 1 "hash sealed, password not, no mirror: MISSING" \
    "$SEEDSEC" --state "$T/empty-state" seal --cert cert.pem --existing nopw.yaml --enable identity,n8n -o nopw-out.yaml 2>nopw.err
check "  ... says MISSING dex-admin-password and seals no new password" \
    eval 'grep -q "^MISSING dex-admin-password" nopw.err && [ "$($CHK docs nopw-out.yaml)" = "$($CHK docs nopw.yaml)" ]'
expect_exit 0 "hash sealed, password in the mirror: the mirror's password is sealed" \
    S seal --cert cert.pem --existing nopw.yaml --enable identity,n8n -o nopw-out2.yaml 2>/dev/null
check "  ... and it opens to the mirrored password" \
    eval '$CHK items nopw-out2.yaml | $UNSEAL key.pem >opened.json && $PY -c "
import json, base64
o = json.load(open(\"opened.json\"))
assert base64.b64decode(o[\"secret-source/dex-admin-password/value\"][\"value\"]) == open(\"$T/state/dex-admin-password\", \"rb\").read()
"'

# a provided value for a key already sealed is not used
S seal --cert cert.pem --existing base.yaml --value hf-token=@hf.txt -o hf1.yaml 2>/dev/null
cp hf1.yaml hf1.orig
HF_TOKEN=hf_OtherTokenOtherTokenOtherToken1234 \
    S seal --cert cert.pem --existing hf1.yaml -o hf1.yaml 2>hf.err
check "provided value for a sealed key: warned, file unchanged" \
    eval 'grep -q "hf-token is already sealed" hf.err && cmp -s hf1.orig hf1.yaml'
check "  ... and the warning shows no value" eval '! grep -q OtherToken hf.err'

# --existing LINK -o LINK: written through the link; the link stays, its target grows
mkdir -p git && cp base.orig git/sealed.yaml && ln -s git/sealed.yaml sl.yaml
S seal --cert cert.pem --existing sl.yaml --enable n8n -o sl.yaml 2>/dev/null
rc=$?
check "seal --existing LINK -o LINK: exit 0, still a link, the target has the old bytes then n8n" \
    eval '[ $rc = 0 ] && [ -L sl.yaml ] && [ "$(readlink sl.yaml)" = git/sealed.yaml ] && cmp -s -n "$(stat -c %s base.orig)" base.orig git/sealed.yaml && [ "$($CHK docs git/sealed.yaml)" = 6 ] && tail -n 20 git/sealed.yaml | grep -q "name: n8n-encryption-key"'
check "  ... no temp file beside the link or the target" eval '[ -z "$(ls . git | grep "\.tmp-")" ]'

# JSON sealed stream: new documents in JSON, old bytes kept
S seal --cert cert.pem --existing base-plain.yaml --format json -o base.json 2>/dev/null
cp base.json base.json.orig
expect_exit 0 "json sealed stream, re-run with --enable n8n (form taken from the file)" \
    S seal --cert cert.pem --existing base.json --enable n8n -o base.json 2>/dev/null
check "json re-run: old bytes kept, 6 objects" \
    eval 'cmp -s -n "$(stat -c %s base.json.orig)" base.json.orig base.json && [ "$($CHK docs base.json)" = 6 ]'
expect_exit 2 "json sealed stream with --format yaml refused" \
    S seal --cert cert.pem --existing base.json --format yaml --enable hf -o x.yaml 2>/dev/null

# --split, create-if-absent: files that hold the same document stay as they are
S seal --cert cert.pem --existing base-plain.yaml --split sd 2>/dev/null
sum_before=$(cat sd/*.yaml | sha256sum)
expect_exit 0 "split re-run from the split files themselves, --enable n8n" \
    sh -c "cat sd/*.yaml | '$SEEDSEC' --state '$T/state' seal --cert cert.pem --existing - --enable n8n --split sd 2>/dev/null"
check "split re-run: one new file, the others untouched" \
    eval '[ "$(ls sd | wc -l)" = 6 ] && [ "$(cat $(ls sd/*.yaml | grep -v n8n) | sha256sum)" = "$sum_before" ]'

# --existing DIR: a --split layout kept in git is read as one stream
S seal --cert cert.pem --existing base-plain.yaml --split sdir 2>/dev/null
n0=$(ls sdir | wc -l)
snap() { (cd sdir && for f in *; do printf '%s %s %s ' "$f" "$(stat -c '%i %y' "$f")"; sha256sum < "$f"; done); }
snap >sdir.before
expect_exit 0 "seal --existing DIR --split DIR, one more gate (hf)" \
    S seal --cert cert.pem --existing sdir --split sdir --enable hf --value hf-token=@hf.txt 2>sdir.err
check "split dir re-run: exactly one new file, hf-token.yaml" \
    eval '[ "$(ls sdir | wc -l)" = $((n0 + 1)) ] && [ -f sdir/hf-token.yaml ] && [ "$(snap | grep -v "^hf-token.yaml ")" = "$(cat sdir.before)" ]'
check "split dir re-run: the old files byte-identical, same inode and mtime" \
    eval '[ "$(snap | grep -vc "^hf-token.yaml ")" = "$n0" ] && snap | grep -v "^hf-token.yaml " | cmp -s - sdir.before'
check "split dir re-run: CREATED hf-token, EXISTS for the rest" \
    eval 'grep -qx "CREATED hf-token (from --value hf-token=@hf.txt)" sdir.err && [ "$(grep -c "^EXISTS " sdir.err)" = "$n0" ]'
check "split dir re-run: hf-token.yaml is one document" test "$($CHK docs sdir/hf-token.yaml)" = 1
S render --existing base-plain.yaml --enable hf --value hf-token=@hf.txt -o sdir-plain.yaml 2>/dev/null
cat sdir/*.yaml >sdir-all.yaml
check "split dir re-run: every value of every file opens to the plain one" opens_as sdir-all.yaml sdir-plain.yaml
check "split dir re-run: stderr shows no value" $CHK leak sdir.err sdir-plain.yaml
snap >sdir.before2
expect_exit 0 "split dir, a third run with nothing new" \
    S seal --cert cert.pem --existing sdir --split sdir --enable hf 2>/dev/null
check "  ... nothing written" eval 'snap | cmp -s - sdir.before2'
# a file of the directory with a comment of its own stays as it is: it is where its document lives
{ echo "# rotated by hand? no: reviewed 2026-01"; cat sdir/vllm-api-key.yaml; } >c.tmp && cat c.tmp >sdir/vllm-api-key.yaml
snap >sdir.before3
expect_exit 0 "split dir with a commented file, one more gate (egress)" \
    S seal --cert cert.pem --existing sdir --split sdir --enable hf,egress --value anthropic-api-key=@anth.txt 2>/dev/null
check "  ... the commented file is left alone; one new file" \
    eval '[ -f sdir/anthropic-api-key.yaml ] && [ "$(snap | grep -v "^anthropic-api-key.yaml ")" = "$(cat sdir.before3)" ]'
# from a directory to one stream, and to another split directory
expect_exit 0 "seal --existing DIR -o FILE" S seal --cert cert.pem --existing sdir --enable hf,egress -o fromdir.yaml 2>/dev/null
check "  ... the files' bytes in name order, nothing added" eval 'cat sdir/*.yaml | cmp -s - fromdir.yaml'
check "  ... a stream of $((n0 + 2)) SealedSecrets" test "$($CHK docs fromdir.yaml)" = $((n0 + 2))
expect_exit 0 "seal --existing DIR --split OTHER" S seal --cert cert.pem --existing sdir --enable hf,egress --split sdir2 2>/dev/null
check "  ... the same documents, byte for byte (the commented one without its comment)" \
    eval 'for f in sdir/*.yaml; do b=$(basename "$f"); if [ "$b" = vllm-api-key.yaml ]; then tail -n +2 "$f"; else cat "$f"; fi | cmp -s - "sdir2/$b" || exit 1; done; [ "$(ls sdir2 | wc -l)" = "$(ls sdir | wc -l)" ]'
# errors name the file
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: &a x}\n' >sdir/zz-bad.yaml
expect_exit 2 "a file of the directory that does not parse" \
    S seal --cert cert.pem --existing sdir --enable hf,egress --split sdir 2>bad-dir.err
check "  ... FILE:LINE named, nothing written" \
    eval 'grep -q "sdir/zz-bad.yaml:3: anchors are not supported" bad-dir.err && [ "$(ls sdir | wc -l)" = $((n0 + 3)) ]'
rm sdir/zz-bad.yaml
cp base-plain.yaml sdir/plain.yaml
expect_exit 2 "a directory mixing SealedSecrets and plain Secrets" \
    S seal --cert cert.pem --existing sdir --enable hf,egress -o mixed-dir.yaml 2>/dev/null
rm sdir/plain.yaml
expect_exit 2 "reset-dex-admin --cert --existing DIR: refused (a sealed file only)" \
    S reset-dex-admin --cert cert.pem --existing sdir -o rdir.yaml 2>/dev/null

# ---- C8: every SealedSecret carries the namespace it was sealed for ---------
expect_exit 2 "C8: --namespace given empty" S seal --cert cert.pem --namespace "" 2>c8a.err
check "  ... says so" grep -q "namespace" c8a.err
$PY - <<'EOF'
import yaml
d = [x for x in yaml.safe_load_all(open("base-plain.yaml")) if x]
for x in d:
    del x["metadata"]["namespace"]
yaml.safe_dump_all(d, open("nons.yaml", "w"), explicit_start=True)
EOF
for scope in strict namespace-wide; do
    expect_exit 2 "C8: a plain Secret without a namespace, $scope" \
        S seal --cert cert.pem --scope "$scope" --existing nons.yaml -o c8b.yaml 2>c8b.err
    check "  ... names the Secret, no guess, nothing written" \
        eval 'grep -q "Secret litellm-master-key has no metadata.namespace" c8b.err && [ ! -e c8b.yaml ]'
done
expect_exit 0 "cluster-wide: the label has no namespace; sealed for --namespace" \
    S seal --cert cert.pem --scope cluster-wide --existing nons.yaml --namespace apps -o c8c.yaml 2>/dev/null
check "  ... every document names namespace apps" test "$($CHK layout c8c.yaml cluster-wide apps 512)" = 5
expect_exit 2 "C8: a plain Secret from another namespace" \
    S seal --cert cert.pem --existing base-plain.yaml --namespace other -o c8d.yaml 2>c8d.err
check "  ... says which namespaces" grep -q "is in namespace secret-source, but seal writes into other" c8d.err
expect_exit 2 "C8: a SealedSecret sealed for another namespace" \
    S seal --cert cert.pem --existing base.yaml --namespace other -o c8e.yaml 2>c8e.err
check "  ... says so, nothing written" \
    eval 'grep -q "was sealed for namespace secret-source" c8e.err && [ ! -e c8e.yaml ]'
sed '/^  namespace: secret-source$/d' base.yaml >nons-sealed.yaml
expect_exit 2 "C8: a SealedSecret without a namespace" \
    S seal --cert cert.pem --existing nons-sealed.yaml -o c8f.yaml 2>c8f.err
check "  ... says so" grep -q "has no metadata.namespace" c8f.err
expect_exit 2 "a SealedSecret of another scope" \
    S seal --cert cert.pem --scope cluster-wide --existing base.yaml -o c8g.yaml 2>c8g.err
check "  ... names both scopes" grep -q "has scope strict, but --scope is cluster-wide" c8g.err
cat base-plain.yaml base.yaml >mixed.yaml
expect_exit 2 "plain Secrets and SealedSecrets mixed" \
    S seal --cert cert.pem --existing mixed.yaml -o mixed-out.yaml 2>/dev/null

# ---- other --existing forms ----------------------------------------------------
$PY - <<'EOF2'
import json, yaml
d = [x for x in yaml.safe_load_all(open("plain.yaml")) if x]
# what kubectl get secret -n secret-source -o json gives: a v1 List, server fields
for x in d:
    x["metadata"].update(uid="0d7c2a4e", resourceVersion="4711", creationTimestamp="2026-01-01T00:00:00Z")
d.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "unrelated"}, "data": {"value": "eA=="}})
json.dump({"apiVersion": "v1", "kind": "List", "items": d}, open("kubectl.json", "w"), indent=4)
EOF2
expect_exit 0 "plain Secrets as a kubectl v1 List (JSON), one unrelated without a namespace" \
    S seal --cert cert.pem --existing kubectl.json -o from-list.yaml 2>list.err
check "  ... the unrelated one is IGNORED, all 18 open equal to the render" \
    eval 'grep -q "^IGNORED unrelated" list.err && opens_as from-list.yaml plain.yaml'
$PY - <<'EOF2'
import json, yaml
d = [x for x in yaml.safe_load_all(open("base.yaml")) if x]
json.dump({"apiVersion": "v1", "kind": "List", "items": d}, open("sealed-list.json", "w"))
EOF2
expect_exit 2 "SealedSecrets inside a List (not a file kept in git) refused" \
    S seal --cert cert.pem --existing sealed-list.json -o sl.yaml 2>sl.err
check "  ... says why" grep -q "inside a List cannot be copied through byte for byte" sl.err
{ cat base.yaml; printf '# kept by hand\n---\napiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: other-app\n  namespace: secret-source\nspec:\n  encryptedData:\n    token: AgA=\n'; } >withother.yaml
cp withother.yaml withother.orig
expect_exit 0 "a foreign SealedSecret in the sealed file" \
    S seal --cert cert.pem --existing withother.yaml --enable hf --value hf-token=@hf.txt -o withother.yaml 2>other.err
check "  ... IGNORED, kept byte for byte with its comment, hf-token appended" \
    eval 'grep -q "^IGNORED other-app" other.err && cmp -s -n "$(stat -c %s withother.orig)" withother.orig withother.yaml && tail -n 20 withother.yaml | grep -q "name: hf-token"'

# ---- certificates refused -----------------------------------------------------
expect_exit 2 "an expired certificate" S seal --cert expired.pem -o e1.yaml 2>e1.err
check "  ... says expired and when" grep -q "the certificate expired on [0-9-]* [0-9:]* UTC" e1.err
expect_exit 2 "an EC certificate" S seal --cert eccert.pem -o e2.yaml 2>e2.err
check "  ... says not RSA" grep -q "the key is EC, not RSA" e2.err
expect_exit 2 "an EC public key" S seal --cert ecpub.pem -o e3.yaml 2>e3.err
check "  ... says not RSA" grep -q "not RSA" e3.err
expect_exit 2 "an Ed25519 public key" S seal --cert edpub.pem -o e4.yaml 2>e4.err
check "  ... says not RSA" grep -q "not RSA" e4.err
expect_exit 2 "a 1024-bit RSA certificate" S seal --cert smallcert.pem -o e5.yaml 2>e5.err
check "  ... says too weak" grep -q "1024-bit RSA key is too weak" e5.err
expect_exit 2 "a private key as --cert" S seal --cert key.pem -o e6.yaml 2>e6.err
check "  ... says private key, shows none of it" \
    eval 'grep -q "holds a private key" e6.err && ! grep -q "MII" e6.err'
head -c 600 cert.der >trunc.der
expect_exit 2 "a truncated DER certificate" S seal --cert trunc.der -o e7.yaml 2>/dev/null
echo "hello" >junk.txt
expect_exit 2 "not a certificate" S seal --cert junk.txt -o e8.yaml 2>/dev/null
expect_exit 2 "no --cert" S seal -o e9.yaml 2>/dev/null
expect_exit 2 "--format list refused" S seal --cert cert.pem --format list 2>/dev/null
{ printf hf_; head -c 1048574 /dev/zero | tr '\0' a; } >big1m1.txt
expect_exit 2 "a --value over 1 MiB (what a Secret can hold)" \
    S seal --cert cert.pem --value hf-token=@big1m1.txt -o e0.yaml 2>e0.err
check "  ... says which key, its size and the limit" \
    grep -qx "seedsec: hf-token (from --value hf-token=@big1m1.txt): the value is 1048577 bytes, larger than the 1 MiB a Kubernetes Secret can hold (1048576 bytes); nothing written" e0.err
check "nothing written by any refused run" eval '! ls e[0-9].yaml 2>/dev/null | grep -q .'

# ---- exit 1 when a needed provided key is missing; --json report ------------
expect_exit 1 "missing provided keys: exit 1, the rest sealed" \
    sh -c "'$SEEDSEC' --state '$T/state' seal --cert cert.pem --enable hf --json -o miss.yaml >miss.json 2>miss.err"
check "  ... MISSING hf-token, 5 sealed, report parses" \
    eval 'grep -q "^MISSING hf-token" miss.err && [ "$($CHK docs miss.yaml)" = 5 ] && $PY -c "import json; r = json.load(open(\"miss.json\")); assert r[\"command\"] == \"seal\" and r[\"exit\"] == 1"'
# ---- UNCHANGED: "nothing new to seal" when a needed key is missing ----------
cp base.orig un.yaml
S seal --cert cert.pem --existing un.yaml --enable hf -o un.yaml 2>un.err
rc=$?
check "sealed file, hf needed but not supplied: exit 1, MISSING, UNCHANGED (nothing new to seal), file untouched" \
    eval '[ $rc = 1 ] && grep -q "^MISSING hf-token" un.err && grep -qx "UNCHANGED un.yaml (nothing new to seal)" un.err && ! grep -q "every needed key is sealed already" un.err && cmp -s un.yaml base.orig'
S seal --cert cert.pem --existing un.yaml -o un.yaml 2>un2.err
rc=$?
check "  ... and with nothing missing: exit 0, UNCHANGED (every needed key is sealed already)" \
    eval '[ $rc = 0 ] && grep -qx "UNCHANGED un.yaml (every needed key is sealed already)" un2.err'
# ---- reset-dex-admin --cert: the Dex pair rotated inside a sealed file --------
rm -rf "$T/rstate"
R() { "$SEEDSEC" --state "$T/rstate" "$@"; }
R seal --cert cert.pem --enable identity -o rot.yaml 2>/dev/null
cp rot.yaml rot.orig
cp "$T/rstate/dex-admin-password" rot.pw.orig
expect_exit 0 "reset-dex-admin --cert --existing F -o F: exit 0" \
    R reset-dex-admin --cert cert.pem --enable identity --existing rot.yaml -o rot.yaml 2>rot.err
check "  ... says ROTATED, and no value on stderr" \
    eval 'grep -q "^ROTATED dex-admin-password and dex-admin-hash (sealed" rot.err && ! grep -qF "$(cat rot.pw.orig)" rot.err && ! grep -qF "$(cat "$T/rstate/dex-admin-password")" rot.err'
$CHK items rot.yaml | $UNSEAL key.pem >rot.opened.json
$CHK items rot.orig | $UNSEAL key.pem >rot.orig.json
check "  ... same documents in the same order; only the Dex pair differs, the rest byte for byte" \
    $PY -c '
import sys, yaml
a, b = open("rot.orig").read().split("---\n"), open("rot.yaml").read().split("---\n")
na = [yaml.safe_load(x)["metadata"]["name"] for x in a if x.strip()]
nb = [yaml.safe_load(x)["metadata"]["name"] for x in b if x.strip()]
assert na == nb and len(na) == 14, (na, nb)
for x, y in zip(a, b):
    if not x.strip():
        continue
    n = yaml.safe_load(x)["metadata"]["name"]
    assert (x == y) == (n not in ("dex-admin-password", "dex-admin-hash")), n
'
check "  ... the new sealed password is the mirror, differs from the old; the new hash verifies it" \
    $PY -c '
import base64, json, bcrypt
o, n = json.load(open("rot.orig.json")), json.load(open("rot.opened.json"))
v = lambda d, k: base64.b64decode(d["secret-source/%s/value" % k]["value"])
pw, h = v(n, "dex-admin-password"), v(n, "dex-admin-hash")
assert pw == open("'"$T"'/rstate/dex-admin-password", "rb").read()
assert pw != v(o, "dex-admin-password") and pw == pw.strip() and len(pw) >= 20
assert h.startswith(b"$2a$12$") and bcrypt.checkpw(pw, h)
assert not bcrypt.checkpw(pw, v(o, "dex-admin-hash"))
assert all(n[k] == o[k] for k in o if "dex-admin-" not in k)
'
check "  ... the old mirror is kept as a .bak, 0600" \
    eval 'f=$(ls "$T"/rstate/dex-admin-password.*.bak) && cmp -s "$f" rot.pw.orig && [ "$(stat -c %a "$f")" = 600 ]'
cp rot.yaml rot.keep
R reset-dex-admin --cert cert.pem --enable identity --existing rot.yaml >rot.stdout 2>/dev/null
check "to stdout: the file itself is left alone; 14 documents, the pair new again" \
    eval 'cmp -s rot.yaml rot.keep && [ "$($CHK docs rot.stdout)" = 14 ] && ! cmp -s rot.stdout rot.yaml'
R seal --cert cert.pem --enable identity --format json -o rot.json 2>/dev/null
cp rot.json rot.json.orig
R reset-dex-admin --cert cert.pem --enable identity --existing rot.json -o rot.json 2>/dev/null
$CHK items rot.json | $UNSEAL key.pem >rj.new.json
$CHK items rot.json.orig | $UNSEAL key.pem >rj.old.json
check "a JSON sealed stream: stays JSON, 14 objects, only the pair's values changed" \
    $PY -c '
import json, sys
sys.path.insert(0, "'"$TESTS"'")
from seal_check import load
a, b = load("rot.json.orig"), load("rot.json")
assert [x["metadata"]["name"] for x in a] == [x["metadata"]["name"] for x in b] and len(b) == 14
assert [x["metadata"]["name"] for x, y in zip(a, b) if x != y] == ["dex-admin-password", "dex-admin-hash"]
o, n = json.load(open("rj.old.json")), json.load(open("rj.new.json"))
assert sorted(k for k in o if o[k] != n[k]) == ["secret-source/dex-admin-hash/value", "secret-source/dex-admin-password/value"]
assert open("rot.json").read().lstrip().startswith("{")
'
cp rot.yaml rot.dry.orig
cp "$T/rstate/dex-admin-password" rot.dry.pw
ls -A "$T/rstate" > rot.dry.ls
R reset-dex-admin --cert cert.pem --enable identity --dry-run --existing rot.yaml -o rot.yaml >rot.dry.out 2>rot.dry.err
rc=$?
check "reset-dex-admin --cert --dry-run --existing F -o F: exit 0, WOULD-ROTATE (nothing written), no ROTATED" \
    eval '[ $rc = 0 ] && grep -qx "WOULD-ROTATE dex-admin-password and dex-admin-hash (nothing written)" rot.dry.err && ! grep -q "^ROTATED" rot.dry.err'
check "  ... F byte for byte, nothing on stdout, the mirror and the state dir unchanged" \
    eval 'cmp -s rot.yaml rot.dry.orig && [ ! -s rot.dry.out ] && cmp -s "$T/rstate/dex-admin-password" rot.dry.pw && [ "$(ls -A "$T/rstate")" = "$(cat rot.dry.ls)" ] && [ -z "$(ls | grep "\.tmp-")" ]'
R reset-dex-admin --cert cert.pem --enable identity --dry-run --existing rot.yaml >rot.dry.out 2>/dev/null
rc=$?
check "reset-dex-admin --cert --dry-run to stdout: exit 0, no stream" eval '[ $rc = 0 ] && [ ! -s rot.dry.out ]'
R render --enable identity -o rot-plain.yaml 2>/dev/null
expect_exit 2 "reset-dex-admin --cert on plain Secrets: refused" \
    R reset-dex-admin --cert cert.pem --enable identity --existing rot-plain.yaml -o rp.yaml 2>/dev/null
expect_exit 2 "reset-dex-admin --cert without --existing: refused" \
    R reset-dex-admin --cert cert.pem -o rp.yaml 2>/dev/null
expect_exit 2 "reset-dex-admin --cert --split: refused" \
    R reset-dex-admin --cert cert.pem --existing rot.yaml --split rp 2>/dev/null
check "  ... nothing written by them" eval '[ ! -e rp.yaml ] && [ ! -e rp ]'

# a rotation only touches the pair: a file with just the two Dex documents stays two documents;
# the keys it lacks are MISSING (exit 1), never generated (they may be sealed in another file)
$PY - rot.yaml only-dex.yaml <<'P'
import sys
docs = open(sys.argv[1]).read().split("---\n")
keep = [d for d in docs if "name: dex-admin-password\n" in d or "name: dex-admin-hash\n" in d]
open(sys.argv[2], "w").write("".join("---\n" + d for d in keep))
P
R reset-dex-admin --cert cert.pem --enable identity,n8n --existing only-dex.yaml -o only-dex.yaml >od.out 2>od.err
rc=$?
check "rotation of a file holding only the pair: exit 1, still 2 documents, nothing CREATED but the pair" \
    eval '[ $rc = 1 ] && [ "$($CHK docs only-dex.yaml)" = 2 ] && [ "$(grep ^CREATED od.err | grep -vc dex-admin-)" = 0 ] && grep -q "^MISSING litellm-salt-key" od.err && grep -q "^MISSING n8n-encryption-key" od.err'
# the mirror must be usable before the file is rewritten (else the new password would only exist sealed)
cp rot.yaml rot.mirr.orig
mkdir -p "$T/bad-state/dex-admin-password"
"$SEEDSEC" --state "$T/bad-state" reset-dex-admin --cert cert.pem --enable identity --existing rot.yaml -o rot.yaml >/dev/null 2>mirr.err
rc=$?
check "unusable mirror: exit 2 before anything is written, the sealed file unchanged" \
    eval '[ $rc = 2 ] && cmp -s rot.yaml rot.mirr.orig && grep -q "dex-admin-password" mirr.err'
"$SEEDSEC" --state "$T/bad-state" reset-dex-admin --cert cert.pem --enable identity --dry-run --existing rot.yaml >/dev/null 2>/dev/null
check "... and --dry-run says so too (exit 2)" [ $? = 2 ]

finish
