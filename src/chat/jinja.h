/* Internal interface of the Jinja subset interpreter behind chat templates (src/chat).
 *
 * Pipeline: jinja_lex.c turns the template source into tokens (whitespace control, trim_blocks and
 * lstrip_blocks already applied to the text between tags), jinja_parse.c builds an AST, and
 * jinja_eval.c walks it over dynamically typed values (jv) with the filters and tests of
 * jinja_filters.c, the string methods of jinja_text.c and the globals and other methods of
 * jinja_builtins.c (their shared helpers: jinja_lib.h).
 *
 * Memory: every object of one phase lives in one arena (jheap): the AST in the template's arena,
 * all values of one rendering in that rendering's arena. Nothing is freed individually; the arena
 * is dropped at the end. This makes closures (macros, caller) and cyclic namespaces safe and leaks
 * impossible; the arena has a byte budget so hostile templates fail instead of exhausting memory.
 *
 * Errors: any failure (syntax, type, limits, raise_exception) calls jh_fail, which fills the
 * heap's kumo_error with "line:col: message" and longjmps to the phase's entry point, which drops
 * the arena. Code between entry and exit therefore never checks for NULL or error codes. */
#ifndef KUMO_CHAT_JINJA_H
#define KUMO_CHAT_JINJA_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "kumo.h"
#include "util/err.h"

/* ---------- arena and failure exit ---------- */
typedef struct jarena_chunk jarena_chunk;

typedef struct jheap {
    jarena_chunk *chunks;
    size_t used;            /* bytes taken from malloc so far */
    size_t budget;          /* jh_alloc fails beyond this */
    jmp_buf *jmp;           /* where jh_fail jumps */
    kumo_error err;         /* filled by jh_fail */
    const char *src;        /* normalized template source: node offsets point into it */
    size_t src_len;
    uint64_t steps, max_steps; /* work counter (nodes, iterations, bytes/64 scanned) */
    char *tail;             /* reserved region of the latest concatenation result (jh_concat) */
    size_t tail_used, tail_cap;
} jheap;

#define JPOS_NONE UINT32_MAX

void jh_init(jheap *h, size_t budget, uint64_t max_steps);
void jh_release(jheap *h);               /* frees every chunk; the heap may be reused after init */
void *jh_alloc(jheap *h, size_t n);      /* zeroed, aligned, never NULL (fails instead) */
char *jh_strndup(jheap *h, const char *s, size_t n); /* NUL-terminated copy */
_Noreturn void jh_fail(jheap *h, uint32_t off, int code, const char *fmt, ...) KUMO_PRINTF(4, 5);
/* Counts work; fails with "step limit" once max_steps is passed. */
static inline void jh_charge(jheap *h, uint64_t units) {
    h->steps += units;
    if (h->steps > h->max_steps) jh_fail(h, JPOS_NONE, KUMO_E_INVALID, "evaluation step limit (%llu) exceeded", (unsigned long long)h->max_steps);
}
/* 1-based line and column (bytes) of a source offset. */
void jh_position(const char *src, size_t len, uint32_t off, int *line, int *col);

/* ---------- values ---------- */
enum jv_type { JV_UNDEF, JV_NONE, JV_BOOL, JV_INT, JV_FLOAT, JV_STR, JV_LIST, JV_DICT, JV_FUNC, JV_LOOP };
#define JV_F_TUPLE 1u      /* a list that prints and compares as a Python tuple */

typedef struct jlist jlist;
typedef struct jdict jdict;
typedef struct jfunc jfunc;
typedef struct jloop jloop;
typedef struct jnode jnode;
typedef struct jscope jscope;

typedef struct jv {
    uint8_t type;
    uint8_t flags;
    union {
        bool b;
        int64_t i;
        double f;
        struct { const char *p; size_t n; } s; /* STR: bytes (UTF-8), not NUL-terminated;
                                                  UNDEF: the missing name, for messages */
        jlist *l;
        jdict *d;
        jfunc *fn;
        jloop *loop;
    } u;
} jv;

struct jlist { size_t n, cap; jv *v; };
/* Ordered mapping (insertion order, like Python dicts). A namespace() object is a dict whose
 * entries `{% set ns.x = ... %}` may change; other dicts are never modified once built. */
