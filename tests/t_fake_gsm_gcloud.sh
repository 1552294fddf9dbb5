#!/usr/bin/env bash
# Keeps tests/fake_gsm.py honest: the real gcloud CLI (and google-auth inside it)
# must work against the fake exactly as against Google, and the fake's own
# behaviour (faults, control API, OAuth errors, TLS variants) is checked with
# curl and openssl. Ends with "N passed, 0 failed"; any failure prints
# "FAIL: what" and exits 1.
# shellcheck disable=SC2030,SC2031 # the auth flows run in subshells on purpose
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=tests/gsm_env.sh
. tests/gsm_env.sh

passed=0
pass() { passed=$((passed + 1)); }
fail() {
	echo "FAIL: $*" >&2
	if [ -n "${FAKE_GSM_LOG:-}" ] && [ -f "$FAKE_GSM_LOG" ]; then
		echo "--- last lines of the fake's log" >&2
		tail -n 15 "$FAKE_GSM_LOG" >&2
	fi
	exit 1
}
expect_eq() { # what got want
	[ "$2" = "$3" ] || fail "$1: got [$2], want [$3]"
	pass
}
expect_q() { # what PYTHON-EXPR over the fake's state (see gsm_query) that must be True
	local r
	r=$(gsm_query "$2") || fail "$1: state query failed"
	[ "$r" = True ] || fail "$1: ($2) is $r"
	pass
}
expect_file() { # what FILE BYTES-FILE
	cmp -s "$2" "$3" || fail "$1: bytes differ ($(od -An -c "$2" | head -c 120))"
	pass
}

command -v gcloud >/dev/null || fail "gcloud is not installed"
command -v curl >/dev/null || fail "curl is not installed"
trap gsm_stop EXIT
start=$(date +%s)

gsm_start
W=$FAKE_GSM_DIR/work
mkdir -p "$W"
GC_ERR=$W/gcloud.err
P=ai-lab
NUM=$FAKE_GSM_PROJECT_NUMBER

gc() { gcloud "$@" --quiet 2>"$GC_ERR"; }
gc_ok() { # what gcloud-args...  (stdout in $W/out)
	local what=$1
	shift
	gc "$@" >"$W/out" || fail "$what: gcloud failed: $(head -c 600 "$GC_ERR")"
	pass
}
gc_fails() { # what expected-text gcloud-args...
	local what=$1 text=$2
	shift 2
	if gc "$@" >"$W/out"; then fail "$what: gcloud succeeded"; fi
	grep -qF -- "$text" "$GC_ERR" || fail "$what: gcloud error lacks [$text]: $(head -c 600 "$GC_ERR")"
	pass
}
# curl against the fake over TLS; -w appends the status code on its own line
cu() { curl -sS --noproxy '*' --cacert "$FAKE_GSM_CA" "$@"; }
api() { # METHOD PATH [JSON]  -> body then status line, in $W/api; echo status
	local args=(-X "$1" -H "Authorization: Bearer $FAKE_GSM_TOKEN" -o "$W/api" -w '%{http_code}')
	[ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
	cu "${args[@]}" "${FAKE_GSM_URL}${2#/}"
}
jq_() { /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[2])); print(eval(sys.argv[1]))' "$1" "${2:-$W/api}"; }

# ---------------------------------------------------------------- gcloud: create, describe, add, access
printf 'first-value' >"$W/v1"
gc_ok "create s1 from stdin" secrets create s1 --data-file=- --project "$P" --labels=managed-by=seedsec <"$W/v1"
grep -qF 'Created version [1] of the secret [s1]' "$GC_ERR" || fail "create: no 'Created version [1]' line"
pass
expect_q "s1 has one ENABLED version" 'versions("s1") == [[1, "ENABLED"]]'
gsm_value s1 1 >"$W/got"
expect_file "stored bytes of s1 v1" "$W/got" "$W/v1"
expect_q "create body: automatic replication and the label" \
	'[e["body"] for e in log() if e["method"] == "POST" and e["path"].endswith("/secrets")] == [{"annotations": {}, "labels": {"managed-by": "seedsec"}, "replication": {"automatic": {}}}]'
