/* conn.c - one client connection relayed to one daemon connection.
 *
 * Requests are parsed with llhttp and handled one at a time: a request is
 * routed when its head is complete, relayed (or collected and rewritten),
 * and the next one is parsed only once the daemon has answered this one.
 * That is how Docker clients talk anyway, and it makes two things exact: a
 * pipelined create can never slip past the router, and a hijacked stream
 * (101, or a 200 raw stream on attach/exec) starts at a known byte.
 * Answers are parsed only for their framing; bytes are forwarded as read.
 * Backpressure: a side is read only while its buffer has room.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "filter.h"
#include "http.h"
#include "proxy-internal.h"
#include "owner.h"
#include "refs.h"
#include "sockmount.h"
#include "track.h"
#include "worker.h"

/* Why llhttp paused. */
enum {
	PAUSE_NONE,
	PAUSE_HEADERS,	 /* a request head is complete */
	PAUSE_MESSAGE,	 /* a message is complete */
	PAUSE_TOO_LARGE, /* a body to rewrite outgrew its limit */
	PAUSE_BUSY,	 /* rewrite bodies outgrew the proxy's budget */
	PAUSE_FILTER,	 /* an answer's filter waits for a check */
};

static void conn_close(struct conn *c);
static void finish_callback(struct conn *c);

/* ---- flows ----------------------------------------------------------------- */

static bool flow_pending(const struct flow *f)
{
	return f->ninj > 0 || f->w < f->p;
}

static size_t flow_space(const struct flow *f)
{
	return FLOW_BUF_SIZE - (f->r - f->w);
}

static void flow_compact(struct flow *f)
{
	if (f->w == 0)
		return;
	memmove(f->buf, f->buf + f->w, f->r - f->w);
	f->p -= f->w;
	f->parsed -= f->w;
	f->r -= f->w;
	f->w = 0;
}

/* Read what fits; returns bytes read, 0 on EOF, -1 with errno. */
static ssize_t flow_read(struct flow *f, int fd)
{
	ssize_t n;

	if (f->r == FLOW_BUF_SIZE)
		flow_compact(f);
	do
		n = read(fd, f->buf + f->r, FLOW_BUF_SIZE - f->r);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		f->r += (size_t)n;
	if (f->r > f->peak)
		f->peak = f->r;
	return n;
}

static void flow_drop_injection(struct flow *f)
{
	for (int i = 0; i < (int)ARRAY_SIZE(f->inj_mem); i++) {
		free(f->inj_mem[i]);
		f->inj_mem[i] = NULL;
	}
	f->ninj = 0;
	f->inj_at = 0;
}

/* Write what is released; 0 when done or the sink is full, -1 on error. */
static int flow_flush(struct flow *f, int fd)
{
	while (f->ninj > 0) {
		struct iovec *iov = &f->inj[f->inj_at];
		ssize_t n = writev(fd, iov, f->ninj);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		while (n > 0 && f->ninj > 0) {
			size_t take = (size_t)n < iov->iov_len ? (size_t)n : iov->iov_len;

			iov->iov_base = (char *)iov->iov_base + take;
			iov->iov_len -= take;
			n -= (ssize_t)take;
			if (iov->iov_len == 0) {
				f->ninj--;
				f->inj_at++;
				iov++;
			}
		}
		if (f->ninj == 0)
			flow_drop_injection(f);
	}
	while (f->w < f->p) {
		ssize_t n = write(fd, f->buf + f->w, f->p - f->w);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		f->w += (size_t)n;
	}
	if (f->w == f->r)
		f->w = f->p = f->parsed = f->r = 0;
	return 0;
}

/* Queue bytes of our own (an error, 100 Continue) at the end of a flow. */
static int flow_append(struct flow *f, const char *data, size_t len)
{
	if (f->parsed != f->r)
		return -1;
	if (FLOW_BUF_SIZE - f->r < len)
		flow_compact(f);
	if (FLOW_BUF_SIZE - f->r < len)
		return -1;
	memcpy(f->buf + f->r, data, len);
	f->r += len;
	if (f->r > f->peak)
		f->peak = f->r;
	f->p = f->parsed = f->r;
	return 0;
}

/* Is anything still due to the client: the flow, or a filter's output? */
static bool resp_pending(const struct conn *c)
{
	return flow_pending(&c->resp) || c->filter.out_len > 0;
}

/* Hand a filter's output to the answer's flow once what precedes it is out. */
static void filter_to_flow(struct conn *c)
{
	struct flow *f = &c->resp;
	size_t len;
	char *out;

	if (f->ninj > 0 || f->w < f->p)
		return;
	out = filter_take_output(c, &len);
	if (out == NULL)
		return;
	flow_drop_injection(f);
	f->inj_mem[0] = out;
	f->inj[0] = (struct iovec){ .iov_base = out, .iov_len = len };
	f->ninj = 1;
	f->inj_at = 0;
}

/* Write the answer's flow and what filters queued after it. */
static int flush_resp(struct conn *c)
{
	do {
		filter_to_flow(c);
		if (flow_flush(&c->resp, c->cfd) < 0)
			return -1;
	} while (c->resp.ninj == 0 && c->filter.out_len > 0 && c->resp.w == c->resp.p);
	return 0;
}

/* ---- the request head ------------------------------------------------------ */

static void span_extend(const struct flow *f, size_t *off, size_t *len, bool *open,
			const char *at, size_t n)
{
	if (!*open) {
		*off = (size_t)(at - f->buf);
		*open = true;
	}
	*len = (size_t)(at + n - f->buf) - *off;
}

static int on_req_url(llhttp_t *parser, const char *at, size_t n)
{
	struct conn *c = parser->data;

	span_extend(&c->req, &c->head.url_off, &c->head.url_len, &c->head.in_url, at, n);
	return 0;
}

static int on_req_field(llhttp_t *parser, const char *at, size_t n)
{
	struct conn *c = parser->data;

	if (c->state == REQ_HEAD)
		span_extend(&c->req, &c->head.field_off, &c->head.field_len, &c->head.in_field,
			    at, n);
	return 0;
}

