/* GGUF (versions 2 and 3): a validating reader over an mmap of the file, and a writer.
 *
 * The reader knows bytes, not models: it hands out metadata values and tensor views whose data
 * pointers point into the mapping (weights are never copied). Everything is checked against the file
 * size before use; any failure is a KUMO_E_FORMAT error naming the field and its byte offset.
 * All strings handed out are NUL-terminated (the reader keeps terminated copies of keys and names;
 * string values are views with an explicit length that are NOT terminated). */
#ifndef KUMO_FORMAT_GGUF_H
#define KUMO_FORMAT_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/ggml_type.h"
#include "kumo.h"

#define GGUF_MAGIC "GGUF"
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4
/* Tensor names are shorter than this (ggml's limit; files with longer names are rejected). */
#define GGUF_MAX_NAME 64
/* Keys are at most this long (the GGUF spec's limit). */
#define GGUF_MAX_KEY 65535
/* Arrays may nest this deep (an array of scalars is depth 1); deeper files are rejected. */
#define GGUF_MAX_ARRAY_DEPTH 16

enum gguf_type {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
    GGUF_TYPE_COUNT = 13,
};

const char *gguf_type_name(enum gguf_type t);   /* "uint8", "string", … or NULL */
/* Bytes of one scalar of type t as stored in a file (1..8); 0 for STRING, ARRAY and unknown ids. */
size_t gguf_type_size(enum gguf_type t);

/* A string view: len bytes at data, not NUL-terminated. */
typedef struct gguf_str {
    uint64_t len;
    const char *data;
} gguf_str;

typedef struct gguf_value gguf_value;
struct gguf_value {
    enum gguf_type type;
    union {
        uint64_t u;      /* UINT8/16/32/64 */
        int64_t i;       /* INT8/16/32/64 */
        double f;        /* FLOAT32/64 (FLOAT32 widened exactly) */
        bool b;          /* BOOL */
        gguf_str str;    /* STRING */
        struct {
            enum gguf_type elem_type;
            uint64_t n;
            /* numeric/bool elements: n * size bytes, little-endian, possibly unaligned (reader: a
             * pointer into the file; writer: caller's memory) */
            const void *raw;
            const gguf_str *strs;    /* STRING elements (n of them) */
            const gguf_value *items; /* ARRAY elements: n values, each of type GGUF_TYPE_ARRAY */
        } arr;
    } v;
};

/* Element of a numeric array as int64 / double (any integer, float or bool element type). Both
 * return 0 when arr is not such an array or j >= n; gguf_arr_i64 truncates floats toward zero,
 * clamps to the int64 range (uint64 elements above INT64_MAX give INT64_MAX, NaN gives 0). */
int64_t gguf_arr_i64(const gguf_value *arr, uint64_t j);
double gguf_arr_f64(const gguf_value *arr, uint64_t j);

typedef struct gguf_tensor {
    const char *name;       /* NUL-terminated */
    uint32_t n_dims;        /* 1..4 */
    int64_t ne[GGUF_MAX_DIMS]; /* ne[0] is the innermost (row length); unused dims are 1 */
    uint32_t type;          /* enum ggml_type */
    uint64_t offset;        /* relative to the start of the data section */
    uint64_t size;          /* bytes */
    const void *data;       /* into the mapping */
} gguf_tensor;

/* ---------- reader ---------- */
typedef struct gguf_ctx gguf_ctx;

gguf_ctx *gguf_open(const char *path, kumo_error *err);
/* Parses a buffer the caller keeps alive for the context's lifetime (tests, fuzzing). */
gguf_ctx *gguf_open_memory(const void *data, size_t size, kumo_error *err);
void gguf_close(gguf_ctx *ctx);

uint32_t gguf_version(const gguf_ctx *ctx);
uint64_t gguf_file_size(const gguf_ctx *ctx);
uint32_t gguf_alignment(const gguf_ctx *ctx);
/* Absolute offset of the data section (aligned). A file without tensors may end before it. */
uint64_t gguf_data_offset(const gguf_ctx *ctx);

