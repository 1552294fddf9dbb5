/*
 * seedsec - mint and deliver the secrets of a self-hosted AI platform.
 *
 * One static binary (musl + Mbed TLS). It reads the platform config, decides
 * which backend keys are needed (contract.def), generates or collects their
 * values, and delivers them: Kubernetes Secret manifests (render),
 * SealedSecrets (seal), Google Secret Manager over HTTPS (push).
 *
 * Reading order: constants, contract expansion, utilities, document tree,
 * config reader, value generation, bcrypt, JSON writer/reader, YAML
 * writer/reader, HTTP over TLS, Google auth, GSM, sealing, commands, main().
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/base64.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/platform_util.h>

/* ===================================================================== */
/* Constants                                                              */
/* ===================================================================== */

#ifndef SEEDSEC_VERSION
#define SEEDSEC_VERSION "0.1.0"
#endif

#define MAX_INPUT_BYTES (16u << 20)   /* biggest file we read: 16 MiB */
#define MAX_VALUE (64u << 10)   /* GSM payload limit: 64 KiB */
#define MAX_DEPTH 64            /* nesting limit for YAML/JSON */
#define BCRYPT_MIN_COST 10      /* Dex refuses hashes outside 10..16 */
#define BCRYPT_MAX_COST 16
#define BCRYPT_DEFAULT_COST 12
#define BCRYPT_HASH_LEN 60
#define DEFAULT_ENV "ai-dev"
#define DEFAULT_NAMESPACE "secret-source"
#define DEFAULT_PROPERTY "value"
#define DEFAULT_STATE "secrets"
#define ESO_PROVIDER_DOCS "https://external-secrets.io/latest/provider/"

/* exit codes: 0 done; 1 done, something missing or a check failed; 2 error */
enum { EXIT_OK = 0, EXIT_MISSING = 1, EXIT_ERROR = 2 };

/* ===================================================================== */
/* Contract expansion (contract.def)                                      */
/* ===================================================================== */

enum gate { G_ALWAYS, G_N8N, G_IDENTITY, G_DNS, G_EGRESS, G_HF, NGATES };
static const char *const gate_names[NGATES] = {
	"always", "n8n", "identity", "dns", "egress", "hf",
};
static const char *const gate_rules[NGATES] = {
	"always",
	"features.n8n: true",
	"features.identity: true",
	"dns.automate: true and dns.provider: cloudflare",
	"features.egress: true",
	"no config flag: --enable hf or a value supplied",
};

enum source { S_GEN, S_PROVIDED };
enum rule { R_MASTER, R_ALNUM, R_COOKIE, R_BCRYPT, R_TOKEN };
enum { F_WRITE_ONCE = 1, F_DEX_PW = 2, F_DEX_HASH = 4, F_URL = 8 };

enum key {
#define KEY(id, name, gate, src, rule, len, flags, env, hint, cons) K_##id,
#include "contract.def"
#undef KEY
	NKEYS
};

struct keydef {
	const char *name;
	enum gate gate;
	enum source src;
	enum rule rule;
	int len;
	int flags;
	const char *env;
	const char *hint;
	const char *consumers;
};

static const struct keydef keys[NKEYS] = {
#define KEY(id, name, gate, src, rule, len, flags, env, hint, cons) \
	{name, G_##gate, S_##src, R_##rule, len, flags, env, hint, cons},
#include "contract.def"
#undef KEY
};

static int
key_lookup(const char *name, size_t n)
{
	for (int k = 0; k < NKEYS; k++)
		if (strlen(keys[k].name) == n && memcmp(keys[k].name, name, n) == 0)
			return k;
	return -1;
}

static int
gate_lookup(const char *name)
{
	for (int g = 1; g < NGATES; g++)
		if (strcmp(gate_names[g], name) == 0)
			return g;
	return -1;
}

/* ===================================================================== */
/* Utilities                                                              */
/* ===================================================================== */

static const char *progname = "seedsec";
static int quiet;

static void cleanup_secrets(void);

#ifdef SEEDSEC_FUZZ
/* tests/fuzz/: an error exit is an expected outcome; the harness catches it */
#include <setjmp.h>
static jmp_buf *fuzz_die_jmp;
#endif

static void __attribute__((noreturn, format(printf, 2, 3)))
die(int code, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cleanup_secrets();
#ifdef SEEDSEC_FUZZ
	if (fuzz_die_jmp)
		longjmp(*fuzz_die_jmp, 1 + code);
#endif
	exit(code);
}

#define fatal(...) die(EXIT_ERROR, __VA_ARGS__)

static void __attribute__((format(printf, 1, 2)))
warnx(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: warning: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* status lines (CREATED/EXISTS/...) go to stderr, values never do */
static void __attribute__((format(printf, 1, 2)))
status(const char *fmt, ...)
{
	va_list ap;
	if (quiet)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		fatal("out of memory");
	return p;
}

static void *
xcalloc(size_t a, size_t b)
{
	void *p = calloc(a ? a : 1, b ? b : 1);
	if (!p)
		fatal("out of memory");
	return p;
}

static char *
xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

static char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

static void
zeroize(void *p, size_t n)
{
	if (p && n)
		mbedtls_platform_zeroize(p, n);
}

/* free a buffer that may have held a secret */
static void
sfree(void *p, size_t n)
{
	if (p) {
		zeroize(p, n);
		free(p);
	}
}

static void
sfree_str(char *s)
{
	if (s)
		sfree(s, strlen(s));
}

/* growable byte buffer; wiped whenever it moves or is freed */
struct buf {
	char *p;
	size_t n, cap;
};

static void
buf_grow(struct buf *b, size_t add)
{
	if (add > SIZE_MAX / 2 - b->n)
		fatal("out of memory");
	if (b->n + add + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->n + add + 1)
		cap *= 2;
	char *np = xmalloc(cap);
	if (b->p) {
		memcpy(np, b->p, b->n);
		sfree(b->p, b->cap);
	}
	b->p = np;
	b->cap = cap;
}

static void
buf_add(struct buf *b, const void *s, size_t n)
{
	buf_grow(b, n);
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = 0;
}

static void
buf_puts(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void
buf_putc(struct buf *b, char c)
{
	buf_add(b, &c, 1);
}

static void __attribute__((format(printf, 2, 3)))
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatal("formatting failed");
	buf_grow(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->n += (size_t)n;
}

static void
buf_free(struct buf *b)
{
	sfree(b->p, b->cap);
	memset(b, 0, sizeof *b);
}

/* detach the contents as a NUL-terminated string */
static char *
buf_take(struct buf *b, size_t *n)
{
	buf_grow(b, 0);
	char *p = b->p;
	p[b->n] = 0;    /* an empty buffer, or one read() filled, has no NUL yet */
	if (n)
		*n = b->n;
	memset(b, 0, sizeof *b);
	return p;
}

/* read a whole file ("-" is stdin); bounded; errors name the path */
static char *
read_file(const char *path, size_t *len, const char *what)
{
	int fd = 0;
	if (strcmp(path, "-") != 0) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			fatal("can't open %s %s: %s", what, path, strerror(errno));
	}
	struct buf b = {0};
	for (;;) {
		buf_grow(&b, 65536);
		ssize_t r = read(fd, b.p + b.n, b.cap - b.n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			buf_free(&b);
			fatal("can't read %s %s: %s", what, path, strerror(errno));
		}
		if (r == 0)
			break;
		b.n += (size_t)r;
		if (b.n > MAX_INPUT_BYTES) {
			buf_free(&b);
			fatal("%s %s is larger than %u bytes", what, path, MAX_INPUT_BYTES);
		}
	}
	if (fd != 0)
		close(fd);
	return buf_take(&b, len);
}

static int
path_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/*
 * Write a file atomically: a fresh temp name (O_EXCL|O_NOFOLLOW, 0600) in the
 * target's directory, fsync, then link() to the final name so an existing
 * file is never clobbered. With replace set (the file is an input we have
 * just read and carried over in full), rename() is used instead.
 */
static void
write_file_atomic(const char *path, const char *data, size_t n, int replace)
{
	char tmp[PATH_MAX];
	int fd = -1;
	for (int i = 0; i < 100 && fd < 0; i++) {
		unsigned r = (unsigned)getpid() * 2654435761u + (unsigned)i * 40503u +
			     (unsigned)time(NULL);
		if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp-%08x", path, r) >= sizeof tmp)
			fatal("path too long: %s", path);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST)
			fatal("can't create %s: %s", tmp, strerror(errno));
	}
	if (fd < 0)
		fatal("can't create a temp file beside %s", path);
	size_t off = 0;
	while (off < n) {
		ssize_t w = write(fd, data + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			int e = errno;
			close(fd);
			unlink(tmp);
			fatal("can't write %s: %s", tmp, strerror(e));
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		int e = errno;
		unlink(tmp);
		fatal("can't write %s: %s", tmp, strerror(e));
	}
	if (replace) {
		if (rename(tmp, path) != 0) {
			int e = errno;
			unlink(tmp);
			fatal("can't rename %s to %s: %s", tmp, path, strerror(e));
		}
		return;
	}
	if (link(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		if (e == EEXIST)
			fatal("%s already exists; seedsec never overwrites a file "
			      "(remove it, or pass it as --existing)", path);
		fatal("can't create %s: %s", path, strerror(e));
	}
	unlink(tmp);
}

/* mkdir -p with the given mode for the last component */
static void
make_dir(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	if ((size_t)snprintf(tmp, sizeof tmp, "%s", path) >= sizeof tmp)
		fatal("path too long: %s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
			fatal("can't create directory %s: %s", tmp, strerror(errno));
		*p = '/';
	}
	if (mkdir(tmp, mode) != 0 && errno != EEXIST)
		fatal("can't create directory %s: %s", tmp, strerror(errno));
	struct stat st;
	if (stat(tmp, &st) != 0 || !S_ISDIR(st.st_mode))
		fatal("%s is not a directory", tmp);
}

/* UTF-8 check; returns the offset of the first bad byte or -1 */
static long
utf8_invalid_at(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned c = s[i];
		size_t len;
		uint32_t cp, min;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			len = 2, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4, cp = c & 0x07, min = 0x10000;
		} else {
			return (long)i;
		}
		if (i + len > n)
			return (long)i;
		for (size_t j = 1; j < len; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return (long)i;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return (long)i;
		i += len;
	}
	return -1;
}

/* base64 (standard, padded) of n bytes into a new string */
static char *
b64_encode(const unsigned char *s, size_t n)
{
	size_t olen = 0;
	mbedtls_base64_encode(NULL, 0, &olen, s, n);
	char *out = xmalloc(olen + 1);
	if (mbedtls_base64_encode((unsigned char *)out, olen + 1, &olen, s, n) != 0)
		fatal("base64 encoding failed");
	out[olen] = 0;
	return out;
}

/* strict decode of standard padded base64; NULL if malformed */
static unsigned char *
b64_decode(const char *s, size_t n, size_t *outn)
{
	if (n % 4 != 0)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!(isalnum(c) || c == '+' || c == '/' || c == '='))
			return NULL;
	}
	size_t olen = 0;
	mbedtls_base64_decode(NULL, 0, &olen, (const unsigned char *)s, n);
	unsigned char *out = xmalloc(olen + 1);
	if (mbedtls_base64_decode(out, olen + 1, &olen, (const unsigned char *)s, n) != 0) {
		sfree(out, olen + 1);
		return NULL;
	}
	out[olen] = 0;
	*outn = olen;
	return out;
}

/* URL-safe base64 with '=' padding (oauth2-proxy's cookie secret form) */
static char *
b64url_encode(const unsigned char *s, size_t n)
{
	char *out = b64_encode(s, n);
	for (char *p = out; *p; p++)
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
	return out;
}

/* ===================================================================== */
/* Document tree (shared by the YAML and JSON readers and writers)        */
/* ===================================================================== */

enum nkind { N_SCALAR, N_MAP, N_SEQ };

struct node {
	enum nkind kind;
	int line;
	int quoted;     /* scalar: a string for sure (quoted in source / JSON string) */
	char *s;        /* scalar text, NUL-terminated */
	size_t len;
	size_t n, cap;  /* map: k[i] -> v[i]; seq: v[i] */
	struct node **k, **v;
};

static struct node *
node_new(enum nkind kind, int line)
{
	struct node *n = xcalloc(1, sizeof *n);
	n->kind = kind;
	n->line = line;
	return n;
}

static struct node *
node_str_n(const char *s, size_t len, int quoted)
{
	struct node *n = node_new(N_SCALAR, 0);
	n->s = xstrndup(s, len);
	n->len = len;
	n->quoted = quoted;
	return n;
}

/* a string scalar (always a string in output) */
static struct node *
node_str(const char *s)
{
	return node_str_n(s, strlen(s), 1);
}

/* a raw scalar: true/false/number, written unquoted */
static struct node *
node_raw(const char *s)
{
	return node_str_n(s, strlen(s), 0);
}

static void
node_push(struct node *p, struct node *k, struct node *v)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 8;
		struct node **nk = xcalloc(p->cap, sizeof *nk);
		struct node **nv = xcalloc(p->cap, sizeof *nv);
		if (p->n) {
			memcpy(nk, p->k, p->n * sizeof *nk);
			memcpy(nv, p->v, p->n * sizeof *nv);
		}
		free(p->k);
		free(p->v);
		p->k = nk;
		p->v = nv;
	}
	p->k[p->n] = k;
	p->v[p->n] = v;
	p->n++;
}

static struct node *
map_add(struct node *m, const char *key, struct node *v)
{
	node_push(m, node_str(key), v);
	return v;
}

static struct node *
seq_add(struct node *s, struct node *v)
{
	node_push(s, NULL, v);
	return v;
}

static void
node_free(struct node *n)
{
	if (!n)
		return;
	if (n->s)
		sfree(n->s, n->len);
	for (size_t i = 0; i < n->n; i++) {
		node_free(n->k[i]);
		node_free(n->v[i]);
	}
	free(n->k);
	free(n->v);
	free(n);
}

static struct node *
map_get(const struct node *m, const char *key)
{
	if (!m || m->kind != N_MAP)
		return NULL;
	size_t kl = strlen(key);
	for (size_t i = 0; i < m->n; i++)
		if (m->k[i]->len == kl && memcmp(m->k[i]->s, key, kl) == 0)
			return m->v[i];
	return NULL;
}

/* scalar text of m[key] or NULL */
static const char *
map_str(const struct node *m, const char *key)
{
	const struct node *v = map_get(m, key);
	return v && v->kind == N_SCALAR ? v->s : NULL;
}

/* follow a dotted path of map keys */
static struct node *
node_path(struct node *n, const char *path)
{
	char part[128];
	while (n && *path) {
		const char *dot = strchr(path, '.');
		size_t l = dot ? (size_t)(dot - path) : strlen(path);
		if (l >= sizeof part)
			return NULL;
		memcpy(part, path, l);
		part[l] = 0;
		n = map_get(n, part);
		path += l + (dot ? 1 : 0);
	}
	return n;
}

/* a plain scalar that YAML reads as null */
static int
scalar_is_null(const struct node *n)
{
	if (!n)
		return 1;
	if (n->kind != N_SCALAR || n->quoted)
		return 0;
	return n->len == 0 || !strcmp(n->s, "~") || !strcmp(n->s, "null") ||
	       !strcmp(n->s, "Null") || !strcmp(n->s, "NULL");
}

/* documents of a stream, with their byte ranges in the source */
struct doc {
	struct node *root;  /* NULL for an empty document */
	size_t start, end;  /* [start, end) in the source, incl. its '---' line */
	int line;           /* first line of the document */
};

struct docs {
	struct doc *d;
	size_t n, cap;
};

static void
docs_free(struct docs *ds)
{
	for (size_t i = 0; i < ds->n; i++)
		node_free(ds->d[i].root);
	free(ds->d);
	memset(ds, 0, sizeof *ds);
}

static void
docs_push(struct docs *ds, struct doc d)
{
	if (ds->n == ds->cap) {
		ds->cap = ds->cap ? ds->cap * 2 : 8;
		struct doc *nd = xcalloc(ds->cap, sizeof *nd);
		if (ds->n)
			memcpy(nd, ds->d, ds->n * sizeof *nd);
		free(ds->d);
		ds->d = nd;
	}
	ds->d[ds->n++] = d;
}

/* readers (defined below); both die with FILE:LINE on bad input */
static void yaml_parse(const char *src, size_t n, const char *file, struct docs *out);
static void json_parse(const char *src, size_t n, const char *file, struct docs *out);

/* ===================================================================== */
/* Config reader                                                          */
/* ===================================================================== */

struct config {
	char *path;             /* NULL: built-in defaults */
	int gate[NGATES];       /* what the config turns on */
	char *backend;          /* secret_backend (default gcpsm) */
	char *project;          /* cluster.projectID or NULL */
	char *dns_provider;     /* for plan's explanation */
	int dns_automate;
};

static int
config_bool(const struct config *c, struct node *n, const char *key, int *out)
{
	if (!n || scalar_is_null(n))
		return 0;
	if (n->kind == N_SCALAR && !n->quoted) {
		if (!strcmp(n->s, "true") || !strcmp(n->s, "True") || !strcmp(n->s, "TRUE")) {
			*out = 1;
			return 1;
		}
		if (!strcmp(n->s, "false") || !strcmp(n->s, "False") || !strcmp(n->s, "FALSE")) {
			*out = 0;
			return 1;
		}
	}
	fatal("%s:%d: %s: expected true or false", c->path, n->line, key);
}

static char *
config_string(const struct config *c, struct node *n, const char *key)
{
	if (!n || scalar_is_null(n))
		return NULL;
	if (n->kind != N_SCALAR)
		fatal("%s:%d: %s: expected a string", c->path, n->line, key);
	return xstrdup(n->s);
}

static struct node *
config_map(const struct config *c, struct node *root, const char *key)
{
	struct node *n = map_get(root, key);
	if (!n || scalar_is_null(n))
		return NULL;
	if (n->kind != N_MAP)
		fatal("%s:%d: %s: expected a mapping", c->path, n->line, key);
	return n;
}

/*
 * Config file: -c FILE, else $CFG, else environments/$ENV/config.yaml if it
 * exists, else built-in defaults (every gate off, backend gcpsm).
 */
