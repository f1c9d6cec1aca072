/* AVX2 kernels of gemm.h for all ten packed types (Q8_0, Q4_0, Q5_0, Q4_1, Q5_1, Q2_K-Q6_K). A
 * 256-bit register holds 8 of a panel's 16 row lanes, so each 64-byte word group is two halves: rows
 * 0-7, then rows 8-15. Integer dots use maddubs (unsigned × signed byte pairs into 16-bit sums) and madd
 * (pairs into 32-bit lanes); the float work per block is the same as the AVX-512 kernels': one
 * multiply of the two scales and one multiply-add per row lane, in block order, so results do not
 * depend on the tile either. */
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

/* Each token's 16 row results of a pass: both 8-row halves, the second cut to n_rows - 8. */
AVX2 INLINE void store_tokens(const int TT, __m256 acc[2][PAIR], float *y, size_t ldy, int n_rows) {
    UNROLL
    for (int t = 0; t < TT; t++) {
        store8(y + (size_t)t * ldy, acc[0][t], n_rows);
        store8(y + (size_t)t * ldy + 8, acc[1][t], n_rows - 8);
    }
}

/* Two barriers for the Q6_K pass over two tokens, where registers run short. opaque(v) is v, but a chain
 * of integer adds through it stays a chain (GCC otherwise reassociates a block's sums into one wide
 * tree, computing every product first and spilling them). opaque_ptr(p) is p, but loads through it
 * are not merged with the same loads elsewhere (re-reading a word from L1 is cheaper than the spill
 * GCC makes to keep it). Q6_K GEMM measured 63 -> 72 GMAC/s with both; with one token they cost
 * (there GCC has registers to spare), and Q2_K and Q3_K gain nothing from them. */
AVX2 INLINE __m256i opaque(__m256i v) {
    __asm__("" : "+x"(v));
    return v;
}

INLINE const uint8_t *opaque_ptr(const uint8_t *p) {
    __asm__("" : "+r"(p));
    return p;
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
AVX2 INLINE void q8_0_block(const int TT, const uint8_t *hdr, const uint8_t *body, int64_t b,
                            const int8_t *const *qa, const float *const *da, __m256 acc[2][PAIR]) {
    const __m256i flip = _mm256_set1_epi8((char)0x80), ones = _mm256_set1_epi16(1);
    __m256i s[2][PAIR];
    /* both halves word by word, so the reads walk forward through the body as it is packed (half by
     * half they skipped every other 32 bytes, then went back over the block) and the activation
     * broadcasts serve both halves. The sums go through opaque() so they stay chains in word order:
     * without it GCC (with the two-token pass in the same kernel) made them a tree, loaded the words
     * out of order and spilled, and one token ran no faster than before. One token 0.70 -> 0.98 of a
     * plain read, GEMM 45 -> 58 GMAC/s. */
    UNROLL
    for (int c = 0; c < 8; c++) {
        UNROLL
        for (int hf = 0; hf < 2; hf++) {
            const __m256i ws = _mm256_xor_si256(load32(body + 64 * c + 32 * hf), flip);
            const __m256i wa = _mm256_sign_epi8(ws, ws);
            UNROLL
            for (int t = 0; t < TT; t++) {
                const __m256i p = _mm256_maddubs_epi16(wa, _mm256_sign_epi8(bcast4(qa[t] + 32 * b + 4 * c), ws));
                const __m256i d = _mm256_madd_epi16(p, ones);
                s[hf][t] = opaque(c ? _mm256_add_epi32(s[hf][t], d) : d);
            }
        }
    }
    UNROLL
    for (int hf = 0; hf < 2; hf++) {
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(hdr + 16 * hf)));
        UNROLL
        for (int t = 0; t < TT; t++)
            acc[hf][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[hf][t]), _mm256_mul_ps(dw, _mm256_set1_ps(da[t][b])),
                                         acc[hf][t]);
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
        q8_0_block(TT, hdr, body, b, qa, da, acc);
    }
    store_tokens(TT, acc, y, ldy, n_rows);
}

/* ======================= Q4_0, Q5_0, Q4_1, Q5_1 ======================= */

/* Bit `from` of every byte of h moved to bit 4, the other bits cleared (16-bit shifts: the bits
 * that cross into the neighbouring byte are masked off). */
AVX2 INLINE __m256i bit_to_bit4(__m256i h, int from) {
    const __m256i bit4 = _mm256_set1_epi8(0x10);
    if (from < 4) return _mm256_and_si256(_mm256_slli_epi16(h, 4 - from), bit4);
    if (from > 4) return _mm256_and_si256(_mm256_srli_epi16(h, from - 4), bit4);
    return _mm256_and_si256(h, bit4);
}

