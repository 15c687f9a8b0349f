/* Grant tables: each domain's table and its frames, table growth and
 * version switching, frame placement in the physmap, the GNTTABOP registry,
 * and the sanitizer.  Mapping is in gnttab_map.c, copying in gnttab_copy.c.
 * Behaviour follows Xen 4.17's common/grant_table.c for an HVM guest. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xen/xen.h>
#include <xen/errno.h>
#include <xen/grant_table.h>
#include <xen/memory.h>

#include "gnttab_impl.h"
#include "guest_mem.h"

/* Xen keeps a continuation's argument above the low 12 bits of cmd; the
 * public headers do not name the mask. */
#define XS_GNTTABOP_CMD_MASK 0xfffu

#define PAGE XS_PAGE_SIZE

/* ---- the table --------------------------------------------------------- */

uint64_t xs_gnttab_memfd_offset(const struct xs_domain *d)
{
    return d->ram_bytes + PAGE; /* after RAM and the shared_info page */
}

unsigned xs_gnttab_nr_entries(const struct xs_gnttab *gt)
{
    return gt->nr_frames *
           (gt->version == 1 ? XS_GNTTAB_V1_PER_FRAME : XS_GNTTAB_V2_PER_FRAME);
}

grant_entry_v1_t *xs_gnttab_shared_v1(struct xs_gnttab *gt, grant_ref_t ref)
{
    return (grant_entry_v1_t *)gt->frames + ref;
}

grant_entry_v2_t *xs_gnttab_shared_v2(struct xs_gnttab *gt, grant_ref_t ref)
{
    return (grant_entry_v2_t *)gt->frames + ref;
}

grant_entry_header_t *xs_gnttab_shared_hdr(struct xs_gnttab *gt, grant_ref_t ref)
{
    if (gt->version == 1) return (grant_entry_header_t *)xs_gnttab_shared_v1(gt, ref);
    return &xs_gnttab_shared_v2(gt, ref)->hdr;
}

uint16_t *xs_gnttab_status(struct xs_gnttab *gt, grant_ref_t ref)
{
    if (gt->version == 1) return &xs_gnttab_shared_v1(gt, ref)->flags;
    return (grant_status_t *)(gt->frames + XS_GNTTAB_MAX_FRAMES * PAGE) + ref;
}

static uint8_t *status_frame(struct xs_gnttab *gt, unsigned i)
{
    return gt->frames + (XS_GNTTAB_MAX_FRAMES + i) * PAGE;
}

/* Xen's grant_to_status_frames. */
static unsigned status_frames_for(unsigned grant_frames)
{
    return (grant_frames * XS_GNTTAB_V2_PER_FRAME + XS_GNTTAB_ST_PER_FRAME - 1) /
           XS_GNTTAB_ST_PER_FRAME;
}

/* Xen's gnttab_grow_table (and gnttab_populate_status_frames in v2).  The
 * active array always covers the v1 entry count, the larger. */
static int grow(struct xs_gnttab *gt, unsigned req)
{
    if (req < XS_GNTTAB_INITIAL_FRAMES) req = XS_GNTTAB_INITIAL_FRAMES;
    if (req > XS_GNTTAB_MAX_FRAMES) return -XEN_EINVAL;
    if (req > gt->nr_frames) {
        size_t n = (size_t)req * XS_GNTTAB_V1_PER_FRAME;
        size_t old = (size_t)gt->nr_frames * XS_GNTTAB_V1_PER_FRAME;
        struct xs_gnttab_active *a = realloc(gt->active, n * sizeof(*a));
        if (!a) return -XEN_ENOMEM;
        memset(a + old, 0, (n - old) * sizeof(*a));
        gt->active = a;
        gt->nr_frames = req;
    }
    if (gt->version == 2) {
        unsigned want = status_frames_for(gt->nr_frames);
        for (unsigned i = gt->nr_status; i < want; i++)
            memset(status_frame(gt, i), 0, PAGE);
        if (want > gt->nr_status) gt->nr_status = want;
    }
    return 0;
}

struct xs_domain *xs_gnttab_domain_by_id(struct xs_domain *self, domid_t id)
{
    struct xs_sim *sim = self->sim;
    for (unsigned i = 0; i < sim->nr_domains; i++)
        if (sim->domains[i]->domid == id && sim->domains[i]->gnttab)
            return sim->domains[i];
    return NULL;
}

/* rcu_lock_domain_by_any_id: DOMID_SELF too. */
static struct xs_domain *domain_by_any_id(struct xs_domain *self, domid_t id)
{
    return id == DOMID_SELF ? self : xs_gnttab_domain_by_id(self, id);
}

