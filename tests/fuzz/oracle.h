/* oracle.h - what the daemon would make of a request, written for the
 * fuzzers independently of the proxy's own code: Go's key folding, Go's
 * URL and query decoding, moby 20.10's create routes (gorilla/mux on the
 * decoded path), and whether a create carries the session's labels.
 *
 * Include it once per fuzzer; call oracle_init() from LLVMFuzzerInitialize.
 */
#ifndef CI_WRAP_FUZZ_ORACLE_H
#define CI_WRAP_FUZZ_ORACLE_H

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../proxy/rewrite.h"

#define OUR_PARENT "/ci-wrap/fuzz-1"

#define CHECK(cond, ...)                                                                  \
	do {                                                                              \
		if (!(cond)) {                                                            \
			fprintf(stderr, "fuzz: broken promise at %s:%d: %s\n", __FILE__, \
				__LINE__, #cond);                                         \
			fprintf(stderr, "  " __VA_ARGS__);                                \
			fputc('\n', stderr);                                              \
			abort();                                                          \
		}                                                                         \
	} while (0)

#define ORACLE_UNUSED __attribute__((unused))

static json_t *our_labels;
static struct rewrite_spec spec, spec_no_parent;
/* spec with every --deny rule and one --allow-bind directory. */
static struct rewrite_spec spec_policy;
static char *policy_dirs[] = { "/srv/ci" };

static ORACLE_UNUSED void oracle_init(size_t max_body)
{
	/* Values the LABEL change must quote for the Dockerfile parser. */
	our_labels = json_pack("{s:s,s:s,s:s,s:s}", "ci-wrap.session", "fuzz-1", "ci-wrap.job",
			       "job \"$HOME\" \\ x", "ci-wrap.owner", "host/boot/1/2",
			       "caf\xc3\xa9 k", "${v}");
	spec.labels = our_labels;
	spec.cgroup_parent = OUR_PARENT;
	spec.max_body = max_body;
	spec_no_parent = spec;
	spec_no_parent.cgroup_parent = NULL;
	spec_policy = spec;
	spec_policy.deny = ~0u;
	spec_policy.allow_binds = policy_dirs;
	spec_policy.nallow_binds = 1;
}

/* Go's encoding/json key match: ASCII case, U+017F for 's', U+212A for 'k'. */
static ORACLE_UNUSED bool go_folds(const char *key, const char *lower)
{
	const unsigned char *k = (const unsigned char *)key;

	for (; *lower != '\0'; lower++) {
		if (*k < 0x80 && *k != '\0' && tolower(*k) == *lower)
			k++;
		else if (*lower == 's' && k[0] == 0xc5 && k[1] == 0xbf)
			k += 2;
		else if (*lower == 'k' && k[0] == 0xe2 && k[1] == 0x84 && k[2] == 0xaa)
			k += 3;
		else
			return false;
	}
	return *k == '\0';
}

static ORACLE_UNUSED int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode as Go does (plus as space when form) into out (len + 1
 * bytes); the decoded length, or -1 on a bad escape. */
static ORACLE_UNUSED long go_unescape(const char *s, size_t len, char *out, bool form)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%') {
			if (i + 2 >= len)
				return -1;
			if (hexval((unsigned char)s[i + 1]) < 0 || hexval((unsigned char)s[i + 2]) < 0)
				return -1;
			out[n++] = (char)(hexval((unsigned char)s[i + 1]) * 16 +
					  hexval((unsigned char)s[i + 2]));
			i += 2;
		} else {
			out[n++] = form && s[i] == '+' ? ' ' : s[i];
		}
	}
	out[n] = '\0';
	return (long)n;
}

/* The decoded path Go's server routes for a request target (into out, len
 * + 1 bytes), or -1 when Go refuses the target or its authority is not a
 * plain host. */
static ORACLE_UNUSED long go_path(const char *t, size_t len, char *out)
{
	const char *q = memchr(t, '?', len);
	size_t end = q ? (size_t)(q - t) : len, start = 0;

	if (end > 0 && t[0] != '/') {
		const char *sep = memmem(t, end, "://", 3);
		size_t i;

		if (sep == NULL || sep == t)
			return -1;
		for (const char *c = t; c < sep; c++)
			if (!isalpha((unsigned char)*c) &&
			    (c == t || (!isdigit((unsigned char)*c) && !strchr("+-.", *c))))
				return -1;
		for (i = (size_t)(sep - t) + 3; i < end && t[i] != '/'; i++)
			if (!isalnum((unsigned char)t[i]) && !strchr(".-:", t[i]))
				return -1;
		start = i;
	} else if (end == 0) {
		return -1;
	}
	return go_unescape(t + start, end - start, out, false);
}

