/* Packing, activation rows, the kernel dispatch and the portable kernels of gemm.h. */
#include "tensor/gemm.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "tensor/quant_impl.h"

/* ======================= panel layouts ======================= */

/* Header (fp16 scales) and body bytes of one block of a whole panel: together GEMM_PANEL rows'
 * worth of the type's blocks, so packed and original sizes are equal. */
static bool panel_block_bytes(uint32_t type, size_t *hdr, size_t *body, int *group) {
    switch (type) {
    case GGML_TYPE_Q8_0: *hdr = 32; *body = 512; *group = 2; return true;
    case GGML_TYPE_Q4_0: *hdr = 32; *body = 256; *group = 2; return true;
    case GGML_TYPE_Q5_0: *hdr = 32; *body = 320; *group = 2; return true;
    case GGML_TYPE_Q4_1: *hdr = 64; *body = 256; *group = 1; return true;
    case GGML_TYPE_Q5_1: *hdr = 64; *body = 320; *group = 1; return true;
    case GGML_TYPE_Q2_K: *hdr = 64; *body = 1280; *group = 1; return true;
    case GGML_TYPE_Q3_K: *hdr = 32; *body = 1728; *group = 2; return true;
    case GGML_TYPE_Q4_K: *hdr = 64; *body = 2240; *group = 1; return true;
    case GGML_TYPE_Q5_K: *hdr = 64; *body = 2752; *group = 1; return true;
    case GGML_TYPE_Q6_K: *hdr = 32; *body = 3328; *group = 2; return true;
    default: return false;
    }
}

static int type_act(uint32_t type) {
    return type == GGML_TYPE_Q2_K || type == GGML_TYPE_Q3_K || type == GGML_TYPE_Q4_K || type == GGML_TYPE_Q5_K || type == GGML_TYPE_Q6_K
               ? GEMM_ACT_Q8_256
               : GEMM_ACT_Q8_32;
}

/* Scatters n_words 4-byte words of one row (src) into lane `lane` of n_words consecutive 64-byte
 * groups at dst: word k of the row lands at dst + 64 k + 4 lane. */
static void scatter_words(uint8_t *dst, int lane, const uint8_t *src, int n_words, uint32_t xor_mask) {
    dst += 4 * lane;
    for (int k = 0; k < n_words; k++) {
        uint32_t v;
        memcpy(&v, src + 4 * k, 4);
        v ^= xor_mask;
        memcpy(dst + 64 * k, &v, 4);
    }
}

static void put_half(uint8_t *dst, int lane, uint16_t h) { memcpy(dst + 2 * lane, &h, 2); }

/* Q8_0: header d ×16 (fp16); body (512 bytes): 8 groups of 64 bytes, group k holding quants
 * 4k..4k+3 of each row, stored as unsigned q + 128 (vpdpbusd takes the weights as its unsigned
 * operand; the activation side subtracts 128·Σa). */
static void pack_q8_0(uint8_t *hdr, uint8_t *body, int lane, const void *row_block) {
    const block_q8_0 *b = row_block;
    put_half(hdr, lane, b->d);
    scatter_words(body, lane, (const uint8_t *)b->qs, 8, 0x80808080u);
}

/* Q4_0: header d ×16; body (256 bytes): 4 groups of 64 bytes, group k holding the packed bytes
 * qs[4k..4k+3] of each row: low nibbles are elements 4k..4k+3, high nibbles 16+4k..16+4k+3. */
static void pack_q4_0(uint8_t *hdr, uint8_t *body, int lane, const void *row_block) {
    const block_q4_0 *b = row_block;
    put_half(hdr, lane, b->d);
    scatter_words(body, lane, b->qs, 4, 0);
}

/* The fifth bits of a Q5_0/Q5_1 block (qh bit l = element l) regrouped per packed word: byte e
 * holds in bit k the bit of element 4k + e (low nibble of word k) and in bit 4 + k that of element
 * 16 + 4k + e (its high nibble), so the kernel moves one bit per byte in one step. */
static void pack_fifth_bits(uint8_t *dst, int lane, const uint8_t qh[4]) {
    uint32_t bits, out = 0;
    memcpy(&bits, qh, 4);
    for (int e = 0; e < 4; e++)
        for (int k = 0; k < 4; k++) {
            out |= ((bits >> (4 * k + e)) & 1u) << (8 * e + k);
            out |= ((bits >> (16 + 4 * k + e)) & 1u) << (8 * e + 4 + k);
        }
    memcpy(dst + 4 * lane, &out, 4);
}

/* Q5_0: header d ×16; body (320 bytes): the fifth bits (pack_fifth_bits), then Q4_0's 4 groups. */
static void pack_q5_0(uint8_t *hdr, uint8_t *body, int lane, const void *row_block) {
    const block_q5_0 *b = row_block;
    put_half(hdr, lane, b->d);
    pack_fifth_bits(body, lane, b->qh);
    scatter_words(body + 64, lane, b->qs, 4, 0);
}

/* Q4_1: header d ×16 then m ×16; body as Q4_0's. */
static void pack_q4_1(uint8_t *hdr, uint8_t *body, int lane, const void *row_block) {
    const block_q4_1 *b = row_block;
    put_half(hdr, lane, b->d);
    put_half(hdr + 32, lane, b->m);
    scatter_words(body, lane, b->qs, 4, 0);
}

/* Q5_1: header d ×16 then m ×16; body as Q5_0's. */
static void pack_q5_1(uint8_t *hdr, uint8_t *body, int lane, const void *row_block) {
    const block_q5_1 *b = row_block;
    put_half(hdr, lane, b->d);
    put_half(hdr + 32, lane, b->m);
    pack_fifth_bits(body, lane, b->qh);
    scatter_words(body + 64, lane, b->qs, 4, 0);
}

