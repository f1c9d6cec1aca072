/* One forward pass of the transformer family over a batch, top to bottom:
 *
 *   x = embed(tokens)
 *   for each layer:
 *       h = rmsnorm(x) · attn_norm
 *       q, k, v = h·Wq (+bq), h·Wk (+bk), h·Wv (+bv)      per-head RMSNorm of q, k if the arch says so
 *       rope(q, k) at each token's position; k, v → the token's sequence cache
 *       x += Wo · attention(q, cache of the token's sequence, positions 0..pos)
 *       h = rmsnorm(x) · ffn_norm
 *       x += dense SwiGLU FFN(h)   or   Σ_{top-k experts} w_e · SwiGLU_e(h)
 *   logits = rmsnorm(x) · output_norm · Wout          for the entries that want them
 *
 * Architectures differ only by the traits in model->arch and by which tensors exist. */
#include "model/forward.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/ops.h"
#include "tensor/quant.h"
#include "util/err.h"

struct forward_state {
    int n_batch, n_ctx, n_seq;
    int kd, vd;                 /* K / V row widths per position (all KV heads) */
    float *x, *xb, *q, *k, *v, *att, *hb, *hb2, *moe_out, *gather, *router, *cs;
    float *k_cache, *v_cache;   /* [seq][layer][pos][kd|vd] */
    void *scratch;
    /* attention: per-(entry, head) score rows, one n_ctx row per worker thread */
    float *scores;
    int scores_rows;
    /* MoE */
    int32_t *routing;           /* [entry][layer][n_expert_used] */
    float *route_w;             /* [entry][n_expert_used] weights of the current layer */
    int32_t *exp_offset;        /* [n_expert + 1] */
    int32_t *exp_slots;         /* [n_batch * n_expert_used] entry*k + slot grouped by expert */
    uint64_t *expert_counts;    /* [layer][expert] */
    int *want_idx;
};

#define MAX_THREADS 256

static size_t kv_offset(const forward_state *st, int seq, int layer, int pos, int width, int n_layer) {
    return (((size_t)seq * (size_t)n_layer + (size_t)layer) * (size_t)st->n_ctx + (size_t)pos) * (size_t)width;
}

forward_state *forward_state_new(const kumo_model *m, int n_batch, int n_ctx, int n_seq, kumo_error *err) {
    const model_hparams *hp = &m->hp;
    forward_state *st = calloc(1, sizeof *st);
    if (!st) goto nomem;
    st->n_batch = n_batch;
    st->n_ctx = n_ctx;
    st->n_seq = n_seq;
    st->kd = hp->n_head_kv * hp->head_dim_k;
    st->vd = hp->n_head_kv * hp->head_dim_v;
    size_t B = (size_t)n_batch;
    int qd = hp->n_head * hp->head_dim_k, od = hp->n_head * hp->head_dim_v;
    int ff = hp->n_ff > hp->n_ff_exp ? hp->n_ff : hp->n_ff_exp;
    int wide = qd > od ? qd : od;
    if (wide < hp->n_embd) wide = hp->n_embd;
    st->x = malloc(B * hp->n_embd * sizeof(float));
    st->xb = malloc(B * hp->n_embd * sizeof(float));
    st->q = malloc(B * qd * sizeof(float));
    st->k = malloc(B * st->kd * sizeof(float));
    st->v = malloc(B * st->vd * sizeof(float));
    st->att = malloc(B * wide * sizeof(float));
    st->hb = malloc(B * (ff > 0 ? ff : 1) * sizeof(float));
    st->hb2 = malloc(B * (ff > 0 ? ff : 1) * sizeof(float));
    st->moe_out = malloc(B * hp->n_embd * sizeof(float));
    st->gather = malloc(B * hp->n_embd * sizeof(float));
    st->cs = malloc(B * hp->n_rot * sizeof(float));
    st->want_idx = malloc(B * sizeof(int));
    size_t kv_k = (size_t)n_seq * hp->n_layer * (size_t)n_ctx * st->kd;
    size_t kv_v = (size_t)n_seq * hp->n_layer * (size_t)n_ctx * st->vd;
    st->k_cache = calloc(kv_k, sizeof(float));
    st->v_cache = calloc(kv_v, sizeof(float));
    st->scores_rows = MAX_THREADS;
    st->scores = malloc((size_t)st->scores_rows * n_ctx * sizeof(float));
    /* scratch for converting activations: the largest over every matrix the pass multiplies */
    size_t scratch = matmul_scratch_bytes(m->output.type, m->output.n_in, n_batch);
    for (int l = 0; l < hp->n_layer; l++) {
        const layer_weights *L = &m->layers[l];
        const kumo_matrix *mats[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->ffn_gate, &L->ffn_up, &L->ffn_down,
                                     &L->ffn_router, &L->exp_gate, &L->exp_up, &L->exp_down};
        for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++) {
            if (!mats[i]->data) continue;
            size_t s = matmul_scratch_bytes(mats[i]->type, mats[i]->n_in, n_batch);
            if (s > scratch) scratch = s;
        }
    }
    st->scratch = malloc(scratch ? scratch : 1);
    if (!st->x || !st->xb || !st->q || !st->k || !st->v || !st->att || !st->hb || !st->hb2 || !st->moe_out ||
        !st->gather || !st->cs || !st->want_idx || !st->k_cache || !st->v_cache || !st->scores || !st->scratch)
        goto nomem;
    if (hp->n_expert > 0) {
        size_t ku = (size_t)hp->n_expert_used;
        st->router = malloc(B * hp->n_expert * sizeof(float));
        st->routing = calloc(B * hp->n_layer * ku, sizeof(int32_t));
        st->route_w = malloc(B * ku * sizeof(float));
        st->exp_offset = malloc(((size_t)hp->n_expert + 1) * sizeof(int32_t));
        st->exp_slots = malloc(B * ku * sizeof(int32_t));
        st->expert_counts = calloc((size_t)hp->n_layer * hp->n_expert, sizeof(uint64_t));
        if (!st->router || !st->routing || !st->route_w || !st->exp_offset || !st->exp_slots || !st->expert_counts)
            goto nomem;
    }
    return st;
