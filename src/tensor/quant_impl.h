/* Internal to tensor/: the per-instruction-set kernel tables and the small helpers that the portable
 * and SIMD kernel files share. Tests include it to compare every SIMD level with the portable one. */
#ifndef KUMO_TENSOR_QUANT_IMPL_H
#define KUMO_TENSOR_QUANT_IMPL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "tensor/quant.h"

/* Instruction-set levels, each a superset of the one before. */
enum kumo_isa {
    KUMO_ISA_PORTABLE = 0,
    KUMO_ISA_AVX2 = 1,   /* AVX2 + FMA + F16C */
    KUMO_ISA_AVX512 = 2, /* AVX-512 F/BW/DQ/VL + VNNI (BF16 dot products also need AVX512_BF16) */
    KUMO_ISA_COUNT = 3,
};

const char *kumo_isa_name(int isa);
/* Can this CPU (and OS) run the level? */
bool kumo_isa_supported(int isa);
/* Kernels of one level; NULL if the CPU cannot run that level or kumo does not compute with the
 * type. Levels only replace the kernels they speed up, the rest stay portable. */
const kumo_type_traits *kumo_type_traits_isa(uint32_t type, int isa);

/* The portable kernels (quant_ref.c), indexed by ggml type; unset entries have a zero type name. */
extern const kumo_type_traits kumo_quant_ref_table[GGML_TYPE_COUNT];

/* Fill-in functions of the SIMD files: they overwrite the entries of table (indexed by ggml type)
 * they have kernels for. The avx512 one is only called when the CPU supports that level;
 * has_bf16 says whether AVX512_BF16 is there too. */
void kumo_quant_install_avx2(kumo_type_traits *table);
void kumo_quant_install_avx512(kumo_type_traits *table, bool has_bf16);

/* ---------- shared scalar helpers ---------- */

static inline uint32_t kumo_f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float kumo_bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline float kumo_half_to_float(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu;
    const uint32_t mant = h & 0x3ffu;
    if (exp == 0) {
        /* zero or subnormal: mant * 2^-24 is exact in float */
        float v = (float)mant * 0x1p-24f;
        return sign ? -v : v;
    }
    if (exp == 31) return kumo_bits_f32(sign | 0x7f800000u | (mant << 13)); /* inf, nan */
    return kumo_bits_f32(sign | ((exp + 112u) << 23) | (mant << 13));
}

static inline uint16_t kumo_float_to_half(float f) {
    const uint32_t u = kumo_f32_bits(f);
    const uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    const uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu)); /* quiet nan */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520 rounds to inf */
    if (a >= 0x38800000u) {
        /* normal half: rebias the exponent (127 -> 15) and round the 13 dropped bits to even;
         * a carry out of the mantissa correctly bumps the exponent */
        const uint32_t r = a - 0x38000000u;
        return (uint16_t)(sign | ((r + 0xfffu + ((r >> 13) & 1u)) >> 13));
    }
    const uint32_t e = a >> 23;
    if (e < 102) return sign; /* below 2^-25: rounds to zero */
    /* subnormal half: count units of 2^-24, rounding half to even (may round up to the smallest
     * normal, 0x400, which is the right encoding) */
    const uint32_t m = (a & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - e; /* 14..24 */
    uint32_t q = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1u);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u))) q++;
    return (uint16_t)(sign | q);
}

static inline float kumo_brain_to_float(uint16_t h) { return kumo_bits_f32((uint32_t)h << 16); }

static inline uint16_t kumo_float_to_brain(float f) {
    const uint32_t u = kumo_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); /* keep nan quiet */
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/* Round to nearest, ties to even, for |v| < 2^22: adding 1.5*2^23 pushes the fraction out of the
 * mantissa under the default rounding mode. The reference engine rounds its K-quant and Q8_K values
 * this way, and cvtps2dq does the same in the SIMD kernels. */
static inline int kumo_nearest_int(float v) {
    const float big = v + 12582912.0f;
    return (int)(kumo_f32_bits(big) & 0x7fffffu) - 0x400000;
}

static inline uint32_t kumo_load_u32le(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Q4_K / Q5_K pack eight 6-bit scales and eight 6-bit mins into 12 bytes: bytes 0-3 hold scales
 * 0-3 in their low 6 bits, bytes 4-7 mins 0-3; bytes 8-11 hold the low nibbles of scales 4-7
 * (low half) and mins 4-7 (high half), whose top 2 bits sit in the top bits of bytes 0-3 (scales)
 * and 4-7 (mins). */
static inline void kumo_k4_scales(const uint8_t s[12], uint8_t sc[8], uint8_t mn[8]) {
    for (int j = 0; j < 4; j++) {
        sc[j] = s[j] & 63;
        mn[j] = s[j + 4] & 63;
        sc[j + 4] = (uint8_t)((s[j + 8] & 0xF) | ((s[j] >> 6) << 4));
        mn[j + 4] = (uint8_t)((s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4));
    }
}

/* Q3_K packs sixteen 6-bit scales (stored +32) into 12 bytes: low nibbles of scales 0-7 in the low
 * halves of bytes 0-7, of scales 8-15 in their high halves; the top 2 bits of scale j sit in byte
 * 8 + j%4 at bit 2*(j/4). */
static inline void kumo_q3k_scales(const uint8_t s[12], int8_t sc[16]) {
    for (int j = 0; j < 16; j++) {
        const int lo = j < 8 ? (s[j] & 0xF) : (s[j - 8] >> 4);
        const int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
        sc[j] = (int8_t)((lo | (hi << 4)) - 32);
    }
}

#endif
