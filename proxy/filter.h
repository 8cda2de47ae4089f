/* filter.h - answers rewritten on their way to the client: lists and the
 * event stream with other sessions' objects left out (proxy/owner.h).
 *
 * 1. filter_begin() when a request is forwarded: does its answer need it?
 * 2. filter_head() when the answer's head is parsed (its status decides),
 *    filter_body() with each piece of its body (framing taken off),
 *    filter_end() when it is complete.
 * 3. The relay asks filter_hold() what to do with the answer's raw bytes,
 *    and writes what filter_take_output() hands it instead.
 * 4. filter_reset() when the request's cycle ends, filter_free() with the
 *    connection.
 */
#ifndef CI_WRAP_FILTER_H
#define CI_WRAP_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/kinds.h"

struct conn;
struct owner_refs;

/* An event longer than this is dropped (fail closed). */
#define FILTER_EVENT_MAX (1024 * 1024)
/* Filtered output waiting for the client: past this, the daemon is not read. */
#define FILTER_OUT_MAX (1024 * 1024)

struct answer_filter {
	enum resource_kind list; /* a list of this kind, or RESOURCE_NONE */
	bool events;		 /* the event stream */
	bool decided;		 /* the answer's head was parsed */
	bool active;		 /* its body is being filtered (a 200) */
	char *body;		 /* the list so far, or the current event */
	size_t len, cap;	 /* its length and allocation */
	char *out;		 /* filtered bytes the client has still to get */
	size_t out_len, out_cap; /* their length and allocation */
	bool paused;		 /* events: the answer's parser waits for a verdict */
	char *held;		 /* the event waiting for it */
	size_t held_len;	 /* its length */
	char *rest;		 /* body bytes after it, not yet split into events */
	size_t rest_len;	 /* their length */
	struct owner_refs *q;	 /* the check of the held event's objects */
};

/* What the relay does with the raw bytes of the answer it just parsed. */
enum filter_hold {
	FILTER_RELAY, /* forward them: nothing to filter */
	FILTER_HOLD,  /* keep them: the head is not complete yet */
	FILTER_CUT,   /* drop them: filter_take_output() replaces them */
};

void filter_begin(struct conn *c, uint8_t method, const char *canonical);
void filter_head(struct conn *c, int status, bool head_request);
/* Returns true when the answer's parser must pause: an event waits for a
 * check of its object; conn_filter_continue() is called once it is known. */
bool filter_body(struct conn *c, const char *at, size_t n);
void filter_end(struct conn *c);
enum filter_hold filter_hold(const struct conn *c);

/* The output so far (malloc'd, the caller frees it) in *len, or NULL. */
char *filter_take_output(struct conn *c, size_t *len);

/* Is output waiting, past the point the daemon should be read further? */
bool filter_backlogged(const struct conn *c);

/* The request's cycle ends: output not yet taken is kept. */
void filter_reset(struct conn *c);

/* The connection is freed. */
void filter_free(struct conn *c);

#endif
