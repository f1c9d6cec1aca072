/* Weight quantizers (see quantize.h). The searches follow the reference engine's choices step by
 * step — same candidate scales, same weights, same float operations in the same order — so that a
 * kumo-quantized tensor matches llama-quantize's (without importance matrix) up to the rounding of
 * fused multiply-adds. */
#include "tensor/quantize.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "tensor/quant_impl.h"

/* Blocks whose largest magnitude is below this are stored as zeros. */
#define GROUP_MAX_EPS 1e-15f

/* Round to nearest even and clamp to [lo, hi]. Values far outside the range (possible only with
 * degenerate scales) and nans are clamped before rounding, so the result is always in range. */
static int round_clamp(float v, int lo, int hi) {
    if (!(v >= (float)lo)) return lo; /* also nan */
    if (v > (float)hi) return hi;
    return kumo_nearest_int(v);
}

/* ======================= scale searches ======================= */

/* Symmetric scale for values l in [-nmax, nmax-1] (stored +nmax in L), minimizing the x²-weighted
 * squared error: start from the scale that maps the largest-magnitude value to -nmax, then try 18
 * nearby scales and keep the best least-squares fit. Returns the scale (may be negative). */
static float fit_symmetric_scale(int n, int nmax, const float *x, int8_t *L) {
    float amax = 0, max = 0;
    for (int i = 0; i < n; i++) {
        const float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0;
    }
    float iscale = (float)-nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        const int l = round_clamp(iscale * x[i], -nmax, nmax - 1);
        L[i] = (int8_t)(l + nmax);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)l * (float)l;
    }
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -((float)nmax + 0.1f * (float)is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            const int l = round_clamp(iscale * x[i], -nmax, nmax - 1);
            const float w = x[i] * x[i];
            sumlx += w * x[i] * (float)l;
            suml2 += w * (float)l * (float)l;
        }
        /* sumlx²/suml2 is the error reduction of the least-squares scale sumlx/suml2 */
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) L[i] = (int8_t)(nmax + round_clamp(iscale * x[i], -nmax, nmax - 1));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Symmetric scale for l in [-nmax, nmax-1] (stored +nmax in L): round with the max-magnitude
 * scale, then up to 5 passes of coordinate descent, moving single values to the level that most
 * improves the x²-weighted least-squares fit. Returns the fitted scale. */
static float fit_symmetric_scale_refined(int n, int nmax, const float *x, int8_t *L) {
    float amax = 0, max = 0;
    for (int i = 0; i < n; i++) {
        const float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0;
    }
    const float iscale = (float)-nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        const int l = round_clamp(iscale * x[i], -nmax, nmax - 1);
        L[i] = (int8_t)l;
        const float w = x[i] * x[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)l * (float)l;
    }
    for (int pass = 0; pass < 5; pass++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * (float)L[i];
            if (slx > 0) {
                float sl2 = suml2 - w * (float)L[i] * (float)L[i];
                /* best level for x[i] given the scale fitted to all the others */
                const int new_l = round_clamp(x[i] * sl2 / slx, -nmax, nmax - 1);
                if (new_l != L[i]) {
                    slx += w * x[i] * (float)new_l;
                    sl2 += w * (float)new_l * (float)new_l;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        changed++;
                    }
                }
            }
        }
        if (!changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* Affine fit x ≈ scale·l - the_min with l in [0, nmax], min clamped to <= 0 (so the_min >= 0):
 * start from the min/max range, then try nstep+1 candidate scales (nmax + rmin + rdelta·k over the
 * range); for each, solve the weighted least-squares scale and offset for the rounded levels and
 * keep the one with the least weighted error (absolute error if use_mad, else squared). */
static float fit_scale_and_min(int n, int nmax, const float *x, const float *weights, uint8_t *L,
                               float *the_min, float rmin, float rdelta, int nstep, bool use_mad) {
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        const float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (!(max > min)) { /* constant block (or nans) */
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0;
    }
    float iscale = (float)nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)round_clamp(iscale * (x[i] - min), 0, nmax);
        float diff = scale * (float)L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best_error += weights[i] * diff;
    }
    uint8_t Laux[32];
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * (float)is + (float)nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            const int l = round_clamp(iscale * (x[i] - min), 0, nmax);
            Laux[i] = (uint8_t)l;
            const float w = weights[i];
            sum_l += w * (float)l;
            sum_l2 += w * (float)l * (float)l;
            sum_xl += w * (float)l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * (float)Laux[i] + this_min - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                cur_error += weights[i] * diff;
            }
            if (cur_error < best_error) {
                memcpy(L, Laux, (size_t)n);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* ======================= 32-element blocks ======================= */

void quantize_row_q8_0(const float *src, void *dst, int64_t n) {
    block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / QK8_0; i++, src += QK8_0) {
        float amax = 0;
        for (int j = 0; j < QK8_0; j++) amax = fmaxf(amax, fabsf(src[j]));
        const float d = amax / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = kumo_float_to_half(d);
        for (int j = 0; j < QK8_0; j++) {
            /* the reference rounds weights half away from zero (activations: to even) */
            const float v = roundf(src[j] * id);
            b[i].qs[j] = (int8_t)(v >= 127 ? 127 : v <= -127 ? -127 : v == v ? v : 0);
        }
    }
}

