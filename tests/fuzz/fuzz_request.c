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
#include "../../proxy/owner.h"
#include "../../proxy/refs.h"
#include "../../proxy/rewrite.h"
#include "../../proxy/route.h"
#include "llhttp.h"
#include "oracle.h"

#define BODY_MAX (256 * 1024)

/* FUZZ_SKIP_KNOWN set: do not stop on the open bugs the unit tests already
 * hold (a head after empty lines, a request line without a version or with
 * several spaces), so a campaign can look for new ones. */
static bool skip_known;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	oracle_init(BODY_MAX);
	skip_known = getenv("FUZZ_SKIP_KNOWN") != NULL;
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
	uint8_t http_major;	      /* 0 for a line without a version */
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
	r->http_major = llhttp_get_http_major(p);
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

/* ---- checks ------------------------------------------------------------------------ */

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
		/* Fail closed: a write is never a read, a refused row refuses. */
		CHECK(route->action != ROUTE_READ || r->method == HTTP_GET ||
			      r->method == HTTP_HEAD || r->method == HTTP_OPTIONS,
		      "%s %s relayed as a read", llhttp_method_name(r->method), path);
		if (route->action == ROUTE_REFUSE) {
			char msg[512];

			CHECK(route_policy(route, r->method, path, "", 0, 0, msg, sizeof(msg)) == -403 &&
				      strncmp(msg, "ci-wrap: refused ", 17) == 0,
			      "%s %s not refused", llhttp_method_name(r->method), path);
		}
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

/* The daemon joins the changes= values with newlines and parses them as a
 * Dockerfile (bufio.ScanLines drops a trailing \r; a line continues when it
 * ends in the escape character and blanks, and '# escape=' can make that
 * '`'): does every line before ours end, and no directive come first? */
static bool changes_end_lines(const char *q, size_t len)
{
	char *vals[64];
	int n;
	bool ok = true;

	/* The model's values are C strings: a NUL would hide where a line
	 * ends (the daemon reads past it), so such queries are not judged. */
	if (memmem(q, len, "%00", 3) != NULL)
		return true;
	n = go_query_values(q, len, "changes", vals, 64);

	for (int v = 0; v < n; v++) {
		for (char *line = vals[v]; ok && v < n - 1 && line != NULL;) {
			char *nl = strchr(line, '\n');
			size_t end = nl ? (size_t)(nl - line) : strlen(line);

			if (end > 0 && line[end - 1] == '\r')
				end--;
			while (end > 0 && (line[end - 1] == ' ' || line[end - 1] == '\t'))
				end--;
			if (end > 0 && (line[end - 1] == '\\' || line[end - 1] == '`'))
				ok = false;
			if (v == 0 && line == vals[0] && line[strspn(line, " \t")] == '#')
				ok = false;
			line = nl ? nl + 1 : NULL;
		}
		free(vals[v]);
	}
	return ok || n == 64; /* more than the model keeps: not judged */
}

static void check_query(enum rewrite_kind kind, const struct rewrite_spec *sp, const char *q,
			size_t qlen)
{
	struct cw_error err = { 0 };
	char *out = NULL, *key, *val, *last = NULL;
	size_t outlen = 0, i = 0;
	int labels = 0, parents = 0, imports = 0;
	int rc = rewrite_query(kind, sp, q, qlen, &out, &outlen, &err);

	CHECK(rc == 1 || rc == 0 || rc == -400 ||
	      (rc == -403 && (kind != REWRITE_BUILD_QUERY || sp->deny != 0)),
	      "rc %d", rc);
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
		CHECK(label_change_is_ours(last), "changes=%s", last);
		CHECK(changes_end_lines(out, outlen), "a change continues into ours: %s", out);
	}
	free(last);
	free(key);
	free(val);
	free(out);
}

static void check_body(enum rewrite_kind kind, const struct rewrite_spec *sp, const char *body,
		       size_t len)
{
	struct cw_error err = { 0 };
	char *out = NULL;
	size_t outlen = 0;
	json_error_t jerr;
	json_t *root, *volumes = NULL;
	const char *why;
	int rc = rewrite_body(kind, sp, body, len, &out, &outlen, &volumes, &err);

	if (rc < 0) {
		CHECK(rc == -400 || rc == -403 || rc == -413 || rc == -415, "rc %d", rc);
		CHECK(out == NULL && volumes == NULL && err.msg[0] != '\0',
		      "refusal without a message");
		CHECK(rc != -403 || kind == REWRITE_CONTAINER_CREATE, "403 for kind %d", kind);
		return;
	}
	CHECK(rc == 0 && out != NULL && outlen == strlen(out), "rc %d", rc);
	root = json_loadb(out, outlen, JSON_ALLOW_NUL, &jerr);
	CHECK(json_is_object(root), "output is not one object (%s): %s", jerr.text, out);
	CHECK(body_is_labelled(root, kind == REWRITE_CONTAINER_CREATE, sp->cgroup_parent, &why),
	      "%s: %s", why, out);
	if (kind == REWRITE_CONTAINER_CREATE) {
		CHECK(mounts_are_labelled(root, &why), "%s: %s", why, out);
		CHECK(binds_are_created(root, volumes, &why), "%s: %s", why, out);
		CHECK(json_array_size(volumes) <= REWRITE_MAX_IMPLICIT_VOLUMES, "%zu volumes",
		      json_array_size(volumes));
	}
	json_decref(volumes);
	json_decref(root);
	free(out);
}

/* A prune's query gets exactly one filters= that the daemon reads with our
 * label in it, in the encoding of the rest (moby's filters.FromJSON). */
