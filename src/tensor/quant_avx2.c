/* AVX2 + FMA + F16C kernels. Compiled without -mavx2: every function carries a target attribute
 * and is only reached through the dispatch table after the CPU check in quant.c.
 *
 * Exactness contract with the portable kernels (tested):
 *  - conversions and activation quantizers give identical bytes;
 *  - K-quant dot products reduce each super-block to the same exact integers and then do the same
 *    float operations in the same order, so they are bit-identical;
 *  - F32/F16/BF16 and 32-block dot products accumulate in vector lanes with FMA (as the reference
 *    engine does) and so differ from the portable sum by float rounding only. */
#include "tensor/quant_impl.h"

#if defined(__x86_64__)
#include "tensor/quant_x86.h"

/* clang contracts a*b+c into an FMA inside FMA-enabled functions; the bit-exact kernels must round
 * like the portable C. (GCC in ISO C mode does not contract.) */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

/* ======================= plain float types ======================= */

AVX2 static float f32_dot_avx2(int64_t n, const void *w, const void *a) {
    const float *x = w, *y = a;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(), acc2 = _mm256_setzero_ps(),
           acc3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8)
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), acc0);
    float sum = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; i++) sum += x[i] * y[i];
    return sum;
}

AVX2 static inline __m256 load_f16x8(const uint16_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

AVX2 static inline __m256 load_bf16x8(const uint16_t *p) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

/* F16 and BF16 rows share these loops; `brain` (a constant in each caller) picks the widening. */
AVX2 static inline __attribute__((always_inline)) __m256 load_halves8(const uint16_t *p, const bool brain) {
    return brain ? load_bf16x8(p) : load_f16x8(p);
}

static inline float widen_half(uint16_t h, const bool brain) { return brain ? kumo_brain_to_float(h) : half(h); }

AVX2 static inline __attribute__((always_inline)) float halves_dot(int64_t n, const uint16_t *x, const uint16_t *y,
                                                                   const bool brain) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(), acc2 = _mm256_setzero_ps(),
           acc3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(load_halves8(x + i, brain), load_halves8(y + i, brain), acc0);
        acc1 = _mm256_fmadd_ps(load_halves8(x + i + 8, brain), load_halves8(y + i + 8, brain), acc1);
        acc2 = _mm256_fmadd_ps(load_halves8(x + i + 16, brain), load_halves8(y + i + 16, brain), acc2);
        acc3 = _mm256_fmadd_ps(load_halves8(x + i + 24, brain), load_halves8(y + i + 24, brain), acc3);
    }
    for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(load_halves8(x + i, brain), load_halves8(y + i, brain), acc0);
    float sum = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; i++) sum += widen_half(x[i], brain) * widen_half(y[i], brain);
    return sum;
}

AVX2 static inline __attribute__((always_inline)) void halves_to_float(const uint16_t *h, float *dst, int64_t n,
                                                                       const bool brain) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load_halves8(h + i, brain));
    for (; i < n; i++) dst[i] = widen_half(h[i], brain);
}

AVX2 static float f16_dot_avx2(int64_t n, const void *w, const void *a) { return halves_dot(n, w, a, false); }

AVX2 static void f16_to_float_avx2(const void *src, float *dst, int64_t n) { halves_to_float(src, dst, n, false); }

AVX2 static void f16_from_float_avx2(const float *src, void *dst, int64_t n) {
    uint16_t *h = dst;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(h + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) h[i] = kumo_float_to_half(src[i]);
}

AVX2 static float bf16_dot_avx2(int64_t n, const void *w, const void *a) { return halves_dot(n, w, a, true); }

AVX2 static void bf16_to_float_avx2(const void *src, float *dst, int64_t n) { halves_to_float(src, dst, n, true); }

/* Same integer recipe as kumo_float_to_brain: add 0x7fff + lsb, keep the top half; nans get the
 * quiet bit instead. */
