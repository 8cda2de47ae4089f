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
		 teardown_kind_name(p->kind), total - done, total);
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

/* How each kind is listed and removed. */
struct kind_ops {
	enum resource_kind kind; /* which */
	const char *list;	 /* list path, before "?filters=" */
	const char *items_key;	 /* key of the array in the answer, NULL: top level */
	const char *id_key;	 /* key of the object's id */
	const char *remove;	 /* DELETE path before the id */
	const char *remove_query; /* and after it */
	bool swarm;		 /* labels in Spec; a daemon outside a swarm has none */
};

#define KIND(k, list_path, items, id, remove_path, query, is_swarm)                              \
	{ .kind = (k), .list = (list_path), .items_key = (items), .id_key = (id),                \
	  .remove = (remove_path), .remove_query = (query), .swarm = (is_swarm) }

static const struct kind_ops containers = KIND(RESOURCE_CONTAINER, "/containers/json?all=1&",
					       NULL, "Id", "/containers/", "?force=1&v=1", false);
static const struct kind_ops networks = KIND(RESOURCE_NETWORK, "/networks?", NULL, "Id",
					     "/networks/", "", false);
static const struct kind_ops volumes = KIND(RESOURCE_VOLUME, "/volumes?", "Volumes", "Name",
					    "/volumes/", "", false);
static const struct kind_ops images = KIND(RESOURCE_IMAGE, "/images/json?", NULL, "Id",
					   "/images/", "?force=1", false);
static const struct kind_ops services = KIND(RESOURCE_SERVICE, "/services?", NULL, "ID",
					     "/services/", "", true);
static const struct kind_ops secrets = KIND(RESOURCE_SECRET, "/secrets?", NULL, "ID",
					    "/secrets/", "", true);
static const struct kind_ops configs = KIND(RESOURCE_CONFIG, "/configs?", NULL, "ID",
					    "/configs/", "", true);

const char *teardown_kind_name(enum resource_kind kind)
{
	static const char *names[RESOURCE__COUNT] = {
		[RESOURCE_CONTAINER] = "container", [RESOURCE_NETWORK] = "network",
		[RESOURCE_VOLUME] = "volume",	    [RESOURCE_IMAGE] = "image",
		[RESOURCE_SERVICE] = "service",	    [RESOURCE_SECRET] = "secret",
		[RESOURCE_CONFIG] = "config",
	};
	return names[kind] ? names[kind] : "resource";
}

void teardown_describe(const unsigned counts[RESOURCE__COUNT], char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int k = RESOURCE_CONTAINER; k < RESOURCE__COUNT; k++) {
		if (counts[k] == 0 && k > RESOURCE_IMAGE)
			continue;
		n += (size_t)snprintf(buf + n, size - n, "%s%u %s%s", n ? ", " : "", counts[k],
				      teardown_kind_name(k), counts[k] == 1 ? "" : "s");
		if (n >= size)
			return;
	}
}

/* IDs of the listed objects that really carry the session's label: a daemon
 * that ignored the filter must never make us delete someone else's.
 * *no_swarm is set when the daemon is not a swarm manager. */
static json_t *list_owned(struct docker *d, const struct kind_ops *k, const char *session,
			  bool *no_swarm)
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
		cw_verbose("teardown: listing %ss failed", teardown_kind_name(k->kind));
		json_decref(answer);
		json_decref(ids);
		return NULL;
	}
	items = k->items_key ? json_object_get(answer, k->items_key) : answer;
	json_array_foreach(items, i, item)
	{
		json_t *holder = k->swarm ? json_object_get(item, "Spec") : item;
		const char *owner = json_string_value(
			json_object_get(json_object_get(holder, "Labels"), "ci-wrap.session"));
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
						     teardown_kind_name(kind), "id", id, "error",
						     error));
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
static bool remove_kind(struct docker *d, const struct kind_ops *k, const struct teardown_opts *o,
			struct teardown_result *res, struct progress *p)
{
	bool no_swarm = false;
	json_t *ids = NULL, *failed = NULL;
	struct docker_job *jobs = NULL;

	for (int round = 0; round < LIST_ROUNDS; round++) {
		size_t n;

		json_decref(ids);
		ids = list_owned(d, k, o->session, &no_swarm);
		n = json_array_size(ids);
		if (ids == NULL && round == 0)
			record_leak(res, k->kind, "*", "cannot list them on the daemon");
		if (ids == NULL || n == 0)
			break;
		if (o->dry_run) {
			for (size_t i = 0; i < n; i++)
				printf("would remove %s %s\n", teardown_kind_name(k->kind),
				       json_string_value(json_array_get(ids, i)));
			res->removed[k->kind] += (unsigned)n;
			break;
		}
		if (k->kind == RESOURCE_CONTAINER && round == 0)
			stop_containers(d, ids, o->grace_ms, p);
		progress_phase(d, p, "removing", k->kind);
		free(jobs);
		jobs = jobs_for(ids, "DELETE", k->remove, k->remove_query, CALL_TIMEOUT_MS);
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

/* Loaded images carry no label: removed by the name or ID the load
 * reported (the proxy kept only those that did not exist before). */
static void remove_loaded(struct docker *d, const struct teardown_opts *o,
			  struct teardown_result *res)
{
	size_t n = json_array_size(o->loaded_images);
	struct docker_job *jobs;

	if (o->dry_run) {
		for (size_t i = 0; i < n; i++)
			printf("would remove image %s\n",
			       json_string_value(json_array_get(o->loaded_images, i)));
		res->removed[RESOURCE_IMAGE] += (unsigned)n;
		return;
	}
	if (n == 0)
		return;
	jobs = jobs_for(o->loaded_images, "DELETE", "/images/", "?force=1", CALL_TIMEOUT_MS);
	docker_run_all(d, jobs, n, PARALLEL);
	for (size_t i = 0; i < n; i++) {
		if (removed(&jobs[i]))
			res->removed[RESOURCE_IMAGE]++;
		else
			record_leak(res, RESOURCE_IMAGE,
				    json_string_value(json_array_get(o->loaded_images, i)),
				    jobs[i].error[0] ? jobs[i].error : "no answer");
	}
	free(jobs);
}

void teardown_session(struct docker *d, const struct teardown_opts *o,
		      struct teardown_result *res)
{
	struct progress p = { .enabled = o->progress, .start = now_ms() };
	bool swarm;

	memset(res->removed, 0, sizeof(res->removed));
	if (res->leaked == NULL)
		res->leaked = json_array();
	/* Services first: their tasks would restart what goes next. */
	swarm = remove_kind(d, &services, o, res, &p);
	remove_kind(d, &containers, o, res, &p);
	remove_kind(d, &networks, o, res, &p);
	remove_kind(d, &volumes, o, res, &p);
	if (swarm) { /* outside a swarm, two more 503s to learn nothing */
		remove_kind(d, &secrets, o, res, &p);
		remove_kind(d, &configs, o, res, &p);
	}
	if (!o->keep_images) {
		remove_kind(d, &images, o, res, &p);
		remove_loaded(d, o, res);
	}
	progress_end(d, &p);
}
