/* Tensor element types of the GGUF/ggml format: ids as stored in files, and the block geometry the
 * reader needs to check sizes. Pure data: the arithmetic on these types lives in tensor/. */
#ifndef KUMO_FORMAT_GGML_TYPE_H
#define KUMO_FORMAT_GGML_TYPE_H
#include <stddef.h>
#include <stdint.h>

enum ggml_type {
    GGML_TYPE_F32 = 0,
    GGML_TYPE_F16 = 1,
    GGML_TYPE_Q4_0 = 2,
    GGML_TYPE_Q4_1 = 3,
    GGML_TYPE_Q5_0 = 6,
    GGML_TYPE_Q5_1 = 7,
    GGML_TYPE_Q8_0 = 8,
    GGML_TYPE_Q8_1 = 9,
    GGML_TYPE_Q2_K = 10,
    GGML_TYPE_Q3_K = 11,
    GGML_TYPE_Q4_K = 12,
    GGML_TYPE_Q5_K = 13,
    GGML_TYPE_Q6_K = 14,
    GGML_TYPE_Q8_K = 15,
    GGML_TYPE_IQ2_XXS = 16,
    GGML_TYPE_IQ2_XS = 17,
    GGML_TYPE_IQ3_XXS = 18,
    GGML_TYPE_IQ1_S = 19,
    GGML_TYPE_IQ4_NL = 20,
    GGML_TYPE_IQ3_S = 21,
    GGML_TYPE_IQ2_S = 22,
    GGML_TYPE_IQ4_XS = 23,
    GGML_TYPE_I8 = 24,
    GGML_TYPE_I16 = 25,
    GGML_TYPE_I32 = 26,
    GGML_TYPE_I64 = 27,
    GGML_TYPE_F64 = 28,
    GGML_TYPE_IQ1_M = 29,
    GGML_TYPE_BF16 = 30,
    GGML_TYPE_TQ1_0 = 34,
    GGML_TYPE_TQ2_0 = 35,
    GGML_TYPE_MXFP4 = 39,
    GGML_TYPE_COUNT = 40,
};

#define QK_K 256

/* Elements per block (1 for plain types) and bytes per block; 0/0 for ids that are not a type. */
int ggml_type_block_size(uint32_t type);
size_t ggml_type_block_bytes(uint32_t type);
const char *ggml_type_name(uint32_t type);      /* "q4_K", "f32", … or NULL */
/* Parses a name case-insensitively ("Q4_K", "q8_0", "bf16"); -1 if unknown. */
int ggml_type_from_name(const char *name);
/* Bytes of a row of n elements; 0 if n is not a multiple of the block size. */
size_t ggml_row_bytes(uint32_t type, int64_t n);

#endif
