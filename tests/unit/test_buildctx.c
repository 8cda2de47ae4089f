/* test_buildctx.c - the base images read from a build context: tars made
 * here (ustar, GNU and pax headers by hand, and by tar(1)), fed at every
 * split point, plain and gzip-compressed; the Dockerfile found is read by
 * dockerfile.c (test_dockerfile.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <zlib.h>

#include "../../proxy/buildctx.h"

struct tarb {
	unsigned char *p;
	size_t n, cap;
};

static void tb_put(struct tarb *t, const void *p, size_t n)
{
	if (n == 0)
		return;
	if (t->n + n > t->cap) {
		t->cap = (t->n + n) * 2 + 1024;
		t->p = realloc(t->p, t->cap);
		assert_non_null(t->p);
	}
	memcpy(t->p + t->n, p, n);
	t->n += n;
}

static void tb_pad(struct tarb *t)
{
	static const unsigned char zeros[512];

	tb_put(t, zeros, (512 - t->n % 512) % 512);
}

static void checksum(unsigned char *h)
{
	unsigned sum = 0;

	memset(h + 148, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
}

/* A ustar header (name split into prefix and name past 100 bytes). */
static void tb_header(struct tarb *t, const char *name, char type, size_t size, const char *magic)
{
	unsigned char h[512] = {0};
	size_t n = strlen(name);

	if (n > 100 && strcmp(magic, "ustar") == 0) {
		const char *slash = strchr(name + n - 100, '/');
		assert_non_null(slash);
		memcpy(h + 345, name, (size_t)(slash - name));
		memcpy(h, slash + 1, strlen(slash + 1));
	} else {
		memcpy(h, name, n < 100 ? n : 100);
	}
	snprintf((char *)h + 100, 8, "%07o", 0644);
	snprintf((char *)h + 108, 8, "%07o", 0);
	snprintf((char *)h + 116, 8, "%07o", 0);
	char sz[32];
	snprintf(sz, sizeof(sz), "%011zo", size);
	memcpy(h + 124, sz, 11);
	snprintf((char *)h + 136, 12, "%011o", 0);
	h[156] = (unsigned char)type;
	if (strcmp(magic, "ustar") == 0)
		memcpy(h + 257, "ustar\0" "00", 8);
	else if (strcmp(magic, "gnu") == 0)
		memcpy(h + 257, "ustar  \0", 8);
	checksum(h);
	tb_put(t, h, 512);
}

static void tb_file(struct tarb *t, const char *name, char type, const char *data)
{
	size_t n = data ? strlen(data) : 0;

	tb_header(t, name, type, n, "ustar");
	tb_put(t, data, n);
	tb_pad(t);
}

static void tb_gnu_long(struct tarb *t, const char *name, const char *data)
{
	tb_header(t, "././@LongLink", 'L', strlen(name) + 1, "gnu");
	tb_put(t, name, strlen(name) + 1);
	tb_pad(t);
	tb_header(t, "truncated-name", '0', strlen(data), "gnu");
	tb_put(t, data, strlen(data));
	tb_pad(t);
}

static void tb_pax(struct tarb *t, const char *records, char type)
{
	tb_header(t, "PaxHeaders/x", type, strlen(records), "ustar");
	tb_put(t, records, strlen(records));
	tb_pad(t);
}

static void tb_end(struct tarb *t)
{
	static const unsigned char zeros[1024];

	tb_put(t, zeros, 1024);
}

/* The context with one Dockerfile in it, between two other files. */
static struct tarb ctx_with(const char *dockerfile)
{
	struct tarb t = {0};

	tb_file(&t, "./", '5', NULL);
	tb_file(&t, "./README", '0', "hello\n");
	tb_file(&t, "./Dockerfile", '0', dockerfile);
	tb_file(&t, "./src/main.c", '0', "int main(void) { return 0; }\n");
	tb_end(&t);
	return t;
}

static json_t *run_split(const unsigned char *p, size_t n, size_t cut, const char *df,
			 const char *args, const char **why, int *fed)
{
	json_t *ba = args ? json_loads(args, 0, NULL) : NULL;
	struct buildctx *b = buildctx_new(df, ba);
	json_t *out = NULL;

	json_decref(ba);
	assert_non_null(b);
	*fed = 0;
	if (buildctx_feed(b, (const char *)p, cut, why) < 0 ||
	    buildctx_feed(b, (const char *)p + cut, n - cut, why) < 0)
		*fed = -1;
	else
		out = buildctx_images(b, why);
	buildctx_free(b);
	return out;
}

