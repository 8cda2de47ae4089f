/* track.c - record what the session makes that carries no label. */
#include "track.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../common/kinds.h"
#include "../common/log.h"
#include "../common/util.h"
#include "inspect.h"
#include "llhttp.h"

/* Inspections in flight at once; more wait their turn. */
#define PROBE_MAX_INFLIGHT 32
/* IDs kept per list: a job that makes more is not tracked past this. */
#define TRACK_MAX_IDS 65536
/* The longest image list read: ~300 bytes an image without labels, a few
 * KiB with many; 64 MiB is tens of thousands. */
#define TRACK_IMAGES_MAX (64u * 1024 * 1024)

/* One container inspect in flight (proxy/inspect.h). */
struct probe {
	struct track *t;	 /* owner */
	struct probe *next;	 /* the tracker's list */
	struct inspect *inspect; /* the request, NULL once answered */
	char id[130];		 /* the container */
};

struct track {
	struct ev_loop *loop;		 /* serves the proxy */
	const struct proxy_config *cfg;	 /* the proxy's: daemon socket, image lists */
	uint64_t *images_created;	 /* the proxy's counter of images made */
	json_t *result;			 /* see track_result() */
	json_t *image_set;		 /* result's "images" as a set */
	json_t *shorts;			 /* "kind/12-digit ID" -> ID, of "made" */
	struct probe *probes;		 /* inspections in flight */
	unsigned nprobes;		 /* their number */
	json_t *queue;			 /* containers waiting for an inspection */
	struct track_answer *listing;	 /* loads and tags over, their image list after in flight */
	bool full_warned;		 /* said once that a list is full */
	void (*idle_done)(void *);	 /* track_when_idle() callback, or NULL */
	void *idle_arg;			 /* its argument */
};

enum answer_kind {
	ANSWER_CREATE, /* one JSON object naming what was created */
	ANSWER_BUILD,  /* classic build output: step images, aux IDs */
	ANSWER_IMPORT, /* import output: the last status is the image ID */
	ANSWER_LOAD,   /* load output: the images it loaded */
	ANSWER_TAG,    /* a tag's 201: the query named the tag it put */
	ANSWER_REMOVE, /* a 2xx answer: the object named was removed */
};

struct track_answer {
	enum answer_kind kind;	   /* how to read its lines */
	enum resource_kind creates; /* what a create makes, or a remove removes */
	char name[256];		   /* remove: the ID or name in the target */
	json_t *before;		   /* load, tag: the image list before it */
	json_t *named;		   /* load: references its answer named; tag: the tag */
	struct inspect *list;	   /* load, tag: the image list after it, in flight */
	struct track *t;	   /* owner of an answer over (listing), else NULL */
	struct track_answer *next; /* the tracker's listing */
	struct track_build build;  /* build: where in a step */
	size_t len;		   /* bytes in line; > TRACK_LINE_MAX: skipping */
	char line[TRACK_LINE_MAX + 1]; /* the current line */
};

/* A load or a tag waiting for the image list before it (track_request()). */
struct track_wait {
	struct track_answer *a; /* handed to ready once the list is in */
	struct inspect *list;	/* the list in flight */
	track_ready_fn ready;	/* the caller's callback */
	void *arg;		/* its argument */
};

/* Does the answer need the image lists around it (a load, a tag)? */
static bool needs_list(const struct track_answer *a)
{
	return a->kind == ANSWER_LOAD || a->kind == ANSWER_TAG;
}

/* For warnings: "a load" and what it "loaded". */
static const char *verb(const struct track_answer *a, bool past)
{
	if (a->kind == ANSWER_LOAD)
		return past ? "loaded" : "a load";
	return past ? "tagged" : "a tag";
}

struct track *track_new(struct ev_loop *loop, const struct proxy_config *cfg,
			uint64_t *images_created)
{
	struct track *t = xcalloc(1, sizeof(*t));
	json_t *made = json_object();

	for (int k = RESOURCE_CONTAINER; k < RESOURCE__COUNT; k++)
		json_object_set_new(made, kind_name(k), json_object());
	t->loop = loop;
	t->cfg = cfg;
	t->images_created = images_created;
	t->result = json_pack("{s:I,s:o,s:[],s:[],s:{}}", "since", (json_int_t)time(NULL),
			      "made", made, "images", "untag", "volumes");
	t->image_set = json_object();
	t->shorts = json_object();
	t->queue = json_array();
	return t;
}

json_t *track_result(const struct track *t)
{
	return t->result;
}

