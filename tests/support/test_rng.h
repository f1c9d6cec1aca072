/* The tests' seeded pseudo-random numbers (xorshift64): reproducible inputs, one state per test. */
#ifndef KUMO_TEST_RNG_H
#define KUMO_TEST_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s; /* non-zero */
} rng_t;

static inline uint64_t rng_next(rng_t *r) {
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return r->s;
}

/* uniform in [lo, hi) with 24 random bits */
static inline float rng_uniform(rng_t *r, float lo, float hi) {
    return lo + (hi - lo) * (float)((rng_next(r) >> 40) * 0x1p-24);
}

#endif
