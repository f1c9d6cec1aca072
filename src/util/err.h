/* Filling a kumo_error: one formatted line, safe with a NULL error pointer. */
#ifndef KUMO_UTIL_ERR_H
#define KUMO_UTIL_ERR_H
#include "kumo.h"

#if defined(__GNUC__)
#define KUMO_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define KUMO_PRINTF(a, b)
#endif

/* Sets err->code and err->msg (truncated to fit). Returns code, so `return kumo_err(e, ...)` works. */
int kumo_err(kumo_error *err, int code, const char *fmt, ...) KUMO_PRINTF(3, 4);
/* Prefixes an existing message: "prefix: old message". */
void kumo_err_prefix(kumo_error *err, const char *fmt, ...) KUMO_PRINTF(2, 3);

#endif
