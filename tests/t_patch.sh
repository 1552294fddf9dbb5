#!/usr/bin/env bash
# seedsec patch: kustomize patches adding remoteRef.property. Every platform
# ExternalSecret is run through kubectl kustomize with and without the
# printed block; the two outputs must differ only by the added properties.
. "$(dirname "$0")/lib.sh"
CHK="$PY $TESTS/patch_check.py"
KUBECTL=${KUBECTL:-/usr/bin/kubectl}
ES=$PLATFORM/externalsecrets
if ! ls "$ES"/*.yaml > /dev/null 2>&1; then
    fail "no fixtures in $ES (in a git worktree, set SHARED to the shared directory)"
    finish
    exit 1
fi
to() { local o=$1 e=$2; shift 2; "$@" > "$o" 2> "$e"; }   # to OUT ERR CMD...

# mkkz DIR FILE...: a kustomization over copies of the files (in DIR/res)
mkkz() {
    local d=$1 f
    shift
    mkdir -p "$d/res"
    cp "$@" "$d/res/"
    { echo "resources:"; for f in "$@"; do echo "  - res/$(basename "$f")"; done; } > "$d/kustomization.yaml"
}
# patched_ok DIR PROPERTY MIN_ADDED SEEDSEC_ARGS...: kustomize, append the
# patches, kustomize again, compare structurally
patched_ok() {
    local d=$1 prop=$2 min=$3
    shift 3
    "$KUBECTL" kustomize "$d" > "$d/unpatched.yaml" 2> "$d/err" || { cat "$d/err"; return 1; }
    "$SEEDSEC" -q "$@" > "$d/patches.yaml" 2> "$d/err" || { cat "$d/err"; return 1; }
    cat "$d/patches.yaml" >> "$d/kustomization.yaml"
    "$KUBECTL" kustomize "$d" > "$d/patched.yaml" 2> "$d/err" || { cat "$d/err"; return 1; }
    $CHK compare "$d/unpatched.yaml" "$d/patched.yaml" "$prop" "$min" > "$d/added" || return 1
}

# ---- the platform's ExternalSecrets --------------------------------------

nfix=$(ls "$ES"/*.yaml | wc -l)
check "fixtures: $nfix ExternalSecret files" test "$nfix" -ge 14

mkkz "$T/all" "$ES"/*.yaml
check "all fixtures (DIR): kustomize with the patches adds property everywhere, nothing else" \
    patched_ok "$T/all" value 25 patch "$T/all/res"
check "all fixtures: 25 properties added" test "$(cat "$T/all/added")" = "added 25"
check "all fixtures: one entry per ExternalSecret (15)" \
    test "$(grep -c '^  - target:$' "$T/all/patches.yaml")" = 15

i=0
for f in "$ES"/*.yaml; do
    i=$((i + 1))
    mkkz "$T/one$i" "$f"
    check "$(basename "$f"): patched kustomize output differs only by the properties" \
        patched_ok "$T/one$i" value 1 patch "$f"
done

mkkz "$T/prop" "$ES"/*.yaml
check "--property password: every added property is 'password'" \
    patched_ok "$T/prop" password 25 --property password patch "$T/prop/res"

expect_exit 0 "patch DIR" to "$T/dir.out" "$T/dir.err" "$SEEDSEC" patch "$ES"
expect_exit 0 "patch FILE..." to "$T/files.out" /dev/null "$SEEDSEC" patch "$ES"/*.yaml
check "DIR and the sorted FILE list give the same block" cmp -s "$T/dir.out" "$T/files.out"
"$SEEDSEC" -q patch "$ES" > "$T/dir2.out"
check "the output is deterministic" cmp -s "$T/dir.out" "$T/dir2.out"
check "stderr: one PATCH line per ExternalSecret and a summary" \
    sh -c "test \$(grep -c '^PATCH ExternalSecret ' '$T/dir.err') = 15 && grep -q '^15 ExternalSecrets, 15 patch entries adding 25 properties' '$T/dir.err'"
check "block shape: patches: list of {target: {group, kind, name, namespace}, patch: JSON6902 YAML}" \
    $PY - "$T/dir.out" <<'PY'
import sys, yaml
k = yaml.safe_load(open(sys.argv[1]))
assert list(k) == ["patches"], k
for e in k["patches"]:
    assert sorted(e) == ["patch", "target"], e
    t = e["target"]
    assert sorted(t) == ["group", "kind", "name", "namespace"], t
    assert t["group"] == "external-secrets.io" and t["kind"] == "ExternalSecret", t
    ops = yaml.safe_load(e["patch"])
    assert ops and all(sorted(o) == ["op", "path", "value"] and o["op"] == "add" and
                       o["value"] == "value" and o["path"].startswith("/spec/data/") and
                       o["path"].endswith("/remoteRef/property") for o in ops), ops
PY

# the reader itself agrees with PyYAML on every real file (all scalars as text)
DUMP=$T/yaml_dump
if [ -d "$ROOT/build/mbedtls-musl/lib" ] && command -v musl-gcc > /dev/null &&
   musl-gcc -std=c11 -O1 -I"$ROOT/build/mbedtls-musl/include" -o "$DUMP" "$TESTS/yaml_dump.c" \
       -L"$ROOT/build/mbedtls-musl/lib" -lmbedtls -lmbedx509 -lmbedcrypto 2> "$T/cc.err"; then
    reader_agrees() {
        "$DUMP" "$1" > "$T/dump.json" || return 1
        $PY - "$1" "$T/dump.json" <<'PY'
import json, sys, yaml
want = list(yaml.load_all(open(sys.argv[1]), Loader=yaml.BaseLoader))
got = [json.loads(l) for l in open(sys.argv[2])]
if want != got:
    sys.exit("reader differs from PyYAML:\n%r\n%r" % (want, got))
PY
    }
    for f in "$ES"/*.yaml; do
        check "reader = PyYAML: $(basename "$f")" reader_agrees "$f"
    done
else
    echo "skip reader = PyYAML (no musl-gcc or $ROOT/build/mbedtls-musl)"
fi

# ---- what is left alone; other shapes ------------------------------------

cat > "$T/mixed.yaml" <<'Y'
# a stream with comments, quoted strings, flow style and a block literal
---
apiVersion: v1
kind: ConfigMap   # another kind: left alone
metadata: {name: cm, namespace: "ns1"}
data:
  script: |
    - op: add
      path: /spec/data/0/remoteRef/property
---
apiVersion: "external-secrets.io/v1"
kind: 'ExternalSecret'
metadata:
  name: "partial"
  namespace: ns1
spec:
  secretStoreRef: {kind: ClusterSecretStore, name: secret-store}
  target:
    name: partial
    template:
      data:
        conf: >-
          folded text
          "with quotes"
  data:
    - secretKey: a
      remoteRef:
        key: 'key-a'
        property: custom     # already there: kept
    - secretKey: b
      remoteRef: {key: key-b}
    - secretKey: c
      remoteRef:
        key: key-c
        property: ""         # empty: set
...
---
# every entry has a property: no patch entry
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: complete
  namespace: ns1
spec:
  data:
    - secretKey: x
      remoteRef: {key: k, property: p}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: from-only
  namespace: ns1
spec:
  dataFrom:
    - extract:
        key: bundle
    - find:
        name: {regexp: "^dex-"}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: a.b, namespace: ns2}
spec:
  data:
    - {secretKey: s, remoteRef: {key: k1}}
---
# a name that the unquoted regex "a.b" would match too
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: axb, namespace: ns2}
spec:
  data:
    - {secretKey: s, remoteRef: {key: k2, property: other}}
---
apiVersion: external-secrets.io/v1
kind: ClusterExternalSecret
metadata:
  name: shared
spec:
  namespaceSelectors:
    - matchLabels: {team: ai}
  externalSecretSpec:
    secretStoreRef: {kind: ClusterSecretStore, name: secret-store}
    target: {name: shared}
    data:
      - secretKey: token
        remoteRef: {key: hf-token}
Y
mkdir -p "$T/mix"
expect_exit 0 "mixed stream" to "$T/mix.out" "$T/mix.err" "$SEEDSEC" patch "$T/mixed.yaml"
mkkz "$T/mix" "$T/mixed.yaml"
check "mixed: kustomize: only missing/empty properties added, others kept" \
    patched_ok "$T/mix" value 4 patch "$T/mixed.yaml"
check "mixed: 4 added (partial b and c, a.b, the ClusterExternalSecret)" \
    test "$(cat "$T/mix/added")" = "added 4"
check "mixed: partial gets /spec/data/1 and /spec/data/2 only" \
    sh -c "grep -q 'path: /spec/data/1/remoteRef/property' '$T/mix.out' && grep -q 'path: /spec/data/2/remoteRef/property' '$T/mix.out' && ! grep -A4 'name: partial' '$T/mix.out' | grep -q '/spec/data/0/'"
check "mixed: no entry for complete, from-only, axb or the ConfigMap" \
    sh -c "! grep -Eq 'name: (complete|from-only|axb|cm)\$' '$T/mix.out'"
check "mixed: a dotted name is quoted as a regex (a\\.b)" grep -q 'name: "a\\\\.b"' "$T/mix.out"
check "mixed: ClusterExternalSecret patched under /spec/externalSecretSpec" \
    grep -q 'path: /spec/externalSecretSpec/data/0/remoteRef/property' "$T/mix.out"
check "mixed: dataFrom extract and find reported with FILE:LINE" \
    sh -c "grep -q 'mixed.yaml:56: ExternalSecret ns1/from-only: dataFrom\\[0\\] (extract) left alone' '$T/mix.err' && grep -q 'mixed.yaml:58: ExternalSecret ns1/from-only: dataFrom\\[1\\] (find) left alone' '$T/mix.err'"
check "mixed: summary counts" grep -q '^6 ExternalSecrets, 3 patch entries adding 4 properties; 3 data entries already had one; 1 other document left alone' "$T/mix.err"

cat > "$T/es.json" <<'J'
{"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
 "metadata": {"name": "from-json", "namespace": "j"},
 "spec": {"data": [{"secretKey": "k", "remoteRef": {"key": "vllm-api-key"}}]}}
J
expect_exit 0 "JSON input" to "$T/json.out" /dev/null "$SEEDSEC" patch "$T/es.json"
check "JSON input: patched" grep -q 'name: from-json' "$T/json.out"

cat > "$T/list.yaml" <<'Y'
apiVersion: v1
kind: List
items:
  - apiVersion: external-secrets.io/v1
    kind: ExternalSecret
    metadata: {name: l1, namespace: n}
    spec: {data: [{secretKey: k, remoteRef: {key: x}}]}
  - apiVersion: external-secrets.io/v1
    kind: ExternalSecret
    metadata: {name: l2, namespace: n}
    spec: {data: [{secretKey: k, remoteRef: {key: y}}]}
Y
expect_exit 0 "a v1 List (kubectl get -o yaml)" to "$T/list.out" /dev/null "$SEEDSEC" patch "$T/list.yaml"
check "a v1 List: one entry per item" test "$(grep -c '^  - target:$' "$T/list.out")" = 2

printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n' > "$T/cm.yaml"
expect_exit 0 "no ExternalSecret" to "$T/none.out" "$T/none.err" "$SEEDSEC" patch "$T/cm.yaml"
check "no ExternalSecret: patches: [] and a warning" \
    sh -c "grep -qx 'patches: \\[\\]' '$T/none.out' && grep -q 'no ExternalSecret' '$T/none.err'"
mkkz "$T/none" "$T/cm.yaml"
check "no ExternalSecret: kustomize accepts the empty block" patched_ok "$T/none" value 0 patch "$T/cm.yaml"

expect_exit 0 "patch -o FILE" "$SEEDSEC" -q patch -o "$T/o.yaml" "$ES"
check "patch -o: same bytes as stdout, mode 0600" \
    sh -c "cmp -s '$T/o.yaml' '$T/dir.out' && test \$(stat -c %a '$T/o.yaml') = 600"
expect_exit 2 "patch -o refuses an existing file" "$SEEDSEC" -q patch -o "$T/o.yaml" "$ES" 2> /dev/null

mkdir -p "$T/nl"
cp "$ES/serving_kserve_externalsecret.yaml" "$T/nl/$(printf 'a\nb').yaml"
check "a line break in a file name does not break the block" \
    sh -c "'$SEEDSEC' -q patch '$T/nl' | $PY -c 'import sys, yaml; assert len(yaml.safe_load(sys.stdin)[\"patches\"]) == 1'"

# ---- patch DIR next to files it cannot read ------------------------------
# a directory of manifests also holds a ConfigMap with !!binary, a values file with
# anchors and a merge key, a Helm template, a file that is no object: each skipped with one
# warning naming FILE:LINE, as long as it mentions no ExternalSecret; the block is the same
mkdir -p "$T/junk"
cp "$ES"/*.yaml "$T/junk/"
expect_exit 0 "junk dir, before: the copies alone" to "$T/junk0.out" "$T/junk0.err" "$SEEDSEC" patch "$T/junk"
cat > "$T/junk/00-configmap-binary.yaml" <<'Y'
apiVersion: v1
kind: ConfigMap
metadata:
  name: logo
  namespace: web
binaryData:
  logo.png: !!binary |
    iVBORw0KGgo=
Y
cat > "$T/junk/values.yaml" <<'Y'
defaults: &defaults
  replicas: 1
  image: registry.example/app:1.0
prod:
  <<: *defaults
  replicas: 3
Y
cat > "$T/junk/zz-helm-configmap.yml" <<'Y'
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
data:
  a: b
Y
printf -- '- one\n- two\n' > "$T/junk/list-of-strings.yaml"
expect_exit 0 "patch DIR skips files it cannot read that mention no ExternalSecret" \
    to "$T/junk.out" "$T/junk.err" "$SEEDSEC" patch "$T/junk"
check "patch DIR with unreadable neighbours: the same block, byte for byte" cmp -s "$T/junk0.out" "$T/junk.out"
check "skipped: !!binary, FILE:LINE" \
    grep -qE "^seedsec: warning: $T/junk/00-configmap-binary.yaml:7: tags are not supported; file skipped" "$T/junk.err"
check "skipped: anchors, FILE:LINE" \
    grep -qE "^seedsec: warning: $T/junk/values.yaml:1: anchors are not supported; file skipped" "$T/junk.err"
check "skipped: Helm template, FILE:LINE" \
    grep -qE "^seedsec: warning: $T/junk/zz-helm-configmap.yml:4: .*; file skipped" "$T/junk.err"
check "skipped: not an object, FILE:LINE" \
    grep -qE "^seedsec: warning: $T/junk/list-of-strings.yaml:1: not a Kubernetes object; file skipped" "$T/junk.err"
check "exactly one warning per skipped file" test "$(grep -c 'file skipped' "$T/junk.err")" = 4
check "the summary counts the ExternalSecrets and the skipped files" \
    grep -q '^15 ExternalSecrets, 15 patch entries adding 25 properties; .*; 4 files skipped$' "$T/junk.err"
ln -s "$T/nowhere.yaml" "$T/junk/dangling.yaml"
mkdir "$T/junk/adir.yaml"
expect_exit 0 "patch DIR with a dangling link and a directory named *.yaml: still exit 0" \
    to "$T/junk2.out" "$T/junk2.err" "$SEEDSEC" patch "$T/junk"
check "... each named in a warning, the block unchanged" \
    eval 'grep -q "warning: $T/junk/dangling.yaml: a dangling link or unreadable; skipped" "$T/junk2.err" && grep -q "warning: $T/junk/adir.yaml: a directory; skipped" "$T/junk2.err" && cmp -s "$T/junk0.out" "$T/junk2.out"'
rm -f "$T/junk/dangling.yaml"
rmdir "$T/junk/adir.yaml"
expect_exit 2 "the same file named on the command line is still an error" \
    to "$T/junk1.out" "$T/junk1.err" "$SEEDSEC" patch "$T/junk/values.yaml"
check "named file: FILE:LINE, nothing on stdout" \
    sh -c "test ! -s '$T/junk1.out' && grep -qF '$T/junk/values.yaml:1: anchors are not supported' '$T/junk1.err'"
cat > "$T/junk/helm-externalsecret.yaml" <<'Y'
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: {{ .Release.Name }}
spec:
  data: []
Y
expect_exit 2 "an unreadable file in DIR that mentions ExternalSecret is an error" \
    to "$T/junk2.out" "$T/junk2.err" "$SEEDSEC" patch "$T/junk"
check "it is named with FILE:LINE, nothing on stdout" \
    sh -c "test ! -s '$T/junk2.out' && grep -qF '$T/junk/helm-externalsecret.yaml:4: ' '$T/junk2.err'"
rm "$T/junk/helm-externalsecret.yaml"
printf '# not an ExternalSecret after all\n- a\n' > "$T/junk/es-list.yaml"
expect_exit 2 "a file in DIR that mentions ExternalSecret and holds no object is an error" \
    "$SEEDSEC" -q patch "$T/junk" 2> /dev/null > /dev/null

# ---- malformed input: FILE:LINE, exit 2, nothing on stdout ---------------

# bad NAME LINE MESSAGE: $T/bad/NAME.yaml (from stdin) must fail at LINE
mkdir -p "$T/bad"
bad() {
    local name=$1 line=$2 msg=$3 f="$T/bad/$1.yaml"
    cat > "$f"
    expect_exit 2 "$name" to "$T/bad.out" "$T/bad.err" "$SEEDSEC" patch "$f"
    check "$name: '$f:$line: ...$msg', nothing on stdout" \
        sh -c "test ! -s '$T/bad.out' && grep -qF '$f:$line: ' '$T/bad.err' && grep -qF '$msg' '$T/bad.err'"
}
HEAD='apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: broken
  namespace: ns'
bad indentation 9 "bad indentation" <<Y
$HEAD
spec:
  data:
    - secretKey: a
     remoteRef: {key: k}
Y
bad unterminated-quote 8 "unterminated quoted string" <<Y
$HEAD
spec:
  data:
    - secretKey: "a
Y
bad tab 7 "tab in indentation" <<Y
$HEAD
spec:
	data: []
Y
bad data-not-list 7 "ExternalSecret ns/broken: spec.data is not a list" <<Y
$HEAD
spec:
  data:
    secretKey: a
Y
bad no-remoteref 9 "data[1] has no remoteRef" <<Y
$HEAD
spec:
  data:
    - {secretKey: a, remoteRef: {key: k}}
    - secretKey: b
      key: k
Y
bad property-map 11 "remoteRef.property is not a string" <<Y
$HEAD
spec:
  data:
    - secretKey: a
      remoteRef:
        key: k
        property: {x: y}
Y
bad no-name 3 "ExternalSecret without metadata.name" <<'Y'
---
# comment
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {namespace: ns}
spec: {data: []}
Y
bad no-spec 1 "ExternalSecret ns/x has no spec mapping" <<'Y'
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {namespace: ns, name: x}
Y
bad second-doc 9 "not a Kubernetes object" <<'Y'
apiVersion: v1
kind: ConfigMap
metadata: {name: fine}
---
# a sequence is not an object


---
- a
Y
cp "$ES/serving_kserve_externalsecret.yaml" "$T/bad/dup.yaml"
expect_exit 2 "the same ExternalSecret twice" to "$T/bad.out" "$T/bad.err" \
    "$SEEDSEC" patch "$ES/serving_kserve_externalsecret.yaml" "$T/bad/dup.yaml"
check "the same ExternalSecret twice: both places named" \
    sh -c "test ! -s '$T/bad.out' && grep -qF '$T/bad/dup.yaml:5: ExternalSecret kserve/hf-token is also defined at $ES/serving_kserve_externalsecret.yaml:5' '$T/bad.err'"
expect_exit 2 "a missing file" "$SEEDSEC" patch "$T/nope.yaml" 2> /dev/null
mkdir -p "$T/empty"
touch "$T/empty/notes.txt"
expect_exit 2 "a directory without *.yaml/*.yml" "$SEEDSEC" patch "$T/empty" 2> /dev/null
expect_exit 2 "no DIR or FILE" "$SEEDSEC" patch 2> /dev/null
expect_exit 2 "--format json does not apply" "$SEEDSEC" patch --format json "$ES" 2> /dev/null
expect_exit 2 "a bad --property" "$SEEDSEC" patch --property 'a b' "$ES" 2> /dev/null

finish