/* Q2_K: header d ×16 then dmin ×16; body (1280 bytes): the (scale | min << 4) bytes of sub-blocks 2p
 * and 2p+1 side by side per row (8 groups of 32 bytes: row i at 2i, 2i+1, so a zero-extension to 16
 * bits gives each lane the pair), then the 16 groups of qs words. Quant byte 32n + l holds in bits
 * 2k, 2k+1 element 128n + 32k + l, of sub-block 8n + 2k + l / 16. */
static void pack_q2_K(uint8_t *hdr, uint8_t *body, int lane, const void *row_block) {
    const block_q2_K *b = row_block;
    put_half(hdr, lane, b->d);
    put_half(hdr + 32, lane, b->dmin);
    for (int p = 0; p < 8; p++) {
        body[32 * p + 2 * lane] = b->scales[2 * p];
        body[32 * p + 2 * lane + 1] = b->scales[2 * p + 1];
    }
    scatter_words(body + 256, lane, b->qs, 16, 0);
}

/* The 3-bit quants (0-7, value + 4) of a Q3_K block in element order: element 128n + 32k + l has
 * its low bits in bits 2k, 2k+1 of qs byte 32n + l and its high bit in bit 4n + k of hmask byte l. */
static void q3_K_unpack(const block_q3_K *b, uint8_t u[QK_K]) {
    for (int e = 0; e < QK_K; e++) {
        const int n = e / 128, k = (e % 128) / 32, l = e % 32;
        u[e] = (uint8_t)(((b->qs[32 * n + l] >> (2 * k)) & 3) | ((b->hmask[l] >> (4 * n + k)) & 1) << 2);
    }
}

/* Q3_K: header d ×16; body (1728 bytes): the 12 packed scale bytes as 3 groups of words (as Q4_K's),
 * then 8 triples of word groups X0, X1, X2 (triple t at 192 + 192 t). Triple t = 2q + r holds
 * sub-blocks j = 4q + r and j + 2, whose scales the kernels take as the two int16 halves of one
 * word; byte e of a row's words holds, with u_c and v_c the quants of elements 4c + e of the two:
 *   X0 = u0 | u1 << 3 | (v2 & 3) << 6,   X1 = u2 | u3 << 3 | (v3 & 3) << 6,
 *   X2 = v0 | v1 << 3 | (v2 >> 2) << 6 | (v3 >> 2) << 7,
 * so six of the eight quant words are one mask (and at most one shift) away. (The reference's
 * hmask-and-planes layout took two bit moves and an OR for every quant word: the one-token kernel
 * was bound by them.) */
static void pack_q3_K(uint8_t *hdr, uint8_t *body, int lane, const void *row_block) {
    const block_q3_K *b = row_block;
    put_half(hdr, lane, b->d);
    scatter_words(body, lane, b->scales, 3, 0);
    uint8_t u[QK_K];
    q3_K_unpack(b, u);
    for (int t = 0; t < 8; t++)
        for (int e = 0; e < 4; e++) {
            const uint8_t *q = u + 16 * (4 * (t / 2) + t % 2) + e; /* q[4c]: u_c, q[32 + 4c]: v_c */
            uint8_t *x = body + 192 + 192 * t + 4 * lane + e;
            x[0] = (uint8_t)(q[0] | q[4] << 3 | (q[40] & 3) << 6);
            x[64] = (uint8_t)(q[8] | q[12] << 3 | (q[44] & 3) << 6);
            x[128] = (uint8_t)(q[32] | q[36] << 3 | (q[40] >> 2) << 6 | (q[44] >> 2) << 7);
        }
}

/* Q4_K: header d ×16 then dmin ×16; body (2240 bytes): the 12 packed scale bytes as 3 groups of 64
 * bytes (word k of each row's scales), then 32 groups: word c of each row's qs. */
static void pack_q4_K(uint8_t *hdr, uint8_t *body, int lane, const void *row_block) {
    const block_q4_K *b = row_block;
    put_half(hdr, lane, b->d);
    put_half(hdr + 32, lane, b->dmin);
    scatter_words(body, lane, b->scales, 3, 0);
    scatter_words(body + 192, lane, b->qs, 32, 0);
}

/* Q5_K: as Q4_K, with the 32 bytes of fifth bits between the scales and the quants: header d ×16
 * then dmin ×16; body (2752 bytes): 3 groups of scale words, 8 groups holding word c of each row's
 * qh (bit j of qh byte l is the fifth bit of element 32j + l), then the 32 groups of qs words. */
static void pack_q5_K(uint8_t *hdr, uint8_t *body, int lane, const void *row_block) {
    const block_q5_K *b = row_block;
    put_half(hdr, lane, b->d);
    put_half(hdr + 32, lane, b->dmin);
    scatter_words(body, lane, b->scales, 3, 0);
    scatter_words(body + 192, lane, b->qh, 8, 0);
    scatter_words(body + 704, lane, b->qs, 32, 0);
}

/* The 6-bit quants (0-63, value + 32) of a Q6_K block in element order: element 128h + 32tq + i has
 * its low four bits in ql[64h + 32(tq & 1) + i] (low nibble for tq < 2, high for tq >= 2) and its top
 * two in bits 2tq of qh[32h + i]. One pass over the block (it was one call per element: a third of
 * the load time of a Q4_K_M file). */
static void q6_K_unpack(const block_q6_K *b, uint8_t u[QK_K]) {
    /* four elements per step, one byte lane each: the masks keep every shift inside its byte */
    for (int h = 0; h < 2; h++)
        for (int i = 0; i < 32; i += 4) {
            uint32_t l0, l1, hb;
            memcpy(&l0, b->ql + 64 * h + i, 4);
            memcpy(&l1, b->ql + 64 * h + 32 + i, 4);
            memcpy(&hb, b->qh + 32 * h + i, 4);
            const uint32_t m4 = 0x0F0F0F0Fu, m2 = 0x03030303u;
            const uint32_t v[4] = {(l0 & m4) | (hb & m2) << 4, (l1 & m4) | (hb >> 2 & m2) << 4,
                                   (l0 >> 4 & m4) | (hb >> 4 & m2) << 4, (l1 >> 4 & m4) | (hb >> 6 & m2) << 4};
            for (int tq = 0; tq < 4; tq++) memcpy(u + 128 * h + 32 * tq + i, &v[tq], 4);
        }
}

