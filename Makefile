# seedsec - one static binary (musl + Mbed TLS 3.6)
#   make              ./seedsec, static, stripped, size-checked
#   make check        every test (tests/run.sh)
#   make check-sanitize   the suite against an ASan+UBSan build
#   make check-faults     only the push fault matrix, the hygiene and valgrind tests
#   make bench | fuzz | dist | install | clean

VERSION    := 0.1.0
CC         := musl-gcc
BUILD      := build
MBEDTLS    := $(BUILD)/mbedtls-musl
WARN       := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes
CFLAGS     := -std=c11 -Os $(WARN) -ffunction-sections -fdata-sections \
              -fstack-protector-strong -D_FORTIFY_SOURCE=2 -DSEEDSEC_VERSION='"$(VERSION)"'
LDFLAGS    := -static -Wl,--gc-sections -Wl,-O1 -s
LIBS       := -lmbedtls -lmbedx509 -lmbedcrypto
SIZE_LIMIT := 409600
PYTHON     := /usr/bin/python3
SRCS       := seedsec.c contract.def
VENDOR     := vendor/build.sh vendor/fetch.sh vendor/mbedtls.pin vendor/mbedtls_config.h \
              $(wildcard vendor/patches/*.patch)

.PHONY: all run check check-faults check-sanitize lint format bench fuzz dist install clean

all: seedsec

# the main job on the built-in default (no config file: the five always-keys)
run: seedsec
	./seedsec render

$(MBEDTLS)/.stamp: $(VENDOR)
	CC=musl-gcc sh vendor/build.sh $(MBEDTLS)

seedsec: $(SRCS) $(MBEDTLS)/.stamp
	$(CC) $(CFLAGS) -I$(MBEDTLS)/include -o $@.tmp seedsec.c $(LDFLAGS) -L$(MBEDTLS)/lib $(LIBS)
	@size=$$(stat -c %s $@.tmp); \
	if [ $$size -gt $(SIZE_LIMIT) ]; then \
		echo "seedsec: $$size bytes, over the $(SIZE_LIMIT)-byte budget" >&2; rm -f $@.tmp; exit 2; fi; \
	mv $@.tmp $@; echo "seedsec: $$size bytes (budget $(SIZE_LIMIT))"

# the same source with clang (warnings are errors there too)
lint: $(MBEDTLS)/.stamp
	clang -std=c11 $(WARN) -fsyntax-only -I$(MBEDTLS)/include seedsec.c
	gcc -std=c11 $(WARN) -fsyntax-only -I$(MBEDTLS)/include seedsec.c

check: seedsec lint
	SEEDSEC=$(CURDIR)/seedsec bash tests/run.sh

# (all of them also run in make check; the matrix takes about 2.5 min on 2 cores)
check-faults: seedsec
	SEEDSEC=$(CURDIR)/seedsec bash tests/run.sh t_push_matrix.sh t_push_faults.sh t_hygiene.sh t_valgrind.sh

ASAN_MBEDTLS := $(BUILD)/mbedtls-asan
SANFLAGS     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g

$(ASAN_MBEDTLS)/.stamp: $(VENDOR)
	CC=gcc MBEDTLS_CFLAGS="$(SANFLAGS)" sh vendor/build.sh $(ASAN_MBEDTLS)

$(BUILD)/seedsec-asan: $(SRCS) $(ASAN_MBEDTLS)/.stamp
	gcc -std=c11 -O1 $(WARN) $(SANFLAGS) -DSEEDSEC_VERSION='"$(VERSION)"' -I$(ASAN_MBEDTLS)/include \
		-o $@ seedsec.c -L$(ASAN_MBEDTLS)/lib $(LIBS)

check-sanitize: $(BUILD)/seedsec-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	SEEDSEC=$(CURDIR)/$(BUILD)/seedsec-asan SEEDSEC_SANITIZED=1 bash tests/run.sh

format:
	clang-format -i seedsec.c

clean:
	rm -rf $(BUILD) seedsec seedsec.tmp
