/* Grant tables, the guest's client: the table's frames placed in the
 * physmap over pages from the page allocator, a free list of references,
 * granting and ending access with the v1 and v2 status protocols, and
 * wrappers for mapping and copying other domains' grants.
 *
 * One lock (interrupts off) covers the table and the free list, so grants
 * may be made and ended from event handlers on any CPU. */
#include <guest/gnttab.h>
#include <guest/control.h>
#include <guest/hypercall.h>
#include <guest/irq.h>
#include <guest/kernel.h>
#include <guest/mm.h>
#include <guest/printk.h>
#include <guest/smp.h>
#include <guest/string.h>

#define MAX_FRAMES 64u /* Xen's default; query_size may say less */
#define V1_PER     (PAGE_SIZE / sizeof(grant_entry_v1_t))
#define V2_PER     (PAGE_SIZE / sizeof(grant_entry_v2_t))
#define ST_PER     (PAGE_SIZE / sizeof(grant_status_t))
#define MAX_STATUS ((MAX_FRAMES * V2_PER + ST_PER - 1) / ST_PER)
#define MAX_REFS   (MAX_FRAMES * V1_PER)
#define GTF_BUSY   (GTF_reading | GTF_writing)
/* ref_state[] beyond free-list links. */
#define REF_END     0xffffffffu /* end of the free list */
#define REF_CLAIMED 0xfffffffeu /* allocated, no grant */
#define REF_GRANTED 0xfffffffdu /* allocated and granted */

static struct {
    spinlock_t lock;
    unsigned version; /* 0 until set up */
    unsigned nr_frames, max_frames, nr_status;
    void *frames[MAX_FRAMES];
    grant_status_t *status[MAX_STATUS];
    uint32_t free_head;
    unsigned nr_free, nr_granted;
    uint32_t ref_state[MAX_REFS]; /* next free reference, or REF_* */
} gt = {.lock = SPINLOCK_INIT, .free_head = REF_END};

static unsigned per_frame(void)
{
    return gt.version == 1 ? V1_PER : V2_PER;
}

static unsigned nr_refs(void)
{
    return gt.nr_frames * per_frame();
}

static grant_entry_v1_t *entry_v1(grant_ref_t ref)
{
    return (grant_entry_v1_t *)gt.frames[ref / V1_PER] + ref % V1_PER;
}

static grant_entry_v2_t *entry_v2(grant_ref_t ref)
{
    return (grant_entry_v2_t *)gt.frames[ref / V2_PER] + ref % V2_PER;
}

/* Where Xen puts GTF_reading/GTF_writing for ref. */
static uint16_t *busy_word(grant_ref_t ref)
{
    if (gt.version == 1) return &entry_v1(ref)->flags;
    return gt.status[ref / ST_PER] + ref % ST_PER;
}

static unsigned long lock(void)
{
    unsigned long f = irq_save();
    spin_lock(&gt.lock);
    return f;
}

static void unlock(unsigned long f)
{
    spin_unlock(&gt.lock);
    irq_restore(f);
}

/* ---- frames -------------------------------------------------------------- */

/* Show table frame idx (or status frame, with XENMAPIDX_grant_table_status)
 * over a fresh page; its va then reads the frame. */
static void *place_frame(uint64_t idx)
{
    void *va = page_alloc();
    if (!va) return NULL;
    struct xen_add_to_physmap x = {.domid = DOMID_SELF,
                                   .space = XENMAPSPACE_grant_table,
                                   .idx = idx,
                                   .gpfn = va_to_pa(va) >> PAGE_SHIFT};
    long rc = HYPERVISOR_memory_op(XENMEM_add_to_physmap, &x);
    if (rc) {
        printk("gnttab: placing frame %#lx failed: %ld\n", (unsigned long)idx, rc);
        page_free(va);
        return NULL;
    }
    return va;
}

static long place_status_frames(unsigned want)
{
    while (gt.nr_status < want) {
        void *va = place_frame(XENMAPIDX_grant_table_status | gt.nr_status);
        if (!va) return -XEN_ENOMEM;
        gt.status[gt.nr_status++] = va;
    }
    return 0;
}

