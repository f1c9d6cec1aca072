/* Scaled dot-product attention of a few query rows against one KV head of one sequence, on an F32
 * or an F16 (IEEE half) cache: scores = q·K, softmax over the row's positions, out = Σ weights · V.
 * The query, the scores, the softmax and the sums are F32 either way; an F16 cache's values are
 * converted to float as they are loaded (exactly: every half is a float), once per load shared by
 * the rows of the call.
 *
 * K is stored transposed in blocks of ATTN_BLOCK positions, so 16 scores come out of one chain of
 * multiply-adds (a broadcast query element times 16 positions' values of that dimension) with no
 * horizontal sums, and several query rows share each K load. V is stored position-major in slabs
 * of ATTN_V_SLAB columns (see attn_v_index), so that a pass over one slab's columns for several
 * query rows streams contiguous memory: with whole rows position-major, the two 64-column passes of
 * a head of 128 each pulled every line of V from memory (KV groups of three or more).
 *
 * Every row's result depends only on that row (its query, its position count and the cache), not on
 * which other rows share the call: per row the same operations run in the same order. */
#ifndef KUMO_TENSOR_ATTENTION_H
#define KUMO_TENSOR_ATTENTION_H

#include <stddef.h>
#include <stdint.h>

#define ATTN_BLOCK 16   /* positions per transposed K block */
#define ATTN_MAX_ROWS 8 /* query rows per call */

/* Index of (position p, dimension d) in a transposed K head cache of head size hk. */
static inline size_t attn_k_index(int p, int d, int hk) {
    return ((size_t)(p / ATTN_BLOCK) * (size_t)hk + (size_t)d) * ATTN_BLOCK + (size_t)(p % ATTN_BLOCK);
}

#define ATTN_V_SLAB 64 /* V columns per slab (the AVX-512 kernel's pass width for 3-4 rows) */

/* Columns per V slab for head size hv: ATTN_V_SLAB when it divides hv, else the whole row (one slab). */
static inline int attn_v_slab_width(int hv) { return hv % ATTN_V_SLAB == 0 ? ATTN_V_SLAB : hv; }

/* Index of (position p, column c) in a V head cache of head size hv: slab c / w (w =
 * attn_v_slab_width(hv)) starts vs elements after the previous one and holds its w columns of every
 * position, position-major. vs >= (positions in the cache) · w; with one slab it is not used. */
static inline size_t attn_v_index(int p, int c, int hv, size_t vs) {
    const int w = attn_v_slab_width(hv);
    return (size_t)(c / w) * vs + (size_t)p * (size_t)w + (size_t)(c % w);
}

/* For r < n_rows (<= ATTN_MAX_ROWS): out[r][i], i < hv, = the attention of query row q[r] (hk
 * floats, already multiplied by the score scale) over positions 0..npos[r]-1 (npos[r] >= 1) of the
 * K head kt (transposed blocks, see attn_k_index) and V head v (slabs vs elements apart, see
 * attn_v_index). scores: scratch of n_rows × (max npos rounded up to ATTN_BLOCK) floats. */
void attn_rows(int n_rows, const float *const *q, const int *npos, const float *kt, const float *v, int hk, int hv,
               size_t vs, float *const *out, float *scores);

/* Kernels per instruction-set level (attention.c, attention_avx2.c, attention_avx512.c). */
typedef void (*attn_rows_fn)(int n_rows, const float *const *q, const int *npos, const float *kt, const float *v,
                             int hk, int hv, size_t vs, float *const *out, float *scores);
void attn_rows_portable(int n_rows, const float *const *q, const int *npos, const float *kt, const float *v, int hk,
                        int hv, size_t vs, float *const *out, float *scores);
attn_rows_fn attn_rows_avx512_kernel(void); /* NULL when not built for x86-64 */
attn_rows_fn attn_rows_avx2_kernel(void);   /* NULL when not built for x86-64 */

/* attn_rows over an F16 cache: kt and v hold halves in the same layouts. */
void attn_rows_f16(int n_rows, const float *const *q, const int *npos, const uint16_t *kt, const uint16_t *v, int hk,
                   int hv, size_t vs, float *const *out, float *scores);

typedef void (*attn_rows_f16_fn)(int n_rows, const float *const *q, const int *npos, const uint16_t *kt,
                                 const uint16_t *v, int hk, int hv, size_t vs, float *const *out, float *scores);
void attn_rows_f16_portable(int n_rows, const float *const *q, const int *npos, const uint16_t *kt, const uint16_t *v,
                            int hk, int hv, size_t vs, float *const *out, float *scores);
attn_rows_f16_fn attn_rows_f16_avx512_kernel(void); /* NULL when not built for x86-64 */
attn_rows_f16_fn attn_rows_f16_avx2_kernel(void);   /* NULL when not built for x86-64 */

#endif
