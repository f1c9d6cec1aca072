#include "tensor/threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

/* How long a waiting thread spins before it sleeps. A forward pass issues an op every few
 * microseconds, so waking a sleeping thread (a futex syscall on both sides, ~5-20 us on a loaded
 * host) per op would cost more than small ops themselves; a pool left idle (between requests) must
 * not burn a core though, hence the bound. ~2^14 pauses is roughly 50-200 us. */
#define SPIN_PAUSES (1 << 14)

/* Each atomic the threads hammer sits on its own cache line, away from the read-mostly fields. */
#define CACHE_LINE 64

struct thread_pool {
    int n;
    pthread_t *threads;
    thread_pool_fn fn;
    void *arg;
    bool shared;                /* the current job is a thread_pool_run_shared one */
    atomic_bool stop;
#if !defined(__linux__)
    pthread_mutex_t mu; /* futex stand-in */
    pthread_cond_t cv;
#endif
    _Alignas(CACHE_LINE) atomic_uint generation;   /* bumped once per job; workers wait on it */
    atomic_int workers_sleeping;
    atomic_uint closed;                            /* last generation whose caller stopped waiting */
    _Alignas(CACHE_LINE) atomic_uint pending;      /* thread_pool_run: workers still in the job */
    atomic_uint active;                            /* workers inside fn of a job */
    atomic_int caller_sleeping;
    _Alignas(CACHE_LINE) atomic_uint barrier_count;
    atomic_uint barrier_phase;
    atomic_int barrier_sleeping;
};

/* ---------- sleeping on a 32-bit word ---------- */

