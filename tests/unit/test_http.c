/* test_http.c - the relay's framing helpers: head checks, Transfer-Encoding
 * and Content-Type tests, head rebuilding, Docker-style error answers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <jansson.h>

#include "../../proxy/http.h"

#define S(lit) lit, sizeof(lit) - 1

/* ---- http_check_head -------------------------------------------------------- */

static void check_head_clean(void **state)
{
	(void)state;
	assert_int_equal(http_check_head(S("GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")), 0);
	assert_int_equal(http_check_head(S("POST /containers/create HTTP/1.1\r\n"
					   "Host: api.moby.localhost\r\n"
					   "User-Agent: Docker-Client/20.10.24 (linux)\r\n"
					   "Content-Length: 2\r\n"
					   "Content-Type: application/json\r\n\r\n")),
			 0);
	/* HTAB is field whitespace, obs-text (0x80-0xff) is allowed in values. */
	assert_int_equal(http_check_head(S("GET / HTTP/1.1\r\nX-A:\tb\tc\r\n\r\n")), 0);
	assert_int_equal(http_check_head(S("GET / HTTP/1.1\r\nX-A: caf\xc3\xa9 \xff\r\n\r\n")), 0);
	assert_int_equal(http_check_head(S("")), 0);
}

static void check_head_bare_lf(void **state)
{
	(void)state;
	assert_int_equal(http_check_head(S("GET / HTTP/1.1\nHost: x\r\n\r\n")), 400);
	assert_int_equal(http_check_head(S("GET / HTTP/1.1\r\nHost: x\n\r\n")), 400);
	assert_int_equal(http_check_head(S("GET / HTTP/1.1\r\nHost: x\r\n\n")), 400);
	assert_int_equal(http_check_head(S("\nGET / HTTP/1.1\r\n\r\n")), 400);
	assert_int_equal(http_check_head(S("GET / HTTP/1.1\r\n\r\r\n\r\n")), 400);
}

static void check_head_bare_cr(void **state)
{
	(void)state;
	assert_int_equal(http_check_head(S("GET / HTTP/1.1\rHost: x\r\n\r\n")), 400);
	assert_int_equal(http_check_head(S("GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n")), 400);
	assert_int_equal(http_check_head(S("GET / HTTP/1.1\r\nHost: x\r\n\r")), 400);
	assert_int_equal(http_check_head(S("\r")), 400);
}

static void check_head_obs_fold(void **state)
{
	(void)state;
	assert_int_equal(http_check_head(S("GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n")), 400);
	assert_int_equal(http_check_head(S("GET / HTTP/1.1\r\nX-A: a\r\n\tb\r\n\r\n")), 400);
	assert_int_equal(http_check_head(S("GET / HTTP/1.1\r\n Host: x\r\n\r\n")), 400);
}

static void check_head_control_bytes(void **state)
{
	static const char head[] = "GET / HTTP/1.1\r\nX-A: a?b\r\n\r\n";
	char buf[sizeof(head)];
	char *q = strchr(head, '?');

	(void)state;
	for (int c = 0; c < 0x20; c++) {
		if (c == '\t' || c == '\r' || c == '\n')
			continue;
		memcpy(buf, head, sizeof(head));
		buf[q - head] = (char)c;
		if (http_check_head(buf, sizeof(head) - 1) != 400)
			fail_msg("control byte 0x%02x in a header value was accepted", c);
	}
	memcpy(buf, head, sizeof(head));
	buf[q - head] = 0x7f;
	assert_int_equal(http_check_head(buf, sizeof(head) - 1), 400);
	/* In the request line too. */
	assert_int_equal(http_check_head(S("GET /a\0b HTTP/1.1\r\n\r\n")), 400);
	assert_int_equal(http_check_head(S("GET /\x1b HTTP/1.1\r\n\r\n")), 400);
	/* Only len bytes are looked at. */
	assert_int_equal(http_check_head("GET / HTTP/1.1\r\n\r\n\0\n", 18), 0);
}