/* Put refs [from, to) on the free list (lowest first out). */
static void free_range(unsigned from, unsigned to)
{
    for (unsigned r = to; r-- > from;) {
        gt.ref_state[r] = gt.free_head;
        gt.free_head = r;
        gt.nr_free++;
    }
}

/* One more frame (Xen grows the table when an index past its end is
 * placed); its references join the free list. */
static long grow(void)
{
    if (gt.nr_frames >= gt.max_frames) return -XEN_ENOSPC;
    void *va = place_frame(gt.nr_frames);
    if (!va) return -XEN_ENOMEM;
    gt.frames[gt.nr_frames] = va;
    unsigned first = nr_refs();
    gt.nr_frames++;
    if (gt.version == 2) {
        long rc = place_status_frames((gt.nr_frames * V2_PER + ST_PER - 1) / ST_PER);
        if (rc) return rc; /* the frame stays; its refs are not handed out */
    }
    /* Xen's reserved entries 0..7 belong to the toolstack. */
    free_range(first < GNTTAB_NR_RESERVED_ENTRIES ? GNTTAB_NR_RESERVED_ENTRIES : first,
               nr_refs());
    return 0;
}

static long hc_set_version(unsigned version)
{
    struct gnttab_set_version sv = {.version = version};
    return HYPERVISOR_grant_table_op(GNTTABOP_set_version, &sv, 1);
}

/* A new domain's grant table is Xen's fresh one: version 1, one frame,
 * empty but for the toolstack's reserved entries.  Put the same frames
 * (and status frames) at the same places again, in our version.  Every
 * grant made before is gone with the old table: the references stay
 * allocated to their owners, whose ending of them now just succeeds, and
 * drivers grant again as they reconnect (Linux's gnttab_resume). */
static void gnttab_resume(void *arg)
{
    (void)arg;
    unsigned long f = lock();
    if (!gt.version) goto out;
    long rc = gt.version == 2 ? hc_set_version(2) : 0;
    for (unsigned i = 0; !rc && i < gt.nr_frames; i++) {
        struct xen_add_to_physmap x = {.domid = DOMID_SELF,
                                       .space = XENMAPSPACE_grant_table,
                                       .idx = i,
                                       .gpfn = va_to_pa(gt.frames[i]) >> PAGE_SHIFT};
        rc = HYPERVISOR_memory_op(XENMEM_add_to_physmap, &x);
    }
    for (unsigned i = 0; !rc && i < gt.nr_status; i++) {
        struct xen_add_to_physmap x = {.domid = DOMID_SELF,
                                       .space = XENMAPSPACE_grant_table,
                                       .idx = XENMAPIDX_grant_table_status | i,
                                       .gpfn = va_to_pa(gt.status[i]) >> PAGE_SHIFT};
        rc = HYPERVISOR_memory_op(XENMEM_add_to_physmap, &x);
    }
    if (rc) panic("gnttab: resume: placing the table failed: %ld", rc);
out:
    unlock(f);
}

static struct control_hook gnttab_hook = {
    .name = "gnttab", .order = CONTROL_ORDER_GNTTAB, .resume = gnttab_resume};

static long init_locked(unsigned version)
{
    if (!boot.xen) return -XEN_ENOSYS;
    if (!version) {
        char buf[8];
        const char *v = cmdline_get("gnttab", buf, sizeof(buf));
        version = v && !strcmp(v, "v2") ? 2 : 1;
    }
    if (version != 1 && version != 2) return -XEN_EINVAL;
    struct gnttab_query_size q = {.dom = DOMID_SELF};
    long rc = HYPERVISOR_grant_table_op(GNTTABOP_query_size, &q, 1);
    if (rc || q.status) return rc ? rc : -XEN_EINVAL;
    gt.max_frames = q.max_nr_frames < MAX_FRAMES ? q.max_nr_frames : MAX_FRAMES;
    /* Before any frame is placed: switching clears the table. */
    if ((rc = hc_set_version(version))) return rc;
    gt.version = version;
    rc = grow();
    if (rc) gt.version = 0;
    if (!rc) control_register(&gnttab_hook);
    return rc;
}

