/* fuzz_request.c - libFuzzer target over the proxy's request path.
 *
 * The input is read as one HTTP request by llhttp (strict, as the relay
 * builds it); its target goes through route_canonical_path() and
 * route_lookup(), its query through every query rewrite, its body (or, when
 * llhttp found none, the bytes after the head or the whole input) through
 * every body rewrite, and its head through the framing helpers. Beyond
 * crashes and leaks, the harness checks what the proxy promises and aborts
 * when a promise is broken:
 *   - a POST that Go's router (moby 20.10, gorilla/mux on the decoded path)
 *     would send to a create handler is routed to that handler's rewrite;
 *   - a canonical path is clean: "/"-rooted, no empty, "." or ".." segment,
 *     no leading version, no trailing slash, no upper-case ASCII;
 *   - a rewritten body is one JSON object with exactly one key that Go folds
 *     to "Labels", spelled so, holding our labels, and for a container
 *     create, every HostConfig spelling holds exactly our CgroupParent;
 *   - a rewritten query holds exactly one labels= (a JSON object with ours)
 *     and one cgroupparent= (ours), or ends with our LABEL change, and an
 *     import (a fromSrc= pair) is never left alone;
 *   - a rebuilt head passes the head check and ends the head once.
 * Build and run with tests/fuzz/build.sh.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../proxy/http.h"
#include "../../proxy/rewrite.h"
#include "../../proxy/route.h"
#include "llhttp.h"

#define OUR_PARENT "/ci-wrap/fuzz-1"
#define BODY_MAX (256 * 1024)

#define CHECK(cond, ...)                                                                  \
	do {                                                                              \
		if (!(cond)) {                                                            \
			fprintf(stderr, "fuzz_request: broken promise at %s:%d: %s\n",    \
				__FILE__, __LINE__, #cond);                               \
			fprintf(stderr, "  " __VA_ARGS__);                                \
			fputc('\n', stderr);                                              \
			abort();                                                          \
		}                                                                         \
	} while (0)

static json_t *our_labels;
static struct rewrite_spec spec, spec_no_parent;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* Values the LABEL change must quote for the Dockerfile parser. */
	our_labels = json_pack("{s:s,s:s,s:s,s:s}", "ci-wrap.session", "fuzz-1", "ci-wrap.job",
			       "job \"$HOME\" \\ x", "ci-wrap.owner", "host/boot/1/2",
			       "caf\xc3\xa9 k", "${v}");
	spec.labels = our_labels;
	spec.cgroup_parent = OUR_PARENT;
	spec.max_body = BODY_MAX;
	spec_no_parent = spec;
	spec_no_parent.cgroup_parent = NULL;
	return 0;
}

/* ---- what llhttp reads ---------------------------------------------------------- */

struct req {
	char url[ROUTE_PATH_MAX * 2]; /* request target */
	size_t url_len;		      /* its length */
	bool url_cut;		      /* longer than url[] */
	char *body;		      /* de-chunked body, BODY_MAX at most */
	size_t body_len;	      /* its length */
	bool body_cut;		      /* longer than that */
	bool head_done;		      /* on_headers_complete ran */
	bool done;		      /* the first message is complete */
	bool paused;		      /* paused there, head_end not set yet */
	size_t head_end;	      /* input offset where the head ends */
	uint8_t method;		      /* llhttp method */
	char field[64];		      /* header name being read */
	size_t field_len;	      /* its length */
	char value[512];	      /* header value being read */
	size_t value_len;	      /* its length */
};

static void append(char *buf, size_t cap, size_t *len, bool *cut, const char *at, size_t n)
{
	if (*len + n > cap) {
		if (cut != NULL)
			*cut = true;
		n = cap - *len;
	}
	memcpy(buf + *len, at, n);
	*len += n;
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
	struct req *r = p->data;

	append(r->url, sizeof(r->url), &r->url_len, &r->url_cut, at, n);
	return 0;
}

