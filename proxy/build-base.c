/* build-base.c - a classic build's base images, checked against other
 * sessions' before the daemon may start it (request.h).
 *
 * The build context streams through as it comes; proxy/buildctx.c reads
 * the Dockerfile out of it on the way. The relay holds the body's last
 * bytes back, and the daemon, which needs the whole context before it
 * builds, waits with them until the images the FROM lines name are known
 * not to be another session's (those are answered as missing, as for any
 * other request). A context that cannot be read is refused: isolation
 * fails closed.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "../common/util.h"
#include "buildctx.h"
#include "owner.h"
#include "relay.h"
#include "request.h"
#include "rewrite.h"

/* The most a buildargs value may hold; the daemon's own limit is the
 * request line's. */
#define BUILDARGS_MAX (256 * 1024)

static enum step_result refuse(struct conn *c, const char *why)
{
	relay_refuse(c, 403,
		     "ci-wrap: refused a build whose base images cannot be checked: %s "
		     "(--isolation off builds it)",
		     why);
	return STEP_STOP;
}

enum step_result build_base_begin(struct conn *c)
{
	const char *url = c->req.buf + c->head.url_off;
	size_t qoff = route_query_offset(url, c->head.url_len);
	const char *query = qoff < c->head.url_len ? url + qoff + 1 : NULL;
	size_t qlen = query ? c->head.url_len - qoff - 1 : 0;
	_cleanup_free_ char *remote = NULL, *dockerfile = NULL, *args = NULL;
	json_auto_t *buildargs = NULL;

	if (c->proxy->cfg.isolation_off || c->route->query != REWRITE_BUILD_QUERY)
		return STEP_NEXT;
	/* BuildKit (only with --allow-buildkit) sends its Dockerfile over its
	 * own session, not in the body: the operator's choice, not checked. */
	if (rewrite_query_has(query, qlen, "version", "2"))
		return STEP_NEXT;
	remote = rewrite_query_get(query, qlen, "remote", PATH_MAX);
	dockerfile = rewrite_query_get(query, qlen, "dockerfile", PATH_MAX);
	args = rewrite_query_get(query, qlen, "buildargs", BUILDARGS_MAX);
	if (remote == NULL || dockerfile == NULL || args == NULL)
		return refuse(c, "a query value too long or not decodable");
	if (remote[0] != '\0')
		return refuse(c, "its context is remote, fetched by the daemon");
	if (args[0] != '\0' && !json_is_object(buildargs = json_loads(args, 0, NULL)))
		return refuse(c, "buildargs is not a JSON object");
	c->buildctx = buildctx_new(dockerfile, buildargs);
	return STEP_NEXT;
}

void build_base_feed(struct conn *c, const char *at, size_t n)
{
	const char *why;

	if (c->build_why == NULL && buildctx_feed(c->buildctx, at, n, &why) < 0)
		c->build_why = why;
}

static void on_base_verdict(void *arg, int status, const char *msg)
{
	struct conn *c = arg;

	c->owner_refs = NULL;
	request_step_done(c, status, msg);
}

/* {"kind": "image", "name": ..., "missing": 404} for each image. */
static json_t *image_refs(json_t *images)
{
	json_t *refs = json_array(), *v;
	size_t i;

	json_array_foreach(images, i, v)
		json_array_append_new(refs, json_pack("{s:s, s:O, s:b, s:i}", "kind", "image",
						      "name", v, "alters", 0, "missing", 404));
	return refs;
}

enum step_result build_base_check(struct conn *c)
{
	const char *why = c->build_why;
	json_auto_t *images = why ? NULL : buildctx_images(c->buildctx, &why);
	json_auto_t *refs = NULL;
	char msg[512];
	int rc;

	if (images == NULL)
		return refuse(c, why);
	refs = image_refs(images);
	rc = owner_check_refs(c->proxy->owner, refs, on_base_verdict, c, &c->owner_refs, msg,
			      sizeof(msg));
	if (rc < 0) {
		relay_refuse(c, -rc, "%s", msg);
		return STEP_STOP;
	}
	return rc == 1 ? STEP_WAIT : STEP_NEXT;
}

enum step_result build_base_release(struct conn *c)
{
	build_base_free(c);
	relay_release_tail(c);
	relay_forwarded(c);
	return STEP_NEXT;
}

void build_base_free(struct conn *c)
{
	buildctx_free(c->buildctx);
	c->buildctx = NULL;
	c->build_why = NULL;
}
