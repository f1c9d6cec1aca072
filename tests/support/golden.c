#include "golden.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/context.h"
#include "kumo.h"
#include "testutil.h"
#include <cmocka.h>

typedef struct {
    const golden_case *c;
    golden_result *r;
    int n_vocab;
    double sumsq;
    long n_vals;
} cmp_state;

static int argmax_f(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

/* Golden row top-1 id and top-1 minus top-2 margin. */
static int golden_top(const cJSON *row, int n, double *margin) {
    double b1 = -INFINITY, b2 = -INFINITY;
    int id = -1, i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, row) {
        double x = v->valuedouble;
        if (x > b1) { b2 = b1; b1 = x; id = i; }
        else if (x > b2) b2 = x;
        i++;
    }
    (void)n;
    *margin = b1 - b2;
    return id;
}

/* Compares one row; check_max false for MoE rows whose routing differs from the reference's. */
static void compare_row(cmp_state *st, const float *ours, const cJSON *row, const char *what, int idx, bool check_max) {
    const golden_case *c = st->c;
    assert_int_equal(cJSON_GetArraySize(row), st->n_vocab);
    st->r->rows++;
    if (!check_max) return;
    st->r->rows_compared++;
    double mx = 0.0;
    int i = 0, worst = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, row) {
        double d = fabs((double)ours[i] - v->valuedouble);
        if (d > mx) { mx = d; worst = i; }
        st->sumsq += d * d;
        st->n_vals++;
        i++;
    }
    if (mx > st->r->max_abs) st->r->max_abs = mx;
    if (mx > c->tol) {
        fprintf(stderr, "golden %s: %s row %d: max |delta| %.6g at token %d exceeds tolerance %g\n", c->model, what, idx,
                mx, worst, c->tol);
        fail();
    }
    double margin;
    int gid = golden_top(row, st->n_vocab, &margin);
    if (margin > 2 * c->tol) {
        st->r->argmax_checked++;
        int oid = argmax_f(ours, st->n_vocab);
        if (oid == gid) st->r->argmax_agree++;
        else {
            fprintf(stderr, "golden %s: %s row %d: argmax %d, reference %d (margin %.4g)\n", c->model, what, idx, oid,
                    gid, margin);
            fail();
        }
    }
}

/* Routing of entry `entry` of the last batch vs router_topk[row] (as sets, per layer). */
static bool routing_matches(const kumo_context *ctx, int entry, const cJSON *ref_row, int n_layer, int k) {
    const int32_t *r = kumo_context_last_routing(ctx) + (size_t)entry * n_layer * k;
    for (int l = 0; l < n_layer; l++) {
        const cJSON *ref = cJSON_GetArrayItem(ref_row, l);
        if (cJSON_GetArraySize(ref) != k) return false;
        for (int a = 0; a < k; a++) {
            bool found = false;
            for (int b = 0; b < k; b++) found = found || cJSON_GetArrayItem(ref, b)->valueint == r[l * k + a];
            if (!found) return false;
        }
    }
    return true;
}

