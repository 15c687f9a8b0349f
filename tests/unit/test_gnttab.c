/* Grant table tests: three real domains in one simulation, built from the
 * basic guest image (never run), GNTTABOP hypercalls made with
 * xs_hypercall_call as the guest would make them (argument arrays in guest
 * RAM), grant entries written through the frames the guest placed in its
 * physmap, and mapped pages read and written through the mapper's own
 * physmap.  Results and GNTST codes are Xen 4.17's for HVM guests
 * (common/grant_table.c, arch/x86/hvm/grant_table.c). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xen/xen.h>
#include <xen/errno.h>
#include <xen/grant_table.h>
#include <xen/memory.h>
#include <xensim/abi.h>

#include "gnttab.h"
#include "guest_mem.h"
#include "hypercall.h"
#include "sim.h"
#include "unit.h"

#define MEM_MIB   64u
#define RAM_BYTES ((uint64_t)MEM_MIB << 20)
#define RAM_PAGES (RAM_BYTES / 4096)
#define PAGE      4096u
#define SCRATCH   0x800000ULL /* argument arrays (64 KiB) */
#define LIST      0x810000ULL /* frame lists */
#define XATP      0x811000ULL /* add_to_physmap argument */
#define GT_GFN    0xa00ULL    /* grant frames 0..63 */
#define ST_GFN    0xa80ULL    /* status frames 0..7 */
#define DATA_GFN  0xb00ULL    /* pages that get granted */
#define MAP_GFN   0xc00ULL    /* where mappers map grants */
#define NO_DOMID  ((domid_t)77)
#define RW        GNTMAP_host_map
#define RO        (GNTMAP_host_map | GNTMAP_readonly)

static struct xs_sim sim;
static struct xs_domain *da, *db, *dc; /* domids 1, 2, 3 */
static struct xs_vcpu *a0, *b0, *c0;
static FILE *log_file;

static struct xs_domain *add_domain(struct xs_sim *s, const char *name)
{
    const char *dir = getenv("XENSIM_GUEST_DIR");
    char path[4096], err[512] = "";
    snprintf(path, sizeof(path), "%s/basic.elf", dir && *dir ? dir : "build/guests");
    struct xs_domain_config dc = {.name = name,
                                  .image_path = path,
                                  .memory_mib = MEM_MIB,
                                  .vcpus = 1,
                                  .cmdline = "",
                                  .hypercalls = XS_HC_DIRECT};
    struct xs_domain *dom = xs_domain_create(s, &dc, err, sizeof(err));
    ck_assert_msg(dom, "xs_domain_create: %s (is XENSIM_GUEST_DIR set?)", err);
    ck_assert_msg(dom->image.paddr_hi <= SCRATCH && dom->start_info_pa < SCRATCH,
                  "the guest image overlaps the test's scratch area");
    return dom;
}

static uint64_t gva_in(struct xs_domain *d, uint64_t gpa)
{
    return (uint64_t)(uintptr_t)d->base + gpa;
}

static uint8_t *page_of(struct xs_domain *d, uint64_t gfn)
{
    return d->base + gfn * PAGE;
}

static long add_to_physmap(struct xs_vcpu *v, unsigned space, uint64_t idx, uint64_t gpfn)
{
    struct xen_add_to_physmap x = {
        .domid = DOMID_SELF, .space = space, .idx = idx, .gpfn = gpfn};
    memcpy(v->dom->base + XATP, &x, sizeof(x));
    const uint64_t a[5] = {XENMEM_add_to_physmap, gva_in(v->dom, XATP)};
    return xs_hypercall_call(v, __HYPERVISOR_memory_op, a);
}

static long place(struct xs_vcpu *v, uint64_t idx, uint64_t gpfn)
{
    return add_to_physmap(v, XENMAPSPACE_grant_table, idx, gpfn);
}

static void setup(void)
{
    log_file = tmpfile();
    ck_assert_ptr_nonnull(log_file);
    struct xs_sim_config cfg = {.seed = 42, .console_out = NULL, .log = log_file};
    char err[512] = "";
    ck_assert_msg(xs_sim_init(&sim, &cfg, err, sizeof(err)) == 0, "xs_sim_init: %s", err);
    da = add_domain(&sim, "a");
    db = add_domain(&sim, "b");
    dc = add_domain(&sim, "c");
    ck_assert_uint_eq(da->domid, 1);
    ck_assert_uint_eq(db->domid, 2);
    ck_assert_uint_eq(dc->domid, 3);
    a0 = xs_vcpu_of(da, 0);
    b0 = xs_vcpu_of(db, 0);
    c0 = xs_vcpu_of(dc, 0);
    /* Every domain places its first grant frame, as a frontend would. */
    ck_assert_int_eq(place(a0, 0, GT_GFN), 0);
    ck_assert_int_eq(place(b0, 0, GT_GFN), 0);
    ck_assert_int_eq(place(c0, 0, GT_GFN), 0);
}

static void teardown(void)
{
    xs_sim_destroy(&sim);
    fclose(log_file);
    da = db = dc = NULL;
    a0 = b0 = c0 = NULL;
}

/* Everything xensim logged so far. */
static char *log_text(void)
{
    static char buf[1 << 16];
    fflush(log_file);
    long n = ftell(log_file);
    rewind(log_file);
    size_t got = fread(
        buf, 1, n > 0 && (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1, log_file);
    buf[got] = '\0';
    fseek(log_file, 0, SEEK_END);
    return buf;
}

/* ---- the guest's view ---------------------------------------------------- */

static long gop(struct xs_vcpu *v, unsigned cmd, void *arg, size_t size, unsigned count)
{
    memcpy(v->dom->base + SCRATCH, arg, size * count);
    const uint64_t a[5] = {cmd, gva_in(v->dom, SCRATCH), count};
    long rc = xs_hypercall_call(v, __HYPERVISOR_grant_table_op, a);
    memcpy(arg, v->dom->base + SCRATCH, size * count);
    return rc;
}

static long gop_raw(struct xs_vcpu *v, uint64_t cmd, uint64_t uop, uint64_t count)
{
    const uint64_t a[5] = {cmd, uop, count};
    return xs_hypercall_call(v, __HYPERVISOR_grant_table_op, a);
}

/* Grant entries as the granter's guest sees them: in its placed frames. */
static grant_entry_v1_t *e1(struct xs_domain *d, grant_ref_t ref)
{
    return (grant_entry_v1_t *)page_of(d, GT_GFN) + ref;
}

static grant_entry_v2_t *e2(struct xs_domain *d, grant_ref_t ref)
{
    return (grant_entry_v2_t *)page_of(d, GT_GFN) + ref;
}

static uint16_t *st2(struct xs_domain *d, grant_ref_t ref)
{
    return (uint16_t *)page_of(d, ST_GFN) + ref;
}

static void grant_v1(struct xs_domain *d, grant_ref_t ref, domid_t to, uint64_t gfn,
                     uint16_t flags)
{
    e1(d, ref)->domid = to;
    e1(d, ref)->frame = (uint32_t)gfn;
    e1(d, ref)->flags = flags;
}

static void grant_v2(struct xs_domain *d, grant_ref_t ref, domid_t to, uint64_t gfn,
                     uint16_t flags)
{
    e2(d, ref)->full_page.hdr.domid = to;
    e2(d, ref)->full_page.frame = gfn;
    e2(d, ref)->hdr.flags = flags;
}

static void fill(struct xs_domain *d, uint64_t gfn, unsigned seed)
{
    uint8_t *p = page_of(d, gfn);
    for (unsigned i = 0; i < PAGE; i++)
        p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 8));
}

static int16_t map(struct xs_vcpu *v, domid_t dom, grant_ref_t ref, uint64_t gfn,
                   uint32_t flags, grant_handle_t *h)
{
    struct gnttab_map_grant_ref op = {.host_addr = gfn * PAGE,
                                      .flags = flags,
                                      .ref = ref,
                                      .dom = dom,
                                      .status = 99,
                                      .handle = 0xdead};
    ck_assert_int_eq(gop(v, GNTTABOP_map_grant_ref, &op, sizeof(op), 1), 0);
    if (h) *h = op.handle;
    if (op.status) ck_assert_uint_eq(op.handle, 0xdead); /* untouched on failure */
    return op.status;
}

static int16_t unmap(struct xs_vcpu *v, uint64_t host_addr, grant_handle_t h)
{
    struct gnttab_unmap_grant_ref op = {
        .host_addr = host_addr, .handle = h, .status = 99};
    ck_assert_int_eq(gop(v, GNTTABOP_unmap_grant_ref, &op, sizeof(op), 1), 0);
    return op.status;
}

static int16_t copy1(struct xs_vcpu *v, struct gnttab_copy c)
{
    c.status = 99;
    ck_assert_int_eq(gop(v, GNTTABOP_copy, &c, sizeof(c), 1), 0);
    return c.status;
}

static struct gnttab_copy cp_ref_to_gmfn(domid_t sdom, grant_ref_t ref, uint16_t soff,
                                         uint64_t gmfn, uint16_t doff, uint16_t len)
{
    struct gnttab_copy c = {.len = len, .flags = GNTCOPY_source_gref};
    c.source.u.ref = ref;
    c.source.domid = sdom;
    c.source.offset = soff;
    c.dest.u.gmfn = gmfn;
    c.dest.domid = DOMID_SELF;
    c.dest.offset = doff;
    return c;
}

static struct gnttab_copy cp_gmfn_to_ref(uint64_t gmfn, uint16_t soff, domid_t ddom,
                                         grant_ref_t ref, uint16_t doff, uint16_t len)
{
    struct gnttab_copy c = {.len = len, .flags = GNTCOPY_dest_gref};
    c.source.u.gmfn = gmfn;
    c.source.domid = DOMID_SELF;
    c.source.offset = soff;
    c.dest.u.ref = ref;
    c.dest.domid = ddom;
    c.dest.offset = doff;
    return c;
}

static long set_version(struct xs_vcpu *v, uint32_t version, uint32_t *now)
{
    struct gnttab_set_version op = {.version = version};
    long rc = gop(v, GNTTABOP_set_version, &op, sizeof(op), 1);
    if (now) *now = op.version;
    return rc;
}

static long get_version(struct xs_vcpu *v, domid_t dom, uint32_t *version)
{
    struct gnttab_get_version op = {.dom = dom, .version = 0xdead};
    long rc = gop(v, GNTTABOP_get_version, &op, sizeof(op), 1);
    *version = op.version;
    return rc;
}

/* Can xensim's own code write to host address p?  read(2) into it says,
 * without a signal: EFAULT on a read-only page. */
