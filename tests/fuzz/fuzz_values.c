/*
 * fuzz_values - one value as an operator or an earlier run hands it over.
 * First byte: which key; the rest: the bytes. clean_provided (--value
 * files, environment, the Dex mirror), b64_decode (data: values),
 * rule_violation and cookie_secret_bytes (check), bcrypt_verify's hash
 * parsing (at cost 4 at most: the parse is what matters, not the rounds).
 */
#include "fuzz.h"

FUZZ_QUIET_INIT

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int k = data[0] % NKEYS;
	const char *s = (const char *)data + 1;
	size_t n = size - 1;
	FUZZ_TRY {
		char *v = clean_provided(k, s, n, "fuzz");
		if (v) {
			size_t vn = strlen(v);
			FUZZ_ASSERT(vn > 0 && vn <= n, "cleaned length %zu of %zu", vn, n);
			FUZZ_ASSERT(utf8_invalid_at((const unsigned char *)v, vn) < 0, "bad UTF-8 kept");
			for (size_t i = 0; i < vn; i++)
				FUZZ_ASSERT((unsigned char)v[i] > 0x20 && v[i] != 0x7f,
					    "byte 0x%02x kept at %zu", (unsigned char)v[i], i);
			sfree_str(v);
		}
	}
	FUZZ_END;
	size_t dn = 0;
	unsigned char *d = b64_decode(s, n, &dn);
	if (d) {
		FUZZ_ASSERT(dn <= n / 4 * 3, "decoded %zu from %zu", dn, n);
		char *back = b64_encode(d, dn);
		/* padding bits may differ (Go's StdEncoding accepts them too) */
		FUZZ_ASSERT(strlen(back) == n, "base64 re-encodes to %zu bytes, not %zu",
			    strlen(back), n);
		sfree_str(back);
		sfree(d, dn + 1);
	}
	for (int j = 0; j < NKEYS; j++) {
		(void)rule_violation(j, s, n, 0);
		(void)rule_violation(j, s, n, 1);
	}
	if (n == BCRYPT_HASH_LEN) {
		char cheap[BCRYPT_HASH_LEN];
		memcpy(cheap, s, n);
		if (isdigit((unsigned char)cheap[4]) && isdigit((unsigned char)cheap[5]) &&
		    (cheap[4] != '0' || cheap[5] > '4'))
			cheap[4] = '0', cheap[5] = '4';
		(void)bcrypt_verify("password", 8, cheap, n);
	}
	return 0;
}