static void
config_load(struct config *c, const char *opt_path)
{
	memset(c, 0, sizeof *c);
	c->gate[G_ALWAYS] = 1;
	const char *path = opt_path;
	if (!path || !*path)
		path = getenv("CFG");
	if (!path || !*path) {
		const char *env = getenv("ENV");
		char def[PATH_MAX];
		if ((size_t)snprintf(def, sizeof def, "environments/%s/config.yaml",
				     env && *env ? env : DEFAULT_ENV) >= sizeof def)
			fatal("ENV is too long");
		if (path_exists(def))
			c->path = xstrdup(def);
	} else {
		c->path = xstrdup(path);
	}
	if (!c->path) {
		c->backend = xstrdup("gcpsm");
		return;
	}
	size_t n;
	char *src = read_file(c->path, &n, "config");
	struct docs ds = {0};
	yaml_parse(src, n, c->path, &ds);
	free(src);
	size_t real = 0;
	struct node *root = NULL;
	for (size_t i = 0; i < ds.n; i++)
		if (ds.d[i].root) {
			real++;
			root = ds.d[i].root;
		}
	if (real > 1)
		fatal("%s: expected one YAML document, found %zu", c->path, real);
	if (root && root->kind != N_MAP)
		fatal("%s:%d: expected a mapping at the top level", c->path, root->line);

	struct node *feat = config_map(c, root, "features");
	config_bool(c, map_get(feat, "n8n"), "features.n8n", &c->gate[G_N8N]);
	config_bool(c, map_get(feat, "identity"), "features.identity", &c->gate[G_IDENTITY]);
	config_bool(c, map_get(feat, "egress"), "features.egress", &c->gate[G_EGRESS]);
	struct node *dns = config_map(c, root, "dns");
	config_bool(c, map_get(dns, "automate"), "dns.automate", &c->dns_automate);
	c->dns_provider = config_string(c, map_get(dns, "provider"), "dns.provider");
	c->gate[G_DNS] = c->dns_automate && c->dns_provider &&
			 !strcmp(c->dns_provider, "cloudflare");
	c->backend = config_string(c, map_get(root, "secret_backend"), "secret_backend");
	if (!c->backend)
		c->backend = xstrdup("gcpsm");
	struct node *cl = config_map(c, root, "cluster");
	c->project = config_string(c, map_get(cl, "projectID"), "cluster.projectID");
	docs_free(&ds);
}

static void
config_free(struct config *c)
{
	free(c->path);
	free(c->backend);
	free(c->project);
	free(c->dns_provider);
}

/* ===================================================================== */
/* Value generation and the per-key rules                                 */
/* ===================================================================== */

static mbedtls_entropy_context entropy;
static mbedtls_ctr_drbg_context drbg;
static int rng_ready;

static void
rng_init(void)
{
	if (rng_ready)
		return;
	mbedtls_entropy_init(&entropy);
	mbedtls_ctr_drbg_init(&drbg);
	static const unsigned char pers[] = "seedsec key generation";
	int r = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, pers,
				      sizeof pers - 1);
	if (r != 0)
		fatal("can't seed the random generator from the OS (-0x%04x)", (unsigned)-r);
	rng_ready = 1;
}

static void
rand_bytes(unsigned char *p, size_t n)
{
	rng_init();
	while (n > 0) {
		size_t c = n > MBEDTLS_CTR_DRBG_MAX_REQUEST ? MBEDTLS_CTR_DRBG_MAX_REQUEST : n;
		int r = mbedtls_ctr_drbg_random(&drbg, p, c);
		if (r != 0)
			fatal("random generator failed (-0x%04x)", (unsigned)-r);
		p += c;
		n -= c;
	}
}

static const char alnum[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/* n characters from [A-Za-z0-9]; rejection sampling keeps it unbiased */
static void
rand_alnum(char *out, size_t n)
{
	unsigned char pool[64];
	size_t have = 0, used = 0;
	while (n > 0) {
		if (used == have) {
			rand_bytes(pool, sizeof pool);
			have = sizeof pool;
			used = 0;
		}
		unsigned b = pool[used++];
		if (b >= 248)   /* 248 = 4 * 62: the largest multiple below 256 */
			continue;
		*out++ = alnum[b % 62];
		n--;
	}
	zeroize(pool, sizeof pool);
}

static int
is_alnum_str(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]))
			return 0;
	return 1;
}

/*
 * oauth2-proxy's reading of a cookie secret: trim '=', decode as unpadded
 * URL-safe base64; if that works and gives 16/24/32 bytes use those bytes,
 * else use the raw string. Returns the length it ends up with.
 */
static size_t
cookie_secret_bytes(const char *s, size_t n)
{
	size_t m = n;
	while (m > 0 && s[m - 1] == '=')
		m--;
	int ok = m % 4 != 1;
	for (size_t i = 0; ok && i < m; i++) {
		unsigned char c = (unsigned char)s[i];
		ok = isalnum(c) || c == '-' || c == '_';
	}
	if (ok) {
		size_t dec = m / 4 * 3 + (m % 4 ? m % 4 - 1 : 0);
		if (dec == 16 || dec == 24 || dec == 32)
			return dec;
	}
	return n;
}

static int bcrypt_hash_wellformed(const char *h, size_t n, const char **why);

/*
 * Does a value satisfy its key's rule? Returns NULL or the broken rule (never
 * the value). strict: the exact shape seedsec generates; otherwise what the
 * consumer accepts (check, earlier values).
 */
static const char *
rule_violation(int k, const char *v, size_t n, int strict)
{
	static char why[160];
	const struct keydef *kd = &keys[k];
	if (n == 0)
		return "empty";
	long bad = utf8_invalid_at((const unsigned char *)v, n);
	if (bad >= 0) {
		snprintf(why, sizeof why, "invalid UTF-8 at byte %ld", bad);
		return why;
	}
	if (isspace((unsigned char)v[0]) || isspace((unsigned char)v[n - 1]))
		return v[n - 1] == '\n' ? "ends with a newline" : "has surrounding whitespace";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c == '\n' || c == '\r') {
			snprintf(why, sizeof why, "contains a line break at byte %zu", i);
			return why;
		}
		if (c < 0x20 || c == 0x7f) {
			snprintf(why, sizeof why, "contains a control byte at byte %zu", i);
			return why;
		}
		if (c == ' ') {
			snprintf(why, sizeof why, "contains whitespace at byte %zu", i);
			return why;
		}
	}
	if ((kd->flags & F_URL) && !is_alnum_str(v, n))
		return "must be [A-Za-z0-9] only (it goes into connection URLs and pgpass lines)";
	switch (kd->rule) {
	case R_MASTER:
		if (k == K_LITELLM_MASTER_KEY && n == 7 && !memcmp(v, "sk-1234", 7))
			return "is LiteLLM's documented example key, which LiteLLM refuses to start with";
		if (k == K_LITELLM_MASTER_KEY && (n < 3 || memcmp(v, "sk-", 3) != 0))
			return "must start with sk- (LiteLLM's key convention)";
		if (strict && (n != 3 + (size_t)kd->len || memcmp(v, "sk-", 3) != 0 ||
			       !is_alnum_str(v + 3, n - 3))) {
			snprintf(why, sizeof why, "must be sk- and %d [A-Za-z0-9]", kd->len);
			return why;
		}
		break;
	case R_ALNUM:
		if (strict && (n != (size_t)kd->len || !is_alnum_str(v, n))) {
			snprintf(why, sizeof why, "must be %d [A-Za-z0-9]", kd->len);
			return why;
		}
		break;
	case R_COOKIE: {
		size_t b = cookie_secret_bytes(v, n);
		if (b != 16 && b != 24 && b != 32) {
			snprintf(why, sizeof why,
				 "oauth2-proxy reads it as %zu bytes; it needs 16, 24 or 32 "
				 "(URL-safe base64 of 32 random bytes works)", b);
			return why;
		}
		if (strict && b != (size_t)kd->len)
			return "must be URL-safe base64 of 32 bytes";
		break;
	}
	case R_BCRYPT: {
		const char *w;
		if (!bcrypt_hash_wellformed(v, n, &w))
			return w;
		break;
	}
	case R_TOKEN:
		break;
	}
	return NULL;
}

static char *bcrypt_hash(const char *pw, size_t pwlen, int cost);
static int bcrypt_verify(const char *pw, size_t pwlen, const char *hash, size_t hlen);

/* a new value for a generated key (not the Dex hash: see dex_hash_for) */
static char *
gen_value(int k)
{
	const struct keydef *kd = &keys[k];
	char *v = NULL;
	switch (kd->rule) {
	case R_MASTER:
		v = xmalloc(3 + (size_t)kd->len + 1);
		memcpy(v, "sk-", 3);
		rand_alnum(v + 3, (size_t)kd->len);
		v[3 + kd->len] = 0;
		break;
	case R_ALNUM:
		v = xmalloc((size_t)kd->len + 1);
		rand_alnum(v, (size_t)kd->len);
		v[kd->len] = 0;
		break;
	case R_COOKIE: {
		unsigned char raw[64];
		rand_bytes(raw, (size_t)kd->len);
		v = b64url_encode(raw, (size_t)kd->len);
		zeroize(raw, sizeof raw);
		break;
	}
	default:
		fatal("internal: %s is not generated", kd->name);
	}
	const char *bad = rule_violation(k, v, strlen(v), 1);
	if (bad)
		fatal("internal: generated %s fails its rule: %s", kd->name, bad);
	return v;
}

/* the bcrypt hash of the Dex password, verified before anyone sees it */
static char *
dex_hash_for(const char *pw, int cost)
{
	char *h = bcrypt_hash(pw, strlen(pw), cost);
	const char *bad = rule_violation(K_DEX_ADMIN_HASH, h, strlen(h), 1);
	if (bad || !bcrypt_verify(pw, strlen(pw), h, strlen(h)))
		fatal("internal: the new dex-admin-hash does not verify against the password");
	return h;
}

/*
 * A provided value as the operator handed it over: strip one leading UTF-8
 * BOM and trailing CR/LF/space; reject NUL, other control bytes, inner
 * whitespace and invalid UTF-8, naming the key and the byte offset.
 * Returns NULL for an empty value ("not provided").
 */
static char *
clean_provided(int k, const char *src, size_t n, const char *from)
{
	size_t off = 0;
	if (n >= 3 && !memcmp(src, "\xef\xbb\xbf", 3))
		off = 3;
	size_t end = n;
	while (end > off && (src[end - 1] == '\n' || src[end - 1] == '\r' || src[end - 1] == ' '))
		end--;
	if (end == off)
		return NULL;
	long bad = utf8_invalid_at((const unsigned char *)src + off, end - off);
	for (size_t i = off; i < end; i++) {
		unsigned char c = (unsigned char)src[i];
		if (bad >= 0 && i == off + (size_t)bad)
			fatal("%s (from %s): invalid UTF-8 at byte %zu; nothing written",
			      keys[k].name, from, i);
		if (c == 0)
			fatal("%s (from %s): NUL byte at byte %zu; nothing written",
			      keys[k].name, from, i);
		if (c == '\r' || c == '\n')
			fatal("%s (from %s): line break inside the value at byte %zu; "
			      "nothing written", keys[k].name, from, i);
		if (c < 0x20 || c == 0x7f)
			fatal("%s (from %s): control byte 0x%02x at byte %zu; nothing written",
			      keys[k].name, from, c, i);
		if (c == ' ')
			fatal("%s (from %s): whitespace inside the value at byte %zu; "
			      "nothing written", keys[k].name, from, i);
	}
	if (keys[k].hint) {
		int match = 0;
		const char *h = keys[k].hint;
		while (*h) {
			size_t l = strcspn(h, "|");
			if (end - off >= l && !memcmp(src + off, h, l))
				match = 1;
			h += l + (h[l] == '|');
		}
		if (!match)
			warnx("%s (from %s) does not start with %s as such tokens usually do; "
			      "using it anyway", keys[k].name, from, keys[k].hint);
	}
	return xstrndup(src + off, end - off);
}

/* ===================================================================== */
/* bcrypt (EksBlowfish; Mbed TLS 3 has no Blowfish)                       */
/* ===================================================================== */

/*
 * Blowfish's initial state: the fractional part of pi in hex, P-array
 * (18 words) then the four S-boxes (4 x 256). Computed here with Machin's
 * formula in integer arithmetic; the bcrypt test vectors pin it.
 */
