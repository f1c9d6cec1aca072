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
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/attention.h"
#include "tensor/gemm.h"
#include "tensor/ops.h"
#include "tensor/quant.h"
#include "util/err.h"

struct forward_state {
    int n_batch, n_ctx, n_seq;
    int kd, vd;                 /* K / V row widths per position (all KV heads) */
    float *x, *xb, *q, *k, *v, *att, *hb, *hb2, *gather, *router, *cs;
    float *blk_out;             /* output of the last attention or FFN block, added to x by residual_norm */
    /* KV caches, one head at a time: [seq][layer][kv head] then K as transposed blocks of positions
     * (attention.h: attn_k_index, n_ctx_pad positions) and V as [pos][head_dim_v]; elements are
     * floats, or IEEE halves when kv_f16 */
    void *k_cache, *v_cache;
    uint8_t *kv_arena;          /* owns both caches */
    size_t kv_arena_bytes;
    uint8_t *work_arena;        /* owns the float rows of a batch (x .. gather, scratch, attn_scratch) */
    size_t work_arena_bytes;
    bool kv_f16;
    int n_ctx_pad;
    void *scratch;
    /* attention: work items are (tile of batch entries of one sequence, KV head) */
    int *tile_start;            /* [n_batch + 1] first entry of each tile */
    int n_tiles;
    float *attn_scratch;        /* per worker slot: the scores of one attn_rows call */
    size_t attn_slot_floats;
    int attn_slots;
    /* MoE */
    int32_t *routing;           /* [entry][layer][n_expert_used] */
    float *route_w;             /* [entry][n_expert_used] weights of the current layer */
    int32_t *exp_offset;        /* [n_expert + 1] */
    int32_t *exp_slots;         /* [n_batch * n_expert_used] entry*k + slot grouped by expert */
    uint64_t *expert_counts;    /* [layer][expert] */
    int32_t *slot_entry;        /* [n_batch * n_expert_used] the entry of each grouped slot */
    int32_t *slot_row;          /* [n_batch * n_expert_used] grouped row of slot t * k + s */
    matmul_task *tasks;         /* [2 * n_expert] */
    kumo_matrix *exp_gate_v, *exp_up_v, *exp_down_v; /* [n_expert] views of the experts in use */
    kumo_packed *exp_gate_p, *exp_up_p, *exp_down_p; /* [n_expert] their packed slices */
    int32_t *want_idx;          /* entries that want logits, in order */
    int32_t *q_of_entry;        /* last layer: query row of each entry, -1 when it wants no logits */
    int32_t *row_pos, *row_seq; /* last layer: position and sequence of each query row */
    double *rope_freq;          /* [n_rot / 2] */
    const float *delta;         /* residual_norm: rows to add to x first, or NULL */
};

#define MAX_THREADS 256

/* Element offsets of the K (transposed) and V caches of one head. */
static size_t k_head(const forward_state *st, const model_hparams *hp, int seq, int layer, int g) {
    const size_t head = ((size_t)seq * hp->n_layer + (size_t)layer) * hp->n_head_kv + (size_t)g;
    return head * (size_t)st->n_ctx_pad * hp->head_dim_k;
}

static size_t v_head(const forward_state *st, const model_hparams *hp, int seq, int layer, int g) {
    const size_t head = ((size_t)seq * hp->n_layer + (size_t)layer) * hp->n_head_kv + (size_t)g;
    return head * (size_t)st->n_ctx * hp->head_dim_v;
}

/* Elements between the slabs of a V head (attn_v_index): each holds its columns of n_ctx positions. */
static size_t v_slab_stride(const forward_state *st, const model_hparams *hp) {
    return (size_t)st->n_ctx * (size_t)attn_v_slab_width(hp->head_dim_v);
}

#if defined(__SANITIZE_ADDRESS__)
#define WORK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WORK_ASAN 1
#endif
#endif
#ifdef WORK_ASAN
#include <sanitizer/asan_interface.h>
#define WORK_REDZONE 64 /* poisoned after each buffer, so ASan still sees one overrun into the next */
#else
#define WORK_REDZONE 0
#endif

/* The next `bytes` of an arena at base (NULL while only sizing it), on a cache line. */
static void *arena_take(uint8_t *base, size_t *off, size_t bytes) {
    void *p = base ? base + *off : NULL;
    const size_t span = (bytes + 63) / 64 * 64 + WORK_REDZONE;
#ifdef WORK_ASAN
    if (base) ASAN_POISON_MEMORY_REGION(base + *off + bytes, span - bytes);
#endif
    *off += span;
    return p;
}

/* Places the float rows of a batch of B entries in the arena at base, or with base NULL only sizes
 * them; returns the bytes they take. */
