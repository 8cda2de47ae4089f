/* metrics.c - counters in DIR/ci-wrap.state, rendered to DIR/ci-wrap.prom.
 *
 * The state is one JSON object: "ended" {class: n}; "created", "removed",
 * "leaked", "reaped_objects" {kind: n}; "reaped_sessions", "oom_kills",
 * "requests", "denied", "started" (the last value written, so the counter
 * never goes down); "teardown" and "memory_peak" histograms {"buckets": [n
 * per bound], "count", "sum"}. Unknown keys are kept, missing ones are 0.
 */
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/kinds.h"
#include "../common/log.h"
#include "../common/util.h"
#include "registry.h"

/* A histogram's fixed buckets: the upper bounds as Prometheus' le labels. */
struct histogram {
	const char *key;        /* in the state */
	const char *name;       /* metric name */
	const char *help;       /* HELP text */
	const double *bounds;   /* upper bounds, ascending */
	const char *const *les; /* the same as le label values */
	size_t n;               /* how many (+Inf comes on top) */
};

static const double teardown_bounds[] = { 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60 };
static const char *const teardown_les[] = { "0.05", "0.1", "0.25", "0.5", "1",
					    "2.5",  "5",   "10",   "30",  "60" };
static const double memory_bounds[] = { 16777216.0,   67108864.0,   268435456.0,
					1073741824.0, 4294967296.0, 17179869184.0 };
static const char *const memory_les[] = { "16777216",   "67108864",   "268435456",
					  "1073741824", "4294967296", "17179869184" };

static const struct histogram teardown_hist = {
	"teardown",
	"ci_wrap_teardown_duration_seconds",
	"Time a session's teardown took once its proxy had drained: objects, pool, report.",
	teardown_bounds,
	teardown_les,
	ARRAY_SIZE(teardown_bounds)
};
static const struct histogram memory_hist = {
	"memory_peak",
	"ci_wrap_session_memory_peak_bytes",
	"Peak memory of a session's pool (command and containers), sessions with a "
	"pool.",
	memory_bounds,
	memory_les,
	ARRAY_SIZE(memory_bounds)
};

static const char *const exit_classes[] = {
	"ok", "failed", "signal", "error", "cannot_run", "none"
};

const char *metrics_exit_class(int s)
{
	if (s < 0)
		return "none";
	if (s == 0)
		return "ok";
	if (s == 125)
		return "error";
	if (s == 126 || s == 127)
		return "cannot_run";
	return s > 128 ? "signal" : "failed";
}

