/* Tree-walking evaluator: statements write text to c->out, expressions produce values.
 * Semantics follow Jinja2 in Hugging Face's sandbox: Python-like values, Undefined for missing
 * names/attributes (empty when printed, an error when used in arithmetic or attribute access),
 * a fresh scope for every loop iteration, macro, call block and with block (so `set` inside them
 * does not leak out; namespace() objects are how templates carry state out of loops). */
#include "chat/jinja.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum flow { FLOW_NEXT, FLOW_BREAK, FLOW_CONTINUE };

static jv eval(jctx *c, const jnode *n, jscope *s);
static int exec(jctx *c, const jnode *n, jscope *s);

/* ---------- scopes ---------- */
jscope *jscope_new(jctx *c, jscope *parent) {
    jscope *s = jh_alloc(&c->h, sizeof *s);
    s->parent = parent;
    return s;
}

void jscope_set(jctx *c, jscope *s, const char *name, jv v) {
    for (size_t i = 0; i < s->n; i++) {
        if (!strcmp(s->names[i], name)) {
            s->vals[i] = v;
            return;
        }
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4;
        const char **nn = jh_alloc(&c->h, cap * sizeof *nn);
        jv *nv = jh_alloc(&c->h, cap * sizeof *nv);
        if (s->n) {
            memcpy(nn, s->names, s->n * sizeof *nn);
            memcpy(nv, s->vals, s->n * sizeof *nv);
        }
        s->names = nn;
        s->vals = nv;
        s->cap = cap;
    }
    s->names[s->n] = name;
    s->vals[s->n] = v;
    s->n++;
}

static bool scope_get(const jscope *s, const char *name, jv *out) {
    for (; s; s = s->parent) {
        for (size_t i = s->n; i-- > 0;) {
            if (!strcmp(s->names[i], name)) {
                *out = s->vals[i];
                return true;
            }
        }
    }
    return false;
}

/* ---------- helpers ---------- */
static void enter(jctx *c, const jnode *n) {
    if (++c->depth > c->max_depth)
        jh_fail(&c->h, n->off, KUMO_E_INVALID, "evaluation nested deeper than %d levels (runaway recursion?)", c->max_depth);
    jh_charge(&c->h, 1);
}

_Noreturn static void fail_undefined(jctx *c, uint32_t off, jv u) {
    if (u.u.s.n) jh_fail(&c->h, off, KUMO_E_INVALID, "'%.*s' is undefined", (int)(u.u.s.n > 200 ? 200 : u.u.s.n), u.u.s.p);
    jh_fail(&c->h, off, KUMO_E_INVALID, "undefined value used");
}

jlist *jinja_iter(jctx *c, jv v) {
    switch (v.type) {
    case JV_LIST: return v.u.l;
    case JV_UNDEF: return jl_new(&c->h, 0);
    case JV_STR: {
        jlist *l = jl_new(&c->h, v.u.s.n);
        for (size_t i = 0; i < v.u.s.n;) {
            size_t k = utf8_char_len(v.u.s.p + i, v.u.s.n - i);
            jl_push(&c->h, l, jv_str(v.u.s.p + i, k));
            i += k;
        }
        return l;
    }
    case JV_DICT:
        if (!v.u.d->is_namespace) {
            jlist *l = jl_new(&c->h, v.u.d->n);
            for (size_t i = 0; i < v.u.d->n; i++) jl_push(&c->h, l, v.u.d->k[i]);
            return l;
        }
        break;
    default: break;
    }
    jh_fail(&c->h, c->at, KUMO_E_INVALID, "'%s' object is not iterable", jv_type_name(v));
}

/* Character offsets of a string: offs[i] is the byte offset of character i, offs[n] = bytes. */
static size_t *char_offsets(jctx *c, jv s, size_t *nchars) {
    jh_charge(&c->h, 1 + s.u.s.n / 64);
    size_t n = utf8_count(s.u.s.p, s.u.s.n);
    size_t *offs = jh_alloc(&c->h, (n + 1) * sizeof *offs);
    size_t i = 0, k = 0;
    while (i < s.u.s.n) {
        offs[k++] = i;
        i += utf8_char_len(s.u.s.p + i, s.u.s.n - i);
    }
    offs[k] = s.u.s.n;
    *nchars = n;
    return offs;
}

static bool is_ascii(const char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] >= 0x80) return false;
    return true;
}

static bool as_index(jv k, int64_t *out) {
    if (k.type == JV_INT) *out = k.u.i;
    else if (k.type == JV_BOOL) *out = k.u.b;
    else return false;
    return true;
}