/* Q6_K: header d ×16; body (3328 bytes): the 16 int8 scales scale-major (16 groups of 16 bytes), then
 * per quarter (h, g) and word c the three words X0, X1, X2 (gemm_q6k_word_at). Byte e of a row's
 * words holds the quants u_tq of elements 128h + 32tq + 16g + 4c + e:
 *   X0 = u0 | (u3 & 3) << 6,   X1 = u1 | (u3 >> 2 & 3) << 6,   X2 = u2 | (u3 >> 4) << 6,
 * so u0..u2 are one AND each and u3 gathers the three top bit pairs. */
static void pack_q6_K(uint8_t *hdr, uint8_t *body, int lane, const void *row_block) {
    const block_q6_K *b = row_block;
    put_half(hdr, lane, b->d);
    for (int j = 0; j < 16; j++) body[16 * j + lane] = (uint8_t)b->scales[j];
    uint8_t u[QK_K];
    q6_K_unpack(b, u);
    const uint32_t m2 = 0x03030303u;
    for (int qt = 0; qt < 4; qt++)
        for (int c = 0; c < 4; c++) {
            const int l = 128 * (qt / 2) + 16 * (qt % 2) + 4 * c;
            uint32_t w[4];
            for (int k = 0; k < 4; k++) memcpy(&w[k], u + l + 32 * k, 4);
            const uint32_t x[3] = {w[0] | (w[3] & m2) << 6, w[1] | (w[3] >> 2 & m2) << 6, w[2] | (w[3] >> 4 & m2) << 6};
            for (int k = 0; k < 3; k++) memcpy(body + gemm_q6k_word_at(qt, c, k) + 4 * lane, &x[k], 4);
        }
}

typedef void (*pack_block_fn)(uint8_t *hdr, uint8_t *body, int lane, const void *row_block);

static pack_block_fn pack_fn(uint32_t type) {
    switch (type) {
    case GGML_TYPE_Q8_0: return pack_q8_0;
    case GGML_TYPE_Q4_0: return pack_q4_0;
    case GGML_TYPE_Q5_0: return pack_q5_0;
    case GGML_TYPE_Q4_1: return pack_q4_1;
    case GGML_TYPE_Q5_1: return pack_q5_1;
    case GGML_TYPE_Q2_K: return pack_q2_K;
    case GGML_TYPE_Q3_K: return pack_q3_K;
    case GGML_TYPE_Q4_K: return pack_q4_K;
    case GGML_TYPE_Q5_K: return pack_q5_K;
    case GGML_TYPE_Q6_K: return pack_q6_K;
    default: return NULL;
    }
}

/* ======================= dispatch ======================= */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static gemm_kernel_fn g_kernels[KUMO_ISA_COUNT][GGML_TYPE_COUNT];
static int g_level;
static gemm_quantize_fn g_quantize;
static gemm_float_fn g_float;
static bool g_float_bf16_rows;

static void init_kernels(void) {
    gemm_kernels_portable(g_kernels[KUMO_ISA_PORTABLE]);
    if (kumo_isa_supported(KUMO_ISA_AVX2)) gemm_kernels_avx2(g_kernels[KUMO_ISA_AVX2]);
    if (kumo_isa_supported(KUMO_ISA_AVX512)) gemm_kernels_avx512(g_kernels[KUMO_ISA_AVX512]);
    /* Follow the level quant.c chose (KUMO_ISA caps both). A level without its own kernel for a type
     * does not pack it: the unpacked rows then go through that level's vec_dot kernels, which beat
     * the portable packed kernels. */
    const char *name = kumo_cpu_isa();
    g_level = KUMO_ISA_PORTABLE;
    for (int i = 0; i < KUMO_ISA_COUNT; i++)
        if (strcmp(name, kumo_isa_name(i)) == 0) g_level = i;
    g_quantize = gemm_quantize_row_ref;
    if (g_level == KUMO_ISA_AVX512 && gemm_quantize_avx512()) g_quantize = gemm_quantize_avx512();
    g_float = g_level == KUMO_ISA_AVX512 ? gemm_float_avx512(&g_float_bf16_rows) : NULL;
}

gemm_float_fn gemm_float_kernel(void) {
    pthread_once(&g_once, init_kernels);
    return g_float;
}

void gemm_float_act_row(uint32_t type, const float *x, int64_t n, void *dst) {
    pthread_once(&g_once, init_kernels);
    if (type == GGML_TYPE_F32) {
        memmove(dst, x, (size_t)n * sizeof(float));
        return;
    }
    const kumo_type_traits *tr = kumo_get_type_traits(type);
    if (type == GGML_TYPE_BF16 && g_float_bf16_rows) {
        tr->from_float(x, dst, n);
        return;
    }
    float *out = dst;
    uint16_t tmp[256];
    for (int64_t i = 0; i < n; i += 256) {
        const int64_t m = n - i < 256 ? n - i : 256;
        tr->from_float(x + i, tmp, m);
        tr->to_float(tmp, out + i, m);
    }
}

void gemm_quantize_row(int act, const float *x, int64_t n_in, void *dst) {
    pthread_once(&g_once, init_kernels);
    g_quantize(act, x, n_in, dst);
}

gemm_kernel_fn gemm_kernel(uint32_t type) {
    pthread_once(&g_once, init_kernels);
    return type < GGML_TYPE_COUNT ? g_kernels[g_level][type] : NULL;
}

