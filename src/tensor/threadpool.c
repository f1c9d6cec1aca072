#include "tensor/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

/* Workers spin for a short while on the job generation counter before sleeping on the condition
 * variable: ops follow each other within microseconds during a forward pass, and a futex wake per
 * op would cost more than the op itself for small matrices. */
#define SPIN_ITERS 20000

struct thread_pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_uint generation;     /* bumped once per job */
    atomic_int pending;         /* workers (excluding caller) still running the current job */
    atomic_bool stop;
    thread_pool_fn fn;
    void *arg;
};

struct worker_start {
    thread_pool *pool;
    int ith;
};

static void *worker_main(void *p) {
    struct worker_start *ws = p;
    thread_pool *pool = ws->pool;
    int ith = ws->ith;
    free(ws);
    unsigned seen = 0;
    for (;;) {
        unsigned gen;
        int spins = 0;
        while ((gen = atomic_load_explicit(&pool->generation, memory_order_acquire)) == seen &&
               !atomic_load(&pool->stop) && spins < SPIN_ITERS)
            spins++;
        if (gen == seen && !atomic_load(&pool->stop)) {
            pthread_mutex_lock(&pool->mu);
            while ((gen = atomic_load(&pool->generation)) == seen && !atomic_load(&pool->stop))
                pthread_cond_wait(&pool->cv, &pool->mu);
            pthread_mutex_unlock(&pool->mu);
        }
        if (atomic_load(&pool->stop)) break;
        seen = gen;
        pool->fn(pool->arg, ith, pool->n);
        atomic_fetch_sub_explicit(&pool->pending, 1, memory_order_acq_rel);
    }
    return NULL;
}

thread_pool *thread_pool_new(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    thread_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->n = n_threads;
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->cv, NULL);
    pool->threads = calloc((size_t)n_threads, sizeof *pool->threads);
    if (!pool->threads) { thread_pool_free(pool); return NULL; }
    for (int i = 1; i < n_threads; i++) {
        struct worker_start *ws = malloc(sizeof *ws);
        if (!ws) { pool->n = i; thread_pool_free(pool); return NULL; }
        ws->pool = pool;
        ws->ith = i;
        if (pthread_create(&pool->threads[i], NULL, worker_main, ws) != 0) {
            free(ws);
            pool->n = i;
            thread_pool_free(pool);
            return NULL;
        }
    }
    return pool;
}

void thread_pool_free(thread_pool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->mu);
    atomic_store(&pool->stop, true);
    pthread_cond_broadcast(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 1; i < pool->n; i++) pthread_join(pool->threads[i], NULL);
    pthread_mutex_destroy(&pool->mu);
    pthread_cond_destroy(&pool->cv);
    free(pool->threads);
    free(pool);
}

int thread_pool_size(const thread_pool *pool) { return pool->n; }

void thread_pool_run(thread_pool *pool, thread_pool_fn fn, void *arg) {
    if (pool->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    pool->fn = fn;
    pool->arg = arg;
    atomic_store(&pool->pending, pool->n - 1);
    pthread_mutex_lock(&pool->mu);
    atomic_fetch_add_explicit(&pool->generation, 1, memory_order_release);
    pthread_cond_broadcast(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
    fn(arg, 0, pool->n);
    for (long spins = 0; atomic_load_explicit(&pool->pending, memory_order_acquire) > 0; spins++)
        if (spins > SPIN_ITERS) sched_yield();
}

int kumo_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
