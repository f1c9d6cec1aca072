#include "model/pack.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "tensor/gemm.h"
#include "tensor/threadpool.h"

/* Packs start on their own 4 KiB page inside the arena. */
#define PACK_ALIGN ((size_t)4096)

struct pack_pass {
    bool packing;          /* false: the sizing pass */
    uint8_t *arena;
    size_t arena_alloc;
    size_t used;
    int n_threads;
    const void *keep;      /* the embedding's rows: still read after packing */
};

static size_t round_up(size_t n) { return (n + PACK_ALIGN - 1) / PACK_ALIGN * PACK_ALIGN; }

/* The file pages of a packed matrix are not read again: drop them from the process (they stay in
 * the page cache, and come back on demand should anything read them). */
static void release_source(const void *data, size_t bytes) {
#if defined(__linux__)
    const long page = sysconf(_SC_PAGESIZE);
    if (page <= 0) return;
    const uintptr_t a = ((uintptr_t)data + (uintptr_t)page - 1) / (uintptr_t)page * (uintptr_t)page;
    const uintptr_t b = ((uintptr_t)data + bytes) / (uintptr_t)page * (uintptr_t)page;
    if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
#else
    (void)data;
    (void)bytes;
#endif
}

static void visit(struct pack_pass *ps, kumo_matrix *w, int64_t n_mats) {
    if (!w->data || w->packed || !gemm_can_pack(w->type)) return;
    const size_t bytes = gemm_packed_bytes(w->type, w->n_in, w->n_out, n_mats);
    if (!bytes) return;
    if (ps->packing) {
        if (!ps->arena) return; /* given up */
        kumo_packed *p = gemm_pack_into(w->type, w->n_in, w->n_out, n_mats, w->data, ps->n_threads, ps->arena + ps->used);
        if (!p) {
            if (ps->used == 0) { /* no owner for the arena yet: give up packing */
                gemm_arena_free(ps->arena, ps->arena_alloc);
                ps->arena = NULL;
            }
            return;
        }
        if (ps->used == 0) p->alloc_bytes = ps->arena_alloc; /* the first pack owns the arena */
        w->packed = p;
        if (w->data != ps->keep) release_source(w->data, w->row_bytes * (size_t)w->n_out * (size_t)n_mats);
    }
    ps->used += round_up(bytes);
}

/* Every matrix of the model with its number of stacked copies. */
static void for_each_matrix(kumo_model *m, struct pack_pass *ps) {
    const int64_t ne = m->hp.n_expert > 0 ? m->hp.n_expert : 1;
    for (int l = 0; l < m->hp.n_layer; l++) {
        layer_weights *L = &m->layers[l];
        kumo_matrix *single[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->ffn_gate, &L->ffn_up, &L->ffn_down, &L->ffn_router};
        for (size_t i = 0; i < sizeof single / sizeof single[0]; i++) visit(ps, single[i], 1);
        kumo_matrix *stacked[] = {&L->exp_gate, &L->exp_up, &L->exp_down};
        for (size_t i = 0; i < sizeof stacked / sizeof stacked[0]; i++) visit(ps, stacked[i], ne);
    }
    visit(ps, &m->output, 1); /* tied or not, the embedding lookup keeps m->tok_embd unpacked */
}

void model_pack_weights(kumo_model *m) {
    const char *env = getenv("KUMO_PACK");
    if (env && strcmp(env, "0") == 0) return;
    if (!m->layers) return;
    /* one arena for all packs: per-matrix huge-page allocations would round each up to 2 MiB */
    struct pack_pass ps = {.n_threads = kumo_cpu_count(), .keep = m->tok_embd.data};
    for_each_matrix(m, &ps);
    if (!ps.used) return;
    ps.arena = gemm_arena_alloc(ps.used, &ps.arena_alloc);
    if (!ps.arena) return; /* out of memory: the mapped rows still work */
    ps.used = 0;
    ps.packing = true;
    for_each_matrix(m, &ps);
}

void model_free_packed(kumo_model *m) {
    if (!m->layers) return;
    for (int l = 0; l < m->hp.n_layer; l++) {
        layer_weights *L = &m->layers[l];
        kumo_matrix *all[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->ffn_gate, &L->ffn_up, &L->ffn_down, &L->ffn_router,
                              &L->exp_gate, &L->exp_up, &L->exp_down};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
            gemm_packed_free((kumo_packed *)all[i]->packed);
            all[i]->packed = NULL;
        }
    }
    gemm_packed_free((kumo_packed *)m->output.packed);
    m->output.packed = NULL;
}
