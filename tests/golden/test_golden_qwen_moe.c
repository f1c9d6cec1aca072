/* Golden logits of the qwen2, qwen3, Mixtral-style llama-MoE and qwen3moe models in ../shared/models.
 * Tolerances (max |Δ| per row), from the figures in ../shared/golden/FORMAT.md:
 *   *.fa-off-kv-f32.json (reference in F32 attention, within 6.1e-5 of float64): TOL_EXACT;
 *   F32 files vs the default golden (F16 attention in the reference, up to 0.048 from exact math):
 *     TOL_F32;
 *   quantized dense files: exact/mirrored engines are up to 0.48 away (tiny-qwen3-q4_k_m): TOL_Q;
 *   MoE files: FORMAT.md's routing-aware criterion — kumo's expert sets are compared with
 *     `router_topk`; rows whose routing matches in every layer stay within TOL_MOE (exact engines
 *     ≤ 0.65 there); at most 3% of rows may differ in routing (near-ties in the router).
 * KV cache: *.fa-off-kv-f32.json runs use kumo's F32 cache (the reference's setting); the default
 * files (reference F16 cache) run with both kumo caches, F16 and F32, under the same tolerances. */
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
    {"tiny-qwen2-f32.gguf", "tiny-qwen2-f32.fa-off-kv-f32.json", TOL_EXACT, 0, false, KUMO_KV_F32},
    {"tiny-qwen2-f32.gguf", "tiny-qwen2-f32.json", TOL_F32, 0, false, KUMO_KV_F32},
    {"tiny-qwen2-f32.gguf", "tiny-qwen2-f32.json", TOL_F32, 0, false, KUMO_KV_F16},
    {"tiny-qwen2-q8_0.gguf", "tiny-qwen2-q8_0.json", TOL_Q, RMS_Q, false, KUMO_KV_F32},
    {"tiny-qwen2-q8_0.gguf", "tiny-qwen2-q8_0.json", TOL_Q, RMS_Q, false, KUMO_KV_F16},
    {"tiny-qwen3-f32.gguf", "tiny-qwen3-f32.fa-off-kv-f32.json", TOL_EXACT, 0, false, KUMO_KV_F32},
    {"tiny-qwen3-f32.gguf", "tiny-qwen3-f32.json", TOL_F32, 0, false, KUMO_KV_F32},
    {"tiny-qwen3-f32.gguf", "tiny-qwen3-f32.json", TOL_F32, 0, false, KUMO_KV_F16},
    {"tiny-qwen3-q8_0.gguf", "tiny-qwen3-q8_0.json", TOL_Q, RMS_Q, false, KUMO_KV_F32},
    {"tiny-qwen3-q8_0.gguf", "tiny-qwen3-q8_0.json", TOL_Q, RMS_Q, false, KUMO_KV_F16},
    {"tiny-qwen3-q4_k_m.gguf", "tiny-qwen3-q4_k_m.json", TOL_Q, RMS_Q, false, KUMO_KV_F32},
    {"tiny-qwen3-q4_k_m.gguf", "tiny-qwen3-q4_k_m.json", TOL_Q, RMS_Q, false, KUMO_KV_F16},
    {"tiny-mixtral-f32.gguf", "tiny-mixtral-f32.json", TOL_MOE, 0, true, KUMO_KV_F32},
    {"tiny-mixtral-f32.gguf", "tiny-mixtral-f32.json", TOL_MOE, 0, true, KUMO_KV_F16},
    {"tiny-mixtral-q4_0.gguf", "tiny-mixtral-q4_0.json", TOL_MOE, RMS_Q, true, KUMO_KV_F32},
    {"tiny-mixtral-q4_0.gguf", "tiny-mixtral-q4_0.json", TOL_MOE, RMS_Q, true, KUMO_KV_F16},
    {"tiny-qwen3moe-f32.gguf", "tiny-qwen3moe-f32.json", TOL_MOE, 0, true, KUMO_KV_F32},
    {"tiny-qwen3moe-f32.gguf", "tiny-qwen3moe-f32.json", TOL_MOE, 0, true, KUMO_KV_F16},
    {"tiny-qwen3moe-q8_0.gguf", "tiny-qwen3moe-q8_0.json", TOL_MOE, RMS_Q, true, KUMO_KV_F32},
    {"tiny-qwen3moe-q8_0.gguf", "tiny-qwen3moe-q8_0.json", TOL_MOE, RMS_Q, true, KUMO_KV_F16},
    {"tiny-qwen3moe-q4_k_m.gguf", "tiny-qwen3moe-q4_k_m.json", TOL_MOE, RMS_Q, true, KUMO_KV_F32},
    {"tiny-qwen3moe-q4_k_m.gguf", "tiny-qwen3moe-q4_k_m.json", TOL_MOE, RMS_Q, true, KUMO_KV_F16},
};

int main(void) { return golden_run_cases("golden_qwen_moe", CASES, sizeof CASES / sizeof CASES[0]); }
