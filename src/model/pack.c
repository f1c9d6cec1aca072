#include "model/pack.h"

#include <stdlib.h>
#include <string.h>

#include "tensor/gemm.h"
#include "tensor/threadpool.h"

static void pack_one(kumo_matrix *w, int64_t n_mats, int n_threads) {
    if (!w->data || w->packed || !gemm_can_pack(w->type)) return;
    w->packed = gemm_pack(w->type, w->n_in, w->n_out, n_mats, w->data, n_threads);
}

static void free_one(kumo_matrix *w) {
    gemm_packed_free((kumo_packed *)w->packed);
    w->packed = NULL;
}

/* Every matrix of the model with its number of stacked copies; fn is applied to each. */
static void for_each_matrix(kumo_model *m, void (*fn)(kumo_matrix *, int64_t, int), int n_threads) {
    const int64_t ne = m->hp.n_expert > 0 ? m->hp.n_expert : 1;
    for (int l = 0; l < m->hp.n_layer; l++) {
        layer_weights *L = &m->layers[l];
        kumo_matrix *single[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->ffn_gate, &L->ffn_up, &L->ffn_down, &L->ffn_router};
        for (size_t i = 0; i < sizeof single / sizeof single[0]; i++) fn(single[i], 1, n_threads);
        kumo_matrix *stacked[] = {&L->exp_gate, &L->exp_up, &L->exp_down};
        for (size_t i = 0; i < sizeof stacked / sizeof stacked[0]; i++) fn(stacked[i], ne, n_threads);
    }
    fn(&m->output, 1, n_threads); /* tied or not, the embedding lookup keeps m->tok_embd unpacked */
}

static void free_adapter(kumo_matrix *w, int64_t n_mats, int n_threads) {
    (void)n_mats;
    (void)n_threads;
    free_one(w);
}

void model_pack_weights(kumo_model *m) {
    const char *env = getenv("KUMO_PACK");
    if (env && strcmp(env, "0") == 0) return;
    if (!m->layers) return;
    for_each_matrix(m, pack_one, kumo_cpu_count());
}

void model_free_packed(kumo_model *m) {
    if (!m->layers) return;
    for_each_matrix(m, free_adapter, 0);
}
