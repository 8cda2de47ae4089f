/* systemd.c - the pool as a transient systemd slice, for hosts where docker
 * uses its systemd cgroup driver (systemd + cgroup v2: Debian 12, Ubuntu
 * 22.04+, RHEL 9). That driver takes only "*.slice" cgroup parents, and a
 * slice it does not find is created by systemd on the first container with
 * no limits: so the session's slice is made first, with its limits, through
 * StartTransientUnit, and only then is anything created in it.
 *
 * Names: a dash in a slice name means nesting (ci-wrap-x.slice would sit in
 * ci-wrap.slice, itself in ci.slice), so the slice is ci_wrap-<session>.slice
 * with the session's dashes turned into underscores, in ci_wrap.slice, which
 * holds every session of the host and which an operator may cap as a whole.
 * Docker's systemd driver expands a parent's dashes the same way.
 *
 * The command runs in a leaf cgroup, <slice>/job, that ci-wrap makes and
 * removes itself. Not in a scope: systemd 252 stops a whole scope as soon
 * as one of its processes is OOM-killed (OOMPolicy= for scopes came with
 * 253), which would turn one test's OOM into a killed job; a slice has no
 * such policy. Below the slice the unified hierarchy's files do the rest
 * (v2.c's enter, stats and kill).
 *
 * libsystemd is dlopen()ed, as libcurl is: only the launcher that makes the
 * slice and the process that removes it ever map it.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "../common/util.h"
#include "cgpool-internal.h"

#define LIBSYSTEMD_SONAME "libsystemd.so.0"
#define SD_DEST "org.freedesktop.systemd1"
#define SD_PATH "/org/freedesktop/systemd1"
#define SD_MANAGER "org.freedesktop.systemd1.Manager"
/* How long a start or stop job may take, and each bus call. */
#define JOB_TIMEOUT_US (30ull * 1000 * 1000)
/* How long a stopped slice may take to be unloaded. */
#define UNLOAD_WAIT_MS 3000

/* The sd-bus entry points this file uses. */
static struct sdbus_api {
	bool loaded;									/* all resolved */
	int (*open_system)(sd_bus **);							/* sd_bus_open_system */
	sd_bus *(*flush_close_unref)(sd_bus *);						/* sd_bus_flush_close_unref */
	int (*new_method_call)(sd_bus *, sd_bus_message **, const char *, const char *,
			       const char *, const char *);				/* sd_bus_message_new_method_call */
	int (*append)(sd_bus_message *, const char *, ...);				/* sd_bus_message_append */
	int (*open_container)(sd_bus_message *, char, const char *);			/* sd_bus_message_open_container */
	int (*close_container)(sd_bus_message *);					/* sd_bus_message_close_container */
	int (*call)(sd_bus *, sd_bus_message *, uint64_t, sd_bus_error *,
		    sd_bus_message **);							/* sd_bus_call */
	int (*call_method)(sd_bus *, const char *, const char *, const char *, const char *,
			   sd_bus_error *, sd_bus_message **, const char *, ...);	/* sd_bus_call_method */
	int (*read)(sd_bus_message *, const char *, ...);				/* sd_bus_message_read */
	sd_bus_message *(*message_unref)(sd_bus_message *);				/* sd_bus_message_unref */
	void (*error_free)(sd_bus_error *);						/* sd_bus_error_free */
	int (*match_signal)(sd_bus *, sd_bus_slot **, const char *, const char *,
			    const char *, const char *, sd_bus_message_handler_t, void *); /* sd_bus_match_signal */
	int (*process)(sd_bus *, sd_bus_message **);					/* sd_bus_process */
	int (*wait)(sd_bus *, uint64_t);						/* sd_bus_wait */
	sd_bus_slot *(*slot_unref)(sd_bus_slot *);					/* sd_bus_slot_unref */
} sd;

