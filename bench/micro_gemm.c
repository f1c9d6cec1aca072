/* Kernel micro-benchmark behind docs/PERFORMANCE.md (not built by make):
 *
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Iinclude -Isrc -o build/micro_gemm bench/micro_gemm.c build/libkumo.a \
 *      -lcjson -lpcre2-8 -lpthread -lm
 *   build/micro_gemm TYPE N_IN N_OUT THREADS TOKENS
 *   build/micro_gemm attn ROWS POSITIONS
 *   build/micro_gemm chain TYPE N_IN N_OUT COUNT THREADS
 *   build/micro_gemm peak
 *
 * Packs a random N_OUT × N_IN matrix of TYPE (quantized with kumo's quantizers), then times matmul
 * (best of 15) for TOKENS activation rows. One token: prints the bandwidth against a plain read of the
 * same buffer by the same threads, timed alternately (this host's bandwidth drifts). More tokens:
 * prints GMAC/s. `attn` times one attn_rows call (head size 128) of ROWS query rows over POSITIONS
 * cached positions, best of 200, in GMAC/s (scores and weighted sum), over an F32 and an F16 cache
 * holding the same values (the two timed alternately). `peak` measures one core's
 * throughput of independent 512-bit vpdpbusd and vfmadd231ps (the ceilings of the two). */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tensor/attention.h"
#include "tensor/gemm.h"
#include "tensor/ops.h"
#include "tensor/quant.h"
#include "tensor/quantize.h"
#include "tensor/threadpool.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

struct read_job {
    const uint8_t *p;
    size_t n;
    long long sink[64];
};

__attribute__((target("avx512f"))) static void plain_read(void *arg, int ith, int nth) {
    struct read_job *j = arg;
    const size_t per = j->n / (size_t)nth / 256 * 256;
    const uint8_t *p = j->p + per * (size_t)ith;
    __m512i a = _mm512_setzero_si512(), b = a, c = a, d = a;
    for (size_t i = 0; i + 256 <= per; i += 256) {
        a = _mm512_xor_si512(a, _mm512_loadu_si512(p + i));
        b = _mm512_xor_si512(b, _mm512_loadu_si512(p + i + 64));
        c = _mm512_xor_si512(c, _mm512_loadu_si512(p + i + 128));
        d = _mm512_xor_si512(d, _mm512_loadu_si512(p + i + 192));
    }
    j->sink[ith & 63] += _mm512_reduce_add_epi64(_mm512_xor_si512(_mm512_xor_si512(a, b), _mm512_xor_si512(c, d)));
}

#define PEAK_ITERS 100000000L

__attribute__((target("avx512f,avx512bw,avx512vnni"))) static double peak_dpbusd(int *sink) {
    __m512i a[10];
    _Pragma("GCC unroll 10") for (int i = 0; i < 10; i++) a[i] = _mm512_set1_epi32(i + 1);
    __m512i x = _mm512_set1_epi8(3), y = _mm512_set1_epi8(5);
    const double t0 = now();
    for (long i = 0; i < PEAK_ITERS; i++) {
        __asm__ volatile("" : "+v"(x), "+v"(y));
        _Pragma("GCC unroll 10") for (int k = 0; k < 10; k++) a[k] = _mm512_dpbusd_epi32(a[k], x, y);
    }
    const double t = now() - t0;
    for (int i = 1; i < 10; i++) a[0] = _mm512_add_epi32(a[0], a[i]);
    *sink = _mm512_reduce_add_epi32(a[0]);
    return (double)PEAK_ITERS * 10 / t;
}

