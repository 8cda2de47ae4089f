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

/* Every value of obj under a key Go folds to name (a new array), not only
 * the last one Go keeps: jansson keeps a repeated key where it first stood,
 * so the document order of spellings is lost; checking a superset is safe. */
static json_t *folded(json_t *obj, const char *name)
{
	json_t *values = json_array(), *v;
	const char *key;

	json_object_foreach(obj, key, v)
	{
		if (rewrite_key_folds_to(key, name))
			json_array_append(values, v);
	}
	return values;
}

/* Call fn on every value of obj that name folds to. */
static void each_folded(struct refs_acc *refs, json_t *obj, const char *name,
			void (*fn)(struct refs_acc *, json_t *))
{
	json_t *values = folded(obj, name), *v;
	size_t i;

	json_array_foreach(values, i, v)
		fn(refs, v);
	json_decref(values);
}

static bool is_volume_mount(json_t *m)
{
	json_t *types = folded(m, "type"), *t;
	bool volume = false;
	size_t i;

	json_array_foreach(types, i, t)
		volume |= json_is_string(t) && strcmp(json_string_value(t), "volume") == 0;
	json_decref(types);
	return volume;
}

static void add_volume(struct refs_acc *refs, json_t *name)
{
	add_str(refs, RESOURCE_VOLUME, name, false);
}

static void add_mounts(struct refs_acc *refs, json_t *mounts)
{
	json_t *m;
	size_t i;

	json_array_foreach(mounts, i, m)
	{
		if (is_volume_mount(m))
			each_folded(refs, m, "source", add_volume);
	}
}

static void add_network_mode(struct refs_acc *refs, json_t *mode)
{
	if (!add_container_mode(refs, mode) && json_is_string(mode) &&
	    !builtin_network(json_string_value(mode)))
		add_str(refs, RESOURCE_NETWORK, mode, false);
}

static void add_mode(struct refs_acc *refs, json_t *mode)
{
	add_container_mode(refs, mode);
}

static void add_container_list(struct refs_acc *refs, json_t *list)
{
	add_prefixes(refs, list, RESOURCE_CONTAINER);
}

static void add_volume_list(struct refs_acc *refs, json_t *list)
{
	add_prefixes(refs, list, RESOURCE_VOLUME);
}

/* The fields of a HostConfig (also promoted to the top level of a create,
 * which the daemon reads when no HostConfig is sent). */
static void host_config_refs(struct refs_acc *refs, json_t *hc)
{
	each_folded(refs, hc, "networkmode", add_network_mode);
	each_folded(refs, hc, "pidmode", add_mode);
	each_folded(refs, hc, "ipcmode", add_mode);
	each_folded(refs, hc, "volumesfrom", add_container_list);
	each_folded(refs, hc, "links", add_container_list);
	each_folded(refs, hc, "binds", add_volume_list);
	each_folded(refs, hc, "mounts", add_mounts);
}

static void endpoints_refs(struct refs_acc *refs, json_t *endpoints)
{
	const char *name;
	json_t *v;

	json_object_foreach(endpoints, name, v)
	{
		if (!builtin_network(name))
			add(refs, RESOURCE_NETWORK, name, strlen(name), false);
	}
}

static void networking_refs(struct refs_acc *refs, json_t *nc)
{
	each_folded(refs, nc, "endpointsconfig", endpoints_refs);
}

static void add_image(struct refs_acc *refs, json_t *image)
{
	add_str(refs, RESOURCE_IMAGE, image, false);
}

static void create_refs(struct refs_acc *refs, json_t *root)
{
	each_folded(refs, root, "image", add_image);
	host_config_refs(refs, root);
	each_folded(refs, root, "hostconfig", host_config_refs);
	each_folded(refs, root, "networkingconfig", networking_refs);
}

static void add_connected(struct refs_acc *refs, json_t *ctr)
{
	add_str(refs, RESOURCE_CONTAINER, ctr, true);
}

static void connect_refs(struct refs_acc *refs, json_t *root)
{
	each_folded(refs, root, "container", add_connected);
}

json_t *refs_of_body(enum rewrite_kind kind, const char *body, size_t len)
{
	json_t *root = json_loadb(body, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	struct refs_acc refs = { json_array(), json_object() };

	if (json_is_object(root)) {
		if (kind == REWRITE_CONTAINER_CREATE)
			create_refs(&refs, root);
		else if (kind == REWRITE_NETWORK_CONNECT)
			connect_refs(&refs, root);
	}
	json_decref(root);
	json_decref(refs.seen);
	if (json_array_size(refs.list) == 0) {
		json_decref(refs.list);
		return NULL;
	}
	return refs.list;
}
