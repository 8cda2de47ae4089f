/* kinds.h - the daemon's kinds of object a session can make: one table.
 *
 * Routing (creates), ownership (inspect, missing-object message), list
 * filtering, teardown (list, remove, order), reap (label scan) and the report
 * all iterate kind_table(); a new kind is one row of common/kinds.c.
 */
#ifndef CI_WRAP_KINDS_H
#define CI_WRAP_KINDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum resource_kind {
	RESOURCE_NONE,	    /* creates nothing */
	RESOURCE_CONTAINER, /* POST /containers/create */
	RESOURCE_NETWORK,   /* POST /networks/create */
	RESOURCE_VOLUME,    /* POST /volumes/create */
	RESOURCE_IMAGE,	    /* build, commit, import */
	RESOURCE_SERVICE,   /* POST /services/create */
	RESOURCE_SECRET,    /* POST /secrets/create */
	RESOURCE_CONFIG,    /* POST /configs/create */
	RESOURCE__COUNT,
};

struct kind_info {
	enum resource_kind kind;  /* which */
	const char *name;	  /* "container": report, registry, messages */
	const char *collection;	  /* "/containers": the path its ids follow */
	const char *list;	  /* list path, before "filters=" ("...?all=1&") */
	const char *items_key;	  /* key of the array in a list answer, NULL: top level */
	const char *id_key;	  /* key of an object's id in lists and inspects */
	const char *list_labels;  /* where a list item keeps its labels ("Labels") */
	const char *inspect;	  /* inspect path, "%s" the id or name */
	const char *inspect_labels; /* where an inspect answer keeps them ("Config.Labels") */
	const char *remove_query; /* after "DELETE <collection>/<id>" in teardown */
	const char *missing;	  /* the daemon's 404 message, "%s" the name asked for */
	int teardown_order;	  /* removed in increasing order; 0: never by label */
	bool swarm;		  /* exists only on a swarm manager */
};

/* The rows, indexed by enum resource_kind (row 0 is RESOURCE_NONE, all NULL). */
const struct kind_info *kind_info(enum resource_kind kind);

/* The kind a name ("container") or collection ("/containers") is, or
 * RESOURCE_NONE. */
enum resource_kind kind_by_name(const char *name);

/* Kinds in teardown order, *n of them (those with teardown_order > 0). */
const enum resource_kind *kind_teardown_order(size_t *n);

/* "container", or "resource" for RESOURCE_NONE. */
const char *kind_name(enum resource_kind kind);

/* The labels object of a list item or inspect answer, where is a row's
 * list_labels or inspect_labels ("Spec.Labels": dot-separated keys), or
 * NULL. */
json_t *kind_labels(json_t *object, const char *where);

#endif
