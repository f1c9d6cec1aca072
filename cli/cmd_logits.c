/* kumo logits: the prompt's logits at every position (one batch) and N greedy steps, as JSON in the
 * layout of ../shared/golden/ files, so kumo can be set beside the reference engine. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "engine/context.h"

static int run(int argc, char **argv);

const cli_command CMD_LOGITS = {
    "logits", run, "print a prompt's logits and greedy steps as JSON (for comparison with a reference)",
    "usage: kumo logits -m MODEL -p PROMPT [-n N] [-t THREADS]\n"
    "  Prints one JSON object: {\"model\", \"prompts\": [{\"text\", \"tokens\", \"prompt_logits\",\n"
    "  \"greedy_tokens\", \"greedy_margins\", \"greedy_logits\"}]} (plus \"router_topk\" for MoE models).\n"
    "  The prompt (BOS added as the vocab asks) is evaluated in one batch with logits at every position;\n"
    "  then N greedy steps (argmax, lowest id on ties, no stop at end-of-generation), one token per call.\n\n"
    "  -m, --model FILE     GGUF model file (required)\n"
    "  -p, --prompt TEXT    prompt text (required unless -f)\n"
    "  -f, --file FILE      read the prompt from FILE\n"
    "  -n, --n-predict N    greedy steps (default 32)\n"
    "  -t, --threads N      threads (default: all cores)\n"
    "      --kv-type T      KV cache type: f16 (default; half the memory of f32) or f32\n",
};

static void print_row(const float *x, int n) {
    putchar('[');
    for (int i = 0; i < n; i++) printf(i ? ",%.7g" : "%.7g", x[i]);
    putchar(']');
}

static int argmax_margin(const float *x, int n, float *margin) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    float second = -3.4e38f;
    for (int i = 0; i < n; i++)
        if (i != best && x[i] > second) second = x[i];
    *margin = x[best] - second;
    return best;
}

static void print_json_string(const char *s) {
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') printf("\\%c", *p);
        else if (*p == '\n') fputs("\\n", stdout);
        else if (*p == '\t') fputs("\\t", stdout);
        else if (*p == '\r') fputs("\\r", stdout);
        else if (*p < 0x20) printf("\\u%04x", *p);
        else putchar(*p);
    }
    putchar('"');
}

/* "router_topk" rows for MoE models: experts per layer chosen for entry i of the last batch. */
static void append_routing(const kumo_context *ctx, int entry, int n_layer, int k, int32_t *dst) {
    const int32_t *r = kumo_context_last_routing(ctx);
    memcpy(dst, r + (size_t)entry * n_layer * k, (size_t)n_layer * k * sizeof *dst);
}

