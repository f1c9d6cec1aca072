/* Byte-level BPE (tokenizer.ggml.model = "gpt2") on one raw fragment, as llama.cpp does it:
 *  - malformed UTF-8 bytes become U+FFFD (llama.cpp's decoder does the same), so the regexes only
 *    see valid text;
 *  - the pre-tokenizer regexes cut the text into words (pretok.c);
 *  - per word: with ignore_merges, a word that is itself a token is emitted whole; otherwise every
 *    byte starts as the token of its GPT-2 byte character and the adjacent pair with the lowest
 *    merge rank (leftmost on ties) is merged until no pair has a merge. The queue holds candidate
 *    pairs and skips stale ones when popped, so a word costs O(n log n); symbols are token ids,
 *    so no strings are built while merging. Nothing is cached between calls. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/pair_heap.h"
#include "tokenizer/utf8.h"
#include "tokenizer/vocab_internal.h"

enum { SYM_DEAD = -2 }; /* merged into its left neighbour */

typedef struct bpe_pair {
    int32_t rank;
    int32_t left;     /* symbol index */
    int32_t left_id;  /* ids when queued: if either symbol changed since, the pair is stale */
    int32_t right_id;
} bpe_pair;

static inline bool pair_first(const bpe_pair *a, const bpe_pair *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

PAIR_HEAP_DEFINE(bpe_heap, bpe_pair, pair_first)

typedef struct bpe_state {
    const kumo_vocab *v;
    const char *text;
    tokbuf *out;
    int32_t *ids, *prev, *next;
    size_t sym_cap;
    bpe_heap heap;
    char *enc; /* GPT-2 byte characters of the word, for the ignore_merges lookup */
    size_t enc_cap;
    bool failed;
} bpe_state;

static void try_add_pair(bpe_state *st, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    int32_t a = st->ids[left], b = st->ids[right];
    if (a < 0 || b < 0) return;
    int32_t rank = vocab_merge_rank(st->v, a, b);
    if (rank >= 0 && !bpe_heap_push(&st->heap, (bpe_pair){rank, left, a, b})) st->failed = true;
}

static bool reserve_symbols(bpe_state *st, size_t n) {
    if (n <= st->sym_cap) return true;
    size_t cap = st->sym_cap ? st->sym_cap : 64;
    while (cap < n) cap *= 2;
    int32_t *ids = realloc(st->ids, cap * sizeof *ids);
    if (ids) st->ids = ids;
    int32_t *prev = realloc(st->prev, cap * sizeof *prev);
    if (prev) st->prev = prev;
    int32_t *next = realloc(st->next, cap * sizeof *next);
    if (next) st->next = next;
    if (!ids || !prev || !next) return false;
    st->sym_cap = cap;
    return true;
}

/* ignore_merges: is the whole word a token? */
static int32_t whole_word_token(bpe_state *st, const unsigned char *w, size_t len) {
    if (len > st->v->max_token_len) return -1; /* every byte is at least one byte of text */
    if (2 * len > st->enc_cap) {
        size_t cap = st->enc_cap ? st->enc_cap : 64;
        while (cap < 2 * len) cap *= 2;
        char *e = realloc(st->enc, cap);
        if (!e) {
            st->failed = true;
            return -1;
        }
        st->enc = e;
        st->enc_cap = cap;
    }
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        /* each byte's character is the byte itself or a code point below 0x144 */
        const vocab_entry *b = st->v->byte_token[w[i]] >= 0 ? &st->v->tok[st->v->byte_token[w[i]]]
                                                             : NULL;
        if (!b || b->len > 2) return -1; /* the vocab lacks a byte character: cannot be whole */
        memcpy(st->enc + n, b->text, b->len);
        n += b->len;
    }
    if (n > st->v->max_token_len) return -1;
    return vocab_find(st->v, st->enc, n);
}

static int bpe_word(void *ud, size_t off, size_t len) {
    bpe_state *st = ud;
    const kumo_vocab *v = st->v;
    const unsigned char *w = (const unsigned char *)st->text + off;
    if (v->ignore_merges) {
        int32_t id = whole_word_token(st, w, len);
        if (st->failed) return -1;
        if (id >= 0) {
            tokbuf_push(st->out, id);
            return 0;
        }
    }
    if (len > INT32_MAX / 4 || !reserve_symbols(st, len)) return -1;
    int32_t n = (int32_t)len;
    for (int32_t i = 0; i < n; i++) {
        st->ids[i] = v->byte_token[w[i]]; /* -1 if the vocab lacks the byte: dropped, as llama.cpp */
        st->prev[i] = i - 1;
        st->next[i] = i + 1 < n ? i + 1 : -1;
    }
    st->heap.n = 0;
    for (int32_t i = 1; i < n; i++) try_add_pair(st, i - 1, i);
    while (st->heap.n > 0 && !st->failed) {
        bpe_pair p = bpe_heap_pop(&st->heap);
        int32_t l = p.left;
        if (st->ids[l] != p.left_id) continue;
        int32_t r = st->next[l];
        if (r < 0 || st->ids[r] != p.right_id) continue;
        st->ids[l] = v->merge_result[p.rank];
        st->ids[r] = SYM_DEAD;
        st->next[l] = st->next[r];
        if (st->next[r] >= 0) st->prev[st->next[r]] = l;
        try_add_pair(st, st->prev[l], l);
        try_add_pair(st, l, st->next[l]);
    }
    if (st->failed) return -1;
    for (int32_t i = 0; i >= 0; i = st->next[i])
        if (st->ids[i] >= 0) tokbuf_push(st->out, st->ids[i]);
    return 0;
}

/* Copy of text with every byte that does not start a well-formed UTF-8 character replaced by
 * U+FFFD, or NULL (and *copy_len untouched) when the text is already valid. */
static char *sanitize_utf8(const char *text, size_t len, size_t *copy_len, bool *oom) {
    const unsigned char *t = (const unsigned char *)text;
    size_t i = 0;
    uint32_t cp;
    while (i < len) {
        if (t[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = utf8_decode(t + i, len - i, &cp);
        if (n == 0) break;
        i += n;
    }
    if (i == len) return NULL;
    char *copy = malloc(len * 3);
    if (!copy) {
        *oom = true;
        return NULL;
    }
    memcpy(copy, text, i);
    size_t o = i;
    while (i < len) {
        size_t n = t[i] < 0x80 ? 1 : utf8_decode(t + i, len - i, &cp);
        if (n == 0) {
            memcpy(copy + o, UTF8_REPLACEMENT, 3);
            o += 3;
            i++;
        } else {
            memcpy(copy + o, t + i, n);
            o += n;
            i += n;
        }
    }
    *copy_len = o;
    return copy;
}

int bpe_tokenize(const kumo_vocab *v, const char *text, size_t len, tokbuf *out) {
    if (len == 0) return 0;
    if (len > SIZE_MAX / 3) return -1;
    bool oom = false;
    size_t n = len;
    char *copy = sanitize_utf8(text, len, &n, &oom);
    if (oom) return -1;
    bpe_state st = {0};
    st.v = v;
    st.text = copy ? copy : text;
    st.out = out;
    int rc = pretok_split(v->pretok, st.text, n, bpe_word, &st);
    free(st.ids);
    free(st.prev);
    free(st.next);
    free(st.heap.items);
    free(st.enc);
    free(copy);
    return rc == 0 && !st.failed ? 0 : -1;
}
