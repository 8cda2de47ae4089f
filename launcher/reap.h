/* reap.h - clean what dead sessions left behind: labelled resources, pools,
 * socket directories, registry entries.
 *
 * `ci-wrap reap` runs it loudly; every session process runs it quietly in a
 * child at start, limited to this host's dead sessions, so a crash is
 * cleaned by the next job at the latest. The startup sweep reads the
 * registry every time and scans the daemon's labels at the first start
 * after a boot (which empties the registry) and at most once a minute
 * after that: most starts cost no daemon call at all.
 */
#ifndef CI_WRAP_REAP_H
#define CI_WRAP_REAP_H

#include <stdbool.h>
#include <stdint.h>

struct reap_opts {
	const char *docker_socket; /* the real daemon */
	bool dry_run;		   /* say what would go, remove nothing */
	int64_t older_than_ms;	   /* also live sessions older than this, 0: dead only */
	int64_t grace_ms;	   /* for containers still running */
	bool quiet;		   /* print nothing */
	const char *skip;	   /* a session id never to touch (our own), or NULL */
	const char *only;	   /* the one session to reap (`stop --session`), or NULL */
	bool labels;		   /* also find sessions by label on the daemon */
	const char *metrics_dir;   /* --metrics-dir: count what is reaped there, or NULL */
};

/* Is there anything to reap without asking the daemon: a dead session in
 * the registry, or a label scan asked for? */
bool reap_needed(const struct reap_opts *o);

/* Returns the number of sessions reaped, -1 if the daemon could not be
 * asked (registry entries are handled all the same). */
int reap_run(const struct reap_opts *o);

#endif
