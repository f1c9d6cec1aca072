/* Float rows → a weight type, through the weight quantizers (src/tensor/quantize.h: the reference
 * engine's algorithms, so kumo-made files are as accurate as llama.cpp's). */
#include "convert/convert.h"
#include "format/ggml_type.h"
#include "tensor/quantize.h"

bool convert_type_supported(uint32_t type) { return kumo_quantizer(type) != NULL; }

bool convert_rows(uint32_t type, const float *src, void *dst, int64_t n_rows, int64_t n_per_row) {
    kumo_quantize_row_fn q = kumo_quantizer(type);
    if (!q) return false;
    size_t row_bytes = ggml_row_bytes(type, n_per_row);
    for (int64_t r = 0; r < n_rows; r++) q(src + r * n_per_row, (uint8_t *)dst + (size_t)r * row_bytes, n_per_row);
    return true;
}
