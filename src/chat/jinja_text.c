/* String operations of the Jinja interpreter: Python's str methods (strip, split, replace, find,
 * startswith, format…), printf-style `%` formatting, and the text helpers filters share. Case
 * mapping is ASCII-only: other characters are kept as they are. */
#include "chat/jinja_lib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------- string helpers ---------- */
char *jtext_dup(jctx *c, jv s) { return jh_strndup(&c->h, s.u.s.p, s.u.s.n); }

jv jtext_case(jctx *c, jv s, int mode /* 0 lower, 1 upper, 2 capitalize, 3 title (str.title) */) {
    char *o = jtext_dup(c, s);
    bool prev_cased = false;
    for (size_t i = 0; i < s.u.s.n; i++) {
        char ch = o[i];
        switch (mode) {
        case 0: o[i] = to_lower(ch); break;
        case 1: o[i] = to_upper(ch); break;
        case 2: o[i] = i == 0 ? to_upper(ch) : to_lower(ch); break;
        default:
            o[i] = prev_cased ? to_lower(ch) : to_upper(ch);
            prev_cased = is_alpha_or_nonascii(ch);
        }
    }
    jh_charge(&c->h, s.u.s.n / 64);
    return jv_str(o, s.u.s.n);
}

/* Jinja's title filter: capitalize words that follow '-', whitespace or an opening bracket. */
jv jtext_title_words(jctx *c, jv s) {
    jh_charge(&c->h, s.u.s.n / 64);
    char *o = jtext_dup(c, s);
    bool at_start = true;
    for (size_t i = 0; i < s.u.s.n;) {
        size_t sp = utf8_space_len(o + i, s.u.s.n - i);
        char ch = o[i];
        if (sp || ch == '-' || ch == '(' || ch == '{' || ch == '[' || ch == '<') {
            at_start = true;
            i += sp ? sp : 1;
            continue;
        }
        o[i] = at_start ? to_upper(ch) : to_lower(ch);
        at_start = false;
        i++;
    }
    return jv_str(o, s.u.s.n);
}

/* Is the character at p (k bytes) one of the characters of set? */
static bool char_in(const char *p, size_t k, jv set) {
    for (size_t i = 0; i < set.u.s.n;) {
        size_t m = utf8_char_len(set.u.s.p + i, set.u.s.n - i);
        if (m == k && memcmp(set.u.s.p + i, p, k) == 0) return true;
        i += m;
    }
    return false;
}

/* str.strip / lstrip / rstrip with optional character set (None: whitespace). */
jv jtext_strip(jctx *c, jv s, jv chars, bool left, bool right) {
    const char *p = s.u.s.p;
    size_t n = s.u.s.n, b = 0, e = n;
    jh_charge(&c->h, n / 64);
    if (!jarg_given(chars) || chars.type == JV_NONE) {
        if (left) b = utf8_lstrip_off(p, n);
        if (right) e = b + utf8_rstrip_len(p + b, n - b);
        return jv_str(p + b, e - b);
    }
    jarg_str(c, "strip", chars);
    jh_charge(&c->h, n * (chars.u.s.n / 8 + 1) / 64);
    if (left) {
        while (b < n) {
            size_t k = utf8_char_len(p + b, n - b);
            if (!char_in(p + b, k, chars)) break;
            b += k;
        }
    }
    if (right) {
        /* forward walk remembering the end of the last character not in the set */
        size_t i = b, keep = b;
        while (i < n) {
            size_t k = utf8_char_len(p + i, n - i);
            if (!char_in(p + i, k, chars)) keep = i + k;
            i += k;
        }
        e = keep;
    }
    return jv_str(p + b, e - b);
}

const char *jtext_find(const char *hay, size_t hn, const char *needle, size_t nn) {
    if (nn == 0) return hay;
    return memmem(hay, hn, needle, nn);
}

/* Last occurrence (naive scan from the end; the work done is charged). */
const char *jtext_rfind(jctx *c, const char *hay, size_t hn, const char *needle, size_t nn) {
    if (nn > hn) return NULL;
    const char *found = NULL;
    size_t i = hn - nn + 1;
    while (i-- > 0) {
        if (memcmp(hay + i, needle, nn) == 0) {
            found = hay + i;
            break;
        }
    }
    jh_charge(&c->h, (hn - nn - (found ? (size_t)(found - hay) : 0)) * (nn / 16 + 1) / 64);
    return found;
}

