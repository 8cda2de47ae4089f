/* teardown.c - remove a session's resources from the daemon. */
#include "teardown.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"

#define PARALLEL 32
#define LIST_ROUNDS 6
#define CALL_TIMEOUT_MS 30000
/* A teardown on a terminal that takes longer than this shows progress. */
#define PROGRESS_AFTER_MS 1000

/* One line on stderr, rewritten in place: what is being done, how many left. */
struct progress {
	bool enabled;	  /* stderr is a terminal and -q was not given */
	uint64_t start;	  /* when teardown began */
	const char *verb; /* "stopping", "removing" */
	enum resource_kind kind; /* of what */
	bool shown;	  /* a line is on the screen */
	char line[128];	  /* the line shown last */
};

static void progress_tick(void *arg, size_t done, size_t total)
{
	struct progress *p = arg;
	char line[sizeof(p->line)];

	if (!p->enabled || now_ms() - p->start < PROGRESS_AFTER_MS)
		return;
	snprintf(line, sizeof(line), "ci-wrap: %s %ss: %zu of %zu left", p->verb,
		 kind_name(p->kind), total - done, total);
	if (strcmp(line, p->line) == 0)
		return;
	memcpy(p->line, line, sizeof(line));
	fprintf(stderr, "\r%s\033[K", line);
	fflush(stderr);
	p->shown = true;
}

static void progress_phase(struct docker *d, struct progress *p, const char *verb,
			   enum resource_kind kind)
{
	p->verb = verb;
	p->kind = kind;
	docker_on_tick(d, progress_tick, p);
}

static void progress_end(struct docker *d, struct progress *p)
{
	docker_on_tick(d, NULL, NULL);
	if (p->shown)
		fputs("\r\033[K", stderr);
}

void teardown_describe(const unsigned counts[RESOURCE__COUNT], char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int k = RESOURCE_CONTAINER; k < RESOURCE__COUNT; k++) {
		if (counts[k] == 0 && kind_info(k)->swarm)
			continue; /* most daemons are no swarm managers */
		n += (size_t)snprintf(buf + n, size - n, "%s%u %s%s", n ? ", " : "", counts[k],
				      kind_name(k), counts[k] == 1 ? "" : "s");
		if (n >= size)
			return;
	}
}

/* IDs of the listed objects that really carry the session's label: a daemon
 * that ignored the filter must never make us delete someone else's.
 * *no_swarm is set when the daemon is not a swarm manager. */
static json_t *list_owned(struct docker *d, const struct kind_info *k, const char *session,
			  bool *no_swarm, char *why, size_t whysz)
{
	char label[320], filter[512], path[1024];
	struct cw_error err;
	json_t *answer, *items, *item, *ids = json_array();
	size_t i;
	int status;

	snprintf(label, sizeof(label), "ci-wrap.session=%s", session);
	docker_label_filter(label, filter, sizeof(filter));
	snprintf(path, sizeof(path), "%sfilters=%s", k->list, filter);
	status = docker_call(d, "GET", path, CALL_TIMEOUT_MS, &answer, &err);
	if (k->swarm && status == 503) { /* "not a swarm manager": none exist */
		*no_swarm = true;
		json_decref(answer);
		return ids;
	}
	if (status != 200) {
		if (status < 0)
			snprintf(why, whysz, "cannot reach the daemon: %s", err.msg);
		else
			snprintf(why, whysz, "cannot list them on the daemon: HTTP %d", status);
		cw_verbose("teardown: listing %ss failed: %s", kind_name(k->kind), why);
		json_decref(answer);
		json_decref(ids);
		return NULL;
	}
	items = k->items_key ? json_object_get(answer, k->items_key) : answer;
	json_array_foreach(items, i, item)
	{
		const char *owner = json_string_value(
			json_object_get(kind_labels(item, k->list_labels), "ci-wrap.session"));
		json_t *id = json_object_get(item, k->id_key);

		if (owner && strcmp(owner, session) == 0 && json_is_string(id))
			json_array_append(ids, id);
	}
	json_decref(answer);
	return ids;
}

