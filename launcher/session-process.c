/* session-process.c - the process that outlives the command: it serves the
 * proxy, and when the command exits (or the launcher vanishes, or it gets
 * SIGTERM) it drains the proxy, removes every labelled resource, writes
 * the report and hands the summary line to the launcher.
 */
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/proc.h"
#include "../common/util.h"
#include "../proxy/proxy.h"
#include "docker.h"
#include "reap.h"
#include "registry.h"
#include "session-internal.h"
#include "teardown.h"

/* Create calls in flight when teardown starts get this long to finish. */
#define DRAIN_TIMEOUT_MS 5000
#define REWRITE_BODY_MAX (16u * 1024 * 1024)
/* How long the end of a session waits for its startup sweep. */
#define SWEEP_WAIT_MS 5000
#define IMAGES_NOW_TIMEOUT_MS 10000
#define INFO_TIMEOUT_MS 10000
/* The startup sweep scans the daemon's labels at most this often. */
#define LABEL_SCAN_INTERVAL_S 60

struct session_process {
	struct session *s;	       /* the session */
	const struct cw_config *cfg;   /* its options */
	struct ev_loop *loop;	       /* serves the proxy */
	struct proxy *proxy;	       /* the proxy */
	int ctl_fd;		       /* our end of the control pair */
	ev_io ctl_w;		       /* watches it */
	ev_signal term_w;	       /* SIGTERM: tear down now */
	ev_io guard_w;		       /* start: the shell's pidfd */
	int guard_fd;		       /* that pidfd, or -1 */
	bool stopped;		       /* `ci-wrap stop` asked (SIGTERM) */
	pid_t sweeper;		       /* the startup sweep, or 0 */
	pid_t cmd_pid;		       /* the command, once the launcher says */
	int exit_status;	       /* its exit status, -1 until known */
	bool launcher_gone;	       /* the control pair hit EOF */
	bool tearing_down;	       /* drain started */
	char owner[256];	       /* value of ci-wrap.owner */
	FILE *audit;		       /* --audit-log, or NULL */
	pid_t driver_pid;	       /* asking the daemon's cgroup driver, or 0 */
	ev_io driver_w;		       /* its answer */
	char driver[32];	       /* the answer so far */
};

/* host/boot id/pid/start time: reap can tell from this alone whether the
 * owner still lives, and pid reuse or a reboot cannot fool it. */
static void make_owner(struct session_process *sp)
{
	char host[128] = "unknown", boot[64] = "unknown";
	unsigned long long start = 0;

	gethostname(host, sizeof(host) - 1);
	proc_boot_id(boot, sizeof(boot));
	proc_stat(getpid(), NULL, &start);
	snprintf(sp->owner, sizeof(sp->owner), "%s/%s/%d/%llu", host, boot, (int)getpid(), start);
}

static json_t *make_labels(const struct session_process *sp)
{
	json_t *labels = json_object();

	for (size_t i = 0; i < sp->cfg->nlabels; i++) {
		const char *kv = sp->cfg->labels[i];
		const char *eq = strchr(kv, '=');
		_cleanup_free_ char *key = strndup(kv, (size_t)(eq - kv));

		json_object_set_new(labels, key, json_string(eq + 1));
	}
	json_object_set_new(labels, "ci-wrap.session", json_string(sp->s->id));
	json_object_set_new(labels, "ci-wrap.job", json_string(sp->cfg->job_id));
	json_object_set_new(labels, "ci-wrap.owner", json_string(sp->owner));
	return labels;
}

static void on_drained(void *arg)
{
	struct session_process *sp = arg;

	ev_break(sp->loop, EVBREAK_ALL);
}

static void begin_teardown(struct session_process *sp)
{
	if (sp->tearing_down)
		return;
	sp->tearing_down = true;
	/* The SIGTERM watcher stays: stopping it would restore the default
	 * action, and a `ci-wrap stop` during teardown would kill us. */
	ev_io_stop(sp->loop, &sp->ctl_w);
	if (sp->guard_fd >= 0)
		ev_io_stop(sp->loop, &sp->guard_w);
	/* Nothing may connect from now on. */
	unlink(sp->s->socket_path);
	proxy_drain(sp->proxy, DRAIN_TIMEOUT_MS, on_drained, sp);
}