static void check_prune(const char *q, size_t qlen)
{
	struct cw_error err = { 0 };
	char *out = NULL, *vals[4];
	size_t outlen = 0;
	int rc = rewrite_query(REWRITE_PRUNE_QUERY, &spec, q, qlen, &out, &outlen, &err);
	json_t *filters, *label;
	int n;

	CHECK(rc == 1 || rc == -400, "prune rc %d", rc);
	if (rc != 1)
		return;
	n = go_query_values(out, outlen, "filters", vals, 4);
	CHECK(n == 1, "%d filters= in %s", n, out);
	filters = json_loads(vals[0], JSON_DECODE_ANY, NULL);
	label = json_object_get(filters, "label");
	CHECK(json_is_true(json_object_get(label, "ci-wrap.session=fuzz-1")) ||
		      (json_is_array(label) &&
		       strcmp(json_string_value(json_array_get(label, json_array_size(label) - 1)),
			      "ci-wrap.session=fuzz-1") == 0),
	      "prune filters without our label: %s", vals[0]);
	json_decref(filters);
	for (int i = 0; i < n; i++)
		free(vals[i]);
	free(out);
}

/* What isolation reads of a request: its subject is part of its path, the
 * objects a body names are kinds of the table with a name. */
static void check_owner(const struct req *r, const char *body, size_t len)
{
	static char canonical[ROUTE_PATH_MAX + 2], decoded[ROUTE_PATH_MAX + 2];
	struct owner_subject s;
	json_t *refs, *ref;
	size_t i;

	if (route_canonical_path(r->url, r->url_len, canonical, sizeof(canonical)) == 0 &&
	    route_decoded_path(r->url, r->url_len, decoded, sizeof(decoded)) == 0) {
		CHECK(strlen(canonical) == strlen(decoded), "%s vs %s", canonical, decoded);
		owner_subject(r->method, canonical, decoded, &s);
		CHECK(s.kind == RESOURCE_NONE || (s.name[0] != '\0' && strstr(decoded, s.name)),
		      "subject '%s' of %s", s.name, decoded);
	}
	for (int k = 0; k < 2; k++) {
		refs = refs_of_body(k ? REWRITE_NETWORK_CONNECT : REWRITE_CONTAINER_CREATE, body, len);
		json_array_foreach(refs, i, ref)
		{
			const char *kind = json_string_value(json_object_get(ref, "kind"));

			CHECK(kind != NULL && kind_by_name(kind) != RESOURCE_NONE, "ref kind");
			CHECK(json_string_length(json_object_get(ref, "name")) > 0, "empty ref");
		}
		json_decref(refs);
	}
}

/* --deny and --allow-bind only refuse: a body they let through is
 * rewritten exactly as without them, one they refuse names the option,
 * and what is refused without them stays refused. */
static void check_policy(enum rewrite_kind kind, const char *body, size_t len)
{
	struct cw_error e1 = { 0 }, e2 = { 0 };
	char *plain = NULL, *ruled = NULL;
	size_t n1 = 0, n2 = 0;
	int r1 = rewrite_body(kind, &spec, body, len, &plain, &n1, NULL, &e1);
	int r2 = rewrite_body(kind, &spec_policy, body, len, &ruled, &n2, NULL, &e2);

	if (r1 < 0)
		CHECK(r2 == r1, "refused with %d, with the policy %d", r1, r2);
	else if (r2 == 0)
		CHECK(n1 == n2 && memcmp(plain, ruled, n1) == 0, "the policy changed the body");
	else
		CHECK((r2 == -403 && (strstr(e2.msg, "--deny ") || strstr(e2.msg, "--allow-bind"))) ||
		      (r2 == -400 && strstr(e2.msg, "host-path bind mounts")),
		      "policy refusal %d: %s", r2, e2.msg);
	free(plain);
	free(ruled);
}

static void check_head(const uint8_t *data, const struct req *r)
{
	const char *head = (const char *)data;
	char *out, buf[1200];
	size_t out_len = 0, n;
	char msg[300];

	if (http_check_head(head, r->head_end) != 0)
		return;
	if (skip_known && (head[0] == '\r' || head[0] == '\n' || r->http_major == 0 ||
			   memmem(head, strcspn(head, "\r\n"), "  ", 2) != NULL)) {
		free(http_rebuild_head(head, r->head_end, "/x", 2, 0, true, &out_len));
		return;
	}
	out = http_rebuild_head(head, r->head_end, "/build?labels=%7B%7D", 20,
				(long long)r->body_len, true, &out_len);
	CHECK(out_len >= 4 && memcmp(out + out_len - 4, "\r\n\r\n", 4) == 0, "head end");
	CHECK(memmem(out, out_len, "\r\n\r\n", 4) == out + out_len - 4, "two head ends");
	CHECK(http_check_head(out, out_len) == 0, "rebuilt head fails the check: %.*s",
	      (int)out_len, out);
	{
		/* The new target, then the version (llhttp lets several spaces
		 * through before it; they are kept as they were). */
		const char *t = memmem(out, out_len, " /build?labels=%7B%7D ", 22);

		if (t != NULL)
			for (t += 22; *t == ' ';)
				t++;
		CHECK(t != NULL && strncmp(t, "HTTP/", 5) == 0,
		      "rebuilt head lost its request line: %.*s", (int)out_len, out);
	}
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
		check_query(REWRITE_BUILD_QUERY, &spec_policy, q, qlen);
		check_query(REWRITE_CHANGES_QUERY, &spec, q, qlen);
		check_query(REWRITE_IMPORT_QUERY, &spec, q, qlen);
		check_prune(q, qlen);
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
	if (r->url_len > 0 && !r->url_cut)
		check_owner(r, body, body_len);
	check_policy(REWRITE_CONTAINER_CREATE, body, body_len);
	check_policy(REWRITE_LABELS, body, body_len);
	free(r->body);
	free(r);
	return 0;
}
