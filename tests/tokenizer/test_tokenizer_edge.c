/* Robustness: the API contract (bad arguments, small buffers, out-of-range ids), malformed UTF-8
 * and NUL bytes, malformed tokenizer metadata (each a clear error naming the key), the unknown
 * pre-tokenizer fallback, and linear time on 1 MB inputs including the pathological ones
 * (long whitespace runs, one huge word, digit runs). */
#include "testutil.h"

#include <cmocka.h>
#include <time.h>

#include "tok_test_util.h"

static void api_contract(void **state) {
    (void)state;
    kumo_vocab *v = tok_load_shared("vocab/ggml-vocab-llama3.gguf");
    assert_non_null(v);
    int32_t ids[8];
    assert_int_equal(vocab_tokenize(NULL, "a", 1, ids, 8, false, false), INT32_MIN);
    assert_int_equal(vocab_tokenize(v, NULL, 1, ids, 8, false, false), INT32_MIN);
    assert_int_equal(vocab_tokenize(v, "a", 1, ids, -1, false, false), INT32_MIN);
    assert_int_equal(vocab_tokenize(v, "a", 1, NULL, 8, false, false), INT32_MIN);
    assert_int_equal(vocab_tokenize(v, NULL, 0, NULL, 0, false, false), 0);
    /* empty text: nothing, or just the BOS */
    assert_int_equal(vocab_tokenize(v, "", 0, ids, 8, true, false), 1);
    assert_int_equal(ids[0], 128000);
    /* too small: -(needed), nothing written */
    ids[0] = -7;
    assert_int_equal(vocab_tokenize(v, "Hello world", 11, ids, 1, false, false), -2);
    assert_int_equal(ids[0], -7);
    assert_int_equal(vocab_tokenize(v, "Hello world", 11, ids, 2, false, false), 2);

    char buf[32];
    assert_int_equal(vocab_token_to_piece(v, -1, buf, sizeof buf, true), 0);
    assert_int_equal(vocab_token_to_piece(v, vocab_n_tokens(v), buf, sizeof buf, true), 0);
    assert_int_equal(vocab_token_to_piece(v, 9906, NULL, 0, false), -5); /* "Hello" */
    assert_null(vocab_token_text(v, -3));
    assert_string_equal(vocab_token_text(v, 9906), "Hello");
    assert_int_equal(vocab_token_type(v, 1 << 30), VOCAB_TOKEN_UNDEFINED);
    assert_string_equal(vocab_model_name(v), "gpt2");
    assert_string_equal(vocab_pre_name(v), "llama-bpe");

    assert_int_equal(vocab_detokenize(v, NULL, 1, buf, 8, false, false, false), INT32_MIN);
    assert_int_equal(vocab_detokenize(v, ids, 1, buf, -1, false, false, false), INT32_MIN);
    int32_t mixed[] = {9906, -5, 1 << 30, 1917}; /* bad ids render as nothing */
    assert_int_equal(vocab_detokenize(v, mixed, 4, buf, sizeof buf, false, false, false), 11);
    assert_memory_equal(buf, "Hello world", 11);
    assert_int_equal(vocab_detokenize(v, mixed, 4, buf, 4, false, false, false), -11);
    vocab_free(v);
}

static void roundtrip(const kumo_vocab *v, const char *text, size_t len, const char *expect, size_t elen) {
    int n = 0;
    int32_t *ids = tok_tokenize(v, text, len, false, false, &n);
    assert_non_null(ids);
    size_t blen;
    char *back = tok_detokenize(v, ids, n, false, false, &blen);
    assert_non_null(back);
    assert_int_equal(blen, elen);
    assert_memory_equal(back, expect, elen);
    free(back);
    free(ids);
}

