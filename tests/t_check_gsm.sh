# check against GSM (issue 7): reads only; a clean push passes; stored problems are named.
. "$(dirname "$0")/lib.sh"
. "$TESTS/gsm_env.sh"
add_cleanup gsm_stop
gsm_start || { echo "RESULT 0 1"; exit 1; }
cd "$T"
G=(--endpoint "$FAKE_GSM_URL" --ca-file "$FAKE_GSM_CA" --token-file "$FAKE_GSM_TOKEN_FILE")
requests() { gsm_query 's["requests"]'; }
writes() { gsm_query 'sum(1 for e in s["log"] if e.get("method") == "POST")'; }

CLOUDFLARE_API_TOKEN=cfut_tok "$SEEDSEC" -c "$CONFIG" --state st push "${G[@]}" > /dev/null 2>&1
check "setup: push of the real config" [ $? = 0 ]
w0=$(writes)
"$SEEDSEC" -c "$CONFIG" check "${G[@]}" --json > clean.json 2> clean.err
check "a clean push passes check (exit 0)" [ $? = 0 ]
check "16 OK lines" [ "$(grep -c '^OK ' clean.err)" = 16 ]
check "check writes nothing to GSM" [ "$(writes)" = "$w0" ]
check "check writes no mirror" [ ! -e secrets ]
gsm_query 'print(1)' > /dev/null
for k in litellm-master-key dex-admin-password cloudflare-api-token; do
    v=$(gsm_value "$k")
    if grep -qF -- "$v" clean.err clean.json; then fail "value of $k leaked into check output"; else pass "no value of $k in check output"; fi
done

# a bad value added as a new version by gcloud: check names the key and the rule
printf 'sk-1234' | gcloud secrets versions add litellm-master-key --data-file=- --project ai-lab --quiet > /dev/null 2>&1
printf 'p@ss:word' | gcloud secrets versions add litellm-db-password --data-file=- --project ai-lab --quiet > /dev/null 2>&1
"$SEEDSEC" -c "$CONFIG" check "${G[@]}" > /dev/null 2> bad.err
check "stored rule breaks: exit 1" [ $? = 1 ]
check "sk-1234 named by rule" grep -q '^BAD litellm-master-key (is LiteLLM.s documented example key' bad.err
check "db password with @ : named by rule" grep -q '^BAD litellm-db-password (must be \[A-Za-z0-9\] only' bad.err

# latest version disabled; a secret with no version; a missing secret; a mismatched Dex hash
gcloud secrets versions disable 2 --secret litellm-master-key --project ai-lab --quiet > /dev/null 2>&1
gcloud secrets delete n8n-encryption-key --project ai-lab --quiet > /dev/null 2>&1
gsm_ctl POST preload '{"secrets":[{"id":"n8n-encryption-key","versions":[]}]}' > /dev/null
gcloud secrets delete vllm-api-key --project ai-lab --quiet > /dev/null 2>&1
other=$(printf 'other' | "$SEEDSEC" bcrypt -C 10)
printf '%s' "$other" | gcloud secrets versions add dex-admin-hash --data-file=- --project ai-lab --quiet > /dev/null 2>&1
"$SEEDSEC" -c "$CONFIG" check "${G[@]}" --json > st.json 2> st.err
check "problems: exit 1" [ $? = 1 ]
check "latest DISABLED named" grep -q '^BAD litellm-master-key (latest version 2 is DISABLED (seedsec push re-adds' st.err
check "missing secret named, with how" grep -q '^MISSING vllm-api-key (needed: always; seedsec render or push creates it)' st.err
check "secret with no version named" grep -q '^BAD n8n-encryption-key (the secret exists in ai-lab but has no version' st.err
check "Dex hash mismatch named" grep -q '^BAD dex-admin-hash (does not match dex-admin-password' st.err
$PY -c '
import json,sys
r=json.load(open(sys.argv[1]))
bad=sorted(k["name"] for k in r["keys"] if k["status"]!="OK")
assert r["problems"] is True, r
print(" ".join(bad))' st.json > bad.txt
check "--json lists exactly the broken keys" grep -qx 'dex-admin-hash litellm-db-password litellm-master-key n8n-encryption-key vllm-api-key' bad.txt
gsm_ctl POST config '{"deny_projects":["other-proj"]}' > /dev/null
"$SEEDSEC" -c "$CONFIG" check "${G[@]}" --project other-proj > /dev/null 2> deny.err
check "403: exit 2, says denied or missing" [ $? = 2 ] && grep -qi 'denied' deny.err && grep -qi 'missing\|not exist' deny.err
finish