struct jdict { size_t n, cap; jv *k, *v; bool is_namespace; };

enum jfunc_kind { JF_MACRO, JF_CALLER, JF_GLOBAL, JF_METHOD };
struct jfunc {
    uint8_t kind;
    int id;               /* JF_GLOBAL: jinja_global id */
    const char *name;     /* macro or method name */
    jv self;              /* JF_METHOD: the receiver */
    const jnode *node;    /* JF_MACRO: the macro statement; JF_CALLER: the call block */
    jscope *scope;        /* scope the macro / call block was defined in */
};

struct jloop {
    int64_t index0, length;
    const jlist *items;   /* the (filtered) sequence being iterated */
    int depth0;
};

static inline jv jv_undef(const char *name, size_t n) { jv v = {.type = JV_UNDEF}; v.u.s.p = name; v.u.s.n = n; return v; }
static inline jv jv_none(void) { jv v = {.type = JV_NONE}; return v; }
static inline jv jv_bool(bool b) { jv v = {.type = JV_BOOL}; v.u.b = b; return v; }
static inline jv jv_int(int64_t i) { jv v = {.type = JV_INT}; v.u.i = i; return v; }
static inline jv jv_float(double f) { jv v = {.type = JV_FLOAT}; v.u.f = f; return v; }
static inline jv jv_str(const char *p, size_t n) { jv v = {.type = JV_STR}; v.u.s.p = p; v.u.s.n = n; return v; }
static inline jv jv_list(jlist *l) { jv v = {.type = JV_LIST}; v.u.l = l; return v; }
static inline jv jv_dict(jdict *d) { jv v = {.type = JV_DICT}; v.u.d = d; return v; }

/* a + b as a new string. When a is (a suffix of) the latest concatenation result, b is appended
 * in place: building a string piece by piece (`ns.s = ns.s + x`, long `+` chains) stays linear
 * in time and memory. Earlier views stay valid because reserved bytes are only ever appended. */
jv jh_concat(jheap *h, const char *ap, size_t an, const char *bp, size_t bn);
jv jv_cstr(const char *s);                     /* view of a NUL-terminated string */
jlist *jl_new(jheap *h, size_t cap);
void jl_push(jheap *h, jlist *l, jv v);
jv jv_tuple2(jheap *h, jv a, jv b);
jdict *jd_new(jheap *h, size_t cap);
void jd_set(jheap *h, jdict *d, jv key, jv val);  /* replaces an equal key in place */
bool jd_get(jheap *h, const jdict *d, jv key, jv *out);
bool jd_get_name(const jdict *d, const char *name, size_t n, jv *out); /* string key lookup */

bool jv_truthy(jv v);
bool jv_is_number(jv v);                        /* bool, int or float */
double jv_num(jv v);                            /* bool/int/float as double */
const char *jv_type_name(jv v);                 /* Python's names: str, int, list, dict, NoneType… */
bool jv_eq(jheap *h, jv a, jv b);               /* Python == */
/* Python ordering: <0, 0, >0; fails with a TypeError-like message when not comparable. */
int jv_cmp(jheap *h, uint32_t off, jv a, jv b);

/* ---------- text buffers (arena-backed, with a size limit) ---------- */
typedef struct jbuf {
    jheap *h;
    char *p;
    size_t n, cap, limit;
} jbuf;
void jb_init(jbuf *b, jheap *h, size_t limit);
void jb_put(jbuf *b, const char *s, size_t n);
static inline void jb_putc(jbuf *b, char c) { jb_put(b, &c, 1); }
static inline void jb_puts(jbuf *b, const char *s);
void jb_printf(jbuf *b, const char *fmt, ...) KUMO_PRINTF(2, 3);
jv jb_value(const jbuf *b);                      /* the buffer's text as a string value */

/* str(v) and repr(v) as Python prints them ("None", "True", "['a', 1]", "1.0"). */
void jv_write_str(jbuf *b, jv v);
void jv_write_repr(jbuf *b, jv v);
jv jv_to_str(jheap *h, jv v);                   /* strings are returned as they are */
void jfmt_float(double f, char out[40]);        /* Python repr of a float */

