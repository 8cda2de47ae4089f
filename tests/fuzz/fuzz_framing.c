/* fuzz_framing.c - libFuzzer target, differential: how llhttp frames a
 * client's byte stream as the proxy runs it (strict mode, paused at each
 * head and message end as proxy/relay.c parse_requests_from() does, each head
 * judged by http_check_framing() and route_canonical_path() as
 * head_complete() and request.c's step_route() do) against a model of how the daemon's Go net/http
 * server (moby 20.10: Go 1.13 to 1.19) frames the bytes the proxy forwards.
 *
 * The proxy relays a request's bytes as it parses them, so the daemon reads
 * the very stream llhttp read. Wherever the two read it differently the
 * daemon can run a request the proxy never saw (smuggling), or the proxy
 * can judge bytes the daemon reads as something else. The promise checked:
 * for every request head the daemon completes, the proxy routed a head that
 * ends at the same byte with the same target; where both read the body to
 * its end, they end it at the same byte with the same body bytes; where one
 * has read a body to its end, the other has too, or has given up (Go
 * answers an error and closes; the proxy refuses and closes).
 *
 * Input: the client's byte stream. Build and run with tests/fuzz/build.sh
 * (seeds in tests/fuzz/corpus-framing); FRAMING_DEBUG=1 in the environment
 * prints both readings.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../proxy/http.h"
#include "../../proxy/route.h"
#include "llhttp.h"

#define MAX_REQS 64
/* Go's server reads through a 4096-byte bufio.Reader: a chunk-size line
 * and a trailer section must fit in it. */
#define GO_BUFIO 4096

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool debug;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	debug = getenv("FRAMING_DEBUG") != NULL;
	return 0;
}

/* One request as one side framed it; offsets into the input. */
struct frame {
	size_t head_end;   /* just past the empty line that ends its head */
	size_t target_off; /* request target */
	size_t target_len; /* its length */
	size_t end;	   /* just past its body (and trailers), once complete */
	bool complete;	   /* the body was read to its end */
	char *body;	   /* the body's bytes, de-chunked, malloc'd */
	size_t body_len;   /* their length */
};

/* How a side stopped reading. */
enum stop {
	STOP_EOF,   /* the input ended (more could come) */
	STOP_ERROR, /* refused: the side answers an error and closes */
	STOP_CLOSE, /* a request asked to close the connection after it */
};

struct framing {
	struct frame req[MAX_REQS]; /* requests whose head was read */
	int n;			    /* how many */
	enum stop stop;		    /* why reading stopped */
	size_t forwarded;	    /* proxy: bytes it may have sent to the daemon */
};

static void body_append(struct frame *f, const char *at, size_t n)
{
	f->body = realloc(f->body, f->body_len + n + 1);
	if (f->body == NULL)
		abort();
	memcpy(f->body + f->body_len, at, n);
	f->body_len += n;
}

static void framing_free(struct framing *fr)
{
	for (int i = 0; i < fr->n; i++)
		free(fr->req[i].body);
}

/* ---- the proxy: llhttp as relay.c runs it ------------------------------------------ */

enum { PAUSE_NONE, PAUSE_HEADERS, PAUSE_MESSAGE };

struct px {
	llhttp_t parser;	     /* strict, as the Makefile builds it */
	const char *base;	     /* the input */
	struct framing *fr;	     /* what it reads */
	struct frame *cur;	     /* the request being read */
	bool in_head;		     /* reading a head, not yet routed */
	int event;		     /* why llhttp paused */
	struct http_framing facts;   /* the head's framing headers */
	size_t url_off, url_len;     /* request target */
	size_t field_off, field_len; /* header name being read */
	size_t value_off, value_len; /* header value being read */
	bool in_url, in_field, in_value; /* a span is open */
};

static void span(const struct px *x, size_t *off, size_t *len, bool *open, const char *at,
		 size_t n)
{
	if (!*open) {
		*off = (size_t)(at - x->base);
		*open = true;
	}
	*len = (size_t)(at + n - x->base) - *off;
}

static int px_url(llhttp_t *p, const char *at, size_t n)
{
	struct px *x = p->data;

	span(x, &x->url_off, &x->url_len, &x->in_url, at, n);
	return 0;
}

static int px_url_complete(llhttp_t *p)
{
	((struct px *)p->data)->in_url = false;
	return 0;
}

