/* Recursive-descent parser for the Jinja subset: tokens -> AST. Operator precedence follows
 * Jinja's own grammar (lowest first): `x if c else y`, or, and, not, comparisons (chainable, in,
 * not in), + -, ~, * / // %, **, unary - +, then postfix (.attr [index] (call)) and filters/tests
 * (`|f`, `is t`), which bind tighter than any binary operator. */
#include "chat/jinja.h"

#include <stdio.h>
#include <string.h>

#define MAX_NESTING 200

typedef struct parser {
    jheap *h;
    jtok *t;
    size_t n, i;
    int depth;
    int loop_depth;            /* for break/continue checks */
    const char *open_name;     /* innermost open block, for messages */
    uint32_t open_off;
} parser;

typedef struct nvec {
    jnode **v;
    size_t n, cap;
} nvec;

static void nv_push(parser *P, nvec *v, jnode *x) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        jnode **nv = jh_alloc(P->h, cap * sizeof *nv);
        if (v->n) memcpy(nv, v->v, v->n * sizeof *nv);
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = x;
}

static jtok *peek(parser *P) { return &P->t[P->i]; }
static jtok *peek2(parser *P) { return P->i + 1 < P->n ? &P->t[P->i + 1] : &P->t[P->n - 1]; }
static jtok *next(parser *P) {
    jtok *t = &P->t[P->i];
    if (t->kind != JT_EOF) P->i++;
    return t;
}
static bool tok_op(const jtok *t, int op) { return t->kind == JT_OP && t->op == op; }
static bool tok_name(const jtok *t, const char *s) { return t->kind == JT_NAME && strcmp(t->s, s) == 0; }

static const char *tok_desc(const jtok *t, char *buf, size_t cap) {
    switch (t->kind) {
    case JT_EOF: return "end of template";
    case JT_DATA: return "template text";
    case JT_VAR_BEGIN: return "'{{'";
    case JT_VAR_END: return "'}}'";
    case JT_BLOCK_BEGIN: return "'{%'";
    case JT_BLOCK_END: return "'%}'";
    case JT_NAME: snprintf(buf, cap, "'%s'", t->s); return buf;
    case JT_STRING: return "string literal";
    case JT_INT: return "integer literal";
    case JT_FLOAT: return "float literal";
    case JT_OP: snprintf(buf, cap, "'%s'", jop_text(t->op)); return buf;
    default: return "token";
    }
}

_Noreturn static void fail_at(parser *P, const jtok *t, const char *what) {
    char buf[96];
    jh_fail(P->h, t->off, KUMO_E_FORMAT, "%s, got %s", what, tok_desc(t, buf, sizeof buf));
}

static void expect_op(parser *P, int op, const char *context) {
    jtok *t = peek(P);
    if (!tok_op(t, op)) {
        char what[160];
        snprintf(what, sizeof what, "expected '%s' %s", jop_text(op), context);
        fail_at(P, t, what);
    }
    next(P);
}

static void expect_end(parser *P, const char *stmt) {
    jtok *t = peek(P);
    if (t->kind != JT_BLOCK_END) {
        char what[160];
        snprintf(what, sizeof what, "expected '%%}' to end the '%s' tag", stmt);
        fail_at(P, t, what);
    }
    next(P);
}

static jtok *expect_name(parser *P, const char *context) {
    jtok *t = peek(P);
    if (t->kind != JT_NAME) {
        char what[160];
        snprintf(what, sizeof what, "expected a name %s", context);
        fail_at(P, t, what);
    }
    return next(P);
}

static jnode *mk(parser *P, int kind, uint32_t off) {
    jnode *n = jh_alloc(P->h, sizeof *n);
    n->kind = (uint8_t)kind;
    n->off = off;
    n->id = -1;
    return n;
}

static void enter(parser *P, const jtok *t) {
    if (++P->depth > MAX_NESTING)
        jh_fail(P->h, t->off, KUMO_E_FORMAT, "template nested too deeply (more than %d levels)", MAX_NESTING);
}
static void leave(parser *P) { P->depth--; }

static void set_list(jnode *n, const nvec *v) {
    n->list = v->v;
    n->n = v->n;
}

