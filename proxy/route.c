/* route.c - canonical request paths and the routing table.
 *
 * The daemon (moby 20.10) routes with gorilla/mux on the *decoded* URL path,
 * so "/containers/%63reate" reaches the create handler. Unclean paths ("//",
 * "/./", "/../") get a redirect rather than a match, and matching is exact
 * in case; we canonicalise more generously than that (clean, fold case, strip
 * trailing slashes and every version prefix): routing a request to a rewrite
 * that the daemon would have refused anyway is harmless, the reverse is not.
 * For the same reason a write that no row names is refused, not relayed.
 */
#include "route.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "../common/util.h"
#include "llhttp.h"


#define ROW(m, p, fl, b, q, cr, act, grp, api, why) \
	{ HTTP_##m, p, fl, b, q, cr, act, grp, api, why }
#define RELAY(m, p, api, why) \
	ROW(m, p, 0, REWRITE_NONE, REWRITE_NONE, RESOURCE_NONE, ROUTE_RELAY, 0, api, why)
/* A relayed route that destroys or changes the object its path names:
 * refused for objects made outside ci-wrap (proxy/owner.h). */
#define ALTER(m, p, api, why) \
	ROW(m, p, ROUTE_ALTERS, REWRITE_NONE, REWRITE_NONE, RESOURCE_NONE, ROUTE_RELAY, 0, api, why)
/* A prune: narrowed to the session's objects with a label filter, relayed
 * whole with --allow prune. */
#define PRUNE(p, api, why) \
	ROW(POST, p, 0, REWRITE_NONE, REWRITE_PRUNE_QUERY, RESOURCE_NONE, ROUTE_REWRITE, \
	    ROUTE_GROUP_PRUNE, api, why)
#define REFUSE(m, p, grp, api, why) \
	ROW(m, p, 0, REWRITE_NONE, REWRITE_NONE, RESOURCE_NONE, ROUTE_REFUSE, grp, api, why)
#define HIJACK(m, p, act, grp, why) \
	ROW(m, p, ROUTE_HIJACK, REWRITE_NONE, REWRITE_NONE, RESOURCE_NONE, act, grp, "", why)

/* Every route of moby 20.10 (API 1.41) but its GETs and HEADs, and the GET
 * that hijacks. The daemon's router does not gate routes by API version:
 * /v1.12/plugins/pull reaches the same handler as /v1.41/plugins/pull; the
 * api column says where a handler behaves differently by version. moby's
 * "{name:.*}" is "**" here (a container, image or plugin reference may hold
 * '/'), its "{id}" is "*". The first matching row wins, as in gorilla/mux,
 * so narrower rows come before the "**" rows that would also match them. */
static const struct route routes[] = {
	/* Containers. */
	ROW(POST, "/containers/create", ROUTE_DRAIN_WAIT, REWRITE_CONTAINER_CREATE, REWRITE_NONE,
	    RESOURCE_CONTAINER, ROUTE_REWRITE, 0, "",
	    "labels; HostConfig.CgroupParent forced; every volume mount's VolumeOptions.Labels; "
	    "the named volumes of Binds created first, labelled"),
	PRUNE("/containers/prune", "documented from 1.25",
	      "a filter label=ci-wrap.session=ID is added: only the session's stopped containers go; "
	      "--allow prune relays it whole"),
	ROW(POST, "/containers/**/start", ROUTE_BODY_IF_ANY | ROUTE_ALTERS, REWRITE_START_BODY,
	    REWRITE_NONE, RESOURCE_NONE, ROUTE_REWRITE, 0, "below 1.24 a body replaces the HostConfig",
	    "a body other than {} or null is refused: it would move the container out of the "
	    "pool and create its binds' volumes unlabelled"),
	ALTER(POST, "/containers/**/update", "documented from 1.22",
	      "changes resources and restart policy, never the cgroup parent; the kernel keeps "
	      "a container's limits within the pool's, whatever it asks"),
	ALTER(POST, "/containers/**/kill", "", "signals a container"),
	ALTER(POST, "/containers/**/pause", "", "freezes a container"),
	ALTER(POST, "/containers/**/unpause", "", "thaws a container"),
	ALTER(POST, "/containers/**/restart", "", "restarts a container, in its cgroup"),
	ALTER(POST, "/containers/**/stop", "", "stops a container"),
	RELAY(POST, "/containers/**/wait", "", "waits for a container"),
	RELAY(POST, "/containers/**/resize", "", "resizes a container's TTY"),
	ALTER(POST, "/containers/**/rename", "", "renames a container"),
	RELAY(POST, "/containers/**/exec", "",
	      "makes an exec instance; it runs in the container's cgroup, in the pool"),
	RELAY(POST, "/containers/**/copy", "below 1.24 only (404 from 1.24)",
	      "reads a file out of a container"),
	HIJACK(POST, "/containers/*/attach", ROUTE_RELAY, 0, "streams a container's stdio"),
	HIJACK(GET, "/containers/*/attach/ws", ROUTE_RELAY, 0, "streams a container's stdio"),
	RELAY(PUT, "/containers/**/archive", "", "writes files into a container"),
	REFUSE(POST, "/containers/**/checkpoints", ROUTE_GROUP_CHECKPOINTS,
	       "experimental daemons", "dumps a container with CRIU; not reviewed"),
	REFUSE(DELETE, "/containers/**/checkpoints/*", ROUTE_GROUP_CHECKPOINTS,
	       "experimental daemons", "removes a checkpoint; not reviewed"),
	ALTER(DELETE, "/containers/**", "", "removes a container (v=1: its anonymous volumes)"),
	HIJACK(POST, "/exec/*/start", ROUTE_RELAY, 0, "starts an exec instance, streams it"),
	RELAY(POST, "/exec/**/resize", "", "resizes an exec's TTY"),
	ROW(POST, "/commit", ROUTE_DRAIN_WAIT, REWRITE_COMMIT, REWRITE_CHANGES_QUERY, RESOURCE_IMAGE,
	    ROUTE_REWRITE, 0, "",
	    "labels in the config body and a last changes=LABEL; a change line that continues "
	    "or starts with '#' is refused"),
	/* Images. */
	ROW(POST, "/build", ROUTE_DRAIN_WAIT | ROUTE_BUILDKIT, REWRITE_NONE, REWRITE_BUILD_QUERY,
	    RESOURCE_IMAGE, ROUTE_REWRITE, ROUTE_GROUP_BUILDKIT, "version=2 (BuildKit) from 1.31",
	    "labels= and cgroupparent= forced, forcerm=1; version=2 (BuildKit) is refused: its "
	    "RUN steps run in the daemon's cgroup, outside the pool"),
	ROW(POST, "/build/prune", ROUTE_PRUNE_NOTHING, REWRITE_NONE, REWRITE_NONE, RESOURCE_NONE,
	    ROUTE_REWRITE, ROUTE_GROUP_PRUNE, "documented from 1.31",
	    "build cache has no owner: with isolation on ci-wrap answers that nothing was "
	    "pruned (`docker system prune` goes on); with --isolation off it is refused"),
	RELAY(POST, "/build/cancel", "", "cancels a build"),
	ROW(POST, "/images/create", ROUTE_DRAIN_WAIT, REWRITE_NONE, REWRITE_IMPORT_QUERY,
	    RESOURCE_IMAGE, ROUTE_REWRITE, 0, "",
	    "an import (fromSrc=) gets a last changes=LABEL, checked as for /commit; a pull is "
	    "relayed (a pulled image is shared, never removed)"),
	ROW(POST, "/images/load", ROUTE_DRAIN_WAIT | ROUTE_IMAGE_LOAD, REWRITE_NONE, REWRITE_NONE,
	    RESOURCE_NONE, ROUTE_TRACK, 0, "",
	    "cannot be labelled: the images it reports that did not exist before are removed "
	    "at teardown"),
	PRUNE("/images/prune", "documented from 1.25",
	      "a filter label=ci-wrap.session=ID is added: only the session's unused images go; "
	      "--allow prune relays it whole"),
	RELAY(POST, "/images/**/push", "", "pushes an image to a registry"),
	ROW(POST, "/images/**/tag", ROUTE_DRAIN_WAIT | ROUTE_IMAGE_TAG, REWRITE_NONE, REWRITE_NONE,
	    RESOURCE_NONE, ROUTE_TRACK, 0, "",
	    "adds a tag (taking it from the image that had it): a tag put on an image from "
	    "before the session is taken off at teardown, or given back to the image it named"),
	ALTER(DELETE, "/images/**", "", "untags or removes an image"),
	RELAY(POST, "/auth", "", "checks registry credentials; changes nothing"),
	/* Networks and volumes. */
	ROW(POST, "/networks/create", ROUTE_DRAIN_WAIT, REWRITE_LABELS, REWRITE_NONE,
	    RESOURCE_NETWORK, ROUTE_REWRITE, 0, "", "labels"),
	PRUNE("/networks/prune", "documented from 1.25",
	      "a filter label=ci-wrap.session=ID is added: only the session's unused networks go; "
	      "--allow prune relays it whole"),
	ROW(POST, "/networks/**/connect", 0, REWRITE_NETWORK_CONNECT, REWRITE_NONE, RESOURCE_NONE,
	    ROUTE_RELAY, 0, "", "connects a container to a network; the container it names is "
	    "checked as the session's"),
	ROW(POST, "/networks/**/disconnect", ROUTE_ALTERS, REWRITE_NETWORK_CONNECT, REWRITE_NONE,
	    RESOURCE_NONE, ROUTE_RELAY, 0, "", "disconnects a container from a network; the "
	    "container it names is checked as the session's"),
	ALTER(DELETE, "/networks/**", "", "removes a network"),
	ROW(POST, "/volumes/create", ROUTE_DRAIN_WAIT, REWRITE_LABELS, REWRITE_NONE,
	    RESOURCE_VOLUME, ROUTE_REWRITE, 0, "", "labels"),
	PRUNE("/volumes/prune", "documented from 1.25",
	      "a filter label=ci-wrap.session=ID is added: only the session's unused volumes go; "
	      "--allow prune relays it whole"),
	ALTER(DELETE, "/volumes/**", "", "removes a volume"),
	/* Swarm: a job must not make the agent a manager behind the operator's
	 * back, nor drop an object's labels by updating it. */
	REFUSE(POST, "/swarm/init", ROUTE_GROUP_SWARM, "", "makes this host a swarm manager"),
	REFUSE(POST, "/swarm/join", ROUTE_GROUP_SWARM, "", "joins this host to a swarm"),
	REFUSE(POST, "/swarm/leave", ROUTE_GROUP_SWARM, "", "takes this host out of its swarm"),
	REFUSE(POST, "/swarm/update", ROUTE_GROUP_SWARM, "", "changes the swarm's settings"),
	REFUSE(POST, "/swarm/unlock", ROUTE_GROUP_SWARM, "", "unlocks a locked manager"),
	ROW(POST, "/services/create", ROUTE_DRAIN_WAIT, REWRITE_LABELS, REWRITE_NONE,
	    RESOURCE_SERVICE, ROUTE_REWRITE, 0, "", "labels"),
	REFUSE(POST, "/services/*/update", ROUTE_GROUP_SWARM, "",
	       "replaces a service's spec, its labels too"),
	ALTER(DELETE, "/services/*", "", "removes a service"),
	REFUSE(POST, "/nodes/*/update", ROUTE_GROUP_SWARM, "", "changes a node's role and labels"),
	REFUSE(DELETE, "/nodes/*", ROUTE_GROUP_SWARM, "", "removes a node from the swarm"),
	ROW(POST, "/secrets/create", ROUTE_DRAIN_WAIT, REWRITE_LABELS, REWRITE_NONE,
	    RESOURCE_SECRET, ROUTE_REWRITE, 0, "documented from 1.25", "labels"),
	REFUSE(POST, "/secrets/*/update", ROUTE_GROUP_SWARM, "documented from 1.25",
	       "replaces a secret's spec, its labels too"),
	ALTER(DELETE, "/secrets/*", "documented from 1.25", "removes a secret"),
	ROW(POST, "/configs/create", ROUTE_DRAIN_WAIT, REWRITE_LABELS, REWRITE_NONE,
	    RESOURCE_CONFIG, ROUTE_REWRITE, 0, "documented from 1.30", "labels"),
	REFUSE(POST, "/configs/*/update", ROUTE_GROUP_SWARM, "documented from 1.30",
	       "replaces a config's spec, its labels too"),
	ALTER(DELETE, "/configs/*", "documented from 1.30", "removes a config"),
	/* Plugins run as root outside any pool, carry no labels and outlive
	 * the session. */
	REFUSE(POST, "/plugins/pull", ROUTE_GROUP_PLUGINS, "documented from 1.25",
	       "installs a plugin, outside the pool and unlabelled"),
	REFUSE(POST, "/plugins/create", ROUTE_GROUP_PLUGINS, "documented from 1.25",
	       "installs a plugin from a tar, outside the pool and unlabelled"),
	REFUSE(POST, "/plugins/**/enable", ROUTE_GROUP_PLUGINS, "documented from 1.25",
	       "starts a plugin as root, outside the pool"),
	REFUSE(POST, "/plugins/**/disable", ROUTE_GROUP_PLUGINS, "documented from 1.25",
	       "stops a plugin other jobs may use"),
	REFUSE(POST, "/plugins/**/upgrade", ROUTE_GROUP_PLUGINS, "documented from 1.26",
	       "replaces a plugin's code"),
	REFUSE(POST, "/plugins/**/set", ROUTE_GROUP_PLUGINS, "documented from 1.25",
	       "configures a plugin (mounts, devices, env)"),
	REFUSE(POST, "/plugins/**/push", ROUTE_GROUP_PLUGINS, "documented from 1.25",
	       "pushes a plugin"),
	REFUSE(DELETE, "/plugins/**", ROUTE_GROUP_PLUGINS, "documented from 1.25",
	       "removes a plugin other jobs may use"),
	/* BuildKit's client sessions and its controller. */
	HIJACK(POST, "/session", ROUTE_RELAY, 0,
	       "the client side of a build (file sync, credentials); runs nothing itself"),
	HIJACK(POST, "/grpc", ROUTE_REFUSE, ROUTE_GROUP_BUILDKIT,
	       "BuildKit's controller (docker buildx, docker driver): images without labels, "
	       "RUN steps outside the pool"),
};

#undef ROW
#undef RELAY
#undef REFUSE
#undef ALTER
#undef PRUNE
#undef HIJACK

/* What a request the table does not name gets. */
static const struct route read_route = { 0, "", 0, REWRITE_NONE, REWRITE_NONE, RESOURCE_NONE,
					 ROUTE_READ, 0, "", "reads" };
static const struct route unknown_route = {
	0,	    "", 0, REWRITE_NONE, REWRITE_NONE, RESOURCE_NONE, ROUTE_REFUSE, ROUTE_GROUP_UNKNOWN,
	"",	    "not a write route of moby 20.10 that ci-wrap has reviewed"
};

/* Names of enum route_group, by bit: what --allow takes. */
static const char *const group_names[] = { "buildkit", "plugins",     "swarm",
					   "prune",    "checkpoints", "unknown" };

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Skip "scheme://authority" of an absolute-form target; the rest is the
 * path, "/" when empty. Returns the offset of the path. */
static size_t path_start(const char *t, size_t len)
{
	const char *sep;
	size_t i;

	if (len > 0 && t[0] == '/')
		return 0;
	sep = memmem(t, len, "://", 3);
	if (sep == NULL)
		return len;
	for (i = (size_t)(sep - t) + 3; i < len && t[i] != '/' && t[i] != '?' && t[i] != '#'; i++)
		;
	return i < len && t[i] == '/' ? i : len; /* no path: the root */
}

size_t route_query_offset(const char *target, size_t len)
{
	const char *q = memchr(target, '?', len);

	return q ? (size_t)(q - target) : len;
}

/* Percent-decode t[0..len) into out, lower-cased if lower; -1 on a bad
 * escape or NUL. */
static int decode(const char *t, size_t len, bool lower, char *out, size_t outsz, size_t *outlen)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)t[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return -1;
			hi = hexval(t[i + 1]);
			lo = hexval(t[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = hi * 16 + lo;
			i += 2;
		}
		if (c == 0 || n + 1 >= outsz)
			return -1;
		out[n++] = (char)(lower ? tolower(c) : c);
	}
	out[n] = '\0';
	*outlen = n;
	return 0;
}

