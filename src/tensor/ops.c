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

/* Activation formats: the GEMM rows of packed matrices (enum gemm_act); for float weights with a
 * float kernel, f32 rows rounded to the weight type (FMT_FLOAT + type); otherwise plain rows of the
 * type's vec_dot_type (FMT_VEC_DOT + that type). */
#define FMT_VEC_DOT 16
#define FMT_FLOAT 64
#define ITEM_ROWS 16      /* output rows per work item (one panel when packed) */
#define MAX_GROUP 256     /* tasks handled per pass */
/* One-token work on up to SPLIT_MAX_THREADS threads is split into one contiguous range per thread
 * (see batch_worker), claimed SPLIT_CHUNK_MAX items at most at a time. */
#define SPLIT_MAX_THREADS 8
#define SPLIT_CHUNK_MAX 8

static bool is_float_type(uint32_t t) { return t == GGML_TYPE_F32 || t == GGML_TYPE_F16 || t == GGML_TYPE_BF16; }

static int task_format(const kumo_matrix *w) {
    if (w->packed) return w->packed->act;
    if (is_float_type(w->type) && gemm_float_kernel()) return FMT_FLOAT + (int)w->type;
    return FMT_VEC_DOT + (int)kumo_get_type_traits(w->type)->vec_dot_type;
}

static size_t format_row_bytes(int fmt, int64_t n_in) {
    if (fmt < FMT_VEC_DOT) return gemm_act_row_bytes(fmt, n_in);
    if (fmt >= FMT_FLOAT) return (size_t)n_in * sizeof(float);
    return ggml_row_bytes((uint32_t)(fmt - FMT_VEC_DOT), n_in);
}

size_t matmul_scratch_bytes(uint32_t type, int64_t n_in, int n_rows) {
    const kumo_type_traits *tr = kumo_get_type_traits(type);
    if (!tr) return 0;
    size_t row = ggml_row_bytes(tr->vec_dot_type, n_in);
    if (row < (size_t)n_in * sizeof(float)) row = (size_t)n_in * sizeof(float); /* float kernels' rows */
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
    int n_split;                           /* > 0: items in this many ranges, one per thread */
    int64_t split_end[SPLIT_MAX_THREADS];  /* end of each range */
    _Alignas(64) _Atomic(int64_t) next_item;
    struct {
        _Alignas(64) _Atomic(int64_t) next; /* next unclaimed item of the range, on its own line */
    } split_next[SPLIT_MAX_THREADS];
    _Alignas(64) atomic_int next_row;  /* conversion: next row to claim */
    atomic_int rows_done;
};

#define CONVERT_CHUNK 4 /* rows per conversion claim */
/* One-token work on more than SPLIT_MAX_THREADS threads: the smallest share of items a thread takes,
 * several per thread, so that a thread the OS delays leaves work for the others. */
#define CHUNKS_PER_THREAD 16