/* ---- http_framing_note / http_check_framing -------------------------------- */

/* The framing verdict on a head, its headers noted as the relay notes them. */
static int framing(const char *head, int minor, const char *const *fields)
{
	struct http_framing fr = { .major = 1, .minor = minor };
	const char *why = NULL;
	int status;

	for (; *fields != NULL; fields += 2)
		http_framing_note(&fr, fields[0], strlen(fields[0]), fields[1], strlen(fields[1]));
	status = http_check_framing(head, strlen(head), &fr, &why);
	if (status != 0)
		assert_non_null(why);
	return status;
}

#define FIELDS(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void framing_clean(void **state)
{
	(void)state;
	assert_int_equal(framing("GET / HTTP/1.1\r\n\r\n", 1, FIELDS(NULL)), 0);
	assert_int_equal(framing("POST / HTTP/1.1\r\n\r\n", 1,
				 FIELDS("Transfer-Encoding", " chunked ")),
			 0);
	assert_int_equal(framing("POST / HTTP/1.1\r\n\r\n", 1, FIELDS("content-length", "2")), 0);
	assert_int_equal(framing("POST / HTTP/1.0\r\n\r\n", 0, FIELDS("Content-Length", "2")), 0);
}

static void framing_te_cl(void **state)
{
	(void)state;
	assert_int_equal(framing("POST / HTTP/1.1\r\n\r\n", 1,
				 FIELDS("Transfer-Encoding", "chunked", "Content-Length", "2")),
			 400);
	assert_int_equal(framing("POST / HTTP/1.1\r\n\r\n", 1,
				 FIELDS("Content-Length", "2", "Content-Length", "2")),
			 400);
	assert_int_equal(framing("POST / HTTP/1.1\r\n\r\n", 1,
				 FIELDS("Transfer-Encoding", "chunked", "Transfer-Encoding", "chunked")),
			 501);
	assert_int_equal(framing("POST / HTTP/1.1\r\n\r\n", 1, FIELDS("Transfer-Encoding", "gzip")),
			 501);
}

/* Found by fuzz_framing (seed corpus-framing/http10-chunked): Go ignores
 * Transfer-Encoding in an HTTP/1.0 request and reads no body, so a chunked
 * body llhttp relays would be read by the daemon as the next request. */
static void framing_te_in_http10(void **state)
{
	(void)state;
	assert_int_equal(framing("POST /x HTTP/1.0\r\n\r\n", 0,
				 FIELDS("Connection", "keep-alive", "Transfer-Encoding", "chunked")),
			 400);
	assert_int_equal(framing("GET /x HTTP/1.0\r\n\r\n", 0, FIELDS("Transfer-Encoding", "chunked")),
			 400);
}

static void framing_version_and_method(void **state)
{
	struct http_framing fr = { .major = 2 };
	const char *why;

	(void)state;
	assert_int_equal(http_check_framing(S("PRI * HTTP/2.0\r\n\r\n"), &fr, &why), 505);
	fr = (struct http_framing){ .major = 1, .minor = 1, .connect = true };
	assert_int_equal(http_check_framing(S("CONNECT a:1 HTTP/1.1\r\n\r\n"), &fr, &why), 405);
	fr.connect = false;
	assert_int_equal(http_check_framing(S("GET / HTTP/1.1\nHost: x\r\n\r\n"), &fr, &why), 400);
	assert_int_equal(http_check_framing(S("GET  / HTTP/1.1\r\n\r\n"), &fr, &why), 400);
}

/* ---- http_te_is_chunked / http_ct_is_form --------------------------------- */