static int64_t char_index(const char *p, size_t byte_off) { return (int64_t)utf8_count(p, byte_off); }

jv jtext_split(jctx *c, jv s, jv sep, int64_t maxsplit, bool from_right) {
    jlist *l = jl_new(&c->h, 0);
    const char *p = s.u.s.p;
    size_t n = s.u.s.n;
    jh_charge(&c->h, n / 32);
    if (!jarg_given(sep) || sep.type == JV_NONE) {
        /* runs of whitespace, no empty strings */
        if (!from_right) {
            size_t i = 0;
            while (i < n) {
                i += utf8_lstrip_off(p + i, n - i);
                if (i >= n) break;
                if (maxsplit >= 0 && (int64_t)l->n == maxsplit) {
                    jl_push(&c->h, l, jv_str(p + i, n - i));
                    break;
                }
                size_t j = i;
                while (j < n && !utf8_space_len(p + j, n - j)) j += utf8_char_len(p + j, n - j);
                jl_push(&c->h, l, jv_str(p + i, j - i));
                i = j;
            }
            return jv_list(l);
        }
        /* from the right: find word boundaries forward, then take from the end */
        jlist *words = jl_new(&c->h, 0);
        size_t i = 0;
        while (i < n) {
            i += utf8_lstrip_off(p + i, n - i);
            if (i >= n) break;
            size_t j = i;
            while (j < n && !utf8_space_len(p + j, n - j)) j += utf8_char_len(p + j, n - j);
            jl_push(&c->h, words, jv_str(p + i, j - i));
            i = j;
        }
        if (maxsplit < 0 || (size_t)maxsplit >= words->n || words->n == 0) return jv_list(words);
        size_t keep_from = words->n - (size_t)maxsplit;
        const char *head_start = p; /* the head keeps its leading whitespace, as in Python */
        const char *head_end = words->v[keep_from - 1].u.s.p + words->v[keep_from - 1].u.s.n;
        jl_push(&c->h, l, jv_str(head_start, (size_t)(head_end - head_start)));
        for (size_t k = keep_from; k < words->n; k++) jl_push(&c->h, l, words->v[k]);
        return jv_list(l);
    }
    jarg_str(c, "split", sep);
    if (sep.u.s.n == 0) jh_fail(&c->h, c->at, KUMO_E_INVALID, "empty separator");
    if (!from_right) {
        size_t i = 0;
        for (;;) {
            const char *f = (maxsplit < 0 || (int64_t)l->n < maxsplit) ? jtext_find(p + i, n - i, sep.u.s.p, sep.u.s.n) : NULL;
            if (!f) {
                jl_push(&c->h, l, jv_str(p + i, n - i));
                return jv_list(l);
            }
            jl_push(&c->h, l, jv_str(p + i, (size_t)(f - (p + i))));
            i = (size_t)(f - p) + sep.u.s.n;
        }
    }
    jlist *rev = jl_new(&c->h, 0);
    size_t end = n;
    for (;;) {
        const char *f = (maxsplit < 0 || (int64_t)rev->n < maxsplit) ? jtext_rfind(c, p, end, sep.u.s.p, sep.u.s.n) : NULL;
        if (!f) {
            jl_push(&c->h, rev, jv_str(p, end));
            break;
        }
        size_t after = (size_t)(f - p) + sep.u.s.n;
        jl_push(&c->h, rev, jv_str(p + after, end - after));
        end = (size_t)(f - p);
    }
    for (size_t k = rev->n; k-- > 0;) jl_push(&c->h, l, rev->v[k]);
    return jv_list(l);
}

/* Python's str.splitlines line boundaries; returns the length of the break at p, or 0. */
static size_t line_break_len(const char *p, size_t n) {
    unsigned char ch = (unsigned char)p[0];
    if (ch == '\r') return n > 1 && p[1] == '\n' ? 2 : 1;
    if (ch == '\n' || ch == '\v' || ch == '\f' || ch == 0x1c || ch == 0x1d || ch == 0x1e) return 1;
    if (ch == 0xc2 && n > 1 && (unsigned char)p[1] == 0x85) return 2;
    if (ch == 0xe2 && n > 2 && (unsigned char)p[1] == 0x80 && ((unsigned char)p[2] == 0xa8 || (unsigned char)p[2] == 0xa9)) return 3;
    return 0;
}

