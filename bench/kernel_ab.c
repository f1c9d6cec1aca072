/* Kernel A/B in one process (built and run by bench/kernel_ab.sh, not by make).
 *
 * This host's in-cache throughput flips between two levels every few hundred milliseconds (a
 * neighbour on the core), so two binaries timed one after the other disagree by 5-15 % whatever
 * they contain. Here the AVX-512 kernel table of another commit (its gemm_avx512.o, with
 * gemm_kernels_avx512 renamed base_gemm_kernels_avx512) and the current one run on the same packed
 * matrix and the same activation rows, alternating call by call (order swapped every round), so
 * both see the same minutes. A/A runs of one commit against itself gave 0.987-1.013.
 *
 *   kernel_ab TYPE N_IN N_OUT [TOKENS] [ROUNDS]
 *   kernel_ab act32|act256 N_IN [ROUNDS]
 *
 * Prints both kernels' GB/s over all rounds, their time ratio (current / base), and whether they
 * wrote the same bits. The base must read the current activation-row layout (gemm_act_row_bytes).
 * act32 / act256 time the AVX-512 activation quantizers (GEMM_ACT_Q8_32 / Q8_256 rows) instead, and
 * compare the bytes the base writes (the current layout may append arrays, not shrink). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "format/ggml_type.h"
#include "tensor/gemm.h"
#include "tensor/quant.h"
#include "tensor/quantize.h"

void base_gemm_kernels_avx512(gemm_kernel_fn table[]);
gemm_quantize_fn base_gemm_quantize_avx512(void);

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void run_panels(gemm_kernel_fn k, const kumo_packed *p, const uint8_t *const *act, int T, float *y) {
    for (int64_t pn = 0; pn < p->n_panels; pn++) {
        const int64_t r0 = pn * GEMM_PANEL;
        const int n_rows = (int)(p->n_out - r0 < GEMM_PANEL ? p->n_out - r0 : GEMM_PANEL);
        k(p, p->data + (size_t)pn * p->panel_bytes, act, T, y + r0, (size_t)p->n_out, n_rows);
    }
}

/* the quantizers of both commits on the same rows, alternated; the bytes the base writes compared */
static int quantizer_ab(int act, int64_t n_in, int rounds) {
    const gemm_quantize_fn q[2] = {base_gemm_quantize_avx512(), gemm_quantize_avx512()};
    if (!q[0] || !q[1] || n_in <= 0 || n_in % 256 || rounds < 1) return 2;
    float *x = malloc((size_t)n_in * sizeof(float));
    srand(1);
    for (int64_t i = 0; i < n_in; i++) x[i] = (float)(rand() % 2001 - 1000) * 1e-3f;
    const size_t rb = gemm_act_row_bytes(act, n_in);
    uint8_t *out[2] = {aligned_alloc(64, rb), aligned_alloc(64, rb)};
    /* the bytes the base writes: those it leaves the same over two different fills */
    uint8_t *fill[2] = {malloc(rb), malloc(rb)};
    memset(fill[0], 0x00, rb);
    memset(fill[1], 0xFF, rb);
    q[0](act, x, n_in, fill[0]);
    q[0](act, x, n_in, fill[1]);
    double total[2] = {0, 0};
    for (int r = 0; r < rounds; r++)
        for (int v = 0; v < 2; v++) {
            const int s = (r & 1) ? 1 - v : v;
            const double t0 = now();
            q[s](act, x, n_in, out[s]);
            total[s] += now() - t0;
        }
    size_t written = 0, differ = 0;
    for (size_t i = 0; i < rb; i++)
        if (fill[0][i] == fill[1][i]) {
            written++;
            differ += out[1][i] != fill[0][i];
        }
    printf("quantizer %s, %lld elements, %d rounds: base %.3f us, current %.3f us, time current/base %.3f, "
           "the %zu bytes the base writes same: %s\n",
           act == GEMM_ACT_Q8_32 ? "act32" : "act256", (long long)n_in, rounds, total[0] / rounds * 1e6,
           total[1] / rounds * 1e6, total[1] / total[0], written, differ ? "no" : "yes");
    free(fill[0]);
    free(fill[1]);
    free(x);
    free(out[0]);
    free(out[1]);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 3 && (strcmp(argv[1], "act32") == 0 || strcmp(argv[1], "act256") == 0)) {
        const int64_t n = atol(argv[2]);
        const int act = argv[1][3] == '3' ? GEMM_ACT_Q8_32 : GEMM_ACT_Q8_256;
        return quantizer_ab(act, n, argc > 3 ? atoi(argv[3]) : 20000);
    }
    if (argc < 4) {
        fprintf(stderr, "usage: kernel_ab TYPE N_IN N_OUT [TOKENS] [ROUNDS]\n");
        return 2;
    }
    const int ty = ggml_type_from_name(argv[1]);
    const int64_t n_in = atol(argv[2]), n_out = atol(argv[3]);
    const int T = argc > 4 ? atoi(argv[4]) : 1, rounds = argc > 5 ? atoi(argv[5]) : 2000;
    const kumo_quantize_row_fn quant = ty >= 0 ? kumo_quantizer((uint32_t)ty) : NULL;
    if (!quant || !gemm_can_pack((uint32_t)ty) || n_in <= 0 || n_in % 256 || n_out <= 0 || T < 1 ||
        T > GEMM_MAX_T || rounds < 1) {
        fprintf(stderr, "kernel_ab: a packable type, N_IN a multiple of 256, 1 <= TOKENS <= %d\n", GEMM_MAX_T);
        return 2;
    }
    const size_t rb = ggml_row_bytes((uint32_t)ty, n_in);
    uint8_t *w = malloc(rb * (size_t)n_out);
    float *row = malloc((size_t)n_in * sizeof(float));
    srand(1);
    for (int64_t r = 0; r < n_out; r++) {
        for (int64_t i = 0; i < n_in; i++) row[i] = (float)(rand() % 2001 - 1000) * 1e-4f;
        quant(row, w + rb * (size_t)r, n_in);
    }
    kumo_packed *p = gemm_pack((uint32_t)ty, n_in, n_out, 1, w, 1);
    const size_t ab = gemm_act_row_bytes(p->act, n_in);
    uint8_t *act = aligned_alloc(64, ab * (size_t)T);
    const uint8_t *a[GEMM_MAX_T];
    for (int t = 0; t < T; t++) {
        for (int64_t i = 0; i < n_in; i++) row[i] = (float)(rand() % 101 - 50) / 50.0f;
        gemm_quantize_row(p->act, row, n_in, act + ab * (size_t)t);
        a[t] = act + ab * (size_t)t;
    }
    gemm_kernel_fn base[GGML_TYPE_COUNT] = {0}, cur[GGML_TYPE_COUNT] = {0};
    base_gemm_kernels_avx512(base);
    gemm_kernels_avx512(cur);
    const gemm_kernel_fn k[2] = {base[ty], cur[ty]};
    if (!k[0] || !k[1]) {
        fprintf(stderr, "kernel_ab: no AVX-512 kernel for %s here\n", argv[1]);
        return 1;
    }
    float *y[2] = {malloc((size_t)n_out * (size_t)T * sizeof(float)), malloc((size_t)n_out * (size_t)T * sizeof(float))};
    double total[2] = {0, 0};
    for (int r = 0; r < rounds; r++)
        for (int v = 0; v < 2; v++) {
            const int s = (r & 1) ? 1 - v : v;
            const double t0 = now();
            run_panels(k[s], p, a, T, y[s]);
            total[s] += now() - t0;
        }
    const double bytes = (double)p->n_panels * (double)p->panel_bytes * rounds;
    printf("%s %lld x %lld, %d token(s), %d rounds: base %.1f GB/s, current %.1f GB/s, time current/base %.3f, "
           "same bits: %s\n",
           argv[1], (long long)n_out, (long long)n_in, T, rounds, bytes / total[0] / 1e9, bytes / total[1] / 1e9,
           total[1] / total[0], memcmp(y[0], y[1], (size_t)n_out * (size_t)T * sizeof(float)) ? "no" : "yes");
    gemm_packed_free(p);
    free(w);
    free(row);
    free(act);
    free(y[0]);
    free(y[1]);
    return 0;
}
