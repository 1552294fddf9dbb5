# shellcheck shell=bash
# Source this from a test: it starts tests/fake_gsm.py (a fake Google Secret
# Manager, OAuth token endpoint and metadata server) and points gcloud and
# seedsec at it. Needs bash, /usr/bin/python3, openssl; curl if present.
#
#   . tests/gsm_env.sh
#   trap gsm_stop EXIT
#   gsm_start                      # or: gsm_start --cert-kind wronghost|untrusted [fake_gsm.py options]
#   gsm_ctl POST preload '{"secrets":[{"id":"a","versions":["v1",{"data":"v2","state":"DISABLED"}]}]}'
#   gsm_state | python3 -m json.tool
#
# Full reference (variables, functions, control API, fault rules): the end of this file.

GSM_ENV_TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GSM_PYTHON=${GSM_PYTHON:-/usr/bin/python3}

# _gsm_pki DIR: CA, second (untrusted) CA, and three server certificates that
# share one key: good (IP:127.0.0.1, DNS:localhost), wronghost (DNS:wrong.example
# only, good CA), untrusted (good SANs, signed by the other CA).
_gsm_pki() {
	local d=$1 kt=${FAKE_GSM_KEY_TYPE:-rsa} newkey
	case $kt in
	rsa) newkey=(-newkey rsa:2048) ;;
	ec) newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256) ;;
	*) echo "gsm_env: FAKE_GSM_KEY_TYPE must be rsa or ec" >&2; return 2 ;;
	esac
	cat >"$d/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[leaf_good]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = IP:127.0.0.1,DNS:localhost
