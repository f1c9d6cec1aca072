/* GGUF reader: hand-built files (every value type, getters, layout rules), hand-corrupted headers
 * (each rejected with a message naming the field), every truncation of a real model, and every
 * model and vocab file of the reference data. */
#include "testutil.h"

#include <cmocka.h>
#include <errno.h>
#include <glob.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/gguf.h"

/* ---------- a byte builder for hand-made files ---------- */

struct buf {
    uint8_t *b;
    size_t n, cap;
};

static void put(struct buf *o, const void *p, size_t n) {
    if (o->n + n > o->cap) {
        o->cap = (o->n + n) * 2 + 64;
        o->b = realloc(o->b, o->cap);
        assert_non_null(o->b);
    }
    if (n) memcpy(o->b + o->n, p, n);
    o->n += n;
}

static void put_le(struct buf *o, uint64_t v, int bytes) {
    uint8_t b[8];
    for (int k = 0; k < bytes; k++) b[k] = (uint8_t)(v >> (8 * k));
    put(o, b, (size_t)bytes);
}

static void u8(struct buf *o, uint8_t v) { put_le(o, v, 1); }
static void u32(struct buf *o, uint32_t v) { put_le(o, v, 4); }
static void u64(struct buf *o, uint64_t v) { put_le(o, v, 8); }

static void str(struct buf *o, const char *s) {
    u64(o, strlen(s));
    put(o, s, strlen(s));
}

static void header(struct buf *o, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    put(o, "GGUF", 4);
    u32(o, version);
    u64(o, n_tensors);
    u64(o, n_kv);
}

static void kv_u32(struct buf *o, const char *key, uint32_t v) {
    str(o, key);
    u32(o, GGUF_TYPE_UINT32);
    u32(o, v);
}

static void kv_str(struct buf *o, const char *key, const char *v) {
    str(o, key);
    u32(o, GGUF_TYPE_STRING);
    str(o, v);
}

static void tensor_info(struct buf *o, const char *name, uint32_t n_dims, const uint64_t *ne,
                        uint32_t type, uint64_t offset) {
    str(o, name);
    u32(o, n_dims);
    for (uint32_t d = 0; d < n_dims; d++) u64(o, ne[d]);
    u32(o, type);
    u64(o, offset);
}

static void pad_to(struct buf *o, size_t align) {
    while (o->n % align) u8(o, 0);
}

/* Data bytes: a recognizable pattern. */
static void data(struct buf *o, size_t n, uint8_t seed) {
    for (size_t i = 0; i < n; i++) u8(o, (uint8_t)(seed + i * 7));
}

/* The buffer open_copy parsed, freed by close_copy (tests run one at a time). */
static void *parsed_copy;

/* Parses an exact-size heap copy, so ASan catches any read past the end. */
static gguf_ctx *open_copy(const struct buf *o, kumo_error *err) {
    void *copy = malloc(o->n ? o->n : 1);
    assert_non_null(copy);
    memcpy(copy, o->b, o->n);
    gguf_ctx *g = gguf_open_memory(copy, o->n, err);
    if (g) parsed_copy = copy;
    else free(copy);
    return g;
}

static void close_copy(gguf_ctx *g) {
    gguf_close(g);
    free(parsed_copy);
    parsed_copy = NULL;
}

static void expect_error(const struct buf *o, const char *substr) {
    kumo_error err = {0};
    void *copy = malloc(o->n ? o->n : 1);
    assert_non_null(copy);
    memcpy(copy, o->b, o->n);
    gguf_ctx *g = gguf_open_memory(copy, o->n, &err);
    if (g || err.code != KUMO_E_FORMAT || !strstr(err.msg, substr) || strncmp(err.msg, "gguf: ", 6))
        print_error("expected KUMO_E_FORMAT containing \"%s\", got %s code %d: %s\n", substr,
                    g ? "a context" : "NULL", err.code, err.msg);
    assert_null(g);
    assert_int_equal(err.code, KUMO_E_FORMAT);
    assert_non_null(strstr(err.msg, substr));
    free(copy);
}

/* A small valid file: 2 kvs, 2 f32 tensors ([8] and [4, 2]) at offsets 0 and 32. */
static void valid_file(struct buf *o) {
    header(o, 3, 2, 2);
    kv_str(o, "general.architecture", "llama");
    kv_u32(o, "llama.block_count", 5);
    uint64_t ne_a[1] = {8}, ne_b[2] = {4, 2};
    tensor_info(o, "a", 1, ne_a, GGML_TYPE_F32, 0);
    tensor_info(o, "b", 2, ne_b, GGML_TYPE_F32, 32);
    pad_to(o, 32);
    data(o, 32, 1);
    data(o, 32, 2);
}

/* ---------- valid hand-built files ---------- */

