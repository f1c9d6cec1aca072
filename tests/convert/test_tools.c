/* kumo quantize / kumo synth. The quantization mix must give every tensor the type the reference
 * engine's llama-quantize gave it in the shipped files (../shared/models/tiny-*-<type>.gguf, made
 * from their F32 parents), all metadata must survive, and failures must leave no output behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "format/gguf.h"
#include "kumo.h"
#include "testutil.h"
#include "tokenizer/tokenizer.h"

static const char *tmp_path(const char *tag) {
    static char buf[4][256];
    static int k;
    char *b = buf[k++ & 3];
    snprintf(b, sizeof buf[0], "/tmp/kumo-tools-%d-%s.gguf", (int)getpid(), tag);
    return b;
}

static bool exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static int quantize(const char *in_rel, const char *out, const char *type, bool allow, kumo_error *err) {
    char in[256];
    snprintf(in, sizeof in, "models/%s", in_rel);
    kumo_quantize_params p = {.type = type, .n_threads = 2, .allow_requantize = allow};
    kumo_tool_report rep;
    return kumo_quantize_file(shared_path(in), out, &p, &rep, err);
}

/* Every tensor type of OUT equals the reference file's; returns how many tensors are byte-identical. */
static int compare_with_reference(const char *out, const char *ref_rel, int *n_tensors) {
    char ref[256];
    snprintf(ref, sizeof ref, "models/%s", ref_rel);
    kumo_error err = {0};
    gguf_ctx *a = gguf_open(out, &err), *b = gguf_open(shared_path(ref), &err);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(gguf_tensor_count(a), gguf_tensor_count(b));
    int same = 0;
    for (int64_t i = 0; i < gguf_tensor_count(b); i++) {
        const gguf_tensor *tb = gguf_tensor_at(b, i), *ta = gguf_find_tensor(a, tb->name);
        assert_non_null(ta);
        if (ta->type != tb->type)
            fprintf(stderr, "%s: %s is %s, reference %s\n", ref_rel, tb->name, ggml_type_name(ta->type),
                    ggml_type_name(tb->type));
        assert_int_equal(ta->type, tb->type);
        assert_int_equal(ta->size, tb->size);
        same += memcmp(ta->data, tb->data, tb->size) == 0;
    }
    *n_tensors = (int)gguf_tensor_count(b);
    gguf_close(a);
    gguf_close(b);
    return same;
}

static const struct { const char *parent, *ref, *type; } MIXES[] = {
    {"tiny-llama-f32.gguf", "tiny-llama-f16.gguf", "F16"},
    {"tiny-llama-f32.gguf", "tiny-llama-bf16.gguf", "BF16"},
    {"tiny-llama-f32.gguf", "tiny-llama-q8_0.gguf", "Q8_0"},
    {"tiny-llama-f32.gguf", "tiny-llama-q4_0.gguf", "Q4_0"},
    {"tiny-llama-f32.gguf", "tiny-llama-q4_1.gguf", "Q4_1"},
    {"tiny-llama-f32.gguf", "tiny-llama-q5_0.gguf", "Q5_0"},
    {"tiny-llama-f32.gguf", "tiny-llama-q5_1.gguf", "Q5_1"},
    {"tiny-llama-f32.gguf", "tiny-llama-q2_k.gguf", "Q2_K"},
    {"tiny-llama-f32.gguf", "tiny-llama-q3_k_m.gguf", "Q3_K_M"},
    {"tiny-llama-f32.gguf", "tiny-llama-q4_k_s.gguf", "Q4_K_S"},
    {"tiny-llama-f32.gguf", "tiny-llama-q4_k_m.gguf", "Q4_K_M"},
    {"tiny-llama-f32.gguf", "tiny-llama-q5_k_s.gguf", "Q5_K_S"},
    {"tiny-llama-f32.gguf", "tiny-llama-q5_k_m.gguf", "Q5_K_M"},
    {"tiny-llama-f32.gguf", "tiny-llama-q6_k.gguf", "Q6_K"},
    {"tiny-qwen2-f32.gguf", "tiny-qwen2-q8_0.gguf", "Q8_0"},
    {"tiny-qwen3-f32.gguf", "tiny-qwen3-q8_0.gguf", "Q8_0"},
    {"tiny-qwen3-f32.gguf", "tiny-qwen3-q4_k_m.gguf", "Q4_K_M"},
    {"tiny-mixtral-f32.gguf", "tiny-mixtral-q4_0.gguf", "Q4_0"},
    {"tiny-qwen3moe-f32.gguf", "tiny-qwen3moe-q8_0.gguf", "Q8_0"},
    {"tiny-qwen3moe-f32.gguf", "tiny-qwen3moe-q4_k_m.gguf", "Q4_K_M"},
};

