# seedsec - one static binary (musl + Mbed TLS 3.6)
#   make              ./seedsec, static, stripped, size-checked
#   make check        every test (tests/run.sh)
#   make check-sanitize   the suite against an ASan+UBSan build
#   make bench | fuzz | dist | install | clean

VERSION    := 0.1.0
CC         := musl-gcc
BUILD      := build
MBEDTLS    := $(BUILD)/mbedtls-musl
WARN       := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes
CFLAGS     := -std=c11 -O2 $(WARN) -ffunction-sections -fdata-sections \
              -fstack-protector-strong -D_FORTIFY_SOURCE=2 -DSEEDSEC_VERSION='"$(VERSION)"'
LDFLAGS    := -static -Wl,--gc-sections -Wl,-O1 -s
LIBS       := -lmbedtls -lmbedx509 -lmbedcrypto
SIZE_LIMIT := 409600
PYTHON     := /usr/bin/python3
SRCS       := seedsec.c contract.def
VENDOR     := vendor/build.sh vendor/fetch.sh vendor/mbedtls.pin vendor/mbedtls_config.h \
              $(wildcard vendor/patches/*.patch)

.PHONY: all run check check-sanitize lint format bench fuzz dist install clean

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

# ---- fuzzing (tests/fuzz/README.md) -----------------------------------------
# One libFuzzer harness per untrusted-input parser: tests/fuzz/fuzz_NAME.c, with
# seedsec.c compiled in (main renamed, SEEDSEC_FUZZ: error exits are caught).
# Adding one: the file, and NAME below. `make fuzz FUZZ_SECONDS=N` runs each for N
# seconds and fails on any crash, leak, timeout or broken property; `make fuzz-replay`
# only re-runs the committed inputs (tests/fuzz/corpus, tests/fuzz/regress).
FUZZERS      := config yaml json roundtrip values
FUZZ_SECONDS := 60
FUZZ_CC      := clang
FUZZ_DIR     := $(BUILD)/fuzz
FUZZ_MBEDTLS := $(BUILD)/mbedtls-fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g
SHARED       ?= $(abspath ..)/shared

$(FUZZ_MBEDTLS)/.stamp: $(VENDOR)
	CC=$(FUZZ_CC) MBEDTLS_CFLAGS="$(FUZZ_SAN) -fsanitize=fuzzer-no-link" sh vendor/build.sh $(FUZZ_MBEDTLS)

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(wildcard tests/fuzz/*.h) $(SRCS) \
		$(FUZZ_MBEDTLS)/.stamp
	@mkdir -p $(FUZZ_DIR)
	$(FUZZ_CC) -std=c11 -O1 $(WARN) $(FUZZ_SAN) -fsanitize=fuzzer -DSEEDSEC_FUZZ \
		-Dmain=seedsec_main -DSEEDSEC_VERSION='"$(VERSION)"' -I$(FUZZ_MBEDTLS)/include \
		-o $@ $< -L$(FUZZ_MBEDTLS)/lib $(LIBS)

.PHONY: fuzz-build fuzz-replay
fuzz-build: $(addprefix $(FUZZ_DIR)/fuzz_,$(FUZZERS))

fuzz-replay: fuzz-build
	sh tests/fuzz/run.sh replay $(FUZZ_DIR) $(FUZZERS)

fuzz: fuzz-build
	SHARED=$(SHARED) sh tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_DIR) $(FUZZERS)
