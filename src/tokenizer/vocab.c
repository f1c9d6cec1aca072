/* The vocab: loading tokenizer.ggml.* metadata into an immutable table (tokens, text index, special
 * ids and flags with llama.cpp's per-type defaults, BPE merge table, byte tokens), and the simple
 * accessors. Special-token fix-ups live in vocab_special.c, text conversion in vocab_text.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"
#include "tokenizer/vocab_internal.h"
#include "util/err.h"

#define KEY_PREFIX "tokenizer.ggml."

/* ---------------------------------------------------------------- text index */

static uint32_t text_hash(const char *s, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 29;
    return (uint32_t)(h ^ (h >> 32));
}

int32_t vocab_find(const kumo_vocab *v, const char *text, size_t len) {
    if (len > v->max_token_len) return -1;
    uint32_t h = text_hash(text, len);
    for (uint32_t i = h & v->index_mask;; i = (i + 1) & v->index_mask) {
        int32_t id = v->index[i];
        if (id < 0) return -1;
        if (v->index_hash[i] == h && v->tok[id].len == len && memcmp(v->tok[id].text, text, len) == 0)
            return id;
    }
}

static uint32_t pow2_at_least(uint64_t n) {
    uint64_t c = 16;
    while (c < n) c <<= 1;
    return (uint32_t)c;
}

static int build_index(kumo_vocab *v) {
    uint32_t cap = pow2_at_least((uint64_t)v->n_tokens * 2);
    v->index = malloc((size_t)cap * sizeof *v->index);
    v->index_hash = malloc((size_t)cap * sizeof *v->index_hash);
    if (!v->index || !v->index_hash) return -1;
    v->index_mask = cap - 1;
    for (uint32_t i = 0; i < cap; i++) v->index[i] = -1;
    for (int32_t id = 0; id < v->n_tokens; id++) {
        const vocab_entry *t = &v->tok[id];
        uint32_t h = text_hash(t->text, t->len);
        uint32_t i = h & v->index_mask;
        bool dup = false;
        for (; v->index[i] >= 0; i = (i + 1) & v->index_mask) {
            const vocab_entry *o = &v->tok[v->index[i]];
            if (v->index_hash[i] == h && o->len == t->len && memcmp(o->text, t->text, t->len) == 0) {
                dup = true; /* a repeated text keeps its first id */
                break;
            }
        }
        if (dup) continue;
        v->index[i] = id;
        v->index_hash[i] = h;
    }
    return 0;
}

int32_t vocab_find_cstr(const kumo_vocab *v, const char *s) { return vocab_find(v, s, strlen(s)); }

/* ---------------------------------------------------------------- metadata helpers */

/* 1 present, 0 absent, -1 present with the wrong type (err set). */
static int meta_str(const gguf_ctx *g, const char *key, gguf_str *out, kumo_error *err) {
    const gguf_value *val = gguf_get(g, key);
    if (!val) return 0;
    if (val->type != GGUF_TYPE_STRING) {
        kumo_err(err, KUMO_E_FORMAT, "%s: expected a string, got %s", key, gguf_type_name(val->type));
        return -1;
    }
    *out = val->v.str;
    return 1;
}

static int meta_bool(const gguf_ctx *g, const char *key, bool *out, kumo_error *err) {
    const gguf_value *val = gguf_get(g, key);
    if (!val) return 0;
    switch (val->type) {
    case GGUF_TYPE_BOOL: *out = val->v.b; return 1;
    case GGUF_TYPE_UINT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_UINT32: case GGUF_TYPE_UINT64:
        *out = val->v.u != 0;
        return 1;
    case GGUF_TYPE_INT8: case GGUF_TYPE_INT16: case GGUF_TYPE_INT32: case GGUF_TYPE_INT64:
        *out = val->v.i != 0;
        return 1;
    default:
        kumo_err(err, KUMO_E_FORMAT, "%s: expected a bool, got %s", key, gguf_type_name(val->type));
        return -1;
    }
}

