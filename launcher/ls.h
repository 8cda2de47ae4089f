/* ls.h - `ci-wrap ls`: the sessions on this host and what each one holds.
 *
 * Rows come from the registry (live sessions, and dead ones waiting for reap)
 * and from the daemon's labels (dead sessions whose entry is gone). Each row
 * gets its pool's usage from the cgroup files and its object counts from one
 * label-filtered listing per kind, grouped by ci-wrap.session: four daemon
 * calls whatever the number of sessions.
 *
 * ls_main() prints a table on a terminal (100 columns), else JSON lines.
 */
#ifndef CI_WRAP_LS_H
#define CI_WRAP_LS_H

#include <stdint.h>
#include <stdio.h>

#include "cli.h"

/* The objects a session holds, by kind, in the order of ls_kinds. */
#define LS_KINDS 4

/* What a pool uses now; -1 (or < 0) for what is unknown or unlimited. */
struct ls_pool_usage {
	int64_t memory;	      /* bytes in use now */
	int64_t memory_peak;  /* highest use so far */
	int64_t memory_limit; /* the limit, -1 for none */
	double cpu_s;	      /* CPU seconds used */
	int64_t pids;	      /* processes (tasks) in the pool */
};

/* Where the cgroup files are: a v1 hierarchy per controller, or the v2
 * (unified) mount; "" where there is none. */
struct ls_cgroup_mounts {
	char memory[256];  /* v1 memory controller */
	char cpuacct[256]; /* v1 cpuacct controller */
	char pids[256];	   /* v1 pids controller */
	char unified[256]; /* v2 mount */
};

/* The mounts of /proc/self/mountinfo-formatted text. */
void ls_parse_mounts(const char *mountinfo, struct ls_cgroup_mounts *m);

/* Read the usage of the pool at path (relative to each hierarchy's root). */
void ls_read_pool(const struct ls_cgroup_mounts *m, const char *path, struct ls_pool_usage *u);

/* "812M", "1.5G", "4K", "-" for a negative value; into buf. */
const char *ls_format_bytes(int64_t bytes, char *buf, size_t size);

/* "45s", "12m05s", "3h05m", "2d03h", "-" for a negative value. */
const char *ls_format_age(int64_t seconds, char *buf, size_t size);

/* ci-wrap ls: print the sessions to stdout. Returns the exit status. */
int ls_main(const struct cw_config *cfg);

#endif
