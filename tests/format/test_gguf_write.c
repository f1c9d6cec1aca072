/* GGUF writer: every value type and several tensor types round-trip through write + read; key
 * order, replacement and removal; alignment and zero padding; argument checks; failed writes leave
 * no file behind; reference files rewritten through reader + writer come out byte-identical. */
#include "testutil.h"

#include <cmocka.h>
#include <errno.h>
#include <glob.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/gguf.h"

static char tmpdir[64];

static int make_tmpdir(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/kumo-gguf-write-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *tmp_path(const char *name) {
    static char bufs[4][256];
    static int next;
    char *b = bufs[next++ & 3];
    snprintf(b, sizeof bufs[0], "%s/%s", tmpdir, name);
    return b;
}

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---------- deep comparison of value trees ---------- */

static bool values_equal(const gguf_value *a, const gguf_value *b) {
    if (a->type != b->type) return false;
    switch (a->type) {
    case GGUF_TYPE_UINT8:
    case GGUF_TYPE_UINT16:
    case GGUF_TYPE_UINT32:
    case GGUF_TYPE_UINT64: return a->v.u == b->v.u;
    case GGUF_TYPE_INT8:
    case GGUF_TYPE_INT16:
    case GGUF_TYPE_INT32:
    case GGUF_TYPE_INT64: return a->v.i == b->v.i;
    case GGUF_TYPE_FLOAT32: return (float)a->v.f == (float)b->v.f;
    case GGUF_TYPE_FLOAT64: return memcmp(&a->v.f, &b->v.f, sizeof a->v.f) == 0;
    case GGUF_TYPE_BOOL: return a->v.b == b->v.b;
    case GGUF_TYPE_STRING:
        return a->v.str.len == b->v.str.len &&
               (a->v.str.len == 0 || memcmp(a->v.str.data, b->v.str.data, a->v.str.len) == 0);
    case GGUF_TYPE_ARRAY: {
        if (a->v.arr.elem_type != b->v.arr.elem_type || a->v.arr.n != b->v.arr.n) return false;
        uint64_t n = a->v.arr.n;
        if (n == 0) return true;
        if (a->v.arr.elem_type == GGUF_TYPE_STRING) {
            for (uint64_t j = 0; j < n; j++) {
                const gguf_str *x = &a->v.arr.strs[j], *y = &b->v.arr.strs[j];
                if (x->len != y->len || (x->len && memcmp(x->data, y->data, x->len) != 0)) return false;
            }
            return true;
        }
        if (a->v.arr.elem_type == GGUF_TYPE_ARRAY) {
            for (uint64_t j = 0; j < n; j++)
                if (!values_equal(&a->v.arr.items[j], &b->v.arr.items[j])) return false;
            return true;
        }
        return memcmp(a->v.arr.raw, b->v.arr.raw, n * gguf_type_size(a->v.arr.elem_type)) == 0;
    }
    default: return false;
    }
}

/* ---------- building values ---------- */

static void le_store(uint8_t *p, uint64_t v, size_t bytes) {
    for (size_t k = 0; k < bytes; k++) p[k] = (uint8_t)(v >> (8 * k));
}

static gguf_value scalar_u(enum gguf_type t, uint64_t u) { return (gguf_value){.type = t, .v.u = u}; }
static gguf_value scalar_i(enum gguf_type t, int64_t i) { return (gguf_value){.type = t, .v.i = i}; }

static gguf_value array_raw(enum gguf_type t, uint64_t n, const void *raw) {
    gguf_value v = {.type = GGUF_TYPE_ARRAY};
    v.v.arr.elem_type = t;
    v.v.arr.n = n;
    v.v.arr.raw = raw;
    return v;
}

static gguf_value array_strs(uint64_t n, const gguf_str *strs) {
    gguf_value v = {.type = GGUF_TYPE_ARRAY};
    v.v.arr.elem_type = GGUF_TYPE_STRING;
    v.v.arr.n = n;
    v.v.arr.strs = strs;
    return v;
}

static gguf_value array_items(uint64_t n, const gguf_value *items) {
    gguf_value v = {.type = GGUF_TYPE_ARRAY};
    v.v.arr.elem_type = GGUF_TYPE_ARRAY;
    v.v.arr.n = n;
    v.v.arr.items = items;
    return v;
}

static gguf_str S(const char *s, size_t len) { return (gguf_str){.len = len, .data = s}; }

/* Per numeric type: 5 elements whose LE encoding is built here and whose values are checked
 * through gguf_arr_i64 / gguf_arr_f64 after the round trip. */
static const int64_t INT_VALUES[5] = {0, 1, -1, 100, -100};

static void fill_numeric(enum gguf_type t, uint8_t *raw) {
    size_t size = gguf_type_size(t);
    for (int j = 0; j < 5; j++) {
        int64_t x = INT_VALUES[j];
        if (t == GGUF_TYPE_FLOAT32) {
            float f = (float)x / 4;
            uint32_t u;
            memcpy(&u, &f, 4);
            le_store(raw + 4 * j, u, 4);
        } else if (t == GGUF_TYPE_FLOAT64) {
            double d = (double)x / 4;
            uint64_t u;
            memcpy(&u, &d, 8);
            le_store(raw + 8 * j, u, 8);
        } else if (t == GGUF_TYPE_BOOL) {
            raw[j] = (uint8_t)(x & 1);
        } else {
            bool is_unsigned = t == GGUF_TYPE_UINT8 || t == GGUF_TYPE_UINT16 ||
                               t == GGUF_TYPE_UINT32 || t == GGUF_TYPE_UINT64;
            uint64_t u = is_unsigned ? (uint64_t)(x < 0 ? -x : x) : (uint64_t)x;
            le_store(raw + size * (size_t)j, u, size);
        }
    }
}

static double expected_numeric(enum gguf_type t, int j) {
    int64_t x = INT_VALUES[j];
    if (t == GGUF_TYPE_FLOAT32 || t == GGUF_TYPE_FLOAT64) return (double)x / 4;
    if (t == GGUF_TYPE_BOOL) return (double)(x & 1);
    bool is_unsigned = t == GGUF_TYPE_UINT8 || t == GGUF_TYPE_UINT16 || t == GGUF_TYPE_UINT32 ||
                       t == GGUF_TYPE_UINT64;
    return (double)(is_unsigned && x < 0 ? -x : x);
}

static const enum gguf_type NUMERIC[11] = {
    GGUF_TYPE_UINT8,  GGUF_TYPE_INT8,   GGUF_TYPE_UINT16, GGUF_TYPE_INT16,
    GGUF_TYPE_UINT32, GGUF_TYPE_INT32,  GGUF_TYPE_FLOAT32, GGUF_TYPE_BOOL,
    GGUF_TYPE_UINT64, GGUF_TYPE_INT64,  GGUF_TYPE_FLOAT64,
};

/* ---------- tests ---------- */

struct tensor_spec {
    const char *name;
    uint32_t type, n_dims;
    int64_t ne[4];
};

static const struct tensor_spec TENSORS[] = {
    {"f32.odd", GGML_TYPE_F32, 1, {7, 1, 1, 1}},
    {"f16.2d", GGML_TYPE_F16, 2, {3, 5, 1, 1}},
    {"q4_0", GGML_TYPE_Q4_0, 2, {64, 3, 1, 1}},
    {"q8_0.3d", GGML_TYPE_Q8_0, 3, {32, 2, 2, 1}},
    {"q4_K", GGML_TYPE_Q4_K, 2, {256, 2, 1, 1}},
    {"i8.4d", GGML_TYPE_I8, 4, {5, 1, 1, 3}},
    {"empty", GGML_TYPE_BF16, 2, {0, 4, 1, 1}},
    {"one", GGML_TYPE_F32, 1, {1, 1, 1, 1}},
};
#define N_TENSORS (sizeof TENSORS / sizeof TENSORS[0])

static uint64_t spec_size(const struct tensor_spec *t) {
    return ggml_row_bytes(t->type, t->ne[0]) * (uint64_t)(t->ne[1] * t->ne[2] * t->ne[3]);
}

static void round_trip(uint32_t alignment) {
    gguf_writer *w = gguf_writer_new();
    assert_non_null(w);
    kumo_error err = {0};
    int n_keys = 0;
    char key[64];
    gguf_value expect[64];
    const char *keys[64];
#define SET(k, val)                                                                              \
    do {                                                                                         \
        gguf_value v_ = (val);                                                                   \
        int rc_ = gguf_writer_set(w, (k), &v_, &err);                                            \
        if (rc_) print_error("%s: %s\n", (k), err.msg);                                          \
        assert_int_equal(rc_, KUMO_OK);                                                          \
        keys[n_keys] = (k);                                                                      \
        expect[n_keys++] = v_;                                                                   \
    } while (0)

    if (alignment != GGUF_DEFAULT_ALIGNMENT) SET("general.alignment", scalar_u(GGUF_TYPE_UINT32, alignment));
    SET("u8", scalar_u(GGUF_TYPE_UINT8, 255));
    SET("i8", scalar_i(GGUF_TYPE_INT8, -128));
    SET("u16", scalar_u(GGUF_TYPE_UINT16, 65535));
    SET("i16", scalar_i(GGUF_TYPE_INT16, -32768));
    SET("u32", scalar_u(GGUF_TYPE_UINT32, UINT32_MAX));
    SET("i32", scalar_i(GGUF_TYPE_INT32, INT32_MIN));
    SET("f32", ((gguf_value){.type = GGUF_TYPE_FLOAT32, .v.f = 3.25}));
    SET("bool.t", ((gguf_value){.type = GGUF_TYPE_BOOL, .v.b = true}));
    SET("bool.f", ((gguf_value){.type = GGUF_TYPE_BOOL, .v.b = false}));
    SET("u64", scalar_u(GGUF_TYPE_UINT64, UINT64_MAX));
    SET("i64", scalar_i(GGUF_TYPE_INT64, INT64_MIN));
    SET("f64", ((gguf_value){.type = GGUF_TYPE_FLOAT64, .v.f = -0.1}));
    SET("str.empty", ((gguf_value){.type = GGUF_TYPE_STRING, .v.str = S("", 0)}));
    const char *utf8 = "h\xc3\xa9llo \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac";
    SET("str.utf8", ((gguf_value){.type = GGUF_TYPE_STRING, .v.str = S(utf8, strlen(utf8))}));
    SET("str.nul", ((gguf_value){.type = GGUF_TYPE_STRING, .v.str = S("a\0b", 3)}));

    uint8_t raws[11][40];
    static char arr_keys[11][32], empty_keys[13][32];
    for (int k = 0; k < 11; k++) {
        fill_numeric(NUMERIC[k], raws[k]);
        snprintf(arr_keys[k], sizeof arr_keys[k], "arr.%s", gguf_type_name(NUMERIC[k]));
        SET(arr_keys[k], array_raw(NUMERIC[k], 5, raws[k]));
    }
    gguf_str strs[5] = {S("", 0), S(utf8, strlen(utf8)), S("<0x0A>", 6), S("\xe2\x96\x81the", 6),
                        S("x\0y", 3)};
    SET("arr.string", array_strs(5, strs));
    /* [[[1, 2, 3], []], [[4]], []] of int32, and [["a"], []] of strings */
    int32_t i123[3] = {1, 2, 3}, i4[1] = {4};
    gguf_value inner0[2] = {array_raw(GGUF_TYPE_INT32, 3, i123), array_raw(GGUF_TYPE_INT32, 0, NULL)};
    gguf_value inner1[1] = {array_raw(GGUF_TYPE_INT32, 1, i4)};
    gguf_value mid[3] = {array_items(2, inner0), array_items(1, inner1), array_items(0, NULL)};
    SET("arr.nested3", array_items(3, mid));
    gguf_str sa[1] = {S("a", 1)};
    gguf_value smid[2] = {array_strs(1, sa), array_strs(0, NULL)};
    SET("arr.nested.strings", array_items(2, smid));
    for (int t = 0; t < GGUF_TYPE_COUNT; t++) {
        snprintf(empty_keys[t], sizeof empty_keys[t], "empty.%s", gguf_type_name(t));
        gguf_value e = {.type = GGUF_TYPE_ARRAY};
        e.v.arr.elem_type = t;
        SET(empty_keys[t], e);
    }
    assert_true(n_keys <= 64);

    /* Deep copy: scribbling over the caller's buffers afterwards changes nothing. */
    uint8_t saved[11][40];
    memcpy(saved, raws, sizeof raws);
    memset(raws, 0xAB, sizeof raws);
    i123[0] = 99;

    uint8_t *data[N_TENSORS];
    for (size_t i = 0; i < N_TENSORS; i++) {
        const struct tensor_spec *t = &TENSORS[i];
        uint64_t size = spec_size(t);
        data[i] = malloc(size + 1);
        for (uint64_t b = 0; b < size; b++) data[i][b] = (uint8_t)(b * 31 + i * 17 + 1);
        int rc = gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, data[i], size, &err);
        if (rc) print_error("%s: %s\n", t->name, err.msg);
        assert_int_equal(rc, KUMO_OK);
    }

    snprintf(key, sizeof key, "round-trip-%u.gguf", alignment);
    const char *path = tmp_path(key);
    int rc = gguf_writer_write(w, path, &err);
    if (rc) print_error("%s\n", err.msg);
    assert_int_equal(rc, KUMO_OK);
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_false(exists(tmp));
    gguf_writer_free(w);
    memcpy(raws, saved, sizeof raws);
    i123[0] = 1;

    gguf_ctx *g = gguf_open(path, &err);
    if (!g) print_error("%s\n", err.msg);
    assert_non_null(g);
    assert_int_equal(gguf_version(g), 3);
    assert_int_equal(gguf_alignment(g), alignment);
    assert_int_equal(gguf_kv_count(g), n_keys);
    for (int k = 0; k < n_keys; k++) {
        assert_string_equal(gguf_kv_key(g, k), keys[k]); /* insertion order */
        if (!values_equal(gguf_kv_value(g, k), &expect[k])) print_error("key %s differs\n", keys[k]);
        assert_true(values_equal(gguf_kv_value(g, k), &expect[k]));
    }
    for (int k = 0; k < 11; k++) {
        const gguf_value *a = gguf_get_arr(g, arr_keys[k]);
        for (int j = 0; j < 5; j++) {
            assert_true(gguf_arr_f64(a, (uint64_t)j) == expected_numeric(NUMERIC[k], j));
            assert_int_equal(gguf_arr_i64(a, (uint64_t)j), (int64_t)expected_numeric(NUMERIC[k], j));
        }
    }
    const gguf_value *n3 = gguf_get_arr(g, "arr.nested3");
    assert_int_equal(gguf_arr_i64(&n3->v.arr.items[0].v.arr.items[0], 2), 3);
    assert_int_equal(gguf_arr_i64(&n3->v.arr.items[1].v.arr.items[0], 0), 4);

    /* Tensors: same shapes and bytes, offsets aligned, gaps zero. */
    size_t len;
    uint8_t *file = (uint8_t *)read_file(path, &len);
    assert_non_null(file);
    assert_int_equal(gguf_tensor_count(g), N_TENSORS);
    uint64_t data_off = gguf_data_offset(g), covered_to = 0;
    assert_int_equal(data_off % alignment, 0);
    for (size_t i = 0; i < N_TENSORS; i++) {
        const struct tensor_spec *s = &TENSORS[i];
        const gguf_tensor *t = gguf_tensor_at(g, (int64_t)i);
        assert_string_equal(t->name, s->name);
        assert_ptr_equal(gguf_find_tensor(g, s->name), t);
        assert_int_equal(t->type, s->type);
        assert_int_equal(t->n_dims, s->n_dims);
        for (int d = 0; d < 4; d++) assert_int_equal(t->ne[d], s->ne[d]);
        assert_int_equal(t->size, spec_size(s));
        assert_int_equal(t->offset % alignment, 0);
        if (t->size) assert_memory_equal(t->data, data[i], t->size);
        for (uint64_t b = covered_to; b < t->offset; b++) assert_int_equal(file[data_off + b], 0);
        covered_to = t->offset + t->size;
        free(data[i]);
    }
    for (uint64_t b = data_off + covered_to; b < len; b++) assert_int_equal(file[b], 0);
    assert_int_equal(len % alignment, 0);
    free(file);
    gguf_close(g);
#undef SET
}