static int on_req_value(llhttp_t *parser, const char *at, size_t n)
{
	struct conn *c = parser->data;

	if (c->state == REQ_HEAD)
		span_extend(&c->req, &c->head.value_off, &c->head.value_len, &c->head.in_value,
			    at, n);
	return 0;
}

static int on_req_field_complete(llhttp_t *parser)
{
	struct conn *c = parser->data;

	c->head.in_field = false;
	c->head.in_value = false;
	c->head.value_len = 0;
	return 0;
}

static bool field_is(const struct conn *c, const char *name)
{
	size_t n = strlen(name);

	return c->head.field_len == n &&
	       strncasecmp(c->req.buf + c->head.field_off, name, n) == 0;
}

/* Note the headers the router and the framing checks need. */
static int on_req_value_complete(llhttp_t *parser)
{
	struct conn *c = parser->data;
	struct req_head *h = &c->head;
	const char *v = c->req.buf + h->value_off;
	size_t vlen = h->value_len;

	if (c->state != REQ_HEAD)
		return 0;
	http_framing_note(&h->framing, c->req.buf + h->field_off, h->field_len, v, vlen);
	if (field_is(c, "content-encoding")) {
		h->content_encoded |= !(vlen == 8 && strncasecmp(v, "identity", 8) == 0);
	} else if (field_is(c, "content-type")) {
		h->form_body |= http_ct_is_form(v, vlen);
	} else if (field_is(c, "expect")) {
		h->expect_continue |= vlen == 12 && strncasecmp(v, "100-continue", 12) == 0;
	}
	h->in_value = false;
	return 0;
}

static int on_req_url_complete(llhttp_t *parser)
{
	struct conn *c = parser->data;

	c->head.in_url = false;
	return 0;
}

static int on_req_headers_complete(llhttp_t *parser)
{
	struct conn *c = parser->data;

	c->event = PAUSE_HEADERS;
	return HPE_PAUSED;
}

/* Collect a body to rewrite, within its own limit and the proxy's budget. */
static int on_req_body(llhttp_t *parser, const char *at, size_t n)
{
	struct conn *c = parser->data;
	struct proxy *p = c->proxy;

	if (c->state != REQ_BUFFER)
		return 0;
	if (c->body_len + n > p->cfg.rewrite.max_body) {
		c->event = PAUSE_TOO_LARGE;
		return HPE_USER;
	}
	if (c->body_len + n > c->body_cap) {
		size_t cap = c->body_cap ? c->body_cap * 2 : 16384;

		while (cap < c->body_len + n)
			cap *= 2;
		if (p->body_bytes + cap - c->body_cap > PROXY_BODY_BUDGET) {
			c->event = PAUSE_BUSY;
			return HPE_USER;
		}
		p->body_bytes += cap - c->body_cap;
		c->body = xrealloc(c->body, cap);
		c->body_cap = cap;
	}
	memcpy(c->body + c->body_len, at, n);
	c->body_len += n;
	return 0;
}

static int on_req_message_complete(llhttp_t *parser)
{
	struct conn *c = parser->data;

	c->event = PAUSE_MESSAGE;
	return HPE_PAUSED;
}

static const llhttp_settings_t req_settings = {
	.on_url = on_req_url,
	.on_url_complete = on_req_url_complete,
	.on_header_field = on_req_field,
	.on_header_field_complete = on_req_field_complete,
	.on_header_value = on_req_value,
	.on_header_value_complete = on_req_value_complete,
	.on_headers_complete = on_req_headers_complete,
	.on_body = on_req_body,
	.on_message_complete = on_req_message_complete,
};

/* ---- the answer ------------------------------------------------------------ */

static int on_resp_headers_complete(llhttp_t *parser)
{
	struct conn *c = parser->data;
	int status = llhttp_get_status_code(parser);

	c->status = status;
	if (status >= 100 && status < 200 && status != 101)
		return 0; /* interim: llhttp knows it has no body */
	c->resp_final = true;
	filter_head(c, status, c->req_is_head);
	if (status == 101) {
		c->raw_pending = true;
		return 2; /* no body; llhttp returns HPE_PAUSED_UPGRADE */
	}
	if (c->req_is_head)
		return 1;
	/* attach and exec without Upgrade: the daemon hijacks the connection
	 * and writes a bare 200 head, then the raw stream until it closes. */
	if (status == 200 && (c->route->flags & ROUTE_HIJACK) &&
	    !(parser->flags & (F_CHUNKED | F_CONTENT_LENGTH))) {
		c->raw_pending = true;
		return 2;
	}
	return 0;
}

static int on_resp_message_complete(llhttp_t *parser)
{
	struct conn *c = parser->data;

	if (c->raw_pending || !c->resp_final)
		return 0;
	c->event = PAUSE_MESSAGE;
	return HPE_PAUSED;
}

/* ---- tracking ---------------------------------------------------------------- */

/* Body bytes of an answer (chunked framing already taken off). */
static int on_resp_body(llhttp_t *parser, const char *at, size_t n)
{
	struct conn *c = parser->data;

	if (c->track != NULL && c->own_answers == 0)
		track_answer_bytes(c->proxy->track, c->track, c->status, at, n);
	if (filter_body(c, at, n)) {
		c->event = PAUSE_FILTER;
		return HPE_PAUSED;
	}
	return 0;
}

static void track_end(struct conn *c)
{
	track_answer_end(c->proxy->track, c->track, c->status);
	c->track = NULL;
}

static const llhttp_settings_t resp_settings = {
	.on_headers_complete = on_resp_headers_complete,
	.on_body = on_resp_body,
	.on_message_complete = on_resp_message_complete,
};

/* ---- request lifecycle ----------------------------------------------------- */

static void body_free(struct conn *c)
{
	c->proxy->body_bytes -= c->body_cap;
	free(c->body);
	c->body = NULL;
	c->body_len = c->body_cap = 0;
}

