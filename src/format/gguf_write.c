/* GGUF writer: collects deep-copied metadata and borrowed tensor data, then writes a version-3 file
 * in one pass to "path.tmp", syncs it and renames it over path. Values are validated when set, so
 * gguf_writer_write can only fail on I/O. */
#include "format/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/err.h"

struct writer_kv {
    char *key;
    gguf_value value; /* owns its strings and arrays */
};

struct writer_tensor {
    char *name;
    uint32_t type, n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    const void *data; /* borrowed */
    uint64_t size;
};

struct gguf_writer {
    struct writer_kv *kvs;
    size_t n_kv, cap_kv;
    struct writer_tensor *tensors;
    size_t n_tensors, cap_tensors;
};

gguf_writer *gguf_writer_new(void) { return calloc(1, sizeof(gguf_writer)); }

/* ---------- owned value trees ---------- */

static void value_free(gguf_value *v) {
    if (v->type == GGUF_TYPE_STRING) {
        free((void *)v->v.str.data);
    } else if (v->type == GGUF_TYPE_ARRAY) {
        free((void *)v->v.arr.raw);
        if (v->v.arr.strs) {
            for (uint64_t j = 0; j < v->v.arr.n; j++) free((void *)v->v.arr.strs[j].data);
            free((void *)v->v.arr.strs);
        }
        if (v->v.arr.items) {
            gguf_value *items = (gguf_value *)v->v.arr.items;
            for (uint64_t j = 0; j < v->v.arr.n; j++) value_free(&items[j]);
            free(items);
        }
    }
    memset(v, 0, sizeof *v);
}

static char *copy_bytes(const void *src, uint64_t n) {
    if (n >= SIZE_MAX) return NULL;
    char *p = malloc((size_t)n + 1);
    if (!p) return NULL;
    if (n) memcpy(p, src, (size_t)n);
    p[n] = 0;
    return p;
}

/* Integer scalars must fit the width they will be written with. */
static bool scalar_in_range(const gguf_value *v) {
    switch (v->type) {
    case GGUF_TYPE_UINT8: return v->v.u <= UINT8_MAX;
    case GGUF_TYPE_UINT16: return v->v.u <= UINT16_MAX;
    case GGUF_TYPE_UINT32: return v->v.u <= UINT32_MAX;
    case GGUF_TYPE_INT8: return v->v.i >= INT8_MIN && v->v.i <= INT8_MAX;
    case GGUF_TYPE_INT16: return v->v.i >= INT16_MIN && v->v.i <= INT16_MAX;
    case GGUF_TYPE_INT32: return v->v.i >= INT32_MIN && v->v.i <= INT32_MAX;
    default: return true;
    }
}

/* Validates src and deep-copies it into dst (zeroed by the caller). On failure dst holds what was
 * copied so far, which value_free releases. */
