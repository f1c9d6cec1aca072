/* The batched decode API: several sequences in one call, prompts in one batch, validation that leaves
 * the cache untouched, cache truncation. Each entry's arithmetic does not depend on the other entries
 * of its batch (activations are quantized per row, attention per entry), so results must be
 * bit-identical however the tokens are batched. Every test runs with both KV cache types. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kumo.h"
#include "testutil.h"

static const kumo_token PROMPT_A[] = {1, 403, 407, 261, 378, 432, 383, 286};
static const kumo_token PROMPT_B[] = {1, 75, 298, 315, 421, 395};
#define NA (int)(sizeof PROMPT_A / sizeof PROMPT_A[0])
#define NB (int)(sizeof PROMPT_B / sizeof PROMPT_B[0])

typedef struct {
    kumo_model *m;
    int n_vocab;
    kumo_kv_type kv_type;
} fixture;

static int setup(void **state, kumo_kv_type kv_type) {
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    f->kv_type = kv_type;
    kumo_error err = {0};
    /* a quantized model, so per-row activation quantization is exercised too */
    f->m = kumo_model_load(shared_path("models/tiny-llama-q4_k_m.gguf"), NULL, &err);
    if (!f->m) return -1;
    f->n_vocab = kumo_n_vocab(f->m);
    *state = f;
    return 0;
}

static int setup_f32(void **state) { return setup(state, KUMO_KV_F32); }
static int setup_f16(void **state) { return setup(state, KUMO_KV_F16); }

static int teardown(void **state) {
    fixture *f = *state;
    kumo_model_free(f->m);
    free(f);
    return 0;
}

static kumo_context *new_ctx(fixture *f, int n_seq, int n_ctx, int n_batch) {
    kumo_context_params cp = kumo_context_default_params();
    cp.n_seq_max = n_seq;
    cp.n_ctx = n_ctx;
    cp.n_batch = n_batch;
    cp.n_threads = 2;
    cp.kv_type = f->kv_type;
    kumo_error err = {0};
    kumo_context *c = kumo_context_new(f->m, &cp, &err);
    assert_non_null(c);
    return c;
}

/* logits of every position of a prompt, decoded one token per call */
static float *one_by_one(fixture *f, const kumo_token *p, int n) {
    kumo_context *c = new_ctx(f, 1, 64, 1);
    kumo_batch b = kumo_batch_new(1);
    float *out = malloc((size_t)n * f->n_vocab * sizeof(float));
    kumo_error err = {0};
    for (int i = 0; i < n; i++) {
        kumo_batch_clear(&b);
        kumo_batch_add(&b, p[i], i, 0, true);
        assert_int_equal(kumo_decode(c, &b, &err), KUMO_OK);
        memcpy(out + (size_t)i * f->n_vocab, kumo_get_logits(c, 0), (size_t)f->n_vocab * sizeof(float));
    }
    kumo_batch_free(&b);
    kumo_context_free(c);
    return out;
}

static void two_sequences_in_one_batch(void **state) {
    fixture *f = *state;
    float *ra = one_by_one(f, PROMPT_A, NA), *rb = one_by_one(f, PROMPT_B, NB);
    kumo_context *c = new_ctx(f, 2, 64, NA + NB);
    kumo_batch b = kumo_batch_new(NA + NB);
    /* interleave the two prompts */
    int ia = 0, ib = 0;
    while (ia < NA || ib < NB) {
        if (ia < NA) { kumo_batch_add(&b, PROMPT_A[ia], ia, 0, true); ia++; }
        if (ib < NB) { kumo_batch_add(&b, PROMPT_B[ib], ib, 1, true); ib++; }
    }
    kumo_error err = {0};
    assert_int_equal(kumo_decode(c, &b, &err), KUMO_OK);
    for (int i = 0; i < b.n_tokens; i++) {
        const float *ref = b.seq_id[i] == 0 ? ra + (size_t)b.pos[i] * f->n_vocab : rb + (size_t)b.pos[i] * f->n_vocab;
        assert_memory_equal(kumo_get_logits(c, i), ref, (size_t)f->n_vocab * sizeof(float));
    }
    /* continue both sequences by one token each, in one batch */
    kumo_batch_clear(&b);
    kumo_batch_add(&b, 300, NA, 0, true);
    kumo_batch_add(&b, 301, NB, 1, false);
    assert_int_equal(kumo_decode(c, &b, &err), KUMO_OK);
    assert_non_null(kumo_get_logits(c, 0));
    assert_null(kumo_get_logits(c, 1));
    assert_int_equal(kumo_seq_pos_max(c, 0), NA);
    assert_int_equal(kumo_seq_pos_max(c, 1), NB);
    kumo_batch_free(&b);
    kumo_context_free(c);
    free(ra);
    free(rb);
}

