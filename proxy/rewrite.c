/* rewrite.c - JSON and query rewrites of the create calls. */
#include "rewrite.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "../common/util.h"
#include "label-filter.h"
#include "policy.h"
#include "sockmount.h"

#define JSON_MAX_OUT_DEPTH 2048

/* ---- Go-compatible key matching ---------------------------------------- */

/* Fill err and give -status, the HTTP status the proxy refuses with. */
#define refuse(err, status, ...) (cw_error_set((err), 0, __VA_ARGS__), -(status))

/* Go's encoding/json matches a key to a field name case-insensitively. Up to
 * Go 1.20 (fold.go's equalFoldRight) that meant ASCII case plus two runes;
 * from Go 1.21 (foldName) it folds every rune to the smallest rune of its
 * unicode.SimpleFold orbit, so any rune whose orbit holds an ASCII letter
 * would match that letter. Walking every orbit (tests/unit/go-folds.go)
 * finds the same two runes, so both decoders read the same keys for moby's
 * ASCII field names: this table is the whole of it, and the unit test
 * tries every rune against it. */
static const struct {
	uint32_t rune;	 /* a non-ASCII rune */
	char ascii;	 /* the lower-case ASCII letter its fold orbit holds */
} go_ascii_folds[] = {
	{ 0x017f, 's' }, /* LATIN SMALL LETTER LONG S: {S, s, U+017F} */
	{ 0x212a, 'k' }, /* KELVIN SIGN: {K, k, U+212A} */
};

/* Decode the UTF-8 rune at k (the key is valid UTF-8: repair_utf8 ran);
 * *len gets its length. */
static uint32_t decode_rune(const unsigned char *k, size_t *len)
{
	if (k[0] < 0x80) {
		*len = 1;
		return k[0];
	}
	if (k[0] < 0xe0 && k[1] != 0) {
		*len = 2;
		return (uint32_t)(k[0] & 0x1f) << 6 | (k[1] & 0x3f);
	}
	if (k[0] < 0xf0 && k[1] != 0 && k[2] != 0) {
		*len = 3;
		return (uint32_t)(k[0] & 0x0f) << 12 | (uint32_t)(k[1] & 0x3f) << 6 | (k[2] & 0x3f);
	}
	if (k[1] != 0 && k[2] != 0 && k[3] != 0) {
		*len = 4;
		return (uint32_t)(k[0] & 0x07) << 18 | (uint32_t)(k[1] & 0x3f) << 12 |
		       (uint32_t)(k[2] & 0x3f) << 6 | (k[3] & 0x3f);
	}
	*len = 1;
	return 0xfffd;
}

/* The lower-case ASCII letter rune r folds to, or 0 if none. */
static char go_fold_ascii(uint32_t r)
{
	if (r < 0x80)
		return (char)tolower((int)r);
	for (size_t i = 0; i < ARRAY_SIZE(go_ascii_folds); i++)
		if (go_ascii_folds[i].rune == r)
			return go_ascii_folds[i].ascii;
	return 0;
}

int rewrite_key_folds_to(const char *key, const char *ascii_lower)
{
	const unsigned char *k = (const unsigned char *)key;

	for (const char *t = ascii_lower; *t != '\0'; t++) {
		size_t len;

		if (*k == '\0' || go_fold_ascii(decode_rune(k, &len)) != *t)
			return 0;
		k += len;
	}
	return *k == '\0';
}

/* ---- UTF-8 repair --------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

/* Go's decoder turns each invalid byte into U+FFFD; do the same so jansson,
 * which refuses invalid UTF-8, reads what the daemon would. Returns a malloc'd
 * copy, or NULL when the input is already valid. */
static char *repair_utf8(const char *in, size_t len, size_t *outlen)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0, n = 0, seq;
	char *out;

	while (i < len && (seq = utf8_seq_len(s + i, len - i)) != 0)
		i += seq;
	if (i == len)
		return NULL;
	out = xmalloc(len * 3 + 1);
	memcpy(out, in, i);
	n = i;
	while (i < len) {
		seq = utf8_seq_len(s + i, len - i);
		if (seq == 0) {
			memcpy(out + n, "\xef\xbf\xbd", 3);
			n += 3;
			i++;
		} else {
			memcpy(out + n, in + i, seq);
			n += seq;
			i += seq;
		}
	}
	*outlen = n;
	return out;
}

/* ---- JSON helpers ---------------------------------------------------------- */

static bool is_blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return false;
	return true;
}

static int load_object(const char *body, size_t len, bool empty_ok, json_t **out,
		       struct cw_error *err)
{
	_cleanup_free_ char *fixed = NULL;
	size_t fixed_len = 0;
	json_error_t jerr;
	json_t *root;

