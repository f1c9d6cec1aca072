/* Quantized matrix products on repacked weights: the GEMM (many tokens) and GEMV (one token) kernels
 * behind matmul (ops.h).
 *
 * Packing. At load time the rows of a Q8_0, Q4_0, Q5_0, Q4_1, Q5_1 or Q2_K-Q6_K matrix are regrouped into panels of
 * GEMM_PANEL (16) rows. Inside a panel, block after block along the row, the same byte group of
 * every row sits side by side: 4 bytes of row 0, 4 bytes of row 1, ... — so one 64-byte load holds
 * 4 consecutive quants of 16 rows, and one vpdpbusd against 4 broadcast activation bytes advances
 * 16 dot products at once, with each row's sum in its own 32-bit lane (no horizontal sums). A
 * packed matrix is as large as the original (but for 32 bytes per panel when a row has an odd
 * number of 32-blocks). Blocks are stored in groups of one or two: the group's fp16 block scales
 * (the "headers", 64 bytes), then its block bodies, so every load is 64-byte aligned and a panel is
 * read front to back in one stream (a hardware prefetcher loses track of two interleaved streams).
 * The body layouts are documented at each pack_* function in gemm.c.
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
    GEMM_ACT_Q8_32 = 0,  /* Q8_0, Q4_0, Q5_0, Q4_1, Q5_1: Q8_0 quants, per 32-block: d and sums (gemm.c) */
    GEMM_ACT_Q8_256 = 1, /* for Q4_K, Q5_K, Q6_K: Q8_K quants, per 256-block: float d, sums (see gemm.c) */
    GEMM_ACT_COUNT = 2,
};

typedef struct kumo_packed {
    uint32_t type;            /* ggml type of the source rows */
    int act;                  /* enum gemm_act the kernels take */
    int64_t n_in, n_out;      /* of one matrix */
    int64_t n_blocks;         /* blocks along a row */
    size_t hdr_bytes;         /* per block: the rows' fp16 scales (gemm_block_hdr) */
    size_t body_bytes;        /* per block: the rest (gemm_block_body) */
    int group;                /* blocks per group */
    int64_t n_panels;         /* of one matrix: ceil(n_out / GEMM_PANEL) */
    size_t panel_bytes;
    int64_t n_mats;           /* stacked matrices (experts); matrix e starts at panel e * n_panels */
    uint8_t *data;            /* n_mats * n_panels panels */
    size_t alloc_bytes;       /* > 0 when this pack owns data (an arena of that size starting there) */
} kumo_packed;

/* Can matrices of this type be packed (for the kernels of the selected instruction set)? */
bool gemm_can_pack(uint32_t type);
/* Packs n_mats stacked matrices of n_out rows × n_in elements (row r of matrix e at
 * src + (e * n_out + r) * row_bytes). NULL when out of memory or the type has no packed layout (the
 * layout is the same for every instruction set). Uses up to n_threads threads. */
kumo_packed *gemm_pack(uint32_t type, int64_t n_in, int64_t n_out, int64_t n_mats, const void *src,
                       int n_threads);
/* The same into dst (gemm_packed_bytes(...) bytes, 64-byte aligned), which the pack does not own. */
kumo_packed *gemm_pack_into(uint32_t type, int64_t n_in, int64_t n_out, int64_t n_mats, const void *src,
                            int n_threads, uint8_t *dst);
size_t gemm_packed_bytes(uint32_t type, int64_t n_in, int64_t n_out, int64_t n_mats); /* 0: cannot pack */
/* Frees the pack, and its data when it owns it (alloc_bytes != 0). */
void gemm_packed_free(kumo_packed *p);
/* Memory for packed weights: huge pages where the OS offers them (the weights are streamed once per
 * generated token; fewer TLB misses). */
uint8_t *gemm_arena_alloc(size_t bytes, size_t *alloc_bytes);
void gemm_arena_free(uint8_t *p, size_t alloc_bytes);
/* An arena as gemm_arena_alloc's, zeroed, with every page faulted in now (NULL when out of memory):
 * for buffers whose first touch would otherwise fault inside a timed loop (the KV caches and a
 * batch's rows, the bandwidth probe). Freed with gemm_arena_free. */
uint8_t *gemm_arena_alloc_prefaulted(size_t bytes, size_t *alloc_bytes);
/* A view of matrix e of a stacked pack (shares the data). */
kumo_packed gemm_packed_slice(const kumo_packed *p, int64_t e);

/* Bytes of one activation row of n_in elements in format act (a multiple of 64). */
size_t gemm_act_row_bytes(int act, int64_t n_in);
/* Quantizes one row of n_in floats into format act (the fastest version for the selected
 * instruction set; every version writes the same bytes). */
void gemm_quantize_row(int act, const float *x, int64_t n_in, void *dst);
/* The version built on the type kernels of quant.h, for tests. */
void gemm_quantize_row_ref(int act, const float *x, int64_t n_in, void *dst);

/* y[t * ldy + r - r0] for rows r of panels [p0, p1) of matrix w and tokens t < n_t (any count),
 * activation row t at act[t] (GEMM rows of w->act). Rows past w->n_out are not written. */
void gemm_panels(const kumo_packed *w, int64_t p0, int64_t p1, const uint8_t *const *act, int n_t, float *y,
                 size_t ldy);

/* ---------- float weights (F32, F16, BF16), unpacked ---------- */

/* y[t * ldy + r] = row r of w · act[t] for r < n_rows (rows row_bytes apart) and t < T (any count).
 * The activation rows are written by gemm_float_act_row. Each (row, token) result is one vector
 * running sum over the row followed by a fixed horizontal sum, whatever the tiling. */