/* json.dumps(v, ensure_ascii, indent, separators, sort_keys) as HF's tojson filter calls it. */
typedef struct jjson_opts {
    bool ensure_ascii;
    bool sort_keys;
    int indent;                 /* < 0: none (single line) */
    const char *item_sep, *key_sep; /* NULL: Python's defaults for the indent setting */
    size_t item_sep_n, key_sep_n;
} jjson_opts;
void jv_write_json(jheap *h, uint32_t off, jbuf *b, jv v, const jjson_opts *o, int level);

/* ---------- UTF-8 helpers ---------- */
size_t utf8_char_len(const char *p, size_t n);  /* bytes of the character at p (1 for bad bytes) */
size_t utf8_count(const char *p, size_t n);     /* characters */
size_t utf8_space_len(const char *p, size_t n); /* bytes of the Unicode whitespace char at p, or 0 */
size_t utf8_rstrip_len(const char *p, size_t n);/* length after removing trailing whitespace */
size_t utf8_lstrip_off(const char *p, size_t n);/* offset after leading whitespace */

static inline void jb_puts(jbuf *b, const char *s) {
    size_t n = 0;
    while (s[n]) n++;
    jb_put(b, s, n);
}

/* ---------- tokens ---------- */
enum jtok_kind {
    JT_EOF, JT_DATA, JT_VAR_BEGIN, JT_VAR_END, JT_BLOCK_BEGIN, JT_BLOCK_END,
    JT_NAME, JT_STRING, JT_INT, JT_FLOAT, JT_OP,
};
enum jop {
    JOP_NONE, JOP_ADD, JOP_SUB, JOP_MUL, JOP_DIV, JOP_FLOORDIV, JOP_MOD, JOP_POW, JOP_TILDE,
    JOP_LBRACKET, JOP_RBRACKET, JOP_LPAREN, JOP_RPAREN, JOP_LBRACE, JOP_RBRACE,
    JOP_EQ, JOP_NE, JOP_GT, JOP_GE, JOP_LT, JOP_LE, JOP_ASSIGN, JOP_DOT, JOP_COLON, JOP_PIPE,
    JOP_COMMA, JOP_SEMICOLON,
    /* comparison-only codes used in the AST */
    JOP_IN, JOP_NOTIN,
};
typedef struct jtok {
    uint8_t kind;
    uint8_t op;            /* JT_OP */
    uint32_t off;          /* source offset of the token */
    const char *s;         /* JT_DATA, JT_STRING (decoded), JT_NAME (NUL-terminated) */
    size_t n;
    int64_t i;             /* JT_INT */
    double f;              /* JT_FLOAT */
} jtok;

/* Tokenizes src (already normalized, see jinja_normalize) into an arena array ending in JT_EOF. */
jtok *jinja_lex(jheap *h, size_t *n_tokens);
/* Newlines \r\n and \r become \n; one trailing newline is dropped (Jinja's keep_trailing_newline
 * = false). Returns an arena copy and sets h->src/src_len to it. */
void jinja_normalize(jheap *h, const char *src, size_t len);
const char *jop_text(int op);

