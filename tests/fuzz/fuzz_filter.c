/* fuzz_filter.c - libFuzzer target over the streamed list filter
 * (proxy/filter.c): a list answer's body, given to filter_body() in pieces,
 * against a reference that reads the whole body with jansson and keeps what
 * owner_list_filter() keeps. The promises checked:
 *   - the answer is well framed: our head, chunks, and the last chunk only
 *     when the list was whole;
 *   - when jansson reads the body, the answer is complete, the connection
 *     stays open, and the items sent are exactly the ones the reference
 *     keeps (parsed, json_equal());
 *   - when it does not, the answer is not complete (a 502 if nothing went
 *     out, else cut short) and the connection closes, unless jansson refused
 *     only a number too large for it (the filter takes any size);
 *   - the memory held for items is given back.
 *
 * Input: byte 0 picks the kind (containers: Labels; volumes: the list in
 * "Volumes"; services: Spec.Labels), byte 1 the pieces (0: the whole body at
 * once, else sizes from 1 to it, drawn from the rest), the rest is the
 * body. Our session is "s1". Build and run with tests/fuzz/build.sh.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../proxy/filter.h"
#include "../../proxy/owner.h"
#include "../../proxy/proxy-internal.h"
#include "llhttp.h"
#include "oracle.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct proxy_config cfg;
static struct proxy proxy;
static struct conn conn;

/* Is the connection to close once the answer is out? The one thing of the
 * relay's that the filter sets. */
#define CONN_CLOSES(c) ((c)->end == END_AFTER_ANSWER)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	cfg.rewrite.labels = json_pack("{s:s}", "ci-wrap.session", "s1");
	proxy.owner = owner_new(NULL, &cfg, NULL);
	conn.proxy = &proxy;
	return 0;
}

/* The answer as a client reads it. */
struct answer {
	int status;	/* from the head, 0 if there is none */
	char *body;	/* de-chunked, malloc'd */
	size_t len;	/* its length */
	bool complete;	/* the last chunk came */
};

/* Read our answer: a head, then (for a 200) chunks, strictly framed. */
static void read_answer(const char *out, size_t n, struct answer *a)
{
	const char *end = out ? memmem(out, n, "\r\n\r\n", 4) : NULL, *at, *stop = out + n;

	memset(a, 0, sizeof(*a));
	a->body = malloc(n + 1);
	CHECK(n == 0 || end != NULL, "output without a head");
	if (end == NULL)
		return;
	a->status = atoi(out + 9);
	at = end + 4;
	if (a->status != 200)
		return;
	CHECK(memmem(out, (size_t)(end + 2 - out), "Transfer-Encoding: chunked\r\n", 28) != NULL,
	      "a 200 without chunked framing");
	while (at < stop) {
		char *nl;
		unsigned long size = strtoul(at, &nl, 16);

		CHECK(nl > at && stop - nl >= 2 && memcmp(nl, "\r\n", 2) == 0,
		      "bad chunk size line");
		at = nl + 2;
		if (size == 0) {
			CHECK(stop - at == 2 && memcmp(at, "\r\n", 2) == 0,
			      "bytes after the last chunk");
			a->complete = true;
			return;
		}
		CHECK((size_t)(stop - at) >= size + 2 && memcmp(at + size, "\r\n", 2) == 0,
		      "a chunk of %lu not ended by CRLF", size);
		memcpy(a->body + a->len, at, size);
		a->len += size;
		at += size + 2;
	}
}

/* The next piece's length: 1 to max, from the input's bytes in turn. */
static size_t piece_len(const uint8_t *data, size_t size, size_t *seed, size_t max)
{
	return max == 0 ? size : 1 + data[(*seed)++ % size] % max;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const paths[] = { "/containers/json", "/volumes", "/services" };
	const char *path, *body;
	size_t len, off = 0, seed = 0, max, n;
	struct answer a;
	json_error_t err;
	json_t *ref, *got;
	char *out;

	if (size < 2)
		return 0;
	path = paths[data[0] % 3];
	max = data[1];
	body = (const char *)data + 2;
	len = size - 2;

	conn = (struct conn){ .proxy = &proxy }; /* a connection of its own */
	filter_begin(&conn, HTTP_GET, path);
	filter_head(&conn, 200, false);
	CHECK(filter_hold(&conn) == FILTER_CUT, "a 200 list is not filtered");
	while (off < len) {
		n = piece_len(data, size, &seed, max);
		n = n > len - off ? len - off : n;
		CHECK(!filter_body(&conn, body + off, n), "a list paused the parser");
		off += n;
	}
	filter_end(&conn);
	out = filter_take_output(&conn, &n);
	filter_reset(&conn);
	CHECK(proxy.body_bytes == 0, "%zu bytes still held", proxy.body_bytes);
	read_answer(out, n, &a);

	/* jansson loses a NUL byte that follows a number or a word (its lexer
	 * reads the byte again after an unget as the end of its buffer), so it
	 * takes "[1\0]"; no JSON holds a NUL outside a string, nor does this. */
	memset(&err, 0, sizeof(err));
	ref = memchr(body, '\0', len) ? NULL : json_loadb(body, len, 0, &err);
	if (ref != NULL) {
		owner_list_filter("s1", owner_list_kind(HTTP_GET, path), ref);
		CHECK(a.status == 200 && a.complete && !CONN_CLOSES(&conn),
		      "a list jansson reads was not sent whole (%d)", a.status);
		got = json_loadb(a.body, a.len, 0, NULL);
		CHECK(got != NULL && json_equal(got, ref), "the list sent is not what %s",
		      "owner_list_filter() keeps");
		json_decref(got);
		json_decref(ref);
	} else {
		CHECK(!a.complete || json_error_code(&err) == json_error_numeric_overflow,
		      "a list jansson refuses (%s) was sent whole", err.text);
		CHECK(a.complete || CONN_CLOSES(&conn),
		      "a list cut short leaves the connection open");
		CHECK(a.complete || a.status == 502 || a.status == 200, "answered %d", a.status);
	}
	free(a.body);
	free(out);
	return 0;
}