/* NULL when the level has no kernel of its own for the type. */
gemm_kernel_fn gemm_kernel_isa(uint32_t type, int isa) {
    pthread_once(&g_once, init_kernels);
    if (type >= GGML_TYPE_COUNT || isa < 0 || isa >= KUMO_ISA_COUNT || !kumo_isa_supported(isa)) return NULL;
    return g_kernels[isa][type];
}

bool gemm_can_pack(uint32_t type) { return pack_fn(type) != NULL && gemm_kernel(type) != NULL; }

/* ======================= packing ======================= */

/* Packed weights are read once per generated token from start to end, so they live in huge pages
 * where the kernel offers them: fewer TLB misses on a stream of hundreds of megabytes. */
#define HUGE_PAGE ((size_t)2 << 20)

uint8_t *gemm_arena_alloc(size_t bytes, size_t *alloc_bytes) {
#if defined(__linux__)
    size_t n = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
#ifdef MADV_HUGEPAGE
    if (n >= HUGE_PAGE) madvise(p, n, MADV_HUGEPAGE);
#endif
    *alloc_bytes = n;
    return p;
#else
    size_t n = (bytes + 63) / 64 * 64;
    *alloc_bytes = n;
    return aligned_alloc(64, n);
#endif
}

void gemm_arena_free(uint8_t *p, size_t alloc_bytes) {
    if (!p) return;
#if defined(__linux__)
    munmap(p, alloc_bytes);
#else
    (void)alloc_bytes;
    free(p);
#endif
}

/* The memset is the fallback that faults the pages in where MADV_POPULATE_WRITE is missing. */
uint8_t *gemm_arena_alloc_prefaulted(size_t bytes, size_t *alloc_bytes) {
    uint8_t *p = gemm_arena_alloc(bytes, alloc_bytes);
    if (!p) return NULL;
#if defined(__linux__) && defined(MADV_POPULATE_WRITE)
    if (madvise(p, *alloc_bytes, MADV_POPULATE_WRITE) == 0) return p;
    if (errno != EINVAL) { /* out of memory, not a kernel without the option: no arena */
        gemm_arena_free(p, *alloc_bytes);
        return NULL;
    }
#endif
    memset(p, 0, bytes);
    return p;
}

struct pack_job {
    kumo_packed *p;
    const uint8_t *src;
    size_t row_bytes, src_block;
    pack_block_fn fn;
    int64_t panel0, panel1;
};

static void pack_range(const struct pack_job *j) {
    const kumo_packed *p = j->p;
    for (int64_t gp = j->panel0; gp < j->panel1; gp++) {
        const int64_t e = gp / p->n_panels, panel = gp % p->n_panels;
        uint8_t *dst = p->data + (size_t)gp * p->panel_bytes;
        if ((panel + 1) * GEMM_PANEL > p->n_out) /* rows past n_out: zero scales, so they add nothing */
            memset(dst, 0, p->panel_bytes);
        const int n_lanes = (int)(p->n_out - panel * GEMM_PANEL < GEMM_PANEL ? p->n_out - panel * GEMM_PANEL : GEMM_PANEL);
        const uint8_t *rows = j->src + (size_t)(e * p->n_out + panel * GEMM_PANEL) * j->row_bytes;
        /* block-major: a block's 16 lanes are written while its bytes are in L1 (lane-major order
         * passed over the whole panel, up to 73 KB, once per lane) */
        for (int64_t b = 0; b < p->n_blocks; b++) {
            uint8_t *hdr = (uint8_t *)gemm_block_hdr(p, dst, b), *body = (uint8_t *)gemm_block_body(p, dst, b);
            for (int lane = 0; lane < n_lanes; lane++)
                j->fn(hdr, body, lane, rows + (size_t)lane * j->row_bytes + (size_t)b * j->src_block);
        }
    }
}

static void *pack_thread(void *arg) {
    pack_range(arg);
    return NULL;
}

/* The geometry of a pack; false when the type has no packed layout or the shape does not fit it. */
static bool packed_geometry(kumo_packed *p, uint32_t type, int64_t n_in, int64_t n_out, int64_t n_mats) {
    if (!pack_fn(type) || n_in <= 0 || n_out <= 0 || n_mats <= 0) return false;
    const int bs = ggml_type_block_size(type);
    if (n_in % bs) return false;
    memset(p, 0, sizeof *p);
    p->type = type;
    p->act = type_act(type);
    p->n_in = n_in;
    p->n_out = n_out;
    p->n_blocks = n_in / bs;
    panel_block_bytes(type, &p->hdr_bytes, &p->body_bytes, &p->group);
    p->n_panels = (n_out + GEMM_PANEL - 1) / GEMM_PANEL;
    const int64_t full = p->n_blocks / p->group, rest = p->n_blocks % p->group;
    p->panel_bytes = (size_t)full * (size_t)p->group * (p->hdr_bytes + p->body_bytes);
    if (rest) p->panel_bytes += (size_t)p->group * p->hdr_bytes + (size_t)rest * p->body_bytes;
    p->n_mats = n_mats;
    return true;
}

size_t gemm_packed_bytes(uint32_t type, int64_t n_in, int64_t n_out, int64_t n_mats) {
    kumo_packed p;
    if (!packed_geometry(&p, type, n_in, n_out, n_mats)) return 0;
    return (size_t)(n_mats * p.n_panels) * p.panel_bytes;
}

