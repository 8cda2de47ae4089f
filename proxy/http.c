/* http.c - framing checks, head rebuilding and error answers. */
#include "http.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../common/util.h"

int http_check_head(const char *head, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)head[i];

		if (c == '\n') {
			if (i == 0 || head[i - 1] != '\r')
				return 400; /* bare LF */
			if (i + 1 < len && (head[i + 1] == ' ' || head[i + 1] == '\t'))
				return 400; /* obs-fold */
		} else if (c == '\r') {
			if (i + 1 >= len || head[i + 1] != '\n')
				return 400; /* bare CR */
		} else if ((c < 0x20 && c != '\t') || c == 0x7f) {
			return 400;
		}
	}
	return 0;
}

int http_check_request_line(const char *head, size_t len)
{
	size_t i = 0, spaces = 0;

	while (i + 1 < len && head[i] == '\r' && head[i + 1] == '\n')
		i += 2; /* empty lines before it are skipped, as Go does */
	for (; i < len && head[i] != '\r'; i++)
		spaces += head[i] == ' ';
	/* "METHOD SP target SP HTTP/1.x": anything else is a line Go refuses
	 * and a rewrite could not place its target in. */
	return spaces == 2 ? 0 : 400;
}

static bool name_is(const char *name, size_t len, const char *want)
{
	return len == strlen(want) && strncasecmp(name, want, len) == 0;
}

void http_framing_note(struct http_framing *fr, const char *name, size_t name_len,
		       const char *value, size_t value_len)
{
	if (name_is(name, name_len, "transfer-encoding")) {
		fr->te_count++;
		fr->te_bad |= !http_te_is_chunked(value, value_len);
	} else if (name_is(name, name_len, "content-length")) {
		fr->cl_count++;
	}
}

int http_check_framing(const char *head, size_t len, const struct http_framing *fr,
		       const char **why)
{
	int status = http_check_head(head, len);

	*why = "malformed request head";
	if (status != 0)
		return status;
	if (fr->major != 1) {
		*why = "only HTTP/1.x is served here";
		return 505;
	}
	status = http_check_request_line(head, len);
	if (status != 0)
		return status;
	/* After a CONNECT head llhttp sees a tunnel where Go sees a body: the
	 * two would frame what follows differently. The API has no CONNECT. */
	if (fr->connect) {
		*why = "CONNECT is not supported";
		return 405;
	}
	/* Go ignores Transfer-Encoding in HTTP/1.0 (no body, or Content-Length's)
	 * where llhttp reads chunks; RFC 9112 section 6.1 calls such framing
	 * faulty. */
	if (fr->te_count > 0 && fr->minor == 0) {
		*why = "Transfer-Encoding in an HTTP/1.0 request";
		return 400;
	}
	if (fr->te_count > 1 || (fr->te_count == 1 && fr->te_bad)) {
		*why = "unsupported transfer encoding";
		return 501;
	}
	if (fr->te_count > 0 && fr->cl_count > 0) {
		*why = "both Transfer-Encoding and Content-Length";
		return 400;
	}
	if (fr->cl_count > 1) {
		*why = "more than one Content-Length";
		return 400;
	}
	return 0;
}

static void trim(const char **v, size_t *len)
{
	while (*len > 0 && (**v == ' ' || **v == '\t'))
		(*v)++, (*len)--;
	while (*len > 0 && ((*v)[*len - 1] == ' ' || (*v)[*len - 1] == '\t'))
		(*len)--;
}

bool http_te_is_chunked(const char *value, size_t len)
{
	trim(&value, &len);
	return len == 7 && strncasecmp(value, "chunked", 7) == 0;
}

bool http_ct_is_form(const char *value, size_t len)
{
	static const char *forms[] = { "application/x-www-form-urlencoded",
				       "multipart/form-data" };

	trim(&value, &len);
	for (size_t i = 0; i < ARRAY_SIZE(forms); i++) {
		size_t n = strlen(forms[i]);

		if (len >= n && strncasecmp(value, forms[i], n) == 0 &&
		    (len == n || value[n] == ';' || value[n] == ' ' || value[n] == '\t'))
			return true;
	}
	return false;
}

static bool header_is(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);

	return len > n && line[n] == ':' && strncasecmp(line, name, n) == 0;
}

