/* sockmount.h - keep the daemon's socket inside the session: a container
 * create that bind-mounts the real daemon's socket (Jenkins' docker.inside
 * with -v /var/run/docker.sock:..., a docker CLI in a build container,
 * testcontainers' Ryuk) gets the session's stand-in socket there instead, so
 * every client in that container is a client of the session: labelled,
 * pooled, torn down.
 *
 * 1. sockmount_init() once with the daemon's socket path and the stand-in.
 * 2. sockmount_swap() on each HostConfig (and the top level, where moby
 *    reads the deprecated HostConfig fields) of a container create.
 */
#ifndef CI_WRAP_SOCKMOUNT_H
#define CI_WRAP_SOCKMOUNT_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "../common/error.h"

/* Host-path bind sources looked at per create, at most: each costs a
 * stat() on the event loop; more is refused with 400. */
#define SOCKMOUNT_MAX_BINDS 4096

struct sockmount {
	dev_t dev;	       /* the daemon's socket, as stat() sees it */
	ino_t ino;	       /* likewise */
	char real[PATH_MAX];   /* its path with every symlink resolved */
	const char *stand_in;  /* the session's socket that takes its place */
};

/* Fill sm for the socket at daemon_path; -1 if it cannot be resolved. */
int sockmount_init(struct sockmount *sm, const char *daemon_path, const char *stand_in,
		   struct cw_error *err);

/* Rewrite obj's Binds and Mounts (every spelling Go's decoder accepts):
 * a source that resolves to the daemon's socket becomes the stand-in; a
 * source directory that holds it gets the stand-in mounted over the socket
 * inside. Returns the number of changes, or -HTTP status (400) with err. */
int sockmount_swap(json_t *obj, const struct sockmount *sm, struct cw_error *err);

#endif
