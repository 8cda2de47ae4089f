/* test_route.c - route_canonical_path() and route_lookup(): every spelling of
 * a create call must reach its rewrite, and nothing else may.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../proxy/route.h"
#include "llhttp.h"

static char out[ROUTE_PATH_MAX + 2];

/* Canonical path of a NUL-terminated target; fails the test if refused. */
static void assert_canon(const char *target, const char *want)
{
	memset(out, 'X', sizeof(out));
	if (route_canonical_path(target, strlen(target), out, sizeof(out)) != 0)
		fail_msg("route_canonical_path(\"%s\") refused, want \"%s\"", target, want);
	if (strcmp(out, want) != 0)
		fail_msg("route_canonical_path(\"%s\") = \"%s\", want \"%s\"", target, out, want);
}

static void assert_canon_bad(const char *target, size_t len)
{
	if (route_canonical_path(target, len, out, sizeof(out)) != -1)
		fail_msg("route_canonical_path(\"%.*s\") accepted as \"%s\", want -1", (int)len,
			 target, out);
}

/* The route a target reaches, as the relay computes it. */
static const struct route *route_of(uint8_t method, const char *target)
{
	if (route_canonical_path(target, strlen(target), out, sizeof(out)) != 0)
		fail_msg("route_canonical_path(\"%s\") refused", target);
	return route_lookup(method, out);
}

static void assert_relay_row(const struct route *r)
{
	assert_non_null(r);
	assert_int_equal(r->flags & ~ROUTE_ALTERS, 0);
	assert_int_equal(r->body, REWRITE_NONE);
	assert_int_equal(r->query, REWRITE_NONE);
	assert_int_equal(r->creates, RESOURCE_NONE);
}

/* ---- route_canonical_path ------------------------------------------------ */

static void canon_plain(void **state)
{
	(void)state;
	assert_canon("/containers/create", "/containers/create");
	assert_canon("/_ping", "/_ping");
	assert_canon("/", "/");
	assert_canon("/containers/abc123/json", "/containers/abc123/json");
}

static void canon_version_prefix(void **state)
{
	(void)state;
	assert_canon("/v1.41/containers/create", "/containers/create");
	assert_canon("/v1/containers/create", "/containers/create");
	assert_canon("/v1.41.3/containers/create", "/containers/create");
	assert_canon("/v1.41/v1.40/containers/create", "/containers/create");
	assert_canon("/v1.41/v1/v2.0.0/containers/create", "/containers/create");
	assert_canon("/V1.41/containers/create", "/containers/create");
	assert_canon("/%761.41/containers/create", "/containers/create");
	assert_canon("/v1.41", "/");
	assert_canon("/v1.41/", "/");
	/* Only leading segments are versions. */
	assert_canon("/containers/v1/create", "/containers/v1/create");
	assert_canon("/v1.41/containers/v1.41", "/containers/v1.41");
	/* Not a version: letters after the v. */
	assert_canon("/version", "/version");
	assert_canon("/v1.41/version", "/version");
	assert_canon("/v1a/containers/create", "/v1a/containers/create");
}

static void canon_clean(void **state)
{
	(void)state;
	assert_canon("//containers//create", "/containers/create");
	assert_canon("/containers/./create", "/containers/create");
	assert_canon("/./containers/create/.", "/containers/create");
	assert_canon("/foo/../containers/create", "/containers/create");
	assert_canon("/containers/x/y/../../create", "/containers/create");
	assert_canon("/../containers/create", "/containers/create");
	assert_canon("/../../../../containers/create", "/containers/create");
	assert_canon("/containers/create/..", "/containers");
	assert_canon("/..", "/");
	assert_canon("/v1.41/../containers/create", "/containers/create");
	assert_canon("/v1.41/../../v1.40/containers/create", "/containers/create");
	/* A version after ".." climbed back to the root is leading again
	 * (found by tests/fuzz: "http://docke//docker/../v1.41/...").
	 * Canonical paths are a fixed point. */
	assert_canon("/x/../v1.41/containers/create", "/containers/create");
	assert_canon("//docker/../v1.41/containers/create", "/containers/create");
	assert_canon("/a/b/../../v1/v2/containers/create", "/containers/create");
	assert_canon("/x/..%2Fv1.41%2Fcontainers%2Fcreate", "/containers/create");
	assert_canon("/x/y/../v1.41/containers/create", "/x/v1.41/containers/create");
	/* Dot segments hidden behind escapes are cleaned too (Go decodes first). */
	assert_canon("/foo/%2e%2e/containers/create", "/containers/create");
	assert_canon("/containers/%2E/create", "/containers/create");
	/* Dots that are names stay. */
	assert_canon("/containers/.../create", "/containers/.../create");
	assert_canon("/containers/.x/create", "/containers/.x/create");
}

