/* route.h - what the proxy does with a request: the routing table.
 *
 * 1. route_canonical_path() reduces a request target to the path the daemon's
 *    router would match (decoded, cleaned, lower-case, version prefix dropped).
 * 2. route_lookup() returns the table row for (method, canonical path).
 * Later features add rows here; the relay never changes for them.
 */
#ifndef CI_WRAP_ROUTE_H
#define CI_WRAP_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "rewrite.h"

enum route_flags {
	ROUTE_HIJACK = 1 << 0,	  /* the daemon may turn the connection into a raw stream */
	ROUTE_DRAIN_WAIT = 1 << 1, /* teardown waits for it: it may create something */
	ROUTE_IMAGE_LOAD = 1 << 2, /* the answer names the images loaded */
};

struct route {
	uint8_t method;		     /* llhttp method (HTTP_POST, ...) */
	const char *pattern;	     /* canonical path; "*" matches one segment */
	unsigned flags;		     /* enum route_flags */
	enum rewrite_kind body;	     /* rewrite of the JSON body, REWRITE_NONE to relay it */
	enum rewrite_kind query;     /* rewrite of the query string, REWRITE_NONE to keep it */
	enum resource_kind creates;  /* what a 2xx answer created, for the counters */
};

/* Longest request path (before the query) the proxy routes; longer is 414. */
#define ROUTE_PATH_MAX 4096

/* Reduce target (origin-form or absolute-form, not NUL-terminated) to its
 * canonical path in out (NUL-terminated). Returns 0, or -1 when the target
 * cannot be a valid request target (bad escape, NUL, too long). */
int route_canonical_path(const char *target, size_t len, char *out, size_t outsz);

/* The row for method and canonical path; never NULL (a relay row if none). */
const struct route *route_lookup(uint8_t method, const char *canonical);

/* Offset of the query string in target ('?' excluded), or len if none. */
size_t route_query_offset(const char *target, size_t len);

#endif