jlist *jtext_splitlines(jctx *c, jv s, bool keepends) {
    jlist *l = jl_new(&c->h, 0);
    const char *p = s.u.s.p;
    size_t n = s.u.s.n, start = 0, i = 0;
    while (i < n) {
        size_t k = line_break_len(p + i, n - i);
        if (k) {
            jl_push(&c->h, l, jv_str(p + start, (keepends ? i + k : i) - start));
            i += k;
            start = i;
        } else {
            i += utf8_char_len(p + i, n - i);
        }
    }
    if (start < n) jl_push(&c->h, l, jv_str(p + start, n - start));
    return l;
}

jv jtext_replace(jctx *c, jv s, jv old, jv new_, int64_t count) {
    jbuf b;
    jb_init(&b, &c->h, SIZE_MAX);
    const char *p = s.u.s.p;
    size_t n = s.u.s.n;
    int64_t done = 0;
    if (old.u.s.n == 0) {
        /* '' matches before every character and at the end */
        size_t i = 0;
        for (;;) {
            if (count < 0 || done < count) {
                jb_put(&b, new_.u.s.p, new_.u.s.n);
                done++;
            }
            if (i >= n) break;
            size_t k = utf8_char_len(p + i, n - i);
            jb_put(&b, p + i, k);
            i += k;
        }
        return jb_value(&b);
    }
    size_t i = 0;
    while (count < 0 || done < count) {
        const char *f = jtext_find(p + i, n - i, old.u.s.p, old.u.s.n);
        if (!f) break;
        jb_put(&b, p + i, (size_t)(f - (p + i)));
        jb_put(&b, new_.u.s.p, new_.u.s.n);
        i = (size_t)(f - p) + old.u.s.n;
        done++;
    }
    jb_put(&b, p + i, n - i);
    return jb_value(&b);
}

jv jtext_join(jctx *c, const jlist *items, jv sep, bool strict) {
    jbuf b;
    jb_init(&b, &c->h, SIZE_MAX);
    for (size_t i = 0; i < items->n; i++) {
        if (i) jb_put(&b, sep.u.s.p, sep.u.s.n);
        if (strict && items->v[i].type != JV_STR)
            jh_fail(&c->h, c->at, KUMO_E_INVALID, "sequence item %zu: expected str instance, %s found", i, jv_type_name(items->v[i]));
        jv_write_str(&b, items->v[i]);
    }
    return jb_value(&b);
}

