/* error.h - the one error convention of ci-wrap.
 *
 * A function that can fail returns -1 and fills a struct cw_error passed last.
 * Callers add context with cw_error_wrap() at each layer boundary; only main()
 * prints the message and chooses the exit code.
 */
#ifndef CI_WRAP_ERROR_H
#define CI_WRAP_ERROR_H

#include <stdarg.h>

struct cw_error {
	int code;      /* errno-style cause, 0 when none applies */
	char msg[768]; /* "what failed: why", no "ci-wrap:" prefix, no newline */
};

/* Set err to fmt, append strerror(code) when code != 0; returns -1. */
int cw_error_set(struct cw_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefix err's message with context: "context: old message"; returns -1. */
int cw_error_wrap(struct cw_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Print "ci-wrap: fmt" (plus ": strerror" when code != 0) and _exit(status).
 * Only for argument parsing and forked children before exec. */
__attribute__((noreturn, format(printf, 3, 4))) void cw_die(int status, int code,
							    const char *fmt, ...);

#endif
