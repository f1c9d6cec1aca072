/* Tensor types: fp16/bf16 conversions, dequantization of hand-packed blocks, dot products against
 * the float dot of the dequantized operands, every SIMD level against the portable kernels, and
 * real llama.cpp-quantized tensors against their f32 originals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "testutil.h"
#include "tensor/quant.h"
#include "tensor/quant_impl.h"
#include "test_rng.h"

/* ---------- helpers ---------- */

static int rng_int(rng_t *r, int lo, int hi) { /* inclusive */
    return lo + (int)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

/* Roughly normal values with occasional outliers, like activations. */
static float rng_act(rng_t *r) {
    float v = rng_uniform(r, -1, 1) + rng_uniform(r, -1, 1) + rng_uniform(r, -1, 1);
    if (rng_int(r, 0, 63) == 0) v *= 8;
    return v;
}

static uint16_t h16(float f) { return kumo_fp32_to_fp16(f); }
static float f16(uint16_t h) { return kumo_fp16_to_fp32(h); }

static uint32_t fbits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bitsf(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static const kumo_type_traits *ref(uint32_t t) {
    const kumo_type_traits *tr = kumo_type_traits_ref(t);
    assert_non_null(tr);
    return tr;
}

/* Dequantizes one block-row with the portable kernels. */
static float *dequant(uint32_t type, const void *data, int64_t n) {
    float *out = malloc((size_t)n * sizeof(float));
    assert_non_null(out);
    ref(type)->to_float(data, out, n);
    return out;
}

/* Asserts |got - want| <= tol with a readable message. */
static void check_close(const char *what, int idx, double got, double want, double tol) {
    if (!(fabs(got - want) <= tol)) {
        fail_msg("%s[%d]: got %.9g want %.9g (|diff| %.3g > tol %.3g)", what, idx, got, want,
                 fabs(got - want), tol);
    }
}

/* ======================= (d) fp16 / bf16 conversions ======================= */

static void test_fp16_known_values(void **state) {
    (void)state;
    struct {
        uint16_t h;
        float f;
    } known[] = {
        {0x0000, 0.0f},          {0x8000, -0.0f},        {0x3c00, 1.0f},
        {0xbc00, -1.0f},         {0x3800, 0.5f},         {0x4000, 2.0f},
        {0x7bff, 65504.0f},      {0xfbff, -65504.0f},    {0x0001, 0x1p-24f},
        {0x03ff, 1023 * 0x1p-24f}, {0x0400, 0x1p-14f},   {0x3555, 0.333251953125f},
        {0x3c01, 1.0009765625f}, {0x8001, -0x1p-24f},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        assert_int_equal(fbits(kumo_fp16_to_fp32(known[i].h)), fbits(known[i].f));
        assert_int_equal(kumo_fp32_to_fp16(known[i].f), known[i].h);
    }
    assert_true(isinf(f16(0x7c00)) && f16(0x7c00) > 0);
    assert_true(isinf(f16(0xfc00)) && f16(0xfc00) < 0);
    assert_true(isnan(f16(0x7e00)));
    assert_true(isnan(f16(0x7c01))); /* signalling nan stays a nan */
    assert_int_equal(h16(INFINITY), 0x7c00);
    assert_int_equal(h16(-INFINITY), 0xfc00);
    assert_int_equal(h16(1e10f), 0x7c00);
    uint16_t hn = h16(NAN);
    assert_true((hn & 0x7c00) == 0x7c00 && (hn & 0x3ff) != 0 && (hn & 0x200));
    /* rounding at the top of the range: 65520 is halfway between 65504 and (would-be) 65536 and
     * ties to the even neighbour, which is the overflow to infinity */
    assert_int_equal(h16(65519.996f), 0x7bff);
    assert_int_equal(h16(65520.0f), 0x7c00);
    /* ties to even among normals: 1 + 2^-11 lies halfway between 1 and 1 + 2^-10 */
    assert_int_equal(h16(1.0f + 0x1p-11f), 0x3c00);
    assert_int_equal(h16(1.0f + 3 * 0x1p-11f), 0x3c02);
    assert_int_equal(h16(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);
    /* subnormals: 2^-25 ties to 0, a hair above rounds to the smallest subnormal */
    assert_int_equal(h16(0x1p-25f), 0x0000);
    assert_int_equal(h16(0x1.000002p-25f), 0x0001);
    assert_int_equal(h16(3 * 0x1p-25f), 0x0002); /* 1.5 units ties to even 2 */
    assert_int_equal(h16(5 * 0x1p-25f), 0x0002); /* 2.5 units ties to even 2 */
    assert_int_equal(h16(-3 * 0x1p-25f), 0x8002);
    assert_int_equal(h16(1e-30f), 0x0000);
    assert_int_equal(h16(-1e-30f), 0x8000);
    /* the largest subnormal rounds up into the smallest normal */
    assert_int_equal(h16(0x1p-14f - 0x1p-26f), 0x0400);
    assert_int_equal(h16(0x1p-14f - 0x1p-25f - 0x1p-30f), 0x03ff);
}

/* Every half converts to float and back unchanged (nans: stay nan with the quiet bit set). */
static void test_fp16_roundtrip_all(void **state) {
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = kumo_fp16_to_fp32((uint16_t)h);
        uint16_t back = kumo_fp32_to_fp16(f);
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) {
            assert_true(isnan(f));
            assert_true((back & 0x7c00) == 0x7c00 && (back & 0x200) && (back & 0x8000) == (h & 0x8000));
        } else {
            if (back != h) fail_msg("half 0x%04x -> %g -> 0x%04x", h, (double)f, back);
        }
    }
}

/* Round-to-nearest-even checked by its definition: no neighbour of the result is closer, and on a
 * tie the result is even. */
static void test_fp16_rounding_property(void **state) {
    (void)state;
    rng_t r = {0x1234567};
    for (int i = 0; i < 400000; i++) {
        /* floats spread over the whole half range, subnormals included */
        float f = ldexpf(rng_uniform(&r, 1.0f, 2.0f), rng_int(&r, -27, 15));
        if (rng_next(&r) & 1) f = -f;
        if (i % 7 == 0) f = bitsf((fbits(f) & 0xffffe000u) | 0x1000u); /* exact ties */
        uint16_t h = kumo_fp32_to_fp16(f);
        double v = f16(h);
        double af = fabs((double)f);
        if (af >= 65520.0) {
            assert_int_equal(h & 0x7fff, 0x7c00);
            continue;
        }
        assert_true((h & 0x7fff) < 0x7c00);
        assert_true(!!signbit(v) == !!signbit(f) || v == 0);
        uint16_t mag = h & 0x7fff;
        double av = fabs(v);
        double up = f16((uint16_t)(mag + 1)); /* next larger magnitude (may be inf) */
        double err = fabs(af - av);
        if (mag < 0x7bff) assert_true(err <= fabs(af - up));
        else assert_true(af < 65520.0);
        if (mag > 0) {
            double down = f16((uint16_t)(mag - 1));
            assert_true(err <= fabs(af - down));
            if (err == fabs(af - down)) assert_true((mag & 1) == 0);
        }
        if (mag < 0x7bff && err == fabs(af - up)) assert_true((mag & 1) == 0);
    }
}

static void test_bf16_conversions(void **state) {
    (void)state;
    assert_int_equal(kumo_fp32_to_bf16(1.0f), 0x3f80);
    assert_int_equal(kumo_fp32_to_bf16(-2.0f), 0xc000);
    assert_int_equal(kumo_fp32_to_bf16(0.0f), 0x0000);
    assert_int_equal(kumo_fp32_to_bf16(-0.0f), 0x8000);
    assert_int_equal(kumo_fp32_to_bf16(INFINITY), 0x7f80);
    assert_int_equal(kumo_fp32_to_bf16(-INFINITY), 0xff80);
    /* 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1.0); 1 + 3*2^-8 ties up */
    assert_int_equal(kumo_fp32_to_bf16(1.0f + 0x1p-8f), 0x3f80);
    assert_int_equal(kumo_fp32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3f82);
    assert_int_equal(kumo_fp32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81);
    /* the largest float rounds up to infinity, as round-to-nearest demands */
    assert_int_equal(kumo_fp32_to_bf16(FLT_MAX), 0x7f80);
    /* subnormals are rounded, not flushed */
    assert_int_equal(kumo_fp32_to_bf16(bitsf(0x00010000u)), 0x0001);
    assert_int_equal(kumo_fp32_to_bf16(bitsf(0x00018000u)), 0x0002);
    /* nan stays nan and becomes quiet, sign kept; a signalling nan whose payload lives only in the
     * low bits must not turn into infinity */
    uint16_t q = kumo_fp32_to_bf16(bitsf(0x7f800001u));
    assert_true((q & 0x7f80) == 0x7f80 && (q & 0x7f) != 0 && (q & 0x40));
    q = kumo_fp32_to_bf16(bitsf(0xffc00000u));
    assert_int_equal(q, 0xffc0);
    assert_true(isnan(kumo_bf16_to_fp32(0x7fc0)));
    for (uint32_t h = 0; h < 65536; h++) {
        float f = kumo_bf16_to_fp32((uint16_t)h);
        assert_int_equal(fbits(f), h << 16);
        if (!isnan(f)) assert_int_equal(kumo_fp32_to_bf16(f), h);
    }
    rng_t r = {99};
    for (int i = 0; i < 200000; i++) {
        float f = ldexpf(rng_uniform(&r, 1.0f, 2.0f), rng_int(&r, -130, 127));
        uint16_t b = kumo_fp32_to_bf16(f);
        if (b == 0x7f80) { /* overflow: only above the midpoint between the largest and 2^128 */
            assert_true((double)f >= 0x1.ffp127);
            continue;
        }
        double v = kumo_bf16_to_fp32(b), up = kumo_bf16_to_fp32((uint16_t)(b + 1)),
               down = kumo_bf16_to_fp32((uint16_t)(b - 1));
        double err = fabs((double)f - v);
        assert_true(err <= fabs((double)f - up));
        assert_true(err <= fabs((double)f - down));
        if (err == fabs((double)f - up) || err == fabs((double)f - down)) assert_true((b & 1) == 0);
    }
}

/* ======================= (a) hand-packed blocks decode to the formula ======================= */

/* The packers below write blocks from logical values following the format description, element
 * by element, independently of the library's unpack code. */

static void put_nibble(uint8_t *qs, int e, int v) { /* element e of a 32-block */
    if (e < 16) qs[e] = (uint8_t)((qs[e] & 0xF0) | v);
    else qs[e - 16] = (uint8_t)((qs[e - 16] & 0x0F) | (v << 4));
}

static void pack_q4_0(block_q4_0 *b, float d, const int q[32]) {
    memset(b, 0, sizeof *b);
    b->d = h16(d);
    for (int e = 0; e < 32; e++) put_nibble(b->qs, e, q[e]);
}

static void pack_q4_1(block_q4_1 *b, float d, float m, const int q[32]) {
    memset(b, 0, sizeof *b);
    b->d = h16(d);
    b->m = h16(m);
    for (int e = 0; e < 32; e++) put_nibble(b->qs, e, q[e]);
}

static void put_qh_bit(uint8_t qh[4], int e, int bit) {
    if (bit) qh[e / 8] |= (uint8_t)(1u << (e % 8)); /* bit e of a little-endian u32 */
}

static void pack_q5_0(block_q5_0 *b, float d, const int q[32]) {
    memset(b, 0, sizeof *b);
    b->d = h16(d);
    for (int e = 0; e < 32; e++) {
        put_nibble(b->qs, e, q[e] & 0xF);
        put_qh_bit(b->qh, e, q[e] >> 4);
    }
}

static void pack_q5_1(block_q5_1 *b, float d, float m, const int q[32]) {
    memset(b, 0, sizeof *b);
    b->d = h16(d);
    b->m = h16(m);
    for (int e = 0; e < 32; e++) {
        put_nibble(b->qs, e, q[e] & 0xF);
        put_qh_bit(b->qh, e, q[e] >> 4);
    }
}

/* K-quants: 2-bit fields of Q2_K/Q3_K: element e = 128h + 32s + l sits at bits 2s of qs[32h + l]. */
static void put_crumb(uint8_t *qs, int e, int v) {
    int h = e / 128, s = (e % 128) / 32, l = e % 32;
    qs[32 * h + l] |= (uint8_t)(v << (2 * s));
}

static void pack_q2_K(block_q2_K *b, float d, float dmin, const int sc[16], const int mn[16],
                      const int q[256]) {
    memset(b, 0, sizeof *b);
    b->d = h16(d);
    b->dmin = h16(dmin);
    for (int j = 0; j < 16; j++) b->scales[j] = (uint8_t)(sc[j] | mn[j] << 4);
    for (int e = 0; e < 256; e++) put_crumb(b->qs, e, q[e]);
}

/* q3 in 0..7 (value q3 - 4), sc6 in 0..63 (value sc6 - 32) */
static void pack_q3_K(block_q3_K *b, float d, const int sc6[16], const int q3[256]) {
    memset(b, 0, sizeof *b);
    b->d = h16(d);
    for (int j = 0; j < 16; j++) {
        if (j < 8) b->scales[j] |= (uint8_t)(sc6[j] & 0xF);
        else b->scales[j - 8] |= (uint8_t)((sc6[j] & 0xF) << 4);
        b->scales[8 + j % 4] |= (uint8_t)((sc6[j] >> 4) << (2 * (j / 4)));
    }
    for (int e = 0; e < 256; e++) {
        put_crumb(b->qs, e, q3[e] & 3);
        if (q3[e] & 4) b->hmask[e % 32] |= (uint8_t)(1u << (e / 32));
    }
}

static void pack_k4_scales(uint8_t s[12], const int sc[8], const int mn[8]) {
    memset(s, 0, 12);
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)(sc[j] | ((sc[j + 4] >> 4) << 6));
        s[j + 4] = (uint8_t)(mn[j] | ((mn[j + 4] >> 4) << 6));
        s[j + 8] = (uint8_t)((sc[j + 4] & 0xF) | ((mn[j + 4] & 0xF) << 4));
    }
}

