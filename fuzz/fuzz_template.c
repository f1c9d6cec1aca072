/* libFuzzer target for the chat-template interpreter: the input bytes are a template source,
 * rendered against a fixed small conversation (with tools, an extra variable and a pinned clock).
 * Every input must end in either text or an error message, within tight work limits, without
 * crashes, leaks or undefined behaviour. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "chat/chat_template.h"
#include "format/gguf.h"

static void write_seed(const char *dir, const char *name, const char *text, size_t len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/seed-%s.jinja", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
}

/* FUZZ_TEMPLATE_WRITE_SEEDS=DIR: write the built-in templates and the chat templates of the
 * reference vocab GGUFs (KUMO_SHARED, default ../shared) into DIR as corpus seeds, then exit. */
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *dir = getenv("FUZZ_TEMPLATE_WRITE_SEEDS");
    if (!dir) return 0;
    for (const char *const *n = chat_template_builtin_names(); *n; n++) {
        const char *src = chat_template_builtin(*n);
        write_seed(dir, *n, src, strlen(src));
    }
    const char *shared = getenv("KUMO_SHARED") ? getenv("KUMO_SHARED") : "../shared";
    static const char *const vocabs[] = {"llama3", "qwen3", "deepseek-v3"};
    for (size_t i = 0; i < sizeof vocabs / sizeof vocabs[0]; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/vocab/ggml-vocab-%s.gguf", shared, vocabs[i]);
        kumo_error err;
        gguf_ctx *g = gguf_open(path, &err);
        gguf_str s;
        if (!g || !gguf_get_str(g, "tokenizer.chat_template", &s, &err)) {
            fprintf(stderr, "%s: no chat template (%s)\n", path, err.msg);
            exit(1);
        }
        write_seed(dir, vocabs[i], s.data, (size_t)s.len);
        gguf_close(g);
    }
    exit(0);
}

static const char MESSAGES[] =
    "[{\"role\": \"system\", \"content\": \"Be brief.\"},"
    " {\"role\": \"user\", \"content\": \"What is 2+2?  \"},"
    " {\"role\": \"assistant\", \"content\": \"<think>\\nadd\\n</think>\\n\\n4\", \"reasoning_content\": null,"
    "  \"tool_calls\": [{\"type\": \"function\", \"function\": {\"name\": \"calc\", \"arguments\": {\"x\": [1, 2.5, true]}}}]},"
    " {\"role\": \"tool\", \"content\": \"4\"},"
    " {\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"Thanks \\u00e9\\ud83c\\udf0a\"}]}]";
static const char TOOLS[] =
    "[{\"type\": \"function\", \"function\": {\"name\": \"calc\", \"description\": \"math\","
    " \"parameters\": {\"type\": \"object\", \"properties\": {\"x\": {\"type\": \"array\"}}}}}]";
static const char EXTRA[] = "{\"enable_thinking\": false, \"date_string\": \"26 Jul 2024\"}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cJSON *msgs = cJSON_Parse(MESSAGES), *tools = cJSON_Parse(TOOLS), *extra = cJSON_Parse(EXTRA);
    if (!msgs || !tools || !extra) abort();

    chat_render_opts o;
    chat_render_opts_init(&o);
    o.add_generation_prompt = true;
    o.bos_token = "<s>";
    o.eos_token = "</s>";
    o.tools = tools;
    o.extra = extra;
    o.now = 1721743509;
    o.strip_bos = size & 1;
    o.limits.max_output = 1u << 20;
    o.limits.max_memory = 16u << 20;
    o.limits.max_steps = 300000;
    o.limits.max_depth = 200;

    kumo_error err;
    chat_template *t = chat_template_parse((const char *)data, size, &err);
    if (t) {
        char *out = NULL;
        size_t len = 0;
        int rc = chat_template_apply(t, msgs, &o, &out, &len, &err);
        if (rc == KUMO_OK) {
            if (!out || out[len] != 0 || len > o.limits.max_output) abort();
            free(out);
        } else if (out || rc >= 0 || err.msg[0] == 0) {
            abort();
        }
        chat_template_free(t);
    } else if (err.code >= 0 || err.msg[0] == 0) {
        abort();
    }
    cJSON_Delete(msgs);
    cJSON_Delete(tools);
    cJSON_Delete(extra);
    return 0;
}
