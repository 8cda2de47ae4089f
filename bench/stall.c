/* bench/stall.c - how long one big container create holds up the proxy's
 * event loop: GET /_ping on one connection, closed loop, while a second
 * connection sends a create body of N MiB that the proxy rewrites.
 *
 *   stall [-b MIB] [-r ROUNDS] [-u DAEMON_SOCKET]
 *
 * The proxy is ci-wrap's own (proxy_new(), linked from a build tree: see
 * bench/stall.sh), run on a thread of this process with the body limit
 * raised to fit N MiB (ci-wrap itself caps one body at 16 MiB), in front of
 * the real daemon. The create names an image that does not exist, so the
 * daemon answers 404 and makes nothing. The body is Env entries of 100
 * bytes: a few hundred thousand strings for jansson to read and write.
 *
 * Per round, one JSON line: the pings answered while the create was in
 * flight (from its first byte sent to its answer), their p50, p99 and max
 * latency, how many took over 10 ms, and the create's own time; the
 * longest turn of the proxy's loop in that time (from poll returning to
 * the next poll: how long the loop ran callbacks without looking at its
 * other sockets), in wall time and in the loop thread's own CPU time (which
 * a busy machine's scheduling does not inflate); the same figures for a
 * quiet second before it (the
 * baseline). Then a summary line with the medians over the rounds. Ping
 * latency takes in every thread's scheduling on a busy machine; the loop's
 * longest turn is what the proxy itself blocked.
 */
#include <errno.h>
#include <ev.h>
#include <stdatomic.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../proxy/proxy.h"

#define MAX_PINGS (4 * 1024 * 1024)

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_s(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static int unix_socket(const char *path, bool listening)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	/* The proxy accepts until EAGAIN: its socket must not block. */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (listening ? SOCK_NONBLOCK : 0), 0);

	if (fd < 0 || strlen(path) >= sizeof(addr.sun_path))
		die("socket");
	strcpy(addr.sun_path, path);
	if (listening) {
		if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 16) < 0)
			die("listen");
	} else if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		die("connect");
	}
	return fd;
}

/* ---- the proxy, on its own thread ------------------------------------------------- */

struct server {
	struct ev_loop *loop; /* the proxy's loop */
	ev_async stop;	      /* breaks it */
	pthread_t thread;     /* runs it */
	ev_check woke;	      /* poll returned: callbacks are next */
	ev_prepare idle;      /* callbacks done: poll is next */
	double woke_at;	      /* when poll last returned */
	double woke_cpu;      /* the loop thread's CPU time then */
};

/* The longest turn of the loop since the main thread last reset it. */
static _Atomic double turn_max, turn_cpu_max;
static atomic_bool turn_reset;

static void on_woke(struct ev_loop *loop, ev_check *w, int revents)
{
	struct server *s = w->data;

	(void)loop;
	(void)revents;
	s->woke_at = now_s();
	s->woke_cpu = clock_s(CLOCK_THREAD_CPUTIME_ID);
}

static void on_idle(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct server *s = w->data;
	double turn = s->woke_at > 0 ? now_s() - s->woke_at : 0;
	double cpu = s->woke_at > 0 ? clock_s(CLOCK_THREAD_CPUTIME_ID) - s->woke_cpu : 0;

	(void)loop;
	(void)revents;
	if (atomic_exchange(&turn_reset, false)) {
		turn_max = turn_cpu_max = 0;
		return;
	}
	if (turn > turn_max)
		turn_max = turn;
	if (cpu > turn_cpu_max)
		turn_cpu_max = cpu;
}

static void on_stop(struct ev_loop *loop, ev_async *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

static void *serve(void *arg)
{
	struct server *s = arg;

	ev_run(s->loop, 0);
	return NULL;
}

/* ---- the clients ------------------------------------------------------------------ */

static void write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("write");
		buf += n;
		len -= (size_t)n;
	}
}