	if (body == NULL)
		body = "";
	fixed = repair_utf8(body, len, &fixed_len);
	if (fixed != NULL) {
		body = fixed;
		len = fixed_len;
	}
	if (empty_ok && is_blank(body, len)) {
		*out = json_object();
		return 0;
	}
	/* The daemon decodes with json.NewDecoder().Decode(): the first value
	 * counts and whatever follows it is never read. */
	root = json_loadb(body, len, JSON_DISABLE_EOF_CHECK | JSON_ALLOW_NUL | JSON_DECODE_ANY,
			  &jerr);
	if (root == NULL) {
		cw_error_set(err, 0, "invalid JSON: %s", jerr.text);
		return -400;
	}
	if (json_is_null(root) && empty_ok) {
		json_decref(root);
		root = json_object();
	}
	if (!json_is_object(root)) {
		json_decref(root);
		cw_error_set(err, 0, "invalid JSON: the body must be an object");
		return -400;
	}
	*out = root;
	return 0;
}

/* Collect every key of obj that folds to name (Go matches them all to one
 * field), check each value is an object or null, and delete them. The
 * objects are merged into *merged in document order. */
static int take_folded(json_t *obj, const char *name, json_t *merged, struct cw_error *err)
{
	const char *key;
	json_t *value;
	void *tmp;

	json_object_foreach_safe(obj, tmp, key, value)
	{
		if (!rewrite_key_folds_to(key, name))
			continue;
		if (!json_is_object(value) && !json_is_null(value)) {
			cw_error_set(err, 0, "invalid JSON: %s must be an object", key);
			return -400;
		}
		if (json_is_object(value) && json_object_update(merged, value) < 0) {
			cw_error_set(err, 0, "invalid JSON: cannot merge %s", key);
			return -400;
		}
		json_object_del(obj, key);
	}
	return 0;
}

/* Replace every spelling of "Labels" in obj by one "Labels": the client's
 * labels with ours on top. */
static int put_labels(json_t *obj, const struct rewrite_spec *spec, struct cw_error *err)
{
	json_t *labels = json_object();
	int rc = take_folded(obj, "labels", labels, err);

	if (rc == 0 && json_object_update(labels, spec->labels) < 0)
		rc = refuse(err, 500, "cannot merge labels");
	if (rc < 0) {
		json_decref(labels);
		return rc;
	}
	json_object_set_new(obj, "Labels", labels);
	return 0;
}

/* Force obj.CgroupParent = spec's, whatever its spelling. */
static void put_cgroup_parent(json_t *obj, const struct rewrite_spec *spec)
{
	const char *key;
	json_t *value;
	void *tmp;

	json_object_foreach_safe(obj, tmp, key, value)
	{
		if (rewrite_key_folds_to(key, "cgroupparent"))
			json_object_del(obj, key);
	}
	json_object_set_new(obj, "CgroupParent", json_string(spec->cgroup_parent));
}

/* ---- HostConfig.Mounts as Go's decoder builds it ------------------------------ */

/* The part of a Go struct type the decoder needs: its fields by name and how
 * each one takes a JSON value. */
enum go_kind {
	GO_SCALAR, /* string, bool, number: null leaves it, a value replaces it */
	GO_MAP,	   /* map[string]string: null makes it nil, an object adds its keys */
	GO_PTR,	   /* *struct: null makes it nil, an object decodes into it */
};

struct go_field {
	const char *name;	     /* the Go field name (no json tags rename these) */
	enum go_kind kind;	     /* how it decodes */
	const struct go_field *sub;  /* GO_PTR: the struct's fields, NULL-terminated */
};

/* moby 20.10 api/types/mount: Mount and its options. */
static const struct go_field go_driver_config[] = {
	{ "Name", GO_SCALAR, NULL }, { "Options", GO_MAP, NULL }, { NULL, 0, NULL }
};
static const struct go_field go_volume_options[] = { { "NoCopy", GO_SCALAR, NULL },
						     { "Labels", GO_MAP, NULL },
						     { "DriverConfig", GO_PTR, go_driver_config },
						     { NULL, 0, NULL } };
static const struct go_field go_bind_options[] = { { "Propagation", GO_SCALAR, NULL },
						   { "NonRecursive", GO_SCALAR, NULL },
						   { NULL, 0, NULL } };
static const struct go_field go_tmpfs_options[] = {
	{ "SizeBytes", GO_SCALAR, NULL }, { "Mode", GO_SCALAR, NULL }, { NULL, 0, NULL }
};
static const struct go_field go_mount[] = { { "Type", GO_SCALAR, NULL },
					    { "Source", GO_SCALAR, NULL },
					    { "Target", GO_SCALAR, NULL },
					    { "ReadOnly", GO_SCALAR, NULL },
					    { "Consistency", GO_SCALAR, NULL },
					    { "BindOptions", GO_PTR, go_bind_options },
					    { "VolumeOptions", GO_PTR, go_volume_options },
					    { "TmpfsOptions", GO_PTR, go_tmpfs_options },
					    { NULL, 0, NULL } };

