/* session.h - one ci-wrap session and its session process.
 *
 * 1. session_create(): id, private 0700 directory, listening proxy socket.
 * 2. session_spawn(): fork the session process, which serves the proxy in
 *    its own process group and, when told the command exited (or when the
 *    launcher vanishes), drains the proxy and tears everything down.
 * 3. session_send() the command's pid and exit status; session_wait_done()
 *    for the teardown summary.
 * The two processes talk over a SOCK_SEQPACKET pair, one message a line.
 */
#ifndef CI_WRAP_SESSION_H
#define CI_WRAP_SESSION_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>

#include "../cgroup/cgpool.h"
#include "../common/error.h"
#include "cli.h"

/* The sockets in the session's private directory: the command's, and the
 * one bind-mounted into containers in place of the daemon's. */
#define SESSION_SOCKET "docker.sock"
#define SESSION_MOUNTED_SOCKET "containers.sock"

struct session {
	char id[96];		   /* unique session id: <job>-<8 hex> */
	char dir[PATH_MAX];	   /* private 0700 directory */
	char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* proxy socket */
	/* the proxy socket bind-mounted into containers in place of the daemon's */
	char mounted_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char cgroup[PATH_MAX];	   /* pool path relative to the hierarchy, "" if none */
	char parent[256];	   /* docker's cgroup parent for it, "" if none */
	enum cgpool_manager manager; /* who made the pool */
	struct cgpool pool;	   /* the pool (the none manager's without one) */
	int listen_fd;		   /* listening socket, until handed to the session process */
	int mounted_fd;		   /* the mounted socket's, likewise */
	int oom_fd;		   /* session process: the pool's OOM eventfd, or -1 */
	int ctl_fd;		   /* launcher's end of the control pair */
	pid_t pid;		   /* the session process */
	pid_t guard_pid;	   /* start: the shell whose exit ends the session */
	struct timespec started;   /* wall clock at start, for the report */
	uint64_t started_ms;	   /* monotonic start, for durations */
};

int session_create(struct session *s, const struct cw_config *cfg, struct cw_error *err);

/* Choose the cgroup manager from the host and the daemon's driver, and
 * create the pool with it (the none manager's with --no-cgroup). */
int session_make_pool(struct session *s, const struct cw_config *cfg, struct cw_error *err);

int session_spawn(struct session *s, const struct cw_config *cfg, struct cw_error *err);

/* Tell the session process "pid N" or "exit N". */
void session_send(struct session *s, const char *verb, long value);

/* Wait until the session process has registered (so `ci-wrap stop` finds
 * it); start mode returns only then. */
int session_wait_ready(struct session *s, int timeout_ms, struct cw_error *err);

/* Wait for "done": copy the summary line; -1 if the session process died
 * without one. Signals keep arriving on sigfd meanwhile: on_signal(sig). */
int session_wait_done(struct session *s, int sigfd, void (*on_signal)(int sig), char *summary,
		      size_t size);

/* ci-wrap __session LISTEN_FD MOUNTED_FD CTL_FD OOM_FD: the re-executed
 * session process (OOM_FD: the pool's OOM eventfd, or -1). */
__attribute__((noreturn)) void session_process_exec(const char *listen_fd, const char *mounted_fd,
						    const char *ctl_fd, const char *oom_fd);

/* Remove the socket and directory. */
void session_cleanup(struct session *s);

/* Kill what is in the pool and remove it, when the session process could
 * not (it failed to start, or died). */
void session_remove_pool(struct session *s);

#endif
