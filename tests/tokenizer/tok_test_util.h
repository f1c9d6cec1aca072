/* Helpers shared by the tokenizer test programs (header-only: each test_*.c is its own program).
 * Include after testutil.h and <cmocka.h>. */
#ifndef KUMO_TESTS_TOK_TEST_UTIL_H
#define KUMO_TESTS_TOK_TEST_UTIL_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "format/gguf.h"
#include "tokenizer/tokenizer.h"

/* Loads the vocab of a GGUF under ../shared and closes the file again (the vocab must not keep
 * pointers into it). NULL, with a message, if the file is absent or does not load. */
static inline kumo_vocab *tok_load_path(const char *path) {
    kumo_error err = {0};
    gguf_ctx *g = gguf_open(path, &err);
    if (!g) {
        fprintf(stderr, "cannot open %s: %s\n", path, err.msg);
        return NULL;
    }
    kumo_vocab *v = vocab_load(g, &err);
    gguf_close(g);
    if (!v) fprintf(stderr, "cannot load the vocab of %s: %s\n", path, err.msg);
    return v;
}

static inline kumo_vocab *tok_load_shared(const char *rel) { return tok_load_path(shared_path(rel)); }

/* Tokenizes into a malloc'd array (sized by asking first). *n receives the count. */
static inline int32_t *tok_tokenize(const kumo_vocab *v, const char *text, size_t len,
                                    bool add_special, bool parse_special, int *n) {
    int need = vocab_tokenize(v, text, len, NULL, 0, add_special, parse_special);
    if (need == INT32_MIN) return NULL;
    if (need < 0) need = -need;
    int32_t *ids = malloc(((size_t)need + 1) * sizeof *ids);
    if (!ids) return NULL;
    int got = vocab_tokenize(v, text, len, ids, need, add_special, parse_special);
    if (got != need) {
        free(ids);
        return NULL;
    }
    *n = got;
    return ids;
}

/* Detokenizes into a malloc'd NUL-terminated string; *len receives the byte count. */
static inline char *tok_detokenize(const kumo_vocab *v, const int32_t *ids, int n, bool remove_special,
                                   bool unparse_special, size_t *len) {
    int need = vocab_detokenize(v, ids, n, NULL, 0, remove_special, unparse_special, false);
    if (need == INT32_MIN) return NULL;
    if (need < 0) need = -need;
    char *s = malloc((size_t)need + 1);
    if (!s) return NULL;
    int got = vocab_detokenize(v, ids, n, s, need, remove_special, unparse_special, false);
    if (got != need) {
        free(s);
        return NULL;
    }
    s[got] = 0;
    *len = (size_t)got;
    return s;
}

/* One test-vector set (llama.cpp test-tokenizer-0 format, see ../shared/vocab/FORMAT.md). */
typedef struct tok_vectors {
    int n;
    const char **text; /* into inp (not NUL-terminated) */
    size_t *len;
    int32_t **ids;
    int *n_ids;
    char *inp, *out;
} tok_vectors;

static inline void tok_vectors_free(tok_vectors *tv) {
    for (int i = 0; i < tv->n; i++) free(tv->ids[i]);
    free(tv->text);
    free(tv->len);
    free(tv->ids);
    free(tv->n_ids);
    free(tv->inp);
    free(tv->out);
    memset(tv, 0, sizeof *tv);
}

