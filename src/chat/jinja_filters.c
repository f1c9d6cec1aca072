/* Jinja filters (`x | name(args)`) and tests (`x is name`), following Jinja2 3.1 plus Hugging
 * Face's tojson (ensure_ascii, indent, separators, sort_keys). */
#include "chat/jinja_lib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------- sorting and attribute paths ---------- */
/* "a.b.0" → item lookups, as Jinja's attribute= arguments do. */
static jv attr_path(jctx *c, jv item, jv path) {
    jarg_str(c, "attribute", path);
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
    if (!case_sensitive && v.type == JV_STR) return jtext_case(c, v, 0);
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
        jv k = jarg_given(attribute) && attribute.type != JV_NONE ? attr_path(c, items->v[i], attribute) : items->v[i];
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
    jarg_bind(c, what, P, a, v);
    if (!jarg_given(v[0])) jh_fail(&c->h, c->at, KUMO_E_INVALID, "%s needs an argument", what);
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
    int64_t x = jarg_int(c, what, v);
    int64_t r = x % m;
    if (r < 0) r += m < 0 ? -m : m;
    return r == want;
}

bool jinja_test(jctx *c, int id, jv v, const jargs *a) {
    const char *what = jinja_test_name(id);
    jh_charge(&c->h, 1);
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
            jarg_str(c, "'in' test", v);
            return jtext_find(seq.u.s.p, seq.u.s.n, v.u.s.p, v.u.s.n) != NULL;
        }
        jlist *items = jinja_iter(c, seq);
        for (size_t i = 0; i < items->n; i++)
            if (jv_eq(&c->h, items->v[i], v)) return true;
        return false;
    }
    case T_ODD: return int_mod_test(c, what, v, 2, 1);
    case T_EVEN: return int_mod_test(c, what, v, 2, 0);
    case T_DIVISIBLEBY: {
        int64_t m = jarg_int(c, what, one_arg(c, what, a));
        if (m == 0) jh_fail(&c->h, c->at, KUMO_E_INVALID, "integer division or modulo by zero");
        return int_mod_test(c, what, v, m < 0 ? -m : m, 0);
    }
    case T_LOWER:
    case T_UPPER: {
        jv s = jv_str_of(c, v);
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
    if (!jarg_given(name_v) || name_v.type == JV_NONE) return jv_truthy(item);
    jarg_str(c, "test name", name_v);
    char *name = jtext_dup(c, name_v);
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

jv jfilter_items(jctx *c, jv v) {
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
        int64_t w = jarg_given(width) ? jarg_int(c, "indent", width) : 4;
        if (w < 0) w = 0;
        if (w > 10000) jh_fail(&c->h, c->at, KUMO_E_INVALID, "indent width too large");
        char *sp = jh_alloc(&c->h, (size_t)w + 1);
        memset(sp, ' ', (size_t)w);
        ind = jv_str(sp, (size_t)w);
    }
    /* Jinja appends a newline before jtext_splitlines(), so a trailing newline survives. */
    jbuf tmp;
    jb_init(&tmp, &c->h, SIZE_MAX);
    jb_put(&tmp, s.u.s.p, s.u.s.n);
    jb_putc(&tmp, '\n');
    jlist *lines = jtext_splitlines(c, jb_value(&tmp), false);
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
    jarg_bind(c, "tojson", P, a, x);
    jjson_opts o = {.indent = -1};
    o.ensure_ascii = jarg_given(x[0]) && jv_truthy(x[0]);
    if (jarg_given(x[1]) && x[1].type != JV_NONE) {
        int64_t ind = jarg_int(c, "tojson indent", x[1]);
        o.indent = ind < 0 ? 0 : ind > 64 ? 64 : (int)ind;
    }
    if (jarg_given(x[2]) && x[2].type != JV_NONE) {
        if (x[2].type != JV_LIST || x[2].u.l->n != 2 || x[2].u.l->v[0].type != JV_STR || x[2].u.l->v[1].type != JV_STR)
            jh_fail(&c->h, c->at, KUMO_E_INVALID, "tojson separators must be a pair of strings");
        o.item_sep = x[2].u.l->v[0].u.s.p;
        o.item_sep_n = x[2].u.l->v[0].u.s.n;
        o.key_sep = x[2].u.l->v[1].u.s.p;
        o.key_sep_n = x[2].u.l->v[1].u.s.n;
    }
    o.sort_keys = jarg_given(x[3]) && jv_truthy(x[3]);
    jbuf b;
    jb_init(&b, &c->h, SIZE_MAX);
    jv_write_json(&c->h, c->at, &b, v, &o, 0);
    return jb_value(&b);
}