/* ---------- attribute and item access ---------- */
static jv bound_method(jctx *c, jv self, const char *name) {
    jfunc *f = jh_alloc(&c->h, sizeof *f);
    f->kind = JF_METHOD;
    f->self = self;
    f->name = name;
    jv v = {.type = JV_FUNC};
    v.u.fn = f;
    return v;
}

static jv loop_attr(jctx *c, const jloop *l, const char *name, jv self) {
    int64_t i = l->index0, n = l->length;
    if (!strcmp(name, "index")) return jv_int(i + 1);
    if (!strcmp(name, "index0")) return jv_int(i);
    if (!strcmp(name, "revindex")) return jv_int(n - i);
    if (!strcmp(name, "revindex0")) return jv_int(n - i - 1);
    if (!strcmp(name, "first")) return jv_bool(i == 0);
    if (!strcmp(name, "last")) return jv_bool(i == n - 1);
    if (!strcmp(name, "length")) return jv_int(n);
    if (!strcmp(name, "depth")) return jv_int(l->depth0 + 1);
    if (!strcmp(name, "depth0")) return jv_int(l->depth0);
    if (!strcmp(name, "previtem")) return i > 0 ? l->items->v[i - 1] : jv_undef("previtem", 8);
    if (!strcmp(name, "nextitem")) return i + 1 < n ? l->items->v[i + 1] : jv_undef("nextitem", 8);
    if (!strcmp(name, "cycle")) return bound_method(c, self, "cycle");
    return jv_undef(name, strlen(name));
}

jv jinja_getattr(jctx *c, jv obj, const char *name, size_t n) {
    switch (obj.type) {
    case JV_UNDEF: fail_undefined(c, c->at, obj);
    case JV_DICT: {
        jv v;
        if (!obj.u.d->is_namespace && name[n] == 0 && jinja_has_method(obj, name)) return bound_method(c, obj, name);
        if (jd_get_name(obj.u.d, name, n, &v)) return v;
        break;
    }
    case JV_LOOP: return loop_attr(c, obj.u.loop, name, obj);
    case JV_STR:
    case JV_LIST:
        if (name[n] == 0 && jinja_has_method(obj, name)) return bound_method(c, obj, name);
        break;
    default: break;
    }
    return jv_undef(name, n);
}

jv jinja_getitem(jctx *c, jv obj, jv key) {
    int64_t idx;
    switch (obj.type) {
    case JV_UNDEF: fail_undefined(c, c->at, obj);
    case JV_LIST:
        if (as_index(key, &idx)) {
            int64_t n = (int64_t)obj.u.l->n;
            if (idx < 0) idx += n;
            if (idx >= 0 && idx < n) return obj.u.l->v[idx];
            return jv_undef("list index out of range", 24);
        }
        break;
    case JV_STR:
        if (as_index(key, &idx)) {
            jh_charge(&c->h, obj.u.s.n / 64);
            if (is_ascii(obj.u.s.p, obj.u.s.n)) {
                int64_t n = (int64_t)obj.u.s.n;
                if (idx < 0) idx += n;
                if (idx >= 0 && idx < n) return jv_str(obj.u.s.p + idx, 1);
            } else {
                size_t nch;
                size_t *offs = char_offsets(c, obj, &nch);
                if (idx < 0) idx += (int64_t)nch;
                if (idx >= 0 && idx < (int64_t)nch) return jv_str(obj.u.s.p + offs[idx], offs[idx + 1] - offs[idx]);
            }
            return jv_undef("string index out of range", 25);
        }
        break;
    case JV_DICT: {
        jv v;
        if (jd_get(&c->h, obj.u.d, key, &v)) return v;
        break;
    }
    case JV_LOOP:
        if (key.type == JV_STR) {
            char *name = jh_strndup(&c->h, key.u.s.p, key.u.s.n);
            return loop_attr(c, obj.u.loop, name, obj);
        }
        break;
    default: break;
    }
    /* Jinja falls back to attribute lookup: d['items'] on a dict without that key is the method. */
    if (key.type == JV_STR && obj.type != JV_DICT) {
        char *name = jh_strndup(&c->h, key.u.s.p, key.u.s.n);
        return jinja_getattr(c, obj, name, key.u.s.n);
    }
    if (key.type == JV_STR) return jv_undef(key.u.s.p, key.u.s.n);
    return jv_undef("", 0);
}

/* Python slice index adjustment (PySlice_AdjustIndices). */
static int64_t slice_bound(jctx *c, const jnode *e, jscope *s, int64_t n, int64_t step, bool is_start) {
    if (!e) {
        if (is_start) return step < 0 ? n - 1 : 0;
        return step < 0 ? -1 : n;
    }
    jv v = eval(c, e, s);
    if (v.type == JV_NONE) return slice_bound(c, NULL, s, n, step, is_start);
    int64_t x;
    if (!as_index(v, &x)) jh_fail(&c->h, e->off, KUMO_E_INVALID, "slice indices must be integers or None, not %s", jv_type_name(v));
    if (x < 0) {
        x += n;
        if (x < 0) x = step < 0 ? -1 : 0;
    } else if (x >= n) {
        x = step < 0 ? n - 1 : n;
    }
    return x;
}

