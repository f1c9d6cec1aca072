/* kumo run: generate text from a prompt, streaming it to stdout. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int run(int argc, char **argv);

const cli_command CMD_RUN = {
    "run", run, "generate text from a prompt",
    "usage: kumo run -m MODEL [options]\n"
    "  Streams generated text to stdout; a timing summary goes to stderr.\n\n"
    "  -m, --model FILE      GGUF model file (required)\n"
    "  -p, --prompt TEXT     prompt (default: empty, i.e. start from BOS)\n"
    "  -f, --file FILE       read the prompt from FILE\n"
    "  -n, --n-predict N     tokens to generate (default 128; stops early at end-of-generation)\n"
    "  -c, --ctx-size N      context size in tokens (default: the model's, at most 4096)\n"
    "      --temp T          temperature; 0 = greedy (default 0.8)\n"
    "      --top-k K         keep the K most likely tokens; 0 = off (default 40)\n"
    "      --top-p P         nucleus sampling; 1 = off (default 0.95)\n"
    "      --min-p P         drop tokens below P x the top probability; 0 = off (default 0.05)\n"
    "      --repeat-penalty R  penalty for recent tokens; 1 = off (default 1)\n"
    "      --repeat-last-n N   how many recent tokens the penalty sees (default 64)\n"
    "  -s, --seed S          random seed (default 0: same seed, same output)\n"
    "  -t, --threads N       threads (default: all cores)\n"
    "      --kv-type T       KV cache type: f16 (default; half the memory of f32) or f32\n"
    "      --ignore-eos      keep generating past end-of-generation tokens\n"
    "      --no-special      do not parse special-token text in the prompt\n",
};

static int run(int argc, char **argv) {
    const char *model_path = NULL, *prompt = "", *prompt_file = NULL;
    int n_predict = 128, n_ctx = 0, threads = 0;
    kumo_kv_type kv_type = KUMO_KV_F16;
    bool ignore_eos = false, parse_special = true;
    kumo_sampler_params sp = kumo_sampler_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool ok = true;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) ok = cli_take_str(argc, argv, &i, &model_path);
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) ok = cli_take_str(argc, argv, &i, &prompt);
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) ok = cli_take_str(argc, argv, &i, &prompt_file);
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) ok = cli_take_int(argc, argv, &i, &n_predict);
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) ok = cli_take_int(argc, argv, &i, &n_ctx);
        else if (cli_take_sampler_option(argc, argv, &i, &sp, &ok)) {}
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) ok = cli_take_int(argc, argv, &i, &threads);
        else if (!strcmp(a, "--kv-type")) ok = cli_take_kv_type(argc, argv, &i, &kv_type);
        else if (!strcmp(a, "--ignore-eos")) ignore_eos = true;
        else if (!strcmp(a, "--no-special")) parse_special = false;
        else return cli_usage_error(&CMD_RUN, "unknown option '%s'", a);
        if (!ok) return 2;
    }
    if (!model_path) return cli_usage_error(&CMD_RUN, "a model is required (-m FILE)");
    if (n_predict < 0) return cli_usage_error(&CMD_RUN, "-n must be >= 0");
    char *file_text;
    size_t prompt_len;
    prompt = cli_prompt_text("run", prompt, prompt_file, &prompt_len, &file_text);
    if (!prompt) return 1;
    kumo_model *m = cli_load_model("run", model_path, false);
    if (!m) {
        free(file_text);
        return 1;
    }
    int rc = 1, n_prompt = 0;
    kumo_token *toks = cli_tokenize(m, prompt, prompt_len, true, parse_special, &n_prompt);
    free(file_text);
    kumo_context *ctx = NULL;
    kumo_sampler *smp = NULL;
    kumo_batch batch = {0};
    kumo_error err = {0};
    if (!toks) {
        cli_fail("run", "tokenization failed");
        goto out;
    }
    if (n_prompt == 0) { /* a vocab without BOS and an empty prompt: nothing to condition on */
        cli_fail("run", "the prompt is empty and the model has no BOS token");
        goto out;
    }
    kumo_context_params cp = kumo_context_default_params();
    cp.kv_type = kv_type;
    cp.n_ctx = n_ctx;
    cp.n_threads = threads;
    cp.n_batch = n_prompt > 512 ? n_prompt : 512;
    ctx = kumo_context_new(m, &cp, &err);
    if (!ctx) {
        cli_fail("run", "%s", err.msg);
        goto out;
    }
    if (n_prompt > kumo_context_n_ctx(ctx)) {
        cli_fail("run", "prompt is %d tokens, longer than the context of %d tokens (raise -c)", n_prompt,
                 kumo_context_n_ctx(ctx));
        goto out;
    }
    smp = kumo_sampler_new(&sp);
    batch = kumo_batch_new(cp.n_batch);
    if (!smp || !batch.token) {
        cli_fail("run", "out of memory");
        goto out;
    }
    for (int i = 0; i < n_prompt; i++) {
        kumo_batch_add(&batch, toks[i], i, 0, i == n_prompt - 1);
        kumo_sampler_accept(smp, toks[i]);
    }
    double t0 = cli_now();
    if (kumo_decode(ctx, &batch, &err)) {
        cli_fail("run", "%s", err.msg);
        goto out;
    }
    double t1 = cli_now();
    int n_gen = 0, pos = n_prompt, n_vocab = kumo_n_vocab(m);
    const float *logits = kumo_get_logits(ctx, n_prompt - 1);
    char piece[1024];
    kumo_text_stream *ts = kumo_text_stream_new(m);
    if (!ts) {
        cli_fail("run", "out of memory");
        goto out;
    }
    while (n_gen < n_predict) {
        kumo_token t = kumo_sampler_sample(smp, logits, n_vocab);
        if (!ignore_eos && kumo_token_is_eog(m, t)) break;
        kumo_sampler_accept(smp, t);
        n_gen++;
        int np = kumo_text_stream_push(ts, t, piece, sizeof piece);
        if (np > 0) {
            fwrite(piece, 1, (size_t)np, stdout);
            fflush(stdout);
        }
        if (n_gen == n_predict) break;
        if (pos >= kumo_context_n_ctx(ctx)) {
            fprintf(stderr, "\nkumo run: context of %d tokens is full\n", kumo_context_n_ctx(ctx));
            break;
        }
        kumo_batch_clear(&batch);
        kumo_batch_add(&batch, t, pos++, 0, true);
        if (kumo_decode(ctx, &batch, &err)) {
            kumo_text_stream_free(ts);
            cli_fail("run", "%s", err.msg);
            goto out;
        }
        logits = kumo_get_logits(ctx, 0);
    }
    int nf = kumo_text_stream_flush(ts, piece, sizeof piece);
    if (nf > 0) fwrite(piece, 1, (size_t)nf, stdout);
    kumo_text_stream_free(ts);
    double t2 = cli_now();
    fputc('\n', stdout);
    fflush(stdout);
    fprintf(stderr, "kumo run: prompt %d tokens in %.3f s (%.2f tok/s); generated %d tokens in %.3f s (%.2f tok/s); %d threads\n",
            n_prompt, t1 - t0, n_prompt / (t1 - t0), n_gen, t2 - t1, n_gen > 0 ? n_gen / (t2 - t1) : 0.0,
            kumo_context_n_threads(ctx));
    rc = 0;
out:
    kumo_batch_free(&batch);
    kumo_sampler_free(smp);
    kumo_context_free(ctx);
    free(toks);
    kumo_model_free(m);
    return rc;
}