static void pack_q4_K(block_q4_K *b, float d, float dmin, const int sc[8], const int mn[8],
                      const int q[256]) {
    memset(b, 0, sizeof *b);
    b->d = h16(d);
    b->dmin = h16(dmin);
    pack_k4_scales(b->scales, sc, mn);
    for (int e = 0; e < 256; e++) {
        int k = e / 64, hi = (e % 64) >= 32, l = e % 32;
        b->qs[32 * k + l] |= (uint8_t)(q[e] << (4 * hi));
    }
}

static void pack_q5_K(block_q5_K *b, float d, float dmin, const int sc[8], const int mn[8],
                      const int q[256]) {
    memset(b, 0, sizeof *b);
    b->d = h16(d);
    b->dmin = h16(dmin);
    pack_k4_scales(b->scales, sc, mn);
    for (int e = 0; e < 256; e++) {
        int k = e / 64, hi = (e % 64) >= 32, l = e % 32;
        b->qs[32 * k + l] |= (uint8_t)((q[e] & 0xF) << (4 * hi));
        b->qh[l] |= (uint8_t)((q[e] >> 4) << (2 * k + hi));
    }
}

/* q6 in 0..63 (value q6 - 32) */
static void pack_q6_K(block_q6_K *b, float d, const int sc[16], const int q6[256]) {
    memset(b, 0, sizeof *b);
    b->d = h16(d);
    for (int j = 0; j < 16; j++) b->scales[j] = (int8_t)sc[j];
    for (int e = 0; e < 256; e++) {
        int h = e / 128, t = (e % 128) / 32, l = e % 32;
        b->ql[64 * h + 32 * (t & 1) + l] |= (uint8_t)((q6[e] & 0xF) << (4 * (t >> 1)));
        b->qh[32 * h + l] |= (uint8_t)((q6[e] >> 4) << (2 * t));
    }
}

