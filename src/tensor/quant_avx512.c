/* AVX-512 (F/BW/DQ/VL + VNNI) kernels, and AVX512_BF16 for the bf16 dot product. Compiled without
 * -mavx512*: every function carries a target attribute and is only installed after quant.c has
 * checked the CPU. Kernels not written here keep their AVX2 versions.
 *
 * Exactness contract with the portable kernels is the same as for AVX2 (see quant_avx2.c): bytes of
 * activation quantizers and K-quant dot products identical, float/32-block dot products equal up to
 * float summation order. */
#include "tensor/quant_impl.h"

#if defined(__x86_64__)
#include "tensor/quant_x86.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")))
#define AVX512_BF16                                                                                \
    __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx512bf16")))

/* ======================= plain float types ======================= */

AVX512 static float f32_dot_avx512(int64_t n, const void *w, const void *a) {
    const float *x = w, *y = a;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps(), acc2 = _mm512_setzero_ps(),
           acc3 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(y + i + 16), acc1);
        acc2 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 32), _mm512_loadu_ps(y + i + 32), acc2);
        acc3 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 48), _mm512_loadu_ps(y + i + 48), acc3);
    }
    for (; i + 16 <= n; i += 16)
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), acc0);
    if (i < n) { /* masked loads read nothing past the end */
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i), acc1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

AVX512 static inline __m512 load_f16x16(const uint16_t *p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}

AVX512 static float f16_dot_avx512(int64_t n, const void *w, const void *a) {
    const uint16_t *x = w, *y = a;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps(), acc2 = _mm512_setzero_ps(),
           acc3 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        acc0 = _mm512_fmadd_ps(load_f16x16(x + i), load_f16x16(y + i), acc0);
        acc1 = _mm512_fmadd_ps(load_f16x16(x + i + 16), load_f16x16(y + i + 16), acc1);
        acc2 = _mm512_fmadd_ps(load_f16x16(x + i + 32), load_f16x16(y + i + 32), acc2);
        acc3 = _mm512_fmadd_ps(load_f16x16(x + i + 48), load_f16x16(y + i + 48), acc3);
    }
    for (; i + 16 <= n; i += 16) acc0 = _mm512_fmadd_ps(load_f16x16(x + i), load_f16x16(y + i), acc0);
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        const __m512 xv = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, x + i));
        const __m512 yv = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, y + i));
        acc1 = _mm512_fmadd_ps(xv, yv, acc1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

/* vdpbf16ps: pairs of bf16 products (exact in float) added into float lanes. */
AVX512_BF16 static float bf16_dot_avx512(int64_t n, const void *w, const void *a) {
    const uint16_t *x = w, *y = a;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        acc0 = _mm512_dpbf16_ps(acc0, (__m512bh)_mm512_loadu_si512(x + i), (__m512bh)_mm512_loadu_si512(y + i));
        acc1 = _mm512_dpbf16_ps(acc1, (__m512bh)_mm512_loadu_si512(x + i + 32),
                                (__m512bh)_mm512_loadu_si512(y + i + 32));
    }
    for (; i + 32 <= n; i += 32)
        acc0 = _mm512_dpbf16_ps(acc0, (__m512bh)_mm512_loadu_si512(x + i), (__m512bh)_mm512_loadu_si512(y + i));
    if (i < n) {
        const __mmask32 m = (__mmask32)((1u << (n - i)) - 1);
        acc1 = _mm512_dpbf16_ps(acc1, (__m512bh)_mm512_maskz_loadu_epi16(m, x + i),
                                (__m512bh)_mm512_maskz_loadu_epi16(m, y + i));
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

/* ======================= activation quantizers ======================= */

AVX512 static void q8_0_from_float_avx512(const float *src, void *dst, int64_t n) {
    block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / QK8_0; i++, src += QK8_0) {
        const __m512 v0 = _mm512_loadu_ps(src), v1 = _mm512_loadu_ps(src + 16);
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        b[i].d = kumo_float_to_half(amax / 127.0f);
        const __m512 id = _mm512_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
        /* cvtps2dq rounds to nearest even like kumo_nearest_int; vpmovsdb saturates like the clamp */
        _mm_storeu_si128((__m128i *)b[i].qs, _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v0, id))));
        _mm_storeu_si128((__m128i *)(b[i].qs + 16),
                         _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v1, id))));
    }
}

