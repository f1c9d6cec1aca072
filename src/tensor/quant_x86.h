/* Internal to tensor/: helpers shared by the x86 SIMD kernel files (quant_avx2.c, quant_avx512.c).
 * Every function carries the AVX2 target attribute, so the including files compile without -mavx2;
 * AVX-512 functions (whose targets include AVX2) can inline them. */
#ifndef KUMO_TENSOR_QUANT_X86_H
#define KUMO_TENSOR_QUANT_X86_H

#include <immintrin.h>

#include "tensor/quant_impl.h"

#define AVX2 __attribute__((target("avx2,fma,f16c")))

AVX2 static inline float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AVX2 static inline int32_t hsum_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

AVX2 static inline float half(uint16_t h) { return _cvtsh_ss(h); }

/* Sum of products of signed bytes, in 8 int32 lanes (4 products each). maddubs wants an unsigned
 * first operand, so move x's sign onto y. y must not hold -128 (activation quantizers never
 * produce it). */
AVX2 static inline __m256i dot_i8(__m256i x, __m256i y) {
    const __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
    return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}

/* Sum of products of unsigned bytes (< 128) with signed bytes, in 8 int32 lanes. */
AVX2 static inline __m256i dot_u8_i8(__m256i u, __m256i y) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, y), _mm256_set1_epi16(1));
}

/* 16 bytes of packed nibbles -> 32 bytes: low nibbles first, then high nibbles (the order of the
 * 32-element blocks). */
AVX2 static inline __m256i nibbles32(const uint8_t *qs) {
    const __m128i b = _mm_loadu_si128((const __m128i *)qs);
    const __m128i m = _mm_set1_epi8(0x0F);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(b, 4), m), _mm_and_si128(b, m));
}

/* Bit j of the little-endian 32-bit qh -> 0x10 in byte j. */
AVX2 static inline __m256i fifth_bits32(const uint8_t qh4[4]) {
    const __m256i bytes = _mm256_shuffle_epi8(
        _mm256_set1_epi32((int)kumo_load_u32le(qh4)),
        _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
    const __m256i bit = _mm256_set1_epi64x((int64_t)0x8040201008040201);
    const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit);
    return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

/* Sixteen int16 lanes: the low eight hold a, the high eight b. */
AVX2 static inline __m256i two_scales16(int a, int b) {
    return _mm256_set_m128i(_mm_set1_epi16((short)b), _mm_set1_epi16((short)a));
}

AVX2 static inline __m256i load32(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* ---------- K-quant scale helpers (word-parallel versions of the quant_impl.h ones) ---------- */

/* kumo_k4_scales on 32-bit words: scales 0-7 in bytes 0-7, mins 0-7 in bytes 8-15. */
static inline void k4_scales_mins(const uint8_t s[12], uint8_t out[16]) {
    uint32_t w[3], r[4];
    memcpy(w, s, sizeof w);
    r[0] = w[0] & 0x3f3f3f3fu;
    r[1] = (w[2] & 0x0f0f0f0fu) | (((w[0] >> 6) & 0x03030303u) << 4);
    r[2] = w[1] & 0x3f3f3f3fu;
    r[3] = ((w[2] >> 4) & 0x0f0f0f0fu) | (((w[1] >> 6) & 0x03030303u) << 4);
    memcpy(out, r, sizeof r);
}

/* kumo_q3k_scales on 32-bit words: the sixteen scales, still biased by +32. */
static inline void q3k_scales_biased(const uint8_t s[12], uint8_t out[16]) {
    uint32_t w[3], r[4];
    memcpy(w, s, sizeof w);
    r[0] = (w[0] & 0x0f0f0f0fu) | ((w[2] & 0x03030303u) << 4);
    r[1] = (w[1] & 0x0f0f0f0fu) | (((w[2] >> 2) & 0x03030303u) << 4);
    r[2] = ((w[0] >> 4) & 0x0f0f0f0fu) | (((w[2] >> 4) & 0x03030303u) << 4);
    r[3] = ((w[1] >> 4) & 0x0f0f0f0fu) | (((w[2] >> 6) & 0x03030303u) << 4);
    memcpy(out, r, sizeof r);
}

/* Σ_j c[j]·bsums[j] over a Q8_K block's 16 group sums, c given as 16 int16 lanes. */
AVX2 static inline int32_t bsums_dot(const int16_t bsums[16], __m256i c16) {
    return hsum_epi32(_mm256_madd_epi16(load32(bsums), c16));
}

/* Q4_K/Q5_K min term: Σ_j mn[j]·(bsums[2j] + bsums[2j+1]). */
AVX2 static inline int32_t k4_min_term(const int16_t bsums[16], const uint8_t mn[8]) {
    const __m128i m8 = _mm_loadl_epi64((const __m128i *)mn);
    return bsums_dot(bsums, _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8)));
}

/* Σ over blocks i < nb of (d_w·d_a)(i) · PROD(x, y, i), where PROD gives a block's integer dot as
 * 8 int32 partial sums. Four accumulators keep the FMA latency off the critical path. */
#define SUM_Q8_BLOCKS(nb, x, y, PROD, out)                                                       \
    do {                                                                                          \
        __m256 acc0_ = _mm256_setzero_ps(), acc1_ = _mm256_setzero_ps(),                           \
               acc2_ = _mm256_setzero_ps(), acc3_ = _mm256_setzero_ps();                           \
        int64_t i_ = 0;                                                                           \
        for (; i_ + 4 <= (nb); i_ += 4) {                                                         \
            acc0_ = _mm256_fmadd_ps(_mm256_set1_ps(half(x[i_].d) * half(y[i_].d)),                 \
                                    _mm256_cvtepi32_ps(PROD(x, y, i_)), acc0_);                    \
            acc1_ = _mm256_fmadd_ps(_mm256_set1_ps(half(x[i_ + 1].d) * half(y[i_ + 1].d)),         \
                                    _mm256_cvtepi32_ps(PROD(x, y, i_ + 1)), acc1_);                \
            acc2_ = _mm256_fmadd_ps(_mm256_set1_ps(half(x[i_ + 2].d) * half(y[i_ + 2].d)),         \
                                    _mm256_cvtepi32_ps(PROD(x, y, i_ + 2)), acc2_);                \
            acc3_ = _mm256_fmadd_ps(_mm256_set1_ps(half(x[i_ + 3].d) * half(y[i_ + 3].d)),         \
                                    _mm256_cvtepi32_ps(PROD(x, y, i_ + 3)), acc3_);                \
        }                                                                                         \
        for (; i_ < (nb); i_++)                                                                   \
            acc0_ = _mm256_fmadd_ps(_mm256_set1_ps(half(x[i_].d) * half(y[i_].d)),                 \
                                    _mm256_cvtepi32_ps(PROD(x, y, i_)), acc0_);                    \
        (out) = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc0_, acc1_), _mm256_add_ps(acc2_, acc3_)));  \
    } while (0)

#endif