static void fill_ints(rng_t *r, int *v, int n, int lo, int hi) {
    for (int i = 0; i < n; i++) v[i] = rng_int(r, lo, hi);
}

/* fp16 values that are exact: a few significant bits times a power of two */
static float rand_scale(rng_t *r) { return ldexpf((float)rng_int(r, 1, 2047), rng_int(r, -20, -8)); }

/* Tolerance for a*b - c*e computed in float: a couple of ulps of the larger term. */
static double tol2(double x, double y) { return (fabs(x) + fabs(y)) * 0x1p-22 + 1e-30; }

static void test_q4_0_hand_block(void **state) {
    (void)state;
    /* d = 0.5 and nibbles 0..15 then 15..0: values (q - 8) * 0.5 */
    int q[32];
    for (int e = 0; e < 32; e++) q[e] = e < 16 ? e : 31 - e;
    block_q4_0 b;
    pack_q4_0(&b, 0.5f, q);
    assert_int_equal(b.qs[0], 0xF0); /* element 0 (q=0) low, element 16 (q=15) high */
    float out[32];
    ref(GGML_TYPE_Q4_0)->to_float(&b, out, 32);
    for (int e = 0; e < 32; e++) assert_true(out[e] == (float)(q[e] - 8) * 0.5f);
    assert_true(out[0] == -4.0f && out[15] == 3.5f && out[16] == 3.5f);
}