static const uint32_t bf_pi[18 + 1024] = {
	0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0,
	0x082efa98, 0xec4e6c89, 0x452821e6, 0x38d01377, 0xbe5466cf, 0x34e90c6c,
	0xc0ac29b7, 0xc97c50dd, 0x3f84d5b5, 0xb5470917, 0x9216d5d9, 0x8979fb1b,
	0xd1310ba6, 0x98dfb5ac, 0x2ffd72db, 0xd01adfb7, 0xb8e1afed, 0x6a267e96,
	0xba7c9045, 0xf12c7f99, 0x24a19947, 0xb3916cf7, 0x0801f2e2, 0x858efc16,
	0x636920d8, 0x71574e69, 0xa458fea3, 0xf4933d7e, 0x0d95748f, 0x728eb658,
	0x718bcd58, 0x82154aee, 0x7b54a41d, 0xc25a59b5, 0x9c30d539, 0x2af26013,
	0xc5d1b023, 0x286085f0, 0xca417918, 0xb8db38ef, 0x8e79dcb0, 0x603a180e,
	0x6c9e0e8b, 0xb01e8a3e, 0xd71577c1, 0xbd314b27, 0x78af2fda, 0x55605c60,
	0xe65525f3, 0xaa55ab94, 0x57489862, 0x63e81440, 0x55ca396a, 0x2aab10b6,
	0xb4cc5c34, 0x1141e8ce, 0xa15486af, 0x7c72e993, 0xb3ee1411, 0x636fbc2a,
	0x2ba9c55d, 0x741831f6, 0xce5c3e16, 0x9b87931e, 0xafd6ba33, 0x6c24cf5c,
	0x7a325381, 0x28958677, 0x3b8f4898, 0x6b4bb9af, 0xc4bfe81b, 0x66282193,
	0x61d809cc, 0xfb21a991, 0x487cac60, 0x5dec8032, 0xef845d5d, 0xe98575b1,
	0xdc262302, 0xeb651b88, 0x23893e81, 0xd396acc5, 0x0f6d6ff3, 0x83f44239,
	0x2e0b4482, 0xa4842004, 0x69c8f04a, 0x9e1f9b5e, 0x21c66842, 0xf6e96c9a,
	0x670c9c61, 0xabd388f0, 0x6a51a0d2, 0xd8542f68, 0x960fa728, 0xab5133a3,
	0x6eef0b6c, 0x137a3be4, 0xba3bf050, 0x7efb2a98, 0xa1f1651d, 0x39af0176,
	0x66ca593e, 0x82430e88, 0x8cee8619, 0x456f9fb4, 0x7d84a5c3, 0x3b8b5ebe,
	0xe06f75d8, 0x85c12073, 0x401a449f, 0x56c16aa6, 0x4ed3aa62, 0x363f7706,
	0x1bfedf72, 0x429b023d, 0x37d0d724, 0xd00a1248, 0xdb0fead3, 0x49f1c09b,
	0x075372c9, 0x80991b7b, 0x25d479d8, 0xf6e8def7, 0xe3fe501a, 0xb6794c3b,
	0x976ce0bd, 0x04c006ba, 0xc1a94fb6, 0x409f60c4, 0x5e5c9ec2, 0x196a2463,
	0x68fb6faf, 0x3e6c53b5, 0x1339b2eb, 0x3b52ec6f, 0x6dfc511f, 0x9b30952c,
	0xcc814544, 0xaf5ebd09, 0xbee3d004, 0xde334afd, 0x660f2807, 0x192e4bb3,
	0xc0cba857, 0x45c8740f, 0xd20b5f39, 0xb9d3fbdb, 0x5579c0bd, 0x1a60320a,
	0xd6a100c6, 0x402c7279, 0x679f25fe, 0xfb1fa3cc, 0x8ea5e9f8, 0xdb3222f8,
	0x3c7516df, 0xfd616b15, 0x2f501ec8, 0xad0552ab, 0x323db5fa, 0xfd238760,
	0x53317b48, 0x3e00df82, 0x9e5c57bb, 0xca6f8ca0, 0x1a87562e, 0xdf1769db,
	0xd542a8f6, 0x287effc3, 0xac6732c6, 0x8c4f5573, 0x695b27b0, 0xbbca58c8,
	0xe1ffa35d, 0xb8f011a0, 0x10fa3d98, 0xfd2183b8, 0x4afcb56c, 0x2dd1d35b,
	0x9a53e479, 0xb6f84565, 0xd28e49bc, 0x4bfb9790, 0xe1ddf2da, 0xa4cb7e33,
	0x62fb1341, 0xcee4c6e8, 0xef20cada, 0x36774c01, 0xd07e9efe, 0x2bf11fb4,
	0x95dbda4d, 0xae909198, 0xeaad8e71, 0x6b93d5a0, 0xd08ed1d0, 0xafc725e0,
	0x8e3c5b2f, 0x8e7594b7, 0x8ff6e2fb, 0xf2122b64, 0x8888b812, 0x900df01c,
	0x4fad5ea0, 0x688fc31c, 0xd1cff191, 0xb3a8c1ad, 0x2f2f2218, 0xbe0e1777,
	0xea752dfe, 0x8b021fa1, 0xe5a0cc0f, 0xb56f74e8, 0x18acf3d6, 0xce89e299,
	0xb4a84fe0, 0xfd13e0b7, 0x7cc43b81, 0xd2ada8d9, 0x165fa266, 0x80957705,
	0x93cc7314, 0x211a1477, 0xe6ad2065, 0x77b5fa86, 0xc75442f5, 0xfb9d35cf,
	0xebcdaf0c, 0x7b3e89a0, 0xd6411bd3, 0xae1e7e49, 0x00250e2d, 0x2071b35e,
	0x226800bb, 0x57b8e0af, 0x2464369b, 0xf009b91e, 0x5563911d, 0x59dfa6aa,
	0x78c14389, 0xd95a537f, 0x207d5ba2, 0x02e5b9c5, 0x83260376, 0x6295cfa9,
	0x11c81968, 0x4e734a41, 0xb3472dca, 0x7b14a94a, 0x1b510052, 0x9a532915,
	0xd60f573f, 0xbc9bc6e4, 0x2b60a476, 0x81e67400, 0x08ba6fb5, 0x571be91f,
	0xf296ec6b, 0x2a0dd915, 0xb6636521, 0xe7b9f9b6, 0xff34052e, 0xc5855664,
	0x53b02d5d, 0xa99f8fa1, 0x08ba4799, 0x6e85076a, 0x4b7a70e9, 0xb5b32944,
	0xdb75092e, 0xc4192623, 0xad6ea6b0, 0x49a7df7d, 0x9cee60b8, 0x8fedb266,
	0xecaa8c71, 0x699a17ff, 0x5664526c, 0xc2b19ee1, 0x193602a5, 0x75094c29,
	0xa0591340, 0xe4183a3e, 0x3f54989a, 0x5b429d65, 0x6b8fe4d6, 0x99f73fd6,
	0xa1d29c07, 0xefe830f5, 0x4d2d38e6, 0xf0255dc1, 0x4cdd2086, 0x8470eb26,
	0x6382e9c6, 0x021ecc5e, 0x09686b3f, 0x3ebaefc9, 0x3c971814, 0x6b6a70a1,
	0x687f3584, 0x52a0e286, 0xb79c5305, 0xaa500737, 0x3e07841c, 0x7fdeae5c,
	0x8e7d44ec, 0x5716f2b8, 0xb03ada37, 0xf0500c0d, 0xf01c1f04, 0x0200b3ff,
	0xae0cf51a, 0x3cb574b2, 0x25837a58, 0xdc0921bd, 0xd19113f9, 0x7ca92ff6,
	0x94324773, 0x22f54701, 0x3ae5e581, 0x37c2dadc, 0xc8b57634, 0x9af3dda7,
	0xa9446146, 0x0fd0030e, 0xecc8c73e, 0xa4751e41, 0xe238cd99, 0x3bea0e2f,
	0x3280bba1, 0x183eb331, 0x4e548b38, 0x4f6db908, 0x6f420d03, 0xf60a04bf,
	0x2cb81290, 0x24977c79, 0x5679b072, 0xbcaf89af, 0xde9a771f, 0xd9930810,
	0xb38bae12, 0xdccf3f2e, 0x5512721f, 0x2e6b7124, 0x501adde6, 0x9f84cd87,
	0x7a584718, 0x7408da17, 0xbc9f9abc, 0xe94b7d8c, 0xec7aec3a, 0xdb851dfa,
	0x63094366, 0xc464c3d2, 0xef1c1847, 0x3215d908, 0xdd433b37, 0x24c2ba16,
	0x12a14d43, 0x2a65c451, 0x50940002, 0x133ae4dd, 0x71dff89e, 0x10314e55,
	0x81ac77d6, 0x5f11199b, 0x043556f1, 0xd7a3c76b, 0x3c11183b, 0x5924a509,
	0xf28fe6ed, 0x97f1fbfa, 0x9ebabf2c, 0x1e153c6e, 0x86e34570, 0xeae96fb1,
	0x860e5e0a, 0x5a3e2ab3, 0x771fe71c, 0x4e3d06fa, 0x2965dcb9, 0x99e71d0f,
	0x803e89d6, 0x5266c825, 0x2e4cc978, 0x9c10b36a, 0xc6150eba, 0x94e2ea78,
	0xa5fc3c53, 0x1e0a2df4, 0xf2f74ea7, 0x361d2b3d, 0x1939260f, 0x19c27960,
	0x5223a708, 0xf71312b6, 0xebadfe6e, 0xeac31f66, 0xe3bc4595, 0xa67bc883,
	0xb17f37d1, 0x018cff28, 0xc332ddef, 0xbe6c5aa5, 0x65582185, 0x68ab9802,
	0xeecea50f, 0xdb2f953b, 0x2aef7dad, 0x5b6e2f84, 0x1521b628, 0x29076170,
	0xecdd4775, 0x619f1510, 0x13cca830, 0xeb61bd96, 0x0334fe1e, 0xaa0363cf,
	0xb5735c90, 0x4c70a239, 0xd59e9e0b, 0xcbaade14, 0xeecc86bc, 0x60622ca7,
	0x9cab5cab, 0xb2f3846e, 0x648b1eaf, 0x19bdf0ca, 0xa02369b9, 0x655abb50,
	0x40685a32, 0x3c2ab4b3, 0x319ee9d5, 0xc021b8f7, 0x9b540b19, 0x875fa099,
	0x95f7997e, 0x623d7da8, 0xf837889a, 0x97e32d77, 0x11ed935f, 0x16681281,
	0x0e358829, 0xc7e61fd6, 0x96dedfa1, 0x7858ba99, 0x57f584a5, 0x1b227263,
	0x9b83c3ff, 0x1ac24696, 0xcdb30aeb, 0x532e3054, 0x8fd948e4, 0x6dbc3128,
	0x58ebf2ef, 0x34c6ffea, 0xfe28ed61, 0xee7c3c73, 0x5d4a14d9, 0xe864b7e3,
	0x42105d14, 0x203e13e0, 0x45eee2b6, 0xa3aaabea, 0xdb6c4f15, 0xfacb4fd0,
	0xc742f442, 0xef6abbb5, 0x654f3b1d, 0x41cd2105, 0xd81e799e, 0x86854dc7,
	0xe44b476a, 0x3d816250, 0xcf62a1f2, 0x5b8d2646, 0xfc8883a0, 0xc1c7b6a3,
	0x7f1524c3, 0x69cb7492, 0x47848a0b, 0x5692b285, 0x095bbf00, 0xad19489d,
	0x1462b174, 0x23820e00, 0x58428d2a, 0x0c55f5ea, 0x1dadf43e, 0x233f7061,
	0x3372f092, 0x8d937e41, 0xd65fecf1, 0x6c223bdb, 0x7cde3759, 0xcbee7460,
	0x4085f2a7, 0xce77326e, 0xa6078084, 0x19f8509e, 0xe8efd855, 0x61d99735,
	0xa969a7aa, 0xc50c06c2, 0x5a04abfc, 0x800bcadc, 0x9e447a2e, 0xc3453484,
	0xfdd56705, 0x0e1e9ec9, 0xdb73dbd3, 0x105588cd, 0x675fda79, 0xe3674340,
	0xc5c43465, 0x713e38d8, 0x3d28f89e, 0xf16dff20, 0x153e21e7, 0x8fb03d4a,
	0xe6e39f2b, 0xdb83adf7, 0xe93d5a68, 0x948140f7, 0xf64c261c, 0x94692934,
	0x411520f7, 0x7602d4f7, 0xbcf46b2e, 0xd4a20068, 0xd4082471, 0x3320f46a,
	0x43b7d4b7, 0x500061af, 0x1e39f62e, 0x97244546, 0x14214f74, 0xbf8b8840,
	0x4d95fc1d, 0x96b591af, 0x70f4ddd3, 0x66a02f45, 0xbfbc09ec, 0x03bd9785,
	0x7fac6dd0, 0x31cb8504, 0x96eb27b3, 0x55fd3941, 0xda2547e6, 0xabca0a9a,
	0x28507825, 0x530429f4, 0x0a2c86da, 0xe9b66dfb, 0x68dc1462, 0xd7486900,
	0x680ec0a4, 0x27a18dee, 0x4f3ffea2, 0xe887ad8c, 0xb58ce006, 0x7af4d6b6,
	0xaace1e7c, 0xd3375fec, 0xce78a399, 0x406b2a42, 0x20fe9e35, 0xd9f385b9,
	0xee39d7ab, 0x3b124e8b, 0x1dc9faf7, 0x4b6d1856, 0x26a36631, 0xeae397b2,
	0x3a6efa74, 0xdd5b4332, 0x6841e7f7, 0xca7820fb, 0xfb0af54e, 0xd8feb397,
	0x454056ac, 0xba489527, 0x55533a3a, 0x20838d87, 0xfe6ba9b7, 0xd096954b,
	0x55a867bc, 0xa1159a58, 0xcca92963, 0x99e1db33, 0xa62a4a56, 0x3f3125f9,
	0x5ef47e1c, 0x9029317c, 0xfdf8e802, 0x04272f70, 0x80bb155c, 0x05282ce3,
	0x95c11548, 0xe4c66d22, 0x48c1133f, 0xc70f86dc, 0x07f9c9ee, 0x41041f0f,
	0x404779a4, 0x5d886e17, 0x325f51eb, 0xd59bc0d1, 0xf2bcc18f, 0x41113564,
	0x257b7834, 0x602a9c60, 0xdff8e8a3, 0x1f636c1b, 0x0e12b4c2, 0x02e1329e,
	0xaf664fd1, 0xcad18115, 0x6b2395e0, 0x333e92e1, 0x3b240b62, 0xeebeb922,
	0x85b2a20e, 0xe6ba0d99, 0xde720c8c, 0x2da2f728, 0xd0127845, 0x95b794fd,
	0x647d0862, 0xe7ccf5f0, 0x5449a36f, 0x877d48fa, 0xc39dfd27, 0xf33e8d1e,
	0x0a476341, 0x992eff74, 0x3a6f6eab, 0xf4f8fd37, 0xa812dc60, 0xa1ebddf8,
	0x991be14c, 0xdb6e6b0d, 0xc67b5510, 0x6d672c37, 0x2765d43b, 0xdcd0e804,
	0xf1290dc7, 0xcc00ffa3, 0xb5390f92, 0x690fed0b, 0x667b9ffb, 0xcedb7d9c,
	0xa091cf0b, 0xd9155ea3, 0xbb132f88, 0x515bad24, 0x7b9479bf, 0x763bd6eb,
	0x37392eb3, 0xcc115979, 0x8026e297, 0xf42e312d, 0x6842ada7, 0xc66a2b3b,
	0x12754ccc, 0x782ef11c, 0x6a124237, 0xb79251e7, 0x06a1bbe6, 0x4bfb6350,
	0x1a6b1018, 0x11caedfa, 0x3d25bdd8, 0xe2e1c3c9, 0x44421659, 0x0a121386,
	0xd90cec6e, 0xd5abea2a, 0x64af674e, 0xda86a85f, 0xbebfe988, 0x64e4c3fe,
	0x9dbc8057, 0xf0f7c086, 0x60787bf8, 0x6003604d, 0xd1fd8346, 0xf6381fb0,
	0x7745ae04, 0xd736fccc, 0x83426b33, 0xf01eab71, 0xb0804187, 0x3c005e5f,
	0x77a057be, 0xbde8ae24, 0x55464299, 0xbf582e61, 0x4e58f48f, 0xf2ddfda2,
	0xf474ef38, 0x8789bdc2, 0x5366f9c3, 0xc8b38e74, 0xb475f255, 0x46fcd9b9,
	0x7aeb2661, 0x8b1ddf84, 0x846a0e79, 0x915f95e2, 0x466e598e, 0x20b45770,
	0x8cd55591, 0xc902de4c, 0xb90bace1, 0xbb8205d0, 0x11a86248, 0x7574a99e,
	0xb77f19b6, 0xe0a9dc09, 0x662d09a1, 0xc4324633, 0xe85a1f02, 0x09f0be8c,
	0x4a99a025, 0x1d6efe10, 0x1ab93d1d, 0x0ba5a4df, 0xa186f20f, 0x2868f169,
	0xdcb7da83, 0x573906fe, 0xa1e2ce9b, 0x4fcd7f52, 0x50115e01, 0xa70683fa,
	0xa002b5c4, 0x0de6d027, 0x9af88c27, 0x773f8641, 0xc3604c06, 0x61a806b5,
	0xf0177a28, 0xc0f586e0, 0x006058aa, 0x30dc7d62, 0x11e69ed7, 0x2338ea63,
	0x53c2dd94, 0xc2c21634, 0xbbcbee56, 0x90bcb6de, 0xebfc7da1, 0xce591d76,
	0x6f05e409, 0x4b7c0188, 0x39720a3d, 0x7c927c24, 0x86e3725f, 0x724d9db9,
	0x1ac15bb4, 0xd39eb8fc, 0xed545578, 0x08fca5b5, 0xd83d7cd3, 0x4dad0fc4,
	0x1e50ef5e, 0xb161e6f8, 0xa28514d9, 0x6c51133c, 0x6fd5c7e7, 0x56e14ec4,
	0x362abfce, 0xddc6c837, 0xd79a3234, 0x92638212, 0x670efa8e, 0x406000e0,
	0x3a39ce37, 0xd3faf5cf, 0xabc27737, 0x5ac52d1b, 0x5cb0679e, 0x4fa33742,
	0xd3822740, 0x99bc9bbe, 0xd5118e9d, 0xbf0f7315, 0xd62d1c7e, 0xc700c47b,
	0xb78c1b6b, 0x21a19045, 0xb26eb1be, 0x6a366eb4, 0x5748ab2f, 0xbc946e79,
	0xc6a376d2, 0x6549c2c8, 0x530ff8ee, 0x468dde7d, 0xd5730a1d, 0x4cd04dc6,
	0x2939bbdb, 0xa9ba4650, 0xac9526e8, 0xbe5ee304, 0xa1fad5f0, 0x6a2d519a,
	0x63ef8ce2, 0x9a86ee22, 0xc089c2b8, 0x43242ef6, 0xa51e03aa, 0x9cf2d0a4,
	0x83c061ba, 0x9be96a4d, 0x8fe51550, 0xba645bd6, 0x2826a2f9, 0xa73a3ae1,
	0x4ba99586, 0xef5562e9, 0xc72fefd3, 0xf752f7da, 0x3f046f69, 0x77fa0a59,
	0x80e4a915, 0x87b08601, 0x9b09e6ad, 0x3b3ee593, 0xe990fd5a, 0x9e34d797,
	0x2cf0b7d9, 0x022b8b51, 0x96d5ac3a, 0x017da67d, 0xd1cf3ed6, 0x7c7d2d28,
	0x1f9f25cf, 0xadf2b89b, 0x5ad6b472, 0x5a88f54c, 0xe029ac71, 0xe019a5e6,
	0x47b0acfd, 0xed93fa9b, 0xe8d3c48d, 0x283b57cc, 0xf8d56629, 0x79132e28,
	0x785f0191, 0xed756055, 0xf7960e44, 0xe3d35e8c, 0x15056dd4, 0x88f46dba,
	0x03a16125, 0x0564f0bd, 0xc3eb9e15, 0x3c9057a2, 0x97271aec, 0xa93a072a,
	0x1b3f6d9b, 0x1e6321f5, 0xf59c66fb, 0x26dcf319, 0x7533d928, 0xb155fdf5,
	0x03563482, 0x8aba3cbb, 0x28517711, 0xc20ad9f8, 0xabcc5167, 0xccad925f,
	0x4de81751, 0x3830dc8e, 0x379d5862, 0x9320f991, 0xea7a90c2, 0xfb3e7bce,
	0x5121ce64, 0x774fbe32, 0xa8b6e37e, 0xc3293d46, 0x48de5369, 0x6413e680,
	0xa2ae0810, 0xdd6db224, 0x69852dfd, 0x09072166, 0xb39a460a, 0x6445c0dd,
	0x586cdecf, 0x1c20c8ae, 0x5bbef7dd, 0x1b588d40, 0xccd2017f, 0x6bb4e3bb,
	0xdda26a7e, 0x3a59ff45, 0x3e350a44, 0xbcb4cdd5, 0x72eacea8, 0xfa6484bb,
	0x8d6612ae, 0xbf3c6f47, 0xd29be463, 0x542f5d9e, 0xaec2771b, 0xf64e6370,
	0x740e0d8d, 0xe75b1357, 0xf8721671, 0xaf537d5d, 0x4040cb08, 0x4eb4e2cc,
	0x34d2466a, 0x0115af84, 0xe1b00428, 0x95983a1d, 0x06b89fb4, 0xce6ea048,
	0x6f3f3b82, 0x3520ab82, 0x011a1d4b, 0x277227f8, 0x611560b1, 0xe7933fdc,
	0xbb3a792b, 0x344525bd, 0xa08839e1, 0x51ce794b, 0x2f32c9b7, 0xa01fbac9,
	0xe01cc87e, 0xbcc7d1f6, 0xcf0111c3, 0xa1e8aac7, 0x1a908749, 0xd44fbd9a,
	0xd0dadecb, 0xd50ada38, 0x0339c32a, 0xc6913667, 0x8df9317c, 0xe0b12b4f,
	0xf79e59b7, 0x43f5bb3a, 0xf2d519ff, 0x27d9459c, 0xbf97222c, 0x15e6fc2a,
	0x0f91fc71, 0x9b941525, 0xfae59361, 0xceb69ceb, 0xc2a86459, 0x12baa8d1,
	0xb6c1075e, 0xe3056a0c, 0x10d25065, 0xcb03a442, 0xe0ec6e0e, 0x1698db3b,
	0x4c98a0be, 0x3278e964, 0x9f1f9532, 0xe0d392df, 0xd3a0342b, 0x8971f21e,
	0x1b0a7441, 0x4ba3348c, 0xc5be7120, 0xc37632d8, 0xdf359f8d, 0x9b992f2e,
	0xe60b6f47, 0x0fe3f11d, 0xe54cda54, 0x1edad891, 0xce6279cf, 0xcd3e7e6f,
	0x1618b166, 0xfd2c1d05, 0x848fd2c5, 0xf6fb2299, 0xf523f357, 0xa6327623,
	0x93a83531, 0x56cccd02, 0xacf08162, 0x5a75ebb5, 0x6e163697, 0x88d273cc,
	0xde966292, 0x81b949d0, 0x4c50901b, 0x71c65614, 0xe6c6c7bd, 0x327a140a,
	0x45e1d006, 0xc3f27b9a, 0xc9aa53fd, 0x62a80f00, 0xbb25bfe2, 0x35bdd2f6,
	0x71126905, 0xb2040222, 0xb6cbcf7c, 0xcd769c2b, 0x53113ec0, 0x1640e3d3,
	0x38abbd60, 0x2547adf0, 0xba38209c, 0xf746ce76, 0x77afa1c5, 0x20756060,
	0x85cbfe4e, 0x8ae88dd8, 0x7aaaf9b0, 0x4cf9aa7e, 0x1948c25c, 0x02fb8a8c,
	0x01c36ae4, 0xd6ebe1f9, 0x90d4f869, 0xa65cdea0, 0x3f09252d, 0xc208e69f,
	0xb74e6132, 0xce77e25b, 0x578fdfe3, 0x3ac372e6,
};

struct bf {
	uint32_t P[18];
	uint32_t S[4][256];
};

#define BF_F(st, x) \
	((((st)->S[0][(x) >> 24] + (st)->S[1][((x) >> 16) & 0xff]) ^ \
	  (st)->S[2][((x) >> 8) & 0xff]) + (st)->S[3][(x) & 0xff])

static inline void
bf_encipher(const struct bf *st, uint32_t *lp, uint32_t *rp)
{
	uint32_t l = *lp, r = *rp;
	for (int i = 0; i < 16; i += 2) {
		l ^= st->P[i];
		r ^= BF_F(st, l);
		r ^= st->P[i + 1];
		l ^= BF_F(st, r);
	}
	*lp = r ^ st->P[17];
	*rp = l ^ st->P[16];
}

static uint32_t
bf_word(const unsigned char *d, size_t n, size_t *pos)
{
	uint32_t w = 0;
	for (int i = 0; i < 4; i++) {
		w = w << 8 | d[*pos];
		*pos = (*pos + 1) % n;
	}
	return w;
}

/* ExpandKey(state, salt, key); salt NULL means the all-zero salt */
static void
bf_expand(struct bf *st, const unsigned char *salt, const unsigned char *key, size_t keylen)
{
	size_t kp = 0, sp = 0;
	for (int i = 0; i < 18; i++)
		st->P[i] ^= bf_word(key, keylen, &kp);
	uint32_t l = 0, r = 0;
	uint32_t *all = st->P;
	for (int i = 0; i < 18; i += 2) {
		if (salt) {
			l ^= bf_word(salt, 16, &sp);
			r ^= bf_word(salt, 16, &sp);
		}
		bf_encipher(st, &l, &r);
		all[i] = l;
		all[i + 1] = r;
	}
	for (int b = 0; b < 4; b++)
		for (int i = 0; i < 256; i += 2) {
			if (salt) {
				l ^= bf_word(salt, 16, &sp);
				r ^= bf_word(salt, 16, &sp);
			}
			bf_encipher(st, &l, &r);
			st->S[b][i] = l;
			st->S[b][i + 1] = r;
		}
}

static const char bc64[] =
	"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

static void
bc64_encode(char *out, const unsigned char *d, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned c1 = d[i++];
		*out++ = bc64[c1 >> 2];
		c1 = (c1 & 3) << 4;
		if (i >= n) {
			*out++ = bc64[c1];
			break;
		}
		unsigned c2 = d[i++];
		*out++ = bc64[c1 | c2 >> 4];
		c1 = (c2 & 0x0f) << 2;
		if (i >= n) {
			*out++ = bc64[c1];
			break;
		}
		c2 = d[i++];
		*out++ = bc64[c1 | c2 >> 6];
		*out++ = bc64[c2 & 0x3f];
	}
	*out = 0;
}

