/* request.c - what a request means: its steps, and the reading of its
 * answer (request.h, relay.h).
 *
 * A head goes through route, policy, prune, ownership, tracking and
 * forward; a body to rewrite through body.c's steps once it is whole. The
 * answer's hooks feed what the session made to proxy/track.c and lists
 * and events to proxy/filter.c.
 */
#include <stdio.h>
#include <string.h>

#include "../common/log.h"
#include "../common/util.h"
#include "filter.h"
#include "owner.h"
#include "relay.h"
#include "request.h"
#include "rewrite.h"
#include "track.h"

static void steps_run(struct conn *c)
{
	while (c->step < c->nsteps) {
		switch (c->steps[c->step](c)) {
		case STEP_NEXT:
			c->step++;
			break;
		case STEP_WAIT:
			c->wait_state = c->state;
			c->state = REQ_CHECK;
			return;
		case STEP_STOP:
			return;
		}
	}
}

static void steps_start(struct conn *c, const request_step *steps, size_t n)
{
	c->steps = steps;
	c->nsteps = n;
	c->step = 0;
	steps_run(c);
}

void request_step_done(struct conn *c, int status, const char *msg)
{
	if (status != 0) {
		relay_refuse(c, status, "%s", msg);
	} else {
		c->state = c->wait_state;
		c->step++;
		steps_run(c);
	}
	relay_resumed(c);
}

/* ---- the head's steps ---------------------------------------------------- */

/* Find the route; a target that is no path is refused. */
static enum step_result step_route(struct conn *c)
{
	const char *url = c->req.buf + c->head.url_off;
	char path[ROUTE_PATH_MAX + 2];

	if (c->proxy->cfg.audit) {
		size_t n = c->head.url_len < sizeof(c->audit_target) - 1
				   ? c->head.url_len
				   : sizeof(c->audit_target) - 1;

		memcpy(c->audit_target, url, n);
		c->audit_target[n] = '\0';
	}
	if (route_canonical_path(url, c->head.url_len, path, sizeof(path)) < 0) {
		relay_refuse(c, c->head.url_len > ROUTE_PATH_MAX ? 414 : 400,
			     "invalid request target");
		return STEP_STOP;
	}
	c->route = route_lookup(c->method, path);
	c->path = xstrdup(path);
	c->proxy->stats.requests++;
	return STEP_NEXT;
}

/* The operator's policy for the route (proxy/route.c): refused routes and
 * BuildKit builds end here with a 403. */
static enum step_result step_policy(struct conn *c)
{
	const char *url = c->req.buf + c->head.url_off;
	size_t qoff = route_query_offset(url, c->head.url_len);
	size_t qlen = qoff < c->head.url_len ? c->head.url_len - qoff - 1 : 0;
	char why[384];

	if (route_policy(c->route, c->method, c->path, url + qoff + (qlen ? 1 : 0),
			 qlen, c->proxy->cfg.allow, why, sizeof(why)) == 0)
		return STEP_NEXT;
	relay_refuse(c, 403, "%s", why);
	return STEP_STOP;
}

/* A prune of what carries no owner (build cache) with isolation on: it
 * prunes nothing of others', so nothing, and says so. */
static enum step_result step_prune_nothing(struct conn *c)
{
	static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
				     "Content-Length: 42\r\nConnection: close\r\n\r\n"
				     "{\"CachesDeleted\":null,\"SpaceReclaimed\":0}\n";

	if (!(c->route->flags & ROUTE_PRUNE_NOTHING) || (c->proxy->cfg.allow & ROUTE_GROUP_PRUNE))
		return STEP_NEXT;
	if (c->proxy->cfg.isolation_off) {
		relay_refuse(c, 403,
			     "ci-wrap: refused POST /build/prune: it removes build cache, also other "
			     "jobs'; an operator can relay it with --allow prune");
		return STEP_STOP;
	}
	c->status = 200;
	c->note = "answered: nothing of the session's to prune";
	relay_answer_close(c, answer, sizeof(answer) - 1);
	return STEP_STOP;
}

