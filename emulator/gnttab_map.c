/* Grant mapping: the maptrack (a domain's mappings of grants, indexed by
 * handle and by guest frame), GNTTABOP_map_grant_ref and unmap_grant_ref
 * with Xen's HVM semantics (host_addr is a guest physical address whose
 * frame then shows the granted page, for real: the granter's memfd page is
 * mapped there), mappings for xensim's own backends, and teardown. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <xen/xen.h>
#include <xen/errno.h>
#include <xen/grant_table.h>
#include <xensim/abi.h>

#include "gnttab_impl.h"
#include "guest_mem.h"

#define PAGE XS_PAGE_SIZE

/* ---- maptrack ---------------------------------------------------------- */

/* Handles are reused oldest-freed first, as Xen's per-vCPU free lists do,
 * so a stale handle is unlikely to name a fresh mapping. */
static uint32_t mt_get(struct xs_gnttab *gt)
{
    if (gt->mt_free_head == XS_GNTTAB_NONE) {
        if (gt->mt_limit >= XS_GNTTAB_MAX_MAPTRACK) return XS_GNTTAB_NONE;
        uint32_t n = gt->mt_limit + XS_GNTTAB_MT_CHUNK;
        struct xs_gnttab_maptrack *mt = realloc(gt->mt, n * sizeof(*mt));
        if (!mt) return XS_GNTTAB_NONE;
        for (uint32_t i = gt->mt_limit; i < n; i++)
            mt[i] =
                (struct xs_gnttab_maptrack){.next = i + 1 < n ? i + 1 : XS_GNTTAB_NONE};
        gt->mt = mt;
        gt->mt_free_head = gt->mt_limit;
        gt->mt_free_tail = n - 1;
        gt->mt_limit = n;
    }
    uint32_t h = gt->mt_free_head;
    gt->mt_free_head = gt->mt[h].next;
    if (gt->mt_free_head == XS_GNTTAB_NONE) gt->mt_free_tail = XS_GNTTAB_NONE;
    gt->mt_used++;
    return h;
}

static void mt_put(struct xs_gnttab *gt, uint32_t h)
{
    gt->mt[h] = (struct xs_gnttab_maptrack){.next = XS_GNTTAB_NONE};
    if (gt->mt_free_tail == XS_GNTTAB_NONE)
        gt->mt_free_head = h;
    else
        gt->mt[gt->mt_free_tail].next = h;
    gt->mt_free_tail = h;
    gt->mt_used--;
}

static uint32_t *bucket(struct xs_gnttab *gt, uint64_t gfn)
{
    return &gt->gfn_hash[gfn % XS_GNTTAB_HASH];
}

struct xs_gnttab_maptrack *xs_gnttab_mt_at_gfn(struct xs_gnttab *gt, uint64_t gfn)
{
    if (!gt->mt_used) return NULL;
    for (uint32_t h = *bucket(gt, gfn); h != XS_GNTTAB_NONE; h = gt->mt[h].next)
        if (gt->mt[h].gfn == gfn) return &gt->mt[h];
    return NULL;
}

static void hash_remove(struct xs_gnttab *gt, uint32_t h)
{
    for (uint32_t *p = bucket(gt, gt->mt[h].gfn); *p != XS_GNTTAB_NONE;
         p = &gt->mt[*p].next)
        if (*p == h) {
            *p = gt->mt[h].next;
            return;
        }
}

/* ---- pinning for a mapping (guests and backends alike) --------------------- */

static bool pinned(const struct xs_gnttab_active *act)
{
    return act->pin_w || act->pin_r;
}

/* The first half of Xen's map_grant_ref, up to the pin: checks the entry
 * and the active state, sets the status bits, records the frame. */
static int pin_for_map(struct xs_domain *rd, grant_ref_t ref, bool ro, domid_t ldom,
                       struct xs_domain *holder)
{
    struct xs_gnttab *rgt = rd->gnttab;
    if (ref >= xs_gnttab_nr_entries(rgt)) return GNTST_bad_gntref;
    struct xs_gnttab_active *act = &rgt->active[ref];
    xs_gnttab_check_ended(rgt, ref, "map_grant_ref");
    uint8_t pins = ro ? act->pin_r : act->pin_w;
    if (pinned(act) &&
        (act->domid != ldom || pins >= XS_GNTTAB_PIN_LIMIT || act->is_sub_page))
        return GNTST_general_error;
    if (!pinned(act) || (!ro && !act->pin_w)) {
        int rc = xs_gnttab_set_status(rgt, ref, ro, true, ldom);
        if (rc) return rc;
        if (!pinned(act)) {
            uint64_t gfn = rgt->version == 1
                               ? xs_gnttab_shared_v1(rgt, ref)->frame
                               : xs_gnttab_shared_v2(rgt, ref)->full_page.frame;
            uint64_t off;
            rc = xs_gnttab_frame_of_gfn(rd, gfn, &off);
            if (rc) {
                xs_gnttab_reduce_status(rgt, ref, ro);
                return rc;
            }
            *act = (struct xs_gnttab_active){
                .domid = ldom, .holder = holder, .length = PAGE, .gfn = gfn, .off = off};
        }
    }
    if (ro)
        act->pin_r++;
    else
        act->pin_w++;
    return GNTST_okay;
}

