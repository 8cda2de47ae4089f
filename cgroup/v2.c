/* v2.c - the pool on the unified hierarchy: controllers enabled down the
 * path in cgroup.subtree_control, limits on <session>, the command in the
 * leaf (no process may live in a cgroup that has enabled controllers for
 * its children). Only files are used, so a fake tree can stand in for
 * /sys/fs/cgroup in tests. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/util.h"
#include "cgpool-internal.h"

struct v2_state {
	char dir[512];	     /* <root>/ci-wrap/<session> */
	char leaf[600];     /* <dir>/job */
};

static int make_dir(const char *dir, struct cw_error *err)
{
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return cw_error_set(err, errno, "creating %s", dir);
	return 0;
}

/* Enable for dir's children what dir itself has of memory, cpu, pids. */
static int delegate(const char *dir, struct cw_error *err)
{
	char path[PATH_MAX], want[64] = "";
	_cleanup_free_ char *have = NULL;
	static const char *ctrl[] = { "memory", "cpu", "pids" };

	snprintf(path, sizeof(path), "%s/cgroup.controllers", dir);
	have = read_small_file(path, 4096);
	for (size_t i = 0; have && i < ARRAY_SIZE(ctrl); i++)
		if (strstr(have, ctrl[i]))
			snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s+%s",
				 want[0] ? " " : "", ctrl[i]);
	if (want[0] == '\0')
		return cw_error_set(err, 0, "no memory, cpu or pids controller in %s", dir);
	return cgpool_write(dir, "cgroup.subtree_control", want, err);
}

static int write_limits(const struct cgpool *pool, const char *dir, struct cw_error *err)
{
	const struct cgpool_limits *l = &pool->limits;
	char v[64];

	if (l->memory) {
		snprintf(v, sizeof(v), "%lld", (long long)l->memory);
		if (cgpool_write(dir, "memory.max", v, err) < 0)
			return -1;
		cgpool_write(dir, "memory.swap.max", "0", &(struct cw_error){ 0 });
	}
	if (l->cpus > 0) {
		snprintf(v, sizeof(v), "%lld %d", (long long)(l->cpus * CGPOOL_CPU_PERIOD),
			 CGPOOL_CPU_PERIOD);
		if (cgpool_write(dir, "cpu.max", v, err) < 0)
			return -1;
	}
	if (l->pids) {
		snprintf(v, sizeof(v), "%lld", (long long)l->pids);
		if (cgpool_write(dir, "pids.max", v, err) < 0)
			return -1;
	}
	return 0;
}

static int v2_create(struct cgpool *pool, struct cw_error *err)
{
	struct v2_state *st = xcalloc(1, sizeof(*st));
	char parent[320];

	pool->priv = st;
	snprintf(parent, sizeof(parent), "%s/ci-wrap", pool->root);
	snprintf(st->dir, sizeof(st->dir), "%s%s", pool->root, pool->path);
	snprintf(st->leaf, sizeof(st->leaf), "%s/job", st->dir);
	if (pool->existing)
		return 0;
	if (delegate(pool->root, err) < 0 || make_dir(parent, err) < 0 ||
	    delegate(parent, err) < 0 || make_dir(st->dir, err) < 0 ||
	    write_limits(pool, st->dir, err) < 0 || delegate(st->dir, err) < 0 ||
	    make_dir(st->leaf, err) < 0)
		return -1;
	return 0;
}

static int v2_enter(struct cgpool *pool, pid_t pid, struct cw_error *err)
{
	struct v2_state *st = pool->priv;
	char v[32];

	snprintf(v, sizeof(v), "%d", (int)pid);
	return cgpool_write(st->leaf, "cgroup.procs", v, err);
}

static int v2_leave(struct cgpool *pool, pid_t pid, struct cw_error *err)
{
	char v[32];

	snprintf(v, sizeof(v), "%d", (int)pid);
	return cgpool_write(pool->root, "cgroup.procs", v, err);
}

static void v2_stats(struct cgpool *pool, struct cgpool_stats *s)
{
	struct v2_state *st = pool->priv;
	int64_t us = cgpool_read_key(st->dir, "cpu.stat", "usage_usec");

	s->memory_peak = cgpool_read_int(st->dir, "memory.peak"); /* Linux 5.19+ */
	s->cpu_s = us >= 0 ? (double)us / 1e6 : -1;
	s->oom_kills = cgpool_read_key(st->dir, "memory.events", "oom_kill");
}

/* cgroup.kill (Linux 5.14+) kills the whole subtree at once; before that,
 * freeze, kill each task, thaw. */
static int v2_kill(struct cgpool *pool, struct cw_error *err)
{
	struct v2_state *st = pool->priv;
	uint64_t deadline = now_ms() + CGPOOL_KILL_WAIT_MS;
	char path[PATH_MAX];
	bool populated = true, has_kill;
	int killed = 0;

	snprintf(path, sizeof(path), "%s/cgroup.kill", st->dir);
	has_kill = access(path, F_OK) == 0;
	while (populated && now_ms() < deadline) {
		struct cw_error ignored;

		if (has_kill) {
			cgpool_write(st->dir, "cgroup.kill", "1", &ignored);
		} else {
			cgpool_write(st->dir, "cgroup.freeze", "1", &ignored);
			killed += cgpool_kill_procs(st->dir, &populated);
			cgpool_write(st->dir, "cgroup.freeze", "0", &ignored);
		}
		usleep(10000);
		killed += cgpool_kill_procs(st->dir, &populated);
	}
	if (populated)
		return cw_error_set(err, 0, "processes survived in %s", st->dir);
	return killed;
}

static int v2_destroy(struct cgpool *pool, struct cw_error *err)
{
	struct v2_state *st = pool->priv;

	return cgpool_rmdir_tree(st->dir, err);
}

static void v2_release(struct cgpool *pool)
{
	free(pool->priv);
}

const struct cgpool_ops cgpool_v2_ops = {
	.name = "v2",
	.create = v2_create,
	.enter = v2_enter,
	.leave = v2_leave,
	.stats = v2_stats,
	.kill = v2_kill,
	.destroy = v2_destroy,
	.release = v2_release,
};
