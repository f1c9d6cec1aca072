/* The portable attention kernel and the dispatch of attention.h. */
#include "tensor/attention.h"

#include <pthread.h>
#include <string.h>

#include "tensor/ops.h"
#include "tensor/quant_impl.h"

void attn_rows_portable(int n_rows, const float *q, size_t q_stride, const int *npos, const float *kt,
                        const float *v, int hk, int hv, float *out, size_t out_stride, float *scores) {
    for (int r = 0; r < n_rows; r++) {
        const float *qr = q + (size_t)r * q_stride;
        const int n = npos[r];
        for (int p = 0; p < n; p++) {
            float s = 0.0f;
            for (int d = 0; d < hk; d++) s += qr[d] * kt[attn_k_index(p, d, hk)];
            scores[p] = s;
        }
        softmax_inplace(scores, n);
        float *o = out + (size_t)r * out_stride;
        memset(o, 0, (size_t)hv * sizeof(float));
        for (int p = 0; p < n; p++) {
            const float w = scores[p], *vr = v + (size_t)p * hv;
            for (int i = 0; i < hv; i++) o[i] += w * vr[i];
        }
    }
}

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static attn_rows_fn g_kernel;

static void choose_kernel(void) {
    g_kernel = attn_rows_portable;
    if (strcmp(kumo_cpu_isa(), kumo_isa_name(KUMO_ISA_AVX512)) == 0 && attn_rows_avx512_kernel())
        g_kernel = attn_rows_avx512_kernel();
}

void attn_rows(int n_rows, const float *q, size_t q_stride, const int *npos, const float *kt, const float *v, int hk,
               int hv, float *out, size_t out_stride, float *scores) {
    pthread_once(&g_once, choose_kernel);
    g_kernel(n_rows, q, q_stride, npos, kt, v, hk, hv, out, out_stride, scores);
}
