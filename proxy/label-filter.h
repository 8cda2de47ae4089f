/* label-filter.h - the daemon's `filters` query parameter, narrowed to a label.
 *
 * Clients send filters in two encodings (moby's filters.FromJSON reads
 * both): {"label":{"k=v":true}} and the older {"label":["k=v"]}. A label
 * filter is ANDed with the rest, so adding ours narrows a prune to the
 * session's objects whatever else the client asked.
 */
#ifndef CI_WRAP_LABEL_FILTER_H
#define CI_WRAP_LABEL_FILTER_H

#include <stddef.h>

#include "../common/error.h"

/* Add label ("ci-wrap.session=ID") to the filters JSON json[0..len) (len 0:
 * none given), in the encoding the client used. Returns 0 and a malloc'd
 * compact JSON in *out, or -400 with err filled when the daemon would not
 * read json either. */
int label_filter_add(const char *json, size_t len, const char *label, char **out,
		      struct cw_error *err);

#endif