/* A token id key. Values outside [0, n_tokens) (e.g. 4294967295 in llama2.c conversions) mean
 * "no such token": *out becomes -1. */
static int meta_token_id(const gguf_ctx *g, const char *key, int32_t n_tokens, int32_t *out,
                         kumo_error *err) {
    const gguf_value *val = gguf_get(g, key);
    if (!val) return 0;
    switch (val->type) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_UINT32: case GGUF_TYPE_UINT64:
        *out = val->v.u < (uint64_t)n_tokens ? (int32_t)val->v.u : -1;
        return 1;
    case GGUF_TYPE_INT8: case GGUF_TYPE_INT16: case GGUF_TYPE_INT32: case GGUF_TYPE_INT64:
        *out = val->v.i >= 0 && val->v.i < (int64_t)n_tokens ? (int32_t)val->v.i : -1;
        return 1;
    default:
        kumo_err(err, KUMO_E_FORMAT, "%s: expected a token id, got %s", key,
                 gguf_type_name(val->type));
        return -1;
    }
}

static bool is_numeric_type(enum gguf_type t) {
    return t != GGUF_TYPE_STRING && t != GGUF_TYPE_ARRAY && t != GGUF_TYPE_BOOL && t < GGUF_TYPE_COUNT;
}

/* An optional array key whose length must match the token count. NULL + 0 if absent. */
static const gguf_value *meta_token_array(const gguf_ctx *g, const char *key, int32_t n_tokens,
                                          bool numeric, int *status, kumo_error *err) {
    const gguf_value *val = gguf_get(g, key);
    *status = 0;
    if (!val) return NULL;
    *status = -1;
    if (val->type != GGUF_TYPE_ARRAY) {
        kumo_err(err, KUMO_E_FORMAT, "%s: expected an array, got %s", key, gguf_type_name(val->type));
        return NULL;
    }
    bool ok = numeric ? is_numeric_type(val->v.arr.elem_type) : val->v.arr.elem_type == GGUF_TYPE_STRING;
    if (!ok) {
        kumo_err(err, KUMO_E_FORMAT, "%s: expected an array of %s, got an array of %s", key,
                 numeric ? "numbers" : "strings", gguf_type_name(val->v.arr.elem_type));
        return NULL;
    }
    if (n_tokens >= 0 && val->v.arr.n != (uint64_t)n_tokens) {
        kumo_err(err, KUMO_E_FORMAT, "%s has %llu entries but " KEY_PREFIX "tokens has %d", key,
                 (unsigned long long)val->v.arr.n, n_tokens);
        return NULL;
    }
    *status = 1;
    return val;
}

/* ---------------------------------------------------------------- BPE tables */

/* GPT-2's byte -> character map: printable Latin-1 bytes stand for themselves, the other 68 bytes
 * take code points 256, 257, ... in byte order. */
static void gpt2_byte_chars(uint32_t cp_of_byte[256]) {
    uint32_t next = 256;
    for (int b = 0; b < 256; b++) {
        bool self = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        cp_of_byte[b] = self ? (uint32_t)b : next++;
    }
}

