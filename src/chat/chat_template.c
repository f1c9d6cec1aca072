/* Public chat-template API: parsing, rendering with the conversation as template variables,
 * llama.cpp's BOS/EOS stripping. */
#include "chat/chat_template.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "chat/jinja.h"

#define MAX_TEMPLATE_BYTES ((size_t)8 << 20)
#define PARSE_BUDGET_BASE ((size_t)64 << 20)
#define DEFAULT_MAX_OUTPUT ((size_t)32 << 20)
#define DEFAULT_MAX_MEMORY ((size_t)256 << 20)
#define DEFAULT_MAX_STEPS 50000000ull
#define DEFAULT_MAX_DEPTH 400
#define MAX_JSON_DEPTH 200

struct chat_template {
    jheap h; /* owns the normalized source and the AST */
    const jnode *root;
};

void chat_render_opts_init(chat_render_opts *opts) { memset(opts, 0, sizeof *opts); }

/* Runs fn with h's failure exit armed. Only this function calls setjmp; it touches no local state
 * after a longjmp, so nothing can be clobbered. Returns false when fn failed (h->err says why). */
static bool protected_run(jheap *h, void (*fn)(void *), void *arg) {
    jmp_buf jmp;
    h->jmp = &jmp;
    if (setjmp(jmp)) {
        h->jmp = NULL;
        return false;
    }
    fn(arg);
    h->jmp = NULL;
    return true;
}

struct parse_job {
    chat_template *t;
    const char *src;
    size_t len;
};

static void parse_job_run(void *arg) {
    struct parse_job *job = arg;
    jinja_normalize(&job->t->h, job->src, job->len);
    job->t->root = jinja_parse(&job->t->h);
}

chat_template *chat_template_parse(const char *src, size_t len, kumo_error *err) {
    if (!src) {
        kumo_err(err, KUMO_E_INVALID, "chat template: no template source");
        return NULL;
    }
    if (len > MAX_TEMPLATE_BYTES) {
        kumo_err(err, KUMO_E_INVALID, "chat template: %zu bytes is larger than the %zu-byte limit", len, MAX_TEMPLATE_BYTES);
        return NULL;
    }
    chat_template *t = calloc(1, sizeof *t);
    if (!t) {
        kumo_err(err, KUMO_E_NOMEM, "chat template: out of memory");
        return NULL;
    }
    jh_init(&t->h, PARSE_BUDGET_BASE + 64 * len, UINT64_MAX);
    struct parse_job job = {t, src, len};
    if (!protected_run(&t->h, parse_job_run, &job)) {
        if (err) {
            *err = t->h.err;
            kumo_err_prefix(err, "chat template");
        }
        jh_release(&t->h);
        free(t);
        return NULL;
    }
    return t;
}

void chat_template_free(chat_template *tmpl) {
    if (!tmpl) return;
    jh_release(&tmpl->h);
    free(tmpl);
}

/* ---------- cJSON -> values ---------- */
static jv from_json(jheap *h, const cJSON *j, int depth) {
    if (depth > MAX_JSON_DEPTH) jh_fail(h, JPOS_NONE, KUMO_E_INVALID, "message JSON nested deeper than %d levels", MAX_JSON_DEPTH);
    if (!j || cJSON_IsNull(j)) return jv_none();
    if (cJSON_IsBool(j)) return jv_bool(cJSON_IsTrue(j));
    if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        /* cJSON keeps no integer/float distinction: integral values within 2^53 are ints */
        if (isfinite(d) && d == floor(d) && fabs(d) <= 9007199254740992.0) return jv_int((int64_t)d);
        return jv_float(d);
    }
    if (cJSON_IsString(j) || cJSON_IsRaw(j)) {
        const char *s = j->valuestring ? j->valuestring : "";
        return jv_str(s, strlen(s));
    }
    if (cJSON_IsArray(j)) {
        jlist *l = jl_new(h, (size_t)cJSON_GetArraySize(j));
        for (const cJSON *e = j->child; e; e = e->next) jl_push(h, l, from_json(h, e, depth + 1));
        return jv_list(l);
    }
    if (cJSON_IsObject(j)) {
        jdict *d = jd_new(h, (size_t)cJSON_GetArraySize(j));
        for (const cJSON *e = j->child; e; e = e->next) {
            const char *k = e->string ? e->string : "";
            jd_set(h, d, jv_str(k, strlen(k)), from_json(h, e, depth + 1));
        }
        return jv_dict(d);
    }
    return jv_none();
}

static size_t or_default(size_t v, size_t d) { return v ? v : d; }

struct render_job {
    jctx *c;
    const chat_template *tmpl;
    const cJSON *messages;
    const chat_render_opts *opts;
    jbuf *text;
};

