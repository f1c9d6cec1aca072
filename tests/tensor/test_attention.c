/* Attention kernels (tensor/attention.h) over F32 and F16 KV caches, at every instruction-set level
 * this CPU runs:
 *   - F16 cache vs a float64 reference computed on the same F16-rounded K/V (the rounding is the
 *     cache's, not the kernel's error), within an error bound derived below;
 *   - the F16 kernel is bit-identical to the F32 kernel given the same halves widened to float
 *     (a half converts to float exactly, and the arithmetic after the load is shared);
 *   - every row's result depends only on that row: alone in a call or sharing it with up to 7
 *     other rows of different lengths, bit-identical.
 * Shapes include head sizes that are not multiples of 16 (tails of the V loads, an odd K dimension
 * count) and position counts that end mid-block; values include subnormal halves.
 *
 * Error bound per output element (u = 2^-24, n = positions, γ_m = m·u / (1 - m·u)), first order:
 *   score:   |ŝ_p - s_p| <= γ_hk · Σ_d |q_d k_pd| =: e_p (any summation order, FMA or not);
 *   weights: exp(ŝ_p - m) for every p shifts by at most 2·max e_p relative to the others; the
 *            kernels' e^x is within 2e-6 relative (degree-6 Taylor on |r| <= ln2/2: truncation
 *            2.4e-7, plus rounding in 7 Horner steps and the final scaling; expf in the portable
 *            softmax is far better); the sum of n positive terms adds γ_n, the reciprocal and the
 *            scaling 2u. So rel_w = 2·max e_p + 2·2e-6 + γ_n + 2u;
 *   output:  Σ_p ŵ_p v_pi in float adds γ_n · Σ_p w_p |v_pi|.
 *   bound_i = (rel_w + γ_n) · (1 + rel_w) · Σ_p w_p |v_pi| + 1e-30 (for all-zero rows).
 * That worst case (every rounding the same sign) is 1e-5..5e-4 here. Rounding errors of mixed sign
 * grow like √m, not m: for hk = 128 a score is off by about √128 · u · Σ|q k| ≈ 1e-6, so the test
 * also holds every element to TOL_ABS = 4e-6 absolute (outputs are up to 2: ~30 ulp), about 5× the
 * largest error measured over all levels and shapes (8.2e-7, fixed seed). A wrong position, element
 * or half conversion moves outputs by >= 1e-3. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/attention.h"
#include "tensor/quant_impl.h"
#include "test_rng.h"

#define TOL_ABS 4e-6

/* A K/V value: mostly uniform in [-2, 2], 1 in 16 tiny enough to be a subnormal half. */
static float rng_kv(rng_t *r) {
    const float v = rng_uniform(r, -2, 2);
    return (rng_next(r) & 15) == 0 ? v * 2e-5f : v;
}

typedef struct {
    attn_rows_fn f32;
    attn_rows_f16_fn f16;
    const char *name;
} level;

/* The levels this CPU can run (the portable one always). */
static int levels(level *out) {
    int n = 0;
    out[n++] = (level){attn_rows_portable, attn_rows_f16_portable, "portable"};
    if (kumo_isa_supported(KUMO_ISA_AVX2) && attn_rows_avx2_kernel())
        out[n++] = (level){attn_rows_avx2_kernel(), attn_rows_f16_avx2_kernel(), "avx2"};
    if (kumo_isa_supported(KUMO_ISA_AVX512) && attn_rows_avx512_kernel())
        out[n++] = (level){attn_rows_avx512_kernel(), attn_rows_f16_avx512_kernel(), "avx512"};
    return n;
}

/* One KV head of n_ctx positions in both cache forms, holding the same (F16-rounded) values. */
typedef struct {
    int hk, hv, n_ctx, n_pad;
    size_t vs; /* V slab stride: a few positions more than n_ctx, so no kernel may take it for n_ctx */
    uint16_t *kt16, *v16;
    float *kt32, *v32;
} kv_head;

static kv_head make_head(int hk, int hv, int n_ctx, rng_t *r) {
    kv_head h = {.hk = hk, .hv = hv, .n_ctx = n_ctx, .n_pad = (n_ctx + ATTN_BLOCK - 1) / ATTN_BLOCK * ATTN_BLOCK};
    h.vs = (size_t)(n_ctx + 5) * attn_v_slab_width(hv);
    const size_t v_elems = (size_t)hv / attn_v_slab_width(hv) * h.vs;
    h.kt16 = calloc((size_t)h.n_pad * hk, sizeof(uint16_t));
    h.kt32 = calloc((size_t)h.n_pad * hk, sizeof(float));
    h.v16 = calloc(v_elems, sizeof(uint16_t));
    h.v32 = calloc(v_elems, sizeof(float));
    assert_true(h.kt16 && h.kt32 && h.v16 && h.v32);
    for (int p = 0; p < n_ctx; p++) {
        for (int d = 0; d < hk; d++) {
            const size_t i = attn_k_index(p, d, hk);
            h.kt16[i] = kumo_float_to_half(rng_kv(r));
            h.kt32[i] = kumo_half_to_float(h.kt16[i]);
        }
        for (int i = 0; i < hv; i++) {
            const size_t j = attn_v_index(p, i, hv, h.vs);
            h.v16[j] = kumo_float_to_half(rng_kv(r));
            h.v32[j] = kumo_half_to_float(h.v16[j]);
        }
    }
    return h;
}

