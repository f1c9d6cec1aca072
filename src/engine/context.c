/* A context: the KV caches of up to n_seq_max sequences, the thread pool, and batched decode.
 * kumo_decode checks every batch entry before any arithmetic, so a bad batch changes nothing. */
#include <stdlib.h>
#include <string.h>

#include "engine/context.h"
#include "model/model.h"
#include "model/forward.h"
#include "tensor/bandwidth.h"
#include "tensor/threadpool.h"
#include "util/err.h"

struct kumo_context {
    kumo_model *model;
    kumo_context_params params;
    thread_pool *pool;
    forward_state *fwd;
    int32_t *seq_len;       /* next free position of each sequence */
    float *logits;          /* [n_batch][n_vocab] rows of the entries that asked */
    int *logits_row;        /* batch entry -> logits row, -1 when not asked */
    int n_last;             /* entries in the last decoded batch */
    int32_t *seq_next;      /* scratch for validation */
};

kumo_context_params kumo_context_default_params(void) {
    kumo_context_params p = {.n_ctx = 0, .n_seq_max = 1, .n_batch = 512, .n_threads = 0, .kv_type = KUMO_KV_F16};
    return p;
}

kumo_context *kumo_context_new(kumo_model *model, const kumo_context_params *params, kumo_error *err) {
    kumo_context_params p = params ? *params : kumo_context_default_params();
    if (model->vocab_only) {
        kumo_err(err, KUMO_E_INVALID, "model was loaded vocab-only; it cannot run");
        return NULL;
    }
    if (p.n_ctx <= 0) p.n_ctx = model->hp.n_ctx_train < 4096 ? model->hp.n_ctx_train : 4096;
    if (p.n_seq_max <= 0) p.n_seq_max = 1;
    if (p.n_batch <= 0) p.n_batch = 512;
    if (p.n_threads <= 0) p.n_threads = kumo_cpu_count();
    if (p.n_threads > 256) p.n_threads = 256;
    if (p.n_ctx > (1 << 22) || p.n_seq_max > 4096 || p.n_batch > (1 << 16)) {
        kumo_err(err, KUMO_E_INVALID, "context parameters out of range (n_ctx %d, n_seq_max %d, n_batch %d)", p.n_ctx,
                 p.n_seq_max, p.n_batch);
        return NULL;
    }
    if (p.kv_type != KUMO_KV_F16 && p.kv_type != KUMO_KV_F32) {
        kumo_err(err, KUMO_E_INVALID, "unknown KV cache type %d (KUMO_KV_F16 or KUMO_KV_F32)", (int)p.kv_type);
        return NULL;
    }
    kumo_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        kumo_err(err, KUMO_E_NOMEM, "out of memory");
        return NULL;
    }
    ctx->model = model;
    ctx->params = p;
    ctx->pool = thread_pool_new(p.n_threads);
    ctx->fwd = forward_state_new(model, p.n_batch, p.n_ctx, p.n_seq_max, p.kv_type == KUMO_KV_F16, err);
    ctx->seq_len = calloc((size_t)p.n_seq_max, sizeof(int32_t));
    ctx->seq_next = calloc((size_t)p.n_seq_max, sizeof(int32_t));
    ctx->logits = malloc((size_t)p.n_batch * model->hp.n_vocab * sizeof(float));
    ctx->logits_row = malloc((size_t)p.n_batch * sizeof(int));
    if (!ctx->fwd) {
        kumo_context_free(ctx);
        return NULL;
    }
    if (!ctx->pool || !ctx->seq_len || !ctx->seq_next || !ctx->logits || !ctx->logits_row) {
        kumo_context_free(ctx);
        kumo_err(err, KUMO_E_NOMEM, "out of memory creating a context");
        return NULL;
    }
    return ctx;
}

void kumo_context_free(kumo_context *ctx) {
    if (!ctx) return;
    thread_pool_free(ctx->pool);
    forward_state_free(ctx->fwd);
    free(ctx->seq_len);
    free(ctx->seq_next);
    free(ctx->logits);
    free(ctx->logits_row);
    free(ctx);
}

struct kumo_read_probe {
    kumo_context *ctx;
    read_probe *probe;
};

kumo_read_probe *kumo_read_probe_new(kumo_context *ctx, size_t bytes) {
    kumo_read_probe *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->ctx = ctx;
    p->probe = read_probe_new(bytes);
    if (!p->probe) {
        free(p);
        return NULL;
    }
    return p;
}

double kumo_read_probe_run(kumo_read_probe *p, size_t bytes) {
    return read_probe_read(p->probe, p->ctx->pool, bytes, NULL);
}