/* The launcher is gone (SIGKILL, OOM): we are the guardian now. The command
 * must not go on using a daemon we are about to clean. */
static void guard(struct session_process *sp)
{
	sp->launcher_gone = true;
	if (sp->cmd_pid > 0) {
		cw_warn("session %s: ci-wrap was killed; stopping the command", sp->s->id);
		proc_signal_tree(sp->cmd_pid, true, getpid(), SIGKILL);
	}
	begin_teardown(sp);
}

static void on_ctl(struct ev_loop *loop, ev_io *w, int revents)
{
	struct session_process *sp = w->data;
	char msg[128];
	ssize_t n = recv(sp->ctl_fd, msg, sizeof(msg) - 1, MSG_DONTWAIT);
	long value;

	(void)loop;
	(void)revents;
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 && sp->s->guard_pid > 0) {
		ev_io_stop(sp->loop, &sp->ctl_w); /* start returned; the shell is watched */
		return;
	}
	if (n <= 0) {
		guard(sp);
		return;
	}
	msg[n] = '\0';
	if (sscanf(msg, "pid %ld", &value) == 1) {
		sp->cmd_pid = (pid_t)value;
	} else if (sscanf(msg, "exit %ld", &value) == 1) {
		sp->exit_status = (int)value;
		begin_teardown(sp);
	}
}

static void on_term(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct session_process *sp = w->data;

	(void)loop;
	(void)revents;
	sp->stopped = true;
	begin_teardown(sp);
}

/* start: the job's shell exited (a failed GitLab job skips
 * post_build_script, a cancel kills the shell's group): tear down. */
static void on_guarded_exit(struct ev_loop *loop, ev_io *w, int revents)
{
	struct session_process *sp = w->data;

	(void)revents;
	ev_io_stop(loop, w);
	begin_teardown(sp);
}

static void teardown_now(int revents, void *arg)
{
	(void)revents;
	begin_teardown(arg);
}

static void watch_guarded(struct session_process *sp)
{
	sp->guard_fd = -1;
	if (sp->s->guard_pid <= 0)
		return;
	sp->guard_fd = (int)syscall(SYS_pidfd_open, sp->s->guard_pid, 0);
	if (sp->guard_fd < 0 && errno == ESRCH) { /* the shell is gone already */
		ev_once(sp->loop, -1, 0, 0, teardown_now, sp);
		return;
	}
	if (sp->guard_fd < 0) {
		cw_warn("session %s: cannot watch pid %d: %s", sp->s->id, (int)sp->s->guard_pid,
			strerror(errno));
		return;
	}
	ev_io_init(&sp->guard_w, on_guarded_exit, sp->guard_fd, EV_READ);
	sp->guard_w.data = sp;
	ev_io_start(sp->loop, &sp->guard_w);
}

static void setup_process(struct session_process *sp)
{
	sigset_t all;
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	/* SIGTERM stays blocked (since before the exec) until the loop
	 * watches it: an early `ci-wrap stop` waits, pending, for teardown. */
	sigfillset(&all);
	sigdelset(&all, SIGTERM);
	sigprocmask(SIG_UNBLOCK, &all, NULL);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	signal(SIGUSR2, SIG_IGN);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		close(null);
	}
	make_owner(sp);
	if (sp->cfg->audit_path) {
		sp->audit = fopen(sp->cfg->audit_path, "ae");
		if (sp->audit == NULL)
			cw_warn("cannot open the audit log %s: %s", sp->cfg->audit_path,
				strerror(errno));
	}
}