static void mixes_match_reference_types(void **state) {
    (void)state;
    const char *out = tmp_path("mix");
    for (size_t i = 0; i < sizeof MIXES / sizeof MIXES[0]; i++) {
        kumo_error err = {0};
        int rc = quantize(MIXES[i].parent, out, MIXES[i].type, false, &err);
        if (rc) fprintf(stderr, "%s\n", err.msg);
        assert_int_equal(rc, KUMO_OK);
        int n, same = compare_with_reference(out, MIXES[i].ref, &n);
        printf("  %-24s %-7s types match %d/%d, byte-identical tensors %d/%d\n", MIXES[i].ref, MIXES[i].type, n, n,
               same, n);
        /* kumo's quantizers implement the reference's algorithms (no importance matrix), so on these
         * files every tensor comes out byte for byte as llama-quantize wrote it — which implies the
         * issue's bar (RMSE <= 1.02x the reference's, checked per tensor in tests/tensor). */
        assert_int_equal(same, n);
        unlink(out);
    }
}

static void metadata_is_copied_and_file_type_set(void **state) {
    (void)state;
    const char *out = tmp_path("meta");
    kumo_error err = {0};
    assert_int_equal(quantize("tiny-qwen3-f32.gguf", out, "Q4_K_M", false, &err), KUMO_OK);
    gguf_ctx *a = gguf_open(shared_path("models/tiny-qwen3-f32.gguf"), &err), *b = gguf_open(out, &err);
    for (int64_t i = 0; i < gguf_kv_count(a); i++) {
        const char *key = gguf_kv_key(a, i);
        if (!strcmp(key, "general.file_type")) continue;
        const gguf_value *va = gguf_kv_value(a, i), *vb = gguf_get(b, key);
        assert_non_null(vb);
        assert_int_equal(va->type, vb->type);
        if (va->type == GGUF_TYPE_STRING) {
            assert_int_equal(va->v.str.len, vb->v.str.len);
            assert_memory_equal(va->v.str.data, vb->v.str.data, va->v.str.len);
        } else if (va->type == GGUF_TYPE_ARRAY) {
            assert_int_equal(va->v.arr.n, vb->v.arr.n);
        }
    }
    uint32_t ft = 0;
    assert_true(gguf_get_u32(b, "general.file_type", &ft, NULL));
    assert_int_equal(ft, 15); /* MOSTLY_Q4_K_M */
    gguf_close(a);
    gguf_close(b);
    unlink(out);
}

static void requantize_needs_permission(void **state) {
    (void)state;
    const char *out = tmp_path("req");
    kumo_error err = {0};
    assert_int_equal(quantize("tiny-llama-q8_0.gguf", out, "Q4_0", false, &err), KUMO_E_INVALID);
    assert_non_null(strstr(err.msg, "already quantized"));
    assert_non_null(strstr(err.msg, "--allow-requantize"));
    assert_false(exists(out));
    assert_int_equal(quantize("tiny-llama-q8_0.gguf", out, "Q4_0", true, &err), KUMO_OK);
    kumo_model *m = kumo_model_load(out, NULL, &err);
    assert_non_null(m);
    kumo_model_free(m);
    unlink(out);
}

