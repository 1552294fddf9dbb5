#!/usr/bin/env bash
# Fault matrix for push (issue #8): at every GSM request index of a clean full push of the
# real config, each fault kind (reset before/after processing, 500, 503, 429, a stall past
# --timeout, SIGKILL of seedsec before/after the fake processed the request), then a clean
# re-run: every key converges to exactly one ENABLED version, nothing existing changes.
# The scenarios run in tests/push_matrix.py, one fake GSM per worker.
#   MATRIX_KINDS=a,b        only these kinds (default: all eight)
#   MATRIX_INDICES=1-5,40   only these request indices (default: all)
#   MATRIX_WORKERS=N        parallel workers, one fake each (default 4)
. "$(dirname "$0")/lib.sh"
. "$TESTS/gsm_env.sh"
workers=${MATRIX_WORKERS:-4}
fakes=()
for ((w = 0; w < workers; w++)); do
    gsm_start || { echo "RESULT 0 1"; exit 1; }
    add_cleanup "FAKE_GSM_PID=$FAKE_GSM_PID FAKE_GSM_DIR=$FAKE_GSM_DIR gsm_stop"
    fakes+=(--fake "$FAKE_GSM_URL" "$FAKE_GSM_CONTROL" "$FAKE_GSM_CA" "$FAKE_GSM_TOKEN_FILE")
done
FAKE_GSM_PID= FAKE_GSM_DIR=
t0=$(date +%s)
$PY "$TESTS/push_matrix.py" --seedsec "$SEEDSEC" --config "$CONFIG" --work "$T" "${fakes[@]}" \
    --expect-requests 48 ${MATRIX_KINDS:+--kinds "$MATRIX_KINDS"} \
    ${MATRIX_INDICES:+--indices "$MATRIX_INDICES"} >"$T/matrix.out" 2>"$T/matrix.err"
rc=$?
while IFS= read -r line; do
    case $line in
    "ok   "*) pass "${line#ok   }" ;;
    "FAIL "*) fail "${line#FAIL }" ;;
    *) echo "$line" ;;
    esac
done <"$T/matrix.out"
[ -s "$T/matrix.err" ] && { fail "push_matrix.py stderr:"; cat "$T/matrix.err"; }
grep -q '^# [0-9]* scenarios' "$T/matrix.out" || fail "push_matrix.py stopped early (exit $rc)"
echo "# matrix wall time $(($(date +%s) - t0)) s"
finish
