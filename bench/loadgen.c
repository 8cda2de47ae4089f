/* loadgen.c - closed-loop HTTP/1.1 load generator over a UNIX socket.
 *
 * N connections, each with exactly one request in flight: a connection sends
 * its next request only once the answer to the previous one is complete, so
 * the rate measures the round trip through whatever serves the socket, not a
 * queue. Answers are framed by Content-Length, chunked encoding, or EOF.
 *
 *   loadgen -s SOCK [-r REF_SOCK] [-c CONNS] [-d SECS [-w WARMUP] | -n COUNT]
 *           [-C] [-m METHOD] [-p PATH] [-T TIMEOUT] [-x IMAGE [-l KEY=VALUE]]
 *
 * -C opens a new connection per request (and sends Connection: close); -x
 * replaces the request with a pair: POST /containers/create of IMAGE, then
 * DELETE of the new container (-l labels it). -r alternates, one request (or
 * pair) at a time, between SOCK and REF_SOCK on one connection each, and
 * reports both: the drift of a slow daemon then hits both alike, which is
 * what a ratio near 1 needs. One JSON object on stdout; exit 0 if every
 * request got a 2xx answer, 1 otherwise, 2 on bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 256
#define BODY_KEEP 65536 /* body bytes kept for the create answer's Id */

enum parse_state {
	P_HEAD,	      /* waiting for the end of the head */
	P_BODY,	      /* Content-Length bytes to go */
	P_CHUNK_SIZE, /* waiting for a chunk-size line */
	P_CHUNK_DATA, /* chunk bytes to go */
	P_CHUNK_CRLF, /* the CRLF after a chunk */
	P_TRAILER,    /* trailer lines until an empty one */
	P_UNTIL_EOF,  /* no framing: the body ends with the connection */
	P_DONE,	      /* the answer is complete */
};

struct conn {
	const char *sock;	/* where it connects */
	int idx;		/* its index; with -r, 1 is the reference */
	bool busy;		/* a request is in flight */
	int fd;			/* -1 between requests in -C mode */
	int reused;		/* requests sent on this fd before the current one */
	char *req;		/* the request being sent */
	size_t req_len, req_off; /* its length and bytes sent */
	uint64_t t0;		/* when the request (or pair) began, ns */
	uint64_t t_step;	/* when the current step began, ns */
	int step;		/* -x: 0 create, 1 delete */
	char *rbuf;		/* received bytes not yet parsed */
	size_t rlen, rcap;	/* their length and allocation */
	enum parse_state ps;	/* where the answer's parse is */
	uint64_t left;		/* bytes to go in P_BODY / P_CHUNK_DATA */
	int status;		/* status of the answer */
	bool close_after;	/* the server said Connection: close */
	char body[BODY_KEEP];	/* start of the body (for the create Id) */
	size_t body_len;	/* bytes kept in body */
	bool writing;		/* waiting for EPOLLOUT */
};

struct opts {
	const char *sock;	/* the server's socket */
	const char *ref;	/* -r: the reference socket, or NULL */
	int conns;		/* concurrent connections */
	double duration;	/* measured seconds (0: use count) */
	double warmup;		/* seconds before measuring */
	long count;		/* requests (or pairs) to measure */
	bool per_request;	/* a new connection per request */
	const char *method;	/* request method */
	const char *path;	/* request target */
	double timeout;		/* seconds one request may take */
	const char *image;	/* -x: create/delete pairs of this image */
	const char *label;	/* -x: KEY=VALUE label on each container */
};

struct samples {
	uint64_t *v;	 /* latencies, ns */
	size_t n, cap;	 /* count and allocation */
};

static struct opts o = { .conns = 1, .method = "GET", .path = "/_ping", .timeout = 10 };
static struct samples lat, lat_create, lat_delete, lat_ref;
static long errors, reconnects, completed, completed_ref, inflight_dropped;
static uint64_t resp_bytes;
static char first_error[512];
static char create_req[4096];
static size_t create_req_len;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void samples_add(struct samples *s, uint64_t v)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 4096;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		if (s->v == NULL) {
			perror("loadgen: realloc");
			exit(2);
		}
	}
	s->v[s->n++] = v;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile, in microseconds. */
