/* The ring sanitizer every backend shares (docs/devices.md): checks the
 * indexes a frontend controls on a <xen/io/ring.h> ring before any slot is
 * read.  A producer that moves backwards or runs more than the ring's size
 * ahead of the consumer is reported about the frontend's domain, naming
 * the device, the ring and the indexes, and the ring is marked broken: the
 * backend stops servicing it (the device is broken, not xensim). */
#ifndef XS_RING_CHECK_H
#define XS_RING_CHECK_H
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* <xen/io/ring.h> wants the includer's barriers.  xensim and the guest
 * share one host CPU's memory model, but the compiler must not reorder. */
#ifndef xen_mb
#define xen_mb()  __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define xen_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define xen_wmb() __atomic_thread_fence(__ATOMIC_RELEASE)
#endif
#include <xen/xen.h>
#include <xen/grant_table.h>
#include <xen/io/ring.h>

struct xs_domain;

struct xs_ring_check {
    struct xs_domain *dom; /* the frontend: reports are about it */
    char who[112];         /* "blkback: d1 (g) vbd 51712 ring 0" */
    RING_IDX size;         /* entries */
    RING_IDX last_prod;    /* the request producer last seen */
    bool broken;
};

/* who: printf-style name of the ring for reports. */
void xs_ring_check_init(struct xs_ring_check *rc, struct xs_domain *dom, RING_IDX size,
                        RING_IDX prod, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* prod: the request producer just read (once) from the shared page; cons:
 * the backend's private consumer.  True when the requests [cons, prod) may
 * be read; false (reported once, ring broken) otherwise. */
bool xs_ring_check_prod(struct xs_ring_check *rc, RING_IDX prod, RING_IDX cons);
#endif