static json_t *run_bytes(const unsigned char *p, size_t n, const char *df, const char *args,
			 const char **why)
{
	json_t *ba = args ? json_loads(args, 0, NULL) : NULL;
	struct buildctx *b = buildctx_new(df, ba);
	json_t *out = NULL;
	size_t i;

	json_decref(ba);
	for (i = 0; i < n; i++)
		if (buildctx_feed(b, (const char *)p + i, 1, why) < 0)
			break;
	if (i == n)
		out = buildctx_images(b, why);
	buildctx_free(b);
	return out;
}

/* want: the JSON array expected, or "!" followed by a part of the reason. */
static void expect(const unsigned char *p, size_t n, const char *df, const char *args,
		   const char *want)
{
	char *first = NULL;
	int fed;

	for (size_t cut = 0; cut <= n; cut++) {
		const char *why = NULL;
		json_t *got = run_split(p, n, cut, df, args, &why, &fed);
		char *s = got ? json_dumps(got, JSON_COMPACT) : NULL;
		if (want[0] == '!') {
			if (got || !why || !strstr(why, want + 1))
				fail_msg("split %zu: got %s (%s), want failure \"%s\"", cut,
					 s ? s : "NULL", why ? why : "-", want + 1);
		} else if (!s || strcmp(s, want) != 0) {
			fail_msg("split %zu: got %s (%s), want %s", cut, s ? s : "NULL",
				 why ? why : "-", want);
		}
		if (cut == 0)
			first = s ? strdup(s) : NULL;
		free(s);
		json_decref(got);
	}
	const char *why = NULL;
	json_t *got = run_bytes(p, n, df, args, &why);
	char *s = got ? json_dumps(got, JSON_COMPACT) : NULL;
	assert_true((s == NULL) == (first == NULL));
	if (s)
		assert_string_equal(s, first);
	free(s);
	free(first);
	json_decref(got);
}

/* The Dockerfile alone in a context, fed at every split point. */
static void expect_df(const char *dockerfile, const char *args, const char *want)
{
	struct tarb t = ctx_with(dockerfile);

	expect(t.p, t.n, NULL, args, want);
	free(t.p);
}

static struct tarb gzip_of(const unsigned char *p, size_t n)
{
	struct tarb t = {0};
	z_stream z = {0};
	unsigned char out[4096];

	assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (unsigned char *)p;
	z.avail_in = (uInt)n;
	int rc;
	do {
		z.next_out = out;
		z.avail_out = sizeof(out);
		rc = deflate(&z, Z_FINISH);
		tb_put(&t, out, sizeof(out) - z.avail_out);
	} while (rc != Z_STREAM_END);
	deflateEnd(&z);
	return t;
}

/* ---- tar ---- */

static void plain_context(void **state)
{
	(void)state;
	expect_df("FROM alpine:3.19\nRUN true\n", NULL, "[\"alpine:3.19\"]");
}

static void dockerfile_path(void **state)
{
	struct tarb t = {0};

	(void)state;
	tb_file(&t, "Dockerfile", '0', "FROM root\n");
	tb_file(&t, "sub/dir/My.dockerfile", '0', "FROM custom\n");
	tb_file(&t, ".dockerfile.abc123", '0', "FROM stdin\n");
	tb_end(&t);
	expect(t.p, t.n, NULL, NULL, "[\"root\"]");
	expect(t.p, t.n, "", NULL, "[\"root\"]");
	expect(t.p, t.n, "sub/dir/My.dockerfile", NULL, "[\"custom\"]");
	expect(t.p, t.n, "./sub//dir/../dir/My.dockerfile", NULL, "[\"custom\"]");
	expect(t.p, t.n, ".dockerfile.abc123", NULL, "[\"stdin\"]");
	expect(t.p, t.n, "missing", NULL, "!no Dockerfile");
	free(t.p);
}

static void last_entry_wins(void **state)
{
	struct tarb t = {0};

	(void)state;
	tb_file(&t, "./Dockerfile", '0', "FROM first\n");
	tb_file(&t, "other", '0', "x");
	tb_file(&t, "Dockerfile", '0', "FROM second\n");
	tb_end(&t);
	expect(t.p, t.n, NULL, NULL, "[\"second\"]");
	free(t.p);
}