static void free_head(kv_head *h) {
    free(h->kt16);
    free(h->kt32);
    free(h->v16);
    free(h->v32);
}

/* float64 attention of query q over positions 0..n-1 of h; bound[i] = the smaller of the header's
 * worst-case bound and TOL_ABS. */
static void reference(const kv_head *h, const float *q, int n, double *out, double *bound) {
    const double u = 0x1p-24;
    double *s = malloc((size_t)n * sizeof(double));
    assert_non_null(s);
    double mx = -INFINITY, e_max = 0.0;
    const double g_hk = h->hk * u / (1 - h->hk * u), g_n = n * u / (1 - n * u);
    for (int p = 0; p < n; p++) {
        double acc = 0.0, mag = 0.0;
        for (int d = 0; d < h->hk; d++) {
            const double k = h->kt32[attn_k_index(p, d, h->hk)];
            acc += (double)q[d] * k;
            mag += fabs((double)q[d] * k);
        }
        s[p] = acc;
        if (acc > mx) mx = acc;
        if (g_hk * mag > e_max) e_max = g_hk * mag;
    }
    double sum = 0.0;
    for (int p = 0; p < n; p++) sum += s[p] = exp(s[p] - mx);
    const double rel_w = 2 * e_max + 2 * 2e-6 + g_n + 2 * u;
    for (int i = 0; i < h->hv; i++) {
        double o = 0.0, mag = 0.0;
        for (int p = 0; p < n; p++) {
            const double v = h->v32[attn_v_index(p, i, h->hv, h->vs)];
            o += s[p] / sum * v;
            mag += s[p] / sum * fabs(v);
        }
        out[i] = o;
        bound[i] = fmin((rel_w + g_n) * (1 + rel_w) * mag + 1e-30, TOL_ABS);
    }
    free(s);
}

typedef struct {
    int hk, hv, n_ctx;
    int prompt; /* rows k of a prompt, n_ctx - k positions each, instead of random lengths */
} shape;

static const shape SHAPES[] = {
    {128, 128, 203, 0},  /* Llama / Qwen3 heads */
    {64, 64, 97, 0},     /* small-model heads */
    {80, 72, 70, 0},     /* hv not a multiple of 16: the tail of every V row */
    {33, 20, 40, 0},     /* odd hk (AVX-512's unpaired last dimension), hv < 16 */
    {16, 8, 5, 0},       /* a single partial block */
    {128, 128, 600, 0},  /* longer rows: sums over hundreds of positions */
    {64, 72, 531, 0},    /* the same with several column passes and a V row tail */
    {64, 192, 150, 0},   /* three V slabs: a 128-column pass ends on a slab of its own */
    {128, 128, 1100, 1}, /* a prompt's rows over more than two of the AVX2 kernel's P·V chunks */
};