static json_int_t get_int(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static void add_int(json_t *o, const char *key, json_int_t delta)
{
	json_object_set_new(o, key, json_integer(get_int(o, key) + delta));
}

/* The object under key in state, made if missing. */
static json_t *section(json_t *state, const char *key)
{
	json_t *o = json_object_get(state, key);

	if (!json_is_object(o)) {
		o = json_object();
		json_object_set_new(state, key, o);
	}
	return o;
}

static void observe(json_t *state, const struct histogram *h, double v)
{
	json_t *o = section(state, h->key), *b = json_object_get(o, "buckets");

	if (!json_is_array(b) || json_array_size(b) != h->n) {
		b = json_array();
		for (size_t i = 0; i < h->n; i++)
			json_array_append_new(b, json_integer(0));
		json_object_set_new(o, "buckets", b);
	}
	for (size_t i = 0; i < h->n; i++)
		if (v <= h->bounds[i])
			json_array_set_new(
			    b, i, json_integer(json_integer_value(json_array_get(b, i)) + 1));
	add_int(o, "count", 1);
	json_object_set_new(o, "sum", json_real(json_number_value(json_object_get(o, "sum")) + v));
}

/* Leaked objects by kind, from teardown's [{type, id, error}]. */
static void add_leaked(json_t *counts, json_t *leaked)
{
	size_t i;
	json_t *l;

	json_array_foreach (leaked, i, l) {
		const char *type = json_string_value(json_object_get(l, "type"));

		if (type)
			add_int(counts, type, 1);
	}
}

static void add_session(json_t *state, const struct metrics_session *m)
{
	add_int(section(state, "ended"), metrics_exit_class(m->exit_status), 1);
	for (int k = RESOURCE_CONTAINER; k < RESOURCE__COUNT; k++) {
		const char *kind = kind_name(k);

		if (m->proxy)
			add_int(section(state, "created"), kind, (json_int_t)m->proxy->created[k]);
		if (m->teardown)
			add_int(section(state, "removed"), kind, m->teardown->removed[k]);
	}
	if (m->teardown)
		add_leaked(section(state, "leaked"), m->teardown->leaked);
	if (m->proxy) {
		add_int(state, "requests", (json_int_t)m->proxy->requests);
		add_int(state, "denied", (json_int_t)m->proxy->denied);
		for (int r = 0; r < PROXY_DENY__COUNT; r++)
			add_int(section(state, "denied_by"), proxy_deny_name(r),
				(json_int_t)m->proxy->denied_by[r]);
	}
	if (m->pool && m->pool->oom_kills > 0)
		add_int(state, "oom_kills", m->pool->oom_kills);
	if (m->pool && m->pool->memory_peak >= 0)
		observe(state, &memory_hist, (double)m->pool->memory_peak);
	observe(state, &teardown_hist, (double)m->teardown_ms / 1000.0);
}

static void add_reap(json_t *state, const struct teardown_result *res)
{
	add_int(state, "reaped_sessions", 1);
	for (int k = RESOURCE_CONTAINER; k < RESOURCE__COUNT; k++)
		add_int(section(state, "reaped_objects"), kind_name(k), res->removed[k]);
	add_leaked(section(state, "leaked"), res->leaked);
}

static void help_type(FILE *f, const char *name, const char *help, const char *type)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A counter with one sample per kind of object. */
static void by_kind(FILE *f, json_t *state, const char *key, const char *name, const char *help)
{
	json_t *o = json_object_get(state, key);

	help_type(f, name, help, "counter");
	for (int k = RESOURCE_CONTAINER; k < RESOURCE__COUNT; k++)
		fprintf(f, "%s{kind=\"%s\"} %lld\n", name, kind_name(k),
			(long long)get_int(o, kind_name(k)));
}

/* Refused requests, one sample per reason (enum proxy_deny). */
static void by_reason(FILE *f, json_t *denied_by)
{
	const char *name = "ci_wrap_requests_denied_total";

	help_type(f, name,
		  "Docker API requests the proxies refused, by reason: policy (an unreviewed "
		  "or refused route, a body that may not pass), too_large, malformed, daemon "
		  "(unreachable).",
		  "counter");
	for (int r = 0; r < PROXY_DENY__COUNT; r++)
		fprintf(f, "%s{reason=\"%s\"} %lld\n", name, proxy_deny_name(r),
			(long long)get_int(denied_by, proxy_deny_name(r)));
}

static void counter(FILE *f, const char *name, const char *help, json_int_t v)
{
	help_type(f, name, help, "counter");
	fprintf(f, "%s %lld\n", name, (long long)v);
}

static void histogram(FILE *f, json_t *state, const struct histogram *h)
{
	json_t *o = json_object_get(state, h->key), *b = json_object_get(o, "buckets");

	help_type(f, h->name, h->help, "histogram");
	for (size_t i = 0; i < h->n; i++)
		fprintf(f, "%s_bucket{le=\"%s\"} %lld\n", h->name, h->les[i],
			(long long)json_integer_value(json_array_get(b, i)));
	fprintf(f, "%s_bucket{le=\"+Inf\"} %lld\n", h->name, (long long)get_int(o, "count"));
	fprintf(f, "%s_sum %.6f\n%s_count %lld\n", h->name,
		json_number_value(json_object_get(o, "sum")), h->name,
		(long long)get_int(o, "count"));
}

/* The registry now, without skip: entries, live ones, the oldest live age. */
struct registry_census {
	size_t entries;     /* registered sessions, live or waiting for reap */
	size_t live;        /* whose owner runs */
	int64_t oldest_age; /* seconds since the oldest live one started, 0 if none */
};

static void census(const char *skip, struct registry_census *c)
{
	size_t n = 0;
	_cleanup_free_ struct registry_entry *list = registry_list(&n);
	time_t now = time(NULL);

	*c = (struct registry_census){ 0, 0, 0 };
	for (size_t i = 0; i < n; i++) {
		if (skip && strcmp(list[i].id, skip) == 0)
			continue;
		c->entries++;
		if (!registry_owner_alive(list[i].owner))
			continue;
		c->live++;
		if (list[i].created > 0 && now - list[i].created > c->oldest_age)
			c->oldest_age = now - list[i].created;
	}
}

static json_int_t ended_total(json_t *state)
{
	json_int_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(exit_classes); i++)
		n += get_int(json_object_get(state, "ended"), exit_classes[i]);
	return n;
}

/* Sessions started: those that ended or were reaped, and those in the
 * registry now; never less than the value written last. */
static json_int_t started_total(json_t *state, const struct registry_census *c)
{
	json_int_t n =
	    ended_total(state) + get_int(state, "reaped_sessions") + (json_int_t)c->entries;

	if (n < get_int(state, "started"))
		n = get_int(state, "started");
	json_object_set_new(state, "started", json_integer(n));
	return n;
}

