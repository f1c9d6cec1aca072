#include "tokenizer/utf8_stream.h"

#include <string.h>

#include "tokenizer/utf8.h"

void utf8_stream_init(utf8_stream *s) { s->n_pending = 0; }

/* Bytes in the character a lead byte starts, 0 if it cannot start one. */
static size_t char_size(unsigned char lead) {
    if (lead < 0x80) return 1;
    if (lead >= 0xC2 && lead <= 0xDF) return 2;
    if (lead >= 0xE0 && lead <= 0xEF) return 3;
    if (lead >= 0xF0 && lead <= 0xF4) return 4;
    return 0;
}

/* Can b be byte idx (>= 1) of a character starting with lead? The second-byte ranges exclude
 * overlong forms, surrogates and code points above U+10FFFF. */
static int continues(unsigned char lead, size_t idx, unsigned char b) {
    if ((b & 0xC0) != 0x80) return 0;
    if (idx == 1) {
        if (lead == 0xE0) return b >= 0xA0;
        if (lead == 0xED) return b <= 0x9F;
        if (lead == 0xF0) return b >= 0x90;
        if (lead == 0xF4) return b <= 0x8F;
    }
    return 1;
}

static size_t put_replacement(char *out) {
    memcpy(out, UTF8_REPLACEMENT, 3);
    return 3;
}

size_t utf8_stream_push(utf8_stream *s, const char *in, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)in[i];
        if (s->n_pending > 0) {
            if (continues(s->pending[0], s->n_pending, b)) {
                s->pending[s->n_pending++] = b;
                if (s->n_pending == char_size(s->pending[0])) {
                    memcpy(out + o, s->pending, s->n_pending);
                    o += s->n_pending;
                    s->n_pending = 0;
                }
                continue;
            }
            /* the held-back bytes are an ill-formed subpart; b starts afresh */
            o += put_replacement(out + o);
            s->n_pending = 0;
        }
        size_t size = char_size(b);
        if (size == 1) {
            out[o++] = (char)b;
        } else if (size == 0) {
            o += put_replacement(out + o);
        } else {
            s->pending[0] = b;
            s->n_pending = 1;
        }
    }
    return o;
}

size_t utf8_stream_flush(utf8_stream *s, char *out) {
    if (s->n_pending == 0) return 0;
    s->n_pending = 0;
    return put_replacement(out);
}
