/*
 * tests/fuzz/walk.h - the --existing reading shared by fuzz_yaml and
 * fuzz_json: parse a stream, walk its Secrets/Lists as render and as check
 * do (existing_secret), then hold what the rest of seedsec relies on.
 */
static void
fuzz_walk_as(const char *src, size_t n,
	     void (*parse)(const char *, size_t, const char *, struct docs *), const char *cmd)
{
	static struct opts o;
	static struct values vs;
	static struct docs ds;
	memset(&o, 0, sizeof o);
	memset(&vs, 0, sizeof vs);
	memset(&ds, 0, sizeof ds);
	o.cmd = cmd;
	o.ns = DEFAULT_NAMESPACE;
	o.property = DEFAULT_PROPERTY;
	FUZZ_TRY {
		live_values = &vs;
		parse(src, n, "fuzz", &ds);
		for (size_t i = 0; i < ds.n; i++)
			FUZZ_ASSERT(ds.d[i].start <= ds.d[i].end && ds.d[i].end <= n,
				    "document %zu range [%zu,%zu) outside %zu bytes", i,
				    ds.d[i].start, ds.d[i].end, n);
		static struct existing_ctx x;
		memset(&x, 0, sizeof x);
		x.o = &o;
		x.vs = &vs;
		walk_objects(&ds, "fuzz", existing_secret, &x);
		for (int k = 0; k < NKEYS; k++) {
			fuzz_free(x.seen_at[k]);
			fuzz_free(x.seen_ns[k]);
		}
		docs_free(&ds);
		for (int k = 0; k < NKEYS; k++) {
			const char *v = vs.v[k];
			if (!v)
				continue;
			size_t vn = strlen(v);
			FUZZ_ASSERT(vn > 0, "%s: empty value kept", keys[k].name);
			FUZZ_ASSERT(vs.o[k] == O_EXISTING, "%s: origin %d", keys[k].name, vs.o[k]);
			if (strcmp(cmd, "check"))
				FUZZ_ASSERT(utf8_invalid_at((const unsigned char *)v, vn) < 0,
					    "%s: invalid UTF-8 kept", keys[k].name);
			(void)rule_violation(k, v, vn, 0);
			(void)rule_violation(k, v, vn, 1);
		}
		/* the Dex pair check, at bcrypt's cheapest cost (the parse is what matters) */
		const char *h = vs.v[K_DEX_ADMIN_HASH];
		if (h && strlen(h) == BCRYPT_HASH_LEN) {
			char cheap[BCRYPT_HASH_LEN + 1];
			memcpy(cheap, h, sizeof cheap);
			if (isdigit((unsigned char)cheap[4]) && isdigit((unsigned char)cheap[5]))
				cheap[4] = '0', cheap[5] = '4';
			const char *pw = vs.v[K_DEX_ADMIN_PASSWORD] ? vs.v[K_DEX_ADMIN_PASSWORD] : "";
			(void)bcrypt_verify(pw, strlen(pw), cheap, BCRYPT_HASH_LEN);
		}
		values_free(&vs);
		live_values = NULL;
	}
	FUZZ_END;
}

static void
fuzz_walk(const char *src, size_t n, void (*parse)(const char *, size_t, const char *, struct docs *))
{
	fuzz_walk_as(src, n, parse, "render");
	fuzz_walk_as(src, n, parse, "check");
}