/* ---------- expressions ---------- */
static jnode *parse_expression(parser *P, bool with_condexpr);
static jnode *parse_tuple(parser *P, bool with_condexpr, const char *extra_end, bool explicit_parens);
static jnode *parse_unary(parser *P, bool with_filter);
static jnode *parse_primary(parser *P);
static jnode *parse_postfix(parser *P, jnode *node);
static jnode *parse_filter_expr(parser *P, jnode *node);

static void parse_call_args(parser *P, jnode *call) {
    expect_op(P, JOP_LPAREN, "to start the arguments");
    nvec args = {0};
    bool kw_seen = false;
    while (!tok_op(peek(P), JOP_RPAREN)) {
        if (args.n) {
            expect_op(P, JOP_COMMA, "between arguments");
            if (tok_op(peek(P), JOP_RPAREN)) break;
        }
        jtok *t = peek(P);
        if (tok_op(t, JOP_MUL) || tok_op(t, JOP_POW))
            jh_fail(P->h, t->off, KUMO_E_UNSUPPORTED, "*args and **kwargs in calls are not supported");
        if (t->kind == JT_NAME && tok_op(peek2(P), JOP_ASSIGN)) {
            next(P);
            next(P);
            jnode *kw = mk(P, JN_KWARG, t->off);
            kw->name = t->s;
            kw->a = parse_expression(P, true);
            nv_push(P, &args, kw);
            kw_seen = true;
        } else {
            if (kw_seen) jh_fail(P->h, t->off, KUMO_E_FORMAT, "positional argument follows keyword argument");
            nv_push(P, &args, parse_expression(P, true));
        }
    }
    next(P);
    set_list(call, &args);
}

static jnode *parse_filter(parser *P, jnode *node) {
    /* at the name after '|' (or at the start of a filter/set block's filter list) */
    jtok *t = expect_name(P, "after '|' (a filter name)");
    jnode *f = mk(P, JN_FILTER, t->off);
    f->name = t->s;
    f->id = jinja_filter_id(t->s);
    f->a = node;
    if (tok_op(peek(P), JOP_LPAREN)) parse_call_args(P, f);
    return f;
}

static jnode *parse_test(parser *P, jnode *node) {
    jtok *is = next(P); /* 'is' */
    jnode *tn = mk(P, JN_TEST, is->off);
    if (tok_name(peek(P), "not")) {
        next(P);
        tn->flag = 1;
    }
    jtok *t = expect_name(P, "after 'is' (a test name)");
    tn->name = t->s;
    tn->id = jinja_test_id(t->s);
    tn->a = node;
    jtok *c = peek(P);
    if (tok_op(c, JOP_LPAREN)) {
        parse_call_args(P, tn);
    } else if ((c->kind == JT_NAME || c->kind == JT_STRING || c->kind == JT_INT || c->kind == JT_FLOAT ||
                tok_op(c, JOP_LBRACKET) || tok_op(c, JOP_LBRACE)) &&
               !tok_name(c, "else") && !tok_name(c, "or") && !tok_name(c, "and")) {
        if (tok_name(c, "is")) jh_fail(P->h, c->off, KUMO_E_FORMAT, "tests cannot be chained with 'is'");
        /* `x is divisibleby 3`: one argument without parentheses */
        jnode *arg = parse_postfix(P, parse_primary(P));
        tn->list = jh_alloc(P->h, sizeof *tn->list);
        tn->list[0] = arg;
        tn->n = 1;
    }
    return tn;
}

static jnode *parse_filter_expr(parser *P, jnode *node) {
    for (;;) {
        jtok *t = peek(P);
        if (tok_op(t, JOP_PIPE)) {
            next(P);
            node = parse_filter(P, node);
        } else if (tok_name(t, "is")) {
            node = parse_test(P, node);
        } else if (tok_op(t, JOP_LPAREN)) {
            jnode *call = mk(P, JN_CALL, t->off);
            call->a = node;
            parse_call_args(P, call);
            node = call;
        } else {
            return node;
        }
    }
}

