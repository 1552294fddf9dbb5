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
#include <dirent.h>
#include <setjmp.h>
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

#include <mbedtls/asn1.h>
#include <mbedtls/base64.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/gcm.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/rsa.h>

/* HTTP over TLS, Google auth, GSM */
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <psa/crypto.h>

/* ===================================================================== */
/* Constants                                                              */
/* ===================================================================== */

#ifndef SEEDSEC_VERSION
#define SEEDSEC_VERSION "0.1.0"
#endif

#define MAX_INPUT_BYTES     (16u << 20) /* biggest file we read: 16 MiB */
#define MAX_VALUE           (64u << 10) /* GSM payload limit: 64 KiB */
#define MAX_SECRET_VALUE    (1u << 20)  /* Kubernetes Secret size limit: 1 MiB */
#define MAX_DEPTH           64          /* nesting limit for YAML/JSON */
#define BCRYPT_MIN_COST     10          /* Dex refuses hashes outside 10..16 */
#define BCRYPT_MAX_COST     16
#define BCRYPT_DEFAULT_COST 12
#define BCRYPT_HASH_LEN     60
#define DEFAULT_ENV         "ai-dev"
#define DEFAULT_NAMESPACE   "secret-source"
#define DEFAULT_PROPERTY    "value"
#define DEFAULT_STATE       "secrets"
#define ESO_PROVIDER_DOCS   "https://external-secrets.io/latest/provider/"

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
static jmp_buf *fuzz_die_jmp;
#endif

/*
 * Every message goes through here: one line on stderr. A byte below 0x20 or
 * 0x7f (from a file name, a key name read from input, a server's reply) is
 * written as \xNN, so that no input can end a line early or forge a status
 * line of its own. Messages never hold secrets; the buffer is wiped anyway.
 */
static void __attribute__((format(printf, 2, 0)))
emit(const char *prefix, const char *fmt, va_list ap)
{
	char m[8192], out[sizeof m * 4 + 1];
	int n = vsnprintf(m, sizeof m, fmt, ap);
	size_t len = n < 0 ? 0 : (size_t)n < sizeof m ? (size_t)n : sizeof m - 1, o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)m[i];
		if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(out + o, sizeof out - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = 0;
	fprintf(stderr, "%s%s%s\n", prefix, out, n >= 0 && (size_t)n >= sizeof m ? "..." : "");
	mbedtls_platform_zeroize(m, sizeof m);
	mbedtls_platform_zeroize(out, o);
}

static void __attribute__((noreturn, format(printf, 2, 3))) die(int code, const char *fmt, ...)
{
	va_list ap;
	char prefix[64];
	snprintf(prefix, sizeof prefix, "%s: ", progname);
	va_start(ap, fmt);
	emit(prefix, fmt, ap);
	va_end(ap);
	cleanup_secrets();
#ifdef SEEDSEC_FUZZ
	if (fuzz_die_jmp)
		longjmp(*fuzz_die_jmp, 1 + code);
#endif
	exit(code);
}

#define fatal(...) die(EXIT_ERROR, __VA_ARGS__)

static void __attribute__((format(printf, 1, 2))) warnx(const char *fmt, ...)
{
	va_list ap;
	char prefix[80];
	snprintf(prefix, sizeof prefix, "%s: warning: ", progname);
	va_start(ap, fmt);
	emit(prefix, fmt, ap);
	va_end(ap);
}

/* status lines (CREATED/EXISTS/...) go to stderr, values never do */
static void __attribute__((format(printf, 1, 2))) status(const char *fmt, ...)
{
	va_list ap;
	if (quiet)
		return;
	va_start(ap, fmt);
	emit("", fmt, ap);
	va_end(ap);
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

static void __attribute__((format(printf, 2, 3))) buf_printf(struct buf *b, const char *fmt, ...)
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
	b->p[b->n] = 0; /* a buffer never written to has no terminator yet */
	char *p = b->p;
	p[b->n] = 0; /* an empty buffer, or one read() filled, has no NUL yet */
	if (n)
		*n = b->n;
	memset(b, 0, sizeof *b);
	return p;
}

/* read a whole file ("-" is stdin); bounded; errors name the path */
static char *
read_fd(int fd, const char *path, size_t *len, const char *what)
{
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

static char *
read_file(const char *path, size_t *len, const char *what)
{
	int fd = 0;
	if (strcmp(path, "-") != 0) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			fatal("can't open %s %s: %s", what, path, strerror(errno));
	}
	return read_fd(fd, path, len, what);
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
/* the temp file being written, removed if a signal ends the run */
static char pending_tmp[PATH_MAX];

static void
on_fatal_signal(int sig)
{
	if (pending_tmp[0])
		unlink(pending_tmp);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void
sync_parent_dir(const char *path)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = 0;
	else if (slash)
		*slash = 0;
	else
		snprintf(dir, sizeof dir, ".");
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

static void
write_file_atomic(const char *path, const char *data, size_t n, int replace)
{
	char tmp[PATH_MAX], real[PATH_MAX];
	struct stat lst;
	/* replacing a file reached through a symlink (-o and --existing naming a
	 * link to a file kept in git): write through it, so the link stays a link
	 * and its target gets the new content; the temp file goes beside the target */
	if (replace && lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode)) {
		if (!realpath(path, real))
			fatal("can't resolve the symbolic link %s: %s", path, strerror(errno));
		path = real;
	}
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
	memcpy(pending_tmp, tmp, sizeof tmp);
	size_t off = 0;
	while (off < n) {
		ssize_t w = write(fd, data + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			int e = errno;
			close(fd);
			unlink(tmp);
			pending_tmp[0] = 0;
			fatal("can't write %s: %s", tmp, strerror(e));
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		int e = errno;
		unlink(tmp);
		pending_tmp[0] = 0;
		fatal("can't write %s: %s", tmp, strerror(e));
	}
	if (replace) {
		if (rename(tmp, path) != 0) {
			int e = errno;
			unlink(tmp);
			pending_tmp[0] = 0;
			fatal("can't rename %s to %s: %s", tmp, path, strerror(e));
		}
		pending_tmp[0] = 0;
		sync_parent_dir(path);
		return;
	}
	if (link(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		pending_tmp[0] = 0;
		if (e == EEXIST)
			fatal("%s already exists; seedsec never overwrites a file "
			      "(remove it, or pass it as --existing)",
			      path);
		fatal("can't create %s: %s", path, strerror(e));
	}
	unlink(tmp);
	pending_tmp[0] = 0;
	sync_parent_dir(path);
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

/*
 * Offset of the first Unicode space, line separator, zero-width or
 * byte-order mark in valid UTF-8 (invisible in a token, fatal in a header);
 * -1 if none.
 */
static long
unicode_space_at(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++) {
		unsigned c = s[i], d = s[i + 1], e = i + 2 < n ? s[i + 2] : 0;
		if (c == 0xc2 && (d == 0xa0 || d == 0x85))
			return (long)i;
		if (c == 0xe1 && d == 0x9a && e == 0x80)
			return (long)i;
		if (c == 0xe2 && d == 0x80 &&
		    ((e >= 0x80 && e <= 0x8f) || e == 0xa8 || e == 0xa9 || e == 0xaf))
			return (long)i;
		if (c == 0xe2 && d == 0x81 && (e == 0x9f || e == 0xa0))
			return (long)i;
		if ((c == 0xe3 && d == 0x80 && e == 0x80) || (c == 0xef && d == 0xbb && e == 0xbf))
			return (long)i;
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
	int quoted; /* scalar: a string for sure (quoted in source / JSON string) */
	char *s;    /* scalar text, NUL-terminated */
	size_t len;
	size_t n, cap; /* map: k[i] -> v[i]; seq: v[i] */
	struct node **k, **v;
};

/*
 * A tolerant parse (patch DIR: a file there need not be meant for seedsec):
 * a YAML or JSON error jumps back to parse_stream_soft with its message
 * instead of exiting, and every node made so far is freed from this list.
 */
static struct {
	int on;
	jmp_buf jb;
	char msg[640];
	struct node **nodes;
	size_t n, cap;
} soft;

static struct node *
node_new(enum nkind kind, int line)
{
	struct node *n = xcalloc(1, sizeof *n);
	n->kind = kind;
	n->line = line;
	if (soft.on) {
		if (soft.n == soft.cap) {
			soft.cap = soft.cap ? soft.cap * 2 : 64;
			struct node **nv = xcalloc(soft.cap, sizeof *nv);
			if (soft.n)
				memcpy(nv, soft.nodes, soft.n * sizeof *nv);
			free(soft.nodes);
			soft.nodes = nv;
		}
		soft.nodes[soft.n++] = n;
	}
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
	struct node *root; /* NULL for an empty document */
	size_t start, end; /* [start, end) in the source, incl. its '---' line */
	int line;          /* first line of the document */
	const char *file;  /* set when documents of several files are gathered */
	size_t index;      /* its number in that file, from 1 */
};

struct docs {
	struct doc *d;
	size_t n, cap;
	int comments; /* YAML comments were read (a rewrite would not keep them) */
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
	char *path;         /* NULL: built-in defaults */
	int gate[NGATES];   /* what the config turns on */
	char *backend;      /* secret_backend (default gcpsm) */
	char *project;      /* cluster.projectID or NULL */
	char *dns_provider; /* for plan's explanation */
	int dns_automate;
	int no_config; /* no file at all: built-in defaults */
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
		else if (env && *env) /* asked for by name: a typo must not mean "no gates" */
			fatal("ENV=%s, but %s does not exist here; pass -c FILE or run from the "
			      "platform repository",
			      env, def);
		else
			c->no_config = 1;
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
	c->gate[G_DNS] =
		c->dns_automate && c->dns_provider && !strcmp(c->dns_provider, "cloudflare");
	if (c->dns_provider && strcmp(c->dns_provider, "cloudflare") &&
	    strcmp(c->dns_provider, "google") && strcmp(c->dns_provider, "none"))
		fatal("%s:%d: dns.provider: %s is not one of none, google, cloudflare", c->path,
		      map_get(dns, "provider")->line, c->dns_provider);
	c->backend = config_string(c, map_get(root, "secret_backend"), "secret_backend");
	if (c->backend && !*c->backend) /* gcpsm to one reader, "none" to another: ask */
		fatal("%s:%d: secret_backend is empty: leave it out for gcpsm, or name the backend",
		      c->path, map_get(root, "secret_backend")->line);
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
	int r = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, pers, sizeof pers - 1);
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

static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

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
		if (b >= 248) /* 248 = 4 * 62: the largest multiple below 256 */
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
	long us = unicode_space_at((const unsigned char *)v, n);
	if (us >= 0) {
		snprintf(why, sizeof why,
			 "contains a Unicode space or invisible character at byte %ld", us);
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
			return "is LiteLLM's documented example key, which LiteLLM refuses to "
			       "start with";
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
				 "(URL-safe base64 of 32 random bytes works)",
				 b);
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
	case R_TOKEN: break;
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
	default: fatal("internal: %s is not generated", kd->name);
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
	char *h = bcrypt_hash(pw, strlen(pw), cost); /* verified against pw in there */
	const char *bad = rule_violation(K_DEX_ADMIN_HASH, h, strlen(h), 1);
	if (bad)
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
			fatal("%s (from %s): NUL byte at byte %zu; nothing written", keys[k].name,
			      from, i);
		if (c == '\r' || c == '\n')
			fatal("%s (from %s): line break inside the value at byte %zu; "
			      "nothing written",
			      keys[k].name, from, i);
		if (c < 0x20 || c == 0x7f)
			fatal("%s (from %s): control byte 0x%02x at byte %zu; nothing written",
			      keys[k].name, from, c, i);
		if (c == ' ')
			fatal("%s (from %s): whitespace inside the value at byte %zu; "
			      "nothing written",
			      keys[k].name, from, i);
	}
	long us = unicode_space_at((const unsigned char *)src + off, end - off);
	if (us >= 0)
		fatal("%s (from %s): Unicode space or invisible character at byte %zu; nothing "
		      "written",
		      keys[k].name, from, off + (size_t)us);
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
			      "using it anyway",
			      keys[k].name, from, keys[k].hint);
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
	0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0x082efa98,
	0xec4e6c89, 0x452821e6, 0x38d01377, 0xbe5466cf, 0x34e90c6c, 0xc0ac29b7, 0xc97c50dd,
	0x3f84d5b5, 0xb5470917, 0x9216d5d9, 0x8979fb1b, 0xd1310ba6, 0x98dfb5ac, 0x2ffd72db,
	0xd01adfb7, 0xb8e1afed, 0x6a267e96, 0xba7c9045, 0xf12c7f99, 0x24a19947, 0xb3916cf7,
	0x0801f2e2, 0x858efc16, 0x636920d8, 0x71574e69, 0xa458fea3, 0xf4933d7e, 0x0d95748f,
	0x728eb658, 0x718bcd58, 0x82154aee, 0x7b54a41d, 0xc25a59b5, 0x9c30d539, 0x2af26013,
	0xc5d1b023, 0x286085f0, 0xca417918, 0xb8db38ef, 0x8e79dcb0, 0x603a180e, 0x6c9e0e8b,
	0xb01e8a3e, 0xd71577c1, 0xbd314b27, 0x78af2fda, 0x55605c60, 0xe65525f3, 0xaa55ab94,
	0x57489862, 0x63e81440, 0x55ca396a, 0x2aab10b6, 0xb4cc5c34, 0x1141e8ce, 0xa15486af,
	0x7c72e993, 0xb3ee1411, 0x636fbc2a, 0x2ba9c55d, 0x741831f6, 0xce5c3e16, 0x9b87931e,
	0xafd6ba33, 0x6c24cf5c, 0x7a325381, 0x28958677, 0x3b8f4898, 0x6b4bb9af, 0xc4bfe81b,
	0x66282193, 0x61d809cc, 0xfb21a991, 0x487cac60, 0x5dec8032, 0xef845d5d, 0xe98575b1,
	0xdc262302, 0xeb651b88, 0x23893e81, 0xd396acc5, 0x0f6d6ff3, 0x83f44239, 0x2e0b4482,
	0xa4842004, 0x69c8f04a, 0x9e1f9b5e, 0x21c66842, 0xf6e96c9a, 0x670c9c61, 0xabd388f0,
	0x6a51a0d2, 0xd8542f68, 0x960fa728, 0xab5133a3, 0x6eef0b6c, 0x137a3be4, 0xba3bf050,
	0x7efb2a98, 0xa1f1651d, 0x39af0176, 0x66ca593e, 0x82430e88, 0x8cee8619, 0x456f9fb4,
	0x7d84a5c3, 0x3b8b5ebe, 0xe06f75d8, 0x85c12073, 0x401a449f, 0x56c16aa6, 0x4ed3aa62,
	0x363f7706, 0x1bfedf72, 0x429b023d, 0x37d0d724, 0xd00a1248, 0xdb0fead3, 0x49f1c09b,
	0x075372c9, 0x80991b7b, 0x25d479d8, 0xf6e8def7, 0xe3fe501a, 0xb6794c3b, 0x976ce0bd,
	0x04c006ba, 0xc1a94fb6, 0x409f60c4, 0x5e5c9ec2, 0x196a2463, 0x68fb6faf, 0x3e6c53b5,
	0x1339b2eb, 0x3b52ec6f, 0x6dfc511f, 0x9b30952c, 0xcc814544, 0xaf5ebd09, 0xbee3d004,
	0xde334afd, 0x660f2807, 0x192e4bb3, 0xc0cba857, 0x45c8740f, 0xd20b5f39, 0xb9d3fbdb,
	0x5579c0bd, 0x1a60320a, 0xd6a100c6, 0x402c7279, 0x679f25fe, 0xfb1fa3cc, 0x8ea5e9f8,
	0xdb3222f8, 0x3c7516df, 0xfd616b15, 0x2f501ec8, 0xad0552ab, 0x323db5fa, 0xfd238760,
	0x53317b48, 0x3e00df82, 0x9e5c57bb, 0xca6f8ca0, 0x1a87562e, 0xdf1769db, 0xd542a8f6,
	0x287effc3, 0xac6732c6, 0x8c4f5573, 0x695b27b0, 0xbbca58c8, 0xe1ffa35d, 0xb8f011a0,
	0x10fa3d98, 0xfd2183b8, 0x4afcb56c, 0x2dd1d35b, 0x9a53e479, 0xb6f84565, 0xd28e49bc,
	0x4bfb9790, 0xe1ddf2da, 0xa4cb7e33, 0x62fb1341, 0xcee4c6e8, 0xef20cada, 0x36774c01,
	0xd07e9efe, 0x2bf11fb4, 0x95dbda4d, 0xae909198, 0xeaad8e71, 0x6b93d5a0, 0xd08ed1d0,
	0xafc725e0, 0x8e3c5b2f, 0x8e7594b7, 0x8ff6e2fb, 0xf2122b64, 0x8888b812, 0x900df01c,
	0x4fad5ea0, 0x688fc31c, 0xd1cff191, 0xb3a8c1ad, 0x2f2f2218, 0xbe0e1777, 0xea752dfe,
	0x8b021fa1, 0xe5a0cc0f, 0xb56f74e8, 0x18acf3d6, 0xce89e299, 0xb4a84fe0, 0xfd13e0b7,
	0x7cc43b81, 0xd2ada8d9, 0x165fa266, 0x80957705, 0x93cc7314, 0x211a1477, 0xe6ad2065,
	0x77b5fa86, 0xc75442f5, 0xfb9d35cf, 0xebcdaf0c, 0x7b3e89a0, 0xd6411bd3, 0xae1e7e49,
	0x00250e2d, 0x2071b35e, 0x226800bb, 0x57b8e0af, 0x2464369b, 0xf009b91e, 0x5563911d,
	0x59dfa6aa, 0x78c14389, 0xd95a537f, 0x207d5ba2, 0x02e5b9c5, 0x83260376, 0x6295cfa9,
	0x11c81968, 0x4e734a41, 0xb3472dca, 0x7b14a94a, 0x1b510052, 0x9a532915, 0xd60f573f,
	0xbc9bc6e4, 0x2b60a476, 0x81e67400, 0x08ba6fb5, 0x571be91f, 0xf296ec6b, 0x2a0dd915,
	0xb6636521, 0xe7b9f9b6, 0xff34052e, 0xc5855664, 0x53b02d5d, 0xa99f8fa1, 0x08ba4799,
	0x6e85076a, 0x4b7a70e9, 0xb5b32944, 0xdb75092e, 0xc4192623, 0xad6ea6b0, 0x49a7df7d,
	0x9cee60b8, 0x8fedb266, 0xecaa8c71, 0x699a17ff, 0x5664526c, 0xc2b19ee1, 0x193602a5,
	0x75094c29, 0xa0591340, 0xe4183a3e, 0x3f54989a, 0x5b429d65, 0x6b8fe4d6, 0x99f73fd6,
	0xa1d29c07, 0xefe830f5, 0x4d2d38e6, 0xf0255dc1, 0x4cdd2086, 0x8470eb26, 0x6382e9c6,
	0x021ecc5e, 0x09686b3f, 0x3ebaefc9, 0x3c971814, 0x6b6a70a1, 0x687f3584, 0x52a0e286,
	0xb79c5305, 0xaa500737, 0x3e07841c, 0x7fdeae5c, 0x8e7d44ec, 0x5716f2b8, 0xb03ada37,
	0xf0500c0d, 0xf01c1f04, 0x0200b3ff, 0xae0cf51a, 0x3cb574b2, 0x25837a58, 0xdc0921bd,
	0xd19113f9, 0x7ca92ff6, 0x94324773, 0x22f54701, 0x3ae5e581, 0x37c2dadc, 0xc8b57634,
	0x9af3dda7, 0xa9446146, 0x0fd0030e, 0xecc8c73e, 0xa4751e41, 0xe238cd99, 0x3bea0e2f,
	0x3280bba1, 0x183eb331, 0x4e548b38, 0x4f6db908, 0x6f420d03, 0xf60a04bf, 0x2cb81290,
	0x24977c79, 0x5679b072, 0xbcaf89af, 0xde9a771f, 0xd9930810, 0xb38bae12, 0xdccf3f2e,
	0x5512721f, 0x2e6b7124, 0x501adde6, 0x9f84cd87, 0x7a584718, 0x7408da17, 0xbc9f9abc,
	0xe94b7d8c, 0xec7aec3a, 0xdb851dfa, 0x63094366, 0xc464c3d2, 0xef1c1847, 0x3215d908,
	0xdd433b37, 0x24c2ba16, 0x12a14d43, 0x2a65c451, 0x50940002, 0x133ae4dd, 0x71dff89e,
	0x10314e55, 0x81ac77d6, 0x5f11199b, 0x043556f1, 0xd7a3c76b, 0x3c11183b, 0x5924a509,
	0xf28fe6ed, 0x97f1fbfa, 0x9ebabf2c, 0x1e153c6e, 0x86e34570, 0xeae96fb1, 0x860e5e0a,
	0x5a3e2ab3, 0x771fe71c, 0x4e3d06fa, 0x2965dcb9, 0x99e71d0f, 0x803e89d6, 0x5266c825,
	0x2e4cc978, 0x9c10b36a, 0xc6150eba, 0x94e2ea78, 0xa5fc3c53, 0x1e0a2df4, 0xf2f74ea7,
	0x361d2b3d, 0x1939260f, 0x19c27960, 0x5223a708, 0xf71312b6, 0xebadfe6e, 0xeac31f66,
	0xe3bc4595, 0xa67bc883, 0xb17f37d1, 0x018cff28, 0xc332ddef, 0xbe6c5aa5, 0x65582185,
	0x68ab9802, 0xeecea50f, 0xdb2f953b, 0x2aef7dad, 0x5b6e2f84, 0x1521b628, 0x29076170,
	0xecdd4775, 0x619f1510, 0x13cca830, 0xeb61bd96, 0x0334fe1e, 0xaa0363cf, 0xb5735c90,
	0x4c70a239, 0xd59e9e0b, 0xcbaade14, 0xeecc86bc, 0x60622ca7, 0x9cab5cab, 0xb2f3846e,
	0x648b1eaf, 0x19bdf0ca, 0xa02369b9, 0x655abb50, 0x40685a32, 0x3c2ab4b3, 0x319ee9d5,
	0xc021b8f7, 0x9b540b19, 0x875fa099, 0x95f7997e, 0x623d7da8, 0xf837889a, 0x97e32d77,
	0x11ed935f, 0x16681281, 0x0e358829, 0xc7e61fd6, 0x96dedfa1, 0x7858ba99, 0x57f584a5,
	0x1b227263, 0x9b83c3ff, 0x1ac24696, 0xcdb30aeb, 0x532e3054, 0x8fd948e4, 0x6dbc3128,
	0x58ebf2ef, 0x34c6ffea, 0xfe28ed61, 0xee7c3c73, 0x5d4a14d9, 0xe864b7e3, 0x42105d14,
	0x203e13e0, 0x45eee2b6, 0xa3aaabea, 0xdb6c4f15, 0xfacb4fd0, 0xc742f442, 0xef6abbb5,
	0x654f3b1d, 0x41cd2105, 0xd81e799e, 0x86854dc7, 0xe44b476a, 0x3d816250, 0xcf62a1f2,
	0x5b8d2646, 0xfc8883a0, 0xc1c7b6a3, 0x7f1524c3, 0x69cb7492, 0x47848a0b, 0x5692b285,
	0x095bbf00, 0xad19489d, 0x1462b174, 0x23820e00, 0x58428d2a, 0x0c55f5ea, 0x1dadf43e,
	0x233f7061, 0x3372f092, 0x8d937e41, 0xd65fecf1, 0x6c223bdb, 0x7cde3759, 0xcbee7460,
	0x4085f2a7, 0xce77326e, 0xa6078084, 0x19f8509e, 0xe8efd855, 0x61d99735, 0xa969a7aa,
	0xc50c06c2, 0x5a04abfc, 0x800bcadc, 0x9e447a2e, 0xc3453484, 0xfdd56705, 0x0e1e9ec9,
	0xdb73dbd3, 0x105588cd, 0x675fda79, 0xe3674340, 0xc5c43465, 0x713e38d8, 0x3d28f89e,
	0xf16dff20, 0x153e21e7, 0x8fb03d4a, 0xe6e39f2b, 0xdb83adf7, 0xe93d5a68, 0x948140f7,
	0xf64c261c, 0x94692934, 0x411520f7, 0x7602d4f7, 0xbcf46b2e, 0xd4a20068, 0xd4082471,
	0x3320f46a, 0x43b7d4b7, 0x500061af, 0x1e39f62e, 0x97244546, 0x14214f74, 0xbf8b8840,
	0x4d95fc1d, 0x96b591af, 0x70f4ddd3, 0x66a02f45, 0xbfbc09ec, 0x03bd9785, 0x7fac6dd0,
	0x31cb8504, 0x96eb27b3, 0x55fd3941, 0xda2547e6, 0xabca0a9a, 0x28507825, 0x530429f4,
	0x0a2c86da, 0xe9b66dfb, 0x68dc1462, 0xd7486900, 0x680ec0a4, 0x27a18dee, 0x4f3ffea2,
	0xe887ad8c, 0xb58ce006, 0x7af4d6b6, 0xaace1e7c, 0xd3375fec, 0xce78a399, 0x406b2a42,
	0x20fe9e35, 0xd9f385b9, 0xee39d7ab, 0x3b124e8b, 0x1dc9faf7, 0x4b6d1856, 0x26a36631,
	0xeae397b2, 0x3a6efa74, 0xdd5b4332, 0x6841e7f7, 0xca7820fb, 0xfb0af54e, 0xd8feb397,
	0x454056ac, 0xba489527, 0x55533a3a, 0x20838d87, 0xfe6ba9b7, 0xd096954b, 0x55a867bc,
	0xa1159a58, 0xcca92963, 0x99e1db33, 0xa62a4a56, 0x3f3125f9, 0x5ef47e1c, 0x9029317c,
	0xfdf8e802, 0x04272f70, 0x80bb155c, 0x05282ce3, 0x95c11548, 0xe4c66d22, 0x48c1133f,
	0xc70f86dc, 0x07f9c9ee, 0x41041f0f, 0x404779a4, 0x5d886e17, 0x325f51eb, 0xd59bc0d1,
	0xf2bcc18f, 0x41113564, 0x257b7834, 0x602a9c60, 0xdff8e8a3, 0x1f636c1b, 0x0e12b4c2,
	0x02e1329e, 0xaf664fd1, 0xcad18115, 0x6b2395e0, 0x333e92e1, 0x3b240b62, 0xeebeb922,
	0x85b2a20e, 0xe6ba0d99, 0xde720c8c, 0x2da2f728, 0xd0127845, 0x95b794fd, 0x647d0862,
	0xe7ccf5f0, 0x5449a36f, 0x877d48fa, 0xc39dfd27, 0xf33e8d1e, 0x0a476341, 0x992eff74,
	0x3a6f6eab, 0xf4f8fd37, 0xa812dc60, 0xa1ebddf8, 0x991be14c, 0xdb6e6b0d, 0xc67b5510,
	0x6d672c37, 0x2765d43b, 0xdcd0e804, 0xf1290dc7, 0xcc00ffa3, 0xb5390f92, 0x690fed0b,
	0x667b9ffb, 0xcedb7d9c, 0xa091cf0b, 0xd9155ea3, 0xbb132f88, 0x515bad24, 0x7b9479bf,
	0x763bd6eb, 0x37392eb3, 0xcc115979, 0x8026e297, 0xf42e312d, 0x6842ada7, 0xc66a2b3b,
	0x12754ccc, 0x782ef11c, 0x6a124237, 0xb79251e7, 0x06a1bbe6, 0x4bfb6350, 0x1a6b1018,
	0x11caedfa, 0x3d25bdd8, 0xe2e1c3c9, 0x44421659, 0x0a121386, 0xd90cec6e, 0xd5abea2a,
	0x64af674e, 0xda86a85f, 0xbebfe988, 0x64e4c3fe, 0x9dbc8057, 0xf0f7c086, 0x60787bf8,
	0x6003604d, 0xd1fd8346, 0xf6381fb0, 0x7745ae04, 0xd736fccc, 0x83426b33, 0xf01eab71,
	0xb0804187, 0x3c005e5f, 0x77a057be, 0xbde8ae24, 0x55464299, 0xbf582e61, 0x4e58f48f,
	0xf2ddfda2, 0xf474ef38, 0x8789bdc2, 0x5366f9c3, 0xc8b38e74, 0xb475f255, 0x46fcd9b9,
	0x7aeb2661, 0x8b1ddf84, 0x846a0e79, 0x915f95e2, 0x466e598e, 0x20b45770, 0x8cd55591,
	0xc902de4c, 0xb90bace1, 0xbb8205d0, 0x11a86248, 0x7574a99e, 0xb77f19b6, 0xe0a9dc09,
	0x662d09a1, 0xc4324633, 0xe85a1f02, 0x09f0be8c, 0x4a99a025, 0x1d6efe10, 0x1ab93d1d,
	0x0ba5a4df, 0xa186f20f, 0x2868f169, 0xdcb7da83, 0x573906fe, 0xa1e2ce9b, 0x4fcd7f52,
	0x50115e01, 0xa70683fa, 0xa002b5c4, 0x0de6d027, 0x9af88c27, 0x773f8641, 0xc3604c06,
	0x61a806b5, 0xf0177a28, 0xc0f586e0, 0x006058aa, 0x30dc7d62, 0x11e69ed7, 0x2338ea63,
	0x53c2dd94, 0xc2c21634, 0xbbcbee56, 0x90bcb6de, 0xebfc7da1, 0xce591d76, 0x6f05e409,
	0x4b7c0188, 0x39720a3d, 0x7c927c24, 0x86e3725f, 0x724d9db9, 0x1ac15bb4, 0xd39eb8fc,
	0xed545578, 0x08fca5b5, 0xd83d7cd3, 0x4dad0fc4, 0x1e50ef5e, 0xb161e6f8, 0xa28514d9,
	0x6c51133c, 0x6fd5c7e7, 0x56e14ec4, 0x362abfce, 0xddc6c837, 0xd79a3234, 0x92638212,
	0x670efa8e, 0x406000e0, 0x3a39ce37, 0xd3faf5cf, 0xabc27737, 0x5ac52d1b, 0x5cb0679e,
	0x4fa33742, 0xd3822740, 0x99bc9bbe, 0xd5118e9d, 0xbf0f7315, 0xd62d1c7e, 0xc700c47b,
	0xb78c1b6b, 0x21a19045, 0xb26eb1be, 0x6a366eb4, 0x5748ab2f, 0xbc946e79, 0xc6a376d2,
	0x6549c2c8, 0x530ff8ee, 0x468dde7d, 0xd5730a1d, 0x4cd04dc6, 0x2939bbdb, 0xa9ba4650,
	0xac9526e8, 0xbe5ee304, 0xa1fad5f0, 0x6a2d519a, 0x63ef8ce2, 0x9a86ee22, 0xc089c2b8,
	0x43242ef6, 0xa51e03aa, 0x9cf2d0a4, 0x83c061ba, 0x9be96a4d, 0x8fe51550, 0xba645bd6,
	0x2826a2f9, 0xa73a3ae1, 0x4ba99586, 0xef5562e9, 0xc72fefd3, 0xf752f7da, 0x3f046f69,
	0x77fa0a59, 0x80e4a915, 0x87b08601, 0x9b09e6ad, 0x3b3ee593, 0xe990fd5a, 0x9e34d797,
	0x2cf0b7d9, 0x022b8b51, 0x96d5ac3a, 0x017da67d, 0xd1cf3ed6, 0x7c7d2d28, 0x1f9f25cf,
	0xadf2b89b, 0x5ad6b472, 0x5a88f54c, 0xe029ac71, 0xe019a5e6, 0x47b0acfd, 0xed93fa9b,
	0xe8d3c48d, 0x283b57cc, 0xf8d56629, 0x79132e28, 0x785f0191, 0xed756055, 0xf7960e44,
	0xe3d35e8c, 0x15056dd4, 0x88f46dba, 0x03a16125, 0x0564f0bd, 0xc3eb9e15, 0x3c9057a2,
	0x97271aec, 0xa93a072a, 0x1b3f6d9b, 0x1e6321f5, 0xf59c66fb, 0x26dcf319, 0x7533d928,
	0xb155fdf5, 0x03563482, 0x8aba3cbb, 0x28517711, 0xc20ad9f8, 0xabcc5167, 0xccad925f,
	0x4de81751, 0x3830dc8e, 0x379d5862, 0x9320f991, 0xea7a90c2, 0xfb3e7bce, 0x5121ce64,
	0x774fbe32, 0xa8b6e37e, 0xc3293d46, 0x48de5369, 0x6413e680, 0xa2ae0810, 0xdd6db224,
	0x69852dfd, 0x09072166, 0xb39a460a, 0x6445c0dd, 0x586cdecf, 0x1c20c8ae, 0x5bbef7dd,
	0x1b588d40, 0xccd2017f, 0x6bb4e3bb, 0xdda26a7e, 0x3a59ff45, 0x3e350a44, 0xbcb4cdd5,
	0x72eacea8, 0xfa6484bb, 0x8d6612ae, 0xbf3c6f47, 0xd29be463, 0x542f5d9e, 0xaec2771b,
	0xf64e6370, 0x740e0d8d, 0xe75b1357, 0xf8721671, 0xaf537d5d, 0x4040cb08, 0x4eb4e2cc,
	0x34d2466a, 0x0115af84, 0xe1b00428, 0x95983a1d, 0x06b89fb4, 0xce6ea048, 0x6f3f3b82,
	0x3520ab82, 0x011a1d4b, 0x277227f8, 0x611560b1, 0xe7933fdc, 0xbb3a792b, 0x344525bd,
	0xa08839e1, 0x51ce794b, 0x2f32c9b7, 0xa01fbac9, 0xe01cc87e, 0xbcc7d1f6, 0xcf0111c3,
	0xa1e8aac7, 0x1a908749, 0xd44fbd9a, 0xd0dadecb, 0xd50ada38, 0x0339c32a, 0xc6913667,
	0x8df9317c, 0xe0b12b4f, 0xf79e59b7, 0x43f5bb3a, 0xf2d519ff, 0x27d9459c, 0xbf97222c,
	0x15e6fc2a, 0x0f91fc71, 0x9b941525, 0xfae59361, 0xceb69ceb, 0xc2a86459, 0x12baa8d1,
	0xb6c1075e, 0xe3056a0c, 0x10d25065, 0xcb03a442, 0xe0ec6e0e, 0x1698db3b, 0x4c98a0be,
	0x3278e964, 0x9f1f9532, 0xe0d392df, 0xd3a0342b, 0x8971f21e, 0x1b0a7441, 0x4ba3348c,
	0xc5be7120, 0xc37632d8, 0xdf359f8d, 0x9b992f2e, 0xe60b6f47, 0x0fe3f11d, 0xe54cda54,
	0x1edad891, 0xce6279cf, 0xcd3e7e6f, 0x1618b166, 0xfd2c1d05, 0x848fd2c5, 0xf6fb2299,
	0xf523f357, 0xa6327623, 0x93a83531, 0x56cccd02, 0xacf08162, 0x5a75ebb5, 0x6e163697,
	0x88d273cc, 0xde966292, 0x81b949d0, 0x4c50901b, 0x71c65614, 0xe6c6c7bd, 0x327a140a,
	0x45e1d006, 0xc3f27b9a, 0xc9aa53fd, 0x62a80f00, 0xbb25bfe2, 0x35bdd2f6, 0x71126905,
	0xb2040222, 0xb6cbcf7c, 0xcd769c2b, 0x53113ec0, 0x1640e3d3, 0x38abbd60, 0x2547adf0,
	0xba38209c, 0xf746ce76, 0x77afa1c5, 0x20756060, 0x85cbfe4e, 0x8ae88dd8, 0x7aaaf9b0,
	0x4cf9aa7e, 0x1948c25c, 0x02fb8a8c, 0x01c36ae4, 0xd6ebe1f9, 0x90d4f869, 0xa65cdea0,
	0x3f09252d, 0xc208e69f, 0xb74e6132, 0xce77e25b, 0x578fdfe3, 0x3ac372e6,
};

/* one Blowfish state; bf_pi holds its initial value in this order; w[] is all of it */
struct bf {
	union {
		struct {
			uint32_t P[18];
			uint32_t S[4][256];
		};
		uint32_t w[18 + 1024];
	};
};
_Static_assert(sizeof(struct bf) == sizeof bf_pi, "Blowfish state layout");

#define BF_F(s, x)                                                                             \
	((((s)->S[0][(x) >> 24] + (s)->S[1][(x) >> 16 & 0xff]) ^ (s)->S[2][(x) >> 8 & 0xff]) + \
	 (s)->S[3][(x)&0xff])
/* b ^ P[n] first: it does not wait for F, so the chain is one xor shorter */
#define BF_R(s, a, b, n) ((b) = ((b) ^ (s)->P[n]) ^ BF_F(s, a))

/* encrypt (l, r) in place: 16 rounds, unrolled (the whole cost of bcrypt is here) */
#define BF_ENC(s, l, r)                \
	do {                           \
		uint32_t t_;           \
		(l) ^= (s)->P[0];      \
		BF_R(s, l, r, 1);      \
		BF_R(s, r, l, 2);      \
		BF_R(s, l, r, 3);      \
		BF_R(s, r, l, 4);      \
		BF_R(s, l, r, 5);      \
		BF_R(s, r, l, 6);      \
		BF_R(s, l, r, 7);      \
		BF_R(s, r, l, 8);      \
		BF_R(s, l, r, 9);      \
		BF_R(s, r, l, 10);     \
		BF_R(s, l, r, 11);     \
		BF_R(s, r, l, 12);     \
		BF_R(s, l, r, 13);     \
		BF_R(s, r, l, 14);     \
		BF_R(s, l, r, 15);     \
		BF_R(s, r, l, 16);     \
		t_ = (r) ^ (s)->P[17]; \
		(r) = (l);             \
		(l) = t_;              \
	} while (0)

/* the same on two states at once, round by round (see bf_expand2) */
#define BF_R2(a, la, ra, b, lb, rb, n) \
	do {                           \
		BF_R(a, la, ra, n);    \
		BF_R(b, lb, rb, n);    \
	} while (0)
#define BF_ENC2(a, la, ra, b, lb, rb)            \
	do {                                     \
		uint32_t ta_, tb_;               \
		(la) ^= (a)->P[0];               \
		(lb) ^= (b)->P[0];               \
		BF_R2(a, la, ra, b, lb, rb, 1);  \
		BF_R2(a, ra, la, b, rb, lb, 2);  \
		BF_R2(a, la, ra, b, lb, rb, 3);  \
		BF_R2(a, ra, la, b, rb, lb, 4);  \
		BF_R2(a, la, ra, b, lb, rb, 5);  \
		BF_R2(a, ra, la, b, rb, lb, 6);  \
		BF_R2(a, la, ra, b, lb, rb, 7);  \
		BF_R2(a, ra, la, b, rb, lb, 8);  \
		BF_R2(a, la, ra, b, lb, rb, 9);  \
		BF_R2(a, ra, la, b, rb, lb, 10); \
		BF_R2(a, la, ra, b, lb, rb, 11); \
		BF_R2(a, ra, la, b, rb, lb, 12); \
		BF_R2(a, la, ra, b, lb, rb, 13); \
		BF_R2(a, ra, la, b, rb, lb, 14); \
		BF_R2(a, la, ra, b, lb, rb, 15); \
		BF_R2(a, ra, la, b, rb, lb, 16); \
		ta_ = (ra) ^ (a)->P[17];         \
		tb_ = (rb) ^ (b)->P[17];         \
		(ra) = (la);                     \
		(rb) = (lb);                     \
		(la) = ta_;                      \
		(lb) = tb_;                      \
	} while (0)

/*
 * ExpandKey: P ^= the key words, then re-encrypt P and the S-boxes in one
 * chain, each block first xored with the next two salt words (all zero: no
 * salt). Key and salt come as precomputed words: nothing but Blowfish in the
 * loop.
 */
static void
bf_expand(struct bf *restrict a, const uint32_t ka[18], const uint32_t sa[4])
{
	uint32_t la = 0, ra = 0;
	for (int i = 0; i < 18; i++)
		a->P[i] ^= ka[i];
	for (int i = 0; i < 18 + 1024; i += 2) {
		la ^= sa[i & 2];
		ra ^= sa[(i & 2) | 1];
		BF_ENC(a, la, ra);
		a->w[i] = la;
		a->w[i + 1] = ra;
	}
}

/*
 * The same (without salt) on two independent states side by side. Blowfish
 * is one long dependency chain of table loads; a second chain runs in the
 * gaps of the first, so two lanes cost little more than one. bcrypt_hash uses
 * the second lane to verify the new hash while making it.
 */
static void
bf_expand2(struct bf *restrict a, struct bf *restrict b, const uint32_t ka[18],
	   const uint32_t kb[18])
{
	uint32_t la = 0, ra = 0, lb = 0, rb = 0;
	for (int i = 0; i < 18; i++) {
		a->P[i] ^= ka[i];
		b->P[i] ^= kb[i];
	}
	for (int i = 0; i < 18 + 1024; i += 2) {
		BF_ENC2(a, la, ra, b, lb, rb);
		a->w[i] = la;
		a->w[i + 1] = ra;
		b->w[i] = lb;
		b->w[i + 1] = rb;
	}
}

/* big-endian words of d, read cyclically (Blowfish's key schedule) */
static void
bf_words(uint32_t *out, size_t nw, const unsigned char *d, size_t n)
{
	size_t pos = 0;
	for (size_t i = 0; i < nw; i++) {
		uint32_t w = 0;
		for (int j = 0; j < 4; j++) {
			w = w << 8 | d[pos];
			pos = pos + 1 == n ? 0 : pos + 1;
		}
		out[i] = w;
	}
}

/* what one bcrypt lane works on; raw receives the 23 bytes bcrypt keeps (of 24) */
struct bf_lane {
	uint32_t key[18];  /* password words (with its NUL, at most 72 bytes) */
	uint32_t salt[18]; /* salt words, cycled to 18 for the salt-as-key step */
	unsigned char raw[24];
};

static void
bf_lane_init(struct bf_lane *ln, const char *pw, size_t pwlen, const unsigned char salt[16])
{
	unsigned char key[72];
	size_t keylen = pwlen + 1 > 72 ? 72 : pwlen + 1;
	memset(key, 0, sizeof key);
	memcpy(key, pw, keylen > pwlen ? pwlen : keylen);
	bf_words(ln->key, 18, key, keylen);
	bf_words(ln->salt, 18, salt, 16);
	zeroize(key, sizeof key);
}

/* EksBlowfish on one or two lanes (same cost), then the 64 encryptions of the magic */
static void
eksblowfish(struct bf_lane *ln, int lanes, int cost)
{
	static const uint32_t zero[4];
	struct bf *st = xmalloc(2 * sizeof *st);
	for (int j = 0; j < lanes; j++) {
		memcpy(st[j].w, bf_pi, sizeof st[j].w);
		bf_expand(&st[j], ln[j].key, ln[j].salt);
	}
	for (uint32_t i = 0, rounds = 1u << cost; i < rounds; i++) {
		if (lanes == 2) {
			bf_expand2(&st[0], &st[1], ln[0].key, ln[1].key);
			bf_expand2(&st[0], &st[1], ln[0].salt, ln[1].salt);
		} else {
			bf_expand(&st[0], ln[0].key, zero);
			bf_expand(&st[0], ln[0].salt, zero);
		}
	}
	static const char magic[] = "OrpheanBeholderScryDoubt";
	for (int j = 0; j < lanes; j++) {
		uint32_t c[6];
		bf_words(c, 6, (const unsigned char *)magic, 24);
		for (int i = 0; i < 64; i++)
			for (int k = 0; k < 6; k += 2)
				BF_ENC(&st[j], c[k], c[k + 1]);
		for (int i = 0; i < 6; i++) {
			ln[j].raw[4 * i] = (unsigned char)(c[i] >> 24);
			ln[j].raw[4 * i + 1] = (unsigned char)(c[i] >> 16);
			ln[j].raw[4 * i + 2] = (unsigned char)(c[i] >> 8);
			ln[j].raw[4 * i + 3] = (unsigned char)c[i];
		}
		zeroize(c, sizeof c);
	}
	sfree(st, 2 * sizeof *st);
}

static const char bc64[] = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

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
			snprintf(w, sizeof w, "bcrypt cost %d is outside 10..16, which Dex refuses",
				 cost);
			*why = w;
		}
	}
	return *why == NULL;
}