static size_t place_work_rows(forward_state *st, uint8_t *base, const model_hparams *hp, size_t B, size_t ff,
                              size_t slots, size_t wide, size_t scratch_bytes) {
    const size_t f = sizeof(float), d = (size_t)hp->n_embd;
    size_t off = 0;
    st->x = arena_take(base, &off, B * d * f);
    st->xb = arena_take(base, &off, B * d * f);
    st->q = arena_take(base, &off, B * (size_t)hp->n_head * hp->head_dim_k * f);
    st->k = arena_take(base, &off, B * (size_t)st->kd * f);
    st->v = arena_take(base, &off, B * (size_t)st->vd * f);
    st->att = arena_take(base, &off, B * wide * f);
    st->hb = arena_take(base, &off, B * ff * f);
    st->hb2 = arena_take(base, &off, B * ff * f);
    st->blk_out = arena_take(base, &off, B * d * f);
    st->gather = arena_take(base, &off, slots * d * f);
    st->scratch = arena_take(base, &off, scratch_bytes);
    st->attn_scratch = arena_take(base, &off, (size_t)st->attn_slots * st->attn_slot_floats * f);
    return off;
}

forward_state *forward_state_new(const kumo_model *m, int n_batch, int n_ctx, int n_seq, bool kv_f16,
                                 kumo_error *err) {
    const model_hparams *hp = &m->hp;
    forward_state *st = calloc(1, sizeof *st);
    if (!st) goto nomem;
    st->n_batch = n_batch;
    st->n_ctx = n_ctx;
    st->n_seq = n_seq;
    st->kv_f16 = kv_f16;
    st->kd = hp->n_head_kv * hp->head_dim_k;
    st->vd = hp->n_head_kv * hp->head_dim_v;
    size_t B = (size_t)n_batch;
    int qd = hp->n_head * hp->head_dim_k, od = hp->n_head * hp->head_dim_v;
    /* hb, hb2: the dense FFN's hidden rows, or one row per (entry, chosen expert) */
    size_t ff = (size_t)hp->n_ff;
    if (hp->n_expert > 0 && (size_t)hp->n_expert_used * hp->n_ff_exp > ff) ff = (size_t)hp->n_expert_used * hp->n_ff_exp;
    size_t slots = hp->n_expert > 0 ? B * (size_t)hp->n_expert_used : B;
    int wide = qd > od ? qd : od;
    if (wide < hp->n_embd) wide = hp->n_embd;
    st->cs = malloc(B * hp->n_rot * sizeof(float));
    st->want_idx = malloc(B * sizeof(int32_t));
    st->q_of_entry = malloc(B * sizeof(int32_t));
    st->row_pos = malloc(B * sizeof(int32_t));
    st->row_seq = malloc(B * sizeof(int32_t));
    st->rope_freq = malloc(((size_t)hp->n_rot / 2 + 1) * sizeof(double));
    st->n_ctx_pad = (n_ctx + ATTN_BLOCK - 1) / ATTN_BLOCK * ATTN_BLOCK;
    size_t kv_k = (size_t)n_seq * hp->n_layer * (size_t)st->n_ctx_pad * st->kd;
    size_t kv_v = (size_t)n_seq * hp->n_layer * (size_t)n_ctx * st->vd;
    const size_t kv_elem = kv_f16 ? sizeof(uint16_t) : sizeof(float);
    /* Both caches in one arena with every page faulted in now, in huge pages where the kernel
     * offers them. Left to fault on first touch, their 4 KiB pages would fault inside the decode
     * loop, one page of K per head every 16 positions and as many of V: 5191 faults in a
     * qwen3-0.6b context's first 128 decode tokens, each microseconds in a VM (~23 µs for the
     * copy-on-write ones). llama.cpp clears its cache up front too. */
    const size_t k_bytes = (kv_k * kv_elem + 63) / 64 * 64; /* V starts on a cache line too */
    st->kv_arena = gemm_arena_alloc_prefaulted(k_bytes + kv_v * kv_elem, &st->kv_arena_bytes);
    if (st->kv_arena) {
        st->k_cache = st->kv_arena;
        st->v_cache = st->kv_arena + k_bytes;
    }
    /* attention scratch for as many workers as there are cores (others help with the matmuls only) */
    st->attn_slots = kumo_cpu_count() < MAX_THREADS ? kumo_cpu_count() : MAX_THREADS;
    st->attn_slot_floats = (size_t)ATTN_MAX_ROWS * st->n_ctx_pad;
    st->tile_start = malloc((B + 1) * sizeof(int));
    /* scratch for converting activations: the largest over every matrix the pass multiplies */
    size_t scratch = matmul_scratch_bytes(m->output.type, m->output.n_in, n_batch);
    for (int l = 0; l < hp->n_layer; l++) {
        const layer_weights *L = &m->layers[l];
        const kumo_matrix *mats[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->ffn_gate, &L->ffn_up, &L->ffn_down,
                                     &L->ffn_router, &L->exp_gate, &L->exp_up, &L->exp_down};
        for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++) {
            if (!mats[i]->data) continue;
            size_t s = matmul_scratch_bytes(mats[i]->type, mats[i]->n_in, (int)slots);
            if (s > scratch) scratch = s;
        }
    }
    if (ff == 0) ff = 1;
    if (scratch == 0) scratch = 1;
    /* pre-faulted too: a batch's rows would otherwise fault in the first large batch (~10000 faults
     * in a qwen3-0.6b context's first 512-token prompt) */
    const size_t work = place_work_rows(st, NULL, hp, B, ff, slots, (size_t)wide, scratch);
    st->work_arena = gemm_arena_alloc_prefaulted(work, &st->work_arena_bytes);
    if (st->work_arena) place_work_rows(st, st->work_arena, hp, B, ff, slots, (size_t)wide, scratch);
    if (!st->work_arena || !st->cs || !st->want_idx || !st->q_of_entry || !st->row_pos || !st->row_seq ||
        !st->rope_freq || !st->k_cache || !st->v_cache || !st->tile_start)
        goto nomem;
    if (hp->n_expert > 0) {
        size_t ku = (size_t)hp->n_expert_used;
        st->router = malloc(B * hp->n_expert * sizeof(float));
        st->routing = calloc(B * hp->n_layer * ku, sizeof(int32_t));
        st->route_w = malloc(B * ku * sizeof(float));
        st->exp_offset = malloc(((size_t)hp->n_expert + 1) * sizeof(int32_t));
        st->exp_slots = malloc(B * ku * sizeof(int32_t));
        st->expert_counts = calloc((size_t)hp->n_layer * hp->n_expert, sizeof(uint64_t));
        size_t ne = (size_t)hp->n_expert;
        st->slot_entry = malloc(B * ku * sizeof(int32_t));
        st->slot_row = malloc(B * ku * sizeof(int32_t));
        st->tasks = malloc(2 * ne * sizeof *st->tasks);
        st->exp_gate_v = malloc(3 * ne * sizeof *st->exp_gate_v);
        st->exp_gate_p = malloc(3 * ne * sizeof *st->exp_gate_p);
        if (!st->router || !st->routing || !st->route_w || !st->exp_offset || !st->exp_slots || !st->expert_counts ||
            !st->slot_entry || !st->slot_row || !st->tasks || !st->exp_gate_v || !st->exp_gate_p)
            goto nomem;
        st->exp_up_v = st->exp_gate_v + ne;
        st->exp_down_v = st->exp_gate_v + 2 * ne;
        st->exp_up_p = st->exp_gate_p + ne;
        st->exp_down_p = st->exp_gate_p + 2 * ne;
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
    void *ptrs[] = {st->router, st->cs, st->tile_start, st->routing,
                    st->route_w, st->exp_offset, st->exp_slots, st->expert_counts, st->want_idx,
                    st->slot_entry, st->tasks, st->exp_gate_v, st->exp_gate_p, st->rope_freq,
                    st->q_of_entry, st->row_pos, st->row_seq, st->slot_row};
    for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++) free(ptrs[i]);
    gemm_arena_free(st->kv_arena, st->kv_arena_bytes);
