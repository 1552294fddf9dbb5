# Config reader, gates, plan (issue 2): the real config, its variants, broken files.
. "$(dirname "$0")/lib.sh"
cd "$T"

plan_json() { "$SEEDSEC" "$@" plan --json; }
# gate/needed facts from plan --json, read with python's json
facts() {
    $PY -c '
import json, sys
r = json.load(sys.stdin)
need = sorted(k["name"] for k in r["keys"] if k["needed"])
print(r["backend"], r["project"], len(need), ",".join(g for g, on in sorted(r["gates"].items()) if on))
'
}

# the real config: 5 always + n8n + 9 identity + cloudflare (C13: provider on the next line)
got=$(plan_json -c "$CONFIG" | facts)
check "real config: backend, project, 16 needed, gates dns+identity+n8n" \
    [ "$got" = "gcpsm ai-lab 16 dns,identity,n8n" ]
why=$(plan_json -c "$CONFIG" | $PY -c 'import json,sys; print([k["why"] for k in json.load(sys.stdin)["keys"] if k["name"]=="cloudflare-api-token"][0])')
case $why in *"dns.provider: cloudflare"*) pass "C13: cloudflare gate on from a provider on the next line";;
    *) fail "C13: cloudflare-api-token why='$why'";; esac

# every variant in the platform's repo
for f in "$PLATFORM"/config-variants/*.yaml; do
    b=$(basename "$f")
    got=$(plan_json -c "$f" | facts)
    case $b in
    backend-other.config.yaml) want="vault ai-lab 5 " ;;
    *) want="gcpsm ai-lab 5 " ;;
    esac
    check "variant $b: $want" [ "$got" = "$want" ]
done
out=$("$SEEDSEC" -c "$PLATFORM/config-variants/backend-other.config.yaml" plan)
case $out in *"https://external-secrets.io/latest/provider/"*) pass "vault: plan prints the ESO provider docs link";;
    *) fail "vault: no docs link";; esac
n=$(printf '%s\n' "$out" | sed -n '/per the ESO provider docs/,$p' | grep -cE '^  (litellm|vllm)-')
check "vault: plan lists the needed keys after the link" [ "$n" = 5 ]

# CFG, ENV and the default path; -c wins
mkdir -p environments/ai-dev environments/prod
printf 'features:\n  n8n: true\n' > environments/ai-dev/config.yaml
printf 'features:\n  egress: true\n' > environments/prod/config.yaml
check "default environments/ai-dev/config.yaml" [ "$(plan_json | facts)" = "gcpsm None 6 n8n" ]
check "ENV=prod" [ "$(ENV=prod plan_json | facts)" = "gcpsm None 6 egress" ]
check "CFG overrides ENV" [ "$(CFG=$CONFIG ENV=prod plan_json | facts)" = "gcpsm ai-lab 16 dns,identity,n8n" ]
check "-c overrides CFG" [ "$(CFG=$CONFIG plan_json -c environments/prod/config.yaml | facts)" = "gcpsm None 6 egress" ]
rm -rf environments
check "no config: built-in defaults" [ "$(plan_json | facts)" = "gcpsm None 5 " ]
expect_exit 2 "-c missing file" "$SEEDSEC" -c nope.yaml plan

# overrides
check "--all" [ "$(plan_json --all | facts)" = "gcpsm None 18 dns,egress,hf,identity,n8n" ]
check "--enable hf --enable egress" [ "$(plan_json --enable hf,egress | facts)" = "gcpsm None 7 egress,hf" ]
check "--disable after config" [ "$(plan_json -c "$CONFIG" --disable identity,dns | facts)" = "gcpsm ai-lab 6 n8n" ]
check "options after the command" [ "$("$SEEDSEC" plan --json -c "$CONFIG" --disable n8n | facts)" = "gcpsm ai-lab 15 dns,identity" ]
check "HF_TOKEN set turns hf on" [ "$(HF_TOKEN=hf_x plan_json | facts)" = "gcpsm None 6 hf" ]
expect_exit 2 "--enable unknown gate" "$SEEDSEC" plan --enable nosuch

# syntax the real file uses, written small
cat > flow.yaml <<'Y'
# comment
cluster: { projectID: "my-proj", name: 'x' }   # flow mapping
dns:
  automate: true
  provider:
    cloudflare # continued on the next line
    #   a comment below it
  proxied: false
features: {identity: false, n8n: true}
secret_backend: "gcpsm"
Y
check "flow mappings, quoted scalars, continued plain scalar" [ "$(plan_json -c flow.yaml | facts)" = "gcpsm my-proj 7 dns,n8n" ]
printf 'dns:\n  automate: true\n  provider: google\n' > google.yaml
check "dns.provider google: no cloudflare token" [ "$(plan_json -c google.yaml | facts)" = "gcpsm None 5 " ]
printf 'dns:\n  automate: false\n  provider: cloudflare\n' > noauto.yaml
check "dns.automate false: no cloudflare token" [ "$(plan_json -c noauto.yaml | facts)" = "gcpsm None 5 " ]

# broken files: FILE:LINE, exit 2, nothing else printed on stdout
bad() {  # name line-number content
    local name=$1 line=$2
    printf '%b' "$3" > "$name.yaml"
    local out err rc
    out=$("$SEEDSEC" -c "$name.yaml" plan 2>err.txt); rc=$?
    err=$(cat err.txt)
    if [ $rc = 2 ] && [ -z "$out" ] && [[ $err == *"$name.yaml:$line:"* ]] && [ "$(wc -l < err.txt)" = 1 ]; then
        pass "malformed ($name): one line naming $name.yaml:$line, exit 2"
    else
        fail "malformed ($name): rc=$rc err=$err"
    fi
}
bad badindent 3 'features:\n  n8n: true\n   identity: true\n'
bad tab 2 'features:\n\tn8n: true\n'
bad unterminated 2 'cluster:\n  projectID: "ai-lab\n  name: x\n'
bad notbool 2 'features:\n  n8n: yes\n'
bad anchor 1 'features: &f\n  n8n: true\n'
bad dupkey 3 'features:\n  n8n: true\n  n8n: false\n'
bad flowopen 1 'cluster: { projectID: ai-lab\n'
bad featlist 2 'features:\n  - n8n\n'
bad twomaps 1 'a: b: c\n'
bad emptybackend 2 'cluster: {}\nsecret_backend: ""\n'
printf 'features:\n  n8n: true\n---\nfeatures: {}\n' > twodocs.yaml
expect_exit 2 "two documents in a config" "$SEEDSEC" -c twodocs.yaml plan
printf '\xef\xbb\xbffeatures:\r\n  n8n: true\r\n' > crlf.yaml
check "BOM and CRLF line ends read" [ "$(plan_json -c crlf.yaml | facts)" = "gcpsm None 6 n8n" ]
finish
