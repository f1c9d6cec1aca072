/* Jinja lexer with the Hugging Face chat-template settings: trim_blocks and lstrip_blocks on,
 * keep_trailing_newline off. Whitespace control is resolved here, so the parser sees text tokens
 * that are already trimmed:
 *   {%- / {{- / {#-   remove all whitespace before the tag
 *   -%} / -}} / -#}   remove all whitespace after the tag
 *   %} / #}           (trim_blocks) remove one newline right after a block or comment tag
 *   {% / {#           (lstrip_blocks) remove spaces and tabs between the start of a line and the tag
 *   {%+ / +%}         disable lstrip_blocks / trim_blocks for that tag */
#include "chat/jinja.h"

#include <stdlib.h>
#include <string.h>

#define MAX_BRACKETS 256

typedef struct lexer {
    jheap *h;
    const char *s;
    size_t n;
    jtok *toks;
    size_t ntok, cap;
} lexer;

static const struct { const char *text; uint8_t op; } OPS[] = {
    {"//", JOP_FLOORDIV}, {"**", JOP_POW}, {"==", JOP_EQ}, {"!=", JOP_NE}, {">=", JOP_GE}, {"<=", JOP_LE},
    {"+", JOP_ADD}, {"-", JOP_SUB}, {"/", JOP_DIV}, {"*", JOP_MUL}, {"%", JOP_MOD}, {"~", JOP_TILDE},
    {"[", JOP_LBRACKET}, {"]", JOP_RBRACKET}, {"(", JOP_LPAREN}, {")", JOP_RPAREN}, {"{", JOP_LBRACE},
    {"}", JOP_RBRACE}, {">", JOP_GT}, {"<", JOP_LT}, {"=", JOP_ASSIGN}, {".", JOP_DOT}, {":", JOP_COLON},
    {"|", JOP_PIPE}, {",", JOP_COMMA}, {";", JOP_SEMICOLON},
};

const char *jop_text(int op) {
    if (op == JOP_IN) return "in";
    if (op == JOP_NOTIN) return "not in";
    for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++)
        if (OPS[i].op == op) return OPS[i].text;
    return "?";
}

