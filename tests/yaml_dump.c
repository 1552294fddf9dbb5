/*
 * Test harness (tests/t_patch.sh): seedsec's own YAML/JSON reader on the
 * files given, every document written as JSON with every scalar a string
 * (null for an empty document), for comparison with PyYAML's BaseLoader.
 */
#define main seedsec_main
#include "../seedsec.c"
#undef main

static void
dump(struct buf *b, const struct node *n)
{
	if (n->kind == N_SCALAR) {
		json_string(b, n->s, n->len);
		return;
	}
	buf_putc(b, n->kind == N_MAP ? '{' : '[');
	for (size_t i = 0; i < n->n; i++) {
		if (i)
			buf_putc(b, ',');
		if (n->kind == N_MAP) {
			json_string(b, n->k[i]->s, n->k[i]->len);
			buf_putc(b, ':');
		}
		dump(b, n->v[i]);
	}
	buf_putc(b, n->kind == N_MAP ? '}' : ']');
}

int main(int argc, char **argv);

int
main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		size_t n;
		char *src = read_file(argv[i], &n, "input");
		struct docs ds = {0};
		parse_stream(src, n, argv[i], &ds);
		struct buf b = {0};
		for (size_t j = 0; j < ds.n; j++) {
			if (ds.d[j].root)
				dump(&b, ds.d[j].root);
			else
				buf_puts(&b, "null");
			buf_putc(&b, '\n');
		}
		write_stdout(b.p ? b.p : "", b.n);
		buf_free(&b);
		docs_free(&ds);
		free(src);
	}
	return 0;
}