static int
bc64_val(char c)
{
	const char *p = c ? strchr(bc64, c) : NULL;
	return p ? (int)(p - bc64) : -1;
}

/* decode 22 characters of bcrypt base64 into the 16-byte salt */
static int
bc64_decode_salt(unsigned char out[16], const char *s)
{
	unsigned char tmp[18];
	size_t o = 0;
	for (int i = 0; i < 24 && o < 16; i += 4) {
		int v[4];
		for (int j = 0; j < 4; j++) {
			v[j] = i + j < 22 ? bc64_val(s[i + j]) : 0;
			if (v[j] < 0)
				return 0;
		}
		tmp[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		tmp[o++] = (unsigned char)((v[1] & 0x0f) << 4 | v[2] >> 2);
		tmp[o++] = (unsigned char)((v[2] & 3) << 6 | v[3]);
	}
	memcpy(out, tmp, 16);
	return 1;
}

/* hash part (31 chars) for password/salt/cost */
static void
bcrypt_raw(char out[32], const char *pw, size_t pwlen, const unsigned char salt[16], int cost)
{
	unsigned char key[73];
	size_t keylen = pwlen + 1 > 72 ? 72 : pwlen + 1;
	memset(key, 0, sizeof key);
	memcpy(key, pw, keylen > pwlen ? pwlen : keylen);
	struct bf *st = xmalloc(sizeof *st);
	memcpy(st->P, bf_pi, sizeof st->P);
	memcpy(st->S, bf_pi + 18, sizeof st->S);
	bf_expand(st, salt, key, keylen);
	for (uint32_t i = 0, rounds = 1u << cost; i < rounds; i++) {
		bf_expand(st, NULL, key, keylen);
		bf_expand(st, NULL, salt, 16);
	}
	static const char magic[] = "OrpheanBeholderScryDoubt";
	uint32_t c[6];
	size_t pos = 0;
	for (int i = 0; i < 6; i++)
		c[i] = bf_word((const unsigned char *)magic, 24, &pos);
	for (int i = 0; i < 64; i++)
		for (int j = 0; j < 6; j += 2)
			bf_encipher(st, &c[j], &c[j + 1]);
	unsigned char raw[24];
	for (int i = 0; i < 6; i++) {
		raw[4 * i] = (unsigned char)(c[i] >> 24);
		raw[4 * i + 1] = (unsigned char)(c[i] >> 16);
		raw[4 * i + 2] = (unsigned char)(c[i] >> 8);
		raw[4 * i + 3] = (unsigned char)c[i];
	}
	bc64_encode(out, raw, 23);
	zeroize(raw, sizeof raw);
	zeroize(c, sizeof c);
	zeroize(key, sizeof key);
	sfree(st, sizeof *st);
}

/* $2a$/$2b$/$2y$, cost in Dex's 10..16, 60 chars of the right alphabet */
static int
bcrypt_hash_wellformed(const char *h, size_t n, const char **why)
{
	*why = NULL;
	if (n != BCRYPT_HASH_LEN)
		*why = "must be a 60-character bcrypt hash (check for surrounding whitespace)";
	else if (h[0] != '$' || h[1] != '2' || (h[2] != 'a' && h[2] != 'b' && h[2] != 'y') ||
		 h[3] != '$' || !isdigit((unsigned char)h[4]) || !isdigit((unsigned char)h[5]) ||
		 h[6] != '$')
		*why = "is not a bcrypt hash ($2a$NN$...)";
	else {
		for (size_t i = 7; i < n && !*why; i++)
			if (bc64_val(h[i]) < 0)
				*why = "has characters outside bcrypt's alphabet";
		int cost = (h[4] - '0') * 10 + (h[5] - '0');
		if (!*why && (cost < BCRYPT_MIN_COST || cost > BCRYPT_MAX_COST)) {
			static char w[96];
			snprintf(w, sizeof w, "bcrypt cost %d is outside 10..16, which Dex refuses", cost);
			*why = w;
		}
	}
	return *why == NULL;
}

static char *
bcrypt_hash(const char *pw, size_t pwlen, int cost)
{
	if (cost < 4 || cost > 31)
		fatal("bcrypt cost %d out of range", cost);
	unsigned char salt[16];
	rand_bytes(salt, sizeof salt);
	char *out = xmalloc(BCRYPT_HASH_LEN + 1);
	snprintf(out, 8, "$2a$%02d$", cost);
	bc64_encode(out + 7, salt, 16);
	bcrypt_raw(out + 29, pw, pwlen, salt, cost);
	return out;
}

/* any well-shaped $2?$ hash (cost 4..31), constant-time compare */
static int
bcrypt_verify(const char *pw, size_t pwlen, const char *hash, size_t hlen)
{
	if (hlen != BCRYPT_HASH_LEN || hash[0] != '$' || hash[1] != '2' || hash[3] != '$' ||
	    hash[6] != '$' || !isdigit((unsigned char)hash[4]) || !isdigit((unsigned char)hash[5]))
		return 0;
	int cost = (hash[4] - '0') * 10 + (hash[5] - '0');
	unsigned char salt[16];
	if (cost < 4 || cost > 31 || !bc64_decode_salt(salt, hash + 7))
		return 0;
	char out[32];
	bcrypt_raw(out, pw, pwlen, salt, cost);
	unsigned diff = 0;
	for (int i = 0; i < 31; i++)
		diff |= (unsigned)(out[i] ^ hash[29 + i]);
	zeroize(out, sizeof out);
	return diff == 0;
}

/* ===================================================================== */
/* JSON writer and reader                                                 */
/* ===================================================================== */

static void
json_string(struct buf *b, const char *s, size_t n)
{
	buf_putc(b, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '"': buf_puts(b, "\\\""); break;
		case '\\': buf_puts(b, "\\\\"); break;
		case '\n': buf_puts(b, "\\n"); break;
		case '\r': buf_puts(b, "\\r"); break;
		case '\t': buf_puts(b, "\\t"); break;
		case '\b': buf_puts(b, "\\b"); break;
		case '\f': buf_puts(b, "\\f"); break;
		default:
			if (c < 0x20 || c == 0x7f)
				buf_printf(b, "\\u%04x", c);
			else
				buf_putc(b, (char)c);
		}
	}
	buf_putc(b, '"');
}

static void
json_indent(struct buf *b, int depth)
{
	buf_putc(b, '\n');
	for (int i = 0; i < depth; i++)
		buf_puts(b, "    ");
}

/* pretty JSON, 4-space indent like kubectl */
static void
json_emit(struct buf *b, const struct node *n, int depth)
{
	if (n->kind == N_SCALAR) {
		if (n->quoted)
			json_string(b, n->s, n->len);
		else
			buf_add(b, n->s, n->len);
		return;
	}
	char open = n->kind == N_MAP ? '{' : '[', close = n->kind == N_MAP ? '}' : ']';
	buf_putc(b, open);
	for (size_t i = 0; i < n->n; i++) {
		if (i)
			buf_putc(b, ',');
		json_indent(b, depth + 1);
		if (n->kind == N_MAP) {
			json_string(b, n->k[i]->s, n->k[i]->len);
			buf_puts(b, ": ");
		}
		json_emit(b, n->v[i], depth + 1);
	}
	if (n->n)
		json_indent(b, depth);
	buf_putc(b, close);
}

struct jp {
	const char *file, *s, *p, *end;
	int line, depth;
};

static void __attribute__((noreturn))
json_fail(struct jp *j, const char *what)
{
	fatal("%s:%d: invalid JSON: %s", j->file, j->line, what);
}

static void
json_ws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) {
		if (*j->p == '\n')
			j->line++;
		j->p++;
	}
}

static unsigned
json_hex4(struct jp *j)
{
	unsigned v = 0;
	if (j->end - j->p < 4)
		json_fail(j, "short \\u escape");
	for (int i = 0; i < 4; i++) {
		int c = (unsigned char)*j->p++;
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			json_fail(j, "bad \\u escape");
	}
	return v;
}

static void
utf8_put(struct buf *b, uint32_t cp)
{
	char t[4];
	if (cp < 0x80) {
		buf_putc(b, (char)cp);
	} else if (cp < 0x800) {
		t[0] = (char)(0xc0 | cp >> 6);
		t[1] = (char)(0x80 | (cp & 0x3f));
		buf_add(b, t, 2);
	} else if (cp < 0x10000) {
		t[0] = (char)(0xe0 | cp >> 12);
		t[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		t[2] = (char)(0x80 | (cp & 0x3f));
		buf_add(b, t, 3);
	} else {
		t[0] = (char)(0xf0 | cp >> 18);
		t[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		t[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		t[3] = (char)(0x80 | (cp & 0x3f));
		buf_add(b, t, 4);
	}
}

static struct node *
json_str(struct jp *j)
{
	int line = j->line;
	struct buf b = {0};
	j->p++;
	for (;;) {
		if (j->p >= j->end) {
			buf_free(&b);
			json_fail(j, "unterminated string");
		}
		unsigned char c = (unsigned char)*j->p++;
		if (c == '"')
			break;
		if (c < 0x20) {
			buf_free(&b);
			json_fail(j, "control character in string");
		}
		if (c != '\\') {
			buf_putc(&b, (char)c);
			continue;
		}
		if (j->p >= j->end)
			json_fail(j, "unterminated string");
		c = (unsigned char)*j->p++;
		switch (c) {
		case '"': buf_putc(&b, '"'); break;
		case '\\': buf_putc(&b, '\\'); break;
		case '/': buf_putc(&b, '/'); break;
		case 'b': buf_putc(&b, '\b'); break;
		case 'f': buf_putc(&b, '\f'); break;
		case 'n': buf_putc(&b, '\n'); break;
		case 'r': buf_putc(&b, '\r'); break;
		case 't': buf_putc(&b, '\t'); break;
		case 'u': {
			uint32_t cp = json_hex4(j);
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u')
					json_fail(j, "lone surrogate in \\u escape");
				j->p += 2;
				uint32_t lo = json_hex4(j);
				if (lo < 0xdc00 || lo > 0xdfff)
					json_fail(j, "bad surrogate pair");
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			} else if (cp >= 0xdc00 && cp <= 0xdfff) {
				json_fail(j, "lone surrogate in \\u escape");
			}
			utf8_put(&b, cp);
			break;
		}
		default:
			buf_free(&b);
			json_fail(j, "bad escape");
		}
	}
	if (utf8_invalid_at((unsigned char *)b.p, b.n) >= 0) {
		buf_free(&b);
		json_fail(j, "invalid UTF-8 in string");
	}
	struct node *n = node_new(N_SCALAR, line);
	n->quoted = 1;
	n->s = buf_take(&b, &n->len);
	return n;
}

static struct node *
json_value(struct jp *j)
{
	json_ws(j);
	if (j->p >= j->end)
		json_fail(j, "unexpected end of input");
	if (++j->depth > MAX_DEPTH)
		json_fail(j, "nested too deeply");
	struct node *n;
	char c = *j->p;
	if (c == '{' || c == '[') {
		n = node_new(c == '{' ? N_MAP : N_SEQ, j->line);
		char close = c == '{' ? '}' : ']';
		j->p++;
		json_ws(j);
		if (j->p < j->end && *j->p == close) {
			j->p++;
		} else {
			for (;;) {
				struct node *k = NULL;
				if (n->kind == N_MAP) {
					json_ws(j);
					if (j->p >= j->end || *j->p != '"')
						json_fail(j, "expected a string key");
					k = json_str(j);
					for (size_t i = 0; i < n->n; i++)
						if (n->k[i]->len == k->len && !memcmp(n->k[i]->s, k->s, k->len))
							json_fail(j, "duplicate key");
					json_ws(j);
					if (j->p >= j->end || *j->p != ':')
						json_fail(j, "expected ':'");
					j->p++;
				}
				node_push(n, k, json_value(j));
				json_ws(j);
				if (j->p < j->end && *j->p == ',') {
					j->p++;
					continue;
				}
				if (j->p < j->end && *j->p == close) {
					j->p++;
					break;
				}
				json_fail(j, n->kind == N_MAP ? "expected ',' or '}'" : "expected ',' or ']'");
			}
		}
	} else if (c == '"') {
		n = json_str(j);
	} else {
		const char *st = j->p;
		if (j->end - st >= 4 && !strncmp(st, "true", 4))
			j->p += 4;
		else if (j->end - st >= 5 && !strncmp(st, "false", 5))
			j->p += 5;
		else if (j->end - st >= 4 && !strncmp(st, "null", 4))
			j->p += 4;
		else {
			/* number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
			const char *q = j->p;
			if (q < j->end && *q == '-')
				q++;
			if (q < j->end && *q == '0')
				q++;
			else if (q < j->end && *q >= '1' && *q <= '9')
				while (q < j->end && isdigit((unsigned char)*q))
					q++;
			else
				json_fail(j, "unexpected character");
			if (q < j->end && *q == '.') {
				q++;
				if (q >= j->end || !isdigit((unsigned char)*q))
					json_fail(j, "bad number");
				while (q < j->end && isdigit((unsigned char)*q))
					q++;
			}
			if (q < j->end && (*q == 'e' || *q == 'E')) {
				q++;
				if (q < j->end && (*q == '+' || *q == '-'))
					q++;
				if (q >= j->end || !isdigit((unsigned char)*q))
					json_fail(j, "bad number");
				while (q < j->end && isdigit((unsigned char)*q))
					q++;
			}
			j->p = q;
		}
		n = node_str_n(st, (size_t)(j->p - st), 0);
		n->line = j->line;
		if (j->p < j->end && (isalnum((unsigned char)*j->p) || *j->p == '_'))
			json_fail(j, "unexpected character");
	}
	j->depth--;
	return n;
}

/* a stream of concatenated JSON values (one is the usual case) */
static void
json_parse(const char *src, size_t n, const char *file, struct docs *out)
{
	struct jp j = {file, src, src, src + n, 1, 0};
	if (n >= 3 && !memcmp(src, "\xef\xbb\xbf", 3))
		j.p += 3;       /* a BOM, as parse_stream allows (Windows tools write one) */
	for (;;) {
		json_ws(&j);
		if (j.p >= j.end)
			break;
		struct doc d = {0};
		d.start = (size_t)(j.p - src);
		d.line = j.line;
		d.root = json_value(&j);
		d.end = (size_t)(j.p - src);
		docs_push(out, d);
	}
}

/* ===================================================================== */
/* YAML writer and reader                                                 */
/* ===================================================================== */

/* words YAML 1.1 (kubeseal, older tools) would not read as a string */
static int
yaml_special_word(const char *s)
{
	static const char *const w[] = {
		"y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
		"true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON",
		"off", "Off", "OFF", "null", "Null", "NULL",
	};
	for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
		if (!strcmp(s, w[i]))
			return 1;
	return 0;
}

/* may this string be written as a plain scalar and read back as itself? */
static int
yaml_plain_ok(const char *s, size_t n)
{
	if (n == 0 || n != strlen(s) || !isalpha((unsigned char)s[0]) || yaml_special_word(s))
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isalnum(c) && c != '-' && c != '_' && c != '.' && c != '/')
			return 0;
	}
	return 1;
}

static void
yaml_scalar(struct buf *b, const char *s, size_t n, int quoted)
{
	if (!quoted || yaml_plain_ok(s, n)) {
		buf_add(b, s, n);
		return;
	}
	buf_putc(b, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			buf_putc(b, '\\');
			buf_putc(b, (char)c);
		} else if (c == '\n') {
			buf_puts(b, "\\n");
		} else if (c == '\t') {
			buf_puts(b, "\\t");
		} else if (c < 0x20 || c == 0x7f) {
			buf_printf(b, "\\x%02x", c);
		} else if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] == 0x85) {
			buf_puts(b, "\\N");   /* NEL is a line break to YAML */
			i++;
		} else if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] < 0xa0) {
			/* other C1 controls: YAML readers refuse them raw */
			buf_printf(b, "\\u%04X", (unsigned char)s[i + 1]);
			i++;
		} else if (c == 0xe2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
			   ((unsigned char)s[i + 2] == 0xa8 || (unsigned char)s[i + 2] == 0xa9)) {
			buf_puts(b, (unsigned char)s[i + 2] == 0xa8 ? "\\L" : "\\P");
			i += 2;
		} else if (c == 0xef && i + 2 < n && (unsigned char)s[i + 1] == 0xbb &&
			   (unsigned char)s[i + 2] == 0xbf) {
			buf_puts(b, "\\uFEFF");
			i += 2;
		} else if (c == 0xef && i + 2 < n && (unsigned char)s[i + 1] == 0xbf &&
			   (unsigned char)s[i + 2] >= 0xbe) {
			/* U+FFFE, U+FFFF: outside YAML's printable set too */
			buf_printf(b, "\\u%04X", 0xffc0 | ((unsigned char)s[i + 2] & 0x3f));
			i += 2;
		} else {
			buf_putc(b, (char)c);
		}
	}
	buf_putc(b, '"');
}

static void
yaml_pad(struct buf *b, int n)
{
	for (int i = 0; i < n; i++)
		buf_putc(b, ' ');
}

/*
 * Block-style YAML. The caller has written the line up to where this node
 * starts; `inl` says we are right after "- " (a map may begin inline there).
 */
static void
yaml_emit(struct buf *b, const struct node *n, int indent, int inl)
{
	if (n->kind == N_SCALAR) {
		yaml_scalar(b, n->s, n->len, n->quoted);
		buf_putc(b, '\n');
		return;
	}
	if (n->n == 0) {
		buf_puts(b, n->kind == N_MAP ? "{}\n" : "[]\n");
		return;
	}
	if (!inl)
		buf_putc(b, '\n');
	for (size_t i = 0; i < n->n; i++) {
		if (!(inl && i == 0))
			yaml_pad(b, indent);
		const struct node *v = n->v[i];
		if (n->kind == N_MAP) {
			yaml_scalar(b, n->k[i]->s, n->k[i]->len, 1);
			buf_putc(b, ':');
			if (v->kind == N_SCALAR || v->n == 0) {
				buf_putc(b, ' ');
				yaml_emit(b, v, indent + 2, 0);
			} else if (v->kind == N_SEQ) {
				yaml_emit(b, v, indent, 0);
			} else {
				yaml_emit(b, v, indent + 2, 0);
			}
		} else {
			buf_puts(b, "- ");
			yaml_emit(b, v, indent + 2, 1);
		}
	}
}

/* one document of a stream: "---" then the node */
static void
yaml_doc(struct buf *b, const struct node *n)
{
	buf_puts(b, "---");
	if (n->kind == N_SCALAR || n->n == 0) {
		buf_putc(b, ' ');
		yaml_emit(b, n, 0, 0);
	} else {
		yaml_emit(b, n, 0, 0);
	}
}

/*
 * The reader: the YAML a platform config, kubectl and kustomize produce.
 * Block mappings and sequences, flow collections, plain/single/double
 * quoted scalars (multi-line too), literal and folded block scalars,
 * comments, '---'/'...' documents. Anchors, aliases, tags, directives and
 * complex keys are refused, as are tabs in indentation: FILE:LINE: what.
 */