#ifdef WORK_ASAN
    if (st->work_arena) ASAN_UNPOISON_MEMORY_REGION(st->work_arena, st->work_arena_bytes); /* before the pages go back */
#endif
    gemm_arena_free(st->work_arena, st->work_arena_bytes);
    free(st);
}

const int32_t *forward_last_routing(const forward_state *st) { return st->routing; }
const uint64_t *forward_expert_counts(const forward_state *st) { return st->expert_counts; }

/* cos/sin of every rotated pair for every entry, computed in double: positions reach the
 * thousands, and float angle accumulation would cost accuracy the golden tests can see. */
static void rope_tables(const kumo_model *m, forward_state *st, int n_t, const int32_t *pos) {
    const model_hparams *hp = &m->hp;
    int half = hp->n_rot / 2;
    double *freq = st->rope_freq;
    for (int i = 0; i < half; i++) {
        freq[i] = pow((double)hp->rope_base, -2.0 * i / hp->n_rot) * hp->rope_freq_scale;
        if (m->rope_freq_factors) freq[i] /= m->rope_freq_factors[i];
    }
    for (int t = 0; t < n_t; t++) {
        float *cs = st->cs + (size_t)t * hp->n_rot;
        for (int i = 0; i < half; i++) {
            double a = (double)pos[t] * freq[i];
            cs[i] = (float)cos(a);
            cs[half + i] = (float)sin(a);
        }
    }
}

/* ---------- per-entry row work, shared out across the pool ---------- */

struct rows_job {
    const kumo_model *m;
    forward_state *st;
    int layer, n_t;
    const int32_t *pos, *seq;
    const float *norm;          /* residual_norm_rows: the norm weight */
    int width;                  /* swiglu_rows_fn: row width */
    const int32_t *q_of_entry;  /* post_qkv_rows: query row of each entry (-1: none), NULL = the entry's;
                                 * moe_combine_rows: entry of each row, NULL = the row's */
    void (*fn)(struct rows_job *j, int t0, int t1);
    _Alignas(64) atomic_int next;
};

