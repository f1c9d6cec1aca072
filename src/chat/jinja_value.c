/* Values of the Jinja interpreter: containers, Python-compatible equality, ordering, str(),
 * repr() and json.dumps(). */
#include "chat/jinja.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Self-referencing namespaces (`{% set ns.me = ns %}`) make values cyclic: every recursive walk
 * stops here instead of overflowing the stack. */
#define MAX_VALUE_DEPTH 200

static void check_depth(jheap *h, int depth) {
    if (depth > MAX_VALUE_DEPTH)
        jh_fail(h, JPOS_NONE, KUMO_E_INVALID, "value nested deeper than %d levels (recursive namespace?)", MAX_VALUE_DEPTH);
}

jv jv_cstr(const char *s) { return jv_str(s, strlen(s)); }

/* ---------- containers ---------- */
jlist *jl_new(jheap *h, size_t cap) {
    jlist *l = jh_alloc(h, sizeof *l);
    if (cap) {
        if (cap > SIZE_MAX / sizeof(jv)) jh_fail(h, JPOS_NONE, KUMO_E_NOMEM, "list too large");
        l->v = jh_alloc(h, cap * sizeof(jv));
        l->cap = cap;
    }
    return l;
}

void jl_push(jheap *h, jlist *l, jv v) {
    jh_charge(h, 1);
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        if (cap > SIZE_MAX / sizeof(jv)) jh_fail(h, JPOS_NONE, KUMO_E_NOMEM, "list too large");
        jv *nv = jh_alloc(h, cap * sizeof(jv));
        if (l->n) memcpy(nv, l->v, l->n * sizeof(jv));
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = v;
}

jv jv_tuple2(jheap *h, jv a, jv b) {
    jlist *l = jl_new(h, 2);
    l->v[0] = a;
    l->v[1] = b;
    l->n = 2;
    jv t = jv_list(l);
    t.flags = JV_F_TUPLE;
    return t;
}

jdict *jd_new(jheap *h, size_t cap) {
    jdict *d = jh_alloc(h, sizeof *d);
    if (cap) {
        if (cap > SIZE_MAX / sizeof(jv)) jh_fail(h, JPOS_NONE, KUMO_E_NOMEM, "dict too large");
        d->k = jh_alloc(h, cap * sizeof(jv));
        d->v = jh_alloc(h, cap * sizeof(jv));
        d->cap = cap;
    }
    return d;
}

static bool key_eq(jheap *h, jv a, jv b) {
    if (a.type == JV_STR && b.type == JV_STR)
        return a.u.s.n == b.u.s.n && (a.u.s.n == 0 || memcmp(a.u.s.p, b.u.s.p, a.u.s.n) == 0);
    return jv_eq(h, a, b);
}

static ptrdiff_t jd_find(jheap *h, const jdict *d, jv key) {
    jh_charge(h, 1 + d->n / 16);
    for (size_t i = 0; i < d->n; i++)
        if (key_eq(h, d->k[i], key)) return (ptrdiff_t)i;
    return -1;
}

void jd_set(jheap *h, jdict *d, jv key, jv val) {
    ptrdiff_t i = jd_find(h, d, key);
    if (i >= 0) {
        d->v[i] = val;
        return;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 4;
        if (cap > SIZE_MAX / sizeof(jv)) jh_fail(h, JPOS_NONE, KUMO_E_NOMEM, "dict too large");
        jv *nk = jh_alloc(h, cap * sizeof(jv)), *nv = jh_alloc(h, cap * sizeof(jv));
        if (d->n) {
            memcpy(nk, d->k, d->n * sizeof(jv));
            memcpy(nv, d->v, d->n * sizeof(jv));
        }
        d->k = nk;
        d->v = nv;
        d->cap = cap;
    }
    d->k[d->n] = key;
    d->v[d->n] = val;
    d->n++;
}

bool jd_get(jheap *h, const jdict *d, jv key, jv *out) {
    ptrdiff_t i = jd_find(h, d, key);
    if (i < 0) return false;
    *out = d->v[i];
    return true;
}

bool jd_get_name(const jdict *d, const char *name, size_t n, jv *out) {
    for (size_t i = 0; i < d->n; i++) {
        jv k = d->k[i];
        if (k.type == JV_STR && k.u.s.n == n && (n == 0 || memcmp(k.u.s.p, name, n) == 0)) {
            *out = d->v[i];
            return true;
        }
    }
    return false;
}

