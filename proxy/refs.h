/* refs.h - the objects a request body names besides the one in its path:
 * what a container create runs from, joins, mounts or shares, and the
 * container a network connect or disconnect names. Ownership checks each
 * (proxy/owner.h) before the request is forwarded.
 *
 * refs_of_body() with the rewrite kind and the body as it will be sent;
 * it returns an array of {"kind": "container", "name": ..., "alters": bool,
 * "missing": the status the daemon answers when the object does not exist}.
 */
#ifndef CI_WRAP_REFS_H
#define CI_WRAP_REFS_H

#include <jansson.h>
#include <stddef.h>

#include "rewrite.h"

/* At most this many objects per body are checked; more is refused (403).
 * Room for the 256 volumes a create's Binds may name (rewrite.h). */
#define REFS_MAX 320

/* The references of body[0..len) (keys read as Go's decoder reads them), or
 * NULL when there are none or the body is not a JSON object (the daemon
 * then refuses it itself). */
json_t *refs_of_body(enum rewrite_kind kind, const char *body, size_t len);

#endif
