/* kumo bench: prompt-processing and generation speed, like llama-bench, so the two can be set side by
 * side on the same file: pp = one batch of P tokens; tg = N tokens generated one at a time; both from
 * an empty cache, or (-d D, llama-bench's --n-depth) after D tokens already in it, where attention's
 * share of the time shows. Token ids are random (speed does not depend on them). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int run(int argc, char **argv);

const cli_command CMD_BENCH = {
    "bench", run, "measure prompt-processing and generation speed (tok/s) and memory bandwidth",
    "usage: kumo bench -m MODEL [-p 512] [-n 128] [-d 0] [-t THREADS] [-r REPS] [--roofline] [--json]\n"
    "       kumo bench --bandwidth [-t THREADS]\n"
    "  pp: one batch of P prompt tokens; tg: N tokens one at a time; mean ± stddev over REPS runs after a\n"
    "  warm-up. tg GB/s = weight bytes one token reads (active experts only) × tg tok/s.\n\n"
    "  -m, --model FILE       GGUF model (required unless --bandwidth)\n"
    "  -p, --n-prompt P       prompt tokens (default 512; 0 skips pp)\n"
    "  -n, --n-gen N          generated tokens (default 128; 0 skips tg)\n"
    "  -d, --n-depth D        run both tests after D tokens already in the cache (default 0; not timed)\n"
    "  -t, --threads N        threads (default: all cores)\n"
    "      --kv-type T        KV cache type: f16 (default; half the memory of f32) or f32\n"
    "  -r, --repetitions R    runs per test (default 3)\n"
    "      --roofline         after each tg run, N more tokens, each followed by a plain read (as\n"
    "                         --bandwidth's, on the same threads) of as many bytes as the token's\n"
    "                         weights: the reads' GB/s is that run's roofline, and those tokens' GB/s\n"
    "                         is reported as a share of it (mean ± stddev over the runs)\n"
    "      --json             one JSON object: pp_tok_s, tg_tok_s, pp_stddev, tg_stddev, tg_gb_s,\n"
    "                         model_bytes, threads, isa, kv_type, ... (with --roofline: roofline_gb_s,\n"
    "                         tg_paired_gb_s, tg_roofline_pct, tg_roofline_pct_stddev)\n"
    "      --bandwidth        measure the machine's read bandwidth (1 GiB buffer) and exit\n",
};

static void mean_std(const double *x, int n, double *mean, double *sd) {
    double s = 0.0, ss = 0.0;
    for (int i = 0; i < n; i++) s += x[i];
    *mean = n ? s / n : 0.0;
    for (int i = 0; i < n; i++) ss += (x[i] - *mean) * (x[i] - *mean);
    *sd = n > 1 ? sqrt(ss / (n - 1)) : 0.0;
}

/* The roofline's read buffer: half of --bandwidth's, still 16× this machine's L3. */
#define ROOFLINE_PROBE_BYTES ((size_t)512 << 20)

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Speed does not depend on which tokens are decoded: any from the vocabulary will do. */
static kumo_token random_token(uint64_t *seed, int n_vocab) { return (kumo_token)(rng_next(seed) % (uint64_t)n_vocab); }

/* One generated token at position pos, as a decode step does it (logits wanted). */
static int decode_one(kumo_context *ctx, kumo_batch *b, kumo_token tok, int pos, kumo_error *err) {
    kumo_batch_clear(b);
    kumo_batch_add(b, tok, pos, 0, true);
    return kumo_decode(ctx, b, err);
}

