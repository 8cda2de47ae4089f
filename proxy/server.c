/* server.c - the proxy's listening socket, its connections, and the drain. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "proxy-internal.h"
#include "owner.h"
#include "track.h"
#include "worker.h"

/* Flow buffers are pages of their own. One going back to the cache keeps
 * its first page (all that a small request or answer touches) and gives the
 * rest back to the kernel: memory follows the streams in flight, not the
 * largest one the session ever saw. */
char *proxy_buf_get(struct proxy *p)
{
	if (p->nbuf_cache > 0)
		return p->buf_cache[--p->nbuf_cache];
	return xmap_pages(FLOW_BUF_SIZE);
}

void proxy_buf_put(struct proxy *p, char *buf, size_t used)
{
	if (p->nbuf_cache < PROXY_BUF_CACHE) {
		/* Only a stream's buffer has pages past the first to give back:
		 * short exchanges pay no syscall. */
		if (used > FLOW_BUF_KEEP)
			madvise(buf + FLOW_BUF_KEEP, FLOW_BUF_SIZE - FLOW_BUF_KEEP,
				MADV_DONTNEED);
		p->buf_cache[p->nbuf_cache++] = buf;
	} else {
		munmap(buf, FLOW_BUF_SIZE);
	}
}

/* Only the session's user (and root) may talk to the daemon through the
 * session's socket: the directory is 0700 already, this also covers a
 * socket passed on. The mounted socket is reached only from inside the
 * session's containers, whatever user they run as. */
static bool peer_allowed(const struct listener *l, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (l->any_uid)
		return true;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	return cred.uid == 0 || cred.uid == l->p->cfg.allowed_uid;
}

static void accept_start(struct proxy *p)
{
	for (unsigned i = 0; i < p->nlisteners; i++)
		if (p->listeners[i].fd >= 0)
			ev_io_start(p->loop, &p->listeners[i].w);
}

static void accept_stop(struct proxy *p)
{
	for (unsigned i = 0; i < p->nlisteners; i++)
		ev_io_stop(p->loop, &p->listeners[i].w);
}

static bool accepting(const struct proxy *p)
{
	return p->nlisteners > 0 && ev_is_active(&p->listeners[0].w);
}

static void accept_pause(struct proxy *p)
{
	accept_stop(p);
	if (!ev_is_active(&p->accept_retry))
		ev_timer_again(p->loop, &p->accept_retry);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct listener *l = w->data;
	struct proxy *p = l->p;

	(void)loop;
	(void)revents;
	for (int i = 0; i < 64 && p->nconns < PROXY_MAX_CONNS; i++) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM)
				accept_pause(p); /* retry once something is freed */
			return;
		}
		if (!peer_allowed(l, fd)) {
			cw_warn("proxy: refused a connection from another user");
			close(fd);
			continue;
		}
		c = conn_new(p, fd);
		c->next = p->conns;
		if (p->conns)
			p->conns->prev = c;
		p->conns = c;
		p->nconns++;
		p->stats.connections++;
	}
	if (p->nconns >= PROXY_MAX_CONNS)
		accept_pause(p);
}

static void on_accept_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct proxy *p = w->data;

	(void)revents;
	ev_timer_stop(loop, w);
	if (!p->draining)
		accept_start(p);
}

static void drain_done(void *arg)
{
	struct proxy *p = arg;
	void (*done)(void *) = p->drain_done;

	if (done == NULL)
		return;
	p->drain_done = NULL;
	ev_timer_stop(p->loop, &p->drain_timer);
	done(p->drain_arg);
}

/* The connections are gone; the container inspections the tracker started
 * still count, within the same time limit. */
static void drain_finish(struct proxy *p)
{
	if (p->drain_done != NULL)
		track_when_idle(p->track, drain_done, p);
}

void proxy_conn_closed(struct proxy *p, struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		p->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	p->nconns--;
	if (p->draining && p->nconns == 0)
		drain_finish(p);
	else if (!p->draining && !accepting(p) && p->nconns < PROXY_MAX_CONNS &&
		 !ev_is_active(&p->accept_retry))
		accept_start(p);
}

static void on_drain_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct proxy *p = w->data;

	(void)loop;
	(void)revents;
	cw_verbose("proxy: drain timed out with %u connection(s) open; closing them", p->nconns);
	while (p->conns != NULL)
		conn_free(p->conns);
	track_cancel(p->track);
	drain_done(p);
}

static void add_listener(struct proxy *p, int fd, bool any_uid)
{
	struct listener *l = &p->listeners[p->nlisteners++];

	l->fd = fd;
	l->any_uid = any_uid;
	l->p = p;
	ev_io_init(&l->w, on_accept, fd, EV_READ);
	l->w.data = l;
}

