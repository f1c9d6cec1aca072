/* AVX2 kernels of gemm.h for Q8_0 and Q4_0 panels (the K-quants stay unpacked at this level and go
 * through the AVX2 vec_dot kernels). A 256-bit register holds 8 of a panel's 16 row lanes, so each
 * 64-byte word group is two halves: rows 0-7, then rows 8-15. Integer dots use maddubs (unsigned ×
 * signed byte pairs into 16-bit sums) and madd (pairs into 32-bit lanes); the float work per block
 * is the same as the AVX-512 kernels': one multiply of the two scales and one multiply-add per row
 * lane, in block order, so results do not depend on the tile either. */
#include "tensor/gemm.h"
#include "tensor/quant_impl.h"

#if defined(__x86_64__)
#include "tensor/quant_x86.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")

/* Tokens per pass over a panel: 16 registers hold 8 weight words, two tokens' sums and both halves'
 * accumulators. Larger tiles re-read the panel (from cache) once per pair of tokens. */
#define PAIR 2

AVX2 INLINE __m256i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return _mm256_set1_epi32(v);
}

AVX2 INLINE void store8(float *y, __m256 v, int n) {
    if (n >= 8) {
        _mm256_storeu_ps(y, v);
    } else if (n > 0) {
        float tmp[8];
        _mm256_storeu_ps(tmp, v);
        memcpy(y, tmp, (size_t)n * sizeof(float));
    }
}

/* Σ over a block of one token with 8 words of one half: u (unsigned weights) · s (signed acts). */
AVX2 INLINE __m256i dot_words_u8(const __m256i *u, const int8_t *q, const int *off, __m256i init) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc = init;
    UNROLL
    for (int c = 0; c < 8; c++)
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u[c], bcast4(q + off[c])), ones));
    return acc;
}

/* ======================= Q8_0 ======================= */

/* Weights are stored as q + 128; maddubs needs |q| unsigned and q's sign moved onto the activation
 * (|q| <= 128 and |a| <= 127 keep every pair sum below 2^15). */
AVX2 INLINE void q8_0_half(const int TT, const uint8_t *hdr, const uint8_t *body, int half, int64_t b,
                           const int8_t *const *qa, const float *const *da, __m256 *acc) {
    static const int off[8] = {0, 4, 8, 12, 16, 20, 24, 28};
    const __m256i flip = _mm256_set1_epi8((char)0x80), ones = _mm256_set1_epi16(1);
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(hdr + 16 * half)));
    __m256i ws[8], wa[8];
    UNROLL
    for (int c = 0; c < 8; c++) {
        ws[c] = _mm256_xor_si256(load32(body + 64 * c + 32 * half), flip);
        wa[c] = _mm256_sign_epi8(ws[c], ws[c]);
    }
    UNROLL
    for (int t = 0; t < TT; t++) {
        const int8_t *q = qa[t] + 32 * b;
        __m256i s = _mm256_setzero_si256();
        UNROLL
        for (int c = 0; c < 8; c++) {
            const __m256i p = _mm256_maddubs_epi16(wa[c], _mm256_sign_epi8(bcast4(q + off[c]), ws[c]));
            s = _mm256_add_epi32(s, _mm256_madd_epi16(p, ones));
        }
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(dw, _mm256_set1_ps(da[t][b])), acc[t]);
    }
}

AVX2 INLINE void q8_0_pass(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, const int TT,
                           float *y, size_t ldy, int n_rows) {
    const int64_t nb = w->n_blocks;
    const int8_t *qa[PAIR];
    const float *da[PAIR];
    __m256 acc[2][PAIR];
    UNROLL
    for (int t = 0; t < TT; t++) {
        qa[t] = (const int8_t *)act[t];
        da[t] = gemm_act_d(act[t], w->n_in);
        acc[0][t] = acc[1][t] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *grp = panel + (size_t)(b >> 1) * 1088;
        const uint8_t *hdr = grp + (b & 1) * 32, *body = grp + 64 + (b & 1) * 512;
        q8_0_half(TT, hdr, body, 0, b, qa, da, acc[0]);
        q8_0_half(TT, hdr, body, 1, b, qa, da, acc[1]);
    }
    UNROLL
    for (int t = 0; t < TT; t++) {
        store8(y + (size_t)t * ldy, acc[0][t], n_rows);
        store8(y + (size_t)t * ldy + 8, acc[1][t], n_rows - 8);
    }
}

