/* The public chat-template API: a model's template (or a built-in one) bound to its BOS/EOS texts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_template.h"
#include "model/model.h"
#include "util/err.h"

struct kumo_chat_template {
    chat_template *tmpl;
    char *bos, *eos;
    bool strip_bos, strip_eos;
};

static char *token_text(const kumo_model *m, kumo_token t) {
    const char *s = t >= 0 ? vocab_token_text(m->vocab, t) : NULL;
    return strdup(s ? s : "");
}

kumo_chat_template *kumo_chat_template_new(const kumo_model *m, const char *name, kumo_error *err) {
    const char *src = NULL;
    size_t len = 0;
    gguf_str s;
    if (name) {
        src = chat_template_builtin(name);
        if (!src) {
            kumo_err(err, KUMO_E_INVALID, "unknown chat template '%s' (built-in: llama3, chatml, mistral, deepseek3)", name);
            return NULL;
        }
        len = strlen(src);
    } else if (gguf_get_str(m->gguf, "tokenizer.chat_template", &s, NULL)) {
        src = s.data;
        len = s.len;
    } else {
        fprintf(stderr, "kumo: warning: %s has no tokenizer.chat_template; using ChatML\n", m->path);
        src = chat_template_builtin("chatml");
        len = strlen(src);
    }
    kumo_chat_template *t = calloc(1, sizeof *t);
    if (!t) {
        kumo_err(err, KUMO_E_NOMEM, "out of memory");
        return NULL;
    }
    t->tmpl = chat_template_parse(src, len, err);
    t->bos = token_text(m, vocab_bos(m->vocab));
    t->eos = token_text(m, vocab_eos(m->vocab));
    t->strip_bos = vocab_add_bos(m->vocab);
    t->strip_eos = vocab_add_eos(m->vocab);
    if (!t->tmpl || !t->bos || !t->eos) {
        if (t->tmpl) kumo_err(err, KUMO_E_NOMEM, "out of memory");
        kumo_chat_template_free(t);
        return NULL;
    }
    return t;
}

void kumo_chat_template_free(kumo_chat_template *t) {
    if (!t) return;
    chat_template_free(t->tmpl);
    free(t->bos);
    free(t->eos);
    free(t);
}

int kumo_chat_template_apply(const kumo_chat_template *t, const kumo_chat_message *msgs, size_t n,
                             bool add_generation_prompt, char **out, kumo_error *err) {
    cJSON *arr = chat_messages_to_json(msgs, n);
    if (!arr) return kumo_err(err, KUMO_E_NOMEM, "out of memory");
    chat_render_opts o;
    chat_render_opts_init(&o);
    o.add_generation_prompt = add_generation_prompt;
    o.bos_token = t->bos;
    o.eos_token = t->eos;
    o.strip_bos = t->strip_bos;
    o.strip_eos = t->strip_eos;
    int rc = chat_template_apply(t->tmpl, arr, &o, out, NULL, err);
    cJSON_Delete(arr);
    return rc;
}
