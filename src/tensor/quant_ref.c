/* Portable C kernels for every tensor type: the definition of what each format means, and the
 * baseline every SIMD kernel is tested against.
 *
 * Each block type has an "unpack" that turns one block into its small integers (and sub-block
 * scales); dequantization and dot products are written on top of it, so the bit layouts live in
 * one place. Dot products follow the reference engine: integer sums within a block, then one float
 * multiply-add per block (d_weight * d_activation * integer sum). */
#include <math.h>
#include <string.h>

#include "tensor/quant_impl.h"

_Static_assert(sizeof(block_q4_0) == 18, "block_q4_0 layout");
_Static_assert(sizeof(block_q4_1) == 20, "block_q4_1 layout");
_Static_assert(sizeof(block_q5_0) == 22, "block_q5_0 layout");
_Static_assert(sizeof(block_q5_1) == 24, "block_q5_1 layout");
_Static_assert(sizeof(block_q8_0) == 34, "block_q8_0 layout");
_Static_assert(sizeof(block_q2_K) == 84, "block_q2_K layout");
_Static_assert(sizeof(block_q3_K) == 110, "block_q3_K layout");
_Static_assert(sizeof(block_q4_K) == 144, "block_q4_K layout");
_Static_assert(sizeof(block_q5_K) == 176, "block_q5_K layout");
_Static_assert(sizeof(block_q6_K) == 210, "block_q6_K layout");
_Static_assert(sizeof(block_q8_K) == 292, "block_q8_K layout");

/* ======================= plain float types ======================= */

static void f32_to_float(const void *src, float *dst, int64_t n) {
    memmove(dst, src, (size_t)n * sizeof(float));
}

static void f32_from_float(const float *src, void *dst, int64_t n) {
    memmove(dst, src, (size_t)n * sizeof(float));
}

/* Eight running sums, like an 8-lane SIMD accumulator, folded pairwise at the end. */
static float fold8(const float acc[8]) {
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

static float f32_dot(int64_t n, const void *w, const void *a) {
    const float *x = w, *y = a;
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += x[i + k] * y[i + k];
    float sum = fold8(acc);
    for (; i < n; i++) sum += x[i] * y[i];
    return sum;
}

static void f16_to_float(const void *src, float *dst, int64_t n) {
    const uint16_t *h = src;
    for (int64_t i = 0; i < n; i++) dst[i] = kumo_half_to_float(h[i]);
}

static void f16_from_float(const float *src, void *dst, int64_t n) {
    uint16_t *h = dst;
    for (int64_t i = 0; i < n; i++) h[i] = kumo_float_to_half(src[i]);
}

static float f16_dot(int64_t n, const void *w, const void *a) {
    const uint16_t *x = w, *y = a;
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            acc[k] += kumo_half_to_float(x[i + k]) * kumo_half_to_float(y[i + k]);
    float sum = fold8(acc);
    for (; i < n; i++) sum += kumo_half_to_float(x[i]) * kumo_half_to_float(y[i]);
    return sum;
}

static void bf16_to_float(const void *src, float *dst, int64_t n) {
    const uint16_t *h = src;
    for (int64_t i = 0; i < n; i++) dst[i] = kumo_brain_to_float(h[i]);
}

static void bf16_from_float(const float *src, void *dst, int64_t n) {
    uint16_t *h = dst;
    for (int64_t i = 0; i < n; i++) h[i] = kumo_float_to_brain(src[i]);
}

static float bf16_dot(int64_t n, const void *w, const void *a) {
    const uint16_t *x = w, *y = a;
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            acc[k] += kumo_brain_to_float(x[i + k]) * kumo_brain_to_float(y[i + k]);
    float sum = fold8(acc);
    for (; i < n; i++) sum += kumo_brain_to_float(x[i]) * kumo_brain_to_float(y[i]);
    return sum;
}

/* ======================= 32-element blocks ======================= */

/* Element j of a 32-block is the low nibble of qs[j] for j < 16 and the high nibble of qs[j-16]
 * otherwise; the 5-bit types add bit j of the little-endian 32-bit qh as bit 4. */
static void unpack_nibbles32(const uint8_t qs[16], uint8_t q[32]) {
    for (int j = 0; j < 16; j++) {
        q[j] = qs[j] & 0xF;
        q[j + 16] = qs[j] >> 4;
    }
}

static void unpack_fives32(const uint8_t qs[16], const uint8_t qh4[4], uint8_t q[32]) {
    const uint32_t qh = kumo_load_u32le(qh4);
    unpack_nibbles32(qs, q);
    for (int j = 0; j < 32; j++) q[j] |= (uint8_t)(((qh >> j) & 1u) << 4);
}

static int32_t dot32_u8_i8(const uint8_t q[32], const int8_t y[32]) {
    int32_t s = 0;
    for (int j = 0; j < 32; j++) s += q[j] * y[j];
    return s;
}

static int32_t sum32_i8(const int8_t y[32]) {
    int32_t s = 0;
    for (int j = 0; j < 32; j++) s += y[j];
    return s;
}

/* --- Q4_0: x = (q - 8) * d --- */
static void q4_0_to_float(const void *src, float *dst, int64_t n) {
    const block_q4_0 *b = src;
    for (int64_t i = 0; i < n / QK4_0; i++, dst += QK4_0) {
        const float d = kumo_half_to_float(b[i].d);
        uint8_t q[32];
        unpack_nibbles32(b[i].qs, q);
        for (int j = 0; j < 32; j++) dst[j] = (float)(q[j] - 8) * d;
    }
}

/* (q - 8)·y = q·y - 8·Σy keeps the integer math in one place. */
static float q4_0_dot(int64_t n, const void *w, const void *a) {
    const block_q4_0 *x = w;
    const block_q8_0 *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        uint8_t q[32];
        unpack_nibbles32(x[i].qs, q);
        const int32_t isum = dot32_u8_i8(q, y[i].qs) - 8 * sum32_i8(y[i].qs);
        sum += kumo_half_to_float(x[i].d) * kumo_half_to_float(y[i].d) * (float)isum;
    }
    return sum;
}