/* Is there room for one more in a list of size n? */
static bool room(struct track *t, size_t n)
{
	if (n < TRACK_MAX_IDS)
		return true;
	if (!t->full_warned)
		cw_warn("proxy: the session made more than %d objects of a kind; "
			"teardown finds only the labelled ones past that", TRACK_MAX_IDS);
	t->full_warned = true;
	return false;
}

static void add_to_set(struct track *t, json_t *set, const char *s)
{
	if (json_object_get(set, s) == NULL && room(t, json_object_size(set)))
		json_object_set_new(set, s, json_true());
}

/* An anonymous volume, also handed to the config's callback (for reap). */
static void add_volume(struct track *t, json_t *set, const char *name)
{
	if (json_object_get(set, name) != NULL || !room(t, json_object_size(set)))
		return;
	json_object_set_new(set, name, json_true());
	if (t->cfg->volume_made)
		t->cfg->volume_made(t->cfg->images_arg, name);
}

/* For the small lists of a load's answer. */
static void add_unique(json_t *array, const char *s)
{
	json_t *v;
	size_t i;

	json_array_foreach(array, i, v)
	{
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return;
	}
	json_array_append_new(array, json_string(s));
}

/* An image the session made that carries no label: kept for teardown and
 * handed to the config's callback, which keeps it where reap can find it. */
static void add_image(struct track *t, const char *id)
{
	if (json_object_get(t->image_set, id) != NULL || !room(t, json_object_size(t->image_set)))
		return;
	json_object_set_new(t->image_set, id, json_true());
	json_array_append_new(json_object_get(t->result, "images"), json_string(id));
	if (t->cfg->image_loaded)
		t->cfg->image_loaded(t->cfg->images_arg, id);
	cw_debug("track: the session made image %s", id);
}

/* The key of an ID's first 12 digits, the form `docker ps -q` prints. */
static void short_key(enum resource_kind kind, const char *id, char *key, size_t size)
{
	snprintf(key, size, "%s/%.12s", kind_name(kind), id);
}

static void add_made(struct track *t, enum resource_kind kind, const char *id)
{
	json_t *made = json_object_get(json_object_get(t->result, "made"), kind_name(kind));
	char key[64];

	add_to_set(t, made, id);
	if (strlen(id) == 64 && json_object_get(made, id) != NULL) {
		short_key(kind, id, key, sizeof(key));
		json_object_set_new(t->shorts, key, json_string(id));
	}
}

/* The job removed one (by ID, 12-digit ID or name): if the daemon cannot be
 * reached at teardown, it is not named as left. A name other than a
 * volume's is not matched: it is named all the same. */
static void forget_made(struct track *t, enum resource_kind kind, const char *ref)
{
	json_t *made = json_object_get(json_object_get(t->result, "made"), kind_name(kind));
	const char *full = ref;
	char key[64], id[256];

	if (json_object_get(made, ref) == NULL && strlen(ref) == 12) {
		short_key(kind, ref, key, sizeof(key));
		full = json_string_value(json_object_get(t->shorts, key));
	}
	if (full == NULL || json_object_get(made, full) == NULL)
		return;
	snprintf(id, sizeof(id), "%s", full); /* full may be freed below */
	short_key(kind, id, key, sizeof(key));
	json_object_del(t->shorts, key);
	json_object_del(made, id);
}

/* ---- container inspections ------------------------------------------------- */

static void probe_container(struct track *t, const char *id);

/* An inspection ended: start the next one that waits. */
static void probe_next(struct track *t)
{
	while (t->nprobes < PROBE_MAX_INFLIGHT && json_array_size(t->queue) > 0) {
		json_t *id = json_incref(json_array_get(t->queue, 0));

		json_array_remove(t->queue, 0);
		probe_container(t, json_string_value(id));
		json_decref(id);
	}
}

static bool idle(const struct track *t)
{
	return t->probes == NULL && t->listing == NULL;
}

/* Call track_when_idle()'s callback if nothing is left in flight. */
static void idle_check(struct track *t)
{
	void (*done)(void *) = t->idle_done;

	if (done == NULL || !idle(t))
		return;
	t->idle_done = NULL;
	done(t->idle_arg);
}

static void probe_end(struct probe *pr)
{
	struct track *t = pr->t;
	struct probe **pp;

	inspect_cancel(pr->inspect);
	for (pp = &t->probes; *pp != pr; pp = &(*pp)->next)
		;
	*pp = pr->next;
	free(pr);
	t->nprobes--;
	probe_next(t);
	idle_check(t);
}

