/* Float rows → a weight type. F32/F16/BF16 convert; quantized types use the weight quantizers
 * (reference-quality algorithms, src/tensor/quantize.h). */
#include <string.h>

#include "convert/convert.h"
#include "format/ggml_type.h"
#include "tensor/quant.h"

bool convert_type_supported(uint32_t type) {
    switch (type) {
    case GGML_TYPE_F32:
    case GGML_TYPE_F16:
    case GGML_TYPE_BF16:
    case GGML_TYPE_Q8_0: return true;
    default: return false;
    }
}

bool convert_rows(uint32_t type, const float *src, void *dst, int64_t n_rows, int64_t n_per_row) {
    if (!convert_type_supported(type)) return false;
    size_t row_bytes = ggml_row_bytes(type, n_per_row);
    if (type == GGML_TYPE_F32) {
        memcpy(dst, src, (size_t)n_rows * row_bytes);
        return true;
    }
    const kumo_type_traits *tr = kumo_type_traits_ref(type);
    for (int64_t r = 0; r < n_rows; r++)
        tr->from_float(src + r * n_per_row, (uint8_t *)dst + (size_t)r * row_bytes, n_per_row);
    return true;
}