/*
 * cost and salt of any well-shaped $2?$ hash, cost 4..16: each step of cost
 * doubles the work, and a cost above Dex's 16 (up to 31) would keep a check
 * busy for minutes to days; such a hash never matches here.
 */
static int
bcrypt_parse(const char *hash, size_t hlen, int *cost, unsigned char salt[16])
{
	if (hlen != BCRYPT_HASH_LEN || hash[0] != '$' || hash[1] != '2' || hash[3] != '$' ||
	    hash[6] != '$' || !isdigit((unsigned char)hash[4]) || !isdigit((unsigned char)hash[5]))
		return 0;
	*cost = (hash[4] - '0') * 10 + (hash[5] - '0');
	return *cost >= 4 && *cost <= BCRYPT_MAX_COST && bc64_decode_salt(salt, hash + 7);
}

/* does lane ln's result match the 31 hash characters at h? (constant time) */
static int
bf_lane_matches(const struct bf_lane *ln, const char *h)
{
	char out[32];
	bc64_encode(out, ln->raw, 23);
	unsigned diff = 0;
	for (int i = 0; i < 31; i++)
		diff |= (unsigned)(out[i] ^ h[i]);
	zeroize(out, sizeof out);
	return diff == 0;
}

/*
 * A new $2a$ hash, verified before it is returned: lane 0 makes it, lane 1
 * checks the finished string the way bcrypt_verify does (cost and salt read
 * back from it), both in one pass.
 */
static char *
bcrypt_hash(const char *pw, size_t pwlen, int cost)
{
	if (cost < 4 || cost > 31)
		fatal("bcrypt cost %d out of range", cost);
	unsigned char salt[2][16];
	rand_bytes(salt[0], sizeof salt[0]);
	char *out = xmalloc(BCRYPT_HASH_LEN + 1);
	snprintf(out, 8, "$2a$%02d$", cost);
	bc64_encode(out + 7, salt[0], 16);
	memset(out + 29, '.', 31);
	out[BCRYPT_HASH_LEN] = 0;
	int vcost;
	if (!bcrypt_parse(out, BCRYPT_HASH_LEN, &vcost, salt[1]) || vcost != cost)
		fatal("internal: the new bcrypt hash does not parse back");
	struct bf_lane ln[2];
	bf_lane_init(&ln[0], pw, pwlen, salt[0]);
	bf_lane_init(&ln[1], pw, pwlen, salt[1]);
	eksblowfish(ln, 2, cost);
	bc64_encode(out + 29, ln[0].raw, 23);
	int ok = bf_lane_matches(&ln[1], out + 29);
	zeroize(ln, sizeof ln);
	if (!ok)
		fatal("internal: the new bcrypt hash does not verify against the password");
	return out;
}

/* any well-shaped $2?$ hash (cost 4..31), constant-time compare */
static int
bcrypt_verify(const char *pw, size_t pwlen, const char *hash, size_t hlen)
{
	int cost;
	unsigned char salt[16];
	if (!bcrypt_parse(hash, hlen, &cost, salt))
		return 0;
	struct bf_lane ln;
	bf_lane_init(&ln, pw, pwlen, salt);
	eksblowfish(&ln, 1, cost);
	int ok = bf_lane_matches(&ln, hash + 29);
	zeroize(&ln, sizeof ln);
	return ok;
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
	struct buf *live; /* the string being read: freed on an error */
};

/* set while a server's reply is parsed: its "file" is then the request */
static int json_in_reply;

static void __attribute__((noreturn)) json_fail(struct jp *j, const char *what)
{
	if (j->live)
		buf_free(j->live);
	if (soft.on) {
		snprintf(soft.msg, sizeof soft.msg, "%s:%d: invalid JSON: %s", j->file, j->line,
			 what);
		longjmp(soft.jb, 1);
	}
	if (json_in_reply)
		fatal("%s: the reply is not JSON (%s at line %d of the reply)", j->file, what,
		      j->line);
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
	j->live = &b;
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
		default: buf_free(&b); json_fail(j, "bad escape");
		}
	}
	if (utf8_invalid_at((unsigned char *)b.p, b.n) >= 0) {
		buf_free(&b);
		json_fail(j, "invalid UTF-8 in string");
	}
	j->live = NULL;
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
						if (n->k[i]->len == k->len &&
						    !memcmp(n->k[i]->s, k->s, k->len))
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
				json_fail(j, n->kind == N_MAP ? "expected ',' or '}'"
							      : "expected ',' or ']'");
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
	struct jp j = {file, src, src, src + n, 1, 0, NULL};
	if (n >= 3 && !memcmp(src, "\xef\xbb\xbf", 3))
		j.p += 3; /* a BOM, as parse_stream allows (Windows tools write one) */
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
		"y",  "Y",    "yes",  "Yes",  "YES",   "n",     "N",     "no", "No",
		"NO", "true", "True", "TRUE", "false", "False", "FALSE", "on", "On",
		"ON", "off",  "Off",  "OFF",  "null",  "Null",  "NULL",
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
			buf_puts(b, "\\N"); /* NEL is a line break to YAML */
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
	struct buf *live; /* the scalar being read: freed on an error */
	int *comments;    /* set once a comment is seen (shared by look-ahead copies) */
};

