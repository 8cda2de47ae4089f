/* relay.c - one client connection relayed to one daemon connection.
 *
 * Requests are parsed with llhttp and handled one at a time: when a head is
 * complete the handlers (relay.h: request.c, body.c) route it, and it is
 * relayed (or collected and rewritten); the next one is parsed only once
 * the daemon has answered this one.
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
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "filter.h"
#include "http.h"
#include "relay.h"
#include "route.h"

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

/* A body to rewrite is collected (body.c), within its own limit and the
 * proxy's budget. */
static int on_req_body(llhttp_t *parser, const char *at, size_t n)
{
	struct conn *c = parser->data;
	int status;

	if (c->state == REQ_BODY && c->buildctx != NULL)
		request_on_body(c, at, n);
	if (c->state != REQ_BUFFER)
		return 0;
	status = body_collect(c, at, n);
	if (status == 0)
		return 0;
	c->event = status == 413 ? PAUSE_TOO_LARGE : PAUSE_BUSY;
	return HPE_USER;
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

static bool resp_due(const struct conn *c)
{
	return c->resp_state == RESP_DUE || c->resp_state == RESP_FINAL ||
	       c->resp_state == RESP_TO_RAW;
}

static int on_resp_headers_complete(llhttp_t *parser)
{
	struct conn *c = parser->data;
	int status = llhttp_get_status_code(parser);

	c->status = status;
	if (status >= 100 && status < 200 && status != 101)
		return 0; /* interim: llhttp knows it has no body */
	c->resp_state = RESP_FINAL;
	if (c->own_answers == 0)
		answer_on_head(c, status);
	if (status == 101) {
		c->resp_state = RESP_TO_RAW;
		return 2; /* no body; llhttp returns HPE_PAUSED_UPGRADE */
	}
	if (c->method == HTTP_HEAD)
		return 1;
	/* attach and exec without Upgrade: the daemon hijacks the connection
	 * and writes a bare 200 head, then the raw stream until it closes. */
	if (status == 200 && (c->route->flags & ROUTE_HIJACK) &&
	    !(parser->flags & (F_CHUNKED | F_CONTENT_LENGTH))) {
		c->resp_state = RESP_TO_RAW;
		return 2;
	}
	return 0;
}

/* Body bytes of an answer (chunked framing already taken off). */
static int on_resp_body(llhttp_t *parser, const char *at, size_t n)
{
	struct conn *c = parser->data;

	if (c->own_answers == 0 && answer_on_body(c, at, n)) {
		c->event = PAUSE_FILTER;
		return HPE_PAUSED;
	}
	return 0;
}

static int on_resp_message_complete(llhttp_t *parser)
{
	struct conn *c = parser->data;

	if (c->resp_state != RESP_FINAL)
		return 0; /* interim, or going raw */
	c->event = PAUSE_MESSAGE;
	return HPE_PAUSED;
}

static const llhttp_settings_t resp_settings = {
	.on_headers_complete = on_resp_headers_complete,
	.on_body = on_resp_body,
	.on_message_complete = on_resp_message_complete,
};

/* ---- answers of our own ---------------------------------------------------- */

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

void relay_refuse(struct conn *c, int status, const char *fmt, ...)
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
	relay_answer_close(c, answer, len);
}

/* The framing of whatever follows on the connection is no longer known,
 * so it closes once the answer is out. */
void relay_answer_close(struct conn *c, const char *answer, size_t len)
{
	/* Mid-answer, or after it, there is no place for ours. */
	bool answered = c->resp_state != RESP_NONE && c->resp_state != RESP_DUE;

	proxy_audit(c->proxy, c);
	request_free(c);
	c->state = REQ_REFUSED;
	conn_close_after(c);
	c->resp_state = RESP_DONE;
	if (c->ufd >= 0) {
		ev_io_stop(c->proxy->loop, &c->u_read);
		ev_io_stop(c->proxy->loop, &c->u_write);
		close(c->ufd);
		c->ufd = -1;
	}
	flow_drop_injection(&c->req);
	if (answered || flow_append(&c->resp, answer, len) < 0)
		conn_close(c);
}