static void conn_refuse(struct conn *c, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void conn_answer_close(struct conn *c, const char *answer, size_t len);

static enum proxy_deny deny_reason(int status)
{
	switch (status) {
	case 403:
		return PROXY_DENY_POLICY;
	case 413:
	case 414:
	case 431:
		return PROXY_DENY_TOO_LARGE;
	case 502:
		return PROXY_DENY_DAEMON;
	default:
		return PROXY_DENY_MALFORMED;
	}
}

/* Answer with a Docker-style error and close: after a refusal the framing
 * of whatever follows on the connection can no longer be trusted. */
static void conn_refuse(struct conn *c, int status, const char *fmt, ...)
{
	char msg[384], answer[1024];
	size_t len;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->proxy->stats.denied++;
	c->proxy->stats.denied_by[deny_reason(status)]++;
	c->status = status;
	c->note = "refused";
	snprintf(c->reason, sizeof(c->reason), "%s", msg);
	cw_debug("proxy: refused with %d: %s", status, msg);
	len = http_format_error(answer, sizeof(answer), status, msg);
	conn_answer_close(c, answer, len);
}

/* Answer the request ourselves (the daemon never sees it) and close: the
 * framing of whatever follows on the connection is no longer known. */
static void conn_answer_close(struct conn *c, const char *answer, size_t len)
{
	proxy_audit(c->proxy, c);
	body_free(c);
	c->state = REQ_REFUSED;
	c->close_after = true;
	c->resp_active = false;
	if (c->ufd >= 0) {
		ev_io_stop(c->proxy->loop, &c->u_read);
		ev_io_stop(c->proxy->loop, &c->u_write);
		close(c->ufd);
		c->ufd = -1;
	}
	flow_drop_injection(&c->req);
	/* Mid-answer there is no place for ours: just close. */
	if (c->resp_final || flow_append(&c->resp, answer, len) < 0)
		conn_close(c);
}

static int status_for_parse_error(struct conn *c, enum llhttp_errno e)
{
	if (c->event == PAUSE_TOO_LARGE)
		return 413;
	if (c->event == PAUSE_BUSY)
		return 503;
	if (e == HPE_INVALID_TRANSFER_ENCODING)
		return 501;
	if (e == HPE_INVALID_VERSION)
		return 505;
	return 400;
}

/* Begin the next request if one is waiting and the last one is settled. */
static bool request_start(struct conn *c)
{
	struct flow *f = &c->req;

	if (f->parsed == f->r || c->resp_active || flow_pending(f) || resp_pending(c))
		return false;
	if (c->proxy->draining) {
		conn_close(c);
		return false;
	}
	flow_compact(f);
	memset(&c->head, 0, sizeof(c->head));
	c->state = REQ_HEAD;
	c->route = route_lookup(0xff, ""); /* the relay row until routed */
	c->status = 0;
	c->resp_final = false;
	c->req_bytes = c->resp_bytes = 0;
	c->note = NULL;
	c->reason[0] = '\0';
	c->started_ms = c->proxy->cfg.audit ? now_ms() : 0;
	return true;
}

/* Framing rules of RFC 9112 that llhttp leaves to us, and what Go's
 * net/http would frame differently (http_check_framing). */
static int check_framing(struct conn *c)
{
	struct http_framing *fr = &c->head.framing;
	const char *why;
	int status;

	fr->major = llhttp_get_http_major(&c->req_parser);
	fr->minor = llhttp_get_http_minor(&c->req_parser);
	fr->connect = c->method == HTTP_CONNECT;
	status = http_check_framing(c->req.buf, c->head.len, fr, &why);
	if (status != 0) {
		conn_refuse(c, status, "%s", why);
		return -1;
	}
	return 0;
}

/* The request target with its query rewritten, or NULL if unchanged. */
static int rewrite_target(struct conn *c, char **target, size_t *target_len)
{
	const char *url = c->req.buf + c->head.url_off;
	size_t qoff = route_query_offset(url, c->head.url_len);
	size_t qlen = qoff < c->head.url_len ? c->head.url_len - qoff - 1 : 0;
	_cleanup_free_ char *query = NULL;
	struct cw_error err = { 0 };
	size_t query_len = 0;
	int rc;

	*target = NULL;
	if (c->route->query == REWRITE_NONE)
		return 0;
	if (c->route->query == REWRITE_PRUNE_QUERY && (c->proxy->cfg.allow & ROUTE_GROUP_PRUNE))
		return 0;
	if (c->head.form_body) {
		conn_refuse(c, 415, "form bodies are not accepted on this endpoint");
		return -1;
	}
	rc = rewrite_query(c->route->query, &c->proxy->cfg.rewrite, url + qoff + 1,
			   qoff < c->head.url_len ? qlen : 0, &query, &query_len, &err);
	if (rc < 0) {
		conn_refuse(c, -rc, "%s", err.msg);
		return -1;
	}
	if (rc == 0)
		return 0;
	*target = xmalloc(qoff + 1 + query_len + 1);
	memcpy(*target, url, qoff);
	(*target)[qoff] = '?';
	memcpy(*target + qoff + 1, query, query_len);
	*target_len = qoff + 1 + query_len;
	return 0;
}

/* Queue heap blocks (taken over; NULL or empty ones skipped) to be written
 * to the daemon before the rest of the request. */
static void inject(struct conn *c, char *mem[3], const size_t len[3])
{
	struct flow *f = &c->req;

	f->ninj = f->inj_at = 0;
	for (int i = 0; i < 3; i++) {
		if (mem[i] == NULL || len[i] == 0) {
			free(mem[i]);
			continue;
		}
		f->inj_mem[f->ninj] = mem[i];
		f->inj[f->ninj++] = (struct iovec){ mem[i], len[i] };
	}
}

static void inject_head(struct conn *c, char *head, size_t len)
{
	inject(c, (char *[3]){ head, NULL, NULL }, (size_t[3]){ len, 0, 0 });
}

/* Volume creates to send ahead of a container create, as one block; their
 * answers are swallowed (an existing volume answers 201 and stays as is). */
static char *volume_preamble(struct conn *c, json_t *volumes, size_t *len)
{
	char *buf = NULL;
	json_t *v;
	size_t i;

	*len = 0;
	json_array_foreach(volumes, i, v)
	{
		_cleanup_free_ char *json = json_dumps(v, JSON_COMPACT);

		if (json == NULL)
			continue;
		http_append_post(&buf, len, "/volumes/create", json);
		c->own_answers++;
	}
	return buf;
}

/* The operator's policy for the route (proxy/route.c): refused routes and
 * BuildKit builds end here with a 403. */
static int request_policy(struct conn *c, uint8_t method, const char *path)
{
	const char *url = c->req.buf + c->head.url_off;
	size_t qoff = route_query_offset(url, c->head.url_len);
	size_t qlen = qoff < c->head.url_len ? c->head.url_len - qoff - 1 : 0;
	char why[384];

	if (route_policy(c->route, method, path, url + qoff + (qlen ? 1 : 0), qlen,
			 c->proxy->cfg.allow, why, sizeof(why)) == 0)
		return 0;
	conn_refuse(c, 403, "%s", why);
	return -1;
}

static void request_forward(struct conn *c);
static void parse_requests_from(struct conn *c, bool kick);
static void finish_callback(struct conn *c);

/* A prune of what carries no owner (build cache) with isolation on: it
 * prunes nothing of others', so nothing, and says so. */
static bool request_prune_nothing(struct conn *c)
{
	static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
				     "Content-Length: 42\r\nConnection: close\r\n\r\n"
				     "{\"CachesDeleted\":null,\"SpaceReclaimed\":0}\n";

	if (!(c->route->flags & ROUTE_PRUNE_NOTHING) || (c->proxy->cfg.allow & ROUTE_GROUP_PRUNE))
		return false;
	if (c->proxy->cfg.isolation_off) {
		conn_refuse(c, 403,
			    "ci-wrap: refused POST /build/prune: it removes build cache, also other "
			    "jobs'; an operator can relay it with --allow prune");
		return true;
	}
	c->status = 200;
	c->note = "answered: nothing of the session's to prune";
	conn_answer_close(c, answer, sizeof(answer) - 1);
	return true;
}

/* A check answered and the request moved on: a client that half-closed
 * before its request was whole gets no further (as client_eof()). */
static void verdict_done(struct conn *c)
{
	if (!c->dead && c->req.src_eof &&
	    (c->state == REQ_HEAD || c->state == REQ_BODY || c->state == REQ_BUFFER))
		conn_close(c);
	finish_callback(c);
}

/* The ownership check answered: refuse, or forward and go on parsing. */
static void on_owner_verdict(void *arg, int status, const char *msg)
{
	struct conn *c = arg;

	c->owner_q = NULL;
	if (status != 0) {
		conn_refuse(c, status, "%s", msg);
	} else {
		c->state = REQ_HEAD;
		request_forward(c);
		if (!c->dead && c->state != REQ_REFUSED)
			parse_requests_from(c, true);
	}
	verdict_done(c);
}

/* Does the request name an object the session may not touch? 0 to go on;
 * 1 when refused or waiting for the answer (REQ_CHECK). */
static int request_owner(struct conn *c, uint8_t method, const char *path)
{
	char decoded[ROUTE_PATH_MAX + 2], msg[512];
	int rc;

	if (c->proxy->cfg.isolation_off)
		return 0;
	filter_begin(c, method, path);
	if (route_decoded_path(c->req.buf + c->head.url_off, c->head.url_len, decoded,
			       sizeof(decoded)) < 0)
		return 0; /* cannot be: the canonical path was made from it */
	rc = owner_check(c->proxy->owner, method, path, decoded, c->route->flags & ROUTE_ALTERS,
			 on_owner_verdict, c, &c->owner_q, msg, sizeof(msg));
	if (rc < 0)
		conn_refuse(c, -rc, "%s", msg);
	else if (rc == 1)
		c->state = REQ_CHECK;
	return rc == 0 ? 0 : 1;
}

/* Route a complete head: refuse it, relay it, or start collecting its body. */
static void request_routed(struct conn *c)
{
	struct flow *f = &c->req;
	char path[ROUTE_PATH_MAX + 2];
	uint8_t method = llhttp_get_method(&c->req_parser);

	c->head.len = f->parsed;
	c->method = method;
	c->req_is_head = method == HTTP_HEAD;
	if (c->proxy->cfg.audit) {
		size_t n = c->head.url_len < sizeof(c->audit_target) - 1 ? c->head.url_len
									 : sizeof(c->audit_target) - 1;

		memcpy(c->audit_target, f->buf + c->head.url_off, n);
		c->audit_target[n] = '\0';
	}
	c->route = route_lookup(0xff, "");
	if (check_framing(c) < 0)
		return;
	if (route_canonical_path(f->buf + c->head.url_off, c->head.url_len, path,
				 sizeof(path)) < 0) {
		conn_refuse(c, c->head.url_len > ROUTE_PATH_MAX ? 414 : 400,
			    "invalid request target");
		return;
	}
	c->route = route_lookup(method, path);
	c->proxy->stats.requests++;
	if (request_policy(c, method, path) < 0 || request_owner(c, method, path) != 0 ||
	    request_prune_nothing(c))
		return;
	request_forward(c);
}

/* A routed request the policy and ownership let through: forward its head,
 * then relay its body or start collecting it. */
static void request_forward(struct conn *c)
{
	struct flow *f = &c->req;
	_cleanup_free_ char *target = NULL;
	size_t target_len = 0;

	if (c->ufd < 0) {
		conn_refuse(c, 502, "cannot connect to the Docker daemon at unix://%s: %s",
			    c->proxy->cfg.upstream_path, strerror(c->upstream_errno));
		return;
	}
	if (rewrite_target(c, &target, &target_len) < 0)
		return;
	c->resp_active = true;
	if (c->route->flags & ROUTE_DRAIN_WAIT)
		c->proxy->stats.create_calls++;
	c->track = track_answer_begin(c->proxy->track, c->route, c->method,
				      f->buf + c->head.url_off, c->head.url_len);
	if (c->route->body != REWRITE_NONE &&
	    (!(c->route->flags & ROUTE_BODY_IF_ANY) || c->req_parser.content_length > 0 ||
	     (c->req_parser.flags & F_CHUNKED))) {
		if (c->head.content_encoded) {
			conn_refuse(c, 415, "cannot label a body with a Content-Encoding");
			return;
		}
		if (c->req_parser.content_length > c->proxy->cfg.rewrite.max_body &&
		    !(c->req_parser.flags & F_CHUNKED)) {
			conn_refuse(c, 413, "request body too large for ci-wrap to label");
			return;
		}
		/* The rewrite needs the head again once the body is in; keep a
		 * copy, the buffer moves on. */
		c->body_head = xmalloc(c->head.len);
		memcpy(c->body_head, f->buf, c->head.len);
		c->body_target = steal_pointer(&target);
		c->body_target_len = target_len;
		/* We hold the body back, so the daemon would never ask for it. */
		if (c->head.expect_continue &&
		    flow_append(&c->resp, "HTTP/1.1 100 Continue\r\n\r\n", 25) < 0) {
			conn_close(c);
			return;
		}
		f->w = f->p = c->head.len;
		c->state = REQ_BUFFER;
		return;
	}
	if (target != NULL) {
		size_t len;
		char *head = http_rebuild_head(f->buf, c->head.len, target, target_len, -1, false,
					       &len);

		inject_head(c, head, len);
		f->w = f->p = c->head.len;
		c->note = "rewritten";
	} else {
		f->p = c->head.len;
	}
	c->state = REQ_BODY;
}

static void request_held_forward(struct conn *c);
static void request_forwarded(struct conn *c);

/* The objects the body names are checked: forward it, or refuse. */
static void on_refs_verdict(void *arg, int status, const char *msg)
{
	struct conn *c = arg;

	c->owner_refs = NULL;
	if (status != 0) {
		conn_refuse(c, status, "%s", msg);
	} else {
		request_held_forward(c);
		request_forwarded(c);
	}
	verdict_done(c);
}

/* The objects a rewritten body names, to check (NULL: none, or isolation
 * is off). */
static json_t *body_refs(const struct proxy *p, enum rewrite_kind kind, const char *body,
			 size_t len)
{
	return p->cfg.isolation_off ? NULL : refs_of_body(kind, body, len);
}

/* Does the rewritten body name objects (refs) the session may not use? 0 to
 * go on, 1 when refused or waiting (REQ_CHECK, the request held). */
static int request_refs(struct conn *c, json_t *refs)
{
	char msg[512];
	int rc;

	if (refs == NULL)
		return 0;
	rc = owner_check_refs(c->proxy->owner, refs, on_refs_verdict, c, &c->owner_refs, msg,
			      sizeof(msg));
	if (rc < 0)
		conn_refuse(c, -rc, "%s", msg);
	else if (rc == 1)
		c->state = REQ_CHECK;
	return rc == 0 ? 0 : 1;
}

/* Queue the held request (volume creates, head, body) for the daemon. */
static void request_held_forward(struct conn *c)
{
	bool pre = c->held_mem[0] != NULL;

	inject(c, c->held_mem, c->held_len);
	memset(c->held_mem, 0, sizeof(c->held_mem));
	c->note = pre ? "rewritten, its named volumes created labelled" : "rewritten";
}

static void held_free(struct conn *c)
{
	for (size_t i = 0; i < ARRAY_SIZE(c->held_mem); i++)
		free(c->held_mem[i]);
	memset(c->held_mem, 0, sizeof(c->held_mem));
}

/* Forward a rewritten request (the volume creates first) once the objects
 * it names are known to be usable, or refuse it. */
static void rewrite_forward(struct conn *c, int rc, char *body, size_t body_len,
			    json_t *volumes, json_t *refs, const struct cw_error *err)
{
	if (rc < 0) {
		free(body);
		conn_refuse(c, -rc, "%s", err->msg);
		return;
	}
	held_free(c);
	if (volumes != NULL)
		c->held_mem[0] = volume_preamble(c, volumes, &c->held_len[0]);
	c->held_mem[1] = http_rebuild_head(c->body_head, c->head.len, c->body_target,
					   c->body_target_len, (long long)body_len,
					   c->head.expect_continue, &c->held_len[1]);
	c->held_mem[2] = body;
	c->held_len[2] = body_len;
	if (request_refs(c, refs) == 0)
		request_held_forward(c);
}

/* A body to rewrite is complete: rewrite it here and forward it. */
static void request_rewrite(struct conn *c)
{
	struct cw_error err = { 0 };
	json_auto_t *volumes = NULL;
	char *body = NULL;
	size_t body_len = 0;
	int rc = rewrite_body(c->route->body, &c->proxy->cfg.rewrite, c->body, c->body_len, &body,
			      &body_len, &volumes, &err);

	json_auto_t *refs = rc == 0 ? body_refs(c->proxy, c->route->body, body, body_len) : NULL;

	body_free(c);
	rewrite_forward(c, rc, body, body_len, volumes, refs, &err);
}

/* A big body's rewrite on the worker thread. What run() reads is the job's
 * own: the spec is copied (the cgroup parent may change under the loop),
 * the body taken over; the part of the body budget it holds is given back
 * when the job is freed, on the loop thread. */
struct rewrite_job {
	struct worker_job job;	  /* first: what the pool sees */
	struct conn *c;		  /* whose request it is (loop thread only) */
	struct proxy *proxy;	  /* whose body budget it holds (loop thread only) */
	enum rewrite_kind kind;	  /* the route's body rewrite */
	struct rewrite_spec spec; /* a copy of the proxy's */
	char *parent;		  /* owns spec.cgroup_parent */
	struct sockmount sockets; /* spec.sockets points here when set */
	char *stand_in;		  /* owns sockets.stand_in */
	char *in;		  /* the body as the client sent it */
	size_t in_len;		  /* its length */
	size_t budget;		  /* bytes of the proxy's body budget it holds */
	int rc;			  /* rewrite_body()'s result */
	char *out;		  /* the rewritten body */
	size_t out_len;		  /* its length */
	json_t *volumes;	  /* volume creates to send first, or NULL */
	bool want_refs;		  /* isolation: read what the body names */
	json_t *refs;		  /* what it names (proxy/refs.h), or NULL */
	struct cw_error err;	  /* why it was refused */
};

static void rewrite_job_free(struct rewrite_job *j)
{
	j->proxy->body_bytes -= j->budget;
	free(j->in);
	free(j->out);
	json_decref(j->volumes);
	json_decref(j->refs);
	json_decref(j->spec.labels);
	free(j->parent);
	free(j->stand_in);
	free(j);
}

static void rewrite_job_run(struct worker_job *job)
{
	struct rewrite_job *j = (struct rewrite_job *)job;

	j->rc = rewrite_body(j->kind, &j->spec, j->in, j->in_len, &j->out, &j->out_len,
			     &j->volumes, &j->err);
	free(steal_pointer(&j->in)); /* tens of MiB, not needed any more */
	if (j->rc == 0 && j->want_refs)
		j->refs = refs_of_body(j->kind, j->out, j->out_len);
}

static void rewrite_job_drop(struct worker_job *job)
{
	rewrite_job_free((struct rewrite_job *)job);
}

static void request_forwarded(struct conn *c);

static void rewrite_job_done(struct worker_job *job)
{
	struct rewrite_job *j = (struct rewrite_job *)job;
	struct conn *c = j->c;

	c->rewrite_job = NULL;
	rewrite_forward(c, j->rc, steal_pointer(&j->out), j->out_len, j->volumes, j->refs, &j->err);
	rewrite_job_free(j);
	if (c->state != REQ_REFUSED && c->state != REQ_CHECK && !c->dead)
		request_forwarded(c);
	finish_callback(c); /* not called from one of c's watchers: settle here */
}

static struct rewrite_job *rewrite_job_new(struct conn *c)
{
	const struct rewrite_spec *spec = &c->proxy->cfg.rewrite;
	struct rewrite_job *j = xcalloc(1, sizeof(*j));

	j->job.run = rewrite_job_run;
	j->job.done = rewrite_job_done;
	j->job.drop = rewrite_job_drop;
	j->c = c;
	j->proxy = c->proxy;
	j->kind = c->route->body;
	j->want_refs = !c->proxy->cfg.isolation_off;
	j->spec = *spec;
	j->spec.labels = json_deep_copy(spec->labels);
	j->parent = spec->cgroup_parent ? xstrdup(spec->cgroup_parent) : NULL;
	j->spec.cgroup_parent = j->parent;
	if (spec->sockets != NULL) {
		j->sockets = *spec->sockets;
		j->stand_in = xstrdup(spec->sockets->stand_in);
		j->sockets.stand_in = j->stand_in;
		j->spec.sockets = &j->sockets;
	}
	j->in = steal_pointer(&c->body);
	j->in_len = c->body_len;
	j->budget = c->body_cap;
	c->body_len = c->body_cap = 0;
	return j;
}

/* Hand a big body to the worker. The request waits in REQ_DONE, its answer
 * due, until rewrite_job_done(). Returns -1 (the body back in c) if no
 * thread could take it. */
static int request_rewrite_async(struct conn *c)
{
	struct rewrite_job *j = rewrite_job_new(c);

	if (worker_submit(c->proxy->workers, &j->job) < 0) {
		c->body = steal_pointer(&j->in);
		c->body_len = j->in_len;
		c->body_cap = j->budget;
		j->budget = 0;
		rewrite_job_free(j);
		return -1;
	}
	c->rewrite_job = &j->job;
	c->state = REQ_DONE;
	return 0;
}

static void request_cycle_end(struct conn *c)
{
	track_end(c);
	filter_reset(c);
	proxy_audit(c->proxy, c);
	free(c->body_head);
	free(c->body_target);
	c->body_head = c->body_target = NULL;
	if (c->req_upgrade) {
		llhttp_resume_after_upgrade(&c->req_parser);
		c->req_upgrade = false;
	}
	c->state = REQ_IDLE;
}

/* The request is all with the daemon (or queued for it). */
static void request_forwarded(struct conn *c)
{
	c->state = REQ_DONE;
	if (!c->resp_active)
		request_cycle_end(c);
}

static void request_complete(struct conn *c)
{
	if (c->state == REQ_BUFFER && c->body_len > PROXY_REWRITE_INLINE_MAX &&
	    request_rewrite_async(c) == 0)
		return;
	if (c->state == REQ_BUFFER) {
		request_rewrite(c);
		if (c->state == REQ_REFUSED || c->state == REQ_CHECK || c->dead)
			return;
	}
	request_forwarded(c);
}

static void response_complete(struct conn *c)
{
	c->resp_active = false;
	if (c->status >= 200 && c->status < 300 && c->route->creates != RESOURCE_NONE)
		c->proxy->stats.created[c->route->creates]++;
	if (!llhttp_should_keep_alive(&c->resp_parser))
		c->close_after = true;
	if (c->state == REQ_DONE && c->rewrite_job == NULL)
		request_cycle_end(c);
}

/* The daemon switched protocols: from here on bytes flow unparsed. */
static void conn_go_raw(struct conn *c)
{
	c->raw = true;
	c->raw_pending = false;
	c->resp_active = false;
	c->req.p = c->req.parsed = c->req.r;
	c->resp.p = c->resp.parsed = c->resp.r;
	c->note = "hijacked";
	proxy_audit(c->proxy, c);
}

static void parse_requests(struct conn *c)
{
	parse_requests_from(c, false);
}

/* kick: llhttp must run once more with no bytes (a head was just routed). */
static void parse_requests_from(struct conn *c, bool kick)
{
	struct flow *f = &c->req;

	while (!c->dead && !c->raw) {
		enum llhttp_errno e;
		size_t end;

		if (c->state == REQ_IDLE && !request_start(c))
			return;
		if (c->state == REQ_DONE || c->state == REQ_REFUSED || c->state == REQ_CHECK)
			return;
		if (f->parsed == f->r && !kick) {
			if (c->state == REQ_HEAD && f->r == FLOW_BUF_SIZE)
				conn_refuse(c, 431, "request head too large");
			return;
		}
		kick = false;
		c->event = PAUSE_NONE;
		e = llhttp_execute(&c->req_parser, f->buf + f->parsed, f->r - f->parsed);
		end = e == HPE_OK ? f->r : (size_t)(llhttp_get_error_pos(&c->req_parser) - f->buf);
		c->req_bytes += end - f->parsed;
		f->parsed = end;
		if (c->state == REQ_BODY)
			f->p = end;
		else if (c->state == REQ_BUFFER)
			f->w = f->p = end;
		if (e == HPE_PAUSED && c->event == PAUSE_HEADERS) {
			llhttp_resume(&c->req_parser);
			request_routed(c);
			kick = true;
		} else if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
			if (e == HPE_PAUSED)
				llhttp_resume(&c->req_parser);
			else
				c->req_upgrade = true;
			request_complete(c);
		} else if (e != HPE_OK) {
			conn_refuse(c, status_for_parse_error(c, e), "malformed request: %s",
				    llhttp_get_error_reason(&c->req_parser));
			return;
		}
	}
}

