/* Unit tests for proxy/filter.c's lists: the answer read as it passes, item
 * by item, split at every point, against what owner_list_filter() keeps of
 * the whole (the reference). The checks against the daemon are
 * tests/integration/26-ownership.sh; tests/fuzz/fuzz_filter.c fuzzes the
 * same promise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../proxy/filter.h"
#include "../../proxy/owner.h"
#include "../../proxy/proxy-internal.h"
#include "llhttp.h"

static struct proxy_config cfg;
static struct proxy proxy;
static struct conn conn;

/* Is the connection to close once the answer is out? The one thing of the
 * relay's that the filter sets. */
#define CONN_CLOSES(c) ((c)->end == END_AFTER_ANSWER)

/* What the client got for one answer. */
struct got {
	int status;	 /* of the head */
	bool chunked;	 /* the head said Transfer-Encoding: chunked */
	char *body;	 /* de-chunked (malloc'd, NUL-terminated) */
	size_t len;	 /* its length */
	bool complete;	 /* the last chunk came */
	bool closed;	 /* the connection is to close after it */
};

static int setup(void **state)
{
	(void)state;
	cfg.rewrite.labels = json_pack("{s:s}", "ci-wrap.session", "s1");
	proxy.owner = owner_new(NULL, &cfg, NULL);
	conn.proxy = &proxy;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	filter_free(&conn);
	owner_free(proxy.owner);
	json_decref(cfg.rewrite.labels);
	assert_int_equal(proxy.body_bytes, 0);
	return 0;
}

/* Read the answer the filter wrote: head, chunks, the last one. */
static void parse_answer(const char *out, size_t n, struct got *g)
{
	const char *end = out ? memmem(out, n, "\r\n\r\n", 4) : NULL, *at, *stop = out + n;

	memset(g, 0, sizeof(*g));
	g->body = calloc(1, n + 1);
	if (end == NULL)
		return;
	g->status = atoi(out + 9);
	g->chunked = memmem(out, (size_t)(end - out), "Transfer-Encoding: chunked", 26) != NULL;
	at = end + 4;
	if (!g->chunked) {
		memcpy(g->body, at, (size_t)(stop - at));
		g->len = (size_t)(stop - at);
		return;
	}
	while (at < stop) {
		char *nl;
		unsigned long size = strtoul(at, &nl, 16);

		if (nl == at || stop - nl < 2 || memcmp(nl, "\r\n", 2) != 0)
			fail_msg("bad chunk size line at %zu", (size_t)(at - out));
		at = nl + 2;
		if (size == 0) {
			assert_int_equal(stop - at, 2);
			g->complete = true;
			return;
		}
		if ((size_t)(stop - at) < size + 2 || memcmp(at + size, "\r\n", 2) != 0)
			fail_msg("chunk of %lu bytes not ended by CRLF", size);
		memcpy(g->body + g->len, at, size);
		g->len += size;
		at += size + 2;
	}
}

/* The answer a 200 to GET path with body gets, the body given to the filter
 * in pieces of the lengths in cuts (0-terminated; the rest in one last). */
static void run(const char *path, const char *body, size_t len, const size_t *cuts,
		struct got *g)
{
	size_t off = 0, n;
	char *out;

	conn = (struct conn){ .proxy = &proxy }; /* a connection of its own */
	filter_begin(&conn, HTTP_GET, path);
	assert_int_equal(filter_hold(&conn), FILTER_HOLD);
	filter_head(&conn, 200, false);
	assert_int_equal(filter_hold(&conn), FILTER_CUT);
	for (; cuts && *cuts && off + *cuts <= len; off += *cuts++)
		assert_false(filter_body(&conn, body + off, *cuts));
	if (off < len)
		assert_false(filter_body(&conn, body + off, len - off));
	filter_end(&conn);
	out = filter_take_output(&conn, &n);
	filter_reset(&conn);
	parse_answer(out, n, g);
	g->closed = CONN_CLOSES(&conn);
	free(out);
	assert_int_equal(proxy.body_bytes, 0);
}

static void run_whole(const char *path, const char *body, struct got *g)
{
	run(path, body, strlen(body), NULL, g);
}

/* What owner_list_filter() keeps of the whole body, as JSON text; NULL if
 * jansson does not read it. */
static json_t *reference(const char *path, const char *body, size_t len)
{
	json_t *list = json_loadb(body, len, 0, NULL);

	if (list != NULL)
		owner_list_filter("s1", owner_list_kind(HTTP_GET, path), list);
	return list;
}

