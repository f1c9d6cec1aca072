/* Internal to tensor/: the per-instruction-set versions of the small row ops of ops.h. */
#ifndef KUMO_TENSOR_OPS_IMPL_H
#define KUMO_TENSOR_OPS_IMPL_H

struct ops_kernels {
    void (*rms_norm)(float *out, const float *x, const float *weight, int n, float eps);
    void (*swiglu)(float *out, const float *gate, const float *up, int n);
};

/* Overwrites the entries it has faster versions of. */
void ops_install_avx512(struct ops_kernels *k);

#endif