static int on_field(llhttp_t *p, const char *at, size_t n)
{
	struct req *r = p->data;

	append(r->field, sizeof(r->field), &r->field_len, NULL, at, n);
	return 0;
}

static int on_value(llhttp_t *p, const char *at, size_t n)
{
	struct req *r = p->data;

	append(r->value, sizeof(r->value), &r->value_len, NULL, at, n);
	return 0;
}

static int on_value_complete(llhttp_t *p)
{
	struct req *r = p->data;
	bool chunked = http_te_is_chunked(r->value, r->value_len);
	bool form = http_ct_is_form(r->value, r->value_len);

	/* The two answers cannot both hold for one value. */
	CHECK(!(chunked && form), "value %.*s", (int)r->value_len, r->value);
	r->field_len = r->value_len = 0;
	return 0;
}

static int on_headers_complete(llhttp_t *p)
{
	struct req *r = p->data;

	r->head_done = true;
	r->paused = true;
	r->method = llhttp_get_method(p);
	return HPE_PAUSED; /* as the relay does, to learn where the head ends */
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
	struct req *r = p->data;

	if (r->body == NULL)
		r->body = malloc(BODY_MAX);
	append(r->body, BODY_MAX, &r->body_len, &r->body_cut, at, n);
	return 0;
}

static int on_message_complete(llhttp_t *p)
{
	struct req *r = p->data;

	r->done = true;
	return HPE_PAUSED; /* the first request is the one looked at */
}

static const llhttp_settings_t settings = {
	.on_url = on_url,
	.on_header_field = on_field,
	.on_header_value = on_value,
	.on_header_value_complete = on_value_complete,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

static void parse_request(const uint8_t *data, size_t size, struct req *r)
{
	const char *s = (const char *)data;
	size_t off = 0;
	llhttp_t parser;

	llhttp_init(&parser, HTTP_REQUEST, &settings);
	parser.data = r;
	while (off <= size) {
		enum llhttp_errno e = llhttp_execute(&parser, s + off, size - off);

		if (e == HPE_OK) {
			llhttp_finish(&parser);
			return;
		}
		if (e != HPE_PAUSED || !r->paused || r->done)
			return;
		r->paused = false;
		r->head_end = (size_t)(llhttp_get_error_pos(&parser) - s);
		off = r->head_end;
		llhttp_resume(&parser);
	}
}

/* ---- oracles ----------------------------------------------------------------------- */

/* Go's encoding/json key match: ASCII case, U+017F for 's', U+212A for 'k'. */
static bool go_folds(const char *key, const char *lower)
{
	const unsigned char *k = (const unsigned char *)key;

	for (; *lower != '\0'; lower++) {
		if (*k < 0x80 && *k != '\0' && tolower(*k) == *lower)
			k++;
		else if (*lower == 's' && k[0] == 0xc5 && k[1] == 0xbf)
			k += 2;
		else if (*lower == 'k' && k[0] == 0xe2 && k[1] == 0x84 && k[2] == 0xaa)
			k += 3;
		else
			return false;
	}
	return *k == '\0';
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode as Go does (plus as space when form); -1 on a bad escape. */
static long go_unescape(const char *s, size_t len, char *out, bool form)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%') {
			if (i + 2 >= len)
				return -1;
			if (hexval((unsigned char)s[i + 1]) < 0 || hexval((unsigned char)s[i + 2]) < 0)
				return -1;
			out[n++] = (char)(hexval((unsigned char)s[i + 1]) * 16 +
					  hexval((unsigned char)s[i + 2]));
			i += 2;
		} else {
			out[n++] = form && s[i] == '+' ? ' ' : s[i];
		}
	}
	out[n] = '\0';
	return (long)n;
}

/* The decoded path Go's server would route for target, or -1 when Go
 * refuses the target or its authority is not a plain host. */