static void test_minimal_valid(void **state) {
    (void)state;
    struct buf o = {0};
    valid_file(&o);
    kumo_error err = {0};
    gguf_ctx *g = open_copy(&o, &err);
    if (!g) print_error("%s\n", err.msg);
    assert_non_null(g);
    assert_int_equal(gguf_version(g), 3);
    assert_int_equal(gguf_kv_count(g), 2);
    assert_int_equal(gguf_tensor_count(g), 2);
    assert_int_equal(gguf_alignment(g), 32);
    assert_int_equal(gguf_file_size(g), o.n);
    assert_string_equal(gguf_kv_key(g, 0), "general.architecture");
    assert_int_equal(gguf_find_key(g, "llama.block_count"), 1);
    assert_int_equal(gguf_find_key(g, "nope"), -1);
    assert_null(gguf_kv_key(g, 2));
    assert_null(gguf_kv_value(g, -1));
    gguf_str s;
    assert_true(gguf_get_str(g, "general.architecture", &s, NULL));
    assert_int_equal(s.len, 5);
    assert_memory_equal(s.data, "llama", 5);
    uint64_t data_off = gguf_data_offset(g);
    assert_int_equal(data_off % 32, 0);
    assert_int_equal(data_off, o.n - 64);
    const gguf_tensor *b = gguf_find_tensor(g, "b");
    assert_non_null(b);
    assert_ptr_equal(b, gguf_tensor_at(g, 1));
    assert_int_equal(b->n_dims, 2);
    assert_int_equal(b->ne[0], 4);
    assert_int_equal(b->ne[1], 2);
    assert_int_equal(b->ne[2], 1);
    assert_int_equal(b->ne[3], 1);
    assert_int_equal(b->size, 32);
    assert_int_equal(b->offset, 32);
    const uint8_t *bd = b->data;
    assert_int_equal(bd[0], 2);
    assert_int_equal(bd[1], 9);
    assert_null(gguf_find_tensor(g, "c"));
    assert_null(gguf_tensor_at(g, 2));
    assert_true(gguf_heap_bytes(g) > 0);
    close_copy(g);
    free(o.b);
}

static void test_v2_accepted(void **state) {
    (void)state;
    struct buf o = {0};
    valid_file(&o);
    o.b[4] = 2;
    kumo_error err = {0};
    gguf_ctx *g = open_copy(&o, &err);
    assert_non_null(g);
    assert_int_equal(gguf_version(g), 2);
    close_copy(g);
    free(o.b);
}

static void test_all_scalar_types(void **state) {
    (void)state;
    struct buf o = {0};
    header(&o, 3, 0, 12);
    str(&o, "u8"), u32(&o, GGUF_TYPE_UINT8), u8(&o, 200);
    str(&o, "i8"), u32(&o, GGUF_TYPE_INT8), u8(&o, 0x80);
    str(&o, "u16"), u32(&o, GGUF_TYPE_UINT16), put_le(&o, 65535, 2);
    str(&o, "i16"), u32(&o, GGUF_TYPE_INT16), put_le(&o, 0x8001, 2);
    str(&o, "u32"), u32(&o, GGUF_TYPE_UINT32), u32(&o, 4000000000u);
    str(&o, "i32"), u32(&o, GGUF_TYPE_INT32), u32(&o, (uint32_t)-7);
    float f = -1.5f;
    uint32_t fu;
    memcpy(&fu, &f, 4);
    str(&o, "f32"), u32(&o, GGUF_TYPE_FLOAT32), u32(&o, fu);
    str(&o, "bool"), u32(&o, GGUF_TYPE_BOOL), u8(&o, 1);
    str(&o, "str"), u32(&o, GGUF_TYPE_STRING), str(&o, "h\xc3\xa9llo");
    str(&o, "u64"), u32(&o, GGUF_TYPE_UINT64), u64(&o, UINT64_MAX);
    str(&o, "i64"), u32(&o, GGUF_TYPE_INT64), u64(&o, (uint64_t)INT64_MIN);
    double d = 1e300;
    uint64_t du;
    memcpy(&du, &d, 8);
    str(&o, "f64"), u32(&o, GGUF_TYPE_FLOAT64), u64(&o, du);
    kumo_error err = {0};
    gguf_ctx *g = open_copy(&o, &err);
    if (!g) print_error("%s\n", err.msg);
    assert_non_null(g);
    assert_int_equal(gguf_get(g, "u8")->v.u, 200);
    assert_int_equal(gguf_get(g, "i8")->v.i, -128);
    assert_int_equal(gguf_get(g, "u16")->v.u, 65535);
    assert_int_equal(gguf_get(g, "i16")->v.i, -32767);
    assert_int_equal(gguf_get(g, "u32")->v.u, 4000000000u);
    assert_int_equal(gguf_get(g, "i32")->v.i, -7);
    assert_true(gguf_get(g, "f32")->v.f == -1.5);
    assert_true(gguf_get(g, "bool")->v.b);
    assert_int_equal(gguf_get(g, "str")->v.str.len, 6);
    assert_true(gguf_get(g, "u64")->v.u == UINT64_MAX);
    assert_true(gguf_get(g, "i64")->v.i == INT64_MIN);
    assert_true(gguf_get(g, "f64")->v.f == 1e300);
    for (int64_t i = 0; i < gguf_kv_count(g); i++)
        assert_non_null(gguf_type_name(gguf_kv_value(g, i)->type));
    assert_int_equal(gguf_data_offset(g) % 32, 0);

    /* Typed getters: widths and range checks. */
    uint32_t u;
    int64_t i64;
    float fl;
    bool bo;
    gguf_str s;
    err.code = 0;
    assert_true(gguf_get_u32(g, "u8", &u, &err)), assert_int_equal(u, 200);
    assert_true(gguf_get_u32(g, "u32", &u, &err)), assert_int_equal(u, 4000000000u);
    assert_false(gguf_get_u32(g, "i8", &u, &err));
    assert_int_equal(err.code, KUMO_E_FORMAT);
    assert_non_null(strstr(err.msg, "i8"));
    assert_non_null(strstr(err.msg, "out of range"));
    err.code = 0;
    assert_false(gguf_get_u32(g, "u64", &u, &err));
    assert_non_null(strstr(err.msg, "u64"));
    assert_false(gguf_get_u32(g, "str", &u, &err));
    assert_non_null(strstr(err.msg, "str has type string"));
    assert_false(gguf_get_u32(g, "absent", &u, NULL));
    assert_true(gguf_get_i64(g, "i64", &i64, &err)), assert_true(i64 == INT64_MIN);
    assert_true(gguf_get_i64(g, "u32", &i64, &err)), assert_true(i64 == 4000000000);
    assert_false(gguf_get_i64(g, "u64", &i64, &err));
    assert_false(gguf_get_i64(g, "f32", &i64, NULL));
    assert_true(gguf_get_f32(g, "f32", &fl, &err)), assert_true(fl == -1.5f);
    assert_true(gguf_get_f32(g, "i32", &fl, &err)), assert_true(fl == -7.0f);
    assert_false(gguf_get_f32(g, "f64", &fl, &err));
    assert_non_null(strstr(err.msg, "f64"));
    assert_false(gguf_get_f32(g, "bool", &fl, NULL));
    assert_true(gguf_get_bool(g, "bool", &bo, &err)), assert_true(bo);
    assert_false(gguf_get_bool(g, "u8", &bo, &err));
    assert_true(gguf_get_str(g, "str", &s, &err));
    assert_memory_equal(s.data, "h\xc3\xa9llo", 6);
    assert_false(gguf_get_str(g, "u8", &s, &err));
    assert_null(gguf_get_arr(g, "u8"));
    close_copy(g);
    free(o.b);
}