/* The body filtered whole gives want (exact bytes), split anywhere the
 * same, and what the reference keeps. */
static void assert_list(const char *path, const char *body, const char *want)
{
	size_t len = strlen(body);
	json_t *ref = reference(path, body, len), *got_json;
	struct got g;

	run_whole(path, body, &g);
	if (g.status != 200 || !g.chunked || !g.complete || g.closed || strcmp(g.body, want) != 0)
		fail_msg("%s\n  gave %d %s%s%s '%s'\n  want '%s'", body, g.status,
			 g.chunked ? "chunked" : "", g.complete ? "" : " cut short",
			 g.closed ? " closed" : "", g.body, want);
	got_json = json_loadb(g.body, g.len, 0, NULL);
	if (ref == NULL || !json_equal(got_json, ref))
		fail_msg("%s: not what owner_list_filter() keeps", body);
	json_decref(got_json);
	json_decref(ref);
	free(g.body);
	/* Every split point, and then every byte a piece of its own. */
	for (size_t cut = 1; cut < len; cut++) {
		size_t cuts[] = { cut, 0 };

		run(path, body, len, cuts, &g);
		if (!g.complete || strcmp(g.body, want) != 0)
			fail_msg("%s split at %zu gave '%s'", body, cut, g.body);
		free(g.body);
	}
	{
		size_t *ones = malloc((len + 1) * sizeof(*ones));

		for (size_t i = 0; i < len; i++)
			ones[i] = 1;
		ones[len] = 0;
		run(path, body, len, ones, &g);
		if (!g.complete || strcmp(g.body, want) != 0)
			fail_msg("%s byte by byte gave '%s'", body, g.body);
		free(g.body);
		free(ones);
	}
}

#define OURS "{\"Id\":\"a\",\"Labels\":{\"ci-wrap.session\":\"s1\"}}"
#define OTHER "{\"Id\":\"b\",\"Labels\":{\"ci-wrap.session\":\"s2\"}}"
#define PLAIN "{\"Id\":\"c\",\"Labels\":{\"x\":\"y\"}}"

static void items_kept_and_left_out(void **state)
{
	(void)state;
	assert_list("/containers/json", "[" OURS "," OTHER "," PLAIN "]\n",
		    "[" OURS "," PLAIN "]\n");
	assert_list("/containers/json", "[" OTHER "," OTHER "]\n", "[]\n");
	assert_list("/containers/json", "[" OTHER "," OURS "]", "[" OURS "]");
	assert_list("/containers/json", "[ " PLAIN " ,\n " OTHER " ] \n", "[" PLAIN "] \n");
	/* No labels, null labels, labels not an object, a session that is
	 * not a string: none names another session. */
	assert_list("/containers/json",
		    "[{\"Id\":\"d\"},{\"Labels\":null},{\"Labels\":\"ci-wrap.session\"},"
		    "{\"Labels\":{\"ci-wrap.session\":5}},{\"Labels\":{\"ci-wrap.session\":null}}]",
		    "[{\"Id\":\"d\"},{\"Labels\":null},{\"Labels\":\"ci-wrap.session\"},"
		    "{\"Labels\":{\"ci-wrap.session\":5}},"
		    "{\"Labels\":{\"ci-wrap.session\":null}}]");
	/* Items that are not objects name no session. */
	assert_list("/containers/json", "[1,-2.5e+3,0,true,false,null,\"s2\",[" OTHER "],{}]",
		    "[1,-2.5e+3,0,true,false,null,\"s2\",[" OTHER "],{}]");
	/* A session that starts like ours, or ours starts like it. */
	assert_list("/containers/json",
		    "[{\"Labels\":{\"ci-wrap.session\":\"s12\"}},{\"Labels\":{\"ci-wrap.session\":"
		    "\"s\"}},{\"Labels\":{\"ci-wrap.session\":\"\"}}]",
		    "[]");
}