static jv round_filter(jctx *c, jv v, const jargs *a) {
    static const char *const P[] = {"precision", "method", NULL};
    jv x[2];
    jarg_bind(c, "round", P, a, x);
    int64_t prec = jarg_given(x[0]) ? jarg_int(c, "round", x[0]) : 0;
    const char *method = "common";
    if (jarg_given(x[1])) method = jtext_dup(c, jarg_str(c, "round method", x[1]));
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
    jarg_bind(c, "truncate", P, a, x);
    jv s = jv_str_of(c, v);
    int64_t length = jarg_given(x[0]) ? jarg_int(c, "truncate", x[0]) : 255;
    bool killwords = jarg_given(x[1]) && jv_truthy(x[1]);
    jv end = jarg_given(x[2]) ? jarg_str(c, "truncate end", x[2]) : jv_str("...", 3);
    int64_t leeway = jarg_given(x[3]) && x[3].type != JV_NONE ? jarg_int(c, "truncate", x[3]) : 5;
    int64_t end_len = (int64_t)utf8_count(end.u.s.p, end.u.s.n);
    if (length < end_len) jh_fail(&c->h, c->at, KUMO_E_INVALID, "expected length >= %lld, got %lld", (long long)end_len, (long long)length);
    int64_t n = (int64_t)utf8_count(s.u.s.p, s.u.s.n);
    if (n <= length + leeway) return s;
    size_t bytes = 0;
    for (int64_t k = 0; k < length - end_len; k++) bytes += utf8_char_len(s.u.s.p + bytes, s.u.s.n - bytes);
    jv head = jv_str(s.u.s.p, bytes);
    if (!killwords) {
        const char *sp = jtext_rfind(c, head.u.s.p, head.u.s.n, " ", 1);
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
    /* Jinja iterates only truthy values: `none | select` is empty, not an error */
    jlist *items = jv_truthy(v) ? jinja_iter(c, v) : jl_new(&c->h, 0);
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
    jlist *items = jv_truthy(v) ? jinja_iter(c, v) : jl_new(&c->h, 0);
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
            if (x.type == JV_UNDEF && jarg_given(dflt)) x = dflt;
            out->v[out->n++] = x;
        }
        return jv_list(out);
    }
    if (a->npos < 1) jh_fail(&c->h, c->at, KUMO_E_INVALID, "map needs a filter name or attribute=");
    char *name = jtext_dup(c, jarg_str(c, "map filter name", a->pos[0]));
    int fid = jinja_filter_id(name);
    if (fid < 0) jh_fail(&c->h, c->at, KUMO_E_UNSUPPORTED, "unknown filter '%s'", name);
    jargs rest = rest_args(a, 1);
    for (size_t i = 0; i < items->n; i++) out->v[out->n++] = jinja_filter(c, fid, items->v[i], &rest);
    return jv_list(out);
}

