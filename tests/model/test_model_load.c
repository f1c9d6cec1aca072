/* Model loading rejects what it cannot run with a message that names the problem: unknown
 * architecture, missing tensor, wrong shape (tensor, expected and actual shape), unsupported tensor
 * type, bad hyper-parameters. The files are made by rewriting a real model with the GGUF writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "format/gguf.h"
#include "kumo.h"
#include "testutil.h"

typedef struct edit {
    const char *set_arch;          /* replace general.architecture (and rename the arch keys) */
    const char *drop_tensor;       /* leave this tensor out */
    const char *reshape_tensor;    /* write this tensor with ne[1] halved */
    const char *retype_tensor;     /* write this tensor as IQ2_XXS (zeros) */
    const char *set_u32_key;       /* set this key ... */
    uint32_t set_u32_val;          /* ... to this */
} edit;

/* Rewrites ../shared/models/<base> with one edit into a temp file; returns its path (static). */
static const char *rewrite(const char *base, const edit *e) {
    static char out[256];
    snprintf(out, sizeof out, "/tmp/kumo-test-model-%d.gguf", (int)getpid());
    char src[256];
    snprintf(src, sizeof src, "models/%s", base);
    kumo_error err = {0};
    gguf_ctx *g = gguf_open(shared_path(src), &err);
    assert_non_null(g);
    gguf_writer *w = gguf_writer_new();
    gguf_str arch;
    assert_true(gguf_get_str(g, "general.architecture", &arch, NULL));
    for (int64_t i = 0; i < gguf_kv_count(g); i++) {
        const char *key = gguf_kv_key(g, i);
        char renamed[256];
        if (e->set_arch && strncmp(key, arch.data, arch.len) == 0 && key[arch.len] == '.') {
            snprintf(renamed, sizeof renamed, "%s%s", e->set_arch, key + arch.len);
            key = renamed;
        }
        assert_int_equal(gguf_writer_set(w, key, gguf_kv_value(g, i), &err), KUMO_OK);
    }
    if (e->set_arch) assert_int_equal(gguf_writer_set_str(w, "general.architecture", e->set_arch), KUMO_OK);
    if (e->set_u32_key) assert_int_equal(gguf_writer_set_u32(w, e->set_u32_key, e->set_u32_val), KUMO_OK);
    void *zeros = NULL;
    for (int64_t i = 0; i < gguf_tensor_count(g); i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        if (e->drop_tensor && strcmp(t->name, e->drop_tensor) == 0) continue;
        int64_t ne[4] = {t->ne[0], t->ne[1], t->ne[2], t->ne[3]};
        uint32_t type = t->type;
        uint64_t size = t->size;
        const void *data = t->data;
        if (e->reshape_tensor && strcmp(t->name, e->reshape_tensor) == 0) {
            ne[1] /= 2;
            size /= 2;
        }
        if (e->retype_tensor && strcmp(t->name, e->retype_tensor) == 0) {
            type = GGML_TYPE_IQ2_XXS;
            size = ggml_row_bytes(type, ne[0]) * (uint64_t)ne[1];
            zeros = calloc(1, size);
            data = zeros;
        }
        assert_int_equal(gguf_writer_add_tensor(w, t->name, type, t->n_dims, ne, data, size, &err), KUMO_OK);
    }
    assert_int_equal(gguf_writer_write(w, out, &err), KUMO_OK);
    gguf_writer_free(w);
    gguf_close(g);
    free(zeros);
    return out;
}

static void expect_load_error(const char *path, int code, const char *n1, const char *n2) {
    kumo_error err = {0};
    kumo_model *m = kumo_model_load(path, NULL, &err);
    if (m) kumo_model_free(m);
    assert_null(m);
    printf("  rejected: %s\n", err.msg);
    assert_int_equal(err.code, code);
    assert_non_null(strstr(err.msg, n1));
    if (n2) assert_non_null(strstr(err.msg, n2));
}

static void unchanged_copy_loads(void **state) {
    (void)state;
    edit e = {0};
    const char *p = rewrite("tiny-llama-q8_0.gguf", &e);
    kumo_error err = {0};
    kumo_model *m = kumo_model_load(p, NULL, &err);
    assert_non_null(m);
    kumo_model_free(m);
    unlink(p);
}

static void unknown_architecture(void **state) {
    (void)state;
    edit e = {.set_arch = "mamba"};
    const char *p = rewrite("stories260K.gguf", &e);
    expect_load_error(p, KUMO_E_UNSUPPORTED, "'mamba'", "not supported");
    unlink(p);
}

static void missing_tensor(void **state) {
    (void)state;
    edit e = {.drop_tensor = "blk.1.ffn_up.weight"};
    const char *p = rewrite("tiny-llama-q8_0.gguf", &e);
    expect_load_error(p, KUMO_E_FORMAT, "missing tensor blk.1.ffn_up.weight", NULL);
    unlink(p);
}

