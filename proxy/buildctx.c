/* buildctx.c - the base images of a classic build, read from the build
 * context as it streams: input sniffing and gzip, a tar reader that keeps
 * only the Dockerfile, and the classic builder's Dockerfile parser and
 * word expansion (moby 20.10: builder/remotecontext, builder/dockerfile,
 * vendored buildkit frontend/dockerfile/{parser,instructions,shell}).
 */
#include "buildctx.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#define NAME_MAX_LEN 4096       /* PATH_MAX: longer entry names are refused */
#define SPECIAL_MAX (1 << 20)   /* Go archive/tar's limit on 'x', 'g', 'L', 'K' data */
#define LINKS_MAX 1024          /* distinct link basenames remembered */
#define ZOUT 16384              /* inflate output per step */
#define INSTRUCTIONS_MAX 16384  /* logical lines of a Dockerfile */
#define STAGES_MAX 256          /* FROM lines */
#define ARGS_MAX 256            /* distinct ARG names before the first FROM */
#define WORD_MAX 65536          /* an expanded word; `ARG B=$A$A` doubles at each step */
#define DEPTH_MAX 32            /* nested ${a:-${b:-...}} */

enum in_mode { IN_SNIFF, IN_PLAIN, IN_GZIP };
enum tar_state { T_HEADER, T_DATA, T_PAD, T_END };
enum sink { SINK_SKIP, SINK_DOCKERFILE, SINK_LONGNAME, SINK_PAX };
enum df_state { DF_NONE, DF_FILE, DF_OTHER };
enum pax_state { PAX_LEN, PAX_KEY, PAX_VAL };
enum pax_key { KEY_OTHER, KEY_PATH, KEY_SIZE };
enum kind { KIND_FILE, KIND_DIR, KIND_LINK, KIND_OTHER };

struct pax {
	enum pax_state st; /* where in a "LEN KEY=VALUE\n" record */
	uint64_t len;      /* the record's length, from its digits */
	uint64_t pos;      /* bytes of the record read so far */
	char key[16];      /* the key, enough to tell path and size */
	size_t nkey;       /* bytes in key; more than fit: another key */
	enum pax_key kind; /* what the value is kept for */
	size_t nval;       /* value bytes kept */
	char size[24];     /* a size value, digits */
	int global;        /* parsing a 'g' header's records */
};

struct buildctx {
	char path[NAME_MAX_LEN + 1];  /* the Dockerfile's cleaned path in the context */
	int fallback;                 /* "dockerfile" is read when "Dockerfile" is absent */
	json_t *buildargs;            /* copy of the buildargs object, or NULL */
	const char *err;              /* set once feeding failed: the reason */
	enum in_mode in;              /* how body bytes are decoded */
	unsigned char sniff[6];       /* first bytes, to recognise compression */
	size_t nsniff;                /* bytes in sniff */
	z_stream z;                   /* gzip state when in == IN_GZIP */
	int z_live;                   /* z was initialised */
	int z_end;                    /* a gzip member just ended */
	unsigned char *zout;          /* inflate output buffer (ZOUT bytes) */
	enum tar_state ts;            /* tar reader state */
	unsigned char hdr[512];       /* the header block being read */
	size_t nhdr;                  /* bytes in hdr */
	int zero;                     /* the last header block was all zeros */
	uint64_t left;                /* entry data bytes still to come */
	size_t pad;                   /* padding bytes still to come */
	enum sink sink;               /* where entry data goes */
	char hname[NAME_MAX_LEN + 1]; /* the header's own name (a 'g' header's) */
	char longname[NAME_MAX_LEN + 1]; /* pending GNU 'L' name */
	size_t nlong;                 /* bytes in longname */
	int long_nul;                 /* longname ended at a NUL */
	int has_long;                 /* longname applies to the next entry */
	char paxpath[NAME_MAX_LEN + 1]; /* pending pax path= */
	int has_paxpath;              /* paxpath applies to the next entry */
	uint64_t paxsize;             /* pending pax size= */
	int has_paxsize;              /* paxsize applies to the next entry */
	struct pax pax;               /* pax record parser */
	enum df_state primary;        /* the entry at path */
	enum df_state secondary;      /* the entry at "dockerfile" (fallback only) */
	int df_secondary;             /* df holds the secondary's bytes */
	char *df;                     /* the Dockerfile's bytes */
	size_t ndf;                   /* bytes in df */
	const char *taint;            /* the Dockerfile may be replaced by other means */
	uint64_t links[LINKS_MAX];    /* hashes of symlink and hard link basenames */
	size_t nlinks;                /* entries in links */
	int links_full;               /* more distinct basenames than links holds */
};

/* ---- paths ---- */

/* Go's filepath.Clean of "/" + s, without the leading "/": the path
 * dockerd's untar (chrooted at the context) and its Dockerfile lookup use.
 * out has NAME_MAX_LEN + 1 bytes; s is at most NAME_MAX_LEN bytes. */
static void clean_path(const char *s, char *out)
{
	size_t o = 0;

	while (*s) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);

		if (n == 2 && s[0] == '.' && s[1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
		} else if (n > 0 && !(n == 1 && s[0] == '.')) {
			if (o > 0)
				out[o++] = '/';
			memcpy(out + o, s, n);
			o += n;
		}
		s += n + (e != NULL);
	}
	out[o] = '\0';
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

static uint64_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = 14695981039346656037ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h;
}

static int link_known(const struct buildctx *b, uint64_t h)
{
	for (size_t i = 0; i < b->nlinks; i++)
		if (b->links[i] == h)
			return 1;
	return 0;
}

static void link_add(struct buildctx *b, const char *name)
{
	const char *base = base_name(name);
	uint64_t h = hash_bytes(base, strlen(base));

	if (link_known(b, h))
		return;
	if (b->nlinks == LINKS_MAX)
		b->links_full = 1;
	else
		b->links[b->nlinks++] = h;
}

/* A directory of name may be a link: some earlier link entry has the
 * basename of one of its directories. Matching by basename covers links
 * made through other links, which an exact path would miss. */
static int through_link(const struct buildctx *b, const char *name)
{
	const char *s = name, *e;

	if (b->links_full)
		return 1;
	while ((e = strchr(s, '/')) != NULL) {
		if (link_known(b, hash_bytes(s, (size_t)(e - s))))
			return 1;
		s = e + 1;
	}
	return 0;
}

