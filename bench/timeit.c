/* timeit.c - run a command N times and print each run's wall time.
 *
 *   timeit [-n RUNS] [-t TIMEOUT] [-q] -- COMMAND [ARG...]
 *
 * The clock starts just before fork and stops when a pidfd says the child
 * has exited, so a shell's own fork/exec cost stays out of the numbers.
 * A run that outlives TIMEOUT seconds gets SIGTERM, then SIGKILL 5 s later,
 * in its whole process group. -q sends the command's stdout and stderr to
 * /dev/null. One JSON object on stdout:
 *   {"runs":N,"ms":[...],"exit":[...],"median_ms":M,"min_ms":m,"failed":F}
 * Exit 0 if every run exited 0, 1 otherwise, 2 on bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Wait for the child, at most ms milliseconds (-1: forever); 1 if it exited. */
static int wait_exit(int pidfd, int ms)
{
	struct pollfd p = { pidfd, POLLIN, 0 };
	int r;

	do
		r = poll(&p, 1, ms);
	while (r < 0 && errno == EINTR);
	return r > 0;
}

int main(int argc, char **argv)
{
	int runs = 1, opt, failed = 0;
	double timeout = 600;
	bool quiet = false;
	double *ms;
	int *codes;

	while ((opt = getopt(argc, argv, "+n:t:q")) != -1) {
		switch (opt) {
		case 'n': runs = atoi(optarg); break;
		case 't': timeout = atof(optarg); break;
		case 'q': quiet = true; break;
		default:
			fprintf(stderr, "usage: timeit [-n RUNS] [-t TIMEOUT] [-q] -- COMMAND...\n");
			return 2;
		}
	}
	if (optind >= argc || runs < 1) {
		fprintf(stderr, "usage: timeit [-n RUNS] [-t TIMEOUT] [-q] -- COMMAND...\n");
		return 2;
	}
	ms = calloc((size_t)runs, sizeof(*ms));
	codes = calloc((size_t)runs, sizeof(*codes));
	for (int i = 0; i < runs; i++) {
		double t0 = now_ms();
		pid_t pid = fork();
		int pidfd, status = 0;

		if (pid < 0) {
			perror("timeit: fork");
			return 2;
		}
		if (pid == 0) {
			setpgid(0, 0);
			if (quiet) {
				int null = open("/dev/null", O_WRONLY);

				dup2(null, 1);
				dup2(null, 2);
			}
			execvp(argv[optind], argv + optind);
			_exit(errno == ENOENT ? 127 : 126);
		}
		setpgid(pid, pid);
		pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		if (pidfd < 0) {
			perror("timeit: pidfd_open");
			return 2;
		}
		if (!wait_exit(pidfd, (int)(timeout * 1000))) {
			kill(-pid, SIGTERM);
			if (!wait_exit(pidfd, 5000))
				kill(-pid, SIGKILL);
			wait_exit(pidfd, -1);
			fprintf(stderr, "timeit: run %d timed out after %.0f s\n", i + 1, timeout);
		}
		ms[i] = now_ms() - t0;
		waitpid(pid, &status, 0);
		close(pidfd);
		codes[i] = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		failed += codes[i] != 0;
	}
	printf("{\"runs\":%d,\"ms\":[", runs);
	for (int i = 0; i < runs; i++)
		printf("%s%.3f", i ? "," : "", ms[i]);
	printf("],\"exit\":[");
	for (int i = 0; i < runs; i++)
		printf("%s%d", i ? "," : "", codes[i]);
	qsort(ms, (size_t)runs, sizeof(*ms), cmp_double);
	printf("],\"median_ms\":%.3f,\"min_ms\":%.3f,\"failed\":%d}\n",
	       runs % 2 ? ms[runs / 2] : (ms[runs / 2 - 1] + ms[runs / 2]) / 2, ms[0], failed);
	return failed ? 1 : 0;
}