AVX512 static void q8_K_from_float_avx512(const float *src, void *dst, int64_t n) {
    block_q8_K *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K) {
        __m512 m = _mm512_setzero_ps();
        for (int j = 0; j < QK_K; j += 16) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(src + j)));
        const float amax = _mm512_reduce_max_ps(m);
        if (amax == 0.0f) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        /* the scale's sign comes from the first element of largest magnitude */
        const __m512 am = _mm512_set1_ps(amax);
        int first = 0;
        for (int j = 0; j < QK_K; j += 16) {
            const __mmask16 hit = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(src + j)), am, _CMP_EQ_OQ);
            if (hit) {
                first = j + __builtin_ctz((unsigned)hit);
                break;
            }
        }
        const float iscale = -127.0f / src[first];
        const __m512 is = _mm512_set1_ps(iscale);
        const __m512i lo = _mm512_set1_epi32(-128), hi = _mm512_set1_epi32(127);
        for (int j = 0; j < QK_K; j += 16) { /* 16 values = one bsums group */
            __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(src + j), is));
            q = _mm512_min_epi32(_mm512_max_epi32(q, lo), hi);
            _mm_storeu_si128((__m128i *)(b[i].qs + j), _mm512_cvtepi32_epi8(q));
            b[i].bsums[j / 16] = (int16_t)_mm512_reduce_add_epi32(q);
        }
        b[i].d = 1.0f / iscale;
    }
}

/* ======================= 32-element blocks · Q8_0 (256-bit VNNI) ======================= */

/* vpdpbusd multiplies unsigned by signed bytes and sums groups of four into int32 lanes, replacing
 * AVX2's maddubs + madd pair. */
AVX512 static inline __m256i dpbusd(__m256i u, __m256i s) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
}

AVX512 static inline __m256i q8_0_prod_vnni(const block_q8_0 *x, const block_q8_0 *y, int64_t i) {
    const __m256i xv = load32(x[i].qs), yv = load32(y[i].qs);
    return dpbusd(_mm256_sign_epi8(xv, xv), _mm256_sign_epi8(yv, xv));
}

/* (q - 8)·y = q·y - 8·Σy with q unsigned */
AVX512 static inline __m256i q4_0_prod_vnni(const block_q4_0 *x, const block_q8_0 *y, int64_t i) {
    const __m256i yv = load32(y[i].qs);
    return _mm256_sub_epi32(dpbusd(nibbles32(x[i].qs), yv), dpbusd(_mm256_set1_epi8(8), yv));
}

AVX512 static inline __m256i q5_0_prod_vnni(const block_q5_0 *x, const block_q8_0 *y, int64_t i) {
    const __m256i yv = load32(y[i].qs);
    const __m256i q5 = _mm256_or_si256(nibbles32(x[i].qs), fifth_bits32(x[i].qh));
    return _mm256_sub_epi32(dpbusd(q5, yv), dpbusd(_mm256_set1_epi8(16), yv));
}

AVX512 static float q8_0_dot_avx512(int64_t n, const void *w, const void *a) {
    const block_q8_0 *x = w, *y = a;
    float sum;
    SUM_Q8_BLOCKS(n / QK8_0, x, y, q8_0_prod_vnni, sum);
    return sum;
}

AVX512 static float q4_0_dot_avx512(int64_t n, const void *w, const void *a) {
    const block_q4_0 *x = w;
    const block_q8_0 *y = a;
    float sum;
    SUM_Q8_BLOCKS(n / QK4_0, x, y, q4_0_prod_vnni, sum);
    return sum;
}

