/*
 * tests/fuzz/fuzz_cert.c - libFuzzer target: seal_cert_spki(), the ASN.1 walk
 * seal uses on the controller's certificate (--cert), then the key behind it.
 *
 *   CC=clang MBEDTLS_CFLAGS="-fsanitize=address,undefined -g" \
 *       sh vendor/build.sh build/mbedtls-fuzz
 *   clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -Dmain=seedsec_main \
 *       -Ibuild/mbedtls-fuzz/include -o build/fuzz_cert tests/fuzz/fuzz_cert.c \
 *       -Lbuild/mbedtls-fuzz/lib -lmbedtls -lmbedx509 -lmbedcrypto
 *   mkdir -p tests/fuzz/out && build/fuzz_cert -max_total_time=60 tests/fuzz/out tests/fuzz/corpus
 *
 * The invariant beyond "no crash": the SubjectPublicKeyInfo found lies inside the input.
 */
#include "../../seedsec.c"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	const unsigned char *spki;
	size_t sl;
	int64_t na;
	if (seal_cert_spki(d, n, &spki, &sl, &na) == NULL) {
		if (spki < d || sl > n || spki + sl > d + n)
			abort();
		struct sealer s;
		char why[320];
		mbedtls_pk_init(&s.pk);
		(void)seal_key_from_cert(&s, d, n, why, sizeof why);
		mbedtls_pk_free(&s.pk);
	}
	return 0;
}
