/* policy.c - see policy.h.
 *
 * moby 20.10 (API 1.41) decodes a container create into
 * ContainerConfigWrapper: "HostConfig", and, when that is absent, the
 * deprecated HostConfig fields promoted to the top level. Both places are
 * checked. The body checked is the one forwarded, after rewrite.c: labels
 * merged, Mounts decoded as Go does, the daemon's socket swapped for the
 * session's.
 */
#include "policy.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "../common/util.h"
#include "rewrite.h"
#include "sockmount.h"

/* Fill err and give -status, the HTTP status the proxy refuses with. */
#define refuse(err, status, ...) (cw_error_set((err), 0, __VA_ARGS__), -(status))

/* ---- --deny ---------------------------------------------------------------- */

/* Indexed by the bit of enum policy_rule. */
static const char *const rule_names[] = { "privileged", "host-network", "host-pid", "host-ipc",
					  "devices",	"cap-add",	"host-userns" };

int policy_deny_parse(const char *list, unsigned *rules, char *bad, size_t badsz)
{
	return parse_name_list(list, rule_names, ARRAY_SIZE(rule_names), rules, bad, badsz);
}

const char *policy_deny_names(void)
{
	return "privileged, host-network, host-pid, host-ipc, devices, cap-add, host-userns";
}

static const char *rule_name(unsigned rule)
{
	for (size_t i = 0; i < ARRAY_SIZE(rule_names); i++)
		if (rule == 1u << i)
			return rule_names[i];
	return "?";
}

/* What value of a field breaks its rule. */
enum field_test {
	TEST_TRUE,    /* a bool: true */
	TEST_HOST,    /* a namespace mode: "host" */
	TEST_PRESENT, /* a list: anything but null or [] */
};

/* The HostConfig fields the rules look at. */
static const struct rule_field {
	unsigned rule;	      /* the enum policy_rule it breaks */
	const char *key;      /* the field, lower case: Go folds the key */
	const char *field;    /* how the refusal names it */
	enum field_test test; /* which values break the rule */
} rule_fields[] = {
	{ POLICY_PRIVILEGED, "privileged", "HostConfig.Privileged", TEST_TRUE },
	{ POLICY_HOST_NETWORK, "networkmode", "HostConfig.NetworkMode host", TEST_HOST },
	{ POLICY_HOST_PID, "pidmode", "HostConfig.PidMode host", TEST_HOST },
	{ POLICY_HOST_IPC, "ipcmode", "HostConfig.IpcMode host", TEST_HOST },
	/* --gpus is DeviceRequests, --device-cgroup-rule DeviceCgroupRules:
	 * both hand host devices to the container, as Devices does. */
	{ POLICY_DEVICES, "devices", "HostConfig.Devices", TEST_PRESENT },
	{ POLICY_DEVICES, "devicerequests", "HostConfig.DeviceRequests", TEST_PRESENT },
	{ POLICY_DEVICES, "devicecgrouprules", "HostConfig.DeviceCgroupRules", TEST_PRESENT },
	{ POLICY_CAP_ADD, "capadd", "HostConfig.CapAdd", TEST_PRESENT },
	/* API 1.40 (moby 19.03) took it as the whole set, SYS_ADMIN as well;
	 * 20.10 ignores it. */
	{ POLICY_CAP_ADD, "capabilities", "HostConfig.Capabilities", TEST_PRESENT },
	{ POLICY_HOST_USERNS, "usernsmode", "HostConfig.UsernsMode host", TEST_HOST },
};

static bool breaks(enum field_test test, json_t *value)
{
	switch (test) {
	case TEST_TRUE:
		return json_is_true(value);
	case TEST_HOST:
		/* The daemon compares with "host" exactly (NetworkMode.IsHost
		 * and the like) and refuses other cases of it ("network HOST
		 * not found", an invalid PidMode): folding costs nothing. */
		return json_is_string(value) && strcasecmp(json_string_value(value), "host") == 0;
	default:
		/* CapAdd is a StrSlice, which also takes a single string; a
		 * value that is no list at all the daemon refuses anyway. */
		return !json_is_null(value) && !(json_is_array(value) && json_array_size(value) == 0);
	}
}

