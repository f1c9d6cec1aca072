/* Special and added tokens: parse_special on/off against llama.cpp's recorded results
 * (../shared/vocab/DISAGREEMENTS.json "special_mode"), chat-template prompts with BOS and parsed
 * control tokens (../shared/vocab/chat-templates.json), BOS/EOS flags, end-of-generation sets,
 * piece rendering of control / user-defined / byte tokens, the SPM leading-space rule of
 * detokenize, and the partition rules (longest token first, RSTRIP) on synthetic vocabs. */
#include "testutil.h"

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "tok_test_util.h"

/* Tokenizes and compares with a JSON id list; prints both on mismatch. */
static bool check_ids(const kumo_vocab *v, const char *text, bool add_special, bool parse_special,
                      const cJSON *expected, const char *label) {
    int n_exp, n = 0;
    int32_t *exp = json_ids(expected, &n_exp);
    int32_t *got = tok_tokenize(v, text, strlen(text), add_special, parse_special, &n);
    assert_non_null(got);
    bool ok = tok_ids_equal(got, n, exp, n_exp);
    if (!ok) {
        fprintf(stderr, "%s: ids differ\n", label);
        tok_print_ids("expected", exp, n_exp);
        tok_print_ids("got", got, n);
    }
    free(exp);
    free(got);
    return ok;
}

static void parse_special_matches_llama_cpp(void **state) {
    (void)state;
    cJSON *d = load_json("vocab/DISAGREEMENTS.json");
    const cJSON *task = cJSON_GetObjectItemCaseSensitive(d, "task3");
    const cJSON *per_vocab;
    int checked = 0, failed = 0;
    cJSON_ArrayForEach(per_vocab, task) {
        char rel[256];
        snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", per_vocab->string);
        kumo_vocab *v = tok_load_shared(rel);
        assert_non_null(v);
        const cJSON *c;
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(per_vocab, "special_mode")) {
            const char *text = cJSON_GetObjectItemCaseSensitive(c, "text")->valuestring;
            char label[300];
            snprintf(label, sizeof label, "%s #%d parse on", per_vocab->string,
                     cJSON_GetObjectItemCaseSensitive(c, "index")->valueint);
            failed += !check_ids(v, text, false, true,
                                 cJSON_GetObjectItemCaseSensitive(c, "llama_cpp_parse_special"), label);
            snprintf(label, sizeof label, "%s #%d parse off", per_vocab->string,
                     cJSON_GetObjectItemCaseSensitive(c, "index")->valueint);
            failed += !check_ids(v, text, false, false,
                                 cJSON_GetObjectItemCaseSensitive(c, "no_parse_llama_cpp"), label);
            checked += 2;
        }
        /* strings the two reference engines disagree on: we follow llama.cpp (no NFC step) */
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(per_vocab, "disagreements")) {
            const char *text = cJSON_GetObjectItemCaseSensitive(c, "text")->valuestring;
            failed += !check_ids(v, text, false, false, cJSON_GetObjectItemCaseSensitive(c, "llama_cpp"),
                                 "disagreement (llama.cpp ids)");
            checked++;
        }
        vocab_free(v);
    }
    printf("  %d special-mode / disagreement cases checked against llama.cpp\n", checked);
    cJSON_Delete(d);
    assert_true(checked >= 13);
    assert_int_equal(failed, 0);
}

static void chat_template_prompts(void **state) {
    (void)state;
    cJSON *d = load_json("vocab/chat-templates.json");
    const cJSON *c;
    int checked = 0, failed = 0;
    cJSON_ArrayForEach(c, d) {
        const char *tmpl = cJSON_GetObjectItemCaseSensitive(c, "template")->valuestring;
        char rel[256];
        snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", tmpl);
        kumo_vocab *v = tok_load_shared(rel);
        assert_non_null(v);
        /* llama-server: BOS per add_bos_token, control tokens parsed */
        failed += !check_ids(v, cJSON_GetObjectItemCaseSensitive(c, "rendered")->valuestring, true, true,
                             cJSON_GetObjectItemCaseSensitive(c, "prompt_token_ids"), c->string);
        checked++;
        vocab_free(v);
    }
    printf("  %d chat-template prompts checked\n", checked);
    cJSON_Delete(d);
    assert_int_equal(checked, 10);
    assert_int_equal(failed, 0);
}