static void test_arrays(void **state) {
    (void)state;
    struct buf o = {0};
    header(&o, 3, 0, 6);
    /* An odd-length key first, so the numeric payloads below are unaligned in memory. */
    str(&o, "ints"), u32(&o, GGUF_TYPE_ARRAY), u32(&o, GGUF_TYPE_INT16), u64(&o, 3);
    put_le(&o, 1, 2), put_le(&o, 0xffff, 2), put_le(&o, 0x8000, 2);
    str(&o, "floats"), u32(&o, GGUF_TYPE_ARRAY), u32(&o, GGUF_TYPE_FLOAT64), u64(&o, 2);
    double d0 = 0.25, d1 = -3e10;
    uint64_t b0, b1;
    memcpy(&b0, &d0, 8), memcpy(&b1, &d1, 8);
    u64(&o, b0), u64(&o, b1);
    str(&o, "big"), u32(&o, GGUF_TYPE_ARRAY), u32(&o, GGUF_TYPE_UINT64), u64(&o, 1);
    u64(&o, UINT64_MAX);
    str(&o, "strs"), u32(&o, GGUF_TYPE_ARRAY), u32(&o, GGUF_TYPE_STRING), u64(&o, 3);
    str(&o, "<unk>"), str(&o, ""), str(&o, "\xe2\x96\x81the");
    /* [[[1, 2], []], [[3]]] as int32 */
    str(&o, "nested"), u32(&o, GGUF_TYPE_ARRAY), u32(&o, GGUF_TYPE_ARRAY), u64(&o, 2);
    u32(&o, GGUF_TYPE_ARRAY), u64(&o, 2);
    u32(&o, GGUF_TYPE_INT32), u64(&o, 2), u32(&o, 1), u32(&o, 2);
    u32(&o, GGUF_TYPE_INT32), u64(&o, 0);
    u32(&o, GGUF_TYPE_ARRAY), u64(&o, 1);
    u32(&o, GGUF_TYPE_INT32), u64(&o, 1), u32(&o, 3);
    str(&o, "empty"), u32(&o, GGUF_TYPE_ARRAY), u32(&o, GGUF_TYPE_STRING), u64(&o, 0);
    kumo_error err = {0};
    gguf_ctx *g = open_copy(&o, &err);
    if (!g) print_error("%s\n", err.msg);
    assert_non_null(g);
    const gguf_value *a = gguf_get_arr(g, "ints");
    assert_non_null(a);
    assert_int_equal(a->v.arr.elem_type, GGUF_TYPE_INT16);
    assert_int_equal(a->v.arr.n, 3);
    assert_int_equal(gguf_arr_i64(a, 0), 1);
    assert_int_equal(gguf_arr_i64(a, 1), -1);
    assert_int_equal(gguf_arr_i64(a, 2), -32768);
    assert_true(gguf_arr_f64(a, 2) == -32768.0);
    assert_int_equal(gguf_arr_i64(a, 3), 0); /* past the end */
    a = gguf_get_arr(g, "floats");
    assert_true(gguf_arr_f64(a, 0) == 0.25);
    assert_true(gguf_arr_f64(a, 1) == -3e10);
    assert_int_equal(gguf_arr_i64(a, 1), -30000000000);
    a = gguf_get_arr(g, "big");
    assert_true(gguf_arr_i64(a, 0) == INT64_MAX);
    assert_true(gguf_arr_f64(a, 0) == 18446744073709551615.0);
    a = gguf_get_arr(g, "strs");
    assert_int_equal(a->v.arr.n, 3);
    assert_int_equal(a->v.arr.strs[0].len, 5);
    assert_memory_equal(a->v.arr.strs[0].data, "<unk>", 5);
    assert_int_equal(a->v.arr.strs[1].len, 0);
    assert_int_equal(a->v.arr.strs[2].len, 6);
    assert_int_equal(gguf_arr_i64(a, 0), 0); /* not numeric */
    a = gguf_get_arr(g, "nested");
    assert_int_equal(a->v.arr.elem_type, GGUF_TYPE_ARRAY);
    assert_int_equal(a->v.arr.n, 2);
    const gguf_value *a0 = &a->v.arr.items[0], *a1 = &a->v.arr.items[1];
    assert_int_equal(a0->type, GGUF_TYPE_ARRAY);
    assert_int_equal(a0->v.arr.n, 2);
    assert_int_equal(gguf_arr_i64(&a0->v.arr.items[0], 1), 2);
    assert_int_equal(a0->v.arr.items[1].v.arr.n, 0);
    assert_int_equal(gguf_arr_i64(&a1->v.arr.items[0], 0), 3);
    a = gguf_get_arr(g, "empty");
    assert_int_equal(a->v.arr.n, 0);
    close_copy(g);
    free(o.b);
}

