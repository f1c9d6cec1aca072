/* AVX2 kernels of gemm.h (none yet: the AVX2 level uses the portable packed kernels). */
#include "tensor/gemm.h"

void gemm_kernels_avx2(gemm_kernel_fn table[]) { (void)table; }
