/* Load-time special-token bookkeeping, as llama.cpp does it: end-of-turn, end-of-message and FIM
 * tokens found by their text when the GGUF does not name them (and forced to CONTROL), the
 * end-of-generation set, and the LSTRIP/RSTRIP attributes llama.cpp assigns per model family. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/vocab_internal.h"

static void set_control(kumo_vocab *v, int32_t id) {
    /* llama.cpp forces text-detected end/FIM tokens to CONTROL ("control-looking token") */
    if (id >= 0 && v->tok[id].type != VOCAB_TOKEN_CONTROL) v->tok[id].type = VOCAB_TOKEN_CONTROL;
}

/* The first text of the list present in the vocab (list order is the priority). */
static int32_t detect_by_text(kumo_vocab *v, const char *const *texts) {
    for (size_t i = 0; texts[i]; i++) {
        int32_t id = vocab_find_cstr(v, texts[i]);
        if (id >= 0) return id;
    }
    return -1;
}

static const char *const EOT_TEXTS[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
    "<EOT>", "_<EOT>", "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",
    "<end_of_utterance>", NULL};
static const char *const EOM_TEXTS[] = {"<|eom_id|>", NULL};
static const char *const FIM_PRE_TEXTS[] = {
    "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "begin\xEF\xBD\x9C>",
    "<PRE>", "\xE2\x96\x81<PRE>", "<|code_prefix|>", NULL};
static const char *const FIM_SUF_TEXTS[] = {
    "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81hole\xEF\xBD\x9C>",
    "<SUF>", "\xE2\x96\x81<SUF>", "<|code_suffix|>", NULL};
static const char *const FIM_MID_TEXTS[] = {
    "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "end\xEF\xBD\x9C>",
    "<MID>", "\xE2\x96\x81<MID>", "<|code_middle|>", NULL};