static void test_custom_alignment(void **state) {
    (void)state;
    struct buf o = {0};
    header(&o, 3, 2, 1);
    kv_u32(&o, "general.alignment", 64);
    uint64_t ne[1] = {16}, ne_q[1] = {64};
    tensor_info(&o, "a", 1, ne, GGML_TYPE_F16, 0);
    tensor_info(&o, "q", 1, ne_q, GGML_TYPE_Q8_0, 64);
    pad_to(&o, 64);
    data(&o, 32, 0), pad_to(&o, 64);
    data(&o, 68, 5);
    kumo_error err = {0};
    gguf_ctx *g = open_copy(&o, &err);
    if (!g) print_error("%s\n", err.msg);
    assert_non_null(g);
    assert_int_equal(gguf_alignment(g), 64);
    assert_int_equal(gguf_data_offset(g) % 64, 0);
    assert_int_equal(gguf_find_tensor(g, "q")->size, 68);
    close_copy(g);
    free(o.b);
}

/* Vocab-only files end right after their metadata, before any padding. */
static void test_no_tensors_unpadded(void **state) {
    (void)state;
    struct buf o = {0};
    header(&o, 3, 0, 1);
    kv_str(&o, "general.architecture", "x");
    assert_true(o.n % 32 != 0);
    kumo_error err = {0};
    gguf_ctx *g = open_copy(&o, &err);
    assert_non_null(g);
    assert_int_equal(gguf_tensor_count(g), 0);
    assert_null(gguf_find_tensor(g, "a"));
    close_copy(g);
    free(o.b);
}

static void test_zero_size_tensor(void **state) {
    (void)state;
    struct buf o = {0};
    header(&o, 3, 2, 0);
    uint64_t ne0[2] = {0, 4}, ne1[1] = {8};
    tensor_info(&o, "empty", 2, ne0, GGML_TYPE_Q4_0, 0);
    tensor_info(&o, "a", 1, ne1, GGML_TYPE_F32, 0);
    pad_to(&o, 32);
    data(&o, 32, 0);
    kumo_error err = {0};
    gguf_ctx *g = open_copy(&o, &err);
    if (!g) print_error("%s\n", err.msg);
    assert_non_null(g);
    assert_int_equal(gguf_find_tensor(g, "empty")->size, 0);
    close_copy(g);
    free(o.b);
}

/* ---------- hand-corrupted headers ---------- */

static void test_bad_magic(void **state) {
    (void)state;
    struct buf o = {0};
    valid_file(&o);
    o.b[0] = 'X';
    expect_error(&o, "magic");
    free(o.b);
}

static void test_bad_versions(void **state) {
    (void)state;
    struct buf o = {0};
    valid_file(&o);
    o.b[4] = 1;
    expect_error(&o, "version 1 at offset 4");
    o.b[4] = 4;
    expect_error(&o, "version 4 at offset 4");
    o.b[4] = 0, o.b[7] = 3; /* a big-endian v3 */
    expect_error(&o, "big-endian");
    free(o.b);
}

static void test_huge_counts(void **state) {
    (void)state;
    struct buf o = {0};
    valid_file(&o);
    struct buf k = {0};
    put(&k, o.b, o.n);
    /* kv count at offset 16 */
    memset(k.b + 16, 0xff, 8);
    expect_error(&k, "kv count 18446744073709551615 at offset 16");
    k.n = 0, put(&k, o.b, o.n);
    memset(k.b + 8, 0xff, 7); /* tensor count 2^56 - 1 */
    expect_error(&k, "tensor count 72057594037927935 at offset 8");
    /* Counts that each fit but together do not. */
    k.n = 0, put(&k, o.b, o.n);
    uint64_t rem = o.n - 24, nt = rem / 33, nk = rem / 14;
    for (int b = 0; b < 8; b++) k.b[8 + b] = (uint8_t)(nt >> (8 * b)), k.b[16 + b] = (uint8_t)(nk >> (8 * b));
    expect_error(&k, "together exceed");
    free(k.b);
    free(o.b);
}

static void test_string_past_eof(void **state) {
    (void)state;
    struct buf o = {0};
    header(&o, 3, 0, 1);
    u64(&o, UINT64_MAX); /* key length at offset 24 */
    data(&o, 1000, 0);
    expect_error(&o, "gguf: kv 0: string length 18446744073709551615 at offset 24 exceeds remaining "
                     "1000 bytes");
    free(o.b);

    struct buf v = {0};
    header(&v, 3, 0, 1);
    str(&v, "k"), u32(&v, GGUF_TYPE_STRING), u64(&v, 100), put(&v, "short", 5);
    expect_error(&v, "kv 0 (\"k\"): string length 100 at offset 37");
    free(v.b);
}

static void test_bad_value_types(void **state) {
    (void)state;
    struct buf o = {0};
    header(&o, 3, 0, 1);
    str(&o, "k"), u32(&o, 13), u64(&o, 0);
    expect_error(&o, "value type 13 at offset 33 is not a GGUF type");
    free(o.b);

    struct buf a = {0};
    header(&a, 3, 0, 1);
    str(&a, "k"), u32(&a, GGUF_TYPE_ARRAY), u32(&a, 99), u64(&a, 0);
    expect_error(&a, "array element type 99 at offset 37");
    free(a.b);

    struct buf b = {0};
    header(&b, 3, 0, 1);
    str(&b, "k"), u32(&b, GGUF_TYPE_BOOL), u8(&b, 2);
    expect_error(&b, "bool at offset 37 is 2");
    free(b.b);
}

