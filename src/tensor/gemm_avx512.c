/* AVX-512 VNNI kernels of gemm.h: one panel of 16 weight rows (one 32-bit lane each) × up to
 * GEMM_MAX_T tokens. The weights of a block are loaded (and unpacked) once and multiplied with every
 * token of the tile; each token's activation bytes come in as 4-byte broadcasts, so a vpdpbusd
 * advances 16 row sums by 4 products each.
 *
 * Every (row, token) result goes through the same instructions whatever T is: per block an exact
 * integer sum (the order of integer additions does not matter), one float multiply of the two scales
 * and one fused multiply-add into the row's lane. Only the integer summation is split into more
 * chains for small T (latency), which cannot change a result. */
#include "tensor/gemm.h"
#include "tensor/quant_impl.h"

#if defined(__x86_64__)
#include <immintrin.h>

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")))
#define INLINE static inline __attribute__((always_inline))
/* The tile loops over tokens and words must be unrolled for the accumulators to live in registers
 * (-O2 does not unroll on its own). */
#define UNROLL _Pragma("GCC unroll 16")

AVX512 INLINE __m512i bcast_word(const void *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return _mm512_set1_epi32(v);
}

AVX512 INLINE __m512 load_halves(const uint8_t *p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}

AVX512 INLINE void store_rows(float *y, __m512 v, int n_rows) {
    if (n_rows == GEMM_PANEL) _mm512_storeu_ps(y, v);
    else _mm512_mask_storeu_ps(y, (__mmask16)((1u << n_rows) - 1), v);
}

/* Σ_c dpbusd(w[c], 4 bytes of q at 4·stride_c...) over n words: the integer dot of 16 rows with one
 * token over 4n elements, starting from init. Word c of the activation is at q + off[c]. Few tokens
 * leave the FMA units idle on a single dependency chain, so they get four. */
#define DOT_WORDS(out, init, wv, n, q, off, T)                                                     \
    do {                                                                                           \
        if ((T) <= 2) {                                                                            \
            __m512i c0_ = (init), c1_ = _mm512_setzero_si512(), c2_ = c1_, c3_ = c1_;              \
            UNROLL                                                                                 \
            for (int c_ = 0; c_ < (n); c_ += 4) {                                                  \
                c0_ = _mm512_dpbusd_epi32(c0_, wv[c_], bcast_word((q) + off(c_)));                 \
                c1_ = _mm512_dpbusd_epi32(c1_, wv[c_ + 1], bcast_word((q) + off(c_ + 1)));         \
                c2_ = _mm512_dpbusd_epi32(c2_, wv[c_ + 2], bcast_word((q) + off(c_ + 2)));         \
                c3_ = _mm512_dpbusd_epi32(c3_, wv[c_ + 3], bcast_word((q) + off(c_ + 3)));         \
            }                                                                                      \
            (out) = _mm512_add_epi32(_mm512_add_epi32(c0_, c1_), _mm512_add_epi32(c2_, c3_));      \
        } else {                                                                                   \
            __m512i c0_ = (init);                                                                  \
            UNROLL                                                                                              \
            for (int c_ = 0; c_ < (n); c_++) c0_ = _mm512_dpbusd_epi32(c0_, wv[c_], bcast_word((q) + off(c_))); \
            (out) = c0_;                                                                           \
        }                                                                                          \
    } while (0)

/* ======================= Q8_0 ======================= */

#define Q8_0_OFF(c) (4 * (c))
#ifndef PF_DIST
#define PF_DIST 1024
#endif

AVX512 INLINE void q8_0_tile(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, const int T,
                             float *y, size_t ldy, int n_rows) {
    const int64_t nb = w->n_blocks, n_in = w->n_in;
    const uint8_t *body = panel + (size_t)nb * 32;
    __m512 acc[GEMM_MAX_T];
    const int8_t *qa[GEMM_MAX_T];
    const float *da[GEMM_MAX_T];
    const int32_t *ca[GEMM_MAX_T];
    UNROLL
    for (int t = 0; t < T; t++) {
        acc[t] = _mm512_setzero_ps();
        qa[t] = (const int8_t *)act[t];
        da[t] = gemm_act_d(act[t], n_in);
        ca[t] = (const int32_t *)(da[t] + nb);
    }
    for (int64_t b = 0; b < nb; b++, body += 512) {
        if (T <= 2) {
            UNROLL
            for (int k = 0; k < 8; k++) _mm_prefetch((const char *)body + PF_DIST + 64 * k, _MM_HINT_T0);
        }
        const __m512 dw = load_halves(panel + 32 * b);
        __m512i wv[8];
        UNROLL
        for (int k = 0; k < 8; k++) wv[k] = _mm512_loadu_si512(body + 64 * k);
        UNROLL
        for (int t = 0; t < T; t++) {
            __m512i s;
            DOT_WORDS(s, _mm512_set1_epi32(ca[t][b]), wv, 8, qa[t] + 32 * b, Q8_0_OFF, T);
            const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(da[t][b]));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), scale, acc[t]);
        }
    }
    UNROLL
    for (int t = 0; t < T; t++) store_rows(y + (size_t)t * ldy, acc[t], n_rows);
}

