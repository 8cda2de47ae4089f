/* v2.c - the pool on the unified hierarchy: controllers enabled down the
 * path in cgroup.subtree_control, limits on <session>, the command in the
 * leaf (no process may live in a cgroup that has enabled controllers for
 * its children). Only files are used, so a fake tree can stand in for
 * /sys/fs/cgroup in tests (tests/unit/test_cgv2.c). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/util.h"
#include "cgpool-internal.h"

/* What the pool enables, in cgroup.controllers' order. memory is needed
 * even without --memory: charging the containers' memory to the pool is
 * what keeps an OOM inside it. */
static const char *const ctrl_names[] = { "cpu", "memory", "pids" };

static bool present(const char *dir, const char *file)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return access(path, F_OK) == 0;
}

/* A whole word of a space-separated list: "cpu" is not in "cpuset". */
static bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; (p = strstr(p, word)) != NULL; p += n)
		if ((p == list || isspace((unsigned char)p[-1])) &&
		    (p[n] == '\0' || isspace((unsigned char)p[n])))
			return true;
	return false;
}

/* "+cpu +memory +pids", less what the root does not offer; refuse when a
 * controller the limits need is missing. Only the root is read: below it
 * the kernel hands down exactly what the parent enabled. */
static int pick_controllers(const struct cgpool *pool, char *want, size_t size,
			    struct cw_error *err)
{
	const bool need[] = { pool->limits.cpus > 0, true, pool->limits.pids > 0 };
	static const char *const why[] = { "--cpus needs", "the pool needs", "--pids needs" };
	char path[PATH_MAX];
	_cleanup_free_ char *have = NULL;

	snprintf(path, sizeof(path), "%s/cgroup.controllers", pool->root);
	have = read_small_file(path, 4096);
	if (have == NULL)
		return cw_error_set(err, errno, "reading %s", path);
	want[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(ctrl_names); i++) {
		size_t len = strlen(want);

		if (has_word(have, ctrl_names[i]))
			snprintf(want + len, size - len, "%s+%s", len ? " " : "", ctrl_names[i]);
		else if (need[i])
			return cw_error_set(err, 0, "%s the %s controller, which %s does not offer",
					    why[i], ctrl_names[i], path);
	}
	return 0;
}

static int make_dir(const char *dir, struct cw_error *err)
{
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return cw_error_set(err, errno, "creating %s", dir);
	return 0;
}