static void __attribute__((noreturn)) yaml_fail(struct yp *y, const char *what)
{
	if (y->live)
		buf_free(y->live);
	if (soft.on) {
		snprintf(soft.msg, sizeof soft.msg, "%s:%d: %s", y->file, y->line, what);
		longjmp(soft.jb, 1);
	}
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
	int c = y->p < y->end && *y->p == '#' &&
		(y->p == y->ls || y->p[-1] == ' ' || y->p[-1] == '\t');
	if (c)
		*y->comments = 1;
	return c;
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
	case '@':
	case '`': yaml_fail(y, "reserved character at the start of a scalar");
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
	y->live = &b;
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
			case 't':
			case '\t': buf_putc(&b, '\t'); break;
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
			case '\r':
			case '\n':
				/* escaped line break: join without a space */
				y->p--;
				y_newline(y);
				y_spaces(y);
				break;
			default: buf_free(&b); yaml_fail(y, "bad escape in double-quoted string");
			}
			if (hex) {
				cp = 0;
				for (int i = 0; i < hex; i++) {
					char h = y->p < y->end ? *y->p : 0;
					if (!isxdigit((unsigned char)h)) {
						buf_free(&b);
						yaml_fail(y,
							  "bad hex escape in double-quoted string");
					}
					cp = cp << 4 |
					     (uint32_t)(isdigit((unsigned char)h)
								? h - '0'
								: (tolower((unsigned char)h) - 'a' +
								   10));
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
	y->live = NULL;
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

static void
y_check_utf8(struct yp *y, const struct buf *b)
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
	y->live = &b;
	for (;;) {
		const char *st = y->p;
		int comment = 0;
		while (!y_eol(y, y->p)) {
			if (*y->p == '#' && (y->p[-1] == ' ' || y->p[-1] == '\t')) {
				comment = 1;
				*y->comments = 1;
				break;
			}
			if (*y->p == ':' &&
			    (y_eol(y, y->p + 1) || y->p[1] == ' ' || y->p[1] == '\t')) {
				buf_free(&b);
				yaml_fail(y,
					  is_value ? "a mapping cannot start on the line of its key"
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
					yaml_fail(y,
						  "tab in indentation (YAML indents with spaces)");
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
	y->live = NULL;
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
	y->live = &b;
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
	y->live = NULL;
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
				yaml_fail(y, "single-pair mappings in a flow sequence are not "
					     "supported");
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
		return !y_eol(y, p) && *p == ':' &&
		       (y_eol(y, p + 1) || p[1] == ' ' || p[1] == '\t');
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
	case '|':
	case '>': return y_block(y, keycol);
	case '[':
	case '{':
		n = y_flow(y);
		y_finish_line(y);
		return n;
	case '"':
	case '\'':
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
			while (!(*y->p == ':' &&
				 (y_eol(y, y->p + 1) || y->p[1] == ' ' || y->p[1] == '\t')))
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
				if (!soft.on) /* else on the list of nodes to free */
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
			break; /* the caller decides: sibling sequence or error */
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
		y->p++; /* the '-' */
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
	int comments = 0;
	struct yp y = {file, src, src, src + n, src, 1, 0, NULL, &comments};
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
			what = q[2] == 0xa8 ? "U+2028 LINE SEPARATOR"
					    : "U+2029 PARAGRAPH SEPARATOR";
		if (what) {
			char msg[200];
			snprintf(msg, sizeof msg,
				 "%s, a line break to YAML 1.1 readers such as "
				 "kubectl (in a double-quoted string write \\N, \\L, \\P or \\r)",
				 what);
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
				yaml_fail(
					&y,
					"unexpected content after the document (bad indentation?)");
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
			out->comments |= comments;
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

/*
 * A small, strict HTTP/1.1 client for Google's APIs: one keep-alive
 * connection at a time, TLS with verification always on, CONNECT through
 * HTTPS_PROXY, plain HTTP only for the metadata server. The response parser
 * works on a byte buffer (http_parse) so a fuzzer can drive it without a
 * socket. Bodies may hold secrets (payloads, tokens): every buffer is wiped.
 */

#define HTTP_MAX_HEADER  (64u << 10) /* status line and headers (and trailers) */
#define HTTP_MAX_BODY    (1u << 20)  /* decoded body */
#define HTTP_MAX_WIRE    (HTTP_MAX_HEADER * 2 + HTTP_MAX_BODY * 2) /* chunk framing too */
#define HTTP_MAX_INTERIM 8 /* 1xx replies skipped before the real one */

struct url {
	int tls;
	char host[256];
	char port[8];
	char path[1024]; /* without a trailing '/'; "" for the root */
	int has_port;    /* the port was written out */
};

/* scheme://host[:port][/path]; no user info, query or fragment */
static const char *
url_parse(const char *s, struct url *u)
{
	memset(u, 0, sizeof *u);
	if (!strncmp(s, "https://", 8)) {
		u->tls = 1;
		s += 8;
	} else if (!strncmp(s, "http://", 7)) {
		s += 7;
	} else {
		return "must start with https:// (or http:// for the metadata server)";
	}
	size_t hl;
	const char *rest;
	if (*s == '[') {
		const char *e = strchr(s, ']');
		if (!e)
			return "unterminated [IPv6 address]";
		hl = (size_t)(e - s - 1);
		if (hl == 0 || hl >= sizeof u->host)
			return "bad host";
		memcpy(u->host, s + 1, hl);
		rest = e + 1;
	} else {
		hl = strcspn(s, ":/?#@");
		if (s[hl] == '@')
			return "user names and passwords do not belong in the URL";
		if (hl == 0 || hl >= sizeof u->host)
			return "bad host";
		memcpy(u->host, s, hl);
		rest = s + hl;
	}
	for (const char *p = u->host; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '-' || *p == '.' || *p == ':' ||
		      *p == '_'))
			return "bad character in the host";
	snprintf(u->port, sizeof u->port, "%s", u->tls ? "443" : "80");
	if (*rest == ':') {
		size_t pl = strspn(rest + 1, "0123456789");
		long port = pl && pl < 6 ? strtol(rest + 1, NULL, 10) : 0;
		if (port < 1 || port > 65535)
			return "bad port";
		snprintf(u->port, sizeof u->port, "%ld", port);
		u->has_port = 1;
		rest += 1 + pl;
	}
	if (*rest && *rest != '/')
		return "unexpected text after the host (no query or fragment allowed)";
	size_t pl = strlen(rest);
	while (pl > 0 && rest[pl - 1] == '/')
		pl--;
	if (pl >= sizeof u->path || strcspn(rest, "?# \t\r\n") < strlen(rest))
		return "bad path";
	memcpy(u->path, rest, pl);
	return NULL;
}

/* host[:port] as in a Host header or CONNECT target */
static void
url_authority(const struct url *u, char *out, size_t n, int always_port)
{
	int v6 = strchr(u->host, ':') != NULL;
	int def = !strcmp(u->port, u->tls ? "443" : "80");
	snprintf(out, n, "%s%s%s%s%s", v6 ? "[" : "", u->host, v6 ? "]" : "",
		 def && !always_port ? "" : ":", def && !always_port ? "" : u->port);
}

struct http_resp {
	int status;
	int close;        /* the server closes the connection after this reply */
	long retry_after; /* Retry-After in seconds, -1 if none */
	char ctype[64];   /* Content-Type, lowercase, without parameters */
	char *body;       /* decoded body, NUL-terminated; may hold a secret */
	size_t n;
};

static void
http_resp_free(struct http_resp *r)
{
	if (r->body)
		sfree(r->body, r->n + 1);
	memset(r, 0, sizeof *r);
	r->retry_after = -1;
}

enum { HP_MORE = 0, HP_DONE = 1, HP_BAD = -1, HP_TRUNC = -2 };

static int
http_tchar(unsigned char c)
{
	return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int
hdr_is(const char *name, size_t nl, const char *want)
{
	return strlen(want) == nl && !strncasecmp(name, want, nl);
}

/* offset just past the first CRLF at or after p (within max bytes), or 0 */
static size_t
crlf_end(const char *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++)
		if (p[i] == '\r' && p[i + 1] == '\n')
			return i + 2;
	return 0;
}

/*
 * Walk a chunked body starting at p; with out set, copy the data there.
 * Returns HP_DONE (*total decoded bytes, *end = bytes consumed), HP_MORE,
 * HP_TRUNC (eof first) or HP_BAD (*why).
 */
static int
http_chunks(const char *p, size_t n, int eof, char *out, size_t *total, size_t *end,
	    const char **why)
{
	size_t off = 0, sum = 0;
	for (;;) {
		size_t lim = n - off < 1024 ? n - off : 1024;
		size_t le = crlf_end(p + off, lim);
		if (!le) {
			if (n - off >= 1024) {
				*why = "chunk size line too long";
				return HP_BAD;
			}
			return eof ? HP_TRUNC : HP_MORE;
		}
		const char *l = p + off;
		size_t digits = 0, size = 0;
		while (digits < le - 2 && isxdigit((unsigned char)l[digits])) {
			if (digits == 8) {
				*why = "chunk size too large";
				return HP_BAD;
			}
			int c = (unsigned char)l[digits];
			size = size * 16 + (size_t)(isdigit(c) ? c - '0' : tolower(c) - 'a' + 10);
			digits++;
		}
		if (digits == 0) {
			*why = "bad chunk size";
			return HP_BAD;
		}
		for (size_t i = digits; i < le - 2; i++) {
			unsigned char c = (unsigned char)l[i];
			if ((i == digits && c != ';' && c != ' ' && c != '\t') || c < 0x20 ||
			    c == 0x7f) {
				*why = "bad chunk extension";
				return HP_BAD;
			}
		}
		off += le;
		if (size == 0)
			break;
		if (size > HTTP_MAX_BODY || sum + size > HTTP_MAX_BODY) {
			*why = "body larger than 1 MiB";
			return HP_BAD;
		}
		if (n - off < size + 2)
			return eof ? HP_TRUNC : HP_MORE;
		if (p[off + size] != '\r' || p[off + size + 1] != '\n') {
			*why = "chunk data not followed by CRLF";
			return HP_BAD;
		}
		if (out)
			memcpy(out + sum, p + off, size);
		sum += size;
		off += size + 2;
	}
	/* trailer fields, then an empty line */
	size_t tstart = off;
	for (;;) {
		size_t le = crlf_end(p + off, n - off);
		if (!le) {
			if (n - tstart > HTTP_MAX_HEADER) {
				*why = "trailers larger than 64 KiB";
				return HP_BAD;
			}
			return eof ? HP_TRUNC : HP_MORE;
		}
		for (size_t i = 0; i < le - 2; i++) {
			unsigned char c = (unsigned char)p[off + i];
			if ((c < 0x20 && c != '\t') || c == 0x7f) {
				*why = "control character in a trailer";
				return HP_BAD;
			}
		}
		off += le;
		if (le == 2)
			break;
		if (off - tstart > HTTP_MAX_HEADER) {
			*why = "trailers larger than 64 KiB";
			return HP_BAD;
		}
	}
	*total = sum;
	*end = off;
	return HP_DONE;
}

/*
 * Parse one HTTP/1.x response from buf[0..n). eof: the peer closed the
 * connection after these bytes. connect: a reply to CONNECT (2xx has no
 * body). Interim 1xx replies are skipped. Returns HP_DONE (r filled,
 * *used = bytes consumed), HP_MORE (read more), HP_TRUNC (eof before the
 * end) or HP_BAD (*why says what is wrong). Never reads past buf[n-1].
 */
static int
http_parse(const char *buf, size_t n, int eof, int connect, struct http_resp *r, size_t *used,
	   const char **why)
{
	size_t base = 0;
	memset(r, 0, sizeof *r);
	r->retry_after = -1;
	*why = NULL;
	for (int interim = 0;; interim++) {
		const char *p = buf + base;
		size_t avail = n - base, hend = 0;
		size_t lim = avail < HTTP_MAX_HEADER ? avail : HTTP_MAX_HEADER;
		for (size_t i = 0; i + 3 < lim; i++)
			if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' &&
			    p[i + 3] == '\n') {
				hend = i + 4;
				break;
			}
		if (!hend) {
			if (avail >= HTTP_MAX_HEADER) {
				*why = "response headers larger than 64 KiB";
				return HP_BAD;
			}
			return eof ? HP_TRUNC : HP_MORE;
		}
		/* status line: HTTP/1.x SP 3DIGIT [SP reason] */
		size_t le = crlf_end(p, hend);
		if (le < 14 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') ||
		    p[8] != ' ' || !isdigit((unsigned char)p[9]) ||
		    !isdigit((unsigned char)p[10]) || !isdigit((unsigned char)p[11]) ||
		    (p[12] != ' ' && p[12] != '\r')) {
			*why = "not an HTTP/1.x status line";
			return HP_BAD;
		}
		for (size_t i = 12; i < le - 2; i++) {
			unsigned char c = (unsigned char)p[i];
			if ((c < 0x20 && c != '\t') || c == 0x7f) {
				*why = "control character in the status line";
				return HP_BAD;
			}
		}
		int http10 = p[7] == '0';
		r->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
		if (r->status < 100) {
			*why = "bad status code";
			return HP_BAD;
		}
		long clen = -1;
		int chunked = 0, keepalive = 0;
		r->close = http10;
		r->retry_after = -1;
		r->ctype[0] = 0;
		size_t off = le;
		while (off < hend - 2) {
			const char *l = p + off;
			size_t ll = crlf_end(l, hend - off) - 2;
			if (l[0] == ' ' || l[0] == '\t') {
				*why = "folded header line";
				return HP_BAD;
			}
			size_t nl = 0;
			while (nl < ll && http_tchar((unsigned char)l[nl]))
				nl++;
			if (nl == 0 || nl >= ll || l[nl] != ':') {
				*why = "malformed header line";
				return HP_BAD;
			}
			const char *v = l + nl + 1, *ve = l + ll;
			for (const char *q = v; q < ve; q++)
				if (((unsigned char)*q < 0x20 && *q != '\t') || *q == 0x7f) {
					*why = "control character in a header value";
					return HP_BAD;
				}
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			size_t vl = (size_t)(ve - v);
			if (hdr_is(l, nl, "Content-Length")) {
				if (vl == 0 || vl > 10 || strspn(v, "0123456789") < vl) {
					*why = "bad Content-Length";
					return HP_BAD;
				}
				long x = 0;
				for (size_t i = 0; i < vl; i++)
					x = x * 10 + (v[i] - '0');
				if (clen >= 0 && clen != x) {
					*why = "conflicting Content-Length headers";
					return HP_BAD;
				}
				clen = x;
			} else if (hdr_is(l, nl, "Transfer-Encoding")) {
				if (vl != 7 || strncasecmp(v, "chunked", 7) != 0 || chunked) {
					*why = "unsupported Transfer-Encoding (only chunked)";
					return HP_BAD;
				}
				chunked = 1;
			} else if (hdr_is(l, nl, "Connection")) {
				const char *q = v;
				while (q < ve) {
					size_t tl = 0;
					while (q + tl < ve && q[tl] != ',')
						tl++;
					size_t a = 0, b = tl;
					while (a < b && (q[a] == ' ' || q[a] == '\t'))
						a++;
					while (b > a && (q[b - 1] == ' ' || q[b - 1] == '\t'))
						b--;
					if (b - a == 5 && !strncasecmp(q + a, "close", 5))
						r->close = 1;
					if (b - a == 10 && !strncasecmp(q + a, "keep-alive", 10))
						keepalive = 1;
					q += tl + (q + tl < ve);
				}
			} else if (hdr_is(l, nl, "Retry-After")) {
				if (vl > 0 && vl <= 6 && strspn(v, "0123456789") >= vl) {
					long x = 0;
					for (size_t i = 0; i < vl; i++)
						x = x * 10 + (v[i] - '0');
					r->retry_after = x;
				}
			} else if (hdr_is(l, nl, "Content-Type")) {
				size_t i = 0;
				while (i < vl && i + 1 < sizeof r->ctype && v[i] != ';' &&
				       v[i] != ' ') {
					r->ctype[i] = (char)tolower((unsigned char)v[i]);
					i++;
				}
				r->ctype[i] = 0;
			}
			off += ll + 2;
		}
		if (http10 && keepalive)
			r->close = 0;
		if (r->status < 200) {
			if (r->status == 101 || interim >= HTTP_MAX_INTERIM) {
				*why = r->status == 101 ? "unexpected protocol switch"
							: "too many interim replies";
				return HP_BAD;
			}
			base += hend;
			continue;
		}
		if (chunked && clen >= 0) {
			*why = "both Content-Length and Transfer-Encoding";
			return HP_BAD;
		}
		const char *b = p + hend;
		size_t bn = avail - hend, total = 0, bend = 0;
		if ((connect && r->status < 300) || r->status == 204 || r->status == 304) {
			chunked = 0; /* no body, whatever the headers say */
		} else if (chunked) {
			int rc = http_chunks(b, bn, eof, NULL, &total, &bend, why);
			if (rc != HP_DONE)
				return rc;
		} else if (clen >= 0) {
			if (clen > (long)HTTP_MAX_BODY) {
				*why = "body larger than 1 MiB";
				return HP_BAD;
			}
			if (bn < (size_t)clen)
				return eof ? HP_TRUNC : HP_MORE;
			total = bend = (size_t)clen;
		} else {
			/* no length: the body ends when the server closes */
			if (bn > HTTP_MAX_BODY) {
				*why = "body larger than 1 MiB";
				return HP_BAD;
			}
			if (!eof)
				return HP_MORE;
			total = bend = bn;
			r->close = 1;
		}
		r->body = xmalloc(total + 1);
		if (chunked) {
			size_t t2, e2;
			http_chunks(b, bn, eof, r->body, &t2, &e2, why);
		} else if (total) {
			memcpy(r->body, b, total);
		}
		r->body[total] = 0;
		r->n = total;
		*used = base + hend + bend;
		return HP_DONE;
	}
}

/* ---- connections ------------------------------------------------------- */

enum { HE_OK = 0, HE_CONNECT, HE_IO, HE_PROTO };

struct http {
	int timeout_ms;
	const char *ca_file; /* --ca-file */
	int tls_ready;
	mbedtls_ssl_config conf;
	mbedtls_x509_crt ca;
	char ca_source[PATH_MAX + 64]; /* where the trusted CAs came from, for messages */
	/* the one connection */
	int fd; /* -1: none */
	int tls, ssl_ready, reused;
	int timed_out;     /* the last request was sent whole, no reply in time */
	int stale;         /* the last request went out on a kept-alive connection the
			    * server had already dropped: not a byte came back */
	struct url origin; /* what fd talks to (through a proxy or not) */
	mbedtls_net_context net;
	mbedtls_ssl_context ssl;
	unsigned long requests, connects;
};

static int psa_ready;

static void
http_init(struct http *h, int timeout_s, const char *ca_file)
{
	memset(h, 0, sizeof *h);
	h->timeout_ms = timeout_s * 1000;
	h->ca_file = ca_file;
	h->fd = -1;
}

static void
http_close(struct http *h)
{
	if (h->ssl_ready) {
		if (h->fd >= 0)
			mbedtls_ssl_close_notify(&h->ssl);
		mbedtls_ssl_free(&h->ssl);
		h->ssl_ready = 0;
	}
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
	h->tls = 0;
	h->reused = 0;
}

static void
http_free(struct http *h)
{
	http_close(h);
	if (h->tls_ready) {
		mbedtls_ssl_config_free(&h->conf);
		mbedtls_x509_crt_free(&h->ca);
		h->tls_ready = 0;
	}
}

static int
ca_count(const mbedtls_x509_crt *c)
{
	int n = 0;
	for (; c && c->raw.len; c = c->next)
		n++;
	return n;
}

/* load one CA source; 1 if it gave at least one certificate */
static int
ca_load(struct http *h, const char *path, int dir, const char *label, int must)
{
	int before = ca_count(&h->ca);
	int r = dir ? mbedtls_x509_crt_parse_path(&h->ca, path)
		    : mbedtls_x509_crt_parse_file(&h->ca, path);
	int got = ca_count(&h->ca) - before;
	if (got > 0) {
		size_t l = strlen(h->ca_source);
		snprintf(h->ca_source + l, sizeof h->ca_source - l, "%s%s (%d certificate%s)",
			 l ? ", " : "", label, got, got == 1 ? "" : "s");
		return 1;
	}
	if (must) {
		char e[128] = "no usable certificate in it";
		if (r < 0)
			mbedtls_strerror(r, e, sizeof e);
		fatal("can't load trusted CA certificates from %s: %s", label, e);
	}
	return 0;
}

/*
 * Trusted CAs: --ca-file; else CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE (gcloud's
 * own setting); else SSL_CERT_FILE and/or SSL_CERT_DIR; else the first
 * system bundle that exists. A source the user named must load.
 */
static void
http_tls_setup(struct http *h)
{
	if (h->tls_ready)
		return;
	if (!psa_ready) {
		if (psa_crypto_init() != PSA_SUCCESS)
			fatal("can't initialise PSA crypto for TLS");
		psa_ready = 1;
	}
	rng_init();
	mbedtls_x509_crt_init(&h->ca);
	mbedtls_ssl_config_init(&h->conf);
	h->tls_ready = 1;
	char label[PATH_MAX + 48];
	const char *gc = getenv("CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE");
	const char *sf = getenv("SSL_CERT_FILE"), *sd = getenv("SSL_CERT_DIR");
	if (h->ca_file) {
		snprintf(label, sizeof label, "--ca-file %s", h->ca_file);
		ca_load(h, h->ca_file, 0, label, 1);
	} else if (gc && *gc) {
		snprintf(label, sizeof label, "CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE=%s", gc);
		ca_load(h, gc, 0, label, 1);
	} else if ((sf && *sf) || (sd && *sd)) {
		int any = 0;
		if (sf && *sf) {
			snprintf(label, sizeof label, "SSL_CERT_FILE=%s", sf);
			any |= ca_load(h, sf, 0, label, !(sd && *sd));
		}
		if (sd && *sd) {
			char tmp[PATH_MAX];
			snprintf(tmp, sizeof tmp, "%s", sd);
			for (char *s = strtok(tmp, ":"); s; s = strtok(NULL, ":")) {
				snprintf(label, sizeof label, "SSL_CERT_DIR=%s", s);
				any |= ca_load(h, s, 1, label, 0);
			}
		}
		if (!any)
			fatal("can't load trusted CA certificates from SSL_CERT_FILE/SSL_CERT_DIR");
	} else {
		static const char *const bundles[] = {
			"/etc/ssl/certs/ca-certificates.crt", /* Debian, Ubuntu, Alpine, Arch */
			"/etc/pki/tls/certs/ca-bundle.crt",   /* Fedora, RHEL */
			"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
			"/etc/ssl/ca-bundle.pem", /* openSUSE */
			"/etc/ssl/cert.pem",      /* Alpine, BSD, macOS */
			"/etc/pki/tls/cacert.pem",
		};
		int any = 0;
		for (size_t i = 0; i < sizeof bundles / sizeof bundles[0] && !any; i++)
			if (access(bundles[i], R_OK) == 0)
				any = ca_load(h, bundles[i], 0, bundles[i], 0);
		if (!any && access("/etc/ssl/certs", R_OK) == 0)
			any = ca_load(h, "/etc/ssl/certs", 1, "/etc/ssl/certs", 0);
		if (!any)
			fatal("no trusted CA certificates found (looked at the usual bundles and "
			      "/etc/ssl/certs): pass --ca-file, or set SSL_CERT_FILE or "
			      "SSL_CERT_DIR");
	}
	int r = mbedtls_ssl_config_defaults(&h->conf, MBEDTLS_SSL_IS_CLIENT,
					    MBEDTLS_SSL_TRANSPORT_STREAM,
					    MBEDTLS_SSL_PRESET_DEFAULT);
	if (r != 0)
		fatal("TLS configuration failed (-0x%04x)", (unsigned)-r);
	mbedtls_ssl_conf_authmode(&h->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	mbedtls_ssl_conf_ca_chain(&h->conf, &h->ca, NULL);
	mbedtls_ssl_conf_rng(&h->conf, mbedtls_ctr_drbg_random, &drbg);
	mbedtls_ssl_conf_read_timeout(&h->conf, (uint32_t)h->timeout_ms);
	mbedtls_ssl_conf_min_tls_version(&h->conf, MBEDTLS_SSL_VERSION_TLS1_2);
}

/* TCP connect with a timeout; fd or -1 with err set */
static int
tcp_connect(const char *host, const char *port, int timeout_ms, char *err, size_t errn)
{
	struct addrinfo hints = {0}, *res = NULL;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	int g = getaddrinfo(host, port, &hints, &res);
	if (g != 0) {
		snprintf(err, errn, "can't resolve %s: %s", host, gai_strerror(g));
		return -1;
	}
	int fd = -1, e = 0;
	for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    a->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
			e = errno;
			if (e == EINPROGRESS) {
				struct pollfd pf = {fd, POLLOUT, 0};
				int pr;
				do
					pr = poll(&pf, 1, timeout_ms);
				while (pr < 0 && errno == EINTR);
				socklen_t sl = sizeof e;
				if (pr == 0)
					e = ETIMEDOUT;
				else if (pr < 0 ||
					 getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl) != 0)
					e = errno;
			}
			if (e != 0) {
				close(fd);
				fd = -1;
			}
		}
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, errn, "can't connect to %s port %s: %s", host, port,
			 e == ETIMEDOUT ? "timed out (see --timeout)" : strerror(e));
		return -1;
	}
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

/* raw I/O on the current connection: > 0 bytes, 0 eof, -1 error, -2 timeout */
static long
conn_read(struct http *h, char *p, size_t n)
{
	if (h->tls) {
		for (;;) {
			int r = mbedtls_ssl_read(&h->ssl, (unsigned char *)p, n);
			if (r > 0)
				return r;
			if (r == 0 || r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
				return 0;
			if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
				continue;
			return r == MBEDTLS_ERR_SSL_TIMEOUT ? -2 : -1;
		}
	}
	struct pollfd pf = {h->fd, POLLIN, 0};
	int pr;
	do
		pr = poll(&pf, 1, h->timeout_ms);
	while (pr < 0 && errno == EINTR);
	if (pr == 0)
		return -2;
	ssize_t r;
	do
		r = read(h->fd, p, n);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -1 : (long)r;
}

static int
conn_write(struct http *h, const char *p, size_t n)
{
	while (n > 0) {
		long w;
		if (h->tls) {
			int r = mbedtls_ssl_write(&h->ssl, (const unsigned char *)p, n);
			if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
				continue;
			w = r;
		} else {
			ssize_t r;
			do
				r = write(h->fd, p, n);
			while (r < 0 && errno == EINTR);
			w = (long)r;
		}
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Is a kept-alive connection still usable? Nothing may arrive unasked on
 * HTTP/1.1; a readable socket means the server closed it, except for TLS
 * post-handshake messages (TLS 1.3 tickets), which a short read consumes.
 */
static int
conn_alive(struct http *h)
{
	struct pollfd pf = {h->fd, POLLIN, 0};
	if (poll(&pf, 1, 0) == 0)
		return 1;
	if (!h->tls)
		return 0;
	unsigned char c;
	mbedtls_ssl_conf_read_timeout(&h->conf, 1);
	int r = mbedtls_ssl_read(&h->ssl, &c, 1);
	mbedtls_ssl_conf_read_timeout(&h->conf, (uint32_t)h->timeout_ms);
	return r == MBEDTLS_ERR_SSL_TIMEOUT || r == MBEDTLS_ERR_SSL_WANT_READ;
}

/* NO_PROXY / no_proxy: "*", host names (a leading dot or not: suffix match), IPs */
static int
no_proxy_match(const char *host)
{
	const char *np = getenv("NO_PROXY");
	if (!np || !*np)
		np = getenv("no_proxy");
	if (!np || !*np)
		return 0;
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s", np);
	size_t hl = strlen(host);
	for (char *s = strtok(tmp, ", \t"); s; s = strtok(NULL, ", \t")) {
		if (!strcmp(s, "*"))
			return 1;
		if (s[0] == '*' && s[1] == '.')
			s++;
		if (s[0] == '.')
			s++;
		char *colon = strrchr(s, ':');
		if (colon && !strchr(s, ']') && strchr(s, ':') == colon)
			*colon = 0; /* host:port -> host */
		if (s[0] == '[') {
			s++;
			char *e = strchr(s, ']');
			if (e)
				*e = 0;
		}
		size_t sl = strlen(s);
		if (!sl)
			continue;
		if (!strcasecmp(s, host))
			return 1;
		if (hl > sl && host[hl - sl - 1] == '.' && !strcasecmp(host + hl - sl, s))
			return 1;
	}
	return 0;
}

static void
pct_decode(char *s)
{
	char *o = s;
	for (; *s; s++) {
		if (s[0] == '%' && isxdigit((unsigned char)s[1]) && isxdigit((unsigned char)s[2])) {
			char hx[3] = {s[1], s[2], 0};
			*o++ = (char)strtol(hx, NULL, 16);
			s += 2;
		} else {
			*o++ = *s;
		}
	}
	*o = 0;
}

/*
 * The proxy for an https origin, if any: HTTPS_PROXY or https_proxy,
 * http://[user:pass@]host[:port] (default port 1080, as curl). *auth gets
 * a Basic credential (wiped by the caller) when the URL has user info.
 */
static int
proxy_for(const struct url *u, struct url *px, char **auth)
{
	*auth = NULL;
	if (!u->tls)
		return 0;
	const char *e = getenv("HTTPS_PROXY");
	const char *name = "HTTPS_PROXY";
	if (!e || !*e) {
		e = getenv("https_proxy");
		name = "https_proxy";
	}
	if (!e || !*e || no_proxy_match(u->host))
		return 0;
	char tmp[2048];
	if ((size_t)snprintf(tmp, sizeof tmp, "%s%s", strstr(e, "://") ? "" : "http://", e) >=
	    sizeof tmp)
		fatal("%s is too long", name);
	if (!strncmp(tmp, "https://", 8))
		fatal("%s: only http:// proxies are supported (TLS to the proxy is not)", name);
	char *at = strchr(tmp + 7, '@'), *slash = strchr(tmp + 7, '/');
	if (at && (!slash || at < slash)) {
		*at = 0;
		char *cred = xstrdup(tmp + 7);
		pct_decode(cred);
		char *b = b64_encode((unsigned char *)cred, strlen(cred));
		sfree_str(cred);
		size_t bl = strlen(b) + 8;
		*auth = xmalloc(bl);
		snprintf(*auth, bl, "Basic %s", b);
		sfree_str(b);
		memmove(tmp + 7, at + 1, strlen(at + 1) + 1);
	}
	const char *why = url_parse(tmp, px);
	zeroize(tmp, sizeof tmp);
	if (why) {
		sfree_str(*auth);
		*auth = NULL;
		fatal("%s: not a proxy URL: %s", name, why);
	}
	if (!px->has_port)
		snprintf(px->port, sizeof px->port, "1080");
	return 1;
}

/* open a connection to u (through the proxy for https if one is set) */
static int
http_connect(struct http *h, const struct url *u, char *err, size_t errn)
{
	struct url px;
	char *pauth = NULL;
	int proxied = proxy_for(u, &px, &pauth);
	const struct url *dial = proxied ? &px : u;
	int tmo = h->timeout_ms;
	h->fd = tcp_connect(dial->host, dial->port, tmo, err, errn);
	if (h->fd < 0) {
		sfree_str(pauth);
		if (proxied) {
			size_t l = strlen(err);
			snprintf(err + l, errn - l, " (the proxy from HTTPS_PROXY)");
		}
		return HE_CONNECT;
	}
	h->connects++;
	h->origin = *u;
	h->tls = 0;
	if (proxied) {
		char auth[300];
		url_authority(u, auth, sizeof auth, 1);
		struct buf q = {0};
		buf_printf(&q, "CONNECT %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: seedsec/%s\r\n",
			   auth, auth, SEEDSEC_VERSION);
		if (pauth)
			buf_printf(&q, "Proxy-Authorization: %s\r\n", pauth);
		buf_puts(&q, "\r\n");
		sfree_str(pauth);
		int w = conn_write(h, q.p, q.n);
		buf_free(&q);
		struct buf in = {0};
		struct http_resp r;
		int rc = HP_MORE, eof = 0;
		size_t used = 0;
		const char *why = "closed";
		while (w == 0) {
			rc = in.n ? http_parse(in.p, in.n, eof, 1, &r, &used, &why)
				  : (eof ? HP_TRUNC : HP_MORE);
			if (rc != HP_MORE)
				break;
			buf_grow(&in, 4096);
			long g = conn_read(h, in.p + in.n, 4096);
			if (g < 0) {
				why = g == -2 ? "timed out" : "connection reset";
				rc = HP_TRUNC;
				break;
			}
			if (g == 0)
				eof = 1;
			in.n += (size_t)(g > 0 ? g : 0);
		}
		buf_free(&in);
		if (w != 0 || rc != HP_DONE) {
			snprintf(err, errn, "proxy %.64s:%s: CONNECT %.100s failed: %s", px.host,
				 px.port, auth, w ? "can't send" : why);
			http_close(h);
			return rc == HP_BAD ? HE_PROTO : HE_CONNECT;
		}
		int st = r.status;
		http_resp_free(&r);
		if (st < 200 || st > 299) {
			http_close(h);
			fatal("proxy %s:%s (HTTPS_PROXY) refused CONNECT %s: HTTP %d%s", px.host,
			      px.port, auth, st,
			      st == 407 ? " (proxy authentication required: put user:password "
					  "in the proxy URL)"
					: "");
		}
	}
	if (!u->tls)
		return HE_OK;
	http_tls_setup(h);
	mbedtls_ssl_init(&h->ssl);
	h->ssl_ready = 1;
	int r = mbedtls_ssl_setup(&h->ssl, &h->conf);
	if (r == 0)
		r = mbedtls_ssl_set_hostname(&h->ssl, u->host);
	if (r != 0)
		fatal("TLS setup failed (-0x%04x)", (unsigned)-r);
	h->net.fd = h->fd;
	mbedtls_ssl_set_bio(&h->ssl, &h->net, mbedtls_net_send, NULL, mbedtls_net_recv_timeout);
	h->tls = 1;
	while ((r = mbedtls_ssl_handshake(&h->ssl)) != 0) {
		if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
			continue;
		uint32_t flags = mbedtls_ssl_get_verify_result(&h->ssl);
		char auth[300];
		url_authority(u, auth, sizeof auth, 1);
		if (r == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED ||
		    (flags != 0 && flags != (uint32_t)-1)) {
			char info[512];
			mbedtls_x509_crt_verify_info(info, sizeof info, "", flags);
			for (char *p = info; *p; p++)
				if (*p == '\n')
					*p = *(p + 1) ? ';' : 0;
			http_close(h);
			fatal("TLS: refusing %s: its certificate does not verify: %s (trusted CAs "
			      "from %s); %s",
			      auth, info, h->ca_source,
			      flags & MBEDTLS_X509_BADCERT_CN_MISMATCH
				      ? "the certificate is for another host name: check the "
					"endpoint URL "
					"(or what intercepts the connection)"
				      : "pass --ca-file with the CA that signed the server's "
					"certificate");
		}
		char e[160];
		mbedtls_strerror(r, e, sizeof e);
		snprintf(err, errn, "TLS handshake with %s failed: %s", auth, e);
		http_close(h);
		return r == MBEDTLS_ERR_SSL_TIMEOUT || r == MBEDTLS_ERR_NET_RECV_FAILED ||
				       r == MBEDTLS_ERR_NET_CONN_RESET ||
				       r == MBEDTLS_ERR_NET_SEND_FAILED
			       ? HE_CONNECT
			       : HE_PROTO;
	}
	return HE_OK;
}

/*
 * One request and its response over the kept-alive connection (opened or
 * reopened as needed). headers: extra "Name: value" lines, NULL-terminated.
 * HE_CONNECT: never sent (safe to retry); HE_IO: sent, then reset, timed
 * out or cut short (the server may have acted on it); HE_PROTO: a reply
 * that is not HTTP. err gets the reason; it never holds the request.
 */
static int
http_request(struct http *h, const char *method, const struct url *u, const char *target,
	     const char *const *headers, const char *body, size_t bodyn, struct http_resp *r,
	     char *err, size_t errn)
{
	memset(r, 0, sizeof *r);
	r->retry_after = -1;
	h->timed_out = 0;
	h->stale = 0;
	if (h->fd >= 0 && (strcmp(h->origin.host, u->host) || strcmp(h->origin.port, u->port) ||
			   h->origin.tls != u->tls || !conn_alive(h)))
		http_close(h);
	for (int attempt = 0;; attempt++) {
		if (h->fd < 0) {
			int rc = http_connect(h, u, err, errn);
			if (rc != HE_OK)
				return rc;
		}
		int reused = h->reused;
		char auth[300];
		url_authority(u, auth, sizeof auth, 0);
		struct buf q = {0};
		buf_printf(&q, "%s %s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: seedsec/%s\r\n", method,
			   *target == '/' ? "" : "/", target, auth, SEEDSEC_VERSION);
		for (size_t i = 0; headers && headers[i]; i++)
			buf_printf(&q, "%s\r\n", headers[i]);
		if (body || !strcmp(method, "POST"))
			buf_printf(&q, "Content-Length: %zu\r\n", bodyn);
		buf_puts(&q, "\r\n");
		if (bodyn)
			buf_add(&q, body, bodyn);
		h->requests++;
		h->reused = 1;
		int w = conn_write(h, q.p, q.n);
		buf_free(&q);
		struct buf in = {0};
		int eof = 0, rc = HP_MORE;
		size_t used = 0;
		const char *why = NULL;
		long got = 0;
		if (w == 0) {
			for (;;) {
				if (in.n || eof) {
					rc = in.n ? http_parse(in.p, in.n, eof, 0, r, &used, &why)
						  : HP_TRUNC;
					if (rc != HP_MORE)
						break;
				}
				if (in.n >= HTTP_MAX_WIRE) {
					rc = HP_BAD;
					why = "response too large";
					break;
				}
				buf_grow(&in, 16384);
				got = conn_read(h, in.p + in.n, 16384);
				if (got < 0) {
					rc = HP_TRUNC;
					break;
				}
				if (got == 0)
					eof = 1;
				in.n += (size_t)got;
			}
		}
		size_t received = in.n;
		int leftover = rc == HP_DONE && used < in.n;
		buf_free(&in);
		if (rc == HP_DONE && !leftover) {
			if (r->close || eof)
				http_close(h);
			return HE_OK;
		}
		if (rc == HP_DONE)
			http_resp_free(r);
		http_close(h);
		char a2[300];
		url_authority(u, a2, sizeof a2, 1);
		/* a kept-alive GET the server dropped before answering: once more (a POST
		 * may have been acted on: the caller decides) */
		if (reused && received == 0 && attempt == 0 && got != -2 && !strcmp(method, "GET"))
			continue;
		if (leftover || rc == HP_BAD) {
			snprintf(err, errn, "%s %s: malformed HTTP response: %s", method, a2,
				 leftover ? "data after the response" : why);
			return HE_PROTO;
		}
		h->timed_out = w == 0 && got == -2;
		h->stale = reused && received == 0 && attempt == 0 && !h->timed_out;
		snprintf(err, errn, "%s %s: %s", method, a2,
			 w != 0      ? "connection lost while sending"
			 : got == -2 ? "no response in time (see --timeout)"
			 : received  ? "connection closed in the middle of the response"
				     : "connection closed or reset without a response");
		return HE_IO;
	}
}

/* capped exponential backoff with jitter: 250 ms, 500 ms, ... 8 s (or Retry-After, <= 30 s) */
static void
backoff_sleep(int attempt, long retry_after)
{
	long ms = 250L << (attempt < 5 ? attempt : 5);
	if (ms > 8000)
		ms = 8000;
	unsigned char j[2];
	rand_bytes(j, sizeof j);
	ms = ms / 2 + (long)((ms / 2) * ((unsigned)j[0] << 8 | j[1]) / 65535);
	if (retry_after >= 0)
		ms = (retry_after > 30 ? 30 : retry_after) * 1000 + ms / 4;
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* a reply's JSON body as a tree, or NULL if it is not JSON */
static struct node *
reply_json(const struct http_resp *r, const char *what)
{
	size_t i = 0;
	while (i < r->n && isspace((unsigned char)r->body[i]))
		i++;
	if (i == r->n || (r->body[i] != '{' && r->body[i] != '['))
		return NULL;
	struct docs ds = {0};
	json_in_reply = 1;
	json_parse(r->body, r->n, what, &ds);
	json_in_reply = 0;
	struct node *root = NULL;
	if (ds.n == 1) {
		root = ds.d[0].root;
		ds.d[0].root = NULL;
	}
	docs_free(&ds);
	return root;
}

/* what a failed reply says, for a message: never request data */
static void
reply_reason(const struct http_resp *r, char *out, size_t n)
{
	struct node *j = reply_json(r, "an error reply");
	const struct node *e = map_get(j, "error");
	const char *msg = NULL, *st = NULL;
	if (e && e->kind == N_MAP) {
		msg = map_str(e, "message");
		st = map_str(e, "status");
	} else if (e && e->kind == N_SCALAR) {
		st = e->s; /* OAuth: {"error": "invalid_grant", "error_description": ...} */
		msg = map_str(j, "error_description");
	}
	if (msg || st) {
		snprintf(out, n, "HTTP %d%s%s%s%.300s", r->status, st ? " " : "", st ? st : "",
			 msg ? ": " : "", msg ? msg : "");
	} else if (strstr(r->ctype, "html")) {
		snprintf(out, n, "HTTP %d with an HTML page (wrong endpoint URL or path?)",
			 r->status);
	} else {
		snprintf(out, n, "HTTP %d", r->status);
	}
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	node_free(j);
}

/* ===================================================================== */
/* Google auth                                                            */
/* ===================================================================== */

/*
 * An OAuth access token, from the first source that applies: a token file
 * (--token-file, CLOUDSDK_AUTH_ACCESS_TOKEN_FILE); a credentials file
 * (--credentials, GOOGLE_APPLICATION_CREDENTIALS): a service_account key
 * (an RS256 JWT exchanged at its token_uri) or an authorized_user (refresh
 * token grant); gcloud's application-default credentials file, the same
 * two types, when it exists; else the metadata server (GCE_METADATA_HOST
 * overrides the host). Tokens, keys and refresh tokens are secrets: wiped after use,
 * never printed.
 */

#define GOOGLE_TOKEN_URI     "https://oauth2.googleapis.com/token"
#define CLOUD_PLATFORM_SCOPE "https://www.googleapis.com/auth/cloud-platform"
#define METADATA_HOST        "metadata.google.internal"
#define JWT_BEARER           "urn:ietf:params:oauth:grant-type:jwt-bearer"

enum auth_kind { AUTH_FILE, AUTH_SERVICE_ACCOUNT, AUTH_USER, AUTH_METADATA };

struct auth {
	enum auth_kind kind;
	char source[PATH_MAX + 128]; /* for messages: where the token comes from */
	char *path;                  /* token file */
	char *token;                 /* the access token (secret) */
	struct url token_url;        /* service account, authorized user */
	char *token_uri;             /* as written: the JWT's audience */
	char *email, *key_id;        /* service account */
	mbedtls_pk_context pk;
	int pk_ready;
	char *client_id, *client_secret, *refresh; /* authorized user (secret, refresh) */
	struct url md;                             /* metadata server */
	unsigned long fetches;
};

static void
auth_free(struct auth *a)
{
	sfree_str(a->token);
	free(a->path);
	free(a->token_uri);
	free(a->email);
	free(a->key_id);
	free(a->client_id);
	sfree_str(a->client_secret);
	sfree_str(a->refresh);
	if (a->pk_ready)
		mbedtls_pk_free(&a->pk);
	memset(a, 0, sizeof *a);
}

/* a token as Google issues it: printable ASCII, no spaces, bounded */
static int
token_ok(const char *t, size_t n)
{
	if (n == 0 || n > 4096)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (t[i] <= 0x20 || t[i] >= 0x7f)
			return 0;
	return 1;
}

static const char *
cred_str(const struct node *j, const char *key, const char *path, int need)
{
	const struct node *v = map_get(j, key);
	if (v && (v->kind != N_SCALAR || !v->quoted))
		fatal("credentials file %s: \"%s\" is not a string", path, key);
	if (need && (!v || !v->len))
		fatal("credentials file %s: no \"%s\"", path, key);
	return v ? v->s : NULL;
}

static void
auth_token_uri(struct auth *a, const char *uri, const char *path)
{
	a->token_uri = xstrdup(uri && *uri ? uri : GOOGLE_TOKEN_URI);
	const char *why = url_parse(a->token_uri, &a->token_url);
	if (!why && !a->token_url.tls)
		why = "must be https://";
	if (why)
		fatal("credentials file %s: token_uri: %s", path, why);
}

/*
 * Where `gcloud auth application-default login` leaves its credentials, as
 * Google's client libraries look for them: $CLOUDSDK_CONFIG, else
 * ~/.config/gcloud. 0 when there is no such place.
 */
static int
adc_path(char *out, size_t n)
{
	const char *dir = getenv("CLOUDSDK_CONFIG");
	const char *home = getenv("HOME");
	int w;
	if (dir && *dir)
		w = snprintf(out, n, "%s/application_default_credentials.json", dir);
	else if (home && *home)
		w = snprintf(out, n, "%s/.config/gcloud/application_default_credentials.json",
			     home);
	else
		return 0;
	return w > 0 && (size_t)w < n;
}

static void
auth_setup(struct auth *a, const char *token_file, const char *credentials)
{
	memset(a, 0, sizeof *a);
	const char *tf = token_file, *tsrc = "--token-file";
	if (!tf || !*tf) {
		tf = getenv("CLOUDSDK_AUTH_ACCESS_TOKEN_FILE");
		tsrc = "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE";
	}
	if (tf && *tf) {
		a->kind = AUTH_FILE;
		a->path = xstrdup(tf);
		snprintf(a->source, sizeof a->source, "the token file %s (%s)", tf, tsrc);
		return;
	}
	const char *cf = credentials, *csrc = "--credentials";
	if (!cf || !*cf) {
		cf = getenv("GOOGLE_APPLICATION_CREDENTIALS");
		csrc = "GOOGLE_APPLICATION_CREDENTIALS";
	}
	char adc[PATH_MAX];
	if ((!cf || !*cf) && adc_path(adc, sizeof adc) && access(adc, F_OK) == 0) {
		cf = adc;
		csrc = "gcloud's application-default credentials";
	}
	if (cf && *cf) {
		size_t n;
		char *src = read_file(cf, &n, "credentials file");
		struct docs ds = {0};
		json_parse(src, n, cf, &ds);
		sfree(src, n);
		struct node *j = ds.n == 1 ? ds.d[0].root : NULL;
		if (!j || j->kind != N_MAP)
			fatal("credentials file %s: expected one JSON object", cf);
		const char *type = cred_str(j, "type", cf, 1);
		if (!strcmp(type, "service_account")) {
			a->kind = AUTH_SERVICE_ACCOUNT;
			a->email = xstrdup(cred_str(j, "client_email", cf, 1));
			const char *kid = cred_str(j, "private_key_id", cf, 0);
			a->key_id = kid && *kid ? xstrdup(kid) : NULL;
			auth_token_uri(a, cred_str(j, "token_uri", cf, 0), cf);
			const char *pem = cred_str(j, "private_key", cf, 1);
			rng_init();
			mbedtls_pk_init(&a->pk);
			a->pk_ready = 1;
			int r = mbedtls_pk_parse_key(&a->pk, (const unsigned char *)pem,
						     strlen(pem) + 1, NULL, 0,
						     mbedtls_ctr_drbg_random, &drbg);
			if (r != 0) {
				char e[128];
				mbedtls_strerror(r, e, sizeof e);
				docs_free(&ds);
				fatal("credentials file %s: can't read private_key: %s", cf, e);
			}
			if (mbedtls_pk_get_type(&a->pk) != MBEDTLS_PK_RSA)
				fatal("credentials file %s: private_key is not an RSA key", cf);
			snprintf(a->source, sizeof a->source, "the service account %s (%s %s)",
				 a->email, csrc, cf);
		} else if (!strcmp(type, "authorized_user")) {
			a->kind = AUTH_USER;
			a->client_id = xstrdup(cred_str(j, "client_id", cf, 1));
			a->client_secret = xstrdup(cred_str(j, "client_secret", cf, 1));
			a->refresh = xstrdup(cred_str(j, "refresh_token", cf, 1));
			auth_token_uri(a, cred_str(j, "token_uri", cf, 0), cf);
			snprintf(a->source, sizeof a->source, "the authorized user in %s (%s)", cf,
				 csrc);
		} else {
			fatal("credentials file %s: type \"%.40s\" is not supported "
			      "(service_account "
			      "or authorized_user)",
			      cf, type);
		}
		docs_free(&ds);
		return;
	}
	const char *mh = getenv("GCE_METADATA_HOST");
	char u[300];
	snprintf(u, sizeof u, "http://%s", mh && *mh ? mh : METADATA_HOST);
	const char *why = url_parse(u, &a->md);
	if (why)
		fatal("GCE_METADATA_HOST: %s", why);
	a->kind = AUTH_METADATA;
	snprintf(a->source, sizeof a->source, "the metadata server %s%s", a->md.host,
		 mh && *mh ? " (GCE_METADATA_HOST)" : "");
}

/* application/x-www-form-urlencoded value */
static void
form_add(struct buf *b, const char *name, const char *v)
{
	if (b->n)
		buf_putc(b, '&');
	buf_puts(b, name);
	buf_putc(b, '=');
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;
		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
			buf_putc(b, (char)c);
		else
			buf_printf(b, "%%%02X", c);
	}
}

static char *
b64url_nopad(const unsigned char *s, size_t n)
{
	char *o = b64url_encode(s, n);
	char *e = strchr(o, '=');
	if (e)
		*e = 0;
	return o;
}

/* the signed JWT a service account trades for a token */
static char *
auth_jwt(struct auth *a)
{
	const char *aud = a->token_uri;
	struct buf hb = {0}, cb = {0};
	buf_puts(&hb, "{\"alg\":\"RS256\",\"typ\":\"JWT\"");
	if (a->key_id) {
		buf_puts(&hb, ",\"kid\":");
		json_string(&hb, a->key_id, strlen(a->key_id));
	}
	buf_putc(&hb, '}');
	long now = (long)time(NULL);
	buf_puts(&cb, "{\"iss\":");
	json_string(&cb, a->email, strlen(a->email));
	buf_puts(&cb, ",\"scope\":\"" CLOUD_PLATFORM_SCOPE "\",\"aud\":");
	json_string(&cb, aud, strlen(aud));
	buf_printf(&cb, ",\"iat\":%ld,\"exp\":%ld}", now, now + 3600);
	char *h64 = b64url_nopad((unsigned char *)hb.p, hb.n);
	char *c64 = b64url_nopad((unsigned char *)cb.p, cb.n);
	buf_free(&hb);
	buf_free(&cb);
	struct buf jwt = {0};
	buf_printf(&jwt, "%s.%s", h64, c64);
	free(h64);
	free(c64);
	unsigned char hash[32], sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
	size_t sl = 0;
	if (mbedtls_sha256((unsigned char *)jwt.p, jwt.n, hash, 0) != 0)
		fatal("SHA-256 failed");
	int r = mbedtls_pk_sign(&a->pk, MBEDTLS_MD_SHA256, hash, sizeof hash, sig, sizeof sig, &sl,
				mbedtls_ctr_drbg_random, &drbg);
	if (r != 0) {
		char e[128];
		mbedtls_strerror(r, e, sizeof e);
		fatal("can't sign the JWT for %s: %s", a->email, e);
	}
	char *s64 = b64url_nopad(sig, sl);
	buf_putc(&jwt, '.');
	buf_puts(&jwt, s64);
	free(s64);
	return buf_take(&jwt, NULL);
}

/* take access_token out of a token endpoint's reply */
static void
auth_take_token(struct auth *a, struct http_resp *r)
{
	char what[sizeof a->source + 32];
	snprintf(what, sizeof what, "%s: the token endpoint", a->source);
	struct node *j = reply_json(r, what);
	const char *t = map_str(j, "access_token");
	if (!t || !token_ok(t, strlen(t))) {
		node_free(j);
		fatal("%s: the reply has no usable access_token", a->source);
	}
	sfree_str(a->token);
	a->token = xstrdup(t);
	node_free(j);
}

/* get a (new) access token; dies with the reason when it can't */
static void
auth_fetch(struct auth *a, struct http *h)
{
	a->fetches++;
	if (a->kind == AUTH_FILE) {
		size_t n;
		char *raw = read_file(a->path, &n, "token file");
		size_t s = 0;
		if (n >= 3 && !memcmp(raw, "\xef\xbb\xbf", 3))
			s = 3;
		size_t e = n;
		while (e > s && isspace((unsigned char)raw[e - 1]))
			e--;
		if (!token_ok(raw + s, e - s)) {
			sfree(raw, n);
			fatal("token file %s: not an access token (one line of printable text "
			      "expected)",
			      a->path);
		}
		sfree_str(a->token);
		a->token = xstrndup(raw + s, e - s);
		sfree(raw, n);
		return;
	}
	struct buf body = {0};
	const struct url *u = &a->token_url;
	const char *method = "POST", *target;
	const char *hdrs[3] = {"Accept: application/json", NULL, NULL};
	char mtarget[256];
	if (a->kind == AUTH_SERVICE_ACCOUNT) {
		char *jwt = auth_jwt(a);
		form_add(&body, "grant_type", JWT_BEARER);
		form_add(&body, "assertion", jwt);
		sfree_str(jwt);
	} else if (a->kind == AUTH_USER) {
		form_add(&body, "grant_type", "refresh_token");
		form_add(&body, "client_id", a->client_id);
		form_add(&body, "client_secret", a->client_secret);
		form_add(&body, "refresh_token", a->refresh);
	}
	if (a->kind == AUTH_METADATA) {
		u = &a->md;
		method = "GET";
		snprintf(mtarget, sizeof mtarget,
			 "/computeMetadata/v1/instance/service-accounts/"
			 "default/token?scopes=%s",
			 CLOUD_PLATFORM_SCOPE);
		target = mtarget;
		hdrs[1] = "Metadata-Flavor: Google";
	} else {
		target = u->path[0] ? u->path : "/";
		hdrs[1] = "Content-Type: application/x-www-form-urlencoded";
	}
	char err[512];
	for (int attempt = 0;; attempt++) {
		struct http_resp r;
		int rc = http_request(h, method, u, target, hdrs, body.p, body.n, &r, err,
				      sizeof err);
		int retry = rc == HE_CONNECT || rc == HE_IO ||
			    (rc == HE_OK && (r.status == 429 || r.status >= 500));
		if (rc == HE_OK && r.status == 200) {
			buf_free(&body);
			if (a->kind == AUTH_METADATA && strstr(r.ctype, "html"))
				fatal("%s: not a metadata server (HTML reply)", a->source);
			auth_take_token(a, &r);
			http_resp_free(&r);
			return;
		}
		if (retry && attempt < 4 && !(a->kind == AUTH_METADATA && rc == HE_CONNECT)) {
			long ra = rc == HE_OK ? r.retry_after : -1;
			if (rc == HE_OK)
				http_resp_free(&r);
			backoff_sleep(attempt, ra);
			continue;
		}
		buf_free(&body);
		if (rc != HE_OK) {
			if (a->kind == AUTH_METADATA)
				fatal("no Google credentials: %s (%s); pass --token-file or "
				      "--credentials, set CLOUDSDK_AUTH_ACCESS_TOKEN_FILE or "
				      "GOOGLE_APPLICATION_CREDENTIALS, or run gcloud auth "
				      "application-default login",
				      err, a->source);
			fatal("can't get an access token from %s: %s", a->source, err);
		}
		char why[512];
		reply_reason(&r, why, sizeof why);
		http_resp_free(&r);
		fatal("%s: the token request was refused: %s", a->source, why);
	}
}

/* project from the metadata server (the last place push looks) */
static char *
metadata_project(struct http *h)
{
	struct url md;
	const char *mh = getenv("GCE_METADATA_HOST");
	char u[300];
	snprintf(u, sizeof u, "http://%s", mh && *mh ? mh : METADATA_HOST);
	if (url_parse(u, &md))
		return NULL;
	const char *hdrs[] = {"Metadata-Flavor: Google", NULL};
	struct http_resp r;
	char err[512];
	int saved = h->timeout_ms;
	h->timeout_ms = saved < 3000 ? saved : 3000;
	int rc = http_request(h, "GET", &md, "/computeMetadata/v1/project/project-id", hdrs, NULL,
			      0, &r, err, sizeof err);
	h->timeout_ms = saved;
	char *p = NULL;
	if (rc == HE_OK && r.status == 200 && r.n > 0 && r.n < 128 && !strstr(r.ctype, "html"))
		p = xstrndup(r.body, r.n);
	if (rc == HE_OK)
		http_resp_free(&r);
	return p;
}

/* ===================================================================== */
/* GSM                                                                    */
/* ===================================================================== */

/*
 * Google Secret Manager, create-if-absent. Per key, in contract order: list
 * the versions (404 = no secret, {} = no version, newest first otherwise,
 * page by page up to the newest ENABLED one), then create the secret and/or add a version, restore a
 * disabled latest from the newest enabled version, or report. Values are
 * read (versions/N:access) only to verify the Dex pair or to restore.
 */

#define GSM_ENDPOINT  "https://secretmanager.googleapis.com"
#define GSM_ATTEMPTS  6      /* per call: the first try and 5 retries */
#define GSM_AMBIGUOUS (-1)   /* a non-idempotent call may or may not have happened */
#define GSM_LATE      (-2)   /* ... and the server may still be working on it */
#define GSM_LIST_MAX  100    /* versions asked for per page */
#define GSM_PAGES_MAX 100000 /* pages of one listing before giving up */

/* CRC-32C (Castagnoli, reflected 0x82f63b78): GSM's payload checksum */
static uint32_t
crc32c(const unsigned char *p, size_t n)
{
	static uint32_t t[256];
	if (!t[1])
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int j = 0; j < 8; j++)
				c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
			t[i] = c;
		}
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < n; i++)
		c = t[(c ^ p[i]) & 0xff] ^ (c >> 8);
	return ~c;
}

enum pstat {
	P_NOT_NEEDED,
	P_CREATED,
	P_EXISTS,
	P_REPAIRED,
	P_MISSING,
	P_MISMATCH,
	P_FAILED,
	P_ROTATED,
	P_WOULD_CREATE,
	P_WOULD_REPAIR,
	P_WOULD_ROTATE,
	NPSTAT
};
static const char *const pstat_word[NPSTAT] = {
	"NOT_NEEDED", "CREATED", "EXISTS",       "REPAIRED",     "MISSING",      "MISMATCH",
	"FAILED",     "ROTATED", "WOULD-CREATE", "WOULD-REPAIR", "WOULD-ROTATE",
};

struct gsm {
	const char *cmd; /* push, reset-dex-admin: for messages */
	int dry_run;
	void (*on_fail)(struct gsm *g); /* called before gsm_fail exits (the --json report) */
	void *ctx;
	struct http h;
	struct auth a;
	struct url base;
	char endpoint[1100]; /* for messages and the report */
	char origin[320];    /* https://host[:port], for messages */
	char prefix[1400];   /* request path up to and including the project/location */
	char project[128];
	char project_from[PATH_MAX + 32];
	const char *location;
	int cur; /* the key being worked on, -1 for none */
	enum pstat st[NKEYS];
	char *detail[NKEYS];
	long version[NKEYS];
	char *adopted[NKEYS]; /* another run's first value, taken over (a secret) */
	size_t adopted_n[NKEYS];
	int missing, problems;
	unsigned long retries;
};

/* what a key looks like in GSM */
struct gkey {
	int exists;
	long latest; /* newest version, 0 if none */
	char latest_state[16];
	long enabled; /* newest ENABLED version, 0 if none */
};

static struct gsm *live_gsm; /* its token and buffers are wiped at exit, die() included */

static void
gsm_close(struct gsm *g)
{
	http_free(&g->h);
	auth_free(&g->a);
	for (int k = 0; k < NKEYS; k++) {
		free(g->detail[k]);
		if (g->adopted[k])
			sfree(g->adopted[k], g->adopted_n[k]);
	}
	memset(g->detail, 0, sizeof g->detail);
	memset(g->adopted, 0, sizeof g->adopted);
	if (live_gsm == g)
		live_gsm = NULL;
}

static void
gsm_atexit(void)
{
	if (live_gsm)
		gsm_close(live_gsm);
	if (psa_ready) {
		mbedtls_psa_crypto_free();
		psa_ready = 0;
	}
}

static void __attribute__((format(printf, 4, 5)))
gsm_result(struct gsm *g, int k, enum pstat st, const char *fmt, ...)
{
	char d[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d, sizeof d, fmt, ap);
	va_end(ap);
	g->st[k] = st;
	free(g->detail[k]);
	g->detail[k] = xstrdup(d);
	if (st == P_MISSING)
		g->missing++;
	if (st == P_MISMATCH)
		g->problems++;
	status("%s %s%s%s%s", pstat_word[st], keys[k].name, *d ? " (" : "", d, *d ? ")" : "");
}

/* a key could not be settled: FAILED line, report, exit 2 */
static void __attribute__((noreturn, format(printf, 2, 3)))
gsm_fail(struct gsm *g, const char *fmt, ...)
{
	char m[1536];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m, sizeof m, fmt, ap);
	va_end(ap);
	if (g->cur >= 0) {
		/* the status line gets the reason; the last line also what to do */
		gsm_result(g, g->cur, P_FAILED, "%.*s", (int)strcspn(m, ";"), m);
		if (g->on_fail)
			g->on_fail(g);
		fatal("%s stopped at %s: %s", g->cmd, keys[g->cur].name, m);
	}
	fatal("%s: %s", g->cmd, m);
}

/* a reply the flow does not expect: say what it means and what to do */
static void __attribute__((noreturn))
gsm_bad_status(struct gsm *g, const char *method, const char *rel, struct http_resp *r)
{
	char why[700];
	reply_reason(r, why, sizeof why);
	int st = r->status;
	http_resp_free(r);
	const char *hint = "";
	char h2[600];
	switch (st) {
	case 401:
		snprintf(h2, sizeof h2,
			 "; the access token from %.300s was refused (expired or "
			 "revoked?), also after a refresh",
			 g->a.source);
		hint = h2;
		break;
	case 403:
		snprintf(h2, sizeof h2,
			 "; permission denied, or the secret is missing (GSM answers "
			 "403 for both when the caller may not read it): check --project (%s, from "
			 "%.200s) and grant roles/secretmanager.admin on it",
			 g->project, g->project_from);
		hint = h2;
		break;
	case 404: hint = "; not found: check --project, --location and the endpoint"; break;
	}
	gsm_fail(g, "%s %s%s/%s: %s%s", method, g->origin, g->prefix, rel, why, hint);
}

/*
 * One API call under the retry policy: 429, 5xx, resets and timeouts are
 * retried with capped exponential backoff and jitter; 401 gets a new token
 * once; every other status goes back to the caller. once: the call is not
 * idempotent (addVersion): when it may have reached the server, return
 * GSM_AMBIGUOUS and let the caller look before trying again.
 */
static int
gsm_call(struct gsm *g, const char *method, const char *rel, const char *body, size_t bodyn,
	 struct http_resp *r, int once)
{
	char target[2048];
	if ((size_t)snprintf(target, sizeof target, "%s/%s", g->prefix, rel) >= sizeof target)
		gsm_fail(g, "request path too long");
	int refreshed = 0, stale_seen = 0;
	char err[512];
	for (int attempt = 0;; attempt++) {
		if (!g->a.token)
			auth_fetch(&g->a, &g->h);
		size_t al = strlen(g->a.token) + 32;
		char *authz = xmalloc(al);
		snprintf(authz, al, "Authorization: Bearer %s", g->a.token);
		const char *hdrs[] = {authz, "Accept: application/json",
				      body ? "Content-Type: application/json; charset=utf-8" : NULL,
				      NULL};
		int rc = http_request(&g->h, method, &g->base, target, hdrs, body, bodyn, r, err,
				      sizeof err);
		sfree(authz, al);
		if (rc == HE_OK && r->status == 401 && !refreshed) {
			http_resp_free(r);
			refreshed = 1;
			auth_fetch(&g->a, &g->h);
			attempt--;
			continue;
		}
		if (rc == HE_OK && r->status != 429 && r->status < 500)
			return r->status;
		if (rc == HE_PROTO)
			gsm_fail(g, "%s (is the endpoint %s right?)", err, g->endpoint);
		int ambiguous = rc == HE_IO || (rc == HE_OK && r->status >= 500);
		if (once && ambiguous) {
			if (rc == HE_OK)
				http_resp_free(r);
			return rc == HE_IO && g->h.timed_out ? GSM_LATE : GSM_AMBIGUOUS;
		}
		if (attempt + 1 >= GSM_ATTEMPTS) {
			if (rc == HE_OK) {
				char why[700];
				reply_reason(r, why, sizeof why);
				http_resp_free(r);
				gsm_fail(g, "%s %s%s/%s: %s, %d times; try again later", method,
					 g->origin, g->prefix, rel, why, GSM_ATTEMPTS);
			}
			gsm_fail(g, "%s, %d times; try again later", err, GSM_ATTEMPTS);
		}
		long ra = rc == HE_OK ? r->retry_after : -1;
		if (rc == HE_OK)
			http_resp_free(r);
		if (rc == HE_IO && g->h.stale && !stale_seen) {
			/* the server had closed the idle connection: a fresh one, at once */
			stale_seen = 1;
			attempt--;
			continue;
		}
		g->retries++;
		backoff_sleep(attempt, ra);
	}
}

static long
version_num(const char *name)
{
	const char *p = name ? strstr(name, "/versions/") : NULL;
	if (!p)
		return 0;
	p += 10;
	if (!*p || strspn(p, "0123456789") != strlen(p) || strlen(p) > 15)
		return 0;
	return strtol(p, NULL, 10);
}

/*
 * The versions of key k, newest first, page by page (GSM pages a long
 * history: nextPageToken), each handed to each() once the page has been
 * read and freed, so each() may make requests of its own; a nonzero return
 * stops the listing. Memory is bounded by one page, not by the history.
 * Returns 0 for a 404 (no such secret), 1 otherwise.
 */
struct gver {
	long num;
	char state[16];
};
typedef int (*gsm_each_fn)(struct gsm *g, int k, const struct gver *v, void *ctx);

static int
gsm_list(struct gsm *g, int k, gsm_each_fn each, void *ctx)
{
	char token[512] = "", rel[800];
	for (long page = 0;; page++) {
		if (page >= GSM_PAGES_MAX)
			gsm_fail(g,
				 "GET secrets/%s/versions: more than %d pages of versions; "
				 "stopped rather than judge the secret on part of its history",
				 keys[k].name, GSM_PAGES_MAX);
		snprintf(rel, sizeof rel, "secrets/%s/versions?pageSize=%d%s%s", keys[k].name,
			 GSM_LIST_MAX, *token ? "&pageToken=" : "", token);
		struct http_resp r;
		int st = gsm_call(g, "GET", rel, NULL, 0, &r, 0);
		/* GSM's NOT_FOUND is JSON; an HTML 404 means a wrong endpoint or path */
		if (st == 404 && page == 0 && strstr(r.ctype, "json")) {
			http_resp_free(&r);
			return 0;
		}
		if (st != 200)
			gsm_bad_status(g, "GET", rel, &r);
		char what[sizeof rel + 8];
		snprintf(what, sizeof what, "GET %s", rel);
		struct node *j = reply_json(&r, what);
		http_resp_free(&r);
		struct node *vl = map_get(j, "versions");
		if (!j || j->kind != N_MAP || (vl && vl->kind != N_SEQ)) {
			node_free(j);
			gsm_fail(g, "GET %s: not a list of versions (is the endpoint %s right?)",
				 rel, g->endpoint);
		}
		size_t cnt = vl ? vl->n : 0;
		struct gver *v = xmalloc((cnt ? cnt : 1) * sizeof *v);
		for (size_t i = 0; i < cnt; i++) {
			const char *name = map_str(vl->v[i], "name"),
				   *state = map_str(vl->v[i], "state");
			v[i].num = version_num(name);
			if (!v[i].num || !state) {
				free(v);
				node_free(j);
				gsm_fail(g, "GET %s: a version without a usable name or state",
					 rel);
			}
			snprintf(v[i].state, sizeof v[i].state, "%s", state);
		}
		const char *next = map_str(j, "nextPageToken");
		char prev[sizeof token];
		memcpy(prev, token, sizeof prev);
		size_t o = 0;
		for (const char *p = next; p && *p && o + 4 < sizeof token; p++) {
			if (isalnum((unsigned char)*p) || *p == '-' || *p == '_' || *p == '.')
				token[o++] = *p;
			else
				o += (size_t)snprintf(token + o, sizeof token - o, "%%%02X",
						      (unsigned char)*p);
		}
		token[o] = 0;
		int more = next && *next;
		if (more && (strlen(next) * 3 >= sizeof token || !strcmp(prev, token))) {
			free(v);
			node_free(j);
			gsm_fail(g, "GET %s: %s page token", rel,
				 strcmp(prev, token) ? "an overlong" : "a repeated");
		}
		node_free(j);
		int stop = 0;
		for (size_t i = 0; i < cnt && !stop; i++)
			stop = each(g, k, &v[i], ctx);
		free(v);
		if (stop || !more)
			return 1;
	}
}

/* newest first: the first version is the latest, the first ENABLED one the
 * newest enabled; nothing after it matters */
static int
inspect_each(struct gsm *g, int k, const struct gver *v, void *ctx)
{
	(void)g;
	(void)k;
	struct gkey *gk = ctx;
	if (v->num > gk->latest) {
		gk->latest = v->num;
		snprintf(gk->latest_state, sizeof gk->latest_state, "%s", v->state);
	}
	if (!strcmp(v->state, "ENABLED") && v->num > gk->enabled)
		gk->enabled = v->num;
	return gk->enabled > 0;
}

static void
gsm_inspect(struct gsm *g, int k, struct gkey *gk)
{
	memset(gk, 0, sizeof *gk);
	gk->exists = gsm_list(g, k, inspect_each, gk);
}

/* the bytes of version ver of key k (a secret: the caller wipes them) */
static char *
gsm_access(struct gsm *g, int k, long ver, size_t *n)
{
	char rel[400];
	snprintf(rel, sizeof rel, "secrets/%s/versions/%ld:access", keys[k].name, ver);
	struct http_resp r;
	int st = gsm_call(g, "GET", rel, NULL, 0, &r, 0);
	if (st != 200)
		gsm_bad_status(g, "GET", rel, &r);
	char what[420];
	snprintf(what, sizeof what, "GET %s", rel);
	struct node *j = reply_json(&r, what);
	http_resp_free(&r);
	const struct node *p = map_get(j, "payload");
	const char *data = map_str(p, "data"), *crc = map_str(p, "dataCrc32c");
	unsigned char *v = data ? b64_decode(data, strlen(data), n) : NULL;
	if (!v) {
		node_free(j);
		gsm_fail(g, "GET %s: no base64 payload in the reply", rel);
	}
	int bad = crc && strtoul(crc, NULL, 10) != crc32c(v, *n);
	node_free(j);
	if (bad) {
		sfree(v, *n);
		gsm_fail(g, "GET %s: the payload does not match its CRC-32C", rel);
	}
	return (char *)v;
}

/* create the secret; 1 if this call made it, 0 if it was there (409) */
static int
gsm_create(struct gsm *g, int k)
{
	char rel[320];
	snprintf(rel, sizeof rel, "secrets?secretId=%s", keys[k].name);
	const char *body = g->location ? "{\"labels\":{\"managed-by\":\"seedsec\"}}"
				       : "{\"replication\":{\"automatic\":{}},\"labels\":{"
					 "\"managed-by\":\"seedsec\"}}";
	struct http_resp r;
	int st = gsm_call(g, "POST", rel, body, strlen(body), &r, 0);
	if (st != 200 && st != 409)
		gsm_bad_status(g, "POST", rel, &r);
	http_resp_free(&r);
	return st == 200;
}

/*
 * Two runs seeding the same project at once (first boot on several nodes):
 * both may add a first version, with different values. The first enabled
 * version wins. Right after adding version mine as a secret's first value,
 * look: an older enabled version with other bytes means another run was
 * first; then this run's version is disabled, the winner's value added
 * again on top (so that "latest" holds it), and kept in g->adopted[k] for
 * the caller (the Dex pair needs the password that won). The winner's own
 * run sees only newer versions and keeps its value. Returns the winning
 * version, 0 when this run's value is the first.
 */
static long gsm_add(struct gsm *g, int k, const char *v, size_t n, long known_latest);

/* gsm_list callback: how many ENABLED versions, and the oldest of them */
struct enabled_span {
	long count, oldest;
};

static int
enabled_span_each(struct gsm *g, int k, const struct gver *v, void *ctx)
{
	(void)g;
	(void)k;
	struct enabled_span *sp = ctx;
	if (!strcmp(v->state, "ENABLED")) {
		sp->count++;
		sp->oldest = v->num;
	}
	return 0;
}

static long
gsm_first_wins(struct gsm *g, int k, long mine, const char *v, size_t n, long *readded)
{
	if (mine <= 1)
		return 0; /* version 1: nothing can be older */
	struct enabled_span sp = {0, 0};
	gsm_list(g, k, enabled_span_each, &sp);
	long low = sp.oldest;
	if (!low || low >= mine)
		return 0;
	size_t wn;
	char *w = gsm_access(g, k, low, &wn);
	if (wn == n && !memcmp(w, v, n)) {
		sfree(w, wn); /* the same bytes twice (one --existing, two runs): no harm */
		return 0;
	}
	char rel[400];
	snprintf(rel, sizeof rel, "secrets/%s/versions/%ld:disable", keys[k].name, mine);
	struct http_resp r;
	int st = gsm_call(g, "POST", rel, "{}", 2, &r, 0);
	if (st != 200) {
		sfree(w, wn);
		gsm_bad_status(g, "POST", rel, &r);
	}
	http_resp_free(&r);
	*readded = gsm_add(g, k, w, wn, mine);
	g->adopted[k] = w;
	g->adopted_n[k] = wn;
	return low;
}

/*
 * After an addVersion that may or may not have happened: is there a version
 * newer than known_latest holding exactly these bytes? Its number, or 0.
 */
struct find_added {
	const char *v;
	size_t n;
	uint32_t crc;
	long known_latest, found;
};

/* newest first: once a version is not newer than known_latest, none after it is */
static int
find_added_each(struct gsm *g, int k, const struct gver *ver, void *ctx)
{
	struct find_added *fa = ctx;
	if (ver->num <= fa->known_latest)
		return 1;
	if (strcmp(ver->state, "ENABLED"))
		return 0;
	size_t m;
	char *got = gsm_access(g, k, ver->num, &m);
	int same = m == fa->n && crc32c((unsigned char *)got, m) == fa->crc &&
		   !memcmp(got, fa->v, fa->n);
	sfree(got, m);
	if (same)
		fa->found = ver->num;
	return same;
}

static long
gsm_find_added(struct gsm *g, int k, const char *v, size_t n, uint32_t crc, long known_latest)
{
	struct find_added fa = {v, n, crc, known_latest, 0};
	gsm_list(g, k, find_added_each, &fa);
	return fa.found;
}

/* add a version holding v; its number. Never adds the same bytes twice. */
static long
gsm_add(struct gsm *g, int k, const char *v, size_t n, long known_latest)
{
	if (n == 0)
		gsm_fail(g, "the value is empty; GSM refuses an empty version");
	if (n > MAX_VALUE)
		gsm_fail(g,
			 "the value is %zu bytes, larger than GSM's 64 KiB payload limit (%u "
			 "bytes)",
			 n, MAX_VALUE);
	uint32_t crc = crc32c((const unsigned char *)v, n);
	char *b64 = b64_encode((const unsigned char *)v, n);
	struct buf body = {0};
	buf_printf(&body, "{\"payload\":{\"data\":\"%s\",\"dataCrc32c\":\"%lu\"}}", b64,
		   (unsigned long)crc);
	sfree_str(b64);
	char rel[320];
	snprintf(rel, sizeof rel, "secrets/%s:addVersion", keys[k].name);
	int stale_seen = 0;
	for (int attempt = 0;; attempt++) {
		struct http_resp r;
		int st = gsm_call(g, "POST", rel, body.p, body.n, &r, 1);
		int stale = st == GSM_AMBIGUOUS && g->h.stale;
		if (st == 200) {
			buf_free(&body);
			char what[340];
			snprintf(what, sizeof what, "POST %s", rel);
			struct node *j = reply_json(&r, what);
			long num = version_num(map_str(j, "name"));
			const char *cs = map_str(j, "clientSpecifiedPayloadChecksum");
			int checked = cs && !strcmp(cs, "true");
			node_free(j);
			http_resp_free(&r);
			if (!num)
				gsm_fail(g, "POST %s: the reply names no version", rel);
			if (!checked)
				warnx("%s: GSM did not confirm the payload checksum of version %ld",
				      keys[k].name, num);
			return num;
		}
		if (st != GSM_AMBIGUOUS && st != GSM_LATE) {
			buf_free(&body);
			gsm_bad_status(g, "POST", rel, &r);
		}
		long found = gsm_find_added(g, k, v, n, crc, known_latest);
		/* no reply in time: the server has the whole request and may add the
		 * version after we looked; sending it again could add the value twice,
		 * so only look again, and leave a version that never shows to a re-run */
		for (int look = 0; !found && st == GSM_LATE && look + 1 < GSM_ATTEMPTS; look++) {
			g->retries++;
			backoff_sleep(look, -1);
			found = gsm_find_added(g, k, v, n, crc, known_latest);
		}
		if (found) {
			buf_free(&body);
			return found;
		}
		if (st == GSM_LATE) {
			buf_free(&body);
			gsm_fail(
				g,
				"POST %s got no reply in time and the version has not appeared "
				"(yet); not sent again, so that it cannot be added twice; run push "
				"again later: it adds the value only if it is still missing",
				rel);
		}
		if (stale && !stale_seen) {
			/* sent on a connection the server had already closed, and the
			 * list shows it did not land: send it again on a fresh one */
			stale_seen = 1;
			attempt--;
			continue;
		}
		if (attempt + 1 >= GSM_ATTEMPTS) {
			buf_free(&body);
			gsm_fail(g,
				 "POST %s failed %d times (reset, timeout or server error); "
				 "nothing was added; try again later",
				 rel, GSM_ATTEMPTS);
		}
		g->retries++;
		backoff_sleep(attempt, -1);
	}
}

static void
missing_how(int k, char *out, size_t n)
{
	if (keys[k].env)
		snprintf(out, n, "set %s or pass --value %s=@FILE", keys[k].env, keys[k].name);
	else
		snprintf(out, n, "pass --value %s=@FILE", keys[k].name);
}

/*
 * Bring key k to an ENABLED latest version, given what gsm_inspect found:
 * kept, restored from the newest enabled version (restored: its bytes if
 * already read), added (val, for a secret without versions) or created.
 * val NULL: no value known, missing says why.
 */
/* this run just added the first value of k: was another run first? 1 if so (reported) */
static int
first_wins_report(struct gsm *g, int k, const char *val)
{
	long mine = g->version[k], readded = 0;
	long low = gsm_first_wins(g, k, mine, val, strlen(val), &readded);
	if (!low)
		return 0;
	g->version[k] = readded;
	gsm_result(g, k, P_REPAIRED,
		   "another run added version %ld first; this run's version %ld is disabled "
		   "and version %ld's value added again as version %ld",
		   low, mine, low, readded);
	return 1;
}

static void
push_apply(struct gsm *g, int k, struct gkey *gk, const char *val, const char *from,
	   const char *restored, size_t restn, const char *missing)
{
	int dry = g->dry_run;
	g->cur = k;
	if (gk->exists && gk->latest && gk->latest == gk->enabled) {
		g->version[k] = gk->latest;
		gsm_result(g, k, P_EXISTS, "%s", "");
		return;
	}
	if (gk->exists && gk->enabled) {
		if (dry) {
			gsm_result(g, k, P_WOULD_REPAIR,
				   "latest version %ld is %s: would re-add "
				   "version %ld's value",
				   gk->latest, gk->latest_state, gk->enabled);
			return;
		}
		size_t n = restn;
		char *v = restored ? NULL : gsm_access(g, k, gk->enabled, &n);
		long num = gsm_add(g, k, restored ? restored : v, n, gk->latest);
		if (v)
			sfree(v, n);
		g->version[k] = num;
		gsm_result(g, k, P_REPAIRED,
			   "latest version %ld was %s; re-added version %ld's "
			   "value as version %ld, unchanged",
			   gk->latest, gk->latest_state, gk->enabled, num);
		return;
	}
	if (gk->exists && gk->latest) {
		gsm_result(
			g, k, P_MISSING,
			"no enabled version: latest version %ld is %s and no "
			"older one is enabled; enable one (gcloud secrets versions enable) or add "
			"a value yourself",
			gk->latest, gk->latest_state);
		return;
	}
	if (!val) {
		gsm_result(g, k, P_MISSING, "%s", missing);
		return;
	}
	if (gk->exists) {
		if (dry) {
			gsm_result(g, k, P_WOULD_REPAIR,
				   "the secret has no version: would add one");
			return;
		}
		g->version[k] = gsm_add(g, k, val, strlen(val), 0);
		if (!first_wins_report(g, k, val))
			gsm_result(g, k, P_REPAIRED, "the secret had no version; added version %ld",
				   g->version[k]);
		return;
	}
	if (dry) {
		gsm_result(g, k, P_WOULD_CREATE, "%s%s", from ? "from " : "", from ? from : "");
		return;
	}
	if (!gsm_create(g, k)) {
		/* created meanwhile by someone else: look again, once */
		struct gkey again;
		gsm_inspect(g, k, &again);
		if (again.latest) {
			push_apply(g, k, &again, val, from, NULL, 0, missing);
			return;
		}
	}
	g->version[k] = gsm_add(g, k, val, strlen(val), 0);
	if (!first_wins_report(g, k, val))
		gsm_result(g, k, P_CREATED, "%s%s", from ? "from " : "", from ? from : "");
}

static int
gsm_id_ok(const char *s, size_t max, const char *extra)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr(extra, s[i]))
			return 0;
	return 1;
}

