/* test_ls.c - ci-wrap ls without a host: the cgroup mounts from mountinfo
 * text, a pool's usage from fake v1 and v2 trees, and the table's numbers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../launcher/ls.h"

static const char hybrid[] =
	"25 30 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n"
	"26 25 0:23 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate\n"
	"28 25 0:25 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
	"29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
	"30 25 0:27 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n"
	"31 25 0:28 / /sys/fs/cgroup/net_cls,net_prio rw - cgroup cgroup rw,net_cls,net_prio\n";

static void mounts_v1(void **state)
{
	struct ls_cgroup_mounts m;

	(void)state;
	ls_parse_mounts(hybrid, &m);
	assert_string_equal(m.memory, "/sys/fs/cgroup/memory");
	assert_string_equal(m.cpuacct, "/sys/fs/cgroup/cpu,cpuacct");
	assert_string_equal(m.pids, "/sys/fs/cgroup/pids");
	assert_string_equal(m.unified, "/sys/fs/cgroup/unified");
}

static void mounts_v2(void **state)
{
	struct ls_cgroup_mounts m;

	(void)state;
	ls_parse_mounts("35 24 0:30 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,memory_recursiveprot\n",
			&m);
	assert_string_equal(m.memory, "");
	assert_string_equal(m.unified, "/sys/fs/cgroup");
	ls_parse_mounts(NULL, &m);
	assert_string_equal(m.unified, "");
}

static void put(const char *dir, const char *file, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void make_dirs(const char *path)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(buf, 0755);
			*p = '/';
		}
	mkdir(buf, 0755);
}

static void pool_v2(void **state)
{
	char root[] = "/tmp/test_ls.XXXXXX", dir[512];
	struct ls_cgroup_mounts m = { 0 };
	struct ls_pool_usage u;

	(void)state;
	assert_non_null(mkdtemp(root));
	snprintf(dir, sizeof(dir), "%s/ci-wrap/s1", root);
	make_dirs(dir);
	put(dir, "memory.current", "1048576\n");
	put(dir, "memory.peak", "2097152\n");
	put(dir, "memory.max", "max\n");
	put(dir, "cpu.stat", "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n");
	put(dir, "pids.current", "7\n");
	snprintf(m.unified, sizeof(m.unified), "%s", root);
	ls_read_pool(&m, "/ci-wrap/s1", &u);
	assert_int_equal(u.memory, 1048576);
	assert_int_equal(u.memory_peak, 2097152);
	assert_int_equal(u.memory_limit, -1);
	assert_true(u.cpu_s > 2.49 && u.cpu_s < 2.51);
	assert_int_equal(u.pids, 7);
	ls_read_pool(&m, "/ci-wrap/gone", &u);
	assert_int_equal(u.memory, -1);
	assert_true(u.cpu_s < 0);
	ls_read_pool(&m, "", &u);
	assert_int_equal(u.pids, -1);
	snprintf(dir, sizeof(dir), "rm -rf %s", root);
	assert_int_equal(system(dir), 0);
}

static void pool_v1(void **state)
{
	char root[] = "/tmp/test_ls.XXXXXX", dir[512];
	struct ls_cgroup_mounts m = { 0 };
	struct ls_pool_usage u;

	(void)state;
	assert_non_null(mkdtemp(root));
	snprintf(m.memory, sizeof(m.memory), "%s/memory", root);
	snprintf(m.cpuacct, sizeof(m.cpuacct), "%s/cpuacct", root);
	snprintf(m.pids, sizeof(m.pids), "%s/pids", root);
	snprintf(dir, sizeof(dir), "%s/ci-wrap/s1", m.memory);
	make_dirs(dir);
	put(dir, "memory.usage_in_bytes", "4096\n");
	put(dir, "memory.max_usage_in_bytes", "8192\n");
	put(dir, "memory.limit_in_bytes", "67108864\n");
	snprintf(dir, sizeof(dir), "%s/ci-wrap/s1", m.cpuacct);
	make_dirs(dir);
	put(dir, "cpuacct.usage", "1500000000\n");
	snprintf(dir, sizeof(dir), "%s/ci-wrap/s1", m.pids);
	make_dirs(dir);
	put(dir, "pids.current", "3\n");
	ls_read_pool(&m, "/ci-wrap/s1", &u);
	assert_int_equal(u.memory, 4096);
	assert_int_equal(u.memory_peak, 8192);
	assert_int_equal(u.memory_limit, 67108864);
	assert_true(u.cpu_s > 1.49 && u.cpu_s < 1.51);
	assert_int_equal(u.pids, 3);
	/* v1's "no limit" is the largest page-aligned long. */
	snprintf(dir, sizeof(dir), "%s/ci-wrap/s1", m.memory);
	put(dir, "memory.limit_in_bytes", "9223372036854771712\n");
	ls_read_pool(&m, "/ci-wrap/s1", &u);
	assert_int_equal(u.memory_limit, -1);
	snprintf(dir, sizeof(dir), "rm -rf %s", root);
	assert_int_equal(system(dir), 0);
}

static void formats(void **state)
{
	char b[32];

	(void)state;
	assert_string_equal(ls_format_bytes(-1, b, sizeof(b)), "-");
	assert_string_equal(ls_format_bytes(512, b, sizeof(b)), "512B");
	assert_string_equal(ls_format_bytes(4096, b, sizeof(b)), "4K");
	assert_string_equal(ls_format_bytes(1536 * 1024, b, sizeof(b)), "1.5M");
	assert_string_equal(ls_format_bytes(812LL << 20, b, sizeof(b)), "812M");
	assert_string_equal(ls_format_bytes(4LL << 30, b, sizeof(b)), "4G");
	assert_string_equal(ls_format_age(-1, b, sizeof(b)), "-");
	assert_string_equal(ls_format_age(45, b, sizeof(b)), "45s");
	assert_string_equal(ls_format_age(725, b, sizeof(b)), "12m05s");
	assert_string_equal(ls_format_age(3 * 3600 + 300, b, sizeof(b)), "3h05m");
	assert_string_equal(ls_format_age(2 * 86400 + 3 * 3600, b, sizeof(b)), "2d03h");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mounts_v1), cmocka_unit_test(mounts_v2), cmocka_unit_test(pool_v2),
		cmocka_unit_test(pool_v1),   cmocka_unit_test(formats),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