AVX512 static float q5_0_dot_avx512(int64_t n, const void *w, const void *a) {
    const block_q5_0 *x = w;
    const block_q8_0 *y = a;
    float sum;
    SUM_Q8_BLOCKS(n / QK5_0, x, y, q5_0_prod_vnni, sum);
    return sum;
}

/* ======================= K-quants · Q8_K (512-bit) ======================= */

/* Each step handles 64 elements: maddubs makes 32 int16 pair sums, vpdpwssd multiplies them by the
 * sub-block scales (one int16 scale per lane) and accumulates into 16 int32 lanes. The super-block
 * total is then the same exact integer the portable kernel computes. */

AVX512 static inline __m512i join256(__m256i lo, __m256i hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* int16 lanes: 16 copies of a, then 16 of b */
AVX512 static inline __m512i scales_2x16(int a, int b) {
    return join256(_mm256_set1_epi16((short)a), _mm256_set1_epi16((short)b));
}

AVX512 static float q4_K_dot_avx512(int64_t n, const void *w, const void *a) {
    const block_q4_K *x = w;
    const block_q8_K *y = a;
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint8_t sc[16];
        k4_scales_mins(x[i].scales, sc);
        const int32_t isum_min = k4_min_term(y[i].bsums, sc + 8);
        __m512i acc = _mm512_setzero_si512();
        for (int k = 0; k < 4; k++) {
            const __m256i qv = load32(x[i].qs + 32 * k);
            const __m512i q = _mm512_and_si512(join256(qv, _mm256_srli_epi16(qv, 4)), m4);
            const __m512i p = _mm512_maddubs_epi16(q, _mm512_loadu_si512(y[i].qs + 64 * k));
            acc = _mm512_dpwssd_epi32(acc, p, scales_2x16(sc[2 * k], sc[2 * k + 1]));
        }
        const int32_t isum = _mm512_reduce_add_epi32(acc);
        const float d = y[i].d * half(x[i].d);
        const float dmin = y[i].d * half(x[i].dmin);
        sum += d * (float)isum - dmin * (float)isum_min;
    }
    return sum;
}

AVX512 static float q5_K_dot_avx512(int64_t n, const void *w, const void *a) {
    const block_q5_K *x = w;
    const block_q8_K *y = a;
    const __m512i m4 = _mm512_set1_epi8(0x0F), one = _mm512_set1_epi8(1);
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint8_t sc[16];
        k4_scales_mins(x[i].scales, sc);
        const int32_t isum_min = k4_min_term(y[i].bsums, sc + 8);
        const __m256i qh = load32(x[i].qh);
        __m512i acc = _mm512_setzero_si512();
        for (int k = 0; k < 4; k++) {
            const __m256i qv = load32(x[i].qs + 32 * k);
            const __m512i lo4 = _mm512_and_si512(join256(qv, _mm256_srli_epi16(qv, 4)), m4);
            const __m512i h = join256(_mm256_srli_epi16(qh, 2 * k), _mm256_srli_epi16(qh, 2 * k + 1));
            const __m512i q = _mm512_or_si512(lo4, _mm512_slli_epi16(_mm512_and_si512(h, one), 4));
            const __m512i p = _mm512_maddubs_epi16(q, _mm512_loadu_si512(y[i].qs + 64 * k));
            acc = _mm512_dpwssd_epi32(acc, p, scales_2x16(sc[2 * k], sc[2 * k + 1]));
        }
        const int32_t isum = _mm512_reduce_add_epi32(acc);
        const float d = y[i].d * half(x[i].d);
        const float dmin = y[i].d * half(x[i].dmin);
        sum += d * (float)isum - dmin * (float)isum_min;
    }
    return sum;
}

