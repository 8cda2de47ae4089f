/* v1.c - the pool on cgroup v1, through libcgroup: one directory per
 * hierarchy (memory, cpu, cpuacct, pids, freezer), each with the leaf.
 * Killing freezes the pool first, so a fork bomb cannot outrun it. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <libcgroup.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "cgpool-internal.h"

static const char *controllers[] = { "memory", "cpu", "cpuacct", "pids", "freezer" };
#define NCTRL (sizeof(controllers) / sizeof(controllers[0]))

struct v1_state {
	struct cgroup *pool;	       /* libcgroup's view of <root>/ci-wrap/<session> */
	struct cgroup *leaf;	       /* and of its leaf "job" */
	int oom_fd;		       /* eventfd: OOM events of the pool, or -1 */
	char mount[NCTRL][256];	       /* mount point per controller, "" if absent */
	char dir[NCTRL][512];	       /* the pool's directory in it */
};

enum { MEMORY, CPU, CPUACCT, PIDS, FREEZER };

static int v1_fail(struct cw_error *err, int rc, const char *what)
{
	int code = rc == ECGOTHER ? cgroup_get_last_errno() : 0;

	return cw_error_set(err, code, "%s: %s", what, cgroup_strerror(rc));
}

static void find_mounts(struct cgpool *pool, struct v1_state *st)
{
	for (size_t i = 0; i < NCTRL; i++) {
		char *mnt = NULL;

		if (cgroup_get_subsys_mount_point(controllers[i], &mnt) == 0 && mnt) {
			snprintf(st->mount[i], sizeof(st->mount[i]), "%s", mnt);
			snprintf(st->dir[i], sizeof(st->dir[i]), "%s%s", mnt, pool->path);
		}
		free(mnt);
	}
}

/* A libcgroup group on every mounted controller; limits on the pool only. */
static struct cgroup *new_group(const struct v1_state *st, const char *name,
				const struct cgpool_limits *lim)
{
	struct cgroup *cg = cgroup_new_cgroup(name);

	for (size_t i = 0; cg && i < NCTRL; i++) {
		struct cgroup_controller *c;

		if (st->mount[i][0] == '\0')
			continue;
		c = cgroup_add_controller(cg, controllers[i]);
		if (lim == NULL || c == NULL)
			continue;
		if (i == MEMORY && lim->memory)
			cgroup_add_value_int64(c, "memory.limit_in_bytes", lim->memory);
		if (i == CPU && lim->cpus > 0) {
			cgroup_add_value_int64(c, "cpu.cfs_period_us", CGPOOL_CPU_PERIOD);
			cgroup_add_value_int64(c, "cpu.cfs_quota_us",
					       (int64_t)llround(lim->cpus * CGPOOL_CPU_PERIOD));
		}
		if (i == PIDS && lim->pids)
			cgroup_add_value_int64(c, "pids.max", lim->pids);
	}
	return cg;
}

static int check_required(const struct cgpool *pool, const struct v1_state *st,
			  struct cw_error *err)
{
	if (st->mount[MEMORY][0] == '\0' || st->mount[FREEZER][0] == '\0')
		return cw_error_set(err, 0, "the memory and freezer controllers are not mounted");
	if (pool->limits.cpus > 0 && st->mount[CPU][0] == '\0')
		return cw_error_set(err, 0, "--cpus needs the cpu controller, which is not mounted");
	if (pool->limits.pids && st->mount[PIDS][0] == '\0')
		return cw_error_set(err, 0, "--pids needs the pids controller, which is not mounted");
	return 0;
}

/* v1 counts an OOM kill in the victim's own memcg, which is gone with its
 * container by the time we read it; the pool's OOM notifications are what
 * says its budget ran out. */
static void watch_oom(struct v1_state *st)
{
	char path[PATH_MAX], line[64];
	_cleanup_close_ int ctl = -1;
	_cleanup_close_ int oom = -1;

	st->oom_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	snprintf(path, sizeof(path), "%s/memory.oom_control", st->dir[MEMORY]);
	oom = open(path, O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "%s/cgroup.event_control", st->dir[MEMORY]);
	ctl = open(path, O_WRONLY | O_CLOEXEC);
	snprintf(line, sizeof(line), "%d %d", st->oom_fd, oom);
	if (st->oom_fd < 0 || oom < 0 || ctl < 0 || write_all(ctl, line, strlen(line)) < 0) {
		if (st->oom_fd >= 0)
			close(st->oom_fd);
		st->oom_fd = -1;
	}
}

static int v1_create(struct cgpool *pool, struct cw_error *err)
{
	struct v1_state *st = xcalloc(1, sizeof(*st));
	char name[300];
	int rc;

	st->oom_fd = -1;
	pool->priv = st;
	rc = cgroup_init();
	if (rc != 0)
		return v1_fail(err, rc, "initialising libcgroup");
	find_mounts(pool, st);
	if (check_required(pool, st, err) < 0)
		return -1;
	st->pool = new_group(st, pool->path + 1, &pool->limits);
	snprintf(name, sizeof(name), "%s/job", pool->path + 1);
	st->leaf = new_group(st, name, NULL);
	if (st->pool == NULL || st->leaf == NULL)
		return cw_error_set(err, ENOMEM, "preparing the cgroups");
	if (pool->existing) {
		watch_oom(st);
		return 0;
	}
	rc = cgroup_create_cgroup(st->pool, 0);
	if (rc == 0)
		rc = cgroup_create_cgroup(st->leaf, 0);
	if (rc != 0)
		return v1_fail(err, rc, "creating the cgroups");
	/* Without a swap limit the pool could page its way past --memory. */
	if (pool->limits.memory) {
		char v[32];
		struct cw_error ignored;

		snprintf(v, sizeof(v), "%lld", (long long)pool->limits.memory);
		cgpool_write(st->dir[MEMORY], "memory.memsw.limit_in_bytes", v, &ignored);
	}
	return 0;
}