/* The field a JSON key decodes into: Go folds case (and the Unicode folds of
 * rewrite_key_folds_to); a key that matches none is ignored. */
static const struct go_field *go_field_of(const struct go_field *fields, const char *key)
{
	char lower[32];

	for (; fields->name != NULL; fields++) {
		size_t n = strlen(fields->name);

		for (size_t i = 0; i <= n; i++)
			lower[i] = (char)tolower((unsigned char)fields->name[i]);
		if (rewrite_key_folds_to(key, lower))
			return fields;
	}
	return NULL;
}

static int go_decode_struct(json_t *dst, json_t *src, const struct go_field *fields,
			    struct cw_error *err);

/* Decode value into dst's field f (dst holds canonical names only). */
static int go_decode_field(json_t *dst, const struct go_field *f, json_t *value,
			   struct cw_error *err)
{
	json_t *cur = json_object_get(dst, f->name);
	const char *k;
	json_t *v;

	if (json_is_null(value)) {
		if (f->kind != GO_SCALAR)
			json_object_del(dst, f->name); /* a nil map or pointer */
		return 0;
	}
	if (f->kind == GO_SCALAR) {
		json_object_set(dst, f->name, value);
		return 0;
	}
	if (!json_is_object(value))
		return refuse(err, 400, "invalid JSON: %s must be an object", f->name);
	if (cur == NULL) {
		cur = json_object();
		json_object_set_new(dst, f->name, cur);
	}
	if (f->kind == GO_PTR)
		return go_decode_struct(cur, value, f->sub, err);
	json_object_foreach(value, k, v)
	{
		if (!json_is_string(v))
			return refuse(err, 400, "invalid JSON: %s values must be strings", f->name);
		json_object_set(cur, k, v);
	}
	return 0;
}

/* Decode object src into the struct dst, as Go does into an existing value:
 * key by key in document order, the last spelling of a field winning,
 * pointers and maps decoded into what earlier keys left. */
static int go_decode_struct(json_t *dst, json_t *src, const struct go_field *fields,
			    struct cw_error *err)
{
	const char *key;
	json_t *value;

	json_object_foreach(src, key, value)
	{
		const struct go_field *f = go_field_of(fields, key);

		if (f != NULL && go_decode_field(dst, f, value, err) < 0)
			return -400;
	}
	return 0;
}

/* A []Mount as Go 1.19's decoder keeps it between two decodes into the same
 * slice: the elements past len stay in the backing array, and a later, longer
 * array decodes into them (field by field) until the array must grow. */
struct go_slice {
	json_t *backing; /* array of cap canonical Mount objects */
	size_t len;	 /* elements in use */
};

static void go_slice_reset(struct go_slice *s)
{
	json_array_clear(s->backing);
	s->len = 0;
}

/* Decode one JSON array (or null) into s (encoding/json decode.go array()). */
static int go_decode_mounts(struct go_slice *s, json_t *arr, struct cw_error *err)
{
	json_t *elem;
	size_t i;

	if (json_is_null(arr)) {
		go_slice_reset(s);
		return 0;
	}
	if (!json_is_array(arr))
		return refuse(err, 400, "invalid JSON: Mounts must be an array");
	json_array_foreach(arr, i, elem)
	{
		size_t cap = json_array_size(s->backing);

		if (i >= cap) {
			/* Grow: a new backing of cap*1.5 (at least 4) that keeps
			 * only the first len elements. */
			size_t newcap = cap + cap / 2 < 4 ? 4 : cap + cap / 2;

			while (json_array_size(s->backing) > s->len)
				json_array_remove(s->backing, s->len);
			while (json_array_size(s->backing) < newcap)
				json_array_append_new(s->backing, json_object());
		}
		if (i >= s->len)
			s->len = i + 1;
		if (json_is_null(elem))
			continue; /* null into a struct leaves it */
		if (!json_is_object(elem))
			return refuse(err, 400, "invalid JSON: a mount must be an object");
		if (go_decode_struct(json_array_get(s->backing, i), elem, go_mount, err) < 0)
			return -400;
	}
	if (json_array_size(arr) < s->len)
		s->len = json_array_size(arr);
	if (json_array_size(arr) == 0)
		go_slice_reset(s);
	return 0;
}

/* The Mounts the daemon will read from root's HostConfig spellings, decoded
 * in document order into one pointer (a null spelling resets it). */
static int effective_mounts(json_t *root, json_t **out, bool *any, struct cw_error *err)
{
	struct go_slice s = { json_array(), 0 };
	const char *key, *hkey;
	json_t *hc, *value;
	int rc = 0;

	json_object_foreach(root, key, hc)
	{
		if (!rewrite_key_folds_to(key, "hostconfig"))
			continue;
		if (!json_is_object(hc)) {
			go_slice_reset(&s); /* null; anything else is refused later */
			continue;
		}
		json_object_foreach(hc, hkey, value)
		{
			if (!rewrite_key_folds_to(hkey, "mounts"))
				continue;
			*any = true;
			if ((rc = go_decode_mounts(&s, value, err)) < 0)
				break;
		}
		if (rc < 0)
			break;
	}
	while (rc == 0 && json_array_size(s.backing) > s.len)
		json_array_remove(s.backing, s.len);
	if (rc < 0)
		json_decref(s.backing);
	else
		*out = s.backing;
	return rc;
}

