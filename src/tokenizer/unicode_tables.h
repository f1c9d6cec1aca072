/* Unicode mappings PCRE2 does not provide (generated: scripts/gen-unicode-tables). Used by the
 * WordPiece normaliser only. */
#ifndef KUMO_TOKENIZER_UNICODE_TABLES_H
#define KUMO_TOKENIZER_UNICODE_TABLES_H

#include <stddef.h>
#include <stdint.h>

typedef struct unicode_nfd_range {
    uint32_t first, last, base; /* every code point in [first, last] decomposes to base + marks */
} unicode_nfd_range;

typedef struct unicode_case_run {
    uint32_t first, last; /* code points first, first + stride, ..., last */
    int32_t delta;        /* lowercase = code point + delta */
    uint32_t stride;
} unicode_case_run;

extern const unicode_nfd_range UNICODE_NFD_RANGES[];
extern const size_t UNICODE_N_NFD_RANGES;
extern const unicode_case_run UNICODE_LOWER_RUNS[];
extern const size_t UNICODE_N_LOWER_RUNS;

/* First code point of cp's canonical decomposition (cp itself if it has none). */
uint32_t unicode_nfd_base(uint32_t cp);
/* Simple lowercase mapping (cp itself if it has none). */
uint32_t unicode_to_lower(uint32_t cp);

#endif
