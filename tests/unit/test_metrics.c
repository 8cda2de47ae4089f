/* test_metrics.c - the metrics state and textfile: exit classes, counts
 * that add up when eight processes end sessions at once, histogram buckets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../common/util.h"
#include "../../launcher/metrics.h"

#define WRITERS 8
#define EACH 25

static void exit_classes(void **state)
{
	(void)state;
	assert_string_equal(metrics_exit_class(0), "ok");
	assert_string_equal(metrics_exit_class(1), "failed");
	assert_string_equal(metrics_exit_class(128), "failed");
	assert_string_equal(metrics_exit_class(137), "signal");
	assert_string_equal(metrics_exit_class(125), "error");
	assert_string_equal(metrics_exit_class(126), "cannot_run");
	assert_string_equal(metrics_exit_class(127), "cannot_run");
	assert_string_equal(metrics_exit_class(-1), "none");
}

/* One session's end: 2 containers made and removed, 1 volume leaked. */
static void end_one(const char *dir, int exit_status, int64_t peak, uint64_t teardown_ms)
{
	struct proxy_stats ps = { .requests = 10, .denied = 1,
				  .denied_by = { [PROXY_DENY_POLICY] = 1 } };
	struct teardown_result res = { .leaked = json_pack("[{s:s,s:s,s:s}]", "type", "volume",
							   "id", "v1", "error", "in use") };
	struct cgpool_stats pool = { peak, 1.0, peak > (100 << 20) ? 1 : 0 };
	struct metrics_session m = { "test-session", exit_status, &ps, &res, &pool, teardown_ms };
	struct cw_error err = { 0 };

	ps.created[RESOURCE_CONTAINER] = 2;
	ps.created[RESOURCE_VOLUME] = 1;
	res.removed[RESOURCE_CONTAINER] = 2;
	if (metrics_update(dir, &m, NULL, &err) < 0)
		fail_msg("metrics_update: %s", err.msg);
	json_decref(res.leaked);
}

static char *read_prom(const char *dir)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, METRICS_FILE);
	return read_small_file(path, 1 << 20);
}

static void assert_line(const char *text, const char *line)
{
	char want[256];

	snprintf(want, sizeof(want), "\n%s\n", line);
	if (strstr(text, want) == NULL)
		fail_msg("no line '%s' in:\n%s", line, text);
}

static void concurrent_ends(void **state)
{
	char dir[] = "/tmp/test_metrics.XXXXXX", cmd[128];
	_cleanup_free_ char *prom = NULL;
	pid_t pids[WRITERS];
	int status;

	(void)state;
	assert_non_null(mkdtemp(dir));
	for (int w = 0; w < WRITERS; w++) {
		pids[w] = fork();
		assert_true(pids[w] >= 0);
		if (pids[w] == 0) {
			for (int i = 0; i < EACH; i++)
				end_one(dir, w % 2 ? 0 : 137, 50 << 20, 300);
			_exit(0);
		}
	}
	for (int w = 0; w < WRITERS; w++) {
		assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
		assert_int_equal(status, 0);
	}
	prom = read_prom(dir);
	assert_non_null(prom);
	assert_line(prom, "ci_wrap_sessions_ended_total{class=\"ok\"} 100");
	assert_line(prom, "ci_wrap_sessions_ended_total{class=\"signal\"} 100");
	assert_line(prom, "ci_wrap_objects_created_total{kind=\"container\"} 400");
	assert_line(prom, "ci_wrap_objects_created_total{kind=\"volume\"} 200");
	assert_line(prom, "ci_wrap_objects_removed_total{kind=\"container\"} 400");
	assert_line(prom, "ci_wrap_objects_leaked_total{kind=\"volume\"} 200");
	assert_line(prom, "ci_wrap_requests_total 2000");
	assert_line(prom, "ci_wrap_requests_denied_total{reason=\"policy\"} 200");
	assert_line(prom, "ci_wrap_requests_denied_total{reason=\"too_large\"} 0");
	assert_line(prom, "ci_wrap_teardown_duration_seconds_bucket{le=\"0.25\"} 0");
	assert_line(prom, "ci_wrap_teardown_duration_seconds_bucket{le=\"0.5\"} 200");
	assert_line(prom, "ci_wrap_teardown_duration_seconds_bucket{le=\"+Inf\"} 200");
	assert_line(prom, "ci_wrap_teardown_duration_seconds_count 200");
	assert_line(prom, "ci_wrap_session_memory_peak_bytes_bucket{le=\"16777216\"} 0");
	assert_line(prom, "ci_wrap_session_memory_peak_bytes_bucket{le=\"67108864\"} 200");
	assert_line(prom, "# TYPE ci_wrap_sessions_ended_total counter");
	assert_line(prom, "# TYPE ci_wrap_oldest_session_age_seconds gauge");
	assert_line(prom, "# TYPE ci_wrap_session_memory_peak_bytes histogram");
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static void reaps_and_oom(void **state)
{
	char dir[] = "/tmp/test_metrics.XXXXXX", cmd[128];
	_cleanup_free_ char *prom = NULL;
	struct teardown_result res = { .leaked = json_array() };
	struct cw_error err = { 0 };

	(void)state;
	assert_non_null(mkdtemp(dir));
	res.removed[RESOURCE_NETWORK] = 3;
	assert_int_equal(metrics_update(dir, NULL, &res, &err), 0);
	assert_int_equal(metrics_update(dir, NULL, &res, &err), 0);
	end_one(dir, 0, 200 << 20, 30);
	prom = read_prom(dir);
	assert_line(prom, "ci_wrap_reaped_sessions_total 2");
	assert_line(prom, "ci_wrap_reaped_objects_total{kind=\"network\"} 6");
	assert_line(prom, "ci_wrap_oom_kills_total 1");
	assert_line(prom, "ci_wrap_session_memory_peak_bytes_bucket{le=\"67108864\"} 0");
	assert_line(prom, "ci_wrap_session_memory_peak_bytes_bucket{le=\"268435456\"} 1");
	/* NULL dir: nothing to do, no error. */
	assert_int_equal(metrics_update(NULL, NULL, &res, &err), 0);
	json_decref(res.leaked);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(exit_classes),
		cmocka_unit_test(concurrent_ends),
		cmocka_unit_test(reaps_and_oom),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
