/* memsample.c - sample the memory of a set of processes until told to stop.
 *
 *   memsample [-i INTERVAL_MS] [-t] PID...
 *
 * Every interval, sums Rss and Pss (from /proc/PID/smaps_rollup) over the
 * given processes, and with -t over all their descendants too (socat forks a
 * child per connection). On SIGTERM or SIGINT prints one JSON object:
 *   {"samples":N,"procs_max":P,"rss_kb":{"min","max","mean","last"},
 *    "pss_kb":{...}}
 * A process that is gone is skipped; if all are gone, sampling stops.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_PIDS 4096

struct stat_acc {
	long min, max, last; /* kB */
	double sum;	     /* for the mean */
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void acc_add(struct stat_acc *a, long v, long n)
{
	if (n == 0 || v < a->min)
		a->min = v;
	if (v > a->max)
		a->max = v;
	a->last = v;
	a->sum += (double)v;
}

/* Rss and Pss of one process, kB; -1 if it is gone. */
static int read_rollup(int pid, long *rss, long *pss)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", pid);
	f = fopen(path, "re");
	if (f == NULL)
		return -1;
	*rss = *pss = 0;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "Rss:", 4) == 0)
			*rss = atol(line + 4);
		else if (strncmp(line, "Pss:", 4) == 0)
			*pss = atol(line + 4);
	}
	fclose(f);
	return 0;
}

static int parent_of(int pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	int ppid = -1;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (f == NULL)
		return -1;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) != NULL)
		sscanf(p + 2, "%*c %d", &ppid);
	fclose(f);
	return ppid;
}

/* Add every descendant of the pids in set[0..n) to the set. */
static int add_descendants(int *set, int n)
{
	static int pids[MAX_PIDS], ppids[MAX_PIDS];
	int np = 0;
	DIR *d = opendir("/proc");
	struct dirent *e;
	bool grew = true;

	if (d == NULL)
		return n;
	while ((e = readdir(d)) != NULL && np < MAX_PIDS) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		pids[np] = atoi(e->d_name);
		ppids[np] = parent_of(pids[np]);
		np++;
	}
	closedir(d);
	while (grew) {
		grew = false;
		for (int i = 0; i < np; i++) {
			bool parent_in = false, in = false;

			for (int j = 0; j < n; j++) {
				parent_in |= set[j] == ppids[i];
				in |= set[j] == pids[i];
			}
			if (parent_in && !in && n < MAX_PIDS) {
				set[n++] = pids[i];
				grew = true;
			}
		}
	}
	return n;
}

int main(int argc, char **argv)
{
	static int roots[MAX_PIDS], set[MAX_PIDS];
	struct stat_acc rss = { 0 }, pss = { 0 };
	int nroots = 0, interval = 200, opt, procs_max = 0;
	bool tree = false;
	long samples = 0;

	while ((opt = getopt(argc, argv, "i:t")) != -1) {
		switch (opt) {
		case 'i': interval = atoi(optarg); break;
		case 't': tree = true; break;
		default:
			fprintf(stderr, "usage: memsample [-i INTERVAL_MS] [-t] PID...\n");
			return 2;
		}
	}
	for (int i = optind; i < argc && nroots < MAX_PIDS; i++)
		roots[nroots++] = atoi(argv[i]);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	while (!stop) {
		struct timespec ts = { interval / 1000, (long)(interval % 1000) * 1000000L };
		long r_sum = 0, p_sum = 0;
		int n = nroots, alive = 0;

		memcpy(set, roots, sizeof(int) * (size_t)nroots);
		if (tree)
			n = add_descendants(set, n);
		for (int i = 0; i < n; i++) {
			long r, p;

			if (read_rollup(set[i], &r, &p) == 0) {
				r_sum += r;
				p_sum += p;
				alive++;
			}
		}
		if (alive == 0)
			break;
		if (alive > procs_max)
			procs_max = alive;
		acc_add(&rss, r_sum, samples);
		acc_add(&pss, p_sum, samples);
		samples++;
		nanosleep(&ts, NULL);
	}
	printf("{\"samples\":%ld,\"procs_max\":%d", samples, procs_max);
	printf(",\"rss_kb\":{\"min\":%ld,\"max\":%ld,\"mean\":%.0f,\"last\":%ld}", rss.min, rss.max,
	       samples ? rss.sum / (double)samples : 0, rss.last);
	printf(",\"pss_kb\":{\"min\":%ld,\"max\":%ld,\"mean\":%.0f,\"last\":%ld}}\n", pss.min,
	       pss.max, samples ? pss.sum / (double)samples : 0, pss.last);
	return 0;
}
