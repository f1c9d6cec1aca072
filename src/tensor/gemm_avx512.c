/* AVX-512 VNNI kernels of gemm.h: one panel of 16 weight rows (one 32-bit lane each) × up to
 * GEMM_MAX_T tokens. The weights of a block are loaded (and unpacked) once and multiplied with every
 * token of the tile; each token's activation bytes come in as 4-byte broadcasts, so a vpdpbusd
 * advances 16 row sums by 4 products each.
 *
 * Every (row, token) result goes through the same instructions whatever T is: per block an exact
 * integer sum (the order of integer additions does not matter), one float multiply of the two scales
 * and one fused multiply-add into the row's lane. Only the integer work is arranged differently for
 * few tokens (Q6_K unpacking), which cannot change a result. */
#include "tensor/gemm.h"
#include "tensor/quant_impl.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")))
#define AVX512_BF16                                                                                \
    __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx512bf16")))
#define INLINE static inline __attribute__((always_inline))
/* The tile loops over tokens and words must be unrolled for the accumulators to live in registers
 * (-O2 does not unroll on its own). */
#define UNROLL _Pragma("GCC unroll 16")

AVX512 INLINE __m512 load_halves(const uint8_t *p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}

AVX512 INLINE void store_rows(float *y, __m512 v, int n_rows) {
    if (n_rows == GEMM_PANEL) _mm512_storeu_ps(y, v);
    else _mm512_mask_storeu_ps(y, (__mmask16)((1u << n_rows) - 1), v);
}

/* With one or two tokens the kernels stream weights through L1 and would evict the activation row
 * (reused by every panel) before its next use: fetch the activation bytes a few blocks ahead. */
#define ACT_PF_DIST 256

AVX512 INLINE void prefetch_acts(const int T, const int8_t *const *qa, int64_t offset, int lines) {
    if (T > 2) return;
    UNROLL
    for (int t = 0; t < T; t++)
        UNROLL
        for (int i = 0; i < lines; i++) _mm_prefetch((const char *)(qa[t] + offset + ACT_PF_DIST + 64 * i), _MM_HINT_T0);
}

/* The start of a tile: zero accumulators, and per token its quants, block scales and the sums array
 * `at` (gemm_act_sums). */
AVX512 INLINE void tile_begin(const uint8_t *const *act, const int T, int64_t n_in, int64_t nb, int at, __m512 *acc,
                              const int8_t **qa, const float **da, const int32_t **sums) {
    UNROLL
    for (int t = 0; t < T; t++) {
        acc[t] = _mm512_setzero_ps();
        qa[t] = (const int8_t *)act[t];
        da[t] = gemm_act_d(act[t], n_in);
        sums[t] = gemm_act_sums(act[t], n_in, nb, at);
    }
}

/* The 32-bit word of block b in the array `off` bytes from an activation row's start. The tiles of
 * the 32-block types keep T row pointers and a byte offset per array, shared by every row (the
 * layout of gemm_act_row_bytes): with a pointer per row and array the compilers run out of
 * registers at T = 8 and reload or shuttle pointers through vector registers inside the block loop
 * (measured 2-8% of Q4_0 GEMM throughput). */
AVX512 INLINE float act_f32(const uint8_t *row, size_t off, int64_t b) {
    float v;
    memcpy(&v, row + off + 4 * (size_t)b, sizeof v);
    return v;
}

AVX512 INLINE int32_t act_i32(const uint8_t *row, size_t off, int64_t b) {
    int32_t v;
    memcpy(&v, row + off + 4 * (size_t)b, sizeof v);
    return v;
}

/* byte offset of a sums array from the start of an activation row */
static inline size_t act_sums_off(const uint8_t *row, int64_t n_in, int64_t nb, int at) {
    return (size_t)((const uint8_t *)gemm_act_sums(row, n_in, nb, at) - row);
}

/* acc += vpdpbusd(w, the 4 bytes at p broadcast). Written as assembly so the broadcast stays inside
 * the instruction's memory operand ({1to16}): the compilers emit a separate vpbroadcastd, which
 * costs a vector-pipe slot per dot step (measured 4-7% of GEMM throughput). */
AVX512 INLINE __m512i dpbusd_bcast(__m512i acc, __m512i w, const void *p) {
    __asm__("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(w), "m"(*(const int32_t *)p));
    return acc;
}

/* Σ_c dpbusd(wv[c], 4 bytes of q at off(c)) over n words, from init: the integer dot of 16 rows with
 * one token over 4n elements. One dependency chain: the out-of-order core overlaps the chains of
 * neighbouring blocks (measured faster than splitting them). */
#define DOT_WORDS(out, init, wv, n, q, off)                                                        \
    do {                                                                                           \
        __m512i c0_ = (init);                                                                      \
        UNROLL                                                                                     \
        for (int c_ = 0; c_ < (n); c_++) c0_ = dpbusd_bcast(c0_, wv[c_], (q) + off(c_));          \
        (out) = c0_;                                                                               \
    } while (0)

/* isum + d0·s0 + d1·s1 for two exact sums d0, d1 that fit an int16 (the 16-element sub-blocks of Q3_K
 * and Q2_K): they become the two int16 halves of one word, and one vpdpwssd multiplies them by the
 * matching halves of `scales` (s0 low, s1 high) and adds both, where each sum in 32 bits would take a
 * vpmulld and an add. */
AVX512 INLINE __m512i add_paired_sums(__m512i isum, __m512i d0, __m512i d1, __m512i scales) {
    const __m512i halves = _mm512_ternarylogic_epi32(d0, _mm512_slli_epi32(d1, 16), _mm512_set1_epi32(0xFFFF), 0xE4);
    return _mm512_dpwssd_epi32(isum, halves, scales);
}

/* ======================= Q8_0 ======================= */

#define Q8_0_OFF(c) (4 * (c))

AVX512 INLINE void q8_0_block(const int T, const uint8_t *hdr, const uint8_t *body, int64_t b,
                              const uint8_t *const *act, size_t off_d, size_t off_c, __m512 *acc) {
    const __m512 dw = load_halves(hdr);
    __m512i wv[8];
    UNROLL
    for (int k = 0; k < 8; k++) wv[k] = _mm512_loadu_si512(body + 64 * k);
    prefetch_acts(T, (const int8_t *const *)act, 32 * b, 1);
    UNROLL
    for (int t = 0; t < T; t++) {
        __m512i s;
        DOT_WORDS(s, _mm512_set1_epi32(act_i32(act[t], off_c, b)), wv, 8, act[t] + 32 * b, Q8_0_OFF);
        const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(act_f32(act[t], off_d, b)));
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), scale, acc[t]);
    }
}

AVX512 INLINE void q8_0_tile(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, const int T,
                             float *y, size_t ldy, int n_rows) {
    const int64_t nb = w->n_blocks, n_in = w->n_in;
    const size_t off_d = (size_t)n_in, off_c = act_sums_off(act[0], n_in, nb, GEMM_SUMS_C128);
    __m512 acc[GEMM_MAX_T];
    UNROLL
    for (int t = 0; t < T; t++) acc[t] = _mm512_setzero_ps();
    /* groups of two blocks: 64 bytes of headers, then the two 512-byte bodies */
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2, panel += 1088) {
        q8_0_block(T, panel, panel + 64, b, act, off_d, off_c, acc);
        q8_0_block(T, panel + 32, panel + 576, b + 1, act, off_d, off_c, acc);
    }
    if (b < nb) q8_0_block(T, panel, panel + 64, b, act, off_d, off_c, acc);
    UNROLL
    for (int t = 0; t < T; t++) store_rows(y + (size_t)t * ldy, acc[t], n_rows);
}

