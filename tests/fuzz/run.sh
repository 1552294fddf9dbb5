#!/bin/sh
# tests/fuzz/run.sh SECONDS|replay BINDIR NAME...
#   SECONDS: fuzz each harness BINDIR/fuzz_NAME for SECONDS, one after the other
#            (one process each: the machine is shared), then print its figures;
#   replay:  run each harness once over its committed inputs, no fuzzing.
# Seeds: tests/fuzz/corpus/NAME and tests/fuzz/regress/NAME (committed), plus for
# config and yaml the real platform files from $SHARED/fixtures/platform, copied
# into BINDIR (never committed). The growing corpus lives in BINDIR/corpus/NAME,
# crashes in BINDIR/artifacts/NAME/. Exit 1 if any harness failed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 3 ] || { echo "usage: run.sh SECONDS|replay BINDIR NAME..." >&2; exit 2; }
mode=$1 bindir=$2
shift 2
failed=
for name in "$@"; do
    bin=$bindir/fuzz_$name
    [ -x "$bin" ] || { echo "fuzz: $bin not built" >&2; failed="$failed $name"; continue; }
    seeds=
    for d in "$here/corpus/$name" "$here/regress/$name"; do
        [ -d "$d" ] && seeds="$seeds $d"
    done
    if [ "$mode" = replay ]; then
        files=$(find $seeds -type f 2>/dev/null | sort)
        n=$(printf '%s\n' "$files" | grep -c .)
        # shellcheck disable=SC2086
        if [ "$n" -eq 0 ] || "$bin" -close_fd_mask=3 $files >"$bindir/replay-$name.log" 2>&1; then
            echo "fuzz replay $name: $n inputs ok"
        else
            echo "fuzz replay $name: FAILED (log: $bindir/replay-$name.log)" >&2
            tail -n 30 "$bindir/replay-$name.log" >&2
            failed="$failed $name"
        fi
        continue
    fi
    shared_dir=$bindir/seed-shared/$name
    rm -rf "$shared_dir" && mkdir -p "$shared_dir"
    plat=${SHARED:-}/fixtures/platform
    if [ -d "$plat" ]; then
        case $name in
        config) cp "$plat"/config.yaml "$plat"/config-variants/*.yaml "$shared_dir"/ 2>/dev/null ;;
        yaml) cp "$plat"/config.yaml "$plat"/externalsecrets/*.yaml "$shared_dir"/ 2>/dev/null ;;
        esac
    fi
    work=$bindir/corpus/$name art=$bindir/artifacts/$name
    mkdir -p "$work" "$art"
    dict=
    [ -f "$here/$name.dict" ] && dict=-dict=$here/$name.dict
    log=$bindir/fuzz-$name.log
    echo "fuzz $name: ${mode}s (log: $log)"
    # shellcheck disable=SC2086
    "$bin" -max_total_time="$mode" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
        -close_fd_mask=3 -print_final_stats=1 -artifact_prefix="$art/" $dict \
        "$work" $seeds "$shared_dir" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -n 1)
    if [ $rc -ne 0 ]; then
        echo "fuzz $name: FAILED (exit $rc) after ${execs:-?} execs; artifacts in $art" >&2
        grep -E 'ERROR|SUMMARY|property failed|roundtrip:|Test unit written' "$log" | head -n 10 >&2
        failed="$failed $name"
    else
        echo "fuzz $name: ok, ${execs:-?} execs, ${rate:-?} exec/s, $cov"
    fi
done
[ -z "$failed" ] || { echo "fuzz: failed:$failed" >&2; exit 1; }
