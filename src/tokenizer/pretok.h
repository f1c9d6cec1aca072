/* Byte-level BPE pre-tokenizers: the split regexes llama.cpp applies for each tokenizer.ggml.pre
 * value, compiled once per vocab with PCRE2 (UTF + Unicode properties, JIT when available).
 *
 * A pre-tokenizer is a list of regexes applied in turn, each one refining the pieces the previous
 * one produced: within a piece, every match becomes a piece and so does every stretch of text
 * between matches (nothing is dropped). A regex never looks outside the piece it is applied to. */
#ifndef KUMO_TOKENIZER_PRETOK_H
#define KUMO_TOKENIZER_PRETOK_H

#include <stdbool.h>
#include <stddef.h>

#include "kumo.h"

typedef struct pretok pretok;

/* Per-pre-tokenizer behaviour that llama.cpp ties to the same name. */
typedef struct pretok_info {
    const char *kind;    /* canonical family name, e.g. "llama3", "qwen2", "default" */
    bool known;          /* false: name unrecognised, the default regex set is used */
    bool ignore_merges;  /* a whole word that is a token is emitted without merging */
    bool add_bos;        /* default for add_bos when tokenizer.ggml.add_bos_token is absent */
    bool clean_spaces;   /* HF clean_up_tokenization_spaces default */
    bool no_bos;         /* the family has no BOS token */
    bool add_sep;
} pretok_info;

/* Describes the pre-tokenizer for a tokenizer.ggml.pre value ("" or NULL: missing). */
pretok_info pretok_lookup(const char *pre);

/* Compiles the regexes of the family pretok_lookup(pre) chose. */
pretok *pretok_new(const char *pre, kumo_error *err);
void pretok_free(pretok *p);

/* Called for each final piece text[off..off+len), in order, len > 0. Non-zero return stops. */
typedef int (*pretok_piece_fn)(void *ud, size_t off, size_t len);

/* Splits text[0..len), which must be valid UTF-8. Returns 0, the callback's non-zero value, or -1
 * on an allocation/matching failure. */
int pretok_split(const pretok *p, const char *text, size_t len, pretok_piece_fn fn, void *ud);

#endif
