/* main.c - ci-wrap's entry: parse, run the session, choose the exit code.
 * Only this file prints errors and decides the exit status. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/error.h"
#include "../common/log.h"
#include "../common/proc.h"
#include "../common/util.h"
#include "child.h"
#include "cli.h"
#include "ls.h"
#include "reap.h"
#include "registry.h"
#include "session-end.h"
#include "session.h"

#define EXIT_CIWRAP 125
/* How long `ci-wrap start` waits for its session process to register. */
#define START_TIMEOUT_MS 10000

extern char **environ;

static const char *scrubbed[] = { "DOCKER_HOST",     "DOCKER_CONTEXT",	"DOCKER_TLS_VERIFY",
				  "DOCKER_CERT_PATH", "CI_WRAP_SESSION", "CI_WRAP_CGROUP" };

static bool is_scrubbed(const char *entry)
{
	for (size_t i = 0; i < ARRAY_SIZE(scrubbed); i++) {
		size_t n = strlen(scrubbed[i]);

		if (strncmp(entry, scrubbed[i], n) == 0 && entry[n] == '=')
			return true;
	}
	return false;
}

/* The variables ci-wrap adds to the command's environment. */
struct command_vars {
	char docker_host[sizeof("DOCKER_HOST=unix://") + PATH_MAX]; /* the proxy */
	char session[sizeof("CI_WRAP_SESSION=") + 96];		     /* session id */
	char cgroup[sizeof("CI_WRAP_CGROUP=") + PATH_MAX];	     /* pool path */
};

/* The command's environment: ours, pointed at the proxy. */
static char **command_env(const struct session *s, struct command_vars *v)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ[n])
		n++;
	env = xcalloc(n + 4, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		if (!is_scrubbed(environ[i]))
			env[k++] = environ[i];
	snprintf(v->docker_host, sizeof(v->docker_host), "DOCKER_HOST=unix://%s",
		 s->socket_path);
	snprintf(v->session, sizeof(v->session), "CI_WRAP_SESSION=%s", s->id);
	env[k++] = v->docker_host;
	env[k++] = v->session;
	if (s->manager != CGPOOL_NONE) {
		snprintf(v->cgroup, sizeof(v->cgroup), "CI_WRAP_CGROUP=%s", s->cgroup);
		env[k++] = v->cgroup;
	}
	return env;
}

static int late_signal;

static void note_signal(int sig)
{
	/* The command is gone; teardown is under way and will finish. */
	if (late_signal == 0 && sig != SIGWINCH && sig != SIGCHLD)
		late_signal = sig;
	if (sig == SIGCHLD)
		child_reap();
}

/* The session process died (it was killed, or crashed) before its teardown
 * ended: the launcher ends the session itself, in the same order. */
static void end_orphaned(struct session *s, const struct cw_config *cfg, char *summary,
			 size_t size)
{
	struct session_end e = { .id = s->id, .docker_socket = cfg->docker_socket,
				 .manager = s->manager, .dir = s->dir, .daemon = true,
				 .oom_fd = -1,
				 .teardown = { .grace_ms = cfg->grace_ms,
					       .keep_images = cfg->keep_images } };
	struct session_end_result r = { 0 };
	char counts[256];

	cgpool_close(&s->pool);
	e.teardown.tracked = registry_tracked(s->id);
	session_end(&e, &r);
	json_decref(e.teardown.tracked);
	teardown_describe(r.objects.removed, counts, sizeof(counts));
	snprintf(summary, size, "session %s: removed %s%s", s->id, counts,
		 json_array_size(r.objects.leaked) ? "; some resources could not be removed" : "");
	json_decref(r.objects.leaked);
}