static void test_legacy_random_blocks(void **state) {
    (void)state;
    rng_t r = {7};
    for (int it = 0; it < 200; it++) {
        int q[32];
        float out[32];
        float d = rand_scale(&r), m = -rand_scale(&r) * 8;
        d = f16(h16(d));
        m = f16(h16(m));

        block_q4_0 b40;
        fill_ints(&r, q, 32, 0, 15);
        pack_q4_0(&b40, d, q);
        ref(GGML_TYPE_Q4_0)->to_float(&b40, out, 32);
        for (int e = 0; e < 32; e++) check_close("q4_0", e, out[e], (q[e] - 8) * (double)d, 0);

        block_q4_1 b41;
        fill_ints(&r, q, 32, 0, 15);
        pack_q4_1(&b41, d, m, q);
        ref(GGML_TYPE_Q4_1)->to_float(&b41, out, 32);
        for (int e = 0; e < 32; e++)
            check_close("q4_1", e, out[e], q[e] * (double)d + m, tol2(q[e] * (double)d, m));

        block_q5_0 b50;
        fill_ints(&r, q, 32, 0, 31);
        pack_q5_0(&b50, d, q);
        ref(GGML_TYPE_Q5_0)->to_float(&b50, out, 32);
        for (int e = 0; e < 32; e++) check_close("q5_0", e, out[e], (q[e] - 16) * (double)d, 0);

        block_q5_1 b51;
        fill_ints(&r, q, 32, 0, 31);
        pack_q5_1(&b51, d, m, q);
        ref(GGML_TYPE_Q5_1)->to_float(&b51, out, 32);
        for (int e = 0; e < 32; e++)
            check_close("q5_1", e, out[e], q[e] * (double)d + m, tol2(q[e] * (double)d, m));

        block_q8_0 b80;
        b80.d = h16(d);
        for (int e = 0; e < 32; e++) b80.qs[e] = (int8_t)rng_int(&r, -128, 127);
        ref(GGML_TYPE_Q8_0)->to_float(&b80, out, 32);
        for (int e = 0; e < 32; e++) check_close("q8_0", e, out[e], b80.qs[e] * (double)d, 0);
    }
}

static void test_kquant_random_blocks(void **state) {
    (void)state;
    rng_t r = {11};
    float out[256];
    int q[256], sc[16], mn[16];
    for (int it = 0; it < 100; it++) {
        float d = f16(h16(rand_scale(&r))), dmin = f16(h16(rand_scale(&r)));

        block_q2_K b2;
        fill_ints(&r, q, 256, 0, 3);
        fill_ints(&r, sc, 16, 0, 15);
        fill_ints(&r, mn, 16, 0, 15);
        pack_q2_K(&b2, d, dmin, sc, mn, q);
        ref(GGML_TYPE_Q2_K)->to_float(&b2, out, 256);
        for (int e = 0; e < 256; e++) {
            double a = (double)d * sc[e / 16] * q[e], c = (double)dmin * mn[e / 16];
            check_close("q2_K", e, out[e], a - c, tol2(a, c));
        }

        block_q3_K b3;
        fill_ints(&r, q, 256, 0, 7);
        fill_ints(&r, sc, 16, 0, 63);
        pack_q3_K(&b3, d, sc, q);
        ref(GGML_TYPE_Q3_K)->to_float(&b3, out, 256);
        for (int e = 0; e < 256; e++)
            check_close("q3_K", e, out[e], (double)d * (sc[e / 16] - 32) * (q[e] - 4), 0);

        block_q4_K b4;
        fill_ints(&r, q, 256, 0, 15);
        fill_ints(&r, sc, 8, 0, 63);
        fill_ints(&r, mn, 8, 0, 63);
        pack_q4_K(&b4, d, dmin, sc, mn, q);
        ref(GGML_TYPE_Q4_K)->to_float(&b4, out, 256);
        for (int e = 0; e < 256; e++) {
            double a = (double)d * sc[e / 32] * q[e], c = (double)dmin * mn[e / 32];
            check_close("q4_K", e, out[e], a - c, tol2(a, c));
        }

        block_q5_K b5;
        fill_ints(&r, q, 256, 0, 31);
        fill_ints(&r, sc, 8, 0, 63);
        fill_ints(&r, mn, 8, 0, 63);
        pack_q5_K(&b5, d, dmin, sc, mn, q);
        ref(GGML_TYPE_Q5_K)->to_float(&b5, out, 256);
        for (int e = 0; e < 256; e++) {
            double a = (double)d * sc[e / 32] * q[e], c = (double)dmin * mn[e / 32];
            check_close("q5_K", e, out[e], a - c, tol2(a, c));
        }

        block_q6_K b6;
        fill_ints(&r, q, 256, 0, 63);
        fill_ints(&r, sc, 16, -128, 127);
        pack_q6_K(&b6, d, sc, q);
        ref(GGML_TYPE_Q6_K)->to_float(&b6, out, 256);
        for (int e = 0; e < 256; e++)
            check_close("q6_K", e, out[e], (double)d * sc[e / 16] * (q[e] - 32), 0);

        block_q8_K b8;
        b8.d = rng_uniform(&r, -0.1f, 0.1f);
        for (int e = 0; e < 256; e++) b8.qs[e] = (int8_t)rng_int(&r, -127, 127);
        ref(GGML_TYPE_Q8_K)->to_float(&b8, out, 256);
        for (int e = 0; e < 256; e++) check_close("q8_K", e, out[e], (double)b8.d * b8.qs[e], tol2(b8.d * b8.qs[e], 0));
    }
}