#if defined(__linux__)
static void word_wait(thread_pool *pool, atomic_uint *word, unsigned expected) {
    (void)pool;
    syscall(SYS_futex, (unsigned *)word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void word_wake_all(thread_pool *pool, atomic_uint *word) {
    (void)pool;
    syscall(SYS_futex, (unsigned *)word, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, NULL, 0);
}
#else
static void word_wait(thread_pool *pool, atomic_uint *word, unsigned expected) {
    pthread_mutex_lock(&pool->mu);
    if (atomic_load(word) == expected) pthread_cond_wait(&pool->cv, &pool->mu);
    pthread_mutex_unlock(&pool->mu);
}

static void word_wake_all(thread_pool *pool, atomic_uint *word) {
    (void)word;
    pthread_mutex_lock(&pool->mu);
    pthread_cond_broadcast(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
}
#endif

/* Waits until *word != value: spins first, then sleeps, counting itself in *sleepers while it may
 * sleep. The waker changes *word (seq_cst) before it reads *sleepers (seq_cst), and a sleeper
 * registers (seq_cst) before it re-reads *word, so one of the two always sees the other. */
static unsigned wait_while_equal(thread_pool *pool, atomic_uint *word, unsigned value, atomic_int *sleepers) {
    unsigned v;
    for (int i = 0; i < SPIN_PAUSES; i++) {
        if ((v = atomic_load_explicit(word, memory_order_acquire)) != value) return v;
        cpu_relax();
    }
    atomic_fetch_add(sleepers, 1);
    while ((v = atomic_load(word)) == value && !atomic_load_explicit(&pool->stop, memory_order_relaxed))
        word_wait(pool, word, value);
    atomic_fetch_sub(sleepers, 1);
    return v;
}

/* ---------- workers ---------- */

struct worker_start {
    thread_pool *pool;
    int ith;
};

static void *worker_main(void *p) {
    struct worker_start *ws = p;
    thread_pool *pool = ws->pool;
    const int ith = ws->ith;
    free(ws);
    unsigned seen = 0;
    for (;;) {
        seen = wait_while_equal(pool, &pool->generation, seen, &pool->workers_sleeping);
        if (atomic_load(&pool->stop)) break;
        /* Join the job, then check it is still the current one and still open: the caller closes a
         * job (seq_cst) before it reads `active`, and we register in `active` (seq_cst) before we
         * read `closed`, so either it waits for us or we see the job closed. The job's fields are
         * only read once that is settled. */
        atomic_fetch_add(&pool->active, 1);
        if (atomic_load(&pool->generation) == seen && atomic_load(&pool->closed) != seen) {
            const bool shared = pool->shared;
            pool->fn(pool->arg, ith, pool->n);
            if (!shared && atomic_fetch_sub(&pool->pending, 1) == 1 && atomic_load(&pool->caller_sleeping))
                word_wake_all(pool, &pool->pending);
        }
        if (atomic_fetch_sub(&pool->active, 1) == 1 && atomic_load(&pool->caller_sleeping))
            word_wake_all(pool, &pool->active);
    }
    return NULL;
}

thread_pool *thread_pool_new(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    thread_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->n = 1;
#if !defined(__linux__)
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->cv, NULL);
#endif
    pool->threads = calloc((size_t)n_threads, sizeof *pool->threads);
    if (!pool->threads) {
        thread_pool_free(pool);
        return NULL;
    }
    for (int i = 1; i < n_threads; i++) {
        struct worker_start *ws = malloc(sizeof *ws);
        if (!ws) {
            thread_pool_free(pool);
            return NULL;
        }
        ws->pool = pool;
        ws->ith = i;
        /* workers read pool->n only inside jobs, and no job runs before this function returns */
        if (pthread_create(&pool->threads[i], NULL, worker_main, ws) != 0) {
            free(ws);
            thread_pool_free(pool);
            return NULL;
        }
        pool->n = i + 1;
    }
    return pool;
}

void thread_pool_free(thread_pool *pool) {
    if (!pool) return;
    atomic_store(&pool->stop, true);
    atomic_fetch_add(&pool->generation, 1);
    word_wake_all(pool, &pool->generation);
    for (int i = 1; i < pool->n; i++) pthread_join(pool->threads[i], NULL);
#if !defined(__linux__)
    pthread_mutex_destroy(&pool->mu);
    pthread_cond_destroy(&pool->cv);
#endif
    free(pool->threads);
    free(pool);
}

int thread_pool_size(const thread_pool *pool) { return pool->n; }

/* Waits (spinning, then sleeping) until *word is 0. */
static void wait_zero(thread_pool *pool, atomic_uint *word) {
    unsigned left;
    for (int i = 0; i < SPIN_PAUSES; i++) {
        if (atomic_load_explicit(word, memory_order_acquire) == 0) return;
        cpu_relax();
    }
    atomic_store(&pool->caller_sleeping, 1);
    while ((left = atomic_load(word)) != 0) word_wait(pool, word, left);
    atomic_store(&pool->caller_sleeping, 0);
}

static void run_job(thread_pool *pool, thread_pool_fn fn, void *arg, bool shared) {
    pool->fn = fn;
    pool->arg = arg;
    pool->shared = shared;
    atomic_store(&pool->pending, (unsigned)(pool->n - 1));
    const unsigned gen = atomic_fetch_add(&pool->generation, 1) + 1; /* publishes the fields above */
    if (atomic_load(&pool->workers_sleeping) > 0) word_wake_all(pool, &pool->generation);
    fn(arg, 0, pool->n);
    if (!shared) wait_zero(pool, &pool->pending); /* every worker runs a static job */
    atomic_store(&pool->closed, gen);
    wait_zero(pool, &pool->active);
}

void thread_pool_run(thread_pool *pool, thread_pool_fn fn, void *arg) {
    if (pool->n == 1) fn(arg, 0, 1);
    else run_job(pool, fn, arg, false);
}

void thread_pool_run_shared(thread_pool *pool, thread_pool_fn fn, void *arg) {
    if (pool->n == 1) fn(arg, 0, 1);
    else run_job(pool, fn, arg, true);
}

void thread_pool_barrier(thread_pool *pool) {
    if (pool->n == 1) return;
    const unsigned phase = atomic_load(&pool->barrier_phase);
    if (atomic_fetch_add(&pool->barrier_count, 1) == (unsigned)pool->n - 1) {
        atomic_store(&pool->barrier_count, 0);
        atomic_fetch_add(&pool->barrier_phase, 1);
        if (atomic_load(&pool->barrier_sleeping) > 0) word_wake_all(pool, &pool->barrier_phase);
        return;
    }
    wait_while_equal(pool, &pool->barrier_phase, phase, &pool->barrier_sleeping);
}

int kumo_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