/* ---------- AST ---------- */
enum jnode_kind {
    /* expressions */
    JN_CONST,     /* value */
    JN_NAME,      /* name */
    JN_ATTR,      /* a.name */
    JN_ITEM,      /* a[b] */
    JN_SLICE,     /* a[b:c:d], absent parts NULL */
    JN_CALL,      /* a(list...): positional nodes then JN_KWARG nodes */
    JN_FILTER,    /* a | name(list...); a is NULL in filter and set blocks */
    JN_TEST,      /* a is [not] name(list...); flag = negated */
    JN_NEG, JN_POS, JN_NOT,  /* unary on a */
    JN_BINOP,     /* a op b (+ - * / // % ** ~) */
    JN_AND, JN_OR,
    JN_COMPARE,   /* list[0] ops[0] list[1] ops[1] list[2]...: chained comparison */
    JN_COND,      /* b if a else c (c may be NULL) */
    JN_LIST, JN_TUPLE, /* list */
    JN_DICT,      /* list = keys, list2 = values */
    JN_KWARG,     /* name=a (call arguments, macro defaults, with-assignments) */
    /* statements */
    JN_BODY,      /* list */
    JN_TEXT,      /* value (string) */
    JN_OUTPUT,    /* {{ a }} */
    JN_IF,        /* if a: b else c (c: body, another JN_IF for elif, or NULL) */
    JN_FOR,       /* for a in b [if c]: d else e; flag = recursive */
    JN_SET,       /* a = b; a is JN_NAME, JN_ATTR (namespace) or JN_TUPLE of names */
    JN_SETBLOCK,  /* a = captured b, through the filters in list */
    JN_MACRO,     /* name(list: JN_NAME or JN_KWARG with default): b */
    JN_CALLBLOCK, /* call a (a JN_CALL) with caller(list params) = b */
    JN_FILTERBLOCK, /* b captured and passed through the filters in list */
    JN_WITH,      /* list of JN_KWARG assignments, body b */
    JN_BREAK, JN_CONTINUE,
    JN_DO,        /* evaluate a, discard */
    JN_GENERATION, /* {% generation %} b: HF's assistant-mask marker, renders b */
};

struct jnode {
    uint8_t kind;
    uint8_t op;           /* JN_BINOP operator */
    uint8_t flag;
    uint32_t off;         /* source offset, for line:col in messages */
    int id;               /* JN_FILTER / JN_TEST: builtin id, -1 if unknown (fails when used) */
    const char *name;     /* NUL-terminated */
    jv value;
    jnode *a, *b, *c, *d, *e;
    jnode **list;
    size_t n;
    jnode **list2;
    size_t n2;
    uint8_t *ops;         /* JN_COMPARE: n-1 operators */
};

/* Parses the normalized source in h into an AST in h's arena. Fails (longjmp) on syntax errors. */
jnode *jinja_parse(jheap *h);

/* ---------- evaluation ---------- */
typedef struct jctx {
    jheap h;              /* the rendering's arena; h.src is the template source */
    jbuf *out;            /* where text goes now (the result, or a capture) */
    size_t max_output;
    int depth, max_depth;
    uint32_t at;          /* offset of the expression being evaluated (for builtin errors) */
    time_t now;           /* strftime_now's clock */
} jctx;

struct jscope {
    jscope *parent;
    size_t n, cap;
    const char **names;
    jv *vals;
};
jscope *jscope_new(jctx *c, jscope *parent);
void jscope_set(jctx *c, jscope *s, const char *name, jv v);

/* Renders the AST with root as the outermost variable scope, appending to c->out. */
void jinja_exec(jctx *c, const jnode *root, jscope *scope);

/* Call arguments after evaluation: positional values, then keyword (name, value) pairs. */
typedef struct jargs {
    jv *pos;
    size_t npos;
    const char **kwn;
    jv *kwv;
    size_t nkw;
} jargs;

/* ---------- builtins (jinja_filters.c, jinja_builtins.c) ---------- */
int jinja_filter_id(const char *name);   /* -1 if unknown */
int jinja_test_id(const char *name);
int jinja_global_id(const char *name);
const char *jinja_filter_name(int id);
const char *jinja_test_name(int id);
jv jinja_filter(jctx *c, int id, jv v, const jargs *a);
bool jinja_test(jctx *c, int id, jv v, const jargs *a);
jv jinja_call_global(jctx *c, int id, const jargs *a);
/* The method `name` of v (str, dict, list methods, loop.cycle): *found = false if v has none. */
bool jinja_has_method(jv v, const char *name);
jv jinja_call_method(jctx *c, jv self, const char *name, const jargs *a);
/* Attribute access helpers shared by eval and builtins (selectattr, map, join attribute=...). */
jv jinja_getattr(jctx *c, jv obj, const char *name, size_t n);
jv jinja_getitem(jctx *c, jv obj, jv key);

/* Python's printf-style formatting: fmt % args (args: a tuple or one value). */
jv jinja_percent_format(jctx *c, jv fmt, jv args);

/* Iteration: the items of a sequence as a list (strings → characters, dicts → keys,
 * undefined → empty). Fails for values that are not iterable. */
jlist *jinja_iter(jctx *c, jv v);

#endif