/* The block's value of largest magnitude, with its sign (the first one if several). */
static float signed_absmax(const float *x, int n) {
    float amax = 0, max = 0;
    for (int j = 0; j < n; j++)
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    return max;
}

/* Truncating conversion the reference uses for the legacy types (x·id + offset, offset holding the
 * rounding half), made total for out-of-range or nan values. */
static int trunc_clamp(float v, int hi) {
    if (!(v >= 0)) return 0;
    if (v >= (float)hi) return hi;
    return (int)v;
}

static void pack_nibbles(uint8_t qs[16], const uint8_t q[32]) {
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((q[j] & 0xF) | ((q[j + 16] & 0xF) << 4));
}

static void pack_fifth_bits(uint8_t qh[4], const uint8_t q[32]) {
    uint32_t h = 0;
    for (int j = 0; j < 32; j++) h |= (uint32_t)(q[j] >> 4) << j;
    for (int k = 0; k < 4; k++) qh[k] = (uint8_t)(h >> (8 * k));
}

/* Q4_0/Q5_0: d = max / -(levels/2), so the largest-magnitude value maps to level 0 exactly. */
void quantize_row_q4_0(const float *src, void *dst, int64_t n) {
    block_q4_0 *b = dst;
    for (int64_t i = 0; i < n / QK4_0; i++, src += QK4_0) {
        const float d = signed_absmax(src, QK4_0) / -8;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = kumo_float_to_half(d);
        uint8_t q[32];
        for (int j = 0; j < 32; j++) q[j] = (uint8_t)trunc_clamp(src[j] * id + 8.5f, 15);
        pack_nibbles(b[i].qs, q);
    }
}

void quantize_row_q5_0(const float *src, void *dst, int64_t n) {
    block_q5_0 *b = dst;
    for (int64_t i = 0; i < n / QK5_0; i++, src += QK5_0) {
        const float d = signed_absmax(src, QK5_0) / -16;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = kumo_float_to_half(d);
        uint8_t q[32];
        for (int j = 0; j < 32; j++) q[j] = (uint8_t)trunc_clamp(src[j] * id + 16.5f, 31);
        pack_nibbles(b[i].qs, q);
        pack_fifth_bits(b[i].qh, q);
    }
}

/* Q4_1/Q5_1: the block's range [min, max] split into 15 / 31 steps. */
static void min_max(const float *x, int n, float *mn, float *mx) {
    float lo = FLT_MAX, hi = -FLT_MAX;
    for (int j = 0; j < n; j++) {
        if (x[j] < lo) lo = x[j];
        if (x[j] > hi) hi = x[j];
    }
    *mn = lo;
    *mx = hi;
}

void quantize_row_q4_1(const float *src, void *dst, int64_t n) {
    block_q4_1 *b = dst;
    for (int64_t i = 0; i < n / QK4_1; i++, src += QK4_1) {
        float min, max;
        min_max(src, QK4_1, &min, &max);
        const float d = (max - min) / 15;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = kumo_float_to_half(d);
        b[i].m = kumo_float_to_half(min);
        uint8_t q[32];
        for (int j = 0; j < 32; j++) q[j] = (uint8_t)trunc_clamp((src[j] - min) * id + 0.5f, 15);
        pack_nibbles(b[i].qs, q);
    }
}

