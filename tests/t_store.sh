#!/usr/bin/env bash
# seedsec store: Namespace, ServiceAccount, Role, RoleBinding and the ESO
# Kubernetes-provider ClusterSecretStore; fields checked with PyYAML, the
# stream checked with kubectl kustomize.
. "$(dirname "$0")/lib.sh"
CHK="$PY $TESTS/patch_check.py"
KUBECTL=${KUBECTL:-/usr/bin/kubectl}
to() { local o=$1 e=$2; shift 2; "$@" > "$o" 2> "$e"; }   # to OUT ERR CMD...

kustomize_ok() {   # FILE: a kustomization over FILE builds, same objects out
    local d="$T/kz.$RANDOM"
    mkdir -p "$d"
    cp "$1" "$d/store.yaml"
    printf 'resources:\n  - store.yaml\n' > "$d/kustomization.yaml"
    "$KUBECTL" kustomize "$d" > "$d/out.yaml" 2> "$d/err" || { cat "$d/err"; return 1; }
    $PY - "$1" "$d/out.yaml" <<'PY'
import sys, yaml
key = lambda d: (d["kind"], d["metadata"]["name"])
a = sorted((d for d in yaml.safe_load_all(open(sys.argv[1])) if d), key=key)
b = sorted((d for d in yaml.safe_load_all(open(sys.argv[2])) if d), key=key)
sys.exit(0 if a == b and len(a) == 5 else "kustomize output differs")
PY
}

# defaults
expect_exit 0 "store runs" to "$T/store.yaml" "$T/store.err" "$SEEDSEC" store
check "store: no stderr" test ! -s "$T/store.err"
check "store: every document starts with ---" \
    test "$(grep -c '^---$' "$T/store.yaml")" = 5
check "store: the five objects and their fields (defaults)" \
    $CHK store "$T/store.yaml" secret-store eso-reader external-secrets secret-source
check "store: kubectl kustomize accepts it" kustomize_ok "$T/store.yaml"

# names from options (before and after the command)
expect_exit 0 "store with names" to "$T/named.yaml" /dev/null "$SEEDSEC" --store-name k8s-src \
    store --sa-name reader --sa-namespace eso -n src-ns
check "store: --store-name/--sa-name/--sa-namespace/--namespace" \
    $CHK store "$T/named.yaml" k8s-src reader eso src-ns
check "store: kubectl kustomize accepts the named form" kustomize_ok "$T/named.yaml"

# formats
expect_exit 0 "store --format json" to "$T/store.json" /dev/null "$SEEDSEC" store --format json
check "store --format json: same objects" \
    $CHK store "$T/store.json" secret-store eso-reader external-secrets secret-source
expect_exit 0 "store --format list" to "$T/list.yaml" /dev/null "$SEEDSEC" store --format list
check "store --format list: a v1 List of the same objects" \
    $CHK store "$T/list.yaml" secret-store eso-reader external-secrets secret-source

# -o and --split
expect_exit 0 "store -o FILE" "$SEEDSEC" store -o "$T/out.yaml"
check "store -o: same bytes as stdout" cmp -s "$T/out.yaml" "$T/store.yaml"
check "store -o: mode 0600" test "$(stat -c %a "$T/out.yaml")" = 600
expect_exit 2 "store -o refuses an existing file" "$SEEDSEC" -q store -o "$T/out.yaml" 2>/dev/null
expect_exit 0 "store --split DIR" "$SEEDSEC" store --split "$T/split"
check "store --split: one file per object" test "$(ls "$T/split" | tr '\n' ' ')" = \
    "clustersecretstore-secret-store.yaml namespace-secret-source.yaml role-eso-reader.yaml rolebinding-eso-reader.yaml serviceaccount-eso-reader.yaml "
check "store --split: the files hold the same objects" \
    sh -c "cd '$T/split' && cat namespace-*.yaml serviceaccount-*.yaml role-*.yaml rolebinding-*.yaml clustersecretstore-*.yaml | cmp -s - '$T/store.yaml'"

# bad names and arguments: exit 2, nothing on stdout
for bad in "--store-name Bad_Name" "--sa-name -x" "--sa-namespace ext.secrets" "--namespace UPPER" \
           "--store-name a..b"; do
    # shellcheck disable=SC2086
    expect_exit 2 "store $bad" to "$T/bad.out" "$T/bad.err" "$SEEDSEC" store $bad
    check "store $bad: nothing on stdout, a message" sh -c "test ! -s '$T/bad.out' && test -s '$T/bad.err'"
done
expect_exit 2 "store with an argument" "$SEEDSEC" store extra 2>/dev/null
expect_exit 2 "store --json (no report; --format json is the JSON form)" "$SEEDSEC" store --json 2>/dev/null
check "store: dotted names are fine" sh -c "'$SEEDSEC' store --store-name a.b --sa-name c.d | grep -q 'name: a.b'"

finish