/* A recognisable Q4_K block: scales 1..8, mins 0..7, d = 1, dmin = 0.25, q = e % 16. */
static void test_q4_K_hand_block(void **state) {
    (void)state;
    int sc[8], mn[8], q[256];
    for (int j = 0; j < 8; j++) {
        sc[j] = j + 1 + (j >= 4 ? 40 : 0); /* sub-blocks 4..7 need the high scale bits */
        mn[j] = j + (j >= 4 ? 50 : 0);
    }
    for (int e = 0; e < 256; e++) q[e] = e % 16;
    block_q4_K b;
    pack_q4_K(&b, 1.0f, 0.25f, sc, mn, q);
    float out[256];
    ref(GGML_TYPE_Q4_K)->to_float(&b, out, 256);
    for (int e = 0; e < 256; e++)
        assert_true(out[e] == (float)(sc[e / 32] * q[e]) - 0.25f * (float)mn[e / 32]);
    assert_true(out[255] == 48.0f * 15 - 0.25f * 57);
}

/* Q8_0 / Q8_K activation quantizers, checked against their definitions with libm's rintf. */
static void test_activation_quantizers(void **state) {
    (void)state;
    rng_t r = {5};
    float x[512];
    for (int it = 0; it < 50; it++) {
        for (int i = 0; i < 512; i++) x[i] = rng_act(&r);
        if (it == 1) memset(x + 32, 0, 32 * sizeof(float)); /* an all-zero block */
        block_q8_0 b[16];
        ref(GGML_TYPE_Q8_0)->from_float(x, b, 512);
        for (int k = 0; k < 16; k++) {
            float amax = 0;
            for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[32 * k + j]));
            assert_int_equal(b[k].d, h16(amax / 127));
            for (int j = 0; j < 32; j++) {
                float want = amax ? rintf(x[32 * k + j] * (127 / amax)) : 0;
                assert_int_equal(b[k].qs[j], (int)want);
            }
        }
        block_q8_K bk[2];
        ref(GGML_TYPE_Q8_K)->from_float(x, bk, 512);
        for (int k = 0; k < 2; k++) {
            const float *xb = x + 256 * k;
            int imax = 0;
            for (int j = 1; j < 256; j++)
                if (fabsf(xb[j]) > fabsf(xb[imax])) imax = j;
            float iscale = -127 / xb[imax];
            assert_true(bk[k].d == 1 / iscale);
            assert_int_equal(bk[k].qs[imax], -127);
            for (int j = 0; j < 256; j++) assert_int_equal(bk[k].qs[j], (int)rintf(iscale * xb[j]));
            for (int g = 0; g < 16; g++) {
                int s = 0;
                for (int j = 0; j < 16; j++) s += bk[k].qs[16 * g + j];
                assert_int_equal(bk[k].bsums[g], s);
            }
        }
    }
    float zero[256] = {0};
    block_q8_K bz;
    memset(&bz, 0x55, sizeof bz);
    ref(GGML_TYPE_Q8_K)->from_float(zero, &bz, 256);
    assert_true(bz.d == 0);
    for (int j = 0; j < 256; j++) assert_int_equal(bz.qs[j], 0);
    for (int g = 0; g < 16; g++) assert_int_equal(bz.bsums[g], 0);
}

/* ======================= random rows of any type ======================= */

static const uint32_t WEIGHT_TYPES[] = {
    GGML_TYPE_F32,  GGML_TYPE_F16,  GGML_TYPE_BF16, GGML_TYPE_Q4_0, GGML_TYPE_Q4_1,
    GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_Q8_0, GGML_TYPE_Q2_K, GGML_TYPE_Q3_K,
    GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K,
};
#define N_WEIGHT_TYPES (sizeof WEIGHT_TYPES / sizeof WEIGHT_TYPES[0])

static void put_half(void *block, size_t off, float v) {
    uint16_t h = h16(v);
    memcpy((uint8_t *)block + off, &h, 2);
}

/* A random but valid row of a weight type: random quant bits, finite scales of realistic size. */
static void *random_row(rng_t *r, uint32_t type, int64_t n) {
    size_t bytes = ggml_row_bytes(type, n);
    uint8_t *p = malloc(bytes);
    assert_non_null(p);
    for (size_t i = 0; i < bytes; i++) p[i] = (uint8_t)rng_next(r);
    int64_t nb = n / ggml_type_block_size(type);
    size_t bb = ggml_type_block_bytes(type);
    for (int64_t i = 0; i < nb; i++) {
        uint8_t *b = p + (size_t)i * bb;
        float d = rng_uniform(r, 0.0005f, 0.01f), m = rng_uniform(r, -0.08f, 0.0f);
        switch (type) {
        case GGML_TYPE_F32: {
            float v = rng_act(r) * 0.05f;
            memcpy(b, &v, 4);
            break;
        }
        case GGML_TYPE_F16: put_half(b, 0, rng_act(r) * 0.05f); break;
        case GGML_TYPE_BF16: {
            uint16_t h = kumo_fp32_to_bf16(rng_act(r) * 0.05f);
            memcpy(b, &h, 2);
            break;
        }
        case GGML_TYPE_Q4_0: put_half(b, offsetof(block_q4_0, d), d); break;
        case GGML_TYPE_Q5_0: put_half(b, offsetof(block_q5_0, d), d); break;
        case GGML_TYPE_Q8_0: put_half(b, offsetof(block_q8_0, d), d * 0.1f); break;
        case GGML_TYPE_Q4_1:
            put_half(b, offsetof(block_q4_1, d), d);
            put_half(b, offsetof(block_q4_1, m), m);
            break;
        case GGML_TYPE_Q5_1:
            put_half(b, offsetof(block_q5_1, d), d * 0.5f);
            put_half(b, offsetof(block_q5_1, m), m);
            break;
        case GGML_TYPE_Q2_K:
            put_half(b, offsetof(block_q2_K, d), d);
            put_half(b, offsetof(block_q2_K, dmin), d * 0.5f);
            break;
        case GGML_TYPE_Q3_K: put_half(b, offsetof(block_q3_K, d), d * 0.1f); break;
        case GGML_TYPE_Q4_K:
            put_half(b, offsetof(block_q4_K, d), d * 0.05f);
            put_half(b, offsetof(block_q4_K, dmin), d * 0.05f);
            break;
        case GGML_TYPE_Q5_K:
            put_half(b, offsetof(block_q5_K, d), d * 0.03f);
            put_half(b, offsetof(block_q5_K, dmin), d * 0.05f);
            break;
        case GGML_TYPE_Q6_K: put_half(b, offsetof(block_q6_K, d), d * 0.01f); break;
        default: fail_msg("no random row for type %u", type);
        }
    }
    return p;
}

