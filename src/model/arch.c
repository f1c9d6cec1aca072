#include <string.h>

#include "model/model.h"

/* The architectures kumo runs. Mixtral is `llama` with experts (detected from expert_count);
 * Mistral and TinyLlama are plain `llama`. */
static const arch_traits ARCHS[] = {
    {.name = "llama", .moe_norm_topk = true},
    {.name = "qwen2", .rope_neox = true, .qkv_bias = true},
    {.name = "qwen3", .rope_neox = true, .qk_norm = true},
    {.name = "qwen3moe", .rope_neox = true, .qk_norm = true, .moe_required = true, .moe_norm_topk = true},
};

const arch_traits *arch_find(const char *name) {
    for (size_t i = 0; i < sizeof ARCHS / sizeof ARCHS[0]; i++)
        if (strcmp(ARCHS[i].name, name) == 0) return &ARCHS[i];
    return NULL;
}