static void te_chunked(void **state)
{
	(void)state;
	assert_true(http_te_is_chunked(S("chunked")));
	assert_true(http_te_is_chunked(S("Chunked")));
	assert_true(http_te_is_chunked(S("CHUNKED")));
	assert_true(http_te_is_chunked(S(" chunked")));
	assert_true(http_te_is_chunked(S("chunked \t")));
	assert_true(http_te_is_chunked(S("\t chunked  ")));
	assert_false(http_te_is_chunked(S("")));
	assert_false(http_te_is_chunked(S("   ")));
	assert_false(http_te_is_chunked(S("gzip")));
	assert_false(http_te_is_chunked(S("gzip, chunked")));
	assert_false(http_te_is_chunked(S("chunked, chunked")));
	assert_false(http_te_is_chunked(S("chunked,")));
	assert_false(http_te_is_chunked(S("chunked;q=1")));
	assert_false(http_te_is_chunked(S("chunk")));
	assert_false(http_te_is_chunked(S("chunkedx")));
	assert_false(http_te_is_chunked(S("identity")));
	assert_false(http_te_is_chunked(S("\"chunked\"")));
	assert_false(http_te_is_chunked("chunked", 6));
}

static void ct_form(void **state)
{
	(void)state;
	assert_true(http_ct_is_form(S("application/x-www-form-urlencoded")));
	assert_true(http_ct_is_form(S("Application/X-WWW-Form-URLEncoded")));
	assert_true(http_ct_is_form(S("application/x-www-form-urlencoded; charset=utf-8")));
	assert_true(http_ct_is_form(S("application/x-www-form-urlencoded;charset=utf-8")));
	assert_true(http_ct_is_form(S("application/x-www-form-urlencoded ;charset=utf-8")));
	assert_true(http_ct_is_form(S("  application/x-www-form-urlencoded  ")));
	assert_true(http_ct_is_form(S("multipart/form-data; boundary=xyz")));
	assert_true(http_ct_is_form(S("MULTIPART/FORM-DATA")));
	assert_false(http_ct_is_form(S("")));
	assert_false(http_ct_is_form(S("application/json")));
	assert_false(http_ct_is_form(S("application/x-tar")));
	assert_false(http_ct_is_form(S("text/plain")));
	assert_false(http_ct_is_form(S("application/x-www-form-urlencodedx")));
	assert_false(http_ct_is_form(S("application/x-www-form")));
	assert_false(http_ct_is_form(S("multipart/form-datax")));
	assert_false(http_ct_is_form(S("multipart/mixed")));
	assert_false(http_ct_is_form("application/x-www-form-urlencoded", 20));
}

/* ---- http_rebuild_head ------------------------------------------------------- */

struct lines {
	char *v[64]; /* the head's lines, without CRLF */
	int n;	     /* how many, the blank one excluded */
};

/* Split a rebuilt head into lines; fails unless it is CRLF-framed and ends
 * with exactly one blank line. */
static void split_head(const char *head, size_t len, struct lines *l)
{
	size_t i = 0;

	l->n = 0;
	assert_true(len >= 4);
	assert_memory_equal(head + len - 4, "\r\n\r\n", 4);
	while (i < len) {
		const char *eol = memmem(head + i, len - i, "\r\n", 2);
		size_t n;

		assert_non_null(eol);
		n = (size_t)(eol - (head + i));
		if (n == 0) {
			assert_int_equal(i + 2, len); /* nothing after the blank line */
			return;
		}
		assert_true(l->n < 64);
		l->v[l->n] = strndup(head + i, n);
		assert_null(memchr(l->v[l->n], '\n', n));
		assert_null(memchr(l->v[l->n], '\r', n));
		l->n++;
		i += n + 2;
	}
	fail_msg("no blank line at the end of the head");
}

static void lines_free(struct lines *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->v[i]);
	l->n = 0;
}

static int count_prefix(const struct lines *l, const char *prefix)
{
	int n = 0;

	for (int i = 1; i < l->n; i++)
		n += strncasecmp(l->v[i], prefix, strlen(prefix)) == 0;
	return n;
}

/* Assert that the lines of l, without those starting with one of skip[],
 * are exactly want[] in order (byte for byte). */
