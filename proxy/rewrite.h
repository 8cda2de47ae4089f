/* rewrite.h - put the session's labels (and cgroup parent) into create calls.
 *
 * The proxy calls rewrite_body() with a whole JSON body, or rewrite_query()
 * with a query string, and forwards what comes back. The JSON is read the way
 * the daemon's Go decoder reads it, so no spelling can carry a second set of
 * labels past the rewrite: keys match case-insensitively (with Go's Unicode
 * folds), the last duplicate wins, bytes after the first value are ignored,
 * invalid UTF-8 becomes U+FFFD.
 */
#ifndef CI_WRAP_REWRITE_H
#define CI_WRAP_REWRITE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "../common/error.h"
#include "../common/kinds.h"

enum rewrite_kind {
	REWRITE_NONE,		  /* leave as it is */
	REWRITE_CONTAINER_CREATE, /* body: Labels, HostConfig.CgroupParent */
	REWRITE_LABELS,		  /* body: Labels at the top (networks, volumes, swarm) */
	REWRITE_COMMIT,		  /* body: Labels at the top; empty or null becomes {} */
	REWRITE_START_BODY,	  /* body: only none, {} or null, forwarded as none */
	REWRITE_BUILD_QUERY,	  /* query: labels= (JSON), cgroupparent= */
	REWRITE_CHANGES_QUERY,	  /* query: a last changes=LABEL ... (commit) */
	REWRITE_IMPORT_QUERY,	  /* query: as CHANGES, for fromSrc= imports only */
	REWRITE_PRUNE_QUERY,	  /* query: filters= narrowed to the session's label */
	REWRITE_NETWORK_CONNECT,  /* body: read for the container it names, sent as it is */
};

struct sockmount;

/* Most named volumes one container create may make the proxy create first
 * (from its Binds); more is refused with 403. */
#define REWRITE_MAX_IMPLICIT_VOLUMES 256

struct rewrite_spec {
	json_t *labels;		   /* object of string values every resource gets */
	const char *cgroup_parent; /* forced cgroup parent, NULL for none */
	size_t max_body;	   /* largest body rewritten; larger is 413 */
	const struct sockmount *sockets; /* daemon socket mounts to swap, or NULL */
	unsigned deny;		   /* enum policy_rule bits refused (--deny), 0 for none */
	char *const *allow_binds;  /* --allow-bind directories (policy_bind_dir()) */
	size_t nallow_binds;	   /* how many; 0: any host path may be bound */
};

/* Rewrite body[0..len) for kind. On success returns 0 and a malloc'd *out;
 * if volumes is not NULL, *volumes is NULL or, for a container create whose
 * binds name volumes ("name:/path"), an array of volume create bodies that
 * carry our labels: the proxy creates them first, so the daemon does not
 * create them unlabelled. On refusal returns -HTTP status (400, 413, 415)
 * and fills err->msg. */
int rewrite_body(enum rewrite_kind kind, const struct rewrite_spec *spec, const char *body,
		 size_t len, char **out, size_t *outlen, json_t **volumes, struct cw_error *err);

/* Rewrite query[0..len) ('?' excluded) for kind. Returns 1 and a malloc'd
 * *out when changed, 0 when the query is to be kept, -HTTP status on refusal. */
int rewrite_query(enum rewrite_kind kind, const struct rewrite_spec *spec, const char *query,
		  size_t len, char **out, size_t *outlen, struct cw_error *err);

/* Does the query (as Go's url.ParseQuery reads it) have a pair key=value? */
bool rewrite_query_has(const char *query, size_t len, const char *key, const char *value);

/* The decoded value of the query's first key (Go's r.FormValue), malloc'd;
 * "" when absent, NULL when it cannot be decoded or is over max bytes. */
char *rewrite_query_get(const char *query, size_t len, const char *key, size_t max);

/* The value of obj's last key folding to ascii_lower (Go: the last one
 * decoded wins), or NULL. */
json_t *rewrite_folded_value(json_t *obj, const char *ascii_lower);

/* Does key equal ascii_lower under Go's encoding/json folding, old (Go <=
 * 1.20) and new (1.21+, SimpleFold orbits), which agree on ASCII names:
 * ASCII case, U+017F for 's', U+212A for 'k'? */
int rewrite_key_folds_to(const char *key, const char *ascii_lower);

#endif