static void wrong_shape_names_tensor_and_shapes(void **state) {
    (void)state;
    edit e = {.reshape_tensor = "blk.0.attn_k.weight"};
    const char *p = rewrite("tiny-llama-f32.gguf", &e);
    expect_load_error(p, KUMO_E_FORMAT, "blk.0.attn_k.weight has shape [256, 64], expected [256, 128]", NULL);
    unlink(p);
    /* qwen3: Q projects 256 -> 512 (head_dim 128 from attention.key_length) */
    edit e2 = {.reshape_tensor = "blk.1.attn_q.weight"};
    p = rewrite("tiny-qwen3-q8_0.gguf", &e2);
    expect_load_error(p, KUMO_E_FORMAT, "blk.1.attn_q.weight has shape [256, 256], expected [256, 512]", NULL);
    unlink(p);
    /* MoE: a 3-D expert tensor */
    edit e3 = {.reshape_tensor = "blk.0.ffn_down_exps.weight"};
    p = rewrite("tiny-qwen3moe-q8_0.gguf", &e3);
    expect_load_error(p, KUMO_E_FORMAT, "blk.0.ffn_down_exps.weight has shape [256, 128, 8], expected [256, 256, 8]",
                      NULL);
    unlink(p);
}

static void missing_qwen_specific_tensors(void **state) {
    (void)state;
    edit e = {.drop_tensor = "blk.0.attn_k.bias"};
    const char *p = rewrite("tiny-qwen2-q8_0.gguf", &e);
    expect_load_error(p, KUMO_E_FORMAT, "missing tensor blk.0.attn_k.bias", NULL);
    unlink(p);
    edit e2 = {.drop_tensor = "blk.0.attn_q_norm.weight"};
    p = rewrite("tiny-qwen3-q8_0.gguf", &e2);
    expect_load_error(p, KUMO_E_FORMAT, "missing tensor blk.0.attn_q_norm.weight", NULL);
    unlink(p);
}

static void unsupported_tensor_type(void **state) {
    (void)state;
    edit e = {.retype_tensor = "blk.0.attn_q.weight"};
    const char *p = rewrite("tiny-llama-q8_0.gguf", &e);
    expect_load_error(p, KUMO_E_UNSUPPORTED, "blk.0.attn_q.weight", "iq2_xxs");
    unlink(p);
}

static void bad_hyper_parameters(void **state) {
    (void)state;
    edit e = {.set_u32_key = "llama.attention.head_count_kv", .set_u32_val = 3};
    const char *p = rewrite("tiny-llama-q8_0.gguf", &e);
    expect_load_error(p, KUMO_E_FORMAT, "head_count 4 is not a multiple of head_count_kv 3", NULL);
    unlink(p);
    edit e2 = {.set_u32_key = "llama.block_count", .set_u32_val = 3};
    p = rewrite("tiny-llama-q8_0.gguf", &e2);
    expect_load_error(p, KUMO_E_FORMAT, "missing tensor blk.2.attn_norm.weight", NULL);
    unlink(p);
    edit e3 = {.set_u32_key = "llama.expert_used_count", .set_u32_val = 9};
    p = rewrite("tiny-mixtral-q4_0.gguf", &e3);
    expect_load_error(p, KUMO_E_FORMAT, "expert_used_count 9", NULL);
    unlink(p);
}

static void missing_file_and_vocab_only(void **state) {
    (void)state;
    expect_load_error("/nonexistent/model.gguf", KUMO_E_IO, "/nonexistent/model.gguf", NULL);
    /* a vocab-only file loads for tokenizing but is refused for running */
    expect_load_error(shared_path("vocab/ggml-vocab-llama-spm.gguf"), KUMO_E_FORMAT, "no tensors", NULL);
    kumo_model_params mp = kumo_model_default_params();
    mp.vocab_only = true;
    kumo_error err = {0};
    kumo_model *m = kumo_model_load(shared_path("vocab/ggml-vocab-llama-spm.gguf"), &mp, &err);
    assert_non_null(m);
    assert_null(kumo_context_new(m, NULL, &err));
    assert_int_equal(err.code, KUMO_E_INVALID);
    kumo_model_free(m);
}

static void moe_info_counts_active_parameters(void **state) {
    (void)state;
    kumo_error err = {0};
    kumo_model *m = kumo_model_load(shared_path("models/tiny-qwen3moe-q8_0.gguf"), NULL, &err);
    assert_non_null(m);
    kumo_model_info in;
    kumo_model_get_info(m, &in);
    assert_int_equal(in.n_expert, 8);
    assert_int_equal(in.n_expert_used, 2);
    assert_int_equal(in.n_ff_expert, 256);
    /* experts: 2 layers x 3 matrices x 256 x 256 x 8; 6 of 8 experts are inactive per token */
    uint64_t experts = 2ull * 3 * 256 * 256 * 8;
    assert_true(in.n_params > experts);
    assert_int_equal(in.n_params - in.n_params_active, experts / 8 * 6);
    kumo_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unchanged_copy_loads),
        cmocka_unit_test(unknown_architecture),
        cmocka_unit_test(missing_tensor),
        cmocka_unit_test(wrong_shape_names_tensor_and_shapes),
        cmocka_unit_test(missing_qwen_specific_tensors),
        cmocka_unit_test(unsupported_tensor_type),
        cmocka_unit_test(bad_hyper_parameters),
        cmocka_unit_test(missing_file_and_vocab_only),
        cmocka_unit_test(moe_info_counts_active_parameters),
    };
    return cmocka_run_group_tests_name("model_load", tests, NULL, NULL);
}