static bool host_writable(void *p)
{
    int fd[2];
    ck_assert_int_eq(pipe(fd), 0);
    uint8_t keep = *(volatile uint8_t *)p;
    ck_assert_int_eq(write(fd[1], &keep, 1), 1);
    ssize_t n = read(fd[0], p, 1);
    close(fd[0]);
    close(fd[1]);
    return n == 1;
}

/* Guest pointers no argument may use. */
#define NR_BAD 6
static void bad_ptrs(struct xs_domain *d, uint64_t out[NR_BAD])
{
    out[0] = 0;
    out[1] = 0x1000;
    out[2] = gva_in(d, RAM_BYTES - 2); /* starts in RAM, ends past it */
    out[3] = gva_in(d, RAM_BYTES);
    out[4] = gva_in(d, 0) - 8;
    out[5] = ~0ULL;
}

/* ---- the registry -------------------------------------------------------- */

START_TEST(hvm_filter_and_unknown_ops)
{
    static const unsigned refused[] = {
        GNTTABOP_dump_table,        GNTTABOP_transfer,
        GNTTABOP_unmap_and_replace, GNTTABOP_get_status_frames,
        GNTTABOP_cache_flush,       13,
        0x1000 | GNTTABOP_copy,     ~0u};
    for (unsigned i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        ck_assert_int_eq(gop_raw(a0, refused[i], gva_in(da, SCRATCH), 1), -XEN_ENOSYS);
    /* Count is an unsigned int that must not look negative. */
    ck_assert_int_eq(gop_raw(a0, GNTTABOP_copy, gva_in(da, SCRATCH), 0x80000000u),
                     -XEN_EINVAL);
    /* Upper halves are ignored: cmd and count are unsigned ints. */
    ck_assert_int_eq(gop_raw(a0, 0xabcd00000000ULL | GNTTABOP_copy, 0, 0xf00000000ULL),
                     0);
    /* Without the HVM filter (do_grant_table_op): continuation bits. */
    ck_assert_int_eq(xs_gnttab_op(a0, 0x1000 | GNTTABOP_copy, 0, 0), -XEN_EINVAL);
    ck_assert_int_eq(xs_gnttab_op(a0, GNTTABOP_transfer, 0, 0), -XEN_ENOSYS);
    ck_assert_int_eq(xs_gnttab_op(a0, 99, 0, 0), -XEN_ENOSYS);
    /* Zero-count batches touch nothing. */
    ck_assert_int_eq(gop_raw(a0, GNTTABOP_map_grant_ref, 0, 0), 0);
    ck_assert_int_eq(gop_raw(a0, GNTTABOP_unmap_grant_ref, 0, 0), 0);
    ck_assert_int_eq(gop_raw(a0, GNTTABOP_copy, 0, 0), 0);
    ck_assert_int_eq(gop_raw(a0, GNTTABOP_swap_grant_ref, 0, 0), 0);
}
END_TEST

START_TEST(hostile_pointers)
{
    uint64_t bad[NR_BAD];
    bad_ptrs(da, bad);
    static const unsigned cmds[] = {GNTTABOP_map_grant_ref, GNTTABOP_unmap_grant_ref,
                                    GNTTABOP_setup_table,   GNTTABOP_copy,
                                    GNTTABOP_query_size,    GNTTABOP_set_version,
                                    GNTTABOP_get_version,   GNTTABOP_swap_grant_ref};
    for (unsigned c = 0; c < sizeof(cmds) / sizeof(cmds[0]); c++)
        for (unsigned i = 0; i < NR_BAD; i++)
            ck_assert_int_eq(gop_raw(a0, cmds[c], bad[i], 1), -XEN_EFAULT);
    for (unsigned i = 0; i < NR_BAD; i++)
        ck_assert_int_eq(xs_gnttab_op(a0, GNTTABOP_get_status_frames, bad[i], 1),
                         -XEN_EFAULT);
    /* A huge batch stops with -EFAULT where the array leaves RAM. */
    ck_assert_int_eq(gop_raw(a0, GNTTABOP_copy, gva_in(da, RAM_BYTES - PAGE), 0x7fffffff),
                     -XEN_EFAULT);
    ck_assert_int_eq(
        gop_raw(a0, GNTTABOP_swap_grant_ref, gva_in(da, RAM_BYTES - PAGE), 0x7fffffff),
        -XEN_EFAULT);
}
END_TEST

/* ---- the table: setup, query, frames, versions ---------------------------- */

START_TEST(setup_and_query)
{
    struct gnttab_query_size q = {.dom = DOMID_SELF, .status = 99};
    ck_assert_int_eq(gop(a0, GNTTABOP_query_size, &q, sizeof(q), 1), 0);
    ck_assert_int_eq(q.status, GNTST_okay);
    ck_assert_uint_eq(q.nr_frames, 1);
    ck_assert_uint_eq(q.max_nr_frames, 64);
    q = (struct gnttab_query_size){.dom = 2, .status = 99};
    ck_assert_int_eq(gop(a0, GNTTABOP_query_size, &q, sizeof(q), 1), 0);
    ck_assert_int_eq(q.status, GNTST_permission_denied);
    q = (struct gnttab_query_size){.dom = NO_DOMID, .status = 99};
    ck_assert_int_eq(gop(a0, GNTTABOP_query_size, &q, sizeof(q), 1), 0);
    ck_assert_int_eq(q.status, GNTST_bad_domain);
    ck_assert_int_eq(gop_raw(a0, GNTTABOP_query_size, gva_in(da, SCRATCH), 2),
                     -XEN_EINVAL);
    ck_assert_int_eq(gop(a0, GNTTABOP_query_size, &q, sizeof(q), 0), -XEN_EINVAL);

    /* setup_table grows the table and reports where frames are placed. */
    xen_pfn_t *list = (xen_pfn_t *)(da->base + LIST);
    memset(list, 0xaa, 8 * sizeof(*list));
    struct gnttab_setup_table s = {.dom = DOMID_SELF, .nr_frames = 4, .status = 99};
    set_xen_guest_handle(s.frame_list, (xen_pfn_t *)(uintptr_t)gva_in(da, LIST));
    ck_assert_int_eq(gop(a0, GNTTABOP_setup_table, &s, sizeof(s), 1), 0);
    ck_assert_int_eq(s.status, GNTST_okay);
    ck_assert_uint_eq(list[0], GT_GFN);
    for (int i = 1; i < 4; i++)
        ck_assert_uint_eq(list[i], XS_GNTTAB_NO_GFN);
    ck_assert_uint_eq(list[4], 0xaaaaaaaaaaaaaaaaULL); /* only nr_frames written */
    ck_assert_uint_eq(xs_gnttab_nr_frames(da), 4);
    /* Asking for fewer does not shrink. */
    s.nr_frames = 2;
    ck_assert_int_eq(gop(a0, GNTTABOP_setup_table, &s, sizeof(s), 1), 0);
    ck_assert_uint_eq(xs_gnttab_nr_frames(da), 4);
    s.nr_frames = 65;
    ck_assert_int_eq(gop(a0, GNTTABOP_setup_table, &s, sizeof(s), 1), 0);
    ck_assert_int_eq(s.status, GNTST_general_error);
    s.nr_frames = 1;
    s.dom = 2;
    ck_assert_int_eq(gop(a0, GNTTABOP_setup_table, &s, sizeof(s), 1), 0);
    ck_assert_int_eq(s.status, GNTST_permission_denied);
    s.dom = NO_DOMID;
    ck_assert_int_eq(gop(a0, GNTTABOP_setup_table, &s, sizeof(s), 1), 0);
    ck_assert_int_eq(s.status, GNTST_bad_domain);
    ck_assert_int_eq(gop_raw(a0, GNTTABOP_setup_table, gva_in(da, SCRATCH), 2),
                     -XEN_EINVAL);
    /* A bad frame list is a status, not an errno (HVM: no handle check). */
    uint64_t bad[NR_BAD];
    bad_ptrs(da, bad);
    for (int i = 0; i < NR_BAD; i++) {
        s = (struct gnttab_setup_table){.dom = DOMID_SELF, .nr_frames = 2, .status = 99};
        set_xen_guest_handle(s.frame_list, (xen_pfn_t *)(uintptr_t)bad[i]);
        ck_assert_int_eq(gop(a0, GNTTABOP_setup_table, &s, sizeof(s), 1), 0);
        ck_assert_int_eq(s.status, GNTST_bad_virt_addr);
    }
    /* nr_frames 0 writes nothing, whatever the list. */
    s.nr_frames = 0;
    ck_assert_int_eq(gop(a0, GNTTABOP_setup_table, &s, sizeof(s), 1), 0);
    ck_assert_int_eq(s.status, GNTST_okay);
}
END_TEST

START_TEST(frames_in_physmap)
{
    /* The placed frame is the table: what the guest writes there, xensim
     * reads; the RAM page under it comes back when the frame moves. */
    fill(da, GT_GFN + 1, 5);
    uint8_t saved[PAGE];
    memcpy(saved, page_of(da, GT_GFN + 1), PAGE);
    grant_v1(da, 3, 2, DATA_GFN, GTF_permit_access);
    ck_assert_int_eq(place(a0, 0, GT_GFN + 1), 0);
    ck_assert_uint_eq(e1(da, 512 + 3)->frame, DATA_GFN); /* now at GT_GFN + 1 */
    ck_assert_uint_eq(e1(da, 3)->frame, 0);              /* GT_GFN: RAM, zero */
    ck_assert_int_eq(place(a0, 0, GT_GFN), 0);
    ck_assert_uint_eq(e1(da, 3)->frame, DATA_GFN);
    ck_assert_mem_eq(page_of(da, GT_GFN + 1), saved, PAGE);
    ck_assert_int_eq(place(a0, 0, GT_GFN), 0); /* same place: nothing to do */
    /* Growth through add_to_physmap, up to Xen's limit of 64 frames. */
    ck_assert_int_eq(place(a0, 5, GT_GFN + 5), 0);
    ck_assert_uint_eq(xs_gnttab_nr_frames(da), 6);
    ck_assert_int_eq(place(a0, 63, GT_GFN + 63), 0);
    ck_assert_uint_eq(xs_gnttab_nr_frames(da), 64);
    ck_assert_int_eq(place(a0, 64, GT_GFN + 1), -XEN_EINVAL);
    ck_assert_int_eq(place(a0, ~0ULL, GT_GFN + 1), -XEN_EINVAL);
    /* Status frames only exist in v2. */
    ck_assert_int_eq(place(a0, XENMAPIDX_grant_table_status, ST_GFN), -XEN_EINVAL);
    /* Frames stay inside RAM, as shared_info does. */
    ck_assert_int_eq(place(a0, 1, RAM_PAGES), -XEN_EINVAL);
    ck_assert_int_eq(place(a0, 1, ~0ULL), -XEN_EINVAL);
    /* Only the domain itself. */
    struct xen_add_to_physmap x = {
        .domid = 2, .space = XENMAPSPACE_grant_table, .idx = 0, .gpfn = GT_GFN};
    memcpy(da->base + XATP, &x, sizeof(x));
    const uint64_t a[5] = {XENMEM_add_to_physmap, gva_in(da, XATP)};
    ck_assert_int_eq(xs_hypercall_call(a0, __HYPERVISOR_memory_op, a), -XEN_EPERM);
}
END_TEST

START_TEST(frames_and_shared_info)
{
    /* shared_info put over a grant frame unhooks the frame, and the other
     * way round: one special page per guest frame. */
    ck_assert_int_eq(add_to_physmap(a0, XENMAPSPACE_shared_info, 0, GT_GFN), 0);
    ck_assert_uint_eq(da->shared_info_gpfn, GT_GFN);
    xen_pfn_t *list = (xen_pfn_t *)(da->base + LIST);
    struct gnttab_setup_table s = {.dom = DOMID_SELF, .nr_frames = 1, .status = 99};
    set_xen_guest_handle(s.frame_list, (xen_pfn_t *)(uintptr_t)gva_in(da, LIST));
    ck_assert_int_eq(gop(a0, GNTTABOP_setup_table, &s, sizeof(s), 1), 0);
    ck_assert_uint_eq(list[0], XS_GNTTAB_NO_GFN);
    ck_assert_int_eq(place(a0, 0, GT_GFN), 0);
    ck_assert_uint_eq(da->shared_info_gpfn, XS_NO_GPA);
    ck_assert_int_eq(gop(a0, GNTTABOP_setup_table, &s, sizeof(s), 1), 0);
    ck_assert_uint_eq(list[0], GT_GFN);
}
END_TEST

START_TEST(versions)
{
    uint32_t ver, now;
    ck_assert_int_eq(get_version(a0, DOMID_SELF, &ver), 0);
    ck_assert_uint_eq(ver, 1);
    ck_assert_int_eq(get_version(a0, 1, &ver), 0);
    ck_assert_uint_eq(ver, 1);
    ck_assert_int_eq(get_version(a0, 2, &ver), -XEN_EPERM);
    ck_assert_int_eq(get_version(a0, NO_DOMID, &ver), -XEN_ESRCH);
    ck_assert_int_eq(set_version(a0, 3, &now), -XEN_EINVAL);
    ck_assert_uint_eq(now, 1); /* the version in force comes back */
    ck_assert_int_eq(set_version(a0, 0, &now), -XEN_EINVAL);
    ck_assert_int_eq(set_version(a0, 1, &now), 0);
    ck_assert_uint_eq(now, 1);
    /* v1 -> v2: reserved entries 0..7 survive, the rest is cleared. */
    grant_v1(da, 1, 0, 0x1234, GTF_permit_access | GTF_readonly);
    grant_v1(da, 9, 2, DATA_GFN, GTF_permit_access);
    ck_assert_int_eq(set_version(a0, 2, &now), 0);
    ck_assert_uint_eq(now, 2);
    ck_assert_int_eq(get_version(a0, DOMID_SELF, &ver), 0);
    ck_assert_uint_eq(ver, 2);
    ck_assert_uint_eq(xs_gnttab_version(da), 2);
    ck_assert_uint_eq(e2(da, 1)->hdr.flags, GTF_permit_access | GTF_readonly);
    ck_assert_uint_eq(e2(da, 1)->full_page.frame, 0x1234);
    ck_assert_uint_eq(e2(da, 9)->hdr.flags, 0);
    /* Status frames: placed with XENMAPIDX_grant_table_status; Xen lists
     * them for PV guests only (get_status_frames). */
    ck_assert_int_eq(place(a0, XENMAPIDX_grant_table_status | 8, ST_GFN), -XEN_EINVAL);
    ck_assert_int_eq(place(a0, XENMAPIDX_grant_table_status, ST_GFN), 0);
    uint64_t *list = (uint64_t *)(da->base + LIST);
    struct gnttab_get_status_frames g = {.nr_frames = 1, .dom = DOMID_SELF, .status = 99};
    set_xen_guest_handle(g.frame_list, (uint64_t *)(uintptr_t)gva_in(da, LIST));
    memcpy(da->base + SCRATCH, &g, sizeof(g));
    ck_assert_int_eq(xs_gnttab_op(a0, GNTTABOP_get_status_frames, gva_in(da, SCRATCH), 1),
                     0);
    memcpy(&g, da->base + SCRATCH, sizeof(g));
    ck_assert_int_eq(g.status, GNTST_okay);
    ck_assert_uint_eq(list[0], ST_GFN);
    g.nr_frames = 2; /* one frame of 256 v2 entries needs one status frame */
    memcpy(da->base + SCRATCH, &g, sizeof(g));
    ck_assert_int_eq(xs_gnttab_op(a0, GNTTABOP_get_status_frames, gva_in(da, SCRATCH), 1),
                     0);
    memcpy(&g, da->base + SCRATCH, sizeof(g));
    ck_assert_int_eq(g.status, GNTST_general_error);
    g = (struct gnttab_get_status_frames){.nr_frames = 1, .dom = 2};
    memcpy(da->base + SCRATCH, &g, sizeof(g));
    ck_assert_int_eq(xs_gnttab_op(a0, GNTTABOP_get_status_frames, gva_in(da, SCRATCH), 1),
                     0);
    memcpy(&g, da->base + SCRATCH, sizeof(g));
    ck_assert_int_eq(g.status, GNTST_permission_denied);
    ck_assert_int_eq(xs_gnttab_op(a0, GNTTABOP_get_status_frames, gva_in(da, SCRATCH), 2),
                     -XEN_EINVAL);
    /* A status frame placed later than its shared frames grows the table. */
    ck_assert_int_eq(place(a0, XENMAPIDX_grant_table_status | 3, ST_GFN + 3), 0);
    ck_assert_uint_eq(xs_gnttab_nr_frames(da), 32);
    /* v2 -> v1: a reserved entry v1 cannot hold is refused. */
    e2(da, 2)->full_page.frame = 1ULL << 32;
    e2(da, 2)->hdr.flags = GTF_permit_access;
    ck_assert_int_eq(set_version(a0, 1, &now), -XEN_ERANGE);
    ck_assert_uint_eq(now, 2);
    e2(da, 2)->hdr.flags = GTF_transitive;
    ck_assert_int_eq(set_version(a0, 1, &now), -XEN_ERANGE);
    e2(da, 2)->hdr.flags = 0;
    *st2(da, 1) = GTF_reading; /* folded back into the v1 flags */
    uint8_t saved[PAGE];
    ck_assert_int_eq(set_version(a0, 1, &now), 0);
    ck_assert_uint_eq(now, 1);
    ck_assert_uint_eq(e1(da, 1)->flags, GTF_permit_access | GTF_readonly | GTF_reading);
    ck_assert_uint_eq(e1(da, 1)->frame, 0x1234);
    memset(saved, 0, sizeof(saved));
    ck_assert_mem_eq(page_of(da, ST_GFN), saved, PAGE); /* the status frame left */
    ck_assert_int_eq(place(a0, XENMAPIDX_grant_table_status, ST_GFN), -XEN_EINVAL);
}
END_TEST

START_TEST(version_switch_refused_while_mapped)
{
    grant_v1(da, 9, 2, DATA_GFN, GTF_permit_access);
    grant_v1(da, 5, 2, DATA_GFN + 1, GTF_permit_access);
    grant_handle_t h9, h5;
    ck_assert_int_eq(map(b0, 1, 9, MAP_GFN, RW, &h9), GNTST_okay);
    ck_assert_int_eq(map(b0, 1, 5, MAP_GFN + 1, RW, &h5), GNTST_okay);
    uint32_t now;
    ck_assert_int_eq(set_version(a0, 2, &now), -XEN_EBUSY);
    ck_assert_uint_eq(now, 1);
    ck_assert_int_eq(unmap(b0, MAP_GFN * PAGE, h9), GNTST_okay);
    /* Reserved entries may stay mapped (consoles, xenstore). */
    ck_assert_int_eq(set_version(a0, 2, &now), 0);
    ck_assert_uint_eq(e2(da, 5)->full_page.frame, DATA_GFN + 1);
    ck_assert_int_eq(unmap(b0, (MAP_GFN + 1) * PAGE, h5), GNTST_okay);
}
END_TEST

/* ---- mapping ------------------------------------------------------------ */

START_TEST(map_v1_two_domains)
{
    fill(da, DATA_GFN, 1);
    fill(db, MAP_GFN, 2);
    uint8_t mine[PAGE];
    memcpy(mine, page_of(db, MAP_GFN), PAGE);
    grant_v1(da, 10, 2, DATA_GFN, GTF_permit_access);
    grant_handle_t h;
    struct gnttab_map_grant_ref op = {
        .host_addr = MAP_GFN * PAGE + 0x123, .flags = RW, .ref = 10, .dom = 1};
    ck_assert_int_eq(gop(b0, GNTTABOP_map_grant_ref, &op, sizeof(op), 1), 0);
    ck_assert_int_eq(op.status, GNTST_okay);
    h = op.handle;
    ck_assert_uint_eq(op.dev_bus_addr, DATA_GFN * PAGE);
    /* B's frame shows A's page, both ways, byte for byte. */
    ck_assert_mem_eq(page_of(db, MAP_GFN), page_of(da, DATA_GFN), PAGE);
    memset(page_of(db, MAP_GFN) + 100, 0x77, 50);
    ck_assert_uint_eq(page_of(da, DATA_GFN)[120], 0x77);
    page_of(da, DATA_GFN)[4000] = 0x99;
    ck_assert_uint_eq(page_of(db, MAP_GFN)[4000], 0x99);
    ck_assert_uint_eq(e1(da, 10)->flags, GTF_permit_access | GTF_reading | GTF_writing);
    char what[128];
    ck_assert(xs_gnttab_describe_gpa(db, MAP_GFN * PAGE + 8, what, sizeof(what)));
    ck_assert_str_eq(what, "writable grant mapping of d1 ref 10 (handle 0)");
    ck_assert(!xs_gnttab_describe_gpa(db, DATA_GFN * PAGE, what, sizeof(what)));
    /* Unmap: B gets its own page back, A's entry its flags. */
    ck_assert_int_eq(unmap(b0, MAP_GFN * PAGE, h), GNTST_okay);
    ck_assert_mem_eq(page_of(db, MAP_GFN), mine, PAGE);
    ck_assert_uint_eq(e1(da, 10)->flags, GTF_permit_access);
    ck_assert_int_eq(unmap(b0, MAP_GFN * PAGE, h), GNTST_bad_handle);
    ck_assert_uint_eq(xs_gnttab_stats(db)->maps, 1);
    ck_assert_uint_eq(xs_gnttab_stats(db)->unmaps, 1);
    ck_assert_uint_eq(xs_gnttab_check_leaks(da) + xs_gnttab_check_leaks(db), 0);
}
END_TEST

START_TEST(map_both_ways_and_self)
{
    /* A maps B's page and B maps A's, in the same simulation; A also maps
     * its own grant elsewhere in its physmap. */
    fill(da, DATA_GFN, 3);
    fill(db, DATA_GFN, 4);
    grant_v1(da, 20, 2, DATA_GFN, GTF_permit_access);
    grant_v1(db, 21, 1, DATA_GFN, GTF_permit_access);
    grant_v1(da, 22, 1, DATA_GFN, GTF_permit_access);
    grant_handle_t ha, hb, hs;
    ck_assert_int_eq(map(a0, 2, 21, MAP_GFN, RW, &ha), GNTST_okay);
    ck_assert_int_eq(map(b0, 1, 20, MAP_GFN, RW, &hb), GNTST_okay);
    ck_assert_int_eq(map(a0, 1, 22, MAP_GFN + 1, RO, &hs), GNTST_okay);
    ck_assert_mem_eq(page_of(da, MAP_GFN), page_of(db, DATA_GFN), PAGE);
    ck_assert_mem_eq(page_of(db, MAP_GFN), page_of(da, DATA_GFN), PAGE);
    ck_assert_mem_eq(page_of(da, MAP_GFN + 1), page_of(da, DATA_GFN), PAGE);
    ck_assert_uint_ne(page_of(da, MAP_GFN)[7], page_of(db, MAP_GFN)[7]);
    ck_assert_int_eq(unmap(a0, MAP_GFN * PAGE, ha), GNTST_okay);
    ck_assert_int_eq(unmap(b0, MAP_GFN * PAGE, hb), GNTST_okay);
    ck_assert_int_eq(unmap(a0, (MAP_GFN + 1) * PAGE, hs), GNTST_okay);
}
END_TEST

START_TEST(map_readonly)
{
    fill(da, DATA_GFN, 5);
    grant_v1(da, 30, 2, DATA_GFN, GTF_permit_access | GTF_readonly);
    ck_assert_int_eq(map(b0, 1, 30, MAP_GFN, RW, NULL), GNTST_general_error);
    ck_assert_uint_eq(e1(da, 30)->flags, GTF_permit_access | GTF_readonly);
    grant_handle_t h;
    ck_assert_int_eq(map(b0, 1, 30, MAP_GFN, RO, &h), GNTST_okay);
    ck_assert_uint_eq(e1(da, 30)->flags, GTF_permit_access | GTF_readonly | GTF_reading);
    ck_assert_mem_eq(page_of(db, MAP_GFN), page_of(da, DATA_GFN), PAGE);
    /* The page is really read-only: a guest write faults and ends the
     * domain with the description below (Xen would drop the write). */
    ck_assert(!host_writable(page_of(db, MAP_GFN)));
    ck_assert(host_writable(page_of(db, MAP_GFN + 1)));
    char what[128];
    ck_assert(xs_gnttab_describe_gpa(db, MAP_GFN * PAGE, what, sizeof(what)));
    /* Handle 1: the refused map had 0, and freed handles go to the back. */
    ck_assert_str_eq(what, "read-only grant mapping of d1 ref 30 (handle 1)");
    ck_assert(xs_gnttab_gpa_readonly(db, MAP_GFN * PAGE - 1, 2));
    ck_assert(!xs_gnttab_gpa_readonly(db, MAP_GFN * PAGE - 1, 1));
    /* xensim's writes there are dropped, as Xen's copy_to_guest drops them
     * (a discard-write page): a hypercall's result, or part of one. */
    uint8_t before[PAGE], two[2] = {0xfe, 0xfe};
    memcpy(before, page_of(db, MAP_GFN), PAGE);
    ck_assert_int_eq(gop_raw(b0, GNTTABOP_query_size, gva_in(db, MAP_GFN * PAGE), 1), 0);
    ck_assert_int_eq(xs_copy_to_guest(db, gva_in(db, MAP_GFN * PAGE - 1), two, 2), 0);
    ck_assert_uint_eq(page_of(db, MAP_GFN - 1)[PAGE - 1], 0xfe);
    ck_assert_mem_eq(page_of(db, MAP_GFN), before, PAGE);
    /* A read-only map of a writable grant sets only GTF_reading; a
     * writable one then adds GTF_writing, and unmapping it removes it. */
    grant_v1(da, 31, 2, DATA_GFN + 1, GTF_permit_access);
    grant_handle_t r, w;
    ck_assert_int_eq(map(b0, 1, 31, MAP_GFN + 2, RO, &r), GNTST_okay);
    ck_assert_uint_eq(e1(da, 31)->flags, GTF_permit_access | GTF_reading);
    ck_assert_int_eq(map(b0, 1, 31, MAP_GFN + 3, RW, &w), GNTST_okay);
    ck_assert_uint_eq(e1(da, 31)->flags, GTF_permit_access | GTF_reading | GTF_writing);
    ck_assert_int_eq(unmap(b0, (MAP_GFN + 3) * PAGE, w), GNTST_okay);
    ck_assert_uint_eq(e1(da, 31)->flags, GTF_permit_access | GTF_reading);
    ck_assert_int_eq(unmap(b0, (MAP_GFN + 2) * PAGE, r), GNTST_okay);
    ck_assert_uint_eq(e1(da, 31)->flags, GTF_permit_access);
    ck_assert_int_eq(unmap(b0, MAP_GFN * PAGE, h), GNTST_okay);
    ck_assert(host_writable(page_of(db, MAP_GFN)));
    ck_assert(!xs_gnttab_gpa_readonly(db, MAP_GFN * PAGE, PAGE));
}
END_TEST

START_TEST(map_errors)
{
    grant_v1(da, 40, 2, DATA_GFN, GTF_permit_access);
    /* Flags. */
    ck_assert_int_eq(map(b0, 1, 40, MAP_GFN, 0, NULL), GNTST_bad_gntref);
    ck_assert_int_eq(map(b0, 1, 40, MAP_GFN, GNTMAP_readonly, NULL), GNTST_bad_gntref);
    ck_assert_int_eq(map(b0, 1, 40, MAP_GFN, GNTMAP_device_map, NULL),
                     GNTST_general_error);
    ck_assert_int_eq(map(b0, 1, 40, MAP_GFN, RW | GNTMAP_application_map, NULL),
                     GNTST_general_error);
    ck_assert_int_eq(map(b0, 1, 40, MAP_GFN, RW | GNTMAP_contains_pte, NULL),
                     GNTST_general_error);
    ck_assert_int_eq(map(b0, 1, 40, MAP_GFN, RW | (1u << _GNTMAP_guest_avail0), NULL),
                     GNTST_general_error);
    /* Domains: DOMID_SELF is not a domain id here. */
    ck_assert_int_eq(map(b0, DOMID_SELF, 40, MAP_GFN, RW, NULL), GNTST_bad_domain);
    ck_assert_int_eq(map(b0, NO_DOMID, 40, MAP_GFN, RW, NULL), GNTST_bad_domain);
    ck_assert_int_eq(map(b0, 0, 40, MAP_GFN, RW, NULL), GNTST_bad_domain);
    /* References. */
    ck_assert_int_eq(map(b0, 1, 512, MAP_GFN, RW, NULL), GNTST_bad_gntref);
    ck_assert_int_eq(map(b0, 1, ~0u, MAP_GFN, RW, NULL), GNTST_bad_gntref);
    ck_assert_int_eq(map(b0, 1, 41, MAP_GFN, RW, NULL),
                     GNTST_general_error);            /* invalid */
    grant_v1(da, 41, 3, DATA_GFN, GTF_permit_access); /* for someone else */
    ck_assert_int_eq(map(b0, 1, 41, MAP_GFN, RW, NULL), GNTST_general_error);
    grant_v1(da, 41, 2, DATA_GFN, GTF_accept_transfer);
    ck_assert_int_eq(map(b0, 1, 41, MAP_GFN, RW, NULL), GNTST_general_error);
    grant_v1(da, 41, 2, DATA_GFN, GTF_permit_access | GTF_sub_page);
    ck_assert_int_eq(map(b0, 1, 41, MAP_GFN, RW, NULL), GNTST_general_error);
    /* Frames the granter does not own. */
    grant_v1(da, 42, 2, RAM_PAGES, GTF_permit_access);
    ck_assert_int_eq(map(b0, 1, 42, MAP_GFN, RW, NULL), GNTST_bad_page);
    ck_assert_uint_eq(e1(da, 42)->flags, GTF_permit_access); /* status cleared again */
    grant_v1(da, 42, 2, 0xffffffffu, GTF_permit_access);
    ck_assert_int_eq(map(b0, 1, 42, MAP_GFN, RW, NULL), GNTST_bad_page);
    /* A page A itself maps from C cannot be granted on. */
    grant_v1(dc, 43, 1, DATA_GFN, GTF_permit_access);
    grant_handle_t hc;
    ck_assert_int_eq(map(a0, 3, 43, MAP_GFN, RW, &hc), GNTST_okay);
    grant_v1(da, 43, 2, MAP_GFN, GTF_permit_access);
    ck_assert_int_eq(map(b0, 1, 43, MAP_GFN, RW, NULL), GNTST_bad_page);
    /* Addresses: past the domain's address-space window. */
    ck_assert_int_eq(map(b0, 1, 40, XS_SLOT_SIZE / PAGE, RW, NULL), GNTST_general_error);
    ck_assert_int_eq(map(b0, 1, 40, ~0ULL / PAGE, RW, NULL), GNTST_general_error);
    ck_assert_uint_eq(e1(da, 40)->flags, GTF_permit_access); /* every failure undone */
    /* Past RAM but inside the window is fine (unpopulated space). */
    grant_handle_t h;
    ck_assert_int_eq(map(b0, 1, 40, RAM_PAGES + 5, RW, &h), GNTST_okay);
    ck_assert_int_eq(unmap(b0, (RAM_PAGES + 5) * PAGE, h), GNTST_okay);
    ck_assert_int_eq(unmap(a0, MAP_GFN * PAGE, hc), GNTST_okay);
    /* A grant pinned by B cannot be mapped by C, even if A rewrites it. */
    ck_assert_int_eq(map(b0, 1, 40, MAP_GFN, RW, &h), GNTST_okay);
    e1(da, 40)->domid = 3;
    ck_assert_int_eq(map(c0, 1, 40, MAP_GFN, RW, NULL), GNTST_general_error);
    e1(da, 40)->domid = 2;
    ck_assert_int_eq(unmap(b0, MAP_GFN * PAGE, h), GNTST_okay);
    ck_assert_uint_eq(xs_gnttab_check_leaks(da) + xs_gnttab_check_leaks(db), 0);
}
END_TEST

START_TEST(map_over_mapping_crashes)
{
    grant_v1(da, 44, 2, DATA_GFN, GTF_permit_access);
    grant_v1(da, 45, 2, DATA_GFN + 1, GTF_permit_access);
    grant_handle_t h;
    ck_assert_int_eq(map(b0, 1, 44, MAP_GFN, RW, &h), GNTST_okay);
    ck_assert_int_eq(db->end_state, XS_END_RUNNING);
    ck_assert_int_eq(map(b0, 1, 45, MAP_GFN, RW, NULL), GNTST_general_error);
    ck_assert_int_eq(db->end_state, XS_END_FAULT);
    ck_assert_ptr_nonnull(strstr(log_text(), "already shows a grant mapping"));
    ck_assert_uint_eq(e1(da, 45)->flags, GTF_permit_access);
    /* A special page cannot be put over a grant mapping either. */
    ck_assert_int_eq(place(b0, 0, MAP_GFN), -XEN_EPERM);
    ck_assert_int_eq(add_to_physmap(b0, XENMAPSPACE_shared_info, 0, MAP_GFN), -XEN_EPERM);
    ck_assert_int_eq(unmap(b0, MAP_GFN * PAGE, h), GNTST_okay);
    ck_assert_int_eq(place(b0, 0, MAP_GFN), 0);
}
END_TEST

START_TEST(map_over_vcpu_info_refused)
{
    /* xensim writes a registered vcpu_info through the guest frame. */
    grant_v1(da, 48, 2, DATA_GFN, GTF_permit_access);
    b0->vcpu_info_gpa = MAP_GFN * PAGE + PAGE - 8; /* straddles two frames */
    ck_assert_int_eq(map(b0, 1, 48, MAP_GFN, RW, NULL), GNTST_general_error);
    ck_assert_int_eq(map(b0, 1, 48, MAP_GFN + 1, RO, NULL), GNTST_general_error);
    ck_assert_ptr_nonnull(strstr(log_text(), "holds a registered vcpu_info"));
    ck_assert_uint_eq(e1(da, 48)->flags, GTF_permit_access);
    grant_handle_t h;
    ck_assert_int_eq(map(b0, 1, 48, MAP_GFN + 2, RW, &h), GNTST_okay);
    ck_assert(xs_gnttab_gfn_is_mapping(db, MAP_GFN + 2));
    ck_assert(!xs_gnttab_gfn_is_mapping(db, MAP_GFN + 1));
    ck_assert(!xs_gnttab_gfn_is_mapping(da, MAP_GFN + 2));
    /* Nor is a hypercall page written over a granted page (Xen: #GP). */
    ck_assert_int_eq(xs_hypercall_page_fill(b0, (MAP_GFN + 2) * PAGE), -1);
    ck_assert_int_eq(unmap(b0, (MAP_GFN + 2) * PAGE, h), GNTST_okay);
    ck_assert(!xs_gnttab_gfn_is_mapping(db, MAP_GFN + 2));
    b0->vcpu_info_gpa = XS_NO_GPA;
}
END_TEST

START_TEST(map_over_special_page)
{
    /* A grant mapped over a grant frame or shared_info unhooks it, as Xen
     * unhooks special pages; the frame shows RAM after the unmap. */
    ck_assert_int_eq(add_to_physmap(b0, XENMAPSPACE_shared_info, 0, MAP_GFN + 1), 0);
    ck_assert_int_eq(place(b0, 1, MAP_GFN), 0);
    grant_v1(da, 46, 2, DATA_GFN, GTF_permit_access);
    grant_v1(da, 47, 2, DATA_GFN, GTF_permit_access);
    grant_handle_t h1, h2;
    ck_assert_int_eq(map(b0, 1, 46, MAP_GFN, RW, &h1), GNTST_okay);
    ck_assert_int_eq(map(b0, 1, 47, MAP_GFN + 1, RW, &h2), GNTST_okay);
    ck_assert_uint_eq(db->shared_info_gpfn, XS_NO_GPA);
    xen_pfn_t *list = (xen_pfn_t *)(db->base + LIST);
    struct gnttab_setup_table s = {.dom = DOMID_SELF, .nr_frames = 2, .status = 99};
    set_xen_guest_handle(s.frame_list, (xen_pfn_t *)(uintptr_t)gva_in(db, LIST));
    ck_assert_int_eq(gop(b0, GNTTABOP_setup_table, &s, sizeof(s), 1), 0);
    ck_assert_uint_eq(list[0], GT_GFN);
    ck_assert_uint_eq(list[1], XS_GNTTAB_NO_GFN);
    ck_assert_int_eq(unmap(b0, MAP_GFN * PAGE, h1), GNTST_okay);
    ck_assert_int_eq(unmap(b0, (MAP_GFN + 1) * PAGE, h2), GNTST_okay);
}
END_TEST

START_TEST(unmap_errors)
{
    grant_v1(da, 50, 2, DATA_GFN, GTF_permit_access);
    grant_handle_t h;
    ck_assert_int_eq(map(b0, 1, 50, MAP_GFN, RW, &h), GNTST_okay);
    ck_assert_int_eq(unmap(b0, MAP_GFN * PAGE, h + 1), GNTST_bad_handle); /* free */
    ck_assert_int_eq(unmap(b0, MAP_GFN * PAGE, 256), GNTST_bad_handle);   /* past limit */
    ck_assert_int_eq(unmap(b0, MAP_GFN * PAGE, ~0u), GNTST_bad_handle);
    ck_assert_int_eq(unmap(b0, (MAP_GFN + 1) * PAGE, h), GNTST_general_error);
    /* Xen ignores a zero host_addr: nothing happens, the mapping stays. */
    ck_assert_int_eq(unmap(b0, 0, h), GNTST_okay);
    ck_assert_uint_eq(e1(da, 50)->flags, GTF_permit_access | GTF_reading | GTF_writing);
    /* Another domain's handle means nothing to C. */
    ck_assert_int_eq(unmap(c0, MAP_GFN * PAGE, h), GNTST_bad_handle);
    ck_assert_int_eq(unmap(b0, MAP_GFN * PAGE + 0xfff, h), GNTST_okay);
    ck_assert_int_eq(unmap(b0, MAP_GFN * PAGE, h), GNTST_bad_handle);
}
END_TEST

START_TEST(batches)
{
    fill(da, DATA_GFN, 6);
    fill(da, DATA_GFN + 1, 7);
    grant_v1(da, 60, 2, DATA_GFN, GTF_permit_access);
    grant_v1(da, 61, 2, DATA_GFN + 1, GTF_permit_access | GTF_readonly);
    struct gnttab_map_grant_ref m[4] = {
        {.host_addr = MAP_GFN * PAGE, .flags = RW, .ref = 60, .dom = 1},
        {.host_addr = (MAP_GFN + 1) * PAGE, .flags = RW, .ref = 61, .dom = 1},
        {.host_addr = (MAP_GFN + 1) * PAGE, .flags = RO, .ref = 61, .dom = 1},
        {.host_addr = (MAP_GFN + 2) * PAGE, .flags = RW, .ref = 62, .dom = 1},
    };
    ck_assert_int_eq(gop(b0, GNTTABOP_map_grant_ref, m, sizeof(m[0]), 4), 0);
    ck_assert_int_eq(m[0].status, GNTST_okay);
    ck_assert_int_eq(m[1].status, GNTST_general_error);
    ck_assert_int_eq(m[2].status, GNTST_okay);
    ck_assert_int_eq(m[3].status, GNTST_general_error);
    ck_assert_uint_ne(m[0].handle, m[2].handle);
    ck_assert_mem_eq(page_of(db, MAP_GFN + 1), page_of(da, DATA_GFN + 1), PAGE);
    struct gnttab_unmap_grant_ref u[3] = {
        {.host_addr = MAP_GFN * PAGE, .handle = m[0].handle},
        {.host_addr = MAP_GFN * PAGE, .handle = m[0].handle}, /* twice */
        {.host_addr = (MAP_GFN + 1) * PAGE, .handle = m[2].handle},
    };
    ck_assert_int_eq(gop(b0, GNTTABOP_unmap_grant_ref, u, sizeof(u[0]), 3), 0);
    ck_assert_int_eq(u[0].status, GNTST_okay);
    ck_assert_int_eq(u[1].status, GNTST_bad_handle);
    ck_assert_int_eq(u[2].status, GNTST_okay);
    /* A batch running off RAM: the ops before the edge are done. */
    uint64_t at = RAM_BYTES - sizeof(struct gnttab_map_grant_ref);
    struct gnttab_map_grant_ref last = {
        .host_addr = MAP_GFN * PAGE, .flags = RW, .ref = 60, .dom = 1, .status = 99};
    memcpy(db->base + at, &last, sizeof(last));
    ck_assert_int_eq(gop_raw(b0, GNTTABOP_map_grant_ref, gva_in(db, at), 2), -XEN_EFAULT);
    memcpy(&last, db->base + at, sizeof(last));
    ck_assert_int_eq(last.status, GNTST_okay);
    struct gnttab_unmap_grant_ref ul = {.host_addr = MAP_GFN * PAGE,
                                        .handle = last.handle};
    ck_assert_int_eq(gop(b0, GNTTABOP_unmap_grant_ref, &ul, sizeof(ul), 1), 0);
    ck_assert_int_eq(ul.status, GNTST_okay);
    /* Handles are reused oldest-freed first. */
    grant_handle_t h;
    ck_assert_int_eq(map(b0, 1, 60, MAP_GFN, RW, &h), GNTST_okay);
    ck_assert_uint_ge(h, 3);
    ck_assert_int_eq(unmap(b0, MAP_GFN * PAGE, h), GNTST_okay);
}
END_TEST

START_TEST(pin_limit)
{
    /* Xen's 8-bit pin counters: 128 read-only maps, not 129. */
    grant_v1(da, 70, 2, DATA_GFN, GTF_permit_access);
    grant_handle_t h[129];
    for (unsigned i = 0; i < 128; i++)
        ck_assert_int_eq(map(b0, 1, 70, MAP_GFN + i, RO, &h[i]), GNTST_okay);
    ck_assert_int_eq(map(b0, 1, 70, MAP_GFN + 128, RO, NULL), GNTST_general_error);
    ck_assert_int_eq(map(b0, 1, 70, MAP_GFN + 128, RW, &h[128]), GNTST_okay);
    ck_assert_uint_eq(e1(da, 70)->flags, GTF_permit_access | GTF_reading | GTF_writing);
    for (unsigned i = 0; i < 129; i++)
        ck_assert_int_eq(unmap(b0, (MAP_GFN + i) * PAGE, h[i]), GNTST_okay);
    ck_assert_uint_eq(e1(da, 70)->flags, GTF_permit_access);
}
END_TEST

START_TEST(map_v2)
{
    uint32_t now;
    ck_assert_int_eq(set_version(a0, 2, &now), 0);
    ck_assert_int_eq(place(a0, XENMAPIDX_grant_table_status, ST_GFN), 0);
    fill(da, DATA_GFN, 8);
    grant_v2(da, 80, 2, DATA_GFN, GTF_permit_access);
    grant_handle_t h;
    ck_assert_int_eq(map(b0, 1, 80, MAP_GFN, RW, &h), GNTST_okay);
    ck_assert_mem_eq(page_of(db, MAP_GFN), page_of(da, DATA_GFN), PAGE);
    /* v2: the bits go to the status frame, the entry is the guest's. */
    ck_assert_uint_eq(*st2(da, 80), GTF_reading | GTF_writing);
    ck_assert_uint_eq(e2(da, 80)->hdr.flags, GTF_permit_access);
    ck_assert_int_eq(unmap(b0, MAP_GFN * PAGE, h), GNTST_okay);
    ck_assert_uint_eq(*st2(da, 80), 0);
    /* Entries above v1's 32-bit frame field. */
    grant_v2(da, 81, 2, 1ULL << 40, GTF_permit_access);
    ck_assert_int_eq(map(b0, 1, 81, MAP_GFN, RW, NULL), GNTST_bad_page);
    ck_assert_uint_eq(*st2(da, 81), 0);
    /* Sub-page and transitive grants cannot be mapped. */
    e2(da, 82)->sub_page.hdr.domid = 2;
    e2(da, 82)->sub_page.frame = DATA_GFN;
    e2(da, 82)->sub_page.page_off = 0;
    e2(da, 82)->sub_page.length = 100;
    e2(da, 82)->hdr.flags = GTF_permit_access | GTF_sub_page;
    ck_assert_int_eq(map(b0, 1, 82, MAP_GFN, RW, NULL), GNTST_general_error);
    e2(da, 83)->transitive.hdr.domid = 2;
    e2(da, 83)->transitive.trans_domid = 3;
    e2(da, 83)->transitive.gref = 1;
    e2(da, 83)->hdr.flags = GTF_transitive;
    ck_assert_int_eq(map(b0, 1, 83, MAP_GFN, RW, NULL), GNTST_general_error);
    ck_assert_uint_eq(*st2(da, 83), 0);
    /* v2 has 256 entries per frame. */
    ck_assert_int_eq(map(b0, 1, 256, MAP_GFN, RW, NULL), GNTST_bad_gntref);
    grant_v2(da, 84, 2, DATA_GFN, GTF_permit_access | GTF_readonly);
    ck_assert_int_eq(map(b0, 1, 84, MAP_GFN, RW, NULL), GNTST_general_error);
    ck_assert_uint_eq(*st2(da, 84), 0);
    ck_assert_int_eq(map(b0, 1, 84, MAP_GFN, RO, &h), GNTST_okay);
    ck_assert_uint_eq(*st2(da, 84), GTF_reading);
    ck_assert_int_eq(unmap(b0, MAP_GFN * PAGE, h), GNTST_okay);
}
END_TEST

/* ---- copying ------------------------------------------------------------ */

START_TEST(copy_both_directions)
{
    fill(da, DATA_GFN, 9);
    fill(db, DATA_GFN, 10);
    grant_v1(da, 90, 2, DATA_GFN, GTF_permit_access);
    /* Out of A's grant into B's own page. */
    ck_assert_int_eq(copy1(b0, cp_ref_to_gmfn(1, 90, 0, DATA_GFN + 1, 0, PAGE)),
                     GNTST_okay);
    ck_assert_mem_eq(page_of(db, DATA_GFN + 1), page_of(da, DATA_GFN), PAGE);
    ck_assert_uint_eq(e1(da, 90)->flags, GTF_permit_access); /* pin gone again */
    /* From B's page into A's grant, at offsets. */
    ck_assert_int_eq(copy1(b0, cp_gmfn_to_ref(DATA_GFN, 100, 1, 90, 2000, 1000)),
                     GNTST_okay);
    ck_assert_mem_eq(page_of(da, DATA_GFN) + 2000, page_of(db, DATA_GFN) + 100, 1000);
    /* A grant named through DOMID_SELF is the caller's own. */
    grant_v1(db, 91, 2, DATA_GFN, GTF_permit_access);
    ck_assert_int_eq(copy1(b0, cp_ref_to_gmfn(DOMID_SELF, 91, 0, DATA_GFN + 2, 0, 64)),
                     GNTST_okay);
    ck_assert_mem_eq(page_of(db, DATA_GFN + 2), page_of(db, DATA_GFN), 64);
    /* Third party: C copies from A's grant to B's grant, both to C. */
    grant_v1(da, 92, 3, DATA_GFN + 3, GTF_permit_access | GTF_readonly);
    grant_v1(db, 93, 3, DATA_GFN + 3, GTF_permit_access);
    fill(da, DATA_GFN + 3, 11);
    struct gnttab_copy c = {.len = 512, .flags = GNTCOPY_source_gref | GNTCOPY_dest_gref};
    c.source.u.ref = 92;
    c.source.domid = 1;
    c.source.offset = 512;
    c.dest.u.ref = 93;
    c.dest.domid = 2;
    c.dest.offset = 3584;
    ck_assert_int_eq(copy1(c0, c), GNTST_okay);
    ck_assert_mem_eq(page_of(db, DATA_GFN + 3) + 3584, page_of(da, DATA_GFN + 3) + 512,
                     512);
    /* Own frames only. */
    ck_assert_int_eq(copy1(b0, cp_gmfn_to_ref(DATA_GFN, 0, 1, 90, 0, 8)), GNTST_okay);
    /* Copy from a page B maps from A: Xen sees a grant mapping, not RAM. */
    grant_handle_t h;
    ck_assert_int_eq(map(b0, 1, 90, MAP_GFN, RO, &h), GNTST_okay);
    ck_assert_int_eq(copy1(b0, cp_gmfn_to_ref(MAP_GFN, 0, 1, 90, 0, 8)), GNTST_bad_page);
    /* A copy alongside a mapping keeps the mapping's status bits. */
    ck_assert_int_eq(copy1(b0, cp_ref_to_gmfn(1, 90, 0, DATA_GFN + 1, 0, 8)), GNTST_okay);
    ck_assert_uint_eq(e1(da, 90)->flags, GTF_permit_access | GTF_reading);
    ck_assert_int_eq(unmap(b0, MAP_GFN * PAGE, h), GNTST_okay);
    ck_assert_uint_eq(xs_gnttab_stats(db)->copies, 5);
}
END_TEST

START_TEST(copy_errors)
{
    grant_v1(da, 100, 2, DATA_GFN, GTF_permit_access);
    grant_v1(da, 101, 2, DATA_GFN, GTF_permit_access | GTF_readonly);
    /* gmfn only with DOMID_SELF, not even the caller's own id. */
    struct gnttab_copy c = cp_ref_to_gmfn(1, 100, 0, DATA_GFN, 0, 8);
    c.dest.domid = 2;
    ck_assert_int_eq(copy1(b0, c), GNTST_permission_denied);
    c = cp_gmfn_to_ref(DATA_GFN, 0, 1, 100, 0, 8);
    c.source.domid = 1;
    ck_assert_int_eq(copy1(b0, c), GNTST_permission_denied);
    ck_assert_int_eq(copy1(b0, cp_ref_to_gmfn(NO_DOMID, 100, 0, DATA_GFN, 0, 8)),
                     GNTST_bad_domain);
    ck_assert_int_eq(copy1(b0, cp_gmfn_to_ref(DATA_GFN, 0, NO_DOMID, 100, 0, 8)),
                     GNTST_bad_domain);
    ck_assert_int_eq(copy1(b0, cp_ref_to_gmfn(1, 512, 0, DATA_GFN, 0, 8)),
                     GNTST_bad_gntref);
    ck_assert_int_eq(copy1(b0, cp_ref_to_gmfn(1, ~0u, 0, DATA_GFN, 0, 8)),
                     GNTST_bad_gntref);
    ck_assert_int_eq(copy1(c0, cp_ref_to_gmfn(1, 100, 0, DATA_GFN, 0, 8)),
                     GNTST_general_error); /* not granted to C */
    ck_assert_int_eq(copy1(b0, cp_ref_to_gmfn(1, 102, 0, DATA_GFN, 0, 8)),
                     GNTST_general_error); /* no grant */
    ck_assert_int_eq(copy1(b0, cp_ref_to_gmfn(1, 100, 0, RAM_PAGES, 0, 8)),
                     GNTST_bad_page);
    ck_assert_int_eq(copy1(b0, cp_gmfn_to_ref(~0ULL, 0, 1, 100, 0, 8)), GNTST_bad_page);
    /* Read-only grants cannot be written. */
    ck_assert_int_eq(copy1(b0, cp_gmfn_to_ref(DATA_GFN, 0, 1, 101, 0, 8)),
                     GNTST_general_error);
    ck_assert_int_eq(copy1(b0, cp_ref_to_gmfn(1, 101, 0, DATA_GFN, 0, 8)), GNTST_okay);
    /* Offsets and lengths: nothing may cross the page. */
    ck_assert_int_eq(copy1(b0, cp_ref_to_gmfn(1, 100, 4095, DATA_GFN, 0, 2)),
                     GNTST_bad_copy_arg);
    ck_assert_int_eq(copy1(b0, cp_ref_to_gmfn(1, 100, 0, DATA_GFN, 4095, 2)),
                     GNTST_bad_copy_arg);
    ck_assert_int_eq(copy1(b0, cp_ref_to_gmfn(1, 100, 0xffff, DATA_GFN, 0, 0xffff)),
                     GNTST_bad_copy_arg);
    ck_assert_int_eq(copy1(b0, cp_ref_to_gmfn(1, 100, 0, DATA_GFN, 0, PAGE + 1)),
                     GNTST_bad_copy_arg);
    ck_assert_int_eq(copy1(b0, cp_ref_to_gmfn(1, 100, 4096, DATA_GFN, 0, 0)), GNTST_okay);
    /* A bad grant wins over bad offsets (claimed first, as in Xen). */
    ck_assert_int_eq(copy1(b0, cp_ref_to_gmfn(1, 102, 4095, DATA_GFN, 0, 2)),
                     GNTST_general_error);
    /* Every failure left the entries as they were. */
    ck_assert_uint_eq(e1(da, 100)->flags, GTF_permit_access);
    ck_assert_uint_eq(e1(da, 101)->flags, GTF_permit_access | GTF_readonly);
    /* Batch with per-op status. */
    struct gnttab_copy cs[3] = {cp_ref_to_gmfn(1, 100, 0, DATA_GFN, 0, 8),
                                cp_ref_to_gmfn(1, 102, 0, DATA_GFN, 0, 8),
                                cp_ref_to_gmfn(1, 100, 8, DATA_GFN, 8, 8)};
    ck_assert_int_eq(gop(b0, GNTTABOP_copy, cs, sizeof(cs[0]), 3), 0);
    ck_assert_int_eq(cs[0].status, GNTST_okay);
    ck_assert_int_eq(cs[1].status, GNTST_general_error);
    ck_assert_int_eq(cs[2].status, GNTST_okay);
}
END_TEST

START_TEST(copy_v2_sub_page_and_transitive)
{
    uint32_t now;
    ck_assert_int_eq(set_version(a0, 2, &now), 0);
    ck_assert_int_eq(place(a0, XENMAPIDX_grant_table_status, ST_GFN), 0);
    fill(da, DATA_GFN, 12);
    /* Sub-page: B may copy [1000, 1100) only. */
    e2(da, 110)->sub_page.hdr.domid = 2;
    e2(da, 110)->sub_page.frame = DATA_GFN;
    e2(da, 110)->sub_page.page_off = 1000;
    e2(da, 110)->sub_page.length = 100;
    e2(da, 110)->hdr.flags = GTF_permit_access | GTF_sub_page;
    ck_assert_int_eq(copy1(b0, cp_ref_to_gmfn(1, 110, 1000, DATA_GFN, 0, 100)),
                     GNTST_okay);
    ck_assert_mem_eq(page_of(db, DATA_GFN), page_of(da, DATA_GFN) + 1000, 100);
    ck_assert_int_eq(copy1(b0, cp_ref_to_gmfn(1, 110, 999, DATA_GFN, 0, 10)),
                     GNTST_general_error);
    ck_assert_int_eq(copy1(b0, cp_ref_to_gmfn(1, 110, 1050, DATA_GFN, 0, 51)),
                     GNTST_general_error);
    ck_assert_uint_eq(*st2(da, 110), 0);
    /* Transitive: A passes C's grant on to B; B copies from C's page. */
    fill(dc, DATA_GFN, 13);
    grant_v1(dc, 111, 1, DATA_GFN, GTF_permit_access);
    e2(da, 112)->transitive.hdr.domid = 2;
    e2(da, 112)->transitive.trans_domid = 3;
    e2(da, 112)->transitive.gref = 111;
    e2(da, 112)->hdr.flags = GTF_transitive;
    ck_assert_int_eq(copy1(b0, cp_ref_to_gmfn(1, 112, 0, DATA_GFN + 1, 0, PAGE)),
                     GNTST_okay);
    ck_assert_mem_eq(page_of(db, DATA_GFN + 1), page_of(dc, DATA_GFN), PAGE);
    ck_assert_int_eq(copy1(b0, cp_gmfn_to_ref(DATA_GFN, 0, 1, 112, 10, 20)), GNTST_okay);
    ck_assert_mem_eq(page_of(dc, DATA_GFN) + 10, page_of(db, DATA_GFN), 20);
    ck_assert_uint_eq(*st2(da, 112), 0);
    ck_assert_uint_eq(e1(dc, 111)->flags, GTF_permit_access);
    /* One level only, and never back to the granter itself. */
    e2(da, 113)->transitive.hdr.domid = 2;
    e2(da, 113)->transitive.trans_domid = 1;
    e2(da, 113)->transitive.gref = 112;
    e2(da, 113)->hdr.flags = GTF_transitive;
    ck_assert_int_eq(copy1(b0, cp_ref_to_gmfn(1, 113, 0, DATA_GFN, 0, 8)),
                     GNTST_general_error);
    e2(da, 113)->transitive.trans_domid = NO_DOMID;
    ck_assert_int_eq(copy1(b0, cp_ref_to_gmfn(1, 113, 0, DATA_GFN, 0, 8)),
                     GNTST_general_error);
    grant_v1(dc, 114, 2, DATA_GFN, GTF_permit_access); /* names B, not A */
    e2(da, 113)->transitive.trans_domid = 3;
    e2(da, 113)->transitive.gref = 114;
    ck_assert_int_eq(copy1(b0, cp_ref_to_gmfn(1, 113, 0, DATA_GFN, 0, 8)),
                     GNTST_general_error);
    ck_assert_uint_eq(*st2(da, 113), 0);
    ck_assert_uint_eq(e1(dc, 114)->flags, GTF_permit_access);
}
END_TEST

START_TEST(swap_refs)
{
    grant_v1(da, 120, 2, DATA_GFN, GTF_permit_access);
    grant_v1(da, 121, 3, DATA_GFN + 1, GTF_permit_access | GTF_readonly);
    struct gnttab_swap_grant_ref s[4] = {
        {.ref_a = 120, .ref_b = 121, .status = 99},
        {.ref_a = 5, .ref_b = 5, .status = 99},
        {.ref_a = 512, .ref_b = 1, .status = 99},
        {.ref_a = 1, .ref_b = ~0u, .status = 99},
    };
    ck_assert_int_eq(gop(a0, GNTTABOP_swap_grant_ref, s, sizeof(s[0]), 4), 0);
    ck_assert_int_eq(s[0].status, GNTST_okay);
    ck_assert_int_eq(s[1].status, GNTST_okay);
    ck_assert_int_eq(s[2].status, GNTST_bad_gntref);
    ck_assert_int_eq(s[3].status, GNTST_bad_gntref);
    ck_assert_uint_eq(e1(da, 120)->domid, 3);
    ck_assert_uint_eq(e1(da, 121)->frame, DATA_GFN);
    grant_handle_t h;
    ck_assert_int_eq(map(b0, 1, 121, MAP_GFN, RW, &h), GNTST_okay);
    struct gnttab_swap_grant_ref busy = {.ref_a = 120, .ref_b = 121};
    ck_assert_int_eq(gop(a0, GNTTABOP_swap_grant_ref, &busy, sizeof(busy), 1), 0);
    ck_assert_int_eq(busy.status, GNTST_eagain);
    ck_assert_int_eq(unmap(b0, MAP_GFN * PAGE, h), GNTST_okay);
}
END_TEST

/* ---- sanitizer ------------------------------------------------------------ */

START_TEST(ended_while_mapped)
{
    grant_v1(da, 130, 2, DATA_GFN, GTF_permit_access);
    grant_handle_t h;
    ck_assert_int_eq(map(b0, 1, 130, MAP_GFN, RW, &h), GNTST_okay);
    /* A frontend that revokes a grant still mapped (no check of
     * GTF_reading/GTF_writing first). */
    e1(da, 130)->flags = 0;
    ck_assert_uint_eq(xs_gnttab_stats(da)->ended_while_mapped, 0);
    ck_assert_int_eq(unmap(b0, MAP_GFN * PAGE, h), GNTST_okay);
    ck_assert_uint_eq(xs_gnttab_stats(da)->ended_while_mapped, 1);
    ck_assert_ptr_nonnull(strstr(log_text(),
                                 "d1 (a) ended access to grant ref 130 (frame "
                                 "0xb00) while d2 (b) still maps it"));
    /* Detected on the next operation touching the ref, reported once. */
    grant_v1(da, 131, 2, DATA_GFN, GTF_permit_access);
    grant_handle_t h1, h2;
    ck_assert_int_eq(map(b0, 1, 131, MAP_GFN, RO, &h1), GNTST_okay);
    e1(da, 131)->domid = 3; /* rewritten for someone else */
    ck_assert_int_eq(copy1(b0, cp_ref_to_gmfn(1, 131, 0, DATA_GFN, 0, 8)), GNTST_okay);
    ck_assert_uint_eq(xs_gnttab_stats(da)->ended_while_mapped, 2);
    ck_assert_int_eq(map(b0, 1, 131, MAP_GFN + 1, RO, &h2), GNTST_okay);
    ck_assert_int_eq(unmap(b0, MAP_GFN * PAGE, h1), GNTST_okay);
    ck_assert_uint_eq(xs_gnttab_stats(da)->ended_while_mapped, 2);
    ck_assert_int_eq(unmap(b0, (MAP_GFN + 1) * PAGE, h2), GNTST_okay);
    ck_assert_uint_eq(xs_gnttab_check_leaks(da), 0);
}
END_TEST

START_TEST(leaks_reported)
{
    grant_v1(da, 140, 2, DATA_GFN, GTF_permit_access);
    grant_v1(da, 141, 0, DATA_GFN + 1, GTF_permit_access | GTF_readonly);
    grant_handle_t h, bh;
    void *p;
    ck_assert_int_eq(map(b0, 1, 140, MAP_GFN, RO, &h), GNTST_okay);
    ck_assert_int_eq(xs_gnttab_backend_map(da, 141, true, &p, &bh), GNTST_okay);
    uint64_t seq = sim.trace.seq;
    /* B holds one mapping; A has two grants in use (B's and xensim's). */
    ck_assert_uint_eq(xs_gnttab_check_leaks(db), 1);
    ck_assert_uint_eq(xs_gnttab_check_leaks(da), 2);
    ck_assert_uint_eq(sim.trace.seq, seq + 3);
    const char *log = log_text();
    ck_assert_ptr_nonnull(strstr(log,
                                 "gnttab leak: d2 (b) still maps grant ref 140 of d1 "
                                 "(frame 0xb00) at guest frame 0xc00, handle 0, "
                                 "read-only"));
    ck_assert_ptr_nonnull(strstr(log, "gnttab: d1 (a) grant ref 140 (frame 0xb00) is "
                                      "still mapped by d2 (b): 0 writable, 1 read-only"));
    ck_assert_ptr_nonnull(strstr(log,
                                 "gnttab leak: d1 (a) grant ref 141 (frame 0xb01) is "
                                 "still mapped by xensim's backend: 0 writable, 1 "
                                 "read-only"));
    /* Each leak is the report of the domain that caused it: B's mapping is
     * B's; the backend's is A's (its device's). */
    ck_assert_uint_eq(db->nr_reports, 1);
    ck_assert_ptr_nonnull(strstr(db->reports, "d2 (b) still maps grant ref 140 of d1"));
    ck_assert_uint_eq(da->nr_reports, 1);
    ck_assert_ptr_nonnull(strstr(da->reports, "grant ref 141"));
    ck_assert_uint_eq(xs_gnttab_stats(da)->leaks, 2);
    /* Nothing was released: the mappings still work and can be undone. */
    ck_assert_int_eq(unmap(b0, MAP_GFN * PAGE, h), GNTST_okay);
    ck_assert_int_eq(xs_gnttab_backend_unmap(da, bh), GNTST_okay);
    ck_assert_uint_eq(xs_gnttab_check_leaks(da) + xs_gnttab_check_leaks(db), 0);
}
END_TEST

/* Destroying domains with mappings in both directions releases every pin
 * on the survivors, reports each leak in the log and the trace, and (under
 * ASan) touches nothing freed, in either destruction order. */
static void teardown_with_leaks(bool granter_first)
{
    char tpath[] = "/tmp/xs-gnttab-trace-XXXXXX";
    int fd = mkstemp(tpath);
    ck_assert_int_ge(fd, 0);
    close(fd);
    FILE *log = tmpfile();
    struct xs_sim s;
    struct xs_sim_config cfg = {.seed = 1, .log = log, .trace_path = tpath};
    char err[512] = "";
    ck_assert_msg(xs_sim_init(&s, &cfg, err, sizeof(err)) == 0, "%s", err);
    struct xs_domain *x = add_domain(&s, "x"), *y = add_domain(&s, "y");
    ck_assert_int_eq(place(xs_vcpu_of(x, 0), 0, GT_GFN), 0);
    ck_assert_int_eq(place(xs_vcpu_of(y, 0), 0, GT_GFN), 0);
    /* g grants to m; m maps two of them, g maps one of m's. */
    struct xs_domain *g = granter_first ? x : y, *m = granter_first ? y : x;
    struct xs_vcpu *g0 = xs_vcpu_of(g, 0), *m0 = xs_vcpu_of(m, 0);
    grant_v1(g, 7, m->domid, DATA_GFN, GTF_permit_access);
    grant_v1(g, 8, m->domid, DATA_GFN + 1, GTF_permit_access);
    grant_v1(m, 9, g->domid, DATA_GFN, GTF_permit_access);
    ck_assert_int_eq(map(m0, g->domid, 7, MAP_GFN, RW, NULL), GNTST_okay);
    ck_assert_int_eq(map(m0, g->domid, 8, MAP_GFN + 1, RO, NULL), GNTST_okay);
    ck_assert_int_eq(map(g0, m->domid, 9, MAP_GFN, RW, NULL), GNTST_okay);
    /* x goes first; y must see its pins on x's mappings released. */
    xs_domain_destroy(x);
    if (granter_first)
        ck_assert_uint_eq(e1(y, 9)->flags, GTF_permit_access);
    else {
        ck_assert_uint_eq(e1(y, 7)->flags, GTF_permit_access);
        ck_assert_uint_eq(e1(y, 8)->flags, GTF_permit_access);
    }
    s.domains[0] = y;
    s.nr_domains = 1;
    xs_sim_destroy(&s);
    fflush(log);
    rewind(log);
    char text[8192] = "";
    size_t n = fread(text, 1, sizeof(text) - 1, log);
    text[n] = '\0';
    ck_assert_ptr_nonnull(strstr(text, "still maps grant ref 7"));
    ck_assert_ptr_nonnull(strstr(text, "still maps grant ref 8"));
    ck_assert_ptr_nonnull(strstr(text, "is still mapped by"));
    fclose(log);
    char *dump = NULL;
    size_t dlen = 0;
    FILE *out = open_memstream(&dump, &dlen);
    ck_assert_int_eq(xs_trace_dump(tpath, out, err, sizeof(err)), 0);
    fclose(out);
    unlink(tpath);
    ck_assert_ptr_nonnull(strstr(dump, "gnttab-leak   still-maps granter=d"));
    ck_assert_ptr_nonnull(strstr(dump, "gnttab-leak   still-mapped granter=d"));
    free(dump);
}

START_TEST(destroy_granter_first)
{
    teardown_with_leaks(true);
}
END_TEST

START_TEST(destroy_mapper_first)
{
    teardown_with_leaks(false);
}
END_TEST

START_TEST(orphaned_mapping)
{
    /* The granter goes while B still maps its page: the page stays valid
     * for B (the memory lives on) and B's unmap still works. */
    fill(da, DATA_GFN, 14);
    grant_v1(da, 150, 2, DATA_GFN, GTF_permit_access);
    grant_handle_t h;
    ck_assert_int_eq(map(b0, 1, 150, MAP_GFN, RW, &h), GNTST_okay);
    uint8_t copy[PAGE];
    memcpy(copy, page_of(da, DATA_GFN), PAGE);
    xs_domain_destroy(da);
    sim.domains[0] = dc; /* keep the simulation's table free of it */
    sim.nr_domains = 2;
    sim.domains[1] = db;
    da = NULL;
    ck_assert_mem_eq(page_of(db, MAP_GFN), copy, PAGE);
    ck_assert_int_eq(unmap(b0, MAP_GFN * PAGE, h), GNTST_okay);
    ck_assert_uint_eq(xs_gnttab_check_leaks(db), 0);
}
END_TEST

/* ---- xensim's backends ---------------------------------------------------- */

START_TEST(backend_api)
{
    fill(da, DATA_GFN, 15);
    grant_v1(da, 160, 0, DATA_GFN, GTF_permit_access);
    grant_v1(da, 161, 0, DATA_GFN + 1, GTF_permit_access | GTF_readonly);
    grant_v1(da, 162, 2, DATA_GFN, GTF_permit_access);
    void *p, *q;
    grant_handle_t h, hq;
    ck_assert_int_eq(xs_gnttab_backend_map(da, 160, false, &p, &h), GNTST_okay);
    ck_assert_mem_eq(p, page_of(da, DATA_GFN), PAGE);
    ((uint8_t *)p)[5] = 0x42;
    ck_assert_uint_eq(page_of(da, DATA_GFN)[5], 0x42);
    ck_assert_uint_eq(e1(da, 160)->flags, GTF_permit_access | GTF_reading | GTF_writing);
    ck_assert_int_eq(xs_gnttab_backend_map(da, 161, false, &q, &hq), GNTST_general_error);
    ck_assert_int_eq(xs_gnttab_backend_map(da, 161, true, &q, &hq), GNTST_okay);
    ck_assert(!host_writable(q));
    ck_assert_int_eq(xs_gnttab_backend_map(da, 162, false, &q, &hq), GNTST_general_error);
    ck_assert_int_eq(xs_gnttab_backend_map(da, 512, false, &q, &hq), GNTST_bad_gntref);
    /* Copies, both ways, with the page and grant checks of GNTTABOP_copy. */
    uint8_t buf[PAGE];
    ck_assert_int_eq(xs_gnttab_backend_copy(da, 160, 0, buf, PAGE, false), GNTST_okay);
    ck_assert_mem_eq(buf, page_of(da, DATA_GFN), PAGE);
    memset(buf, 0xab, 16);
    ck_assert_int_eq(xs_gnttab_backend_copy(da, 160, 4080, buf, 16, true), GNTST_okay);
    ck_assert_uint_eq(page_of(da, DATA_GFN)[4095], 0xab);
    ck_assert_int_eq(xs_gnttab_backend_copy(da, 160, 4081, buf, 16, true),
                     GNTST_bad_copy_arg);
    ck_assert_int_eq(xs_gnttab_backend_copy(da, 161, 0, buf, 16, true),
                     GNTST_general_error);
    ck_assert_int_eq(xs_gnttab_backend_copy(da, 162, 0, buf, 16, false),
                     GNTST_general_error);
    ck_assert_int_eq(xs_gnttab_backend_unmap(da, h), GNTST_okay);
    ck_assert_int_eq(xs_gnttab_backend_unmap(da, h), GNTST_bad_handle);
    ck_assert_int_eq(xs_gnttab_backend_unmap(da, 9999), GNTST_bad_handle);
    ck_assert_uint_eq(e1(da, 160)->flags, GTF_permit_access);
    ck_assert_int_eq(xs_gnttab_backend_unmap(da, 1), GNTST_okay); /* 161's handle */
    ck_assert_uint_eq(xs_gnttab_check_leaks(da), 0);
}
END_TEST

Suite *gnttab_suite(void)
{
    Suite *s = suite_create("gnttab");
    TCase *t = tcase_create("table");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, hvm_filter_and_unknown_ops);
    tcase_add_test(t, hostile_pointers);
    tcase_add_test(t, setup_and_query);
    tcase_add_test(t, frames_in_physmap);
    tcase_add_test(t, frames_and_shared_info);
    tcase_add_test(t, versions);
    tcase_add_test(t, version_switch_refused_while_mapped);
    tcase_add_test(t, swap_refs);
    suite_add_tcase(s, t);

    TCase *m = tcase_create("map");
    tcase_add_checked_fixture(m, setup, teardown);
    tcase_set_timeout(m, 60);
    tcase_add_test(m, map_v1_two_domains);
    tcase_add_test(m, map_both_ways_and_self);
    tcase_add_test(m, map_readonly);
    tcase_add_test(m, map_errors);
    tcase_add_test(m, map_over_mapping_crashes);
    tcase_add_test(m, map_over_vcpu_info_refused);
    tcase_add_test(m, map_over_special_page);
    tcase_add_test(m, unmap_errors);
    tcase_add_test(m, batches);
    tcase_add_test(m, pin_limit);
    tcase_add_test(m, map_v2);
    suite_add_tcase(s, m);

    TCase *c = tcase_create("copy");
    tcase_add_checked_fixture(c, setup, teardown);
    tcase_set_timeout(c, 60);
    tcase_add_test(c, copy_both_directions);
    tcase_add_test(c, copy_errors);
    tcase_add_test(c, copy_v2_sub_page_and_transitive);
    suite_add_tcase(s, c);

    TCase *z = tcase_create("sanitizer");
    tcase_add_checked_fixture(z, setup, teardown);
    tcase_set_timeout(z, 60);
    tcase_add_test(z, ended_while_mapped);
    tcase_add_test(z, leaks_reported);
    tcase_add_test(z, destroy_granter_first);
    tcase_add_test(z, destroy_mapper_first);
    tcase_add_test(z, orphaned_mapping);
    tcase_add_test(z, backend_api);
    suite_add_tcase(s, z);
    return s;
}
