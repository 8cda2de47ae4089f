/* cgpool.h - the session's cgroup pool: one memory/cpu/pids budget for the
 * command and every container it starts, made by one of three managers
 * (crun's split): cgroupfs (directories, v1 or v2), systemd (a transient
 * slice through systemd's D-Bus API) or none.
 *
 * 1. The launcher picks the manager from the host and the daemon's cgroup
 *    driver, then cgpool_open() makes the pool with its limits and the
 *    leaf for the command: <root>/ci-wrap/<session>/job under cgroupfs,
 *    <slice's cgroup>/job under systemd.
 * 2. cgpool_enter() moves a process (the command, before exec) into the leaf;
 *    containers join through docker's cgroup parent, cgpool_parent().
 * 3. At teardown (any process: cgpool_attach() with the recorded manager):
 *    cgpool_stats(), cgpool_kill() every process left, cgpool_destroy().
 */
#ifndef CI_WRAP_CGPOOL_H
#define CI_WRAP_CGPOOL_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../common/error.h"

struct cgpool_limits {
	int64_t memory; /* bytes, 0 for none */
	double cpus;	/* CPUs, 0 for none */
	int64_t pids;	/* processes, 0 for none */
};

struct cgpool_stats {
	int64_t memory_peak; /* bytes, -1 if unknown */
	double cpu_s;	     /* CPU seconds used, -1 if unknown */
	int64_t oom_kills;   /* OOM kills inside the pool, -1 if unknown */
};

/* Who makes the pool. The numbers are not stored: names are. */
enum cgpool_manager {
	CGPOOL_NONE,	 /* no pool: --no-cgroup */
	CGPOOL_CGROUPFS, /* directories under /sys/fs/cgroup, v1 or v2 */
	CGPOOL_SYSTEMD,	 /* a transient slice; docker's systemd driver */
};

struct cgpool_ops;

struct cgpool {
	const struct cgpool_ops *ops; /* v1, v2, systemd or none */
	enum cgpool_manager manager;  /* who made it */
	char path[256];		      /* cgroup path from the root, "" without a pool */
	char parent[256];	      /* docker's cgroup parent: path or slice name */
	char root[256];	      /* v2: the unified mount (a fake tree in tests) */
	struct cgpool_limits limits;  /* what was asked */
	bool existing;		      /* attached to a pool made by another process */
	void *priv;		      /* backend state */
};

/* "none", "cgroupfs", "systemd"; and back (-1 for an unknown name). */
const char *cgpool_manager_name(enum cgpool_manager m);
int cgpool_manager_parse(const char *name, enum cgpool_manager *m);

/* Facts the choice of a manager rests on: the unified hierarchy mounted
 * at /sys/fs/cgroup, and systemd running as init (sd_booted()'s test). */
bool cgpool_host_unified(void);
bool cgpool_host_systemd(void);

/* Create the pool for session. root is the v2 mount to use, or NULL to
 * detect the host's cgroup layout. Nothing is left behind on failure. */
int cgpool_open(struct cgpool *pool, enum cgpool_manager m, const char *session,
		const struct cgpool_limits *limits, const char *root, struct cw_error *err);

/* Attach to the pool another process created for session (the session
 * process takes over the launcher's pool after its re-exec). */
int cgpool_attach(struct cgpool *pool, enum cgpool_manager m, const char *session,
		  const struct cgpool_limits *limits, const char *root, struct cw_error *err);

int cgpool_enter(struct cgpool *pool, pid_t pid, struct cw_error *err);

/* Move pid back to the root cgroup of the pool's hierarchies (hook mode:
 * the job's shell steps out before `stop` kills what is in the pool). */
int cgpool_leave(struct cgpool *pool, pid_t pid, struct cw_error *err);

/* The cgroup parent for containers and builds: the pool's path under
 * cgroupfs, the slice's name under systemd, NULL without a pool. */
const char *cgpool_parent(const struct cgpool *pool);

/* The pool's cgroup path from the root ("/ci-wrap/S", "/ci-wrap.slice/
 * ci-wrap-S.slice"), "" without a pool. */
const char *cgpool_path(const struct cgpool *pool);

void cgpool_stats(struct cgpool *pool, struct cgpool_stats *stats);

/* Kill every process in the pool and wait (bounded) until it is empty;
 * returns how many were killed, -1 if some survived. */
int cgpool_kill(struct cgpool *pool, struct cw_error *err);

/* Remove the leaf and the pool in every hierarchy; free the backend. */
int cgpool_destroy(struct cgpool *pool, struct cw_error *err);

/* Free the backend's state but leave the cgroups (a process that hands the
 * pool on to another). Safe after cgpool_destroy(). */
void cgpool_close(struct cgpool *pool);

/* For kernels without memory.peak (before 5.19: RHEL 9 runs 5.14), whoever
 * holds the pool through the job samples it: the memory a unified-hierarchy
 * pool at path ("/ci-wrap/S") is charged now, and whether the kernel keeps
 * the peak itself. -1 / false where unknown. */
int64_t cgpool_memory_now(const char *path);
bool cgpool_peak_kept(const char *path);

/* "v1", "v2", "systemd" or "none". */
const char *cgpool_version(const struct cgpool *pool);

/* An eventfd counting the pool's out-of-memory events, handed to the caller
 * (-1 where the kernel keeps a count itself, as cgroup v2 does): whoever
 * holds it through the job can tell at the end how often the budget ran out. */
int cgpool_take_oom_fd(struct cgpool *pool);

#endif