static int value_copy(gguf_value *dst, const gguf_value *src, int depth, const char *key,
                      kumo_error *err) {
    if ((unsigned)src->type >= GGUF_TYPE_COUNT)
        return kumo_err(err, KUMO_E_INVALID, "gguf writer: key %s: value type %d is not a GGUF type",
                        key, (int)src->type);
    if (src->type == GGUF_TYPE_STRING) {
        if (src->v.str.len && !src->v.str.data)
            return kumo_err(err, KUMO_E_INVALID, "gguf writer: key %s: string of %" PRIu64
                                                 " bytes has no data",
                            key, src->v.str.len);
        char *s = copy_bytes(src->v.str.data, src->v.str.len);
        if (!s) return kumo_err(err, KUMO_E_NOMEM, "gguf writer: key %s: out of memory", key);
        dst->type = GGUF_TYPE_STRING;
        dst->v.str.data = s;
        dst->v.str.len = src->v.str.len;
        return KUMO_OK;
    }
    if (src->type != GGUF_TYPE_ARRAY) {
        if (!scalar_in_range(src))
            return kumo_err(err, KUMO_E_INVALID, "gguf writer: key %s: value out of range for %s", key,
                            gguf_type_name(src->type));
        *dst = *src;
        return KUMO_OK;
    }
    if (depth >= GGUF_MAX_ARRAY_DEPTH)
        return kumo_err(err, KUMO_E_INVALID, "gguf writer: key %s: arrays nest deeper than %d", key,
                        GGUF_MAX_ARRAY_DEPTH);
    enum gguf_type et = src->v.arr.elem_type;
    uint64_t n = src->v.arr.n;
    if ((unsigned)et >= GGUF_TYPE_COUNT)
        return kumo_err(err, KUMO_E_INVALID, "gguf writer: key %s: array element type %d is not a "
                                             "GGUF type",
                        key, (int)et);
    dst->type = GGUF_TYPE_ARRAY;
    dst->v.arr.elem_type = et;
    if (n == 0) return KUMO_OK;
    if (et == GGUF_TYPE_STRING) {
        if (!src->v.arr.strs)
            return kumo_err(err, KUMO_E_INVALID, "gguf writer: key %s: string array has no strs", key);
        if (n > SIZE_MAX / sizeof(gguf_str))
            return kumo_err(err, KUMO_E_NOMEM, "gguf writer: key %s: array too long", key);
        gguf_str *strs = calloc((size_t)n, sizeof *strs);
        if (!strs) return kumo_err(err, KUMO_E_NOMEM, "gguf writer: key %s: out of memory", key);
        dst->v.arr.strs = strs;
        dst->v.arr.n = n;
        for (uint64_t j = 0; j < n; j++) {
            const gguf_str *s = &src->v.arr.strs[j];
            if (s->len && !s->data)
                return kumo_err(err, KUMO_E_INVALID, "gguf writer: key %s: string element %" PRIu64
                                                     " has no data",
                                key, j);
            char *c = copy_bytes(s->data, s->len);
            if (!c) return kumo_err(err, KUMO_E_NOMEM, "gguf writer: key %s: out of memory", key);
            strs[j].data = c;
            strs[j].len = s->len;
        }
        return KUMO_OK;
    }
    if (et == GGUF_TYPE_ARRAY) {
        if (!src->v.arr.items)
            return kumo_err(err, KUMO_E_INVALID, "gguf writer: key %s: nested array has no items", key);
        if (n > SIZE_MAX / sizeof(gguf_value))
            return kumo_err(err, KUMO_E_NOMEM, "gguf writer: key %s: array too long", key);
        gguf_value *items = calloc((size_t)n, sizeof *items);
        if (!items) return kumo_err(err, KUMO_E_NOMEM, "gguf writer: key %s: out of memory", key);
        dst->v.arr.items = items;
        dst->v.arr.n = n;
        for (uint64_t j = 0; j < n; j++) {
            if (src->v.arr.items[j].type != GGUF_TYPE_ARRAY)
                return kumo_err(err, KUMO_E_INVALID, "gguf writer: key %s: item %" PRIu64
                                                     " of a nested array has type %s, not array",
                                key, j, gguf_type_name(src->v.arr.items[j].type) ?
                                        gguf_type_name(src->v.arr.items[j].type) : "?");
            int rc = value_copy(&items[j], &src->v.arr.items[j], depth + 1, key, err);
            if (rc != KUMO_OK) return rc;
        }
        return KUMO_OK;
    }
    size_t size = gguf_type_size(et);
    if (!src->v.arr.raw)
        return kumo_err(err, KUMO_E_INVALID, "gguf writer: key %s: %s array has no raw data", key,
                        gguf_type_name(et));
    if (n > (SIZE_MAX - 1) / size)
        return kumo_err(err, KUMO_E_NOMEM, "gguf writer: key %s: array too long", key);
    if (et == GGUF_TYPE_BOOL) {
        const uint8_t *b = src->v.arr.raw;
        for (uint64_t j = 0; j < n; j++)
            if (b[j] > 1)
                return kumo_err(err, KUMO_E_INVALID, "gguf writer: key %s: bool element %" PRIu64
                                                     " is %u, not 0 or 1",
                                key, j, b[j]);
    }
    char *raw = copy_bytes(src->v.arr.raw, n * size);
    if (!raw) return kumo_err(err, KUMO_E_NOMEM, "gguf writer: key %s: out of memory", key);
    dst->v.arr.raw = raw;
    dst->v.arr.n = n;
    return KUMO_OK;
}

/* ---------- metadata ---------- */

static int64_t find_kv(const gguf_writer *w, const char *key) {
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kvs[i].key, key) == 0) return (int64_t)i;
    return -1;
}