/* Enter the host's registry, so stop and reap can find this session. */
static void register_session(const struct session_process *sp)
{
	struct registry_entry e = { .pid = getpid() };
	struct cw_error err;

	snprintf(e.id, sizeof(e.id), "%s", sp->s->id);
	snprintf(e.job, sizeof(e.job), "%s", sp->cfg->job_id);
	snprintf(e.owner, sizeof(e.owner), "%s", sp->owner);
	snprintf(e.dir, sizeof(e.dir), "%s", sp->s->dir);
	snprintf(e.cgroup, sizeof(e.cgroup), "%s", sp->s->cgroup);
	if (registry_add(&e, &err) < 0)
		cw_verbose("%s", err.msg);
}

/* Clean up after sessions that died on this host, in a child so the proxy
 * serves from the first moment; quietly, as the SPEC asks. */
static void sweep_dead_sessions(struct session_process *sp)
{
	struct reap_opts o = { .docker_socket = sp->cfg->docker_socket, .grace_ms = 0,
			       .quiet = true, .skip = sp->s->id,
			       .labels = registry_claim_label_scan(LABEL_SCAN_INTERVAL_S) };
	pid_t pid;

	if (!reap_needed(&o))
		return;
	pid = fork();
	if (pid != 0) {
		sp->sweeper = pid > 0 ? pid : 0;
		return;
	}
	close(sp->ctl_fd);
	close(sp->s->listen_fd);
	reap_run(&o);
	_exit(0);
}

/* Once we exit, the sweeper would be an orphan of the launcher, which kills
 * what the command left behind: let a short sweep finish first. A long one
 * is cut; the next session sweeps again. */
static void wait_sweeper(struct session_process *sp)
{
	uint64_t deadline = now_ms() + SWEEP_WAIT_MS;

	while (sp->sweeper > 0 && now_ms() < deadline) {
		if (waitpid(sp->sweeper, NULL, WNOHANG) != 0)
			return;
		usleep(2000);
	}
}

/* Before an image load: every image ID and tag on the daemon now. The loop
 * waits for this one call (loads are rare, and take far longer). */
static json_t *images_now(void *arg)
{
	struct session_process *sp = arg;
	json_t *answer = NULL, *set = NULL, *img, *tag;
	size_t i, j;

	if (docker_get_in_child(sp->cfg->docker_socket, "/images/json?all=1",
				IMAGES_NOW_TIMEOUT_MS, &answer) == 200) {
		set = json_object();
		json_array_foreach(answer, i, img)
		{
			json_t *id = json_object_get(img, "Id");

			if (json_is_string(id))
				json_object_set(set, json_string_value(id), json_true());
			json_array_foreach(json_object_get(img, "RepoTags"), j, tag)
				if (json_is_string(tag))
					json_object_set(set, json_string_value(tag), json_true());
		}
	}
	json_decref(answer);
	return set;
}

/* A loaded image carries no label a reap could find it by: the registry
 * keeps it too, for when this process dies before its teardown. */
static void image_loaded(void *arg, const char *ref)
{
	struct session_process *sp = arg;

	registry_add_image(sp->s->id, ref);
}

/* The daemon's cgroup driver, asked in a child (the session process, which
 * lives as long as the job, never maps libcurl) while the proxy already
 * serves with the pool as cgroup parent: cgroupfs, the common case. Docker's
 * systemd driver takes only a "*.slice" parent, which would need a transient
 * slice made over D-Bus: not supported, so containers then stay outside the
 * pool (the command is still in it). */
static void on_driver(struct ev_loop *loop, ev_io *w, int revents)
{
	struct session_process *sp = w->data;
	size_t len = strlen(sp->driver);
	ssize_t n = read(w->fd, sp->driver + len, sizeof(sp->driver) - 1 - len);

	(void)revents;
	if (n > 0) {
		sp->driver[len + (size_t)n] = '\0';
		if (len + (size_t)n < sizeof(sp->driver) - 1)
			return;
	} else if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
		return;
	}
	ev_io_stop(loop, w);
	close(w->fd);
	waitpid(sp->driver_pid, NULL, 0);
	sp->driver_pid = 0;
	if (strcmp(sp->driver, "systemd") == 0) {
		cw_warn("session %s: the daemon uses the systemd cgroup driver, which ci-wrap "
			"does not support yet: containers run outside the pool",
			sp->s->id);
		proxy_set_cgroup_parent(sp->proxy, NULL);
	}
}

