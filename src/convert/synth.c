/* kumo synth: random-weight models with the exact tensor shapes of real ones, for benchmarks (speed
 * does not depend on weight values, and real weights cannot be downloaded on every machine).
 * Weights ~ N(0, 1/fan_in), norms 1; the tokenizer is copied from a vocab GGUF and padded with
 * [PADn] tokens to the model's vocabulary size, as Hugging Face conversions do. The random stream of
 * each row depends only on (seed, tensor, row), so the file is the same whatever the thread count. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/convert.h"
#include "format/gguf.h"
#include "tensor/threadpool.h"
#include "util/err.h"
#include "util/splitmix.h"

typedef struct synth_shape {
    const char *name, *arch;
    int n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_vocab; /* n_vocab 0: the vocab's size */
    bool tied, qk_norm;
    int n_expert, n_expert_used, n_ff_exp;
    float rope_base, rms_eps;
    int n_ctx;
} synth_shape;

static const synth_shape SHAPES[] = {
    /* Llama-3.2-1B */
    {"llama-1b", "llama", 2048, 16, 32, 8, 64, 8192, 128256, true, false, 0, 0, 0, 500000.0f, 1e-5f, 131072},
    /* Qwen3-0.6B */
    {"qwen3-0.6b", "qwen3", 1024, 28, 16, 8, 128, 3072, 151936, true, true, 0, 0, 0, 1000000.0f, 1e-6f, 40960},
    /* Qwen3-MoE scaled down */
    {"qwen3moe-mini", "qwen3moe", 1024, 12, 16, 4, 128, 0, 151936, false, true, 64, 8, 512, 1000000.0f, 1e-6f, 40960},
    /* small shapes for tests: tiny-llama pads any vocab of <= 1024 tokens to 1024 (exercising the
     * [PADn] padding); tiny-qwen3moe takes the vocab size as it is */
    {"tiny-llama", "llama", 256, 2, 4, 2, 64, 512, 1024, false, false, 0, 0, 0, 10000.0f, 1e-5f, 512},
    {"tiny-qwen3moe", "qwen3moe", 256, 2, 4, 2, 128, 0, 0, false, true, 8, 2, 256, 1000000.0f, 1e-6f, 512},
};
#define N_SHAPES (sizeof SHAPES / sizeof SHAPES[0])

const char *kumo_synth_shapes(void) { return "llama-1b, qwen3-0.6b, qwen3moe-mini, tiny-llama, tiny-qwen3moe"; }

struct fill_job {
    float *dst;
    int64_t n_rows, n_per_row;
    float std;
    uint64_t seed;
};

