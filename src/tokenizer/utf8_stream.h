/* Printing tokens one at a time without ever emitting a broken UTF-8 character.
 *
 * A token's bytes need not end on a character boundary (byte-fallback tokens, byte-level BPE
 * pieces of a multi-byte character). Push each piece's bytes through a utf8_stream: it writes out
 * only complete, well-formed characters and holds back the start of a character until its last
 * byte arrives. Ill-formed bytes become U+FFFD (one per maximal ill-formed subpart, the Unicode
 * recommended practice), and utf8_stream_flush turns a character left incomplete at the end of
 * the stream into U+FFFD. The output is therefore always valid UTF-8. */
#ifndef KUMO_TOKENIZER_UTF8_STREAM_H
#define KUMO_TOKENIZER_UTF8_STREAM_H

#include <stddef.h>
#include <stdint.h>

typedef struct utf8_stream {
    unsigned char pending[4]; /* start of an incomplete character */
    uint8_t n_pending;
} utf8_stream;

/* Output room utf8_stream_push needs for n input bytes (held-back bytes included). */
#define UTF8_STREAM_OUT_MAX(n) (3 * (size_t)(n) + 9)

void utf8_stream_init(utf8_stream *s);
/* Consumes in[0..n) and writes the complete characters to out, which must have room for
 * UTF8_STREAM_OUT_MAX(n) bytes. Returns the number of bytes written. */
size_t utf8_stream_push(utf8_stream *s, const char *in, size_t n, char *out);
/* Ends the stream: writes U+FFFD for a held-back incomplete character (out: 3 bytes of room).
 * Returns the bytes written (0 or 3); the stream is then empty and may be reused. */
size_t utf8_stream_flush(utf8_stream *s, char *out);

#endif
