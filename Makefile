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
# release builds carry no unwind tables (.eh_frame: ~40 KB; C needs none, the binary is stripped)
NOUNWIND   := -fno-asynchronous-unwind-tables -fno-unwind-tables
SIZE_LIMIT := 400000
PYTHON     := /usr/bin/python3
SRCS       := seedsec.c contract.def
VENDOR     := vendor/build.sh vendor/fetch.sh vendor/mbedtls.pin vendor/mbedtls_config.h \
              $(wildcard vendor/patches/*.patch)

.PHONY: all run check check-faults check-sanitize lint format bench fuzz dist install clean

all: seedsec

# the main job on the built-in default (no config file: the five always-keys)
run: seedsec
	./seedsec render

$(MBEDTLS)/.stamp: $(VENDOR) Makefile
	CC=musl-gcc MBEDTLS_CFLAGS="$(NOUNWIND)" sh vendor/build.sh $(MBEDTLS)
	@touch $@

seedsec: $(SRCS) $(MBEDTLS)/.stamp
	$(CC) $(CFLAGS) $(NOUNWIND) -I$(MBEDTLS)/include -o $@.tmp seedsec.c $(LDFLAGS) -L$(MBEDTLS)/lib $(LIBS)
	@size=$$(stat -c %s $@.tmp); \
	if [ $$size -gt $(SIZE_LIMIT) ]; then \
		echo "seedsec: $$size bytes, over the $(SIZE_LIMIT)-byte budget" >&2; rm -f $@.tmp; exit 2; fi; \
	mv $@.tmp $@; echo "seedsec: $$size bytes (budget $(SIZE_LIMIT))"

# the same source with clang (warnings are errors there too)
lint: $(MBEDTLS)/.stamp
	@if command -v clang-format >/dev/null; then clang-format --dry-run -Werror -style=file seedsec.c; \
	else echo "lint: clang-format not installed; format not checked"; fi
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
	clang-format -i -style=file seedsec.c

clean:
	rm -rf $(BUILD) seedsec seedsec.tmp

# ---- release: make dist, make install ----------------------------------------
# dist/seedsec-VERSION-linux-{amd64,arm64} + dist/SHA256SUMS. Reproducible: no
# timestamps or build paths in the binaries (-ffile-prefix-map, SOURCE_DATE_EPOCH,
# LC_ALL=C, deterministic ar); `make dist` proves it by building everything a second
# time from a copy of the sources in another directory and comparing byte for byte.
# arm64: Debian's gcc-aarch64-linux-gnu + musl-dev:arm64 (aarch64-linux-musl-gcc),
# smoke-run under qemu-user-static (`./.ci/deps dist` installs all three).
PREFIX     := /usr/local
DESTDIR    :=
DIST       := dist
DIST_ARCH  := amd64 arm64
CC_amd64   := musl-gcc
AR_amd64   := ar
RUN_amd64  :=
CC_arm64   := aarch64-linux-musl-gcc
AR_arm64   := aarch64-linux-gnu-ar
RUN_arm64  := qemu-aarch64-static
# the budget is set for amd64; arm64 code is ~9% larger (fixed 4-byte instructions)
SIZE_LIMIT_amd64 := $(SIZE_LIMIT)
SIZE_LIMIT_arm64 := 430000
REPRO      := -ffile-prefix-map=$(CURDIR)=.
MBEDTLS_TARBALL_NAME := $(shell sed -n "s/^MBEDTLS_TARBALL_NAME=//p" vendor/mbedtls.pin)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 1)
export SOURCE_DATE_EPOCH
DIST_BINS  := $(foreach a,$(DIST_ARCH),$(DIST)/seedsec-$(VERSION)-linux-$(a))

.PHONY: dist-one dist-clean

# one release binary: make dist-one ARCH=amd64|arm64 OUT=FILE (Mbed TLS under build/mbedtls-ARCH)
dist-one:
	@case "$(ARCH)" in amd64|arm64) ;; *) echo "dist-one: ARCH=amd64|arm64" >&2; exit 2;; esac
	@command -v $(CC_$(ARCH)) >/dev/null 2>&1 || { echo "dist: $(CC_$(ARCH)) not found (./.ci/deps dist installs the $(ARCH) toolchain)" >&2; exit 2; }
	@LC_ALL=C TZ=UTC CC=$(CC_$(ARCH)) AR=$(AR_$(ARCH)) MBEDTLS_CFLAGS="$(REPRO) $(NOUNWIND)" sh vendor/build.sh $(BUILD)/mbedtls-$(ARCH)
	LC_ALL=C TZ=UTC $(CC_$(ARCH)) $(CFLAGS) $(NOUNWIND) $(REPRO) -I$(BUILD)/mbedtls-$(ARCH)/include -o $(OUT).tmp seedsec.c \
		$(LDFLAGS) -Wl,--build-id=sha1 -L$(BUILD)/mbedtls-$(ARCH)/lib $(LIBS)
	@size=$$(stat -c %s $(OUT).tmp); \
	if [ $$size -gt $(SIZE_LIMIT_$(ARCH)) ]; then \
		echo "$(OUT): $$size bytes, over the $(SIZE_LIMIT_$(ARCH))-byte budget" >&2; rm -f $(OUT).tmp; exit 2; fi; \
	mv $(OUT).tmp $(OUT); echo "$(OUT): $$size bytes (budget $(SIZE_LIMIT_$(ARCH)))"

dist: $(SRCS) $(VENDOR) Makefile
	@command -v $(RUN_arm64) >/dev/null 2>&1 || { echo "dist: $(RUN_arm64) not found (./.ci/deps dist)" >&2; exit 2; }
	rm -f $(DIST_BINS) $(DIST)/SHA256SUMS
	mkdir -p $(DIST)
	@set -e; for a in $(DIST_ARCH); do \
		$(MAKE) --no-print-directory dist-one ARCH=$$a OUT=$(DIST)/seedsec-$(VERSION)-linux-$$a; done
	@# the second build: sources copied elsewhere, Mbed TLS rebuilt there; must be identical
	rm -rf $(BUILD)/repro && mkdir -p $(BUILD)/repro/build
	cp -R Makefile $(SRCS) vendor $(BUILD)/repro/
	@set -e; for a in $(DIST_ARCH); do \
		$(MAKE) --no-print-directory -C $(BUILD)/repro dist-one ARCH=$$a OUT=build/seedsec-$$a \
			MBEDTLS_TARBALL=$(CURDIR)/$(BUILD)/$(MBEDTLS_TARBALL_NAME) >/dev/null; \
		if cmp -s $(BUILD)/repro/build/seedsec-$$a $(DIST)/seedsec-$(VERSION)-linux-$$a; then \
			echo "dist: linux-$$a rebuilt in $(BUILD)/repro: byte-identical"; \
		else echo "dist: linux-$$a differs when rebuilt in another directory: not reproducible" >&2; \
			rm -f $(DIST_BINS); exit 2; fi; done
	@# smoke: --version and a render of the built-in default contract, natively / under qemu
	@set -e; for a in $(DIST_ARCH); do \
		case $$a in amd64) run="$(RUN_amd64)";; arm64) run="$(RUN_arm64)";; esac; \
		b=$(DIST)/seedsec-$(VERSION)-linux-$$a; \
		file $$b | grep -q 'statically linked' || { echo "dist: $$b is not static" >&2; exit 2; }; \
		v=$$(cd $(BUILD) && env -u CFG $$run ../$$b --version); \
		n=$$(cd $(BUILD) && env -u CFG -u ENV $$run ../$$b -q render --state repro/smoke-state | grep -c '^kind: Secret$$'); \
		[ "$$n" = 5 ] || { echo "dist: $$b render gave $$n Secrets, expected 5" >&2; exit 2; }; \
		printf 'U*U' | $$run $$b -q bcrypt --verify '$$2a$$05$$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW' 2>/dev/null || \
			{ echo "dist: $$b bcrypt fails a published vector" >&2; exit 2; }; \
		h=$$(printf 'smoke' | $$run $$b bcrypt -C 10); \
		printf 'smoke' | $$run $$b -q bcrypt --verify "$$h" || { echo "dist: $$b bcrypt round trip fails" >&2; exit 2; }; \
		echo "dist: linux-$$a runs: $$v; render: $$n Secrets; bcrypt: vector and round trip ok"; done
	cd $(DIST) && sha256sum $(notdir $(DIST_BINS)) > SHA256SUMS
	@cat $(DIST)/SHA256SUMS

dist-clean:
	rm -rf $(DIST_BINS) $(DIST)/SHA256SUMS $(BUILD)/repro $(BUILD)/mbedtls-amd64 $(BUILD)/mbedtls-arm64

# make install [PREFIX=/usr/local] [DESTDIR=]: the binary and its man page
install: seedsec seedsec.1
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 seedsec $(DESTDIR)$(PREFIX)/bin/seedsec
	install -m 0644 seedsec.1 $(DESTDIR)$(PREFIX)/share/man/man1/seedsec.1

# side by side with gcloud/htpasswd/kubectl/python3-bcrypt; writes bench/RESULTS.md (and README)
bench: seedsec
	bash bench/run.sh

# ---- fuzzing (tests/fuzz/README.md) -----------------------------------------
# One libFuzzer harness per untrusted-input parser: tests/fuzz/fuzz_NAME.c, with
# seedsec.c compiled in (main renamed, SEEDSEC_FUZZ: error exits are caught).
# Adding one: the file, and NAME below. `make fuzz FUZZ_SECONDS=N` runs each for N
# seconds and fails on any crash, leak, timeout or broken property; `make fuzz-replay`
# only re-runs the committed inputs (tests/fuzz/corpus, tests/fuzz/regress).
FUZZERS      := config yaml json roundtrip values http cert
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