static struct docker_job *jobs_for(json_t *ids, const char *method, const char *prefix,
				   const char *suffix, long timeout_ms)
{
	size_t n = json_array_size(ids), i;
	struct docker_job *jobs = xcalloc(n, sizeof(*jobs));
	json_t *id;

	json_array_foreach(ids, i, id)
	{
		jobs[i].method = method;
		jobs[i].timeout_ms = timeout_ms;
		snprintf(jobs[i].path, sizeof(jobs[i].path), "%s%s%s", prefix,
			 json_string_value(id), suffix);
	}
	return jobs;
}

/* A delete that worked, or found the object gone already. */
static bool removed(const struct docker_job *j)
{
	return (j->status >= 200 && j->status < 300) || j->status == 404;
}

static void record_leak(struct teardown_result *res, enum resource_kind kind, const char *id,
			const char *error)
{
	json_array_append_new(res->leaked, json_pack("{s:s,s:s,s:s}", "type",
						     kind_name(kind), "id", id, "error",
						     error));
}

/* A kind could not be listed: what the session was seen to make of it may
 * be left. Without a record of that (reap), all of the kind may be. */
static void record_unlisted(const struct teardown_opts *o, struct teardown_result *res,
			    enum resource_kind kind, const char *why)
{
	json_t *made = json_object_get(json_object_get(o->tracked, "made"),
				       kind_name(kind)), *v;
	const char *id;

	if (made == NULL) { /* reap: nothing seen */
		record_leak(res, kind, "*", why);
		return;
	}
	json_object_foreach(made, id, v)
	record_leak(res, kind, id, why);
}

/* Containers get the grace period: docker's stop sends the stop signal,
 * waits, then SIGKILLs, and marks them stopped by hand so a restart policy
 * does not bring them back. Its timeout is in whole seconds. */
static void stop_containers(struct docker *d, json_t *ids, int64_t grace_ms,
			    struct progress *p)
{
	char suffix[64];
	long secs = (long)((grace_ms + 999) / 1000);
	struct docker_job *jobs;

	snprintf(suffix, sizeof(suffix), "/stop?t=%ld", secs);
	jobs = jobs_for(ids, "POST", "/containers/", suffix, secs * 1000 + CALL_TIMEOUT_MS);
	progress_phase(d, p, "stopping", RESOURCE_CONTAINER);
	docker_run_all(d, jobs, json_array_size(ids), PARALLEL);
	free(jobs);
}

/* Remove one kind until a listing comes back empty: a create that raced the
 * drain, or a network whose endpoints are still detaching, gets another go.
 * False when the daemon is not a swarm manager (a swarm kind). */
static bool remove_kind(struct docker *d, const struct kind_info *k, const struct teardown_opts *o,
			struct teardown_result *res, struct progress *p)
{
	bool no_swarm = false;
	json_t *ids = NULL, *failed = NULL;
	struct docker_job *jobs = NULL;
	char why[1024], prefix[64];

	snprintf(prefix, sizeof(prefix), "%s/", k->collection);

	for (int round = 0; round < LIST_ROUNDS; round++) {
		size_t n;

		json_decref(ids);
		ids = list_owned(d, k, o->session, &no_swarm, why, sizeof(why));
		n = json_array_size(ids);
		if (ids == NULL && round == 0)
			record_unlisted(o, res, k->kind, why);
		if (ids == NULL || n == 0)
			break;
		if (o->dry_run) {
			for (size_t i = 0; i < n; i++)
				printf("would remove %s %s\n", kind_name(k->kind),
				       json_string_value(json_array_get(ids, i)));
			res->removed[k->kind] += (unsigned)n;
			break;
		}
		if (k->kind == RESOURCE_CONTAINER && round == 0)
			stop_containers(d, ids, o->grace_ms, p);
		progress_phase(d, p, "removing", k->kind);
		free(jobs);
		jobs = jobs_for(ids, "DELETE", prefix, k->remove_query, CALL_TIMEOUT_MS);
		docker_run_all(d, jobs, n, PARALLEL);
		json_decref(failed);
		failed = json_array();
		for (size_t i = 0; i < n; i++) {
			if (removed(&jobs[i]))
				res->removed[k->kind]++;
			else
				json_array_append_new(failed, json_pack("{s:s,s:s}", "id",
					json_string_value(json_array_get(ids, i)), "error",
					jobs[i].error[0] ? jobs[i].error : "no answer"));
		}
		if (json_array_size(failed) > 0)
			usleep((useconds_t)(100000u << round)); /* 409 while detaching */
	}
	if (json_array_size(ids) > 0 && !o->dry_run) {
		size_t i;
		json_t *f;

		json_array_foreach(failed, i, f)
		record_leak(res, k->kind, json_string_value(json_object_get(f, "id")),
			    json_string_value(json_object_get(f, "error")));
	}
	json_decref(failed);
	json_decref(ids);
	free(jobs);
	return !no_swarm;
}

