/*
 * fuzz_yaml - the bytes as a YAML stream (seedsec render output, kubectl
 * -o yaml, Lists, hand-edited files): yaml_parse, then the --existing walk
 * (walk_objects + existing_secret) as render and as check read it; then
 * the tolerant reading patch DIR uses (parse_stream_soft).
 */
#include "fuzz.h"
#include "walk.h"

FUZZ_QUIET_INIT

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_walk((const char *)data, size, yaml_parse);
	/* patch DIR's tolerant reading: an error returns (everything made so far
	 * freed: the leak checker sees it), a success holds the same documents */
	static struct docs ds;
	char err[700];
	memset(&ds, 0, sizeof ds);
	FUZZ_TRY {
		if (parse_stream_soft((const char *)data, size, "fuzz", &ds, err, sizeof err))
			docs_free(&ds);
		else
			FUZZ_ASSERT(err[0] && ds.n == 0, "soft parse failed without a message");
	}
	FUZZ_END;
	return 0;
}