/* Python int(str, base) for a string; returns false when it is not an integer literal. */
bool jtext_parse_int(const char *p, size_t n, int base, int64_t *out) {
    size_t i = utf8_lstrip_off(p, n);
    n = i + utf8_rstrip_len(p + i, n - i);
    bool neg = false;
    if (i < n && (p[i] == '+' || p[i] == '-')) neg = p[i++] == '-';
    if ((base == 16 || base == 0) && n - i > 2 && p[i] == '0' && (p[i + 1] == 'x' || p[i + 1] == 'X')) {
        base = 16;
        i += 2;
    } else if ((base == 8 || base == 0) && n - i > 2 && p[i] == '0' && (p[i + 1] == 'o' || p[i + 1] == 'O')) {
        base = 8;
        i += 2;
    } else if ((base == 2 || base == 0) && n - i > 2 && p[i] == '0' && (p[i + 1] == 'b' || p[i + 1] == 'B')) {
        base = 2;
        i += 2;
    }
    if (base == 0) base = 10;
    if (i >= n) return false;
    uint64_t v = 0;
    bool prev_digit = false;
    for (; i < n; i++) {
        char ch = p[i];
        if (ch == '_' && prev_digit && i + 1 < n) {
            prev_digit = false;
            continue;
        }
        int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'z' ? ch - 'a' + 10 : ch >= 'A' && ch <= 'Z' ? ch - 'A' + 10 : 99;
        if (d >= base) return false;
        if (v > (UINT64_C(1) << 63) / (uint64_t)base) return false;
        v = v * (uint64_t)base + (uint64_t)d;
        if (v > (UINT64_C(1) << 63) - (neg ? 0 : 1)) return false;
        prev_digit = true;
    }
    if (!prev_digit) return false;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

bool jtext_parse_float(jctx *c, const char *p, size_t n, double *out) {
    size_t i = utf8_lstrip_off(p, n);
    n = i + utf8_rstrip_len(p + i, n - i);
    if (i >= n || n - i > 300) return false;
    char *tmp = jh_alloc(&c->h, n - i + 1);
    size_t k = 0;
    for (size_t j = i; j < n; j++) {
        char ch = p[j];
        if (ch == '_') continue;
        if (!((ch >= '0' && ch <= '9') || ch == '.' || ch == 'e' || ch == 'E' || ch == '+' || ch == '-' ||
              (ch && strchr("infatyINFATY", ch))))
            return false;
        tmp[k++] = ch;
    }
    tmp[k] = 0;
    char *end;
    double v = strtod(tmp, &end);
    if (end == tmp || *end) return false;
    *out = v;
    return true;
}

/* ---------- percent formatting ('%s' % x, |format) ---------- */
jv jinja_percent_format(jctx *c, jv fmt, jv args) {
    const jlist *list;
    jlist single = {0};
    jv one = args;
    if (args.type == JV_LIST && (args.flags & JV_F_TUPLE)) {
        list = args.u.l;
    } else {
        single.n = single.cap = 1;
        single.v = &one;
        list = &single;
    }
    jbuf b;
    jb_init(&b, &c->h, SIZE_MAX);
    size_t ai = 0;
    const char *p = fmt.u.s.p;
    size_t n = fmt.u.s.n;
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '%') {
            jb_putc(&b, p[i]);
            continue;
        }
        size_t j = i + 1;
        char spec[32];
        size_t sn = 0;
        spec[sn++] = '%';
        while (j < n && p[j] && strchr("-+ 0#", p[j]) && sn < 8) spec[sn++] = p[j++];
        while (j < n && p[j] >= '0' && p[j] <= '9' && sn < 16) spec[sn++] = p[j++];
        if (j < n && p[j] == '.') {
            spec[sn++] = p[j++];
            while (j < n && p[j] >= '0' && p[j] <= '9' && sn < 24) spec[sn++] = p[j++];
        }
        if (j >= n) jh_fail(&c->h, c->at, KUMO_E_INVALID, "incomplete format");
        spec[sn] = 0;
        const char *w = spec + 1;
        while (*w && strchr("-+ 0#", *w)) w++;
        long width = strtol(w, NULL, 10);
        const char *dot = strchr(spec, '.');
        long prec = dot ? strtol(dot + 1, NULL, 10) : -1;
        /* printf pads and expands in C: keep both small so one directive cannot take seconds */
        if (width > 4096 || prec > 400) jh_fail(&c->h, c->at, KUMO_E_INVALID, "format width or precision too large");
        size_t out_cap = (size_t)width + (size_t)(prec > 0 ? prec : 0) + 400;
        char conv = p[j];
        i = j;
        if (conv == '%') {
            jb_putc(&b, '%');
            continue;
        }
        if (conv == '(') jh_fail(&c->h, c->at, KUMO_E_UNSUPPORTED, "%%(name) formatting is not supported");
        if (ai >= list->n) jh_fail(&c->h, c->at, KUMO_E_INVALID, "not enough arguments for format string");
        jv a = list->v[ai++];
        char *out;
        int written;
        switch (conv) {
        case 's':
        case 'r': {
            jbuf tmp;
            jb_init(&tmp, &c->h, SIZE_MAX);
            if (conv == 's') jv_write_str(&tmp, a);
            else jv_write_repr(&tmp, a);
            /* width/precision in characters; flags other than '-' do not apply to strings */
            bool left = strchr(spec, '-') != NULL;
            size_t len = tmp.n;
            if (dot) {
                size_t bytes = 0;
                for (long k = 0; k < prec && bytes < len; k++) bytes += utf8_char_len(tmp.p + bytes, len - bytes);
                len = bytes;
            }
            long chars = (long)utf8_count(tmp.p ? tmp.p : "", len);
            if (!left)
                for (long k = chars; k < width; k++) jb_putc(&b, ' ');
            jb_put(&b, tmp.p, len);
            if (left)
                for (long k = chars; k < width; k++) jb_putc(&b, ' ');
            continue;
        }
        case 'd':
        case 'i':
        case 'x':
        case 'X':
        case 'o': {
            int64_t v;
            if (a.type == JV_INT || a.type == JV_BOOL) v = a.type == JV_BOOL ? a.u.b : a.u.i;
            else if (a.type == JV_FLOAT && (conv == 'd' || conv == 'i') && isfinite(a.u.f) && fabs(a.u.f) < 9.2e18) v = (int64_t)a.u.f;
            else jh_fail(&c->h, c->at, KUMO_E_INVALID, "%%%c format: a number is required, not %s", conv, jv_type_name(a));
            spec[sn++] = 'l';
            spec[sn++] = 'l';
            spec[sn++] = conv == 'i' ? 'd' : conv;
            spec[sn] = 0;
            out = jh_alloc(&c->h, out_cap);
            written = snprintf(out, out_cap, spec, (long long)v);
            jb_put(&b, out, written < 0 ? 0 : (size_t)written < out_cap ? (size_t)written : out_cap - 1);
            continue;
        }
        case 'f':
        case 'F':
        case 'e':
        case 'E':
        case 'g':
        case 'G': {
            if (!jv_is_number(a)) jh_fail(&c->h, c->at, KUMO_E_INVALID, "must be real number, not %s", jv_type_name(a));
            spec[sn++] = conv;
            spec[sn] = 0;
            out = jh_alloc(&c->h, out_cap);
            written = snprintf(out, out_cap, spec, jv_num(a));
            jb_put(&b, out, written < 0 ? 0 : (size_t)written < out_cap ? (size_t)written : out_cap - 1);
            continue;
        }
        default: jh_fail(&c->h, c->at, KUMO_E_UNSUPPORTED, "unsupported format character '%c'", conv);
        }
    }
    if (ai < list->n) jh_fail(&c->h, c->at, KUMO_E_INVALID, "not all arguments converted during string formatting");
    return jb_value(&b);
}

