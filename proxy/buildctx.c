/* buildctx.c - the Dockerfile of a classic build, read from the build
 * context as it streams: input sniffing and gzip, and a tar reader that
 * keeps only the Dockerfile (moby 20.10 builder/remotecontext, Go's
 * archive/tar); dockerfile.c reads its FROM lines.
 */
#include "buildctx.h"
#include "dockerfile.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define NAME_MAX_LEN 4096       /* PATH_MAX: longer entry names are refused */
#define SPECIAL_MAX (1 << 20)   /* Go archive/tar's limit on 'x', 'g', 'L', 'K' data */
#define LINKS_MAX 1024          /* distinct link basenames remembered */
#define ZOUT 16384              /* inflate output per step */
/* What the gzip data read so far may inflate to: this many times it, plus
 * ZSLACK. The context is read on the proxy's event loop; a gzip bomb
 * (deflate reaches 1032:1) must not hold it for more than milliseconds a
 * feed. */
#define ZRATIO_MAX 64
#define ZSLACK (1u << 20)

_Static_assert(BUILDCTX_IMAGES_MAX == DOCKERFILE_IMAGES_MAX, "one limit, told twice");

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
	uint64_t zin, zout_total;     /* gzip bytes read, and what they inflated to */
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
	uint64_t in0 = b->zin;

	b->z.next_in = (unsigned char *)p;
	b->z.avail_in = (uInt)n;
	while (b->ts != T_END && (b->z.avail_in > 0 || b->z.avail_out == 0)) {
		b->zin = in0 + (n - b->z.avail_in);
		if (b->zout_total > b->zin * ZRATIO_MAX + ZSLACK) {
			b->err = BUILDCTX_RATIO_ERR;
			return -1;
		}
		if (b->z_end) {
			/* Go's gzip reader reads concatenated members as one stream. */
			inflateReset(&b->z);
			b->z_end = 0;
		}
		b->z.next_out = b->zout;
		b->z.avail_out = ZOUT;
		int rc = inflate(&b->z, Z_NO_FLUSH);
		size_t got = ZOUT - b->z.avail_out;

		b->zout_total += got;
		if (got && tar_consume(b, b->zout, got) < 0)
			return -1;
		/* Go's tar reader stops at the end blocks, so dockerd never reads
		 * what follows them: a corrupt stream or a bad CRC or length in
		 * the gzip trailer there, which inflate() may reach in the same
		 * call, is no error. */
		if (b->ts == T_END)
			return 0;
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
	if ((*why = context_end(b)) != NULL || (*why = dockerfile_bytes(b)) != NULL)
		return NULL;
	return dockerfile_base_images(b->df, b->ndf, b->buildargs, why);
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