static int px_field(llhttp_t *p, const char *at, size_t n)
{
	struct px *x = p->data;

	if (x->in_head)
		span(x, &x->field_off, &x->field_len, &x->in_field, at, n);
	return 0;
}

static int px_field_complete(llhttp_t *p)
{
	struct px *x = p->data;

	x->in_field = x->in_value = false;
	x->value_len = 0;
	return 0;
}

static int px_value(llhttp_t *p, const char *at, size_t n)
{
	struct px *x = p->data;

	if (x->in_head)
		span(x, &x->value_off, &x->value_len, &x->in_value, at, n);
	return 0;
}

static int px_value_complete(llhttp_t *p)
{
	struct px *x = p->data;

	if (x->in_head)
		http_framing_note(&x->facts, x->base + x->field_off, x->field_len,
				  x->base + x->value_off, x->value_len);
	x->in_value = false;
	return 0;
}

static int px_headers_complete(llhttp_t *p)
{
	((struct px *)p->data)->event = PAUSE_HEADERS;
	return HPE_PAUSED;
}

static int px_body(llhttp_t *p, const char *at, size_t n)
{
	struct px *x = p->data;

	if (x->cur != NULL && !x->in_head)
		body_append(x->cur, at, n);
	return 0;
}

static int px_message_complete(llhttp_t *p)
{
	((struct px *)p->data)->event = PAUSE_MESSAGE;
	return HPE_PAUSED;
}

static const llhttp_settings_t px_settings = {
	.on_url = px_url,
	.on_url_complete = px_url_complete,
	.on_header_field = px_field,
	.on_header_field_complete = px_field_complete,
	.on_header_value = px_value,
	.on_header_value_complete = px_value_complete,
	.on_headers_complete = px_headers_complete,
	.on_body = px_body,
	.on_message_complete = px_message_complete,
};

static void px_begin(struct px *x, size_t at)
{
	memset(&x->facts, 0, sizeof(x->facts));
	x->in_url = x->in_field = x->in_value = false;
	x->url_len = x->field_len = x->value_len = 0;
	x->in_head = true;
	x->cur = NULL;
	x->fr->forwarded = at; /* a head is forwarded only once routed */
}

/* head_complete() and step_route(): the checks that refuse a head before a byte of it
 * reaches the daemon. Returns false if the proxy refuses it. */
static bool px_routed(struct px *x, size_t start, size_t head_end)
{
	char path[ROUTE_PATH_MAX + 2];
	const char *why;
	struct frame *f;

	x->facts.major = llhttp_get_http_major(&x->parser);
	x->facts.minor = llhttp_get_http_minor(&x->parser);
	x->facts.connect = llhttp_get_method(&x->parser) == HTTP_CONNECT;
	if (http_check_framing(x->base + start, head_end - start, &x->facts, &why) != 0)
		return false;
	if (route_canonical_path(x->base + x->url_off, x->url_len, path, sizeof(path)) < 0)
		return false;
	if (x->fr->n == MAX_REQS)
		return false;
	f = &x->fr->req[x->fr->n++];
	f->head_end = head_end;
	f->target_off = x->url_off;
	f->target_len = x->url_len;
	x->cur = f;
	x->in_head = false;
	return true;
}