/* ======================= Q4_0, Q5_0, Q4_1, Q5_1 ======================= */

/* unpacked word c < 4: low nibbles = elements 4c..; c >= 4: high nibbles = elements 16 + 4(c-4).. */
#define Q4_0_OFF(c) ((c) < 4 ? 4 * (c) : 16 + 4 * ((c) - 4))

/* Every byte of x mapped by the GF(2) bit matrix `matrix` (byte 7 - i of it selects the input bits
 * whose parity is output bit i): here, moving bits to new places and clearing the rest in one
 * instruction. GFNI, which the kernel table only uses when the CPU has it; written as assembly so the
 * file's other kernels are not compiled for GFNI (CPUs with AVX-512 VNNI but no GFNI exist: Cascade
 * Lake). */
AVX512 INLINE __m512i gf_bits(__m512i x, uint64_t matrix) {
    const __m512i a = _mm512_set1_epi64((long long)matrix);
    __m512i r;
    __asm__("vgf2p8affineqb $0, %2, %1, %0" : "=v"(r) : "v"(x), "v"(a));
    return r;
}

/* the GF(2) matrix sending input bit `from` to output bit `to` */
#define GF_MOVE(from, to) ((uint64_t)1 << (from) << (8 * (7 - (to))))

/* Bit j of every byte of h moved to bit 4, the other bits cleared. */
AVX512 INLINE __m512i bit_to_bit4(__m512i h, int j) { return gf_bits(h, GF_MOVE(j, 4)); }

/* One 32-block of the nibble types. QH: fifth bits in a 64-byte group in front of the quants (see
 * pack_q5_0); MIN: a second fp16 header (m) whose term m·(d_a Σq_a) comes from the activation row
 * (array off_c); else the chain starts from the offset bias (-8·Σq_a or -16·Σq_a) at off_c. */
AVX512 INLINE void nib_block(const int QH, const int MIN, const int T, const uint8_t *hdr, const uint8_t *body,
                             int64_t b, __m512i m4, const uint8_t *const *act, size_t off_d, size_t off_c,
                             __m512 *acc) {
    const __m512 dw = load_halves(hdr);
    __m512i wv[8];
    const __m512i h = QH ? _mm512_loadu_si512(body) : _mm512_setzero_si512();
    const uint8_t *qs = body + (QH ? 64 : 0);
    UNROLL
    for (int k = 0; k < 4; k++) {
        const __m512i v = _mm512_loadu_si512(qs + 64 * k);
        if (QH) {
            wv[k] = _mm512_ternarylogic_epi32(v, bit_to_bit4(h, k), m4, 0xE4); /* m4 ? nibble : bit 4 */
            wv[k + 4] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(v, 4), bit_to_bit4(h, 4 + k), m4, 0xE4);
        } else {
            wv[k] = _mm512_and_si512(v, m4);
            wv[k + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
        }
    }
    prefetch_acts(T, (const int8_t *const *)act, 32 * b, 1);
    UNROLL
    for (int t = 0; t < T; t++) {
        __m512i s;
        DOT_WORDS(s, MIN ? _mm512_setzero_si512() : _mm512_set1_epi32(act_i32(act[t], off_c, b)), wv, 8,
                  act[t] + 32 * b, Q4_0_OFF);
        const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(act_f32(act[t], off_d, b)));
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), scale, acc[t]);
        if (MIN) acc[t] = _mm512_fmadd_ps(load_halves(hdr + 32), _mm512_set1_ps(act_f32(act[t], off_c, b)), acc[t]);
    }
}

/* BODY: body bytes of a block; offset types (MIN = 0) keep two blocks per group (64 bytes of
 * headers, then two bodies), the others one (d and m headers, then the body). */
AVX512 INLINE void nib_tile(const int QH, const int MIN, const kumo_packed *w, const uint8_t *panel,
                            const uint8_t *const *act, const int T, float *y, size_t ldy, int n_rows) {
    const int64_t nb = w->n_blocks, n_in = w->n_in;
    const size_t body_bytes = QH ? 320 : 256;
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const size_t off_d = (size_t)n_in;
    const size_t off_c = act_sums_off(act[0], n_in, nb, MIN ? GEMM_SUMS_DSUM : QH ? GEMM_SUMS_C16 : GEMM_SUMS_C8);
    __m512 acc[GEMM_MAX_T];
    UNROLL
    for (int t = 0; t < T; t++) acc[t] = _mm512_setzero_ps();
    int64_t b = 0;
    if (MIN) {
        for (; b < nb; b++, panel += 64 + body_bytes) nib_block(QH, 1, T, panel, panel + 64, b, m4, act, off_d, off_c, acc);
    } else {
        for (; b + 2 <= nb; b += 2, panel += 64 + 2 * body_bytes) {
            nib_block(QH, 0, T, panel, panel + 64, b, m4, act, off_d, off_c, acc);
            nib_block(QH, 0, T, panel + 32, panel + 64 + body_bytes, b + 1, m4, act, off_d, off_c, acc);
        }
        if (b < nb) nib_block(QH, 0, T, panel, panel + 64, b, m4, act, off_d, off_c, acc);
    }
    UNROLL
    for (int t = 0; t < T; t++) store_rows(y + (size_t)t * ldy, acc[t], n_rows);
}

AVX512 INLINE void q4_0_tile(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, const int T,
                             float *y, size_t ldy, int n_rows) {
    nib_tile(0, 0, w, panel, act, T, y, ldy, n_rows);
}

AVX512 INLINE void q5_0_tile(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, const int T,
                             float *y, size_t ldy, int n_rows) {
    nib_tile(1, 0, w, panel, act, T, y, ldy, n_rows);
}

AVX512 INLINE void q4_1_tile(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, const int T,
                             float *y, size_t ldy, int n_rows) {
    nib_tile(0, 1, w, panel, act, T, y, ldy, n_rows);
}

AVX512 INLINE void q5_1_tile(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, const int T,
                             float *y, size_t ldy, int n_rows) {
    nib_tile(1, 1, w, panel, act, T, y, ldy, n_rows);
}

/* ======================= Q4_K ======================= */

#define Q4_K_OFF(c) (4 * (c))

/* Q4_K, and Q5_K when QH (its fifth bits sit between the scales and the quants, see pack_q5_K): the
 * bit of sub-block j moves to bit 4 of each byte and joins the nibble in one ternary-logic op.
 * Q4_K's odd sub-blocks (high nibbles) are taken in place, masked by 0xF0 without the shift: their
 * sums are 16 × the true ones, the even sub-blocks' scales are taken × 16 to match, and d_w / 16
 * undoes it. The block's integer sum is then exactly 16 × the old one (|.| <= 16·8·63·32·15·127 <
 * 2^31), and cvt(16 I)·(d_w/16 · d_a) rounds as cvt(I)·(d_w · d_a) did: power-of-two factors commute
 * with rounding (bar products below 2^-122, subnormal in float). */