static void unpin_map(struct xs_domain *rd, grant_ref_t ref, bool ro)
{
    struct xs_gnttab_active *act = &rd->gnttab->active[ref];
    if (ro)
        act->pin_r--;
    else
        act->pin_w--;
    xs_gnttab_reduce_status(rd->gnttab, ref, ro);
}

/* ---- GNTTABOP_map_grant_ref ---------------------------------------------- */

/* Xen keeps a registered vcpu_info mapped by machine frame, so a grant
 * mapped over its guest frame does not move it; xensim reaches it through
 * the guest frame and would write into the granted page (or fault on a
 * read-only one), so such a mapping is refused. */
static bool holds_vcpu_info(struct xs_domain *d, uint64_t gfn)
{
    for (unsigned i = 0; i < d->nr_vcpus; i++) {
        uint64_t gpa = d->vcpus[i].vcpu_info_gpa;
        if (gpa != XS_NO_GPA && gpa / PAGE <= gfn &&
            (gpa + sizeof(struct vcpu_info) - 1) / PAGE >= gfn)
            return true;
    }
    return false;
}

static int16_t map_one(struct xs_vcpu *v, struct gnttab_map_grant_ref *op)
{
    struct xs_domain *ld = v->dom;
    struct xs_gnttab *lgt = ld->gnttab;
    if (!(op->flags & (GNTMAP_host_map | GNTMAP_device_map))) return GNTST_bad_gntref;
    /* An HVM domain has no device, application or PTE mappings. */
    if (op->flags & (GNTMAP_device_map | GNTMAP_application_map | GNTMAP_contains_pte))
        return GNTST_general_error;
    struct xs_domain *rd = xs_gnttab_domain_by_id(ld, op->dom);
    if (!rd) return GNTST_bad_domain;
    uint32_t h = mt_get(lgt);
    if (h == XS_GNTTAB_NONE) return GNTST_no_space;
    bool ro = op->flags & GNTMAP_readonly;
    int rc = pin_for_map(rd, op->ref, ro, ld->domid, ld);
    if (rc) {
        mt_put(lgt, h);
        return rc;
    }
    struct xs_gnttab_active *act = &rd->gnttab->active[op->ref];
    /* create_grant_p2m_mapping */
    uint64_t gfn = op->host_addr / PAGE;
    if ((op->flags & ~GNTMAP_readonly) != GNTMAP_host_map || gfn >= XS_SLOT_SIZE / PAGE) {
        rc = GNTST_general_error;
        goto undo;
    }
    if (xs_gnttab_mt_at_gfn(lgt, gfn)) {
        /* p2m_add_page refuses to replace a grant mapping and crashes the
         * domain. */
        xs_domain_crash(v,
                        "map_grant_ref at guest frame %#" PRIx64
                        ", which already shows a grant mapping (Xen crashes the domain)",
                        gfn);
        rc = GNTST_general_error;
        goto undo;
    }
    if (holds_vcpu_info(ld, gfn)) {
        xs_log(ld->sim,
               "xensim: d%u: map_grant_ref over guest frame %#" PRIx64
               ", which holds a registered vcpu_info (refused)",
               ld->domid, gfn);
        rc = GNTST_general_error;
        goto undo;
    }
    /* Granted pages are never executable (Xen's p2m_grant_map_* types). */
    if (xs_gnttab_physmap_show(ld, gfn, rd->memfd, act->off,
                               ro ? PROT_READ : PROT_READ | PROT_WRITE)) {
        rc = GNTST_general_error;
        goto undo;
    }
    xs_gnttab_unhook_special(ld, gfn);
    lgt->mt[h] = (struct xs_gnttab_maptrack){.flags = op->flags,
                                             .ref = op->ref,
                                             .domid = rd->domid,
                                             .granter = rd,
                                             .gfn = gfn,
                                             .off = act->off,
                                             .rgfn = act->gfn,
                                             .next = *bucket(lgt, gfn)};
    *bucket(lgt, gfn) = h;
    if (ro) lgt->nr_ro_maps++;
    lgt->stats.maps++;
    /* xensim has no machine addresses: the page's offset in the granter's
     * memory stands in for one. */
    op->dev_bus_addr = act->off;
    op->handle = h;
    return GNTST_okay;
undo:
    unpin_map(rd, op->ref, ro);
    mt_put(lgt, h);
    return (int16_t)rc;
}