static void px_read(const uint8_t *data, size_t size, struct framing *fr)
{
	struct px x = { .base = (const char *)data, .fr = fr };
	size_t parsed = 0, start = 0;
	bool kick = false; /* llhttp must run once more with no bytes */

	llhttp_init(&x.parser, HTTP_REQUEST, &px_settings);
	x.parser.data = &x;
	px_begin(&x, 0);
	for (;;) {
		enum llhttp_errno e;
		size_t end;

		if (parsed == size && !kick) {
			fr->stop = STOP_EOF;
			if (!x.in_head)
				fr->forwarded = size; /* a body is relayed as it comes */
			return;
		}
		kick = false;
		x.event = PAUSE_NONE;
		e = llhttp_execute(&x.parser, (const char *)data + parsed, size - parsed);
		end = e == HPE_OK ? size : (size_t)(llhttp_get_error_pos(&x.parser) - x.base);
		parsed = end;
		if (!x.in_head)
			fr->forwarded = end;
		if (e == HPE_PAUSED && x.event == PAUSE_HEADERS) {
			llhttp_resume(&x.parser);
			if (!px_routed(&x, start, end)) {
				fr->stop = STOP_ERROR;
				return;
			}
			fr->forwarded = end;
			kick = true;
		} else if ((e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) && x.cur != NULL) {
			/* The request is complete; an upgrade the daemon did not
			 * take is resumed (relay.c parse_requests_from()). */
			if (e == HPE_PAUSED)
				llhttp_resume(&x.parser);
			else
				llhttp_resume_after_upgrade(&x.parser);
			x.cur->complete = true;
			x.cur->end = end;
			start = end;
			px_begin(&x, end);
			if (!llhttp_should_keep_alive(&x.parser)) {
				fr->stop = STOP_CLOSE;
				return;
			}
		} else if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
			if (e == HPE_PAUSED)
				llhttp_resume(&x.parser);
			else
				llhttp_resume_after_upgrade(&x.parser);
		} else if (e != HPE_OK) {
			fr->stop = STOP_ERROR;
			return;
		}
	}
}

/* ---- the daemon: Go's net/http server, as far as framing goes --------------------- */

enum { GO_OK, GO_MORE, GO_BAD };

/* Go's reading position in the forwarded bytes. */
struct go {
	const char *buf; /* the forwarded bytes */
	size_t len;	 /* how many (then EOF, or more later) */
	size_t off;	 /* next byte to read */
};

static bool is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* textproto readLineSlice (bufio.ReadLine): a line up to LF, without the
 * LF and one CR before it. */
static int go_line(struct go *g, const char **line, size_t *n)
{
	const char *lf = memchr(g->buf + g->off, '\n', g->len - g->off);

	if (lf == NULL)
		return GO_MORE;
	*line = g->buf + g->off;
	*n = (size_t)(lf - *line);
	if (*n > 0 && (*line)[*n - 1] == '\r')
		(*n)--;
	g->off = (size_t)(lf + 1 - g->buf);
	return GO_OK;
}

/* One header of a head or a trailer section, as Go 1.19 keeps it. */
struct go_field {
	const char *name, *value; /* name before the colon, value trimmed */
	size_t name_len, value_len; /* their lengths */
};

/* textproto ReadMIMEHeader: lines up to an empty one (CRLF or bare LF);
 * a line starting with SP or HTAB continues the one before (so a line of
 * blanks is not the end); every line needs a colon; an empty name is
 * skipped. Calls each(field) for each header. */
static int go_mime_header(struct go *g, int (*each)(void *, const struct go_field *), void *arg)
{
	if (g->off < g->len && is_ows(g->buf[g->off]))
		return GO_BAD; /* "malformed MIME header initial line" */
	for (;;) {
		struct go_field f;
		const char *line, *colon;
		size_t n;
		int rc = go_line(g, &line, &n);

		if (rc != GO_OK)
			return rc;
		if (n == 0)
			return GO_OK;
		colon = memchr(line, ':', n);
		if (colon == NULL)
			return GO_BAD;
		/* Continuations only add to the value; the framing headers
		 * are judged on their first line, and llhttp's side refuses
		 * obs-fold anyway. */
		while (g->off < g->len && is_ows(g->buf[g->off])) {
			const char *cont;
			size_t cn;

			while (g->off < g->len && is_ows(g->buf[g->off]))
				g->off++;
			if (go_line(g, &cont, &cn) != GO_OK)
				return GO_MORE;
		}
		if (g->off == g->len)
			return GO_MORE; /* continuation or not, Go waits to see */
		f.name = line;
		f.name_len = (size_t)(colon - line);
		/* Go before 1.20 dropped spaces before the colon. */
		while (f.name_len > 0 && line[f.name_len - 1] == ' ')
			f.name_len--;
		if (f.name_len == 0)
			continue;
		f.value = colon + 1;
		f.value_len = n - (size_t)(f.value - line);
		while (f.value_len > 0 && is_ows(f.value[0]))
			f.value++, f.value_len--;
		while (f.value_len > 0 && is_ows(f.value[f.value_len - 1]))
			f.value_len--;
		rc = each(arg, &f);
		if (rc != GO_OK)
			return rc;
	}
}