/* Every spelling of every field in obj: one refused refuses the create. */
static int check_rules(json_t *obj, unsigned deny, struct cw_error *err)
{
	const char *key;
	json_t *value;

	json_object_foreach(obj, key, value)
	{
		for (size_t i = 0; i < ARRAY_SIZE(rule_fields); i++) {
			const struct rule_field *f = &rule_fields[i];

			if ((deny & f->rule) && rewrite_key_folds_to(key, f->key) &&
			    breaks(f->test, value))
				return refuse(err, 403, "ci-wrap: refused: %s (--deny %s)", f->field,
					      rule_name(f->rule));
		}
	}
	return 0;
}

/* ---- host paths ------------------------------------------------------------ */

/* Go's path.Clean of p taken from "/" (the daemon's working directory, where
 * mount(2) starts a relative path): no empty or "." elements, ".." taken
 * back lexically, never above "/". out holds strlen(p) + 2 bytes. The
 * daemon cleans a bind source so before the kernel resolves it. */
static void clean_path(const char *p, char *out)
{
	size_t n = 0;

	while (*p != '\0') {
		size_t len = strcspn(p, "/");

		if (len == 2 && p[0] == '.' && p[1] == '.') {
			while (n > 0 && out[n - 1] != '/')
				n--;
			if (n > 0)
				n--;
		} else if (len > 0 && !(len == 1 && p[0] == '.')) {
			out[n++] = '/';
			memcpy(out + n, p, len);
			n += len;
		}
		p += len;
		p += strspn(p, "/");
	}
	if (n == 0)
		out[n++] = '/';
	out[n] = '\0';
}

/* The path the kernel reaches through src: cleaned, then its symlinks
 * resolved as far as it exists; the rest (which the daemon creates for a
 * bind) appended. 0, or -errno: a dangling symlink is -ENOENT, since the
 * daemon would create its target, wherever that is. */
static int resolve(const char *src, char out[PATH_MAX])
{
	char clean[PATH_MAX], head[PATH_MAX], real[PATH_MAX];
	size_t keep;
	struct stat st;

	if (strlen(src) + 2 > sizeof(clean))
		return -ENAMETOOLONG;
	clean_path(src, clean);
	keep = strlen(clean);
	for (;;) {
		int e;

		if (keep > 0)
			snprintf(head, sizeof(head), "%.*s", (int)keep, clean);
		else
			snprintf(head, sizeof(head), "/");
		if (realpath(head, real) != NULL)
			break;
		e = errno;
		if ((e != ENOENT && e != ENOTDIR) || keep == 0 || lstat(head, &st) == 0)
			return -e;
		keep = (size_t)((const char *)memrchr(clean, '/', keep) - clean);
	}
	if (strcmp(real, "/") == 0 && clean[keep] != '\0')
		real[0] = '\0';
	if (snprintf(out, PATH_MAX, "%s%s", real, clean + keep) >= PATH_MAX)
		return -ENAMETOOLONG;
	return 0;
}

int policy_bind_dir(const char *dir, char *out, size_t size, struct cw_error *err)
{
	char real[PATH_MAX];
	int rc;

	if (dir[0] != '/')
		return cw_error_set(err, 0, "'%s' is not an absolute path", dir);
	rc = resolve(dir, real);
	if (rc < 0)
		return cw_error_set(err, -rc, "resolving '%s'", dir);
	if (strlen(real) >= size)
		return cw_error_set(err, ENAMETOOLONG, "resolving '%s'", dir);
	memcpy(out, real, strlen(real) + 1);
	return 0;
}

/* Is path dir or below it, by whole components (/srv/ci holds /srv/ci/x,
 * not /srv/cix)? */
