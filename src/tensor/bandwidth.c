/* A STREAM-style read-bandwidth probe: what generation speed is measured against (bandwidth.h). */
#include "tensor/bandwidth.h"

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kumo.h"
#include "tensor/gemm.h"

#define LINE 128 /* bytes per step of a reader: two cache lines */

struct read_probe {
    uint8_t *buf;
    size_t alloc; /* what gemm_arena_alloc_prefaulted gave */
    size_t lines; /* usable size in LINE units */
    size_t next;  /* line the next read starts at */
};

struct read_job {
    const uint8_t *buf;
    size_t buf_lines, start, n_lines;
    uint64_t x[256];
};

/* XOR of the 64-bit words of p[0, n), n a multiple of LINE, with wide loads so the loop is bound
 * by memory, not by instructions. */
__attribute__((target("avx2"))) static uint64_t read_avx2(const uint8_t *p, size_t n) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n; i += LINE) {
        a0 = _mm256_xor_si256(a0, _mm256_load_si256((const __m256i *)(p + i)));
        a1 = _mm256_xor_si256(a1, _mm256_load_si256((const __m256i *)(p + i + 32)));
        a2 = _mm256_xor_si256(a2, _mm256_load_si256((const __m256i *)(p + i + 64)));
        a3 = _mm256_xor_si256(a3, _mm256_load_si256((const __m256i *)(p + i + 96)));
    }
    a0 = _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3));
    return (uint64_t)_mm256_extract_epi64(a0, 0) ^ (uint64_t)_mm256_extract_epi64(a0, 1) ^
           (uint64_t)_mm256_extract_epi64(a0, 2) ^ (uint64_t)_mm256_extract_epi64(a0, 3);
}

static uint64_t read_portable(const uint8_t *p, size_t n) {
    uint64_t acc = 0;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        acc ^= v;
    }
    return acc;
}

/* Each thread reads its share of the slice's lines, taken round the buffer from `start`. */
static void read_worker(void *arg, int ith, int nth) {
    struct read_job *j = arg;
    long l0, l1;
    thread_pool_split((long)j->n_lines, ith, nth, &l0, &l1);
    const int wide = __builtin_cpu_supports("avx2");
    uint64_t x = 0;
    size_t pos = (j->start + (size_t)l0) % j->buf_lines, left = (size_t)(l1 - l0);
    while (left > 0) {
        size_t take = j->buf_lines - pos < left ? j->buf_lines - pos : left;
        const uint8_t *p = j->buf + pos * LINE;
        x ^= wide ? read_avx2(p, take * LINE) : read_portable(p, take * LINE);
        left -= take;
        pos = 0;
    }
    j->x[ith & 255] ^= x;
}

read_probe *read_probe_new(size_t bytes) {
    size_t lines = bytes / LINE > 0 ? bytes / LINE : 1;
    read_probe *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    /* the packed weights' own allocator, so the probe reads memory of the same kind (huge pages
     * where the kernel offers them; on this host 0-8% more than 4 KiB pages, within its noise),
     * every page faulted in before timing */
    p->buf = gemm_arena_alloc_prefaulted(lines * LINE, &p->alloc);
    if (!p->buf) {
        free(p);
        return NULL;
    }
    p->lines = lines;
    return p;
}

void read_probe_free(read_probe *p) {
    if (!p) return;
    gemm_arena_free(p->buf, p->alloc);
    free(p);
}

uint8_t *read_probe_buffer(read_probe *p, size_t *bytes) {
    *bytes = p->lines * LINE;
    return p->buf;
}

double read_probe_read(read_probe *p, thread_pool *pool, size_t bytes, uint64_t *xor_out) {
    struct read_job j = {.buf = p->buf, .buf_lines = p->lines, .start = p->next, .n_lines = bytes / LINE};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    thread_pool_run(pool, read_worker, &j);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    p->next = (p->next + j.n_lines) % p->lines;
    if (xor_out) {
        uint64_t x = 0;
        for (int i = 0; i < 256; i++) x ^= j.x[i];
        *xor_out = x;
    }
    return (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
}

double kumo_measure_read_bandwidth(int n_threads, size_t bytes, int reps) {
    if (n_threads <= 0) n_threads = kumo_cpu_count();
    read_probe *p = read_probe_new(bytes);
    thread_pool *pool = thread_pool_new(n_threads);
    double best = 0.0;
    for (int r = 0; p && pool && r < reps; r++) {
        size_t whole = p->lines * LINE;
        double gbs = (double)whole / read_probe_read(p, pool, whole, NULL) / 1e9;
        if (gbs > best) best = gbs;
    }
    thread_pool_free(pool);
    read_probe_free(p);
    return best;
}