/* What a request head tells Go's server about framing. */
struct go_head {
	int minor;	    /* HTTP/1.minor */
	int hosts;	    /* Host headers */
	int tes;	    /* Transfer-Encoding headers */
	struct go_field te; /* the first one */
	int cls;	    /* Content-Length headers */
	struct go_field cl; /* the first one */
	bool cl_differ;	    /* two of them differ */
	bool conn_close;    /* Connection: close */
	bool keep_alive;    /* Connection: keep-alive */
	bool post;	    /* the method is POST */
};

static bool has_token(const char *v, size_t n, const char *tok)
{
	size_t t = strlen(tok);

	for (size_t i = 0; i + t <= n; i++)
		if (strncasecmp(v + i, tok, t) == 0 && (i == 0 || strchr(" ,\t", v[i - 1])) &&
		    (i + t == n || strchr(" ,\t", v[i + t])))
			return true;
	return false;
}

static bool field_is(const struct go_field *f, const char *name)
{
	return f->name_len == strlen(name) && strncasecmp(f->name, name, f->name_len) == 0;
}

/* server.go readRequest: names must be tokens, values free of CTLs. */
static int go_head_field(void *arg, const struct go_field *f)
{
	struct go_head *h = arg;

	for (size_t i = 0; i < f->name_len; i++)
		if (!is_tchar((unsigned char)f->name[i]))
			return GO_BAD;
	for (size_t i = 0; i < f->value_len; i++)
		if (((unsigned char)f->value[i] < 0x20 && f->value[i] != '\t') ||
		    f->value[i] == 0x7f)
			return GO_BAD;
	if (field_is(f, "host")) {
		h->hosts++;
	} else if (field_is(f, "transfer-encoding")) {
		if (h->tes++ == 0)
			h->te = *f;
	} else if (field_is(f, "content-length")) {
		if (h->cls++ == 0)
			h->cl = *f;
		else if (f->value_len != h->cl.value_len ||
			 memcmp(f->value, h->cl.value, f->value_len) != 0)
			h->cl_differ = true;
	} else if (field_is(f, "connection")) {
		h->conn_close |= has_token(f->value, f->value_len, "close");
		h->keep_alive |= has_token(f->value, f->value_len, "keep-alive");
	}
	return GO_OK;
}

/* "chunked", as strings.EqualFold (Go before 1.18) or ascii.EqualFold
 * match it: the Kelvin sign folds to 'k'. */
static bool go_is_chunked(const char *v, size_t n)
{
	const char *want = "chunked";

	for (; *want != '\0'; want++) {
		if (n >= 3 && *want == 'k' && memcmp(v, "\xe2\x84\xaa", 3) == 0) {
			v += 3, n -= 3;
			continue;
		}
		if (n == 0 || (*v | 0x20) != *want)
			return false;
		v++, n--;
	}
	return n == 0;
}

/* The request line: METHOD SP TARGET SP HTTP/d.d, cut at the first two
 * spaces (parseRequestLine, ParseHTTPVersion, validMethod). */
static int go_request_line(struct go *g, struct frame *f, struct go_head *h)
{
	const char *line, *sp1, *sp2, *proto;
	size_t n;
	int rc = go_line(g, &line, &n);

	if (rc != GO_OK)
		return rc;
	sp1 = memchr(line, ' ', n);
	sp2 = sp1 ? memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - line)) : NULL;
	if (sp2 == NULL || sp1 == line)
		return GO_BAD;
	for (const char *c = line; c < sp1; c++)
		if (!is_tchar((unsigned char)*c))
			return GO_BAD;
	proto = sp2 + 1;
	if (line + n - proto != 8 || memcmp(proto, "HTTP/1.", 7) != 0 || proto[7] < '0' ||
	    proto[7] > '9')
		return GO_BAD; /* and HTTP/2.0 or 0.9 are not served */
	h->minor = proto[7] - '0';
	h->post = sp1 - line == 4 && memcmp(line, "POST", 4) == 0;
	f->target_off = (size_t)(sp1 + 1 - g->buf);
	f->target_len = (size_t)(sp2 - (sp1 + 1));
	return f->target_len == 0 ? GO_BAD : GO_OK;
}

/* internal/chunked.go: a chunk-size line up to LF (bare LF too), trailing
 * blanks and CRs trimmed, an extension cut at the first ';' whatever it
 * holds, at most 16 hex digits, an empty size meaning 0; each chunk's data
 * followed by exactly CRLF. */