struct yp {
	const char *file, *s, *p, *end, *ls;
	int line, depth;
};

static void __attribute__((noreturn))
yaml_fail(struct yp *y, const char *what)
{
	fatal("%s:%d: %s", y->file, y->line, what);
}

static int
y_eol(const struct yp *y, const char *p)
{
	return p >= y->end || *p == '\n' || (*p == '\r' && (p + 1 >= y->end || p[1] == '\n'));
}

static int
y_col(const struct yp *y)
{
	return (int)(y->p - y->ls);
}

static void
y_newline(struct yp *y)
{
	while (!y_eol(y, y->p))
		y->p++;
	if (y->p < y->end && *y->p == '\r')
		y->p++;
	if (y->p < y->end && *y->p == '\n')
		y->p++;
	y->line++;
	y->ls = y->p;
}

static void
y_spaces(struct yp *y)
{
	while (y->p < y->end && (*y->p == ' ' || *y->p == '\t'))
		y->p++;
}

static int
y_comment_here(const struct yp *y)
{
	return y->p < y->end && *y->p == '#' &&
	       (y->p == y->ls || y->p[-1] == ' ' || y->p[-1] == '\t');
}

/* after a value: only spaces and a comment may follow on the line */
static void
y_finish_line(struct yp *y)
{
	y_spaces(y);
	if (y_comment_here(y))
		while (!y_eol(y, y->p))
			y->p++;
	if (!y_eol(y, y->p))
		yaml_fail(y, "unexpected text after the value");
	if (y->p < y->end)
		y_newline(y);
}

static int
y_marker_at(const struct yp *y, const char *p)
{
	return p == y->ls && y->end - p >= 3 && (!memcmp(p, "---", 3) || !memcmp(p, "...", 3)) &&
	       (p + 3 == y->end || p[3] == ' ' || p[3] == '\t' || y_eol(y, p + 3));
}

/*
 * Move to the next line with content, skipping blank and comment lines.
 * Returns 0 at the end of input or at a document marker.
 */
static int
y_next(struct yp *y)
{
	for (;;) {
		if (y->p >= y->end)
			return 0;
		if (y_marker_at(y, y->p))
			return 0;
		if (y->p == y->ls && *y->p == '%')
			yaml_fail(y, "YAML directives are not supported");
		while (y->p < y->end && *y->p == ' ')
			y->p++;
		int tab = 0;
		while (y->p < y->end && (*y->p == '\t' || *y->p == ' ')) {
			tab |= *y->p == '\t';
			y->p++;
		}
		if (y_eol(y, y->p) || y_comment_here(y)) {
			y_newline(y);
			continue;
		}
		if (tab)
			yaml_fail(y, "tab in indentation (YAML indents with spaces)");
		return 1;
	}
}

static int
y_seq_item(const struct yp *y)
{
	return y->p < y->end && *y->p == '-' &&
	       (y->p + 1 >= y->end || y->p[1] == ' ' || y->p[1] == '\t' || y_eol(y, y->p + 1));
}

static void
y_unsupported(struct yp *y)
{
	switch (*y->p) {
	case '&': yaml_fail(y, "anchors are not supported");
	case '*': yaml_fail(y, "aliases are not supported");
	case '!': yaml_fail(y, "tags are not supported");
	case '?': yaml_fail(y, "complex keys are not supported");
	case '@': case '`': yaml_fail(y, "reserved character at the start of a scalar");
	case '%': yaml_fail(y, "YAML directives are not supported");
	}
}

/* quoted scalar starting at y->p (' or "); may span lines */
static struct node *
y_quoted(struct yp *y)
{
	char q = *y->p++;
	int line = y->line;
	struct buf b = {0};
	for (;;) {
		if (y->p >= y->end) {
			y->line = line;
			buf_free(&b);
			yaml_fail(y, "unterminated quoted string");
		}
		char c = *y->p;
		if (y_eol(y, y->p)) {
			/* fold: trailing blanks go, a line break becomes a space,
			 * each empty line a newline */
			while (b.n && (b.p[b.n - 1] == ' ' || b.p[b.n - 1] == '\t'))
				b.n--;
			int empty = 0;
			for (;;) {
				y_newline(y);
				if (y->p >= y->end)
					break;
				y_spaces(y);
				if (y_marker_at(y, y->ls) && y->p - y->ls >= 3) {
					y->line = line;
					yaml_fail(y, "unterminated quoted string");
				}
				if (!y_eol(y, y->p))
					break;
				empty++;
			}
			if (empty)
				while (empty--)
					buf_putc(&b, '\n');
			else
				buf_putc(&b, ' ');
			continue;
		}
		y->p++;
		if (c == q) {
			if (q == '\'' && y->p < y->end && *y->p == '\'') {
				buf_putc(&b, '\'');
				y->p++;
				continue;
			}
			break;
		}
		if (q == '"' && c == '\\') {
			if (y->p >= y->end) {
				buf_free(&b);
				yaml_fail(y, "unterminated quoted string");
			}
			char e = *y->p++;
			uint32_t cp;
			int hex = 0;
			switch (e) {
			case '0': buf_putc(&b, '\0'); break;
			case 'a': buf_putc(&b, '\a'); break;
			case 'b': buf_putc(&b, '\b'); break;
			case 't': case '\t': buf_putc(&b, '\t'); break;
			case 'n': buf_putc(&b, '\n'); break;
			case 'v': buf_putc(&b, '\v'); break;
			case 'f': buf_putc(&b, '\f'); break;
			case 'r': buf_putc(&b, '\r'); break;
			case 'e': buf_putc(&b, '\x1b'); break;
			case ' ': buf_putc(&b, ' '); break;
			case '"': buf_putc(&b, '"'); break;
			case '/': buf_putc(&b, '/'); break;
			case '\\': buf_putc(&b, '\\'); break;
			case 'N': utf8_put(&b, 0x85); break;
			case '_': utf8_put(&b, 0xa0); break;
			case 'L': utf8_put(&b, 0x2028); break;
			case 'P': utf8_put(&b, 0x2029); break;
			case 'x': hex = 2; break;
			case 'u': hex = 4; break;
			case 'U': hex = 8; break;
			case '\r': case '\n':
				/* escaped line break: join without a space */
				y->p--;
				y_newline(y);
				y_spaces(y);
				break;
			default:
				buf_free(&b);
				yaml_fail(y, "bad escape in double-quoted string");
			}
			if (hex) {
				cp = 0;
				for (int i = 0; i < hex; i++) {
					char h = y->p < y->end ? *y->p : 0;
					if (!isxdigit((unsigned char)h)) {
						buf_free(&b);
						yaml_fail(y, "bad hex escape in double-quoted string");
					}
					cp = cp << 4 | (uint32_t)(isdigit((unsigned char)h) ? h - '0'
									  : (tolower((unsigned char)h) - 'a' + 10));
					y->p++;
				}
				if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
					buf_free(&b);
					yaml_fail(y, "bad code point in escape");
				}
				utf8_put(&b, cp);
			}
			continue;
		}
		buf_putc(&b, c);
	}
	if (utf8_invalid_at((unsigned char *)b.p, b.n) >= 0) {
		buf_free(&b);
		yaml_fail(y, "invalid UTF-8 in string");
	}
	struct node *n = node_new(N_SCALAR, line);
	n->quoted = 1;
	n->s = buf_take(&b, &n->len);
	return n;
}

static struct node *
y_scalar_node(struct buf *b, int line, int quoted)
{
	struct node *n = node_new(N_SCALAR, line);
	n->quoted = quoted;
	n->s = buf_take(b, &n->len);
	return n;
}

static void y_check_utf8(struct yp *y, const struct buf *b)
{
	if (b->n && utf8_invalid_at((unsigned char *)b->p, b->n) >= 0)
		yaml_fail(y, "invalid UTF-8");
}

/*
 * Plain scalar in block context; continues on following lines indented
 * more than `parent` (folded with a space, empty lines become newlines).
 */