void kumo_read_probe_free(kumo_read_probe *p) {
    if (!p) return;
    read_probe_free(p->probe);
    free(p);
}

int kumo_context_n_ctx(const kumo_context *ctx) { return ctx->params.n_ctx; }
int kumo_context_n_threads(const kumo_context *ctx) { return ctx->params.n_threads; }

int kumo_decode(kumo_context *ctx, const kumo_batch *b, kumo_error *err) {
    const kumo_context_params *p = &ctx->params;
    int n_vocab = ctx->model->hp.n_vocab;
    ctx->n_last = 0;
    if (b->n_tokens <= 0) return kumo_err(err, KUMO_E_INVALID, "empty batch");
    if (b->n_tokens > p->n_batch)
        return kumo_err(err, KUMO_E_INVALID, "batch of %d tokens exceeds the context's n_batch %d", b->n_tokens,
                        p->n_batch);
    memcpy(ctx->seq_next, ctx->seq_len, (size_t)p->n_seq_max * sizeof(int32_t));
    for (int i = 0; i < b->n_tokens; i++) {
        int32_t s = b->seq_id[i], pos = b->pos[i];
        if (b->token[i] < 0 || b->token[i] >= n_vocab)
            return kumo_err(err, KUMO_E_INVALID, "batch entry %d: token id %d is outside the vocabulary [0, %d)", i,
                            b->token[i], n_vocab);
        if (s < 0 || s >= p->n_seq_max)
            return kumo_err(err, KUMO_E_INVALID, "batch entry %d: sequence id %d is outside [0, %d)", i, s,
                            p->n_seq_max);
        if (pos >= p->n_ctx)
            return kumo_err(err, KUMO_E_FULL, "batch entry %d: position %d does not fit the context of %d tokens", i,
                            pos, p->n_ctx);
        if (pos != ctx->seq_next[s])
            return kumo_err(err, KUMO_E_INVALID,
                            "batch entry %d: sequence %d expects position %d next, got %d", i, s, ctx->seq_next[s],
                            pos);
        ctx->seq_next[s]++;
    }
    int rows = 0;
    for (int i = 0; i < b->n_tokens; i++) ctx->logits_row[i] = b->logits[i] ? rows++ : -1;
    model_forward(ctx->model, ctx->fwd, ctx->pool, b->n_tokens, b->token, b->pos, b->seq_id, b->logits, ctx->logits);
    memcpy(ctx->seq_len, ctx->seq_next, (size_t)p->n_seq_max * sizeof(int32_t));
    ctx->n_last = b->n_tokens;
    return KUMO_OK;
}

const float *kumo_get_logits(const kumo_context *ctx, int i) {
    if (i < 0 || i >= ctx->n_last || ctx->logits_row[i] < 0) return NULL;
    return ctx->logits + (size_t)ctx->logits_row[i] * ctx->model->hp.n_vocab;
}

void kumo_seq_rm(kumo_context *ctx, int32_t seq_id, int32_t p0) {
    if (seq_id < 0 || seq_id >= ctx->params.n_seq_max) return;
    if (p0 < 0) p0 = 0;
    if (ctx->seq_len[seq_id] > p0) ctx->seq_len[seq_id] = p0;
}

int32_t kumo_seq_pos_max(const kumo_context *ctx, int32_t seq_id) {
    if (seq_id < 0 || seq_id >= ctx->params.n_seq_max) return -1;
    return ctx->seq_len[seq_id] - 1;
}

const int32_t *kumo_context_last_routing(const kumo_context *ctx) { return forward_last_routing(ctx->fwd); }

const uint64_t *kumo_context_expert_counts(const kumo_context *ctx) { return forward_expert_counts(ctx->fwd); }

kumo_batch kumo_batch_new(int n_max) {
    kumo_batch b = {0};
    if (n_max < 1) n_max = 1;
    b.token = calloc((size_t)n_max, sizeof *b.token);
    b.pos = calloc((size_t)n_max, sizeof *b.pos);
    b.seq_id = calloc((size_t)n_max, sizeof *b.seq_id);
    b.logits = calloc((size_t)n_max, sizeof *b.logits);
    return b;
}

void kumo_batch_free(kumo_batch *b) {
    free(b->token);
    free(b->pos);
    free(b->seq_id);
    free(b->logits);
    memset(b, 0, sizeof *b);
}

void kumo_batch_add(kumo_batch *b, kumo_token t, int32_t pos, int32_t seq_id, bool logits) {
    int i = b->n_tokens++;
    b->token[i] = t;
    b->pos[i] = pos;
    b->seq_id[i] = seq_id;
    b->logits[i] = logits ? 1 : 0;
}