static bool is_version_segment(const char *seg, size_t len)
{
	if (len == 0 || tolower((unsigned char)seg[0]) != 'v')
		return false;
	for (size_t i = 1; i < len; i++)
		if (!isdigit((unsigned char)seg[i]) && seg[i] != '.')
			return false;
	return true;
}

/* Clean a decoded path in place like path.Clean, dropping trailing slashes
 * and every leading version segment. */
static void clean_path(char *p, size_t len)
{
	char out[ROUTE_PATH_MAX + 2];
	size_t n = 0, i = 0, skip = 0;

	while (i < len) {
		size_t start, seglen;

		while (i < len && p[i] == '/')
			i++;
		start = i;
		while (i < len && p[i] != '/')
			i++;
		seglen = i - start;
		if (seglen == 0 || (seglen == 1 && p[start] == '.'))
			continue;
		if (seglen == 2 && p[start] == '.' && p[start + 1] == '.') {
			while (n > 0 && out[n - 1] != '/')
				n--;
			if (n > 0)
				n--;
			continue;
		}
		out[n++] = '/';
		memcpy(out + n, p + start, seglen);
		n += seglen;
	}
	/* Every leading version segment goes, also one that ".." exposed. */
	while (skip < n) {
		size_t end = skip + 1;

		while (end < n && out[end] != '/')
			end++;
		if (!is_version_segment(out + skip + 1, end - skip - 1))
			break;
		skip = end;
	}
	n -= skip;
	memmove(out, out + skip, n);
	if (n == 0)
		out[n++] = '/';
	memcpy(p, out, n);
	p[n] = '\0';
}