/* base is one of the components of the Dockerfile's path (or the fallback). */
static int sensitive_base(const struct buildctx *b, const char *base)
{
	const char *s = b->path, *e;
	size_t n = strlen(base);

	if (b->fallback && strcmp(base, "dockerfile") == 0)
		return 1;
	for (;;) {
		e = strchr(s, '/');
		size_t len = e ? (size_t)(e - s) : strlen(s);
		if (len == n && memcmp(s, base, n) == 0)
			return 1;
		if (!e)
			return 0;
		s = e + 1;
	}
}

static int proper_ancestor(const char *dir, const char *path)
{
	size_t n = strlen(dir);

	return strncmp(dir, path, n) == 0 && path[n] == '/';
}

/* ---- entries ---- */

static int df_begin(struct buildctx *b, uint64_t size, int secondary)
{
	if (size > BUILDCTX_DOCKERFILE_MAX) {
		b->err = "the Dockerfile in the build context is larger than ci-wrap reads (1 MiB)";
		return -1;
	}
	char *p = realloc(b->df, size ? size : 1);
	if (!p) {
		b->err = "out of memory reading the build context";
		return -1;
	}
	b->df = p;
	b->ndf = 0;
	b->df_secondary = secondary;
	b->sink = SINK_DOCKERFILE;
	return 0;
}

/* An entry named raw of the given kind, with size data bytes: decide where
 * its data goes and whether it could replace the Dockerfile. */
static int entry(struct buildctx *b, const char *raw, enum kind kind, uint64_t size)
{
	char name[NAME_MAX_LEN + 1];

	clean_path(raw, name);
	b->sink = SINK_SKIP;
	if (name[0] == '\0') {
		/* "/" or "..": dockerd's untar would remove the whole context. */
		if (kind != KIND_DIR && strcmp(raw, ".") != 0 && strcmp(raw, "./") != 0)
			b->taint = "an entry of the build context replaces its root";
		return 0;
	}
	if (strcmp(name, b->path) == 0) {
		b->primary = kind == KIND_FILE ? DF_FILE : DF_OTHER;
		if (kind == KIND_FILE)
			return df_begin(b, size, 0);
	} else if (b->fallback && strcmp(name, "dockerfile") == 0) {
		b->secondary = kind == KIND_FILE ? DF_FILE : DF_OTHER;
		if (kind == KIND_FILE && b->primary == DF_NONE)
			return df_begin(b, size, 1);
	} else if (proper_ancestor(name, b->path) && kind != KIND_DIR) {
		b->taint = "a directory on the Dockerfile's path is not a directory in the build context";
	} else if (sensitive_base(b, base_name(name)) && through_link(b, name)) {
		b->taint = "the build context may write the Dockerfile through a link";
	}
	if (kind == KIND_LINK)
		link_add(b, name);
	return 0;
}

/* ---- pax records ---- */

static void pax_reset(struct pax *x, int global)
{
	memset(x, 0, sizeof(*x));
	x->global = global;
}

static int pax_key_end(struct buildctx *b)
{
	struct pax *x = &b->pax;

	if (x->nkey == 0)
		return -1;
	x->kind = KEY_OTHER;
	x->nval = 0;
	if (x->nkey < sizeof(x->key)) {
		x->key[x->nkey] = '\0';
		if (strcmp(x->key, "path") == 0)
			x->kind = KEY_PATH;
		else if (strcmp(x->key, "size") == 0)
			x->kind = KEY_SIZE;
		else if (strncmp(x->key, "GNU.sparse.", 11) == 0) {
			b->err = "ci-wrap cannot read sparse files in a build context";
			return -1;
		}
	}
	return 0;
}

static int pax_val_byte(struct buildctx *b, char c)
{
	struct pax *x = &b->pax;

	if (x->kind == KEY_PATH) {
		if (c == '\0' || x->nval == NAME_MAX_LEN)
			return -1;
		b->paxpath[x->nval++] = c;
	} else if (x->kind == KEY_SIZE) {
		if (x->nval == sizeof(x->size) - 1)
			return -1;
		x->size[x->nval++] = c;
	}
	return 0;
}