static jv minmax(jctx *c, jv v, const jargs *a, bool want_max) {
    static const char *const P[] = {"case_sensitive", "attribute", NULL};
    jv x[2];
    jarg_bind(c, want_max ? "max" : "min", P, a, x);
    jlist *items = jinja_iter(c, v);
    if (!items->n) return jv_undef("", 0);
    bool cs = jarg_given(x[0]) && jv_truthy(x[0]);
    size_t best = 0;
    jv best_key = fold_case(c, jarg_given(x[1]) ? attr_path(c, items->v[0], x[1]) : items->v[0], cs);
    for (size_t i = 1; i < items->n; i++) {
        jv k = fold_case(c, jarg_given(x[1]) ? attr_path(c, items->v[i], x[1]) : items->v[i], cs);
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
    jh_charge(&c->h, 1);
    jv x[4];
    switch (id) {
    case F_ABS:
        jarg_bind(c, what, JARGS_NONE, a, x);
        if (v.type == JV_INT || v.type == JV_BOOL) {
            int64_t i = v.type == JV_BOOL ? v.u.b : v.u.i;
            if (i == INT64_MIN) jh_fail(&c->h, c->at, KUMO_E_INVALID, "integer overflow in abs");
            return jv_int(i < 0 ? -i : i);
        }
        if (v.type == JV_FLOAT) return jv_float(fabs(v.u.f));
        jh_fail(&c->h, c->at, KUMO_E_INVALID, "bad operand type for abs(): '%s'", jv_type_name(v));
    case F_ATTR: {
        static const char *const P[] = {"name", NULL};
        jarg_bind(c, what, P, a, x);
        jv name = jarg_str(c, what, x[0]);
        char *cname = jtext_dup(c, name);
        /* attr() is attribute access only: dict keys are not attributes, dict methods are */
        if (v.type == JV_DICT && !v.u.d->is_namespace && !jinja_has_method(v, cname)) return jv_undef(cname, name.u.s.n);
        return jinja_getattr(c, v, cname, name.u.s.n);
    }
    case F_BATCH: {
        static const char *const P[] = {"linecount", "fill_with", NULL};
        jarg_bind(c, what, P, a, x);
        int64_t size = jarg_int(c, what, x[0]);
        if (size <= 0) jh_fail(&c->h, c->at, KUMO_E_INVALID, "batch size must be positive");
        jlist *items = jinja_iter(c, v), *out = jl_new(&c->h, 0), *cur = NULL;
        for (size_t i = 0; i < items->n; i++) {
            if (!cur || (int64_t)cur->n == size) {
                cur = jl_new(&c->h, 0);
                jl_push(&c->h, out, jv_list(cur));
            }
            jl_push(&c->h, cur, items->v[i]);
        }
        if (cur && jarg_given(x[1]) && x[1].type != JV_NONE)
            while ((int64_t)cur->n < size) jl_push(&c->h, cur, x[1]);
        return jv_list(out);
    }
    case F_CAPITALIZE: jarg_bind(c, what, JARGS_NONE, a, x); return jtext_case(c, jv_str_of(c, v), 2);
    case F_CENTER: {
        static const char *const P[] = {"width", NULL};
        jarg_bind(c, what, P, a, x);
        jv s = jv_str_of(c, v);
        int64_t w = jarg_given(x[0]) ? jarg_int(c, what, x[0]) : 80;
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
    case F_LENGTH: jarg_bind(c, what, JARGS_NONE, a, x); return jv_int(length_of(c, v));
    case F_D:
    case F_DEFAULT: {
        static const char *const P[] = {"default_value", "boolean", NULL};
        jarg_bind(c, what, P, a, x);
        jv dflt = jarg_given(x[0]) ? x[0] : jv_str("", 0);
        bool boolean = jarg_given(x[1]) && jv_truthy(x[1]);
        if (v.type == JV_UNDEF || (boolean && !jv_truthy(v))) return dflt;
        return v;
    }
    case F_DICTSORT: {
        static const char *const P[] = {"case_sensitive", "by", "reverse", NULL};
        jarg_bind(c, what, P, a, x);
        jv pairs = jfilter_items(c, v);
        bool by_value = jarg_given(x[1]) && x[1].type == JV_STR && x[1].u.s.n == 5 && !memcmp(x[1].u.s.p, "value", 5);
        if (jarg_given(x[1]) && !by_value && !(x[1].type == JV_STR && x[1].u.s.n == 3 && !memcmp(x[1].u.s.p, "key", 3)))
            jh_fail(&c->h, c->at, KUMO_E_INVALID, "You can only sort by either \"key\" or \"value\"");
        return jv_list(sorted(c, pairs.u.l, jv_cstr(by_value ? "1" : "0"), jarg_given(x[0]) && jv_truthy(x[0]),
                              jarg_given(x[2]) && jv_truthy(x[2])));
    }
    case F_E:
    case F_ESCAPE: jarg_bind(c, what, JARGS_NONE, a, x); return html_escape(c, jv_str_of(c, v));
    case F_FIRST: {
        jarg_bind(c, what, JARGS_NONE, a, x);
        jlist *items = jinja_iter(c, v);
        return items->n ? items->v[0] : jv_undef("", 0);
    }
    case F_LAST: {
        jarg_bind(c, what, JARGS_NONE, a, x);
        jlist *items = jinja_iter(c, v);
        return items->n ? items->v[items->n - 1] : jv_undef("", 0);
    }
    case F_FLOAT: {
        static const char *const P[] = {"default", NULL};
        jarg_bind(c, what, P, a, x);
        jv dflt = jarg_given(x[0]) ? x[0] : jv_float(0.0);
        if (jv_is_number(v)) return jv_float(jv_num(v));
        double f;
        if (v.type == JV_STR && jtext_parse_float(c, v.u.s.p, v.u.s.n, &f)) return jv_float(f);
        return dflt;
    }
    case F_INT: {
        static const char *const P[] = {"default", "base", NULL};
        jarg_bind(c, what, P, a, x);
        jv dflt = jarg_given(x[0]) ? x[0] : jv_int(0);
        int64_t base = jarg_given(x[1]) ? jarg_int(c, what, x[1]) : 10;
        if (base != 0 && (base < 2 || base > 36)) jh_fail(&c->h, c->at, KUMO_E_INVALID, "int() base must be >= 2 and <= 36, or 0");
        if (v.type == JV_INT || v.type == JV_BOOL) return jv_int(v.type == JV_BOOL ? v.u.b : v.u.i);
        if (v.type == JV_FLOAT) {
            if (!isfinite(v.u.f) || fabs(v.u.f) >= 9.2e18) return dflt;
            return jv_int((int64_t)v.u.f);
        }
        if (v.type == JV_STR) {
            int64_t i;
            if (jtext_parse_int(v.u.s.p, v.u.s.n, (int)base, &i)) return jv_int(i);
            double f;
            if (jtext_parse_float(c, v.u.s.p, v.u.s.n, &f) && isfinite(f) && fabs(f) < 9.2e18) return jv_int((int64_t)f);
        }
        return dflt;
    }
    case F_FORMAT: {
        if (a->nkw) jh_fail(&c->h, c->at, KUMO_E_UNSUPPORTED, "format with keyword arguments is not supported");
        jlist *l = jl_new(&c->h, a->npos);
        for (size_t i = 0; i < a->npos; i++) l->v[l->n++] = a->pos[i];
        jv t = jv_list(l);
        t.flags = JV_F_TUPLE;
        return jinja_percent_format(c, jv_str_of(c, v), t);
    }
    case F_INDENT: {
        static const char *const P[] = {"width", "first", "blank", NULL};
        jarg_bind(c, what, P, a, x);
        /* Jinja appends "\n" to the value first, which fails for anything but a string */
        if (v.type == JV_UNDEF && v.u.s.n) jh_fail(&c->h, c->at, KUMO_E_INVALID, "'%.*s' is undefined", (int)v.u.s.n, v.u.s.p);
        jarg_str(c, what, v);
        return indent(c, v, x[0], jarg_given(x[1]) && jv_truthy(x[1]), jarg_given(x[2]) && jv_truthy(x[2]));
    }
    case F_ITEMS: jarg_bind(c, what, JARGS_NONE, a, x); return jfilter_items(c, v);
    case F_JOIN: {
        static const char *const P[] = {"d", "attribute", NULL};
        jarg_bind(c, what, P, a, x);
        jv sep = jarg_given(x[0]) ? jv_str_of(c, x[0]) : jv_str("", 0);
        jlist *items = jinja_iter(c, v);
        if (jarg_given(x[1]) && x[1].type != JV_NONE) {
            jlist *mapped = jl_new(&c->h, items->n);
            for (size_t i = 0; i < items->n; i++) mapped->v[mapped->n++] = attr_path(c, items->v[i], x[1]);
            items = mapped;
        }
        return jtext_join(c, items, sep, false);
    }
    case F_LIST: {
        jarg_bind(c, what, JARGS_NONE, a, x);
        jlist *items = jinja_iter(c, v);
        jlist *copy = jl_new(&c->h, items->n);
        for (size_t i = 0; i < items->n; i++) copy->v[copy->n++] = items->v[i];
        return jv_list(copy);
    }
    case F_LOWER: jarg_bind(c, what, JARGS_NONE, a, x); return jtext_case(c, jv_str_of(c, v), 0);
    case F_UPPER: jarg_bind(c, what, JARGS_NONE, a, x); return jtext_case(c, jv_str_of(c, v), 1);
    case F_MAP: return map_filter(c, v, a);
    case F_MAX: return minmax(c, v, a, true);
    case F_MIN: return minmax(c, v, a, false);
    case F_SELECT:
    case F_REJECT:
    case F_SELECTATTR:
    case F_REJECTATTR: return select_filter(c, id, v, a);
    case F_REPLACE: {
        static const char *const P[] = {"old", "new", "count", NULL};
        jarg_bind(c, what, P, a, x);
        int64_t count = jarg_given(x[2]) && x[2].type != JV_NONE ? jarg_int(c, what, x[2]) : -1;
        return jtext_replace(c, jv_str_of(c, v), jarg_str(c, what, x[0]), jarg_str(c, what, x[1]), count);
    }
    case F_REVERSE: {
        jarg_bind(c, what, JARGS_NONE, a, x);
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
    case F_SAFE: jarg_bind(c, what, JARGS_NONE, a, x); return jv_str_of(c, v); /* Markup(str(v)) */
    case F_SORT: {
        static const char *const P[] = {"reverse", "case_sensitive", "attribute", NULL};
        jarg_bind(c, what, P, a, x);
        return jv_list(sorted(c, jinja_iter(c, v), x[2], jarg_given(x[1]) && jv_truthy(x[1]), jarg_given(x[0]) && jv_truthy(x[0])));
    }
    case F_STRING: jarg_bind(c, what, JARGS_NONE, a, x); return jv_str_of(c, v);
    case F_SUM: {
        static const char *const P[] = {"attribute", "start", NULL};
        jarg_bind(c, what, P, a, x);
        jv acc = jarg_given(x[1]) ? x[1] : jv_int(0);
        jlist *items = jinja_iter(c, v);
        for (size_t i = 0; i < items->n; i++) {
            jv item = jarg_given(x[0]) && x[0].type != JV_NONE ? attr_path(c, items->v[i], x[0]) : items->v[i];
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
    case F_TITLE: jarg_bind(c, what, JARGS_NONE, a, x); return jtext_title_words(c, jv_str_of(c, v));
    case F_TOJSON: return tojson(c, v, a);
    case F_TRIM: {
        static const char *const P[] = {"chars", NULL};
        jarg_bind(c, what, P, a, x);
        return jtext_strip(c, jv_str_of(c, v), x[0], true, true);
    }
    case F_TRUNCATE: return truncate_filter(c, v, a);
    case F_UNIQUE: {
        static const char *const P[] = {"case_sensitive", "attribute", NULL};
        jarg_bind(c, what, P, a, x);
        bool cs = jarg_given(x[0]) && jv_truthy(x[0]);
        jlist *items = jinja_iter(c, v), *out = jl_new(&c->h, 0), *seen = jl_new(&c->h, 0);
        for (size_t i = 0; i < items->n; i++) {
            jv k = fold_case(c, jarg_given(x[1]) ? attr_path(c, items->v[i], x[1]) : items->v[i], cs);
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
        jarg_bind(c, what, JARGS_NONE, a, x);
        jv s = jv_str_of(c, v);
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

