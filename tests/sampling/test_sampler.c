/* Samplers: greedy, truncations, temperature, penalty, and seeded reproducibility. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <cmocka.h>

#include "kumo.h"

static kumo_sampler *make(float temp, int top_k, float top_p, float min_p, float rep, uint64_t seed) {
    kumo_sampler_params p = kumo_sampler_default_params();
    p.temperature = temp;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    p.repeat_penalty = rep;
    p.seed = seed;
    kumo_sampler *s = kumo_sampler_new(&p);
    assert_non_null(s);
    return s;
}

static void greedy_is_argmax_lowest_on_ties(void **state) {
    (void)state;
    float logits[6] = {0.5f, 3.0f, -1.0f, 3.0f, 2.9f, 0.0f};
    kumo_sampler *s = make(0.0f, 0, 1.0f, 0.0f, 1.0f, 1);
    assert_int_equal(kumo_sampler_sample(s, logits, 6), 1);
    kumo_sampler_free(s);
}

static void top_k_one_and_tiny_top_p_are_greedy(void **state) {
    (void)state;
    float logits[5] = {1.0f, 1.5f, 0.2f, 1.4f, -2.0f};
    kumo_sampler *k1 = make(1.0f, 1, 1.0f, 0.0f, 1.0f, 7), *p0 = make(1.0f, 0, 0.01f, 0.0f, 1.0f, 7);
    kumo_sampler *m1 = make(5.0f, 0, 1.0f, 0.999f, 1.0f, 7);
    for (int i = 0; i < 200; i++) {
        assert_int_equal(kumo_sampler_sample(k1, logits, 5), 1);
        assert_int_equal(kumo_sampler_sample(p0, logits, 5), 1);
        assert_int_equal(kumo_sampler_sample(m1, logits, 5), 1);
    }
    kumo_sampler_free(k1);
    kumo_sampler_free(p0);
    kumo_sampler_free(m1);
}

/* At temperature 1 with logits {0, ln 2}, token 1 must come up 2/3 of the time: 30000 draws give a
 * standard error of 0.0027, so ±0.015 is more than 5 sigma. */
static void temperature_one_follows_softmax(void **state) {
    (void)state;
    float logits[2] = {0.0f, logf(2.0f)};
    kumo_sampler *s = make(1.0f, 0, 1.0f, 0.0f, 1.0f, 42);
    int ones = 0, n = 30000;
    for (int i = 0; i < n; i++) ones += kumo_sampler_sample(s, logits, 2) == 1;
    assert_true(fabs((double)ones / n - 2.0 / 3.0) < 0.015);
    kumo_sampler_free(s);
    /* high temperature flattens: {0, ln 2} at T = 100 is within 1% of 50/50 in expectation */
    s = make(100.0f, 0, 1.0f, 0.0f, 1.0f, 43);
    ones = 0;
    for (int i = 0; i < n; i++) ones += kumo_sampler_sample(s, logits, 2) == 1;
    assert_true(fabs((double)ones / n - 0.5) < 0.02);
    kumo_sampler_free(s);
}

static void top_k_restricts_support(void **state) {
    (void)state;
    float logits[6] = {5.0f, 4.9f, 4.8f, 4.7f, 0.0f, 4.95f};
    kumo_sampler *s = make(2.0f, 3, 1.0f, 0.0f, 1.0f, 3);
    int seen[6] = {0};
    for (int i = 0; i < 3000; i++) seen[kumo_sampler_sample(s, logits, 6)]++;
    assert_true(seen[0] > 0 && seen[1] > 0 && seen[5] > 0);
    assert_int_equal(seen[2] + seen[3] + seen[4], 0);
    kumo_sampler_free(s);
}

static void same_seed_same_tokens(void **state) {
    (void)state;
    float logits[64];
    for (int i = 0; i < 64; i++) logits[i] = sinf((float)i) * 2.0f;
    kumo_sampler *a = make(1.0f, 0, 1.0f, 0.0f, 1.0f, 1234), *b = make(1.0f, 0, 1.0f, 0.0f, 1.0f, 1234);
    kumo_sampler *c = make(1.0f, 0, 1.0f, 0.0f, 1.0f, 1235);
    int differ = 0;
    for (int i = 0; i < 500; i++) {
        kumo_token x = kumo_sampler_sample(a, logits, 64), y = kumo_sampler_sample(b, logits, 64);
        assert_int_equal(x, y);
        differ += kumo_sampler_sample(c, logits, 64) != x;
    }
    assert_true(differ > 100);
    kumo_sampler_free(a);
    kumo_sampler_free(b);
    kumo_sampler_free(c);
}

static void repetition_penalty_demotes_recent_tokens(void **state) {
    (void)state;
    float logits[3] = {2.0f, 1.9f, -1.0f};
    kumo_sampler *s = make(0.0f, 0, 1.0f, 0.0f, 1.2f, 0);
    assert_int_equal(kumo_sampler_sample(s, logits, 3), 0);
    kumo_sampler_accept(s, 0); /* 2.0 / 1.2 = 1.67 < 1.9 */
    assert_int_equal(kumo_sampler_sample(s, logits, 3), 1);
    kumo_sampler_accept(s, 1); /* both penalised: 1.67 vs 1.58 */
    assert_int_equal(kumo_sampler_sample(s, logits, 3), 0);
    kumo_sampler_free(s);
    /* the logits passed in are not modified */
    assert_true(logits[0] == 2.0f && logits[1] == 1.9f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(greedy_is_argmax_lowest_on_ties),
        cmocka_unit_test(top_k_one_and_tiny_top_p_are_greedy),
        cmocka_unit_test(temperature_one_follows_softmax),
        cmocka_unit_test(top_k_restricts_support),
        cmocka_unit_test(same_seed_same_tokens),
        cmocka_unit_test(repetition_penalty_demotes_recent_tokens),
    };
    return cmocka_run_group_tests_name("sampler", tests, NULL, NULL);
}