/* ---- frames in the physmap --------------------------------------------- */

int xs_gnttab_physmap_show(struct xs_domain *d, uint64_t gfn, int fd, uint64_t off,
                           int prot)
{
    void *at = d->base + gfn * PAGE;
    return mmap(at, PAGE, prot, MAP_SHARED | MAP_FIXED, fd, (off_t)off) == at ? 0 : -1;
}

void xs_gnttab_physmap_restore(struct xs_domain *d, uint64_t gfn)
{
    void *at = d->base + gfn * PAGE, *got;
    if (gfn < d->ram_bytes / PAGE)
        got = mmap(at, PAGE, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_SHARED | MAP_FIXED,
                   d->memfd, (off_t)(gfn * PAGE));
    else /* past RAM: back to the reserved hole, so stray accesses fault */
        got = mmap(at, PAGE, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    if (got != at)
        xs_log(d->sim, "xensim: d%u: cannot restore guest frame %#" PRIx64, d->domid,
               gfn);
}

static bool is_frame_gfn(const struct xs_gnttab *gt, uint64_t gfn)
{
    for (unsigned i = 0; i < XS_GNTTAB_NR_FRAMES; i++)
        if (gt->frame_gfn[i] == gfn) return true;
    return false;
}

/* Xen unhooks a special page from a frame something else is put at. */
void xs_gnttab_unhook_special(struct xs_domain *d, uint64_t gfn)
{
    if (d->shared_info_gpfn == gfn) d->shared_info_gpfn = XS_NO_GPA;
    for (unsigned i = 0; i < XS_GNTTAB_NR_FRAMES; i++)
        if (d->gnttab->frame_gfn[i] == gfn) d->gnttab->frame_gfn[i] = XS_GNTTAB_NO_GFN;
}

long xs_gnttab_physmap_claim(struct xs_domain *d, uint64_t gpfn)
{
    struct xs_gnttab *gt = d->gnttab;
    if (!gt) return 0;
    if (xs_gnttab_mt_at_gfn(gt, gpfn)) {
        xs_log(d->sim,
               "xensim: d%u: add_to_physmap over guest frame %#" PRIx64
               ", which shows a grant mapping (refused)",
               d->domid, gpfn);
        return -XEN_EPERM;
    }
    for (unsigned i = 0; i < XS_GNTTAB_NR_FRAMES; i++)
        if (gt->frame_gfn[i] == gpfn) gt->frame_gfn[i] = XS_GNTTAB_NO_GFN;
    return 0;
}

long xs_gnttab_add_to_physmap(struct xs_domain *d, uint64_t idx, uint64_t gpfn)
{
    struct xs_gnttab *gt = d->gnttab;
    /* xensim keeps every special frame inside the RAM window, as for
     * shared_info. */
    if (gpfn >= d->ram_bytes / PAGE) return -XEN_EINVAL;
    unsigned fi;
    if (gt->version == 2 && (idx & XENMAPIDX_grant_table_status)) {
        /* Xen's gnttab_get_status_frame_mfn: grow until idx exists. */
        uint64_t i = idx & ~(uint64_t)XENMAPIDX_grant_table_status;
        if (i >= gt->nr_status && i < XS_GNTTAB_MAX_STATUS_FRAMES) {
            unsigned need = (unsigned)((i + 1) * XS_GNTTAB_ST_PER_FRAME +
                                       XS_GNTTAB_V2_PER_FRAME - 1) /
                            XS_GNTTAB_V2_PER_FRAME;
            if (need <= XS_GNTTAB_MAX_FRAMES) grow(gt, need);
        }
        if (i >= gt->nr_status) return -XEN_EINVAL;
        fi = XS_GNTTAB_MAX_FRAMES + (unsigned)i;
    } else {
        if (idx >= gt->nr_frames && idx < XS_GNTTAB_MAX_FRAMES)
            grow(gt, (unsigned)idx + 1);
        if (idx >= gt->nr_frames) return -XEN_EINVAL;
        fi = (unsigned)idx;
    }
    if (gt->frame_gfn[fi] == gpfn) return 0;
    long rc = xs_gnttab_physmap_claim(d, gpfn);
    if (rc) return rc;
    if (xs_gnttab_physmap_show(d, gpfn, d->memfd, gt->memfd_off + fi * PAGE,
                               PROT_READ | PROT_WRITE | PROT_EXEC))
        return -XEN_ENOMEM;
    if (d->shared_info_gpfn == gpfn) d->shared_info_gpfn = XS_NO_GPA;
    /* A frame shows at one place only: the old one gets its RAM back. */
    if (gt->frame_gfn[fi] != XS_GNTTAB_NO_GFN)
        xs_gnttab_physmap_restore(d, gt->frame_gfn[fi]);
    gt->frame_gfn[fi] = gpfn;
    return 0;
}

/* ---- frames of a domain, for mapping and copying ------------------------- */

int xs_gnttab_frame_of_gfn(struct xs_domain *d, uint64_t gfn, uint64_t *off)
{
    struct xs_gnttab *gt = d->gnttab;
    if (gfn >= d->ram_bytes / PAGE) return GNTST_bad_page;
    /* Another domain's page, mapped here: not d's to grant (p2m_is_grant). */
    if (xs_gnttab_mt_at_gfn(gt, gfn)) return GNTST_bad_page;
    if (gfn == d->shared_info_gpfn) {
        *off = d->ram_bytes;
        return GNTST_okay;
    }
    for (unsigned i = 0; i < XS_GNTTAB_NR_FRAMES; i++)
        if (gt->frame_gfn[i] == gfn) {
            *off = gt->memfd_off + i * PAGE;
            return GNTST_okay;
        }
    *off = gfn * PAGE;
    return GNTST_okay;
}

uint8_t *xs_gnttab_frame_get(struct xs_domain *d, uint64_t off, bool *temp)
{
    struct xs_gnttab *gt = d->gnttab;
    *temp = false;
    if (off == d->ram_bytes) return (uint8_t *)d->shared_info;
    if (off >= gt->memfd_off && off < gt->memfd_off + XS_GNTTAB_NR_FRAMES * PAGE)
        return gt->frames + (off - gt->memfd_off);
    uint64_t gfn = off / PAGE;
    if (off < d->ram_bytes && gfn != d->shared_info_gpfn && !is_frame_gfn(gt, gfn) &&
        !xs_gnttab_mt_at_gfn(gt, gfn))
        return d->base + off;
    /* The page is pinned but its frame now shows something else (the
     * guest moved a special page over it): reach it through the memfd. */
    void *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, d->memfd, (off_t)off);
    if (p == MAP_FAILED) return NULL;
    *temp = true;
    return p;
}

