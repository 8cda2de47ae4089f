/* reap.c - find dead sessions by registry entry and by label, remove them. */
#include "reap.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../cgroup/cgpool.h"
#include "../common/kinds.h"
#include "../common/log.h"
#include "../common/proc.h"
#include "../common/util.h"
#include "docker.h"
#include "metrics.h"
#include "registry.h"
#include "session-end.h"
#include "teardown.h"

/* A summary line `ci-wrap stop` did not collect is dropped after this. */
#define SUMMARY_MAX_AGE_S 3600

/* A session found somewhere, and what is known of it. */
struct found {
	char id[96];	 /* session id */
	char owner[256]; /* its owner */
	char dir[4096];	 /* socket directory, "" if unknown */
	time_t started;	 /* when it started, 0 if unknown */
	enum cgpool_manager manager; /* who made its pool */
};

/* A session known only by its labels lost its registry entry: its pool, if
 * any is left, is where this host's manager would have put it. */
static enum cgpool_manager host_manager(void)
{
	return cgpool_host_systemd() && cgpool_host_unified() ? CGPOOL_SYSTEMD : CGPOOL_CGROUPFS;
}

static bool seen(const struct found *list, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i].id, id) == 0)
			return true;
	return false;
}

/* When the owner process started, from its start time in clock ticks. */
static time_t owner_started(const char *owner)
{
	const char *last = strrchr(owner, '/');
	_cleanup_free_ char *stat = read_small_file("/proc/stat", 1 << 16);
	const char *bt = stat ? strstr(stat, "\nbtime ") : NULL;

	if (last == NULL || bt == NULL)
		return 0;
	return (time_t)(strtoll(bt + 7, NULL, 10) +
			strtoll(last + 1, NULL, 10) / sysconf(_SC_CLK_TCK));
}

static bool should_reap(const struct reap_opts *o, const struct found *f)
{
	if (o->skip && strcmp(f->id, o->skip) == 0)
		return false;
	if (o->only && strcmp(f->id, o->only) != 0)
		return false;
	if (!registry_owner_local(f->owner))
		return false; /* another host's: never ours to touch */
	if (!registry_owner_alive(f->owner))
		return true;
	return o->older_than_ms > 0 && f->started > 0 &&
	       (time(NULL) - f->started) * 1000 > o->older_than_ms;
}

static void add_found(struct found **list, size_t *n, size_t *cap, const char *id,
		      const char *owner)
{
	if (*n == *cap)
		*list = xrealloc(*list, (*cap = *cap * 2 + 8) * sizeof(**list));
	memset(&(*list)[*n], 0, sizeof(**list));
	snprintf((*list)[*n].id, sizeof((*list)[*n].id), "%s", id);
	snprintf((*list)[*n].owner, sizeof((*list)[*n].owner), "%s", owner);
	(*list)[*n].started = owner_started(owner);
	(*list)[*n].manager = host_manager();
	(*n)++;
}

/* Sessions named by the labels of one kind's objects. 0 also when a swarm
 * kind is asked of a daemon that is no swarm manager (503): none exist. */
static int scan_kind(struct docker *d, const struct kind_info *k, struct found **list,
		     size_t *n, size_t *cap)
{
	char filter[256], path[512];
	struct cw_error err;
	json_auto_t *answer = NULL;
	json_t *items, *item;
	size_t i;
	long status;

	docker_label_filter("ci-wrap.owner", filter, sizeof(filter));
	snprintf(path, sizeof(path), "%sfilters=%s", k->list, filter);
	status = docker_call(d, "GET", path, 30000, &answer, &err);
	if (k->swarm && status == 503)
		return 0;
	if (status != 200)
		return -1;
	items = k->items_key ? json_object_get(answer, k->items_key) : answer;
	json_array_foreach(items, i, item)
	{
		json_t *labels = kind_labels(item, k->list_labels);
		const char *id = json_string_value(json_object_get(labels, "ci-wrap.session"));
		const char *owner = json_string_value(json_object_get(labels, "ci-wrap.owner"));

		if (id != NULL && owner != NULL && !seen(*list, *n, id))
			add_found(list, n, cap, id, owner);
	}
	return 0;
}

/* Sessions named by the labels of every kind of resource. */
static int scan_labels(struct docker *d, struct found **list, size_t *n, size_t *cap)
{
	int rc = 0;

	for (int k = RESOURCE_NONE + 1; k < RESOURCE__COUNT; k++)
		if (scan_kind(d, kind_info(k), list, n, cap) < 0)
			rc = -1;
	return rc;
}

static void reap_one(const struct reap_opts *o, const struct found *f)
{
	struct session_end e = { .id = f->id, .docker_socket = o->docker_socket,
				 .manager = f->manager, .dir = f->dir, .daemon = true,
				 .oom_fd = -1,
				 .teardown = { .grace_ms = o->grace_ms, .dry_run = o->dry_run } };
	struct session_end_result r = { 0 };
	char counts[256];

	e.teardown.tracked = registry_tracked(f->id);
	if (!o->quiet)
		printf("%s session %s (owner %s)\n", o->dry_run ? "would reap" : "reaping", f->id,
		       f->owner);
	session_end(&e, &r);
	metrics_record_reap(o->dry_run ? NULL : o->metrics_dir, &r.objects);
	teardown_describe(r.objects.removed, counts, sizeof(counts));
	if (!o->quiet)
		printf("  %s %s\n", o->dry_run ? "would remove" : "removed", counts);
	json_decref(r.objects.leaked);
	json_decref(e.teardown.tracked);
}

/* Sessions named by the registry. */
static struct found *scan_registry(size_t *n, size_t *cap)
{
	size_t nreg = 0;
	_cleanup_free_ struct registry_entry *reg = registry_list(&nreg);
	struct found *list = xcalloc(nreg + 1, sizeof(*list));

	for (size_t i = 0; i < nreg; i++) {
		snprintf(list[i].id, sizeof(list[i].id), "%s", reg[i].id);
		snprintf(list[i].owner, sizeof(list[i].owner), "%s", reg[i].owner);
		snprintf(list[i].dir, sizeof(list[i].dir), "%s", reg[i].dir);
		list[i].started = reg[i].created;
		list[i].manager = reg[i].manager;
	}
	*n = nreg;
	*cap = nreg + 1;
	return list;
}

bool reap_needed(const struct reap_opts *o)
{
	size_t n, cap;
	_cleanup_free_ struct found *list = scan_registry(&n, &cap);

	if (o->labels)
		return true;
	for (size_t i = 0; i < n; i++)
		if (should_reap(o, &list[i]))
			return true;
	return false;
}

int reap_run(const struct reap_opts *o)
{
	size_t n, cap;
	struct found *list = scan_registry(&n, &cap);
	struct docker *d = docker_open(o->docker_socket);
	int reaped = 0, rc = 0;

	if (o->labels) {
		rc = scan_labels(d, &list, &n, &cap);
		registry_prune_summaries(SUMMARY_MAX_AGE_S);
	}
	for (size_t i = 0; i < n; i++) {
		if (!should_reap(o, &list[i]))
			continue;
		reap_one(o, &list[i]);
		reaped++;
	}
	if (!o->quiet && reaped == 0 && o->only == NULL)
		printf("nothing to reap\n");
	docker_close(d);
	free(list);
	return rc < 0 ? -1 : reaped;
}