/* str.format: {} {0} {name} with optional !s / !r; format specs are not supported. */
static jv str_format(jctx *c, jv fmt, const jargs *a) {
    jbuf b;
    jb_init(&b, &c->h, SIZE_MAX);
    const char *p = fmt.u.s.p;
    size_t n = fmt.u.s.n, auto_idx = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (ch == '}' ) {
            if (i + 1 < n && p[i + 1] == '}') i++;
            else jh_fail(&c->h, c->at, KUMO_E_INVALID, "single '}' encountered in format string");
            jb_putc(&b, '}');
            continue;
        }
        if (ch != '{') {
            jb_putc(&b, ch);
            continue;
        }
        if (i + 1 < n && p[i + 1] == '{') {
            jb_putc(&b, '{');
            i++;
            continue;
        }
        size_t j = i + 1;
        while (j < n && p[j] != '}' && p[j] != '!' && p[j] != ':') j++;
        size_t name_b = i + 1, name_e = j;
        char conv = 's';
        if (j < n && p[j] == '!') {
            if (j + 1 >= n) jh_fail(&c->h, c->at, KUMO_E_INVALID, "unmatched '{' in format string");
            conv = p[j + 1];
            j += 2;
        }
        if (j < n && p[j] == ':') jh_fail(&c->h, c->at, KUMO_E_UNSUPPORTED, "format specs in str.format are not supported");
        if (j >= n || p[j] != '}') jh_fail(&c->h, c->at, KUMO_E_INVALID, "unmatched '{' in format string");
        jv v;
        if (name_b == name_e) {
            if (auto_idx >= a->npos) jh_fail(&c->h, c->at, KUMO_E_INVALID, "format: replacement index %zu out of range", auto_idx);
            v = a->pos[auto_idx++];
        } else if (p[name_b] >= '0' && p[name_b] <= '9') {
            size_t idx = 0;
            for (size_t k = name_b; k < name_e; k++) {
                if (p[k] < '0' || p[k] > '9' || idx > 100000) jh_fail(&c->h, c->at, KUMO_E_UNSUPPORTED, "unsupported format field");
                idx = idx * 10 + (size_t)(p[k] - '0');
            }
            if (idx >= a->npos) jh_fail(&c->h, c->at, KUMO_E_INVALID, "format: replacement index %zu out of range", idx);
            v = a->pos[idx];
        } else {
            size_t k = 0;
            while (k < a->nkw && !(strlen(a->kwn[k]) == name_e - name_b && !memcmp(a->kwn[k], p + name_b, name_e - name_b))) k++;
            if (k == a->nkw) jh_fail(&c->h, c->at, KUMO_E_INVALID, "format: no argument '%.*s'", (int)(name_e - name_b), p + name_b);
            v = a->kwv[k];
        }
        if (conv == 'r') jv_write_repr(&b, v);
        else if (conv == 's') jv_write_str(&b, v);
        else jh_fail(&c->h, c->at, KUMO_E_INVALID, "unknown conversion specifier %c", conv);
        i = j;
    }
    return jb_value(&b);
}