AVX2 static void bf16_from_float_avx2(const float *src, void *dst, int64_t n) {
    uint16_t *h = dst;
    const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i u = _mm256_castps_si256(_mm256_loadu_ps(src + i));
        const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
        const __m256i rounded = _mm256_srli_epi32(
            _mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
        const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
        const __m256i is_nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, abs_mask), inf);
        const __m256i r = _mm256_blendv_epi8(rounded, quiet, is_nan);
        /* 8 x 32-bit (values < 65536) -> 8 x 16-bit */
        const __m128i packed =
            _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
        _mm_storeu_si128((__m128i *)(h + i), packed);
    }
    for (; i < n; i++) h[i] = kumo_float_to_brain(src[i]);
}

/* ======================= activation quantizers ======================= */

/* Packs 4 x 8 int32 (values in int8 range) into 32 int8 in order. */
AVX2 static inline __m256i pack_i32x32_to_i8(__m256i i0, __m256i i1, __m256i i2, __m256i i3) {
    const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    /* packs works per 128-bit lane: dwords come out as i0a i1a i2a i3a i0b i1b i2b i3b */
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

AVX2 static void q8_0_from_float_avx2(const float *src, void *dst, int64_t n) {
    block_q8_0 *b = dst;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < n / QK8_0; i++, src += QK8_0) {
        const __m256 v0 = _mm256_loadu_ps(src), v1 = _mm256_loadu_ps(src + 8),
                     v2 = _mm256_loadu_ps(src + 16), v3 = _mm256_loadu_ps(src + 24);
        __m256 m = _mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1));
        m = _mm256_max_ps(m, _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float amax = _mm_cvtss_f32(m4);
        b[i].d = kumo_float_to_half(amax / 127.0f);
        const __m256 id = _mm256_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
        /* cvtps2dq rounds to nearest even under the default MXCSR, like kumo_nearest_int */
        const __m256i q = pack_i32x32_to_i8(
            _mm256_cvtps_epi32(_mm256_mul_ps(v0, id)), _mm256_cvtps_epi32(_mm256_mul_ps(v1, id)),
            _mm256_cvtps_epi32(_mm256_mul_ps(v2, id)), _mm256_cvtps_epi32(_mm256_mul_ps(v3, id)));
        _mm256_storeu_si256((__m256i *)b[i].qs, q);
    }
}

AVX2 static void q8_K_from_float_avx2(const float *src, void *dst, int64_t n) {
    block_q8_K *b = dst;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K) {
        __m256 m = _mm256_setzero_ps();
        for (int j = 0; j < QK_K; j += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(src + j)));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float amax = _mm_cvtss_f32(m4);
        if (amax == 0.0f) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        /* the scale's sign comes from the first element of largest magnitude */
        const __m256 am = _mm256_set1_ps(amax);
        int first = 0;
        for (int j = 0; j < QK_K; j += 8) {
            const int hit = _mm256_movemask_ps(
                _mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(src + j)), am, _CMP_EQ_OQ));
            if (hit) {
                first = j + __builtin_ctz((unsigned)hit);
                break;
            }
        }
        const float iscale = -127.0f / src[first];
        const __m256 is = _mm256_set1_ps(iscale);
        for (int j = 0; j < QK_K; j += 32) {
            const __m256i q = pack_i32x32_to_i8(
                _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(src + j), is)),
                _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(src + j + 8), is)),
                _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(src + j + 16), is)),
                _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(src + j + 24), is)));
            _mm256_storeu_si256((__m256i *)(b[i].qs + j), q);
            /* sums of each 16 quants: bias to unsigned, sum bytes with psadbw, unbias */
            const __m256i sad = _mm256_sad_epu8(_mm256_xor_si256(q, _mm256_set1_epi8((char)0x80)),
                                                _mm256_setzero_si256());
            const __m256i pair = _mm256_add_epi64(sad, _mm256_srli_si256(sad, 8));
            b[i].bsums[j / 16] = (int16_t)(_mm256_extract_epi64(pair, 0) - 16 * 128);
            b[i].bsums[j / 16 + 1] = (int16_t)(_mm256_extract_epi64(pair, 2) - 16 * 128);
        }
        b[i].d = 1.0f / iscale;
    }
}

/* ======================= 32-element blocks · Q8_0 ======================= */

AVX2 static inline __m256i q8_0_prod(const block_q8_0 *x, const block_q8_0 *y, int64_t i) {
    return dot_i8(load32(x[i].qs), load32(y[i].qs));
}

