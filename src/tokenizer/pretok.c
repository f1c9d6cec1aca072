/* Pre-tokenizer regexes per tokenizer.ggml.pre value, compiled with PCRE2.
 *
 * The regex lists are the ones llama.cpp (src/llama-vocab.cpp) applies for each pre-tokenizer
 * type; they come from each model's Hugging Face tokenizer.json. Where llama.cpp rewrote a pattern
 * for its own regex engine, the form here is the one PCRE2 evaluates to the same splits:
 *  - "(?i:'s|'t|...)" is spelled out as "'[sS]|'[tT]|..." (ASCII case only, as llama.cpp and the
 *    reference vectors expect; (?i) would also fold e.g. U+017F LONG S);
 *  - deepseek-llm's "\s+$" is written "(?<!\s)\s+$": the same leftmost match (the trailing
 *    whitespace run), but linear instead of quadratic on a long run of spaces that does not reach
 *    the end of the piece;
 *  - non-ASCII characters in classes are written as \x{...} escapes.
 * Every regex runs with PCRE2_UTF | PCRE2_UCP (\s, \p{..} by Unicode properties) and
 * PCRE2_DOLLAR_ENDONLY ("$" is the end of the piece, never "before a final newline"). */
#include "tokenizer/pretok.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdlib.h>
#include <string.h>

#include "tokenizer/utf8.h"
#include "util/err.h"

enum { PRETOK_MAX_REGEX = 6 };

typedef struct pretok_family {
    const char *kind;
    const char *regex[PRETOK_MAX_REGEX + 1]; /* NULL-terminated */
} pretok_family;

#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define RE_CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define RE_LLAMA3_TAIL "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_LLAMA3 RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}" RE_LLAMA3_TAIL
#define RE_QWEN2 RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}" RE_LLAMA3_TAIL
/* CJK ideographs and Hangul as deepseek-llm/-coder group them: [一-龥ࠀ-一가-퟿] */
#define RE_DEEPSEEK_CJK "[\\x{4e00}-\\x{9fa5}\\x{800}-\\x{4e00}\\x{ac00}-\\x{d7ff}]+"
#define RE_UPPER_LOWER_WORD                                                                     \
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
#define RE_UPPER_WORD                                                                           \
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*"
#define RE_PORO " ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{ff0c}\\x{3001}\\x{964}\\x{6d4}\\x{60c})]+"

static const pretok_family FAMILY_DEFAULT = {"default", {
    "[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]", NULL}};
static const pretok_family FAMILY_GPT2 = {"gpt2", {RE_GPT2, NULL}};
static const pretok_family FAMILY_LLAMA3 = {"llama3", {RE_LLAMA3, NULL}};
static const pretok_family FAMILY_QWEN2 = {"qwen2", {RE_QWEN2, NULL}};
static const pretok_family FAMILY_STARCODER = {"starcoder", {"\\p{N}", RE_GPT2, NULL}};
static const pretok_family FAMILY_FALCON = {"falcon", {
    "[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]", NULL}};