/* The reference engine pairs Q4_1/Q5_1 with Q8_1, whose extra field s = d·Σq is stored as fp16.
 * kumo takes Q8_0 activations and rebuilds that term from the quants, rounding it to fp16 too so
 * the min term matches the reference's to within its own rounding. */
static float q8_block_sum_term(const block_q8_0 *y) {
    return kumo_half_to_float(kumo_float_to_half(kumo_half_to_float(y->d) * (float)sum32_i8(y->qs)));
}

/* --- Q4_1: x = q * d + m --- */
static void q4_1_to_float(const void *src, float *dst, int64_t n) {
    const block_q4_1 *b = src;
    for (int64_t i = 0; i < n / QK4_1; i++, dst += QK4_1) {
        const float d = kumo_half_to_float(b[i].d), m = kumo_half_to_float(b[i].m);
        uint8_t q[32];
        unpack_nibbles32(b[i].qs, q);
        for (int j = 0; j < 32; j++) dst[j] = (float)q[j] * d + m;
    }
}

static float q4_1_dot(int64_t n, const void *w, const void *a) {
    const block_q4_1 *x = w;
    const block_q8_0 *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / QK4_1; i++) {
        uint8_t q[32];
        unpack_nibbles32(x[i].qs, q);
        const int32_t isum = dot32_u8_i8(q, y[i].qs);
        sum += kumo_half_to_float(x[i].d) * kumo_half_to_float(y[i].d) * (float)isum +
               kumo_half_to_float(x[i].m) * q8_block_sum_term(&y[i]);
    }
    return sum;
}

/* --- Q5_0: x = (q - 16) * d --- */
static void q5_0_to_float(const void *src, float *dst, int64_t n) {
    const block_q5_0 *b = src;
    for (int64_t i = 0; i < n / QK5_0; i++, dst += QK5_0) {
        const float d = kumo_half_to_float(b[i].d);
        uint8_t q[32];
        unpack_fives32(b[i].qs, b[i].qh, q);
        for (int j = 0; j < 32; j++) dst[j] = (float)(q[j] - 16) * d;
    }
}

static float q5_0_dot(int64_t n, const void *w, const void *a) {
    const block_q5_0 *x = w;
    const block_q8_0 *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / QK5_0; i++) {
        uint8_t q[32];
        unpack_fives32(x[i].qs, x[i].qh, q);
        const int32_t isum = dot32_u8_i8(q, y[i].qs) - 16 * sum32_i8(y[i].qs);
        sum += kumo_half_to_float(x[i].d) * kumo_half_to_float(y[i].d) * (float)isum;
    }
    return sum;
}