static int go_chunks(struct go *g, struct frame *f)
{
	for (;;) {
		const char *line = g->buf + g->off, *lf, *semi;
		size_t n;
		uint64_t size = 0;

		lf = memchr(line, '\n', g->len - g->off);
		if (lf == NULL)
			return g->len - g->off >= GO_BUFIO ? GO_BAD : GO_MORE;
		n = (size_t)(lf + 1 - line);
		if (n >= GO_BUFIO)
			return GO_BAD; /* ErrLineTooLong */
		g->off += n;
		while (n > 0 && strchr(" \t\r\n", line[n - 1]) != NULL)
			n--;
		semi = memchr(line, ';', n);
		if (semi != NULL)
			n = (size_t)(semi - line);
		if (n > 16)
			return GO_BAD;
		for (size_t i = 0; i < n; i++) {
			char c = line[i];
			int v = c >= '0' && c <= '9'   ? c - '0'
				: c >= 'a' && c <= 'f' ? c - 'a' + 10
				: c >= 'A' && c <= 'F' ? c - 'A' + 10
						       : -1;

			if (v < 0)
				return GO_BAD;
			size = size << 4 | (uint64_t)v;
		}
		if (size == 0)
			return GO_OK;
		if (g->len - g->off < size + 2 || size + 2 < size)
			return GO_MORE;
		if (memcmp(g->buf + g->off + size, "\r\n", 2) != 0)
			return GO_BAD;
		body_append(f, g->buf + g->off, size);
		g->off += size + 2;
	}
}

static int go_trailer_field(void *arg, const struct go_field *f)
{
	(void)arg;
	(void)f;
	return GO_OK; /* trailers are not validated */
}

/* transfer.go body.readTrailer: CRLF ends the body at once; anything else
 * needs a CRLF CRLF within the next 4096 bytes, then is read as a MIME
 * header, which may end earlier, at a bare LF line. While that CRLF CRLF
 * has not come, Go waits for it: then it either reads the trailers where
 * the MIME header ends in the bytes it has, or gives up; so the bytes it
 * has decide where the body ends. */
static int go_trailer(struct go *g)
{
	size_t avail = g->len - g->off, window = avail < GO_BUFIO ? avail : GO_BUFIO;

	/* Peek(2): only a CR first leaves the shortcut open. */
	if (avail == 0 || (avail == 1 && g->buf[g->off] == '\r'))
		return GO_MORE;
	if (avail >= 2 && memcmp(g->buf + g->off, "\r\n", 2) == 0) {
		g->off += 2;
		return GO_OK;
	}
	if (memmem(g->buf + g->off, window, "\r\n\r\n", 4) == NULL && avail >= GO_BUFIO)
		return GO_BAD; /* "suspiciously long trailer after chunked body" */
	return go_mime_header(g, go_trailer_field, NULL);
}

/* transfer.go readTransfer for a request: Transfer-Encoding is ignored in
 * HTTP/1.0, else it must be one "chunked" and overrides Content-Length;
 * Content-Length values must agree and be decimal below 2^63; no framing
 * header means no body. */
static int go_body(struct go *g, struct frame *f, const struct go_head *h)
{
	uint64_t len = 0;
	int rc;

	if (h->tes > 0 && h->minor >= 1) {
		if (h->tes > 1 || !go_is_chunked(h->te.value, h->te.value_len))
			return GO_BAD;
		rc = go_chunks(g, f);
		return rc == GO_OK ? go_trailer(g) : rc;
	}
	if (h->cls > 0 && h->cl_differ)
		return GO_BAD;
	if (h->cls > 0 && h->cl.value_len > 0) {
		if (h->cl.value_len > 19)
			return GO_BAD;
		for (size_t i = 0; i < h->cl.value_len; i++) {
			if (h->cl.value[i] < '0' || h->cl.value[i] > '9')
				return GO_BAD;
			len = len * 10 + (uint64_t)(h->cl.value[i] - '0');
		}
		if (len > INT64_MAX)
			return GO_BAD;
	}
	if (g->len - g->off < len)
		return GO_MORE;
	body_append(f, g->buf + g->off, len);
	g->off += len;
	return GO_OK;
}

