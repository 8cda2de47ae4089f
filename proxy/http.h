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
