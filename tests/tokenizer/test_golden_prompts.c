/* The llama2.c checkpoints' own SentencePiece vocabs (512 tokens each, taken from the model
 * files): the golden prompts' token ids (BOS added, as llama.cpp's llama_tokenize with
 * add_special=true), the decoded text of the reference greedy continuations, and the 200-token
 * llama2.c reference generation decoded to its expected text. */
#include "testutil.h"

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "tok_test_util.h"

/* Concatenated pieces, as a streaming printer shows them. */
static char *concat_pieces(const kumo_vocab *v, const int32_t *ids, int n) {
    size_t cap = 64, len = 0;
    char *s = malloc(cap);
    for (int i = 0; i < n; i++) {
        char piece[128];
        int k = vocab_token_to_piece(v, ids[i], piece, sizeof piece, false);
        assert_true(k >= 0);
        while (len + (size_t)k + 1 > cap) s = realloc(s, cap *= 2);
        memcpy(s + len, piece, (size_t)k);
        len += (size_t)k;
    }
    s[len] = 0;
    return s;
}

static void golden_prompts(void **state) {
    const char *stem = *state;
    char rel[256];
    snprintf(rel, sizeof rel, "models/%s.gguf", stem);
    kumo_vocab *v = tok_load_shared(rel);
    assert_non_null(v);
    assert_int_equal(vocab_n_tokens(v), 512);
    snprintf(rel, sizeof rel, "golden/%s.json", stem);
    cJSON *d = load_json(rel);
    const cJSON *p;
    int prompts = 0, continuations = 0;
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(d, "prompts")) {
        const char *text = cJSON_GetObjectItemCaseSensitive(p, "text")->valuestring;
        int n_exp, n = 0;
        int32_t *exp = json_ids(cJSON_GetObjectItemCaseSensitive(p, "tokens"), &n_exp);
        int32_t *got = tok_tokenize(v, text, strlen(text), true, false, &n);
        assert_non_null(got);
        if (!tok_ids_equal(got, n, exp, n_exp)) {
            fprintf(stderr, "%s: \"%s\"\n", stem, text);
            tok_print_ids("expected", exp, n_exp);
            tok_print_ids("got", got, n);
            fail();
        }
        /* back to the text: without the BOS the SPM space prefix is removed again */
        size_t len;
        char *back = tok_detokenize(v, exp + 1, n_exp - 1, false, false, &len);
        assert_string_equal(back, text);
        free(back);
        prompts++;

        const cJSON *lossy = cJSON_GetObjectItemCaseSensitive(p, "greedy_text_lossy");
        if (cJSON_IsFalse(lossy)) {
            int n_g;
            int32_t *g = json_ids(cJSON_GetObjectItemCaseSensitive(p, "greedy_tokens"), &n_g);
            char *s = concat_pieces(v, g, n_g);
            assert_string_equal(s, cJSON_GetObjectItemCaseSensitive(p, "greedy_text")->valuestring);
            free(s);
            free(g);
            continuations++;
        }
        free(exp);
        free(got);
    }
    printf("  %s: %d prompts tokenized, %d greedy continuations decoded\n", stem, prompts, continuations);
    assert_int_equal(prompts, 3);
    cJSON_Delete(d);
    vocab_free(v);
}

static void stories_once_and_greedy200(void **state) {
    (void)state;
    kumo_vocab *v = tok_load_shared("models/stories260K.gguf");
    assert_non_null(v);
    /* token 403 is "▁Once": the piece " Once" */
    char piece[16];
    assert_int_equal(vocab_token_to_piece(v, 403, piece, sizeof piece, false), 5);
    assert_memory_equal(piece, " Once", 5);
    int n = 0;
    int32_t *ids = tok_tokenize(v, "Once", 4, false, false, &n);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], 403);
    free(ids);
    /* llama2.c-format conversion: separator/padding ids of 4294967295 mean "none" */
    assert_int_equal(vocab_sep(v), -1);
    assert_int_equal(vocab_pad(v), -1);

    cJSON *d = load_json("golden/stories260K-greedy200.json");
    int n_gen;
    int32_t *gen = json_ids(cJSON_GetObjectItemCaseSensitive(d, "generated_ids"), &n_gen);
    assert_int_equal(n_gen, 200);
    size_t len;
    char *text = tok_detokenize(v, gen, n_gen, false, false, &len);
    assert_string_equal(text, cJSON_GetObjectItemCaseSensitive(d, "text")->valuestring);
    free(text);
    free(gen);
    cJSON_Delete(d);
    vocab_free(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate(golden_prompts, (void *)"stories260K"),
        cmocka_unit_test_prestate(golden_prompts, (void *)"aidreams260K"),
        cmocka_unit_test(stories_once_and_greedy200),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
