/* fuzz_relay.c - libFuzzer target over the whole relay: the input is what a
 * client writes to the proxy's socket, and the "daemon" behind the proxy is
 * a model of how moby 20.10 reads a connection: Go 1.19's net/http framing
 * (empty lines skipped after a POST, Transfer-Encoding ignored in HTTP/1.0,
 * a CONNECT's Content-Length honoured, the unread body discarded before the
 * answer) and its create routes. The promise checked is the one a smuggled
 * request would break: every request the daemon would run as a create
 * carries our labels (and cgroup parent). Beyond that: no crash, no leak,
 * and the connection is freed once both ends have closed.
 *
 * Input: the first byte picks the size of the client's writes (0: all at
 * once), the rest is the byte stream. Build and run with tests/fuzz/build.sh;
 * built with -DRELAY_DEBUG it prints what the model daemon reads.
 */
#include <errno.h>
#include <ev.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../../common/log.h"
#include "../../proxy/proxy-internal.h"
#include "../../proxy/proxy.h"
#include "oracle.h"

#define MAX_BODY (64 * 1024)

/* FUZZ_SKIP_KNOWN set: do not stop on the open bug the unit tests already
 * hold (a request after empty lines losing its head), so a campaign can
 * look for new ones. */
static bool skip_known;
#define SPINS 400 /* loop turns without progress before the test moves on */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ev_loop *loop;
static struct proxy *proxy;
static char proxy_path[128], daemon_path[128];
static int daemon_listen;

static int listen_unix(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	strcpy(addr.sun_path, path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 64) < 0) {
		perror("fuzz_relay: listen");
		abort();
	}
	return fd;
}

static char dir[] = "/tmp/cw-fuzz-relay.XXXXXX";

static void remove_sockets(void)
{
	unlink(proxy_path);
	unlink(daemon_path);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct proxy_config cfg = { 0 };
	struct cw_error err;

	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	cw_log_level = CW_LOG_QUIET;
	oracle_init(MAX_BODY);
	skip_known = getenv("FUZZ_SKIP_KNOWN") != NULL;
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(proxy_path, sizeof(proxy_path), "%s/docker.sock", dir);
	snprintf(daemon_path, sizeof(daemon_path), "%s/daemon.sock", dir);
	atexit(remove_sockets);
	daemon_listen = listen_unix(daemon_path);
	loop = ev_loop_new(EVFLAG_AUTO);
	cfg.listen_fd = listen_unix(proxy_path);
	cfg.upstream_path = daemon_path;
	cfg.rewrite = spec;
	cfg.allowed_uid = getuid();
	/* The relay is fuzzed against a model of Go's framing; ownership
	 * checks would add inspects that model does not answer. */
	cfg.isolation_off = true;
	proxy = proxy_new(loop, &cfg, &err);
	return 0;
}

/* ---- the daemon: Go's HTTP/1.1 server, as far as framing goes -------------------- */

struct go_server {
	int fd;		/* the daemon's end of the proxy's connection, -1 once closed */
	char *buf;	/* bytes read and not yet consumed */
	size_t len;	/* how many */
	bool eof;	/* the proxy shut its side */
	bool post_last; /* the last request was a POST (Go skips empty lines then) */
	bool continued; /* 100 Continue sent for the request being read */
	int served;	/* requests answered */
};

struct go_req {
	char method[24];     /* request method */
	const char *target;  /* request target, in the server's buffer */
	size_t target_len;   /* its length */
	bool close;	     /* Go closes after answering */
	bool expect;	     /* Expect: 100-continue */
	bool form;	     /* a form body ParseForm reads */
	bool after_crlf;     /* empty lines before it were skipped */
	char *body;	     /* the body, de-chunked, malloc'd */
	size_t body_len;     /* its length */
};

enum { GO_MORE, GO_BAD, GO_OK };

