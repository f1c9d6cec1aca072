#include "tensor/ops.h"

#include <math.h>
#include <string.h>

#include "tensor/quant.h"

size_t matmul_scratch_bytes(uint32_t type, int64_t n_in, int t) {
    const kumo_type_traits *tr = kumo_get_type_traits(type);
    if (!tr) return 0;
    return ggml_row_bytes(tr->vec_dot_type, n_in) * (size_t)t;
}

struct matmul_job {
    const kumo_matrix *w;
    const kumo_type_traits *tr, *act_tr;
    const float *x;
    int n_t;
    float *y;
    uint8_t *xq;
    size_t xq_row;
};

static void matmul_quantize_acts(void *arg, int ith, int nth) {
    struct matmul_job *j = arg;
    long t0, t1;
    thread_pool_split(j->n_t, ith, nth, &t0, &t1);
    for (long t = t0; t < t1; t++)
        j->act_tr->from_float(j->x + t * j->w->n_in, j->xq + t * j->xq_row, j->w->n_in);
}

/* Rows are handed out in tiles so each tile of weights is read from memory once and reused, from
 * cache, for every token of the batch. */
#define MATMUL_TILE_ROWS 16

static void matmul_rows(void *arg, int ith, int nth) {
    struct matmul_job *j = arg;
    const kumo_matrix *w = j->w;
    long n_tiles = (w->n_out + MATMUL_TILE_ROWS - 1) / MATMUL_TILE_ROWS;
    long k0, k1;
    thread_pool_split(n_tiles, ith, nth, &k0, &k1);
    kumo_vec_dot_fn dot = j->tr->vec_dot;
    for (long k = k0; k < k1; k++) {
        long r0 = k * MATMUL_TILE_ROWS, r1 = r0 + MATMUL_TILE_ROWS;
        if (r1 > w->n_out) r1 = w->n_out;
        for (int t = 0; t < j->n_t; t++) {
            const uint8_t *a = j->xq + (size_t)t * j->xq_row;
            float *yt = j->y + (size_t)t * w->n_out;
            for (long r = r0; r < r1; r++)
                yt[r] = dot(w->n_in, (const uint8_t *)w->data + (size_t)r * w->row_bytes, a);
        }
    }
}

void matmul(thread_pool *pool, const kumo_matrix *w, const float *x, int n_t, float *y, void *scratch) {
    struct matmul_job j = {
        .w = w,
        .tr = kumo_get_type_traits(w->type),
        .x = x,
        .n_t = n_t,
        .y = y,
        .xq = scratch,
    };
    j.act_tr = kumo_get_type_traits(j.tr->vec_dot_type);
    j.xq_row = ggml_row_bytes(j.tr->vec_dot_type, w->n_in);
    if (n_t > 1) thread_pool_run(pool, matmul_quantize_acts, &j);
    else matmul_quantize_acts(&j, 0, 1);
    thread_pool_run(pool, matmul_rows, &j);
}

void rms_norm(float *out, const float *x, const float *weight, int n, float eps) {
    double ss = 0.0;
    for (int i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float scale = (float)(1.0 / sqrt(ss / n + eps));
    if (weight)
        for (int i = 0; i < n; i++) out[i] = x[i] * scale * weight[i];
    else
        for (int i = 0; i < n; i++) out[i] = x[i] * scale;
}

void rope_apply(float *head, int n_rot, const float *cs, int neox) {
    int half = n_rot / 2;
    for (int i = 0; i < half; i++) {
        int a = neox ? i : 2 * i;
        int b = neox ? i + half : 2 * i + 1;
        float c = cs[2 * i], s = cs[2 * i + 1];
        float x0 = head[a], x1 = head[b];
        head[a] = x0 * c - x1 * s;
        head[b] = x0 * s + x1 * c;
    }
}

void softmax_inplace(float *x, int n) {
    float mx = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > mx) mx = x[i];
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++) x[i] *= inv;
}

void swiglu(float *out, const float *gate, const float *up, int n) {
    for (int i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}
