/* Loading a model: open the GGUF, read hyper-parameters, build the tokenizer, bind every weight by
 * name with its expected shape. Weights stay in the file mapping; only small 1-D vectors (norms,
 * biases) are converted to owned float arrays. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "model/pack.h"
#include "tensor/quant.h"
#include "util/err.h"

/* Limits that keep a hostile file's hyper-parameters from turning into absurd allocations. */
#define MAX_LAYERS 4096
#define MAX_DIM (1 << 20)
#define MAX_HEADS 4096
#define MAX_EXPERTS 4096

static char *dup_str(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

/* "<arch>.<suffix>" in the caller's buffer. */
typedef struct { char s[256]; } key_buf;
static const char *akey_in(key_buf *b, const kumo_model *m, const char *suffix) {
    snprintf(b->s, sizeof b->s, "%s.%s", m->arch_name, suffix);
    return b->s;
}
#define akey(m, suffix) akey_in(&(key_buf){{0}}, (m), (suffix))

static int get_dim(const kumo_model *m, const char *suffix, bool required, int def, int lo, int hi,
                   int *out, kumo_error *err) {
    const char *key = akey(m, suffix);
    uint32_t v;
    kumo_error e2 = {0};
    if (!gguf_get_u32(m->gguf, key, &v, &e2)) {
        if (e2.code) return kumo_err(err, KUMO_E_FORMAT, "%s: %s", m->path, e2.msg);
        if (required) return kumo_err(err, KUMO_E_FORMAT, "%s: missing metadata key %s", m->path, key);
        *out = def;
        return KUMO_OK;
    }
    if ((int64_t)v < lo || (int64_t)v > hi)
        return kumo_err(err, KUMO_E_FORMAT, "%s: %s = %" PRIu32 " is out of range [%d, %d]", m->path, key, v,
                        lo, hi);
    *out = (int)v;
    return KUMO_OK;
}

static int get_float(const kumo_model *m, const char *suffix, float def, float *out, kumo_error *err) {
    kumo_error e2 = {0};
    if (!gguf_get_f32(m->gguf, akey(m, suffix), out, &e2)) {
        if (e2.code) return kumo_err(err, KUMO_E_FORMAT, "%s: %s", m->path, e2.msg);
        *out = def;
    }
    return KUMO_OK;
}

static void shape_str(char *buf, size_t n, const int64_t *ne, int nd) {
    size_t o = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < nd && o < n; i++) o += (size_t)snprintf(buf + o, n - o, "%s%" PRId64, i ? ", " : "", ne[i]);
    if (o < n) snprintf(buf + o, n - o, "]");
}

/* Looks a tensor up and checks its shape against {ne0, ne1, ne2} (trailing 1s ignored).
 * Missing and !required → *out = NULL and OK. */
static int find_tensor(const kumo_model *m, const char *name, int64_t ne0, int64_t ne1, int64_t ne2, bool required,
                       const gguf_tensor **out, kumo_error *err) {
    const gguf_tensor *t = gguf_find_tensor(m->gguf, name);
    *out = NULL;
    if (!t) {
        if (required) return kumo_err(err, KUMO_E_FORMAT, "%s: missing tensor %s", m->path, name);
        return KUMO_OK;
    }
    int64_t want[4] = {ne0, ne1, ne2, 1};
    int want_nd = ne2 > 1 ? 3 : (ne1 > 1 ? 2 : 1);
    bool ok = true;
    for (int i = 0; i < 4; i++) ok = ok && t->ne[i] == want[i];
    if (!ok) {
        char a[96], b[96];
        shape_str(a, sizeof a, want, want_nd);
        shape_str(b, sizeof b, t->ne, (int)t->n_dims);
        return kumo_err(err, KUMO_E_FORMAT, "%s: tensor %s has shape %s, expected %s", m->path, name, b, a);
    }
    *out = t;
    return KUMO_OK;
}

