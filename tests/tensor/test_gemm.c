/* Packed GEMM/GEMV kernels (tensor/gemm.h) and matmul_batch (tensor/ops.h): every instruction-set
 * level against the unpacked portable dot products, on random weights quantized with the real
 * quantizers; shapes with partial panels and odd block counts; and the exactness promise the engine
 * relies on: a (row, token) result is bit-identical whatever tile, batch, row list or thread count
 * produced it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/gemm.h"
#include "tensor/ops.h"
#include "tensor/quant.h"
#include "tensor/quant_impl.h"
#include "tensor/quantize.h"
#include "tensor/threadpool.h"
#include "test_rng.h"

/* Roughly normal with occasional outliers, like activations and weights. */
static float rng_val(rng_t *r) {
    float v = rng_uniform(r, -1, 1) + rng_uniform(r, -1, 1) + rng_uniform(r, -1, 1);
    if ((rng_next(r) & 63) == 0) v *= 8;
    return v;
}

static const uint32_t PACKED_TYPES[] = {GGML_TYPE_Q8_0, GGML_TYPE_Q4_0, GGML_TYPE_Q5_0, GGML_TYPE_Q4_1, GGML_TYPE_Q5_1,
                                        GGML_TYPE_Q2_K, GGML_TYPE_Q3_K, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K};

/* The best kernel this CPU has for a packed type, whatever KUMO_ISA selects. */
static gemm_kernel_fn best_kernel(uint32_t type) {
    for (int isa = KUMO_ISA_COUNT - 1; isa >= 0; isa--)
        if (gemm_kernel_isa(type, isa)) return gemm_kernel_isa(type, isa);
    return NULL;
}

/* A random matrix: n_mats × n_out rows of n_in elements quantized to type. */
static uint8_t *random_matrix(uint32_t type, int64_t n_in, int64_t n_rows, uint64_t seed) {
    rng_t r = {seed};
    const size_t rb = ggml_row_bytes(type, n_in);
    uint8_t *w = malloc(rb * (size_t)n_rows);
    float *row = malloc((size_t)n_in * sizeof(float));
    assert_non_null(w);
    assert_non_null(row);
    const kumo_quantize_row_fn q = kumo_quantizer(type);
    assert_non_null(q);
    for (int64_t i = 0; i < n_rows; i++) {
        for (int64_t k = 0; k < n_in; k++) row[k] = rng_val(&r) * 0.05f;
        q(row, w + (size_t)i * rb, n_in);
    }
    free(row);
    return w;
}

static float *random_acts(int64_t n_in, int n_t, uint64_t seed) {
    rng_t r = {seed};
    float *x = malloc((size_t)n_in * n_t * sizeof(float));
    assert_non_null(x);
    for (int64_t i = 0; i < n_in * n_t; i++) x[i] = rng_val(&r);
    return x;
}

/* Portable unpacked reference: y[t][r] = vec_dot_ref(row r, x[t] in the vec_dot type). */
static float *reference_product(uint32_t type, const uint8_t *w, int64_t n_in, int64_t n_out, const float *x, int n_t) {
    const kumo_type_traits *tr = kumo_type_traits_ref(type), *at = kumo_type_traits_ref(tr->vec_dot_type);
    const size_t rb = ggml_row_bytes(type, n_in), ab = ggml_row_bytes(tr->vec_dot_type, n_in);
    uint8_t *a = malloc(ab);
    float *y = malloc((size_t)n_out * n_t * sizeof(float));
    for (int t = 0; t < n_t; t++) {
        at->from_float(x + (size_t)t * n_in, a, n_in);
        for (int64_t r = 0; r < n_out; r++) y[(size_t)t * n_out + r] = tr->vec_dot(n_in, w + (size_t)r * rb, a);
    }
    free(a);
    return y;
}

