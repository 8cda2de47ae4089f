/* test_kinds.c - the table of the daemon's kinds of object (common/kinds.c):
 * every kind has a complete row, teardown goes in the SPEC's order, and
 * names and collections find their kind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../common/kinds.h"

static void assert_prefix(const char *what, const char *s, const char *prefix)
{
	if (s == NULL || strncmp(s, prefix, strlen(prefix)) != 0)
		fail_msg("%s is \"%s\", want it to start with \"%s\"", what, s ? s : "(null)",
			 prefix);
}

/* Every field a consumer reads is set, and agrees with the others. */
static void every_kind_has_a_row(void **state)
{
	(void)state;
	for (int k = RESOURCE_NONE + 1; k < RESOURCE__COUNT; k++) {
		const struct kind_info *i = kind_info(k);
		char want[64];

		assert_int_equal(i->kind, k);
		assert_non_null(i->name);
		assert_non_null(i->collection);
		snprintf(want, sizeof(want), "/%ss", i->name);
		assert_string_equal(i->collection, want);
		assert_prefix("list", i->list, i->collection);
		assert_true(i->list[strlen(i->list) - 1] == '?' || i->list[strlen(i->list) - 1] == '&');
		assert_non_null(i->id_key);
		assert_non_null(i->list_labels);
		assert_non_null(i->inspect_labels);
		assert_prefix("inspect", i->inspect, i->collection);
		assert_non_null(strstr(i->inspect, "%s"));
		assert_non_null(i->remove_query);
		assert_non_null(i->missing);
		assert_non_null(strstr(i->missing, "%s"));
		assert_true(i->teardown_order > 0);
		/* Swarm objects keep their labels in their Spec, everywhere. */
		if (i->swarm) {
			assert_string_equal(i->list_labels, "Spec.Labels");
			assert_string_equal(i->inspect_labels, "Spec.Labels");
		}
	}
}

static void specific_rows(void **state)
{
	(void)state;
	assert_string_equal(kind_info(RESOURCE_VOLUME)->items_key, "Volumes");
	assert_string_equal(kind_info(RESOURCE_VOLUME)->id_key, "Name");
	assert_null(kind_info(RESOURCE_CONTAINER)->items_key);
	assert_string_equal(kind_info(RESOURCE_CONTAINER)->inspect_labels, "Config.Labels");
	assert_string_equal(kind_info(RESOURCE_CONTAINER)->list, "/containers/json?all=1&");
	assert_string_equal(kind_info(RESOURCE_SERVICE)->id_key, "ID");
	assert_true(kind_info(RESOURCE_SECRET)->swarm && kind_info(RESOURCE_CONFIG)->swarm);
	assert_false(kind_info(RESOURCE_IMAGE)->swarm || kind_info(RESOURCE_NETWORK)->swarm);
	/* Teardown must never prune a session's images' parents. */
	assert_non_null(strstr(kind_info(RESOURCE_IMAGE)->remove_query, "noprune=1"));
	/* A container's anonymous volumes go with it. */
	assert_non_null(strstr(kind_info(RESOURCE_CONTAINER)->remove_query, "v=1"));
}

static void none_and_out_of_range(void **state)
{
	(void)state;
	assert_null(kind_info(RESOURCE_NONE)->name);
	assert_null(kind_info(RESOURCE__COUNT)->name);
	assert_null(kind_info((enum resource_kind)-1)->name);
	assert_string_equal(kind_name(RESOURCE_NONE), "resource");
	assert_string_equal(kind_name(RESOURCE__COUNT), "resource");
	assert_string_equal(kind_name(RESOURCE_CONTAINER), "container");
}

static void teardown_order(void **state)
{
	static const enum resource_kind want[] = {
		RESOURCE_SERVICE, RESOURCE_CONTAINER, RESOURCE_NETWORK, RESOURCE_VOLUME,
		RESOURCE_SECRET,  RESOURCE_CONFIG,    RESOURCE_IMAGE,
	};
	size_t n = 0, again = 0;
	const enum resource_kind *order = kind_teardown_order(&n);

	(void)state;
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	assert_int_equal(n, RESOURCE__COUNT - 1); /* every kind, once */
	for (size_t i = 0; i < n; i++)
		if (order[i] != want[i])
			fail_msg("teardown step %zu is %s, want %s", i, kind_name(order[i]),
				 kind_name(want[i]));
	assert_ptr_equal(kind_teardown_order(&again), order); /* computed once */
	assert_int_equal(again, n);
}

static void by_name_round_trips(void **state)
{
	(void)state;
	for (int k = RESOURCE_NONE + 1; k < RESOURCE__COUNT; k++) {
		assert_int_equal(kind_by_name(kind_name(k)), k);
		assert_int_equal(kind_by_name(kind_info(k)->collection), k);
	}
	assert_int_equal(kind_by_name("resource"), RESOURCE_NONE);
	assert_int_equal(kind_by_name(""), RESOURCE_NONE);
	assert_int_equal(kind_by_name("containers"), RESOURCE_NONE); /* the report's key */
	assert_int_equal(kind_by_name("Container"), RESOURCE_NONE);  /* the daemon's case */
}

static void labels_by_path(void **state)
{
	json_t *item = json_pack("{s:{s:{s:s}},s:{s:s}}", "Spec", "Labels", "k", "swarm", "Labels",
				 "k", "top");

	(void)state;
	assert_string_equal(json_string_value(json_object_get(kind_labels(item, "Spec.Labels"), "k")),
			    "swarm");
	assert_string_equal(json_string_value(json_object_get(kind_labels(item, "Labels"), "k")),
			    "top");
	assert_null(kind_labels(item, "Config.Labels"));
	assert_null(kind_labels(NULL, "Labels"));
	assert_null(kind_labels(item, "Spec.Labels.k.deeper"));
	json_decref(item);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_kind_has_a_row), cmocka_unit_test(specific_rows),
		cmocka_unit_test(none_and_out_of_range), cmocka_unit_test(teardown_order),
		cmocka_unit_test(by_name_round_trips),	cmocka_unit_test(labels_by_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
