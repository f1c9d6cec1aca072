/* libFuzzer target for the tokenizer: random bytes -> ids (parse_special off and on, with and
 * without BOS/EOS) -> text again, plus token-by-token printing through the UTF-8 stream guard.
 *
 * The vocab is loaded once in LLVMFuzzerInitialize from $KUMO_FUZZ_VOCAB (default
 * ../shared/vocab/ggml-vocab-qwen3.gguf, i.e. run from the project root). Besides "never crash,
 * never leak" (ASan/UBSan) it checks what must hold for any input:
 *  - every id is in range, and asking with a too-small buffer reports the same count;
 *  - decoding never fails and always yields valid UTF-8 when the input was valid UTF-8;
 *  - exact round trip without special-token parsing: byte-level BPE on valid UTF-8 input, and
 *    SentencePiece on any bytes when the vocab has no USER_DEFINED tokens (a matched one would
 *    add the SPM space prefix to the text after it) -- except that SentencePiece cannot tell a
 *    literal U+2581 (▁) from its space marker, so those come back as spaces;
 *  - the UTF-8 stream guard emits only valid UTF-8 and, for valid input, exactly the decoded text.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"
#include "tokenizer/utf8_stream.h"

/* The one vocab every input is run against: set once at start-up, read-only afterwards. */
static kumo_vocab *g_fuzz_vocab;
static bool g_fuzz_spm_exact; /* SPM without USER_DEFINED tokens: any bytes round-trip */
static bool g_fuzz_bpe;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *path = getenv("KUMO_FUZZ_VOCAB");
    if (!path || !*path) path = "../shared/vocab/ggml-vocab-qwen3.gguf";
    kumo_error err = {0};
    gguf_ctx *g = gguf_open(path, &err);
    if (g) {
        g_fuzz_vocab = vocab_load(g, &err);
        gguf_close(g);
    }
    if (!g_fuzz_vocab) {
        fprintf(stderr, "fuzz_tokenizer: cannot load %s: %s\n", path, err.msg);
        exit(1);
    }
    const char *model = vocab_model_name(g_fuzz_vocab);
    g_fuzz_bpe = strcmp(model, "gpt2") == 0;
    g_fuzz_spm_exact = strcmp(model, "llama") == 0;
    for (int t = 0; t < vocab_n_tokens(g_fuzz_vocab); t++)
        if (vocab_token_type(g_fuzz_vocab, t) == VOCAB_TOKEN_USER_DEFINED) g_fuzz_spm_exact = false;
    fprintf(stderr, "fuzz_tokenizer: %s (%s, pre '%s', %d tokens)\n", path, model,
            vocab_pre_name(g_fuzz_vocab), vocab_n_tokens(g_fuzz_vocab));
    return 0;
}

static bool valid_utf8(const char *s, size_t n) {
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_decode((const unsigned char *)s + i, n - i, &cp);
        if (!k) return false;
        i += k;
    }
    return true;
}

/* What SPM decoding gives back: the text with every U+2581 turned into a space. */
static size_t spm_expected(const char *text, size_t len, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        if (i + 3 <= len && memcmp(text + i, "\xE2\x96\x81", 3) == 0) {
            out[o++] = ' ';
            i += 3;
        } else {
            out[o++] = text[i++];
        }
    }
    return o;
}

static void run(const char *text, size_t len, bool add_special, bool parse_special, bool text_valid) {
    const kumo_vocab *v = g_fuzz_vocab;
    int need = vocab_tokenize(v, text, len, NULL, 0, add_special, parse_special);
    if (need == INT32_MIN) abort();
    int n = need < 0 ? -need : need;
    int32_t *ids = malloc(((size_t)n + 1) * sizeof *ids);
    if (vocab_tokenize(v, text, len, ids, n, add_special, parse_special) != n) abort();
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab_n_tokens(v)) abort();

    int dn = vocab_detokenize(v, ids, n, NULL, 0, false, parse_special, false);
    if (dn == INT32_MIN) abort();
    size_t dlen = (size_t)(dn < 0 ? -dn : dn);
    char *back = malloc(dlen + 1);
    if (vocab_detokenize(v, ids, n, back, (int)dlen, false, parse_special, false) != (int)dlen) abort();
    if (text_valid && !valid_utf8(back, dlen)) abort();
    if (!add_special && !parse_special && ((g_fuzz_bpe && text_valid) || g_fuzz_spm_exact)) {
        char *expect = malloc(len + 1);
        size_t elen = g_fuzz_bpe ? len : spm_expected(text, len, expect);
        if (g_fuzz_bpe) memcpy(expect, text, len);
        if (dlen != elen || memcmp(back, expect, elen) != 0) {
            fprintf(stderr, "round trip differs: %zu bytes expected, %zu out\n", elen, dlen);
            abort();
        }
        free(expect);
    }
    /* the same pieces printed one by one through the stream guard */
    utf8_stream s;
    utf8_stream_init(&s);
    char *streamed = malloc(UTF8_STREAM_OUT_MAX(dlen) + 64);
    size_t m = 0;
    for (int i = 0; i < n; i++) {
        char piece[512];
        int k = vocab_token_to_piece(v, ids[i], piece, sizeof piece, parse_special);
        if (k < 0) abort(); /* no vocab here has pieces that long */
        const char *p = piece;
        if (i == 0 && vocab_add_space_prefix(v) && k > 0 && piece[0] == ' ') p++, k--;
        size_t w = utf8_stream_push(&s, p, (size_t)k, streamed + m);
        if (!valid_utf8(streamed + m, w)) abort();
        m += w;
    }
    m += utf8_stream_flush(&s, streamed + m);
    if (!valid_utf8(streamed, m)) abort();
    if (!add_special && valid_utf8(back, dlen) && (m != dlen || memcmp(streamed, back, m) != 0)) abort();
    free(streamed);
    free(back);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    bool valid = valid_utf8(text, size);
    run(text, size, false, false, valid);
    run(text, size, false, true, valid);
    run(text, size, true, true, valid);
    return 0;
}
