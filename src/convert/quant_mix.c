/* Which tensor gets which type in a quantization mix. The rules follow llama.cpp's llama-quantize
 * (without an importance matrix) so that `kumo quantize F16.gguf OUT Q4_K_M` gives the file users
 * expect: the output matrix (or the tied embedding) at Q6_K, some attn_v / ffn_down layers at more
 * bits for the _M mixes, attention of 8-expert models at Q8_0/Q5_K, and routers and norms in F32. */
#include "convert/convert.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "format/ggml_type.h"

static const quant_ftype FTYPES[] = {
    {"F32", GGML_TYPE_F32, 0},      {"F16", GGML_TYPE_F16, 1},      {"BF16", GGML_TYPE_BF16, 32},
    {"Q8_0", GGML_TYPE_Q8_0, 7},    {"Q4_0", GGML_TYPE_Q4_0, 2},    {"Q4_1", GGML_TYPE_Q4_1, 3},
    {"Q5_0", GGML_TYPE_Q5_0, 8},    {"Q5_1", GGML_TYPE_Q5_1, 9},    {"Q2_K", GGML_TYPE_Q2_K, 10},
    {"Q3_K_M", GGML_TYPE_Q3_K, 12}, {"Q4_K_S", GGML_TYPE_Q4_K, 14}, {"Q4_K_M", GGML_TYPE_Q4_K, 15},
    {"Q5_K_S", GGML_TYPE_Q5_K, 16}, {"Q5_K_M", GGML_TYPE_Q5_K, 17}, {"Q6_K", GGML_TYPE_Q6_K, 18},
};
#define N_FTYPES (sizeof FTYPES / sizeof FTYPES[0])

const quant_ftype *quant_ftype_find(const char *name) {
    for (size_t i = 0; i < N_FTYPES; i++)
        if (strcasecmp(FTYPES[i].name, name) == 0) return &FTYPES[i];
    return NULL;
}

const char *quant_ftype_names(void) {
    return "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K_M, Q4_K_S, Q4_K_M, Q5_K_S, Q5_K_M, Q6_K";
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

bool quant_mix_wants(const char *name, uint32_t n_dims) {
    if (n_dims < 2 || !ends_with(name, ".weight")) return false;
    if (strstr(name, "ffn_gate_inp.weight")) return false; /* MoE router: tiny, and routing is fragile */
    return true;
}

static bool is(const quant_mix_state *st, const char *ftype_name) { return strcmp(st->ftype->name, ftype_name) == 0; }

/* llama.cpp's rule for which layers of a stack get more bits: the first and last eighth, and every
 * third layer in between. */
static bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

static int layer_of(const char *name, int fallback) {
    int l;
    return sscanf(name, "blk.%d.", &l) == 1 ? l : fallback;
}

uint32_t quant_mix_type(quant_mix_state *st, const char *name, int64_t ne0) {
    uint32_t t = st->ftype->base_type;
    bool quantized = t != GGML_TYPE_F32 && t != GGML_TYPE_F16 && t != GGML_TYPE_BF16;
    if (!quantized) return t;
    if (strcmp(name, "output.weight") == 0 || (!st->has_output && strcmp(name, "token_embd.weight") == 0)) {
        if (ne0 % QK_K != 0) t = GGML_TYPE_Q8_0;
        else if (t != GGML_TYPE_Q8_0) t = GGML_TYPE_Q6_K;
    } else if (strcmp(name, "token_embd.weight") == 0) {
        /* the embedding keeps the base type */
    } else if (strstr(name, "attn_v.weight")) {
        if (is(st, "Q2_K")) t = st->n_gqa >= 4 ? GGML_TYPE_Q4_K : GGML_TYPE_Q3_K;
        else if (is(st, "Q3_K_M")) t = st->i_attn_v < 2 ? GGML_TYPE_Q5_K : GGML_TYPE_Q4_K;
        else if ((is(st, "Q4_K_M") || is(st, "Q5_K_M")) && use_more_bits(st->i_attn_v, st->n_attn_v)) t = GGML_TYPE_Q6_K;
        else if (is(st, "Q4_K_S") && st->i_attn_v < 4) t = GGML_TYPE_Q5_K;
        if (st->n_expert == 8) t = GGML_TYPE_Q8_0;
        st->i_attn_v++;
    } else if (strstr(name, "attn_k.weight")) {
        if (st->n_expert == 8) t = GGML_TYPE_Q8_0;
    } else if (strstr(name, "ffn_down")) {
        int i = st->n_expert > 1 ? layer_of(name, st->i_ffn_down) : st->i_ffn_down;
        int n = st->n_expert > 1 ? st->n_layer : st->n_ffn_down;
        if (is(st, "Q2_K")) t = GGML_TYPE_Q3_K;
        else if (is(st, "Q3_K_M")) t = i < n / 16 ? GGML_TYPE_Q5_K : GGML_TYPE_Q4_K;
        else if (is(st, "Q4_K_M") && use_more_bits(i, n)) t = GGML_TYPE_Q6_K;
        else if (is(st, "Q5_K_M") && use_more_bits(i, n)) t = GGML_TYPE_Q6_K;
        else if (is(st, "Q4_K_S") && i < n / 8) t = GGML_TYPE_Q5_K;
        st->i_ffn_down++;
    } else if (strstr(name, "attn_output.weight")) {
        if (st->n_expert == 8) {
            if (is(st, "Q2_K") || is(st, "Q3_K_M") || is(st, "Q4_K_S") || is(st, "Q4_K_M")) t = GGML_TYPE_Q5_K;
        } else if (is(st, "Q2_K")) {
            t = GGML_TYPE_Q3_K;
        } else if (is(st, "Q3_K_M")) {
            t = GGML_TYPE_Q4_K;
        }
    }
    /* rows that do not fill whole blocks of the chosen type fall back to a 32-block type */
    if (ne0 % ggml_type_block_size(t) != 0) {
        switch (t) {
        case GGML_TYPE_Q2_K:
        case GGML_TYPE_Q3_K: t = GGML_TYPE_Q4_0; break;
        case GGML_TYPE_Q4_K: t = GGML_TYPE_Q5_0; break;
        case GGML_TYPE_Q5_K: t = GGML_TYPE_Q5_1; break;
        case GGML_TYPE_Q6_K: t = GGML_TYPE_Q8_0; break;
        default: break;
        }
        if (ne0 % ggml_type_block_size(t) != 0) t = GGML_TYPE_F16;
    }
    return t;
}