static jv eval_slice(jctx *c, const jnode *n, jscope *s) {
    jv obj = eval(c, n->a, s);
    int64_t step = 1;
    if (n->d) {
        jv st = eval(c, n->d, s);
        if (st.type != JV_NONE && !as_index(st, &step))
            jh_fail(&c->h, n->d->off, KUMO_E_INVALID, "slice indices must be integers or None, not %s", jv_type_name(st));
        if (step == 0) jh_fail(&c->h, n->d->off, KUMO_E_INVALID, "slice step cannot be zero");
    }
    if (obj.type == JV_UNDEF) fail_undefined(c, n->off, obj);
    if (obj.type != JV_LIST && obj.type != JV_STR)
        jh_fail(&c->h, n->off, KUMO_E_INVALID, "'%s' object is not subscriptable", jv_type_name(obj));
    size_t nch = 0, *offs = NULL;
    bool ascii = obj.type == JV_STR && is_ascii(obj.u.s.p, obj.u.s.n);
    int64_t len;
    if (obj.type == JV_LIST) len = (int64_t)obj.u.l->n;
    else if (ascii) len = (int64_t)obj.u.s.n;
    else {
        offs = char_offsets(c, obj, &nch);
        len = (int64_t)nch;
    }
    int64_t start = slice_bound(c, n->b, s, len, step, true), stop = slice_bound(c, n->c, s, len, step, false);
    int64_t count = 0;
    if (step < 0) {
        if (stop < start) count = (start - stop - 1) / (-step) + 1;
    } else if (start < stop) {
        count = (stop - start - 1) / step + 1;
    }
    jh_charge(&c->h, (uint64_t)count / 16);
    if (obj.type == JV_LIST) {
        jlist *l = jl_new(&c->h, (size_t)count);
        for (int64_t i = 0, k = start; i < count; i++, k += step) l->v[l->n++] = obj.u.l->v[k];
        jv r = jv_list(l);
        r.flags = obj.flags;
        return r;
    }
    if (count == 0) return jv_str("", 0);
    if (step == 1) {
        size_t b0 = ascii ? (size_t)start : offs[start], b1 = ascii ? (size_t)stop : offs[stop];
        return jv_str(obj.u.s.p + b0, b1 - b0);
    }
    jbuf b;
    jb_init(&b, &c->h, SIZE_MAX);
    for (int64_t i = 0, k = start; i < count; i++, k += step) {
        if (ascii) jb_putc(&b, obj.u.s.p[k]);
        else jb_put(&b, obj.u.s.p + offs[k], offs[k + 1] - offs[k]);
    }
    return jb_value(&b);
}

/* ---------- arithmetic ---------- */
_Noreturn static void fail_operands(jctx *c, uint32_t off, const char *op, jv a, jv b) {
    if (a.type == JV_UNDEF) fail_undefined(c, off, a);
    if (b.type == JV_UNDEF) fail_undefined(c, off, b);
    jh_fail(&c->h, off, KUMO_E_INVALID, "unsupported operand type(s) for %s: '%s' and '%s'", op, jv_type_name(a), jv_type_name(b));
}

static int64_t as_i64(jv v) { return v.type == JV_BOOL ? (int64_t)v.u.b : v.u.i; }

static jv repeat(jctx *c, uint32_t off, jv seq, int64_t times) {
    if (times < 0) times = 0;
    size_t unit = seq.type == JV_STR ? seq.u.s.n : seq.u.l->n;
    if (unit && (uint64_t)times > (c->h.budget / (unit * (seq.type == JV_STR ? 1 : sizeof(jv))) + 1))
        jh_fail(&c->h, off, KUMO_E_NOMEM, "repetition result too large");
    if (seq.type == JV_STR) {
        jbuf b;
        jb_init(&b, &c->h, SIZE_MAX);
        for (int64_t i = 0; i < times; i++) jb_put(&b, seq.u.s.p, seq.u.s.n);
        return jb_value(&b);
    }
    jlist *l = jl_new(&c->h, unit * (size_t)times);
    for (int64_t i = 0; i < times; i++)
        for (size_t k = 0; k < unit; k++) l->v[l->n++] = seq.u.l->v[k];
    jv r = jv_list(l);
    r.flags = seq.flags;
    return r;
}

