/* test_cgmanager.c - what the managers promise whatever the host: names
 * the daemon accepts, a clear error and nothing left when systemd cannot
 * be reached, the none manager's pool of nothing. The systemd manager
 * itself is tested for real inside the Debian 12 VM (tests/vm/). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../cgroup/cgpool.h"

static const struct cgpool_limits limits = { 64 << 20, 0.5, 100 };

static void manager_names_round_trip(void **state)
{
	enum cgpool_manager m;

	(void)state;
	for (int i = CGPOOL_NONE; i <= CGPOOL_SYSTEMD; i++) {
		assert_int_equal(cgpool_manager_parse(cgpool_manager_name(i), &m), 0);
		assert_int_equal(m, i);
	}
	assert_int_equal(cgpool_manager_parse("systemd-ish", &m), -1);
	assert_int_equal(cgpool_manager_parse("", &m), -1);
}

/* dockerd's systemd driver takes only "*.slice" parents, and a dash in a
 * slice name means nesting: the session's dashes must not nest. */
static void systemd_slice_names(void **state)
{
	struct cgpool pool;
	struct cw_error err = { 0 };

	(void)state;
	/* attach writes nothing and asks no bus: only the names are made */
	assert_int_equal(cgpool_attach(&pool, CGPOOL_SYSTEMD, "jenkins-app-42-5f3a0b1c", &limits,
				       "/nonexistent", &err),
			 0);
	assert_string_equal(cgpool_parent(&pool), "ci_wrap-jenkins_app_42_5f3a0b1c.slice");
	assert_string_equal(cgpool_path(&pool), "/ci_wrap.slice/ci_wrap-jenkins_app_42_5f3a0b1c.slice");
	assert_string_equal(cgpool_version(&pool), "systemd");
	cgpool_close(&pool);
}

/* Without systemd as init there is no bus to ask: one clear error, and the
 * fake root stays empty (nothing half made). */
static void systemd_without_a_bus(void **state)
{
	char root[] = "/tmp/test-cgmanager.XXXXXX";
	struct cgpool pool;
	struct cw_error err = { 0 };

	(void)state;
	if (access("/run/dbus/system_bus_socket", F_OK) == 0)
		skip(); /* a host with a system bus: the VM tests cover it */
	assert_non_null(mkdtemp(root));
	assert_int_equal(cgpool_open(&pool, CGPOOL_SYSTEMD, "s-00000001", &limits, root, &err),
			 -1);
	assert_non_null(strstr(err.msg, "creating the cgroup pool /ci_wrap.slice/"));
	assert_true(strstr(err.msg, "system bus") != NULL || strstr(err.msg, "libsystemd") != NULL);
	assert_int_equal(rmdir(root), 0); /* empty */
}

static void none_is_a_pool_of_nothing(void **state)
{
	struct cgpool pool;
	struct cgpool_stats st;
	struct cw_error err = { 0 };

	(void)state;
	assert_int_equal(cgpool_open(&pool, CGPOOL_NONE, "s-00000002", &limits, NULL, &err), 0);
	assert_null(cgpool_parent(&pool));
	assert_string_equal(cgpool_path(&pool), "");
	assert_int_equal(cgpool_enter(&pool, getpid(), &err), 0);
	cgpool_stats(&pool, &st);
	assert_int_equal(st.memory_peak, -1);
	assert_int_equal(cgpool_kill(&pool, &err), 0);
	assert_int_equal(cgpool_take_oom_fd(&pool), -1);
	assert_int_equal(cgpool_destroy(&pool, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(manager_names_round_trip),
		cmocka_unit_test(systemd_slice_names),
		cmocka_unit_test(systemd_without_a_bus),
		cmocka_unit_test(none_is_a_pool_of_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
