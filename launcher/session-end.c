/* session-end.c - see session-end.h. */
#include "session-end.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../common/log.h"
#include "docker.h"
#include "registry.h"
#include "session.h"

static void end_objects(const struct session_end *e, struct teardown_result *res)
{
	struct docker *d;
	struct teardown_opts t = e->teardown;

	if (!e->daemon) {
		memset(res, 0, sizeof(*res));
		res->leaked = json_array();
		return;
	}
	t.session = e->id;
	d = docker_open(e->docker_socket);
	teardown_session(d, &t, res);
	docker_close(d);
}

/* v1 counts an OOM kill in the victim's memcg, gone with its container by
 * now: the pool's OOM events, counted since the start, say more. */
static void merge_oom_events(int oom_fd, struct cgpool_stats *stats)
{
	uint64_t events = 0;

	if (oom_fd < 0)
		return;
	if (read(oom_fd, &events, sizeof(events)) == sizeof(events) &&
	    (int64_t)events > stats->oom_kills)
		stats->oom_kills = (int64_t)events;
	close(oom_fd);
}

/* Read the pool's numbers, kill what is left in it (daemons the command
 * started), remove it. The pool is opened only now, by whoever ends the
 * session: libcgroup's tables and libsystemd are not worth holding for a
 * whole job. */
static void end_pool(const struct session_end *e, struct session_end_result *r)
{
	struct cgpool_limits none = { 0, 0, 0 };
	struct cgpool pool;
	struct cw_error err = { 0 };

	r->stats = (struct cgpool_stats){ -1, -1, -1 };
	r->killed = 0;
	if (e->manager == CGPOOL_NONE || e->teardown.dry_run) {
		if (e->oom_fd >= 0)
			close(e->oom_fd);
		return;
	}
	if (cgpool_attach(&pool, e->manager, e->id, &none, NULL, &err) < 0) {
		cw_log(CW_LOG_QUIET, "session %s: %s", e->id, err.msg);
		return;
	}
	cgpool_stats(&pool, &r->stats);
	merge_oom_events(e->oom_fd, &r->stats);
	r->killed = cgpool_kill(&pool, &err);
	if (r->killed < 0)
		cw_log(CW_LOG_QUIET, "session %s: %s", e->id, err.msg);
	else if (r->killed > 0)
		cw_verbose("session %s: killed %d process(es) left in the pool", e->id, r->killed);
	if (cgpool_destroy(&pool, &err) < 0)
		cw_log(CW_LOG_QUIET, "session %s: removing the pool: %s", e->id, err.msg);
}

void session_end_remove_dir(const char *dir)
{
	static const char *const sockets[] = { SESSION_SOCKET, SESSION_MOUNTED_SOCKET };
	const char *base = dir ? strrchr(dir, '/') : NULL;
	char sock[4200];

	if (base == NULL || strncmp(base, "/ci-wrap.", 9) != 0)
		return;
	for (size_t i = 0; i < sizeof(sockets) / sizeof(sockets[0]); i++) {
		snprintf(sock, sizeof(sock), "%s/%s", dir, sockets[i]);
		unlink(sock);
	}
	rmdir(dir);
}

void session_end(const struct session_end *e, struct session_end_result *r)
{
	end_objects(e, &r->objects);
	end_pool(e, r);
	if (e->teardown.dry_run)
		return;
	session_end_remove_dir(e->dir);
	registry_remove(e->id);
}
