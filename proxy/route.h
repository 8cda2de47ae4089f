/* route.h - what the proxy does with a request: the routing table.
 *
 * 1. route_canonical_path() reduces a request target to the path the daemon's
 *    router would match (decoded, cleaned, lower-case, version prefix dropped).
 * 2. route_lookup() returns the table row for (method, canonical path).
 * 3. route_policy() says whether the operator's --allow groups let it through.
 * The table is the daemon's whole write surface: a write it does not name is
 * refused (fail closed). docs/write-surface.md is printed from it
 * (route_print_table). Later features add rows here; the relay never changes
 * for them.
 */
#ifndef CI_WRAP_ROUTE_H
#define CI_WRAP_ROUTE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rewrite.h"

enum route_flags {
	ROUTE_HIJACK = 1 << 0,	  /* the daemon may turn the connection into a raw stream */
	ROUTE_DRAIN_WAIT = 1 << 1, /* teardown waits for it: it may create something */
	ROUTE_IMAGE_LOAD = 1 << 2, /* the answer names the images loaded */
	ROUTE_BODY_IF_ANY = 1 << 3, /* the body rewrite runs only when a body is sent */
	ROUTE_BUILDKIT = 1 << 4,   /* refused as BuildKit when the query asks version=2 */
	ROUTE_ALTERS = 1 << 5,	   /* destroys or changes the object its path names */
	ROUTE_PRUNE_NOTHING = 1 << 6, /* a prune of what has no owner: answered "none pruned" */
	ROUTE_IMAGE_TAG = 1 << 7,  /* a 2xx answer put the query's repo:tag on an image */
};

/* What ci-wrap does with a route (docs/write-surface.md, generated from the
 * table). */
enum route_action {
	ROUTE_READ,    /* changes nothing: relayed */
	ROUTE_RELAY,   /* changes state the session may change: relayed as is */
	ROUTE_REWRITE, /* labelled or constrained on the way (body or query) */
	ROUTE_TRACK,   /* relayed, what it made is read from the answer for teardown */
	ROUTE_REFUSE,  /* refused unless its group is allowed (--allow) */
};

/* Groups of refused routes an operator can relay with --allow NAME. */
enum route_group {
	ROUTE_GROUP_BUILDKIT = 1 << 0,	  /* "buildkit": /build?version=2, /grpc */
	ROUTE_GROUP_PLUGINS = 1 << 1,	  /* "plugins": install, enable, configure */
	ROUTE_GROUP_SWARM = 1 << 2,	  /* "swarm": init/join/leave, updates of objects */
	ROUTE_GROUP_PRUNE = 1 << 3,	  /* "prune": removes objects not the session's */
	ROUTE_GROUP_CHECKPOINTS = 1 << 4, /* "checkpoints": experimental CRIU dumps */
	ROUTE_GROUP_UNKNOWN = 1 << 5,	  /* "unknown": a write route not in the table */
};

struct route {
	uint8_t method;		     /* llhttp method (HTTP_POST, ...) */
	const char *pattern;	     /* canonical path; "*" one segment, "**" one or more */
	unsigned flags;		     /* enum route_flags */
	enum rewrite_kind body;	     /* rewrite of the JSON body, REWRITE_NONE to relay it */
	enum rewrite_kind query;     /* rewrite of the query string, REWRITE_NONE to keep it */
	enum resource_kind creates;  /* what a 2xx answer created, for the counters */
	enum route_action action;    /* what ci-wrap does with it */
	unsigned group;		     /* enum route_group that relays it when refused, or 0 */
	const char *api;	     /* API versions (1.12-1.41) whose handler differs, or "" */
	const char *why;	     /* what it does to the daemon's state, and why the action */
};

/* Longest request path (before the query) the proxy routes; longer is 414. */
#define ROUTE_PATH_MAX 4096

/* Reduce target (origin-form or absolute-form, not NUL-terminated) to its
 * canonical path in out (NUL-terminated). Returns 0, or -1 when the target
 * cannot be a valid request target (bad escape, NUL, too long). */
int route_canonical_path(const char *target, size_t len, char *out, size_t outsz);

/* The same path with its case kept: names of objects are case-sensitive.
 * Byte for byte the canonical path but for case. */
int route_decoded_path(const char *target, size_t len, char *out, size_t outsz);

/* The row for method and canonical path; never NULL: a read row for a
 * GET, HEAD or OPTIONS the table does not name, a refused row (group
 * "unknown") for any other method. */
const struct route *route_lookup(uint8_t method, const char *canonical);

/* Is the request refused? 0 to go on; -403 with a Docker-style message
 * ("ci-wrap: refused ...: why; the option") in msg otherwise. path is the
 * canonical path, allow the operator's enum route_group mask; query[0..qlen) the raw query string. */
int route_policy(const struct route *r, uint8_t method, const char *path, const char *query,
		 size_t qlen, unsigned allow, char *msg, size_t msgsz);

/* Parse "swarm,plugins" (names of enum route_group) into *mask (added to it).
 * Returns 0, or -1 with the unknown name in bad. */
int route_allow_parse(const char *list, unsigned *mask, char *bad, size_t badsz);

/* The group names, comma-separated, for --help and messages. */
const char *route_allow_names(void);

/* Print the table as docs/write-surface.md's generated Markdown block. */
void route_print_table(FILE *f);

/* Offset of the query string in target ('?' excluded), or len if none. */
size_t route_query_offset(const char *target, size_t len);

#endif