/* ======================= Q4_0 ======================= */

/* unpacked word c < 4: low nibbles = elements 4c..; c >= 4: high nibbles = elements 16 + 4(c-4).. */
#define Q4_0_OFF(c) ((c) < 4 ? 4 * (c) : 16 + 4 * ((c) - 4))

AVX512 INLINE void q4_0_tile(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, const int T,
                             float *y, size_t ldy, int n_rows) {
    const int64_t nb = w->n_blocks, n_in = w->n_in;
    const uint8_t *body = panel + (size_t)nb * 32;
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    __m512 acc[GEMM_MAX_T];
    const int8_t *qa[GEMM_MAX_T];
    const float *da[GEMM_MAX_T];
    const int32_t *ca[GEMM_MAX_T];
    UNROLL
    for (int t = 0; t < T; t++) {
        acc[t] = _mm512_setzero_ps();
        qa[t] = (const int8_t *)act[t];
        da[t] = gemm_act_d(act[t], n_in);
        ca[t] = (const int32_t *)(da[t] + nb) + nb;
    }
    for (int64_t b = 0; b < nb; b++, body += 256) {
        const __m512 dw = load_halves(panel + 32 * b);
        __m512i wv[8];
        UNROLL
        for (int k = 0; k < 4; k++) {
            const __m512i v = _mm512_loadu_si512(body + 64 * k);
            wv[k] = _mm512_and_si512(v, m4);
            wv[k + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
        }
        UNROLL
        for (int t = 0; t < T; t++) {
            __m512i s;
            DOT_WORDS(s, _mm512_set1_epi32(ca[t][b]), wv, 8, qa[t] + 32 * b, Q4_0_OFF, T);
            const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(da[t][b]));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), scale, acc[t]);
        }
    }
    UNROLL
    for (int t = 0; t < T; t++) store_rows(y + (size_t)t * ldy, acc[t], n_rows);
}

/* ======================= Q4_K ======================= */

#define Q4_K_OFF(c) (4 * (c))

