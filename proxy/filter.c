/* filter.c - lists and events without other sessions' objects (filter.h).
 *
 * A list is collected whole (within the proxy's body budget), filtered and
 * sent with a Content-Length of its own. The event stream is read event by
 * event (json.Encoder writes one JSON object per line) and re-chunked, so
 * an event of another session's object never reaches the client. The
 * daemon's head is replaced by one of ours: clients read nothing from a
 * list's head but its status and framing.
 */
#include "filter.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "../common/log.h"
#include "../common/util.h"
#include "http.h"
#include "llhttp.h"
#include "owner.h"
#include "proxy-internal.h"
#include "relay.h"

#define HEAD_COMMON "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nServer: Docker\r\n"

void filter_begin(struct conn *c, uint8_t method, const char *canonical)
{
	struct answer_filter *af = &c->filter;

	af->list = owner_list_kind(method, canonical);
	af->events = method == HTTP_GET && strcmp(canonical, "/events") == 0;
}

static bool wanted(const struct answer_filter *af)
{
	return af->list != RESOURCE_NONE || af->events;
}

static void emit(struct answer_filter *af, const char *data, size_t len)
{
	if (af->out_cap - af->out_len < len) {
		af->out_cap = (af->out_len + len) * 2;
		af->out = xrealloc(af->out, af->out_cap);
	}
	memcpy(af->out + af->out_len, data, len);
	af->out_len += len;
}

void filter_head(struct conn *c, int status, bool head_request)
{
	struct answer_filter *af = &c->filter;

	if (!wanted(af) || (status >= 100 && status < 200))
		return;
	af->decided = true;
	af->active = status == 200 && !head_request;
	if (af->active && af->events)
		emit(af, HEAD_COMMON "Transfer-Encoding: chunked\r\n\r\n",
		     strlen(HEAD_COMMON "Transfer-Encoding: chunked\r\n\r\n"));
}

/* Grow the collected body by n, within the proxy's budget; false if not. */
static bool collect(struct conn *c, const char *at, size_t n, size_t limit)
{
	struct answer_filter *af = &c->filter;
	struct proxy *p = c->proxy;

	if (af->len + n > limit)
		return false;
	if (af->cap - af->len < n) {
		size_t cap = (af->len + n) * 2;

		if (p->body_bytes + cap - af->cap > PROXY_BODY_BUDGET)
			return false;
		p->body_bytes += cap - af->cap;
		af->body = xrealloc(af->body, cap);
		af->cap = cap;
	}
	memcpy(af->body + af->len, at, n);
	af->len += n;
	return true;
}

static void body_drop(struct conn *c)
{
	struct answer_filter *af = &c->filter;

	c->proxy->body_bytes -= af->cap;
	free(af->body);
	af->body = NULL;
	af->len = af->cap = 0;
}

static void emit_event(struct answer_filter *af, const char *line, size_t len)
{
	char size[32];
	int n = snprintf(size, sizeof(size), "%zx\r\n", len + 1);

	emit(af, size, (size_t)n);
	emit(af, line, len);
	emit(af, "\n\r\n", 3);
}

static bool events_feed(struct conn *c, const char *at, size_t n);

/* The held event's object is known: send or drop it, read on. */
static void on_event_verdict(void *arg, int status, const char *msg)
{
	struct conn *c = arg;
	struct answer_filter *af = &c->filter;
	char *rest = af->rest;
	size_t rest_len = af->rest_len;

	(void)msg;
	af->q = NULL;
	if (status == 0)
		emit_event(af, af->held, af->held_len);
	free(af->held);
	af->held = NULL;
	af->rest = NULL;
	af->rest_len = 0;
	af->paused = events_feed(c, rest, rest_len);
	free(rest);
	conn_filter_continue(c);
}

/* One complete event line: sent as one chunk if it is to be kept. Returns
 * true when its object must be asked about first (the line is held). */
static bool event_line(struct conn *c, const char *line, size_t len)
{
	struct answer_filter *af = &c->filter;
	json_t *event = json_loadb(line, len, 0, NULL);
	int rc = event ? owner_event_check(c->proxy->owner, event, on_event_verdict, c, &af->q) : 0;

	json_decref(event);
	if (rc == 0)
		emit_event(af, line, len);
	if (rc != 1)
		return false;
	af->held = xmalloc(len);
	memcpy(af->held, line, len);
	af->held_len = len;
	return true;
}

/* Split body bytes into events; true when one is held (the rest of at is
 * kept for later). */
static bool events_feed(struct conn *c, const char *at, size_t n)
{
	struct answer_filter *af = &c->filter;

	while (n > 0) {
		const char *nl = memchr(at, '\n', n);
		size_t take = nl ? (size_t)(nl - at) : n;
		bool held = false;

		if (af->len != SIZE_MAX && !collect(c, at, take, FILTER_EVENT_MAX)) {
			cw_verbose("proxy: an event longer than %d bytes was left out",
				   FILTER_EVENT_MAX);
			body_drop(c);
			af->len = SIZE_MAX; /* skipping to the end of the line */
		}
		if (nl == NULL)
			return false;
		if (af->len != SIZE_MAX)
			held = event_line(c, af->body, af->len);
		af->len = 0;
		at += take + 1;
		n -= take + 1;
		if (held) {
			af->rest = xmalloc(n + 1);
			memcpy(af->rest, at, n);
			af->rest_len = n;
			return true;
		}
	}
	return false;
}