static void malformed_utf8_and_nul(void **state) {
    (void)state;
    /* BPE: malformed bytes become U+FFFD, like llama.cpp; NUL is an ordinary character */
    kumo_vocab *v = tok_load_shared("vocab/ggml-vocab-qwen3.gguf");
    assert_non_null(v);
    roundtrip(v, "a\xFF" "b", 3, "a\xEF\xBF\xBD" "b", 5);
    roundtrip(v, "x\xE2\x82", 3, "x\xEF\xBF\xBD\xEF\xBF\xBD", 7);
    roundtrip(v, "\xC0\x80", 2, "\xEF\xBF\xBD\xEF\xBF\xBD", 6);
    roundtrip(v, "\xED\xA0\x80!", 4, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD!", 10);
    roundtrip(v, "a\0b", 3, "a\0b", 3);
    vocab_free(v);

    /* SPM: byte fallback carries any byte sequence through unchanged */
    v = tok_load_shared("vocab/ggml-vocab-llama-spm.gguf");
    assert_non_null(v);
    char all[256];
    for (int i = 0; i < 256; i++) all[i] = (char)(255 - i);
    roundtrip(v, all, sizeof all, all, sizeof all);
    roundtrip(v, "\xE2\x82 x", 4, "\xE2\x82 x", 4);
    /* a literal U+2581 is SentencePiece's space marker: it comes back as a space */
    roundtrip(v, "a\xE2\x96\x81" "b", 5, "a b", 3);
    vocab_free(v);

    /* WordPiece: malformed bytes are dropped like U+FFFD */
    v = tok_load_shared("vocab/ggml-vocab-bert-bge.gguf");
    assert_non_null(v);
    int n1 = 0, n2 = 0;
    int32_t *a = tok_tokenize(v, "hel\xFFlo", 6, false, false, &n1);
    int32_t *b = tok_tokenize(v, "hello", 5, false, false, &n2);
    assert_true(tok_ids_equal(a, n1, b, n2));
    free(a);
    free(b);
    vocab_free(v);
}

/* ---- malformed metadata ---- */

static const char *const TOKS[] = {"<unk>", "<s>", "</s>", "a", "b", "ab"};
static const int32_t TYPES[] = {2, 3, 3, 1, 1, 1};

static gguf_writer *base_writer(const char *model) {
    gguf_writer *w = gguf_writer_new();
    assert_non_null(w);
    if (model) gguf_writer_set_str(w, "tokenizer.ggml.model", model);
    tok_set_strings(w, "tokenizer.ggml.tokens", TOKS, 6);
    tok_set_numbers(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, TYPES, 6);
    return w;
}

static void expect_load_error(gguf_writer *w, int code, const char *needle) {
    kumo_error err = {0};
    kumo_vocab *v = tok_load_writer(w, &err);
    if (v) vocab_free(v);
    assert_null(v);
    assert_int_equal(err.code, code);
    if (!strstr(err.msg, needle)) fail_msg("error \"%s\" does not mention \"%s\"", err.msg, needle);
}

static void malformed_metadata(void **state) {
    (void)state;
    expect_load_error(base_writer(NULL), KUMO_E_FORMAT, "tokenizer.ggml.model");
    expect_load_error(base_writer("t5"), KUMO_E_UNSUPPORTED, "t5");

    gguf_writer *w = base_writer("llama");
    gguf_writer_remove(w, "tokenizer.ggml.tokens");
    expect_load_error(w, KUMO_E_FORMAT, "tokenizer.ggml.tokens");

    w = base_writer("llama");
    float scores[5] = {0};
    tok_set_numbers(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores, 5);
    expect_load_error(w, KUMO_E_FORMAT, "tokenizer.ggml.scores");

    w = base_writer("llama");
    tok_set_strings(w, "tokenizer.ggml.token_type", TOKS, 6);
    expect_load_error(w, KUMO_E_FORMAT, "tokenizer.ggml.token_type");

    w = base_writer("llama");
    gguf_writer_set_str(w, "tokenizer.ggml.add_bos_token", "yes");
    expect_load_error(w, KUMO_E_FORMAT, "add_bos_token");

    w = base_writer("llama");
    gguf_writer_set_str(w, "tokenizer.ggml.bos_token_id", "1");
    expect_load_error(w, KUMO_E_FORMAT, "bos_token_id");

    w = base_writer("gpt2");
    expect_load_error(w, KUMO_E_FORMAT, "tokenizer.ggml.merges");

    w = base_writer("llama");
    gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    gguf_value v_str = {.type = GGUF_TYPE_STRING};
    v_str.v.str = (gguf_str){5, "model"};
    gguf_writer_set(w, "tokenizer.ggml.tokens", &v_str, NULL);
    expect_load_error(w, KUMO_E_FORMAT, "tokenizer.ggml.tokens");
}

static void odd_but_valid_metadata(void **state) {
    (void)state;
    /* out-of-range ids mean "none"; an empty token is renamed; a repeated text keeps its first id */
    const char *toks[] = {"<unk>", "", "a", "a", "b"};
    int32_t types[] = {2, 1, 1, 1, 1};
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    tok_set_strings(w, "tokenizer.ggml.tokens", toks, 5);
    tok_set_numbers(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, 5);
    gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 99999);
    gguf_writer_set_i32(w, "tokenizer.ggml.eos_token_id", -1);
    gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", false);
    kumo_error err = {0};
    kumo_vocab *v = tok_load_writer(w, &err);
    assert_non_null(v);
    assert_int_equal(vocab_bos(v), -1);
    assert_int_equal(vocab_eos(v), -1);
    assert_false(vocab_add_bos(v)); /* asked for, but there is no BOS */
    assert_string_equal(vocab_token_text(v, 1), "[EMPTY_1]");
    int32_t ids[8];
    assert_int_equal(vocab_tokenize(v, "ab", 2, ids, 8, true, false), 2);
    assert_int_equal(ids[0], 2);
    assert_int_equal(ids[1], 4);
    /* no byte tokens: an unknown character becomes <unk> */
    assert_int_equal(vocab_tokenize(v, "z", 1, ids, 8, false, false), 1);
    assert_int_equal(ids[0], 0);
    vocab_free(v);
}

