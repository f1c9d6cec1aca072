/* Arena, failure exit, text buffers and UTF-8 helpers of the Jinja interpreter. */
#include "chat/jinja.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_SIZE ((size_t)64 * 1024)
#define BIG_ALLOC (CHUNK_SIZE / 4)
#define ALIGN 16u

struct jarena_chunk {
    jarena_chunk *next;
    size_t size, used;
    max_align_t data[];
};

void jh_init(jheap *h, size_t budget, uint64_t max_steps) {
    memset(h, 0, sizeof *h);
    h->budget = budget;
    h->max_steps = max_steps;
}

void jh_release(jheap *h) {
    jarena_chunk *c = h->chunks;
    while (c) {
        jarena_chunk *next = c->next;
        free(c);
        c = next;
    }
    h->chunks = NULL;
    h->used = 0;
}

static jarena_chunk *chunk_new(jheap *h, size_t size) {
    size_t total = sizeof(jarena_chunk) + size;
    if (size > h->budget || h->used > h->budget - size)
        jh_fail(h, JPOS_NONE, KUMO_E_NOMEM, "memory limit (%zu bytes) exceeded", h->budget);
    jarena_chunk *c = malloc(total);
    if (!c) jh_fail(h, JPOS_NONE, KUMO_E_NOMEM, "out of memory (%zu bytes)", total);
    c->size = size;
    c->used = 0;
    h->used += size;
    return c;
}

static void *alloc_raw(jheap *h, size_t n) {
    if (n == 0) n = 1;
    if (n > SIZE_MAX - 2 * ALIGN) jh_fail(h, JPOS_NONE, KUMO_E_NOMEM, "allocation too large");
    n = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    h->steps += n / 256; /* filling memory is work too; checked at the next jh_charge */
    jarena_chunk *head = h->chunks;
    if (head && head->size - head->used >= n) {
        void *p = (char *)head->data + head->used;
        head->used += n;
        return p;
    }
    if (n >= BIG_ALLOC) {
        /* A dedicated chunk, linked behind the head so the head's free space stays in use. */
        jarena_chunk *c = chunk_new(h, n);
        c->used = n;
        if (head) {
            c->next = head->next;
            head->next = c;
        } else {
            c->next = NULL;
            h->chunks = c;
        }
        return c->data;
    }
    jarena_chunk *c = chunk_new(h, CHUNK_SIZE);
    c->next = head;
    h->chunks = c;
    c->used = n;
    return c->data;
}

void *jh_alloc(jheap *h, size_t n) {
    void *p = alloc_raw(h, n);
    memset(p, 0, n);
    return p;
}

char *jh_strndup(jheap *h, const char *s, size_t n) {
    if (n == SIZE_MAX) jh_fail(h, JPOS_NONE, KUMO_E_NOMEM, "allocation too large");
    char *p = alloc_raw(h, n + 1);
    if (n) memcpy(p, s, n);
    p[n] = 0;
    return p;
}

void jh_position(const char *src, size_t len, uint32_t off, int *line, int *col) {
    int l = 1, c = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (src[i] == '\n') {
            l++;
            c = 1;
        } else {
            c++;
        }
    }
    *line = l;
    *col = c;
}

void jh_fail(jheap *h, uint32_t off, int code, const char *fmt, ...) {
    char msg[sizeof h->err.msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (off != JPOS_NONE && h->src) {
        int line, col;
        jh_position(h->src, h->src_len, off, &line, &col);
        kumo_err(&h->err, code, "%d:%d: %s", line, col, msg);
    } else {
        kumo_err(&h->err, code, "%s", msg);
    }
    longjmp(*h->jmp, 1);
}

jv jh_concat(jheap *h, const char *ap, size_t an, const char *bp, size_t bn) {
    jh_charge(h, 1 + bn / 64);
    if (an && h->tail && ap + an == h->tail + h->tail_used && bn <= h->tail_cap - h->tail_used) {
        if (bn) memcpy(h->tail + h->tail_used, bp, bn);
        h->tail_used += bn;
        return jv_str(ap, an + bn);
    }
    if (an > SIZE_MAX / 4 || bn > SIZE_MAX / 4) jh_fail(h, JPOS_NONE, KUMO_E_NOMEM, "string too large");
    size_t need = an + bn, cap = need < 64 ? need : need + need / 2 + 64;
    char *p = alloc_raw(h, cap ? cap : 1);
    if (an) memcpy(p, ap, an);
    if (bn) memcpy(p + an, bp, bn);
    jh_charge(h, an / 64);
    if (cap > need) { /* small results are not worth reserving room for */
        h->tail = p;
        h->tail_used = need;
        h->tail_cap = cap;
    }
    return jv_str(p, need);
}

/* ---------- buffers ---------- */
void jb_init(jbuf *b, jheap *h, size_t limit) {
    b->h = h;
    b->p = NULL;
    b->n = b->cap = 0;
    b->limit = limit;
}

void jb_put(jbuf *b, const char *s, size_t n) {
    if (n == 0) return;
    if (n > b->limit || b->n > b->limit - n)
        jh_fail(b->h, JPOS_NONE, KUMO_E_INVALID, "rendered text exceeds the output limit (%zu bytes)", b->limit);
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n) cap = cap > SIZE_MAX / 2 ? b->n + n : cap * 2;
        char *p = alloc_raw(b->h, cap);
        if (b->n) memcpy(p, b->p, b->n);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    jh_charge(b->h, 1 + n / 64);
}

void jb_printf(jbuf *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    jb_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

jv jb_value(const jbuf *b) { return jv_str(b->n ? b->p : "", b->n); }

/* ---------- UTF-8 ---------- */
size_t utf8_char_len(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    if (n == 0) return 0;
    unsigned c = p[0];
    size_t len;
    if (c < 0x80) return 1;
    else if (c >= 0xc2 && c <= 0xdf) len = 2;
    else if (c >= 0xe0 && c <= 0xef) len = 3;
    else if (c >= 0xf0 && c <= 0xf4) len = 4;
    else return 1;
    if (len > n) return 1;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xc0) != 0x80) return 1;
    return len;
}

size_t utf8_count(const char *p, size_t n) {
    size_t count = 0;
    for (size_t i = 0; i < n; i += utf8_char_len(p + i, n - i)) count++;
    return count;
}

/* Python's str.isspace() characters. */
size_t utf8_space_len(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    if (n == 0) return 0;
    unsigned c = p[0];
    if (c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f)) return 1;
    if (c < 0x80) return 0;
    size_t len = utf8_char_len(s, n);
    if (len == 2 && c == 0xc2 && (p[1] == 0x85 || p[1] == 0xa0)) return 2;
    if (len == 3) {
        unsigned cp = ((c & 0x0fu) << 12) | ((p[1] & 0x3fu) << 6) | (p[2] & 0x3fu);
        if (cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
            cp == 0x202f || cp == 0x205f || cp == 0x3000)
            return 3;
    }
    return 0;
}

size_t utf8_lstrip_off(const char *p, size_t n) {
    size_t i = 0, k;
    while (i < n && (k = utf8_space_len(p + i, n - i)) > 0) i += k;
    return i;
}

size_t utf8_rstrip_len(const char *p, size_t n) {
    /* Walk forward (UTF-8 cannot be decoded backwards safely when it may be invalid), remembering
     * where the last run of whitespace began. */
    size_t i = 0, end = 0;
    while (i < n) {
        size_t k = utf8_space_len(p + i, n - i);
        if (k) {
            i += k;
        } else {
            i += utf8_char_len(p + i, n - i);
            end = i;
        }
    }
    return end;
}