static void failures_leave_nothing(void **state) {
    (void)state;
    const char *out = tmp_path("fail");
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    kumo_error err = {0};
    assert_int_equal(quantize("tiny-llama-f32.gguf", out, "Q9_9", false, &err), KUMO_E_INVALID);
    assert_non_null(strstr(err.msg, "Q4_K_M"));
    assert_int_equal(quantize("no-such-model.gguf", out, "Q8_0", false, &err), KUMO_E_IO);
    assert_false(exists(out));
    assert_false(exists(tmp));
    /* an unwritable destination */
    kumo_quantize_params p = {.type = "Q8_0"};
    assert_int_not_equal(kumo_quantize_file(shared_path("models/stories260K.gguf"), "/nonexistent-dir/out.gguf", &p, NULL, &err),
                         KUMO_OK);
    /* synth with a bad vocab or shape writes nothing either */
    kumo_synth_params sp = {.shape = "llama-7t", .type = "F32", .vocab_path = shared_path("models/stories260K.gguf")};
    assert_int_equal(kumo_synth_file(out, &sp, NULL, &err), KUMO_E_INVALID);
    assert_non_null(strstr(err.msg, "qwen3-0.6b"));
    sp.shape = "tiny-llama";
    sp.vocab_path = shared_path("vocab/ggml-vocab-qwen3.gguf"); /* 151936 tokens > 1024 */
    assert_int_equal(kumo_synth_file(out, &sp, NULL, &err), KUMO_E_INVALID);
    assert_false(exists(out));
    assert_false(exists(tmp));
}

static void synth_pads_vocab_and_is_deterministic(void **state) {
    (void)state;
    const char *a = tmp_path("sa"), *b = tmp_path("sb"), *c = tmp_path("sc");
    kumo_synth_params sp = {.shape = "tiny-llama", .type = "F32", .vocab_path = shared_path("models/stories260K.gguf"),
                            .seed = 5, .n_threads = 2};
    kumo_error err = {0};
    assert_int_equal(kumo_synth_file(a, &sp, NULL, &err), KUMO_OK);
    sp.n_threads = 1;
    assert_int_equal(kumo_synth_file(b, &sp, NULL, &err), KUMO_OK);
    sp.seed = 6;
    assert_int_equal(kumo_synth_file(c, &sp, NULL, &err), KUMO_OK);
    size_t la, lb, lc;
    char *da = read_file(a, &la), *db = read_file(b, &lb), *dc = read_file(c, &lc);
    assert_int_equal(la, lb);
    assert_memory_equal(da, db, la); /* same seed, any thread count: same file */
    assert_true(la == lc && memcmp(da, dc, la) != 0);
    free(da);
    free(db);
    free(dc);
    /* padded tokenizer, and weights ~ N(0, 1/fan_in) */
    gguf_ctx *g = gguf_open(a, &err);
    const gguf_value *toks = gguf_get_arr(g, "tokenizer.ggml.tokens");
    assert_int_equal(toks->v.arr.n, 1024);
    assert_int_equal(toks->v.arr.strs[700].len, strlen("[PAD700]"));
    assert_memory_equal(toks->v.arr.strs[700].data, "[PAD700]", 8);
    const gguf_value *tt = gguf_get_arr(g, "tokenizer.ggml.token_type");
    assert_int_equal(gguf_arr_i64(tt, 700), 5);
    const gguf_tensor *wq = gguf_find_tensor(g, "blk.1.ffn_down.weight"); /* fan_in 512 */
    const float *w = wq->data;
    double ss = 0.0;
    int64_t n = wq->ne[0] * wq->ne[1];
    for (int64_t i = 0; i < n; i++) ss += (double)w[i] * w[i];
    double sd = sqrt(ss / n), want = 1.0 / sqrt(512.0);
    assert_true(fabs(sd / want - 1.0) < 0.02);
    gguf_close(g);
    /* it runs */
    kumo_model *m = kumo_model_load(a, NULL, &err);
    assert_non_null(m);
    assert_int_equal(kumo_n_vocab(m), 1024);
    kumo_context *ctx = kumo_context_new(m, NULL, &err);
    kumo_batch bt = kumo_batch_new(4);
    kumo_batch_add(&bt, 1, 0, 0, true);
    assert_int_equal(kumo_decode(ctx, &bt, &err), KUMO_OK);
    kumo_batch_free(&bt);
    kumo_context_free(ctx);
    kumo_model_free(m);
    unlink(a);
    unlink(b);
    unlink(c);
}