void quantize_row_q5_1(const float *src, void *dst, int64_t n) {
    block_q5_1 *b = dst;
    for (int64_t i = 0; i < n / QK5_1; i++, src += QK5_1) {
        float min, max;
        min_max(src, QK5_1, &min, &max);
        const float d = (max - min) / 31;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = kumo_float_to_half(d);
        b[i].m = kumo_float_to_half(min);
        uint8_t q[32];
        for (int j = 0; j < 32; j++) q[j] = (uint8_t)trunc_clamp((src[j] - min) * id + 0.5f, 31);
        pack_nibbles(b[i].qs, q);
        pack_fifth_bits(b[i].qh, q);
    }
}

/* ======================= K-quants ======================= */

/* 2-bit fields of Q2_K/Q3_K: element 128h + 32s + l goes to bits 2s of qs[32h + l]. */
static void pack_crumbs(uint8_t qs[QK_K / 4], const uint8_t L[QK_K]) {
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l++) {
            const uint8_t *g = L + 128 * h + l;
            qs[32 * h + l] = (uint8_t)(g[0] | (g[32] << 2) | (g[64] << 4) | (g[96] << 6));
        }
}

void quantize_row_q2_K(const float *src, void *dst, int64_t n) {
    block_q2_K *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K) {
        uint8_t L[QK_K];
        float weights[16], scales[16], mins[16];
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < 16; j++) {
            for (int l = 0; l < 16; l++) weights[l] = fabsf(src[16 * j + l]);
            scales[j] = fit_scale_and_min(16, 3, src + 16 * j, weights, L + 16 * j, &mins[j], -0.5f, 0.1f,
                                          15, true);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        /* sub-block scales and mins as 4-bit multiples of d and dmin */
        memset(b[i].scales, 0, sizeof b[i].scales);
        b[i].d = kumo_float_to_half(max_scale > 0 ? max_scale / 15 : 0.0f);
        b[i].dmin = kumo_float_to_half(max_min > 0 ? max_min / 15 : 0.0f);
        if (max_scale > 0) {
            const float iscale = 15 / max_scale;
            for (int j = 0; j < 16; j++) b[i].scales[j] = (uint8_t)round_clamp(iscale * scales[j], 0, 15);
        }
        if (max_min > 0) {
            const float iscale = 15 / max_min;
            for (int j = 0; j < 16; j++)
                b[i].scales[j] |= (uint8_t)(round_clamp(iscale * mins[j], 0, 15) << 4);
        }
        /* re-round every value against the scales actually stored */
        const float d_all = kumo_half_to_float(b[i].d), dmin_all = kumo_half_to_float(b[i].dmin);
        for (int j = 0; j < 16; j++) {
            const float d = d_all * (float)(b[i].scales[j] & 0xF);
            if (d == 0.0f) continue;
            const float dm = dmin_all * (float)(b[i].scales[j] >> 4);
            for (int l = 0; l < 16; l++) L[16 * j + l] = (uint8_t)round_clamp((src[16 * j + l] + dm) / d, 0, 3);
        }
        pack_crumbs(b[i].qs, L);
    }
}