static const pretok_family FAMILY_DEEPSEEK_LLM = {"deepseek-llm", {
    "[\\r\\n]",
    "\\s?["
    "A-Za-z\\x{b5}\\x{c0}-\\x{d6}\\x{d8}-\\x{f6}\\x{f8}-\\x{1ba}\\x{1bc}-\\x{1bf}"
    "\\x{1c4}-\\x{293}\\x{295}-\\x{2af}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37b}-\\x{37d}"
    "\\x{37f}\\x{386}\\x{388}-\\x{38a}\\x{38c}\\x{38e}-\\x{3a1}\\x{3a3}-\\x{3f5}"
    "\\x{3f7}-\\x{481}\\x{48a}-\\x{52f}\\x{531}-\\x{556}\\x{10a0}-\\x{10c5}\\x{13a0}-\\x{13f5}"
    "\\x{13f8}-\\x{13fd}\\x{1c90}-\\x{1cba}\\x{1cbd}-\\x{1cbf}\\x{1d00}-\\x{1d2b}"
    "\\x{1d6b}-\\x{1d77}\\x{1d79}-\\x{1d9a}\\x{1e00}-\\x{1f15}\\x{1f18}-\\x{1f1d}"
    "\\x{1f20}-\\x{1f45}\\x{1f48}-\\x{1f4d}\\x{1f50}-\\x{1f57}\\x{1f59}\\x{1f5b}\\x{1f5d}"
    "\\x{1f5f}-\\x{1f7d}\\x{1f80}-\\x{1fb4}\\x{1fb6}-\\x{1fbc}\\x{1fbe}\\x{1fc2}-\\x{1fc4}"
    "\\x{1fc6}-\\x{1fcc}\\x{1fd0}-\\x{1fd3}\\x{1fd6}-\\x{1fdb}\\x{1fe0}-\\x{1fec}"
    "\\x{1ff2}-\\x{1ff4}\\x{1ff6}-\\x{1ffc}\\x{2102}\\x{2107}\\x{210a}-\\x{2113}\\x{2115}"
    "\\x{2119}-\\x{211d}\\x{2124}\\x{2126}\\x{2128}\\x{212a}-\\x{212d}\\x{212f}-\\x{2134}"
    "\\x{2139}\\x{213c}-\\x{213f}\\x{2145}-\\x{2149}\\x{214e}\\x{2183}\\x{2184}"
    "\\x{2c00}-\\x{2c7b}\\x{2c7e}-\\x{2ce4}\\x{2ceb}-\\x{2cee}\\x{2cf2}\\x{2cf3}"
    "\\x{a640}-\\x{a66d}\\x{a680}-\\x{a69b}\\x{a722}-\\x{a76f}\\x{a771}-\\x{a787}"
    "\\x{a78b}-\\x{a78e}\\x{ab70}-\\x{abbf}\\x{fb00}-\\x{fb06}\\x{fb13}-\\x{fb17}"
    "\\x{ff21}-\\x{ff3a}\\x{ff41}-\\x{ff5a}\\x{10400}-\\x{1044f}\\x{104b0}-\\x{104d3}"
    "\\x{104d8}-\\x{104fb}\\x{10c80}-\\x{10cb2}\\x{10cc0}-\\x{10cf2}\\x{118a0}-\\x{118df}"
    "\\x{1e900}-\\x{1e943}"
    "]+",
    /* [!-/:-~！-／：-～‘-‟　-。] */
    "\\s?[!-/:-~\\x{ff01}-\\x{ff0f}\\x{ff1a}-\\x{ff5e}\\x{2018}-\\x{201f}\\x{3000}-\\x{3002}]+",
    "(?<!\\s)\\s+$",
    RE_DEEPSEEK_CJK,
    "\\p{N}+",
    NULL}};