AVX512 INLINE void k4_tile(const int QH, const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act,
                           const int T, float *y, size_t ldy, int n_rows) {
    const int64_t nb = w->n_blocks, n_in = w->n_in;
    const __m512i m4 = _mm512_set1_epi8(0x0F), m6 = _mm512_set1_epi8(0x3F), m2 = _mm512_set1_epi8(0x03);
    const __m512i mf0 = _mm512_set1_epi8((char)0xF0), byte0 = _mm512_set1_epi32(0xFF), byte0x16 = _mm512_set1_epi32(0xFF0);
    const __m512i lo_bytes = _mm512_set1_epi32(0x00FF00FF);
    __m512 acc[GEMM_MAX_T];
    const int8_t *qa[GEMM_MAX_T];
    const float *da[GEMM_MAX_T];
    const int32_t *mp[GEMM_MAX_T];
    tile_begin(act, T, n_in, nb, GEMM_SUMS_MIN_PAIRS, acc, qa, da, mp);
    for (int64_t b = 0; b < nb; b++) {
        /* one block per group: 64 bytes of headers (d, dmin), then the 2240 (2752) byte body */
        const uint8_t *hdr = panel + (size_t)b * (QH ? 2816 : 2304), *body = hdr + 64;
        const uint8_t *qs = body + (QH ? 704 : 192);
        prefetch_acts(T, qa, QK_K * b, 4);
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
            const int k = j % 4;
            __m512i sc;
            if (QH || k % 2) sc = _mm512_and_si512(_mm512_srli_epi32(s, 8 * k), byte0);
            else sc = _mm512_and_si512(k ? _mm512_srli_epi32(s, 8 * k - 4) : _mm512_slli_epi32(s, 4), byte0x16);
            const uint8_t *g = qs + 64 * 8 * (j / 2);
            __m512i wv[8];
            UNROLL
            for (int c = 0; c < 8; c++) {
                const __m512i v = _mm512_loadu_si512(g + 64 * c);
                if (QH) {
                    const __m512i h = _mm512_loadu_si512(body + 192 + 64 * c);
                    const __m512i hb = bit_to_bit4(h, j);
                    wv[c] = _mm512_ternarylogic_epi32(j % 2 ? _mm512_srli_epi16(v, 4) : v, hb, m4, 0xE4); /* m4 ? nibble : bit 4 */
                } else {
                    wv[c] = _mm512_and_si512(v, j % 2 ? mf0 : m4);
                }
            }
            UNROLL
            for (int t = 0; t < T; t++) {
                __m512i d;
                DOT_WORDS(d, _mm512_setzero_si512(), wv, 8, qa[t] + QK_K * b + 32 * j, Q4_K_OFF);
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
        const __m512 dw = QH ? load_halves(hdr) : _mm512_mul_ps(load_halves(hdr), _mm512_set1_ps(1.0f / 16));
        const __m512 dmw = load_halves(hdr + 32);
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

AVX512 INLINE void q4_K_tile(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, const int T,
                             float *y, size_t ldy, int n_rows) {
    k4_tile(0, w, panel, act, T, y, ldy, n_rows);
}

AVX512 INLINE void q5_K_tile(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, const int T,
                             float *y, size_t ldy, int n_rows) {
    k4_tile(1, w, panel, act, T, y, ldy, n_rows);
}

/* ======================= Q2_K ======================= */

/* Per 256-block: for each half n, the 8 qs words of its two 16-element columns are loaded once and
 * shifted for the four 2-bit planes k; sub-blocks 8n + 2k (g = 0) and 8n + 2k + 1 (g = 1) have their
 * sums scaled against the zero-extended scale pair by add_paired_sums, and the mins term Σ m_j B_j comes from 16-bit
 * multiply-adds of the min pairs with the activation's (B_2p, B_2p+1) pairs. */
AVX512 INLINE void q2_K_tile(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, const int T,
                             float *y, size_t ldy, int n_rows) {
    const int64_t nb = w->n_blocks, n_in = w->n_in;
    const __m512i m2 = _mm512_set1_epi8(0x03), m4w = _mm512_set1_epi16(0x0F);
    __m512 acc[GEMM_MAX_T];
    const int8_t *qa[GEMM_MAX_T];
    const float *da[GEMM_MAX_T];
    const int32_t *bp[GEMM_MAX_T];
    tile_begin(act, T, n_in, nb, GEMM_SUMS_B_PAIRS, acc, qa, da, bp);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *hdr = panel + (size_t)b * 1344, *body = hdr + 64, *qs = body + 256;
        prefetch_acts(T, qa, QK_K * b, 4);
        __m512i isum[GEMM_MAX_T], msum[GEMM_MAX_T];
        UNROLL
        for (int t = 0; t < T; t++) isum[t] = msum[t] = _mm512_setzero_si512();
        UNROLL
        for (int n = 0; n < 2; n++) {
            __m512i v[8];
            UNROLL
            for (int c = 0; c < 8; c++) v[c] = _mm512_loadu_si512(qs + 64 * (8 * n + c));
            UNROLL
            for (int k = 0; k < 4; k++) {
                const int p = 4 * n + k;
                const __m512i sp = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(body + 32 * p)));
                const __m512i scales = _mm512_and_si512(sp, m4w), mins = _mm512_and_si512(_mm512_srli_epi16(sp, 4), m4w);
                __m512i u[8];
                UNROLL
                for (int c = 0; c < 8; c++) u[c] = _mm512_and_si512(k ? _mm512_srli_epi16(v[c], 2 * k) : v[c], m2);
                UNROLL
                for (int t = 0; t < T; t++) {
                    const int8_t *q = qa[t] + QK_K * b + 128 * n + 32 * k;
                    __m512i d0, d1;
                    DOT_WORDS(d0, _mm512_setzero_si512(), u, 4, q, Q4_K_OFF);
                    DOT_WORDS(d1, _mm512_setzero_si512(), (u + 4), 4, q + 16, Q4_K_OFF);
                    isum[t] = add_paired_sums(isum[t], d0, d1, scales); /* |d| <= 16·3·128 */
                    msum[t] = _mm512_dpwssd_epi32(msum[t], mins, _mm512_set1_epi32(bp[t][8 * b + p]));
                }
            }
        }
        const __m512 dw = load_halves(hdr), dmw = load_halves(hdr + 32);
        UNROLL
        for (int t = 0; t < T; t++) {
            const __m512 dd = _mm512_set1_ps(da[t][b]);
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(dw, dd), acc[t]);
            acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum[t]), _mm512_mul_ps(dmw, dd), acc[t]);
        }
    }
    UNROLL
    for (int t = 0; t < T; t++) store_rows(y + (size_t)t * ldy, acc[t], n_rows);
}

/* ======================= Q3_K, Q6_K: 16-element sub-blocks chained from a bias ======================= */

/* Both pack two 256-blocks per group: 64 bytes of headers (d of block 0, then of block 1), then the
 * two bodies. The body of block b; *hdr gets its d header. */
