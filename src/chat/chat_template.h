/* Chat templates: renders a conversation to a prompt with the Jinja template a model ships in
 * its GGUF (`tokenizer.chat_template`), or with a built-in one (--chat-template NAME).
 *
 * The interpreter implements the Jinja subset Hugging Face chat templates use, with the settings
 * transformers applies (trim_blocks, lstrip_blocks, loop controls, its tojson/raise_exception/
 * strftime_now), so renderings match `apply_chat_template` byte for byte. A template that cannot
 * be parsed, or fails while rendering, gives a KUMO error whose message names the construct and
 * its position ("chat template: 3:14: unknown tag 'extends'"); hostile templates are stopped by
 * the limits below instead of hanging or exhausting memory.
 *
 * Ownership: chat_template_parse returns a template the caller frees with chat_template_free;
 * rendered text is malloc'd, NUL-terminated and freed by the caller with free(). Templates are
 * immutable after parsing: one template may be rendered from several threads at once. */
#ifndef KUMO_CHAT_TEMPLATE_H
#define KUMO_CHAT_TEMPLATE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "kumo.h"

/* kumo_chat_message (a plain text message) is declared in kumo.h; richer messages (tool_calls,
 * reasoning_content, content parts) are passed as cJSON objects. */

/* Work limits of one rendering; 0 selects the default. */
typedef struct chat_limits {
    size_t max_output;   /* bytes of rendered text (default 32 MiB) */
    size_t max_memory;   /* bytes of interpreter working memory (default 256 MiB) */
    uint64_t max_steps;  /* evaluation steps: expression nodes, loop iterations, bytes/64 (default 50 M) */
    int max_depth;       /* evaluation nesting, i.e. macro recursion (default 400) */
} chat_limits;

typedef struct chat_render_opts {
    bool add_generation_prompt; /* end with the header of the assistant's reply */
    const char *bos_token;      /* text of the vocab's BOS token; NULL = "" */
    const char *eos_token;      /* text of the vocab's EOS token; NULL = "" */
    const cJSON *tools;         /* array of tool definitions; NULL: `tools` is none */
    const cJSON *extra;         /* object of extra template variables ({"enable_thinking": false}) */
    /* llama.cpp drops a leading bos_token text when the vocab adds BOS itself (add_bos_token),
     * and a trailing eos_token text when it adds EOS (add_eos_token). Off: HF-style output. */
    bool strip_bos;
    bool strip_eos;
    time_t now;                 /* clock of strftime_now(); 0 = the current time */
    chat_limits limits;
} chat_render_opts;

/* Defaults: no generation prompt, empty BOS/EOS, no tools, no stripping, default limits. */
void chat_render_opts_init(chat_render_opts *opts);

typedef struct chat_template chat_template;

/* Parses template source (len bytes; need not be NUL-terminated). NULL and err set on failure. */
chat_template *chat_template_parse(const char *src, size_t len, kumo_error *err);
void chat_template_free(chat_template *tmpl);

/* Renders messages (a cJSON array of message objects, each usually {"role", "content"} plus
 * whatever fields the template reads) into *out (malloc'd, NUL-terminated; *out_len, if given,
 * excludes the NUL). opts may be NULL for defaults. Returns KUMO_OK or a negative status with
 * *out = NULL. */
int chat_template_apply(const chat_template *tmpl, const cJSON *messages, const chat_render_opts *opts, char **out,
                        size_t *out_len, kumo_error *err);

/* Parse + apply in one call. */
int chat_template_render(const char *template_src, const cJSON *messages, const chat_render_opts *opts, char **out,
                         size_t *out_len, kumo_error *err);

/* Built-in template sources by name: "chatml", "llama3", "mistral", "deepseek3". NULL if unknown. */
const char *chat_template_builtin(const char *name);
/* NULL-terminated list of the built-in names. */
const char *const *chat_template_builtin_names(void);

/* A cJSON array of {"role", "content"} objects for n plain messages; NULL on allocation failure.
 * Free with cJSON_Delete. */
cJSON *chat_messages_to_json(const kumo_chat_message *msgs, size_t n);

#endif
