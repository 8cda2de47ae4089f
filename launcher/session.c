/* session.c - the session's identity, private socket, and session process. */
#include "session.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
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
#include "docker-get.h"
#include "session-end.h"
#include "session-internal.h"

/* How long the launcher waits for the daemon's cgroup driver. */
#define INFO_TIMEOUT_MS 10000

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
	if ((size_t)snprintf(s->socket_path, sizeof(s->socket_path), "%s/" SESSION_SOCKET,
			     s->dir) >= sizeof(s->socket_path) ||
	    (size_t)snprintf(s->mounted_path, sizeof(s->mounted_path),
			     "%s/" SESSION_MOUNTED_SOCKET, s->dir) >= sizeof(s->mounted_path)) {
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
	s->listen_fd = s->mounted_fd = s->ctl_fd = -1;
	clock_gettime(CLOCK_REALTIME, &s->started);
	s->started_ms = now_ms();
	make_id(s, cfg->job_id);
	if (make_private_dir(s, err) < 0)
		return -1;
	s->listen_fd = listen_on(s->socket_path, err);
	if (s->listen_fd >= 0)
		s->mounted_fd = listen_on(s->mounted_path, err);
	/* Inside a container the socket is reached by its bind mount, not
	 * through the 0700 directory: users of any uid there must connect. */
	if (s->mounted_fd >= 0 && chmod(s->mounted_path, 0666) < 0)
		cw_error_set(err, errno, "chmod %s", s->mounted_path);
	else if (s->mounted_fd >= 0)
		return 0;
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->mounted_fd >= 0)
		close(s->mounted_fd);
	s->listen_fd = s->mounted_fd = -1;
	session_cleanup(s);
	return -1;
}

/* Docker's cgroup driver, asked over plain HTTP (docker-get.c: the launcher
 * never maps libcurl); NULL if the daemon did not answer. Asked at every
 * start: Debian's docker.socket keeps the socket across daemon restarts, so
 * nothing on the client's side tells a restart with another driver. */
static char *daemon_cgroup_driver(const struct cw_config *cfg)
{
	json_t *info = NULL;
	const char *v;
	char *driver = NULL;

	if (docker_get_one(cfg->docker_socket, "/info", INFO_TIMEOUT_MS, &info) == 200 &&
	    (v = json_string_value(json_object_get(info, "CgroupDriver"))) != NULL)
		driver = xstrdup(v);
	json_decref(info);
	return driver;
}

/* crun's choice, made before anything exists: a pool the daemon cannot put
 * containers in is no pool. Without systemd as init, docker's systemd
 * driver cannot work either, so only a systemd host asks the daemon. */
static int choose_manager(const struct session *s, const struct cw_config *cfg,
			  enum cgpool_manager *m, struct cw_error *err)
{
	_cleanup_free_ char *driver = NULL;
	bool unified = cgpool_host_unified();

	*m = CGPOOL_CGROUPFS;
	if (cfg->no_cgroup) {
		*m = CGPOOL_NONE;
		return 0;
	}
	if (!cgpool_host_systemd())
		return 0;
	driver = daemon_cgroup_driver(cfg);
	if (driver == NULL) {
		/* dockerd's own default on such a host, for when it comes up. */
		*m = unified ? CGPOOL_SYSTEMD : CGPOOL_CGROUPFS;
		cw_verbose("session %s: no cgroup driver from the daemon; using %s", s->id,
			   cgpool_manager_name(*m));
		return 0;
	}
	if (strcmp(driver, "systemd") == 0 && !unified)
		return cw_error_set(err, 0, "docker's systemd cgroup driver on a cgroup v1 host "
				    "is not supported: run with --no-cgroup");
	if (strcmp(driver, "systemd") == 0)
		*m = CGPOOL_SYSTEMD;
	return 0;
}

int session_make_pool(struct session *s, const struct cw_config *cfg, struct cw_error *err)
{
	struct cgpool_limits limits = { cfg->memory, cfg->cpus, cfg->pids };

	if (cfg->no_cgroup && (cfg->memory || cfg->cpus > 0 || cfg->pids))
		return cw_error_set(err, 0, "--memory, --cpus and --pids need a pool: "
				    "drop --no-cgroup");
	if (choose_manager(s, cfg, &s->manager, err) < 0)
		return -1;
	if (s->manager == CGPOOL_NONE)
		cw_warn("session %s: running without a cgroup pool (--no-cgroup)", s->id);
	if (cgpool_open(&s->pool, s->manager, s->id, &limits, NULL, err) < 0)
		return cw_error_wrap(err, "no cgroup pool (--no-cgroup runs without one)");
	snprintf(s->cgroup, sizeof(s->cgroup), "%s", cgpool_path(&s->pool));
	snprintf(s->parent, sizeof(s->parent), "%s",
		 cgpool_parent(&s->pool) ? cgpool_parent(&s->pool) : "");
	return 0;
}

