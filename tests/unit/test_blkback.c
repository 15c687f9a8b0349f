/* blkback and the backend framework, with the test as the frontend: a
 * domain built from the basic image (never run) whose grant table, event
 * channel and ring pages the test writes as blkfront would, xenstore nodes
 * written through the store, and the run loop's poll called by hand.
 * Covers the XenbusState handshake (features, InitWait, Connected,
 * Closing/Closed, reconnect, fatal errors), every operation, multi-page
 * rings, queues, persistent grants, and each validation path with its
 * report. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ring_check.h"
#include <xen/io/blkif.h>
#include <xen/memory.h>

#include "blkback.h"
#include "evtchn.h"
#include "gnttab.h"
#include "hypercall.h"
#include "pvdev.h"
#include "sim.h"
#include "unit.h"
#include "xenstore.h"

#define PAGE     4096u
#define XATP     0x811000ULL /* add_to_physmap argument */
#define GT_GFN   0xa00ULL    /* grant frames */
#define RING_GFN 0xb00ULL    /* ring pages: 16 per queue */
#define DATA_GFN 0xc00ULL    /* data pages */
#define IND_GFN  0xe00ULL    /* indirect segment pages */
#define VDEV     51712u
#define DISK_MIB 4u
#define SECTORS  (DISK_MIB * 2048u)
#define REF_RING 8u   /* ring refs 8.. */
#define REF_DATA 64u  /* data refs 64.. (one per data page) */
#define REF_IND  400u /* indirect page refs */

static struct xs_sim sim;
static struct xs_domain *dom;
static struct xs_pvdev *dev;
static FILE *log_file;
static blkif_front_ring_t fr[XS_BLKBACK_MAX_QUEUES];
static evtchn_port_t port[XS_BLKBACK_MAX_QUEUES];
static char fe[96], be[128];

static uint8_t *page_of(uint64_t gfn)
{
    return dom->base + gfn * PAGE;
}

static void grant(grant_ref_t ref, uint64_t gfn, bool ro)
{
    grant_entry_v1_t *e = (grant_entry_v1_t *)page_of(GT_GFN) + ref;
    e->domid = 0;
    e->frame = (uint32_t)gfn;
    e->flags = GTF_permit_access | (ro ? GTF_readonly : 0);
}