#define ROWS_CHUNK 4

static void rows_worker(void *arg, int ith, int nth) {
    (void)ith;
    (void)nth;
    struct rows_job *j = arg;
    for (int t0; (t0 = atomic_fetch_add_explicit(&j->next, ROWS_CHUNK, memory_order_relaxed)) < j->n_t;)
        j->fn(j, t0, t0 + ROWS_CHUNK < j->n_t ? t0 + ROWS_CHUNK : j->n_t);
}

/* Runs j->fn over entries [0, n_t): a single entry on the caller, more across the pool. */
static void run_rows(thread_pool *pool, struct rows_job *j) {
    if (j->n_t <= ROWS_CHUNK) {
        j->fn(j, 0, j->n_t);
        return;
    }
    atomic_init(&j->next, 0);
    thread_pool_run_shared(pool, rows_worker, j);
}

/* x += delta (when given); xb = rmsnorm(x) · norm */
static void residual_norm_rows(struct rows_job *j, int t0, int t1) {
    const model_hparams *hp = &j->m->hp;
    forward_state *st = j->st;
    const size_t d = (size_t)hp->n_embd;
    for (int t = t0; t < t1; t++)
        add_rms_norm(st->x + (size_t)t * d, st->delta ? st->delta + (size_t)t * d : NULL, st->xb + (size_t)t * d,
                     j->norm, hp->n_embd, hp->rms_eps);
}

static void residual_norm(const kumo_model *m, forward_state *st, thread_pool *pool, int n_t, const float *delta,
                          const float *norm) {
    st->delta = delta;
    struct rows_job j = {.m = m, .st = st, .n_t = n_t, .norm = norm, .fn = residual_norm_rows};
    run_rows(pool, &j);
}

/* Expert e of a stacked expert matrix, with its packed slice in *slice when the stack is packed. */
static kumo_matrix expert_view(const kumo_matrix *m, size_t stride, int e, kumo_packed *slice) {
    kumo_matrix v = expert_matrix(m, stride, e);
    if (m->packed) {
        *slice = gemm_packed_slice(m->packed, e);
        v.packed = slice;
    }
    return v;
}

/* After the QKV products, for entry t and KV head g with its group of query heads: biases, per-head
 * norms, RoPE, the score scale folded into q, and K/V into the entry's sequence cache. Heads are
 * independent, so any split of this work gives the same bits. */
static void post_qkv_head(struct rows_job *j, int t, int g) {
    const kumo_model *m = j->m;
    const model_hparams *hp = &m->hp;
    forward_state *st = j->st;
    const layer_weights *L = &m->layers[j->layer];
    const int hk = hp->head_dim_k, hv = hp->head_dim_v, qd = hp->n_head * hk, group = hp->n_head / hp->n_head_kv;
    const float scale = 1.0f / sqrtf((float)hk);
    const float *cs = st->cs + (size_t)t * hp->n_rot;
    const int qr = j->q_of_entry ? j->q_of_entry[t] : t;
    if (qr >= 0) {
        for (int h = g * group; h < (g + 1) * group; h++) {
            float *qh = st->q + (size_t)qr * qd + (size_t)h * hk;
            if (L->bq)
                for (int i = 0; i < hk; i++) qh[i] += L->bq[(size_t)h * hk + i];
            if (L->q_norm) rms_norm(qh, qh, L->q_norm, hk, hp->rms_eps);
            rope_apply(qh, hp->n_rot, cs, m->arch->rope_neox);
            for (int i = 0; i < hk; i++) qh[i] *= scale;
        }
    }
    float *kh = st->k + (size_t)t * st->kd + (size_t)g * hk, *vh = st->v + (size_t)t * st->vd + (size_t)g * hv;
    if (L->bk)
        for (int i = 0; i < hk; i++) kh[i] += L->bk[(size_t)g * hk + i];
    if (L->bv)
        for (int i = 0; i < hv; i++) vh[i] += L->bv[(size_t)g * hv + i];
    if (L->k_norm) rms_norm(kh, kh, L->k_norm, hk, hp->rms_eps);
    rope_apply(kh, hp->n_rot, cs, m->arch->rope_neox);
    const size_t kc = k_head(st, hp, j->seq[t], j->layer, g), vc = v_head(st, hp, j->seq[t], j->layer, g);
    const size_t vs = v_slab_stride(st, hp);
    const int sw = attn_v_slab_width(hv);
    if (st->kv_f16) { /* F16's row conversion: nearest even, the same bits at every ISA level */
        const kumo_from_float_fn to_half_row = kumo_get_type_traits(GGML_TYPE_F16)->from_float;
        enum { CHUNK = 256 }; /* K goes to the transposed layout through a small buffer */
        uint16_t *kd = (uint16_t *)st->k_cache + kc, half[CHUNK];
        for (int d0 = 0; d0 < hk; d0 += CHUNK) {
            const int n = hk - d0 < CHUNK ? hk - d0 : CHUNK;
            to_half_row(kh + d0, half, n);
            for (int d = 0; d < n; d++) kd[attn_k_index(j->pos[t], d0 + d, hk)] = half[d];
        }
        for (int c = 0; c < hv; c += sw)
            to_half_row(vh + c, (uint16_t *)st->v_cache + vc + attn_v_index(j->pos[t], c, hv, vs), sw);
    } else {
        float *kd = (float *)st->k_cache + kc;
        for (int d = 0; d < hk; d++) kd[attn_k_index(j->pos[t], d, hk)] = kh[d];
        for (int c = 0; c < hv; c += sw)
            memcpy((float *)st->v_cache + vc + attn_v_index(j->pos[t], c, hv, vs), vh + c, (size_t)sw * sizeof(float));
    }
}