/* One half of a 32-block of the nibble types (see nib_block in gemm_avx512.c): QH adds the fifth
 * bits (pack_q5_0's regrouped byte per word), MIN the m·(d_a Σq_a) term; otherwise the sums start
 * from the offset bias. Nibbles are unsigned already: Σ(q - 8)·a = Σ q·a - 8·Σa. */
AVX2 INLINE void nib_half(const int QH, const int MIN, const int TT, const uint8_t *hdr, const uint8_t *body,
                          int half, int64_t b, const int8_t *const *qa, const float *const *da,
                          const int32_t *const *ca, const float *const *ms, __m256 *acc) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(hdr + 16 * half)));
    const uint8_t *qs = body + (QH ? 64 : 0);
    const __m256i h = QH ? load32(body + 32 * half) : _mm256_setzero_si256();
    __m256i u[8];
    UNROLL
    for (int c = 0; c < 4; c++) {
        const __m256i v = load32(qs + 64 * c + 32 * half);
        u[2 * c] = _mm256_and_si256(v, m4);                           /* elements 4c.. */
        u[2 * c + 1] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4); /* elements 16+4c.. */
        if (QH) {
            u[2 * c] = _mm256_or_si256(u[2 * c], bit_to_bit4(h, c));
            u[2 * c + 1] = _mm256_or_si256(u[2 * c + 1], bit_to_bit4(h, 4 + c));
        }
    }
    static const int off4[8] = {0, 16, 4, 20, 8, 24, 12, 28};
    UNROLL
    for (int t = 0; t < TT; t++) {
        const __m256i s = dot_words_u8(u, qa[t] + 32 * b, off4, MIN ? _mm256_setzero_si256() : _mm256_set1_epi32(ca[t][b]));
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(dw, _mm256_set1_ps(da[t][b])), acc[t]);
        if (MIN) {
            const __m256 mw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(hdr + 32 + 16 * half)));
            acc[t] = _mm256_fmadd_ps(mw, _mm256_set1_ps(ms[t][b]), acc[t]);
        }
    }
}

AVX2 INLINE void nib_pass(const int QH, const int MIN, const kumo_packed *w, const uint8_t *panel,
                          const uint8_t *const *act, const int TT, float *y, size_t ldy, int n_rows) {
    const int64_t nb = w->n_blocks;
    const size_t body_bytes = QH ? 320 : 256;
    const int8_t *qa[PAIR];
    const float *da[PAIR], *ms[PAIR];
    const int32_t *ca[PAIR];
    __m256 acc[2][PAIR];
    UNROLL
    for (int t = 0; t < TT; t++) {
        qa[t] = (const int8_t *)act[t];
        da[t] = gemm_act_d(act[t], w->n_in);
        ca[t] = gemm_act_sums(act[t], w->n_in, nb, QH ? GEMM_SUMS_C16 : GEMM_SUMS_C8);
        ms[t] = (const float *)gemm_act_sums(act[t], w->n_in, nb, GEMM_SUMS_DSUM);
        acc[0][t] = acc[1][t] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *hdr, *body;
        if (MIN) { /* one block per group: d and m headers, then the body */
            hdr = panel + (size_t)b * (64 + body_bytes);
            body = hdr + 64;
        } else { /* two blocks per group: 64 bytes of headers, then the two bodies */
            const uint8_t *grp = panel + (size_t)(b >> 1) * (64 + 2 * body_bytes);
            hdr = grp + (b & 1) * 32;
            body = grp + 64 + (b & 1) * body_bytes;
        }
        nib_half(QH, MIN, TT, hdr, body, 0, b, qa, da, ca, ms, acc[0]);
        nib_half(QH, MIN, TT, hdr, body, 1, b, qa, da, ca, ms, acc[1]);
    }
    store_tokens(TT, acc, y, ldy, n_rows);
}

AVX2 INLINE void q4_0_pass(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, const int TT,
                           float *y, size_t ldy, int n_rows) {
    nib_pass(0, 0, w, panel, act, TT, y, ldy, n_rows);
}

AVX2 INLINE void q5_0_pass(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, const int TT,
                           float *y, size_t ldy, int n_rows) {
    nib_pass(1, 0, w, panel, act, TT, y, ldy, n_rows);
}

AVX2 INLINE void q4_1_pass(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, const int TT,
                           float *y, size_t ldy, int n_rows) {
    nib_pass(0, 1, w, panel, act, TT, y, ldy, n_rows);
}

AVX2 INLINE void q5_1_pass(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, const int TT,
                           float *y, size_t ldy, int n_rows) {
    nib_pass(1, 1, w, panel, act, TT, y, ldy, n_rows);
}

/* ======================= Q4_K, Q5_K ======================= */

