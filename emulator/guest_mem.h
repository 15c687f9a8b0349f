/* Checked access to guest memory.  A guest virtual address is the host
 * address of the guest's direct map (base + physical), so translation is a
 * range check; every address and length a guest hands over goes through
 * these before use. */
#ifndef XS_GUEST_MEM_H
#define XS_GUEST_MEM_H
#include <string.h>
#include <xen/errno.h>
#include "gnttab.h"
#include "sim.h"

/* Host pointer for guest physical [gpa, gpa+len), or NULL if not all RAM. */
static inline void *xs_gpa_ptr(struct xs_domain *d, uint64_t gpa, uint64_t len)
{
    if (gpa > d->ram_bytes || len > d->ram_bytes - gpa) return NULL;
    return d->base + gpa;
}

static inline void *xs_gva_ptr(struct xs_domain *d, uint64_t gva, uint64_t len)
{
    uint64_t b = (uint64_t)(uintptr_t)d->base;
    if (gva < b) return NULL;
    return xs_gpa_ptr(d, gva - b, len);
}

static inline bool xs_gva_is_ram(struct xs_domain *d, uint64_t gva)
{
    return xs_gva_ptr(d, gva, 1) != NULL;
}

/* Guest pointer as recorded in traces: guest physical when it is one. */
static inline uint64_t xs_gva_for_trace(struct xs_domain *d, uint64_t gva)
{
    return xs_gva_is_ram(d, gva) ? gva - (uint64_t)(uintptr_t)d->base : gva;
}

static inline int xs_copy_from_guest(struct xs_domain *d, void *dst, uint64_t gva,
                                     size_t len)
{
    void *p = xs_gva_ptr(d, gva, len);
    if (!p) return -XEN_EFAULT;
    memcpy(dst, p, len);
    return 0;
}

static inline int xs_copy_to_guest(struct xs_domain *d, uint64_t gva, const void *src,
                                   size_t len)
{
    void *p = xs_gva_ptr(d, gva, len);
    if (!p) return -XEN_EFAULT;
    uint64_t gpa = (uint64_t)((uint8_t *)p - d->base);
    /* Xen discards writes to pages mapped read-only from a grant. */
    if (xs_gnttab_gpa_readonly(d, gpa, len))
        xs_gnttab_write_discarding(d, gpa, src, len);
    else
        memcpy(p, src, len);
    return 0;
}
#endif