/* Activation rows of x in the pack's format, and their pointers. */
static uint8_t *quantize_acts(const kumo_packed *p, const float *x, int n_t, const uint8_t **ptrs) {
    const size_t rb = gemm_act_row_bytes(p->act, p->n_in);
    uint8_t *a = malloc(rb * (size_t)n_t);
    assert_non_null(a);
    for (int t = 0; t < n_t; t++) {
        gemm_quantize_row(p->act, x + (size_t)t * p->n_in, p->n_in, a + rb * t);
        ptrs[t] = a + rb * t;
    }
    return a;
}

/* Runs kernel k over every panel with tiles of `tile` tokens (the last one shorter). */
static void run_kernel(gemm_kernel_fn k, const kumo_packed *p, const uint8_t *const *act, int n_t, int tile, float *y) {
    for (int64_t pn = 0; pn < p->n_panels; pn++) {
        const int64_t r0 = pn * GEMM_PANEL;
        const int n_rows = (int)(p->n_out - r0 < GEMM_PANEL ? p->n_out - r0 : GEMM_PANEL);
        for (int t0 = 0; t0 < n_t; t0 += tile) {
            const int T = n_t - t0 < tile ? n_t - t0 : tile;
            k(p, p->data + (size_t)pn * p->panel_bytes, act + t0, T, y + (size_t)t0 * p->n_out + r0, (size_t)p->n_out,
              n_rows);
        }
    }
}

static double max_abs(const float *v, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(v[i]));
    return m;
}

/* Every level's kernel against the unpacked reference; tiles of 1..8 tokens bit-identical. */
static void check_type_shape(uint32_t type, int64_t n_in, int64_t n_out, int n_t, uint64_t seed) {
    uint8_t *w = random_matrix(type, n_in, n_out, seed);
    float *x = random_acts(n_in, n_t, seed * 7 + 1);
    float *want = reference_product(type, w, n_in, n_out, x, n_t);
    kumo_packed *p = gemm_pack(type, n_in, n_out, 1, w, 2);
    assert_non_null(p);
    assert_int_equal(p->n_panels * GEMM_PANEL >= n_out, 1);
    const uint8_t *act[64];
    assert_true(n_t <= 64);
    uint8_t *abuf = quantize_acts(p, x, n_t, act);
    const size_t n = (size_t)n_out * n_t;
    float *got = malloc(n * sizeof(float)), *again = malloc(n * sizeof(float));
    const double scale = max_abs(want, n) + 1.0;
    for (int isa = 0; isa < KUMO_ISA_COUNT; isa++) {
        const gemm_kernel_fn k = gemm_kernel_isa(type, isa);
        if (!k) continue;
        run_kernel(k, p, act, n_t, GEMM_MAX_T, got);
        for (size_t i = 0; i < n; i++) {
            if (fabs(got[i] - want[i]) > 2e-5 * scale) {
                fail_msg("%s %s n_in %lld n_out %lld: [%zu] = %.7g, unpacked reference %.7g", ggml_type_name(type),
                         kumo_isa_name(isa), (long long)n_in, (long long)n_out, i, got[i], want[i]);
            }
        }
        for (int tile = 1; tile < GEMM_MAX_T; tile++) {
            run_kernel(k, p, act, n_t, tile, again);
            if (memcmp(got, again, n * sizeof(float)) != 0)
                fail_msg("%s %s: tiles of %d tokens differ from tiles of %d", ggml_type_name(type), kumo_isa_name(isa),
                         tile, GEMM_MAX_T);
        }
    }
    free(got);
    free(again);
    free(abuf);
    gemm_packed_free(p);
    free(want);
    free(x);
    free(w);
}

static void kernels_match_reference(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof PACKED_TYPES / sizeof PACKED_TYPES[0]; i++) {
        const uint32_t t = PACKED_TYPES[i];
        const int64_t bs = ggml_type_block_size(t);
        check_type_shape(t, bs * 8, 64, 11, 1 + i);       /* whole panels */
        check_type_shape(t, bs * 3, 37, 9, 11 + i);       /* odd block count, partial last panel */
        check_type_shape(t, bs, 5, 1, 21 + i);            /* one block, one partial panel, one token */
        check_type_shape(t, 1024, 48, 17, 31 + i);        /* a real row length */
    }
}