void xs_gnttab_frame_put(uint8_t *p, bool temp)
{
    if (temp && p) munmap(p, PAGE);
}

/* ---- status bits ---------------------------------------------------------- */

static bool pinned(const struct xs_gnttab_active *act)
{
    return act->pin_w || act->pin_r;
}

/* The guest may change its entries whenever it runs, but never while
 * xensim handles a hypercall (vCPUs are coroutines of one thread), so one
 * read of the entry is enough where Xen loops on cmpxchg. */
int xs_gnttab_set_status(struct xs_gnttab *gt, grant_ref_t ref, bool readonly,
                         bool mapping, domid_t domid)
{
    struct xs_gnttab_active *act = &gt->active[ref];
    grant_entry_header_t *h = xs_gnttab_shared_hdr(gt, ref);
    uint16_t flags = __atomic_load_n(&h->flags, __ATOMIC_RELAXED);
    domid_t edom = __atomic_load_n(&h->domid, __ATOMIC_RELAXED);
    uint16_t mask = GTF_type_mask | (mapping ? GTF_sub_page : 0);
    bool type_ok = (flags & mask) == GTF_permit_access ||
                   (gt->version == 2 && !mapping && (flags & mask) == GTF_transitive);
    if (!pinned(act) && (!type_ok || edom != domid)) return GNTST_general_error;
    if (!readonly && (flags & GTF_readonly)) return GNTST_general_error;
    uint16_t set = GTF_reading | (readonly ? 0 : GTF_writing);
    __atomic_fetch_or(xs_gnttab_status(gt, ref), set, __ATOMIC_SEQ_CST);
    return GNTST_okay;
}

void xs_gnttab_reduce_status(struct xs_gnttab *gt, grant_ref_t ref, bool readonly)
{
    struct xs_gnttab_active *act = &gt->active[ref];
    uint16_t clear = pinned(act) ? 0 : GTF_reading;
    if (!readonly && !act->pin_w) clear |= GTF_writing;
    if (clear) __atomic_fetch_and(xs_gnttab_status(gt, ref), ~clear, __ATOMIC_SEQ_CST);
    if (!pinned(act)) {
        act->ended_reported = false;
        act->trans_dom = NULL;
        act->holder = NULL;
    }
}

/* ---- sanitizer ------------------------------------------------------------ */