/* An HTTP/1.0 client has no chunks: the list comes plain, up to the close. */
static void http10_list_unchunked(void **state)
{
	static const char body[] = "[{\"Id\":\"a\",\"Labels\":{\"ci-wrap.session\":\"s2\"}},"
				   "{\"Id\":\"b\",\"Labels\":{\"ci-wrap.session\":\"s1\"}}]\n";
	char *out, *text;
	size_t n;

	(void)state;
	conn = (struct conn){ .proxy = &proxy };
	conn.head.framing.major = 1;
	conn.head.framing.minor = 0;
	filter_begin(&conn, HTTP_GET, "/containers/json");
	filter_head(&conn, 200, false);
	assert_false(filter_body(&conn, body, 30));
	assert_false(filter_body(&conn, body + 30, sizeof(body) - 1 - 30));
	filter_end(&conn);
	out = filter_take_output(&conn, &n);
	filter_reset(&conn);
	text = strndup(out, n); /* the output is bytes, not a string */
	assert_true(CONN_CLOSES(&conn));
	assert_non_null(strstr(text, "Connection: close\r\n\r\n"));
	assert_null(strstr(text, "chunked"));
	assert_string_equal(strstr(text, "\r\n\r\n") + 4,
			    "[{\"Id\":\"b\",\"Labels\":{\"ci-wrap.session\":\"s1\"}}]\n");
	free(text);
	free(out);
}

static void empty_lists(void **state)
{
	(void)state;
	assert_list("/containers/json", "[]\n", "[]\n");
	assert_list("/containers/json", "[]", "[]");
	assert_list("/containers/json", "  [ ]", "[]");
	assert_list("/volumes", "{\"Volumes\":[],\"Warnings\":null}\n",
		    "{\"Volumes\":[],\"Warnings\":null}\n");
	assert_list("/volumes", "{\"Volumes\":null,\"Warnings\":[]}",
		    "{\"Volumes\":null,\"Warnings\":[]}");
	/* Not the kind's shape: nothing to leave out, as owner_list_filter(). */
	assert_list("/containers/json", "{\"message\":[" OTHER "]}", "{\"message\":[" OTHER "]}");
	assert_list("/volumes", "[" OTHER "]", "[" OTHER "]");
}

static void strings_that_look_like_structure(void **state)
{
	(void)state;
	/* Quotes, brackets and braces inside strings, escaped quotes and
	 * backslashes before a closing quote. */
	assert_list("/containers/json",
		    "[{\"Id\":\"x\\\"]},[{\",\"Labels\":{\"ci-wrap.session\":\"s2\"}},"
		    "{\"Names\":[\"/a]\\\\\",\"}{\"],"
		    "\"Labels\":{\"k\\\\\":\"\\\"ci-wrap.session\\\":\\\"s2\\\"\"}}]",
		    "[{\"Names\":[\"/a]\\\\\",\"}{\"],"
		    "\"Labels\":{\"k\\\\\":\"\\\"ci-wrap.session\\\":\\\"s2\\\"\"}}]");
	/* Keys and values spelled with escapes are read as jansson decodes
	 * them; UTF-8 and surrogate pairs too. */
	assert_list("/containers/json",
		    "[{\"Lab\\u0065ls\":{\"ci-wrap\\u002esession\":\"s\\u0032\"}},"
		    "{\"Labels\":{\"ci-wrap.session\":\"\\u00731\"}},"
		    "{\"Labels\":{\"ci-wrap.session\":\"s1\\u00e9\"}},"
		    "{\"Labels\":{\"\\u00e9\":\"\xc3\xa9\\ud83d\\ude00\xf0\x9f\x98\x80\",\"a\\/b\":"
		    "\"\\b\\f\\n\\r\\t\"}}]",
		    "[{\"Labels\":{\"ci-wrap.session\":\"\\u00731\"}},"
		    "{\"Labels\":{\"\\u00e9\":\"\xc3\xa9\\ud83d\\ude00\xf0\x9f\x98\x80\",\"a\\/b\":"
		    "\"\\b\\f\\n\\r\\t\"}}]");
}

