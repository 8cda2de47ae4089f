/* metrics.h - the host's ci-wrap counters for Prometheus, as one file in
 * node_exporter's textfile-collector format (--metrics-dir DIR).
 *
 * 1. At the end of each session: metrics_record_session(); at each reaped
 *    session: metrics_record_reap(). A NULL dir does nothing.
 * 2. Each call takes DIR/ci-wrap.lock (flock), adds its numbers to the state
 *    that accumulates across sessions (DIR/ci-wrap.state, JSON), and rewrites
 *    DIR/ci-wrap.prom from it (temporary file, then rename): a collector never
 *    reads half a file, and sessions ending at once lose no counts.
 * 3. Gauges (live sessions, the oldest one's age) are read from the registry
 *    at each rewrite.
 */
#ifndef CI_WRAP_METRICS_H
#define CI_WRAP_METRICS_H

#include <jansson.h>
#include <stdint.h>

#include "../cgroup/cgpool.h"
#include "../common/error.h"
#include "../proxy/proxy.h"
#include "teardown.h"

#define METRICS_FILE "ci-wrap.prom"
#define METRICS_STATE "ci-wrap.state"

/* What a session's end adds. */
struct metrics_session {
	const char *session;                    /* its id: not counted as live any more */
	int exit_status;                        /* the command's, -1 if none (hook mode) */
	const struct proxy_stats *proxy;        /* requests, refusals, creations */
	const struct teardown_result *teardown; /* removed by kind, leaked */
	const struct cgpool_stats *pool;        /* peak memory, OOM kills (-1: no pool) */
	uint64_t teardown_ms;                   /* teardown, from the proxy's drain to now */
};

/* Add a session's end to DIR's counters and rewrite DIR/ci-wrap.prom; a
 * failure is a warning on stderr (the session's result stands). */
void metrics_record_session(const char *dir, const struct metrics_session *m);

/* Add one reaped session and what its teardown removed and leaked. */
void metrics_record_reap(const char *dir, const struct teardown_result *res);

/* The same with the error returned, for tests and callers that report. */
int metrics_update(const char *dir, const struct metrics_session *m,
		   const struct teardown_result *reaped, struct cw_error *err);

/* The exit class a status counts under: "ok", "failed", "signal", "error"
 * (125, ci-wrap's own), "cannot_run" (126, 127), "none" (-1). */
const char *metrics_exit_class(int exit_status);

/* The textfile for state (see metrics.c for its keys); the caller frees it.
 * The gauges come from the registry, without the session named skip. */
char *metrics_render(json_t *state, const char *skip);

#endif