static jv arith(jctx *c, uint32_t off, int op, jv a, jv b) {
    const char *ops = jop_text(op);
    if (op == JOP_TILDE) {
        jv x = jv_to_str(&c->h, a), y = jv_to_str(&c->h, b);
        return jh_concat(&c->h, x.u.s.p, x.u.s.n, y.u.s.p, y.u.s.n);
    }
    bool nums = jv_is_number(a) && jv_is_number(b);
    bool ints = nums && a.type != JV_FLOAT && b.type != JV_FLOAT;
    int64_t x = ints ? as_i64(a) : 0, y = ints ? as_i64(b) : 0, r;
    double fx = nums ? jv_num(a) : 0, fy = nums ? jv_num(b) : 0;
    switch (op) {
    case JOP_ADD:
        if (ints) {
            if (__builtin_add_overflow(x, y, &r)) jh_fail(&c->h, off, KUMO_E_INVALID, "integer overflow in '+'");
            return jv_int(r);
        }
        if (nums) return jv_float(fx + fy);
        if (a.type == JV_STR && b.type == JV_STR) return jh_concat(&c->h, a.u.s.p, a.u.s.n, b.u.s.p, b.u.s.n);
        if (a.type == JV_LIST && b.type == JV_LIST && (a.flags & JV_F_TUPLE) == (b.flags & JV_F_TUPLE)) {
            jlist *l = jl_new(&c->h, a.u.l->n + b.u.l->n);
            for (size_t i = 0; i < a.u.l->n; i++) l->v[l->n++] = a.u.l->v[i];
            for (size_t i = 0; i < b.u.l->n; i++) l->v[l->n++] = b.u.l->v[i];
            jv v = jv_list(l);
            v.flags = a.flags;
            return v;
        }
        if (a.type == JV_STR && b.type != JV_UNDEF)
            jh_fail(&c->h, off, KUMO_E_INVALID, "can only concatenate str (not \"%s\") to str", jv_type_name(b));
        break;
    case JOP_SUB:
        if (ints) {
            if (__builtin_sub_overflow(x, y, &r)) jh_fail(&c->h, off, KUMO_E_INVALID, "integer overflow in '-'");
            return jv_int(r);
        }
        if (nums) return jv_float(fx - fy);
        break;
    case JOP_MUL:
        if (ints) {
            if (__builtin_mul_overflow(x, y, &r)) jh_fail(&c->h, off, KUMO_E_INVALID, "integer overflow in '*'");
            return jv_int(r);
        }
        if (nums) return jv_float(fx * fy);
        if ((a.type == JV_STR || a.type == JV_LIST) && (b.type == JV_INT || b.type == JV_BOOL)) return repeat(c, off, a, as_i64(b));
        if ((b.type == JV_STR || b.type == JV_LIST) && (a.type == JV_INT || a.type == JV_BOOL)) return repeat(c, off, b, as_i64(a));
        break;
    case JOP_DIV:
        if (nums) {
            if (fy == 0) jh_fail(&c->h, off, KUMO_E_INVALID, "division by zero");
            return jv_float(fx / fy);
        }
        break;
    case JOP_FLOORDIV:
        if (ints) {
            if (y == 0) jh_fail(&c->h, off, KUMO_E_INVALID, "integer division or modulo by zero");
            if (x == INT64_MIN && y == -1) jh_fail(&c->h, off, KUMO_E_INVALID, "integer overflow in '//'");
            int64_t q = x / y;
            if ((x % y != 0) && ((x < 0) != (y < 0))) q--;
            return jv_int(q);
        }
        if (nums) {
            if (fy == 0) jh_fail(&c->h, off, KUMO_E_INVALID, "float floor division by zero");
            return jv_float(floor(fx / fy));
        }
        break;
    case JOP_MOD:
        if (ints) {
            if (y == 0) jh_fail(&c->h, off, KUMO_E_INVALID, "integer division or modulo by zero");
            if (y == -1) return jv_int(0);
            int64_t m = x % y;
            if (m != 0 && ((m < 0) != (y < 0))) m += y;
            return jv_int(m);
        }
        if (nums) {
            if (fy == 0) jh_fail(&c->h, off, KUMO_E_INVALID, "float modulo");
            double m = fmod(fx, fy);
            if (m != 0 && ((m < 0) != (fy < 0))) m += fy;
            return jv_float(m);
        }
        if (a.type == JV_STR) return jinja_percent_format(c, a, b);
        break;
    case JOP_POW:
        if (ints && y >= 0) {
            int64_t acc = 1, base = x, e = y;
            while (e > 0) {
                if (e & 1)
                    if (__builtin_mul_overflow(acc, base, &acc)) jh_fail(&c->h, off, KUMO_E_INVALID, "integer overflow in '**'");
                e >>= 1;
                if (e && __builtin_mul_overflow(base, base, &base)) jh_fail(&c->h, off, KUMO_E_INVALID, "integer overflow in '**'");
            }
            return jv_int(acc);
        }
        if (nums) {
            if (fx == 0 && fy < 0) jh_fail(&c->h, off, KUMO_E_INVALID, "0.0 cannot be raised to a negative power");
            return jv_float(pow(fx, fy));
        }
        break;
    default: break;
    }
    fail_operands(c, off, ops, a, b);
}