expect_q "gcloud sent dataCrc32c and it matches the stored bytes" \
	'[e["payload"]["dataCrc32c"] for e in log() if e["path"].endswith(":addVersion")] == [sec("s1")["versions"][0]["dataCrc32c"]] and sec("s1")["versions"][0]["clientSpecifiedPayloadChecksum"]'

gc_ok "describe s1" secrets describe s1 --project "$P" --format=json
expect_eq "describe: name carries the project number" "$(jq_ 'd["name"]' "$W/out")" "projects/$NUM/secrets/s1"
expect_eq "describe: replication and labels" "$(jq_ '(d["replication"], d["labels"])' "$W/out")" "({'automatic': {}}, {'managed-by': 'seedsec'})"

printf 'second\n' >"$W/v2"
gc_ok "versions add (needs clientSpecifiedPayloadChecksum in the reply)" secrets versions add s1 --data-file=- --project "$P" <"$W/v2"
grep -qF 'Created version [2] of the secret [s1]' "$GC_ERR" || fail "versions add: no 'Created version [2]' line"
pass

gc_ok "access latest to a file" secrets versions access latest --secret s1 --project "$P" --out-file="$W/got"
expect_file "access latest: value with a trailing newline" "$W/got" "$W/v2"
gc_ok "access 1 on stdout" secrets versions access 1 --secret s1 --project "$P"
expect_file "access 1: value without a trailing newline" "$W/out" "$W/v1"

# bytes whose base64 has '+' and '/' (gcloud sends URL-safe base64, the fake replies standard)
printf '\373\377\376\000\001\200\177+/=\r\n\000\377' >"$W/v3"
gc_ok "versions add binary" secrets versions add s1 --data-file="$W/v3" --project "$P"
gsm_value s1 3 >"$W/got"
expect_file "binary value stored byte for byte" "$W/got" "$W/v3"
gc_ok "access binary" secrets versions access 3 --secret s1 --project "$P" --out-file="$W/got"
expect_file "binary value read back byte for byte (CRC-32C checked by gcloud)" "$W/got" "$W/v3"

gc_ok "versions list" secrets versions list s1 --project "$P" --format='value(name,state)'
expect_eq "versions list: newest first" "$(tr '\t\n' ' ;' <"$W/out")" "3 enabled;2 enabled;1 enabled;"

gc_ok "disable 3" secrets versions disable 3 --secret s1 --project "$P"
expect_q "v3 is DISABLED in the fake" 'versions("s1")[2] == [3, "DISABLED"]'
gc_fails "access latest with latest DISABLED" \
	"FAILED_PRECONDITION: Secret Version [projects/$NUM/secrets/s1/versions/3] is in DISABLED state." \
	secrets versions access latest --secret s1 --project "$P"
gc_ok "access 2 still works" secrets versions access 2 --secret s1 --project "$P" --out-file="$W/got"
expect_file "access 2 value" "$W/got" "$W/v2"
gc_ok "destroy 3" secrets versions destroy 3 --secret s1 --project "$P"
expect_q "v3 is DESTROYED with no data" 'sec("s1")["versions"][2]["state"] == "DESTROYED" and sec("s1")["versions"][2]["size"] == 0'
gc_fails "access latest with latest DESTROYED" "is in DESTROYED state." \
	secrets versions access latest --secret s1 --project "$P"
gc_fails "create an existing secret" "Secret [projects/$NUM/secrets/s1] already exists." \
	secrets create s1 --data-file="$W/v1" --project "$P"
gc_fails "describe a missing secret" "NOT_FOUND: Secret [projects/$NUM/secrets/nope] not found." \
	secrets describe nope --project "$P"
gc_ok "regional create (no replication in the body)" secrets create r1 --location us-east1 --data-file="$W/v1" --project "$P"
expect_q "regional secret stored under locations/us-east1" \
	'sec("r1", location="us-east1")["name"] == "projects/123456789012/locations/us-east1/secrets/r1" and sec("r1", location="us-east1")["replication"] is None'