/* A slice of a stacked pack is the pack of that matrix alone. */
static void stacked_slices(void **state) {
    (void)state;
    const uint32_t type = GGML_TYPE_Q4_K;
    const int64_t n_in = 512, n_out = 24, n_mats = 3;
    const int n_t = 3;
    uint8_t *w = random_matrix(type, n_in, n_out * n_mats, 5);
    float *x = random_acts(n_in, n_t, 6);
    kumo_packed *all = gemm_pack(type, n_in, n_out, n_mats, w, 1);
    assert_non_null(all);
    const uint8_t *act[8];
    uint8_t *abuf = quantize_acts(all, x, n_t, act);
    float ya[3 * 24], yb[3 * 24];
    for (int64_t e = 0; e < n_mats; e++) {
        kumo_packed one = gemm_packed_slice(all, e);
        kumo_packed *alone = gemm_pack(type, n_in, n_out, 1, w + (size_t)e * n_out * ggml_row_bytes(type, n_in), 1);
        run_kernel(best_kernel(type), &one, act, n_t, 8, ya);
        run_kernel(best_kernel(type), alone, act, n_t, 8, yb);
        assert_memory_equal(ya, yb, sizeof ya);
        gemm_packed_free(alone);
    }
    free(abuf);
    gemm_packed_free(all);
    free(x);
    free(w);
}

/* matmul_batch: several tasks, row lists and offsets, 1-3 threads (few-token tasks 2-9), packed, float or
 * vec_dot paths:
 * every output row equals the one-token product of its input row, bit for bit, and is close to the
 * portable unpacked product. */
static void batch_rows_one(uint32_t type, int64_t n_in, uint64_t seed) {
    const int64_t n_out = 40;
    const int n_x = 13;
    float *x = random_acts(n_in, n_x, 99);
    uint8_t *w = random_matrix(type, n_in, n_out, seed);
    kumo_matrix m = {.type = type, .n_in = n_in, .n_out = n_out, .row_bytes = ggml_row_bytes(type, n_in), .data = w};
    kumo_packed *p = gemm_can_pack(type) ? gemm_pack(type, n_in, n_out, 1, w, 1) : NULL;
    m.packed = p;
    void *scratch = malloc(matmul_scratch_bytes(type, n_in, n_x));
    /* one token at a time, single thread */
    thread_pool *one = thread_pool_new(1);
    float *solo = malloc((size_t)n_x * n_out * sizeof(float));
    for (int i = 0; i < n_x; i++) matmul(one, &m, x + (size_t)i * n_in, 1, solo + (size_t)i * n_out, scratch);
    thread_pool_free(one);
    float *want = reference_product(type, w, n_in, n_out, x, n_x);
    const double scale = max_abs(want, (size_t)n_x * n_out) + 1.0;
    for (size_t i = 0; i < (size_t)n_x * n_out; i++)
        if (fabs(solo[i] - want[i]) > 2e-5 * scale)
            fail_msg("%s n_in %lld: matmul [%zu] = %.7g, portable unpacked %.7g", ggml_type_name(type), (long long)n_in,
                     i, solo[i], want[i]);
    free(want);
    const int32_t picks[] = {12, 0, 5, 5, 7};
    for (int nth = 1; nth <= 3; nth++) {
        thread_pool *pool = thread_pool_new(nth);
        float yall[13 * 40], ypick[5 * 40], ytail[4 * 40];
        const matmul_task tasks[3] = {
            {.w = &m, .n_t = n_x, .y = yall, .ldy = n_out},
            {.w = &m, .n_t = 5, .rows = picks, .y = ypick, .ldy = n_out},
            {.w = &m, .n_t = 4, .row0 = 9, .y = ytail, .ldy = n_out},
        };
        matmul_batch(pool, x, n_x, n_in, tasks, 3, scratch);
        assert_memory_equal(yall, solo, sizeof yall);
        for (int i = 0; i < 5; i++)
            assert_memory_equal(ypick + i * n_out, solo + (size_t)picks[i] * n_out, n_out * sizeof(float));
        assert_memory_equal(ytail, solo + (size_t)9 * n_out, sizeof ytail);
        thread_pool_free(pool);
    }
    /* one- and two-token tasks take the per-thread ranges (up to 8 threads: 5 has a range of
     * one item, the 6 items split unevenly) or, past 8 threads, the shared counter */
    const int pool_sizes[] = {2, 3, 5, 9};
    for (size_t pi = 0; pi < sizeof pool_sizes / sizeof pool_sizes[0]; pi++) {
        thread_pool *pool = thread_pool_new(pool_sizes[pi]);
        float yone[40], ytwo[2 * 40];
        for (int i = 0; i < 2 * 40; i++) ytwo[i] = yone[i % 40] = NAN; /* a row left out shows */
        const matmul_task few[2] = {
            {.w = &m, .n_t = 1, .rows = picks, .y = yone, .ldy = n_out},
            {.w = &m, .n_t = 2, .row0 = 3, .y = ytwo, .ldy = n_out},
        };
        matmul_batch(pool, x, n_x, n_in, few, 2, scratch);
        assert_memory_equal(yone, solo + (size_t)picks[0] * n_out, sizeof yone);
        assert_memory_equal(ytwo, solo + (size_t)3 * n_out, sizeof ytwo);
        thread_pool_free(pool);
    }
    free(solo);
    free(scratch);
    gemm_packed_free(p);
    free(w);
    free(x);
}