void session_remove_pool(struct session *s)
{
	struct cw_error err;

	if (s->pool.priv && (cgpool_kill(&s->pool, &err) < 0 || cgpool_destroy(&s->pool, &err) < 0))
		cw_warn("%s", err.msg);
	cgpool_close(&s->pool);
}

void session_cleanup(struct session *s)
{
	session_end_remove_dir(s->dir);
}

/* What the session process needs to know, sent over the control pair
 * after its re-exec: it starts with a clean environment and no memory. */
static json_t *state_pack(const struct session *s, const struct cw_config *cfg)
{
	json_t *labels = json_array(), *cmd = json_array(), *binds = json_array();

	for (size_t i = 0; i < cfg->nlabels; i++)
		json_array_append_new(labels, json_string(cfg->labels[i]));
	for (size_t i = 0; i < cfg->nallow_binds; i++)
		json_array_append_new(binds, json_string(cfg->allow_binds[i]));
	for (char **a = cfg->command; a && *a; a++)
		json_array_append_new(cmd, json_string(*a));
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:s,s:s,s:o,s:o,s:b,s:I,s:s?,"
			 "s:s?,s:i,s:I,s:f,s:I,s:i,s:s?,s:I,s:b,s:I,s:o}",
			 "id", s->id, "dir", s->dir, "socket", s->socket_path, "cgroup", s->cgroup,
			 "mounted", s->mounted_path,
			 "parent", s->parent, "manager", cgpool_manager_name(s->manager),
			 "started_s", (json_int_t)s->started.tv_sec, "started_ns",
			 (json_int_t)s->started.tv_nsec, "started_ms", (json_int_t)s->started_ms,
			 "docker", cfg->docker_socket, "job", cfg->job_id, "labels", labels,
			 "command", cmd, "keep_images", cfg->keep_images, "grace_ms",
			 (json_int_t)cfg->grace_ms, "report", cfg->report_path, "audit",
			 cfg->audit_path, "verbosity", cfg->verbosity, "memory",
			 (json_int_t)cfg->memory, "cpus", cfg->cpus, "pids", (json_int_t)cfg->pids,
			 "guard_pid", (int)s->guard_pid, "metrics_dir", cfg->metrics_dir, "allow",
			 (json_int_t)cfg->allow, "isolation_off", cfg->isolation_off, "deny",
			 (json_int_t)cfg->deny, "allow_binds", binds);
}

static char *dup_or_null(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v ? xstrdup(v) : NULL;
}

static void copy_string(char *dst, size_t size, json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	snprintf(dst, size, "%s", v ? v : "");
}

int session_state_unpack(const char *msg, size_t len, struct session *s, struct cw_config *cfg)
{
	json_t *o = json_loadb(msg, len, 0, NULL), *v;
	size_t i, n;

	if (!json_is_object(o))
		return -1;
	memset(s, 0, sizeof(*s));
	memset(cfg, 0, sizeof(*cfg));
	copy_string(s->id, sizeof(s->id), o, "id");
	copy_string(s->dir, sizeof(s->dir), o, "dir");
	copy_string(s->socket_path, sizeof(s->socket_path), o, "socket");
	copy_string(s->mounted_path, sizeof(s->mounted_path), o, "mounted");
	copy_string(s->cgroup, sizeof(s->cgroup), o, "cgroup");
	copy_string(s->parent, sizeof(s->parent), o, "parent");
	if (cgpool_manager_parse(json_string_value(json_object_get(o, "manager")) ?: "",
				 &s->manager) < 0)
		s->id[0] = '\0'; /* refused below */
	s->started.tv_sec = (time_t)json_integer_value(json_object_get(o, "started_s"));
	s->started.tv_nsec = (long)json_integer_value(json_object_get(o, "started_ns"));
	s->started_ms = (uint64_t)json_integer_value(json_object_get(o, "started_ms"));
	s->guard_pid = (pid_t)json_integer_value(json_object_get(o, "guard_pid"));
	cfg->docker_socket = dup_or_null(o, "docker");
	cfg->job_id = dup_or_null(o, "job");
	cfg->report_path = dup_or_null(o, "report");
	cfg->audit_path = dup_or_null(o, "audit");
	cfg->metrics_dir = dup_or_null(o, "metrics_dir");
	cfg->keep_images = json_is_true(json_object_get(o, "keep_images"));
	cfg->allow = (unsigned)json_integer_value(json_object_get(o, "allow"));
	cfg->isolation_off = json_is_true(json_object_get(o, "isolation_off"));
	cfg->deny = (unsigned)json_integer_value(json_object_get(o, "deny"));
	n = json_array_size(json_object_get(o, "allow_binds"));
	cfg->allow_binds = xcalloc(n + 1, sizeof(char *));
	json_array_foreach(json_object_get(o, "allow_binds"), i, v)
		cfg->allow_binds[cfg->nallow_binds++] = xstrdup(json_string_value(v));
	cfg->grace_ms = json_integer_value(json_object_get(o, "grace_ms"));
	cfg->verbosity = (int)json_integer_value(json_object_get(o, "verbosity"));
	cfg->memory = json_integer_value(json_object_get(o, "memory"));
	cfg->cpus = json_real_value(json_object_get(o, "cpus"));
	cfg->pids = json_integer_value(json_object_get(o, "pids"));
	n = json_array_size(json_object_get(o, "labels"));
	cfg->labels = xcalloc(n + 1, sizeof(char *));
	json_array_foreach(json_object_get(o, "labels"), i, v)
		cfg->labels[cfg->nlabels++] = xstrdup(json_string_value(v));
	n = json_array_size(json_object_get(o, "command"));
	cfg->command = xcalloc(n + 1, sizeof(char *));
	json_array_foreach(json_object_get(o, "command"), i, v)
		cfg->command[i] = xstrdup(json_string_value(v));
	json_decref(o);
	return cfg->docker_socket && cfg->job_id && s->id[0] ? 0 : -1;
}

