/*
 * fuzz_roundtrip - the writers against the readers. The bytes drive the
 * building of a stream of random trees (maps, sequences, string scalars of
 * any bytes incl. NUL, controls, NEL/LS/PS/BOM/NBSP, raw true/false/null/
 * numbers); yaml_doc and json_emit output must parse back (yaml_parse,
 * json_parse) to the same documents: same shape, same bytes, and every
 * string still a string. A reader error on writer output is a failure too,
 * and so is a YAML character that YAML 1.1 readers (PyYAML, go-yaml in
 * kubectl and kubeseal) refuse to read at all.
 * At start-up the fixed case of the issue runs: every byte 0x01-0x7f plus
 * the UTF-8 line separators, as a key and as a value, through both writers.
 */
#include "fuzz.h"

struct rd {
	const uint8_t *p, *end;
};

static unsigned
rd_byte(struct rd *r)
{
	return r->p < r->end ? *r->p++ : 0;
}

/* characters a writer must get right, beyond ASCII */
static const char *const wide[] = {
	"\xc2\x85",     /* NEL: a YAML line break */
	"\xe2\x80\xa8", /* LINE SEPARATOR */
	"\xe2\x80\xa9", /* PARAGRAPH SEPARATOR */
	"\xef\xbb\xbf", /* BOM */
	"\xc2\xa0",     /* NBSP */
	"\xc3\xa9",     /* e acute */
	"\xf0\x9f\x94\x91", /* a 4-byte character */
	"\xef\xbf\xbd", /* REPLACEMENT CHARACTER */
	"\xc2\x90",     /* a C1 control */
	"\xef\xbf\xbe", /* U+FFFE, a noncharacter */
};

static struct node *
rd_string(struct rd *r)
{
	struct buf b = {0};
	unsigned len = rd_byte(r) % 24;
	for (unsigned i = 0; i < len; i++) {
		unsigned c = rd_byte(r);
		if (c < 0x80)
			buf_putc(&b, (char)c);
		else
			buf_puts(&b, wide[c % (sizeof wide / sizeof wide[0])]);
	}
	struct node *n = node_new(N_SCALAR, 0);
	n->quoted = 1;
	n->s = buf_take(&b, &n->len);
	return n;
}

static struct node *
rd_tree(struct rd *r, int depth)
{
	static const char *const raw[] = {"true", "false", "null", "0", "-12", "1.5", "1e3", "42"};
	unsigned op = rd_byte(r) % 8;
	if (depth >= 8 && op >= 4)
		op = 0;
	if (op <= 2)
		return rd_string(r);
	if (op == 3)
		return node_raw(raw[rd_byte(r) % (sizeof raw / sizeof raw[0])]);
	struct node *n = node_new(op <= 5 ? N_MAP : N_SEQ, 0);
	unsigned count = rd_byte(r) % 5;
	for (unsigned i = 0; i < count; i++) {
		if (n->kind == N_SEQ) {
			seq_add(n, rd_tree(r, depth + 1));
			continue;
		}
		struct node *k = rd_string(r);
		int dup = 0;
		for (size_t j = 0; j < n->n; j++)
			dup |= n->k[j]->len == k->len && !memcmp(n->k[j]->s, k->s, k->len);
		if (dup) {
			node_free(k);
			continue;
		}
		node_push(n, k, rd_tree(r, depth + 1));
	}
	return n;
}

/* a string must come back a string: quoted, or plain where the writer chose plain */
static int
same_tree(const struct node *a, const struct node *b, int yaml, char *why, size_t wn)
{
	if (a->kind != b->kind) {
		snprintf(why, wn, "kind %d read back as %d", a->kind, b->kind);
		return 0;
	}
	if (a->kind == N_SCALAR) {
		if (a->len != b->len || memcmp(a->s, b->s, a->len)) {
			snprintf(why, wn, "scalar of %zu bytes read back as %zu bytes", a->len,
				 b->len);
			return 0;
		}
		int string_ok = a->quoted ? b->quoted || (yaml && yaml_plain_ok(a->s, a->len))
					  : !b->quoted;
		if (!string_ok) {
			snprintf(why, wn, "scalar '%.40s' changed type (quoted %d -> %d)", a->s,
				 a->quoted, b->quoted);
			return 0;
		}
		return 1;
	}
	if (a->n != b->n) {
		snprintf(why, wn, "collection of %zu read back with %zu entries", a->n, b->n);
		return 0;
	}
	for (size_t i = 0; i < a->n; i++) {
		if (a->kind == N_MAP && !same_tree(a->k[i], b->k[i], yaml, why, wn))
			return 0;
		if (!same_tree(a->v[i], b->v[i], yaml, why, wn))
			return 0;
	}
	return 1;
}