/* ======================= Q4_0 ======================= */

/* nibbles are unsigned already: Σ(q - 8)·a = Σ q·a - 8·Σa, the second term from the activation row */
AVX2 INLINE void q4_0_half(const int TT, const uint8_t *hdr, const uint8_t *body, int half, int64_t b,
                           const int8_t *const *qa, const float *const *da, const int32_t *const *ca,
                           __m256 *acc) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(hdr + 16 * half)));
    __m256i u[8];
    UNROLL
    for (int c = 0; c < 4; c++) {
        const __m256i v = load32(body + 64 * c + 32 * half);
        u[2 * c] = _mm256_and_si256(v, m4);                           /* elements 4c.. */
        u[2 * c + 1] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4); /* elements 16+4c.. */
    }
    static const int off4[8] = {0, 16, 4, 20, 8, 24, 12, 28};
    UNROLL
    for (int t = 0; t < TT; t++) {
        const __m256i s = dot_words_u8(u, qa[t] + 32 * b, off4, _mm256_set1_epi32(ca[t][b]));
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(dw, _mm256_set1_ps(da[t][b])), acc[t]);
    }
}

AVX2 INLINE void q4_0_pass(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, const int TT,
                           float *y, size_t ldy, int n_rows) {
    const int64_t nb = w->n_blocks;
    const int8_t *qa[PAIR];
    const float *da[PAIR];
    const int32_t *ca[PAIR];
    __m256 acc[2][PAIR];
    UNROLL
    for (int t = 0; t < TT; t++) {
        qa[t] = (const int8_t *)act[t];
        da[t] = gemm_act_d(act[t], w->n_in);
        ca[t] = (const int32_t *)(da[t] + nb) + nb;
        acc[0][t] = acc[1][t] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *grp = panel + (size_t)(b >> 1) * 576;
        const uint8_t *hdr = grp + (b & 1) * 32, *body = grp + 64 + (b & 1) * 256;
        q4_0_half(TT, hdr, body, 0, b, qa, da, ca, acc[0]);
        q4_0_half(TT, hdr, body, 1, b, qa, da, ca, acc[1]);
    }
    UNROLL
    for (int t = 0; t < TT; t++) {
        store8(y + (size_t)t * ldy, acc[0][t], n_rows);
        store8(y + (size_t)t * ldy + 8, acc[1][t], n_rows - 8);
    }
}

#define KERNEL_FOR(name, pass)                                                                       \
    AVX2 static void name(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, int T,    \
                          float *y, size_t ldy, int n_rows) {                                         \
        for (int t0 = 0; t0 < T; t0 += PAIR) {                                                       \
            if (T - t0 >= 2) pass(w, panel, act + t0, 2, y + (size_t)t0 * ldy, ldy, n_rows);         \
            else pass(w, panel, act + t0, 1, y + (size_t)t0 * ldy, ldy, n_rows);                     \
        }                                                                                            \
    }

KERNEL_FOR(q8_0_kernel_avx2, q8_0_pass)
KERNEL_FOR(q4_0_kernel_avx2, q4_0_pass)

void gemm_kernels_avx2(gemm_kernel_fn table[]) {
    table[GGML_TYPE_Q8_0] = q8_0_kernel_avx2;
    table[GGML_TYPE_Q4_0] = q4_0_kernel_avx2;
}

#else

void gemm_kernels_avx2(gemm_kernel_fn table[]) { (void)table; }

#endif
