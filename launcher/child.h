/* child.h - run the command as tini does.
 *
 * 1. child_block_signals() before any fork: signals then arrive on a
 *    signalfd and are handled synchronously, never in a handler.
 * 2. child_spawn() the command with its environment.
 * 3. child_wait() forwards signals to it and reaps every child (ci-wrap is
 *    a subreaper, so orphans come to us) until the command exits.
 * 4. child_kill_strays() at teardown: what the command left running dies.
 */
#ifndef CI_WRAP_CHILD_H
#define CI_WRAP_CHILD_H

#include <stdint.h>
#include <sys/types.h>

#include "../cgroup/cgpool.h"
#include "../common/error.h"

/* Block the signals ci-wrap forwards or handles; return a signalfd. */
int child_block_signals(struct cw_error *err);

/* Fork and exec argv with envp; the child moves itself into the pool's leaf
 * (if pool) before exec, so nothing it starts escapes, and restores the
 * signal mask. It exits 127 if argv[0] is not found, 126 if it cannot be
 * run, 125 if it cannot enter the pool. */
pid_t child_spawn(char **argv, char **envp, struct cgpool *pool, struct cw_error *err);

/* Wait for pid, forwarding signals. After a forwarded SIGINT, SIGTERM or
 * SIGHUP the command gets grace_ms before SIGKILL. Returns its wait status;
 * *signo is the first terminating signal ci-wrap itself got, or 0. */
int child_wait(pid_t pid, int sigfd, int64_t grace_ms, int *signo);

/* Reap whatever children have exited, without blocking. */
void child_reap(void);

/* SIGKILL every descendant of ci-wrap but spare, and reap them. */
void child_kill_strays(pid_t spare);

/* Exit status for a wait status, like a shell: code, or 128 + signal. */
int child_exit_code(int wstatus);

#endif
