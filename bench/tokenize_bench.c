/* Tokenizer throughput: repeats a text file to at least MIN_MB megabytes, tokenizes it RUNS times
 * (add_special=false, parse_special=false) and prints MB/s (best and median) and tokens/s.
 * The Makefile does not build it (it is not a test); build and run from the project root:
 *
 *   make && cc -O2 -std=c11 -D_GNU_SOURCE -Iinclude -Isrc bench/tokenize_bench.c build/libkumo.a \
 *       -lcjson -lpcre2-8 -lpthread -lm -o build/tokenize_bench
 *   build/tokenize_bench ../shared/vocab/ggml-vocab-qwen3.gguf ../shared/text/story.txt [MIN_MB] [RUNS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "format/gguf.h"
#include "tokenizer/tokenizer.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s VOCAB.gguf TEXT [MIN_MB=1] [RUNS=5]\n", argv[0]);
        return 2;
    }
    double min_mb = argc > 3 ? atof(argv[3]) : 1.0;
    int runs = argc > 4 ? atoi(argv[4]) : 5;
    if (runs < 1 || runs > 1000 || !(min_mb > 0 && min_mb < 4096)) {
        fprintf(stderr, "bad MIN_MB or RUNS\n");
        return 2;
    }
    FILE *f = fopen(argv[2], "rb");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    char unit[1 << 16];
    size_t ul = fread(unit, 1, sizeof unit, f);
    fclose(f);
    if (ul == 0) {
        fprintf(stderr, "%s is empty\n", argv[2]);
        return 1;
    }
    size_t target = (size_t)(min_mb * 1024 * 1024);
    size_t copies = (target + ul - 1) / ul, len = copies * ul;
    char *text = malloc(len);
    if (!text) return 1;
    for (size_t i = 0; i < copies; i++) memcpy(text + i * ul, unit, ul);

    kumo_error err = {0};
    double t0 = now();
    gguf_ctx *g = gguf_open(argv[1], &err);
    kumo_vocab *v = g ? vocab_load(g, &err) : NULL;
    if (g) gguf_close(g);
    if (!v) {
        fprintf(stderr, "%s: %s\n", argv[1], err.msg);
        return 1;
    }
    double load = now() - t0;

    int cap = (int)(len + 16);
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    double *secs = malloc((size_t)runs * sizeof *secs);
    int n = 0;
    for (int r = 0; r < runs; r++) {
        double a = now();
        n = vocab_tokenize(v, text, len, ids, cap, false, false);
        secs[r] = now() - a;
        if (n < 0) {
            fprintf(stderr, "tokenize failed (%d)\n", n);
            return 1;
        }
    }
    qsort(secs, (size_t)runs, sizeof *secs, cmp_double);
    double mb = (double)len / (1024.0 * 1024.0);
    printf("%s (%s/%s): load %.2f s; %.2f MB (%zu x %zu bytes) -> %d tokens (%.2f bytes/token)\n",
           argv[1], vocab_model_name(v), vocab_pre_name(v), load, mb, copies, ul, n, (double)len / n);
    printf("  best %.3f s = %.2f MB/s, %.2f Mtok/s; median %.3f s = %.2f MB/s (%d runs)\n", secs[0],
           mb / secs[0], n / secs[0] / 1e6, secs[runs / 2], mb / secs[runs / 2], runs);
    free(secs);
    free(ids);
    free(text);
    vocab_free(v);
    return 0;
}
