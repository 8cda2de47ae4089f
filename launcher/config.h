/* config.h - the configuration file, /etc/ci-wrap.conf: `key = value` lines.
 *
 * This module only splits the file into settings; the keys and the checking of
 * values belong to the option table in cli.c, which passes a callback:
 *   1. path = config_path(&required);
 *   2. config_read(path, required, fn, ctx, &err) calls fn(key, value) per line.
 */
#ifndef CI_WRAP_CONFIG_H
#define CI_WRAP_CONFIG_H

#include <stdbool.h>

#include "../common/error.h"

#define CONFIG_DEFAULT_PATH "/etc/ci-wrap.conf"
#define CONFIG_PATH_ENV "CI_WRAP_CONFIG"

/* One setting; returns 0, or -1 with err saying what is wrong with it (the
 * caller adds "PATH:LINE: "). */
typedef int (*config_setting_fn)(const char *key, const char *value, void *ctx,
				 struct cw_error *err);

/* The file to read: $CI_WRAP_CONFIG when set and not empty (then *required,
 * since someone asked for it), else CONFIG_DEFAULT_PATH (optional). */
const char *config_path(bool *required);

/* Call fn for each setting of path, in file order. Blank lines and lines
 * starting with '#' are skipped; whitespace around keys and values is not
 * significant. Returns 0, also for a missing file that is not required, or -1
 * with err "PATH:LINE: what" (or "PATH: why" when it cannot be read). */
int config_read(const char *path, bool required, config_setting_fn fn, void *ctx,
		struct cw_error *err);

#endif
