/* The vocab's internal layout, shared by the tokenizer modules (vocab.c loads it; spm.c, bpe.c,
 * wpm.c and special.c read it). Nothing here is part of the public API. A loaded vocab is never
 * modified, so any number of threads may tokenize with it at once; every tokenize call keeps its
 * working state in its own allocations. */
#ifndef KUMO_TOKENIZER_VOCAB_INTERNAL_H
#define KUMO_TOKENIZER_VOCAB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer/pretok.h"
#include "tokenizer/tokenizer.h"

enum vocab_kind { VOCAB_KIND_SPM, VOCAB_KIND_BPE, VOCAB_KIND_WPM };

/* Whitespace next to a special token is dropped when the token is matched in text (llama.cpp sets
 * these per model family; the GGUF has no field for them). */
enum { TOKEN_LSTRIP = 1, TOKEN_RSTRIP = 2 };

typedef struct vocab_entry {
    const char *text; /* NUL-terminated, inside kumo_vocab.pool */
    uint32_t len;
    float score;
    uint8_t type;  /* enum vocab_token_type, after the load-time overrides */
    uint8_t strip; /* TOKEN_LSTRIP | TOKEN_RSTRIP */
} vocab_entry;

typedef struct special_set special_set;
typedef struct wpm_classifier wpm_classifier;

struct kumo_vocab {
    enum vocab_kind kind;
    char *model; /* tokenizer.ggml.model */
    char *pre;   /* tokenizer.ggml.pre or "" */

    int32_t n_tokens;
    vocab_entry *tok;
    char *pool;
    uint32_t max_token_len;

    /* text -> id: open addressing, slot holds id or -1 */
    int32_t *index;
    uint32_t *index_hash;
    uint32_t index_mask;

    /* special ids, -1 = none */
    int32_t bos, eos, eot, eom, unk, sep, pad, mask;
    int32_t fim_pre, fim_suf, fim_mid, fim_pad, fim_rep, fim_sep;
    bool add_bos, add_eos, add_sep, add_space_prefix, ignore_merges, clean_spaces;

    int32_t *eog; /* end-of-generation ids, sorted */
    int n_eog;

    /* SPM: id of "<0xXX>" (or the one-byte token), BPE: id of the byte's GPT-2 character; -1 none */
    int32_t byte_token[256];

    /* BPE merges: key (left id << 32 | right id) -> rank; merge_result[rank] = merged id */
    uint64_t *merge_key;
    int32_t *merge_rank;
    uint32_t merge_mask;
    int32_t *merge_result;
    int32_t n_merges;
    /* GPT-2 byte-level decoding: code point (< 0x144) -> byte, -1 if not a byte character */
    int16_t cp_to_byte[0x144];

    /* SPM: character pairs (code point << 32 | next code point) that occur inside some token; a
     * boundary between any other two characters can never be merged across */
    uint64_t *spm_pair;
    uint32_t spm_pair_mask;

    pretok *pretok;          /* BPE */
    wpm_classifier *wpm;     /* WordPiece */
    special_set *special;
};

/* Looks text[0..len) up; returns its id or -1. */
int32_t vocab_find(const kumo_vocab *v, const char *text, size_t len);
int32_t vocab_find_cstr(const kumo_vocab *v, const char *text);

/* vocab_special.c: run after the ids and flags are read. 0, or -1 on allocation failure. */
int vocab_resolve_special(kumo_vocab *v);
void vocab_set_strip_attributes(kumo_vocab *v, const char *general_name);

/* ---- BPE merge table: (left id, right id) -> rank ---- */
#define MERGE_EMPTY UINT64_MAX

static inline uint64_t merge_key_of(int32_t left, int32_t right) {
    return ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
}

static inline uint32_t merge_slot(uint64_t key, uint32_t mask) {
    return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

/* Rank of merging left+right, or -1 if the vocab has no such merge. */
static inline int32_t vocab_merge_rank(const kumo_vocab *v, int32_t left, int32_t right) {
    uint64_t key = merge_key_of(left, right);
    for (uint32_t h = merge_slot(key, v->merge_mask);; h = (h + 1) & v->merge_mask) {
        if (v->merge_key[h] == key) return v->merge_rank[h];
        if (v->merge_key[h] == MERGE_EMPTY) return -1;
    }
}

/* Growable list of token ids. Pushes after an allocation failure are dropped and remembered. */
typedef struct tokbuf {
    int32_t *ids;
    size_t n, cap;
    bool failed;
} tokbuf;

bool tokbuf_push(tokbuf *b, int32_t id);

/* One piece of the input after special-token matching: raw text, or one special token. */
typedef struct fragment {
    size_t off, len;
    int32_t token; /* >= 0: a special token (off/len is its place in the text); -1: raw text */
} fragment;

typedef struct fragbuf {
    fragment *f;
    size_t n, cap;
} fragbuf;

/* special.c */
special_set *special_set_build(const kumo_vocab *v);
void special_set_free(special_set *s);
/* Splits text into raw fragments and special tokens, longest token first (as llama.cpp's
 * tokenizer_st_partition does). Without parse_special only USER_DEFINED tokens are matched.
 * Returns 0, or -1 on allocation failure. */
int special_partition(const kumo_vocab *v, const char *text, size_t len, bool parse_special,
                      fragbuf *out);

/* spm.c: SentencePiece on one raw fragment (prefix_space: prepend ' ' first). 0 or -1 (OOM). */
int spm_tokenize(const kumo_vocab *v, const char *text, size_t len, bool prefix_space, tokbuf *out);
/* spm.c: builds v->spm_pair from the token texts. 0 or -1 (OOM). */
int spm_build_pair_index(kumo_vocab *v);
/* bpe.c: byte-level BPE on one raw fragment. 0 or -1 (OOM / internal error). */
int bpe_tokenize(const kumo_vocab *v, const char *text, size_t len, tokbuf *out);
/* wpm.c: WordPiece on one raw fragment. 0 or -1. */
int wpm_tokenize(const kumo_vocab *v, const char *text, size_t len, tokbuf *out);
wpm_classifier *wpm_classifier_new(kumo_error *err);
void wpm_classifier_free(wpm_classifier *c);

#endif