/* The canonical path, lower-cased or with its case kept. */
static int reduce_path(const char *target, size_t len, bool lower, char *out, size_t outsz)
{
	size_t start = path_start(target, len);
	size_t end, n;
	const char *hash;

	if (start == len && (len == 0 || target[0] != '/')) {
		/* "http://host" is the root; "*" (OPTIONS) is itself; the rest
		 * has no path to route. */
		bool absolute = memmem(target, len, "://", 3) != NULL;
		bool asterisk = len == 1 && target[0] == '*';

		if (outsz < 2)
			return -1;
		strcpy(out, absolute ? "/" : asterisk ? "*" : "");
		return absolute || asterisk ? 0 : -1;
	}
	end = start + route_query_offset(target + start, len - start);
	hash = memchr(target + start, '#', end - start);
	if (hash != NULL)
		end = (size_t)(hash - target);
	if (end - start > ROUTE_PATH_MAX || outsz < ROUTE_PATH_MAX + 2)
		return -1;
	if (decode(target + start, end - start, lower, out, outsz, &n) < 0)
		return -1;
	clean_path(out, n);
	return 0;
}

int route_canonical_path(const char *target, size_t len, char *out, size_t outsz)
{
	return reduce_path(target, len, true, out, outsz);
}

int route_decoded_path(const char *target, size_t len, char *out, size_t outsz)
{
	return reduce_path(target, len, false, out, outsz);
}

