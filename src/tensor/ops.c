#include "tensor/ops.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "tensor/gemm.h"
#include "tensor/ops_impl.h"
#include "tensor/quant.h"

/* ======================= matmul ======================= */

/* Activation formats: the GEMM rows of packed matrices (enum gemm_act), or for unpacked matrices
 * plain rows of the type's vec_dot_type, numbered FMT_VEC_DOT + that type. */
#define FMT_VEC_DOT 16
#define ITEM_ROWS 16      /* output rows per work item (one panel when packed) */
#define MAX_GROUP 256     /* tasks handled per pass */

static int task_format(const kumo_matrix *w) {
    if (w->packed) return w->packed->act;
    return FMT_VEC_DOT + (int)kumo_get_type_traits(w->type)->vec_dot_type;
}

static size_t format_row_bytes(int fmt, int64_t n_in) {
    if (fmt < FMT_VEC_DOT) return gemm_act_row_bytes(fmt, n_in);
    return ggml_row_bytes((uint32_t)(fmt - FMT_VEC_DOT), n_in);
}

size_t matmul_scratch_bytes(uint32_t type, int64_t n_in, int n_rows) {
    const kumo_type_traits *tr = kumo_get_type_traits(type);
    if (!tr) return 0;
    size_t row = ggml_row_bytes(tr->vec_dot_type, n_in);
    for (int f = 0; f < GEMM_ACT_COUNT; f++) {
        const size_t g = gemm_act_row_bytes(f, n_in);
        if (g > row) row = g;
    }
    return row * (size_t)n_rows;
}

struct batch_job {
    thread_pool *pool;
    const float *x;
    int n_x;
    int64_t n_in;
    int fmt;
    bool convert_in_job;
    const uint8_t *act;      /* n_x converted rows, act_row bytes apart */
    uint8_t *act_out;
    size_t act_row;
    const matmul_task *tasks[MAX_GROUP];
    int64_t item_end[MAX_GROUP]; /* running totals of work items */
    int n_tasks;
    int64_t n_items, chunk;
    _Alignas(64) atomic_llong next_item;
    _Alignas(64) atomic_int next_row;  /* conversion: next row to claim */
    atomic_int rows_done;
};

#define CONVERT_CHUNK 4 /* rows per conversion claim */

static void convert_rows(struct batch_job *j, long r0, long r1) {
    if (j->fmt < FMT_VEC_DOT) {
        for (long r = r0; r < r1; r++)
            gemm_quantize_row(j->fmt, j->x + r * j->n_in, j->n_in, j->act_out + (size_t)r * j->act_row);
    } else {
        const kumo_from_float_fn from = kumo_get_type_traits((uint32_t)(j->fmt - FMT_VEC_DOT))->from_float;
        for (long r = r0; r < r1; r++) from(j->x + r * j->n_in, j->act_out + (size_t)r * j->act_row, j->n_in);
    }
}

static inline int task_row(const matmul_task *tk, int i) { return tk->rows ? tk->rows[i] : tk->row0 + i; }

/* Output rows [ITEM_ROWS·item, +ITEM_ROWS) of one task for all its tokens. */
static void run_item(const struct batch_job *j, const matmul_task *tk, int64_t item) {
    const kumo_matrix *w = tk->w;
    if (w->packed) {
        const kumo_packed *p = w->packed;
        const gemm_kernel_fn k = gemm_kernel(p->type);
        const uint8_t *panel = p->data + (size_t)item * p->panel_bytes;
        const int64_t r0 = item * GEMM_PANEL;
        const int n_rows = (int)(p->n_out - r0 < GEMM_PANEL ? p->n_out - r0 : GEMM_PANEL);
        for (int t0 = 0; t0 < tk->n_t; t0 += GEMM_MAX_T) {
            const int T = tk->n_t - t0 < GEMM_MAX_T ? tk->n_t - t0 : GEMM_MAX_T;
            const uint8_t *a[GEMM_MAX_T];
            for (int t = 0; t < T; t++) a[t] = j->act + (size_t)task_row(tk, t0 + t) * j->act_row;
            k(p, panel, a, T, tk->y + (size_t)t0 * tk->ldy + r0, (size_t)tk->ldy, n_rows);
        }
        return;
    }
    const kumo_vec_dot_fn dot = kumo_get_type_traits(w->type)->vec_dot;
    const int64_t r0 = item * ITEM_ROWS, r1 = r0 + ITEM_ROWS < w->n_out ? r0 + ITEM_ROWS : w->n_out;
    for (int t = 0; t < tk->n_t; t++) {
        const uint8_t *a = j->act + (size_t)task_row(tk, t) * j->act_row;
        float *yt = tk->y + (size_t)t * tk->ldy;
        for (int64_t r = r0; r < r1; r++) yt[r] = dot(w->n_in, (const uint8_t *)w->data + (size_t)r * w->row_bytes, a);
    }
}

