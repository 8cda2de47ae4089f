/* timeit.c - run a command N times and print each run's wall time.
 *
 *   timeit [-n RUNS] [-t TIMEOUT] [-q] -- COMMAND [ARG...] [::: REF [ARG...]]
 *
 * With a reference command after ":::", each of the RUNS runs both, in an
 * order that alternates (A B, B A, A B, ...), so drift of the machine hits
 * both alike; the reference's times are reported under "ref".
 * The clock starts just before fork and stops when a pidfd says the child
 * has exited, so a shell's own fork/exec cost stays out of the numbers.
 * A run that outlives TIMEOUT seconds gets SIGTERM, then SIGKILL 5 s later,
 * in its whole process group. -q sends the command's stdout and stderr to
 * /dev/null. One JSON object on stdout:
 *   {"runs":N,"ms":[...],"exit":[...],"median_ms":M,"min_ms":m,"failed":F}
 * Exit 0 if every run (of both) exited 0, 1 otherwise, 2 on bad usage.
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

/* Run argv once; its wall time in ms, its exit code in *code. */
static double run_once(char **argv, double timeout, bool quiet, int *code)
{
	double t0 = now_ms(), ms;
	pid_t pid = fork();
	int pidfd, status = 0;

	if (pid < 0) {
		perror("timeit: fork");
		exit(2);
	}
	if (pid == 0) {
		setpgid(0, 0);
		if (quiet) {
			int null = open("/dev/null", O_WRONLY);

			dup2(null, 1);
			dup2(null, 2);
		}
		execvp(argv[0], argv);
		_exit(errno == ENOENT ? 127 : 126);
	}
	setpgid(pid, pid);
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0) {
		perror("timeit: pidfd_open");
		exit(2);
	}
	if (!wait_exit(pidfd, (int)(timeout * 1000))) {
		kill(-pid, SIGTERM);
		if (!wait_exit(pidfd, 5000))
			kill(-pid, SIGKILL);
		wait_exit(pidfd, -1);
		fprintf(stderr, "timeit: %s timed out after %.0f s\n", argv[0], timeout);
	}
	ms = now_ms() - t0;
	waitpid(pid, &status, 0);
	close(pidfd);
	*code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	return ms;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void print_series(const double *ms, const int *codes, int runs)
{
	printf("\"ms\":[");
	for (int i = 0; i < runs; i++)
		printf("%s%.3f", i ? "," : "", ms[i]);
	printf("],\"exit\":[");
	for (int i = 0; i < runs; i++)
		printf("%s%d", i ? "," : "", codes[i]);
	printf("]");
}

int main(int argc, char **argv)
{
	int runs = 1, opt, failed = 0, ref_failed = 0;
	double timeout = 600;
	bool quiet = false;
	char **cmd, **ref = NULL;
	double *ms, *ref_ms, *sorted;
	int *codes, *ref_codes;

	while ((opt = getopt(argc, argv, "+n:t:q")) != -1) {
		switch (opt) {
		case 'n': runs = atoi(optarg); break;
		case 't': timeout = atof(optarg); break;
		case 'q': quiet = true; break;
		default:
			fprintf(stderr, "usage: timeit [-n RUNS] [-t TIMEOUT] [-q] -- COMMAND... [::: REF...]\n");
			return 2;
		}
	}
	if (optind >= argc || runs < 1) {
		fprintf(stderr, "usage: timeit [-n RUNS] [-t TIMEOUT] [-q] -- COMMAND... [::: REF...]\n");
		return 2;
	}
	cmd = argv + optind;
	for (int i = optind; i < argc; i++) {
		if (strcmp(argv[i], ":::") == 0) {
			argv[i] = NULL;
			ref = argv + i + 1;
			break;
		}
	}
	if (cmd[0] == NULL || (ref && ref[0] == NULL)) {
		fprintf(stderr, "timeit: empty command\n");
		return 2;
	}
	ms = calloc((size_t)runs, sizeof(*ms));
	ref_ms = calloc((size_t)runs, sizeof(*ref_ms));
	sorted = calloc((size_t)runs, sizeof(*sorted));
	codes = calloc((size_t)runs, sizeof(*codes));
	ref_codes = calloc((size_t)runs, sizeof(*ref_codes));
	for (int i = 0; i < runs; i++) {
		if (ref && i % 2)
			ref_ms[i] = run_once(ref, timeout, quiet, &ref_codes[i]);
		ms[i] = run_once(cmd, timeout, quiet, &codes[i]);
		if (ref && !(i % 2))
			ref_ms[i] = run_once(ref, timeout, quiet, &ref_codes[i]);
		failed += codes[i] != 0;
		ref_failed += ref && ref_codes[i] != 0;
	}
	printf("{\"runs\":%d,", runs);
	print_series(ms, codes, runs);
	memcpy(sorted, ms, sizeof(*ms) * (size_t)runs);
	printf(",\"median_ms\":%.3f", median(sorted, runs));
	printf(",\"min_ms\":%.3f,\"failed\":%d", sorted[0], failed);
	if (ref) {
		double m = median(memcpy(sorted, ref_ms, sizeof(*ms) * (size_t)runs), runs);

		printf(",\"ref\":{");
		print_series(ref_ms, ref_codes, runs);
		printf(",\"median_ms\":%.3f,\"min_ms\":%.3f,\"failed\":%d}", m, sorted[0],
		       ref_failed);
	}
	printf("}\n");
	return failed || ref_failed ? 1 : 0;
}
