#!/bin/sh
# vendor/fetch.sh DESTFILE -- put the pinned Mbed TLS source tarball at DESTFILE.
#
# Where the tarball comes from, first that applies:
#   1. $MBEDTLS_TARBALL, a path the user gives (e.g. `make MBEDTLS_TARBALL=...`);
#   2. DESTFILE itself, when it is already there with the pinned hash (cache);
#   3. Debian's source package, through the host's own configured Debian mirror:
#      a deb-src entry for suite trixie that reuses the URI of the host's Debian
#      entry, in a private apt state directory (the host's sources, lists and
#      caches are left untouched), then `apt-get source --download-only`.
# The SHA-256 from vendor/mbedtls.pin is checked before DESTFILE is written.
# Errors: one line on stderr, exit 2.
set -eu

die() { printf 'fetch.sh: %s\n' "$*" >&2; exit 2; }

if [ $# -ne 1 ] || [ -z "$1" ]; then die "usage: sh vendor/fetch.sh DESTFILE"; fi
dest=$1
here=$(cd "$(dirname "$0")" && pwd) || die "cannot find the vendor directory"
[ -r "$here/mbedtls.pin" ] || die "missing $here/mbedtls.pin"
# shellcheck source=vendor/mbedtls.pin
. "$here/mbedtls.pin"

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    elif command -v shasum >/dev/null 2>&1; then
        shasum -a 256 "$1" | cut -d' ' -f1
    else
        openssl dgst -sha256 -r "$1" | cut -d' ' -f1
    fi
}

# install_verified SRC [NAME]: check the pinned hash, then copy SRC to DESTFILE atomically.
install_verified() {
    got=$(sha256_of "$1") || die "cannot hash $1"
    [ "$got" = "$MBEDTLS_SHA256" ] ||
        die "sha256 mismatch for ${2:-$1}: got $got, pinned $MBEDTLS_SHA256 (vendor/mbedtls.pin)"
    mkdir -p "$(dirname "$dest")" || die "cannot create directory for $dest"
    src_abs=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
    dest_abs=$(cd "$(dirname "$dest")" && pwd)/$(basename "$dest")
    [ "$src_abs" != "$dest_abs" ] || return 0
    if ! { cp "$1" "$dest.tmp.$$" && mv -f "$dest.tmp.$$" "$dest"; }; then
        rm -f "$dest.tmp.$$"
        die "cannot write $dest"
    fi
}

# 1. A tarball the user supplied.
if [ -n "${MBEDTLS_TARBALL:-}" ]; then
    [ -f "$MBEDTLS_TARBALL" ] || die "MBEDTLS_TARBALL=$MBEDTLS_TARBALL: no such file"
    install_verified "$MBEDTLS_TARBALL"
    exit 0
fi

# 2. Already fetched.
if [ -f "$dest" ] && [ "$(sha256_of "$dest")" = "$MBEDTLS_SHA256" ]; then
    exit 0
fi

# 3. Debian source package through the host's configured mirror.
command -v apt-get >/dev/null 2>&1 ||
    die "no apt-get here: download $MBEDTLS_TARBALL_NAME yourself and pass MBEDTLS_TARBALL=PATH"

# shellcheck disable=SC1091
codename=$( (. /etc/os-release 2>/dev/null && printf '%s' "${VERSION_CODENAME:-}") || true)

