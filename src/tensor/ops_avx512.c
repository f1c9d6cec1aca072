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

AVX512 static void add_rms_norm_avx512(float *x, const float *delta, float *out, const float *weight, int n,
                                       float eps) {
    __m512 s0 = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        const __mmask16 k = tail_mask(n - i);
        __m512 v = _mm512_maskz_loadu_ps(k, x + i);
        if (delta) {
            v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, delta + i));
            _mm512_mask_storeu_ps(x + i, k, v);
        }
        s0 = _mm512_fmadd_ps(v, v, s0);
    }
    const float ss = _mm512_reduce_add_ps(s0);
    const __m512 scale = _mm512_set1_ps((float)(1.0 / sqrt((double)ss / n + eps)));
    for (int i = 0; i < n; i += 16) {
        const __mmask16 k = tail_mask(n - i);
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), scale);
        if (weight) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(k, weight + i));
        _mm512_mask_storeu_ps(out + i, k, v);
    }
}

AVX512 static void axpy_avx512(float *out, float a, const float *x, int n) {
    const __m512 av = _mm512_set1_ps(a);
    for (int i = 0; i < n; i += 16) {
        const __mmask16 k = tail_mask(n - i);
        _mm512_mask_storeu_ps(out + i, k,
                              _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(k, x + i), _mm512_maskz_loadu_ps(k, out + i)));
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

/* x0·c - x1·s and x0·s + x1·c with the same roundings as the portable version (no fused ops). */
AVX512 static void rope_avx512(float *head, int n_rot, const float *cs, int neox) {
    const int half = n_rot / 2;
    if (neox) {
        for (int i = 0; i < half; i += 16) {
            const __mmask16 k = tail_mask(half - i);
            const __m512 c = _mm512_maskz_loadu_ps(k, cs + i), s = _mm512_maskz_loadu_ps(k, cs + half + i);
            const __m512 x0 = _mm512_maskz_loadu_ps(k, head + i), x1 = _mm512_maskz_loadu_ps(k, head + half + i);
            _mm512_mask_storeu_ps(head + i, k, _mm512_sub_ps(_mm512_mul_ps(x0, c), _mm512_mul_ps(x1, s)));
            _mm512_mask_storeu_ps(head + half + i, k, _mm512_add_ps(_mm512_mul_ps(x0, s), _mm512_mul_ps(x1, c)));
        }
        return;
    }
    /* adjacent pairs: 8 pairs per vector; (c, c) and (-s, s) per pair against x and x pair-swapped */
    const __m512i dup = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
    const __mmask16 odd = 0xAAAA;
    for (int i = 0; i < half; i += 8) {
        const int np = half - i < 8 ? half - i : 8;
        const __mmask16 k2 = tail_mask(2 * np), k1 = tail_mask(np);
        const __m512 c = _mm512_permutexvar_ps(dup, _mm512_maskz_loadu_ps(k1, cs + i));
        const __m512 s = _mm512_permutexvar_ps(dup, _mm512_maskz_loadu_ps(k1, cs + half + i));
        const __m512 x = _mm512_maskz_loadu_ps(k2, head + 2 * i);
        const __m512 xs = _mm512_permute_ps(x, 0xB1); /* (x1, x0) per pair */
        /* even lanes: x0·c - x1·s; odd lanes: x1·c + x0·s */
        const __m512 xc = _mm512_mul_ps(x, c), ys = _mm512_mul_ps(xs, s);
        const __m512 r = _mm512_mask_add_ps(_mm512_sub_ps(xc, ys), odd, ys, xc);
        _mm512_mask_storeu_ps(head + 2 * i, k2, r);
    }
}

void ops_install_avx512(struct ops_kernels *k) {
    k->rms_norm = rms_norm_avx512;
    k->swiglu = swiglu_avx512;
    k->rope = rope_avx512;
    k->add_rms_norm = add_rms_norm_avx512;
    k->axpy = axpy_avx512;
}

#else

void ops_install_avx512(struct ops_kernels *k) { (void)k; }

#endif
