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
#include "../common/util.h"
#include "child.h"
#include "cli.h"
#include "session.h"

#define EXIT_CIWRAP 125

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
	if (s->cgroup[0]) {
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
	pid = child_spawn(cfg->command, env, s.cgroup[0] ? &s.pool : NULL, &err);
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
		session_cleanup(&s);
		session_remove_pool(&s);
	}
	cgpool_close(&s.pool); /* the session process removed it */
	child_kill_strays(0);
	if (summary[0])
		cw_log(CW_LOG_NORMAL, "%s", summary);
	if (signo == 0 && pid < 0)
		return EXIT_CIWRAP;
	return signo ? 128 + signo : child_exit_code(wstatus);
}

int main(int argc, char **argv)
{
	struct cw_config cfg;
	int status;

	if (argc == 4 && strcmp(argv[1], "__session") == 0)
		session_process_exec(argv[2], argv[3]);
	cli_parse(argc, argv, &cfg);
	cw_log_level = cfg.verbosity;
	if (cfg.mode != MODE_RUN) {
		cw_log(CW_LOG_QUIET, "'%s' is not available yet in this build", argv[1]);
		cli_free(&cfg);
		return EXIT_CIWRAP;
	}
	signal(SIGPIPE, SIG_IGN);
	status = run(&cfg);
	cli_free(&cfg);
	return status;
}