static bool below(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return true;
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* A path or name as a refusal shows it: the first CLIP_MAX bytes, then
 * "...", so the message still ends with the option to use however long
 * the path the client sent. */
#define CLIP_MAX 160
static const char *clip(const char *s, char buf[CLIP_MAX + 4])
{
	if (strlen(s) <= CLIP_MAX)
		return s;
	memcpy(buf, s, CLIP_MAX);
	memcpy(buf + CLIP_MAX, "...", 4);
	return buf;
}

/* One container or volume create being checked. */
struct check {
	const struct rewrite_spec *spec; /* the rules and directories */
	size_t budget;			 /* host paths it may still resolve (stat()s) */
	struct cw_error *err;		 /* the refusal */
};

/* A host path the daemon will mount, named what in a refusal: inside an
 * --allow-bind directory once resolved, or the session's own socket. */
static int check_source(struct check *ck, const char *what, const char *src, size_t len)
{
	char real[PATH_MAX], src_c[CLIP_MAX + 4], real_c[CLIP_MAX + 4];
	int rc;

	if (ck->spec->sockets != NULL && strcmp(src, ck->spec->sockets->stand_in) == 0)
		return 0; /* sockmount put it there: the session's own socket */
	if (strlen(src) != len)
		return refuse(ck->err, 403, "ci-wrap: refused: %s with a NUL byte cannot be held "
			      "to --allow-bind", what);
	if (ck->budget-- == 0)
		return refuse(ck->err, 400, "more than %d host-path bind mounts in one create",
			      SOCKMOUNT_MAX_BINDS);
	rc = resolve(src, real);
	if (rc < 0)
		return refuse(ck->err, 403, "ci-wrap: refused: %s %s cannot be resolved (%s), so it "
			      "cannot be held to --allow-bind", what, clip(src, src_c), strerror(-rc));
	for (size_t i = 0; i < ck->spec->nallow_binds; i++)
		if (below(real, ck->spec->allow_binds[i]))
			return 0;
	if (strcmp(real, src) != 0)
		return refuse(ck->err, 403, "ci-wrap: refused: %s %s (resolves to %s) is outside "
			      "every --allow-bind directory", what, clip(src, src_c), clip(real, real_c));
	return refuse(ck->err, 403, "ci-wrap: refused: %s %s is outside every --allow-bind "
		      "directory", what, clip(src, src_c));
}

/* "SRC:DST[:MODE]" with an absolute SRC is a bind (moby's linuxParser;
 * a relative SRC names a volume, no colon makes an anonymous volume). */
static int check_binds(struct check *ck, json_t *obj)
{
	const char *key;
	json_t *binds, *bind;
	size_t i;
	int rc;

	json_object_foreach(obj, key, binds)
	{
		if (!rewrite_key_folds_to(key, "binds") || !json_is_array(binds))
			continue;
		json_array_foreach(binds, i, bind)
		{
			const char *b = json_string_value(bind);
			const char *colon = b ? memchr(b, ':', json_string_length(bind)) : NULL;
			_cleanup_free_ char *src = NULL;

			if (colon == NULL || b[0] != '/')
				continue;
			src = strndup(b, (size_t)(colon - b));
			rc = check_source(ck, "HostConfig.Binds source", src, (size_t)(colon - b));
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

/* Append to acc the value of every key of obj that folds to name. */
static void folded_values(json_t *obj, const char *name, json_t *acc)
{
	const char *key;
	json_t *value;

	if (!json_is_object(obj))
		return;
	json_object_foreach(obj, key, value)
	{
		if (rewrite_key_folds_to(key, name))
			json_array_append(acc, value);
	}
}

/* Append to acc the values of key in each map of maps (map keys are not
 * folded: Go matches them exactly). */
static void map_values(json_t *maps, const char *key, json_t *acc)
{
	json_t *m;
	size_t i;

	json_array_foreach(maps, i, m)
	{
		json_t *v = json_is_object(m) ? json_object_get(m, key) : NULL;

		if (v != NULL)
			json_array_append(acc, v);
	}
}

static bool has_string(json_t *values, const char *s)
{
	json_t *v;
	size_t i;

	json_array_foreach(values, i, v)
	{
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return true;
	}
	return false;
}

/* Does a mount option string ("rw,bind") ask for a bind? */
static bool opts_bind(json_t *values)
{
	json_t *v;
	size_t i;

	json_array_foreach(values, i, v)
	{
		const char *p = json_is_string(v) ? json_string_value(v) : "";

		while (*p != '\0') {
			size_t len = strcspn(p, ",");

			if ((len == 4 && strncmp(p, "bind", 4) == 0) ||
			    (len == 5 && strncmp(p, "rbind", 5) == 0))
				return true;
			p += len;
			p += strspn(p, ",");
		}
	}
	return false;
}

/* Does every driver name given (one per spelling) name a plugin, so that
 * no spelling the daemon may keep is the local driver ("" is the default)? */
static bool only_plugins(json_t *drivers)
{
	json_t *v;
	size_t i;

	if (json_array_size(drivers) == 0)
		return false;
	json_array_foreach(drivers, i, v)
	{
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    strcmp(json_string_value(v), "local") == 0)
			return false;
	}
	return true;
}

/* Filesystem types whose device names nothing of the host. */
static bool harmless_types(json_t *types)
{
	static const char *const ok[] = { "tmpfs", "nfs", "nfs4", "cifs", "smb3" };
	json_t *v;
	size_t i, j;

	if (json_array_size(types) == 0)
		return false;
	json_array_foreach(types, i, v)
	{
		for (j = 0; j < ARRAY_SIZE(ok); j++)
			if (json_is_string(v) && strcmp(json_string_value(v), ok[j]) == 0)
				break;
		if (j == ARRAY_SIZE(ok))
			return false;
	}
	return true;
}

/* The local volume driver mount(2)s its options' device at the volume
 * (moby 20.10 volume/local: type, o, device): with o=bind the device is a
 * host path bound in, as -v would; with a disk filesystem it is a host
 * device, and overlay's o= names host directories. Under --allow-bind a
 * bind's device is held to the directories like any bind source, a network
 * filesystem or tmpfs passes, any other mount is refused. drivers: the
 * driver names given (none: local); maps: the option maps. */
static int check_local_opts(struct check *ck, const char *what, json_t *drivers, json_t *maps)
{
	json_auto_t *types = json_array(), *o = json_array(), *devices = json_array();
	char name[96], type_c[CLIP_MAX + 4];
	json_t *dev;
	size_t i;
	int rc;

	if (only_plugins(drivers))
		return 0; /* a plugin's options are its own (plugins need --allow plugins) */
	map_values(maps, "type", types);
	map_values(maps, "o", o);
	map_values(maps, "device", devices);
	if (json_array_size(o) == 0 && json_array_size(devices) == 0)
		return 0;
	if (opts_bind(o)) {
		snprintf(name, sizeof(name), "%s device", what);
		json_array_foreach(devices, i, dev)
		{
			if (json_is_string(dev) &&
			    (rc = check_source(ck, name, json_string_value(dev),
					       json_string_length(dev))) < 0)
				return rc;
		}
		return 0;
	}
	if (harmless_types(types))
		return 0;
	return refuse(ck->err, 403, "ci-wrap: refused: %s type=%s mounts a host device or host "
		      "paths, which --allow-bind cannot hold to its directories", what,
		      clip(json_string_value(json_array_get(types, 0)) ?: "(none)", type_c));
}

/* Mounts element i of every array in arrays. Go decodes each array into
 * the same slice, element i into element i, so the daemon's element mixes
 * the fields of all of them: a type from one, a source from another. */
static int check_mount_at(struct check *ck, json_t *arrays, size_t i)
{
	json_auto_t *types = json_array(), *sources = json_array(), *vopts = json_array();
	json_auto_t *configs = json_array(), *drivers = json_array(), *maps = json_array();
	json_t *a, *src;
	size_t j;
	int rc;

	json_array_foreach(arrays, j, a)
	{
		json_t *m = json_array_get(a, i);

		folded_values(m, "type", types);
		folded_values(m, "source", sources);
		folded_values(m, "volumeoptions", vopts);
	}
	json_array_foreach(vopts, j, a)
		folded_values(a, "driverconfig", configs);
	json_array_foreach(configs, j, a)
	{
		folded_values(a, "name", drivers);
		folded_values(a, "options", maps);
	}
	if (has_string(types, "bind")) {
		json_array_foreach(sources, j, src)
		{
			if (json_is_string(src) &&
			    (rc = check_source(ck, "HostConfig.Mounts source", json_string_value(src),
					       json_string_length(src))) < 0)
				return rc;
		}
	}
	return check_local_opts(ck, "HostConfig.Mounts volume", drivers, maps);
}

/* The Mounts of objs (objects whose Mounts the daemon decodes into one
 * slice), element by element. */
static int check_mounts(struct check *ck, json_t *objs)
{
	json_auto_t *arrays = json_array();
	json_t *obj, *a;
	size_t i, n = 0;
	int rc;

	json_array_foreach(objs, i, obj)
		folded_values(obj, "mounts", arrays);
	json_array_foreach(arrays, i, a)
	{
		if (json_array_size(a) > n)
			n = json_array_size(a);
	}
	for (i = 0; i < n; i++)
		if ((rc = check_mount_at(ck, arrays, i)) < 0)
			return rc;
	return 0;
}

/* The rules and binds of one object the daemon reads HostConfig fields from. */
static int check_host_config(struct check *ck, json_t *obj)
{
	int rc = check_rules(obj, ck->spec->deny, ck->err);

	if (rc == 0 && ck->spec->nallow_binds > 0)
		rc = check_binds(ck, obj);
	return rc;
}

int policy_check_create(json_t *root, const struct rewrite_spec *spec, struct cw_error *err)
{
	struct check ck = { spec, SOCKMOUNT_MAX_BINDS, err };
	json_auto_t *inner = json_array(), *top = json_pack("[O]", root);
	json_t *hc;
	size_t i;
	int rc;

	if (spec->deny == 0 && spec->nallow_binds == 0)
		return 0;
	folded_values(root, "hostconfig", inner);
	if ((rc = check_host_config(&ck, root)) < 0)
		return rc;
	json_array_foreach(inner, i, hc)
	{
		if (json_is_object(hc) && (rc = check_host_config(&ck, hc)) < 0)
			return rc;
	}
	if (spec->nallow_binds == 0)
		return 0;
	/* Every HostConfig spelling decodes into one struct; the promoted
	 * fields at the top level are another. */
	if ((rc = check_mounts(&ck, inner)) < 0)
		return rc;
	return check_mounts(&ck, top);
}

int policy_check_volume(json_t *root, const struct rewrite_spec *spec, struct cw_error *err)
{
	struct check ck = { spec, SOCKMOUNT_MAX_BINDS, err };
	json_auto_t *drivers = json_array(), *maps = json_array();

	if (spec->nallow_binds == 0)
		return 0;
	folded_values(root, "driver", drivers);
	folded_values(root, "driveropts", maps);
	return check_local_opts(&ck, "volume DriverOpts", drivers, maps);
}

int policy_check_build_network(const char *mode, const struct rewrite_spec *spec,
			       struct cw_error *err)
{
	/* The classic builder runs each RUN step in a container with this
	 * NetworkMode (moby 20.10 builder/dockerfile). */
	if ((spec->deny & POLICY_HOST_NETWORK) && strcasecmp(mode, "host") == 0)
		return refuse(err, 403, "ci-wrap: refused: a build's networkmode=host "
			      "(--deny host-network)");
	return 0;
}
