/* test_cgv2.c - the cgroup v2 backend against a fake unified hierarchy in a
 * temporary directory: cgpool_open(..., root) with root the fake.
 *
 * The fake plays the kernel where the backend relies on it:
 * - mkdir below the fake root (this file's mkdir() takes the place of
 *   libc's for the backend too) makes the interface files cgroupfs would,
 *   for the controllers the parent's cgroup.subtree_control enables; so a
 *   file the backend writes that the kernel would not have is a stray file,
 *   and every test that opens a pool checks there is none;
 * - a "kernel" process forks the victim of a kill, lists it in cgroup.procs
 *   and cgroup.events, and clears them when it dies (and kills it itself on
 *   a write of "1" to cgroup.kill, if the fake has one).
 * Files hold what the backend wrote last, so tests read back its writes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../cgroup/cgpool.h"

#define SESSION "test-5f3a09c1"
#define DEFAULT_CONTROLLERS "cpuset cpu io memory hugetlb pids rdma misc\n"

static char root[256]; /* the fake /sys/fs/cgroup, "" outside a test */

/* An interface file and what the kernel puts in it at mkdir. */
struct kfile {
	const char *name; /* file name */
	const char *init; /* initial content */
};

static const struct kfile core_files[] = {
	{ "cgroup.controllers", NULL }, /* the parent's subtree_control */
	{ "cgroup.subtree_control", "" },
	{ "cgroup.procs", "" },
	{ "cgroup.threads", "" },
	{ "cgroup.type", "domain\n" },
	{ "cgroup.events", "populated 0\nfrozen 0\n" },
	{ "cgroup.freeze", "0\n" },
	{ "cgroup.kill", "" },
	{ "cgroup.stat", "nr_descendants 0\nnr_dying_descendants 0\n" },
	{ "cpu.stat", "usage_usec 0\nuser_usec 0\nsystem_usec 0\n" },
};
static const struct kfile cpu_files[] = {
	{ "cpu.max", "max 100000\n" },
	{ "cpu.max.burst", "0\n" },
	{ "cpu.weight", "100\n" },
};
static const struct kfile memory_files[] = {
	{ "memory.current", "0\n" },
	{ "memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n" },
	{ "memory.high", "max\n" },
	{ "memory.max", "max\n" },
	{ "memory.peak", "0\n" },
	{ "memory.stat", "anon 0\nfile 0\n" },
	{ "memory.swap.max", "max\n" },
};
static const struct kfile pids_files[] = {
	{ "pids.current", "0\n" },
	{ "pids.events", "max 0\n" },
	{ "pids.max", "max\n" },
};

/* A controller and its files. */
static const struct kctrl {
	const char *name;	   /* as in cgroup.controllers */
	const struct kfile *files; /* its interface files */
	size_t n;		   /* how many */
} ctrls[] = {
	{ "cpu", cpu_files, sizeof(cpu_files) / sizeof(cpu_files[0]) },
	{ "memory", memory_files, sizeof(memory_files) / sizeof(memory_files[0]) },
	{ "pids", pids_files, sizeof(pids_files) / sizeof(pids_files[0]) },
};

/* ---- file helpers ---- */

static void put(const char *dir, const char *file, const char *content)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "w");
	if (f == NULL)
		fail_msg("creating %s: %s", path, strerror(errno));
	fputs(content, f);
	fclose(f);
}

/* Replace a file in one step, for a reader in another process. */
static void put_atomic(const char *dir, const char *file, const char *content)
{
	char tmp[PATH_MAX], path[PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, file);
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	put(dir, strrchr(tmp, '/') + 1, content);
	rename(tmp, path);
}