static int run(int argc, char **argv) {
    const char *model_path = NULL, *prompt = NULL, *prompt_file = NULL;
    int n_predict = 32, threads = 0;
    kumo_kv_type kv_type = KUMO_KV_F16;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool ok = true;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) ok = cli_take_str(argc, argv, &i, &model_path);
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) ok = cli_take_str(argc, argv, &i, &prompt);
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) ok = cli_take_str(argc, argv, &i, &prompt_file);
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) ok = cli_take_int(argc, argv, &i, &n_predict);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) ok = cli_take_int(argc, argv, &i, &threads);
        else if (!strcmp(a, "--kv-type")) ok = cli_take_kv_type(argc, argv, &i, &kv_type);
        else return cli_usage_error(&CMD_LOGITS, "unknown option '%s'", a);
        if (!ok) return 2;
    }
    if (!model_path) return cli_usage_error(&CMD_LOGITS, "a model is required (-m FILE)");
    if (!prompt && !prompt_file) return cli_usage_error(&CMD_LOGITS, "a prompt is required (-p TEXT or -f FILE)");
    if (n_predict < 0) return cli_usage_error(&CMD_LOGITS, "-n must be >= 0");
    char *file_text;
    size_t prompt_len;
    prompt = cli_prompt_text("logits", prompt, prompt_file, &prompt_len, &file_text);
    if (!prompt) return 1;
    kumo_model *m = cli_load_model("logits", model_path, false);
    if (!m) {
        free(file_text);
        return 1;
    }
    kumo_model_info info;
    kumo_model_get_info(m, &info);
    int rc = 1, n_prompt = 0, n_vocab = kumo_n_vocab(m);
    kumo_token *toks = cli_tokenize(m, prompt, prompt_len, true, false, &n_prompt);
    kumo_context *ctx = NULL;
    kumo_batch batch = {0};
    kumo_error err = {0};
    float *prompt_logits = NULL, *greedy_logits = NULL, *margins = NULL;
    kumo_token *greedy = NULL;
    int32_t *routing = NULL;
    int route_w = info.n_expert > 0 ? info.n_layer * info.n_expert_used : 0;
    if (!toks || n_prompt == 0) {
        cli_fail("logits", toks ? "the prompt has no tokens" : "tokenization failed");
        goto out;
    }
    kumo_context_params cp = kumo_context_default_params();
    cp.kv_type = kv_type;
    cp.n_threads = threads;
    cp.n_batch = n_prompt;
    cp.n_ctx = n_prompt + n_predict;
    ctx = kumo_context_new(m, &cp, &err);
    if (!ctx) {
        cli_fail("logits", "%s", err.msg);
        goto out;
    }
    batch = kumo_batch_new(n_prompt);
    prompt_logits = malloc((size_t)n_prompt * n_vocab * sizeof(float));
    greedy_logits = malloc(((size_t)n_predict + 1) * n_vocab * sizeof(float));
    margins = malloc(((size_t)n_predict + 1) * sizeof(float));
    greedy = malloc(((size_t)n_predict + 1) * sizeof *greedy);
    routing = malloc(((size_t)n_prompt + n_predict + 1) * (route_w ? route_w : 1) * sizeof *routing);
    if (!batch.token || !prompt_logits || !greedy_logits || !margins || !greedy || !routing) {
        cli_fail("logits", "out of memory");
        goto out;
    }
    for (int i = 0; i < n_prompt; i++) kumo_batch_add(&batch, toks[i], i, 0, true);
    if (kumo_decode(ctx, &batch, &err)) {
        cli_fail("logits", "%s", err.msg);
        goto out;
    }
    for (int i = 0; i < n_prompt; i++) {
        memcpy(prompt_logits + (size_t)i * n_vocab, kumo_get_logits(ctx, i), (size_t)n_vocab * sizeof(float));
        if (route_w) append_routing(ctx, i, info.n_layer, info.n_expert_used, routing + (size_t)i * route_w);
    }
    if (n_predict > 0) greedy[0] = argmax_margin(prompt_logits + (size_t)(n_prompt - 1) * n_vocab, n_vocab, &margins[0]);
    for (int s = 0; s < n_predict; s++) {
        kumo_batch_clear(&batch);
        kumo_batch_add(&batch, greedy[s], n_prompt + s, 0, true);
        if (kumo_decode(ctx, &batch, &err)) {
            cli_fail("logits", "%s", err.msg);
            goto out;
        }
        memcpy(greedy_logits + (size_t)s * n_vocab, kumo_get_logits(ctx, 0), (size_t)n_vocab * sizeof(float));
        if (route_w) append_routing(ctx, 0, info.n_layer, info.n_expert_used, routing + (size_t)(n_prompt + s) * route_w);
        greedy[s + 1] = argmax_margin(greedy_logits + (size_t)s * n_vocab, n_vocab, &margins[s + 1]);
    }
    const char *base = strrchr(model_path, '/');
    printf("{\n\"model\": ");
    print_json_string(base ? base + 1 : model_path);
    printf(",\n\"engine\": \"kumo\",\n\"settings\": {\"architecture\": ");
    print_json_string(info.arch);
    printf(", \"n_vocab\": %d, \"n_ctx\": %d, \"n_threads\": %d, \"kv_cache\": \"%s\", \"n_greedy\": %d},\n",
           n_vocab, kumo_context_n_ctx(ctx), kumo_context_n_threads(ctx), kv_type == KUMO_KV_F32 ? "f32" : "f16",
           n_predict);
    printf("\"prompts\": [\n{\"text\": ");
    print_json_string(prompt);
    printf(",\n \"tokens\": [");
    for (int i = 0; i < n_prompt; i++) printf(i ? ",%d" : "%d", toks[i]);
    printf("],\n \"prompt_logits\": [\n");
    for (int i = 0; i < n_prompt; i++) {
        printf("  ");
        print_row(prompt_logits + (size_t)i * n_vocab, n_vocab);
        printf(i + 1 < n_prompt ? ",\n" : "\n");
    }
    printf(" ],\n \"greedy_tokens\": [");
    for (int s = 0; s < n_predict; s++) printf(s ? ",%d" : "%d", greedy[s]);
    printf("],\n \"greedy_margins\": [");
    for (int s = 0; s < n_predict; s++) printf(s ? ",%.7g" : "%.7g", margins[s]);
    printf("],\n \"greedy_logits\": [\n");
    for (int s = 0; s < n_predict; s++) {
        printf("  ");
        print_row(greedy_logits + (size_t)s * n_vocab, n_vocab);
        printf(s + 1 < n_predict ? ",\n" : "\n");
    }
    printf(" ]");
    if (route_w) {
        printf(",\n \"router_topk\": [\n");
        int rows = n_prompt + n_predict;
        for (int r = 0; r < rows; r++) {
            printf("  [");
            for (int l = 0; l < info.n_layer; l++) {
                printf(l ? ",[" : "[");
                for (int k = 0; k < info.n_expert_used; k++)
                    printf(k ? ",%d" : "%d", routing[(size_t)r * route_w + l * info.n_expert_used + k]);
                printf("]");
            }
            printf(r + 1 < rows ? "],\n" : "]\n");
        }
        printf(" ]");
    }
    printf("}\n]\n}\n");
    rc = 0;
out:
    free(prompt_logits);
    free(greedy_logits);
    free(margins);
    free(greedy);
    free(routing);
    kumo_batch_free(&batch);
    kumo_context_free(ctx);
    free(toks);
    free(file_text);
    kumo_model_free(m);
    return rc;
}
