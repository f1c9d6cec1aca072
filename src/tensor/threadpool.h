/* A persistent pool of worker threads for data-parallel ops: the caller's thread is worker 0, the
 * pool's threads are workers 1..n-1, and thread_pool_run returns when every worker has finished
 * the job. Threads are created once (no thread creation per op). */
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

/* [*start, *end) of n items for worker ith of nth, in contiguous chunks. */
static inline void thread_pool_split(long n, int ith, int nth, long *start, long *end) {
    long per = (n + nth - 1) / nth;
    long s = per * ith;
    long e = s + per;
    *start = s < n ? s : n;
    *end = e < n ? e : n;
}

/* Number of online CPU cores (>= 1). */
int kumo_cpu_count(void);

#endif
