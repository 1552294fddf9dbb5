#!/usr/bin/env bash
# seedsec push: where the access token and the project come from. A service-account key made
# here with openssl (RS256 JWT traded at the fake's /token), an authorized_user refresh token,
# the metadata server, token files; --project / config / environment / metadata; --location.
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
same() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: got [$3], want [$2]"; fi; }
q() { gsm_query "$1"; }
reset_fake() { gsm_ctl POST reset '{}' >/dev/null; }
printf '' >"$T/empty.yaml"
MASTER_ONLY="-c $CONFIG --disable identity,n8n,dns"
unset CLOUDSDK_AUTH_ACCESS_TOKEN_FILE

# a service-account key generated here with openssl, registered with the fake
gsm_make_sa_key "$T/sa.json" seedsec-test@ai-lab.iam.gserviceaccount.com
reset_fake
run sa $MASTER_ONLY --credentials "$T/sa.json" push
same "service account (--credentials): exit 0, 5 secrets" "0 5" "$rc $(q 'len(s["secrets"])')"
same "service account: one token from the fake /token (JWT bearer grant), every GSM call made with it" \
    "1 urn:ietf:params:oauth:grant-type:jwt-bearer True" \
    "$(q 'len(log("token"))') $(q 'log("token")[0]["grant_type"]') $(q 'all(e["auth"] == "sa:seedsec-test@ai-lab.iam.gserviceaccount.com" for e in log())')"
same "service account: JWT header RS256 with kid, claims iss/scope/aud/iat/exp (1 h)" \
    "RS256 0123456789abcdef seedsec-test@ai-lab.iam.gserviceaccount.com https://www.googleapis.com/auth/cloud-platform $FAKE_GSM_TOKEN_URL 3600" \
    "$(q '" ".join(str(x) for x in [log("token")[0]["jwt"]["header"]["alg"], log("token")[0]["jwt"]["header"].get("kid"), log("token")[0]["jwt"]["claims"]["iss"], log("token")[0]["jwt"]["claims"]["scope"], log("token")[0]["jwt"]["claims"]["aud"], log("token")[0]["jwt"]["claims"]["exp"] - log("token")[0]["jwt"]["claims"]["iat"]])')"
reset_fake
GOOGLE_APPLICATION_CREDENTIALS=$T/sa.json run sa2 $MASTER_ONLY push
same "service account via GOOGLE_APPLICATION_CREDENTIALS: exit 0" "0 1" "$rc $(q 'len(log("token"))')"
check "service account: no key material or token on stderr" bash -c \
    "! grep -qE 'PRIVATE KEY|ya29|eyJ' '$T/sa.err' '$T/sa2.err'"
# a key the token endpoint does not know
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null >"$T/other.pem"
$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); d["private_key"]=open(sys.argv[2]).read(); json.dump(d, open(sys.argv[3],"w"))' \
    "$T/sa.json" "$T/other.pem" "$T/sa-bad.json"
reset_fake
run sa3 $MASTER_ONLY --credentials "$T/sa-bad.json" push
same "service account with an unknown key: exit 2, nothing created" "2 0" "$rc $(q 'len(s["secrets"])')"
check "unknown key: the token endpoint's reason is shown" grep -q "the token request was refused: HTTP 400 invalid_grant: Invalid JWT Signature" "$T/sa3.err"

# authorized_user: refresh-token grant
gsm_make_authorized_user "$T/user.json"
reset_fake
run au $MASTER_ONLY --credentials "$T/user.json" push
same "authorized_user: exit 0 with a refresh-token grant" "0 refresh_token" "$rc $(q 'log("token")[0]["grant_type"]')"
check "authorized_user: the refresh token is not on stderr" bash -c \
    "! grep -qF -- \"\$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"refresh_token\"])' '$T/user.json')\" '$T/au.err'"
echo '{"type": "external_account"}' >"$T/ext.json"
run au2 $MASTER_ONLY --credentials "$T/ext.json" push
same "unsupported credentials type: exit 2" "2" "$rc"
check "unsupported credentials type: says which" grep -q 'type "external_account" is not supported' "$T/au2.err"

# gcloud's application-default credentials ($CLOUDSDK_CONFIG, else ~/.config/gcloud): used
# when no token file or credentials file is named, before the metadata server
mkdir -p "$T/adc" "$T/home/.config/gcloud"
cp "$T/user.json" "$T/adc/application_default_credentials.json"
reset_fake
CLOUDSDK_CONFIG=$T/adc GCE_METADATA_HOST=$FAKE_GSM_METADATA_HOST run adc $MASTER_ONLY push
same "application-default credentials in \$CLOUDSDK_CONFIG: exit 0, refresh-token grant, no metadata call" \
    "0 refresh_token 0" "$rc $(q 'log("token")[0]["grant_type"]') $(q 'len(log("metadata"))')"
