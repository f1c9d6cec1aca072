/* AVX2 attention kernels (see attention.h), the AVX-512 ones on 256-bit registers: a block of 16
 * positions is two halves of 8 scores, rows are taken four at a time. Per query row the operations
 * are fixed (one running sum per half-block over the dimensions, a vector softmax, one multiply-add
 * per position into each output vector, positions in order), so tiles do not change results. The F32
 * and F16 kernels are one body differing only in the loads (F16C's vcvtph2ps for halves). */
#include "tensor/attention.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "tensor/quant_x86.h"
#include "tensor/simd_exp.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")
#define ROWS 4 /* rows per pass: 8 accumulators and the two halves of K fit 16 registers */
#define PV_CHUNK 512 /* positions per chunk of the P·V passes: 64 KB of an F16 slab, kept in L2 between passes */

/* lanes < n set */
AVX2 INLINE __m256i lanes(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* Elements i .. i+8 of an F32 (f16 false) or F16 cache as floats. */
AVX2 INLINE __m256 load8(const void *base, size_t i, bool f16) {
    if (f16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)base + i)));
    return _mm256_loadu_ps((const float *)base + i);
}

/* The same with lanes >= n zero and not read; full: the caller knows n >= 8. AVX2 has no 16-bit
 * masked load: a partial group of halves goes through a zeroed copy (only heads whose size is not a
 * multiple of 16 get there, in a loop of their own: the test must not sit in the hot loop). */
AVX2 INLINE __m256 maskload8(const void *base, size_t i, int n, __m256i mask, bool f16, bool full) {
    if (!f16) return _mm256_maskload_ps((const float *)base + i, mask);
    if (full || n >= 8) return load8(base, i, true);
    uint16_t tmp[8] = {0};
    if (n > 0) memcpy(tmp, (const uint16_t *)base + i, (size_t)n * sizeof(uint16_t));
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)tmp));
}

AVX2 INLINE float hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

/* Scores of R rows for one block of 16 positions. */
AVX2 INLINE void qk_block(const int R, const float *const *q, const void *kt, size_t kb, int hk, float *s,
                          size_t s_stride, bool f16) {
    __m256 lo[ROWS], hi[ROWS];
    UNROLL
    for (int r = 0; r < R; r++) lo[r] = hi[r] = _mm256_setzero_ps();
    for (int d = 0; d < hk; d++) {
        const __m256 k0 = load8(kt, kb + (size_t)d * ATTN_BLOCK, f16);
        const __m256 k1 = load8(kt, kb + (size_t)d * ATTN_BLOCK + 8, f16);
        UNROLL
        for (int r = 0; r < R; r++) {
            const __m256 qv = _mm256_broadcast_ss(q[r] + d);
            lo[r] = _mm256_fmadd_ps(qv, k0, lo[r]);
            hi[r] = _mm256_fmadd_ps(qv, k1, hi[r]);
        }
    }
    UNROLL
    for (int r = 0; r < R; r++) {
        _mm256_storeu_ps(s + r * s_stride, lo[r]);
        _mm256_storeu_ps(s + r * s_stride + 8, hi[r]);
    }
}

AVX2 static void softmax_row(float *s, int n) {
    __m256 mx = _mm256_set1_ps(-INFINITY);
    for (int p = 0; p < n; p += 8) {
        const __m256 v = _mm256_loadu_ps(s + p);
        mx = _mm256_max_ps(mx, _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), v, _mm256_castsi256_ps(lanes(n - p))));
    }
    const __m256 m = _mm256_set1_ps(hmax8(mx));
    __m256 sum = _mm256_setzero_ps();
    for (int p = 0; p < n; p += 8) {
        const __m256 e = _mm256_and_ps(exp256(_mm256_sub_ps(_mm256_loadu_ps(s + p), m)),
                                       _mm256_castsi256_ps(lanes(n - p)));
        _mm256_storeu_ps(s + p, e);
        sum = _mm256_add_ps(sum, e);
    }
    const __m256 inv = _mm256_set1_ps(1.0f / hsum_ps(sum));
    for (int p = 0; p < n; p += 8) _mm256_storeu_ps(s + p, _mm256_mul_ps(_mm256_loadu_ps(s + p), inv));
}

