/* Argument binding, global functions (range, namespace, dict, raise_exception, strftime_now) and
 * the methods of values (str via jinja_text.c, dict, list, loop.cycle) for the Jinja interpreter. */
#include "chat/jinja_lib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RANGE 100000 /* Jinja's sandbox limit for range() */

const char *const JARGS_NONE[] = {NULL};

/* ---------- argument binding ---------- */
/* Binds a call's arguments to the parameter names (NULL-terminated); out[i] is undefined when not
 * given. Fails on unknown keywords or too many positional arguments. */
void jarg_bind(jctx *c, const char *what, const char *const *params, const jargs *a, jv *out) {
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

jv jarg_str(jctx *c, const char *what, jv v) {
    if (v.type != JV_STR) {
        if (v.type == JV_UNDEF && v.u.s.n)
            jh_fail(&c->h, c->at, KUMO_E_INVALID, "%s: missing argument '%.*s'", what, (int)v.u.s.n, v.u.s.p);
        jh_fail(&c->h, c->at, KUMO_E_INVALID, "%s expects a string, not %s", what, jv_type_name(v));
    }
    return v;
}

int64_t jarg_int(jctx *c, const char *what, jv v) {
    if (v.type == JV_INT) return v.u.i;
    if (v.type == JV_BOOL) return v.u.b;
    jh_fail(&c->h, c->at, KUMO_E_INVALID, "%s expects an integer, not %s", what, jv_type_name(v));
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
    jarg_bind(c, "strftime_now", P, a, x);
    jv fmt = jarg_str(c, "strftime_now", x[0]);
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
    char *cfmt = jtext_dup(c, fmt);
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
            stop = jarg_int(c, "range", a->pos[0]);
        } else {
            start = jarg_int(c, "range", a->pos[0]);
            stop = jarg_int(c, "range", a->pos[1]);
            if (a->npos == 3) step = jarg_int(c, "range", a->pos[2]);
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
        jv msg = a->npos ? jv_str_of(c, a->pos[0]) : jv_str("", 0);
        jh_fail(&c->h, c->at, KUMO_E_INVALID, "raise_exception: %.*s", (int)(msg.u.s.n > 400 ? 400 : msg.u.s.n), msg.u.s.p);
    }
    case G_STRFTIME: return strftime_now(c, a);
    default: jh_fail(&c->h, c->at, KUMO_E_INVALID, "unknown function");
    }
}

/* ---------- methods ---------- */
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
    case JV_STR: return jtext_has_method(name);
    case JV_DICT: return !v.u.d->is_namespace && in_names(DICT_METHODS, name);
    case JV_LIST: return in_names(LIST_METHODS, name);
    case JV_LOOP: return !strcmp(name, "cycle");
    default: return false;
    }
}

jv jinja_call_method(jctx *c, jv self, const char *m, const jargs *a) {
    jv x[2];
    char what[64];
    snprintf(what, sizeof what, "%s.%s", jv_type_name(self), m);
    switch (self.type) {
    case JV_STR: return jtext_method(c, self, m, a);
    case JV_DICT: {
        const jdict *d = self.u.d;
        if (!strcmp(m, "get")) {
            static const char *const P[] = {"key", "default", NULL};
            jarg_bind(c, what, P, a, x);
            jv v;
            if (jd_get(&c->h, d, x[0], &v)) return v;
            return jarg_given(x[1]) ? x[1] : jv_none();
        }
        jarg_bind(c, what, JARGS_NONE, a, x);
        if (!strcmp(m, "items")) return jfilter_items(c, self);
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
            jarg_bind(c, what, P, a, x);
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
            jarg_bind(c, what, JARGS_NONE, a, x);
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

