/*
 * fuzz_json - the bytes as a JSON stream (kubectl get secret -o json, a
 * v1 List, concatenated objects): json_parse, then the --existing walk
 * (walk_objects + existing_secret) as render and as check read it.
 */
#include "fuzz.h"
#include "walk.h"

FUZZ_QUIET_INIT

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_walk((const char *)data, size, json_parse);
	return 0;
}