static void test_round_trip_default_alignment(void **state) {
    (void)state;
    round_trip(GGUF_DEFAULT_ALIGNMENT);
}

static void test_round_trip_alignment_64(void **state) {
    (void)state;
    round_trip(64);
}

static void test_key_order_replace_remove(void **state) {
    (void)state;
    gguf_writer *w = gguf_writer_new();
    assert_int_equal(gguf_writer_set_str(w, "a", "first"), KUMO_OK);
    assert_int_equal(gguf_writer_set_u32(w, "b", 1), KUMO_OK);
    assert_int_equal(gguf_writer_set_i32(w, "c", -2), KUMO_OK);
    assert_int_equal(gguf_writer_set_f32(w, "d", 0.5f), KUMO_OK);
    assert_int_equal(gguf_writer_set_bool(w, "e", true), KUMO_OK);
    assert_int_equal(gguf_writer_set_str(w, "b", "replaced"), KUMO_OK); /* keeps position 1 */
    assert_int_equal(gguf_writer_remove(w, "c"), KUMO_OK);
    assert_int_equal(gguf_writer_remove(w, "c"), KUMO_E_INVALID);
    assert_int_equal(gguf_writer_set_str(w, "f", NULL), KUMO_E_INVALID);
    const char *path = tmp_path("order.gguf");
    kumo_error err = {0};
    assert_int_equal(gguf_writer_write(w, path, &err), KUMO_OK);
    gguf_writer_free(w);

    gguf_ctx *g = gguf_open(path, &err);
    assert_non_null(g);
    assert_int_equal(gguf_kv_count(g), 4);
    assert_string_equal(gguf_kv_key(g, 0), "a");
    assert_string_equal(gguf_kv_key(g, 1), "b");
    assert_string_equal(gguf_kv_key(g, 2), "d");
    assert_string_equal(gguf_kv_key(g, 3), "e");
    gguf_str s;
    assert_true(gguf_get_str(g, "b", &s, &err));
    assert_int_equal(s.len, 8);
    assert_memory_equal(s.data, "replaced", 8);
    float f;
    assert_true(gguf_get_f32(g, "d", &f, &err));
    assert_true(f == 0.5f);
    assert_int_equal(gguf_tensor_count(g), 0);
    assert_int_equal(gguf_find_key(g, "c"), -1);
    gguf_close(g);
}