static void nested_objects(void **state)
{
	(void)state;
	/* A session label anywhere but at the kind's path does not count. */
	assert_list("/containers/json",
		    "[{\"Labels\":{\"x\":{\"ci-wrap.session\":\"s2\"}}},"
		    "{\"Config\":{\"Labels\":{\"ci-wrap.session\":\"s2\"}}},"
		    "{\"Mounts\":[{\"Labels\":{\"ci-wrap.session\":\"s2\"}}]},"
		    "{\"ci-wrap.session\":\"s2\"},"
		    "{\"Spec\":{\"Labels\":{\"ci-wrap.session\":\"s2\"}}},"
		    "{\"Labels\":{\"a\":[{\"b\":[]}],\"ci-wrap.session\":\"s2\",\"c\":{}}}]",
		    "[{\"Labels\":{\"x\":{\"ci-wrap.session\":\"s2\"}}},"
		    "{\"Config\":{\"Labels\":{\"ci-wrap.session\":\"s2\"}}},"
		    "{\"Mounts\":[{\"Labels\":{\"ci-wrap.session\":\"s2\"}}]},"
		    "{\"ci-wrap.session\":\"s2\"},"
		    "{\"Spec\":{\"Labels\":{\"ci-wrap.session\":\"s2\"}}}]");
	/* jansson keeps a repeated key's last value. */
	assert_list("/containers/json",
		    "[{\"Labels\":{\"ci-wrap.session\":\"s2\"},\"Labels\":null},"
		    "{\"Labels\":{},\"Labels\":{\"ci-wrap.session\":\"s2\"}},"
		    "{\"Labels\":{\"ci-wrap.session\":\"s1\",\"ci-wrap.session\":\"s2\"}},"
		    "{\"Labels\":{\"ci-wrap.session\":\"s2\",\"ci-wrap.session\":\"s1\"}},"
		    "{\"Labels\":{\"ci-wrap.session\":\"s2\",\"ci-wrap.session\":[]}}]",
		    "[{\"Labels\":{\"ci-wrap.session\":\"s2\"},\"Labels\":null},"
		    "{\"Labels\":{\"ci-wrap.session\":\"s2\",\"ci-wrap.session\":\"s1\"}},"
		    "{\"Labels\":{\"ci-wrap.session\":\"s2\",\"ci-wrap.session\":[]}}]");
}

static void label_locations(void **state)
{
	(void)state;
	/* Swarm kinds keep labels in Spec.Labels. */
	assert_list("/services",
		    "[{\"ID\":\"a\",\"Spec\":{\"Name\":\"x\","
		    "\"Labels\":{\"ci-wrap.session\":\"s2\"}}},"
		    "{\"ID\":\"b\",\"Spec\":{\"Labels\":{\"ci-wrap.session\":\"s1\"}}},"
		    "{\"ID\":\"c\",\"Labels\":{\"ci-wrap.session\":\"s2\"},\"Spec\":{}},"
		    "{\"ID\":\"d\",\"Spec\":{\"Labels\":{\"ci-wrap.session\":\"s2\"}},\"Spec\":{}},"
		    "{\"ID\":\"e\",\"Spec\":[{\"Labels\":{\"ci-wrap.session\":\"s2\"}}]}]",
		    "[{\"ID\":\"b\",\"Spec\":{\"Labels\":{\"ci-wrap.session\":\"s1\"}}},"
		    "{\"ID\":\"c\",\"Labels\":{\"ci-wrap.session\":\"s2\"},\"Spec\":{}},"
		    "{\"ID\":\"d\",\"Spec\":{\"Labels\":{\"ci-wrap.session\":\"s2\"}},\"Spec\":{}},"
		    "{\"ID\":\"e\",\"Spec\":[{\"Labels\":{\"ci-wrap.session\":\"s2\"}}]}]");
	assert_list("/secrets", "[{\"Spec\":{\"Labels\":{\"ci-wrap.session\":\"s2\"}}}]", "[]");
	assert_list("/configs", "[{\"Spec\":{\"Labels\":{\"ci-wrap.session\":\"s1\"}}}]",
		    "[{\"Spec\":{\"Labels\":{\"ci-wrap.session\":\"s1\"}}}]");
	/* Volumes: the list is the answer's "Volumes"; the rest goes as it is. */
	assert_list("/volumes",
		    "{\"Volumes\":[{\"Name\":\"x\",\"Labels\":{\"ci-wrap.session\":\"s2\"}},"
		    "{\"Name\":\"y\",\"Labels\":null}],\"Warnings\":[\"w\"],"
		    "\"Other\":{\"Volumes\":[" OTHER "]}}\n",
		    "{\"Volumes\":[{\"Name\":\"y\",\"Labels\":null}],\"Warnings\":[\"w\"],"
		    "\"Other\":{\"Volumes\":[" OTHER "]}}\n");
	assert_list("/networks", "[" OTHER "," PLAIN "]", "[" PLAIN "]");
	assert_list("/images/json", "[" OURS "," OTHER "]", "[" OURS "]");
}

/* The answer ends with our 502 when nothing went out yet, else cut short
 * (no last chunk) after the items that were whole; closed either way. */
static void assert_malformed(const char *body, int status, const char *want)
{
	struct got g;

	run_whole("/containers/json", body, &g);
	if (g.status != status || g.complete || !g.closed ||
	    (want != NULL && strcmp(g.body, want) != 0))
		fail_msg("%s\n  gave %d%s%s '%s'", body, g.status, g.complete ? " complete" : "",
			 g.closed ? " closed" : "", g.body);
	assert_null(json_loadb(body, strlen(body), 0, NULL));
	free(g.body);
}