gc_ok "regional access" secrets versions access latest --secret r1 --location us-east1 --project "$P" --out-file="$W/got"
expect_file "regional value" "$W/got" "$W/v1"
gc_ok "regional delete" secrets delete r1 --location us-east1 --project "$P"
expect_q "regional secret gone" 'sec("r1", location="us-east1") is None'
gc_ok "versions describe latest" secrets versions describe latest --secret s1 --project "$P" --format='value(name,state)'
expect_eq "latest resolves to the highest version, whatever its state" "$(tr '\t\n' ' ;' <"$W/out")" "projects/$NUM/secrets/s1/versions/3 DESTROYED;"

# ---------------------------------------------------------------- preload: the C9 and C10 shapes
gsm_ctl POST preload '{"secrets":[{"id":"s-empty","versions":[]},
 {"id":"s-c10","versions":["one","two",{"data":"three","state":"DISABLED"}]}]}' >/dev/null
gc_ok "versions list of preloaded s-c10" secrets versions list s-c10 --project "$P" --format='value(name,state)'
expect_eq "s-c10 versions" "$(tr '\t\n' ' ;' <"$W/out")" "3 disabled;2 enabled;1 enabled;"
gc_fails "access latest of s-c10" "Secret Version [projects/$NUM/secrets/s-c10/versions/3] is in DISABLED state." \
	secrets versions access latest --secret s-c10 --project "$P"
gc_ok "access 2 of s-c10" secrets versions access 2 --secret s-c10 --project "$P"
expect_eq "s-c10 v2 value" "$(cat "$W/out")" "two"
gc_ok "versions list of s-empty (reply {})" secrets versions list s-empty --project "$P" --format='value(name)'
expect_eq "s-empty has no versions" "$(cat "$W/out")" ""
expect_eq "raw versions list of s-empty is {}" "$(api GET "v1/projects/$P/secrets/s-empty/versions")$(tr -d ' \n' <"$W/api")" "200{}"
gc_ok "secrets list" secrets list --project "$P" --format='value(name)'
expect_eq "secrets list" "$(sort "$W/out" | tr '\n' ' ')" "s-c10 s-empty s1 "
gc_fails "access latest of s-empty" "NOT_FOUND: Secret [projects/$NUM/secrets/s-empty] not found or has no versions." \
	secrets versions access latest --secret s-empty --project "$P"

# ---------------------------------------------------------------- faults, seen through gcloud
gsm_faults '[{"method":"GET","path":"/s-c10/versions/2:access$","status":503}]'
gc_ok "gcloud retries an injected 503" secrets versions access 2 --secret s-c10 --project "$P"
expect_eq "value after the retry" "$(cat "$W/out")" "two"
expect_q "the 503 fired once, then a 200" \
	'[e["status"] for e in log() if e["path"].endswith("/s-c10/versions/2:access")][-2:] == [503, 200] and s["faults"][0]["fired"] == 1'

before=$(gsm_query 'len(sec("s-c10")["versions"])')
gsm_faults '[{"method":"POST","path":"/s-c10:addVersion$","action":"reset_after"}]'
rc=0
printf 'four' | gc secrets versions add s-c10 --data-file=- --project "$P" >/dev/null || rc=$?
expect_q "reset_after: the request was processed before the connection dropped" \
	'[e["status"] for e in log() if e["path"].endswith("/s-c10:addVersion")][0] == "reset_after(200)" and sec("s-c10")["versions"]['"$before"']["data"] == "Zm91cg=="'
# gcloud retries a reset addVersion, so a second identical version appears (addVersion is not idempotent)
after=$(gsm_query 'len(sec("s-c10")["versions"])')
if [ "$rc" = 0 ]; then expect_eq "gcloud retried: two new versions" "$after" "$((before + 2))"; else expect_eq "one new version" "$after" "$((before + 1))"; fi