static bool contains(jctx *c, uint32_t off, jv container, jv item) {
    switch (container.type) {
    case JV_STR:
        if (item.type != JV_STR)
            jh_fail(&c->h, off, KUMO_E_INVALID, "'in <string>' requires string as left operand, not %s", jv_type_name(item));
        jh_charge(&c->h, container.u.s.n / 64);
        if (item.u.s.n == 0) return true;
        return memmem(container.u.s.p, container.u.s.n, item.u.s.p, item.u.s.n) != NULL;
    case JV_LIST:
        for (size_t i = 0; i < container.u.l->n; i++)
            if (jv_eq(&c->h, container.u.l->v[i], item)) return true;
        return false;
    case JV_DICT:
        if (container.u.d->is_namespace) break;
        {
            jv dummy;
            return jd_get(&c->h, container.u.d, item, &dummy);
        }
    case JV_UNDEF: return false;
    default: break;
    }
    jh_fail(&c->h, off, KUMO_E_INVALID, "argument of type '%s' is not iterable", jv_type_name(container));
}

static bool compare(jctx *c, uint32_t off, int op, jv a, jv b) {
    switch (op) {
    case JOP_EQ: return jv_eq(&c->h, a, b);
    case JOP_NE: return !jv_eq(&c->h, a, b);
    case JOP_IN: return contains(c, off, b, a);
    case JOP_NOTIN: return !contains(c, off, b, a);
    default: break;
    }
    if (a.type == JV_UNDEF) fail_undefined(c, off, a);
    if (b.type == JV_UNDEF) fail_undefined(c, off, b);
    int r = jv_cmp(&c->h, off, a, b);
    switch (op) {
    case JOP_LT: return r < 0;
    case JOP_LE: return r <= 0;
    case JOP_GT: return r > 0;
    default: return r >= 0;
    }
}

/* ---------- calls ---------- */
static void eval_args(jctx *c, const jnode *n, jscope *s, jargs *a) {
    memset(a, 0, sizeof *a);
    size_t npos = 0, nkw = 0;
    for (size_t i = 0; i < n->n; i++) {
        if (n->list[i]->kind == JN_KWARG) nkw++;
        else npos++;
    }
    if (npos) a->pos = jh_alloc(&c->h, npos * sizeof(jv));
    if (nkw) {
        a->kwn = jh_alloc(&c->h, nkw * sizeof(char *));
        a->kwv = jh_alloc(&c->h, nkw * sizeof(jv));
    }
    for (size_t i = 0; i < n->n; i++) {
        const jnode *x = n->list[i];
        if (x->kind == JN_KWARG) {
            a->kwn[a->nkw] = x->name;
            a->kwv[a->nkw++] = eval(c, x->a, s);
        } else {
            a->pos[a->npos++] = eval(c, x, s);
        }
    }
}

static jv capture(jctx *c, const jnode *body, jscope *s) {
    jbuf buf, *saved = c->out;
    jb_init(&buf, &c->h, c->max_output);
    c->out = &buf;
    exec(c, body, s);
    c->out = saved;
    return jb_value(&buf);
}

/* Binds params (JN_NAME / JN_KWARG with default) from args into scope. */
static void bind_params(jctx *c, const jnode *def, const char *what, const jargs *a, jscope *scope) {
    size_t used_kw = 0;
    for (size_t i = 0; i < def->n; i++) {
        const jnode *p = def->list[i];
        jv v;
        bool have = false;
        if (i < a->npos) {
            v = a->pos[i];
            have = true;
        }
        for (size_t k = 0; k < a->nkw; k++) {
            if (!strcmp(a->kwn[k], p->name)) {
                if (have) jh_fail(&c->h, c->at, KUMO_E_INVALID, "%s got multiple values for argument '%s'", what, p->name);
                v = a->kwv[k];
                have = true;
                used_kw++;
            }
        }
        if (!have) v = p->kind == JN_KWARG ? eval(c, p->a, scope) : jv_undef(p->name, strlen(p->name));
        jscope_set(c, scope, p->name, v);
    }
    jlist *varargs = jl_new(&c->h, 0);
    for (size_t i = def->n; i < a->npos; i++) jl_push(&c->h, varargs, a->pos[i]);
    jv va = jv_list(varargs);
    va.flags = JV_F_TUPLE;
    jscope_set(c, scope, "varargs", va);
    jdict *kwargs = jd_new(&c->h, 0);
    if (used_kw < a->nkw) {
        for (size_t k = 0; k < a->nkw; k++) {
            bool known = false;
            for (size_t i = 0; i < def->n && !known; i++) known = !strcmp(a->kwn[k], def->list[i]->name);
            if (!known) jd_set(&c->h, kwargs, jv_cstr(a->kwn[k]), a->kwv[k]);
        }
    }
    jscope_set(c, scope, "kwargs", jv_dict(kwargs));
}