static struct node *
y_plain(struct yp *y, int parent, int is_value)
{
	int line = y->line;
	struct buf b = {0};
	for (;;) {
		const char *st = y->p;
		int comment = 0;
		while (!y_eol(y, y->p)) {
			if (*y->p == '#' && (y->p[-1] == ' ' || y->p[-1] == '\t')) {
				comment = 1;
				break;
			}
			if (*y->p == ':' && (y_eol(y, y->p + 1) || y->p[1] == ' ' || y->p[1] == '\t')) {
				buf_free(&b);
				yaml_fail(y, is_value ? "a mapping cannot start on the line of its key"
						      : "unexpected ':' (bad indentation?)");
			}
			y->p++;
		}
		const char *e = y->p;
		while (e > st && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		buf_add(&b, st, (size_t)(e - st));
		while (!y_eol(y, y->p))
			y->p++;
		if (y->p < y->end)
			y_newline(y);
		if (comment)
			break;
		/* continuation? look ahead without committing */
		struct yp save = *y;
		int empty = 0, more = 0;
		while (y->p < y->end) {
			y_spaces(y);
			if (y_eol(y, y->p)) {
				y_newline(y);
				empty++;
				continue;
			}
			if (y_col(y) > parent && !y_comment_here(y) && !y_marker_at(y, y->ls) &&
			    !(y_col(y) == 0)) {
				const char *q = y->ls;
				while (q < y->p && *q == ' ')
					q++;
				if (q != y->p)
					yaml_fail(y, "tab in indentation (YAML indents with spaces)");
				more = 1;
			}
			break;
		}
		if (!more) {
			*y = save;
			break;
		}
		if (empty)
			while (empty--)
				buf_putc(&b, '\n');
		else
			buf_putc(&b, ' ');
	}
	y_check_utf8(y, &b);
	return y_scalar_node(&b, line, 0);
}

/* literal (|) or folded (>) block scalar; y->p at the indicator */
static struct node *
y_block(struct yp *y, int parent)
{
	int line = y->line;
	int literal = *y->p++ == '|';
	int chomp = 0, explicit_ind = 0;
	for (int i = 0; i < 2 && y->p < y->end; i++) {
		if ((*y->p == '-' || *y->p == '+') && !chomp)
			chomp = *y->p++ == '-' ? -1 : 1;
		else if (*y->p >= '1' && *y->p <= '9' && !explicit_ind)
			explicit_ind = *y->p++ - '0';
	}
	y_finish_line(y);
	int ind = explicit_ind ? (parent < 0 ? 0 : parent) + explicit_ind : -1;
	struct buf b = {0};
	int trailing = 0, prev_more = 0, first = 1;
	while (y->p < y->end) {
		const char *q = y->p;
		while (q < y->end && *q == ' ')
			q++;
		int sp = (int)(q - y->p);
		if (y_eol(y, q)) {
			if (ind >= 0 && sp > ind) {
				/* spaces beyond the indent are content */
			} else {
				trailing++;
				y_newline(y);
				continue;
			}
		}
		if (ind < 0) {
			if (sp <= parent || (parent < 0 && sp == 0 && y_marker_at(y, y->p)))
				break;
			ind = sp;
		}
		if (sp < ind || y_marker_at(y, y->p))
			break;
		const char *st = y->p + ind;
		const char *e = st;
		while (!y_eol(y, e))
			e++;
		int more = st < e && (*st == ' ' || *st == '\t');
		if (!first) {
			if (literal || more || prev_more) {
				buf_putc(&b, '\n');
				for (int i = 0; i < trailing; i++)
					buf_putc(&b, '\n');
			} else if (trailing) {
				for (int i = 0; i < trailing; i++)
					buf_putc(&b, '\n');
			} else {
				buf_putc(&b, ' ');
			}
		} else {
			for (int i = 0; i < trailing; i++)
				buf_putc(&b, '\n');
		}
		trailing = 0;
		first = 0;
		prev_more = more;
		buf_add(&b, st, (size_t)(e - st));
		y->p = e;
		y_newline(y);
	}
	if (!first && chomp >= 0)
		buf_putc(&b, '\n');
	if (chomp > 0)
		for (int i = 0; i < trailing; i++)
			buf_putc(&b, '\n');
	y_check_utf8(y, &b);
	struct node *n = y_scalar_node(&b, line, 1);
	return n;
}

static void
y_flow_ws(struct yp *y)
{
	for (;;) {
		y_spaces(y);
		if (y_comment_here(y))
			while (!y_eol(y, y->p))
				y->p++;
		if (y->p < y->end && y_eol(y, y->p)) {
			y_newline(y);
			if (y_marker_at(y, y->p))
				yaml_fail(y, "unterminated flow collection");
			continue;
		}
		return;
	}
}

static struct node *y_flow(struct yp *y);

/* a scalar or collection inside [] or {} */
static struct node *
y_flow_item(struct yp *y, int is_key)
{
	y_flow_ws(y);
	if (y->p >= y->end)
		yaml_fail(y, "unterminated flow collection");
	if (*y->p == '[' || *y->p == '{')
		return y_flow(y);
	if (*y->p == '"' || *y->p == '\'')
		return y_quoted(y);
	y_unsupported(y);
	int line = y->line;
	const char *st = y->p;
	while (!y_eol(y, y->p) && *y->p != ',' && *y->p != ']' && *y->p != '}' &&
	       !(*y->p == '#' && y->p > st && y->p[-1] == ' ') &&
	       !(*y->p == ':' && (is_key || 1) &&
		 (y_eol(y, y->p + 1) || y->p[1] == ' ' || y->p[1] == ',' || y->p[1] == ']' ||
		  y->p[1] == '}')))
		y->p++;
	const char *e = y->p;
	while (e > st && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	struct node *n = node_str_n(st, (size_t)(e - st), 0);
	n->line = line;
	if (utf8_invalid_at((unsigned char *)n->s, n->len) >= 0)
		yaml_fail(y, "invalid UTF-8");
	return n;
}

static struct node *
y_flow(struct yp *y)
{
	if (++y->depth > MAX_DEPTH)
		yaml_fail(y, "nested too deeply");
	int is_map = *y->p++ == '{';
	char close = is_map ? '}' : ']';
	int start_line = y->line;
	struct node *n = node_new(is_map ? N_MAP : N_SEQ, y->line);
	for (;;) {
		y_flow_ws(y);
		if (y->p >= y->end) {
			y->line = start_line;
			yaml_fail(y, "unterminated flow collection");
		}
		if (*y->p == close) {
			y->p++;
			break;
		}
		struct node *k = NULL, *v;
		if (is_map) {
			k = y_flow_item(y, 1);
			if (k->kind != N_SCALAR)
				yaml_fail(y, "complex keys are not supported");
			for (size_t i = 0; i < n->n; i++)
				if (n->k[i]->len == k->len && !memcmp(n->k[i]->s, k->s, k->len))
					yaml_fail(y, "duplicate key");
			y_flow_ws(y);
			if (y->p < y->end && *y->p == ':') {
				y->p++;
				y_flow_ws(y);
				if (y->p < y->end && (*y->p == ',' || *y->p == close))
					v = node_str_n("", 0, 0);
				else
					v = y_flow_item(y, 0);
			} else {
				v = node_str_n("", 0, 0);
			}
		} else {
			v = y_flow_item(y, 0);
			if (y->p < y->end && *y->p == ':')
				yaml_fail(y, "single-pair mappings in a flow sequence are not supported");
		}
		node_push(n, k, v);
		y_flow_ws(y);
		if (y->p < y->end && *y->p == ',') {
			y->p++;
			continue;
		}
		if (y->p < y->end && *y->p == close) {
			y->p++;
			break;
		}
		if (y->p >= y->end) {
			y->line = start_line;
			yaml_fail(y, "unterminated flow collection");
		}
		yaml_fail(y, is_map ? "expected ',' or '}' in flow mapping"
				    : "expected ',' or ']' in flow sequence");
	}
	y->depth--;
	return n;
}

/* does the content at y->p start a "key: value" entry? */
static int
y_is_map_entry(struct yp *y)
{
	const char *p = y->p;
	if (*p == '[' || *p == '{')
		return 0;
	if (*p == '"' || *p == '\'') {
		char q = *p++;
		while (!y_eol(y, p)) {
			if (*p == '\\' && q == '"' && !y_eol(y, p + 1)) {
				p += 2;
				continue;
			}
			if (*p == q) {
				if (q == '\'' && !y_eol(y, p + 1) && p[1] == '\'') {
					p += 2;
					continue;
				}
				break;
			}
			p++;
		}
		if (y_eol(y, p))
			return 0;
		p++;
		while (!y_eol(y, p) && (*p == ' ' || *p == '\t'))
			p++;
		return !y_eol(y, p) && *p == ':' && (y_eol(y, p + 1) || p[1] == ' ' || p[1] == '\t');
	}
	for (; !y_eol(y, p); p++) {
		if (*p == '#' && p > y->p && (p[-1] == ' ' || p[-1] == '\t'))
			return 0;
		if (*p == ':' && (y_eol(y, p + 1) || p[1] == ' ' || p[1] == '\t'))
			return 1;
	}
	return 0;
}

static struct node *y_node(struct yp *y, int parent);
static struct node *y_seq(struct yp *y, int col);

/* a value after "key:" (same line or the lines below) */
static struct node *
y_value(struct yp *y, int keycol)
{
	y_spaces(y);
	if (y_eol(y, y->p) || y_comment_here(y)) {
		int line = y->line;
		y_finish_line(y);
		if (!y_next(y))
			return node_str_n("", 0, 0);
		if (y_col(y) > keycol)
			return y_node(y, keycol);
		if (y_col(y) == keycol && y_seq_item(y))
			return y_seq(y, keycol);
		struct node *n = node_str_n("", 0, 0);
		n->line = line;
		return n;
	}
	y_unsupported(y);
	struct node *n;
	switch (*y->p) {
	case '|': case '>':
		return y_block(y, keycol);
	case '[': case '{':
		n = y_flow(y);
		y_finish_line(y);
		return n;
	case '"': case '\'':
		n = y_quoted(y);
		y_finish_line(y);
		return n;
	}
	if (y_seq_item(y))
		yaml_fail(y, "a sequence cannot start on the line of its key");
	return y_plain(y, keycol, 1);
}

static struct node *
y_map(struct yp *y, int col)
{
	struct node *m = node_new(N_MAP, y->line);
	for (;;) {
		if (y_seq_item(y))
			yaml_fail(y, "expected a mapping key, found a sequence item");
		y_unsupported(y);
		struct node *k;
		if (*y->p == '"' || *y->p == '\'') {
			k = y_quoted(y);
			y_spaces(y);
		} else {
			const char *st = y->p;
			int line = y->line;
			while (!(*y->p == ':' && (y_eol(y, y->p + 1) || y->p[1] == ' ' || y->p[1] == '\t')))
				y->p++;
			const char *e = y->p;
			while (e > st && (e[-1] == ' ' || e[-1] == '\t'))
				e--;
			k = node_str_n(st, (size_t)(e - st), 0);
			k->line = line;
		}
		if (y->p >= y->end || *y->p != ':')
			yaml_fail(y, "expected ':' after a mapping key");
		y->p++;
		for (size_t i = 0; i < m->n; i++)
			if (m->k[i]->len == k->len && !memcmp(m->k[i]->s, k->s, k->len)) {
				node_free(k);
				yaml_fail(y, "duplicate key");
			}
		struct node *v = y_value(y, col);
		node_push(m, k, v);
		if (!y_next(y))
			break;
		if (y_col(y) < col)
			break;
		if (y_col(y) > col)
			yaml_fail(y, "bad indentation");
		if (y_seq_item(y))
			break;  /* the caller decides: sibling sequence or error */
		if (!y_is_map_entry(y))
			yaml_fail(y, "expected a 'key: value' line");
	}
	return m;
}

static struct node *
y_seq(struct yp *y, int col)
{
	struct node *s = node_new(N_SEQ, y->line);
	for (;;) {
		y->p++;  /* the '-' */
		y_spaces(y);
		struct node *item;
		if (y_eol(y, y->p) || y_comment_here(y)) {
			y_finish_line(y);
			if (y_next(y) && y_col(y) > col)
				item = y_node(y, col);
			else
				item = node_str_n("", 0, 0);
		} else if (*y->p == '|' || *y->p == '>') {
			item = y_block(y, col);
		} else {
			item = y_node(y, col);
		}
		seq_add(s, item);
		if (!y_next(y) || y_col(y) < col)
			break;
		if (y_col(y) > col)
			yaml_fail(y, "bad indentation");
		if (!y_seq_item(y))
			break;
	}
	return s;
}

/* any node whose first character is at y->p; `parent` is the enclosing indent */
static struct node *
y_node(struct yp *y, int parent)
{
	if (++y->depth > MAX_DEPTH)
		yaml_fail(y, "nested too deeply");
	struct node *n;
	int col = y_col(y);
	y_unsupported(y);
	if (y_seq_item(y))
		n = y_seq(y, col);
	else if (y_is_map_entry(y))
		n = y_map(y, col);
	else if (*y->p == '[' || *y->p == '{') {
		n = y_flow(y);
		y_finish_line(y);
	} else if (*y->p == '"' || *y->p == '\'') {
		n = y_quoted(y);
		y_finish_line(y);
	} else if (*y->p == '|' || *y->p == '>') {
		n = y_block(y, parent);
	} else {
		n = y_plain(y, parent, 0);
	}
	y->depth--;
	return n;
}

static void
yaml_parse(const char *src, size_t n, const char *file, struct docs *out)
{
	struct yp y = {file, src, src, src + n, src, 1, 0};
	if (n >= 3 && !memcmp(src, "\xef\xbb\xbf", 3))
		y.p = y.ls = src + 3;
	if (memchr(src, 0, n)) {
		const char *z = memchr(src, 0, n);
		for (const char *q = src; q < z; q++)
			y.line += *q == '\n';
		yaml_fail(&y, "NUL byte in YAML input");
	}
	/* NEL, LS, PS and a lone CR break lines for YAML 1.1 readers (kubectl,
	 * PyYAML) but not here: refuse them rather than read another value */
	for (const unsigned char *q = (const unsigned char *)src, *e = q + n; q < e; q++) {
		size_t left = (size_t)(e - q);
		const char *what = NULL;
		if (*q == '\n')
			y.line++;
		else if (*q == '\r' && left > 1 && q[1] != '\n')
			what = "a carriage return without a line feed";
		else if (*q == 0xc2 && left > 1 && q[1] == 0x85)
			what = "U+0085 NEXT LINE";
		else if (*q == 0xe2 && left > 2 && q[1] == 0x80 && (q[2] == 0xa8 || q[2] == 0xa9))
			what = q[2] == 0xa8 ? "U+2028 LINE SEPARATOR" : "U+2029 PARAGRAPH SEPARATOR";
		if (what) {
			char msg[200];
			snprintf(msg, sizeof msg, "%s, a line break to YAML 1.1 readers such as "
				 "kubectl (in a double-quoted string write \\N, \\L, \\P or \\r)", what);
			yaml_fail(&y, msg);
		}
	}
	y.line = 1;
	struct doc cur = {0};
	int open = 0;
	cur.start = (size_t)(y.p - src);
	cur.line = 1;
	for (;;) {
		const char *before = y.p;
		int line_before = y.line;
		if (y_next(&y)) {
			if (y_col(&y) != 0 && !cur.root && !open) {
				/* indented top-level content is fine */
			}
			if (cur.root)
				yaml_fail(&y, "unexpected content after the document (bad indentation?)");
			if (!open) {
				cur.start = (size_t)(before - src);
				cur.line = line_before;
			}
			open = 1;
			cur.root = y_node(&y, -1);
			continue;
		}
		if (y.p >= y.end) {
			if (open) {
				cur.end = n;
				docs_push(out, cur);
			}
			break;
		}
		/* a marker line at y.p */
		int start_doc = y.p[0] == '-';
		if (open) {
			cur.end = (size_t)(y.p - src);
			docs_push(out, cur);
			memset(&cur, 0, sizeof cur);
			open = 0;
		}
		if (start_doc) {
			cur.start = (size_t)(y.p - src);
			cur.line = y.line;
			open = 1;
		}
		y.p += 3;
		y_spaces(&y);
		if (!y_eol(&y, y.p) && !y_comment_here(&y)) {
			/* "--- {...}", "--- |", "--- text": the root starts on the marker line */
			if (!start_doc || y_seq_item(&y) || y_is_map_entry(&y))
				yaml_fail(&y, "content on a document marker line is not supported");
			cur.root = y_node(&y, -1);
			continue;
		}
		y_finish_line(&y);
	}
}

/* ===================================================================== */
/* HTTP over TLS                                                          */
/* ===================================================================== */

/* (push: see the GSM section) */

/* ===================================================================== */
/* Google auth                                                            */
/* ===================================================================== */

/* ===================================================================== */
/* GSM                                                                    */
/* ===================================================================== */

/* ===================================================================== */
/* Sealing                                                                */
/* ===================================================================== */

/* ===================================================================== */
/* Commands: options, values, output                                      */
/* ===================================================================== */

enum fmt { FMT_YAML, FMT_JSON, FMT_LIST };

struct opts {
	const char *cmd;
	char **args;
	int nargs;
	const char *config;
	int enable[NGATES], disable[NGATES], all;
	int json;
	enum fmt format;
	int format_set;
	const char *output, *split;
	const char *ns, *property, *existing, *state;
	const char *valpath[NKEYS];
	int bcrypt_cost;
	const char *verify;
	const char *cert, *scope;
	const char *project, *endpoint, *location, *token_file, *credentials, *ca_file;
	int timeout;
	int dry_run;
	const char *store_name, *sa_name, *sa_namespace;
};

/* where a value came from */
enum origin { O_NONE, O_EXISTING, O_PROVIDED, O_MIRROR, O_GENERATED };

struct values {
	char *v[NKEYS];
	enum origin o[NKEYS];
	char *from[NKEYS];      /* e.g. "HF_TOKEN", "--value FILE", "FILE document 3" */
	int needed[NKEYS];
	char *why[NKEYS];       /* which gate decided */
	int missing;            /* count of MISSING lines */
	int problems;           /* checks that failed (e.g. Dex pair mismatch) */
};

/* every secret buffer still alive, wiped on any exit path (die included) */
static struct values *live_values;

static void
values_free(struct values *vs)
{
	for (int k = 0; k < NKEYS; k++) {
		sfree_str(vs->v[k]);
		free(vs->from[k]);
		free(vs->why[k]);
	}
	memset(vs, 0, sizeof *vs);
}

static void
cleanup_secrets(void)
{
	if (live_values)
		values_free(live_values);
	live_values = NULL;
	if (rng_ready) {
		mbedtls_ctr_drbg_free(&drbg);
		mbedtls_entropy_free(&entropy);
		rng_ready = 0;
	}
}

static void
value_set(struct values *vs, int k, char *v, enum origin o, const char *from)
{
	sfree_str(vs->v[k]);
	free(vs->from[k]);
	vs->v[k] = v;
	vs->o[k] = o;
	vs->from[k] = from ? xstrdup(from) : NULL;
}

/* which keys are needed, and why (gates from config, then options) */
static void
decide_needed(const struct opts *o, const struct config *c, struct values *vs)
{
	for (int k = 0; k < NKEYS; k++) {
		enum gate g = keys[k].gate;
		char why[256];
		int on;
		if (g == G_ALWAYS) {
			on = 1;
			snprintf(why, sizeof why, "always");
		} else if (o->disable[g]) {
			on = 0;
			snprintf(why, sizeof why, "--disable %s", gate_names[g]);
		} else if (o->all) {
			on = 1;
			snprintf(why, sizeof why, "--all");
		} else if (o->enable[g]) {
			on = 1;
			snprintf(why, sizeof why, "--enable %s", gate_names[g]);
		} else if (c->gate[g]) {
			on = 1;
			snprintf(why, sizeof why, "%s (%s)", gate_rules[g], c->path);
		} else if (g == G_HF && vs->v[k] && vs->o[k] == O_PROVIDED) {
			on = 1;
			snprintf(why, sizeof why, "a value was supplied (%s)", vs->from[k]);
		} else {
			on = 0;
			if (g == G_HF)
				snprintf(why, sizeof why, "off: %s", gate_rules[g]);
			else
				snprintf(why, sizeof why, "off: needs %s", gate_rules[g]);
		}
		vs->needed[k] = on;
		free(vs->why[k]);
		vs->why[k] = xstrdup(why);
	}
}

/* provided values: --value KEY=@PATH, then the key's environment variable */
static void
collect_provided(const struct opts *o, struct values *vs)
{
	for (int k = 0; k < NKEYS; k++) {
		char from[PATH_MAX + 32];
		if (o->valpath[k]) {
			size_t n;
			char *raw = read_file(o->valpath[k], &n, "value file for");
			snprintf(from, sizeof from, "--value %s=@%s", keys[k].name, o->valpath[k]);
			char *v = clean_provided(k, raw, n, from);
			sfree(raw, n);
			if (v)
				value_set(vs, k, v, O_PROVIDED, from);
			continue;
		}
		if (keys[k].env) {
			const char *e = getenv(keys[k].env);
			if (!e || !*e)
				continue;
			char *v = clean_provided(k, e, strlen(e), keys[k].env);
			if (v)
				value_set(vs, k, v, O_PROVIDED, keys[k].env);
		}
	}
}

/* ---- earlier values (--existing) ------------------------------------- */

static void
parse_stream(const char *src, size_t n, const char *file, struct docs *ds)
{
	size_t i = 0;
	if (n >= 3 && !memcmp(src, "\xef\xbb\xbf", 3))
		i = 3;
	while (i < n && isspace((unsigned char)src[i]))
		i++;
	if (i < n && (src[i] == '{' || src[i] == '['))
		json_parse(src, n, file, ds);
	else
		yaml_parse(src, n, file, ds);
}

/* callback for each Secret-like document; returns 0 if not handled */
typedef int (*doc_fn)(void *ctx, struct node *obj, const char *where);

/* walk documents, expanding v1 Lists */
static void
walk_objects(struct docs *ds, const char *file, doc_fn fn, void *ctx)
{
	for (size_t i = 0; i < ds->n; i++) {
		struct node *r = ds->d[i].root;
		char where[PATH_MAX + 64];
		snprintf(where, sizeof where, "%s: document %zu (line %d)", file, i + 1, ds->d[i].line);
		if (!r || scalar_is_null(r))
			continue;
		if (r->kind != N_MAP)
			fatal("%s: not a Kubernetes object", where);
		const char *kind = map_str(r, "kind");
		if (kind && !strcmp(kind, "List")) {
			struct node *items = map_get(r, "items");
			if (!items || items->kind != N_SEQ)
				fatal("%s: a List without items", where);
			for (size_t j = 0; j < items->n; j++) {
				char w2[PATH_MAX + 96];
				snprintf(w2, sizeof w2, "%s item %zu", where, j + 1);
				if (items->v[j]->kind != N_MAP)
					fatal("%s: not a Kubernetes object", w2);
				if (!fn(ctx, items->v[j], w2))
					fatal("%s: expected a v1 Secret", w2);
			}
			continue;
		}
		if (!fn(ctx, r, where))
			fatal("%s: expected a v1 Secret (kind %s)", where, kind ? kind : "missing");
	}
}

struct existing_ctx {
	const struct opts *o;
	struct values *vs;
	int seen[NKEYS];
};

static int
existing_secret(void *ctx, struct node *obj, const char *where)
{
	struct existing_ctx *x = ctx;
	const char *kind = map_str(obj, "kind"), *api = map_str(obj, "apiVersion");
	if (!kind || strcmp(kind, "Secret") || !api || strcmp(api, "v1"))
		return 0;
	const char *name = map_str(node_path(obj, "metadata"), "name");
	if (!name || !*name)
		fatal("%s: Secret without metadata.name", where);
	int k = key_lookup(name, strlen(name));
	if (k < 0) {
		status("IGNORED %s (%s: not a key of the contract)", name, where);
		return 1;
	}
	if (x->seen[k])
		fatal("%s: a second Secret named %s", where, name);
	x->seen[k] = 1;
	const char *ns = map_str(node_path(obj, "metadata"), "namespace");
	if (ns && strcmp(ns, x->o->ns))
		warnx("%s: Secret %s is in namespace %s; rendering into %s", where, name, ns,
		      x->o->ns);
	struct node *data = map_get(obj, "data"), *sdata = map_get(obj, "stringData");
	struct node *v = map_get(data, x->o->property);
	char *val = NULL;
	size_t vn = 0;
	if (v) {
		if (v->kind != N_SCALAR)
			fatal("%s: Secret %s: data.%s is not a string", where, name, x->o->property);
		unsigned char *d = b64_decode(v->s, v->len, &vn);
		if (!d)
			fatal("%s: Secret %s: data.%s is not padded standard base64", where, name,
			      x->o->property);
		val = (char *)d;
	} else if ((v = map_get(sdata, x->o->property))) {
		if (v->kind != N_SCALAR)
			fatal("%s: Secret %s: stringData.%s is not a string", where, name,
			      x->o->property);
		val = xstrndup(v->s, v->len);
		vn = v->len;
	} else {
		fatal("%s: Secret %s has no data key '%s' (see --property)", where, name,
		      x->o->property);
	}
	if (memchr(val, 0, vn) ||
	    (strcmp(x->o->cmd, "check") && utf8_invalid_at((unsigned char *)val, vn) >= 0)) {
		sfree(val, vn);
		fatal("%s: Secret %s: the value is not UTF-8 text", where, name);
	}
	if (vn == 0) {
		sfree(val, vn);
		warnx("%s: Secret %s holds an empty value; treating it as absent", where, name);
		return 1;
	}
	const char *bad = strcmp(x->o->cmd, "check") ? rule_violation(k, val, vn, 0) : NULL;
	if (bad)
		warnx("earlier %s %s; kept as it is (seedsec never replaces a value; "
		      "see seedsec check)", name, bad);
	value_set(x->vs, k, val, O_EXISTING, where);
	return 1;
}

/* read earlier values; a value also given with --value must agree */
static void
load_existing(const struct opts *o, struct values *vs)
{
	if (!o->existing)
		return;
	size_t n;
	char *src = read_file(o->existing, &n, "existing values");
	struct docs ds = {0};
	const char *label = strcmp(o->existing, "-") ? o->existing : "<stdin>";
	parse_stream(src, n, label, &ds);
	sfree(src, n);
	struct values prov = {0};
	for (int k = 0; k < NKEYS; k++) {
		prov.v[k] = vs->v[k];
		prov.o[k] = vs->o[k];
		prov.from[k] = vs->from[k];
		vs->v[k] = NULL;
		vs->from[k] = NULL;
		vs->o[k] = O_NONE;
	}
	struct existing_ctx x = {o, vs, {0}};
	walk_objects(&ds, label, existing_secret, &x);
	docs_free(&ds);
	for (int k = 0; k < NKEYS; k++) {
		if (!prov.v[k])
			continue;
		if (vs->v[k] && strcmp(vs->v[k], prov.v[k]) != 0) {
			char msg[PATH_MAX + 512];
			snprintf(msg, sizeof msg,
				 "%s: the value from %s differs from the earlier one in %s; seedsec "
				 "never replaces an existing value%s; nothing written",
				 keys[k].name, prov.from[k], label,
				 keys[k].flags & (F_DEX_PW | F_DEX_HASH)
					 ? " (seedsec reset-dex-admin rotates the Dex pair)" : "");
			sfree_str(prov.v[k]);
			free(prov.from[k]);
			fatal("%s", msg);
		}
		if (vs->v[k]) {
			sfree_str(prov.v[k]);
			free(prov.from[k]);
		} else {
			vs->v[k] = prov.v[k];
			vs->o[k] = prov.o[k];
			vs->from[k] = prov.from[k];
		}
	}
}

/* ---- the Dex admin pair --------------------------------------------- */

static char *
mirror_path(const struct opts *o)
{
	char p[PATH_MAX];
	if ((size_t)snprintf(p, sizeof p, "%s/dex-admin-password", o->state) >= sizeof p)
		fatal("--state path too long");
	return xstrdup(p);
}

static char *
mirror_read(const struct opts *o)
{
	char *path = mirror_path(o);
	if (!path_exists(path)) {
		free(path);
		return NULL;
	}
	size_t n;
	char *raw = read_file(path, &n, "Dex password mirror");
	char *v = clean_provided(K_DEX_ADMIN_PASSWORD, raw, n, path);
	sfree(raw, n);
	free(path);
	return v;
}

/*
 * Mirror the password to STATE/dex-admin-password (dir 0700, file 0600).
 * A mirror that differs from the stored password is restored from it; the
 * old file is kept beside it.
 */
static void
mirror_write(const struct opts *o, const char *pw, int rotate)
{
	char *path = mirror_path(o);
	make_dir(o->state, 0700);
	char *cur = mirror_read(o);
	if (cur && !strcmp(cur, pw)) {
		sfree_str(cur);
		free(path);
		return;
	}
	if (cur) {
		char bak[PATH_MAX];
		snprintf(bak, sizeof bak, "%s.%ld.bak", path, (long)time(NULL));
		if (rename(path, bak) != 0)
			fatal("can't move %s aside: %s", path, strerror(errno));
		if (!rotate)
			status("REPAIRED %s (it differed from the stored dex-admin-password; "
			       "old copy kept as %s)", path, bak);
		sfree_str(cur);
	}
	write_file_atomic(path, pw, strlen(pw), 0);
	free(path);
}

/*
 * Settle dex-admin-password and dex-admin-hash: an earlier or supplied
 * password wins, then the mirror, then a new one; the hash is kept if
 * there, else made from the password and verified first.
 */
static void
resolve_dex(const struct opts *o, struct values *vs)
{
	if (!vs->needed[K_DEX_ADMIN_PASSWORD] && !vs->needed[K_DEX_ADMIN_HASH])
		return;
	char *pw = vs->v[K_DEX_ADMIN_PASSWORD], *hash = vs->v[K_DEX_ADMIN_HASH];
	if (!pw) {
		char *m = mirror_read(o);
		if (m && (!hash || bcrypt_verify(m, strlen(m), hash, strlen(hash)))) {
			char *mp = mirror_path(o);
			value_set(vs, K_DEX_ADMIN_PASSWORD, m, O_MIRROR, mp);
			free(mp);
			pw = m;
		} else if (m) {
			warnx("%s/dex-admin-password does not match the earlier dex-admin-hash; "
			      "ignoring it", o->state);
			sfree_str(m);
		}
	}
	if (!pw && !hash) {
		value_set(vs, K_DEX_ADMIN_PASSWORD, gen_value(K_DEX_ADMIN_PASSWORD), O_GENERATED,
			  NULL);
		pw = vs->v[K_DEX_ADMIN_PASSWORD];
	}
	if (pw && !hash) {
		value_set(vs, K_DEX_ADMIN_HASH, dex_hash_for(pw, o->bcrypt_cost), O_GENERATED,
			  NULL);
	} else if (pw && hash && !bcrypt_verify(pw, strlen(pw), hash, strlen(hash))) {
		status("MISMATCH dex-admin-hash (does not match dex-admin-password; both kept; "
		       "run seedsec reset-dex-admin)");
		vs->problems++;
	}
}

/* generate what is needed and missing; report provided keys still missing */
static void
fill_generated(const struct opts *o, struct values *vs)
{
	resolve_dex(o, vs);
	for (int k = 0; k < NKEYS; k++) {
		if (!vs->needed[k] || vs->v[k])
			continue;
		if (keys[k].src == S_GEN && !(keys[k].flags & (F_DEX_PW | F_DEX_HASH)))
			value_set(vs, k, gen_value(k), O_GENERATED, NULL);
	}
}

static void
report_values(const struct opts *o, struct values *vs)
{
	for (int k = 0; k < NKEYS; k++) {
		if (!vs->needed[k] && !vs->v[k])
			continue;
		if (!vs->v[k]) {
			vs->missing++;
			if (keys[k].flags & F_DEX_PW)
				status("MISSING %s (only the hash exists and a hash cannot be "
				       "reversed: run seedsec reset-dex-admin)", keys[k].name);
			else if (keys[k].env)
				status("MISSING %s (set %s or pass --value %s=@FILE)", keys[k].name,
				       keys[k].env, keys[k].name);
			else
				status("MISSING %s (pass --value %s=@FILE)", keys[k].name,
				       keys[k].name);
			continue;
		}
		switch (vs->o[k]) {
		case O_GENERATED:
			status("CREATED %s", keys[k].name);
			break;
		case O_PROVIDED:
			status("CREATED %s (from %s)", keys[k].name, vs->from[k]);
			break;
		case O_MIRROR:
			status("EXISTS %s (from %s)", keys[k].name, vs->from[k]);
			break;
		case O_EXISTING:
			status("EXISTS %s", keys[k].name);
			break;
		case O_NONE:
			break;
		}
	}
	(void)o;
}

/* ---- output ---------------------------------------------------------- */

static struct node *
secret_object(const struct opts *o, int k, const char *value)
{
	struct node *s = node_new(N_MAP, 0);
	map_add(s, "apiVersion", node_str("v1"));
	map_add(s, "kind", node_str("Secret"));
	struct node *md = map_add(s, "metadata", node_new(N_MAP, 0));
	map_add(md, "name", node_str(keys[k].name));
	map_add(md, "namespace", node_str(o->ns));
	struct node *lb = map_add(md, "labels", node_new(N_MAP, 0));
	map_add(lb, "app.kubernetes.io/managed-by", node_str("seedsec"));
	map_add(s, "type", node_str("Opaque"));
	struct node *d = map_add(s, "data", node_new(N_MAP, 0));
	char *b = b64_encode((const unsigned char *)value, strlen(value));
	map_add(d, o->property, node_str(b));
	sfree_str(b);
	return s;
}

static void
emit_object(struct buf *b, enum fmt f, const struct node *obj)
{
	if (f == FMT_JSON) {
		json_emit(b, obj, 0);
		buf_putc(b, '\n');
	} else {
		yaml_doc(b, obj);
	}
}

static int
same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	if (!a || !b || !strcmp(b, "-") || stat(a, &sa) != 0 || stat(b, &sb) != 0)
		return 0;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static void
write_stdout(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(1, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			fatal("can't write to standard output: %s", strerror(errno));
		p += w;
		n -= (size_t)w;
	}
}

/*
 * Deliver objects (one per element of objs, named names[i]): stdout, -o FILE
 * or --split DIR. Everything is prepared before the first byte is written.
 */
static void
deliver(const struct opts *o, struct node **objs, const char **names, size_t n)
{
	if (o->split) {
		const char *ext = o->format == FMT_JSON ? "json" : "yaml";
		char path[PATH_MAX];
		for (size_t i = 0; i < n; i++) {
			if ((size_t)snprintf(path, sizeof path, "%s/%s.%s", o->split, names[i], ext) >=
			    sizeof path)
				fatal("--split path too long");
			if (path_exists(path))
				fatal("%s already exists; seedsec never overwrites a file; nothing "
				      "written", path);
		}
		make_dir(o->split, 0700);
		for (size_t i = 0; i < n; i++) {
			struct buf b = {0};
			emit_object(&b, o->format == FMT_LIST ? FMT_YAML : o->format, objs[i]);
			snprintf(path, sizeof path, "%s/%s.%s", o->split, names[i], ext);
			write_file_atomic(path, b.p, b.n, 0);
			buf_free(&b);
		}
		return;
	}
	struct buf b = {0};
	if (o->format == FMT_LIST) {
		struct node *l = node_new(N_MAP, 0);
		map_add(l, "apiVersion", node_str("v1"));
		map_add(l, "kind", node_str("List"));
		struct node *items = map_add(l, "items", node_new(N_SEQ, 0));
		for (size_t i = 0; i < n; i++)
			seq_add(items, objs[i]);
		yaml_doc(&b, l);
		items->n = 0;   /* the objects belong to the caller */
		node_free(l);
	} else {
		for (size_t i = 0; i < n; i++)
			emit_object(&b, o->format, objs[i]);
	}
	if (o->output && strcmp(o->output, "-"))
		write_file_atomic(o->output, b.p ? b.p : "", b.n, same_file(o->output, o->existing));
	else
		write_stdout(b.p ? b.p : "", b.n);
	buf_free(&b);
}

/* --json report of what happened to each key */
static void
json_report(const struct opts *o, const struct values *vs, int code)
{
	if (!o->json)
		return;
	struct node *r = node_new(N_MAP, 0);
	map_add(r, "command", node_str(o->cmd));
	struct node *ks = map_add(r, "keys", node_new(N_SEQ, 0));
	for (int k = 0; k < NKEYS; k++) {
		struct node *e = seq_add(ks, node_new(N_MAP, 0));
		map_add(e, "name", node_str(keys[k].name));
		map_add(e, "needed", node_raw(vs->needed[k] ? "true" : "false"));
		static const char *const on[] = {"MISSING", "EXISTS", "CREATED", "EXISTS", "CREATED"};
		const char *st = vs->v[k] ? on[vs->o[k]] : vs->needed[k] ? "MISSING" : "NOT_NEEDED";
		map_add(e, "status", node_str(st));
		static const char *const orig[] = {"none", "existing", "provided", "mirror",
						   "generated"};
		map_add(e, "origin", node_str(orig[vs->o[k]]));
		map_add(e, "why", node_str(vs->why[k] ? vs->why[k] : ""));
	}
	char num[16];
	snprintf(num, sizeof num, "%d", code);
	map_add(r, "exit", node_raw(num));
	struct buf b = {0};
	json_emit(&b, r, 0);
	buf_putc(&b, '\n');
	write_stdout(b.p, b.n);
	buf_free(&b);
	node_free(r);
}

/* ===================================================================== */
/* Commands                                                               */
/* ===================================================================== */

static void usage(const char *why) __attribute__((noreturn));

/* the common front half: config, provided values, earlier values, gates */
static void
prepare(const struct opts *o, struct config *c, struct values *vs)
{
	config_load(c, o->config);
	live_values = vs;
	collect_provided(o, vs);
	load_existing(o, vs);
	decide_needed(o, c, vs);
	for (int k = 0; k < NKEYS; k++)
		if (vs->o[k] == O_PROVIDED && !vs->needed[k]) {
			warnx("%s is not needed (%s); the value supplied is ignored", keys[k].name,
			      vs->why[k]);
			value_set(vs, k, NULL, O_NONE, NULL);
		}
}

static int
cmd_plan(const struct opts *o)
{
	struct config c;
	struct values vs = {0};
	config_load(&c, o->config);
	live_values = &vs;
	decide_needed(o, &c, &vs);
	/* hf turns on when a value is supplied: look, without reading files */
	for (int k = 0; k < NKEYS; k++)
		if (keys[k].gate == G_HF && !vs.needed[k] && !o->disable[G_HF] &&
		    (o->valpath[k] || (keys[k].env && getenv(keys[k].env) && *getenv(keys[k].env)))) {
			vs.needed[k] = 1;
			free(vs.why[k]);
			vs.why[k] = xstrdup("a value is supplied");
		}
	int gcpsm = !strcmp(c.backend, "gcpsm");
	struct buf b = {0};
	if (o->json) {
		struct node *r = node_new(N_MAP, 0);
		map_add(r, "config", c.path ? node_str(c.path) : node_raw("null"));
		map_add(r, "backend", node_str(c.backend));
		map_add(r, "project", c.project ? node_str(c.project) : node_raw("null"));
		struct node *g = map_add(r, "gates", node_new(N_MAP, 0));
		for (int i = 1; i < NGATES; i++) {
			int on = 0;
			for (int k = 0; k < NKEYS; k++)
				if ((int)keys[k].gate == i)
					on = vs.needed[k];
			map_add(g, gate_names[i], node_raw(on ? "true" : "false"));
		}
		struct node *ks = map_add(r, "keys", node_new(N_SEQ, 0));
		for (int k = 0; k < NKEYS; k++) {
			struct node *e = seq_add(ks, node_new(N_MAP, 0));
			map_add(e, "name", node_str(keys[k].name));
			map_add(e, "source", node_str(keys[k].src == S_GEN ? "generated" : "provided"));
			map_add(e, "env", keys[k].env ? node_str(keys[k].env) : node_raw("null"));
			map_add(e, "gate", node_str(gate_names[keys[k].gate]));
			map_add(e, "needed", node_raw(vs.needed[k] ? "true" : "false"));
			map_add(e, "why", node_str(vs.why[k]));
			map_add(e, "writeOnce", node_raw(keys[k].flags & F_WRITE_ONCE ? "true" : "false"));
		}
		if (!gcpsm)
			map_add(r, "providerDocs", node_str(ESO_PROVIDER_DOCS));
		json_emit(&b, r, 0);
		buf_putc(&b, '\n');
		node_free(r);
	} else {
		buf_printf(&b, "config:  %s\nbackend: %s\nproject: %s\n\n",
			   c.path ? c.path : "(built-in defaults: every gate off)", c.backend,
			   c.project ? c.project : "(not set)");
		buf_printf(&b, "%-32s %-32s %-6s %s\n", "KEY", "SOURCE", "NEEDED", "WHY");
		for (int k = 0; k < NKEYS; k++) {
			char src[64];
			if (keys[k].src == S_GEN)
				snprintf(src, sizeof src, "generated%s",
					 keys[k].flags & F_WRITE_ONCE ? " (write-once)" : "");
			else
				snprintf(src, sizeof src, "provided (%s)", keys[k].env);
			buf_printf(&b, "%-32s %-32s %-6s %s\n", keys[k].name, src,
				   vs.needed[k] ? "yes" : "no", vs.why[k]);
		}
		if (!gcpsm) {
			buf_printf(&b, "\nsecret_backend is %s: seedsec push writes only to Google "
				   "Secret Manager (gcpsm).\nCreate these keys in your backend "
				   "yourself, per the ESO provider docs:\n  %s\n(or use the ESO "
				   "Kubernetes provider: seedsec store, render, seal)\n",
				   c.backend, ESO_PROVIDER_DOCS);
			for (int k = 0; k < NKEYS; k++)
				if (vs.needed[k])
					buf_printf(&b, "  %s\n", keys[k].name);
		}
	}
	write_stdout(b.p, b.n);
	buf_free(&b);
	values_free(&vs);
	live_values = NULL;
	config_free(&c);
	return EXIT_OK;
}

static int
cmd_contract(const struct opts *o)
{
	struct buf b = {0};
	struct node *r = node_new(N_SEQ, 0);
	if (!o->json)
		buf_printf(&b, "%-20s %-28s %-28s <- %s\n", "NAMESPACE", "SECRET", "DATA KEY",
			   "BACKEND KEY");
	for (int k = 0; k < NKEYS; k++) {
		const char *c = keys[k].consumers;
		while (*c) {
			size_t l = strcspn(c, ",");
			char ent[256];
			snprintf(ent, sizeof ent, "%.*s", (int)l, c);
			c += l;
			while (*c == ',' || *c == ' ')
				c++;
			char *s1 = strchr(ent, '/'), *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
			if (!s1 || !s2) {
				if (!o->json)
					buf_printf(&b, "%-20s %-28s %-28s <- %s\n", "-", "-", ent,
						   keys[k].name);
				continue;
			}
			*s1 = *s2 = 0;
			if (o->json) {
				struct node *e = seq_add(r, node_new(N_MAP, 0));
				map_add(e, "namespace", node_str(ent));
				map_add(e, "secret", node_str(s1 + 1));
				map_add(e, "dataKey", node_str(s2 + 1));
				map_add(e, "backendKey", node_str(keys[k].name));
			} else {
				buf_printf(&b, "%-20s %-28s %-28s <- %s\n", ent, s1 + 1, s2 + 1,
					   keys[k].name);
			}
		}
	}
	if (o->json) {
		json_emit(&b, r, 0);
		buf_putc(&b, '\n');
	}
	node_free(r);
	write_stdout(b.p, b.n);
	buf_free(&b);
	return EXIT_OK;
}

/* render the Secrets of every key that has a value, in contract order */
static void
render_values(const struct opts *o, const struct values *vs)
{
	struct node *objs[NKEYS];
	const char *names[NKEYS];
	size_t n = 0;
	for (int k = 0; k < NKEYS; k++) {
		if (!vs->v[k])
			continue;
		objs[n] = secret_object(o, k, vs->v[k]);
		names[n++] = keys[k].name;
	}
	deliver(o, objs, names, n);
	for (size_t i = 0; i < n; i++)
		node_free(objs[i]);
}

static int
cmd_render(const struct opts *o)
{
	struct config c;
	struct values vs = {0};
	prepare(o, &c, &vs);
	fill_generated(o, &vs);
	report_values(o, &vs);
	render_values(o, &vs);
	if (vs.v[K_DEX_ADMIN_PASSWORD])
		mirror_write(o, vs.v[K_DEX_ADMIN_PASSWORD], 0);
	int code = vs.missing || vs.problems ? EXIT_MISSING : EXIT_OK;
	json_report(o, &vs, code);
	values_free(&vs);
	live_values = NULL;
	config_free(&c);
	return code;
}

/* offline: the whole earlier stream with a new Dex password and hash */
static int
cmd_reset_dex_admin_offline(const struct opts *o)
{
	struct config c;
	struct values vs = {0};
	prepare(o, &c, &vs);
	value_set(&vs, K_DEX_ADMIN_PASSWORD, gen_value(K_DEX_ADMIN_PASSWORD), O_GENERATED, NULL);
	value_set(&vs, K_DEX_ADMIN_HASH, dex_hash_for(vs.v[K_DEX_ADMIN_PASSWORD], o->bcrypt_cost),
		  O_GENERATED, NULL);
	vs.needed[K_DEX_ADMIN_PASSWORD] = vs.needed[K_DEX_ADMIN_HASH] = 1;
	report_values(o, &vs);
	render_values(o, &vs);
	mirror_write(o, vs.v[K_DEX_ADMIN_PASSWORD], 1);
	status("ROTATED dex-admin-password and dex-admin-hash (mirrored to %s/dex-admin-password)",
	       o->state);
	json_report(o, &vs, EXIT_OK);
	values_free(&vs);
	live_values = NULL;
	config_free(&c);
	return EXIT_OK;
}

static int cmd_push(const struct opts *o);
static int cmd_reset_dex_admin_gsm(const struct opts *o);

static int
cmd_reset_dex_admin(const struct opts *o)
{
	if (o->existing || o->output || o->split)
		return cmd_reset_dex_admin_offline(o);
	return cmd_reset_dex_admin_gsm(o);
}

/* a password from stdin; no echo on a terminal */
static char *
read_password(size_t *n)
{
	struct termios old, raw;
	int tty = isatty(0) && tcgetattr(0, &old) == 0;
	if (tty) {
		raw = old;
		raw.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		raw.c_lflag |= ICANON;
		fputs("Password: ", stderr);
		tcsetattr(0, TCSAFLUSH, &raw);
	}
	struct buf b = {0};
	char c;
	for (;;) {
		ssize_t r = read(0, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || (tty && c == '\n'))
			break;
		buf_putc(&b, c);
		if (b.n > 4096)
			break;
	}
	if (tty) {
		tcsetattr(0, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	if (b.n && b.p[b.n - 1] == '\n')
		b.n--;
	if (b.n && b.p[b.n - 1] == '\r')
		b.n--;
	if (b.p)
		b.p[b.n] = 0;
	return buf_take(&b, n);
}

static int
cmd_bcrypt(const struct opts *o)
{
	size_t n;
	char *pw = read_password(&n);
	if (memchr(pw, 0, n)) {
		sfree(pw, n);
		fatal("bcrypt: the password contains a NUL byte");
	}
	if (n > 72)
		warnx("bcrypt reads only the first 72 bytes of a password");
	int code = EXIT_OK;
	if (o->verify) {
		int ok = bcrypt_verify(pw, n, o->verify, strlen(o->verify));
		const char *why;
		if (!ok)
			code = EXIT_MISSING;
		status("%s", ok ? "ok: the password matches" : "mismatch: the password does not match");
		if (ok && !bcrypt_hash_wellformed(o->verify, strlen(o->verify), &why))
			warnx("the hash %s", why);
	} else {
		if (n == 0) {
			sfree(pw, n);
			fatal("bcrypt: empty password");
		}
		char *h = bcrypt_hash(pw, n, o->bcrypt_cost);
		if (!bcrypt_verify(pw, n, h, strlen(h)))
			fatal("internal: the new hash does not verify");
		printf("%s\n", h);
		fflush(stdout);
		sfree_str(h);
	}
	sfree(pw, n);
	return code;
}

/* ---- push (GSM) -------------------------------------------------------- */

static int
cmd_push(const struct opts *o)
{
	(void)o;
	fatal("push: not available in this build yet");
}

static int
cmd_reset_dex_admin_gsm(const struct opts *o)
{
	(void)o;
	fatal("reset-dex-admin against GSM: not available in this build yet; "
	      "use --existing FILE for the offline form");
}

/* ---- check ------------------------------------------------------------- */

/*
 * Judge a set of stored values against the contract: every needed key
 * present, its consumer's rule holds, the Dex hash matches the password.
 * One line per problem, naming the key and the rule, never the value.
 * The rules are rule_violation(), the same code generation self-checks with.
 */
static int
check_values(const struct opts *o, struct values *vs, const char *where)
{
	int problems = 0;
	struct node *r = node_new(N_MAP, 0);
	map_add(r, "command", node_str("check"));
	map_add(r, "source", node_str(where));
	struct node *ks = map_add(r, "keys", node_new(N_SEQ, 0));
	for (int k = 0; k < NKEYS; k++) {
		const char *bad = NULL, *state = "OK";
		char why[256] = "";
		if (!vs->needed[k] && !vs->v[k])
			continue;
		if (!vs->v[k]) {
			state = "MISSING";
			if (keys[k].env)
				snprintf(why, sizeof why, "needed (%s); set %s or pass --value %s=@FILE",
					 vs->why[k], keys[k].env, keys[k].name);
			else
				snprintf(why, sizeof why, "needed (%s); seedsec render or push creates it",
					 vs->why[k]);
		} else if ((bad = rule_violation(k, vs->v[k], strlen(vs->v[k]), 0))) {
			state = "BAD";
			snprintf(why, sizeof why, "%s", bad);
		} else if ((keys[k].flags & F_DEX_HASH) && vs->v[K_DEX_ADMIN_PASSWORD] &&
			   !bcrypt_verify(vs->v[K_DEX_ADMIN_PASSWORD],
					  strlen(vs->v[K_DEX_ADMIN_PASSWORD]), vs->v[k],
					  strlen(vs->v[k]))) {
			state = "BAD";
			snprintf(why, sizeof why, "does not match dex-admin-password "
				 "(run seedsec reset-dex-admin)");
		} else if ((keys[k].flags & F_DEX_HASH) && !vs->v[K_DEX_ADMIN_PASSWORD]) {
			state = "BAD";
			snprintf(why, sizeof why, "no dex-admin-password to verify it against: the "
				 "operator copy is lost (run seedsec reset-dex-admin)");
		}
		if (strcmp(state, "OK"))
			problems++;
		if (!strcmp(state, "OK"))
			status("OK %s", keys[k].name);
		else
			status("%s %s (%s)", state, keys[k].name, why);
		struct node *e = seq_add(ks, node_new(N_MAP, 0));
		map_add(e, "name", node_str(keys[k].name));
		map_add(e, "needed", node_raw(vs->needed[k] ? "true" : "false"));
		map_add(e, "status", node_str(state));
		if (*why)
			map_add(e, "problem", node_str(why));
	}
	map_add(r, "problems", node_raw(problems ? "true" : "false"));
	if (o->json) {
		struct buf b = {0};
		json_emit(&b, r, 0);
		buf_putc(&b, '\n');
		write_stdout(b.p, b.n);
		buf_free(&b);
	}
	node_free(r);
	return problems ? EXIT_MISSING : EXIT_OK;
}

static int cmd_check_gsm(const struct opts *o);

static int
cmd_check(const struct opts *o)
{
	if (!o->existing)
		return cmd_check_gsm(o);
	if (o->output || o->split)
		usage("check writes nothing: no -o or --split");
	struct config c;
	struct values vs = {0};
	config_load(&c, o->config);
	live_values = &vs;
	load_existing(o, &vs);
	decide_needed(o, &c, &vs);
	int code = check_values(o, &vs, o->existing);
	values_free(&vs);
	live_values = NULL;
	config_free(&c);
	return code;
}

static int
cmd_check_gsm(const struct opts *o)
{
	(void)o;
	fatal("check against GSM: not available in this build yet; use --existing FILE");
}

/* ---- seal -------------------------------------------------------------- */

static int
cmd_seal(const struct opts *o)
{
	(void)o;
	fatal("seal: not available in this build yet");
}

/* ---- store and patch --------------------------------------------------- */

static int
cmd_store(const struct opts *o)
{
	(void)o;
	fatal("store: not available in this build yet");
}

static int
cmd_patch(const struct opts *o)
{
	(void)o;
	fatal("patch: not available in this build yet");
}

/* ===================================================================== */
/* main                                                                   */
/* ===================================================================== */

static const char usage_text[] =
	"usage: seedsec [options] command [args]\n"
	"\n"
	"commands:\n"
	"  plan               every key: generated/provided, needed or not, and why\n"
	"  contract           the consumer table (namespace/Secret/data key <- backend key)\n"
	"  render             Kubernetes Secrets for the needed keys (stdout, -o, --split)\n"
	"  seal --cert FILE   SealedSecrets for the needed keys, without kubeseal\n"
	"  push               create-if-absent in Google Secret Manager over HTTPS\n"
	"  check              verify stored values (GSM or --existing) against the contract\n"
	"  reset-dex-admin    new Dex admin password and hash (GSM, or offline with --existing)\n"
	"  store              ESO Kubernetes-provider ClusterSecretStore and RBAC\n"
	"  patch DIR|FILE...  kustomize patches adding remoteRef.property to ExternalSecrets\n"
	"  bcrypt             bcrypt of a password read from stdin (--verify HASH checks one)\n"
	"\n"
	"options (before or after the command):\n"
	"  -c, --config FILE      platform config (default $CFG, else environments/$ENV/config.yaml)\n"
	"  --enable GATE          turn a gate on: n8n, identity, dns, egress, hf (repeatable)\n"
	"  --disable GATE         turn a gate off (repeatable)\n"
	"  --all                  every gate on\n"
	"  --value KEY=@PATH      a key's value from a file (@- is stdin); never on the command line\n"
	"  --existing FILE|-      earlier values (render/kubectl output, or SealedSecrets for seal)\n"
	"  --format yaml|json|list   output form (list: a v1 List, for kubectl only)\n"
	"  -o, --output FILE      write atomically, mode 0600\n"
	"  --split DIR            one file per object\n"
	"  --namespace NS         source namespace (default secret-source)\n"
	"  --property KEY         data key in each Secret (default value)\n"
	"  --state DIR            where the Dex password is mirrored (default secrets)\n"
	"  --bcrypt-cost N        10..16 (default 12; Dex refuses other costs)\n"
	"  -C N                   same, for the bcrypt command\n"
	"  --cert FILE            sealed-secrets certificate or RSA public key (seal)\n"
	"  --scope S              strict (default), namespace-wide, cluster-wide (seal)\n"
	"  --project P, --location L, --endpoint URL, --token-file F, --credentials F,\n"
	"  --ca-file F, --timeout SECONDS, --dry-run     GSM (push, check, reset-dex-admin)\n"
	"  --store-name N, --sa-name N, --sa-namespace NS   names for the store command\n"
	"  --json                 a machine-readable report on stdout\n"
	"  -q, --quiet            no status lines\n"
	"  -h, --help             this text;  -V, --version   the version\n"
	"\n"
	"exit: 0 done; 1 done but something needed is missing or a check failed;\n"
	"      2 usage or runtime error (nothing half-written)\n";

static void __attribute__((noreturn))
usage(const char *why)
{
	if (why)
		fprintf(stderr, "%s: %s (seedsec --help shows the usage)\n", progname, why);
	else
		fputs(usage_text, stderr);
	exit(EXIT_ERROR);
}

enum optid {
	OPT_CONFIG = 1, OPT_ENABLE, OPT_DISABLE, OPT_ALL, OPT_JSON, OPT_FORMAT, OPT_OUTPUT,
	OPT_SPLIT, OPT_NAMESPACE, OPT_PROPERTY, OPT_EXISTING, OPT_STATE, OPT_VALUE,
	OPT_BCRYPT_COST, OPT_VERIFY, OPT_CERT, OPT_SCOPE, OPT_PROJECT, OPT_ENDPOINT,
	OPT_LOCATION, OPT_TOKEN_FILE, OPT_CREDENTIALS, OPT_CA_FILE, OPT_TIMEOUT, OPT_DRY_RUN,
	OPT_STORE_NAME, OPT_SA_NAME, OPT_SA_NAMESPACE, OPT_QUIET, OPT_HELP, OPT_VERSION,
};

static const struct optdef {
	const char *lng;
	char shrt;
	int arg;
	enum optid id;
} optdefs[] = {
	{"config", 'c', 1, OPT_CONFIG},       {"enable", 0, 1, OPT_ENABLE},
	{"disable", 0, 1, OPT_DISABLE},       {"all", 0, 0, OPT_ALL},
	{"json", 0, 0, OPT_JSON},             {"format", 0, 1, OPT_FORMAT},
	{"output", 'o', 1, OPT_OUTPUT},       {"split", 0, 1, OPT_SPLIT},
	{"namespace", 'n', 1, OPT_NAMESPACE}, {"property", 0, 1, OPT_PROPERTY},
	{"existing", 0, 1, OPT_EXISTING},     {"state", 0, 1, OPT_STATE},
	{"value", 0, 1, OPT_VALUE},           {"bcrypt-cost", 'C', 1, OPT_BCRYPT_COST},
	{"verify", 0, 1, OPT_VERIFY},         {"cert", 0, 1, OPT_CERT},
	{"scope", 0, 1, OPT_SCOPE},           {"project", 0, 1, OPT_PROJECT},
	{"endpoint", 0, 1, OPT_ENDPOINT},     {"location", 0, 1, OPT_LOCATION},
	{"token-file", 0, 1, OPT_TOKEN_FILE}, {"credentials", 0, 1, OPT_CREDENTIALS},
	{"ca-file", 0, 1, OPT_CA_FILE},       {"timeout", 0, 1, OPT_TIMEOUT},
	{"dry-run", 0, 0, OPT_DRY_RUN},       {"store-name", 0, 1, OPT_STORE_NAME},
	{"sa-name", 0, 1, OPT_SA_NAME},       {"sa-namespace", 0, 1, OPT_SA_NAMESPACE},
	{"quiet", 'q', 0, OPT_QUIET},         {"help", 'h', 0, OPT_HELP},
	{"version", 'V', 0, OPT_VERSION},
};

static const struct command {
	const char *name;
	int (*fn)(const struct opts *);
	int maxargs;
} commands[] = {
	{"plan", cmd_plan, 0},       {"contract", cmd_contract, 0},
	{"render", cmd_render, 0},   {"seal", cmd_seal, 0},
	{"push", cmd_push, 0},       {"check", cmd_check, 0},
	{"reset-dex-admin", cmd_reset_dex_admin, 0},
	{"store", cmd_store, 0},     {"patch", cmd_patch, 1 << 20},
	{"bcrypt", cmd_bcrypt, 0},
};

static void
gate_list(const char *arg, int *set, const char *opt)
{
	char tmp[256];
	if ((size_t)snprintf(tmp, sizeof tmp, "%s", arg) >= sizeof tmp)
		usage("gate list too long");
	for (char *s = strtok(tmp, ","); s; s = strtok(NULL, ",")) {
		int g = gate_lookup(s);
		if (g < 0) {
			char why[320];
			snprintf(why, sizeof why,
				 "%s %s: unknown gate (n8n, identity, dns, egress, hf)", opt, s);
			usage(why);
		}
		set[g] = 1;
	}
}

static int
parse_int(const char *s, const char *what, int lo, int hi)
{
	char *e;
	errno = 0;
	long v = strtol(s, &e, 10);
	if (errno || e == s || *e || v < lo || v > hi) {
		char why[160];
		snprintf(why, sizeof why, "%s: expected a number in %d..%d, got '%.32s'", what, lo,
			 hi, s);
		usage(why);
	}
	return (int)v;
}

/* DNS-1123 label: namespaces */
static int
dns_label(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 63 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
			return 0;
	return 1;
}

/* a Secret data key: [-._a-zA-Z0-9]+ */
static int
data_key_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 253 || !strcmp(s, ".") || !strcmp(s, ".."))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '.' || s[i] == '_'))
			return 0;
	return 1;
}

