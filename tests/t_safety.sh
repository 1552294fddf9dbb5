# What a careless or hostile environment must not get past (found by a break-it pass).
. "$(dirname "$0")/lib.sh"
cd "$T"
V="$PY $TESTS/values.py"
S="$SEEDSEC --enable identity --bcrypt-cost 10"

# -h and -V fail like any other output that cannot be written
for a in -h --help -V --version; do
    "$SEEDSEC" $a > /dev/full 2> full.err
    rc=$?
    check "$a > /dev/full: exit 2, says it can't write to standard output" \
        eval '[ $rc = 2 ] && [ "$(cat full.err)" = "seedsec: can'"'"'t write to standard output: No space left on device" ]'
done
"$SEEDSEC" --help > help.out
rc=$?
check "--help to a file: exit 0, the usage text" eval '[ $rc = 0 ] && grep -q "^usage: seedsec" help.out'
"$SEEDSEC" -V > version.out
rc=$?
check "-V to a file: exit 0, one line with both versions" eval '[ $rc = 0 ] && grep -qx "seedsec [0-9.]* (Mbed TLS [0-9.]*)" version.out'

# a --state that is a symlink (to a directory) is refused, and the message says so
mkdir -m 700 realstate && ln -s realstate linkstate
$S render --state linkstate -o ls.yaml 2> ls.err
rc=$?
check "--state LINK-TO-DIR: exit 2, says it is a symbolic link and refused; nothing written" \
    eval '[ $rc = 2 ] && grep -qx "seedsec: --state linkstate is a symbolic link; refused (it holds the Dex admin password: give the directory itself)" ls.err && [ ! -e ls.yaml ] && [ -z "$(ls -A realstate)" ]'

# the Dex password mirror is trusted only if it is ours, private and not a symlink
mkdir -m 700 s1 && ln -s /etc/hostname s1/dex-admin-password
$S render --state s1 > o1.yaml 2> e1.txt
check "a symlinked mirror is refused (exit 2, nothing printed)" [ $? = 2 ] && [ ! -s o1.yaml ] && grep -q 'symlink' e1.txt
mkdir -m 700 s2 && printf 'abcdefgh' > s2/dex-admin-password && chmod 644 s2/dex-admin-password
$S render --state s2 > o2.yaml 2> e2.txt
check "a mirror readable by others is refused" [ $? = 2 ] && grep -q 'mode 644' e2.txt
mkdir -m 777 s3
$S render --state s3 > o3.yaml 2> e3.txt
check "a state dir writable by others is refused before any output" [ $? = 2 ] && [ ! -s o3.yaml ] && grep -q 'writable by others' e3.txt
printf 'x' > notadir
$S render --state notadir -o o4.yaml 2> e4.txt
check "an unusable --state fails before -o is written" [ $? = 2 ] && [ ! -e o4.yaml ]
mkdir -m 700 s5 && (umask 077; printf 'pass word' > s5/dex-admin-password)
$S render --state s5 > o5.yaml 2> e5.txt
check "a mirror value that breaks the rules is refused, not used" [ $? = 2 ] && grep -q 'whitespace' e5.txt && ! grep -q 'pass word' e5.txt

# no documents in --existing is not "no earlier values"
true | "$SEEDSEC" render --existing - > o6.yaml 2> e6.txt
check "an empty --existing stream is an error (write-once keys are never made anew)" [ $? = 2 ] && [ ! -s o6.yaml ]
printf '# only a comment\n---\n' > empty.yaml
expect_exit 2 "a comment-only --existing file is an error too" "$SEEDSEC" render --existing empty.yaml

# rewriting the --existing file in place must not drop what seedsec does not carry
"$SEEDSEC" render > base.yaml 2>/dev/null
cp base.yaml plus.yaml
printf -- '---\napiVersion: v1\nkind: Secret\nmetadata: {name: secret-store-key}\ndata: {value: YQ==}\n' >> plus.yaml
cp plus.yaml plus.orig
"$SEEDSEC" render --existing plus.yaml -o plus.yaml > /dev/null 2> e7.txt
check "in-place rewrite that would drop a foreign Secret: exit 2, file untouched" [ $? = 2 ] && cmp -s plus.yaml plus.orig && grep -q 'secret-store-key\|outside the contract' e7.txt
$PY - base.yaml > extra.yaml <<'P'
import sys, yaml
ds = list(yaml.safe_load_all(open(sys.argv[1])))
ds[0]["data"]["username"] = "bGl0ZWxsbQ=="
print(yaml.safe_dump_all(ds), end="")
P
"$SEEDSEC" render --existing extra.yaml -o extra.yaml > /dev/null 2> e8.txt
check "in-place rewrite that would drop an extra data key: exit 2" [ $? = 2 ] && grep -q 'data keys besides the property' e8.txt
"$SEEDSEC" render --existing extra.yaml -o other.yaml > /dev/null 2>&1
check "writing to another file is fine" [ $? = 0 ] && $V same base.yaml other.yaml