/* Reads PREFIX.inp / PREFIX.out. Returns false if either is missing or they disagree in count. */
static inline bool tok_vectors_read(const char *prefix, tok_vectors *tv) {
    static const char sep[] = "\n__ggml_vocab_test__\n";
    const size_t sep_len = sizeof sep - 1;
    char path[4200];
    size_t inp_len, out_len;
    memset(tv, 0, sizeof *tv);
    if (strlen(prefix) > 4096) return false;
    snprintf(path, sizeof path, "%s.inp", prefix);
    tv->inp = read_file(path, &inp_len);
    snprintf(path, sizeof path, "%s.out", prefix);
    tv->out = read_file(path, &out_len);
    if (!tv->inp || !tv->out) {
        tok_vectors_free(tv);
        return false;
    }
    int cap = 0;
    const char *p = tv->inp, *end = tv->inp + inp_len;
    char *line = tv->out;
    for (;;) {
        const char *s = memmem(p, (size_t)(end - p), sep, sep_len);
        if (!s) break;
        char *nl = strchr(line, '\n');
        if (!nl) {
            tok_vectors_free(tv);
            return false;
        }
        *nl = 0;
        if (tv->n == cap) {
            cap = cap ? cap * 2 : 64;
            tv->text = realloc(tv->text, (size_t)cap * sizeof *tv->text);
            tv->len = realloc(tv->len, (size_t)cap * sizeof *tv->len);
            tv->ids = realloc(tv->ids, (size_t)cap * sizeof *tv->ids);
            tv->n_ids = realloc(tv->n_ids, (size_t)cap * sizeof *tv->n_ids);
        }
        int n = 0, idcap = 16;
        int32_t *ids = malloc((size_t)idcap * sizeof *ids);
        for (char *t = line; *t;) {
            while (*t == ' ') t++;
            if (!*t) break;
            if (n == idcap) ids = realloc(ids, (size_t)(idcap *= 2) * sizeof *ids);
            ids[n++] = (int32_t)strtol(t, &t, 10);
        }
        tv->text[tv->n] = p;
        tv->len[tv->n] = (size_t)(s - p);
        tv->ids[tv->n] = ids;
        tv->n_ids[tv->n] = n;
        tv->n++;
        p = s + sep_len;
        line = nl + 1;
    }
    return true;
}

static inline bool tok_ids_equal(const int32_t *a, int na, const int32_t *b, int nb) {
    return na == nb && (na == 0 || memcmp(a, b, (size_t)na * sizeof *a) == 0);
}

/* ---- synthetic vocabs: written with the GGUF writer to a temporary file, then loaded ---- */

static inline void tok_set_strings(gguf_writer *w, const char *key, const char *const *s, int n) {
    gguf_str *strs = calloc((size_t)n + 1, sizeof *strs);
    for (int i = 0; i < n; i++) strs[i] = (gguf_str){strlen(s[i]), s[i]};
    gguf_value val = {0};
    val.type = GGUF_TYPE_ARRAY;
    val.v.arr.elem_type = GGUF_TYPE_STRING;
    val.v.arr.n = (uint64_t)n;
    val.v.arr.strs = strs;
    kumo_error err = {0};
    if (gguf_writer_set(w, key, &val, &err) != 0) fprintf(stderr, "writer: %s\n", err.msg);
    free(strs);
}

static inline void tok_set_numbers(gguf_writer *w, const char *key, enum gguf_type type,
                                   const void *data, int n) {
    gguf_value val = {0};
    val.type = GGUF_TYPE_ARRAY;
    val.v.arr.elem_type = type;
    val.v.arr.n = (uint64_t)n;
    val.v.arr.raw = data;
    kumo_error err = {0};
    if (gguf_writer_set(w, key, &val, &err) != 0) fprintf(stderr, "writer: %s\n", err.msg);
}

/* Writes w to a temporary file and loads its vocab; err receives the load error. Frees w. */
static inline kumo_vocab *tok_load_writer(gguf_writer *w, kumo_error *err) {
    char path[] = "/tmp/kumo-tok-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return NULL;
    close(fd);
    kumo_vocab *v = NULL;
    if (gguf_writer_write(w, path, err) == 0) {
        gguf_ctx *g = gguf_open(path, err);
        if (g) {
            v = vocab_load(g, err);
            gguf_close(g);
        }
    }
    unlink(path);
    gguf_writer_free(w);
    return v;
}

static inline void tok_print_ids(const char *label, const int32_t *ids, int n) {
    fprintf(stderr, "  %s (%d):", label, n);
    for (int i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, "\n");
}

/* A JSON file under ../shared, parsed (the test fails if it is missing or malformed). */
static inline cJSON *load_json(const char *rel) {
    size_t len;
    char *text = read_file(shared_path(rel), &len);
    assert_non_null(text);
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    assert_non_null(j);
    return j;
}

/* A JSON array of token ids as a malloc'd array; *n receives the count. */
static inline int32_t *json_ids(const cJSON *arr, int *n) {
    *n = cJSON_GetArraySize(arr);
    int32_t *ids = malloc(((size_t)*n + 1) * sizeof *ids);
    int i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, arr) ids[i++] = (int32_t)x->valuedouble;
    return ids;
}

#endif
