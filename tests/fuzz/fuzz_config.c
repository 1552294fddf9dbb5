/*
 * fuzz_config - the bytes as a platform config file (-c FILE): config_load,
 * i.e. yaml_parse plus the gate, backend and project reading.
 */
#include "fuzz.h"

FUZZ_QUIET_INIT

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_as_file(data, size);
	static struct config c;
	FUZZ_TRY {
		config_load(&c, path);
		/* what the product then relies on */
		FUZZ_ASSERT(c.backend != NULL, "no backend");
		FUZZ_ASSERT(c.gate[G_ALWAYS] == 1, "always-gate off");
		for (int g = 0; g < NGATES; g++)
			FUZZ_ASSERT(c.gate[g] == 0 || c.gate[g] == 1, "gate %d = %d", g, c.gate[g]);
		FUZZ_ASSERT(!c.gate[G_DNS] || (c.dns_provider && !strcmp(c.dns_provider, "cloudflare")),
			    "dns gate without the cloudflare provider");
		config_free(&c);
	}
	FUZZ_END;
	return 0;
}
