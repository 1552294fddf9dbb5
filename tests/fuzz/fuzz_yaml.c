/*
 * fuzz_yaml - the bytes as a YAML stream (seedsec render output, kubectl
 * -o yaml, Lists, hand-edited files): yaml_parse, then the --existing walk
 * (walk_objects + existing_secret) as render and as check read it.
 */
#include "fuzz.h"
#include "walk.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	quiet = 1;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_walk((const char *)data, size, yaml_parse);
	return 0;
}
