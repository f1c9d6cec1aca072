/* The streaming UTF-8 guard: held-back partial characters, U+FFFD for ill-formed input (one per
 * maximal ill-formed subpart), flush, any chunking of valid text reproduces it exactly, every
 * output chunk is valid UTF-8; and printing the test vectors token by token through it gives the
 * text back while single pieces alone are not always valid UTF-8. */
#include "testutil.h"

#include <cmocka.h>

#include "tok_test_util.h"
#include "tokenizer/utf8.h"
#include "tokenizer/utf8_stream.h"

#define FFFD "\xEF\xBF\xBD"

static bool valid_utf8(const char *s, size_t n) {
    const unsigned char *t = (const unsigned char *)s;
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_decode(t + i, n - i, &cp);
        if (!k) return false;
        i += k;
    }
    return true;
}

/* Pushes the chunks (NULL-terminated list of strings; "\x01" marks a flush) and compares. */
static void expect_stream(const char *const *chunks, const char *expected) {
    utf8_stream s;
    utf8_stream_init(&s);
    char out[256];
    size_t n = 0;
    for (size_t i = 0; chunks[i]; i++) {
        size_t len = strlen(chunks[i]);
        char part[128];
        size_t k = strcmp(chunks[i], "\x01") == 0 ? utf8_stream_flush(&s, part)
                                                  : utf8_stream_push(&s, chunks[i], len, part);
        assert_true(k <= UTF8_STREAM_OUT_MAX(len));
        assert_true(valid_utf8(part, k));
        memcpy(out + n, part, k);
        n += k;
    }
    n += utf8_stream_flush(&s, out + n);
    out[n] = 0;
    assert_string_equal(out, expected);
}

static void stream_cases(void **state) {
    (void)state;
    expect_stream((const char *[]){"plain ascii", NULL}, "plain ascii");
    expect_stream((const char *[]){"caf\xC3", "\xA9!", NULL}, "caf\xC3\xA9!");
    expect_stream((const char *[]){"\xF0", "\x9F", "\xA6", "\x99", NULL}, "\xF0\x9F\xA6\x99");
    /* the first three bytes are held back: nothing is printed until the fourth */
    {
        utf8_stream s;
        utf8_stream_init(&s);
        char out[32];
        assert_int_equal(utf8_stream_push(&s, "\xF0\x9F\xA6", 3, out), 0);
        assert_int_equal(utf8_stream_push(&s, "\x99", 1, out), 4);
        assert_int_equal(utf8_stream_flush(&s, out), 0);
    }
    expect_stream((const char *[]){"a\x80z", NULL}, "a" FFFD "z");           /* stray continuation */
    expect_stream((const char *[]){"\xFF\xFE", NULL}, FFFD FFFD);           /* never-valid bytes */
    expect_stream((const char *[]){"\xC0\x80", NULL}, FFFD FFFD);           /* overlong NUL */
    expect_stream((const char *[]){"\xE0\x80\x80", NULL}, FFFD FFFD FFFD);  /* overlong */
    expect_stream((const char *[]){"\xED\xA0\x80", NULL}, FFFD FFFD FFFD);  /* surrogate */
    expect_stream((const char *[]){"\xF4\x90\x80\x80", NULL}, FFFD FFFD FFFD FFFD); /* > U+10FFFF */
    expect_stream((const char *[]){"\xE2\x82", "A", NULL}, FFFD "A");       /* truncated, one U+FFFD */
    expect_stream((const char *[]){"x\xE2\x82", "\x01", "y", NULL}, "x" FFFD "y"); /* flush mid-char */
    expect_stream((const char *[]){"\xE2\x82\xAC", NULL}, "\xE2\x82\xAC");
}

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void any_chunking(void **state) {
    (void)state;
    const char *text = "h\xC3\xA9llo \xE4\xB8\x96\xE7\x95\x8C \xF0\x9F\x98\x80\xE2\x80\x8D! \xD0\xB4\xD0\xB0";
    size_t len = strlen(text);
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    for (int round = 0; round < 2000; round++) {
        utf8_stream s;
        utf8_stream_init(&s);
        char out[512];
        size_t n = 0;
        for (size_t i = 0; i < len;) {
            size_t k = 1 + rng_next(&seed) % 5;
            if (k > len - i) k = len - i;
            size_t w = utf8_stream_push(&s, text + i, k, out + n);
            assert_true(valid_utf8(out + n, w));
            n += w;
            i += k;
        }
        n += utf8_stream_flush(&s, out + n);
        assert_int_equal(n, len);
        assert_memory_equal(out, text, len);
    }
    /* random bytes: output is always valid and within the documented bound */
    for (int round = 0; round < 2000; round++) {
        unsigned char in[64];
        size_t m = rng_next(&seed) % sizeof in;
        for (size_t i = 0; i < m; i++) in[i] = (unsigned char)rng_next(&seed);
        utf8_stream s;
        utf8_stream_init(&s);
        char out[UTF8_STREAM_OUT_MAX(64) + 3];
        size_t n = 0;
        for (size_t i = 0; i < m;) {
            size_t k = 1 + rng_next(&seed) % 7;
            if (k > m - i) k = m - i;
            size_t w = utf8_stream_push(&s, (const char *)in + i, k, out + n);
            assert_true(w <= UTF8_STREAM_OUT_MAX(k));
            n += w;
            i += k;
        }
        n += utf8_stream_flush(&s, out + n);
        assert_true(valid_utf8(out, n));
        if (valid_utf8((const char *)in, m)) {
            assert_int_equal(n, m);
            assert_memory_equal(out, in, m);
        }
    }
}

/* Token-by-token printing of every vector string of a vocab. */
static void stream_vectors(void **state) {
    const char *name = *state;
    char rel[256];
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", name);
    kumo_vocab *v = tok_load_shared(rel);
    assert_non_null(v);
    tok_vectors tv;
    assert_true(tok_vectors_read(shared_path(rel), &tv));
    int partial_pieces = 0, strings = 0;
    for (int i = 0; i < tv.n; i++) {
        utf8_stream s;
        utf8_stream_init(&s);
        char *out = malloc(UTF8_STREAM_OUT_MAX(tv.len[i]) + 64);
        size_t n = 0;
        for (int t = 0; t < tv.n_ids[i]; t++) {
            char piece[256];
            int k = vocab_token_to_piece(v, tv.ids[i][t], piece, sizeof piece, false);
            assert_true(k >= 0);
            /* SPM: the first piece gives back the space the tokenizer put in front */
            const char *p = piece;
            if (t == 0 && vocab_add_space_prefix(v) && k > 0 && piece[0] == ' ') p++, k--;
            if (!valid_utf8(p, (size_t)k)) partial_pieces++;
            size_t w = utf8_stream_push(&s, p, (size_t)k, out + n);
            assert_true(valid_utf8(out + n, w));
            n += w;
        }
        n += utf8_stream_flush(&s, out + n);
        assert_int_equal(n, tv.len[i]);
        assert_memory_equal(out, tv.text[i], n);
        free(out);
        strings++;
    }
    printf("  %s: %d strings streamed, %d pieces were not valid UTF-8 on their own\n", name, strings,
           partial_pieces);
    assert_true(partial_pieces > 0); /* the guard had work to do */
    tok_vectors_free(&tv);
    vocab_free(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stream_cases),
        cmocka_unit_test(any_chunking),
        cmocka_unit_test_prestate(stream_vectors, (void *)"qwen3"),
        cmocka_unit_test_prestate(stream_vectors, (void *)"llama-spm"),
        cmocka_unit_test_prestate(stream_vectors, (void *)"llama3"),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