/* ---------- truth, numbers, names ---------- */
bool jv_truthy(jv v) {
    switch (v.type) {
    case JV_UNDEF:
    case JV_NONE: return false;
    case JV_BOOL: return v.u.b;
    case JV_INT: return v.u.i != 0;
    case JV_FLOAT: return v.u.f != 0.0;
    case JV_STR: return v.u.s.n != 0;
    case JV_LIST: return v.u.l->n != 0;
    case JV_DICT: return v.u.d->is_namespace || v.u.d->n != 0;
    default: return true;
    }
}

bool jv_is_number(jv v) { return v.type == JV_BOOL || v.type == JV_INT || v.type == JV_FLOAT; }

double jv_num(jv v) {
    switch (v.type) {
    case JV_BOOL: return v.u.b ? 1.0 : 0.0;
    case JV_INT: return (double)v.u.i;
    case JV_FLOAT: return v.u.f;
    default: return 0.0;
    }
}

const char *jv_type_name(jv v) {
    switch (v.type) {
    case JV_UNDEF: return "Undefined";
    case JV_NONE: return "NoneType";
    case JV_BOOL: return "bool";
    case JV_INT: return "int";
    case JV_FLOAT: return "float";
    case JV_STR: return "str";
    case JV_LIST: return (v.flags & JV_F_TUPLE) ? "tuple" : "list";
    case JV_DICT: return v.u.d->is_namespace ? "Namespace" : "dict";
    case JV_FUNC: return v.u.fn->kind == JF_METHOD ? "builtin_function_or_method" : "function";
    case JV_LOOP: return "LoopContext";
    default: return "object";
    }
}

/* ---------- equality and ordering ---------- */
static bool eq_depth(jheap *h, jv a, jv b, int depth) {
    check_depth(h, depth);
    jh_charge(h, 1);
    if (jv_is_number(a) && jv_is_number(b)) {
        if (a.type != JV_FLOAT && b.type != JV_FLOAT) {
            int64_t x = a.type == JV_BOOL ? a.u.b : a.u.i, y = b.type == JV_BOOL ? b.u.b : b.u.i;
            return x == y;
        }
        return jv_num(a) == jv_num(b);
    }
    if (a.type != b.type) return false;
    switch (a.type) {
    case JV_UNDEF:
    case JV_NONE: return true;
    case JV_STR:
        jh_charge(h, a.u.s.n / 64);
        return a.u.s.n == b.u.s.n && (a.u.s.n == 0 || memcmp(a.u.s.p, b.u.s.p, a.u.s.n) == 0);
    case JV_LIST:
        if ((a.flags & JV_F_TUPLE) != (b.flags & JV_F_TUPLE) || a.u.l->n != b.u.l->n) return false;
        for (size_t i = 0; i < a.u.l->n; i++)
            if (!eq_depth(h, a.u.l->v[i], b.u.l->v[i], depth + 1)) return false;
        return true;
    case JV_DICT:
        if (a.u.d == b.u.d) return true;
        if (a.u.d->is_namespace || b.u.d->is_namespace || a.u.d->n != b.u.d->n) return false;
        for (size_t i = 0; i < a.u.d->n; i++) {
            jv other;
            if (!jd_get(h, b.u.d, a.u.d->k[i], &other)) return false;
            if (!eq_depth(h, a.u.d->v[i], other, depth + 1)) return false;
        }
        return true;
    case JV_FUNC: return a.u.fn == b.u.fn;
    case JV_LOOP: return a.u.loop == b.u.loop;
    default: return false;
    }
}

bool jv_eq(jheap *h, jv a, jv b) { return eq_depth(h, a, b, 0); }

