/* Filters, tests, global functions and methods of values (str, dict, list, loop) for the Jinja
 * interpreter. Behaviour follows Jinja2 3.1 plus what Hugging Face adds for chat templates
 * (tojson with ensure_ascii/indent/separators/sort_keys, raise_exception, strftime_now). Case
 * mapping (upper, lower, title, capitalize) is ASCII-only: other characters are kept as they are. */
#include "chat/jinja.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RANGE 100000 /* Jinja's sandbox limit for range() */

/* ---------- argument binding ---------- */
/* Binds a call's arguments to the parameter names (NULL-terminated); out[i] is undefined when not
 * given. Fails on unknown keywords or too many positional arguments. */
static void bind(jctx *c, const char *what, const char *const *params, const jargs *a, jv *out) {
    size_t np = 0;
    while (params[np]) np++;
    if (a->npos > np)
        jh_fail(&c->h, c->at, KUMO_E_INVALID, "%s takes at most %zu argument%s (%zu given)", what, np, np == 1 ? "" : "s", a->npos);
    for (size_t i = 0; i < np; i++) out[i] = i < a->npos ? a->pos[i] : jv_undef(params[i], strlen(params[i]));
    for (size_t k = 0; k < a->nkw; k++) {
        size_t i = 0;
        while (i < np && strcmp(params[i], a->kwn[k])) i++;
        if (i == np) jh_fail(&c->h, c->at, KUMO_E_INVALID, "%s got an unexpected keyword argument '%s'", what, a->kwn[k]);
        if (i < a->npos) jh_fail(&c->h, c->at, KUMO_E_INVALID, "%s got multiple values for argument '%s'", what, a->kwn[k]);
        out[i] = a->kwv[k];
    }
}

static bool given(jv v) { return v.type != JV_UNDEF; }

static jv need_str(jctx *c, const char *what, jv v) {
    if (v.type != JV_STR) {
        if (v.type == JV_UNDEF && v.u.s.n)
            jh_fail(&c->h, c->at, KUMO_E_INVALID, "%s: missing argument '%.*s'", what, (int)v.u.s.n, v.u.s.p);
        jh_fail(&c->h, c->at, KUMO_E_INVALID, "%s expects a string, not %s", what, jv_type_name(v));
    }
    return v;
}

static int64_t need_int(jctx *c, const char *what, jv v) {
    if (v.type == JV_INT) return v.u.i;
    if (v.type == JV_BOOL) return v.u.b;
    jh_fail(&c->h, c->at, KUMO_E_INVALID, "%s expects an integer, not %s", what, jv_type_name(v));
}

static jv str_of(jctx *c, jv v) { return jv_to_str(&c->h, v); }

/* ---------- string helpers ---------- */
static bool ascii_upper(char ch) { return ch >= 'A' && ch <= 'Z'; }
static bool ascii_lower(char ch) { return ch >= 'a' && ch <= 'z'; }
static char to_upper(char ch) { return ascii_lower(ch) ? (char)(ch - 32) : ch; }
static char to_lower(char ch) { return ascii_upper(ch) ? (char)(ch + 32) : ch; }
static bool is_alpha_or_nonascii(char ch) { return ascii_upper(ch) || ascii_lower(ch) || (unsigned char)ch >= 0x80; }

static char *dup_bytes(jctx *c, jv s) { return jh_strndup(&c->h, s.u.s.p, s.u.s.n); }

