/* The public chat path end to end, as a server or `kumo chat` uses it: the template stored in the
 * vocab GGUF renders each recorded conversation exactly as llama.cpp's server did (`rendered` in
 * ../shared/vocab/chat-templates.json), and tokenizing that prompt with special tokens gives exactly
 * the token ids llama.cpp fed its model (`prompt_token_ids`). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kumo.h"
#include "testutil.h"

static void recorded_conversations(void **state) {
    (void)state;
    char *text = read_file(shared_path("vocab/chat-templates.json"), NULL);
    assert_non_null(text);
    cJSON *root = cJSON_Parse(text);
    free(text);
    assert_non_null(root);
    int n_cases = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, root) {
        const char *tmpl = cJSON_GetObjectItem(c, "template")->valuestring;
        char vpath[256];
        snprintf(vpath, sizeof vpath, "vocab/ggml-vocab-%s.gguf", tmpl);
        kumo_model_params mp = kumo_model_default_params();
        mp.vocab_only = true;
        kumo_error err = {0};
        kumo_model *m = kumo_model_load(shared_path(vpath), &mp, &err);
        assert_non_null(m);
        kumo_chat_template *t = kumo_chat_template_new(m, NULL, &err);
        if (!t) fprintf(stderr, "%s: %s\n", c->string, err.msg);
        assert_non_null(t);
        const cJSON *jm = cJSON_GetObjectItem(c, "messages");
        int n = cJSON_GetArraySize(jm);
        kumo_chat_message *msgs = calloc((size_t)n, sizeof *msgs);
        for (int i = 0; i < n; i++) {
            const cJSON *o = cJSON_GetArrayItem(jm, i);
            msgs[i].role = cJSON_GetObjectItem(o, "role")->valuestring;
            msgs[i].content = cJSON_GetObjectItem(o, "content")->valuestring;
        }
        char *out = NULL;
        assert_int_equal(kumo_chat_template_apply(t, msgs, (size_t)n, cJSON_IsTrue(cJSON_GetObjectItem(c, "add_generation_prompt")),
                                                  &out, &err),
                         KUMO_OK);
        assert_string_equal(out, cJSON_GetObjectItem(c, "rendered")->valuestring);
        const cJSON *want = cJSON_GetObjectItem(c, "prompt_token_ids");
        int nw = cJSON_GetArraySize(want);
        kumo_token *ids = calloc((size_t)nw + 64, sizeof *ids);
        int got = kumo_tokenize(m, out, strlen(out), ids, nw + 64, true, true);
        assert_int_equal(got, nw);
        for (int i = 0; i < nw; i++) assert_int_equal(ids[i], cJSON_GetArrayItem(want, i)->valueint);
        printf("  %-22s rendered %zu bytes, %d prompt tokens: identical to llama.cpp\n", c->string, strlen(out), nw);
        n_cases++;
        free(ids);
        free(out);
        free(msgs);
        kumo_chat_template_free(t);
        kumo_model_free(m);
    }
    assert_int_equal(n_cases, 10);
    cJSON_Delete(root);
}

static void builtin_and_unknown_templates(void **state) {
    (void)state;
    kumo_error err = {0};
    kumo_model_params mp = kumo_model_default_params();
    mp.vocab_only = true;
    kumo_model *m = kumo_model_load(shared_path("vocab/ggml-vocab-qwen3.gguf"), &mp, &err);
    assert_non_null(m);
    assert_null(kumo_chat_template_new(m, "vicuna-9000", &err));
    assert_non_null(strstr(err.msg, "chatml"));
    kumo_chat_template *t = kumo_chat_template_new(m, "chatml", &err);
    assert_non_null(t);
    kumo_chat_message msgs[2] = {{"system", "Be brief."}, {"user", "Hi"}};
    char *out = NULL;
    assert_int_equal(kumo_chat_template_apply(t, msgs, 2, true, &out, &err), KUMO_OK);
    assert_string_equal(out, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    /* ChatML control tokens become single tokens when special parsing is on */
    kumo_token ids[64];
    int n = kumo_tokenize(m, out, strlen(out), ids, 64, true, true);
    assert_true(n > 0);
    assert_int_equal(ids[0], 151644); /* <|im_start|> */
    free(out);
    kumo_chat_template_free(t);
    kumo_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(recorded_conversations),
        cmocka_unit_test(builtin_and_unknown_templates),
    };
    return cmocka_run_group_tests_name("chat_api", tests, NULL, NULL);
}