static int check_compute_type(const kumo_model *m, const gguf_tensor *t, kumo_error *err) {
    const kumo_type_traits *tr = kumo_get_type_traits(t->type);
    const char *tn = ggml_type_name(t->type);
    if (!tr || !tr->vec_dot || !tr->to_float)
        return kumo_err(err, KUMO_E_UNSUPPORTED, "%s: tensor %s has type %s, which kumo does not support",
                        m->path, t->name, tn ? tn : "?");
    if (t->ne[0] % ggml_type_block_size(tr->vec_dot_type) != 0)
        return kumo_err(err, KUMO_E_UNSUPPORTED,
                        "%s: tensor %s: row length %" PRId64 " is not a multiple of %d needed by type %s",
                        m->path, t->name, t->ne[0], ggml_type_block_size(tr->vec_dot_type), tn);
    return KUMO_OK;
}

static int bind_matrix(kumo_model *m, const char *name, int64_t n_in, int64_t n_out, int64_t n_exp, bool required,
                       kumo_matrix *mat, size_t *expert_stride, kumo_error *err) {
    const gguf_tensor *t;
    int rc = find_tensor(m, name, n_in, n_out, n_exp, required, &t, err);
    if (rc || !t) {
        memset(mat, 0, sizeof *mat);
        return rc;
    }
    if ((rc = check_compute_type(m, t, err))) return rc;
    mat->type = t->type;
    mat->n_in = n_in;
    mat->n_out = n_out;
    mat->row_bytes = ggml_row_bytes(t->type, n_in);
    mat->data = t->data;
    if (expert_stride) *expert_stride = mat->row_bytes * (size_t)n_out;
    /* a generated token reads every matrix once, but only n_expert_used of the experts; the embedding
     * is a row lookup (its bytes count when it doubles as the output matrix, bound later) */
    if (strcmp(name, "token_embd.weight") != 0)
        m->bytes_per_token += n_exp > 1 ? t->size / (uint64_t)n_exp * (uint64_t)m->hp.n_expert_used : t->size;
    uint64_t params = (uint64_t)n_in * (uint64_t)n_out * (uint64_t)(n_exp > 1 ? n_exp : 1);
    m->n_params += params;
    return KUMO_OK;
}

/* 1-D vector of n floats converted from any supported type into an owned array. */
static int bind_vector(kumo_model *m, const char *name, int64_t n, bool required, float **out, kumo_error *err) {
    const gguf_tensor *t;
    int rc = find_tensor(m, name, n, 1, 1, required, &t, err);
    *out = NULL;
    if (rc || !t) return rc;
    const kumo_type_traits *tr = kumo_get_type_traits(t->type);
    if (!tr || !tr->to_float || n % tr->block_size)
        return kumo_err(err, KUMO_E_UNSUPPORTED, "%s: tensor %s has unsupported type %s", m->path, name,
                        ggml_type_name(t->type) ? ggml_type_name(t->type) : "?");
    *out = malloc((size_t)n * sizeof(float));
    if (!*out) return kumo_err(err, KUMO_E_NOMEM, "out of memory loading %s", name);
    tr->to_float(t->data, *out, n);
    m->n_params += (uint64_t)n;
    return KUMO_OK;
}