void xs_gnttab_trace(struct xs_domain *d, unsigned sub, const uint64_t *args,
                     unsigned nargs)
{
    struct xs_sim *sim = d->sim;
    xs_trace_emit(&sim->trace, sim->vtime_ns, d->domid, 0, XS_TR_GNTTAB_LEAK, sub, args,
                  nargs, 0, NULL, 0);
}

static const char *holder_name(const struct xs_gnttab_active *act)
{
    return act->holder ? act->holder->name : "xensim backend";
}

/* Only maps hold pins across hypercalls, and a map needs a full-page
 * permit_access entry naming the pin holder; anything else means the
 * granter revoked (or rewrote) a grant still mapped. */
void xs_gnttab_check_ended(struct xs_gnttab *gt, grant_ref_t ref, const char *during)
{
    struct xs_gnttab_active *act = &gt->active[ref];
    if (!pinned(act) || act->ended_reported || act->trans_dom) return;
    grant_entry_header_t *h = xs_gnttab_shared_hdr(gt, ref);
    uint16_t flags = __atomic_load_n(&h->flags, __ATOMIC_RELAXED);
    domid_t edom = __atomic_load_n(&h->domid, __ATOMIC_RELAXED);
    if ((flags & GTF_type_mask) == GTF_permit_access && edom == act->domid) return;
    struct xs_domain *d = gt->d;
    act->ended_reported = true;
    gt->stats.ended_while_mapped++;
    xs_report(d,
              "xensim: gnttab: d%u (%s) ended access to grant ref %u (frame %#" PRIx64
              ") while d%u (%s) still maps it (%u writable, %u read-only; entry now "
              "flags %#x domid %u; seen at %s)",
              d->domid, d->name, ref, act->gfn, act->domid, holder_name(act), act->pin_w,
              act->pin_r, flags, edom, during);
    uint64_t a[6] = {d->domid, ref, act->gfn, act->domid, act->pin_w + act->pin_r, flags};
    xs_gnttab_trace(d, 2, a, 6);
}

unsigned xs_gnttab_check_leaks(struct xs_domain *d)
{
    struct xs_gnttab *gt = d->gnttab;
    if (!gt) return 0;
    unsigned n = 0;
    /* Mappings d holds of grants. */
    for (uint32_t h = 0; h < gt->mt_limit; h++) {
        const struct xs_gnttab_maptrack *m = &gt->mt[h];
        if (!m->flags) continue;
        n++;
        xs_report(d,
                  "xensim: gnttab leak: d%u (%s) still maps grant ref %u of d%u%s (frame "
                  "%#" PRIx64 ") at guest frame %#" PRIx64 ", handle %u%s",
                  d->domid, d->name, m->ref, m->domid, m->granter ? "" : " (destroyed)",
                  m->rgfn, m->gfn, h, (m->flags & GNTMAP_readonly) ? ", read-only" : "");
        uint64_t a[6] = {m->domid, m->ref, m->rgfn, d->domid, m->gfn, h};
        xs_gnttab_trace(d, 0, a, 6);
    }
    /* Grants of d someone still holds. */
    unsigned nents = xs_gnttab_nr_entries(gt);
    for (grant_ref_t ref = 0; ref < nents; ref++) {
        struct xs_gnttab_active *act = &gt->active[ref];
        if (!pinned(act)) continue;
        n++;
        /* A domain holding the pin reports it from its own maptrack (above,
         * when its turn comes); only xensim's backends are reported here. */
        if (act->holder) {
            xs_log(d->sim,
                   "xensim: gnttab: d%u (%s) grant ref %u (frame %#" PRIx64
                   ") is still mapped by d%u (%s): %u writable, %u read-only",
                   d->domid, d->name, ref, act->gfn, act->domid, holder_name(act),
                   act->pin_w, act->pin_r);
        } else {
            xs_report(d,
                      "xensim: gnttab leak: d%u (%s) grant ref %u (frame %#" PRIx64
                      ") is still mapped by xensim's backend: %u writable, %u read-only",
                      d->domid, d->name, ref, act->gfn, act->pin_w, act->pin_r);
        }
        uint64_t a[6] = {d->domid, ref, act->gfn, act->domid, act->pin_w, act->pin_r};
        xs_gnttab_trace(d, 1, a, 6);
        unsigned before = (unsigned)gt->stats.ended_while_mapped;
        xs_gnttab_check_ended(gt, ref, "leak check");
        n += (unsigned)gt->stats.ended_while_mapped - before;
    }
    gt->stats.leaks += n;
    return n;
}

