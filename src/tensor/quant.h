/* Tensor element types: F32, F16, BF16 and the ggml block-quantized formats.
 *
 * For each weight type: dequantization to float, and a dot product of one weight row with one
 * activation row already converted to the type's "vec_dot_type" (Q8_0 for the 32-blocks,
 * Q8_K for the K-quants, F16 for F16, BF16 for BF16, F32 for F32) — the way the reference engine
 * computes matmuls. Every kernel has a portable C version (kumo_type_traits_ref) that the tests
 * compare each SIMD version against; kumo_get_type_traits() returns the best one for this CPU, chosen
 * once at first call. */
#ifndef KUMO_TENSOR_QUANT_H
#define KUMO_TENSOR_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/ggml_type.h"

/* ---------- scalar conversions ---------- */
float kumo_fp16_to_fp32(uint16_t h);
uint16_t kumo_fp32_to_fp16(float f);   /* round to nearest even */
float kumo_bf16_to_fp32(uint16_t h);
uint16_t kumo_fp32_to_bf16(float f);   /* round to nearest even, NaN kept quiet */

/* ---------- block layouts (ggml format, little-endian, packed) ---------- */
#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32

typedef struct { uint16_t d; uint8_t qs[QK4_0 / 2]; } block_q4_0;
typedef struct { uint16_t d, m; uint8_t qs[QK4_1 / 2]; } block_q4_1;
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; } block_q5_0;
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; } block_q5_1;
typedef struct { uint16_t d; int8_t qs[QK8_0]; } block_q8_0;
typedef struct { uint8_t scales[QK_K / 16]; uint8_t qs[QK_K / 4]; uint16_t d, dmin; } block_q2_K;
typedef struct { uint8_t hmask[QK_K / 8]; uint8_t qs[QK_K / 4]; uint8_t scales[12]; uint16_t d; } block_q3_K;
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[QK_K / 2]; } block_q4_K;
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; } block_q5_K;
typedef struct { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; uint16_t d; } block_q6_K;
typedef struct { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; } block_q8_K;

/* ---------- per-type kernels ---------- */
typedef void (*kumo_to_float_fn)(const void *src, float *dst, int64_t n);
typedef void (*kumo_from_float_fn)(const float *src, void *dst, int64_t n);
/* Dot product of n elements: w is a row of the weight type, a a row of its vec_dot_type. */
typedef float (*kumo_vec_dot_fn)(int64_t n, const void *w, const void *a);

typedef struct kumo_type_traits {
    uint32_t type;               /* enum ggml_type */
    const char *name;
    int block_size;
    size_t block_bytes;
    uint32_t vec_dot_type;       /* activation type the dot product takes */
    kumo_to_float_fn to_float;   /* dequantize n elements (n multiple of block_size) */
    kumo_from_float_fn from_float; /* quantize activations (set for F32, F16, BF16, Q8_0, Q8_K) */
    kumo_vec_dot_fn vec_dot;     /* NULL for types that are only activation formats (Q8_K) */
} kumo_type_traits;

/* Best kernels for this CPU; NULL for a type kumo does not compute with. */
const kumo_type_traits *kumo_get_type_traits(uint32_t type); 
/* Portable C kernels only. */
const kumo_type_traits *kumo_type_traits_ref(uint32_t type);
/* Name of the instruction set the dispatch chose ("avx512", "avx2", "portable"). */
const char *kumo_cpu_isa(void);

#endif
