#!/bin/sh
# tests/build_glibc.sh KIND: a glibc build of seedsec for the memory tests, under build/,
# rebuilt when seedsec.c, contract.def or the shim changed. Prints the binary's path.
#   plain   build/seedsec-glibc: gcc -O1 -g (valgrind)
#   zshim   build/seedsec-zshim: the same with tests/zshim.c wrapped around free/realloc
# Both link an Mbed TLS built with gcc (build/mbedtls-gcc, made once by vendor/build.sh).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
kind=${1:?usage: build_glibc.sh plain|zshim}
cd "$root"
mb=build/mbedtls-gcc
if [ ! -f "$mb/.stamp" ] || [ vendor/mbedtls_config.h -nt "$mb/.stamp" ] || [ vendor/build.sh -nt "$mb/.stamp" ]; then
    CC=gcc sh vendor/build.sh "$mb" >&2
fi
flags="-std=c11 -O1 -g -fno-omit-frame-pointer -Wall -Wextra -DSEEDSEC_VERSION=\"test\" -I$mb/include"
libs="-L$mb/lib -lmbedtls -lmbedx509 -lmbedcrypto"
case $kind in
plain) out=build/seedsec-glibc; deps="seedsec.c contract.def"; extra= ;;
zshim) out=build/seedsec-zshim; deps="seedsec.c contract.def tests/zshim.c"
       extra="-no-pie -Wl,--wrap=free -Wl,--wrap=realloc tests/zshim.c" ;;
*) echo "build_glibc.sh: KIND is plain or zshim" >&2; exit 2 ;;
esac
stale=0
[ -x "$out" ] || stale=1
for d in $deps "$mb/.stamp"; do [ "$d" -nt "$out" ] && stale=1; done
if [ $stale = 1 ]; then
    # shellcheck disable=SC2086
    gcc $flags -o "$out.tmp" seedsec.c $extra $libs >&2
    mv "$out.tmp" "$out"
fi
echo "$root/$out"