static int build_bpe_tables(kumo_vocab *v, const gguf_ctx *g, kumo_error *err) {
    uint32_t cp_of_byte[256];
    gpt2_byte_chars(cp_of_byte);
    for (size_t i = 0; i < sizeof v->cp_to_byte / sizeof v->cp_to_byte[0]; i++) v->cp_to_byte[i] = -1;
    for (int b = 0; b < 256; b++) {
        char buf[4];
        size_t n = utf8_encode(cp_of_byte[b], buf);
        v->byte_token[b] = vocab_find(v, buf, n);
        v->cp_to_byte[cp_of_byte[b]] = (int16_t)b;
    }

    int status;
    const gguf_value *merges = meta_token_array(g, KEY_PREFIX "merges", -1, false, &status, err);
    if (status < 0) return -1;
    if (!merges) {
        kumo_err(err, KUMO_E_FORMAT, KEY_PREFIX "merges missing (required for a gpt2 tokenizer)");
        return -1;
    }
    if (merges->v.arr.n > (uint64_t)INT32_MAX / 4) {
        kumo_err(err, KUMO_E_FORMAT, KEY_PREFIX "merges: %llu entries is too many",
                 (unsigned long long)merges->v.arr.n);
        return -1;
    }
    int32_t n = (int32_t)merges->v.arr.n;
    uint32_t cap = pow2_at_least((uint64_t)n * 2);
    v->merge_key = malloc((size_t)cap * sizeof *v->merge_key);
    v->merge_rank = malloc((size_t)cap * sizeof *v->merge_rank);
    v->merge_result = malloc((size_t)(n ? n : 1) * sizeof *v->merge_result);
    char *joined = malloc((size_t)v->max_token_len + 1);
    if (!v->merge_key || !v->merge_rank || !v->merge_result || !joined) {
        free(joined);
        kumo_err(err, KUMO_E_NOMEM, "out of memory for %d merges", n);
        return -1;
    }
    v->merge_mask = cap - 1;
    v->n_merges = n;
    for (uint32_t i = 0; i < cap; i++) v->merge_key[i] = MERGE_EMPTY;
    for (int32_t r = 0; r < n; r++) {
        v->merge_result[r] = -1;
        const gguf_str *s = &merges->v.arr.strs[r];
        /* "left right": split at the first space after the first byte (a left part can start
         * with a space in non-byte-level vocabs) */
        const char *sp = s->len > 1 ? memchr(s->data + 1, ' ', s->len - 1) : NULL;
        if (!sp) continue;
        size_t ln = (size_t)(sp - s->data), rn = s->len - ln - 1;
        if (ln + rn > v->max_token_len) continue; /* result cannot be a token */
        int32_t a = vocab_find(v, s->data, ln), b = vocab_find(v, sp + 1, rn);
        memcpy(joined, s->data, ln);
        memcpy(joined + ln, sp + 1, rn);
        int32_t m = vocab_find(v, joined, ln + rn);
        /* merges whose parts or result are not tokens can never fire on token ids; skip them */
        if (a < 0 || b < 0 || m < 0) continue;
        uint64_t key = merge_key_of(a, b);
        uint32_t h = merge_slot(key, v->merge_mask);
        while (v->merge_key[h] != MERGE_EMPTY && v->merge_key[h] != key) h = (h + 1) & v->merge_mask;
        if (v->merge_key[h] == key) continue; /* first (lowest) rank wins */
        v->merge_key[h] = key;
        v->merge_rank[h] = r;
        v->merge_result[r] = m;
    }
    free(joined);

    v->pretok = pretok_new(v->pre, err);
    return v->pretok ? 0 : -1;
}

static void build_spm_byte_tokens(kumo_vocab *v) {
    for (int b = 0; b < 256; b++) {
        char hex[8];
        snprintf(hex, sizeof hex, "<0x%02X>", b);
        int32_t id = vocab_find_cstr(v, hex);
        if (id < 0) {
            char one = (char)b;
            id = vocab_find(v, &one, 1);
        }
        v->byte_token[b] = id;
    }
}

/* ---------------------------------------------------------------- load */

void vocab_free(kumo_vocab *v) {
    if (!v) return;
    free(v->model);
    free(v->pre);
    free(v->tok);
    free(v->pool);
    free(v->index);
    free(v->index_hash);
    free(v->eog);
    free(v->merge_key);
    free(v->merge_rank);
    free(v->merge_result);
    free(v->spm_pair);
    pretok_free(v->pretok);
    wpm_classifier_free(v->wpm);
    special_set_free(v->special);
    free(v);
}