static jnode *parse_subscript(parser *P, jnode *node) {
    jtok *t = next(P);
    if (t->op == JOP_DOT) {
        jtok *a = peek(P);
        if (a->kind == JT_NAME) {
            next(P);
            jnode *n = mk(P, JN_ATTR, a->off);
            n->a = node;
            n->name = a->s;
            return n;
        }
        if (a->kind == JT_INT) {
            next(P);
            jnode *n = mk(P, JN_ITEM, a->off);
            n->a = node;
            n->b = mk(P, JN_CONST, a->off);
            n->b->value = jv_int(a->i);
            return n;
        }
        fail_at(P, a, "expected an attribute name after '.'");
    }
    /* '[' */
    jnode *parts[3] = {NULL, NULL, NULL};
    int nparts = 1;
    if (!tok_op(peek(P), JOP_COLON)) parts[0] = parse_expression(P, true);
    while (tok_op(peek(P), JOP_COLON) && nparts < 3) {
        next(P);
        if (!tok_op(peek(P), JOP_RBRACKET) && !tok_op(peek(P), JOP_COLON)) parts[nparts] = parse_expression(P, true);
        nparts++;
    }
    expect_op(P, JOP_RBRACKET, "to close the subscript");
    if (nparts == 1) {
        jnode *n = mk(P, JN_ITEM, t->off);
        n->a = node;
        n->b = parts[0];
        return n;
    }
    jnode *n = mk(P, JN_SLICE, t->off);
    n->a = node;
    n->b = parts[0];
    n->c = parts[1];
    n->d = parts[2];
    return n;
}

static jnode *parse_postfix(parser *P, jnode *node) {
    for (;;) {
        jtok *t = peek(P);
        if (tok_op(t, JOP_DOT) || tok_op(t, JOP_LBRACKET)) {
            node = parse_subscript(P, node);
        } else if (tok_op(t, JOP_LPAREN)) {
            jnode *call = mk(P, JN_CALL, t->off);
            call->a = node;
            parse_call_args(P, call);
            node = call;
        } else {
            return node;
        }
    }
}

static jnode *parse_primary(parser *P) {
    jtok *t = peek(P);
    enter(P, t);
    jnode *n;
    switch (t->kind) {
    case JT_NAME:
        next(P);
        n = mk(P, JN_CONST, t->off);
        if (!strcmp(t->s, "true") || !strcmp(t->s, "True")) n->value = jv_bool(true);
        else if (!strcmp(t->s, "false") || !strcmp(t->s, "False")) n->value = jv_bool(false);
        else if (!strcmp(t->s, "none") || !strcmp(t->s, "None")) n->value = jv_none();
        else {
            n->kind = JN_NAME;
            n->name = t->s;
        }
        break;
    case JT_STRING: {
        next(P);
        n = mk(P, JN_CONST, t->off);
        if (peek(P)->kind != JT_STRING) {
            n->value = jv_str(t->s, t->n);
            break;
        }
        /* adjacent literals concatenate: 'a' 'b' */
        jbuf b;
        jb_init(&b, P->h, SIZE_MAX);
        jb_put(&b, t->s, t->n);
        while (peek(P)->kind == JT_STRING) {
            jtok *s = next(P);
            jb_put(&b, s->s, s->n);
        }
        n->value = jb_value(&b);
        break;
    }
    case JT_INT:
        next(P);
        n = mk(P, JN_CONST, t->off);
        n->value = jv_int(t->i);
        break;
    case JT_FLOAT:
        next(P);
        n = mk(P, JN_CONST, t->off);
        n->value = jv_float(t->f);
        break;
    case JT_OP:
        if (t->op == JOP_LPAREN) {
            next(P);
            n = parse_tuple(P, true, NULL, true);
            expect_op(P, JOP_RPAREN, "to close '('");
            break;
        }
        if (t->op == JOP_LBRACKET) {
            next(P);
            n = mk(P, JN_LIST, t->off);
            nvec items = {0};
            while (!tok_op(peek(P), JOP_RBRACKET)) {
                if (items.n) {
                    expect_op(P, JOP_COMMA, "between list items");
                    if (tok_op(peek(P), JOP_RBRACKET)) break;
                }
                nv_push(P, &items, parse_expression(P, true));
            }
            next(P);
            set_list(n, &items);
            break;
        }
        if (t->op == JOP_LBRACE) {
            next(P);
            n = mk(P, JN_DICT, t->off);
            nvec keys = {0}, vals = {0};
            while (!tok_op(peek(P), JOP_RBRACE)) {
                if (keys.n) {
                    expect_op(P, JOP_COMMA, "between dict items");
                    if (tok_op(peek(P), JOP_RBRACE)) break;
                }
                nv_push(P, &keys, parse_expression(P, true));
                expect_op(P, JOP_COLON, "after a dict key");
                nv_push(P, &vals, parse_expression(P, true));
            }
            next(P);
            set_list(n, &keys);
            n->list2 = vals.v;
            n->n2 = vals.n;
            break;
        }
        /* fallthrough */
    default:
        fail_at(P, t, "expected an expression");
    }
    leave(P);
    return n;
}

