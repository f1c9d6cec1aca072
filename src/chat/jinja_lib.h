/* Helpers shared by the builtin modules of the Jinja interpreter: argument binding
 * (jinja_builtins.c), string operations (jinja_text.c) and filters/tests (jinja_filters.c). */
#ifndef KUMO_CHAT_JINJA_LIB_H
#define KUMO_CHAT_JINJA_LIB_H

#include "chat/jinja.h"

/* ---------- arguments ---------- */
/* Binds a call's arguments to the parameter names (NULL-terminated); out[i] is undefined when not
 * given. Fails on unknown keywords or too many positional arguments. */
void jarg_bind(jctx *c, const char *what, const char *const *params, const jargs *a, jv *out);
extern const char *const JARGS_NONE[]; /* no parameters */
static inline bool jarg_given(jv v) { return v.type != JV_UNDEF; }
jv jarg_str(jctx *c, const char *what, jv v);        /* v, failing unless it is a string */
int64_t jarg_int(jctx *c, const char *what, jv v);   /* int or bool, failing otherwise */
static inline jv jv_str_of(jctx *c, jv v) { return jv_to_str(&c->h, v); }

/* ---------- text (jinja_text.c); case mapping is ASCII-only ---------- */
static inline bool ascii_upper(char ch) { return ch >= 'A' && ch <= 'Z'; }
static inline bool ascii_lower(char ch) { return ch >= 'a' && ch <= 'z'; }
static inline char to_upper(char ch) { return ascii_lower(ch) ? (char)(ch - 32) : ch; }
static inline char to_lower(char ch) { return ascii_upper(ch) ? (char)(ch + 32) : ch; }
static inline bool is_alpha_or_nonascii(char ch) { return ascii_upper(ch) || ascii_lower(ch) || (unsigned char)ch >= 0x80; }

char *jtext_dup(jctx *c, jv s);                      /* NUL-terminated arena copy */
jv jtext_case(jctx *c, jv s, int mode);              /* 0 lower, 1 upper, 2 capitalize, 3 str.title */
jv jtext_title_words(jctx *c, jv s);                 /* Jinja's title filter */
jv jtext_strip(jctx *c, jv s, jv chars, bool left, bool right); /* chars undefined/none: whitespace */
jv jtext_split(jctx *c, jv s, jv sep, int64_t maxsplit, bool from_right);
jlist *jtext_splitlines(jctx *c, jv s, bool keepends);
jv jtext_replace(jctx *c, jv s, jv old, jv new_, int64_t count); /* count < 0: all */
jv jtext_join(jctx *c, const jlist *items, jv sep, bool strict); /* strict: items must be strings */
const char *jtext_find(const char *hay, size_t hn, const char *needle, size_t nn);
const char *jtext_rfind(jctx *c, const char *hay, size_t hn, const char *needle, size_t nn);
bool jtext_parse_int(const char *p, size_t n, int base, int64_t *out);  /* Python int(str, base) */
bool jtext_parse_float(jctx *c, const char *p, size_t n, double *out);  /* Python float(str) */
bool jtext_has_method(const char *name);
jv jtext_method(jctx *c, jv s, const char *name, const jargs *a);       /* str.<name>(...) */

/* ---------- filters (jinja_filters.c) ---------- */
jv jfilter_items(jctx *c, jv v);                     /* dict items as (key, value) tuples */

#endif