static int cmp_depth(jheap *h, uint32_t off, jv a, jv b, int depth) {
    check_depth(h, depth);
    jh_charge(h, 1);
    if (jv_is_number(a) && jv_is_number(b)) {
        if (a.type != JV_FLOAT && b.type != JV_FLOAT) {
            int64_t x = a.type == JV_BOOL ? a.u.b : a.u.i, y = b.type == JV_BOOL ? b.u.b : b.u.i;
            return (x > y) - (x < y);
        }
        double x = jv_num(a), y = jv_num(b);
        return (x > y) - (x < y);
    }
    if (a.type == JV_STR && b.type == JV_STR) {
        size_t n = a.u.s.n < b.u.s.n ? a.u.s.n : b.u.s.n;
        jh_charge(h, n / 64);
        int c = n ? memcmp(a.u.s.p, b.u.s.p, n) : 0;
        if (c) return c < 0 ? -1 : 1;
        return (a.u.s.n > b.u.s.n) - (a.u.s.n < b.u.s.n);
    }
    if (a.type == JV_LIST && b.type == JV_LIST && (a.flags & JV_F_TUPLE) == (b.flags & JV_F_TUPLE)) {
        size_t n = a.u.l->n < b.u.l->n ? a.u.l->n : b.u.l->n;
        for (size_t i = 0; i < n; i++) {
            if (eq_depth(h, a.u.l->v[i], b.u.l->v[i], depth + 1)) continue;
            return cmp_depth(h, off, a.u.l->v[i], b.u.l->v[i], depth + 1);
        }
        return (a.u.l->n > b.u.l->n) - (a.u.l->n < b.u.l->n);
    }
    jh_fail(h, off, KUMO_E_INVALID, "'<' not supported between instances of '%s' and '%s'", jv_type_name(a), jv_type_name(b));
}

int jv_cmp(jheap *h, uint32_t off, jv a, jv b) { return cmp_depth(h, off, a, b, 0); }

/* ---------- float formatting (Python repr) ---------- */
void jfmt_float(double f, char out[40]) {
    if (isnan(f)) {
        strcpy(out, "nan");
        return;
    }
    if (isinf(f)) {
        strcpy(out, f < 0 ? "-inf" : "inf");
        return;
    }
    /* Shortest %e form that reads back as the same double. */
    char e[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, f);
        if (strtod(e, NULL) == f) break;
    }
    /* e is [-]d[.ddd]e±XX: collect the digits and the exponent. */
    const char *p = e;
    bool neg = false;
    if (*p == '-') {
        neg = true;
        p++;
    }
    char digits[24];
    int nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9' && nd < 20) digits[nd++] = *p;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    int exp = *p == 'e' ? atoi(p + 1) : 0;
    char *o = out;
    if (neg) *o++ = '-';
    if (exp >= -4 && exp < 16) {
        if (exp >= 0) {
            for (int i = 0; i <= exp; i++) *o++ = i < nd ? digits[i] : '0';
            *o++ = '.';
            if (nd > exp + 1) {
                for (int i = exp + 1; i < nd; i++) *o++ = digits[i];
            } else {
                *o++ = '0';
            }
        } else {
            *o++ = '0';
            *o++ = '.';
            for (int i = 0; i < -exp - 1; i++) *o++ = '0';
            for (int i = 0; i < nd; i++) *o++ = digits[i];
        }
        *o = 0;
    } else {
        *o++ = digits[0];
        if (nd > 1) {
            *o++ = '.';
            for (int i = 1; i < nd; i++) *o++ = digits[i];
        }
        int ax = exp < 0 ? -exp : exp; /* at most 324 */
        *o++ = 'e';
        *o++ = exp < 0 ? '-' : '+';
        if (ax >= 100) *o++ = (char)('0' + ax / 100);
        *o++ = (char)('0' + ax / 10 % 10);
        *o++ = (char)('0' + ax % 10);
        *o = 0;
    }
}

/* ---------- str() and repr() ---------- */
static void write_value(jbuf *b, jv v, bool repr, int depth);

static void write_str_repr(jbuf *b, const char *s, size_t n) {
    bool has_single = memchr(s, '\'', n) != NULL, has_double = memchr(s, '"', n) != NULL;
    char q = has_single && !has_double ? '"' : '\'';
    jb_putc(b, q);
    size_t run = 0; /* bytes copied verbatim are written in runs */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char hex[8];
        if (c == (unsigned char)q) esc = q == '\'' ? "\\'" : "\\\"";
        else if (c == '\\') esc = "\\\\";
        else if (c == '\n') esc = "\\n";
        else if (c == '\r') esc = "\\r";
        else if (c == '\t') esc = "\\t";
        else if (c < 0x20 || c == 0x7f) {
            snprintf(hex, sizeof hex, "\\x%02x", c);
            esc = hex;
        } else if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 && (unsigned char)s[i + 1] <= 0x9f) {
            snprintf(hex, sizeof hex, "\\x%02x", (unsigned char)s[i + 1]); /* C1 control */
            esc = hex;
        }
        if (esc) {
            jb_put(b, s + i - run, run);
            run = 0;
            jb_puts(b, esc);
            if (c == 0xc2) i++;
        } else {
            run++;
        }
    }
    jb_put(b, s + n - run, run);
    jb_putc(b, q);
}

