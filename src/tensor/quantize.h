/* Weight quantizers: float rows -> ggml block formats, with the reference engine's algorithms
 * (as llama-quantize runs them without an importance matrix), so kumo-made files are as accurate
 * as llama.cpp's:
 *  - Q8_0, Q4_0, Q5_0: round to nearest with the scale taken from the block's largest-magnitude
 *    value; Q4_1, Q5_1: min/max affine scale;
 *  - Q2_K, Q4_K, Q5_K: per-sub-block scale and min found by a weighted least-squares search over
 *    candidate scales, then the sub-block scales themselves quantized to 4/6 bits;
 *  - Q3_K, Q6_K: symmetric per-sub-block scales refined to minimize the x²-weighted error;
 *  - F16, BF16: round to nearest even.
 * n must be a multiple of the type's block size; dst receives ggml_row_bytes(type, n) bytes. Any
 * float input (inf, nan, huge, tiny) yields a well-formed block without crashing. */
#ifndef KUMO_TENSOR_QUANTIZE_H
#define KUMO_TENSOR_QUANTIZE_H

#include <stdbool.h>
#include <stdint.h>

void quantize_row_q8_0(const float *src, void *dst, int64_t n);
void quantize_row_q4_0(const float *src, void *dst, int64_t n);
void quantize_row_q4_1(const float *src, void *dst, int64_t n);
void quantize_row_q5_0(const float *src, void *dst, int64_t n);
void quantize_row_q5_1(const float *src, void *dst, int64_t n);
void quantize_row_q2_K(const float *src, void *dst, int64_t n);
void quantize_row_q3_K(const float *src, void *dst, int64_t n);
void quantize_row_q4_K(const float *src, void *dst, int64_t n);
void quantize_row_q5_K(const float *src, void *dst, int64_t n);
void quantize_row_q6_K(const float *src, void *dst, int64_t n);
void quantize_row_f16(const float *src, void *dst, int64_t n);
void quantize_row_bf16(const float *src, void *dst, int64_t n);

/* The quantizer for a weight type (one of the above, or a copy for F32); NULL if kumo cannot
 * produce that type. */
typedef void (*kumo_quantize_row_fn)(const float *src, void *dst, int64_t n);
kumo_quantize_row_fn kumo_quantizer(uint32_t type);

#endif