/* A volume mount whose volume does not exist yet makes the daemon create it
 * with Mounts[].VolumeOptions.Labels (ignored for an existing volume, which
 * is not ours). Spellings of Mounts, of its fields and of VolumeOptions (a
 * last null one drops the labels) are decoded as Go does, and every
 * HostConfig spelling gets the one result, every volume mount labelled:
 * what the daemon decodes is then exactly what we wrote. */
static int label_volume_mounts(json_t *root, const struct rewrite_spec *spec,
			       struct cw_error *err)
{
	json_auto_t *mounts = NULL;
	const char *key, *hkey;
	json_t *hc, *m, *value;
	bool any = false;
	void *tmp;
	size_t i;

	if (effective_mounts(root, &mounts, &any, err) < 0)
		return -400;
	if (!any)
		return 0;
	json_array_foreach(mounts, i, m)
	{
		json_t *type = json_object_get(m, "Type");
		json_t *opts = json_object_get(m, "VolumeOptions");

		if (!json_is_string(type) || strcmp(json_string_value(type), "volume") != 0)
			continue;
		if (opts == NULL) {
			opts = json_object();
			json_object_set_new(m, "VolumeOptions", opts);
		}
		if (put_labels(opts, spec, err) < 0)
			return -400;
	}
	json_object_foreach(root, key, hc)
	{
		if (!rewrite_key_folds_to(key, "hostconfig") || !json_is_object(hc))
			continue;
		json_object_foreach_safe(hc, tmp, hkey, value)
		{
			if (rewrite_key_folds_to(hkey, "mounts"))
				json_object_del(hc, hkey);
		}
		json_object_set_new(hc, "Mounts", json_deep_copy(mounts));
	}
	return 0;
}

/* The volume name of a bind "name:/path[:mode]", or NULL when its source
 * is a host path (absolute) or absent ("/path" alone is anonymous). */
static char *bind_volume_name(const char *bind)
{
	const char *colon = strchr(bind, ':');

	if (colon == NULL || colon == bind || bind[0] == '/')
		return NULL;
	return strndup(bind, (size_t)(colon - bind));
}

json_t *rewrite_folded_value(json_t *obj, const char *name)
{
	const char *key;
	json_t *value, *found = NULL;

	json_object_foreach(obj, key, value)
	{
		if (rewrite_key_folds_to(key, name))
			found = value;
	}
	return found;
}

/* A bind naming a volume that does not exist makes the daemon create it,
 * unlabelled. Collect a volume create body (with our labels and the
 * container's VolumeDriver) per name into acc, for the proxy to send first.
 * Every spelling is read: a superset costs at most an extra labelled volume.
 * More than REWRITE_MAX_IMPLICIT_VOLUMES names are refused: each is a
 * request to the daemon, and a create with 200,000 binds would otherwise
 * cost a preamble of that many. */
static int collect_binds(json_t *binds, json_t *driver, const struct rewrite_spec *spec,
			 json_t *acc, struct cw_error *err)
{
	json_t *bind;
	size_t i;

	json_array_foreach(binds, i, bind)
	{
		_cleanup_free_ char *name = NULL;
		json_t *req;

		if (!json_is_string(bind) || (name = bind_volume_name(json_string_value(bind))) == NULL)
			continue;
		if (json_object_get(acc, name) != NULL)
			continue;
		if (json_object_size(acc) == REWRITE_MAX_IMPLICIT_VOLUMES)
			return refuse(err, 403, "ci-wrap: refused a container create whose Binds name "
				      "more than %d volumes: ci-wrap creates each one first, labelled; "
				      "create them with docker volume create", REWRITE_MAX_IMPLICIT_VOLUMES);
		req = json_pack("{s:s,s:O}", "Name", name, "Labels", spec->labels);
		if (req == NULL)
			continue; /* not UTF-8: the daemon refuses the create anyway */
		if (json_is_string(driver) && json_string_length(driver) > 0)
			json_object_set(req, "Driver", driver);
		json_object_set_new(acc, name, req);
	}
	return 0;
}

/* Every spelling of Binds is read, not only the last one Go keeps: a
 * superset costs at most an extra labelled volume. */
static int collect_bind_volumes(json_t *obj, const struct rewrite_spec *spec, json_t *acc,
				struct cw_error *err)
{
	json_t *driver = rewrite_folded_value(obj, "volumedriver"), *binds;
	const char *key;

