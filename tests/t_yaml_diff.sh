# Differential: seedsec's YAML/JSON readers against PyYAML and python's json,
# through the observable path (render --existing), on values written in every
# style PyYAML emits plus hand-written edge cases (tests/yaml_diff.py).
. "$(dirname "$0")/lib.sh"
cd "$T"
out=$($PY "$TESTS/yaml_diff.py" "$SEEDSEC" "$T" 2>&1)
rc=$?
printf '%s\n' "$out" | grep '^FAIL' | head -n 40
check "every value reads as PyYAML/json read it ($(printf '%s\n' "$out" | tail -n 1))" [ $rc = 0 ]

# what the differential found, pinned
printf -- '--- {apiVersion: v1, kind: Secret, metadata: {name: hf-token}, stringData: {value: hf_flow}}\n--- {apiVersion: v1,\n  kind: Secret, metadata: {name: vllm-api-key}, data: {value: dmxsbQ==}}\n' > marker.yaml
"$SEEDSEC" -q --enable hf render --existing marker.yaml > marker.out 2> marker.err
check "a root on the '---' line (PyYAML's flow style) is read" \
    [ "$($PY "$TESTS/values.py" get marker.out hf-token)/$($PY "$TESTS/values.py" get marker.out vllm-api-key)" = hf_flow/vllm ]
printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: hf-token\nstringData:\n  value: '"'"'a \xe2\x80\xa9  b'"'"'\n' > ps.yaml
expect_exit 2 "U+2029 inside a quoted value (PyYAML reads a break there) is refused" \
    "$SEEDSEC" -q --enable hf render --existing ps.yaml > /dev/null 2> ps.err
check "... naming file, line and the escape to use" \
    grep -q '^seedsec: ps.yaml:6: U+2029 PARAGRAPH SEPARATOR, a line break to YAML 1.1 readers such as kubectl (in a double-quoted string write \\N, \\L, \\P or \\r)$' ps.err
printf 'features:\n  n8n: true # on\r  identity: true\n' > cr.yaml
expect_exit 2 "a config with a lone CR (PyYAML: a line break) is refused" \
    "$SEEDSEC" -c cr.yaml plan > /dev/null 2> cr.err
check "... at its line" grep -q '^seedsec: cr.yaml:2: a carriage return without a line feed' cr.err
finish
