/* request.h - a request's handling, as steps (request.c, body.c).
 *
 * A request goes through steps: those of its head when the head is
 * complete (route, policy, ownership, forward), then, if its body is
 * collected to be rewritten, those of its body once it is whole (rewrite,
 * check what it names, send). A step goes on (STEP_NEXT), stops the request
 * (STEP_STOP: it was refused or answered), or waits (STEP_WAIT) for
 * something asynchronous that ends in request_step_done(). The hooks the
 * relay calls are in relay.h.
 */
#ifndef CI_WRAP_REQUEST_H
#define CI_WRAP_REQUEST_H

#include "proxy-internal.h"

/* A waiting step has its answer: 0 goes on with the next step, anything
 * else refuses the request with that status and msg. */
void request_step_done(struct conn *c, int status, const char *msg);

/* body.c: the steps of a collected body, in this order. */
enum step_result body_rewrite(struct conn *c);	  /* here, or on the worker */
enum step_result body_check_refs(struct conn *c); /* the objects it names */
enum step_result body_send(struct conn *c);	  /* queue it for the daemon */

/* body.c: free what a collected body holds (idempotent). */
void body_release(struct conn *c);

/* build-base.c: a build's context read as it passes (isolation), its base
 * images checked once it is whole, then its held tail released. */
enum step_result build_base_begin(struct conn *c);   /* a head step */
void build_base_feed(struct conn *c, const char *at, size_t n);
enum step_result build_base_check(struct conn *c);   /* the body's steps */
enum step_result build_base_release(struct conn *c);
void build_base_free(struct conn *c);		     /* idempotent */

#endif