static void batch_worker(void *arg, int ith, int nth) {
    struct batch_job *j = arg;
    if (j->convert_in_job) {
        for (int r0; (r0 = atomic_fetch_add(&j->next_row, CONVERT_CHUNK)) < j->n_x;) {
            const int r1 = r0 + CONVERT_CHUNK < j->n_x ? r0 + CONVERT_CHUNK : j->n_x;
            convert_rows(j, r0, r1);
            atomic_fetch_add_explicit(&j->rows_done, r1 - r0, memory_order_release);
        }
        while (atomic_load_explicit(&j->rows_done, memory_order_acquire) < j->n_x) thread_pool_pause();
    }
    int tk = 0;
    for (;;) {
        const int64_t i0 = atomic_fetch_add_explicit(&j->next_item, j->chunk, memory_order_relaxed);
        if (i0 >= j->n_items) break;
        const int64_t i1 = i0 + j->chunk < j->n_items ? i0 + j->chunk : j->n_items;
        for (int64_t i = i0; i < i1; i++) {
            while (j->item_end[tk] <= i) tk++;
            while (tk > 0 && j->item_end[tk - 1] > i) tk--;
            run_item(j, j->tasks[tk], i - (tk ? j->item_end[tk - 1] : 0));
        }
    }
}

static int64_t task_items(const matmul_task *tk) {
    return (tk->w->n_out + ITEM_ROWS - 1) / ITEM_ROWS;
}

/* The tasks of one activation format, at most MAX_GROUP of them. */
static void run_group(thread_pool *pool, const float *x, int n_x, int64_t n_in, const matmul_task *const *tasks,
                      int n_tasks, int fmt, void *scratch) {
    struct batch_job *j = &(struct batch_job){0};
    j->pool = pool;
    j->x = x;
    j->n_x = n_x;
    j->n_in = n_in;
    j->fmt = fmt;
    j->n_tasks = n_tasks;
    int max_t = 0;
    for (int i = 0; i < n_tasks; i++) {
        j->tasks[i] = tasks[i];
        j->n_items += task_items(tasks[i]);
        j->item_end[i] = j->n_items;
        if (tasks[i]->n_t > max_t) max_t = tasks[i]->n_t;
    }
    const int nth = thread_pool_size(pool);
    /* a work item with a few tokens is heavy enough to hand out alone; one-token items are small, so
     * they go in chunks, still leaving several per thread to even out a thread the OS delays */
    j->chunk = max_t >= 4 ? 1 : j->n_items / (8 * nth) + 1;
    atomic_init(&j->next_item, 0);
    if (fmt == FMT_VEC_DOT + GGML_TYPE_F32) {
        j->act = (const uint8_t *)x; /* already in the dot type */
        j->act_row = (size_t)n_in * sizeof(float);
    } else {
        j->act_out = scratch;
        j->act = scratch;
        j->act_row = format_row_bytes(fmt, n_in);
        if (n_x <= 2 || nth == 1) convert_rows(j, 0, n_x); /* cheaper than sharing it out */
        else j->convert_in_job = true;
    }
    atomic_init(&j->next_row, 0);
    atomic_init(&j->rows_done, 0);
    thread_pool_run_shared(pool, batch_worker, j);
}

void matmul_batch(thread_pool *pool, const float *x, int n_x, int64_t n_in, const matmul_task *tasks, int n_tasks,
                  void *scratch) {
    bool done[MAX_GROUP];
    for (int base = 0; base < n_tasks; base += MAX_GROUP) {
        const int n = n_tasks - base < MAX_GROUP ? n_tasks - base : MAX_GROUP;
        for (int i = 0; i < n; i++) done[i] = tasks[base + i].n_t <= 0;
        for (int first = 0; first < n; first++) {
            if (done[first]) continue;
            const int fmt = task_format(tasks[base + first].w);
            const matmul_task *group[MAX_GROUP];
            int g = 0;
            for (int i = first; i < n; i++)
                if (!done[i] && task_format(tasks[base + i].w) == fmt) {
                    group[g++] = &tasks[base + i];
                    done[i] = true;
                }
            run_group(pool, x, n_x, n_in, group, g, fmt, scratch);
        }
    }
}

void matmul(thread_pool *pool, const kumo_matrix *w, const float *x, int n_t, float *y, void *scratch) {
    const matmul_task t = {.w = w, .n_t = n_t, .y = y, .ldy = w->n_out};
    matmul_batch(pool, x, n_t, w->n_in, &t, 1, scratch);
}

/* ======================= small ops ======================= */

static void rms_norm_portable(float *out, const float *x, const float *weight, int n, float eps) {
    double ss = 0.0;
    for (int i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float scale = (float)(1.0 / sqrt(ss / n + eps));
    if (weight)
        for (int i = 0; i < n; i++) out[i] = x[i] * scale * weight[i];
    else
        for (int i = 0; i < n; i++) out[i] = x[i] * scale;
}

static void swiglu_portable(float *out, const float *gate, const float *up, int n) {
    for (int i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

static pthread_once_t g_ops_once = PTHREAD_ONCE_INIT;
static struct ops_kernels g_ops;

static void choose_ops(void) {
    g_ops.rms_norm = rms_norm_portable;
    g_ops.swiglu = swiglu_portable;
    if (strcmp(kumo_cpu_isa(), "avx512") == 0) ops_install_avx512(&g_ops);
}

void rms_norm(float *out, const float *x, const float *weight, int n, float eps) {
    pthread_once(&g_ops_once, choose_ops);
    g_ops.rms_norm(out, x, weight, n, eps);
}

void swiglu(float *out, const float *gate, const float *up, int n) {
    pthread_once(&g_ops_once, choose_ops);
    g_ops.swiglu(out, gate, up, n);
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