static void test_bad_arrays(void **state) {
    (void)state;
    struct buf o = {0};
    header(&o, 3, 0, 1);
    str(&o, "k"), u32(&o, GGUF_TYPE_ARRAY), u32(&o, GGUF_TYPE_UINT32), u64(&o, 1ull << 62);
    u32(&o, 0);
    expect_error(&o, "array length 4611686018427387904 at offset 41");
    free(o.b);

    /* Each string element needs 8 bytes at least: 2 remaining bytes can hold none. */
    struct buf s = {0};
    header(&s, 3, 0, 1);
    str(&s, "k"), u32(&s, GGUF_TYPE_ARRAY), u32(&s, GGUF_TYPE_STRING), u64(&s, 1), u8(&s, 0), u8(&s, 0);
    expect_error(&s, "array length 1");
    free(s.b);

    struct buf e = {0};
    header(&e, 3, 0, 1);
    str(&e, "tokens"), u32(&e, GGUF_TYPE_ARRAY), u32(&e, GGUF_TYPE_STRING), u64(&e, 2);
    str(&e, "ok"), u64(&e, 5), put(&e, "abcdefgh", 2);
    expect_error(&e, "kv 0 (\"tokens\"): element 1: string length 5");
    free(e.b);

    /* Nested deeper than the limit. */
    struct buf d = {0};
    header(&d, 3, 0, 1);
    str(&d, "deep"), u32(&d, GGUF_TYPE_ARRAY);
    for (int k = 0; k < GGUF_MAX_ARRAY_DEPTH; k++) u32(&d, GGUF_TYPE_ARRAY), u64(&d, 1);
    u32(&d, GGUF_TYPE_INT32), u64(&d, 0);
    expect_error(&d, "nests deeper than");
    /* One level less is fine. */
    struct buf ok = {0};
    header(&ok, 3, 0, 1);
    str(&ok, "deep"), u32(&ok, GGUF_TYPE_ARRAY);
    for (int k = 0; k < GGUF_MAX_ARRAY_DEPTH - 1; k++) u32(&ok, GGUF_TYPE_ARRAY), u64(&ok, 1);
    u32(&ok, GGUF_TYPE_INT32), u64(&ok, 0);
    kumo_error err = {0};
    gguf_ctx *g = open_copy(&ok, &err);
    if (!g) print_error("%s\n", err.msg);
    assert_non_null(g);
    close_copy(g);
    free(ok.b);
    free(d.b);

    struct buf bb = {0};
    header(&bb, 3, 0, 1);
    str(&bb, "flags"), u32(&bb, GGUF_TYPE_ARRAY), u32(&bb, GGUF_TYPE_BOOL), u64(&bb, 3);
    u8(&bb, 1), u8(&bb, 0), u8(&bb, 7);
    expect_error(&bb, "bool element 2 at offset 55 is 7");
    free(bb.b);
}

static void test_bad_keys(void **state) {
    (void)state;
    struct buf o = {0};
    header(&o, 3, 0, 2);
    kv_u32(&o, "general.x", 1);
    kv_u32(&o, "general.x", 2);
    expect_error(&o, "kv 1 key \"general.x\"");
    assert_true(1);
    free(o.b);
    struct buf d = {0};
    header(&d, 3, 0, 2);
    kv_u32(&d, "a", 1);
    kv_u32(&d, "a", 2);
    expect_error(&d, "duplicates kv 0");
    free(d.b);

    struct buf e = {0};
    header(&e, 3, 0, 1);
    kv_u32(&e, "", 1);
    expect_error(&e, "empty key at offset 24");
    free(e.b);

    struct buf n = {0};
    header(&n, 3, 0, 1);
    u64(&n, 3), put(&n, "a\0b", 3), u32(&n, GGUF_TYPE_UINT8), u8(&n, 0);
    expect_error(&n, "key at offset 24 contains a NUL byte");
    free(n.b);
}

static void test_bad_alignment(void **state) {
    (void)state;
    const uint32_t bad[] = {0, 3, 48};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        struct buf o = {0};
        header(&o, 3, 0, 1);
        kv_u32(&o, "general.alignment", bad[k]);
        char want[64];
        snprintf(want, sizeof want, "general.alignment %u at offset 49 is not a power of two", bad[k]);
        expect_error(&o, want);
        free(o.b);
    }
    struct buf t = {0};
    header(&t, 3, 0, 1);
    str(&t, "general.alignment"), u32(&t, GGUF_TYPE_UINT64), u64(&t, 32);
    expect_error(&t, "general.alignment at offset 49 has type uint64, expected uint32");
    free(t.b);
    struct buf s = {0};
    header(&s, 3, 0, 1);
    str(&s, "general.alignment"), u32(&s, GGUF_TYPE_INT32), u32(&s, 32);
    expect_error(&s, "has type int32, expected uint32");
    free(s.b);
}

/* One tensor with the given fields after a header with no kvs (tensor info starts at offset 24),
 * followed by enough aligned data for a small tensor. */
static void one_tensor(struct buf *o, const char *name, uint32_t n_dims, const uint64_t *ne,
                       uint32_t type, uint64_t offset) {
    header(o, 3, 1, 0);
    tensor_info(o, name, n_dims, ne, type, offset);
    pad_to(o, 32);
    data(o, 64, 3);
}

