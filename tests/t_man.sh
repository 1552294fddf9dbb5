# seedsec.1 keeps up with seedsec.c: every command of commands[], every option of
# optdefs[] and every environment variable the program reads has its own entry;
# mandoc finds nothing to warn about; make install puts the binary and the page in place.
. "$(dirname "$0")/lib.sh"
cd "$T"
SRC=$ROOT/seedsec.c
MAN=$ROOT/seedsec.1

# the text of one section (.Sh NAME up to the next .Sh)
section() { awk -v s="$1" '/^\.Sh /{on = ($0 == ".Sh " s); next} on' "$MAN"; }
# the body of a C table: from "NAME[] = {" to the closing "};"
table() { awk -v t="$1" 'index($0, t "[] = {"){on = 1; next} on && /^};/{exit} on' "$SRC"; }

section COMMANDS > commands.man
section OPTIONS > options.man
section ENVIRONMENT > env.man
table commands | grep -o '{"[a-z-]*", cmd_' | cut -d'"' -f2 > commands.src
table optdefs | grep -o "{\"[a-z-]*\", \('.'\|0\)" | sed "s/{\"\([a-z-]*\)\", \(.*\)/\1 \2/" > options.src
{ grep -o 'getenv("[A-Z_]*")' "$SRC" | cut -d'"' -f2
  grep -o '^KEY(.*' "$ROOT/contract.def" | grep -o '"[A-Z_]*",' | tr -d '",'; } | sort -u > env.src
check "found the tables in seedsec.c (10 commands, 30+ options)" \
    [ "$(wc -l < commands.src)" -ge 10 -a "$(wc -l < options.src)" -ge 30 ]

missing=
while read -r c; do
    grep -Eq "^\.It Cm $c( |$)" commands.man || missing="$missing $c"
done < commands.src
check "every command has an entry under COMMANDS${missing:+ (missing:$missing)}" [ -z "$missing" ]

missing=
while read -r lng shrt; do
    grep -Eq "^\.It .*Fl -$lng( |$)" options.man || missing="$missing --$lng"
    if [ "$shrt" != 0 ]; then
        s=${shrt//\'/}
        grep -Eq "^\.It .*Fl $s( |$).*Fl -$lng( |$)" options.man || missing="$missing -$s"
    fi
done < options.src
check "every option (long and short form) has an entry under OPTIONS${missing:+ (missing:$missing)}" [ -z "$missing" ]

missing=
while read -r e; do
    grep -Eq "^\.It .*Ev( [A-Z_]+ ,)* $e( |$)" env.man || missing="$missing $e"
done < env.src
for e in SSL_CERT_FILE SSL_CERT_DIR HTTPS_PROXY NO_PROXY GCE_METADATA_HOST \
    CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER CLOUDSDK_AUTH_ACCESS_TOKEN_FILE \
    GOOGLE_APPLICATION_CREDENTIALS CLOUDSDK_CORE_PROJECT GOOGLE_CLOUD_PROJECT; do
    grep -Eq "^\.It .*Ev( [A-Z_]+ ,)* $e( |$)" env.man || missing="$missing $e"
done
check "every environment variable has an entry under ENVIRONMENT${missing:+ (missing:$missing)}" [ -z "$missing" ]

# --help lists every option too, a short form beside its long one ("-n, --namespace")
"$SEEDSEC" --help > help.txt
missing=
while read -r lng shrt; do
    grep -Eq -- "--$lng([ =,]|$)" help.txt || missing="$missing --$lng"
    if [ "$shrt" != 0 ]; then
        s=${shrt//\'/}
        grep -Eq -- "(^| )-$s, --$lng( |$)" help.txt || missing="$missing -$s"
    fi
done < options.src
check "--help lists every option, each short form as '-x, --long'${missing:+ (missing:$missing)}" [ -z "$missing" ]
check "--help: -C is not described as the bcrypt command's alone" \
    eval '! grep -q "same, for the bcrypt command" help.txt && grep -A1 -- "-C, --bcrypt-cost" help.txt | grep -q "render, seal, push"'

# what the page says about defaults agrees with the code
check "OPTIONS: --project falls back to the metadata server (as the code does)" \
    eval 'awk "/^\.It Fl -project/{on=1;next} /^\.It /{on=0} on" "$MAN" | grep -q "metadata server"'
check "ENV: a set ENV without its config file is an error, not built-in defaults" \
    eval 'section ENVIRONMENT | awk "/^\.It Ev ENV\$/{on=1;next} /^\.It /{on=0} on" | grep -q "stops with an error" && awk "/^\.It Fl c /{on=1;next} /^\.It /{on=0} on" "$MAN" | grep -q "names no existing config file is an error"'

for s in "EXIT STATUS" FILES EXAMPLES "SECURITY CONSIDERATIONS"; do
    check "section $s is there" [ -n "$(section "$s")" ]
done
check "the three exit codes are documented" \
    [ "$(section "EXIT STATUS" | grep -cE '^\.It [012]$')" = 3 ]

if command -v mandoc > /dev/null; then
    mandoc -T lint -W warning "$MAN" > lint.out 2>&1
    check "mandoc -T lint -W warning: clean" [ $? = 0 -a ! -s lint.out ] || cat lint.out
    mandoc -T ascii "$MAN" > page.txt 2>&1
    check "the page renders (mandoc -T ascii)" grep -q 'seedsec push' page.txt
fi

# make install: binary and man page under PREFIX (and DESTDIR); ./seedsec is taken as built
if [ -x "$ROOT/seedsec" ]; then
    make -s -C "$ROOT" -o seedsec install PREFIX="$T/inst" > install.out 2>&1
    check "make install PREFIX=... succeeds" [ $? = 0 ] || cat install.out
    check "installs bin/seedsec (mode 755) and share/man/man1/seedsec.1" \
        [ "$(stat -c %a "$T/inst/bin/seedsec" 2>/dev/null)" = 755 -a -f "$T/inst/share/man/man1/seedsec.1" ]
    check "the installed binary runs" "$T/inst/bin/seedsec" --version
    check "the installed page is seedsec.1" cmp -s "$MAN" "$T/inst/share/man/man1/seedsec.1"
    make -s -C "$ROOT" -o seedsec install PREFIX=/usr DESTDIR="$T/dest" > install.out 2>&1
    check "make install DESTDIR=... PREFIX=/usr stages under DESTDIR" \
        [ -x "$T/dest/usr/bin/seedsec" -a -f "$T/dest/usr/share/man/man1/seedsec.1" ]
else
    fail "no $ROOT/seedsec to install (make builds it)"
fi
finish