/* Remove the parsed bytes [from, parsed) of an answer to our own request:
 * the client never sees them. */
static void flow_cut(struct flow *f, size_t from)
{
	memmove(f->buf + from, f->buf + f->parsed, f->r - f->parsed);
	f->r -= f->parsed - from;
	f->parsed = from;
}

static void own_answer_complete(struct conn *c)
{
	if (c->status >= 300)
		cw_debug("proxy: the daemon refused a volume create ci-wrap sent: HTTP %d",
			c->status);
	c->own_answers--;
	c->resp_final = false;
}

/* The answer is parsed up to end: release those bytes, or hold or drop
 * them for a filter. */
static void answer_parsed(struct conn *c, size_t end)
{
	struct flow *f = &c->resp;
	enum filter_hold hold = filter_hold(c);

	f->parsed = end;
	if (hold == FILTER_CUT) {
		flow_cut(f, f->p);
		filter_to_flow(c);
	} else if (hold == FILTER_RELAY) {
		f->p = end;
	}
}

static void parse_responses(struct conn *c)
{
	struct flow *f = &c->resp;

	while (!c->dead && !c->raw && !c->filter.paused && f->parsed < f->r) {
		enum llhttp_errno e;
		size_t end, from = f->parsed;

		if (!c->resp_active) {
			cw_debug("proxy: the daemon sent bytes nobody asked for; closing");
			conn_close(c);
			return;
		}
		c->event = PAUSE_NONE;
		e = llhttp_execute(&c->resp_parser, f->buf + f->parsed, f->r - f->parsed);
		end = e == HPE_OK ? f->r : (size_t)(llhttp_get_error_pos(&c->resp_parser) - f->buf);
		if (c->own_answers > 0 && (e == HPE_OK || e == HPE_PAUSED)) {
			f->parsed = end;
			flow_cut(f, from);
			if (e == HPE_PAUSED) {
				llhttp_resume(&c->resp_parser);
				own_answer_complete(c);
			}
			continue;
		}
		c->resp_bytes += end - f->parsed;
		answer_parsed(c, end);
		if (e == HPE_PAUSED && c->event == PAUSE_FILTER) {
			return; /* conn_filter_continue() parses on */
		} else if (e == HPE_PAUSED) {
			llhttp_resume(&c->resp_parser);
			filter_end(c);
			filter_to_flow(c);
			response_complete(c);
			parse_requests(c);
		} else if (e == HPE_PAUSED_UPGRADE) {
			conn_go_raw(c);
		} else if (e != HPE_OK) {
			cw_debug("proxy: bad answer from the daemon: %s",
				 llhttp_get_error_reason(&c->resp_parser));
			conn_close(c);
		}
	}
}

