/* AVX-512 attention kernels (see attention.h). Per query row the operations are fixed: two running
 * sums per score (even and odd dimensions, added at the end), a vector softmax, and one multiply-add
 * per position into each output vector, positions in order. Tiles only decide which rows share the
 * loads. The F32 and F16 kernels are one body: an F16 cache differs only in its loads (vcvtph2ps,
 * one per 16 values, shared by every row of the tile). */
#include "tensor/attention.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl")))
#define INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")

#include "tensor/simd_exp.h"

AVX512 INLINE __mmask16 tail_mask(int n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1); }

/* Elements i .. i+16 of an F32 (f16 false) or F16 cache as floats; masked-off lanes are 0. */
AVX512 INLINE __m512 load16(const void *base, size_t i, bool f16) {
    if (f16) return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)base + i)));
    return _mm512_loadu_ps((const float *)base + i);
}

AVX512 INLINE __m512 maskz_load16(__mmask16 k, const void *base, size_t i, bool f16) {
    if (f16) return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, (const uint16_t *)base + i));
    return _mm512_maskz_loadu_ps(k, (const float *)base + i);
}

/* acc + k · (the float at q, broadcast), the broadcast kept in the memory operand ({1to16}): the
 * compilers emit a separate vbroadcastss per row and step instead. */
AVX512 INLINE __m512 fma_bcast(__m512 acc, __m512 k, const float *q) {
    __asm__("vfmadd231ps %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(k), "m"(*q));
    return acc;
}

/* Scores of R rows for one block of 16 positions. */
AVX512 INLINE void qk_block(const int R, const float *const *q, const void *kt, size_t kb, int hk, float *s,
                            size_t s_stride, bool f16) {
    __m512 a0[ATTN_MAX_ROWS], a1[ATTN_MAX_ROWS];
    UNROLL
    for (int r = 0; r < R; r++) a0[r] = a1[r] = _mm512_setzero_ps();
    int d = 0;
    for (; d + 2 <= hk; d += 2) {
        const __m512 k0 = load16(kt, kb + (size_t)d * ATTN_BLOCK, f16);
        const __m512 k1 = load16(kt, kb + (size_t)(d + 1) * ATTN_BLOCK, f16);
        UNROLL
        for (int r = 0; r < R; r++) {
            a0[r] = fma_bcast(a0[r], k0, q[r] + d);
            a1[r] = fma_bcast(a1[r], k1, q[r] + d + 1);
        }
    }
    if (d < hk) {
        const __m512 k0 = load16(kt, kb + (size_t)d * ATTN_BLOCK, f16);
        UNROLL
        for (int r = 0; r < R; r++) a0[r] = fma_bcast(a0[r], k0, q[r] + d);
    }
    UNROLL
    for (int r = 0; r < R; r++) _mm512_storeu_ps(s + r * s_stride, _mm512_add_ps(a0[r], a1[r]));
}

/* softmax of s[0..n) in place */
AVX512 static void softmax_row(float *s, int n) {
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int p = 0; p < n; p += 16)
        mx = _mm512_mask_max_ps(mx, tail_mask(n - p), mx, _mm512_loadu_ps(s + p));
    const __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    __m512 sum = _mm512_setzero_ps();
    for (int p = 0; p < n; p += 16) {
        const __mmask16 k = tail_mask(n - p);
        const __m512 e = _mm512_maskz_mov_ps(k, exp512(_mm512_sub_ps(_mm512_loadu_ps(s + p), m)));
        _mm512_storeu_ps(s + p, e);
        sum = _mm512_add_ps(sum, e);
    }
    const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    for (int p = 0; p < n; p += 16) _mm512_storeu_ps(s + p, _mm512_mul_ps(_mm512_loadu_ps(s + p), inv));
}

/* out rows += Σ_p w[r][p] · v[p][c0 .. c0+16·C) for R rows sharing positions [0, n_common), then each
 * row alone up to its own count: the same multiply-adds in the same order either way. R·C
 * accumulators and C loaded vectors must fit the 32 registers: C = 8 (128 columns, two V slabs of
 * head size 128, so V is streamed once) for up to two rows, C = 4 (one slab) for more. */
AVX512 INLINE void pv_pass(const int R, const int C, const float *w, size_t w_stride, const int *npos, int n_common,
                           const void *v, int hv, size_t vs, int c0, float *const *out, bool f16) {
    const int sw = attn_v_slab_width(hv);
    __mmask16 mk[8];
    size_t vc[8]; /* where column vector c starts at position 0 */
    UNROLL
    for (int c = 0; c < C; c++) {
        mk[c] = c0 + 16 * c < hv ? tail_mask(hv - c0 - 16 * c) : 0;
        vc[c] = mk[c] ? attn_v_index(0, c0 + 16 * c, hv, vs) : 0;
    }
    __m512 acc[4][8];
    UNROLL
    for (int r = 0; r < R; r++)
        UNROLL
        for (int c = 0; c < C; c++) acc[r][c] = _mm512_setzero_ps();
    for (int p = 0; p < n_common; p++) {
        const size_t vp = (size_t)p * sw;
        __m512 vv[8];
        UNROLL
        for (int c = 0; c < C; c++) vv[c] = maskz_load16(mk[c], v, vc[c] + vp, f16);
        UNROLL
        for (int r = 0; r < R; r++) {
            const __m512 wr = _mm512_set1_ps(w[r * w_stride + p]);
            UNROLL
            for (int c = 0; c < C; c++) acc[r][c] = _mm512_fmadd_ps(wr, vv[c], acc[r][c]);
        }
    }
    UNROLL
    for (int r = 0; r < R; r++) {
        for (int p = n_common; p < npos[r]; p++) {
            const size_t vp = (size_t)p * sw;
            const __m512 wr = _mm512_set1_ps(w[r * w_stride + p]);
            UNROLL
            for (int c = 0; c < C; c++)
                acc[r][c] = _mm512_fmadd_ps(wr, maskz_load16(mk[c], v, vc[c] + vp, f16), acc[r][c]);
        }
        UNROLL
        for (int c = 0; c < C; c++) _mm512_mask_storeu_ps(out[r] + c0 + 16 * c, mk[c], acc[r][c]);
    }
}

