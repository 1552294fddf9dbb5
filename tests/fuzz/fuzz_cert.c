/*
 * fuzz_cert - the bytes as the sealed-secrets controller's certificate
 * (seal --cert): seal_cert_spki(), the ASN.1 walk to the public key, then
 * the key behind it. Beyond "no crash": the SubjectPublicKeyInfo found lies
 * inside the input.
 */
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	FUZZ_TRY {
		const unsigned char *spki = NULL;
		size_t sl = 0;
		int64_t na;
		if (seal_cert_spki(d, n, &spki, &sl, &na) == NULL) {
			FUZZ_ASSERT(spki >= d && sl <= n && spki + sl <= d + n, "SPKI outside the input");
			struct sealer s;
			char why[320];
			mbedtls_pk_init(&s.pk);
			(void)seal_key_from_cert(&s, d, n, why, sizeof why);
			mbedtls_pk_free(&s.pk);
		}
	}
	FUZZ_END;
	return 0;
}