struct gsm_params {
	const char *cmd, *endpoint, *location, *token_file, *credentials, *ca_file;
	const char *project, *project_from; /* NULL: ask the metadata server */
	int timeout, dry_run;
};

/* endpoint, auth, project: everything before the first request */
static void
gsm_open(struct gsm *g, const struct gsm_params *gp)
{
	static int registered;
	memset(g, 0, sizeof *g);
	g->cmd = gp->cmd;
	g->dry_run = gp->dry_run;
	g->cur = -1;
	live_gsm = g;
	if (!registered) {
		atexit(gsm_atexit);
		registered = 1;
	}
	http_init(&g->h, gp->timeout, gp->ca_file);
	g->location = gp->location;
	if (g->location && !gsm_id_ok(g->location, 63, "-"))
		fatal("--location %.64s: not a location (like us-central1)", g->location);
	const char *ep = gp->endpoint, *epsrc = "--endpoint";
	if (!ep || !*ep) {
		ep = getenv("CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER");
		epsrc = "CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER";
	}
	if (ep && *ep) {
		snprintf(g->endpoint, sizeof g->endpoint, "%s", ep);
	} else if (g->location) {
		snprintf(g->endpoint, sizeof g->endpoint,
			 "https://secretmanager.%s.rep.googleapis.com", g->location);
		epsrc = "--location";
	} else {
		snprintf(g->endpoint, sizeof g->endpoint, "%s", GSM_ENDPOINT);
		epsrc = NULL;
	}
	const char *why = url_parse(g->endpoint, &g->base);
	if (!why && !g->base.tls)
		why = "GSM is reached over https:// only";
	if (why)
		fatal("%s %.200s: %s", epsrc ? epsrc : "endpoint", g->endpoint, why);
	size_t el = strlen(g->endpoint);
	while (el > 0 && g->endpoint[el - 1] == '/')
		g->endpoint[--el] = 0;
	char auth[300];
	url_authority(&g->base, auth, sizeof auth, 0);
	snprintf(g->origin, sizeof g->origin, "https://%s", auth);
	auth_setup(&g->a, gp->token_file, gp->credentials);
	const char *p = gp->project;
	char *mp = NULL;
	if (p && *p) {
		snprintf(g->project_from, sizeof g->project_from, "%s", gp->project_from);
	} else if ((p = mp = metadata_project(&g->h))) {
		snprintf(g->project_from, sizeof g->project_from, "the metadata server");
	} else {
		fatal("%s: no Google Cloud project: pass --project, set cluster.projectID in the "
		      "config, or set CLOUDSDK_CORE_PROJECT or GOOGLE_CLOUD_PROJECT",
		      g->cmd);
	}
	if (!gsm_id_ok(p, 100, "-.:"))
		fatal("project %.100s (from %s): not a project ID", p, g->project_from);
	snprintf(g->project, sizeof g->project, "%s", p);
	free(mp);
	snprintf(g->prefix, sizeof g->prefix, "%s/v1/projects/%s%s%s", g->base.path, g->project,
		 g->location ? "/locations/" : "", g->location ? g->location : "");
}