AVX2 static inline __m256i q4_0_prod(const block_q4_0 *x, const block_q8_0 *y, int64_t i) {
    return dot_i8(_mm256_sub_epi8(nibbles32(x[i].qs), _mm256_set1_epi8(8)), load32(y[i].qs));
}

AVX2 static inline __m256i q5_0_prod(const block_q5_0 *x, const block_q8_0 *y, int64_t i) {
    const __m256i q5 = _mm256_or_si256(nibbles32(x[i].qs), fifth_bits32(x[i].qh));
    return dot_i8(_mm256_sub_epi8(q5, _mm256_set1_epi8(16)), load32(y[i].qs));
}

AVX2 static inline __m256i q4_1_prod(const block_q4_1 *x, const block_q8_0 *y, int64_t i) {
    return dot_u8_i8(nibbles32(x[i].qs), load32(y[i].qs));
}

AVX2 static inline __m256i q5_1_prod(const block_q5_1 *x, const block_q8_0 *y, int64_t i) {
    return dot_u8_i8(_mm256_or_si256(nibbles32(x[i].qs), fifth_bits32(x[i].qh)), load32(y[i].qs));
}

AVX2 static float q8_0_dot_avx2(int64_t n, const void *w, const void *a) {
    const block_q8_0 *x = w, *y = a;
    float sum;
    SUM_Q8_BLOCKS(n / QK8_0, x, y, q8_0_prod, sum);
    return sum;
}

AVX2 static float q4_0_dot_avx2(int64_t n, const void *w, const void *a) {
    const block_q4_0 *x = w;
    const block_q8_0 *y = a;
    float sum;
    SUM_Q8_BLOCKS(n / QK4_0, x, y, q4_0_prod, sum);
    return sum;
}

AVX2 static float q5_0_dot_avx2(int64_t n, const void *w, const void *a) {
    const block_q5_0 *x = w;
    const block_q8_0 *y = a;
    float sum;
    SUM_Q8_BLOCKS(n / QK5_0, x, y, q5_0_prod, sum);
    return sum;
}

/* Σ over blocks of m · s, s = fp16(d_y·Σq_y) as in the portable kernel (see q8_block_sum_term).
 * F16C's conversions round like kumo_float_to_half. */
AVX2 static inline float q8_min_terms(int64_t nb, const uint16_t *m, size_t m_stride, const block_q8_0 *y) {
    float sum = 0;
    for (int64_t i = 0; i < nb; i++) {
        const __m256i sad = _mm256_sad_epu8(_mm256_xor_si256(load32(y[i].qs), _mm256_set1_epi8((char)0x80)),
                                            _mm256_setzero_si256());
        const __m128i s2 = _mm_add_epi64(_mm256_castsi256_si128(sad), _mm256_extracti128_si256(sad, 1));
        const int q_sum = (int)(_mm_cvtsi128_si64(s2) + _mm_extract_epi64(s2, 1)) - 32 * 128;
        const float s = half(_cvtss_sh(half(y[i].d) * (float)q_sum, _MM_FROUND_TO_NEAREST_INT));
        uint16_t mh;
        memcpy(&mh, (const uint8_t *)m + (size_t)i * m_stride, sizeof mh);
        sum += half(mh) * s;
    }
    return sum;
}

AVX2 static float q4_1_dot_avx2(int64_t n, const void *w, const void *a) {
    const block_q4_1 *x = w;
    const block_q8_0 *y = a;
    float sum;
    SUM_Q8_BLOCKS(n / QK4_1, x, y, q4_1_prod, sum);
    return sum + q8_min_terms(n / QK4_1, &x[0].m, sizeof x[0], y);
}

AVX2 static float q5_1_dot_avx2(int64_t n, const void *w, const void *a) {
    const block_q5_1 *x = w;
    const block_q8_0 *y = a;
    float sum;
    SUM_Q8_BLOCKS(n / QK5_1, x, y, q5_1_prod, sum);
    return sum + q8_min_terms(n / QK5_1, &x[0].m, sizeof x[0], y);
}

/* ======================= K-quants · Q8_K ======================= */