/* A 256-block (see k4_tile in gemm_avx512.c), both halves at once word by word, so the reads walk
 * forward through the body as it is packed (half by half they skipped every other 32 bytes, then went
 * back over the whole block: one token Q4_K 7.0 -> 5.1 ms on micro_gemm 2048 x 128256, GEMM 47 -> 77
 * GMAC/s, Q5_K GEMM 37 -> 56). Per 32-element sub-block j an exact integer dot (nibble j%2 of its qs
 * words, and for Q5_K the fifth bit j of its qh word) times the row's 6-bit scale; the mins term from
 * the activation's sub-block sum pairs; then the two float multiply-adds of the AVX-512 kernel in the
 * same order. */
AVX2 INLINE void k4_block(const int QH, const int TT, const uint8_t *hdr, const uint8_t *body, int64_t b,
                          const int8_t *const *qa, const float *const *da, const int32_t *const *mp,
                          __m256 acc[2][PAIR]) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m6 = _mm256_set1_epi8(0x3F), m2 = _mm256_set1_epi8(0x03);
    const __m256i byte0 = _mm256_set1_epi32(0xFF), lo_bytes = _mm256_set1_epi32(0x00FF00FF);
    /* words summed in 16 bits before the madd with the scale: 8 · 2 pairs · 15 · 128 = 30720 < 2^15
     * for Q4_K, 4 · 2 · 31 · 128 = 31744 for Q5_K */
    const int GRP = QH ? 4 : 8;
    const uint8_t *qs = body + (QH ? 704 : 192);
    __m256i isum[2][PAIR];
    UNROLL
    for (int j = 0; j < 8; j++) {
        __m256i sc[2];
        UNROLL
        for (int hf = 0; hf < 2; hf++) {
            const __m256i w0 = load32(body + 32 * hf);
            const __m256i sv = j < 4 ? _mm256_and_si256(w0, m6)
                                     : _mm256_or_si256(_mm256_and_si256(load32(body + 128 + 32 * hf), m4),
                                                       _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(w0, 6), m2), 4));
            sc[hf] = _mm256_and_si256(_mm256_srli_epi32(sv, 8 * (j % 4)), byte0);
        }
        /* the row's scale in both 16-bit halves of its lane, for one madd with the 16-bit sums */
        UNROLL
        for (int hf = 0; hf < 2; hf++) sc[hf] = _mm256_or_si256(sc[hf], _mm256_slli_epi32(sc[hf], 16));
        __m256i s16[2][PAIR];
        /* the qh words are read again for every sub-block, through a barrier so GCC does not share
         * the loads between sub-blocks (one token Q5_K: 10.6 ms without it, 9.0 with, 9.6 before) */
        const uint8_t *bj = QH ? opaque_ptr(body) : body;
        UNROLL
        for (int c = 0; c < 8; c++) {
            UNROLL
            for (int hf = 0; hf < 2; hf++) {
                const __m256i v = load32(qs + 64 * (8 * (j / 2) + c) + 32 * hf);
                __m256i u = _mm256_and_si256(j % 2 ? _mm256_srli_epi16(v, 4) : v, m4);
                if (QH) u = _mm256_or_si256(u, bit_to_bit4(load32(bj + 192 + 64 * c + 32 * hf), j));
                UNROLL
                for (int t = 0; t < TT; t++) {
                    const __m256i p = _mm256_maddubs_epi16(u, bcast4(qa[t] + QK_K * b + 32 * j + 4 * c));
                    s16[hf][t] = c % GRP ? _mm256_add_epi16(s16[hf][t], p) : p;
                    if (c % GRP == GRP - 1) {
                        const __m256i x = _mm256_madd_epi16(s16[hf][t], sc[hf]);
                        isum[hf][t] = j || c >= GRP ? _mm256_add_epi32(isum[hf][t], x) : x;
                    }
                }
            }
        }
    }
    UNROLL
    for (int hf = 0; hf < 2; hf++) {
        const __m256i w1 = load32(body + 64 + 32 * hf), w2 = load32(body + 128 + 32 * hf);
        const __m256i m03 = _mm256_and_si256(w1, m6);
        const __m256i m47 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(w2, 4), m4),
                                            _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(w1, 6), m2), 4));
        const __m256i mp0 = _mm256_and_si256(m03, lo_bytes), mp1 = _mm256_and_si256(_mm256_srli_epi32(m03, 8), lo_bytes);
        const __m256i mp2 = _mm256_and_si256(m47, lo_bytes), mp3 = _mm256_and_si256(_mm256_srli_epi32(m47, 8), lo_bytes);
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(hdr + 16 * hf)));
        const __m256 dmw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(hdr + 32 + 16 * hf)));
        UNROLL
        for (int t = 0; t < TT; t++) {
            const int32_t *m = mp[t] + 4 * b;
            __m256i msum = _mm256_madd_epi16(mp0, _mm256_set1_epi32(m[0]));
            msum = _mm256_add_epi32(msum, _mm256_madd_epi16(mp1, _mm256_set1_epi32(m[1])));
            msum = _mm256_add_epi32(msum, _mm256_madd_epi16(mp2, _mm256_set1_epi32(m[2])));
            msum = _mm256_add_epi32(msum, _mm256_madd_epi16(mp3, _mm256_set1_epi32(m[3])));
            const __m256 dd = _mm256_set1_ps(da[t][b]);
            acc[hf][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[hf][t]), _mm256_mul_ps(dw, dd), acc[hf][t]);
            acc[hf][t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_mul_ps(dmw, dd), acc[hf][t]);
        }
    }
}