long gnttab_init(unsigned version)
{
    unsigned long f = lock();
    long rc = 0;
    if (!gt.version)
        rc = init_locked(version);
    else if (version && version != gt.version)
        rc = -XEN_EBUSY;
    unlock(f);
    return rc;
}

unsigned gnttab_version(void)
{
    return gt.version;
}

unsigned gnttab_nr_frames(void)
{
    return gt.nr_frames;
}

unsigned gnttab_nr_free(void)
{
    return gt.nr_free;
}

/* ---- references ------------------------------------------------------------ */

static long alloc_locked(void)
{
    if (!gt.version) {
        long rc = init_locked(0);
        if (rc) return rc;
    }
    if (gt.free_head == REF_END) {
        long rc = grow();
        if (rc) return rc;
    }
    uint32_t ref = gt.free_head;
    if (ref == REF_END) return -XEN_ENOSPC;
    gt.free_head = gt.ref_state[ref];
    gt.ref_state[ref] = REF_CLAIMED;
    gt.nr_free--;
    return ref;
}

long gnttab_alloc_ref(void)
{
    unsigned long f = lock();
    long rc = alloc_locked();
    unlock(f);
    return rc;
}

static bool ref_is(grant_ref_t ref, uint32_t state)
{
    return gt.version && ref >= GNTTAB_NR_RESERVED_ENTRIES && ref < nr_refs() &&
           gt.ref_state[ref] == state;
}

void gnttab_free_ref(grant_ref_t ref)
{
    unsigned long f = lock();
    if (ref_is(ref, REF_CLAIMED)) {
        gt.ref_state[ref] = gt.free_head;
        gt.free_head = ref;
        gt.nr_free++;
    } else {
        printk("gnttab: freeing ref %u, which is %s\n", ref,
               ref_is(ref, REF_GRANTED) ? "still granted" : "not allocated");
    }
    unlock(f);
}

/* Publish an entry as Xen reads it: domid and frame first, flags last. */
static long grant_locked(grant_ref_t ref, domid_t domid, uint64_t gfn, uint16_t flags,
                         uint16_t off, uint16_t len)
{
    if (!ref_is(ref, REF_CLAIMED)) return -XEN_EINVAL;
    if (gt.version == 1) {
        if (gfn >> 32 || (flags & GTF_sub_page)) return -XEN_EINVAL;
        grant_entry_v1_t *e = entry_v1(ref);
        e->domid = domid;
        e->frame = (uint32_t)gfn;
        __atomic_store_n(&e->flags, flags, __ATOMIC_RELEASE);
    } else {
        grant_entry_v2_t *e = entry_v2(ref);
        e->hdr.domid = domid;
        if (flags & GTF_sub_page) {
            e->sub_page.page_off = off;
            e->sub_page.length = len;
            e->sub_page.frame = gfn;
        } else {
            e->full_page.pad0 = 0;
            e->full_page.frame = gfn;
        }
        __atomic_store_n(&e->hdr.flags, flags, __ATOMIC_RELEASE);
    }
    gt.ref_state[ref] = REF_GRANTED;
    gt.nr_granted++;
    return 0;
}

long gnttab_grant_access_ref(grant_ref_t ref, domid_t domid, uint64_t gfn, bool readonly)
{
    unsigned long f = lock();
    long rc = grant_locked(ref, domid, gfn,
                           GTF_permit_access | (readonly ? GTF_readonly : 0), 0, 0);
    unlock(f);
    return rc;
}

static long grant_new(domid_t domid, uint64_t gfn, uint16_t flags, uint16_t off,
                      uint16_t len)
{
    unsigned long f = lock();
    long ref = alloc_locked();
    if (ref >= 0) {
        long rc = grant_locked((grant_ref_t)ref, domid, gfn, flags, off, len);
        if (rc) {
            gt.ref_state[ref] = gt.free_head;
            gt.free_head = (uint32_t)ref;
            gt.nr_free++;
            ref = rc;
        }
    }
    unlock(f);
    return ref;
}