static float *random_acts(rng_t *r, int64_t n) {
    float *x = malloc((size_t)n * sizeof(float));
    assert_non_null(x);
    for (int64_t i = 0; i < n; i++) x[i] = rng_act(r);
    return x;
}

static void *quantize_acts(const kumo_type_traits *act, const float *x, int64_t n) {
    void *q = malloc(ggml_row_bytes(act->type, n));
    assert_non_null(q);
    act->from_float(x, q, n);
    return q;
}

/* Row lengths covering single blocks, odd block counts (SIMD tails) and long rows. */
static int64_t row_len(uint32_t type, int k) {
    static const int64_t plain[] = {1, 7, 16, 33, 100, 256, 4109};
    static const int64_t b32[] = {32, 64, 96, 160, 256, 1024, 4128};
    static const int64_t b256[] = {256, 512, 768, 1280, 2304, 4096, 5376};
    int bs = ggml_type_block_size(type);
    return bs == 1 ? plain[k] : bs == 32 ? b32[k] : b256[k];
}
#define N_ROW_LENS 7

/* ======================= (b) vec_dot == float dot of dequantized operands ======================= */

/* Tolerance: the integer part of each block's dot is exact, so the only error is float rounding
 * of one product and one addition per block (plus the 8-lane sums of the float types): at most
 * (blocks + 8) * 2^-24 * Σ|w·a|, which 1e-5·Σ|w·a| covers for rows up to 160 blocks. Q4_1/Q5_1
 * also round the activation's block-sum term to fp16, as the reference does: 2^-11 · Σ|m·s|. */
static void test_vec_dot_matches_dequantized(void **state) {
    (void)state;
    rng_t r = {2024};
    for (size_t ti = 0; ti < N_WEIGHT_TYPES; ti++) {
        const kumo_type_traits *w = ref(WEIGHT_TYPES[ti]);
        const kumo_type_traits *act = ref(w->vec_dot_type);
        for (int k = 0; k < N_ROW_LENS; k++) {
            int64_t n = row_len(w->type, k);
            void *wrow = random_row(&r, w->type, n);
            float *x = random_acts(&r, n);
            void *arow = quantize_acts(act, x, n);
            float *wd = dequant(w->type, wrow, n), *ad = dequant(act->type, arow, n);
            double want = 0, mag = 0, min_term = 0;
            for (int64_t i = 0; i < n; i++) {
                want += (double)wd[i] * ad[i];
                mag += fabs((double)wd[i] * ad[i]);
            }
            if (w->type == GGML_TYPE_Q4_1 || w->type == GGML_TYPE_Q5_1) {
                for (int64_t b = 0; b < n / 32; b++) {
                    const uint8_t *blk = (const uint8_t *)wrow + b * w->block_bytes;
                    uint16_t mh;
                    memcpy(&mh, blk + 2, 2); /* m follows d in both layouts */
                    double s = 0;
                    for (int j = 0; j < 32; j++) s += ad[32 * b + j];
                    min_term += fabs(f16(mh) * s);
                }
            }
            double got = w->vec_dot(n, wrow, arow);
            double tol = 1e-5 * mag + 0x1p-11 * min_term + 1e-30;
            if (!(fabs(got - want) <= tol))
                fail_msg("%s n=%lld: vec_dot %.9g, dequantized dot %.9g (diff %.3g, tol %.3g)",
                         w->name, (long long)n, got, want, fabs(got - want), tol);
            free(wrow);
            free(x);
            free(arow);
            free(wd);
            free(ad);
        }
    }
}

/* ======================= (c) every SIMD level == portable ======================= */

static double max_rel_diff[KUMO_ISA_COUNT][GGML_TYPE_COUNT];

/* to_float and from_float do the same arithmetic in the same order: bit-exact. So do the K-quant
 * dot products (exact integer super-block sums, then the portable float expression). The other dot
 * products sum in a different order (vector lanes, FMA): within 1e-6 · Σ|w·a|, a few float ulps of
 * the per-block terms (observed differences are printed, ~5e-8). */