/* A BPE vocab under an unknown pre-tokenizer name tokenizes as llama.cpp's "default". */
static void unknown_pre_falls_back_to_default(void **state) {
    (void)state;
    const char *toks[] = {"a", "b", "c", "1", "2", "3", "!", "\xC4\xA0", "ab", ("\xC4\xA0" "a")};
    const char *merges[] = {"a b", "\xC4\xA0 a"};
    kumo_vocab *vv[2];
    const char *pres[2] = {"default", "no-such-pre-tokenizer"};
    for (int k = 0; k < 2; k++) {
        gguf_writer *w = gguf_writer_new();
        gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
        gguf_writer_set_str(w, "tokenizer.ggml.pre", pres[k]);
        tok_set_strings(w, "tokenizer.ggml.tokens", toks, 10);
        tok_set_strings(w, "tokenizer.ggml.merges", merges, 2);
        kumo_error err = {0};
        vv[k] = tok_load_writer(w, &err); /* the second one warns on stderr */
        assert_non_null(vv[k]);
    }
    const char *text = "ab a!!123 abc";
    int n0 = 0, n1 = 0;
    int32_t *a = tok_tokenize(vv[0], text, strlen(text), false, false, &n0);
    int32_t *b = tok_tokenize(vv[1], text, strlen(text), false, false, &n1);
    assert_true(tok_ids_equal(a, n0, b, n1));
    /* words "ab" " a" "!!" "123" " abc"; merges by rank */
    int32_t expect[] = {8, 9, 6, 6, 3, 4, 5, 7, 8, 2}; /* " abc": rank 0 "a b" wins over "Ġ a" */
    assert_true(tok_ids_equal(a, n0, expect, 10));
    free(a);
    free(b);
    vocab_free(vv[0]);
    vocab_free(vv[1]);
}

/* ---- linear time ---- */

static double cpu_seconds(void) { return (double)clock() / CLOCKS_PER_SEC; }

static char *make_text(const char *unit, size_t target) {
    size_t ul = strlen(unit);
    char *s = malloc(target + 1);
    for (size_t i = 0; i < target; i++) s[i] = unit[i % ul];
    s[target] = 0;
    return s;
}

/* Times tokenize on 256 KB and 1 MB of the pattern; quadratic work would grow 16x, linear 4x. */
static void check_scaling(const kumo_vocab *v, const char *label, const char *unit, const char *tail) {
    double t[2];
    size_t sizes[2] = {256 * 1024, 1024 * 1024};
    for (int k = 0; k < 2; k++) {
        char *s = make_text(unit, sizes[k]);
        size_t tl = strlen(tail);
        memcpy(s + sizes[k] - tl, tail, tl);
        double t0 = cpu_seconds();
        int n = 0;
        int32_t *ids = tok_tokenize(v, s, sizes[k], false, false, &n);
        t[k] = cpu_seconds() - t0;
        assert_non_null(ids);
        assert_true(n > 0);
        if (k == 1) { /* and it is still the right text */
            size_t blen;
            char *back = tok_detokenize(v, ids, n, false, false, &blen);
            assert_int_equal(blen, sizes[k]);
            assert_memory_equal(back, s, blen);
            free(back);
        }
        free(ids);
        free(s);
    }
    double ratio = t[1] / (t[0] > 1e-3 ? t[0] : 1e-3);
    printf("  %-34s 256 KB %.3f s, 1 MB %.3f s (x%.1f)\n", label, t[0], t[1], ratio);
    assert_true(t[1] < 30.0);
    assert_true(ratio < 10.0);
}

static void linear_time(void **state) {
    (void)state;
    kumo_vocab *q = tok_load_shared("vocab/ggml-vocab-qwen3.gguf");
    kumo_vocab *d = tok_load_shared("vocab/ggml-vocab-deepseek-llm.gguf");
    kumo_vocab *s = tok_load_shared("vocab/ggml-vocab-llama-spm.gguf");
    kumo_vocab *l = tok_load_shared("vocab/ggml-vocab-llama3.gguf");
    assert_non_null(q);
    assert_non_null(d);
    assert_non_null(s);
    assert_non_null(l);
    size_t len;
    char *story = read_file(shared_path("text/story.txt"), &len);
    assert_non_null(story);
    check_scaling(q, "qwen3 story", story, "");
    check_scaling(l, "llama3 story", story, "");
    check_scaling(s, "llama-spm story", story, "");
    check_scaling(q, "qwen3 spaces", " ", "x");
    check_scaling(d, "deepseek-llm spaces then digit", " ", "7");
    check_scaling(l, "llama3 one long word", "abcdefghij", "");
    check_scaling(q, "qwen3 digits", "0123456789", "");
    check_scaling(s, "llama-spm one long word", "lorem", "");
    check_scaling(s, "llama-spm spaces", " ", "x");
    check_scaling(q, "qwen3 special-token text", "<|im_start|><think>", "");
    free(story);
    vocab_free(q);
    vocab_free(d);
    vocab_free(s);
    vocab_free(l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(api_contract),
        cmocka_unit_test(malformed_utf8_and_nul),
        cmocka_unit_test(malformed_metadata),
        cmocka_unit_test(odd_but_valid_metadata),
        cmocka_unit_test(unknown_pre_falls_back_to_default),
        cmocka_unit_test(linear_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