	json_object_foreach(obj, key, binds)
	{
		if (rewrite_key_folds_to(key, "binds") && json_is_array(binds) &&
		    collect_binds(binds, driver, spec, acc, err) < 0)
			return -1;
	}
	return 0;
}

/* Container create: moby decodes into ContainerConfigWrapper, whose inner
 * "HostConfig" wins over the deprecated HostConfig fields promoted to the top
 * level. Every spelling of HostConfig may be decoded in turn (Go reuses the
 * pointer, a null resets it), so each one gets our CgroupParent, a null one
 * becomes an object, and the top level gets it too. */
static int rewrite_container(json_t *root, const struct rewrite_spec *spec, json_t *volumes,
			     struct cw_error *err)
{
	const char *key;
	json_t *value;
	bool have_host_config = false;
	int rc = put_labels(root, spec, err);

	if (rc < 0)
		return rc;
	if (collect_bind_volumes(root, spec, volumes, err) < 0)
		return -403;
	/* Before null HostConfig spellings become objects below: a null one
	 * resets the mounts decoded before it. */
	if (label_volume_mounts(root, spec, err) < 0)
		return -400;
	if (spec->sockets && (rc = sockmount_swap(root, spec->sockets, err)) < 0)
		return rc;
	json_object_foreach(root, key, value)
	{
		if (!rewrite_key_folds_to(key, "hostconfig"))
			continue;
		if (json_is_null(value)) {
			value = json_object();
			json_object_set_new(root, key, value);
		}
		if (!json_is_object(value))
			return refuse(err, 400, "invalid JSON: %s must be an object", key);
		if (collect_bind_volumes(value, spec, volumes, err) < 0)
			return -403;
		if (spec->sockets && (rc = sockmount_swap(value, spec->sockets, err)) < 0)
			return rc;
		if (spec->cgroup_parent)
			put_cgroup_parent(value, spec);
		have_host_config = true;
	}
	if (spec->cgroup_parent == NULL)
		return 0;
	if (!have_host_config) {
		json_t *hc = json_object();

		put_cgroup_parent(hc, spec);
		json_object_set_new(root, "HostConfig", hc);
	}
	put_cgroup_parent(root, spec);
	return 0;
}

/* The bodies collected as an array, or NULL when there are none. */
static json_t *volume_list(json_t *by_name)
{
	json_t *list, *req;
	const char *name;

	if (json_object_size(by_name) == 0)
		return NULL;
	list = json_array();
	json_object_foreach(by_name, name, req)
		json_array_append(list, req);
	return list;
}

/* POST /containers/{id}/start: before API 1.24 a body is a HostConfig that
 * replaces the container's (moby 20.10 postContainersStart decodes it when
 * Content-Length > 7 or the body is chunked), which would move a labelled
 * container out of the pool and create its new binds' volumes unlabelled.
 * Only the bodies old clients send for "nothing" pass, and go on as none. */
static int start_body(const char *body, size_t len, char **out, size_t *outlen,
		      struct cw_error *err)
{
	size_t first = 0, last = len;

	while (first < len && is_blank(body + first, 1))
		first++;
	while (last > first && is_blank(body + last - 1, 1))
		last--;
	if (len > 7 || !(last == first || (last - first == 2 && memcmp(body + first, "{}", 2) == 0) ||
			 (last - first == 4 && memcmp(body + first, "null", 4) == 0)))
		return refuse(err, 403, "ci-wrap: refused a container start with a body: before API "
				  "1.24 it replaces the container's HostConfig (its cgroup parent, "
				  "binds, privileges); start it without one");
	*out = xstrdup("");
	*outlen = 0;
	return 0;
}

/* What the volume creates sent ahead of a container create will take: they
 * count against the body budget with the body. */
static size_t preamble_size(json_t *by_name)
{
	const char *name;
	json_t *req;
	size_t n = 0;

	json_object_foreach(by_name, name, req)
		n += json_dumpb(req, NULL, 0, JSON_COMPACT) + 128; /* + its request head */
	return n;
}