static void test_bad_tensor_infos(void **state) {
    (void)state;
    uint64_t ne[5] = {4, 4, 1, 1, 1};
    struct buf o = {0};
    one_tensor(&o, "t", 0, ne, GGML_TYPE_F32, 0);
    expect_error(&o, "tensor 0 (\"t\") n_dims 0 at offset 33 is not in 1..4");
    free(o.b), o = (struct buf){0};
    one_tensor(&o, "t", 5, ne, GGML_TYPE_F32, 0);
    expect_error(&o, "n_dims 5 at offset 33");
    free(o.b), o = (struct buf){0};

    uint64_t neg[2] = {4, (uint64_t)-3};
    one_tensor(&o, "t", 2, neg, GGML_TYPE_F32, 0);
    expect_error(&o, "tensor 0 (\"t\") ne[1] = -3 at offset 45 is negative");
    free(o.b), o = (struct buf){0};

    uint64_t big[3] = {1ull << 32, 1ull << 31, 4};
    one_tensor(&o, "t", 3, big, GGML_TYPE_F32, 0);
    expect_error(&o, "overflow the element count");
    free(o.b), o = (struct buf){0};

    uint64_t bytes_over[1] = {1ull << 62}; /* 2^62 elements fit int64, 2^64 bytes do not */
    one_tensor(&o, "t", 1, bytes_over, GGML_TYPE_F32, 0);
    expect_error(&o, "byte size of 4611686018427387904");
    free(o.b), o = (struct buf){0};

    one_tensor(&o, "t", 2, ne, 4, 0); /* 4 is a hole in the ggml type ids */
    expect_error(&o, "type id 4 at offset 53 is not a known ggml type");
    free(o.b), o = (struct buf){0};
    one_tensor(&o, "t", 2, ne, 1000, 0);
    expect_error(&o, "type id 1000");
    free(o.b), o = (struct buf){0};

    uint64_t q[2] = {48, 2};
    one_tensor(&o, "w", 2, q, GGML_TYPE_Q4_0, 0);
    expect_error(&o, "tensor 0 (\"w\") ne[0] = 48 is not a multiple of the block size 32 of type q4_0");
    free(o.b), o = (struct buf){0};

    one_tensor(&o, "t", 2, ne, GGML_TYPE_F32, 16);
    expect_error(&o, "tensor 0 (\"t\") offset 16 at offset 57 is not a multiple of the alignment 32");
    free(o.b), o = (struct buf){0};

    one_tensor(&o, "t", 2, ne, GGML_TYPE_F32, 64);
    expect_error(&o, "tensor 0 (\"t\") data [160, 224) extends past end of file (160 bytes)");
    free(o.b), o = (struct buf){0};

    one_tensor(&o, "t", 2, ne, GGML_TYPE_F32, 1ull << 40);
    expect_error(&o, "data starts at 96 + 1099511627776, past end of file (160 bytes)");
    free(o.b), o = (struct buf){0};

    char name[GGUF_MAX_NAME + 1];
    memset(name, 'n', GGUF_MAX_NAME);
    name[GGUF_MAX_NAME] = 0;
    one_tensor(&o, name, 2, ne, GGML_TYPE_F32, 0);
    expect_error(&o, "tensor name length 64 at offset 24 exceeds the maximum 63");
    free(o.b), o = (struct buf){0};
    name[GGUF_MAX_NAME - 1] = 0; /* 63 bytes: allowed */
    one_tensor(&o, name, 2, ne, GGML_TYPE_F32, 0);
    kumo_error err = {0};
    gguf_ctx *g = open_copy(&o, &err);
    if (!g) print_error("%s\n", err.msg);
    assert_non_null(g);
    assert_non_null(gguf_find_tensor(g, name));
    close_copy(g);
    free(o.b), o = (struct buf){0};

    one_tensor(&o, "", 2, ne, GGML_TYPE_F32, 0);
    expect_error(&o, "empty tensor name at offset 24");
    free(o.b), o = (struct buf){0};

    /* Enough bytes for the counts' bound, but the info runs out at its offset field. */
    header(&o, 3, 1, 0);
    str(&o, "t"), u32(&o, 2), u64(&o, 4), u64(&o, 1), u32(&o, GGML_TYPE_F32);
    expect_error(&o, "tensor 0 (\"t\"): offset at offset 57 needs 8 bytes, only 0 remain");
    free(o.b), o = (struct buf){0};
}

static void test_bad_tensor_layout(void **state) {
    (void)state;
    uint64_t ne[1] = {8};
    struct buf o = {0};
    header(&o, 3, 2, 0);
    tensor_info(&o, "blk.0.w", 1, ne, GGML_TYPE_F32, 0);
    tensor_info(&o, "blk.0.w", 1, ne, GGML_TYPE_F32, 32);
    pad_to(&o, 32);
    data(&o, 64, 0);
    expect_error(&o, "tensor 1 name \"blk.0.w\"");
    expect_error(&o, "duplicates tensor 0");
    free(o.b), o = (struct buf){0};

    uint64_t ne16[1] = {16};
    header(&o, 3, 2, 0);
    tensor_info(&o, "a", 1, ne16, GGML_TYPE_F32, 0); /* 64 bytes: [0, 64) */
    tensor_info(&o, "b", 1, ne, GGML_TYPE_F32, 32);  /* [32, 64) */
    pad_to(&o, 32);
    data(&o, 64, 0);
    expect_error(&o, "tensor 1 (\"b\") data [32, 64) overlaps tensor 0 (\"a\")");
    free(o.b), o = (struct buf){0};

    /* An empty tensor between two overlapping ones must not hide the overlap. */
    uint64_t ne0[1] = {0};
    header(&o, 3, 3, 0);
    tensor_info(&o, "a", 1, ne16, GGML_TYPE_F32, 0);
    tensor_info(&o, "z", 1, ne0, GGML_TYPE_F32, 32);
    tensor_info(&o, "b", 1, ne, GGML_TYPE_F32, 32);
    pad_to(&o, 32);
    data(&o, 64, 0);
    expect_error(&o, "overlaps tensor 0");
    free(o.b), o = (struct buf){0};
}