static char *dup_view(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

static int load_tokens(kumo_vocab *v, const gguf_ctx *g, kumo_error *err) {
    int status;
    const gguf_value *tokens = meta_token_array(g, KEY_PREFIX "tokens", -1, false, &status, err);
    if (status < 0) return -1;
    if (!tokens) {
        kumo_err(err, KUMO_E_FORMAT, KEY_PREFIX "tokens missing");
        return -1;
    }
    if (tokens->v.arr.n == 0 || tokens->v.arr.n > (uint64_t)INT32_MAX / 4) {
        kumo_err(err, KUMO_E_FORMAT, KEY_PREFIX "tokens: %llu entries (expected 1..%d)",
                 (unsigned long long)tokens->v.arr.n, INT32_MAX / 4);
        return -1;
    }
    v->n_tokens = (int32_t)tokens->v.arr.n;
    const gguf_value *scores = meta_token_array(g, KEY_PREFIX "scores", v->n_tokens, true, &status, err);
    if (status < 0) return -1;
    const gguf_value *types = meta_token_array(g, KEY_PREFIX "token_type", v->n_tokens, true, &status, err);
    if (status < 0) return -1;

    size_t pool_size = 0;
    for (int32_t i = 0; i < v->n_tokens; i++) {
        uint64_t n = tokens->v.arr.strs[i].len;
        if (n > UINT32_MAX / 2) {
            kumo_err(err, KUMO_E_FORMAT, KEY_PREFIX "tokens[%d]: %llu bytes is too long", i,
                     (unsigned long long)n);
            return -1;
        }
        pool_size += (n ? n : 24) + 1; /* empty -> "[EMPTY_<id>]" */
    }
    v->tok = calloc((size_t)(uint32_t)v->n_tokens, sizeof *v->tok);
    v->pool = malloc(pool_size);
    if (!v->tok || !v->pool) {
        kumo_err(err, KUMO_E_NOMEM, "out of memory for %d tokens", v->n_tokens);
        return -1;
    }
    char *p = v->pool;
    for (int32_t i = 0; i < v->n_tokens; i++) {
        const gguf_str *s = &tokens->v.arr.strs[i];
        vocab_entry *t = &v->tok[i];
        t->text = p;
        if (s->len) {
            memcpy(p, s->data, s->len);
            t->len = (uint32_t)s->len;
        } else {
            /* llama.cpp renames empty tokens so every text stays unique and non-empty */
            t->len = (uint32_t)snprintf(p, 24, "[EMPTY_%d]", i);
        }
        p[t->len] = 0;
        p += t->len + 1;
        if (t->len > v->max_token_len) v->max_token_len = t->len;
        t->score = scores ? (float)gguf_arr_f64(scores, (uint64_t)i) : 0.0f;
        int64_t ty = types ? gguf_arr_i64(types, (uint64_t)i) : VOCAB_TOKEN_NORMAL;
        t->type = ty >= VOCAB_TOKEN_UNDEFINED && ty <= VOCAB_TOKEN_BYTE ? (uint8_t)ty
                                                                         : VOCAB_TOKEN_UNDEFINED;
    }
    return 0;
}

static int load_flags_and_ids(kumo_vocab *v, const gguf_ctx *g, kumo_error *err) {
    struct { const char *key; int32_t *id; } ids[] = {
        {KEY_PREFIX "bos_token_id", &v->bos},         {KEY_PREFIX "eos_token_id", &v->eos},
        {KEY_PREFIX "eot_token_id", &v->eot},         {KEY_PREFIX "eom_token_id", &v->eom},
        {KEY_PREFIX "unknown_token_id", &v->unk},     {KEY_PREFIX "seperator_token_id", &v->sep},
        {KEY_PREFIX "padding_token_id", &v->pad},     {KEY_PREFIX "mask_token_id", &v->mask},
        {KEY_PREFIX "fim_pre_token_id", &v->fim_pre}, {KEY_PREFIX "fim_suf_token_id", &v->fim_suf},
        {KEY_PREFIX "fim_mid_token_id", &v->fim_mid}, {KEY_PREFIX "fim_pad_token_id", &v->fim_pad},
        {KEY_PREFIX "fim_rep_token_id", &v->fim_rep}, {KEY_PREFIX "fim_sep_token_id", &v->fim_sep},
        /* deprecated spellings */
        {KEY_PREFIX "prefix_token_id", &v->fim_pre},  {KEY_PREFIX "suffix_token_id", &v->fim_suf},
        {KEY_PREFIX "middle_token_id", &v->fim_mid},
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (meta_token_id(g, ids[i].key, v->n_tokens, ids[i].id, err) < 0) return -1;

    struct { const char *key; bool *flag; } flags[] = {
        {KEY_PREFIX "add_bos_token", &v->add_bos},
        {KEY_PREFIX "add_eos_token", &v->add_eos},
        {KEY_PREFIX "add_sep_token", &v->add_sep},
        {KEY_PREFIX "add_space_prefix", &v->add_space_prefix},
    };
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (meta_bool(g, flags[i].key, flags[i].flag, err) < 0) return -1;
    return 0;
}

/* Defaults llama.cpp assumes per tokenizer type before reading the keys. */
static void set_defaults(kumo_vocab *v, const pretok_info *pre) {
    int32_t *all[] = {&v->bos, &v->eos, &v->eot, &v->eom, &v->unk, &v->sep, &v->pad, &v->mask,
                      &v->fim_pre, &v->fim_suf, &v->fim_mid, &v->fim_pad, &v->fim_rep, &v->fim_sep};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) *all[i] = -1;
    switch (v->kind) {
    case VOCAB_KIND_SPM:
        v->bos = 1, v->eos = 2, v->unk = 0;
        v->add_space_prefix = true;
        v->add_bos = true;
        v->clean_spaces = false;
        break;
    case VOCAB_KIND_BPE:
        v->bos = pre->no_bos ? -1 : 11;
        v->eos = 11;
        v->add_bos = pre->add_bos;
        v->add_sep = pre->add_sep;
        v->ignore_merges = pre->ignore_merges;
        v->clean_spaces = pre->clean_spaces;
        break;
    case VOCAB_KIND_WPM:
        v->bos = 101, v->unk = 100, v->sep = 102, v->pad = 0, v->mask = 103;
        v->add_bos = true;
        v->add_sep = true;
        v->clean_spaces = true;
        break;
    }
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (*all[i] >= v->n_tokens) *all[i] = -1;
}

kumo_vocab *vocab_load(const gguf_ctx *g, kumo_error *err) {
    if (!g) {
        kumo_err(err, KUMO_E_INVALID, "vocab_load: no GGUF context");
        return NULL;
    }
    gguf_str model, pre = {0, ""}, name = {0, ""};
    int st = meta_str(g, KEY_PREFIX "model", &model, err);
    if (st < 0) return NULL;
    if (st == 0) {
        kumo_err(err, KUMO_E_FORMAT, KEY_PREFIX "model missing: the file has no tokenizer");
        return NULL;
    }
    if (meta_str(g, KEY_PREFIX "pre", &pre, err) < 0) return NULL;
    if (meta_str(g, "general.name", &name, err) < 0) return NULL;

    kumo_vocab *v = calloc(1, sizeof *v);
    if (!v) {
        kumo_err(err, KUMO_E_NOMEM, "out of memory for the vocab");
        return NULL;
    }
    v->model = dup_view(model.data, model.len);
    v->pre = dup_view(pre.data, pre.len);
    char *general_name = dup_view(name.data, name.len);
    if (!v->model || !v->pre || !general_name) {
        kumo_err(err, KUMO_E_NOMEM, "out of memory for the vocab");
        goto fail;
    }
    if (strcmp(v->model, "llama") == 0) {
        v->kind = VOCAB_KIND_SPM;
    } else if (strcmp(v->model, "gpt2") == 0) {
        v->kind = VOCAB_KIND_BPE;
    } else if (strcmp(v->model, "bert") == 0) {
        v->kind = VOCAB_KIND_WPM;
    } else {
        kumo_err(err, KUMO_E_UNSUPPORTED,
                 KEY_PREFIX "model '%s' is not supported (supported: llama, gpt2, bert)", v->model);
        goto fail;
    }

    pretok_info pre_info = pretok_lookup(v->kind == VOCAB_KIND_BPE ? v->pre : "default");
    if (load_tokens(v, g, err) < 0) goto fail;
    if (build_index(v) < 0) {
        kumo_err(err, KUMO_E_NOMEM, "out of memory for the token index");
        goto fail;
    }
    set_defaults(v, &pre_info);
    if (load_flags_and_ids(v, g, err) < 0) goto fail;
    if (vocab_resolve_special(v) < 0) {
        kumo_err(err, KUMO_E_NOMEM, "out of memory for the special tokens");
        goto fail;
    }
    vocab_set_strip_attributes(v, general_name);

    if (v->kind == VOCAB_KIND_BPE) {
        if (!pre_info.known)
            fprintf(stderr, "kumo: warning: %s pre-tokenizer '%s', using llama.cpp's 'default' "
                            "split regexes; tokenization may differ from the model's\n",
                    v->pre[0] ? "unknown" : "missing", v->pre);
        if (build_bpe_tables(v, g, err) < 0) goto fail;
    } else if (v->kind == VOCAB_KIND_WPM) {
        if (!(v->wpm = wpm_classifier_new(err))) goto fail;
    } else {
        build_spm_byte_tokens(v);
        if (spm_build_pair_index(v) < 0) {
            kumo_err(err, KUMO_E_NOMEM, "out of memory for the SentencePiece pair index");
            goto fail;
        }
    }
    v->special = special_set_build(v);
    if (!v->special) {
        kumo_err(err, KUMO_E_NOMEM, "out of memory for the special-token matcher");
        goto fail;
    }
    free(general_name);
    return v;
fail:
    free(general_name);
    vocab_free(v);
    return NULL;
}

/* ---------------------------------------------------------------- accessors */

int vocab_n_tokens(const kumo_vocab *v) { return v ? v->n_tokens : 0; }
const char *vocab_model_name(const kumo_vocab *v) { return v ? v->model : ""; }
const char *vocab_pre_name(const kumo_vocab *v) { return v ? v->pre : ""; }
int32_t vocab_bos(const kumo_vocab *v) { return v ? v->bos : -1; }
int32_t vocab_eos(const kumo_vocab *v) { return v ? v->eos : -1; }
int32_t vocab_eot(const kumo_vocab *v) { return v ? v->eot : -1; }
int32_t vocab_unk(const kumo_vocab *v) { return v ? v->unk : -1; }
int32_t vocab_pad(const kumo_vocab *v) { return v ? v->pad : -1; }
int32_t vocab_sep(const kumo_vocab *v) { return v ? v->sep : -1; }
bool vocab_add_bos(const kumo_vocab *v) { return v && v->add_bos && v->bos >= 0; }
bool vocab_add_eos(const kumo_vocab *v) { return v && v->add_eos && v->eos >= 0; }
bool vocab_add_space_prefix(const kumo_vocab *v) { return v && v->add_space_prefix; }
bool vocab_clean_spaces(const kumo_vocab *v) { return v && v->clean_spaces; }

bool vocab_is_eog(const kumo_vocab *v, int32_t t) {
    if (!v || t < 0) return false;
    int lo = 0, hi = v->n_eog - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (v->eog[mid] == t) return true;
        if (v->eog[mid] < t) lo = mid + 1;
        else hi = mid - 1;
    }
    return false;
}

enum vocab_token_type vocab_token_type(const kumo_vocab *v, int32_t t) {
    if (!v || t < 0 || t >= v->n_tokens) return VOCAB_TOKEN_UNDEFINED;
    return (enum vocab_token_type)v->tok[t].type;
}

const char *vocab_token_text(const kumo_vocab *v, int32_t t) {
    if (!v || t < 0 || t >= v->n_tokens) return NULL;
    return v->tok[t].text;
}

float vocab_token_score(const kumo_vocab *v, int32_t t) {
    if (!v || t < 0 || t >= v->n_tokens) return 0.0f;
    return v->tok[t].score;
}

