/* kumo perplexity: perplexity of a model over a text, computed the way llama.cpp's llama-perplexity
 * does, so the figures can be compared: the text (minus one trailing newline) is tokenized once with
 * BOS; chunk i is tokens[c*i, c*i + c) with its first token replaced by BOS; the logits at positions
 * c/2 .. c-2 score the next token; PPL = exp(mean negative log-likelihood). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int run(int argc, char **argv);

const cli_command CMD_PERPLEXITY = {
    "perplexity", run, "measure a model's perplexity on a text file",
    "usage: kumo perplexity -m MODEL -f TEXTFILE [-c CTX] [-t THREADS] [--json]\n"
    "  Non-overlapping windows of CTX tokens, each starting with BOS; the second half of each window\n"
    "  is scored (as llama.cpp's llama-perplexity). Prints the running estimate per window and the final\n"
    "  PPL with its standard error.\n\n"
    "  -m, --model FILE    GGUF model file (required)\n"
    "  -f, --file FILE     text file (required)\n"
    "  -c, --ctx-size N    window size in tokens (default 512)\n"
    "  -t, --threads N     threads (default: all cores)\n"
    "      --kv-type T     KV cache type: f16 (default; half the memory of f32) or f32\n"
    "      --json          print one JSON object instead of text\n",
};

static double log_softmax_at(const float *x, int n, int target) {
    float mx = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > mx) mx = x[i];
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += exp((double)x[i] - mx);
    return (double)x[target] - mx - log(sum);
}

static int run(int argc, char **argv) {
    const char *model_path = NULL, *file = NULL;
    int n_ctx = 512, threads = 0;
    kumo_kv_type kv_type = KUMO_KV_F16;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool ok = true;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) ok = cli_take_str(argc, argv, &i, &model_path);
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) ok = cli_take_str(argc, argv, &i, &file);
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) ok = cli_take_int(argc, argv, &i, &n_ctx);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) ok = cli_take_int(argc, argv, &i, &threads);
        else if (!strcmp(a, "--kv-type")) ok = cli_take_kv_type(argc, argv, &i, &kv_type);
        else if (!strcmp(a, "--json")) json = true;
        else return cli_usage_error(&CMD_PERPLEXITY, "unknown option '%s'", a);
        if (!ok) return 2;
    }
    if (!model_path || !file) return cli_usage_error(&CMD_PERPLEXITY, "-m MODEL and -f TEXTFILE are required");
    if (n_ctx < 4) return cli_usage_error(&CMD_PERPLEXITY, "-c must be at least 4");
    size_t len;
    char *text = cli_read_file(file, &len);
    if (!text) return cli_fail("perplexity", "cannot read %s: %s", file, strerror(errno));
    if (len > 0 && text[len - 1] == '\n') text[--len] = 0;
    kumo_model *m = cli_load_model("perplexity", model_path, false);
    if (!m) {
        free(text);
        return 1;
    }
    int rc = 1, n_tok = 0, n_vocab = kumo_n_vocab(m);
    kumo_token *toks = cli_tokenize(m, text, len, true, false, &n_tok);
    kumo_context *ctx = NULL;
    kumo_batch batch = {0};
    kumo_error err = {0};
    double *chunk_ppl = NULL;
    kumo_token bos = kumo_token_bos(m);
    if (!toks) {
        cli_fail("perplexity", "tokenization failed");
        goto out;
    }
    int n_chunks = n_tok / n_ctx;
    if (n_chunks < 1) {
        cli_fail("perplexity", "%s has %d tokens, fewer than one window of %d (lower -c)", file, n_tok, n_ctx);
        goto out;
    }
    kumo_context_params cp = kumo_context_default_params();
    cp.kv_type = kv_type;
    cp.n_ctx = n_ctx;
    cp.n_batch = n_ctx;
    cp.n_threads = threads;
    ctx = kumo_context_new(m, &cp, &err);
    batch = kumo_batch_new(n_ctx);
    chunk_ppl = calloc((size_t)n_chunks, sizeof *chunk_ppl);
    if (!ctx || !batch.token || !chunk_ppl) {
        cli_fail("perplexity", "%s", ctx ? "out of memory" : err.msg);
        goto out;
    }
    int first = n_ctx / 2;
    double nll = 0.0, nll2 = 0.0;
    long count = 0;
    double t0 = cli_now();
    if (!json) fprintf(stderr, "kumo perplexity: %d tokens, %d windows of %d, scoring positions %d..%d\n", n_tok,
                       n_chunks, n_ctx, first, n_ctx - 2);
    for (int c = 0; c < n_chunks; c++) {
        kumo_seq_rm(ctx, 0, 0);
        kumo_batch_clear(&batch);
        for (int i = 0; i < n_ctx; i++) {
            kumo_token t = toks[c * n_ctx + i];
            if (i == 0 && bos >= 0) t = bos;
            kumo_batch_add(&batch, t, i, 0, i >= first && i < n_ctx - 1);
        }
        if (kumo_decode(ctx, &batch, &err)) {
            cli_fail("perplexity", "%s", err.msg);
            goto out;
        }
        double chunk_nll = 0.0;
        for (int i = first; i < n_ctx - 1; i++) {
            double lp = -log_softmax_at(kumo_get_logits(ctx, i), n_vocab, toks[c * n_ctx + i + 1]);
            nll += lp;
            nll2 += lp * lp;
            chunk_nll += lp;
            count++;
        }
        chunk_ppl[c] = exp(chunk_nll / (n_ctx - 1 - first));
        if (!json) {
            printf("[%d]%.4f,", c + 1, exp(nll / count));
            fflush(stdout);
        }
    }
    double mean = nll / count, var = nll2 / count - mean * mean;
    double ppl = exp(mean), ppl_err = count > 1 && var > 0 ? ppl * sqrt(var / (count - 1)) : 0.0;
    if (json) {
        printf("{\"model\": \"%s\", \"n_ctx\": %d, \"n_tokens\": %d, \"n_chunks\": %d, \"scored_per_chunk\": %d, "
               "\"final_ppl\": %.6f, \"final_ppl_stderr\": %.6f, \"per_chunk_ppl\": [",
               model_path, n_ctx, n_tok, n_chunks, n_ctx - 1 - first, ppl, ppl_err);
        for (int c = 0; c < n_chunks; c++) printf(c ? ", %.6f" : "%.6f", chunk_ppl[c]);
        printf("]}\n");
    } else {
        printf("\nFinal estimate: PPL = %.4f +/- %.5f\n", ppl, ppl_err);
        fprintf(stderr, "kumo perplexity: %.2f s\n", cli_now() - t0);
    }
    rc = 0;
out:
    free(chunk_ppl);
    kumo_batch_free(&batch);
    kumo_context_free(ctx);
    free(toks);
    free(text);
    kumo_model_free(m);
    return rc;
}