static void test_open_errors(void **state) {
    (void)state;
    kumo_error err = {0};
    assert_null(gguf_open("/nonexistent/dir/model.gguf", &err));
    assert_int_equal(err.code, KUMO_E_IO);
    assert_non_null(strstr(err.msg, "/nonexistent/dir/model.gguf"));
    assert_non_null(strstr(err.msg, strerror(ENOENT)));
    err.code = 0;
    assert_null(gguf_open("tests", &err));
    assert_int_equal(err.code, KUMO_E_IO);
    assert_non_null(strstr(err.msg, "not a regular file"));
    assert_null(gguf_open("/nonexistent", NULL)); /* NULL error pointer is fine */

    /* A FIFO without a writer: refused at once, not waited on. */
    char fifo[] = "/tmp/kumo-gguf-fifo-XXXXXX";
    int tfd = mkstemp(fifo);
    assert_true(tfd >= 0);
    close(tfd);
    unlink(fifo);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    err.code = 0;
    assert_null(gguf_open(fifo, &err));
    assert_int_equal(err.code, KUMO_E_IO);
    assert_non_null(strstr(err.msg, "not a regular file"));
    unlink(fifo);

    char path[] = "/tmp/kumo-gguf-empty-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    err.code = 0;
    assert_null(gguf_open(path, &err));
    assert_int_equal(err.code, KUMO_E_FORMAT);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "magic at offset 0 needs 4 bytes, only 0 remain"));
    unlink(path);

    err.code = 0;
    assert_null(gguf_open_memory(NULL, 0, &err));
    assert_int_equal(err.code, KUMO_E_FORMAT);
    assert_null(gguf_open_memory(NULL, 10, &err));
    assert_int_equal(err.code, KUMO_E_INVALID);
}

/* ---------- real files ---------- */

static void test_stories260k(void **state) {
    (void)state;
    const char *path = shared_path("models/stories260K.gguf");
    kumo_error err = {0};
    gguf_ctx *g = gguf_open(path, &err);
    if (!g) print_error("%s\n", err.msg);
    assert_non_null(g);
    assert_int_equal(gguf_version(g), 3);
    assert_int_equal(gguf_kv_count(g), 19);
    assert_int_equal(gguf_tensor_count(g), 48); /* 3 + 5 layers x 9 */
    gguf_str arch;
    assert_true(gguf_get_str(g, "general.architecture", &arch, &err));
    assert_int_equal(arch.len, 5);
    assert_memory_equal(arch.data, "llama", 5);
    const gguf_value *tokens = gguf_get_arr(g, "tokenizer.ggml.tokens");
    assert_non_null(tokens);
    assert_int_equal(tokens->v.arr.elem_type, GGUF_TYPE_STRING);
    assert_int_equal(tokens->v.arr.n, 512);
    assert_int_equal(tokens->v.arr.strs[0].len, 5);
    assert_memory_equal(tokens->v.arr.strs[0].data, "<unk>", 5);
    assert_memory_equal(tokens->v.arr.strs[1].data, "<s>", 3);
    const gguf_value *types = gguf_get_arr(g, "tokenizer.ggml.token_type");
    assert_int_equal(types->v.arr.n, 512);
    assert_int_equal(gguf_arr_i64(types, 0), 2); /* <unk>: UNKNOWN */
    assert_int_equal(gguf_arr_i64(types, 1), 3); /* <s>: CONTROL */
    uint32_t u;
    assert_true(gguf_get_u32(g, "llama.block_count", &u, &err));
    assert_int_equal(u, 5);
    assert_true(gguf_get_u32(g, "llama.embedding_length", &u, &err));
    assert_int_equal(u, 64);
    float eps;
    assert_true(gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &eps, &err));
    assert_true(eps > 0 && eps < 1e-3f);
    const gguf_tensor *emb = gguf_find_tensor(g, "token_embd.weight");
    assert_non_null(emb);
    assert_int_equal(emb->n_dims, 2);
    assert_int_equal(emb->ne[0], 64);
    assert_int_equal(emb->ne[1], 512);
    assert_int_equal(emb->type, GGML_TYPE_F32);
    assert_int_equal(emb->size, 64 * 512 * 4);
    assert_non_null(gguf_find_tensor(g, "blk.4.ffn_norm.weight"));
    assert_int_equal(gguf_data_offset(g) % 32, 0);
    /* The data pointer is where the file says: compare with the bytes read the ordinary way. */
    size_t len;
    char *whole = read_file(path, &len);
    assert_non_null(whole);
    assert_int_equal(len, gguf_file_size(g));
    const gguf_tensor *last = gguf_tensor_at(g, 47);
    assert_memory_equal(last->data, whole + gguf_data_offset(g) + last->offset, last->size);
    free(whole);
    gguf_close(g);
}

/* Every GGUF the reference data has opens, and its tensors agree with its metadata. */
static void check_file(const char *path, bool is_model) {
    kumo_error err = {0};
    gguf_ctx *g = gguf_open(path, &err);
    if (!g) print_error("%s: %s\n", path, err.msg);
    assert_non_null(g);
    gguf_str arch;
    assert_true(gguf_get_str(g, "general.architecture", &arch, &err));
    assert_true(arch.len > 0);
    const gguf_value *tokens = gguf_get_arr(g, "tokenizer.ggml.tokens");
    assert_non_null(tokens);
    assert_true(tokens->v.arr.n > 0);
    assert_int_equal(tokens->v.arr.elem_type, GGUF_TYPE_STRING);
    for (int64_t i = 0; i < gguf_kv_count(g); i++)
        assert_int_equal(gguf_find_key(g, gguf_kv_key(g, i)), i);
    if (is_model) {
        assert_true(gguf_tensor_count(g) > 0);
        const gguf_tensor *emb = gguf_find_tensor(g, "token_embd.weight");
        assert_non_null(emb);
        assert_int_equal(emb->ne[1], (int64_t)tokens->v.arr.n);
        char key[128];
        snprintf(key, sizeof key, "%.*s.embedding_length", (int)arch.len, arch.data);
        uint32_t n_embd;
        assert_true(gguf_get_u32(g, key, &n_embd, &err));
        assert_int_equal(emb->ne[0], n_embd);
    } else {
        assert_int_equal(gguf_tensor_count(g), 0);
    }
    const uint8_t *base = NULL;
    for (int64_t i = 0; i < gguf_tensor_count(g); i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        assert_ptr_equal(gguf_find_tensor(g, t->name), t);
        assert_int_equal(t->offset % gguf_alignment(g), 0);
        assert_true(gguf_data_offset(g) + t->offset + t->size <= gguf_file_size(g));
        uint64_t rows = (uint64_t)t->ne[1] * (uint64_t)t->ne[2] * (uint64_t)t->ne[3];
        assert_int_equal(t->size, ggml_row_bytes(t->type, t->ne[0]) * rows);
        const uint8_t *b = (const uint8_t *)t->data - gguf_data_offset(g) - t->offset;
        if (base) assert_ptr_equal(b, base);
        base = b;
    }
    gguf_close(g);
}

