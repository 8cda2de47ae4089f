/* inspect.h - one GET to the daemon beside the relay, for what the proxy must
 * know about an object before it forwards a request (proxy/owner.c).
 *
 * 1. inspect_get() with the daemon's socket and an origin-form path (already
 *    escaped): the request is written at once, the answer read on the loop.
 * 2. done(arg, status, body) runs once: the HTTP status and the parsed JSON
 *    body (NULL if none; the callee takes a reference if it keeps it), or
 *    status 0 when the daemon could not be asked or took too long.
 * 3. inspect_cancel() before that drops it: done is then never called.
 */
#ifndef CI_WRAP_INSPECT_H
#define CI_WRAP_INSPECT_H

#include <ev.h>
#include <jansson.h>

/* An answer larger than this is not read (status 0). */
#define INSPECT_ANSWER_MAX (8u * 1024 * 1024)
#define INSPECT_TIMEOUT_S 10.0

struct inspect;

typedef void (*inspect_done_fn)(void *arg, int status, json_t *body);

/* NULL (and done not called) when the request could not be sent. */
struct inspect *inspect_get(struct ev_loop *loop, const char *socket_path, const char *path,
			    inspect_done_fn done, void *arg);

/* inspect_get() for an answer of up to max bytes (INSPECT_ANSWER_MAX is
 * an object's; a list of thousands of images is tens of MiB). */
struct inspect *inspect_get_max(struct ev_loop *loop, const char *socket_path, const char *path,
				size_t max, inspect_done_fn done, void *arg);

void inspect_cancel(struct inspect *q);

/* Percent-escape a name for a path segment (keeps '/' and ':' as the
 * daemon's router reads them unescaped alike). Returns 0, -1 if out is too
 * small. */
int inspect_escape(const char *name, char *out, size_t outsz);

#endif
