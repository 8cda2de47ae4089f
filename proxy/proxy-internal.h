/* proxy-internal.h - what the proxy's server and its connections share. */
#ifndef CI_WRAP_PROXY_INTERNAL_H
#define CI_WRAP_PROXY_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/uio.h>

#include "filter.h"
#include "http.h"
#include "llhttp.h"
#include "proxy.h"
#include "route.h"

struct track_answer;
struct track;
struct track_wait;
struct buildctx;
struct owner;
struct owner_query;
struct owner_refs;
struct worker_job;
struct worker_pool;

/* Each direction's buffer; big enough that bulk streams move in few
 * syscalls, small enough that many connections stay cheap. */
#define FLOW_BUF_SIZE (64 * 1024)
/* What a cached buffer keeps resident: the page small messages use. */
#define FLOW_BUF_KEEP 4096
#define PROXY_MAX_CONNS 1024
#define PROXY_BUF_CACHE 16
/* After a refusal, what a client still sends is read and dropped up to
 * this much, so it gets to read the answer instead of a reset. */
#define LINGER_MAX (1024 * 1024)

/* One direction of a connection: bytes read from the source, released to the
 * sink once the parser has judged them. w <= p <= parsed <= r. */
struct flow {
	char *buf;		/* FLOW_BUF_SIZE bytes, from the proxy's cache */
	size_t w;		/* next byte to write to the sink */
	size_t p;		/* bytes before this are released for writing */
	size_t parsed;		/* bytes before this went through the parser */
	size_t r;		/* bytes before this have been read */
	size_t peak;		/* the most of buf r ever reached */
	struct iovec inj[3];	/* a rewritten request, written before buf */
	int ninj;		/* entries of inj still to write */
	int inj_at;		/* the first of them */
	char *inj_mem[3];	/* heap blocks behind inj, freed once written */
	bool src_eof;		/* the source sent EOF */
	bool dst_shut;		/* the sink's write side is shut down */
};

enum req_state {
	REQ_IDLE,    /* between requests */
	REQ_HEAD,    /* reading a request head */
	REQ_BODY,    /* relaying the body as it comes */
	REQ_CHECK,   /* held for an asynchronous step: a check, a rewrite */
	REQ_BUFFER,  /* collecting a body to rewrite */
	REQ_DONE,    /* request forwarded whole, its answer still due */
	REQ_REFUSED, /* answered with an error; closing once it is sent */
};

enum resp_state {
	RESP_NONE,   /* no answer due: the request is not forwarded yet */
	RESP_DUE,    /* forwarded: the answer is due (1xx answers may pass) */
	RESP_FINAL,  /* the final answer's head is in: its body is relayed */
	RESP_TO_RAW, /* that head switches the connection to raw */
	RESP_RAW,    /* hijacked: bytes flow unparsed both ways */
	RESP_DONE,   /* the answer is relayed whole (or cut off) */
};

/* How the connection ends; each state includes those before it. */
enum conn_end {
	END_NOT_YET,	  /* serving */
	END_AFTER_ANSWER, /* close once the current answer is sent */
	END_LINGER,	  /* refused, answer sent: the rest is read and dropped */
	END_DEAD,	  /* closed; freed when its callback returns */
};

/* A step of a request's handling (request.c): go on, wait for an
 * asynchronous answer (request_step_done()), or stop (refused/answered). */
enum step_result { STEP_NEXT, STEP_WAIT, STEP_STOP };
struct conn;
typedef enum step_result (*request_step)(struct conn *c);

/* Offsets into the request buffer of what the head tells us. */
struct req_head {
	size_t url_off, url_len;     /* request target */
	size_t field_off, field_len; /* header name being parsed */
	size_t value_off, value_len; /* header value being parsed */
	bool in_url, in_field, in_value; /* a span is open */
	struct http_framing framing; /* what the framing checks need */
	bool content_encoded;	     /* Content-Encoding other than identity */
	bool form_body;		     /* a form Content-Type Go would parse */
	bool expect_continue;	     /* Expect: 100-continue */
	size_t len;		     /* head length, once complete */
};

