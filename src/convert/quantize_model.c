/* kumo quantize: IN.gguf → OUT.gguf with the weights converted to a quantization mix. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/convert.h"
#include "format/gguf.h"
#include "tensor/quant.h"
#include "tensor/threadpool.h"
#include "util/err.h"

struct convert_job {
    const kumo_type_traits *src_tr;   /* NULL when the source is F32 */
    const void *src;
    uint32_t dst_type;
    void *dst;
    int64_t n_rows, n_per_row;
    size_t src_row, dst_row;
    float *scratch;                   /* per worker: rows of floats */
    int64_t scratch_rows;
    bool ok;
};

/* Each worker converts its share of rows in chunks through its own float buffer. */
static void convert_worker(void *arg, int ith, int nth) {
    struct convert_job *j = arg;
    long r0, r1;
    thread_pool_split(j->n_rows, ith, nth, &r0, &r1);
    float *buf = j->scratch + (size_t)ith * j->scratch_rows * j->n_per_row;
    for (long r = r0; r < r1; r += j->scratch_rows) {
        long n = r1 - r < j->scratch_rows ? r1 - r : j->scratch_rows;
        const float *f;
        if (j->src_tr) {
            for (long i = 0; i < n; i++)
                j->src_tr->to_float((const uint8_t *)j->src + (size_t)(r + i) * j->src_row,
                                    buf + (size_t)i * j->n_per_row, j->n_per_row);
            f = buf;
        } else {
            f = (const float *)((const uint8_t *)j->src + (size_t)r * j->src_row);
        }
        if (!convert_rows(j->dst_type, f, (uint8_t *)j->dst + (size_t)r * j->dst_row, n, j->n_per_row)) j->ok = false;
    }
}

int convert_tensor(thread_pool *pool, uint32_t src_type, const void *src, uint32_t dst_type, void *dst, int64_t n_rows,
                   int64_t n_per_row, kumo_error *err) {
    struct convert_job j = {
        .src_tr = src_type == GGML_TYPE_F32 ? NULL : kumo_get_type_traits(src_type),
        .src = src,
        .dst_type = dst_type,
        .dst = dst,
        .n_rows = n_rows,
        .n_per_row = n_per_row,
        .src_row = ggml_row_bytes(src_type, n_per_row),
        .dst_row = ggml_row_bytes(dst_type, n_per_row),
        .scratch_rows = 16,
        .ok = true,
    };
    if (src_type != GGML_TYPE_F32 && (!j.src_tr || !j.src_tr->to_float))
        return kumo_err(err, KUMO_E_UNSUPPORTED, "cannot read tensor type %s", ggml_type_name(src_type));
    if (!convert_type_supported(dst_type))
        return kumo_err(err, KUMO_E_UNSUPPORTED, "cannot produce tensor type %s", ggml_type_name(dst_type));
    j.scratch = malloc((size_t)thread_pool_size(pool) * j.scratch_rows * n_per_row * sizeof(float));
    if (!j.scratch) return kumo_err(err, KUMO_E_NOMEM, "out of memory");
    thread_pool_run(pool, convert_worker, &j);
    free(j.scratch);
    if (!j.ok) return kumo_err(err, KUMO_E_UNSUPPORTED, "conversion to %s failed", ggml_type_name(dst_type));
    return KUMO_OK;
}

static bool is_float_type(uint32_t t) { return t == GGML_TYPE_F32 || t == GGML_TYPE_F16 || t == GGML_TYPE_BF16; }

