/* Special-token matching: splits input text into raw fragments and special tokens before the
 * tokenizer proper runs.
 *
 * The result is the one llama.cpp's tokenizer_st_partition gives: special tokens are taken in
 * order of decreasing text length, and each one claims every non-overlapping occurrence, left to
 * right, in the text no longer token has claimed. Tokens of equal length are taken together, left
 * to right (llama.cpp's order among them is unspecified; it only matters when two different
 * equal-length tokens overlap). LSTRIP/RSTRIP tokens also swallow the ASCII whitespace next to
 * them.
 *
 * Rather than one substring search per special token (deepseek-v3 has 818 of them), the tokens sit
 * in a byte trie and each distinct length is one left-to-right pass over the text, so the cost is
 * (distinct lengths) x (text length) byte checks plus trie steps at candidate positions, and the
 * memory is one mark byte per input byte. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/vocab_internal.h"

typedef struct trie_node {
    int32_t child;   /* first child, -1 none */
    int32_t sibling; /* next sibling, -1 none */
    int32_t token;   /* token whose text ends here, -1 none */
    uint8_t byte;
} trie_node;

typedef struct special_level {
    uint32_t len;
    bool has_user_defined;   /* matched even without parse_special */
    uint8_t first_bytes[32]; /* bitmap of first bytes of tokens of this length */
    int only_first_byte;     /* the one first byte all of them share (typically '<'), or -1 */
} special_level;

struct special_set {
    trie_node *nodes;
    int32_t n_nodes, cap_nodes;
    int32_t root[256]; /* root's child per first byte */
    special_level *levels; /* by decreasing length */
    int n_levels;
    bool any_user_defined;
};

static bool is_special_type(uint8_t type) {
    return type == VOCAB_TOKEN_CONTROL || type == VOCAB_TOKEN_USER_DEFINED ||
           type == VOCAB_TOKEN_UNKNOWN;
}

static int32_t trie_child(const special_set *s, int32_t node, uint8_t byte) {
    for (int32_t c = s->nodes[node].child; c >= 0; c = s->nodes[c].sibling)
        if (s->nodes[c].byte == byte) return c;
    return -1;
}

static int32_t trie_new_node(special_set *s, uint8_t byte) {
    if (s->n_nodes == s->cap_nodes) {
        int32_t cap = s->cap_nodes ? s->cap_nodes * 2 : 256;
        trie_node *n = realloc(s->nodes, (size_t)cap * sizeof *n);
        if (!n) return -1;
        s->nodes = n;
        s->cap_nodes = cap;
    }
    trie_node *n = &s->nodes[s->n_nodes];
    n->child = n->sibling = n->token = -1;
    n->byte = byte;
    return s->n_nodes++;
}

static int trie_insert(special_set *s, const char *text, uint32_t len, int32_t token) {
    uint8_t b0 = (uint8_t)text[0];
    int32_t node = s->root[b0];
    if (node < 0) {
        if ((node = trie_new_node(s, b0)) < 0) return -1;
        s->root[b0] = node;
    }
    for (uint32_t i = 1; i < len; i++) {
        uint8_t b = (uint8_t)text[i];
        int32_t c = trie_child(s, node, b);
        if (c < 0) {
            if ((c = trie_new_node(s, b)) < 0) return -1;
            s->nodes[c].sibling = s->nodes[node].child;
            s->nodes[node].child = c;
        }
        node = c;
    }
    if (s->nodes[node].token < 0) s->nodes[node].token = token; /* texts are unique anyway */
    return 0;
}