static long go_path(const char *t, size_t len, char *out)
{
	const char *q = memchr(t, '?', len);
	size_t end = q ? (size_t)(q - t) : len, start = 0;

	if (end > 0 && t[0] != '/') {
		const char *sep = memmem(t, end, "://", 3);
		size_t i;

		if (sep == NULL || sep == t)
			return -1;
		for (const char *c = t; c < sep; c++)
			if (!isalpha((unsigned char)*c) &&
			    (c == t || (!isdigit((unsigned char)*c) && !strchr("+-.", *c))))
				return -1;
		for (i = (size_t)(sep - t) + 3; i < end && t[i] != '/'; i++)
			if (!isalnum((unsigned char)t[i]) && !strchr(".-:", t[i]))
				return -1;
		start = i;
	} else if (end == 0) {
		return -1;
	}
	return go_unescape(t + start, end - start, out, false);
}

/* Which create handler gorilla/mux gives a POST to this decoded path:
 * the exact path, optionally after one /v[0-9.]+ segment. */
static const char *go_create_route(const char *path, size_t len)
{
	static const char *const creates[] = {
		"/containers/create", "/networks/create", "/volumes/create", "/services/create",
		"/secrets/create",    "/configs/create",  "/build",		 "/commit",
		"/images/create",
	};
	size_t skip = 0;

	if (len > 2 && path[0] == '/' && path[1] == 'v') {
		size_t i = 2;

		while (i < len && (isdigit((unsigned char)path[i]) || path[i] == '.'))
			i++;
		if (i > 2 && i < len && path[i] == '/')
			skip = i;
	}
	for (int pass = 0; pass < 2; pass++) {
		size_t off = pass == 0 ? 0 : skip;

		if (pass == 1 && skip == 0)
			break;
		for (size_t c = 0; c < sizeof(creates) / sizeof(creates[0]); c++)
			if (len - off == strlen(creates[c]) &&
			    memcmp(path + off, creates[c], len - off) == 0)
				return creates[c];
	}
	return NULL;
}

static void check_route(const struct req *r)
{
	static char path[ROUTE_PATH_MAX + 2], again[ROUTE_PATH_MAX + 2];
	static char go[ROUTE_PATH_MAX * 2 + 1];
	const struct route *route = NULL;
	int rc = route_canonical_path(r->url, r->url_len, path, sizeof(path));

	if (rc == 0) {
		size_t n = strlen(path);

		route = route_lookup(r->method, path);
		CHECK(route != NULL, "no row for %s", path);
		CHECK(strcmp(path, "*") == 0 || path[0] == '/', "path %s", path);
		CHECK(n == 1 || path[n - 1] != '/', "trailing slash in %s", path);
		CHECK(strstr(path, "//") == NULL, "empty segment in %s", path);
		CHECK(strstr(path, "/./") == NULL && strstr(path, "/../") == NULL &&
			      (n < 2 || strcmp(path + n - 2, "/.") != 0) &&
			      (n < 3 || strcmp(path + n - 3, "/..") != 0),
		      "dot segment in %s", path);
		for (size_t i = 0; i < n; i++)
			CHECK(!isupper((unsigned char)path[i]), "upper case in %s", path);
		if (path[0] == '/' && path[1] == 'v') {
			size_t i = 2;

			while (isdigit((unsigned char)path[i]) || path[i] == '.')
				i++;
			CHECK(path[i] != '/' && path[i] != '\0', "version left in %s", path);
		}
		/* Canonical is a fixed point (when no escape was decoded into
		 * something that reads as syntax again). */
		if (strpbrk(path, "%?#") == NULL) {
			CHECK(route_canonical_path(path, n, again, sizeof(again)) == 0, "%s", path);
			CHECK(strcmp(path, again) == 0, "%s became %s", path, again);
		}
	}
	/* Every spelling Go routes to a create handler reaches its rewrite. */
	if (r->method == HTTP_POST && !r->url_cut) {
		long glen = go_path(r->url, r->url_len, go);
		const char *want = glen >= 0 ? go_create_route(go, (size_t)glen) : NULL;

		if (want != NULL) {
			CHECK(rc == 0, "Go routes %.*s to %s; the proxy refuses it",
			      (int)r->url_len, r->url, want);
			CHECK(strcmp(path, want) == 0, "Go routes %.*s to %s; the proxy to %s",
			      (int)r->url_len, r->url, want, path);
			CHECK(route->body != REWRITE_NONE || route->query != REWRITE_NONE,
			      "%s not rewritten", want);
		}
	}
}

