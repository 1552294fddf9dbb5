# render (issues 2 and 3): real values checked by an independent reader.
. "$(dirname "$0")/lib.sh"
cd "$T"
V="$PY $TESTS/values.py"

# --- the real config, with and without the Cloudflare token
CLOUDFLARE_API_TOKEN=cfut_0123456789abcdef "$SEEDSEC" -c "$CONFIG" render > full.yaml 2> full.err
check "real config + token: exit 0" [ $? = 0 ]
check "16 Secrets, each value passes its consumer's rule (python, bcrypt)" $V rules full.yaml --expect 16
check "every document starts with ---" [ "$(grep -c '^---$' full.yaml)" = 16 ]
check "cloudflare token stored as given" [ "$($V get full.yaml cloudflare-api-token)" = cfut_0123456789abcdef ]
check "no value on stderr" no_values_in full.err full.yaml
check "CREATED lines for all 16" [ "$(grep -c '^CREATED ' full.err)" = 16 ]
$PY - full.yaml <<'P' && pass "Secret layout: v1 Opaque, namespace, label, data.value only" || fail "Secret layout"
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    assert d["apiVersion"] == "v1" and d["kind"] == "Secret" and d["type"] == "Opaque"
    assert d["metadata"]["namespace"] == "secret-source"
    assert d["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "seedsec"}
    assert list(d["data"]) == ["value"]
P
rm -rf secrets
"$SEEDSEC" -c "$CONFIG" render > part.yaml 2> part.err
check "without the token: exit 1" [ $? = 1 ]
check "without the token: the other 15" $V rules part.yaml --expect 15
check "MISSING line says how to provide it" grep -q '^MISSING cloudflare-api-token (set CLOUDFLARE_API_TOKEN or pass --value cloudflare-api-token=@FILE)$' part.err
check "no value on stderr (partial)" no_values_in part.err part.yaml

# --- C12: database passwords, many draws
rm -rf secrets
for i in 1 2 3 4 5 6 7 8; do "$SEEDSEC" --disable identity render 2>/dev/null; done > many.yaml
$PY - many.yaml <<'P' && pass "C12: 8 runs of db passwords: [A-Za-z0-9]{32}" || fail "C12"
import sys, yaml, base64, re
n = 0
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d["metadata"]["name"] in ("litellm-db-password", "litellm-grafana-ro-password"):
        assert re.fullmatch(rb"[A-Za-z0-9]{32}", base64.b64decode(d["data"]["value"])); n += 1
assert n == 16, n
P

# --- static binary, empty environment, empty directory
if [ -z "${SEEDSEC_SANITIZED:-}" ]; then
    case $(file -b "$SEEDSEC") in *"statically linked"*|*"static-pie linked"*) pass "binary is statically linked";;
        *) fail "binary is not static: $(file -b "$SEEDSEC")";; esac
fi
mkdir empty && (cd empty && env -i "$SEEDSEC" render > out.yaml 2> err.txt)
check "env -i in an empty dir: exit 0" [ $? = 0 ]
check "env -i: the 5 always-keys from built-in defaults" $V rules empty/out.yaml --expect 5

# --- --all, round trip through --existing (C11), every output form
rm -rf secrets
HF_TOKEN=hf_abcdefghijklmnopqrstuvwxyzABCDEFGH ANTHROPIC_API_KEY=sk-ant-api03-xyz CLOUDFLARE_API_TOKEN=cfut_tok \
    "$SEEDSEC" --all render -o all.yaml 2> all.err
check "--all: exit 0" [ $? = 0 ]
check "--all: 18 Secrets pass their rules" $V rules all.yaml --expect 18
check "-o file is mode 0600" [ "$(stat -c %a all.yaml)" = 600 ]
check "no temp files left beside -o" [ -z "$(ls | grep '\.tmp-')" ]
check "mirror dir 0700" [ "$(stat -c %a secrets)" = 700 ]
check "mirror file 0600" [ "$(stat -c %a secrets/dex-admin-password)" = 600 ]
check "mirror equals the rendered password" [ "$(cat secrets/dex-admin-password)" = "$($V get all.yaml dex-admin-password)" ]
"$SEEDSEC" --all render --existing all.yaml > again.yaml 2> again.err
check "C11: render --existing keeps all 18 values byte for byte" $V same all.yaml again.yaml
check "C11: EXISTS for all 18, nothing CREATED" [ "$(grep -c '^EXISTS ' again.err)" = 18 -a "$(grep -c '^CREATED' again.err)" = 0 ]
check "C11: salt and n8n keys identical" [ "$($V get all.yaml litellm-salt-key)$($V get all.yaml n8n-encryption-key)" = "$($V get again.yaml litellm-salt-key)$($V get again.yaml n8n-encryption-key)" ]
"$SEEDSEC" --all render --existing all.yaml --format json > all.json 2>/dev/null
"$SEEDSEC" --all render --existing all.yaml --format list > all.list 2>/dev/null
check "json form: concatenated objects, same values" $V same all.yaml all.json
check "list form: a v1 List, same values" $V same all.yaml all.list
$PY -c 'import yaml,sys; d=yaml.safe_load(open(sys.argv[1])); assert d["kind"]=="List" and len(d["items"])==18' all.list \
    && pass "list form is one List of 18" || fail "list form"