nomem:
    forward_state_free(st);
    kumo_err(err, KUMO_E_NOMEM, "out of memory allocating buffers for %d tokens and %d positions x %d sequences",
             n_batch, n_ctx, n_seq);
    return NULL;
}

void forward_state_free(forward_state *st) {
    if (!st) return;
    void *ptrs[] = {st->x, st->xb, st->q, st->k, st->v, st->att, st->hb, st->hb2, st->moe_out, st->gather,
                    st->router, st->cs, st->k_cache, st->v_cache, st->scratch, st->scores, st->routing,
                    st->route_w, st->exp_offset, st->exp_slots, st->expert_counts, st->want_idx};
    for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++) free(ptrs[i]);
    free(st);
}

const int32_t *forward_last_routing(const forward_state *st) { return st->routing; }
const uint64_t *forward_expert_counts(const forward_state *st) { return st->expert_counts; }

/* cos/sin of every rotated pair for every entry, computed in double: positions reach the
 * thousands, and float angle accumulation would cost accuracy the golden tests can see. */
static void rope_tables(const kumo_model *m, forward_state *st, int n_t, const int32_t *pos) {
    const model_hparams *hp = &m->hp;
    int half = hp->n_rot / 2;
    for (int t = 0; t < n_t; t++) {
        float *cs = st->cs + (size_t)t * hp->n_rot;
        for (int i = 0; i < half; i++) {
            double freq = pow((double)hp->rope_base, -2.0 * i / hp->n_rot) * hp->rope_freq_scale;
            if (m->rope_freq_factors) freq /= m->rope_freq_factors[i];
            double a = (double)pos[t] * freq;
            cs[2 * i] = (float)cos(a);
            cs[2 * i + 1] = (float)sin(a);
        }
    }
}

static void add_bias(float *y, const float *b, int n_t, int n) {
    if (!b) return;
    for (int t = 0; t < n_t; t++)
        for (int i = 0; i < n; i++) y[(size_t)t * n + i] += b[i];
}

struct attn_job {
    const kumo_model *m;
    forward_state *st;
    int layer, n_t;
    const int32_t *pos, *seq;
};

/* Attention of every (entry, query head) pair, split across workers. */
static void attention_worker(void *arg, int ith, int nth) {
    struct attn_job *j = arg;
    const model_hparams *hp = &j->m->hp;
    forward_state *st = j->st;
    int hk = hp->head_dim_k, hv = hp->head_dim_v, group = hp->n_head / hp->n_head_kv;
    float scale = 1.0f / sqrtf((float)hk);
    float *scores = st->scores + (size_t)ith * st->n_ctx;
    long n_items = (long)j->n_t * hp->n_head, i0, i1;
    thread_pool_split(n_items, ith, nth, &i0, &i1);
    for (long it = i0; it < i1; it++) {
        int t = (int)(it / hp->n_head), h = (int)(it % hp->n_head), g = h / group;
        const float *q = st->q + (size_t)t * hp->n_head * hk + (size_t)h * hk;
        int npos = j->pos[t] + 1;
        const float *kc = st->k_cache + kv_offset(st, j->seq[t], j->layer, 0, st->kd, hp->n_layer) + (size_t)g * hk;
        const float *vc = st->v_cache + kv_offset(st, j->seq[t], j->layer, 0, st->vd, hp->n_layer) + (size_t)g * hv;
        for (int p = 0; p < npos; p++) {
            const float *kr = kc + (size_t)p * st->kd;
            float s = 0.0f;
            for (int i = 0; i < hk; i++) s += q[i] * kr[i];
            scores[p] = s * scale;
        }
        softmax_inplace(scores, npos);
        float *out = st->att + (size_t)t * hp->n_head * hv + (size_t)h * hv;
        memset(out, 0, (size_t)hv * sizeof(float));
        for (int p = 0; p < npos; p++) {
            const float *vr = vc + (size_t)p * st->vd;
            float w = scores[p];
            for (int i = 0; i < hv; i++) out[i] += w * vr[i];
        }
    }
}