/* --- Q5_1: x = q * d + m --- */
static void q5_1_to_float(const void *src, float *dst, int64_t n) {
    const block_q5_1 *b = src;
    for (int64_t i = 0; i < n / QK5_1; i++, dst += QK5_1) {
        const float d = kumo_half_to_float(b[i].d), m = kumo_half_to_float(b[i].m);
        uint8_t q[32];
        unpack_fives32(b[i].qs, b[i].qh, q);
        for (int j = 0; j < 32; j++) dst[j] = (float)q[j] * d + m;
    }
}

static float q5_1_dot(int64_t n, const void *w, const void *a) {
    const block_q5_1 *x = w;
    const block_q8_0 *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / QK5_1; i++) {
        uint8_t q[32];
        unpack_fives32(x[i].qs, x[i].qh, q);
        const int32_t isum = dot32_u8_i8(q, y[i].qs);
        sum += kumo_half_to_float(x[i].d) * kumo_half_to_float(y[i].d) * (float)isum +
               kumo_half_to_float(x[i].m) * q8_block_sum_term(&y[i]);
    }
    return sum;
}

/* --- Q8_0: x = q * d --- */
static void q8_0_to_float(const void *src, float *dst, int64_t n) {
    const block_q8_0 *b = src;
    for (int64_t i = 0; i < n / QK8_0; i++, dst += QK8_0) {
        const float d = kumo_half_to_float(b[i].d);
        for (int j = 0; j < 32; j++) dst[j] = (float)b[i].qs[j] * d;
    }
}

/* Activation quantizer as the reference engine runs it on x86: d = amax/127 stored as fp16, the
 * values multiplied by 127/amax and rounded to nearest even. */
static void q8_0_from_float(const float *src, void *dst, int64_t n) {
    block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / QK8_0; i++, src += QK8_0) {
        float amax = 0;
        for (int j = 0; j < 32; j++) {
            const float ax = fabsf(src[j]);
            if (ax > amax) amax = ax;
        }
        b[i].d = kumo_float_to_half(amax / 127.0f);
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        for (int j = 0; j < 32; j++) {
            int v = kumo_nearest_int(src[j] * id);
            b[i].qs[j] = (int8_t)(v > 127 ? 127 : v < -128 ? -128 : v);
        }
    }
}

static float q8_0_dot(int64_t n, const void *w, const void *a) {
    const block_q8_0 *x = w;
    const block_q8_0 *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        int32_t isum = 0;
        for (int j = 0; j < 32; j++) isum += x[i].qs[j] * y[i].qs[j];
        sum += kumo_half_to_float(x[i].d) * kumo_half_to_float(y[i].d) * (float)isum;
    }
    return sum;
}

/* ======================= K-quants (256-element super-blocks) ======================= */

/* --- Q8_K: activation format, x = q * d (float d), bsums = sums of each 16 quants --- */
static void q8_K_to_float(const void *src, float *dst, int64_t n) {
    const block_q8_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K)
        for (int j = 0; j < QK_K; j++) dst[j] = (float)b[i].qs[j] * b[i].d;
}

/* As the reference: the scale comes from the value of largest magnitude (the first one found), with
 * its sign, so that value maps to -127 exactly. */
static void q8_K_from_float(const float *src, void *dst, int64_t n) {
    block_q8_K *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K) {
        float amax = 0, max = 0;
        for (int j = 0; j < QK_K; j++) {
            const float ax = fabsf(src[j]);
            if (ax > amax) {
                amax = ax;
                max = src[j];
            }
        }
        if (amax == 0.0f) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < QK_K; j++) {
            const int v = kumo_nearest_int(iscale * src[j]);
            b[i].qs[j] = (int8_t)(v > 127 ? 127 : v < -128 ? -128 : v);
        }
        for (int g = 0; g < QK_K / 16; g++) {
            int s = 0;
            for (int j = 0; j < 16; j++) s += b[i].qs[16 * g + j];
            b[i].bsums[g] = (int16_t)s;
        }
        b[i].d = 1.0f / iscale;
    }
}

/* --- Q2_K: x = d * sc_j * q - dmin * m_j, q in 0..3, 16 sub-blocks of 16.
 * Each 128-element half uses 32 bytes of qs: element 32*s + l of the half (s = 0..3, l < 32) is
 * bits 2s..2s+1 of byte l. scales[j]: low nibble = scale, high nibble = min of sub-block j. */