static void batch_rows_threads_exact(void **state) {
    (void)state;
    const uint32_t types[] = {GGML_TYPE_Q8_0, GGML_TYPE_Q4_0, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K, GGML_TYPE_Q5_K,
                              GGML_TYPE_Q5_0, GGML_TYPE_Q4_1, GGML_TYPE_Q5_1, GGML_TYPE_Q3_K, GGML_TYPE_Q2_K, GGML_TYPE_F16,
                              GGML_TYPE_BF16, GGML_TYPE_F32};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) batch_rows_one(types[ti], 512, 100 + ti);
    /* float rows of any length: 531 = 16·33 + 3 = 32·16 + 19 leaves a masked tail in every float
     * kernel's steps of 16 or 32 elements */
    const uint32_t floats[] = {GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_F32};
    for (size_t ti = 0; ti < sizeof floats / sizeof floats[0]; ti++) batch_rows_one(floats[ti], 531, 200 + ti);
}

/* The AVX-512 float kernel that CPUs without AVX512_BF16 run (FMA over float rows rounded to the
 * type; this CPU may take the vdpbf16ps one instead): close to the portable product, and each
 * (row, token) result the same whatever the tile, for every float type and a length with tails. */
static void float_fma_kernel(void **state) {
    (void)state;
    const gemm_float_fn k = gemm_float_avx512_fma();
    if (!k) skip();
    const uint32_t types[] = {GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_F32};
    const int64_t n_in = 531, n_out = 21;
    const int n_t = 7;
    float *x = random_acts(n_in, n_t, 7);
    float *rounded = malloc((size_t)n_in * n_t * sizeof(float));
    uint16_t *tmp = malloc((size_t)n_in * sizeof(uint16_t));
    assert_non_null(rounded);
    assert_non_null(tmp);
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const uint32_t type = types[ti];
        const kumo_type_traits *tr = kumo_type_traits_ref(type);
        for (int t = 0; t < n_t; t++) {
            float *row = rounded + (size_t)t * n_in;
            if (type == GGML_TYPE_F32) {
                memcpy(row, x + (size_t)t * n_in, (size_t)n_in * sizeof(float));
                continue;
            }
            tr->from_float(x + (size_t)t * n_in, tmp, n_in);
            tr->to_float(tmp, row, n_in);
        }
        uint8_t *w = random_matrix(type, n_in, n_out, 300 + ti);
        const size_t rb = ggml_row_bytes(type, n_in);
        const void *act[8];
        for (int t = 0; t < n_t; t++) act[t] = rounded + (size_t)t * n_in;
        float all[7 * 21], one[21];
        k(type, w, rb, (int)n_out, n_in, act, n_t, all, n_out); /* 4 × 4 tiles */
        float *want = reference_product(type, w, n_in, n_out, x, n_t);
        const double scale = max_abs(want, (size_t)n_t * n_out) + 1.0;
        for (int t = 0; t < n_t; t++) {
            k(type, w, rb, (int)n_out, n_in, act + t, 1, one, n_out); /* one row at a time */
            assert_memory_equal(one, all + (size_t)t * n_out, sizeof one);
        }
        for (size_t i = 0; i < (size_t)n_t * n_out; i++)
            if (fabs(all[i] - want[i]) > 2e-5 * scale)
                fail_msg("%s: FMA kernel [%zu] = %.7g, portable %.7g", ggml_type_name(type), i, all[i], want[i]);
        free(want);
        free(w);
    }
    free(tmp);
    free(rounded);
    free(x);
}