int rewrite_body(enum rewrite_kind kind, const struct rewrite_spec *spec, const char *body,
		 size_t len, char **out, size_t *outlen, json_t **volumes, struct cw_error *err)
{
	json_auto_t *by_name = json_object();
	json_t *root = NULL;
	int rc;

	if (volumes != NULL)
		*volumes = NULL;

	if (len > spec->max_body) {
		cw_error_set(err, 0, "request body too large for ci-wrap to label (%zu bytes, limit %zu)",
			     len, spec->max_body);
		return -413;
	}
	if (kind == REWRITE_START_BODY)
		return start_body(body ? body : "", len, out, outlen, err);
	rc = load_object(body, len, kind == REWRITE_COMMIT, &root, err);
	if (rc < 0)
		return rc;
	switch (kind) {
	case REWRITE_CONTAINER_CREATE:
		/* On the body as forwarded: what the daemon will decode. */
		rc = rewrite_container(root, spec, by_name, err);
		if (rc == 0)
			rc = policy_check_create(root, spec, err);
		break;
	case REWRITE_LABELS:
		/* Only a volume create has DriverOpts: Go ignores the key in
		 * the other bodies of this kind (networks, swarm objects). */
		rc = put_labels(root, spec, err);
		if (rc == 0)
			rc = policy_check_volume(root, spec, err);
		break;
	case REWRITE_COMMIT:
		rc = put_labels(root, spec, err);
		break;
	case REWRITE_NETWORK_CONNECT:
		break; /* collected for proxy/refs.c, forwarded as decoded */
	default:
		rc = refuse(err, 500, "no body rewrite for this request");
		break;
	}
	if (rc == 0) {
		*out = json_dumps(root, JSON_COMPACT);
		if (*out == NULL)
			rc = refuse(err, 500, "cannot encode the rewritten body");
		else
			*outlen = strlen(*out);
	}
	if (rc == 0 && len + preamble_size(by_name) > spec->max_body) {
		free(*out);
		*out = NULL;
		rc = refuse(err, 413, "request body too large for ci-wrap to label: with the "
			    "volume creates its binds need, over %zu bytes", spec->max_body);
	}
	if (rc == 0 && volumes != NULL)
		*volumes = volume_list(by_name);
	json_decref(root);
	return rc;
}

/* ---- query strings ------------------------------------------------------------ */

/* Decode a query component as Go's QueryUnescape does ('+' is a space);
 * -1 on a bad escape (Go then ignores the whole pair). */
static int query_unescape(const char *s, size_t len, char *out, size_t outsz)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '%') {
			unsigned v;

			if (i + 2 >= len + 0 || !isxdigit((unsigned char)s[i + 1]) ||
			    !isxdigit((unsigned char)s[i + 2]))
				return -1;
			sscanf(s + i + 1, "%2x", &v);
			c = (char)v;
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if (n + 1 >= outsz)
			return -1;
		out[n++] = c;
	}
	out[n] = '\0';
	return (int)n;
}

static void query_escape_append(char **buf, size_t *len, size_t *cap, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (*len + 4 > *cap) {
			*cap = *cap * 2 + 64;
			*buf = xrealloc(*buf, *cap);
		}
		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
			(*buf)[(*len)++] = (char)c;
		} else {
			(*buf)[(*len)++] = '%';
			(*buf)[(*len)++] = hex[c >> 4];
			(*buf)[(*len)++] = hex[c & 15];
		}
		(*buf)[*len] = '\0';
	}
}

static void append_raw(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (*len + n + 1 > *cap) {
		*cap = (*len + n + 1) * 2;
		*buf = xrealloc(*buf, *cap);
	}
	memcpy(*buf + *len, s, n);
	*len += n;
	(*buf)[*len] = '\0';
}

/* One key=value pair of a query, as Go's url.ParseQuery sees it. */
struct query_pair {
	const char *raw; /* the pair as sent */
	size_t len;	 /* its length */
	char key[64];	 /* decoded key, "" when Go would skip the pair */
	const char *val; /* raw value, after '=' */
	size_t val_len;	 /* its length */
};

static void query_pair_parse(const char *raw, size_t len, struct query_pair *p)
{
	const char *eq = memchr(raw, '=', len);
	size_t klen = eq ? (size_t)(eq - raw) : len;

	p->raw = raw;
	p->len = len;
	p->val = eq ? eq + 1 : raw + len;
	p->val_len = eq ? len - klen - 1 : 0;
	p->key[0] = '\0';
	/* Go 1.17+ skips pairs with a semicolon, and ones it cannot decode. */
	if (memchr(raw, ';', len) == NULL &&
	    query_unescape(raw, klen, p->key, sizeof(p->key)) < 0)
		p->key[0] = '\0';
}

/* The next pair of query from *i on (Go's url.ParseQuery splits on '&');
 * false at the end. */
static bool query_next(const char *query, size_t len, size_t *i, struct query_pair *p)
{
	const char *amp;
	size_t end;

	if (query == NULL || *i >= len)
		return false;
	amp = memchr(query + *i, '&', len - *i);
	end = amp ? (size_t)(amp - query) : len;
	query_pair_parse(query + *i, end - *i, p);
	*i = end + 1;
	return true;
}

char *rewrite_query_get(const char *query, size_t len, const char *key, size_t max)
{
	struct query_pair p;
	size_t i = 0;
	char *val;

	while (query_next(query, len, &i, &p)) {
		if (strcmp(p.key, key) != 0)
			continue;
		if (p.val_len > max)
			return NULL;
		val = xmalloc(p.val_len + 1);
		if (query_unescape(p.val, p.val_len, val, p.val_len + 1) < 0) {
			free(val);
			return NULL;
		}
		return val;
	}
	return xstrdup("");
}

