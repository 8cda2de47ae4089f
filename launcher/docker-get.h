/* docker-get.h - GETs to the daemon, several at once, over plain HTTP/1.0 on
 * its UNIX socket, without libcurl: for `ci-wrap ls`, the launcher's cgroup
 * driver question and the session process's image listings, for whom
 * loading libcurl and its ~30 libraries (10-30 ms, ~7 MiB) would cost more
 * than the daemon's answers. Teardown's many writes stay with docker.c.
 *
 * Fill an array of struct docker_get with paths, call docker_get_many(),
 * read each status and answer, then docker_get_free().
 */
#ifndef CI_WRAP_DOCKER_GET_H
#define CI_WRAP_DOCKER_GET_H

#include <jansson.h>
#include <stddef.h>

#include "../common/error.h"

struct docker_get {
	const char *path; /* "/containers/json?all=1", percent-encoded */
	long status;	  /* HTTP status, 0 if there was no answer */
	json_t *answer;	  /* the parsed body, NULL if none or not JSON */
	char *buf;	  /* the raw answer while it arrives (private) */
	size_t len;	  /* its length (private) */
	size_t cap;	  /* allocated for buf (private) */
	int fd;		  /* the connection while it is open (private) */
};

/* Send every GET, then read the answers as they come, for at most
 * timeout_ms in all. Returns 0 when every one got an answer (whatever its
 * status), else -1 with err naming the first that did not. */
int docker_get_many(const char *socket_path, struct docker_get *gets, size_t n, int timeout_ms,
		    struct cw_error *err);

/* One GET: its HTTP status (0 if there was no answer) and, in *out, its
 * parsed body (NULL if none), which the caller owns. */
long docker_get_one(const char *socket_path, const char *path, int timeout_ms, json_t **out);

/* Release the answers. */
void docker_get_free(struct docker_get *gets, size_t n);

#endif