static void pack_all(kumo_packed *p, const void *src, int n_threads) {
    const int64_t total = p->n_mats * p->n_panels;
    if (n_threads < 1) n_threads = 1;
    if (n_threads > 64) n_threads = 64;
    if (total < 64 * n_threads) n_threads = 1; /* not worth a thread */
    struct pack_job jobs[64];
    pthread_t tids[64];
    bool threaded[64] = {false};
    for (int i = 0; i < n_threads; i++)
        jobs[i] = (struct pack_job){.p = p, .src = src, .row_bytes = ggml_row_bytes(p->type, p->n_in),
                                    .src_block = ggml_type_block_bytes(p->type), .fn = pack_fn(p->type),
                                    .panel0 = total * i / n_threads, .panel1 = total * (i + 1) / n_threads};
    for (int i = 1; i < n_threads; i++) threaded[i] = pthread_create(&tids[i], NULL, pack_thread, &jobs[i]) == 0;
    pack_range(&jobs[0]);
    for (int i = 1; i < n_threads; i++) {
        if (threaded[i]) pthread_join(tids[i], NULL);
        else pack_range(&jobs[i]); /* no thread: do it here */
    }
}

kumo_packed *gemm_pack_into(uint32_t type, int64_t n_in, int64_t n_out, int64_t n_mats, const void *src,
                            int n_threads, uint8_t *dst) {
    kumo_packed *p = malloc(sizeof *p);
    if (!p) return NULL;
    if (!packed_geometry(p, type, n_in, n_out, n_mats)) {
        free(p);
        return NULL;
    }
    p->data = dst;
    pack_all(p, src, n_threads);
    return p;
}

kumo_packed *gemm_pack(uint32_t type, int64_t n_in, int64_t n_out, int64_t n_mats, const void *src,
                       int n_threads) {
    const size_t bytes = gemm_packed_bytes(type, n_in, n_out, n_mats);
    size_t alloc = 0;
    uint8_t *data = bytes ? gemm_arena_alloc(bytes, &alloc) : NULL;
    if (!data) return NULL;
    kumo_packed *p = gemm_pack_into(type, n_in, n_out, n_mats, src, n_threads, data);
    if (!p) {
        gemm_arena_free(data, alloc);
        return NULL;
    }
    p->alloc_bytes = alloc;
    return p;
}

void gemm_packed_free(kumo_packed *p) {
    if (!p) return;
    if (p->alloc_bytes) gemm_arena_free(p->data, p->alloc_bytes);
    free(p);
}

kumo_packed gemm_packed_slice(const kumo_packed *p, int64_t e) {
    kumo_packed s = *p;
    s.data = p->data + (size_t)(e * p->n_panels) * p->panel_bytes;
    s.n_mats = 1;
    s.alloc_bytes = 0;
    return s;
}

/* ======================= activation rows ======================= */

/* GEMM_ACT_Q8_32 row: qs[n_in] int8 | d[nb] float | -128·Σq [nb] int32 | -8·Σq [nb] int32 | -16·Σq [nb]
 * int32 | d·Σq rounded to fp16 [nb] float (the min term of Q4_1/Q5_1, as the reference's Q8_1 has it).
 * GEMM_ACT_Q8_256 row: qs[n_in] int8 | d[nsb] float | 4 int32 per block: the Q4_K min pairs | 16 int32
 * per block: -32·B_j, B_j the sum of the quants of 16-element sub-block j (the Q6_K kernels start
 * sub-block j's dot from it, which subtracts the quants' offset of 32) | 8 int32 per block: (B_2p, B_2p+1) as
 * int16 pairs, for the Q2_K mins | 16 int32 per block: -4·B_j (Q3_K's offset of 4) | 32 int32 per block:
 * -32·(the sum of each 8-element half of sub-block j), word 2j + h (the two-token Q6_K tiles, whose
 * half-sub-block sums fit an int16). Each Q4_K pair word holds two
 * int16 sums (low half, high half) of the quants of the 32-element sub-blocks whose mins the kernel
 * finds paired the same way in its registers: (A0,A2) (A1,A3) (A4,A6) (A5,A7). */
size_t gemm_act_row_bytes(int act, int64_t n_in) {
    size_t n;
    if (act == GEMM_ACT_Q8_32) n = (size_t)n_in + (size_t)(n_in / QK8_0) * 20;
    else n = (size_t)n_in + (size_t)(n_in / QK_K) * (4 + 16 + 64 + 32 + 64 + 128);
    return (n + 63) / 64 * 64;
}

static uint32_t pair16(int lo, int hi) { return (uint16_t)(int16_t)lo | (uint32_t)(uint16_t)(int16_t)hi << 16; }

void gemm_quantize_row_ref(int act, const float *x, int64_t n_in, void *dst) {
    int8_t *qs = dst;
    if (act == GEMM_ACT_Q8_32) {
        const kumo_from_float_fn q8 = kumo_get_type_traits(GGML_TYPE_Q8_0)->from_float;
        const int64_t nb = n_in / QK8_0;
        float *d = (float *)(qs + n_in);
        int32_t *c128 = (int32_t *)(d + nb), *c8 = c128 + nb, *c16 = c8 + nb;
        float *ms = (float *)(c16 + nb);
        for (int64_t b = 0; b < nb; b++) {
            block_q8_0 blk;
            q8(x + b * QK8_0, &blk, QK8_0);
            memcpy(qs + b * QK8_0, blk.qs, QK8_0);
            int32_t s = 0;
            for (int j = 0; j < QK8_0; j++) s += blk.qs[j];
            d[b] = kumo_half_to_float(blk.d);
            c128[b] = -128 * s;
            c8[b] = -8 * s;
            c16[b] = -16 * s;
            ms[b] = kumo_half_to_float(kumo_float_to_half(d[b] * (float)s));
        }
    } else {
        const kumo_from_float_fn q8 = kumo_get_type_traits(GGML_TYPE_Q8_K)->from_float;
        const int64_t nb = n_in / QK_K;
        float *d = (float *)(qs + n_in);
        uint32_t *mp = (uint32_t *)(d + nb);
        int32_t *bp = (int32_t *)(mp + 4 * nb);
        for (int64_t b = 0; b < nb; b++) {
            block_q8_K blk;
            q8(x + b * QK_K, &blk, QK_K);
            memcpy(qs + b * QK_K, blk.qs, QK_K);
            d[b] = blk.d;
            int a[8];
            for (int j = 0; j < 8; j++) a[j] = blk.bsums[2 * j] + blk.bsums[2 * j + 1];
            mp[4 * b + 0] = pair16(a[0], a[2]);
            mp[4 * b + 1] = pair16(a[1], a[3]);
            mp[4 * b + 2] = pair16(a[4], a[6]);
            mp[4 * b + 3] = pair16(a[5], a[7]);
            for (int j = 0; j < 16; j++) bp[16 * b + j] = -32 * blk.bsums[j];
            for (int j = 0; j < 8; j++) bp[16 * nb + 8 * b + j] = (int32_t)pair16(blk.bsums[2 * j], blk.bsums[2 * j + 1]);
            for (int j = 0; j < 16; j++) bp[24 * nb + 16 * b + j] = -4 * blk.bsums[j];
            for (int h = 0; h < 32; h++) {
                int s = 0;
                for (int e = 0; e < 8; e++) s += blk.qs[8 * h + e];
                bp[40 * nb + 32 * b + h] = -32 * s;
            }
        }
    }
}