"$SEEDSEC" --all render --existing all.json > fromjson.yaml 2>/dev/null
check "--existing reads the json stream" $V same all.yaml fromjson.yaml
"$SEEDSEC" --all render --existing all.list > fromlist.yaml 2>/dev/null
check "--existing reads a List" $V same all.yaml fromlist.yaml
"$SEEDSEC" --all render --existing - < all.yaml > fromstdin.yaml 2>/dev/null
check "--existing - reads stdin" $V same all.yaml fromstdin.yaml

# kubectl's own decoder reads every form (no cluster needed with --local)
for f in all.yaml all.json all.list; do
    n=$(kubectl label --local -f "$f" check=1 -o name 2>/dev/null | grep -c '^secret/')
    check "kubectl decodes $f: 18 Secrets" [ "$n" = 18 ]
done

# --- -o never overwrites; replacing the --existing file itself is allowed
cp all.yaml keep.yaml
expect_exit 2 "-o onto an existing file is refused" "$SEEDSEC" --all render -o keep.yaml
check "the refused file is untouched" cmp -s all.yaml keep.yaml
"$SEEDSEC" --all render --existing keep.yaml -o keep.yaml 2>/dev/null
check "-o onto the --existing file: values kept" $V same all.yaml keep.yaml
"$SEEDSEC" -c "$CONFIG" render --existing part.yaml -o part.yaml --enable egress 2> add.err
check "adding a gate to a kept file: EXISTS 15, MISSING 2 (tokens)" [ "$(grep -c '^EXISTS' add.err) $(grep -c '^MISSING' add.err)" = "15 2" ]

# --- comments in the --existing file are lost by an in-place rewrite: said once, naming the file
"$SEEDSEC" render -o cm.yaml 2>/dev/null
{ echo '# kept in git; see README'; sed 's/^kind: Secret$/kind: Secret  # one per key/' cm.yaml; } > cm2.yaml
cp cm2.yaml cm.orig
"$SEEDSEC" --enable n8n render --existing cm2.yaml -o cm2.yaml 2> cm.err
rc=$?
check "rewriting a commented --existing file: exit 0, one warning naming it" \
    eval '[ $rc = 0 ] && [ "$(grep -c warning cm.err)" = 1 ] && grep -qx "seedsec: warning: cm2.yaml: comments are not kept when cm2.yaml is rewritten" cm.err'
check "  ... the values kept, n8n added" eval '[ "$($V dump cm2.yaml | wc -l)" = 6 ] && [ "$($V get cm2.yaml litellm-salt-key)" = "$($V get cm.orig litellm-salt-key)" ]'
"$SEEDSEC" --enable n8n render --existing cm.orig -o cm3.yaml 2> cm3.err
check "no warning when writing to another file" eval '! grep -q "comments are not kept" cm3.err'
"$SEEDSEC" render --existing cm.yaml -o cm.yaml 2> cm4.err
check "no warning for a file without comments (a '#' inside a value is no comment)" eval '! grep -q "comments are not kept" cm4.err'
printf 'apiVersion: v1\nkind: Secret\nmetadata: {name: vllm-api-key, namespace: secret-source}\nstringData: {value: "a#b"}\n' > hash.yaml
"$SEEDSEC" render --existing hash.yaml -o hash.yaml 2> cm5.err
check "  ... nor for a quoted value holding #" eval '! grep -q "comments are not kept" cm5.err'

# --- --existing LINK -o LINK: written through the link, to its target (a file kept in git)
mkdir -p repo/env && "$SEEDSEC" render -o repo/env/secrets.yaml 2>/dev/null
cp repo/env/secrets.yaml link.orig
ln -s repo/env/secrets.yaml link.yaml
"$SEEDSEC" --enable identity --state lstate render --existing link.yaml -o link.yaml 2> link.err
rc=$?
check "render --existing LINK -o LINK: exit 0, the link is still a link to the same target" \
    eval '[ $rc = 0 ] && [ -L link.yaml ] && [ "$(readlink link.yaml)" = repo/env/secrets.yaml ]'
check "  ... the target holds the new stream: the 5 values kept, the identity keys added" \
    eval '[ "$($V dump repo/env/secrets.yaml | wc -l)" = 14 ] && [ "$($V get repo/env/secrets.yaml litellm-salt-key)" = "$($V get link.orig litellm-salt-key)" ] && [ -n "$($V get repo/env/secrets.yaml dex-admin-hash)" ]'