static void on_owner_verdict(void *arg, int status, const char *msg)
{
	struct conn *c = arg;

	c->owner_q = NULL;
	request_step_done(c, status, msg);
}

/* Does the request name an object the session may not touch? */
static enum step_result step_owner(struct conn *c)
{
	char decoded[ROUTE_PATH_MAX + 2], msg[512];
	int rc;

	if (c->proxy->cfg.isolation_off)
		return STEP_NEXT;
	filter_begin(c, c->method, c->path);
	if (route_decoded_path(c->req.buf + c->head.url_off, c->head.url_len, decoded,
			       sizeof(decoded)) < 0)
		return STEP_NEXT; /* cannot be: the canonical path was made from it */
	rc = owner_check(c->proxy->owner, c->method, c->path, decoded,
			 c->route->flags & ROUTE_ALTERS, on_owner_verdict, c, &c->owner_q, msg,
			 sizeof(msg));
	if (rc < 0) {
		relay_refuse(c, -rc, "%s", msg);
		return STEP_STOP;
	}
	return rc == 1 ? STEP_WAIT : STEP_NEXT;
}

static void on_track_ready(void *arg, struct track_answer *a)
{
	struct conn *c = arg;

	c->track_wait = NULL;
	c->track = a;
	request_step_done(c, 0, NULL);
}

/* Begin reading the answer for what the request makes (track.c); a load
 * or a tag waits while the images are listed first. */
static enum step_result step_track(struct conn *c)
{
	if (c->ufd < 0)
		return STEP_NEXT; /* step_forward() refuses it */
	return track_request(c->proxy->track, c->route, c->method, c->req.buf + c->head.url_off,
			     c->head.url_len, on_track_ready, c, &c->track, &c->track_wait) == 1
		       ? STEP_WAIT
		       : STEP_NEXT;
}

/* The request target with its query rewritten, or NULL if unchanged. */
static int rewrite_target(struct conn *c, char **target, size_t *target_len)
{
	const char *url = c->req.buf + c->head.url_off;
	size_t qoff = route_query_offset(url, c->head.url_len);
	size_t qlen = qoff < c->head.url_len ? c->head.url_len - qoff - 1 : 0;
	_cleanup_free_ char *query = NULL;
	struct cw_error err = { 0 };
	size_t query_len = 0;
	int rc;

	*target = NULL;
	if (c->route->query == REWRITE_NONE)
		return 0;
	if (c->route->query == REWRITE_PRUNE_QUERY && (c->proxy->cfg.allow & ROUTE_GROUP_PRUNE))
		return 0;
	if (c->head.form_body) {
		relay_refuse(c, 415, "form bodies are not accepted on this endpoint");
		return -1;
	}
	rc = rewrite_query(c->route->query, &c->proxy->cfg.rewrite, url + qoff + 1,
			   qoff < c->head.url_len ? qlen : 0, &query, &query_len, &err);
	if (rc < 0) {
		relay_refuse(c, -rc, "%s", err.msg);
		return -1;
	}
	if (rc == 0)
		return 0;
	*target = xmalloc(qoff + 1 + query_len + 1);
	memcpy(*target, url, qoff);
	(*target)[qoff] = '?';
	memcpy(*target + qoff + 1, query, query_len);
	*target_len = qoff + 1 + query_len;
	return 0;
}

/* Is the body one to collect and rewrite? Refused (-1) if it cannot be. */
static int body_to_rewrite(struct conn *c)
{
	const llhttp_t *parser = &c->req_parser;

	if (c->route->body == REWRITE_NONE ||
	    ((c->route->flags & ROUTE_BODY_IF_ANY) && parser->content_length == 0 &&
	     !(parser->flags & F_CHUNKED)))
		return 0;
	if (c->head.content_encoded) {
		relay_refuse(c, 415, "cannot label a body with a Content-Encoding");
		return -1;
	}
	if (parser->content_length > c->proxy->cfg.rewrite.max_body &&
	    !(parser->flags & F_CHUNKED)) {
		relay_refuse(c, 413, "request body too large for ci-wrap to label");
		return -1;
	}
	return 1;
}