AVX512 INLINE const uint8_t *pair_block(const uint8_t *panel, int64_t b, size_t body_bytes, const uint8_t **hdr) {
    const uint8_t *grp = panel + (size_t)(b >> 1) * (64 + 2 * body_bytes);
    *hdr = grp + (b & 1) * 32;
    return grp + 64 + (b & 1) * body_bytes;
}

#define BIAS16_OFF(c) (4 * (c))

/* Sub-block j of block b for every token: the chain starts from the activation's bias word for j
 * (GEMM_SUMS_BIAS32), runs over the 4 words u at qa[t] + q_off, and its exact sum times the row
 * scales sc joins isum[t]. */
AVX512 INLINE void bias16_subblock(const int T, const __m512i *u, __m512i sc, const int8_t *const *qa,
                                   const int32_t *const *bias, int64_t b, int j, size_t q_off, __m512i *isum) {
    UNROLL
    for (int t = 0; t < T; t++) {
        __m512i d;
        DOT_WORDS(d, _mm512_set1_epi32(bias[t][16 * b + j]), u, 4, qa[t] + q_off, BIAS16_OFF);
        isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(d, sc));
    }
}

/* The same sum as two chains over the 8-element halves, each started from its own bias word
 * (GEMM_SUMS_BIAS32_HALF, word 2j + h): the exact half sums fit an int16 (|.| <= 8·32·127 = 32512, as
 * a Q8_K quant is never -128: the largest magnitude maps to -127),
 * so add_paired_sums multiplies both by the scale pair sc2 (the row's scale in both halves) and adds
 * them in one vpdpwssd, where the 16-element sum (up to 65024) needs a vpmulld and an add. Same sums.
 * Only two tokens gain (bench/kernel_ab.sh HEAD q6_K 1024 768 T, in L2: time 0.90 of the vpmulld
 * path at T = 2, 1.00-1.05 at T = 1, 1.03 at T = 4, 0.99 at T = 8), where the pair's shuffle is
 * shared by both tokens' chains. */
AVX512 INLINE void bias16_subblock_halves(const int T, const __m512i *u, __m512i sc2, const int8_t *const *qa,
                                          const int32_t *const *hbias, int64_t b, int j, size_t q_off, __m512i *isum) {
    UNROLL
    for (int t = 0; t < T; t++) {
        __m512i d0, d1;
        DOT_WORDS(d0, _mm512_set1_epi32(hbias[t][32 * b + 2 * j]), u, 2, qa[t] + q_off, BIAS16_OFF);
        DOT_WORDS(d1, _mm512_set1_epi32(hbias[t][32 * b + 2 * j + 1]), (u + 2), 2, qa[t] + q_off + 8, BIAS16_OFF);
        isum[t] = add_paired_sums(isum[t], d0, d1, sc2);
    }
}

/* The block's one float step: acc[t] += (d_w · d_a) · isum[t]. */
AVX512 INLINE void bias16_block_end(const int T, const uint8_t *hdr, const float *const *da, int64_t b,
                                    const __m512i *isum, __m512 *acc) {
    const __m512 dw = load_halves(hdr);
    UNROLL
    for (int t = 0; t < T; t++)
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(dw, _mm512_set1_ps(da[t][b])), acc[t]);
}

/* ======================= Q3_K ======================= */

/* The 16 6-bit scales of each row lane (kumo's Q3_K scale packing, as the reference's), minus 32,
 * as 4 vectors of 4 signed bytes: vector q holds sub-blocks 4q..4q+3. */
AVX512 INLINE void q3_K_scales(const uint8_t *body, __m512i sv[4]) {
    const __m512i a0 = _mm512_loadu_si512(body), a1 = _mm512_loadu_si512(body + 64), a2 = _mm512_loadu_si512(body + 128);
    const __m512i m4 = _mm512_set1_epi8(0x0F), m2 = _mm512_set1_epi8(0x03), k32 = _mm512_set1_epi8(32);
    const __m512i lo[4] = {a0, a1, _mm512_srli_epi32(a0, 4), _mm512_srli_epi32(a1, 4)};
    UNROLL
    for (int q = 0; q < 4; q++) {
        const __m512i hi = _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(a2, 2 * q), m2), 4);
        sv[q] = _mm512_sub_epi8(_mm512_or_si512(_mm512_and_si512(lo[q], m4), hi), k32);
    }
}

/* The eight quant words (0-7) of one triple (pack_q3_K): u[0..3] for its first sub-block, u[4..7] for
 * its second. The 16-bit shifts bring only masked-off bits across bytes. */
AVX512 INLINE void q3_K_triple(const uint8_t *x, __m512i m7, __m512i m3, __m512i u[8]) {
    const __m512i x0 = _mm512_loadu_si512(x), x1 = _mm512_loadu_si512(x + 64), x2 = _mm512_loadu_si512(x + 128);
    u[0] = _mm512_and_si512(x0, m7);
    u[1] = _mm512_and_si512(_mm512_srli_epi16(x0, 3), m7);
    u[2] = _mm512_and_si512(x1, m7);
    u[3] = _mm512_and_si512(_mm512_srli_epi16(x1, 3), m7);
    u[4] = _mm512_and_si512(x2, m7);
    u[5] = _mm512_and_si512(_mm512_srli_epi16(x2, 3), m7);
    /* bits 0-1 from bits 6-7 of x0 (x1), bit 2 from bit 6 (7) of x2: m3 ? low bits : top bit */
    u[6] = _mm512_and_si512(_mm512_ternarylogic_epi32(_mm512_srli_epi16(x0, 6), _mm512_srli_epi16(x2, 4), m3, 0xE4), m7);
    u[7] = _mm512_and_si512(_mm512_ternarylogic_epi32(_mm512_srli_epi16(x1, 6), _mm512_srli_epi16(x2, 5), m3, 0xE4), m7);
}

/* Per 256-block, per triple: eight quant words (0-7), and for each token the chains of its two
 * sub-blocks j, j + 2, each started from the activation's -4·B so it yields Σ (q - 4)·a exactly
 * (|.| <= 16·4·128 = 8192: an int16), and add_paired_sums adds both times their scales (bytes r and
 * r + 2 of each q3_K_scales lane, sign-extended into the matching halves) to the block's integer sum.
 * The factor 8 of the reference kernel's sums is gone from both sides. */