long gnttab_grant_access(domid_t domid, uint64_t gfn, bool readonly)
{
    return grant_new(domid, gfn, GTF_permit_access | (readonly ? GTF_readonly : 0), 0, 0);
}

long gnttab_grant_page(domid_t domid, const void *va, bool readonly)
{
    return gnttab_grant_access(domid, va_to_pa(va) >> PAGE_SHIFT, readonly);
}

long gnttab_grant_subpage(domid_t domid, uint64_t gfn, uint16_t off, uint16_t len,
                          bool readonly)
{
    long rc = gnttab_init(0);
    if (rc) return rc;
    if (gt.version != 2) return -XEN_EOPNOTSUPP;
    if ((unsigned)off + len > PAGE_SIZE) return -XEN_EINVAL;
    return grant_new(domid, gfn,
                     GTF_permit_access | GTF_sub_page | (readonly ? GTF_readonly : 0),
                     off, len);
}

bool gnttab_in_use(grant_ref_t ref)
{
    if (!ref_is(ref, REF_GRANTED)) return false;
    return __atomic_load_n(busy_word(ref), __ATOMIC_ACQUIRE) & GTF_BUSY;
}

/* Ending access must never race a mapping: v1 clears the flags only if
 * Xen's status bits are clear, atomically; v2 checks the status frame,
 * clears the flags, and checks again (Xen sets status before it re-reads
 * the flags), putting the grant back if a mapping won. */
static long end_locked(grant_ref_t ref)
{
    if (!ref_is(ref, REF_GRANTED)) return -XEN_EINVAL;
    if (gt.version == 1) {
        uint16_t *fl = &entry_v1(ref)->flags;
        uint16_t old = __atomic_load_n(fl, __ATOMIC_ACQUIRE);
        do {
            if (old & GTF_BUSY) return -XEN_EBUSY;
        } while (!__atomic_compare_exchange_n(fl, &old, 0, false, __ATOMIC_SEQ_CST,
                                              __ATOMIC_ACQUIRE));
    } else {
        uint16_t *st = busy_word(ref), *fl = &entry_v2(ref)->hdr.flags;
        if (__atomic_load_n(st, __ATOMIC_ACQUIRE) & GTF_BUSY) return -XEN_EBUSY;
        uint16_t old = __atomic_exchange_n(fl, 0, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(st, __ATOMIC_SEQ_CST) & GTF_BUSY) {
            __atomic_store_n(fl, old, __ATOMIC_RELEASE);
            return -XEN_EBUSY;
        }
    }
    gt.ref_state[ref] = REF_CLAIMED;
    gt.nr_granted--;
    return 0;
}

long gnttab_end_access_ref(grant_ref_t ref)
{
    unsigned long f = lock();
    long rc = end_locked(ref);
    unlock(f);
    return rc;
}

long gnttab_end_access(grant_ref_t ref)
{
    unsigned long f = lock();
    long rc = end_locked(ref);
    if (!rc) {
        gt.ref_state[ref] = gt.free_head;
        gt.free_head = ref;
        gt.nr_free++;
    }
    unlock(f);
    return rc;
}

long gnttab_set_version(unsigned version)
{
    if (version != 1 && version != 2) return -XEN_EINVAL;
    unsigned long f = lock();
    long rc = 0;
    if (!gt.version) {
        rc = init_locked(version);
        goto out;
    }
    if (version == gt.version) goto out;
    /* The entries per frame change: every reference must be free. */
    if (gt.nr_free + GNTTAB_NR_RESERVED_ENTRIES != nr_refs()) {
        rc = -XEN_EBUSY;
        goto out;
    }
    if ((rc = hc_set_version(version))) goto out;
    if (version == 1) {
        /* Xen took the status frames out of the physmap: the pages under
         * them are plain RAM again. */
        for (unsigned i = 0; i < gt.nr_status; i++) {
            page_free(gt.status[i]);
            gt.status[i] = NULL;
        }
        gt.nr_status = 0;
    }
    gt.version = version;
    if (version == 2 &&
        (rc = place_status_frames((gt.nr_frames * V2_PER + ST_PER - 1) / ST_PER)))
        goto out;
    gt.free_head = REF_END;
    gt.nr_free = 0;
    free_range(GNTTAB_NR_RESERVED_ENTRIES, nr_refs());
out:
    unlock(f);
    return rc;
}