/* Box–Muller over a splitmix64 stream seeded per row. */
static void fill_worker(void *arg, int ith, int nth) {
    struct fill_job *j = arg;
    long r0, r1;
    thread_pool_split(j->n_rows, ith, nth, &r0, &r1);
    for (long r = r0; r < r1; r++) {
        uint64_t st = j->seed ^ (0xd1b54a32d192ed03ULL * (uint64_t)(r + 1));
        float *row = j->dst + (size_t)r * j->n_per_row;
        for (int64_t i = 0; i < j->n_per_row; i += 2) {
            double u1 = ((splitmix64(&st) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
            double u2 = (splitmix64(&st) >> 11) * (1.0 / 9007199254740992.0);
            double rad = sqrt(-2.0 * log(u1)) * j->std;
            row[i] = (float)(rad * cos(2.0 * M_PI * u2));
            if (i + 1 < j->n_per_row) row[i + 1] = (float)(rad * sin(2.0 * M_PI * u2));
        }
    }
}

typedef struct synth_ctx {
    gguf_writer *w;
    thread_pool *pool;
    quant_mix_state mix;
    const kumo_synth_params *p;
    void **bufs;
    int n_bufs, cap_bufs, n_total, n_done;
    kumo_tool_report rep;
} synth_ctx;

/* Takes ownership of b until the file is written (the writer references tensor data). */
static void *adopt(synth_ctx *s, void *b) {
    if (!b) return NULL;
    if (s->n_bufs == s->cap_bufs) {
        int cap = s->cap_bufs ? s->cap_bufs * 2 : 64;
        void **nb = realloc(s->bufs, (size_t)cap * sizeof *nb);
        if (!nb) {
            free(b);
            return NULL;
        }
        s->bufs = nb;
        s->cap_bufs = cap;
    }
    s->bufs[s->n_bufs++] = b;
    return b;
}

/* One tensor: ne = {fan_in, rows, experts}; random (std 1/sqrt(fan_in)) or all ones (norms). */
static int add_tensor(synth_ctx *s, const char *name, int64_t ne0, int64_t ne1, int64_t ne2, bool ones,
                      kumo_error *err) {
    int64_t ne[4] = {ne0, ne1, ne2, 1};
    uint32_t n_dims = ne2 > 1 ? 3 : ne1 > 1 ? 2 : 1;
    int64_t n_rows = ne1 * ne2;
    uint32_t type = quant_mix_wants(name, n_dims) ? quant_mix_type(&s->mix, name, ne0) : GGML_TYPE_F32;
    if (s->p->progress) s->p->progress(s->p->progress_ud, s->n_done, s->n_total, name, "f32", ggml_type_name(type));
    s->n_done++;
    float *f = malloc((size_t)n_rows * ne0 * sizeof(float));
    if (!f) return kumo_err(err, KUMO_E_NOMEM, "out of memory generating %s", name);
    if (ones) {
        for (int64_t i = 0; i < n_rows * ne0; i++) f[i] = 1.0f;
    } else {
        uint64_t h = s->p->seed;
        for (const char *c = name; *c; c++) h = (h ^ (uint8_t)*c) * 0x100000001b3ULL;
        struct fill_job j = {.dst = f, .n_rows = n_rows, .n_per_row = ne0, .std = 1.0f / sqrtf((float)ne0), .seed = h};
        thread_pool_run(s->pool, fill_worker, &j);
    }
    size_t size = ggml_row_bytes(type, ne0) * (size_t)n_rows;
    void *data;
    if (type != GGML_TYPE_F32) {
        data = adopt(s, malloc(size));
        int rc = data ? convert_tensor(s->pool, GGML_TYPE_F32, f, type, data, n_rows, ne0, err)
                      : kumo_err(err, KUMO_E_NOMEM, "out of memory");
        free(f);
        if (rc) return rc;
    } else if (!(data = adopt(s, f))) {
        return kumo_err(err, KUMO_E_NOMEM, "out of memory");
    }
    s->rep.n_converted++;
    s->rep.out_bytes += size;
    return gguf_writer_add_tensor(s->w, name, type, n_dims, ne, data, size, err);
}

/* Copies tokenizer.* keys of the vocab, padding the token arrays to n_vocab. */
static int copy_tokenizer(synth_ctx *s, const gguf_ctx *v, int n_vocab, kumo_error *err) {
    const gguf_value *toks = gguf_get_arr(v, "tokenizer.ggml.tokens");
    if (!toks || toks->v.arr.elem_type != GGUF_TYPE_STRING)
        return kumo_err(err, KUMO_E_FORMAT, "vocab file has no tokenizer.ggml.tokens");
    int64_t n_have = (int64_t)toks->v.arr.n;
    if (n_have > n_vocab)
        return kumo_err(err, KUMO_E_INVALID, "vocab has %lld tokens, more than the shape's %d", (long long)n_have,
                        n_vocab);
    for (int64_t i = 0; i < gguf_kv_count(v); i++) {
        const char *key = gguf_kv_key(v, i);
        if (strncmp(key, "tokenizer.", 10) != 0) continue;
        const gguf_value *val = gguf_kv_value(v, i);
        bool pad = val->type == GGUF_TYPE_ARRAY && (int64_t)val->v.arr.n == n_have && n_have < n_vocab &&
                   (!strcmp(key, "tokenizer.ggml.tokens") || !strcmp(key, "tokenizer.ggml.scores") ||
                    !strcmp(key, "tokenizer.ggml.token_type"));
        if (!pad) {
            int rc = gguf_writer_set(s->w, key, val, err);
            if (rc) return rc;
            continue;
        }
        gguf_value nv = *val;
        nv.v.arr.n = (uint64_t)n_vocab;
        int rc = KUMO_OK;
        if (val->v.arr.elem_type == GGUF_TYPE_STRING) {
            gguf_str *strs = calloc((size_t)n_vocab, sizeof *strs);
            char *names = malloc((size_t)(n_vocab - n_have) * 24);
            if (!strs || !names) rc = kumo_err(err, KUMO_E_NOMEM, "out of memory");
            for (int64_t t = 0; !rc && t < n_vocab; t++) {
                if (t < n_have) {
                    strs[t] = val->v.arr.strs[t];
                } else {
                    char *nm = names + (t - n_have) * 24;
                    int len = snprintf(nm, 24, "[PAD%lld]", (long long)t);
                    strs[t].data = nm;
                    strs[t].len = (uint64_t)len;
                }
            }
            nv.v.arr.strs = strs;
            if (!rc) rc = gguf_writer_set(s->w, key, &nv, err);
            free(strs);
            free(names);
        } else {
            size_t es = gguf_type_size(val->v.arr.elem_type);
            uint8_t *raw = calloc((size_t)n_vocab, es);
            if (!raw) return kumo_err(err, KUMO_E_NOMEM, "out of memory");
            memcpy(raw, val->v.arr.raw, (size_t)n_have * es);
            if (!strcmp(key, "tokenizer.ggml.token_type"))
                for (int64_t t = n_have; t < n_vocab; t++) {
                    int32_t unused = 5; /* UNUSED */
                    memcpy(raw + (size_t)t * es, &unused, es < 4 ? es : 4);
                }
            nv.v.arr.raw = raw;
            rc = gguf_writer_set(s->w, key, &nv, err);
            free(raw);
        }
        if (rc) return rc;
    }
    return KUMO_OK;
}

static void set_arch_u32(gguf_writer *w, const char *arch, const char *suffix, uint32_t v) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    gguf_writer_set_u32(w, key, v);
}

static void set_arch_f32(gguf_writer *w, const char *arch, const char *suffix, float v) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    gguf_writer_set_f32(w, key, v);
}