static jnode *parse_unary(parser *P, bool with_filter) {
    jtok *t = peek(P);
    enter(P, t);
    jnode *node;
    if (tok_op(t, JOP_SUB) || tok_op(t, JOP_ADD)) {
        next(P);
        node = mk(P, t->op == JOP_SUB ? JN_NEG : JN_POS, t->off);
        node->a = parse_unary(P, false);
    } else {
        node = parse_primary(P);
    }
    node = parse_postfix(P, node);
    if (with_filter) node = parse_filter_expr(P, node);
    leave(P);
    return node;
}

static jnode *binop(parser *P, const jtok *t, jnode *a, jnode *b) {
    jnode *n = mk(P, JN_BINOP, t->off);
    n->op = t->op;
    n->a = a;
    n->b = b;
    return n;
}

static jnode *parse_pow(parser *P) {
    jnode *left = parse_unary(P, true);
    while (tok_op(peek(P), JOP_POW)) {
        jtok *t = next(P);
        left = binop(P, t, left, parse_unary(P, true));
    }
    return left;
}

static jnode *parse_math2(parser *P) {
    jnode *left = parse_pow(P);
    for (;;) {
        jtok *t = peek(P);
        if (!(tok_op(t, JOP_MUL) || tok_op(t, JOP_DIV) || tok_op(t, JOP_FLOORDIV) || tok_op(t, JOP_MOD))) return left;
        next(P);
        left = binop(P, t, left, parse_pow(P));
    }
}

static jnode *parse_concat(parser *P) {
    jnode *left = parse_math2(P);
    while (tok_op(peek(P), JOP_TILDE)) {
        jtok *t = next(P);
        left = binop(P, t, left, parse_math2(P));
    }
    return left;
}

static jnode *parse_math1(parser *P) {
    jnode *left = parse_concat(P);
    for (;;) {
        jtok *t = peek(P);
        if (!(tok_op(t, JOP_ADD) || tok_op(t, JOP_SUB))) return left;
        next(P);
        left = binop(P, t, left, parse_concat(P));
    }
}

static jnode *parse_compare(parser *P) {
    jtok *start = peek(P);
    jnode *first = parse_math1(P);
    nvec operands = {0};
    uint8_t ops[64];
    size_t nops = 0;
    for (;;) {
        jtok *t = peek(P);
        int op;
        if (t->kind == JT_OP && (t->op == JOP_EQ || t->op == JOP_NE || t->op == JOP_LT || t->op == JOP_LE ||
                                 t->op == JOP_GT || t->op == JOP_GE)) {
            op = t->op;
            next(P);
        } else if (tok_name(t, "in")) {
            op = JOP_IN;
            next(P);
        } else if (tok_name(t, "not") && tok_name(peek2(P), "in")) {
            op = JOP_NOTIN;
            next(P);
            next(P);
        } else {
            break;
        }
        if (nops == sizeof ops) jh_fail(P->h, t->off, KUMO_E_FORMAT, "comparison chain too long");
        if (!operands.n) nv_push(P, &operands, first);
        ops[nops++] = (uint8_t)op;
        nv_push(P, &operands, parse_math1(P));
    }
    if (!nops) return first;
    jnode *n = mk(P, JN_COMPARE, start->off);
    set_list(n, &operands);
    n->ops = jh_alloc(P->h, nops);
    memcpy(n->ops, ops, nops);
    return n;
}

static jnode *parse_not(parser *P) {
    jtok *t = peek(P);
    if (tok_name(t, "not")) {
        enter(P, t);
        next(P);
        jnode *n = mk(P, JN_NOT, t->off);
        n->a = parse_not(P);
        leave(P);
        return n;
    }
    return parse_compare(P);
}

static jnode *parse_and(parser *P) {
    jnode *left = parse_not(P);
    while (tok_name(peek(P), "and")) {
        jtok *t = next(P);
        jnode *n = mk(P, JN_AND, t->off);
        n->a = left;
        n->b = parse_not(P);
        left = n;
    }
    return left;
}