/* ---- other domains' grants ------------------------------------------------ */

static int16_t op_status(long rc, int16_t status)
{
    if (rc) {
        printk("gnttab: grant_table_op failed: %ld\n", rc);
        return GNTST_general_error;
    }
    return status;
}

int16_t gnttab_map_grant(domid_t dom, grant_ref_t ref, void *va, bool readonly,
                         grant_handle_t *handle)
{
    struct gnttab_map_grant_ref op = {
        .host_addr = va_to_pa(va),
        .flags = GNTMAP_host_map | (readonly ? GNTMAP_readonly : 0),
        .ref = ref,
        .dom = dom,
    };
    /* Two statements: argument order is unspecified, and the status must be
     * read after the hypercall wrote it. */
    long rc = HYPERVISOR_grant_table_op(GNTTABOP_map_grant_ref, &op, 1);
    int16_t st = op_status(rc, op.status);
    if (st == GNTST_okay) *handle = op.handle;
    return st;
}

int16_t gnttab_unmap_grant(void *va, grant_handle_t handle)
{
    struct gnttab_unmap_grant_ref op = {.host_addr = va_to_pa(va), .handle = handle};
    long rc = HYPERVISOR_grant_table_op(GNTTABOP_unmap_grant_ref, &op, 1);
    return op_status(rc, op.status);
}

/* One op per page of the local buffer (at most two: the grant side may
 * not cross its page anyway). */
static int16_t copy(domid_t dom, grant_ref_t ref, uint16_t off, void *buf, uint16_t len,
                    bool to_grant)
{
    if ((unsigned)off + len > PAGE_SIZE) return GNTST_bad_copy_arg;
    struct gnttab_copy ops[2];
    unsigned n = 0;
    uint64_t pa = va_to_pa(buf);
    uint16_t done = 0;
    while (done < len) {
        uint16_t in_page = (uint16_t)(PAGE_SIZE - ((pa + done) & (PAGE_SIZE - 1)));
        uint16_t chunk = len - done < in_page ? len - done : in_page;
        struct gnttab_copy_ptr local = {
            .domid = DOMID_SELF, .offset = (uint16_t)((pa + done) & (PAGE_SIZE - 1))};
        local.u.gmfn = (pa + done) >> PAGE_SHIFT;
        struct gnttab_copy_ptr remote = {.domid = dom, .offset = off + done};
        remote.u.ref = ref;
        ops[n] = (struct gnttab_copy){
            .source = to_grant ? local : remote,
            .dest = to_grant ? remote : local,
            .len = chunk,
            .flags = to_grant ? GNTCOPY_dest_gref : GNTCOPY_source_gref,
        };
        n++;
        done += chunk;
    }
    if (!n) return GNTST_okay;
    long rc = HYPERVISOR_grant_table_op(GNTTABOP_copy, ops, n);
    int16_t st = op_status(rc, ops[0].status);
    if (st == GNTST_okay && n > 1) st = ops[1].status;
    return st;
}

int16_t gnttab_copy_from_grant(domid_t dom, grant_ref_t ref, uint16_t off, void *dst,
                               uint16_t len)
{
    return copy(dom, ref, off, dst, len, false);
}

int16_t gnttab_copy_to_grant(domid_t dom, grant_ref_t ref, uint16_t off, const void *src,
                             uint16_t len)
{
    return copy(dom, ref, off, (void *)(uintptr_t)src, len, true);
}

const char *gnttab_status_name(int16_t status)
{
    static const char *const msgs[] = GNTTABOP_error_msgs;
    unsigned i = status <= 0 ? (unsigned)-status : ~0u;
    return i < ARRAY_SIZE(msgs) ? msgs[i] : "unknown status";
}
