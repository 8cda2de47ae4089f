/* docker-get.c - parallel HTTP/1.0 GETs over a UNIX socket.
 *
 * HTTP/1.0 keeps the answers simple: dockerd (Go's net/http) answers a 1.0
 * request without chunked encoding and closes the connection after the
 * body, so an answer is everything read until EOF.
 */
#include "docker-get.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/util.h"

/* A listing of every container on a busy host stays well below this. */
#define GET_ANSWER_MAX (64u * 1024 * 1024)
#define GET_CHUNK 65536

static int open_get(const char *socket_path, struct docker_get *g, struct cw_error *err)
{
	char req[1024];
	int len;

	len = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: docker\r\n\r\n", g->path);
	if (len < 0 || (size_t)len >= sizeof(req))
		return cw_error_set(err, E2BIG, "GET %s: path too long", g->path);
	g->fd = unix_connect(socket_path, false);
	if (g->fd < 0)
		return cw_error_set(err, errno, "connecting to %s", socket_path);
	/* The request is small: the socket buffer takes it whole. */
	if (write_all(g->fd, req, (size_t)len) < 0)
		return cw_error_set(err, errno, "GET %s", g->path);
	return 0;
}

/* "HTTP/1.x NNN ...\r\n...\r\n\r\nBODY" into status and answer. */
static void parse_answer(struct docker_get *g)
{
	const char *body;

	if (g->buf == NULL || sscanf(g->buf, "HTTP/%*d.%*d %ld", &g->status) != 1) {
		g->status = 0;
		return;
	}
	body = strstr(g->buf, "\r\n\r\n");
	if (body)
		g->answer = json_loadb(body + 4, g->len - (size_t)(body + 4 - g->buf),
				       JSON_DECODE_ANY, NULL);
}

/* Read what is there; true once the answer is complete (EOF or error). */
static bool read_some(struct docker_get *g)
{
	ssize_t n;

	if (g->len >= GET_ANSWER_MAX)
		return true;
	/* Doubling: a large listing costs a few copies, not one per read. */
	if (g->len + GET_CHUNK + 1 > g->cap) {
		g->cap = g->cap ? g->cap * 2 : 2 * GET_CHUNK;
		g->buf = xrealloc(g->buf, g->cap);
	}
	n = read(g->fd, g->buf + g->len, GET_CHUNK);
	if (n < 0 && errno == EINTR)
		return false;
	if (n <= 0)
		return true;
	g->len += (size_t)n;
	g->buf[g->len] = '\0';
	return false;
}

/* Poll the open connections until each is at EOF or the time is up. */
static void collect(struct docker_get *gets, size_t n, int timeout_ms)
{
	_cleanup_free_ struct pollfd *pfd = xcalloc(n, sizeof(*pfd));
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	size_t open = 0;

	for (size_t i = 0; i < n; i++)
		open += gets[i].fd >= 0;
	while (open > 0 && now_ms() < deadline) {
		for (size_t i = 0; i < n; i++)
			pfd[i] = (struct pollfd){ .fd = gets[i].fd, .events = POLLIN };
		if (poll(pfd, n, (int)(deadline - now_ms())) < 0 && errno != EINTR)
			break;
		for (size_t i = 0; i < n; i++) {
			if (gets[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (read_some(&gets[i])) {
				close(gets[i].fd);
				gets[i].fd = -1;
				parse_answer(&gets[i]);
				open--;
			}
		}
	}
}

int docker_get_many(const char *socket_path, struct docker_get *gets, size_t n, int timeout_ms,
		    struct cw_error *err)
{
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		gets[i].status = 0;
		gets[i].answer = NULL;
		gets[i].buf = NULL;
		gets[i].len = gets[i].cap = 0;
		gets[i].fd = -1;
		if (rc == 0 && open_get(socket_path, &gets[i], err) < 0) {
			rc = -1;
			if (gets[i].fd >= 0)
				close(gets[i].fd);
			gets[i].fd = -1;
		}
	}
	collect(gets, n, timeout_ms);
	for (size_t i = 0; i < n; i++) {
		if (gets[i].fd >= 0) {
			close(gets[i].fd);
			gets[i].fd = -1;
		}
		if (rc == 0 && gets[i].status == 0)
			rc = cw_error_set(err, ETIMEDOUT, "GET %s: no answer", gets[i].path);
	}
	return rc;
}

long docker_get_one(const char *socket_path, const char *path, int timeout_ms, json_t **out)
{
	struct docker_get get = { .path = path };
	struct cw_error err;

	docker_get_many(socket_path, &get, 1, timeout_ms, &err);
	*out = get.answer;
	get.answer = NULL;
	docker_get_free(&get, 1);
	return get.status;
}

void docker_get_free(struct docker_get *gets, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		json_decref(gets[i].answer);
		free(gets[i].buf);
		gets[i].answer = NULL;
		gets[i].buf = NULL;
	}
}
