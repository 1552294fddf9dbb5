/*
 * tests/fuzz/fuzz.h - what every harness shares. A harness is one file,
 * tests/fuzz/fuzz_NAME.c:
 *
 *	#include "fuzz.h"
 *	int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
 *	{
 *		FUZZ_TRY { ...call seedsec code... }
 *		FUZZ_END;
 *		return 0;
 *	}
 *
 * plus NAME in FUZZERS in the Makefile. seedsec.c is compiled into the
 * harness (main renamed seedsec_main, SEEDSEC_FUZZ defined): die() then
 * longjmps back to FUZZ_TRY instead of exit(), so an error message is an
 * expected outcome and only sanitizer reports, aborts and timeouts count.
 *
 * An error exit leaves behind whatever the failing code had allocated (the
 * product relies on exit() for that). So every malloc/calloc/free in
 * seedsec.c goes through a small tracker here, and FUZZ_END releases what
 * an error exit left of the allocations made since FUZZ_TRY (older ones,
 * e.g. the harness's own inputs, stay). On a normal return nothing is
 * released: LeakSanitizer still sees every real leak.
 */
#ifndef SEEDSEC_FUZZ_H
#define SEEDSEC_FUZZ_H

#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct fuzz_blk {
	struct fuzz_blk *prev, *next;
	size_t n;
	unsigned long long seq; /* allocation order; also keeps the payload 16-aligned */
};

/* newest first: allocation order is list order */
static struct fuzz_blk fuzz_live = {&fuzz_live, &fuzz_live, 0, 0};
static unsigned long long fuzz_seq, fuzz_mark;

static void *
fuzz_malloc(size_t n)
{
	struct fuzz_blk *b = malloc(sizeof *b + n);
	if (!b)
		return NULL;
	b->n = n;
	b->seq = ++fuzz_seq;
	b->next = fuzz_live.next;
	b->prev = &fuzz_live;
	fuzz_live.next->prev = b;
	fuzz_live.next = b;
	return b + 1;
}

static void *
fuzz_calloc(size_t a, size_t b)
{
	if (b && a > SIZE_MAX / b)
		return NULL;
	void *p = fuzz_malloc(a * b);
	if (p)
		memset(p, 0, a * b);
	return p;
}

static void
fuzz_free(void *p)
{
	if (!p)
		return;
	struct fuzz_blk *b = (struct fuzz_blk *)p - 1;
	b->prev->next = b->next;
	b->next->prev = b->prev;
	free(b);
}

/* after an error exit: free what was allocated since FUZZ_TRY and is still held */
static void
fuzz_release_since_mark(void)
{
	while (fuzz_live.next != &fuzz_live && fuzz_live.next->seq > fuzz_mark)
		fuzz_free(fuzz_live.next + 1);
}

#define malloc(n) fuzz_malloc(n)
#define calloc(a, b) fuzz_calloc(a, b)
#define free(p) fuzz_free(p)

int seedsec_main(int argc, char **argv);
#include "../../seedsec.c"

#undef malloc
#undef calloc
#undef free

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* the usual LLVMFuzzerInitialize: error messages off (they are expected outcomes) */
#define FUZZ_QUIET_INIT                                                \
	int LLVMFuzzerInitialize(int *argc, char ***argv)              \
	{                                                              \
		(void)argc;                                            \
		(void)argv;                                            \
		quiet = 1;                                             \
		return 0;                                              \
	}

/* exit code of the last caught error exit, or -1 */
static int fuzz_exit_code;

/*
 * FUZZ_TRY { body } FUZZ_END; -- body runs once; an error exit inside it
 * lands after FUZZ_END with fuzz_exit_code set. Locals changed inside the
 * body and read after it must be volatile (setjmp rules).
 */
#define FUZZ_TRY                                                    \
	{                                                           \
		jmp_buf fuzz_jb_;                                   \
		int fuzz_rc_ = setjmp(fuzz_jb_);                    \
		fuzz_exit_code = fuzz_rc_ ? fuzz_rc_ - 1 : -1;      \
		if (!fuzz_rc_) {                                    \
			fuzz_mark = fuzz_seq;                       \
			fuzz_die_jmp = &fuzz_jb_;
#define FUZZ_END                                                    \
		}                                                   \
		fuzz_die_jmp = NULL;                                \
		if (fuzz_rc_)                                       \
			fuzz_release_since_mark();                  \
	}

/* the input as a file seedsec can open by name (a memfd, rewritten per run) */
static const char *__attribute__((unused))
fuzz_as_file(const uint8_t *d, size_t n)
{
	static int fd = -1;
	static char path[64];
	if (fd < 0) {
		fd = memfd_create("seedsec-fuzz", MFD_CLOEXEC);
		if (fd < 0) {
			perror("memfd_create");
			abort();
		}
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) != 0 || (n && pwrite(fd, d, n, 0) != (ssize_t)n)) {
		perror("memfd write");
		abort();
	}
	return path;
}

/* a failed property: print what and abort, so libFuzzer keeps the input */
#define FUZZ_ASSERT(cond, ...)                                              \
	do {                                                                \
		if (!(cond)) {                                              \
			fprintf(stderr, "fuzz property failed: %s:%d: %s: ",  \
				__FILE__, __LINE__, #cond);                 \
			fprintf(stderr, __VA_ARGS__);                       \
			fputc('\n', stderr);                                \
			abort();                                            \
		}                                                           \
	} while (0)

#endif