/* The inspect answered (status 0: it could not be asked, or took too long). */
static void on_probe_answer(void *arg, int status, json_t *inspect)
{
	struct probe *pr = arg;
	json_t *volumes = json_object_get(pr->t->result, "volumes"), *anon, *v;
	size_t i;

	pr->inspect = NULL;
	if (status != 200) {
		cw_verbose("track: inspecting container %s: HTTP %d: its anonymous volumes "
			   "are not known", pr->id, status);
		probe_end(pr);
		return;
	}
	anon = track_anonymous_volumes(inspect);
	json_array_foreach(anon, i, v)
	{
		add_volume(pr->t, volumes, json_string_value(v));
		cw_debug("track: anonymous volume %s", json_string_value(v));
	}
	json_decref(anon);
	probe_end(pr);
}

/* Inspect a container that was just created. The request is written before
 * the create's answer reaches the client, so the daemon has it before the
 * client can remove the container. */
static void probe_container(struct track *t, const char *id)
{
	char path[160];
	struct probe *pr;

	if (strlen(id) > 128)
		return;
	if (t->nprobes >= PROBE_MAX_INFLIGHT) {
		if (room(t, json_array_size(t->queue)))
			json_array_append_new(t->queue, json_string(id));
		return;
	}
	pr = xcalloc(1, sizeof(*pr));
	pr->t = t;
	snprintf(pr->id, sizeof(pr->id), "%s", id);
	snprintf(path, sizeof(path), "/containers/%s/json", id);
	pr->inspect = inspect_get(t->loop, t->cfg->upstream_path, path, on_probe_answer, pr);
	if (pr->inspect == NULL) {
		cw_verbose("track: cannot inspect container %s: %s", id, strerror(errno));
		free(pr);
		return;
	}
	pr->next = t->probes;
	t->probes = pr;
	t->nprobes++;
}

void track_when_idle(struct track *t, void (*done)(void *arg), void *arg)
{
	if (idle(t)) {
		done(arg);
		return;
	}
	t->idle_done = done;
	t->idle_arg = arg;
}

static void listing_end(struct track_answer *a);

void track_cancel(struct track *t)
{
	t->idle_done = NULL;
	json_array_clear(t->queue);
	while (t->probes != NULL)
		probe_end(t->probes);
	while (t->listing != NULL) {
		cw_warn("proxy: the image list after %s was cut; what it %s is not undone",
			verb(t->listing, false), verb(t->listing, true));
		listing_end(t->listing);
	}
}

void track_free(struct track *t)
{
	if (t == NULL)
		return;
	track_cancel(t);
	json_decref(t->result);
	json_decref(t->image_set);
	json_decref(t->shorts);
	json_decref(t->queue);
	free(t);
}

/* ---- pure helpers ------------------------------------------------------------ */

const char *track_created_id(json_t *answer)
{
	static const char *const keys[] = { "Id", "ID", "Name" };

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		const char *id = json_string_value(json_object_get(answer, keys[i]));

		if (id && id[0])
			return id;
	}
	return NULL;
}

/* The sources a client named (HostConfig.Binds "name:/path", Mounts with a
 * Source) into named, and the targets of anonymous ones it asked for
 * explicitly (Binds "/path", Mounts without a Source) into explicit. */
static void client_volumes(json_t *host, json_t *named, json_t *explicit)
{
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(host, "Binds"), i, v)
	{
		const char *bind = json_string_value(v), *colon = bind ? strchr(bind, ':') : NULL;

		if (bind == NULL)
			continue;
		if (colon == NULL) {
			json_object_set_new(explicit, bind, json_true());
		} else if (bind[0] != '/') {
			_cleanup_free_ char *name = strndup(bind, (size_t)(colon - bind));

			json_object_set_new(named, name, json_true());
		}
	}
	json_array_foreach(json_object_get(host, "Mounts"), i, v)
	{
		const char *type = json_string_value(json_object_get(v, "Type"));
		const char *src = json_string_value(json_object_get(v, "Source"));
		const char *target = json_string_value(json_object_get(v, "Target"));

		if (type == NULL || strcmp(type, "volume") != 0)
			continue;
		if (src && src[0])
			json_object_set_new(named, src, json_true());
		else if (target)
			json_object_set_new(explicit, target, json_true());
	}
}