static void canon_trailing_slash(void **state)
{
	(void)state;
	assert_canon("/containers/create/", "/containers/create");
	assert_canon("/containers/create///", "/containers/create");
	assert_canon("/containers/create/./", "/containers/create");
	assert_canon("///", "/");
}

static void canon_percent(void **state)
{
	(void)state;
	assert_canon("/containers/%63reate", "/containers/create");
	assert_canon("/%63%6f%6e%74%61%69%6e%65%72%73/%63%72%65%61%74%65", "/containers/create");
	assert_canon("/containers/%43REATE", "/containers/create");
	assert_canon("/containers%2Fcreate", "/containers/create");
	assert_canon("/containers%2fcreate", "/containers/create");
	assert_canon("/containers%2F%2Fcreate%2F", "/containers/create");
	/* A decoded '?' or '#' is part of the path, not a separator. */
	assert_canon("/containers/create%3Fx=1", "/containers/create?x=1");
	assert_canon("/containers/create%23x", "/containers/create#x");
	assert_canon("/a%20b", "/a b");
}

static void canon_bad_escape(void **state)
{
	static const char *bad[] = {
		"/containers/%",     "/containers/%6",	"/containers/%zz", "/containers/%6g",
		"/containers/%g6",   "/containers/%%63", "/%",		   "/%0",
		"/containers/cre%2", "/x%-1",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_canon_bad(bad[i], strlen(bad[i]));
	/* A bad escape in the query does not matter: the query is not routed. */
	assert_canon("/containers/create?x=%zz", "/containers/create");
}

static void canon_nul(void **state)
{
	static const char raw_nul[] = "/containers/\0create";

	(void)state;
	assert_canon_bad("/containers/create%00", strlen("/containers/create%00"));
	assert_canon_bad("/containers%00/create", strlen("/containers%00/create"));
	assert_canon_bad(raw_nul, sizeof(raw_nul) - 1);
}

static void canon_case(void **state)
{
	(void)state;
	assert_canon("/CONTAINERS/CREATE", "/containers/create");
	assert_canon("/Containers/Create", "/containers/create");
	assert_canon("/Networks/CREATE/", "/networks/create");
	assert_canon("/EXEC/ABC/START", "/exec/abc/start");
}

static void canon_absolute_form(void **state)
{
	(void)state;
	assert_canon("http://docker/containers/create?x=1", "/containers/create");
	assert_canon("http://docker/v1.41/containers/create", "/containers/create");
	assert_canon("HTTP://DOCKER/Containers/Create", "/containers/create");
	assert_canon("http://localhost:2375/v1.41/_ping", "/_ping");
	assert_canon("http://docker/", "/");
	assert_canon("http://docker//containers/./create/", "/containers/create");
	assert_canon("http://docker/containers%2Fcreate", "/containers/create");
}

/* "http://host" is absolute-form with an empty path: RFC 9110 makes that
 * "/" (route.c's path_start() says so too). The authority ends at the first
 * '/', '?' or '#' (RFC 3986 3.2), so a '/' in the query is not the path. */
static void canon_absolute_form_no_path(void **state)
{
	(void)state;
	assert_canon("http://host", "/");
	assert_canon("http://host?x=1", "/");
	assert_canon("http://host?x=/containers/create", "/");
	assert_canon("http://host#/containers/create", "/");
}

static void canon_query_fragment(void **state)
{
	(void)state;
	assert_canon("/containers/create?name=x", "/containers/create");
	assert_canon("/containers/create?", "/containers/create");
	assert_canon("/containers/create?a=/../b", "/containers/create");
	assert_canon("/containers/create#frag", "/containers/create");
	assert_canon("/containers/create#frag?x=1", "/containers/create");
	assert_canon("/containers/create?x=1#frag", "/containers/create");
	assert_canon("/?x", "/");
}

static void canon_length(void **state)
{
	static char target[ROUTE_PATH_MAX + 64];

	(void)state;
	/* Exactly the limit: routed. */
	target[0] = '/';
	memset(target + 1, 'a', ROUTE_PATH_MAX - 1);
	target[ROUTE_PATH_MAX] = '\0';
	memset(out, 0, sizeof(out));
	assert_int_equal(route_canonical_path(target, ROUTE_PATH_MAX, out, sizeof(out)), 0);
	assert_int_equal(strlen(out), ROUTE_PATH_MAX);
	/* One more: refused. */
	memset(target + 1, 'a', ROUTE_PATH_MAX);
	assert_canon_bad(target, ROUTE_PATH_MAX + 1);
	/* A long query does not count. */
	memcpy(target, "/_ping?", 7);
	memset(target + 7, 'q', ROUTE_PATH_MAX + 10);
	memset(out, 0, sizeof(out));
	assert_int_equal(route_canonical_path(target, ROUTE_PATH_MAX + 17, out, sizeof(out)), 0);
	assert_string_equal(out, "/_ping");
	/* Escapes count as sent, not as decoded. */
	for (size_t i = 0; i + 3 <= ROUTE_PATH_MAX + 3; i += 3)
		memcpy(target + 1 + i, "%61", 3);
	assert_canon_bad(target, ROUTE_PATH_MAX + 1);
}

static void canon_asterisk(void **state)
{
	(void)state;
	assert_canon("*", "*");
	assert_canon_bad("**", 2);
	assert_canon_bad("*/x", 3);
}

static void canon_garbage(void **state)
{
	(void)state;
	assert_canon_bad("", 0);
	assert_canon_bad("containers/create", strlen("containers/create"));
	assert_canon_bad("docker:2375", strlen("docker:2375"));
	assert_canon_bad("http:", 5);
	/* Origin-form starts with a literal '/' (Go: "invalid URI for request"). */
	assert_canon_bad("%2Fcontainers/create", strlen("%2Fcontainers/create"));
	/* The length given counts, not the NUL. */
	assert_int_equal(route_canonical_path("/containers/createXYZ", 18, out, sizeof(out)), 0);
	assert_string_equal(out, "/containers/create");
}

static void query_offset(void **state)
{
	(void)state;
	assert_int_equal(route_query_offset("/a?b", 4), 2);
	assert_int_equal(route_query_offset("/a", 2), 2);
	assert_int_equal(route_query_offset("/a?", 3), 2);
	assert_int_equal(route_query_offset("/a?b?c", 6), 2);
	assert_int_equal(route_query_offset("/a?b", 2), 2); /* beyond len: none */
}

/* ---- route_lookup --------------------------------------------------------- */

static void lookup_creates(void **state)
{
	static const struct {
		const char *path;
		enum rewrite_kind body, query;
		enum resource_kind creates;
	} rows[] = {
		{ "/containers/create", REWRITE_CONTAINER_CREATE, REWRITE_NONE, RESOURCE_CONTAINER },
		{ "/networks/create", REWRITE_LABELS, REWRITE_NONE, RESOURCE_NETWORK },
		{ "/volumes/create", REWRITE_LABELS, REWRITE_NONE, RESOURCE_VOLUME },
		{ "/services/create", REWRITE_LABELS, REWRITE_NONE, RESOURCE_SERVICE },
		{ "/secrets/create", REWRITE_LABELS, REWRITE_NONE, RESOURCE_SECRET },
		{ "/configs/create", REWRITE_LABELS, REWRITE_NONE, RESOURCE_CONFIG },
		{ "/build", REWRITE_NONE, REWRITE_BUILD_QUERY, RESOURCE_IMAGE },
		{ "/commit", REWRITE_COMMIT, REWRITE_CHANGES_QUERY, RESOURCE_IMAGE },
		{ "/images/create", REWRITE_NONE, REWRITE_IMPORT_QUERY, RESOURCE_IMAGE },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct route *r = route_lookup(HTTP_POST, rows[i].path);

		assert_non_null(r);
		assert_int_equal(r->method, HTTP_POST);
		if (r->body != rows[i].body || r->query != rows[i].query ||
		    r->creates != rows[i].creates)
			fail_msg("POST %s: body %d query %d creates %d", rows[i].path, r->body,
				 r->query, r->creates);
		assert_true(r->flags & ROUTE_DRAIN_WAIT);
		assert_false(r->flags & ROUTE_HIJACK);
	}
}

static void lookup_creates_post_only(void **state)
{
	static const uint8_t methods[] = { HTTP_GET, HTTP_PUT, HTTP_HEAD, HTTP_DELETE,
					   HTTP_PATCH, HTTP_OPTIONS, 0xff };
	static const char *paths[] = { "/containers/create", "/networks/create",
				       "/volumes/create",    "/build",
				       "/commit",	     "/images/create",
				       "/exec/x/start",	     "/session" };

	(void)state;
	for (size_t m = 0; m < sizeof(methods); m++)
		for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
			assert_relay_row(route_lookup(methods[m], paths[i]));
}

/* SPEC: a client cannot override our labels. A swarm object's update
 * replaces its whole spec, Labels included (POST /services/{id}/update,
 * /secrets/{id}/update, /configs/{id}/update), so an update relayed as it
 * is drops the session's labels and the object outlives the teardown. */
static void lookup_hijack(void **state)
{
	const struct route *r;

	(void)state;
	r = route_lookup(HTTP_POST, "/containers/abc/attach");
	assert_true(r->flags & ROUTE_HIJACK);
	assert_int_equal(r->body, REWRITE_NONE);
	assert_int_equal(r->creates, RESOURCE_NONE);
	r = route_lookup(HTTP_GET, "/containers/abc/attach/ws");
	assert_true(r->flags & ROUTE_HIJACK);
	r = route_lookup(HTTP_POST, "/exec/0123456789abcdef/start");
	assert_true(r->flags & ROUTE_HIJACK);
	assert_false(r->flags & ROUTE_DRAIN_WAIT);
	r = route_lookup(HTTP_POST, "/session");
	assert_true(r->flags & ROUTE_HIJACK);
	r = route_lookup(HTTP_POST, "/grpc");
	assert_true(r->flags & ROUTE_HIJACK);
	/* Through the canonical path, as the relay does. */
	assert_true(route_of(HTTP_POST, "/v1.41/containers/My-Name/attach?stream=1")->flags &
		    ROUTE_HIJACK);
	assert_true(route_of(HTTP_POST, "/v1.41/exec/ABC/start/")->flags & ROUTE_HIJACK);
	/* Not hijacks. */
	assert_relay_row(route_lookup(HTTP_POST, "/containers/abc/attach/x"));
	assert_false(route_lookup(HTTP_POST, "/containers/abc/start")->flags & ROUTE_HIJACK);
	assert_relay_row(route_lookup(HTTP_POST, "/exec/abc/resize"));
	assert_relay_row(route_lookup(HTTP_POST, "/sessions"));
	assert_relay_row(route_lookup(HTTP_POST, "/session/x"));
	assert_relay_row(route_lookup(HTTP_POST, "/grpc/x"));
}

static void lookup_star_one_segment(void **state)
{
	(void)state;
	assert_relay_row(route_lookup(HTTP_POST, "/containers//attach"));
	assert_relay_row(route_lookup(HTTP_POST, "/containers/attach"));
	assert_relay_row(route_lookup(HTTP_POST, "/containers/a/b/attach"));
	assert_relay_row(route_lookup(HTTP_POST, "/containers/"));
	assert_relay_row(route_lookup(HTTP_POST, "/containers/abc"));
	assert_relay_row(route_lookup(HTTP_POST, "/exec//start"));
	assert_relay_row(route_lookup(HTTP_POST, "/exec/a/b/start"));
	assert_relay_row(route_lookup(HTTP_POST, "/exec/start"));
	assert_relay_row(route_lookup(HTTP_GET, "/containers//attach/ws"));
	/* One segment of any name. */
	assert_true(route_lookup(HTTP_POST, "/containers/a/attach")->flags & ROUTE_HIJACK);
	assert_true(route_lookup(HTTP_POST, "/containers/*/attach")->flags & ROUTE_HIJACK);
}

static void lookup_unknown(void **state)
{
	(void)state;
	assert_relay_row(route_lookup(HTTP_GET, "/_ping"));
	assert_relay_row(route_lookup(HTTP_GET, "/containers/json"));
	assert_relay_row(route_lookup(HTTP_POST, "/containers/create/x"));
	assert_relay_row(route_lookup(HTTP_POST, "/containers/creat"));
	assert_relay_row(route_lookup(HTTP_POST, "/containers/createx"));
	assert_relay_row(route_lookup(HTTP_POST, "/x/containers/create"));
	assert_relay_row(route_lookup(HTTP_POST, "/"));
	assert_relay_row(route_lookup(HTTP_POST, ""));
	assert_relay_row(route_lookup(HTTP_OPTIONS, "*"));
	/* route_lookup() matches canonical paths only: case is the caller's. */
	assert_relay_row(route_lookup(HTTP_POST, "/Containers/create"));
	assert_relay_row(route_lookup(HTTP_POST, "/v1.41/containers/create"));
}

/* Spellings a client may use for a create call all reach the rewrite. */
static void lookup_through_canonical(void **state)
{
	static const char *spellings[] = {
		"/containers/create",
		"/v1.41/containers/create?name=x",
		"/V1.41/CONTAINERS/CREATE",
		"/containers/%63reate",
		"/containers%2Fcreate",
		"//containers//create//",
		"/x/../containers/./create",
		"/../v1.41/v1.24/containers/create",
		"http://docker/v1.41/containers/create?name=x",
		"/containers/create#x",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++) {
		const struct route *r = route_of(HTTP_POST, spellings[i]);

		if (r->body != REWRITE_CONTAINER_CREATE)
			fail_msg("POST %s: not routed to the container create rewrite",
				 spellings[i]);
	}
	assert_int_equal(route_of(HTTP_POST, "/v1.41/build?t=x")->query, REWRITE_BUILD_QUERY);
	assert_int_equal(route_of(HTTP_POST, "/%62uild")->query, REWRITE_BUILD_QUERY);
	assert_int_equal(route_of(HTTP_POST, "/v1.41/Images/Create?fromSrc=-")->query,
			 REWRITE_IMPORT_QUERY);
	assert_int_equal(route_of(HTTP_POST, "/commit?container=x")->body, REWRITE_COMMIT);
	assert_relay_row(route_of(HTTP_GET, "/v1.41/containers/create"));
}

/* ---- the write surface: fail closed, groups, BuildKit -------------------------- */

/* The policy's answer for method and target (through the canonical path). */
static int policy_of(uint8_t method, const char *target, unsigned allow, char *msg, size_t n)
{
	const char *q = strchr(target, '?');
	const struct route *r = route_of(method, target);

	return route_policy(r, method, out, q ? q + 1 : "", q ? strlen(q + 1) : 0, allow, msg, n);
}

static void assert_refused(uint8_t method, const char *target, const char *option)
{
	char msg[512];

	if (policy_of(method, target, 0, msg, sizeof(msg)) != -403)
		fail_msg("%s %s not refused", llhttp_method_name(method), target);
	if (strncmp(msg, "ci-wrap: refused ", 17) != 0 || strstr(msg, option) == NULL)
		fail_msg("%s %s: message '%s' does not name %s", llhttp_method_name(method),
			 target, msg, option);
}

static void assert_passes(uint8_t method, const char *target, unsigned allow)
{
	char msg[512];

	if (policy_of(method, target, allow, msg, sizeof(msg)) != 0)
		fail_msg("%s %s refused: %s", llhttp_method_name(method), target, msg);
}

static void policy_fail_closed(void **state)
{
	(void)state;
	/* issue 15 item 8: plugins. */
	assert_refused(HTTP_POST, "/v1.41/plugins/pull?remote=vieux/sshfs", "--allow plugins");
	assert_refused(HTTP_POST, "/plugins/create?name=x", "--allow plugins");
	assert_refused(HTTP_POST, "/v1.25/plugins/vieux/sshfs:latest/enable", "--allow plugins");
	assert_refused(HTTP_POST, "/plugins/x/upgrade", "--allow plugins");
	assert_refused(HTTP_POST, "/plugins/x/set", "--allow plugins");
	assert_refused(HTTP_DELETE, "/plugins/a/b", "--allow plugins");
	/* Swarm. */
	assert_refused(HTTP_POST, "/swarm/init", "--allow swarm");
	assert_refused(HTTP_POST, "/v1.24/swarm/join", "--allow swarm");
	assert_refused(HTTP_POST, "/swarm/leave?force=1", "--allow swarm");
	assert_refused(HTTP_POST, "/swarm/update", "--allow swarm");
	assert_refused(HTTP_POST, "/swarm/unlock", "--allow swarm");
	assert_refused(HTTP_POST, "/services/abc/update?version=3", "--allow swarm");
	assert_refused(HTTP_POST, "/secrets/abc/update", "--allow swarm");
	assert_refused(HTTP_POST, "/configs/abc/update", "--allow swarm");
	assert_refused(HTTP_POST, "/nodes/abc/update", "--allow swarm");
	assert_refused(HTTP_DELETE, "/nodes/abc", "--allow swarm");
	/* Prunes are narrowed to the session's label (or, build cache,
	 * answered by the relay), not refused by the table. */
	for (size_t i = 0; i < 4; i++) {
		static const char *const prunes[] = { "/containers/prune", "/v1.12/images/prune",
						      "/volumes/prune", "/networks/prune" };
		const struct route *r = route_of(HTTP_POST, prunes[i]);

		assert_int_equal(r->query, REWRITE_PRUNE_QUERY);
		assert_int_equal(r->group, ROUTE_GROUP_PRUNE);
		assert_passes(HTTP_POST, prunes[i], 0);
	}
	assert_true(route_of(HTTP_POST, "/build/prune")->flags & ROUTE_PRUNE_NOTHING);
	/* Writes nobody reviewed, whatever the method. */
	assert_refused(HTTP_POST, "/containers/create/x", "--allow unknown");
	assert_refused(HTTP_POST, "/no/such/route", "--allow unknown");
	assert_refused(HTTP_PUT, "/volumes/x", "--allow unknown");
	assert_refused(HTTP_PATCH, "/containers/x", "--allow unknown");
	assert_refused(HTTP_DELETE, "/swarm", "--allow unknown");
	assert_refused(HTTP_POST, "/containers/x/checkpoints", "--allow checkpoints");
	assert_refused(HTTP_DELETE, "/containers/x/checkpoints/c1", "--allow checkpoints");
	/* Reviewed writes and every read pass. */
	assert_passes(HTTP_POST, "/containers/x/kill", 0);
	assert_passes(HTTP_POST, "/containers/a/b/stop", 0); /* moby's {name:.*} */
	assert_passes(HTTP_POST, "/containers/x/update", 0);
	assert_passes(HTTP_DELETE, "/containers/x?v=1", 0);
	assert_passes(HTTP_DELETE, "/images/registry:5000/a/b:1", 0);
	assert_passes(HTTP_POST, "/images/registry:5000/a/b/tag?repo=c", 0);
	assert_passes(HTTP_POST, "/networks/n/connect", 0);
	assert_passes(HTTP_DELETE, "/volumes/v", 0);
	assert_passes(HTTP_POST, "/auth", 0);
	assert_passes(HTTP_GET, "/plugins", 0);
	assert_passes(HTTP_GET, "/anything/at/all", 0);
	assert_passes(HTTP_HEAD, "/_ping", 0);
	assert_passes(HTTP_OPTIONS, "/plugins/pull", 0);
	/* An operator's --allow relays its group, and only it. */
	assert_passes(HTTP_POST, "/plugins/pull", ROUTE_GROUP_PLUGINS);
	assert_passes(HTTP_POST, "/swarm/init", ROUTE_GROUP_SWARM);
	assert_passes(HTTP_POST, "/no/such/route", ROUTE_GROUP_UNKNOWN);
	assert_refused(HTTP_POST, "/plugins/pull", "--allow plugins");
	{
		char msg[512];

		assert_int_equal(policy_of(HTTP_POST, "/swarm/init", ROUTE_GROUP_PLUGINS, msg,
					   sizeof(msg)),
				 -403);
	}
}

/* issue 15 item 3: BuildKit builds are refused, the classic builder is not. */
static void policy_buildkit(void **state)
{
	(void)state;
	assert_refused(HTTP_POST, "/v1.41/build?version=2&t=x", "DOCKER_BUILDKIT=0");
	assert_refused(HTTP_POST, "/build?t=x&version=%32", "--allow-buildkit");
	assert_refused(HTTP_POST, "/build?version=1&version=2", "--allow-buildkit");
	assert_refused(HTTP_POST, "/grpc", "--allow buildkit");
	assert_passes(HTTP_POST, "/build?version=1", 0);
	assert_passes(HTTP_POST, "/build?t=x", 0);
	assert_passes(HTTP_POST, "/build?xversion=2&version=22", 0);
	assert_passes(HTTP_POST, "/build?version=2;x=1", 0); /* Go skips the pair */
	assert_passes(HTTP_POST, "/build?version=2", ROUTE_GROUP_BUILDKIT);
	assert_passes(HTTP_POST, "/grpc", ROUTE_GROUP_BUILDKIT);
	assert_passes(HTTP_POST, "/session", 0);
}

static void allow_parse(void **state)
{
	unsigned mask = 0;
	char bad[64];

	(void)state;
	assert_int_equal(route_allow_parse("swarm,plugins", &mask, bad, sizeof(bad)), 0);
	assert_int_equal(mask, ROUTE_GROUP_SWARM | ROUTE_GROUP_PLUGINS);
	assert_int_equal(route_allow_parse(" buildkit, ,prune ", &mask, bad, sizeof(bad)), 0);
	assert_int_equal(mask, ROUTE_GROUP_SWARM | ROUTE_GROUP_PLUGINS | ROUTE_GROUP_BUILDKIT |
				       ROUTE_GROUP_PRUNE);
	assert_int_equal(route_allow_parse("", &mask, bad, sizeof(bad)), 0);
	assert_int_equal(route_allow_parse("swarm,plugin", &mask, bad, sizeof(bad)), -1);
	assert_string_equal(bad, "plugin");
	assert_int_equal(route_allow_parse("all", &mask, bad, sizeof(bad)), -1);
}

/* "**" is moby's {name:.*}: one or more segments, tried at every boundary. */
static void lookup_name_segments(void **state)
{
	const struct route *r;

	(void)state;
	r = route_lookup(HTTP_POST, "/containers/a/b/c/start");
	assert_int_equal(r->body, REWRITE_START_BODY);
	r = route_lookup(HTTP_POST, "/containers/start/start");
	assert_int_equal(r->body, REWRITE_START_BODY);
	assert_int_equal(route_lookup(HTTP_POST, "/containers//start")->action, ROUTE_REFUSE);
	assert_int_equal(route_lookup(HTTP_POST, "/containers/start")->action, ROUTE_REFUSE);
	/* The checkpoint rows come before DELETE /containers/{name}. */
	assert_int_equal(route_lookup(HTTP_DELETE, "/containers/x/checkpoints/y")->group,
			 ROUTE_GROUP_CHECKPOINTS);
	assert_int_equal(route_lookup(HTTP_DELETE, "/containers/x/y")->action, ROUTE_RELAY);
}

/* docs/write-surface.md carries the table as route_print_table() prints it. */
static void table_matches_docs(void **state)
{
	char *printed = NULL, *doc = NULL, *begin, *end;
	size_t plen = 0, dlen = 0;
	FILE *f = open_memstream(&printed, &plen);
	FILE *d = fopen("docs/write-surface.md", "r");

	(void)state;
	route_print_table(f);
	fclose(f);
	if (d == NULL)
		fail_msg("docs/write-surface.md: cannot open (run from the repository root)");
	f = open_memstream(&doc, &dlen);
	for (int c; (c = fgetc(d)) != EOF;)
		fputc(c, f);
	fclose(f);
	fclose(d);
	begin = strstr(doc, "<!-- BEGIN ROUTES -->\n");
	end = strstr(doc, "<!-- END ROUTES -->");
	assert_non_null(begin);
	assert_non_null(end);
	begin += strlen("<!-- BEGIN ROUTES -->\n");
	if ((size_t)(end - begin) != plen || memcmp(begin, printed, plen) != 0)
		fail_msg("docs/write-surface.md is stale: run make docs");
	free(printed);
	free(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(canon_plain),
		cmocka_unit_test(canon_version_prefix),
		cmocka_unit_test(canon_clean),
		cmocka_unit_test(canon_trailing_slash),
		cmocka_unit_test(canon_percent),
		cmocka_unit_test(canon_bad_escape),
		cmocka_unit_test(canon_nul),
		cmocka_unit_test(canon_case),
		cmocka_unit_test(canon_absolute_form),
		cmocka_unit_test(canon_absolute_form_no_path),
		cmocka_unit_test(canon_query_fragment),
		cmocka_unit_test(canon_length),
		cmocka_unit_test(canon_asterisk),
		cmocka_unit_test(canon_garbage),
		cmocka_unit_test(query_offset),
		cmocka_unit_test(lookup_creates),
		cmocka_unit_test(lookup_creates_post_only),
		cmocka_unit_test(lookup_hijack),
		cmocka_unit_test(lookup_star_one_segment),
		cmocka_unit_test(lookup_unknown),
		cmocka_unit_test(lookup_through_canonical),
		cmocka_unit_test(policy_fail_closed),
		cmocka_unit_test(policy_buildkit),
		cmocka_unit_test(allow_parse),
		cmocka_unit_test(lookup_name_segments),
		cmocka_unit_test(table_matches_docs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