AVX2 INLINE void k4_pass(const int QH, const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act,
                         const int TT, float *y, size_t ldy, int n_rows) {
    const int64_t nb = w->n_blocks;
    const int8_t *qa[PAIR];
    const float *da[PAIR];
    const int32_t *mp[PAIR];
    __m256 acc[2][PAIR];
    UNROLL
    for (int t = 0; t < TT; t++) {
        qa[t] = (const int8_t *)act[t];
        da[t] = gemm_act_d(act[t], w->n_in);
        mp[t] = gemm_act_sums(act[t], w->n_in, nb, GEMM_SUMS_MIN_PAIRS);
        acc[0][t] = acc[1][t] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < nb; b++) {
        /* one block per group: 64 bytes of headers (d, dmin), then the body */
        const uint8_t *hdr = panel + (size_t)b * (QH ? 2816 : 2304), *body = hdr + 64;
        k4_block(QH, TT, hdr, body, b, qa, da, mp, acc);
    }
    store_tokens(TT, acc, y, ldy, n_rows);
}

AVX2 INLINE void q4_K_pass(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, const int TT,
                           float *y, size_t ldy, int n_rows) {
    k4_pass(0, w, panel, act, TT, y, ldy, n_rows);
}

AVX2 INLINE void q5_K_pass(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, const int TT,
                           float *y, size_t ldy, int n_rows) {
    k4_pass(1, w, panel, act, TT, y, ldy, n_rows);
}

/* The pass of a 256-block type over a panel for TT tokens: groups of GROUP blocks, 64 bytes of
 * headers (32 per block) followed by their BODY-byte bodies (the layouts of gemm.c), each block done
 * by BLOCK with both halves' accumulators. */
#define KQUANT_PASS(name, BLOCK, GROUP, BODY)                                                        \
    AVX2 INLINE void name(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, const int TT, \
                          float *y, size_t ldy, int n_rows) {                                           \
        const int64_t nb = w->n_blocks;                                                                 \
        const int8_t *qa[PAIR];                                                                         \
        const float *da[PAIR];                                                                          \
        const int32_t *bp[PAIR];                                                                        \
        __m256 acc[2][PAIR];                                                                            \
        UNROLL                                                                                          \
        for (int t = 0; t < TT; t++) {                                                                  \
            qa[t] = (const int8_t *)act[t];                                                             \
            da[t] = gemm_act_d(act[t], w->n_in);                                                        \
            bp[t] = gemm_act_sums(act[t], w->n_in, nb, GEMM_SUMS_B_PAIRS);                              \
            acc[0][t] = acc[1][t] = _mm256_setzero_ps();                                                \
        }                                                                                               \
        for (int64_t b = 0; b < nb; b++) {                                                              \
            const uint8_t *grp = panel + (size_t)(b / (GROUP)) * (64 + (GROUP) * (BODY));               \
            BLOCK(TT, grp + (b % (GROUP)) * 32, grp + 64 + (b % (GROUP)) * (BODY), b, qa, da, bp, acc);  \
        }                                                                                               \
        store_tokens(TT, acc, y, ldy, n_rows);                                                          \
    }

/* Word c of a sub-block for both halves and every token: the maddubs pairs of u[hf] and the token's 4
 * activation bytes at offset `at`, summed in 16 bits into s[hf][t] (started by word 0). */
AVX2 INLINE void sum16_word(const int TT, const __m256i u[2], const int8_t *const *qa, int64_t at, int c,
                            __m256i s[2][PAIR]) {
    UNROLL
    for (int t = 0; t < TT; t++) {
        const __m256i a = bcast4(qa[t] + at);
        UNROLL
        for (int hf = 0; hf < 2; hf++) {
            const __m256i d = _mm256_maddubs_epi16(u[hf], a);
            s[hf][t] = c ? _mm256_add_epi16(s[hf][t], d) : d;
        }
    }
}

/* 16-bit sums s of the 16-element sub-block 8n + 2k + g of both halves for every token (Q2_K):
 * plane k (bits 2k, 2k+1) of the quant words 8n + 4g .. +3 at qs, each word's maddubs with the
 * activations from element `at` on; m2 = 0x03 in every byte. */