static void q2_K_unpack(const block_q2_K *b, uint8_t q[QK_K]) {
    for (int h = 0; h < 2; h++)
        for (int s = 0; s < 4; s++)
            for (int l = 0; l < 32; l++) q[128 * h + 32 * s + l] = (b->qs[32 * h + l] >> (2 * s)) & 3;
}

static void q2_K_to_float(const void *src, float *dst, int64_t n) {
    const block_q2_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K) {
        const float d = kumo_half_to_float(b[i].d), dmin = kumo_half_to_float(b[i].dmin);
        uint8_t q[QK_K];
        q2_K_unpack(&b[i], q);
        for (int j = 0; j < 16; j++) {
            const float dl = d * (float)(b[i].scales[j] & 0xF);
            const float ml = dmin * (float)(b[i].scales[j] >> 4);
            for (int l = 0; l < 16; l++) dst[16 * j + l] = dl * (float)q[16 * j + l] - ml;
        }
    }
}

static float q2_K_dot(int64_t n, const void *w, const void *a) {
    const block_q2_K *x = w;
    const block_q8_K *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint8_t q[QK_K];
        q2_K_unpack(&x[i], q);
        int32_t isum = 0, isum_min = 0;
        for (int j = 0; j < 16; j++) {
            int32_t s = 0;
            for (int l = 0; l < 16; l++) s += q[16 * j + l] * y[i].qs[16 * j + l];
            isum += (x[i].scales[j] & 0xF) * s;
            isum_min += (x[i].scales[j] >> 4) * y[i].bsums[j];
        }
        const float d = y[i].d * kumo_half_to_float(x[i].d);
        const float dmin = y[i].d * kumo_half_to_float(x[i].dmin);
        sum += d * (float)isum - dmin * (float)isum_min;
    }
    return sum;
}

/* --- Q3_K: x = d * sc_j * q, q = (2 low bits) - (high bit ? 0 : 4) in -4..3, 16 sub-blocks of 16.
 * Low bits are laid out like Q2_K; the high bit of element 32*t + l (t = 0..7 over the whole
 * block) is bit t of hmask[l]. */
static void q3_K_unpack(const block_q3_K *b, int8_t q[QK_K]) {
    for (int h = 0; h < 2; h++)
        for (int s = 0; s < 4; s++)
            for (int l = 0; l < 32; l++) {
                const int t = 4 * h + s;
                const int lo = (b->qs[32 * h + l] >> (2 * s)) & 3;
                const int hi = (b->hmask[l] >> t) & 1;
                q[32 * t + l] = (int8_t)(lo - (hi ? 0 : 4));
            }
}

static void q3_K_to_float(const void *src, float *dst, int64_t n) {
    const block_q3_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K) {
        const float d = kumo_half_to_float(b[i].d);
        int8_t q[QK_K], sc[16];
        q3_K_unpack(&b[i], q);
        kumo_q3k_scales(b[i].scales, sc);
        for (int j = 0; j < 16; j++) {
            const float dl = d * (float)sc[j];
            for (int l = 0; l < 16; l++) dst[16 * j + l] = dl * (float)q[16 * j + l];
        }
    }
}

static float q3_K_dot(int64_t n, const void *w, const void *a) {
    const block_q3_K *x = w;
    const block_q8_K *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int8_t q[QK_K], sc[16];
        q3_K_unpack(&x[i], q);
        kumo_q3k_scales(x[i].scales, sc);
        int32_t isum = 0;
        for (int j = 0; j < 16; j++) {
            int32_t s = 0;
            for (int l = 0; l < 16; l++) s += q[16 * j + l] * y[i].qs[16 * j + l];
            isum += sc[j] * s;
        }
        sum += y[i].d * kumo_half_to_float(x[i].d) * (float)isum;
    }
    return sum;
}

/* --- Q4_K: x = d * sc_j * q - dmin * m_j, q in 0..15, 8 sub-blocks of 32.
 * Each 64 elements use 32 bytes of qs: low nibbles are the first 32, high nibbles the next 32. */
static void q4_K_unpack(const block_q4_K *b, uint8_t q[QK_K]) {
    for (int k = 0; k < 4; k++)
        for (int l = 0; l < 32; l++) {
            q[64 * k + l] = b->qs[32 * k + l] & 0xF;
            q[64 * k + 32 + l] = b->qs[32 * k + l] >> 4;
        }
}

