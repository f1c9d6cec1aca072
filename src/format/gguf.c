/* GGUF reader: one validating pass over the bytes, building tables in an arena owned by the context.
 *
 * Every read goes through the parser's bounds checks, every count is bounded by what the remaining
 * bytes could hold before anything is allocated for it, so the heap stays a small multiple of the
 * file size whatever the input says. Errors are built innermost first and prefixed on the way out
 * ("gguf: kv 3 (\"x\") value: element 7: string length … at offset …"). */
#include "format/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/err.h"

/* ---------- arena: many small tables, one free ---------- */

struct arena_chunk {
    struct arena_chunk *next;
    size_t cap, used;
};

#define ARENA_HDR ((sizeof(struct arena_chunk) + 15) & ~(size_t)15)
#define ARENA_CHUNK ((size_t)64 * 1024)
#define ARENA_BIG ((size_t)4 * 1024) /* larger requests get a chunk of their own */

struct arena {
    struct arena_chunk *head; /* the chunk small requests are cut from */
    size_t heap_bytes;
};

static void *arena_alloc(struct arena *a, size_t n) {
    if (n > SIZE_MAX - ARENA_HDR - ARENA_CHUNK) return NULL;
    n = (n + 7) & ~(size_t)7;
    if (n == 0) n = 8;
    struct arena_chunk *c = a->head;
    if (n > ARENA_BIG) {
        struct arena_chunk *big = malloc(ARENA_HDR + n);
        if (!big) return NULL;
        big->cap = big->used = n;
        /* Behind the head, so the head keeps serving small requests. */
        if (c) {
            big->next = c->next;
            c->next = big;
        } else {
            big->next = NULL;
            a->head = big;
        }
        a->heap_bytes += ARENA_HDR + n;
        return (unsigned char *)big + ARENA_HDR;
    }
    if (!c || c->cap - c->used < n) {
        c = malloc(ARENA_HDR + ARENA_CHUNK);
        if (!c) return NULL;
        c->cap = ARENA_CHUNK;
        c->used = 0;
        c->next = a->head;
        a->head = c;
        a->heap_bytes += ARENA_HDR + ARENA_CHUNK;
    }
    void *p = (unsigned char *)c + ARENA_HDR + c->used;
    c->used += n;
    return p;
}