static void expect_ids(const kumo_vocab *v, const char *text, bool add_special, bool parse_special,
                       const int32_t *exp, int n_exp) {
    int n = 0;
    int32_t *got = tok_tokenize(v, text, strlen(text), add_special, parse_special, &n);
    assert_non_null(got);
    if (!tok_ids_equal(got, n, exp, n_exp)) {
        fprintf(stderr, "\"%s\" (add_special=%d parse_special=%d)\n", text, add_special, parse_special);
        tok_print_ids("expected", exp, n_exp);
        tok_print_ids("got", got, n);
        fail();
    }
    free(got);
}

static bool contains(const int32_t *ids, int n, int32_t id) {
    for (int i = 0; i < n; i++)
        if (ids[i] == id) return true;
    return false;
}

static void qwen3_control_and_user_defined(void **state) {
    (void)state;
    kumo_vocab *v = tok_load_shared("vocab/ggml-vocab-qwen3.gguf");
    assert_non_null(v);
    /* USER_DEFINED: matched with or without parse_special */
    expect_ids(v, "<think>", false, false, (int32_t[]){151667}, 1);
    expect_ids(v, "<think>", false, true, (int32_t[]){151667}, 1);
    /* CONTROL: one token only when parsing special tokens */
    expect_ids(v, "<|im_end|>", false, true, (int32_t[]){151645}, 1);
    int n = 0;
    int32_t *ids = tok_tokenize(v, "<|im_end|>", 10, false, false, &n);
    assert_true(n > 1);
    assert_false(contains(ids, n, 151645));
    free(ids);
    /* no BOS for Qwen3 even with add_special */
    assert_false(vocab_add_bos(v));
    expect_ids(v, "Hello", true, false, (int32_t[]){9707}, 1);

    /* llama.cpp's text rules: </s> (an ordinary BPE token in Qwen3) becomes CONTROL and EOG */
    assert_int_equal(vocab_token_type(v, 128247), VOCAB_TOKEN_CONTROL);
    assert_true(vocab_is_eog(v, 128247));
    expect_ids(v, "</s>", false, true, (int32_t[]){128247}, 1);
    int32_t eog[] = {151643, 151645, 151662, 151663, 151664}; /* endoftext im_end fim_pad repo file_sep */
    for (size_t i = 0; i < sizeof eog / sizeof eog[0]; i++) assert_true(vocab_is_eog(v, eog[i]));
    assert_false(vocab_is_eog(v, 151644)); /* <|im_start|> */
    assert_false(vocab_is_eog(v, 151667)); /* <think> */
    assert_false(vocab_is_eog(v, 9707));
    assert_false(vocab_is_eog(v, -1));
    assert_int_equal(vocab_eos(v), 151645);
    assert_int_equal(vocab_eot(v), 151645);
    assert_int_equal(vocab_bos(v), 151643);

    /* pieces: control tokens only when asked, user-defined always */
    char buf[64];
    assert_int_equal(vocab_token_to_piece(v, 151645, buf, sizeof buf, false), 0);
    assert_int_equal(vocab_token_to_piece(v, 151645, buf, sizeof buf, true), 10);
    assert_memory_equal(buf, "<|im_end|>", 10);
    assert_int_equal(vocab_token_to_piece(v, 151667, buf, sizeof buf, false), 7);
    assert_memory_equal(buf, "<think>", 7);
    /* padding entries [PAD...] (UNUSED) render as nothing */
    assert_int_equal(vocab_token_type(v, 151900), VOCAB_TOKEN_UNUSED);
    assert_int_equal(vocab_token_to_piece(v, 151900, buf, sizeof buf, true), 0);
    vocab_free(v);
}