/* The key of a query pair as Go's ParseQuery sees it; false when Go skips
 * the pair (a ';' or a bad escape). */
static bool go_query_key(const char *pair, size_t len, char *key, long *klen)
{
	const char *eq = memchr(pair, '=', len);
	size_t n = eq ? (size_t)(eq - pair) : len;

	if (memchr(pair, ';', len) != NULL)
		return false;
	*klen = go_unescape(pair, n, key, true);
	return *klen >= 0;
}

static bool key_is(const char *key, long klen, const char *name)
{
	return (size_t)klen == strlen(name) && memcmp(key, name, (size_t)klen) == 0;
}

/* The LABEL instruction of a changes= value, as the Dockerfile parser reads
 * the double-quoted words we write. */
static void check_label_change(const char *v)
{
	json_t *got = json_object();
	const char *s = v;

	CHECK(strncmp(s, "LABEL", 5) == 0, "%s", v);
	s += 5;
	while (*s != '\0') {
		char *word[2];

		CHECK(*s == ' ', "%s", v);
		s++;
		for (int w = 0; w < 2; w++) {
			size_t n = 0;

			word[w] = malloc(strlen(s) + 1);
			CHECK(*s == '"', "%s", v);
			s++;
			while (*s != '"') {
				CHECK(*s != '\0' && *s != '$', "%s", v);
				if (*s == '\\') {
					s++;
					CHECK(*s == '"' || *s == '\\' || *s == '$', "%s", v);
				}
				word[w][n++] = *s++;
			}
			word[w][n] = '\0';
			s++;
			if (w == 0) {
				CHECK(*s == '=', "%s", v);
				s++;
			}
		}
		json_object_set_new(got, word[0], json_string(word[1]));
		free(word[0]);
		free(word[1]);
	}
	CHECK(json_equal(got, our_labels), "%s", v);
	json_decref(got);
}