[leaf_wronghost]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:wrong.example
EOF
	(
		set -e
		cd "$d"
		openssl req -config openssl.cnf -x509 -new "${newkey[@]}" -nodes -keyout ca.key -out ca.pem \
			-days 30 -sha256 -subj "/CN=seedsec fake GSM test CA" -extensions v3_ca 2>/dev/null &
		p1=$!
		openssl req -config openssl.cnf -x509 -new "${newkey[@]}" -nodes -keyout other-ca.key -out other-ca.pem \
			-days 30 -sha256 -subj "/CN=seedsec untrusted test CA" -extensions v3_ca 2>/dev/null &
		p2=$!
		openssl req -config openssl.cnf -new "${newkey[@]}" -nodes -keyout server.key -out server.csr \
			-subj "/CN=localhost" 2>/dev/null
		wait "$p1"
		wait "$p2"
		openssl req -config openssl.cnf -new -key server.key -out wrong.csr -subj "/CN=wrong.example" 2>/dev/null
		sign() { # csr ca ext out
			openssl x509 -req -in "$1" -CA "$2.pem" -CAkey "$2.key" -set_serial "0x$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')" \
				-days 30 -sha256 -extfile openssl.cnf -extensions "$3" -out "$4" 2>/dev/null
		}
		sign server.csr ca leaf_good server-good.pem
		sign wrong.csr ca leaf_wronghost server-wronghost.pem
		sign server.csr other-ca leaf_good server-untrusted.pem
		rm -f ./*.csr
	)
}

# gsm_start [--cert-kind good|wronghost|untrusted] [fake_gsm.py options...]
gsm_start() {
	local kind=good i
	local extra=()
	while [ $# -gt 0 ]; do
		case $1 in
		--cert-kind) kind=$2; shift 2 ;;
		--cert-kind=*) kind=${1#*=}; shift ;;
		*) extra+=("$1"); shift ;;
		esac
	done
	case $kind in good | wronghost | untrusted) ;; *)
		echo "gsm_start: --cert-kind must be good, wronghost or untrusted" >&2
		return 2
		;;
	esac
	FAKE_GSM_DIR=$(mktemp -d "${TMPDIR:-/tmp}/fakegsm.XXXXXX") || return 2
	_gsm_pki "$FAKE_GSM_DIR" || { echo "gsm_start: certificate generation failed" >&2; return 2; }
	mkdir -p "$FAKE_GSM_DIR/gcloud" "$FAKE_GSM_DIR/state"
	FAKE_GSM_TOKEN="ya29.fake-static-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
	printf '%s\n' "$FAKE_GSM_TOKEN" >"$FAKE_GSM_DIR/token"
	cp "$FAKE_GSM_DIR/token" "$FAKE_GSM_DIR/tokens"
	local logto=$FAKE_GSM_DIR/fake.log
	"$GSM_PYTHON" "$GSM_ENV_TESTS_DIR/fake_gsm.py" \
		--cert "$FAKE_GSM_DIR/server-$kind.pem" --key "$FAKE_GSM_DIR/server.key" \
		--port-file "$FAKE_GSM_DIR/port" --plain-port-file "$FAKE_GSM_DIR/plain_port" \
		--tokens "$FAKE_GSM_DIR/tokens" --state-dir "$FAKE_GSM_DIR/state" \
		--parent-pid "${BASHPID:-$$}" ${extra[@]+"${extra[@]}"} >>"$logto" 2>&1 </dev/null &
	FAKE_GSM_PID=$!
	for ((i = 0; i < 200; i++)); do
		[ -s "$FAKE_GSM_DIR/port" ] && break
		if ! kill -0 "$FAKE_GSM_PID" 2>/dev/null; then
			echo "gsm_start: fake_gsm.py exited:" >&2
			cat "$logto" >&2
			return 2
		fi
		sleep 0.05
	done
	if ! [ -s "$FAKE_GSM_DIR/port" ]; then
		echo "gsm_start: fake_gsm.py did not start in 10 s" >&2
		return 2
	fi
	FAKE_GSM_PORT=$(cat "$FAKE_GSM_DIR/port")
	FAKE_GSM_PLAIN_PORT=$(cat "$FAKE_GSM_DIR/plain_port")
	FAKE_GSM_URL=https://127.0.0.1:$FAKE_GSM_PORT/
	FAKE_GSM_CONTROL=http://127.0.0.1:$FAKE_GSM_PLAIN_PORT/_fake
	FAKE_GSM_TOKEN_URL=https://127.0.0.1:$FAKE_GSM_PORT/token
	FAKE_GSM_METADATA_HOST=127.0.0.1:$FAKE_GSM_PLAIN_PORT
	FAKE_GSM_PROXY=http://127.0.0.1:$FAKE_GSM_PLAIN_PORT
	FAKE_GSM_CA=$FAKE_GSM_DIR/ca.pem
	FAKE_GSM_UNTRUSTED_CA=$FAKE_GSM_DIR/other-ca.pem
	FAKE_GSM_TOKEN_FILE=$FAKE_GSM_DIR/token
	FAKE_GSM_LOG=$logto
	FAKE_GSM_PROJECT=ai-lab
	FAKE_GSM_PROJECT_NUMBER=123456789012
	FAKE_GSM_CERT_KIND=$kind
	export FAKE_GSM_DIR FAKE_GSM_PID FAKE_GSM_PORT FAKE_GSM_PLAIN_PORT FAKE_GSM_URL FAKE_GSM_CONTROL \
		FAKE_GSM_TOKEN_URL FAKE_GSM_METADATA_HOST FAKE_GSM_PROXY FAKE_GSM_CA FAKE_GSM_UNTRUSTED_CA \
		FAKE_GSM_TOKEN FAKE_GSM_TOKEN_FILE FAKE_GSM_LOG FAKE_GSM_PROJECT FAKE_GSM_PROJECT_NUMBER \
		FAKE_GSM_CERT_KIND
	# gcloud (and seedsec, which reads the same variables)
	export CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER=$FAKE_GSM_URL
	export CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE=$FAKE_GSM_CA
	export CLOUDSDK_AUTH_ACCESS_TOKEN_FILE=$FAKE_GSM_TOKEN_FILE
	export CLOUDSDK_CONFIG=$FAKE_GSM_DIR/gcloud
	export CLOUDSDK_CORE_DISABLE_PROMPTS=1
	export CLOUDSDK_CORE_DISABLE_USAGE_REPORTING=true
	export CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK=true
	export CLOUDSDK_CORE_CHECK_GCE_METADATA=false
	export CLOUDSDK_CORE_DISABLE_FILE_LOGGING=true
	unset REQUESTS_CA_BUNDLE CURL_CA_BUNDLE
	# hermetic: nothing from the host's environment reaches Google or a real proxy
	unset GOOGLE_APPLICATION_CREDENTIALS GCE_METADATA_HOST GCE_METADATA_ROOT GCE_METADATA_IP \
		CLOUDSDK_CORE_PROJECT GOOGLE_CLOUD_PROJECT SSL_CERT_FILE SSL_CERT_DIR \
		HTTPS_PROXY https_proxy HTTP_PROXY http_proxy ALL_PROXY all_proxy NO_PROXY no_proxy
	return 0
}

# gsm_stop: stop the fake and remove its directory (FAKE_GSM_KEEP=1 keeps it).
# Safe to call twice and from an EXIT trap; keeps the caller's exit status.
gsm_stop() {
	local rc=$? i
	if [ -n "${FAKE_GSM_PID:-}" ]; then
		kill -TERM "$FAKE_GSM_PID" 2>/dev/null || true
		for ((i = 0; i < 60; i++)); do
			kill -0 "$FAKE_GSM_PID" 2>/dev/null || break
			sleep 0.05
		done
		kill -KILL "$FAKE_GSM_PID" 2>/dev/null || true
		wait "$FAKE_GSM_PID" 2>/dev/null || true
	fi
	if [ -n "${FAKE_GSM_DIR:-}" ] && [ -d "$FAKE_GSM_DIR" ] && [ "${FAKE_GSM_KEEP:-0}" != 1 ]; then
		rm -rf "$FAKE_GSM_DIR"
	fi
	FAKE_GSM_PID=
	FAKE_GSM_DIR=
	return "$rc"
}

# gsm_ctl METHOD PATH [JSON | @FILE | @-]: the control API (plain listener, no auth).
# PATH is relative to /_fake/ ("state", "faults", ...). Prints the reply body;
# non-zero exit on HTTP >= 400.
gsm_ctl() {
	local method=$1 path=${2#/} data=${3-}
	path=${path#_fake/}
	local url=$FAKE_GSM_CONTROL/$path
	if command -v curl >/dev/null 2>&1; then
		local args=(-sS --noproxy '*' --fail-with-body -X "$method")
		[ -n "$data" ] && args+=(-H 'Content-Type: application/json' --data-binary "$data")
		curl "${args[@]}" "$url"
	else
		"$GSM_PYTHON" - "$method" "$url" "$data" <<'EOF'
import sys, urllib.request, urllib.error
method, url, data = sys.argv[1:4]
if data == "@-":
    data = sys.stdin.buffer.read()
elif data.startswith("@"):
    data = open(data[1:], "rb").read()
else:
    data = data.encode()
req = urllib.request.Request(url, data=data or None, method=method,
                             headers={"Content-Type": "application/json"})
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    sys.stdout.buffer.write(opener.open(req).read())
except urllib.error.HTTPError as e:
    sys.stdout.buffer.write(e.read())
    sys.exit(22)
EOF
	fi
}

# gsm_state: the whole state as JSON.
gsm_state() { gsm_ctl GET state; }

# gsm_query 'PYTHON EXPR': evaluate EXPR with s = the state dict; prints str(result)
# (json for dicts and lists). Helpers in scope: sec(id, project="ai-lab", location=None),
# versions(id, ...) -> [[num, state], ...], log(kind="gsm") -> entries, b64d(str) -> bytes.
gsm_query() {
	gsm_state | "$GSM_PYTHON" -c '
import base64, json, sys
s = json.load(sys.stdin)
def sec(i, project="ai-lab", location=None):
    for x in s["secrets"]:
        if x["secretId"] == i and project in (x["project"], x["projectNumber"]) and x["location"] == location:
            return x
    return None
def versions(i, project="ai-lab", location=None):
    x = sec(i, project, location)
    return [[v["version"], v["state"]] for v in x["versions"]] if x else None
def log(kind="gsm"):
    return [e for e in s["log"] if kind is None or e.get("kind") == kind]
b64d = base64.b64decode
r = eval(sys.argv[1])
print(json.dumps(r) if isinstance(r, (dict, list, tuple)) else r)
' "$1"
}

# gsm_value SECRET [VERSION|latest] [PROJECT]: raw bytes of a version, whatever its state.
gsm_value() {
	gsm_ctl GET "value/${3:-$FAKE_GSM_PROJECT}/$1/${2:-latest}"
}

# gsm_versions SECRET [PROJECT]: "NUM STATE" lines, oldest first.
gsm_versions() {
	gsm_ctl GET "secret/${2:-$FAKE_GSM_PROJECT}/$1" |
		"$GSM_PYTHON" -c 'import json,sys; [print(v["version"], v["state"]) for v in json.load(sys.stdin)["versions"]]'
}

# gsm_faults JSON: replace the fault rules (a list, or {"rules": [...], "append": true}).
gsm_faults() { gsm_ctl POST faults "$1" >/dev/null; }

# gsm_log: the fake's own log (one line per request, no values).
gsm_log() { cat "$FAKE_GSM_LOG"; }

# gsm_make_sa_key FILE [EMAIL]: a new RSA key as a service_account JSON file
# (token_uri = the fake's /token), registered with the fake.
gsm_make_sa_key() {
	local file=$1 email=${2:-seedsec-test@ai-lab.iam.gserviceaccount.com}
	local key
	key=$(openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null) || return 2
	KEY=$key EMAIL=$email URI=$FAKE_GSM_TOKEN_URL "$GSM_PYTHON" -c '
import json, os, sys
d = {"type": "service_account", "project_id": "ai-lab", "private_key_id": "0123456789abcdef",
     "private_key": os.environ["KEY"] + "\n", "client_email": os.environ["EMAIL"],
     "client_id": "100000000000000000001", "token_uri": os.environ["URI"]}
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, json.dumps(d, indent=2).encode())
os.close(fd)
print(json.dumps({"service_account": d}))
' "$file" | gsm_ctl POST register_key @- >/dev/null
}

# gsm_make_authorized_user FILE: an authorized_user JSON file (with token_uri =
# the fake's /token), its refresh token registered with the fake.
gsm_make_authorized_user() {
	local file=$1
	URI=$FAKE_GSM_TOKEN_URL "$GSM_PYTHON" -c '
import json, os, secrets, sys
d = {"type": "authorized_user", "client_id": "764086051850-fake.apps.googleusercontent.com",
     "client_secret": "d-FL95Q19q7MQmFpd7hHD0Ty", "refresh_token": "1//fake-" + secrets.token_urlsafe(24),
     "token_uri": os.environ["URI"]}
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, json.dumps(d, indent=2).encode())
os.close(fd)
print(json.dumps({"authorized_user": d}))
' "$file" | gsm_ctl POST register_refresh @- >/dev/null
}

: <<'REFERENCE'
Variables exported by gsm_start
  FAKE_GSM_URL            https://127.0.0.1:PORT/  (the GSM endpoint; client appends v1/...)
  FAKE_GSM_PORT           TLS port (GSM API, POST /token, /_fake/)
  FAKE_GSM_PLAIN_PORT     plain HTTP port (metadata server, /_fake/, CONNECT proxy)
  FAKE_GSM_CONTROL        http://127.0.0.1:PLAIN/_fake
  FAKE_GSM_TOKEN_URL      https://127.0.0.1:PORT/token
  FAKE_GSM_METADATA_HOST  127.0.0.1:PLAIN  (value for GCE_METADATA_HOST)
  FAKE_GSM_PROXY          http://127.0.0.1:PLAIN (value for HTTPS_PROXY; CONNECT to loopback only)
  FAKE_GSM_CA             CA certificate that signed the server certificate (absolute)
  FAKE_GSM_UNTRUSTED_CA   a second CA (signs the "untrusted" server certificate)
  FAKE_GSM_TOKEN          an accepted bearer token; FAKE_GSM_TOKEN_FILE holds it (one line)
  FAKE_GSM_PROJECT        ai-lab; FAKE_GSM_PROJECT_NUMBER 123456789012 (names in replies)
  FAKE_GSM_DIR FAKE_GSM_PID FAKE_GSM_LOG FAKE_GSM_CERT_KIND
  CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE
  CLOUDSDK_AUTH_ACCESS_TOKEN_FILE CLOUDSDK_CONFIG CLOUDSDK_CORE_DISABLE_PROMPTS (+ usage
  reporting, file logging, update check and GCE check off). Unset: REQUESTS_CA_BUNDLE
  CURL_CA_BUNDLE GOOGLE_APPLICATION_CREDENTIALS GCE_METADATA_HOST/ROOT/IP CLOUDSDK_CORE_PROJECT
  GOOGLE_CLOUD_PROJECT SSL_CERT_FILE SSL_CERT_DIR and every *_PROXY/*_proxy variable.
  Unset CLOUDSDK_AUTH_ACCESS_TOKEN_FILE to test the other auth sources.
  Call gsm_start in the test's own shell (not in $(...) or a pipeline): the fake exits
  when the shell that started it is gone.

Control API (POST bodies are JSON; replies JSON unless noted)
  GET  state[?since=SEQ]  {"requests": GSM request count, "seq": N, "secrets": [{"name",
       "project", "projectNumber", "location", "secretId", "labels", "replication", "extra",
       "createTime", "etag", "versions": [{"version", "name", "state", "data" (base64),
       "dataCrc32c", "size", "clientSpecifiedPayloadChecksum", "createTime", "destroyTime"}]}],
       "log": [{"seq" (arrival order), "n" (GSM request index, 1-based; null for others),
       "time" (epoch seconds), "kind" (gsm|token|metadata|proxy|other), "listener"
       (tls|plain), "conn" (TCP connection id: same id = keep-alive reuse), "method", "path"
       (decoded, no query), "query", "status" (int, or "reset_before", "reset_after(200)"),
       "fault" (action or null), "auth" (file|control|sa:EMAIL|refresh:CLIENT_ID|metadata),
       "headers" {user-agent, content-type, transfer-encoding, connection, expect, ...},
       "body_kind" (length|chunked|none), "body" (create/patch request JSON), "payload"
       ({"dataCrc32c", "b64_len"} for addVersion; never the data), "grant_type" and "jwt"
       ({"header", "claims"}) for /token}
       plus connection-level entries {"seq", "time", "kind": "tls_error" (handshake or
       TLS read failed; "error" = OpenSSL reason such as TLSV1_ALERT_UNKNOWN_CA) |
       "no_request" (TLS connection closed before any request) | "conn_error", "conn", "error"}],
       "faults", "config", "tokens_minted", "sa_keys", "refresh_clients"}
       The log entry is recorded before the reply is written, so a client that got a reply
       (or a reset_after) can query the state without racing.
  GET  log[?since=SEQ]    just the log list
  GET  secret/PROJECT/ID[?location=L]   one secret as in state
  GET  value/PROJECT/ID[/VERSION|latest][?location=L]  raw bytes (headers X-Fake-Version, X-Fake-State)
  GET  health             "ok"
  POST reset   {} | {"auth": true, "config": true}   clears secrets, log, counters, faults
       (and registered keys/tokens, config)
  POST preload {"project": "ai-lab", "replace": false, "secrets": [{"id": "S", "project"?,
       "location"?, "labels"?, "replication"?, "versions": ["plain value", {"data": "v",
       "state": "DISABLED"}, {"data_b64": "...", "state": "ENABLED", "version": 7},
       {"state": "DESTROYED"}, {"data": "x", "client_crc": false}]}]}   versions number 1.. in
       order unless "version" is given (clientSpecifiedPayloadChecksum defaults to true);
       "versions": [] is a secret with no version; a preloaded id replaces an existing one.
  POST faults  [rule, ...] | {"rules": [...], "append": true}    (DELETE faults clears)
  GET  faults  the rules with their "fired" counts
       rule: match  "method", "path" (regex, re.search on the decoded path without query),
                    "query" (regex), "index" (int or list: the GSM request counter, 1-based),
                    "kind" (gsm|token|metadata|proxy), "listener" (tls|plain)
             action "status" (default when "status" is given): reply "status" (default 503)
                    with {"error":{"code","message","status"}}; "message", "error_status",
                    "headers" (e.g. {"Retry-After": "1"}), or a raw "body" + "content_type"
                    "reset_before": drop the connection (RST) before reading the body; no state change
                    "reset_after": process fully (state changes), then RST instead of replying
                    "delay": sleep "seconds", "when": "before" (default; before processing) or "after"
                    "html": Google-style HTML 404 page ("status" to change the code)
                    "chunked": this reply with chunked transfer encoding
                    "close_after": reply, then close the connection (FIN, keep-alive broken)
                    "truncate": headers with the full Content-Length, half the body, then FIN
             "times" (default 1; -1 = always), "delay" (seconds before any action), "rst"
             (false: FIN instead of RST for reset_*; true: RST for close_after/truncate)
       examples: {"method":"GET","path":":access$","status":503}
                 {"index":[1,2],"status":429,"headers":{"Retry-After":"0"}}
                 {"method":"POST","path":":addVersion$","action":"reset_after"}
                 {"path":"^/token$","status":500,"times":-1}
  POST register_key      {"client_email", "public_key_pem" | "private_key", "private_key_id"?}
                         or {"service_account": <service account JSON>}
  POST register_refresh  {"client_id", "client_secret", "refresh_token", "scope"?}
                         or {"authorized_user": <authorized_user JSON>}
  POST tokens            ["tok", ...] | {"add": [...], "remove": [...], "revoke_minted": true}
  GET|POST config        {"deny_projects": [...], "deny_permissions": {"ai-lab":
                         ["secretmanager.versions.access", "*"]}, "project_numbers": {"id": "num"},
                         "chunked": bool, "token_expires_in": 3599, "metadata_project": "ai-lab",
                         "metadata_token": bool (false: no service account, token 404),
                         "metadata_email": "...", "accept_google_aud": true}

Functions: gsm_start gsm_stop gsm_ctl gsm_state gsm_query gsm_value gsm_versions gsm_faults
  gsm_log gsm_make_sa_key gsm_make_authorized_user (each described where it is defined).
  FAKE_GSM_KEY_TYPE=ec makes P-256 certificates instead of RSA 2048; FAKE_GSM_KEEP=1 keeps
  FAKE_GSM_DIR after gsm_stop.

Secret Manager behaviour (global projects/P/secrets/... and projects/P/locations/L/secrets/...)
  P may be the id or the number; replies name projects/NUMBER/... . Bearer token checked
  first (401), then scope (403 without cloud-platform), then denials (403 "Permission 'X'
  denied for resource 'R' (or it may not exist)."), then validation (400), then existence.
  get/delete missing: 404 "Secret [NAME] not found."; access/version of a missing secret or
  latest of a secret with no version: 404 "Secret [NAME] not found or has no versions.";
  missing version N: 404 "Secret Version [NAME/versions/N] not found."; latest = highest
  number whatever its state; access of a non-ENABLED version: 400 FAILED_PRECONDITION
  "Secret Version [NAME/versions/N] is in DISABLED state."; create existing: 409
  ALREADY_EXISTS; create needs exactly one of replication.automatic/userManaged (global)
  and none (regional); unknown JSON fields and labels GSM refuses ([a-z][a-z0-9_-]{0,62})
  give 400; payload.data is standard or URL-safe base64 (replies use standard, padded);
  dataCrc32c (decimal string or number) is checked, a mismatch is 400; > 65536 bytes is
  400; versions list is newest first, {} when empty, "totalSize", pageSize/pageToken;
  disable/enable/destroy return the version (destroy wipes the data; a destroyed version
  cannot be enabled or disabled: 400). JSON replies are pretty-printed, with Google's
  headers (several Vary lines); unknown paths get Google's HTML 404 page.
Token endpoint POST /token (form or JSON): JWT bearer: RS256 signature checked against the
  registered keys of "iss" (kid preferred), aud = https://127.0.0.1:PORT/token,
  https://localhost:PORT/token or https://oauth2.googleapis.com/token (the latter is what
  gcloud sends; config accept_google_aud=false refuses it), iat < exp <= iat+3600, 5 min
  skew, non-empty scope (tokens without cloud-platform get 403 at GSM); target_audience
  without scope returns {"id_token"}. Errors: 400 invalid_grant ("Invalid JWT Signature.",
  "Invalid grant: account not found", "Invalid JWT: Failed audience check...", "Invalid
  JWT: Token must be a short-lived token (60 minutes)..."), 400 invalid_scope, 400
  unsupported_grant_type; refresh_token: 401 invalid_client (unknown client or secret),
  400 invalid_grant "Bad Request" (unknown refresh token).
Metadata (plain listener, header Metadata-Flavor: Google required, else 403):
  /computeMetadata/v1/instance/service-accounts/{default|EMAIL}/{token,email,scopes,identity}
  and .../{default|EMAIL}/?recursive=true, instance/service-accounts/, project/project-id,
  project/numeric-project-id, instance/zone, universe/universe-domain.
--state-dir DIR: the state (secrets, keys, tokens, config; not the log) is written to
  DIR/state.json after every change and read back at start, so a restarted fake keeps it.

fake_gsm.py options: --cert --key --port-file [--plain-port-file] [--state-dir] [--tokens FILE]
  [--deny-projects a,b] [--project-number ID=NUM] [--chunked] [--log FILE] [--quiet]
  [--tls-max 1.2|1.3] [--tls-min 1.2|1.3] [--idle-timeout S] [--parent-pid PID]
REFERENCE