static jv call_value(jctx *c, uint32_t off, jv fn, const jargs *a, jv *caller) {
    if (fn.type == JV_UNDEF) fail_undefined(c, off, fn);
    if (fn.type != JV_FUNC) jh_fail(&c->h, off, KUMO_E_INVALID, "'%s' object is not callable", jv_type_name(fn));
    const jfunc *f = fn.u.fn;
    c->at = off;
    switch (f->kind) {
    case JF_MACRO: {
        jscope *scope = jscope_new(c, f->scope);
        char what[96];
        snprintf(what, sizeof what, "macro '%s'", f->name);
        bind_params(c, f->node, what, a, scope);
        if (caller) jscope_set(c, scope, "caller", *caller);
        return capture(c, f->node->b, scope);
    }
    case JF_CALLER: {
        jscope *scope = jscope_new(c, f->scope);
        bind_params(c, f->node, "caller", a, scope);
        return capture(c, f->node->b, scope);
    }
    case JF_GLOBAL: return jinja_call_global(c, f->id, a);
    case JF_METHOD: return jinja_call_method(c, f->self, f->name, a);
    default: jh_fail(&c->h, off, KUMO_E_INVALID, "object is not callable");
    }
}

static jv eval_call(jctx *c, const jnode *n, jscope *s, jv *caller) {
    jargs a;
    const jnode *callee = n->a;
    if (callee->kind == JN_ATTR) {
        /* obj.method(...) without materializing a bound method */
        jv obj = eval(c, callee->a, s);
        c->at = callee->off;
        if (obj.type != JV_UNDEF && !(obj.type == JV_DICT && obj.u.d->is_namespace) && jinja_has_method(obj, callee->name)) {
            eval_args(c, n, s, &a);
            c->at = n->off;
            return jinja_call_method(c, obj, callee->name, &a);
        }
        jv fn = jinja_getattr(c, obj, callee->name, strlen(callee->name));
        eval_args(c, n, s, &a);
        return call_value(c, n->off, fn, &a, caller);
    }
    jv fn = eval(c, callee, s);
    eval_args(c, n, s, &a);
    return call_value(c, n->off, fn, &a, caller);
}

