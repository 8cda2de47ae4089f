/* test_util.c - parse_size() and parse_duration(): the option values an
 * operator types (--memory 512m, --grace 10s).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../common/util.h"

static void assert_size(const char *s, int64_t want)
{
	int64_t v = -12345;

	if (parse_size(s, &v) != 0)
		fail_msg("parse_size(\"%s\") refused, want %lld", s, (long long)want);
	if (v != want)
		fail_msg("parse_size(\"%s\") = %lld, want %lld", s, (long long)v, (long long)want);
}

static void assert_size_bad(const char *s)
{
	int64_t v = -12345;

	if (parse_size(s, &v) != -1)
		fail_msg("parse_size(\"%s\") accepted (%lld), want -1", s, (long long)v);
	assert_int_equal(v, -12345); /* untouched on refusal */
}

static void assert_duration(const char *s, int64_t want)
{
	int64_t v = -12345;

	if (parse_duration(s, &v) != 0)
		fail_msg("parse_duration(\"%s\") refused, want %lld", s, (long long)want);
	if (v != want)
		fail_msg("parse_duration(\"%s\") = %lld, want %lld", s, (long long)v,
			 (long long)want);
}

static void assert_duration_bad(const char *s)
{
	int64_t v = -12345;

	if (parse_duration(s, &v) != -1)
		fail_msg("parse_duration(\"%s\") accepted (%lld), want -1", s, (long long)v);
	assert_int_equal(v, -12345);
}

static void size_units(void **state)
{
	(void)state;
	assert_size("1024", 1024);
	assert_size("1", 1);
	assert_size("10k", 10240);
	assert_size("10K", 10240);
	assert_size("10kb", 10240);
	assert_size("512m", 512LL * 1024 * 1024);
	assert_size("512M", 512LL * 1024 * 1024);
	assert_size("512mb", 512LL * 1024 * 1024);
	assert_size("4g", 4LL * 1024 * 1024 * 1024);
	assert_size("4G", 4LL * 1024 * 1024 * 1024);
	assert_size("4gib", 4LL * 1024 * 1024 * 1024);
	assert_size("2t", 2LL * 1024 * 1024 * 1024 * 1024);
	assert_size("100b", 100);
}

static void size_fractions(void **state)
{
	(void)state;
	assert_size("1.5g", 1536LL * 1024 * 1024);
	assert_size("0.5m", 512LL * 1024);
	assert_size("1.5k", 1536);
	assert_size(".5k", 512);
}

static void size_bad_input(void **state)
{
	(void)state;
	assert_size_bad("");
	assert_size_bad("m");
	assert_size_bad("abc");
	assert_size_bad("12x");
	assert_size_bad("12 m");
	assert_size_bad("12mm");
	assert_size_bad("12m ");
	assert_size_bad(" 12m");
	assert_size_bad("1.2.3m");
	assert_size_bad("0");	   /* a zero limit is no limit: refuse it */
	assert_size_bad("0.1");	   /* rounds to no byte at all */
	assert_size_bad("inf");
	assert_size_bad("nan");
}

static void size_negative(void **state)
{
	(void)state;
	assert_size_bad("-1");
	assert_size_bad("-512m");
	assert_size_bad("-0");
	assert_size_bad("+5m");
}

static void size_overflow(void **state)
{
	(void)state;
	assert_size_bad("99999999999999999999");
	assert_size_bad("9000000t");
	assert_size_bad("1e400");
	assert_size_bad("10000000000g");
	/* Big, but still an int64_t. */
	assert_size("8000000t", 8000000LL * 1024 * 1024 * 1024 * 1024);
}

static void duration_units(void **state)
{
	(void)state;
	assert_duration("10s", 10000);
	assert_duration("500ms", 500);
	assert_duration("2m", 120000);
	assert_duration("1h", 3600000);
	assert_duration("0s", 0);
	assert_duration("0ms", 0);
}

static void duration_fractions(void **state)
{
	(void)state;
	assert_duration("1.5s", 1500);
	assert_duration("0.25s", 250);
	assert_duration(".5m", 30000);
	assert_duration("1.5h", 5400000);
}

static void duration_bad_input(void **state)
{
	(void)state;
	assert_duration_bad("10");   /* no unit */
	assert_duration_bad("0");
	assert_duration_bad("");
	assert_duration_bad("s");
	assert_duration_bad("ten s");
	assert_duration_bad("10x");
	assert_duration_bad("10sec");
	assert_duration_bad("10 s");
	assert_duration_bad("-1s");
	assert_duration_bad("1d");
	assert_duration_bad("1e400s");
	assert_duration_bad("99999999999999999h");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(size_units),	      cmocka_unit_test(size_fractions),
		cmocka_unit_test(size_bad_input),     cmocka_unit_test(size_negative),
		cmocka_unit_test(size_overflow),      cmocka_unit_test(duration_units),
		cmocka_unit_test(duration_fractions), cmocka_unit_test(duration_bad_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
