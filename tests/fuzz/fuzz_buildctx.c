/* fuzz_buildctx.c - libFuzzer target: a classic build's context read as it
 * streams (proxy/buildctx.c) and its Dockerfile's base images
 * (proxy/dockerfile.c).
 *
 * The proxy feeds the context in whatever runs the client's TCP segments and
 * HTTP chunks happen to cut it into, so the answer must not depend on them:
 * the same bytes fed in one piece, byte by byte and at the fuzzed cut points
 * give the same images (or fail with the same reason); once a feed fails,
 * every later feed and buildctx_images() fail with that reason. In text mode
 * the input is a Dockerfile, wrapped here in a plain ustar context: what
 * buildctx_images() yields for it equals dockerfile_base_images() on the
 * text itself. And no crash, leak or undefined behaviour.
 *
 * Input: a 9-byte head, then the body.
 *   byte 0: bits 0-1 the build's `dockerfile` value (names[] below), bit 2
 *           buildargs given, bit 3 text mode (the body is a Dockerfile);
 *   bytes 1-8: four 16-bit cut points, each taken modulo the length + 1.
 * Build and run with tests/fuzz/build.sh (seeds in tests/fuzz/corpus-buildctx).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../proxy/buildctx.h"
#include "../../proxy/dockerfile.h"
#include "oracle.h" /* CHECK() */

#define HEAD 9
#define CUTS 4


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {NULL, "Dockerfile", "dir/Dockerfile", "Dockerfile.dev"};

/* How one reading ended: images as compact JSON, or the reason. */
struct result {
	char *json;      /* the images, or NULL */
	const char *why; /* the reason when json is NULL */
};

static void result_take(struct result *r, json_t *images, const char *why)
{
	r->json = images ? json_dumps(images, JSON_COMPACT) : NULL;
	CHECK(!images || r->json, "json_dumps failed");
	CHECK(images || why, "no images and no reason");
	r->why = images ? NULL : why;
	json_decref(images);
}

static int result_same(const struct result *a, const struct result *b)
{
	/* How much of a gzip bomb is read before the ratio trips depends on
	 * where the body was cut: a refusal at one cut may be images or a
	 * later refusal at another. */
	if ((a->why && strcmp(a->why, BUILDCTX_RATIO_ERR) == 0) ||
	    (b->why && strcmp(b->why, BUILDCTX_RATIO_ERR) == 0))
		return 1;
	if (a->json || b->json)
		return a->json && b->json && strcmp(a->json, b->json) == 0;
	return strcmp(a->why, b->why) == 0;
}

static const char *result_str(const struct result *r)
{
	return r->json ? r->json : r->why;
}

/* Feed p[0..n) cut at cuts[0..ncuts) (ascending, each at most n). */
static struct result run(const char *df, json_t *args, const uint8_t *p, size_t n,
			 const size_t *cuts, size_t ncuts)
{
	struct buildctx *b = buildctx_new(df, args);
	const char *failed = NULL, *why = NULL;
	struct result r;
	size_t at = 0;

	CHECK(b, "buildctx_new failed");
	for (size_t i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : n;
		int rc = buildctx_feed(b, (const char *)p + at, end - at, &why);
		CHECK(!failed || (rc < 0 && strcmp(why, failed) == 0),
		      "a feed after \"%s\" gave %d (%s)", failed, rc, rc < 0 ? why : "-");
		if (rc < 0 && !failed)
			failed = why;
		at = end;
	}
	json_t *images = buildctx_images(b, &why);
	CHECK(!failed || (!images && strcmp(why, failed) == 0),
	      "images after the feed failed with \"%s\": %s", failed, images ? "[...]" : why);
	result_take(&r, images, why);
	buildctx_free(b);
	return r;
}

static struct result run_bytes(const char *df, json_t *args, const uint8_t *p, size_t n)
{
	size_t *cuts = malloc((n ? n : 1) * sizeof(*cuts));

	CHECK(cuts, "out of memory");
	for (size_t i = 0; i < n; i++)
		cuts[i] = i;
	struct result r = run(df, args, p, n, cuts, n);
	free(cuts);
	return r;
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

static void tar_put_octal(uint8_t *f, size_t width, size_t v)
{
	snprintf((char *)f, width, "%0*zo", (int)width - 1, v);
}

/* A plain ustar context holding text as ./Dockerfile: header, data,
 * padding, two zero blocks. */
static uint8_t *tar_of(const uint8_t *text, size_t n, size_t *len)
{
	size_t data = (n + 511) / 512 * 512;
	uint8_t *t = calloc(1, 512 + data + 1024);
	unsigned sum = 0;

	CHECK(t, "out of memory");
	memcpy(t, "Dockerfile", 10);
	tar_put_octal(t + 100, 8, 0644);
	tar_put_octal(t + 108, 8, 0);
	tar_put_octal(t + 116, 8, 0);
	tar_put_octal(t + 124, 12, n);
	tar_put_octal(t + 136, 12, 0);
	t[156] = '0';
	memcpy(t + 257, "ustar\0" "00", 8);
	memset(t + 148, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += t[i];
	snprintf((char *)t + 148, 8, "%06o", sum);
	memcpy(t + 512, text, n);
	*len = 512 + data + 1024;
	return t;
}

/* The Dockerfile read directly and through a context must agree. */
static void check_direct(json_t *args, const uint8_t *text, size_t n, const struct result *ctx)
{
	const char *why = NULL;
	struct result direct;

	if (n == 0) {
		CHECK(!ctx->json && strstr(ctx->why, "empty"), "empty Dockerfile: %s",
		      result_str(ctx));
		return;
	}
	result_take(&direct, dockerfile_base_images((const char *)text, n, args, &why), why);
	CHECK(result_same(&direct, ctx), "direct %s, through a context %s",
	      result_str(&direct), result_str(ctx));
	free(direct.json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < HEAD)
		return 0;
	uint8_t opt = data[0];
	const char *df = names[opt & 3];
	json_t *args = (opt & 4) ? json_pack("{s:s, s:s, s:n}", "TAG", "edge", "BASE",
					     "busybox", "REG") : NULL;
	const uint8_t *body = data + HEAD;
	size_t n = size - HEAD, cuts[CUTS];
	uint8_t *ctx = NULL;

	if (opt & 8) {
		df = NULL;
		ctx = tar_of(body, n, &n);
		body = ctx;
	}
	for (int i = 0; i < CUTS; i++)
		cuts[i] = (size_t)(data[1 + 2 * i] << 8 | data[2 + 2 * i]) % (n + 1);
	qsort(cuts, CUTS, sizeof(*cuts), cmp_size);

	struct result whole = run(df, args, body, n, NULL, 0);
	struct result bytes = run_bytes(df, args, body, n);
	struct result split = run(df, args, body, n, cuts, CUTS);
	CHECK(result_same(&whole, &bytes), "whole %s, byte by byte %s", result_str(&whole),
	      result_str(&bytes));
	CHECK(result_same(&whole, &split), "whole %s, cut at %zu %zu %zu %zu: %s",
	      result_str(&whole), cuts[0], cuts[1], cuts[2], cuts[3], result_str(&split));
	if (opt & 8)
		check_direct(args, data + HEAD, size - HEAD, &whole);
	free(whole.json);
	free(bytes.json);
	free(split.json);
	free(ctx);
	json_decref(args);
	return 0;
}