static void post_qkv_rows(struct rows_job *j, int t0, int t1) {
    for (int t = t0; t < t1; t++)
        for (int g = 0; g < j->m->hp.n_head_kv; g++) post_qkv_head(j, t, g);
}

/* A decode step's cache writes land in lines last touched a token ago, long since evicted by the
 * weights streamed in between: each K position is one half in each of head_dim 32-byte rows of its
 * transposed block (attn_k_index), so every write would miss. Asking for those lines before the QKV
 * product lets the misses overlap the product's streaming instead of stalling the row work after
 * it. Only for a few entries: a prompt's batch writes whole blocks. */
static void prefetch_cache_slots(const forward_state *st, const model_hparams *hp, int layer, int n_t,
                                 const int32_t *pos, const int32_t *seq) {
    if (n_t > ROWS_CHUNK) return;
    const size_t elem = st->kv_f16 ? 2 : 4;
    const int hk = hp->head_dim_k, hv = hp->head_dim_v, sw = attn_v_slab_width(hv);
    const size_t vs = v_slab_stride(st, hp);
    for (int t = 0; t < n_t; t++)
        for (int g = 0; g < hp->n_head_kv; g++) {
            const char *k = (const char *)st->k_cache + k_head(st, hp, seq[t], layer, g) * elem;
            uintptr_t last = 0; /* two K rows share a line (one when hk is odd): one request per line */
            for (int d = 0; d < hk; d++) {
                const uintptr_t a = (uintptr_t)(k + attn_k_index(pos[t], d, hk) * elem) & ~(uintptr_t)63;
                if (a != last) __builtin_prefetch((const void *)a, 1, 2);
                last = a;
            }
            const size_t vh = v_head(st, hp, seq[t], layer, g);
            for (int c = 0; c < hv; c += sw) {
                const char *v = (const char *)st->v_cache + (vh + attn_v_index(pos[t], c, hv, vs)) * elem;
                for (uintptr_t a = (uintptr_t)v & ~(uintptr_t)63; a < (uintptr_t)(v + (size_t)sw * elem); a += 64)
                    __builtin_prefetch((const void *)a, 1, 2);
            }
        }
}

struct attn_job {
    const kumo_model *m;
    forward_state *st;
    int layer;
    const int32_t *pos, *seq;
    struct rows_job *post; /* set: each item first does its entries' post-QKV work for its KV head */
    _Alignas(64) atomic_int next_item;
};

/* Work item i: tile i / n_head_kv, KV head i % n_head_kv: the tile's query rows (entry-major, the
 * group's heads inside). */