static void assert_lines_in_order(const struct lines *l, const char *const *skip,
				  const char *const *want)
{
	int w = 0;

	for (int i = 0; i < l->n; i++) {
		bool skipped = false;

		for (int s = 0; skip[s] != NULL; s++)
			skipped |= strncmp(l->v[i], skip[s], strlen(skip[s])) == 0;
		if (skipped)
			continue;
		if (want[w] == NULL)
			fail_msg("unexpected line \"%s\"", l->v[i]);
		if (strcmp(l->v[i], want[w]) != 0)
			fail_msg("line %d is \"%s\", want \"%s\"", i, l->v[i], want[w]);
		w++;
	}
	if (want[w] != NULL)
		fail_msg("line \"%s\" missing", want[w]);
}

static const char create_head[] = "POST /v1.41/containers/create?name=web HTTP/1.1\r\n"
				  "Host: api.moby.localhost\r\n"
				  "User-Agent: Docker-Client/20.10.24 (linux)\r\n"
				  "Content-Length: 1234\r\n"
				  "content-type:   application/json  \r\n"
				  "Expect: 100-continue\r\n"
				  "X-Registry-Auth:e30=\r\n"
				  "Content-Length-Extra: 7\r\n"
				  "Expectation: kept\r\n"
				  "\r\n";

static void rebuild_full(void **state)
{
	static const char *const skip[] = { "Content-Length: 99", NULL };
	static const char *const want[] = {
		"POST /v1.41/containers/create?name=db HTTP/1.1",
		"Host: api.moby.localhost",
		"User-Agent: Docker-Client/20.10.24 (linux)",
		"content-type:   application/json  ",
		"X-Registry-Auth:e30=",
		"Content-Length-Extra: 7",
		"Expectation: kept",
		NULL,
	};
	struct lines l;
	size_t len = 0;
	char *h;

	(void)state;
	h = http_rebuild_head(S(create_head), S("/v1.41/containers/create?name=db"), 99, true,
			      &len);
	assert_non_null(h);
	split_head(h, len, &l);
	assert_lines_in_order(&l, skip, want);
	assert_int_equal(count_prefix(&l, "Content-Length:"), 1);
	assert_int_equal(count_prefix(&l, "Content-Type:"), 1); /* the client's one */
	assert_int_equal(count_prefix(&l, "Expect:"), 0);
	lines_free(&l);
	free(h);
}

static void rebuild_transfer_encoding(void **state)
{
	static const char head[] = "POST /networks/create HTTP/1.1\r\n"
				   "Host: docker\r\n"
				   "Transfer-Encoding: chunked\r\n"
				   "Content-Type: application/json\r\n"
				   "\r\n";
	static const char *const skip[] = { "Content-Length: 0", NULL };
	static const char *const want[] = { "POST /networks/create HTTP/1.1", "Host: docker",
					    "Content-Type: application/json", NULL };
	struct lines l;
	size_t len = 0;
	char *h;

	(void)state;
	h = http_rebuild_head(S(head), NULL, 0, 0, false, &len);
	split_head(h, len, &l);
	assert_lines_in_order(&l, skip, want);
	assert_int_equal(count_prefix(&l, "Transfer-Encoding:"), 0);
	assert_int_equal(count_prefix(&l, "Content-Length:"), 1);
	lines_free(&l);
	free(h);
}

static void rebuild_adds_content_type(void **state)
{
	static const char head[] = "POST /volumes/create HTTP/1.1\r\n"
				   "Host: docker\r\n"
				   "Content-Length: 2\r\n"
				   "\r\n";
	struct lines l;
	size_t len = 0;
	char *h;

	(void)state;
	h = http_rebuild_head(S(head), NULL, 0, 57, false, &len);
	split_head(h, len, &l);
	assert_string_equal(l.v[0], "POST /volumes/create HTTP/1.1");
	assert_string_equal(l.v[1], "Host: docker");
	assert_int_equal(l.n, 4);
	assert_int_equal(count_prefix(&l, "Content-Length: 57"), 1);
	assert_int_equal(count_prefix(&l, "Content-Type: application/json"), 1);
	lines_free(&l);
	free(h);
}