static const pretok_family FAMILY_DEEPSEEK_CODER = {"deepseek-coder", {
    "[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RE_DEEPSEEK_CJK, "\\p{N}", NULL}};
static const pretok_family FAMILY_DEEPSEEK3 = {"deepseek-v3", {
    "\\p{N}{1,3}",
    "[\\x{4e00}-\\x{9fa5}\\x{3040}-\\x{309f}\\x{30a0}-\\x{30ff}]+", /* [一-龥぀-ゟ゠-ヿ] */
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+"
    "| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL}};
static const pretok_family FAMILY_PORO = {"poro", {RE_PORO, NULL}};
static const pretok_family FAMILY_VIKING = {"viking", {RE_PORO, "\\p{N}", NULL}};
static const pretok_family FAMILY_TEKKEN = {"tekken", {
    RE_UPPER_LOWER_WORD "|" RE_UPPER_WORD
    "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL}};
static const pretok_family FAMILY_GPT4O = {"gpt-4o", {
    RE_UPPER_LOWER_WORD RE_CONTRACTIONS "?|" RE_UPPER_WORD RE_CONTRACTIONS
    "?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL}};
static const pretok_family FAMILY_SEED_CODER = {"seed-coder", {
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}\\r\\n]+"
    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL}};
static const pretok_family FAMILY_BAILINGMOE = {"bailingmoe", {
    "'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
    NULL}};

enum {
    PF_IGNORE_MERGES = 1, /* whole-word lookup before merging (HF ignore_merges) */
    PF_ADD_BOS = 2,       /* add BOS unless the GGUF says otherwise */
    PF_KEEP_SPACES = 4,   /* clean_up_tokenization_spaces off */
    PF_NO_BOS = 8,        /* the family has no BOS token */
    PF_ADD_SEP = 16,
};

typedef struct pretok_name {
    const char *name;
    const pretok_family *family;
    unsigned flags;
} pretok_name;

/* tokenizer.ggml.pre values llama.cpp knows, mapped as llama.cpp maps them. */
static const pretok_name PRETOK_NAMES[] = {
    {"default", &FAMILY_DEFAULT, 0},
    {"llama3", &FAMILY_LLAMA3, PF_IGNORE_MERGES | PF_ADD_BOS},
    {"llama-v3", &FAMILY_LLAMA3, PF_IGNORE_MERGES | PF_ADD_BOS},
    {"llama-bpe", &FAMILY_LLAMA3, PF_IGNORE_MERGES | PF_ADD_BOS},
    {"falcon3", &FAMILY_LLAMA3, PF_IGNORE_MERGES | PF_ADD_BOS},
    {"falcon-h1", &FAMILY_LLAMA3, PF_IGNORE_MERGES | PF_ADD_BOS},
    {"pixtral", &FAMILY_LLAMA3, PF_IGNORE_MERGES | PF_ADD_BOS},
    {"midm-2.0", &FAMILY_LLAMA3, PF_IGNORE_MERGES | PF_ADD_BOS},
    {"lfm2", &FAMILY_LLAMA3, PF_IGNORE_MERGES | PF_ADD_BOS},
    {"dbrx", &FAMILY_LLAMA3, 0},
    {"smaug-bpe", &FAMILY_LLAMA3, 0},
    {"chatglm-bpe", &FAMILY_LLAMA3, PF_NO_BOS},
    {"glm4", &FAMILY_LLAMA3, PF_NO_BOS},
    {"deepseek-llm", &FAMILY_DEEPSEEK_LLM, PF_KEEP_SPACES},
    {"deepseek-coder", &FAMILY_DEEPSEEK_CODER, PF_KEEP_SPACES},
    {"deepseek-v3", &FAMILY_DEEPSEEK3, PF_KEEP_SPACES},
    {"hunyuan-dense", &FAMILY_DEEPSEEK3, PF_KEEP_SPACES},
    {"falcon", &FAMILY_FALCON, 0},
    {"mpt", &FAMILY_GPT2, 0},
    {"gpt-2", &FAMILY_GPT2, 0},
    {"phi-2", &FAMILY_GPT2, 0},
    {"jina-es", &FAMILY_GPT2, 0},
    {"jina-de", &FAMILY_GPT2, 0},
    {"gigachat", &FAMILY_GPT2, 0},
    {"jina-v2-es", &FAMILY_GPT2, 0},
    {"jina-v2-de", &FAMILY_GPT2, 0},
    {"a.x-4.0", &FAMILY_GPT2, 0},
    {"mellum", &FAMILY_GPT2, 0},
    {"exaone4", &FAMILY_GPT2, 0},
    {"olmo", &FAMILY_GPT2, 0},
    {"jais", &FAMILY_GPT2, 0},
    {"jina-v1-en", &FAMILY_GPT2, PF_ADD_SEP},
    {"jina-v2-code", &FAMILY_GPT2, PF_ADD_SEP},
    {"roberta-bpe", &FAMILY_GPT2, PF_ADD_SEP},
    {"trillion", &FAMILY_GPT2, PF_KEEP_SPACES},
    {"granite-docling", &FAMILY_GPT2, PF_KEEP_SPACES},
    {"starcoder", &FAMILY_STARCODER, 0},
    {"refact", &FAMILY_STARCODER, 0},
    {"codeshell", &FAMILY_STARCODER, 0},
    {"exaone", &FAMILY_STARCODER, 0},
    {"minerva-7b", &FAMILY_STARCODER, 0},
    {"command-r", &FAMILY_STARCODER, PF_KEEP_SPACES},
    {"smollm", &FAMILY_STARCODER, PF_KEEP_SPACES},
    {"qwen2", &FAMILY_QWEN2, PF_KEEP_SPACES},
    {"deepseek-r1-qwen", &FAMILY_QWEN2, PF_KEEP_SPACES},
    {"kormo", &FAMILY_QWEN2, PF_KEEP_SPACES},
    {"megrez", &FAMILY_QWEN2, 0},
    {"stablelm2", &FAMILY_QWEN2, 0},
    {"hunyuan", &FAMILY_QWEN2, PF_KEEP_SPACES},
    {"grok-2", &FAMILY_QWEN2, PF_KEEP_SPACES},
    {"poro-chat", &FAMILY_PORO, PF_KEEP_SPACES},
    {"bloom", &FAMILY_PORO, 0},
    {"gpt3-finnish", &FAMILY_PORO, 0},
    {"viking", &FAMILY_VIKING, PF_KEEP_SPACES},
    {"tekken", &FAMILY_TEKKEN, PF_IGNORE_MERGES | PF_ADD_BOS | PF_KEEP_SPACES},
    {"gpt-4o", &FAMILY_GPT4O, PF_KEEP_SPACES},
    {"llama4", &FAMILY_GPT4O, PF_KEEP_SPACES},
    {"minimax-m2", &FAMILY_GPT4O, PF_KEEP_SPACES},
    {"seed-coder", &FAMILY_SEED_CODER, PF_KEEP_SPACES},
    {"bailingmoe", &FAMILY_BAILINGMOE, PF_KEEP_SPACES},
    {"bailingmoe2", &FAMILY_BAILINGMOE, PF_KEEP_SPACES},
    {"llada-moe", &FAMILY_BAILINGMOE, PF_KEEP_SPACES},
};

static const pretok_name *find_name(const char *pre) {
    if (!pre) return NULL;
    for (size_t i = 0; i < sizeof PRETOK_NAMES / sizeof PRETOK_NAMES[0]; i++)
        if (strcmp(PRETOK_NAMES[i].name, pre) == 0) return &PRETOK_NAMES[i];
    return NULL;
}

pretok_info pretok_lookup(const char *pre) {
    const pretok_name *n = find_name(pre);
    pretok_info info = {0};
    /* Missing or unknown: llama.cpp falls back to its "default" regex set; so do we. */
    unsigned flags = n ? n->flags : 0;
    info.kind = n ? n->family->kind : FAMILY_DEFAULT.kind;
    info.known = n != NULL;
    info.ignore_merges = (flags & PF_IGNORE_MERGES) != 0;
    info.add_bos = (flags & PF_ADD_BOS) != 0;
    info.clean_spaces = (flags & PF_KEEP_SPACES) == 0;
    info.no_bos = (flags & PF_NO_BOS) != 0;
    info.add_sep = (flags & PF_ADD_SEP) != 0;
    return info;
}

struct pretok {
    int n;
    pcre2_code *code[PRETOK_MAX_REGEX];
};

void pretok_free(pretok *p) {
    if (!p) return;
    for (int i = 0; i < p->n; i++) pcre2_code_free(p->code[i]);
    free(p);
}

pretok *pretok_new(const char *pre, kumo_error *err) {
    const pretok_name *n = find_name(pre);
    const pretok_family *fam = n ? n->family : &FAMILY_DEFAULT;
    pretok *p = calloc(1, sizeof *p);
    if (!p) {
        kumo_err(err, KUMO_E_NOMEM, "pre-tokenizer: out of memory");
        return NULL;
    }
    for (int i = 0; fam->regex[i]; i++) {
        int ec = 0;
        PCRE2_SIZE eoff = 0;
        pcre2_code *code = pcre2_compile((PCRE2_SPTR)fam->regex[i], PCRE2_ZERO_TERMINATED,
                                         PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &ec, &eoff,
                                         NULL);
        if (!code) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(ec, msg, sizeof msg);
            kumo_err(err, KUMO_E_UNSUPPORTED,
                     "pre-tokenizer '%s': regex %d does not compile at offset %zu: %s", fam->kind, i,
                     (size_t)eoff, (const char *)msg);
            pretok_free(p);
            return NULL;
        }
        /* JIT is an optimisation only: without it (unsupported CPU, no executable memory) the
         * interpreter gives the same matches. */
        (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
        p->code[p->n++] = code;
    }
    return p;
}

typedef struct split_ctx {
    const pretok *p;
    const char *text;
    pcre2_match_data *md;
    pretok_piece_fn fn;
    void *ud;
} split_ctx;

static int split_level(split_ctx *c, int level, size_t off, size_t len) {
    if (level == c->p->n) return c->fn(c->ud, off, len);
    const pcre2_code *code = c->p->code[level];
    PCRE2_SPTR subject = (PCRE2_SPTR)(c->text + off);
    size_t pos = 0, prev_end = 0;
    int rc;
    while (pos < len) {
        int m = pcre2_match(code, subject, len, pos, PCRE2_NO_UTF_CHECK, c->md, NULL);
        if (m == PCRE2_ERROR_JIT_STACKLIMIT)
            m = pcre2_match(code, subject, len, pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, c->md, NULL);
        if (m == PCRE2_ERROR_NOMATCH) break;
        /* Any other failure (match/heap limit) leaves the rest of the piece unsplit: degraded
         * but still a faithful encoding of the text. */
        if (m < 0) break;
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);
        size_t ms = ov[0], me = ov[1];
        if (ms < pos || me < ms || me > len) return -1;
        if (me == ms) { /* empty match: step over one character */
            if (ms >= len) break;
            pos = ms + utf8_lead_len((unsigned char)c->text[off + ms]);
            continue;
        }
        if (ms > prev_end && (rc = split_level(c, level + 1, off + prev_end, ms - prev_end)) != 0)
            return rc;
        if ((rc = split_level(c, level + 1, off + ms, me - ms)) != 0) return rc;
        prev_end = pos = me;
    }
    if (prev_end < len) return split_level(c, level + 1, off + prev_end, len - prev_end);
    return 0;
}

int pretok_split(const pretok *p, const char *text, size_t len, pretok_piece_fn fn, void *ud) {
    if (len == 0) return 0;
    split_ctx c = {p, text, NULL, fn, ud};
    c.md = pcre2_match_data_create(1, NULL);
    if (!c.md) return -1;
    int rc = split_level(&c, 0, 0, len);
    pcre2_match_data_free(c.md);
    return rc;
}