static void attention_worker(void *arg, int ith, int nth) {
    (void)nth;
    struct attn_job *j = arg;
    forward_state *st = j->st;
    if (ith >= st->attn_slots) return;
    const model_hparams *hp = &j->m->hp;
    const int hk = hp->head_dim_k, hv = hp->head_dim_v, group = hp->n_head / hp->n_head_kv;
    const int qd = hp->n_head * hk, od = hp->n_head * hv;
    float *scores = st->attn_scratch + (size_t)ith * st->attn_slot_floats;
    const int n_items = st->n_tiles * hp->n_head_kv;
    for (int it; (it = atomic_fetch_add_explicit(&j->next_item, 1, memory_order_relaxed)) < n_items;) {
        const int tile = it / hp->n_head_kv, g = it % hp->n_head_kv;
        const int e0 = st->tile_start[tile], e1 = st->tile_start[tile + 1];
        const int s = j->seq[e0], n_rows = (e1 - e0) * group;
        if (j->post)
            for (int e = e0; e < e1; e++) post_qkv_head(j->post, e, g);
        const size_t kc = k_head(st, hp, s, j->layer, g), vc = v_head(st, hp, s, j->layer, g);
        for (int c0 = 0; c0 < n_rows; c0 += ATTN_MAX_ROWS) { /* one pass unless a KV group exceeds it */
            const int n = n_rows - c0 < ATTN_MAX_ROWS ? n_rows - c0 : ATTN_MAX_ROWS;
            int npos[ATTN_MAX_ROWS];
            const float *qrow[ATTN_MAX_ROWS];
            float *orow[ATTN_MAX_ROWS];
            for (int r = 0; r < n; r++) {
                const int e = e0 + (c0 + r) / group, h = g * group + (c0 + r) % group;
                qrow[r] = st->q + (size_t)e * qd + (size_t)h * hk;
                orow[r] = st->att + (size_t)e * od + (size_t)h * hv;
                npos[r] = j->pos[e] + 1;
            }
            if (st->kv_f16)
                attn_rows_f16(n, qrow, npos, (const uint16_t *)st->k_cache + kc, (const uint16_t *)st->v_cache + vc,
                              hk, hv, v_slab_stride(st, hp), orow, scores);
            else
                attn_rows(n, qrow, npos, (const float *)st->k_cache + kc, (const float *)st->v_cache + vc, hk, hv,
                          v_slab_stride(st, hp), orow, scores);
        }
    }
}

/* Tiles of consecutive batch entries of the same sequence, as many as fit ATTN_MAX_ROWS query rows
 * (at least one entry even when a KV group alone is larger: attn_rows is then called per head).
 * True when no two tiles share a sequence (checked for a few tiles only): then no tile reads cache
 * positions that another tile writes. */
static bool attention_tiles(forward_state *st, const model_hparams *hp, int n_t, const int32_t *seq) {
    const int group = hp->n_head / hp->n_head_kv;
    const int per_tile = group <= ATTN_MAX_ROWS ? ATTN_MAX_ROWS / group : 1;
    st->n_tiles = 0;
    for (int e = 0; e < n_t;) {
        int e1 = e + 1;
        while (e1 < n_t && e1 - e < per_tile && seq[e1] == seq[e]) e1++;
        st->tile_start[st->n_tiles++] = e;
        e = e1;
    }
    st->tile_start[st->n_tiles] = n_t;
    if (st->n_tiles > 16) return false;
    for (int a = 1; a < st->n_tiles; a++)
        for (int b = 0; b < a; b++)
            if (seq[st->tile_start[a]] == seq[st->tile_start[b]]) return false;
    return true;
}

/* xb holds the normed input rows of the n_t entries. K and V of every entry go to the caches; the
 * attention output projection lands in blk_out for n_q query rows: all entries, or (q_entry set)
 * the entries q_entry[0..n_q), at row_pos / row_seq. */
static void attention_block(const kumo_model *m, forward_state *st, thread_pool *pool, int l, int n_t,
                            const int32_t *pos, const int32_t *seq, int n_q, const int32_t *q_entry) {
    const model_hparams *hp = &m->hp;
    const layer_weights *L = &m->layers[l];
    const int qd = hp->n_head * hp->head_dim_k;
    const matmul_task qkv[3] = {
        {.w = &L->wq, .n_t = n_q, .rows = q_entry, .y = st->q, .ldy = qd},
        {.w = &L->wk, .n_t = n_t, .y = st->k, .ldy = st->kd},
        {.w = &L->wv, .n_t = n_t, .y = st->v, .ldy = st->vd},
    };
    prefetch_cache_slots(st, hp, l, n_t, pos, seq);
    matmul_batch(pool, st->xb, n_t, hp->n_embd, qkv, 3, st->scratch);
    struct rows_job rj = {.m = m, .st = st, .layer = l, .n_t = n_t, .pos = pos, .seq = seq, .fn = post_qkv_rows,
                          .q_of_entry = q_entry ? st->q_of_entry : NULL};
    const int32_t *qpos = q_entry ? st->row_pos : pos, *qseq = q_entry ? st->row_seq : seq;
    /* A few entries, each its own sequence's only one in the batch (a decode step): the post-QKV work
     * of KV head g is done by the attention item of head g, so it is shared out with the attention
     * instead of running on the caller alone while the other threads wait. */
    const bool fused = attention_tiles(st, hp, n_q, qseq) && !q_entry && n_t <= ROWS_CHUNK;
    if (!fused) run_rows(pool, &rj);
    struct attn_job job = {.m = m, .st = st, .layer = l, .pos = qpos, .seq = qseq, .post = fused ? &rj : NULL};
    atomic_init(&job.next_item, 0);
    thread_pool_run_shared(pool, attention_worker, &job);
    matmul(pool, &L->wo, st->att, n_q, st->blk_out, st->scratch);
}

static void swiglu_rows_fn(struct rows_job *j, int t0, int t1) {
    const size_t w = (size_t)j->width;
    swiglu(j->st->hb + t0 * w, j->st->hb + t0 * w, j->st->hb2 + t0 * w, (int)((size_t)(t1 - t0) * w));
}

