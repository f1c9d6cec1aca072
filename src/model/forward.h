/* The transformer forward pass over a batch of tokens from one or more sequences, with a KV cache
 * per sequence. The engine (src/engine) validates batches and tracks positions; this module does the
 * arithmetic. */
#ifndef KUMO_MODEL_FORWARD_H
#define KUMO_MODEL_FORWARD_H

#include <stdbool.h>
#include <stdint.h>

#include "model/model.h"
#include "tensor/threadpool.h"

typedef struct forward_state forward_state;

/* Activation buffers for up to n_batch tokens and KV caches of n_ctx positions for each of n_seq
 * sequences, all allocated here once. The caches hold F32 values, or IEEE halves (K and V rounded
 * to nearest even as they are written) when kv_f16. */
forward_state *forward_state_new(const kumo_model *m, int n_batch, int n_ctx, int n_seq, bool kv_f16,
                                 kumo_error *err);
void forward_state_free(forward_state *st);

/* Runs n_t tokens. Entry i is token[i] at position pos[i] of sequence seq[i]; every (seq, pos) is
 * written to the cache before attention, and entry i attends to positions 0..pos[i] of its sequence,
 * so the caller must guarantee those earlier positions are filled. For the entries with want[i] != 0,
 * in order, the logits rows are written to logits (n_vocab floats each). Every entry's result is
 * bit-identical whatever the other entries of the batch and the pool's thread count. */
void model_forward(const kumo_model *m, forward_state *st, thread_pool *pool, int n_t, const int32_t *token,
                   const int32_t *pos, const int32_t *seq, const int8_t *want, float *logits);

/* MoE bookkeeping of the last model_forward: for entry i and layer l, the n_expert_used experts chosen,
 * best first, at routing[(i * n_layer + l) * n_expert_used]. NULL for dense models. The last layer
 * only runs for the entries that want logits (its output is read by nothing else): the others have
 * -1 there, and are not counted in forward_expert_counts for that layer. */
const int32_t *forward_last_routing(const forward_state *st);
/* Tokens routed to each expert since the state was created: counts[l * n_expert + e]. */
const uint64_t *forward_expert_counts(const forward_state *st);

#endif