/* Content of dir/file, "<absent>" if there is none; static buffer. */
static const char *get(const char *dir, const char *file)
{
	static char buf[4096];
	char path[PATH_MAX];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return "<absent>";
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static bool exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* root/rel, in one of a few rotating static buffers. */
static const char *at(const char *rel)
{
	static char bufs[4][PATH_MAX];
	static int i;

	i = (i + 1) % 4;
	snprintf(bufs[i], sizeof(bufs[i]), "%s%s%s", root, rel[0] ? "/" : "", rel);
	return bufs[i];
}

#define POOL "ci-wrap/" SESSION
#define LEAF POOL "/job"

/* ---- the fake kernel: mkdir ---- */

/* Tokens of a subtree_control the backend wrote ("+cpu +memory"), as
 * cgroup.controllers lists them ("cpu memory"). */
static void enabled_in(const char *parent, char *out, size_t size)
{
	char buf[4096], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", get(parent, "cgroup.subtree_control"));
	out[0] = '\0';
	for (char *t = strtok_r(buf, " \n", &save); t; t = strtok_r(NULL, " \n", &save))
		if (t[0] == '+')
			snprintf(out + strlen(out), size - strlen(out), "%s%s",
				 out[0] ? " " : "", t + 1);
}

static bool listed(const char *list, const char *word)
{
	char buf[4096], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", list);
	for (char *t = strtok_r(buf, " \n", &save); t; t = strtok_r(NULL, " \n", &save))
		if (strcmp(t, word) == 0)
			return true;
	return false;
}

static void populate(const char *dir)
{
	char parent[PATH_MAX], have[256];

	snprintf(parent, sizeof(parent), "%s", dir);
	*strrchr(parent, '/') = '\0';
	enabled_in(parent, have, sizeof(have));
	for (size_t i = 0; i < sizeof(core_files) / sizeof(core_files[0]); i++)
		put(dir, core_files[i].name, core_files[i].init ? core_files[i].init : have);
	for (size_t c = 0; c < sizeof(ctrls) / sizeof(ctrls[0]); c++)
		for (size_t i = 0; listed(have, ctrls[c].name) && i < ctrls[c].n; i++)
			put(dir, ctrls[c].files[i].name, ctrls[c].files[i].init);
}

/* Tests make container cgroups through this, not mkdir(): libc declares
 * mkdir a leaf function, which may not touch this file's statics. */
static int fake_mkdir(const char *path, mode_t mode)
{
	size_t n = strlen(root);

	if (syscall(SYS_mkdirat, AT_FDCWD, path, mode) < 0)
		return -1;
	if (n && strncmp(path, root, n) == 0 && path[n] == '/')
		populate(path);
	return 0;
}

int mkdir(const char *path, mode_t mode)
{
	return fake_mkdir(path, mode);
}

/* Would the kernel have made dir/name, given dir's controllers? */
static bool kernel_file(const char *dir, const char *name)
{
	char have[4096];

	snprintf(have, sizeof(have), "%s", get(dir, "cgroup.controllers"));
	for (size_t i = 0; i < sizeof(core_files) / sizeof(core_files[0]); i++)
		if (strcmp(core_files[i].name, name) == 0)
			return true;
	for (size_t c = 0; c < sizeof(ctrls) / sizeof(ctrls[0]); c++)
		for (size_t i = 0; listed(have, ctrls[c].name) && i < ctrls[c].n; i++)
			if (strcmp(ctrls[c].files[i].name, name) == 0)
				return true;
	return false;
}

/* Fail on a file below dir (a cgroup the fake made) that the backend
 * created by writing to it: on cgroupfs that write would have failed. */
static void assert_no_stray_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		char sub[PATH_MAX];

		if (e->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
		if (e->d_type == DT_DIR)
			assert_no_stray_files(sub);
		else if (!kernel_file(dir, e->d_name))
			fail_msg("%s: written, but no such file on cgroupfs", sub);
	}
	closedir(d);
}

/* ---- fixtures ---- */

static void make_root(const char *controllers)
{
	put(root, "cgroup.controllers", controllers);
	put(root, "cgroup.subtree_control", "");
	put(root, "cgroup.procs", "1\n");
	put(root, "cgroup.stat", "nr_descendants 0\n");
	put(root, "cpu.stat", "usage_usec 0\n");
}

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/ci-wrap-cgv2.XXXXXX");
	if (mkdtemp(root) == NULL || chmod(root, 0755) < 0)
		return -1;
	make_root(DEFAULT_CONTROLLERS);
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	(void)state;
	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	root[0] = '\0';
	return 0;
}

