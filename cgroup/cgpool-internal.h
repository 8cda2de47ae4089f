/* cgpool-internal.h - the backends behind cgpool.h: cgroupfs on cgroup v1
 * through libcgroup, cgroupfs on v2 through the unified hierarchy's files,
 * systemd's transient slice (whose cgroup the v2 file code then serves),
 * and none. */
#ifndef CI_WRAP_CGPOOL_INTERNAL_H
#define CI_WRAP_CGPOOL_INTERNAL_H

#include <stdbool.h>

#include "cgpool.h"

/* How long killing waits for the pool to empty. */
#define CGPOOL_KILL_WAIT_MS 5000

struct cgpool_ops {
	const char *name; /* "v1", "v2", "systemd", "none" */
	int (*create)(struct cgpool *pool, struct cw_error *err);
	int (*enter)(struct cgpool *pool, pid_t pid, struct cw_error *err);
	int (*leave)(struct cgpool *pool, pid_t pid, struct cw_error *err);
	void (*stats)(struct cgpool *pool, struct cgpool_stats *stats);
	int (*kill)(struct cgpool *pool, struct cw_error *err);
	int (*destroy)(struct cgpool *pool, struct cw_error *err);
	void (*release)(struct cgpool *pool); /* free priv */
	int (*take_oom_fd)(struct cgpool *pool); /* v1 only, else NULL */
};

extern const struct cgpool_ops cgpool_v1_ops;
extern const struct cgpool_ops cgpool_v2_ops;
extern const struct cgpool_ops cgpool_systemd_ops;
extern const struct cgpool_ops cgpool_none_ops;

/* A pool on the unified hierarchy, as v2.c sees it. The systemd backend's
 * state starts with one, so v2.c's enter, leave, stats and kill serve it. */
struct v2_state {
	char dir[512];	/* the pool's cgroup directory */
	char leaf[600]; /* <dir>/job, where the command runs */
};

/* systemd.c: the slice's unit name and cgroup path for a session. */
void cgpool_systemd_names(struct cgpool *pool, const char *session);

int cgpool_v2_enter(struct cgpool *pool, pid_t pid, struct cw_error *err);
int cgpool_v2_leave(struct cgpool *pool, pid_t pid, struct cw_error *err);
void cgpool_v2_stats(struct cgpool *pool, struct cgpool_stats *stats);
int cgpool_v2_kill(struct cgpool *pool, struct cw_error *err);

/* Shared helpers (cgpool.c). */
int cgpool_write(const char *dir, const char *file, const char *value, struct cw_error *err);
int64_t cgpool_read_int(const char *dir, const char *file);
/* Value of "key N" in a flat-keyed file (memory.events, cpu.stat). */
int64_t cgpool_read_key(const char *dir, const char *file, const char *key);
/* SIGKILL every pid listed in dir/cgroup.procs and below; returns the count,
 * and whether any process is still listed in *populated. */
int cgpool_kill_procs(const char *dir, bool *populated);
/* rmdir dir's subdirectories bottom-up, then dir; ENOENT is fine. */
int cgpool_rmdir_tree(const char *dir, struct cw_error *err);
/* CPU period docker uses, and the quota for cpus. */
#define CGPOOL_CPU_PERIOD 100000

#endif