/* In the forked child: become the session process. Its own session and
 * process group keep it out of a terminal's ^C and a CI system's group
 * kill; a fresh exec with an almost empty environment keeps it out of
 * Jenkins' ProcessTreeKiller, which finds its victims by the build's
 * cookie in /proc/PID/environ (the exec-time environment). */
__attribute__((noreturn)) static void exec_session_process(int listen_fd, int mounted_fd,
							    int ctl_fd, int oom_fd)
{
	char lfd[16], mfd[16], cfd[16], ofd[16];
	char *argv[] = { "ci-wrap", "__session", lfd, mfd, cfd, ofd, NULL };
	char *envp[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			 NULL };

	sigset_t term;

	/* A `ci-wrap stop` may come before the session process watches for
	 * SIGTERM: held pending across the exec, it is not lost, nor fatal. */
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_BLOCK, &term, NULL);
	setsid();
	snprintf(lfd, sizeof(lfd), "%d", listen_fd);
	snprintf(mfd, sizeof(mfd), "%d", mounted_fd);
	snprintf(cfd, sizeof(cfd), "%d", ctl_fd);
	snprintf(ofd, sizeof(ofd), "%d", oom_fd);
	fcntl(listen_fd, F_SETFD, 0);
	fcntl(mounted_fd, F_SETFD, 0);
	fcntl(ctl_fd, F_SETFD, 0);
	if (oom_fd >= 0)
		fcntl(oom_fd, F_SETFD, 0);
	execve("/proc/self/exe", argv, envp);
	cw_die(125, errno, "re-executing the session process");
}

int session_spawn(struct session *s, const struct cw_config *cfg, struct cw_error *err)
{
	int pair[2];
	json_t *state;
	char *msg;
	pid_t pid;
	int rc, oom_fd;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
		return cw_error_set(err, errno, "creating the control socket");
	/* The session process counts the pool's OOM events through the job
	 * without opening the pool (libcgroup) until teardown. */
	oom_fd = cgpool_take_oom_fd(&s->pool);
	pid = fork();
	if (pid < 0) {
		close(pair[0]);
		close(pair[1]);
		if (oom_fd >= 0)
			close(oom_fd);
		return cw_error_set(err, errno, "forking the session process");
	}
	if (pid == 0) {
		close(pair[0]);
		exec_session_process(s->listen_fd, s->mounted_fd, pair[1], oom_fd);
	}
	if (oom_fd >= 0)
		close(oom_fd);
	close(pair[1]);
	close(s->listen_fd);
	close(s->mounted_fd);
	s->listen_fd = s->mounted_fd = -1; /* owned by the session process now */
	s->ctl_fd = pair[0];
	s->pid = pid;
	state = state_pack(s, cfg);
	msg = json_dumps(state, JSON_COMPACT);
	json_decref(state);
	rc = msg && send(s->ctl_fd, msg, strlen(msg), MSG_NOSIGNAL) >= 0 ? 0 : -1;
	free(msg);
	if (rc < 0)
		return cw_error_set(err, errno, "handing the session to the session process");
	return 0;
}

void session_send(struct session *s, const char *verb, long value)
{
	char msg[64];
	int n = snprintf(msg, sizeof(msg), "%s %ld", verb, value);

	if (s->ctl_fd >= 0 && send(s->ctl_fd, msg, (size_t)n, MSG_NOSIGNAL) < 0)
		cw_verbose("cannot reach the session process: %s", strerror(errno));
}

int session_wait_ready(struct session *s, int timeout_ms, struct cw_error *err)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	char msg[64];

	for (;;) {
		struct pollfd pfd = { s->ctl_fd, POLLIN, 0 };
		int left = (int)(deadline > now_ms() ? deadline - now_ms() : 0);
		ssize_t n;

		if (poll(&pfd, 1, left) == 0)
			return cw_error_set(err, 0, "session %s: the session process did not start",
					    s->id);
		n = recv(s->ctl_fd, msg, sizeof(msg) - 1, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return cw_error_set(err, 0, "session %s: the session process died at start",
					    s->id);
		if (n == 5 && memcmp(msg, "ready", 5) == 0)
			return 0;
	}
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