static void lowercase_fallback(void **state)
{
	struct tarb t = {0};

	(void)state;
	tb_file(&t, "dockerfile", '0', "FROM lower\n");
	tb_end(&t);
	expect(t.p, t.n, NULL, NULL, "[\"lower\"]");
	expect(t.p, t.n, "./Dockerfile", NULL, "!no Dockerfile"); /* only for the default */
	free(t.p);

	t = (struct tarb){0};
	tb_file(&t, "dockerfile", '0', "FROM lower\n");
	tb_file(&t, "Dockerfile", '0', "FROM upper\n");
	tb_file(&t, "dockerfile", '0', "FROM lower2\n");
	tb_end(&t);
	expect(t.p, t.n, NULL, NULL, "[\"upper\"]");
	free(t.p);
}

static void not_regular(void **state)
{
	struct tarb t = {0};

	(void)state;
	tb_file(&t, "Dockerfile", '0', "FROM benign\n");
	tb_header(&t, "Dockerfile", '2', 0, "ustar"); /* a symlink replaces it */
	tb_end(&t);
	expect(t.p, t.n, NULL, NULL, "!not a regular file");
	free(t.p);

	/* A link, then a regular file again: the file wins. */
	t = (struct tarb){0};
	tb_header(&t, "Dockerfile", '1', 0, "ustar");
	tb_file(&t, "Dockerfile", '0', "FROM again\n");
	tb_end(&t);
	expect(t.p, t.n, NULL, NULL, "[\"again\"]");
	free(t.p);
}

static void header_only_types_have_no_data(void **state)
{
	struct tarb t = {0};

	(void)state;
	/* Go skips no data after a symlink or directory whatever its size says. */
	tb_header(&t, "dir", '5', 1024, "ustar");
	tb_file(&t, "Dockerfile", '0', "FROM seen\n");
	tb_end(&t);
	expect(t.p, t.n, NULL, NULL, "[\"seen\"]");
	free(t.p);
}

static void write_through_link(void **state)
{
	struct tarb t = {0};

	(void)state;
	tb_file(&t, "Dockerfile", '0', "FROM benign\n");
	tb_header(&t, "d", '2', 0, "ustar"); /* d -> . */
	tb_file(&t, "d/Dockerfile", '0', "FROM other-session\n");
	tb_end(&t);
	expect(t.p, t.n, NULL, NULL, "!through a link");
	free(t.p);

	t = (struct tarb){0};
	tb_header(&t, "sub", '2', 0, "ustar");
	tb_file(&t, "sub/Dockerfile", '0', "FROM x\n");
	tb_end(&t);
	expect(t.p, t.n, "sub/Dockerfile", NULL, "!not a directory");
	free(t.p);

	/* Other links and other files named Dockerfile are fine. */
	t = (struct tarb){0};
	tb_header(&t, "node_modules/.bin/tool", '2', 0, "ustar");
	tb_file(&t, "services/a/Dockerfile", '0', "FROM a\n");
	tb_file(&t, "Dockerfile", '0', "FROM root\n");
	tb_end(&t);
	expect(t.p, t.n, NULL, NULL, "[\"root\"]");
	free(t.p);
}

static void gnu_long_name(void **state)
{
	struct tarb t = {0};
	char name[300];

	(void)state;
	snprintf(name, sizeof(name), "%0150d/deep/Dockerfile.ci", 0);
	tb_file(&t, "Dockerfile", '0', "FROM root\n");
	tb_gnu_long(&t, name, "FROM long-gnu\n");
	tb_end(&t);
	expect(t.p, t.n, name, NULL, "[\"long-gnu\"]");
	free(t.p);
}

static void pax_path_and_size(void **state)
{
	struct tarb t = {0};
	char name[300], rec[400];

	(void)state;
	snprintf(name, sizeof(name), "%0150d/Dockerfile.pax", 0);
	size_t len = strlen(name) + strlen(" path=\n");
	len += snprintf(NULL, 0, "%zu", len + 3) == 3 ? 3 : 2;
	snprintf(rec, sizeof(rec), "%zu path=%s\n11 size=14\n", len, name);
	tb_pax(&t, rec, 'x');
	/* the header's own size is wrong; pax size= wins */
	tb_header(&t, "short", '0', 3, "ustar");
	tb_put(&t, "FROM long-pax\n", 14);
	tb_pad(&t);
	tb_pax(&t, "23 comment=git archive\n", 'g');
	tb_file(&t, "Dockerfile", '0', "FROM root\n");
	tb_end(&t);
	expect(t.p, t.n, name, NULL, "[\"long-pax\"]");
	expect(t.p, t.n, NULL, NULL, "[\"root\"]");
	free(t.p);
}

