/* http.h - HTTP/1.1 framing helpers for the relay: checks llhttp leaves to
 * us, request heads rebuilt after a rewrite, Docker-style error answers.
 */
#ifndef CI_WRAP_HTTP_H
#define CI_WRAP_HTTP_H

#include <stdbool.h>
#include <stddef.h>

/* Refuse what RFC 9112 lets a server refuse and the relay must not pass on
 * ambiguously: bare LF line ends, obs-fold, NUL and other control bytes in a
 * request head. Returns 0, or the HTTP status to answer with. */
int http_check_head(const char *head, size_t len);

/* The request line must be exactly METHOD SP TARGET SP VERSION (after any
 * leading empty lines). Returns 0, or the status to answer with. */
int http_check_request_line(const char *head, size_t len);

/* What the framing checks need of a request head, noted header by header
 * as the parser reads it (http_framing_note) and judged once the head is
 * complete (http_check_framing). */
struct http_framing {
	int te_count;	 /* Transfer-Encoding headers seen */
	bool te_bad;	 /* one of them is not exactly "chunked" */
	int cl_count;	 /* Content-Length headers seen */
	int major, minor; /* HTTP version of the request line */
	bool connect;	 /* the method is CONNECT */
};

/* Note one header of a request head. */
void http_framing_note(struct http_framing *fr, const char *name, size_t name_len,
		       const char *value, size_t value_len);

/* Refuse a head whose body Go's net/http (the daemon) would frame
 * differently from llhttp (the proxy), and what RFC 9112 lets a server
 * refuse: the head checks above, then the version, the method and the
 * Content-Length / Transfer-Encoding rules. Returns 0, or the status to
 * answer with and *why. */
int http_check_framing(const char *head, size_t len, const struct http_framing *fr,
		       const char **why);

/* Is the Transfer-Encoding value exactly "chunked" (case, OWS ignored)? */
bool http_te_is_chunked(const char *value, size_t len);

/* Does a Content-Type value name one of the form encodings Go's ParseForm
 * reads from a body? */
bool http_ct_is_form(const char *value, size_t len);

/* A new head from the original one: request target replaced when new_target
 * is not NULL; when content_length >= 0, Content-Length and Transfer-Encoding
 * replaced by that length (and a JSON Content-Type added if none);
 * Expect dropped when drop_expect. Returns a malloc'd head and its length. */
char *http_rebuild_head(const char *head, size_t len, const char *new_target,
			size_t new_target_len, long long content_length, bool drop_expect,
			size_t *out_len);

/* A request of the proxy's own: "POST path" with a JSON body, appended to
 * the malloc'd *buf of *len bytes (grown as needed). */
void http_append_post(char **buf, size_t *len, const char *path, const char *json);

/* Format a Docker-style JSON error answer into buf; returns its length. */
size_t http_format_error(char *buf, size_t size, int status, const char *message);

/* The reason phrase for a status the proxy answers with. */
const char *http_reason(int status);

#endif