/* ---- life cycle ------------------------------------------------------------ */

int xs_gnttab_seed(struct xs_domain *d, grant_ref_t ref, domid_t domid, uint64_t gfn)
{
    struct xs_gnttab *gt = d->gnttab;
    if (!gt || gt->version != 1 || ref >= GNTTAB_NR_RESERVED_ENTRIES ||
        gfn >= d->ram_bytes / PAGE || gfn >> 32)
        return -1;
    grant_entry_v1_t *e = xs_gnttab_shared_v1(gt, ref);
    e->domid = domid;
    e->frame = (uint32_t)gfn;
    __atomic_store_n(&e->flags, (uint16_t)GTF_permit_access, __ATOMIC_RELEASE);
    return 0;
}

void xs_gnttab_final_check(struct xs_domain *d)
{
    if (!d->gnttab || d->gnttab->final_checked) return;
    d->gnttab->final_checked = true;
    xs_gnttab_check_leaks(d);
}

int xs_gnttab_domain_init(struct xs_domain *d, char *err, size_t errlen)
{
    struct xs_gnttab *gt = calloc(1, sizeof(*gt));
    if (!gt) goto nomem;
    gt->d = d;
    gt->version = 1;
    gt->memfd_off = xs_gnttab_memfd_offset(d);
    gt->mt_free_head = gt->mt_free_tail = XS_GNTTAB_NONE;
    gt->bm_free = XS_GNTTAB_NONE;
    for (unsigned i = 0; i < XS_GNTTAB_NR_FRAMES; i++)
        gt->frame_gfn[i] = XS_GNTTAB_NO_GFN;
    for (unsigned i = 0; i < XS_GNTTAB_HASH; i++)
        gt->gfn_hash[i] = XS_GNTTAB_NONE;
    /* The frames are memfd pages past the shared_info page: grow the file
     * (sparse, so untouched frames cost nothing) and keep a view of them. */
    uint64_t end = gt->memfd_off + XS_GNTTAB_NR_FRAMES * PAGE;
    struct stat st;
    if (fstat(d->memfd, &st) ||
        ((uint64_t)st.st_size < end && ftruncate(d->memfd, (off_t)end))) {
        snprintf(err, errlen, "domain %s: cannot grow guest memory for grant frames",
                 d->name);
        free(gt);
        return -1;
    }
    void *f = mmap(NULL, XS_GNTTAB_NR_FRAMES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED,
                   d->memfd, (off_t)gt->memfd_off);
    if (f == MAP_FAILED) {
        snprintf(err, errlen, "domain %s: cannot map grant frames", d->name);
        free(gt);
        return -1;
    }
    gt->frames = f;
    d->gnttab = gt;
    if (grow(gt, XS_GNTTAB_INITIAL_FRAMES) == 0) return 0;
    xs_gnttab_domain_destroy(d);
nomem:
    snprintf(err, errlen, "domain %s: out of memory for the grant table", d->name);
    return -1;
}

void xs_gnttab_domain_destroy(struct xs_domain *d)
{
    struct xs_gnttab *gt = d->gnttab;
    if (!gt) return;
    xs_gnttab_final_check(d);
    xs_gnttab_release_all(d);
    munmap(gt->frames, XS_GNTTAB_NR_FRAMES * PAGE);
    free(gt->active);
    free(gt->mt);
    free(gt->bm);
    free(gt);
    d->gnttab = NULL;
}

unsigned xs_gnttab_version(const struct xs_domain *d)
{
    return d->gnttab->version;
}

unsigned xs_gnttab_nr_frames(const struct xs_domain *d)
{
    return d->gnttab->nr_frames;
}

const struct xs_gnttab_stats *xs_gnttab_stats(const struct xs_domain *d)
{
    return &d->gnttab->stats;
}

bool xs_gnttab_gpa_readonly(struct xs_domain *d, uint64_t gpa, uint64_t len)
{
    struct xs_gnttab *gt = d->gnttab;
    if (!gt || !gt->nr_ro_maps || !len) return false;
    for (uint64_t g = gpa / PAGE; g <= (gpa + len - 1) / PAGE; g++) {
        const struct xs_gnttab_maptrack *m = xs_gnttab_mt_at_gfn(gt, g);
        if (m && (m->flags & GNTMAP_readonly)) return true;
    }
    return false;
}