/* ---------- expressions ---------- */
static jv eval_inner(jctx *c, const jnode *n, jscope *s) {
    switch (n->kind) {
    case JN_CONST: return n->value;
    case JN_NAME: {
        jv v;
        if (scope_get(s, n->name, &v)) return v;
        int g = jinja_global_id(n->name);
        if (g >= 0) {
            jfunc *f = jh_alloc(&c->h, sizeof *f);
            f->kind = JF_GLOBAL;
            f->id = g;
            f->name = n->name;
            jv fv = {.type = JV_FUNC};
            fv.u.fn = f;
            return fv;
        }
        return jv_undef(n->name, strlen(n->name));
    }
    case JN_ATTR: {
        jv obj = eval(c, n->a, s);
        c->at = n->off;
        return jinja_getattr(c, obj, n->name, strlen(n->name));
    }
    case JN_ITEM: {
        jv obj = eval(c, n->a, s);
        jv key = eval(c, n->b, s);
        c->at = n->off;
        return jinja_getitem(c, obj, key);
    }
    case JN_SLICE: return eval_slice(c, n, s);
    case JN_CALL: return eval_call(c, n, s, NULL);
    case JN_FILTER: {
        jv v = eval(c, n->a, s);
        jargs a;
        eval_args(c, n, s, &a);
        c->at = n->off;
        if (n->id < 0) jh_fail(&c->h, n->off, KUMO_E_UNSUPPORTED, "unknown filter '%s'", n->name);
        return jinja_filter(c, n->id, v, &a);
    }
    case JN_TEST: {
        jv v = eval(c, n->a, s);
        jargs a;
        eval_args(c, n, s, &a);
        c->at = n->off;
        if (n->id < 0) jh_fail(&c->h, n->off, KUMO_E_UNSUPPORTED, "unknown test '%s'", n->name);
        bool r = jinja_test(c, n->id, v, &a);
        return jv_bool(n->flag ? !r : r);
    }
    case JN_NEG:
    case JN_POS: {
        jv v = eval(c, n->a, s);
        if (v.type == JV_INT || v.type == JV_BOOL) {
            int64_t x = as_i64(v);
            if (n->kind == JN_POS) return jv_int(x);
            if (x == INT64_MIN) jh_fail(&c->h, n->off, KUMO_E_INVALID, "integer overflow in unary '-'");
            return jv_int(-x);
        }
        if (v.type == JV_FLOAT) return jv_float(n->kind == JN_NEG ? -v.u.f : v.u.f);
        if (v.type == JV_UNDEF) fail_undefined(c, n->off, v);
        jh_fail(&c->h, n->off, KUMO_E_INVALID, "bad operand type for unary %c: '%s'", n->kind == JN_NEG ? '-' : '+', jv_type_name(v));
    }
    case JN_NOT: return jv_bool(!jv_truthy(eval(c, n->a, s)));
    case JN_AND: {
        jv a = eval(c, n->a, s);
        return jv_truthy(a) ? eval(c, n->b, s) : a;
    }
    case JN_OR: {
        jv a = eval(c, n->a, s);
        return jv_truthy(a) ? a : eval(c, n->b, s);
    }
    case JN_BINOP: {
        jv a = eval(c, n->a, s);
        jv b = eval(c, n->b, s);
        c->at = n->off;
        return arith(c, n->off, n->op, a, b);
    }
    case JN_COMPARE: {
        jv left = eval(c, n->list[0], s);
        for (size_t i = 1; i < n->n; i++) {
            jv right = eval(c, n->list[i], s);
            if (!compare(c, n->list[i]->off, n->ops[i - 1], left, right)) return jv_bool(false);
            left = right;
        }
        return jv_bool(true);
    }
    case JN_COND:
        if (jv_truthy(eval(c, n->a, s))) return eval(c, n->b, s);
        return n->c ? eval(c, n->c, s) : jv_undef("", 0);
    case JN_LIST:
    case JN_TUPLE: {
        jlist *l = jl_new(&c->h, n->n);
        for (size_t i = 0; i < n->n; i++) l->v[l->n++] = eval(c, n->list[i], s);
        jv v = jv_list(l);
        if (n->kind == JN_TUPLE) v.flags = JV_F_TUPLE;
        return v;
    }
    case JN_DICT: {
        jdict *d = jd_new(&c->h, n->n);
        for (size_t i = 0; i < n->n; i++) {
            jv k = eval(c, n->list[i], s);
            if (k.type == JV_LIST && !(k.flags & JV_F_TUPLE))
                jh_fail(&c->h, n->list[i]->off, KUMO_E_INVALID, "unhashable type: 'list'");
            if (k.type == JV_DICT) jh_fail(&c->h, n->list[i]->off, KUMO_E_INVALID, "unhashable type: 'dict'");
            jd_set(&c->h, d, k, eval(c, n->list2[i], s));
        }
        return jv_dict(d);
    }
    default: jh_fail(&c->h, n->off, KUMO_E_INVALID, "internal error: statement used as expression");
    }
}

static jv eval(jctx *c, const jnode *n, jscope *s) {
    enter(c, n);
    jv v = eval_inner(c, n, s);
    c->depth--;
    return v;
}

/* ---------- statements ---------- */
static void assign(jctx *c, const jnode *target, jv v, jscope *s) {
    if (target->kind == JN_NAME) {
        jscope_set(c, s, target->name, v);
        return;
    }
    if (target->kind == JN_ATTR) {
        jv ns;
        if (!scope_get(s, target->a->name, &ns) || ns.type != JV_DICT || !ns.u.d->is_namespace)
            jh_fail(&c->h, target->off, KUMO_E_INVALID, "cannot assign attribute on non-namespace object '%s'", target->a->name);
        jd_set(&c->h, ns.u.d, jv_cstr(target->name), v);
        return;
    }
    c->at = target->off;
    jlist *items = jinja_iter(c, v);
    if (items->n != target->n)
        jh_fail(&c->h, target->off, KUMO_E_INVALID, "%s values to unpack (expected %zu, got %zu)",
                items->n > target->n ? "too many" : "not enough", target->n, items->n);
    for (size_t i = 0; i < target->n; i++) assign(c, target->list[i], items->v[i], s);
}

static jv apply_filter_chain(jctx *c, const jnode *n, jv v, jscope *s) {
    for (size_t i = 0; i < n->n; i++) {
        const jnode *f = n->list[i];
        jargs a;
        eval_args(c, f, s, &a);
        c->at = f->off;
        if (f->id < 0) jh_fail(&c->h, f->off, KUMO_E_UNSUPPORTED, "unknown filter '%s'", f->name);
        v = jinja_filter(c, f->id, v, &a);
    }
    return v;
}