AVX512 INLINE void q4_K_tile(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, const int T,
                             float *y, size_t ldy, int n_rows) {
    const int64_t nb = w->n_blocks, n_in = w->n_in;
    const uint8_t *body = panel + (size_t)nb * 64;
    const __m512i m4 = _mm512_set1_epi8(0x0F), m6 = _mm512_set1_epi8(0x3F), m2 = _mm512_set1_epi8(0x03);
    const __m512i lo_bytes = _mm512_set1_epi32(0x00FF00FF), byte0 = _mm512_set1_epi32(0xFF);
    __m512 acc[GEMM_MAX_T];
    const int8_t *qa[GEMM_MAX_T];
    const float *da[GEMM_MAX_T];
    const int32_t *mp[GEMM_MAX_T];
    UNROLL
    for (int t = 0; t < T; t++) {
        acc[t] = _mm512_setzero_ps();
        qa[t] = (const int8_t *)act[t];
        da[t] = gemm_act_d(act[t], n_in);
        mp[t] = (const int32_t *)(da[t] + nb);
    }
    for (int64_t b = 0; b < nb; b++, body += 2240) {
        /* the 6-bit scales of sub-blocks 0-3 and 4-7, one byte each, per row lane (kumo_k4_scales) */
        const __m512i w0 = _mm512_loadu_si512(body), w2 = _mm512_loadu_si512(body + 128);
        const __m512i s03 = _mm512_and_si512(w0, m6);
        const __m512i s47 = _mm512_or_si512(_mm512_and_si512(w2, m4),
                                             _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(w0, 6), m2), 4));
        __m512i isum[GEMM_MAX_T];
        UNROLL
        for (int t = 0; t < T; t++) isum[t] = _mm512_setzero_si512();
        UNROLL
        for (int j = 0; j < 8; j++) {
            const __m512i s = j < 4 ? s03 : s47;
            const __m512i sc = _mm512_and_si512(_mm512_srli_epi32(s, 8 * (j % 4)), byte0);
            const uint8_t *g = body + 192 + 64 * 8 * (j / 2);
            __m512i wv[8];
            UNROLL
            for (int c = 0; c < 8; c++) {
                const __m512i v = _mm512_loadu_si512(g + 64 * c);
                wv[c] = _mm512_and_si512(j % 2 ? _mm512_srli_epi16(v, 4) : v, m4);
            }
            UNROLL
            for (int t = 0; t < T; t++) {
                __m512i d;
                DOT_WORDS(d, _mm512_setzero_si512(), wv, 8, qa[t] + QK_K * b + 32 * j, Q4_K_OFF, T);
                isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(d, sc));
            }
        }
        /* mins as int16 pairs matching the activation's (A0,A2) (A1,A3) (A4,A6) (A5,A7) words */
        const __m512i w1 = _mm512_loadu_si512(body + 64);
        const __m512i m03 = _mm512_and_si512(w1, m6);
        const __m512i m47 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(w2, 4), m4),
                                            _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(w1, 6), m2), 4));
        const __m512i mp0 = _mm512_and_si512(m03, lo_bytes), mp1 = _mm512_and_si512(_mm512_srli_epi32(m03, 8), lo_bytes);
        const __m512i mp2 = _mm512_and_si512(m47, lo_bytes), mp3 = _mm512_and_si512(_mm512_srli_epi32(m47, 8), lo_bytes);
        const __m512 dw = load_halves(panel + 64 * b), dmw = load_halves(panel + 64 * b + 32);
        UNROLL
        for (int t = 0; t < T; t++) {
            const int32_t *m = mp[t] + 4 * b;
            __m512i ms = _mm512_dpwssd_epi32(_mm512_setzero_si512(), mp0, _mm512_set1_epi32(m[0]));
            ms = _mm512_dpwssd_epi32(ms, mp1, _mm512_set1_epi32(m[1]));
            ms = _mm512_dpwssd_epi32(ms, mp2, _mm512_set1_epi32(m[2]));
            ms = _mm512_dpwssd_epi32(ms, mp3, _mm512_set1_epi32(m[3]));
            const __m512 dd = _mm512_set1_ps(da[t][b]);
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(dw, dd), acc[t]);
            acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(ms), _mm512_mul_ps(dmw, dd), acc[t]);
        }
    }
    UNROLL
    for (int t = 0; t < T; t++) store_rows(y + (size_t)t * ldy, acc[t], n_rows);
}

/* ======================= Q6_K ======================= */

#define Q6_K_OFF(c) (4 * (c))