static void synth_moe_quantized_runs(void **state) {
    (void)state;
    const char *out = tmp_path("moe");
    kumo_synth_params sp = {.shape = "tiny-qwen3moe", .type = "Q4_K_M", .vocab_path = shared_path("models/stories260K.gguf"),
                            .seed = 1, .n_threads = 2};
    kumo_error err = {0};
    assert_int_equal(kumo_synth_file(out, &sp, NULL, &err), KUMO_OK);
    gguf_ctx *g = gguf_open(out, &err);
    /* the 8-expert rules of the mix: attn_v/attn_k Q8_0, attn_output Q5_K, router F32 */
    assert_int_equal(gguf_find_tensor(g, "blk.0.attn_v.weight")->type, GGML_TYPE_Q8_0);
    assert_int_equal(gguf_find_tensor(g, "blk.0.attn_k.weight")->type, GGML_TYPE_Q8_0);
    assert_int_equal(gguf_find_tensor(g, "blk.0.attn_output.weight")->type, GGML_TYPE_Q5_K);
    assert_int_equal(gguf_find_tensor(g, "blk.0.ffn_gate_inp.weight")->type, GGML_TYPE_F32);
    assert_int_equal(gguf_find_tensor(g, "blk.1.ffn_down_exps.weight")->type, GGML_TYPE_Q6_K);
    gguf_close(g);
    kumo_model *m = kumo_model_load(out, NULL, &err);
    assert_non_null(m);
    kumo_context *ctx = kumo_context_new(m, NULL, &err);
    kumo_batch bt = kumo_batch_new(4);
    for (int i = 0; i < 4; i++) kumo_batch_add(&bt, 1 + i, i, 0, true);
    assert_int_equal(kumo_decode(ctx, &bt, &err), KUMO_OK);
    kumo_batch_free(&bt);
    kumo_context_free(ctx);
    kumo_model_free(m);
    unlink(out);
}

static void cli_reports_and_refuses(void **state) {
    (void)state;
    char cmd[1024];
    const char *out = tmp_path("cli");
    snprintf(cmd, sizeof cmd, "%s quantize %s %s Q4_K_M -t 2 2>&1", kumo_bin(), shared_path("models/tiny-llama-f32.gguf"), out);
    int st;
    char *o = run_capture(cmd, &st);
    assert_int_equal(st, 0);
    assert_non_null(strstr(o, "16 converted"));
    free(o);
    snprintf(cmd, sizeof cmd, "%s quantize %s %s.2 Q4_0 2>&1", kumo_bin(), out, out);
    o = run_capture(cmd, &st);
    assert_int_not_equal(st, 0);
    assert_non_null(strstr(o, "--allow-requantize"));
    free(o);
    unlink(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mixes_match_reference_types),
        cmocka_unit_test(metadata_is_copied_and_file_type_set),
        cmocka_unit_test(requantize_needs_permission),
        cmocka_unit_test(failures_leave_nothing),
        cmocka_unit_test(synth_pads_vocab_and_is_deterministic),
        cmocka_unit_test(synth_moe_quantized_runs),
        cmocka_unit_test(cli_reports_and_refuses),
    };
    return cmocka_run_group_tests_name("tools", tests, NULL, NULL);
}