void conn_filter_continue(struct conn *c)
{
	if (!c->dead && !c->filter.paused) {
		llhttp_resume(&c->resp_parser);
		parse_responses(c);
	}
	if (!c->dead)
		filter_to_flow(c);
	finish_callback(c);
}

/* ---- end of streams ------------------------------------------------------- */

static void client_eof(struct conn *c)
{
	c->req.src_eof = true;
	if (c->raw)
		return;
	switch (c->state) {
	case REQ_IDLE:
	case REQ_DONE:
	case REQ_REFUSED:
	case REQ_CHECK: /* verdict_done() sees whether the request was whole */
		/* A client that half-closes while an answer is due still gets
		 * it; the daemon learns of the EOF below, as Go's server
		 * watches for it to cancel streaming requests. */
		c->close_after = true;
		break;
	default:
		conn_close(c); /* a truncated request goes no further */
		break;
	}
}

static void upstream_eof(struct conn *c)
{
	c->resp.src_eof = true;
	if (c->raw)
		return;
	if (c->filter.paused) {
		conn_close(c); /* an event held for a check: the stream ends here */
		return;
	}
	if (c->resp_active && llhttp_finish(&c->resp_parser) == HPE_PAUSED) {
		/* An answer that ends at EOF (HTTP/1.0) is complete only now. */
		llhttp_resume(&c->resp_parser);
		filter_end(c);
		filter_to_flow(c);
		response_complete(c);
	}
	c->close_after = true;
	c->resp_active = false;
}

