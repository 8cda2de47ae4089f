/* session.c - the session's identity, private socket, and session process. */
#include "session.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "session-internal.h"

static void make_id(struct session *s, const char *job)
{
	uint32_t rnd = 0;
	size_t n = 0;

	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (uint32_t)getpid() ^ (uint32_t)now_ms();
	/* The id goes into cgroup paths and label values: keep it plain. */
	for (const char *p = job; *p && n < 48; p++) {
		char c = *p;

		s->id[n++] = (isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.') ? c : '-';
	}
	snprintf(s->id + n, sizeof(s->id) - n, "%s%08x", n ? "-" : "", rnd);
}

static int make_private_dir(struct session *s, struct cw_error *err)
{
	const char *tmp = getenv("TMPDIR");
	char tmpl[PATH_MAX];

	if (tmp == NULL || *tmp != '/' || strlen(tmp) > 60)
		tmp = "/tmp"; /* the socket path must fit in sun_path */
	snprintf(tmpl, sizeof(tmpl), "%s/ci-wrap.XXXXXX", tmp);
	if (mkdtemp(tmpl) == NULL)
		return cw_error_set(err, errno, "creating the private directory in %s", tmp);
	snprintf(s->dir, sizeof(s->dir), "%s", tmpl);
	if ((size_t)snprintf(s->socket_path, sizeof(s->socket_path), "%s/docker.sock", s->dir) >=
	    sizeof(s->socket_path)) {
		rmdir(s->dir);
		return cw_error_set(err, ENAMETOOLONG, "socket path in %s", s->dir);
	}
	return 0;
}

static int listen_on(const char *path, struct cw_error *err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return cw_error_set(err, errno, "creating the proxy socket");
	if (strlen(path) >= sizeof(addr.sun_path))
		return cw_error_set(err, ENAMETOOLONG, "proxy socket %s", path);
	strcpy(addr.sun_path, path);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return cw_error_set(err, errno, "binding the proxy socket %s", path);
	if (listen(fd, 1024) < 0)
		return cw_error_set(err, errno, "listening on %s", path);
	return steal_fd(&fd);
}

int session_create(struct session *s, const struct cw_config *cfg, struct cw_error *err)
{
	memset(s, 0, sizeof(*s));
	s->listen_fd = s->ctl_fd = -1;
	clock_gettime(CLOCK_REALTIME, &s->started);
	s->started_ms = now_ms();
	make_id(s, cfg->job_id);
	if (make_private_dir(s, err) < 0)
		return -1;
	s->listen_fd = listen_on(s->socket_path, err);
	if (s->listen_fd < 0) {
		session_cleanup(s);
		return -1;
	}
	return 0;
}

int session_make_pool(struct session *s, const struct cw_config *cfg, struct cw_error *err)
{
	struct cgpool_limits limits = { cfg->memory, cfg->cpus, cfg->pids };

	if (cfg->no_cgroup) {
		if (cfg->memory || cfg->cpus > 0 || cfg->pids)
			return cw_error_set(err, 0, "--memory, --cpus and --pids need a pool: "
					    "drop --no-cgroup");
		cw_warn("session %s: running without a cgroup pool (--no-cgroup)", s->id);
		return 0;
	}
	if (cgpool_open(&s->pool, s->id, &limits, NULL, err) < 0)
		return cw_error_wrap(err, "no cgroup pool (--no-cgroup runs without one)");
	snprintf(s->cgroup, sizeof(s->cgroup), "%s", cgpool_parent(&s->pool));
	return 0;
}

void session_remove_pool(struct session *s)
{
	struct cw_error err;

	if (s->cgroup[0] && (cgpool_kill(&s->pool, &err) < 0 || cgpool_destroy(&s->pool, &err) < 0))
		cw_warn("%s", err.msg);
	cgpool_close(&s->pool);
}

void session_cleanup(struct session *s)
{
	if (s->socket_path[0])
		unlink(s->socket_path);
	if (s->dir[0])
		rmdir(s->dir);
}

int session_spawn(struct session *s, const struct cw_config *cfg, struct cw_error *err)
{
	int pair[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
		return cw_error_set(err, errno, "creating the control socket");
	pid = fork();
	if (pid < 0) {
		close(pair[0]);
		close(pair[1]);
		return cw_error_set(err, errno, "forking the session process");
	}
	if (pid == 0) {
		close(pair[0]);
		session_process_main(s, cfg, pair[1]);
	}
	close(pair[1]);
	close(s->listen_fd);
	s->listen_fd = -1; /* owned by the session process now */
	s->ctl_fd = pair[0];
	s->pid = pid;
	return 0;
}

void session_send(struct session *s, const char *verb, long value)
{
	char msg[64];
	int n = snprintf(msg, sizeof(msg), "%s %ld", verb, value);

	if (s->ctl_fd >= 0 && send(s->ctl_fd, msg, (size_t)n, MSG_NOSIGNAL) < 0)
		cw_verbose("cannot reach the session process: %s", strerror(errno));
}

int session_wait_done(struct session *s, int sigfd, void (*on_signal)(int sig), char *summary,
		      size_t size)
{
	for (;;) {
		struct pollfd fds[2] = { { s->ctl_fd, POLLIN, 0 }, { sigfd, POLLIN, 0 } };
		char msg[2048];
		ssize_t n;

		if (poll(fds, 2, -1) < 0 && errno != EINTR)
			return -1;
		if (fds[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sigfd, &si, sizeof(si)) == sizeof(si))
				on_signal((int)si.ssi_signo);
		}
		if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = recv(s->ctl_fd, msg, sizeof(msg) - 1, 0);
		if (n <= 0)
			return -1;
		msg[n] = '\0';
		if (strncmp(msg, "done ", 5) == 0) {
			snprintf(summary, size, "%s", msg + 5);
			return 0;
		}
	}
}
