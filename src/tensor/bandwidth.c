/* A STREAM-style read-bandwidth probe: what generation speed is measured against. */
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kumo.h"
#include "tensor/gemm.h"
#include "tensor/threadpool.h"

struct bw_job {
    const uint8_t *buf;
    size_t bytes;
    double sink[256];
};

/* Sums 64-byte lines with wide loads so the loop is bound by memory, not by instructions. */
__attribute__((target("avx2"))) static double read_avx2(const uint8_t *p, size_t n) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i + 128 <= n; i += 128) {
        a0 = _mm256_xor_si256(a0, _mm256_load_si256((const __m256i *)(p + i)));
        a1 = _mm256_xor_si256(a1, _mm256_load_si256((const __m256i *)(p + i + 32)));
        a2 = _mm256_xor_si256(a2, _mm256_load_si256((const __m256i *)(p + i + 64)));
        a3 = _mm256_xor_si256(a3, _mm256_load_si256((const __m256i *)(p + i + 96)));
    }
    a0 = _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3));
    return (double)_mm256_extract_epi64(a0, 0);
}

static double read_portable(const uint8_t *p, size_t n) {
    uint64_t acc = 0;
    for (size_t i = 0; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        acc ^= v;
    }
    return (double)acc;
}

static void bw_worker(void *arg, int ith, int nth) {
    struct bw_job *j = arg;
    long lines = (long)(j->bytes / 128), l0, l1;
    thread_pool_split(lines, ith, nth, &l0, &l1);
    const uint8_t *p = j->buf + (size_t)l0 * 128;
    size_t n = (size_t)(l1 - l0) * 128;
    j->sink[ith & 255] += __builtin_cpu_supports("avx2") ? read_avx2(p, n) : read_portable(p, n);
}

double kumo_measure_read_bandwidth(int n_threads, size_t bytes, int reps) {
    if (n_threads <= 0) n_threads = kumo_cpu_count();
    bytes &= ~(size_t)127;
    /* the packed weights' own allocator, so the probe reads memory of the same kind (huge pages
     * where the kernel offers them; on this host 0-8% more than 4 KiB pages, within its noise) */
    size_t alloc = 0;
    uint8_t *buf = gemm_arena_alloc(bytes, &alloc);
    thread_pool *pool = thread_pool_new(n_threads);
    if (!buf || !pool) {
        gemm_arena_free(buf, alloc); /* NULL-safe */
        thread_pool_free(pool);
        return 0.0;
    }
    memset(buf, 1, bytes); /* fault every page in before timing */
    struct bw_job j = {.buf = buf, .bytes = bytes};
    double best = 0.0;
    for (int r = 0; r < reps; r++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        thread_pool_run(pool, bw_worker, &j);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double s = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
        double gbs = (double)bytes / s / 1e9;
        if (gbs > best) best = gbs;
    }
    thread_pool_free(pool);
    gemm_arena_free(buf, alloc);
    return best;
}