static void write_value(jbuf *b, jv v, bool repr, int depth) {
    check_depth(b->h, depth);
    char num[40];
    switch (v.type) {
    case JV_UNDEF:
        if (repr) jb_puts(b, "Undefined");
        return;
    case JV_NONE: jb_puts(b, "None"); return;
    case JV_BOOL: jb_puts(b, v.u.b ? "True" : "False"); return;
    case JV_INT: jb_printf(b, "%lld", (long long)v.u.i); return;
    case JV_FLOAT:
        jfmt_float(v.u.f, num);
        jb_puts(b, num);
        return;
    case JV_STR:
        if (repr) write_str_repr(b, v.u.s.p, v.u.s.n);
        else jb_put(b, v.u.s.p, v.u.s.n);
        return;
    case JV_LIST: {
        bool tuple = v.flags & JV_F_TUPLE;
        jb_putc(b, tuple ? '(' : '[');
        for (size_t i = 0; i < v.u.l->n; i++) {
            if (i) jb_puts(b, ", ");
            write_value(b, v.u.l->v[i], true, depth + 1);
        }
        if (tuple && v.u.l->n == 1) jb_putc(b, ',');
        jb_putc(b, tuple ? ')' : ']');
        return;
    }
    case JV_DICT:
        if (v.u.d->is_namespace) jb_puts(b, "<Namespace ");
        jb_putc(b, '{');
        for (size_t i = 0; i < v.u.d->n; i++) {
            if (i) jb_puts(b, ", ");
            write_value(b, v.u.d->k[i], true, depth + 1);
            jb_puts(b, ": ");
            write_value(b, v.u.d->v[i], true, depth + 1);
        }
        jb_putc(b, '}');
        if (v.u.d->is_namespace) jb_putc(b, '>');
        return;
    case JV_FUNC:
        if (v.u.fn->kind == JF_MACRO) jb_printf(b, "<Macro '%s'>", v.u.fn->name ? v.u.fn->name : "");
        else if (v.u.fn->kind == JF_CALLER) jb_puts(b, "<Macro 'caller'>");
        else jb_printf(b, "<built-in function %s>", v.u.fn->name ? v.u.fn->name : "");
        return;
    case JV_LOOP:
        jb_printf(b, "<LoopContext %lld/%lld>", (long long)v.u.loop->index0 + 1, (long long)v.u.loop->length);
        return;
    }
}

void jv_write_str(jbuf *b, jv v) { write_value(b, v, false, 0); }
void jv_write_repr(jbuf *b, jv v) { write_value(b, v, true, 0); }

jv jv_to_str(jheap *h, jv v) {
    if (v.type == JV_STR) return v;
    jbuf b;
    jb_init(&b, h, SIZE_MAX);
    jv_write_str(&b, v);
    return jb_value(&b);
}