static int v1_enter(struct cgpool *pool, pid_t pid, struct cw_error *err)
{
	struct v1_state *st = pool->priv;
	int rc = cgroup_attach_task_pid(st->leaf, pid);

	return rc == 0 ? 0 : v1_fail(err, rc, "moving the command into the pool");
}

static int v1_leave(struct cgpool *pool, pid_t pid, struct cw_error *err)
{
	struct v1_state *st = pool->priv;
	struct cgroup *root = new_group(st, "", NULL); /* "" is each hierarchy's root */
	int rc = root ? cgroup_attach_task_pid(root, pid) : ECGFAIL;

	if (root)
		cgroup_free(&root);
	return rc == 0 ? 0 : v1_fail(err, rc, "moving a process out of the pool");
}

static int v1_take_oom_fd(struct cgpool *pool)
{
	struct v1_state *st = pool->priv;

	if (st->oom_fd < 0)
		watch_oom(st);
	return steal_fd(&st->oom_fd);
}

static void v1_stats(struct cgpool *pool, struct cgpool_stats *s)
{
	struct v1_state *st = pool->priv;
	int64_t ns = cgpool_read_int(st->dir[CPUACCT], "cpuacct.usage");

	s->memory_peak = cgpool_read_int(st->dir[MEMORY], "memory.max_usage_in_bytes");
	s->cpu_s = ns >= 0 ? (double)ns / 1e9 : -1;
	s->oom_kills = cgpool_read_key(st->dir[MEMORY], "memory.oom_control", "oom_kill");
	if (st->oom_fd >= 0) {
		uint64_t events = 0;

		if (read(st->oom_fd, &events, sizeof(events)) == sizeof(events) &&
		    (int64_t)events > s->oom_kills)
			s->oom_kills = (int64_t)events;
	}
}

static bool frozen(const char *dir)
{
	char path[PATH_MAX];
	_cleanup_free_ char *state = NULL;

	snprintf(path, sizeof(path), "%s/freezer.state", dir);
	state = read_small_file(path, 64);
	return state && strncmp(state, "FROZEN", 6) == 0;
}

/* Freeze, SIGKILL every task, thaw: a frozen task cannot fork, and a killed
 * one dies once thawed. Repeat until the pool is empty. */
static int v1_kill(struct cgpool *pool, struct cw_error *err)
{
	struct v1_state *st = pool->priv;
	const char *dir = st->dir[FREEZER];
	uint64_t deadline = now_ms() + CGPOOL_KILL_WAIT_MS;
	int killed = 0;
	bool populated = true;

	while (populated && now_ms() < deadline) {
		struct cw_error ignored;

		cgpool_write(dir, "freezer.state", "FROZEN", &ignored);
		for (int i = 0; i < 100 && !frozen(dir); i++)
			usleep(1000);
		killed += cgpool_kill_procs(dir, &populated);
		cgpool_write(dir, "freezer.state", "THAWED", &ignored);
		if (populated)
			usleep(10000);
		cgpool_kill_procs(dir, &populated);
	}
	if (populated)
		return cw_error_set(err, 0, "processes survived in %s", dir);
	return killed;
}

/* runc creates the cgroup parent in every hierarchy it finds (cpuset,
 * blkio, devices, name=systemd, the controller-less v2 mount, ...), not only
 * in ours: remove the pool from all cgroup mounts. */
static int v1_destroy(struct cgpool *pool, struct cw_error *err)
{
	struct v1_state *st = pool->priv;
	FILE *mounts = fopen("/proc/self/mounts", "re");
	char line[1024];
	int rc = 0;

	if (st == NULL)
		return 0;
	while (mounts && fgets(line, sizeof(line), mounts)) {
		char dev[256], mnt[256], type[32], dir[600];

		if (sscanf(line, "%255s %255s %31s", dev, mnt, type) != 3 ||
		    (strcmp(type, "cgroup") != 0 && strcmp(type, "cgroup2") != 0))
			continue;
		snprintf(dir, sizeof(dir), "%s%s", mnt, pool->path);
		if (cgpool_rmdir_tree(dir, err) < 0)
			rc = -1;
	}
	if (mounts)
		fclose(mounts);
	return rc;
}

static void v1_release(struct cgpool *pool)
{
	struct v1_state *st = pool->priv;

	if (st->oom_fd >= 0)
		close(st->oom_fd);
	if (st->pool)
		cgroup_free(&st->pool);
	if (st->leaf)
		cgroup_free(&st->leaf);
	free(st);
}

const struct cgpool_ops cgpool_v1_ops = {
	.name = "v1",
	.create = v1_create,
	.enter = v1_enter,
	.leave = v1_leave,
	.stats = v1_stats,
	.kill = v1_kill,
	.destroy = v1_destroy,
	.release = v1_release,
	.take_oom_fd = v1_take_oom_fd,
};
