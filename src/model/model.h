/* A loaded model: hyper-parameters from GGUF metadata, weights bound by name and checked for shape
 * (pointers into the file mapping), the tokenizer, and the architecture's traits. */
#ifndef KUMO_MODEL_MODEL_H
#define KUMO_MODEL_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "format/gguf.h"
#include "kumo.h"
#include "tensor/ops.h"
#include "tokenizer/tokenizer.h"

/* What distinguishes one transformer architecture from another: data, not a copied forward pass. */
typedef struct arch_traits {
    const char *name;        /* general.architecture */
    bool rope_neox;          /* RoPE rotates (i, i + n_rot/2) instead of (2i, 2i+1) */
    bool qkv_bias;           /* attn_{q,k,v}.bias are required */
    bool qk_norm;            /* per-head RMSNorm of Q and K before RoPE (attn_{q,k}_norm) */
    bool moe_required;       /* every layer is a mixture of experts */
    bool moe_norm_topk;      /* renormalise the chosen experts' router probabilities to sum 1 */
} arch_traits;

const arch_traits *arch_find(const char *name);

typedef struct model_hparams {
    int n_vocab;        /* rows of token_embd (logits width) */
    int n_ctx_train;
    int n_embd;
    int n_layer;
    int n_head, n_head_kv;
    int head_dim_k, head_dim_v;
    int n_rot;          /* rotated dims per head */
    int n_ff;           /* dense FFN width */
    int n_expert, n_expert_used, n_ff_exp;
    float rms_eps;
    float rope_base, rope_freq_scale;
} model_hparams;

typedef struct layer_weights {
    float *attn_norm, *ffn_norm;          /* [n_embd] */
    float *q_norm, *k_norm;               /* [head_dim_k] or NULL */
    float *bq, *bk, *bv;                  /* biases or NULL */
    kumo_matrix wq, wk, wv, wo;
    /* dense FFN (n_expert == 0) */
    kumo_matrix ffn_gate, ffn_up, ffn_down;
    /* mixture of experts: router, and the experts stacked along dim 2 (expert e's matrix starts at
     * data + e * *_stride) */
    kumo_matrix ffn_router;
    kumo_matrix exp_gate, exp_up, exp_down;
    size_t exp_gate_stride, exp_up_stride, exp_down_stride;
} layer_weights;

struct kumo_model {
    char *path;
    gguf_ctx *gguf;
    kumo_vocab *vocab;
    const arch_traits *arch;
    char *arch_name, *name;
    bool vocab_only;
    model_hparams hp;
    kumo_matrix tok_embd, output;
    bool tied_output;
    float *output_norm;
    float *rope_freq_factors;            /* [n_rot/2] or NULL (Llama 3.1 rope_freqs) */
    layer_weights *layers;
    uint64_t n_params, n_params_active;
    uint64_t bytes_per_token;            /* weights read per generated token */
};

/* Expert slice e of a stacked expert matrix. */
static inline kumo_matrix expert_matrix(const kumo_matrix *m, size_t stride, int e) {
    kumo_matrix s = *m;
    s.data = (const uint8_t *)m->data + (size_t)e * stride;
    return s;
}

#endif