/* ---- watchers --------------------------------------------------------------- */

static void watch(struct conn *c, ev_io *w, bool on)
{
	if (on && !ev_is_active(w))
		ev_io_start(c->proxy->loop, w);
	else if (!on && ev_is_active(w))
		ev_io_stop(c->proxy->loop, w);
}

static void conn_arm(struct conn *c)
{
	bool up = c->ufd >= 0;

	watch(c, &c->c_read,
	      !c->req.src_eof && (c->state != REQ_REFUSED || c->lingering) &&
		      flow_space(&c->req) > 0);
	watch(c, &c->c_write, resp_pending(c));
	if (up) {
		watch(c, &c->u_read,
		      !c->resp.src_eof && flow_space(&c->resp) > 0 && !filter_backlogged(c));
		watch(c, &c->u_write, flow_pending(&c->req));
	}
}

static void shut_write(int fd, struct flow *f)
{
	if (!f->dst_shut && fd >= 0)
		shutdown(fd, SHUT_WR);
	f->dst_shut = true;
}

/* Flush both ways, propagate EOFs, close when done, re-arm watchers. */
static void conn_settle(struct conn *c)
{
	bool req_idle, resp_idle;

	if (c->dead)
		return;
	if ((c->ufd >= 0 && flow_flush(&c->req, c->ufd) < 0) || flush_resp(c) < 0) {
		conn_close(c);
		return;
	}
	/* A pipelined request waits until the answer before it is written
	 * out; now that it may be, parse it. */
	if (!c->raw && c->state == REQ_IDLE && c->req.parsed < c->req.r &&
	    !resp_pending(c)) {
		parse_requests(c);
		if (c->dead)
			return;
		if ((c->ufd >= 0 && flow_flush(&c->req, c->ufd) < 0) || flush_resp(c) < 0) {
			conn_close(c);
			return;
		}
	}
	req_idle = !flow_pending(&c->req);
	resp_idle = !resp_pending(c);
	if (c->raw) {
		if (c->req.src_eof && req_idle)
			shut_write(c->ufd, &c->req);
		if (c->resp.src_eof && resp_idle)
			shut_write(c->cfd, &c->resp);
		if (c->req.dst_shut && c->resp.dst_shut) {
			conn_close(c);
			return;
		}
	} else {
		/* Not while a rewrite is out: its request is still to go. */
		if (c->req.src_eof && req_idle && c->state == REQ_DONE && c->rewrite_job == NULL)
			shut_write(c->ufd, &c->req);
		if (c->state == REQ_REFUSED && resp_idle && !c->lingering) {
			shut_write(c->cfd, &c->resp);
			c->lingering = true;
		}
		if (c->lingering && !c->req.src_eof && c->discarded < LINGER_MAX) {
			conn_arm(c);
			return;
		}
		if (c->close_after && !c->resp_active && resp_idle && c->state != REQ_BODY &&
		    c->state != REQ_BUFFER && c->state != REQ_CHECK) {
			conn_close(c);
			return;
		}
	}
	conn_arm(c);
}