/* Which create handler gorilla/mux gives a POST to this decoded path:
 * the exact path, optionally after one /v[0-9.]+ segment. */
static ORACLE_UNUSED const char *go_create_route(const char *path, size_t len)
{
	static const char *const creates[] = {
		"/containers/create", "/networks/create", "/volumes/create", "/services/create",
		"/secrets/create",    "/configs/create",  "/build",		 "/commit",
		"/images/create",
	};
	size_t skip = 0;

	if (len > 2 && path[0] == '/' && path[1] == 'v') {
		size_t i = 2;

		while (i < len && (isdigit((unsigned char)path[i]) || path[i] == '.'))
			i++;
		if (i > 2 && i < len && path[i] == '/')
			skip = i;
	}
	for (int pass = 0; pass < 2; pass++) {
		size_t off = pass == 0 ? 0 : skip;

		if (pass == 1 && skip == 0)
			break;
		for (size_t c = 0; c < sizeof(creates) / sizeof(creates[0]); c++)
			if (len - off == strlen(creates[c]) &&
			    memcmp(path + off, creates[c], len - off) == 0)
				return creates[c];
	}
	return NULL;
}

/* The key of a query pair as Go's ParseQuery sees it (into key, len + 1
 * bytes); false when Go skips the pair (a ';' or a bad escape). */
static ORACLE_UNUSED bool go_query_key(const char *pair, size_t len, char *key, long *klen)
{
	const char *eq = memchr(pair, '=', len);
	size_t n = eq ? (size_t)(eq - pair) : len;

	if (memchr(pair, ';', len) != NULL)
		return false;
	*klen = go_unescape(pair, n, key, true);
	return *klen >= 0;
}

static ORACLE_UNUSED bool key_is(const char *key, long klen, const char *name)
{
	return (size_t)klen == strlen(name) && memcmp(key, name, (size_t)klen) == 0;
}

/* The values of every pair named name in a query, in order, as Go's
 * url.ParseQuery gives them (r.Form[name]); returns how many, up to max,
 * each malloc'd. */
static ORACLE_UNUSED int go_query_values(const char *q, size_t len, const char *name,
					 char **vals, int max)
{
	char *key = malloc(len + 1);
	int n = 0;

	for (size_t a = 0; a <= len;) {
		const char *amp = memchr(q + a, '&', len - a);
		size_t end = amp ? (size_t)(amp - q) : len;
		const char *eq = memchr(q + a, '=', end - a);
		long klen;

		if (end > a && go_query_key(q + a, end - a, key, &klen) && key_is(key, klen, name)) {
			size_t vlen = eq ? end - (size_t)(eq + 1 - q) : 0;
			char *v = malloc(vlen + 1);

			if ((eq == NULL ? (v[0] = '\0', 0) : go_unescape(eq + 1, vlen, v, true)) >= 0 &&
			    n < max)
				vals[n++] = v;
			else
				free(v);
		}
		a = end + 1;
	}
	free(key);
	return n;
}

/* Is v the LABEL instruction carrying our labels, quoted the way the
 * Dockerfile parser reads double-quoted words (no $ left to expand)? */
static ORACLE_UNUSED bool label_change_is_ours(const char *v)
{
	json_t *got = json_object();
	const char *s = v;
	bool ok = strncmp(s, "LABEL", 5) == 0;
	char *word[2] = { malloc(strlen(v) + 1), malloc(strlen(v) + 1) };

	s += 5;
	while (ok && *s != '\0') {
		ok = *s++ == ' ';
		for (int w = 0; ok && w < 2; w++) {
			size_t n = 0;

			ok = *s++ == '"';
			while (ok && *s != '"') {
				ok = *s != '\0' && *s != '$';
				if (ok && *s == '\\') {
					s++;
					ok = *s == '"' || *s == '\\' || *s == '$';
				}
				if (ok)
					word[w][n++] = *s++;
			}
			word[w][n] = '\0';
			if (ok)
				s++;
			if (ok && w == 0)
				ok = *s++ == '=';
		}
		if (ok)
			json_object_set_new(got, word[0], json_string(word[1]));
	}
	ok = ok && json_equal(got, our_labels);
	json_decref(got);
	free(word[0]);
	free(word[1]);
	return ok;
}

/* The one key of obj that Go folds to lower; *dup set when there are
 * several, *spelled to that key's spelling. */