static jnode *parse_or(parser *P) {
    jnode *left = parse_and(P);
    while (tok_name(peek(P), "or")) {
        jtok *t = next(P);
        jnode *n = mk(P, JN_OR, t->off);
        n->a = left;
        n->b = parse_and(P);
        left = n;
    }
    return left;
}

static jnode *parse_expression(parser *P, bool with_condexpr) {
    jtok *start = peek(P);
    enter(P, start);
    jnode *e = parse_or(P);
    while (with_condexpr && tok_name(peek(P), "if")) {
        jtok *t = next(P);
        jnode *n = mk(P, JN_COND, t->off);
        n->b = e;
        n->a = parse_or(P);
        if (tok_name(peek(P), "else")) {
            next(P);
            n->c = parse_expression(P, true);
        }
        e = n;
    }
    leave(P);
    return e;
}

static bool tuple_end(parser *P, const char *extra_end) {
    jtok *t = peek(P);
    return t->kind == JT_VAR_END || t->kind == JT_BLOCK_END || tok_op(t, JOP_RPAREN) ||
           (extra_end && tok_name(t, extra_end));
}

/* Comma-separated expressions: one without a comma is itself, otherwise a tuple. */
static jnode *parse_tuple(parser *P, bool with_condexpr, const char *extra_end, bool explicit_parens) {
    jtok *start = peek(P);
    nvec items = {0};
    bool is_tuple = false;
    for (;;) {
        if (items.n) {
            if (!tok_op(peek(P), JOP_COMMA)) break;
            next(P);
            is_tuple = true;
        }
        if (tuple_end(P, extra_end)) break;
        nv_push(P, &items, parse_expression(P, with_condexpr));
        if (!tok_op(peek(P), JOP_COMMA)) break;
    }
    if (!is_tuple && items.n == 1) return items.v[0];
    if (!items.n && !explicit_parens) fail_at(P, start, "expected an expression");
    jnode *n = mk(P, JN_TUPLE, start->off);
    set_list(n, &items);
    return n;
}

/* ---------- assignment targets ---------- */
static void check_target(parser *P, const jnode *t) {
    if (t->kind == JN_NAME) return;
    if (t->kind == JN_TUPLE) {
        for (size_t i = 0; i < t->n; i++) check_target(P, t->list[i]);
        return;
    }
    jh_fail(P->h, t->off, KUMO_E_FORMAT, "cannot assign to this expression (expected a name or a tuple of names)");
}

static jnode *parse_target_primary(parser *P) {
    jtok *t = peek(P);
    if (tok_op(t, JOP_LPAREN)) {
        enter(P, t);
        next(P);
        nvec items = {0};
        while (!tok_op(peek(P), JOP_RPAREN)) {
            if (items.n) {
                expect_op(P, JOP_COMMA, "between names");
                if (tok_op(peek(P), JOP_RPAREN)) break;
            }
            nv_push(P, &items, parse_target_primary(P));
        }
        next(P);
        leave(P);
        if (items.n == 1) return items.v[0];
        jnode *n = mk(P, JN_TUPLE, t->off);
        set_list(n, &items);
        return n;
    }
    jtok *name = expect_name(P, "as assignment target");
    jnode *n = mk(P, JN_NAME, name->off);
    n->name = name->s;
    return n;
}

/* name | name.attr (namespace, with_namespace only) | name, name... */
static jnode *parse_assign_target(parser *P, bool with_namespace, const char *extra_end) {
    jtok *t = peek(P);
    if (with_namespace && t->kind == JT_NAME && tok_op(peek2(P), JOP_DOT)) {
        next(P);
        next(P);
        jtok *attr = expect_name(P, "after '.' in a namespace assignment");
        jnode *n = mk(P, JN_ATTR, t->off);
        n->a = mk(P, JN_NAME, t->off);
        n->a->name = t->s;
        n->name = attr->s;
        return n;
    }
    nvec items = {0};
    bool is_tuple = false;
    for (;;) {
        nv_push(P, &items, parse_target_primary(P));
        if (!tok_op(peek(P), JOP_COMMA)) break;
        next(P);
        is_tuple = true;
        if (tok_op(peek(P), JOP_ASSIGN) || peek(P)->kind == JT_BLOCK_END || (extra_end && tok_name(peek(P), extra_end))) break;
    }
    jnode *target;
    if (!is_tuple) {
        target = items.v[0];
    } else {
        target = mk(P, JN_TUPLE, t->off);
        set_list(target, &items);
    }
    check_target(P, target);
    return target;
}