/* ---- what carries no label ----------------------------------------------- */

/* Anonymous volumes of the session's containers: the daemon removes them
 * with a container only when asked (v=1), and a job's own `docker rm -f`
 * or `compose down` does not ask. A volume still in use (a container from
 * outside the session mounts it, --volumes-from) stays. */
static void remove_anonymous_volumes(struct docker *d, const struct teardown_opts *o,
				     struct teardown_result *res)
{
	json_auto_t *names = json_array();
	struct docker_job *jobs;
	const char *name;
	json_t *v;
	size_t n;

	json_object_foreach(json_object_get(o->tracked, "volumes"), name, v)
	json_array_append_new(names, json_string(name));
	n = json_array_size(names);
	if (n == 0)
		return;
	if (o->dry_run) {
		for (size_t i = 0; i < n; i++)
			printf("would remove volume %s\n",
			       json_string_value(json_array_get(names, i)));
		return;
	}
	jobs = jobs_for(names, "DELETE", "/volumes/", "", CALL_TIMEOUT_MS);
	docker_run_all(d, jobs, n, PARALLEL);
	for (size_t i = 0; i < n; i++) {
		name = json_string_value(json_array_get(names, i));
		if (jobs[i].status >= 200 && jobs[i].status < 300)
			res->removed[RESOURCE_VOLUME]++;
		else if (jobs[i].status == 409)
			cw_verbose("teardown: anonymous volume %s is in use outside the "
				   "session: left", name);
		else if (jobs[i].status != 404)
			record_leak(res, RESOURCE_VOLUME, name,
				    jobs[i].error[0] ? jobs[i].error : "no answer");
	}
	free(jobs);
}

/* The listed image whose ID is ref or starts with sha256:ref, or NULL. */
static json_t *find_image(json_t *list, const char *ref)
{
	json_t *img;
	size_t i;

	json_array_foreach(list, i, img)
	{
		const char *id = json_string_value(json_object_get(img, "Id"));

		if (id == NULL)
			continue;
		if (strcmp(id, ref) == 0 ||
		    (strncmp(id, "sha256:", 7) == 0 && strncmp(id + 7, ref, strlen(ref)) == 0))
			return img;
	}
	return NULL;
}

/* May an image the session was seen to make go? A load's (a full ID) was
 * new to the daemon when it was checked; a build step (a short ID read from
 * the build's output) must also be younger than the session, which keeps a
 * misread cache hit from costing anyone an image. */
static bool made_by_session(json_t *img, const char *ref, json_int_t since)
{
	if (strncmp(ref, "sha256:", 7) == 0 || since <= 0)
		return true;
	return json_integer_value(json_object_get(img, "Created")) >= since - 1;
}

/* Unlabelled images the session made, newest first (a step's image is the
 * parent of the next one's). noprune: parents are removed only by ID. */
static void remove_made_images(struct docker *d, const struct teardown_opts *o,
			       struct teardown_result *res, json_t *refs)
{
	json_int_t since = json_integer_value(json_object_get(o->tracked, "since"));
	json_auto_t *list = NULL;
	struct cw_error err = { 0 };
	char path[512], why[1024];
	size_t n = json_array_size(refs);
	long status;

