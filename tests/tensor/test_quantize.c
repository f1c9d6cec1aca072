/* Weight quantizers: kumo's quantization of every tensor of the tiny llama must be as accurate as
 * llama.cpp's own (RMSE ratio <= 1.02 against the f32 original), and degenerate rows (zeros,
 * constants, outliers, inf/nan, subnormals) must give well-formed blocks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "tensor/quant.h"
#include "tensor/quantize.h"
#include "testutil.h"

static const uint32_t QUANT_TYPES[] = {
    GGML_TYPE_Q8_0, GGML_TYPE_Q4_0, GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_Q2_K,
    GGML_TYPE_Q3_K, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K, GGML_TYPE_F16,  GGML_TYPE_BF16,
};
#define N_QUANT_TYPES (sizeof QUANT_TYPES / sizeof QUANT_TYPES[0])

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static float rng_uniform(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) * 0x1p-24);
}
static float rng_gauss(void) {
    float u = rng_uniform() + 1e-7f, v = rng_uniform();
    return sqrtf(-2 * logf(u)) * cosf(6.2831853f * v);
}

/* quantize + dequantize n values of type t */
static float *roundtrip(uint32_t t, const float *x, int64_t n) {
    kumo_quantize_row_fn q = kumo_quantizer(t);
    assert_non_null(q);
    void *buf = malloc(ggml_row_bytes(t, n));
    float *out = malloc((size_t)n * sizeof(float));
    assert_non_null(buf);
    assert_non_null(out);
    q(x, buf, n);
    kumo_type_traits_ref(t)->to_float(buf, out, n);
    free(buf);
    return out;
}

static double rel_rmse(const float *a, const float *ref, int64_t n) {
    double se = 0, ss = 0;
    for (int64_t i = 0; i < n; i++) {
        se += ((double)a[i] - ref[i]) * ((double)a[i] - ref[i]);
        ss += (double)ref[i] * ref[i];
    }
    return sqrt(se / ss);
}

/* ======================= against llama.cpp's quantizations ======================= */

static const char *const FILES[] = {"q8_0", "q6_k",   "q4_k_m", "q4_0",   "q4_1",   "q5_0", "q5_1",
                                    "q2_k", "q3_k_m", "q4_k_s", "q5_k_m", "q5_k_s", "f16",  "bf16"};

struct type_stats {
    int n, identical;
    double worst, sum;
};

/* For every non-f32 tensor of every reference file: quantize the f32 original to the same type with
 * kumo, and compare the relative RMSE (against the f32 weights) with that of the file's tensor. */
static void test_matches_reference_quality(void **state) {
    (void)state;
    kumo_error err;
    gguf_ctx *f32 = gguf_open(shared_path("models/tiny-llama-f32.gguf"), &err);
    if (!f32) fail_msg("%s", err.msg);
    struct type_stats all[GGML_TYPE_COUNT];
    memset(all, 0, sizeof all);
    int failures = 0;
    for (size_t fi = 0; fi < sizeof FILES / sizeof FILES[0]; fi++) {
        char rel[128];
        snprintf(rel, sizeof rel, "models/tiny-llama-%s.gguf", FILES[fi]);
        gguf_ctx *g = gguf_open(shared_path(rel), &err);
        if (!g) fail_msg("%s", err.msg);
        struct type_stats st[GGML_TYPE_COUNT];
        memset(st, 0, sizeof st);
        for (int64_t ti = 0; ti < gguf_tensor_count(g); ti++) {
            const gguf_tensor *t = gguf_tensor_at(g, ti);
            if (t->type == GGML_TYPE_F32) continue;
            const gguf_tensor *src = gguf_find_tensor(f32, t->name);
            assert_non_null(src);
            const int64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
            const int64_t n_per_row = t->ne[0], rows = n / n_per_row;
            const size_t row_bytes = ggml_row_bytes(t->type, n_per_row);
            kumo_quantize_row_fn quantize = kumo_quantizer(t->type);
            if (!quantize) fail_msg("%s: no quantizer for %s", t->name, ggml_type_name(t->type));
            uint8_t *mine = malloc(row_bytes * (size_t)rows);
            float *deq_mine = malloc((size_t)n * sizeof(float)), *deq_ref = malloc((size_t)n * sizeof(float));
            assert_non_null(mine);
            assert_non_null(deq_mine);
            assert_non_null(deq_ref);
            const float *x = src->data;
            for (int64_t r = 0; r < rows; r++) quantize(x + r * n_per_row, mine + (size_t)r * row_bytes, n_per_row);
            const kumo_type_traits *tr = kumo_type_traits_ref(t->type);
            tr->to_float(mine, deq_mine, n);
            tr->to_float(t->data, deq_ref, n);
            const double e_mine = rel_rmse(deq_mine, x, n), e_ref = rel_rmse(deq_ref, x, n);
            const double ratio = e_mine / e_ref;
            struct type_stats *s = &st[t->type];
            s->n++;
            s->sum += ratio;
            if (ratio > s->worst) s->worst = ratio;
            if (memcmp(mine, t->data, row_bytes * (size_t)rows) == 0) s->identical++;
            if (!(ratio <= 1.02)) {
                printf("  FAIL %s %s (%s): kumo RMSE %.6f, reference %.6f, ratio %.4f\n", rel, t->name,
                       tr->name, e_mine, e_ref, ratio);
                failures++;
            }
            free(mine);
            free(deq_mine);
            free(deq_ref);
        }
        printf("  %-8s", FILES[fi]);
        for (int t = 0; t < GGML_TYPE_COUNT; t++) {
            if (!st[t].n) continue;
            printf("  %s: %d tensors, RMSE ratio worst %.4f mean %.4f, %d byte-identical;",
                   ggml_type_name((uint32_t)t), st[t].n, st[t].worst, st[t].sum / st[t].n, st[t].identical);
            all[t].n += st[t].n;
            all[t].identical += st[t].identical;
            all[t].sum += st[t].sum;
            if (st[t].worst > all[t].worst) all[t].worst = st[t].worst;
        }
        printf("\n");
        gguf_close(g);
    }
    gguf_close(f32);
    printf("  worst kumo/reference RMSE ratio per type (tensors, byte-identical):\n");
    for (int t = 0; t < GGML_TYPE_COUNT; t++)
        if (all[t].n)
            printf("    %-5s %.4f  (%d, %d)\n", ggml_type_name((uint32_t)t), all[t].worst, all[t].n,
                   all[t].identical);
    assert_int_equal(failures, 0);
}