/* ======================= driver ======================= */

void gemm_panels(const kumo_packed *w, int64_t p0, int64_t p1, const uint8_t *const *act, int n_t, float *y,
                 size_t ldy) {
    const gemm_kernel_fn k = gemm_kernel(w->type);
    for (int64_t p = p0; p < p1; p++) {
        const uint8_t *panel = w->data + (size_t)p * w->panel_bytes;
        const int64_t r0 = p * GEMM_PANEL;
        const int n_rows = (int)(w->n_out - r0 < GEMM_PANEL ? w->n_out - r0 : GEMM_PANEL);
        for (int t0 = 0; t0 < n_t; t0 += GEMM_MAX_T) {
            const int T = n_t - t0 < GEMM_MAX_T ? n_t - t0 : GEMM_MAX_T;
            k(w, panel, act + t0, T, y + (size_t)t0 * ldy + r0, ldy, n_rows);
        }
    }
}

/* ======================= portable kernels ======================= */

/* They define what the SIMD kernels compute: per row and token, exact integer sums per block, then
 * acc += (d_w · d_a) · isum in float, block after block. */

static float hdr_half(const uint8_t *hdr, int lane) {
    uint16_t h;
    memcpy(&h, hdr + 2 * lane, 2);
    return kumo_half_to_float(h);
}

static const uint8_t *block_hdr(const kumo_packed *w, const uint8_t *panel, int64_t b) {
    return gemm_block_hdr(w, panel, b);
}

static const uint8_t *block_body(const kumo_packed *w, const uint8_t *panel, int64_t b) {
    return gemm_block_body(w, panel, b);
}

static void q8_0_kernel_ref(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, int T, float *y,
                            size_t ldy, int n_rows) {
    const int64_t nb = w->n_blocks, n_in = w->n_in;
    for (int t = 0; t < T; t++) {
        const int8_t *qa = (const int8_t *)act[t];
        const float *da = gemm_act_d(act[t], n_in);
        const int32_t *c128 = gemm_act_sums(act[t], n_in, nb, GEMM_SUMS_C128);
        float acc[GEMM_PANEL] = {0};
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *hdr = block_hdr(w, panel, b), *body = block_body(w, panel, b);
            for (int i = 0; i < GEMM_PANEL; i++) {
                int32_t isum = c128[b];
                for (int k = 0; k < 8; k++)
                    for (int j = 0; j < 4; j++) isum += body[64 * k + 4 * i + j] * qa[32 * b + 4 * k + j];
                acc[i] += hdr_half(hdr, i) * da[b] * (float)isum;
            }
        }
        memcpy(y + (size_t)t * ldy, acc, (size_t)n_rows * sizeof(float));
    }
}

/* Q4_0, Q5_0 (qh), Q4_1 (min), Q5_1 (qh, min). */
static void nib_kernel_ref(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, int T, float *y,
                           size_t ldy, int n_rows, bool qh, bool min) {
    const int64_t nb = w->n_blocks, n_in = w->n_in;
    for (int t = 0; t < T; t++) {
        const int8_t *qa = (const int8_t *)act[t];
        const float *da = gemm_act_d(act[t], n_in);
        const int32_t *bias = gemm_act_sums(act[t], n_in, nb, qh ? GEMM_SUMS_C16 : GEMM_SUMS_C8);
        const float *ms = (const float *)gemm_act_sums(act[t], n_in, nb, GEMM_SUMS_DSUM);
        float acc[GEMM_PANEL] = {0};
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *hdr = block_hdr(w, panel, b), *body = block_body(w, panel, b);
            const uint8_t *qs = body + (qh ? 64 : 0);
            for (int i = 0; i < GEMM_PANEL; i++) {
                int32_t isum = min ? 0 : bias[b];
                for (int k = 0; k < 4; k++)
                    for (int j = 0; j < 4; j++) {
                        const uint8_t v = qs[64 * k + 4 * i + j], h = qh ? body[4 * i + j] : 0;
                        const int lo = (v & 0xF) | ((h >> k) & 1) << 4, hi = (v >> 4) | ((h >> (4 + k)) & 1) << 4;
                        isum += lo * qa[32 * b + 4 * k + j] + hi * qa[32 * b + 16 + 4 * k + j];
                    }
                acc[i] += hdr_half(hdr, i) * da[b] * (float)isum;
                if (min) acc[i] += hdr_half(hdr + 32, i) * ms[b];
            }
        }
        memcpy(y + (size_t)t * ldy, acc, (size_t)n_rows * sizeof(float));
    }
}

static void q4_0_kernel_ref(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, int T, float *y,
                            size_t ldy, int n_rows) {
    nib_kernel_ref(w, panel, act, T, y, ldy, n_rows, false, false);
}

static void q5_0_kernel_ref(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, int T, float *y,
                            size_t ldy, int n_rows) {
    nib_kernel_ref(w, panel, act, T, y, ldy, n_rows, true, false);
}

