/* memory_op: the memory map, shared_info placement, reservation queries. */
#include <stdint.h>
#include <sys/mman.h>
#include <xen/memory.h>
#include <xensim/e820.h>

#include "gnttab.h"
#include "guest_mem.h"
#include "hypercall.h"

/* Xen keeps a continuation's start extent above the low 6 bits of cmd; the
 * public headers do not name the mask. */
#define XS_MEMOP_CMD_MASK 0x3f

typedef long (*memory_fn)(struct xs_vcpu *v, uint64_t arg);

/* Sub-ops that take no continuation refuse a start extent, as Xen does. */
#define XS_MEMOP_EXTENT_SHIFT 6

/* Only the domain itself: Xen's XSM default lets a DomU name no other. */
static long self_domain(struct xs_vcpu *v, domid_t domid)
{
    if (domid == DOMID_SELF || domid == v->dom->domid) return 0;
    for (unsigned i = 0; i < v->dom->sim->nr_domains; i++)
        if (v->dom->sim->domains[i]->domid == domid) return -XEN_EPERM;
    return -XEN_ESRCH;
}

static long mem_memory_map(struct xs_vcpu *v, uint64_t arg)
{
    struct xs_domain *d = v->dom;
    struct xen_memory_map map;
    if (xs_copy_from_guest(d, &map, arg, sizeof(map))) return -XEN_EFAULT;
    unsigned n = map.nr_entries < d->nr_memmap ? map.nr_entries : d->nr_memmap;
    uint64_t buf = (uint64_t)(uintptr_t)map.buffer.p;
    if (n && !xs_gva_ptr(d, buf, (uint64_t)n * sizeof(struct e820_entry)))
        return -XEN_EFAULT;
    for (unsigned i = 0; i < n; i++) {
        struct e820_entry e = {d->memmap[i].addr, d->memmap[i].size, d->memmap[i].type};
        xs_copy_to_guest(d, buf + i * sizeof(e), &e, sizeof(e));
    }
    map.nr_entries = n;
    return xs_copy_to_guest(d, arg, &map, sizeof(map));
}

/* Point guest frame gpfn at memfd page `offset` (RAM or a special page). */
static int map_frame(struct xs_domain *d, uint64_t gpfn, uint64_t offset)
{
    void *at = d->base + gpfn * XS_PAGE_SIZE;
    return mmap(at, XS_PAGE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
                MAP_SHARED | MAP_FIXED, d->memfd, (off_t)offset) == at
               ? 0
               : -1;
}

static long mem_add_to_physmap(struct xs_vcpu *v, uint64_t arg)
{
    struct xs_domain *d = v->dom;
    struct xen_add_to_physmap x;
    if (xs_copy_from_guest(d, &x, arg, sizeof(x))) return -XEN_EFAULT;
    /* Foreign mappings go through add_to_physmap_batch only (Xen). */
    if (x.space == XENMAPSPACE_gmfn_foreign) return -XEN_ENOSYS;
    long rc = self_domain(v, x.domid);
    if (rc) return rc;
    if (x.space == XENMAPSPACE_grant_table)
        return xs_gnttab_add_to_physmap(d, x.idx, x.gpfn);
    if (x.space != XENMAPSPACE_shared_info) return -XEN_EINVAL;
    if (x.idx != 0) return -XEN_EINVAL;
    /* xensim keeps every guest frame inside the RAM window. */
    if (x.gpfn >= d->ram_bytes / XS_PAGE_SIZE) return -XEN_EINVAL;
    if (d->shared_info_gpfn == x.gpfn) return 0;
    rc = xs_gnttab_physmap_claim(d, x.gpfn); /* a grant frame there loses its place */
    if (rc) return rc;
    /* The frame now shows shared_info; a previous location gets its RAM
     * page back. */
    if (map_frame(d, x.gpfn, d->ram_bytes)) return -XEN_ENOMEM;
    if (d->shared_info_gpfn != XS_NO_GPA)
        map_frame(d, d->shared_info_gpfn, d->shared_info_gpfn * XS_PAGE_SIZE);
    d->shared_info_gpfn = x.gpfn;
    return 0;
}

static long mem_maximum_ram_page(struct xs_vcpu *v, uint64_t arg)
{
    (void)arg;
    return (long)(v->dom->ram_bytes / XS_PAGE_SIZE);
}

static long reservation(struct xs_vcpu *v, uint64_t arg, bool gpfn)
{
    domid_t domid;
    if (xs_copy_from_guest(v->dom, &domid, arg, sizeof(domid))) return -XEN_EFAULT;
    long rc = self_domain(v, domid);
    if (rc) return rc;
    uint64_t pages = v->dom->ram_bytes / XS_PAGE_SIZE;
    return (long)(gpfn ? pages - 1 : pages);
}

static long mem_current_reservation(struct xs_vcpu *v, uint64_t arg)
{
    return reservation(v, arg, false);
}

static long mem_maximum_gpfn(struct xs_vcpu *v, uint64_t arg)
{
    return reservation(v, arg, true);
}

static const memory_fn ops[] = {
    [XENMEM_memory_map] = mem_memory_map,
    [XENMEM_add_to_physmap] = mem_add_to_physmap,
    [XENMEM_maximum_ram_page] = mem_maximum_ram_page,
    [XENMEM_current_reservation] = mem_current_reservation,
    [XENMEM_maximum_reservation] = mem_current_reservation,
    [XENMEM_maximum_gpfn] = mem_maximum_gpfn,
};

long xs_hc_memory_op(struct xs_vcpu *v, const uint64_t a[5])
{
    uint64_t cmd = a[0] & XS_MEMOP_CMD_MASK;
    if (cmd >= sizeof(ops) / sizeof(ops[0]) || !ops[cmd]) return -XEN_ENOSYS;
    if ((cmd == XENMEM_current_reservation || cmd == XENMEM_maximum_reservation ||
         cmd == XENMEM_maximum_gpfn) &&
        a[0] >> XS_MEMOP_EXTENT_SHIFT)
        return -XEN_EINVAL;
    return ops[cmd](v, a[1]);
}
