/* kumo quantize IN.gguf OUT.gguf TYPE */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static int run(int argc, char **argv);

const cli_command CMD_QUANTIZE = {
    "quantize", run, "convert a GGUF model's weights to a quantization type",
    "usage: kumo quantize IN.gguf OUT.gguf TYPE [-t THREADS] [--allow-requantize] [-v]\n"
    "  TYPE: F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K_M, Q4_K_S, Q4_K_M, Q5_K_S, Q5_K_M, Q6_K.\n"
    "  The _S/_M mixes keep some tensors at more bits, as llama.cpp's llama-quantize does: the output\n"
    "  matrix (or tied embedding) at Q6_K, part of attn_v and ffn_down at Q5_K/Q6_K; norms, biases and MoE\n"
    "  routers stay F32. Every metadata key is copied and general.file_type updated. OUT is written to a\n"
    "  temporary file and renamed when complete, so a failed run never leaves a partial OUT.\n\n"
    "  -t, --threads N        threads (default: all cores)\n"
    "      --allow-requantize convert tensors that are already quantized (loses quality)\n"
    "  -v, --verbose          one line per tensor when stderr is not a terminal\n",
};

static int run(int argc, char **argv) {
    const char *pos[3] = {0};
    int n_pos = 0;
    kumo_quantize_params p = {0};
    bool verbose = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool ok = true;
        if (!strcmp(a, "-t") || !strcmp(a, "--threads")) ok = cli_take_int(argc, argv, &i, &p.n_threads);
        else if (!strcmp(a, "--allow-requantize")) p.allow_requantize = true;
        else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) verbose = true;
        else if (a[0] == '-' && a[1]) return cli_usage_error(&CMD_QUANTIZE, "unknown option '%s'", a);
        else if (n_pos < 3) pos[n_pos++] = a;
        else return cli_usage_error(&CMD_QUANTIZE, "too many arguments");
        if (!ok) return 2;
    }
    if (n_pos != 3) return cli_usage_error(&CMD_QUANTIZE, "expected IN.gguf OUT.gguf TYPE");
    if (!strcmp(pos[0], pos[1])) return cli_usage_error(&CMD_QUANTIZE, "IN and OUT must differ");
    p.type = pos[2];
    cli_progress_state ps;
    cli_progress_init(&ps, verbose);
    p.progress = cli_progress;
    p.progress_ud = &ps;
    kumo_tool_report rep;
    kumo_error err = {0};
    double t0 = cli_now();
    int rc = kumo_quantize_file(pos[0], pos[1], &p, &rep, &err);
    cli_progress_done(&ps);
    if (rc) return cli_fail("quantize", "%s", err.msg);
    fprintf(stderr, "kumo quantize: %s -> %s (%s): %d tensors, %d converted, %d copied; %.2f MiB -> %.2f MiB in %.1f s\n",
            pos[0], pos[1], p.type, rep.n_tensors, rep.n_converted, rep.n_copied, rep.in_bytes / 1048576.0,
            rep.out_bytes / 1048576.0, cli_now() - t0);
    return 0;
}
