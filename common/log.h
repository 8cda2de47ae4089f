/* log.h - messages on stderr, all prefixed "ci-wrap:".
 *
 * cw_log_level is set once from -q/-v; warnings always print unless -q.
 */
#ifndef CI_WRAP_LOG_H
#define CI_WRAP_LOG_H

enum cw_log_level {
	CW_LOG_QUIET = 0,   /* -q: errors only */
	CW_LOG_NORMAL = 1,  /* the summary line and warnings */
	CW_LOG_VERBOSE = 2, /* -v: what each step does */
	CW_LOG_DEBUG = 3,   /* -vv: per-request detail */
};

extern int cw_log_level;

void cw_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define cw_warn(...) cw_log(CW_LOG_NORMAL, __VA_ARGS__)
#define cw_verbose(...) cw_log(CW_LOG_VERBOSE, __VA_ARGS__)
#define cw_debug(...) cw_log(CW_LOG_DEBUG, __VA_ARGS__)

#endif