static void test_simd_matches_portable(void **state) {
    (void)state;
    int levels = 0;
    for (int isa = KUMO_ISA_AVX2; isa < KUMO_ISA_COUNT; isa++) {
        if (!kumo_isa_supported(isa)) {
            printf("  %s: not supported by this CPU, skipped\n", kumo_isa_name(isa));
            continue;
        }
        levels++;
        rng_t r = {77 + (uint64_t)isa};
        for (size_t ti = 0; ti < N_WEIGHT_TYPES + 1; ti++) {
            uint32_t type = ti < N_WEIGHT_TYPES ? WEIGHT_TYPES[ti] : GGML_TYPE_Q8_K;
            const kumo_type_traits *p = ref(type), *s = kumo_type_traits_isa(type, isa);
            assert_non_null(s);
            for (int k = 0; k < N_ROW_LENS; k++) {
                int64_t n = row_len(type, k);
                /* from_float: identical bytes */
                float *x = random_acts(&r, n);
                if (p->from_float) {
                    size_t bytes = ggml_row_bytes(type, n);
                    uint8_t *qa = malloc(bytes), *qb = malloc(bytes);
                    assert_non_null(qa);
                    assert_non_null(qb);
                    p->from_float(x, qa, n);
                    s->from_float(x, qb, n);
                    if (memcmp(qa, qb, bytes) != 0)
                        fail_msg("%s %s from_float n=%lld differs from portable", kumo_isa_name(isa),
                                 p->name, (long long)n);
                    free(qa);
                    free(qb);
                }
                if (type == GGML_TYPE_Q8_K) {
                    free(x);
                    continue;
                }
                /* to_float: identical floats */
                void *wrow = random_row(&r, type, n);
                float *da = dequant(type, wrow, n), *db = malloc((size_t)n * sizeof(float));
                assert_non_null(db);
                s->to_float(wrow, db, n);
                if (memcmp(da, db, (size_t)n * sizeof(float)) != 0)
                    fail_msg("%s %s to_float n=%lld differs from portable", kumo_isa_name(isa), p->name,
                             (long long)n);
                /* vec_dot */
                const kumo_type_traits *act = ref(p->vec_dot_type);
                void *arow = quantize_acts(act, x, n);
                float *ad = dequant(act->type, arow, n);
                double mag = 0;
                for (int64_t i = 0; i < n; i++) mag += fabs((double)da[i] * ad[i]);
                double want = p->vec_dot(n, wrow, arow), got = s->vec_dot(n, wrow, arow);
                double rel = fabs(got - want) / (mag + 1e-30);
                if (rel > max_rel_diff[isa][type]) max_rel_diff[isa][type] = rel;
                /* K-quants: same integers, same float operations in the same order */
                const bool exact = ggml_type_block_size(type) == QK_K;
                if (exact && got != want)
                    fail_msg("%s %s vec_dot n=%lld: %.9g vs portable %.9g, expected bit-identical",
                             kumo_isa_name(isa), p->name, (long long)n, got, want);
                if (!(rel <= 1e-6))
                    fail_msg("%s %s vec_dot n=%lld: %.9g vs portable %.9g (rel %.3g)", kumo_isa_name(isa),
                             p->name, (long long)n, got, want, rel);
                free(x);
                free(wrow);
                free(da);
                free(db);
                free(arow);
                free(ad);
            }
        }
        printf("  %s vs portable, max |vec_dot diff| / Σ|w·a|:", kumo_isa_name(isa));
        for (size_t ti = 0; ti < N_WEIGHT_TYPES; ti++)
            printf(" %s %.1e", ggml_type_name(WEIGHT_TYPES[ti]), max_rel_diff[isa][WEIGHT_TYPES[ti]]);
        printf("\n");
    }
    printf("  dispatch chose: %s (%d SIMD level(s) tested)\n", kumo_cpu_isa(), levels);
}

/* The dispatch hands out a table entry for every supported type and nothing for the others. */
static void test_traits_table(void **state) {
    (void)state;
    for (size_t ti = 0; ti < N_WEIGHT_TYPES; ti++) {
        const kumo_type_traits *t = kumo_get_type_traits(WEIGHT_TYPES[ti]);
        assert_non_null(t);
        assert_int_equal(t->type, WEIGHT_TYPES[ti]);
        assert_string_equal(t->name, ggml_type_name(t->type));
        assert_int_equal(t->block_size, ggml_type_block_size(t->type));
        assert_int_equal(t->block_bytes, ggml_type_block_bytes(t->type));
        assert_non_null(t->to_float);
        assert_non_null(t->vec_dot);
        const kumo_type_traits *a = kumo_get_type_traits(t->vec_dot_type);
        assert_non_null(a);
        assert_non_null(a->from_float);
    }
    const kumo_type_traits *q8k = kumo_get_type_traits(GGML_TYPE_Q8_K);
    assert_non_null(q8k);
    assert_null(q8k->vec_dot);
    assert_null(kumo_get_type_traits(GGML_TYPE_IQ2_XXS));
    assert_null(kumo_get_type_traits(GGML_TYPE_COUNT));
    assert_null(kumo_get_type_traits(0xffffffffu));
    const char *isa = kumo_cpu_isa();
    assert_true(!strcmp(isa, "portable") || !strcmp(isa, "avx2") || !strcmp(isa, "avx512"));
    const char *env = getenv("KUMO_ISA");
    if (env && kumo_isa_supported(KUMO_ISA_AVX512)) assert_string_equal(isa, env);
}


/* ======================= real tensors: llama.cpp quantizations vs their f32 source ======================= */

/* Relative RMSE bound per type (rms(dequantized - f32) / rms(f32)). The tiny model's weights are
 * roughly Gaussian; the values observed with the reference files are q8_0 0.54%, q6_K 1.8%, q5_K
 * 3.6%, q5_1 3.8%, q5_0 4.3%, q4_K 7.2%, q4_1 7.9%, q4_0 8.6%, q3_K 15.2%, q2_K 29.8%, f16 0.02%,
 * bf16 0.17%: the bounds leave ~20% headroom. A wrong bit layout gives errors near or above 100%. */
static double rmse_bound(uint32_t type) {
    switch (type) {
    case GGML_TYPE_F16: return 0.0004;
    case GGML_TYPE_BF16: return 0.0025;
    case GGML_TYPE_Q8_0: return 0.0065;
    case GGML_TYPE_Q6_K: return 0.022;
    case GGML_TYPE_Q5_K: return 0.044;
    case GGML_TYPE_Q5_1: return 0.046;
    case GGML_TYPE_Q5_0: return 0.052;
    case GGML_TYPE_Q4_K: return 0.087;
    case GGML_TYPE_Q4_1: return 0.095;
    case GGML_TYPE_Q4_0: return 0.104;
    case GGML_TYPE_Q3_K: return 0.183;
    case GGML_TYPE_Q2_K: return 0.36;
    default: return 0;
    }
}