/* Match path against pattern: "*" is one non-empty segment, "**" one or
 * more (moby's "{name:.*}"), anything else itself. */
static bool pattern_matches(const char *pattern, const char *path)
{
	while (*pattern != '\0' && *path != '\0') {
		if (pattern[0] == '*' && pattern[1] == '*') {
			if (*path == '/')
				return false; /* an empty segment is not a name */
			/* The name may end at any later segment boundary. */
			for (const char *p = path + 1;; p++) {
				if ((*p == '/' || *p == '\0') && pattern_matches(pattern + 2, p))
					return true;
				if (*p == '\0')
					return false;
			}
		}
		if (*pattern == '*') {
			const char *slash = strchr(path, '/');

			if (slash == path)
				return false; /* an empty segment is not a name */
			path = slash ? slash : path + strlen(path);
			pattern++;
			continue;
		}
		if (*pattern != *path)
			return false;
		pattern++;
		path++;
	}
	return *pattern == '\0' && *path == '\0';
}

const struct route *route_lookup(uint8_t method, const char *canonical)
{
	for (size_t i = 0; i < ARRAY_SIZE(routes); i++)
		if (routes[i].method == method && pattern_matches(routes[i].pattern, canonical))
			return &routes[i];
	/* Fail closed: a write that no row names is nobody's review. ("" is
	 * the placeholder the relay uses before a request is routed.) */
	if (*canonical == '\0' || method == HTTP_GET || method == HTTP_HEAD ||
	    method == HTTP_OPTIONS)
		return &read_route;
	return &unknown_route;
}