void quantize_row_q3_K(const float *src, void *dst, int64_t n) {
    block_q3_K *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K) {
        int8_t L[QK_K];
        float scales[16];
        float max_scale = 0, amax = 0;
        for (int j = 0; j < 16; j++) {
            scales[j] = fit_symmetric_scale_refined(16, 4, src + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > amax) {
                amax = fabsf(scales[j]);
                max_scale = scales[j];
            }
        }
        /* 6-bit signed sub-block scales: the largest maps to -32 */
        memset(b[i].scales, 0, sizeof b[i].scales);
        if (max_scale != 0.0f) {
            const float iscale = -32 / max_scale;
            for (int j = 0; j < 16; j++) {
                const int l = round_clamp(iscale * scales[j], -32, 31) + 32;
                if (j < 8) b[i].scales[j] = (uint8_t)(l & 0xF);
                else b[i].scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
                b[i].scales[8 + j % 4] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
            }
            b[i].d = kumo_float_to_half(1 / iscale);
        } else {
            b[i].d = kumo_float_to_half(0.0f);
        }
        int8_t sc[16];
        kumo_q3k_scales(b[i].scales, sc);
        const float d_all = kumo_half_to_float(b[i].d);
        for (int j = 0; j < 16; j++) {
            const float d = d_all * (float)sc[j];
            if (d == 0.0f) continue;
            for (int l = 0; l < 16; l++) L[16 * j + l] = (int8_t)(round_clamp(src[16 * j + l] / d, -4, 3) + 4);
        }
        /* level 0..7: bit 2 to hmask (bit t of hmask[l] for element 32t + l), low bits to qs */
        memset(b[i].hmask, 0, sizeof b[i].hmask);
        uint8_t low[QK_K];
        for (int e = 0; e < QK_K; e++) {
            if (L[e] > 3) b[i].hmask[e % 32] |= (uint8_t)(1u << (e / 32));
            low[e] = (uint8_t)(L[e] & 3);
        }
        pack_crumbs(b[i].qs, low);
    }
}

/* Q4_K/Q5_K: eight 32-element sub-blocks, each fitted with fit_scale_and_min under weights
 * rms(sub-block) + |x|, then scales and mins quantized to 6 bits against the largest of each. */
static void k4_quantize_block(const float *x, int nmax, float rmin, float rdelta, int nstep,
                              uint8_t packed_scales[12], uint16_t *d16, uint16_t *dmin16, uint8_t L[QK_K]) {
    float weights[32], scales[8], mins[8];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += x[32 * j + l] * x[32 * j + l];
        const float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) weights[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = fit_scale_and_min(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], rmin, rdelta,
                                      nstep, false);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63 / max_scale : 0.0f;
    const float inv_min = max_min > 0 ? 63 / max_min : 0.0f;
    uint8_t ls[8], lm[8];
    for (int j = 0; j < 8; j++) {
        ls[j] = (uint8_t)round_clamp(inv_scale * scales[j], 0, 63);
        lm[j] = (uint8_t)round_clamp(inv_min * mins[j], 0, 63);
    }
    /* layout: see kumo_k4_scales */
    for (int j = 0; j < 4; j++) {
        packed_scales[j] = (uint8_t)(ls[j] | ((ls[j + 4] >> 4) << 6));
        packed_scales[j + 4] = (uint8_t)(lm[j] | ((lm[j + 4] >> 4) << 6));
        packed_scales[j + 8] = (uint8_t)((ls[j + 4] & 0xF) | ((lm[j + 4] & 0xF) << 4));
    }
    *d16 = kumo_float_to_half(max_scale / 63);
    *dmin16 = kumo_float_to_half(max_min / 63);
    /* re-round every value against the scales actually stored */
    const float d_all = kumo_half_to_float(*d16), dmin_all = kumo_half_to_float(*dmin16);
    for (int j = 0; j < 8; j++) {
        const float d = d_all * (float)ls[j];
        if (d == 0.0f) continue;
        const float dm = dmin_all * (float)lm[j];
        for (int l = 0; l < 32; l++) L[32 * j + l] = (uint8_t)round_clamp((x[32 * j + l] + dm) / d, 0, nmax);
    }
}

void quantize_row_q4_K(const float *src, void *dst, int64_t n) {
    block_q4_K *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K) {
        uint8_t L[QK_K];
        k4_quantize_block(src, 15, -1.0f, 0.1f, 20, b[i].scales, &b[i].d, &b[i].dmin, L);
        for (int k = 0; k < 4; k++)
            for (int l = 0; l < 32; l++)
                b[i].qs[32 * k + l] = (uint8_t)(L[64 * k + l] | (L[64 * k + 32 + l] << 4));
    }
}