/* The fast activation quantizers write exactly the bytes of the reference ones, including rows with
 * zero blocks and ties for the largest magnitude. 40 Q8_0 blocks: two groups of sixteen for the
 * vector path of the AVX-512 quantizer and a tail of eight for its one-block path. */
static void quantize_rows_identical(void **state) {
    (void)state;
    const int64_t n = 1280;
    float *x = random_acts(n, 4, 77);
    for (int64_t i = 256; i < 512; i++) x[i] = 0.0f;          /* a zero Q8_K block, eight zero Q8_0 blocks */
    for (int64_t i = 1216; i < 1248; i++) x[i] = 0.0f;        /* a zero Q8_0 block in the tail */
    x[600] = 50.0f;                                           /* ties of opposite sign */
    x[601] = -50.0f;
    for (int act = 0; act < GEMM_ACT_COUNT; act++) {
        const size_t rb = gemm_act_row_bytes(act, n);
        uint8_t *a = calloc(1, rb), *b = calloc(1, rb);
        for (int r = 0; r < 4; r++) {
            memset(a, 0, rb);
            memset(b, 0, rb);
            gemm_quantize_row(act, x + (size_t)r * n, n, a);
            gemm_quantize_row_ref(act, x + (size_t)r * n, n, b);
            assert_memory_equal(a, b, rb);
        }
        free(a);
        free(b);
    }
    free(x);
}

/* The barrier really waits for everyone: each worker's write before it is seen by all after it. */
struct barrier_job {
    thread_pool *pool;
    int stamps[8];
    int ok;
};

static void barrier_worker(void *arg, int ith, int nth) {
    struct barrier_job *j = arg;
    for (int round = 1; round <= 200; round++) {
        __atomic_store_n(&j->stamps[ith], round, __ATOMIC_RELAXED);
        thread_pool_barrier(j->pool);
        for (int i = 0; i < nth; i++)
            if (__atomic_load_n(&j->stamps[i], __ATOMIC_RELAXED) < round) __atomic_store_n(&j->ok, 0, __ATOMIC_RELAXED);
        thread_pool_barrier(j->pool);
    }
}

static void pool_barrier(void **state) {
    (void)state;
    for (int nth = 1; nth <= 4; nth++) {
        thread_pool *pool = thread_pool_new(nth);
        struct barrier_job j = {.pool = pool, .ok = 1};
        for (int rep = 0; rep < 3; rep++) {
            memset(j.stamps, 0, sizeof j.stamps);
            thread_pool_run(pool, barrier_worker, &j);
        }
        assert_int_equal(j.ok, 1);
        thread_pool_free(pool);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kernels_match_reference),
        cmocka_unit_test(stacked_slices),
        cmocka_unit_test(batch_rows_threads_exact),
        cmocka_unit_test(float_fma_kernel),
        cmocka_unit_test(pool_barrier),
        cmocka_unit_test(quantize_rows_identical),
    };
    return cmocka_run_group_tests_name("tensor_gemm", tests, NULL, NULL);
}