bool rewrite_query_has(const char *query, size_t len, const char *key, const char *value)
{
	struct query_pair p;
	size_t i = 0;
	char val[64];

	while (query_next(query, len, &i, &p))
		if (strcmp(p.key, key) == 0 && query_unescape(p.val, p.val_len, val, sizeof(val)) >= 0 &&
		    strcmp(val, value) == 0)
			return true;
	return false;
}

/* JSON object from a query value (labels=...), merged into acc. */
static int merge_query_labels(const struct query_pair *p, json_t *acc, struct cw_error *err)
{
	_cleanup_free_ char *val = xmalloc(p->val_len + 1);
	json_error_t jerr;
	json_t *obj;
	int n = query_unescape(p->val, p->val_len, val, p->val_len + 1);

	if (n < 0)
		return 0; /* the daemon ignores a pair it cannot decode */
	if (n == 0)
		return 0;
	obj = json_loadb(val, (size_t)n, JSON_DECODE_ANY, &jerr);
	if (obj == NULL || !json_is_object(obj)) {
		json_decref(obj);
		cw_error_set(err, 0, "invalid labels parameter: %s", obj ? "not an object" : jerr.text);
		return -400;
	}
	json_object_update(acc, obj);
	json_decref(obj);
	return 0;
}

/* Dockerfile-quote s into buf: the daemon parses changes= with the
 * Dockerfile parser, which expands $ and unquotes \ and ". */
static void dockerfile_quote_append(char **buf, size_t *len, size_t *cap, const char *s)
{
	append_raw(buf, len, cap, "\"", 1);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\' || *s == '$')
			append_raw(buf, len, cap, "\\", 1);
		append_raw(buf, len, cap, s, 1);
	}
	append_raw(buf, len, cap, "\"", 1);
}

/* The daemon joins every changes= value with newlines and parses the text
 * as a Dockerfile (moby 20.10 builder/dockerfile BuildFromConfig, used by
 * POST /commit and an import's POST /images/create). A line ending in the
 * escape character continues on the next line, skipping blank and comment
 * lines, so it would swallow the LABEL we append; a leading "# escape=" or
 * "# syntax=" directive changes how ours is read. Refuse both: a line that
 * ends in '\\' or '`' (the two escape characters the parser accepts) and
 * any line that starts with '#'. */
static int check_change(const struct query_pair *p, struct cw_error *err)
{
	_cleanup_free_ char *val = xmalloc(p->val_len + 1);
	int n = query_unescape(p->val, p->val_len, val, p->val_len + 1);
	size_t start = 0;

	if (n < 0)
		return 0; /* the daemon ignores a pair it cannot decode */
	while (start <= (size_t)n) {
		const char *nl = memchr(val + start, '\n', (size_t)n - start);
		size_t end = nl ? (size_t)(nl - val) : (size_t)n;
		size_t first = start, last = end;

		while (first < end && isspace((unsigned char)val[first]))
			first++;
		while (last > first && isspace((unsigned char)val[last - 1]))
			last--;
		if (first < end && val[first] == '#')
			return refuse(err, 403, "ci-wrap: refused a changes line starting with '#': "
					  "the daemon would read it as a Dockerfile comment or parser "
					  "directive around the session's LABEL");
		if (last > first && (val[last - 1] == '\\' || val[last - 1] == '`'))
			return refuse(err, 403, "ci-wrap: refused a changes line ending in a line "
					  "continuation ('\\' or '`'): the daemon would join it with the "
					  "session's LABEL and drop the labels");
		start = end + 1;
	}
	return 0;
}

static char *label_change(const struct rewrite_spec *spec)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	const char *key;
	json_t *value;

	append_raw(&buf, &len, &cap, "LABEL", 5);
	json_object_foreach(spec->labels, key, value)
	{
		append_raw(&buf, &len, &cap, " ", 1);
		dockerfile_quote_append(&buf, &len, &cap, key);
		append_raw(&buf, &len, &cap, "=", 1);
		dockerfile_quote_append(&buf, &len, &cap, json_string_value(value));
	}
	return buf;
}

/* A classic build's networkmode= (the daemon reads the first with
 * FormValue; every one is checked). */
static int check_build_network(const struct query_pair *p, const struct rewrite_spec *spec,
			       struct cw_error *err)
{
	char val[64];

	/* A pair Go cannot decode it ignores; one too long is not "host". */
	if (query_unescape(p->val, p->val_len, val, sizeof(val)) < 0)
		return 0;
	return policy_check_build_network(val, spec, err);
}

/* A prune's query with one filters= that adds the session's label to the
 * filters the daemon would read (Go's Form.Get: the first one). */
