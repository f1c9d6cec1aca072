/* Tokenizers: the vocabulary and special tokens read from GGUF metadata (tokenizer.ggml.*), and the
 * algorithms that turn text into token ids and back. One vocab type per tokenizer.ggml.model value:
 * "llama" (SentencePiece, score-driven merges with byte fallback) and "gpt2" (byte-level BPE with a
 * pre-tokenizer chosen by tokenizer.ggml.pre). Behaviour follows llama.cpp (its test vectors are the
 * reference); where it differs, tokenizer/README.md says how.
 *
 * A loaded vocab is immutable: any number of threads may use it at once. */
#ifndef KUMO_TOKENIZER_TOKENIZER_H
#define KUMO_TOKENIZER_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/gguf.h"
#include "kumo.h"

/* Token attributes, as tokenizer.ggml.token_type stores them. */
enum vocab_token_type {
    VOCAB_TOKEN_UNDEFINED = 0,
    VOCAB_TOKEN_NORMAL = 1,
    VOCAB_TOKEN_UNKNOWN = 2,
    VOCAB_TOKEN_CONTROL = 3,
    VOCAB_TOKEN_USER_DEFINED = 4,
    VOCAB_TOKEN_UNUSED = 5,
    VOCAB_TOKEN_BYTE = 6,
};

typedef struct kumo_vocab kumo_vocab;

/* Builds the vocab from a GGUF's tokenizer.* keys. The vocab copies what it needs, so the gguf
 * context may be closed afterwards. Errors name the key (missing tokens, mismatched array lengths,
 * unknown tokenizer model → KUMO_E_UNSUPPORTED). */
kumo_vocab *vocab_load(const gguf_ctx *g, kumo_error *err);
void vocab_free(kumo_vocab *v);

int vocab_n_tokens(const kumo_vocab *v);
const char *vocab_model_name(const kumo_vocab *v);      /* "llama", "gpt2" */
const char *vocab_pre_name(const kumo_vocab *v);        /* tokenizer.ggml.pre or "" */
int32_t vocab_bos(const kumo_vocab *v);                 /* -1 if none */
int32_t vocab_eos(const kumo_vocab *v);
int32_t vocab_eot(const kumo_vocab *v);
int32_t vocab_unk(const kumo_vocab *v);
int32_t vocab_pad(const kumo_vocab *v);
int32_t vocab_sep(const kumo_vocab *v);
bool vocab_add_bos(const kumo_vocab *v);
bool vocab_add_eos(const kumo_vocab *v);
bool vocab_add_space_prefix(const kumo_vocab *v); /* SPM: a space is put before the text */
bool vocab_clean_spaces(const kumo_vocab *v);     /* HF clean_up_tokenization_spaces */
/* End of generation: EOS, EOT, EOM, FIM pad/repo/file-sep, and tokens whose text marks the end of
 * a turn (<|eot_id|>, <|im_end|>, <|endoftext|>, <end_of_turn>, ...), as llama.cpp decides it. */
bool vocab_is_eog(const kumo_vocab *v, int32_t t);
/* The type after load-time fixes: text-detected end-of-turn and FIM tokens are CONTROL. */
enum vocab_token_type vocab_token_type(const kumo_vocab *v, int32_t t);
const char *vocab_token_text(const kumo_vocab *v, int32_t t); /* raw vocab string, NUL-terminated */
float vocab_token_score(const kumo_vocab *v, int32_t t);

/* Same contract as kumo_tokenize / kumo_token_to_piece in kumo.h. Without parse_special, CONTROL
 * token texts are tokenized as plain text; USER_DEFINED tokens are matched either way. Any bytes
 * are accepted: malformed UTF-8 goes through SPM byte fallback, or becomes U+FFFD in BPE. */
int vocab_tokenize(const kumo_vocab *v, const char *text, size_t len, int32_t *out, int cap,
                   bool add_special, bool parse_special);
int vocab_token_to_piece(const kumo_vocab *v, int32_t t, char *buf, int cap, bool special);

/* Text of a token sequence (no NUL written), as llama.cpp's detokenize: with remove_special, a
 * leading BOS / trailing EOS the vocab adds is dropped; unparse_special renders control tokens;
 * for SPM (add_space_prefix) the first piece loses one leading space, unless a BOS was dropped
 * before it. clean: apply HF clean_up_tokenization_spaces when the vocab asks for it
 * (vocab_clean_spaces). Returns the byte count, -(needed) when cap is too small, INT32_MIN on a
 * bad argument. */
int vocab_detokenize(const kumo_vocab *v, const int32_t *ids, int n_ids, char *buf, int cap,
                     bool remove_special, bool unparse_special, bool clean);

#endif