/* strconv.ParseInt(v, 10, 64), not negative. */
static int parse_decimal(const char *s, uint64_t *v)
{
	uint64_t n = 0;

	if (*s == '+')
		s++;
	if (*s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || n > (INT64_MAX - 9) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	*v = n;
	return 0;
}

static int pax_record_end(struct buildctx *b)
{
	struct pax *x = &b->pax;

	if (x->kind == KEY_PATH) {
		b->paxpath[x->nval] = '\0';
		b->has_paxpath = 1;
	} else if (x->kind == KEY_SIZE) {
		x->size[x->nval] = '\0';
		if (parse_decimal(x->size, &b->paxsize) < 0)
			return -1;
		b->has_paxsize = 1;
	}
	x->st = PAX_LEN;
	x->len = x->pos = x->nkey = 0;
	return 0;
}

/* One byte of pax data, as Go's parsePAXRecord reads records. */
static int pax_byte(struct buildctx *b, char c)
{
	struct pax *x = &b->pax;

	x->pos++;
	switch (x->st) {
	case PAX_LEN:
		if (c >= '0' && c <= '9' && x->len <= SPECIAL_MAX) {
			x->len = x->len * 10 + (uint64_t)(c - '0');
			return 0;
		}
		if (c != ' ' || x->pos == 1 || x->len < 5)
			return -1;
		x->st = PAX_KEY;
		return 0;
	case PAX_KEY:
		if (x->pos >= x->len)
			return -1;
		if (c == '=') {
			x->st = PAX_VAL;
			return pax_key_end(b);
		}
		if (x->nkey < sizeof(x->key))
			x->key[x->nkey] = c;
		x->nkey++;
		return 0;
	case PAX_VAL:
		if (x->pos == x->len)
			return c == '\n' ? pax_record_end(b) : -1;
		return pax_val_byte(b, c);
	}
	return -1;
}

/* ---- tar ---- */

/* Go archive/tar's parseNumeric: base-256 when the top bit is set, else
 * octal trimmed of spaces and NULs and cut at the first NUL. */
static int parse_numeric(const unsigned char *f, size_t n, int64_t *v)
{
	uint64_t x = 0;

	if (f[0] & 0x80) {
		unsigned char inv = (f[0] & 0x40) ? 0xff : 0;
		for (size_t i = 0; i < n; i++) {
			unsigned char c = f[i] ^ inv;
			if (i == 0)
				c &= 0x7f;
			if (x >> 56)
				return -1;
			x = x << 8 | c;
		}
		if (x >> 63)
			return -1;
		*v = inv ? ~(int64_t)x : (int64_t)x;
		return 0;
	}
	size_t a = 0, e = n;
	while (a < e && (f[a] == ' ' || f[a] == '\0'))
		a++;
	while (e > a && (f[e - 1] == ' ' || f[e - 1] == '\0'))
		e--;
	const unsigned char *nul = memchr(f + a, '\0', e - a);
	if (nul)
		e = (size_t)(nul - f);
	for (size_t i = a; i < e; i++) {
		if (f[i] < '0' || f[i] > '7' || (x >> 61))
			return -1;
		x = x << 3 | (uint64_t)(f[i] - '0');
	}
	if (x >> 63)
		return -1;
	*v = (int64_t)x;
	return 0;
}

static int checksum_ok(const unsigned char *h)
{
	int64_t want, u = 0, s = 0;

	if (parse_numeric(h + 148, 8, &want) < 0)
		return 0;
	for (int i = 0; i < 512; i++) {
		unsigned char c = (i >= 148 && i < 156) ? ' ' : h[i];
		u += c;
		s += (signed char)c;
	}
	return want == u || want == s;
}

static void copy_field(char *out, const unsigned char *f, size_t n)
{
	size_t len = strnlen((const char *)f, n);

	memcpy(out, f, len);
	out[len] = '\0';
}

/* The header's name: prefix "/" name for ustar and star, name alone for
 * GNU and v7 (Go's readHeader). */
static void header_name(const unsigned char *h, char *out)
{
	char prefix[156];

	copy_field(out, h, 100);
	prefix[0] = '\0';
	if (memcmp(h + 257, "ustar\0", 6) == 0)
		copy_field(prefix, h + 345, memcmp(h + 508, "tar\0", 4) == 0 ? 131 : 155);
	if (prefix[0]) {
		size_t p = strlen(prefix), n = strlen(out);
		memmove(out + p + 1, out, n + 1);
		memcpy(out, prefix, p);
		out[p] = '/';
	}
}

static void pending_reset(struct buildctx *b)
{
	b->has_long = b->has_paxpath = b->has_paxsize = 0;
}

static void data_start(struct buildctx *b, uint64_t size)
{
	b->left = size;
	b->pad = (size_t)((512 - size % 512) % 512);
	b->ts = T_DATA;
}

static int data_done(struct buildctx *b)
{
	if (b->sink == SINK_LONGNAME) {
		b->longname[b->nlong] = '\0';
		b->has_long = 1;
	} else if (b->sink == SINK_PAX) {
		if (b->pax.st != PAX_LEN || b->pax.pos != 0) {
			b->err = "the build context is not a valid tar archive (bad pax header)";
			return -1;
		}
		if (b->pax.global) {
			/* Go returns a 'g' header as an entry; the untar removes what
			 * its name names before ignoring it. */
			int r = entry(b, b->has_paxpath ? b->paxpath : b->hname, KIND_OTHER, 0);
			pending_reset(b);
			b->sink = SINK_SKIP;
			return r;
		}
	}
	b->sink = SINK_SKIP;
	return 0;
}

static int special_start(struct buildctx *b, char type, uint64_t size)
{
	if (size > SPECIAL_MAX) {
		b->err = "the build context is not a valid tar archive (header data over 1 MiB)";
		return -1;
	}
	if (type == 'x' || type == 'g') {
		b->has_paxpath = b->has_paxsize = 0;
		pax_reset(&b->pax, type == 'g');
		b->sink = SINK_PAX;
	} else if (type == 'L') {
		b->nlong = 0;
		b->long_nul = 0;
		b->sink = SINK_LONGNAME;
	} else {
		b->sink = SINK_SKIP;
	}
	return 0;
}

static enum kind kind_of(char type, const char *name)
{
	switch (type) {
	case '\0':
		return name[0] && name[strlen(name) - 1] == '/' ? KIND_DIR : KIND_FILE;
	case '0':
		return KIND_FILE;
	case '5':
		return KIND_DIR;
	case '1':
	case '2':
		return KIND_LINK;
	default:
		return KIND_OTHER;
	}
}

static int header_only(char type)
{
	return type >= '1' && type <= '6';
}

static int tar_entry_header(struct buildctx *b, char type, uint64_t size)
{
	const char *name = b->has_long ? b->longname : b->has_paxpath ? b->paxpath : b->hname;
	enum kind kind = kind_of(type, name);
	int r;

	if (b->has_paxsize)
		size = b->paxsize;
	if (header_only(type))
		size = 0;
	r = entry(b, name, kind, size);
	pending_reset(b);
	if (r < 0)
		return -1;
	data_start(b, size);
	return 0;
}

static int tar_header(struct buildctx *b)
{
	static const unsigned char zeros[512];
	const unsigned char *h = b->hdr;
	int64_t size;

	if (memcmp(h, zeros, 512) == 0) {
		if (b->zero)
			b->ts = T_END;
		b->zero = 1;
		return 0;
	}
	if (b->zero || !checksum_ok(h)) {
		b->err = "the build context is not a tar archive";
		return -1;
	}
	if (parse_numeric(h + 124, 12, &size) < 0 || size < 0) {
		b->err = "the build context is not a valid tar archive (bad size)";
		return -1;
	}
	header_name(h, b->hname);
	char type = (char)h[156];
	switch (type) {
	case 'x':
	case 'g':
	case 'L':
	case 'K':
		if (special_start(b, type, (uint64_t)size) < 0)
			return -1;
		data_start(b, (uint64_t)size);
		break;
	case 'S':
		b->err = "ci-wrap cannot read sparse files in a build context";
		return -1;
	default:
		if (tar_entry_header(b, type, (uint64_t)size) < 0)
			return -1;
	}
	if (b->ts == T_DATA && b->left == 0) {
		if (data_done(b) < 0)
			return -1;
		b->ts = T_HEADER;
	}
	return 0;
}

static int sink_bytes(struct buildctx *b, const unsigned char *p, size_t n)
{
	switch (b->sink) {
	case SINK_SKIP:
		return 0;
	case SINK_DOCKERFILE:
		memcpy(b->df + b->ndf, p, n);
		b->ndf += n;
		return 0;
	case SINK_LONGNAME:
		for (size_t i = 0; i < n && !b->long_nul; i++) {
			if (p[i] == '\0')
				b->long_nul = 1;
			else if (b->nlong == NAME_MAX_LEN)
				return -1;
			else
				b->longname[b->nlong++] = (char)p[i];
		}
		return 0;
	case SINK_PAX:
		for (size_t i = 0; i < n; i++)
			if (pax_byte(b, (char)p[i]) < 0)
				return -1;
		return 0;
	}
	return 0;
}

static int tar_consume(struct buildctx *b, const unsigned char *p, size_t n)
{
	while (n > 0 && b->ts != T_END) {
		size_t k;
		switch (b->ts) {
		case T_HEADER:
			k = n < 512 - b->nhdr ? n : 512 - b->nhdr;
			memcpy(b->hdr + b->nhdr, p, k);
			b->nhdr += k;
			if (b->nhdr == 512) {
				b->nhdr = 0;
				if (tar_header(b) < 0)
					return -1;
			}
			break;
		case T_DATA:
			k = b->left < n ? (size_t)b->left : n;
			if (sink_bytes(b, p, k) < 0) {
				if (!b->err)
					b->err = "the build context is not a valid tar archive (bad long name or pax header)";
				return -1;
			}
			b->left -= k;
			if (b->left == 0) {
				if (data_done(b) < 0)
					return -1;
				b->ts = b->pad ? T_PAD : T_HEADER;
			}
			break;
		default: /* T_PAD */
			k = b->pad < n ? b->pad : n;
			b->pad -= k;
			if (b->pad == 0)
				b->ts = T_HEADER;
			break;
		}
		p += k;
		n -= k;
	}
	return 0;
}

/* ---- input: sniffing and gzip ---- */

static int gzip_consume(struct buildctx *b, const unsigned char *p, size_t n)
{
	b->z.next_in = (unsigned char *)p;
	b->z.avail_in = (uInt)n;
	while (b->ts != T_END && (b->z.avail_in > 0 || b->z.avail_out == 0)) {
		if (b->z_end) {
			/* Go's gzip reader reads concatenated members as one stream. */
			inflateReset(&b->z);
			b->z_end = 0;
		}
		b->z.next_out = b->zout;
		b->z.avail_out = ZOUT;
		int rc = inflate(&b->z, Z_NO_FLUSH);
		size_t got = ZOUT - b->z.avail_out;
		if (got && tar_consume(b, b->zout, got) < 0)
			return -1;
		if (rc == Z_STREAM_END)
			b->z_end = 1;
		else if (rc == Z_BUF_ERROR && got == 0)
			break;
		else if (rc != Z_OK) {
			b->err = "the build context's gzip data is corrupt";
			return -1;
		}
	}
	return 0;
}

/* As moby's archive.DetectCompression, plus zstd, which 20.10 cannot read. */
static int sniff_decide(struct buildctx *b)
{
	const unsigned char *s = b->sniff;
	size_t n = b->nsniff;

	if (n >= 3 && memcmp(s, "BZh", 3) == 0) {
		b->err = "ci-wrap cannot read a bzip2-compressed build context; send it uncompressed or with gzip";
		return -1;
	}
	if (n >= 6 && memcmp(s, "\xfd" "7zXZ\0", 6) == 0) {
		b->err = "ci-wrap cannot read an xz-compressed build context; send it uncompressed or with gzip";
		return -1;
	}
	if (n >= 4 && memcmp(s, "\x28\xb5\x2f\xfd", 4) == 0) {
		b->err = "ci-wrap cannot read a zstd-compressed build context; send it uncompressed or with gzip";
		return -1;
	}
	if (n >= 3 && memcmp(s, "\x1f\x8b\x08", 3) == 0) {
		if (inflateInit2(&b->z, 16 + MAX_WBITS) != Z_OK || !(b->zout = malloc(ZOUT))) {
			b->err = "out of memory reading the build context";
			return -1;
		}
		b->z_live = 1;
		b->z.avail_out = ZOUT;
		b->in = IN_GZIP;
		return 0;
	}
	b->in = IN_PLAIN;
	return 0;
}

static int decoded(struct buildctx *b, const unsigned char *p, size_t n)
{
	return b->in == IN_GZIP ? gzip_consume(b, p, n) : tar_consume(b, p, n);
}

static int sniff_flush(struct buildctx *b)
{
	if (sniff_decide(b) < 0)
		return -1;
	return decoded(b, b->sniff, b->nsniff);
}

int buildctx_feed(struct buildctx *b, const char *at, size_t n, const char **why)
{
	const unsigned char *p = (const unsigned char *)at;

	if (!b->err && b->in == IN_SNIFF) {
		size_t k = sizeof(b->sniff) - b->nsniff;
		k = k < n ? k : n;
		memcpy(b->sniff + b->nsniff, p, k);
		b->nsniff += k;
		p += k;
		n -= k;
		if (b->nsniff < sizeof(b->sniff))
			return 0;
		sniff_flush(b);
	}
	if (!b->err && b->ts != T_END && n > 0)
		decoded(b, p, n);
	if (b->err) {
		*why = b->err;
		return -1;
	}
	return 0;
}

/* ---- Dockerfile: variables ---- */

static const char *const builtin_args[] = {
	"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
	"FTP_PROXY",  "ftp_proxy",  "NO_PROXY",    "no_proxy",
};

struct vars {
	json_t *meta;           /* ARG name -> default string or null */
	const json_t *options;  /* buildargs, or NULL */
};

/* BuildArgs.getBuildArg over the meta ARGs and the builtin proxy args: a
 * buildarg overrides only a name the Dockerfile declares. */
static const char *var_get(const struct vars *v, const char *name)
{
	json_t *def = json_object_get(v->meta, name);
	int known = def != NULL;

	for (size_t i = 0; !known && i < sizeof(builtin_args) / sizeof(*builtin_args); i++)
		known = strcmp(name, builtin_args[i]) == 0;
	if (!known)
		return NULL;
	json_t *o = v->options ? json_object_get(v->options, name) : NULL;
	if (json_is_string(o))
		return json_string_value(o);
	return json_is_string(def) ? json_string_value(def) : NULL;
}

/* ---- Dockerfile: word expansion (buildkit shell.Lex.ProcessWord) ---- */

struct sbuf {
	char *s;    /* bytes, NUL-terminated */
	size_t n;   /* length */
	size_t cap; /* allocated */
	size_t max; /* limit on n + 1; 0: WORD_MAX */
};

struct lex {
	const char *s;          /* the word */
	size_t i, n;            /* position, length */
	char esc;               /* the escape token */
	const struct vars *v;   /* variables */
	int depth;              /* ${...} nesting */
	const char *err;        /* why expansion failed */
};

static int sb_add(struct sbuf *b, const char *p, size_t n)
{
	if (b->n + n + 1 > (b->max ? b->max : WORD_MAX))
		return -1;
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->n + n + 1)
			cap *= 2;
		char *s = realloc(b->s, cap);
		if (!s)
			return -1;
		b->s = s;
		b->cap = cap;
	}
	memcpy(b->s + b->n, p, n);
	b->n += n;
	b->s[b->n] = '\0';
	return 0;
}