static void q4_K_to_float(const void *src, float *dst, int64_t n) {
    const block_q4_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K) {
        const float d = kumo_half_to_float(b[i].d), dmin = kumo_half_to_float(b[i].dmin);
        uint8_t q[QK_K], sc[8], mn[8];
        q4_K_unpack(&b[i], q);
        kumo_k4_scales(b[i].scales, sc, mn);
        for (int j = 0; j < 8; j++) {
            const float dl = d * (float)sc[j], ml = dmin * (float)mn[j];
            for (int l = 0; l < 32; l++) dst[32 * j + l] = dl * (float)q[32 * j + l] - ml;
        }
    }
}

/* Shared by Q4_K and Q5_K: sub-block integer sums, mins applied through the activation's bsums. */
static float k4_dot_block(const uint8_t q[QK_K], const uint8_t sc[8], const uint8_t mn[8],
                          uint16_t d16, uint16_t dmin16, const block_q8_K *y) {
    int32_t isum = 0, isum_min = 0;
    for (int j = 0; j < 8; j++) {
        int32_t s = 0;
        for (int l = 0; l < 32; l++) s += q[32 * j + l] * y->qs[32 * j + l];
        isum += sc[j] * s;
        isum_min += mn[j] * (y->bsums[2 * j] + y->bsums[2 * j + 1]);
    }
    const float d = y->d * kumo_half_to_float(d16);
    const float dmin = y->d * kumo_half_to_float(dmin16);
    return d * (float)isum - dmin * (float)isum_min;
}

static float q4_K_dot(int64_t n, const void *w, const void *a) {
    const block_q4_K *x = w;
    const block_q8_K *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint8_t q[QK_K], sc[8], mn[8];
        q4_K_unpack(&x[i], q);
        kumo_k4_scales(x[i].scales, sc, mn);
        sum += k4_dot_block(q, sc, mn, x[i].d, x[i].dmin, &y[i]);
    }
    return sum;
}

/* --- Q5_K: Q4_K plus a fifth bit: for the k-th group of 64 elements, bit 2k of qh[l] is the high
 * bit of element 64k + l, bit 2k+1 that of element 64k + 32 + l. */
static void q5_K_unpack(const block_q5_K *b, uint8_t q[QK_K]) {
    for (int k = 0; k < 4; k++)
        for (int l = 0; l < 32; l++) {
            q[64 * k + l] = (uint8_t)((b->qs[32 * k + l] & 0xF) | (((b->qh[l] >> (2 * k)) & 1) << 4));
            q[64 * k + 32 + l] =
                (uint8_t)((b->qs[32 * k + l] >> 4) | (((b->qh[l] >> (2 * k + 1)) & 1) << 4));
        }
}

static void q5_K_to_float(const void *src, float *dst, int64_t n) {
    const block_q5_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K) {
        const float d = kumo_half_to_float(b[i].d), dmin = kumo_half_to_float(b[i].dmin);
        uint8_t q[QK_K], sc[8], mn[8];
        q5_K_unpack(&b[i], q);
        kumo_k4_scales(b[i].scales, sc, mn);
        for (int j = 0; j < 8; j++) {
            const float dl = d * (float)sc[j], ml = dmin * (float)mn[j];
            for (int l = 0; l < 32; l++) dst[32 * j + l] = dl * (float)q[32 * j + l] - ml;
        }
    }
}

static float q5_K_dot(int64_t n, const void *w, const void *a) {
    const block_q5_K *x = w;
    const block_q8_K *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint8_t q[QK_K], sc[8], mn[8];
        q5_K_unpack(&x[i], q);
        kumo_k4_scales(x[i].scales, sc, mn);
        sum += k4_dot_block(q, sc, mn, x[i].d, x[i].dmin, &y[i]);
    }
    return sum;
}

/* --- Q6_K: x = d * sc_j * (q - 32), q in 0..63, 16 sub-blocks of 16 with int8 scales.
 * Each 128-element half uses 64 bytes of ql and 32 of qh: element 32*t + l of the half (t = 0..3,
 * l < 32) takes its low nibble from ql[l + 32*(t&1)] (low half for t < 2, high half otherwise) and
 * its top 2 bits from bits 2t..2t+1 of qh[l]. */
static void q6_K_unpack(const block_q6_K *b, int8_t q[QK_K]) {
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
        for (int t = 0; t < 4; t++)
            for (int l = 0; l < 32; l++) {
                const int lo = (ql[l + 32 * (t & 1)] >> (4 * (t >> 1))) & 0xF;
                const int hi = (qh[l] >> (2 * t)) & 3;
                q[128 * h + 32 * t + l] = (int8_t)((lo | (hi << 4)) - 32);
            }
    }
}

