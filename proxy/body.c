/* body.c - a request body collected, rewritten and sent on (request.h).
 *
 * Bodies the proxy must change (container and volume creates, and the
 * rest route.c names) are collected whole within their limit and the
 * proxy's budget, rewritten (proxy/rewrite.c: here, or on the worker thread
 * when big), checked for the objects they name (ownership), and queued
 * for the daemon behind the volume creates the rewrite asked for.
 */
#include <string.h>

#include "../common/util.h"
#include "owner.h"
#include "refs.h"
#include "relay.h"
#include "request.h"
#include "rewrite.h"
#include "sockmount.h"
#include "worker.h"

/* ---- collecting ------------------------------------------------------------ */

int body_collect(struct conn *c, const char *at, size_t n)
{
	struct proxy *p = c->proxy;

	if (c->body_len + n > p->cfg.rewrite.max_body)
		return 413;
	if (c->body_len + n > c->body_cap) {
		size_t cap = c->body_cap ? c->body_cap * 2 : 16384;

		while (cap < c->body_len + n)
			cap *= 2;
		if (p->body_bytes + cap - c->body_cap > PROXY_BODY_BUDGET)
			return 503;
		p->body_bytes += cap - c->body_cap;
		c->body = xrealloc(c->body, cap);
		c->body_cap = cap;
	}
	memcpy(c->body + c->body_len, at, n);
	c->body_len += n;
	return 0;
}

static void body_drop(struct conn *c)
{
	c->proxy->body_bytes -= c->body_cap;
	free(c->body);
	c->body = NULL;
	c->body_len = c->body_cap = 0;
}

static void held_free(struct conn *c)
{
	for (size_t i = 0; i < ARRAY_SIZE(c->held_mem); i++)
		free(c->held_mem[i]);
	memset(c->held_mem, 0, sizeof(c->held_mem));
}

void body_release(struct conn *c)
{
	if (c->rewrite_job != NULL)
		worker_detach(c->rewrite_job); /* its result is dropped, not delivered */
	c->rewrite_job = NULL;
	owner_refs_cancel(c->owner_refs);
	c->owner_refs = NULL;
	body_drop(c);
	held_free(c);
	json_decref(c->refs);
	c->refs = NULL;
}

/* ---- rewriting ------------------------------------------------------------- */

/* Volume creates to send ahead of a container create, as one block; their
 * answers are swallowed (an existing volume answers 201 and stays as is). */
static char *volume_preamble(struct conn *c, json_t *volumes, size_t *len)
{
	char *buf = NULL;
	json_t *v;
	size_t i;

	*len = 0;
	json_array_foreach(volumes, i, v)
	{
		_cleanup_free_ char *json = json_dumps(v, JSON_COMPACT);

		if (json == NULL)
			continue;
		http_append_post(&buf, len, "/volumes/create", json);
		c->own_answers++;
	}
	return buf;
}

/* Hold the rewritten request (volume creates, head, body) until what it
 * names is checked; refs (taken over) is what it names. */
static enum step_result rewritten(struct conn *c, int rc, char *body, size_t body_len,
				  json_t *volumes, json_t *refs, const struct cw_error *err)
{
	if (rc < 0) {
		free(body);
		json_decref(refs);
		relay_refuse(c, -rc, "%s", err->msg);
		return STEP_STOP;
	}
	held_free(c);
	if (volumes != NULL)
		c->held_mem[0] = volume_preamble(c, volumes, &c->held_len[0]);
	c->held_mem[1] = http_rebuild_head(c->body_head, c->head.len, c->body_target,
					   c->body_target_len, (long long)body_len,
					   c->head.expect_continue, &c->held_len[1]);
	c->held_mem[2] = body;
	c->held_len[2] = body_len;
	c->refs = refs;
	return STEP_NEXT;
}

/* The objects a rewritten body names, to check (NULL: none, or isolation
 * is off). */
static json_t *body_refs(const struct proxy *p, enum rewrite_kind kind, const char *body,
			 size_t len)
{
	return p->cfg.isolation_off ? NULL : refs_of_body(kind, body, len);
}

static enum step_result rewrite_here(struct conn *c)
{
	struct cw_error err = { 0 };
	json_auto_t *volumes = NULL;
	char *body = NULL;
	size_t body_len = 0;
	int rc = rewrite_body(c->route->body, &c->proxy->cfg.rewrite, c->body, c->body_len, &body,
			      &body_len, &volumes, &err);
	json_t *refs = rc == 0 ? body_refs(c->proxy, c->route->body, body, body_len) : NULL;

	body_drop(c);
	return rewritten(c, rc, body, body_len, volumes, refs, &err);
}

/* A big body's rewrite on the worker thread. What run() reads is the job's
 * own: the spec is copied (the cgroup parent may change under the loop),
 * the body taken over; the part of the body budget it holds is given back
 * when the job is freed, on the loop thread. */
