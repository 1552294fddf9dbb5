# bcrypt (EksBlowfish written in seedsec.c): published vectors, two other implementations.
. "$(dirname "$0")/lib.sh"
cd "$T"

# published vectors (OpenBSD / Openwall crypt_blowfish test set), cost 5
vec() {  # password hash
    if printf '%s' "$1" | "$SEEDSEC" bcrypt --verify "$2" 2>/dev/null; then pass "vector '${1:0:12}' verifies"
    else fail "vector '$1' does not verify"; fi
}
vec 'U*U' '$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW'
vec 'U*U*' '$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK'
vec 'U*U*U' '$2a$05$XXXXXXXXXXXXXXXXXXXXXOAcXxm9kjPGEMsLznoKqmqw7tc8WCx4a'
vec '' '$2a$05$CCCCCCCCCCCCCCCCCCCCC.7uG0VCzI2bS7j6ymqJi9CdcdxiRTWNy'
vec '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789chars after 72 are ignored' \
    '$2a$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui'
printf 'U*U' | "$SEEDSEC" bcrypt --verify '$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeX' 2>/dev/null
check "a changed hash does not verify (exit 1)" [ $? = 1 ]
printf 'U*V' | "$SEEDSEC" bcrypt --verify '$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW' 2>/dev/null
check "a wrong password does not verify (exit 1)" [ $? = 1 ]

# --verify with something that is not a bcrypt hash: exit 2, saying why (never "mismatch")
badhash() {  # HASH EXPECTED-MESSAGE-PART
    printf 'U*U' | timeout 20 "$SEEDSEC" bcrypt --verify "$1" > bh.out 2> bh.err
    local rc=$?
    if [ $rc = 2 ] && grep -qF -- "$2" bh.err && ! grep -q mismatch bh.err && [ "$(wc -l < bh.err)" = 1 ] && [ ! -s bh.out ]; then
        pass "--verify '${1:0:16}': exit 2, says: $2"
    else
        fail "--verify '$1': rc=$rc $(cat bh.err)"
    fi
}
badhash garbage 'not a bcrypt hash: it does not start with $2a$, $2b$ or $2y$ and a two-digit cost (in double quotes a shell expands'
badhash '' 'the hash is empty, not a bcrypt hash'
badhash '$2a$10$short' 'not a bcrypt hash: 12 characters, a bcrypt hash has 60'
badhash "y0$(printf 'C%.0s' $(seq 58))" 'put the hash in single quotes'
badhash '$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW ' '61 characters, a bcrypt hash has 60 (check for surrounding whitespace)'
badhash '$2a$05$CCCCCCCCCCCCCCCCCCCC!.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW' "character 28 is outside bcrypt's alphabet"
badhash '$2a$03$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW' "cost 3 is outside bcrypt's 4..31"
badhash '$2a$31$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW' 'the hash has cost 31, which Dex refuses (it accepts 10..16); not checked'
badhash '$2a$17$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW' 'the hash has cost 17, which Dex refuses'
h16=$($PY -c 'import bcrypt; print(bcrypt.hashpw(b"sixteen", bcrypt.gensalt(16, b"2a")).decode())')
printf 'sixteen' | "$SEEDSEC" bcrypt --verify "$h16" 2>/dev/null; check "cost 16 (Dex's maximum) still verifies" [ $? = 0 ]

# hashes from seedsec checked by python3-bcrypt and htpasswd -v
for pw in 'correct horse' 'pässwörd' 'x' "$(printf 'a%.0s' $(seq 80))"; do
    h=$(printf '%s' "$pw" | "$SEEDSEC" bcrypt -C 10)
    $PY -c 'import bcrypt,sys; sys.exit(0 if bcrypt.checkpw(sys.argv[1].encode(), sys.argv[2].encode()) else 1)' "$pw" "$h" \
        && pass "python3-bcrypt verifies seedsec's hash (${#pw} chars)" || fail "python3-bcrypt rejects hash for '$pw'"
    if [ ${#pw} -le 72 ]; then
        printf 'user:%s\n' "$h" > ht
        htpasswd -vb ht user "$pw" >/dev/null 2>&1 && pass "htpasswd -v verifies seedsec's hash" || fail "htpasswd -v rejects hash for '$pw'"
    fi
done
# the other way: hashes from python3-bcrypt and htpasswd verified by seedsec
h=$($PY -c 'import bcrypt; print(bcrypt.hashpw(b"from-python", bcrypt.gensalt(10)).decode())')
printf 'from-python' | "$SEEDSEC" bcrypt --verify "$h" 2>/dev/null; check "seedsec verifies a python3-bcrypt \$2b\$ hash" [ $? = 0 ]
h=$(htpasswd -nbBC 10 u from-htpasswd | cut -d: -f2)
printf 'from-htpasswd' | "$SEEDSEC" bcrypt --verify "$h" 2>/dev/null; check "seedsec verifies an htpasswd \$2y\$ hash" [ $? = 0 ]

h=$(printf 'pw' | "$SEEDSEC" bcrypt)
check "default cost 12, \$2a\$, 60 characters" [ "${h:0:7}" = '$2a$12$' -a ${#h} = 60 ]
printf 'pw' | "$SEEDSEC" bcrypt -C 4 > /dev/null 2> c4.err
check "cost 4 refused, naming Dex's 10..16" [ $? = 2 ] && grep -q '10..16' c4.err
h=$(printf 'pw\n' | "$SEEDSEC" bcrypt -C 10)
printf 'pw' | "$SEEDSEC" bcrypt --verify "$h" 2>/dev/null; check "one trailing newline on stdin is not part of the password" [ $? = 0 ]
printf '' | "$SEEDSEC" bcrypt > /dev/null 2>&1; check "empty password refused" [ $? = 2 ]
# a hash that cannot be written is a failure, as for every other command
printf 'pw' | "$SEEDSEC" bcrypt -C 10 > /dev/full 2> full.err
rc=$?
check "bcrypt > /dev/full: exit 2, one line saying can't write to standard output" \
    eval '[ $rc = 2 ] && [ "$(cat full.err)" = "seedsec: can'"'"'t write to standard output: No space left on device" ]'
# no echo on a terminal: run under script(1) and look at what the terminal showed
if command -v script > /dev/null; then
    { sleep 0.5; printf 'hunter2-secret\n'; } | script -qfc "$SEEDSEC bcrypt -C 10" /dev/null > tty.out 2>&1
    check "terminal: prompt shown, password not echoed, hash printed" grep -q 'Password:' tty.out && ! grep -q hunter2-secret tty.out && grep -q '\$2a\$10\$' tty.out
fi
finish