static int load_hparams(kumo_model *m, kumo_error *err) {
    model_hparams *hp = &m->hp;
    int rc;
    if ((rc = get_dim(m, "embedding_length", true, 0, 1, MAX_DIM, &hp->n_embd, err))) return rc;
    if ((rc = get_dim(m, "block_count", true, 0, 1, MAX_LAYERS, &hp->n_layer, err))) return rc;
    if ((rc = get_dim(m, "attention.head_count", true, 0, 1, MAX_HEADS, &hp->n_head, err))) return rc;
    if ((rc = get_dim(m, "attention.head_count_kv", false, hp->n_head, 1, MAX_HEADS, &hp->n_head_kv, err)))
        return rc;
    if ((rc = get_dim(m, "context_length", false, 2048, 1, 1 << 24, &hp->n_ctx_train, err))) return rc;
    if ((rc = get_dim(m, "expert_count", false, 0, 0, MAX_EXPERTS, &hp->n_expert, err))) return rc;
    if ((rc = get_dim(m, "expert_used_count", false, 0, 0, MAX_EXPERTS, &hp->n_expert_used, err))) return rc;
    bool dense_ff_required = hp->n_expert == 0;
    if ((rc = get_dim(m, "feed_forward_length", dense_ff_required, 0, 0, MAX_DIM, &hp->n_ff, err))) return rc;
    if ((rc = get_dim(m, "expert_feed_forward_length", false, hp->n_ff, 0, MAX_DIM, &hp->n_ff_exp, err)))
        return rc;
    if (hp->n_embd % hp->n_head)
        return kumo_err(err, KUMO_E_FORMAT, "%s: embedding_length %d is not a multiple of head_count %d", m->path,
                        hp->n_embd, hp->n_head);
    if (hp->n_head % hp->n_head_kv)
        return kumo_err(err, KUMO_E_FORMAT, "%s: head_count %d is not a multiple of head_count_kv %d", m->path,
                        hp->n_head, hp->n_head_kv);
    int hd = hp->n_embd / hp->n_head;
    if ((rc = get_dim(m, "attention.key_length", false, hd, 1, MAX_DIM, &hp->head_dim_k, err))) return rc;
    if ((rc = get_dim(m, "attention.value_length", false, hd, 1, MAX_DIM, &hp->head_dim_v, err))) return rc;
    if ((rc = get_dim(m, "rope.dimension_count", false, hp->head_dim_k, 2, hp->head_dim_k, &hp->n_rot, err)))
        return rc;
    if (hp->n_rot % 2) return kumo_err(err, KUMO_E_FORMAT, "%s: rope.dimension_count %d is odd", m->path, hp->n_rot);
    if ((rc = get_float(m, "attention.layer_norm_rms_epsilon", 1e-5f, &hp->rms_eps, err))) return rc;
    if ((rc = get_float(m, "rope.freq_base", 10000.0f, &hp->rope_base, err))) return rc;
    float factor = 1.0f;
    gguf_str stype;
    if (gguf_get_str(m->gguf, akey(m, "rope.scaling.type"), &stype, NULL)) {
        if (stype.len == 6 && memcmp(stype.data, "linear", 6) == 0) {
            if ((rc = get_float(m, "rope.scaling.factor", 1.0f, &factor, err))) return rc;
        } else if (!(stype.len == 4 && memcmp(stype.data, "none", 4) == 0)) {
            return kumo_err(err, KUMO_E_UNSUPPORTED, "%s: rope.scaling.type '%.*s' is not supported yet", m->path,
                            (int)stype.len, stype.data);
        }
    }
    if (!(factor > 0.0f)) return kumo_err(err, KUMO_E_FORMAT, "%s: rope.scaling.factor must be > 0", m->path);
    hp->rope_freq_scale = 1.0f / factor;
    if (!(hp->rms_eps > 0.0f) || !(hp->rope_base > 0.0f))
        return kumo_err(err, KUMO_E_FORMAT, "%s: rms epsilon and rope.freq_base must be > 0", m->path);
    if (hp->n_expert > 0) {
        if (hp->n_expert_used < 1 || hp->n_expert_used > hp->n_expert)
            return kumo_err(err, KUMO_E_FORMAT, "%s: expert_used_count %d must be in [1, expert_count %d]",
                            m->path, hp->n_expert_used, hp->n_expert);
        if (hp->n_ff_exp < 1)
            return kumo_err(err, KUMO_E_FORMAT, "%s: expert feed-forward length missing", m->path);
    } else if (m->arch->moe_required) {
        return kumo_err(err, KUMO_E_FORMAT, "%s: architecture %s needs %s", m->path, m->arch->name,
                        akey(m, "expert_count"));
    } else if (hp->n_ff < 1) {
        return kumo_err(err, KUMO_E_FORMAT, "%s: feed_forward_length must be > 0", m->path);
    }
    return KUMO_OK;
}

