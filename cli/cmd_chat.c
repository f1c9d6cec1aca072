/* kumo chat: an interactive, multi-turn conversation using the model's chat template. Each turn the
 * whole conversation is rendered again, and only the tokens after the part the KV cache already
 * holds are evaluated. Ctrl-D (end of input) ends the chat. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static int run(int argc, char **argv);

const cli_command CMD_CHAT = {
    "chat", run, "chat with a model interactively (multi-turn, the model's chat template)",
    "usage: kumo chat -m MODEL [options]\n"
    "  Reads one user message per line from stdin and streams the reply; Ctrl-D ends the chat.\n"
    "  The conversation is rendered with the model's own chat template (tokenizer.chat_template).\n\n"
    "  -m, --model FILE         GGUF model file (required)\n"
    "      --chat-template NAME use a built-in template instead: llama3, chatml, mistral, deepseek3\n"
    "      --system TEXT        a system message at the start of the conversation\n"
    "  -n, --n-predict N        at most N tokens per reply (default 512)\n"
    "  -c, --ctx-size N         context size in tokens (default: the model's, at most 4096)\n"
    "      --temp T, --top-k K, --top-p P, --min-p P, --repeat-penalty R, --repeat-last-n N, -s/--seed S\n"
    "                           sampling, as `kumo run`\n"
    "  -t, --threads N          threads (default: all cores)\n"
    "      --kv-type T          KV cache type: f16 (default; half the memory of f32) or f32\n",
};

typedef struct {
    kumo_chat_message *v;
    int n, cap;
} message_list;

static bool push_message(message_list *l, const char *role, const char *content) {
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 8;
        kumo_chat_message *nv = realloc(l->v, (size_t)cap * sizeof *nv);
        if (!nv) return false;
        l->v = nv;
        l->cap = cap;
    }
    char *c = strdup(content), *r = strdup(role);
    if (!c || !r) {
        free(c);
        free(r);
        return false;
    }
    l->v[l->n].role = r;
    l->v[l->n].content = c;
    l->n++;
    return true;
}

static void free_messages(message_list *l) {
    for (int i = 0; i < l->n; i++) {
        free((char *)l->v[i].role);
        free((char *)l->v[i].content);
    }
    free(l->v);
}

static int run(int argc, char **argv) {
    const char *model_path = NULL, *tmpl_name = NULL, *system = NULL;
    int n_predict = 512, n_ctx = 0, threads = 0;
    kumo_kv_type kv_type = KUMO_KV_F16;
    kumo_sampler_params sp = kumo_sampler_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool ok = true;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) ok = cli_take_str(argc, argv, &i, &model_path);
        else if (!strcmp(a, "--chat-template")) ok = cli_take_str(argc, argv, &i, &tmpl_name);
        else if (!strcmp(a, "--system")) ok = cli_take_str(argc, argv, &i, &system);
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) ok = cli_take_int(argc, argv, &i, &n_predict);
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) ok = cli_take_int(argc, argv, &i, &n_ctx);
        else if (cli_take_sampler_option(argc, argv, &i, &sp, &ok)) {}
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) ok = cli_take_int(argc, argv, &i, &threads);
        else if (!strcmp(a, "--kv-type")) ok = cli_take_kv_type(argc, argv, &i, &kv_type);
        else return cli_usage_error(&CMD_CHAT, "unknown option '%s'", a);
        if (!ok) return 2;
    }
    if (!model_path) return cli_usage_error(&CMD_CHAT, "a model is required (-m FILE)");
    kumo_model *m = cli_load_model("chat", model_path, false);
    if (!m) return 1;
    kumo_error err = {0};
    kumo_chat_template *tmpl = kumo_chat_template_new(m, tmpl_name, &err);
    if (!tmpl) {
        kumo_model_free(m);
        return cli_fail("chat", "%s", err.msg);
    }
    kumo_context_params cp = kumo_context_default_params();
    cp.kv_type = kv_type;
    cp.n_ctx = n_ctx;
    cp.n_threads = threads;
    kumo_context *ctx = kumo_context_new(m, &cp, &err);
    kumo_sampler *smp = kumo_sampler_new(&sp);
    int cap = ctx ? kumo_context_n_ctx(ctx) : 0;
    kumo_batch batch = kumo_batch_new(512);
    kumo_token *cached = calloc((size_t)cap + 1, sizeof *cached); /* tokens the KV cache holds */
    message_list msgs = {0};
    int n_cached = 0, rc = 1;
    char *line = NULL, *reply = NULL;
    size_t line_cap = 0, reply_len = 0, reply_cap = 0;
    bool interactive = isatty(STDIN_FILENO);
    if (!ctx || !smp || !batch.token || !cached) {
        cli_fail("chat", "%s", ctx ? "out of memory" : err.msg);
        goto out;
    }
    if (system && !push_message(&msgs, "system", system)) goto oom;
    for (;;) {
        if (interactive) {
            fputs("> ", stdout);
            fflush(stdout);
        }
        ssize_t len = getline(&line, &line_cap, stdin);
        if (len < 0) break;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (len == 0) continue;
        if (!push_message(&msgs, "user", line)) goto oom;
        char *prompt = NULL;
        if (kumo_chat_template_apply(tmpl, msgs.v, (size_t)msgs.n, true, &prompt, &err)) {
            cli_fail("chat", "%s", err.msg);
            goto out;
        }
        int n_tok = 0;
        kumo_token *toks = cli_tokenize(m, prompt, strlen(prompt), true, true, &n_tok);
        free(prompt);
        if (!toks) goto oom;
        if (n_tok + 1 >= cap) {
            free(toks);
            cli_fail("chat", "the conversation (%d tokens) no longer fits the context of %d tokens (raise -c)", n_tok, cap);
            goto out;
        }
        /* keep the cached prefix, evaluate the rest in batches */
        int keep = 0;
        while (keep < n_cached && keep < n_tok && cached[keep] == toks[keep]) keep++;
        if (keep == n_tok) keep--; /* the last prompt token must be evaluated to get its logits */
        kumo_seq_rm(ctx, 0, keep);
        n_cached = keep;
        for (int i = keep; i < n_tok;) {
            kumo_batch_clear(&batch);
            for (; i < n_tok && batch.n_tokens < 512; i++) kumo_batch_add(&batch, toks[i], i, 0, i == n_tok - 1);
            if (kumo_decode(ctx, &batch, &err)) {
                free(toks);
                cli_fail("chat", "%s", err.msg);
                goto out;
            }
        }
        memcpy(cached, toks, (size_t)n_tok * sizeof *toks);
        n_cached = n_tok;
        free(toks);
        const float *logits = kumo_get_logits(ctx, batch.n_tokens - 1);
        kumo_text_stream *ts = kumo_text_stream_new(m);
        char piece[1024];
        reply_len = 0;
        for (int g = 0; g < n_predict && ts; g++) {
            kumo_token t = kumo_sampler_sample(smp, logits, kumo_n_vocab(m));
            if (kumo_token_is_eog(m, t)) break;
            kumo_sampler_accept(smp, t);
            int np = kumo_text_stream_push(ts, t, piece, sizeof piece);
            if (np > 0) {
                fwrite(piece, 1, (size_t)np, stdout);
                fflush(stdout);
                if (reply_len + (size_t)np + 1 > reply_cap) {
                    size_t nc = (reply_cap + (size_t)np + 1) * 2;
                    char *nr = realloc(reply, nc);
                    if (!nr) {
                        kumo_text_stream_free(ts);
                        goto oom;
                    }
                    reply = nr;
                    reply_cap = nc;
                }
                memcpy(reply + reply_len, piece, (size_t)np);
                reply_len += (size_t)np;
            }
            if (n_cached + 1 >= cap) break;
            kumo_batch_clear(&batch);
            kumo_batch_add(&batch, t, n_cached, 0, true);
            cached[n_cached++] = t;
            if (kumo_decode(ctx, &batch, &err)) {
                kumo_text_stream_free(ts);
                cli_fail("chat", "%s", err.msg);
                goto out;
            }
            logits = kumo_get_logits(ctx, 0);
        }
        int nf = ts ? kumo_text_stream_flush(ts, piece, sizeof piece) : 0;
        if (nf > 0) fwrite(piece, 1, (size_t)nf, stdout);
        kumo_text_stream_free(ts);
        fputc('\n', stdout);
        fflush(stdout);
        if (!reply) reply = calloc(1, 1), reply_cap = 1;
        if (!reply) goto oom;
        reply[reply_len] = 0;
        if (!push_message(&msgs, "assistant", reply)) goto oom;
    }
    rc = 0;
    goto out;
oom:
    cli_fail("chat", "out of memory");
out:
    free(line);
    free(reply);
    free_messages(&msgs);
    free(cached);
    kumo_batch_free(&batch);
    kumo_sampler_free(smp);
    kumo_context_free(ctx);
    kumo_chat_template_free(tmpl);
    kumo_model_free(m);
    return rc;
}
