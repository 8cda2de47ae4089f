/* cgpool.c - backend choice and the file helpers both backends use. */
#include "cgpool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "../common/util.h"
#include "cgpool-internal.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

static const char *const manager_names[] = { "none", "cgroupfs", "systemd" };

const char *cgpool_manager_name(enum cgpool_manager m)
{
	return (size_t)m < ARRAY_SIZE(manager_names) ? manager_names[m] : "none";
}

int cgpool_manager_parse(const char *name, enum cgpool_manager *m)
{
	for (size_t i = 0; i < ARRAY_SIZE(manager_names); i++)
		if (strcmp(name, manager_names[i]) == 0) {
			*m = (enum cgpool_manager)i;
			return 0;
		}
	return -1;
}

bool cgpool_host_unified(void)
{
	struct statfs fs;

	return statfs("/sys/fs/cgroup", &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

bool cgpool_host_systemd(void)
{
	return access("/run/systemd/system", F_OK) == 0;
}

/* The backend for a manager, and the names it derives from the session. */
static void pick_backend(struct cgpool *pool, enum cgpool_manager m, const char *session,
			 const char *root)
{
	pool->manager = m;
	if (root != NULL)
		snprintf(pool->root, sizeof(pool->root), "%s", root);
	else if (m != CGPOOL_NONE && (m == CGPOOL_SYSTEMD || cgpool_host_unified()))
		snprintf(pool->root, sizeof(pool->root), "/sys/fs/cgroup");
	switch (m) {
	case CGPOOL_NONE:
		pool->ops = &cgpool_none_ops;
		return;
	case CGPOOL_SYSTEMD:
		pool->ops = &cgpool_systemd_ops;
		cgpool_systemd_names(pool, session);
		return;
	case CGPOOL_CGROUPFS:
		pool->ops = pool->root[0] ? &cgpool_v2_ops : &cgpool_v1_ops;
		snprintf(pool->path, sizeof(pool->path), "/ci-wrap/%s", session);
		snprintf(pool->parent, sizeof(pool->parent), "%s", pool->path);
		return;
	}
}

static int open_pool(struct cgpool *pool, enum cgpool_manager m, const char *session,
		     const struct cgpool_limits *limits, const char *root, bool existing,
		     struct cw_error *err)
{
	memset(pool, 0, sizeof(*pool));
	pool->existing = existing;
	pool->limits = *limits;
	pick_backend(pool, m, session, root);
	if (pool->ops->create(pool, err) < 0) {
		struct cw_error ignored;

		if (!existing && pool->priv)
			pool->ops->destroy(pool, &ignored);
		cgpool_close(pool);
		return cw_error_wrap(err, "creating the cgroup pool %s (%s, cgroup %s)", pool->path,
				     cgpool_manager_name(m), pool->ops->name);
	}
	return 0;
}

int cgpool_open(struct cgpool *pool, enum cgpool_manager m, const char *session,
		const struct cgpool_limits *limits, const char *root, struct cw_error *err)
{
	return open_pool(pool, m, session, limits, root, false, err);
}

int cgpool_attach(struct cgpool *pool, enum cgpool_manager m, const char *session,
		  const struct cgpool_limits *limits, const char *root, struct cw_error *err)
{
	return open_pool(pool, m, session, limits, root, true, err);
}

int cgpool_enter(struct cgpool *pool, pid_t pid, struct cw_error *err)
{
	if (pool->priv == NULL)
		return cw_error_set(err, 0, "the pool %s is gone", pool->path);
	return pool->ops->enter(pool, pid, err);
}

int cgpool_leave(struct cgpool *pool, pid_t pid, struct cw_error *err)
{
	if (pool->priv == NULL)
		return cw_error_set(err, 0, "the pool %s is gone", pool->path);
	return pool->ops->leave(pool, pid, err);
}

const char *cgpool_parent(const struct cgpool *pool)
{
	return pool->parent[0] ? pool->parent : NULL;
}

const char *cgpool_path(const struct cgpool *pool)
{
	return pool->path;
}

void cgpool_stats(struct cgpool *pool, struct cgpool_stats *stats)
{
	stats->memory_peak = -1;
	stats->cpu_s = -1;
	stats->oom_kills = -1;
	if (pool->priv)
		pool->ops->stats(pool, stats);
}

int cgpool_kill(struct cgpool *pool, struct cw_error *err)
{
	return pool->priv ? pool->ops->kill(pool, err) : 0;
}

int cgpool_destroy(struct cgpool *pool, struct cw_error *err)
{
	int rc = pool->priv ? pool->ops->destroy(pool, err) : 0;

	cgpool_close(pool);
	return rc;
}

void cgpool_close(struct cgpool *pool)
{
	if (pool->ops && pool->priv)
		pool->ops->release(pool);
	pool->priv = NULL;
}

const char *cgpool_version(const struct cgpool *pool)
{
	return pool->ops ? pool->ops->name : "none";
}

int64_t cgpool_memory_now(const char *path)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "/sys/fs/cgroup%s", path);
	return cgpool_read_int(dir, "memory.current");
}

