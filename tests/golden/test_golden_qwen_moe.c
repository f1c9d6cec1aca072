/* Golden logits of the qwen2, qwen3, Mixtral-style llama-MoE and qwen3moe models in ../shared/models.
 * Tolerances (max |Δ| per row), from the figures in ../shared/golden/FORMAT.md:
 *   *.fa-off-kv-f32.json (reference in F32 attention, within 6.1e-5 of float64): TOL_EXACT;
 *   F32 files vs the default golden (F16 attention in the reference, up to 0.048 from exact math):
 *     TOL_F32;
 *   quantized dense files: exact/mirrored engines are up to 0.48 away (tiny-qwen3-q4_k_m): TOL_Q;
 *   MoE files: FORMAT.md's routing-aware criterion — kumo's expert sets are compared with
 *     `router_topk`; rows whose routing matches in every layer stay within TOL_MOE (exact engines
 *     ≤ 0.65 there); at most 3% of rows may differ in routing (near-ties in the router). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "golden.h"

#define TOL_EXACT 5e-4
#define TOL_F32 0.075
#define TOL_Q 0.5
#define RMS_Q 0.15
#define TOL_MOE 1.0

static const golden_case CASES[] = {
    {"tiny-qwen2-f32.gguf", "tiny-qwen2-f32.fa-off-kv-f32.json", TOL_EXACT, 0, false},
    {"tiny-qwen2-f32.gguf", "tiny-qwen2-f32.json", TOL_F32, 0, false},
    {"tiny-qwen2-q8_0.gguf", "tiny-qwen2-q8_0.json", TOL_Q, RMS_Q, false},
    {"tiny-qwen3-f32.gguf", "tiny-qwen3-f32.fa-off-kv-f32.json", TOL_EXACT, 0, false},
    {"tiny-qwen3-f32.gguf", "tiny-qwen3-f32.json", TOL_F32, 0, false},
    {"tiny-qwen3-q8_0.gguf", "tiny-qwen3-q8_0.json", TOL_Q, RMS_Q, false},
    {"tiny-qwen3-q4_k_m.gguf", "tiny-qwen3-q4_k_m.json", TOL_Q, RMS_Q, false},
    {"tiny-mixtral-f32.gguf", "tiny-mixtral-f32.json", TOL_MOE, 0, true},
    {"tiny-mixtral-q4_0.gguf", "tiny-mixtral-q4_0.json", TOL_MOE, RMS_Q, true},
    {"tiny-qwen3moe-f32.gguf", "tiny-qwen3moe-f32.json", TOL_MOE, 0, true},
    {"tiny-qwen3moe-q8_0.gguf", "tiny-qwen3moe-q8_0.json", TOL_MOE, RMS_Q, true},
    {"tiny-qwen3moe-q4_k_m.gguf", "tiny-qwen3moe-q4_k_m.json", TOL_MOE, RMS_Q, true},
};

static void run_case(void **state) {
    golden_result r;
    golden_check((const golden_case *)*state, &r);
}

int main(void) {
    struct CMUnitTest tests[sizeof CASES / sizeof CASES[0]];
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        tests[i] = (struct CMUnitTest)cmocka_unit_test_prestate(run_case, (void *)&CASES[i]);
        tests[i].name = CASES[i].golden;
    }
    return _cmocka_run_group_tests("golden_qwen_moe", tests, sizeof CASES / sizeof CASES[0], NULL, NULL);
}
