/* The portable attention kernels and the dispatch of attention.h. */
#include "tensor/attention.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "tensor/ops.h"
#include "tensor/quant_impl.h"

/* Element i of an F32 (f16 false) or F16 cache, as a float. */
static inline float cache_at(const void *base, size_t i, bool f16) {
    return f16 ? kumo_half_to_float(((const uint16_t *)base)[i]) : ((const float *)base)[i];
}

/* One body for both cache types; f16 is a constant in each caller, so the F32 instance computes
 * exactly what it always did. */
static inline void attn_rows_portable_body(int n_rows, const float *const *q, const int *npos, const void *kt,
                                           const void *v, int hk, int hv, size_t vs, float *const *out,
                                           float *scores, bool f16) {
    for (int r = 0; r < n_rows; r++) {
        const float *qr = q[r];
        const int n = npos[r];
        /* a block of 16 positions at a time, dimension-major like the cache (each score is still the
         * sum over d in order) */
        for (int p0 = 0; p0 < n; p0 += ATTN_BLOCK) {
            const size_t kb = (size_t)(p0 / ATTN_BLOCK) * hk * ATTN_BLOCK;
            float s[ATTN_BLOCK] = {0};
            for (int d = 0; d < hk; d++)
                for (int j = 0; j < ATTN_BLOCK; j++)
                    s[j] += qr[d] * cache_at(kt, kb + (size_t)d * ATTN_BLOCK + j, f16);
            for (int j = 0; j < ATTN_BLOCK && p0 + j < n; j++) scores[p0 + j] = s[j];
        }
        softmax_inplace(scores, n);
        float *o = out[r];
        memset(o, 0, (size_t)hv * sizeof(float));
        const int sw = attn_v_slab_width(hv);
        for (int p = 0; p < n; p++) {
            const float w = scores[p];
            for (int c0 = 0; c0 < hv; c0 += sw) {
                const size_t vr = attn_v_index(p, c0, hv, vs);
                for (int i = 0; i < sw; i++) o[c0 + i] += w * cache_at(v, vr + i, f16);
            }
        }
    }
}

void attn_rows_portable(int n_rows, const float *const *q, const int *npos, const float *kt, const float *v, int hk,
                        int hv, size_t vs, float *const *out, float *scores) {
    attn_rows_portable_body(n_rows, q, npos, kt, v, hk, hv, vs, out, scores, false);
}

void attn_rows_f16_portable(int n_rows, const float *const *q, const int *npos, const uint16_t *kt, const uint16_t *v,
                            int hk, int hv, size_t vs, float *const *out, float *scores) {
    attn_rows_portable_body(n_rows, q, npos, kt, v, hk, hv, vs, out, scores, true);
}

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static attn_rows_fn g_kernel;
static attn_rows_f16_fn g_kernel_f16;

static void choose_kernel(void) {
    g_kernel = attn_rows_portable;
    g_kernel_f16 = attn_rows_f16_portable;
    if (strcmp(kumo_cpu_isa(), kumo_isa_name(KUMO_ISA_AVX512)) == 0 && attn_rows_avx512_kernel()) {
        g_kernel = attn_rows_avx512_kernel();
        g_kernel_f16 = attn_rows_f16_avx512_kernel();
    } else if (strcmp(kumo_cpu_isa(), kumo_isa_name(KUMO_ISA_AVX2)) == 0 && attn_rows_avx2_kernel()) {
        g_kernel = attn_rows_avx2_kernel();
        g_kernel_f16 = attn_rows_f16_avx2_kernel();
    }
}

void attn_rows(int n_rows, const float *const *q, const int *npos, const float *kt, const float *v, int hk, int hv,
               size_t vs, float *const *out, float *scores) {
    pthread_once(&g_once, choose_kernel);
    g_kernel(n_rows, q, npos, kt, v, hk, hv, vs, out, scores);
}

void attn_rows_f16(int n_rows, const float *const *q, const int *npos, const uint16_t *kt, const uint16_t *v, int hk,
                   int hv, size_t vs, float *const *out, float *scores) {
    pthread_once(&g_once, choose_kernel);
    g_kernel_f16(n_rows, q, npos, kt, v, hk, hv, vs, out, scores);
}
