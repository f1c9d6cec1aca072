/* The reference engine timed the way llama-bench times it, against a native build of llama.cpp's
 * library (bench/native-ref.sh builds it and this driver from the npm registry's llama.cpp sources;
 * not built by make, not part of kumo).
 *
 *   ref_bench MODEL.gguf [-p 512] [-n 128] [-d 0] [-t 2] [-r 3] [--fa auto|on|off]
 *   ref_bench MODEL.gguf --greedy N --tokens ID,ID,...
 *
 * As llama-bench: pp and tg are separate tests, each on a cleared context of n_ctx = P + N tokens
 * (n_batch 2048, n_ubatch 512, F16 KV cache). pp: P tokens (the first BOS when the vocabulary adds
 * one, the rest random) decoded in batches of n_batch. tg: N tokens decoded one at a time, each a new
 * random token, synchronized after each. With -d D (llama-bench's --n-depth), each run first fills the
 * cleared context with D tokens, untimed, and the test follows at positions D on (n_ctx D + P + N).
 * A warm-up run of each test comes first; then REPS runs, and
 * tok/s is the mean ± stddev over them. Prints one JSON object with the keys bench/reference.mjs
 * prints, so bench/peer.sh reads both. The --greedy form checks the build instead of timing it: it
 * decodes the prompt tokens in one batch, then N greedy steps (ties to the lowest id), and prints the
 * N ids as a JSON array, to be set beside the golden outputs in ../shared/golden. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>

#include "llama.h"

#define N_BATCH 2048
#define N_UBATCH 512
#define MAX_REPS 64

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void quiet_log(enum ggml_log_level level, const char *text, void *user) {
    (void)user;
    if (level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

/* xorshift64 from a fixed seed (kept by the caller), so every run decodes the same tokens */
static int rand_token(unsigned long long *state, int n_vocab) {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return (int)(*state % (unsigned long long)n_vocab);
}

#define TOKEN_SEED 0x2545F4914F6CDD1DULL

static int test_prompt(struct llama_context *ctx, int n_prompt, llama_token *tokens) {
    const struct llama_vocab *vocab = llama_model_get_vocab(llama_get_model(ctx));
    const int n_vocab = llama_vocab_n_tokens(vocab);
    unsigned long long rng = TOKEN_SEED;
    for (int done = 0; done < n_prompt;) {
        const int n = n_prompt - done < N_BATCH ? n_prompt - done : N_BATCH;
        tokens[0] = done == 0 && llama_vocab_get_add_bos(vocab) ? llama_vocab_bos(vocab) : rand_token(&rng, n_vocab);
        for (int i = 1; i < n; i++) tokens[i] = rand_token(&rng, n_vocab);
        if (llama_decode(ctx, llama_batch_get_one(tokens, n)) != 0) return -1;
        done += n;
    }
    llama_synchronize(ctx);
    return 0;
}

static int test_gen(struct llama_context *ctx, int n_gen) {
    const struct llama_vocab *vocab = llama_model_get_vocab(llama_get_model(ctx));
    const int n_vocab = llama_vocab_n_tokens(vocab);
    unsigned long long rng = TOKEN_SEED;
    llama_token token = llama_vocab_get_add_bos(vocab) ? llama_vocab_bos(vocab) : rand_token(&rng, n_vocab);
    for (int i = 0; i < n_gen; i++) {
        if (llama_decode(ctx, llama_batch_get_one(&token, 1)) != 0) return -1;
        llama_synchronize(ctx);
        token = rand_token(&rng, n_vocab);
    }
    return 0;
}

static void mean_sd(const double *x, int n, double *mean, double *sd) {
    double s = 0, q = 0;
    for (int i = 0; i < n; i++) s += x[i];
    *mean = s / n;
    for (int i = 0; i < n; i++) q += (x[i] - *mean) * (x[i] - *mean);
    *sd = n > 1 ? sqrt(q / (n - 1)) : 0.0;
}

/* Runs one test (pp when n_prompt > 0, else tg) once as a warm-up and then reps times. */
static int run_test(struct llama_context *ctx, int n_depth, int n_prompt, int n_gen, int reps, llama_token *tokens,
                    double *mean, double *sd) {
    double tps[MAX_REPS];
    for (int r = -1; r < reps; r++) {
        llama_memory_clear(llama_get_memory(ctx), false);
        if (n_depth > 0 && test_prompt(ctx, n_depth, tokens) != 0) return -1;
        const double t0 = now();
        const int rc = n_prompt > 0 ? test_prompt(ctx, n_prompt, tokens) : test_gen(ctx, n_gen);
        const double dt = now() - t0;
        if (rc != 0) return -1;
        if (r >= 0) tps[r] = (n_prompt > 0 ? n_prompt : n_gen) / dt;
    }
    mean_sd(tps, reps, mean, sd);
    return 0;
}