static void check_query(enum rewrite_kind kind, const struct rewrite_spec *sp, const char *q,
			size_t qlen)
{
	struct cw_error err = { 0 };
	char *out = NULL, *key, *val, *last = NULL;
	size_t outlen = 0, i = 0;
	int labels = 0, parents = 0, imports = 0;
	int rc = rewrite_query(kind, sp, q, qlen, &out, &outlen, &err);

	CHECK(rc == 1 || rc == 0 || rc == -400, "rc %d", rc);
	/* Does the client's query name an import? */
	key = malloc(qlen + 1);
	for (size_t a = 0; a <= qlen;) {
		const char *amp = memchr(q + a, '&', qlen - a);
		size_t end = amp ? (size_t)(amp - q) : qlen;
		long klen;

		if (go_query_key(q + a, end - a, key, &klen) && key_is(key, klen, "fromSrc"))
			imports++;
		a = end + 1;
	}
	free(key);
	if (kind == REWRITE_IMPORT_QUERY && imports > 0)
		CHECK(rc != 0, "import %.*s left unlabelled", (int)qlen, q);
	if (kind != REWRITE_BUILD_QUERY)
		CHECK(rc != -400, "changes rewrite refused %.*s", (int)qlen, q);
	if (rc != 1) {
		CHECK(out == NULL, "output on %d", rc);
		return;
	}
	CHECK(outlen == strlen(out), "length");
	key = malloc(outlen + 1);
	val = malloc(outlen + 1);
	while (i <= outlen) {
		const char *amp = memchr(out + i, '&', outlen - i);
		size_t end = amp ? (size_t)(amp - out) : outlen;
		const char *eq = memchr(out + i, '=', end - i);
		long klen, vlen;

		if (go_query_key(out + i, end - i, key, &klen)) {
			vlen = eq ? go_unescape(eq + 1, end - (size_t)(eq + 1 - out), val, true) : 0;
			if (eq == NULL)
				val[0] = '\0';
			if (kind == REWRITE_BUILD_QUERY && key_is(key, klen, "labels")) {
				json_t *j = vlen >= 0 ? json_loadb(val, (size_t)vlen, 0, NULL) : NULL;
				const char *k;
				json_t *v;

				labels++;
				CHECK(json_is_object(j), "labels=%s", val);
				json_object_foreach(our_labels, k, v)
				{
					CHECK(json_equal(json_object_get(j, k), v), "labels=%s", val);
				}
				json_decref(j);
			} else if (key_is(key, klen, "cgroupparent")) {
				parents++;
				if (kind == REWRITE_BUILD_QUERY && sp->cgroup_parent != NULL)
					CHECK(vlen >= 0 && strcmp(val, sp->cgroup_parent) == 0,
					      "cgroupparent=%s", val);
			}
			if (vlen >= 0 && key_is(key, klen, "changes")) {
				free(last);
				last = strdup(val);
			}
		}
		i = end + 1;
	}
	if (kind == REWRITE_BUILD_QUERY) {
		CHECK(labels == 1, "%d labels= in %s", labels, out);
		if (sp->cgroup_parent != NULL)
			CHECK(parents == 1, "%d cgroupparent= in %s", parents, out);
	} else {
		const char *tail = strrchr(out, '&');

		CHECK(last != NULL, "no changes= in %s", out);
		CHECK(strncmp(tail ? tail + 1 : out, "changes=", 8) == 0, "ours not last: %s", out);
		check_label_change(last);
	}
	free(last);
	free(key);
	free(val);
	free(out);
}

static json_t *only_key(json_t *obj, const char *lower, const char *want, const char *what)
{
	const char *key;
	json_t *value, *found = NULL;

	json_object_foreach(obj, key, value)
	{
		if (!go_folds(key, lower))
			continue;
		CHECK(found == NULL, "two keys fold to %s in %s", lower, what);
		CHECK(strcmp(key, want) == 0, "key %s left in %s", key, what);
		found = value;
	}
	return found;
}

static void check_body(enum rewrite_kind kind, const struct rewrite_spec *sp, const char *body,
		       size_t len)
{
	struct cw_error err = { 0 };
	char *out = NULL;
	size_t outlen = 0;
	json_error_t jerr;
	json_t *root, *labels;
	const char *k;
	json_t *v;
	int rc = rewrite_body(kind, sp, body, len, &out, &outlen, &err);

	if (rc < 0) {
		CHECK(rc == -400 || rc == -413 || rc == -415, "rc %d", rc);
		CHECK(out == NULL && err.msg[0] != '\0', "refusal without a message");
		CHECK(rc != -413 || len > sp->max_body, "413 for %zu bytes", len);
		return;
	}
	CHECK(rc == 0 && out != NULL && outlen == strlen(out), "rc %d", rc);
	root = json_loadb(out, outlen, JSON_ALLOW_NUL, &jerr);
	CHECK(json_is_object(root), "output is not one object (%s): %s", jerr.text, out);
	labels = only_key(root, "labels", "Labels", out);
	CHECK(json_is_object(labels), "no Labels object: %s", out);
	json_object_foreach(our_labels, k, v)
	{
		CHECK(json_equal(json_object_get(labels, k), v), "label %s not ours: %s", k, out);
	}
	if (kind == REWRITE_CONTAINER_CREATE && sp->cgroup_parent != NULL) {
		int host_configs = 0;
		json_t *top;

		json_object_foreach(root, k, v)
		{
			json_t *cp;

			if (!go_folds(k, "hostconfig"))
				continue;
			host_configs++;
			CHECK(json_is_object(v), "%s not an object: %s", k, out);
			cp = only_key(v, "cgroupparent", "CgroupParent", out);
			CHECK(json_is_string(cp) && strcmp(json_string_value(cp), OUR_PARENT) == 0,
			      "%s.CgroupParent not ours: %s", k, out);
		}
		CHECK(host_configs > 0, "no HostConfig: %s", out);
		top = only_key(root, "cgroupparent", "CgroupParent", out);
		CHECK(top == NULL || (json_is_string(top) &&
				      strcmp(json_string_value(top), OUR_PARENT) == 0),
		      "top-level CgroupParent not ours: %s", out);
	}
	json_decref(root);
	free(out);
}

