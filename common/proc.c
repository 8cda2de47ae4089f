/* proc.c - /proc readers. */
#include "proc.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int proc_stat(pid_t pid, pid_t *ppid, unsigned long long *starttime)
{
	char path[64];
	_cleanup_free_ char *buf = NULL;
	const char *p;
	unsigned long long st;
	char state;
	int pp;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	buf = read_small_file(path, 4096);
	/* The command name may hold spaces and parentheses: parse after the
	 * last ')'. Fields from there: state ppid ... starttime is 22nd. */
	if (buf == NULL || (p = strrchr(buf, ')')) == NULL)
		return -1;
	if (sscanf(p + 2, "%c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
			  "%*d %*d %llu",
		   &state, &pp, &st) != 3)
		return -1;
	if (state == 'Z' || state == 'X')
		return -1; /* dead, only not reaped yet */
	if (ppid)
		*ppid = pp;
	if (starttime)
		*starttime = st;
	return 0;
}

int proc_boot_id(char *buf, size_t size)
{
	_cleanup_free_ char *id = read_small_file("/proc/sys/kernel/random/boot_id", 128);

	if (id == NULL)
		return -1;
	id[strcspn(id, "\n")] = '\0';
	snprintf(buf, size, "%s", id);
	return 0;
}

/* Every (pid, ppid) pair on the system. */
struct proc_entry {
	pid_t pid;  /* the process */
	pid_t ppid; /* its parent */
};

static size_t list_processes(struct proc_entry **out)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	size_t n = 0, cap = 256;
	struct proc_entry *list = xmalloc(cap * sizeof(*list));

	while (d && (e = readdir(d)) != NULL) {
		pid_t pid = (pid_t)atoi(e->d_name), ppid;

		if (pid <= 0 || proc_stat(pid, &ppid, NULL) < 0)
			continue;
		if (n == cap)
			list = xrealloc(list, (cap *= 2) * sizeof(*list));
		list[n++] = (struct proc_entry){ pid, ppid };
	}
	if (d)
		closedir(d);
	*out = list;
	return n;
}

size_t proc_signal_tree(pid_t root, bool include_root, pid_t spare, int sig)
{
	_cleanup_free_ struct proc_entry *all = NULL;
	size_t n = list_processes(&all), count = 0;
	_cleanup_free_ pid_t *tree = xmalloc((n + 1) * sizeof(pid_t));
	size_t ntree = 0;

	tree[ntree++] = root;
	/* Breadth-first over parent links; the list is small (one host). */
	for (size_t i = 0; i < ntree; i++)
		for (size_t j = 0; j < n; j++)
			if (all[j].ppid == tree[i] && all[j].pid != spare && ntree <= n)
				tree[ntree++] = all[j].pid;
	for (size_t i = include_root ? 0 : 1; i < ntree; i++)
		if (kill(tree[i], sig) == 0)
			count++;
	return count;
}