int gguf_writer_set(gguf_writer *w, const char *key, const gguf_value *v, kumo_error *err) {
    if (!w || !key || !v) return kumo_err(err, KUMO_E_INVALID, "gguf writer: NULL argument");
    size_t len = strlen(key);
    if (len == 0 || len > GGUF_MAX_KEY)
        return kumo_err(err, KUMO_E_INVALID, "gguf writer: key length %zu is not in 1..%d", len,
                        GGUF_MAX_KEY);
    if (strcmp(key, "general.alignment") == 0 &&
        (v->type != GGUF_TYPE_UINT32 || v->v.u == 0 || v->v.u > UINT32_MAX ||
         (v->v.u & (v->v.u - 1)) != 0))
        return kumo_err(err, KUMO_E_INVALID,
                        "gguf writer: general.alignment must be a uint32 power of two");
    gguf_value copy;
    memset(&copy, 0, sizeof copy);
    int rc = value_copy(&copy, v, 0, key, err);
    if (rc != KUMO_OK) {
        value_free(&copy);
        return rc;
    }
    int64_t i = find_kv(w, key);
    if (i >= 0) { /* replacing keeps the key's position */
        value_free(&w->kvs[i].value);
        w->kvs[i].value = copy;
        return KUMO_OK;
    }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? w->cap_kv * 2 : 16;
        struct writer_kv *kvs = realloc(w->kvs, cap * sizeof *kvs);
        if (!kvs) {
            value_free(&copy);
            return kumo_err(err, KUMO_E_NOMEM, "gguf writer: out of memory");
        }
        w->kvs = kvs;
        w->cap_kv = cap;
    }
    char *k = copy_bytes(key, len);
    if (!k) {
        value_free(&copy);
        return kumo_err(err, KUMO_E_NOMEM, "gguf writer: out of memory");
    }
    w->kvs[w->n_kv].key = k;
    w->kvs[w->n_kv].value = copy;
    w->n_kv++;
    return KUMO_OK;
}

int gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v) {
    gguf_value val = {.type = GGUF_TYPE_UINT32, .v.u = v};
    return gguf_writer_set(w, key, &val, NULL);
}

int gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v) {
    gguf_value val = {.type = GGUF_TYPE_INT32, .v.i = v};
    return gguf_writer_set(w, key, &val, NULL);
}

int gguf_writer_set_f32(gguf_writer *w, const char *key, float v) {
    gguf_value val = {.type = GGUF_TYPE_FLOAT32, .v.f = v};
    return gguf_writer_set(w, key, &val, NULL);
}

int gguf_writer_set_bool(gguf_writer *w, const char *key, bool v) {
    gguf_value val = {.type = GGUF_TYPE_BOOL, .v.b = v};
    return gguf_writer_set(w, key, &val, NULL);
}

int gguf_writer_set_str(gguf_writer *w, const char *key, const char *s) {
    if (!s) return KUMO_E_INVALID;
    gguf_value val = {.type = GGUF_TYPE_STRING, .v.str = {.len = strlen(s), .data = s}};
    return gguf_writer_set(w, key, &val, NULL);
}

int gguf_writer_remove(gguf_writer *w, const char *key) {
    int64_t i = w && key ? find_kv(w, key) : -1;
    if (i < 0) return KUMO_E_INVALID;
    free(w->kvs[i].key);
    value_free(&w->kvs[i].value);
    memmove(&w->kvs[i], &w->kvs[i + 1], (w->n_kv - (size_t)i - 1) * sizeof *w->kvs);
    w->n_kv--;
    return KUMO_OK;
}

/* ---------- tensors ---------- */

int gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                           const int64_t *ne, const void *data, uint64_t size, kumo_error *err) {
    if (!w || !name || !ne) return kumo_err(err, KUMO_E_INVALID, "gguf writer: NULL argument");
    size_t len = strlen(name);
    if (len == 0 || len >= GGUF_MAX_NAME)
        return kumo_err(err, KUMO_E_INVALID, "gguf writer: tensor name length %zu is not in 1..%d",
                        len, GGUF_MAX_NAME - 1);
    for (size_t i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return kumo_err(err, KUMO_E_INVALID, "gguf writer: duplicate tensor name \"%s\"", name);
    int block = ggml_type_block_size(type);
    if (block <= 0)
        return kumo_err(err, KUMO_E_INVALID, "gguf writer: tensor \"%s\": unknown type id %" PRIu32,
                        name, type);
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
        return kumo_err(err, KUMO_E_INVALID, "gguf writer: tensor \"%s\": n_dims %" PRIu32
                                             " is not in 1..%d",
                        name, n_dims, GGUF_MAX_DIMS);
    struct writer_tensor t = {.type = type, .n_dims = n_dims, .data = data, .size = size};
    uint64_t bytes = (uint64_t)ggml_type_block_bytes(type);
    for (int d = 0; d < GGUF_MAX_DIMS; d++) t.ne[d] = (uint32_t)d < n_dims ? ne[d] : 1;
    if (t.ne[0] < 0 || t.ne[0] % block != 0)
        return kumo_err(err, KUMO_E_INVALID, "gguf writer: tensor \"%s\": ne[0] = %" PRId64
                                             " is not a non-negative multiple of %d (%s)",
                        name, t.ne[0], block, ggml_type_name(type));
    uint64_t expect = (uint64_t)t.ne[0] / (uint64_t)block, elems = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) {
        if (t.ne[d] < 0)
            return kumo_err(err, KUMO_E_INVALID, "gguf writer: tensor \"%s\": ne[%d] = %" PRId64
                                                 " is negative",
                            name, d, t.ne[d]);
        uint64_t e = (uint64_t)t.ne[d], f = d == 0 ? bytes : e;
        if ((e && elems > (uint64_t)INT64_MAX / e) || (f && expect > UINT64_MAX / f))
            return kumo_err(err, KUMO_E_INVALID, "gguf writer: tensor \"%s\": dimensions overflow",
                            name);
        elems *= e;
        expect *= f;
    }
    if (size != expect)
        return kumo_err(err, KUMO_E_INVALID, "gguf writer: tensor \"%s\": size %" PRIu64
                                             " bytes, expected %" PRIu64 " for its type and shape",
                        name, size, expect);
    if (size && !data)
        return kumo_err(err, KUMO_E_INVALID, "gguf writer: tensor \"%s\": no data", name);
    if (w->n_tensors == w->cap_tensors) {
        size_t cap = w->cap_tensors ? w->cap_tensors * 2 : 64;
        struct writer_tensor *ts = realloc(w->tensors, cap * sizeof *ts);
        if (!ts) return kumo_err(err, KUMO_E_NOMEM, "gguf writer: out of memory");
        w->tensors = ts;
        w->cap_tensors = cap;
    }
    t.name = copy_bytes(name, len);
    if (!t.name) return kumo_err(err, KUMO_E_NOMEM, "gguf writer: out of memory");
    w->tensors[w->n_tensors++] = t;
    return KUMO_OK;
}

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kvs[i].key);
        value_free(&w->kvs[i].value);
    }
    for (size_t i = 0; i < w->n_tensors; i++) free(w->tensors[i].name);
    free(w->kvs);
    free(w->tensors);
    free(w);
}

/* ---------- serialization ---------- */

struct out {
    FILE *f;
    uint64_t pos;
    bool ok; /* sticky: the first failed write is reported once at the end */
};

static void put(struct out *o, const void *b, size_t n) {
    if (o->ok && n && fwrite(b, 1, n, o->f) != n) o->ok = false;
    o->pos += n;
}

static void put_le(struct out *o, uint64_t v, int bytes) {
    uint8_t b[8];
    for (int k = 0; k < bytes; k++) b[k] = (uint8_t)(v >> (8 * k));
    put(o, b, (size_t)bytes);
}

static void put_zeros(struct out *o, uint64_t n) {
    static const uint8_t zeros[256];
    while (n > 0) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        put(o, zeros, k);
        n -= k;
    }
}

static void put_str(struct out *o, const char *s, uint64_t len) {
    put_le(o, len, 8);
    put(o, s, (size_t)len);
}