gsm_faults '[{"method":"GET","path":"/secrets/s1$","action":"reset_before"}]'
gc_ok "gcloud retries after reset_before" secrets describe s1 --project "$P"
expect_q "reset_before logged, then a 200" \
	'[e["status"] for e in log() if e["path"].endswith("/secrets/s1") and e["method"] == "GET"][-2:] == ["reset_before", 200]'

gsm_faults '[{"path":"/secrets/s1$","action":"html"}]'
gc_fails "an HTML 404 from the front end" "HTTPError 404: <!DOCTYPE html>" secrets describe s1 --project "$P"


gsm_ctl POST config '{"chunked": true}' >/dev/null
gc_ok "access with chunked replies" secrets versions access 2 --secret s1 --project "$P" --out-file="$W/got"
expect_file "value through a chunked reply" "$W/got" "$W/v2"
gsm_ctl POST config '{"chunked": false}' >/dev/null

# ---------------------------------------------------------------- auth and permissions
echo "not-a-token" >"$W/badtoken"
CLOUDSDK_AUTH_ACCESS_TOKEN_FILE=$W/badtoken gc_fails "a token the fake does not know" "UNAUTHENTICATED: Request had invalid authentication credentials" \
	secrets describe s1 --project "$P"
gsm_ctl POST config '{"deny_projects": ["denied-proj"], "deny_permissions": {"ai-lab": ["secretmanager.versions.access"]}}' >/dev/null
gc_fails "denied project" "Permission 'secretmanager.secrets.get' denied for resource 'projects/denied-proj/secrets/s1' (or it may not exist)." \
	secrets describe s1 --project denied-proj
gc_fails "denied permission" "PERMISSION_DENIED: Permission 'secretmanager.versions.access' denied" \
	secrets versions access 2 --secret s1 --project "$P"
gsm_ctl POST config '{"deny_projects": [], "deny_permissions": {}}' >/dev/null