AVX2 static float q2_K_dot_avx2(int64_t n, const void *w, const void *a) {
    const block_q2_K *x = w;
    const block_q8_K *y = a;
    const __m256i m3 = _mm256_set1_epi8(3);
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const __m128i sv = _mm_loadu_si128((const __m128i *)x[i].scales);
        const int32_t isum_min = bsums_dot(
            y[i].bsums, _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sv, 4), _mm_set1_epi8(0x0F))));
        __m256i acc = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i qv = load32(x[i].qs + 32 * h);
            for (int s = 0; s < 4; s++) {
                const __m256i q = _mm256_and_si256(_mm256_srli_epi16(qv, 2 * s), m3);
                const __m256i p = _mm256_maddubs_epi16(q, load32(y[i].qs + 128 * h + 32 * s));
                const int j = 8 * h + 2 * s;
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, two_scales16(x[i].scales[j] & 0xF,
                                                                               x[i].scales[j + 1] & 0xF)));
            }
        }
        const int32_t isum = hsum_epi32(acc);
        const float d = y[i].d * half(x[i].d);
        const float dmin = y[i].d * half(x[i].dmin);
        sum += d * (float)isum - dmin * (float)isum_min;
    }
    return sum;
}

/* Q3_K: with u = low2 | hbit<<2 in 0..7 the value is u - 4, so Σ(u-4)·y = Σu·y - 4·bsum. */
AVX2 static float q3_K_dot_avx2(int64_t n, const void *w, const void *a) {
    const block_q3_K *x = w;
    const block_q8_K *y = a;
    const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int8_t sc[16];
        q3k_scales_biased(x[i].scales, (uint8_t *)sc);
        const __m128i sc8 = _mm_sub_epi8(_mm_loadu_si128((const __m128i *)sc), _mm_set1_epi8(32));
        _mm_storeu_si128((__m128i *)sc, sc8);
        int32_t isum = -4 * bsums_dot(y[i].bsums, _mm256_cvtepi8_epi16(sc8));
        __m256i acc = _mm256_setzero_si256();
        const __m256i hm = load32(x[i].hmask);
        for (int h = 0; h < 2; h++) {
            const __m256i qv = load32(x[i].qs + 32 * h);
            for (int s = 0; s < 4; s++) {
                const int t = 4 * h + s;
                const __m256i lo = _mm256_and_si256(_mm256_srli_epi16(qv, 2 * s), m3);
                const __m256i hb = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hm, t), one), 2);
                const __m256i u = _mm256_or_si256(lo, hb);
                const __m256i p = _mm256_maddubs_epi16(u, load32(y[i].qs + 32 * t));
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, two_scales16(sc[2 * t], sc[2 * t + 1])));
            }
        }
        isum += hsum_epi32(acc);
        sum += y[i].d * half(x[i].d) * (float)isum;
    }
    return sum;
}

AVX2 static float q4_K_dot_avx2(int64_t n, const void *w, const void *a) {
    const block_q4_K *x = w;
    const block_q8_K *y = a;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint8_t sc[16];
        k4_scales_mins(x[i].scales, sc);
        const int32_t isum_min = k4_min_term(y[i].bsums, sc + 8);
        __m256i acc = _mm256_setzero_si256();
        for (int k = 0; k < 4; k++) {
            const __m256i qv = load32(x[i].qs + 32 * k);
            const __m256i lo = _mm256_and_si256(qv, m4);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qv, 4), m4);
            const __m256i p0 = _mm256_maddubs_epi16(lo, load32(y[i].qs + 64 * k));
            const __m256i p1 = _mm256_maddubs_epi16(hi, load32(y[i].qs + 64 * k + 32));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p0, _mm256_set1_epi16(sc[2 * k])));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p1, _mm256_set1_epi16(sc[2 * k + 1])));
        }
        const int32_t isum = hsum_epi32(acc);
        const float d = y[i].d * half(x[i].d);
        const float dmin = y[i].d * half(x[i].dmin);
        sum += d * (float)isum - dmin * (float)isum_min;
    }
    return sum;
}