static double pct_us(struct samples *s, double p)
{
	size_t i;

	if (s->n == 0)
		return 0;
	i = (size_t)(p / 100.0 * (double)s->n);
	if (i >= s->n)
		i = s->n - 1;
	return (double)s->v[i] / 1000.0;
}

static void error_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void error_note(const char *fmt, ...)
{
	va_list ap;

	errors++;
	if (first_error[0])
		return;
	va_start(ap, fmt);
	vsnprintf(first_error, sizeof(first_error), fmt, ap);
	va_end(ap);
}

static int connect_unix(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* Blocking connect: a UNIX connect completes at once unless the
	 * backlog is full, and then there is nothing to wait on with epoll. */
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

/* ---- requests ---------------------------------------------------------- */

static char *make_simple_request(size_t *len)
{
	char *r = NULL;
	int n = asprintf(&r,
			 "%s %s HTTP/1.1\r\nHost: docker\r\nUser-Agent: ci-wrap-bench\r\n%s\r\n",
			 o.method, o.path, o.per_request ? "Connection: close\r\n" : "");

	if (n < 0)
		exit(2);
	*len = (size_t)n;
	return r;
}

static void make_create_request(void)
{
	char body[1024], key[256];
	const char *eq = o.label ? strchr(o.label, '=') : NULL;
	int blen;

	if (o.label && eq) {
		snprintf(key, sizeof(key), "%.*s", (int)(eq - o.label), o.label);
		blen = snprintf(body, sizeof(body),
				"{\"Image\":\"%s\",\"Cmd\":[\"true\"],\"Labels\":{\"%s\":\"%s\"},"
				"\"HostConfig\":{\"LogConfig\":{\"Type\":\"none\"}}}",
				o.image, key, eq + 1);
	} else {
		blen = snprintf(body, sizeof(body),
				"{\"Image\":\"%s\",\"Cmd\":[\"true\"],"
				"\"HostConfig\":{\"LogConfig\":{\"Type\":\"none\"}}}",
				o.image);
	}
	create_req_len = (size_t)snprintf(create_req, sizeof(create_req),
					  "POST /v1.41/containers/create HTTP/1.1\r\nHost: docker\r\n"
					  "User-Agent: ci-wrap-bench\r\nContent-Type: application/json\r\n"
					  "Content-Length: %d\r\n%s\r\n%s",
					  blen, o.per_request ? "Connection: close\r\n" : "", body);
}

/* The DELETE for the container whose create answer is in c->body. */
static int make_delete_request(struct conn *c)
{
	const char *id;
	char idbuf[128];
	size_t n = 0;

	c->body[c->body_len < BODY_KEEP ? c->body_len : BODY_KEEP - 1] = '\0';
	id = strstr(c->body, "\"Id\"");
	if (id == NULL)
		return -1;
	id = strchr(id + 4, '"');
	if (id == NULL)
		return -1;
	for (id++; *id && *id != '"' && n < sizeof(idbuf) - 1; id++)
		idbuf[n++] = *id;
	idbuf[n] = '\0';
	if (n == 0)
		return -1;
	free(c->req);
	c->req = NULL;
	if (asprintf(&c->req,
		     "DELETE /v1.41/containers/%s?v=1&force=1 HTTP/1.1\r\nHost: docker\r\n"
		     "User-Agent: ci-wrap-bench\r\n%s\r\n",
		     idbuf, o.per_request ? "Connection: close\r\n" : "") < 0)
		exit(2);
	c->req_len = strlen(c->req);
	return 0;
}

/* ---- answers ------------------------------------------------------------- */

static void consume(struct conn *c, size_t n)
{
	memmove(c->rbuf, c->rbuf + n, c->rlen - n);
	c->rlen -= n;
}

static void keep_body(struct conn *c, const char *p, size_t n)
{
	size_t room = BODY_KEEP - 1 - c->body_len;

	if (n > room)
		n = room;
	memcpy(c->body + c->body_len, p, n);
	c->body_len += n;
}

static bool header_is(const char *line, size_t len, const char *name, const char **value,
		      size_t *vlen)
{
	size_t n = strlen(name);

	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return false;
	line += n + 1;
	len -= n + 1;
	while (len > 0 && (*line == ' ' || *line == '\t'))
		line++, len--;
	*value = line;
	*vlen = len;
	return true;
}

/* Parse what has arrived; returns 1 when the answer is complete, 0 when more
 * is needed, -1 on a malformed answer. */
static int parse(struct conn *c)
{
	for (;;) {
		switch (c->ps) {
		case P_HEAD: {
			char *end = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
			char *line, *eol;
			bool chunked = false, has_cl = false;
			uint64_t cl = 0;

			if (end == NULL)
				return c->rlen > 65536 ? -1 : 0;
			if (c->rlen < 12 || strncmp(c->rbuf, "HTTP/1.", 7) != 0)
				return -1;
			c->status = atoi(c->rbuf + 9);
			c->close_after = strncmp(c->rbuf, "HTTP/1.0", 8) == 0;
			line = memchr(c->rbuf, '\n', (size_t)(end - c->rbuf)) + 1;
			for (; line < end + 2; line = eol + 2) {
				const char *v;
				size_t vl, ll;

				eol = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
				ll = (size_t)(eol - line);
				if (header_is(line, ll, "content-length", &v, &vl)) {
					has_cl = true;
					cl = strtoull(v, NULL, 10);
				} else if (header_is(line, ll, "transfer-encoding", &v, &vl)) {
					chunked = vl >= 7 && strncasecmp(v + vl - 7, "chunked", 7) == 0;
				} else if (header_is(line, ll, "connection", &v, &vl)) {
					if (vl >= 5 && strncasecmp(v, "close", 5) == 0)
						c->close_after = true;
				}
			}
			resp_bytes += (uint64_t)(end + 4 - c->rbuf);
			consume(c, (size_t)(end + 4 - c->rbuf));
			if (c->status >= 100 && c->status < 200)
				continue; /* interim answer: the real one follows */
			c->body_len = 0;
			if (c->status == 204 || c->status == 304 || strcmp(o.method, "HEAD") == 0)
				c->ps = P_DONE;
			else if (chunked)
				c->ps = P_CHUNK_SIZE;
			else if (has_cl && cl > 0)
				c->ps = P_BODY;
			else if (has_cl)
				c->ps = P_DONE;
			else
				c->ps = P_UNTIL_EOF;
			c->left = cl;
			if (c->ps == P_UNTIL_EOF)
				c->close_after = true;
			break;
		}
		case P_BODY:
		case P_CHUNK_DATA: {
			size_t n = c->rlen < c->left ? c->rlen : (size_t)c->left;

			if (n == 0)
				return 0;
			keep_body(c, c->rbuf, n);
			resp_bytes += n;
			consume(c, n);
			c->left -= n;
			if (c->left == 0)
				c->ps = c->ps == P_BODY ? P_DONE : P_CHUNK_CRLF;
			break;
		}
		case P_CHUNK_SIZE: {
			char *eol = memmem(c->rbuf, c->rlen, "\r\n", 2);
			char *endp;

			if (eol == NULL)
				return c->rlen > 1024 ? -1 : 0;
			c->left = strtoull(c->rbuf, &endp, 16);
			if (endp == c->rbuf)
				return -1;
			resp_bytes += (uint64_t)(eol + 2 - c->rbuf);
			consume(c, (size_t)(eol + 2 - c->rbuf));
			c->ps = c->left ? P_CHUNK_DATA : P_TRAILER;
			break;
		}
		case P_CHUNK_CRLF:
			if (c->rlen < 2)
				return 0;
			if (c->rbuf[0] != '\r' || c->rbuf[1] != '\n')
				return -1;
			consume(c, 2);
			c->ps = P_CHUNK_SIZE;
			break;
		case P_TRAILER: {
			char *eol = memmem(c->rbuf, c->rlen, "\r\n", 2);

			if (eol == NULL)
				return 0;
			consume(c, (size_t)(eol + 2 - c->rbuf));
			if (eol == c->rbuf)
				c->ps = P_DONE;
			break;
		}
		case P_UNTIL_EOF:
			keep_body(c, c->rbuf, c->rlen);
			resp_bytes += c->rlen;
			c->rlen = 0;
			return 0;
		case P_DONE:
			return 1;
		}
	}
}

/* ---- the loop ------------------------------------------------------------ */

static int ep;

static void conn_drop_fd(struct conn *c)
{
	if (c->fd >= 0) {
		epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
	}
	c->rlen = 0;
	c->writing = false;
}

static int conn_open(struct conn *c)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

	c->fd = connect_unix(c->sock);
	if (c->fd < 0)
		return -1;
	c->reused = 0;
	epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
	return 0;
}