# a JWT signed by openssl in bash, exchanged at /token
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
jwt() { # keyfile iss aud iat exp scope
	local h c
	h=$(printf '{"alg":"RS256","typ":"JWT"}' | b64url)
	c=$(printf '{"iss":"%s","scope":"%s","aud":"%s","iat":%s,"exp":%s}' "$2" "$6" "$3" "$4" "$5" | b64url)
	printf '%s.%s.%s' "$h" "$c" "$(printf '%s.%s' "$h" "$c" | openssl dgst -sha256 -sign "$1" -binary | b64url)"
}
token_req() { # assertion -> status; body in $W/api
	cu -o "$W/api" -w '%{http_code}' --data-urlencode "grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer" \
		--data-urlencode "assertion=$1" "$FAKE_GSM_TOKEN_URL"
}
SA=jwt-test@ai-lab.iam.gserviceaccount.com
CP=https://www.googleapis.com/auth/cloud-platform
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/sa.key" 2>/dev/null
openssl pkey -in "$W/sa.key" -pubout -out "$W/sa.pub"
PUB=$(cat "$W/sa.pub") /usr/bin/python3 -c 'import json,os; print(json.dumps({"client_email": "'"$SA"'", "public_key_pem": os.environ["PUB"]}))' >"$W/reg.json"
gsm_ctl POST register_key "@$W/reg.json" >/dev/null || fail "register_key"
pass
now=$(date +%s)
expect_eq "JWT grant accepted" "$(token_req "$(jwt "$W/sa.key" "$SA" "$FAKE_GSM_TOKEN_URL" "$now" $((now + 3600)) "$CP")")" 200
expect_eq "token reply shape" "$(jq_ '(d["token_type"], d["expires_in"], d["access_token"].startswith("ya29."))')" "('Bearer', 3599, True)"
jq_ 'd["access_token"]' >"$W/sa.token"
CLOUDSDK_AUTH_ACCESS_TOKEN_FILE=$W/sa.token gc_ok "gcloud with the minted token" secrets describe s1 --project "$P"
expect_q "request made as the service account" "log()[-1]['auth'] == 'sa:$SA'"
good=$(jwt "$W/sa.key" "$SA" "$FAKE_GSM_TOKEN_URL" "$now" $((now + 3600)) "$CP")
bad=$(printf '%s' "$good" | /usr/bin/python3 -c 'import sys; h, c, g = sys.stdin.read().split("."); print(h, c, g[:99] + ("B" if g[99] == "A" else "A") + g[100:], sep=".", end="")')
expect_eq "tampered signature" "$(token_req "$bad") $(jq_ '(d["error"], d["error_description"])')" "400 ('invalid_grant', 'Invalid JWT Signature.')"
expect_eq "wrong audience" "$(token_req "$(jwt "$W/sa.key" "$SA" https://example.com/token "$now" $((now + 3600)) "$CP")") $(jq_ 'd["error"]')" "400 invalid_grant"
expect_eq "lifetime over an hour" "$(token_req "$(jwt "$W/sa.key" "$SA" "$FAKE_GSM_TOKEN_URL" "$now" $((now + 7200)) "$CP")") $(jq_ 'd["error_description"].startswith("Invalid JWT: Token must be a short-lived token (60 minutes)")')" "400 True"
expect_eq "unknown issuer" "$(token_req "$(jwt "$W/sa.key" other@x.iam.gserviceaccount.com "$FAKE_GSM_TOKEN_URL" "$now" $((now + 3600)) "$CP")") $(jq_ 'd["error"]')" "400 invalid_grant"
expect_eq "no scope" "$(token_req "$(jwt "$W/sa.key" "$SA" "$FAKE_GSM_TOKEN_URL" "$now" $((now + 3600)) "")") $(jq_ 'd["error"]')" "400 invalid_scope"
token_req "$(jwt "$W/sa.key" "$SA" "$FAKE_GSM_TOKEN_URL" "$now" $((now + 3600)) https://www.googleapis.com/auth/devstorage.read_only)" >/dev/null
narrow=$(jq_ 'd["access_token"]')
expect_eq "a token without cloud-platform scope gets 403" \
	"$(cu -o "$W/api" -w '%{http_code}' -H "Authorization: Bearer $narrow" "${FAKE_GSM_URL}v1/projects/$P/secrets/s1") $(jq_ 'd["error"]["status"]')" "403 PERMISSION_DENIED"

# gcloud's own google-auth flows against /token and the metadata server, run side by side
# (each in its own CLOUDSDK_CONFIG and work directory); each writes its pass count.
sub() { # name, then the commands run by the function sub_NAME
	(
		W=$W/$1
		mkdir -p "$W"
		GC_ERR=$W/gcloud.err
		passed=0
		unset CLOUDSDK_AUTH_ACCESS_TOKEN_FILE
		export CLOUDSDK_CONFIG=$W/gcloud
		"sub_$1"
		echo "$passed" >"$W/passed"
	)
}
sub_sa() {
	export CLOUDSDK_AUTH_TOKEN_HOST=$FAKE_GSM_TOKEN_URL
	gsm_make_sa_key "$W/sa.json"
	gc_ok "gcloud auth activate-service-account (JWT bearer at the fake's /token)" auth activate-service-account --key-file="$W/sa.json"
	gc_ok "gcloud access as that service account" secrets versions access 2 --secret s1 --project "$P" --out-file="$W/got"
	expect_file "value read with the service-account token" "$W/got" "$W/../v2"
}
sub_user() {
	gsm_make_authorized_user "$W/au.json"
	eval "$(jq_ '"CID=%s CSEC=%s RT=%s" % (d["client_id"], d["client_secret"], d["refresh_token"])' "$W/au.json")"
	export CLOUDSDK_AUTH_TOKEN_HOST=$FAKE_GSM_TOKEN_URL CLOUDSDK_AUTH_CLIENT_ID=$CID CLOUDSDK_AUTH_CLIENT_SECRET=$CSEC
	gc_ok "gcloud auth activate-refresh-token (refresh grant at the fake's /token)" auth activate-refresh-token user@example.com "$RT"
	gc_ok "gcloud access as that user" secrets versions access 2 --secret s1 --project "$P"
	expect_eq "value read with the refreshed token" "$(cat "$W/out")" "second"
	expect_eq "wrong client secret" "$(cu -o "$W/api" -w '%{http_code}' -d grant_type=refresh_token -d "client_id=$CID" -d client_secret=x -d "refresh_token=$RT" "$FAKE_GSM_TOKEN_URL") $(jq_ 'd["error"]' "$W/api")" "401 invalid_client"
	expect_eq "unknown refresh token" "$(cu -o "$W/api" -w '%{http_code}' -d grant_type=refresh_token -d "client_id=$CID" -d "client_secret=$CSEC" -d refresh_token=x "$FAKE_GSM_TOKEN_URL") $(jq_ 'd["error"]' "$W/api")" "400 invalid_grant"
}
sub_gce() {
	export CLOUDSDK_CORE_CHECK_GCE_METADATA=true GCE_METADATA_ROOT=$FAKE_GSM_METADATA_HOST GCE_METADATA_HOST=$FAKE_GSM_METADATA_HOST
	gc_ok "gcloud on 'GCE' with the fake metadata server" secrets versions access 2 --secret s1 --project "$P"
	expect_eq "value read with the metadata token" "$(cat "$W/out")" "second"
}
sub sa &
pid_sa=$!
sub user &
pid_user=$!
sub gce &
pid_gce=$!
wait "$pid_sa" || fail "service-account flow (see above)"
wait "$pid_user" || fail "refresh-token flow (see above)"
wait "$pid_gce" || fail "metadata flow (see above)"
passed=$((passed + $(cat "$W/sa/passed") + $(cat "$W/user/passed") + $(cat "$W/gce/passed")))
expect_q "gcloud's JWT carried cloud-platform and its requests ran as the service account" \
	"any(e['auth'] == 'sa:seedsec-test@ai-lab.iam.gserviceaccount.com' for e in log()) and any(e.get('jwt') and 'cloud-platform' in e['jwt']['claims'].get('scope', '') for e in log('token'))"
expect_q "requests ran with the refreshed token" "any((e['auth'] or '').startswith('refresh:') for e in log())"
expect_q "requests ran with a metadata token" "any(e['auth'] == 'metadata' for e in log())"
md=http://$FAKE_GSM_METADATA_HOST/computeMetadata/v1
expect_eq "metadata without Metadata-Flavor" "$(curl -sS --noproxy '*' -o /dev/null -w '%{http_code}' "$md/instance/service-accounts/default/token")" 403
expect_eq "metadata project-id" "$(curl -sS --noproxy '*' -H 'Metadata-Flavor: Google' "$md/project/project-id")" "ai-lab"
expect_eq "metadata token" "$(curl -sS --noproxy '*' -H 'Metadata-Flavor: Google' -o "$W/api" -w '%{http_code}' "$md/instance/service-accounts/default/token") $(jq_ 'd["token_type"]')" "200 Bearer"

# ---------------------------------------------------------------- HTTP details (curl)
expect_eq "unknown path: HTML 404" "$(cu -o "$W/api" -w '%{http_code} %{content_type}' "${FAKE_GSM_URL}v2/whatever") $(grep -c 'Error 404 (Not Found)' "$W/api")" "404 text/html; charset=UTF-8 1"
expect_eq "no Authorization: 401 UNAUTHENTICATED" "$(cu -o "$W/api" -w '%{http_code}' "${FAKE_GSM_URL}v1/projects/$P/secrets/s1") $(jq_ 'd["error"]["status"]')" "401 UNAUTHENTICATED"
seq_before=$(gsm_query 's["seq"]')
cu -H "Authorization: Bearer $FAKE_GSM_TOKEN" -D "$W/h1" -o /dev/null "${FAKE_GSM_URL}v1/projects/$P/secrets/s1" \
	-o /dev/null "${FAKE_GSM_URL}v1/projects/$P/secrets/s1/versions"
expect_q "keep-alive: two requests on one connection" \
	"len({e['conn'] for e in s['log'] if e['seq'] > $seq_before}) == 1 and len([e for e in s['log'] if e['seq'] > $seq_before]) == 2"
[ "$(grep -ci '^content-length: [0-9]' "$W/h1")" = 2 ] || fail "replies without Content-Length"
pass
crc() { /usr/bin/python3 -B -c 'import sys; sys.path.insert(0, "tests"); import fake_gsm; print(fake_gsm.crc32c(open(sys.argv[1], "rb").read()))' "$1"; }
expect_eq "CRC-32C check value" "$(printf 123456789 >"$W/c" && crc "$W/c")" "$((0xE3069283))"
body() { /usr/bin/python3 -c 'import base64,json,sys; d=open(sys.argv[1],"rb").read(); print(json.dumps({"payload":{"data":base64.b64encode(d).decode(),"dataCrc32c":sys.argv[2]}}))' "$1" "$2"; }
body "$W/v3" "$(crc "$W/v3")" >"$W/add.json"
expect_eq "chunked request body accepted" "$(cu -o "$W/api" -w '%{http_code}' -H "Authorization: Bearer $FAKE_GSM_TOKEN" -H 'Transfer-Encoding: chunked' -H 'Content-Type: application/json' --data-binary "@$W/add.json" "${FAKE_GSM_URL}v1/projects/$P/secrets/s1:addVersion") $(jq_ '(d["state"], d["clientSpecifiedPayloadChecksum"])')" "200 ('ENABLED', True)"
expect_q "logged as a chunked body" "log()[-1]['body_kind'] == 'chunked'"
expect_eq "CRC-32C mismatch" "$(api POST "v1/projects/$P/secrets/s1:addVersion" "$(body "$W/v3" 12345)") $(jq_ 'd["error"]["status"]')" "400 INVALID_ARGUMENT"
head -c 65536 /dev/zero >"$W/64k"
expect_eq "payload of exactly 64 KiB" "$(api POST "v1/projects/$P/secrets/s1:addVersion" "$(body "$W/64k" "$(crc "$W/64k")")")" 200
head -c 65537 /dev/zero >"$W/64k1"
expect_eq "payload over 64 KiB" "$(api POST "v1/projects/$P/secrets/s1:addVersion" "$(body "$W/64k1" "$(crc "$W/64k1")")") $(jq_ 'd["error"]["message"]')" "400 Secret Payload cannot be larger than 64KiB."
expect_eq "regional create with replication" "$(api POST "v1/projects/$P/locations/us-east1/secrets?secretId=r2" '{"replication":{"automatic":{}}}')" 400
expect_eq "bad secret id" "$(api POST "v1/projects/$P/secrets?secretId=a.b" '{"replication":{"automatic":{}}}')" 400
expect_eq "unknown field" "$(api POST "v1/projects/$P/secrets?secretId=x1" '{"replication":{"automatic":{}},"bogus":1}') $(jq_ '"Invalid JSON payload received. Unknown name \"bogus\"" in d["error"]["message"]')" "400 True"
expect_eq "create with a label GSM refuses" "$(api POST "v1/projects/$P/secrets?secretId=x2" '{"replication":{"automatic":{}},"labels":{"app.kubernetes.io/managed-by":"seedsec"}}')" 400

next=$(($(gsm_query 's["requests"]') + 1))
gsm_faults "[{\"index\":[$next,$((next + 1))],\"status\":429,\"headers\":{\"Retry-After\":\"1\"}}]"
expect_eq "fault by request index (fires once)" "$(api GET "v1/projects/$P/secrets/s1") $(jq_ 'd["error"]["status"]') $(api GET "v1/projects/$P/secrets/s1")" "429 RESOURCE_EXHAUSTED 200"
expect_q "request #$next answered 429" "[e['status'] for e in log() if e['n'] in ($next, $((next + 1)))] == [429, 200]"

gsm_faults '[{"path":"/secrets/s1$","action":"reset_before"}]'
rc=0
cu -H "Authorization: Bearer $FAKE_GSM_TOKEN" -o /dev/null "${FAKE_GSM_URL}v1/projects/$P/secrets/s1" 2>/dev/null || rc=$?
case $rc in 35 | 52 | 56) pass ;; *) fail "reset_before: curl exit $rc, want a reset (56) or empty reply (52)" ;; esac
gsm_faults '[{"path":"/secrets/s1$","action":"truncate"}]'
rc=0
cu -H "Authorization: Bearer $FAKE_GSM_TOKEN" -o /dev/null "${FAKE_GSM_URL}v1/projects/$P/secrets/s1" 2>/dev/null || rc=$?
expect_eq "truncate: curl sees a short body" "$rc" 18
gsm_faults '[{"path":"/secrets/s1$","action":"chunked"}]'
expect_eq "chunked fault: one chunked reply" "$(cu -D "$W/h" -o "$W/api" -w '%{http_code}' -H "Authorization: Bearer $FAKE_GSM_TOKEN" "${FAKE_GSM_URL}v1/projects/$P/secrets/s1") $(grep -ci '^transfer-encoding: chunked' "$W/h") $(jq_ 'd["name"]')" "200 1 projects/$NUM/secrets/s1"
gsm_faults '[{"index":[1000000],"status":429}, {"path":"/secrets/s1$","action":"delay","seconds":0.6}]'
t0=$(date +%s%N)
api GET "v1/projects/$P/secrets/s1" >/dev/null
expect_eq "delay fault" "$(( ($(date +%s%N) - t0) / 100000000 >= 6 ))" 1
expect_eq "proxy CONNECT" "$(curl -sS --cacert "$FAKE_GSM_CA" -x "$FAKE_GSM_PROXY" -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $FAKE_GSM_TOKEN" "${FAKE_GSM_URL}v1/projects/$P/secrets/s1") $(gsm_query "[e['kind'] for e in s['log']][-2:]")" '200 ["proxy", "gsm"]'
gsm_ctl POST reset >/dev/null
expect_q "reset clears secrets, log and counter" 's["secrets"] == [] and s["requests"] == 0 and s["log"] == []'