AVX2 static float q5_K_dot_avx2(int64_t n, const void *w, const void *a) {
    const block_q5_K *x = w;
    const block_q8_K *y = a;
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint8_t sc[16];
        k4_scales_mins(x[i].scales, sc);
        const int32_t isum_min = k4_min_term(y[i].bsums, sc + 8);
        const __m256i qh = load32(x[i].qh);
        __m256i acc = _mm256_setzero_si256();
        for (int k = 0; k < 4; k++) {
            const __m256i qv = load32(x[i].qs + 32 * k);
            const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), one), 4);
            const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * k + 1), one), 4);
            const __m256i lo = _mm256_or_si256(_mm256_and_si256(qv, m4), h0);
            const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qv, 4), m4), h1);
            const __m256i p0 = _mm256_maddubs_epi16(lo, load32(y[i].qs + 64 * k));
            const __m256i p1 = _mm256_maddubs_epi16(hi, load32(y[i].qs + 64 * k + 32));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p0, _mm256_set1_epi16(sc[2 * k])));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p1, _mm256_set1_epi16(sc[2 * k + 1])));
        }
        const int32_t isum = hsum_epi32(acc);
        const float d = y[i].d * half(x[i].d);
        const float dmin = y[i].d * half(x[i].dmin);
        sum += d * (float)isum - dmin * (float)isum_min;
    }
    return sum;
}

/* Q6_K: with u = q + 32 in 0..63 unsigned, Σ(u-32)·y = Σu·y - 32·bsum. */
AVX2 static float q6_K_dot_avx2(int64_t n, const void *w, const void *a) {
    const block_q6_K *x = w;
    const block_q8_K *y = a;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const int8_t *sc = x[i].scales;
        int32_t isum =
            -32 * bsums_dot(y[i].bsums, _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc)));
        __m256i acc = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i ql0 = load32(x[i].ql + 64 * h), ql1 = load32(x[i].ql + 64 * h + 32);
            const __m256i qh = load32(x[i].qh + 32 * h);
            for (int t = 0; t < 4; t++) {
                const __m256i l = t & 1 ? ql1 : ql0;
                const __m256i lo = _mm256_and_si256(t < 2 ? l : _mm256_srli_epi16(l, 4), m4);
                const __m256i hi = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * t), m2), 4);
                const __m256i u = _mm256_or_si256(lo, hi);
                const __m256i p = _mm256_maddubs_epi16(u, load32(y[i].qs + 128 * h + 32 * t));
                const int j = 8 * h + 2 * t;
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, two_scales16(sc[j], sc[j + 1])));
            }
        }
        isum += hsum_epi32(acc);
        sum += y[i].d * half(x[i].d) * (float)isum;
    }
    return sum;
}

void kumo_quant_install_avx2(kumo_type_traits *t) {
    t[GGML_TYPE_F32].vec_dot = f32_dot_avx2;
    t[GGML_TYPE_F16].vec_dot = f16_dot_avx2;
    t[GGML_TYPE_F16].to_float = f16_to_float_avx2;
    t[GGML_TYPE_F16].from_float = f16_from_float_avx2;
    t[GGML_TYPE_BF16].vec_dot = bf16_dot_avx2;
    t[GGML_TYPE_BF16].to_float = bf16_to_float_avx2;
    t[GGML_TYPE_BF16].from_float = bf16_from_float_avx2;
    t[GGML_TYPE_Q8_0].from_float = q8_0_from_float_avx2;
    t[GGML_TYPE_Q8_K].from_float = q8_K_from_float_avx2;
    t[GGML_TYPE_Q8_0].vec_dot = q8_0_dot_avx2;
    t[GGML_TYPE_Q4_0].vec_dot = q4_0_dot_avx2;
    t[GGML_TYPE_Q4_1].vec_dot = q4_1_dot_avx2;
    t[GGML_TYPE_Q5_0].vec_dot = q5_0_dot_avx2;
    t[GGML_TYPE_Q5_1].vec_dot = q5_1_dot_avx2;
    t[GGML_TYPE_Q2_K].vec_dot = q2_K_dot_avx2;
    t[GGML_TYPE_Q3_K].vec_dot = q3_K_dot_avx2;
    t[GGML_TYPE_Q4_K].vec_dot = q4_K_dot_avx2;
    t[GGML_TYPE_Q5_K].vec_dot = q5_K_dot_avx2;
    t[GGML_TYPE_Q6_K].vec_dot = q6_K_dot_avx2;
}

#else /* not x86-64: nothing to install */

void kumo_quant_install_avx2(kumo_type_traits *t) { (void)t; }

#endif