int kumo_synth_file(const char *out, const kumo_synth_params *p, kumo_tool_report *report, kumo_error *err) {
    const synth_shape *sh = NULL;
    for (size_t i = 0; i < N_SHAPES && p->shape; i++)
        if (!strcmp(SHAPES[i].name, p->shape)) sh = &SHAPES[i];
    if (!sh) return kumo_err(err, KUMO_E_INVALID, "unknown shape '%s' (known: %s)", p->shape ? p->shape : "",
                             kumo_synth_shapes());
    const quant_ftype *ft = quant_ftype_find(p->type ? p->type : "F32");
    if (!ft) return kumo_err(err, KUMO_E_INVALID, "unknown type '%s' (supported: %s)", p->type, quant_ftype_names());
    if (!p->vocab_path) return kumo_err(err, KUMO_E_INVALID, "a vocab GGUF is required");
    gguf_ctx *v = gguf_open(p->vocab_path, err);
    if (!v) return err ? err->code : KUMO_E_FORMAT;
    const gguf_value *toks = gguf_get_arr(v, "tokenizer.ggml.tokens");
    int n_vocab = sh->n_vocab ? sh->n_vocab : (toks ? (int)toks->v.arr.n : 0);
    synth_ctx s = {.p = p};
    s.w = gguf_writer_new();
    s.pool = thread_pool_new(p->n_threads > 0 ? p->n_threads : kumo_cpu_count());
    int rc = KUMO_OK;
    if (!s.w || !s.pool) {
        rc = kumo_err(err, KUMO_E_NOMEM, "out of memory");
        goto out;
    }
    const char *a = sh->arch;
    int d = sh->n_embd, hd = sh->head_dim, L = sh->n_layer;
    gguf_writer_set_str(s.w, "general.architecture", a);
    char name[128];
    snprintf(name, sizeof name, "kumo synth %s", sh->name);
    gguf_writer_set_str(s.w, "general.name", name);
    gguf_writer_set_u32(s.w, "general.file_type", ft->file_type);
    set_arch_u32(s.w, a, "context_length", (uint32_t)sh->n_ctx);
    set_arch_u32(s.w, a, "embedding_length", (uint32_t)d);
    set_arch_u32(s.w, a, "block_count", (uint32_t)L);
    if (sh->n_ff) set_arch_u32(s.w, a, "feed_forward_length", (uint32_t)sh->n_ff);
    set_arch_u32(s.w, a, "attention.head_count", (uint32_t)sh->n_head);
    set_arch_u32(s.w, a, "attention.head_count_kv", (uint32_t)sh->n_head_kv);
    set_arch_u32(s.w, a, "attention.key_length", (uint32_t)hd);
    set_arch_u32(s.w, a, "attention.value_length", (uint32_t)hd);
    set_arch_u32(s.w, a, "rope.dimension_count", (uint32_t)hd);
    set_arch_f32(s.w, a, "rope.freq_base", sh->rope_base);
    set_arch_f32(s.w, a, "attention.layer_norm_rms_epsilon", sh->rms_eps);
    set_arch_u32(s.w, a, "vocab_size", (uint32_t)n_vocab);
    if (sh->n_expert) {
        set_arch_u32(s.w, a, "expert_count", (uint32_t)sh->n_expert);
        set_arch_u32(s.w, a, "expert_used_count", (uint32_t)sh->n_expert_used);
        set_arch_u32(s.w, a, "expert_feed_forward_length", (uint32_t)sh->n_ff_exp);
    }
    if ((rc = copy_tokenizer(&s, v, n_vocab, err))) goto out;
    s.mix = (quant_mix_state){.ftype = ft, .n_layer = L, .n_expert = sh->n_expert, .n_gqa = sh->n_head / sh->n_head_kv,
                              .has_output = !sh->tied, .n_attn_v = L, .n_ffn_down = L};
    s.n_total = 2 + !sh->tied + L * (sh->qk_norm ? 11 : 9) + (sh->n_expert ? L : 0);
    int64_t qd = (int64_t)sh->n_head * hd, kd = (int64_t)sh->n_head_kv * hd;
    if ((rc = add_tensor(&s, "token_embd.weight", d, n_vocab, 1, false, err))) goto out;
    for (int l = 0; l < L && !rc; l++) {
        char n[96];
#define T(fmt, ...) (snprintf(n, sizeof n, "blk.%d." fmt, l), add_tensor(&s, n, __VA_ARGS__, err))
        if ((rc = T("attn_norm.weight", d, 1, 1, true))) break;
        if ((rc = T("attn_q.weight", d, qd, 1, false))) break;
        if ((rc = T("attn_k.weight", d, kd, 1, false))) break;
        if ((rc = T("attn_v.weight", d, kd, 1, false))) break;
        if ((rc = T("attn_output.weight", qd, d, 1, false))) break;
        if (sh->qk_norm) {
            if ((rc = T("attn_q_norm.weight", hd, 1, 1, true))) break;
            if ((rc = T("attn_k_norm.weight", hd, 1, 1, true))) break;
        }
        if ((rc = T("ffn_norm.weight", d, 1, 1, true))) break;
        if (sh->n_expert) {
            if ((rc = T("ffn_gate_inp.weight", d, sh->n_expert, 1, false))) break;
            if ((rc = T("ffn_gate_exps.weight", d, sh->n_ff_exp, sh->n_expert, false))) break;
            if ((rc = T("ffn_up_exps.weight", d, sh->n_ff_exp, sh->n_expert, false))) break;
            if ((rc = T("ffn_down_exps.weight", sh->n_ff_exp, d, sh->n_expert, false))) break;
        } else {
            if ((rc = T("ffn_gate.weight", d, sh->n_ff, 1, false))) break;
            if ((rc = T("ffn_up.weight", d, sh->n_ff, 1, false))) break;
            if ((rc = T("ffn_down.weight", sh->n_ff, d, 1, false))) break;
        }
#undef T
    }
    if (rc) goto out;
    if ((rc = add_tensor(&s, "output_norm.weight", d, 1, 1, true, err))) goto out;
    if (!sh->tied && (rc = add_tensor(&s, "output.weight", d, n_vocab, 1, false, err))) goto out;
    s.rep.n_tensors = s.n_done;
    rc = gguf_writer_write(s.w, out, err);
out:
    if (report) *report = s.rep;
    for (int i = 0; i < s.n_bufs; i++) free(s.bufs[i]);
    free(s.bufs);
    thread_pool_free(s.pool);
    gguf_writer_free(s.w);
    gguf_close(v);
    return rc;
}
