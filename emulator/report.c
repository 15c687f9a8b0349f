/* Sanitizer reports: things xensim found wrong with what a domain did that
 * are not fatal to it (grant leaks, ring protocol violations).  Each report
 * goes to the log at once and is kept per domain, so a scenario can expect
 * it (`expect D report "..."`) and a run with an unexpected one fails. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

/* A report storm must not eat memory: keep the first ones, count the rest. */
#define XS_REPORTS_MAX (256u * 1024u)

void xs_report(struct xs_domain *d, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0) return;
    size_t len = strnlen(line, sizeof(line));
    /* One report is one line. */
    for (size_t i = 0; i < len; i++)
        if (line[i] == '\n') line[i] = ' ';
    xs_log(d->sim, "%s", line);
    d->nr_reports++;
    if (d->reports_len + len + 1 > XS_REPORTS_MAX) {
        d->reports_dropped++;
        return;
    }
    if (d->reports_len + len + 2 > d->reports_cap) {
        size_t cap = d->reports_cap ? d->reports_cap : 1024;
        while (cap < d->reports_len + len + 2)
            cap *= 2;
        char *p = realloc(d->reports, cap);
        if (!p) {
            d->reports_dropped++;
            return;
        }
        d->reports = p;
        d->reports_cap = cap;
    }
    memcpy(d->reports + d->reports_len, line, len);
    d->reports_len += len;
    d->reports[d->reports_len++] = '\n';
    d->reports[d->reports_len] = '\0';
}