AVX512 INLINE void q3_K_tile(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, const int T,
                             float *y, size_t ldy, int n_rows) {
    const int64_t nb = w->n_blocks, n_in = w->n_in;
    const __m512i m7 = _mm512_set1_epi8(0x07), m3 = _mm512_set1_epi8(0x03);
    __m512 acc[GEMM_MAX_T];
    const int8_t *qa[GEMM_MAX_T];
    const float *da[GEMM_MAX_T];
    const int32_t *bias[GEMM_MAX_T];
    tile_begin(act, T, n_in, nb, GEMM_SUMS_BIAS4, acc, qa, da, bias);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *hdr, *body = pair_block(panel, b, 1728, &hdr);
        prefetch_acts(T, qa, QK_K * b, 4);
        __m512i sv[4];
        q3_K_scales(body, sv);
        __m512i isum[GEMM_MAX_T];
        UNROLL
        for (int t = 0; t < T; t++) isum[t] = _mm512_setzero_si512();
        UNROLL
        for (int tr = 0; tr < 8; tr++) {
            const int q = tr / 2, r = tr % 2, j = 4 * q + r;
            /* the scales of sub-blocks j and j + 2 (bytes r and r + 2 of each lane) as int16 halves */
            const __m512i sp = r ? _mm512_srai_epi16(sv[q], 8) : _mm512_srai_epi16(_mm512_slli_epi16(sv[q], 8), 8);
            __m512i u[8];
            q3_K_triple(body + 192 + 192 * tr, m7, m3, u);
            UNROLL
            for (int t = 0; t < T; t++) {
                const int8_t *a = qa[t] + QK_K * b + 16 * j;
                __m512i d0, d1;
                DOT_WORDS(d0, _mm512_set1_epi32(bias[t][16 * b + j]), u, 4, a, BIAS16_OFF);
                DOT_WORDS(d1, _mm512_set1_epi32(bias[t][16 * b + j + 2]), (u + 4), 4, a + 32, BIAS16_OFF);
                isum[t] = add_paired_sums(isum[t], d0, d1, sp);
            }
        }
        bias16_block_end(T, hdr, da, b, isum, acc);
    }
    UNROLL
    for (int t = 0; t < T; t++) store_rows(y + (size_t)t * ldy, acc[t], n_rows);
}

/* ======================= Q6_K ======================= */

/* The four quant words of one (X0, X1, X2) word group (pack_q6_K): u0..u2 are the low 6 bits, u3
 * gathers the top bit pairs of X0 (bits 0-1), X1 (bits 2-3) and X2 (bits 4-5): 16-bit shifts bring
 * each pair into place and the selects (m ? a : b) keep the right bits of each. (A GFNI version
 * with vgf2p8affineqb instead of the shifts and selects measured no faster on Zen 4.) */
AVX512 INLINE void q6_K_unpack(const uint8_t *x, __m512i m3f, __m512i m03, __m512i m0f, __m512i *u0, __m512i *u1,
                               __m512i *u2, __m512i *u3) {
    const __m512i x0 = _mm512_loadu_si512(x), x1 = _mm512_loadu_si512(x + 64), x2 = _mm512_loadu_si512(x + 128);
    if (u0) *u0 = _mm512_and_si512(x0, m3f);
    if (u1) *u1 = _mm512_and_si512(x1, m3f);
    if (u2) *u2 = _mm512_and_si512(x2, m3f);
    if (u3) {
        const __m512i lo = _mm512_ternarylogic_epi32(_mm512_srli_epi16(x0, 6), _mm512_srli_epi16(x1, 4), m03, 0xE4);
        *u3 = _mm512_and_si512(_mm512_ternarylogic_epi32(lo, _mm512_srli_epi16(x2, 2), m0f, 0xE4), m3f);
    }
}

AVX512 INLINE void q6_K_tile(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act,
                             const int T, float *y, size_t ldy, int n_rows) {
    const int64_t nb = w->n_blocks, n_in = w->n_in;
    const __m512i m3f = _mm512_set1_epi8(0x3F), m03 = _mm512_set1_epi8(0x03), m0f = _mm512_set1_epi8(0x0F);
    __m512 acc[GEMM_MAX_T];
    const int8_t *qa[GEMM_MAX_T];
    const float *da[GEMM_MAX_T];
    const int32_t *bias[GEMM_MAX_T];
    const int32_t *hbias[GEMM_MAX_T]; /* two tokens: the half-sub-block biases */
    tile_begin(act, T, n_in, nb, GEMM_SUMS_BIAS32, acc, qa, da, bias);
    if (T == 2)
        for (int t = 0; t < T; t++) hbias[t] = gemm_act_sums(act[t], n_in, nb, GEMM_SUMS_BIAS32_HALF);
    /* per 32-bit lane, its low int16 twice: a sign-extended scale as an int16 pair */
    const __m512i low16_twice = _mm512_set4_epi32(0x0D0C0D0C, 0x09080908, 0x05040504, 0x01000100);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *hdr, *body = pair_block(panel, b, 3328, &hdr);
        prefetch_acts(T, qa, QK_K * b, 4);
        __m512i isum[GEMM_MAX_T];
        UNROLL
        for (int t = 0; t < T; t++) isum[t] = _mm512_setzero_si512();
        if (T <= 2) {
            /* few tokens: unpack each quarter's 12 words once into its four sub-blocks */
            UNROLL
            for (int qt = 0; qt < 4; qt++) {
                const int h = qt / 2, g = qt % 2;
                __m512i u[4][4];
                UNROLL
                for (int c = 0; c < 4; c++)
                    q6_K_unpack(body + gemm_q6k_word_at(qt, c, 0), m3f, m03, m0f, &u[0][c], &u[1][c], &u[2][c],
                                &u[3][c]);
                UNROLL
                for (int tq = 0; tq < 4; tq++) {
                    const int j = 8 * h + 2 * tq + g;
                    const __m512i sc = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(body + 16 * j)));
                    const size_t q_off = QK_K * b + 128 * h + 32 * tq + 16 * g;
                    if (T == 2)
                        bias16_subblock_halves(T, u[tq], _mm512_shuffle_epi8(sc, low16_twice), qa, hbias, b, j, q_off,
                                               isum);
                    else
                        bias16_subblock(T, u[tq], sc, qa, bias, b, j, q_off, isum);
                }
            }
        } else {
            /* many tokens: one sub-block at a time keeps the registers for the tokens' sums */
            UNROLL
            for (int j = 0; j < 16; j++) {
                /* sub-block j = elements 128h + 32tq + 16g .. +15 */
                const int h = j / 8, tq = (j % 8) / 2, g = j % 2;
                const __m512i sc = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(body + 16 * j)));
                __m512i wv[4];
                UNROLL
                for (int c = 0; c < 4; c++)
                    q6_K_unpack(body + gemm_q6k_word_at(2 * h + g, c, 0), m3f, m03, m0f, tq == 0 ? &wv[c] : NULL, tq == 1 ? &wv[c] : NULL, tq == 2 ? &wv[c] : NULL,
                                tq == 3 ? &wv[c] : NULL);
                bias16_subblock(T, wv, sc, qa, bias, b, j, QK_K * b + 128 * h + 32 * tq + 16 * g, isum);
            }
        }
        bias16_block_end(T, hdr, da, b, isum, acc);
    }
    UNROLL
    for (int t = 0; t < T; t++) store_rows(y + (size_t)t * ldy, acc[t], n_rows);
}

/* ======================= float weights ======================= */

AVX512 INLINE __mmask16 lanes(int64_t n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1); }

/* 16 weights from k on as floats (masked past the row's end) */
AVX512 INLINE __m512 load_w(const uint32_t type, const uint8_t *row, int64_t k, __mmask16 m) {
    if (type == GGML_TYPE_F32) return _mm512_maskz_loadu_ps(m, (const float *)row + k);
    const __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)row + k);
    if (type == GGML_TYPE_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); /* bf16 */
}

