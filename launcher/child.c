/* child.c - spawning, waiting, forwarding, reaping. */
#include "child.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/proc.h"
#include "../common/util.h"

static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };

static void handled_set(sigset_t *set)
{
	sigemptyset(set);
	for (size_t i = 0; i < ARRAY_SIZE(forwarded); i++)
		sigaddset(set, forwarded[i]);
	sigaddset(set, SIGCHLD);
}

int child_block_signals(struct cw_error *err)
{
	sigset_t set;
	int fd;

	handled_set(&set);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return cw_error_set(err, errno, "blocking signals");
	fd = signalfd(-1, &set, SFD_CLOEXEC);
	if (fd < 0)
		return cw_error_set(err, errno, "creating a signalfd");
	/* Orphans of the command come to us, to be reaped and, at teardown,
	 * killed (tini -s). */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		cw_verbose("cannot become a subreaper: %s", strerror(errno));
	return fd;
}

pid_t child_spawn(char **argv, char **envp, struct cgpool *pool, struct cw_error *err)
{
	pid_t pid = fork();

	if (pid < 0)
		return cw_error_set(err, errno, "forking the command");
	if (pid == 0) {
		sigset_t set;

		if (pool && cgpool_enter(pool, getpid(), err) < 0)
			cw_die(125, 0, "%s", err->msg);

		handled_set(&set);
		signal(SIGPIPE, SIG_DFL);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		execvpe(argv[0], argv, envp);
		cw_die(errno == ENOENT || errno == ENOTDIR ? 127 : 126, errno, "cannot run '%s'",
		       argv[0]);
	}
	return pid;
}

int child_exit_code(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return 125;
}

void child_reap(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

/* Reap every exited child; true once pid is among them. */
static bool reap_until(pid_t pid, int *wstatus)
{
	bool found = false;
	pid_t got;
	int st;

	while ((got = waitpid(-1, &st, WNOHANG)) > 0) {
		if (got == pid) {
			*wstatus = st;
			found = true;
		}
	}
	return found;
}

static bool is_terminating(int sig)
{
	return sig == SIGINT || sig == SIGTERM || sig == SIGHUP || sig == SIGQUIT;
}

int child_wait(pid_t pid, int sigfd, int64_t grace_ms, int *signo)
{
	uint64_t kill_at = 0;
	int wstatus = 0;

	*signo = 0;
	for (;;) {
		struct pollfd pfd = { sigfd, POLLIN, 0 };
		struct signalfd_siginfo si;
		int timeout = -1;

		if (kill_at) {
			uint64_t now = now_ms();

			timeout = now >= kill_at ? 0 : (int)(kill_at - now);
		}
		if (poll(&pfd, 1, timeout) == 0 && kill_at) {
			cw_warn("the command did not exit within the grace period; killing it");
			kill(pid, SIGKILL);
			kill_at = 0;
			continue;
		}
		if (read(sigfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGCHLD) {
			if (reap_until(pid, &wstatus))
				return wstatus;
			continue;
		}
		kill(pid, (int)si.ssi_signo);
		if (is_terminating((int)si.ssi_signo) && *signo == 0) {
			*signo = (int)si.ssi_signo;
			kill_at = now_ms() + (uint64_t)grace_ms;
		}
	}
}

void child_kill_strays(pid_t spare)
{
	for (int round = 0; round < 50; round++) {
		size_t n = proc_signal_tree(getpid(), false, spare, SIGKILL);

		child_reap();
		if (n == 0)
			return;
		if (round == 0)
			cw_verbose("killed %zu process(es) the command left behind", n);
		usleep(10000);
	}
}