static int write_limits(const struct cgpool *pool, const char *dir, struct cw_error *err)
{
	const struct cgpool_limits *l = &pool->limits;
	char v[64];

	if (l->memory) {
		snprintf(v, sizeof(v), "%lld", (long long)l->memory);
		if (cgpool_write(dir, "memory.max", v, err) < 0)
			return -1;
		/* Without it the pool could page its way past --memory; the file
		 * is absent when swap is not accounted. */
		if (present(dir, "memory.swap.max") &&
		    cgpool_write(dir, "memory.swap.max", "0", err) < 0)
			return -1;
	}
	if (l->cpus > 0) {
		/* Rounded, not truncated: 0.29 * 100000 is 28999.999... in binary. */
		snprintf(v, sizeof(v), "%lld %d", llround(l->cpus * CGPOOL_CPU_PERIOD),
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
	char parent[320], want[64];
	const char *sc = "cgroup.subtree_control";

	pool->priv = st;
	snprintf(parent, sizeof(parent), "%s/ci-wrap", pool->root);
	snprintf(st->dir, sizeof(st->dir), "%s%s", pool->root, pool->path);
	snprintf(st->leaf, sizeof(st->leaf), "%s/job", st->dir);
	if (pool->existing)
		return 0;
	if (pick_controllers(pool, want, sizeof(want), err) < 0 ||
	    cgpool_write(pool->root, sc, want, err) < 0 || make_dir(parent, err) < 0 ||
	    cgpool_write(parent, sc, want, err) < 0 || make_dir(st->dir, err) < 0 ||
	    write_limits(pool, st->dir, err) < 0 || cgpool_write(st->dir, sc, want, err) < 0 ||
	    make_dir(st->leaf, err) < 0)
		return -1;
	return 0;
}

int cgpool_v2_enter(struct cgpool *pool, pid_t pid, struct cw_error *err)
{
	struct v2_state *st = pool->priv;
	char v[32];

	snprintf(v, sizeof(v), "%d", (int)pid);
	return cgpool_write(st->leaf, "cgroup.procs", v, err);
}

int cgpool_v2_leave(struct cgpool *pool, pid_t pid, struct cw_error *err)
{
	char v[32];

	snprintf(v, sizeof(v), "%d", (int)pid);
	return cgpool_write(pool->root, "cgroup.procs", v, err);
}

void cgpool_v2_stats(struct cgpool *pool, struct cgpool_stats *s)
{
	struct v2_state *st = pool->priv;
	int64_t us = cgpool_read_key(st->dir, "cpu.stat", "usage_usec");

	s->memory_peak = cgpool_read_int(st->dir, "memory.peak"); /* Linux 5.19+ */
	s->cpu_s = us >= 0 ? (double)us / 1e6 : -1;
	s->oom_kills = cgpool_read_key(st->dir, "memory.events", "oom_kill");
}

/* Processes listed in dir and below: what a kill is about to end (after
 * cgroup.kill they are gone before anyone could count them). */
static int count_procs(const char *dir)
{
	char path[PATH_MAX];
	_cleanup_free_ char *buf = NULL;
	char *p, *end;
	DIR *d;
	struct dirent *e;
	int n = 0;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	buf = read_small_file(path, 1 << 20);
	for (p = buf; p && strtol(p, &end, 10) > 0; p = end)
		n++;
	d = opendir(dir);
	while (d && (e = readdir(d)) != NULL) {
		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		n += count_procs(path);
	}
	if (d)
		closedir(d);
	return n;
}

/* The kernel clears "populated" when the last process of the subtree has
 * exited (zombies no longer count); a pool that is gone is empty. */
static bool populated(const char *dir)
{
	return cgpool_read_key(dir, "cgroup.events", "populated") > 0;
}

/* Before cgroup.kill (Linux 5.14): freeze (5.2+) so nothing forks while
 * each task gets SIGKILL, which still reaches frozen tasks; then thaw. */
static void kill_each(const char *dir)
{
	bool freezer = present(dir, "cgroup.freeze");
	struct cw_error ignored;
	bool listed;

	if (freezer) {
		cgpool_write(dir, "cgroup.freeze", "1", &ignored);
		for (int i = 0; i < 100 && cgpool_read_key(dir, "cgroup.events", "frozen") != 1; i++)
			usleep(1000);
	}
	cgpool_kill_procs(dir, &listed);
	if (freezer)
		cgpool_write(dir, "cgroup.freeze", "0", &ignored);
}

/* cgroup.kill (Linux 5.14+) kills the whole subtree at once, forks in
 * flight included; it is written again while processes still join. */
int cgpool_v2_kill(struct cgpool *pool, struct cw_error *err)
{
	struct v2_state *st = pool->priv;
	uint64_t deadline = now_ms() + CGPOOL_KILL_WAIT_MS;
	bool has_kill = present(st->dir, "cgroup.kill");
	int listed = count_procs(st->dir);

	while (populated(st->dir) && now_ms() < deadline) {
		struct cw_error ignored;

		if (has_kill)
			cgpool_write(st->dir, "cgroup.kill", "1", &ignored);
		else
			kill_each(st->dir);
		usleep(10000);
	}
	if (populated(st->dir))
		return cw_error_set(err, 0, "processes survived in %s", st->dir);
	return listed;
}

/* cgroupfs removes a cgroup's interface files with it. In a fake tree
 * (not cgroupfs) rmdir fails with ENOTEMPTY, which cgroupfs never returns,
 * and only then does cgpool_rmdir_tree unlink the files first. */
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
	.enter = cgpool_v2_enter,
	.leave = cgpool_v2_leave,
	.stats = cgpool_v2_stats,
	.kill = cgpool_v2_kill,
	.destroy = v2_destroy,
	.release = v2_release,
};