/* ---- callbacks ------------------------------------------------------------- */

static void on_readable(struct conn *c, struct flow *f, int fd, bool client)
{
	ssize_t n = flow_read(f, fd);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		conn_close(c);
		return;
	}
	if (n == 0) {
		if (client)
			client_eof(c);
		else
			upstream_eof(c);
		return;
	}
	if (c->raw) {
		f->p = f->parsed = f->r;
		return;
	}
	if (client && c->lingering) {
		c->discarded += (size_t)n;
		f->w = f->p = f->parsed = f->r = 0;
		return;
	}
	if (client)
		parse_requests(c);
	else
		parse_responses(c);
}

static void finish_callback(struct conn *c)
{
	conn_settle(c);
	if (c->dead)
		conn_free(c);
}

static void on_client_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = w->data;

	(void)loop;
	(void)revents;
	on_readable(c, &c->req, c->cfd, true);
	finish_callback(c);
}

static void on_upstream_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = w->data;

	(void)loop;
	(void)revents;
	on_readable(c, &c->resp, c->ufd, false);
	finish_callback(c);
}

static void on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = w->data;

	(void)loop;
	(void)revents;
	finish_callback(c);
}

/* ---- lifetime -------------------------------------------------------------- */

static int connect_upstream(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* A UNIX connect either completes or fails at once (EAGAIN only when
	 * the daemon's backlog is full): no EINPROGRESS to wait for. */
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

struct conn *conn_new(struct proxy *p, int cfd)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	c->proxy = p;
	c->cfd = cfd;
	c->ufd = connect_upstream(p->cfg.upstream_path);
	c->upstream_errno = c->ufd < 0 ? errno : 0;
	c->req.buf = proxy_buf_get(p);
	c->resp.buf = proxy_buf_get(p);
	c->route = route_lookup(0xff, "");
	llhttp_init(&c->req_parser, HTTP_REQUEST, &req_settings);
	llhttp_init(&c->resp_parser, HTTP_RESPONSE, &resp_settings);
	c->req_parser.data = c->resp_parser.data = c;
	ev_io_init(&c->c_read, on_client_read, cfd, EV_READ);
	ev_io_init(&c->c_write, on_writable, cfd, EV_WRITE);
	c->c_read.data = c->c_write.data = c;
	if (c->ufd >= 0) {
		ev_io_init(&c->u_read, on_upstream_read, c->ufd, EV_READ);
		ev_io_init(&c->u_write, on_writable, c->ufd, EV_WRITE);
		c->u_read.data = c->u_write.data = c;
	}
	conn_arm(c);
	return c;
}

static void conn_close(struct conn *c)
{
	struct ev_loop *loop = c->proxy->loop;

	if (c->dead)
		return;
	c->dead = true;
	ev_io_stop(loop, &c->c_read);
	ev_io_stop(loop, &c->c_write);
	close(c->cfd);
	if (c->ufd >= 0) {
		ev_io_stop(loop, &c->u_read);
		ev_io_stop(loop, &c->u_write);
		close(c->ufd);
		c->ufd = -1;
	}
}

void conn_free(struct conn *c)
{
	conn_close(c);
	if (c->rewrite_job != NULL)
		worker_detach(c->rewrite_job); /* its result is dropped, not delivered */
	body_free(c);
	free(c->body_head);
	free(c->body_target);
	track_end(c);
	owner_cancel(c->owner_q);
	owner_refs_cancel(c->owner_refs);
	held_free(c);
	filter_free(c);
	flow_drop_injection(&c->req);
	flow_drop_injection(&c->resp);
	proxy_buf_put(c->proxy, c->req.buf, c->req.peak);
	proxy_buf_put(c->proxy, c->resp.buf, c->resp.peak);
	proxy_conn_closed(c->proxy, c);
	free(c);
}

/* Teardown begins: nothing new may reach the daemon. Requests that may
 * create something are let finish; everything else is cut now. */
void conn_drain(struct conn *c)
{
	bool idle = c->state == REQ_IDLE && !c->resp_active;
	bool may_create = c->route->flags & ROUTE_DRAIN_WAIT;

	if (idle || c->raw || !may_create || c->state == REQ_HEAD) {
		conn_close(c);
		conn_free(c);
		return;
	}
	c->close_after = true;
}