AVX2 INLINE void plane_subblock_sums(const int TT, const uint8_t *qs, int n, int k, int g, __m256i m2,
                                     const int8_t *const *qa, int64_t at, __m256i s[2][PAIR]) {
    UNROLL
    for (int c = 0; c < 4; c++) {
        __m256i u[2];
        UNROLL
        for (int hf = 0; hf < 2; hf++) {
            const __m256i v = load32(qs + 64 * (8 * n + 4 * g + c) + 32 * hf);
            u[hf] = _mm256_and_si256(k ? _mm256_srli_epi16(v, 2 * k) : v, m2);
        }
        sum16_word(TT, u, qa, at + 4 * c, c, s);
    }
}

/* isum[t] += s[t] · sc for one half (pairs of 16-bit products summed into each 32-bit lane) */
AVX2 INLINE void add_scaled_sums(const int TT, const __m256i s[PAIR], __m256i sc, __m256i isum[PAIR]) {
    UNROLL
    for (int t = 0; t < TT; t++) isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(s[t], sc));
}

/* ======================= Q2_K ======================= */

/* Both halves of a block at once (as Q6_K below). Sub-block j = 8n + 2k + g is plane k (bits 2k,
 * 2k+1) of qs words 8n + 4g .. +3: four maddubs of quants u (0-3, unsigned) with activations a
 * (signed, |a| <= 128) summed in 16 bits (4 words · 2 pairs · 3 · 128 = 3072 < 2^15), then one madd
 * with the row's 4-bit scale in both 16-bit halves of its lane. The mins term Σ m_j B_j is one madd
 * per pair p of the (m_2p, m_2p+1) pairs with the activation's (B_2p, B_2p+1). Then the AVX-512
 * kernel's two float multiply-adds. */
AVX2 INLINE void q2_K_block(const int TT, const uint8_t *hdr, const uint8_t *body, int64_t b, const int8_t *const *qa,
                            const float *const *da, const int32_t *const *bp, __m256 acc[2][PAIR]) {
    const __m256i m2 = _mm256_set1_epi8(0x03), m4w = _mm256_set1_epi16(0x0F);
    /* from (s_2p, s_2p+1) as int16 in each 32-bit lane: the scale of sub-block 2p (g = 0) or 2p+1 in
     * both halves (byte indices of vpshufb count within each 16-byte half of the register) */
    const __m256i dup_g[2] = {
        _mm256_broadcastsi128_si256(_mm_setr_epi8(0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13)),
        _mm256_broadcastsi128_si256(_mm_setr_epi8(2, 3, 2, 3, 6, 7, 6, 7, 10, 11, 10, 11, 14, 15, 14, 15))};
    __m256i isum[2][PAIR];
    UNROLL
    for (int t = 0; t < TT; t++) isum[0][t] = isum[1][t] = _mm256_setzero_si256();
    UNROLL
    for (int p = 0; p < 8; p++) {
        const int n = p / 4, k = p % 4;
        __m256i sc[2];
        UNROLL
        for (int hf = 0; hf < 2; hf++)
            sc[hf] = _mm256_and_si256(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(body + 32 * p + 16 * hf))),
                                      m4w);
        UNROLL
        for (int g = 0; g < 2; g++) {
            __m256i s[2][PAIR];
            plane_subblock_sums(TT, body + 256, n, k, g, m2, qa, QK_K * b + 128 * n + 32 * k + 16 * g, s);
            UNROLL
            for (int hf = 0; hf < 2; hf++) add_scaled_sums(TT, s[hf], _mm256_shuffle_epi8(sc[hf], dup_g[g]), isum[hf]);
        }
    }
    UNROLL
    for (int hf = 0; hf < 2; hf++) {
        __m256i msum[PAIR];
        UNROLL
        for (int t = 0; t < TT; t++) msum[t] = _mm256_setzero_si256();
        UNROLL
        for (int p = 0; p < 8; p++) {
            const __m128i sm = _mm_loadu_si128((const __m128i *)(body + 32 * p + 16 * hf));
            const __m256i mins = _mm256_srli_epi16(_mm256_cvtepu8_epi16(sm), 4);
            UNROLL
            for (int t = 0; t < TT; t++)
                msum[t] = _mm256_add_epi32(msum[t], _mm256_madd_epi16(mins, _mm256_set1_epi32(bp[t][8 * b + p])));
        }
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(hdr + 16 * hf)));
        const __m256 dmw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(hdr + 32 + 16 * hf)));
        UNROLL
        for (int t = 0; t < TT; t++) {
            const __m256 dd = _mm256_set1_ps(da[t][b]);
            acc[hf][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[hf][t]), _mm256_mul_ps(dw, dd), acc[hf][t]);
            acc[hf][t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum[t]), _mm256_mul_ps(dmw, dd), acc[hf][t]);
        }
    }
}