struct rewrite_job {
	struct worker_job job;	  /* first: what the pool sees */
	struct conn *c;		  /* whose request it is (loop thread only) */
	struct proxy *proxy;	  /* whose body budget it holds (loop thread only) */
	enum rewrite_kind kind;	  /* the route's body rewrite */
	struct rewrite_spec spec; /* a copy of the proxy's */
	char *parent;		  /* owns spec.cgroup_parent */
	struct sockmount sockets; /* spec.sockets points here when set */
	char *stand_in;		  /* owns sockets.stand_in */
	char *in;		  /* the body as the client sent it */
	size_t in_len;		  /* its length */
	size_t budget;		  /* bytes of the proxy's body budget it holds */
	int rc;			  /* rewrite_body()'s result */
	char *out;		  /* the rewritten body */
	size_t out_len;		  /* its length */
	json_t *volumes;	  /* volume creates to send first, or NULL */
	bool want_refs;		  /* isolation: read what the body names */
	json_t *refs;		  /* what it names (proxy/refs.h), or NULL */
	struct cw_error err;	  /* why it was refused */
};

static void rewrite_job_free(struct rewrite_job *j)
{
	j->proxy->body_bytes -= j->budget;
	free(j->in);
	free(j->out);
	json_decref(j->volumes);
	json_decref(j->refs);
	json_decref(j->spec.labels);
	free(j->parent);
	free(j->stand_in);
	free(j);
}

static void rewrite_job_run(struct worker_job *job)
{
	struct rewrite_job *j = (struct rewrite_job *)job;

	j->rc = rewrite_body(j->kind, &j->spec, j->in, j->in_len, &j->out, &j->out_len,
			     &j->volumes, &j->err);
	free(steal_pointer(&j->in)); /* tens of MiB, not needed any more */
	if (j->rc == 0 && j->want_refs)
		j->refs = refs_of_body(j->kind, j->out, j->out_len);
}

static void rewrite_job_drop(struct worker_job *job)
{
	rewrite_job_free((struct rewrite_job *)job);
}

static void rewrite_job_done(struct worker_job *job)
{
	struct rewrite_job *j = (struct rewrite_job *)job;
	struct conn *c = j->c;
	enum step_result r;

	c->rewrite_job = NULL;
	r = rewritten(c, j->rc, steal_pointer(&j->out), j->out_len, j->volumes,
		      steal_pointer(&j->refs), &j->err);
	rewrite_job_free(j);
	if (r == STEP_NEXT)
		request_step_done(c, 0, NULL);
	else
		relay_resumed(c); /* refused: flush the answer, close */
}

static struct rewrite_job *rewrite_job_new(struct conn *c)
{
	const struct rewrite_spec *spec = &c->proxy->cfg.rewrite;
	struct rewrite_job *j = xcalloc(1, sizeof(*j));

	j->job.run = rewrite_job_run;
	j->job.done = rewrite_job_done;
	j->job.drop = rewrite_job_drop;
	j->c = c;
	j->proxy = c->proxy;
	j->kind = c->route->body;
	j->want_refs = !c->proxy->cfg.isolation_off;
	j->spec = *spec;
	j->spec.labels = json_deep_copy(spec->labels);
	j->parent = spec->cgroup_parent ? xstrdup(spec->cgroup_parent) : NULL;
	j->spec.cgroup_parent = j->parent;
	if (spec->sockets != NULL) {
		j->sockets = *spec->sockets;
		j->stand_in = xstrdup(spec->sockets->stand_in);
		j->sockets.stand_in = j->stand_in;
		j->spec.sockets = &j->sockets;
	}
	j->in = steal_pointer(&c->body);
	j->in_len = c->body_len;
	j->budget = c->body_cap;
	c->body_len = c->body_cap = 0;
	return j;
}

/* Hand a big body to the worker; -1 (the body back in c) if no thread
 * could take it. */
static int rewrite_on_worker(struct conn *c)
{
	struct rewrite_job *j = rewrite_job_new(c);

	if (worker_submit(c->proxy->workers, &j->job) < 0) {
		c->body = steal_pointer(&j->in);
		c->body_len = j->in_len;
		c->body_cap = j->budget;
		j->budget = 0;
		rewrite_job_free(j);
		return -1;
	}
	c->rewrite_job = &j->job;
	return 0;
}

enum step_result body_rewrite(struct conn *c)
{
	if (c->body_len > PROXY_REWRITE_INLINE_MAX && rewrite_on_worker(c) == 0)
		return STEP_WAIT;
	return rewrite_here(c);
}

/* ---- checking and sending ---------------------------------------------------- */

static void on_refs_verdict(void *arg, int status, const char *msg)
{
	struct conn *c = arg;

	c->owner_refs = NULL;
	request_step_done(c, status, msg);
}

/* Does the rewritten body name objects the session may not use? */
enum step_result body_check_refs(struct conn *c)
{
	json_auto_t *refs = steal_pointer(&c->refs);
	char msg[512];
	int rc;

	if (refs == NULL)
		return STEP_NEXT;
	rc = owner_check_refs(c->proxy->owner, refs, on_refs_verdict, c, &c->owner_refs, msg,
			      sizeof(msg));
	if (rc < 0) {
		relay_refuse(c, -rc, "%s", msg);
		return STEP_STOP;
	}
	return rc == 1 ? STEP_WAIT : STEP_NEXT;
}

/* Queue the held request (volume creates, head, body) for the daemon. */
enum step_result body_send(struct conn *c)
{
	bool pre = c->held_mem[0] != NULL;

	relay_inject(c, c->held_mem, c->held_len);
	memset(c->held_mem, 0, sizeof(c->held_mem));
	c->note = pre ? "rewritten, its named volumes created labelled" : "rewritten";
	relay_forwarded(c);
	return STEP_NEXT;
}
