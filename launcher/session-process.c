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

#include "../common/kinds.h"
#include "../common/log.h"
#include "../common/proc.h"
#include "../common/util.h"
#include "../proxy/proxy.h"
#include "../proxy/sockmount.h"
#include "docker-get.h"
#include "metrics.h"
#include "reap.h"
#include "registry.h"
#include "session-end.h"
#include "session-internal.h"
#include "teardown.h"

/* Create calls in flight when teardown starts get this long to finish. */
#define DRAIN_TIMEOUT_MS 5000
#define REWRITE_BODY_MAX (16u * 1024 * 1024)
/* How long the end of a session waits for its startup sweep. */
#define SWEEP_WAIT_MS 5000
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
	ev_timer sample_w;	       /* samples the pool's memory, without memory.peak */
	int64_t sampled_peak;	       /* the most it saw, -1 if it did not sample */
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
	unlink(sp->s->mounted_path);
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
	e.manager = sp->s->manager;
	registry_set_command(&e, sp->cfg->command, sp->s->guard_pid);
	if (registry_add(&e, &err) < 0)
		cw_verbose("%s", err.msg);
}

/* Clean up after sessions that died on this host, in a child so the proxy
 * serves from the first moment; quietly, as the SPEC asks. */
static void sweep_dead_sessions(struct session_process *sp)
{
	struct reap_opts o = { .docker_socket = sp->cfg->docker_socket, .grace_ms = 0,
			       .quiet = true, .skip = sp->s->id,
			       .labels = registry_claim_label_scan(LABEL_SCAN_INTERVAL_S),
			       .metrics_dir = sp->cfg->metrics_dir };
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
	close(sp->s->mounted_fd);
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

/* A loaded image carries no label a reap could find it by: the registry
 * keeps it too, for when this process dies before its teardown. */
static void image_loaded(void *arg, const char *ref)
{
	struct session_process *sp = arg;

	registry_add_image(sp->s->id, ref);
}

static void volume_made(void *arg, const char *name)
{
	struct session_process *sp = arg;

	registry_add_volume(sp->s->id, name);
}

/* On a host without systemd the launcher chose the cgroupfs manager without
 * asking the daemon (docker's systemd driver needs systemd as init). A daemon
 * configured for it anyway is asked about here, in a child (the session
 * process, which lives as long as the job, never maps libcurl), while the
 * proxy already serves: containers then cannot join the pool, and the
 * session says so once. */
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
		cw_warn("session %s: the daemon uses the systemd cgroup driver, but this host "
			"does not run systemd: containers run outside the pool",
			sp->s->id);
		proxy_set_cgroup_parent(sp->proxy, NULL);
	}
}

static void query_cgroup_driver(struct session_process *sp)
{
	int pipefd[2];

	if (sp->s->manager != CGPOOL_CGROUPFS || cgpool_host_systemd() ||
	    pipe2(pipefd, O_CLOEXEC) < 0)
		return;
	sp->driver_pid = fork();
	if (sp->driver_pid == 0) {
		json_t *info = NULL;
		const char *driver;

		docker_get_one(sp->cfg->docker_socket, "/info", INFO_TIMEOUT_MS, &info);
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

/* Once a second: close enough for the report's peak on kernels that do not
 * keep one (an OOM kill is counted apart, by the kernel). */
static void on_sample(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct session_process *sp = w->data;
	int64_t now = cgpool_memory_now(sp->s->cgroup);

	(void)loop;
	(void)revents;
	if (now > sp->sampled_peak)
		sp->sampled_peak = now;
}

static void sample_memory(struct session_process *sp)
{
	sp->sampled_peak = -1;
	if (sp->s->manager == CGPOOL_NONE || !cgpool_host_unified() ||
	    cgpool_peak_kept(sp->s->cgroup))
		return;
	sp->sampled_peak = 0;
	ev_timer_init(&sp->sample_w, on_sample, 0., 1.);
	sp->sample_w.data = sp;
	ev_timer_start(sp->loop, &sp->sample_w);
}

static void unblock_term(void)
{
	sigset_t term;

	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_UNBLOCK, &term, NULL);
}

/* The daemon's socket mounted into a container becomes the session's: the
 * daemon must be up to be recognised by inode, as it is for any create. */
static const struct sockmount *socket_swap(struct session_process *sp)
{
	static struct sockmount sm;
	struct cw_error err = { 0 };

	if (sockmount_init(&sm, sp->cfg->docker_socket, sp->s->mounted_path, &err) < 0) {
		cw_verbose("session %s: %s: its mounts are not swapped", sp->s->id, err.msg);
		return NULL;
	}
	return &sm;
}

static void serve(struct session_process *sp, json_t *labels)
{
	struct proxy_config pc = {
		.listen_fd = sp->s->listen_fd,
		.mounted_fd = sp->s->mounted_fd,
		.upstream_path = sp->cfg->docker_socket,
		.rewrite = { .labels = labels,
			     .cgroup_parent = sp->s->parent[0] ? sp->s->parent : NULL,
			     .sockets = socket_swap(sp),
			     .max_body = REWRITE_BODY_MAX,
			     .deny = sp->cfg->deny,
			     .allow_binds = sp->cfg->allow_binds,
			     .nallow_binds = sp->cfg->nallow_binds },
		.allowed_uid = getuid(),
		.audit = sp->audit,
		.allow = sp->cfg->allow,
		.isolation_off = sp->cfg->isolation_off,
		.list_images = true,
		.image_loaded = image_loaded,
		.volume_made = volume_made,
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
	sample_memory(sp);
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

		snprintf(key, sizeof(key), "%ss", kind_name(k));
		json_object_set_new(o, key, json_integer(created ? (json_int_t)created[k]
								 : (json_int_t)removed[k]));
	}
	return o;
}

static json_t *int_or_null(int64_t v)
{
	return v >= 0 ? json_integer(v) : json_null();
}

static void write_report(const struct session_process *sp, const struct session_end_result *r)
{
	const struct teardown_result *res = &r->objects;
	const struct cgpool_stats *ps = &r->stats;
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
		int_or_null(ps->memory_peak), "cpu_usage_s",
		ps->cpu_s >= 0 ? json_real(ps->cpu_s) : json_null(), "oom_kills",
		int_or_null(ps->oom_kills), "docker",
		"requests", (json_int_t)st->requests, "denied", (json_int_t)st->denied, "created",
		counts_json(st->created, NULL), "removed", counts_json(NULL, res->removed),
		"leaked", res->leaked);
	if (report == NULL || json_dump_file(report, sp->cfg->report_path, JSON_INDENT(2)) < 0)
		cw_warn("cannot write the report %s", sp->cfg->report_path);
	json_decref(report);
}