static void arena_free(struct arena *a) {
    struct arena_chunk *c = a->head;
    while (c) {
        struct arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->heap_bytes = 0;
}

/* ---------- name index: open addressing over entry numbers ---------- */

/* Slots hold entry index + 1 (0 = empty); names are fetched through name_at so one index type
 * serves both keys and tensor names. */
struct name_index {
    uint32_t *slots;
    uint64_t mask;
};

static uint64_t hash_name(const char *s) {
    uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3u;
    return h;
}

static bool index_init(struct name_index *ix, struct arena *a, uint64_t n) {
    uint64_t cap = 8;
    while (cap < n + n / 2 + 1) cap *= 2; /* load factor <= 2/3 */
    ix->slots = arena_alloc(a, cap * sizeof *ix->slots);
    if (!ix->slots) return false;
    memset(ix->slots, 0, cap * sizeof *ix->slots);
    ix->mask = cap - 1;
    return true;
}

typedef const char *(*name_at_fn)(const void *entries, uint32_t i);

/* Returns the entry index holding name, or -1; with insert_as >= 0 an absent name is added. */
static int64_t index_lookup(const struct name_index *ix, const void *entries, name_at_fn name_at,
                            const char *name, int64_t insert_as) {
    if (!ix->slots) return -1;
    for (uint64_t h = hash_name(name) & ix->mask;; h = (h + 1) & ix->mask) {
        uint32_t s = ix->slots[h];
        if (s == 0) {
            if (insert_as >= 0) ix->slots[h] = (uint32_t)insert_as + 1;
            return -1;
        }
        if (strcmp(name_at(entries, s - 1), name) == 0) return (int64_t)s - 1;
    }
}

/* ---------- the context ---------- */

struct kv_entry {
    const char *key;
    uint64_t value_offset; /* where the value's type field is, for error messages */
    gguf_value value;
};

struct gguf_ctx {
    const uint8_t *base;
    uint64_t size;
    void *map; /* non-NULL when gguf_open mapped the file */
    size_t map_len;
    uint32_t version, alignment;
    uint64_t data_offset;
    int64_t n_kv, n_tensors;
    struct kv_entry *kvs;
    gguf_tensor *tensors;
    struct name_index kv_index, tensor_index;
    struct arena arena;
};

static const char *kv_name_at(const void *entries, uint32_t i) {
    return ((const struct kv_entry *)entries)[i].key;
}

static const char *tensor_name_at(const void *entries, uint32_t i) {
    return ((const gguf_tensor *)entries)[i].name;
}

/* ---------- type table ---------- */

static const struct {
    const char *name;
    size_t size;
} GGUF_TYPES[GGUF_TYPE_COUNT] = {
    [GGUF_TYPE_UINT8] = {"uint8", 1},     [GGUF_TYPE_INT8] = {"int8", 1},
    [GGUF_TYPE_UINT16] = {"uint16", 2},   [GGUF_TYPE_INT16] = {"int16", 2},
    [GGUF_TYPE_UINT32] = {"uint32", 4},   [GGUF_TYPE_INT32] = {"int32", 4},
    [GGUF_TYPE_FLOAT32] = {"float32", 4}, [GGUF_TYPE_BOOL] = {"bool", 1},
    [GGUF_TYPE_STRING] = {"string", 0},   [GGUF_TYPE_ARRAY] = {"array", 0},
    [GGUF_TYPE_UINT64] = {"uint64", 8},   [GGUF_TYPE_INT64] = {"int64", 8},
    [GGUF_TYPE_FLOAT64] = {"float64", 8},
};

const char *gguf_type_name(enum gguf_type t) {
    return (unsigned)t < GGUF_TYPE_COUNT ? GGUF_TYPES[t].name : NULL;
}

size_t gguf_type_size(enum gguf_type t) {
    return (unsigned)t < GGUF_TYPE_COUNT ? GGUF_TYPES[t].size : 0;
}

static bool type_is_unsigned(enum gguf_type t) {
    return t == GGUF_TYPE_UINT8 || t == GGUF_TYPE_UINT16 || t == GGUF_TYPE_UINT32 ||
           t == GGUF_TYPE_UINT64;
}

static bool type_is_signed(enum gguf_type t) {
    return t == GGUF_TYPE_INT8 || t == GGUF_TYPE_INT16 || t == GGUF_TYPE_INT32 ||
           t == GGUF_TYPE_INT64;
}

static bool type_is_float(enum gguf_type t) {
    return t == GGUF_TYPE_FLOAT32 || t == GGUF_TYPE_FLOAT64;
}

/* ---------- little-endian decoding (files are little-endian whatever the host) ---------- */

static uint16_t le16(const uint8_t *b) { return (uint16_t)(b[0] | b[1] << 8); }

static uint32_t le32(const uint8_t *b) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint64_t le64(const uint8_t *b) { return (uint64_t)le32(b) | (uint64_t)le32(b + 4) << 32; }

/* Two's-complement reinterpretation without implementation-defined conversions. */
static int64_t sign_extend(uint64_t x, unsigned bits) {
    if (bits < 64) {
        uint64_t sign = (uint64_t)1 << (bits - 1);
        if (x & sign) return -(int64_t)(((uint64_t)1 << bits) - x);
        return (int64_t)x;
    }
    if (x > (uint64_t)INT64_MAX) return -(int64_t)(~x) - 1;
    return (int64_t)x;
}

static double f32_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static double f64_bits(uint64_t u) {
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* Decodes a scalar of numeric/bool type t at b into v (type set by the caller). */
static void decode_scalar(enum gguf_type t, const uint8_t *b, gguf_value *v) {
    switch (t) {
    case GGUF_TYPE_UINT8: v->v.u = b[0]; break;
    case GGUF_TYPE_INT8: v->v.i = sign_extend(b[0], 8); break;
    case GGUF_TYPE_UINT16: v->v.u = le16(b); break;
    case GGUF_TYPE_INT16: v->v.i = sign_extend(le16(b), 16); break;
    case GGUF_TYPE_UINT32: v->v.u = le32(b); break;
    case GGUF_TYPE_INT32: v->v.i = sign_extend(le32(b), 32); break;
    case GGUF_TYPE_UINT64: v->v.u = le64(b); break;
    case GGUF_TYPE_INT64: v->v.i = sign_extend(le64(b), 64); break;
    case GGUF_TYPE_FLOAT32: v->v.f = f32_bits(le32(b)); break;
    case GGUF_TYPE_FLOAT64: v->v.f = f64_bits(le64(b)); break;
    case GGUF_TYPE_BOOL: v->v.b = b[0] != 0; break;
    default: break;
    }
}

/* ---------- parser ---------- */

struct parser {
    const uint8_t *b;
    uint64_t size, pos;
    struct arena *arena;
    kumo_error err; /* always present, so messages can be prefixed on the way out */
};

#define FAIL(p, ...) (kumo_err(&(p)->err, KUMO_E_FORMAT, __VA_ARGS__), false)

static uint64_t remaining(const struct parser *p) { return p->size - p->pos; }

/* Consumes n bytes, returning where they start. */
static bool take(struct parser *p, uint64_t n, const char *what, const uint8_t **out) {
    if (n > remaining(p))
        return FAIL(p, "%s at offset %" PRIu64 " needs %" PRIu64 " bytes, only %" PRIu64 " remain",
                    what, p->pos, n, remaining(p));
    *out = p->b + p->pos;
    p->pos += n;
    return true;
}

static bool read_u32(struct parser *p, const char *what, uint32_t *v) {
    const uint8_t *b;
    if (!take(p, 4, what, &b)) return false;
    *v = le32(b);
    return true;
}

static bool read_u64(struct parser *p, const char *what, uint64_t *v) {
    const uint8_t *b;
    if (!take(p, 8, what, &b)) return false;
    *v = le64(b);
    return true;
}

static bool read_str(struct parser *p, gguf_str *s) {
    uint64_t at = p->pos, len;
    if (!read_u64(p, "string length", &len)) return false;
    if (len > remaining(p))
        return FAIL(p, "string length %" PRIu64 " at offset %" PRIu64 " exceeds remaining %" PRIu64
                       " bytes",
                    len, at, remaining(p));
    s->len = len;
    s->data = (const char *)p->b + p->pos;
    p->pos += len;
    return true;
}

/* A key or tensor name: non-empty, at most max_len bytes, no NUL (it becomes a C string). */
static bool read_name(struct parser *p, const char *what, uint64_t max_len, char **out) {
    uint64_t at = p->pos;
    gguf_str s;
    if (!read_str(p, &s)) return false;
    if (s.len == 0) return FAIL(p, "empty %s at offset %" PRIu64, what, at);
    if (s.len > max_len)
        return FAIL(p, "%s length %" PRIu64 " at offset %" PRIu64 " exceeds the maximum %" PRIu64,
                    what, s.len, at, max_len);
    if (memchr(s.data, 0, s.len))
        return FAIL(p, "%s at offset %" PRIu64 " contains a NUL byte", what, at);
    char *copy = arena_alloc(p->arena, s.len + 1);
    if (!copy) return kumo_err(&p->err, KUMO_E_NOMEM, "out of memory copying a %s", what), false;
    memcpy(copy, s.data, s.len);
    copy[s.len] = 0;
    *out = copy;
    return true;
}

/* Least bytes one element of type t occupies in a file: bounds hostile array lengths. */
static uint64_t min_elem_bytes(enum gguf_type t) {
    if (t == GGUF_TYPE_STRING) return 8;      /* length */
    if (t == GGUF_TYPE_ARRAY) return 4 + 8;   /* element type + length */
    return gguf_type_size(t);
}

static bool parse_value(struct parser *p, enum gguf_type t, gguf_value *v, int depth);

/* The element type, length and elements of an array; depth counts this array. */
static bool parse_array(struct parser *p, gguf_value *v, int depth) {
    uint64_t at = p->pos;
    if (depth > GGUF_MAX_ARRAY_DEPTH)
        return FAIL(p, "array at offset %" PRIu64 " nests deeper than %d levels", at,
                    GGUF_MAX_ARRAY_DEPTH);
    uint32_t et;
    uint64_t n;
    if (!read_u32(p, "array element type", &et)) return false;
    if (et >= GGUF_TYPE_COUNT)
        return FAIL(p, "array element type %" PRIu32 " at offset %" PRIu64 " is not a GGUF type", et,
                    at);
    uint64_t n_at = p->pos;
    if (!read_u64(p, "array length", &n)) return false;
    if (n > remaining(p) / min_elem_bytes(et))
        return FAIL(p, "array length %" PRIu64 " at offset %" PRIu64 " (%s elements) exceeds what "
                       "the remaining %" PRIu64 " bytes could hold",
                    n, n_at, gguf_type_name(et), remaining(p));
    v->type = GGUF_TYPE_ARRAY;
    v->v.arr.elem_type = et;
    v->v.arr.n = n;
    v->v.arr.raw = NULL;
    v->v.arr.strs = NULL;
    v->v.arr.items = NULL;
    if (et == GGUF_TYPE_STRING) {
        gguf_str *strs = n ? arena_alloc(p->arena, n * sizeof *strs) : NULL;
        if (n && !strs) return kumo_err(&p->err, KUMO_E_NOMEM, "out of memory for an array"), false;
        for (uint64_t j = 0; j < n; j++) {
            if (!read_str(p, &strs[j])) {
                kumo_err_prefix(&p->err, "element %" PRIu64, j);
                return false;
            }
        }
        v->v.arr.strs = strs;
    } else if (et == GGUF_TYPE_ARRAY) {
        gguf_value *items = n ? arena_alloc(p->arena, n * sizeof *items) : NULL;
        if (n && !items) return kumo_err(&p->err, KUMO_E_NOMEM, "out of memory for an array"), false;
        for (uint64_t j = 0; j < n; j++) {
            if (!parse_value(p, GGUF_TYPE_ARRAY, &items[j], depth)) {
                kumo_err_prefix(&p->err, "element %" PRIu64, j);
                return false;
            }
        }
        v->v.arr.items = items;
    } else {
        const uint8_t *raw;
        if (!take(p, n * gguf_type_size(et), "array elements", &raw)) return false;
        if (et == GGUF_TYPE_BOOL) {
            for (uint64_t j = 0; j < n; j++)
                if (raw[j] > 1)
                    return FAIL(p, "bool element %" PRIu64 " at offset %" PRIu64 " is %u, not 0 or 1",
                                j, (uint64_t)(raw - p->b) + j, raw[j]);
        }
        v->v.arr.raw = raw;
    }
    return true;
}

/* A value of type t (already read); depth is the nesting of the enclosing arrays. */
static bool parse_value(struct parser *p, enum gguf_type t, gguf_value *v, int depth) {
    memset(v, 0, sizeof *v);
    v->type = t;
    if (t == GGUF_TYPE_STRING) return read_str(p, &v->v.str);
    if (t == GGUF_TYPE_ARRAY) return parse_array(p, v, depth + 1);
    const uint8_t *b;
    uint64_t at = p->pos;
    if (!take(p, gguf_type_size(t), gguf_type_name(t), &b)) return false;
    if (t == GGUF_TYPE_BOOL && b[0] > 1)
        return FAIL(p, "bool at offset %" PRIu64 " is %u, not 0 or 1", at, b[0]);
    decode_scalar(t, b, v);
    return true;
}

/* Header: magic, version, counts. Counts are bounded by the least bytes each entry needs. */
static bool parse_header(struct parser *p, gguf_ctx *ctx) {
    const uint8_t *magic;
    if (!take(p, 4, "magic", &magic)) return false;
    if (memcmp(magic, GGUF_MAGIC, 4) != 0)
        return FAIL(p, "bad magic at offset 0: expected \"GGUF\" (47 47 55 46), found %02x %02x %02x "
                       "%02x",
                    magic[0], magic[1], magic[2], magic[3]);
    if (!read_u32(p, "version", &ctx->version)) return false;
    if (ctx->version == 1)
        return FAIL(p, "version 1 at offset 4 is not supported (GGUF v1 used 32-bit counts; "
                       "only versions 2 and 3 are read)");
    if (ctx->version != 2 && ctx->version != 3) {
        if (ctx->version > 0xffff && (ctx->version & 0xffff) == 0)
            return FAIL(p, "version %" PRIu32 " at offset 4 is not supported (a big-endian file?)",
                        ctx->version);
        return FAIL(p, "version %" PRIu32 " at offset 4 is not supported (only versions 2 and 3)",
                    ctx->version);
    }
    uint64_t n_tensors, n_kv;
    if (!read_u64(p, "tensor count", &n_tensors)) return false;
    if (!read_u64(p, "kv count", &n_kv)) return false;
    /* A kv needs a key (length + >= 1 byte), a value type and a value of >= 1 byte; a tensor info
     * needs a name (length + >= 1 byte), n_dims, >= 1 dimension, a type and an offset. */
    const uint64_t min_kv = 8 + 1 + 4 + 1, min_tensor = 8 + 1 + 4 + 8 + 4 + 8;
    uint64_t rem = remaining(p);
    if (n_kv > rem / min_kv || n_kv > INT32_MAX)
        return FAIL(p, "kv count %" PRIu64 " at offset 16 exceeds what the remaining %" PRIu64
                       " bytes could hold",
                    n_kv, rem);
    if (n_tensors > rem / min_tensor || n_tensors > INT32_MAX)
        return FAIL(p, "tensor count %" PRIu64 " at offset 8 exceeds what the remaining %" PRIu64
                       " bytes could hold",
                    n_tensors, rem);
    if (n_kv * min_kv + n_tensors * min_tensor > rem)
        return FAIL(p, "kv count %" PRIu64 " and tensor count %" PRIu64 " together exceed what the "
                       "remaining %" PRIu64 " bytes could hold",
                    n_kv, n_tensors, rem);
    ctx->n_kv = (int64_t)n_kv;
    ctx->n_tensors = (int64_t)n_tensors;
    return true;
}

static bool parse_kvs(struct parser *p, gguf_ctx *ctx) {
    size_t n = (size_t)ctx->n_kv;
    ctx->kvs = n ? arena_alloc(p->arena, n * sizeof *ctx->kvs) : NULL;
    if ((n && !ctx->kvs) || !index_init(&ctx->kv_index, p->arena, n))
        return kumo_err(&p->err, KUMO_E_NOMEM, "out of memory for %zu kvs", n), false;
    for (size_t i = 0; i < n; i++) {
        struct kv_entry *kv = &ctx->kvs[i];
        char *key;
        if (!read_name(p, "key", GGUF_MAX_KEY, &key)) {
            kumo_err_prefix(&p->err, "kv %zu", i);
            return false;
        }
        kv->key = key;
        int64_t dup = index_lookup(&ctx->kv_index, ctx->kvs, kv_name_at, key, (int64_t)i);
        if (dup >= 0)
            return FAIL(p, "kv %zu key \"%.200s\" ending at offset %" PRIu64 " duplicates kv %" PRId64,
                        i, key, p->pos, dup);
        uint32_t t;
        kv->value_offset = p->pos;
        bool ok = read_u32(p, "value type", &t);
        if (ok && t >= GGUF_TYPE_COUNT)
            ok = FAIL(p, "value type %" PRIu32 " at offset %" PRIu64 " is not a GGUF type", t,
                      kv->value_offset);
        if (ok) ok = parse_value(p, t, &kv->value, 0);
        if (!ok) {
            kumo_err_prefix(&p->err, "kv %zu (\"%.200s\")", i, key);
            return false;
        }
    }
    return true;
}

static bool read_alignment(struct parser *p, gguf_ctx *ctx) {
    ctx->alignment = GGUF_DEFAULT_ALIGNMENT;
    int64_t i = gguf_find_key(ctx, "general.alignment");
    if (i < 0) return true;
    const struct kv_entry *kv = &ctx->kvs[i];
    if (kv->value.type != GGUF_TYPE_UINT32)
        return FAIL(p, "general.alignment at offset %" PRIu64 " has type %s, expected uint32",
                    kv->value_offset, gguf_type_name(kv->value.type));
    uint64_t a = kv->value.v.u;
    if (a == 0 || (a & (a - 1)) != 0)
        return FAIL(p, "general.alignment %" PRIu64 " at offset %" PRIu64 " is not a power of two", a,
                    kv->value_offset);
    ctx->alignment = (uint32_t)a;
    return true;
}

/* ne products and byte size, with every multiplication checked. */
static bool tensor_size(struct parser *p, gguf_tensor *t, int64_t i) {
    uint64_t n = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) {
        uint64_t e = (uint64_t)t->ne[d];
        if (e != 0 && n > (uint64_t)INT64_MAX / e)
            return FAIL(p, "tensor %" PRId64 " (\"%s\") dimensions %" PRId64 " x %" PRId64 " x %" PRId64
                           " x %" PRId64 " overflow the element count",
                        i, t->name, t->ne[0], t->ne[1], t->ne[2], t->ne[3]);
        n *= e;
    }
    uint64_t bytes = ggml_type_block_bytes(t->type);
    uint64_t size = (uint64_t)t->ne[0] / (uint64_t)ggml_type_block_size(t->type);
    for (int d = 0; d < GGUF_MAX_DIMS; d++) {
        uint64_t f = d == 0 ? bytes : (uint64_t)t->ne[d];
        if (f != 0 && size > UINT64_MAX / f)
            return FAIL(p, "tensor %" PRId64 " (\"%s\") byte size of %" PRId64 " x %" PRId64
                           " x %" PRId64 " x %" PRId64 " %s overflows",
                        i, t->name, t->ne[0], t->ne[1], t->ne[2], t->ne[3],
                        ggml_type_name(t->type));
        size *= f;
    }
    t->size = size;
    return true;
}

static bool parse_tensor_info(struct parser *p, gguf_ctx *ctx, int64_t i) {
    gguf_tensor *t = &ctx->tensors[i];
    char *name;
    if (!read_name(p, "tensor name", GGUF_MAX_NAME - 1, &name)) {
        kumo_err_prefix(&p->err, "tensor %" PRId64, i);
        return false;
    }
    t->name = name;
    int64_t dup = index_lookup(&ctx->tensor_index, ctx->tensors, tensor_name_at, name, i);
    if (dup >= 0)
        return FAIL(p, "tensor %" PRId64 " name \"%s\" ending at offset %" PRIu64
                       " duplicates tensor %" PRId64,
                    i, name, p->pos, dup);
    uint64_t at = p->pos;
    if (!read_u32(p, "n_dims", &t->n_dims)) goto prefixed;
    if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
        return FAIL(p, "tensor %" PRId64 " (\"%s\") n_dims %" PRIu32 " at offset %" PRIu64
                       " is not in 1..%d",
                    i, name, t->n_dims, at, GGUF_MAX_DIMS);
    for (int d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        uint64_t e;
        at = p->pos;
        if (!read_u64(p, "dimension", &e)) goto prefixed;
        if (e > (uint64_t)INT64_MAX)
            return FAIL(p, "tensor %" PRId64 " (\"%s\") ne[%" PRIu32 "] = %" PRId64 " at offset %" PRIu64
                           " is negative",
                        i, name, d, sign_extend(e, 64), at);
        t->ne[d] = (int64_t)e;
    }
    at = p->pos;
    if (!read_u32(p, "type", &t->type)) goto prefixed;
    int block = ggml_type_block_size(t->type);
    if (block <= 0)
        return FAIL(p, "tensor %" PRId64 " (\"%s\") type id %" PRIu32 " at offset %" PRIu64
                       " is not a known ggml type",
                    i, name, t->type, at);
    if (t->ne[0] % block != 0)
        return FAIL(p, "tensor %" PRId64 " (\"%s\") ne[0] = %" PRId64 " is not a multiple of the block "
                       "size %d of type %s",
                    i, name, t->ne[0], block, ggml_type_name(t->type));
    if (!tensor_size(p, t, i)) return false;
    at = p->pos;
    if (!read_u64(p, "offset", &t->offset)) goto prefixed;
    if (t->offset % ctx->alignment != 0)
        return FAIL(p, "tensor %" PRId64 " (\"%s\") offset %" PRIu64 " at offset %" PRIu64
                       " is not a multiple of the alignment %" PRIu32,
                    i, name, t->offset, at, ctx->alignment);
    return true;
prefixed:
    kumo_err_prefix(&p->err, "tensor %" PRId64 " (\"%s\")", i, name);
    return false;
}

static int cmp_by_offset(const void *a, const void *b) {
    const gguf_tensor *x = *(const gguf_tensor *const *)a, *y = *(const gguf_tensor *const *)b;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

/* Places the data section and checks every tensor's bytes lie inside the file, without overlap. */
static bool place_tensor_data(struct parser *p, gguf_ctx *ctx) {
    uint64_t a = ctx->alignment, end_of_infos = p->pos;
    if (end_of_infos > UINT64_MAX - (a - 1))
        return FAIL(p, "data section offset overflows");
    ctx->data_offset = (end_of_infos + a - 1) / a * a;
    /* A file without tensors may end before the padding (vocab-only files do). */
    for (int64_t i = 0; i < ctx->n_tensors; i++) {
        gguf_tensor *t = &ctx->tensors[i];
        if (ctx->data_offset > p->size || t->offset > p->size - ctx->data_offset)
            return FAIL(p, "tensor %" PRId64 " (\"%s\") data starts at %" PRIu64 " + %" PRIu64
                           ", past end of file (%" PRIu64 " bytes)",
                        i, t->name, ctx->data_offset, t->offset, p->size);
        uint64_t start = ctx->data_offset + t->offset;
        if (t->size > p->size - start) {
            if (t->size <= UINT64_MAX - start)
                return FAIL(p, "tensor %" PRId64 " (\"%s\") data [%" PRIu64 ", %" PRIu64
                               ") extends past end of file (%" PRIu64 " bytes)",
                            i, t->name, start, start + t->size, p->size);
            return FAIL(p, "tensor %" PRId64 " (\"%s\") data [%" PRIu64 ", %" PRIu64 " + %" PRIu64
                           ") extends past end of file (%" PRIu64 " bytes)",
                        i, t->name, start, start, t->size, p->size);
        }
        t->data = p->b + start;
    }
    if (ctx->n_tensors < 2) return true;
    size_t n = (size_t)ctx->n_tensors;
    const gguf_tensor **order = malloc(n * sizeof *order);
    if (!order) return kumo_err(&p->err, KUMO_E_NOMEM, "out of memory sorting tensors"), false;
    for (size_t i = 0; i < n; i++) order[i] = &ctx->tensors[i];
    qsort(order, n, sizeof *order, cmp_by_offset);
    bool ok = true;
    const gguf_tensor *x = NULL; /* the last non-empty tensor so far: it ends last */
    for (size_t i = 0; i < n && ok; i++) {
        const gguf_tensor *y = order[i];
        if (y->size == 0) continue;
        if (x && x->offset + x->size > y->offset)
            ok = FAIL(p, "tensor %" PRId64 " (\"%s\") data [%" PRIu64 ", %" PRIu64
                         ") overlaps tensor %" PRId64 " (\"%s\") at %" PRIu64 " in the data section",
                      (int64_t)(y - ctx->tensors), y->name, y->offset, y->offset + y->size,
                      (int64_t)(x - ctx->tensors), x->name, x->offset);
        x = y;
    }
    free(order);
    return ok;
}

static bool parse_tensor_infos(struct parser *p, gguf_ctx *ctx) {
    size_t n = (size_t)ctx->n_tensors;
    ctx->tensors = n ? arena_alloc(p->arena, n * sizeof *ctx->tensors) : NULL;
    if ((n && !ctx->tensors) || !index_init(&ctx->tensor_index, p->arena, n))
        return kumo_err(&p->err, KUMO_E_NOMEM, "out of memory for %zu tensors", n), false;
    if (n) memset(ctx->tensors, 0, n * sizeof *ctx->tensors);
    for (int64_t i = 0; i < ctx->n_tensors; i++)
        if (!parse_tensor_info(p, ctx, i)) return false;
    return true;
}

static gguf_ctx *parse(const void *data, size_t size, kumo_error *err) {
    gguf_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        kumo_err(err, KUMO_E_NOMEM, "gguf: out of memory");
        return NULL;
    }
    ctx->base = data;
    ctx->size = size;
    struct parser p = {.b = data, .size = size, .pos = 0, .arena = &ctx->arena};
    if (parse_header(&p, ctx) && parse_kvs(&p, ctx) && read_alignment(&p, ctx) &&
        parse_tensor_infos(&p, ctx) && place_tensor_data(&p, ctx))
        return ctx;
    kumo_err(err, p.err.code, "gguf: %s", p.err.msg);
    gguf_close(ctx);
    return NULL;
}

/* ---------- public: open / close ---------- */

gguf_ctx *gguf_open_memory(const void *data, size_t size, kumo_error *err) {
    static const uint8_t empty[1];
    if (!data && size) {
        kumo_err(err, KUMO_E_INVALID, "gguf: NULL buffer of %zu bytes", size);
        return NULL;
    }
    return parse(data ? data : empty, size, err);
}

gguf_ctx *gguf_open(const char *path, kumo_error *err) {
    /* O_NONBLOCK: opening a FIFO must not wait for a writer (it is then refused as not regular). */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        kumo_err(err, KUMO_E_IO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        kumo_err(err, KUMO_E_IO, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        kumo_err(err, KUMO_E_IO, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        kumo_err(err, KUMO_E_IO, "%s: file too large to map", path);
        close(fd);
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    void *map = NULL;
    if (size > 0) {
        map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            kumo_err(err, KUMO_E_IO, "%s: cannot mmap %zu bytes: %s", path, size, strerror(errno));
            close(fd);
            return NULL;
        }
    }
    close(fd); /* the mapping keeps the file */
    gguf_ctx *ctx = gguf_open_memory(map, size, err);
    if (!ctx) {
        if (map) munmap(map, size);
        kumo_err_prefix(err, "%.200s", path);
        return NULL;
    }
    ctx->map = map;
    ctx->map_len = size;
    return ctx;
}

void gguf_close(gguf_ctx *ctx) {
    if (!ctx) return;
    arena_free(&ctx->arena);
    if (ctx->map) munmap(ctx->map, ctx->map_len);
    free(ctx);
}

/* ---------- public: accessors ---------- */

uint32_t gguf_version(const gguf_ctx *ctx) { return ctx->version; }
uint64_t gguf_file_size(const gguf_ctx *ctx) { return ctx->size; }
uint32_t gguf_alignment(const gguf_ctx *ctx) { return ctx->alignment; }
uint64_t gguf_data_offset(const gguf_ctx *ctx) { return ctx->data_offset; }
size_t gguf_heap_bytes(const gguf_ctx *ctx) { return sizeof *ctx + ctx->arena.heap_bytes; }

int64_t gguf_kv_count(const gguf_ctx *ctx) { return ctx->n_kv; }

const char *gguf_kv_key(const gguf_ctx *ctx, int64_t i) {
    return i >= 0 && i < ctx->n_kv ? ctx->kvs[i].key : NULL;
}

const gguf_value *gguf_kv_value(const gguf_ctx *ctx, int64_t i) {
    return i >= 0 && i < ctx->n_kv ? &ctx->kvs[i].value : NULL;
}

int64_t gguf_find_key(const gguf_ctx *ctx, const char *key) {
    if (!key) return -1;
    return index_lookup(&ctx->kv_index, ctx->kvs, kv_name_at, key, -1);
}

const gguf_value *gguf_get(const gguf_ctx *ctx, const char *key) {
    int64_t i = gguf_find_key(ctx, key);
    return i >= 0 ? &ctx->kvs[i].value : NULL;
}

int64_t gguf_tensor_count(const gguf_ctx *ctx) { return ctx->n_tensors; }

const gguf_tensor *gguf_tensor_at(const gguf_ctx *ctx, int64_t i) {
    return i >= 0 && i < ctx->n_tensors ? &ctx->tensors[i] : NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_ctx *ctx, const char *name) {
    if (!name) return NULL;
    int64_t i = index_lookup(&ctx->tensor_index, ctx->tensors, tensor_name_at, name, -1);
    return i >= 0 ? &ctx->tensors[i] : NULL;
}

/* ---------- public: typed getters ---------- */

static bool type_error(kumo_error *err, const char *key, const gguf_value *v, const char *want) {
    kumo_err(err, KUMO_E_FORMAT, "gguf: key %s has type %s, expected %s", key, gguf_type_name(v->type),
             want);
    return false;
}

/* Any integer value as a sign + magnitude pair, so range checks need no wider type. */
static bool int_value(const gguf_value *v, bool *negative, uint64_t *magnitude) {
    if (type_is_unsigned(v->type)) {
        *negative = false;
        *magnitude = v->v.u;
        return true;
    }
    if (type_is_signed(v->type)) {
        *negative = v->v.i < 0;
        *magnitude = *negative ? (uint64_t)-(v->v.i + 1) + 1 : (uint64_t)v->v.i;
        return true;
    }
    return false;
}

bool gguf_get_u32(const gguf_ctx *ctx, const char *key, uint32_t *out, kumo_error *err) {
    const gguf_value *v = gguf_get(ctx, key);
    if (!v) return false;
    bool neg;
    uint64_t mag;
    if (!int_value(v, &neg, &mag)) return type_error(err, key, v, "an integer");
    if (neg || mag > UINT32_MAX) {
        kumo_err(err, KUMO_E_FORMAT, "gguf: key %s value %s%" PRIu64 " is out of range for uint32",
                 key, neg ? "-" : "", mag);
        return false;
    }
    *out = (uint32_t)mag;
    return true;
}

bool gguf_get_i64(const gguf_ctx *ctx, const char *key, int64_t *out, kumo_error *err) {
    const gguf_value *v = gguf_get(ctx, key);
    if (!v) return false;
    if (type_is_signed(v->type)) {
        *out = v->v.i;
        return true;
    }
    if (!type_is_unsigned(v->type)) return type_error(err, key, v, "an integer");
    if (v->v.u > (uint64_t)INT64_MAX) {
        kumo_err(err, KUMO_E_FORMAT, "gguf: key %s value %" PRIu64 " is out of range for int64", key,
                 v->v.u);
        return false;
    }
    *out = (int64_t)v->v.u;
    return true;
}

bool gguf_get_f32(const gguf_ctx *ctx, const char *key, float *out, kumo_error *err) {
    const gguf_value *v = gguf_get(ctx, key);
    if (!v) return false;
    double d;
    if (type_is_float(v->type)) d = v->v.f;
    else if (type_is_signed(v->type)) d = (double)v->v.i;
    else if (type_is_unsigned(v->type)) d = (double)v->v.u;
    else return type_error(err, key, v, "a number");
    if (isfinite(d) && fabs(d) > FLT_MAX) {
        kumo_err(err, KUMO_E_FORMAT, "gguf: key %s value %g is out of range for float32", key, d);
        return false;
    }
    *out = (float)d;
    return true;
}

bool gguf_get_bool(const gguf_ctx *ctx, const char *key, bool *out, kumo_error *err) {
    const gguf_value *v = gguf_get(ctx, key);
    if (!v) return false;
    if (v->type != GGUF_TYPE_BOOL) return type_error(err, key, v, "bool");
    *out = v->v.b;
    return true;
}

bool gguf_get_str(const gguf_ctx *ctx, const char *key, gguf_str *out, kumo_error *err) {
    const gguf_value *v = gguf_get(ctx, key);
    if (!v) return false;
    if (v->type != GGUF_TYPE_STRING) return type_error(err, key, v, "string");
    *out = v->v.str;
    return true;
}

const gguf_value *gguf_get_arr(const gguf_ctx *ctx, const char *key) {
    const gguf_value *v = gguf_get(ctx, key);
    return v && v->type == GGUF_TYPE_ARRAY ? v : NULL;
}

/* ---------- public: numeric array elements ---------- */

/* Decodes element j of a numeric/bool array; false if there is none. */
static bool arr_elem(const gguf_value *arr, uint64_t j, gguf_value *e) {
    if (!arr || arr->type != GGUF_TYPE_ARRAY || j >= arr->v.arr.n || !arr->v.arr.raw) return false;
    enum gguf_type t = arr->v.arr.elem_type;
    size_t size = gguf_type_size(t);
    if (size == 0) return false;
    e->type = t;
    decode_scalar(t, (const uint8_t *)arr->v.arr.raw + j * size, e);
    return true;
}

int64_t gguf_arr_i64(const gguf_value *arr, uint64_t j) {
    gguf_value e;
    if (!arr_elem(arr, j, &e)) return 0;
    if (type_is_signed(e.type)) return e.v.i;
    if (type_is_unsigned(e.type)) return e.v.u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)e.v.u;
    if (e.type == GGUF_TYPE_BOOL) return e.v.b;
    double d = e.v.f;
    if (isnan(d)) return 0;
    if (d >= 9223372036854775808.0) return INT64_MAX;
    if (d < -9223372036854775808.0) return INT64_MIN;
    return (int64_t)d;
}

double gguf_arr_f64(const gguf_value *arr, uint64_t j) {
    gguf_value e;
    if (!arr_elem(arr, j, &e)) return 0;
    if (type_is_signed(e.type)) return (double)e.v.i;
    if (type_is_unsigned(e.type)) return (double)e.v.u;
    if (e.type == GGUF_TYPE_BOOL) return e.v.b;
    return e.v.f;
}
