/* proc.h - processes as /proc shows them: parents, start times, trees.
 *
 * Used to kill what a command left behind when there is no pool, and to
 * tell a live session owner from a dead one (pid reuse is caught by the
 * start time, a reboot by the boot id).
 */
#ifndef CI_WRAP_PROC_H
#define CI_WRAP_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Parent pid and start time (clock ticks since boot) of pid; -1 if gone
 * (a zombie is gone). */
int proc_stat(pid_t pid, pid_t *ppid, unsigned long long *starttime);

/* The running kernel's boot id, NUL-terminated. */
int proc_boot_id(char *buf, size_t size);

/* Send sig to every descendant of root (and root itself when
 * include_root), except spare and its descendants. Returns how many. */
size_t proc_signal_tree(pid_t root, bool include_root, pid_t spare, int sig);

#endif
