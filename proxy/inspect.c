/* inspect.c - one GET to the daemon beside the relay (see inspect.h).
 *
 * HTTP/1.0 on a connection of its own: Go's server then neither chunks nor
 * keeps the connection, so the body is everything up to EOF and the answer
 * needs no parser of its own.
 */
#include "inspect.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/util.h"

struct inspect {
	struct ev_loop *loop; /* serves it */
	int fd;		      /* the daemon connection */
	ev_io io;	      /* watches it */
	ev_timer timer;	      /* bounds the whole exchange */
	char *req;	      /* the request */
	size_t req_len;	      /* its length */
	size_t req_off;	      /* bytes of it written */
	char *buf;	      /* the answer so far */
	size_t len, cap;      /* its length and allocation */
	size_t max;	      /* the longest answer read */
	inspect_done_fn done; /* the caller's callback */
	void *arg;	      /* its argument */
};

static void inspect_free(struct inspect *q)
{
	ev_io_stop(q->loop, &q->io);
	ev_timer_stop(q->loop, &q->timer);
	close(q->fd);
	free(q->req);
	free(q->buf);
	free(q);
}

void inspect_cancel(struct inspect *q)
{
	if (q != NULL)
		inspect_free(q);
}

/* Hand the answer over and free the exchange (done may start another). */
static void finish(struct inspect *q, bool complete)
{
	inspect_done_fn done = q->done;
	void *arg = q->arg;
	json_t *body = NULL;
	int status = 0;

	if (complete && q->len > 0) {
		const char *sep = memmem(q->buf, q->len, "\r\n\r\n", 4);

		q->buf[q->len] = '\0';
		if (sscanf(q->buf, "HTTP/%*d.%*d %d", &status) != 1 || sep == NULL)
			status = 0;
		else
			body = json_loadb(sep + 4, q->len - (size_t)(sep + 4 - q->buf),
					  JSON_DECODE_ANY, NULL);
	}
	inspect_free(q);
	done(arg, status, body);
	json_decref(body);
}

static void on_write(struct inspect *q)
{
	ssize_t n = write(q->fd, q->req + q->req_off, q->req_len - q->req_off);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		finish(q, false);
		return;
	}
	q->req_off += (size_t)n;
	if (q->req_off == q->req_len) {
		ev_io_stop(q->loop, &q->io);
		ev_io_set(&q->io, q->fd, EV_READ);
		ev_io_start(q->loop, &q->io);
	}
}

static void on_read(struct inspect *q)
{
	ssize_t n;

	/* Room for max bytes, one more to see it is longer, and a NUL. */
	if (q->cap - q->len < 16384 + 1 && q->cap < q->max + 2) {
		q->cap = q->cap ? q->cap * 2 : 32768;
		if (q->cap > q->max + 2)
			q->cap = q->max + 2;
		q->buf = xrealloc(q->buf, q->cap);
	}
	n = read(q->fd, q->buf + q->len, q->cap - q->len - 1);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		finish(q, n == 0);
		return;
	}
	q->len += (size_t)n;
	if (q->len > q->max)
		finish(q, false);
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct inspect *q = w->data;

	(void)loop;
	(void)revents;
	if (q->req_off < q->req_len)
		on_write(q);
	else
		on_read(q);
}

static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	finish(w->data, false);
}

struct inspect *inspect_get(struct ev_loop *loop, const char *socket_path, const char *path,
			    inspect_done_fn done, void *arg)
{
	return inspect_get_max(loop, socket_path, path, INSPECT_ANSWER_MAX, done, arg);
}

struct inspect *inspect_get_max(struct ev_loop *loop, const char *socket_path, const char *path,
				size_t max, inspect_done_fn done, void *arg)
{
	struct inspect *q;
	int fd = unix_connect(socket_path, true);

	if (fd < 0)
		return NULL;
	q = xcalloc(1, sizeof(*q));
	q->loop = loop;
	q->fd = fd;
	q->max = max;
	q->done = done;
	q->arg = arg;
	if (asprintf(&q->req, "GET %s HTTP/1.0\r\nHost: docker\r\n\r\n", path) < 0)
		abort();
	q->req_len = strlen(q->req);
	ev_io_init(&q->io, on_io, fd, EV_WRITE);
	q->io.data = q;
	ev_timer_init(&q->timer, on_timeout, INSPECT_TIMEOUT_S, 0.);
	q->timer.data = q;
	ev_io_start(loop, &q->io);
	ev_timer_start(loop, &q->timer);
	return q;
}

int inspect_escape(const char *name, char *out, size_t outsz)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (const unsigned char *s = (const unsigned char *)name; *s != '\0'; s++) {
		bool plain = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			     (*s >= '0' && *s <= '9') || strchr("-._~/:@", *s) != NULL;

		if (n + 4 > outsz)
			return -1;
		if (plain) {
			out[n++] = (char)*s;
		} else {
			out[n++] = '%';
			out[n++] = hex[*s >> 4];
			out[n++] = hex[*s & 15];
		}
	}
	if (n >= outsz)
		return -1;
	out[n] = '\0';
	return 0;
}
