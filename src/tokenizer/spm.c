/* SentencePiece (tokenizer.ggml.model = "llama") on one raw fragment, as llama.cpp does it:
 *  - optionally prepend a space, then write every space as U+2581 (▁);
 *  - split into UTF-8 characters; each byte of a malformed sequence is a symbol of its own (llama.cpp
 *    splits by lead byte alone, so a broken sequence can swallow the ▁ of a following space and
 *    the space comes back as U+2581; valid text splits identically either way);
 *  - repeatedly merge the adjacent pair whose concatenation is a vocab token with the highest
 *    score (leftmost pair on equal scores), using a priority queue of candidate pairs whose stale
 *    entries are skipped when popped: O(n log n) in the fragment length;
 *  - exact speed-up: two neighbouring characters that never stand next to each other inside any
 *    vocab token can never end up in one token, so the text is cut there and each segment is
 *    merged on its own with a small, cache-resident queue (merges in different segments never
 *    interact, so the order they would interleave in does not matter);
 *  - emit each final piece's token; a piece that is not a token (only single characters can be
 *    left so) is emitted byte by byte as <0xXX> byte tokens (or the unknown token if the vocab
 *    lacks them). */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/pair_heap.h"
#include "tokenizer/utf8.h"
#include "tokenizer/vocab_internal.h"

typedef struct spm_sym {
    int32_t prev, next;
    uint32_t off, n; /* n == 0: merged away */
} spm_sym;

typedef struct spm_pair {
    float score;
    int32_t left, right;
    uint32_t size; /* bytes of left + right when queued; a mismatch later means stale */
} spm_pair;