static void llama3_bos_and_eog(void **state) {
    (void)state;
    kumo_vocab *v = tok_load_shared("vocab/ggml-vocab-llama3.gguf");
    assert_non_null(v);
    assert_true(vocab_add_bos(v));
    assert_false(vocab_add_eos(v));
    expect_ids(v, "Hello", true, false, (int32_t[]){128000, 9906}, 2);
    expect_ids(v, "Hello", false, false, (int32_t[]){9906}, 1);
    expect_ids(v, "<|eot_id|>", false, true, (int32_t[]){128009}, 1);
    assert_true(vocab_is_eog(v, 128001)); /* <|end_of_text|> (EOS) */
    assert_true(vocab_is_eog(v, 128009)); /* <|eot_id|> */
    assert_false(vocab_is_eog(v, 128008)); /* reserved (Llama 3.0 has no <|eom_id|>) */
    assert_false(vocab_is_eog(v, 128000));
    assert_false(vocab_is_eog(v, 128006)); /* <|start_header_id|> */
    assert_int_equal(vocab_eot(v), 128009);

    /* detokenize: remove_special drops the BOS; unparse_special renders it */
    int32_t ids[] = {128000, 9906, 128009};
    size_t len;
    char *s = tok_detokenize(v, ids, 3, true, false, &len);
    assert_string_equal(s, "Hello");
    free(s);
    s = tok_detokenize(v, ids, 3, false, true, &len);
    assert_string_equal(s, "<|begin_of_text|>Hello<|eot_id|>");
    free(s);
    /* HF clean_up_tokenization_spaces (Llama 3 asks for it) only when requested */
    assert_true(vocab_clean_spaces(v));
    int n = 0;
    int32_t *t = tok_tokenize(v, "Hi , there !", 12, false, false, &n);
    char out[64];
    int k = vocab_detokenize(v, t, n, out, sizeof out, false, false, true);
    assert_int_equal(k, 10);
    assert_memory_equal(out, "Hi, there!", 10);
    k = vocab_detokenize(v, t, n, out, sizeof out, false, false, false);
    assert_int_equal(k, 12);
    free(t);
    vocab_free(v);
}

static void deepseek_and_bert_flags(void **state) {
    (void)state;
    kumo_vocab *v = tok_load_shared("vocab/ggml-vocab-deepseek-v3.gguf");
    assert_non_null(v);
    assert_true(vocab_add_bos(v));
    int n = 0;
    int32_t *ids = tok_tokenize(v, "Hi", 2, true, false, &n);
    assert_true(n >= 2);
    assert_int_equal(ids[0], 0);
    free(ids);
    assert_true(vocab_is_eog(v, 1));
    assert_int_equal(vocab_eot(v), 1); /* <｜end▁of▁sentence｜> */
    vocab_free(v);

    /* deepseek-llm: its 13 single-character USER_DEFINED tokens are matched without parsing */
    v = tok_load_shared("vocab/ggml-vocab-deepseek-llm.gguf");
    assert_non_null(v);
    expect_ids(v, "\xC3\xB6", false, false, (int32_t[]){100003}, 1); /* ö */
    vocab_free(v);

    /* WordPiece: [CLS] ... [SEP] */
    v = tok_load_shared("vocab/ggml-vocab-bert-bge.gguf");
    assert_non_null(v);
    expect_ids(v, "Hello", true, false, (int32_t[]){101, 7592, 102}, 3);
    expect_ids(v, "H\xC3\xA9llo!", false, false, (int32_t[]){7592, 999}, 2); /* accent stripped */
    vocab_free(v);
}

static void spm_flags_pieces_and_leading_space(void **state) {
    (void)state;
    kumo_vocab *v = tok_load_shared("vocab/ggml-vocab-llama-spm.gguf");
    assert_non_null(v);
    assert_true(vocab_add_bos(v));
    assert_true(vocab_add_space_prefix(v));
    assert_int_equal(vocab_bos(v), 1);
    assert_int_equal(vocab_eos(v), 2);
    assert_true(vocab_is_eog(v, 2));
    assert_false(vocab_is_eog(v, 1));
    expect_ids(v, "Hello", true, false, (int32_t[]){1, 15043}, 2);
    /* parse_special: "<s>" is BOS; the text after it gets the space prefix again */
    expect_ids(v, "<s>Hello", false, true, (int32_t[]){1, 15043}, 2);

    char buf[16];
    assert_int_equal(vocab_token_to_piece(v, 15043, buf, sizeof buf, false), 6);
    assert_memory_equal(buf, " Hello", 6);
    assert_int_equal(vocab_token_to_piece(v, 13, buf, sizeof buf, false), 1); /* <0x0A> */
    assert_int_equal(buf[0], '\n');
    assert_int_equal(vocab_token_to_piece(v, 1, buf, sizeof buf, false), 0);  /* <s> control */
    assert_int_equal(vocab_token_to_piece(v, 0, buf, sizeof buf, false), 0);  /* <unk> */
    assert_int_equal(vocab_token_to_piece(v, 0, buf, sizeof buf, true), 5);
    assert_int_equal(vocab_token_to_piece(v, 15043, buf, 3, false), -6);      /* too small */

    /* detokenize removes the space tokenize added, unless a BOS came first (llama.cpp) */
    size_t len;
    char *s = tok_detokenize(v, (int32_t[]){15043}, 1, false, false, &len);
    assert_string_equal(s, "Hello");
    free(s);
    s = tok_detokenize(v, (int32_t[]){1, 15043}, 2, true, false, &len);
    assert_string_equal(s, " Hello");
    free(s);
    vocab_free(v);
}