void xs_gnttab_write_discarding(struct xs_domain *d, uint64_t gpa, const void *src,
                                uint64_t len)
{
    const uint8_t *s = src;
    while (len) {
        uint64_t chunk = PAGE - gpa % PAGE;
        if (chunk > len) chunk = len;
        if (!xs_gnttab_gpa_readonly(d, gpa, chunk)) memcpy(d->base + gpa, s, chunk);
        gpa += chunk;
        s += chunk;
        len -= chunk;
    }
}

bool xs_gnttab_gfn_is_mapping(struct xs_domain *d, uint64_t gfn)
{
    return d->gnttab && xs_gnttab_mt_at_gfn(d->gnttab, gfn);
}

bool xs_gnttab_describe_gpa(struct xs_domain *d, uint64_t gpa, char *buf, size_t len)
{
    struct xs_gnttab *gt = d->gnttab;
    if (!gt) return false;
    const struct xs_gnttab_maptrack *m = xs_gnttab_mt_at_gfn(gt, gpa / PAGE);
    if (!m) return false;
    snprintf(buf, len, "%s grant mapping of d%u ref %u (handle %u)",
             (m->flags & GNTMAP_readonly) ? "read-only" : "writable", m->domid, m->ref,
             (unsigned)(m - gt->mt));
    return true;
}

/* ---- GNTTABOP sub-ops (the table itself) -------------------------------- */

static long copy_status_back(struct xs_domain *d, uint64_t uop, size_t field,
                             int16_t status)
{
    return xs_copy_to_guest(d, uop + field, &status, sizeof(status));
}

static long op_setup_table(struct xs_vcpu *v, uint64_t uop, unsigned count)
{
    struct gnttab_setup_table op;
    if (count != 1) return -XEN_EINVAL;
    if (xs_copy_from_guest(v->dom, &op, uop, sizeof(op))) return -XEN_EFAULT;
    struct xs_domain *d = domain_by_any_id(v->dom, op.dom);
    if (!d)
        op.status = GNTST_bad_domain;
    else if (d != v->dom) /* XSM_TARGET: a DomU names only itself */
        op.status = GNTST_permission_denied;
    else if (op.nr_frames > XS_GNTTAB_MAX_FRAMES)
        op.status = GNTST_general_error;
    else if (grow(d->gnttab, op.nr_frames))
        op.status = GNTST_general_error;
    else {
        /* An HVM guest learns where its frames are: they show only where
         * it placed them with add_to_physmap. */
        op.status = GNTST_okay;
        uint64_t list = (uint64_t)(uintptr_t)op.frame_list.p;
        for (uint32_t i = 0; i < op.nr_frames; i++) {
            xen_pfn_t gfn = d->gnttab->frame_gfn[i];
            if (xs_copy_to_guest(v->dom, list + i * sizeof(gfn), &gfn, sizeof(gfn)))
                op.status = GNTST_bad_virt_addr;
        }
    }
    return copy_status_back(v->dom, uop, offsetof(struct gnttab_setup_table, status),
                            op.status)
               ? -XEN_EFAULT
               : 0;
}

static long op_query_size(struct xs_vcpu *v, uint64_t uop, unsigned count)
{
    struct gnttab_query_size op;
    if (count != 1) return -XEN_EINVAL;
    if (xs_copy_from_guest(v->dom, &op, uop, sizeof(op))) return -XEN_EFAULT;
    struct xs_domain *d = domain_by_any_id(v->dom, op.dom);
    if (!d)
        op.status = GNTST_bad_domain;
    else if (d != v->dom)
        op.status = GNTST_permission_denied;
    else {
        op.nr_frames = d->gnttab->nr_frames;
        op.max_nr_frames = XS_GNTTAB_MAX_FRAMES;
        op.status = GNTST_okay;
    }
    return xs_copy_to_guest(v->dom, uop, &op, sizeof(op)) ? -XEN_EFAULT : 0;
}

/* Xen's gnttab_unpopulate_status_frames: frames leave the physmap. */
static void drop_status_frames(struct xs_domain *d)
{
    struct xs_gnttab *gt = d->gnttab;
    for (unsigned i = 0; i < XS_GNTTAB_MAX_STATUS_FRAMES; i++) {
        uint64_t *g = &gt->frame_gfn[XS_GNTTAB_MAX_FRAMES + i];
        if (*g != XS_GNTTAB_NO_GFN) xs_gnttab_physmap_restore(d, *g);
        *g = XS_GNTTAB_NO_GFN;
        memset(status_frame(gt, i), 0, PAGE);
    }
    gt->nr_status = 0;
}