/* ---------- statements ---------- */
static jnode *parse_body(parser *P, const char *const *stops, const char **stopped);

static const char *const STOP_FOR[] = {"endfor", "else", NULL};
static const char *const STOP_ENDFOR[] = {"endfor", NULL};
static const char *const STOP_IF[] = {"elif", "else", "endif", NULL};
static const char *const STOP_ENDIF[] = {"endif", NULL};
static const char *const STOP_ENDSET[] = {"endset", NULL};
static const char *const STOP_ENDMACRO[] = {"endmacro", NULL};
static const char *const STOP_ENDCALL[] = {"endcall", NULL};
static const char *const STOP_ENDFILTER[] = {"endfilter", NULL};
static const char *const STOP_ENDWITH[] = {"endwith", NULL};
static const char *const STOP_ENDGEN[] = {"endgeneration", NULL};

/* Parses a body that must be closed; returns with P at the name token of the closing tag. */
static jnode *parse_block_body(parser *P, const char *opener, uint32_t off, const char *const *stops, const char **stopped) {
    const char *saved_name = P->open_name;
    uint32_t saved_off = P->open_off;
    P->open_name = opener;
    P->open_off = off;
    jnode *body = parse_body(P, stops, stopped);
    P->open_name = saved_name;
    P->open_off = saved_off;
    return body;
}

static jnode *parse_filter_chain(parser *P, jnode *node) {
    nvec chain = {0};
    nv_push(P, &chain, parse_filter(P, NULL));
    while (tok_op(peek(P), JOP_PIPE)) {
        next(P);
        nv_push(P, &chain, parse_filter(P, NULL));
    }
    set_list(node, &chain);
    return node;
}

static jnode *parse_for(parser *P, jtok *kw) {
    jnode *n = mk(P, JN_FOR, kw->off);
    n->a = parse_assign_target(P, false, "in");
    jtok *in = peek(P);
    if (!tok_name(in, "in")) fail_at(P, in, "expected 'in' after the loop variable");
    next(P);
    n->b = parse_tuple(P, false, "recursive", false);
    if (tok_name(peek(P), "if")) {
        next(P);
        n->c = parse_expression(P, true);
    }
    if (tok_name(peek(P), "recursive")) {
        jtok *r = next(P);
        jh_fail(P->h, r->off, KUMO_E_UNSUPPORTED, "recursive for loops are not supported");
    }
    expect_end(P, "for");
    const char *stopped;
    P->loop_depth++;
    n->d = parse_block_body(P, "for", kw->off, STOP_FOR, &stopped);
    P->loop_depth--;
    if (!strcmp(stopped, "else")) {
        next(P);
        expect_end(P, "else");
        n->e = parse_block_body(P, "for", kw->off, STOP_ENDFOR, &stopped);
    }
    next(P);
    expect_end(P, "endfor");
    return n;
}

static jnode *parse_if(parser *P, jtok *kw) {
    jnode *top = mk(P, JN_IF, kw->off), *cur = top;
    cur->a = parse_tuple(P, false, NULL, false);
    expect_end(P, "if");
    for (;;) {
        const char *stopped;
        jnode *body = parse_block_body(P, "if", kw->off, STOP_IF, &stopped);
        cur->b = body;
        jtok *t = next(P);
        if (!strcmp(stopped, "elif")) {
            jnode *elif = mk(P, JN_IF, t->off);
            elif->a = parse_tuple(P, false, NULL, false);
            expect_end(P, "elif");
            cur->c = elif;
            cur = elif;
            continue;
        }
        if (!strcmp(stopped, "else")) {
            expect_end(P, "else");
            cur->c = parse_block_body(P, "if", kw->off, STOP_ENDIF, &stopped);
            next(P);
        }
        expect_end(P, "endif");
        return top;
    }
}

static jnode *parse_set(parser *P, jtok *kw) {
    jnode *target = parse_assign_target(P, true, NULL);
    if (tok_op(peek(P), JOP_ASSIGN)) {
        next(P);
        jnode *n = mk(P, JN_SET, kw->off);
        n->a = target;
        n->b = parse_tuple(P, true, NULL, false);
        expect_end(P, "set");
        return n;
    }
    jnode *n = mk(P, JN_SETBLOCK, kw->off);
    n->a = target;
    if (tok_op(peek(P), JOP_PIPE)) {
        next(P);
        parse_filter_chain(P, n);
    }
    expect_end(P, "set");
    const char *stopped;
    n->b = parse_block_body(P, "set", kw->off, STOP_ENDSET, &stopped);
    next(P);
    expect_end(P, "endset");
    return n;
}