static int run(struct cw_config *cfg)
{
	struct cw_error err = { 0 };
	struct session s;
	char summary[1024] = "";
	int sigfd, wstatus, signo = 0;
	_cleanup_free_ char **env = NULL;
	struct command_vars vars;
	pid_t pid;

	sigfd = child_block_signals(&err);
	if (sigfd < 0 || session_create(&s, cfg, &err) < 0) {
		cw_log(CW_LOG_QUIET, "%s", err.msg);
		return EXIT_CIWRAP;
	}
	if (session_make_pool(&s, cfg, &err) < 0) {
		session_cleanup(&s);
		session_remove_pool(&s);
		cw_log(CW_LOG_QUIET, "%s", err.msg);
		return EXIT_CIWRAP;
	}
	if (session_spawn(&s, cfg, &err) < 0) {
		session_cleanup(&s);
		session_remove_pool(&s);
		cw_log(CW_LOG_QUIET, "starting the session: %s", err.msg);
		return EXIT_CIWRAP;
	}
	cw_verbose("session %s: proxy at unix://%s", s.id, s.socket_path);
	env = command_env(&s, &vars);
	pid = child_spawn(cfg->command, env, &s.pool, &err);
	if (pid < 0) {
		cw_log(CW_LOG_QUIET, "%s", err.msg);
		wstatus = EXIT_CIWRAP << 8;
	} else {
		session_send(&s, "pid", pid);
		wstatus = child_wait(pid, sigfd, cfg->grace_ms, &signo);
	}
	session_send(&s, "exit", child_exit_code(wstatus));
	if (session_wait_done(&s, sigfd, note_signal, summary, sizeof(summary)) < 0) {
		cw_log(CW_LOG_QUIET, "session %s: the session process died before teardown ended",
		       s.id);
		end_orphaned(&s, cfg, summary, sizeof(summary));
	}
	cgpool_close(&s.pool); /* the session process removed it */
	child_kill_strays(s.pid);
	if (summary[0])
		cw_log(CW_LOG_NORMAL, "%s", summary);
	if (signo == 0 && pid < 0)
		return EXIT_CIWRAP;
	return signo ? 128 + signo : child_exit_code(wstatus);
}

static int reap(const struct cw_config *cfg)
{
	struct reap_opts o = { .docker_socket = cfg->docker_socket, .labels = true,
			       .dry_run = cfg->dry_run,
			       .older_than_ms = cfg->older_than_ms, .grace_ms = cfg->grace_ms,
			       .quiet = cfg->verbosity == CW_LOG_QUIET,
			       .metrics_dir = cfg->metrics_dir };

	if (reap_run(&o) < 0) {
		cw_log(CW_LOG_QUIET, "reap: cannot list resources on the daemon at unix://%s",
		       cfg->docker_socket);
		return EXIT_CIWRAP;
	}
	return 0;
}

/* Print a value in single quotes for the shell's eval. */
static void print_quoted(const char *s)
{
	putchar('\'');
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", stdout);
		else
			putchar(*s);
	}
	putchar('\'');
}

/* ci-wrap start: a detached session guarded by the calling shell, which
 * moves into the pool; the exports go to stdout for eval. The command
 * substitution of bash and dash execs us directly, so our parent is the
 * job's shell itself. */
static int start(struct cw_config *cfg)
{
	struct cw_error err = { 0 };
	struct session s;

	if (session_create(&s, cfg, &err) < 0) {
		cw_log(CW_LOG_QUIET, "%s", err.msg);
		return EXIT_CIWRAP;
	}
	s.guard_pid = getppid();
	if (session_make_pool(&s, cfg, &err) < 0 || cgpool_enter(&s.pool, s.guard_pid, &err) < 0 ||
	    session_spawn(&s, cfg, &err) < 0 || session_wait_ready(&s, START_TIMEOUT_MS, &err) < 0) {
		cw_log(CW_LOG_QUIET, "%s", err.msg);
		session_cleanup(&s);
		session_remove_pool(&s);
		return EXIT_CIWRAP;
	}
	fputs("export DOCKER_HOST=", stdout);
	print_quoted("unix://");
	print_quoted(s.socket_path);
	fputs("; export CI_WRAP_SESSION=", stdout);
	print_quoted(s.id);
	if (s.manager != CGPOOL_NONE) {
		fputs("; export CI_WRAP_CGROUP=", stdout);
		print_quoted(s.cgroup);
	}
	fputs("; unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH\n", stdout);
	cw_verbose("session %s: started, guarded by pid %d", s.id, (int)s.guard_pid);
	cgpool_close(&s.pool);
	close(s.ctl_fd);
	return 0;
}

