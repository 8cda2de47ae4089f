/* route.c - canonical request paths and the routing table.
 *
 * The daemon (moby 20.10) routes with gorilla/mux on the *decoded* URL path,
 * so "/containers/%63reate" reaches the create handler. Unclean paths ("//",
 * "/./", "/../") get a redirect rather than a match, and matching is exact
 * in case; we canonicalise more generously than that (clean, fold case, strip
 * trailing slashes and every version prefix): routing a request to a rewrite
 * that the daemon would have refused anyway is harmless, the reverse is not.
 */
#include "route.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "llhttp.h"

static const struct route routes[] = {
	/* Containers: labels and the pool as cgroup parent. */
	{ HTTP_POST, "/containers/create", ROUTE_DRAIN_WAIT, REWRITE_CONTAINER_CREATE,
	  REWRITE_NONE, RESOURCE_CONTAINER },
	/* Networks, volumes and swarm objects: labels at the top of the body. */
	{ HTTP_POST, "/networks/create", ROUTE_DRAIN_WAIT, REWRITE_LABELS, REWRITE_NONE,
	  RESOURCE_NETWORK },
	{ HTTP_POST, "/volumes/create", ROUTE_DRAIN_WAIT, REWRITE_LABELS, REWRITE_NONE,
	  RESOURCE_VOLUME },
	{ HTTP_POST, "/services/create", ROUTE_DRAIN_WAIT, REWRITE_LABELS, REWRITE_NONE,
	  RESOURCE_SERVICE },
	{ HTTP_POST, "/secrets/create", ROUTE_DRAIN_WAIT, REWRITE_LABELS, REWRITE_NONE,
	  RESOURCE_SECRET },
	{ HTTP_POST, "/configs/create", ROUTE_DRAIN_WAIT, REWRITE_LABELS, REWRITE_NONE,
	  RESOURCE_CONFIG },
	/* Images: the build's labels and cgroup parent are query parameters;
	 * commit takes labels in its config body and LABEL changes in the query,
	 * which the daemon applies last, so both are rewritten. */
	{ HTTP_POST, "/build", ROUTE_DRAIN_WAIT, REWRITE_NONE, REWRITE_BUILD_QUERY,
	  RESOURCE_IMAGE },
	{ HTTP_POST, "/commit", ROUTE_DRAIN_WAIT, REWRITE_COMMIT, REWRITE_CHANGES_QUERY,
	  RESOURCE_IMAGE },
	{ HTTP_POST, "/images/create", ROUTE_DRAIN_WAIT, REWRITE_NONE, REWRITE_IMPORT_QUERY,
	  RESOURCE_IMAGE },
	/* A loaded image cannot be labelled: the proxy reads what the answer
	 * says was loaded, for teardown. */
	{ HTTP_POST, "/images/load", ROUTE_DRAIN_WAIT | ROUTE_IMAGE_LOAD, REWRITE_NONE,
	  REWRITE_NONE, RESOURCE_NONE },
	/* Streams the daemon may hijack (101 Upgrade, or 200 and a raw stream). */
	{ HTTP_POST, "/containers/*/attach", ROUTE_HIJACK, REWRITE_NONE, REWRITE_NONE,
	  RESOURCE_NONE },
	{ HTTP_GET, "/containers/*/attach/ws", ROUTE_HIJACK, REWRITE_NONE, REWRITE_NONE,
	  RESOURCE_NONE },
	{ HTTP_POST, "/exec/*/start", ROUTE_HIJACK, REWRITE_NONE, REWRITE_NONE,
	  RESOURCE_NONE },
	{ HTTP_POST, "/session", ROUTE_HIJACK, REWRITE_NONE, REWRITE_NONE, RESOURCE_NONE },
	{ HTTP_POST, "/grpc", ROUTE_HIJACK, REWRITE_NONE, REWRITE_NONE, RESOURCE_NONE },
};

static const struct route relay_route = { 0, "", 0, REWRITE_NONE, REWRITE_NONE,
					  RESOURCE_NONE };

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

/* Percent-decode t[0..len) into out, lower-cased; -1 on a bad escape or NUL. */
static int decode_lower(const char *t, size_t len, char *out, size_t outsz, size_t *outlen)
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
		out[n++] = (char)tolower(c);
	}
	out[n] = '\0';
	*outlen = n;
	return 0;
}

static bool is_version_segment(const char *seg, size_t len)
{
	if (len == 0 || seg[0] != 'v')
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

int route_canonical_path(const char *target, size_t len, char *out, size_t outsz)
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
	if (decode_lower(target + start, end - start, out, outsz, &n) < 0)
		return -1;
	clean_path(out, n);
	return 0;
}

static bool pattern_matches(const char *pattern, const char *path)
{
	while (*pattern != '\0' && *path != '\0') {
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
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (routes[i].method == method && pattern_matches(routes[i].pattern, canonical))
			return &routes[i];
	return &relay_route;
}
