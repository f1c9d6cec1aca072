#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int kumo_err(kumo_error *err, int code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void kumo_err_prefix(kumo_error *err, const char *fmt, ...) {
    if (!err) return;
    char prefix[256], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    /* The old message is appended by hand: gcc's -Wformat-truncation rejects any snprintf of it
     * into a buffer of its own size, and cutting its tail is what we want anyway. */
    int n = snprintf(err->msg, sizeof err->msg, "%s: ", prefix);
    if (n < 0 || (size_t)n >= sizeof err->msg) return;
    size_t len = strnlen(old, sizeof old - 1), room = sizeof err->msg - (size_t)n - 1;
    if (len > room) len = room;
    memcpy(err->msg + n, old, len);
    err->msg[(size_t)n + len] = 0;
}