static int lex_fail(struct lex *l, const char *why)
{
	if (!l->err)
		l->err = why;
	return -1;
}

static int put(struct lex *l, struct sbuf *out, const char *p, size_t n)
{
	return sb_add(out, p, n) < 0 ? lex_fail(l, "a FROM or ARG value expands to over 64 KiB") : 0;
}

static int is_special_param(char c)
{
	return c && strchr("@*#?-$!0", c) != NULL;
}

static int is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || (unsigned char)c >= 0x80;
}

/* processName: digits, one special parameter, or letters, digits and _. */
static size_t lex_name(struct lex *l, char *name, size_t max)
{
	size_t a = l->i;

	if (l->i < l->n && l->s[l->i] >= '0' && l->s[l->i] <= '9') {
		while (l->i < l->n && l->s[l->i] >= '0' && l->s[l->i] <= '9')
			l->i++;
	} else if (l->i < l->n && is_special_param(l->s[l->i])) {
		l->i++;
	} else {
		while (l->i < l->n && is_name_char(l->s[l->i]))
			l->i++;
	}
	size_t n = l->i - a < max - 1 ? l->i - a : max - 1;
	memcpy(name, l->s + a, n);
	name[n] = '\0';
	return l->i - a;
}

static int lex_until(struct lex *l, int stop, struct sbuf *out);