/* ===================================================================== */
/* Sealing                                                                */
/* ===================================================================== */

/*
 * SealedSecrets (bitnami.com/v1alpha1) laid out and encrypted as kubeseal
 * does, so the sealed-secrets controller opens them. Per value: a fresh
 * 32-byte session key, wrapped with RSA-OAEP (SHA-256, MGF1 SHA-256) under
 * the scope's label; the value under AES-256-GCM with that key and a zero
 * nonce (each key is used once); stored as be16(len(rsa)) || rsa || gcm || tag
 * in standard base64.
 */

enum seal_scope { SCOPE_STRICT, SCOPE_NAMESPACE, SCOPE_CLUSTER };
static const char *const scope_names[] = {"strict", "namespace-wide", "cluster-wide"};
#define SEAL_ANNOT_NAMESPACE "sealedsecrets.bitnami.com/namespace-wide"
#define SEAL_ANNOT_CLUSTER   "sealedsecrets.bitnami.com/cluster-wide"
#define SEAL_API             "bitnami.com/v1alpha1"
#define SEAL_SESSION_KEY     32 /* AES-256 */
#define SEAL_NONCE           12 /* GCM standard nonce, all zero */
#define SEAL_TAG             16
#define SEAL_MIN_RSA_BITS    2048 /* the controller makes 4096-bit keys */

struct sealer {
	mbedtls_pk_context pk; /* the controller's RSA public key */
	size_t rsa_len;        /* bytes of each RSA ciphertext */
	enum seal_scope scope;
	const char *ns; /* namespace every SealedSecret is sealed for */
};

static const char *
seal_strerror(int r)
{
	static char msg[128];
	mbedtls_strerror(r, msg, sizeof msg);
	return msg;
}

static int
seal_digits(const unsigned char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* days from 1970-01-01 to a proleptic Gregorian date (no timegm: not in C11) */
static int64_t
seal_days(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

/* an X.509 Time (UTCTime or GeneralizedTime, Z form, as RFC 5280 requires) */
static int
seal_asn1_time(const unsigned char *s, size_t n, int tag, int64_t *out)
{
	int year;
	if (tag == MBEDTLS_ASN1_UTC_TIME && n == 13) {
		year = seal_digits(s, 2);
		year += year < 50 ? 2000 : 1900;
		s += 2;
	} else if (tag == MBEDTLS_ASN1_GENERALIZED_TIME && n == 15) {
		year = seal_digits(s, 4);
		s += 4;
	} else {
		return 0;
	}
	int mo = seal_digits(s, 2), d = seal_digits(s + 2, 2), h = seal_digits(s + 4, 2);
	int mi = seal_digits(s + 6, 2), sec = seal_digits(s + 8, 2);
	if (year < 1900 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 ||
	    mi > 59 || sec < 0 || sec > 60 || s[10] != 'Z')
		return 0;
	*out = seal_days(year, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	return 1;
}

/*
 * The SubjectPublicKeyInfo and notAfter of a DER certificate, found by
 * walking the ASN.1: the controller's certificate has an empty issuer and
 * subject, which mbedtls_x509_crt_parse refuses. The signature is not
 * checked (self-signed; trusted because the operator chose the file).
 * Works on any bytes (a fuzz target); returns NULL or what is wrong.
 */
static const char *
seal_cert_spki(const unsigned char *der, size_t n, const unsigned char **spki, size_t *spki_len,
	       int64_t *not_after)
{
	const int seq = MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE;
	unsigned char *p = (unsigned char *)der;
	const unsigned char *end = der + n;
	size_t len;
	if (mbedtls_asn1_get_tag(&p, end, &len, seq) != 0)
		return "not a DER certificate";
	end = p + len;
	if (mbedtls_asn1_get_tag(&p, end, &len, seq) != 0)
		return "no tbsCertificate";
	end = p + len;
	/* version [0] EXPLICIT, optional */
	if (mbedtls_asn1_get_tag(&p, end, &len,
				 MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 0) == 0)
		p += len;
	if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_INTEGER) != 0)
		return "no serial number";
	p += len;
	if (mbedtls_asn1_get_tag(&p, end, &len, seq) != 0)
		return "no signature algorithm";
	p += len;
	if (mbedtls_asn1_get_tag(&p, end, &len, seq) != 0)
		return "no issuer";
	p += len;
	if (mbedtls_asn1_get_tag(&p, end, &len, seq) != 0)
		return "no validity";
	const unsigned char *vend = p + len;
	for (int i = 0; i < 2; i++) {
		int tag = MBEDTLS_ASN1_UTC_TIME;
		if (mbedtls_asn1_get_tag(&p, vend, &len, tag) != 0) {
			tag = MBEDTLS_ASN1_GENERALIZED_TIME;
			if (mbedtls_asn1_get_tag(&p, vend, &len, tag) != 0)
				return i ? "bad notAfter" : "bad notBefore";
		}
		if (i == 1 && !seal_asn1_time(p, len, tag, not_after))
			return "bad notAfter";
		p += len;
	}
	p = (unsigned char *)vend;
	if (mbedtls_asn1_get_tag(&p, end, &len, seq) != 0)
		return "no subject";
	p += len;
	const unsigned char *st = p;
	if (mbedtls_asn1_get_tag(&p, end, &len, seq) != 0)
		return "no subjectPublicKeyInfo";
	*spki = st;
	*spki_len = (size_t)(p - st) + len;
	return NULL;
}

/* the key of a DER certificate; 0 and why[] if it can't be used */
static int
seal_key_from_cert(struct sealer *s, const unsigned char *der, size_t n, char *why, size_t wn)
{
	const unsigned char *spki;
	size_t spki_len;
	int64_t not_after;
	const char *bad = seal_cert_spki(der, n, &spki, &spki_len, &not_after);
	if (bad) {
		snprintf(why, wn, "can't read the certificate: %s", bad);
		return 0;
	}
	unsigned char *p = (unsigned char *)spki;
	int r = mbedtls_pk_parse_subpubkey(&p, spki + spki_len, &s->pk);
	if (r == MBEDTLS_ERR_PK_UNKNOWN_PK_ALG) {
		snprintf(why, wn,
			 "the certificate's key is not RSA; the sealed-secrets controller "
			 "seals with RSA (fetch its certificate: kubeseal --fetch-cert)");
		return 0;
	}
	if (r != 0) {
		snprintf(why, wn, "can't read the certificate's public key: %s", seal_strerror(r));
		return 0;
	}
	if ((int64_t)time(NULL) > not_after) {
		time_t t = (time_t)not_after;
		struct tm tm;
		char when[32] = "?";
		if (gmtime_r(&t, &tm))
			strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
		snprintf(why, wn,
			 "the certificate expired on %s; fetch the controller's current one "
			 "(kubeseal --fetch-cert)",
			 when);
		return 0;
	}
	return 1;
}

/* a PEM certificate (kubeseal --fetch-cert), or a PEM/DER RSA public key */
static int
seal_parse_key(struct sealer *s, const char *src, size_t n, char *why, size_t wn)
{
	static const char beg[] = "-----BEGIN CERTIFICATE-----",
			  fin[] = "-----END CERTIFICATE-----";
	const char *pem = strstr(src, beg);
	int der = n > 0 && (unsigned char)src[0] == 0x30;
	int r;
	if (strstr(src, "PRIVATE KEY-----")) {
		snprintf(why, wn,
			 "holds a private key; seal needs only the controller's certificate "
			 "(kubeseal --fetch-cert > cert.pem) or its public key");
		return 0;
	}
	if (pem) {
		mbedtls_pem_context ctx;
		size_t used, dn = 0;
		mbedtls_pem_init(&ctx);
		r = mbedtls_pem_read_buffer(&ctx, beg, fin, (const unsigned char *)pem, NULL, 0,
					    &used);
		int ok = r == 0;
		if (ok) {
			const unsigned char *body = mbedtls_pem_get_buffer(&ctx, &dn);
			ok = seal_key_from_cert(s, body, dn, why, wn);
		} else {
			snprintf(why, wn, "can't read the PEM certificate: %s", seal_strerror(r));
		}
		mbedtls_pem_free(&ctx);
		return ok;
	}
	if (!der && !strstr(src, "PUBLIC KEY-----")) {
		snprintf(why, wn,
			 "not a PEM certificate or public key (expected the output of "
			 "kubeseal --fetch-cert)");
		return 0;
	}
	const unsigned char *spki;
	size_t sl;
	int64_t na;
	const char *cert_bad =
		der ? seal_cert_spki((const unsigned char *)src, n, &spki, &sl, &na) : "not DER";
	if (!cert_bad)
		return seal_key_from_cert(s, (const unsigned char *)src, n, why, wn);
	/* PEM needs the terminating NUL counted; DER must not have it */
	r = mbedtls_pk_parse_public_key(&s->pk, (const unsigned char *)src, der ? n : n + 1);
	if (r == MBEDTLS_ERR_PK_UNKNOWN_PK_ALG)
		snprintf(why, wn,
			 "the key is not RSA; the sealed-secrets controller seals with RSA");
	else if (r != 0 && der)
		snprintf(why, wn, "neither a DER certificate (%s) nor a DER public key (%s)",
			 cert_bad, seal_strerror(r));
	else if (r != 0)
		snprintf(why, wn, "can't read the public key: %s", seal_strerror(r));
	return r == 0;
}

/* --cert FILE: the controller's RSA key, checked, ready for RSA-OAEP SHA-256 */
static void
seal_load_key(struct sealer *s, const char *path)
{
	size_t n;
	char *src = read_file(path, &n, "certificate");
	char why[320];
	mbedtls_pk_init(&s->pk);
	int ok = seal_parse_key(s, src, n, why, sizeof why);
	sfree(src, n); /* wiped: it might have been a private key */
	if (!ok)
		fatal("%s: %s", path, why);
	if (mbedtls_pk_get_type(&s->pk) != MBEDTLS_PK_RSA)
		fatal("%s: the key is %s, not RSA; the sealed-secrets controller seals with RSA "
		      "(fetch its certificate: kubeseal --fetch-cert)",
		      path, mbedtls_pk_get_name(&s->pk));
	size_t bits = mbedtls_pk_get_bitlen(&s->pk);
	if (bits < SEAL_MIN_RSA_BITS)
		fatal("%s: a %zu-bit RSA key is too weak to seal with (at least %d bits; the "
		      "controller makes 4096)",
		      path, bits, SEAL_MIN_RSA_BITS);
	s->rsa_len = mbedtls_pk_get_len(&s->pk);
	int e = mbedtls_rsa_set_padding(mbedtls_pk_rsa(s->pk), MBEDTLS_RSA_PKCS_V21,
					MBEDTLS_MD_SHA256);
	if (e != 0)
		fatal("can't set RSA-OAEP SHA-256: %s", seal_strerror(e));
}

/* OAEP label: namespace/name (strict), namespace (namespace-wide), empty (cluster-wide) */
static char *
seal_label(const struct sealer *s, const char *name)
{
	if (s->scope == SCOPE_CLUSTER)
		return xstrdup("");
	if (s->scope == SCOPE_NAMESPACE)
		return xstrdup(s->ns);
	struct buf b = {0};
	buf_printf(&b, "%s/%s", s->ns, name);
	return buf_take(&b, NULL);
}

/* one value, sealed: base64 of be16(len(rsa)) || RSA-OAEP(key) || AES-256-GCM(value) || tag */
static char *
seal_value(struct sealer *s, const char *name, const char *value, size_t n)
{
	size_t total = 2 + s->rsa_len + n + SEAL_TAG;
	unsigned char *out = xmalloc(total);
	unsigned char key[SEAL_SESSION_KEY], nonce[SEAL_NONCE] = {0};
	char *label = seal_label(s, name);
	rand_bytes(key, sizeof key);
	out[0] = (unsigned char)(s->rsa_len >> 8);
	out[1] = (unsigned char)(s->rsa_len & 0xff);
	int r = mbedtls_rsa_rsaes_oaep_encrypt(mbedtls_pk_rsa(s->pk), mbedtls_ctr_drbg_random,
					       &drbg, (const unsigned char *)label, strlen(label),
					       sizeof key, key, out + 2);
	free(label);
	const char *step = "RSA-OAEP";
	if (r == 0) {
		mbedtls_gcm_context gcm;
		mbedtls_gcm_init(&gcm);
		step = "AES-256-GCM";
		r = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key, 8 * SEAL_SESSION_KEY);
		if (r == 0)
			r = mbedtls_gcm_crypt_and_tag(
				&gcm, MBEDTLS_GCM_ENCRYPT, n, nonce, sizeof nonce, NULL, 0,
				(const unsigned char *)value, out + 2 + s->rsa_len, SEAL_TAG,
				out + 2 + s->rsa_len + n);
		mbedtls_gcm_free(&gcm);
	}
	zeroize(key, sizeof key);
	if (r != 0) {
		free(out);
		fatal("sealing %s failed (%s): %s", name, step, seal_strerror(r));
	}
	char *b64 = b64_encode(out, total);
	/* read our own output back before anyone sees it */
	size_t dn = 0;
	unsigned char *back = b64_decode(b64, strlen(b64), &dn);
	if (!back || dn != total || memcmp(back, out, total) != 0 ||
	    (size_t)(back[0] << 8 | back[1]) != s->rsa_len)
		fatal("internal: the sealed %s does not read back", name);
	free(back);
	free(out);
	return b64;
}

/* metadata as kubeseal writes it: scope annotation, creationTimestamp: null, name, namespace */
static void
seal_metadata(struct node *obj, const struct sealer *s, const char *name, int labels)
{
	struct node *md = map_add(obj, "metadata", node_new(N_MAP, 0));
	if (s->scope != SCOPE_STRICT) {
		struct node *an = map_add(md, "annotations", node_new(N_MAP, 0));
		map_add(an, s->scope == SCOPE_CLUSTER ? SEAL_ANNOT_CLUSTER : SEAL_ANNOT_NAMESPACE,
			node_str("true"));
	}
	map_add(md, "creationTimestamp", node_raw("null"));
	if (labels) {
		struct node *lb = map_add(md, "labels", node_new(N_MAP, 0));
		map_add(lb, "app.kubernetes.io/managed-by", node_str("seedsec"));
	}
	map_add(md, "name", node_str(name));
	map_add(md, "namespace", node_str(s->ns));
}

/*
 * The SealedSecret for one Secret (name, one data key), in kubeseal's layout:
 * the template carries the Secret's metadata (labels, the scope annotation)
 * and type; the controller sets name and namespace from the top level.
 */
static struct node *
sealed_object(struct sealer *s, const char *name, const char *datakey, const char *value)
{
	struct node *obj = node_new(N_MAP, 0);
	map_add(obj, "apiVersion", node_str(SEAL_API));
	map_add(obj, "kind", node_str("SealedSecret"));
	seal_metadata(obj, s, name, 0);
	struct node *spec = map_add(obj, "spec", node_new(N_MAP, 0));
	struct node *ed = map_add(spec, "encryptedData", node_new(N_MAP, 0));
	char *sealed = seal_value(s, name, value, strlen(value));
	map_add(ed, datakey, node_str(sealed));
	free(sealed);
	struct node *tpl = map_add(spec, "template", node_new(N_MAP, 0));
	seal_metadata(tpl, s, name, 1);
	map_add(tpl, "type", node_str("Opaque"));
	return obj;
}

/* the scope a SealedSecret was sealed with, as the controller reads it */
static enum seal_scope
seal_scope_of(const struct node *obj)
{
	const struct node *an = node_path((struct node *)obj, "metadata.annotations");
	const char *c = map_str(an, SEAL_ANNOT_CLUSTER), *w = map_str(an, SEAL_ANNOT_NAMESPACE);
	if (c && !strcmp(c, "true"))
		return SCOPE_CLUSTER;
	if (w && !strcmp(w, "true"))
		return SCOPE_NAMESPACE;
	return SCOPE_STRICT;
}

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
	char *from[NKEYS]; /* e.g. "HF_TOKEN", "--value FILE", "FILE document 3" */
	int needed[NKEYS];
	char *why[NKEYS]; /* which gate decided */
	int missing;      /* count of MISSING lines */
	int problems;     /* checks that failed (e.g. Dex pair mismatch) */
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

/*
 * A provided value larger than where it goes can hold is refused before
 * anything is asked or written: GSM takes at most 64 KiB per version (push),
 * a Kubernetes Secret at most 1 MiB (render, seal, reset-dex-admin).
 */
static void
value_size_ok(const struct opts *o, int k, char *v, const char *from)
{
	int gsm = !strcmp(o->cmd, "push");
	size_t max = gsm ? MAX_VALUE : MAX_SECRET_VALUE, n = strlen(v);
	if (n <= max)
		return;
	sfree_str(v);
	fatal("%s (from %s): the value is %zu bytes, larger than %s (%zu bytes); nothing "
	      "written",
	      keys[k].name, from, n,
	      gsm ? "GSM's 64 KiB payload limit" : "the 1 MiB a Kubernetes Secret can hold", max);
}

/* the file of --value KEY=@PATH ("-": stdin); errors name the path and the key */
static char *
read_value_file(const char *path, int k, size_t *n)
{
	char what[96];
	snprintf(what, sizeof what, "the value of %s from", keys[k].name);
	if (!strcmp(path, "-"))
		return read_fd(0, "standard input", n, what);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0)
		fatal("can't open %s (the value of %s): %s", path, keys[k].name, strerror(errno));
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
		fatal("can't read %s (the value of %s): it is a directory", path, keys[k].name);
	return read_fd(fd, path, n, what);
}

/* provided values: --value KEY=@PATH, then the key's environment variable */
static void
collect_provided(const struct opts *o, struct values *vs)
{
	for (int k = 0; k < NKEYS; k++) {
		char from[PATH_MAX + 32];
		if (o->valpath[k]) {
			size_t n;
			char *raw = read_value_file(o->valpath[k], k, &n);
			snprintf(from, sizeof from, "--value %s=@%s", keys[k].name, o->valpath[k]);
			char *v = clean_provided(k, raw, n, from);
			sfree(raw, n);
			if (!v) {
				warnx("%s: the file is empty; %s is not provided", from,
				      keys[k].name);
				continue;
			}
			value_size_ok(o, k, v, from);
			/* an operator's own value for a generated key: kept, but say what breaks */
			const char *bad = rule_violation(k, v, strlen(v), 0);
			if (bad)
				warnx("%s: %s %s; used as given (see seedsec check)", from,
				      keys[k].name, bad);
			value_set(vs, k, v, O_PROVIDED, from);
			continue;
		}
		if (keys[k].env) {
			const char *e = getenv(keys[k].env);
			if (!e || !*e)
				continue;
			char *v = clean_provided(k, e, strlen(e), keys[k].env);
			if (!v)
				continue;
			value_size_ok(o, k, v, keys[k].env);
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

/*
 * parse_stream, but a file that is not YAML or JSON seedsec reads returns 0
 * with the error (FILE:LINE: what) in err, everything it made freed.
 */
static int
parse_stream_soft(const char *src, size_t n, const char *file, struct docs *ds, char *err,
		  size_t errn)
{
	soft.on = 1;
	soft.n = 0;
	int ok = !setjmp(soft.jb);
	if (ok)
		parse_stream(src, n, file, ds);
	soft.on = 0;
	for (size_t i = 0; !ok && i < soft.n; i++) {
		struct node *nd = soft.nodes[i];
		sfree(nd->s, nd->len);
		free(nd->k);
		free(nd->v);
		free(nd);
	}
	free(soft.nodes);
	soft.nodes = NULL;
	soft.n = soft.cap = 0;
	if (!ok) {
		free(ds->d);
		memset(ds, 0, sizeof *ds);
		snprintf(err, errn, "%s", soft.msg);
	}
	return ok;
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
		if (ds->d[i].file)
			snprintf(where, sizeof where, "%s: document %zu (line %d)", ds->d[i].file,
				 ds->d[i].index, ds->d[i].line);
		else
			snprintf(where, sizeof where, "%s: document %zu (line %d)", file, i + 1,
				 ds->d[i].line);
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
	char *seen_at[NKEYS], *seen_ns[NKEYS]; /* where each was, its namespace */
	int lossy;                             /* things a rewrite of this file would drop */
	char lost[256];                        /* the first of them */
};

static void
existing_lost(struct existing_ctx *x, const char *where, const char *what)
{
	if (!x->lossy++)
		snprintf(x->lost, sizeof x->lost, "%s: %s", where, what);
}

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
		existing_lost(x, where, "a Secret outside the contract");
		return 1;
	}
	const char *type = map_str(obj, "type");
	if (type && strcmp(type, "Opaque"))
		existing_lost(x, where, "a Secret type other than Opaque");
	struct node *md = map_get(obj, "metadata");
	if (map_get(md, "annotations") && map_get(md, "annotations")->n)
		existing_lost(x, where, "annotations");
	for (const char *f = "data\0stringData\0"; *f; f += strlen(f) + 1) {
		struct node *m = map_get(obj, f);
		for (size_t i = 0; m && m->kind == N_MAP && i < m->n; i++)
			if (strcmp(m->k[i]->s, x->o->property))
				existing_lost(x, where, "data keys besides the property");
	}
	const char *ns = map_str(node_path(obj, "metadata"), "namespace");
	if (x->seen[k])
		fatal("%s: a second Secret named %s (namespace %s; the first, %s, is in namespace "
		      "%s): give the Secrets of one namespace (kubectl get secret -n %s)",
		      where, name, ns && *ns ? ns : "(none)", x->seen_at[k],
		      x->seen_ns[k] ? x->seen_ns[k] : "(none)", x->o->ns);
	x->seen[k] = 1;
	x->seen_at[k] = xstrdup(where);
	x->seen_ns[k] = ns && *ns ? xstrdup(ns) : NULL;
	if (ns && strcmp(ns, x->o->ns))
		warnx("%s: Secret %s is in namespace %s; %s %s", where, name, ns,
		      strcmp(x->o->cmd, "check") ? "rendering into" : "checking as namespace",
		      x->o->ns);
	struct node *data = map_get(obj, "data"), *sdata = map_get(obj, "stringData");
	/* stringData wins over data, as the API server merges them */
	struct node *v = map_get(sdata, x->o->property);
	char *val = NULL;
	size_t vn = 0;
	if (v) {
		if (v->kind != N_SCALAR)
			fatal("%s: Secret %s: stringData.%s is not a string", where, name,
			      x->o->property);
		if (map_get(data, x->o->property))
			warnx("%s: Secret %s has %s in data and stringData; stringData wins, as in "
			      "Kubernetes",
			      where, name, x->o->property);
		val = xstrndup(v->s, v->len);
		vn = v->len;
	} else if ((v = map_get(data, x->o->property))) {
		if (v->kind != N_SCALAR)
			fatal("%s: Secret %s: data.%s is not a string", where, name,
			      x->o->property);
		unsigned char *d = b64_decode(v->s, v->len, &vn);
		if (!d)
			fatal("%s: Secret %s: data.%s is not padded standard base64", where, name,
			      x->o->property);
		val = (char *)d;
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
		      "see seedsec check)",
		      name, bad);
	value_set(x->vs, k, val, O_EXISTING, where);
	return 1;
}

static int same_file(const char *a, const char *b);

/* earlier values from parsed documents; a value also given with --value must agree */
static void
existing_values(const struct opts *o, struct values *vs, struct docs *ds, const char *label)
{
	struct values prov = {0};
	for (int k = 0; k < NKEYS; k++) {
		prov.v[k] = vs->v[k];
		prov.o[k] = vs->o[k];
		prov.from[k] = vs->from[k];
		vs->v[k] = NULL;
		vs->from[k] = NULL;
		vs->o[k] = O_NONE;
	}
	size_t real = 0;
	for (size_t i = 0; i < ds->n; i++)
		real += ds->d[i].root && !scalar_is_null(ds->d[i].root);
	if (real == 0)
		fatal("--existing %s holds no documents: refusing to treat that as \"no earlier "
		      "values\" (write-once keys would be made anew); for a first run leave "
		      "--existing out",
		      label);
	struct existing_ctx x = {o, vs, {0}, {0}, {0}, 0, ""};
	walk_objects(ds, label, existing_secret, &x);
	for (int k = 0; k < NKEYS; k++) {
		free(x.seen_at[k]);
		free(x.seen_ns[k]);
	}
	if (x.lossy && o->output && same_file(o->output, o->existing))
		fatal("-o %s would rewrite --existing %s and drop what seedsec does not carry "
		      "(%s%s); write to another file; nothing written",
		      o->output, label, x.lost, x.lossy > 1 ? ", and more" : "");
	if (ds->comments && !o->dry_run && o->output && same_file(o->output, o->existing))
		warnx("%s: comments are not kept when %s is rewritten", label, label);
	for (int k = 0; k < NKEYS; k++) {
		if (!prov.v[k])
			continue;
		if (vs->v[k] && strcmp(vs->v[k], prov.v[k]) != 0) {
			char msg[PATH_MAX + 512];
			snprintf(
				msg, sizeof msg,
				"%s: the value from %s differs from the earlier one in %s; seedsec "
				"never replaces an existing value%s; nothing written",
				keys[k].name, prov.from[k], label,
				keys[k].flags & (F_DEX_PW | F_DEX_HASH)
					? " (seedsec reset-dex-admin rotates the Dex pair)"
					: "");
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

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* the *.yaml and *.yml (and with json, *.json) files of a directory, sorted; not recursive */
static char **
manifest_files_in(const char *dir, size_t *count, int json)
{
	DIR *d = opendir(dir);
	if (!d)
		fatal("can't open directory %s: %s", dir, strerror(errno));
	char **v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		int ok = (l > 5 && !strcmp(e->d_name + l - 5, ".yaml")) ||
			 (l > 4 && !strcmp(e->d_name + l - 4, ".yml")) ||
			 (json && l > 5 && !strcmp(e->d_name + l - 5, ".json"));
		if (e->d_name[0] == '.' || !ok)
			continue;
		char path[PATH_MAX];
		struct stat st;
		if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= sizeof path)
			fatal("path too long: %s/%s", dir, e->d_name);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
			/* --existing DIR: a value file that cannot be read must not mean
			 * "no earlier value" (a write-once key would be made anew) */
			const char *what = stat(path, &st) != 0  ? "a dangling link or unreadable"
					   : S_ISDIR(st.st_mode) ? "a directory"
								 : "not a regular file";
			if (json)
				fatal("%s: %s; nothing written", path, what);
			warnx("%s: %s; skipped", path, what);
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			char **nv = xcalloc(cap, sizeof *nv);
			if (n)
				memcpy(nv, v, n * sizeof *nv);
			free(v);
			v = nv;
		}
		v[n++] = xstrdup(path);
	}
	closedir(d);
	if (!n)
		fatal("%s: no *.yaml or *.yml%s files in this directory", dir,
		      json ? " or *.json" : "");
	qsort(v, n, sizeof *v, cmp_str);
	*count = n;
	return v;
}

/*
 * --existing DIR: every *.yaml, *.yml and *.json file in it (what --split
 * wrote), in name order, read as one set of documents.
 */
static void
existing_dir(const struct opts *o, struct values *vs)
{
	size_t nn;
	char **names = manifest_files_in(o->existing, &nn, 1);
	struct docs all = {0};
	for (size_t i = 0; i < nn; i++) {
		size_t n;
		char *src = read_file(names[i], &n, "existing values");
		struct docs one = {0};
		parse_stream(src, n, names[i], &one);
		sfree(src, n);
		for (size_t j = 0; j < one.n; j++) {
			one.d[j].file = names[i];
			one.d[j].index = j + 1;
			docs_push(&all, one.d[j]);
		}
		all.comments |= one.comments;
		free(one.d);
	}
	existing_values(o, vs, &all, o->existing);
	docs_free(&all);
	for (size_t i = 0; i < nn; i++)
		free(names[i]);
	free(names);
}

/* read earlier values (--existing) */
static void
load_existing(const struct opts *o, struct values *vs)
{
	if (!o->existing)
		return;
	struct stat st;
	if (strcmp(o->existing, "-") && stat(o->existing, &st) == 0 && S_ISDIR(st.st_mode)) {
		existing_dir(o, vs);
		return;
	}
	size_t n;
	char *src = read_file(o->existing, &n, "existing values");
	struct docs ds = {0};
	const char *label = strcmp(o->existing, "-") ? o->existing : "<stdin>";
	parse_stream(src, n, label, &ds);
	sfree(src, n);
	existing_values(o, vs, &ds, label);
	docs_free(&ds);
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
	/* like ssh with its keys: no symlink, our own file, nobody else may read it */
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0)
		fatal("can't open the Dex password mirror %s: %s%s", path, strerror(errno),
		      errno == ELOOP ? " (a symlink: refused)" : "");
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		fatal("the Dex password mirror %s is not a regular file; refused", path);
	if (st.st_uid != geteuid())
		fatal("the Dex password mirror %s belongs to another user (uid %u); refused", path,
		      (unsigned)st.st_uid);
	if (st.st_mode & 077)
		fatal("the Dex password mirror %s is readable or writable by others (mode %03o); "
		      "refused: chmod 600 it if it is yours",
		      path, (unsigned)(st.st_mode & 0777));
	size_t n;
	char *raw = read_fd(fd, path, &n, "Dex password mirror");
	char *v = clean_provided(K_DEX_ADMIN_PASSWORD, raw, n, path);
	sfree(raw, n);
	const char *bad = v ? rule_violation(K_DEX_ADMIN_PASSWORD, v, strlen(v), 0) : NULL;
	if (bad)
		fatal("the Dex password mirror %s %s; refused", path, bad);
	free(path);
	return v;
}