static long switch_version(struct xs_domain *d, unsigned version)
{
    struct xs_gnttab *gt = d->gnttab;
    /* Refused while grants are in use, except the 8 reserved entries the
     * toolstack's consoles and xenstore keep mapped. */
    unsigned n = xs_gnttab_nr_entries(gt);
    for (unsigned i = GNTTAB_NR_RESERVED_ENTRIES; i < n; i++)
        if (pinned(&gt->active[i])) return -XEN_EBUSY;
    grant_entry_v1_t keep[GNTTAB_NR_RESERVED_ENTRIES];
    if (gt->version == 1) {
        memcpy(keep, gt->frames, sizeof(keep));
    } else {
        for (unsigned i = 0; i < GNTTAB_NR_RESERVED_ENTRIES; i++) {
            unsigned type = xs_gnttab_shared_v2(gt, i)->hdr.flags & GTF_type_mask;
            if (type == GTF_transitive ||
                (type == GTF_permit_access &&
                 xs_gnttab_shared_v2(gt, i)->full_page.frame >> 32))
                return -XEN_ERANGE; /* not representable in v1 */
        }
        for (unsigned i = 0; i < GNTTAB_NR_RESERVED_ENTRIES; i++) {
            const grant_entry_v2_t *e = xs_gnttab_shared_v2(gt, i);
            memset(&keep[i], 0, sizeof(keep[i]));
            if ((e->hdr.flags & GTF_type_mask) != GTF_permit_access) continue;
            keep[i].flags = e->hdr.flags | *xs_gnttab_status(gt, i);
            keep[i].domid = e->hdr.domid;
            keep[i].frame = (uint32_t)e->full_page.frame;
        }
        drop_status_frames(d);
    }
    memset(gt->frames, 0, (size_t)gt->nr_frames * PAGE); /* no crud from the old */
    gt->version = version;
    if (version == 1) {
        memcpy(gt->frames, keep, sizeof(keep));
    } else {
        grow(gt, gt->nr_frames); /* populates the status frames */
        for (unsigned i = 0; i < GNTTAB_NR_RESERVED_ENTRIES; i++) {
            grant_entry_v2_t *e = xs_gnttab_shared_v2(gt, i);
            *xs_gnttab_status(gt, i) = keep[i].flags & (GTF_reading | GTF_writing);
            e->hdr.flags = keep[i].flags & ~(GTF_reading | GTF_writing);
            e->hdr.domid = keep[i].domid;
            e->full_page.frame = keep[i].frame;
        }
    }
    return 0;
}

static long op_set_version(struct xs_vcpu *v, uint64_t uop, unsigned count)
{
    (void)count;
    struct gnttab_set_version op;
    struct xs_domain *d = v->dom;
    if (xs_copy_from_guest(d, &op, uop, sizeof(op))) return -XEN_EFAULT;
    long rc = 0;
    if (op.version != 1 && op.version != 2)
        rc = -XEN_EINVAL;
    else if (op.version != d->gnttab->version)
        rc = switch_version(d, op.version);
    op.version = d->gnttab->version; /* the version in force, in every case */
    return xs_copy_to_guest(d, uop, &op, sizeof(op)) ? -XEN_EFAULT : rc;
}

static long op_get_status_frames(struct xs_vcpu *v, uint64_t uop, unsigned count)
{
    struct gnttab_get_status_frames op;
    if (count != 1) return -XEN_EINVAL;
    if (xs_copy_from_guest(v->dom, &op, uop, sizeof(op))) return -XEN_EFAULT;
    struct xs_domain *d = domain_by_any_id(v->dom, op.dom);
    if (!d)
        op.status = GNTST_bad_domain;
    else if (d != v->dom)
        op.status = GNTST_permission_denied;
    else if (op.nr_frames > d->gnttab->nr_status)
        op.status = GNTST_general_error;
    else {
        op.status = GNTST_okay;
        uint64_t list = (uint64_t)(uintptr_t)op.frame_list.p;
        for (uint32_t i = 0; i < op.nr_frames; i++) {
            uint64_t gfn = d->gnttab->frame_gfn[XS_GNTTAB_MAX_FRAMES + i];
            if (xs_copy_to_guest(v->dom, list + i * sizeof(gfn), &gfn, sizeof(gfn)))
                op.status = GNTST_bad_virt_addr;
        }
    }
    return copy_status_back(v->dom, uop,
                            offsetof(struct gnttab_get_status_frames, status), op.status)
               ? -XEN_EFAULT
               : 0;
}