/* a[r] += w[r][p] · the 16 V columns at vp, for R rows */
AVX2 INLINE void pv_step(const int R, const float *w, size_t w_stride, int p, const void *v, size_t vp, int n0, int n1,
                         __m256i m0, __m256i m1, bool f16, bool full, __m256 *a0, __m256 *a1) {
    const __m256 v0 = maskload8(v, vp, n0, m0, f16, full), v1 = maskload8(v, vp + 8, n1, m1, f16, full);
    UNROLL
    for (int r = 0; r < R; r++) {
        const __m256 wr = _mm256_broadcast_ss(w + r * w_stride + p);
        a0[r] = _mm256_fmadd_ps(wr, v0, a0[r]);
        a1[r] = _mm256_fmadd_ps(wr, v1, a1[r]);
    }
}

/* out rows (+)= Σ_p w[r][p] · v[p][c0 .. c0+16) for R rows over the shared positions [p0, p1), then,
 * if last, each row alone up to its own count. A pass continuing earlier chunks (p0 > 0) takes its
 * sums back from out, where the previous chunk stored them exactly: each sum gets the same
 * multiply-adds in the same order as in one pass over all positions. The 16 columns lie in one V
 * slab (its width is 64 or the whole row). Positions below pf_end - PV_CHUNK also fetch their slab
 * row PV_CHUNK positions ahead, for the next chunk's passes (pf_end 0: none). */
AVX2 INLINE void pv_pass(const int R, const float *w, size_t w_stride, const int *npos, int p0, int p1, bool last,
                         int pf_end, const void *v, int hv, size_t vs, int c0, float *const *out, bool f16, bool full) {
    const int n0 = hv - c0, n1 = hv - c0 - 8, sw = attn_v_slab_width(hv);
    const size_t base = attn_v_index(0, c0, hv, vs);
    const __m256i m0 = lanes(n0), m1 = lanes(n1);
    __m256 a0[ROWS], a1[ROWS];
    UNROLL
    for (int r = 0; r < R; r++) {
        if (p0 > 0) {
            a0[r] = _mm256_maskload_ps(out[r] + c0, m0);
            a1[r] = _mm256_maskload_ps(out[r] + c0 + 8, m1);
        } else {
            a0[r] = a1[r] = _mm256_setzero_ps();
        }
    }
    int p_pf = pf_end - PV_CHUNK;
    if (p_pf > p1) p_pf = p1;
    if (p_pf < p0) p_pf = p0;
    const size_t esz = f16 ? sizeof(uint16_t) : sizeof(float), pf_step = (size_t)sw * esz; /* bytes per slab row */
    const char *pf = p_pf > p0 ? (const char *)v + (base + (size_t)(p0 + PV_CHUNK) * sw) * esz : NULL;
    for (int p = p0; p < p_pf; p++, pf += pf_step) {
        for (size_t i = 0; i < pf_step; i += 64) _mm_prefetch(pf + i, _MM_HINT_T0);
        pv_step(R, w, w_stride, p, v, base + (size_t)p * sw, n0, n1, m0, m1, f16, full, a0, a1);
    }
    for (int p = p_pf; p < p1; p++) pv_step(R, w, w_stride, p, v, base + (size_t)p * sw, n0, n1, m0, m1, f16, full, a0, a1);
    UNROLL
    for (int r = 0; r < R; r++) {
        for (int p = p1; last && p < npos[r]; p++)
            pv_step(1, w + r * w_stride, w_stride, p, v, base + (size_t)p * sw, n0, n1, m0, m1, f16, full, a0 + r, a1 + r);
        _mm256_maskstore_ps(out[r] + c0, m0, a0[r]);
        _mm256_maskstore_ps(out[r] + c0 + 8, m1, a1[r]);
    }
}