json_t *track_anonymous_volumes(json_t *inspect)
{
	json_t *host = json_object_get(inspect, "HostConfig"), *anon = json_array(), *m;
	json_auto_t *named = json_object(), *explicit = json_object();
	/* The daemon (20.10, daemon/volumes.go registerMountPoints) mounts the
	 * VolumesFrom volumes first; Binds and Mounts then replace those at
	 * the same target, while image and Config.Volumes ones do not. */
	bool from = json_array_size(json_object_get(host, "VolumesFrom")) > 0;
	size_t i;

	client_volumes(host, named, explicit);
	json_array_foreach(json_object_get(inspect, "Mounts"), i, m)
	{
		const char *type = json_string_value(json_object_get(m, "Type"));
		const char *name = json_string_value(json_object_get(m, "Name"));
		const char *dst = json_string_value(json_object_get(m, "Destination"));

		if (type == NULL || strcmp(type, "volume") != 0 || name == NULL || !name[0] ||
		    json_object_get(named, name) != NULL)
			continue;
		if (from && (dst == NULL || json_object_get(explicit, dst) == NULL))
			continue;
		json_array_append_new(anon, json_string(name));
	}
	return anon;
}

bool track_build_step(struct track_build *b, const char *stream, char *id, size_t idsz)
{
	const char *arrow, *rest;
	size_t n;

	if (strncmp(stream, "Step ", 5) == 0) {
		const char *colon = strstr(stream, " : ");

		b->base_next = colon && strncasecmp(colon + 3, "FROM ", 5) == 0;
		b->cached_next = false;
		return false;
	}
	arrow = strstr(stream, "---> ");
	if (arrow == NULL)
		return false;
	rest = arrow + 5;
	if (strncmp(rest, "Using cache", 11) == 0) {
		b->cached_next = true;
		return false;
	}
	n = strspn(rest, "0123456789abcdef");
	if (n < 12 || strchr("\r\n ", rest[n]) == NULL || n >= idsz)
		return false; /* "Running in ...", or not an ID */
	if (b->base_next || b->cached_next) {
		b->base_next = b->cached_next = false;
		return false; /* it existed before this build */
	}
	memcpy(id, rest, n);
	id[n] = '\0';
	return true;
}

/* Index an image list: ID -> true into ids, tag -> ID into tags. */
static void index_images(json_t *list, json_t *ids, json_t *tags)
{
	json_t *img, *tag;
	size_t i, j;

	json_array_foreach(list, i, img)
	{
		json_t *id = json_object_get(img, "Id");

		if (!json_is_string(id))
			continue;
		json_object_set_new(ids, json_string_value(id), json_true());
		json_array_foreach(json_object_get(img, "RepoTags"), j, tag)
		{
			if (json_is_string(tag))
				json_object_set(tags, json_string_value(tag), id);
		}
	}
}

void track_load_diff(json_t *before, json_t *after, json_t *named, json_t **images,
		     json_t **untag)
{
	json_auto_t *ids0 = json_object(), *tags0 = json_object();
	json_auto_t *ids1 = json_object(), *tags1 = json_object();
	json_t *ref;
	size_t i;

	*images = json_array();
	*untag = json_array();
	index_images(before, ids0, tags0);
	index_images(after, ids1, tags1);
	json_array_foreach(named, i, ref)
	{
		const char *r = json_string_value(ref), *id, *was;
		bool is_id = r && strncmp(r, "sha256:", 7) == 0;

		if (r == NULL)
			continue;
		id = is_id ? r : json_string_value(json_object_get(tags1, r));
		if (id == NULL || json_object_get(ids1, id) == NULL)
			continue; /* gone already */
		bool is_new = json_object_get(ids0, id) == NULL;

		if (is_new)
			add_unique(*images, id);
		if (is_id)
			continue;
		/* A tag the load put on an image from before goes; one it took
		 * from another image goes back there. */
		was = json_string_value(json_object_get(tags0, r));
		if ((was == NULL && !is_new) || (was != NULL && strcmp(was, id) != 0))
			json_array_append_new(*untag,
					      json_pack("{s:s,s:s,s:o}", "ref", r, "image", id, "was",
							was ? json_string(was) : json_null()));
	}
}

static int hexdigit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
		return (c | 0x20) - 'a' + 10;
	return -1;
}

/* The first value of key in a query (Go's r.Form.Get), decoded as Go's
 * url.ParseQuery does ('+' a space, %XX); false if absent or undecodable. */
