/* kinds.c - the table of the daemon's kinds of object (see kinds.h).
 *
 * Lists and inspects keep labels in different places: a container's list
 * item has "Labels", its inspect "Config.Labels"; swarm objects keep theirs
 * in "Spec.Labels" everywhere. Teardown order is the SPEC's: services first
 * (they respawn containers), then containers, networks, volumes, secrets
 * and configs, images last (containers may still use them).
 */
#include "kinds.h"

#include <string.h>

#include "util.h"

static const struct kind_info kinds[RESOURCE__COUNT] = {
	[RESOURCE_CONTAINER] = { RESOURCE_CONTAINER, "container", "/containers",
				 "/containers/json?all=1&", NULL, "Id", "Labels",
				 "/containers/%s/json", "Config.Labels", "?force=1&v=1",
				 "No such container: %s", 2, false },
	[RESOURCE_NETWORK] = { RESOURCE_NETWORK, "network", "/networks", "/networks?", NULL, "Id",
			       "Labels", "/networks/%s", "Labels", "", "network %s not found", 3,
			       false },
	[RESOURCE_VOLUME] = { RESOURCE_VOLUME, "volume", "/volumes", "/volumes?", "Volumes",
			      "Name", "Labels", "/volumes/%s", "Labels", "",
			      "get %s: no such volume", 4, false },
	/* noprune: the untagged parents of a session's image may be cache
	 * from before the session; the steps its builds made go by ID. */
	[RESOURCE_IMAGE] = { RESOURCE_IMAGE, "image", "/images", "/images/json?", NULL, "Id",
			     "Labels", "/images/%s/json", "Config.Labels", "?force=1&noprune=1",
			     "No such image: %s", 7, false },
	[RESOURCE_SERVICE] = { RESOURCE_SERVICE, "service", "/services", "/services?", NULL, "ID",
			       "Spec.Labels", "/services/%s", "Spec.Labels", "",
			       "service %s not found", 1, true },
	[RESOURCE_SECRET] = { RESOURCE_SECRET, "secret", "/secrets", "/secrets?", NULL, "ID",
			      "Spec.Labels", "/secrets/%s", "Spec.Labels", "",
			      "secret %s not found", 5, true },
	[RESOURCE_CONFIG] = { RESOURCE_CONFIG, "config", "/configs", "/configs?", NULL, "ID",
			      "Spec.Labels", "/configs/%s", "Spec.Labels", "",
			      "config %s not found", 6, true },
};

const struct kind_info *kind_info(enum resource_kind kind)
{
	return kind > RESOURCE_NONE && kind < RESOURCE__COUNT ? &kinds[kind] : &kinds[0];
}

enum resource_kind kind_by_name(const char *name)
{
	for (int k = RESOURCE_NONE + 1; k < RESOURCE__COUNT; k++)
		if (strcmp(name, kinds[k].name) == 0 || strcmp(name, kinds[k].collection) == 0)
			return (enum resource_kind)k;
	return RESOURCE_NONE;
}

const enum resource_kind *kind_teardown_order(size_t *n)
{
	static enum resource_kind order[RESOURCE__COUNT];
	static size_t count;

	if (count == 0) {
		for (int rank = 1; rank < RESOURCE__COUNT; rank++)
			for (int k = RESOURCE_NONE + 1; k < RESOURCE__COUNT; k++)
				if (kinds[k].teardown_order == rank)
					order[count++] = (enum resource_kind)k;
	}
	*n = count;
	return order;
}

const char *kind_name(enum resource_kind kind)
{
	return kind_info(kind)->name ? kind_info(kind)->name : "resource";
}

json_t *kind_labels(json_t *object, const char *where)
{
	const char *dot;
	char key[64];

	while (object && (dot = strchr(where, '.')) != NULL) {
		if ((size_t)(dot - where) >= sizeof(key))
			return NULL;
		memcpy(key, where, (size_t)(dot - where));
		key[dot - where] = '\0';
		object = json_object_get(object, key);
		where = dot + 1;
	}
	return object ? json_object_get(object, where) : NULL;
}
