/* A STREAM-style read of main memory, the roofline generation is measured against. kumo bench
 * --bandwidth times whole passes over a buffer; kumo bench --roofline reads one slice of it after
 * each generated token, on the context's own threads, so that the decode and the plain read are
 * timed in the same seconds. */
#ifndef KUMO_TENSOR_BANDWIDTH_H
#define KUMO_TENSOR_BANDWIDTH_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/threadpool.h"

typedef struct read_probe read_probe;

/* A buffer of `bytes` (rounded down to 128, at least 128) from the packed weights' allocator, every
 * page faulted in. NULL when out of memory. */
read_probe *read_probe_new(size_t bytes);
void read_probe_free(read_probe *p);

/* The buffer, for tests that fill it; *bytes is its usable size. */
uint8_t *read_probe_buffer(read_probe *p, size_t *bytes);

/* Reads the next `bytes` (rounded down to 128) of the buffer on the pool's threads, going round to
 * its start at the end, and returns the seconds it took. *xor_out (may be NULL) gets the XOR of the
 * 64-bit words read, so the work cannot be optimised away and tests can check what was read. */
double read_probe_read(read_probe *p, thread_pool *pool, size_t bytes, uint64_t *xor_out);

#endif