static void render_sessions(FILE *f, json_t *state, const struct registry_census *c)
{
	counter(f, "ci_wrap_sessions_started_total",
		"Sessions started on this host (ended, reaped, or running now).",
		started_total(state, c));
	help_type(f, "ci_wrap_sessions_ended_total",
		  "Sessions torn down, by the command's exit class.", "counter");
	for (size_t i = 0; i < ARRAY_SIZE(exit_classes); i++)
		fprintf(f, "ci_wrap_sessions_ended_total{class=\"%s\"} %lld\n", exit_classes[i],
			(long long)get_int(json_object_get(state, "ended"), exit_classes[i]));
	help_type(f, "ci_wrap_sessions_live", "Sessions whose owner process runs.", "gauge");
	fprintf(f, "ci_wrap_sessions_live %zu\n", c->live);
	help_type(f, "ci_wrap_sessions_dead",
		  "Sessions whose owner died, waiting for ci-wrap reap.", "gauge");
	fprintf(f, "ci_wrap_sessions_dead %zu\n", c->entries - c->live);
	help_type(f, "ci_wrap_oldest_session_age_seconds",
		  "Age of the oldest live session, 0 if none.", "gauge");
	fprintf(f, "ci_wrap_oldest_session_age_seconds %lld\n", (long long)c->oldest_age);
	counter(f, "ci_wrap_reaped_sessions_total",
		"Sessions of dead owners removed by reap or a session's start-up sweep.",
		get_int(state, "reaped_sessions"));
}

char *metrics_render(json_t *state, const char *skip)
{
	struct registry_census c;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (f == NULL)
		return NULL;
	census(skip, &c);
	render_sessions(f, state, &c);
	by_kind(f, state, "created", "ci_wrap_objects_created_total",
		"Objects created through the proxy, by kind.");
	by_kind(f, state, "removed", "ci_wrap_objects_removed_total",
		"Objects removed at the end of their session, by kind.");
	by_kind(f, state, "leaked", "ci_wrap_objects_leaked_total",
		"Objects a teardown or a reap could not remove, by kind.");
	by_kind(f, state, "reaped_objects", "ci_wrap_reaped_objects_total",
		"Objects of dead sessions removed by reap, by kind.");
	counter(f, "ci_wrap_oom_kills_total", "Out-of-memory kills inside session pools.",
		get_int(state, "oom_kills"));
	counter(f, "ci_wrap_requests_total", "Docker API requests through the proxies.",
		get_int(state, "requests"));
	by_reason(f, json_object_get(state, "denied_by"));
	histogram(f, state, &teardown_hist);
	histogram(f, state, &memory_hist);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* Write text to dir/name through dir/name.tmp and a rename. */
static int replace_file(const char *dir, const char *name, const char *text, mode_t mode,
			struct cw_error *err)
{
	char path[4096], tmp[4200];
	_cleanup_close_ int fd = -1;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0 || fchmod(fd, mode) < 0 || write_all(fd, text, strlen(text)) < 0)
		return cw_error_set(err, errno, "writing %s", tmp);
	if (rename(tmp, path) < 0)
		return cw_error_set(err, errno, "renaming %s to %s", tmp, path);
	return 0;
}

static json_t *load_state(const char *dir)
{
	char path[4096];
	json_t *state;

	snprintf(path, sizeof(path), "%s/%s", dir, METRICS_STATE);
	state = json_load_file(path, 0, NULL);
	if (!json_is_object(state)) {
		json_decref(state);
		state = json_object();
	}
	return state;
}

/* Under the lock: add, save the state, render the textfile. */
static int update_locked(const char *dir, const struct metrics_session *m,
			 const struct teardown_result *reaped, struct cw_error *err)
{
	json_t *state = load_state(dir);
	_cleanup_free_ char *prom = NULL, *saved = NULL;
	int rc = -1;

	if (m)
		add_session(state, m);
	if (reaped)
		add_reap(state, reaped);
	prom = metrics_render(state, m ? m->session : NULL);
	saved = json_dumps(state, JSON_COMPACT);
	if (prom == NULL || saved == NULL)
		cw_error_set(err, ENOMEM, "rendering the metrics");
	else if (replace_file(dir, METRICS_STATE, saved, 0644, err) == 0 &&
		 replace_file(dir, METRICS_FILE, prom, 0644, err) == 0)
		rc = 0;
	json_decref(state);
	return rc;
}

int metrics_update(const char *dir, const struct metrics_session *m,
		   const struct teardown_result *reaped, struct cw_error *err)
{
	char path[4096];
	_cleanup_close_ int lock = -1;

	if (dir == NULL)
		return 0;
	snprintf(path, sizeof(path), "%s/ci-wrap.lock", dir);
	lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (lock < 0)
		return cw_error_set(err, errno, "opening %s", path);
	while (flock(lock, LOCK_EX) < 0)
		if (errno != EINTR)
			return cw_error_set(err, errno, "locking %s", path);
	return update_locked(dir, m, reaped, err);
}

void metrics_record_session(const char *dir, const struct metrics_session *m)
{
	struct cw_error err = { 0 };

	if (metrics_update(dir, m, NULL, &err) < 0)
		cw_warn("session %s: metrics in %s: %s", m->session, dir, err.msg);
}

void metrics_record_reap(const char *dir, const struct teardown_result *res)
{
	struct cw_error err = { 0 };

	if (metrics_update(dir, NULL, res, &err) < 0)
		cw_warn("reap: metrics in %s: %s", dir, err.msg);
}