static void test_invalid_arguments(void **state) {
    (void)state;
    gguf_writer *w = gguf_writer_new();
    kumo_error err = {0};
    gguf_value v = scalar_u(GGUF_TYPE_UINT32, 3);
    assert_int_equal(gguf_writer_set(w, "general.alignment", &v, &err), KUMO_E_INVALID);
    assert_non_null(strstr(err.msg, "general.alignment"));
    v = scalar_u(GGUF_TYPE_UINT32, 0);
    assert_int_equal(gguf_writer_set(w, "general.alignment", &v, &err), KUMO_E_INVALID);
    v = scalar_u(GGUF_TYPE_UINT64, 32);
    assert_int_equal(gguf_writer_set(w, "general.alignment", &v, &err), KUMO_E_INVALID);
    v = scalar_u(GGUF_TYPE_UINT8, 300);
    assert_int_equal(gguf_writer_set(w, "x", &v, &err), KUMO_E_INVALID);
    assert_non_null(strstr(err.msg, "out of range for uint8"));
    v = scalar_i(GGUF_TYPE_INT16, 40000);
    assert_int_equal(gguf_writer_set(w, "x", &v, &err), KUMO_E_INVALID);
    v = scalar_u(13, 0);
    assert_int_equal(gguf_writer_set(w, "x", &v, &err), KUMO_E_INVALID);
    v = scalar_u(GGUF_TYPE_UINT8, 1);
    assert_int_equal(gguf_writer_set(w, "", &v, &err), KUMO_E_INVALID);
    v = array_raw(20, 1, "x");
    assert_int_equal(gguf_writer_set(w, "x", &v, &err), KUMO_E_INVALID);
    v = array_raw(GGUF_TYPE_BOOL, 2, "\x01\x02");
    assert_int_equal(gguf_writer_set(w, "x", &v, &err), KUMO_E_INVALID);
    v = array_raw(GGUF_TYPE_INT32, 2, NULL);
    assert_int_equal(gguf_writer_set(w, "x", &v, &err), KUMO_E_INVALID);
    gguf_value not_arrays[2] = {array_raw(GGUF_TYPE_INT32, 0, NULL), scalar_u(GGUF_TYPE_UINT8, 1)};
    v = array_items(2, not_arrays);
    assert_int_equal(gguf_writer_set(w, "x", &v, &err), KUMO_E_INVALID);
    assert_non_null(strstr(err.msg, "item 1"));
    /* Too deep: GGUF_MAX_ARRAY_DEPTH + 1 levels. */
    gguf_value chain[GGUF_MAX_ARRAY_DEPTH + 1];
    chain[0] = array_raw(GGUF_TYPE_INT32, 0, NULL);
    for (int k = 1; k <= GGUF_MAX_ARRAY_DEPTH; k++) chain[k] = array_items(1, &chain[k - 1]);
    assert_int_equal(gguf_writer_set(w, "deep", &chain[GGUF_MAX_ARRAY_DEPTH], &err), KUMO_E_INVALID);
    assert_int_equal(gguf_writer_set(w, "deep", &chain[GGUF_MAX_ARRAY_DEPTH - 1], &err), KUMO_OK);

    int64_t ne[4] = {32, 2, 1, 1};
    uint8_t buf[256] = {0};
    assert_int_equal(gguf_writer_add_tensor(w, "t", GGML_TYPE_Q8_0, 2, ne, buf, 68, &err), KUMO_OK);
    assert_int_equal(gguf_writer_add_tensor(w, "t", GGML_TYPE_Q8_0, 2, ne, buf, 68, &err),
                     KUMO_E_INVALID);
    assert_non_null(strstr(err.msg, "duplicate"));
    assert_int_equal(gguf_writer_add_tensor(w, "u", GGML_TYPE_Q8_0, 2, ne, buf, 64, &err),
                     KUMO_E_INVALID);
    assert_non_null(strstr(err.msg, "expected 68"));
    assert_int_equal(gguf_writer_add_tensor(w, "u", 4, 2, ne, buf, 68, &err), KUMO_E_INVALID);
    assert_int_equal(gguf_writer_add_tensor(w, "u", GGML_TYPE_F32, 0, ne, buf, 4, &err),
                     KUMO_E_INVALID);
    assert_int_equal(gguf_writer_add_tensor(w, "u", GGML_TYPE_F32, 5, ne, buf, 4, &err),
                     KUMO_E_INVALID);
    int64_t odd[1] = {33};
    assert_int_equal(gguf_writer_add_tensor(w, "u", GGML_TYPE_Q4_0, 1, odd, buf, 18, &err),
                     KUMO_E_INVALID);
    int64_t neg[2] = {4, -1};
    assert_int_equal(gguf_writer_add_tensor(w, "u", GGML_TYPE_F32, 2, neg, buf, 16, &err),
                     KUMO_E_INVALID);
    char long_name[GGUF_MAX_NAME + 1];
    memset(long_name, 'x', GGUF_MAX_NAME);
    long_name[GGUF_MAX_NAME] = 0;
    assert_int_equal(gguf_writer_add_tensor(w, long_name, GGML_TYPE_F32, 1, ne, buf, 128, &err),
                     KUMO_E_INVALID);
    assert_int_equal(gguf_writer_add_tensor(w, "nodata", GGML_TYPE_F32, 1, ne, NULL, 128, &err),
                     KUMO_E_INVALID);
    /* The writer still writes what was accepted. */
    const char *path = tmp_path("after-errors.gguf");
    assert_int_equal(gguf_writer_write(w, path, &err), KUMO_OK);
    gguf_writer_free(w);
    gguf_ctx *g = gguf_open(path, &err);
    assert_non_null(g);
    assert_int_equal(gguf_kv_count(g), 1);
    assert_int_equal(gguf_tensor_count(g), 1);
    gguf_close(g);
}

