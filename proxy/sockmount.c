/* sockmount.c - see sockmount.h.
 *
 * moby reads a bind as "SRC:DST[:MODE]" (volume/mounts linuxParser: split on
 * ':') and a mount as {Type, Source, Target}; the daemon resolves SRC on the
 * host, following symlinks, so /run/docker.sock, /var/run/docker.sock and
 * any link to either reach the same socket: compare inodes, not strings.
 */
#include "sockmount.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/util.h"
#include "rewrite.h"

int sockmount_init(struct sockmount *sm, const char *daemon_path, const char *stand_in,
		   struct cw_error *err)
{
	struct stat st;

	if (stat(daemon_path, &st) < 0 || realpath(daemon_path, sm->real) == NULL)
		return cw_error_set(err, errno, "resolving the daemon's socket %s", daemon_path);
	sm->dev = st.st_dev;
	sm->ino = st.st_ino;
	sm->stand_in = stand_in;
	return 0;
}

/* What a bind source is to the session's socket. */
enum source_kind {
	SOURCE_OTHER,  /* unrelated */
	SOURCE_SOCKET, /* the daemon's socket itself */
	SOURCE_HOLDER, /* a directory the socket lies below */
};

/* For SOURCE_HOLDER, *rest is the socket's path below src ("run/docker.sock"). */
static enum source_kind classify(const struct sockmount *sm, const char *src, const char **rest)
{
	char real[PATH_MAX];
	struct stat st;
	size_t n;

	if (src[0] != '/' || stat(src, &st) < 0)
		return SOURCE_OTHER;
	if (st.st_dev == sm->dev && st.st_ino == sm->ino)
		return SOURCE_SOCKET;
	if (!S_ISDIR(st.st_mode) || realpath(src, real) == NULL)
		return SOURCE_OTHER;
	n = strcmp(real, "/") == 0 ? 0 : strlen(real);
	if (strncmp(sm->real, real, n) != 0 || sm->real[n] != '/')
		return SOURCE_OTHER;
	*rest = sm->real + n + 1;
	return SOURCE_HOLDER;
}

/* "DST/rest", without a doubled slash. */
static char *target_below(const char *dst, size_t dst_len, const char *rest)
{
	char *t = NULL;

	while (dst_len > 1 && dst[dst_len - 1] == '/')
		dst_len--;
	if (asprintf(&t, "%.*s/%s", (int)dst_len, dst, rest) < 0)
		return NULL;
	return t;
}

/* One "SRC:DST[:MODE]": the socket swapped in place, a holder directory
 * gets a second bind appended to extra. Returns 1 if anything changed. */
static int swap_bind(json_t *binds, size_t i, const struct sockmount *sm, json_t *extra)
{
	const char *bind = json_string_value(json_array_get(binds, i));
	const char *colon = bind ? strchr(bind, ':') : NULL;
	const char *rest = NULL, *dst_end;
	_cleanup_free_ char *src = NULL, *swapped = NULL, *target = NULL;

	if (colon == NULL || bind[0] != '/')
		return 0;
	src = strndup(bind, (size_t)(colon - bind));
	switch (classify(sm, src, &rest)) {
	case SOURCE_SOCKET:
		if (asprintf(&swapped, "%s%s", sm->stand_in, colon) < 0)
			return 0;
		json_array_set_new(binds, i, json_string(swapped));
		return 1;
	case SOURCE_HOLDER:
		dst_end = strchr(colon + 1, ':');
		target = target_below(colon + 1,
				      dst_end ? (size_t)(dst_end - colon - 1) : strlen(colon + 1), rest);
		if (target == NULL || asprintf(&swapped, "%s:%s", sm->stand_in, target) < 0)
			return 0;
		json_array_append_new(extra, json_string(swapped));
		return 1;
	default:
		return 0;
	}
}

static int swap_binds(json_t *binds, const struct sockmount *sm, size_t *budget,
		      struct cw_error *err)
{
	json_t *extra = json_array();
	size_t i, n = json_array_size(binds);
	int changed = 0;

	for (i = 0; i < n; i++) {
		const char *bind = json_string_value(json_array_get(binds, i));

		if (bind == NULL || bind[0] != '/')
			continue; /* a volume's name: nothing to stat */
		if ((*budget)-- == 0) {
			json_decref(extra);
			cw_error_set(err, 0, "more than %d host-path bind mounts in one create",
				     SOCKMOUNT_MAX_BINDS);
			return -400;
		}
		changed += swap_bind(binds, i, sm, extra);
	}
	json_array_extend(binds, extra);
	json_decref(extra);
	return changed;
}

/* Set every spelling of name in m to value. */
static void set_folded(json_t *m, const char *name, const char *value)
{
	const char *key;
	json_t *v;

	json_object_foreach(m, key, v)
	{
		if (rewrite_key_folds_to(key, name))
			json_object_set_new(m, key, json_string(value));
	}
}

/* One {Type: "bind", Source, Target}: as swap_bind, a holder directory gets
 * a second mount appended to extra. */
static int swap_mount(json_t *m, const struct sockmount *sm, json_t *extra)
{
	json_t *type = rewrite_folded_value(m, "type"), *src = rewrite_folded_value(m, "source");
	json_t *dst = rewrite_folded_value(m, "target");
	const char *rest = NULL;
	_cleanup_free_ char *target = NULL;

	if (!json_is_string(type) || strcmp(json_string_value(type), "bind") != 0 ||
	    !json_is_string(src))
		return 0;
	switch (classify(sm, json_string_value(src), &rest)) {
	case SOURCE_SOCKET:
		set_folded(m, "source", sm->stand_in);
		return 1;
	case SOURCE_HOLDER:
		if (!json_is_string(dst))
			return 0;
		target = target_below(json_string_value(dst), json_string_length(dst), rest);
		if (target)
			json_array_append_new(extra, json_pack("{s:s,s:s,s:s}", "Type", "bind",
								"Source", sm->stand_in, "Target",
								target));
		return 1;
	default:
		return 0;
	}
}

static int swap_mounts(json_t *mounts, const struct sockmount *sm, size_t *budget,
		       struct cw_error *err)
{
	json_t *extra = json_array(), *m;
	size_t i;
	int changed = 0;

	json_array_foreach(mounts, i, m)
	{
		if (!json_is_object(m))
			continue;
		if ((*budget)-- == 0) {
			json_decref(extra);
			cw_error_set(err, 0, "more than %d host-path bind mounts in one create",
				     SOCKMOUNT_MAX_BINDS);
			return -400;
		}
		changed += swap_mount(m, sm, extra);
	}
	json_array_extend(mounts, extra);
	json_decref(extra);
	return changed;
}

int sockmount_swap(json_t *obj, const struct sockmount *sm, struct cw_error *err)
{
	size_t budget = SOCKMOUNT_MAX_BINDS;
	const char *key;
	json_t *value;
	int changed = 0, rc;

	json_object_foreach(obj, key, value)
	{
		rc = 0;
		if (rewrite_key_folds_to(key, "binds") && json_is_array(value))
			rc = swap_binds(value, sm, &budget, err);
		else if (rewrite_key_folds_to(key, "mounts") && json_is_array(value))
			rc = swap_mounts(value, sm, &budget, err);
		if (rc < 0)
			return rc;
		changed += rc;
	}
	return changed;
}