AVX512 INLINE void q6_K_tile(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, const int T,
                             float *y, size_t ldy, int n_rows) {
    const int64_t nb = w->n_blocks, n_in = w->n_in;
    const uint8_t *body = panel + (size_t)nb * 32;
    const __m512i lo_nib = _mm512_set1_epi8(0x0F), m33 = _mm512_set1_epi8(0x33), mcc = _mm512_set1_epi8((char)0xCC);
    __m512 acc[GEMM_MAX_T];
    const int8_t *qa[GEMM_MAX_T];
    const float *da[GEMM_MAX_T];
    const int32_t *bp[GEMM_MAX_T];
    UNROLL
    for (int t = 0; t < T; t++) {
        acc[t] = _mm512_setzero_ps();
        qa[t] = (const int8_t *)act[t];
        da[t] = gemm_act_d(act[t], n_in);
        bp[t] = (const int32_t *)(da[t] + nb) + 4 * nb;
    }
    for (int64_t b = 0; b < nb; b++, body += 3328) {
        __m512i isum[GEMM_MAX_T];
        UNROLL
        for (int t = 0; t < T; t++) isum[t] = _mm512_setzero_si512();
        UNROLL
        for (int j = 0; j < 16; j++) {
            /* sub-block j = elements 128h + 32tq + l, l in 16g..16g+15 (see q6_K_unpack) */
            const int h = j / 8, tq = (j % 8) / 2, g = j % 2;
            const __m512i sw = _mm512_loadu_si512(body + 64 * (j / 4));
            const __m512i sc = _mm512_srai_epi32(_mm512_slli_epi32(sw, 24 - 8 * (j % 4)), 24);
            __m512i wv[4];
            UNROLL
            for (int c = 0; c < 4; c++) {
                const int qlw = 16 * h + 8 * (tq & 1) + 4 * g + c, qhw = 8 * h + 4 * g + c;
                __m512i lo = _mm512_loadu_si512(body + 256 + 64 * qlw);
                const __m512i qh = _mm512_loadu_si512(body + 2304 + 64 * qhw);
                if (tq >= 2) lo = _mm512_srli_epi16(lo, 4);
                __m512i hi; /* the two high bits moved to bits 4-5 of each byte, bits 6-7 clear */
                if (tq == 0) hi = _mm512_slli_epi16(_mm512_and_si512(qh, m33), 4);
                else if (tq == 1) hi = _mm512_slli_epi16(_mm512_and_si512(qh, mcc), 2);
                else if (tq == 2) hi = _mm512_and_si512(qh, m33);
                else hi = _mm512_srli_epi16(_mm512_and_si512(qh, mcc), 2);
                wv[c] = _mm512_ternarylogic_epi32(lo, hi, lo_nib, 0xE4); /* lo_nib ? lo : hi, bitwise */
            }
            UNROLL
            for (int t = 0; t < T; t++) {
                __m512i d;
                DOT_WORDS(d, _mm512_setzero_si512(), wv, 4, qa[t] + QK_K * b + 128 * h + 32 * tq + 16 * g, Q6_K_OFF,
                          T);
                isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(d, sc));
            }
        }
        /* Σ_j sc_j · B_j with the scales as int16 pairs (sc0,sc2) (sc1,sc3) ... like the activation */
        __m512i ev[4], od[4];
        UNROLL
        for (int s = 0; s < 4; s++) {
            const __m512i sw = _mm512_loadu_si512(body + 64 * s);
            ev[s] = _mm512_srai_epi16(_mm512_slli_epi16(sw, 8), 8);
            od[s] = _mm512_srai_epi16(sw, 8);
        }
        const __m512 dw = load_halves(panel + 32 * b);
        UNROLL
        for (int t = 0; t < T; t++) {
            const int32_t *p = bp[t] + 8 * b;
            __m512i cs = _mm512_setzero_si512();
            UNROLL
            for (int s = 0; s < 4; s++) {
                cs = _mm512_dpwssd_epi32(cs, ev[s], _mm512_set1_epi32(p[2 * s]));
                cs = _mm512_dpwssd_epi32(cs, od[s], _mm512_set1_epi32(p[2 * s + 1]));
            }
            const __m512i total = _mm512_sub_epi32(isum[t], _mm512_slli_epi32(cs, 5));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(total), _mm512_mul_ps(dw, _mm512_set1_ps(da[t][b])), acc[t]);
        }
    }
    UNROLL
    for (int t = 0; t < T; t++) store_rows(y + (size_t)t * ldy, acc[t], n_rows);
}

/* One entry point per type: T becomes a constant in each specialised copy of the tile. */
#define KERNEL_FOR(name, tile)                                                                       \
    AVX512 static void name(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, int T, \
                            float *y, size_t ldy, int n_rows) {                                       \
        switch (T) {                                                                                 \
        case 1: tile(w, panel, act, 1, y, ldy, n_rows); break;                                       \
        case 2: tile(w, panel, act, 2, y, ldy, n_rows); break;                                       \
        case 3: tile(w, panel, act, 3, y, ldy, n_rows); break;                                       \
        case 4: tile(w, panel, act, 4, y, ldy, n_rows); break;                                       \
        case 5: tile(w, panel, act, 5, y, ldy, n_rows); break;                                       \
        case 6: tile(w, panel, act, 6, y, ldy, n_rows); break;                                       \
        case 7: tile(w, panel, act, 7, y, ldy, n_rows); break;                                       \
        default: tile(w, panel, act, 8, y, ldy, n_rows); break;                                      \
        }                                                                                            \
    }

KERNEL_FOR(q8_0_kernel_avx512, q8_0_tile)
KERNEL_FOR(q4_0_kernel_avx512, q4_0_tile)
KERNEL_FOR(q4_K_kernel_avx512, q4_K_tile)
KERNEL_FOR(q6_K_kernel_avx512, q6_K_tile)

void gemm_kernels_avx512(gemm_kernel_fn table[]) {
    table[GGML_TYPE_Q8_0] = q8_0_kernel_avx512;
    table[GGML_TYPE_Q4_0] = q4_0_kernel_avx512;
    table[GGML_TYPE_Q4_K] = q4_K_kernel_avx512;
    table[GGML_TYPE_Q6_K] = q6_K_kernel_avx512;
}

#else

void gemm_kernels_avx512(gemm_kernel_fn table[]) { (void)table; }

#endif