static void convert_rows(struct batch_job *j, long r0, long r1) {
    if (j->fmt >= FMT_FLOAT) {
        for (long r = r0; r < r1; r++)
            gemm_float_act_row((uint32_t)(j->fmt - FMT_FLOAT), j->x + r * j->n_in, j->n_in,
                               j->act_out + (size_t)r * j->act_row);
    } else if (j->fmt < FMT_VEC_DOT) {
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
    const int64_t r0 = item * ITEM_ROWS, r1 = r0 + ITEM_ROWS < w->n_out ? r0 + ITEM_ROWS : w->n_out;
    if (j->fmt >= FMT_FLOAT) {
        const gemm_float_fn k = gemm_float_kernel();
        for (int t0 = 0; t0 < tk->n_t; t0 += GEMM_MAX_T) {
            const int T = tk->n_t - t0 < GEMM_MAX_T ? tk->n_t - t0 : GEMM_MAX_T;
            const void *a[GEMM_MAX_T];
            for (int t = 0; t < T; t++) a[t] = j->act + (size_t)task_row(tk, t0 + t) * j->act_row;
            k(w->type, (const uint8_t *)w->data + (size_t)r0 * w->row_bytes, w->row_bytes, (int)(r1 - r0), w->n_in, a,
              T, tk->y + (size_t)t0 * tk->ldy + r0, (size_t)tk->ldy);
        }
        return;
    }
    const kumo_vec_dot_fn dot = kumo_get_type_traits(w->type)->vec_dot;
    for (int t = 0; t < tk->n_t; t++) {
        const uint8_t *a = j->act + (size_t)task_row(tk, t) * j->act_row;
        float *yt = tk->y + (size_t)t * tk->ldy;
        for (int64_t r = r0; r < r1; r++) yt[r] = dot(w->n_in, (const uint8_t *)w->data + (size_t)r * w->row_bytes, a);
    }
}

/* Work items [i0, i1); *tk tracks the task they belong to. */
static void run_items(const struct batch_job *j, int64_t i0, int64_t i1, int *tk) {
    for (int64_t i = i0; i < i1; i++) {
        while (j->item_end[*tk] <= i) ++*tk;
        while (*tk > 0 && j->item_end[*tk - 1] > i) --*tk;
        run_item(j, j->tasks[*tk], i - (*tk ? j->item_end[*tk - 1] : 0));
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
    if (j->n_split) {
        /* Own range first, then the others' leftovers. A claim on one's own range touches a line no
         * other thread writes until it runs out of work; one shared counter cost a cross-core
         * transfer per claim (~100-200 ns here, a dozen claims per product) and cut each thread's
         * read into pieces the hardware prefetcher had to pick up again. */
        for (int k = 0; k < j->n_split; k++) {
            const int r = (ith + k) % j->n_split;
            for (int64_t i0; (i0 = atomic_fetch_add_explicit(&j->split_next[r].next, j->chunk, memory_order_relaxed)) <
                             j->split_end[r];)
                run_items(j, i0, i0 + j->chunk < j->split_end[r] ? i0 + j->chunk : j->split_end[r], &tk);
        }
        return;
    }
    for (;;) {
        /* guided: a share of what is left (at least j->chunk), so the last pieces are small and no
         * thread waits long for another at the end */
        int64_t i0 = atomic_load_explicit(&j->next_item, memory_order_relaxed), take;
        do {
            if (i0 >= j->n_items) return;
            take = (j->n_items - i0) / (2 * nth);
            if (take < j->chunk) take = j->chunk;
        } while (!atomic_compare_exchange_weak_explicit(&j->next_item, &i0, i0 + take, memory_order_relaxed,
                                                        memory_order_relaxed));
        run_items(j, i0, i0 + take < j->n_items ? i0 + take : j->n_items, &tk);
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
    atomic_init(&j->next_item, 0);
    if (max_t >= 4) {
        j->chunk = 1; /* a work item with a few tokens is heavy enough to hand out alone */
    } else if (nth > 1 && nth <= SPLIT_MAX_THREADS) {
        /* an eighth of a range per claim at most, so a thread that runs out early still finds work */
        j->n_split = nth;
        const int64_t per = j->n_items / nth;
        j->chunk = per / 8 < 1 ? 1 : per / 8 > SPLIT_CHUNK_MAX ? SPLIT_CHUNK_MAX : per / 8;
        for (int r = 0; r < nth; r++) {
            atomic_init(&j->split_next[r].next, j->n_items * r / nth);
            j->split_end[r] = j->n_items * (r + 1) / nth;
        }
    } else {
        j->chunk = j->n_items / (CHUNKS_PER_THREAD * nth) + 1;
    }
    if (fmt == FMT_VEC_DOT + GGML_TYPE_F32 || fmt == FMT_FLOAT + GGML_TYPE_F32) {
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

static void rope_portable(float *head, int n_rot, const float *cs, int neox) {
    const int half = n_rot / 2;
    for (int i = 0; i < half; i++) {
        const int a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
        const float c = cs[i], s = cs[half + i];
        const float x0 = head[a], x1 = head[b];
        head[a] = x0 * c - x1 * s;
        head[b] = x0 * s + x1 * c;
    }
}

static void add_rms_norm_portable(float *x, const float *delta, float *out, const float *weight, int n, float eps) {
    if (delta)
        for (int i = 0; i < n; i++) x[i] += delta[i];
    rms_norm_portable(out, x, weight, n, eps);
}

static void axpy_portable(float *out, float a, const float *x, int n) {
    for (int i = 0; i < n; i++) out[i] += a * x[i];
}

static pthread_once_t g_ops_once = PTHREAD_ONCE_INIT;
static struct ops_kernels g_ops;

static void choose_ops(void) {
    g_ops.rms_norm = rms_norm_portable;
    g_ops.swiglu = swiglu_portable;
    g_ops.rope = rope_portable;
    g_ops.add_rms_norm = add_rms_norm_portable;
    g_ops.axpy = axpy_portable;
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

void add_rms_norm(float *x, const float *delta, float *out, const float *weight, int n, float eps) {
    pthread_once(&g_ops_once, choose_ops);
    g_ops.add_rms_norm(x, delta, out, weight, n, eps);
}

void vec_axpy(float *out, float a, const float *x, int n) {
    pthread_once(&g_ops_once, choose_ops);
    g_ops.axpy(out, a, x, n);
}

void rope_apply(float *head, int n_rot, const float *cs, int neox) {
    pthread_once(&g_ops_once, choose_ops);
    g_ops.rope(head, n_rot, cs, neox);
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