/* server.go conn.readRequest and what serve() does after it, request by
 * request, over the bytes the proxy forwarded. */
static void go_read(const char *buf, size_t len, struct framing *fr)
{
	struct go g = { .buf = buf, .len = len };
	bool post_last = false;

	for (;;) {
		struct go_head h = { 0 };
		struct frame tmp = { 0 }, *f;
		int rc;

		if (post_last) {
			/* RFC 7230 section 3 tolerance: Peek(4), then discard
			 * the CRs and LFs it starts with. */
			if (g.len - g.off < 4)
				break;
			for (int i = 0; i < 4 && strchr("\r\n", g.buf[g.off]) != NULL; i++)
				g.off++;
		}
		rc = go_request_line(&g, &tmp, &h);
		if (rc == GO_OK)
			rc = go_mime_header(&g, go_head_field, &h);
		if (rc == GO_OK && ((h.minor >= 1 && h.hosts == 0) || h.hosts > 1))
			rc = GO_BAD; /* missing or too many Host headers */
		if (rc != GO_OK) {
			fr->stop = rc == GO_BAD ? STOP_ERROR : STOP_EOF;
			return;
		}
		if (fr->n == MAX_REQS)
			break;
		f = &fr->req[fr->n++];
		*f = tmp;
		f->head_end = g.off;
		post_last = h.post;
		rc = go_body(&g, f, &h);
		if (rc != GO_OK) {
			fr->stop = rc == GO_BAD ? STOP_ERROR : STOP_EOF;
			return;
		}
		f->complete = true;
		f->end = g.off;
		/* shouldClose(): HTTP/1.0 closes unless keep-alive. */
		if (h.conn_close || (h.minor == 0 && !h.keep_alive)) {
			fr->stop = STOP_CLOSE;
			return;
		}
	}
	fr->stop = STOP_EOF;
}

/* ---- the promise ------------------------------------------------------------------ */

static void dump(const char *who, const struct framing *fr)
{
	fprintf(stderr, "%s: %d request(s), stop %d, forwarded %zu\n", who, fr->n, fr->stop,
		fr->forwarded);
	for (int i = 0; i < fr->n; i++)
		fprintf(stderr, "  [%d] head_end %zu target %zu+%zu complete %d end %zu body %zu\n",
			i, fr->req[i].head_end, fr->req[i].target_off, fr->req[i].target_len,
			fr->req[i].complete, fr->req[i].end, fr->req[i].body_len);
}

#define CHECK(cond, i)                                                                    \
	do {                                                                              \
		if (!(cond)) {                                                            \
			fprintf(stderr, "fuzz_framing: request %d: %s\n", i, #cond);     \
			dump("llhttp", &px);                                              \
			dump("go", &go);                                                  \
			abort();                                                          \
		}                                                                         \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct framing px = { 0 }, go = { 0 };
	const char *buf = (const char *)data;

	px_read(data, size, &px);
	go_read(buf, px.forwarded, &go);
	if (debug) {
		dump("llhttp", &px);
		dump("go", &go);
	}
	for (int i = 0; i < go.n; i++) {
		const struct frame *p = &px.req[i], *g = &go.req[i];

		/* A head the daemon reads that the proxy never routed. */
		CHECK(i < px.n, i);
		CHECK(g->head_end == p->head_end, i);
			CHECK(g->target_len == p->target_len &&
			      memcmp(buf + g->target_off, buf + p->target_off, g->target_len) == 0,
		      i);
		if (g->complete && p->complete) {
			CHECK(g->end == p->end, i);
			CHECK(g->body_len == p->body_len &&
				      (g->body_len == 0 || memcmp(g->body, p->body, g->body_len) == 0),
			      i);
		} else if (g->complete) {
			/* Go ended the body where the proxy reads on: what comes
			 * next would be a request to Go and body to the proxy,
			 * unless the proxy has already given up. */
			CHECK(px.stop == STOP_ERROR, i);
		} else if (p->complete) {
			/* Go reads on past the proxy's end of the body (into the
			 * next request), unless it has given up, or the proxy
			 * will never send it another byte. */
			CHECK(go.stop == STOP_ERROR || (i == px.n - 1 && px.stop != STOP_EOF &&
							px.forwarded == p->end),
			      i);
		}
	}
	framing_free(&px);
	framing_free(&go);
	return 0;
}