AVX2 INLINE void attn_rows_body(int n_rows, const float *const *q, const int *npos, const void *kt, const void *v,
                                int hk, int hv, size_t vs, float *const *out, float *scores, bool f16) {
    int max_n = 0;
    for (int r = 0; r < n_rows; r++)
        if (npos[r] > max_n) max_n = npos[r];
    const int n_blk = (max_n + ATTN_BLOCK - 1) / ATTN_BLOCK;
    const size_t s_stride = (size_t)n_blk * ATTN_BLOCK;
    for (int r0 = 0; r0 < n_rows; r0 += ROWS) {
        const int R = n_rows - r0 < ROWS ? n_rows - r0 : ROWS;
        for (int b = 0; b < n_blk; b++) {
            const size_t kb = (size_t)b * hk * ATTN_BLOCK;
            float *s = scores + r0 * s_stride + (size_t)b * ATTN_BLOCK;
            switch (R) {
            case 1: qk_block(1, q + r0, kt, kb, hk, s, s_stride, f16); break;
            case 2: qk_block(2, q + r0, kt, kb, hk, s, s_stride, f16); break;
            case 3: qk_block(3, q + r0, kt, kb, hk, s, s_stride, f16); break;
            default: qk_block(4, q + r0, kt, kb, hk, s, s_stride, f16); break;
            }
        }
    }
    for (int r = 0; r < n_rows; r++) softmax_row(scores + r * s_stride, npos[r]);
    for (int r0 = 0; r0 < n_rows; r0 += ROWS) {
        const int R = n_rows - r0 < ROWS ? n_rows - r0 : ROWS;
        int n_common = npos[r0];
        for (int r = 1; r < R; r++)
            if (npos[r0 + r] < n_common) n_common = npos[r0 + r];
        const float *w = scores + r0 * s_stride;
        const int c_full = hv / 16 * 16;
        /* A 16-column pass reads half of each 64-byte line of an F16 slab (a quarter of an F32 one);
         * the other passes over the same lines come while a chunk of PV_CHUNK positions is still in
         * cache, so that long contexts read V from memory once. */
        for (int p0 = 0;; p0 += PV_CHUNK) {
            const int p1 = n_common - p0 > PV_CHUNK ? p0 + PV_CHUNK : n_common;
            const bool last = p1 == n_common;
            for (int c0 = 0; c0 < c_full; c0 += 16) {
                /* the first pass over a slab fetches its rows of the next chunk */
                const int pf = c0 % attn_v_slab_width(hv) == 0 ? n_common : 0;
                switch (R) {
                case 1: pv_pass(1, w, s_stride, npos + r0, p0, p1, last, pf, v, hv, vs, c0, out + r0, f16, true); break;
                case 2: pv_pass(2, w, s_stride, npos + r0, p0, p1, last, pf, v, hv, vs, c0, out + r0, f16, true); break;
                case 3: pv_pass(3, w, s_stride, npos + r0, p0, p1, last, pf, v, hv, vs, c0, out + r0, f16, true); break;
                default: pv_pass(4, w, s_stride, npos + r0, p0, p1, last, pf, v, hv, vs, c0, out + r0, f16, true); break;
                }
            }
            if (last) break;
        }
        for (int r = 0; c_full < hv && r < R; r++) /* the head's last columns, fewer than 16 */
            pv_pass(1, w + r * s_stride, s_stride, npos + r0 + r, 0, npos[r0 + r], true, 0, v, hv, vs, c_full, out + r0 + r,
                    f16, false);
    }
}

AVX2 static void attn_rows_avx2(int n_rows, const float *const *q, const int *npos, const float *kt, const float *v,
                                int hk, int hv, size_t vs, float *const *out, float *scores) {
    attn_rows_body(n_rows, q, npos, kt, v, hk, hv, vs, out, scores, false);
}

AVX2 static void attn_rows_f16_avx2(int n_rows, const float *const *q, const int *npos, const uint16_t *kt,
                                    const uint16_t *v, int hk, int hv, size_t vs, float *const *out,
                                    float *scores) {
    attn_rows_body(n_rows, q, npos, kt, v, hk, hv, vs, out, scores, true);
}

attn_rows_fn attn_rows_avx2_kernel(void) { return attn_rows_avx2; }
attn_rows_f16_fn attn_rows_f16_avx2_kernel(void) { return attn_rows_f16_avx2; }

#else

attn_rows_fn attn_rows_avx2_kernel(void) { return 0; }
attn_rows_f16_fn attn_rows_f16_avx2_kernel(void) { return 0; }

#endif
