#include "format/ggml_type.h"

#include <strings.h>

struct type_geom {
    const char *name;
    int block;
    size_t bytes;
};

/* Block layouts of the ggml format: bytes = scales + packed quants per block. */
static const struct type_geom GEOM[GGML_TYPE_COUNT] = {
    [GGML_TYPE_F32] = {"f32", 1, 4},
    [GGML_TYPE_F16] = {"f16", 1, 2},
    [GGML_TYPE_Q4_0] = {"q4_0", 32, 2 + 16},
    [GGML_TYPE_Q4_1] = {"q4_1", 32, 2 + 2 + 16},
    [GGML_TYPE_Q5_0] = {"q5_0", 32, 2 + 4 + 16},
    [GGML_TYPE_Q5_1] = {"q5_1", 32, 2 + 2 + 4 + 16},
    [GGML_TYPE_Q8_0] = {"q8_0", 32, 2 + 32},
    [GGML_TYPE_Q8_1] = {"q8_1", 32, 4 + 32},
    [GGML_TYPE_Q2_K] = {"q2_K", QK_K, QK_K / 16 + QK_K / 4 + 2 + 2},
    [GGML_TYPE_Q3_K] = {"q3_K", QK_K, QK_K / 8 + QK_K / 4 + 12 + 2},
    [GGML_TYPE_Q4_K] = {"q4_K", QK_K, 2 + 2 + 12 + QK_K / 2},
    [GGML_TYPE_Q5_K] = {"q5_K", QK_K, 2 + 2 + 12 + QK_K / 8 + QK_K / 2},
    [GGML_TYPE_Q6_K] = {"q6_K", QK_K, QK_K / 2 + QK_K / 4 + QK_K / 16 + 2},
    [GGML_TYPE_Q8_K] = {"q8_K", QK_K, 4 + QK_K + QK_K / 16 * 2},
    [GGML_TYPE_IQ2_XXS] = {"iq2_xxs", QK_K, 2 + QK_K / 8 * 2},
    [GGML_TYPE_IQ2_XS] = {"iq2_xs", QK_K, 2 + QK_K / 8 * 2 + QK_K / 32},
    [GGML_TYPE_IQ3_XXS] = {"iq3_xxs", QK_K, 2 + 3 * (QK_K / 8)},
    [GGML_TYPE_IQ1_S] = {"iq1_s", QK_K, 2 + QK_K / 8 + QK_K / 16},
    [GGML_TYPE_IQ4_NL] = {"iq4_nl", 32, 2 + 16},
    [GGML_TYPE_IQ3_S] = {"iq3_s", QK_K, 2 + QK_K / 4 + QK_K / 32 + QK_K / 8 + QK_K / 64},
    [GGML_TYPE_IQ2_S] = {"iq2_s", QK_K, 2 + QK_K / 4 + QK_K / 16},
    [GGML_TYPE_IQ4_XS] = {"iq4_xs", QK_K, 2 + 2 + QK_K / 64 + QK_K / 2},
    [GGML_TYPE_I8] = {"i8", 1, 1},
    [GGML_TYPE_I16] = {"i16", 1, 2},
    [GGML_TYPE_I32] = {"i32", 1, 4},
    [GGML_TYPE_I64] = {"i64", 1, 8},
    [GGML_TYPE_F64] = {"f64", 1, 8},
    [GGML_TYPE_IQ1_M] = {"iq1_m", QK_K, QK_K / 8 + QK_K / 16 + QK_K / 32},
    [GGML_TYPE_BF16] = {"bf16", 1, 2},
    [GGML_TYPE_TQ1_0] = {"tq1_0", QK_K, 2 + 4 * 13},
    [GGML_TYPE_TQ2_0] = {"tq2_0", QK_K, 2 + 64},
    [GGML_TYPE_MXFP4] = {"mxfp4", 32, 1 + 16},
};

int ggml_type_block_size(uint32_t type) {
    return type < GGML_TYPE_COUNT ? GEOM[type].block : 0;
}

size_t ggml_type_block_bytes(uint32_t type) {
    return type < GGML_TYPE_COUNT ? GEOM[type].bytes : 0;
}

const char *ggml_type_name(uint32_t type) {
    return type < GGML_TYPE_COUNT ? GEOM[type].name : NULL;
}

int ggml_type_from_name(const char *name) {
    for (int t = 0; t < GGML_TYPE_COUNT; t++)
        if (GEOM[t].name && strcasecmp(GEOM[t].name, name) == 0) return t;
    return -1;
}

size_t ggml_row_bytes(uint32_t type, int64_t n) {
    int bs = ggml_type_block_size(type);
    if (bs <= 0 || n < 0 || n % bs) return 0;
    return (size_t)(n / bs) * ggml_type_block_bytes(type);
}