static void
dump_and_abort(const char *what, const struct buf *text, const char *why)
{
	fprintf(stderr, "roundtrip: %s: %s\n--- writer output (%zu bytes) ---\n", what, why,
		text->n);
	fwrite(text->p, 1, text->n, stderr);
	fprintf(stderr, "\n--- end ---\n");
	abort();
}

/* YAML 1.1's printable set (PyYAML's Reader, libyaml, go-yaml); offset of the first other or -1 */
static long
yaml_unprintable_at(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint32_t cp = s[i];
		size_t len = cp < 0x80 ? 1 : cp < 0xe0 ? 2 : cp < 0xf0 ? 3 : 4;
		if (i + len > n)
			return (long)i;
		if (len > 1)
			cp &= 0xff >> (len + 1);
		for (size_t j = 1; j < len; j++)
			cp = cp << 6 | (s[i + j] & 0x3f);
		if (!(cp == 0x09 || cp == 0x0a || cp == 0x0d || (cp >= 0x20 && cp <= 0x7e) ||
		      cp == 0x85 || (cp >= 0xa0 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) ||
		      cp >= 0x10000))
			return (long)i;
		i += len;
	}
	return -1;
}

/* write docs with one writer, read them back with its reader, compare */
static void
roundtrip(struct node **roots, size_t nroots, int yaml)
{
	static struct buf text;
	static struct docs ds;
	memset(&text, 0, sizeof text);
	memset(&ds, 0, sizeof ds);
	for (size_t i = 0; i < nroots; i++) {
		if (yaml) {
			yaml_doc(&text, roots[i]);
		} else {
			json_emit(&text, roots[i], 0);
			buf_putc(&text, '\n');
		}
	}
	const char *what = yaml ? "yaml_doc -> yaml_parse" : "json_emit -> json_parse";
	char why[256] = "";
	long bad = yaml ? yaml_unprintable_at((const unsigned char *)text.p, text.n) : -1;
	if (bad >= 0) {
		snprintf(why, sizeof why, "byte %ld starts a character YAML 1.1 readers refuse", bad);
		dump_and_abort(what, &text, why);
	}
	FUZZ_TRY {
		if (yaml)
			yaml_parse(text.p, text.n, "roundtrip", &ds);
		else
			json_parse(text.p, text.n, "roundtrip", &ds);
		if (ds.n != nroots)
			snprintf(why, sizeof why, "%zu documents read back as %zu", nroots, ds.n);
		for (size_t i = 0; !*why && i < nroots; i++) {
			if (!ds.d[i].root)
				snprintf(why, sizeof why, "document %zu read back empty", i + 1);
			else
				same_tree(roots[i], ds.d[i].root, yaml, why, sizeof why);
		}
		if (*why)
			dump_and_abort(what, &text, why);
		docs_free(&ds);
	}
	FUZZ_END;
	if (fuzz_exit_code >= 0)
		dump_and_abort(what, &text, "the reader refused the writer's output (message above)");
	buf_free(&text);
}

static void
roundtrip_both(struct node **roots, size_t n)
{
	roundtrip(roots, n, 1);
	roundtrip(roots, n, 0);
}

/* the fixed case: every byte 0x01-0x7f and the UTF-8 line separators */
static void
every_byte(void)
{
	char s[0x7f + 16];
	size_t n = 0;
	for (int c = 1; c <= 0x7f; c++)
		s[n++] = (char)c;
	memcpy(s + n, "\xc2\x85\xe2\x80\xa8\xe2\x80\xa9", 8);
	n += 8;
	struct node *m = node_new(N_MAP, 0);
	node_push(m, node_str_n(s, n, 1), node_str_n(s, n, 1));
	map_add(m, "seq", node_new(N_SEQ, 0));
	seq_add(m->v[1], node_str_n(s, n, 1));
	seq_add(m->v[1], node_str_n(s + 0x20, n - 0x20, 1)); /* starts with a space */
	struct node *roots[2] = {m, node_new(N_SEQ, 0)};
	seq_add(roots[1], node_str_n(s, n, 1));
	roundtrip_both(roots, 2);
	node_free(roots[0]);
	node_free(roots[1]);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	quiet = 1;
	every_byte();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rd r = {data, data + size};
	struct node *roots[3];
	size_t n = 1 + rd_byte(&r) % 3;
	for (size_t i = 0; i < n; i++)
		roots[i] = rd_tree(&r, 0);
	roundtrip_both(roots, n);
	for (size_t i = 0; i < n; i++)
		node_free(roots[i]);
	return 0;
}
