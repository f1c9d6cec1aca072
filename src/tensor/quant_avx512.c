/* AVX-512 kernels. */
#include "tensor/quant_impl.h"

void kumo_quant_install_avx512(kumo_type_traits *table, bool has_bf16) { (void)table; (void)has_bf16; }