/* (a, b=default, ...) for macros and call blocks. */
static void parse_params(parser *P, jnode *n) {
    nvec params = {0};
    bool defaults = false;
    expect_op(P, JOP_LPAREN, "to start the parameter list");
    while (!tok_op(peek(P), JOP_RPAREN)) {
        if (params.n) {
            expect_op(P, JOP_COMMA, "between parameters");
            if (tok_op(peek(P), JOP_RPAREN)) break;
        }
        jtok *t = expect_name(P, "as parameter");
        if (tok_op(peek(P), JOP_ASSIGN)) {
            next(P);
            jnode *kw = mk(P, JN_KWARG, t->off);
            kw->name = t->s;
            kw->a = parse_expression(P, true);
            nv_push(P, &params, kw);
            defaults = true;
        } else {
            if (defaults) jh_fail(P->h, t->off, KUMO_E_FORMAT, "parameter without default follows parameter with default");
            jnode *nm = mk(P, JN_NAME, t->off);
            nm->name = t->s;
            nv_push(P, &params, nm);
        }
    }
    next(P);
    set_list(n, &params);
}

static jnode *parse_macro(parser *P, jtok *kw) {
    jnode *n = mk(P, JN_MACRO, kw->off);
    n->name = expect_name(P, "after 'macro'")->s;
    parse_params(P, n);
    expect_end(P, "macro");
    const char *stopped;
    int saved_loops = P->loop_depth;
    P->loop_depth = 0;
    n->b = parse_block_body(P, "macro", kw->off, STOP_ENDMACRO, &stopped);
    P->loop_depth = saved_loops;
    next(P);
    expect_end(P, "endmacro");
    return n;
}

static jnode *parse_call_block(parser *P, jtok *kw) {
    jnode *n = mk(P, JN_CALLBLOCK, kw->off);
    if (tok_op(peek(P), JOP_LPAREN)) parse_params(P, n);
    jtok *at = peek(P);
    n->a = parse_expression(P, true);
    if (n->a->kind != JN_CALL) jh_fail(P->h, at->off, KUMO_E_FORMAT, "expected a macro call after 'call'");
    expect_end(P, "call");
    const char *stopped;
    int saved_loops = P->loop_depth;
    P->loop_depth = 0;
    n->b = parse_block_body(P, "call", kw->off, STOP_ENDCALL, &stopped);
    P->loop_depth = saved_loops;
    next(P);
    expect_end(P, "endcall");
    return n;
}

static jnode *parse_with(parser *P, jtok *kw) {
    jnode *n = mk(P, JN_WITH, kw->off);
    nvec sets = {0};
    while (peek(P)->kind != JT_BLOCK_END) {
        if (sets.n) expect_op(P, JOP_COMMA, "between 'with' assignments");
        jtok *t = peek(P);
        jnode *s = mk(P, JN_SET, t->off);
        s->a = parse_assign_target(P, false, NULL);
        expect_op(P, JOP_ASSIGN, "in a 'with' assignment");
        s->b = parse_expression(P, true);
        nv_push(P, &sets, s);
    }
    next(P);
    set_list(n, &sets);
    const char *stopped;
    n->b = parse_block_body(P, "with", kw->off, STOP_ENDWITH, &stopped);
    next(P);
    expect_end(P, "endwith");
    return n;
}