static bool is_tchar(int c)
{
	return isalnum(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* The next line of buf[*off..len) without its LF (and a CR before it);
 * false if no LF yet. */
static bool next_line(const struct go_server *g, size_t *off, const char **line, size_t *n)
{
	const char *lf;

	if (*off >= g->len)
		return false;
	lf = memchr(g->buf + *off, '\n', g->len - *off);
	if (lf == NULL)
		return false;
	*line = g->buf + *off;
	*n = (size_t)(lf - *line);
	if (*n > 0 && (*line)[*n - 1] == '\r')
		(*n)--;
	*off = (size_t)(lf + 1 - g->buf);
	return true;
}

static void trim(const char **v, size_t *n)
{
	while (*n > 0 && (**v == ' ' || **v == '\t'))
		(*v)++, (*n)--;
	while (*n > 0 && ((*v)[*n - 1] == ' ' || (*v)[*n - 1] == '\t'))
		(*n)--;
}

static bool token_in(const char *v, size_t n, const char *tok)
{
	size_t t = strlen(tok);

	for (size_t i = 0; i + t <= n; i++)
		if (strncasecmp(v + i, tok, t) == 0 && (i == 0 || strchr(" ,\t", v[i - 1])) &&
		    (i + t == n || strchr(" ,\t", v[i + t])))
			return true;
	return false;
}

/* A chunked body from buf[*off..) (Go's internal/chunked reader and the
 * trailer read after it). */
static int read_chunked(struct go_server *g, size_t *off, struct go_req *r)
{
	for (;;) {
		const char *line, *semi;
		size_t n;
		uint64_t size = 0;

		if (!next_line(g, off, &line, &n))
			return GO_MORE;
		while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t'))
			n--;
		semi = memchr(line, ';', n);
		if (semi != NULL)
			n = (size_t)(semi - line);
		while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t'))
			n--;
		if (n == 0 || n > 16)
			return GO_BAD;
		for (size_t i = 0; i < n; i++) {
			if (hexval((unsigned char)line[i]) < 0)
				return GO_BAD;
			size = size * 16 + (uint64_t)hexval((unsigned char)line[i]);
		}
		if (size == 0)
			break;
		if (size > (1u << 20))
			return GO_BAD; /* more than the fuzzer ever sends */
		if (g->len - *off < size + 2)
			return GO_MORE;
		if (memcmp(g->buf + *off + size, "\r\n", 2) != 0)
			return GO_BAD;
		r->body = realloc(r->body, r->body_len + size + 1);
		memcpy(r->body + r->body_len, g->buf + *off, size);
		r->body_len += size;
		*off += size + 2;
	}
	for (;;) { /* trailers, up to an empty line */
		const char *line;
		size_t n;

		if (!next_line(g, off, &line, &n))
			return GO_MORE;
		if (n == 0)
			return GO_OK;
		if (memchr(line, ':', n) == NULL)
			return GO_BAD;
	}
}

/* One request from the buffer: GO_OK with *consumed, GO_MORE, or GO_BAD
 * (Go answers 4xx/5xx and closes). */
static int go_read_request(struct go_server *g, struct go_req *r, size_t *consumed)
{
	size_t off = 0, n, hosts = 0, tes = 0;
	const char *line, *sp1, *sp2;
	const char *cl = NULL, *te = NULL, *ct = NULL;
	size_t cl_len = 0, te_len = 0, ct_len = 0;
	bool http11, cl_conflict = false, has_close = false, has_keep_alive = false;
	int minor = 0;

	memset(r, 0, sizeof(*r));
	if (g->post_last) {
		/* RFC 7230 section 3 tolerance: Peek(4), discard leading CR/LF. */
		if (g->len < 4 && !g->eof)
			return GO_MORE;
		while (off < 4 && off < g->len && (g->buf[off] == '\r' || g->buf[off] == '\n'))
			off++;
		r->after_crlf = off > 0;
	}
	if (!next_line(g, &off, &line, &n))
		return GO_MORE;
	sp1 = memchr(line, ' ', n);
	sp2 = sp1 ? memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - line)) : NULL;
	if (sp2 == NULL || sp1 == line || (size_t)(sp1 - line) >= sizeof(r->method))
		return GO_BAD;
	for (const char *c = line; c < sp1; c++)
		if (!is_tchar((unsigned char)*c))
			return GO_BAD;
	memcpy(r->method, line, (size_t)(sp1 - line));
	r->target = sp1 + 1;
	r->target_len = (size_t)(sp2 - r->target);
	{
		const char *proto = sp2 + 1;
		size_t plen = n - (size_t)(proto - line);

		if (plen < 8 || memcmp(proto, "HTTP/1.", 7) != 0)
			return GO_BAD;
		for (size_t i = 7; i < plen; i++) {
			if (!isdigit((unsigned char)proto[i]))
				return GO_BAD;
			minor = minor < 1000 ? minor * 10 + proto[i] - '0' : minor;
		}
	}
	http11 = minor >= 1;
	if (r->target_len == 0)
		return GO_BAD;
	/* Header lines, obs-fold joined, names with trailing spaces trimmed. */
	for (bool first = true;; first = false) {
		const char *colon, *v;
		size_t klen, vlen;

		if (!next_line(g, &off, &line, &n))
			return GO_MORE;
		if (n == 0)
			break;
		if (line[0] == ' ' || line[0] == '\t') {
			if (first)
				return GO_BAD;
			continue; /* a continuation: part of the last value */
		}
		colon = memchr(line, ':', n);
		if (colon == NULL)
			return GO_BAD;
		klen = (size_t)(colon - line);
		while (klen > 0 && line[klen - 1] == ' ')
			klen--;
		if (klen == 0)
			continue;
		for (size_t i = 0; i < klen; i++)
			if (!is_tchar((unsigned char)line[i]))
				return GO_BAD;
		v = colon + 1;
		vlen = n - (size_t)(v - line);
		trim(&v, &vlen);
		for (size_t i = 0; i < vlen; i++)
			if (((unsigned char)v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7f)
				return GO_BAD;
#define IS(name) (klen == strlen(name) && strncasecmp(line, name, klen) == 0)
		if (IS("Host")) {
			hosts++;
		} else if (IS("Transfer-Encoding")) {
			tes++;
			te = v, te_len = vlen;
		} else if (IS("Content-Length")) {
			if (cl != NULL && (cl_len != vlen || memcmp(cl, v, vlen) != 0))
				cl_conflict = true;
			if (cl == NULL)
				cl = v, cl_len = vlen;
		} else if (IS("Content-Type")) {
			if (ct == NULL)
				ct = v, ct_len = vlen;
		} else if (IS("Connection")) {
			has_close |= token_in(v, vlen, "close");
			has_keep_alive |= token_in(v, vlen, "keep-alive");
		} else if (IS("Expect")) {
			r->expect |= http11 && vlen == 12 && strncasecmp(v, "100-continue", 12) == 0;
		}
#undef IS
	}
	/* Go's shouldClose(): 1.0 closes unless keep-alive, 1.1 on close. */
	r->close = has_close || (!http11 && !has_keep_alive);
	if ((http11 && hosts == 0 && strcmp(r->method, "CONNECT") != 0) || hosts > 1)
		return GO_BAD;
	if (ct != NULL) {
		const char *semi = memchr(ct, ';', ct_len);
		size_t mlen = semi ? (size_t)(semi - ct) : ct_len;

		trim(&ct, &mlen);
		r->form = mlen == 33 && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0;
	}
	/* Framing: chunked (HTTP/1.1 only), else Content-Length, else none. */
	if (tes > 0 && http11) {
		if (tes > 1 || te_len != 7 || strncasecmp(te, "chunked", 7) != 0)
			return GO_BAD;
		if (r->expect && g->len == off)
			return GO_MORE; /* the 100 Continue goes out first */
		{
			int rc = read_chunked(g, &off, r);

			if (rc != GO_OK)
				return rc;
		}
	} else if (cl != NULL && cl_len > 0) {
		uint64_t len = 0;

		if (cl_conflict || cl_len > 18)
			return GO_BAD;
		for (size_t i = 0; i < cl_len; i++) {
			if (!isdigit((unsigned char)cl[i]))
				return GO_BAD;
			len = len * 10 + (uint64_t)(cl[i] - '0');
		}
		if (len > 0 && r->expect && g->len == off)
			return GO_MORE;
		if (g->len - off < len)
			return GO_MORE;
		r->body = malloc(len + 1);
		memcpy(r->body, g->buf + off, len);
		r->body_len = len;
		off += len;
	}
	if (r->body == NULL)
		r->body = malloc(1);
	r->body[r->body_len] = '\0';
	*consumed = off;
	return GO_OK;
}

/* ---- what the daemon would run ----------------------------------------------------------- */

/* Go's json decoder reads invalid UTF-8 as U+FFFD; jansson refuses it. */
static char *repair_utf8(const char *s, size_t len, size_t *out_len)
{
	char *out = malloc(len * 3 + 1);
	size_t n = 0;

	for (size_t i = 0; i < len;) {
		const unsigned char *u = (const unsigned char *)s + i;
		size_t l = 0;
		bool ok;

		if (u[0] < 0x80)
			l = 1;
		else if (u[0] >= 0xc2 && u[0] <= 0xdf)
			l = 2;
		else if (u[0] >= 0xe0 && u[0] <= 0xef)
			l = 3;
		else if (u[0] >= 0xf0 && u[0] <= 0xf4)
			l = 4;
		ok = l > 0 && i + l <= len;

		for (size_t k = 1; ok && k < l; k++)
			ok = (u[k] & 0xc0) == 0x80;
		if (ok && l == 3)
			ok = !(u[0] == 0xe0 && u[1] < 0xa0) && !(u[0] == 0xed && u[1] >= 0xa0);
		if (ok && l == 4)
			ok = !(u[0] == 0xf0 && u[1] < 0x90) && !(u[0] == 0xf4 && u[1] >= 0x90);
		if (ok) {
			memcpy(out + n, s + i, l);
			n += l;
			i += l;
		} else {
			memcpy(out + n, "\xef\xbf\xbd", 3);
			n += 3;
			i++;
		}
	}
	out[n] = '\0';
	*out_len = n;
	return out;
}

/* json.NewDecoder(body).Decode(): the first value, whatever follows. */
static json_t *go_decode(const char *body, size_t len, bool whole)
{
	size_t n;
	char *fixed = repair_utf8(body, len, &n);
	json_t *v = json_loadb(fixed, n,
			       JSON_ALLOW_NUL | JSON_DECODE_ANY | (whole ? 0 : JSON_DISABLE_EOF_CHECK),
			       NULL);

	free(fixed);
	return v;
}

/* r.Form[name]: the form body's values (POST with a form Content-Type),
 * then the query's. */
static int form_values(const struct go_req *r, const char *name, char **vals, int max)
{
	const char *q = memchr(r->target, '?', r->target_len);
	int n = 0;

	if (r->form)
		n = go_query_values(r->body, r->body_len, name, vals, max);
	if (q != NULL)
		n += go_query_values(q + 1, r->target_len - (size_t)(q + 1 - r->target), name,
				     vals + n, max - n);
	return n;
}

static void free_values(char **vals, int n)
{
	for (int i = 0; i < n; i++)
		free(vals[i]);
}

/* The request as the daemon would run it: a create must carry ours. */
static void check_create(const struct go_req *r)
{
	char *path = malloc(r->target_len + 1), *vals[64];
	long plen = go_path(r->target, r->target_len, path);
	const char *route = plen >= 0 ? go_create_route(path, (size_t)plen) : NULL;
	const char *why = NULL;
	int n;

	free(path);
	if (strcmp(r->method, "POST") != 0 || route == NULL || (skip_known && r->after_crlf))
		return;
	if (strcmp(route, "/build") == 0) {
		json_t *labels, *v;
		const char *k;

		n = form_values(r, "labels", vals, 64);
		labels = n > 0 ? go_decode(vals[0], strlen(vals[0]), true) : NULL;
		if (!json_is_object(labels))
			why = "no labels= object";
		json_object_foreach(our_labels, k, v)
		{
			if (why == NULL && !json_equal(json_object_get(labels, k), v))
				why = "labels= without ours";
		}
		json_decref(labels);
		free_values(vals, n);
		n = form_values(r, "cgroupparent", vals, 64);
		if (why == NULL && (n == 0 || strcmp(vals[0], OUR_PARENT) != 0))
			why = "cgroupparent= not ours";
		free_values(vals, n);
	} else if (strcmp(route, "/commit") == 0 || strcmp(route, "/images/create") == 0) {
		bool import = true;

		if (strcmp(route, "/images/create") == 0) {
			/* An import: no fromImage, and a fromSrc (without one the
			 * daemon fetches "http://" and fails). */
			n = form_values(r, "fromImage", vals, 64);
			import = n == 0 || vals[0][0] == '\0';
			free_values(vals, n);
			n = form_values(r, "fromSrc", vals, 64);
			import = import && n > 0 && vals[0][0] != '\0';
			free_values(vals, n);
		}
		n = form_values(r, "changes", vals, 64);
		if (import && (n == 0 || n == 64 || !label_change_is_ours(vals[n - 1])))
			why = "the last changes= is not our LABEL";
		free_values(vals, n);
	} else {
		/* A JSON body: Go's decoder reads the first value. */
		json_t *root = go_decode(r->body, r->body_len, false);
		bool volume = strcmp(route, "/volumes/create") == 0;

		if (json_is_object(root))
			body_is_labelled(root, strcmp(route, "/containers/create") == 0, OUR_PARENT,
					 &why);
		else if (volume && (r->body_len == 0 || json_is_null(root)))
			why = "an empty volume create (the daemon makes an anonymous volume)";
		json_decref(root);
	}
	CHECK(why == NULL, "the daemon would run POST %.*s unlabelled (%s); body: %.*s",
	      (int)r->target_len, r->target, why, (int)(r->body_len > 300 ? 300 : r->body_len),
	      r->body);
}

static void go_close(struct go_server *g)
{
	if (g->fd >= 0)
		close(g->fd);
	g->fd = -1;
}

static void go_write(struct go_server *g, const char *s)
{
	if (g->fd >= 0 && write(g->fd, s, strlen(s)) < 0 && errno != EAGAIN)
		go_close(g);
}

/* Read what the proxy sent and answer every complete request. */
static bool go_serve(struct go_server *g)
{
	bool progress = false;

	while (g->fd >= 0) {
		char tmp[16384];
		ssize_t n = read(g->fd, tmp, sizeof(tmp));

		if (n == 0)
			g->eof = true;
		if (n <= 0)
			break;
		g->buf = realloc(g->buf, g->len + (size_t)n);
		memcpy(g->buf + g->len, tmp, (size_t)n);
		g->len += (size_t)n;
		progress = true;
#ifdef RELAY_DEBUG
		fprintf(stderr, "daemon read %zd: [%.*s]\n", n, (int)n, tmp);
#endif
	}
	while (g->fd >= 0) {
		struct go_req r;
		size_t used = 0;
		int rc = go_read_request(g, &r, &used);

		if (rc == GO_MORE && r.expect && !g->eof && !g->continued) {
			/* The create handlers read the body: Go says continue. */
			go_write(g, "HTTP/1.1 100 Continue\r\n\r\n");
			g->continued = true;
		}
		if (rc == GO_MORE) {
			free(r.body);
			if (g->eof)
				go_close(g);
			break;
		}
		if (rc == GO_BAD) {
#ifdef RELAY_DEBUG
			fprintf(stderr, "daemon: bad request: %.*s\n", (int)g->len, g->buf);
#endif
			free(r.body);
			go_write(g, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n"
				    "Content-Length: 0\r\n\r\n");
			go_close(g);
			break;
		}
#ifdef RELAY_DEBUG
		fprintf(stderr, "daemon: %s %.*s (%zu body bytes)\n", r.method, (int)r.target_len,
			r.target, r.body_len);
#endif
		check_create(&r);
		go_write(g, r.close ? "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
				    : "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
		g->post_last = strcmp(r.method, "POST") == 0;
		g->continued = false;
		g->served++;
		memmove(g->buf, g->buf + used, g->len - used);
		g->len -= used;
		free(r.body);
		progress = true;
		if (r.close)
			go_close(g);
	}
	return progress;
}

/* ---- the client ---------------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct go_server g = { .fd = -1 };
	size_t step, off = 0;
	int client, idle = 0;
	char sink[65536];

	if (size < 1)
		return 0;
	step = data[0] == 0 ? size : (size_t)1 << (data[0] % 12);
	data++, size--;
	client = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	strcpy(addr.sun_path, proxy_path);
	if (connect(client, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		abort();
	for (int i = 0; i < 1000 && g.fd < 0; i++) {
		ev_run(loop, EVRUN_NOWAIT);
		g.fd = accept4(daemon_listen, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	}
	CHECK(g.fd >= 0, "the proxy did not connect to the daemon");
	/* Write, relay and answer until nothing moves any more. */
	while (idle < SPINS) {
		bool progress = false;
		ssize_t n;

		if (off < size) {
			n = write(client, data + off, size - off < step ? size - off : step);
			if (n > 0)
				off += (size_t)n, progress = true;
			else if (n < 0 && errno != EAGAIN)
				off = size; /* the proxy closed on us */
		}
		ev_run(loop, EVRUN_NOWAIT);
		progress |= go_serve(&g);
		while ((n = read(client, sink, sizeof(sink))) > 0)
			progress = true;
		idle = progress ? 0 : idle + 1;
	}
	/* The client goes away; the connection must be freed. */
	close(client);
	for (int i = 0; i < 100000 && proxy->nconns > 0; i++) {
		ev_run(loop, EVRUN_NOWAIT);
		go_serve(&g);
		if (i == 1000)
			go_close(&g); /* the daemon gives up too */
	}
	CHECK(proxy->nconns == 0, "a connection is still open after both ends closed");
	go_close(&g);
	free(g.buf);
	return 0;
}