static int bind_weights(kumo_model *m, kumo_error *err) {
    model_hparams *hp = &m->hp;
    const gguf_tensor *te = gguf_find_tensor(m->gguf, "token_embd.weight");
    if (!te) return kumo_err(err, KUMO_E_FORMAT, "%s: missing tensor token_embd.weight", m->path);
    if (te->n_dims != 2 || te->ne[0] != hp->n_embd || te->ne[1] < 1 || te->ne[1] > (1 << 24)) {
        char b[96];
        shape_str(b, sizeof b, te->ne, (int)te->n_dims);
        return kumo_err(err, KUMO_E_FORMAT, "%s: tensor token_embd.weight has shape %s, expected [%d, n_vocab]",
                        m->path, b, hp->n_embd);
    }
    hp->n_vocab = (int)te->ne[1];
    if (vocab_n_tokens(m->vocab) > hp->n_vocab)
        return kumo_err(err, KUMO_E_FORMAT, "%s: tokenizer has %d tokens but token_embd.weight only %d rows", m->path,
                        vocab_n_tokens(m->vocab), hp->n_vocab);
    int rc;
    if ((rc = bind_matrix(m, "token_embd.weight", hp->n_embd, hp->n_vocab, 1, true, &m->tok_embd, NULL, err)))
        return rc;
    if ((rc = bind_vector(m, "output_norm.weight", hp->n_embd, true, &m->output_norm, err))) return rc;
    if ((rc = bind_matrix(m, "output.weight", hp->n_embd, hp->n_vocab, 1, false, &m->output, NULL, err))) return rc;
    m->tied_output = m->output.data == NULL;
    if (m->tied_output) {
        m->output = m->tok_embd;
        m->bytes_per_token += (uint64_t)m->tok_embd.row_bytes * (uint64_t)m->tok_embd.n_out;
    }
    if ((rc = bind_vector(m, "rope_freqs.weight", hp->n_rot / 2, false, &m->rope_freq_factors, err))) return rc;

    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return kumo_err(err, KUMO_E_NOMEM, "out of memory");
    int64_t d = hp->n_embd, qd = (int64_t)hp->n_head * hp->head_dim_k, kd = (int64_t)hp->n_head_kv * hp->head_dim_k,
            vd = (int64_t)hp->n_head_kv * hp->head_dim_v, od = (int64_t)hp->n_head * hp->head_dim_v;
    uint64_t expert_params = 0;
    for (int l = 0; l < hp->n_layer; l++) {
        layer_weights *L = &m->layers[l];
        char n[128];
#define NAME(s) (snprintf(n, sizeof n, "blk.%d." s, l), n)
        if ((rc = bind_vector(m, NAME("attn_norm.weight"), d, true, &L->attn_norm, err))) return rc;
        if ((rc = bind_matrix(m, NAME("attn_q.weight"), d, qd, 1, true, &L->wq, NULL, err))) return rc;
        if ((rc = bind_matrix(m, NAME("attn_k.weight"), d, kd, 1, true, &L->wk, NULL, err))) return rc;
        if ((rc = bind_matrix(m, NAME("attn_v.weight"), d, vd, 1, true, &L->wv, NULL, err))) return rc;
        if ((rc = bind_matrix(m, NAME("attn_output.weight"), od, d, 1, true, &L->wo, NULL, err))) return rc;
        bool bias = m->arch->qkv_bias;
        if ((rc = bind_vector(m, NAME("attn_q.bias"), qd, bias, &L->bq, err))) return rc;
        if ((rc = bind_vector(m, NAME("attn_k.bias"), kd, bias, &L->bk, err))) return rc;
        if ((rc = bind_vector(m, NAME("attn_v.bias"), vd, bias, &L->bv, err))) return rc;
        if (m->arch->qk_norm) {
            if ((rc = bind_vector(m, NAME("attn_q_norm.weight"), hp->head_dim_k, true, &L->q_norm, err))) return rc;
            if ((rc = bind_vector(m, NAME("attn_k_norm.weight"), hp->head_dim_k, true, &L->k_norm, err))) return rc;
        }
        if ((rc = bind_vector(m, NAME("ffn_norm.weight"), d, true, &L->ffn_norm, err))) return rc;
        if (hp->n_expert == 0) {
            if ((rc = bind_matrix(m, NAME("ffn_gate.weight"), d, hp->n_ff, 1, true, &L->ffn_gate, NULL, err))) return rc;
            if ((rc = bind_matrix(m, NAME("ffn_up.weight"), d, hp->n_ff, 1, true, &L->ffn_up, NULL, err))) return rc;
            if ((rc = bind_matrix(m, NAME("ffn_down.weight"), hp->n_ff, d, 1, true, &L->ffn_down, NULL, err))) return rc;
        } else {
            int64_t ne = hp->n_expert, f = hp->n_ff_exp;
            if ((rc = bind_matrix(m, NAME("ffn_gate_inp.weight"), d, ne, 1, true, &L->ffn_router, NULL, err))) return rc;
            if ((rc = bind_matrix(m, NAME("ffn_gate_exps.weight"), d, f, ne, true, &L->exp_gate, &L->exp_gate_stride,
                                  err)))
                return rc;
            if ((rc = bind_matrix(m, NAME("ffn_up_exps.weight"), d, f, ne, true, &L->exp_up, &L->exp_up_stride, err)))
                return rc;
            if ((rc = bind_matrix(m, NAME("ffn_down_exps.weight"), f, d, ne, true, &L->exp_down, &L->exp_down_stride,
                                  err)))
                return rc;
            expert_params += (uint64_t)3 * (uint64_t)d * (uint64_t)f * (uint64_t)ne;
        }
#undef NAME
    }
    if (m->tied_output) { /* nothing extra: the output matrix is the embedding */
    }
    /* Active parameters per token: all but the experts not chosen. */
    m->n_params_active = m->n_params;
    if (hp->n_expert > 0)
        m->n_params_active -= expert_params / (uint64_t)hp->n_expert * (uint64_t)(hp->n_expert - hp->n_expert_used);
    return KUMO_OK;
}