	if (n == 0)
		return;
	status = docker_call(d, "GET", "/images/json?all=1", CALL_TIMEOUT_MS, &list, &err);
	if (status != 200) {
		if (status < 0)
			snprintf(why, sizeof(why), "cannot reach the daemon: %s", err.msg);
		else
			snprintf(why, sizeof(why), "cannot list images on the daemon: HTTP %ld",
				 status);
		for (size_t i = 0; i < n; i++)
			record_leak(res, RESOURCE_IMAGE, json_string_value(json_array_get(refs, i)),
				    why);
		return;
	}
	for (size_t i = n; i-- > 0;) {
		const char *ref = json_string_value(json_array_get(refs, i));
		json_t *img = ref ? find_image(list, ref) : NULL;
		const char *id = json_string_value(json_object_get(img, "Id"));

		if (id == NULL || !made_by_session(img, ref, since))
			continue;
		if (o->dry_run) {
			printf("would remove image %s\n", id);
			res->removed[RESOURCE_IMAGE]++;
			continue;
		}
		snprintf(path, sizeof(path), "/images/%s?force=1&noprune=1", id);
		status = docker_call(d, "DELETE", path, CALL_TIMEOUT_MS, NULL, &err);
		if (status >= 200 && status < 300)
			res->removed[RESOURCE_IMAGE]++;
		else if (status != 404)
			record_leak(res, RESOURCE_IMAGE, id,
				    status < 0 ? err.msg : "the daemon refused");
	}
}

/* Point tag ref (repo:tag) at image. */
static long tag_image(struct docker *d, const char *image, const char *ref)
{
	const char *slash = strrchr(ref, '/'), *colon = strrchr(ref, ':');
	struct cw_error err;
	char path[1024];

	if (colon == NULL || (slash && colon < slash))
		return -1;
	snprintf(path, sizeof(path), "/images/%s/tag?repo=%.*s&tag=%s", image,
		 (int)(colon - ref), ref, colon + 1);
	return docker_call(d, "POST", path, CALL_TIMEOUT_MS, NULL, &err);
}

/* How many tags other than ref an image has. */
static size_t other_tags(json_t *img, const char *ref)
{
	json_t *tag;
	size_t j, n = 0;

	json_array_foreach(json_object_get(img, "RepoTags"), j, tag)
	{
		const char *t = json_string_value(tag);

		n += t && strcmp(t, ref) != 0 && strcmp(t, "<none>:<none>") != 0;
	}
	return n;
}

/* An image other than skip to hold tag ref for a moment, or NULL: one the
 * session made (it goes anyway), else the one with the most other tags (a
 * concurrent untag of one of them must not leave it with ref alone). */
static const char *tag_holder(json_t *list, const char *skip, const char *ref, json_t *own)
{
	const char *best = NULL;
	size_t most = 0, i, n;
	json_t *img, *v;

	json_array_foreach(list, i, img)
	{
		const char *id = json_string_value(json_object_get(img, "Id"));
		size_t k;

		if (id == NULL || strcmp(id, skip) == 0 || (n = other_tags(img, ref)) == 0)
			continue;
		json_array_foreach(own, k, v)
		{
			if (json_is_string(v) && strcmp(json_string_value(v), id) == 0)
				return id;
		}
		if (n > most) {
			most = n;
			best = id;
		}
	}
	return best;
}

/* Does an inspected image carry the session's label? */
static bool labelled_with(json_t *inspect, const char *session)
{
	const char *got = json_string_value(json_object_get(
		kind_labels(inspect, kind_info(RESOURCE_IMAGE)->inspect_labels), "ci-wrap.session"));

	return got && session && strcmp(got, session) == 0;
}

/* Take a tag a load or `docker tag` put on an image that existed before
 * off it again, leaving the image. The tag goes back to the image it named
 * before if that is still there. Otherwise: the API (1.41) has no untag,
 * and a DELETE of an image's last tag deletes the image too
 * (daemon/images/image_delete.go), so a last tag is first moved to an
 * image that keeps another one, and deleted there. */
static void untag_one(struct docker *d, json_t *u, json_t *list, const struct teardown_opts *o,
		      struct teardown_result *res)
{
	json_t *own = json_object_get(o->tracked, "images");
	const char *ref = json_string_value(json_object_get(u, "ref"));
	const char *image = json_string_value(json_object_get(u, "image"));
	const char *was = json_string_value(json_object_get(u, "was"));
	json_t *now = NULL;
	struct cw_error err;
	char path[1024];
	size_t tags;
	long status;