static void
apply_opt(struct opts *o, enum optid id, const char *arg, const char *spelled)
{
	char why[512];
	switch (id) {
	case OPT_CONFIG: o->config = arg; break;
	case OPT_ENABLE: gate_list(arg, o->enable, "--enable"); break;
	case OPT_DISABLE: gate_list(arg, o->disable, "--disable"); break;
	case OPT_ALL: o->all = 1; break;
	case OPT_JSON: o->json = 1; break;
	case OPT_FORMAT:
		if (!strcmp(arg, "yaml"))
			o->format = FMT_YAML;
		else if (!strcmp(arg, "json"))
			o->format = FMT_JSON;
		else if (!strcmp(arg, "list"))
			o->format = FMT_LIST;
		else
			usage("--format: yaml, json or list");
		o->format_set = 1;
		break;
	case OPT_OUTPUT: o->output = arg; break;
	case OPT_SPLIT: o->split = arg; break;
	case OPT_NAMESPACE: o->ns = arg; break;
	case OPT_PROPERTY: o->property = arg; break;
	case OPT_EXISTING: o->existing = arg; break;
	case OPT_STATE: o->state = arg; break;
	case OPT_VALUE: {
		const char *eq = strchr(arg, '=');
		int k = eq ? key_lookup(arg, (size_t)(eq - arg)) : -1;
		if (!eq) {
			snprintf(why, sizeof why, "--value expects KEY=@PATH");
			usage(why);
		}
		if (k < 0) {
			snprintf(why, sizeof why, "--value: unknown key '%.*s' (see seedsec plan)",
				 (int)(eq - arg) > 64 ? 64 : (int)(eq - arg), arg);
			usage(why);
		}
		if (eq[1] != '@' || !eq[2]) {
			/* never echo the would-be value */
			snprintf(why, sizeof why,
				 "--value %s=...: values are never taken from the command line "
				 "(other users can read it); use --value %s=@FILE, @- for stdin, "
				 "or the environment", keys[k].name, keys[k].name);
			usage(why);
		}
		if (o->valpath[k]) {
			snprintf(why, sizeof why, "--value %s given twice", keys[k].name);
			usage(why);
		}
		o->valpath[k] = eq + 2;
		break;
	}
	case OPT_BCRYPT_COST: {
		char *e;
		long v = strtol(arg, &e, 10);
		if (*e || e == arg || v < BCRYPT_MIN_COST || v > BCRYPT_MAX_COST) {
			snprintf(why, sizeof why, "%s %.16s: bcrypt cost must be %d..%d (Dex refuses "
				 "hashes outside that range at login)", spelled, arg,
				 BCRYPT_MIN_COST, BCRYPT_MAX_COST);
			usage(why);
		}
		o->bcrypt_cost = (int)v;
		break;
	}
	case OPT_VERIFY: o->verify = arg; break;
	case OPT_CERT: o->cert = arg; break;
	case OPT_SCOPE:
		if (strcmp(arg, "strict") && strcmp(arg, "namespace-wide") && strcmp(arg, "cluster-wide"))
			usage("--scope: strict, namespace-wide or cluster-wide");
		o->scope = arg;
		break;
	case OPT_PROJECT: o->project = arg; break;
	case OPT_ENDPOINT: o->endpoint = arg; break;
	case OPT_LOCATION: o->location = arg; break;
	case OPT_TOKEN_FILE: o->token_file = arg; break;
	case OPT_CREDENTIALS: o->credentials = arg; break;
	case OPT_CA_FILE: o->ca_file = arg; break;
	case OPT_TIMEOUT: o->timeout = parse_int(arg, "--timeout", 1, 3600); break;
	case OPT_DRY_RUN: o->dry_run = 1; break;
	case OPT_STORE_NAME: o->store_name = arg; break;
	case OPT_SA_NAME: o->sa_name = arg; break;
	case OPT_SA_NAMESPACE: o->sa_namespace = arg; break;
	case OPT_QUIET: quiet = 1; break;
	case OPT_HELP:
		fputs(usage_text, stdout);
		exit(EXIT_OK);
	case OPT_VERSION:
		printf("seedsec %s (Mbed TLS %s)\n", SEEDSEC_VERSION, MBEDTLS_VERSION_STRING);
		exit(EXIT_OK);
	}
}

