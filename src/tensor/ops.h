/* Tensor operations of the forward pass on plain float rows: norms, RoPE, activations, softmax, and
 * matrix × activations products over quantized weights (threaded). They know numbers, not models. */
#ifndef KUMO_TENSOR_OPS_H
#define KUMO_TENSOR_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/threadpool.h"

struct kumo_packed;

/* A 2-D weight matrix view: n_out rows of n_in elements of `type`, row r at data + r * row_bytes.
 * packed, when set, is the same matrix repacked for the GEMM kernels (tensor/gemm.h), which matmul
 * then uses instead of data. */
typedef struct kumo_matrix {
    uint32_t type;
    int64_t n_in, n_out;
    size_t row_bytes;
    const void *data;
    const struct kumo_packed *packed;
} kumo_matrix;

/* Bytes of scratch matmul needs to convert n_rows rows of n_in activations for a matrix of this
 * type (packed or not). */
size_t matmul_scratch_bytes(uint32_t type, int64_t n_in, int n_rows);

/* y[t][n_out] = W · x[t] for t in [0, n_t). x rows are n_in floats apart, y rows n_out apart.
 * scratch holds matmul_scratch_bytes(W->type, W->n_in, n_t) bytes. */
void matmul(thread_pool *pool, const kumo_matrix *w, const float *x, int n_t, float *y, void *scratch);

/* One product of a matmul_batch: for i < n_t, y[i * ldy ...] = W · x[row(i)], where row(i) is
 * rows[i], or row0 + i when rows is NULL. */
typedef struct matmul_task {
    const kumo_matrix *w;
    int n_t;
    const int32_t *rows;
    int row0;
    float *y;
    int64_t ldy;
} matmul_task;

/* Several products over the same n_x activation rows x (n_in floats each; every task's matrix has
 * n_in inputs), in one parallel pass: each row is converted once per activation format, and the
 * threads share out the tasks' rows dynamically. scratch holds matmul_scratch_bytes(type, n_in, n_x)
 * bytes for the largest type among the tasks. */
void matmul_batch(thread_pool *pool, const float *x, int n_x, int64_t n_in, const matmul_task *tasks, int n_tasks,
                  void *scratch);

/* out = x / sqrt(mean(x²) + eps) * weight (weight may be NULL: no scale). In-place allowed. */
void rms_norm(float *out, const float *x, const float *weight, int n, float eps);

/* Rotates pairs of a head vector in place: `neox` pairs element i with i + n_rot/2, otherwise
 * adjacent pairs (2i, 2i+1). cs holds cos,sin interleaved for each of the n_rot/2 pairs. */
void rope_apply(float *head, int n_rot, const float *cs, int neox);

void softmax_inplace(float *x, int n);
/* out[i] = silu(gate[i]) * up[i] */
void swiglu(float *out, const float *gate, const float *up, int n);

#endif