__attribute__((target("avx512f,fma"))) static double peak_fma(float *sink) {
    __m512 a[10];
    _Pragma("GCC unroll 10") for (int i = 0; i < 10; i++) a[i] = _mm512_set1_ps((float)(i + 1));
    __m512 x = _mm512_set1_ps(0.5f), y = _mm512_set1_ps(0.25f);
    const double t0 = now();
    for (long i = 0; i < PEAK_ITERS; i++) {
        __asm__ volatile("" : "+v"(x), "+v"(y));
        _Pragma("GCC unroll 10") for (int k = 0; k < 10; k++) a[k] = _mm512_fmadd_ps(a[k], x, y);
    }
    const double t = now() - t0;
    for (int i = 1; i < 10; i++) a[0] = _mm512_add_ps(a[0], a[i]);
    *sink = _mm512_reduce_add_ps(a[0]);
    return (double)PEAK_ITERS * 10 / t;
}

static int bench_peak(void) {
    int si;
    float sf;
    const double d = peak_dpbusd(&si), f = peak_fma(&sf);
    printf("vpdpbusd zmm %.2f G/s = %.0f GMAC/s int8; vfmadd231ps zmm %.2f G/s = %.0f GMAC/s fp32 (%d %g)\n", d / 1e9,
           d * 64 / 1e9, f / 1e9, f * 16 / 1e9, si, sf);
    return 0;
}

static int bench_attention(int rows, int npos) {
    const int hd = 128;
    if (rows < 1 || rows > ATTN_MAX_ROWS || npos < 1) return 2;
    const int padded = (npos + ATTN_BLOCK - 1) / ATTN_BLOCK * ATTN_BLOCK;
    float *q = malloc((size_t)ATTN_MAX_ROWS * hd * sizeof(float)), *kt = malloc((size_t)padded * hd * sizeof(float));
    float *v = malloc((size_t)npos * hd * sizeof(float)), *out = malloc((size_t)ATTN_MAX_ROWS * hd * sizeof(float));
    float *scores = malloc((size_t)ATTN_MAX_ROWS * padded * sizeof(float));
    uint16_t *kt16 = malloc((size_t)padded * hd * sizeof(uint16_t)), *v16 = malloc((size_t)npos * hd * sizeof(uint16_t));
    for (int i = 0; i < ATTN_MAX_ROWS * hd; i++) q[i] = (float)(rand() % 101 - 50) * 1e-3f;
    for (int i = 0; i < padded * hd; i++) kt[i] = (float)(rand() % 101 - 50) * 1e-2f;
    for (int i = 0; i < npos * hd; i++) v[i] = (float)(rand() % 101 - 50) * 1e-2f;
    for (int i = 0; i < padded * hd; i++) kt16[i] = kumo_fp32_to_fp16(kt[i]);
    for (int i = 0; i < npos * hd; i++) v16[i] = kumo_fp32_to_fp16(v[i]);
    const float *qr[ATTN_MAX_ROWS];
    float *orow[ATTN_MAX_ROWS];
    int np[ATTN_MAX_ROWS];
    for (int r = 0; r < ATTN_MAX_ROWS; r++) {
        qr[r] = q + r * hd;
        orow[r] = out + r * hd;
        np[r] = npos - r / 2; /* like consecutive tokens of a prompt */
        if (np[r] < 1) np[r] = 1;
    }
    const size_t vs = (size_t)npos * attn_v_slab_width(hd); /* V in slabs (attn_v_index), as in a context */
    double best = 1e30, best16 = 1e30;
    for (int rep = 0; rep < 200; rep++) {
        double t0 = now();
        attn_rows(rows, qr, np, kt, v, hd, hd, vs, orow, scores);
        double t = now() - t0;
        if (t < best) best = t;
        t0 = now();
        attn_rows_f16(rows, qr, np, kt16, v16, hd, hd, vs, orow, scores);
        t = now() - t0;
        if (t < best16) best16 = t;
    }
    double macs = 0;
    for (int r = 0; r < rows; r++) macs += 2.0 * hd * np[r];
    printf("attention %d rows x %d positions, F32 cache: %.2f us, %.1f GMAC/s\n", rows, npos, best * 1e6,
           macs / best / 1e9);
    printf("attention %d rows x %d positions, F16 cache: %.2f us, %.1f GMAC/s\n", rows, npos, best16 * 1e6,
           macs / best16 / 1e9);
    free(kt16);
    free(v16);
    free(q);
    free(kt);
    free(v);
    free(out);
    free(scores);
    return 0;
}

