/* Quantized matrix products on repacked weights: the GEMM (many tokens) and GEMV (one token) kernels
 * behind matmul (ops.h).
 *
 * Packing. At load time the rows of a Q8_0, Q4_0, Q4_K or Q6_K matrix are regrouped into panels of
 * GEMM_PANEL (16) rows. Inside a panel, block after block along the row, the same byte group of
 * every row sits side by side: 4 bytes of row 0, 4 bytes of row 1, ... — so one 64-byte load holds
 * 4 consecutive quants of 16 rows, and one vpdpbusd against 4 broadcast activation bytes advances
 * 16 dot products at once, with each row's sum in its own 32-bit lane (no horizontal sums). A
 * packed matrix is exactly as large as the original. A panel starts with the fp16 block scales of
 * all its blocks (the "headers"), then the block bodies, so that with an even number of blocks every
 * body group is 64-byte aligned; the body layouts are documented at each pack_* function in gemm.c.
 *
 * Activations. Before a product, each activation row is quantized once into a "GEMM row": the int8
 * quants as the reference engine makes them (Q8_0 blocks of 32 or Q8_K blocks of 256), the block
 * scales as float, and the block sums the kernels' bias corrections need.
 *
 * Exactness. A kernel computes every (row, token) result with the same sequence of operations
 * whatever the other rows and tokens of its tile are: exact integer sums per block, then one float
 * multiply-add per block into that result's own accumulator lane. So results do not depend on the
 * batch composition, the tile shapes or the thread count, and the one-token path is the many-token
 * path with one token. SIMD kernels equal the portable ones up to float rounding (they fuse the
 * multiply-add). */
#ifndef KUMO_TENSOR_GEMM_H
#define KUMO_TENSOR_GEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GEMM_PANEL 16  /* weight rows per panel: one 32-bit lane each in a 512-bit register */
#define GEMM_MAX_T 8   /* tokens per kernel call */

/* Activation formats of the packed kernels. */
enum gemm_act {
    GEMM_ACT_Q8_32 = 0,  /* for Q8_0, Q4_0: Q8_0 quants, per 32-block: float d, -128·Σq, -8·Σq */
    GEMM_ACT_Q8_256 = 1, /* for Q4_K, Q6_K: Q8_K quants, per 256-block: float d, sums (see gemm.c) */
    GEMM_ACT_COUNT = 2,
};

typedef struct kumo_packed {
    uint32_t type;            /* ggml type of the source rows */
    int act;                  /* enum gemm_act the kernels take */
    int64_t n_in, n_out;      /* of one matrix */
    int64_t n_blocks;         /* blocks along a row */
    size_t hdr_bytes;         /* per block: the rows' fp16 scales, at panel + b * hdr_bytes */
    size_t body_bytes;        /* per block: the rest, at panel + n_blocks * hdr_bytes + b * body_bytes */
    int64_t n_panels;         /* of one matrix: ceil(n_out / GEMM_PANEL) */
    size_t panel_bytes;       /* n_blocks * (hdr_bytes + body_bytes) */
    int64_t n_mats;           /* stacked matrices (experts); matrix e starts at panel e * n_panels */
    uint8_t *data;            /* n_mats * n_panels panels */
    size_t alloc_bytes;
} kumo_packed;

/* Can matrices of this type be packed (for the kernels of the selected instruction set)? */
bool gemm_can_pack(uint32_t type);
/* Packs n_mats stacked matrices of n_out rows × n_in elements (row r of matrix e at
 * src + (e * n_out + r) * row_bytes). NULL when out of memory or the type cannot be packed. Uses
 * up to n_threads threads. */
kumo_packed *gemm_pack(uint32_t type, int64_t n_in, int64_t n_out, int64_t n_mats, const void *src,
                       int n_threads);
void gemm_packed_free(kumo_packed *p);
/* A view of matrix e of a stacked pack (shares the data). */
kumo_packed gemm_packed_slice(const kumo_packed *p, int64_t e);

/* Bytes of one activation row of n_in elements in format act (a multiple of 64). */
size_t gemm_act_row_bytes(int act, int64_t n_in);
/* Quantizes one row of n_in floats into format act. */
void gemm_quantize_row(int act, const float *x, int64_t n_in, void *dst);

/* y[t * ldy + r - r0] for rows r of panels [p0, p1) of matrix w and tokens t < n_t (any count),
 * activation row t at act[t] (GEMM rows of w->act). Rows past w->n_out are not written. */
void gemm_panels(const kumo_packed *w, int64_t p0, int64_t p1, const uint8_t *const *act, int n_t, float *y,
                 size_t ldy);

/* ---------- internal: per-instruction-set kernels (gemm.c, gemm_avx512.c, gemm_avx2.c) ---------- */

/* One panel × T tokens (1 <= T <= GEMM_MAX_T): y[t * ldy + i] for the first n_rows rows. */
typedef void (*gemm_kernel_fn)(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, int T,
                               float *y, size_t ldy, int n_rows);

/* Kernels by ggml type for one instruction-set level (enum kumo_isa); entries may be NULL. */
void gemm_kernels_portable(gemm_kernel_fn table[]);
void gemm_kernels_avx2(gemm_kernel_fn table[]);
void gemm_kernels_avx512(gemm_kernel_fn table[]);
/* The kernel the dispatch chose for a type (NULL: not packable). */
gemm_kernel_fn gemm_kernel(uint32_t type);
/* The kernel of a given level, for tests (NULL if the CPU lacks the level or it has none). */
gemm_kernel_fn gemm_kernel_isa(uint32_t type, int isa);

/* Activation row layout, shared by the kernels. */
static inline const float *gemm_act_d(const uint8_t *row, int64_t n_in) { return (const float *)(row + n_in); }

#endif
