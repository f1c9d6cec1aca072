/* Every tokenizer test vector in ../shared/vocab: NAME.gguf[.TAG].inp/.out pairs, tokenized with
 * add_special=false, parse_special=false (as llama.cpp's test-tokenizer-0 does), must give the
 * reference ids exactly, and detokenizing the ids must give the input text back.
 *
 * Round-trip exceptions (none of them occur in the current vectors, the checks are exact):
 *  - WordPiece (bert) lowercases, strips accents and drops whitespace, so its text does not come
 *    back; for bert only the ids are checked.
 * The SPM leading space is not an exception: detokenize removes the space tokenize added.
 * Vector sets whose GGUF is absent (ggml-vocab-qwen2, ggml-vocab-llama-bpe: their upstream
 * copies are paired with qwen3/llama3) are skipped; the inventory test makes sure nothing else
 * is. */
#include "testutil.h"

#include <cmocka.h>
#include <glob.h>
#include <unistd.h>

#include "tok_test_util.h"

/* Every vocab GGUF with vectors. */
static const char *const VOCABS_WITH_VECTORS[] = {
    "bert-bge", "deepseek-coder", "deepseek-llm", "deepseek-v3", "falcon",  "gpt-2", "llama-spm",
    "llama3",   "mpt",            "phi-3",        "qwen3",       "refact",  "starcoder",
};
enum { N_VOCABS = sizeof VOCABS_WITH_VECTORS / sizeof VOCABS_WITH_VECTORS[0] };

static bool is_wordpiece(const kumo_vocab *v) { return strcmp(vocab_model_name(v), "bert") == 0; }

/* Runs one .inp/.out set; returns failures. */
static int run_set(const kumo_vocab *v, const char *prefix, const char *label) {
    tok_vectors tv;
    if (!tok_vectors_read(prefix, &tv)) {
        fprintf(stderr, "cannot read vector set %s\n", prefix);
        return 1;
    }
    int ids_ok = 0, trip_ok = 0, trip_checked = 0;
    for (int i = 0; i < tv.n; i++) {
        int n = 0;
        int32_t *ids = tok_tokenize(v, tv.text[i], tv.len[i], false, false, &n);
        assert_non_null(ids);
        if (tok_ids_equal(ids, n, tv.ids[i], tv.n_ids[i])) {
            ids_ok++;
        } else {
            fprintf(stderr, "%s #%d: ids differ for \"%.*s\"\n", label, i, (int)tv.len[i], tv.text[i]);
            tok_print_ids("expected", tv.ids[i], tv.n_ids[i]);
            tok_print_ids("got", ids, n);
        }
        if (!is_wordpiece(v)) {
            /* decode the reference ids, so a tokenize bug cannot hide a decode bug */
            size_t len = 0;
            char *text = tok_detokenize(v, tv.ids[i], tv.n_ids[i], false, false, &len);
            assert_non_null(text);
            trip_checked++;
            if (len == tv.len[i] && memcmp(text, tv.text[i], len) == 0) {
                trip_ok++;
            } else {
                fprintf(stderr, "%s #%d: round trip differs:\n  text: \"%.*s\"\n  back: \"%s\"\n",
                        label, i, (int)tv.len[i], tv.text[i], text);
            }
            free(text);
        }
        free(ids);
    }
    printf("  %-45s ids %2d/%2d   round-trip %2d/%2d%s\n", label, ids_ok, tv.n, trip_ok, trip_checked,
           is_wordpiece(v) ? " (WordPiece: not reversible, ids only)" : "");
    int failures = (tv.n - ids_ok) + (trip_checked - trip_ok);
    tok_vectors_free(&tv);
    return failures;
}