/* Q6_K: with u = q + 32 in 0..63, Σ(u-32)·y = Σu·y - 32·bsum. Each 128-element half is two steps:
 * elements 0-63 take the low nibbles of ql[0..63] and qh bits 0-3, elements 64-127 the high nibbles
 * and qh bits 4-7. Sub-block scales change every 16 elements, i.e. every 8 int16 lanes. */
AVX512 static float q6_K_dot_avx512(int64_t n, const void *w, const void *a) {
    const block_q6_K *x = w;
    const block_q8_K *y = a;
    const __m512i m4 = _mm512_set1_epi8(0x0F), m2 = _mm512_set1_epi8(3);
    /* lane -> lane/8: picks scale 0..3 of a 4-scale window for each group of 8 int16 lanes */
    const __m512i lane_group = _mm512_srli_epi16(
        _mm512_set_epi16(31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12,
                         11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
        3);
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[i].scales));
        const __m512i sc512 = _mm512_castsi256_si512(sc16);
        const int32_t bias = bsums_dot(y[i].bsums, sc16);
        __m512i acc = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            const __m512i l = _mm512_loadu_si512(x[i].ql + 64 * h);
            const __m256i qh = load32(x[i].qh + 32 * h);
            const __m512i hb = join256(qh, _mm256_srli_epi16(qh, 2));
            const __m512i u01 = _mm512_or_si512(_mm512_and_si512(l, m4),
                                                _mm512_slli_epi16(_mm512_and_si512(hb, m2), 4));
            const __m512i u23 = _mm512_or_si512(
                _mm512_and_si512(_mm512_srli_epi16(l, 4), m4),
                _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(hb, 4), m2), 4));
            const __m512i p01 = _mm512_maddubs_epi16(u01, _mm512_loadu_si512(y[i].qs + 128 * h));
            const __m512i p23 = _mm512_maddubs_epi16(u23, _mm512_loadu_si512(y[i].qs + 128 * h + 64));
            const __m512i s01 = _mm512_permutexvar_epi16(
                _mm512_add_epi16(lane_group, _mm512_set1_epi16((short)(8 * h))), sc512);
            const __m512i s23 = _mm512_permutexvar_epi16(
                _mm512_add_epi16(lane_group, _mm512_set1_epi16((short)(8 * h + 4))), sc512);
            acc = _mm512_dpwssd_epi32(acc, p01, s01);
            acc = _mm512_dpwssd_epi32(acc, p23, s23);
        }
        const int32_t isum = _mm512_reduce_add_epi32(acc) - 32 * bias;
        sum += y[i].d * half(x[i].d) * (float)isum;
    }
    return sum;
}

void kumo_quant_install_avx512(kumo_type_traits *t, bool has_bf16) {
    t[GGML_TYPE_F32].vec_dot = f32_dot_avx512;
    t[GGML_TYPE_F16].vec_dot = f16_dot_avx512;
    if (has_bf16) t[GGML_TYPE_BF16].vec_dot = bf16_dot_avx512;
    t[GGML_TYPE_Q8_0].from_float = q8_0_from_float_avx512;
    t[GGML_TYPE_Q8_K].from_float = q8_K_from_float_avx512;
    t[GGML_TYPE_Q8_0].vec_dot = q8_0_dot_avx512;
    t[GGML_TYPE_Q4_0].vec_dot = q4_0_dot_avx512;
    t[GGML_TYPE_Q5_0].vec_dot = q5_0_dot_avx512;
    t[GGML_TYPE_Q4_K].vec_dot = q4_K_dot_avx512;
    t[GGML_TYPE_Q5_K].vec_dot = q5_K_dot_avx512;
    t[GGML_TYPE_Q6_K].vec_dot = q6_K_dot_avx512;
}

#else /* not x86-64 */

void kumo_quant_install_avx512(kumo_type_traits *t, bool has_bf16) {
    (void)t;
    (void)has_bf16;
}

#endif
