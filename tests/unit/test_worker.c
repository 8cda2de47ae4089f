/* test_worker.c - the worker pool: jobs run off the loop thread and are
 * delivered on it, in order; a detached job is dropped, not delivered; the
 * pool's end drops what was not delivered; an idle pool does not keep the
 * loop alive.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../proxy/worker.h"

#define SPINS 20000

struct test_job {
	struct worker_job job; /* first: what the pool sees */
	int id;		       /* which job */
	pthread_t ran_on;      /* the thread run() was called on */
	int *log;	       /* ids of delivered jobs, in order */
	int *nlog;	       /* how many */
	int *dropped;	       /* jobs dropped */
};

static void job_run(struct worker_job *job)
{
	struct test_job *t = (struct test_job *)job;

	t->ran_on = pthread_self();
	usleep(1000);
}

static void job_done(struct worker_job *job)
{
	struct test_job *t = (struct test_job *)job;

	/* run() was off the loop thread, done() is on it. */
	assert_false(pthread_equal(t->ran_on, pthread_self()));
	t->log[(*t->nlog)++] = t->id;
	free(t);
}

static void job_drop(struct worker_job *job)
{
	struct test_job *t = (struct test_job *)job;

	(*t->dropped)++;
	free(t);
}

static struct test_job *job_new(int id, int *log, int *nlog, int *dropped)
{
	struct test_job *t = calloc(1, sizeof(*t));

	t->job = (struct worker_job){ .run = job_run, .done = job_done, .drop = job_drop };
	t->id = id;
	t->log = log;
	t->nlog = nlog;
	t->dropped = dropped;
	return t;
}

static void run_until_idle(struct ev_loop *loop, struct worker_pool *pool)
{
	for (int i = 0; i < SPINS && worker_pending(pool) > 0; i++) {
		ev_run(loop, EVRUN_NOWAIT);
		usleep(100);
	}
	assert_int_equal(worker_pending(pool), 0);
}

static void delivered_in_order(void **state)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct worker_pool *pool = worker_pool_new(loop);
	int log[8], nlog = 0, dropped = 0;

	(void)state;
	for (int i = 0; i < 8; i++)
		assert_int_equal(worker_submit(pool, &job_new(i, log, &nlog, &dropped)->job), 0);
	run_until_idle(loop, pool);
	assert_int_equal(nlog, 8);
	for (int i = 0; i < 8; i++)
		assert_int_equal(log[i], i);
	assert_int_equal(dropped, 0);
	/* Idle again: ev_run() returns, nothing keeps the loop alive. */
	ev_run(loop, 0);
	worker_pool_free(pool);
	ev_loop_destroy(loop);
}

static void detached_is_dropped(void **state)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct worker_pool *pool = worker_pool_new(loop);
	int log[2], nlog = 0, dropped = 0;
	struct test_job *gone = job_new(1, log, &nlog, &dropped);

	(void)state;
	assert_int_equal(worker_submit(pool, &gone->job), 0);
	assert_int_equal(worker_submit(pool, &job_new(2, log, &nlog, &dropped)->job), 0);
	worker_detach(&gone->job);
	run_until_idle(loop, pool);
	assert_int_equal(nlog, 1);
	assert_int_equal(log[0], 2);
	assert_int_equal(dropped, 1);
	worker_pool_free(pool);
	ev_loop_destroy(loop);
}

static void free_drops_undelivered(void **state)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct worker_pool *pool = worker_pool_new(loop);
	int log[4], nlog = 0, dropped = 0;

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(worker_submit(pool, &job_new(i, log, &nlog, &dropped)->job), 0);
	worker_pool_free(pool); /* the loop never ran: nothing delivered */
	assert_int_equal(nlog, 0);
	assert_int_equal(dropped, 4);
	ev_loop_destroy(loop);
}

static void unused_pool(void **state)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);

	(void)state;
	worker_pool_free(worker_pool_new(loop)); /* no thread was started */
	worker_pool_free(NULL);
	ev_loop_destroy(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(delivered_in_order),
		cmocka_unit_test(detached_is_dropped),
		cmocka_unit_test(free_drops_undelivered),
		cmocka_unit_test(unused_pool),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