static int sdbus_load(struct cw_error *err)
{
	static const struct dl_sym syms[] = {
#define SYM(field, name) { #name, offsetof(struct sdbus_api, field) }
		SYM(open_system, sd_bus_open_system),
		SYM(flush_close_unref, sd_bus_flush_close_unref),
		SYM(new_method_call, sd_bus_message_new_method_call),
		SYM(append, sd_bus_message_append),
		SYM(open_container, sd_bus_message_open_container),
		SYM(close_container, sd_bus_message_close_container),
		SYM(call, sd_bus_call),
		SYM(call_method, sd_bus_call_method),
		SYM(read, sd_bus_message_read),
		SYM(message_unref, sd_bus_message_unref),
		SYM(error_free, sd_bus_error_free),
		SYM(match_signal, sd_bus_match_signal),
		SYM(process, sd_bus_process),
		SYM(wait, sd_bus_wait),
		SYM(slot_unref, sd_bus_slot_unref),
#undef SYM
	};

	if (sd.loaded)
		return 0;
	if (dl_load_table(LIBSYSTEMD_SONAME, syms, ARRAY_SIZE(syms), &sd, err) < 0)
		return -1;
	sd.loaded = true;
	return 0;
}

struct systemd_state {
	struct v2_state v2; /* first: v2.c's functions read the pool through it */
	char unit[256];	    /* ci_wrap-<session>.slice */
	sd_bus *bus;	    /* the system bus, once connected */
};

void cgpool_systemd_names(struct cgpool *pool, const char *session)
{
	char name[96];
	size_t n = 0;

	for (const char *p = session; *p && n < sizeof(name) - 1; p++)
		name[n++] = *p == '-' ? '_' : *p;
	name[n] = '\0';
	snprintf(pool->parent, sizeof(pool->parent), "ci_wrap-%s.slice", name);
	snprintf(pool->path, sizeof(pool->path), "/ci_wrap.slice/ci_wrap-%s.slice", name);
}

/* "what failed: the bus's message" */
static int bus_error(struct cw_error *err, int r, sd_bus_error *e, const char *what)
{
	if (e && e->message)
		cw_error_set(err, 0, "%s: %s", what, e->message);
	else
		cw_error_set(err, r < 0 ? -r : 0, "%s", what);
	if (e)
		sd.error_free(e);
	return -1;
}

static int connect_bus(struct systemd_state *st, struct cw_error *err)
{
	int r;

	if (st->bus)
		return 0;
	if (sdbus_load(err) < 0)
		return -1;
	r = sd.open_system(&st->bus);
	if (r < 0) {
		st->bus = NULL;
		return cw_error_set(err, -r, "connecting to systemd on the system bus");
	}
	return 0;
}

/* A job systemd queued, and how it ended. */
struct job_wait {
	char path[256];	  /* its object path, "" until the call returned */
	char result[32];  /* "done", "failed", ...; "" while it runs */
	bool removed;	  /* JobRemoved seen */
};

static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
	struct job_wait *w = userdata;
	uint32_t id;
	const char *path, *unit, *result;

	(void)e;
	if (sd.read(m, "uoss", &id, &path, &unit, &result) < 0)
		return 0;
	if (strcmp(path, w->path) == 0) {
		snprintf(w->result, sizeof(w->result), "%s", result);
		w->removed = true;
	}
	return 0;
}

/* Dispatch bus messages until the job is gone or the time is up. JobRemoved
 * can arrive while the call itself waits for its answer: it is queued, and
 * dispatched here, after the job's path is known. */
static int wait_job(sd_bus *bus, struct job_wait *w, const char *what, struct cw_error *err)
{
	uint64_t deadline = now_ms() + JOB_TIMEOUT_US / 1000;

	while (!w->removed) {
		int r = sd.process(bus, NULL);

		if (r < 0)
			return cw_error_set(err, -r, "%s: waiting for systemd", what);
		if (r > 0)
			continue;
		if (now_ms() >= deadline)
			return cw_error_set(err, ETIMEDOUT, "%s: systemd did not finish the job",
					    what);
		sd.wait(bus, 100000);
	}
	if (strcmp(w->result, "done") != 0)
		return cw_error_set(err, 0, "%s: systemd's job ended '%s'", what, w->result);
	return 0;
}