static int cmp_u32_desc(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

void special_set_free(special_set *s) {
    if (!s) return;
    free(s->nodes);
    free(s->levels);
    free(s);
}

special_set *special_set_build(const kumo_vocab *v) {
    special_set *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    for (int i = 0; i < 256; i++) s->root[i] = -1;

    int32_t n_special = 0;
    for (int32_t id = 0; id < v->n_tokens; id++)
        if (is_special_type(v->tok[id].type) && v->tok[id].len > 0) n_special++;
    if (n_special == 0) return s;

    uint32_t *lens = malloc((size_t)n_special * sizeof *lens);
    if (!lens) goto fail;
    int32_t k = 0;
    for (int32_t id = 0; id < v->n_tokens; id++) {
        const vocab_entry *t = &v->tok[id];
        if (!is_special_type(t->type) || t->len == 0) continue;
        if (trie_insert(s, t->text, t->len, id) < 0) {
            free(lens);
            goto fail;
        }
        lens[k++] = t->len;
    }
    qsort(lens, (size_t)k, sizeof *lens, cmp_u32_desc);
    int n_levels = 0;
    for (int32_t i = 0; i < k; i++)
        if (i == 0 || lens[i] != lens[i - 1]) lens[n_levels++] = lens[i];
    s->levels = calloc((size_t)n_levels, sizeof *s->levels);
    if (!s->levels) {
        free(lens);
        goto fail;
    }
    s->n_levels = n_levels;
    for (int i = 0; i < n_levels; i++) {
        s->levels[i].len = lens[i];
        s->levels[i].only_first_byte = -2; /* none seen yet */
    }
    free(lens);

    for (int32_t id = 0; id < v->n_tokens; id++) {
        const vocab_entry *t = &v->tok[id];
        if (!is_special_type(t->type) || t->len == 0) continue;
        special_level *lv = NULL;
        for (int i = 0; i < n_levels; i++)
            if (s->levels[i].len == t->len) lv = &s->levels[i];
        uint8_t b0 = (uint8_t)t->text[0];
        lv->first_bytes[b0 >> 3] |= (uint8_t)(1u << (b0 & 7));
        lv->only_first_byte = lv->only_first_byte == -2 || lv->only_first_byte == b0 ? b0 : -1;
        if (t->type == VOCAB_TOKEN_USER_DEFINED) {
            lv->has_user_defined = true;
            s->any_user_defined = true;
        }
    }
    return s;
fail:
    special_set_free(s);
    return NULL;
}

typedef struct accepted {
    size_t pos;
    int32_t token;
} accepted;

static int cmp_accepted(const void *a, const void *b) {
    size_t x = ((const accepted *)a)->pos, y = ((const accepted *)b)->pos;
    return x < y ? -1 : x > y ? 1 : 0;
}

static bool push_fragment(fragbuf *out, size_t off, size_t len, int32_t token) {
    if (out->n == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 16;
        fragment *f = realloc(out->f, cap * sizeof *f);
        if (!f) return false;
        out->f = f;
        out->cap = cap;
    }
    out->f[out->n++] = (fragment){off, len, token};
    return true;
}

/* The whitespace llama.cpp strips next to LSTRIP/RSTRIP tokens: C isspace in the "C" locale. */
static bool is_ascii_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

enum { MARK_FREE = 0, MARK_TOKEN = 1, MARK_DROPPED = 2 };

/* Raw fragments for the runs of free bytes in [a, b). */
static bool emit_raw_runs(fragbuf *out, const uint8_t *mark, size_t a, size_t b) {
    size_t i = a;
    while (i < b) {
        if (mark[i] != MARK_FREE) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < b && mark[j] == MARK_FREE) j++;
        if (!push_fragment(out, i, j - i, -1)) return false;
        i = j;
    }
    return true;
}

int special_partition(const kumo_vocab *v, const char *text, size_t len, bool parse_special,
                      fragbuf *out) {
    out->n = 0;
    if (len == 0) return 0;
    const special_set *s = v->special;
    if (!s || s->n_levels == 0 || (!parse_special && !s->any_user_defined))
        return push_fragment(out, 0, len, -1) ? 0 : -1;

    const unsigned char *t = (const unsigned char *)text;
    uint8_t *mark = calloc(len, 1);
    accepted *acc = NULL;
    size_t n_acc = 0, cap_acc = 0;
    if (!mark) return -1;

    for (int li = 0; li < s->n_levels; li++) {
        const special_level *lv = &s->levels[li];
        if (!parse_special && !lv->has_user_defined) continue;
        size_t L = lv->len;
        if (L > len) continue;
        size_t i = 0;
        while (i + L <= len) {
            if (lv->only_first_byte >= 0 && t[i] != lv->only_first_byte) {
                /* jump to the next candidate start */
                const unsigned char *q = memchr(t + i, lv->only_first_byte, len - L + 1 - i);
                if (!q) break;
                i = (size_t)(q - t);
            }
            unsigned char c = t[i];
            if (mark[i] != MARK_FREE || !(lv->first_bytes[c >> 3] & (1u << (c & 7)))) {
                i++;
                continue;
            }
            int32_t node = s->root[c];
            for (size_t d = 1; node >= 0 && d < L; d++)
                node = mark[i + d] != MARK_FREE ? -1 : trie_child(s, node, t[i + d]);
            int32_t tok = node >= 0 ? s->nodes[node].token : -1;
            uint8_t type = tok >= 0 ? v->tok[tok].type : 0;
            if (tok < 0 || !(type == VOCAB_TOKEN_USER_DEFINED || parse_special)) {
                i++;
                continue;
            }
            if (n_acc == cap_acc) {
                size_t cap = cap_acc ? cap_acc * 2 : 16;
                accepted *a = realloc(acc, cap * sizeof *a);
                if (!a) {
                    free(acc);
                    free(mark);
                    return -1;
                }
                acc = a;
                cap_acc = cap;
            }
            acc[n_acc++] = (accepted){i, tok};
            memset(mark + i, MARK_TOKEN, L);
            if (v->tok[tok].strip & TOKEN_LSTRIP)
                for (size_t j = i; j > 0 && mark[j - 1] == MARK_FREE && is_ascii_space(t[j - 1]); j--)
                    mark[j - 1] = MARK_DROPPED;
            i += L;
            if (v->tok[tok].strip & TOKEN_RSTRIP)
                for (; i < len && mark[i] == MARK_FREE && is_ascii_space(t[i]); i++)
                    mark[i] = MARK_DROPPED;
        }
    }

    if (n_acc > 1) qsort(acc, n_acc, sizeof *acc, cmp_accepted);
    bool ok = true;
    size_t pos = 0;
    for (size_t k = 0; ok && k < n_acc; k++) {
        ok = emit_raw_runs(out, mark, pos, acc[k].pos) &&
             push_fragment(out, acc[k].pos, v->tok[acc[k].token].len, acc[k].token);
        pos = acc[k].pos + v->tok[acc[k].token].len;
    }
    ok = ok && emit_raw_runs(out, mark, pos, len);
    free(acc);
    free(mark);
    return ok ? 0 : -1;
}