static int prune_query(const struct rewrite_spec *spec, const char *query, size_t len,
		       char **out, size_t *outlen, struct cw_error *err)
{
	_cleanup_free_ char *buf = NULL, *given = NULL, *merged = NULL, *label = NULL;
	const char *session = json_string_value(json_object_get(spec->labels, "ci-wrap.session"));
	size_t blen = 0, cap = 0, i = 0;
	int given_len = 0, rc;
	struct query_pair p;

	while (query_next(query, len, &i, &p)) {
		if (strcmp(p.key, "filters") == 0) {
			if (given == NULL) {
				given = xmalloc(p.val_len + 1);
				given_len = query_unescape(p.val, p.val_len, given, p.val_len + 1);
				if (given_len < 0)
					given_len = 0; /* Go drops a pair it cannot decode */
			}
			continue;
		}
		if (p.len > 0) {
			append_raw(&buf, &blen, &cap, p.raw, p.len);
			append_raw(&buf, &blen, &cap, "&", 1);
		}
	}
	if (asprintf(&label, "ci-wrap.session=%s", session ? session : "") < 0)
		abort();
	rc = label_filter_add(given, (size_t)given_len, label, &merged, err);
	if (rc < 0)
		return rc;
	append_raw(&buf, &blen, &cap, "filters=", 8);
	query_escape_append(&buf, &blen, &cap, merged);
	*out = steal_pointer(&buf);
	*outlen = blen;
	return 1;
}

/* A build's, commit's or import's query, labelled. */
static int label_query(enum rewrite_kind kind, const struct rewrite_spec *spec, const char *query,
		       size_t len, char **out, size_t *outlen, struct cw_error *err)
{
	_cleanup_free_ char *buf = NULL;
	json_t *labels = json_object();
	size_t blen = 0, cap = 0, i = 0;
	bool import = false;
	int rc = 0;

	while (i <= len && rc == 0) {
		const char *amp = memchr(query + i, '&', len - i);
		size_t end = amp ? (size_t)(amp - query) : len;
		struct query_pair p;

		query_pair_parse(query + i, end - i, &p);
		i = end + 1;
		if (kind == REWRITE_BUILD_QUERY && strcmp(p.key, "labels") == 0) {
			rc = merge_query_labels(&p, labels, err);
			continue;
		}
		if (kind == REWRITE_BUILD_QUERY && strcmp(p.key, "cgroupparent") == 0 &&
		    spec->cgroup_parent != NULL)
			continue;
		if (kind == REWRITE_BUILD_QUERY && strcmp(p.key, "forcerm") == 0)
			continue;
		if (kind == REWRITE_BUILD_QUERY && strcmp(p.key, "networkmode") == 0 &&
		    (rc = check_build_network(&p, spec, err)) < 0)
			continue;
		if (strcmp(p.key, "fromsrc") == 0 || strcmp(p.key, "fromSrc") == 0)
			import = true;
		if ((kind == REWRITE_CHANGES_QUERY || kind == REWRITE_IMPORT_QUERY) &&
		    strcmp(p.key, "changes") == 0 && (rc = check_change(&p, err)) < 0)
			continue;
		if (p.len > 0) {
			if (blen > 0)
				append_raw(&buf, &blen, &cap, "&", 1);
			append_raw(&buf, &blen, &cap, p.raw, p.len);
		}
	}
	if (rc == 0 && kind == REWRITE_IMPORT_QUERY && !import)
		rc = 1; /* a pull, not an import: nothing to label */
	if (rc == 0) {
		if (blen > 0)
			append_raw(&buf, &blen, &cap, "&", 1);
		if (kind == REWRITE_BUILD_QUERY) {
			_cleanup_free_ char *json = NULL;

			json_object_update(labels, spec->labels);
			json = json_dumps(labels, JSON_COMPACT);
			append_raw(&buf, &blen, &cap, "labels=", 7);
			query_escape_append(&buf, &blen, &cap, json);
			if (spec->cgroup_parent != NULL) {
				append_raw(&buf, &blen, &cap, "&cgroupparent=", 14);
				query_escape_append(&buf, &blen, &cap, spec->cgroup_parent);
			}
			/* A failed legacy build leaves its intermediate container,
			 * which carries no label: have the daemon remove it. */
			append_raw(&buf, &blen, &cap, "&forcerm=1", 10);
		} else {
			_cleanup_free_ char *change = label_change(spec);

			append_raw(&buf, &blen, &cap, "changes=", 8);
			query_escape_append(&buf, &blen, &cap, change);
		}
	}
	json_decref(labels);
	if (rc < 0)
		return rc;
	if (rc == 1)
		return 0;
	*out = steal_pointer(&buf);
	*outlen = blen;
	return 1;
}

int rewrite_query(enum rewrite_kind kind, const struct rewrite_spec *spec, const char *query,
		  size_t len, char **out, size_t *outlen, struct cw_error *err)
{
	if (kind == REWRITE_PRUNE_QUERY)
		return prune_query(spec, query, len, out, outlen, err);
	return label_query(kind, spec, query, len, out, outlen, err);
}
