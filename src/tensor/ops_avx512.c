/* AVX-512 versions of the small row ops of ops.h (rms_norm, swiglu). Per row the operations are
 * fixed, so results do not depend on the batch. */
#include "tensor/ops_impl.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl")))

#include "tensor/simd_exp.h"

AVX512 static inline __mmask16 tail_mask(int n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1); }

AVX512 static void rms_norm_avx512(float *out, const float *x, const float *weight, int n, float eps) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16);
        s0 = _mm512_fmadd_ps(a, a, s0);
        s1 = _mm512_fmadd_ps(b, b, s1);
    }
    for (; i < n; i += 16) {
        const __m512 a = _mm512_maskz_loadu_ps(tail_mask(n - i), x + i);
        s0 = _mm512_fmadd_ps(a, a, s0);
    }
    const float ss = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
    const __m512 scale = _mm512_set1_ps((float)(1.0 / sqrt((double)ss / n + eps)));
    for (i = 0; i < n; i += 16) {
        const __mmask16 k = tail_mask(n - i);
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), scale);
        if (weight) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(k, weight + i));
        _mm512_mask_storeu_ps(out + i, k, v);
    }
}

AVX512 static void swiglu_avx512(float *out, const float *gate, const float *up, int n) {
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int i = 0; i < n; i += 16) {
        const __mmask16 k = tail_mask(n - i);
        const __m512 g = _mm512_maskz_loadu_ps(k, gate + i), u = _mm512_maskz_loadu_ps(k, up + i);
        const __m512 silu = _mm512_div_ps(g, _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), g))));
        _mm512_mask_storeu_ps(out + i, k, _mm512_mul_ps(silu, u));
    }
}

void ops_install_avx512(struct ops_kernels *k) {
    k->rms_norm = rms_norm_avx512;
    k->swiglu = swiglu_avx512;
}

#else

void ops_install_avx512(struct ops_kernels *k) { (void)k; }

#endif
