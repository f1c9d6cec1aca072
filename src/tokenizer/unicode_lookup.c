/* Lookups into the generated Unicode tables (binary search over sorted ranges). */
#include "tokenizer/unicode_tables.h"

uint32_t unicode_nfd_base(uint32_t cp) {
    size_t lo = 0, hi = UNICODE_N_NFD_RANGES;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const unicode_nfd_range *r = &UNICODE_NFD_RANGES[mid];
        if (cp < r->first) hi = mid;
        else if (cp > r->last) lo = mid + 1;
        else return r->base;
    }
    return cp;
}

uint32_t unicode_to_lower(uint32_t cp) {
    size_t lo = 0, hi = UNICODE_N_LOWER_RUNS;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const unicode_case_run *r = &UNICODE_LOWER_RUNS[mid];
        if (cp < r->first) hi = mid;
        else if (cp > r->last) lo = mid + 1;
        else return (cp - r->first) % r->stride == 0 ? (uint32_t)((int32_t)cp + r->delta) : cp;
    }
    return cp;
}