	if (ref == NULL || image == NULL)
		return;
	snprintf(path, sizeof(path), "/images/%s/json", ref);
	status = docker_call(d, "GET", path, CALL_TIMEOUT_MS, &now, &err);
	if (status != 200 ||
	    strcmp(json_string_value(json_object_get(now, "Id")) ?: "", image) != 0 ||
	    labelled_with(now, o->session)) {
		/* gone, or moved on since: not the session's tag now; or on the
		 * session's own image, whose removal takes (or took) its tags */
		json_decref(now);
		return;
	}
	/* Counted now, not from list: an earlier untag may have taken one. */
	tags = json_array_size(json_object_get(now, "RepoTags"));
	json_decref(now);
	if (was && find_image(list, was) && tag_image(d, was, ref) == 201)
		return;
	if (tags < 2) {
		const char *holder = tag_holder(list, image, ref, own);

		if (holder == NULL || tag_image(d, holder, ref) != 201) {
			record_leak(res, RESOURCE_IMAGE, ref, "cannot take the tag off an image "
							      "that existed before the session");
			return;
		}
	}
	snprintf(path, sizeof(path), "/images/%s?noprune=1", ref);
	status = docker_call(d, "DELETE", path, CALL_TIMEOUT_MS, NULL, &err);
	if (status != 200 && status != 404)
		record_leak(res, RESOURCE_IMAGE, ref, status < 0 ? err.msg : "the daemon refused");
}

/* Tags a load or `docker tag` put on images from before the session. */
static void remove_tags(struct docker *d, const struct teardown_opts *o,
			struct teardown_result *res)
{
	json_t *untag = json_object_get(o->tracked, "untag"), *u;
	json_auto_t *list = NULL;
	struct cw_error err;
	size_t i;

	if (json_array_size(untag) == 0)
		return;
	if (o->dry_run) {
		json_array_foreach(untag, i, u)
		printf("would remove tag %s\n", json_string_value(json_object_get(u, "ref")));
		return;
	}
	if (docker_call(d, "GET", "/images/json", CALL_TIMEOUT_MS, &list, &err) != 200) {
		json_array_foreach(untag, i, u)
		record_leak(res, RESOURCE_IMAGE, json_string_value(json_object_get(u, "ref")),
			    "cannot reach the daemon to take this tag off");
		return;
	}
	/* Newest first, as a stack is undone: a name the job moved twice ends
	 * where it was before the session, or gone if it was new. */
	for (i = json_array_size(untag); i-- > 0;)
		untag_one(d, json_array_get(untag, i), list, o, res);
}

/* What carries no label but goes with a kind: the anonymous volumes after
 * the labelled volumes; after the labelled images, the tags put on older
 * images (first: a tag may go back from a new image), then the images
 * made unlabelled. */
static void remove_unlabelled(struct docker *d, enum resource_kind kind,
			      const struct teardown_opts *o, struct teardown_result *res)
{
	if (kind == RESOURCE_VOLUME) {
		remove_anonymous_volumes(d, o, res);
	} else if (kind == RESOURCE_IMAGE) {
		remove_tags(d, o, res);
		remove_made_images(d, o, res, json_object_get(o->tracked, "images"));
	}
}

void teardown_session(struct docker *d, const struct teardown_opts *o,
		      struct teardown_result *res)
{
	struct progress p = { .enabled = o->progress, .start = now_ms() };
	size_t n;
	const enum resource_kind *order = kind_teardown_order(&n);
	bool swarm = true;

	memset(res->removed, 0, sizeof(res->removed));
	if (res->leaked == NULL)
		res->leaked = json_array();
	/* Services come first: their tasks would restart the containers. */
	for (size_t i = 0; i < n; i++) {
		const struct kind_info *k = kind_info(order[i]);

		if ((k->swarm && !swarm) || (k->kind == RESOURCE_IMAGE && o->keep_images))
			continue; /* outside a swarm, more 503s would tell nothing new */
		if (!remove_kind(d, k, o, res, &p))
			swarm = false;
		remove_unlabelled(d, k->kind, o, res);
	}
	progress_end(d, &p);
}