static void ustar_prefix(void **state)
{
	struct tarb t = {0};
	char name[300];

	(void)state;
	snprintf(name, sizeof(name), "%0120d/Dockerfile", 0);
	tb_file(&t, name, '0', "FROM prefixed\n");
	tb_end(&t);
	expect(t.p, t.n, name, NULL, "[\"prefixed\"]");
	free(t.p);
}

static void base256_size(void **state)
{
	struct tarb t = {0};

	(void)state;
	tb_header(&t, "Dockerfile", '0', 0, "gnu");
	unsigned char *h = t.p + t.n - 512;
	memset(h + 124, 0, 12);
	h[124] = 0x80;
	h[135] = 12;
	checksum(h);
	tb_put(&t, "FROM base256", 12);
	tb_pad(&t);
	tb_end(&t);
	expect(t.p, t.n, NULL, NULL, "[\"base256\"]");
	free(t.p);
}

static void real_tar(const char *format, const char *dfpath)
{
	char dir[] = "/tmp/test_buildctx.XXXXXX", cmd[1024];

	assert_non_null(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd),
		 "set -e; cd %s; mkdir -p \"$(dirname '%s')\"; printf 'FROM real\\n' >'%s';"
		 " echo hi >README; ln -s README link", dir, dfpath, dfpath);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "tar --format=%s -cf - -C %s .", format, dir);
	FILE *f = popen(cmd, "r");
	assert_non_null(f);
	struct tarb t = {0};
	unsigned char buf[4096];
	size_t k;
	while ((k = fread(buf, 1, sizeof(buf), f)) > 0)
		tb_put(&t, buf, k);
	assert_int_equal(pclose(f), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	expect(t.p, t.n, dfpath, NULL, "[\"real\"]");
	struct tarb z = gzip_of(t.p, t.n);
	expect(z.p, z.n, dfpath, NULL, "[\"real\"]");
	free(z.p);
	free(t.p);
}

static void tar_formats(void **state)
{
	char longpath[300];

	(void)state;
	snprintf(longpath, sizeof(longpath), "a/%0140d/Dockerfile", 7);
	real_tar("gnu", "Dockerfile");
	real_tar("gnu", longpath);
	real_tar("pax", longpath);
	real_tar("ustar", "ci/Dockerfile");
}

static void gzip_context(void **state)
{
	struct tarb t = ctx_with("FROM gz\n");

	(void)state;
	struct tarb z = gzip_of(t.p, t.n);
	expect(z.p, z.n, NULL, NULL, "[\"gz\"]");
	/* two members, as Go's reader reads them */
	struct tarb z1 = gzip_of(t.p, 1024), z2 = gzip_of(t.p + 1024, t.n - 1024);
	tb_put(&z1, z2.p, z2.n);
	expect(z1.p, z1.n, NULL, NULL, "[\"gz\"]");
	/* truncated */
	expect(z.p, z.n / 2, NULL, NULL, "!");
	free(z.p);
	free(z1.p);
	free(z2.p);
	free(t.p);
}

/* A gzip bomb (8 MiB of zeros after the Dockerfile, a few KiB compressed)
 * is refused before it is inflated whole: the context is read on the
 * proxy's event loop. */
static void gzip_bomb_refused(void **state)
{
	const size_t zeros = 8u << 20;
	struct tarb t = {0};
	unsigned char *big = calloc(1, zeros);
	const char *why = NULL;

	(void)state;
	tb_file(&t, "Dockerfile", '0', "FROM gz\n");
	tb_header(&t, "zeros", '0', zeros, "ustar");
	tb_put(&t, big, zeros);
	tb_end(&t);
	struct tarb z = gzip_of(t.p, t.n);
	assert_true(z.n * 64 + (1u << 20) < t.n); /* a bomb by the rule */
	struct buildctx *b = buildctx_new(NULL, NULL);
	assert_int_equal(buildctx_feed(b, (const char *)z.p, z.n, &why), -1);
	assert_string_equal(why, BUILDCTX_RATIO_ERR);
	buildctx_free(b);
	free(big);
	free(z.p);
	free(t.p);
}

/* Go's tar reader stops at the end blocks and never reads on to the gzip
 * trailer; without end blocks the trailer is read and checked. */
