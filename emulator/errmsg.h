/* One-line error messages for callers that pass an (err, errlen) buffer. */
#ifndef XS_ERRMSG_H
#define XS_ERRMSG_H
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* Write "PREFIX: message" into err (if any) and return -1. */
__attribute__((format(printf, 4, 5))) static inline int
xs_errf(char *err, size_t errlen, const char *prefix, const char *fmt, ...)
{
    if (err && errlen) {
        int n = snprintf(err, errlen, "%s: ", prefix);
        if (n >= 0 && (size_t)n < errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}
#endif
