# Fuzz regressions: every committed fuzz input (tests/fuzz/regress: each one
# crashed or broke a property once; tests/fuzz/corpus: the seeds) replayed
# through its libFuzzer harness under ASan+UBSan. No fuzzing here: that is
# `make fuzz`. Needs clang's fuzzer runtime (.ci/deps installs libclang-rt-dev);
# without it the replay is skipped, and says so.
. "$(dirname "$0")/lib.sh"
cd "$T"

# the product itself on the parser regressions (under make check-sanitize: ASan too)
crashed=
for f in "$ROOT"/tests/fuzz/regress/yaml/* "$ROOT"/tests/fuzz/regress/json/*; do
    [ -f "$f" ] || continue
    "$SEEDSEC" -q check --existing "$f" > /dev/null 2>&1
    [ $? -lt 3 ] || crashed="$crashed ${f#"$ROOT"/}"
done
for f in "$ROOT"/tests/fuzz/regress/config/*; do
    [ -f "$f" ] || continue
    "$SEEDSEC" -c "$f" plan > /dev/null 2>&1
    [ $? -lt 3 ] || crashed="$crashed ${f#"$ROOT"/}"
done
check "seedsec exits 0, 1 or 2 on every parser regression input${crashed:+ (crashed:$crashed)}" [ -z "$crashed" ]
printf '{"apiVersion":"v1","kind":"Secret","metadata":{"name":""}}' > empty-name.json
expect_exit 2 "an empty JSON string as metadata.name (read past its end once)" \
    "$SEEDSEC" -q check --existing empty-name.json > /dev/null 2> empty-name.err
check "... is reported as a Secret without a name" \
    grep -q '^seedsec: empty-name.json: document 1 (line 1): Secret without metadata.name$' empty-name.err
printf '\357\273\277{"apiVersion":"v1","kind":"Secret","metadata":{"name":"hf-token"},"data":{"value":"aGZfeA=="}}' > bom.json
"$SEEDSEC" -q --enable hf render --existing bom.json > bom.out 2> bom.err
check "JSON with a leading BOM (PowerShell's redirect) is read" \
    [ "$($PY "$TESTS/values.py" get bom.out hf-token)" = hf_x ]
printf "secret_backend: ''\n" > empty-backend.yaml
"$SEEDSEC" -c empty-backend.yaml --json plan > plan.json 2> plan.err
ebrc=$?
check "an empty quoted config string reads as empty, not as absent (secret_backend: '' is refused at its line)" \
    eval '[ $ebrc = 2 ] && grep -q "empty-backend.yaml:1: secret_backend is empty" plan.err && [ ! -s plan.json ]'
printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' > probe.c
if ! clang -fsanitize=fuzzer,address,undefined probe.c -o probe > probe.err 2>&1; then
    pass "SKIPPED: clang's libFuzzer runtime is not available ($(head -n 1 probe.err)); install libclang-rt-dev"
    finish
    exit
fi
if ! make -s -C "$ROOT" fuzz-build > build.log 2>&1; then
    tail -n 20 build.log
    fail "the fuzz harnesses build (make fuzz-build)"
    finish
    exit
fi
pass "the fuzz harnesses build"
out=$(make -s -C "$ROOT" fuzz-replay 2>&1)
rc=$?
printf '%s\n' "$out" | sed 's/^/    /'
check "every regression and seed input replays clean through its harness" [ $rc = 0 ]
for d in "$ROOT"/tests/fuzz/regress/*/; do
    name=$(basename "$d")
    check "regress/$name has a harness (tests/fuzz/fuzz_$name.c)" [ -f "$ROOT/tests/fuzz/fuzz_$name.c" ]
done
finish
