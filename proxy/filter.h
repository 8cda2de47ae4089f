/* filter.h - answers rewritten on their way to the client: lists and the
 * event stream with other sessions' objects left out (proxy/owner.h), both
 * streamed, item by item and event by event.
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
/* A list item longer than this is left out (fail closed). */
#define FILTER_ITEM_MAX (1024 * 1024)
/* Filtered output waiting for the client: past this, the daemon is not read. */
#define FILTER_OUT_MAX (1024 * 1024)
/* Containers nest at most this deep in a list, as jansson reads it
 * (JSON_PARSER_MAX_DEPTH). */
#define FILTER_DEPTH_MAX 2048
/* Nesting levels whose role in the list is kept: the wrapper, the list, an
 * item and the objects on the way to its labels all lie within this many. */
#define FILTER_ROLE_DEPTH 8
/* Keys on the way from a list item to its labels, at most. */
#define FILTER_PATH_MAX 4

/* A list answer read byte by byte as it passes (filter.c): JSON as jansson
 * reads it, split into the list's items, each item's labels found. */
struct list_scan {
	int state;		/* enum scan_state: what the next byte may be */
	uint16_t depth;		/* containers open */
	uint8_t objects[FILTER_DEPTH_MAX / 8]; /* per level: object (1) or array (0) */
	uint8_t roles[FILTER_ROLE_DEPTH + 1];  /* per level from 1: enum list_role */
	int next_role;		/* the role of the value after the key just read */
	bool key;		/* the string being read is a key */
	bool session_value;	/* ... the value of an item's ci-wrap.session label */
	const char *word;	/* true, false or null, being read */
	int word_at;		/* letters of it read */
	int need;		/* hex digits or UTF-8 continuation bytes still due */
	int utf8_len;		/* the UTF-8 character's length */
	uint32_t code;		/* the \u escape's or UTF-8 character's value so far */
	uint32_t high;		/* a high surrogate waiting for its low half, or 0 */
	const char *want;	/* the string being read is compared with this, or NULL */
	size_t want_len, want_at; /* its length; bytes of it matched so far */
	bool match;		/* the string matches want so far */
	const char *items_key;	/* the kind's key of the list in the answer, or NULL */
	const char *path[FILTER_PATH_MAX]; /* the keys of the kind's path to an item's labels */
	size_t path_len[FILTER_PATH_MAX];  /* their lengths */
	int path_n;		/* their number ("Spec.Labels": 2) */
	const char *session;	/* our ci-wrap.session value */
	bool verbatim;		/* bytes outside the list: copied out as they come */
	bool in_item;		/* an item is being read (af->body: its earlier pieces) */
	uint16_t item_depth;	/* the depth of its list */
	int owner;		/* its enum owner_class so far */
	bool item_long;		/* it outgrew FILTER_ITEM_MAX: left out */
	bool kept;		/* an item of this list went out: the next needs a comma */
};

struct answer_filter {
	enum resource_kind list; /* a list of this kind, or RESOURCE_NONE */
	bool events;		 /* the event stream */
	bool http10;		 /* an HTTP/1.0 request: no chunks, the answer ends at close */
	bool decided;		 /* the answer's head was parsed */
	bool active;		 /* its body is being filtered (a 200) */
	char *body;		 /* the current list item so far, or the current event */
	size_t len, cap;	 /* its length and allocation */
	char *out;		 /* filtered bytes the client has still to get */
	size_t out_len, out_cap; /* their length and allocation */
	bool head_sent;		 /* lists: our head is in out (a chunked answer) */
	size_t chunk_at;	 /* lists: where in out the open chunk starts, or SIZE_MAX */
	struct list_scan scan;	 /* lists: the answer read so far */
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
