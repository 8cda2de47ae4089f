/* config.c - split the configuration file into settings. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "../common/util.h"

static void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

const char *config_path(bool *required)
{
	const char *path = getenv(CONFIG_PATH_ENV);

	*required = path != NULL && *path != '\0';
	return *required ? path : CONFIG_DEFAULT_PATH;
}

/* s without leading and trailing whitespace (CRLF files included), in place. */
static char *trim(char *s)
{
	char *end = s + strlen(s);

	while (isspace((unsigned char)*s))
		s++;
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* One line: skip it, or split it at the first '=' and hand it to fn. */
static int parse_line(char *line, size_t len, config_setting_fn fn, void *ctx,
		      struct cw_error *err)
{
	char *eq, *key;

	if (strlen(line) != len)
		return cw_error_set(err, 0, "NUL byte in the line");
	line = trim(line);
	if (*line == '\0' || *line == '#')
		return 0;
	eq = strchr(line, '=');
	if (eq == NULL)
		return cw_error_set(err, 0, "expected 'name = value', got '%.80s'", line);
	*eq = '\0';
	key = trim(line);
	if (*key == '\0')
		return cw_error_set(err, 0, "no option name before '='");
	return fn(key, trim(eq + 1), ctx, err);
}

int config_read(const char *path, bool required, config_setting_fn fn, void *ctx,
		struct cw_error *err)
{
	__attribute__((cleanup(fclosep))) FILE *f = fopen(path, "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned lineno = 0;

	if (f == NULL) {
		if (errno == ENOENT && !required)
			return 0;
		return cw_error_set(err, errno, "%s: cannot open the configuration file", path);
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (parse_line(line, (size_t)n, fn, ctx, err) < 0)
			return cw_error_wrap(err, "%s:%u", path, lineno);
	}
	if (ferror(f)) /* getline's -1 is also the end of the file */
		return cw_error_set(err, errno, "%s: cannot read the configuration file", path);
	return 0;
}