static const char *group_name(unsigned group)
{
	for (size_t i = 0; i < ARRAY_SIZE(group_names); i++)
		if (group == 1u << i)
			return group_names[i];
	return "?";
}

int route_policy(const struct route *r, uint8_t method, const char *path, const char *query,
		 size_t qlen, unsigned allow, char *msg, size_t msgsz)
{
	if (r->action == ROUTE_REFUSE && !(allow & r->group)) {
		snprintf(msg, msgsz,
			 "ci-wrap: refused %s %.100s: %s; an operator can relay it with --allow %s",
			 llhttp_method_name(method), path, r->why, group_name(r->group));
		return -403;
	}
	if ((r->flags & ROUTE_BUILDKIT) && !(allow & ROUTE_GROUP_BUILDKIT) &&
	    rewrite_query_has(query, qlen, "version", "2")) {
		snprintf(msg, msgsz,
			 "ci-wrap: refused a BuildKit build (POST /build?version=2): its RUN steps "
			 "would run in the daemon's cgroup, outside the session's pool; build with "
			 "the classic builder (DOCKER_BUILDKIT=0), or run ci-wrap with "
			 "--allow-buildkit");
		return -403;
	}
	return 0;
}

int route_allow_parse(const char *list, unsigned *mask, char *bad, size_t badsz)
{
	return parse_name_list(list, group_names, ARRAY_SIZE(group_names), mask, bad, badsz);
}