# data and stringData both: stringData wins, as in Kubernetes
printf 'apiVersion: v1\nkind: Secret\nmetadata: {name: litellm-salt-key}\ndata: {value: U0FMVDE=}\nstringData: {value: SALT2}\n' > both.yaml
"$SEEDSEC" render --existing both.yaml > both.out 2> both.err
check "stringData wins over data, with a warning" [ "$($V get both.out litellm-salt-key)" = SALT2 ] && grep -q 'stringData wins' both.err

# an operator's value for a generated key is used, but its rule breaks are said
printf 'p@ss:w/rd' > dbpw.txt
"$SEEDSEC" render --value litellm-db-password=@dbpw.txt > dbpw.out 2> dbpw.err
check "--value breaking a rule: used, warned" [ "$($V get dbpw.out litellm-db-password)" = 'p@ss:w/rd' ] && grep -q 'litellm-db-password must be \[A-Za-z0-9\] only' dbpw.err
: > empty.txt
"$SEEDSEC" --enable hf render --value hf-token=@empty.txt > /dev/null 2> ev.err
check "an empty value file is said to be empty" grep -q 'the file is empty; hf-token is not provided' ev.err

# standard input is read once
echo hf_abc | "$SEEDSEC" render --value hf-token=@- --value cloudflare-api-token=@- > /dev/null 2> si.err
check "@- twice is refused" [ $? = 2 ] && grep -q 'read only once' si.err
echo x | "$SEEDSEC" render --existing - --value hf-token=@- > /dev/null 2>&1
check "--existing - with @- is refused" [ $? = 2 ]

# a typo in ENV is not "no config"
mkdir -p environments/prod && printf 'features: {n8n: true}\n' > environments/prod/config.yaml
ENV=prdo "$SEEDSEC" render > /dev/null 2> env.err
check "ENV naming a missing environment: exit 2" [ $? = 2 ] && grep -q 'ENV=prdo' env.err
rm -rf environments
"$SEEDSEC" render > /dev/null 2> note.err
check "no config at all: a NOTE says so" grep -q '^NOTE no config' note.err

# invisible characters in a provided value
printf 'hf_ab\xc2\xa0cd' > nbsp.txt
"$SEEDSEC" --value hf-token=@nbsp.txt render > /dev/null 2> nbsp.err
check "a no-break space inside a token is an error with its offset" [ $? = 2 ] && grep -q 'invisible character at byte 5' nbsp.err
printf 'hf_ab\xe2\x80\x8bcd' > zwsp.txt
expect_exit 2 "a zero-width space too" "$SEEDSEC" --value hf-token=@zwsp.txt render

# options that mean nothing to a command are refused, not ignored
"$SEEDSEC" plan -o plan.txt > /dev/null 2> opt.err
check "plan -o is refused" [ $? = 2 ] && [ ! -e plan.txt ] && grep -q -- '--output means nothing to plan' opt.err
expect_exit 2 "render --cert is refused" "$SEEDSEC" render --cert x.pem
expect_exit 2 "contract --format json is refused" "$SEEDSEC" contract --format json
expect_exit 2 "--property ..foo is refused" "$SEEDSEC" render --property ..foo
printf 'dns:\n  automate: true\n  provider: Cloudflare\n' > dnsc.yaml
"$SEEDSEC" -c dnsc.yaml plan > /dev/null 2> dnsc.err
check "dns.provider with an unknown value is an error with FILE:LINE" [ $? = 2 ] && grep -q 'dnsc.yaml:3: dns.provider' dnsc.err

# a file name (or any input) with control bytes cannot end a message early or forge a
# status line: every message stays one line, the bytes shown as \xNN
evil=$'nope\nCREATED litellm-master-key\r\e[2K'
"$SEEDSEC" -c "$evil" render > /dev/null 2> evil.err
check "a file name with a newline: still one line on stderr, exit 2" [ $? = 2 ] && [ "$(wc -l < evil.err)" = 1 ]
check "... the bytes written as \\xNN" grep -qF 'nope\x0aCREATED litellm-master-key\x0d\x1b[2K' evil.err
check "... and no line of its own starts with CREATED" bash -c '! grep -q "^CREATED" evil.err'
mkdir -p "$evil.d"
"$SEEDSEC" patch "$evil.d" > /dev/null 2> evil2.err
check "patch on a directory named with a newline: one line" [ "$(wc -l < evil2.err)" = 1 ]

# a file size limit (ulimit -f) hit while writing: an error naming the file, exit 2, no output
# and no temp file left behind (SIGXFSZ would otherwise kill seedsec mid-write)
mkdir -p fsz
(ulimit -f 1; "$SEEDSEC" --all --state fsz/st --bcrypt-cost 10 render -o fsz/out.yaml > /dev/null 2> fsz.err; echo $? > fsz.rc)
check "ulimit -f 1: exit 2, 'File too large' named, no output, no temp file" \
    eval '[ "$(cat fsz.rc)" = 2 ] && grep -q "fsz/out.yaml.tmp-.*File too large" fsz.err && [ -z "$(ls fsz | grep -v "^st$")" ]'

finish
