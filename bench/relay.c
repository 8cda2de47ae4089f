/* relay.c - the floor: a bare byte relay from a UNIX socket to another, with
 * no HTTP parsing at all. One thread, edge-triggered epoll, and for each
 * direction a 256 KiB pipe that splice() moves the bytes through, so they
 * never enter user space. No proxy that reads the protocol can beat it; the
 * benchmark runs it beside the real targets to show how far they are from it.
 *
 *   relay LISTEN_PATH UPSTREAM_PATH
 *
 * Each accepted connection gets its own connection to UPSTREAM_PATH. EOF is
 * passed on as a half-close (shutdown SHUT_WR), as Docker's hijacked streams
 * need: `docker exec -i` ends its stdin that way and still reads the output.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define PIPE_SIZE (256 * 1024)
#define MAX_EVENTS 64

/* One direction: src -> pipe -> dst. */
struct half {
	int src, dst;	   /* sockets (owned by the relay_conn) */
	int pipe[2];	   /* read end, write end */
	size_t in_pipe;	   /* bytes in the pipe */
	size_t cap;	   /* the pipe's size */
	bool src_eof;	   /* src sent EOF */
	bool shut;	   /* dst's write side is shut down */
};

struct relay_conn {
	int cfd, ufd;		 /* client and upstream sockets */
	struct half h[2];	 /* client->upstream, upstream->client */
	bool dead;		 /* closed; freed after the event batch */
	struct relay_conn *next; /* on the free list */
};

static const char *upstream_path;
static struct relay_conn *graveyard;
static int ep;

static int unix_addr(struct sockaddr_un *addr, const char *path)
{
	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(addr->sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(addr->sun_path, path);
	return 0;
}

static int half_init(struct half *h, int src, int dst)
{
	h->src = src;
	h->dst = dst;
	if (pipe2(h->pipe, O_NONBLOCK | O_CLOEXEC) < 0)
		return -1;
	/* Not fatal if refused (pipe-max-size): the default 64 KiB works. */
	fcntl(h->pipe[1], F_SETPIPE_SZ, PIPE_SIZE);
	h->cap = (size_t)fcntl(h->pipe[1], F_GETPIPE_SZ);
	return 0;
}

static void conn_kill(struct relay_conn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	close(c->cfd); /* close also removes it from the epoll set */
	close(c->ufd);
	for (int i = 0; i < 2; i++) {
		if (c->h[i].pipe[0] >= 0) {
			close(c->h[i].pipe[0]);
			close(c->h[i].pipe[1]);
		}
	}
	c->next = graveyard;
	graveyard = c;
}

/* Move what can be moved; -1 on a hard error. */
static int half_pump(struct half *h)
{
	for (;;) {
		bool progress = false;
		ssize_t n;

		if (!h->src_eof && h->in_pipe < h->cap) {
			n = splice(h->src, NULL, h->pipe[1], NULL, h->cap - h->in_pipe,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0) {
				h->in_pipe += (size_t)n;
				progress = true;
			} else if (n == 0) {
				h->src_eof = true;
				progress = true;
			} else if (errno != EAGAIN && errno != EINTR) {
				return -1;
			}
		}
		if (h->in_pipe > 0) {
			n = splice(h->pipe[0], NULL, h->dst, NULL, h->in_pipe,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0) {
				h->in_pipe -= (size_t)n;
				progress = true;
			} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				return -1;
			}
		}
		if (h->src_eof && h->in_pipe == 0 && !h->shut) {
			shutdown(h->dst, SHUT_WR);
			h->shut = true;
		}
		/* Edge-triggered: stop only where a future edge will wake us
		 * (EAGAIN on a read or write), never with work left. */
		if (!progress)
			return 0;
	}
}

/* Pump the halves an event on one socket concerns: readable feeds the half
 * it is the source of, writable drains the half it is the sink of. An
 * event that names neither (hang-up, error) pumps both. */
static void conn_pump(struct relay_conn *c, int side, uint32_t events)
{
	bool in = events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR);
	bool out = events & (EPOLLOUT | EPOLLHUP | EPOLLERR);
	bool pump[2] = { false, false };

	/* side 0 is the client: source of h[0], sink of h[1]. */
	if (in)
		pump[side] = true;
	if (out)
		pump[1 - side] = true;
	for (int i = 0; i < 2; i++) {
		if (pump[i] && half_pump(&c->h[i]) < 0) {
			conn_kill(c);
			return;
		}
	}
	if (c->h[0].shut && c->h[1].shut)
		conn_kill(c);
}

static int connect_upstream(void)
{
	struct sockaddr_un addr;
	int fd;

	if (unix_addr(&addr, upstream_path) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

static void on_accept(int lfd)
{
	for (;;) {
		int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct relay_conn *c;
		struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET };
		uint32_t all = EPOLLIN | EPOLLOUT;

		if (cfd < 0)
			return;
		c = calloc(1, sizeof(*c));
		c->cfd = cfd;
		c->h[0].pipe[0] = c->h[1].pipe[0] = -1;
		c->ufd = connect_upstream();
		if (c->ufd < 0 || half_init(&c->h[0], cfd, c->ufd) < 0 ||
		    half_init(&c->h[1], c->ufd, cfd) < 0) {
			perror("relay: upstream");
			if (c->ufd < 0)
				c->ufd = open("/dev/null", O_RDONLY | O_CLOEXEC);
			conn_kill(c);
			continue;
		}
		/* The low bit of the pointer says which socket fired. */
		ev.data.u64 = (uint64_t)(uintptr_t)c;
		epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev);
		ev.data.u64 = (uint64_t)(uintptr_t)c | 1;
		epoll_ctl(ep, EPOLL_CTL_ADD, c->ufd, &ev);
		conn_pump(c, 0, all);
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_un addr;
	struct epoll_event ev = { .events = EPOLLIN }, evs[MAX_EVENTS];
	int lfd;

	if (argc != 3) {
		fprintf(stderr, "usage: relay LISTEN_PATH UPSTREAM_PATH\n");
		return 2;
	}
	upstream_path = argv[2];
	signal(SIGPIPE, SIG_IGN);
	if (unix_addr(&addr, argv[1]) < 0) {
		perror("relay: listen path");
		return 1;
	}
	unlink(argv[1]);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(lfd, 1024) < 0) {
		perror("relay: listen");
		return 1;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	ev.data.u64 = 0; /* the listening socket */
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		int n = epoll_wait(ep, evs, MAX_EVENTS, -1);

		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;
			struct relay_conn *c = (struct relay_conn *)(uintptr_t)(tag & ~(uint64_t)1);

			if (c == NULL)
				on_accept(lfd);
			else if (!c->dead)
				conn_pump(c, (int)(tag & 1), evs[i].events);
		}
		/* Events of this batch may name a connection closed earlier in
		 * it: free only now. */
		while (graveyard) {
			struct relay_conn *c = graveyard;

			graveyard = c->next;
			free(c);
		}
	}
}
