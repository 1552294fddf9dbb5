#!/bin/sh
# vendor/build.sh OUTDIR -- build the pinned Mbed TLS with seedsec's config.
#
#   CC              compiler (default musl-gcc; also clang, gcc, ...)
#   MBEDTLS_CFLAGS  extra flags, e.g. "-fsanitize=address,undefined -g"
#   MBEDTLS_TARBALL optional path to mbedtls_3.6.6.orig.tar.bz2 (see fetch.sh)
#   AR              archiver (default ar)
#
# vendor/patches/*.patch are applied (patch -p1) after the verified tarball is unpacked.
# Result: OUTDIR/include/{mbedtls,psa}/ (mbedtls/mbedtls_config.h is our
# vendor/mbedtls_config.h) and OUTDIR/lib/lib{mbedtls,mbedx509,mbedcrypto}.a.
# The tarball is cached next to OUTDIR (OUTDIR/../mbedtls_3.6.6.orig.tar.bz2) so
# several OUTDIRs share one download. Nothing is done when OUTDIR/.stamp records
# the same pin, config, patches, script, CC, AR and flags. Errors: one line, exit 2.
set -eu

die() { printf 'build.sh: %s\n' "$*" >&2; exit 2; }

if [ $# -ne 1 ] || [ -z "$1" ]; then
    die "usage: [CC=cc] [MBEDTLS_CFLAGS=...] sh vendor/build.sh OUTDIR"
fi
here=$(cd "$(dirname "$0")" && pwd) || die "cannot find the vendor directory"
for f in mbedtls.pin mbedtls_config.h fetch.sh; do
    [ -r "$here/$f" ] || die "missing $here/$f"
done
# shellcheck source=vendor/mbedtls.pin
. "$here/mbedtls.pin"

mkdir -p "$1" || die "cannot create $1"
out=$(cd "$1" && pwd)
cache=$(dirname "$out")/$MBEDTLS_TARBALL_NAME

CC=${CC:-musl-gcc}
AR=${AR:-ar}
cflags="-Os -ffunction-sections -fdata-sections${MBEDTLS_CFLAGS:+ $MBEDTLS_CFLAGS}"
# shellcheck disable=SC2086 # CC may be "ccache gcc"
set -- $CC
command -v "$1" >/dev/null 2>&1 || die "compiler '$1' not found (CC=$CC; for musl-gcc: apt-get install musl-tools)"
command -v make >/dev/null 2>&1 || die "make not found (apt-get install make)"
command -v bzip2 >/dev/null 2>&1 || die "bzip2 not found (apt-get install bzip2)"
command -v patch >/dev/null 2>&1 || die "patch not found (apt-get install patch)"

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
    else openssl dgst -sha256 -r "$1" | cut -d' ' -f1; fi
}
stamp="mbedtls=$MBEDTLS_VERSION sha256=$MBEDTLS_SHA256
config=$(sha256_of "$here/mbedtls_config.h")
build.sh=$(sha256_of "$here/build.sh")
patches=$(for p in "$here"/patches/*.patch; do [ ! -f "$p" ] || printf '%s=%s ' "${p##*/}" "$(sha256_of "$p")"; done)
CC=$CC
AR=$AR
CFLAGS=$cflags"

if [ -f "$out/lib/libmbedcrypto.a" ] && [ -f "$out/lib/libmbedx509.a" ] &&
    [ -f "$out/lib/libmbedtls.a" ] && [ -f "$out/.stamp" ] &&
    [ "$(cat "$out/.stamp")" = "$stamp" ]; then
    echo "build.sh: $out is up to date" >&2
    exit 0
fi

sh "$here/fetch.sh" "$cache" || exit 2

rm -rf "${out:?}/src" "${out:?}/include" "${out:?}/lib" "$out/.stamp" "$out/build.log"
mkdir -p "$out/src" "$out/include" "$out/lib"
bzip2 -dc "$cache" | tar -xf - -C "$out/src" --strip-components=1 ||
    die "cannot unpack $cache into $out/src"
[ -f "$out/src/library/Makefile" ] || die "$cache does not look like an Mbed TLS source tree"
# Our few fixes on top of the release, each explained in its own file.
for p in "$here"/patches/*.patch; do
    [ -f "$p" ] || continue
    patch -d "$out/src" -p1 --batch --forward --quiet <"$p" >"$out/build.log" 2>&1 ||
        die "patch $(basename "$p") does not apply to Mbed TLS $MBEDTLS_VERSION (see $out/build.log)"
done
# Our configuration replaces the stock one, for the library and for every user of
# the installed headers alike (no -DMBEDTLS_CONFIG_FILE needed anywhere).
cp "$here/mbedtls_config.h" "$out/src/include/mbedtls/mbedtls_config.h"

jobs=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
echo "build.sh: building Mbed TLS $MBEDTLS_VERSION in $out (CC=$CC CFLAGS=$cflags)" >&2
# A calling make's MAKEFLAGS would leak its variables (e.g. CFLAGS) into the library build.
if ! (unset MAKEFLAGS MFLAGS MAKEOVERRIDES MAKELEVEL
      make -C "$out/src/library" -j"$jobs" CC="$CC" AR="$AR" CFLAGS="$cflags" static) \
      >"$out/build.log" 2>&1; then
    err=$(grep -E 'error|Error' "$out/build.log" | head -n 1 | cut -c1-200)
    die "make failed (CC=$CC): ${err:-see log}; full log: $out/build.log"
fi

if ! { cp -R "$out/src/include/mbedtls" "$out/src/include/psa" "$out/include/" &&
        cp "$out/src/library/libmbedtls.a" "$out/src/library/libmbedx509.a" \
            "$out/src/library/libmbedcrypto.a" "$out/lib/"; }; then
    die "cannot install into $out"
fi
printf '%s\n' "$stamp" >"$out/.stamp"
echo "build.sh: installed $out/include and $out/lib (link: -lmbedtls -lmbedx509 -lmbedcrypto)" >&2