long xs_gnttab_op_map(struct xs_vcpu *v, uint64_t uop, unsigned count)
{
    struct xs_domain *d = v->dom;
    for (unsigned i = 0; i < count; i++) {
        uint64_t at = uop + (uint64_t)i * sizeof(struct gnttab_map_grant_ref);
        struct gnttab_map_grant_ref op;
        if (xs_copy_from_guest(d, &op, at, sizeof(op))) return -XEN_EFAULT;
        op.status = map_one(v, &op);
        if (xs_copy_to_guest(d, at, &op, sizeof(op))) return -XEN_EFAULT;
    }
    return 0;
}

/* ---- GNTTABOP_unmap_grant_ref -------------------------------------------- */

static void drop_mapping(struct xs_domain *ld, uint32_t h)
{
    struct xs_gnttab *lgt = ld->gnttab;
    struct xs_gnttab_maptrack *m = &lgt->mt[h];
    xs_gnttab_physmap_restore(ld, m->gfn);
    hash_remove(lgt, h);
    if (m->flags & GNTMAP_readonly) lgt->nr_ro_maps--;
    mt_put(lgt, h);
}

static int16_t unmap_one(struct xs_vcpu *v, const struct gnttab_unmap_grant_ref *op)
{
    struct xs_domain *ld = v->dom;
    struct xs_gnttab *lgt = ld->gnttab;
    if (op->handle >= lgt->mt_limit || !lgt->mt[op->handle].flags)
        return GNTST_bad_handle;
    struct xs_gnttab_maptrack *m = &lgt->mt[op->handle];
    /* Only host mappings exist for HVM guests, and Xen ignores a zero
     * host_addr: nothing is unmapped and the handle stays. */
    if (!op->host_addr) return GNTST_okay;
    /* Xen checks the frame shows a grant mapping of the same page; xensim
     * asks for the frame this handle mapped. */
    if (op->host_addr / PAGE != m->gfn) return GNTST_general_error;
    struct xs_domain *rd = m->granter;
    grant_ref_t ref = m->ref;
    bool ro = m->flags & GNTMAP_readonly;
    if (!rd) {
        /* The granter is gone (only at teardown): nothing to unpin. */
        drop_mapping(ld, op->handle);
        return GNTST_okay;
    }
    xs_gnttab_check_ended(rd->gnttab, ref, "unmap_grant_ref");
    drop_mapping(ld, op->handle);
    unpin_map(rd, ref, ro);
    lgt->stats.unmaps++;
    return GNTST_okay;
}

long xs_gnttab_op_unmap(struct xs_vcpu *v, uint64_t uop, unsigned count)
{
    struct xs_domain *d = v->dom;
    for (unsigned i = 0; i < count; i++) {
        uint64_t at = uop + (uint64_t)i * sizeof(struct gnttab_unmap_grant_ref);
        struct gnttab_unmap_grant_ref op;
        if (xs_copy_from_guest(d, &op, at, sizeof(op))) return -XEN_EFAULT;
        int16_t st = unmap_one(v, &op);
        if (xs_copy_to_guest(d, at + offsetof(struct gnttab_unmap_grant_ref, status), &st,
                             sizeof(st)))
            return -XEN_EFAULT;
    }
    return 0;
}

/* ---- xensim's backends ------------------------------------------------------- */

/* addr: where the page goes (MAP_FIXED inside the caller's reservation), or
 * NULL for anywhere. */
static int backend_map(struct xs_domain *granter, grant_ref_t ref, bool readonly,
                       void *addr, void **ptr, grant_handle_t *handle)
{
    struct xs_gnttab *gt = granter->gnttab;
    if (!gt) return GNTST_bad_domain;
    if (gt->bm_free == XS_GNTTAB_NONE) {
        if (gt->bm_limit >= XS_GNTTAB_MAX_MAPTRACK) return GNTST_no_space;
        uint32_t n = gt->bm_limit + XS_GNTTAB_MT_CHUNK;
        struct xs_gnttab_bmap *bm = realloc(gt->bm, n * sizeof(*bm));
        if (!bm) return GNTST_no_space;
        /* Lowest handles first. */
        for (uint32_t i = gt->bm_limit; i < n; i++)
            bm[i] =
                (struct xs_gnttab_bmap){.next_free = i + 1 < n ? i + 1 : XS_GNTTAB_NONE};
        gt->bm = bm;
        gt->bm_free = gt->bm_limit;
        gt->bm_limit = n;
    }
    int rc = pin_for_map(granter, ref, readonly, 0, NULL);
    if (rc) return rc;
    const struct xs_gnttab_active *act = &gt->active[ref];
    void *p = mmap(addr, PAGE, readonly ? PROT_READ : PROT_READ | PROT_WRITE,
                   MAP_SHARED | (addr ? MAP_FIXED : 0), granter->memfd, (off_t)act->off);
    if (p == MAP_FAILED) {
        unpin_map(granter, ref, readonly);
        return GNTST_general_error;
    }
    uint32_t h = gt->bm_free;
    gt->bm_free = gt->bm[h].next_free;
    gt->bm[h] = (struct xs_gnttab_bmap){
        .used = true, .readonly = readonly, .fixed = addr != NULL, .ref = ref, .ptr = p};
    gt->stats.maps++;
    *ptr = p;
    *handle = h;
    return GNTST_okay;
}

