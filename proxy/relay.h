/* relay.h - the byte relay and the handlers that ride on it.
 *
 * relay.c moves bytes: buffers, watchers, HTTP framing, hijacked streams,
 * the connection's lifetime. What a request means is the handlers' (the
 * hooks at the end of this file, request.c and body.c): they route it,
 * check it, rewrite it, and read its answer. They act on the connection
 * only through the calls below, so the relay stays the one tested path.
 */
#ifndef CI_WRAP_RELAY_H
#define CI_WRAP_RELAY_H

#include <stdbool.h>
#include <stddef.h>

#include "proxy-internal.h"

/* ---- what handlers may ask of the relay ---------------------------------- */

/* Answer the request with a Docker-style error, then close: after a
 * refusal the framing of what follows can no longer be trusted. */
void relay_refuse(struct conn *c, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Answer the request with bytes of our own (the daemon never sees it),
 * then close. */
void relay_answer_close(struct conn *c, const char *answer, size_t len);

/* The request's head goes on as the client sent it; its body is relayed
 * as it comes. */
void relay_head_pass(struct conn *c);

/* The head is replaced by head (malloc'd, taken over); the body is relayed
 * as it comes. */
void relay_head_replace(struct conn *c, char *head, size_t len);

/* The head is held back (the handler copied what it needs); the body is
 * collected (body.c) to be rewritten. */
void relay_head_hold(struct conn *c);

/* Release the body's last bytes, held back while a handler read the
 * body as it passed (c->buildctx): the daemon may have it all now. */
void relay_release_tail(struct conn *c);

/* Queue heap blocks (taken over; NULL or empty ones skipped) for the
 * daemon, ahead of anything else of the request still in the buffer. */
void relay_inject(struct conn *c, char *mem[3], const size_t len[3]);

/* The request is all with the daemon (or queued for it): its cycle ends
 * once the answer is in. */
void relay_forwarded(struct conn *c);

/* Queue an interim answer (100 Continue) for the client; -1 if no room. */
int relay_interim(struct conn *c, const char *answer, size_t len);

/* A step waited on something asynchronous and has finished: parse on,
 * then flush and re-arm (the callback came from outside c's watchers). */
void relay_resumed(struct conn *c);

/* A filter's check answered: parse the answer on unless it paused again. */
void conn_filter_continue(struct conn *c);

/* Close once the current answer is sent. */
void conn_close_after(struct conn *c);

static inline bool conn_dead(const struct conn *c)
{
	return c->end == END_DEAD;
}

/* ---- the handlers' hooks, called by the relay ------------------------------ */

/* request.c: a request head is complete and framed; route it and send it
 * on, collect its body, wait, or refuse it. */
void request_on_head(struct conn *c);
/* request.c: a piece of a body relayed as it comes, for a handler that
 * reads it on the way (c->buildctx). */
void request_on_body(struct conn *c, const char *at, size_t n);
/* request.c: the request is read whole. */
void request_on_complete(struct conn *c);
/* request.c: the request and its answer are done with. */
void request_cycle_end(struct conn *c);
/* request.c: the connection is freed mid-request. */
void request_free(struct conn *c);

/* request.c: the answer's final head, each piece of its body (true: pause
 * the answer's parser until conn_filter_continue()), and its end. */
void answer_on_head(struct conn *c, int status);
bool answer_on_body(struct conn *c, const char *at, size_t n);
void answer_on_done(struct conn *c);

/* body.c: a piece of a body being collected; 0, or the HTTP status to
 * refuse it with (413 too large, 503 over the proxy's budget). */
int body_collect(struct conn *c, const char *at, size_t n);

#endif