static jnode *parse_statement(parser *P) {
    jtok *kw = peek(P);
    if (kw->kind != JT_NAME) fail_at(P, kw, "expected a statement name after '{%'");
    enter(P, kw);
    next(P);
    const char *k = kw->s;
    jnode *n;
    if (!strcmp(k, "for")) n = parse_for(P, kw);
    else if (!strcmp(k, "if")) n = parse_if(P, kw);
    else if (!strcmp(k, "set")) n = parse_set(P, kw);
    else if (!strcmp(k, "macro")) n = parse_macro(P, kw);
    else if (!strcmp(k, "call")) n = parse_call_block(P, kw);
    else if (!strcmp(k, "with")) n = parse_with(P, kw);
    else if (!strcmp(k, "filter")) {
        n = parse_filter_chain(P, mk(P, JN_FILTERBLOCK, kw->off));
        expect_end(P, "filter");
        const char *stopped;
        n->b = parse_block_body(P, "filter", kw->off, STOP_ENDFILTER, &stopped);
        next(P);
        expect_end(P, "endfilter");
    } else if (!strcmp(k, "generation")) {
        n = mk(P, JN_GENERATION, kw->off);
        expect_end(P, "generation");
        const char *stopped;
        n->b = parse_block_body(P, "generation", kw->off, STOP_ENDGEN, &stopped);
        next(P);
        expect_end(P, "endgeneration");
    } else if (!strcmp(k, "break") || !strcmp(k, "continue")) {
        if (!P->loop_depth) jh_fail(P->h, kw->off, KUMO_E_FORMAT, "'%s' outside of a for loop", k);
        n = mk(P, k[0] == 'b' ? JN_BREAK : JN_CONTINUE, kw->off);
        expect_end(P, k);
    } else if (!strcmp(k, "do")) {
        n = mk(P, JN_DO, kw->off);
        n->a = parse_tuple(P, true, NULL, false);
        expect_end(P, "do");
    } else if (!strcmp(k, "extends") || !strcmp(k, "block") || !strcmp(k, "include") || !strcmp(k, "import") ||
               !strcmp(k, "from") || !strcmp(k, "autoescape")) {
        jh_fail(P->h, kw->off, KUMO_E_UNSUPPORTED, "'%s' is not supported in chat templates", k);
    } else if (!strncmp(k, "end", 3) || !strcmp(k, "else") || !strcmp(k, "elif")) {
        if (P->open_name) {
            int line, col;
            jh_position(P->h->src, P->h->src_len, P->open_off, &line, &col);
            jh_fail(P->h, kw->off, KUMO_E_FORMAT, "unexpected '%s': the innermost open block is '%s' from %d:%d", k,
                    P->open_name, line, col);
        }
        jh_fail(P->h, kw->off, KUMO_E_FORMAT, "unexpected '%s' (no open block)", k);
    } else {
        jh_fail(P->h, kw->off, KUMO_E_UNSUPPORTED, "unknown tag '%s'", k);
    }
    leave(P);
    return n;
}

static jnode *parse_body(parser *P, const char *const *stops, const char **stopped) {
    jnode *body = mk(P, JN_BODY, peek(P)->off);
    nvec items = {0};
    for (;;) {
        jtok *t = peek(P);
        if (t->kind == JT_DATA) {
            next(P);
            jnode *x = mk(P, JN_TEXT, t->off);
            x->value = jv_str(t->s, t->n);
            nv_push(P, &items, x);
        } else if (t->kind == JT_VAR_BEGIN) {
            next(P);
            jnode *x = mk(P, JN_OUTPUT, t->off);
            x->a = parse_tuple(P, true, NULL, false);
            if (peek(P)->kind != JT_VAR_END) fail_at(P, peek(P), "expected '}}' to end the expression");
            next(P);
            nv_push(P, &items, x);
        } else if (t->kind == JT_BLOCK_BEGIN) {
            jtok *name = peek2(P);
            if (stops && name->kind == JT_NAME) {
                for (size_t i = 0; stops[i]; i++) {
                    if (!strcmp(name->s, stops[i])) {
                        next(P);
                        *stopped = stops[i];
                        set_list(body, &items);
                        return body;
                    }
                }
            }
            next(P);
            nv_push(P, &items, parse_statement(P));
        } else if (t->kind == JT_EOF) {
            if (stops) {
                const char *closer = stops[0];
                for (size_t i = 0; stops[i]; i++)
                    if (!strncmp(stops[i], "end", 3)) closer = stops[i];
                jh_fail(P->h, P->open_off, KUMO_E_FORMAT, "'%s' block is never closed (expected '{%% %s %%}' before the end of the template)",
                        P->open_name, closer);
            }
            set_list(body, &items);
            return body;
        } else {
            fail_at(P, t, "unexpected token outside of a tag");
        }
    }
}

jnode *jinja_parse(jheap *h) {
    size_t n;
    jtok *toks = jinja_lex(h, &n);
    parser P = {.h = h, .t = toks, .n = n};
    return parse_body(&P, NULL, NULL);
}