void golden_check(const golden_case *c, golden_result *res) {
    memset(res, 0, sizeof *res);
    size_t len;
    char gpath[512];
    snprintf(gpath, sizeof gpath, "golden/%s", c->golden);
    char *text = read_file(shared_path(gpath), &len);
    assert_non_null(text);
    cJSON *root = cJSON_Parse(text);
    free(text);
    assert_non_null(root);
    char mpath[512];
    snprintf(mpath, sizeof mpath, "models/%s", c->model);
    kumo_error err = {0};
    kumo_model *m = kumo_model_load(shared_path(mpath), NULL, &err);
    if (!m) fprintf(stderr, "load %s: %s\n", c->model, err.msg);
    assert_non_null(m);
    kumo_model_info info;
    kumo_model_get_info(m, &info);
    cmp_state st = {.c = c, .r = res, .n_vocab = kumo_n_vocab(m)};
    const cJSON *settings = cJSON_GetObjectItem(root, "settings");
    assert_int_equal(cJSON_GetObjectItem(settings, "n_vocab")->valueint, st.n_vocab);
    const cJSON *prompt;
    int row_base_total = 0;
    cJSON_ArrayForEach(prompt, cJSON_GetObjectItem(root, "prompts")) {
        const cJSON *jt = cJSON_GetObjectItem(prompt, "tokens"), *jg = cJSON_GetObjectItem(prompt, "greedy_tokens");
        const cJSON *jm = cJSON_GetObjectItem(prompt, "greedy_margins");
        const cJSON *plog = cJSON_GetObjectItem(prompt, "prompt_logits"), *glog = cJSON_GetObjectItem(prompt, "greedy_logits");
        const cJSON *rtop = cJSON_GetObjectItem(prompt, "router_topk");
        const char *ptext = cJSON_GetObjectItem(prompt, "text")->valuestring;
        int n = cJSON_GetArraySize(jt), ng = cJSON_GetArraySize(jg);
        /* tokenization must match the reference */
        kumo_token *toks = calloc((size_t)n + 8, sizeof *toks);
        assert_non_null(toks);
        int nt = kumo_tokenize(m, ptext, strlen(ptext), toks, n + 8, true, false);
        assert_int_equal(nt, n);
        for (int i = 0; i < n; i++) assert_int_equal(toks[i], cJSON_GetArrayItem(jt, i)->valueint);
        kumo_context_params cp = kumo_context_default_params();
        cp.n_ctx = n + ng;
        cp.n_batch = n;
        cp.n_threads = 2;
        cp.kv_type = c->kv_type;
        kumo_context *ctx = kumo_context_new(m, &cp, &err);
        assert_non_null(ctx);
        kumo_batch b = kumo_batch_new(n);
        for (int i = 0; i < n; i++) kumo_batch_add(&b, toks[i], i, 0, true);
        assert_int_equal(kumo_decode(ctx, &b, &err), KUMO_OK);
        int k = info.n_expert_used;
        for (int i = 0; i < n; i++) {
            bool check = true;
            if (c->moe) {
                check = routing_matches(ctx, i, cJSON_GetArrayItem(rtop, i), info.n_layer, k);
                if (!check) res->routing_rows_differ++;
            }
            compare_row(&st, kumo_get_logits(ctx, i), cJSON_GetArrayItem(plog, i), "prompt", row_base_total + i, check);
        }
        /* greedy: our choice must equal the reference's while its margin is clear */
        bool tracking = true;
        int prev_choice = argmax_f(kumo_get_logits(ctx, n - 1), st.n_vocab);
        for (int s = 0; s < ng; s++) {
            int want = cJSON_GetArrayItem(jg, s)->valueint;
            if (tracking && cJSON_GetArrayItem(jm, s)->valuedouble > 2 * c->tol) {
                res->greedy_checked++;
                if (prev_choice == want) res->greedy_agree++;
                else {
                    fprintf(stderr, "golden %s: greedy step %d chose %d, reference %d\n", c->model, s, prev_choice, want);
                    fail();
                }
            } else {
                tracking = false;
            }
            kumo_batch_clear(&b);
            kumo_batch_add(&b, want, n + s, 0, true);
            assert_int_equal(kumo_decode(ctx, &b, &err), KUMO_OK);
            const float *lg = kumo_get_logits(ctx, 0);
            bool check = true;
            if (c->moe) {
                check = routing_matches(ctx, 0, cJSON_GetArrayItem(rtop, n + s), info.n_layer, k);
                if (!check) res->routing_rows_differ++;
            }
            compare_row(&st, lg, cJSON_GetArrayItem(glog, s), "greedy", row_base_total + n + s, check);
            prev_choice = argmax_f(lg, st.n_vocab);
        }
        row_base_total += n + ng;
        kumo_batch_free(&b);
        kumo_context_free(ctx);
        free(toks);
    }
    res->rms = st.n_vals ? sqrt(st.sumsq / st.n_vals) : 0.0;
    printf("golden %-28s kv=%s rows %3d (compared %3d, routing differs %d)  max|d| %.5f (tol %g)  rms %.5f  argmax %d/%d  greedy %d/%d\n",
           c->golden, c->kv_type == KUMO_KV_F16 ? "f16" : "f32", res->rows, res->rows_compared, res->routing_rows_differ, res->max_abs, c->tol, res->rms,
           res->argmax_agree, res->argmax_checked, res->greedy_agree, res->greedy_checked);
    if (c->rms_tol > 0) assert_true(res->rms <= c->rms_tol);
    if (c->moe) assert_true(res->routing_rows_differ * 100 <= 3 * res->rows);
    kumo_model_free(m);
    cJSON_Delete(root);
}

static void run_case(void **state) {
    golden_result r;
    golden_check((const golden_case *)*state, &r);
}

int golden_run_cases(const char *group, const golden_case *cases, size_t n) {
    struct CMUnitTest *tests = calloc(n, sizeof *tests);
    char (*names)[96] = calloc(n, sizeof *names);
    assert_non_null(tests);
    assert_non_null(names);
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "%s kv=%s", cases[i].golden,
                 cases[i].kv_type == KUMO_KV_F16 ? "f16" : "f32");
        tests[i] = (struct CMUnitTest)cmocka_unit_test_prestate(run_case, (void *)&cases[i]);
        tests[i].name = names[i];
    }
    int rc = _cmocka_run_group_tests(group, tests, n, NULL, NULL);
    free(tests);
    free(names);
    return rc;
}