bool filter_body(struct conn *c, const char *at, size_t n)
{
	struct answer_filter *af = &c->filter;

	if (!af->active)
		return false;
	if (af->events)
		return af->paused = events_feed(c, at, n);
	if (af->len != SIZE_MAX && !collect(c, at, n, PROXY_BODY_BUDGET)) {
		body_drop(c);
		af->len = SIZE_MAX; /* too large to filter: answered with an error */
	}
	return false;
}

/* Does the list name no session but ours? The daemon's Go encoder writes the
 * key as it is (it holds nothing it escapes) and escapes every quote inside
 * a string, so each label of the key reads "ci-wrap.session":"VALUE": when
 * every VALUE is ours, nothing is to be left out and the list goes as it
 * came, unparsed. */
static bool only_ours(const char *body, size_t len, const char *session)
{
	static const char key[] = "\"ci-wrap.session\":\"";
	size_t klen = sizeof(key) - 1, slen = strlen(session);
	const char *at = body, *end = body + len;

	while ((at = memmem(at, (size_t)(end - at), key, klen)) != NULL) {
		at += klen;
		if ((size_t)(end - at) <= slen || memcmp(at, session, slen) != 0 || at[slen] != '"')
			return false;
	}
	return true;
}

/* The list without other sessions' objects in *out (malloc'd), or -1. */
static int list_filtered(struct conn *c, char **out, size_t *len)
{
	struct answer_filter *af = &c->filter;
	json_t *list = json_loadb(af->body ? af->body : "", af->len, 0, NULL);

	if (list == NULL)
		return -1;
	owner_list_filter(owner_session(c->proxy->owner), af->list, list);
	*out = json_dumps(list, JSON_COMPACT);
	json_decref(list);
	if (*out == NULL)
		return -1;
	*len = strlen(*out);
	(*out)[(*len)++] = '\n'; /* json_dumps left room: its NUL */
	return 0;
}

static void list_send(struct answer_filter *af, const char *body, size_t len)
{
	char head[256];

	emit(af, head,
	     (size_t)snprintf(head, sizeof(head), HEAD_COMMON "Content-Length: %zu\r\n\r\n", len));
	emit(af, body, len);
}

static void list_end(struct conn *c)
{
	struct answer_filter *af = &c->filter;
	char *body = NULL, err[512];
	size_t len = 0;

	if (af->len != SIZE_MAX &&
	    only_ours(af->body ? af->body : "", af->len, owner_session(c->proxy->owner))) {
		list_send(af, af->body ? af->body : "", af->len); /* as it came */
		return;
	}
	if (af->len != SIZE_MAX && list_filtered(c, &body, &len) == 0) {
		list_send(af, body, len);
		free(body);
		return;
	}
	len = http_format_error(err, sizeof(err), 502,
				"ci-wrap: the daemon's list was too large or not JSON: "
				"it cannot be filtered for this session");
	emit(af, err, len);
	conn_close_after(c);
}

void filter_end(struct conn *c)
{
	struct answer_filter *af = &c->filter;

	if (!af->active)
		return;
	if (af->events)
		emit(af, "0\r\n\r\n", 5);
	else
		list_end(c);
	body_drop(c);
	af->active = false;
}

enum filter_hold filter_hold(const struct conn *c)
{
	const struct answer_filter *af = &c->filter;

	if (!wanted(af))
		return FILTER_RELAY;
	if (!af->decided)
		return FILTER_HOLD;
	return af->active ? FILTER_CUT : FILTER_RELAY;
}

char *filter_take_output(struct conn *c, size_t *len)
{
	struct answer_filter *af = &c->filter;
	char *out = af->out;

	*len = af->out_len;
	if (af->out_len == 0)
		return NULL;
	af->out = NULL;
	af->out_len = af->out_cap = 0;
	return out;
}

bool filter_backlogged(const struct conn *c)
{
	return c->filter.out_len >= FILTER_OUT_MAX;
}

void filter_reset(struct conn *c)
{
	struct answer_filter *af = &c->filter;

	body_drop(c);
	/* Output still due to the client stays until it is taken. */
	af->list = RESOURCE_NONE;
	af->events = af->decided = af->active = false;
}

void filter_free(struct conn *c)
{
	owner_refs_cancel(c->filter.q);
	free(c->filter.held);
	free(c->filter.rest);
	c->filter.q = NULL;
	c->filter.held = c->filter.rest = NULL;
	filter_reset(c);
	free(c->filter.out);
	c->filter.out = NULL;
	c->filter.out_len = c->filter.out_cap = 0;
}