/* RT rows × TT tokens: one accumulator per pair, chunks of 16 in order, then reduce_add. */
AVX512 INLINE void float_tile(const uint32_t type, const int RT, const int TT, const uint8_t *w, size_t row_bytes,
                              int64_t n_in, const void *const *act, float *y, size_t ldy) {
    __m512 acc[4][4];
    UNROLL
    for (int r = 0; r < RT; r++)
        UNROLL
        for (int t = 0; t < TT; t++) acc[r][t] = _mm512_setzero_ps();
    for (int64_t k = 0; k < n_in; k += 16) {
        const __mmask16 m = lanes(n_in - k);
        __m512 wv[4], av[4];
        UNROLL
        for (int r = 0; r < RT; r++) wv[r] = load_w(type, w + (size_t)r * row_bytes, k, m);
        UNROLL
        for (int t = 0; t < TT; t++) av[t] = _mm512_maskz_loadu_ps(m, (const float *)act[t] + k);
        UNROLL
        for (int r = 0; r < RT; r++)
            UNROLL
            for (int t = 0; t < TT; t++) acc[r][t] = _mm512_fmadd_ps(wv[r], av[t], acc[r][t]);
    }
    UNROLL
    for (int r = 0; r < RT; r++)
        UNROLL
        for (int t = 0; t < TT; t++) y[(size_t)t * ldy + r] = _mm512_reduce_add_ps(acc[r][t]);
}

/* One step of bf16_tile: 32 weights of RT rows against 32 activations of TT tokens, lanes past
 * the row's end masked out (m). */
AVX512_BF16 INLINE void bf16_step(const int RT, const int TT, const uint8_t *w, size_t row_bytes,
                                  const void *const *act, int64_t k, __mmask32 m, __m512 acc[4][4]) {
    __m512bh wv[4], av[4];
    UNROLL
    for (int r = 0; r < RT; r++)
        wv[r] = (__m512bh)_mm512_maskz_loadu_epi16(m, (const uint16_t *)(w + (size_t)r * row_bytes) + k);
    UNROLL
    for (int t = 0; t < TT; t++) av[t] = (__m512bh)_mm512_maskz_loadu_epi16(m, (const uint16_t *)act[t] + k);
    UNROLL
    for (int r = 0; r < RT; r++)
        UNROLL
        for (int t = 0; t < TT; t++) acc[r][t] = _mm512_dpbf16_ps(acc[r][t], wv[r], av[t]);
}

/* BF16 weights on CPUs with AVX512_BF16: vdpbf16ps adds two products per lane (each exact in float:
 * 8-bit × 8-bit significands) where the tile above adds one, and reads weights and activation rows
 * (bf16 values: gemm_float_act_row) without widening them.
 * Same shape as float_tile: one accumulator per (row, token) pair over 32 weights per step in order,
 * then reduce_add, so a pair's result does not depend on the tile it is computed in. */
AVX512_BF16 INLINE void bf16_tile(const uint32_t type, const int RT, const int TT, const uint8_t *w, size_t row_bytes,
                                  int64_t n_in, const void *const *act, float *y, size_t ldy) {
    (void)type; /* BF16: the parameter keeps float_tile's signature for FLOAT_TILES */
    __m512 acc[4][4];
    UNROLL
    for (int r = 0; r < RT; r++)
        UNROLL
        for (int t = 0; t < TT; t++) acc[r][t] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 32 <= n_in; k += 32) bf16_step(RT, TT, w, row_bytes, act, k, (__mmask32)0xFFFFFFFF, acc);
    if (k < n_in) bf16_step(RT, TT, w, row_bytes, act, k, (__mmask32)((1ull << (n_in - k)) - 1), acc);
    UNROLL
    for (int r = 0; r < RT; r++)
        UNROLL
        for (int t = 0; t < TT; t++) y[(size_t)t * ldy + r] = _mm512_reduce_add_ps(acc[r][t]);
}

/* Tiles of 4 rows × 4 tokens (measured faster than 2 × 8, 3 × 8 or 4 × 6 for every float type); with
 * one or two tokens (a memory stream) one row at a time, since several rows read side by side are
 * separate streams the hardware prefetcher does not follow (measured 0.4 of a plain read with 4 rows,
 * 1.0 with one). */
#define FLOAT_TILES(tile, type)                                                                        \
    const int rstep = T <= 2 ? 1 : 4;                                                                  \
    for (int r0 = 0; r0 < n_rows; r0 += rstep) {                                                       \
        const int RT = n_rows - r0 < rstep ? n_rows - r0 : rstep;                                      \
        const uint8_t *wr = w + (size_t)r0 * row_bytes;                                                \
        for (int t0 = 0; t0 < T; t0 += 4) {                                                            \
            const int TT = T - t0 < 4 ? T - t0 : 4;                                                    \
            float *yt = y + (size_t)t0 * ldy + r0;                                                     \
            switch (RT * 4 + TT - 5) {                                                                 \
            case 0: tile(type, 1, 1, wr, row_bytes, n_in, act + t0, yt, ldy); break;                   \
            case 1: tile(type, 1, 2, wr, row_bytes, n_in, act + t0, yt, ldy); break;                   \
            case 2: tile(type, 1, 3, wr, row_bytes, n_in, act + t0, yt, ldy); break;                   \
            case 3: tile(type, 1, 4, wr, row_bytes, n_in, act + t0, yt, ldy); break;                   \
            case 4: tile(type, 2, 1, wr, row_bytes, n_in, act + t0, yt, ldy); break;                   \
            case 5: tile(type, 2, 2, wr, row_bytes, n_in, act + t0, yt, ldy); break;                   \
            case 6: tile(type, 2, 3, wr, row_bytes, n_in, act + t0, yt, ldy); break;                   \
            case 7: tile(type, 2, 4, wr, row_bytes, n_in, act + t0, yt, ldy); break;                   \
            case 8: tile(type, 3, 1, wr, row_bytes, n_in, act + t0, yt, ldy); break;                   \
            case 9: tile(type, 3, 2, wr, row_bytes, n_in, act + t0, yt, ldy); break;                   \
            case 10: tile(type, 3, 3, wr, row_bytes, n_in, act + t0, yt, ldy); break;                  \
            case 11: tile(type, 3, 4, wr, row_bytes, n_in, act + t0, yt, ldy); break;                  \
            case 12: tile(type, 4, 1, wr, row_bytes, n_in, act + t0, yt, ldy); break;                  \
            case 13: tile(type, 4, 2, wr, row_bytes, n_in, act + t0, yt, ldy); break;                  \
            case 14: tile(type, 4, 3, wr, row_bytes, n_in, act + t0, yt, ldy); break;                  \
            default: tile(type, 4, 4, wr, row_bytes, n_in, act + t0, yt, ldy); break;                  \
            }                                                                                          \
        }                                                                                              \
    }

AVX512 static void float_f32(const uint8_t *w, size_t row_bytes, int n_rows, int64_t n_in, const void *const *act,
                             int T, float *y, size_t ldy) {
    FLOAT_TILES(float_tile, GGML_TYPE_F32)
}

AVX512 static void float_f16(const uint8_t *w, size_t row_bytes, int n_rows, int64_t n_in, const void *const *act,
                             int T, float *y, size_t ldy) {
    FLOAT_TILES(float_tile, GGML_TYPE_F16)
}

AVX512 static void float_bf16(const uint8_t *w, size_t row_bytes, int n_rows, int64_t n_in, const void *const *act,
                              int T, float *y, size_t ldy) {
    FLOAT_TILES(float_tile, GGML_TYPE_BF16)
}

