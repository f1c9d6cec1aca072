/* The read probe (tensor/bandwidth.h) that kumo bench's roofline is measured with: every read covers
 * exactly the slice it is asked for, continuing where the last one stopped and going round the
 * buffer's end, split over 1, 2 or 3 threads. What was read is checked by its XOR against one
 * computed here word by word: a missed, doubled or misplaced line changes it (the buffer holds
 * random words, so no two lines are alike). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "tensor/bandwidth.h"
#include "util/splitmix.h"

#define LINE 128

/* XOR of the words of lines [start, start + n) taken round a buffer of `lines` lines */
static uint64_t xor_lines(const uint8_t *buf, size_t lines, size_t start, size_t n) {
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = buf + ((start + i) % lines) * LINE;
        for (int w = 0; w < LINE / 8; w++) {
            uint64_t v;
            memcpy(&v, p + 8 * w, 8);
            x ^= v;
        }
    }
    return x;
}

static void reads_cover_the_slice_round_the_buffer(void **state) {
    (void)state;
    /* an odd line count, so no slice below lines up with the end by accident */
    read_probe *p = read_probe_new(8195 * LINE + 100);
    assert_non_null(p);
    size_t bytes = 0;
    uint8_t *buf = read_probe_buffer(p, &bytes);
    assert_int_equal(bytes, 8195 * LINE);
    const size_t lines = bytes / LINE;
    uint64_t seed = 42;
    for (size_t i = 0; i < bytes; i += 8) {
        uint64_t v = splitmix64(&seed);
        memcpy(buf + i, &v, 8);
    }
    /* slices in lines, and the extra bytes below a line that a request may carry (ignored) */
    const size_t slices[] = {1000, 7000, 1, 3 * 8195 + 17, 8195, 2, 4099};
    const int n_threads[] = {1, 2, 3};
    size_t next = 0;
    for (int t = 0; t < 3; t++) {
        thread_pool *pool = thread_pool_new(n_threads[t]);
        assert_non_null(pool);
        for (size_t s = 0; s < sizeof slices / sizeof slices[0]; s++) {
            uint64_t got = 0;
            const double sec = read_probe_read(p, pool, slices[s] * LINE + (s % 2 ? 64 : 0), &got);
            assert_true(sec >= 0.0);
            assert_true(got == xor_lines(buf, lines, next, slices[s]));
            next = (next + slices[s]) % lines;
        }
        thread_pool_free(pool);
    }
    read_probe_free(p);
}

/* less than a line still makes a one-line buffer, and nothing is read from a zero-byte request */
static void tiny_sizes(void **state) {
    (void)state;
    read_probe *p = read_probe_new(10);
    assert_non_null(p);
    size_t bytes = 0;
    uint8_t *buf = read_probe_buffer(p, &bytes);
    assert_int_equal(bytes, LINE);
    memset(buf, 0, bytes);
    buf[5] = 0x5a;
    thread_pool *pool = thread_pool_new(2);
    assert_non_null(pool);
    uint64_t got = 1;
    read_probe_read(p, pool, 0, &got);
    assert_true(got == 0);
    read_probe_read(p, pool, LINE, &got);
    assert_true(got == (uint64_t)0x5a << 40);
    read_probe_read(p, pool, 3 * LINE, &got); /* the same line three times */
    assert_true(got == (uint64_t)0x5a << 40);
    thread_pool_free(pool);
    read_probe_free(p);
    read_probe_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_cover_the_slice_round_the_buffer),
        cmocka_unit_test(tiny_sizes),
    };
    return cmocka_run_group_tests_name("bandwidth", tests, NULL, NULL);
}