const char *route_allow_names(void)
{
	return "buildkit, plugins, swarm, prune, checkpoints, unknown";
}

/* A pattern as moby's router writes it: "**" is {name}, "*" is {id}. */
static void print_pattern(FILE *f, const char *p)
{
	for (; *p != '\0'; p++) {
		if (p[0] == '*' && p[1] == '*') {
			fputs("{name}", f);
			p++;
		} else if (*p == '*') {
			fputs("{id}", f);
		} else {
			fputc(*p, f);
		}
	}
}

static void print_action(FILE *f, const struct route *r)
{
	static const char *const names[] = { "read", "relay", "rewrite", "track", "refuse" };

	fputs(names[r->action], f);
	if (r->group != 0 && r->action == ROUTE_REFUSE)
		fprintf(f, " (`--allow %s`)", group_name(r->group));
	else if (r->group != 0 && (r->flags & ROUTE_BUILDKIT))
		fprintf(f, " (version=2: refuse, `--allow %s`)", group_name(r->group));
	else if (r->group != 0)
		fprintf(f, " (whole with `--allow %s`)", group_name(r->group));
	if (r->flags & ROUTE_ALTERS)
		fputs(", own objects only", f);
	if (r->flags & ROUTE_HIJACK)
		fputs(", may hijack", f);
}

void route_print_table(FILE *f)
{
	fputs("| method | path | API versions | ci-wrap | what it changes; why |\n"
	      "| --- | --- | --- | --- | --- |\n",
	      f);
	for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
		const struct route *r = &routes[i];

		fprintf(f, "| %s | `", llhttp_method_name(r->method));
		print_pattern(f, r->pattern);
		fprintf(f, "` | 1.12-1.41%s%s | ", *r->api ? ": " : "", r->api);
		print_action(f, r);
		fprintf(f, " | %s |\n", r->why);
	}
	fprintf(f, "| any but GET, HEAD, OPTIONS | any other | 1.12-1.41 | refuse (`--allow %s`) | %s |\n",
		group_name(ROUTE_GROUP_UNKNOWN), unknown_route.why);
}