static void check_head(const uint8_t *data, const struct req *r)
{
	const char *head = (const char *)data;
	char *out, buf[1200];
	size_t out_len = 0, n;
	char msg[300];

	if (http_check_head(head, r->head_end) != 0)
		return;
	out = http_rebuild_head(head, r->head_end, "/build?labels=%7B%7D", 20,
				(long long)r->body_len, true, &out_len);
	CHECK(out_len >= 4 && memcmp(out + out_len - 4, "\r\n\r\n", 4) == 0, "head end");
	CHECK(memmem(out, out_len, "\r\n\r\n", 4) == out + out_len - 4, "two head ends");
	CHECK(http_check_head(out, out_len) == 0, "rebuilt head fails the check: %.*s",
	      (int)out_len, out);
	free(out);
	out = http_rebuild_head(head, r->head_end, NULL, 0, -1, false, &out_len);
	CHECK(out_len == r->head_end && memcmp(out, head, out_len) == 0, "not kept as it was");
	free(out);
	/* An error answer quoting the target. */
	n = r->url_len < sizeof(msg) - 1 ? r->url_len : sizeof(msg) - 1;
	memcpy(msg, r->url, n);
	msg[n] = '\0';
	n = http_format_error(buf, sizeof(buf), 400, msg);
	{
		const char *end = memmem(buf, n, "\r\n\r\n", 4);
		const char *cl = strstr(buf, "Content-Length: ");

		CHECK(end != NULL && cl != NULL, "error answer %s", buf);
		CHECK(strtoul(cl + 16, NULL, 10) == (size_t)(buf + n - (end + 4)),
		      "error answer length: %s", buf);
		CHECK(http_check_head(buf, (size_t)(end + 4 - buf)) == 0, "error head: %s", buf);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct req *r = calloc(1, sizeof(*r));
	const char *body;
	size_t body_len;

	parse_request(data, size, r);
	if (r->url_len > 0)
		check_route(r);
	if (r->url_len > 0 && !r->url_cut) {
		size_t qoff = route_query_offset(r->url, r->url_len);
		const char *q = qoff < r->url_len ? r->url + qoff + 1 : "";
		size_t qlen = qoff < r->url_len ? r->url_len - qoff - 1 : 0;

		check_query(REWRITE_BUILD_QUERY, &spec, q, qlen);
		check_query(REWRITE_BUILD_QUERY, &spec_no_parent, q, qlen);
		check_query(REWRITE_CHANGES_QUERY, &spec, q, qlen);
		check_query(REWRITE_IMPORT_QUERY, &spec, q, qlen);
	}
	if (r->head_done)
		check_head(data, r);
	/* The body: llhttp's, else what follows a head, else all of it. */
	if (r->body_len > 0 && !r->body_cut) {
		body = r->body;
		body_len = r->body_len;
	} else {
		const char *end = memmem(data, size, "\r\n\r\n", 4);

		body = end ? end + 4 : (const char *)data;
		body_len = end ? size - (size_t)(end + 4 - (const char *)data) : size;
	}
	check_body(REWRITE_CONTAINER_CREATE, size % 2 ? &spec : &spec_no_parent, body, body_len);
	check_body(REWRITE_LABELS, &spec, body, body_len);
	check_body(REWRITE_COMMIT, &spec, body, body_len);
	free(r->body);
	free(r);
	return 0;
}