static const struct cgpool_limits no_limits = { 0, 0, 0 };

static void open_ok(struct cgpool *pool, const struct cgpool_limits *limits)
{
	struct cw_error err = { 0 };

	if (cgpool_open(pool, CGPOOL_CGROUPFS, SESSION, limits, root, &err) < 0)
		fail_msg("cgpool_open: %s", err.msg);
	assert_string_equal(cgpool_version(pool), "v2");
	assert_no_stray_files(at("ci-wrap"));
}

static void destroy_ok(struct cgpool *pool)
{
	struct cw_error err = { 0 };

	if (cgpool_destroy(pool, &err) < 0)
		fail_msg("cgpool_destroy: %s", err.msg);
}

/* cgpool_open must fail with a message containing want, and leave no pool. */
static void open_fails(const struct cgpool_limits *limits, const char *want, int code)
{
	struct cgpool pool;
	struct cw_error err = { 0 };

	assert_int_equal(cgpool_open(&pool, CGPOOL_CGROUPFS, SESSION, limits, root, &err), -1);
	if (strstr(err.msg, want) == NULL)
		fail_msg("error '%s' does not say '%s'", err.msg, want);
	assert_int_equal(err.code, code);
	assert_false(exists(at(POOL)));
}

/* ---- creation ---- */

/* The command lives in the leaf, so the pool itself may enable controllers
 * for its children (the leaf and docker's container cgroups). */
static void open_enables_controllers_down_to_the_pool(void **state)
{
	struct cgpool pool;

	(void)state;
	open_ok(&pool, &no_limits);
	assert_string_equal(cgpool_parent(&pool), "/ci-wrap/" SESSION);
	assert_string_equal(get(root, "cgroup.subtree_control"), "+cpu +memory +pids");
	assert_string_equal(get(at("ci-wrap"), "cgroup.subtree_control"), "+cpu +memory +pids");
	assert_string_equal(get(at(POOL), "cgroup.subtree_control"), "+cpu +memory +pids");
	assert_string_equal(get(at(LEAF), "cgroup.subtree_control"), "");
	assert_string_equal(get(at(LEAF), "cgroup.controllers"), "cpu memory pids");
	/* no limits asked, none written */
	assert_string_equal(get(at(POOL), "memory.max"), "max\n");
	assert_string_equal(get(at(POOL), "cpu.max"), "max 100000\n");
	assert_string_equal(get(at(POOL), "pids.max"), "max\n");
	destroy_ok(&pool);
}

static void open_writes_limits_on_the_pool(void **state)
{
	struct cgpool pool;
	struct cgpool_limits lim = { 512LL << 20, 0.5, 100 };

	(void)state;
	open_ok(&pool, &lim);
	assert_string_equal(get(at(POOL), "memory.max"), "536870912");
	assert_string_equal(get(at(POOL), "memory.swap.max"), "0");
	assert_string_equal(get(at(POOL), "cpu.max"), "50000 100000");
	assert_string_equal(get(at(POOL), "pids.max"), "100");
	/* the budget is the pool's, not split over the leaf or the parent */
	assert_string_equal(get(at(LEAF), "memory.max"), "max\n");
	assert_string_equal(get(at("ci-wrap"), "memory.max"), "max\n");
	destroy_ok(&pool);
}

/* memory.swap.max is absent when swap is not accounted: not created. */
static void open_without_swap_accounting(void **state)
{
	struct cgpool pool;
	struct cgpool_limits lim = { 64LL << 20, 0, 0 };

	(void)state;
	put(root, "cgroup.subtree_control", "+cpu +memory +pids");
	assert_int_equal(fake_mkdir(at("ci-wrap"), 0755), 0);
	put(at("ci-wrap"), "cgroup.subtree_control", "+cpu +memory +pids");
	assert_int_equal(fake_mkdir(at(POOL), 0755), 0);
	unlink(at(POOL "/memory.swap.max"));
	open_ok(&pool, &lim);
	assert_string_equal(get(at(POOL), "memory.max"), "67108864");
	assert_false(exists(at(POOL "/memory.swap.max")));
	destroy_ok(&pool);
}