static const char *const STR_METHODS[] = {
    "capitalize", "count", "endswith", "find", "format", "index", "isalnum", "isalpha", "isdigit", "islower",
    "isspace", "isupper", "join", "lower", "lstrip", "removeprefix", "removesuffix", "replace", "rfind",
    "rindex", "rsplit", "rstrip", "split", "splitlines", "startswith", "strip", "title", "upper", NULL,
};

bool jtext_has_method(const char *name) {
    for (size_t i = 0; STR_METHODS[i]; i++)
        if (!strcmp(STR_METHODS[i], name)) return true;
    return false;
}

/* startswith/endswith: prefix may be a tuple of strings. */
static bool affix_match(jctx *c, jv s, jv affix, bool at_end) {
    if (affix.type == JV_LIST) {
        for (size_t i = 0; i < affix.u.l->n; i++)
            if (affix_match(c, s, affix.u.l->v[i], at_end)) return true;
        return false;
    }
    jarg_str(c, at_end ? "endswith" : "startswith", affix);
    if (affix.u.s.n > s.u.s.n) return false;
    const char *p = at_end ? s.u.s.p + s.u.s.n - affix.u.s.n : s.u.s.p;
    return affix.u.s.n == 0 || memcmp(p, affix.u.s.p, affix.u.s.n) == 0;
}

static bool all_chars(jv s, int kind) {
    if (s.u.s.n == 0) return false;
    bool cased = false;
    for (size_t i = 0; i < s.u.s.n; i++) {
        char ch = s.u.s.p[i];
        switch (kind) {
        case 0: if (!(ascii_upper(ch) || ascii_lower(ch) || (ch >= '0' && ch <= '9'))) return false; break;
        case 1: if (!(ascii_upper(ch) || ascii_lower(ch))) return false; break;
        case 2: if (!(ch >= '0' && ch <= '9')) return false; break;
        case 3: if (ascii_upper(ch)) return false; cased = cased || ascii_lower(ch); break;
        case 4: if (ascii_lower(ch)) return false; cased = cased || ascii_upper(ch); break;
        default: break;
        }
    }
    return kind < 3 || cased;
}

