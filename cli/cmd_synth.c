/* kumo synth --shape NAME --type TYPE --vocab VOCAB.gguf -o OUT.gguf */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static int run(int argc, char **argv);

const cli_command CMD_SYNTH = {
    "synth", run, "write a random-weight model with a real model's shapes (for benchmarks)",
    "usage: kumo synth --shape NAME --type TYPE --vocab VOCAB.gguf -o OUT.gguf [--seed S] [-t THREADS]\n"
    "  Shapes: llama-1b (Llama-3.2-1B), qwen3-0.6b (Qwen3-0.6B), qwen3moe-mini (Qwen3-MoE, 64 experts, 8\n"
    "  used), tiny-llama, tiny-qwen3moe (small, vocab size from VOCAB). Weights ~ N(0, 1/fan_in), norms 1.\n"
    "  The tokenizer is copied from VOCAB and padded with [PADn] tokens to the shape's vocabulary.\n"
    "  TYPE as for `kumo quantize`, or F32.\n\n"
    "      --shape NAME     model shape (required)\n"
    "      --type TYPE      weight type / mix (default F16)\n"
    "      --vocab FILE     GGUF with tokenizer.* metadata (required)\n"
    "  -o, --output FILE    output GGUF (required)\n"
    "      --seed S         random seed (default 0)\n"
    "  -t, --threads N      threads (default: all cores)\n"
    "  -v, --verbose        one line per tensor when stderr is not a terminal\n",
};

static int run(int argc, char **argv) {
    kumo_synth_params p = {.type = "F16"};
    const char *out = NULL;
    bool verbose = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool ok = true;
        if (!strcmp(a, "--shape")) ok = cli_take_str(argc, argv, &i, &p.shape);
        else if (!strcmp(a, "--type")) ok = cli_take_str(argc, argv, &i, &p.type);
        else if (!strcmp(a, "--vocab")) ok = cli_take_str(argc, argv, &i, &p.vocab_path);
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) ok = cli_take_str(argc, argv, &i, &out);
        else if (!strcmp(a, "--seed")) ok = cli_take_u64(argc, argv, &i, &p.seed);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) ok = cli_take_int(argc, argv, &i, &p.n_threads);
        else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) verbose = true;
        else return cli_usage_error(&CMD_SYNTH, "unknown option '%s'", a);
        if (!ok) return 2;
    }
    if (!p.shape || !p.vocab_path || !out)
        return cli_usage_error(&CMD_SYNTH, "--shape, --vocab and -o are required");
    cli_progress_state ps;
    cli_progress_init(&ps, verbose);
    p.progress = cli_progress;
    p.progress_ud = &ps;
    kumo_tool_report rep;
    kumo_error err = {0};
    double t0 = cli_now();
    int rc = kumo_synth_file(out, &p, &rep, &err);
    cli_progress_done(&ps);
    if (rc) return cli_fail("synth", "%s", err.msg);
    fprintf(stderr, "kumo synth: wrote %s (%s, %s): %d tensors, %.2f MiB in %.1f s\n", out, p.shape, p.type,
            rep.n_tensors, rep.out_bytes / 1048576.0, cli_now() - t0);
    return 0;
}