KQUANT_PASS(q2_K_pass, q2_K_block, 1, 1280) /* Q2_K: d and dmin headers, one block a group */

/* ======================= Q3_K ======================= */

/* The scales of sub-blocks 4q..4q+3 of one half's rows (kumo's Q3_K scale packing, minus 32), one
 * signed byte each per row lane (as q3_K_scales in gemm_avx512.c). */
AVX2 INLINE __m256i q3_K_scales4(const uint8_t *body, int hf, int q) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x03);
    const __m256i lo = load32(body + 64 * (q % 2) + 32 * hf), a2 = load32(body + 128 + 32 * hf);
    const __m256i hi = _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(a2, 2 * q), m2), 4);
    return _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(q < 2 ? lo : _mm256_srli_epi32(lo, 4), m4), hi),
                           _mm256_set1_epi8(32));
}

/* Bytes r0 and r1 of every 32-bit lane of v as the high bytes of its two int16 halves (low bytes
 * zero): a signed byte s becomes 256 s, so an arithmetic shift then scales it down exactly. */
AVX2 INLINE __m256i bytes_to_high16(__m256i v, int r0, int r1) {
    const __m256i lanes = _mm256_broadcastsi128_si256(
        _mm_setr_epi8(-128, 0, -128, 0, -128, 4, -128, 4, -128, 8, -128, 8, -128, 12, -128, 12));
    /* indices with the top bit set give zero, whatever is added to them */
    return _mm256_shuffle_epi8(v, _mm256_add_epi8(lanes, _mm256_set1_epi32(r0 << 8 | r1 << 24)));
}

/* 16-bit sums s of the first (g = 0) or second sub-block of the triple at x (pack_q3_K) for both
 * halves and every token: quants 0-7 in bits 0-2, each word's maddubs with the activations from
 * element `at` on. */
AVX2 INLINE void q3_K_subblock_sums(const int TT, const uint8_t *x, int g, const int8_t *const *qa, int64_t at,
                                    __m256i s[2][PAIR]) {
    const __m256i m7 = _mm256_set1_epi8(0x07), m3 = _mm256_set1_epi8(0x03), b2 = _mm256_set1_epi8(0x04);
    UNROLL
    for (int c = 0; c < 4; c++) {
        __m256i u[2];
        UNROLL
        for (int hf = 0; hf < 2; hf++) {
            if (g == 0 || c < 2) { /* X0, X1 (g = 0) or X2 (g = 1): bits 0-2 or 3-5 */
                const __m256i v = load32(x + 64 * (g ? 2 : c / 2) + 32 * hf);
                u[hf] = _mm256_and_si256((g ? c : c % 2) ? _mm256_srli_epi16(v, 3) : v, m7);
            } else { /* bits 6-7 of X0 (c = 2) or X1 (c = 3), bit 6 or 7 of X2 */
                const __m256i lo = _mm256_srli_epi16(load32(x + 64 * (c - 2) + 32 * hf), 6);
                const __m256i hi = _mm256_srli_epi16(load32(x + 128 + 32 * hf), c + 2);
                u[hf] = _mm256_or_si256(_mm256_and_si256(lo, m3), _mm256_and_si256(hi, b2));
            }
        }
        sum16_word(TT, u, qa, at + 4 * c, c, s);
    }
}

/* Both halves of a block at once (as Q6_K below). Sub-blocks 4q + r and 4q + r + 2 come from triple
 * 2q + r (q3_K_subblock_sums): quants u (0-7, unsigned); four
 * maddubs with activations a (signed, |a| <= 128) summed in 16 bits (4 words · 2 pairs · 7 · 128 =
 * 7168 < 2^15), then one madd with 8 × the row's scale (|.| <= 256) in both 16-bit halves of its
 * lane. The -4 offset of the quants is one madd per scale pair p = 2q + r/2: (32 sc_2p, 32 sc_2p+1)
 * (|.| <= 1024) with the activation's (B_2p, B_2p+1) (|.| <= 2048). So isum = 8 Σ sc (u - 4) a,
 * the reference kernel's, and the factor 8 goes into the float scale as there. */