static bool query_value(const char *q, size_t len, const char *key, char *out, size_t size)
{
	size_t klen = strlen(key), i = 0;

	while (i < len) {
		const char *amp = memchr(q + i, '&', len - i), *pair = q + i;
		size_t end = amp ? (size_t)(amp - q) : len, n = 0;

		i = end + 1;
		if ((size_t)(q + end - pair) <= klen || strncmp(pair, key, klen) != 0 ||
		    pair[klen] != '=' || memchr(pair, ';', (size_t)(q + end - pair)))
			continue; /* Go 1.17+ drops a pair with a ';' */
		for (const char *c = pair + klen + 1; c < q + end; c++) {
			int hi, lo;

			if (n + 1 >= size)
				return false;
			if (*c != '%') {
				out[n++] = *c == '+' ? ' ' : *c;
				continue;
			}
			if (q + end - c < 3 || (hi = hexdigit(c[1])) < 0 || (lo = hexdigit(c[2])) < 0)
				return false;
			out[n++] = (char)(hi << 4 | lo);
			c += 2;
		}
		out[n] = '\0';
		return true;
	}
	return false;
}

/* Drop the registry of a reference the way the daemon shows it in
 * RepoTags (reference.FamiliarString): "docker.io/library/x" is "x",
 * "docker.io/u/x" is "u/x"; any other registry stays. */
static const char *familiar_name(const char *name)
{
	static const char *const hubs[] = { "docker.io/", "index.docker.io/" };

	for (size_t i = 0; i < ARRAY_SIZE(hubs); i++)
		if (strncmp(name, hubs[i], strlen(hubs[i])) == 0) {
			name += strlen(hubs[i]);
			break;
		}
	if (strncmp(name, "library/", 8) == 0 && strchr(name + 8, '/') == NULL)
		name += 8;
	return name;
}

bool track_tag_ref(const char *target, size_t len, char *ref, size_t size)
{
	size_t q = route_query_offset(target, len);
	char repo[512], tag[256] = "";
	const char *slash, *colon, *name;

	if (q >= len || !query_value(target + q + 1, len - q - 1, "repo", repo, sizeof(repo)) ||
	    repo[0] == '\0')
		return false;
	query_value(target + q + 1, len - q - 1, "tag", tag, sizeof(tag));
	if (strchr(repo, '@') != NULL) {
		if (tag[0] == '\0')
			return false; /* a digest, which names no tag */
		*strchr(repo, '@') = '\0';
	}
	slash = strrchr(repo, '/');
	colon = strrchr(repo, ':');
	if (colon && (slash == NULL || colon > slash)) { /* "repo:tag" in repo */
		if (tag[0] == '\0')
			snprintf(tag, sizeof(tag), "%s", colon + 1);
		repo[colon - repo] = '\0';
	}
	name = familiar_name(repo);
	return (size_t)snprintf(ref, size, "%s:%s", name, tag[0] ? tag : "latest") < size;
}

/* ---- answers ----------------------------------------------------------------- */

/* The kind whose collection ("/containers/") starts p (up to end), with
 * the path segment after it in *seg and *n. An image is never removed by
 * name alone: DELETE /images/NAME may take one tag off and leave it. */
static enum resource_kind removal_kind(const char *p, const char *end, const char **seg,
				       size_t *n)
{
	for (int k = RESOURCE_NONE + 1; k < RESOURCE__COUNT; k++) {
		const char *coll = kind_info(k)->collection;
		size_t clen = strlen(coll);

		if (k == RESOURCE_IMAGE || (size_t)(end - p) <= clen + 1 ||
		    strncmp(p, coll, clen) != 0 || p[clen] != '/')
			continue;
		*seg = p + clen + 1;
		/* The target is not NUL-terminated: scan only up to its query. */
		for (*n = 0; *seg + *n < end && (*seg)[*n] != '/';)
			(*n)++;
		return (enum resource_kind)k;
	}
	return RESOURCE_NONE;
}

/* Only what is reported if teardown cannot reach the daemon depends on
 * this: a spelling it misses leaves an ID named that was removed. */
enum resource_kind track_removal(uint8_t method, const char *target, size_t len, char *name,
				 size_t size)
{
	size_t q = route_query_offset(target, len), n;
	const char *p = target, *end = target + q, *seg;
	enum resource_kind kind;

	if (method != HTTP_DELETE && method != HTTP_POST)
		return RESOURCE_NONE;
	if (q > 3 && strncmp(p, "/v", 2) == 0 && p[2] >= '0' && p[2] <= '9') {
		p = memchr(p + 1, '/', (size_t)(end - p - 1)); /* the version prefix */
		if (p == NULL)
			return RESOURCE_NONE;
	}
	kind = removal_kind(p, end, &seg, &n);
	if (kind == RESOURCE_NONE || n == 0 || n >= size)
		return RESOURCE_NONE;
	if (method == HTTP_POST &&
	    !(kind == RESOURCE_CONTAINER && (size_t)(end - seg - n) == 5 &&
	      strncmp(seg + n, "/wait", 5) == 0 && q < len &&
	      memmem(target + q, len - q, "condition=removed", 17) != NULL))
		return RESOURCE_NONE;
	if (method == HTTP_DELETE && seg + n != end)
		return RESOURCE_NONE;
	memcpy(name, seg, n);
	name[n] = '\0';
	return kind;
}

