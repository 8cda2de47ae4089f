/* worker.h - one request's heavy work (the rewrite of a big create body:
 * tens of MiB of JSON, hundreds of thousands of Binds) run on a worker
 * thread, so the event loop goes on serving every other connection.
 *
 * 1. worker_pool_new() with the loop results are delivered on; the thread
 *    starts with the first job (most sessions never need it).
 * 2. Embed a struct worker_job in a job of your own, set run, done and drop,
 *    and worker_submit() it. run(job) is called on the worker thread and
 *    may touch only the job's own data; then done(job) on the loop thread,
 *    which takes the job over.
 * 3. worker_detach(job) when the submitter goes away first (a connection
 *    closed while its body is rewritten): done() is never called for it,
 *    drop(job) frees it on the loop thread once run() has returned.
 * 4. worker_pool_free() at the end: waits for the job being run, drops the
 *    ones not yet delivered.
 */
#ifndef CI_WRAP_WORKER_H
#define CI_WRAP_WORKER_H

#include <ev.h>
#include <stdbool.h>

struct worker_job {
	void (*run)(struct worker_job *job);  /* worker thread: the work, own data only */
	void (*done)(struct worker_job *job); /* loop thread: the result; takes the job */
	void (*drop)(struct worker_job *job); /* loop thread: frees a detached or undelivered job */
	bool detached;			      /* the submitter is gone (loop thread only) */
	struct worker_job *next;	      /* the pool's queue link */
};

struct worker_pool;

struct worker_pool *worker_pool_new(struct ev_loop *loop);

/* Queue a job. Returns 0, or -1 with errno when the thread cannot be
 * started (the caller then does the work itself). */
int worker_submit(struct worker_pool *pool, struct worker_job *job);

/* The submitter no longer wants the result: the job is dropped, not done. */
void worker_detach(struct worker_job *job);

/* Jobs submitted and not yet delivered (done or dropped). */
unsigned worker_pending(const struct worker_pool *pool);

void worker_pool_free(struct worker_pool *pool);

#endif