AVX512_BF16 static void dpbf16_bf16(const uint8_t *w, size_t row_bytes, int n_rows, int64_t n_in,
                                    const void *const *act, int T, float *y, size_t ldy) {
    FLOAT_TILES(bf16_tile, GGML_TYPE_BF16)
}

static void float_kernel_avx512(uint32_t type, const uint8_t *w, size_t row_bytes, int n_rows, int64_t n_in,
                                const void *const *act, int T, float *y, size_t ldy) {
    if (type == GGML_TYPE_F32) float_f32(w, row_bytes, n_rows, n_in, act, T, y, ldy);
    else if (type == GGML_TYPE_F16) float_f16(w, row_bytes, n_rows, n_in, act, T, y, ldy);
    else float_bf16(w, row_bytes, n_rows, n_in, act, T, y, ldy);
}

static void float_kernel_avx512_bf16(uint32_t type, const uint8_t *w, size_t row_bytes, int n_rows, int64_t n_in,
                                     const void *const *act, int T, float *y, size_t ldy) {
    if (type == GGML_TYPE_BF16) dpbf16_bf16(w, row_bytes, n_rows, n_in, act, T, y, ldy);
    else float_kernel_avx512(type, w, row_bytes, n_rows, n_in, act, T, y, ldy);
}

gemm_float_fn gemm_float_avx512_fma(void) { return kumo_isa_supported(KUMO_ISA_AVX512) ? float_kernel_avx512 : 0; }

gemm_float_fn gemm_float_avx512(bool *bf16_rows) {
    *bf16_rows = __builtin_cpu_supports("avx512bf16");
    return *bf16_rows ? float_kernel_avx512_bf16 : float_kernel_avx512;
}

/* ======================= activation rows ======================= */

/* The same quants as the Q8_0 / Q8_K activation quantizers (quant_avx512.c, byte for byte), written
 * straight into GEMM rows with their block sums. */

/* Combines a and b lane by lane: the maximum of floats, or the sum of int32 words (SUM). */
AVX512 INLINE __m512 lane_combine(const int SUM, __m512 a, __m512 b) {
    if (SUM) return _mm512_castsi512_ps(_mm512_add_epi32(_mm512_castps_si512(a), _mm512_castps_si512(b)));
    return _mm512_max_ps(a, b);
}

/* Lane i of the result = the reduction (max, or int32 sum) of the 16 lanes of v[i]: 16 horizontal
 * reductions as one tree of 30 shuffles and 15 combines (about 8 instructions each when done one
 * by one). Pairs first within 128-bit lanes, then across them; after the last step lane 4g + j
 * holds v[4g + j]. Max and integer sums are exact in any order. */
