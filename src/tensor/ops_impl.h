/* Internal to tensor/: the per-instruction-set versions of the small row ops of ops.h. */
#ifndef KUMO_TENSOR_OPS_IMPL_H
#define KUMO_TENSOR_OPS_IMPL_H

struct ops_kernels {
    void (*rms_norm)(float *out, const float *x, const float *weight, int n, float eps);
    void (*swiglu)(float *out, const float *gate, const float *up, int n);
    void (*rope)(float *head, int n_rot, const float *cs, int neox);
    void (*axpy)(float *out, float a, const float *x, int n);
    void (*add_rms_norm)(float *x, const float *delta, float *out, const float *weight, int n, float eps);
};

/* Overwrites the entries it has faster versions of. */
void ops_install_avx512(struct ops_kernels *k);

#endif