static void rebuild_target_only(void **state)
{
	static const char head[] = "POST /build?t=x&labels=%7B%7D HTTP/1.1\r\n"
				   "Host: docker\r\n"
				   "Content-Type: application/x-tar\r\n"
				   "Transfer-Encoding: chunked\r\n"
				   "Expect: 100-continue\r\n"
				   "\r\n";
	static const char want[] = "POST /build?t=x&labels=%7B%22a%22%3A%22b%22%7D HTTP/1.1\r\n"
				   "Host: docker\r\n"
				   "Content-Type: application/x-tar\r\n"
				   "Transfer-Encoding: chunked\r\n"
				   "Expect: 100-continue\r\n"
				   "\r\n";
	size_t len = 0;
	char *h;

	(void)state;
	/* No length given: the framing headers stay exactly as they were. */
	h = http_rebuild_head(S(head), S("/build?t=x&labels=%7B%22a%22%3A%22b%22%7D"), -1, false,
			      &len);
	assert_int_equal(len, sizeof(want) - 1);
	assert_memory_equal(h, want, len);
	free(h);
}

static void rebuild_unchanged(void **state)
{
	size_t len = 0;
	char *h;

	(void)state;
	h = http_rebuild_head(S(create_head), NULL, 0, -1, false, &len);
	assert_int_equal(len, sizeof(create_head) - 1);
	assert_memory_equal(h, create_head, len);
	free(h);
}

static void rebuild_drop_expect_only(void **state)
{
	static const char head[] = "PUT /x HTTP/1.1\r\nEXPECT: 100-continue\r\nA: b\r\n\r\n";
	static const char want[] = "PUT /x HTTP/1.1\r\nA: b\r\n\r\n";
	size_t len = 0;
	char *h;

	(void)state;
	h = http_rebuild_head(S(head), NULL, 0, -1, true, &len);
	assert_int_equal(len, sizeof(want) - 1);
	assert_memory_equal(h, want, len);
	free(h);
}

static void rebuild_http10_and_long_target(void **state)
{
	static const char head[] = "POST /commit?container=a HTTP/1.0\r\n\r\n";
	char target[3000];
	struct lines l;
	size_t len = 0;
	char *h;

	(void)state;
	target[0] = '/';
	memset(target + 1, 'x', sizeof(target) - 1);
	h = http_rebuild_head(S(head), target, sizeof(target), 5, false, &len);
	split_head(h, len, &l);
	assert_int_equal(strlen(l.v[0]), 5 + sizeof(target) + 9);
	assert_memory_equal(l.v[0], "POST /xxx", 9);
	assert_string_equal(l.v[0] + 5 + sizeof(target), " HTTP/1.0");
	assert_int_equal(count_prefix(&l, "Content-Length: 5"), 1);
	lines_free(&l);
	free(h);
}

/* llhttp (like RFC 9112 2.2 allows) skips empty lines before a request
 * line, so the head the relay hands over may start with CRLF; the rebuilt
 * head must still carry the request line (found by tests/fuzz). */