static int lex_modifier(struct lex *l, char mod, const char *val, struct sbuf *out)
{
	struct sbuf word = {0};
	int r = lex_until(l, '}', &word);

	if (r == 0) {
		const char *w = word.s ? word.s : "";
		const char *res = val ? val : "";
		if (mod == '+' && res[0])
			res = w;
		else if (mod == '-' && !res[0])
			res = w;
		else if (mod == '?' && !res[0])
			r = lex_fail(l, "a FROM or ARG value names a variable that must be set");
		else if (mod != '+' && mod != '-' && mod != '?')
			r = lex_fail(l, "a FROM or ARG value has an unsupported substitution");
		if (r == 0)
			r = put(l, out, res, strlen(res));
	}
	free(word.s);
	return r;
}

static int lex_braced(struct lex *l, struct sbuf *out)
{
	char name[256];

	l->i++; /* '{' */
	if (l->i >= l->n || strchr("{}:", l->s[l->i]))
		return lex_fail(l, "a FROM or ARG value has a bad substitution");
	if (lex_name(l, name, sizeof(name)) >= sizeof(name))
		return lex_fail(l, "a FROM or ARG value names too long a variable");
	if (l->i >= l->n)
		return lex_fail(l, "a FROM or ARG value has a bad substitution");
	char c = l->s[l->i++];
	const char *val = var_get(l->v, name);
	if (c == '}')
		return put(l, out, val ? val : "", val ? strlen(val) : 0);
	if (c == '?') {
		struct sbuf word = {0};
		int r = lex_until(l, '}', &word);
		free(word.s);
		if (r == 0 && !val)
			r = lex_fail(l, "a FROM or ARG value names a variable that must be set");
		return r < 0 ? -1 : put(l, out, val, strlen(val));
	}
	if (c != ':' || l->i >= l->n)
		return lex_fail(l, "a FROM or ARG value has a bad substitution");
	char mod = l->s[l->i++];
	return lex_modifier(l, mod, val, out);
}

static int lex_dollar(struct lex *l, struct sbuf *out)
{
	char name[256];

	l->i++; /* '$' */
	if (l->i < l->n && l->s[l->i] == '{') {
		if (++l->depth > DEPTH_MAX)
			return lex_fail(l, "a FROM or ARG value nests substitutions too deeply");
		int r = lex_braced(l, out);
		l->depth--;
		return r;
	}
	size_t n = lex_name(l, name, sizeof(name));
	if (n == 0)
		return put(l, out, "$", 1);
	if (n >= sizeof(name))
		return lex_fail(l, "a FROM or ARG value names too long a variable");
	const char *val = var_get(l->v, name);
	return val ? put(l, out, val, strlen(val)) : 0;
}

static int lex_single(struct lex *l, struct sbuf *out)
{
	const char *end = memchr(l->s + l->i + 1, '\'', l->n - l->i - 1);

	if (!end)
		return lex_fail(l, "a FROM or ARG value has an unmatched single quote");
	size_t a = l->i + 1;
	l->i = (size_t)(end - l->s) + 1;
	return put(l, out, l->s + a, (size_t)(end - l->s) - a);
}

static int lex_double(struct lex *l, struct sbuf *out)
{
	l->i++;
	for (;;) {
		if (l->i >= l->n)
			return lex_fail(l, "a FROM or ARG value has an unmatched double quote");
		char c = l->s[l->i];
		if (c == '"') {
			l->i++;
			return 0;
		}
		if (c == '$') {
			if (lex_dollar(l, out) < 0)
				return -1;
			continue;
		}
		l->i++;
		if (c == l->esc) {
			if (l->i >= l->n)
				continue;
			char d = l->s[l->i];
			if (d == '"' || d == '$' || d == l->esc) {
				c = d;
				l->i++;
			}
		}
		if (put(l, out, &c, 1) < 0)
			return -1;
	}
}