static void test_write_failures(void **state) {
    (void)state;
    gguf_writer *w = gguf_writer_new();
    assert_int_equal(gguf_writer_set_u32(w, "k", 1), KUMO_OK);
    kumo_error err = {0};
    assert_int_equal(gguf_writer_write(w, "/nonexistent-dir/x.gguf", &err), KUMO_E_IO);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/x.gguf.tmp"));
    /* Renaming over a directory fails after the data was written: the tmp file must go. */
    const char *dir = tmp_path("a-directory");
    assert_int_equal(mkdir(dir, 0755), 0);
    err.code = 0;
    assert_int_equal(gguf_writer_write(w, dir, &err), KUMO_E_IO);
    assert_non_null(strstr(err.msg, "rename"));
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", dir);
    assert_false(exists(tmp));
    gguf_writer_free(w);
}

/* Reader + writer reproduce files written by the reference tools byte for byte. */
static void rewrite_identical(const char *src) {
    kumo_error err = {0};
    gguf_ctx *g = gguf_open(src, &err);
    assert_non_null(g);
    gguf_writer *w = gguf_writer_new();
    for (int64_t i = 0; i < gguf_kv_count(g); i++) {
        int rc = gguf_writer_set(w, gguf_kv_key(g, i), gguf_kv_value(g, i), &err);
        if (rc) print_error("%s: %s\n", gguf_kv_key(g, i), err.msg);
        assert_int_equal(rc, KUMO_OK);
    }
    for (int64_t i = 0; i < gguf_tensor_count(g); i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        int rc = gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->size, &err);
        if (rc) print_error("%s: %s\n", t->name, err.msg);
        assert_int_equal(rc, KUMO_OK);
    }
    const char *dst = tmp_path("rewritten.gguf");
    assert_int_equal(gguf_writer_write(w, dst, &err), KUMO_OK);
    gguf_writer_free(w);
    gguf_close(g);
    size_t n_src, n_dst;
    char *a = read_file(src, &n_src), *b = read_file(dst, &n_dst);
    assert_non_null(a);
    assert_non_null(b);
    if (n_src != n_dst) print_error("%s: %zu bytes, rewritten %zu\n", src, n_src, n_dst);
    assert_int_equal(n_src, n_dst);
    size_t first_diff = 0;
    while (first_diff < n_src && a[first_diff] == b[first_diff]) first_diff++;
    if (first_diff != n_src) print_error("%s: first difference at byte %zu\n", src, first_diff);
    assert_int_equal(first_diff, n_src);
    free(a);
    free(b);
    unlink(dst);
}

static void test_rewrite_reference_files(void **state) {
    (void)state;
    rewrite_identical(shared_path("models/stories260K.gguf"));
    rewrite_identical(shared_path("models/tiny-qwen3moe-q4_k_m.gguf"));
    rewrite_identical(shared_path("models/tiny-deepseek2-q4_k_m.gguf"));
    rewrite_identical(shared_path("vocab/ggml-vocab-llama-spm.gguf"));
    rewrite_identical(shared_path("vocab/ggml-vocab-qwen3.gguf"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_default_alignment),
        cmocka_unit_test(test_round_trip_alignment_64),
        cmocka_unit_test(test_key_order_replace_remove),
        cmocka_unit_test(test_invalid_arguments),
        cmocka_unit_test(test_write_failures),
        cmocka_unit_test(test_rewrite_reference_files),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