int64_t gguf_kv_count(const gguf_ctx *ctx);
const char *gguf_kv_key(const gguf_ctx *ctx, int64_t i);
const gguf_value *gguf_kv_value(const gguf_ctx *ctx, int64_t i);
int64_t gguf_find_key(const gguf_ctx *ctx, const char *key);          /* -1 if absent */
const gguf_value *gguf_get(const gguf_ctx *ctx, const char *key);     /* NULL if absent */

/* Typed getters. Return false when the key is absent; when present with an incompatible type or an
 * out-of-range value they return false and, if err is given, set a KUMO_E_FORMAT message naming the
 * key. Integer getters accept any integer type whose value fits; float getters accept F32/F64 and
 * integers. */
bool gguf_get_u32(const gguf_ctx *ctx, const char *key, uint32_t *out, kumo_error *err);
bool gguf_get_i64(const gguf_ctx *ctx, const char *key, int64_t *out, kumo_error *err);
bool gguf_get_f32(const gguf_ctx *ctx, const char *key, float *out, kumo_error *err);
bool gguf_get_bool(const gguf_ctx *ctx, const char *key, bool *out, kumo_error *err);
/* The string as a view; returns false if absent or not a string. */
bool gguf_get_str(const gguf_ctx *ctx, const char *key, gguf_str *out, kumo_error *err);
/* An array value (any element type); NULL if absent or not an array. */
const gguf_value *gguf_get_arr(const gguf_ctx *ctx, const char *key);

int64_t gguf_tensor_count(const gguf_ctx *ctx);
const gguf_tensor *gguf_tensor_at(const gguf_ctx *ctx, int64_t i);
const gguf_tensor *gguf_find_tensor(const gguf_ctx *ctx, const char *name); /* NULL if absent */
/* Heap bytes the context holds (metadata tables, copies of keys and names; not the mapping). Bounded
 * by a small multiple of the file size whatever the input; the fuzzer checks that. */
size_t gguf_heap_bytes(const gguf_ctx *ctx);

/* ---------- writer ---------- */
typedef struct gguf_writer gguf_writer;

gguf_writer *gguf_writer_new(void);
void gguf_writer_free(gguf_writer *w);
/* Adds or replaces a key (a replaced key keeps its position; keys are written in insertion order).
 * The value tree is deep-copied (strings and arrays included) and checked: integers must fit their
 * type, bools in arrays be 0/1, arrays nest at most GGUF_MAX_ARRAY_DEPTH, and general.alignment be
 * a uint32 power of two. Returns KUMO_OK or KUMO_E_INVALID / KUMO_E_NOMEM. The set_* shorthands
 * return the same codes without a message. */
int gguf_writer_set(gguf_writer *w, const char *key, const gguf_value *v, kumo_error *err);
int gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v);
int gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v);
int gguf_writer_set_f32(gguf_writer *w, const char *key, float v);
int gguf_writer_set_bool(gguf_writer *w, const char *key, bool v);
int gguf_writer_set_str(gguf_writer *w, const char *key, const char *s);
/* KUMO_OK when the key was there, KUMO_E_INVALID when it was not. The others keep their order. */
int gguf_writer_remove(gguf_writer *w, const char *key);
/* Adds a tensor. data (size bytes, which must equal the type's row bytes × rows) is NOT copied: it
 * must stay valid until gguf_writer_write returns. Tensors are written in the order added, each at an
 * offset aligned to general.alignment (default 32). */
int gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                           const int64_t *ne, const void *data, uint64_t size, kumo_error *err);
/* Writes version-3 GGUF to path via "path.tmp" + rename, so a failure never leaves a partial file. */
int gguf_writer_write(gguf_writer *w, const char *path, kumo_error *err);

#endif