static ORACLE_UNUSED json_t *folded_key(json_t *obj, const char *lower, bool *dup,
					const char **spelled)
{
	const char *key;
	json_t *value, *found = NULL;

	*dup = false;
	*spelled = NULL;
	json_object_foreach(obj, key, value)
	{
		if (!go_folds(key, lower))
			continue;
		if (found != NULL)
			*dup = true;
		found = value;
		*spelled = key;
	}
	return found;
}

/* Does a decoded body carry exactly our labels (and, for a container, our
 * cgroup parent in every HostConfig spelling)? why says what is wrong. */
static ORACLE_UNUSED bool body_is_labelled(json_t *root, bool container, const char *parent,
					   const char **why)
{
	bool dup;
	const char *spelled, *k;
	json_t *labels = folded_key(root, "labels", &dup, &spelled), *v;

	*why = NULL;
	if (dup)
		*why = "two keys fold to Labels";
	else if (!json_is_object(labels))
		*why = "no Labels object";
	else if (strcmp(spelled, "Labels") != 0)
		*why = "Labels spelled otherwise";
	if (*why != NULL)
		return false;
	json_object_foreach(our_labels, k, v)
	{
		if (!json_equal(json_object_get(labels, k), v)) {
			*why = "a label is not ours";
			return false;
		}
	}
	if (container && parent != NULL) {
		int host_configs = 0;
		json_t *cp;

		json_object_foreach(root, k, v)
		{
			if (!go_folds(k, "hostconfig"))
				continue;
			host_configs++;
			if (!json_is_object(v)) {
				*why = "a HostConfig is not an object";
				return false;
			}
			cp = folded_key(v, "cgroupparent", &dup, &spelled);
			if (dup || !json_is_string(cp) || strcmp(spelled, "CgroupParent") != 0 ||
			    strcmp(json_string_value(cp), parent) != 0) {
				*why = "a HostConfig's CgroupParent is not ours";
				return false;
			}
		}
		if (host_configs == 0) {
			*why = "no HostConfig";
			return false;
		}
		cp = folded_key(root, "cgroupparent", &dup, &spelled);
		if (cp != NULL && (dup || !json_is_string(cp) ||
				   strcmp(json_string_value(cp), parent) != 0)) {
			*why = "the top-level CgroupParent is not ours";
			return false;
		}
	}
	return true;
}


/* ---- a model of Go 1.19 decoding HostConfig.Mounts -------------------------- */

/* What the daemon needs of one decoded Mount to create its volume: the Type,
 * whether VolumeOptions is set, and its Labels (NULL: a nil map). */
struct go_mount {
	json_t *type;	  /* the last non-null Type value decoded, or NULL */
	bool has_opts;	  /* VolumeOptions is a non-nil pointer */
	json_t *labels;	  /* VolumeOptions.Labels as a map (owned), or NULL */
};

#define GO_MOUNTS_MAX 4096

struct go_mounts {
	struct go_mount m[GO_MOUNTS_MAX]; /* the backing array, cap entries used */
	size_t len, cap;		 /* Go's len and cap */
	bool overflow;			 /* more than GO_MOUNTS_MAX: not modelled */
};

static ORACLE_UNUSED void go_mount_zero(struct go_mount *m)
{
	json_decref(m->labels);
	memset(m, 0, sizeof(*m));
}

/* Decode one VolumeOptions object into m (keys in order, Go's folds). */
static ORACLE_UNUSED void go_decode_volume_options(struct go_mount *m, json_t *o)
{
	const char *k, *lk;
	json_t *v, *lv;

	m->has_opts = true;
	json_object_foreach(o, k, v)
	{
		if (!go_folds(k, "labels"))
			continue;
		if (json_is_null(v)) {
			json_decref(m->labels);
			m->labels = NULL;
		} else if (json_is_object(v)) {
			if (m->labels == NULL)
				m->labels = json_object();
			json_object_foreach(v, lk, lv)
				json_object_set(m->labels, lk, lv);
		}
	}
}

static ORACLE_UNUSED void go_decode_mount(struct go_mount *m, json_t *o)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v)
	{
		if (go_folds(k, "type") && !json_is_null(v)) {
			m->type = v;
		} else if (go_folds(k, "volumeoptions")) {
			if (json_is_null(v)) {
				m->has_opts = false;
				json_decref(m->labels);
				m->labels = NULL;
			} else if (json_is_object(v)) {
				go_decode_volume_options(m, v);
			}
		}
	}
}