/* One token through COUNT matrices of N_OUT rows one after another (separate matmul calls, as a
 * generation step makes them) against one call over a matrix of COUNT·N_OUT rows: the same bytes;
 * the difference is the cost of starting and ending an operation. */
static int bench_chain(const char *type_name, int64_t n_in, int64_t n_out, int count, int nt) {
    const int ty = ggml_type_from_name(type_name);
    const kumo_quantize_row_fn quant = ty >= 0 ? kumo_quantizer((uint32_t)ty) : NULL;
    if (!quant || n_in <= 0 || n_out <= 0 || count < 1 || nt < 1 || !gemm_can_pack((uint32_t)ty)) return 2;
    const uint32_t type = (uint32_t)ty;
    const size_t rb = ggml_row_bytes(type, n_in);
    const int64_t rows = n_out * count;
    uint8_t *w = malloc(rb * (size_t)rows);
    float *row = malloc((size_t)n_in * sizeof(float));
    for (int64_t r = 0; r < rows; r++) {
        if (r < 64) {
            for (int64_t i = 0; i < n_in; i++) row[i] = (float)(rand() % 2001 - 1000) * 1e-4f;
            quant(row, w + rb * (size_t)r, n_in);
        } else {
            memcpy(w + rb * (size_t)r, w + rb * (size_t)(r % 64), rb);
        }
    }
    kumo_packed *all = gemm_pack(type, n_in, n_out, count, w, nt);
    kumo_packed *big = gemm_pack(type, n_in, rows, 1, w, nt);
    kumo_matrix *parts = calloc((size_t)count, sizeof *parts);
    kumo_packed *slices = calloc((size_t)count, sizeof *slices);
    for (int e = 0; e < count; e++) {
        slices[e] = gemm_packed_slice(all, e);
        parts[e] = (kumo_matrix){.type = type, .n_in = n_in, .n_out = n_out, .row_bytes = rb, .packed = &slices[e]};
    }
    kumo_matrix whole = {.type = type, .n_in = n_in, .n_out = rows, .row_bytes = rb, .packed = big};
    float *x = malloc((size_t)n_in * sizeof(float)), *y = malloc((size_t)rows * sizeof(float));
    for (int64_t i = 0; i < n_in; i++) x[i] = (float)(rand() % 101 - 50) / 50.0f;
    void *scratch = malloc(matmul_scratch_bytes(type, n_in, 1));
    thread_pool *pool = thread_pool_new(nt);
    double best_chain = 1e30, best_whole = 1e30;
    for (int r = 0; r < 15; r++) {
        double t0 = now();
        for (int e = 0; e < count; e++) matmul(pool, &parts[e], x, 1, y + e * n_out, scratch);
        const double tc = now() - t0;
        t0 = now();
        matmul(pool, &whole, x, 1, y, scratch);
        const double tw = now() - t0;
        if (tc < best_chain) best_chain = tc;
        if (tw < best_whole) best_whole = tw;
    }
    const double bytes = (double)rb * (double)rows;
    printf("%s chain of %d x (%lld x %lld), %d thread(s): %.1f GB/s (%.2f us per op); one matrix: %.1f GB/s; "
           "per-op overhead %.2f us\n",
           type_name, count, (long long)n_out, (long long)n_in, nt, bytes / best_chain / 1e9, best_chain / count * 1e6,
           bytes / best_whole / 1e9, (best_chain - best_whole) / count * 1e6);
    thread_pool_free(pool);
    gemm_packed_free(all);
    gemm_packed_free(big);
    free(parts);
    free(slices);
    free(scratch);
    free(x);
    free(y);
    free(row);
    free(w);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "attn") == 0) return bench_attention(atoi(argv[2]), atoi(argv[3]));
    if (argc == 7 && strcmp(argv[1], "chain") == 0)
        return bench_chain(argv[2], atol(argv[3]), atol(argv[4]), atoi(argv[5]), atoi(argv[6]));
    if (argc == 2 && strcmp(argv[1], "peak") == 0) return bench_peak();
    if (argc < 6) {
        fprintf(stderr, "usage: micro_gemm TYPE N_IN N_OUT THREADS TOKENS | micro_gemm attn ROWS POSITIONS\n");
        return 2;
    }
    const int ty = ggml_type_from_name(argv[1]);
    const int64_t n_in = atol(argv[2]), n_out = atol(argv[3]);
    const int nt = atoi(argv[4]), n_tok = atoi(argv[5]);
    const kumo_quantize_row_fn quant = ty >= 0 ? kumo_quantizer((uint32_t)ty) : NULL;
    if (!quant || n_in <= 0 || n_out <= 0 || nt < 1 || n_tok < 1) {
        fprintf(stderr, "micro_gemm: bad arguments\n");
        return 2;
    }
    const uint32_t type = (uint32_t)ty;
    const size_t rb = ggml_row_bytes(type, n_in);
    uint8_t *w = malloc(rb * (size_t)n_out);
    float *row = malloc((size_t)n_in * sizeof(float));
    srand(1);
    for (int64_t r = 0; r < n_out; r++) { /* 64 distinct rows, repeated: quantizing is slow */
        if (r < 64) {
            for (int64_t i = 0; i < n_in; i++) row[i] = (float)(rand() % 2001 - 1000) * 1e-4f;
            quant(row, w + rb * (size_t)r, n_in);
        } else {
            memcpy(w + rb * (size_t)r, w + rb * (size_t)(r % 64), rb);
        }
    }
    kumo_matrix m = {.type = type, .n_in = n_in, .n_out = n_out, .row_bytes = rb, .data = w};
    kumo_packed *p = gemm_can_pack(type) ? gemm_pack(type, n_in, n_out, 1, w, nt) : NULL;
    m.packed = p;
    float *x = malloc((size_t)n_in * n_tok * sizeof(float));
    for (int64_t i = 0; i < n_in * n_tok; i++) x[i] = (float)(rand() % 101 - 50) / 50.0f;
    float *y = malloc((size_t)n_out * n_tok * sizeof(float));
    void *scratch = malloc(matmul_scratch_bytes(type, n_in, n_tok));
    thread_pool *pool = thread_pool_new(nt);
    struct read_job rj = {.p = p ? p->data : w, .n = rb * (size_t)n_out};
    double best_mm = 1e30, best_rd = 1e30;
    matmul(pool, &m, x, n_tok, y, scratch);
    for (int r = 0; r < 15; r++) {
        double t0 = now();
        matmul(pool, &m, x, n_tok, y, scratch);
        const double t = now() - t0;
        if (t < best_mm) best_mm = t;
        if (n_tok == 1 && __builtin_cpu_supports("avx512f")) {
            t0 = now();
            thread_pool_run(pool, plain_read, &rj);
            const double tr = now() - t0;
            if (tr < best_rd) best_rd = tr;
        }
    }
    const double bytes = (double)rb * (double)n_out;
    printf("%s %lld x %lld, %d thread(s), %d token(s)%s: %.3f ms", argv[1], (long long)n_out, (long long)n_in, nt,
           n_tok, p ? " packed" : "", best_mm * 1e3);
    if (n_tok == 1 && best_rd < 1e30)
        printf(", %.1f GB/s, plain read %.1f GB/s, ratio %.2f\n", bytes / best_mm / 1e9, bytes / best_rd / 1e9,
               best_rd / best_mm);
    else
        printf(", %.1f GMAC/s\n", (double)n_in * (double)n_out * n_tok / best_mm / 1e9);
    thread_pool_free(pool);
    gemm_packed_free(p);
    free(scratch);
    free(y);
    free(x);
    free(row);
    free(w);
    return 0;
}