static int append_limits(sd_bus_message *m, const struct cgpool_limits *l, const char *unit)
{
	char desc[300];
	int r;

	snprintf(desc, sizeof(desc), "ci-wrap pool %s", unit);
	r = sd.append(m, "(sv)(sv)(sv)(sv)(sv)", "Description", "s", desc, "MemoryAccounting",
		      "b", 1, "CPUAccounting", "b", 1, "TasksAccounting", "b", 1, "CollectMode",
		      "s", "inactive-or-failed");
	if (r >= 0 && l->memory)
		r = sd.append(m, "(sv)(sv)", "MemoryMax", "t", (uint64_t)l->memory,
			      "MemorySwapMax", "t", (uint64_t)0);
	if (r >= 0 && l->cpus > 0)
		r = sd.append(m, "(sv)", "CPUQuotaPerSecUSec", "t",
			      (uint64_t)llround(l->cpus * 1e6));
	if (r >= 0 && l->pids)
		r = sd.append(m, "(sv)", "TasksMax", "t", (uint64_t)l->pids);
	return r;
}

/* Call m, a method that queues a job, and wait for the job to end. The
 * match is added first: JobRemoved may come before the call's answer. A
 * unit systemd does not know is fine when missing_ok (a stop of a slice
 * that is gone already). */
static int call_job(struct systemd_state *st, sd_bus_message *m, const char *what,
		    bool missing_ok, struct cw_error *err)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	sd_bus_slot *slot = NULL;
	struct job_wait w = { "", "", false };
	const char *job;
	int r = sd.match_signal(st->bus, &slot, SD_DEST, SD_PATH, SD_MANAGER, "JobRemoved",
				on_job_removed, &w);

	if (r >= 0)
		r = sd.call(st->bus, m, JOB_TIMEOUT_US, &e, &reply);
	if (r < 0 && missing_ok && e.name &&
	    strcmp(e.name, "org.freedesktop.systemd1.NoSuchUnit") == 0) {
		sd.error_free(&e);
		r = 0;
	} else if (r < 0) {
		bus_error(err, r, &e, what);
	} else if ((r = sd.read(reply, "o", &job)) < 0) {
		bus_error(err, r, NULL, "reading systemd's answer");
	} else {
		snprintf(w.path, sizeof(w.path), "%s", job);
		r = wait_job(st->bus, &w, what, err);
	}
	sd.message_unref(reply);
	sd.slot_unref(slot);
	return r < 0 ? -1 : 0;
}

/* StartTransientUnit(unit, "fail", properties, no auxiliary units): the
 * slice and its limits exist once the job is done. */
static int start_slice(struct systemd_state *st, const struct cgpool_limits *l,
		       struct cw_error *err)
{
	sd_bus_message *m = NULL;
	int r = sd.new_method_call(st->bus, &m, SD_DEST, SD_PATH, SD_MANAGER,
				   "StartTransientUnit");

	if (r >= 0)
		r = sd.append(m, "ss", st->unit, "fail");
	if (r >= 0)
		r = sd.open_container(m, 'a', "(sv)");
	if (r >= 0)
		r = append_limits(m, l, st->unit);
	if (r >= 0)
		r = sd.close_container(m);
	if (r >= 0)
		r = sd.append(m, "a(sa(sv))", 0);
	if (r < 0)
		r = bus_error(err, r, NULL, "building the StartTransientUnit call");
	else
		r = call_job(st, m, "starting the slice", false, err);
	sd.message_unref(m);
	return r;
}

/* StopUnit also stops the units inside, docker-<id>.scope of a container
 * the API teardown could not remove. A slice already gone is fine. */