static jv case_map(jctx *c, jv s, int mode /* 0 lower, 1 upper, 2 capitalize, 3 title (str.title) */) {
    char *o = dup_bytes(c, s);
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
static jv title_filter(jctx *c, jv s) {
    char *o = dup_bytes(c, s);
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
static jv strip(jctx *c, jv s, jv chars, bool left, bool right) {
    const char *p = s.u.s.p;
    size_t n = s.u.s.n, b = 0, e = n;
    jh_charge(&c->h, n / 64);
    if (!given(chars) || chars.type == JV_NONE) {
        if (left) b = utf8_lstrip_off(p, n);
        if (right) e = b + utf8_rstrip_len(p + b, n - b);
        return jv_str(p + b, e - b);
    }
    need_str(c, "strip", chars);
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

static const char *find_bytes(const char *hay, size_t hn, const char *needle, size_t nn) {
    if (nn == 0) return hay;
    return memmem(hay, hn, needle, nn);
}

static const char *rfind_bytes(const char *hay, size_t hn, const char *needle, size_t nn) {
    if (nn > hn) return NULL;
    for (size_t i = hn - nn + 1; i-- > 0;)
        if (memcmp(hay + i, needle, nn) == 0) return hay + i;
    return NULL;
}

static int64_t char_index(const char *p, size_t byte_off) { return (int64_t)utf8_count(p, byte_off); }

static jv split(jctx *c, jv s, jv sep, int64_t maxsplit, bool from_right) {
    jlist *l = jl_new(&c->h, 0);
    const char *p = s.u.s.p;
    size_t n = s.u.s.n;
    jh_charge(&c->h, n / 32);
    if (!given(sep) || sep.type == JV_NONE) {
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
    need_str(c, "split", sep);
    if (sep.u.s.n == 0) jh_fail(&c->h, c->at, KUMO_E_INVALID, "empty separator");
    if (!from_right) {
        size_t i = 0;
        for (;;) {
            const char *f = (maxsplit < 0 || (int64_t)l->n < maxsplit) ? find_bytes(p + i, n - i, sep.u.s.p, sep.u.s.n) : NULL;
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
        const char *f = (maxsplit < 0 || (int64_t)rev->n < maxsplit) ? rfind_bytes(p, end, sep.u.s.p, sep.u.s.n) : NULL;
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

static jlist *splitlines(jctx *c, jv s, bool keepends) {
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

static jv replace(jctx *c, jv s, jv old, jv new_, int64_t count) {
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
        const char *f = find_bytes(p + i, n - i, old.u.s.p, old.u.s.n);
        if (!f) break;
        jb_put(&b, p + i, (size_t)(f - (p + i)));
        jb_put(&b, new_.u.s.p, new_.u.s.n);
        i = (size_t)(f - p) + old.u.s.n;
        done++;
    }
    jb_put(&b, p + i, n - i);
    return jb_value(&b);
}

static jv join_values(jctx *c, const jlist *items, jv sep, bool strict) {
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
static bool parse_int(const char *p, size_t n, int base, int64_t *out) {
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

static bool parse_float(jctx *c, const char *p, size_t n, double *out) {
    size_t i = utf8_lstrip_off(p, n);
    n = i + utf8_rstrip_len(p + i, n - i);
    if (i >= n || n - i > 300) return false;
    char *tmp = jh_alloc(&c->h, n - i + 1);
    size_t k = 0;
    for (size_t j = i; j < n; j++) {
        char ch = p[j];
        if (ch == '_') continue;
        if (!((ch >= '0' && ch <= '9') || ch == '.' || ch == 'e' || ch == 'E' || ch == '+' || ch == '-' ||
              strchr("infatyINFATY", ch)))
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
        while (j < n && strchr("-+ 0#", p[j]) && sn < 8) spec[sn++] = p[j++];
        while (j < n && p[j] >= '0' && p[j] <= '9' && sn < 16) spec[sn++] = p[j++];
        if (j < n && p[j] == '.') {
            spec[sn++] = p[j++];
            while (j < n && p[j] >= '0' && p[j] <= '9' && sn < 24) spec[sn++] = p[j++];
        }
        if (j >= n) jh_fail(&c->h, c->at, KUMO_E_INVALID, "incomplete format");
        char conv = p[j];
        i = j;
        if (conv == '%') {
            jb_putc(&b, '%');
            continue;
        }
        if (conv == '(') jh_fail(&c->h, c->at, KUMO_E_UNSUPPORTED, "%%(name) formatting is not supported");
        if (ai >= list->n) jh_fail(&c->h, c->at, KUMO_E_INVALID, "not enough arguments for format string");
        jv a = list->v[ai++];
        char out[512];
        switch (conv) {
        case 's':
        case 'r': {
            jbuf tmp;
            jb_init(&tmp, &c->h, SIZE_MAX);
            if (conv == 's') jv_write_str(&tmp, a);
            else jv_write_repr(&tmp, a);
            /* width/precision in characters; flags other than '-' do not apply to strings */
            spec[sn] = 0;
            bool left = strchr(spec, '-') != NULL;
            const char *w = spec + 1;
            while (*w && strchr("-+ 0#", *w)) w++;
            long width = strtol(w, NULL, 10);
            const char *dot = strchr(spec, '.');
            size_t len = tmp.n;
            if (dot) {
                long prec = strtol(dot + 1, NULL, 10);
                size_t bytes = 0;
                for (long k = 0; k < prec && bytes < len; k++) bytes += utf8_char_len(tmp.p + bytes, len - bytes);
                len = bytes;
            }
            long chars = (long)utf8_count(tmp.p ? tmp.p : "", len);
            if (width > 100000) jh_fail(&c->h, c->at, KUMO_E_INVALID, "format width too large");
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
            int k = snprintf(out, sizeof out, spec, (long long)v);
            jb_put(&b, out, k < 0 ? 0 : (size_t)k < sizeof out ? (size_t)k : sizeof out - 1);
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
            int k = snprintf(out, sizeof out, spec, jv_num(a));
            jb_put(&b, out, k < 0 ? 0 : (size_t)k < sizeof out ? (size_t)k : sizeof out - 1);
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

/* ---------- sorting and attribute paths ---------- */
/* "a.b.0" → item lookups, as Jinja's attribute= arguments do. */
static jv attr_path(jctx *c, jv item, jv path) {
    need_str(c, "attribute", path);
    const char *p = path.u.s.p;
    size_t n = path.u.s.n, i = 0;
    for (;;) {
        size_t j = i;
        while (j < n && p[j] != '.') j++;
        bool digits = j > i;
        for (size_t k = i; k < j; k++) digits = digits && p[k] >= '0' && p[k] <= '9';
        if (item.type == JV_UNDEF) return item;
        if (digits && j - i < 18) {
            int64_t idx = 0;
            for (size_t k = i; k < j; k++) idx = idx * 10 + (p[k] - '0');
            item = jinja_getitem(c, item, jv_int(idx));
        } else {
            item = jinja_getitem(c, item, jv_str(p + i, j - i));
        }
        if (j >= n) return item;
        i = j + 1;
    }
}

typedef struct sort_key {
    jv key;
    size_t idx;
} sort_key;

static jv fold_case(jctx *c, jv v, bool case_sensitive) {
    if (!case_sensitive && v.type == JV_STR) return case_map(c, v, 0);
    return v;
}

static void merge_sort(jctx *c, sort_key *v, sort_key *tmp, size_t n, bool reverse) {
    if (n < 2) return;
    size_t h = n / 2;
    merge_sort(c, v, tmp, h, reverse);
    merge_sort(c, v + h, tmp, n - h, reverse);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        int r = jv_cmp(&c->h, c->at, v[j].key, v[i].key);
        if (reverse) r = -r;
        tmp[k++] = r < 0 ? v[j++] : v[i++];
    }
    while (i < h) tmp[k++] = v[i++];
    while (j < n) tmp[k++] = v[j++];
    memcpy(v, tmp, n * sizeof *v);
    jh_charge(&c->h, n);
}

/* Stable sort of items by key (attribute path or the item itself). */
static jlist *sorted(jctx *c, const jlist *items, jv attribute, bool case_sensitive, bool reverse) {
    sort_key *keys = jh_alloc(&c->h, (items->n + 1) * sizeof *keys), *tmp = jh_alloc(&c->h, (items->n + 1) * sizeof *tmp);
    for (size_t i = 0; i < items->n; i++) {
        jv k = given(attribute) && attribute.type != JV_NONE ? attr_path(c, items->v[i], attribute) : items->v[i];
        keys[i].key = fold_case(c, k, case_sensitive);
        keys[i].idx = i;
    }
    merge_sort(c, keys, tmp, items->n, reverse);
    jlist *out = jl_new(&c->h, items->n);
    for (size_t i = 0; i < items->n; i++) out->v[out->n++] = items->v[keys[i].idx];
    return out;
}

/* ---------- tests ---------- */
enum test_id {
    T_DEFINED, T_UNDEFINED, T_NONE, T_BOOLEAN, T_FALSE, T_TRUE, T_INTEGER, T_FLOAT, T_NUMBER, T_STRING,
    T_MAPPING, T_ITERABLE, T_SEQUENCE, T_CALLABLE, T_SAMEAS, T_EQ, T_EQUALTO, T_EQSYM, T_NE, T_NESYM,
    T_LT, T_LESSTHAN, T_LTSYM, T_LE, T_LESYM, T_GT, T_GREATERTHAN, T_GTSYM, T_GE, T_GESYM, T_IN, T_ODD,
    T_EVEN, T_DIVISIBLEBY, T_LOWER, T_UPPER, T_ESCAPED, T_COUNT
};
static const char *const TEST_NAMES[T_COUNT] = {
    "defined", "undefined", "none", "boolean", "false", "true", "integer", "float", "number", "string",
    "mapping", "iterable", "sequence", "callable", "sameas", "eq", "equalto", "==", "ne", "!=",
    "lt", "lessthan", "<", "le", "<=", "gt", "greaterthan", ">", "ge", ">=", "in", "odd",
    "even", "divisibleby", "lower", "upper", "escaped",
};

int jinja_test_id(const char *name) {
    for (int i = 0; i < T_COUNT; i++)
        if (!strcmp(TEST_NAMES[i], name)) return i;
    return -1;
}
const char *jinja_test_name(int id) { return id >= 0 && id < T_COUNT ? TEST_NAMES[id] : "?"; }

static jv one_arg(jctx *c, const char *what, const jargs *a) {
    static const char *const P[] = {"other", NULL};
    jv v[1];
    bind(c, what, P, a, v);
    if (!given(v[0])) jh_fail(&c->h, c->at, KUMO_E_INVALID, "%s needs an argument", what);
    return v[0];
}

static bool cmp_test(jctx *c, int id, jv v, jv other) {
    switch (id) {
    case T_EQ: case T_EQUALTO: case T_EQSYM: return jv_eq(&c->h, v, other);
    case T_NE: case T_NESYM: return !jv_eq(&c->h, v, other);
    default: break;
    }
    int r = jv_cmp(&c->h, c->at, v, other);
    switch (id) {
    case T_LT: case T_LESSTHAN: case T_LTSYM: return r < 0;
    case T_LE: case T_LESYM: return r <= 0;
    case T_GT: case T_GREATERTHAN: case T_GTSYM: return r > 0;
    default: return r >= 0;
    }
}

static bool int_mod_test(jctx *c, const char *what, jv v, int64_t m, int64_t want) {
    if (v.type == JV_FLOAT) {
        double r = fmod(v.u.f, (double)m);
        if (r < 0) r += (double)m;
        return r == (double)want;
    }
    int64_t x = need_int(c, what, v);
    int64_t r = x % m;
    if (r < 0) r += m < 0 ? -m : m;
    return r == want;
}

bool jinja_test(jctx *c, int id, jv v, const jargs *a) {
    const char *what = jinja_test_name(id);
    if (id != T_SAMEAS && id < T_EQ && (a->npos || a->nkw))
        jh_fail(&c->h, c->at, KUMO_E_INVALID, "test '%s' takes no arguments", what);
    switch (id) {
    case T_DEFINED: return v.type != JV_UNDEF;
    case T_UNDEFINED: return v.type == JV_UNDEF;
    case T_NONE: return v.type == JV_NONE;
    case T_BOOLEAN: return v.type == JV_BOOL;
    case T_FALSE: return v.type == JV_BOOL && !v.u.b;
    case T_TRUE: return v.type == JV_BOOL && v.u.b;
    case T_INTEGER: return v.type == JV_INT;
    case T_FLOAT: return v.type == JV_FLOAT;
    case T_NUMBER: return jv_is_number(v);
    case T_STRING: return v.type == JV_STR;
    case T_MAPPING: return v.type == JV_DICT && !v.u.d->is_namespace;
    case T_ITERABLE:
        return v.type == JV_STR || v.type == JV_LIST || v.type == JV_UNDEF || (v.type == JV_DICT && !v.u.d->is_namespace);
    case T_SEQUENCE: return v.type == JV_STR || v.type == JV_LIST || (v.type == JV_DICT && !v.u.d->is_namespace);
    case T_CALLABLE: return v.type == JV_FUNC;
    case T_SAMEAS: {
        jv o = one_arg(c, what, a);
        if (v.type != o.type) return false;
        switch (v.type) {
        case JV_LIST: return v.u.l == o.u.l;
        case JV_DICT: return v.u.d == o.u.d;
        case JV_FUNC: return v.u.fn == o.u.fn;
        case JV_LOOP: return v.u.loop == o.u.loop;
        default: return jv_eq(&c->h, v, o);
        }
    }
    case T_IN: {
        jv seq = one_arg(c, what, a);
        if (seq.type == JV_STR) {
            need_str(c, "'in' test", v);
            return find_bytes(seq.u.s.p, seq.u.s.n, v.u.s.p, v.u.s.n) != NULL;
        }
        jlist *items = jinja_iter(c, seq);
        for (size_t i = 0; i < items->n; i++)
            if (jv_eq(&c->h, items->v[i], v)) return true;
        return false;
    }
    case T_ODD: return int_mod_test(c, what, v, 2, 1);
    case T_EVEN: return int_mod_test(c, what, v, 2, 0);
    case T_DIVISIBLEBY: {
        int64_t m = need_int(c, what, one_arg(c, what, a));
        if (m == 0) jh_fail(&c->h, c->at, KUMO_E_INVALID, "integer division or modulo by zero");
        return int_mod_test(c, what, v, m < 0 ? -m : m, 0);
    }
    case T_LOWER:
    case T_UPPER: {
        jv s = str_of(c, v);
        bool cased = false;
        for (size_t i = 0; i < s.u.s.n; i++) {
            char ch = s.u.s.p[i];
            if (id == T_LOWER ? ascii_upper(ch) : ascii_lower(ch)) return false;
            cased = cased || ascii_upper(ch) || ascii_lower(ch);
        }
        return cased;
    }
    case T_ESCAPED: return false;
    default:
        if (id >= T_EQ && id < T_IN) return cmp_test(c, id, v, one_arg(c, what, a));
        jh_fail(&c->h, c->at, KUMO_E_UNSUPPORTED, "unknown test");
    }
}

/* Applies the test named by name_v (a string) or truthiness when absent. */
static bool run_named_test(jctx *c, jv name_v, jv item, const jargs *rest) {
    if (!given(name_v) || name_v.type == JV_NONE) return jv_truthy(item);
    need_str(c, "test name", name_v);
    char *name = dup_bytes(c, name_v);
    int id = jinja_test_id(name);
    if (id < 0) jh_fail(&c->h, c->at, KUMO_E_UNSUPPORTED, "unknown test '%s'", name);
    return jinja_test(c, id, item, rest);
}

/* ---------- filters ---------- */
enum filter_id {
    F_ABS, F_ATTR, F_BATCH, F_CAPITALIZE, F_CENTER, F_COUNT, F_D, F_DEFAULT, F_DICTSORT, F_E, F_ESCAPE, F_FIRST,
    F_FLOAT, F_FORMAT, F_INDENT, F_INT, F_ITEMS, F_JOIN, F_LAST, F_LENGTH, F_LIST, F_LOWER, F_MAP, F_MAX,
    F_MIN, F_REJECT, F_REJECTATTR, F_REPLACE, F_REVERSE, F_ROUND, F_SAFE, F_SELECT, F_SELECTATTR, F_SORT,
    F_STRING, F_SUM, F_TITLE, F_TOJSON, F_TRIM, F_TRUNCATE, F_UNIQUE, F_UPPER, F_WORDCOUNT, F_COUNT_ALL
};
static const char *const FILTER_NAMES[F_COUNT_ALL] = {
    "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape", "first",
    "float", "format", "indent", "int", "items", "join", "last", "length", "list", "lower", "map", "max",
    "min", "reject", "rejectattr", "replace", "reverse", "round", "safe", "select", "selectattr", "sort",
    "string", "sum", "title", "tojson", "trim", "truncate", "unique", "upper", "wordcount",
};

int jinja_filter_id(const char *name) {
    for (int i = 0; i < F_COUNT_ALL; i++)
        if (!strcmp(FILTER_NAMES[i], name)) return i;
    return -1;
}
const char *jinja_filter_name(int id) { return id >= 0 && id < F_COUNT_ALL ? FILTER_NAMES[id] : "?"; }

static const char *const NO_PARAMS[] = {NULL};

static int64_t length_of(jctx *c, jv v) {
    switch (v.type) {
    case JV_STR: return (int64_t)utf8_count(v.u.s.p, v.u.s.n);
    case JV_LIST: return (int64_t)v.u.l->n;
    case JV_DICT:
        if (!v.u.d->is_namespace) return (int64_t)v.u.d->n;
        break;
    case JV_UNDEF: return 0;
    default: break;
    }
    jh_fail(&c->h, c->at, KUMO_E_INVALID, "object of type '%s' has no len()", jv_type_name(v));
}

static jv items_of(jctx *c, jv v) {
    if (v.type == JV_UNDEF) return jv_list(jl_new(&c->h, 0));
    if (v.type != JV_DICT || v.u.d->is_namespace)
        jh_fail(&c->h, c->at, KUMO_E_INVALID, "can only get item pairs from a mapping, not %s", jv_type_name(v));
    jlist *l = jl_new(&c->h, v.u.d->n);
    for (size_t i = 0; i < v.u.d->n; i++) l->v[l->n++] = jv_tuple2(&c->h, v.u.d->k[i], v.u.d->v[i]);
    return jv_list(l);
}

static jv indent(jctx *c, jv s, jv width, bool first, bool blank) {
    jv ind;
    if (width.type == JV_STR) {
        ind = width;
    } else {
        int64_t w = given(width) ? need_int(c, "indent", width) : 4;
        if (w < 0) w = 0;
        if (w > 10000) jh_fail(&c->h, c->at, KUMO_E_INVALID, "indent width too large");
        char *sp = jh_alloc(&c->h, (size_t)w + 1);
        memset(sp, ' ', (size_t)w);
        ind = jv_str(sp, (size_t)w);
    }
    /* Jinja appends a newline before splitlines(), so a trailing newline survives. */
    jbuf tmp;
    jb_init(&tmp, &c->h, SIZE_MAX);
    jb_put(&tmp, s.u.s.p, s.u.s.n);
    jb_putc(&tmp, '\n');
    jlist *lines = splitlines(c, jb_value(&tmp), false);
    jbuf b;
    jb_init(&b, &c->h, SIZE_MAX);
    if (first) jb_put(&b, ind.u.s.p, ind.u.s.n);
    for (size_t i = 0; i < lines->n; i++) {
        jv line = lines->v[i];
        if (i) {
            jb_putc(&b, '\n');
            if (blank || line.u.s.n) jb_put(&b, ind.u.s.p, ind.u.s.n);
        }
        jb_put(&b, line.u.s.p, line.u.s.n);
    }
    return jb_value(&b);
}

static jv tojson(jctx *c, jv v, const jargs *a) {
    static const char *const P[] = {"ensure_ascii", "indent", "separators", "sort_keys", NULL};
    jv x[4];
    bind(c, "tojson", P, a, x);
    jjson_opts o = {.indent = -1};
    o.ensure_ascii = given(x[0]) && jv_truthy(x[0]);
    if (given(x[1]) && x[1].type != JV_NONE) {
        int64_t ind = need_int(c, "tojson indent", x[1]);
        o.indent = ind < 0 ? 0 : ind > 64 ? 64 : (int)ind;
    }
    if (given(x[2]) && x[2].type != JV_NONE) {
        if (x[2].type != JV_LIST || x[2].u.l->n != 2 || x[2].u.l->v[0].type != JV_STR || x[2].u.l->v[1].type != JV_STR)
            jh_fail(&c->h, c->at, KUMO_E_INVALID, "tojson separators must be a pair of strings");
        o.item_sep = x[2].u.l->v[0].u.s.p;
        o.item_sep_n = x[2].u.l->v[0].u.s.n;
        o.key_sep = x[2].u.l->v[1].u.s.p;
        o.key_sep_n = x[2].u.l->v[1].u.s.n;
    }
    o.sort_keys = given(x[3]) && jv_truthy(x[3]);
    jbuf b;
    jb_init(&b, &c->h, SIZE_MAX);
    jv_write_json(&c->h, c->at, &b, v, &o, 0);
    return jb_value(&b);
}

static jv round_filter(jctx *c, jv v, const jargs *a) {
    static const char *const P[] = {"precision", "method", NULL};
    jv x[2];
    bind(c, "round", P, a, x);
    int64_t prec = given(x[0]) ? need_int(c, "round", x[0]) : 0;
    const char *method = "common";
    if (given(x[1])) method = dup_bytes(c, need_str(c, "round method", x[1]));
    if (strcmp(method, "common") && strcmp(method, "ceil") && strcmp(method, "floor"))
        jh_fail(&c->h, c->at, KUMO_E_INVALID, "round method must be 'common', 'ceil' or 'floor'");
    if (!jv_is_number(v)) jh_fail(&c->h, c->at, KUMO_E_INVALID, "round expects a number, not %s", jv_type_name(v));
    if (v.type != JV_FLOAT && !strcmp(method, "common")) return jv_int(v.type == JV_BOOL ? v.u.b : v.u.i);
    double f = jv_num(v);
    if (prec < -20) prec = -20;
    if (prec > 20) prec = 20;
    double scale = pow(10.0, (double)prec);
    if (!strcmp(method, "ceil")) return jv_float(ceil(f * scale) / scale);
    if (!strcmp(method, "floor")) return jv_float(floor(f * scale) / scale);
    if (!isfinite(f)) return jv_float(f);
    if (prec >= 0) {
        char buf[400];
        snprintf(buf, sizeof buf, "%.*f", (int)prec, f); /* correctly rounded, ties to even */
        return jv_float(strtod(buf, NULL));
    }
    return jv_float(nearbyint(f * scale) / scale);
}

static jv truncate_filter(jctx *c, jv v, const jargs *a) {
    static const char *const P[] = {"length", "killwords", "end", "leeway", NULL};
    jv x[4];
    bind(c, "truncate", P, a, x);
    jv s = str_of(c, v);
    int64_t length = given(x[0]) ? need_int(c, "truncate", x[0]) : 255;
    bool killwords = given(x[1]) && jv_truthy(x[1]);
    jv end = given(x[2]) ? need_str(c, "truncate end", x[2]) : jv_str("...", 3);
    int64_t leeway = given(x[3]) && x[3].type != JV_NONE ? need_int(c, "truncate", x[3]) : 5;
    int64_t end_len = (int64_t)utf8_count(end.u.s.p, end.u.s.n);
    if (length < end_len) jh_fail(&c->h, c->at, KUMO_E_INVALID, "expected length >= %lld, got %lld", (long long)end_len, (long long)length);
    int64_t n = (int64_t)utf8_count(s.u.s.p, s.u.s.n);
    if (n <= length + leeway) return s;
    size_t bytes = 0;
    for (int64_t k = 0; k < length - end_len; k++) bytes += utf8_char_len(s.u.s.p + bytes, s.u.s.n - bytes);
    jv head = jv_str(s.u.s.p, bytes);
    if (!killwords) {
        const char *sp = rfind_bytes(head.u.s.p, head.u.s.n, " ", 1);
        if (sp) head.u.s.n = (size_t)(sp - head.u.s.p);
    }
    jbuf b;
    jb_init(&b, &c->h, SIZE_MAX);
    jb_put(&b, head.u.s.p, head.u.s.n);
    jb_put(&b, end.u.s.p, end.u.s.n);
    return jb_value(&b);
}

/* Splits jargs after the first `skip` positional arguments (the rest goes to a test/filter). */
static jargs rest_args(const jargs *a, size_t skip) {
    jargs r = *a;
    if (r.npos >= skip) {
        r.pos += skip;
        r.npos -= skip;
    } else {
        r.npos = 0;
    }
    return r;
}

static jv select_filter(jctx *c, int id, jv v, const jargs *a) {
    bool by_attr = id == F_SELECTATTR || id == F_REJECTATTR;
    bool keep_if = id == F_SELECT || id == F_SELECTATTR;
    if (a->nkw) jh_fail(&c->h, c->at, KUMO_E_INVALID, "%s takes no keyword arguments", jinja_filter_name(id));
    jlist *items = jinja_iter(c, v);
    size_t skip = by_attr ? 2 : 1;
    if (by_attr && a->npos < 1) jh_fail(&c->h, c->at, KUMO_E_INVALID, "%s needs an attribute name", jinja_filter_name(id));
    jv attr = by_attr ? a->pos[0] : jv_undef("", 0);
    jv test = a->npos > skip - 1 ? a->pos[skip - 1] : jv_undef("", 0);
    jargs rest = rest_args(a, skip);
    jlist *out = jl_new(&c->h, 0);
    for (size_t i = 0; i < items->n; i++) {
        jv probe = by_attr ? attr_path(c, items->v[i], attr) : items->v[i];
        if (run_named_test(c, test, probe, &rest) == keep_if) jl_push(&c->h, out, items->v[i]);
    }
    return jv_list(out);
}

static jv map_filter(jctx *c, jv v, const jargs *a) {
    jlist *items = jinja_iter(c, v);
    jlist *out = jl_new(&c->h, items->n);
    jv attribute = jv_undef("", 0), dflt = jv_undef("", 0);
    bool by_attr = false;
    for (size_t k = 0; k < a->nkw; k++) {
        if (!strcmp(a->kwn[k], "attribute")) {
            attribute = a->kwv[k];
            by_attr = true;
        } else if (!strcmp(a->kwn[k], "default")) {
            dflt = a->kwv[k];
        }
    }
    if (by_attr) {
        if (a->npos) jh_fail(&c->h, c->at, KUMO_E_INVALID, "map with attribute= takes no positional arguments");
        for (size_t i = 0; i < items->n; i++) {
            jv x = attr_path(c, items->v[i], attribute);
            if (x.type == JV_UNDEF && given(dflt)) x = dflt;
            out->v[out->n++] = x;
        }
        return jv_list(out);
    }
    if (a->npos < 1) jh_fail(&c->h, c->at, KUMO_E_INVALID, "map needs a filter name or attribute=");
    char *name = dup_bytes(c, need_str(c, "map filter name", a->pos[0]));
    int fid = jinja_filter_id(name);
    if (fid < 0) jh_fail(&c->h, c->at, KUMO_E_UNSUPPORTED, "unknown filter '%s'", name);
    jargs rest = rest_args(a, 1);
    for (size_t i = 0; i < items->n; i++) out->v[out->n++] = jinja_filter(c, fid, items->v[i], &rest);
    return jv_list(out);
}

static jv minmax(jctx *c, jv v, const jargs *a, bool want_max) {
    static const char *const P[] = {"case_sensitive", "attribute", NULL};
    jv x[2];
    bind(c, want_max ? "max" : "min", P, a, x);
    jlist *items = jinja_iter(c, v);
    if (!items->n) return jv_undef("", 0);
    bool cs = given(x[0]) && jv_truthy(x[0]);
    size_t best = 0;
    jv best_key = fold_case(c, given(x[1]) ? attr_path(c, items->v[0], x[1]) : items->v[0], cs);
    for (size_t i = 1; i < items->n; i++) {
        jv k = fold_case(c, given(x[1]) ? attr_path(c, items->v[i], x[1]) : items->v[i], cs);
        int r = jv_cmp(&c->h, c->at, k, best_key);
        if (want_max ? r > 0 : r < 0) {
            best = i;
            best_key = k;
        }
    }
    return items->v[best];
}

static jv html_escape(jctx *c, jv s) {
    jbuf b;
    jb_init(&b, &c->h, SIZE_MAX);
    for (size_t i = 0; i < s.u.s.n; i++) {
        switch (s.u.s.p[i]) {
        case '&': jb_puts(&b, "&amp;"); break;
        case '<': jb_puts(&b, "&lt;"); break;
        case '>': jb_puts(&b, "&gt;"); break;
        case '"': jb_puts(&b, "&#34;"); break;
        case '\'': jb_puts(&b, "&#39;"); break;
        default: jb_putc(&b, s.u.s.p[i]);
        }
    }
    return jb_value(&b);
}

jv jinja_filter(jctx *c, int id, jv v, const jargs *a) {
    const char *what = jinja_filter_name(id);
    jv x[4];
    switch (id) {
    case F_ABS:
        bind(c, what, NO_PARAMS, a, x);
        if (v.type == JV_INT || v.type == JV_BOOL) {
            int64_t i = v.type == JV_BOOL ? v.u.b : v.u.i;
            if (i == INT64_MIN) jh_fail(&c->h, c->at, KUMO_E_INVALID, "integer overflow in abs");
            return jv_int(i < 0 ? -i : i);
        }
        if (v.type == JV_FLOAT) return jv_float(fabs(v.u.f));
        jh_fail(&c->h, c->at, KUMO_E_INVALID, "bad operand type for abs(): '%s'", jv_type_name(v));
    case F_ATTR: {
        static const char *const P[] = {"name", NULL};
        bind(c, what, P, a, x);
        jv name = need_str(c, what, x[0]);
        char *cname = dup_bytes(c, name);
        /* attr() is attribute access only: dict keys are not attributes, dict methods are */
        if (v.type == JV_DICT && !v.u.d->is_namespace && !jinja_has_method(v, cname)) return jv_undef(cname, name.u.s.n);
        return jinja_getattr(c, v, cname, name.u.s.n);
    }
    case F_BATCH: {
        static const char *const P[] = {"linecount", "fill_with", NULL};
        bind(c, what, P, a, x);
        int64_t size = need_int(c, what, x[0]);
        if (size <= 0) jh_fail(&c->h, c->at, KUMO_E_INVALID, "batch size must be positive");
        jlist *items = jinja_iter(c, v), *out = jl_new(&c->h, 0), *cur = NULL;
        for (size_t i = 0; i < items->n; i++) {
            if (!cur || (int64_t)cur->n == size) {
                cur = jl_new(&c->h, 0);
                jl_push(&c->h, out, jv_list(cur));
            }
            jl_push(&c->h, cur, items->v[i]);
        }
        if (cur && given(x[1]) && x[1].type != JV_NONE)
            while ((int64_t)cur->n < size) jl_push(&c->h, cur, x[1]);
        return jv_list(out);
    }
    case F_CAPITALIZE: bind(c, what, NO_PARAMS, a, x); return case_map(c, str_of(c, v), 2);
    case F_CENTER: {
        static const char *const P[] = {"width", NULL};
        bind(c, what, P, a, x);
        jv s = str_of(c, v);
        int64_t w = given(x[0]) ? need_int(c, what, x[0]) : 80;
        int64_t len = (int64_t)utf8_count(s.u.s.p, s.u.s.n);
        if (w <= len) return s;
        if (w > 100000) jh_fail(&c->h, c->at, KUMO_E_INVALID, "center width too large");
        int64_t marg = w - len, left = marg / 2 + (marg & w & 1);
        jbuf b;
        jb_init(&b, &c->h, SIZE_MAX);
        for (int64_t i = 0; i < left; i++) jb_putc(&b, ' ');
        jb_put(&b, s.u.s.p, s.u.s.n);
        for (int64_t i = 0; i < marg - left; i++) jb_putc(&b, ' ');
        return jb_value(&b);
    }
    case F_COUNT:
    case F_LENGTH: bind(c, what, NO_PARAMS, a, x); return jv_int(length_of(c, v));
    case F_D:
    case F_DEFAULT: {
        static const char *const P[] = {"default_value", "boolean", NULL};
        bind(c, what, P, a, x);
        jv dflt = given(x[0]) ? x[0] : jv_str("", 0);
        bool boolean = given(x[1]) && jv_truthy(x[1]);
        if (v.type == JV_UNDEF || (boolean && !jv_truthy(v))) return dflt;
        return v;
    }
    case F_DICTSORT: {
        static const char *const P[] = {"case_sensitive", "by", "reverse", NULL};
        bind(c, what, P, a, x);
        jv pairs = items_of(c, v);
        bool by_value = given(x[1]) && x[1].type == JV_STR && x[1].u.s.n == 5 && !memcmp(x[1].u.s.p, "value", 5);
        if (given(x[1]) && !by_value && !(x[1].type == JV_STR && x[1].u.s.n == 3 && !memcmp(x[1].u.s.p, "key", 3)))
            jh_fail(&c->h, c->at, KUMO_E_INVALID, "You can only sort by either \"key\" or \"value\"");
        return jv_list(sorted(c, pairs.u.l, jv_cstr(by_value ? "1" : "0"), given(x[0]) && jv_truthy(x[0]),
                              given(x[2]) && jv_truthy(x[2])));
    }
    case F_E:
    case F_ESCAPE: bind(c, what, NO_PARAMS, a, x); return html_escape(c, str_of(c, v));
    case F_FIRST: {
        bind(c, what, NO_PARAMS, a, x);
        jlist *items = jinja_iter(c, v);
        return items->n ? items->v[0] : jv_undef("", 0);
    }
    case F_LAST: {
        bind(c, what, NO_PARAMS, a, x);
        jlist *items = jinja_iter(c, v);
        return items->n ? items->v[items->n - 1] : jv_undef("", 0);
    }
    case F_FLOAT: {
        static const char *const P[] = {"default", NULL};
        bind(c, what, P, a, x);
        jv dflt = given(x[0]) ? x[0] : jv_float(0.0);
        if (jv_is_number(v)) return jv_float(jv_num(v));
        double f;
        if (v.type == JV_STR && parse_float(c, v.u.s.p, v.u.s.n, &f)) return jv_float(f);
        return dflt;
    }
    case F_INT: {
        static const char *const P[] = {"default", "base", NULL};
        bind(c, what, P, a, x);
        jv dflt = given(x[0]) ? x[0] : jv_int(0);
        int64_t base = given(x[1]) ? need_int(c, what, x[1]) : 10;
        if (base != 0 && (base < 2 || base > 36)) jh_fail(&c->h, c->at, KUMO_E_INVALID, "int() base must be >= 2 and <= 36, or 0");
        if (v.type == JV_INT || v.type == JV_BOOL) return jv_int(v.type == JV_BOOL ? v.u.b : v.u.i);
        if (v.type == JV_FLOAT) {
            if (!isfinite(v.u.f) || fabs(v.u.f) >= 9.2e18) return dflt;
            return jv_int((int64_t)v.u.f);
        }
        if (v.type == JV_STR) {
            int64_t i;
            if (parse_int(v.u.s.p, v.u.s.n, (int)base, &i)) return jv_int(i);
            double f;
            if (parse_float(c, v.u.s.p, v.u.s.n, &f) && isfinite(f) && fabs(f) < 9.2e18) return jv_int((int64_t)f);
        }
        return dflt;
    }
    case F_FORMAT: {
        if (a->nkw) jh_fail(&c->h, c->at, KUMO_E_UNSUPPORTED, "format with keyword arguments is not supported");
        jlist *l = jl_new(&c->h, a->npos);
        for (size_t i = 0; i < a->npos; i++) l->v[l->n++] = a->pos[i];
        jv t = jv_list(l);
        t.flags = JV_F_TUPLE;
        return jinja_percent_format(c, str_of(c, v), t);
    }
    case F_INDENT: {
        static const char *const P[] = {"width", "first", "blank", NULL};
        bind(c, what, P, a, x);
        return indent(c, str_of(c, v), x[0], given(x[1]) && jv_truthy(x[1]), given(x[2]) && jv_truthy(x[2]));
    }
    case F_ITEMS: bind(c, what, NO_PARAMS, a, x); return items_of(c, v);
    case F_JOIN: {
        static const char *const P[] = {"d", "attribute", NULL};
        bind(c, what, P, a, x);
        jv sep = given(x[0]) ? str_of(c, x[0]) : jv_str("", 0);
        jlist *items = jinja_iter(c, v);
        if (given(x[1]) && x[1].type != JV_NONE) {
            jlist *mapped = jl_new(&c->h, items->n);
            for (size_t i = 0; i < items->n; i++) mapped->v[mapped->n++] = attr_path(c, items->v[i], x[1]);
            items = mapped;
        }
        return join_values(c, items, sep, false);
    }
    case F_LIST: {
        bind(c, what, NO_PARAMS, a, x);
        jlist *items = jinja_iter(c, v);
        jlist *copy = jl_new(&c->h, items->n);
        for (size_t i = 0; i < items->n; i++) copy->v[copy->n++] = items->v[i];
        return jv_list(copy);
    }
    case F_LOWER: bind(c, what, NO_PARAMS, a, x); return case_map(c, str_of(c, v), 0);
    case F_UPPER: bind(c, what, NO_PARAMS, a, x); return case_map(c, str_of(c, v), 1);
    case F_MAP: return map_filter(c, v, a);
    case F_MAX: return minmax(c, v, a, true);
    case F_MIN: return minmax(c, v, a, false);
    case F_SELECT:
    case F_REJECT:
    case F_SELECTATTR:
    case F_REJECTATTR: return select_filter(c, id, v, a);
    case F_REPLACE: {
        static const char *const P[] = {"old", "new", "count", NULL};
        bind(c, what, P, a, x);
        int64_t count = given(x[2]) && x[2].type != JV_NONE ? need_int(c, what, x[2]) : -1;
        return replace(c, str_of(c, v), need_str(c, what, x[0]), need_str(c, what, x[1]), count);
    }
    case F_REVERSE: {
        bind(c, what, NO_PARAMS, a, x);
        if (v.type == JV_STR) {
            jlist *chars = jinja_iter(c, v);
            jbuf b;
            jb_init(&b, &c->h, SIZE_MAX);
            for (size_t i = chars->n; i-- > 0;) jb_put(&b, chars->v[i].u.s.p, chars->v[i].u.s.n);
            return jb_value(&b);
        }
        jlist *items = jinja_iter(c, v);
        jlist *out = jl_new(&c->h, items->n);
        for (size_t i = items->n; i-- > 0;) out->v[out->n++] = items->v[i];
        return jv_list(out);
    }
    case F_ROUND: return round_filter(c, v, a);
    case F_SAFE: bind(c, what, NO_PARAMS, a, x); return v;
    case F_SORT: {
        static const char *const P[] = {"reverse", "case_sensitive", "attribute", NULL};
        bind(c, what, P, a, x);
        return jv_list(sorted(c, jinja_iter(c, v), x[2], given(x[1]) && jv_truthy(x[1]), given(x[0]) && jv_truthy(x[0])));
    }
    case F_STRING: bind(c, what, NO_PARAMS, a, x); return str_of(c, v);
    case F_SUM: {
        static const char *const P[] = {"attribute", "start", NULL};
        bind(c, what, P, a, x);
        jv acc = given(x[1]) ? x[1] : jv_int(0);
        jlist *items = jinja_iter(c, v);
        for (size_t i = 0; i < items->n; i++) {
            jv item = given(x[0]) && x[0].type != JV_NONE ? attr_path(c, items->v[i], x[0]) : items->v[i];
            if (!jv_is_number(acc) || !jv_is_number(item))
                jh_fail(&c->h, c->at, KUMO_E_INVALID, "unsupported operand type(s) for +: '%s' and '%s'", jv_type_name(acc), jv_type_name(item));
            if (acc.type != JV_FLOAT && item.type != JV_FLOAT) {
                int64_t r, p = acc.type == JV_BOOL ? acc.u.b : acc.u.i, q = item.type == JV_BOOL ? item.u.b : item.u.i;
                if (__builtin_add_overflow(p, q, &r)) jh_fail(&c->h, c->at, KUMO_E_INVALID, "integer overflow in sum");
                acc = jv_int(r);
            } else {
                acc = jv_float(jv_num(acc) + jv_num(item));
            }
        }
        return acc;
    }
    case F_TITLE: bind(c, what, NO_PARAMS, a, x); return title_filter(c, str_of(c, v));
    case F_TOJSON: return tojson(c, v, a);
    case F_TRIM: {
        static const char *const P[] = {"chars", NULL};
        bind(c, what, P, a, x);
        return strip(c, str_of(c, v), x[0], true, true);
    }
    case F_TRUNCATE: return truncate_filter(c, v, a);
    case F_UNIQUE: {
        static const char *const P[] = {"case_sensitive", "attribute", NULL};
        bind(c, what, P, a, x);
        bool cs = given(x[0]) && jv_truthy(x[0]);
        jlist *items = jinja_iter(c, v), *out = jl_new(&c->h, 0), *seen = jl_new(&c->h, 0);
        for (size_t i = 0; i < items->n; i++) {
            jv k = fold_case(c, given(x[1]) ? attr_path(c, items->v[i], x[1]) : items->v[i], cs);
            bool dup = false;
            for (size_t j = 0; j < seen->n && !dup; j++) dup = jv_eq(&c->h, seen->v[j], k);
            if (!dup) {
                jl_push(&c->h, seen, k);
                jl_push(&c->h, out, items->v[i]);
            }
        }
        return jv_list(out);
    }
    case F_WORDCOUNT: {
        bind(c, what, NO_PARAMS, a, x);
        jv s = str_of(c, v);
        int64_t words = 0;
        bool in_word = false;
        for (size_t i = 0; i < s.u.s.n; i++) {
            char ch = s.u.s.p[i];
            bool w = is_alpha_or_nonascii(ch) || (ch >= '0' && ch <= '9') || ch == '_';
            if (w && !in_word) words++;
            in_word = w;
        }
        return jv_int(words);
    }
    default: jh_fail(&c->h, c->at, KUMO_E_UNSUPPORTED, "unknown filter");
    }
}

/* ---------- global functions ---------- */
enum global_id { G_RANGE, G_NAMESPACE, G_DICT, G_RAISE, G_STRFTIME, G_COUNT };
static const char *const GLOBAL_NAMES[G_COUNT] = {"range", "namespace", "dict", "raise_exception", "strftime_now"};

int jinja_global_id(const char *name) {
    for (int i = 0; i < G_COUNT; i++)
        if (!strcmp(GLOBAL_NAMES[i], name)) return i;
    return -1;
}

static jv make_dict(jctx *c, const jargs *a, bool ns, const char *what) {
    jdict *d = jd_new(&c->h, a->nkw);
    d->is_namespace = ns;
    if (a->npos > 1) jh_fail(&c->h, c->at, KUMO_E_INVALID, "%s takes at most one positional argument", what);
    if (a->npos == 1) {
        jv src = a->pos[0];
        if (src.type == JV_DICT && !src.u.d->is_namespace) {
            for (size_t i = 0; i < src.u.d->n; i++) jd_set(&c->h, d, src.u.d->k[i], src.u.d->v[i]);
        } else {
            jlist *items = jinja_iter(c, src);
            for (size_t i = 0; i < items->n; i++) {
                jv p = items->v[i];
                if (p.type != JV_LIST || p.u.l->n != 2) jh_fail(&c->h, c->at, KUMO_E_INVALID, "%s: expected key/value pairs", what);
                jd_set(&c->h, d, p.u.l->v[0], p.u.l->v[1]);
            }
        }
    }
    for (size_t k = 0; k < a->nkw; k++) jd_set(&c->h, d, jv_cstr(a->kwn[k]), a->kwv[k]);
    return jv_dict(d);
}

static jv strftime_now(jctx *c, const jargs *a) {
    static const char *const P[] = {"format", NULL};
    jv x[1];
    bind(c, "strftime_now", P, a, x);
    jv fmt = need_str(c, "strftime_now", x[0]);
    /* Only well-defined conversions reach strftime. */
    for (size_t i = 0; i < fmt.u.s.n; i++) {
        if (fmt.u.s.p[i] != '%') continue;
        size_t j = i + 1;
        if (j < fmt.u.s.n && fmt.u.s.p[j] == '-') j++;
        if (j >= fmt.u.s.n || !fmt.u.s.p[j] || !strchr("aAbBcCdDeFgGhHIjklmMnpPrRsStTuUVwWxXyYzZ%", fmt.u.s.p[j]))
            jh_fail(&c->h, c->at, KUMO_E_UNSUPPORTED, "unsupported strftime directive in '%.*s'", (int)(fmt.u.s.n > 64 ? 64 : fmt.u.s.n), fmt.u.s.p);
        i = j;
    }
    if (fmt.u.s.n > 4096) jh_fail(&c->h, c->at, KUMO_E_INVALID, "strftime format too long");
    char *cfmt = dup_bytes(c, fmt);
    struct tm tm;
    time_t now = c->now;
    if (!localtime_r(&now, &tm)) jh_fail(&c->h, c->at, KUMO_E_INVALID, "strftime_now: cannot convert the time");
    size_t cap = fmt.u.s.n * 64 + 64;
    char *out = jh_alloc(&c->h, cap);
    size_t n = fmt.u.s.n ? strftime(out, cap, cfmt, &tm) : 0;
    return jv_str(out, n);
}

jv jinja_call_global(jctx *c, int id, const jargs *a) {
    switch (id) {
    case G_RANGE: {
        if (a->nkw) jh_fail(&c->h, c->at, KUMO_E_INVALID, "range() takes no keyword arguments");
        if (a->npos < 1 || a->npos > 3) jh_fail(&c->h, c->at, KUMO_E_INVALID, "range expected 1 to 3 arguments, got %zu", a->npos);
        int64_t start = 0, stop, step = 1;
        if (a->npos == 1) {
            stop = need_int(c, "range", a->pos[0]);
        } else {
            start = need_int(c, "range", a->pos[0]);
            stop = need_int(c, "range", a->pos[1]);
            if (a->npos == 3) step = need_int(c, "range", a->pos[2]);
        }
        if (step == 0) jh_fail(&c->h, c->at, KUMO_E_INVALID, "range() arg 3 must not be zero");
        double count = step > 0 ? ceil(((double)stop - (double)start) / (double)step)
                                : ceil(((double)start - (double)stop) / (double)-step);
        if (count < 0) count = 0;
        if (count > MAX_RANGE) jh_fail(&c->h, c->at, KUMO_E_INVALID, "range too big, maximum size for range is %d", MAX_RANGE);
        jlist *l = jl_new(&c->h, (size_t)count);
        for (int64_t i = 0, v = start; i < (int64_t)count; i++, v += step) l->v[l->n++] = jv_int(v);
        return jv_list(l);
    }
    case G_NAMESPACE: return make_dict(c, a, true, "namespace");
    case G_DICT: return make_dict(c, a, false, "dict");
    case G_RAISE: {
        jv msg = a->npos ? str_of(c, a->pos[0]) : jv_str("", 0);
        jh_fail(&c->h, c->at, KUMO_E_INVALID, "raise_exception: %.*s", (int)(msg.u.s.n > 400 ? 400 : msg.u.s.n), msg.u.s.p);
    }
    case G_STRFTIME: return strftime_now(c, a);
    default: jh_fail(&c->h, c->at, KUMO_E_INVALID, "unknown function");
    }
}

/* ---------- methods ---------- */
static const char *const STR_METHODS[] = {
    "capitalize", "count", "endswith", "find", "format", "index", "isalnum", "isalpha", "isdigit", "islower",
    "isspace", "isupper", "join", "lower", "lstrip", "removeprefix", "removesuffix", "replace", "rfind",
    "rindex", "rsplit", "rstrip", "split", "splitlines", "startswith", "strip", "title", "upper", NULL,
};
static const char *const DICT_METHODS[] = {"get", "items", "keys", "values", "copy", "pop", "popitem", "update",
                                           "setdefault", "clear", NULL};
static const char *const LIST_METHODS[] = {"index", "count", "copy", "append", "extend", "insert", "pop", "remove",
                                           "reverse", "sort", "clear", NULL};

static bool in_names(const char *const *names, const char *name) {
    for (size_t i = 0; names[i]; i++)
        if (!strcmp(names[i], name)) return true;
    return false;
}

bool jinja_has_method(jv v, const char *name) {
    switch (v.type) {
    case JV_STR: return in_names(STR_METHODS, name);
    case JV_DICT: return !v.u.d->is_namespace && in_names(DICT_METHODS, name);
    case JV_LIST: return in_names(LIST_METHODS, name);
    case JV_LOOP: return !strcmp(name, "cycle");
    default: return false;
    }
}

/* startswith/endswith: prefix may be a tuple of strings. */
static bool affix_match(jctx *c, jv s, jv affix, bool at_end) {
    if (affix.type == JV_LIST) {
        for (size_t i = 0; i < affix.u.l->n; i++)
            if (affix_match(c, s, affix.u.l->v[i], at_end)) return true;
        return false;
    }
    need_str(c, at_end ? "endswith" : "startswith", affix);
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

static jv str_method(jctx *c, jv s, const char *m, const jargs *a) {
    jv x[3];
    char what[64];
    snprintf(what, sizeof what, "str.%s", m);
    if (!strcmp(m, "format")) return str_format(c, s, a);
    if (!strcmp(m, "strip") || !strcmp(m, "lstrip") || !strcmp(m, "rstrip")) {
        static const char *const P[] = {"chars", NULL};
        bind(c, what, P, a, x);
        return strip(c, s, x[0], m[0] != 'r', m[0] != 'l');
    }
    if (!strcmp(m, "split") || !strcmp(m, "rsplit")) {
        static const char *const P[] = {"sep", "maxsplit", NULL};
        bind(c, what, P, a, x);
        int64_t maxsplit = given(x[1]) ? need_int(c, what, x[1]) : -1;
        return split(c, s, x[0], maxsplit, m[0] == 'r');
    }
    if (!strcmp(m, "splitlines")) {
        static const char *const P[] = {"keepends", NULL};
        bind(c, what, P, a, x);
        return jv_list(splitlines(c, s, given(x[0]) && jv_truthy(x[0])));
    }
    if (!strcmp(m, "startswith") || !strcmp(m, "endswith")) {
        static const char *const P[] = {"prefix", "start", NULL};
        bind(c, what, P, a, x);
        if (!given(x[0])) jh_fail(&c->h, c->at, KUMO_E_INVALID, "%s needs an argument", what);
        jv sub = s;
        if (given(x[1])) {
            int64_t st = need_int(c, what, x[1]);
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
        bind(c, what, P, a, x);
        int64_t count = given(x[2]) ? need_int(c, what, x[2]) : -1;
        return replace(c, s, need_str(c, what, x[0]), need_str(c, what, x[1]), count);
    }
    if (!strcmp(m, "find") || !strcmp(m, "rfind") || !strcmp(m, "index") || !strcmp(m, "rindex") || !strcmp(m, "count")) {
        static const char *const P[] = {"sub", NULL};
        bind(c, what, P, a, x);
        jv sub = need_str(c, what, x[0]);
        jh_charge(&c->h, s.u.s.n / 32);
        if (!strcmp(m, "count")) {
            if (sub.u.s.n == 0) return jv_int((int64_t)utf8_count(s.u.s.p, s.u.s.n) + 1);
            int64_t k = 0;
            size_t i = 0;
            const char *f;
            while ((f = find_bytes(s.u.s.p + i, s.u.s.n - i, sub.u.s.p, sub.u.s.n))) {
                k++;
                i = (size_t)(f - s.u.s.p) + sub.u.s.n;
            }
            return jv_int(k);
        }
        bool rev = m[0] == 'r';
        const char *f = rev ? rfind_bytes(s.u.s.p, s.u.s.n, sub.u.s.p, sub.u.s.n) : find_bytes(s.u.s.p, s.u.s.n, sub.u.s.p, sub.u.s.n);
        if (!f) {
            if (strstr(m, "index")) jh_fail(&c->h, c->at, KUMO_E_INVALID, "substring not found");
            return jv_int(-1);
        }
        return jv_int(char_index(s.u.s.p, (size_t)(f - s.u.s.p)));
    }
    if (!strcmp(m, "join")) {
        static const char *const P[] = {"iterable", NULL};
        bind(c, what, P, a, x);
        return join_values(c, jinja_iter(c, x[0]), s, true);
    }
    if (!strcmp(m, "removeprefix") || !strcmp(m, "removesuffix")) {
        static const char *const P[] = {"affix", NULL};
        bind(c, what, P, a, x);
        jv affix = need_str(c, what, x[0]);
        bool suffix = m[6] == 's';
        if (!affix_match(c, s, affix, suffix)) return s;
        return jv_str(suffix ? s.u.s.p : s.u.s.p + affix.u.s.n, s.u.s.n - affix.u.s.n);
    }
    bind(c, what, NO_PARAMS, a, x);
    if (!strcmp(m, "upper")) return case_map(c, s, 1);
    if (!strcmp(m, "lower")) return case_map(c, s, 0);
    if (!strcmp(m, "capitalize")) return case_map(c, s, 2);
    if (!strcmp(m, "title")) return case_map(c, s, 3);
    if (!strcmp(m, "isalnum")) return jv_bool(all_chars(s, 0));
    if (!strcmp(m, "isalpha")) return jv_bool(all_chars(s, 1));
    if (!strcmp(m, "isdigit")) return jv_bool(all_chars(s, 2));
    if (!strcmp(m, "islower")) return jv_bool(all_chars(s, 3));
    if (!strcmp(m, "isupper")) return jv_bool(all_chars(s, 4));
    if (!strcmp(m, "isspace")) return jv_bool(s.u.s.n && utf8_lstrip_off(s.u.s.p, s.u.s.n) == s.u.s.n);
    jh_fail(&c->h, c->at, KUMO_E_UNSUPPORTED, "unsupported string method '%s'", m);
}

jv jinja_call_method(jctx *c, jv self, const char *m, const jargs *a) {
    jv x[2];
    char what[64];
    snprintf(what, sizeof what, "%s.%s", jv_type_name(self), m);
    switch (self.type) {
    case JV_STR: return str_method(c, self, m, a);
    case JV_DICT: {
        const jdict *d = self.u.d;
        if (!strcmp(m, "get")) {
            static const char *const P[] = {"key", "default", NULL};
            bind(c, what, P, a, x);
            jv v;
            if (jd_get(&c->h, d, x[0], &v)) return v;
            return given(x[1]) ? x[1] : jv_none();
        }
        bind(c, what, NO_PARAMS, a, x);
        if (!strcmp(m, "items")) return items_of(c, self);
        if (!strcmp(m, "keys") || !strcmp(m, "values")) {
            jlist *l = jl_new(&c->h, d->n);
            for (size_t i = 0; i < d->n; i++) l->v[l->n++] = m[0] == 'k' ? d->k[i] : d->v[i];
            return jv_list(l);
        }
        if (!strcmp(m, "copy")) {
            jdict *copy = jd_new(&c->h, d->n);
            for (size_t i = 0; i < d->n; i++) jd_set(&c->h, copy, d->k[i], d->v[i]);
            return jv_dict(copy);
        }
        break;
    }
    case JV_LIST: {
        const jlist *l = self.u.l;
        if (!strcmp(m, "index") || !strcmp(m, "count")) {
            static const char *const P[] = {"value", NULL};
            bind(c, what, P, a, x);
            int64_t k = 0;
            for (size_t i = 0; i < l->n; i++) {
                if (!jv_eq(&c->h, l->v[i], x[0])) continue;
                if (m[0] == 'i') return jv_int((int64_t)i);
                k++;
            }
            if (m[0] == 'i') jh_fail(&c->h, c->at, KUMO_E_INVALID, "value is not in list");
            return jv_int(k);
        }
        if (!strcmp(m, "copy")) {
            bind(c, what, NO_PARAMS, a, x);
            jlist *copy = jl_new(&c->h, l->n);
            for (size_t i = 0; i < l->n; i++) copy->v[copy->n++] = l->v[i];
            return jv_list(copy);
        }
        break;
    }
    case JV_LOOP:
        if (!strcmp(m, "cycle")) {
            if (!a->npos) jh_fail(&c->h, c->at, KUMO_E_INVALID, "no items for cycling given");
            return a->pos[(size_t)self.u.loop->index0 % a->npos];
        }
        break;
    default: break;
    }
    /* Hugging Face renders templates in an immutable sandbox: lists and dicts cannot change. */
    jh_fail(&c->h, c->at, KUMO_E_UNSUPPORTED, "%s(): modifying lists and dicts is not allowed in chat templates", what);
}
