/* session-end.h - the one teardown order of a session, whoever runs it: the
 * session process when the command ends, the same process as guardian when
 * ci-wrap was killed, `stop` and `reap` for a session whose processes died.
 *
 * Fill a struct session_end from what is known of the session (its own
 * state, or its registry entry), call session_end(), then report: the
 * result holds what was removed, what leaked and what the pool measured.
 * Order: daemon objects, then the pool (nothing can start in it once the
 * daemon holds no container of the session), the socket directory, and
 * last the registry entry, so a crash midway leaves the session findable.
 */
#ifndef CI_WRAP_SESSION_END_H
#define CI_WRAP_SESSION_END_H

#include <stdbool.h>

#include "../cgroup/cgpool.h"
#include "teardown.h"

struct session_end {
	const char *id;		       /* the session */
	const char *docker_socket;     /* the real daemon */
	enum cgpool_manager manager;   /* who made the pool, so the same one removes it */
	const char *dir;	       /* private socket directory, "" if unknown */
	bool daemon;		       /* objects may exist: false skips every daemon call */
	int oom_fd;		       /* a v1 pool's OOM eventfd (closed here), or -1 */
	struct teardown_opts teardown; /* grace, images, dry run, progress */
};

struct session_end_result {
	struct teardown_result objects; /* removed by kind, and what leaked */
	struct cgpool_stats stats;	/* what the pool measured, -1 where unknown */
	int killed;			/* processes killed in the pool, -1 if some survived */
};

/* Never fails as a whole: what could not be removed is in objects.leaked
 * (the caller frees it) or was logged. */
void session_end(const struct session_end *e, struct session_end_result *r);

/* Remove a private socket directory: only one of ours ("/ci-wrap.XXXXXX"). */
void session_end_remove_dir(const char *dir);

#endif