AVX512 INLINE void attn_rows_body(int n_rows, const float *const *q, const int *npos, const void *kt, const void *v,
                                  int hk, int hv, size_t vs, float *const *out, float *scores, bool f16) {
    int max_n = 0;
    for (int r = 0; r < n_rows; r++)
        if (npos[r] > max_n) max_n = npos[r];
    const int n_blk = (max_n + ATTN_BLOCK - 1) / ATTN_BLOCK;
    const size_t s_stride = (size_t)n_blk * ATTN_BLOCK;
    for (int b = 0; b < n_blk; b++) {
        const size_t kb = (size_t)b * hk * ATTN_BLOCK;
        float *s = scores + (size_t)b * ATTN_BLOCK;
        switch (n_rows) {
        case 1: qk_block(1, q, kt, kb, hk, s, s_stride, f16); break;
        case 2: qk_block(2, q, kt, kb, hk, s, s_stride, f16); break;
        case 3: qk_block(3, q, kt, kb, hk, s, s_stride, f16); break;
        case 4: qk_block(4, q, kt, kb, hk, s, s_stride, f16); break;
        case 5: qk_block(5, q, kt, kb, hk, s, s_stride, f16); break;
        case 6: qk_block(6, q, kt, kb, hk, s, s_stride, f16); break;
        case 7: qk_block(7, q, kt, kb, hk, s, s_stride, f16); break;
        default: qk_block(8, q, kt, kb, hk, s, s_stride, f16); break;
        }
    }
    for (int r = 0; r < n_rows; r++) softmax_row(scores + r * s_stride, npos[r]);
    for (int r0 = 0; r0 < n_rows; r0 += 4) {
        const int R = n_rows - r0 < 4 ? n_rows - r0 : 4;
        int n_common = npos[r0];
        for (int r = 1; r < R; r++)
            if (npos[r0 + r] < n_common) n_common = npos[r0 + r];
        const float *w = scores + r0 * s_stride;
        float *const *o = out + r0;
        /* One or two rows (a decode step of a KV group of two: qwen3) have the registers for 128
         * columns a pass: V is read once even when it is one slab (hv above 64, not a multiple of it).
         * More rows take 64 columns a pass, one slab each, so V is still read once when it has slabs. */
        if (R <= 2 && hv > 64) {
            for (int c0 = 0; c0 < hv; c0 += 128) {
                if (R == 1) pv_pass(1, 8, w, s_stride, npos + r0, n_common, v, hv, vs, c0, o, f16);
                else pv_pass(2, 8, w, s_stride, npos + r0, n_common, v, hv, vs, c0, o, f16);
            }
            continue;
        }
        for (int c0 = 0; c0 < hv; c0 += 64) {
            switch (R) {
            case 1: pv_pass(1, 4, w, s_stride, npos + r0, n_common, v, hv, vs, c0, o, f16); break;
            case 2: pv_pass(2, 4, w, s_stride, npos + r0, n_common, v, hv, vs, c0, o, f16); break;
            case 3: pv_pass(3, 4, w, s_stride, npos + r0, n_common, v, hv, vs, c0, o, f16); break;
            default: pv_pass(4, 4, w, s_stride, npos + r0, n_common, v, hv, vs, c0, o, f16); break;
            }
        }
    }
}

AVX512 static void attn_rows_avx512(int n_rows, const float *const *q, const int *npos, const float *kt,
                                    const float *v, int hk, int hv, size_t vs, float *const *out, float *scores) {
    attn_rows_body(n_rows, q, npos, kt, v, hk, hv, vs, out, scores, false);
}

AVX512 static void attn_rows_f16_avx512(int n_rows, const float *const *q, const int *npos, const uint16_t *kt,
                                        const uint16_t *v, int hk, int hv, size_t vs, float *const *out,
                                        float *scores) {
    attn_rows_body(n_rows, q, npos, kt, v, hk, hv, vs, out, scores, true);
}

attn_rows_fn attn_rows_avx512_kernel(void) { return attn_rows_avx512; }
attn_rows_f16_fn attn_rows_f16_avx512_kernel(void) { return attn_rows_f16_avx512; }

#else

attn_rows_fn attn_rows_avx512_kernel(void) { return 0; }
attn_rows_f16_fn attn_rows_f16_avx512_kernel(void) { return 0; }

#endif
