/* A growable binary heap of merge candidates, shared by the SentencePiece and BPE tokenizers.
 * PAIR_HEAP_DEFINE(name, T, first) defines `name` (the heap) with name##_push and name##_pop for
 * elements of type T, ordered by `first(a, b)` (true when *a comes out before *b). The order is a
 * static inline function rather than a callback so the merge loops keep it inlined. */
#ifndef KUMO_TOKENIZER_PAIR_HEAP_H
#define KUMO_TOKENIZER_PAIR_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

#define PAIR_HEAP_DEFINE(name, T, first)                                                           \
    typedef struct name {                                                                          \
        T *items;                                                                                  \
        size_t n, cap;                                                                             \
    } name;                                                                                        \
                                                                                                   \
    /* false when out of memory (the heap is unchanged) */                                         \
    static bool name##_push(name *h, T p) {                                                        \
        if (h->n == h->cap) {                                                                      \
            const size_t cap = h->cap ? h->cap * 2 : 64;                                           \
            T *items = realloc(h->items, cap * sizeof *items);                                     \
            if (!items) return false;                                                              \
            h->items = items;                                                                      \
            h->cap = cap;                                                                          \
        }                                                                                          \
        size_t i = h->n++;                                                                         \
        while (i > 0) {                                                                            \
            const size_t parent = (i - 1) / 2;                                                     \
            if (!first(&p, &h->items[parent])) break;                                              \
            h->items[i] = h->items[parent];                                                        \
            i = parent;                                                                            \
        }                                                                                          \
        h->items[i] = p;                                                                           \
        return true;                                                                               \
    }                                                                                              \
                                                                                                   \
    /* the first element; the heap must not be empty */                                            \
    static T name##_pop(name *h) {                                                                 \
        const T top = h->items[0], last = h->items[--h->n];                                        \
        size_t i = 0;                                                                              \
        for (;;) {                                                                                 \
            size_t c = 2 * i + 1;                                                                  \
            if (c >= h->n) break;                                                                  \
            if (c + 1 < h->n && first(&h->items[c + 1], &h->items[c])) c++;                        \
            if (!first(&h->items[c], &last)) break;                                                \
            h->items[i] = h->items[c];                                                             \
            i = c;                                                                                 \
        }                                                                                          \
        if (h->n > 0) h->items[i] = last;                                                          \
        return top;                                                                                \
    }

#endif