int kumo_quantize_file(const char *in, const char *out, const kumo_quantize_params *p, kumo_tool_report *report,
                       kumo_error *err) {
    kumo_tool_report rep = {0};
    const quant_ftype *ft = p->type ? quant_ftype_find(p->type) : NULL;
    if (!ft) return kumo_err(err, KUMO_E_INVALID, "unknown type '%s' (supported: %s)", p->type ? p->type : "",
                             quant_ftype_names());
    gguf_ctx *g = gguf_open(in, err);
    if (!g) return err ? err->code : KUMO_E_FORMAT;
    int rc = KUMO_OK;
    gguf_writer *w = NULL;
    uint32_t *types = NULL; /* each tensor's output type, decided before any work */
    thread_pool *pool = NULL;
    int64_t nt = gguf_tensor_count(g);
    void **bufs = calloc((size_t)(nt > 0 ? nt : 1), sizeof *bufs);
    gguf_str arch;
    if (!bufs) {
        rc = kumo_err(err, KUMO_E_NOMEM, "out of memory");
        goto out;
    }
    if (!gguf_get_str(g, "general.architecture", &arch, NULL)) {
        rc = kumo_err(err, KUMO_E_FORMAT, "%s: missing general.architecture", in);
        goto out;
    }
    if (nt == 0) {
        rc = kumo_err(err, KUMO_E_INVALID, "%s has no tensors to quantize", in);
        goto out;
    }
    quant_mix_state mix = {.ftype = ft, .has_output = gguf_find_tensor(g, "output.weight") != NULL};
    char key[256];
    uint32_t v;
    snprintf(key, sizeof key, "%.*s.block_count", (int)arch.len, arch.data);
    mix.n_layer = gguf_get_u32(g, key, &v, NULL) ? (int)v : 0;
    snprintf(key, sizeof key, "%.*s.expert_count", (int)arch.len, arch.data);
    mix.n_expert = gguf_get_u32(g, key, &v, NULL) ? (int)v : 0;
    uint32_t nh = 1, nkv = 1;
    snprintf(key, sizeof key, "%.*s.attention.head_count", (int)arch.len, arch.data);
    gguf_get_u32(g, key, &nh, NULL);
    snprintf(key, sizeof key, "%.*s.attention.head_count_kv", (int)arch.len, arch.data);
    if (!gguf_get_u32(g, key, &nkv, NULL) || nkv == 0) nkv = nh;
    mix.n_gqa = (int)(nh / nkv);
    for (int64_t i = 0; i < nt; i++) {
        const char *name = gguf_tensor_at(g, i)->name;
        mix.n_attn_v += strstr(name, "attn_v.weight") != NULL;
        mix.n_ffn_down += strstr(name, "ffn_down") != NULL;
    }
    w = gguf_writer_new();
    pool = thread_pool_new(p->n_threads > 0 ? p->n_threads : kumo_cpu_count());
    if (!w || !pool) {
        rc = kumo_err(err, KUMO_E_NOMEM, "out of memory");
        goto out;
    }
    for (int64_t i = 0; i < gguf_kv_count(g); i++)
        if ((rc = gguf_writer_set(w, gguf_kv_key(g, i), gguf_kv_value(g, i), err))) goto out;
    gguf_writer_set_u32(w, "general.file_type", ft->file_type);
    if (!is_float_type(ft->base_type)) gguf_writer_set_u32(w, "general.quantization_version", 2);
    /* decide every tensor's type first, so a refusal happens before any work */
    types = malloc((size_t)nt * sizeof *types);
    if (!types) {
        rc = kumo_err(err, KUMO_E_NOMEM, "out of memory");
        goto out;
    }
    for (int64_t i = 0; i < nt; i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        uint32_t to = quant_mix_wants(t->name, t->n_dims) ? quant_mix_type(&mix, t->name, t->ne[0]) : t->type;
        if (to != t->type && !is_float_type(t->type) && !p->allow_requantize) {
            rc = kumo_err(err, KUMO_E_INVALID,
                          "tensor %s is already quantized (%s); converting it to %s loses quality — pass "
                          "--allow-requantize to do it anyway",
                          t->name, ggml_type_name(t->type), ggml_type_name(to));
            goto out;
        }
        if (to != t->type && !convert_type_supported(to)) {
            rc = kumo_err(err, KUMO_E_UNSUPPORTED, "tensor %s: kumo cannot produce type %s yet", t->name,
                          ggml_type_name(to));
            goto out;
        }
        types[i] = to;
    }
    for (int64_t i = 0; i < nt; i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        uint32_t to = types[i];
        int64_t n_rows = t->ne[1] * t->ne[2] * t->ne[3];
        const void *data = t->data;
        uint64_t size = t->size;
        if (p->progress) p->progress(p->progress_ud, (int)i, (int)nt, t->name, ggml_type_name(t->type), ggml_type_name(to));
        if (to != t->type) {
            size = ggml_row_bytes(to, t->ne[0]) * (uint64_t)n_rows;
            bufs[i] = malloc(size ? size : 1);
            if (!bufs[i]) {
                rc = kumo_err(err, KUMO_E_NOMEM, "out of memory converting %s", t->name);
                goto out;
            }
            if ((rc = convert_tensor(pool, t->type, t->data, to, bufs[i], n_rows, t->ne[0], err))) {
                kumo_err_prefix(err, "tensor %s", t->name);
                goto out;
            }
            data = bufs[i];
            rep.n_converted++;
        } else {
            rep.n_copied++;
        }
        rep.in_bytes += t->size;
        rep.out_bytes += size;
        if ((rc = gguf_writer_add_tensor(w, t->name, to, t->n_dims, t->ne, data, size, err))) {
            goto out;
        }
    }
    rep.n_tensors = (int)nt;
    rc = gguf_writer_write(w, out, err);
out:
    if (report) *report = rep;
    free(types);
    for (int64_t i = 0; bufs && i < nt; i++) free(bufs[i]);
    free(bufs);
    thread_pool_free(pool);
    gguf_writer_free(w);
    gguf_close(g);
    return rc;
}