static void attention_block(const kumo_model *m, forward_state *st, thread_pool *pool, int l, int n_t,
                            const int32_t *pos, const int32_t *seq) {
    const model_hparams *hp = &m->hp;
    const layer_weights *L = &m->layers[l];
    int hk = hp->head_dim_k, qd = hp->n_head * hk;
    for (int t = 0; t < n_t; t++)
        rms_norm(st->xb + (size_t)t * hp->n_embd, st->x + (size_t)t * hp->n_embd, L->attn_norm, hp->n_embd,
                 hp->rms_eps);
    matmul(pool, &L->wq, st->xb, n_t, st->q, st->scratch);
    matmul(pool, &L->wk, st->xb, n_t, st->k, st->scratch);
    matmul(pool, &L->wv, st->xb, n_t, st->v, st->scratch);
    add_bias(st->q, L->bq, n_t, qd);
    add_bias(st->k, L->bk, n_t, st->kd);
    add_bias(st->v, L->bv, n_t, st->vd);
    for (int t = 0; t < n_t; t++) {
        const float *cs = st->cs + (size_t)t * hp->n_rot;
        for (int h = 0; h < hp->n_head; h++) {
            float *qh = st->q + (size_t)t * qd + (size_t)h * hk;
            if (L->q_norm) rms_norm(qh, qh, L->q_norm, hk, hp->rms_eps);
            rope_apply(qh, hp->n_rot, cs, m->arch->rope_neox);
        }
        for (int h = 0; h < hp->n_head_kv; h++) {
            float *kh = st->k + (size_t)t * st->kd + (size_t)h * hk;
            if (L->k_norm) rms_norm(kh, kh, L->k_norm, hk, hp->rms_eps);
            rope_apply(kh, hp->n_rot, cs, m->arch->rope_neox);
        }
        memcpy(st->k_cache + kv_offset(st, seq[t], l, pos[t], st->kd, hp->n_layer), st->k + (size_t)t * st->kd,
               (size_t)st->kd * sizeof(float));
        memcpy(st->v_cache + kv_offset(st, seq[t], l, pos[t], st->vd, hp->n_layer), st->v + (size_t)t * st->vd,
               (size_t)st->vd * sizeof(float));
    }
    struct attn_job job = {.m = m, .st = st, .layer = l, .n_t = n_t, .pos = pos, .seq = seq};
    thread_pool_run(pool, attention_worker, &job);
    matmul(pool, &L->wo, st->att, n_t, st->xb, st->scratch);
    for (size_t i = 0; i < (size_t)n_t * hp->n_embd; i++) st->x[i] += st->xb[i];
}

static void dense_ffn(const kumo_model *m, forward_state *st, thread_pool *pool, const layer_weights *L, int n_t) {
    const model_hparams *hp = &m->hp;
    matmul(pool, &L->ffn_gate, st->xb, n_t, st->hb, st->scratch);
    matmul(pool, &L->ffn_up, st->xb, n_t, st->hb2, st->scratch);
    swiglu(st->hb, st->hb, st->hb2, n_t * hp->n_ff);
    matmul(pool, &L->ffn_down, st->hb, n_t, st->xb, st->scratch);
    for (size_t i = 0; i < (size_t)n_t * hp->n_embd; i++) st->x[i] += st->xb[i];
}

/* Router: softmax over expert logits, the top-k (ties → lower expert id), optionally renormalised.
 * Then the entries are grouped by expert so each expert's weights are read once per batch. */
