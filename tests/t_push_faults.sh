#!/usr/bin/env bash
# seedsec push when things go wrong: retries (429, 503, resets, timeouts), an ambiguous
# addVersion, 401/403, HTML, chunked/closed/truncated replies, a proxy, certificates for
# another host or from an untrusted CA.
. "$(dirname "$0")/lib.sh"
. "$TESTS/gsm_env.sh"
add_cleanup gsm_stop
gsm_start || { echo "RESULT 0 1"; exit 1; }
cd "$T"
run() {
    local name=$1
    shift
    "$SEEDSEC" --state "$T/state" "$@" >"$T/$name.out" 2>"$T/$name.err"
    rc=$?
}
lines() { grep -E '^(CREATED|EXISTS|REPAIRED|MISSING|MISMATCH|FAILED|ROTATED|WOULD-[A-Z]+) ' "$T/$1.err"; }
same() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: got [$3], want [$2]"; fi; }
q() { gsm_query "$1"; }
reset_fake() { gsm_ctl POST reset '{}' >/dev/null; }
jq_() { $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$T/$1.out" "$2"; }
FIVE="-c $CONFIG --disable identity,n8n,dns"
CREATED5="CREATED litellm-master-key
CREATED litellm-salt-key
CREATED vllm-api-key
CREATED litellm-db-password
CREATED litellm-grafana-ro-password"
one_version_each='sum(1 for x in s["secrets"] if [v["state"] for v in x["versions"]] == ["ENABLED"])'

# 429, then 503, then success: retried and done
reset_fake
gsm_faults '[{"index":1,"status":429,"headers":{"Retry-After":"0"}},{"index":2,"status":503}]'
run r1 $FIVE push --json
same "429 then 503 then success: exit 0, all created" "0
$CREATED5" "$rc
$(lines r1)"
same "429 then 503: two retries, the same request answered the third time (404: absent)" "2 [429, 503, 404]" \
    "$(jq_ r1 'd["retries"]') $(q '[e["status"] for e in log()][:3]')"

# 5xx that never ends: gives up with a message, exit 2
reset_fake
gsm_faults '[{"method":"GET","status":503,"times":-1}]'
run r2 $FIVE push
same "503 forever: exit 2 after 6 attempts" "2 6" "$rc $(q 'len(log())')"
check "503 forever: FAILED line and 'try again later'" grep -q "^FAILED litellm-master-key (GET .*HTTP 503" "$T/r2.err"
check "503 forever: final message says what to do" grep -q "6 times; try again later$" "$T/r2.err"

# 400 is not retried
reset_fake
gsm_faults '[{"index":1,"status":400,"message":"Bad thing.","error_status":"INVALID_ARGUMENT"}]'
run r3 $FIVE push
same "400: exit 2, not retried (one request)" "2 1" "$rc $(q 'len(log())')"

# 403: denied or missing, exit 2
reset_fake
gsm_ctl POST config '{"deny_permissions": {"ai-lab": ["*"]}}' >/dev/null
run r4 $FIVE push --json
same "403: exit 2, one request" "2 1" "$rc $(q 'len(log())')"
gsm_ctl POST reset '{"config": true}' >/dev/null
check "403: the message says denied or missing" grep -q "permission denied, or the secret is missing" "$T/r4.err"
same "403: --json report still written, key FAILED" "FAILED 2" "$(jq_ r4 'd["keys"][0]["status"]') $(jq_ r4 'd["exit"]')"

# an addVersion the server performed but whose reply was lost: no second version
reset_fake
gsm_faults '[{"method":"POST","path":"litellm-salt-key:addVersion$","action":"reset_after"}]'
run r5 $FIVE push
same "addVersion reset after success: exit 0, all created" "0
$CREATED5" "$rc
$(lines r5)"
same "addVersion reset after success: still exactly one version (listed and compared, not re-added)" \
    '[[1, "ENABLED"]] 1' "$(q 'versions("litellm-salt-key")') $(q 'sum(1 for e in log() if e["path"].endswith("litellm-salt-key:addVersion"))')"
# ... and one that was dropped before it ran: added once more
reset_fake
gsm_faults '[{"method":"POST","path":"vllm-api-key:addVersion$","action":"reset_before"}]'
run r6 $FIVE push --json
same "addVersion reset before: exit 0, one version, two attempts" '0 [[1, "ENABLED"]] 2' \
    "$rc $(q 'versions("vllm-api-key")') $(q 'sum(1 for e in log() if e["path"].endswith("vllm-api-key:addVersion"))')"
# that reset hit a kept-alive connection before a byte came back: the versions are listed
# (nothing landed), then the POST goes again on a new connection at once, not as a retry
same "addVersion reset before on a kept-alive connection: listed, resent, 0 retries, 2 connections" \
    "0 2 GET" "$(jq_ r6 'd["retries"]') $(jq_ r6 'd["connections"]') $(q '[e["method"] for e in log() if "vllm-api-key" in e["path"]][-2]')"
# twice in a row: the second is a real retry (with backoff)
reset_fake
gsm_faults '[{"method":"POST","path":"vllm-api-key:addVersion$","action":"reset_before","times":2}]'
run r6b $FIVE push --json
same "addVersion reset before, twice: exit 0, one version, 3 attempts, 1 retry" '0 [[1, "ENABLED"]] 3 1' \
    "$rc $(q 'versions("vllm-api-key")') $(q 'sum(1 for e in log() if e["path"].endswith("vllm-api-key:addVersion"))') $(jq_ r6b 'd["retries"]')"
# ... and a 503 on addVersion (ambiguous too)
reset_fake
gsm_faults '[{"method":"POST","path":"litellm-db-password:addVersion$","status":503}]'
run r7 $FIVE push
same "addVersion 503: exit 0, one version" '0 [[1, "ENABLED"]]' "$rc $(q 'versions("litellm-db-password")')"

# chunked replies, a server that closes, a truncated reply: keep-alive reconnects
reset_fake
gsm_ctl POST config '{"chunked": true}' >/dev/null
gsm_faults '[{"index":2,"action":"close_after"},{"index":5,"action":"truncate"}]'
run r8 $FIVE push --json
gsm_ctl POST config '{"chunked": false}' >/dev/null
same "chunked + close_after + truncate: exit 0, one version each" "0 5" "$rc $(q "$one_version_each")"
same "chunked + close_after + truncate: 3 connections, 1 retry (the truncated GET)" "3 1" \
    "$(jq_ r8 'd["connections"]') $(jq_ r8 'd["retries"]')"
same "one keep-alive connection otherwise" "1" "$(jq_ r1 'd["connections"]')"

# --timeout: a reply slower than the timeout is given up on and retried (the stall is long
# enough that a run which waited for it is told apart from one that did not, even on a loaded
# machine)
reset_fake
gsm_faults '[{"index":1,"action":"delay","seconds":12}]'
t0=$(date +%s.%N)
run r9 $FIVE --timeout 1 push --json
t1=$(date +%s.%N)
same "--timeout 1 with a 12 s stall: retried, exit 0" "0 1" "$rc $(jq_ r9 'd["retries"]')"
check "--timeout 1 with a 12 s stall: gave up on it (done in under 9 s)" $PY -c "import sys; sys.exit(0 if $t1 - $t0 < 9 else 1)"

# a wrong path answers HTML
reset_fake
run r10 $FIVE --endpoint "${FAKE_GSM_URL}wrong/" push
same "HTML 404 (wrong endpoint path): exit 2, nothing created" "2 0" "$rc $(q 'len(s["secrets"])')"
check "HTML 404: said so" grep -q "HTML page (wrong endpoint URL or path?)" "$T/r10.err"

# 401: a minted token revoked mid-run is refreshed once (service account)
reset_fake
gsm_make_sa_key "$T/sa.json"
gsm_faults '[{"index":3,"status":401}]'
(unset CLOUDSDK_AUTH_ACCESS_TOKEN_FILE; run r11 $FIVE --credentials "$T/sa.json" push; echo "$rc" >"$T/r11.rc")
same "401 once: new token from the service account, exit 0" "0 2" "$(cat "$T/r11.rc") $(q 'len(log("token"))')"
# a token file that keeps being refused
reset_fake
gsm_faults '[{"kind":"gsm","status":401,"times":-1}]'
run r12 $FIVE push
same "401 twice with a token file: exit 2 after one refresh" "2 2" "$rc $(q 'len(log())')"
check "401: says the token was refused" grep -q "was refused (expired or revoked?)" "$T/r12.err"
check "401: the token is not in the message" bash -c "! grep -qF -- '$FAKE_GSM_TOKEN' '$T/r12.err'"

# HTTPS_PROXY through CONNECT; NO_PROXY bypasses it
reset_fake
HTTPS_PROXY=$FAKE_GSM_PROXY run r13 $FIVE push
same "HTTPS_PROXY: exit 0 through one CONNECT tunnel" "0 1" "$rc $(q 'len([e for e in log("proxy") if e["status"] == 200])')"
reset_fake
HTTPS_PROXY=$FAKE_GSM_PROXY NO_PROXY=example.com,127.0.0.1 run r14 $FIVE push
same "NO_PROXY=...,127.0.0.1: direct" "0 0" "$rc $(q 'len(log("proxy"))')"

# certificates: another host, an untrusted CA
gsm_stop
gsm_start --cert-kind wronghost
run t1 $FIVE --ca-file "$FAKE_GSM_CA" push
same "certificate for another host: refused, exit 2, nothing created" "2 0" "$rc $(q 'len(s["secrets"])')"
check "another host: the message says so and names the CA source" \
    grep -q "does not verify: .*trusted CAs from --ca-file $FAKE_GSM_CA (1 certificate)); the certificate is for another host name" "$T/t1.err"
gsm_stop
gsm_start --cert-kind untrusted
run t2 $FIVE push
same "untrusted CA: refused, exit 2, nothing created" "2 0" "$rc $(q 'len(s["secrets"])')"
check "untrusted CA: the message names the CA source used" \
    grep -q "not correctly signed by the trusted CA (trusted CAs from CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE=$FAKE_GSM_CA" "$T/t2.err"
(unset CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE; SSL_CERT_FILE=$FAKE_GSM_UNTRUSTED_CA run t3 $FIVE push; echo "$rc" >"$T/t3.rc")
same "trusting only the server's own CA via SSL_CERT_FILE: accepted" "0" "$(cat "$T/t3.rc")"
(unset CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE; run t4 $FIVE push; echo "$rc" >"$T/t4.rc")
same "system CA bundle only: refused" "2" "$(cat "$T/t4.rc")"
check "system CA bundle: named in the message" grep -q "trusted CAs from /etc/ssl" "$T/t4.err"

finish