static void set_writing(struct conn *c, bool on)
{
	struct epoll_event ev = { .events = on ? EPOLLOUT : EPOLLIN, .data.ptr = c };

	if (c->writing == on)
		return;
	c->writing = on;
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Send as much of the request as the socket takes; -1 if the peer is gone. */
static int conn_send(struct conn *c)
{
	while (c->req_off < c->req_len) {
		ssize_t n = write(c->fd, c->req + c->req_off, c->req_len - c->req_off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			set_writing(c, true);
			return 0;
		}
		if (n < 0)
			return -1;
		c->req_off += (size_t)n;
	}
	set_writing(c, false);
	return 0;
}

/* Start the current step's request, on a new connection if need be. */
static int step_begin(struct conn *c)
{
	if (c->fd < 0 && conn_open(c) < 0) {
		error_note("connect %s: %s", c->sock, strerror(errno));
		return -1;
	}
	c->req_off = 0;
	c->ps = P_HEAD;
	c->status = 0;
	c->close_after = false;
	c->body_len = 0;
	c->t_step = now_ns();
	if (conn_send(c) < 0) {
		if (c->reused > 0) {
			/* the server closed an idle connection: not an error */
			reconnects++;
			conn_drop_fd(c);
			return step_begin(c);
		}
		error_note("write: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int request_begin(struct conn *c)
{
	c->busy = true;
	c->t0 = now_ns();
	c->step = 0;
	if (o.image) {
		free(c->req);
		c->req = strdup(create_req);
		c->req_len = create_req_len;
	}
	return step_begin(c);
}

static bool measuring;	   /* the warmup is over */
static uint64_t t_measure; /* when it ended */

/* An answer is complete: record it, then send the next step or request. */
static int answer_done(struct conn *c, bool *stop)
{
	uint64_t t = now_ns();
	bool ok = c->status >= 200 && c->status < 300;

	if (!ok) {
		c->body[c->body_len < BODY_KEEP ? c->body_len : BODY_KEEP - 1] = '\0';
		error_note("HTTP %d: %.200s", c->status, c->body);
	}
	c->reused++;
	if (c->close_after || o.per_request)
		conn_drop_fd(c);
	if (o.image && c->step == 0) {
		if (!ok)
			return -1;
		if (measuring && c->idx == 0)
			samples_add(&lat_create, t - c->t_step);
		if (make_delete_request(c) < 0) {
			error_note("no Id in the create answer: %.200s", c->body);
			return -1;
		}
		c->step = 1;
		return step_begin(c);
	}
	if (o.image && measuring && c->idx == 0)
		samples_add(&lat_delete, t - c->t_step);
	if (!ok)
		return -1;
	if (o.ref) {
		/* alternate: the other socket takes the next request */
		struct conn *other = c + (c->idx == 0 ? 1 : -1);

		if (measuring && c->idx == 1) {
			samples_add(&lat_ref, t - c->t0);
			completed_ref++;
		} else if (measuring) {
			samples_add(&lat, t - c->t0);
			completed++;
		}
		c->busy = false;
		if (o.count > 0 && completed >= o.count && completed_ref >= o.count) {
			*stop = true;
			return 0;
		}
		return request_begin(other);
	}
	if (measuring) {
		samples_add(&lat, t - c->t0);
		completed++;
		if (o.count > 0 && completed >= o.count) {
			*stop = true;
			return 0;
		}
	}
	return request_begin(c);
}

static int conn_readable(struct conn *c, bool *stop)
{
	for (;;) {
		ssize_t n;
		int r;

		if (c->rcap - c->rlen < 16384) {
			c->rcap = c->rcap ? c->rcap * 2 : 65536;
			c->rbuf = realloc(c->rbuf, c->rcap);
			if (c->rbuf == NULL)
				exit(2);
		}
		n = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n < 0) {
			error_note("read: %s", strerror(errno));
			return -1;
		}
		if (n == 0) {
			if (c->ps == P_UNTIL_EOF) {
				c->ps = P_DONE;
				return answer_done(c, stop);
			}
			if (c->ps == P_HEAD && c->rlen == 0 && c->reused > 0 &&
			    c->req_off == c->req_len) {
				/* closed while idle, before it read our request */
				reconnects++;
				conn_drop_fd(c);
				return step_begin(c);
			}
			error_note("connection closed mid-answer (status %d)", c->status);
			return -1;
		}
		c->rlen += (size_t)n;
		r = parse(c);
		if (r < 0) {
			error_note("malformed answer: %.100s", c->rbuf);
			return -1;
		}
		if (r == 1) {
			if (c->rlen > 0 && !c->close_after) {
				error_note("bytes after the answer");
				return -1;
			}
			return answer_done(c, stop);
		}
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: loadgen -s SOCK [-r REF_SOCK] [-c CONNS] [-d SECS [-w WARMUP] | -n COUNT]\n"
		"               [-C] [-m METHOD] [-p PATH] [-T TIMEOUT] [-x IMAGE [-l KEY=VALUE]]\n");
	exit(2);
}

static void print_result(double secs)
{
	double rps = secs > 0 ? (double)completed / secs : 0;
	double mean = 0;

	for (size_t i = 0; i < lat.n; i++)
		mean += (double)lat.v[i];
	mean = lat.n ? mean / (double)lat.n / 1000.0 : 0;
	qsort(lat.v, lat.n, sizeof(*lat.v), cmp_u64);
	qsort(lat_create.v, lat_create.n, sizeof(*lat_create.v), cmp_u64);
	qsort(lat_delete.v, lat_delete.n, sizeof(*lat_delete.v), cmp_u64);
	qsort(lat_ref.v, lat_ref.n, sizeof(*lat_ref.v), cmp_u64);
	printf("{\"mode\":\"%s\",\"conns\":%d,\"method\":\"%s\",\"path\":\"%s\","
	       "\"requests\":%ld,\"errors\":%ld,\"reconnects\":%ld,\"duration_s\":%.4f,"
	       "\"rps\":%.1f,\"mean_us\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,"
	       "\"p99_us\":%.1f,\"max_us\":%.1f,\"resp_bytes\":%llu",
	       o.image ? "create-delete" : o.per_request ? "connect-per-request" : "keep-alive",
	       o.conns, o.image ? "POST+DELETE" : o.method, o.image ? "/containers" : o.path,
	       completed, errors, reconnects, secs, rps, mean, pct_us(&lat, 50), pct_us(&lat, 90),
	       pct_us(&lat, 99), pct_us(&lat, 100), (unsigned long long)resp_bytes);
	if (o.image)
		printf(",\"create_p50_us\":%.1f,\"delete_p50_us\":%.1f", pct_us(&lat_create, 50),
		       pct_us(&lat_delete, 50));
	if (o.ref)
		printf(",\"ref_requests\":%ld,\"ref_p50_us\":%.1f,\"ref_p99_us\":%.1f,"
		       "\"p50_ratio_to_ref\":%.4f",
		       completed_ref, pct_us(&lat_ref, 50), pct_us(&lat_ref, 99),
		       lat_ref.n ? pct_us(&lat, 50) / pct_us(&lat_ref, 50) : 0);
	printf(",\"dropped_in_flight\":%ld", inflight_dropped);
	printf(",\"first_error\":\"");
	for (const char *p = first_error; *p; p++) {
		if (*p == '"' || *p == '\\')
			putchar('\\'), putchar(*p);
		else if ((unsigned char)*p < 0x20)
			putchar(' ');
		else
			putchar(*p);
	}
	printf("\"}\n");
}

int main(int argc, char **argv)
{
	static struct conn conns[MAX_CONNS];
	struct epoll_event evs[MAX_CONNS];
	uint64_t t_start, t_end = 0, deadline_ns;
	bool stop = false, failed = false;
	int opt;

	while ((opt = getopt(argc, argv, "s:r:c:d:w:n:Cm:p:T:x:l:")) != -1) {
		switch (opt) {
		case 's': o.sock = optarg; break;
		case 'r': o.ref = optarg; break;
		case 'c': o.conns = atoi(optarg); break;
		case 'd': o.duration = atof(optarg); break;
		case 'w': o.warmup = atof(optarg); break;
		case 'n': o.count = atol(optarg); break;
		case 'C': o.per_request = true; break;
		case 'm': o.method = optarg; break;
		case 'p': o.path = optarg; break;
		case 'T': o.timeout = atof(optarg); break;
		case 'x': o.image = optarg; break;
		case 'l': o.label = optarg; break;
		default: usage();
		}
	}
	if (o.sock == NULL || o.conns < 1 || o.conns > MAX_CONNS ||
	    (o.duration <= 0 && o.count <= 0) || (o.ref && o.conns != 1))
		usage();
	signal(SIGPIPE, SIG_IGN);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (o.image)
		make_create_request();
	t_start = now_ns();
	measuring = o.warmup <= 0;
	t_measure = t_start + (uint64_t)(o.warmup * 1e9);
	if (o.duration > 0)
		t_end = t_measure + (uint64_t)(o.duration * 1e9);
	deadline_ns = (uint64_t)(o.timeout * 1e9);
	if (o.ref)
		o.conns = 2; /* one each; only one is busy at a time */
	for (int i = 0; i < o.conns; i++) {
		struct conn *c = &conns[i];

		c->fd = -1;
		c->idx = i;
		c->sock = o.ref && i == 1 ? o.ref : o.sock;
		if (!o.image)
			c->req = make_simple_request(&c->req_len);
		if ((!o.ref || i == 0) && request_begin(c) < 0) {
			failed = true;
			break;
		}
	}
	while (!failed && !stop) {
		int n = epoll_wait(ep, evs, MAX_CONNS, 50);
		uint64_t t = now_ns();

		if (!measuring && t >= t_measure) {
			measuring = true;
			t_measure = t;
			if (o.duration > 0)
				t_end = t + (uint64_t)(o.duration * 1e9);
		}
		for (int i = 0; i < n && !failed && !stop; i++) {
			struct conn *c = evs[i].data.ptr;

			if (c->fd < 0)
				continue;
			if (c->writing) {
				if (conn_send(c) < 0) {
					error_note("write: %s", strerror(errno));
					failed = true;
				}
			} else if (conn_readable(c, &stop) < 0) {
				failed = true;
			}
		}
		t = now_ns();
		if (measuring && t_end && t >= t_end)
			stop = true;
		for (int i = 0; i < o.conns && !failed; i++) {
			if (conns[i].busy && t - conns[i].t_step > deadline_ns) {
				error_note("timeout: no answer in %.1f s", o.timeout);
				failed = true;
			}
		}
	}
	t_end = now_ns();
	for (int i = 0; i < o.conns; i++) {
		if (conns[i].busy && conns[i].fd >= 0 && conns[i].ps != P_DONE && !failed)
			inflight_dropped++;
		conn_drop_fd(&conns[i]);
	}
	print_result(measuring ? (double)(t_end - t_measure) / 1e9 : 0);
	return failed || errors > 0 || completed == 0 ? 1 : 0;
}