# Prints "URI<TAB>SIGNED-BY" of the host's main Debian entry (deb822 files first,
# then one-line sources.list files). The main entry is the one whose suites include
# the host's codename; without a codename, any suite without a '-' (so not
# -security/-updates/-backports) on a URI path ending in /debian.
find_mirror() {
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v cn="$codename" '
            function flush() {
                if (uri != "" && types ~ /(^| )deb(-src)?( |$)/ && tolower(enabled) != "no") {
                    n = split(suites, s, " ")
                    for (i = 1; i <= n; i++) {
                        ok = (cn != "") ? (s[i] == cn) : (s[i] !~ /-/ && uri ~ /\/debian\/?$/)
                        if (ok) { print uri "\t" signed; found = 1; exit }
                    }
                }
                types = uri = suites = signed = enabled = ""
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            /^[A-Za-z-]+:/ {
                key = tolower($1); sub(/:$/, "", key)
                val = $0; sub(/^[^:]*:[ \t]*/, "", val)
                if (key == "types") types = val
                else if (key == "uris") { split(val, u, " "); uri = u[1] }
                else if (key == "suites") suites = val
                else if (key == "signed-by") signed = val
                else if (key == "enabled") enabled = val
            }
            END { if (!found) flush() }
        ' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk -v cn="$codename" '
            /^[ \t]*#/ { next }
            $1 == "deb" || $1 == "deb-src" {
                line = $0; signed = ""
                if (match(line, /\[[^]]*\]/)) {
                    opts = substr(line, RSTART + 1, RLENGTH - 2)
                    line = substr(line, 1, RSTART - 1) " " substr(line, RSTART + RLENGTH)
                    if (match(opts, /signed-by=[^ ]+/)) signed = substr(opts, RSTART + 10, RLENGTH - 10)
                }
                split(line, w, " ")
                uri = w[2]; suite = w[3]
                ok = (cn != "") ? (suite == cn) : (suite !~ /-/ && uri ~ /\/debian\/?$/)
                if (ok) { print uri "\t" signed; exit }
            }
        ' "$f"
    done
}

mirror=$(find_mirror | head -n 1)
uri=$(printf '%s' "$mirror" | cut -f1)
signed=$(printf '%s' "$mirror" | cut -f2)
[ -n "$uri" ] ||
    die "no Debian entry${codename:+ for suite $codename} in /etc/apt/sources.list{,.d}: pass MBEDTLS_TARBALL=PATH to $MBEDTLS_TARBALL_NAME"
# Reuse the host entry's keyring when it is one file; else Debian's archive keyring;
# else apt's trusted keys.
case $signed in
    /*) [ -f "$signed" ] || signed= ;;
    *) signed= ;;
esac
[ -n "$signed" ] || [ ! -f /usr/share/keyrings/debian-archive-keyring.gpg ] ||
    signed=/usr/share/keyrings/debian-archive-keyring.gpg

tmp=$(mktemp -d "${TMPDIR:-/tmp}/seedsec-mbedtls.XXXXXX") || die "cannot create a temporary directory"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 2' INT TERM HUP
# apt downloads as the unprivileged _apt user: it must be able to reach these dirs.
chmod 755 "$tmp"
mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/dl"
chown _apt "$tmp/dl" 2>/dev/null || chmod 777 "$tmp/dl"

{
    echo "# seedsec: Debian 13 source packages, to fetch the pinned Mbed TLS tarball"
    echo "Types: deb-src"
    echo "URIs: $uri"
    echo "Suites: trixie"
    echo "Components: main"
    [ -z "$signed" ] || echo "Signed-By: $signed"
} >"$tmp/seedsec-mbedtls-src.sources"

# Only our entry, with lists and caches in $tmp: nothing of the host's apt state changes.
set -- -o "Dir::Etc::sourcelist=$tmp/seedsec-mbedtls-src.sources" \
    -o Dir::Etc::sourceparts=- \
    -o "Dir::State::Lists=$tmp/lists" \
    -o "Dir::Cache=$tmp/cache" \
    -o APT::Get::List-Cleanup=0

last_error() { grep -E '^(E|Err|W):' "$1" | tail -n 1 | tr -s '\t ' '  '; }

echo "fetch.sh: apt-get source mbedtls=$MBEDTLS_DEBVER (deb-src $uri trixie main)" >&2
apt-get -q update "$@" >"$tmp/update.log" 2>&1 ||
    die "apt-get update of deb-src $uri trixie failed: $(last_error "$tmp/update.log")"
(cd "$tmp/dl" && apt-get -q source --download-only "mbedtls=$MBEDTLS_DEBVER" "$@") >"$tmp/source.log" 2>&1 ||
    die "apt-get source mbedtls=$MBEDTLS_DEBVER failed: $(last_error "$tmp/source.log")"
[ -f "$tmp/dl/$MBEDTLS_TARBALL_NAME" ] ||
    die "apt-get source mbedtls=$MBEDTLS_DEBVER gave no $MBEDTLS_TARBALL_NAME"
install_verified "$tmp/dl/$MBEDTLS_TARBALL_NAME" "$MBEDTLS_TARBALL_NAME from $uri"
echo "fetch.sh: $dest verified (sha256 $MBEDTLS_SHA256)" >&2