static void rebuild_leading_crlf(void **state)
{
	static const char head[] = "\r\nPOST /build?t=x HTTP/1.1\r\nHost: docker\r\n"
				   "Content-Length: 5\r\n\r\n";
	static const char want_line[] = "POST /build?t=x&labels=%7B%7D HTTP/1.1\r\n";
	static const char want_line2[] = "POST /containers/create HTTP/1.1\r\n";
	size_t len = 0, skip = 0;
	char *h;

	(void)state;
	h = http_rebuild_head(S(head), S("/build?t=x&labels=%7B%7D"), -1, false, &len);
	while (skip < len && (h[skip] == '\r' || h[skip] == '\n'))
		skip++;
	if (len - skip < sizeof(want_line) - 1 ||
	    memcmp(h + skip, want_line, sizeof(want_line) - 1) != 0)
		fail_msg("rebuilt head lost its request line: \"%.*s\"", (int)len, h);
	assert_non_null(memmem(h, len, S("\r\nHost: docker\r\n")));
	assert_non_null(memmem(h, len, S("\r\nContent-Length: 5\r\n")));
	free(h);
	h = http_rebuild_head(S("\r\n\r\nPOST /containers/create HTTP/1.1\r\nHost: d\r\n\r\n"),
			      NULL, 0, 2, true, &len);
	skip = 0;
	while (skip < len && (h[skip] == '\r' || h[skip] == '\n'))
		skip++;
	if (len - skip < sizeof(want_line2) - 1 ||
	    memcmp(h + skip, want_line2, sizeof(want_line2) - 1) != 0)
		fail_msg("rebuilt head lost its request line: \"%.*s\"", (int)len, h);
	free(h);
}

/* A request line without a version (llhttp's HTTP/0.9): the target is
 * still the one replaced, not silently kept (found by tests/fuzz). */
static void rebuild_no_version(void **state)
{
	static const char head[] = "POST /build?t=x\r\nHost: docker\r\n\r\n";
	size_t len = 0;
	char *h;

	(void)state;
	h = http_rebuild_head(S(head), S("/build?t=x&labels=%7B%7D"), -1, false, &len);
	if (memmem(h, len, S("/build?t=x&labels=%7B%7D")) == NULL)
		fail_msg("target not replaced: \"%.*s\"", (int)len, h);
	free(h);
}

/* llhttp also lets several spaces through between method, target and
 * version; the target is replaced, not put next to the old one (found by
 * tests/fuzz: "POST  /build?t=x HTTP/1.1" became
 * "POST /build?t=x&labels=... /build?t=x HTTP/1.1"). */
static void rebuild_extra_spaces(void **state)
{
	static const char head[] = "POST  /build?t=x   HTTP/1.1\r\nHost: docker\r\n\r\n";
	size_t len = 0;
	char *h;

	(void)state;
	h = http_rebuild_head(S(head), S("/build?t=y"), -1, false, &len);
	if (memmem(h, len, S("/build?t=y")) == NULL || memmem(h, len, S("/build?t=x")) != NULL)
		fail_msg("target not replaced: \"%.*s\"", (int)len, h);
	assert_non_null(memmem(h, len, S("HTTP/1.1\r\nHost: docker\r\n\r\n")));
	free(h);
}

/* ---- http_format_error ------------------------------------------------------- */

/* Check answer is one complete HTTP response with the status and a JSON body
 * whose message is want (or starts with it when prefix_only). */
static void assert_error_answer(const char *answer, size_t len, int status, const char *want,
				bool prefix_only)
{
	char line[64];
	const char *end = memmem(answer, len, "\r\n\r\n", 4);
	const char *cl;
	long body_len;
	json_error_t jerr;
	json_t *body, *msg;

	assert_int_equal(strlen(answer), len); /* NUL-terminated right there */
	snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", status, http_reason(status));
	assert_memory_equal(answer, line, strlen(line));
	assert_non_null(end);
	assert_int_equal(http_check_head(answer, (size_t)(end + 4 - answer)), 0);
	cl = strcasestr(answer, "\r\nContent-Length: ");
	assert_non_null(cl);
	assert_true(cl < end);
	body_len = strtol(cl + 18, NULL, 10);
	assert_int_equal(body_len, (long)(len - (size_t)(end + 4 - answer)));
	assert_non_null(strcasestr(answer, "\r\nContent-Type: application/json\r\n"));
	body = json_loadb(end + 4, (size_t)body_len, 0, &jerr);
	if (body == NULL)
		fail_msg("error body is not JSON: %s: %.*s", jerr.text, (int)body_len, end + 4);
	msg = json_object_get(body, "message");
	assert_true(json_is_string(msg));
	if (prefix_only)
		assert_memory_equal(json_string_value(msg), want, strlen(json_string_value(msg)));
	else
		assert_string_equal(json_string_value(msg), want);
	json_decref(body);
}