pid=$FAKE_GSM_PID
gsm_stop
kill -0 "$pid" 2>/dev/null && fail "fake still running after SIGTERM"
pass

# ---------------------------------------------------------------- TLS variants (curl; gcloud retries TLS errors for ~30 s)
gsm_start --cert-kind wronghost
rc=0
cu -o /dev/null "$FAKE_GSM_URL" 2>/dev/null || rc=$?
expect_eq "wronghost: certificate refused" "$rc" 60
expect_q "wronghost: the client hung up without a request (curl checks the name after the handshake)" \
	's["requests"] == 0 and [e["kind"] for e in s["log"]] == ["no_request"]'
expect_eq "wronghost: fine under its own name" "$(cu -o /dev/null -w '%{http_code}' --resolve "wrong.example:$FAKE_GSM_PORT:127.0.0.1" "https://wrong.example:$FAKE_GSM_PORT/x")" 404
gsm_stop
gsm_start --cert-kind untrusted
rc=0
cu -o /dev/null "$FAKE_GSM_URL" 2>/dev/null || rc=$?
expect_eq "untrusted: certificate refused" "$rc" 60
expect_q "untrusted: the fake saw the client's alert" '[(e["kind"], e["error"]) for e in s["log"]] == [("tls_error", "TLSV1_ALERT_UNKNOWN_CA")]'
expect_eq "untrusted: fine with the other CA" "$(curl -sS --noproxy '*' --cacert "$FAKE_GSM_UNTRUSTED_CA" -o /dev/null -w '%{http_code}' "${FAKE_GSM_URL}x")" 404
gsm_stop

echo "runtime $(($(date +%s) - start)) s" >&2
echo "$passed passed, 0 failed"