/* processStopOn: stop is '}' inside ${...:-word}, -1 for the whole word. */
static int lex_until(struct lex *l, int stop, struct sbuf *out)
{
	while (l->i < l->n) {
		char c = l->s[l->i];
		int r = 0;
		if (stop >= 0 && c == stop) {
			l->i++;
			return 0;
		}
		if (c == '$')
			r = lex_dollar(l, out);
		else if (c == '\'')
			r = lex_single(l, out);
		else if (c == '"')
			r = lex_double(l, out);
		else {
			l->i++;
			if (c == l->esc) {
				if (l->i >= l->n)
					break;
				c = l->s[l->i++];
			}
			r = put(l, out, &c, 1);
		}
		if (r < 0)
			return -1;
	}
	if (stop >= 0)
		return lex_fail(l, "a FROM or ARG value has an unmatched ${");
	return 0;
}

/* The word expanded into a new string, or NULL with *why. */
static char *expand(const char *word, size_t n, char esc, const struct vars *v, const char **why)
{
	struct lex l = {.s = word, .n = n, .esc = esc, .v = v};
	struct sbuf out = {0};

	if (lex_until(&l, -1, &out) < 0 || (!out.s && put(&l, &out, "", 0) < 0)) {
		free(out.s);
		*why = l.err ? l.err : "out of memory expanding a Dockerfile value";
		return NULL;
	}
	return out.s;
}

/* ---- Dockerfile: lines ---- */

/* Length of the Unicode white space (unicode.IsSpace) at s, or 0. */
static size_t uspace(const unsigned char *s, size_t n)
{
	if (n >= 1 && (s[0] == ' ' || (s[0] >= '\t' && s[0] <= '\r')))
		return 1;
	if (n >= 2 && s[0] == 0xc2 && (s[1] == 0x85 || s[1] == 0xa0))
		return 2;
	if (n >= 3 && s[0] == 0xe1 && s[1] == 0x9a && s[2] == 0x80)
		return 3;
	if (n >= 3 && s[0] == 0xe2 && s[1] == 0x80 &&
	    (s[2] <= 0x8a || s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf))
		return 3;
	if (n >= 3 && s[0] == 0xe2 && s[1] == 0x81 && s[2] == 0x9f)
		return 3;
	if (n >= 3 && s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80)
		return 3;
	return 0;
}

static size_t ltrim(const char *s, size_t n)
{
	size_t i = 0, k;

	while (i < n && (k = uspace((const unsigned char *)s + i, n - i)) > 0)
		i += k;
	return i;
}

/* strings.TrimSpace's right half: white space runes at the end. */
static size_t rtrim_len(const char *s, size_t n)
{
	for (;;) {
		size_t k = 0;
		for (size_t w = 1; w <= 3 && w <= n; w++)
			if (uspace((const unsigned char *)s + n - w, w) == w)
				k = w;
		if (k == 0)
			return n;
		n -= k;
	}
}

struct df {
	char esc;                 /* the escape token */
	int directives_done;      /* a line that is not a parser directive was seen */
	int escape_seen;          /* `# escape=` given */
	int syntax_seen;          /* `# syntax=` given */
	struct vars vars;         /* meta ARGs */
	json_t *stages;           /* stage names so far (lowercase) -> true */
	json_t *images;           /* the result */
	int nfrom;                /* FROM lines so far */
	int ninstr;               /* logical lines so far */
	const char *why;          /* why parsing failed */
};

static int df_fail(struct df *d, const char *why)
{
	if (!d->why)
		d->why = why;
	return -1;
}

static int is_re_space(char c) /* RE2's \s */
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

static int is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` on a left-trimmed line. */
static int directive(struct df *d, const char *s, size_t n)
{
	size_t i = 1, k, v, e;

	if (d->directives_done)
		return 0;
	if (n == 0 || s[0] != '#')
		goto done;
	while (i < n && is_re_space(s[i]))
		i++;
	if (i >= n || !is_alpha(s[i]))
		goto done;
	for (k = i; i < n && (is_alpha(s[i]) || (s[i] >= '0' && s[i] <= '9')); i++)
		;
	size_t klen = i - k;
	while (i < n && is_re_space(s[i]))
		i++;
	if (i >= n || s[i++] != '=')
		goto done;
	for (v = i; v < n && is_re_space(s[v]); v++)
		;
	for (e = n; e > v && is_re_space(s[e - 1]); e--)
		;
	if (i == n)
		goto done;
	if (v == n) /* only white space: .+? takes one of it */
		v = n - 1, e = n;
	if (klen == 6 && strncasecmp(s + k, "escape", 6) == 0) {
		if (d->escape_seen++)
			return df_fail(d, "the Dockerfile has two escape directives");
		if (e - v != 1 || (s[v] != '\\' && s[v] != '`'))
			return df_fail(d, "the Dockerfile's escape directive is invalid");
		d->esc = s[v];
		return 0;
	}
	if (klen == 6 && strncasecmp(s + k, "syntax", 6) == 0) {
		if (d->syntax_seen++)
			return df_fail(d, "the Dockerfile has two syntax directives");
		return 0;
	}
done:
	d->directives_done = 1;
	return 0;
}

/* The regexp `([^E])E[ \t]*$|^E[ \t]*$`: a continuation unless the escape
 * token is itself escaped. Returns the length kept, *cont set. */
static size_t continuation(const struct df *d, const char *s, size_t n, int *cont)
{
	size_t e = n;

	while (e > 0 && (s[e - 1] == ' ' || s[e - 1] == '\t'))
		e--;
	*cont = e > 0 && s[e - 1] == d->esc && (e == 1 || s[e - 2] != d->esc);
	return *cont ? e - 1 : n;
}

/* ---- Dockerfile: instructions ---- */

static int flag_space(unsigned char c) /* unicode.IsSpace(rune(byte)) */
{
	return c == ' ' || (c >= '\t' && c <= '\r') || c == 0x85 || c == 0xa0;
}

/* extractBuilderFlags: skip leading --flag words (quotes and backslashes
 * as it reads them); the rest of the line. */