static long op_get_version(struct xs_vcpu *v, uint64_t uop, unsigned count)
{
    (void)count;
    struct gnttab_get_version op;
    if (xs_copy_from_guest(v->dom, &op, uop, sizeof(op))) return -XEN_EFAULT;
    struct xs_domain *d = domain_by_any_id(v->dom, op.dom);
    if (!d) return -XEN_ESRCH;
    if (d != v->dom) return -XEN_EPERM;
    uint32_t version = d->gnttab->version;
    return xs_copy_to_guest(v->dom, uop + offsetof(struct gnttab_get_version, version),
                            &version, sizeof(version))
               ? -XEN_EFAULT
               : 0;
}

static int16_t swap_one(struct xs_gnttab *gt, grant_ref_t a, grant_ref_t b)
{
    unsigned n = xs_gnttab_nr_entries(gt);
    if (a >= n || b >= n) return GNTST_bad_gntref;
    if (a == b) return GNTST_okay;
    if (pinned(&gt->active[a]) || pinned(&gt->active[b])) return GNTST_eagain;
    if (gt->version == 1) {
        grant_entry_v1_t t = *xs_gnttab_shared_v1(gt, a);
        *xs_gnttab_shared_v1(gt, a) = *xs_gnttab_shared_v1(gt, b);
        *xs_gnttab_shared_v1(gt, b) = t;
    } else {
        grant_entry_v2_t t = *xs_gnttab_shared_v2(gt, a);
        *xs_gnttab_shared_v2(gt, a) = *xs_gnttab_shared_v2(gt, b);
        *xs_gnttab_shared_v2(gt, b) = t;
        uint16_t s = *xs_gnttab_status(gt, a);
        *xs_gnttab_status(gt, a) = *xs_gnttab_status(gt, b);
        *xs_gnttab_status(gt, b) = s;
    }
    return GNTST_okay;
}

static long op_swap_grant_ref(struct xs_vcpu *v, uint64_t uop, unsigned count)
{
    struct xs_domain *d = v->dom;
    for (unsigned i = 0; i < count; i++) {
        uint64_t at = uop + (uint64_t)i * sizeof(struct gnttab_swap_grant_ref);
        struct gnttab_swap_grant_ref op;
        if (xs_copy_from_guest(d, &op, at, sizeof(op))) return -XEN_EFAULT;
        if (copy_status_back(d, at, offsetof(struct gnttab_swap_grant_ref, status),
                             swap_one(d->gnttab, op.ref_a, op.ref_b)))
            return -XEN_EFAULT;
    }
    return 0;
}

/* ---- registry ---------------------------------------------------------------- */

typedef long (*gnttabop_fn)(struct xs_vcpu *v, uint64_t uop, unsigned count);

struct gnttabop_desc {
    gnttabop_fn fn;
    bool hvm; /* allowed to HVM guests by Xen's hvm_grant_table_op */
};

/* dump_table, transfer, unmap_and_replace, cache_flush: not provided
 * (Xen refuses all but cache_flush to HVM guests, and that is Arm-only). */
static const struct gnttabop_desc ops[] = {
    [GNTTABOP_map_grant_ref] = {xs_gnttab_op_map, true},
    [GNTTABOP_unmap_grant_ref] = {xs_gnttab_op_unmap, true},
    [GNTTABOP_setup_table] = {op_setup_table, true},
    [GNTTABOP_copy] = {xs_gnttab_op_copy, true},
    [GNTTABOP_query_size] = {op_query_size, true},
    [GNTTABOP_set_version] = {op_set_version, true},
    [GNTTABOP_get_status_frames] = {op_get_status_frames, false},
    [GNTTABOP_get_version] = {op_get_version, true},
    [GNTTABOP_swap_grant_ref] = {op_swap_grant_ref, true},
};

#define NR_OPS (sizeof(ops) / sizeof(ops[0]))

long xs_gnttab_op(struct xs_vcpu *v, unsigned cmd, uint64_t uop, unsigned count)
{
    if ((int)count < 0) return -XEN_EINVAL;
    if (cmd & ~XS_GNTTABOP_CMD_MASK) return -XEN_EINVAL; /* no continuations here */
    if (cmd >= NR_OPS || !ops[cmd].fn) return -XEN_ENOSYS;
    return ops[cmd].fn(v, uop, count);
}

long xs_hc_grant_table_op(struct xs_vcpu *v, const uint64_t a[5])
{
    /* do_grant_table_op takes unsigned ints: upper halves are ignored. */
    unsigned cmd = (unsigned)a[0], count = (unsigned)a[2];
    if (cmd >= NR_OPS || !ops[cmd].fn || !ops[cmd].hvm) return -XEN_ENOSYS;
    return xs_gnttab_op(v, cmd, a[1], count);
}