static void
parse_args(struct opts *o, int argc, char **argv)
{
	static char *pos[4096];
	int npos = 0, dashdash = 0;
	for (int i = 1; i < argc; i++) {
		char *a = argv[i];
		if (dashdash || a[0] != '-' || !a[1]) {
			if (npos >= (int)(sizeof pos / sizeof pos[0]))
				usage("too many arguments");
			pos[npos++] = a;
			continue;
		}
		if (!strcmp(a, "--")) {
			dashdash = 1;
			continue;
		}
		const struct optdef *d = NULL;
		const char *arg = NULL;
		char spelled[64];
		if (a[1] == '-') {
			const char *eq = strchr(a + 2, '=');
			size_t l = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
			for (size_t j = 0; j < sizeof optdefs / sizeof optdefs[0]; j++)
				if (strlen(optdefs[j].lng) == l && !strncmp(optdefs[j].lng, a + 2, l))
					d = &optdefs[j];
			if (eq)
				arg = eq + 1;
			snprintf(spelled, sizeof spelled, "--%.*s", (int)(l > 40 ? 40 : l), a + 2);
		} else {
			for (size_t j = 0; j < sizeof optdefs / sizeof optdefs[0]; j++)
				if (optdefs[j].shrt == a[1])
					d = &optdefs[j];
			if (a[2])
				arg = a + 2;
			snprintf(spelled, sizeof spelled, "-%c", a[1]);
		}
		if (!d) {
			char why[128];
			snprintf(why, sizeof why, "unknown option %.64s", spelled);
			usage(why);
		}
		if (d->arg && !arg) {
			if (i + 1 >= argc) {
				char why[128];
				snprintf(why, sizeof why, "%s needs an argument", spelled);
				usage(why);
			}
			arg = argv[++i];
		} else if (!d->arg && arg) {
			char why[128];
			snprintf(why, sizeof why, "%s takes no argument", spelled);
			usage(why);
		}
		apply_opt(o, d->id, arg, spelled);
	}
	if (npos == 0)
		usage(NULL);
	o->cmd = pos[0];
	o->args = pos + 1;
	o->nargs = npos - 1;
}

int
main(int argc, char **argv)
{
	struct opts o = {0};
	o.ns = DEFAULT_NAMESPACE;
	o.property = DEFAULT_PROPERTY;
	o.state = DEFAULT_STATE;
	o.bcrypt_cost = BCRYPT_DEFAULT_COST;
	o.scope = "strict";
	o.timeout = 30;
	signal(SIGPIPE, SIG_IGN);
	umask(077);
	parse_args(&o, argc, argv);
	if (!dns_label(o.ns))
		usage("--namespace: not a valid namespace name (lowercase DNS label)");
	if (!data_key_ok(o.property))
		usage("--property: not a valid Secret data key ([-._a-zA-Z0-9]+)");
	if (o.output && o.split)
		usage("-o and --split exclude each other");
	if (o.json && (!strcmp(o.cmd, "render") || !strcmp(o.cmd, "seal")) && !o.output && !o.split)
		usage("--json with render/seal needs -o FILE or --split DIR (stdout carries the manifests)");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (strcmp(commands[i].name, o.cmd))
			continue;
		if (o.nargs > commands[i].maxargs) {
			char why[128];
			snprintf(why, sizeof why, "%s: unexpected argument '%.40s'", o.cmd, o.args[0]);
			usage(why);
		}
		int code = commands[i].fn(&o);
		cleanup_secrets();
		return code;
	}
	char why[128];
	snprintf(why, sizeof why, "unknown command '%.40s'", o.cmd);
	usage(why);
}