/* Read one answer (head and a Content-Length body); returns its status. */
static int read_answer(int fd)
{
	static __thread char buf[65536];
	size_t len = 0, need = 0;
	char *end = NULL;

	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("read answer");
		len += (size_t)n;
		buf[len] = '\0';
		if (end == NULL && (end = strstr(buf, "\r\n\r\n")) != NULL) {
			char *cl = strcasestr(buf, "\r\nContent-Length:");

			need = (size_t)(end + 4 - buf) + (cl ? strtoul(cl + 17, NULL, 10) : 0);
		}
		if (end != NULL && len >= need)
			return atoi(buf + 9);
		if (len == sizeof(buf) - 1)
			die("answer too long");
	}
}

static double ping(int fd)
{
	static const char req[] = "GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n";
	double t = now_s();

	write_all(fd, req, sizeof(req) - 1);
	if (read_answer(fd) != 200)
		die("ping");
	return now_s() - t;
}

/* A create of about mib MiB: Env entries of 100 bytes. */
static char *create_request(size_t mib, size_t *len)
{
	size_t cap = mib * 1024 * 1024 + 4096, n = 0, body_len;
	char *body = malloc(cap), *req;
	int hl;

	n += (size_t)sprintf(body, "{\"Image\":\"ci-wrap-bench/none:none\",\"Env\":[");
	for (unsigned i = 0; n + 200 < mib * 1024 * 1024; i++)
		n += (size_t)sprintf(body + n, "%s\"V%08u=%088u\"", i ? "," : "", i, i);
	n += (size_t)sprintf(body + n, "]}");
	body_len = n;
	req = malloc(body_len + 512);
	hl = sprintf(req,
		     "POST /v1.41/containers/create HTTP/1.1\r\nHost: docker\r\n"
		     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
		     body_len);
	memcpy(req + hl, body, body_len);
	free(body);
	*len = (size_t)hl + body_len;
	return req;
}

struct create {
	const char *path;     /* the proxy's socket */
	const char *req;      /* the whole request */
	size_t len;	      /* its length */
	volatile double start; /* first byte sent (read by the pinging thread) */
	double answer;	       /* answer read */
	int status;	      /* the daemon's answer */
	volatile bool done;   /* the answer is in */
};

static void *create_main(void *arg)
{
	struct create *c = arg;
	int fd = unix_socket(c->path, false);

	c->start = now_s();
	write_all(fd, c->req, c->len);
	c->status = read_answer(fd);
	c->answer = now_s();
	c->done = true;
	close(fd);
	return NULL;
}

/* ---- figures ---------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct figures {
	size_t n;		     /* pings */
	double p50, p99, max;	     /* latency, ms */
	size_t over_10ms;	     /* pings slower than 10 ms */
};

static struct figures figures(double *lat, size_t n)
{
	struct figures f = { .n = n };

	if (n == 0)
		return f;
	qsort(lat, n, sizeof(*lat), cmp_double);
	f.p50 = lat[n / 2] * 1e3;
	f.p99 = lat[(n * 99) / 100] * 1e3;
	f.max = lat[n - 1] * 1e3;
	for (size_t i = 0; i < n; i++)
		f.over_10ms += lat[i] > 0.010;
	return f;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[n / 2];
}