cp "$T/user.json" "$T/home/.config/gcloud/application_default_credentials.json"
reset_fake
(unset CLOUDSDK_CONFIG; HOME=$T/home GCE_METADATA_HOST=$FAKE_GSM_METADATA_HOST run adc2 $MASTER_ONLY push; echo "$rc" >"$T/adc2.rc")
same "application-default credentials in ~/.config/gcloud: exit 0, refresh-token grant" \
    "0 refresh_token" "$(cat "$T/adc2.rc") $(q 'log("token")[0]["grant_type"]')"
reset_fake
CLOUDSDK_CONFIG=$T/adc run adc3 $MASTER_ONLY --credentials "$T/sa.json" push
same "--credentials wins over the application-default file" "0 urn:ietf:params:oauth:grant-type:jwt-bearer" \
    "$rc $(q 'log("token")[0]["grant_type"]')"
echo '{"type": "authorized_user", "client_id": "x"}' >"$T/adc/application_default_credentials.json"
CLOUDSDK_CONFIG=$T/adc run adc4 $MASTER_ONLY push
same "a broken application-default file: exit 2, named" "2 1" \
    "$rc $(grep -c "credentials file $T/adc/application_default_credentials.json: no \"client_secret\"" "$T/adc4.err")"

# the metadata server: token and project
reset_fake
GCE_METADATA_HOST=$FAKE_GSM_METADATA_HOST run md -c "$T/empty.yaml" push
same "metadata server: token and project (no config project): exit 0, 5 secrets in ai-lab" "0 5 metadata" \
    "$rc $(q 'len([x for x in s["secrets"] if x["project"] == "ai-lab"])') $(q 'log()[0]["auth"]')"
check "metadata server: asked with Metadata-Flavor: Google" \
    test "$(q 'all(e["headers"].get("metadata-flavor") == "Google" for e in log("metadata"))')" = True
GCE_METADATA_HOST=127.0.0.1:1 run md2 -c "$T/empty.yaml" --project ai-lab push
same "no credentials and no metadata server: exit 2" "2" "$rc"
check "no credentials: the message lists the ways to give some" grep -q "no Google credentials: .*pass --token-file or --credentials" "$T/md2.err"

# token files
export CLOUDSDK_AUTH_ACCESS_TOKEN_FILE=$FAKE_GSM_TOKEN_FILE
printf '\xef\xbb\xbf%s\r\n' "$FAKE_GSM_TOKEN" >"$T/tok-win"
reset_fake
run tf $MASTER_ONLY --token-file "$T/tok-win" push
same "--token-file saved on Windows (BOM, CRLF): exit 0" "0" "$rc"
printf 'not a token at all\n' >"$T/tok-bad"
run tf2 $MASTER_ONLY --token-file "$T/tok-bad" push
same "a token file with spaces: exit 2" "2" "$rc"
check "a bad token file: its content is not echoed" bash -c "! grep -q 'not a token at all' '$T/tf2.err'"

# project: --project over the config, the environment when the config has none
reset_fake
run p1 $MASTER_ONLY --project other-proj push
same "--project wins over cluster.projectID" "0 5" "$rc $(q 'len([x for x in s["secrets"] if x["project"] == "other-proj"])')"
reset_fake
CLOUDSDK_CORE_PROJECT=env-proj GOOGLE_CLOUD_PROJECT=nope run p2 -c "$T/empty.yaml" push
same "CLOUDSDK_CORE_PROJECT when the config has none (before GOOGLE_CLOUD_PROJECT)" "0 5" "$rc $(q 'len([x for x in s["secrets"] if x["project"] == "env-proj"])')"
reset_fake
GOOGLE_CLOUD_PROJECT=gcp-proj run p3 -c "$T/empty.yaml" push
same "GOOGLE_CLOUD_PROJECT last" "0 5" "$rc $(q 'len([x for x in s["secrets"] if x["project"] == "gcp-proj"])')"

# regional: --location, no replication in the create body
reset_fake
run loc $MASTER_ONLY --location us-central1 push
same "--location us-central1: regional secrets, created without replication, labelled" \
    "0 5 True" "$rc $(q 'len([x for x in s["secrets"] if x["location"] == "us-central1"])') $(q 'all(e["body"] == {"labels": {"managed-by": "seedsec"}} for e in log() if e["method"] == "POST" and e["path"].endswith("/secrets"))')"
run loc2 $MASTER_ONLY --location us-central1 push
same "--location: second run EXISTS, no new version" "0 5" "$rc $(grep -c '^EXISTS' "$T/loc2.err")"
run loc3 $MASTER_ONLY --location 'Bad/Loc' push
same "--location with a bad name: exit 2" "2" "$rc"
run ep $MASTER_ONLY --endpoint "http://127.0.0.1:$FAKE_GSM_PLAIN_PORT/" push
same "a plain http:// endpoint is refused" "2" "$rc"
check "plain endpoint: says https only" grep -q "https:// only" "$T/ep.err"

finish
