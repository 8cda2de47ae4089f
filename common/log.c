/* log.c - leveled stderr messages. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

int cw_log_level = CW_LOG_NORMAL;

void cw_log(int level, const char *fmt, ...)
{
	char line[1024];
	int saved = errno;
	va_list ap;
	int n;

	if (level > cw_log_level)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	/* One write() per line so lines from the launcher and the session
	 * process never interleave mid-line. */
	dprintf(STDERR_FILENO, "ci-wrap: %.*s\n", n, line);
	errno = saved;
}
