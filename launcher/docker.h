/* docker.h - a small client of the real daemon's API over its UNIX socket,
 * with libcurl, for teardown and reap (never on the proxy's path).
 *
 * 1. docker_open() once; docker_call() for one request and its JSON answer.
 * 2. docker_run_all() for one kind of request on many objects in parallel
 *    (kill, wait, remove), bounded concurrency.
 */
#ifndef CI_WRAP_DOCKER_H
#define CI_WRAP_DOCKER_H

#include <jansson.h>
#include <stddef.h>

#include "../common/error.h"

struct docker;

struct docker_job {
	const char *method; /* "POST", "DELETE", ... */
	char path[512];	    /* "/containers/ID/kill?signal=TERM" */
	long timeout_ms;    /* whole request */
	long status;	    /* HTTP status, 0 if there was no answer */
	char error[256];    /* the daemon's message or curl's, "" if none */
};

struct docker *docker_open(const char *socket_path);
void docker_close(struct docker *d);

/* One request; *out gets the parsed JSON answer (or NULL) when out != NULL.
 * Returns the HTTP status, or -1 with err filled when there was no answer. */
long docker_call(struct docker *d, const char *method, const char *path, long timeout_ms,
		 json_t **out, struct cw_error *err);

/* Run jobs with at most parallel in flight; fills each job's status/error. */
void docker_run_all(struct docker *d, struct docker_job *jobs, size_t n, size_t parallel);

/* Call tick(arg, done, total) at least every 100 ms while docker_run_all()
 * works, for a progress display. */
void docker_on_tick(struct docker *d, void (*tick)(void *arg, size_t done, size_t total),
		    void *arg);

/* URL-encode a filters={"label":["k=v"]} query value into buf. */
void docker_label_filter(const char *label, char *buf, size_t size);

#endif
