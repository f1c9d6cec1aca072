/* Whole-model tools on GGUF files: quantization mixes, `kumo quantize`, `kumo synth`. */
#ifndef KUMO_CONVERT_CONVERT_H
#define KUMO_CONVERT_CONVERT_H

#include <stdbool.h>
#include <stdint.h>

#include "kumo.h"

/* A target of `kumo quantize`: a name (Q4_K_M …), its base tensor type and llama.cpp's file-type id. */
typedef struct quant_ftype {
    const char *name;
    uint32_t base_type;
    uint32_t file_type;   /* general.file_type */
} quant_ftype;

const quant_ftype *quant_ftype_find(const char *name); /* case-insensitive; NULL if unknown */
/* "F16, BF16, Q8_0, …" for messages */
const char *quant_ftype_names(void);

/* What the model being quantized looks like, for the per-tensor decisions. */
typedef struct quant_mix_state {
    const quant_ftype *ftype;
    int n_layer, n_expert, n_gqa;
    bool has_output;            /* output.weight exists (else token_embd doubles as output) */
    int n_attn_v, i_attn_v;     /* attn_v tensors in the model / seen so far */
    int n_ffn_down, i_ffn_down;
} quant_mix_state;

/* Should this tensor be quantized at all? (2-D+ weights only; norms, biases, routers stay.) */
bool quant_mix_wants(const char *name, uint32_t n_dims);
/* The tensor type for a weight of the mix (the _S/_M rules: output/embeddings, attn_v, ffn_down,
 * attn_output, MoE attention kept at more bits), with the fallback for rows whose length is not a
 * multiple of the chosen type's block. Advances the counters in st. */
uint32_t quant_mix_type(quant_mix_state *st, const char *name, int64_t ne0);

/* Converts n_rows rows of n_per_row floats into `type` (weights quality: the reference engine's
 * quantization algorithms). Returns false for types kumo cannot produce. */
bool convert_rows(uint32_t type, const float *src, void *dst, int64_t n_rows, int64_t n_per_row);
bool convert_type_supported(uint32_t type);

struct thread_pool;
/* Converts a tensor's n_rows rows of n_per_row elements from src_type to dst_type on the pool. */
int convert_tensor(struct thread_pool *pool, uint32_t src_type, const void *src, uint32_t dst_type, void *dst,
                   int64_t n_rows, int64_t n_per_row, kumo_error *err);

#endif