/* encoding/json decode.go array() into a []Mount that may hold elements. */
static ORACLE_UNUSED void go_decode_mounts_array(struct go_mounts *s, json_t *a)
{
	size_t n = json_is_array(a) ? json_array_size(a) : 0;

	if (!json_is_array(a) || n == 0) {
		for (size_t i = 0; i < s->cap; i++)
			go_mount_zero(&s->m[i]);
		s->len = s->cap = 0; /* null: nil; []: a new empty slice */
		return;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(a, i);

		if (i >= s->cap) {
			size_t newcap = s->cap + s->cap / 2 < 4 ? 4 : s->cap + s->cap / 2;

			if (newcap > GO_MOUNTS_MAX) {
				s->overflow = true;
				return;
			}
			for (size_t j = s->len; j < s->cap; j++)
				go_mount_zero(&s->m[j]); /* not copied to the new array */
			s->cap = newcap;
		}
		if (i >= s->len)
			s->len = i + 1;
		if (json_is_object(e))
			go_decode_mount(&s->m[i], e);
	}
	if (n < s->len)
		s->len = n;
}

/* The mounts the daemon decodes from root: every HostConfig spelling in
 * order into one pointer (null resets it), every Mounts spelling of each. */
static ORACLE_UNUSED void go_decode_all_mounts(json_t *root, struct go_mounts *s)
{
	const char *k, *hk;
	json_t *hc, *v;

	memset(s, 0, sizeof(*s));
	json_object_foreach(root, k, hc)
	{
		if (!go_folds(k, "hostconfig"))
			continue;
		if (!json_is_object(hc)) {
			go_decode_mounts_array(s, json_null());
			continue;
		}
		json_object_foreach(hc, hk, v)
		{
			if (go_folds(hk, "mounts"))
				go_decode_mounts_array(s, v);
		}
	}
}

static ORACLE_UNUSED void go_mounts_free(struct go_mounts *s)
{
	for (size_t i = 0; i < s->cap; i++)
		go_mount_zero(&s->m[i]);
}

/* Does every volume mount the daemon would decode carry our labels in its
 * VolumeOptions? */
static ORACLE_UNUSED bool mounts_are_labelled(json_t *root, const char **why)
{
	static struct go_mounts s;
	const char *k;
	json_t *v;
	bool ok = true;

	go_decode_all_mounts(root, &s);
	for (size_t i = 0; i < s.len && ok && !s.overflow; i++) {
		const struct go_mount *m = &s.m[i];

		if (!json_is_string(m->type) || strcmp(json_string_value(m->type), "volume") != 0)
			continue;
		if (!m->has_opts || m->labels == NULL) {
			*why = "a volume mount without VolumeOptions.Labels";
			ok = false;
			break;
		}
		json_object_foreach(our_labels, k, v)
		{
			if (!json_equal(json_object_get(m->labels, k), v)) {
				*why = "a volume mount's label is not ours";
				ok = false;
				break;
			}
		}
	}
	go_mounts_free(&s);
	return ok;
}

/* Is the volume of each bind of obj's Binds spellings ("name:/path") in
 * volumes, a create with our labels? */
static ORACLE_UNUSED bool binds_of_created(json_t *obj, json_t *volumes)
{
	const char *k;
	json_t *binds, *v, *req;
	size_t i, j;

	json_object_foreach(obj, k, binds)
	{
		if (!go_folds(k, "binds") || !json_is_array(binds))
			continue;
		json_array_foreach(binds, i, v)
		{
			const char *bind = json_string_value(v), *colon;
			bool found = false;

			if (bind == NULL || bind[0] == '/' || (colon = strchr(bind, ':')) == NULL ||
			    colon == bind)
				continue;
			json_array_foreach(volumes, j, req)
			{
				const char *name = json_string_value(json_object_get(req, "Name"));

				found |= name != NULL && strlen(name) == (size_t)(colon - bind) &&
					 memcmp(name, bind, (size_t)(colon - bind)) == 0 &&
					 json_equal(json_object_get(req, "Labels"), our_labels);
			}
			if (!found)
				return false;
		}
	}
	return true;
}

/* Is every volume a bind names, at the top or in a HostConfig spelling,
 * created first by the proxy, labelled? */
static ORACLE_UNUSED bool binds_are_created(json_t *root, json_t *volumes, const char **why)
{
	const char *k;
	json_t *v;
	bool ok = binds_of_created(root, volumes);

	json_object_foreach(root, k, v)
	{
		if (go_folds(k, "hostconfig") && json_is_object(v))
			ok = ok && binds_of_created(v, volumes);
	}
	if (!ok)
		*why = "a bind's volume is not created first, labelled";
	return ok;
}

#endif