static void q4_1_kernel_ref(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, int T, float *y,
                            size_t ldy, int n_rows) {
    nib_kernel_ref(w, panel, act, T, y, ldy, n_rows, false, true);
}

static void q5_1_kernel_ref(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, int T, float *y,
                            size_t ldy, int n_rows) {
    nib_kernel_ref(w, panel, act, T, y, ldy, n_rows, true, true);
}

static int pair_lo(uint32_t w) { return (int16_t)(w & 0xFFFF); }
static int pair_hi(uint32_t w) { return (int16_t)(w >> 16); }

/* Q4_K and Q5_K (qh_off: where the fifth bits start in the body, 0 for Q4_K). */
static void k4_kernel_ref(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, int T, float *y,
                          size_t ldy, int n_rows, size_t qh_off) {
    const int64_t nb = w->n_blocks, n_in = w->n_in;
    const size_t qs_off = qh_off ? qh_off + 512 : 192;
    for (int t = 0; t < T; t++) {
        const int8_t *qa = (const int8_t *)act[t];
        const float *da = gemm_act_d(act[t], n_in);
        const uint32_t *mp = (const uint32_t *)gemm_act_sums(act[t], n_in, nb, GEMM_SUMS_MIN_PAIRS);
        float acc[GEMM_PANEL] = {0};
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *hdr = block_hdr(w, panel, b), *body = block_body(w, panel, b);
            const int8_t *q = qa + QK_K * b;
            const uint32_t *m = mp + 4 * b;
            const int A[8] = {pair_lo(m[0]), pair_lo(m[1]), pair_hi(m[0]), pair_hi(m[1]),
                              pair_lo(m[2]), pair_lo(m[3]), pair_hi(m[2]), pair_hi(m[3])};
            for (int i = 0; i < GEMM_PANEL; i++) {
                uint8_t s12[12], sc[8], mn[8];
                for (int k = 0; k < 3; k++) memcpy(s12 + 4 * k, body + 64 * k + 4 * i, 4);
                kumo_k4_scales(s12, sc, mn);
                int32_t isum = 0, msum = 0;
                for (int j = 0; j < 8; j++) {
                    /* sub-block j: nibble j%2 of qs bytes 32(j/2)..+31, i.e. words 8(j/2)..+7 */
                    int32_t s = 0;
                    for (int c = 0; c < 8; c++)
                        for (int e = 0; e < 4; e++) {
                            const uint8_t v = body[qs_off + 64 * (8 * (j / 2) + c) + 4 * i + e];
                            int qv = j % 2 ? v >> 4 : v & 0xF;
                            if (qh_off) qv |= ((body[qh_off + 64 * c + 4 * i + e] >> j) & 1) << 4;
                            s += qv * q[32 * j + 4 * c + e];
                        }
                    isum += sc[j] * s;
                    msum += mn[j] * A[j];
                }
                acc[i] += hdr_half(hdr, i) * da[b] * (float)isum;
                acc[i] -= hdr_half(hdr + 32, i) * da[b] * (float)msum;
            }
        }
        memcpy(y + (size_t)t * ldy, acc, (size_t)n_rows * sizeof(float));
    }
}

static void q4_K_kernel_ref(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, int T, float *y,
                            size_t ldy, int n_rows) {
    k4_kernel_ref(w, panel, act, T, y, ldy, n_rows, 0);
}

static void q5_K_kernel_ref(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, int T, float *y,
                            size_t ldy, int n_rows) {
    k4_kernel_ref(w, panel, act, T, y, ldy, n_rows, 192);
}

static void q2_K_kernel_ref(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, int T, float *y,
                            size_t ldy, int n_rows) {
    const int64_t nb = w->n_blocks, n_in = w->n_in;
    for (int t = 0; t < T; t++) {
        const int8_t *qa = (const int8_t *)act[t];
        const float *da = gemm_act_d(act[t], n_in);
        const uint32_t *pairs = (const uint32_t *)gemm_act_sums(act[t], n_in, nb, GEMM_SUMS_B_PAIRS);
        float acc[GEMM_PANEL] = {0};
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *hdr = block_hdr(w, panel, b), *body = block_body(w, panel, b);
            const int8_t *q = qa + QK_K * b;
            int B[16];
            for (int p = 0; p < 8; p++) {
                B[2 * p] = pair_lo(pairs[8 * b + p]);
                B[2 * p + 1] = pair_hi(pairs[8 * b + p]);
            }
            for (int i = 0; i < GEMM_PANEL; i++) {
                int32_t isum = 0, msum = 0;
                for (int j = 0; j < 16; j++) {
                    /* sub-block j = 8n + 2k + g: elements 128n + 32k + 16g + (0..15), bits 2k of words 8n + 4g + c */
                    const int n = j / 8, k = (j % 8) / 2, g = j % 2;
                    const uint8_t sm = body[32 * (j / 2) + 2 * i + g];
                    int32_t s = 0;
                    for (int c = 0; c < 4; c++)
                        for (int e = 0; e < 4; e++) {
                            const int u = (body[256 + 64 * (8 * n + 4 * g + c) + 4 * i + e] >> (2 * k)) & 3;
                            s += u * q[128 * n + 32 * k + 16 * g + 4 * c + e];
                        }
                    isum += (sm & 0xF) * s;
                    msum += (sm >> 4) * B[j];
                }
                acc[i] += hdr_half(hdr, i) * da[b] * (float)isum;
                acc[i] -= hdr_half(hdr + 32, i) * da[b] * (float)msum;
            }
        }
        memcpy(y + (size_t)t * ldy, acc, (size_t)n_rows * sizeof(float));
    }
}