static int exec_for(jctx *c, const jnode *n, jscope *s) {
    jv seq = eval(c, n->b, s);
    c->at = n->b->off;
    if (seq.type == JV_NONE || (seq.type != JV_LIST && seq.type != JV_STR && seq.type != JV_DICT && seq.type != JV_UNDEF))
        jh_fail(&c->h, n->b->off, KUMO_E_INVALID, "'%s' object is not iterable", jv_type_name(seq));
    jlist *items = jinja_iter(c, seq);
    jscope *iter = jscope_new(c, s);
    if (n->c) { /* for x in xs if cond: filter first, so loop.length counts what is iterated */
        jlist *kept = jl_new(&c->h, 0);
        for (size_t i = 0; i < items->n; i++) {
            iter->n = 0;
            assign(c, n->a, items->v[i], iter);
            if (jv_truthy(eval(c, n->c, iter))) jl_push(&c->h, kept, items->v[i]);
        }
        items = kept;
    }
    if (items->n == 0) {
        if (n->e) return exec(c, n->e, jscope_new(c, s));
        return FLOW_NEXT;
    }
    jloop *loop = jh_alloc(&c->h, sizeof *loop);
    loop->items = items;
    loop->length = (int64_t)items->n;
    jv lv = {.type = JV_LOOP};
    lv.u.loop = loop;
    for (size_t i = 0; i < items->n; i++) {
        jh_charge(&c->h, 1);
        loop->index0 = (int64_t)i;
        iter->n = 0; /* every iteration starts with a fresh scope */
        jscope_set(c, iter, "loop", lv);
        assign(c, n->a, items->v[i], iter);
        if (exec(c, n->d, iter) == FLOW_BREAK) break;
    }
    return FLOW_NEXT;
}

static int exec_inner(jctx *c, const jnode *n, jscope *s) {
    switch (n->kind) {
    case JN_BODY:
        for (size_t i = 0; i < n->n; i++) {
            int r = exec(c, n->list[i], s);
            if (r != FLOW_NEXT) return r;
        }
        return FLOW_NEXT;
    case JN_TEXT: jb_put(c->out, n->value.u.s.p, n->value.u.s.n); return FLOW_NEXT;
    case JN_OUTPUT: jv_write_str(c->out, eval(c, n->a, s)); return FLOW_NEXT;
    case JN_IF:
        if (jv_truthy(eval(c, n->a, s))) return exec(c, n->b, s);
        return n->c ? exec(c, n->c, s) : FLOW_NEXT;
    case JN_FOR: return exec_for(c, n, s);
    case JN_SET: assign(c, n->a, eval(c, n->b, s), s); return FLOW_NEXT;
    case JN_SETBLOCK: {
        jv v = capture(c, n->b, s);
        assign(c, n->a, apply_filter_chain(c, n, v, s), s);
        return FLOW_NEXT;
    }
    case JN_FILTERBLOCK: {
        jv v = capture(c, n->b, s);
        jv_write_str(c->out, apply_filter_chain(c, n, v, s));
        return FLOW_NEXT;
    }
    case JN_MACRO: {
        jfunc *f = jh_alloc(&c->h, sizeof *f);
        f->kind = JF_MACRO;
        f->node = n;
        f->scope = s;
        f->name = n->name;
        jv v = {.type = JV_FUNC};
        v.u.fn = f;
        jscope_set(c, s, n->name, v);
        return FLOW_NEXT;
    }
    case JN_CALLBLOCK: {
        jfunc *f = jh_alloc(&c->h, sizeof *f);
        f->kind = JF_CALLER;
        f->node = n;
        f->scope = s;
        f->name = "caller";
        jv caller = {.type = JV_FUNC};
        caller.u.fn = f;
        jv_write_str(c->out, eval_call(c, n->a, s, &caller));
        return FLOW_NEXT;
    }
    case JN_WITH: {
        jscope *inner = jscope_new(c, s);
        for (size_t i = 0; i < n->n; i++) assign(c, n->list[i]->a, eval(c, n->list[i]->b, s), inner);
        return exec(c, n->b, inner);
    }
    case JN_BREAK: return FLOW_BREAK;
    case JN_CONTINUE: return FLOW_CONTINUE;
    case JN_DO: eval(c, n->a, s); return FLOW_NEXT;
    case JN_GENERATION: return exec(c, n->b, s);
    default: jh_fail(&c->h, n->off, KUMO_E_INVALID, "internal error: expression used as statement");
    }
}

static int exec(jctx *c, const jnode *n, jscope *s) {
    enter(c, n);
    int r = exec_inner(c, n, s);
    c->depth--;
    return r;
}

void jinja_exec(jctx *c, const jnode *root, jscope *scope) { exec(c, root, scope); }