AVX2 INLINE void q3_K_block(const int TT, const uint8_t *hdr, const uint8_t *body, int64_t b, const int8_t *const *qa,
                            const float *const *da, const int32_t *const *bp, __m256 acc[2][PAIR]) {
    __m256i isum[2][PAIR];
    UNROLL
    for (int t = 0; t < TT; t++) isum[0][t] = isum[1][t] = _mm256_setzero_si256();
    UNROLL
    for (int q = 0; q < 4; q++) {
        __m256i sv[2];
        UNROLL
        for (int hf = 0; hf < 2; hf++) {
            sv[hf] = q3_K_scales4(body, hf, q);
            UNROLL
            for (int r = 0; r < 4; r += 2) { /* sub-blocks 4q + r and 4q + r + 1: pair p = 2q + r/2 */
                const __m256i sp = _mm256_srai_epi16(bytes_to_high16(sv[hf], r, r + 1), 3);
                UNROLL
                for (int t = 0; t < TT; t++)
                    isum[hf][t] = _mm256_sub_epi32(isum[hf][t],
                                                   _mm256_madd_epi16(sp, _mm256_set1_epi32(bp[t][8 * b + 2 * q + r / 2])));
            }
        }
        UNROLL
        for (int r = 0; r < 2; r++)
            UNROLL
            for (int g = 0; g < 2; g++) {
                const int k = r + 2 * g; /* sub-block 4q + k */
                __m256i s[2][PAIR];
                q3_K_subblock_sums(TT, body + 192 + 192 * (2 * q + r), g, qa, QK_K * b + 16 * (4 * q + k), s);
                UNROLL
                for (int hf = 0; hf < 2; hf++)
                    add_scaled_sums(TT, s[hf], _mm256_srai_epi16(bytes_to_high16(sv[hf], k, k), 5), isum[hf]);
            }
    }
    UNROLL
    for (int hf = 0; hf < 2; hf++) {
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(hdr + 16 * hf)));
        UNROLL
        for (int t = 0; t < TT; t++) {
            const __m256 scale = _mm256_mul_ps(dw, _mm256_set1_ps(da[t][b] * 0.125f));
            acc[hf][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[hf][t]), scale, acc[hf][t]);
        }
    }
}

KQUANT_PASS(q3_K_pass, q3_K_block, 2, 1728)

/* ======================= Q6_K ======================= */

/* Both halves of a block at once, so each activation broadcast serves 16 rows (done per half, the
 * compilers share the broadcasts between the halves anyway and spill them). Per sub-block j: two
 * maddubs of quants u (0-63, unsigned) with activations a (signed, |a| <= 128) summed in 16 bits
 * (2 words · 2 pairs · 63 · 128 = 32256 < 2^15), then one madd with the row's scale duplicated into
 * both 16-bit halves of its lane. The -32 offset of the quants is one madd per scale pair p:
 * (32 sc_2p, 32 sc_2p+1) (|.| <= 4096) with the activation's (B_2p, B_2p+1) (|.| <= 2048). The
 * integer sum is the AVX-512 kernel's, and so is the float work. */

/* The quants of word c of sub-block quarter tq for one half (x: its X0 word, see pack_q6_K): u0..u2
 * are the low 6 bits of X0..X2; u3 gathers their top bit pairs (the masked bits, moved by 16-bit
 * shifts, bring only zeros across byte borders). */
AVX2 INLINE __m256i q6_K_quants(const uint8_t *x, int tq) {
    if (tq < 3) return _mm256_and_si256(load32(x + 64 * tq), _mm256_set1_epi8(0x3F));
    const __m256i top = _mm256_set1_epi8((char)0xC0);
    const __m256i x0 = _mm256_and_si256(load32(x), top), x1 = _mm256_and_si256(load32(x + 64), top);
    const __m256i x2 = _mm256_and_si256(load32(x + 128), top);
    /* x2's pair at bits 6-7, x1's at 4-5, x0's at 2-3, then all down by 2 */
    const __m256i y = _mm256_or_si256(x2, _mm256_or_si256(_mm256_srli_epi16(x1, 2), _mm256_srli_epi16(x0, 4)));
    return _mm256_srli_epi16(y, 2);
}

/* Two 16-byte rows of int8 values, one byte per row lane, as int16 pairs (a_i, b_i) in lane i: rows
 * 0-7 in out[0], rows 8-15 in out[1]. */
AVX2 INLINE void pair_i8_to_i16(const uint8_t *a, const uint8_t *b, __m256i out[2]) {
    const __m128i va = _mm_loadu_si128((const __m128i *)a), vb = _mm_loadu_si128((const __m128i *)b);
    out[0] = _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(va, vb));
    out[1] = _mm256_cvtepi8_epi16(_mm_unpackhi_epi8(va, vb));
}

