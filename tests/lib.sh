# tests/lib.sh - sourced by every tests/t_*.sh
#   pass MSG | fail MSG           count one assertion
#   check MSG CMD...              pass if CMD succeeds
#   expect_exit N MSG CMD...      pass if CMD exits N
#   finish                        print the tally for tests/run.sh; last line of a test
# Environment: SEEDSEC (binary under test), PY (python with PyYAML and bcrypt),
# SHARED (../shared beside the clone), PLATFORM (real platform fixtures), T (temp dir).
set -u
: "${SEEDSEC:?set SEEDSEC to the binary under test}"
PY=/usr/bin/python3
TESTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$TESTS")
# shared/ sits beside the clone (CI); from a git worktree one level deeper, look further up
if [ -z "${SHARED:-}" ]; then
    for d in "$ROOT/../shared" "$ROOT/../../shared"; do
        if [ -d "$d/fixtures" ]; then SHARED=$(cd "$d" && pwd); break; fi
    done
    : "${SHARED:=$ROOT/../shared}"
fi
PLATFORM=$SHARED/fixtures/platform
CONFIG=$PLATFORM/config.yaml
T=$(mktemp -d "${TMPDIR:-/tmp}/seedsec-test.XXXXXX")
_cleanups=()
add_cleanup() { _cleanups+=("$*"); }
_run_cleanups() {
    local c
    for c in "${_cleanups[@]+"${_cleanups[@]}"}"; do eval "$c" || true; done
    rm -rf "$T"
}
trap _run_cleanups EXIT
# a clean environment for seedsec: no tokens, no config from the caller
unset CLOUDFLARE_API_TOKEN ANTHROPIC_API_KEY HF_TOKEN CFG ENV GOOGLE_APPLICATION_CREDENTIALS \
      CLOUDSDK_AUTH_ACCESS_TOKEN_FILE CLOUDSDK_CORE_PROJECT GOOGLE_CLOUD_PROJECT \
      CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER GCE_METADATA_HOST
npass=0
nfail=0
pass() { npass=$((npass + 1)); printf 'ok   %s\n' "$*"; }
fail() { nfail=$((nfail + 1)); printf 'FAIL %s\n' "$*"; }
check() {
    local msg=$1
    shift
    if "$@"; then pass "$msg"; else fail "$msg"; fi
}
expect_exit() {
    local want=$1 msg=$2 got
    shift 2
    "$@"
    got=$?
    if [ "$got" = "$want" ]; then pass "$msg (exit $want)"; else fail "$msg: exit $got, want $want"; fi
}
# no line of FILE (stderr capture) may contain any value of the rendered stream(s)
no_values_in() {
    local errfile=$1
    shift
    $PY "$TESTS/values.py" leak "$errfile" "$@"
}
finish() {
    echo "RESULT $npass $nfail"
    [ "$nfail" = 0 ]
}