/*
 * Mirror the password to STATE/dex-admin-password (dir 0700, file 0600).
 * A mirror that differs from the stored password is restored from it; the
 * old file is kept beside it.
 */
/*
 * The state dir, made (0700) and checked before any output is written, so a
 * run never prints manifests and then fails on the mirror.
 */
static void
state_dir_ready(const struct opts *o)
{
	struct stat st;
	if (lstat(o->state, &st) == 0 && S_ISLNK(st.st_mode))
		fatal("--state %s is a symbolic link; refused (it holds the Dex admin password: "
		      "give the directory itself)",
		      o->state);
	make_dir(o->state, 0700);
	if (lstat(o->state, &st) != 0 || !S_ISDIR(st.st_mode))
		fatal("--state %s is not a directory", o->state);
	if (st.st_uid != geteuid() || (st.st_mode & 022))
		fatal("--state %s is %s; refused (it holds the Dex admin password): chmod 700 it "
		      "or choose another --state",
		      o->state,
		      st.st_uid != geteuid() ? "owned by another user" : "writable by others");
	if (access(o->state, W_OK | X_OK) != 0)
		fatal("can't write to --state %s: %s (choose another with --state DIR)", o->state,
		      strerror(errno));
}

static void
mirror_write(const struct opts *o, const char *pw, int rotate)
{
	char *path = mirror_path(o);
	state_dir_ready(o);
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
			       "old copy kept as %s)",
			       path, bak);
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
			      "ignoring it",
			      o->state);
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
				       "reversed: run seedsec reset-dex-admin)",
				       keys[k].name);
			else if (keys[k].env)
				status("MISSING %s (set %s or pass --value %s=@FILE)", keys[k].name,
				       keys[k].env, keys[k].name);
			else
				status("MISSING %s (pass --value %s=@FILE)", keys[k].name,
				       keys[k].name);
			continue;
		}
		switch (vs->o[k]) {
		case O_GENERATED: status("CREATED %s", keys[k].name); break;
		case O_PROVIDED: status("CREATED %s (from %s)", keys[k].name, vs->from[k]); break;
		case O_MIRROR: status("EXISTS %s (from %s)", keys[k].name, vs->from[k]); break;
		case O_EXISTING: status("EXISTS %s", keys[k].name); break;
		case O_NONE: break;
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
			if ((size_t)snprintf(path, sizeof path, "%s/%s.%s", o->split, names[i],
					     ext) >= sizeof path)
				fatal("--split path too long");
			if (!path_exists(path))
				continue;
			/* a file holding exactly this object is left alone (a re-run that
			 * only adds keys); anything else is never overwritten */
			struct buf b = {0};
			emit_object(&b, o->format, objs[i]);
			size_t cn;
			char *cur = read_file(path, &cn, "split file");
			int same = cn == b.n && !memcmp(cur, b.p, cn);
			sfree(cur, cn);
			buf_free(&b);
			if (!same)
				fatal("%s already exists with other content; seedsec never "
				      "overwrites a "
				      "file; nothing written",
				      path);
		}
		make_dir(o->split, 0700);
		for (size_t i = 0; i < n; i++) {
			snprintf(path, sizeof path, "%s/%s.%s", o->split, names[i], ext);
			if (path_exists(path))
				continue;
			struct buf b = {0};
			emit_object(&b, o->format, objs[i]);
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
		items->n = 0; /* the objects belong to the caller */
		node_free(l);
	} else {
		for (size_t i = 0; i < n; i++)
			emit_object(&b, o->format, objs[i]);
	}
	if (o->output && strcmp(o->output, "-"))
		write_file_atomic(o->output, b.p ? b.p : "", b.n,
				  same_file(o->output, o->existing));
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
		static const char *const on[] = {"MISSING", "EXISTS", "CREATED", "EXISTS",
						 "CREATED"};
		const char *st = vs->v[k] ? on[vs->o[k]] : vs->needed[k] ? "MISSING" : "NOT_NEEDED";
		if (o->dry_run && keys[k].flags & (F_DEX_PW | F_DEX_HASH))
			st = "WOULD_ROTATE"; /* only reset-dex-admin takes --dry-run here */
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

/* the common back half: every value wiped, the config released */
static void
command_done(struct config *c, struct values *vs)
{
	values_free(vs);
	live_values = NULL;
	config_free(c);
}