/* Send the head on (its target rewritten if need be), or hold it back
 * while the body is collected. */
static enum step_result step_forward(struct conn *c)
{
	const char *head = c->req.buf;
	_cleanup_free_ char *target = NULL;
	size_t target_len = 0;
	int collect;

	if (c->ufd < 0) {
		relay_refuse(c, 502, "cannot connect to the Docker daemon at unix://%s: %s",
			     c->proxy->cfg.upstream_path, strerror(c->upstream_errno));
		return STEP_STOP;
	}
	if (rewrite_target(c, &target, &target_len) < 0 || (collect = body_to_rewrite(c)) < 0)
		return STEP_STOP;
	if (c->route->flags & ROUTE_DRAIN_WAIT)
		c->proxy->stats.create_calls++;
	if (collect) {
		/* The rewrite needs the head again once the body is in. */
		c->body_head = xmalloc(c->head.len);
		memcpy(c->body_head, head, c->head.len);
		c->body_target = steal_pointer(&target);
		c->body_target_len = target_len;
		/* We hold the body back, so the daemon would never ask for it. */
		if (c->head.expect_continue &&
		    relay_interim(c, "HTTP/1.1 100 Continue\r\n\r\n", 25) < 0) {
			relay_refuse(c, 503, "no room to answer 100 Continue");
			return STEP_STOP;
		}
		relay_head_hold(c);
	} else if (target != NULL) {
		size_t len;
		char *rebuilt = http_rebuild_head(head, c->head.len, target, target_len, -1, false,
						  &len);

		relay_head_replace(c, rebuilt, len);
		c->note = "rewritten";
	} else {
		relay_head_pass(c);
	}
	return STEP_NEXT;
}

static const request_step head_steps[] = {
	step_route, step_policy,      step_prune_nothing, step_owner,
	step_track, build_base_begin, step_forward,
};

static const request_step body_steps[] = {
	body_rewrite,
	body_check_refs,
	body_send,
};

void request_on_head(struct conn *c)
{
	steps_start(c, head_steps, ARRAY_SIZE(head_steps));
}

static const request_step build_steps[] = {
	build_base_check,
	build_base_release,
};

void request_on_body(struct conn *c, const char *at, size_t n)
{
	build_base_feed(c, at, n);
}

void request_on_complete(struct conn *c)
{
	if (c->state == REQ_BUFFER)
		steps_start(c, body_steps, ARRAY_SIZE(body_steps));
	else if (c->buildctx != NULL)
		steps_start(c, build_steps, ARRAY_SIZE(build_steps));
	else
		relay_forwarded(c);
}

void request_cycle_end(struct conn *c)
{
	track_answer_end(c->proxy->track, c->track, c->status);
	c->track = NULL;
	filter_reset(c);
	free(c->body_head);
	free(c->body_target);
	free(c->path);
	c->body_head = c->body_target = c->path = NULL;
}

void request_free(struct conn *c)
{
	owner_cancel(c->owner_q);
	c->owner_q = NULL;
	track_wait_cancel(c->track_wait);
	c->track_wait = NULL;
	body_release(c);
	build_base_free(c);
	request_cycle_end(c);
}

/* ---- the answer ------------------------------------------------------------ */

void answer_on_head(struct conn *c, int status)
{
	filter_head(c, status, c->method == HTTP_HEAD);
}

bool answer_on_body(struct conn *c, const char *at, size_t n)
{
	if (c->track != NULL && c->own_answers == 0)
		track_answer_bytes(c->proxy->track, c->track, c->status, at, n);
	return filter_body(c, at, n);
}

void answer_on_done(struct conn *c)
{
	if (c->status >= 200 && c->status < 300 && c->route->creates != RESOURCE_NONE)
		c->proxy->stats.created[c->route->creates]++;
	filter_end(c);
}
