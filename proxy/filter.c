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

/* One complete event line: sent as one chunk if it is to be kept. */
static void event_line(struct conn *c, const char *line, size_t len)
{
	struct answer_filter *af = &c->filter;
	json_t *event = json_loadb(line, len, 0, NULL);
	char size[32];

	if (event == NULL || owner_event_keep(c->proxy->owner, event)) {
		int n = snprintf(size, sizeof(size), "%zx\r\n", len + 1);

		emit(af, size, (size_t)n);
		emit(af, line, len);
		emit(af, "\n\r\n", 3);
	}
	json_decref(event);
}

static void events_body(struct conn *c, const char *at, size_t n)
{
	struct answer_filter *af = &c->filter;

	while (n > 0) {
		const char *nl = memchr(at, '\n', n);
		size_t take = nl ? (size_t)(nl - at) : n;

		if (af->len != SIZE_MAX && !collect(c, at, take, FILTER_EVENT_MAX)) {
			cw_verbose("proxy: an event longer than %d bytes was left out",
				   FILTER_EVENT_MAX);
			body_drop(c);
			af->len = SIZE_MAX; /* skipping to the end of the line */
		}
		if (nl == NULL)
			return;
		if (af->len != SIZE_MAX)
			event_line(c, af->body, af->len);
		af->len = 0;
		at += take + 1;
		n -= take + 1;
	}
}

void filter_body(struct conn *c, const char *at, size_t n)
{
	struct answer_filter *af = &c->filter;

	if (!af->active)
		return;
	if (af->events) {
		events_body(c, at, n);
		return;
	}
	if (af->len != SIZE_MAX && !collect(c, at, n, PROXY_BODY_BUDGET)) {
		body_drop(c);
		af->len = SIZE_MAX; /* too large to filter: answered with an error */
	}
}

static void list_end(struct conn *c)
{
	struct answer_filter *af = &c->filter;
	char head[256], *body = NULL;
	json_t *list = NULL;
	size_t len;

	if (af->len != SIZE_MAX)
		list = json_loadb(af->body ? af->body : "", af->len, 0, NULL);
	if (list != NULL) {
		owner_list_filter(owner_session(c->proxy->owner), af->list, list);
		body = json_dumps(list, JSON_COMPACT);
	}
	if (body == NULL) {
		char err[512];

		len = http_format_error(err, sizeof(err), 502,
					"ci-wrap: the daemon's list was too large or not JSON: "
					"it cannot be filtered for this session");
		emit(af, err, len);
		c->close_after = true;
	} else {
		len = strlen(body);
		emit(af, head,
		     (size_t)snprintf(head, sizeof(head), HEAD_COMMON "Content-Length: %zu\r\n\r\n",
				      len + 1));
		emit(af, body, len);
		emit(af, "\n", 1);
	}
	free(body);
	json_decref(list);
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
	filter_reset(c);
	free(c->filter.out);
	c->filter.out = NULL;
	c->filter.out_len = c->filter.out_cap = 0;
}