int relay_interim(struct conn *c, const char *answer, size_t len)
{
	return flow_append(&c->resp, answer, len);
}

/* ---- the request's way through ----------------------------------------------- */

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

	if (f->parsed == f->r || resp_due(c) || flow_pending(f) || resp_pending(c))
		return false;
	if (c->proxy->draining) {
		conn_close(c);
		return false;
	}
	flow_compact(f);
	memset(&c->head, 0, sizeof(c->head));
	c->state = REQ_HEAD;
	c->resp_state = RESP_NONE;
	c->route = route_lookup(0xff, ""); /* the relay row until routed */
	c->status = 0;
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
		relay_refuse(c, status, "%s", why);
		return -1;
	}
	return 0;
}

/* A head is complete: frame-check it and hand it to the handlers. */
static void head_complete(struct conn *c)
{
	c->head.len = c->req.parsed;
	c->method = llhttp_get_method(&c->req_parser);
	if (check_framing(c) == 0)
		request_on_head(c);
}

void relay_head_pass(struct conn *c)
{
	c->req.p = c->head.len;
	c->resp_state = RESP_DUE;
	c->state = REQ_BODY;
}

void relay_inject(struct conn *c, char *mem[3], const size_t len[3])
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

void relay_head_replace(struct conn *c, char *head, size_t len)
{
	relay_inject(c, (char *[3]){ head, NULL, NULL }, (size_t[3]){ len, 0, 0 });
	c->req.w = c->req.p = c->head.len;
	c->resp_state = RESP_DUE;
	c->state = REQ_BODY;
}

void relay_head_hold(struct conn *c)
{
	c->req.w = c->req.p = c->head.len;
	c->resp_state = RESP_DUE;
	c->state = REQ_BUFFER;
}

/* The request and its answer are done with: the next may begin. */
static void cycle_end(struct conn *c)
{
	request_cycle_end(c);
	proxy_audit(c->proxy, c);
	c->state = REQ_IDLE;
}

void relay_forwarded(struct conn *c)
{
	c->state = REQ_DONE;
	if (c->resp_state == RESP_DONE)
		cycle_end(c); /* the daemon answered before the request was whole */
}

static void response_complete(struct conn *c)
{
	c->resp_state = RESP_DONE;
	if (!llhttp_should_keep_alive(&c->resp_parser))
		conn_close_after(c);
	if (c->state == REQ_DONE)
		cycle_end(c);
}

/* The daemon switched protocols: from here on bytes flow unparsed. */
static void conn_go_raw(struct conn *c)
{
	c->resp_state = RESP_RAW;
	c->req.p = c->req.parsed = c->req.r;
	c->resp.p = c->resp.parsed = c->resp.r;
	c->note = "hijacked";
	proxy_audit(c->proxy, c);
}

/* A body a handler reads as it passes keeps its last bytes back until the
 * handler's steps release them: the daemon acts on none of it before. */
static bool tail_held(const struct conn *c, enum llhttp_errno e)
{
	return c->buildctx != NULL && e == HPE_PAUSED && c->event == PAUSE_MESSAGE;
}

void relay_release_tail(struct conn *c)
{
	c->req.p = c->req.parsed;
}