AVX2 INLINE void q6_K_block(const int TT, const uint8_t *hdr, const uint8_t *body, int64_t b, const int8_t *const *qa,
                            const float *const *da, const int32_t *const *bp, __m256 acc[2][PAIR]) {
    __m256i isum[2][PAIR];
    UNROLL
    for (int t = 0; t < TT; t++) isum[0][t] = isum[1][t] = _mm256_setzero_si256();
    UNROLL
    for (int p = 0; p < 8; p++) {
        __m256i sp[2];
        pair_i8_to_i16(body + 32 * p, body + 32 * p + 16, sp);
        UNROLL
        for (int t = 0; t < TT; t++) {
            const __m256i bq = _mm256_set1_epi32(bp[t][8 * b + p]);
            UNROLL
            for (int hf = 0; hf < 2; hf++)
                isum[hf][t] = _mm256_sub_epi32(isum[hf][t], _mm256_madd_epi16(_mm256_slli_epi16(sp[hf], 5), bq));
        }
    }
    UNROLL
    for (int i = 0; i < 16; i++) {
        /* sub-block j = elements 128h + 32tq + 16g .. +15, visited quarter by quarter (qt = 2h + g) so the
         * reads walk forward through the body as it is packed; j by j they hopped back and forth over
         * 1.5 KB and one token ran at ~0.62 of a plain read instead of ~0.87 (the integer sums are
         * exact, so their order does not change the result) */
        const int h = i / 8, g = (i / 4) % 2, tq = i % 4, j = 8 * h + 2 * tq + g;
        const uint8_t *bj = TT > 1 ? opaque_ptr(body) : body;
        __m256i sc[2];
        pair_i8_to_i16(bj + 16 * j, bj + 16 * j, sc);
        UNROLL
        for (int cp = 0; cp < 2; cp++) {
            const uint8_t *x0 = bj + gemm_q6k_word_at(2 * h + g, 2 * cp, 0);
            const uint8_t *x1 = bj + gemm_q6k_word_at(2 * h + g, 2 * cp + 1, 0);
            __m256i u0[2], u1[2];
            UNROLL
            for (int hf = 0; hf < 2; hf++) {
                u0[hf] = q6_K_quants(x0 + 32 * hf, tq);
                u1[hf] = q6_K_quants(x1 + 32 * hf, tq);
            }
            UNROLL
            for (int t = 0; t < TT; t++) {
                const int8_t *q = qa[t] + QK_K * b + 128 * h + 32 * tq + 16 * g + 8 * cp;
                const __m256i a0 = bcast4(q), a1 = bcast4(q + 4);
                UNROLL
                for (int hf = 0; hf < 2; hf++) {
                    const __m256i s =
                        _mm256_add_epi16(_mm256_maddubs_epi16(u0[hf], a0), _mm256_maddubs_epi16(u1[hf], a1));
                    isum[hf][t] = _mm256_add_epi32(isum[hf][t], _mm256_madd_epi16(s, sc[hf]));
                }
            }
        }
        if (TT > 1)
            UNROLL
            for (int t = 0; t < TT; t++) {
                isum[0][t] = opaque(isum[0][t]);
                isum[1][t] = opaque(isum[1][t]);
            }
    }
    UNROLL
    for (int hf = 0; hf < 2; hf++) {
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(hdr + 16 * hf)));
        UNROLL
        for (int t = 0; t < TT; t++) {
            const __m256 scale = _mm256_mul_ps(dw, _mm256_set1_ps(da[t][b]));
            acc[hf][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[hf][t]), scale, acc[hf][t]);
        }
    }
}

KQUANT_PASS(q6_K_pass, q6_K_block, 2, 3328)

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
KERNEL_FOR(q5_0_kernel_avx2, q5_0_pass)
KERNEL_FOR(q4_1_kernel_avx2, q4_1_pass)
KERNEL_FOR(q5_1_kernel_avx2, q5_1_pass)
KERNEL_FOR(q4_K_kernel_avx2, q4_K_pass)
KERNEL_FOR(q5_K_kernel_avx2, q5_K_pass)
KERNEL_FOR(q6_K_kernel_avx2, q6_K_pass)
KERNEL_FOR(q2_K_kernel_avx2, q2_K_pass)
KERNEL_FOR(q3_K_kernel_avx2, q3_K_pass)

void gemm_kernels_avx2(gemm_kernel_fn table[]) {
    table[GGML_TYPE_Q8_0] = q8_0_kernel_avx2;
    table[GGML_TYPE_Q4_0] = q4_0_kernel_avx2;
    table[GGML_TYPE_Q5_0] = q5_0_kernel_avx2;
    table[GGML_TYPE_Q4_1] = q4_1_kernel_avx2;
    table[GGML_TYPE_Q5_1] = q5_1_kernel_avx2;
    table[GGML_TYPE_Q4_K] = q4_K_kernel_avx2;
    table[GGML_TYPE_Q5_K] = q5_K_kernel_avx2;
    table[GGML_TYPE_Q6_K] = q6_K_kernel_avx2;
    table[GGML_TYPE_Q2_K] = q2_K_kernel_avx2;
    table[GGML_TYPE_Q3_K] = q3_K_kernel_avx2;
}

#else

void gemm_kernels_avx2(gemm_kernel_fn table[]) { (void)table; }

#endif
