/* A persistent pool of worker threads for data-parallel ops: the caller's thread is worker 0, the
 * pool's threads are workers 1..n-1, and thread_pool_run returns when every worker has finished
 * the job. Threads are created once (no thread creation per op); between jobs they spin briefly
 * (ops follow each other within microseconds) and then sleep on a futex, so an idle pool costs
 * no CPU. */
#ifndef KUMO_TENSOR_THREADPOOL_H
#define KUMO_TENSOR_THREADPOOL_H

typedef struct thread_pool thread_pool;

/* ith in [0, nth): the worker's share of the job. */
typedef void (*thread_pool_fn)(void *arg, int ith, int nth);

thread_pool *thread_pool_new(int n_threads);   /* NULL on failure; n_threads >= 1 */
void thread_pool_free(thread_pool *pool);
int thread_pool_size(const thread_pool *pool);
/* Runs fn(arg, ith, nth) on all n workers and waits for all of them. Not reentrant. */
void thread_pool_run(thread_pool *pool, thread_pool_fn fn, void *arg);
/* Inside a thread_pool_run job: returns once every worker of the pool has called it (all n must
 * call it the same number of times). Memory written before it is visible to every worker after it. */
void thread_pool_barrier(thread_pool *pool);

/* Runs fn(arg, ith, nth) on the caller (ith = 0) and on whichever workers join in time, then waits
 * for those that joined; workers that arrive after the caller's own fn returned skip the job. So fn
 * must hand out its work dynamically (an atomic counter) such that any set of participants,
 * including the caller alone, completes it. On a machine shared with other jobs this keeps a
 * descheduled worker from stalling every op; the result cannot depend on who did what. */
void thread_pool_run_shared(thread_pool *pool, thread_pool_fn fn, void *arg);

/* [*start, *end) of n items for worker ith of nth, in contiguous chunks. */
static inline void thread_pool_split(long n, int ith, int nth, long *start, long *end) {
    long per = (n + nth - 1) / nth;
    long s = per * ith;
    long e = s + per;
    *start = s < n ? s : n;
    *end = e < n ? e : n;
}

/* A polite busy-wait step (the x86 pause instruction). */
static inline void thread_pool_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Number of online CPU cores (>= 1). */
int kumo_cpu_count(void);

#endif