AVX512 INLINE __m512 reduce16_transposed(const int SUM, const __m512 *v) {
    __m512 x[8], y[4], z[2];
    UNROLL
    for (int i = 0; i < 8; i++) /* per 128-bit lane: v[2i] at 0, 2 and v[2i+1] at 1, 3 */
        x[i] = lane_combine(SUM, _mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
    UNROLL
    for (int i = 0; i < 4; i++) /* per 128-bit lane: v[4i + j] at j */
        y[i] = lane_combine(SUM, _mm512_shuffle_ps(x[2 * i], x[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                            _mm512_shuffle_ps(x[2 * i], x[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    UNROLL
    for (int i = 0; i < 2; i++) /* 128-bit lanes (0+1, 2+3) of y[2i], then of y[2i+1] */
        z[i] = lane_combine(SUM, _mm512_shuffle_f32x4(y[2 * i], y[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                            _mm512_shuffle_f32x4(y[2 * i], y[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
    return lane_combine(SUM, _mm512_shuffle_f32x4(z[0], z[1], _MM_SHUFFLE(2, 0, 2, 0)),
                        _mm512_shuffle_f32x4(z[0], z[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

/* x rounded to fp16 and back, lane by lane (round to nearest even, like kumo_float_to_half) */
AVX512 INLINE __m512 round_to_half(__m512 x) {
    return _mm512_cvtph_ps(_mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

/* One block's quants from its scale's inverse, stored; returns their per-lane sums. */
AVX512 INLINE __m512i quantize_block32(const float *x, float id, int8_t *q) {
    const __m512 idv = _mm512_set1_ps(id);
    const __m512i lo = _mm512_set1_epi32(-128), hi = _mm512_set1_epi32(127);
    const __m512i q0 = _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x), idv)), lo), hi);
    const __m512i q1 =
        _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + 16), idv)), lo), hi);
    _mm_storeu_si128((__m128i *)q, _mm512_cvtepi32_epi8(q0));
    _mm_storeu_si128((__m128i *)(q + 16), _mm512_cvtepi32_epi8(q1));
    return _mm512_add_epi32(q0, q1);
}

/* The bias words and the fp16-rounded d·Σq of blocks b.., from their scales and quant sums. */
AVX512 INLINE void store_block_sums(__m512 d, __m512i sum, int32_t *c128, int32_t *c8, int32_t *c16, float *ms) {
    _mm512_storeu_si512(c128, _mm512_mullo_epi32(sum, _mm512_set1_epi32(-128)));
    _mm512_storeu_si512(c8, _mm512_mullo_epi32(sum, _mm512_set1_epi32(-8)));
    _mm512_storeu_si512(c16, _mm512_mullo_epi32(sum, _mm512_set1_epi32(-16)));
    _mm512_storeu_ps(ms, round_to_half(_mm512_mul_ps(d, _mm512_cvtepi32_ps(sum))));
}

/* Sixteen blocks at a time, so that the per-block reductions, the scale division and the fp16
 * roundings are done once for all sixteen (lane i = block b + i) instead of per block: the per-block
 * horizontal reductions were most of this function's time. Same bytes as the one-block tail. */
AVX512 static void quantize_q8_32(const float *x, int64_t n, uint8_t *dst) {
    const int64_t nb = n / QK8_0;
    float *d = (float *)(dst + n);
    int32_t *c128 = (int32_t *)(d + nb), *c8 = c128 + nb, *c16 = c8 + nb;
    float *ms = (float *)(c16 + nb);
    int8_t *q = (int8_t *)dst;
    int64_t b = 0;
    for (; b + 16 <= nb; b += 16) {
        const float *xb = x + QK8_0 * b;
        __m512 v[16];
        UNROLL
        for (int i = 0; i < 16; i++)
            v[i] = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(xb + QK8_0 * i)),
                                 _mm512_abs_ps(_mm512_loadu_ps(xb + QK8_0 * i + 16)));
        const __m512 amax = reduce16_transposed(0, v);
        const __m512 dv = round_to_half(_mm512_div_ps(amax, _mm512_set1_ps(127.0f)));
        _mm512_storeu_ps(d + b, dv);
        float id[16];
        _mm512_storeu_ps(id, _mm512_maskz_div_ps(_mm512_cmpneq_ps_mask(amax, _mm512_setzero_ps()),
                                                 _mm512_set1_ps(127.0f), amax));
        UNROLL
        for (int i = 0; i < 16; i++)
            v[i] = _mm512_castsi512_ps(quantize_block32(xb + QK8_0 * i, id[i], q + QK8_0 * (b + i)));
        store_block_sums(dv, _mm512_castps_si512(reduce16_transposed(1, v)), c128 + b, c8 + b, c16 + b, ms + b);
    }
    for (; b < nb; b++) {
        const float *xb = x + QK8_0 * b;
        const float amax = _mm512_reduce_max_ps(
            _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(xb)), _mm512_abs_ps(_mm512_loadu_ps(xb + 16))));
        d[b] = kumo_half_to_float(kumo_float_to_half(amax / 127.0f));
        const int32_t sum = _mm512_reduce_add_epi32(quantize_block32(xb, amax != 0.0f ? 127.0f / amax : 0.0f, q + QK8_0 * b));
        c128[b] = -128 * sum;
        c8[b] = -8 * sum;
        c16[b] = -16 * sum;
        ms[b] = kumo_half_to_float(kumo_float_to_half(d[b] * (float)sum));
    }
}

static uint32_t pair16(int lo, int hi) { return (uint16_t)(int16_t)lo | (uint32_t)(uint16_t)(int16_t)hi << 16; }

AVX512 static void quantize_q8_256(const float *x, int64_t n, uint8_t *dst) {
    const int64_t nb = n / QK_K;
    float *d = (float *)(dst + n);
    uint32_t *mp = (uint32_t *)(d + nb);
    int32_t *bias = (int32_t *)(mp + 4 * nb);
    uint32_t *bpair = (uint32_t *)(bias + 16 * nb);
    int32_t *bias4 = (int32_t *)(bpair + 8 * nb), *bias_half = bias4 + 16 * nb;
    const __m512i lo = _mm512_set1_epi32(-128), hi = _mm512_set1_epi32(127);
    for (int64_t b = 0; b < nb; b++, x += QK_K) {
        int8_t *qs = (int8_t *)dst + QK_K * b;
        __m512 m = _mm512_setzero_ps();
        for (int j = 0; j < QK_K; j += 16) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(x + j)));
        const float amax = _mm512_reduce_max_ps(m);
        if (amax == 0.0f) {
            memset(qs, 0, QK_K);
            d[b] = 0.0f;
            memset(mp + 4 * b, 0, 16);
            memset(bias + 16 * b, 0, 64);
            memset(bpair + 8 * b, 0, 32);
            memset(bias4 + 16 * b, 0, 64);
            memset(bias_half + 32 * b, 0, 128);
            continue;
        }
        /* the scale's sign comes from the first element of largest magnitude */
        const __m512 am = _mm512_set1_ps(amax);
        int first = 0;
        for (int j = 0; j < QK_K; j += 16) {
            const __mmask16 hit = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(x + j)), am, _CMP_EQ_OQ);
            if (hit) {
                first = j + __builtin_ctz((unsigned)hit);
                break;
            }
        }
        const float iscale = -127.0f / x[first];
        const __m512 is = _mm512_set1_ps(iscale);
        int bs[16];
        for (int j = 0; j < QK_K; j += 16) {
            __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + j), is));
            q = _mm512_min_epi32(_mm512_max_epi32(q, lo), hi);
            _mm_storeu_si128((__m128i *)(qs + j), _mm512_cvtepi32_epi8(q));
        }
        /* The sums of each 8 quants: vpsadbw adds 8 unsigned bytes into a 64-bit lane, so the quants
         * go in offset by 128 (xor 0x80) and come out less 8·128. One pass over the block's 256 bytes
         * instead of a horizontal reduction per 16 quants. */
        int h[32];
        for (int k = 0; k < 4; k++) {
            const __m512i v = _mm512_xor_si512(_mm512_loadu_si512(qs + 64 * k), _mm512_set1_epi8((char)0x80));
            const __m256i hs = _mm256_sub_epi32(_mm512_cvtepi64_epi32(_mm512_sad_epu8(v, _mm512_setzero_si512())),
                                                _mm256_set1_epi32(8 * 128));
            _mm256_storeu_si256((__m256i *)(h + 8 * k), hs);
            _mm256_storeu_si256((__m256i *)(bias_half + 32 * b + 8 * k),
                                _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(hs, 5)));
        }
        for (int j = 0; j < 16; j++) bs[j] = h[2 * j] + h[2 * j + 1];
        d[b] = 1.0f / iscale;
        int a[8];
        for (int j = 0; j < 8; j++) a[j] = bs[2 * j] + bs[2 * j + 1];
        mp[4 * b + 0] = pair16(a[0], a[2]);
        mp[4 * b + 1] = pair16(a[1], a[3]);
        mp[4 * b + 2] = pair16(a[4], a[6]);
        mp[4 * b + 3] = pair16(a[5], a[7]);
        for (int j = 0; j < 16; j++) bias[16 * b + j] = -32 * bs[j];
        for (int j = 0; j < 8; j++) bpair[8 * b + j] = pair16(bs[2 * j], bs[2 * j + 1]);
        for (int j = 0; j < 16; j++) bias4[16 * b + j] = -4 * bs[j];
    }
}

AVX512 static void quantize_row_avx512(int act, const float *x, int64_t n_in, void *dst) {
    if (act == GEMM_ACT_Q8_32) quantize_q8_32(x, n_in, dst);
    else quantize_q8_256(x, n_in, dst);
}

gemm_quantize_fn gemm_quantize_avx512(void) { return quantize_row_avx512; }

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
KERNEL_FOR(q5_0_kernel_avx512, q5_0_tile)
KERNEL_FOR(q4_1_kernel_avx512, q4_1_tile)
KERNEL_FOR(q5_1_kernel_avx512, q5_1_tile)
KERNEL_FOR(q2_K_kernel_avx512, q2_K_tile)
KERNEL_FOR(q3_K_kernel_avx512, q3_K_tile)
KERNEL_FOR(q4_K_kernel_avx512, q4_K_tile)
KERNEL_FOR(q5_K_kernel_avx512, q5_K_tile)
KERNEL_FOR(q6_K_kernel_avx512, q6_K_tile)

void gemm_kernels_avx512(gemm_kernel_fn table[]) {
    table[GGML_TYPE_Q8_0] = q8_0_kernel_avx512;
    table[GGML_TYPE_Q4_0] = q4_0_kernel_avx512;
    table[GGML_TYPE_Q2_K] = q2_K_kernel_avx512;
    table[GGML_TYPE_Q4_K] = q4_K_kernel_avx512;
    table[GGML_TYPE_Q4_1] = q4_1_kernel_avx512;
    if (__builtin_cpu_supports("gfni")) {
        table[GGML_TYPE_Q5_0] = q5_0_kernel_avx512;
        table[GGML_TYPE_Q5_1] = q5_1_kernel_avx512;
        table[GGML_TYPE_Q5_K] = q5_K_kernel_avx512;
    }
    table[GGML_TYPE_Q3_K] = q3_K_kernel_avx512;
    table[GGML_TYPE_Q6_K] = q6_K_kernel_avx512;
}

#else

void gemm_kernels_avx512(gemm_kernel_fn table[]) { (void)table; }

gemm_quantize_fn gemm_quantize_avx512(void) { return 0; }

gemm_float_fn gemm_float_avx512(bool *bf16_rows) {
    *bf16_rows = false;
    return 0;
}

gemm_float_fn gemm_float_avx512_fma(void) { return 0; }

#endif