static void answer_free(struct track_answer *a)
{
	if (a == NULL)
		return;
	inspect_cancel(a->list);
	json_decref(a->before);
	json_decref(a->named);
	free(a);
}

/* The answer to read for a request, or NULL if it tells nothing worth
 * keeping. A load's or a tag's still needs its image list before. */
static struct track_answer *answer_new(struct track *t, const struct route *r, uint8_t method,
				       const char *target, size_t len)
{
	struct track_answer *a;
	enum answer_kind kind;
	enum resource_kind removes;
	char name[256];

	removes = track_removal(method, target, len, name, sizeof(name));
	if (removes != RESOURCE_NONE) {
		a = xcalloc(1, sizeof(*a));
		a->kind = ANSWER_REMOVE;
		a->creates = removes;
		memcpy(a->name, name, sizeof(name));
		return a;
	}
	if (r->flags & (ROUTE_IMAGE_LOAD | ROUTE_IMAGE_TAG)) {
		if (!t->cfg->list_images)
			return NULL;
		kind = r->flags & ROUTE_IMAGE_LOAD ? ANSWER_LOAD : ANSWER_TAG;
		if (kind == ANSWER_TAG && !track_tag_ref(target, len, name, sizeof(name)))
			return NULL; /* the daemon refuses it */
	} else if (r->query == REWRITE_BUILD_QUERY) {
		kind = ANSWER_BUILD;
	} else if (r->query == REWRITE_IMPORT_QUERY) {
		kind = ANSWER_IMPORT;
	} else if (r->creates != RESOURCE_NONE) {
		kind = ANSWER_CREATE;
	} else {
		return NULL;
	}
	a = xcalloc(1, sizeof(*a));
	a->kind = kind;
	a->creates = r->creates;
	a->named = json_array();
	if (kind == ANSWER_TAG)
		json_array_append_new(a->named, json_string(name));
	return a;
}

/* Why an image list failed (inspect.h's status, its body), for a warning. */
static const char *list_failure(int status, char *buf, size_t size)
{
	if (status == 0)
		return "no answer in time, or a longer one than ci-wrap reads";
	if (status == 200)
		return "not a list";
	snprintf(buf, size, "HTTP %d", status);
	return buf;
}

/* GET /images/json?all=1 on loop; NULL if the daemon cannot be asked. */
static struct inspect *list_images(struct track *t, struct ev_loop *loop, inspect_done_fn done,
				   void *arg)
{
	return inspect_get_max(loop, t->cfg->upstream_path, "/images/json?all=1", TRACK_IMAGES_MAX,
			       done, arg);
}

/* The list before a load or a tag is in: hand its answer over (NULL if
 * the list failed: it is not tracked). */
static void on_list_before(void *arg, int status, json_t *body)
{
	struct track_wait *w = arg;
	struct track_answer *a = w->a;
	track_ready_fn ready = w->ready;
	void *ready_arg = w->arg;
	char why[32];

	w->list = NULL;
	if (status == 200 && json_is_array(body)) {
		a->before = json_incref(body);
	} else {
		cw_warn("proxy: cannot list images before %s: %s; what it %s is not undone",
			verb(a, false), list_failure(status, why, sizeof(why)), verb(a, true));
		answer_free(a);
		a = NULL;
	}
	free(w); /* before ready, which may end the caller */
	ready(ready_arg, a);
}

/* List the images before a (on loop), then ready(arg, a). NULL, a freed,
 * if the daemon cannot be asked. */
static struct track_wait *wait_start(struct track *t, struct ev_loop *loop, struct track_answer *a,
				     track_ready_fn ready, void *arg)
{
	struct track_wait *w = xcalloc(1, sizeof(*w));

	w->a = a;
	w->ready = ready;
	w->arg = arg;
	w->list = list_images(t, loop, on_list_before, w);
	if (w->list == NULL) {
		cw_warn("proxy: cannot list images before %s: %s; what it %s is not undone",
			verb(a, false), strerror(errno), verb(a, true));
		answer_free(a);
		free(w);
		return NULL;
	}
	return w;
}

