/* blkbench: host-side figures for xensim's block backend (`make bench`,
 * ci/bench), with memcpy anchors measured here in the same run.
 *
 *   blkbench [GUEST_DIR [N]]   (default $XENSIM_GUEST_DIR, else build/guests)
 *
 * One domain built from basic.elf (never run) plays the frontend as the
 * unit tests do: its ring, grants and requests written here, the backend
 * run through the run loop's device poll; a 256 MiB disk in memory, filled
 * first with 1 MiB writes.  Figures, host ns per request (best of REPS
 * loops):
 *   blk.rand4k_qd1_ns         4 KiB reads at pseudo-random 4 KiB-aligned
 *                             offsets, one request per poll (grant copy)
 *   blk.rand4k_qd32_ns        the same, 32 requests per poll (a full ring)
 *   blk.rand4k_qd1_pers_ns    one at a time, persistent grants (memcpy through
 *                             the backend's kept mapping)
 *   blk.seq1m_ns              1 MiB sequential reads, one indirect request of
 *                             256 segments each (grant copy)
 *   blk.seq1m_pers_ns         the same with persistent grants
 *   blk.memcpy4k_ns           anchor: memcpy of 4 KiB from the same random
 *                             offsets of a 256 MiB buffer
 *   blk.memcpy1m_ns           anchor: memcpy of 1 MiB, sequentially
 * Output: "key value" lines; errors on stderr and exit status 1. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ring_check.h"
#include <xen/io/blkif.h>
#include <xen/memory.h>

#include "blkback.h"
#include "evtchn.h"
#include "hypercall.h"
#include "pvdev.h"
#include "sim.h"
#include "xenstore.h"

#define REPS     5
#define PAGE     4096u
#define DISK_MIB 256u
#define DISK_PGS (DISK_MIB * 256u)
#define XATP     0x800000ULL
#define GT_GFN   0xa00ULL
#define RING_GFN 0xb00ULL
#define IND_GFN  0xb10ULL
#define DATA_GFN 0xc00ULL /* 256 pages: 1 MiB */
#define REF_RING 8u
#define REF_IND  9u
#define REF_DATA 16u
#define SEQ_SEGS 256u

struct bench {
    struct xs_sim sim;
    struct xs_domain *dom;
    struct xs_pvdev *dev;
    blkif_front_ring_t fr;
    evtchn_port_t port;
    char fe[96];
    uint64_t rng;
};

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void barrier_on(const void *p)
{
    __asm__ __volatile__("" : : "r"(p) : "memory");
}

static uint8_t *page_of(struct bench *b, uint64_t gfn)
{
    return b->dom->base + gfn * PAGE;
}

/* xorshift64: the same offsets every run, for the backend and the anchor. */
static uint64_t next_page(struct bench *b)
{
    b->rng ^= b->rng << 13;
    b->rng ^= b->rng >> 7;
    b->rng ^= b->rng << 17;
    return b->rng % DISK_PGS;
}

static int fe_write(struct bench *b, const char *node, unsigned v)
{
    char path[192], val[16];
    snprintf(path, sizeof(path), "%s/%s", b->fe, node);
    snprintf(val, sizeof(val), "%u", v);
    return xs_xenstore_write(b->sim.xenstore, path, val, strlen(val));
}

/* Connect a single-page ring, persistent grants or not. */
static int connect(struct bench *b, bool persistent)
{
    grant_entry_v1_t *gt = (grant_entry_v1_t *)page_of(b, GT_GFN);
    gt[REF_RING] =
        (grant_entry_v1_t){.flags = GTF_permit_access, .domid = 0, .frame = RING_GFN};
    blkif_sring_t *s = (blkif_sring_t *)page_of(b, RING_GFN);
    memset(s, 0, PAGE);
    SHARED_RING_INIT(s);
    FRONT_RING_INIT(&b->fr, s, PAGE);
    if (fe_write(b, "state", XenbusStateInitialising)) return -1;
    xs_pvdev_sim_poll(&b->sim);
    if (fe_write(b, "ring-ref", REF_RING) || fe_write(b, "event-channel", b->port) ||
        fe_write(b, "feature-persistent", persistent) ||
        fe_write(b, "state", XenbusStateInitialised))
        return -1;
    xs_pvdev_sim_poll(&b->sim);
    return xs_blkback_nr_rings(b->dev) == 1 ? 0 : -1;
}

static void disconnect(struct bench *b)
{
    fe_write(b, "state", XenbusStateClosed);
    xs_pvdev_sim_poll(&b->sim);
}