static void query_cgroup_driver(struct session_process *sp)
{
	int pipefd[2];

	if (sp->s->cgroup[0] == '\0' || pipe2(pipefd, O_CLOEXEC) < 0)
		return;
	sp->driver_pid = fork();
	if (sp->driver_pid == 0) {
		struct docker *d = docker_open(sp->cfg->docker_socket);
		struct cw_error err = { 0 };
		json_t *info = NULL;
		const char *driver;

		docker_call(d, "GET", "/info", INFO_TIMEOUT_MS, &info, &err);
		driver = json_string_value(json_object_get(info, "CgroupDriver"));
		if (driver)
			(void)!write(pipefd[1], driver, strlen(driver));
		_exit(0);
	}
	close(pipefd[1]);
	if (sp->driver_pid < 0) {
		sp->driver_pid = 0;
		close(pipefd[0]);
		return;
	}
	ev_io_init(&sp->driver_w, on_driver, pipefd[0], EV_READ);
	sp->driver_w.data = sp;
	ev_io_start(sp->loop, &sp->driver_w);
}

/* Teardown began before the daemon answered: that child is of no use now. */
static void end_driver_query(struct session_process *sp)
{
	if (sp->driver_pid <= 0)
		return;
	kill(sp->driver_pid, SIGKILL);
	waitpid(sp->driver_pid, NULL, 0);
	close(sp->driver_w.fd);
	sp->driver_pid = 0;
}

static void unblock_term(void)
{
	sigset_t term;

	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_UNBLOCK, &term, NULL);
}

static void serve(struct session_process *sp, json_t *labels)
{
	struct proxy_config pc = {
		.listen_fd = sp->s->listen_fd,
		.upstream_path = sp->cfg->docker_socket,
		.rewrite = { .labels = labels,
			     .cgroup_parent = sp->s->cgroup[0] ? sp->s->cgroup : NULL,
			     .max_body = REWRITE_BODY_MAX },
		.allowed_uid = getuid(),
		.audit = sp->audit,
		.allow = sp->cfg->allow,
		.images_now = images_now,
		.image_loaded = image_loaded,
		.images_arg = sp,
	};
	struct cw_error err = { 0 };

	sp->loop = ev_default_loop(EVFLAG_AUTO);
	sp->proxy = proxy_new(sp->loop, &pc, &err);
	ev_io_init(&sp->ctl_w, on_ctl, sp->ctl_fd, EV_READ);
	sp->ctl_w.data = sp;
	ev_io_start(sp->loop, &sp->ctl_w);
	ev_signal_init(&sp->term_w, on_term, SIGTERM);
	sp->term_w.data = sp;
	ev_signal_start(sp->loop, &sp->term_w);
	unblock_term(); /* now a pending `ci-wrap stop` reaches on_term */
	watch_guarded(sp);
	query_cgroup_driver(sp);
	ev_run(sp->loop, 0);
	end_driver_query(sp);
}