static int run(int argc, char **argv) {
    const char *model_path = NULL;
    int n_prompt = 512, n_gen = 128, n_depth = 0, threads = 0, reps = 3;
    kumo_kv_type kv_type = KUMO_KV_F16;
    bool json = false, bandwidth = false, roofline = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool ok = true;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) ok = cli_take_str(argc, argv, &i, &model_path);
        else if (!strcmp(a, "-p") || !strcmp(a, "--n-prompt")) ok = cli_take_int(argc, argv, &i, &n_prompt);
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-gen")) ok = cli_take_int(argc, argv, &i, &n_gen);
        else if (!strcmp(a, "-d") || !strcmp(a, "--n-depth")) ok = cli_take_int(argc, argv, &i, &n_depth);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) ok = cli_take_int(argc, argv, &i, &threads);
        else if (!strcmp(a, "--kv-type")) ok = cli_take_kv_type(argc, argv, &i, &kv_type);
        else if (!strcmp(a, "-r") || !strcmp(a, "--repetitions")) ok = cli_take_int(argc, argv, &i, &reps);
        else if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "--bandwidth")) bandwidth = true;
        else if (!strcmp(a, "--roofline")) roofline = true;
        else return cli_usage_error(&CMD_BENCH, "unknown option '%s'", a);
        if (!ok) return 2;
    }
    if (bandwidth) {
        int nt = threads > 0 ? threads : 0;
        double one = kumo_measure_read_bandwidth(1, (size_t)1 << 30, 5);
        double all = kumo_measure_read_bandwidth(nt, (size_t)1 << 30, 5);
        if (json) printf("{\"read_gb_s_1_thread\": %.2f, \"read_gb_s\": %.2f}\n", one, all);
        else printf("read bandwidth: %.2f GB/s (1 thread), %.2f GB/s (all threads)\n", one, all);
        return 0;
    }
    if (!model_path) return cli_usage_error(&CMD_BENCH, "a model is required (-m FILE)");
    if (n_prompt < 0 || n_gen < 0 || n_depth < 0 || reps < 1)
        return cli_usage_error(&CMD_BENCH, "-p, -n, -d must be >= 0 and -r >= 1");
    kumo_model *m = cli_load_model("bench", model_path, false);
    if (!m) return 1;
    kumo_model_info info;
    kumo_model_get_info(m, &info);
    kumo_context_params cp = kumo_context_default_params();
    cp.kv_type = kv_type;
    cp.n_ctx = n_depth + (n_prompt > n_gen ? n_prompt : n_gen) + 1;
    /* the depth goes in as prompt batches too, of up to 512 tokens when -p is smaller */
    const int depth_batch = n_depth < 512 ? n_depth : 512;
    cp.n_batch = n_prompt > depth_batch ? n_prompt : depth_batch > 0 ? depth_batch : 1;
    cp.n_threads = threads;
    kumo_error err = {0};
    kumo_context *ctx = kumo_context_new(m, &cp, &err);
    if (!ctx) {
        kumo_model_free(m);
        return cli_fail("bench", "%s", err.msg);
    }
    kumo_batch b = kumo_batch_new(cp.n_batch);
    double *pp = calloc((size_t)reps, sizeof *pp), *tg = calloc((size_t)reps, sizeof *tg);
    /* per tg run: the paired tokens' weight GB/s, the reads' GB/s (the roofline) and the share (%) */
    double *rl = calloc((size_t)reps, sizeof *rl), *rl_pct = calloc((size_t)reps, sizeof *rl_pct);
    double *paired = calloc((size_t)reps, sizeof *paired);
    roofline = roofline && n_gen > 0;
    kumo_read_probe *probe = roofline ? kumo_read_probe_new(ctx, ROOFLINE_PROBE_BYTES) : NULL;
    if (!pp || !tg || !rl || !rl_pct || !paired || (roofline && !probe)) {
        free(pp), free(tg), free(rl), free(rl_pct), free(paired);
        kumo_read_probe_free(probe);
        kumo_batch_free(&b);
        kumo_context_free(ctx);
        kumo_model_free(m);
        return cli_fail("bench", "out of memory");
    }
    const int n_threads = kumo_context_n_threads(ctx);
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    int n_vocab = kumo_n_vocab(m), rc = 0;
    /* warm-up: fault the mapping in and let the caches and the pool settle */
    kumo_batch_add(&b, 1 % n_vocab, 0, 0, true);
    rc = kumo_decode(ctx, &b, &err);
    /* the depth: filled once, kept by every test (each removes only the positions from D on) */
    kumo_seq_rm(ctx, 0, 0);
    for (int p0 = 0; !rc && p0 < n_depth; p0 += cp.n_batch) {
        kumo_batch_clear(&b);
        for (int i = p0; i < n_depth && i < p0 + cp.n_batch; i++)
            kumo_batch_add(&b, random_token(&seed, n_vocab), i, 0, i == n_depth - 1);
        rc = kumo_decode(ctx, &b, &err);
    }
    for (int r = 0; !rc && r < reps; r++) {
        if (n_prompt > 0) {
            kumo_seq_rm(ctx, 0, n_depth);
            kumo_batch_clear(&b);
            for (int i = 0; i < n_prompt; i++)
                kumo_batch_add(&b, random_token(&seed, n_vocab), n_depth + i, 0, i == n_prompt - 1);
            double t0 = cli_now();
            if ((rc = kumo_decode(ctx, &b, &err))) break;
            pp[r] = n_prompt / (cli_now() - t0);
        }
        if (n_gen > 0) {
            kumo_seq_rm(ctx, 0, n_depth);
            double t0 = cli_now();
            for (int i = 0; i < n_gen && !rc; i++)
                rc = decode_one(ctx, &b, random_token(&seed, n_vocab), n_depth + i, &err);
            tg[r] = n_gen / (cli_now() - t0);
            if (roofline && !rc) {
                /* This host's bandwidth changes within seconds, so the roofline is measured in the
                 * same seconds as the tokens set against it: each token is followed by a plain read
                 * of as many bytes as its weights, and the tokens' time and the reads' time are
                 * summed apart. The tokens are timed again for this, not taken from the run above,
                 * so that both sides come from the same minutes. */
                const size_t bytes = (size_t)info.weight_bytes_per_token;
                double t_tok = 0.0, t_read = 0.0;
                kumo_seq_rm(ctx, 0, n_depth);
                for (int i = 0; i < n_gen && !rc; i++) {
                    const kumo_token tok = random_token(&seed, n_vocab);
                    double t1 = cli_now();
                    rc = decode_one(ctx, &b, tok, n_depth + i, &err);
                    t_tok += cli_now() - t1;
                    t_read += kumo_read_probe_run(probe, bytes);
                }
                paired[r] = n_gen * (double)bytes / t_tok / 1e9;
                rl[r] = n_gen * (double)bytes / t_read / 1e9;
                rl_pct[r] = 100.0 * paired[r] / rl[r];
                if (!json)
                    fprintf(stderr, "run %d/%d: tokens paired with reads: tokens %.2f GB/s, reads %.2f GB/s (%.1f %%)\n",
                            r + 1, reps, paired[r], rl[r], rl_pct[r]);
            }
        }
        if (!json)
            fprintf(stderr, "run %d/%d: pp%d %.2f tok/s, tg%d %.2f tok/s\n", r + 1, reps, n_prompt, pp[r], n_gen, tg[r]);
    }
    if (rc) {
        cli_fail("bench", "%s", err.msg);
    } else {
        double ppm, pps, tgm, tgs;
        mean_std(pp, reps, &ppm, &pps);
        mean_std(tg, reps, &tgm, &tgs);
        double gbs = tgm * (double)info.weight_bytes_per_token / 1e9;
        double rlm, rls, pctm, pcts, pgm, pgs;
        mean_std(rl, reps, &rlm, &rls);
        mean_std(rl_pct, reps, &pctm, &pcts);
        mean_std(paired, reps, &pgm, &pgs);
        char rl_json[200] = "", rl_text[160] = "";
        if (roofline) {
            snprintf(rl_json, sizeof rl_json,
                     ", \"roofline_gb_s\": %.3f, \"tg_paired_gb_s\": %.3f, \"tg_roofline_pct\": %.2f, "
                     "\"tg_roofline_pct_stddev\": %.2f",
                     rlm, pgm, pctm, pcts);
            snprintf(rl_text, sizeof rl_text, "; paired with reads: %.1f GB/s against %.1f, %.0f ± %.0f %%", pgm, rlm,
                     pctm, pcts);
        }
        char at[32] = ""; /* llama-bench's test names: "tg128 @ d1024" */
        if (n_depth > 0) snprintf(at, sizeof at, " @ d%d", n_depth);
        const char *base = strrchr(model_path, '/');
        base = base ? base + 1 : model_path;
        if (json) {
            printf("{\"model\": \"%s\", \"arch\": \"%s\", \"model_bytes\": %llu, \"bytes_per_token\": %llu, "
                   "\"n_params\": %llu, \"threads\": %d, \"isa\": \"%s\", \"n_prompt\": %d, \"n_gen\": %d, \"n_depth\": %d, "
                   "\"reps\": %d, \"pp_tok_s\": %.3f, \"pp_stddev\": %.3f, \"tg_tok_s\": %.3f, \"tg_stddev\": %.3f, "
                   "\"tg_gb_s\": %.3f, \"kv_type\": \"%s\"%s}\n",
                   base, info.arch, (unsigned long long)info.weight_bytes,
                   (unsigned long long)info.weight_bytes_per_token, (unsigned long long)info.n_params,
                   n_threads, kumo_isa(), n_prompt, n_gen, n_depth, reps, ppm, pps, tgm, tgs, gbs,
                   cli_kv_type_name(kv_type), rl_json);
        } else {
            printf("| model | size (MiB) | threads | isa | kv | test | tok/s |\n|---|---|---|---|---|---|---|\n");
            if (n_prompt > 0)
                printf("| %s | %.0f | %d | %s | %s | pp%d%s | %.2f ± %.2f |\n", base, info.weight_bytes / 1048576.0,
                       n_threads, kumo_isa(), cli_kv_type_name(kv_type), n_prompt, at, ppm, pps);
            if (n_gen > 0)
                printf("| %s | %.0f | %d | %s | %s | tg%d%s | %.2f ± %.2f (%.1f GB/s%s) |\n", base,
                       info.weight_bytes / 1048576.0, n_threads, kumo_isa(), cli_kv_type_name(kv_type),
                       n_gen, at, tgm, tgs, gbs, rl_text);
        }
    }
    free(pp);
    free(tg);
    free(rl);
    free(rl_pct);
    free(paired);
    kumo_read_probe_free(probe);
    kumo_batch_free(&b);
    kumo_context_free(ctx);
    kumo_model_free(m);
    return rc ? 1 : 0;
}