static void q6_K_to_float(const void *src, float *dst, int64_t n) {
    const block_q6_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K) {
        const float d = kumo_half_to_float(b[i].d);
        int8_t q[QK_K];
        q6_K_unpack(&b[i], q);
        for (int j = 0; j < 16; j++) {
            const float dl = d * (float)b[i].scales[j];
            for (int l = 0; l < 16; l++) dst[16 * j + l] = dl * (float)q[16 * j + l];
        }
    }
}

static float q6_K_dot(int64_t n, const void *w, const void *a) {
    const block_q6_K *x = w;
    const block_q8_K *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int8_t q[QK_K];
        q6_K_unpack(&x[i], q);
        int32_t isum = 0;
        for (int j = 0; j < 16; j++) {
            int32_t s = 0;
            for (int l = 0; l < 16; l++) s += q[16 * j + l] * y[i].qs[16 * j + l];
            isum += x[i].scales[j] * s;
        }
        sum += y[i].d * kumo_half_to_float(x[i].d) * (float)isum;
    }
    return sum;
}

/* ======================= table ======================= */

#define TRAITS(T, NAME, BS, BLOCK, VDT, TOF, FROMF, DOT)                                         \
    [T] = {.type = T, .name = NAME, .block_size = BS, .block_bytes = BLOCK, .vec_dot_type = VDT,  \
           .to_float = TOF, .from_float = FROMF, .vec_dot = DOT}

const kumo_type_traits kumo_quant_ref_table[GGML_TYPE_COUNT] = {
    TRAITS(GGML_TYPE_F32, "f32", 1, 4, GGML_TYPE_F32, f32_to_float, f32_from_float, f32_dot),
    TRAITS(GGML_TYPE_F16, "f16", 1, 2, GGML_TYPE_F16, f16_to_float, f16_from_float, f16_dot),
    TRAITS(GGML_TYPE_BF16, "bf16", 1, 2, GGML_TYPE_BF16, bf16_to_float, bf16_from_float, bf16_dot),
    TRAITS(GGML_TYPE_Q4_0, "q4_0", QK4_0, sizeof(block_q4_0), GGML_TYPE_Q8_0, q4_0_to_float, NULL,
           q4_0_dot),
    TRAITS(GGML_TYPE_Q4_1, "q4_1", QK4_1, sizeof(block_q4_1), GGML_TYPE_Q8_0, q4_1_to_float, NULL,
           q4_1_dot),
    TRAITS(GGML_TYPE_Q5_0, "q5_0", QK5_0, sizeof(block_q5_0), GGML_TYPE_Q8_0, q5_0_to_float, NULL,
           q5_0_dot),
    TRAITS(GGML_TYPE_Q5_1, "q5_1", QK5_1, sizeof(block_q5_1), GGML_TYPE_Q8_0, q5_1_to_float, NULL,
           q5_1_dot),
    TRAITS(GGML_TYPE_Q8_0, "q8_0", QK8_0, sizeof(block_q8_0), GGML_TYPE_Q8_0, q8_0_to_float,
           q8_0_from_float, q8_0_dot),
    TRAITS(GGML_TYPE_Q2_K, "q2_K", QK_K, sizeof(block_q2_K), GGML_TYPE_Q8_K, q2_K_to_float, NULL,
           q2_K_dot),
    TRAITS(GGML_TYPE_Q3_K, "q3_K", QK_K, sizeof(block_q3_K), GGML_TYPE_Q8_K, q3_K_to_float, NULL,
           q3_K_dot),
    TRAITS(GGML_TYPE_Q4_K, "q4_K", QK_K, sizeof(block_q4_K), GGML_TYPE_Q8_K, q4_K_to_float, NULL,
           q4_K_dot),
    TRAITS(GGML_TYPE_Q5_K, "q5_K", QK_K, sizeof(block_q5_K), GGML_TYPE_Q8_K, q5_K_to_float, NULL,
           q5_K_dot),
    TRAITS(GGML_TYPE_Q6_K, "q6_K", QK_K, sizeof(block_q6_K), GGML_TYPE_Q8_K, q6_K_to_float, NULL,
           q6_K_dot),
    TRAITS(GGML_TYPE_Q8_K, "q8_K", QK_K, sizeof(block_q8_K), GGML_TYPE_Q8_K, q8_K_to_float,
           q8_K_from_float, NULL),
};