static void format_rfc3339(const struct timespec *ts, char *buf, size_t size)
{
	struct tm tm;

	gmtime_r(&ts->tv_sec, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *counts_json(const uint64_t *created, const unsigned *removed)
{
	json_t *o = json_object();

	for (int k = RESOURCE_CONTAINER; k < RESOURCE__COUNT; k++) {
		char key[32];

		snprintf(key, sizeof(key), "%ss", teardown_kind_name(k));
		json_object_set_new(o, key, json_integer(created ? (json_int_t)created[k]
								 : (json_int_t)removed[k]));
	}
	return o;
}

/* What the pool measured; all -1 without a pool. */
struct pool_result {
	struct cgpool_stats stats; /* peak memory, CPU, OOM kills */
	int killed;		   /* processes killed in the pool */
};

static json_t *int_or_null(int64_t v)
{
	return v >= 0 ? json_integer(v) : json_null();
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

/* Step 4 of teardown: read the pool's numbers, kill what is left in it
 * (daemons the command started), remove it in every hierarchy. The session
 * process opens the pool (the launcher made it) only now: libcgroup's
 * initialisation writes ~0.8 MiB of tables, not worth holding for a job. */
static void finish_pool(struct session_process *sp, struct pool_result *pr)
{
	struct cgpool_limits limits = { sp->cfg->memory, sp->cfg->cpus, sp->cfg->pids };
	struct cw_error err = { 0 };

	pr->stats = (struct cgpool_stats){ -1, -1, -1 };
	pr->killed = 0;
	if (sp->s->cgroup[0] == '\0')
		return;
	if (cgpool_attach(&sp->s->pool, sp->s->id, &limits, NULL, &err) < 0) {
		cw_log(CW_LOG_QUIET, "session %s: %s", sp->s->id, err.msg);
		return;
	}
	cgpool_stats(&sp->s->pool, &pr->stats);
	merge_oom_events(sp->s->oom_fd, &pr->stats);
	pr->killed = cgpool_kill(&sp->s->pool, &err);
	if (pr->killed < 0)
		cw_log(CW_LOG_QUIET, "session %s: %s", sp->s->id, err.msg);
	else if (pr->killed > 0)
		cw_verbose("session %s: killed %d process(es) left in the pool", sp->s->id,
			   pr->killed);
	if (cgpool_destroy(&sp->s->pool, &err) < 0)
		cw_log(CW_LOG_QUIET, "session %s: %s", sp->s->id, err.msg);
}

static void write_report(const struct session_process *sp, const struct teardown_result *res,
			 const struct pool_result *pr)
{
	const struct proxy_stats *st = proxy_stats(sp->proxy);
	json_t *cmd = json_array(), *report;
	char started[40];

	for (char **a = sp->cfg->command; a && *a; a++)
		json_array_append_new(cmd, json_string(*a));
	format_rfc3339(&sp->s->started, started, sizeof(started));
	report = json_pack(
		"{s:s,s:s,s:o,s:o,s:s,s:f,s:{s:o,s:o,s:o,s:o,s:o},s:{s:I,s:I,s:o,s:o,s:O}}",
		"session", sp->s->id, "job", sp->cfg->job_id, "command", cmd, "exit_code",
		int_or_null(sp->exit_status), "started_at", started, "duration_s",
		(double)(now_ms() - sp->s->started_ms) / 1000.0, "cgroup", "path",
		sp->s->cgroup[0] ? json_string(sp->s->cgroup) : json_null(), "memory_limit_bytes",
		sp->cfg->memory ? json_integer(sp->cfg->memory) : json_null(), "memory_peak_bytes",
		int_or_null(pr->stats.memory_peak), "cpu_usage_s",
		pr->stats.cpu_s >= 0 ? json_real(pr->stats.cpu_s) : json_null(), "oom_kills",
		int_or_null(pr->stats.oom_kills), "docker",
		"requests", (json_int_t)st->requests, "denied", (json_int_t)st->denied, "created",
		counts_json(st->created, NULL), "removed", counts_json(NULL, res->removed),
		"leaked", res->leaked);
	if (report == NULL || json_dump_file(report, sp->cfg->report_path, JSON_INDENT(2)) < 0)
		cw_warn("cannot write the report %s", sp->cfg->report_path);
	json_decref(report);
}

static void summarize(const struct session_process *sp, const struct teardown_result *res,
		      const struct pool_result *pr, char *line, size_t size)
{
	char counts[256], pool[128] = "";
	size_t leaked = json_array_size(res->leaked);

	teardown_describe(res->removed, counts, sizeof(counts));
	if (pr->stats.memory_peak >= 0)
		snprintf(pool, sizeof(pool), "; peak memory %lld MiB; cpu %.1f s",
			 (long long)(pr->stats.memory_peak >> 20), pr->stats.cpu_s);
	if (pr->stats.oom_kills > 0)
		snprintf(pool + strlen(pool), sizeof(pool) - strlen(pool), "; %lld OOM kill%s",
			 (long long)pr->stats.oom_kills, pr->stats.oom_kills == 1 ? "" : "s");
	snprintf(line, size, "session %s: removed %s%s%s", sp->s->id, counts, pool,
		 leaked ? "; some resources could not be removed" : "");
}

static void report_leaks(const struct teardown_result *res)
{
	size_t i;
	json_t *l;

	json_array_foreach(res->leaked, i, l)
	cw_log(CW_LOG_QUIET, "could not remove %s %s: %s",
	       json_string_value(json_object_get(l, "type")),
	       json_string_value(json_object_get(l, "id")),
	       json_string_value(json_object_get(l, "error")));
}

void session_process_main(struct session *s, const struct cw_config *cfg, int ctl_fd)
{
	struct session_process sp = { .s = s, .cfg = cfg, .ctl_fd = ctl_fd, .exit_status = -1 };
	struct teardown_opts topts = { .session = s->id, .grace_ms = cfg->grace_ms,
				       .keep_images = cfg->keep_images,
				       .progress = isatty(STDERR_FILENO) &&
						   cfg->verbosity > CW_LOG_QUIET };
	struct teardown_result res = { 0 };
	struct pool_result pr;
	struct docker *docker;
	char line[1024], msg[1100];
	json_t *labels;

	setup_process(&sp);
	register_session(&sp);
	send(ctl_fd, "ready", 5, MSG_NOSIGNAL); /* start returns now */
	sweep_dead_sessions(&sp);
	labels = make_labels(&sp);
	serve(&sp, labels);
	/* Only the proxy labels: if no create call went through it, nothing of
	 * the session's can exist, and a job that never used Docker costs no
	 * daemon call at all. */
	if (proxy_stats(sp.proxy)->create_calls > 0) {
		docker = docker_open(cfg->docker_socket);
		topts.loaded_images = proxy_loaded_images(sp.proxy);
		teardown_session(docker, &topts, &res);
		docker_close(docker);
	} else {
		res.leaked = json_array();
	}
	finish_pool(&sp, &pr);
	session_cleanup(s);
	if (cfg->report_path)
		write_report(&sp, &res, &pr);
	report_leaks(&res);
	summarize(&sp, &res, &pr, line, sizeof(line));
	snprintf(msg, sizeof(msg), "done %s", line);
	wait_sweeper(&sp);
	if (sp.stopped && s->guard_pid > 0)
		registry_put_summary(s->id, line); /* `ci-wrap stop` prints it */
	else if (sp.launcher_gone || send(ctl_fd, msg, strlen(msg), MSG_NOSIGNAL) < 0)
		cw_log(CW_LOG_NORMAL, "%s", line);
	registry_remove(s->id);
	proxy_free(sp.proxy);
	json_decref(labels);
	json_decref(res.leaked);
	if (sp.audit)
		fclose(sp.audit);
	_exit(0);
}

void session_process_exec(const char *listen_fd, const char *ctl_fd, const char *oom_fd)
{
	static struct session s;
	static struct cw_config cfg;
	int ctl = atoi(ctl_fd);
	_cleanup_free_ char *msg = xmalloc(1 << 20);
	ssize_t n = recv(ctl, msg, 1 << 20, 0);

	fcntl(ctl, F_SETFD, FD_CLOEXEC);
	if (n <= 0 || session_state_unpack(msg, (size_t)n, &s, &cfg) < 0)
		cw_die(125, 0, "the session process got no state from ci-wrap");
	s.listen_fd = atoi(listen_fd);
	fcntl(s.listen_fd, F_SETFD, FD_CLOEXEC);
	s.oom_fd = atoi(oom_fd);
	if (s.oom_fd >= 0)
		fcntl(s.oom_fd, F_SETFD, FD_CLOEXEC);
	cw_log_level = cfg.verbosity;
	session_process_main(&s, &cfg, ctl);
}
