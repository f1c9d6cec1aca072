#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

bool cli_is_help(const char *a) { return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0; }

static const char *take(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "kumo: option %s needs a value\n", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

bool cli_take_str(int argc, char **argv, int *i, const char **out) {
    const char *v = take(argc, argv, i);
    if (v) *out = v;
    return v != NULL;
}

bool cli_take_int(int argc, char **argv, int *i, int *out) {
    const char *opt = argv[*i], *v = take(argc, argv, i);
    if (!v) return false;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || end == v || x < -2147483647L || x > 2147483647L) {
        fprintf(stderr, "kumo: option %s expects an integer, got '%s'\n", opt, v);
        return false;
    }
    *out = (int)x;
    return true;
}

bool cli_take_u64(int argc, char **argv, int *i, uint64_t *out) {
    const char *opt = argv[*i], *v = take(argc, argv, i);
    if (!v) return false;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || *end || end == v || v[0] == '-') {
        fprintf(stderr, "kumo: option %s expects a non-negative integer, got '%s'\n", opt, v);
        return false;
    }
    *out = x;
    return true;
}

bool cli_take_float(int argc, char **argv, int *i, float *out) {
    const char *opt = argv[*i], *v = take(argc, argv, i);
    if (!v) return false;
    char *end;
    errno = 0;
    float x = strtof(v, &end);
    if (errno || *end || end == v || x != x) {
        fprintf(stderr, "kumo: option %s expects a number, got '%s'\n", opt, v);
        return false;
    }
    *out = x;
    return true;
}

bool cli_take_kv_type(int argc, char **argv, int *i, kumo_kv_type *out) {
    const char *opt = argv[*i], *v = take(argc, argv, i);
    if (!v) return false;
    if (!strcmp(v, "f16")) *out = KUMO_KV_F16;
    else if (!strcmp(v, "f32")) *out = KUMO_KV_F32;
    else {
        fprintf(stderr, "kumo: option %s expects f16 or f32, got '%s'\n", opt, v);
        return false;
    }
    return true;
}

const char *cli_kv_type_name(kumo_kv_type t) { return t == KUMO_KV_F32 ? "f32" : "f16"; }

int cli_fail(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "kumo %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int cli_usage_error(const cli_command *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "kumo %s: ", c->name);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(see `kumo %s --help`)\n", c->name);
    va_end(ap);
    return 2;
}

bool cli_take_sampler_option(int argc, char **argv, int *i, kumo_sampler_params *sp, bool *ok) {
    const char *a = argv[*i];
    if (!strcmp(a, "--temp")) *ok = cli_take_float(argc, argv, i, &sp->temperature);
    else if (!strcmp(a, "--top-k")) *ok = cli_take_int(argc, argv, i, &sp->top_k);
    else if (!strcmp(a, "--top-p")) *ok = cli_take_float(argc, argv, i, &sp->top_p);
    else if (!strcmp(a, "--min-p")) *ok = cli_take_float(argc, argv, i, &sp->min_p);
    else if (!strcmp(a, "--repeat-penalty")) *ok = cli_take_float(argc, argv, i, &sp->repeat_penalty);
    else if (!strcmp(a, "--repeat-last-n")) *ok = cli_take_int(argc, argv, i, &sp->repeat_last_n);
    else if (!strcmp(a, "-s") || !strcmp(a, "--seed")) *ok = cli_take_u64(argc, argv, i, &sp->seed);
    else return false;
    return true;
}

const char *cli_prompt_text(const char *cmd, const char *text, const char *path, size_t *len, char **owned) {
    *owned = NULL;
    if (!path) {
        *len = text ? strlen(text) : 0;
        return text ? text : "";
    }
    *owned = cli_read_file(path, len);
    if (!*owned) cli_fail(cmd, "cannot read prompt file %s: %s", path, strerror(errno));
    return *owned;
}

char *cli_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
        if (cap - n < 2) {
            char *nb = cap > ((size_t)1 << 40) ? NULL : realloc(buf, cap * 2);
            if (!nb) { free(buf); buf = NULL; errno = ENOMEM; break; }
            buf = nb;
            cap *= 2;
        }
    }
    if (buf && ferror(f)) { free(buf); buf = NULL; errno = EIO; }
    fclose(f);
    if (!buf) return NULL;
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

kumo_model *cli_load_model(const char *cmd, const char *path, bool vocab_only) {
    kumo_error err = {0};
    kumo_model_params mp = kumo_model_default_params();
    mp.vocab_only = vocab_only;
    kumo_model *m = kumo_model_load(path, &mp, &err);
    if (!m) cli_fail(cmd, "%s", err.msg);
    return m;
}

kumo_token *cli_tokenize(const kumo_model *m, const char *text, size_t len, bool add_special, bool parse_special,
                         int *n) {
    int cap = (int)(len < 1000000 ? len : 1000000) + 16;
    kumo_token *out = malloc((size_t)cap * sizeof *out);
    if (!out) return NULL;
    int r = kumo_tokenize(m, text, len, out, cap, add_special, parse_special);
    if (r < 0 && r != INT32_MIN) {
        cap = -r;
        kumo_token *nb = realloc(out, (size_t)cap * sizeof *out);
        if (!nb) { free(out); return NULL; }
        out = nb;
        r = kumo_tokenize(m, text, len, out, cap, add_special, parse_special);
    }
    if (r < 0) { free(out); return NULL; }
    *n = r;
    return out;
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}