void jinja_normalize(jheap *h, const char *src, size_t len) {
    char *d = jh_alloc(h, len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            d[o++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else {
            d[o++] = src[i];
        }
    }
    if (o && d[o - 1] == '\n') o--;
    d[o] = 0;
    h->src = d;
    h->src_len = o;
}

static jtok *push(lexer *L, uint8_t kind, size_t off) {
    if (L->ntok == L->cap) {
        size_t cap = L->cap ? L->cap * 2 : 256;
        jtok *t = jh_alloc(L->h, cap * sizeof *t);
        if (L->ntok) memcpy(t, L->toks, L->ntok * sizeof *t);
        L->toks = t;
        L->cap = cap;
    }
    jtok *t = &L->toks[L->ntok++];
    memset(t, 0, sizeof *t);
    t->kind = kind;
    t->off = (uint32_t)off;
    return t;
}

static bool starts(const lexer *L, size_t p, const char *lit) {
    size_t k = strlen(lit);
    return p <= L->n && L->n - p >= k && memcmp(L->s + p, lit, k) == 0;
}

static bool is_ascii_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

/* Emits the text s[start, start+len) with the stripping the following tag asks for.
 * sign: '-', '+' or 0; lstrip: the following tag is a block or comment (lstrip_blocks applies). */
static void emit_data(lexer *L, size_t start, size_t len, char sign, bool lstrip) {
    const char *d = L->s + start;
    if (sign == '-') {
        len = utf8_rstrip_len(d, len);
    } else if (sign != '+' && lstrip) {
        size_t line = len;
        while (line > 0 && d[line - 1] != '\n') line--;
        bool line_start = line > 0 || start == 0 || L->s[start - 1] == '\n';
        if (line_start && line < len && utf8_lstrip_off(d + line, len - line) == len - line) len = line;
    }
    if (len) {
        jtok *t = push(L, JT_DATA, start);
        t->s = d;
        t->n = len;
    }
}

/* After a closing tag at p (just past its last character): the trailing whitespace rule. */
static size_t after_tag(const lexer *L, size_t p, char end_sign, bool trim_newline) {
    if (end_sign == '-') return p + utf8_lstrip_off(L->s + p, L->n - p);
    if (end_sign != '+' && trim_newline && p < L->n && L->s[p] == '\n') return p + 1;
    return p;
}

static size_t skip_spaces(const lexer *L, size_t p) {
    while (p < L->n && is_ascii_space(L->s[p])) p++;
    return p;
}

/* Matches `{%[-+]? raw %}` at p; on success sets *end past the tag and *end_sign. */
static bool match_raw_begin(const lexer *L, size_t p, size_t *end, char *end_sign) {
    p += 2;
    if (p < L->n && (L->s[p] == '-' || L->s[p] == '+')) p++;
    p = skip_spaces(L, p);
    if (!starts(L, p, "raw")) return false;
    p = skip_spaces(L, p + 3);
    if (starts(L, p, "-%}")) {
        *end_sign = '-';
        *end = p + 3;
        return true;
    }
    if (starts(L, p, "%}")) {
        *end_sign = 0;
        *end = p + 2;
        return true;
    }
    return false;
}

/* Finds `{%[-+]? endraw [-+]?%}` from p; returns its start, sets sign, end, end_sign. */
static bool find_raw_end(const lexer *L, size_t p, size_t *tag, char *sign, size_t *end, char *end_sign) {
    for (; p + 1 < L->n; p++) {
        if (L->s[p] != '{' || L->s[p + 1] != '%') continue;
        size_t q = p + 2;
        char sg = 0;
        if (q < L->n && (L->s[q] == '-' || L->s[q] == '+')) sg = L->s[q++];
        q = skip_spaces(L, q);
        if (!starts(L, q, "endraw")) continue;
        q = skip_spaces(L, q + 6);
        char es;
        if (starts(L, q, "+%}") || starts(L, q, "-%}")) {
            es = L->s[q];
            q += 3;
        } else if (starts(L, q, "%}")) {
            es = 0;
            q += 2;
        } else {
            continue;
        }
        *tag = p;
        *sign = sg;
        *end = q;
        *end_sign = es;
        return true;
    }
    return false;
}

static uint32_t hexval(char c) {
    if (c >= '0' && c <= '9') return (uint32_t)(c - '0');
    if (c >= 'a' && c <= 'f') return (uint32_t)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return (uint32_t)(c - 'A' + 10);
    return 99;
}

static size_t put_utf8(char *o, uint32_t cp) {
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd; /* lone surrogates cannot be UTF-8 */
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* A string literal at p (quote char there). Escapes follow Python's unicode-escape codec. */
static size_t lex_string(lexer *L, size_t p) {
    char q = L->s[p];
    size_t i = p + 1;
    while (i < L->n && L->s[i] != q) i += L->s[i] == '\\' ? 2 : 1;
    if (i >= L->n) jh_fail(L->h, (uint32_t)p, KUMO_E_FORMAT, "unterminated string literal");
    size_t raw_n = i - (p + 1);
    const char *r = L->s + p + 1;
    char *o = jh_alloc(L->h, raw_n + 1); /* escapes never make the text longer */
    size_t on = 0;
    for (size_t k = 0; k < raw_n;) {
        if (r[k] != '\\') {
            o[on++] = r[k++];
            continue;
        }
        uint32_t at = (uint32_t)(p + 1 + k);
        char e = r[k + 1];
        k += 2;
        switch (e) {
        case '\n': break; /* line continuation */
        case '\\': o[on++] = '\\'; break;
        case '\'': o[on++] = '\''; break;
        case '"': o[on++] = '"'; break;
        case 'a': o[on++] = '\a'; break;
        case 'b': o[on++] = '\b'; break;
        case 'f': o[on++] = '\f'; break;
        case 'n': o[on++] = '\n'; break;
        case 'r': o[on++] = '\r'; break;
        case 't': o[on++] = '\t'; break;
        case 'v': o[on++] = '\v'; break;
        case 'x':
        case 'u':
        case 'U': {
            int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
            uint32_t cp = 0;
            for (int j = 0; j < digits; j++) {
                uint32_t v = k + (size_t)j < raw_n ? hexval(r[k + (size_t)j]) : 99;
                if (v > 15) jh_fail(L->h, at, KUMO_E_FORMAT, "truncated \\%c escape in string literal", e);
                cp = cp * 16 + v;
            }
            if (cp > 0x10ffff) jh_fail(L->h, at, KUMO_E_FORMAT, "illegal Unicode character in string literal");
            k += (size_t)digits;
            on += put_utf8(o + on, cp);
            break;
        }
        case 'N': jh_fail(L->h, at, KUMO_E_UNSUPPORTED, "\\N{...} escapes are not supported");
        default:
            if (e >= '0' && e <= '7') {
                uint32_t cp = (uint32_t)(e - '0');
                for (int j = 0; j < 2 && k < raw_n && r[k] >= '0' && r[k] <= '7'; j++) cp = cp * 8 + (uint32_t)(r[k++] - '0');
                on += put_utf8(o + on, cp);
            } else {
                o[on++] = '\\';
                k--; /* keep the character after the backslash as ordinary text */
            }
        }
    }
    o[on] = 0;
    jtok *t = push(L, JT_STRING, p);
    t->s = o;
    t->n = on;
    return i + 1;
}

/* Digits with single underscores between them; returns the end (== p if no digit at p). */
static size_t scan_digits(const lexer *L, size_t p, int base) {
    size_t i = p;
    while (i < L->n) {
        char c = L->s[i];
        if (hexval(c) < (uint32_t)base) i++;
        else if (c == '_' && i > p && i + 1 < L->n && hexval(L->s[i + 1]) < (uint32_t)base) i++;
        else break;
    }
    return i;
}

static size_t lex_number(lexer *L, size_t p) {
    /* float: digits ( (.digits)? e[+-]?digits | .digits ), not right after a '.' */
    if (p == 0 || L->s[p - 1] != '.') {
        size_t i = scan_digits(L, p, 10), end = 0;
        size_t j = i;
        bool frac = false;
        if (j + 1 < L->n && L->s[j] == '.' && is_digit(L->s[j + 1])) {
            j = scan_digits(L, j + 1, 10);
            frac = true;
        }
        if (j < L->n && (L->s[j] == 'e' || L->s[j] == 'E')) {
            size_t k = j + 1;
            if (k < L->n && (L->s[k] == '+' || L->s[k] == '-')) k++;
            size_t m = scan_digits(L, k, 10);
            if (m > k) end = m;
        }
        if (!end && frac) end = j;
        if (end) {
            char buf[128];
            size_t bn = 0;
            for (size_t k = p; k < end && bn + 1 < sizeof buf; k++)
                if (L->s[k] != '_') buf[bn++] = L->s[k];
            buf[bn] = 0;
            jtok *t = push(L, JT_FLOAT, p);
            t->f = strtod(buf, NULL);
            return end;
        }
    }
    int base = 10;
    size_t start = p, end;
    if (L->s[p] == '0' && p + 1 < L->n && L->s[p + 1] && strchr("bBoOxX", L->s[p + 1])) {
        char b = L->s[p + 1];
        base = (b == 'b' || b == 'B') ? 2 : (b == 'o' || b == 'O') ? 8 : 16;
        start = p + 2;
        if (start < L->n && L->s[start] == '_') start++;
        end = scan_digits(L, start, base);
        if (end == start) {
            base = 10; /* just "0" followed by a name */
            start = p;
            end = p + 1;
        }
    } else if (L->s[p] == '0') {
        end = p + 1;
        while (end < L->n && (L->s[end] == '0' || (L->s[end] == '_' && end + 1 < L->n && L->s[end + 1] == '0'))) end++;
    } else {
        end = scan_digits(L, p, 10);
    }
    uint64_t v = 0;
    for (size_t k = start; k < end; k++) {
        if (L->s[k] == '_') continue;
        uint64_t d = hexval(L->s[k]);
        if (v > (UINT64_C(0x7fffffffffffffff) - d) / (uint64_t)base)
            jh_fail(L->h, (uint32_t)p, KUMO_E_UNSUPPORTED, "integer literal too large");
        v = v * (uint64_t)base + d;
    }
    jtok *t = push(L, JT_INT, p);
    t->i = (int64_t)v;
    return end;
}

/* Tokens inside {{ }} or {% %} from p. Returns the position after the closing tag. */
static size_t lex_tag(lexer *L, size_t tag_start, size_t p, bool block) {
    char stack[MAX_BRACKETS];
    int depth = 0;
    for (;;) {
        p = skip_spaces(L, p);
        if (p >= L->n)
            jh_fail(L->h, (uint32_t)tag_start, KUMO_E_FORMAT, "unexpected end of template: '%s' is not closed by '%s'",
                    block ? "{%" : "{{", block ? "%}" : "}}");
        const char *end = block ? "%}" : "}}";
        if (depth == 0) {
            char sign = 0;
            size_t q = p;
            if ((L->s[q] == '-' || (block && L->s[q] == '+')) && starts(L, q + 1, end)) sign = L->s[q++];
            if (starts(L, q, end)) {
                push(L, block ? JT_BLOCK_END : JT_VAR_END, p);
                return after_tag(L, q + 2, sign, block);
            }
        }
        char c = L->s[p];
        if (is_digit(c)) {
            p = lex_number(L, p);
        } else if (is_name_start(c)) {
            size_t e = p;
            while (e < L->n && is_name_char(L->s[e])) e++;
            jtok *t = push(L, JT_NAME, p);
            t->s = jh_strndup(L->h, L->s + p, e - p);
            t->n = e - p;
            p = e;
        } else if (c == '\'' || c == '"') {
            p = lex_string(L, p);
        } else {
            size_t k = 0;
            for (; k < sizeof OPS / sizeof OPS[0]; k++)
                if (starts(L, p, OPS[k].text)) break;
            if (k == sizeof OPS / sizeof OPS[0]) {
                if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f)
                    jh_fail(L->h, (uint32_t)p, KUMO_E_FORMAT, "unexpected character '%c' in %s", c, block ? "block tag" : "expression");
                jh_fail(L->h, (uint32_t)p, KUMO_E_FORMAT, "unexpected byte 0x%02x in %s", (unsigned char)c, block ? "block tag" : "expression");
            }
            uint8_t op = OPS[k].op;
            if (op == JOP_LPAREN || op == JOP_LBRACKET || op == JOP_LBRACE) {
                if (depth == MAX_BRACKETS) jh_fail(L->h, (uint32_t)p, KUMO_E_FORMAT, "brackets nested too deeply");
                stack[depth++] = op == JOP_LPAREN ? ')' : op == JOP_LBRACKET ? ']' : '}';
            } else if (op == JOP_RPAREN || op == JOP_RBRACKET || op == JOP_RBRACE) {
                if (depth == 0) jh_fail(L->h, (uint32_t)p, KUMO_E_FORMAT, "unexpected '%c'", c);
                if (stack[depth - 1] != c)
                    jh_fail(L->h, (uint32_t)p, KUMO_E_FORMAT, "unexpected '%c', expected '%c'", c, stack[depth - 1]);
                depth--;
            }
            push(L, JT_OP, p)->op = op;
            p += strlen(OPS[k].text);
        }
    }
}

jtok *jinja_lex(jheap *h, size_t *n_tokens) {
    lexer L = {.h = h, .s = h->src, .n = h->src_len};
    size_t pos = 0;
    while (pos < L.n) {
        size_t t = pos;
        while (t + 1 < L.n && !(L.s[t] == '{' && (L.s[t + 1] == '{' || L.s[t + 1] == '%' || L.s[t + 1] == '#'))) t++;
        if (t + 1 >= L.n) {
            emit_data(&L, pos, L.n - pos, 0, false);
            break;
        }
        char kind = L.s[t + 1];
        char sign = 0;
        if (t + 2 < L.n && (L.s[t + 2] == '-' || L.s[t + 2] == '+')) sign = L.s[t + 2];
        size_t raw_end;
        char raw_end_sign;
        if (kind == '%' && match_raw_begin(&L, t, &raw_end, &raw_end_sign)) {
            emit_data(&L, pos, t - pos, sign, true);
            size_t body = after_tag(&L, raw_end, raw_end_sign, false);
            size_t tag, end;
            char esign, eend_sign;
            if (!find_raw_end(&L, body, &tag, &esign, &end, &eend_sign))
                jh_fail(h, (uint32_t)t, KUMO_E_FORMAT, "missing end of raw directive ({%% endraw %%})");
            emit_data(&L, body, tag - body, esign, true);
            pos = after_tag(&L, end, eend_sign, true);
            continue;
        }
        emit_data(&L, pos, t - pos, sign, kind != '{');
        size_t p = t + 2 + (sign ? 1 : 0);
        if (kind == '#') {
            size_t q = p;
            for (; q + 1 < L.n; q++) {
                if ((L.s[q] == '-' || L.s[q] == '+') && starts(&L, q + 1, "#}")) {
                    pos = after_tag(&L, q + 3, L.s[q], true);
                    break;
                }
                if (starts(&L, q, "#}")) {
                    pos = after_tag(&L, q + 2, 0, true);
                    break;
                }
            }
            if (q + 1 >= L.n) jh_fail(h, (uint32_t)t, KUMO_E_FORMAT, "missing end of comment tag '#}'");
            continue;
        }
        bool block = kind == '%';
        push(&L, block ? JT_BLOCK_BEGIN : JT_VAR_BEGIN, t);
        pos = lex_tag(&L, t, p, block);
    }
    push(&L, JT_EOF, L.n);
    *n_tokens = L.ntok;
    return L.toks;
}