/* kick: llhttp must run once more with no bytes (a head was just routed). */
static void parse_requests_from(struct conn *c, bool kick)
{
	struct flow *f = &c->req;

	while (!conn_dead(c) && c->resp_state != RESP_RAW) {
		enum llhttp_errno e;
		size_t end;

		if (c->state == REQ_IDLE && !request_start(c))
			return;
		if (c->state == REQ_DONE || c->state == REQ_REFUSED || c->state == REQ_CHECK)
			return;
		if (f->parsed == f->r && !kick) {
			if (c->state == REQ_HEAD && f->r == FLOW_BUF_SIZE)
				relay_refuse(c, 431, "request head too large");
			return;
		}
		kick = false;
		c->event = PAUSE_NONE;
		e = llhttp_execute(&c->req_parser, f->buf + f->parsed, f->r - f->parsed);
		end = e == HPE_OK ? f->r : (size_t)(llhttp_get_error_pos(&c->req_parser) - f->buf);
		c->req_bytes += end - f->parsed;
		f->parsed = end;
		if (c->state == REQ_BODY && !tail_held(c, e))
			f->p = end;
		else if (c->state == REQ_BUFFER)
			f->w = f->p = end;
		if (e == HPE_PAUSED && c->event == PAUSE_HEADERS) {
			llhttp_resume(&c->req_parser);
			head_complete(c);
			kick = true;
		} else if (e == HPE_PAUSED) {
			llhttp_resume(&c->req_parser);
			request_on_complete(c);
		} else if (e == HPE_PAUSED_UPGRADE) {
			/* After an Upgrade request's end (handled above), llhttp
			 * stops once more; the daemon did not switch (or it
			 * would be raw now), so parse on as HTTP. */
			llhttp_resume_after_upgrade(&c->req_parser);
		} else if (e != HPE_OK) {
			relay_refuse(c, status_for_parse_error(c, e), "malformed request: %s",
				     llhttp_get_error_reason(&c->req_parser));
			return;
		}
	}
}

static void parse_requests(struct conn *c)
{
	parse_requests_from(c, false);
}

void relay_resumed(struct conn *c)
{
	if (!conn_dead(c) && c->state != REQ_REFUSED && c->state != REQ_CHECK)
		parse_requests_from(c, true);
	/* A client that half-closed before its request was whole gets no
	 * further (as client_eof()). */
	if (!conn_dead(c) && c->req.src_eof &&
	    (c->state == REQ_HEAD || c->state == REQ_BODY || c->state == REQ_BUFFER))
		conn_close(c);
	finish_callback(c); /* not called from one of c's watchers: settle here */
}

/* ---- the answer's way through ------------------------------------------------ */

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
	c->resp_state = RESP_DUE;
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

/* The answer is whole (or ended with the daemon's EOF). */
static void answer_complete(struct conn *c)
{
	llhttp_resume(&c->resp_parser);
	answer_on_done(c);
	filter_to_flow(c);
	response_complete(c);
}