/* ---- partition rules on synthetic SPM vocabs ---- */

enum { N_SYNTH = 12 };
static const char *const SYNTH_TOKENS[N_SYNTH] = {
    "<unk>", "<s>", "</s>", "\xE2\x96\x81", "x", "y", "z", "w", "b", "xy", "yzw", "<|u|>"};
static const int32_t SYNTH_TYPES[N_SYNTH] = {2, 3, 3, 1, 1, 1, 1, 1, 1, 4, 4, 4};
enum { T_SPACE = 3, T_X = 4, T_Y = 5, T_Z = 6, T_W = 7, T_B = 8, T_XY = 9, T_YZW = 10, T_U = 11 };

static kumo_vocab *synth_spm(const char *general_name) {
    gguf_writer *w = gguf_writer_new();
    assert_non_null(w);
    gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    if (general_name) gguf_writer_set_str(w, "general.name", general_name);
    tok_set_strings(w, "tokenizer.ggml.tokens", SYNTH_TOKENS, N_SYNTH);
    tok_set_numbers(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, SYNTH_TYPES, N_SYNTH);
    kumo_error err = {0};
    kumo_vocab *v = tok_load_writer(w, &err);
    if (!v) fprintf(stderr, "synthetic vocab: %s\n", err.msg);
    assert_non_null(v);
    return v;
}

static void longest_special_token_first(void **state) {
    (void)state;
    kumo_vocab *v = synth_spm(NULL);
    /* "yzw" (longer) claims its text before "xy" is tried: x | yzw, not xy | z w */
    expect_ids(v, "xyzw", false, false, (int32_t[]){T_SPACE, T_X, T_YZW}, 3);
    /* without overlap both are matched; the text between gets the SPM space prefix */
    expect_ids(v, "xyzyzw", false, false, (int32_t[]){T_XY, T_SPACE, T_Z, T_YZW}, 4);
    vocab_free(v);
}

static void rstrip_for_phi3_names(void **state) {
    (void)state;
    /* llama.cpp gives every special token of a "phi3" model RSTRIP: the spaces after it vanish */
    kumo_vocab *v = synth_spm("Phi3-synthetic");
    expect_ids(v, "x<|u|>   b", false, false, (int32_t[]){T_SPACE, T_X, T_U, T_SPACE, T_B}, 5);
    vocab_free(v);
    v = synth_spm("other");
    expect_ids(v, "x<|u|>  b", false, false,
               (int32_t[]){T_SPACE, T_X, T_U, T_SPACE, T_SPACE, T_SPACE, T_B}, 7);
    vocab_free(v);
}

static void eog_detected_by_text(void **state) {
    (void)state;
    const char *tokens[] = {"<unk>", "<s>", "</s>", "a", "<|im_end|>", "<|im_start|>"};
    int32_t types[] = {2, 3, 3, 1, 1, 1}; /* im_end / im_start deliberately NORMAL */
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    tok_set_strings(w, "tokenizer.ggml.tokens", tokens, 6);
    tok_set_numbers(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, 6);
    gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 4294967295u); /* "none" */
    kumo_error err = {0};
    kumo_vocab *v = tok_load_writer(w, &err);
    assert_non_null(v);
    assert_int_equal(vocab_eos(v), -1);
    assert_true(vocab_is_eog(v, 4));
    assert_int_equal(vocab_eot(v), 4);
    assert_int_equal(vocab_token_type(v, 4), VOCAB_TOKEN_CONTROL); /* forced, as llama.cpp */
    assert_int_equal(vocab_token_type(v, 5), VOCAB_TOKEN_NORMAL);
    assert_false(vocab_is_eog(v, 5));
    assert_true(vocab_is_eog(v, 2)); /* "</s>" by text */
    vocab_free(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_special_matches_llama_cpp),
        cmocka_unit_test(chat_template_prompts),
        cmocka_unit_test(qwen3_control_and_user_defined),
        cmocka_unit_test(llama3_bos_and_eog),
        cmocka_unit_test(deepseek_and_bert_flags),
        cmocka_unit_test(spm_flags_pieces_and_leading_space),
        cmocka_unit_test(longest_special_token_first),
        cmocka_unit_test(rstrip_for_phi3_names),
        cmocka_unit_test(eog_detected_by_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
