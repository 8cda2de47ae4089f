/* filter.c - lists and events without other sessions' objects (filter.h).
 *
 * A list is read as it passes, item by item: each item is held until its
 * end (FILTER_ITEM_MAX at most), then sent or, if it is another session's,
 * left out, so the client has the first items while the daemon still
 * writes the last. What is sent is re-chunked, one chunk per piece of the
 * daemon's answer. The event stream is read event by event (json.Encoder
 * writes one JSON object per line) and re-chunked, so an event of another
 * session's object never reaches the client. The daemon's head is replaced
 * by one of ours: clients read nothing from a list's head but its status
 * and framing.
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
#define HEAD_CHUNKED HEAD_COMMON "Transfer-Encoding: chunked\r\n\r\n"
/* A list's chunk starts with its size in 8 hex digits and CRLF. */
#define CHUNK_HEAD 10

void filter_begin(struct conn *c, uint8_t method, const char *canonical)
{
	struct answer_filter *af = &c->filter;

	af->list = owner_list_kind(method, canonical);
	af->events = method == HTTP_GET && strcmp(canonical, "/events") == 0;
	af->http10 = c->head.framing.major == 1 && c->head.framing.minor == 0;
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

/* Our head for a filtered answer: chunked, or for HTTP/1.0 (which has no
 * chunks) a body that ends when the connection closes. */
static void emit_head(struct conn *c)
{
	static const char chunked[] = HEAD_CHUNKED;
	static const char until_close[] = HEAD_COMMON "Connection: close\r\n\r\n";
	struct answer_filter *af = &c->filter;

	if (af->http10) {
		emit(af, until_close, sizeof(until_close) - 1);
		conn_close_after(c);
	} else {
		emit(af, chunked, sizeof(chunked) - 1);
	}
}

/* The end of a filtered answer: the last chunk (none for HTTP/1.0). */
static void emit_last(struct answer_filter *af)
{
	if (!af->http10)
		emit(af, "0\r\n\r\n", 5);
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

	if (!af->http10)
		emit(af, size, (size_t)n);
	emit(af, line, len);
	emit(af, "\n\r\n", af->http10 ? 1 : 3);
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

/* ---- lists: output -------------------------------------------------------- */

/* Bytes of a list answer for the client: our head first, then one chunk per
 * piece of the daemon's answer that had something to send. */
static void out_put(struct conn *c, const char *data, size_t len)
{
	struct answer_filter *af = &c->filter;

	if (len == 0)
		return;
	if (!af->head_sent) {
		emit_head(c);
		af->head_sent = true;
	}
	if (af->chunk_at == SIZE_MAX && !af->http10) {
		af->chunk_at = af->out_len;
		emit(af, "00000000\r\n", CHUNK_HEAD); /* its size, once known */
	}
	emit(af, data, len);
}

/* The open chunk is complete: its size goes in, zero-padded (RFC 9112's
 * chunk-size is 1*HEXDIG; Go, curl and Python read it so). */
static void chunk_close(struct answer_filter *af)
{
	size_t size;

	if (af->chunk_at == SIZE_MAX)
		return;
	size = af->out_len - af->chunk_at - CHUNK_HEAD;
	for (int i = 7; i >= 0; i--, size >>= 4)
		af->out[af->chunk_at + (size_t)i] = "0123456789abcdef"[size & 15];
	emit(af, "\r\n", 2);
	af->chunk_at = SIZE_MAX;
}

/* ---- lists: reading the JSON ------------------------------------------------ *
 *
 * A byte-by-byte reader of the grammar jansson's json_loadb() accepts, so
 * that it keeps what owner_list_filter() keeps of the whole: one array or
 * object, UTF-8 checked, no \u0000, surrogates paired, at most
 * FILTER_DEPTH_MAX levels (it takes integers and reals of any size). It keeps
 * the role of the levels that matter: the list (the answer, or the kind's
 * items_key in it), each item, and the objects on the kind's path to its
 * labels ("Labels", "Spec.Labels"), so an item's class is known at its end
 * without building it. jansson keeps a repeated key's last value, and so
 * does this reader: each key on the path starts the labels anew.
 */

enum scan_state {
	SCAN_TOP,	 /* before the answer's value: '[' or '{' */
	SCAN_VALUE,	 /* a value is due: after ':', or ',' in an array */
	SCAN_FIRST,	 /* after '[': a value or ']' */
	SCAN_KEY_FIRST,	 /* after '{': a key or '}' */
	SCAN_KEY,	 /* after ',' in an object: a key */
	SCAN_COLON,	 /* after a key */
	SCAN_NEXT,	 /* after a value: ',' or its container's end */
	SCAN_STRING,	 /* in a string */
	SCAN_ESCAPE,	 /* after a backslash */
	SCAN_HEX,	 /* in a \u escape's four digits */
	SCAN_LOW_ESCAPE, /* after a high surrogate: its low half's backslash */
	SCAN_LOW_U,	 /* and its 'u' */
	SCAN_UTF8,	 /* in a multi-byte character */
	SCAN_MINUS,	 /* a number: after its '-' */
	SCAN_ZERO,	 /* after a leading 0 */
	SCAN_INT,	 /* in its integer part */
	SCAN_DOT,	 /* after its '.' */
	SCAN_FRAC,	 /* in its fraction */
	SCAN_E,		 /* after its 'e' */
	SCAN_ESIGN,	 /* after the exponent's sign */
	SCAN_EXP,	 /* in the exponent */
	SCAN_WORD,	 /* in true, false or null */
	SCAN_DONE,	 /* after the answer's value: whitespace only */
	SCAN_ERROR,	 /* not JSON as jansson reads it: the rest is not read */
};

enum list_role {
	ROLE_NONE,    /* nothing inside is looked at */
	ROLE_WRAPPER, /* the answer's object, holding the list under items_key */
	ROLE_LIST,    /* the list of items */
	ROLE_SESSION, /* a value: an item's ci-wrap.session label */
	ROLE_PATH,    /* an item; + i: the object its path's first i keys name */
};

/* The piece of the daemon's answer being read. */
struct piece {
	const char *at; /* its bytes */
	size_t n;	/* their number */
	size_t from;	/* where the bytes being copied out, or collected, start */
};

/* Bytes a string holds with nothing to look at: no quote, backslash,
 * control character or UTF-8. */
static const bool plain[256] = { [0x20 ... 0x21] = true, /* '"' */ [0x23 ... 0x5b] = true,
				  /* '\\' */ [0x5d ... 0x7f] = true };

static bool is_space(unsigned char b)
{
	return b == ' ' || b == '\t' || b == '\n' || b == '\r';
}

static bool is_digit(unsigned char b)
{
	return b >= '0' && b <= '9';
}

static int hex_value(unsigned char b)
{
	if (is_digit(b))
		return b - '0';
	if ((b | 0x20) >= 'a' && (b | 0x20) <= 'f')
		return (b | 0x20) - 'a' + 10;
	return -1;
}

static int top_role(const struct list_scan *s)
{
	return s->depth <= FILTER_ROLE_DEPTH ? s->roles[s->depth] : ROLE_NONE;
}

static bool top_is_object(const struct list_scan *s)
{
	return (s->objects[(s->depth - 1) / 8] >> ((s->depth - 1) % 8)) & 1;
}

static void scan_fail(struct list_scan *s)
{
	s->state = SCAN_ERROR;
	s->verbatim = s->in_item = false;
}

/* ---- items ---- */

/* Hold an item's bytes until its end; false once it is too long to. */
static bool item_collect(struct conn *c, const char *at, size_t n)
{
	struct list_scan *s = &c->filter.scan;

	if (s->item_long)
		return false;
	if (!collect(c, at, n, FILTER_ITEM_MAX)) {
		s->item_long = true;
		body_drop(c);
		return false;
	}
	return true;
}

static void item_begin(struct conn *c, struct piece *p, size_t i)
{
	struct list_scan *s = &c->filter.scan;

	s->in_item = true;
	s->item_depth = s->depth;
	s->owner = OWNER_FOREIGN;
	s->item_long = false;
	c->filter.len = 0;
	p->from = i;
}

/* The item ends before end: out it goes, unless it is another session's
 * or could not be held whole. */
static void item_end(struct conn *c, struct piece *p, size_t end)
{
	struct answer_filter *af = &c->filter;
	struct list_scan *s = &af->scan;
	const char *item = p->at + p->from;
	size_t len = end - p->from;

	s->in_item = false;
	if (af->len > 0 && item_collect(c, item, len)) {
		item = af->body;
		len = af->len;
	}
	af->len = 0;
	if (s->item_long) {
		cw_verbose("proxy: a list item longer than %d bytes (or than the memory left "
			   "for bodies) was left out",
			   FILTER_ITEM_MAX);
		return;
	}
	if (s->owner == OWNER_OTHER)
		return;
	if (s->kept)
		out_put(c, ",", 1);
	out_put(c, item, len);
	s->kept = true;
}

/* ---- values ---- */

static void value_end(struct conn *c, struct piece *p, size_t end)
{
	struct list_scan *s = &c->filter.scan;

	s->state = s->depth == 0 ? SCAN_DONE : SCAN_NEXT;
	if (s->in_item && s->depth == s->item_depth)
		item_end(c, p, end);
}

/* '[' or '{' at i opens a container. The list's '[' goes out with what
 * precedes it; from there only items go out, commas of our own between. */
static void container_open(struct conn *c, struct piece *p, size_t i, bool object, int role)
{
	struct list_scan *s = &c->filter.scan;
	uint8_t bit = (uint8_t)(1u << (s->depth % 8));

	if (object)
		s->objects[s->depth / 8] |= bit;
	else
		s->objects[s->depth / 8] &= (uint8_t)~bit;
	s->depth++;
	if (s->depth <= FILTER_ROLE_DEPTH)
		s->roles[s->depth] = (uint8_t)role;
	s->state = object ? SCAN_KEY_FIRST : SCAN_FIRST;
	if (role == ROLE_LIST) {
		out_put(c, p->at + p->from, i + 1 - p->from);
		s->verbatim = false;
		s->kept = false;
	}
}

/* ']' or '}' at i: the list's ']' is copied out with what follows it. */
static bool container_close(struct conn *c, struct piece *p, size_t i, unsigned char b)
{
	struct list_scan *s = &c->filter.scan;

	if ((b == '}') != top_is_object(s))
		return false;
	if (top_role(s) == ROLE_LIST) {
		s->verbatim = true;
		p->from = i;
	}
	s->depth--;
	value_end(c, p, i + 1);
	return true;
}

/* The string being read is compared with want (len bytes), or not (NULL). */
static void string_begin(struct list_scan *s, bool key, const char *want, size_t len)
{
	s->state = SCAN_STRING;
	s->key = key;
	s->want = want;
	s->want_len = len;
	s->want_at = 0;
	s->match = want != NULL;
}

/* A value starts at i: the answer's (copied out from here), an item, or
 * any other. */
static bool value_begin(struct conn *c, struct piece *p, size_t i)
{
	struct list_scan *s = &c->filter.scan;
	int role = s->next_role;
	unsigned char b = (unsigned char)p->at[i];
	static const char *const words[] = { "true", "false", "null" };

	s->next_role = ROLE_NONE;
	if (s->depth >= FILTER_DEPTH_MAX)
		return false;
	if (s->depth == 0) {
		s->verbatim = true;
		p->from = i;
	} else if (top_role(s) == ROLE_LIST) {
		item_begin(c, p, i);
		role = ROLE_PATH;
	}
	s->session_value = false;
	if (b == '{') {
		container_open(c, p, i, true,
			       role == ROLE_WRAPPER || role >= ROLE_PATH ? role : ROLE_NONE);
	} else if (b == '[') {
		container_open(c, p, i, false, role == ROLE_LIST ? role : ROLE_NONE);
	} else if (b == '"') {
		s->session_value = role == ROLE_SESSION;
		string_begin(s, false, s->session_value ? s->session : NULL,
			     s->session_value ? strlen(s->session) : 0);
	} else if (b == '-' || is_digit(b)) {
		s->state = b == '-' ? SCAN_MINUS : b == '0' ? SCAN_ZERO : SCAN_INT;
	} else {
		s->state = SCAN_WORD;
		s->word = b == 't' ? words[0] : b == 'f' ? words[1] : b == 'n' ? words[2] : NULL;
		s->word_at = 1;
		return s->word != NULL;
	}
	return true;
}

/* ---- keys ---- */

/* A key starts: one on the way to an item's labels is compared with the
 * path's next key; in the labels, with ci-wrap.session. */
static void key_begin(struct list_scan *s)
{
	int role = top_role(s);
	const char *want = NULL;
	size_t len = 0;

	if (role == ROLE_WRAPPER && s->items_key != NULL) {
		want = s->items_key;
		len = strlen(want);
	} else if (role >= ROLE_PATH && role - ROLE_PATH < s->path_n) {
		want = s->path[role - ROLE_PATH];
		len = s->path_len[role - ROLE_PATH];
	} else if (role >= ROLE_PATH) {
		want = "ci-wrap.session";
		len = strlen(want);
	}
	string_begin(s, true, want, len);
}

static bool string_matched(const struct list_scan *s)
{
	return s->match && s->want_at == s->want_len;
}

static void key_end(struct list_scan *s)
{
	int role = top_role(s);

	s->state = SCAN_COLON;
	s->next_role = ROLE_NONE;
	if (!string_matched(s))
		return;
	if (role == ROLE_WRAPPER) {
		s->next_role = ROLE_LIST;
		return;
	}
	s->owner = OWNER_FOREIGN; /* until the value says otherwise */
	s->next_role = role - ROLE_PATH < s->path_n ? role + 1 : ROLE_SESSION;
}

/* ---- strings ---- */

/* One byte of the string's decoded value. */
static void match_byte(struct list_scan *s, unsigned char b)
{
	if (s->want_at < s->want_len && (unsigned char)s->want[s->want_at] == b)
		s->want_at++;
	else
		s->match = false;
}

/* A \u escape's character, as the UTF-8 jansson decodes it to. */
static void match_code(struct list_scan *s, uint32_t code)
{
	unsigned char u[4];
	int n = code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;

	if (n == 1) {
		u[0] = (unsigned char)code;
	} else {
		for (int i = n - 1; i > 0; i--, code >>= 6)
			u[i] = (unsigned char)(0x80 | (code & 0x3f));
		u[0] = (unsigned char)((0xf00u >> n) | code); /* lead 0xc0, 0xe0 or 0xf0 */
	}
	for (int i = 0; i < n && s->match; i++)
		match_byte(s, u[i]);
}

static void string_end(struct conn *c, struct piece *p, size_t i)
{
	struct list_scan *s = &c->filter.scan;

	if (s->key) {
		key_end(s);
		return;
	}
	if (s->session_value)
		s->owner = string_matched(s) ? OWNER_OURS : OWNER_OTHER;
	value_end(c, p, i + 1);
}

/* A byte of a string, outside escapes. */
static bool string_byte(struct conn *c, struct piece *p, size_t i)
{
	struct list_scan *s = &c->filter.scan;
	unsigned char b = (unsigned char)p->at[i];

	if (b == '"') {
		string_end(c, p, i);
	} else if (b == '\\') {
		s->state = SCAN_ESCAPE;
	} else if (b < 0x20) {
		return false;
	} else if (b >= 0x80) {
		/* utf8_check_first(): 2, 3 or 4 bytes, lead 0xc2 to 0xf4 */
		if (b < 0xc2 || b > 0xf4)
			return false;
		s->utf8_len = b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
		s->code = b & (0x7fu >> s->utf8_len);
		s->need = s->utf8_len - 1;
		s->state = SCAN_UTF8;
	}
	if (s->match && b != '"' && b != '\\')
		match_byte(s, b);
	return true;
}

/* utf8_check_full(): continuation bytes, no overlong form, no surrogate,
 * nothing past U+10FFFF. */
static bool utf8_byte(struct list_scan *s, unsigned char b)
{
	static const uint32_t least[5] = { 0, 0, 0x80, 0x800, 0x10000 };

	if ((b & 0xc0) != 0x80)
		return false;
	s->code = s->code << 6 | (b & 0x3f);
	if (s->match)
		match_byte(s, b);
	if (--s->need > 0)
		return true;
	s->state = SCAN_STRING;
	return s->code >= least[s->utf8_len] && s->code <= 0x10ffff &&
	       (s->code < 0xd800 || s->code > 0xdfff);
}

static bool escape_byte(struct list_scan *s, unsigned char b)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *e = b != '\0' ? strchr(from, b) : NULL;

	if (b == 'u') {
		s->code = 0;
		s->need = 4;
		s->state = SCAN_HEX;
		return true;
	}
	if (e == NULL)
		return false;
	if (s->match)
		match_byte(s, (unsigned char)to[e - from]);
	s->state = SCAN_STRING;
	return true;
}

/* A \u escape's digit; at the fourth, its character. A high surrogate
 * needs a low half next; a lone low half or U+0000 is refused. */
static bool hex_byte(struct list_scan *s, unsigned char b)
{
	int v = hex_value(b);
	uint32_t code;

	if (v < 0)
		return false;
	s->code = s->code << 4 | (uint32_t)v;
	if (--s->need > 0)
		return true;
	code = s->code;
	if (s->high != 0) {
		if (code < 0xdc00 || code > 0xdfff)
			return false;
		code = 0x10000 + ((s->high - 0xd800) << 10) + (code - 0xdc00);
		s->high = 0;
	} else if (code >= 0xd800 && code <= 0xdbff) {
		s->high = code;
		s->state = SCAN_LOW_ESCAPE;
		return true;
	} else if (code == 0 || (code >= 0xdc00 && code <= 0xdfff)) {
		return false;
	}
	if (s->match)
		match_code(s, code);
	s->state = SCAN_STRING;
	return true;
}

/* ---- numbers and words ---- */

/* A byte of a number (RFC 8259's grammar, which is jansson's); *end when
 * it is the first byte after it. */
static bool number_byte(struct list_scan *s, unsigned char b, bool *end)
{
	bool digit = is_digit(b);

	*end = false;
	switch (s->state) {
	case SCAN_MINUS:
		s->state = b == '0' ? SCAN_ZERO : SCAN_INT;
		return digit;
	case SCAN_DOT:
		s->state = SCAN_FRAC;
		return digit;
	case SCAN_ESIGN:
		s->state = SCAN_EXP;
		return digit;
	case SCAN_E:
		s->state = b == '+' || b == '-' ? SCAN_ESIGN : SCAN_EXP;
		return digit || b == '+' || b == '-';
	case SCAN_ZERO:
		if (digit)
			return false;
		break;
	case SCAN_EXP:
		*end = !digit;
		return true;
	default: /* SCAN_INT, SCAN_FRAC */
		if (digit)
			return true;
		break;
	}
	if (b == '.' && s->state != SCAN_FRAC)
		s->state = SCAN_DOT;
	else if (b == 'e' || b == 'E')
		s->state = SCAN_E;
	else
		*end = true;
	return true;
}

/* A byte of true, false or null; *end when it is the first byte after
 * it, which jansson reads as part of the word if it is a letter. */
static bool word_byte(struct list_scan *s, unsigned char b, bool *end)
{
	*end = s->word[s->word_at] == '\0';
	if (*end)
		return !((b | 0x20) >= 'a' && (b | 0x20) <= 'z');
	s->word_at++;
	return (unsigned char)s->word[s->word_at - 1] == b;
}

/* ---- the reader ---- */

/* The byte at *i, between tokens. */
static bool structure_byte(struct conn *c, struct piece *p, size_t i)
{
	struct list_scan *s = &c->filter.scan;
	unsigned char b = (unsigned char)p->at[i];

	if (is_space(b))
		return true;
	switch (s->state) {
	case SCAN_TOP:
		return (b == '[' || b == '{') && value_begin(c, p, i);
	case SCAN_FIRST:
		return b == ']' ? container_close(c, p, i, b) : value_begin(c, p, i);
	case SCAN_VALUE:
		return value_begin(c, p, i);
	case SCAN_KEY_FIRST:
	case SCAN_KEY:
		if (b == '}' && s->state == SCAN_KEY_FIRST)
			return container_close(c, p, i, b);
		if (b != '"')
			return false;
		key_begin(s);
		return true;
	case SCAN_COLON:
		s->state = SCAN_VALUE;
		return b == ':';
	case SCAN_NEXT:
		if (b == ']' || b == '}')
			return container_close(c, p, i, b);
		s->state = top_is_object(s) ? SCAN_KEY : SCAN_VALUE;
		return b == ',';
	default: /* SCAN_DONE */
		return false;
	}
}

/* Read the byte at *i (a number's end reads it again); false if the
 * answer is not JSON. */
static bool scan_byte(struct conn *c, struct piece *p, size_t *i)
{
	struct list_scan *s = &c->filter.scan;
	unsigned char b = (unsigned char)p->at[*i];
	bool end;

	switch (s->state) {
	case SCAN_STRING:
		return string_byte(c, p, (*i)++);
	case SCAN_ESCAPE:
		(*i)++;
		return escape_byte(s, b);
	case SCAN_HEX:
		(*i)++;
		return hex_byte(s, b);
	case SCAN_LOW_ESCAPE:
		(*i)++;
		s->state = SCAN_LOW_U;
		return b == '\\';
	case SCAN_LOW_U:
		(*i)++;
		s->code = 0;
		s->need = 4;
		s->state = SCAN_HEX;
		return b == 'u';
	case SCAN_UTF8:
		(*i)++;
		return utf8_byte(s, b);
	case SCAN_MINUS ... SCAN_WORD:
		if (!(s->state == SCAN_WORD ? word_byte(s, b, &end) : number_byte(s, b, &end)))
			return false;
		if (end)
			value_end(c, p, *i); /* the byte is read again, after it */
		else
			(*i)++;
		return true;
	default:
		return structure_byte(c, p, (*i)++);
	}
}

/* A piece of the list's body: items out as they end, and what precedes
 * and follows the list as it comes; an item not yet ended is held. */
static void list_feed(struct conn *c, const char *at, size_t n)
{
	struct answer_filter *af = &c->filter;
	struct list_scan *s = &af->scan;
	struct piece p = { at, n, 0 };
	size_t i = 0;

	while (i < n && s->state != SCAN_ERROR) {
		if (s->state == SCAN_STRING && !s->match)
			while (i < n && plain[(unsigned char)at[i]])
				i++;
		if (i < n && !scan_byte(c, &p, &i))
			scan_fail(s);
	}
	if (s->verbatim)
		out_put(c, at + p.from, n - p.from);
	else if (s->in_item)
		item_collect(c, at + p.from, n - p.from);
	chunk_close(af);
}

static void list_begin(struct conn *c)
{
	struct answer_filter *af = &c->filter;
	const struct kind_info *k = kind_info(af->list);
	struct list_scan *s = &af->scan;

	memset(s, 0, sizeof(*s));
	s->state = SCAN_TOP;
	s->items_key = k->items_key;
	for (const char *key = k->list_labels; key && s->path_n < FILTER_PATH_MAX; s->path_n++) {
		s->path[s->path_n] = key;
		s->path_len[s->path_n] = strcspn(key, ".");
		key = key[s->path_len[s->path_n]] == '.' ? key + s->path_len[s->path_n] + 1 : NULL;
	}
	s->session = owner_session(c->proxy->owner);
	s->next_role = k->items_key ? ROLE_WRAPPER : ROLE_LIST;
	af->head_sent = false;
	af->chunk_at = SIZE_MAX;
	af->len = 0;
}

/* The list is complete: the last chunk. If it was not JSON, the answer
 * ends here: with our error if nothing went out yet, else cut short, so
 * that the client sees it is not whole. */
static void list_end(struct conn *c)
{
	struct answer_filter *af = &c->filter;
	char err[512];
	size_t len;

	chunk_close(af);
	if (af->scan.state == SCAN_DONE) {
		emit_last(af);
		return;
	}
	cw_verbose("proxy: the daemon's list is not JSON or ends early: "
		   "the answer is cut short");
	if (!af->head_sent) {
		len = http_format_error(err, sizeof(err), 502,
					"ci-wrap: the daemon's list was not JSON: "
					"it cannot be filtered for this session");
		emit(af, err, len);
	}
	conn_close_after(c);
}

/* ---- the relay's calls ------------------------------------------------------ */

void filter_head(struct conn *c, int status, bool head_request)
{
	struct answer_filter *af = &c->filter;

	if (!wanted(af) || (status >= 100 && status < 200))
		return;
	af->decided = true;
	af->active = status == 200 && !head_request;
	if (af->active && af->events)
		emit_head(c);
	else if (af->active)
		list_begin(c);
}

bool filter_body(struct conn *c, const char *at, size_t n)
{
	struct answer_filter *af = &c->filter;

	if (!af->active)
		return false;
	if (af->events)
		return af->paused = events_feed(c, at, n);
	list_feed(c, at, n);
	return false;
}

void filter_end(struct conn *c)
{
	struct answer_filter *af = &c->filter;

	if (!af->active)
		return;
	if (af->events)
		emit_last(af);
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
