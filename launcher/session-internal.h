/* session-internal.h - between session.c (the launcher's side) and
 * session-process.c (the session process itself). */
#ifndef CI_WRAP_SESSION_INTERNAL_H
#define CI_WRAP_SESSION_INTERNAL_H

#include "cli.h"
#include "session.h"

/* Body of the forked session process: serve, tear down, _exit. */
__attribute__((noreturn)) void session_process_main(struct session *s,
						    const struct cw_config *cfg, int ctl_fd);

#endif