kumo_model_params kumo_model_default_params(void) {
    kumo_model_params p = {.vocab_only = false};
    return p;
}

kumo_model *kumo_model_load(const char *path, const kumo_model_params *params, kumo_error *err) {
    kumo_model_params defaults = kumo_model_default_params();
    if (!params) params = &defaults;
    kumo_model *m = calloc(1, sizeof *m);
    if (!m) {
        kumo_err(err, KUMO_E_NOMEM, "out of memory");
        return NULL;
    }
    m->path = dup_str(path, strlen(path));
    m->gguf = gguf_open(path, err);
    if (!m->gguf) goto fail;
    gguf_str s;
    if (!gguf_get_str(m->gguf, "general.architecture", &s, err)) {
        if (!err || !err->code) kumo_err(err, KUMO_E_FORMAT, "%s: missing metadata key general.architecture", path);
        goto fail;
    }
    m->arch_name = dup_str(s.data, s.len);
    m->name = gguf_get_str(m->gguf, "general.name", &s, NULL) ? dup_str(s.data, s.len) : dup_str("", 0);
    m->vocab = vocab_load(m->gguf, err);
    if (!m->vocab) goto fail;
    m->vocab_only = params->vocab_only;
    if (m->vocab_only) {
        m->hp.n_vocab = vocab_n_tokens(m->vocab);
        return m;
    }
    m->arch = arch_find(m->arch_name);
    if (!m->arch) {
        kumo_err(err, KUMO_E_UNSUPPORTED, "%s: architecture '%s' is not supported (supported: llama, qwen2, qwen3, qwen3moe)",
                 path, m->arch_name);
        goto fail;
    }
    if (gguf_tensor_count(m->gguf) == 0) {
        kumo_err(err, KUMO_E_FORMAT, "%s: file has no tensors (a vocab-only file? use it with `kumo tokenize`)", path);
        goto fail;
    }
    if (load_hparams(m, err) || bind_weights(m, err)) goto fail;
    model_pack_weights(m);
    return m;
fail:
    kumo_model_free(m);
    return NULL;
}

void kumo_model_free(kumo_model *m) {
    if (!m) return;
    model_free_packed(m);
    if (m->layers) {
        for (int l = 0; l < m->hp.n_layer; l++) {
            layer_weights *L = &m->layers[l];
            free(L->attn_norm);
            free(L->ffn_norm);
            free(L->q_norm);
            free(L->k_norm);
            free(L->bq);
            free(L->bk);
            free(L->bv);
        }
        free(m->layers);
    }
    free(m->output_norm);
    free(m->rope_freq_factors);
    vocab_free(m->vocab);
    gguf_close(m->gguf);
    free(m->arch_name);
    free(m->name);
    free(m->path);
    free(m);
}
