/* kumo info: what a GGUF model is. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static int run(int argc, char **argv);

const cli_command CMD_INFO = {
    "info", run, "show a model's architecture, hyper-parameters, tokenizer and tensor types",
    "usage: kumo info -m MODEL\n"
    "  -m, --model FILE   GGUF model file (required)\n",
};

static void print_type(const char *name, int count, uint64_t bytes, void *ud) {
    (void)ud;
    printf("  %-8s %5d tensors  %10.2f MiB\n", name, count, bytes / 1048576.0);
}

static int run(int argc, char **argv) {
    const char *model_path = NULL;
    for (int i = 1; i < argc; i++) {
        bool ok = true;
        if (!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) ok = cli_take_str(argc, argv, &i, &model_path);
        else return cli_usage_error(&CMD_INFO, "unknown option '%s'", argv[i]);
        if (!ok) return 2;
    }
    if (!model_path) return cli_usage_error(&CMD_INFO, "a model is required (-m FILE)");
    kumo_model *m = cli_load_model("info", model_path, false);
    if (!m) return 1;
    kumo_model_info in;
    kumo_model_get_info(m, &in);
    printf("file:            %s (%.2f MiB)\n", model_path, in.file_size / 1048576.0);
    printf("architecture:    %s%s\n", in.arch, in.n_expert > 0 && !strcmp(in.arch, "llama") ? " (mixture of experts)" : "");
    if (in.name && *in.name) printf("name:            %s\n", in.name);
    printf("parameters:      %" PRIu64 " (%.2f M)\n", in.n_params, in.n_params / 1e6);
    if (in.n_expert > 0) {
        printf("active params:   %" PRIu64 " (%.2f M) per token\n", in.n_params_active, in.n_params_active / 1e6);
        printf("experts:         %d, %d used per token, expert FFN %d\n", in.n_expert, in.n_expert_used,
               in.n_ff_expert);
    }
    printf("context (train): %d\n", in.n_ctx_train);
    printf("embedding:       %d\n", in.n_embd);
    printf("layers:          %d\n", in.n_layer);
    printf("heads:           %d (KV heads %d), head dim K %d / V %d\n", in.n_head, in.n_head_kv, in.head_dim_k,
           in.head_dim_v);
    if (in.n_ff > 0) printf("feed-forward:    %d\n", in.n_ff);
    printf("rope:            %s, base %g, freq scale %g\n", in.rope_style, in.rope_freq_base, in.rope_freq_scale);
    printf("rms epsilon:     %g\n", in.rms_eps);
    printf("output:          %s\n", in.tied_output ? "tied to token embedding" : "separate matrix");
    printf("tokenizer:       %s, %d tokens (bos %d, eos %d)\n", in.tokenizer, in.n_vocab, kumo_token_bos(m),
           kumo_token_eos(m));
    printf("tensors:         %d\n", in.n_tensors);
    kumo_model_foreach_type(m, print_type, NULL);
    kumo_model_free(m);
    return 0;
}