static const char *const QUANT_FILES[] = {"f16",    "bf16",   "q8_0",   "q6_k",   "q5_k_m",
                                          "q5_k_s", "q5_0",   "q5_1",   "q4_k_m", "q4_k_s",
                                          "q4_0",   "q4_1",   "q3_k_m", "q2_k"};

/* Every non-f32 tensor of each file dequantizes to within the bound of the f32 original, and a
 * matrix-vector product through the dispatched vec_dot (activations quantized to the vec_dot type)
 * stays within that bound (+1% for the activation quantization) of the f32 product. */
static void test_real_tensors(void **state) {
    (void)state;
    kumo_error err;
    gguf_ctx *f32 = gguf_open(shared_path("models/tiny-llama-f32.gguf"), &err);
    if (!f32) fail_msg("%s", err.msg);
    double worst[GGML_TYPE_COUNT] = {0}, worst_mv[GGML_TYPE_COUNT] = {0};
    int checked = 0;
    rng_t r = {31337};
    for (size_t fi = 0; fi < sizeof QUANT_FILES / sizeof QUANT_FILES[0]; fi++) {
        char rel[128];
        snprintf(rel, sizeof rel, "models/tiny-llama-%s.gguf", QUANT_FILES[fi]);
        gguf_ctx *g = gguf_open(shared_path(rel), &err);
        if (!g) fail_msg("%s", err.msg);
        for (int64_t ti = 0; ti < gguf_tensor_count(g); ti++) {
            const gguf_tensor *t = gguf_tensor_at(g, ti);
            if (t->type == GGML_TYPE_F32) continue;
            const gguf_tensor *src = gguf_find_tensor(f32, t->name);
            assert_non_null(src);
            assert_int_equal(src->type, GGML_TYPE_F32);
            const int64_t n_per_row = t->ne[0], rows = t->ne[1] * t->ne[2] * t->ne[3];
            assert_int_equal(src->ne[0], n_per_row);
            const int64_t n = n_per_row * rows;
            const kumo_type_traits *tr = kumo_get_type_traits(t->type);
            assert_non_null(tr);
            assert_true(t->size == ggml_row_bytes(t->type, n_per_row) * (uint64_t)rows);
            float *deq = malloc((size_t)n * sizeof(float));
            assert_non_null(deq);
            tr->to_float(t->data, deq, n);
            const float *x = src->data;
            double se = 0, ss = 0;
            for (int64_t k = 0; k < n; k++) {
                se += ((double)deq[k] - x[k]) * ((double)deq[k] - x[k]);
                ss += (double)x[k] * x[k];
            }
            const double rmse = sqrt(se / ss);
            if (rmse > worst[t->type]) worst[t->type] = rmse;
            if (!(rmse <= rmse_bound(t->type)))
                fail_msg("%s %s (%s): relative RMSE %.5f > bound %.5f", rel, t->name, tr->name, rmse,
                         rmse_bound(t->type));

            /* W·v through vec_dot vs the f32 weights times the float activations. Weight and
             * activation quantization errors are independent, so they add in quadrature: the bound is
             * the weight bound combined with the activation error measured here (W_f32 times the
             * dequantized activations), with 15% headroom. */
            const kumo_type_traits *act = kumo_get_type_traits(tr->vec_dot_type);
            float *v = random_acts(&r, n_per_row);
            void *vq = quantize_acts(act, v, n_per_row);
            float *vd = dequant(act->type, vq, n_per_row);
            double de = 0, dn = 0, da = 0;
            const size_t row_bytes = ggml_row_bytes(t->type, n_per_row);
            for (int64_t row = 0; row < rows; row++) {
                double want = 0, act_only = 0;
                for (int64_t k = 0; k < n_per_row; k++) {
                    want += (double)x[row * n_per_row + k] * v[k];
                    act_only += (double)x[row * n_per_row + k] * vd[k];
                }
                const double got = tr->vec_dot(n_per_row, (const uint8_t *)t->data + row * row_bytes, vq);
                de += (got - want) * (got - want);
                da += (act_only - want) * (act_only - want);
                dn += want * want;
            }
            const double mv = sqrt(de / dn), act_err = sqrt(da / dn);
            const double mv_bound = 1.15 * hypot(rmse_bound(t->type), act_err);
            if (mv > worst_mv[t->type]) worst_mv[t->type] = mv;
            if (!(mv <= mv_bound))
                fail_msg("%s %s (%s): matrix-vector relative error %.5f > %.5f", rel, t->name, tr->name,
                         mv, mv_bound);
            free(vd);
            free(v);
            free(vq);
            free(deq);
            checked++;
        }
        gguf_close(g);
    }
    gguf_close(f32);
    printf("  %d tensors checked; worst relative RMSE (and matrix-vector error) per type:\n   ", checked);
    for (int t = 0; t < GGML_TYPE_COUNT; t++)
        if (worst[t] > 0) printf(" %s %.4f (%.4f)", ggml_type_name((uint32_t)t), worst[t], worst_mv[t]);
    printf("\n");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fp16_known_values),
        cmocka_unit_test(test_fp16_roundtrip_all),
        cmocka_unit_test(test_fp16_rounding_property),
        cmocka_unit_test(test_bf16_conversions),
        cmocka_unit_test(test_q4_0_hand_block),
        cmocka_unit_test(test_q4_K_hand_block),
        cmocka_unit_test(test_legacy_random_blocks),
        cmocka_unit_test(test_kquant_random_blocks),
        cmocka_unit_test(test_activation_quantizers),
        cmocka_unit_test(test_vec_dot_matches_dequantized),
        cmocka_unit_test(test_simd_matches_portable),
        cmocka_unit_test(test_traits_table),
        cmocka_unit_test(test_real_tensors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
