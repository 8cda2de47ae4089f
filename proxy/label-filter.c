/* label-filter.c - add a label to a `filters` parameter (see label-filter.h). */
#include "label-filter.h"

#include <jansson.h>
#include <stdbool.h>

/* The older encoding: moby tries map[string]map[string]bool first and falls
 * back to map[string][]string, so one array value makes it the older one. */
static bool legacy_encoding(json_t *filters)
{
	const char *key;
	json_t *v;

	json_object_foreach(filters, key, v)
	{
		if (json_is_array(v))
			return true;
	}
	return false;
}

static int add_label(json_t *filters, const char *label)
{
	json_t *labels = json_object_get(filters, "label");

	if (json_is_array(labels))
		return json_array_append_new(labels, json_string(label));
	if (json_is_object(labels))
		return json_object_set_new(labels, label, json_true());
	if (legacy_encoding(filters))
		return json_object_set_new(filters, "label", json_pack("[s]", label));
	return json_object_set_new(filters, "label", json_pack("{s:b}", label, 1));
}

int label_filter_add(const char *json, size_t len, const char *label, char **out,
		      struct cw_error *err)
{
	json_error_t jerr;
	json_t *filters = len ? json_loadb(json, len, JSON_DECODE_ANY, &jerr) : json_object();

	if (filters != NULL && json_is_null(filters)) {
		json_decref(filters);
		filters = json_object();
	}
	if (filters == NULL || !json_is_object(filters)) {
		cw_error_set(err, 0, "invalid filter: %s",
			     filters ? "not a JSON object" : jerr.text);
		json_decref(filters);
		return -400;
	}
	if (add_label(filters, label) < 0) {
		json_decref(filters);
		cw_error_set(err, 0, "invalid filter: cannot add the session's label");
		return -400;
	}
	*out = json_dumps(filters, JSON_COMPACT);
	json_decref(filters);
	return 0;
}