static const char *skip_flags(const char *s, const char *end)
{
	for (;;) {
		while (s < end && flag_space((unsigned char)*s))
			s++;
		if (end - s < 2 || s[0] != '-' || s[1] != '-')
			return s;
		if (end - s == 2 || flag_space((unsigned char)s[2]))
			return s + 2;
		char q = 0;
		for (; s < end && (q || !flag_space((unsigned char)*s)); s++) {
			if (q && *s == q)
				q = 0;
			else if (!q && (*s == '"' || *s == '\''))
				q = *s;
			else if (*s == '\\' && s + 1 < end)
				s++;
		}
	}
}

static int ws_re(char c) /* `[\t\v\f\r ]` */
{
	return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r';
}

static int add_image(struct df *d, const char *name)
{
	size_t n = strlen(name);

	if (n == 0)
		return df_fail(d, "a FROM line of the Dockerfile names an empty image");
	if (strchr(name, '$'))
		return df_fail(d, "a FROM line of the Dockerfile names an image ci-wrap cannot resolve");
	if (strcmp(name, "scratch") == 0)
		return 0;
	char *lower = strdup(name);
	if (!lower)
		return df_fail(d, "out of memory reading the Dockerfile");
	for (char *p = lower; *p; p++)
		*p = (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : *p;
	int stage = json_object_get(d->stages, lower) != NULL;
	free(lower);
	if (stage)
		return 0;
	for (size_t i = 0; i < json_array_size(d->images); i++)
		if (strcmp(json_string_value(json_array_get(d->images, i)), name) == 0)
			return 0;
	if (json_array_size(d->images) >= BUILDCTX_IMAGES_MAX)
		return df_fail(d, "the Dockerfile names more base images than ci-wrap checks (64)");
	json_t *s = json_stringn(name, n);
	if (!s)
		return df_fail(d, "a FROM line of the Dockerfile names an image that is not UTF-8");
	if (json_array_append_new(d->images, s) < 0)
		return df_fail(d, "out of memory reading the Dockerfile");
	return 0;
}

static int stage_name_ok(const char *s)
{
	if (!(*s >= 'a' && *s <= 'z'))
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || strchr("-_.", *s)))
			return 0;
	return 1;
}

/* FROM [--flags] image [AS name] */
static int instr_from(struct df *d, const char *s, const char *end)
{
	const char *w[4];
	size_t wl[4];
	int nw = 0;

	if (++d->nfrom > STAGES_MAX)
		return df_fail(d, "the Dockerfile has more stages than ci-wrap reads (256)");
	s = skip_flags(s, end);
	if (s == end)
		return df_fail(d, "a FROM line of the Dockerfile is malformed");
	/* reWhitespace.Split(rest, -1): a leading blank makes an empty field */
	for (const char *p = s;;) {
		const char *q = p;
		while (q < end && !ws_re(*q))
			q++;
		if (nw < 4) {
			w[nw] = p;
			wl[nw] = (size_t)(q - p);
		}
		nw++;
		if (q == end)
			break;
		while (q < end && ws_re(*q))
			q++;
		p = q;
	}
	if (!(nw == 1 || (nw == 3 && wl[1] == 2 && strncasecmp(w[1], "as", 2) == 0)))
		return df_fail(d, "a FROM line of the Dockerfile is malformed");
	char *name = expand(w[0], wl[0], d->esc, &d->vars, &d->why);
	if (!name)
		return -1;
	int r = add_image(d, name);
	free(name);
	if (r == 0 && nw == 3) {
		char stage[256];
		if (wl[2] >= sizeof(stage))
			return df_fail(d, "a FROM line of the Dockerfile names an invalid stage");
		for (size_t i = 0; i < wl[2]; i++)
			stage[i] = (w[2][i] >= 'A' && w[2][i] <= 'Z') ? (char)(w[2][i] + 32) : w[2][i];
		stage[wl[2]] = '\0';
		if (!stage_name_ok(stage))
			return df_fail(d, "a FROM line of the Dockerfile names an invalid stage");
		json_object_set_new(d->stages, stage, json_true());
	}
	return r;
}

/* parseWords: the next word, quotes and escapes kept; NULL at the end. */
static const char *next_word(const char *s, const char *end, char esc, const char **wend)
{
	char q = 0;

	while (s < end && uspace((const unsigned char *)s, (size_t)(end - s)))
		s += uspace((const unsigned char *)s, (size_t)(end - s));
	if (s == end)
		return NULL;
	const char *p = s;
	while (p < end && (q || !uspace((const unsigned char *)p, (size_t)(end - p)))) {
		if (q && *p == q)
			q = 0;
		else if (!q && (*p == '"' || *p == '\''))
			q = *p;
		else if (*p == esc && q != '\'' && p + 1 < end)
			p++;
		p++;
	}
	*wend = p;
	return s;
}

struct pair {
	char *key; /* expanded name */
	char *val; /* expanded value, or NULL for `ARG NAME` */
};

static int arg_pair(struct df *d, const char *w, const char *we, struct pair *pr)
{
	const char *eq = memchr(w, '=', (size_t)(we - w));

	if (eq == w)
		return df_fail(d, "an ARG line of the Dockerfile has an empty name");
	pr->key = expand(w, (size_t)((eq ? eq : we) - w), d->esc, &d->vars, &d->why);
	if (!pr->key)
		return -1;
	if (eq && !(pr->val = expand(eq + 1, (size_t)(we - eq - 1), d->esc, &d->vars, &d->why)))
		return -1;
	return 0;
}

/* ARG before the first FROM: each pair expanded with the values before the
 * line, then all set (processMetaArg). */
static int instr_meta_arg(struct df *d, const char *s, const char *end)
{
	struct pair prs[16] = {{0}};
	const char *w, *we;
	int n = 0, r = 0;

	s = skip_flags(s, end);
	while (r == 0 && (w = next_word(s, end, d->esc, &we)) != NULL) {
		if (n == 16) {
			r = df_fail(d, "an ARG line of the Dockerfile has too many names");
			break;
		}
		r = arg_pair(d, w, we, &prs[n++]);
		s = we;
	}
	for (int i = 0; i < n; i++) {
		if (r == 0 && prs[i].key &&
		    json_object_set_new(d->vars.meta, prs[i].key,
					prs[i].val ? json_string(prs[i].val) : json_null()) < 0)
			r = df_fail(d, "an ARG of the Dockerfile is not valid UTF-8");
		if (r == 0 && json_object_size(d->vars.meta) > ARGS_MAX)
			r = df_fail(d, "the Dockerfile has more ARGs than ci-wrap reads (256)");
		free(prs[i].key);
		free(prs[i].val);
	}
	return r;
}