/* A whole prompt in one batch (attention tiles of several query rows with different position
 * counts) equals the same prompt one token per call. */
static void prompt_batch_equals_one_by_one(void **state) {
    fixture *f = *state;
    float *ref = one_by_one(f, PROMPT_A, NA);
    kumo_context *c = new_ctx(f, 1, 64, NA);
    kumo_batch b = kumo_batch_new(NA);
    for (int i = 0; i < NA; i++) kumo_batch_add(&b, PROMPT_A[i], i, 0, true);
    kumo_error err = {0};
    assert_int_equal(kumo_decode(c, &b, &err), KUMO_OK);
    for (int i = 0; i < NA; i++)
        assert_memory_equal(kumo_get_logits(c, i), ref + (size_t)i * f->n_vocab, (size_t)f->n_vocab * sizeof(float));
    kumo_batch_free(&b);
    kumo_context_free(c);
    free(ref);
}

static void invalid_batches_change_nothing(void **state) {
    fixture *f = *state;
    kumo_context *c = new_ctx(f, 2, 16, 8);
    kumo_batch b = kumo_batch_new(32);
    kumo_error err = {0};
    kumo_batch_add(&b, 1, 0, 0, true);
    assert_int_equal(kumo_decode(c, &b, &err), KUMO_OK);
    float *first = malloc((size_t)f->n_vocab * sizeof(float));
    memcpy(first, kumo_get_logits(c, 0), (size_t)f->n_vocab * sizeof(float));
    struct { kumo_token t; int32_t pos, seq; int code; const char *needle; } bad[] = {
        {403, 5, 0, KUMO_E_INVALID, "expects position 2"},   /* gap after the valid entry */
        {403, 0, 0, KUMO_E_INVALID, "expects position 2"},   /* overwrite */
        {403, 1, 2, KUMO_E_INVALID, "sequence id 2"},
        {403, 1, -1, KUMO_E_INVALID, "sequence id -1"},
        {-3, 1, 0, KUMO_E_INVALID, "token id -3"},
        {100000, 1, 0, KUMO_E_INVALID, "token id 100000"},
        {403, 16, 0, KUMO_E_FULL, "does not fit"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kumo_batch_clear(&b);
        kumo_batch_add(&b, 403, 1, 0, true); /* a valid entry first: must not be applied either */
        kumo_batch_add(&b, bad[i].t, bad[i].pos, bad[i].seq, true);
        memset(&err, 0, sizeof err);
        assert_int_equal(kumo_decode(c, &b, &err), bad[i].code);
        assert_non_null(strstr(err.msg, bad[i].needle));
        assert_int_equal(kumo_seq_pos_max(c, 0), 0);
    }
    kumo_batch_clear(&b);
    assert_int_equal(kumo_decode(c, &b, &err), KUMO_E_INVALID); /* empty */
    for (int i = 0; i < 9; i++) kumo_batch_add(&b, 1, i + 1, 0, false);
    assert_int_equal(kumo_decode(c, &b, &err), KUMO_E_INVALID); /* over n_batch */
    assert_non_null(strstr(err.msg, "n_batch"));
    /* the context still works, and re-running position 0 after clearing reproduces it */
    kumo_seq_rm(c, 0, 0);
    assert_int_equal(kumo_seq_pos_max(c, 0), -1);
    kumo_batch_clear(&b);
    kumo_batch_add(&b, 1, 0, 0, true);
    assert_int_equal(kumo_decode(c, &b, &err), KUMO_OK);
    assert_memory_equal(kumo_get_logits(c, 0), first, (size_t)f->n_vocab * sizeof(float));
    free(first);
    kumo_batch_free(&b);
    kumo_context_free(c);
}

/* Truncating a sequence and decoding different tokens equals a fresh run of the new prefix. */
static void seq_rm_then_branch(void **state) {
    fixture *f = *state;
    kumo_context *c = new_ctx(f, 1, 32, NA);
    kumo_batch b = kumo_batch_new(NA);
    kumo_error err = {0};
    for (int i = 0; i < NA; i++) kumo_batch_add(&b, PROMPT_A[i], i, 0, false);
    assert_int_equal(kumo_decode(c, &b, &err), KUMO_OK);
    kumo_seq_rm(c, 0, 3);
    assert_int_equal(kumo_seq_pos_max(c, 0), 2);
    kumo_batch_clear(&b);
    kumo_batch_add(&b, PROMPT_B[3], 3, 0, true);
    assert_int_equal(kumo_decode(c, &b, &err), KUMO_OK);
    kumo_token mixed[4] = {PROMPT_A[0], PROMPT_A[1], PROMPT_A[2], PROMPT_B[3]};
    float *ref = one_by_one(f, mixed, 4);
    assert_memory_equal(kumo_get_logits(c, 0), ref + (size_t)3 * f->n_vocab, (size_t)f->n_vocab * sizeof(float));
    free(ref);
    kumo_batch_free(&b);
    kumo_context_free(c);
}

static void thread_counts_agree(void **state) {
    fixture *f = *state;
    float *rows[3];
    int threads[3] = {1, 2, 3};
    for (int k = 0; k < 3; k++) {
        kumo_context_params cp = kumo_context_default_params();
        cp.n_ctx = 16;
        cp.n_batch = NA;
        cp.n_threads = threads[k];
        cp.kv_type = f->kv_type;
        kumo_error err = {0};
        kumo_context *c = kumo_context_new(f->m, &cp, &err);
        kumo_batch b = kumo_batch_new(NA);
        for (int i = 0; i < NA; i++) kumo_batch_add(&b, PROMPT_A[i], i, 0, i == NA - 1);
        assert_int_equal(kumo_decode(c, &b, &err), KUMO_OK);
        rows[k] = malloc((size_t)f->n_vocab * sizeof(float));
        memcpy(rows[k], kumo_get_logits(c, NA - 1), (size_t)f->n_vocab * sizeof(float));
        kumo_batch_free(&b);
        kumo_context_free(c);
    }
    assert_memory_equal(rows[0], rows[1], (size_t)f->n_vocab * sizeof(float));
    assert_memory_equal(rows[0], rows[2], (size_t)f->n_vocab * sizeof(float));
    for (int k = 0; k < 3; k++) free(rows[k]);
}

/* An unknown cache type is the caller's error, not a crash or a silent default. */
static void unknown_kv_type_is_rejected(void **state) {
    fixture *f = *state;
    kumo_context_params cp = kumo_context_default_params();
    assert_int_equal(cp.kv_type, KUMO_KV_F16);
    cp.n_ctx = 16;
    cp.kv_type = (kumo_kv_type)7;
    kumo_error err = {0};
    assert_null(kumo_context_new(f->m, &cp, &err));
    assert_int_equal(err.code, KUMO_E_INVALID);
    assert_non_null(strstr(err.msg, "KV cache type 7"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(two_sequences_in_one_batch),
        cmocka_unit_test(prompt_batch_equals_one_by_one),
        cmocka_unit_test(invalid_batches_change_nothing),
        cmocka_unit_test(seq_rm_then_branch),
        cmocka_unit_test(thread_counts_agree),
        cmocka_unit_test(unknown_kv_type_is_rejected),
    };
    const int failed_f32 = cmocka_run_group_tests_name("engine_batch kv=f32", tests, setup_f32, teardown);
    const int failed_f16 = cmocka_run_group_tests_name("engine_batch kv=f16", tests, setup_f16, teardown);
    return failed_f32 + failed_f16;
}