static void f16_cache_matches_float64_and_f32_kernel(void **state) {
    (void)state;
    level lv[KUMO_ISA_COUNT];
    const int n_lv = levels(lv);
    rng_t r = {0x2545F4914F6CDD1DULL};
    for (size_t si = 0; si < sizeof SHAPES / sizeof SHAPES[0]; si++) {
        const shape sh = SHAPES[si];
        kv_head h = make_head(sh.hk, sh.hv, sh.n_ctx, &r);
        /* 8 query rows with different lengths, the longest the whole head */
        float *q = malloc((size_t)ATTN_MAX_ROWS * sh.hk * sizeof(float));
        float *o16 = malloc((size_t)ATTN_MAX_ROWS * sh.hv * sizeof(float));
        float *o32 = malloc((size_t)ATTN_MAX_ROWS * sh.hv * sizeof(float));
        float *alone = malloc((size_t)sh.hv * sizeof(float));
        float *scores = malloc((size_t)ATTN_MAX_ROWS * h.n_pad * sizeof(float));
        double *want = malloc((size_t)ATTN_MAX_ROWS * sh.hv * sizeof(double));
        double *bound = malloc((size_t)ATTN_MAX_ROWS * sh.hv * sizeof(double));
        assert_true(q && o16 && o32 && alone && scores && want && bound);
        int npos[ATTN_MAX_ROWS];
        const float *qrow[ATTN_MAX_ROWS];
        float *row16[ATTN_MAX_ROWS], *row32[ATTN_MAX_ROWS];
        const float qscale = 3.0f / sqrtf((float)sh.hk); /* scores spread over a few units */
        for (int i = 0; i < ATTN_MAX_ROWS * sh.hk; i++) q[i] = rng_uniform(&r, -1, 1) * qscale;
        for (int k = 0; k < ATTN_MAX_ROWS; k++) {
            npos[k] = k == 0 ? sh.n_ctx : sh.prompt ? sh.n_ctx - k : 1 + (int)(rng_next(&r) % (uint64_t)sh.n_ctx);
            qrow[k] = q + (size_t)k * sh.hk;
            row16[k] = o16 + (size_t)k * sh.hv;
            row32[k] = o32 + (size_t)k * sh.hv;
            reference(&h, qrow[k], npos[k], want + (size_t)k * sh.hv, bound + (size_t)k * sh.hv);
        }
        for (int l = 0; l < n_lv; l++) {
            for (int n_rows = 1; n_rows <= ATTN_MAX_ROWS; n_rows++) {
                lv[l].f16(n_rows, qrow, npos, h.kt16, h.v16, sh.hk, sh.hv, h.vs, row16, scores);
                lv[l].f32(n_rows, qrow, npos, h.kt32, h.v32, sh.hk, sh.hv, h.vs, row32, scores);
                double worst = 0.0, worst_ratio = 0.0;
                for (int k = 0; k < n_rows; k++) {
                    for (int i = 0; i < sh.hv; i++) {
                        const size_t j = (size_t)k * sh.hv + i;
                        const double err = fabs((double)o16[j] - want[j]);
                        if (err > worst) worst = err;
                        if (err / bound[j] > worst_ratio) worst_ratio = err / bound[j];
                        if (err > bound[j])
                            fail_msg("%s hk %d hv %d: row %d of %d (%d positions) element %d: %.9g, float64 %.9g, "
                                     "error %.3g > bound %.3g",
                                     lv[l].name, sh.hk, sh.hv, k, n_rows, npos[k], i, o16[j], want[j], err, bound[j]);
                    }
                    if (memcmp(row16[k], row32[k], (size_t)sh.hv * sizeof(float)) != 0)
                        fail_msg("%s hk %d hv %d: row %d of %d: F16 kernel differs from F32 kernel on the same values",
                                 lv[l].name, sh.hk, sh.hv, k, n_rows);
                    /* the row alone gives the same bits */
                    float *one[1] = {alone};
                    lv[l].f16(1, qrow + k, npos + k, h.kt16, h.v16, sh.hk, sh.hv, h.vs, one, scores);
                    if (memcmp(alone, row16[k], (size_t)sh.hv * sizeof(float)) != 0)
                        fail_msg("%s hk %d hv %d: row %d differs alone and in a call of %d rows", lv[l].name, sh.hk,
                                 sh.hv, k, n_rows);
                    lv[l].f32(1, qrow + k, npos + k, h.kt32, h.v32, sh.hk, sh.hv, h.vs, one, scores);
                    if (memcmp(alone, row32[k], (size_t)sh.hv * sizeof(float)) != 0)
                        fail_msg("%s hk %d hv %d: F32 row %d differs alone and in a call of %d rows", lv[l].name,
                                 sh.hk, sh.hv, k, n_rows);
                }
                if (n_rows == ATTN_MAX_ROWS)
                    printf("  %-8s hk %3d hv %3d, %3d positions: max |err| vs float64 %.3g (%.3f of the tolerance)\n",
                           lv[l].name, sh.hk, sh.hv, sh.n_ctx, worst, worst_ratio);
            }
        }
        free(q);
        free(o16);
        free(o32);
        free(alone);
        free(scores);
        free(want);
        free(bound);
        free_head(&h);
    }
}

/* The dispatching entry points run the kernel of the selected level: same bits as that level. */
static void dispatch_matches_a_level(void **state) {
    (void)state;
    level lv[KUMO_ISA_COUNT];
    const int n_lv = levels(lv);
    rng_t r = {77};
    kv_head h = make_head(64, 64, 50, &r);
    float q[64], got[64], lvl[64], scores[64];
    for (int i = 0; i < 64; i++) q[i] = rng_uniform(&r, -0.3f, 0.3f);
    const float *qrow[1] = {q};
    float *out[1] = {got}, *out2[1] = {lvl};
    const int npos[1] = {50};
    attn_rows_f16(1, qrow, npos, h.kt16, h.v16, 64, 64, h.vs, out, scores);
    bool found = false;
    for (int l = 0; l < n_lv; l++) {
        lv[l].f16(1, qrow, npos, h.kt16, h.v16, 64, 64, h.vs, out2, scores);
        found = found || memcmp(got, lvl, sizeof got) == 0;
    }
    assert_true(found);
    attn_rows(1, qrow, npos, h.kt32, h.v32, 64, 64, h.vs, out, scores);
    found = false;
    for (int l = 0; l < n_lv; l++) {
        lv[l].f32(1, qrow, npos, h.kt32, h.v32, 64, 64, h.vs, out2, scores);
        found = found || memcmp(got, lvl, sizeof got) == 0;
    }
    assert_true(found);
    free_head(&h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(f16_cache_matches_float64_and_f32_kernel),
        cmocka_unit_test(dispatch_matches_a_level),
    };
    return cmocka_run_group_tests_name("attention", tests, NULL, NULL);
}