static void moe_ffn(const kumo_model *m, forward_state *st, thread_pool *pool, int l, int n_t) {
    const model_hparams *hp = &m->hp;
    const layer_weights *L = &m->layers[l];
    int ne = hp->n_expert, ku = hp->n_expert_used, d = hp->n_embd, f = hp->n_ff_exp;
    matmul(pool, &L->ffn_router, st->xb, n_t, st->router, st->scratch);
    memset(st->exp_offset, 0, ((size_t)ne + 1) * sizeof(int32_t));
    for (int t = 0; t < n_t; t++) {
        float *p = st->router + (size_t)t * ne;
        softmax_inplace(p, ne);
        int32_t *chosen = st->routing + ((size_t)t * hp->n_layer + l) * ku;
        float *w = st->route_w + (size_t)t * ku;
        float sum = 0.0f;
        for (int s = 0; s < ku; s++) {
            int best = -1;
            for (int e = 0; e < ne; e++) {
                bool taken = false;
                for (int r = 0; r < s; r++) taken = taken || chosen[r] == e;
                if (!taken && (best < 0 || p[e] > p[best])) best = e;
            }
            chosen[s] = best;
            w[s] = p[best];
            sum += p[best];
            st->exp_offset[best + 1]++;
        }
        if (m->arch->moe_norm_topk)
            for (int s = 0; s < ku; s++) w[s] /= sum;
    }
    for (int e = 0; e < ne; e++) {
        st->expert_counts[(size_t)l * ne + e] += (uint64_t)st->exp_offset[e + 1];
        st->exp_offset[e + 1] += st->exp_offset[e];
    }
    /* (entry, slot) pairs grouped by expert, in entry order */
    for (int e = 0; e < ne; e++) {
        int32_t o = st->exp_offset[e];
        for (int t = 0; t < n_t; t++) {
            const int32_t *chosen = st->routing + ((size_t)t * hp->n_layer + l) * ku;
            for (int s = 0; s < ku; s++)
                if (chosen[s] == e) st->exp_slots[o++] = t * ku + s;
        }
    }
    memset(st->moe_out, 0, (size_t)n_t * d * sizeof(float));
    for (int e = 0; e < ne; e++) {
        int n = st->exp_offset[e + 1] - st->exp_offset[e];
        if (n == 0) continue;
        const int32_t *slots = st->exp_slots + st->exp_offset[e];
        for (int i = 0; i < n; i++)
            memcpy(st->gather + (size_t)i * d, st->xb + (size_t)(slots[i] / ku) * d, (size_t)d * sizeof(float));
        kumo_matrix g = expert_matrix(&L->exp_gate, L->exp_gate_stride, e);
        kumo_matrix u = expert_matrix(&L->exp_up, L->exp_up_stride, e);
        kumo_matrix dn = expert_matrix(&L->exp_down, L->exp_down_stride, e);
        matmul(pool, &g, st->gather, n, st->hb, st->scratch);
        matmul(pool, &u, st->gather, n, st->hb2, st->scratch);
        swiglu(st->hb, st->hb, st->hb2, n * f);
        matmul(pool, &dn, st->hb, n, st->gather, st->scratch);
        for (int i = 0; i < n; i++) {
            int t = slots[i] / ku;
            float w = st->route_w[slots[i]];
            float *o = st->moe_out + (size_t)t * d;
            const float *y = st->gather + (size_t)i * d;
            for (int c = 0; c < d; c++) o[c] += w * y[c];
        }
    }
    for (size_t i = 0; i < (size_t)n_t * d; i++) st->x[i] += st->moe_out[i];
}

void model_forward(const kumo_model *m, forward_state *st, thread_pool *pool, int n_t, const int32_t *token,
                   const int32_t *pos, const int32_t *seq, const int8_t *want, float *logits) {
    const model_hparams *hp = &m->hp;
    const kumo_type_traits *et = kumo_get_type_traits(m->tok_embd.type);
    for (int t = 0; t < n_t; t++)
        et->to_float((const uint8_t *)m->tok_embd.data + (size_t)token[t] * m->tok_embd.row_bytes,
                     st->x + (size_t)t * hp->n_embd, hp->n_embd);
    rope_tables(m, st, n_t, pos);
    for (int l = 0; l < hp->n_layer; l++) {
        const layer_weights *L = &m->layers[l];
        attention_block(m, st, pool, l, n_t, pos, seq);
        for (int t = 0; t < n_t; t++)
            rms_norm(st->xb + (size_t)t * hp->n_embd, st->x + (size_t)t * hp->n_embd, L->ffn_norm, hp->n_embd,
                     hp->rms_eps);
        if (hp->n_expert > 0) moe_ffn(m, st, pool, l, n_t);
        else dense_ffn(m, st, pool, L, n_t);
    }
    int n_out = 0;
    for (int t = 0; t < n_t; t++) {
        if (!want[t]) continue;
        rms_norm(st->xb + (size_t)n_out * hp->n_embd, st->x + (size_t)t * hp->n_embd, m->output_norm, hp->n_embd,
                 hp->rms_eps);
        n_out++;
    }
    if (n_out > 0) matmul(pool, &m->output, st->xb, n_out, logits, st->scratch);
}