static void put_value(struct out *o, const gguf_value *v) {
    switch (v->type) {
    case GGUF_TYPE_UINT8:
    case GGUF_TYPE_UINT16:
    case GGUF_TYPE_UINT32:
    case GGUF_TYPE_UINT64: put_le(o, v->v.u, (int)gguf_type_size(v->type)); break;
    case GGUF_TYPE_INT8:
    case GGUF_TYPE_INT16:
    case GGUF_TYPE_INT32:
    case GGUF_TYPE_INT64: put_le(o, (uint64_t)v->v.i, (int)gguf_type_size(v->type)); break;
    case GGUF_TYPE_FLOAT32: {
        float f = (float)v->v.f;
        uint32_t u;
        memcpy(&u, &f, sizeof u);
        put_le(o, u, 4);
        break;
    }
    case GGUF_TYPE_FLOAT64: {
        uint64_t u;
        memcpy(&u, &v->v.f, sizeof u);
        put_le(o, u, 8);
        break;
    }
    case GGUF_TYPE_BOOL: put_le(o, v->v.b ? 1 : 0, 1); break;
    case GGUF_TYPE_STRING: put_str(o, v->v.str.data, v->v.str.len); break;
    case GGUF_TYPE_ARRAY: {
        enum gguf_type et = v->v.arr.elem_type;
        uint64_t n = v->v.arr.n;
        put_le(o, (uint64_t)et, 4);
        put_le(o, n, 8);
        if (et == GGUF_TYPE_STRING)
            for (uint64_t j = 0; j < n; j++) put_str(o, v->v.arr.strs[j].data, v->v.arr.strs[j].len);
        else if (et == GGUF_TYPE_ARRAY)
            for (uint64_t j = 0; j < n; j++) put_value(o, &v->v.arr.items[j]);
        else if (n)
            put(o, v->v.arr.raw, (size_t)(n * gguf_type_size(et)));
        break;
    }
    default: break;
    }
}

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

static void put_file(struct out *o, const gguf_writer *w, uint32_t alignment) {
    put(o, GGUF_MAGIC, 4);
    put_le(o, 3, 4);
    put_le(o, w->n_tensors, 8);
    put_le(o, w->n_kv, 8);
    for (size_t i = 0; i < w->n_kv; i++) {
        put_str(o, w->kvs[i].key, strlen(w->kvs[i].key));
        put_le(o, (uint64_t)w->kvs[i].value.type, 4);
        put_value(o, &w->kvs[i].value);
    }
    uint64_t offset = 0;
    for (size_t i = 0; i < w->n_tensors; i++) {
        const struct writer_tensor *t = &w->tensors[i];
        put_str(o, t->name, strlen(t->name));
        put_le(o, t->n_dims, 4);
        for (uint32_t d = 0; d < t->n_dims; d++) put_le(o, (uint64_t)t->ne[d], 8);
        put_le(o, t->type, 4);
        put_le(o, offset, 8);
        offset = align_up(offset + t->size, alignment);
    }
    /* Files without tensors end here, as the reference tools write vocab-only files. */
    if (w->n_tensors == 0) return;
    put_zeros(o, align_up(o->pos, alignment) - o->pos);
    uint64_t data_start = o->pos;
    for (size_t i = 0; i < w->n_tensors; i++) {
        const struct writer_tensor *t = &w->tensors[i];
        put(o, t->data, (size_t)t->size);
        put_zeros(o, align_up(o->pos - data_start, alignment) - (o->pos - data_start));
    }
}

/* Makes the rename itself durable; best effort, a failure here loses nothing already written. */
static void sync_parent_dir(const char *path) {
    char *copy = copy_bytes(path, strlen(path));
    if (!copy) return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(copy);
}

int gguf_writer_write(gguf_writer *w, const char *path, kumo_error *err) {
    if (!w || !path) return kumo_err(err, KUMO_E_INVALID, "gguf writer: NULL argument");
    uint32_t alignment = GGUF_DEFAULT_ALIGNMENT;
    int64_t a = find_kv(w, "general.alignment");
    if (a >= 0) alignment = (uint32_t)w->kvs[a].value.v.u; /* validated by gguf_writer_set */

    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!tmp) return kumo_err(err, KUMO_E_NOMEM, "gguf writer: out of memory");
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);

    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        int rc = kumo_err(err, KUMO_E_IO, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        int rc = kumo_err(err, KUMO_E_IO, "%s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        free(tmp);
        return rc;
    }
    struct out o = {.f = f, .pos = 0, .ok = true};
    put_file(&o, w, alignment);
    const char *failed = NULL; /* the step that failed, errno saved right after it */
    int saved = 0;
    if (!o.ok || fflush(f) != 0) failed = "write", saved = errno;
    else if (fsync(fd) != 0) failed = "fsync", saved = errno;
    if (fclose(f) != 0 && !failed) failed = "close", saved = errno;
    if (!failed && rename(tmp, path) != 0) failed = "rename", saved = errno;
    if (failed) {
        int rc = kumo_err(err, KUMO_E_IO, "%s: %s failed: %s", tmp, failed,
                          saved ? strerror(saved) : "unknown error");
        unlink(tmp);
        free(tmp);
        return rc;
    }
    free(tmp);
    sync_parent_dir(path);
    return KUMO_OK;
}