static void render_job_run(void *arg) {
    struct render_job *job = arg;
    jctx *c = job->c;
    const chat_render_opts *opts = job->opts;
    jscope *root = jscope_new(c, NULL);
    jscope_set(c, root, "messages", job->messages ? from_json(&c->h, job->messages, 0) : jv_list(jl_new(&c->h, 0)));
    jscope_set(c, root, "add_generation_prompt", jv_bool(opts->add_generation_prompt));
    jscope_set(c, root, "bos_token", jv_cstr(opts->bos_token ? opts->bos_token : ""));
    jscope_set(c, root, "eos_token", jv_cstr(opts->eos_token ? opts->eos_token : ""));
    jscope_set(c, root, "tools", opts->tools ? from_json(&c->h, opts->tools, 0) : jv_none());
    if (opts->extra) {
        for (const cJSON *e = opts->extra->child; e; e = e->next)
            if (e->string) jscope_set(c, root, jh_strndup(&c->h, e->string, strlen(e->string)), from_json(&c->h, e, 0));
    }
    jb_init(job->text, &c->h, c->max_output);
    c->out = job->text;
    jinja_exec(c, job->tmpl->root, root);
}

int chat_template_apply(const chat_template *tmpl, const cJSON *messages, const chat_render_opts *opts, char **out,
                        size_t *out_len, kumo_error *err) {
    *out = NULL;
    if (out_len) *out_len = 0;
    if (!tmpl) return kumo_err(err, KUMO_E_INVALID, "chat template: no template");
    if (messages && !cJSON_IsArray(messages)) return kumo_err(err, KUMO_E_INVALID, "chat template: messages must be a JSON array");
    chat_render_opts defaults;
    if (!opts) {
        chat_render_opts_init(&defaults);
        opts = &defaults;
    }
    if (opts->extra && !cJSON_IsObject(opts->extra))
        return kumo_err(err, KUMO_E_INVALID, "chat template: extra variables must be a JSON object");
    jctx *c = calloc(1, sizeof *c);
    if (!c) return kumo_err(err, KUMO_E_NOMEM, "chat template: out of memory");
    jh_init(&c->h, or_default(opts->limits.max_memory, DEFAULT_MAX_MEMORY),
            opts->limits.max_steps ? opts->limits.max_steps : DEFAULT_MAX_STEPS);
    c->h.src = tmpl->h.src;
    c->h.src_len = tmpl->h.src_len;
    c->max_output = or_default(opts->limits.max_output, DEFAULT_MAX_OUTPUT);
    c->max_depth = opts->limits.max_depth > 0 ? opts->limits.max_depth : DEFAULT_MAX_DEPTH;
    c->now = opts->now ? opts->now : time(NULL);
    jbuf text;
    struct render_job job = {c, tmpl, messages, opts, &text};
    if (!protected_run(&c->h, render_job_run, &job)) {
        int code = c->h.err.code;
        if (err) {
            *err = c->h.err;
            kumo_err_prefix(err, "chat template");
        }
        jh_release(&c->h);
        free(c);
        return code ? code : KUMO_E_INVALID;
    }
    const char *bos = opts->bos_token ? opts->bos_token : "", *eos = opts->eos_token ? opts->eos_token : "";
    const char *p = text.n ? text.p : "";
    size_t n = text.n, bl = strlen(bos), el = strlen(eos);
    if (opts->strip_bos && bl && n >= bl && !memcmp(p, bos, bl)) {
        p += bl;
        n -= bl;
    }
    if (opts->strip_eos && el && n >= el && !memcmp(p + n - el, eos, el)) n -= el;
    char *res = malloc(n + 1);
    if (!res) {
        jh_release(&c->h);
        free(c);
        return kumo_err(err, KUMO_E_NOMEM, "chat template: out of memory for %zu bytes of output", n);
    }
    if (n) memcpy(res, p, n);
    res[n] = 0;
    jh_release(&c->h);
    free(c);
    *out = res;
    if (out_len) *out_len = n;
    return KUMO_OK;
}

int chat_template_render(const char *template_src, const cJSON *messages, const chat_render_opts *opts, char **out,
                         size_t *out_len, kumo_error *err) {
    *out = NULL;
    if (out_len) *out_len = 0;
    if (!template_src) return kumo_err(err, KUMO_E_INVALID, "chat template: no template source");
    chat_template *t = chat_template_parse(template_src, strlen(template_src), err);
    if (!t) return err ? err->code : KUMO_E_FORMAT;
    int rc = chat_template_apply(t, messages, opts, out, out_len, err);
    chat_template_free(t);
    return rc;
}

cJSON *chat_messages_to_json(const kumo_chat_message *msgs, size_t n) {
    cJSON *arr = cJSON_CreateArray();
    if (!arr) return NULL;
    for (size_t i = 0; i < n; i++) {
        cJSON *m = cJSON_CreateObject();
        if (!m || !cJSON_AddStringToObject(m, "role", msgs[i].role ? msgs[i].role : "") ||
            !cJSON_AddStringToObject(m, "content", msgs[i].content ? msgs[i].content : "")) {
            cJSON_Delete(m);
            cJSON_Delete(arr);
            return NULL;
        }
        cJSON_AddItemToArray(arr, m);
    }
    return arr;
}