static void malformed(void **state)
{
	(void)state;
	assert_malformed("", 502, NULL);
	assert_malformed("not json", 502, NULL);
	assert_malformed("1", 502, NULL);
	assert_malformed("\"s\"", 502, NULL);
	assert_malformed("[" OURS "," PLAIN, 200, "[" OURS "," PLAIN);
	assert_malformed("[" OURS "," PLAIN "]]", 200, "[" OURS "," PLAIN);
	assert_malformed("[" OURS "]x", 200, "[" OURS);
	assert_malformed("[" OURS "][]", 200, "[" OURS);
	/* The item that is not JSON is not sent, nor anything after it. */
	assert_malformed("[" OURS ",{\"Id\":tru}," PLAIN "]", 200, "[" OURS);
	assert_malformed("[" OURS ",{\"Id\":\"a\"," PLAIN "]", 200, "[" OURS);
	assert_malformed("[" OURS ",]", 200, "[" OURS);
	assert_malformed("[," OURS "]", 200, "[");
	assert_malformed("[" OURS " " PLAIN "]", 200, "[" OURS);
	assert_malformed("[{\"a\" 1}]", 200, "[");
	assert_malformed("[{\"a\":1,}]", 200, "[");
	assert_malformed("[{1:1}]", 200, "[");
	assert_malformed("[{\"a\":1]]", 200, "[");
	assert_malformed("[[1}]", 200, "[");
	/* What jansson refuses in strings and numbers. */
	static const char *const bad[] = {
		"[\"\\u0000\"]", "[\"\\ud800\"]", "[\"\\ud800x\"]", "[\"\\udc00\"]",
		"[\"\\ud800\\u0041\"]", "[\"\\ud800\\n\"]", "[\"\\x\"]", "[\"\\u12g4\"]",
		"[\"\x01\"]", "[\"\n\"]", "[\"\xc0\x80\"]", "[\"\xe0\x80\x80\"]",
		"[\"\xed\xa0\x80\"]", "[\"\xf4\x90\x80\x80\"]", "[\"\xf5\x80\x80\x80\"]",
		"[\"\x80\"]", "[\"\xc3\"]", "[\"\xc3x\"]", "[01]", "[-]", "[1.]", "[1.e5]",
		"[1e]", "[1e+]", "[.5]", "[+1]", "[-01]", "[tru]", "[truex]", "[nul]",
		"[True]", "[\xc3\xa9]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_malformed(bad[i], 200, "[");
	/* jansson loses a NUL after a number (its lexer's unget) and takes
	 * this; no JSON holds a NUL outside a string, nor does the filter. */
	{
		struct got g;

		run("/containers/json", "[1\0]", 4, NULL, &g);
		assert_false(g.complete);
		assert_true(g.closed);
		free(g.body);
	}
	/* Two tokens to jansson: the item is whole before what follows. */
	assert_malformed("[1true]", 200, "[1");
	assert_malformed("[\"a\"\"b\"]", 200, "[\"a\"");
}

/* What jansson reads, this reads: the edges of its grammar. */
static void jansson_edges(void **state)
{
	(void)state;
	assert_list("/containers/json",
		    "[-0,0.5,1E5,1e-5,-1.25E+10,123456789012345678,\"\x7f\",\"\xf4\x8f\xbf\xbf\","
		    "\"\\ud800\\udc00\",\"\\uDBFF\\uDFFF\",\"\\u0001\",\" \\\" \"]\r\n\t",
		    "[-0,0.5,1E5,1e-5,-1.25E+10,123456789012345678,\"\x7f\",\"\xf4\x8f\xbf\xbf\","
		    "\"\\ud800\\udc00\",\"\\uDBFF\\uDFFF\",\"\\u0001\",\" \\\" \"]\r\n\t");
}

/* Nesting as deep as jansson reads, and one level more. */
static void depth(void **state)
{
	size_t n = FILTER_DEPTH_MAX;
	char *deep = malloc(2 * n + 8);
	struct got g;

	(void)state;
	memset(deep, '[', n);
	memset(deep + n, ']', n);
	deep[2 * n] = '\0';
	run_whole("/containers/json", deep, &g);
	assert_true(g.complete);
	assert_string_equal(g.body, deep);
	free(g.body);
	/* A value in the deepest array is one level too many for jansson. */
	memmove(deep + n + 1, deep + n, n + 1);
	deep[n] = '1';
	assert_null(json_loads(deep, 0, NULL));
	run_whole("/containers/json", deep, &g);
	assert_false(g.complete);
	assert_true(g.closed);
	free(g.body);
	free(deep);
}

static void append(char *buf, size_t *len, const char *s)
{
	memcpy(buf + *len, s, strlen(s));
	*len += strlen(s);
}

/* An item past FILTER_ITEM_MAX is left out, the list goes on. */
static void long_item(void **state)
{
	size_t big = FILTER_ITEM_MAX + 100, len = 0;
	char *body = malloc(big + 256);
	struct got g;
	size_t cuts[] = { 7, 65536, 65536, 1, 300000, 0 };

	(void)state;
	append(body, &len, "[" PLAIN ",{\"Id\":\"");
	memset(body + len, 'x', big);
	len += big;
	append(body, &len, "\"}," OURS "]");
	run("/containers/json", body, len, cuts, &g);
	assert_true(g.complete);
	assert_string_equal(g.body, "[" PLAIN "," OURS "]");
	free(g.body);
	/* An item just within the bound goes out. */
	len = 0;
	append(body, &len, "[\"");
	memset(body + len, 'y', FILTER_ITEM_MAX - 2);
	len += FILTER_ITEM_MAX - 2;
	append(body, &len, "\"]");
	run("/containers/json", body, len, cuts, &g);
	assert_true(g.complete);
	assert_int_equal(g.len, FILTER_ITEM_MAX + 2);
	free(g.body);
	free(body);
}

/* What is not a 200 to a GET goes as the daemon sent it. */
static void not_filtered(void **state)
{
	(void)state;
	filter_begin(&conn, HTTP_GET, "/containers/json");
	filter_head(&conn, 404, false);
	assert_int_equal(filter_hold(&conn), FILTER_RELAY);
	assert_false(filter_body(&conn, "{}", 2));
	filter_end(&conn);
	filter_reset(&conn);
	filter_begin(&conn, HTTP_GET, "/containers/json");
	filter_head(&conn, 100, false);
	assert_int_equal(filter_hold(&conn), FILTER_HOLD);
	filter_head(&conn, 200, true);
	assert_int_equal(filter_hold(&conn), FILTER_RELAY);
	filter_end(&conn);
	filter_reset(&conn);
	filter_begin(&conn, HTTP_HEAD, "/containers/json");
	filter_head(&conn, 200, true);
	assert_int_equal(filter_hold(&conn), FILTER_RELAY);
	filter_reset(&conn);
	filter_begin(&conn, HTTP_GET, "/containers/abc/json");
	assert_int_equal(filter_hold(&conn), FILTER_RELAY);
	filter_reset(&conn);
	{
		size_t n;

		assert_null(filter_take_output(&conn, &n));
	}
}

/* Output waits for the client: past FILTER_OUT_MAX the daemon is not read. */
static void backlog(void **state)
{
	char *body = malloc(FILTER_OUT_MAX + 64);
	size_t len = 0, n;
	char *out;

	(void)state;
	filter_begin(&conn, HTTP_GET, "/containers/json");
	filter_head(&conn, 200, false);
	append(body, &len, "[\"");
	memset(body + len, 'z', FILTER_OUT_MAX / 2);
	len += FILTER_OUT_MAX / 2;
	append(body, &len, "\",");
	filter_body(&conn, body, len);
	assert_false(filter_backlogged(&conn));
	filter_body(&conn, body + 1, len - 1);
	assert_true(filter_backlogged(&conn));
	out = filter_take_output(&conn, &n);
	assert_non_null(out);
	assert_false(filter_backlogged(&conn));
	free(out);
	filter_body(&conn, "1]", 2);
	filter_end(&conn);
	out = filter_take_output(&conn, &n);
	assert_int_equal(n, 10 + 3 + 2 + 5);
	assert_memory_equal(out, "00000003\r\n,1]\r\n0\r\n\r\n", n);
	free(out);
	filter_reset(&conn);
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(items_kept_and_left_out),
		cmocka_unit_test(empty_lists),
		cmocka_unit_test(http10_list_unchunked),
		cmocka_unit_test(strings_that_look_like_structure),
		cmocka_unit_test(nested_objects),
		cmocka_unit_test(label_locations),
		cmocka_unit_test(malformed),
		cmocka_unit_test(jansson_edges),
		cmocka_unit_test(depth),
		cmocka_unit_test(long_item),
		cmocka_unit_test(not_filtered),
		cmocka_unit_test(backlog),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