/* ======================= unit checks ======================= */

/* Round trip of Gaussian rows: error bounded per type (loose: these guard against gross bugs; the
 * tight comparison is the test above). */
static void test_gaussian_roundtrip(void **state) {
    (void)state;
    const int64_t n = 4096;
    float *x = malloc(n * sizeof(float));
    assert_non_null(x);
    for (int64_t i = 0; i < n; i++) x[i] = 0.02f * rng_gauss();
    for (size_t k = 0; k < N_QUANT_TYPES; k++) {
        const uint32_t t = QUANT_TYPES[k];
        float *y = roundtrip(t, x, n);
        const double e = rel_rmse(y, x, n);
        /* ~ step/sqrt(12) relative to sigma, for a step of a few sigma / levels */
        const double bound = t == GGML_TYPE_Q2_K ? 0.40 : t == GGML_TYPE_Q3_K ? 0.20
                             : t == GGML_TYPE_Q4_0 || t == GGML_TYPE_Q4_1 || t == GGML_TYPE_Q4_K ? 0.11
                             : t == GGML_TYPE_Q5_0 || t == GGML_TYPE_Q5_1 || t == GGML_TYPE_Q5_K ? 0.055
                             : t == GGML_TYPE_Q6_K ? 0.025 : t == GGML_TYPE_Q8_0 ? 0.007
                             : t == GGML_TYPE_BF16 ? 0.003 : 0.0004;
        if (!(e <= bound)) fail_msg("%s: relative RMSE %.5f > %.5f", ggml_type_name(t), e, bound);
        free(y);
    }
    free(x);
}

static void test_degenerate_rows(void **state) {
    (void)state;
    const int64_t n = 512;
    float x[512];
    for (size_t k = 0; k < N_QUANT_TYPES; k++) {
        const uint32_t t = QUANT_TYPES[k];
        /* zeros stay exact zeros */
        memset(x, 0, sizeof x);
        float *y = roundtrip(t, x, n);
        for (int64_t i = 0; i < n; i++) assert_true(y[i] == 0.0f);
        free(y);
        /* a constant row: every type reproduces it within its step */
        for (int64_t i = 0; i < n; i++) x[i] = 0.37f;
        y = roundtrip(t, x, n);
        for (int64_t i = 0; i < n; i++)
            if (!(fabsf(y[i] - 0.37f) <= 0.37f * 0.02f))
                fail_msg("%s constant row: [%lld] = %g", ggml_type_name(t), (long long)i, (double)y[i]);
        free(y);
        /* one huge outlier among small values: finite results, the outlier kept within 2% */
        for (int64_t i = 0; i < n; i++) x[i] = 0.001f * rng_gauss();
        x[77] = 1000.0f;
        x[300] = -3e4f;
        y = roundtrip(t, x, n);
        for (int64_t i = 0; i < n; i++) assert_true(isfinite(y[i]));
        assert_true(fabsf(y[77] - 1000.0f) <= 20.0f || ggml_type_block_size(t) == QK_K);
        assert_true(fabsf(y[300] + 3e4f) <= 600.0f);
        free(y);
        /* subnormal-sized values: no crash, finite, small */
        for (int64_t i = 0; i < n; i++) x[i] = 1e-39f * (float)(i % 7 - 3);
        y = roundtrip(t, x, n);
        for (int64_t i = 0; i < n; i++) assert_true(isfinite(y[i]) && fabsf(y[i]) < 1e-30f);
        free(y);
        /* inf and nan in the input: no crash, and blocks without them stay finite */
        for (int64_t i = 0; i < n; i++) x[i] = 0.01f * rng_gauss();
        x[3] = INFINITY;
        x[5] = NAN;
        x[8] = -INFINITY;
        y = roundtrip(t, x, n);
        for (int64_t i = 256; i < n; i++) assert_true(isfinite(y[i]));
        free(y);
    }
}

/* Types kumo does not produce have no quantizer. */
static void test_quantizer_table(void **state) {
    (void)state;
    for (size_t k = 0; k < N_QUANT_TYPES; k++) assert_non_null(kumo_quantizer(QUANT_TYPES[k]));
    assert_non_null(kumo_quantizer(GGML_TYPE_F32));
    assert_null(kumo_quantizer(GGML_TYPE_Q8_K));
    assert_null(kumo_quantizer(GGML_TYPE_IQ2_XXS));
    assert_null(kumo_quantizer(GGML_TYPE_COUNT + 5));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantizer_table),
        cmocka_unit_test(test_gaussian_roundtrip),
        cmocka_unit_test(test_degenerate_rows),
        cmocka_unit_test(test_matches_reference_quality),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