static void vectors_of_vocab(void **state) {
    const char *name = *state;
    char rel[256], pattern[4096];
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", name);
    kumo_vocab *v = tok_load_shared(rel);
    assert_non_null(v);
    snprintf(pattern, sizeof pattern, "%s*.inp", shared_path(rel));
    glob_t gl;
    assert_int_equal(glob(pattern, 0, NULL, &gl), 0);
    int failures = 0;
    for (size_t i = 0; i < gl.gl_pathc; i++) {
        char prefix[4096];
        snprintf(prefix, sizeof prefix, "%.*s", (int)(strlen(gl.gl_pathv[i]) - 4), gl.gl_pathv[i]);
        const char *label = strrchr(prefix, '/') ? strrchr(prefix, '/') + 1 : prefix;
        failures += run_set(v, prefix, label);
    }
    assert_true(gl.gl_pathc >= 1);
    globfree(&gl);
    vocab_free(v);
    assert_int_equal(failures, 0);
}

/* Every .inp in ../shared/vocab either belongs to a vocab tested above or has no GGUF at all. */
static void inventory_covers_every_vector_set(void **state) {
    (void)state;
    char pattern[4096];
    snprintf(pattern, sizeof pattern, "%s/*.inp", shared_path("vocab"));
    glob_t gl;
    assert_int_equal(glob(pattern, 0, NULL, &gl), 0);
    int covered = 0, skipped = 0;
    for (size_t i = 0; i < gl.gl_pathc; i++) {
        const char *base = strrchr(gl.gl_pathv[i], '/') + 1;
        const char *cut = strstr(base, ".gguf");
        assert_non_null(cut);
        char gguf[4096];
        snprintf(gguf, sizeof gguf, "%s/%.*s.gguf", shared_path("vocab"), (int)(cut - base), base);
        bool listed = false;
        for (int k = 0; k < N_VOCABS; k++) {
            char want[256];
            snprintf(want, sizeof want, "ggml-vocab-%s", VOCABS_WITH_VECTORS[k]);
            if ((size_t)(cut - base) == strlen(want) && strncmp(base, want, strlen(want)) == 0) listed = true;
        }
        if (listed) {
            covered++;
        } else {
            /* only sets without a GGUF may be skipped */
            if (access(gguf, F_OK) == 0) fail_msg("vector set %s has a GGUF but is not tested", base);
            printf("  skipped (no GGUF): %s\n", base);
            skipped++;
        }
    }
    globfree(&gl);
    printf("  %d vector sets tested, %d skipped\n", covered, skipped);
    assert_true(covered >= N_VOCABS);
}

/* The vocabs without vectors still load and round-trip plain text. */
static void vocabs_without_vectors_load(void **state) {
    (void)state;
    const char *files[] = {"vocab/ggml-vocab-baichuan.gguf", "vocab/ggml-vocab-gpt-neox.gguf"};
    const char *text = "Hello world! \xC3\xA9t\xC3\xA9 2024 \xF0\x9F\xA6\x99 \n\t end";
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        kumo_vocab *v = tok_load_shared(files[i]);
        assert_non_null(v);
        int n = 0;
        int32_t *ids = tok_tokenize(v, text, strlen(text), false, false, &n);
        assert_non_null(ids);
        assert_true(n > 5);
        size_t len = 0;
        char *back = tok_detokenize(v, ids, n, false, false, &len);
        assert_non_null(back);
        assert_string_equal(back, text);
        free(back);
        free(ids);
        vocab_free(v);
    }
}

int main(void) {
    struct CMUnitTest tests[N_VOCABS + 2];
    for (int i = 0; i < N_VOCABS; i++) {
        tests[i] = (struct CMUnitTest)cmocka_unit_test_prestate(vectors_of_vocab,
                                                                (void *)VOCABS_WITH_VECTORS[i]);
        tests[i].name = VOCABS_WITH_VECTORS[i];
    }
    tests[N_VOCABS] = (struct CMUnitTest)cmocka_unit_test(inventory_covers_every_vector_set);
    tests[N_VOCABS + 1] = (struct CMUnitTest)cmocka_unit_test(vocabs_without_vectors_load);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