static void summarize(const struct session_process *sp, const struct session_end_result *r,
		      char *line, size_t size)
{
	const struct teardown_result *res = &r->objects;
	const struct cgpool_stats *ps = &r->stats;
	char counts[256], pool[128] = "";
	size_t leaked = json_array_size(res->leaked);

	teardown_describe(res->removed, counts, sizeof(counts));
	if (ps->memory_peak >= 0)
		snprintf(pool, sizeof(pool), "; peak memory %lld MiB; cpu %.1f s",
			 (long long)(ps->memory_peak >> 20), ps->cpu_s);
	if (ps->oom_kills > 0)
		snprintf(pool + strlen(pool), sizeof(pool) - strlen(pool), "; %lld OOM kill%s",
			 (long long)ps->oom_kills, ps->oom_kills == 1 ? "" : "s");
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

/* Everything the session made, whoever asked for the end: the command's
 * exit, `ci-wrap stop`, the guarded shell's exit, or the launcher's death. */
static void end_session(struct session_process *sp, struct session_end_result *r)
{
	struct session_end e = {
		.id = sp->s->id,
		.docker_socket = sp->cfg->docker_socket,
		.manager = sp->s->manager,
		.dir = sp->s->dir,
		/* Only the proxy labels: if no create call went through it, nothing
		 * of the session's can exist, and a job that never used Docker
		 * costs no daemon call at all. */
		.daemon = proxy_stats(sp->proxy)->create_calls > 0,
		.oom_fd = sp->s->oom_fd,
		.teardown = { .grace_ms = sp->cfg->grace_ms,
			      .keep_images = sp->cfg->keep_images,
			      .tracked = proxy_tracked(sp->proxy),
			      .progress = isatty(STDERR_FILENO) &&
					  sp->cfg->verbosity > CW_LOG_QUIET },
	};

	if (sp->sampled_peak >= 0) {
		ev_timer_stop(sp->loop, &sp->sample_w);
		on_sample(sp->loop, &sp->sample_w, 0);
	}
	session_end(&e, r);
	if (r->stats.memory_peak < 0 && sp->sampled_peak > 0)
		r->stats.memory_peak = sp->sampled_peak;
}

void session_process_main(struct session *s, const struct cw_config *cfg, int ctl_fd)
{
	struct session_process sp = { .s = s, .cfg = cfg, .ctl_fd = ctl_fd, .exit_status = -1 };
	struct session_end_result r = { 0 };
	char line[1024], msg[1100];
	uint64_t teardown_start; /* for the metrics */
	json_t *labels;

	setup_process(&sp);
	register_session(&sp);
	send(ctl_fd, "ready", 5, MSG_NOSIGNAL); /* start returns now */
	sweep_dead_sessions(&sp);
	labels = make_labels(&sp);
	serve(&sp, labels);
	teardown_start = now_ms();
	end_session(&sp, &r);
	if (cfg->report_path)
		write_report(&sp, &r);
	report_leaks(&r.objects);
	summarize(&sp, &r, line, sizeof(line));
	metrics_record_session(cfg->metrics_dir,
			       &(struct metrics_session){ s->id, sp.exit_status,
							  proxy_stats(sp.proxy), &r.objects,
							  &r.stats, now_ms() - teardown_start });
	snprintf(msg, sizeof(msg), "done %s", line);
	wait_sweeper(&sp);
	if (sp.stopped && s->guard_pid > 0)
		registry_put_summary(s->id, line); /* `ci-wrap stop` prints it */
	else if (sp.launcher_gone || send(ctl_fd, msg, strlen(msg), MSG_NOSIGNAL) < 0)
		cw_log(CW_LOG_NORMAL, "%s", line);
	proxy_free(sp.proxy);
	json_decref(labels);
	json_decref(r.objects.leaked);
	if (sp.audit)
		fclose(sp.audit);
	_exit(0);
}

void session_process_exec(const char *listen_fd, const char *mounted_fd, const char *ctl_fd,
			  const char *oom_fd)
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
	s.mounted_fd = atoi(mounted_fd);
	fcntl(s.mounted_fd, F_SETFD, FD_CLOEXEC);
	s.oom_fd = atoi(oom_fd);
	if (s.oom_fd >= 0)
		fcntl(s.oom_fd, F_SETFD, FD_CLOEXEC);
	cw_log_level = cfg.verbosity;
	session_process_main(&s, &cfg, ctl);
}
