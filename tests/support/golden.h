/* Teacher-forced comparison of kumo's logits with the reference engine's golden files
 * (../shared/golden/<stem>.json, format in ../shared/golden/FORMAT.md). */
#ifndef KUMO_TEST_GOLDEN_H
#define KUMO_TEST_GOLDEN_H
#include <stdbool.h>

#include "kumo.h"

typedef struct golden_case {
    const char *model;     /* file in ../shared/models */
    const char *golden;    /* file in ../shared/golden */
    double tol;            /* max |Δ| allowed on every compared row */
    double rms_tol;        /* rms of Δ over all compared rows (0: not checked) */
    bool moe;              /* routing-aware criterion of FORMAT.md */
    kumo_kv_type kv_type;  /* kumo's KV cache for the run */
} golden_case;

typedef struct golden_result {
    int rows, rows_compared, argmax_checked, argmax_agree, greedy_checked, greedy_agree;
    int routing_rows_differ;
    double max_abs, rms;
} golden_result;

/* Runs every prompt of the case, asserting (cmocka) the criteria; fills *res for reporting. */
void golden_check(const golden_case *c, golden_result *res);

/* Runs the cases as one cmocka group named `group`, each test named "<golden file> kv=f16|f32". */
int golden_run_cases(const char *group, const golden_case *cases, size_t n);
#endif
