/*
 * zshim.c - linked into a test build of seedsec (tests/build_glibc.sh) with
 * -Wl,--wrap=free -Wl,--wrap=realloc, so every block that seedsec.c or Mbed TLS
 * frees (or that realloc moves) goes through here first. With SEEDSEC_FREED=FILE
 * set, each block's bytes (malloc_usable_size of them, as they are at free time)
 * are appended to FILE after a header naming the call stack:
 *
 *     "\n@@FREED <nbytes> <pc0> <pc1> ...@@\n" <nbytes bytes>
 *
 * tests/zscan.py then looks for every secret value in those blocks: a block that
 * still holds one was freed without being wiped. Without SEEDSEC_FREED nothing
 * is written. glibc only (malloc_usable_size, backtrace).
 */
#define _GNU_SOURCE
#include <execinfo.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void __real_free(void *p);
void *__real_realloc(void *p, size_t n);
void __wrap_free(void *p);
void *__wrap_realloc(void *p, size_t n);

static int dump_fd = -2;
static int busy;

static void
write_all(const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = write(dump_fd, c, n);
		if (w <= 0)
			_exit(97);
		c += w;
		n -= (size_t)w;
	}
}

static void
dump(void *p)
{
	if (dump_fd == -2) {
		const char *f = getenv("SEEDSEC_FREED");
		dump_fd = f && *f ? open(f, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600) : -1;
	}
	if (dump_fd < 0 || !p || busy)
		return;
	busy = 1;   /* backtrace() may allocate and free on its first call */
	void *pcs[8];
	int depth = backtrace(pcs, 8);
	size_t n = malloc_usable_size(p);
	char h[256];
	int hl = snprintf(h, sizeof h, "\n@@FREED %zu", n);
	/* pcs[0] is dump, pcs[1] the wrapper: start at the caller of free */
	for (int i = 2; i < depth && hl < (int)sizeof h - 24; i++)
		hl += snprintf(h + hl, sizeof h - (size_t)hl, " %p", pcs[i]);
	hl += snprintf(h + hl, sizeof h - (size_t)hl, "@@\n");
	write_all(h, (size_t)hl);
	write_all(p, n);
	busy = 0;
}

void
__wrap_free(void *p)
{
	dump(p);
	__real_free(p);
}

/* realloc frees the old block inside libc: do the move here so it is seen */
void *
__wrap_realloc(void *p, size_t n)
{
	if (!p || !n)
		return __real_realloc(p, n);
	void *q = malloc(n);
	if (!q)
		return NULL;
	size_t old = malloc_usable_size(p);
	memcpy(q, p, old < n ? old : n);
	dump(p);
	__real_free(p);
	return q;
}