int track_request(struct track *t, const struct route *r, uint8_t method, const char *target,
		  size_t len, track_ready_fn ready, void *arg, struct track_answer **out,
		  struct track_wait **wait)
{
	struct track_answer *a = answer_new(t, r, method, target, len);

	*out = NULL;
	*wait = NULL;
	if (a == NULL || !needs_list(a)) {
		*out = a;
		return 0;
	}
	*wait = wait_start(t, t->loop, a, ready, arg);
	return *wait != NULL;
}

void track_wait_cancel(struct track_wait *w)
{
	if (w == NULL)
		return;
	inspect_cancel(w->list);
	answer_free(w->a);
	free(w);
}

/* The image a line of a load's answer names, if it says one was loaded:
 * {"stream":"Loaded image: NAME\n"} or "Loaded image ID: sha256:...". */
static const char *loaded_ref(const char *text, char *ref, size_t refsz)
{
	static const char *const prefixes[] = { "Loaded image: ", "Loaded image ID: " };
	size_t n;

	for (size_t i = 0; text && i < ARRAY_SIZE(prefixes); i++) {
		if (strncmp(text, prefixes[i], strlen(prefixes[i])) != 0)
			continue;
		text += strlen(prefixes[i]);
		n = strcspn(text, " \r\n");
		if (n == 0 || n >= refsz)
			return NULL;
		memcpy(ref, text, n);
		ref[n] = '\0';
		return ref;
	}
	return NULL;
}

static bool is_image_id(const char *s)
{
	return s && strncmp(s, "sha256:", 7) == 0 && strlen(s) == 71 &&
	       strspn(s + 7, "0123456789abcdef") == 64;
}

/* A volume create answers 201 with a volume that existed too, unchanged:
 * it is the session's only if it carries the session's label. */
static bool ours(const struct track *t, const struct track_answer *a, json_t *answer)
{
	const char *want = json_string_value(json_object_get(t->cfg->rewrite.labels,
							     "ci-wrap.session"));
	const char *got = json_string_value(
		json_object_get(json_object_get(answer, "Labels"), "ci-wrap.session"));

	if (a->creates != RESOURCE_VOLUME || want == NULL)
		return true;
	return got != NULL && strcmp(got, want) == 0;
}

static void line_done(struct track *t, struct track_answer *a)
{
	json_auto_t *msg = NULL;
	const char *text, *id;
	char ref[512];

	if (a->len == 0 || a->len > TRACK_LINE_MAX)
		return;
	msg = json_loadb(a->line, a->len, 0, NULL);
	text = json_string_value(json_object_get(msg, "stream"));
	switch (a->kind) {
	case ANSWER_REMOVE:
	case ANSWER_TAG:
		break;
	case ANSWER_CREATE:
		id = track_created_id(msg);
		if (id == NULL || !ours(t, a, msg))
			break;
		add_made(t, a->creates, id);
		if (a->creates == RESOURCE_CONTAINER)
			probe_container(t, id);
		break;
	case ANSWER_BUILD:
		id = json_string_value(json_object_get(json_object_get(msg, "aux"), "ID"));
		if (is_image_id(id))
			add_made(t, RESOURCE_IMAGE, id);
		if (text && track_build_step(&a->build, text, ref, sizeof(ref)))
			add_image(t, ref);
		break;
	case ANSWER_IMPORT:
		id = json_string_value(json_object_get(msg, "status"));
		if (is_image_id(id))
			add_made(t, RESOURCE_IMAGE, id);
		break;
	case ANSWER_LOAD:
		if (loaded_ref(text, ref, sizeof(ref)))
			add_unique(a->named, ref);
		break;
	}
}

void track_answer_bytes(struct track *t, struct track_answer *a, int status, const char *at,
			size_t n)
{
	if (status < 200 || status >= 300)
		return;
	for (size_t i = 0; i < n; i++) {
		if (at[i] == '\n') {
			line_done(t, a);
			a->len = 0;
		} else if (a->len < TRACK_LINE_MAX) {
			a->line[a->len++] = at[i];
		} else {
			a->len = TRACK_LINE_MAX + 1; /* skipped to its end */
		}
	}
}

/* A load is over: what it named and is new to the daemon goes at teardown;
 * a tag it put on an image that was there already goes alone. */
static void load_done(struct track *t, struct track_answer *a, json_t *after)
{
	json_auto_t *images = NULL, *untag = NULL;
	json_t *v;
	size_t i;

	track_load_diff(a->before, after, a->named, &images, &untag);
	json_array_foreach(images, i, v)
	{
		add_image(t, json_string_value(v));
		(*t->images_created)++;
	}
	json_array_extend(json_object_get(t->result, "untag"), untag);
}