static void parse_responses(struct conn *c)
{
	struct flow *f = &c->resp;

	while (!conn_dead(c) && c->resp_state != RESP_RAW && !c->filter.paused &&
	       f->parsed < f->r) {
		enum llhttp_errno e;
		size_t end, from = f->parsed;

		if (!resp_due(c)) {
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
			answer_complete(c);
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
	if (!conn_dead(c) && !c->filter.paused) {
		llhttp_resume(&c->resp_parser);
		parse_responses(c);
	}
	if (!conn_dead(c))
		filter_to_flow(c);
	finish_callback(c);
}

/* ---- end of streams ------------------------------------------------------- */

static void client_eof(struct conn *c)
{
	c->req.src_eof = true;
	if (c->resp_state == RESP_RAW)
		return;
	switch (c->state) {
	case REQ_IDLE:
	case REQ_DONE:
	case REQ_REFUSED:
	case REQ_CHECK: /* verdict_done() sees whether the request was whole */
		/* A client that half-closes while an answer is due still gets
		 * it; the daemon learns of the EOF below, as Go's server
		 * watches for it to cancel streaming requests. */
		conn_close_after(c);
		break;
	default:
		conn_close(c); /* a truncated request goes no further */
		break;
	}
}

static void upstream_eof(struct conn *c)
{
	c->resp.src_eof = true;
	if (c->resp_state == RESP_RAW)
		return;
	if (c->filter.paused) {
		conn_close(c); /* an event held for a check: the stream ends here */
		return;
	}
	/* An answer that ends at EOF (HTTP/1.0) is complete only now. */
	if (resp_due(c) && llhttp_finish(&c->resp_parser) == HPE_PAUSED)
		answer_complete(c);
	conn_close_after(c);
	if (resp_due(c))
		c->resp_state = RESP_DONE; /* cut off: nothing more comes */
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
	      !c->req.src_eof && (c->state != REQ_REFUSED || c->end == END_LINGER) &&
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

/* Flush both ways; false if the connection broke. */
static bool flush_both(struct conn *c)
{
	if ((c->ufd >= 0 && flow_flush(&c->req, c->ufd) < 0) || flush_resp(c) < 0) {
		conn_close(c);
		return false;
	}
	return true;
}

/* A hijacked stream: each EOF goes through once its bytes are out; both
 * gone, the connection closes. */
static void settle_raw(struct conn *c)
{
	if (c->req.src_eof && !flow_pending(&c->req))
		shut_write(c->ufd, &c->req);
	if (c->resp.src_eof && !resp_pending(c))
		shut_write(c->cfd, &c->resp);
	if (c->req.dst_shut && c->resp.dst_shut)
		conn_close(c);
}

/* HTTP: the client's EOF goes to the daemon once the request is all out;
 * a refused connection lingers, then closes when its answer is out. */
static void settle_http(struct conn *c)
{
	bool resp_idle = !resp_pending(c);

	if (c->req.src_eof && !flow_pending(&c->req) && c->state == REQ_DONE)
		shut_write(c->ufd, &c->req);
	if (c->state == REQ_REFUSED && resp_idle && c->end < END_LINGER) {
		shut_write(c->cfd, &c->resp);
		c->end = END_LINGER;
	}
	if (c->end == END_LINGER && !c->req.src_eof && c->discarded < LINGER_MAX)
		return;
	if (c->end >= END_AFTER_ANSWER && !resp_due(c) && resp_idle && c->state != REQ_BODY &&
	    c->state != REQ_BUFFER && c->state != REQ_CHECK)
		conn_close(c);
}

/* Flush both ways, propagate EOFs, close when done, re-arm watchers. */
static void conn_settle(struct conn *c)
{
	if (conn_dead(c) || !flush_both(c))
		return;
	/* A pipelined request waits until the answer before it is written
	 * out; now that it may be, parse it. */
	if (c->resp_state != RESP_RAW && c->state == REQ_IDLE && c->req.parsed < c->req.r &&
	    !resp_pending(c)) {
		parse_requests(c);
		if (conn_dead(c) || !flush_both(c))
			return;
	}
	if (c->resp_state == RESP_RAW)
		settle_raw(c);
	else
		settle_http(c);
	if (!conn_dead(c))
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
	if (c->resp_state == RESP_RAW) {
		f->p = f->parsed = f->r;
		return;
	}
	if (client && c->end == END_LINGER) {
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
	if (conn_dead(c))
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

struct conn *conn_new(struct proxy *p, int cfd)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	c->proxy = p;
	c->cfd = cfd;
	c->ufd = unix_connect(p->cfg.upstream_path, true);
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

	if (conn_dead(c))
		return;
	c->end = END_DEAD;
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

void conn_close_after(struct conn *c)
{
	if (c->end < END_AFTER_ANSWER)
		c->end = END_AFTER_ANSWER;
}

void conn_free(struct conn *c)
{
	conn_close(c);
	request_free(c);
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
	bool idle = c->state == REQ_IDLE && !resp_due(c);
	bool may_create = c->route->flags & ROUTE_DRAIN_WAIT;

	if (idle || c->resp_state == RESP_RAW || !may_create || c->state == REQ_HEAD) {
		conn_close(c);
		conn_free(c);
		return;
	}
	conn_close_after(c);
}