check "  ... mode 0600, no temp file left beside the link or the target" \
    eval '[ "$(stat -c %a repo/env/secrets.yaml)" = 600 ] && [ -z "$(ls . repo/env | grep "\.tmp-")" ]'
"$SEEDSEC" --enable identity --state lstate reset-dex-admin --existing link.yaml -o link.yaml 2>/dev/null
rc=$?
check "reset-dex-admin --existing LINK -o LINK: exit 0, link kept, target rotated, the mirror matches it" \
    eval '[ $rc = 0 ] && [ -L link.yaml ] && [ "$($V get repo/env/secrets.yaml dex-admin-password)" = "$(cat lstate/dex-admin-password)" ]'
ln -s repo/env/secrets.yaml link2.yaml
expect_exit 2 "-o LINK to a file that is not --existing: still refused" "$SEEDSEC" render --existing link.orig -o link2.yaml 2>/dev/null
check "  ... the link and its target untouched" eval '[ -L link2.yaml ] && [ "$($V get repo/env/secrets.yaml dex-admin-password)" = "$(cat lstate/dex-admin-password)" ]'

# --- --split: one file per Secret, each parses alone (kubeseal < 0.24 reads one document)
"$SEEDSEC" --all render --existing all.yaml --split split 2>/dev/null
check "--split: 18 files" [ "$(ls split | wc -l)" = 18 ]
ok=1
for f in split/*.yaml; do
    n=$(basename "$f" .yaml)
    [ "$($V get "$f" "$n")" = "$($V get all.yaml "$n")" ] || ok=0
    [ "$(stat -c %a "$f")" = 600 ] || ok=0
done
check "--split: each file parses alone, 0600, same value" [ $ok = 1 ]
"$SEEDSEC" -c "$CONFIG" --disable dns render --split sp2 > /dev/null 2>&1
before=$(cd sp2 && md5sum *)
"$SEEDSEC" -c "$CONFIG" render --existing sp2 --split sp2 > /dev/null 2> sp2.err
check "--split re-run with --existing DIR: old files byte-identical, token MISSING (exit 1)" \
    [ $? = 1 ] && [ "$(ls sp2 | wc -l)" = 15 ] && [ "$(cd sp2 && md5sum $(echo "$before" | awk '{print $2}'))" = "$before" ]
CLOUDFLARE_API_TOKEN=cfut_x "$SEEDSEC" -c "$CONFIG" render --existing sp2 --split sp2 > /dev/null 2>&1
check "... and with the token: 16 files" [ "$(ls sp2 | wc -l)" = 16 ]
cp -r sp2 sp2-link && ln -s nowhere.yaml sp2-link/zz-dangling.yaml
before=$(cd sp2-link && md5sum *.yaml 2>/dev/null)
CLOUDFLARE_API_TOKEN=cfut_x "$SEEDSEC" -c "$CONFIG" render --existing sp2-link --split sp2-link > /dev/null 2> link.err
lrc=$?
check "--existing DIR with a dangling link: exit 2, named, nothing written (no value made anew)" \
    eval '[ $lrc = 2 ] && grep -q "zz-dangling.yaml: a dangling link or unreadable; nothing written" link.err && [ "$(cd sp2-link && md5sum *.yaml 2>/dev/null)" = "$before" ]'
printf 'changed' > sp2/vllm-api-key.yaml.new && mv sp2/vllm-api-key.yaml.new sp2/vllm-api-key.yaml 2>/dev/null
"$SEEDSEC" --all render --existing all.yaml --split sp2 > /dev/null 2>&1
check "--split onto a file with other content is refused" [ $? = 2 ]
expect_exit 2 "--split with --format list is refused" "$SEEDSEC" render --split sp3 --format list

# --- --namespace / --property
"$SEEDSEC" render --namespace vault-src --property token > np.yaml 2>/dev/null
$PY -c 'import yaml,sys; ds=list(yaml.safe_load_all(open(sys.argv[1]))); assert all(d["metadata"]["namespace"]=="vault-src" and list(d["data"])==["token"] for d in ds)' np.yaml \
    && pass "--namespace and --property" || fail "--namespace and --property"
expect_exit 2 "bad --namespace" "$SEEDSEC" render --namespace Bad_NS
expect_exit 2 "bad --property" "$SEEDSEC" render --property 'a b'

# --- render's --json report needs a file for the manifests
"$SEEDSEC" --all render --existing all.yaml -o rep.yaml --json > rep.json 2>/dev/null
$PY -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["exit"]==0 and sum(k["status"]=="EXISTS" for k in r["keys"])==18' rep.json \
    && pass "--json report on stdout" || fail "--json report"
expect_exit 2 "--json render to stdout is refused" "$SEEDSEC" render --json
finish