/* Heap order: higher score first, then the leftmost pair. */
static inline bool pair_first(const spm_pair *a, const spm_pair *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

PAIR_HEAP_DEFINE(spm_heap, spm_pair, pair_first)

typedef struct spm_state {
    const kumo_vocab *v;
    const char *text;
    spm_sym *sym;
    spm_heap heap;
    bool failed;
} spm_state;

static void try_add_pair(spm_state *st, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const spm_sym *l = &st->sym[left], *r = &st->sym[right];
    uint32_t size = l->n + r->n;
    if (size > st->v->max_token_len) return; /* cannot be a token */
    int32_t id = vocab_find(st->v, st->text + l->off, size);
    if (id < 0) return;
    if (!spm_heap_push(&st->heap, (spm_pair){st->v->tok[id].score, left, right, size})) st->failed = true;
}

/* Symbol identity used for the pair index: the code point, or 0x110000 + byte for a byte that is
 * not part of a well-formed character (split the same way in token texts and in input). */
static uint32_t symbol_code(const unsigned char *s, size_t n, size_t *len) {
    uint32_t cp;
    size_t k = utf8_decode(s, n, &cp);
    if (k == 0) {
        *len = 1;
        return 0x110000u + s[0];
    }
    *len = k;
    return cp;
}

static uint32_t pair_slot(uint64_t key, uint32_t mask) {
    return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

static bool pair_insert(kumo_vocab *v, uint64_t key) {
    uint32_t h = pair_slot(key, v->spm_pair_mask);
    while (v->spm_pair[h] != UINT64_MAX) {
        if (v->spm_pair[h] == key) return false;
        h = (h + 1) & v->spm_pair_mask;
    }
    v->spm_pair[h] = key;
    return true;
}

static bool pair_known(const kumo_vocab *v, uint64_t key) {
    for (uint32_t h = pair_slot(key, v->spm_pair_mask);; h = (h + 1) & v->spm_pair_mask) {
        if (v->spm_pair[h] == key) return true;
        if (v->spm_pair[h] == UINT64_MAX) return false;
    }
}

int spm_build_pair_index(kumo_vocab *v) {
    size_t max_pairs = 0;
    for (int32_t id = 0; id < v->n_tokens; id++) max_pairs += v->tok[id].len;
    uint64_t cap = 16;
    while (cap < 2 * (uint64_t)max_pairs + 16) cap <<= 1;
    /* sized for the worst case first; shrunk below once the distinct count is known */
    v->spm_pair = malloc((size_t)cap * sizeof *v->spm_pair);
    if (!v->spm_pair) return -1;
    v->spm_pair_mask = (uint32_t)(cap - 1);
    memset(v->spm_pair, 0xFF, (size_t)cap * sizeof *v->spm_pair);
    size_t distinct = 0;
    for (int32_t id = 0; id < v->n_tokens; id++) {
        const unsigned char *t = (const unsigned char *)v->tok[id].text;
        size_t n = v->tok[id].len, k1, k2;
        if (n == 0) continue;
        uint32_t a = symbol_code(t, n, &k1);
        for (size_t i = k1; i < n; i += k2) {
            uint32_t b = symbol_code(t + i, n - i, &k2);
            distinct += pair_insert(v, ((uint64_t)a << 32) | b);
            a = b;
        }
    }
    uint64_t small = 16;
    while (small < 2 * (uint64_t)distinct + 16) small <<= 1;
    if (small < cap) {
        uint64_t *big = v->spm_pair;
        uint32_t big_mask = v->spm_pair_mask;
        v->spm_pair = malloc((size_t)small * sizeof *v->spm_pair);
        if (!v->spm_pair) {
            free(big);
            return -1;
        }
        v->spm_pair_mask = (uint32_t)(small - 1);
        memset(v->spm_pair, 0xFF, (size_t)small * sizeof *v->spm_pair);
        for (uint64_t i = 0; i <= big_mask; i++)
            if (big[i] != UINT64_MAX) pair_insert(v, big[i]);
        free(big);
    }
    return 0;
}

static void emit_piece(const kumo_vocab *v, const char *s, uint32_t n, tokbuf *out) {
    int32_t id = vocab_find(v, s, n);
    if (id >= 0) {
        tokbuf_push(out, id);
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        int32_t b = v->byte_token[(unsigned char)s[i]];
        if (b < 0) b = v->unk;
        if (b >= 0) tokbuf_push(out, b);
    }
}

int spm_tokenize(const kumo_vocab *v, const char *text, size_t len, bool prefix_space, tokbuf *out) {
    size_t spaces = prefix_space ? 1 : 0;
    for (size_t i = 0; i < len; i++) spaces += text[i] == ' ';
    size_t total = len + (prefix_space ? 1 : 0) + 2 * spaces; /* ' ' (1 byte) -> ▁ (3 bytes) */
    if (len > (size_t)INT32_MAX / 3 || total == 0) return total == 0 ? 0 : -1;

    char *esc = malloc(total);
    spm_sym *sym = malloc(total * sizeof *sym);
    if (!esc || !sym) {
        free(esc);
        free(sym);
        return -1;
    }
    size_t o = 0;
    if (prefix_space) {
        memcpy(esc, "\xE2\x96\x81", 3);
        o = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(esc + o, "\xE2\x96\x81", 3);
            o += 3;
        } else {
            esc[o++] = text[i];
        }
    }

    /* symbols, cut into segments where no token can span the boundary */
    int32_t n_sym = 0;
    uint32_t prev_code = 0;
    for (size_t off = 0; off < total;) {
        size_t n;
        uint32_t code = symbol_code((const unsigned char *)esc + off, total - off, &n);
        bool cut = n_sym == 0 || !pair_known(v, ((uint64_t)prev_code << 32) | code);
        sym[n_sym] = (spm_sym){cut ? -1 : n_sym - 1, -1, (uint32_t)off, (uint32_t)n};
        if (!cut) sym[n_sym - 1].next = n_sym;
        n_sym++;
        off += n;
        prev_code = code;
    }

    spm_state st = {v, esc, sym, {NULL, 0, 0}, false};
    for (int32_t seg = 0; seg < n_sym && !st.failed;) {
        int32_t end = seg + 1; /* one past the segment's last symbol */
        while (end < n_sym && sym[end].prev >= 0) end++;
        for (int32_t i = seg + 1; i < end; i++) try_add_pair(&st, i - 1, i);
        while (st.heap.n > 0 && !st.failed) {
            spm_pair p = spm_heap_pop(&st.heap);
            spm_sym *l = &sym[p.left], *r = &sym[p.right];
            if (l->n == 0 || r->n == 0 || l->n + r->n != p.size) continue;
            l->n += r->n;
            r->n = 0;
            l->next = r->next;
            if (r->next >= 0) sym[r->next].prev = p.left;
            try_add_pair(&st, l->prev, p.left);
            try_add_pair(&st, p.left, l->next);
        }
        /* the segment's first symbol absorbs merges to its right, so it is never merged away */
        if (!st.failed)
            for (int32_t i = seg; i >= 0; i = sym[i].next) emit_piece(v, esc + sym[i].off, sym[i].n, out);
        seg = end;
    }

    free(st.heap.items);
    free(sym);
    free(esc);
    return st.failed ? -1 : 0;
}
