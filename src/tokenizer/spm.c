/* SentencePiece (tokenizer.ggml.model = "llama") on one raw fragment, as llama.cpp does it:
 *  - optionally prepend a space, then write every space as U+2581 (▁);
 *  - split into UTF-8 characters (by lead byte, without validation, so any bytes go through);
 *  - repeatedly merge the adjacent pair whose concatenation is a vocab token with the highest
 *    score (leftmost pair on equal scores), using a priority queue of candidate pairs whose stale
 *    entries are skipped when popped: O(n log n) in the fragment length;
 *  - emit each final piece's token; a piece that is not a token (only single characters can be
 *    left so) is emitted byte by byte as <0xXX> byte tokens (or the unknown token if the vocab
 *    lacks them). */
#include <stdlib.h>
#include <string.h>

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

typedef struct spm_state {
    const kumo_vocab *v;
    const char *text;
    spm_sym *sym;
    spm_pair *heap;
    size_t heap_n, heap_cap;
    bool failed;
} spm_state;

/* Heap order: higher score first, then the leftmost pair. */
static bool pair_first(const spm_pair *a, const spm_pair *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void heap_push(spm_state *st, spm_pair p) {
    if (st->heap_n == st->heap_cap) {
        size_t cap = st->heap_cap ? st->heap_cap * 2 : 64;
        spm_pair *h = realloc(st->heap, cap * sizeof *h);
        if (!h) {
            st->failed = true;
            return;
        }
        st->heap = h;
        st->heap_cap = cap;
    }
    size_t i = st->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!pair_first(&p, &st->heap[parent])) break;
        st->heap[i] = st->heap[parent];
        i = parent;
    }
    st->heap[i] = p;
}

static spm_pair heap_pop(spm_state *st) {
    spm_pair top = st->heap[0];
    spm_pair last = st->heap[--st->heap_n];
    size_t i = 0, n = st->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && pair_first(&st->heap[c + 1], &st->heap[c])) c++;
        if (!pair_first(&st->heap[c], &last)) break;
        st->heap[i] = st->heap[c];
        i = c;
    }
    if (n > 0) st->heap[i] = last;
    return top;
}

static void try_add_pair(spm_state *st, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const spm_sym *l = &st->sym[left], *r = &st->sym[right];
    uint32_t size = l->n + r->n;
    if (size > st->v->max_token_len) return; /* cannot be a token */
    int32_t id = vocab_find(st->v, st->text + l->off, size);
    if (id < 0) return;
    heap_push(st, (spm_pair){st->v->tok[id].score, left, right, size});
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

    int32_t n_sym = 0;
    for (size_t off = 0; off < total;) {
        size_t n = utf8_lead_len((unsigned char)esc[off]);
        if (n > total - off) n = total - off;
        sym[n_sym] = (spm_sym){n_sym - 1, -1, (uint32_t)off, (uint32_t)n};
        if (n_sym > 0) sym[n_sym - 1].next = n_sym;
        n_sym++;
        off += n;
    }

    spm_state st = {v, esc, sym, NULL, 0, 0, false};
    for (int32_t i = 1; i < n_sym; i++) try_add_pair(&st, i - 1, i);
    while (st.heap_n > 0 && !st.failed) {
        spm_pair p = heap_pop(&st);
        spm_sym *l = &sym[p.left], *r = &sym[p.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != p.size) continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = p.left;
        try_add_pair(&st, l->prev, p.left);
        try_add_pair(&st, p.left, l->next);
    }
    if (!st.failed)
        for (int32_t i = 0; i >= 0; i = sym[i].next) emit_piece(v, esc + sym[i].off, sym[i].n, out);

    free(st.heap);
    free(sym);
    free(esc);
    return st.failed ? -1 : 0;
}