struct proxy *proxy_new(struct ev_loop *loop, const struct proxy_config *cfg,
			struct cw_error *err)
{
	struct proxy *p = xcalloc(1, sizeof(*p));

	(void)err;
	/* Bodies to rewrite grow to tens of MiB and go. Left to itself glibc
	 * raises its mmap threshold to the largest block freed (up to 32 MiB),
	 * after which such a body lives on the heap: each doubling is a copy
	 * on the loop (tens of ms at 32 MiB) and the freed heap is kept. A
	 * fixed threshold keeps big blocks mmap()ed: realloc() is mremap(),
	 * free() gives the memory back. */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	p->loop = loop;
	p->cfg = *cfg;
	p->track = track_new(loop, &p->cfg, &p->stats.created[RESOURCE_IMAGE]);
	p->owner = owner_new(loop, &p->cfg, p->track);
	p->workers = worker_pool_new(loop);
	add_listener(p, cfg->listen_fd, false);
	if (cfg->mounted_fd > 0)
		add_listener(p, cfg->mounted_fd, true);
	ev_init(&p->accept_retry, on_accept_retry);
	p->accept_retry.repeat = 0.1;
	p->accept_retry.data = p;
	ev_init(&p->drain_timer, on_drain_timeout);
	p->drain_timer.data = p;
	accept_start(p);
	return p;
}

static void close_listeners(struct proxy *p)
{
	accept_stop(p);
	for (unsigned i = 0; i < p->nlisteners; i++) {
		if (p->listeners[i].fd >= 0)
			close(p->listeners[i].fd);
		p->listeners[i].fd = -1;
	}
}

void proxy_drain(struct proxy *p, uint64_t timeout_ms, void (*done)(void *arg), void *arg)
{
	struct conn *c, *next;

	p->draining = true;
	p->drain_done = done;
	p->drain_arg = arg;
	ev_timer_stop(p->loop, &p->accept_retry);
	close_listeners(p);
	for (c = p->conns; c != NULL; c = next) {
		next = c->next;
		conn_drain(c);
	}
	ev_timer_set(&p->drain_timer, (double)timeout_ms / 1000.0, 0.);
	ev_timer_start(p->loop, &p->drain_timer);
	if (p->nconns == 0)
		drain_finish(p);
}

const char *proxy_deny_name(enum proxy_deny reason)
{
	static const char *const names[PROXY_DENY__COUNT] = { "policy", "too_large", "malformed",
							      "daemon" };

	return (unsigned)reason < PROXY_DENY__COUNT ? names[reason] : "malformed";
}

const struct proxy_stats *proxy_stats(const struct proxy *p)
{
	return &p->stats;
}

void proxy_set_cgroup_parent(struct proxy *p, const char *parent)
{
	p->cfg.rewrite.cgroup_parent = parent;
}

json_t *proxy_tracked(const struct proxy *p)
{
	return track_result(p->track);
}

void proxy_free(struct proxy *p)
{
	if (p == NULL)
		return;
	while (p->conns != NULL)
		conn_free(p->conns);
	worker_pool_free(p->workers); /* after the conns: they detach their jobs */
	close_listeners(p);
	ev_timer_stop(p->loop, &p->accept_retry);
	ev_timer_stop(p->loop, &p->drain_timer);
	while (p->nbuf_cache > 0)
		munmap(p->buf_cache[--p->nbuf_cache], FLOW_BUF_SIZE);
	owner_free(p->owner);
	track_free(p->track);
	free(p);
}

/* One JSON line per request: what an operator needs to see what a job did
 * through the socket. The target is printed as the client sent it. */
void proxy_audit(struct proxy *p, const struct conn *c)
{
	FILE *f = p->cfg.audit;
	json_t *line;
	struct timespec ts;
	struct tm tm;
	char when[40];

	if (f == NULL || c->state == REQ_IDLE)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + strlen(when), sizeof(when) - strlen(when), ".%03ldZ",
		 ts.tv_nsec / 1000000);
	line = json_pack("{s:s,s:s,s:s%,s:i,s:I,s:I,s:I,s:s}", "time", when, "method",
			 llhttp_method_name(c->method), "target", c->audit_target,
			 strnlen(c->audit_target, sizeof(c->audit_target)), "status", c->status,
			 "bytes_in", (json_int_t)c->req_bytes, "bytes_out",
			 (json_int_t)c->resp_bytes, "duration_ms",
			 (json_int_t)(c->started_ms ? now_ms() - c->started_ms : 0), "action",
			 c->note ? c->note : "relayed");
	if (line != NULL && c->reason[0] != '\0')
		json_object_set_new(line, "reason", json_string(c->reason));
	if (line != NULL) {
		json_dumpf(line, f, JSON_COMPACT);
		fputc('\n', f);
		fflush(f);
		json_decref(line);
	}
}