static void format_error_plain(void **state)
{
	char buf[1024];
	size_t n;

	(void)state;
	n = http_format_error(buf, sizeof(buf), 400, "both Transfer-Encoding and Content-Length");
	assert_error_answer(buf, n, 400, "both Transfer-Encoding and Content-Length", false);
	n = http_format_error(buf, sizeof(buf), 413, "too large");
	assert_error_answer(buf, n, 413, "too large", false);
	n = http_format_error(buf, sizeof(buf), 502, "");
	assert_error_answer(buf, n, 502, "", false);
}

static void format_error_escapes(void **state)
{
	static const char *msg = "invalid JSON: \"Labels\" \\ must be\tan\nobject\x01\x1f /x/ caf\xc3\xa9";
	char buf[1024];
	size_t n;

	(void)state;
	n = http_format_error(buf, sizeof(buf), 400, msg);
	assert_error_answer(buf, n, 400, msg, false);
}

static void format_error_long_message(void **state)
{
	char msg[2000], buf[1024];
	size_t n;

	(void)state;
	/* Escapes that double in size, then plain text: the answer stays
	 * whole and valid, the message is truncated. */
	for (size_t i = 0; i < sizeof(msg) - 1; i++)
		msg[i] = i % 3 == 0 ? '"' : i % 3 == 1 ? '\n' : 'a';
	msg[sizeof(msg) - 1] = '\0';
	n = http_format_error(buf, sizeof(buf), 415, msg);
	assert_true(n < sizeof(buf));
	assert_error_answer(buf, n, 415, msg, true);
}

static void reason_phrases(void **state)
{
	(void)state;
	assert_string_equal(http_reason(400), "Bad Request");
	assert_string_equal(http_reason(413), "Content Too Large");
	assert_string_equal(http_reason(414), "URI Too Long");
	assert_string_equal(http_reason(415), "Unsupported Media Type");
	assert_string_equal(http_reason(431), "Request Header Fields Too Large");
	assert_string_equal(http_reason(501), "Not Implemented");
	assert_string_equal(http_reason(502), "Bad Gateway");
	assert_string_equal(http_reason(503), "Service Unavailable");
	assert_string_equal(http_reason(505), "HTTP Version Not Supported");
	assert_string_equal(http_reason(500), "Internal Server Error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(check_head_clean),
		cmocka_unit_test(check_head_bare_lf),
		cmocka_unit_test(check_head_bare_cr),
		cmocka_unit_test(check_head_obs_fold),
		cmocka_unit_test(check_head_control_bytes),
		cmocka_unit_test(framing_clean),
		cmocka_unit_test(framing_te_cl),
		cmocka_unit_test(framing_te_in_http10),
		cmocka_unit_test(framing_version_and_method),
		cmocka_unit_test(te_chunked),
		cmocka_unit_test(ct_form),
		cmocka_unit_test(rebuild_full),
		cmocka_unit_test(rebuild_transfer_encoding),
		cmocka_unit_test(rebuild_adds_content_type),
		cmocka_unit_test(rebuild_target_only),
		cmocka_unit_test(rebuild_unchanged),
		cmocka_unit_test(rebuild_drop_expect_only),
		cmocka_unit_test(rebuild_http10_and_long_target),
		cmocka_unit_test(rebuild_leading_crlf),
		cmocka_unit_test(rebuild_no_version),
		cmocka_unit_test(rebuild_extra_spaces),
		cmocka_unit_test(format_error_plain),
		cmocka_unit_test(format_error_escapes),
		cmocka_unit_test(format_error_long_message),
		cmocka_unit_test(reason_phrases),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
