/*
 * fuzz_http - the bytes as what a server sent: http_parse() (status line,
 * headers, Content-Length and chunked bodies, interim 1xx replies), once as
 * a stream still open and once at end of file, as a reply and as a CONNECT
 * reply. Beyond "no crash": a complete reply never claims more bytes than
 * it was given, and its body is NUL-terminated at its length.
 */
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	FUZZ_TRY {
		for (int mode = 0; mode < 4; mode++) {
			struct http_resp r;
			size_t used = 0;
			const char *why = NULL;
			int st = http_parse((const char *)d, n, mode & 1, mode >> 1, &r, &used, &why);
			if (st == HP_DONE) {
				FUZZ_ASSERT(used <= n, "used %zu of %zu", used, n);
				FUZZ_ASSERT(r.status >= 100 && r.status <= 999, "status %d", r.status);
				FUZZ_ASSERT(!r.body || r.body[r.n] == 0, "body not terminated");
			}
			if (st == HP_BAD)
				FUZZ_ASSERT(why != NULL, "HP_BAD without a reason");
			http_resp_free(&r);
		}
	}
	FUZZ_END;
	return 0;
}
