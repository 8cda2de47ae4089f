/* proxy.h - the labelling Docker API proxy: a libev server on a private UNIX
 * socket, relaying every connection to the real daemon.
 *
 * 1. proxy_new() with a listening socket and the rewrite spec; it serves on
 *    the caller's libev loop from then on.
 * 2. proxy_drain() when the session ends: stop accepting, let create calls in
 *    flight finish, close the rest, then call back.
 * 3. proxy_stats() for the report; proxy_free() after the loop is done.
 */
#ifndef CI_WRAP_PROXY_H
#define CI_WRAP_PROXY_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "../common/error.h"
#include "rewrite.h"

struct proxy_config {
	int listen_fd;		     /* bound and listening; the proxy owns it */
	/* The socket bind-mounted into the session's containers in place of
	 * the daemon's (the proxy owns it): a user of any uid inside such a
	 * container may connect, since only those containers can reach it.
	 * 0 for none (fd 0 is never a socket of ours). */
	int mounted_fd;
	const char *upstream_path;   /* the real daemon's socket */
	struct rewrite_spec rewrite; /* labels, cgroup parent, body limit */
	uid_t allowed_uid;	     /* peers with another uid (but root) are refused */
	FILE *audit;		     /* one JSON line per request, or NULL */
	unsigned allow;		     /* refused route groups relayed (enum route_group) */
	/* --isolation off: other sessions' objects are visible and what was
	 * made outside ci-wrap may be removed (proxy/owner.h). */
	bool isolation_off;
	/* List the images (GET /images/json?all=1, beside the relay) before
	 * and after an image load or tag: what the load names and was not
	 * there before is the session's, a tag put on an image from before is
	 * taken off. false: loads and tags are not tracked. */
	bool list_images;
	/* Called with each unlabelled image the session made (loaded, or a
	 * classic build's step), as it is recorded: a place that outlives the
	 * session process can keep it for reap. */
	void (*image_loaded)(void *arg, const char *ref);
	/* Likewise with each anonymous volume of the session's containers. */
	void (*volume_made)(void *arg, const char *name);
	void *images_arg; /* the argument of the two */
};

/* Why a request was refused, by the status it got. */
enum proxy_deny {
	PROXY_DENY_POLICY,    /* 403: a route or body the session may not send */
	PROXY_DENY_TOO_LARGE, /* 413, 414, 431: more than the proxy reads */
	PROXY_DENY_MALFORMED, /* 400, 405, 415, 501, 505: not a request it can label */
	PROXY_DENY_DAEMON,    /* 502: the daemon did not answer */
	PROXY_DENY__COUNT,
};

/* "policy", "too_large", "malformed", "daemon". */
const char *proxy_deny_name(enum proxy_deny reason);

struct proxy_stats {
	uint64_t requests;		     /* requests routed */
	uint64_t denied;		     /* requests refused with an error */
	uint64_t denied_by[PROXY_DENY__COUNT]; /* the same, by reason */
	uint64_t created[RESOURCE__COUNT];   /* 2xx answers to create calls, by kind */
	uint64_t connections;		     /* connections accepted */
	uint64_t create_calls;		     /* requests that may create something, let through */
};

struct proxy;

struct proxy *proxy_new(struct ev_loop *loop, const struct proxy_config *cfg,
			struct cw_error *err);

/* Stop accepting and drain; done(arg) runs once no connection is left, at
 * the latest timeout_ms later. */
void proxy_drain(struct proxy *p, uint64_t timeout_ms, void (*done)(void *arg), void *arg);

const struct proxy_stats *proxy_stats(const struct proxy *p);

/* Change the cgroup parent forced on containers and builds (NULL: none)
 * for the requests that come from now on. */
void proxy_set_cgroup_parent(struct proxy *p, const char *parent);

/* Everything the tracker recorded (see track_result() in track.h): an
 * object the proxy owns, for teardown_opts.tracked. */
json_t *proxy_tracked(const struct proxy *p);

void proxy_free(struct proxy *p);

#endif