static int instruction(struct df *d, const char *s, size_t n)
{
	size_t a = ltrim(s, n);
	size_t e = rtrim_len(s, n);
	size_t i = a;

	if (++d->ninstr > INSTRUCTIONS_MAX)
		return df_fail(d, "the Dockerfile has more instructions than ci-wrap reads");
	while (i < e && !ws_re(s[i]))
		i++;
	size_t cl = i - a;
	while (i < e && ws_re(s[i]))
		i++;
	if (cl == 4 && strncasecmp(s + a, "from", 4) == 0)
		return instr_from(d, s + i, s + e);
	if (cl == 3 && strncasecmp(s + a, "arg", 3) == 0 && d->nfrom == 0)
		return instr_meta_arg(d, s + i, s + e);
	return 0;
}

/* ---- Dockerfile: the parser loop (buildkit parser.Parse) ---- */

struct lines {
	const char *s, *end; /* the Dockerfile */
	const char *next;    /* the next line */
};

/* The next physical line, without "\n" and one trailing "\r" (ScanLines). */
static int line_next(struct lines *ls, const char **l, size_t *n)
{
	if (ls->next >= ls->end)
		return 0;
	const char *nl = memchr(ls->next, '\n', (size_t)(ls->end - ls->next));
	const char *e = nl ? nl : ls->end;
	*l = ls->next;
	*n = (size_t)(e - ls->next);
	if (*n > 0 && (*l)[*n - 1] == '\r')
		(*n)--;
	ls->next = nl ? nl + 1 : ls->end;
	return 1;
}

static int is_comment(const char *s, size_t n)
{
	size_t i = ltrim(s, n);

	return i < n && s[i] == '#';
}

/* The continuation lines of a logical line, appended to buf. */
static int continued(struct df *d, struct lines *ls, struct sbuf *buf)
{
	const char *l;
	size_t n;
	int cont = 1;

	while (cont && line_next(ls, &l, &n)) {
		if (is_comment(l, n) || ltrim(l, n) == n)
			continue;
		size_t k = continuation(d, l, n, &cont);
		if (sb_add(buf, l, k) < 0)
			return df_fail(d, "out of memory reading the Dockerfile");
	}
	return 0;
}

static int parse_dockerfile(struct df *d, const char *s, size_t n)
{
	struct lines ls = {.s = s, .end = s + n, .next = s};
	struct sbuf buf = {.max = n + 1};
	const char *l;
	size_t len;
	int first = 1, r = 0;

	while (r == 0 && line_next(&ls, &l, &len)) {
		if (first && len >= 3 && memcmp(l, "\xef\xbb\xbf", 3) == 0)
			l += 3, len -= 3;
		first = 0;
		size_t t = ltrim(l, len);
		l += t;
		len -= t;
		if (directive(d, l, len) < 0)
			return -1;
		if (len > 0 && l[0] == '#')
			len = 0;
		int cont;
		size_t k = continuation(d, l, len, &cont);
		if (!cont && k == 0)
			continue;
		buf.n = 0;
		if (sb_add(&buf, l, k) < 0 || (cont && continued(d, &ls, &buf) < 0)) {
			r = df_fail(d, "out of memory reading the Dockerfile");
			break;
		}
		r = instruction(d, buf.s, buf.n);
	}
	free(buf.s);
	return r;
}

/* ---- API ---- */

struct buildctx *buildctx_new(const char *dockerfile, json_t *buildargs)
{
	struct buildctx *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	if (!dockerfile || !*dockerfile)
		dockerfile = "Dockerfile";
	b->fallback = strcmp(dockerfile, "Dockerfile") == 0;
	if (strlen(dockerfile) > NAME_MAX_LEN)
		b->err = "the build's dockerfile path is too long";
	else
		clean_path(dockerfile, b->path);
	if (json_is_object(buildargs) && !(b->buildargs = json_deep_copy(buildargs))) {
		free(b);
		return NULL;
	}
	return b;
}

/* The context's end as Go's tar reader takes it: after the end-of-archive
 * blocks, or at a header boundary. */
static const char *context_end(struct buildctx *b)
{
	if (!b->err && b->in == IN_SNIFF)
		sniff_flush(b);
	if (b->err)
		return b->err;
	if (b->ts == T_END)
		return NULL;
	if (b->ts != T_HEADER || b->nhdr != 0 || (b->in == IN_GZIP && !b->z_end))
		return "the build context ends in the middle of its archive";
	return NULL;
}

static const char *dockerfile_bytes(struct buildctx *b)
{
	if (b->taint)
		return b->taint;
	if (b->primary == DF_OTHER || (b->primary == DF_NONE && b->secondary == DF_OTHER))
		return "the Dockerfile in the build context is not a regular file";
	if (b->primary == DF_NONE && b->secondary == DF_NONE)
		return "no Dockerfile found in the build context";
	if (b->ndf == 0)
		return "the Dockerfile in the build context is empty";
	return NULL;
}

json_t *buildctx_images(struct buildctx *b, const char **why)
{
	struct df d = {.esc = '\\'};

	if ((*why = context_end(b)) != NULL || (*why = dockerfile_bytes(b)) != NULL)
		return NULL;
	d.vars.meta = json_object();
	d.vars.options = b->buildargs;
	d.stages = json_object();
	d.images = json_array();
	if (!d.vars.meta || !d.stages || !d.images)
		d.why = "out of memory reading the Dockerfile";
	else if (parse_dockerfile(&d, b->df, b->ndf) == 0 && d.nfrom == 0)
		d.why = "the Dockerfile has no FROM line";
	json_decref(d.vars.meta);
	json_decref(d.stages);
	if (d.why) {
		json_decref(d.images);
		*why = d.why;
		return NULL;
	}
	return d.images;
}

void buildctx_free(struct buildctx *b)
{
	if (!b)
		return;
	if (b->z_live)
		inflateEnd(&b->z);
	free(b->zout);
	free(b->df);
	json_decref(b->buildargs);
	free(b);
}