struct conn {
	struct proxy *proxy;	     /* owner */
	struct conn *prev, *next;    /* the proxy's list of connections */
	int cfd;		     /* client socket */
	int ufd;		     /* daemon socket, -1 if connecting failed */
	int upstream_errno;	     /* why it failed */
	ev_io c_read, c_write;	     /* client watchers */
	ev_io u_read, u_write;	     /* daemon watchers */
	struct flow req;	     /* client -> daemon */
	struct flow resp;	     /* daemon -> client */
	llhttp_t req_parser;	     /* parses requests in req */
	llhttp_t resp_parser;	     /* parses responses in resp */
	enum req_state state;	     /* where the current request is */
	enum resp_state resp_state;  /* where its answer is */
	enum conn_end end;	     /* how far the connection is from closing */
	struct req_head head;	     /* the current request's head */
	const struct route *route;   /* its route */
	uint8_t method;		     /* llhttp method of the current request */
	char *path;		     /* its canonical path (route.c), once routed */
	const request_step *steps;   /* the handling steps it goes through (request.c) */
	size_t nsteps, step;	     /* their number, the one running */
	enum req_state wait_state;   /* the state a waiting step resumes in */
	char audit_target[256];	     /* start of its target, kept for the audit log */
	int own_answers;	     /* answers to our own requests, not relayed */
	int status;		     /* status of the answer */
	size_t discarded;	     /* bytes discarded while lingering */
	int event;		     /* the llhttp pause reason, see relay.c */
	char *body;		     /* body being collected for a rewrite */
	char *body_head;	     /* copy of its head, rebuilt once the body is in */
	char *body_target;	     /* its rewritten target, or NULL */
	size_t body_target_len;	     /* length of body_target */
	size_t body_len, body_cap;   /* its length and allocation */
	uint64_t req_bytes;	     /* request bytes relayed (audit) */
	uint64_t resp_bytes;	     /* response bytes relayed (audit) */
	uint64_t started_ms;	     /* when the request began (audit) */
	const char *note;	     /* rewritten/refused reason (audit) */
	struct track_answer *track;  /* reading the answer for what it made, or NULL */
	struct track_wait *track_wait; /* REQ_CHECK: the image list a load or tag waits for */
	struct owner_query *owner_q; /* REQ_CHECK: the ownership check in flight */
	struct owner_refs *owner_refs; /* REQ_CHECK: checks of the objects a body names */
	json_t *refs;		     /* the objects the rewritten body names, to check */
	struct buildctx *buildctx;   /* a build's context read as it passes, or NULL */
	const char *build_why;	     /* why it could not be read, or NULL */
	char *held_mem[3];	     /* volume creates, head, body held back */
	size_t held_len[3];	     /* their lengths */
	struct answer_filter filter; /* the answer rewritten for isolation (filter.h) */
	struct worker_job *rewrite_job; /* its body being rewritten on the worker, or NULL */
	char reason[384];	     /* why it was refused (audit), "" if it was not */
};

/* A listening socket, and who may connect through it. */
struct listener {
	ev_io w;	  /* watches it */
	int fd;		  /* the socket, -1 once closed */
	bool any_uid;	  /* the socket mounted into containers: any user inside */
	struct proxy *p;  /* the proxy it feeds */
};

struct proxy {
	struct ev_loop *loop;	     /* the loop serving it */
	struct proxy_config cfg;     /* copy of the caller's config */
	struct listener listeners[2]; /* the session's socket, the mounted one */
	unsigned nlisteners;	     /* how many are in use */
	ev_timer accept_retry;	     /* re-arms accepting after EMFILE */
	ev_timer drain_timer;	     /* bounds the drain */
	struct conn *conns;	     /* every open connection */
	unsigned nconns;	     /* their number */
	bool draining;		     /* proxy_drain() was called */
	void (*drain_done)(void *);  /* called when drained */
	void *drain_arg;	     /* its argument */
	char *buf_cache[PROXY_BUF_CACHE]; /* free flow buffers */
	unsigned nbuf_cache;	     /* how many */
	size_t body_bytes;	     /* bytes held by all rewrite bodies */
	struct track *track;	     /* what the session made that carries no label */
	struct owner *owner;	     /* whose objects requests name */
	struct worker_pool *workers; /* rewrites big bodies off the loop */
	struct proxy_stats stats;    /* counters for the report */
};

/* Bodies being rewritten may hold at most this much memory together. */
#define PROXY_BODY_BUDGET (64u * 1024 * 1024)
/* Bodies bigger than this are rewritten on the worker thread: jansson
 * reads and writes about 64 KiB a millisecond, the most one request may
 * hold the loop for. */
#define PROXY_REWRITE_INLINE_MAX (64u * 1024)

/* relay.c: the connection's lifetime (the rest of its API is relay.h) */
struct conn *conn_new(struct proxy *p, int cfd);
void conn_drain(struct conn *c);
void conn_free(struct conn *c);

/* server.c */
char *proxy_buf_get(struct proxy *p);
/* Give back a buffer whose first used bytes were written to. */
void proxy_buf_put(struct proxy *p, char *buf, size_t used);
void proxy_conn_closed(struct proxy *p, struct conn *c);
void proxy_audit(struct proxy *p, const struct conn *c);

#endif