static void append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (*len + n + 1 > *cap) {
		*cap = (*len + n + 1) * 2;
		*buf = xrealloc(*buf, *cap);
	}
	memcpy(*buf + *len, s, n);
	*len += n;
}

/* Append the request line with its target replaced: the target is what
 * lies between the method's space run and the last space (or the end of a
 * line without a version). */
static void append_request_line(char **buf, size_t *len, size_t *cap, const char *line,
				size_t n, const char *target, size_t target_len)
{
	const char *sp1 = memchr(line, ' ', n);
	const char *start, *end = line + n;
	size_t rest;

	if (target == NULL || sp1 == NULL) {
		append(buf, len, cap, line, n);
		return;
	}
	for (start = sp1; start < line + n && *start == ' '; start++)
		;
	rest = (size_t)(line + n - start);
	for (size_t i = rest; i > 0; i--) {
		if (start[i - 1] == ' ') {
			end = start + i - 1;
			break;
		}
	}
	while (end > start && end[-1] == ' ')
		end--;
	append(buf, len, cap, line, (size_t)(sp1 + 1 - line));
	append(buf, len, cap, target, target_len);
	append(buf, len, cap, end, (size_t)(line + n - end));
}

char *http_rebuild_head(const char *head, size_t len, const char *new_target,
			size_t new_target_len, long long content_length, bool drop_expect,
			size_t *out_len)
{
	char *buf = NULL;
	size_t blen = 0, cap = 0, i = 0;
	bool first = true, have_ct = false;

	while (i < len) {
		const char *eol = memmem(head + i, len - i, "\r\n", 2);
		size_t n = eol ? (size_t)(eol - (head + i)) : len - i;
		const char *line = head + i;

		i += n + 2;
		if (n == 0 && first)
			continue; /* empty lines before the request line, which llhttp
				   * and Go both skip: they must not end the head */
		if (n == 0)
			break; /* the blank line that ends the head */
		if (first) {
			append_request_line(&buf, &blen, &cap, line, n, new_target, new_target_len);
			append(&buf, &blen, &cap, "\r\n", 2);
			first = false;
			continue;
		}
		if (content_length >= 0 && (header_is(line, n, "content-length") ||
					    header_is(line, n, "transfer-encoding")))
			continue;
		if (drop_expect && header_is(line, n, "expect"))
			continue;
		have_ct |= header_is(line, n, "content-type");
		append(&buf, &blen, &cap, line, n);
		append(&buf, &blen, &cap, "\r\n", 2);
	}
	if (content_length >= 0) {
		char cl[64];
		int n = snprintf(cl, sizeof(cl), "Content-Length: %lld\r\n", content_length);

		append(&buf, &blen, &cap, cl, (size_t)n);
		if (!have_ct)
			append(&buf, &blen, &cap, "Content-Type: application/json\r\n", 32);
	}
	append(&buf, &blen, &cap, "\r\n", 2);
	*out_len = blen;
	return buf;
}

const char *http_reason(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Internal Server Error";
	}
}

/* JSON-escape s into out (always NUL-terminated, truncated to fit). */
static void json_escape(const char *s, char *out, size_t size)
{
	size_t n = 0;

	for (; *s != '\0' && n + 7 < size; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c < 0x20) {
			n += (size_t)snprintf(out + n, size - n, "\\u%04x", c);
		} else {
			out[n++] = (char)c;
		}
	}
	out[n] = '\0';
}

void http_append_post(char **buf, size_t *len, const char *path, const char *json)
{
	size_t body_len = strlen(json);
	size_t room = strlen(path) + body_len + 128;
	int n;

	*buf = xrealloc(*buf, *len + room);
	n = snprintf(*buf + *len, room,
		     "POST %s HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n"
		     "Content-Length: %zu\r\n\r\n%s",
		     path, body_len, json);
	*len += (size_t)n;
}

size_t http_format_error(char *buf, size_t size, int status, const char *message)
{
	char escaped[512];
	int body_len, n;

	json_escape(message, escaped, sizeof(escaped));
	body_len = (int)strlen(escaped) + (int)strlen("{\"message\":\"\"}\n");
	n = snprintf(buf, size,
		     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
		     "Content-Length: %d\r\nConnection: close\r\n\r\n{\"message\":\"%s\"}\n",
		     status, http_reason(status), body_len, escaped);
	return n < 0 ? 0 : (size_t)n >= size ? size - 1 : (size_t)n;
}