static void put_rw(struct bench *b, uint8_t op, uint64_t sector, grant_ref_t ref)
{
    blkif_request_t *r = RING_GET_REQUEST(&b->fr, b->fr.req_prod_pvt);
    r->operation = op;
    r->nr_segments = 1;
    r->handle = 0;
    r->id = b->fr.req_prod_pvt;
    r->sector_number = sector;
    r->seg[0] =
        (struct blkif_request_segment){.gref = ref, .first_sect = 0, .last_sect = 7};
    b->fr.req_prod_pvt++;
}

static void put_indirect(struct bench *b, uint8_t op, uint64_t sector)
{
    struct blkif_request_indirect *r =
        (struct blkif_request_indirect *)RING_GET_REQUEST(&b->fr, b->fr.req_prod_pvt);
    memset(r, 0, sizeof(*r));
    r->operation = BLKIF_OP_INDIRECT;
    r->indirect_op = op;
    r->nr_segments = SEQ_SEGS;
    r->id = b->fr.req_prod_pvt;
    r->sector_number = sector;
    r->indirect_grefs[0] = REF_IND;
    b->fr.req_prod_pvt++;
}

/* Push, serve, take every response; -1 if one failed. */
static int run_ring(struct bench *b)
{
    RING_PUSH_REQUESTS(&b->fr);
    xs_pvdev_sim_poll(&b->sim);
    int rc = 0;
    while (b->fr.rsp_cons != b->fr.sring->rsp_prod) {
        blkif_response_t rsp;
        RING_COPY_RESPONSE(&b->fr, b->fr.rsp_cons, &rsp);
        b->fr.rsp_cons++;
        if (rsp.status != BLKIF_RSP_OKAY) rc = -1;
    }
    return b->fr.rsp_cons == b->fr.req_prod_pvt ? rc : -1;
}

static double time_rand4k(struct bench *b, unsigned n, unsigned depth)
{
    double best = -1;
    for (int r = 0; r < REPS; r++) {
        b->rng = 88172645463325252ull;
        double t0 = now_ns();
        for (unsigned i = 0; i < n; i += depth) {
            for (unsigned k = 0; k < depth; k++)
                put_rw(b, BLKIF_OP_READ, next_page(b) * 8, REF_DATA + k);
            if (run_ring(b)) return -1;
        }
        double t = (now_ns() - t0) / n;
        if (best < 0 || t < best) best = t;
    }
    return best;
}

static double time_seq1m(struct bench *b, unsigned n)
{
    double best = -1;
    for (int r = 0; r < REPS; r++) {
        double t0 = now_ns();
        for (unsigned i = 0; i < n; i++) {
            put_indirect(b, BLKIF_OP_READ, (uint64_t)(i % DISK_MIB) * 2048);
            if (run_ring(b)) return -1;
        }
        double t = (now_ns() - t0) / n;
        if (best < 0 || t < best) best = t;
    }
    return best;
}

static double time_memcpy(struct bench *b, const uint8_t *disk, uint8_t *dst, unsigned n,
                          size_t len)
{
    double best = -1;
    for (int r = 0; r < REPS; r++) {
        b->rng = 88172645463325252ull;
        double t0 = now_ns();
        for (unsigned i = 0; i < n; i++) {
            size_t off = len == PAGE ? next_page(b) * PAGE : (i % DISK_MIB) * len;
            memcpy(dst, disk + off, len);
            barrier_on(dst);
        }
        double t = (now_ns() - t0) / n;
        if (best < 0 || t < best) best = t;
    }
    return best;
}