/* ---------- json.dumps ---------- */
static void json_string(jbuf *b, const char *s, size_t n, bool ensure_ascii) {
    jb_putc(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        char esc[16];
        const char *e = NULL;
        size_t len = 1;
        switch (c) {
        case '"': e = "\\\""; break;
        case '\\': e = "\\\\"; break;
        case '\n': e = "\\n"; break;
        case '\r': e = "\\r"; break;
        case '\t': e = "\\t"; break;
        case '\b': e = "\\b"; break;
        case '\f': e = "\\f"; break;
        default:
            if (c < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", c);
                e = esc;
            } else if (c >= 0x80 && ensure_ascii) {
                len = utf8_char_len(s + i, n - i);
                unsigned cp = 0xfffd;
                const unsigned char *p = (const unsigned char *)s + i;
                if (len == 2) cp = ((p[0] & 0x1fu) << 6) | (p[1] & 0x3fu);
                else if (len == 3) cp = ((p[0] & 0x0fu) << 12) | ((p[1] & 0x3fu) << 6) | (p[2] & 0x3fu);
                else if (len == 4)
                    cp = ((p[0] & 0x07u) << 18) | ((p[1] & 0x3fu) << 12) | ((p[2] & 0x3fu) << 6) | (p[3] & 0x3fu);
                if (cp >= 0x10000) {
                    cp -= 0x10000;
                    snprintf(esc, sizeof esc, "\\u%04x\\u%04x", 0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
                } else {
                    snprintf(esc, sizeof esc, "\\u%04x", cp);
                }
                e = esc;
            }
        }
        if (e) {
            jb_put(b, s + i - run, run);
            run = 0;
            jb_puts(b, e);
        } else {
            run += len;
        }
        i += len;
    }
    jb_put(b, s + n - run, run);
    jb_putc(b, '"');
}

static void json_newline(jbuf *b, const jjson_opts *o, int level) {
    jb_putc(b, '\n');
    for (int i = 0; i < level * o->indent; i++) jb_putc(b, ' ');
}

static void json_item_sep(jbuf *b, const jjson_opts *o) {
    if (o->item_sep) jb_put(b, o->item_sep, o->item_sep_n);
    else jb_puts(b, o->indent >= 0 ? "," : ", ");
}

static void json_key(jheap *h, uint32_t off, jbuf *b, jv k, const jjson_opts *o) {
    char num[40];
    switch (k.type) {
    case JV_STR: json_string(b, k.u.s.p, k.u.s.n, o->ensure_ascii); return;
    case JV_NONE: jb_puts(b, "\"null\""); return;
    case JV_BOOL: jb_puts(b, k.u.b ? "\"true\"" : "\"false\""); return;
    case JV_INT: jb_printf(b, "\"%lld\"", (long long)k.u.i); return;
    case JV_FLOAT:
        jfmt_float(k.u.f, num);
        jb_printf(b, "\"%s\"", num);
        return;
    default:
        jh_fail(h, off, KUMO_E_INVALID, "keys must be str, int, float, bool or None, not %s", jv_type_name(k));
    }
}

void jv_write_json(jheap *h, uint32_t off, jbuf *b, jv v, const jjson_opts *o, int level) {
    check_depth(h, level);
    char num[40];
    switch (v.type) {
    case JV_NONE: jb_puts(b, "null"); return;
    case JV_BOOL: jb_puts(b, v.u.b ? "true" : "false"); return;
    case JV_INT: jb_printf(b, "%lld", (long long)v.u.i); return;
    case JV_FLOAT:
        if (isnan(v.u.f)) jb_puts(b, "NaN");
        else if (isinf(v.u.f)) jb_puts(b, v.u.f < 0 ? "-Infinity" : "Infinity");
        else {
            jfmt_float(v.u.f, num);
            jb_puts(b, num);
        }
        return;
    case JV_STR: json_string(b, v.u.s.p, v.u.s.n, o->ensure_ascii); return;
    case JV_LIST:
        if (v.u.l->n == 0) {
            jb_puts(b, "[]");
            return;
        }
        jb_putc(b, '[');
        for (size_t i = 0; i < v.u.l->n; i++) {
            if (i) json_item_sep(b, o);
            if (o->indent >= 0) json_newline(b, o, level + 1);
            jv_write_json(h, off, b, v.u.l->v[i], o, level + 1);
        }
        if (o->indent >= 0) json_newline(b, o, level);
        jb_putc(b, ']');
        return;
    case JV_DICT: {
        const jdict *d = v.u.d;
        if (d->is_namespace) break;
        if (d->n == 0) {
            jb_puts(b, "{}");
            return;
        }
        size_t *order = jh_alloc(h, d->n * sizeof *order);
        for (size_t i = 0; i < d->n; i++) order[i] = i;
        if (o->sort_keys) { /* insertion sort: stable, and dicts in templates are small */
            for (size_t i = 1; i < d->n; i++) {
                size_t x = order[i], j = i;
                while (j > 0 && jv_cmp(h, off, d->k[order[j - 1]], d->k[x]) > 0) {
                    order[j] = order[j - 1];
                    j--;
                }
                order[j] = x;
            }
        }
        jb_putc(b, '{');
        for (size_t i = 0; i < d->n; i++) {
            if (i) json_item_sep(b, o);
            if (o->indent >= 0) json_newline(b, o, level + 1);
            json_key(h, off, b, d->k[order[i]], o);
            if (o->key_sep) jb_put(b, o->key_sep, o->key_sep_n);
            else jb_puts(b, ": ");
            jv_write_json(h, off, b, d->v[order[i]], o, level + 1);
        }
        if (o->indent >= 0) json_newline(b, o, level);
        jb_putc(b, '}');
        return;
    }
    default: break;
    }
    jh_fail(h, off, KUMO_E_INVALID, "Object of type %s is not JSON serializable", jv_type_name(v));
}
