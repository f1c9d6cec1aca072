/* The public model API around a loaded model: info for `kumo info`, and the tokenizer. */
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "tensor/quant.h"
#include "tokenizer/utf8_stream.h"

void kumo_model_get_info(const kumo_model *m, kumo_model_info *info) {
    const model_hparams *hp = &m->hp;
    memset(info, 0, sizeof *info);
    info->arch = m->arch_name;
    info->name = m->name;
    info->n_vocab = hp->n_vocab;
    info->n_ctx_train = hp->n_ctx_train;
    info->n_embd = hp->n_embd;
    info->n_ff = hp->n_ff;
    info->n_layer = hp->n_layer;
    info->n_head = hp->n_head;
    info->n_head_kv = hp->n_head_kv;
    info->head_dim_k = hp->head_dim_k;
    info->head_dim_v = hp->head_dim_v;
    info->n_expert = hp->n_expert;
    info->n_expert_used = hp->n_expert_used;
    info->n_ff_expert = hp->n_ff_exp;
    info->rope_freq_base = hp->rope_base;
    info->rope_freq_scale = hp->rope_freq_scale;
    info->rms_eps = hp->rms_eps;
    info->rope_style = m->arch && m->arch->rope_neox ? "neox" : "norm";
    info->tied_output = m->tied_output;
    info->tokenizer = vocab_model_name(m->vocab);
    info->file_size = gguf_file_size(m->gguf);
    info->n_params = m->n_params;
    info->n_params_active = m->n_params_active;
    info->n_tensors = (int)gguf_tensor_count(m->gguf);
    info->weight_bytes_per_token = m->bytes_per_token;
    for (int64_t i = 0; i < gguf_tensor_count(m->gguf); i++) info->weight_bytes += gguf_tensor_at(m->gguf, i)->size;
}

void kumo_model_foreach_type(const kumo_model *m, void (*fn)(const char *, int, uint64_t, void *), void *ud) {
    int counts[GGML_TYPE_COUNT] = {0};
    uint64_t bytes[GGML_TYPE_COUNT] = {0};
    for (int64_t i = 0; i < gguf_tensor_count(m->gguf); i++) {
        const gguf_tensor *t = gguf_tensor_at(m->gguf, i);
        if (t->type < GGML_TYPE_COUNT) {
            counts[t->type]++;
            bytes[t->type] += t->size;
        }
    }
    for (int t = 0; t < GGML_TYPE_COUNT; t++)
        if (counts[t]) fn(ggml_type_name((uint32_t)t), counts[t], bytes[t], ud);
}

const char *kumo_isa(void) { return kumo_cpu_isa(); }

int kumo_n_vocab(const kumo_model *m) { return m->hp.n_vocab; }
kumo_token kumo_token_bos(const kumo_model *m) { return vocab_bos(m->vocab); }
kumo_token kumo_token_eos(const kumo_model *m) { return vocab_eos(m->vocab); }
bool kumo_token_is_eog(const kumo_model *m, kumo_token t) { return vocab_is_eog(m->vocab, t); }
bool kumo_add_bos(const kumo_model *m) { return vocab_add_bos(m->vocab); }

int kumo_tokenize(const kumo_model *m, const char *text, size_t len, kumo_token *out, int cap, bool add_special,
                  bool parse_special) {
    return vocab_tokenize(m->vocab, text, len, out, cap, add_special, parse_special);
}

int kumo_token_to_piece(const kumo_model *m, kumo_token t, char *buf, int cap, bool special) {
    return vocab_token_to_piece(m->vocab, t, buf, cap, special);
}

struct kumo_text_stream {
    const kumo_model *model;
    utf8_stream utf8;
};

kumo_text_stream *kumo_text_stream_new(const kumo_model *m) {
    kumo_text_stream *s = calloc(1, sizeof *s);
    if (s) {
        s->model = m;
        utf8_stream_init(&s->utf8);
    }
    return s;
}

void kumo_text_stream_free(kumo_text_stream *s) { free(s); }

int kumo_text_stream_push(kumo_text_stream *s, kumo_token t, char *out, int cap) {
    char piece[256];
    int n = vocab_token_to_piece(s->model->vocab, t, piece, sizeof piece, false);
    if (n < 0 && n != INT32_MIN && -n <= 4096) { /* a long piece: take it through the heap */
        char *big = malloc((size_t)-n);
        if (!big) return -1;
        int m = vocab_token_to_piece(s->model->vocab, t, big, -n, false);
        int r = m >= 0 && UTF8_STREAM_OUT_MAX(m) <= (size_t)cap ? (int)utf8_stream_push(&s->utf8, big, (size_t)m, out) : -1;
        free(big);
        return r;
    }
    if (n < 0 || UTF8_STREAM_OUT_MAX(n) > (size_t)cap) return -1;
    return (int)utf8_stream_push(&s->utf8, piece, (size_t)n, out);
}

int kumo_text_stream_flush(kumo_text_stream *s, char *out, int cap) {
    if (cap < 3) return -1;
    return (int)utf8_stream_flush(&s->utf8, out);
}
