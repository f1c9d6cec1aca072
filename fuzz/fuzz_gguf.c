/* libFuzzer target for the GGUF reader: parse, then touch everything the reader handed out, so
 * ASan sees any pointer that escaped the buffer and UBSan any bad arithmetic. The heap the context
 * keeps must stay a small multiple of the input size. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"

/* Sums bytes so the reads cannot be optimized away. */
static volatile uint64_t sink;

static void walk_value(const gguf_value *v) {
    if (v->type == GGUF_TYPE_STRING) {
        if (v->v.str.len) sink += (uint8_t)v->v.str.data[0] + (uint8_t)v->v.str.data[v->v.str.len - 1];
        return;
    }
    if (v->type != GGUF_TYPE_ARRAY) {
        sink += v->v.u;
        return;
    }
    for (uint64_t j = 0; j < v->v.arr.n; j++) {
        switch (v->v.arr.elem_type) {
        case GGUF_TYPE_STRING: {
            const gguf_str *s = &v->v.arr.strs[j];
            if (s->len) sink += (uint8_t)s->data[0] + (uint8_t)s->data[s->len - 1];
            break;
        }
        case GGUF_TYPE_ARRAY:
            if (v->v.arr.items[j].type != GGUF_TYPE_ARRAY) abort();
            walk_value(&v->v.arr.items[j]);
            break;
        default:
            sink += (uint64_t)gguf_arr_i64(v, j);
            sink += (uint64_t)(gguf_arr_f64(v, j) != 0);
            break;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    kumo_error err = {0};
    gguf_ctx *g = gguf_open_memory(data, size, &err);
    if (!g) {
        if (err.code != KUMO_E_FORMAT || strncmp(err.msg, "gguf: ", 6) != 0) {
            fprintf(stderr, "unexpected error %d: %s\n", err.code, err.msg);
            abort();
        }
        return 0;
    }
    if (gguf_heap_bytes(g) > 8 * (size_t)size + 256 * 1024) {
        fprintf(stderr, "heap %zu bytes for a %zu-byte input\n", gguf_heap_bytes(g), size);
        abort();
    }
    for (int64_t i = 0; i < gguf_kv_count(g); i++) {
        const char *key = gguf_kv_key(g, i);
        if (gguf_find_key(g, key) != i) abort();
        walk_value(gguf_kv_value(g, i));
        uint32_t u;
        int64_t i64;
        float f;
        bool b;
        gguf_str s;
        (void)gguf_get_u32(g, key, &u, &err);
        (void)gguf_get_i64(g, key, &i64, &err);
        (void)gguf_get_f32(g, key, &f, &err);
        (void)gguf_get_bool(g, key, &b, &err);
        (void)gguf_get_str(g, key, &s, &err);
    }
    const uint8_t *end = data + size;
    for (int64_t i = 0; i < gguf_tensor_count(g); i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        if (gguf_find_tensor(g, t->name) != t) abort();
        const uint8_t *p = t->data;
        if (p < data || p > end || t->size > (uint64_t)(end - p)) abort();
        if (t->size) sink += p[0] + p[t->size - 1];
    }
    gguf_close(g);
    return 0;
}
