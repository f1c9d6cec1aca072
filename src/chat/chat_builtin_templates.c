/* Built-in chat templates for --chat-template NAME, written as Jinja sources for the same
 * interpreter that runs the templates models ship. Message content may be a string or a list of
 * parts ({"type": "text", "text": ...}); only text parts are rendered. */
#include <string.h>

#include "chat/chat_template.h"

/* Shared macro: the text of a message's content. */
#define CONTENT_MACRO                                                                              \
    "{%- macro text(content) -%}"                                                                  \
    "{%- if content is string -%}{{- content -}}"                                                  \
    "{%- elif content is iterable and content is not mapping -%}"                                  \
    "{%- for part in content if part is mapping and part.type == 'text' -%}{{- part.text -}}{%- endfor -%}" \
    "{%- elif content is not none -%}{{- content | string -}}"                                     \
    "{%- endif -%}"                                                                                \
    "{%- endmacro -%}\n"

/* ChatML (Qwen, Hermes, many fine-tunes): <|im_start|>role\ncontent<|im_end|>\n */
static const char CHATML[] = CONTENT_MACRO
    "{%- for message in messages -%}\n"
    "{{- '<|im_start|>' + message.role + '\\n' + text(message.content) + '<|im_end|>\\n' -}}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "{{- '<|im_start|>assistant\\n' -}}\n"
    "{%- endif -%}\n";

/* Llama 3 / 3.x: BOS, then a header per message; content is trimmed as Meta's template does. */
static const char LLAMA3[] = CONTENT_MACRO
    "{{- bos_token -}}\n"
    "{%- for message in messages -%}\n"
    "{{- '<|start_header_id|>' + message.role + '<|end_header_id|>\\n\\n' + (text(message.content) | trim) + '<|eot_id|>' -}}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}\n"
    "{%- endif -%}\n";

/* Mistral Instruct (v0.1/v0.2 style): [INST] user [/INST]assistant</s>. Mistral has no system
 * role: a leading system message is put in front of the first user message. Roles must
 * alternate user/assistant after it. */
static const char MISTRAL[] = CONTENT_MACRO
    "{%- if messages and messages[0].role == 'system' -%}\n"
    "{%- set system = text(messages[0].content) -%}\n"
    "{%- set loop_messages = messages[1:] -%}\n"
    "{%- else -%}\n"
    "{%- set system = '' -%}\n"
    "{%- set loop_messages = messages -%}\n"
    "{%- endif -%}\n"
    "{{- bos_token -}}\n"
    "{%- for message in loop_messages -%}\n"
    "{%- if (message.role == 'user') != (loop.index0 % 2 == 0) -%}\n"
    "{{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') -}}\n"
    "{%- endif -%}\n"
    "{%- if message.role == 'user' -%}\n"
    "{%- if loop.first and system -%}\n"
    "{{- '[INST] ' + system + '\\n\\n' + text(message.content) + ' [/INST]' -}}\n"
    "{%- else -%}\n"
    "{{- '[INST] ' + text(message.content) + ' [/INST]' -}}\n"
    "{%- endif -%}\n"
    "{%- else -%}\n"
    "{{- text(message.content) + eos_token -}}\n"
    "{%- endif -%}\n"
    "{%- endfor -%}\n";

/* DeepSeek V3 / R1: BOS, the system prompt(s), then <｜User｜> and <｜Assistant｜> turns;
 * every assistant turn ends with <｜end▁of▁sentence｜>. */
static const char DEEPSEEK3[] = CONTENT_MACRO
    "{%- set ns = namespace(system='') -%}\n"
    "{%- for message in messages if message.role == 'system' -%}\n"
    "{%- set ns.system = ns.system + ('\\n\\n' if not loop.first else '') + text(message.content) -%}\n"
    "{%- endfor -%}\n"
    "{{- bos_token + ns.system -}}\n"
    "{%- for message in messages -%}\n"
    "{%- if message.role == 'user' -%}\n"
    "{{- '<\xef\xbd\x9cUser\xef\xbd\x9c>' + text(message.content) -}}\n"
    "{%- elif message.role == 'assistant' -%}\n"
    "{{- '<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>' + text(message.content) + '<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>' -}}\n"
    "{%- endif -%}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "{{- '<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>' -}}\n"
    "{%- endif -%}\n";

static const char *const NAMES[] = {"chatml", "llama3", "mistral", "deepseek3", NULL};
static const char *const SOURCES[] = {CHATML, LLAMA3, MISTRAL, DEEPSEEK3};

const char *chat_template_builtin(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; NAMES[i]; i++)
        if (!strcmp(NAMES[i], name)) return SOURCES[i];
    return NULL;
}

const char *const *chat_template_builtin_names(void) { return NAMES; }