jv jtext_method(jctx *c, jv s, const char *m, const jargs *a) {
    jv x[3];
    char what[64];
    snprintf(what, sizeof what, "str.%s", m);
    if (!strcmp(m, "format")) return str_format(c, s, a);
    if (!strcmp(m, "strip") || !strcmp(m, "lstrip") || !strcmp(m, "rstrip")) {
        static const char *const P[] = {"chars", NULL};
        jarg_bind(c, what, P, a, x);
        return jtext_strip(c, s, x[0], m[0] != 'r', m[0] != 'l');
    }
    if (!strcmp(m, "split") || !strcmp(m, "rsplit")) {
        static const char *const P[] = {"sep", "maxsplit", NULL};
        jarg_bind(c, what, P, a, x);
        int64_t maxsplit = jarg_given(x[1]) ? jarg_int(c, what, x[1]) : -1;
        return jtext_split(c, s, x[0], maxsplit, m[0] == 'r');
    }
    if (!strcmp(m, "splitlines")) {
        static const char *const P[] = {"keepends", NULL};
        jarg_bind(c, what, P, a, x);
        return jv_list(jtext_splitlines(c, s, jarg_given(x[0]) && jv_truthy(x[0])));
    }
    if (!strcmp(m, "startswith") || !strcmp(m, "endswith")) {
        static const char *const P[] = {"prefix", "start", NULL};
        jarg_bind(c, what, P, a, x);
        if (!jarg_given(x[0])) jh_fail(&c->h, c->at, KUMO_E_INVALID, "%s needs an argument", what);
        jv sub = s;
        if (jarg_given(x[1])) {
            int64_t st = jarg_int(c, what, x[1]);
            size_t nch;
            jlist *chars = jinja_iter(c, s);
            nch = chars->n;
            if (st < 0) st += (int64_t)nch;
            if (st < 0) st = 0;
            if ((size_t)st >= nch) sub = jv_str("", 0);
            else sub = jv_str(chars->v[st].u.s.p, (size_t)(s.u.s.p + s.u.s.n - chars->v[st].u.s.p));
        }
        return jv_bool(affix_match(c, sub, x[0], m[0] == 'e'));
    }
    if (!strcmp(m, "replace")) {
        static const char *const P[] = {"old", "new", "count", NULL};
        jarg_bind(c, what, P, a, x);
        int64_t count = jarg_given(x[2]) ? jarg_int(c, what, x[2]) : -1;
        return jtext_replace(c, s, jarg_str(c, what, x[0]), jarg_str(c, what, x[1]), count);
    }
    if (!strcmp(m, "find") || !strcmp(m, "rfind") || !strcmp(m, "index") || !strcmp(m, "rindex") || !strcmp(m, "count")) {
        static const char *const P[] = {"sub", NULL};
        jarg_bind(c, what, P, a, x);
        jv sub = jarg_str(c, what, x[0]);
        jh_charge(&c->h, s.u.s.n / 32);
        if (!strcmp(m, "count")) {
            if (sub.u.s.n == 0) return jv_int((int64_t)utf8_count(s.u.s.p, s.u.s.n) + 1);
            int64_t k = 0;
            size_t i = 0;
            const char *f;
            while ((f = jtext_find(s.u.s.p + i, s.u.s.n - i, sub.u.s.p, sub.u.s.n))) {
                k++;
                i = (size_t)(f - s.u.s.p) + sub.u.s.n;
            }
            return jv_int(k);
        }
        bool rev = m[0] == 'r';
        const char *f = rev ? jtext_rfind(c, s.u.s.p, s.u.s.n, sub.u.s.p, sub.u.s.n) : jtext_find(s.u.s.p, s.u.s.n, sub.u.s.p, sub.u.s.n);
        if (!f) {
            if (strstr(m, "index")) jh_fail(&c->h, c->at, KUMO_E_INVALID, "substring not found");
            return jv_int(-1);
        }
        return jv_int(char_index(s.u.s.p, (size_t)(f - s.u.s.p)));
    }
    if (!strcmp(m, "join")) {
        static const char *const P[] = {"iterable", NULL};
        jarg_bind(c, what, P, a, x);
        return jtext_join(c, jinja_iter(c, x[0]), s, true);
    }
    if (!strcmp(m, "removeprefix") || !strcmp(m, "removesuffix")) {
        static const char *const P[] = {"affix", NULL};
        jarg_bind(c, what, P, a, x);
        jv affix = jarg_str(c, what, x[0]);
        bool suffix = m[6] == 's';
        if (!affix_match(c, s, affix, suffix)) return s;
        return jv_str(suffix ? s.u.s.p : s.u.s.p + affix.u.s.n, s.u.s.n - affix.u.s.n);
    }
    jarg_bind(c, what, JARGS_NONE, a, x);
    if (!strcmp(m, "upper")) return jtext_case(c, s, 1);
    if (!strcmp(m, "lower")) return jtext_case(c, s, 0);
    if (!strcmp(m, "capitalize")) return jtext_case(c, s, 2);
    if (!strcmp(m, "title")) return jtext_case(c, s, 3);
    if (!strcmp(m, "isalnum")) return jv_bool(all_chars(s, 0));
    if (!strcmp(m, "isalpha")) return jv_bool(all_chars(s, 1));
    if (!strcmp(m, "isdigit")) return jv_bool(all_chars(s, 2));
    if (!strcmp(m, "islower")) return jv_bool(all_chars(s, 3));
    if (!strcmp(m, "isupper")) return jv_bool(all_chars(s, 4));
    if (!strcmp(m, "isspace")) return jv_bool(s.u.s.n && utf8_lstrip_off(s.u.s.p, s.u.s.n) == s.u.s.n);
    jh_fail(&c->h, c->at, KUMO_E_UNSUPPORTED, "unsupported string method '%s'", m);
}

