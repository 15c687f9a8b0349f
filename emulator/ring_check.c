/* The ring sanitizer (ring_check.h). */
#include <stdarg.h>
#include <stdio.h>

#include "ring_check.h"
#include "sim.h"

void xs_ring_check_init(struct xs_ring_check *rc, struct xs_domain *dom, RING_IDX size,
                        RING_IDX prod, const char *fmt, ...)
{
    memset(rc, 0, sizeof(*rc));
    rc->dom = dom;
    rc->size = size;
    rc->last_prod = prod;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rc->who, sizeof(rc->who), fmt, ap);
    va_end(ap);
}

bool xs_ring_check_prod(struct xs_ring_check *rc, RING_IDX prod, RING_IDX cons)
{
    if (rc->broken) return false;
    /* Free-running 32-bit indexes: "backwards" is a negative distance. */
    if ((int32_t)(prod - rc->last_prod) < 0) {
        xs_report(rc->dom,
                  "xensim: %s: request producer moved backwards from %u to %u; ring no "
                  "longer serviced",
                  rc->who, rc->last_prod, prod);
        rc->broken = true;
        return false;
    }
    if (prod - cons > rc->size) {
        xs_report(rc->dom,
                  "xensim: %s: request producer %u is %u requests ahead of consumer %u "
                  "(ring size %u); ring no longer serviced",
                  rc->who, prod, prod - cons, cons, rc->size);
        rc->broken = true;
        return false;
    }
    rc->last_prod = prod;
    return true;
}
