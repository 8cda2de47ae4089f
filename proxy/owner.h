/* owner.h - whose object a request names, and whether this session may touch
 * it (issue 14's isolation; off with --isolation off).
 *
 * Three classes: the session's own objects (labelled with its id, or made
 * by it unlabelled: proxy/track.h), another session's (labelled with
 * another id: answered as the daemon answers for a missing object, 404),
 * and everything made outside ci-wrap (usable, but a request that destroys
 * or alters it is refused, 403).
 *
 * 1. owner_new() with the proxy's loop, config and tracker.
 * 2. owner_check() when a request's head is routed: allowed at once,
 *    refused at once, or pending on one inspect (cached by full ID).
 * 3. owner_list_filter() on a list's answer, owner_event_check() on each
 *    event: other sessions' objects are left out.
 */
#ifndef CI_WRAP_OWNER_H
#define CI_WRAP_OWNER_H

#include <ev.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/kinds.h"
#include "proxy.h"

struct track;
struct owner;
struct owner_query;

enum owner_class {
	OWNER_OURS,    /* the session's */
	OWNER_OTHER,   /* another ci-wrap session's */
	OWNER_FOREIGN, /* made outside ci-wrap */
};

/* A request's subject: the kind and the name its path gives. */
struct owner_subject {
	enum resource_kind kind; /* RESOURCE_NONE: the request names no object */
	bool via_exec;		 /* an exec instance: the container it runs in decides */
	char name[512];		 /* as the daemon decodes it (case kept) */
};

/* Called once with 0 (go on) or an HTTP status and a message to refuse with. */
typedef void (*owner_done_fn)(void *arg, int status, const char *msg);

struct owner *owner_new(struct ev_loop *loop, const struct proxy_config *cfg, struct track *track);
void owner_free(struct owner *o);

/* The subject of a request: method, its canonical path and the same path
 * decoded with its case kept (route_decoded_path()). */
void owner_subject(uint8_t method, const char *canonical, const char *decoded,
		   struct owner_subject *s);

/* May the request go on? alters: the route destroys or changes its subject
 * (ROUTE_ALTERS). Returns 0 to go on, a negative HTTP status with msg filled
 * to refuse, or 1: pending, *q set, done(arg, ...) called later (unless
 * owner_cancel(*q) comes first). */
int owner_check(struct owner *o, uint8_t method, const char *canonical, const char *decoded,
		bool alters, owner_done_fn done, void *arg, struct owner_query **q, char *msg,
		size_t msgsz);

void owner_cancel(struct owner_query *q);

struct owner_refs;

/* owner_check() for each object refs (refs_of_body()) names, at once: 0,
 * -status with msg (the first refusal), or 1 with *r pending. */
int owner_check_refs(struct owner *o, json_t *refs, owner_done_fn done, void *arg,
		     struct owner_refs **r, char *msg, size_t msgsz);

void owner_refs_cancel(struct owner_refs *r);

/* The class of an object by its labels (NULL: none) for session. */
enum owner_class owner_class_of(const char *session, json_t *labels);

/* Is the list a GET of one of the kinds' lists ("/containers/json",
 * "/networks", ...)? Its kind, else RESOURCE_NONE. */
enum resource_kind owner_list_kind(uint8_t method, const char *canonical);

/* Drop other sessions' objects from a list answer (kind's shape) in place. */
void owner_list_filter(const char *session, enum resource_kind kind, json_t *answer);

struct owner_refs;

/* Keep an event (GET /events, one object)? Containers and images carry
 * their labels in Actor.Attributes; of a network or a volume, the object is
 * asked about (and the container a network event names). 0 keep, -1 leave
 * out, 1 pending: done(arg, 0 to keep, ...) later, unless
 * owner_refs_cancel(*r). */
int owner_event_check(struct owner *o, json_t *event, owner_done_fn done, void *arg,
		      struct owner_refs **r);

/* The session's id (the ci-wrap.session label's value). */
const char *owner_session(const struct owner *o);

#endif