int xs_gnttab_backend_map(struct xs_domain *granter, grant_ref_t ref, bool readonly,
                          void **ptr, grant_handle_t *handle)
{
    return backend_map(granter, ref, readonly, NULL, ptr, handle);
}

int xs_gnttab_backend_map_at(struct xs_domain *granter, grant_ref_t ref, bool readonly,
                             void *addr, grant_handle_t *handle)
{
    void *p;
    if (!addr || ((uintptr_t)addr & (PAGE - 1))) return GNTST_general_error;
    return backend_map(granter, ref, readonly, addr, &p, handle);
}

/* A fixed mapping gives its place back as an inaccessible page, so the
 * caller's reservation stays whole (nothing else can be mapped there). */
static void backend_unmap_page(const struct xs_gnttab_bmap *b)
{
    if (b->fixed)
        mmap(b->ptr, PAGE, PROT_NONE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
    else
        munmap(b->ptr, PAGE);
}

int xs_gnttab_backend_unmap(struct xs_domain *granter, grant_handle_t handle)
{
    struct xs_gnttab *gt = granter->gnttab;
    if (!gt) return GNTST_bad_domain;
    if (handle >= gt->bm_limit || !gt->bm[handle].used) return GNTST_bad_handle;
    struct xs_gnttab_bmap *b = &gt->bm[handle];
    xs_gnttab_check_ended(gt, b->ref, "backend unmap");
    backend_unmap_page(b);
    unpin_map(granter, b->ref, b->readonly);
    *b = (struct xs_gnttab_bmap){.next_free = gt->bm_free};
    gt->bm_free = handle;
    gt->stats.unmaps++;
    return GNTST_okay;
}

/* ---- teardown ---------------------------------------------------------------- */

/* Xen's gnttab_release_mappings, plus what Xen does by keeping a dying
 * domain's memory until every mapping of it is gone: here the mappers'
 * entries forget the granter, and their mapped pages stay valid because
 * the memfd lives on while mapped. */
void xs_gnttab_release_all(struct xs_domain *d)
{
    struct xs_gnttab *gt = d->gnttab;
    /* d's own mappings: unpin them on their granters. */
    for (uint32_t h = 0; h < gt->mt_limit; h++) {
        struct xs_gnttab_maptrack *m = &gt->mt[h];
        if (!m->flags) continue;
        if (m->granter) unpin_map(m->granter, m->ref, m->flags & GNTMAP_readonly);
        hash_remove(gt, h);
        if (m->flags & GNTMAP_readonly) gt->nr_ro_maps--;
        mt_put(gt, h);
    }
    /* Other domains' mappings of d's grants: each pinned entry has one
     * holder; collect the distinct ones, then orphan their entries. */
    struct xs_domain *holders[XS_MAX_DOMAINS];
    unsigned nh = 0;
    unsigned n = xs_gnttab_nr_entries(gt);
    for (grant_ref_t ref = 0; ref < n; ref++) {
        struct xs_domain *y = gt->active[ref].holder;
        if (!pinned(&gt->active[ref]) || !y || y == d) continue;
        unsigned i = 0;
        while (i < nh && holders[i] != y)
            i++;
        if (i == nh && nh < XS_MAX_DOMAINS) holders[nh++] = y;
    }
    for (unsigned i = 0; i < nh; i++) {
        struct xs_gnttab *ygt = holders[i]->gnttab;
        for (uint32_t h = 0; h < ygt->mt_limit; h++)
            if (ygt->mt[h].flags && ygt->mt[h].granter == d) ygt->mt[h].granter = NULL;
    }
    /* Backend mappings: the backend had to unmap before the domain went;
     * its pointers die with it. */
    for (uint32_t h = 0; h < gt->bm_limit; h++)
        if (gt->bm[h].used) backend_unmap_page(&gt->bm[h]);
}
