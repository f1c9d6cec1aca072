/* Public entry points of tensor/quant.h: scalar conversions and the kernel dispatch.
 *
 * The dispatch builds one kernel table per instruction-set level the CPU supports, once, on first
 * use (pthread_once), and never changes them afterwards: the tables are the only global state and
 * are read-only once published. KUMO_ISA=portable|avx2|avx512 caps the level kumo_type_traits()
 * picks, for tests and benchmarks. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/quant_impl.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define KUMO_X86 1
#else
#define KUMO_X86 0
#endif

float kumo_fp16_to_fp32(uint16_t h) { return kumo_half_to_float(h); }
uint16_t kumo_fp32_to_fp16(float f) { return kumo_float_to_half(f); }
float kumo_bf16_to_fp32(uint16_t h) { return kumo_brain_to_float(h); }
uint16_t kumo_fp32_to_bf16(float f) { return kumo_float_to_brain(f); }

/* ---------- CPU features ---------- */

struct cpu_features {
    bool avx2_fma_f16c;
    bool avx512;      /* F, BW, DQ, VL, VNNI, with the OS saving zmm state */
    bool avx512_bf16;
};

#if KUMO_X86
static uint64_t read_xcr0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t)hi << 32 | lo;
}
#endif

static struct cpu_features detect_cpu(void) {
    struct cpu_features f = {false, false, false};
#if KUMO_X86
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    const bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28),
               f16c = c & (1u << 29);
    if (!osxsave || !avx) return f;
    const uint64_t xcr0 = read_xcr0();
    if ((xcr0 & 0x6) != 0x6) return f; /* OS does not save ymm state */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
    const bool avx2 = b & (1u << 5);
    f.avx2_fma_f16c = avx2 && fma && f16c;
    const bool avx512f = b & (1u << 16), avx512dq = b & (1u << 17), avx512bw = b & (1u << 30),
               avx512vl = b & (1u << 31), vnni = c & (1u << 11);
    const bool zmm_state = (xcr0 & 0xe0) == 0xe0;
    f.avx512 = f.avx2_fma_f16c && zmm_state && avx512f && avx512dq && avx512bw && avx512vl && vnni;
    if (f.avx512 && __get_cpuid_count(7, 1, &a, &b, &c, &d)) f.avx512_bf16 = a & (1u << 5);
#endif
    return f;
}

/* ---------- dispatch tables ---------- */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static kumo_type_traits g_tables[KUMO_ISA_COUNT][GGML_TYPE_COUNT];
static bool g_supported[KUMO_ISA_COUNT];
static int g_chosen;

static const char *const ISA_NAMES[KUMO_ISA_COUNT] = {"portable", "avx2", "avx512"};

static int isa_from_env(void) {
    const char *s = getenv("KUMO_ISA");
    if (!s || !*s) return KUMO_ISA_COUNT - 1;
    for (int i = 0; i < KUMO_ISA_COUNT; i++)
        if (strcmp(s, ISA_NAMES[i]) == 0) return i;
    return KUMO_ISA_COUNT - 1; /* unknown value: no cap */
}

static void init_tables(void) {
    const struct cpu_features cpu = detect_cpu();
    memcpy(g_tables[KUMO_ISA_PORTABLE], kumo_quant_ref_table, sizeof g_tables[0]);
    g_supported[KUMO_ISA_PORTABLE] = true;
    if (cpu.avx2_fma_f16c) {
        memcpy(g_tables[KUMO_ISA_AVX2], g_tables[KUMO_ISA_PORTABLE], sizeof g_tables[0]);
        kumo_quant_install_avx2(g_tables[KUMO_ISA_AVX2]);
        g_supported[KUMO_ISA_AVX2] = true;
    }
    if (cpu.avx512) {
        memcpy(g_tables[KUMO_ISA_AVX512], g_tables[KUMO_ISA_AVX2], sizeof g_tables[0]);
        kumo_quant_install_avx512(g_tables[KUMO_ISA_AVX512], cpu.avx512_bf16);
        g_supported[KUMO_ISA_AVX512] = true;
    }
    int cap = isa_from_env();
    while (cap > 0 && !g_supported[cap]) cap--;
    g_chosen = cap;
}

static const kumo_type_traits *table_entry(const kumo_type_traits *table, uint32_t type) {
    if (type >= GGML_TYPE_COUNT || !table[type].name) return NULL;
    return &table[type];
}

const kumo_type_traits *kumo_get_type_traits(uint32_t type) {
    pthread_once(&g_once, init_tables);
    return table_entry(g_tables[g_chosen], type);
}

const kumo_type_traits *kumo_type_traits_ref(uint32_t type) {
    return table_entry(kumo_quant_ref_table, type);
}

const kumo_type_traits *kumo_type_traits_isa(uint32_t type, int isa) {
    if (isa < 0 || isa >= KUMO_ISA_COUNT) return NULL;
    pthread_once(&g_once, init_tables);
    if (!g_supported[isa]) return NULL;
    return table_entry(g_tables[isa], type);
}

bool kumo_isa_supported(int isa) {
    if (isa < 0 || isa >= KUMO_ISA_COUNT) return false;
    pthread_once(&g_once, init_tables);
    return g_supported[isa];
}

const char *kumo_isa_name(int isa) {
    return isa >= 0 && isa < KUMO_ISA_COUNT ? ISA_NAMES[isa] : "unknown";
}

const char *kumo_cpu_isa(void) {
    pthread_once(&g_once, init_tables);
    return ISA_NAMES[g_chosen];
}