void quantize_row_q5_K(const float *src, void *dst, int64_t n) {
    block_q5_K *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K) {
        uint8_t L[QK_K];
        k4_quantize_block(src, 31, -0.5f, 0.1f, 15, b[i].scales, &b[i].d, &b[i].dmin, L);
        memset(b[i].qh, 0, sizeof b[i].qh);
        for (int k = 0; k < 4; k++)
            for (int l = 0; l < 32; l++) {
                const uint8_t lo = L[64 * k + l], hi = L[64 * k + 32 + l];
                b[i].qs[32 * k + l] = (uint8_t)((lo & 0xF) | ((hi & 0xF) << 4));
                b[i].qh[l] |= (uint8_t)(((lo >> 4) << (2 * k)) | ((hi >> 4) << (2 * k + 1)));
            }
    }
}

void quantize_row_q6_K(const float *src, void *dst, int64_t n) {
    block_q6_K *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K) {
        int8_t L[QK_K];
        float scales[16];
        float max_scale = 0, max_abs_scale = 0;
        for (int j = 0; j < 16; j++) {
            scales[j] = fit_symmetric_scale(16, 32, src + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > max_abs_scale) {
                max_abs_scale = fabsf(scales[j]);
                max_scale = scales[j];
            }
        }
        if (max_abs_scale < GROUP_MAX_EPS) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        /* int8 sub-block scales: the largest maps to -128 */
        const float iscale = -128 / max_scale;
        b[i].d = kumo_float_to_half(1 / iscale);
        for (int j = 0; j < 16; j++) b[i].scales[j] = (int8_t)round_clamp(iscale * scales[j], -128, 127);
        const float d_all = kumo_half_to_float(b[i].d);
        for (int j = 0; j < 16; j++) {
            const float d = d_all * (float)b[i].scales[j];
            if (d == 0.0f) continue;
            for (int l = 0; l < 16; l++) L[16 * j + l] = (int8_t)(round_clamp(src[16 * j + l] / d, -32, 31) + 32);
        }
        /* layout: see q6_K_unpack in quant_ref.c */
        for (int h = 0; h < 2; h++) {
            uint8_t *ql = b[i].ql + 64 * h, *qh = b[i].qh + 32 * h;
            const int8_t *g = L + 128 * h;
            for (int l = 0; l < 32; l++) {
                ql[l] = (uint8_t)((g[l] & 0xF) | ((g[l + 64] & 0xF) << 4));
                ql[l + 32] = (uint8_t)((g[l + 32] & 0xF) | ((g[l + 96] & 0xF) << 4));
                qh[l] = (uint8_t)((g[l] >> 4) | ((g[l + 32] >> 4) << 2) | ((g[l + 64] >> 4) << 4) |
                                  ((g[l + 96] >> 4) << 6));
            }
        }
    }
}

/* ======================= float types ======================= */

void quantize_row_f16(const float *src, void *dst, int64_t n) {
    uint16_t *h = dst;
    for (int64_t i = 0; i < n; i++) h[i] = kumo_float_to_half(src[i]);
}

void quantize_row_bf16(const float *src, void *dst, int64_t n) {
    uint16_t *h = dst;
    for (int64_t i = 0; i < n; i++) h[i] = kumo_float_to_brain(src[i]);
}

static void copy_row_f32(const float *src, void *dst, int64_t n) { memmove(dst, src, (size_t)n * sizeof(float)); }

kumo_quantize_row_fn kumo_quantizer(uint32_t type) {
    switch (type) {
    case GGML_TYPE_F32: return copy_row_f32;
    case GGML_TYPE_F16: return quantize_row_f16;
    case GGML_TYPE_BF16: return quantize_row_bf16;
    case GGML_TYPE_Q8_0: return quantize_row_q8_0;
    case GGML_TYPE_Q4_0: return quantize_row_q4_0;
    case GGML_TYPE_Q4_1: return quantize_row_q4_1;
    case GGML_TYPE_Q5_0: return quantize_row_q5_0;
    case GGML_TYPE_Q5_1: return quantize_row_q5_1;
    case GGML_TYPE_Q2_K: return quantize_row_q2_K;
    case GGML_TYPE_Q3_K: return quantize_row_q3_K;
    case GGML_TYPE_Q4_K: return quantize_row_q4_K;
    case GGML_TYPE_Q5_K: return quantize_row_q5_K;
    case GGML_TYPE_Q6_K: return quantize_row_q6_K;
    default: return NULL;
    }
}
