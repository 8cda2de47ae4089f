/* worker.c - one worker thread, a FIFO of jobs to run, a list of jobs run,
 * and an ev_async that wakes the loop to deliver them.
 *
 * One thread is enough: what it takes off the loop is the rare big body,
 * and jobs are bounded by the proxy's body budget. The loop thread alone
 * calls done() and drop() and reads `detached`, so the only state both
 * threads touch is the two lists and `stop`, under the lock.
 */
#include "worker.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

#include "../common/util.h"

struct worker_pool {
	struct ev_loop *loop;		 /* where jobs are delivered */
	ev_async wake;			 /* the thread tells the loop a job was run */
	pthread_t thread;		 /* the worker */
	bool started;			 /* the thread is running */
	pthread_mutex_t lock;		 /* guards todo, finished and stop */
	pthread_cond_t cond;		 /* a job was queued, or stop was set */
	struct worker_job *todo;	 /* jobs to run, oldest first */
	struct worker_job **todo_tail;	 /* where the next one goes */
	struct worker_job *finished;	 /* jobs run, not yet delivered */
	struct worker_job **finished_tail; /* where the next one goes */
	bool stop;			 /* the thread must exit */
	unsigned pending;		 /* submitted, not yet delivered (loop thread) */
};

static void push(struct worker_job ***tail, struct worker_job *job)
{
	job->next = NULL;
	**tail = job;
	*tail = &job->next;
}

static void *worker_main(void *arg)
{
	struct worker_pool *pool = arg;

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		struct worker_job *job;

		while (pool->todo == NULL && !pool->stop)
			pthread_cond_wait(&pool->cond, &pool->lock);
		if (pool->stop)
			break;
		job = pool->todo;
		pool->todo = job->next;
		if (pool->todo == NULL)
			pool->todo_tail = &pool->todo;
		pthread_mutex_unlock(&pool->lock);
		job->run(job);
		pthread_mutex_lock(&pool->lock);
		push(&pool->finished_tail, job);
		/* Safe from any thread; coalesced while the loop is busy. */
		ev_async_send(pool->loop, &pool->wake);
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

/* Deliver what was run: done() to a submitter still there, else drop(). */
static void on_wake(struct ev_loop *loop, ev_async *w, int revents)
{
	struct worker_pool *pool = w->data;
	struct worker_job *job, *next;

	(void)revents;
	pthread_mutex_lock(&pool->lock);
	job = pool->finished;
	pool->finished = NULL;
	pool->finished_tail = &pool->finished;
	pthread_mutex_unlock(&pool->lock);
	for (; job != NULL; job = next) {
		next = job->next;
		pool->pending--;
		if (job->detached)
			job->drop(job);
		else
			job->done(job);
	}
	/* Active only while jobs are out, so an idle pool does not keep
	 * the loop alive. */
	if (pool->pending == 0)
		ev_async_stop(loop, &pool->wake);
}

struct worker_pool *worker_pool_new(struct ev_loop *loop)
{
	struct worker_pool *pool = xcalloc(1, sizeof(*pool));

	pool->loop = loop;
	pool->todo_tail = &pool->todo;
	pool->finished_tail = &pool->finished;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->cond, NULL);
	ev_async_init(&pool->wake, on_wake);
	pool->wake.data = pool;
	return pool;
}

/* The thread is started with every signal blocked: signals are the loop
 * thread's to take (ev_signal, signalfd), never a worker's. */
static int start_thread(struct worker_pool *pool)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&pool->thread, NULL, worker_main, pool);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	pool->started = true;
	return 0;
}

int worker_submit(struct worker_pool *pool, struct worker_job *job)
{
	if (!pool->started && start_thread(pool) < 0)
		return -1;
	job->detached = false;
	if (pool->pending++ == 0)
		ev_async_start(pool->loop, &pool->wake);
	pthread_mutex_lock(&pool->lock);
	push(&pool->todo_tail, job);
	pthread_cond_signal(&pool->cond);
	pthread_mutex_unlock(&pool->lock);
	return 0;
}

void worker_detach(struct worker_job *job)
{
	job->detached = true;
}

unsigned worker_pending(const struct worker_pool *pool)
{
	return pool->pending;
}

static void drop_all(struct worker_job *job)
{
	struct worker_job *next;

	for (; job != NULL; job = next) {
		next = job->next;
		job->drop(job);
	}
}

void worker_pool_free(struct worker_pool *pool)
{
	if (pool == NULL)
		return;
	if (pool->started) {
		pthread_mutex_lock(&pool->lock);
		pool->stop = true;
		pthread_cond_signal(&pool->cond);
		pthread_mutex_unlock(&pool->lock);
		pthread_join(pool->thread, NULL);
	}
	drop_all(pool->todo);
	drop_all(pool->finished);
	ev_async_stop(pool->loop, &pool->wake);
	pthread_cond_destroy(&pool->cond);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
}
