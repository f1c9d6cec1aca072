/* WordPiece (tokenizer.ggml.model = "bert") on one raw fragment, as llama.cpp does it:
 *  - normalise per code point: keep only the base of its canonical decomposition (drops accents),
 *    lowercase it, drop control characters, U+0000 and U+FFFD (malformed UTF-8 becomes U+FFFD);
 *  - split into words at whitespace; punctuation, ASCII symbols and CJK ideographs are words of
 *    their own;
 *  - each word, prefixed with ▁ (the GGUF conversion writes word-initial pieces with ▁ and drops
 *    the "##" of continuations), is covered greedily by the longest vocab entries from the left;
 *    a word that cannot be covered completely becomes the unknown token.
 * Character classes come from PCRE2 (\s, \p{C}, \p{P}, \p{S}); the decomposition and lowercase
 * maps from the generated tables. */
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "tokenizer/unicode_tables.h"
#include "tokenizer/utf8.h"
#include "tokenizer/vocab_internal.h"
#include "util/err.h"

enum char_class { CLASS_OTHER, CLASS_SPACE, CLASS_CONTROL, CLASS_PUNCT, CLASS_SYMBOL };

struct wpm_classifier {
    pcre2_code *code;
    uint8_t ascii[128];
};

/* md: match data with room for the four groups (one per tokenize call). */
static enum char_class classify_slow(const wpm_classifier *c, uint32_t cp, pcre2_match_data *md) {
    char buf[4];
    size_t n = utf8_encode(cp, buf);
    int rc = pcre2_match(c->code, (PCRE2_SPTR)buf, n, 0, PCRE2_ANCHORED | PCRE2_NO_UTF_CHECK, md, NULL);
    return rc > 1 ? (enum char_class)(rc - 1) : CLASS_OTHER; /* rc - 1: the group that matched */
}

static enum char_class classify(const wpm_classifier *c, uint32_t cp, pcre2_match_data *md) {
    return cp < 128 ? (enum char_class)c->ascii[cp] : classify_slow(c, cp, md);
}

wpm_classifier *wpm_classifier_new(kumo_error *err) {
    wpm_classifier *c = calloc(1, sizeof *c);
    if (!c) {
        kumo_err(err, KUMO_E_NOMEM, "out of memory for the WordPiece classifier");
        return NULL;
    }
    int ec;
    PCRE2_SIZE eoff;
    /* group order = enum order; \s first: tab and newline are whitespace, not control */
    c->code = pcre2_compile((PCRE2_SPTR) "(\\s)|(\\p{C})|(\\p{P})|(\\p{S})", PCRE2_ZERO_TERMINATED,
                            PCRE2_UTF | PCRE2_UCP, &ec, &eoff, NULL);
    if (!c->code) {
        kumo_err(err, KUMO_E_UNSUPPORTED, "WordPiece: character-class regex does not compile");
        free(c);
        return NULL;
    }
    (void)pcre2_jit_compile(c->code, PCRE2_JIT_COMPLETE);
    pcre2_match_data *md = pcre2_match_data_create(5, NULL);
    if (!md) {
        kumo_err(err, KUMO_E_NOMEM, "out of memory for the WordPiece classifier");
        wpm_classifier_free(c);
        return NULL;
    }
    for (uint32_t cp = 0; cp < 128; cp++) c->ascii[cp] = (uint8_t)classify_slow(c, cp, md);
    pcre2_match_data_free(md);
    return c;
}

void wpm_classifier_free(wpm_classifier *c) {
    if (!c) return;
    pcre2_code_free(c->code);
    free(c);
}

/* CJK ideograph blocks BERT isolates (the upper bound 0x2CEAF is HF's, not 0x2B81F + ...). */
static bool is_cjk_ideograph(uint32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

typedef struct word_buf {
    char *b;
    size_t n, cap;
    bool failed;
} word_buf;

static void word_put(word_buf *w, const char *s, size_t n) {
    if (w->failed) return;
    if (w->n + n > w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        while (cap < w->n + n) cap *= 2;
        char *b = realloc(w->b, cap);
        if (!b) {
            w->failed = true;
            return;
        }
        w->b = b;
        w->cap = cap;
    }
    memcpy(w->b + w->n, s, n);
    w->n += n;
}

static const char PHANTOM_SPACE[] = "\xE2\x96\x81"; /* ▁ */

/* Covers w (▁ + word) greedily by longest matches; all or nothing, else the unknown token. */
static void emit_word(const kumo_vocab *v, word_buf *w, tokbuf *out) {
    if (w->n <= 3) return; /* just the ▁: no word */
    size_t start = out->n;
    for (size_t i = 0; i < w->n;) {
        size_t hi = w->n - i < v->max_token_len ? w->n : i + v->max_token_len;
        int32_t id = -1;
        size_t j = hi;
        for (; j > i; j--)
            if ((id = vocab_find(v, w->b + i, j - i)) >= 0) break;
        if (id < 0) {
            out->n = start;
            break;
        }
        tokbuf_push(out, id);
        i = j;
    }
    if (out->n == start && v->unk >= 0) tokbuf_push(out, v->unk);
    w->n = 0;
    word_put(w, PHANTOM_SPACE, 3);
}

int wpm_tokenize(const kumo_vocab *v, const char *text, size_t len, tokbuf *out) {
    const unsigned char *t = (const unsigned char *)text;
    pcre2_match_data *md = pcre2_match_data_create(5, NULL);
    if (!md) return -1;
    word_buf w = {0};
    word_put(&w, PHANTOM_SPACE, 3);
    for (size_t i = 0; i < len && !w.failed && !out->failed;) {
        uint32_t cp;
        size_t n = utf8_decode(t + i, len - i, &cp);
        if (n == 0) {
            cp = 0xFFFD;
            n = 1;
        }
        i += n;
        uint32_t base = unicode_nfd_base(cp);
        enum char_class cls = classify(v->wpm, base, md);
        if (cls == CLASS_SPACE) {
            emit_word(v, &w, out);
            continue;
        }
        if (base == 0 || base == 0xFFFD || cls == CLASS_CONTROL) continue;
        char enc[4];
        size_t k = utf8_encode(unicode_to_lower(base), enc);
        if (cls == CLASS_PUNCT || (base < 0x7F && cls == CLASS_SYMBOL) || is_cjk_ideograph(base)) {
            emit_word(v, &w, out);
            word_put(&w, enc, k);
            emit_word(v, &w, out);
        } else {
            word_put(&w, enc, k);
        }
    }
    emit_word(v, &w, out);
    bool failed = w.failed;
    free(w.b);
    pcre2_match_data_free(md);
    return failed ? -1 : 0;
}