/* The 256-blocks of 16 sub-blocks whose activation rows carry the -32·B_j biases (Q3_K, Q6_K): per
 * row, Σ_j sc_j · (bias_j + Σ u · a) over sub-block j's 16 elements, scaled by d_w · d_a · d_mul.
 * Sub-block j covers elements 128·(j/8) + 32·((j%8)/2) + 16·(j%2) .. +15 in both. `row_scales`
 * gives a row's 16 sub-block scales and `quant` element 4c + e of a sub-block (times what d_mul
 * undoes); both are constants in each caller, so they inline. */
static inline void bias16_kernel_ref(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, int T,
                                     float *y, size_t ldy, int n_rows, float d_mul,
                                     void (*row_scales)(const uint8_t *body, int i, int sc[16]),
                                     int (*quant)(const uint8_t *body, int i, int j, int c, int e)) {
    const int64_t nb = w->n_blocks, n_in = w->n_in;
    for (int t = 0; t < T; t++) {
        const int8_t *qa = (const int8_t *)act[t];
        const float *da = gemm_act_d(act[t], n_in);
        const int32_t *bias = gemm_act_sums(act[t], n_in, nb, GEMM_SUMS_BIAS32);
        float acc[GEMM_PANEL] = {0};
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *hdr = block_hdr(w, panel, b), *body = block_body(w, panel, b);
            const int8_t *q = qa + QK_K * b;
            for (int i = 0; i < GEMM_PANEL; i++) {
                int sc[16];
                row_scales(body, i, sc);
                int32_t isum = 0;
                for (int j = 0; j < 16; j++) {
                    const int8_t *a = q + 128 * (j / 8) + 32 * ((j % 8) / 2) + 16 * (j % 2);
                    int32_t s = bias[16 * b + j];
                    for (int c = 0; c < 4; c++)
                        for (int e = 0; e < 4; e++) s += quant(body, i, j, c, e) * a[4 * c + e];
                    isum += sc[j] * s;
                }
                acc[i] += hdr_half(hdr, i) * (da[b] * d_mul) * (float)isum;
            }
        }
        memcpy(y + (size_t)t * ldy, acc, (size_t)n_rows * sizeof(float));
    }
}

/* The 16 scales of Q3_K row i (6 bits each, stored biased by 32) from its 12 packed bytes. */
static void q3_K_row_scales(const uint8_t *body, int i, int sc[16]) {
    uint8_t s12[12];
    for (int k = 0; k < 3; k++) memcpy(s12 + 4 * k, body + 64 * k + 4 * i, 4);
    for (int j = 0; j < 16; j++) {
        const int lo = j < 8 ? s12[j] & 0xF : s12[j - 8] >> 4;
        const int hi = (s12[8 + j % 4] >> (2 * (j / 4))) & 3;
        sc[j] = (lo | hi << 4) - 32;
    }
}

/* A Q3_K quant times 8 (d_mul 1/8 undoes it): with the -32·B_j bias, 8·Σ(q - 4)·a. Element 4c + e of
 * sub-block j, the first (j % 4 < 2) or second of triple 2 (j / 4) + j % 2 (pack_q3_K). */
static int q3_K_quant8(const uint8_t *body, int i, int j, int c, int e) {
    const uint8_t *x = body + 192 + 192 * (2 * (j / 4) + j % 2) + 4 * i + e;
    int q;
    if (j % 4 < 2) q = (x[64 * (c / 2)] >> (3 * (c % 2))) & 7;
    else if (c < 2) q = (x[128] >> (3 * c)) & 7;
    else q = x[64 * (c - 2)] >> 6 | ((x[128] >> (4 + c)) & 1) << 2;
    return 8 * q;
}

static void q6_K_row_scales(const uint8_t *body, int i, int sc[16]) {
    for (int j = 0; j < 16; j++) sc[j] = (int8_t)body[16 * j + i];
}

/* A Q6_K quant (0..63; the -32·B_j bias recentres it) from its X0..X2 words */
static int q6_K_quant(const uint8_t *body, int i, int j, int c, int e) {
    const int tq = (j % 8) / 2, qt = 2 * (j / 8) + j % 2;
    const uint8_t *x = body + 4 * i + e; /* word k of the element at x[gemm_q6k_word_at(qt, c, k)] */
    if (tq < 3) return x[gemm_q6k_word_at(qt, c, tq)] & 0x3F;
    return x[gemm_q6k_word_at(qt, c, 0)] >> 6 | (x[gemm_q6k_word_at(qt, c, 1)] >> 6) << 2 |
           (x[gemm_q6k_word_at(qt, c, 2)] >> 6) << 4;
}

static void q3_K_kernel_ref(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, int T, float *y,
                            size_t ldy, int n_rows) {
    bias16_kernel_ref(w, panel, act, T, y, ldy, n_rows, 0.125f, q3_K_row_scales, q3_K_quant8);
}

static void q6_K_kernel_ref(const kumo_packed *w, const uint8_t *panel, const uint8_t *const *act, int T, float *y,
                            size_t ldy, int n_rows) {
    bias16_kernel_ref(w, panel, act, T, y, ldy, n_rows, 1.0f, q6_K_row_scales, q6_K_quant);
}

void gemm_kernels_portable(gemm_kernel_fn table[]) {
    table[GGML_TYPE_Q3_K] = q3_K_kernel_ref;
    table[GGML_TYPE_Q2_K] = q2_K_kernel_ref;
    table[GGML_TYPE_Q8_0] = q8_0_kernel_ref;
    table[GGML_TYPE_Q4_0] = q4_0_kernel_ref;
    table[GGML_TYPE_Q5_0] = q5_0_kernel_ref;
    table[GGML_TYPE_Q4_1] = q4_1_kernel_ref;
    table[GGML_TYPE_Q5_1] = q5_1_kernel_ref;
    table[GGML_TYPE_Q4_K] = q4_K_kernel_ref;
    table[GGML_TYPE_Q5_K] = q5_K_kernel_ref;
    table[GGML_TYPE_Q6_K] = q6_K_kernel_ref;
}