bool cgpool_peak_kept(const char *path)
{
	char file[PATH_MAX];

	snprintf(file, sizeof(file), "/sys/fs/cgroup%s/memory.peak", path);
	return access(file, F_OK) == 0;
}

/* The none manager: nothing to make, enter or remove. A non-NULL priv
 * marks the pool open, as for the other backends. */
static int none_create(struct cgpool *pool, struct cw_error *err)
{
	(void)err;
	pool->priv = pool;
	return 0;
}

static int none_pid(struct cgpool *pool, pid_t pid, struct cw_error *err)
{
	(void)pool;
	(void)pid;
	(void)err;
	return 0;
}

static void none_stats(struct cgpool *pool, struct cgpool_stats *stats)
{
	(void)pool;
	(void)stats;
}

static int none_end(struct cgpool *pool, struct cw_error *err)
{
	(void)pool;
	(void)err;
	return 0;
}

static void none_release(struct cgpool *pool)
{
	(void)pool;
}

const struct cgpool_ops cgpool_none_ops = {
	.name = "none",
	.create = none_create,
	.enter = none_pid,
	.leave = none_pid,
	.stats = none_stats,
	.kill = none_end,
	.destroy = none_end,
	.release = none_release,
};

int cgpool_write(const char *dir, const char *file, const char *value, struct cw_error *err)
{
	char path[PATH_MAX];
	_cleanup_close_ int fd = -1;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write_all(fd, value, strlen(value)) < 0)
		return cw_error_set(err, errno, "writing '%s' to %s", value, path);
	return 0;
}

int64_t cgpool_read_int(const char *dir, const char *file)
{
	char path[PATH_MAX];
	_cleanup_free_ char *buf = NULL;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	buf = read_small_file(path, 64);
	return buf ? strtoll(buf, NULL, 10) : -1;
}

int64_t cgpool_read_key(const char *dir, const char *file, const char *key)
{
	char path[PATH_MAX];
	_cleanup_free_ char *buf = NULL;
	size_t klen = strlen(key);

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	buf = read_small_file(path, 8192);
	for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
		if (strncmp(line, key, klen) == 0 && line[klen] == ' ')
			return strtoll(line + klen + 1, NULL, 10);
	return -1;
}

/* Call fn on dir and every cgroup below it. */
static void walk(const char *dir, void (*fn)(const char *dir, void *arg), void *arg)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	fn(dir, arg);
	while (d && (e = readdir(d)) != NULL) {
		char sub[PATH_MAX];

		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
		walk(sub, fn, arg);
	}
	if (d)
		closedir(d);
}

/* Counters for kill_one. */
struct kill_count {
	int killed;	/* signals sent */
	bool populated; /* some pid was listed */
};

static void kill_one(const char *dir, void *arg)
{
	struct kill_count *k = arg;
	char path[PATH_MAX];
	_cleanup_free_ char *buf = NULL;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	buf = read_small_file(path, 1 << 20);
	for (char *p = buf; p && *p;) {
		char *end;
		long pid = strtol(p, &end, 10);

		if (end == p)
			break;
		k->populated = true;
		if (pid > 0 && kill((pid_t)pid, SIGKILL) == 0)
			k->killed++;
		p = end;
		while (*p == '\n')
			p++;
	}
}

int cgpool_kill_procs(const char *dir, bool *populated)
{
	struct kill_count k = { 0, false };

	walk(dir, kill_one, &k);
	*populated = k.populated;
	return k.killed;
}

static void unlink_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	while (d && (e = readdir(d)) != NULL) {
		if (e->d_type == DT_REG)
			unlinkat(dirfd(d), e->d_name, 0);
	}
	if (d)
		closedir(d);
}

/* Depth-first removal: children before their parent. */
int cgpool_rmdir_tree(const char *dir, struct cw_error *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int rc = 0;

	if (d == NULL)
		return errno == ENOENT ? 0 : cw_error_set(err, errno, "opening %s", dir);
	while ((e = readdir(d)) != NULL) {
		char sub[PATH_MAX];

		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
		if (cgpool_rmdir_tree(sub, err) < 0)
			rc = -1;
	}
	closedir(d);
	if (rmdir(dir) < 0 && errno == ENOTEMPTY)
		unlink_files(dir); /* a plain directory tree (tests), not cgroupfs */
	if (rmdir(dir) < 0 && errno != ENOENT)
		rc = cw_error_set(err, errno, "removing %s", dir);
	return rc;
}

int cgpool_take_oom_fd(struct cgpool *pool)
{
	if (pool->priv == NULL || pool->ops->take_oom_fd == NULL)
		return -1;
	return pool->ops->take_oom_fd(pool);
}