/* the common front half: config, provided values, earlier values, gates */
static void
prepare(const struct opts *o, struct config *c, struct values *vs)
{
	config_load(c, o->config);
	live_values = vs;
	collect_provided(o, vs);
	load_existing(o, vs);
	decide_needed(o, c, vs);
	if (c->no_config)
		status("NOTE no config (environments/%s/config.yaml not found, CFG unset): "
		       "built-in "
		       "defaults, every gate off",
		       getenv("ENV") && *getenv("ENV") ? getenv("ENV") : DEFAULT_ENV);
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
		    (o->valpath[k] ||
		     (keys[k].env && getenv(keys[k].env) && *getenv(keys[k].env)))) {
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
			map_add(e, "source",
				node_str(keys[k].src == S_GEN ? "generated" : "provided"));
			map_add(e, "env", keys[k].env ? node_str(keys[k].env) : node_raw("null"));
			map_add(e, "gate", node_str(gate_names[keys[k].gate]));
			map_add(e, "needed", node_raw(vs.needed[k] ? "true" : "false"));
			map_add(e, "why", node_str(vs.why[k]));
			map_add(e, "writeOnce",
				node_raw(keys[k].flags & F_WRITE_ONCE ? "true" : "false"));
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
			buf_printf(&b,
				   "\nsecret_backend is %s: seedsec push writes only to Google "
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
	command_done(&c, &vs);
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
	if (vs.v[K_DEX_ADMIN_PASSWORD])
		state_dir_ready(o);
	render_values(o, &vs);
	if (vs.v[K_DEX_ADMIN_PASSWORD])
		mirror_write(o, vs.v[K_DEX_ADMIN_PASSWORD], 0);
	int code = vs.missing || vs.problems ? EXIT_MISSING : EXIT_OK;
	json_report(o, &vs, code);
	command_done(&c, &vs);
	return code;
}

/* reset-dex-admin --dry-run offline (plain or sealed): say what would happen */
static void
dry_rotate_report(const struct opts *o, struct values *vs)
{
	/* everything was read and checked as for the real run; nothing is made and
	 * nothing written: no -o, no --split, no stream on stdout, the mirror as it is */
	if (o->output && strcmp(o->output, "-") && path_exists(o->output) &&
	    !same_file(o->output, o->existing))
		fatal("%s already exists; seedsec never overwrites a file (remove it, or pass it "
		      "as --existing)",
		      o->output);
	status("WOULD-ROTATE dex-admin-password and dex-admin-hash (nothing written)");
	json_report(o, vs, EXIT_OK);
}

/* offline: the whole earlier stream with a new Dex password and hash */
static int
cmd_reset_dex_admin_offline(const struct opts *o)
{
	struct config c;
	struct values vs = {0};
	prepare(o, &c, &vs);
	/* the mirror must be usable before the stream is rewritten: a new
	 * password written nowhere else would lock the admin out */
	sfree_str(mirror_read(o));
	if (o->dry_run) {
		vs.needed[K_DEX_ADMIN_PASSWORD] = vs.needed[K_DEX_ADMIN_HASH] = 1;
		dry_rotate_report(o, &vs);
		command_done(&c, &vs);
		return EXIT_OK;
	}
	value_set(&vs, K_DEX_ADMIN_PASSWORD, gen_value(K_DEX_ADMIN_PASSWORD), O_GENERATED, NULL);
	value_set(&vs, K_DEX_ADMIN_HASH, dex_hash_for(vs.v[K_DEX_ADMIN_PASSWORD], o->bcrypt_cost),
		  O_GENERATED, NULL);
	vs.needed[K_DEX_ADMIN_PASSWORD] = vs.needed[K_DEX_ADMIN_HASH] = 1;
	report_values(o, &vs);
	state_dir_ready(o);
	render_values(o, &vs);
	mirror_write(o, vs.v[K_DEX_ADMIN_PASSWORD], 1);
	status("ROTATED dex-admin-password and dex-admin-hash (mirrored to %s/dex-admin-password)",
	       o->state);
	int code = vs.missing || vs.problems ? EXIT_MISSING : EXIT_OK;
	json_report(o, &vs, code);
	command_done(&c, &vs);
	return code;
}

static int cmd_push(const struct opts *o);
static int cmd_reset_dex_admin_gsm(const struct opts *o);
static int seal_run(const struct opts *o, int rotate);

static int
cmd_reset_dex_admin(const struct opts *o)
{
	if (o->cert)
		return seal_run(o, 1);
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

/*
 * bcrypt --verify HASH: a HASH that is no bcrypt hash is a usage error, said
 * before the password is asked for, never a "mismatch". The usual cause is
 * a shell that expanded "$2y$10$..." inside double quotes ($2, $10: empty).
 */
static void
verify_hash_usable(const char *h)
{
	static const char quotes[] =
		" (in double quotes a shell expands $2y$10$... to something else: put the hash "
		"in single quotes)";
	size_t n = strlen(h);
	int shaped = n >= 7 && h[0] == '$' && h[1] == '2' &&
		     (h[2] == 'a' || h[2] == 'b' || h[2] == 'y') && h[3] == '$' &&
		     isdigit((unsigned char)h[4]) && isdigit((unsigned char)h[5]) && h[6] == '$';
	if (n == 0)
		fatal("bcrypt --verify: the hash is empty, not a bcrypt hash%s", quotes);
	if (!shaped)
		fatal("bcrypt --verify: not a bcrypt hash: it does not start with $2a$, $2b$ or "
		      "$2y$ and a two-digit cost%s",
		      strchr(h, '$') && n >= 7 ? "" : quotes);
	if (n != BCRYPT_HASH_LEN)
		fatal("bcrypt --verify: not a bcrypt hash: %zu characters, a bcrypt hash has "
		      "%d%s",
		      n, BCRYPT_HASH_LEN,
		      n < BCRYPT_HASH_LEN ? "" : " (check for surrounding whitespace)");
	for (size_t i = 7; i < n; i++)
		if (bc64_val(h[i]) < 0)
			fatal("bcrypt --verify: not a bcrypt hash: character %zu is outside "
			      "bcrypt's alphabet [./A-Za-z0-9]",
			      i + 1);
	int cost = (h[4] - '0') * 10 + (h[5] - '0');
	if (cost < 4 || cost > 31)
		fatal("bcrypt --verify: not a bcrypt hash: cost %d is outside bcrypt's 4..31",
		      cost);
	if (cost > BCRYPT_MAX_COST)
		fatal("bcrypt --verify: the hash has cost %d, which Dex refuses (it accepts "
		      "%d..%d); not checked: each step of cost doubles the time, and this one "
		      "would take %ld times as long as cost %d (cost 31: hours); refused",
		      cost, BCRYPT_MIN_COST, BCRYPT_MAX_COST, 1L << (cost - BCRYPT_MAX_COST),
		      BCRYPT_MAX_COST);
}

static int
cmd_bcrypt(const struct opts *o)
{
	if (o->verify)
		verify_hash_usable(o->verify);
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
		status("%s",
		       ok ? "ok: the password matches" : "mismatch: the password does not match");
		if (ok && !bcrypt_hash_wellformed(o->verify, strlen(o->verify), &why))
			warnx("the hash %s", why);
	} else {
		if (n == 0) {
			sfree(pw, n);
			fatal("bcrypt: empty password");
		}
		char *h = bcrypt_hash(pw, n, o->bcrypt_cost); /* verified against pw in there */
		struct buf line = {0};
		buf_printf(&line, "%s\n", h);
		sfree_str(h);
		sfree(pw, n); /* wiped before a write that may fail (and exit) */
		pw = NULL;
		n = 0;
		write_stdout(line.p, line.n);
		buf_free(&line);
	}
	sfree(pw, n);
	return code;
}

/* ---- push (GSM) -------------------------------------------------------- */

/* --json: one report of what happened to each key */
static void
gsm_report(struct gsm *g, const struct values *vs, const struct opts *o, int code)
{
	if (!o->json)
		return;
	struct node *r = node_new(N_MAP, 0);
	map_add(r, "command", node_str(o->cmd));
	map_add(r, "project", node_str(g->project));
	map_add(r, "endpoint", node_str(g->endpoint));
	map_add(r, "location", g->location ? node_str(g->location) : node_raw("null"));
	map_add(r, "dryRun", node_raw(o->dry_run ? "true" : "false"));
	struct node *ks = map_add(r, "keys", node_new(N_SEQ, 0));
	for (int k = 0; k < NKEYS; k++) {
		struct node *e = seq_add(ks, node_new(N_MAP, 0));
		map_add(e, "name", node_str(keys[k].name));
		map_add(e, "needed", node_raw(vs->needed[k] ? "true" : "false"));
		char st[32];
		snprintf(st, sizeof st, "%s", pstat_word[g->st[k]]);
		for (char *p = st; *p; p++)
			if (*p == '-')
				*p = '_';
		if (!vs->needed[k] && g->st[k] == P_NOT_NEEDED)
			map_add(e, "status", node_str("NOT_NEEDED"));
		else
			map_add(e, "status", node_str(g->st[k] == P_NOT_NEEDED ? "SKIPPED" : st));
		map_add(e, "detail", node_str(g->detail[k] ? g->detail[k] : ""));
		char num[24];
		snprintf(num, sizeof num, "%ld", g->version[k]);
		map_add(e, "version", g->version[k] ? node_raw(num) : node_raw("null"));
	}
	char num[24];
	snprintf(num, sizeof num, "%lu", g->h.requests);
	map_add(r, "requests", node_raw(num));
	snprintf(num, sizeof num, "%lu", g->h.connects);
	map_add(r, "connections", node_raw(num));
	snprintf(num, sizeof num, "%lu", g->retries);
	map_add(r, "retries", node_raw(num));
	snprintf(num, sizeof num, "%d", code);
	map_add(r, "exit", node_raw(num));
	struct buf b = {0};
	json_emit(&b, r, 0);
	buf_putc(&b, '\n');
	write_stdout(b.p, b.n);
	buf_free(&b);
	node_free(r);
}

/* the value an absent key gets: earlier (--existing), supplied, or new */
static const char *
push_value(struct values *vs, int k, const char **from)
{
	*from = NULL;
	if (!vs->v[k] && keys[k].src == S_GEN && !(keys[k].flags & (F_DEX_PW | F_DEX_HASH)))
		value_set(vs, k, gen_value(k), O_GENERATED, NULL);
	if (vs->v[k] && vs->o[k] != O_GENERATED)
		*from = vs->from[k];
	return vs->v[k];
}

/*
 * A value supplied for a key GSM already holds is never used; say so only
 * when it differs from the stored one (stored: the enabled version, or NULL
 * when there is none to compare with).
 */
static void
provided_vs_stored(const struct values *vs, int k, const char *stored, size_t n)
{
	if (!vs->v[k] || vs->o[k] != O_PROVIDED)
		return;
	if (!stored)
		warnx("%s exists in GSM; the value from %s was not used (seedsec never replaces "
		      "a value)",
		      keys[k].name, vs->from[k]);
	else if (strlen(vs->v[k]) != n || memcmp(vs->v[k], stored, n))
		warnx("%s exists in GSM with a different value; the stored value was kept and the "
		      "one from %s not used (seedsec never replaces a value)",
		      keys[k].name, vs->from[k]);
}

static void
push_key(struct gsm *g, struct values *vs, int k)
{
	struct gkey gk;
	g->cur = k;
	gsm_inspect(g, k, &gk);
	char how[200];
	missing_how(k, how, sizeof how);
	const char *from = NULL, *val = NULL;
	char *stored = NULL;
	size_t sn = 0;
	if (!gk.exists || !gk.latest)
		val = g->dry_run && keys[k].src == S_GEN ? "" : push_value(vs, k, &from);
	else if (vs->v[k] && vs->o[k] == O_PROVIDED) {
		/* only then is the stored value read: to compare the two */
		if (gk.enabled)
			stored = gsm_access(g, k, gk.enabled, &sn);
		provided_vs_stored(vs, k, stored, sn);
	}
	/* a repair re-adds the enabled version's value: the one just read */
	push_apply(g, k, &gk, val, val && *val ? from : NULL, stored, sn, how);
	if (stored)
		sfree(stored, sn);
}

/* gsm_list callback: the newest few ENABLED versions of the password */
struct enabled_few {
	long v[4];
	int n;
};

static int
enabled_few_each(struct gsm *g, int k, const struct gver *v, void *ctx)
{
	(void)g;
	(void)k;
	struct enabled_few *f = ctx;
	if (!strcmp(v->state, "ENABLED"))
		f->v[f->n++] = v->num;
	return f->n == 4;
}

/*
 * The hash does not match the latest password: which enabled version of
 * dex-admin-password (among the newest four) does it match? That one logs
 * in. NULL if none.
 */
static char *
hash_owner(struct gsm *g, const char *hash, size_t hashn, size_t *pwn, long *ver)
{
	const int P = K_DEX_ADMIN_PASSWORD;
	struct enabled_few f = {{0}, 0};
	g->cur = P;
	gsm_list(g, P, enabled_few_each, &f);
	for (int i = 0; i < f.n; i++) {
		size_t n;
		char *c = gsm_access(g, P, f.v[i], &n);
		if (strlen(c) == n && strlen(hash) == hashn && bcrypt_verify(c, n, hash, hashn)) {
			*pwn = n;
			*ver = f.v[i];
			return c;
		}
		sfree(c, n);
	}
	*pwn = 0;
	return NULL;
}

/*
 * The pair was settled next to another run (its hash was there first, or
 * appeared while this run was creating it): it must match the password.
 */
static void
push_hash_check(struct gsm *g, struct values *vs)
{
	const int P = K_DEX_ADMIN_PASSWORD, H = K_DEX_ADMIN_HASH;
	char *h = g->adopted[H];
	size_t hn = g->adopted_n[H];
	g->adopted[H] = NULL;
	if (!h && g->st[H] == P_EXISTS && g->version[H]) {
		g->cur = H;
		h = gsm_access(g, H, g->version[H], &hn);
	}
	if (!h)
		return;
	const char *p = vs->v[P];
	if (strlen(h) != hn || !bcrypt_verify(p, strlen(p), h, hn))
		gsm_result(g, H, P_MISMATCH,
			   "does not match dex-admin-password; both kept; run seedsec "
			   "reset-dex-admin");
	sfree(h, hn);
}

/*
 * The Dex admin pair. Both there: verify the hash against the password
 * (a mismatch is reported, never overwritten). Password only: make the
 * hash from it. Hash only: a legacy state only reset-dex-admin can fix.
 * Neither: an earlier/mirrored password or a new one, then its hash. The
 * password is mirrored to the state dir whenever it is known.
 */
static void
push_dex(struct gsm *g, const struct opts *o, struct values *vs)
{
	const int P = K_DEX_ADMIN_PASSWORD, H = K_DEX_ADMIN_HASH;
	int dry = o->dry_run;
	struct gkey gp, gh;
	g->cur = P;
	gsm_inspect(g, P, &gp);
	g->cur = H;
	gsm_inspect(g, H, &gh);
	int p_has = gp.enabled > 0, h_has = gh.enabled > 0;
	int p_dead = gp.latest && !gp.enabled, h_dead = gh.latest && !gh.enabled;
	char *pw = NULL, *hash = NULL;
	size_t pwn = 0, hashn = 0;
	long pver = gp.enabled;
	if (p_has && !h_has && !dry) {
		/* a password with several enabled versions and no hash yet: first
		 * pushes of other runs are settling (the loser's version is about
		 * to be disabled): the first enabled version is the one that wins */
		struct enabled_span sp = {0, 0};
		g->cur = P;
		gsm_list(g, P, enabled_span_each, &sp);
		if (sp.count > 1)
			pver = sp.oldest;
	}
	if (p_has) {
		g->cur = P;
		pw = gsm_access(g, P, pver, &pwn);
		if (strlen(pw) != pwn)
			gsm_fail(g, "the stored dex-admin-password contains a NUL byte");
	}
	if (h_has) {
		g->cur = H;
		hash = gsm_access(g, H, gh.enabled, &hashn);
	}
	if (p_has)
		provided_vs_stored(vs, P, pw, pwn);
	if (h_has)
		provided_vs_stored(vs, H, hash, hashn);
	if (p_has && h_has) {
		int match = strlen(hash) == hashn && bcrypt_verify(pw, pwn, hash, hashn);
		push_apply(g, P, &gp, NULL, NULL, pw, pwn, "");
		if (!match) {
			if (!dry && gh.latest != gh.enabled)
				push_apply(g, H, &gh, NULL, NULL, hash, hashn, "");
			/* the mirror gets the password that logs in (an older enabled
			 * version the hash matches), or is left alone */
			sfree(pw, pwn);
			long owner = 0;
			pw = hash_owner(g, hash, hashn, &pwn, &owner);
			g->cur = H;
			if (pw)
				gsm_result(
					g, H, P_MISMATCH,
					"does not match the latest dex-admin-password; it matches "
					"version %ld, which is mirrored; another run may still be "
					"settling the pair: push again, and if this stays, run "
					"seedsec reset-dex-admin",
					owner);
			else
				gsm_result(g, H, P_MISMATCH,
					   "does not match dex-admin-password; both kept; "
					   "run seedsec reset-dex-admin");
		} else {
			push_apply(g, H, &gh, NULL, NULL, hash, hashn, "");
		}
	} else if (p_has) {
		push_apply(g, P, &gp, NULL, NULL, pw, pwn, "");
		char *nh = dry || h_dead ? NULL : dex_hash_for(pw, o->bcrypt_cost);
		push_apply(g, H, &gh, dry ? "" : nh, NULL, NULL, 0, "");
		sfree_str(nh);
	} else if (h_has) {
		push_apply(g, P, &gp, NULL, NULL, NULL, 0,
			   "only dex-admin-hash exists and a hash cannot be reversed: run seedsec "
			   "reset-dex-admin");
		push_apply(g, H, &gh, NULL, NULL, hash, hashn, "");
	} else if (p_dead || h_dead) {
		push_apply(g, P, &gp, NULL, NULL, NULL, 0,
			   "dex-admin-hash has no usable version "
			   "either: run seedsec reset-dex-admin");
		push_apply(g, H, &gh, NULL, NULL, NULL, 0,
			   "dex-admin-password has no usable "
			   "version: run seedsec reset-dex-admin");
	} else if (dry) {
		push_apply(g, P, &gp, "", NULL, NULL, 0, "");
		push_apply(g, H, &gh, "", NULL, NULL, 0, "");
	} else {
		/* neither: an earlier or mirrored password wins over a new one */
		const char *from = NULL;
		if (!vs->v[P]) {
			char *m = mirror_read(o);
			if (m && !rule_violation(P, m, strlen(m), 0)) {
				char *mp = mirror_path(o);
				value_set(vs, P, m, O_MIRROR, mp);
				free(mp);
			} else {
				sfree_str(m);
				value_set(vs, P, gen_value(P), O_GENERATED, NULL);
			}
		}
		if (vs->o[P] != O_GENERATED)
			from = vs->from[P];
		const char *p = vs->v[P];
		if (!vs->v[H] || !bcrypt_verify(p, strlen(p), vs->v[H], strlen(vs->v[H])))
			value_set(vs, H, dex_hash_for(p, o->bcrypt_cost), O_GENERATED, NULL);
		mirror_write(o, p, 0);
		push_apply(g, P, &gp, p, from, NULL, 0, "");
		if (!g->adopted[P] && g->st[P] != P_CREATED && g->version[P]) {
			/* found there after all (other runs' first pushes): the first
			 * enabled version is the one that wins; a newer one may be a
			 * loser's, about to be disabled */
			struct enabled_span sp = {0, 0};
			gsm_list(g, P, enabled_span_each, &sp);
			size_t sn;
			char *sv = gsm_access(g, P, sp.oldest ? sp.oldest : g->version[P], &sn);
			if (sn == strlen(p) && !memcmp(sv, p, sn)) {
				sfree(sv, sn);
			} else {
				g->adopted[P] = sv;
				g->adopted_n[P] = sn;
			}
		}
		if (g->adopted[P]) { /* another run's password won: its hash, its mirror */
			value_set(vs, P, g->adopted[P], O_EXISTING, NULL);
			g->adopted[P] = NULL;
			p = vs->v[P];
			if (strlen(p) != g->adopted_n[P])
				gsm_fail(g, "the stored dex-admin-password contains a NUL byte");
			value_set(vs, H, dex_hash_for(p, o->bcrypt_cost), O_GENERATED, NULL);
			mirror_write(o, p, 0);
		}
		push_apply(g, H, &gh, vs->v[H], NULL, NULL, 0, "");
		push_hash_check(g, vs);
	}
	if (pw && !dry)
		mirror_write(o, pw, 0);
	if (pw)
		sfree(pw, pwn);
	if (hash)
		sfree(hash, hashn);
	g->cur = -1;
}

/* push and reset-dex-admin write only to GSM: anything else is refused with the key list */
static void
gsm_backend_check(const struct opts *o, const struct config *c, const struct values *vs)
{
	if (!strcmp(c->backend, "gcpsm"))
		return;
	fprintf(stderr,
		"%s: %s writes only to Google Secret Manager (gcpsm), and secret_backend "
		"is %s (%s).\nCreate these keys in your backend yourself:\n",
		progname, o->cmd, c->backend, c->path ? c->path : "config");
	for (int k = 0; k < NKEYS; k++)
		if (vs->needed[k])
			fprintf(stderr, "  %s\n", keys[k].name);
	fprintf(stderr,
		"per the ESO provider docs: %s\n(or use the ESO Kubernetes provider: "
		"seedsec store, render, seal)\n",
		ESO_PROVIDER_DOCS);
	fatal("%s: refused: secret_backend is %s, not gcpsm; nothing written", o->cmd, c->backend);
}

struct push_ctx {
	const struct opts *o;
	const struct values *vs;
};

static void
push_on_fail(struct gsm *g)
{
	const struct push_ctx *x = g->ctx;
	gsm_report(g, x->vs, x->o, EXIT_ERROR);
}

/* open GSM for a command: project from --project, the config, the environment */
static void
push_open(struct gsm *g, const struct opts *o, const struct config *c, struct push_ctx *x)
{
	char from[PATH_MAX + 32] = "";
	const char *p = NULL, *e;
	if (o->project && *o->project) {
		p = o->project;
		snprintf(from, sizeof from, "--project");
	} else if (c->project && *c->project) {
		p = c->project;
		snprintf(from, sizeof from, "cluster.projectID in %s", c->path);
	} else if ((e = getenv("CLOUDSDK_CORE_PROJECT")) && *e) {
		p = e;
		snprintf(from, sizeof from, "CLOUDSDK_CORE_PROJECT");
	} else if ((e = getenv("GOOGLE_CLOUD_PROJECT")) && *e) {
		p = e;
		snprintf(from, sizeof from, "GOOGLE_CLOUD_PROJECT");
	}
	struct gsm_params gp = {o->cmd,     o->endpoint, o->location, o->token_file, o->credentials,
				o->ca_file, p,           from,        o->timeout,    o->dry_run};
	gsm_open(g, &gp);
	g->on_fail = push_on_fail;
	g->ctx = x;
}

static int
cmd_push(const struct opts *o)
{
	struct config c;
	struct values vs = {0};
	prepare(o, &c, &vs);
	gsm_backend_check(o, &c, &vs);
	struct gsm g;
	struct push_ctx x = {o, &vs};
	push_open(&g, o, &c, &x);
	if (vs.needed[K_DEX_ADMIN_PASSWORD] && !o->dry_run) {
		state_dir_ready(o); /* before anything is written: the mirror must work */
		sfree_str(mirror_read(o));
	}
	for (int k = 0; k < NKEYS; k++) {
		if (!vs.needed[k] || (keys[k].flags & F_DEX_HASH))
			continue;
		if (keys[k].flags & F_DEX_PW)
			push_dex(&g, o, &vs);
		else
			push_key(&g, &vs, k);
	}
	/* the hash alone (the password's gate off): only report */
	if (vs.needed[K_DEX_ADMIN_HASH] && !vs.needed[K_DEX_ADMIN_PASSWORD]) {
		struct gkey gk;
		g.cur = K_DEX_ADMIN_HASH;
		gsm_inspect(&g, K_DEX_ADMIN_HASH, &gk);
		push_apply(&g, K_DEX_ADMIN_HASH, &gk, NULL, NULL, NULL, 0,
			   "dex-admin-password is not needed, so no hash can be made");
	}
	g.cur = -1;
	int code = g.missing || g.problems || vs.problems ? EXIT_MISSING : EXIT_OK;
	gsm_report(&g, &vs, o, code);
	gsm_close(&g);
	command_done(&c, &vs);
	return code;
}

/* new Dex password and hash as new GSM versions: password first, then hash */
static int
cmd_reset_dex_admin_gsm(const struct opts *o)
{
	const int P = K_DEX_ADMIN_PASSWORD, H = K_DEX_ADMIN_HASH;
	struct config c;
	struct values vs = {0};
	prepare(o, &c, &vs);
	vs.needed[P] = vs.needed[H] = 1;
	gsm_backend_check(o, &c, &vs);
	struct gsm g;
	struct push_ctx x = {o, &vs};
	push_open(&g, o, &c, &x);
	struct gkey gp, gh;
	g.cur = P;
	gsm_inspect(&g, P, &gp);
	g.cur = H;
	gsm_inspect(&g, H, &gh);
	if (o->dry_run) {
		gsm_result(&g, P, P_WOULD_ROTATE, "would add a new password as version %ld",
			   gp.latest + 1);
		gsm_result(&g, H, P_WOULD_ROTATE, "would add its hash as version %ld",
			   gh.latest + 1);
	} else {
		/* the mirror must be writable before the first version is added */
		state_dir_ready(o);
		sfree_str(mirror_read(o));
		value_set(&vs, P, gen_value(P), O_GENERATED, NULL);
		value_set(&vs, H, dex_hash_for(vs.v[P], o->bcrypt_cost), O_GENERATED, NULL);
		const int ks[2] = {P, H};
		const struct gkey *gks[2] = {&gp, &gh};
		for (int i = 0; i < 2; i++) {
			int k = ks[i];
			g.cur = k;
			if (!gks[i]->exists)
				gsm_create(&g, k);
			g.version[k] = gsm_add(&g, k, vs.v[k], strlen(vs.v[k]), gks[i]->latest);
			if (k == P) {
				mirror_write(o, vs.v[P], 1);
				gsm_result(&g, P, P_ROTATED,
					   "version %ld; mirrored to %s/dex-admin-password",
					   g.version[P], o->state);
			} else {
				gsm_result(&g, H, P_ROTATED, "version %ld", g.version[H]);
			}
		}
	}
	g.cur = -1;
	gsm_report(&g, &vs, o, EXIT_OK);
	gsm_close(&g);
	command_done(&c, &vs);
	return EXIT_OK;
}

/* ---- check ------------------------------------------------------------- */

/*
 * Judge a set of stored values against the contract: every needed key
 * present, its consumer's rule holds, the Dex hash matches the password.
 * One line per problem, naming the key and the rule, never the value.
 * The rules are rule_violation(), the same code generation self-checks with.
 */
static int
check_values(const struct opts *o, struct values *vs, const char *where, char *const pre[NKEYS])
{
	int problems = 0;
	struct node *r = node_new(N_MAP, 0);
	map_add(r, "command", node_str("check"));
	map_add(r, "source", node_str(where));
	struct node *ks = map_add(r, "keys", node_new(N_SEQ, 0));
	for (int k = 0; k < NKEYS; k++) {
		const char *bad = NULL, *state = "OK";
		char why[256] = "";
		if (!vs->needed[k] && !vs->v[k] && !(pre && pre[k]))
			continue;
		if (pre && pre[k]) {
			state = "BAD";
			snprintf(why, sizeof why, "%s", pre[k]);
		} else if (!vs->v[k]) {
			state = "MISSING";
			if (keys[k].env)
				snprintf(why, sizeof why,
					 "needed: %s; set %s or pass --value %s=@FILE", vs->why[k],
					 keys[k].env, keys[k].name);
			else
				snprintf(why, sizeof why,
					 "needed: %s; seedsec render or push creates it",
					 vs->why[k]);
		} else if ((bad = rule_violation(k, vs->v[k], strlen(vs->v[k]), 0))) {
			state = "BAD";
			snprintf(why, sizeof why, "%s", bad);
		} else if ((keys[k].flags & F_DEX_HASH) && vs->v[K_DEX_ADMIN_PASSWORD] &&
			   !bcrypt_verify(vs->v[K_DEX_ADMIN_PASSWORD],
					  strlen(vs->v[K_DEX_ADMIN_PASSWORD]), vs->v[k],
					  strlen(vs->v[k]))) {
			state = "BAD";
			snprintf(why, sizeof why,
				 "does not match dex-admin-password "
				 "(run seedsec reset-dex-admin)");
		} else if ((keys[k].flags & F_DEX_HASH) && !vs->v[K_DEX_ADMIN_PASSWORD]) {
			state = "BAD";
			snprintf(why, sizeof why,
				 "no dex-admin-password to verify it against: the "
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
	int code = check_values(o, &vs, o->existing, NULL);
	command_done(&c, &vs);
	return code;
}

/*
 * check against GSM: reads only. Per needed key: the secret exists, its
 * latest version is ENABLED, and the value there passes the same rules.
 */
static int
cmd_check_gsm(const struct opts *o)
{
	if (o->output || o->split)
		usage("check writes nothing: no -o or --split");
	struct config c;
	struct values vs = {0};
	char *pre[NKEYS] = {0};
	config_load(&c, o->config);
	live_values = &vs;
	decide_needed(o, &c, &vs);
	gsm_backend_check(o, &c, &vs);
	struct gsm g;
	struct push_ctx x = {o, &vs};
	push_open(&g, o, &c, &x);
	g.on_fail = NULL;
	for (int k = 0; k < NKEYS; k++) {
		if (!vs.needed[k])
			continue;
		struct gkey gk;
		char why[256] = "";
		g.cur = k;
		gsm_inspect(&g, k, &gk);
		if (!gk.exists)
			continue; /* MISSING, with how to provide it */
		if (!gk.latest)
			snprintf(why, sizeof why,
				 "the secret exists in %s but has no version "
				 "(seedsec push adds one)",
				 g.project);
		else if (strcmp(gk.latest_state, "ENABLED"))
			snprintf(why, sizeof why, "latest version %ld is %s%s", gk.latest,
				 gk.latest_state,
				 gk.enabled ? " (seedsec push re-adds the newest "
					      "enabled version)"
					    : "; no enabled version is left");
		if (*why) {
			pre[k] = xstrdup(why);
			continue;
		}
		size_t n;
		char *v = gsm_access(&g, k, gk.latest, &n);
		if (memchr(v, 0, n)) {
			pre[k] = xstrdup("contains a NUL byte");
			sfree(v, n);
			continue;
		}
		char from[64];
		snprintf(from, sizeof from, "version %ld", gk.latest);
		value_set(&vs, k, v, O_EXISTING, from);
	}
	g.cur = -1;
	char where[1300];
	snprintf(where, sizeof where, "GSM project %s", g.project);
	int code = check_values(o, &vs, where, pre);
	for (int k = 0; k < NKEYS; k++)
		free(pre[k]);
	gsm_close(&g);
	command_done(&c, &vs);
	return code;
}

/* ---- seal -------------------------------------------------------------- */

/*
 * --existing for seal: plain Secrets (values reused, as render) or the
 * SealedSecrets of an earlier seal, which are copied through byte for byte
 * (their values cannot be read back); only keys without one are sealed.
 */
struct seal_in {
	const char *label; /* the --existing path, or <stdin> */
	char *src;         /* its bytes (may hold plain values: wiped) */
	size_t n;
	struct docs ds;
	int json;               /* the stream is JSON, not YAML */
	char **files;           /* --existing DIR: its files (each document names its own) */
	size_t nfiles, njson;   /* ... and how many of them are JSON */
	size_t nsealed, nplain; /* SealedSecret and Secret objects seen */
	int doc[NKEYS];         /* 1 + index of the key's SealedSecret document, or 0 */
};

static int
stream_is_json(const char *src, size_t n)
{
	size_t i = n >= 3 && !memcmp(src, "\xef\xbb\xbf", 3) ? 3 : 0;
	while (i < n && isspace((unsigned char)src[i]))
		i++;
	return i < n && (src[i] == '{' || src[i] == '[');
}

/* "FILE: document N (line L)" for document i of --existing */
static void
seal_doc_where(const struct seal_in *in, size_t i, char *out, size_t n)
{
	const struct doc *d = &in->ds.d[i];
	snprintf(out, n, "%s: document %zu (line %d)", d->file ? d->file : in->label,
		 d->file ? d->index : i + 1, d->line);
}

/*
 * --existing DIR (a --split layout kept in git): every *.yaml, *.yml and
 * *.json file in it, in name order, read as one stream. Each file is parsed
 * on its own (errors name it and its line); its bytes join one buffer, a
 * '---' put before a YAML file that does not start a document itself, and
 * each document keeps its file, its number there and its span in the buffer.
 */
static void
seal_read_dir(const char *dir, struct seal_in *in)
{
	in->files = manifest_files_in(dir, &in->nfiles, 1);
	struct buf all = {0};
	for (size_t f = 0; f < in->nfiles; f++) {
		size_t n;
		char *src = read_file(in->files[f], &n, "existing values");
		size_t bom = n >= 3 && !memcmp(src, "\xef\xbb\xbf", 3) ? 3 : 0;
		struct docs one = {0};
		parse_stream(src + bom, n - bom, in->files[f], &one);
		int json = stream_is_json(src + bom, n - bom);
		in->njson += json && one.n;
		if (one.n && all.n && all.p[all.n - 1] != '\n')
			buf_putc(&all, '\n');
		if (one.n && all.n && !json &&
		    (one.d[0].end - one.d[0].start < 3 ||
		     memcmp(src + bom + one.d[0].start, "---", 3)))
			buf_puts(&all, "---\n");
		size_t base = all.n;
		if (one.n)
			buf_add(&all, src + bom, n - bom);
		for (size_t j = 0; j < one.n; j++) {
			one.d[j].start += base;
			one.d[j].end += base;
			one.d[j].file = in->files[f];
			one.d[j].index = j + 1;
			docs_push(&in->ds, one.d[j]);
		}
		free(one.d);
		sfree(src, n);
	}
	in->src = buf_take(&all, &in->n);
	in->json = in->njson > 0;
}

/* a plain Secret of --existing: it must name the namespace the values are sealed for */
static void
seal_check_plain(const struct opts *o, const struct sealer *s, struct node *obj, const char *where)
{
	const char *kind = map_str(obj, "kind"), *api = map_str(obj, "apiVersion");
	if (obj->kind != N_MAP || !kind || strcmp(kind, "Secret") || !api || strcmp(api, "v1"))
		fatal("%s: expected a v1 Secret or a %s SealedSecret (kind %s)", where, SEAL_API,
		      kind ? kind : "missing");
	struct node *md = map_get(obj, "metadata");
	const char *name = map_str(md, "name"), *ns = map_str(md, "namespace");
	if (!name || !*name)
		fatal("%s: Secret without metadata.name", where);
	if (key_lookup(name, strlen(name)) < 0)
		return; /* not a key of the contract: reported IGNORED, never sealed */
	if ((!ns || !*ns) && s->scope != SCOPE_CLUSTER)
		fatal("%s: Secret %s has no metadata.namespace; a %s sealed value is bound to its "
		      "namespace and seal does not guess one: add namespace: %s to it if that is "
		      "where it belongs; nothing written",
		      where, name, scope_names[s->scope], o->ns);
	if (ns && *ns && strcmp(ns, o->ns))
		fatal("%s: Secret %s is in namespace %s, but seal writes into %s: pass --namespace "
		      "%s, or move the Secret; nothing written",
		      where, name, ns, o->ns, ns);
}

/* a SealedSecret of --existing: kept as it is, if it was sealed for where we seal */
static void
seal_check_sealed(const struct opts *o, const struct sealer *s, struct seal_in *in, size_t i,
		  const char *where)
{
	struct node *obj = in->ds.d[i].root;
	const char *api = map_str(obj, "apiVersion");
	if (!api || strcmp(api, SEAL_API))
		fatal("%s: a SealedSecret of apiVersion %s; expected %s", where,
		      api ? api : "(none)", SEAL_API);
	struct node *md = map_get(obj, "metadata");
	const char *name = map_str(md, "name"), *ns = map_str(md, "namespace");
	if (!name || !*name)
		fatal("%s: SealedSecret without metadata.name", where);
	if (!ns || !*ns)
		fatal("%s: SealedSecret %s has no metadata.namespace; every SealedSecret must "
		      "carry "
		      "the namespace it was sealed for; nothing written",
		      where, name);
	if (strcmp(ns, o->ns))
		fatal("%s: SealedSecret %s was sealed for namespace %s, but seal writes into %s: "
		      "pass --namespace %s; nothing written",
		      where, name, ns, o->ns, ns);
	enum seal_scope sc = seal_scope_of(obj);
	if (sc != s->scope)
		fatal("%s: SealedSecret %s has scope %s, but --scope is %s: pass --scope %s so the "
		      "file keeps one scope; nothing written",
		      where, name, scope_names[sc], scope_names[s->scope], scope_names[sc]);
	int k = key_lookup(name, strlen(name));
	if (k < 0) {
		status("IGNORED %s (%s: not a key of the contract; copied through)", name, where);
		return;
	}
	if (in->doc[k])
		fatal("%s: a second SealedSecret named %s", where, name);
	const struct node *v = map_get(node_path(obj, "spec.encryptedData"), o->property);
	if (!v || v->kind != N_SCALAR)
		fatal("%s: SealedSecret %s has no encryptedData.%s (see --property); seal adds "
		      "whole documents, never keys inside a sealed one; nothing written",
		      where, name, o->property);
	size_t dn = 0;
	unsigned char *d = b64_decode(v->s, v->len, &dn);
	if (!d || dn < 2 || dn < 2 + (size_t)(d[0] << 8 | d[1]) + SEAL_TAG)
		warnx("%s: SealedSecret %s: encryptedData.%s is not a sealed value; copied through "
		      "as it is",
		      where, name, o->property);
	free(d);
	in->doc[k] = (int)i + 1;
}

/* classify --existing: plain Secrets, or SealedSecrets (never both) */
static void
seal_scan(const struct opts *o, const struct sealer *s, struct seal_in *in)
{
	for (size_t i = 0; i < in->ds.n; i++) {
		struct node *r = in->ds.d[i].root;
		char where[PATH_MAX + 64];
		seal_doc_where(in, i, where, sizeof where);
		if (!r || scalar_is_null(r))
			continue;
		if (r->kind != N_MAP)
			fatal("%s: not a Kubernetes object", where);
		const char *kind = map_str(r, "kind");
		if (kind && !strcmp(kind, "SealedSecret")) {
			seal_check_sealed(o, s, in, i, where);
			in->nsealed++;
		} else if (kind && !strcmp(kind, "List")) {
			struct node *items = map_get(r, "items");
			if (!items || items->kind != N_SEQ)
				fatal("%s: a List without items", where);
			for (size_t j = 0; j < items->n; j++) {
				char w2[PATH_MAX + 96];
				snprintf(w2, sizeof w2, "%s item %zu", where, j + 1);
				const char *ik = map_str(items->v[j], "kind");
				if (ik && !strcmp(ik, "SealedSecret"))
					fatal("%s: a SealedSecret inside a List cannot be copied "
					      "through "
					      "byte for byte; give the sealed file itself",
					      w2);
				seal_check_plain(o, s, items->v[j], w2);
				in->nplain++;
			}
		} else {
			seal_check_plain(o, s, r, where);
			in->nplain++;
		}
	}
	if (in->nsealed && in->nplain)
		fatal("%s: mixes SealedSecrets and plain Secrets; give one or the other",
		      in->label);
	if (in->nsealed && in->njson && in->njson < in->nfiles)
		fatal("%s: mixes JSON and YAML files of SealedSecrets; new documents would not "
		      "know which form to take; nothing written",
		      in->label);
}

/*
 * The front half of seal: prepare(), except that --existing is read here,
 * once (it may be stdin) and may hold SealedSecrets. A key already sealed
 * gets an empty placeholder value, origin existing: it is reported EXISTS,
 * never generated and never sealed again.
 */
static void
seal_prepare(const struct opts *o, struct config *c, struct values *vs, struct sealer *s,
	     struct seal_in *in)
{
	config_load(c, o->config);
	live_values = vs;
	collect_provided(o, vs);
	if (o->existing) {
		struct stat st;
		in->label = strcmp(o->existing, "-") ? o->existing : "<stdin>";
		if (strcmp(o->existing, "-") && stat(o->existing, &st) == 0 &&
		    S_ISDIR(st.st_mode)) {
			seal_read_dir(o->existing, in);
		} else {
			in->src = read_file(o->existing, &in->n, "existing values");
			in->json = stream_is_json(in->src, in->n);
			parse_stream(in->src, in->n, in->label, &in->ds);
		}
		seal_scan(o, s, in);
		if (!in->nsealed) {
			existing_values(o, vs, &in->ds, in->label);
			sfree(in->src, in->n);
			in->src = NULL;
			docs_free(&in->ds);
		}
	}
	decide_needed(o, c, vs);
	for (int k = 0; k < NKEYS; k++) {
		if (in->doc[k] && vs->v[k] && vs->o[k] == O_PROVIDED)
			warnx("%s is already sealed in %s; the value from %s is not used (seal "
			      "never "
			      "replaces a sealed value)",
			      keys[k].name, in->label, vs->from[k]);
		else if (vs->o[k] == O_PROVIDED && !vs->needed[k])
			warnx("%s is not needed (%s); the value supplied is ignored", keys[k].name,
			      vs->why[k]);
	}
}

/*
 * fill_generated(), minding the Dex pair: when one of the two is sealed it
 * cannot be read back, so the other comes from the password mirror or stays
 * missing (a new password would not match a sealed hash).
 */
static void
seal_fill(const struct opts *o, struct values *vs, const struct seal_in *in)
{
	const int pw = K_DEX_ADMIN_PASSWORD, h = K_DEX_ADMIN_HASH;
	int need_pw = vs->needed[pw], need_h = vs->needed[h];
	int one_sealed = in->doc[pw] || in->doc[h];
	if (one_sealed && !in->doc[h] && need_h) {
		char *m = mirror_read(o);
		if (m) {
			value_set(vs, h, dex_hash_for(m, o->bcrypt_cost), O_GENERATED, NULL);
			warnx("dex-admin-hash made from %s/dex-admin-password, which cannot be "
			      "checked "
			      "against the sealed dex-admin-password",
			      o->state);
			sfree_str(m);
		}
	}
	if (one_sealed && !in->doc[pw] && need_pw && !vs->v[pw]) {
		char *m = mirror_read(o);
		if (m) {
			char *mp = mirror_path(o);
			value_set(vs, pw, m, O_MIRROR, mp);
			free(mp);
		}
	}
	if (one_sealed && !in->doc[pw] && vs->v[pw])
		warnx("dex-admin-password cannot be checked against the sealed dex-admin-hash");
	for (int k = 0; k < NKEYS; k++) {
		if (!in->doc[k])
			continue;
		char where[PATH_MAX + 64];
		const struct doc *d = &in->ds.d[in->doc[k] - 1];
		if (d->file)
			snprintf(where, sizeof where, "%s: document %zu", d->file, d->index);
		else
			snprintf(where, sizeof where, "%s: document %d", in->label, in->doc[k]);
		value_set(vs, k, xstrdup(""), O_EXISTING, where);
	}
	if (one_sealed)
		vs->needed[pw] = vs->needed[h] = 0;
	fill_generated(o, vs);
	vs->needed[pw] = need_pw;
	vs->needed[h] = need_h;
}

struct seal_piece {
	const char *name;
	const char *p;
	size_t n;
	int old; /* a document of --existing */
};

/*
 * stdout or -o: the earlier sealed stream as it is, then the new documents.
 * --split DIR: one file per document; a file that already holds exactly
 * that document is left alone, any other existing file is an error. When
 * DIR is also the --existing directory, its documents stay in the files
 * they were read from and only new ones get files. Nothing is written
 * before everything is checked.
 */
static void
seal_deliver(const struct opts *o, const struct seal_in *in, struct node **objs, const char **names,
	     size_t n, const int *in_place, int missing)
{
	enum fmt f = o->format;
	struct buf *nb = xcalloc(n ? n : 1, sizeof *nb);
	for (size_t i = 0; i < n; i++)
		emit_object(&nb[i], f, objs[i]);
	if (!o->split) {
		struct buf b = {0};
		int *placed = xcalloc(n ? n : 1, sizeof *placed);
		if (in->nsealed) {
			/* the earlier stream as it is; a document being replaced (a
			 * rotation: in_place[i] = 1 + its index) gets the new one */
			size_t at = 0;
			for (size_t d = 0; in_place && d < in->ds.n; d++)
				for (size_t i = 0; i < n; i++) {
					if (in_place[i] != (int)d + 1)
						continue;
					buf_add(&b, in->src + at, in->ds.d[d].start - at);
					if (b.n && b.p[b.n - 1] != '\n')
						buf_putc(&b, '\n');
					buf_add(&b, nb[i].p, nb[i].n);
					at = in->ds.d[d].end;
					placed[i] = 1;
				}
			buf_add(&b, in->src + at, in->n - at);
			if (b.n && b.p[b.n - 1] != '\n')
				buf_putc(&b, '\n');
		}
		for (size_t i = 0; i < n; i++)
			if (!placed[i])
				buf_add(&b, nb[i].p, nb[i].n);
		free(placed);
		int same = same_file(o->output, o->existing);
		if (o->output && strcmp(o->output, "-")) {
			if (same && in->nsealed && n == 0)
				status("UNCHANGED %s (%s)", o->output,
				       missing ? "nothing new to seal"
					       : "every needed key is sealed already");
			else
				write_file_atomic(o->output, b.p ? b.p : "", b.n, same);
		} else {
			write_stdout(b.p ? b.p : "", b.n);
		}
		buf_free(&b);
	} else {
		size_t np = 0, cap = n + in->nsealed;
		struct seal_piece *pc = xcalloc(cap ? cap : 1, sizeof *pc);
		struct buf *ob = xcalloc(in->ds.n ? in->ds.n : 1, sizeof *ob);
		int home = in->files && same_file(o->split, o->existing);
		for (size_t i = 0; in->nsealed && !home && i < in->ds.n; i++) {
			struct node *r = in->ds.d[i].root;
			const char *kind = r ? map_str(r, "kind") : NULL;
			if (!kind || strcmp(kind, "SealedSecret"))
				continue;
			buf_add(&ob[i], in->src + in->ds.d[i].start,
				in->ds.d[i].end - in->ds.d[i].start);
			if (!ob[i].n || ob[i].p[ob[i].n - 1] != '\n')
				buf_putc(&ob[i], '\n');
			pc[np++] = (struct seal_piece){map_str(map_get(r, "metadata"), "name"),
						       ob[i].p, ob[i].n, 1};
		}
		for (size_t i = 0; i < n; i++)
			pc[np++] = (struct seal_piece){names[i], nb[i].p, nb[i].n, 0};
		const char *ext = f == FMT_JSON ? "json" : "yaml";
		char **paths = xcalloc(np ? np : 1, sizeof *paths);
		int *skip = xcalloc(np ? np : 1, sizeof *skip);
		for (size_t i = 0; i < np; i++) {
			char path[PATH_MAX];
			if (!*pc[i].name || strchr(pc[i].name, '/') || pc[i].name[0] == '.')
				fatal("SealedSecret name '%s' cannot be a file name in --split",
				      pc[i].name);
			if ((size_t)snprintf(path, sizeof path, "%s/%s.%s", o->split, pc[i].name,
					     ext) >= sizeof path)
				fatal("--split path too long");
			paths[i] = xstrdup(path);
			for (size_t j = 0; j < i; j++)
				if (!strcmp(paths[j], path))
					fatal("two documents named %s for --split; nothing written",
					      pc[i].name);
			if (!path_exists(path))
				continue;
			size_t have = 0;
			char *cur = pc[i].old ? read_file(path, &have, "split file") : NULL;
			skip[i] = cur && have == pc[i].n && !memcmp(cur, pc[i].p, have);
			free(cur);
			if (!skip[i])
				fatal("%s already exists%s; seedsec never overwrites a file; "
				      "nothing "
				      "written",
				      path,
				      pc[i].old ? " and differs from the sealed document" : "");
		}
		make_dir(o->split, 0700);
		for (size_t i = 0; i < np; i++) {
			if (!skip[i])
				write_file_atomic(paths[i], pc[i].p, pc[i].n, 0);
			free(paths[i]);
		}
		for (size_t i = 0; i < in->ds.n; i++)
			buf_free(&ob[i]);
		free(ob);
		free(paths);
		free(skip);
		free(pc);
	}
	for (size_t i = 0; i < n; i++)
		buf_free(&nb[i]);
	free(nb);
}

/*
 * seal, and (rotate) reset-dex-admin --cert: the Dex pair of a sealed file
 * made anew, its two documents replaced where they stand, every other
 * document kept byte for byte.
 */
static int
seal_run(const struct opts *o, int rotate)
{
	const int P = K_DEX_ADMIN_PASSWORD, H = K_DEX_ADMIN_HASH;
	if (!o->cert)
		fatal("seal needs --cert FILE (the controller's certificate: kubeseal --fetch-cert "
		      "> cert.pem)");
	struct stat est;
	if (rotate &&
	    (!o->existing || o->split ||
	     (strcmp(o->existing, "-") && stat(o->existing, &est) == 0 && S_ISDIR(est.st_mode))))
		fatal("reset-dex-admin --cert rotates the pair inside a sealed file: give it as "
		      "--existing FILE (and -o FILE to rewrite it in place); --split and a "
		      "directory are not supported");
	if (o->format == FMT_LIST)
		fatal("seal: --format yaml or json (a v1 List is for kubectl, not for sealed "
		      "files)");
	struct sealer s = {0};
	s.scope = !strcmp(o->scope, "cluster-wide")     ? SCOPE_CLUSTER
		  : !strcmp(o->scope, "namespace-wide") ? SCOPE_NAMESPACE
							: SCOPE_STRICT;
	s.ns = o->ns; /* main() refuses an empty or malformed --namespace */
	seal_load_key(&s, o->cert);

	struct config c;
	struct values vs = {0};
	struct seal_in in = {0};
	seal_prepare(o, &c, &vs, &s, &in);
	int old_doc[NKEYS] = {0};
	if (rotate) {
		if (!in.nsealed)
			fatal("%s holds no SealedSecret; reset-dex-admin --cert rotates inside a "
			      "sealed file (for plain Secrets leave out --cert)",
			      in.label);
		old_doc[P] = in.doc[P];
		old_doc[H] = in.doc[H];
		in.doc[P] = in.doc[H] = 0;
		vs.needed[P] = vs.needed[H] = 1;
		sfree_str(mirror_read(o)); /* usable before the file is rewritten */
		/* a rotation touches only the pair: a key the file lacks is
		 * reported MISSING, never generated (it may be sealed elsewhere) */
		for (int k = 0; k < NKEYS; k++)
			if (k != P && k != H && !in.doc[k] && vs.v[k])
				value_set(&vs, k, NULL, O_GENERATED, NULL);
	}
	struct opts oo = *o;
	if (in.nsealed) {
		/* new documents join the earlier stream in its own form */
		enum fmt want = in.json ? FMT_JSON : FMT_YAML;
		if (o->format_set && o->format != want)
			fatal("%s is %s; --format %s would mix forms in one stream; nothing "
			      "written",
			      in.label, in.json ? "JSON" : "YAML",
			      o->format == FMT_JSON ? "json" : "yaml");
		oo.format = want;
	}
	if (rotate && o->dry_run) {
		dry_rotate_report(o, &vs);
		sfree(in.src, in.n);
		docs_free(&in.ds);
		mbedtls_pk_free(&s.pk);
		command_done(&c, &vs);
		return EXIT_OK;
	}
	if (rotate) {
		value_set(&vs, P, gen_value(P), O_GENERATED, NULL);
		value_set(&vs, H, dex_hash_for(vs.v[P], o->bcrypt_cost), O_GENERATED, NULL);
	}
	int keep_needed[NKEYS];
	memcpy(keep_needed, vs.needed, sizeof keep_needed);
	for (int k = 0; rotate && k < NKEYS; k++)
		if (k != P && k != H && !in.doc[k])
			vs.needed[k] = 0;
	seal_fill(&oo, &vs, &in);
	memcpy(vs.needed, keep_needed, sizeof keep_needed);
	report_values(&oo, &vs);

	struct node *objs[NKEYS];
	const char *names[NKEYS];
	int in_place[NKEYS];
	size_t n = 0;
	for (int k = 0; k < NKEYS; k++) {
		if (!vs.v[k] || in.doc[k])
			continue;
		objs[n] = sealed_object(&s, keys[k].name, oo.property, vs.v[k]);
		in_place[n] = old_doc[k];
		names[n++] = keys[k].name;
	}
	if (vs.v[P] && !in.doc[P])
		state_dir_ready(&oo);
	seal_deliver(&oo, &in, objs, names, n, in_place, vs.missing);
	for (size_t i = 0; i < n; i++)
		node_free(objs[i]);
	if (vs.v[P] && !in.doc[P])
		mirror_write(&oo, vs.v[P], rotate);
	if (rotate)
		status("ROTATED dex-admin-password and dex-admin-hash (sealed; mirrored to "
		       "%s/dex-admin-password)",
		       oo.state);
	int code = vs.missing || vs.problems ? EXIT_MISSING : EXIT_OK;
	json_report(&oo, &vs, code);
	if (in.src)
		sfree(in.src, in.n);
	docs_free(&in.ds);
	for (size_t i = 0; i < in.nfiles; i++)
		free(in.files[i]);
	free(in.files);
	mbedtls_pk_free(&s.pk);
	command_done(&c, &vs);
	return code;
}

static int
cmd_seal(const struct opts *o)
{
	return seal_run(o, 0);
}

/* ---- store and patch --------------------------------------------------- */

#define ESO_GROUP            "external-secrets.io"
#define ESO_API              ESO_GROUP "/v1"
#define RBAC_API             "rbac.authorization.k8s.io/v1"
#define DEFAULT_STORE_NAME   "secret-store"
#define DEFAULT_SA_NAME      "eso-reader"
#define DEFAULT_SA_NAMESPACE "external-secrets"
#define IN_CLUSTER_API       "https://kubernetes.default.svc"

static int dns_label(const char *s); /* with the option checks, below */

/* a DNS-1123 subdomain: what most object names must be */
static int
dns_subdomain(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 253)
		return 0;
	for (const char *p = s; *p;) {
		size_t l = strcspn(p, ".");
		char label[64];
		if (l == 0 || l > 63)
			return 0;
		memcpy(label, p, l);
		label[l] = 0;
		if (!dns_label(label))
			return 0;
		p += l;
		if (*p == '.' && !*++p)
			return 0;
	}
	return 1;
}

/* apiVersion, kind, metadata (name, namespace, seedsec label) */
static struct node *
k8s_object(const char *api, const char *kind, const char *name, const char *ns)
{
	struct node *obj = node_new(N_MAP, 0);
	map_add(obj, "apiVersion", node_str(api));
	map_add(obj, "kind", node_str(kind));
	struct node *md = map_add(obj, "metadata", node_new(N_MAP, 0));
	map_add(md, "name", node_str(name));
	if (ns)
		map_add(md, "namespace", node_str(ns));
	struct node *lb = map_add(md, "labels", node_new(N_MAP, 0));
	map_add(lb, "app.kubernetes.io/managed-by", node_str("seedsec"));
	return obj;
}

static struct node *
str_seq(const char *const *items, size_t n)
{
	struct node *s = node_new(N_SEQ, 0);
	for (size_t i = 0; i < n; i++)
		seq_add(s, node_str(items[i]));
	return s;
}

/*
 * The ESO Kubernetes provider pointed at the source namespace: the
 * Namespace, ESO's reader identity and its RBAC, then the store (in the
 * order they have to exist). The Role grants only reads of Secrets in the
 * source namespace; SelfSubjectRulesReview, which ESO uses to validate the
 * store, is allowed to every authenticated user by system:basic-user.
 */
static int
cmd_store(const struct opts *o)
{
	const char *store = o->store_name ? o->store_name : DEFAULT_STORE_NAME;
	const char *sa = o->sa_name ? o->sa_name : DEFAULT_SA_NAME;
	const char *sans = o->sa_namespace ? o->sa_namespace : DEFAULT_SA_NAMESPACE;
	if (o->json)
		fatal("store: --json has no report to give here; --format json prints the "
		      "manifests as JSON");
	if (!dns_subdomain(store))
		fatal("--store-name %.64s: not a valid object name (DNS-1123 subdomain)", store);
	if (!dns_subdomain(sa))
		fatal("--sa-name %.64s: not a valid ServiceAccount name (DNS-1123 subdomain)", sa);
	if (!dns_label(sans))
		fatal("--sa-namespace %.64s: not a valid namespace name (lowercase DNS label)",
		      sans);

	enum { NOBJ = 5 };
	struct node *objs[NOBJ];
	char names[NOBJ][320];
	const char *np[NOBJ];

	objs[0] = k8s_object("v1", "Namespace", o->ns, NULL);
	snprintf(names[0], sizeof names[0], "namespace-%s", o->ns);

	objs[1] = k8s_object("v1", "ServiceAccount", sa, sans);
	snprintf(names[1], sizeof names[1], "serviceaccount-%s", sa);

	objs[2] = k8s_object(RBAC_API, "Role", sa, o->ns);
	struct node *rules = map_add(objs[2], "rules", node_new(N_SEQ, 0));
	struct node *rule = seq_add(rules, node_new(N_MAP, 0));
	static const char *const core[] = {""}, *const res[] = {"secrets"},
				 *const verbs[] = {"get", "list", "watch"};
	map_add(rule, "apiGroups", str_seq(core, 1));
	map_add(rule, "resources", str_seq(res, 1));
	map_add(rule, "verbs", str_seq(verbs, 3));
	snprintf(names[2], sizeof names[2], "role-%s", sa);

	objs[3] = k8s_object(RBAC_API, "RoleBinding", sa, o->ns);
	struct node *ref = map_add(objs[3], "roleRef", node_new(N_MAP, 0));
	map_add(ref, "apiGroup", node_str("rbac.authorization.k8s.io"));
	map_add(ref, "kind", node_str("Role"));
	map_add(ref, "name", node_str(sa));
	struct node *subj =
		seq_add(map_add(objs[3], "subjects", node_new(N_SEQ, 0)), node_new(N_MAP, 0));
	map_add(subj, "kind", node_str("ServiceAccount"));
	map_add(subj, "name", node_str(sa));
	map_add(subj, "namespace", node_str(sans));
	snprintf(names[3], sizeof names[3], "rolebinding-%s", sa);

	/* a ClusterSecretStore must say where the CA ConfigMap is; every
	 * namespace has kube-root-ca.crt, and ESO's own namespace exists */
	objs[4] = k8s_object(ESO_API, "ClusterSecretStore", store, NULL);
	struct node *spec = map_add(objs[4], "spec", node_new(N_MAP, 0));
	struct node *k8s = map_add(map_add(spec, "provider", node_new(N_MAP, 0)), "kubernetes",
				   node_new(N_MAP, 0));
	map_add(k8s, "remoteNamespace", node_str(o->ns));
	struct node *srv = map_add(k8s, "server", node_new(N_MAP, 0));
	map_add(srv, "url", node_str(IN_CLUSTER_API));
	struct node *ca = map_add(srv, "caProvider", node_new(N_MAP, 0));
	map_add(ca, "type", node_str("ConfigMap"));
	map_add(ca, "name", node_str("kube-root-ca.crt"));
	map_add(ca, "key", node_str("ca.crt"));
	map_add(ca, "namespace", node_str(sans));
	struct node *auth = map_add(k8s, "auth", node_new(N_MAP, 0));
	struct node *sel = map_add(auth, "serviceAccount", node_new(N_MAP, 0));
	map_add(sel, "name", node_str(sa));
	map_add(sel, "namespace", node_str(sans));
	snprintf(names[4], sizeof names[4], "clustersecretstore-%s", store);

	for (int i = 0; i < NOBJ; i++)
		np[i] = names[i];
	deliver(o, objs, np, NOBJ);
	for (int i = 0; i < NOBJ; i++)
		node_free(objs[i]);
	return EXIT_OK;
}

/* ---- patch ---- */

struct patch_ctx {
	const struct opts *o;
	struct buf out; /* the entries of the patches: list */
	size_t entries, adds, kept, others, skipped;
	char **seen;    /* "Kind namespace/name" of every ExternalSecret */
	char **seen_at; /* and where it was */
	size_t nseen, capseen;
};

/* kustomize anchors target names as regular expressions: quote them */
static char *
regex_quote(const char *s)
{
	struct buf b = {0};
	for (; *s; s++) {
		if (strchr("\\.+*?()|[]{}^$", *s))
			buf_putc(&b, '\\');
		buf_putc(&b, *s);
	}
	return buf_take(&b, NULL);
}

static int
node_line(const struct node *n, int fallback)
{
	return n && n->line > 0 ? n->line : fallback;
}

/* the line of m's key (where "key:" is written) */
static int
key_line(const struct node *m, const char *key, int fallback)
{
	size_t kl = strlen(key);
	for (size_t i = 0; m && m->kind == N_MAP && i < m->n; i++)
		if (m->k[i]->len == kl && !memcmp(m->k[i]->s, key, kl))
			return node_line(m->k[i], fallback);
	return fallback;
}

/* "extract", "find" or "sourceRef": what a dataFrom entry does */
static const char *
datafrom_kind(const struct node *item)
{
	static const char *const k[] = {"extract", "find", "sourceRef"};
	for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
		if (map_get(item, k[i]))
			return k[i];
	return "unknown";
}

static void
patch_seen(struct patch_ctx *x, const char *id, const char *where)
{
	for (size_t i = 0; i < x->nseen; i++)
		if (!strcmp(x->seen[i], id))
			fatal("%s: %s is also defined at %s; one patch target would match "
			      "both",
			      where, id, x->seen_at[i]);
	if (x->nseen == x->capseen) {
		x->capseen = x->capseen ? x->capseen * 2 : 16;
		char **ns = xcalloc(x->capseen, sizeof *ns), **na = xcalloc(x->capseen, sizeof *na);
		if (x->nseen) {
			memcpy(ns, x->seen, x->nseen * sizeof *ns);
			memcpy(na, x->seen_at, x->nseen * sizeof *na);
		}
		free(x->seen);
		free(x->seen_at);
		x->seen = ns;
		x->seen_at = na;
	}
	x->seen[x->nseen] = xstrdup(id);
	x->seen_at[x->nseen++] = xstrdup(where);
}

/* one object: an ExternalSecret gets a patch entry if any data entry lacks a property */
static void
patch_object(struct patch_ctx *x, struct node *obj, const char *file, int line)
{
	const char *kind = map_str(obj, "kind"), *api = map_str(obj, "apiVersion");
	size_t gl = strlen(ESO_GROUP);
	int cluster = kind && !strcmp(kind, "ClusterExternalSecret");
	if (!kind || (strcmp(kind, "ExternalSecret") && !cluster) || !api ||
	    strncmp(api, ESO_GROUP "/", gl + 1)) {
		x->others++;
		return;
	}
	struct node *md = map_get(obj, "metadata");
	const char *name = map_str(md, "name"), *ns = cluster ? NULL : map_str(md, "namespace");
	if (!name || !*name)
		fatal("%s:%d: %s without metadata.name", file, line, kind);
	char id[768], where[PATH_MAX + 32];
	snprintf(id, sizeof id, "%s %s%s%s", kind, ns ? ns : "", ns ? "/" : "", name);
	snprintf(where, sizeof where, "%s:%d", file, line);
	patch_seen(x, id, where);

	struct node *spec = map_get(obj, "spec");
	const char *prefix = "/spec", *dotted = "spec";
	if (cluster) {
		spec = map_get(spec, "externalSecretSpec");
		prefix = "/spec/externalSecretSpec";
		dotted = "spec.externalSecretSpec";
	}
	if (!spec || spec->kind != N_MAP)
		fatal("%s:%d: %s has no %s mapping", file, node_line(spec, line), id, dotted);

	struct buf ops = {0};
	size_t nadd = 0;
	struct node *data = map_get(spec, "data");
	if (data && !scalar_is_null(data)) {
		if (data->kind != N_SEQ)
			fatal("%s:%d: %s: %s.data is not a list", file,
			      key_line(spec, "data", line), id, dotted);
		for (size_t i = 0; i < data->n; i++) {
			struct node *it = data->v[i];
			int il = node_line(it, node_line(data, line));
			if (it->kind != N_MAP)
				fatal("%s:%d: %s: data[%zu] is not a mapping", file, il, id, i);
			struct node *rr = map_get(it, "remoteRef");
			if (!rr || rr->kind != N_MAP)
				fatal("%s:%d: %s: data[%zu] has no remoteRef mapping", file,
				      node_line(rr, il), id, i);
			struct node *p = map_get(rr, "property");
			if (p && p->kind != N_SCALAR)
				fatal("%s:%d: %s: data[%zu].remoteRef.property is not a string",
				      file, node_line(p, il), id, i);
			if (p && !scalar_is_null(p) && p->len) { /* ESO reads "" as unset */
				x->kept++;
				continue;
			}
			/* "add" replaces an empty member too (RFC 6902 4.1) */
			buf_printf(&ops,
				   "      - op: add\n"
				   "        path: %s/data/%zu/remoteRef/property\n"
				   "        value: ",
				   prefix, i);
			yaml_scalar(&ops, x->o->property, strlen(x->o->property), 1);
			buf_putc(&ops, '\n');
			nadd++;
		}
	}
	struct node *from = map_get(spec, "dataFrom");
	if (from && !scalar_is_null(from)) {
		if (from->kind != N_SEQ)
			fatal("%s:%d: %s: %s.dataFrom is not a list", file,
			      key_line(spec, "dataFrom", line), id, dotted);
		for (size_t i = 0; i < from->n; i++) {
			const char *what = datafrom_kind(from->v[i]);
			int fl = node_line(from->v[i], node_line(from, line));
			if (!strcmp(what, "extract"))
				warnx("%s:%d: %s: dataFrom[%zu] (extract) left alone: the "
				      "Kubernetes provider returns every data key of the source "
				      "Secret (here '%s'), not the key names the target may expect",
				      file, fl, id, i, x->o->property);
			else
				warnx("%s:%d: %s: dataFrom[%zu] (%s) left alone: it has no "
				      "remoteRef.property to add",
				      file, fl, id, i, what);
		}
	}
	if (!nadd) {
		buf_free(&ops);
		return;
	}
	buf_puts(&x->out, "  # ");
	for (const char *c = file; *c; c++) /* a comment ends at a line break */
		buf_putc(&x->out, (unsigned char)*c < 0x20 || *c == 0x7f ? '?' : *c);
	char *qn = regex_quote(name);
	buf_printf(&x->out, ":%d\n  - target:\n      group: %s\n      kind: %s\n      name: ", line,
		   ESO_GROUP, kind);
	yaml_scalar(&x->out, qn, strlen(qn), 1);
	free(qn);
	buf_putc(&x->out, '\n');
	if (ns && *ns) {
		char *qs = regex_quote(ns);
		buf_puts(&x->out, "      namespace: ");
		yaml_scalar(&x->out, qs, strlen(qs), 1);
		buf_putc(&x->out, '\n');
		free(qs);
	} else if (!cluster) {
		warnx("%s: %s has no metadata.namespace; its patch matches that name in any "
		      "namespace",
		      where, id);
	}
	buf_puts(&x->out, "    patch: |-\n");
	buf_add(&x->out, ops.p, ops.n);
	buf_free(&ops);
	x->entries++;
	x->adds += nadd;
	status("PATCH %s (%zu entr%s)", id, nadd, nadd == 1 ? "y" : "ies");
}

/*
 * One manifest file. in_dir: found in a directory given on the command
 * line, where a file that is not YAML seedsec reads (a Helm template,
 * anchors, tags) or holds something other than objects, and that does not
 * mention ExternalSecret anywhere, is skipped with a warning; anything
 * else wrong is an error, as in a file named on the command line.
 */
static void
patch_file(struct patch_ctx *x, const char *path, int in_dir)
{
	size_t n;
	char *src = read_file(path, &n, "manifest");
	const char *label = strcmp(path, "-") ? path : "<stdin>";
	struct docs ds = {0};
	int tolerant = in_dir && !memmem(src, n, "ExternalSecret", 14);
	char err[700];
	if (tolerant && !parse_stream_soft(src, n, label, &ds, err, sizeof err)) {
		free(src);
		warnx("%s; file skipped: seedsec patch does not read it, and it mentions no "
		      "ExternalSecret",
		      err);
		x->skipped++;
		return;
	}
	if (!tolerant)
		parse_stream(src, n, label, &ds);
	free(src);
	for (size_t i = 0; tolerant && i < ds.n; i++) {
		struct node *r = ds.d[i].root;
		if (r && !scalar_is_null(r) && r->kind != N_MAP) {
			warnx("%s:%d: not a Kubernetes object; file skipped: it mentions no "
			      "ExternalSecret",
			      label, node_line(r, ds.d[i].line));
			x->skipped++;
			docs_free(&ds);
			return;
		}
	}
	for (size_t i = 0; i < ds.n; i++) {
		struct node *r = ds.d[i].root;
		int line = node_line(r, ds.d[i].line);
		if (!r || scalar_is_null(r))
			continue;
		if (r->kind != N_MAP)
			fatal("%s:%d: not a Kubernetes object", label, line);
		const char *kind = map_str(r, "kind");
		struct node *items = map_get(r, "items");
		if (kind && !strcmp(kind, "List") && items && items->kind == N_SEQ) {
			for (size_t j = 0; j < items->n; j++) {
				if (items->v[j]->kind != N_MAP)
					fatal("%s:%d: not a Kubernetes object", label,
					      node_line(items->v[j], line));
				patch_object(x, items->v[j], label, node_line(items->v[j], line));
			}
			continue;
		}
		patch_object(x, r, label, line);
	}
	docs_free(&ds);
}

/*
 * Print a kustomize patches: block that adds remoteRef.property to every
 * spec.data entry that has none, one entry per ExternalSecret, each an
 * RFC 6902 patch written as a YAML list under "patch: |-". Entries that
 * have a property, dataFrom entries and other kinds are left alone.
 */
static int
cmd_patch(const struct opts *o)
{
	if (o->nargs == 0)
		fatal("patch: no DIR or FILE given (seedsec patch DIR|FILE...: the platform's "
		      "ExternalSecret manifests)");
	if (o->split || o->format_set || o->json)
		fatal("patch: prints one YAML patches: block; --split, --format and --json do "
		      "not apply");
	struct patch_ctx x = {0};
	x.o = o;
	for (int i = 0; i < o->nargs; i++) {
		struct stat st;
		if (strcmp(o->args[i], "-") && stat(o->args[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			size_t n;
			char **files = manifest_files_in(o->args[i], &n, 0);
			for (size_t j = 0; j < n; j++) {
				patch_file(&x, files[j], 1);
				free(files[j]);
			}
			free(files);
		} else {
			patch_file(&x, o->args[i], 0);
		}
	}
	struct buf b = {0};
	buf_printf(&b,
		   "# seedsec patch: remoteRef.property '%s' for the ESO Kubernetes provider.\n"
		   "# Append to kustomization.yaml (merge the entries into an existing "
		   "patches: list).\n",
		   o->property);
	if (x.entries) {
		buf_puts(&b, "patches:\n");
		buf_add(&b, x.out.p, x.out.n);
	} else {
		buf_puts(&b, "patches: []\n");
	}
	if (!x.nseen)
		warnx("patch: no ExternalSecret found in the input");
	char skipped[80] = "";
	if (x.skipped)
		snprintf(skipped, sizeof skipped, "; %zu file%s skipped", x.skipped,
			 x.skipped == 1 ? "" : "s");
	status("%zu ExternalSecret%s, %zu patch entr%s adding %zu propert%s; %zu data entr%s "
	       "already had one; %zu other document%s left alone%s",
	       x.nseen, x.nseen == 1 ? "" : "s", x.entries, x.entries == 1 ? "y" : "ies", x.adds,
	       x.adds == 1 ? "y" : "ies", x.kept, x.kept == 1 ? "y" : "ies", x.others,
	       x.others == 1 ? "" : "s", skipped);
	if (o->output && strcmp(o->output, "-"))
		write_file_atomic(o->output, b.p, b.n, 0);
	else
		write_stdout(b.p, b.n);
	buf_free(&b);
	buf_free(&x.out);
	for (size_t i = 0; i < x.nseen; i++) {
		free(x.seen[i]);
		free(x.seen_at[i]);
	}
	free(x.seen);
	free(x.seen_at);
	return EXIT_OK;
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
	"  reset-dex-admin    new Dex admin password and hash (GSM, or offline with --existing;\n"
	"                     with --cert, inside a sealed --existing file)\n"
	"  store              ESO Kubernetes-provider ClusterSecretStore for the source "
	"namespace,\n"
	"                     with that Namespace, the ServiceAccount, a Role and its RoleBinding\n"
	"  patch DIR|FILE...  a kustomize patches: block adding remoteRef.property (--property)\n"
	"                     to each ExternalSecret data entry without one: per ExternalSecret a\n"
	"                     target and an RFC 6902 op list under 'patch: |-'; append it to\n"
	"                     kustomization.yaml (DIR: its *.yaml/*.yml, sorted; not recursive;\n"
	"                     a file there it cannot read that never says ExternalSecret: a\n"
	"                     warning, skipped)\n"
	"  bcrypt             bcrypt of a password read from stdin (-C N; --verify HASH checks "
	"one)\n"
	"\n"
	"options (before or after the command):\n"
	"  -c, --config FILE      platform config (default $CFG, else "
	"environments/$ENV/config.yaml)\n"
	"  --enable GATE          turn a gate on: n8n, identity, dns, egress, hf (repeatable)\n"
	"  --disable GATE         turn a gate off (repeatable)\n"
	"  --all                  every gate on\n"
	"  --value KEY=@PATH      a key's value from a file (@- is stdin); never on the command "
	"line\n"
	"  --existing FILE|DIR|-  earlier values (render/kubectl output, or SealedSecrets for "
	"seal;\n"
	"                         DIR: its *.yaml/*.yml/*.json files, as --split wrote them)\n"
	"  --format yaml|json|list   output form (list: a v1 List, for kubectl only)\n"
	"  -o, --output FILE      write atomically, mode 0600\n"
	"  --split DIR            one file per object\n"
	"  -n, --namespace NS     source namespace (default secret-source)\n"
	"  --property KEY         data key in each Secret (default value)\n"
	"  --state DIR            where the Dex password is mirrored (default secrets)\n"
	"  -C, --bcrypt-cost N    bcrypt cost, 10..16 (default 12; Dex refuses other costs): of\n"
	"                         the Dex hash (render, seal, push, reset-dex-admin) and of "
	"bcrypt\n"
	"  --verify HASH          bcrypt: check the password on stdin against HASH instead\n"
	"  --cert FILE            sealed-secrets certificate or RSA public key (seal)\n"
	"  --scope S              strict (default), namespace-wide, cluster-wide (seal)\n"
	"  --project P, --location L, --endpoint URL, --token-file F, --credentials F,\n"
	"  --ca-file F, --timeout SECONDS     GSM (push, check, reset-dex-admin)\n"
	"  --dry-run              push, reset-dex-admin (GSM or offline): say what would\n"
	"                         change, change nothing\n"
	"  --store-name N, --sa-name N, --sa-namespace NS   names for the store command\n"
	"                         (default secret-store, eso-reader, external-secrets)\n"
	"  --json                 a machine-readable report on stdout\n"
	"  -q, --quiet            no status lines\n"
	"  -h, --help             this text;  -V, --version   the version\n"
	"\n"
	"exit: 0 done; 1 done but something needed is missing or a check failed;\n"
	"      2 usage or runtime error (nothing half-written)\n";

static const char version_text[] =
	"seedsec " SEEDSEC_VERSION " (Mbed TLS " MBEDTLS_VERSION_STRING ")\n";

static void __attribute__((noreturn)) usage(const char *why)
{
	if (why)
		die(EXIT_ERROR, "%s (seedsec --help shows the usage)", why);
	fputs(usage_text, stderr);
	exit(EXIT_ERROR);
}

enum optid {
	OPT_CONFIG = 1,
	OPT_ENABLE,
	OPT_DISABLE,
	OPT_ALL,
	OPT_JSON,
	OPT_FORMAT,
	OPT_OUTPUT,
	OPT_SPLIT,
	OPT_NAMESPACE,
	OPT_PROPERTY,
	OPT_EXISTING,
	OPT_STATE,
	OPT_VALUE,
	OPT_BCRYPT_COST,
	OPT_VERIFY,
	OPT_CERT,
	OPT_SCOPE,
	OPT_PROJECT,
	OPT_ENDPOINT,
	OPT_LOCATION,
	OPT_TOKEN_FILE,
	OPT_CREDENTIALS,
	OPT_CA_FILE,
	OPT_TIMEOUT,
	OPT_DRY_RUN,
	OPT_STORE_NAME,
	OPT_SA_NAME,
	OPT_SA_NAMESPACE,
	OPT_QUIET,
	OPT_HELP,
	OPT_VERSION,
};

/* which commands an option means something to: anything else is refused */
enum {
	B_PLAN = 1 << 0,
	B_CONTRACT = 1 << 1,
	B_RENDER = 1 << 2,
	B_SEAL = 1 << 3,
	B_PUSH = 1 << 4,
	B_CHECK = 1 << 5,
	B_RESET = 1 << 6,
	B_STORE = 1 << 7,
	B_PATCH = 1 << 8,
	B_BCRYPT = 1 << 9,
	B_ANY = (1 << 10) - 1,
	B_GATES = B_PLAN | B_RENDER | B_SEAL | B_PUSH | B_CHECK | B_RESET,
	B_WRITE = B_RENDER | B_SEAL | B_RESET | B_STORE,
	B_GSM = B_PUSH | B_CHECK | B_RESET,
};

static const struct optdef {
	const char *lng;
	char shrt;
	int arg;
	enum optid id;
	int cmds;
} optdefs[] = {
	{"config", 'c', 1, OPT_CONFIG, B_GATES},
	{"enable", 0, 1, OPT_ENABLE, B_GATES},
	{"disable", 0, 1, OPT_DISABLE, B_GATES},
	{"all", 0, 0, OPT_ALL, B_GATES},
	{"json", 0, 0, OPT_JSON, B_GATES | B_CONTRACT},
	{"format", 0, 1, OPT_FORMAT, B_WRITE},
	{"output", 'o', 1, OPT_OUTPUT, B_WRITE | B_PATCH},
	{"split", 0, 1, OPT_SPLIT, B_WRITE},
	{"namespace", 'n', 1, OPT_NAMESPACE, B_WRITE | B_CHECK},
	{"property", 0, 1, OPT_PROPERTY, B_RENDER | B_SEAL | B_RESET | B_CHECK | B_PATCH},
	{"existing", 0, 1, OPT_EXISTING, B_RENDER | B_SEAL | B_RESET | B_CHECK},
	{"state", 0, 1, OPT_STATE, B_RENDER | B_SEAL | B_RESET | B_PUSH},
	{"value", 0, 1, OPT_VALUE, B_RENDER | B_SEAL | B_RESET | B_PUSH},
	{"bcrypt-cost", 'C', 1, OPT_BCRYPT_COST, B_RENDER | B_SEAL | B_RESET | B_PUSH | B_BCRYPT},
	{"verify", 0, 1, OPT_VERIFY, B_BCRYPT},
	{"cert", 0, 1, OPT_CERT, B_SEAL | B_RESET},
	{"scope", 0, 1, OPT_SCOPE, B_SEAL | B_RESET},
	{"project", 0, 1, OPT_PROJECT, B_GSM},
	{"endpoint", 0, 1, OPT_ENDPOINT, B_GSM},
	{"location", 0, 1, OPT_LOCATION, B_GSM},
	{"token-file", 0, 1, OPT_TOKEN_FILE, B_GSM},
	{"credentials", 0, 1, OPT_CREDENTIALS, B_GSM},
	{"ca-file", 0, 1, OPT_CA_FILE, B_GSM},
	{"timeout", 0, 1, OPT_TIMEOUT, B_GSM},
	{"dry-run", 0, 0, OPT_DRY_RUN, B_PUSH | B_RESET},
	{"store-name", 0, 1, OPT_STORE_NAME, B_STORE},
	{"sa-name", 0, 1, OPT_SA_NAME, B_STORE},
	{"sa-namespace", 0, 1, OPT_SA_NAMESPACE, B_STORE},
	{"quiet", 'q', 0, OPT_QUIET, B_ANY},
	{"help", 'h', 0, OPT_HELP, B_ANY},
	{"version", 'V', 0, OPT_VERSION, B_ANY},
};

static const struct command {
	const char *name;
	int (*fn)(const struct opts *);
	int maxargs;
	int bit;
} commands[] = {
	{"plan", cmd_plan, 0, B_PLAN},
	{"contract", cmd_contract, 0, B_CONTRACT},
	{"render", cmd_render, 0, B_RENDER},
	{"seal", cmd_seal, 0, B_SEAL},
	{"push", cmd_push, 0, B_PUSH},
	{"check", cmd_check, 0, B_CHECK},
	{"reset-dex-admin", cmd_reset_dex_admin, 0, B_RESET},
	{"store", cmd_store, 0, B_STORE},
	{"patch", cmd_patch, 1 << 20, B_PATCH},
	{"bcrypt", cmd_bcrypt, 0, B_BCRYPT},
};

/* options given, for the per-command check and the one-reader-of-stdin rule */
static const struct optdef *opts_seen[64];
static int nopts_seen;

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
	if (n == 0 || n > 253 || !strcmp(s, ".") || !strncmp(s, "..", 2))
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
				 "or the environment",
				 keys[k].name, keys[k].name);
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
			snprintf(why, sizeof why,
				 "%s %.16s: bcrypt cost must be %d..%d (Dex refuses "
				 "hashes outside that range at login)",
				 spelled, arg, BCRYPT_MIN_COST, BCRYPT_MAX_COST);
			usage(why);
		}
		o->bcrypt_cost = (int)v;
		break;
	}
	case OPT_VERIFY: o->verify = arg; break;
	case OPT_CERT: o->cert = arg; break;
	case OPT_SCOPE:
		if (strcmp(arg, "strict") && strcmp(arg, "namespace-wide") &&
		    strcmp(arg, "cluster-wide"))
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
	case OPT_HELP: write_stdout(usage_text, sizeof usage_text - 1); exit(EXIT_OK);
	case OPT_VERSION: write_stdout(version_text, sizeof version_text - 1); exit(EXIT_OK);
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
				if (strlen(optdefs[j].lng) == l &&
				    !strncmp(optdefs[j].lng, a + 2, l))
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
		if (nopts_seen < (int)(sizeof opts_seen / sizeof opts_seen[0]))
			opts_seen[nopts_seen++] = d;
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
	signal(SIGXFSZ,
	       SIG_IGN); /* a file size limit: write() fails (EFBIG), reported, temp removed */
	signal(SIGQUIT, on_fatal_signal);
	signal(SIGINT, on_fatal_signal);
	signal(SIGTERM, on_fatal_signal);
	signal(SIGHUP, on_fatal_signal);
	umask(077);
	parse_args(&o, argc, argv);
	if (!dns_label(o.ns))
		usage("--namespace: not a valid namespace name (lowercase DNS label)");
	if (!data_key_ok(o.property))
		usage("--property: not a valid Secret data key ([-._a-zA-Z0-9]+)");
	if (o.output && o.split)
		usage("-o and --split exclude each other");
	if (o.split && o.format == FMT_LIST)
		usage("--split writes one object per file: --format list does not apply");
	if (o.json && (!strcmp(o.cmd, "render") || !strcmp(o.cmd, "seal")) && !o.output && !o.split)
		usage("--json with render/seal needs -o FILE or --split DIR (stdout carries the "
		      "manifests)");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (strcmp(commands[i].name, o.cmd))
			continue;
		for (int j = 0; j < nopts_seen; j++)
			if (!(opts_seen[j]->cmds & commands[i].bit)) {
				char why[160];
				snprintf(why, sizeof why, "--%s means nothing to %s",
					 opts_seen[j]->lng, o.cmd);
				usage(why);
			}
		int stdin_readers = o.existing && !strcmp(o.existing, "-");
		for (int k = 0; k < NKEYS; k++)
			stdin_readers += o.valpath[k] && !strcmp(o.valpath[k], "-");
		stdin_readers += o.cert && !strcmp(o.cert, "-");
		stdin_readers += o.config && !strcmp(o.config, "-");
		for (int j = 0; j < o.nargs; j++)
			stdin_readers += !strcmp(o.args[j], "-");
		if (stdin_readers > 1)
			usage("standard input can be read only once (- or @- given more than "
			      "once)");
		if (o.nargs > commands[i].maxargs) {
			char why[128];
			snprintf(why, sizeof why, "%s: unexpected argument '%.40s'", o.cmd,
				 o.args[0]);
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
