/* Text <-> ids for a loaded vocab: vocab_tokenize (special-token partition, then the vocab's
 * tokenizer per raw fragment), token pieces and detokenization. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"
#include "tokenizer/vocab_internal.h"

bool tokbuf_push(tokbuf *b, int32_t id) {
    if (b->failed) return false;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        int32_t *ids = realloc(b->ids, cap * sizeof *ids);
        if (!ids) {
            b->failed = true;
            return false;
        }
        b->ids = ids;
        b->cap = cap;
    }
    b->ids[b->n++] = id;
    return true;
}

int vocab_tokenize(const kumo_vocab *v, const char *text, size_t len, int32_t *out, int cap,
                   bool add_special, bool parse_special) {
    if (!v || (!text && len) || cap < 0 || (!out && cap > 0)) return INT32_MIN;
    tokbuf tb = {0};
    fragbuf fb = {0};
    int rc = 0;
    if (len > 0 && special_partition(v, text, len, parse_special, &fb) < 0) rc = -1;

    if (rc == 0 && add_special && v->add_bos && v->bos >= 0) tokbuf_push(&tb, v->bos);
    bool prev_special = true; /* SPM: the first fragment gets the space prefix */
    for (size_t i = 0; rc == 0 && i < fb.n; i++) {
        const fragment *f = &fb.f[i];
        if (f->token >= 0) {
            tokbuf_push(&tb, f->token);
            prev_special = true;
            continue;
        }
        switch (v->kind) {
        case VOCAB_KIND_SPM:
            rc = spm_tokenize(v, text + f->off, f->len, v->add_space_prefix && prev_special, &tb);
            break;
        case VOCAB_KIND_BPE: rc = bpe_tokenize(v, text + f->off, f->len, &tb); break;
        case VOCAB_KIND_WPM: rc = wpm_tokenize(v, text + f->off, f->len, &tb); break;
        }
        prev_special = false;
    }
    if (rc == 0 && add_special) {
        if (v->add_eos && v->eos >= 0) tokbuf_push(&tb, v->eos);
        if (v->kind == VOCAB_KIND_WPM && v->add_sep && v->sep >= 0) tokbuf_push(&tb, v->sep);
    }
    free(fb.f);
    if (rc != 0 || tb.failed || tb.n > (size_t)INT32_MAX) {
        free(tb.ids);
        return INT32_MIN;
    }
    int n = (int)tb.n;
    if (n > cap) {
        free(tb.ids);
        return -n;
    }
    if (n) memcpy(out, tb.ids, (size_t)n * sizeof *out);
    free(tb.ids);
    return n;
}

/* ---------------------------------------------------------------- pieces */

/* Collects a piece's bytes into the caller's buffer while counting them, so a piece is decoded
 * once whether or not it fits. lstrip: a leading space is dropped. */
typedef struct piece_out {
    char *buf;
    size_t cap, n;
    bool lstrip;
} piece_out;

static void put_byte(piece_out *o, char c) {
    if (o->lstrip) {
        o->lstrip = false;
        if (c == ' ') return;
    }
    if (o->n < o->cap) o->buf[o->n] = c;
    o->n++;
}

static void put_bytes(piece_out *o, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) put_byte(o, s[i]);
}

static int piece_result(const piece_out *o) {
    if (o->n > (size_t)INT32_MAX) return 0;
    return o->n <= o->cap ? (int)o->n : -(int)o->n;
}

/* SPM/WPM normal tokens: ▁ (U+2581) stands for a space. */
static void put_spm_text(piece_out *o, const vocab_entry *t) {
    for (uint32_t i = 0; i < t->len;) {
        if (i + 3 <= t->len && memcmp(t->text + i, "\xE2\x96\x81", 3) == 0) {
            put_byte(o, ' ');
            i += 3;
        } else {
            put_byte(o, t->text[i++]);
        }
    }
}

/* BPE normal tokens: GPT-2 byte characters stand for bytes. A character outside the byte map
 * (only in malformed vocabs) is copied as is. */
