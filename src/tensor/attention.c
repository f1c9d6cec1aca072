/* The portable attention kernel and the dispatch of attention.h. */
#include "tensor/attention.h"

#include <pthread.h>
#include <string.h>

#include "tensor/ops.h"
#include "tensor/quant_impl.h"

void attn_rows_portable(int n_rows, const float *const *q, const int *npos, const float *kt, const float *v, int hk,
                        int hv, float *const *out, float *scores) {
    for (int r = 0; r < n_rows; r++) {
        const float *qr = q[r];
        const int n = npos[r];
        /* a block of 16 positions at a time, dimension-major like the cache (each score is still the
         * sum over d in order) */
        for (int p0 = 0; p0 < n; p0 += ATTN_BLOCK) {
            const float *kb = kt + (size_t)(p0 / ATTN_BLOCK) * hk * ATTN_BLOCK;
            float s[ATTN_BLOCK] = {0};
            for (int d = 0; d < hk; d++)
                for (int j = 0; j < ATTN_BLOCK; j++) s[j] += qr[d] * kb[(size_t)d * ATTN_BLOCK + j];
            for (int j = 0; j < ATTN_BLOCK && p0 + j < n; j++) scores[p0 + j] = s[j];
        }
        softmax_inplace(scores, n);
        float *o = out[r];
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
    else if (strcmp(kumo_cpu_isa(), kumo_isa_name(KUMO_ISA_AVX2)) == 0 && attn_rows_avx2_kernel())
        g_kernel = attn_rows_avx2_kernel();
}

void attn_rows(int n_rows, const float *const *q, const int *npos, const float *kt, const float *v, int hk, int hv,
               float *const *out, float *scores) {
    pthread_once(&g_once, choose_kernel);
    g_kernel(n_rows, q, npos, kt, v, hk, hv, out, scores);
}