static int stop_slice(struct systemd_state *st, struct cw_error *err)
{
	sd_bus_message *m = NULL;
	int r = sd.new_method_call(st->bus, &m, SD_DEST, SD_PATH, SD_MANAGER, "StopUnit");

	if (r >= 0)
		r = sd.append(m, "ss", st->unit, "fail");
	if (r < 0)
		r = bus_error(err, r, NULL, "building the StopUnit call");
	else
		r = call_job(st, m, "stopping the slice", true, err);
	sd.message_unref(m);
	return r;
}

/* Is the unit still known to systemd? A stopped transient slice is
 * unloaded (CollectMode=inactive-or-failed) a moment after its job. */
static bool unit_loaded(struct systemd_state *st)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	int r = sd.call_method(st->bus, SD_DEST, SD_PATH, SD_MANAGER, "GetUnit", &e, &reply, "s",
			       st->unit);

	sd.error_free(&e);
	sd.message_unref(reply);
	return r >= 0;
}

static int wait_unloaded(struct systemd_state *st, struct cw_error *err)
{
	uint64_t deadline = now_ms() + UNLOAD_WAIT_MS;

	while (unit_loaded(st)) {
		if (now_ms() >= deadline)
			return cw_error_set(err, 0, "the unit %s is still loaded after its stop",
					    st->unit);
		usleep(2000);
	}
	return 0;
}

static int make_leaf(struct systemd_state *st, struct cw_error *err)
{
	struct stat sb;

	/* The slice's own cgroup carries the limits: if systemd did not make
	 * it, a leaf made by hand would hold the command outside them. */
	if (stat(st->v2.dir, &sb) < 0)
		return cw_error_set(err, errno, "the slice's cgroup %s", st->v2.dir);
	if (mkdir(st->v2.leaf, 0755) < 0 && errno != EEXIST)
		return cw_error_set(err, errno, "creating %s", st->v2.leaf);
	return 0;
}

static int sd_create(struct cgpool *pool, struct cw_error *err)
{
	struct systemd_state *st = xcalloc(1, sizeof(*st));

	pool->priv = st;
	snprintf(st->unit, sizeof(st->unit), "%s", pool->parent);
	snprintf(st->v2.dir, sizeof(st->v2.dir), "%s%s", pool->root, pool->path);
	snprintf(st->v2.leaf, sizeof(st->v2.leaf), "%s/job", st->v2.dir);
	if (pool->existing)
		return 0; /* connect only when the slice is to be stopped */
	if (connect_bus(st, err) < 0 || start_slice(st, &pool->limits, err) < 0)
		return -1;
	/* The launcher holds the pool for the whole job: not the bus. */
	sd.flush_close_unref(st->bus);
	st->bus = NULL;
	return make_leaf(st, err);
}

/* The leaf first (systemd removes only the cgroups it made), then the slice,
 * then a check that systemd forgot it. */
static int sd_destroy(struct cgpool *pool, struct cw_error *err)
{
	struct systemd_state *st = pool->priv;

	if (rmdir(st->v2.leaf) < 0 && errno != ENOENT)
		return cw_error_set(err, errno, "removing %s", st->v2.leaf);
	if (connect_bus(st, err) < 0 || stop_slice(st, err) < 0 || wait_unloaded(st, err) < 0)
		return -1;
	return 0;
}

static void sd_release(struct cgpool *pool)
{
	struct systemd_state *st = pool->priv;

	if (st->bus)
		sd.flush_close_unref(st->bus);
	free(st);
}

const struct cgpool_ops cgpool_systemd_ops = {
	.name = "systemd",
	.create = sd_create,
	.enter = cgpool_v2_enter,
	.leave = cgpool_v2_leave,
	.stats = cgpool_v2_stats,
	.kill = cgpool_v2_kill,
	.destroy = sd_destroy,
	.release = sd_release,
};