static int usage(void) {
    fprintf(stderr, "usage: ref_bench MODEL.gguf [-p 512] [-n 128] [-d 0] [-t 2] [-r 3] [--fa auto|on|off]\n"
                    "       ref_bench MODEL.gguf --greedy N --tokens ID,ID,...\n");
    return 2;
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Prints the n_greedy ids that follow the prompt; 0 on success. */
static int greedy(struct llama_context *ctx, llama_token *tokens, int n_tokens, int n_greedy) {
    const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(llama_get_model(ctx)));
    if (llama_decode(ctx, llama_batch_get_one(tokens, n_tokens)) != 0) return -1;
    printf("[");
    for (int s = 0; s < n_greedy; s++) {
        llama_token t = argmax(llama_get_logits_ith(ctx, -1), n_vocab);
        printf("%s%d", s ? ", " : "", t);
        if (s + 1 < n_greedy && llama_decode(ctx, llama_batch_get_one(&t, 1)) != 0) return -1;
    }
    printf("]\n");
    return 0;
}

/* "1,2,3" -> ids; the count, or -1 */
static int parse_tokens(const char *s, llama_token *out, int max) {
    int n = 0;
    while (*s) {
        char *end;
        const long v = strtol(s, &end, 10);
        if (end == s || v < 0 || v > 0x7fffffff || n == max) return -1;
        out[n++] = (llama_token)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return -1;
    }
    return n;
}

int main(int argc, char **argv) {
    const char *path = NULL;
    int n_prompt = 512, n_gen = 128, n_depth = 0, threads = 2, reps = 3, n_greedy = 0;
    const char *token_list = NULL;
    enum llama_flash_attn_type fa = LLAMA_FLASH_ATTN_TYPE_AUTO;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((!strcmp(a, "-p") || !strcmp(a, "-n") || !strcmp(a, "-d") || !strcmp(a, "-t") || !strcmp(a, "-r")) &&
            i + 1 < argc) {
            char *end;
            const long v = strtol(argv[++i], &end, 10);
            if (*end || v < 0 || v > 1000000) return usage();
            if (a[1] == 'p') n_prompt = (int)v;
            else if (a[1] == 'n') n_gen = (int)v;
            else if (a[1] == 'd') n_depth = (int)v;
            else if (a[1] == 't') threads = (int)v;
            else reps = (int)v;
        } else if (!strcmp(a, "--greedy") && i + 1 < argc) {
            n_greedy = atoi(argv[++i]);
            if (n_greedy < 1 || n_greedy > 4096) return usage();
        } else if (!strcmp(a, "--tokens") && i + 1 < argc) {
            token_list = argv[++i];
        } else if (!strcmp(a, "--fa") && i + 1 < argc) {
            const char *v = argv[++i];
            if (!strcmp(v, "auto")) fa = LLAMA_FLASH_ATTN_TYPE_AUTO;
            else if (!strcmp(v, "on")) fa = LLAMA_FLASH_ATTN_TYPE_ENABLED;
            else if (!strcmp(v, "off")) fa = LLAMA_FLASH_ATTN_TYPE_DISABLED;
            else return usage();
        } else if (!path && a[0] != '-') {
            path = a;
        } else {
            return usage();
        }
    }
    if (!path || threads < 1 || reps < 1 || reps > MAX_REPS || !n_greedy != !token_list) return usage();

    llama_log_set(quiet_log, NULL);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    struct llama_model *model = llama_model_load_from_file(path, mp);
    if (!model) {
        fprintf(stderr, "ref_bench: cannot load %s\n", path);
        return 1;
    }
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)(n_greedy ? N_BATCH + n_greedy : n_depth + n_prompt + n_gen > 0 ? n_depth + n_prompt + n_gen : 1);
    cp.n_batch = N_BATCH;
    cp.n_ubatch = N_UBATCH;
    cp.n_threads = threads;
    cp.n_threads_batch = threads;
    cp.flash_attn_type = fa;
    cp.type_k = GGML_TYPE_F16;
    cp.type_v = GGML_TYPE_F16;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    llama_token *tokens = malloc(sizeof *tokens * N_BATCH);
    if (!ctx || !tokens) {
        fprintf(stderr, "ref_bench: cannot create a context\n");
        return 1;
    }
    int rc = 0;
    if (n_greedy) {
        const int n = parse_tokens(token_list, tokens, N_BATCH);
        rc = n > 0 ? greedy(ctx, tokens, n, n_greedy) : -1;
        if (rc != 0) fprintf(stderr, "ref_bench: %s\n", n > 0 ? "llama_decode failed" : "bad --tokens");
    } else {
        char desc[256];
        llama_model_desc(model, desc, sizeof desc);
        printf("{\"engine\": \"llama.cpp (native build of the npm sources)\", \"model\": \"%s\", \"desc\": \"%s\", "
               "\"threads\": %d, \"n_depth\": %d, \"flash_attn\": \"%s\", \"model_bytes\": %llu",
               path, desc, threads, n_depth, llama_flash_attn_type_name(fa), (unsigned long long)llama_model_size(model));
        double mean, sd;
        if (n_prompt > 0 && (rc = run_test(ctx, n_depth, n_prompt, 0, reps, tokens, &mean, &sd)) == 0)
            printf(", \"pp_tok_s\": %.3f, \"pp_stddev\": %.3f", mean, sd);
        if (rc == 0 && n_gen > 0 && (rc = run_test(ctx, n_depth, 0, n_gen, reps, tokens, &mean, &sd)) == 0)
            printf(", \"tg_tok_s\": %.3f, \"tg_stddev\": %.3f", mean, sd);
        printf("}\n");
        if (rc != 0) fprintf(stderr, "ref_bench: llama_decode failed\n");
    }
    free(tokens);
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    return rc != 0;
}