static void put_bpe_text(piece_out *o, const kumo_vocab *v, const vocab_entry *t) {
    const unsigned char *s = (const unsigned char *)t->text;
    for (uint32_t i = 0; i < t->len;) {
        uint32_t cp;
        size_t k = utf8_decode(s + i, t->len - i, &cp);
        if (k && cp < 0x144 && v->cp_to_byte[cp] >= 0) {
            put_byte(o, (char)v->cp_to_byte[cp]);
        } else {
            k = k ? k : 1;
            put_bytes(o, t->text + i, k);
        }
        i += (uint32_t)k;
    }
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static int token_piece(const kumo_vocab *v, int32_t t, char *buf, int cap, bool special, bool lstrip) {
    if (!v || t < 0 || t >= v->n_tokens || cap < 0 || (!buf && cap > 0)) return 0;
    const vocab_entry *e = &v->tok[t];
    piece_out o = {buf, (size_t)cap, 0, lstrip};
    bool is_special = e->type == VOCAB_TOKEN_CONTROL || e->type == VOCAB_TOKEN_UNKNOWN;
    if (is_special && !special) return 0;
    if (is_special || e->type == VOCAB_TOKEN_USER_DEFINED) {
        put_bytes(&o, e->text, e->len);
    } else if (e->type == VOCAB_TOKEN_NORMAL) {
        if (v->kind == VOCAB_KIND_BPE) put_bpe_text(&o, v, e);
        else put_spm_text(&o, e);
    } else if (e->type == VOCAB_TOKEN_BYTE && v->kind == VOCAB_KIND_SPM && e->len == 6 &&
               memcmp(e->text, "<0x", 3) == 0 && e->text[5] == '>') {
        int hi = hex_digit(e->text[3]), lo = hex_digit(e->text[4]);
        if (hi >= 0 && lo >= 0) put_byte(&o, (char)(hi * 16 + lo));
    }
    /* UNUSED / UNDEFINED tokens, and byte tokens outside SPM, render as nothing (llama.cpp) */
    return piece_result(&o);
}

int vocab_token_to_piece(const kumo_vocab *v, int32_t t, char *buf, int cap, bool special) {
    return token_piece(v, t, buf, cap, special, false);
}

/* HF clean_up_tokenization_spaces, as llama.cpp applies it: " ?" " !" " ." " ," lose the space,
 * " ' " loses both spaces, " 's" " 'm" " 're" " 've" lose the space. Returns the new length. */
static size_t clean_spaces(char *s, size_t n) {
    size_t o = n ? 1 : 0;
    for (size_t i = 1; i < n; i++) {
        char x = s[i];
        if (s[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) o--;
        s[o++] = x;
    }
    n = o;
    o = n ? 1 : 0;
    for (size_t i = 1; i < n; i++) {
        char x = s[i];
        if (x == '\'' && i + 1 < n && s[i - 1] == ' ' && s[i + 1] == ' ') {
            o--;
            s[o++] = x;
            i++; /* drop the following space */
            continue;
        }
        s[o++] = x;
    }
    n = o;
    o = n ? 1 : 0;
    for (size_t i = 1; i < n; i++) {
        char x = s[i];
        if (s[i - 1] == ' ' && x == '\'' && i + 1 < n) {
            char x1 = s[i + 1], x2 = i + 2 < n ? s[i + 2] : 0;
            if (x1 == 's' || x1 == 'm' || (x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) o--;
        }
        s[o++] = x;
    }
    return o;
}

int vocab_detokenize(const kumo_vocab *v, const int32_t *ids, int n_ids, char *buf, int cap,
                     bool remove_special, bool unparse_special, bool clean) {
    if (!v || n_ids < 0 || (!ids && n_ids > 0) || cap < 0 || (!buf && cap > 0)) return INT32_MIN;
    /* SPM adds a space before the first word; the first piece gives it back */
    bool remove_space = v->add_space_prefix;
    if (remove_special && v->add_bos && n_ids > 0 && ids[0] == v->bos) {
        remove_space = false;
        ids++;
        n_ids--;
    }
    if (remove_special && v->add_eos && n_ids > 0 && ids[n_ids - 1] == v->eos) n_ids--;

    int64_t total = 0;
    bool overflow = false; /* once a piece does not fit, only count */
    for (int i = 0; i < n_ids; i++) {
        bool room = !overflow && buf;
        int k = token_piece(v, ids[i], room ? buf + total : NULL, room ? (int)(cap - total) : 0,
                            unparse_special, remove_space);
        remove_space = false;
        if (k < 0) {
            overflow = true;
            k = -k;
        }
        total += k;
        if (total > INT32_MAX) return INT32_MIN;
    }
    if (overflow) return -(int)total;
    if (clean && v->clean_spaces) total = (int64_t)clean_spaces(buf, (size_t)total);
    return (int)total;
}