static void gzip_trailer_after_end(void **state)
{
	struct tarb t = ctx_with("FROM gz\n"), open = {0};

	(void)state;
	struct tarb z = gzip_of(t.p, t.n);
	z.p[z.n - 1] ^= 0x40; /* ISIZE */
	expect(z.p, z.n, NULL, NULL, "[\"gz\"]");
	tb_file(&open, "Dockerfile", '0', "FROM gz\n");
	struct tarb zo = gzip_of(open.p, open.n);
	expect(zo.p, zo.n, NULL, NULL, "[\"gz\"]");
	zo.p[zo.n - 8] ^= 0x40; /* CRC */
	expect(zo.p, zo.n, NULL, NULL, "!corrupt");
	free(z.p);
	free(zo.p);
	free(open.p);
	free(t.p);
}

static void compressions_refused(void **state)
{
	const char *why = NULL;
	int fed;

	(void)state;
	json_t *got = run_split((const unsigned char *)"BZh91AY&SY", 10, 5, NULL, NULL, &why, &fed);
	assert_null(got);
	assert_int_equal(fed, -1);
	assert_non_null(strstr(why, "bzip2"));
	got = run_split((const unsigned char *)"\xfd" "7zXZ\0\0\0\0", 10, 3, NULL, NULL, &why, &fed);
	assert_null(got);
	assert_int_equal(fed, -1);
	assert_non_null(strstr(why, "xz"));
}

static void malformed(void **state)
{
	struct tarb t = ctx_with("FROM x\n");

	(void)state;
	expect(t.p, 700, NULL, NULL, "!ends in the middle"); /* truncated header */
	expect(t.p, 1030, NULL, NULL, "!ends in the middle"); /* truncated data */
	t.p[512 + 148] ^= 1; /* checksum */
	expect(t.p, t.n, NULL, NULL, "!not a tar");
	t.p[512 + 148] ^= 1;
	t.p[512 + 124 + 3] = '9'; /* bad octal in the size */
	checksum(t.p + 512);
	expect(t.p, t.n, NULL, NULL, "!bad size");
	free(t.p);
	expect((const unsigned char *)"{\"not\": \"a tar\"}", 16, NULL, NULL, "!");
	expect((const unsigned char *)"", 0, NULL, NULL, "!no Dockerfile");
}

static void oversize_dockerfile(void **state)
{
	struct tarb t = {0};
	const char *why = NULL;
	int fed;

	(void)state;
	tb_header(&t, "Dockerfile", '0', BUILDCTX_DOCKERFILE_MAX + 1, "ustar");
	json_t *got = run_split(t.p, t.n, 100, NULL, NULL, &why, &fed);
	assert_null(got);
	assert_int_equal(fed, -1);
	assert_non_null(strstr(why, "1 MiB"));
	free(t.p);

	/* A big other file is skipped, not held. */
	t = (struct tarb){0};
	size_t big = 3 * 1024 * 1024;
	char *data = malloc(big + 1);
	memset(data, 'x', big);
	data[big] = '\0';
	tb_file(&t, "blob", '0', data);
	tb_file(&t, "Dockerfile", '0', "FROM after-blob\n");
	tb_end(&t);
	got = run_split(t.p, t.n, 777, NULL, NULL, &why, &fed);
	assert_non_null(got);
	assert_string_equal(json_string_value(json_array_get(got, 0)), "after-blob");
	json_decref(got);
	free(data);
	free(t.p);
}

/* ---- the Dockerfile (how it is read: test_dockerfile.c) ---- */

static void dockerfile_with_buildargs(void **state)
{
	const char *df = "ARG BASE=alpine\nARG TAG\nFROM ${BASE}:${TAG:-3}\nFROM scratch\n";

	(void)state;
	expect_df(df, NULL, "[\"alpine:3\"]");
	expect_df(df, "{\"TAG\": \"edge\"}", "[\"alpine:edge\"]");
	expect_df("RUN true\n", NULL, "!no FROM");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plain_context),
		cmocka_unit_test(dockerfile_path),
		cmocka_unit_test(last_entry_wins),
		cmocka_unit_test(lowercase_fallback),
		cmocka_unit_test(not_regular),
		cmocka_unit_test(header_only_types_have_no_data),
		cmocka_unit_test(write_through_link),
		cmocka_unit_test(gnu_long_name),
		cmocka_unit_test(pax_path_and_size),
		cmocka_unit_test(ustar_prefix),
		cmocka_unit_test(base256_size),
		cmocka_unit_test(tar_formats),
		cmocka_unit_test(gzip_context),
		cmocka_unit_test(gzip_trailer_after_end),
		cmocka_unit_test(gzip_bomb_refused),
		cmocka_unit_test(compressions_refused),
		cmocka_unit_test(malformed),
		cmocka_unit_test(oversize_dockerfile),
		cmocka_unit_test(dockerfile_with_buildargs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