/* cpu.max as docker run --cpus writes it: quota over a 100 ms period. */
static void cpus_like_docker(void **state)
{
	static const struct {
		double cpus;	  /* --cpus */
		const char *want; /* cpu.max */
	} cases[] = {
		{ 0.5, "50000 100000" },   { 1.5, "150000 100000" }, { 2, "200000 100000" },
		{ 0.01, "1000 100000" },   { 0.29, "29000 100000" }, { 0.333, "33300 100000" },
		{ 4096, "409600000 100000" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cgpool pool;
		struct cgpool_limits lim = { 0, cases[i].cpus, 0 };

		open_ok(&pool, &lim);
		if (strcmp(get(at(POOL), "cpu.max"), cases[i].want) != 0)
			fail_msg("--cpus %g: cpu.max '%s', want '%s'", cases[i].cpus,
				 get(at(POOL), "cpu.max"), cases[i].want);
		destroy_ok(&pool);
	}
}

/* "cpu" is not "cpuset": without the cpu controller, no +cpu anywhere. */
static void controllers_matched_as_whole_words(void **state)
{
	struct cgpool pool;
	struct cgpool_limits lim = { 0, 1, 0 };

	(void)state;
	make_root("cpuset io memory hugetlb pids rdma misc cpu_fake\n");
	open_ok(&pool, &no_limits);
	assert_string_equal(get(root, "cgroup.subtree_control"), "+memory +pids");
	assert_string_equal(get(at(POOL), "cgroup.subtree_control"), "+memory +pids");
	assert_false(exists(at(POOL "/cpu.max")));
	destroy_ok(&pool);

	open_fails(&lim, "--cpus needs the cpu controller", 0);
}

/* Controllers ci-wrap does not know are neither enabled nor an error. */
static void unknown_controllers_ignored(void **state)
{
	struct cgpool pool;

	(void)state;
	make_root("cpuset cpu io memory hugetlb pids rdma misc dmem frobnicate\n");
	open_ok(&pool, &no_limits);
	assert_string_equal(get(root, "cgroup.subtree_control"), "+cpu +memory +pids");
	destroy_ok(&pool);
}

static void missing_controllers_refused(void **state)
{
	struct cgpool pool;
	struct cgpool_limits pids = { 0, 0, 10 };

	(void)state;
	make_root("cpu pids memory_fake\n");
	open_fails(&no_limits, "the pool needs the memory controller", 0);
	assert_string_equal(get(root, "cgroup.subtree_control"), "");

	make_root("cpu memory\n");
	open_fails(&pids, "--pids needs the pids controller", 0);
	open_ok(&pool, &no_limits);
	assert_string_equal(get(at(POOL), "cgroup.subtree_control"), "+cpu +memory");
	destroy_ok(&pool);
}

/* A directory that is no cgroup v2 mount at all. */
static void not_a_cgroup_root(void **state)
{
	(void)state;
	unlink(at("cgroup.controllers"));
	open_fails(&no_limits, "cgroup.controllers: No such file or directory", ENOENT);
}

/* What an unprivileged user gets from a real /sys/fs/cgroup. Run in a
 * child that drops root, since root writes read-only files. */
static void no_permission(void **state)
{
	pid_t pid;
	int status;

	(void)state;
	chmod(at("cgroup.subtree_control"), 0444);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct cgpool pool;
		struct cw_error err = { 0 };

		if (geteuid() == 0 && setresuid(65534, 65534, 65534) < 0)
			_exit(3);
		if (cgpool_open(&pool, CGPOOL_CGROUPFS, SESSION, &no_limits, root, &err) != -1)
			_exit(1);
		fprintf(stderr, "  error: %s\n", err.msg);
		_exit(err.code == EACCES && strstr(err.msg, "cgroup.subtree_control: Permission denied")
			      ? 0 : 2);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_false(exists(at("ci-wrap")));
}

/* ---- processes ---- */

static void enter_and_leave(void **state)
{
	struct cgpool pool;
	struct cw_error err = { 0 };

	(void)state;
	open_ok(&pool, &no_limits);
	assert_int_equal(cgpool_enter(&pool, 4242, &err), 0);
	assert_string_equal(get(at(LEAF), "cgroup.procs"), "4242");
	assert_string_equal(get(at(POOL), "cgroup.procs"), ""); /* no internal process */
	assert_int_equal(cgpool_leave(&pool, 4242, &err), 0);
	assert_string_equal(get(root, "cgroup.procs"), "4242");
	destroy_ok(&pool);
}

/* The session process takes the pool over: nothing rewritten. */
static void attach_writes_nothing(void **state)
{
	struct cgpool pool, again;
	struct cgpool_limits lim = { 64LL << 20, 1, 0 };
	struct cw_error err = { 0 };

	(void)state;
	open_ok(&pool, &lim);
	cgpool_close(&pool);
	put(at(POOL), "cgroup.subtree_control", "untouched");
	put(root, "cgroup.subtree_control", "untouched");
	assert_int_equal(cgpool_attach(&again, CGPOOL_CGROUPFS, SESSION, &no_limits, root, &err), 0);
	assert_string_equal(get(at(POOL), "memory.max"), "67108864");
	assert_string_equal(get(at(POOL), "cgroup.subtree_control"), "untouched");
	assert_string_equal(get(root, "cgroup.subtree_control"), "untouched");
	assert_int_equal(cgpool_enter(&again, 77, &err), 0);
	assert_string_equal(get(at(LEAF), "cgroup.procs"), "77");
	destroy_ok(&again);
}

/* reap attaches to pools that may be gone already. */
static void attach_to_a_gone_pool(void **state)
{
	struct cgpool pool;
	struct cw_error err = { 0 };

	(void)state;
	assert_int_equal(cgpool_attach(&pool, CGPOOL_CGROUPFS, SESSION, &no_limits, root, &err), 0);
	assert_int_equal(cgpool_kill(&pool, &err), 0);
	destroy_ok(&pool);
}

static void stats_read_the_pool(void **state)
{
	struct cgpool pool;
	struct cgpool_stats s;

	(void)state;
	open_ok(&pool, &no_limits);
	put(at(POOL), "memory.peak", "123456789\n");
	put(at(POOL), "cpu.stat", "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n"
				  "core_sched.force_idle_usec 0\nnr_periods 3\n");
	put(at(POOL), "memory.events",
	    "low 0\nhigh 0\nmax 9\noom 3\noom_kill 2\noom_group_kill 7\n");
	put(at(LEAF), "memory.peak", "1\n"); /* the leaf is only the command */
	cgpool_stats(&pool, &s);
	assert_int_equal(s.memory_peak, 123456789);
	assert_true(s.cpu_s > 2.4999 && s.cpu_s < 2.5001);
	assert_int_equal(s.oom_kills, 2);
	destroy_ok(&pool);
}

/* memory.peak is Linux 5.19+: unknown before, the rest still read. */
static void stats_without_memory_peak(void **state)
{
	struct cgpool pool;
	struct cgpool_stats s;

	(void)state;
	open_ok(&pool, &no_limits);
	unlink(at(POOL "/memory.peak"));
	put(at(POOL), "cpu.stat", "usage_usec 1000\n");
	cgpool_stats(&pool, &s);
	assert_int_equal(s.memory_peak, -1);
	assert_true(s.cpu_s > 0.00099 && s.cpu_s < 0.00101);
	assert_int_equal(s.oom_kills, 0);
	destroy_ok(&pool);
}

/* ---- killing, with a fake kernel process ---- */

static bool holds(const char *dir, const char *file, const char *want)
{
	const char *v = get(dir, file);

	return strncmp(v, want, strlen(want)) == 0;
}

/* Exit statuses of the fake kernel. */
enum { K_OK, K_NOT_SIGKILL, K_KILLED_BEHIND_CGROUP_KILL };

/* Until the victim dies; with play_kill, kill it on "1" in cgroup.kill and
 * tell whether something else killed it first. Then clear the listing
 * before reaping, so that its pid cannot be reused while still listed. */
static void fake_kernel_wait(pid_t victim, bool play_kill)
{
	siginfo_t si = { 0 };
	int status, rc = K_OK;

	while (play_kill) {
		si.si_pid = 0;
		waitid(P_PID, victim, &si, WEXITED | WNOWAIT | WNOHANG);
		if (si.si_pid == victim) {
			rc = K_KILLED_BEHIND_CGROUP_KILL;
			break;
		}
		if (holds(at(POOL), "cgroup.kill", "1")) {
			kill(victim, SIGKILL);
			break;
		}
		usleep(1000);
	}
	waitid(P_PID, victim, &si, WEXITED | WNOWAIT);
	put_atomic(at(LEAF), "cgroup.procs", "");
	put_atomic(at(LEAF), "cgroup.events", "populated 0\nfrozen 0\n");
	put_atomic(at(POOL), "cgroup.events", "populated 0\nfrozen 0\n");
	waitpid(victim, &status, 0);
	if (rc == K_OK && !(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
		rc = K_NOT_SIGKILL;
	_exit(rc);
}

/* Fork the fake kernel, which forks the victim (only SIGKILL ends it) into
 * the leaf; returns once both are listed. */
static pid_t start_fake_kernel(bool play_kill, pid_t *victim)
{
	int fds[2];
	pid_t k;

	assert_int_equal(pipe(fds), 0);
	k = fork();
	assert_true(k >= 0);
	if (k == 0) {
		pid_t v = fork();
		char line[32];

		if (v == 0) {
			alarm(30); /* if the test fails, do not linger */
			signal(SIGTERM, SIG_IGN);
			for (;;)
				pause();
		}
		alarm(10);
		snprintf(line, sizeof(line), "%d\n", (int)v);
		put_atomic(at(LEAF), "cgroup.procs", line);
		put_atomic(at(LEAF), "cgroup.events", "populated 1\nfrozen 0\n");
		put_atomic(at(POOL), "cgroup.events", "populated 1\nfrozen 0\n");
		if (write(fds[1], &v, sizeof(v)) != sizeof(v))
			_exit(9);
		fake_kernel_wait(v, play_kill);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], victim, sizeof(*victim)), sizeof(*victim));
	close(fds[0]);
	return k;
}

static int fake_kernel_status(pid_t k)
{
	int status;

	assert_int_equal(waitpid(k, &status, 0), k);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* Linux 5.14+: one write of "1" to cgroup.kill, no signal per pid. */
static void kill_through_cgroup_kill(void **state)
{
	struct cgpool pool;
	struct cw_error err = { 0 };
	pid_t victim, k;
	int rc;

	(void)state;
	open_ok(&pool, &no_limits);
	k = start_fake_kernel(true, &victim);
	rc = cgpool_kill(&pool, &err);
	if (rc < 0)
		fail_msg("cgpool_kill: %s", err.msg);
	assert_int_equal(rc, 1);
	assert_string_equal(get(at(POOL), "cgroup.kill"), "1");
	assert_int_equal(fake_kernel_status(k), K_OK);
	destroy_ok(&pool);
	assert_false(exists(at(POOL)));
}

/* Before Linux 5.14 there is no cgroup.kill: each listed pid gets SIGKILL,
 * inside a freeze that is undone afterwards. */
static void kill_each_pid_without_cgroup_kill(void **state)
{
	struct cgpool pool;
	struct cw_error err = { 0 };
	pid_t victim, k;
	int rc;

	(void)state;
	open_ok(&pool, &no_limits);
	unlink(at(POOL "/cgroup.kill"));
	unlink(at(LEAF "/cgroup.kill"));
	k = start_fake_kernel(false, &victim);
	rc = cgpool_kill(&pool, &err);
	if (rc < 0)
		fail_msg("cgpool_kill: %s", err.msg);
	assert_int_equal(rc, 1);
	assert_int_equal(fake_kernel_status(k), K_OK);
	assert_false(exists(at(POOL "/cgroup.kill")));
	assert_string_equal(get(at(POOL), "cgroup.freeze"), "0");
	destroy_ok(&pool);
}

static void kill_an_empty_pool(void **state)
{
	struct cgpool pool;
	struct cw_error err = { 0 };

	(void)state;
	open_ok(&pool, &no_limits);
	assert_int_equal(cgpool_kill(&pool, &err), 0);
	assert_string_equal(get(at(POOL), "cgroup.kill"), ""); /* nothing to kill */
	destroy_ok(&pool);
}

/* A pool that stays populated (here: nobody updates cgroup.events) is an
 * error after CGPOOL_KILL_WAIT_MS, not a hang. */
static void kill_reports_survivors(void **state)
{
	struct cgpool pool;
	struct cw_error err = { 0 };

	(void)state;
	open_ok(&pool, &no_limits);
	put(at(POOL), "cgroup.events", "populated 1\nfrozen 0\n");
	assert_int_equal(cgpool_kill(&pool, &err), -1);
	if (strstr(err.msg, "processes survived in") == NULL)
		fail_msg("error '%s'", err.msg);
	destroy_ok(&pool);
}

/* ---- removal ---- */

/* The pool goes with the leaf and docker's container cgroups below it; the
 * shared ci-wrap/ and other sessions' pools stay. */
static void destroy_removes_leaf_and_pool(void **state)
{
	struct cgpool pool, other;
	struct cw_error err = { 0 };

	(void)state;
	assert_int_equal(cgpool_open(&other, CGPOOL_CGROUPFS, "other-00000000", &no_limits, root, &err), 0);
	open_ok(&pool, &no_limits);
	assert_int_equal(fake_mkdir(at(POOL "/0123456789ab"), 0755), 0);
	assert_true(exists(at(POOL "/0123456789ab/memory.max")));
	destroy_ok(&pool);
	assert_false(exists(at(POOL)));
	assert_true(exists(at("ci-wrap/other-00000000/job")));
	assert_true(exists(at("ci-wrap/cgroup.procs")));
	assert_true(exists(at("cgroup.controllers")));
	destroy_ok(&pool); /* again: nothing left to do */
	destroy_ok(&other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(open_enables_controllers_down_to_the_pool, setup,
						teardown),
		cmocka_unit_test_setup_teardown(open_writes_limits_on_the_pool, setup, teardown),
		cmocka_unit_test_setup_teardown(open_without_swap_accounting, setup, teardown),
		cmocka_unit_test_setup_teardown(cpus_like_docker, setup, teardown),
		cmocka_unit_test_setup_teardown(controllers_matched_as_whole_words, setup,
						teardown),
		cmocka_unit_test_setup_teardown(unknown_controllers_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(missing_controllers_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(not_a_cgroup_root, setup, teardown),
		cmocka_unit_test_setup_teardown(no_permission, setup, teardown),
		cmocka_unit_test_setup_teardown(enter_and_leave, setup, teardown),
		cmocka_unit_test_setup_teardown(attach_writes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(attach_to_a_gone_pool, setup, teardown),
		cmocka_unit_test_setup_teardown(stats_read_the_pool, setup, teardown),
		cmocka_unit_test_setup_teardown(stats_without_memory_peak, setup, teardown),
		cmocka_unit_test_setup_teardown(kill_through_cgroup_kill, setup, teardown),
		cmocka_unit_test_setup_teardown(kill_each_pid_without_cgroup_kill, setup,
						teardown),
		cmocka_unit_test_setup_teardown(kill_an_empty_pool, setup, teardown),
		cmocka_unit_test_setup_teardown(kill_reports_survivors, setup, teardown),
		cmocka_unit_test_setup_teardown(destroy_removes_leaf_and_pool, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