/* hb = silu(hb) · hb2 over n rows of w */
static void swiglu_rows(const kumo_model *m, forward_state *st, thread_pool *pool, int n, int w) {
    struct rows_job j = {.m = m, .st = st, .width = w, .n_t = n, .fn = swiglu_rows_fn};
    run_rows(pool, &j);
}

/* xb holds the normed input rows; the FFN output lands in blk_out. */
static void dense_ffn(const kumo_model *m, forward_state *st, thread_pool *pool, const layer_weights *L, int n_t) {
    const model_hparams *hp = &m->hp;
    const matmul_task gate_up[2] = {
        {.w = &L->ffn_gate, .n_t = n_t, .y = st->hb, .ldy = hp->n_ff},
        {.w = &L->ffn_up, .n_t = n_t, .y = st->hb2, .ldy = hp->n_ff},
    };
    matmul_batch(pool, st->xb, n_t, hp->n_embd, gate_up, 2, st->scratch);
    swiglu_rows(m, st, pool, n_t, hp->n_ff);
    matmul(pool, &L->ffn_down, st->hb, n_t, st->blk_out, st->scratch);
}

/* blk_out row t = Σ of its experts' down outputs weighted by the router, added in expert order
 * (whatever else is in the batch). */
static void moe_combine_rows(struct rows_job *j, int t0, int t1) {
    const model_hparams *hp = &j->m->hp;
    forward_state *st = j->st;
    const int ku = hp->n_expert_used, d = hp->n_embd;
    for (int t = t0; t < t1; t++) {
        const int32_t *chosen = st->routing + ((size_t)(j->q_of_entry ? j->q_of_entry[t] : t) * hp->n_layer + j->layer) * ku;
        float *out = st->blk_out + (size_t)t * d;
        memset(out, 0, (size_t)d * sizeof(float));
        int prev = -1;
        for (int k = 0; k < ku; k++) { /* the slots in ascending expert id */
            int s = -1;
            for (int c = 0; c < ku; c++)
                if (chosen[c] > prev && (s < 0 || chosen[c] < chosen[s])) s = c;
            prev = chosen[s];
            const int32_t slot = t * ku + s;
            vec_axpy(out, st->route_w[slot], st->gather + (size_t)st->slot_row[slot] * d, d);
        }
    }
}

/* Router: softmax over expert logits, the top-k (ties → lower expert id), optionally renormalised.
 * Then the entries are grouped by expert so each expert's weights are read once per batch. */
/* Row t of the batch is entry row_entry[t] (NULL: t) for the routing record. */
static void moe_ffn(const kumo_model *m, forward_state *st, thread_pool *pool, int l, int n_t,
                    const int32_t *row_entry) {
    const model_hparams *hp = &m->hp;
    const layer_weights *L = &m->layers[l];
    int ne = hp->n_expert, ku = hp->n_expert_used, d = hp->n_embd, f = hp->n_ff_exp;
    matmul(pool, &L->ffn_router, st->xb, n_t, st->router, st->scratch);
    memset(st->exp_offset, 0, ((size_t)ne + 1) * sizeof(int32_t));
    for (int t = 0; t < n_t; t++) {
        float *p = st->router + (size_t)t * ne;
        softmax_inplace(p, ne);
        int32_t *chosen = st->routing + ((size_t)(row_entry ? row_entry[t] : t) * hp->n_layer + l) * ku;
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
            const int32_t *chosen = st->routing + ((size_t)(row_entry ? row_entry[t] : t) * hp->n_layer + l) * ku;
            for (int s = 0; s < ku; s++)
                if (chosen[s] == e) st->exp_slots[o++] = t * ku + s;
        }
    }
    /* every used expert's gate and up products in one pass over the shared input rows: expert e
     * reads the entries of its slots and writes rows exp_offset[e].. of hb / hb2 */
    int n_used = 0;
    for (int e = 0; e < ne; e++) {
        const int n = st->exp_offset[e + 1] - st->exp_offset[e];
        if (n == 0) continue;
        const int32_t o = st->exp_offset[e];
        for (int i = 0; i < n; i++) st->slot_entry[o + i] = st->exp_slots[o + i] / ku;
        st->exp_gate_v[n_used] = expert_view(&L->exp_gate, L->exp_gate_stride, e, &st->exp_gate_p[n_used]);
        st->exp_up_v[n_used] = expert_view(&L->exp_up, L->exp_up_stride, e, &st->exp_up_p[n_used]);
        st->exp_down_v[n_used] = expert_view(&L->exp_down, L->exp_down_stride, e, &st->exp_down_p[n_used]);
        st->tasks[2 * n_used] = (matmul_task){.w = &st->exp_gate_v[n_used], .n_t = n, .rows = st->slot_entry + o,
                                              .y = st->hb + (size_t)o * f, .ldy = f};
        st->tasks[2 * n_used + 1] = (matmul_task){.w = &st->exp_up_v[n_used], .n_t = n, .rows = st->slot_entry + o,
                                                  .y = st->hb2 + (size_t)o * f, .ldy = f};
        n_used++;
    }
    matmul_batch(pool, st->xb, n_t, d, st->tasks, 2 * n_used, st->scratch);
    const int n_slots = n_t * ku;
    swiglu_rows(m, st, pool, n_slots, f);
    /* down products: expert e's slots are rows exp_offset[e].. of hb, results go to the same rows of
     * gather */
    n_used = 0;
    for (int e = 0; e < ne; e++) {
        const int n = st->exp_offset[e + 1] - st->exp_offset[e];
        if (n == 0) continue;
        st->tasks[n_used] = (matmul_task){.w = &st->exp_down_v[n_used], .n_t = n, .row0 = st->exp_offset[e],
                                          .y = st->gather + (size_t)st->exp_offset[e] * d, .ldy = d};
        n_used++;
    }
    matmul_batch(pool, st->hb, n_slots, f, st->tasks, n_used, st->scratch);
    for (int o = 0; o < n_slots; o++) st->slot_row[st->exp_slots[o]] = o;
    struct rows_job rj = {.m = m, .st = st, .layer = l, .n_t = n_t, .fn = moe_combine_rows, .q_of_entry = row_entry};
    run_rows(pool, &rj);
}