/* Move the guarded shell and every ancestor of ours out of the pool before
 * the session kills what is in it: `stop` may run through timeout, sudo,
 * env or a subshell, and none of those, nor the job shell, may die. */
static void leave_pool(const struct registry_entry *e)
{
	struct cgpool_limits none = { 0, 0, 0 };
	struct cgpool pool;
	struct cw_error err;
	pid_t pid = getpid(), ppid;

	if (e->manager == CGPOOL_NONE ||
	    cgpool_attach(&pool, e->manager, e->id, &none, NULL, &err) < 0)
		return;
	if (e->guard_pid > 0)
		cgpool_leave(&pool, e->guard_pid, &err);
	while (pid > 1 && proc_stat(pid, &ppid, NULL) == 0) {
		cgpool_leave(&pool, pid, &err);
		pid = ppid;
	}
	cgpool_close(&pool);
}

/* Signal the session process and wait for its summary. */
static void stop_one(const struct registry_entry *e, int64_t grace_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)grace_ms + 120000;
	char line[1024];

	leave_pool(e);
	if (kill(e->pid, SIGTERM) < 0) {
		cw_log(CW_LOG_NORMAL, "session %s: already stopped", e->id);
		return;
	}
	while (now_ms() < deadline && registry_owner_alive(e->owner))
		usleep(20000);
	if (registry_take_summary(e->id, line, sizeof(line)) == 0)
		cw_log(CW_LOG_NORMAL, "%s", line);
	else
		cw_log(CW_LOG_NORMAL, "session %s: stopped", e->id);
}

/* stop --session ID of a session whose processes are gone: clean it as
 * reap would, rather than leave it to the next sweep. */
static int stop_dead(const struct cw_config *cfg, const char *id)
{
	struct reap_opts o = { .docker_socket = cfg->docker_socket, .labels = true,
			       .grace_ms = cfg->grace_ms, .only = id,
			       .metrics_dir = cfg->metrics_dir,
			       .quiet = cfg->verbosity == CW_LOG_QUIET };

	return reap_run(&o);
}

/* ci-wrap stop: --session, else $CI_WRAP_SESSION, else this job's sessions
 * (GitLab's after_script runs in a new shell without our exports). */
static int stop(const struct cw_config *cfg)
{
	const char *id = cfg->session ? cfg->session : getenv("CI_WRAP_SESSION");
	size_t n = 0, stopped = 0;
	struct registry_entry *list = registry_list(&n);

	for (size_t i = 0; i < n; i++) {
		const struct registry_entry *e = &list[i];

		if (id ? strcmp(e->id, id) != 0 : strcmp(e->job, cfg->job_id) != 0)
			continue;
		if (!registry_owner_alive(e->owner))
			continue; /* reap's business, below */
		stop_one(e, cfg->grace_ms);
		stopped++;
	}
	free(list);
	if (stopped == 0 && cfg->session && stop_dead(cfg, cfg->session) > 0)
		return 0;
	if (stopped == 0)
		cw_log(CW_LOG_NORMAL, "no running session %s%s: nothing to stop", id ? id : "of job ",
		       id ? "" : cfg->job_id);
	return 0;
}

int main(int argc, char **argv)
{
	struct cw_config cfg;
	int status;

	if (argc == 6 && strcmp(argv[1], "__session") == 0)
		session_process_exec(argv[2], argv[3], argv[4], argv[5]);
	cli_parse(argc, argv, &cfg);
	cw_log_level = cfg.verbosity;
	if (cfg.mode == MODE_REAP) {
		status = reap(&cfg);
		cli_free(&cfg);
		return status;
	}
	signal(SIGPIPE, SIG_IGN);
	if (cfg.mode == MODE_LS)
		status = ls_main(&cfg);
	else if (cfg.mode == MODE_START)
		status = start(&cfg);
	else if (cfg.mode == MODE_STOP)
		status = stop(&cfg);
	else
		status = run(&cfg);
	cli_free(&cfg);
	return status;
}