static int setup(struct bench *b, const char *dir)
{
    char err[512] = "", path[4096];
    FILE *log = tmpfile();
    struct xs_sim_config cfg = {.seed = 1, .log = log};
    if (!log || xs_sim_init(&b->sim, &cfg, err, sizeof(err)) ||
        xs_xenstore_attach(&b->sim, NULL, err, sizeof(err)))
        goto fail;
    snprintf(path, sizeof(path), "%s/basic.elf", dir);
    struct xs_domain_config dc = {
        .name = "bench", .image_path = path, .memory_mib = 32, .vcpus = 1, .cmdline = ""};
    if (!(b->dom = xs_domain_create(&b->sim, &dc, err, sizeof(err)))) goto fail;
    struct xen_add_to_physmap x = {
        .domid = DOMID_SELF, .space = XENMAPSPACE_grant_table, .idx = 0, .gpfn = GT_GFN};
    memcpy(b->dom->base + XATP, &x, sizeof(x));
    const uint64_t a[5] = {XENMEM_add_to_physmap,
                           (uint64_t)(uintptr_t)b->dom->base + XATP};
    if (xs_hypercall_call(xs_vcpu_of(b->dom, 0), __HYPERVISOR_memory_op, a)) {
        snprintf(err, sizeof(err), "placing the grant frame failed");
        goto fail;
    }
    b->port = (evtchn_port_t)xs_evtchn_alloc_unbound_for(b->dom, 0);
    struct xs_blkback_cfg bc = {.size_mib = DISK_MIB};
    if (!(b->dev = xs_pvdev_add(&b->sim, "vbd", b->dom, 51712, &bc, err, sizeof(err))))
        goto fail;
    snprintf(b->fe, sizeof(b->fe), "/local/domain/%u/device/vbd/51712", b->dom->domid);
    grant_entry_v1_t *gt = (grant_entry_v1_t *)page_of(b, GT_GFN);
    struct blkif_request_segment *segs = (void *)page_of(b, IND_GFN);
    for (unsigned i = 0; i < SEQ_SEGS; i++) {
        gt[REF_DATA + i] = (grant_entry_v1_t){
            .flags = GTF_permit_access, .domid = 0, .frame = (uint32_t)(DATA_GFN + i)};
        segs[i] = (struct blkif_request_segment){
            .gref = REF_DATA + i, .first_sect = 0, .last_sect = 7};
    }
    gt[REF_IND] = (grant_entry_v1_t){
        .flags = GTF_permit_access | GTF_readonly, .domid = 0, .frame = IND_GFN};
    return 0;
fail:
    fprintf(stderr, "blkbench: set-up: %s\n", err);
    return -1;
}

int main(int argc, char **argv)
{
    const char *env = getenv("XENSIM_GUEST_DIR");
    const char *dir = argc > 1 ? argv[1] : env && *env ? env : "build/guests";
    unsigned n = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 20000;
    if (n < 64) n = 64;
    n -= n % 32;
    static struct bench b;
    if (setup(&b, dir) || connect(&b, false)) return 1;
    /* Every disk page written once (untouched memory would read as the
     * shared zero page). */
    for (unsigned m = 0; m < DISK_MIB; m++) {
        memset(page_of(&b, DATA_GFN), (int)m + 1, (size_t)SEQ_SEGS * PAGE);
        put_indirect(&b, BLKIF_OP_WRITE, (uint64_t)m * 2048);
        if (run_ring(&b)) {
            fprintf(stderr, "blkbench: filling the disk failed\n");
            return 1;
        }
    }
    uint8_t *disk = malloc((size_t)DISK_MIB << 20), *dst = aligned_alloc(PAGE, 1u << 20);
    if (!disk || !dst) return 1;
    memset(disk, 1, (size_t)DISK_MIB << 20);
    unsigned nseq = n / 64;
    double qd1 = time_rand4k(&b, n, 1), qd32 = time_rand4k(&b, n, 32);
    double seq = time_seq1m(&b, nseq);
    disconnect(&b);
    if (connect(&b, true)) return 1;
    double pers = time_rand4k(&b, n, 1), seqp = time_seq1m(&b, nseq);
    disconnect(&b);
    double m4 = time_memcpy(&b, disk, dst, n, PAGE);
    double m1 = time_memcpy(&b, disk, dst, nseq, 1u << 20);
    if (qd1 < 0 || qd32 < 0 || seq < 0 || pers < 0 || seqp < 0 || b.dev->grant_maps ||
        b.dom->nr_reports) {
        fprintf(stderr, "blkbench: a request failed or the backend misbehaved\n");
        return 1;
    }
    printf("blk.n_rand %u\nblk.n_seq %u\nblk.disk_mib %u\n", n, nseq, DISK_MIB);
    printf(
        "blk.rand4k_qd1_ns %.1f\nblk.rand4k_qd32_ns %.1f\nblk.rand4k_qd1_pers_ns %.1f\n",
        qd1, qd32, pers);
    printf("blk.seq1m_ns %.1f\nblk.seq1m_pers_ns %.1f\n", seq, seqp);
    printf("blk.memcpy4k_ns %.1f\nblk.memcpy1m_ns %.1f\n", m4, m1);
    xs_sim_destroy(&b.sim);
    free(disk);
    free(dst);
    return 0;
}