void model_forward(const kumo_model *m, forward_state *st, thread_pool *pool, int n_t, const int32_t *token,
                   const int32_t *pos, const int32_t *seq, const int8_t *want, float *logits) {
    const model_hparams *hp = &m->hp;
    const kumo_type_traits *et = kumo_get_type_traits(m->tok_embd.type);
    for (int t = 0; t < n_t; t++)
        et->to_float((const uint8_t *)m->tok_embd.data + (size_t)token[t] * m->tok_embd.row_bytes,
                     st->x + (size_t)t * hp->n_embd, hp->n_embd);
    rope_tables(m, st, n_t, pos);
    /* Only the entries that want logits need the last layer past its K/V: the others' attention
     * output, FFN and final norm would never be read. */
    int n_want = 0;
    for (int t = 0; t < n_t; t++) {
        st->q_of_entry[t] = want[t] ? n_want : -1;
        if (want[t]) {
            st->row_pos[n_want] = pos[t];
            st->row_seq[n_want] = seq[t];
            st->want_idx[n_want++] = t;
        }
    }
    const bool compact = n_want < n_t;
    int n_rows = n_t; /* rows carried through the layers */
    residual_norm(m, st, pool, n_t, NULL, m->layers[0].attn_norm);
    for (int l = 0; l < hp->n_layer; l++) {
        const layer_weights *L = &m->layers[l];
        const bool last = l + 1 == hp->n_layer;
        const int32_t *row_entry = NULL;
        if (last && compact) {
            attention_block(m, st, pool, l, n_t, pos, seq, n_want, st->want_idx);
            if (hp->n_expert > 0) /* entries skipped here get no last-layer routing */
                for (int t = 0; t < n_t; t++)
                    if (!want[t])
                        for (int s = 0; s < hp->n_expert_used; s++)
                            st->routing[((size_t)t * hp->n_layer + l) * hp->n_expert_used + s] = -1;
            for (int r = 0; r < n_want; r++) /* r <= want_idx[r]: moving rows down is safe in order */
                if (st->want_idx[r] != r)
                    memcpy(st->x + (size_t)r * hp->n_embd, st->x + (size_t)st->want_idx[r] * hp->n_embd,
                           (size_t)hp->n_embd * sizeof(float));
            n_rows = n_want;
            row_entry = st->want_idx;
        } else {
            attention_block(m, st, pool, l, n_t, pos, seq, n_t, NULL);
        }
        residual_norm(m, st, pool, n_rows, st->blk_out, L->ffn_norm);
        if (hp->n_expert > 0) moe_ffn(m, st, pool, l, n_rows, row_entry);
        else dense_ffn(m, st, pool, L, n_rows);
        if (!last) residual_norm(m, st, pool, n_rows, st->blk_out, m->layers[l + 1].attn_norm);
    }
    /* rows 0..n_want-1 are now the wanted entries, in order */
    for (size_t i = 0; i < (size_t)n_rows * hp->n_embd; i++) st->x[i] += st->blk_out[i];
    int n_out = 0;
    for (int r = 0; r < n_rows; r++) {
        if (!compact && !want[r]) continue;
        rms_norm(st->xb + (size_t)n_out * hp->n_embd, st->x + (size_t)r * hp->n_embd, m->output_norm, hp->n_embd,
                 hp->rms_eps);
        n_out++;
    }
    if (n_out > 0) matmul(pool, &m->output, st->xb, n_out, logits, st->scratch);
}