/* Is image id the session's own: labelled with it (in list, an image
 * list), or made unlabelled (a load, a build step)? Its removal takes its
 * tags along. */
static bool session_image(const struct track *t, json_t *list, const char *id)
{
	const char *want = json_string_value(json_object_get(t->cfg->rewrite.labels,
							     "ci-wrap.session"));
	char step[13];
	json_t *img;
	size_t i;

	snprintf(step, sizeof(step), "%s", strncmp(id, "sha256:", 7) == 0 ? id + 7 : id);
	if (json_object_get(t->image_set, id) || json_object_get(t->image_set, step))
		return true;
	json_array_foreach(list, i, img)
	{
		const char *got = json_string_value(json_object_get(
			kind_labels(img, kind_info(RESOURCE_IMAGE)->list_labels), "ci-wrap.session"));

		if (strcmp(json_string_value(json_object_get(img, "Id")) ?: "", id) == 0)
			return want && got && strcmp(got, want) == 0;
	}
	return false;
}

/* A tag is in place: a name new on an image from before the session, or
 * taken from another image, is undone at teardown as a load's would be
 * (teardown.c untag_one()). One on the session's own image goes with it. */
static void tag_done(struct track *t, struct track_answer *a, json_t *after)
{
	json_auto_t *images = NULL, *untag = NULL;
	json_t *u;
	size_t i;

	/* images: an image new since the first list is another request's. */
	track_load_diff(a->before, after, a->named, &images, &untag);
	json_array_foreach(untag, i, u)
	{
		const char *image = json_string_value(json_object_get(u, "image"));
		json_t *list = json_object_get(t->result, "untag");

		if (session_image(t, after, image) || !room(t, json_array_size(list)))
			continue;
		json_array_append(list, u);
		cw_debug("track: the session tagged image %s as %s", image,
			 json_string_value(json_object_get(u, "ref")));
	}
}

/* Take a load or a tag off the tracker's listing and free it. */
static void listing_end(struct track_answer *a)
{
	struct track_answer **pp;

	for (pp = &a->t->listing; *pp != a; pp = &(*pp)->next)
		;
	*pp = a->next;
	answer_free(a);
}

/* The list after a load or a tag is in: record what it did. */
static void on_list_after(void *arg, int status, json_t *body)
{
	struct track_answer *a = arg;
	struct track *t = a->t;
	char why[32];

	a->list = NULL;
	if (status == 200 && json_is_array(body)) {
		if (a->kind == ANSWER_LOAD)
			load_done(t, a, body);
		else
			tag_done(t, a, body);
	} else {
		cw_warn("proxy: cannot list images after %s: %s; what it %s is not undone",
			verb(a, false), list_failure(status, why, sizeof(why)), verb(a, true));
	}
	listing_end(a);
	idle_check(t);
}

/* A load or a tag is over: list the images again, on the loop. The
 * tracker keeps a till then (track_when_idle() waits for it). */
static void list_after(struct track *t, struct track_answer *a)
{
	a->list = list_images(t, t->loop, on_list_after, a);
	if (a->list == NULL) {
		cw_warn("proxy: cannot list images after %s: %s; what it %s is not undone",
			verb(a, false), strerror(errno), verb(a, true));
		answer_free(a);
		return;
	}
	a->t = t;
	a->next = t->listing;
	t->listing = a;
}

void track_answer_end(struct track *t, struct track_answer *a, int status)
{
	if (a == NULL)
		return;
	if (status >= 200 && status < 300) {
		line_done(t, a);
		if (needs_list(a)) {
			list_after(t, a);
			return;
		}
		if (a->kind == ANSWER_REMOVE)
			forget_made(t, a->creates, a->name);
	}
	answer_free(a);
}

bool track_made_by_session(const struct track *t, enum resource_kind kind, const char *id)
{
	json_t *made;
	char key[64];

	if (kind <= RESOURCE_NONE || kind >= RESOURCE__COUNT)
		return false;
	made = json_object_get(json_object_get(t->result, "made"), kind_name(kind));
	if (json_object_get(made, id) != NULL)
		return true;
	if (kind == RESOURCE_IMAGE && json_object_get(t->image_set, id) != NULL)
		return true;
	if (kind == RESOURCE_VOLUME &&
	    json_object_get(json_object_get(t->result, "volumes"), id) != NULL)
		return true;
	if (strlen(id) != 12)
		return false;
	short_key(kind, id, key, sizeof(key));
	return json_object_get(t->shorts, key) != NULL;
}
