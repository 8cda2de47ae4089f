/* refs.c - what a request body names (see refs.h).
 *
 * A container create names its image, the networks it joins
 * (HostConfig.NetworkMode, NetworkingConfig.EndpointsConfig), containers
 * whose namespaces or volumes it shares ("container:X" modes, VolumesFrom,
 * Links), and volumes it mounts (named Binds, Mounts of type volume). None
 * of those uses alters the object; a network connect or disconnect alters
 * the container it names.
 */
#include "refs.h"

#include <string.h>

#include "../common/kinds.h"

/* The references found so far. */
struct refs_acc {
	json_t *list; /* what refs_of_body() returns */
	json_t *seen; /* "kind/alters/name" of each, to name each once */
};

/* A missing object named in a create's body is a 400 from the daemon (a
 * create with VolumesFrom of no container), but for the image: a 404 there
 * makes the docker CLI pull it. A connect's missing container is a 404. */
static int missing_status(enum resource_kind kind, bool alters)
{
	return kind == RESOURCE_IMAGE || alters ? 404 : 400;
}

static void add(struct refs_acc *refs, enum resource_kind kind, const char *name, size_t len,
		bool alters)
{
	json_t *n = json_stringn(name, len);
	char key[600];

	if (n == NULL || len == 0 || len > 512) {
		json_decref(n);
		return;
	}
	/* One check per object: 200,000 binds may name 50 volumes. */
	snprintf(key, sizeof(key), "%s/%d/%s", kind_name(kind), alters, json_string_value(n));
	if (json_object_get(refs->seen, key) != NULL) {
		json_decref(n);
		return;
	}
	json_object_set_new(refs->seen, key, json_true());
	json_array_append_new(refs->list, json_pack("{s:s,s:o,s:b,s:i}", "kind", kind_name(kind), "name",
					      n, "alters", alters, "missing",
					      missing_status(kind, alters)));
}

static void add_str(struct refs_acc *refs, enum resource_kind kind, json_t *s, bool alters)
{
	if (json_is_string(s))
		add(refs, kind, json_string_value(s), json_string_length(s), alters);
}

/* "container:X" of NetworkMode, PidMode, IpcMode. */
static bool add_container_mode(struct refs_acc *refs, json_t *mode)
{
	const char *m = json_string_value(mode);

	if (m == NULL || strncmp(m, "container:", 10) != 0)
		return false;
	add(refs, RESOURCE_CONTAINER, m + 10, strlen(m + 10), false);
	return true;
}

static bool builtin_network(const char *m)
{
	static const char *const names[] = { "", "default", "bridge", "host", "none" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(m, names[i]) == 0)
			return true;
	return false;
}

/* "X[:mode]" entries: VolumesFrom (container), Links (container:alias),
 * named Binds (volume:/path). */
static void add_prefixes(struct refs_acc *refs, json_t *list, enum resource_kind kind)
{
	json_t *v;
	size_t i;

	json_array_foreach(list, i, v)
	{
		const char *s = json_string_value(v);

		if (s == NULL || (kind == RESOURCE_VOLUME && (s[0] == '/' || !strchr(s, ':'))))
			continue;
		add(refs, kind, s + (kind == RESOURCE_CONTAINER && s[0] == '/'), strcspn(s, ":") -
			    (kind == RESOURCE_CONTAINER && s[0] == '/'), false);
	}
}

static void add_mounts(struct refs_acc *refs, json_t *mounts)
{
	json_t *m;
	size_t i;

	json_array_foreach(mounts, i, m)
	{
		json_t *type = rewrite_folded_value(m, "type");

		if (json_is_string(type) && strcmp(json_string_value(type), "volume") == 0)
			add_str(refs, RESOURCE_VOLUME, rewrite_folded_value(m, "source"), false);
	}
}

static void host_config_refs(struct refs_acc *refs, json_t *hc)
{
	json_t *mode = rewrite_folded_value(hc, "networkmode");

	if (!add_container_mode(refs, mode) && json_is_string(mode) &&
	    !builtin_network(json_string_value(mode)))
		add_str(refs, RESOURCE_NETWORK, mode, false);
	add_container_mode(refs, rewrite_folded_value(hc, "pidmode"));
	add_container_mode(refs, rewrite_folded_value(hc, "ipcmode"));
	add_prefixes(refs, rewrite_folded_value(hc, "volumesfrom"), RESOURCE_CONTAINER);
	add_prefixes(refs, rewrite_folded_value(hc, "links"), RESOURCE_CONTAINER);
	add_prefixes(refs, rewrite_folded_value(hc, "binds"), RESOURCE_VOLUME);
	add_mounts(refs, rewrite_folded_value(hc, "mounts"));
}

static void create_refs(struct refs_acc *refs, json_t *root)
{
	json_t *endpoints = rewrite_folded_value(rewrite_folded_value(root, "networkingconfig"),
						 "endpointsconfig");
	const char *name;
	json_t *v;

	add_str(refs, RESOURCE_IMAGE, rewrite_folded_value(root, "image"), false);
	host_config_refs(refs, rewrite_folded_value(root, "hostconfig"));
	json_object_foreach(endpoints, name, v)
	{
		if (!builtin_network(name))
			add(refs, RESOURCE_NETWORK, name, strlen(name), false);
	}
}

json_t *refs_of_body(enum rewrite_kind kind, const char *body, size_t len)
{
	json_t *root = json_loadb(body, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	struct refs_acc refs = { json_array(), json_object() };

	if (json_is_object(root)) {
		if (kind == REWRITE_CONTAINER_CREATE)
			create_refs(&refs, root);
		else if (kind == REWRITE_NETWORK_CONNECT)
			add_str(&refs, RESOURCE_CONTAINER, rewrite_folded_value(root, "container"),
				true);
	}
	json_decref(root);
	json_decref(refs.seen);
	if (json_array_size(refs.list) == 0) {
		json_decref(refs.list);
		return NULL;
	}
	return refs.list;
}
