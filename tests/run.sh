#!/usr/bin/env bash
# Runs every tests/t_*.sh (or the ones named) and prints "N passed, M failed".
set -u
cd "$(dirname "$0")"
: "${SEEDSEC:?set SEEDSEC to the binary under test}"
export SEEDSEC
total_p=0 total_f=0 broken=()
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(t_*.sh)
for t in "${tests[@]}"; do
    echo "== $t"
    out=$(bash "$t" 2>&1)
    rc=$?
    printf '%s\n' "$out" | grep -v '^RESULT '
    res=$(printf '%s\n' "$out" | grep '^RESULT ' | tail -n 1)
    # a script may end with the plain "N passed, M failed" line instead
    [ -n "$res" ] || res=$(printf '%s\n' "$out" | sed -n 's/^\([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed$/RESULT \1 \2/p' | tail -n 1)
    if [ -z "$res" ]; then
        echo "FAIL $t stopped early (exit $rc)"
        broken+=("$t")
        total_f=$((total_f + 1))
        continue
    fi
    set -- $res
    total_p=$((total_p + $2))
    total_f=$((total_f + $3))
done
echo
[ ${#broken[@]} -eq 0 ] || echo "stopped early: ${broken[*]}"
echo "$total_p passed, $total_f failed"
[ "$total_f" -eq 0 ]