static void test_all_shared_files(void **state) {
    (void)state;
    const char *dirs[2] = {"models/*.gguf", "vocab/*.gguf"};
    int counts[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        glob_t gl;
        assert_int_equal(glob(shared_path(dirs[k]), 0, NULL, &gl), 0);
        for (size_t i = 0; i < gl.gl_pathc; i++) {
            check_file(gl.gl_pathv[i], k == 0);
            counts[k]++;
        }
        globfree(&gl);
    }
    print_message("opened %d model and %d vocab files\n", counts[0], counts[1]);
    assert_true(counts[0] >= 20);
    assert_true(counts[1] >= 10);
}

static void test_big_vocab(void **state) {
    (void)state;
    kumo_error err = {0};
    gguf_ctx *g = gguf_open(shared_path("vocab/ggml-vocab-qwen3.gguf"), &err);
    assert_non_null(g);
    assert_int_equal(gguf_get_arr(g, "tokenizer.ggml.tokens")->v.arr.n, 151936);
    gguf_str arch;
    assert_true(gguf_get_str(g, "general.architecture", &arch, &err));
    assert_memory_equal(arch.data, "qwen3", 5);
    gguf_close(g);
}

/* ---------- truncation ---------- */

static void expect_truncation_rejected(const char *whole, size_t cut) {
    char *copy = malloc(cut ? cut : 1);
    assert_non_null(copy);
    memcpy(copy, whole, cut);
    kumo_error err = {0};
    gguf_ctx *g = gguf_open_memory(copy, cut, &err);
    if (g || err.code != KUMO_E_FORMAT) print_error("cut at %zu: code %d %s\n", cut, err.code, err.msg);
    assert_null(g);
    assert_int_equal(err.code, KUMO_E_FORMAT);
    assert_int_equal(strncmp(err.msg, "gguf: ", 6), 0);
    free(copy);
}

static void test_every_truncation(void **state) {
    (void)state;
    const char *path = shared_path("models/stories260K.gguf");
    size_t len;
    char *whole = read_file(path, &len);
    assert_non_null(whole);
    kumo_error err = {0};
    gguf_ctx *g = gguf_open_memory(whole, len, &err);
    assert_non_null(g);
    size_t data_off = gguf_data_offset(g), data_end = data_off;
    for (int64_t i = 0; i < gguf_tensor_count(g); i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        if (data_off + t->offset + t->size > data_end) data_end = data_off + t->offset + t->size;
    }
    gguf_close(g);
    assert_true(data_off > 10000 && data_end <= len);

    /* Every byte of header, metadata, tensor infos and padding. */
    for (size_t cut = 0; cut <= data_off; cut++) expect_truncation_rejected(whole, cut);
    /* A sample of the data region, and each tensor's last byte. */
    size_t n_sampled = 0;
    for (size_t cut = data_off + 1; cut < data_end; cut += 4099, n_sampled++)
        expect_truncation_rejected(whole, cut);
    expect_truncation_rejected(whole, data_end - 1);
    print_message("rejected %zu header cuts and %zu data cuts\n", data_off + 1, n_sampled + 1);

    /* The same through gguf_open on real truncated files, for a sample. */
    const size_t cuts[] = {0, 3, 4, 23, 24, 100, 1000, 5000, data_off - 1, data_off, data_off + 1,
                           data_end / 2, data_end - 1};
    char tmp[] = "/tmp/kumo-gguf-trunc-XXXXXX";
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    close(fd);
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        FILE *f = fopen(tmp, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(whole, 1, cuts[k], f), cuts[k]);
        fclose(f);
        err.code = 0;
        g = gguf_open(tmp, &err);
        if (g) print_error("cut at %zu accepted\n", cuts[k]);
        assert_null(g);
        assert_int_equal(err.code, KUMO_E_FORMAT);
        assert_non_null(strstr(err.msg, tmp));
    }
    unlink(tmp);

    /* The whole file loads. */
    g = gguf_open_memory(whole, len, &err);
    assert_non_null(g);
    gguf_close(g);
    free(whole);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_valid),
        cmocka_unit_test(test_v2_accepted),
        cmocka_unit_test(test_all_scalar_types),
        cmocka_unit_test(test_arrays),
        cmocka_unit_test(test_custom_alignment),
        cmocka_unit_test(test_no_tensors_unpadded),
        cmocka_unit_test(test_zero_size_tensor),
        cmocka_unit_test(test_bad_magic),
        cmocka_unit_test(test_bad_versions),
        cmocka_unit_test(test_huge_counts),
        cmocka_unit_test(test_string_past_eof),
        cmocka_unit_test(test_bad_value_types),
        cmocka_unit_test(test_bad_arrays),
        cmocka_unit_test(test_bad_keys),
        cmocka_unit_test(test_bad_alignment),
        cmocka_unit_test(test_bad_tensor_infos),
        cmocka_unit_test(test_bad_tensor_layout),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_stories260k),
        cmocka_unit_test(test_all_shared_files),
        cmocka_unit_test(test_big_vocab),
        cmocka_unit_test(test_every_truncation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