static void fe_write(const char *node, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void fe_write(const char *node, const char *fmt, ...)
{
    char path[192], val[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(val, sizeof(val), fmt, ap);
    va_end(ap);
    snprintf(path, sizeof(path), "%s/%s", fe, node);
    ck_assert_int_eq(xs_xenstore_write(sim.xenstore, path, val, strlen(val)), 0);
}

/* A node's value ("" when missing). */
static const char *node(const char *dir, const char *name)
{
    static char buf[256];
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    size_t len = sizeof(buf) - 1;
    if (xs_xenstore_request(sim.xenstore, XS_READ, 0, path, strlen(path) + 1, buf, &len))
        len = 0;
    buf[len < sizeof(buf) ? len : sizeof(buf) - 1] = '\0';
    return buf;
}

static int be_state(void)
{
    return atoi(node(be, "state"));
}

static const char *reports(void)
{
    return dom->reports ? dom->reports : "";
}

static void add_disk(const struct xs_blkback_cfg *cfg)
{
    char err[512] = "";
    dev = xs_pvdev_add(&sim, "vbd", dom, VDEV, cfg, err, sizeof(err));
    ck_assert_msg(dev, "xs_pvdev_add: %s", err);
    snprintf(fe, sizeof(fe), "/local/domain/%u/device/vbd/%u", dom->domid, VDEV);
    snprintf(be, sizeof(be), "/local/domain/0/backend/vbd/%u/%u", dom->domid, VDEV);
}

static void setup_nodisk(void)
{
    log_file = tmpfile();
    ck_assert_ptr_nonnull(log_file);
    struct xs_sim_config cfg = {.seed = 1, .log = log_file};
    char err[512] = "";
    ck_assert_msg(xs_sim_init(&sim, &cfg, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(xs_xenstore_attach(&sim, NULL, err, sizeof(err)), 0);
    const char *dir = getenv("XENSIM_GUEST_DIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/basic.elf", dir && *dir ? dir : "build/guests");
    struct xs_domain_config dc = {
        .name = "g", .image_path = path, .memory_mib = 32, .vcpus = 1, .cmdline = ""};
    dom = xs_domain_create(&sim, &dc, err, sizeof(err));
    ck_assert_msg(dom, "xs_domain_create: %s (is XENSIM_GUEST_DIR set?)", err);
    /* The frontend places its first grant frame, as guestlib does. */
    struct xen_add_to_physmap x = {
        .domid = DOMID_SELF, .space = XENMAPSPACE_grant_table, .idx = 0, .gpfn = GT_GFN};
    memcpy(dom->base + XATP, &x, sizeof(x));
    const uint64_t a[5] = {XENMEM_add_to_physmap, (uint64_t)(uintptr_t)dom->base + XATP};
    ck_assert_int_eq(xs_hypercall_call(xs_vcpu_of(dom, 0), __HYPERVISOR_memory_op, a), 0);
}

static void setup(void)
{
    setup_nodisk();
    add_disk(&(struct xs_blkback_cfg){.size_mib = DISK_MIB});
}

static void teardown(void)
{
    xs_sim_destroy(&sim);
    fclose(log_file);
    dom = NULL;
    dev = NULL;
}

/* The frontend's half of the handshake for nq queues of 2^order pages
 * (order < 0: the single-page "ring-ref" form). */
static void front_connect(unsigned nq, int order, bool persistent)
{
    unsigned pages = order < 0 ? 1u : 1u << order;
    for (unsigned q = 0; q < nq; q++) {
        char dir[32] = "";
        if (nq > 1) snprintf(dir, sizeof(dir), "queue-%u/", q);
        blkif_sring_t *s = (blkif_sring_t *)page_of(RING_GFN + 16 * q);
        memset(s, 0, (size_t)pages * PAGE);
        SHARED_RING_INIT(s);
        FRONT_RING_INIT(&fr[q], s, (size_t)pages * PAGE);
        for (unsigned i = 0; i < pages; i++) {
            grant_ref_t ref = REF_RING + 16 * q + i;
            grant(ref, RING_GFN + 16 * q + i, false);
            char name[48];
            if (order < 0)
                snprintf(name, sizeof(name), "%sring-ref", dir);
            else
                snprintf(name, sizeof(name), "%sring-ref%u", dir, i);
            fe_write(name, "%u", ref);
        }
        long p = xs_evtchn_alloc_unbound_for(dom, 0);
        ck_assert_int_gt(p, 0);
        port[q] = (evtchn_port_t)p;
        char name[48];
        snprintf(name, sizeof(name), "%sevent-channel", dir);
        fe_write(name, "%ld", p);
    }
    if (order >= 0) fe_write("ring-page-order", "%d", order);
    if (nq > 1) fe_write("multi-queue-num-queues", "%u", nq);
    fe_write("protocol", "x86_64-abi");
    fe_write("feature-persistent", "%d", persistent ? 1 : 0);
    fe_write("state", "%d", XenbusStateInitialised);
    xs_pvdev_sim_poll(&sim);
}

static void connect1(void)
{
    front_connect(1, -1, false);
    ck_assert_int_eq(be_state(), XenbusStateConnected);
}

/* ---- requests ------------------------------------------------------------------ */

static void pattern(uint8_t *p, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(seed * 31u + i * 7u + (i >> 9) + 1u);
}

static blkif_request_t *next_req(unsigned q)
{
    blkif_request_t *r = RING_GET_REQUEST(&fr[q], fr[q].req_prod_pvt);
    memset(r, 0, sizeof(*r));
    fr[q].req_prod_pvt++;
    return r;
}

/* Push, let the backend run, take one response. */
static blkif_response_t submit1(unsigned q)
{
    RING_PUSH_REQUESTS(&fr[q]);
    xs_pvdev_sim_poll(&sim);
    ck_assert_msg(RING_HAS_UNCONSUMED_RESPONSES(&fr[q]), "no response");
    blkif_response_t rsp;
    RING_COPY_RESPONSE(&fr[q], fr[q].rsp_cons, &rsp);
    fr[q].rsp_cons++;
    return rsp;
}

/* A read or write of nseg whole pages (data pages DATA_GFN + first..). */
static blkif_response_t rw(unsigned q, uint8_t op, uint64_t sector, unsigned first,
                           unsigned nseg, uint64_t id)
{
    blkif_request_t *r = next_req(q);
    r->operation = op;
    r->nr_segments = (uint8_t)nseg;
    r->handle = VDEV;
    r->id = id;
    r->sector_number = sector;
    for (unsigned i = 0; i < nseg && i < BLKIF_MAX_SEGMENTS_PER_REQUEST; i++) {
        grant(REF_DATA + first + i, DATA_GFN + first + i, op == BLKIF_OP_WRITE);
        r->seg[i] = (struct blkif_request_segment){
            .gref = REF_DATA + first + i, .first_sect = 0, .last_sect = 7};
    }
    return submit1(q);
}

START_TEST(handshake_publishes_features)
{
    ck_assert_int_eq(be_state(), XenbusStateInitWait);
    ck_assert_str_eq(node(fe, "state"), "1");
    ck_assert_str_eq(node(fe, "backend-id"), "0");
    ck_assert_str_eq(node(fe, "backend"), be);
    ck_assert_str_eq(node(fe, "virtual-device"), "51712");
    ck_assert_str_eq(node(be, "frontend"), fe);
    ck_assert_str_eq(node(be, "dev"), "xvda");
    ck_assert_str_eq(node(be, "mode"), "w");
    ck_assert_str_eq(node(be, "sectors"), "8192");
    ck_assert_str_eq(node(be, "sector-size"), "512");
    ck_assert_str_eq(node(be, "physical-sector-size"), "512");
    ck_assert_str_eq(node(be, "info"), "0");
    ck_assert_str_eq(node(be, "feature-flush-cache"), "1");
    ck_assert_str_eq(node(be, "feature-barrier"), "1");
    ck_assert_str_eq(node(be, "feature-discard"), "1");
    ck_assert_str_eq(node(be, "discard-granularity"), "512");
    ck_assert_str_eq(node(be, "feature-persistent"), "1");
    ck_assert_str_eq(node(be, "feature-max-indirect-segments"), "256");
    ck_assert_str_eq(node(be, "max-ring-page-order"), "4");
    ck_assert_str_eq(node(be, "multi-queue-max-queues"), "4");
    /* Nothing happens until the frontend moves. */
    xs_pvdev_sim_poll(&sim);
    ck_assert_int_eq(be_state(), XenbusStateInitWait);
    connect1();
    ck_assert_uint_eq(xs_blkback_nr_rings(dev), 1);
    ck_assert_str_eq(reports(), "");
}
END_TEST

START_TEST(write_read_back)
{
    connect1();
    pattern(page_of(DATA_GFN), 3 * PAGE, 5);
    blkif_response_t rsp = rw(0, BLKIF_OP_WRITE, 16, 0, 3, 0x1234);
    ck_assert_uint_eq(rsp.id, 0x1234);
    ck_assert_uint_eq(rsp.operation, BLKIF_OP_WRITE);
    ck_assert_int_eq(rsp.status, BLKIF_RSP_OKAY);
    memset(page_of(DATA_GFN + 3), 0xee, 3 * PAGE);
    rsp = rw(0, BLKIF_OP_READ, 16, 3, 3, 7);
    ck_assert_int_eq(rsp.status, BLKIF_RSP_OKAY);
    ck_assert_uint_eq(rsp.operation, BLKIF_OP_READ);
    ck_assert_int_eq(memcmp(page_of(DATA_GFN), page_of(DATA_GFN + 3), 3 * PAGE), 0);
    /* Part of a page: sectors 2..4 of the data page hold sectors 17..19. */
    blkif_request_t *r = next_req(0);
    memset(page_of(DATA_GFN + 8), 0, PAGE);
    grant(REF_DATA + 8, DATA_GFN + 8, false);
    *r = (blkif_request_t){
        .operation = BLKIF_OP_READ,
        .nr_segments = 1,
        .id = 9,
        .sector_number = 17,
        .seg = {{.gref = REF_DATA + 8, .first_sect = 2, .last_sect = 4}}};
    ck_assert_int_eq(submit1(0).status, BLKIF_RSP_OKAY);
    ck_assert_int_eq(memcmp(page_of(DATA_GFN + 8) + 1024, page_of(DATA_GFN) + 512, 1536),
                     0);
    ck_assert_uint_eq(page_of(DATA_GFN + 8)[1023], 0);
    ck_assert_uint_eq(page_of(DATA_GFN + 8)[2560], 0);
    const struct xs_blkback_stats *st = xs_blkback_stats(dev);
    ck_assert_uint_eq(st->writes, 1);
    ck_assert_uint_eq(st->reads, 2);
    ck_assert_uint_eq(st->sectors_written, 24);
    ck_assert_str_eq(reports(), "");
    /* The frontend's port was raised for the responses. */
    ck_assert(xs_evtchn_is_pending(dom, port[0]));
}
END_TEST

START_TEST(flush_barrier_discard)
{
    connect1();
    pattern(page_of(DATA_GFN), 4 * PAGE, 1);
    ck_assert_int_eq(rw(0, BLKIF_OP_WRITE, 0, 0, 4, 1).status, BLKIF_RSP_OKAY);
    blkif_request_t *r = next_req(0);
    r->operation = BLKIF_OP_FLUSH_DISKCACHE;
    r->id = 2;
    blkif_response_t rsp = submit1(0);
    ck_assert_int_eq(rsp.status, BLKIF_RSP_OKAY);
    ck_assert_uint_eq(rsp.operation, BLKIF_OP_FLUSH_DISKCACHE);
    r = next_req(0);
    r->operation = BLKIF_OP_WRITE_BARRIER;
    r->id = 3;
    ck_assert_int_eq(submit1(0).status, BLKIF_RSP_OKAY);
    /* Discard sectors 4..19 (across page boundaries), read back zeros. */
    struct blkif_request_discard *d = (struct blkif_request_discard *)next_req(0);
    d->operation = BLKIF_OP_DISCARD;
    d->id = 4;
    d->sector_number = 4;
    d->nr_sectors = 16;
    rsp = submit1(0);
    ck_assert_int_eq(rsp.status, BLKIF_RSP_OKAY);
    ck_assert_uint_eq(rsp.operation, BLKIF_OP_DISCARD);
    ck_assert_int_eq(rw(0, BLKIF_OP_READ, 0, 4, 4, 5).status, BLKIF_RSP_OKAY);
    uint8_t want[4 * PAGE];
    pattern(want, sizeof(want), 1);
    memset(want + 4 * 512, 0, 16 * 512);
    ck_assert_int_eq(memcmp(page_of(DATA_GFN + 4), want, sizeof(want)), 0);
    const struct xs_blkback_stats *st = xs_blkback_stats(dev);
    ck_assert_uint_eq(st->flushes, 1);
    ck_assert_uint_eq(st->barriers, 1);
    ck_assert_uint_eq(st->discards, 1);
    ck_assert_str_eq(reports(), "");
}
END_TEST

/* Each bad request: its status, and a report naming the device, ring and
 * index. */
static void expect_bad(int16_t status, const char *text)
{
    blkif_response_t rsp = submit1(0);
    ck_assert_int_eq(rsp.status, status);
    ck_assert_msg(strstr(reports(), text), "no report \"%s\" in:\n%s", text, reports());
}

START_TEST(bad_requests_are_answered_and_reported)
{
    connect1();
    blkif_request_t *r;
    r = next_req(0);
    r->operation = BLKIF_OP_READ;
    expect_bad(BLKIF_RSP_ERROR,
               "xensim: blkback: d1 (g) vbd 51712 ring 0 request 0 (id 0): read with 0 "
               "segments (1..11)");
    r = next_req(0);
    r->operation = BLKIF_OP_WRITE;
    r->nr_segments = 12;
    r->id = 0xabc;
    expect_bad(BLKIF_RSP_ERROR, "ring 0 request 1 (id 0xabc): write with 12 segments");
    r = next_req(0);
    *r = (blkif_request_t){.operation = BLKIF_OP_READ,
                           .nr_segments = 1,
                           .seg = {{.gref = REF_DATA, .first_sect = 5, .last_sect = 4}}};
    expect_bad(BLKIF_RSP_ERROR,
               "request 2 (id 0): segment 0: sectors 5..4 of a page of 8");
    r = next_req(0);
    *r = (blkif_request_t){.operation = BLKIF_OP_READ,
                           .nr_segments = 1,
                           .seg = {{.gref = REF_DATA, .first_sect = 0, .last_sect = 8}}};
    expect_bad(BLKIF_RSP_ERROR, "segment 0: sectors 0..8 of a page of 8");
    grant(REF_DATA, DATA_GFN, false);
    r = next_req(0);
    *r = (blkif_request_t){.operation = BLKIF_OP_READ,
                           .nr_segments = 1,
                           .sector_number = SECTORS - 4,
                           .seg = {{.gref = REF_DATA, .first_sect = 0, .last_sect = 7}}};
    expect_bad(BLKIF_RSP_ERROR,
               "sectors 8188..+8 past the end of the disk (8192 sectors)");
    r = next_req(0);
    *r = (blkif_request_t){.operation = BLKIF_OP_READ,
                           .nr_segments = 1,
                           .sector_number = UINT64_MAX - 2,
                           .seg = {{.gref = REF_DATA, .first_sect = 0, .last_sect = 7}}};
    expect_bad(BLKIF_RSP_ERROR, "past the end of the disk");
    r = next_req(0);
    r->operation = BLKIF_OP_RESERVED_1;
    expect_bad(BLKIF_RSP_EOPNOTSUPP, "unknown operation 4");
    r = next_req(0);
    r->operation = 200;
    expect_bad(BLKIF_RSP_EOPNOTSUPP, "unknown operation 200");
    /* A grant that does not exist / is not for domain 0. */
    r = next_req(0);
    *r = (blkif_request_t){.operation = BLKIF_OP_READ,
                           .nr_segments = 1,
                           .seg = {{.gref = 100000, .first_sect = 0, .last_sect = 7}}};
    expect_bad(BLKIF_RSP_ERROR, "segment 0: grant copy into grant ref 100000 failed");
    /* A write whose second grant is bad leaves the disk untouched. */
    pattern(page_of(DATA_GFN), PAGE, 3);
    grant(REF_DATA, DATA_GFN, true);
    r = next_req(0);
    *r = (blkif_request_t){.operation = BLKIF_OP_WRITE,
                           .nr_segments = 2,
                           .sector_number = 0,
                           .seg = {{.gref = REF_DATA, .first_sect = 0, .last_sect = 7},
                                   {.gref = 99, .first_sect = 0, .last_sect = 7}}};
    expect_bad(BLKIF_RSP_ERROR, "segment 1: grant copy from grant ref 99 failed");
    memset(page_of(DATA_GFN + 1), 0xee, PAGE);
    ck_assert_int_eq(rw(0, BLKIF_OP_READ, 0, 1, 1, 1).status, BLKIF_RSP_OKAY);
    for (unsigned i = 0; i < PAGE; i++)
        ck_assert_uint_eq(page_of(DATA_GFN + 1)[i], 0);
    /* Discard past the end. */
    struct blkif_request_discard *d = (struct blkif_request_discard *)next_req(0);
    d->operation = BLKIF_OP_DISCARD;
    d->sector_number = 8000;
    d->nr_sectors = 193;
    expect_bad(BLKIF_RSP_ERROR, "discard of sectors 8000..+193 past the end");
    /* Indirect: bad inner op, bad counts, bad page. */
    struct blkif_request_indirect *ind = (struct blkif_request_indirect *)next_req(0);
    ind->operation = BLKIF_OP_INDIRECT;
    ind->indirect_op = BLKIF_OP_DISCARD;
    ind->nr_segments = 1;
    expect_bad(BLKIF_RSP_ERROR, "indirect operation 5 (only read and write)");
    ind = (struct blkif_request_indirect *)next_req(0);
    ind->operation = BLKIF_OP_INDIRECT;
    ind->indirect_op = BLKIF_OP_READ;
    ind->nr_segments = 257;
    expect_bad(BLKIF_RSP_ERROR, "indirect request with 257 segments (1..256)");
    ind = (struct blkif_request_indirect *)next_req(0);
    ind->operation = BLKIF_OP_INDIRECT;
    ind->indirect_op = BLKIF_OP_READ;
    ind->nr_segments = 3;
    ind->indirect_grefs[0] = 7777;
    expect_bad(BLKIF_RSP_ERROR, "indirect page 0: grant copy from grant ref 7777 failed");
    /* The ring still works. */
    ck_assert_int_eq(rw(0, BLKIF_OP_READ, 0, 1, 1, 1).status, BLKIF_RSP_OKAY);
    ck_assert(!xs_blkback_ring_broken(dev, 0));
}
END_TEST

START_TEST(readonly_disk)
{
    teardown();
    setup_nodisk();
    add_disk(&(struct xs_blkback_cfg){.size_mib = 1, .readonly = true});
    ck_assert_str_eq(node(be, "mode"), "r");
    ck_assert_str_eq(node(be, "info"), "4");
    ck_assert_str_eq(node(be, "feature-discard"), "0");
    connect1();
    ck_assert_int_eq(rw(0, BLKIF_OP_READ, 0, 0, 2, 1).status, BLKIF_RSP_OKAY);
    blkif_response_t rsp = rw(0, BLKIF_OP_WRITE, 0, 0, 1, 2);
    ck_assert_int_eq(rsp.status, BLKIF_RSP_ERROR);
    ck_assert_ptr_nonnull(
        strstr(reports(), "request 1 (id 0x2): write to a read-only disk"));
    struct blkif_request_discard *d = (struct blkif_request_discard *)next_req(0);
    d->operation = BLKIF_OP_DISCARD;
    d->nr_sectors = 1;
    expect_bad(BLKIF_RSP_EOPNOTSUPP, "discard on a read-only disk");
}
END_TEST

START_TEST(indirect_requests)
{
    connect1();
    /* 20 segments: pages DATA_GFN..+19, the list in one indirect page. */
    const unsigned n = 20;
    struct blkif_request_segment *segs = (void *)page_of(IND_GFN);
    for (unsigned i = 0; i < n; i++) {
        grant(REF_DATA + i, DATA_GFN + i, false);
        segs[i] = (struct blkif_request_segment){
            .gref = REF_DATA + i, .first_sect = 0, .last_sect = 7};
    }
    grant(REF_IND, IND_GFN, true);
    pattern(page_of(DATA_GFN), n * PAGE, 9);
    struct blkif_request_indirect *ind = (struct blkif_request_indirect *)next_req(0);
    ind->operation = BLKIF_OP_INDIRECT;
    ind->indirect_op = BLKIF_OP_WRITE;
    ind->nr_segments = (uint16_t)n;
    ind->id = 77;
    ind->sector_number = 100;
    ind->indirect_grefs[0] = REF_IND;
    blkif_response_t rsp = submit1(0);
    ck_assert_int_eq(rsp.status, BLKIF_RSP_OKAY);
    ck_assert_uint_eq(rsp.id, 77);
    ck_assert_uint_eq(rsp.operation, BLKIF_OP_WRITE); /* the indirect_op, as Linux */
    memset(page_of(DATA_GFN), 0, n * PAGE);
    ind = (struct blkif_request_indirect *)next_req(0);
    ind->operation = BLKIF_OP_INDIRECT;
    ind->indirect_op = BLKIF_OP_READ;
    ind->nr_segments = (uint16_t)n;
    ind->sector_number = 100;
    ind->indirect_grefs[0] = REF_IND;
    ck_assert_int_eq(submit1(0).status, BLKIF_RSP_OKAY);
    static uint8_t want[20 * PAGE];
    pattern(want, sizeof(want), 9);
    ck_assert_int_eq(memcmp(page_of(DATA_GFN), want, sizeof(want)), 0);
    ck_assert_uint_eq(xs_blkback_stats(dev)->indirect, 2);
    ck_assert_str_eq(reports(), "");
}
END_TEST

START_TEST(persistent_grants_kept_and_released)
{
    front_connect(1, -1, true);
    ck_assert_int_eq(be_state(), XenbusStateConnected);
    pattern(page_of(DATA_GFN), 2 * PAGE, 4);
    /* The same two pages each time, as a persistent frontend does. */
    grant(REF_DATA, DATA_GFN, false);
    grant(REF_DATA + 1, DATA_GFN + 1, false);
    for (unsigned i = 0; i < 5; i++) {
        blkif_request_t *r = next_req(0);
        *r = (blkif_request_t){
            .operation = i ? BLKIF_OP_READ : BLKIF_OP_WRITE,
            .nr_segments = 2,
            .id = i,
            .sector_number = 40,
            .seg = {{.gref = REF_DATA, .first_sect = 0, .last_sect = 7},
                    {.gref = REF_DATA + 1, .first_sect = 0, .last_sect = 7}}};
        ck_assert_int_eq(submit1(0).status, BLKIF_RSP_OKAY);
    }
    const struct xs_blkback_stats *st = xs_blkback_stats(dev);
    ck_assert_uint_eq(st->pgrant_maps, 2);
    ck_assert_uint_eq(st->pgrant_hits, 8);
    ck_assert_uint_eq(st->copies, 0);
    ck_assert_uint_eq(dev->grant_maps, 3); /* the ring page and the two */
    /* While mapped, the grants are in use. */
    ck_assert_uint_ne(((grant_entry_v1_t *)page_of(GT_GFN))[REF_DATA].flags &
                          (GTF_reading | GTF_writing),
                      0);
    /* Closing: everything unmapped, nothing leaks. */
    fe_write("state", "%d", XenbusStateClosing);
    xs_pvdev_sim_poll(&sim);
    ck_assert_int_eq(be_state(), XenbusStateClosing);
    ck_assert_uint_eq(dev->grant_maps, 0);
    ck_assert_uint_eq(xs_gnttab_check_leaks(dom), 0);
    fe_write("state", "%d", XenbusStateClosed);
    xs_pvdev_sim_poll(&sim);
    ck_assert_int_eq(be_state(), XenbusStateClosed);
    /* Reconnect: Initialising brings InitWait back, then Connected. */
    fe_write("state", "%d", XenbusStateInitialising);
    xs_pvdev_sim_poll(&sim);
    ck_assert_int_eq(be_state(), XenbusStateInitWait);
    connect1();
    ck_assert_int_eq(rw(0, BLKIF_OP_READ, 40, 4, 2, 1).status, BLKIF_RSP_OKAY);
    ck_assert_int_eq(memcmp(page_of(DATA_GFN + 4), page_of(DATA_GFN), 2 * PAGE), 0);
    ck_assert_uint_eq(xs_blkback_stats(dev)->connects, 2);
    ck_assert_str_eq(reports(), "");
}
END_TEST

START_TEST(multi_page_rings_and_queues)
{
    front_connect(3, 2, false);
    ck_assert_int_eq(be_state(), XenbusStateConnected);
    ck_assert_uint_eq(xs_blkback_nr_rings(dev), 3);
    ck_assert_uint_eq(RING_SIZE(&fr[0]), 128);
    /* 100 requests on queue 1 at once: more than a page's 32 slots. */
    pattern(page_of(DATA_GFN), PAGE, 6);
    grant(REF_DATA, DATA_GFN, false);
    for (unsigned i = 0; i < 100; i++) {
        blkif_request_t *r = next_req(1);
        *r = (blkif_request_t){
            .operation = BLKIF_OP_WRITE,
            .nr_segments = 1,
            .id = 1000 + i,
            .sector_number = 8 * i,
            .seg = {{.gref = REF_DATA, .first_sect = 0, .last_sect = 7}}};
    }
    RING_PUSH_REQUESTS(&fr[1]);
    xs_pvdev_sim_poll(&sim);
    for (unsigned i = 0; i < 100; i++) {
        ck_assert(RING_HAS_UNCONSUMED_RESPONSES(&fr[1]));
        blkif_response_t rsp;
        RING_COPY_RESPONSE(&fr[1], fr[1].rsp_cons, &rsp);
        fr[1].rsp_cons++;
        ck_assert_uint_eq(rsp.id, 1000 + i);
        ck_assert_int_eq(rsp.status, BLKIF_RSP_OKAY);
    }
    ck_assert(xs_evtchn_is_pending(dom, port[1]));
    ck_assert(!xs_evtchn_is_pending(dom, port[2]));
    /* Queue 2 reads what queue 1 wrote. */
    ck_assert_int_eq(rw(2, BLKIF_OP_READ, 8 * 99, 1, 1, 5).status, BLKIF_RSP_OKAY);
    ck_assert_int_eq(memcmp(page_of(DATA_GFN + 1), page_of(DATA_GFN), PAGE), 0);
    ck_assert_str_eq(reports(), "");
    ck_assert_uint_eq(dev->grant_maps, 12);
    fe_write("state", "%d", XenbusStateClosed);
    xs_pvdev_sim_poll(&sim);
    ck_assert_uint_eq(dev->grant_maps, 0);
}
END_TEST

START_TEST(ring_sanitizer_producer_too_far)
{
    connect1();
    fr[0].sring->req_prod = 33; /* a page holds 32 */
    xs_pvdev_sim_poll(&sim);
    ck_assert_ptr_nonnull(
        strstr(reports(), "xensim: blkback: d1 (g) vbd 51712 ring 0: request producer 33 "
                          "is 33 requests ahead of consumer 0 (ring size 32); ring no "
                          "longer serviced"));
    ck_assert(xs_blkback_ring_broken(dev, 0));
    /* No longer serviced: nothing answered, no second report. */
    unsigned nr = dom->nr_reports;
    fr[0].sring->req_prod = 1;
    xs_pvdev_sim_poll(&sim);
    ck_assert_uint_eq(fr[0].sring->rsp_prod, 0);
    ck_assert_uint_eq(dom->nr_reports, nr);
}
END_TEST

START_TEST(ring_sanitizer_producer_backwards)
{
    connect1();
    ck_assert_int_eq(rw(0, BLKIF_OP_READ, 0, 0, 1, 1).status, BLKIF_RSP_OKAY);
    ck_assert_int_eq(rw(0, BLKIF_OP_READ, 0, 0, 1, 2).status, BLKIF_RSP_OKAY);
    fr[0].sring->req_prod = 1;
    xs_pvdev_sim_poll(&sim);
    ck_assert_ptr_nonnull(
        strstr(reports(), "ring 0: request producer moved backwards from 2 to 1"));
    ck_assert(xs_blkback_ring_broken(dev, 0));
}
END_TEST

START_TEST(bad_frontend_nodes_are_fatal)
{
    /* Unsupported protocol: Closing with xenbus's error node, no report. */
    fe_write("protocol", "x86_32-abi");
    fe_write("ring-ref", "8");
    grant(8, RING_GFN, false);
    long p = xs_evtchn_alloc_unbound_for(dom, 0);
    fe_write("event-channel", "%ld", p);
    fe_write("state", "%d", XenbusStateInitialised);
    xs_pvdev_sim_poll(&sim);
    ck_assert_int_eq(be_state(), XenbusStateClosing);
    ck_assert_ptr_nonnull(
        strstr(node("/local/domain/0/error/backend/vbd/1/51712", "error"),
               "unsupported protocol x86_32-abi"));
    ck_assert_str_eq(reports(), "");
    /* The frontend closes and starts over with a port that is not for Dom0. */
    fe_write("state", "%d", XenbusStateClosed);
    xs_pvdev_sim_poll(&sim);
    ck_assert_int_eq(be_state(), XenbusStateClosed);
    fe_write("state", "%d", XenbusStateInitialising);
    xs_pvdev_sim_poll(&sim);
    ck_assert_int_eq(be_state(), XenbusStateInitWait);
    fe_write("protocol", "x86_64-abi");
    long other = xs_evtchn_alloc_unbound_for(dom, 5);
    fe_write("event-channel", "%ld", other);
    fe_write("state", "%d", XenbusStateInitialised);
    xs_pvdev_sim_poll(&sim);
    ck_assert_int_eq(be_state(), XenbusStateClosing);
    ck_assert_ptr_nonnull(strstr(reports(), "is not an unbound port for domain 0"));
    /* A ring reference that is not granted. */
    fe_write("state", "%d", XenbusStateInitialising);
    xs_pvdev_sim_poll(&sim);
    fe_write("event-channel", "%ld", p);
    fe_write("ring-ref", "300");
    fe_write("state", "%d", XenbusStateConnected);
    xs_pvdev_sim_poll(&sim);
    ck_assert_int_eq(be_state(), XenbusStateClosing);
    ck_assert_ptr_nonnull(strstr(reports(), "cannot map ring page 0 (grant ref 300)"));
    /* Garbage order, missing refs. */
    fe_write("state", "%d", XenbusStateInitialising);
    xs_pvdev_sim_poll(&sim);
    fe_write("ring-page-order", "9");
    fe_write("state", "%d", XenbusStateInitialised);
    xs_pvdev_sim_poll(&sim);
    ck_assert_ptr_nonnull(
        strstr(reports(),
               "bad frontend node "
               "/local/domain/1/device/vbd/51712/ring-page-order: not a valid value"));
    fe_write("state", "%d", XenbusStateInitialising);
    xs_pvdev_sim_poll(&sim);
    fe_write("ring-page-order", "1");
    fe_write("state", "%d", XenbusStateInitialised);
    xs_pvdev_sim_poll(&sim);
    ck_assert_ptr_nonnull(strstr(reports(), "ring-ref0: missing"));
    ck_assert_uint_eq(dev->grant_maps, 0);
}
END_TEST

START_TEST(domain_end_releases_everything)
{
    front_connect(2, 1, true);
    grant(REF_DATA, DATA_GFN, false);
    ck_assert_int_eq(rw(0, BLKIF_OP_READ, 0, 0, 1, 1).status, BLKIF_RSP_OKAY);
    ck_assert_uint_eq(dev->grant_maps, 5);
    xs_domain_end(dom, XS_END_POWEROFF);
    ck_assert_uint_eq(dev->grant_maps, 0);
    ck_assert_int_eq(be_state(), XenbusStateClosed);
    ck_assert_uint_eq(xs_gnttab_check_leaks(dom), 0);
}
END_TEST

START_TEST(unplug_waits_for_the_frontend)
{
    connect1();
    /* A request left on the ring is answered (with an error) at unplug. */
    blkif_request_t *r = next_req(0);
    r->operation = BLKIF_OP_READ;
    r->id = 42;
    RING_PUSH_REQUESTS(&fr[0]);
    xs_pvdev_unplug(dev);
    ck_assert_int_eq(be_state(), XenbusStateClosing);
    ck_assert_str_eq(node(be, "online"), "0");
    ck_assert(RING_HAS_UNCONSUMED_RESPONSES(&fr[0]));
    blkif_response_t rsp;
    RING_COPY_RESPONSE(&fr[0], fr[0].rsp_cons, &rsp);
    ck_assert_uint_eq(rsp.id, 42);
    ck_assert_int_eq(rsp.status, BLKIF_RSP_ERROR);
    ck_assert_uint_eq(dev->grant_maps, 0);
    fe_write("state", "%d", XenbusStateClosed);
    xs_pvdev_sim_poll(&sim);
    /* Gone, with its nodes. */
    ck_assert_ptr_null(xs_pvdev_find(&sim, dom, "vbd", VDEV));
    ck_assert_str_eq(node(be, "state"), "");
    ck_assert_str_eq(node(fe, "state"), "");
    ck_assert_str_eq(reports(), "");
}
END_TEST

START_TEST(image_file_disk)
{
    teardown();
    setup_nodisk();
    char path[] = "/tmp/xensim-blk-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, 1 << 20), 0);
    add_disk(&(struct xs_blkback_cfg){.path = path});
    ck_assert_str_eq(node(be, "sectors"), "2048");
    ck_assert_str_eq(node(be, "params"), path);
    connect1();
    pattern(page_of(DATA_GFN), 2 * PAGE, 2);
    ck_assert_int_eq(rw(0, BLKIF_OP_WRITE, 2040, 0, 1, 1).status, BLKIF_RSP_OKAY);
    uint8_t buf[PAGE];
    ck_assert_int_eq(pread(fd, buf, PAGE, 2040 * 512), PAGE);
    ck_assert_int_eq(memcmp(buf, page_of(DATA_GFN), PAGE), 0);
    struct blkif_request_discard *d = (struct blkif_request_discard *)next_req(0);
    d->operation = BLKIF_OP_DISCARD;
    d->sector_number = 2041;
    d->nr_sectors = 2;
    ck_assert_int_eq(submit1(0).status, BLKIF_RSP_OKAY);
    ck_assert_int_eq(pread(fd, buf, PAGE, 2040 * 512), PAGE);
    ck_assert_int_eq(memcmp(buf, page_of(DATA_GFN), 512), 0);
    for (unsigned i = 512; i < 1536; i++)
        ck_assert_uint_eq(buf[i], 0);
    ck_assert_int_eq(memcmp(buf + 1536, page_of(DATA_GFN) + 1536, PAGE - 1536), 0);
    blkif_request_t *r = next_req(0);
    r->operation = BLKIF_OP_FLUSH_DISKCACHE;
    ck_assert_int_eq(submit1(0).status, BLKIF_RSP_OKAY);
    ck_assert_int_eq(rw(0, BLKIF_OP_READ, 2040, 1, 1, 2).status, BLKIF_RSP_OKAY);
    ck_assert_int_eq(memcmp(buf, page_of(DATA_GFN + 1), PAGE), 0);
    close(fd);
    unlink(path);
    ck_assert_str_eq(reports(), "");
    /* A missing file is refused when the device is added. */
    char err[256];
    ck_assert_ptr_null(xs_pvdev_add(&sim, "vbd", dom, 1,
                                    &(struct xs_blkback_cfg){.path = "/nonexistent/x"},
                                    err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/x: No such file or directory"));
    ck_assert_str_eq(node("/local/domain/1/device/vbd/1", "state"), "");
}
END_TEST

static char order[16];

static void act(struct xs_sim *s, void *arg)
{
    (void)s;
    strncat(order, arg, sizeof(order) - strlen(order) - 1);
}

static void act_unplug(struct xs_sim *s, void *arg)
{
    (void)arg;
    xs_pvdev_unplug(xs_pvdev_find(s, dom, "vbd", VDEV));
}

START_TEST(toolstack_actions_run_in_time_order)
{
    order[0] = '\0';
    ck_assert_uint_eq(xs_pvdev_next_event(&sim), XS_NO_DEADLINE);
    ck_assert_int_eq(xs_pvdev_at(&sim, 300, act, "c"), 0);
    ck_assert_int_eq(xs_pvdev_at(&sim, 100, act, "a"), 0);
    ck_assert_int_eq(xs_pvdev_at(&sim, 300, act, "d"), 0); /* after c: same time */
    ck_assert_int_eq(xs_pvdev_at(&sim, 200, act, "b"), 0);
    ck_assert_uint_eq(xs_pvdev_next_event(&sim), 100);
    sim.vtime_ns = 99;
    xs_pvdev_sim_poll(&sim);
    ck_assert_str_eq(order, "");
    sim.vtime_ns = 250;
    xs_pvdev_sim_poll(&sim);
    ck_assert_str_eq(order, "ab");
    ck_assert_uint_eq(xs_pvdev_next_event(&sim), 300);
    sim.vtime_ns = 1000;
    xs_pvdev_sim_poll(&sim);
    ck_assert_str_eq(order, "abcd");
    ck_assert_uint_eq(xs_pvdev_next_event(&sim), XS_NO_DEADLINE);
    /* An unplug as an action: the connected device goes Closing. */
    connect1();
    ck_assert_int_eq(xs_pvdev_at(&sim, 2000, act_unplug, NULL), 0);
    sim.vtime_ns = 2000;
    xs_pvdev_sim_poll(&sim);
    ck_assert_int_eq(be_state(), XenbusStateClosing);
}
END_TEST

Suite *blkback_suite(void)
{
    Suite *s = suite_create("blkback");
    TCase *tc = tcase_create("blkback");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, handshake_publishes_features);
    tcase_add_test(tc, write_read_back);
    tcase_add_test(tc, flush_barrier_discard);
    tcase_add_test(tc, bad_requests_are_answered_and_reported);
    tcase_add_test(tc, readonly_disk);
    tcase_add_test(tc, indirect_requests);
    tcase_add_test(tc, persistent_grants_kept_and_released);
    tcase_add_test(tc, multi_page_rings_and_queues);
    tcase_add_test(tc, ring_sanitizer_producer_too_far);
    tcase_add_test(tc, ring_sanitizer_producer_backwards);
    tcase_add_test(tc, bad_frontend_nodes_are_fatal);
    tcase_add_test(tc, domain_end_releases_everything);
    tcase_add_test(tc, unplug_waits_for_the_frontend);
    tcase_add_test(tc, image_file_disk);
    tcase_add_test(tc, toolstack_actions_run_in_time_order);
    suite_add_tcase(s, tc);
    return s;
}
