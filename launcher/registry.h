/* registry.h - the host's sessions, one small JSON file each, so that stop,
 * reap and the startup sweep can find sessions that own nothing on the
 * daemon yet (a pool, a socket directory).
 *
 * The session process adds its entry once it runs and removes it as the
 * last step of teardown. The directory is /run/ci-wrap for root (tmpfs: a
 * reboot clears it, as it ends every session), else $XDG_RUNTIME_DIR/ci-wrap.
 */
#ifndef CI_WRAP_REGISTRY_H
#define CI_WRAP_REGISTRY_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "../cgroup/cgpool.h"
#include "../common/error.h"

struct registry_entry {
	char id[96];	    /* session id */
	char job[256];	    /* ci-wrap.job */
	char owner[256];    /* ci-wrap.owner: host/boot id/pid/start time */
	char dir[PATH_MAX]; /* private socket directory */
	char cgroup[PATH_MAX]; /* pool path, "" without a pool */
	enum cgpool_manager manager; /* who made the pool: reattach the same */
	pid_t pid;	    /* the session process */
	pid_t guard_pid;    /* start: the job shell the session guards, else 0 */
	time_t created;	    /* when the entry was written */
	char command[1024]; /* the command, its words joined by spaces; "" in hook mode
			       or in an entry written before the field existed */
};

/* Fill e's command (argv joined, cut at the field's size) and guard pid. */
void registry_set_command(struct registry_entry *e, char *const *argv, pid_t guard_pid);

/* When the owner process (host/boot/pid/start) started, 0 if unknown. */
time_t registry_owner_started(const char *owner);

/* The owner's pid, 0 if the owner is malformed. */
pid_t registry_owner_pid(const char *owner);

int registry_add(const struct registry_entry *e, struct cw_error *err);
void registry_remove(const char *id);

/* The images a session loaded (they carry no label): one reference per
 * line in a file beside its entry, so reap can remove them after a crash. */
void registry_add_image(const char *id, const char *ref);

/* Those references, as a JSON array (empty if none). */
json_t *registry_images(const char *id);

/* The anonymous volumes of a session's containers, likewise (the daemon
 * labels none of them). */
void registry_add_volume(const char *id, const char *name);

/* What a session recorded there, in the shape of teardown_opts.tracked:
 * {"images": [ID...], "volumes": {NAME: true...}}. */
json_t *registry_tracked(const char *id);

/* Every entry; *n of them in a malloc'd array. */
struct registry_entry *registry_list(size_t *n);

/* Is the owner (host/boot/pid/start) a live process on this host? Owners
 * on another host count as alive: they are never ours to touch. */
bool registry_owner_alive(const char *owner);

/* Is owner on this host (same host name and boot, or an earlier boot)? */
bool registry_owner_local(const char *owner);

/* Claim this host's periodic label scan: true (and the claim recorded)
 * when none ran since this boot or in the last interval_s seconds. */
bool registry_claim_label_scan(int interval_s);

/* The summary line a finished session leaves for `ci-wrap stop`. */
void registry_put_summary(const char *id, const char *line);
int registry_take_summary(const char *id, char *line, size_t size);

/* Remove summaries nobody took (the `stop` waiting for one was killed). */
void registry_prune_summaries(int max_age_s);

#endif