static const char *const FIM_PAD_TEXTS[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", NULL};
static const char *const FIM_REP_TEXTS[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>",
                                            "<reponame>", NULL};
static const char *const FIM_SEP_TEXTS[] = {"<|file_sep|>", NULL};
/* Texts llama.cpp treats as end of generation whatever their type. */
static const char *const EOG_TEXTS[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", NULL};

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return x < y ? -1 : x > y;
}

static int eog_add(kumo_vocab *v, int32_t id, int32_t *cap) {
    if (id < 0) return 0;
    for (int i = 0; i < v->n_eog; i++)
        if (v->eog[i] == id) return 0;
    if (v->n_eog == *cap) {
        int32_t nc = *cap ? *cap * 2 : 8;
        int32_t *e = realloc(v->eog, (size_t)nc * sizeof *e);
        if (!e) return -1;
        v->eog = e;
        *cap = nc;
    }
    v->eog[v->n_eog++] = id;
    return 0;
}

static void eog_remove(kumo_vocab *v, int32_t id) {
    for (int i = 0; i < v->n_eog; i++)
        if (v->eog[i] == id) {
            v->eog[i] = v->eog[--v->n_eog];
            return;
        }
}

static bool eog_has_text(const kumo_vocab *v, const char *text) {
    for (int i = 0; i < v->n_eog; i++)
        if (strcmp(v->tok[v->eog[i]].text, text) == 0) return true;
    return false;
}

/* EOT/EOM/FIM detection by text, the end-of-generation set and the per-family type fixes, in
 * the order llama.cpp applies them. */
int vocab_resolve_special(kumo_vocab *v) {
    struct { int32_t *id; const char *const *texts; } detect[] = {
        {&v->eot, EOT_TEXTS},         {&v->eom, EOM_TEXTS},         {&v->fim_pre, FIM_PRE_TEXTS},
        {&v->fim_suf, FIM_SUF_TEXTS}, {&v->fim_mid, FIM_MID_TEXTS}, {&v->fim_pad, FIM_PAD_TEXTS},
        {&v->fim_rep, FIM_REP_TEXTS}, {&v->fim_sep, FIM_SEP_TEXTS},
    };
    for (size_t i = 0; i < sizeof detect / sizeof detect[0]; i++) {
        if (*detect[i].id >= 0) continue;
        *detect[i].id = detect_by_text(v, detect[i].texts);
        set_control(v, *detect[i].id);
    }

    int32_t cap = 0;
    if (eog_add(v, v->fim_pad, &cap) || eog_add(v, v->fim_rep, &cap) || eog_add(v, v->fim_sep, &cap))
        return -1;
    for (size_t i = 0; EOG_TEXTS[i]; i++) {
        int32_t id = vocab_find_cstr(v, EOG_TEXTS[i]);
        if (id < 0) continue;
        if (eog_add(v, id, &cap)) return -1;
        set_control(v, id);
    }
    /* gpt-oss: these are control tokens that must always be rendered */
    static const char *const harmony_visible[] = {"<|channel|>", "<|message|>", "<|start|>",
                                                  "<|constrain|>", NULL};
    for (size_t i = 0; harmony_visible[i]; i++) {
        int32_t id = vocab_find_cstr(v, harmony_visible[i]);
        if (id >= 0) v->tok[id].type = VOCAB_TOKEN_USER_DEFINED;
    }
    if (eog_add(v, v->eos, &cap) || eog_add(v, v->eot, &cap) || eog_add(v, v->eom, &cap)) return -1;
    /* o200k_harmony: with <|return|> and <|call|> present, <|end|> only ends a message */
    if (eog_has_text(v, "<|return|>") && eog_has_text(v, "<|call|>")) {
        int32_t end = vocab_find_cstr(v, "<|end|>");
        if (end >= 0 && eog_has_text(v, "<|end|>")) {
            eog_remove(v, end);
            v->tok[end].type = VOCAB_TOKEN_USER_DEFINED;
        }
    }
    if (v->n_eog > 1) qsort(v->eog, (size_t)v->n_eog, sizeof *v->eog, cmp_i32);
    return 0;
}

static bool contains_ci(const char *haystack, const char *needle) {
    size_t n = strlen(needle);
    for (const char *p = haystack; *p; p++) {
        size_t i = 0;
        while (i < n && p[i] && tolower((unsigned char)p[i]) == needle[i]) i++;
        if (i == n) return true;
    }
    return false;
}

/* LSTRIP/RSTRIP as llama.cpp assigns them by model name or pre-tokenizer (GGUF has no field). */
void vocab_set_strip_attributes(kumo_vocab *v, const char *general_name) {
    if (strstr(v->pre, "jina-v2-de") || strstr(v->pre, "jina-v2-es") || strstr(v->pre, "jina-v2-code")) {
        int32_t mask_id = vocab_find_cstr(v, "<mask>");
        if (mask_id >= 0) v->tok[mask_id].strip |= TOKEN_LSTRIP;
    } else if (general_name && (contains_ci(general_name, "phi-3") || contains_ci(general_name, "phi3"))) {
        for (int32_t id = 0; id < v->n_tokens; id++) {
            uint8_t t = v->tok[id].type;
            if (t == VOCAB_TOKEN_CONTROL || t == VOCAB_TOKEN_USER_DEFINED || t == VOCAB_TOKEN_UNKNOWN)
                v->tok[id].strip |= TOKEN_RSTRIP;
        }
        int32_t id = vocab_find_cstr(v, "</s>");
        if (id >= 0) v->tok[id].strip |= TOKEN_RSTRIP;
        static const char *const keep[] = {"<unk>", "<s>", "<|endoftext|>", NULL};
        for (size_t i = 0; keep[i]; i++)
            if ((id = vocab_find_cstr(v, keep[i])) >= 0) v->tok[id].strip &= (uint8_t)~TOKEN_RSTRIP;
    }
}