int main(int argc, char **argv)
{
	const char *upstream = "/var/run/docker.sock";
	size_t mib = 32, len;
	int rounds = 5, opt, pfd;
	char dir[] = "/tmp/cw-stall.XXXXXX", path[128];
	struct server s;
	struct proxy_config cfg = { 0 };
	struct cw_error err = { 0 };
	struct proxy *proxy;
	double *lat = malloc(MAX_PINGS * sizeof(double));
	double med_max[64], med_p99[64], med_create[64], base_max[64], med_turn[64];
	double med_cpu[64];
	char *req;

	while ((opt = getopt(argc, argv, "b:r:u:")) != -1) {
		if (opt == 'b')
			mib = strtoul(optarg, NULL, 10);
		else if (opt == 'r')
			rounds = atoi(optarg);
		else if (opt == 'u')
			upstream = optarg;
		else
			return 2;
	}
	if (rounds < 1 || rounds > 64 || mib < 1)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(dir) == NULL)
		die("mkdtemp");
	snprintf(path, sizeof(path), "%s/docker.sock", dir);
	cfg.listen_fd = unix_socket(path, true);
	cfg.upstream_path = upstream;
	cfg.rewrite.labels = json_pack("{s:s}", "ci-wrap-bench", "1");
	cfg.rewrite.max_body = (mib + 1) * 1024 * 1024;
	cfg.allowed_uid = getuid();
	s.loop = ev_loop_new(EVFLAG_AUTO);
	proxy = proxy_new(s.loop, &cfg, &err);
	if (proxy == NULL)
		die("proxy_new");
	ev_async_init(&s.stop, on_stop);
	ev_async_start(s.loop, &s.stop);
	s.woke_at = 0;
	ev_check_init(&s.woke, on_woke);
	ev_set_priority(&s.woke, EV_MAXPRI); /* before any other callback */
	s.woke.data = &s;
	ev_check_start(s.loop, &s.woke);
	ev_prepare_init(&s.idle, on_idle);
	ev_set_priority(&s.idle, EV_MINPRI);
	s.idle.data = &s;
	ev_prepare_start(s.loop, &s.idle);
	pthread_create(&s.thread, NULL, serve, &s);
	req = create_request(mib, &len);
	pfd = unix_socket(path, false);
	for (int r = 0; r < rounds; r++) {
		struct create c = { .path = path, .req = req, .len = len };
		struct figures quiet, busy;
		pthread_t t;
		size_t n = 0;
		double end = now_s() + 1.0, quiet_turn, busy_turn, quiet_cpu, busy_cpu;

		turn_reset = true;
		while (now_s() < end && n < MAX_PINGS)
			lat[n++] = ping(pfd);
		quiet = figures(lat, n);
		quiet_turn = turn_max * 1e3;
		quiet_cpu = turn_cpu_max * 1e3;
		n = 0;
		turn_reset = true;
		pthread_create(&t, NULL, create_main, &c);
		while (!c.done && n < MAX_PINGS) {
			double t0 = now_s(), l = ping(pfd);

			/* Only pings sent while the create was in flight. */
			if (c.start > 0 && t0 >= c.start && !c.done)
				lat[n++] = l;
		}
		pthread_join(t, NULL);
		busy_turn = turn_max * 1e3;
		busy_cpu = turn_cpu_max * 1e3;
		busy = figures(lat, n);
		printf("{\"round\":%d,\"body_mib\":%zu,\"create_status\":%d,\"create_ms\":%.1f,"
		       "\"pings\":%zu,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,"
		       "\"over_10ms\":%zu,\"loop_turn_max_ms\":%.3f,\"loop_turn_cpu_max_ms\":%.3f,"
		       "\"quiet_pings\":%zu,\"quiet_p99_ms\":%.3f,\"quiet_max_ms\":%.3f,"
		       "\"quiet_loop_turn_max_ms\":%.3f,\"quiet_loop_turn_cpu_max_ms\":%.3f}\n",
		       r + 1, mib, c.status, (c.answer - c.start) * 1e3, busy.n, busy.p50, busy.p99,
		       busy.max, busy.over_10ms, busy_turn, busy_cpu, quiet.n, quiet.p99, quiet.max,
		       quiet_turn, quiet_cpu);
		fflush(stdout);
		med_max[r] = busy.max;
		med_p99[r] = busy.p99;
		med_create[r] = (c.answer - c.start) * 1e3;
		base_max[r] = quiet.max;
		med_turn[r] = busy_turn;
		med_cpu[r] = busy_cpu;
	}
	printf("{\"summary\":true,\"rounds\":%d,\"body_mib\":%zu,\"median_max_ms\":%.3f,"
	       "\"median_p99_ms\":%.3f,\"median_create_ms\":%.1f,\"median_quiet_max_ms\":%.3f,"
	       "\"median_loop_turn_max_ms\":%.3f,\"median_loop_turn_cpu_max_ms\":%.3f}\n",
	       rounds, mib, median(med_max, rounds), median(med_p99, rounds),
	       median(med_create, rounds), median(base_max, rounds), median(med_turn, rounds),
	       median(med_cpu, rounds));
	close(pfd);
	ev_async_send(s.loop, &s.stop);
	pthread_join(s.thread, NULL);
	proxy_free(proxy);
	ev_loop_destroy(s.loop);
	json_decref(cfg.rewrite.labels);
	unlink(path);
	rmdir(dir);
	free(req);
	free(lat);
	return 0;
}
