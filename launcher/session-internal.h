/* session-internal.h - between session.c (the launcher's side) and
 * session-process.c (the session process itself). */
#ifndef CI_WRAP_SESSION_INTERNAL_H
#define CI_WRAP_SESSION_INTERNAL_H

#include "cli.h"
#include "session.h"

/* Body of the session process: serve, tear down, _exit. */
__attribute__((noreturn)) void session_process_main(struct session *s,
						    const struct cw_config *cfg, int ctl_fd);

/* Rebuild the session and its options from the launcher's state message. */
int session_state_unpack(const char *msg, size_t len, struct session *s, struct cw_config *cfg);

#endif