typedef void (*gemm_float_fn)(uint32_t type, const uint8_t *w, size_t row_bytes, int n_rows, int64_t n_in,
                              const void *const *act, int T, float *y, size_t ldy);
/* The float kernel of the selected level, NULL when it has none (matmul then uses vec_dot). */
gemm_float_fn gemm_float_kernel(void);
/* *bf16_rows: whether the kernel's BF16 weights take their activation rows as bf16 values. */
gemm_float_fn gemm_float_avx512(bool *bf16_rows);
/* The AVX-512 float kernel without AVX512_BF16 (float activation rows for every type), which
 * gemm_float_avx512 returns on such CPUs; for the tests on CPUs that have it. NULL without AVX-512. */
gemm_float_fn gemm_float_avx512_fma(void);
/* The activation row of n floats x for the float kernel and weight type: x rounded to the precision
 * of type (F16, BF16: as their from_float does; F32: a copy), as floats, or as the bf16 values
 * themselves where the kernel takes those. dst holds n floats. */
void gemm_float_act_row(uint32_t type, const float *x, int64_t n, void *dst);

/* ---------- internal: per-instruction-set kernels (gemm.c, gemm_avx512.c, gemm_avx2.c) ---------- */

/* One panel × T tokens (1 <= T <= GEMM_MAX_T): y[t * ldy + i] for the first n_rows rows. With few
 * tokens a kernel is bound by memory; it reads the panel front to back and leaves the prefetching to
 * the hardware (software prefetches measured slower on this layout). */
typedef void (*gemm_kernel_fn)(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, int T,
                               float *y, size_t ldy, int n_rows);

/* Kernels by ggml type for one instruction-set level (enum kumo_isa); entries may be NULL. */
void gemm_kernels_portable(gemm_kernel_fn table[]);
void gemm_kernels_avx2(gemm_kernel_fn table[]);
void gemm_kernels_avx512(gemm_kernel_fn table[]);
typedef void (*gemm_quantize_fn)(int act, const float *x, int64_t n_in, void *dst);
gemm_quantize_fn gemm_quantize_avx512(void); /* NULL when not built for x86-64 */
/* The kernel of the selected level for a type (NULL: that level does not pack the type). */
gemm_kernel_fn gemm_kernel(uint32_t type);
/* The kernel of a given level, for tests (NULL if the CPU lacks the level or the level has none). */
gemm_kernel_fn gemm_kernel_isa(uint32_t type, int isa);

/* Where block b of a panel keeps its header and body. */
static inline const uint8_t *gemm_block_hdr(const kumo_packed *w, const uint8_t *panel, int64_t b) {
    return panel + (size_t)(b / w->group) * (size_t)w->group * (w->hdr_bytes + w->body_bytes) +
           (size_t)(b % w->group) * w->hdr_bytes;
}

static inline const uint8_t *gemm_block_body(const kumo_packed *w, const uint8_t *panel, int64_t b) {
    return panel + (size_t)(b / w->group) * (size_t)w->group * (w->hdr_bytes + w->body_bytes) +
           (size_t)w->group * w->hdr_bytes + (size_t)(b % w->group) * w->body_bytes;
}

/* Q6_K body: the 16 sub-block scales scale-major (sub-block j: the 16 rows' int8 scales at 16 j), then
 * 48 word groups in the order the one-token kernel reads them (one stream): for each quarter
 * qt = 2h + g (half h, 16-element part g) and word c, the three words X0, X1, X2 that hold the four
 * 6-bit quarters' quants of elements 128h + 32tq + 16g + 4c + e (tq = 0..3, e = 0..3, see pack_q6_K).
 * Offset of word k (0-2) of quarter qt, word c: */
static inline size_t gemm_q6k_word_at(int qt, int c, int k) { return 256 + (size_t)((4 * qt + c) * 3 + k) * 64; }

/* Activation row layout, shared by the kernels. */
static inline const float *gemm_act_d(const uint8_t *row, int64_t n_in) { return (const float *)(row + n_in); }

/* The per-block sums after the nb block scales of a GEMM row, as 32-bit words; each array starts at
 * `at` words per block (gemm_act_row_bytes in gemm.c describes the layouts). */
enum gemm_act_sums {
    GEMM_SUMS_C128 = 0,      /* Q8_32: -128·Σq, one word per block */
    GEMM_SUMS_C8 = 1,        /* Q8_32: -8·Σq */
    GEMM_SUMS_C16 = 2,       /* Q8_32: -16·Σq */
    GEMM_SUMS_DSUM = 3,      /* Q8_32: d·Σq rounded to fp16, as a float */
    GEMM_SUMS_MIN_PAIRS = 0, /* Q8_256: 4 words per block, the Q4_K/Q5_K min pairs */
    GEMM_SUMS_BIAS32 = 4,    /* Q8_256: 16 words per block, -32·B_j */
    GEMM_SUMS_B_PAIRS = 20,  /* Q8_256: 8 words per block, (B_2p, B_2p+1) as int16 pairs */
    GEMM_SUMS_BIAS4 = 28,    /* Q8_256: 16 words per block, -4·B_j */
    GEMM_SUMS_BIAS32_HALF = 44, /* Q8_256: 32 words per block, -32·(Σq of each 8-element half of sub-block j) */
};

static inline const int32_t *gemm_act_sums(const uint8_t *row, int64_t n_in, int64_t nb, int at) {
    return (const int32_t *)(gemm_act_d(row, n_in) + nb) + (size_t)at * (size_t)nb;
}

#endif
