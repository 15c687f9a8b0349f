/* libFuzzer harness for guestlib's blkfront: a hostile block backend.
 *
 * Each input boots the real `blk` guest (guestlib/apps/blk, mode fuzz=1:
 * a fixed mix of reads, writes, flushes, discards, split and indirect
 * requests, then close, reconnect and the mix again) in a fresh simulation,
 * exactly as a scenario runs it, with one disk whose backend is this file
 * instead of xensim's blkback: it writes xl's device nodes (backend domain
 * 0) and the backend's features and states itself, maps the frontend's
 * rings by grant once it is Initialised, reads each request once, and takes
 * every backend decision from the next input byte.  The run loop is a copy
 * of the simulation's (sim.c's) with the backend's turn in it: after new
 * requests arrive, and whenever the guest waits while the rings are
 * connected (else time passes).  Once the input is used up
 * the backend behaves (answers everything, follows the frontend), so every
 * run ends.  The guest image is blk.elf from $XENSIM_GUEST_DIR, else
 * guests/ next to this binary; when blkfront in it was built with clang's
 * inline 8-bit counters (make fuzz does), libFuzzer sees the guest's own
 * coverage too.  Input format (fuzz/README.md has it as tables):
 *
 *   hdr[4] then repeat { op:u8 args }   (missing bytes read as 0)
 *
 *   hdr[0] features offered: 1 flush-cache, 2 barrier, 4 discard,
 *          8 persistent, 16 max-indirect-segments, 32 multi-queue-max-queues,
 *          64 max-ring-page-order, 128 info=read-only
 *   hdr[1] the guest's wishes: order = b & 7, queues = ((b >> 3) & 3) + 1,
 *          persistent = b & 32, indirect 32 segments = b & 64, 2 vCPUs = b & 128
 *   hdr[2] max-ring-page-order = b & 7, multi-queue-max-queues = (b >> 3) & 7,
 *          b & 64: InitWait only once the guest first waits,
 *          b & 128: every offered feature node holds garbage instead
 *   hdr[3] sectors = {8192, 1, 0, 2^40}[b & 3],
 *          sector-size = {512, 4096, none, "junk"}[(b >> 2) & 3],
 *          max-indirect-segments = {32, 256, 11, 4096}[(b >> 4) & 3]
 *
 *   op & 15, a = op >> 4, q = queue (a & 3) % queues, pick = (a >> 2) chooses
 *   among the queue's unanswered requests (oldest first):
 *     0 answer      honest response to pick: data, push, notify as the ring asks
 *     1 lie         h:u8 [x:u8] [s:u8] [o:u8]: response to pick with id
 *                   {real, stale (last answered), unknown (ring size + x),
 *                   another unanswered one's (x)}[h & 3], status {OKAY, ERROR,
 *                   EOPNOTSUPP, s as int8}[(h >> 2) & 3], operation o if h & 16,
 *                   not pushed if h & 32, notified anyway if h & 64
 *     2 answer-all  every queue, honestly, then notify
 *     3 prod        rsp_prod = {responses written, published - 1 - x, requests +
 *                   ring size + x, v:u32}[a >> 2] (x:u8), then notify
 *     4 notify      a >> 2 == 0: once; else a flood: one per loop turn, 64 * (a >> 2)
 *                   (4096 in all per input)
 *     5 wait        let virtual time pass: {1 ms, 10 ms, 100 ms, 1.1 s}[a & 3]
 *                   (timeouts fire; 10 s in all per input); a & 4: ignore the
 *                   frontend meanwhile
 *     6 state       backend state {Closing, Closed, InitWait, Connected, Unknown,
 *                   Initialising, "junk", removed}[a & 7]; a & 8: ignore the
 *                   frontend until time next passes
 *     7 poke        off:u16le n:u8 bytes[n] into q's ring pages
 *     8 data        v:u8 into pick's read segments before any answer: the
 *                   pattern if v is even, else garbage
 *     9 node        v:u8: rewrite one feature node ((a & 7): sectors, flush,
 *                   barrier, discard, persistent, max-ring-page-order,
 *                   multi-queue-max-queues, max-indirect-segments) to v, or
 *                   "junk" if a & 8
 *    10 hold        map pick's data grants and keep them until disconnect
 *    11 drop        forget pick (never answered: blkfront must fail it itself)
 *    12 unplug      the toolstack: online 0, Closing; nodes removed once the
 *                   frontend is Closed
 *    13 replug      after an unplug: the device again (new nodes, InitWait)
 *    14 error       pick answered ERROR (a & 8: EOPNOTSUPP)
 *    15 answer-all without notifying
 *
 * Oracles, besides ASan/UBSan on xensim and this harness: the guest must
 * power off by itself (a panic, a fault, a hang, a deadlock or a time limit
 * is a finding; blkfront's own refusal, "blkfront: bad response ...", is
 * not) and its app's checks pass (every request ended once the device is
 * closed, no byte outside a buffer changed); every request blkfront sends
 * is well formed for what was offered (operation, segments, sectors,
 * read-only, indirect limit, unique id, never more than the ring holds) and
 * its grants work while it is in flight; write data is the app's pattern;
 * the frontend's nodes respect the backend's limits; while this backend
 * told no lie, reads the app saw complete hold the data written; at the
 * end no grant is left mapped, no sanitizer report was made about the
 * guest, and blkfront left nothing granted to the backend unless the
 * backend held a mapping when blkfront let go. */
#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ring_check.h" /* xen_mb() and friends for <xen/io/ring.h> */
#include <xen/io/blkif.h>
#include <xen/io/xenbus.h>

#include "console_sim.h"
#include "evtchn.h"
#include "gnttab.h"
#include "gnttab_impl.h"
#include "loader.h"
#include "pvdev.h"
#include "sim.h"
#include "trap.h"
#include "vmentry.h"
#include "xenstore.h"
#include "xenstore_int.h"

#define PAGE         4096u
#define VDEV         51712u
#define GUEST_MIB    32u
#define MAX_Q        4u
#define MAX_PAGES    16u /* ring-page-order 4 */
#define SEGS_PER_IND (PAGE / sizeof(struct blkif_request_segment))
#define VTIME_LIMIT  (120ULL * 1000 * 1000 * 1000)
#define EXIT_LIMIT   4000000ULL
#define MS           (1000ULL * 1000)
#define WAIT_BUDGET  (10000 * MS) /* of the wait decisions, per input */
#define FLOOD_BUDGET 4096u        /* notifications of the flood decisions, per input */

/* libFuzzer's hooks for an extra module of 8-bit counters (the guest's). */
void __sanitizer_cov_8bit_counters_init(uint8_t *start, uint8_t *stop);
void __sanitizer_cov_pcs_init(const uintptr_t *pcs_beg, const uintptr_t *pcs_end);

/* A request read off a ring and not answered yet. */
struct pend {
    uint64_t id;
    uint8_t op; /* the operation its response must carry */
    bool rw, write;
    uint64_t sector;
    unsigned nseg;
    struct blkif_request_segment *seg;
};

struct hq {
    bool mapped, dead;
    uint8_t *va;
    unsigned npages;
    grant_handle_t handle[MAX_PAGES];
    blkif_back_ring_t br;
    evtchn_port_t port;
    struct pend *pend;
    unsigned npend, cap;
    uint64_t last_id;
    unsigned flood;
};

struct pgrant {
    grant_ref_t ref;
    grant_handle_t handle;
    uint8_t *p;
};

/* What was offered, as numbers (-1: absent or garbage). */
struct offer {
    int64_t order, queues, indirect, sectors;
    bool flush, barrier, discard, persistent, readonly;
};

struct fz {
    struct xs_sim sim;
    struct xs_domain *dom;
    char fe[96], be[128];
    const uint8_t *in;
    size_t left;
    struct offer off;
    bool nodes_changed;
    /* the backend's side of the handshake */
    int be_state;       /* as last written; -1 junk or removed */
    int fe_seen;        /* the frontend's state last acted on */
    uint64_t gen;       /* store generation last looked at */
    bool deaf;          /* ignore the frontend until time passes */
    bool recheck;       /* look at the frontend's state even if the store did not move */
    bool fe_late;       /* that look comes late (we were deaf) */
    bool late_initwait; /* InitWait once the guest first waits */
    bool unplugging, removed;
    bool connected, persistent;
    unsigned nq;
    struct hq q[MAX_Q];
    struct pgrant *pg;
    unsigned npg, cappg;
    uint64_t maps; /* grant mappings held */
    /* oracles */
    bool insane;  /* sent something the frontend may rightly refuse */
    bool tainted; /* wrote data that is not the pattern where a read may see it */
    bool risky;   /* held a mapping blkfront may have had to leave granted */
    uint64_t wait_until, waited; /* waited: total asked for, capped */
    unsigned flooded;            /* notifications asked for by floods, capped */
    bool waiting;
    bool verbose;
};

static const char *guest_image;
static uint8_t *cov_host, *cov_counters_pa; /* guest counters: host copy, guest address */
static uint8_t *cov_seen; /* every counter ever hit, for BLKFRONT_FUZZ_COVERAGE */
static size_t cov_len;

#define LOG(f, ...)                                                                      \
    do {                                                                                 \
        if ((f)->verbose) fprintf(stderr, "blkfront_responses: " __VA_ARGS__);           \
    } while (0)

static uint8_t pattern(uint64_t sector, unsigned off)
{
    /* guestlib/apps/blk/blk_app.h: blk_pattern */
    return (uint8_t)((sector * 7u + off * 13u + 1u) & 0xff);
}

static __attribute__((noreturn, format(printf, 2, 3))) void finding(struct fz *f,
                                                                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "blkfront_responses: FINDING: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n--- guest console ---\n");
    if (f->dom && f->dom->console)
        fwrite(f->dom->console, 1, f->dom->console_len, stderr);
    if (f->dom && f->dom->reports) {
        fprintf(stderr, "--- reports ---\n");
        fwrite(f->dom->reports, 1, f->dom->reports_len, stderr);
    }
    abort();
}

/* ---- input ------------------------------------------------------------------- */

static bool more(const struct fz *f)
{
    return f->left > 0;
}

static uint8_t next(struct fz *f)
{
    if (!f->left) return 0;
    /* The last byte: from now on the backend behaves, and first puts its
     * side of the handshake right. */
    if (!--f->left) f->recheck = true;
    return *f->in++;
}

/* ---- the store ----------------------------------------------------------------- */

static int store_read(struct fz *f, const char *dir, const char *node, char *buf,
                      size_t len)
{
    char path[256];
    int n = snprintf(path, sizeof(path), "%s/%s", dir, node);
    size_t got = len - 1;
    int e =
        xs_xenstore_request(f->sim.xenstore, XS_READ, 0, path, (size_t)n + 1, buf, &got);
    if (e) return e;
    if (got > len - 1) return E2BIG;
    buf[got] = '\0';
    return 0;
}

/* A decimal value of dir/node, or -1. */
static int64_t store_num(struct fz *f, const char *dir, const char *node)
{
    char buf[32];
    if (store_read(f, dir, node, buf, sizeof(buf)) || !buf[0]) return -1;
    int64_t v = 0;
    for (const char *p = buf; *p; p++) {
        if (*p < '0' || *p > '9' || v > (INT64_MAX - 9) / 10) return -1;
        v = v * 10 + (*p - '0');
    }
    return v;
}

static void be_write(struct fz *f, const char *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void be_write(struct fz *f, const char *node, const char *fmt, ...)
{
    char path[256], val[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(val, sizeof(val), fmt, ap);
    va_end(ap);
    snprintf(path, sizeof(path), "%s/%s", f->be, node);
    xs_xenstore_write(f->sim.xenstore, path, val, (size_t)n);
}

static const char *state_name(int s)
{
    static const char *const names[] = {"Unknown",     "Initialising",  "InitWait",
                                        "Initialised", "Connected",     "Closing",
                                        "Closed",      "Reconfiguring", "Reconfigured"};
    return s >= 0 && s < 9 ? names[s] : "junk";
}

static void be_state(struct fz *f, int s)
{
    if (f->removed || f->be_state == s) return;
    LOG(f, "backend state %s\n", state_name(s));
    f->be_state = s;
    be_write(f, "state", "%d", s);
}

/* ---- grants ---------------------------------------------------------------------- */

static void unmap_ring(struct fz *f, struct hq *q)
{
    for (unsigned i = 0; i < q->npages; i++)
        if (xs_gnttab_backend_unmap(f->dom, q->handle[i]) == GNTST_okay) f->maps--;
    if (q->va) munmap(q->va, (size_t)MAX_PAGES * PAGE);
    q->va = NULL;
    q->npages = 0;
    q->mapped = false;
}

static bool map_ring(struct fz *f, struct hq *q, const grant_ref_t *refs, unsigned n)
{
    q->va = mmap(NULL, (size_t)MAX_PAGES * PAGE, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (q->va == MAP_FAILED) {
        q->va = NULL;
        return false;
    }
    for (unsigned i = 0; i < n; i++) {
        int st = xs_gnttab_backend_map_at(f->dom, refs[i], false,
                                          q->va + (size_t)i * PAGE, &q->handle[i]);
        if (st != GNTST_okay) {
            LOG(f, "ring page %u (ref %u) cannot be mapped: %d\n", i, refs[i], st);
            unmap_ring(f, q);
            return false;
        }
        q->npages = i + 1;
        f->maps++;
    }
    q->mapped = true;
    return true;
}

/* A data grant mapped and kept until disconnect (persistent, or held). */
static uint8_t *pgrant(struct fz *f, grant_ref_t ref)
{
    for (unsigned i = 0; i < f->npg; i++)
        if (f->pg[i].ref == ref) return f->pg[i].p;
    if (f->npg == f->cappg) {
        unsigned cap = f->cappg ? 2 * f->cappg : 64;
        struct pgrant *p = realloc(f->pg, cap * sizeof(*p));
        if (!p) abort();
        f->pg = p;
        f->cappg = cap;
    }
    struct pgrant *g = &f->pg[f->npg];
    void *ptr;
    if (xs_gnttab_backend_map(f->dom, ref, false, &ptr, &g->handle) != GNTST_okay)
        return NULL;
    g->ref = ref;
    g->p = ptr;
    f->npg++;
    f->maps++;
    return g->p;
}

static void pgrants_release(struct fz *f)
{
    for (unsigned i = 0; i < f->npg; i++)
        if (xs_gnttab_backend_unmap(f->dom, f->pg[i].handle) == GNTST_okay) f->maps--;
    f->npg = 0;
}

/* Bytes in or out of a frontend's grant: through a kept mapping when
 * persistent grants were negotiated, else a grant copy.  False if the
 * grant does not allow it. */
static bool grant_io(struct fz *f, grant_ref_t ref, unsigned off, void *buf, unsigned len,
                     bool to_grant)
{
    uint8_t *p = f->persistent ? pgrant(f, ref) : NULL;
    if (p) {
        if (to_grant)
            memcpy(p + off, buf, len);
        else
            memcpy(buf, p + off, len);
        return true;
    }
    return xs_gnttab_backend_copy(f->dom, ref, (uint16_t)off, buf, (uint16_t)len,
                                  to_grant) == GNTST_okay;
}

/* ---- connection ------------------------------------------------------------------- */

static void pend_free(struct hq *q)
{
    for (unsigned i = 0; i < q->npend; i++)
        free(q->pend[i].seg);
    q->npend = 0;
}

static void disconnect(struct fz *f)
{
    for (unsigned i = 0; i < MAX_Q; i++) {
        struct hq *q = &f->q[i];
        pend_free(q);
        if (q->mapped || q->va) unmap_ring(f, q);
        q->dead = false;
        q->flood = 0;
    }
    pgrants_release(f);
    if (f->maps) finding(f, "%" PRIu64 " grant mappings left after disconnect", f->maps);
    if (f->connected) LOG(f, "disconnected\n");
    f->connected = false;
    f->persistent = false;
    f->nq = 0;
}

/* The limits the frontend's nodes must respect (unless we changed ours). */
static void check_limits(struct fz *f, int64_t order, int64_t nq)
{
    if (f->nodes_changed) return;
    int64_t max_order = f->off.order < 0 ? 0 : f->off.order;
    if (order > max_order)
        finding(f, "frontend ring-page-order %" PRId64 " over the backend's %" PRId64,
                order, max_order);
    int64_t max_q = f->off.queues <= 0 ? 1 : f->off.queues;
    if (nq > max_q)
        finding(f,
                "frontend multi-queue-num-queues %" PRId64 " over the backend's %" PRId64,
                nq, max_q);
}

/* The frontend is Initialised: its rings.  False (nothing mapped) if its
 * nodes do not name usable rings: they may be stale if we came late, else
 * (on_time: it just went Initialised and waits for us) that is a finding. */
static bool connect(struct fz *f, bool on_time)
{
    char proto[32];
    if (store_read(f, f->fe, "protocol", proto, sizeof(proto)) == 0 &&
        strcmp(proto, "x86_64-abi"))
        finding(f, "frontend protocol %s", proto);
    int64_t order = store_num(f, f->fe, "ring-page-order");
    char node[32];
    bool has_order = store_read(f, f->fe, "ring-page-order", node, sizeof(node)) == 0;
    if (has_order && (order < 0 || order > 4)) {
        if (!f->nodes_changed) finding(f, "frontend ring-page-order %s", node);
        return false;
    }
    int64_t nq = 1;
    if (store_read(f, f->fe, "multi-queue-num-queues", node, sizeof(node)) == 0) {
        nq = store_num(f, f->fe, "multi-queue-num-queues");
        if (nq < 1 || nq > (int64_t)MAX_Q) {
            if (!f->nodes_changed) finding(f, "frontend multi-queue-num-queues %s", node);
            return false;
        }
    }
    check_limits(f, has_order ? order : 0, nq);
    unsigned pages = has_order ? 1u << order : 1u;
    for (unsigned qi = 0; qi < (unsigned)nq; qi++) {
        struct hq *q = &f->q[qi];
        char dir[160];
        if (nq > 1)
            snprintf(dir, sizeof(dir), "%s/queue-%u", f->fe, qi);
        else
            snprintf(dir, sizeof(dir), "%s", f->fe);
        grant_ref_t refs[MAX_PAGES];
        for (unsigned i = 0; i < pages; i++) {
            if (has_order)
                snprintf(node, sizeof(node), "ring-ref%u", i);
            else
                snprintf(node, sizeof(node), "ring-ref");
            int64_t v = store_num(f, dir, node);
            if (v < 0 || v > UINT32_MAX) goto fail;
            refs[i] = (grant_ref_t)v;
        }
        int64_t port = store_num(f, dir, "event-channel");
        if (port < 0 || port > UINT32_MAX ||
            !xs_evtchn_is_unbound_for(f->dom, (evtchn_port_t)port, 0)) {
            LOG(f, "queue %u: event channel %" PRId64 " is not unbound for us\n", qi,
                port);
            goto fail;
        }
        if (!map_ring(f, q, refs, pages)) goto fail;
        q->port = (evtchn_port_t)port;
        BACK_RING_INIT(&q->br, (blkif_sring_t *)q->va, (size_t)pages * PAGE);
        q->last_id = 0;
        f->nq = qi + 1;
    }
    f->persistent = f->off.persistent && store_num(f, f->fe, "feature-persistent") == 1;
    f->connected = true;
    LOG(f, "connected: %u queue(s) of %u page(s)%s\n", f->nq, pages,
        f->persistent ? ", persistent grants" : "");
    return true;
fail:
    if (on_time)
        finding(f,
                "the frontend went Initialised with nodes naming rings it did not grant "
                "us (queue %u of %" PRId64 ")",
                f->nq, nq);
    disconnect(f);
    return false;
}

/* The backend's nodes, as blkback publishes them (from the header). */
static void publish(struct fz *f, const uint8_t h[4])
{
    static const uint64_t sectors[] = {8192, 1, 0, 1ULL << 40};
    static const unsigned indirect[] = {32, 256, 11, 4096};
    bool junk = h[2] & 128;
    struct offer *o = &f->off;
    memset(o, 0, sizeof(*o));
    o->order = o->queues = o->indirect = -1;
#define FEATURE(bit, node, field, val)                                                   \
    do {                                                                                 \
        if (h[0] & (bit)) {                                                              \
            if (junk) {                                                                  \
                be_write(f, node, "junk");                                               \
            } else {                                                                     \
                be_write(f, node, "%u", (unsigned)(val));                                \
                field = (val);                                                           \
            }                                                                            \
        }                                                                                \
    } while (0)
    FEATURE(1, "feature-flush-cache", o->flush, true);
    FEATURE(2, "feature-barrier", o->barrier, true);
    FEATURE(4, "feature-discard", o->discard, true);
    if (h[0] & 4) be_write(f, "discard-granularity", "512");
    FEATURE(8, "feature-persistent", o->persistent, true);
    FEATURE(16, "feature-max-indirect-segments", o->indirect, indirect[(h[3] >> 4) & 3]);
    FEATURE(32, "multi-queue-max-queues", o->queues, (h[2] >> 3) & 7);
    FEATURE(64, "max-ring-page-order", o->order, h[2] & 7);
#undef FEATURE
    o->readonly = h[0] & 128;
    be_write(f, "info", "%u", o->readonly ? VDISK_READONLY : 0u);
    o->sectors = (int64_t)sectors[h[3] & 3];
    be_write(f, "sectors", "%" PRId64, o->sectors);
    switch ((h[3] >> 2) & 3) {
    case 0:
        be_write(f, "sector-size", "512");
        break;
    case 1:
        be_write(f, "sector-size", "4096");
        break;
    case 3:
        be_write(f, "sector-size", "junk");
        break;
    default:
        break;
    }
}

/* The device as xl adds it: nodes, features, InitWait. */
static void device_add(struct fz *f, const uint8_t h[4])
{
    char err[256];
    if (xs_xenstore_add_device(&f->sim, "vbd", f->dom->domid, 0, VDEV, err, sizeof(err)))
        finding(f, "cannot add the device: %s", err);
    f->removed = f->unplugging = false;
    snprintf(f->be, sizeof(f->be), "/local/domain/0/backend/vbd/%u/%u", f->dom->domid,
             VDEV);
    snprintf(f->fe, sizeof(f->fe), "/local/domain/%u/device/vbd/%u", f->dom->domid, VDEV);
    publish(f, h);
    f->be_state = XenbusStateInitialising;
    f->fe_seen = XenbusStateInitialising;
    if (!f->late_initwait) be_state(f, XenbusStateInitWait);
}

static void device_remove(struct fz *f)
{
    disconnect(f);
    xs_xenstore_rm(f->sim.xenstore, f->be);
    xs_xenstore_rm(f->sim.xenstore, f->fe);
    f->removed = true;
    LOG(f, "device removed\n");
}

static int fe_state(struct fz *f)
{
    int64_t v = store_num(f, f->fe, "state");
    return v < 0 || v > XenbusStateReconfigured ? XenbusStateUnknown : (int)v;
}

/* The frontend's state, acted on as a Linux backend does. */
static void follow(struct fz *f, bool reconcile)
{
    if (f->removed || f->deaf) return;
    int fe = fe_state(f);
    if (fe == f->fe_seen && !reconcile) return;
    if (fe != f->fe_seen) LOG(f, "frontend %s\n", state_name(fe));
    bool on_time = fe != f->fe_seen && fe == XenbusStateInitialised && !f->fe_late;
    f->fe_seen = fe;
    f->fe_late = false;
    switch (fe) {
    case XenbusStateInitialising:
        /* Starting over: whatever we still map is stale. */
        disconnect(f);
        if (!f->unplugging && f->be_state != XenbusStateInitWait)
            be_state(f, XenbusStateInitWait);
        break;
    case XenbusStateInitialised:
    case XenbusStateConnected:
        if (f->unplugging || f->connected) {
            if (reconcile && f->connected && f->be_state != XenbusStateConnected &&
                !f->unplugging)
                be_state(f, XenbusStateConnected);
            break;
        }
        if (!reconcile && f->be_state != XenbusStateInitWait &&
            f->be_state != XenbusStateClosed)
            break;
        if (reconcile && f->be_state == XenbusStateClosing) break;
        be_state(f, connect(f, on_time) ? XenbusStateConnected : XenbusStateClosing);
        break;
    case XenbusStateClosing:
        disconnect(f);
        be_state(f, XenbusStateClosing);
        break;
    default: /* Closed, Unknown */
        disconnect(f);
        be_state(f, XenbusStateClosed);
        if (f->unplugging) device_remove(f);
        break;
    }
}

/* ---- requests ------------------------------------------------------------------- */

static struct pend *pend_add(struct fz *f, struct hq *q)
{
    if (q->npend == q->cap) {
        unsigned cap = q->cap ? 2 * q->cap : 32;
        struct pend *p = realloc(q->pend, cap * sizeof(*p));
        if (!p) abort();
        q->pend = p;
        q->cap = cap;
    }
    (void)f;
    struct pend *p = &q->pend[q->npend++];
    memset(p, 0, sizeof(*p));
    return p;
}

static void pend_remove(struct hq *q, unsigned i)
{
    free(q->pend[i].seg);
    memmove(&q->pend[i], &q->pend[i + 1], (q->npend - i - 1) * sizeof(q->pend[0]));
    q->npend--;
}

/* Segments of a read or write: well formed and inside the disk. */
static void check_segs(struct fz *f, unsigned qi, const struct pend *p)
{
    uint64_t sects = 0;
    for (unsigned i = 0; i < p->nseg; i++) {
        const struct blkif_request_segment *s = &p->seg[i];
        if (s->first_sect > s->last_sect || s->last_sect >= PAGE / 512)
            finding(f, "queue %u request id %" PRIu64 " segment %u: sectors %u..%u", qi,
                    p->id, i, s->first_sect, s->last_sect);
        sects += s->last_sect - s->first_sect + 1u;
    }
    if (f->off.sectors >= 0 && (p->sector >= (uint64_t)f->off.sectors ||
                                sects > (uint64_t)f->off.sectors - p->sector))
        finding(f,
                "queue %u request id %" PRIu64 ": sectors %" PRIu64 "+%" PRIu64
                " past the disk's %" PRId64,
                qi, p->id, p->sector, sects, f->off.sectors);
    if (p->write && f->off.readonly)
        finding(f, "queue %u request id %" PRIu64 ": a write to a read-only disk", qi,
                p->id);
}

/* One request, copied off the ring once: checked, kept until answered. */
static void take_request(struct fz *f, unsigned qi, const blkif_request_t *req)
{
    struct hq *q = &f->q[qi];
    bool strict = !f->nodes_changed;
    for (unsigned i = 0; i < q->npend && !f->insane; i++)
        if (q->pend[i].id == req->id)
            finding(f, "queue %u: id %" PRIu64 " reused before its response", qi,
                    req->id);
    struct pend *p = pend_add(f, q);
    p->id = req->id;
    p->op = req->operation;
    switch (req->operation) {
    case BLKIF_OP_READ:
    case BLKIF_OP_WRITE:
        if (req->nr_segments < 1 || req->nr_segments > BLKIF_MAX_SEGMENTS_PER_REQUEST)
            finding(f, "queue %u request id %" PRIu64 ": %u segments", qi, req->id,
                    req->nr_segments);
        p->rw = true;
        p->write = req->operation == BLKIF_OP_WRITE;
        p->sector = req->sector_number;
        p->nseg = req->nr_segments;
        p->seg = malloc(p->nseg * sizeof(*p->seg));
        if (!p->seg) abort();
        memcpy(p->seg, req->seg, p->nseg * sizeof(*p->seg));
        if (strict) check_segs(f, qi, p);
        break;
    case BLKIF_OP_INDIRECT: {
        struct blkif_request_indirect ind;
        memcpy(&ind, req, sizeof(ind));
        if (strict && f->off.indirect <= BLKIF_MAX_SEGMENTS_PER_REQUEST)
            finding(f, "queue %u request id %" PRIu64 ": indirect, not offered", qi,
                    req->id);
        if (ind.indirect_op != BLKIF_OP_READ && ind.indirect_op != BLKIF_OP_WRITE)
            finding(f, "queue %u request id %" PRIu64 ": indirect operation %u", qi,
                    req->id, ind.indirect_op);
        if (ind.nr_segments < 1 ||
            ind.nr_segments > SEGS_PER_IND * BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST ||
            (strict && ind.nr_segments > f->off.indirect))
            finding(f, "queue %u request id %" PRIu64 ": %u indirect segments", qi,
                    req->id, ind.nr_segments);
        p->op = ind.indirect_op;
        p->rw = true;
        p->write = ind.indirect_op == BLKIF_OP_WRITE;
        p->sector = ind.sector_number;
        p->nseg = ind.nr_segments;
        p->seg = malloc(p->nseg * sizeof(*p->seg));
        if (!p->seg) abort();
        for (unsigned done = 0, pg = 0; done < p->nseg; pg++) {
            unsigned n = p->nseg - done < SEGS_PER_IND ? p->nseg - done : SEGS_PER_IND;
            if (!grant_io(f, ind.indirect_grefs[pg], 0, p->seg + done,
                          n * (unsigned)sizeof(*p->seg), false)) {
                if (!f->insane)
                    finding(f,
                            "queue %u request id %" PRIu64 ": indirect page %u (ref %u) "
                            "cannot be read",
                            qi, req->id, pg, ind.indirect_grefs[pg]);
                p->nseg = done; /* the rest unusable */
                break;
            }
            done += n;
        }
        if (strict) check_segs(f, qi, p);
        break;
    }
    case BLKIF_OP_FLUSH_DISKCACHE:
        if (strict && !f->off.flush)
            finding(f, "queue %u request id %" PRIu64 ": flush, not offered", qi,
                    req->id);
        break;
    case BLKIF_OP_WRITE_BARRIER:
        if (strict && !f->off.barrier)
            finding(f, "queue %u request id %" PRIu64 ": barrier, not offered", qi,
                    req->id);
        break;
    case BLKIF_OP_DISCARD: {
        struct blkif_request_discard d;
        memcpy(&d, req, sizeof(d));
        if (strict && (!f->off.discard || f->off.readonly))
            finding(f, "queue %u request id %" PRIu64 ": discard, not offered", qi,
                    req->id);
        if (strict && f->off.sectors >= 0 &&
            (d.sector_number >= (uint64_t)f->off.sectors ||
             d.nr_sectors > (uint64_t)f->off.sectors - d.sector_number || !d.nr_sectors))
            finding(f, "queue %u request id %" PRIu64 ": discard %" PRIu64 "+%" PRIu64,
                    qi, req->id, d.sector_number, d.nr_sectors);
        break;
    }
    default:
        finding(f, "queue %u request id %" PRIu64 ": operation %u", qi, req->id,
                req->operation);
    }
}

/* New requests on every ring; true if there were any. */
static bool take_requests(struct fz *f)
{
    bool any = false;
    for (unsigned qi = 0; qi < f->nq; qi++) {
        struct hq *q = &f->q[qi];
        if (!q->mapped || q->dead) continue;
        RING_IDX rp = __atomic_load_n(&q->br.sring->req_prod, __ATOMIC_ACQUIRE);
        RING_IDX cons = q->br.req_cons;
        if (rp == cons) continue;
        /* Never more requests than the ring holds beyond the responses it
         * was shown (checked while every index we published was true). */
        if (rp - q->br.sring->rsp_prod > RING_SIZE(&q->br) ||
            rp - cons > RING_SIZE(&q->br)) {
            if (!f->insane)
                finding(f,
                        "queue %u: request producer %u with consumer %u and %u "
                        "responses published (ring size %u)",
                        qi, rp, cons, q->br.sring->rsp_prod, RING_SIZE(&q->br));
            q->dead = true;
            continue;
        }
        for (; cons != rp; cons++) {
            blkif_request_t req;
            memcpy(&req, RING_GET_REQUEST(&q->br, cons), sizeof(req));
            take_request(f, qi, &req);
            any = true;
        }
        q->br.req_cons = cons;
        /* As a backend going idle: the frontend notifies the next request. */
        int pending;
        RING_FINAL_CHECK_FOR_REQUESTS(&q->br, pending);
        (void)pending; /* the next turn of the loop reads them */
    }
    return any;
}

/* ---- responses ------------------------------------------------------------------ */

static void notify(struct fz *f, struct hq *q)
{
    if (f->dom->end_state == XS_END_RUNNING) xs_evtchn_notify_local(f->dom, q->port);
}

static void push(struct fz *f, struct hq *q, bool force_notify)
{
    int n;
    RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&q->br, n);
    if (n || force_notify) notify(f, q);
}

/* A read's data (the pattern, or fill when not garbage-free), or a write's
 * data checked against the pattern. */
static void data(struct fz *f, unsigned qi, const struct pend *p, bool ok, int fill)
{
    uint8_t buf[PAGE];
    uint64_t sector = p->sector;
    for (unsigned i = 0; i < p->nseg; i++) {
        const struct blkif_request_segment *s = &p->seg[i];
        if (s->first_sect > s->last_sect || s->last_sect >= PAGE / 512) return;
        unsigned off = s->first_sect * 512u,
                 len = (s->last_sect - s->first_sect + 1u) * 512u;
        bool io;
        if (p->write) {
            io = grant_io(f, s->gref, off, buf, len, false);
            for (unsigned b = 0; io && ok && b < len && !f->insane; b++)
                if (buf[b] != pattern(sector + b / 512, b % 512))
                    finding(f,
                            "queue %u request id %" PRIu64
                            ": write data at sector %" PRIu64
                            " byte %u is %#x, not the app's pattern",
                            qi, p->id, sector + b / 512, b % 512, buf[b]);
        } else {
            for (unsigned b = 0; b < len; b++)
                buf[b] = fill < 0 ? pattern(sector + b / 512, b % 512) : (uint8_t)fill;
            io = grant_io(f, s->gref, off, buf, len, true);
        }
        if (!io && !f->insane)
            finding(f,
                    "queue %u request id %" PRIu64 " segment %u: grant %u unusable while "
                    "the request is in flight",
                    qi, p->id, i, s->gref);
        sector += len / 512;
    }
}

/* Write one response; the unanswered request with its id (if any) is
 * answered by it.  Data for reads answered OKAY is the pattern. */
static void respond(struct fz *f, unsigned qi, uint64_t id, uint8_t op, int16_t status)
{
    struct hq *q = &f->q[qi];
    int match = -1;
    for (unsigned i = 0; i < q->npend; i++)
        if (q->pend[i].id == id) {
            match = (int)i;
            break;
        }
    if (match < 0 || q->pend[match].op != op ||
        (status != BLKIF_RSP_OKAY && status != BLKIF_RSP_ERROR &&
         status != BLKIF_RSP_EOPNOTSUPP)) {
        if (!f->insane)
            LOG(f, "lie: queue %u id %" PRIu64 " op %u status %d\n", qi, id, op, status);
        f->insane = true;
    }
    if (match >= 0) {
        struct pend *p = &q->pend[match];
        if (p->rw && status == BLKIF_RSP_OKAY) data(f, qi, p, true, -1);
        /* A failed read may leave anything in the buffer. */
        if (p->rw && !p->write && status != BLKIF_RSP_OKAY) data(f, qi, p, false, 0xe5);
        pend_remove(q, (unsigned)match);
    }
    blkif_response_t *r = RING_GET_RESPONSE(&q->br, q->br.rsp_prod_pvt);
    r->id = id;
    r->operation = op;
    r->status = status;
    q->br.rsp_prod_pvt++;
    q->last_id = id;
}

static struct hq *queue_of(struct fz *f, unsigned a)
{
    if (!f->connected || !f->nq) return NULL;
    struct hq *q = &f->q[(a & 3) % f->nq];
    return q->mapped ? q : NULL;
}

static unsigned qindex(struct fz *f, const struct hq *q)
{
    return (unsigned)(q - f->q);
}

static void answer_all(struct fz *f, bool notify_them)
{
    for (unsigned qi = 0; qi < f->nq; qi++) {
        struct hq *q = &f->q[qi];
        if (!q->mapped) continue;
        bool any = q->npend > 0;
        while (q->npend)
            respond(f, qi, q->pend[0].id, q->pend[0].op, BLKIF_RSP_OKAY);
        if (any) push(f, q, notify_them);
    }
}

/* ---- decisions ------------------------------------------------------------------ */

static void op_lie(struct fz *f, struct hq *q, unsigned pick)
{
    unsigned qi = qindex(f, q);
    uint8_t h = next(f);
    const struct pend *p = q->npend ? &q->pend[pick % q->npend] : NULL;
    uint64_t id = p ? p->id : 0;
    uint8_t op = p ? p->op : BLKIF_OP_READ;
    switch (h & 3) {
    case 1:
        id = q->last_id;
        break;
    case 2:
        id = RING_SIZE(&q->br) + next(f);
        break;
    case 3:
        if (q->npend) {
            const struct pend *o = &q->pend[next(f) % q->npend];
            id = o->id;
            op = o->op;
        }
        break;
    default:
        break;
    }
    static const int16_t st[] = {BLKIF_RSP_OKAY, BLKIF_RSP_ERROR, BLKIF_RSP_EOPNOTSUPP,
                                 0};
    int16_t status = (h >> 2 & 3) == 3 ? (int16_t)(int8_t)next(f) : st[h >> 2 & 3];
    if (h & 16) op = next(f);
    respond(f, qi, id, op, status);
    if (!(h & 32))
        push(f, q, h & 64);
    else if (h & 64)
        notify(f, q);
}

static void op_prod(struct fz *f, struct hq *q, unsigned kind)
{
    RING_IDX v;
    switch (kind & 3) {
    case 0:
        v = q->br.rsp_prod_pvt;
        break;
    case 1:
        v = q->br.sring->rsp_prod - 1u - next(f);
        break;
    case 2:
        v = q->br.req_cons + RING_SIZE(&q->br) + next(f);
        break;
    default: {
        uint32_t b = next(f);
        b |= (uint32_t)next(f) << 8;
        b |= (uint32_t)next(f) << 16;
        b |= (uint32_t)next(f) << 24;
        v = b;
    }
    }
    if (v != q->br.rsp_prod_pvt) f->insane = true;
    __atomic_store_n(&q->br.sring->rsp_prod, v, __ATOMIC_RELEASE);
    notify(f, q);
}

static void op_state(struct fz *f, unsigned a)
{
    static const int states[] = {XenbusStateClosing,  XenbusStateClosed,
                                 XenbusStateInitWait, XenbusStateConnected,
                                 XenbusStateUnknown,  XenbusStateInitialising};
    if (f->removed) return;
    if ((a & 7) < 6) {
        /* Written even when unchanged: the frontend's watch fires. */
        f->be_state = -1;
        be_state(f, states[a & 7]);
    } else if ((a & 7) == 6) {
        be_write(f, "state", "junk");
        f->be_state = -1;
    } else {
        char path[160];
        snprintf(path, sizeof(path), "%s/state", f->be);
        xs_xenstore_rm(f->sim.xenstore, path);
        f->be_state = -1;
    }
    if (a & 8) f->deaf = f->insane = true;
    /* blkfront may now let go of grants we still map. */
    if (f->maps) f->risky = true;
}

static void op_poke(struct fz *f, struct hq *q)
{
    uint16_t off = next(f);
    off |= (uint16_t)(next(f) << 8);
    uint8_t n = next(f);
    size_t room = (size_t)q->npages * PAGE, at = off % room;
    for (unsigned i = 0; i < n; i++) {
        uint8_t b = next(f);
        if (at + i < room) q->va[at + i] = b;
    }
    f->insane = true; /* the ring may now say anything */
}

static void op_node(struct fz *f, unsigned a)
{
    static const char *const nodes[] = {"sectors",
                                        "feature-flush-cache",
                                        "feature-barrier",
                                        "feature-discard",
                                        "feature-persistent",
                                        "max-ring-page-order",
                                        "multi-queue-max-queues",
                                        "feature-max-indirect-segments"};
    uint8_t v = next(f);
    if (f->removed) return;
    if (a & 8)
        be_write(f, nodes[a & 7], "junk");
    else
        be_write(f, nodes[a & 7], "%u", v);
    f->nodes_changed = true;
}

static void op_hold(struct fz *f, struct hq *q, unsigned pick)
{
    if (!q->npend) return;
    const struct pend *p = &q->pend[pick % q->npend];
    for (unsigned i = 0; i < p->nseg; i++)
        if (pgrant(f, p->seg[i].gref)) f->risky = true;
}

/* One decision from the next input byte. */
static void decide(struct fz *f, const uint8_t hdr[4])
{
    uint8_t op = next(f);
    unsigned a = op >> 4, pick = a >> 2;
    struct hq *q = queue_of(f, a);
    LOG(f, "decision: op %u arg %u%s at %" PRIu64 " ns\n", op & 15, a,
        q ? "" : " (no ring)", f->sim.vtime_ns);
    switch (op & 15) {
    case 0:
        if (q && q->npend) {
            const struct pend *p = &q->pend[pick % q->npend];
            respond(f, qindex(f, q), p->id, p->op, BLKIF_RSP_OKAY);
            push(f, q, false);
        }
        break;
    case 1:
        if (q) op_lie(f, q, pick);
        break;
    case 2:
        answer_all(f, true);
        break;
    case 3:
        if (q) op_prod(f, q, a >> 2);
        break;
    case 4:
        if (q) {
            if (a >> 2) {
                unsigned n = 64u * (a >> 2);
                if (n > FLOOD_BUDGET - f->flooded) n = FLOOD_BUDGET - f->flooded;
                q->flood += n;
                f->flooded += n;
            } else
                notify(f, q);
        }
        break;
    case 5: {
        static const uint64_t ns[] = {1 * MS, 10 * MS, 100 * MS, 1100 * MS};
        /* Our waits never use up the run's virtual time limit. */
        if (f->waited + ns[a & 3] > WAIT_BUDGET) break;
        f->waited += ns[a & 3];
        f->wait_until = f->sim.vtime_ns + ns[a & 3];
        f->waiting = true;
        if (a & 4) {
            /* Deaf: blkfront may give up on what we hold, and end grants. */
            f->deaf = f->insane = true;
            if (f->maps) f->risky = true;
        }
        break;
    }
    case 6:
        op_state(f, a);
        break;
    case 7:
        if (q) op_poke(f, q);
        break;
    case 8: {
        uint8_t v = next(f);
        if (q && q->npend) {
            const struct pend *p = &q->pend[pick % q->npend];
            if (p->rw && !p->write) {
                data(f, qindex(f, q), p, false, v & 1 ? v : -1);
                if (v & 1) f->tainted = true;
            }
        }
        break;
    }
    case 9:
        op_node(f, a);
        break;
    case 10:
        if (q) op_hold(f, q, pick);
        break;
    case 11:
        if (q && q->npend) pend_remove(q, pick % q->npend);
        break;
    case 12:
        if (!f->removed && !f->unplugging) {
            LOG(f, "unplug\n");
            f->unplugging = true;
            disconnect(f); /* as xensim's toolstack and backends do */
            be_write(f, "online", "0");
            int fe = fe_state(f);
            if (fe == XenbusStateClosed || fe == XenbusStateUnknown ||
                fe == XenbusStateInitialising)
                device_remove(f);
            else
                be_state(f, XenbusStateClosing);
        }
        break;
    case 13:
        if (f->removed) {
            LOG(f, "replug\n");
            device_add(f, hdr);
        }
        break;
    case 14:
        if (q && q->npend) {
            const struct pend *p = &q->pend[pick % q->npend];
            respond(f, qindex(f, q), p->id, p->op,
                    a & 8 ? BLKIF_RSP_EOPNOTSUPP : BLKIF_RSP_ERROR);
            push(f, q, false);
        }
        break;
    default:
        answer_all(f, false);
        break;
    }
}

/* ---- the run ---------------------------------------------------------------------- */

static bool guest_idle(struct fz *f, struct xs_vcpu **pick)
{
    struct xs_vcpu *run[2];
    unsigned n = 0;
    for (unsigned j = 0; j < f->dom->nr_vcpus && n < 2; j++)
        if (f->dom->vcpus[j].state == XS_VCPU_RUNNABLE) run[n++] = &f->dom->vcpus[j];
    if (!n) return true;
    *pick = run[n == 1 ? 0 : xs_prng_below(&f->sim.prng, n)];
    return false;
}

/* sim.c's idle: virtual time jumps to the next timer. */
static bool time_passes(struct fz *f)
{
    xs_timers_changed(&f->sim);
    uint64_t to = f->sim.next_timer_ns;
    if (to == XS_NO_DEADLINE) return false;
    if (to > f->sim.vtime_ns) f->sim.vtime_ns = to;
    xs_timers_run(&f->sim);
    if (f->deaf && (!f->waiting || f->sim.vtime_ns >= f->wait_until)) {
        f->deaf = false;
        f->recheck = f->fe_late = true;
    }
    return true;
}

static void run(struct fz *f, const uint8_t hdr[4])
{
    struct xs_sim *sim = &f->sim;
    xs_watchdog_arm(true);
    while (f->dom->end_state == XS_END_RUNNING) {
        if (sim->nr_exits >= EXIT_LIMIT) finding(f, "exit limit reached");
        if (sim->vtime_ns >= VTIME_LIMIT) finding(f, "virtual time limit reached");
        xs_timers_run(sim);
        if (sim->xenstore->generation != f->gen || f->recheck) {
            f->gen = sim->xenstore->generation;
            f->recheck = false;
            follow(f, !more(f));
        }
        bool fresh = f->connected && take_requests(f);
        for (unsigned i = 0; i < f->nq; i++)
            if (f->q[i].flood && f->q[i].mapped) {
                f->q[i].flood--;
                notify(f, &f->q[i]);
            }
        if (f->waiting && sim->vtime_ns >= f->wait_until) f->waiting = false;
        if (fresh && more(f) && !f->waiting) decide(f, hdr);
        xs_xenstore_sim_poll(sim);
        xs_console_sim_poll(sim);
        struct xs_vcpu *v = NULL;
        if (guest_idle(f, &v)) {
            /* The guest waits: the backend's turn, or time passes. */
            if (f->late_initwait) {
                f->late_initwait = false;
                be_state(f, XenbusStateInitWait);
                continue;
            }
            /* Decisions are spent where there is I/O: while connected (or
             * unplugged, to plug it again). */
            if (more(f) && !f->waiting && (f->connected || f->removed)) {
                decide(f, hdr);
                continue;
            }
            if (!more(f)) {
                bool any = false;
                for (unsigned i = 0; i < f->nq; i++)
                    any |= f->q[i].mapped && f->q[i].npend;
                if (any) {
                    answer_all(f, true);
                    continue;
                }
            }
            if (!time_passes(f))
                finding(f, "deadlock: the guest waits with no timer armed");
            continue;
        }
        xs_vcpu_run_once(v);
        if (sim->stuck) finding(f, "the guest ran 2 s of host time without a VM exit");
    }
    xs_watchdog_arm(false);
    xs_tsc_trap_disarm();
    xs_console_sim_flush(sim);
}

/* Grants of the guest still open to domain 0 beyond the toolstack's seeds. */
static unsigned granted_to_backend(struct fz *f)
{
    struct xs_gnttab *gt = f->dom->gnttab;
    unsigned n = 0, nents = xs_gnttab_nr_entries(gt);
    for (grant_ref_t ref = GNTTAB_NR_RESERVED_ENTRIES; ref < nents; ref++) {
        grant_entry_header_t *h = xs_gnttab_shared_hdr(gt, ref);
        if ((h->flags & GTF_type_mask) == GTF_permit_access && h->domid == 0) n++;
    }
    return n;
}

static void verdict(struct fz *f)
{
    if (f->dom->end_state != XS_END_POWEROFF)
        finding(f, "the guest ended '%s', not poweroff",
                xs_end_state_name(f->dom->end_state));
    /* The app closes what it opened: a ring still mapped now is one
     * blkfront walked away from without telling the backend. */
    if (f->maps && !f->risky)
        finding(f,
                "the guest powered off with %" PRIu64 " grant mappings still held by the "
                "backend (a connection blkfront left without closing)",
                f->maps);
    disconnect(f);
    xs_gnttab_final_check(f->dom);
    if (f->dom->reports_len) finding(f, "sanitizer reports about the guest");
    if (!f->tainted && !f->insane && f->dom->console &&
        memmem(f->dom->console, f->dom->console_len, "read data mismatch", 18))
        finding(f, "a read completed OKAY without the data written");
    unsigned left = granted_to_backend(f);
    if (left && !f->risky)
        finding(f, "%u grants left open to the backend that it never held at the end",
                left);
    if (xs_xenstore_corruptions(f->sim.xenstore)) finding(f, "xenstored corruption");
}

/* ---- libFuzzer -------------------------------------------------------------------- */

static void print_coverage(void)
{
    size_t hit = 0;
    for (size_t i = 0; i < cov_len; i++)
        hit += cov_seen[i] != 0;
    fprintf(stderr, "blkfront_responses: guest blkfront: %zu of %zu counters hit\n", hit,
            cov_len);
}

/* The section holding the guest's coverage counters, if blkfront was built
 * with them: its guest-physical address (the image is linked at virtual ==
 * physical) and size. */
static void find_counters(const char *path)
{
    struct xs_image img;
    char err[256];
    if (xs_image_open(&img, path, err, sizeof(err))) {
        fprintf(stderr, "blkfront_responses: %s\n", err);
        exit(1);
    }
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img.data;
    if (eh->e_shoff && eh->e_shentsize == sizeof(Elf64_Shdr) &&
        eh->e_shstrndx < eh->e_shnum &&
        eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) <= img.size) {
        const Elf64_Shdr *sh = (const Elf64_Shdr *)(img.data + eh->e_shoff);
        const Elf64_Shdr *strs = &sh[eh->e_shstrndx];
        for (unsigned i = 0; i < eh->e_shnum && strs->sh_offset < img.size; i++) {
            if (sh[i].sh_name >= strs->sh_size ||
                strs->sh_offset + sh[i].sh_name >= img.size)
                continue;
            const char *name = (const char *)img.data + strs->sh_offset + sh[i].sh_name;
            size_t room = img.size - (strs->sh_offset + sh[i].sh_name);
            if (strnlen(name, room) < room && !strcmp(name, "__sancov_cntrs") &&
                sh[i].sh_size &&
                sh[i].sh_addr + sh[i].sh_size <= (uint64_t)GUEST_MIB << 20) {
                cov_counters_pa = (uint8_t *)(uintptr_t)sh[i].sh_addr;
                cov_len = sh[i].sh_size;
            }
        }
    }
    xs_image_free(&img);
    if (!cov_len) {
        fprintf(stderr,
                "blkfront_responses: %s has no coverage counters: libFuzzer sees "
                "xensim's coverage only\n",
                path);
        return;
    }
    /* A module of its own for libFuzzer: the counters (copied in after each
     * run) and a table of made-up PCs, one per counter. */
    size_t bytes = (cov_len + PAGE - 1) & ~(size_t)(PAGE - 1);
    cov_host = aligned_alloc(PAGE, bytes);
    uintptr_t *pcs = calloc(2 * cov_len, sizeof(*pcs));
    if (!cov_host || !pcs) abort();
    memset(cov_host, 0, bytes);
    for (size_t i = 0; i < cov_len; i++)
        pcs[2 * i] = 0x7e0000000000ULL + i * 16; /* distinct, never real code */
    __sanitizer_cov_8bit_counters_init(cov_host, cov_host + cov_len);
    __sanitizer_cov_pcs_init(pcs, pcs + 2 * cov_len);
    if (getenv("BLKFRONT_FUZZ_COVERAGE")) {
        cov_seen = calloc(cov_len, 1);
        if (!cov_seen) abort();
        atexit(print_coverage);
    }
    fprintf(stderr, "blkfront_responses: %zu coverage counters in the guest's blkfront\n",
            cov_len);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static char path[PATH_MAX];
    const char *dir = getenv("XENSIM_GUEST_DIR");
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (dir)
        snprintf(path, sizeof(path), "%s/blk.elf", dir);
    else if (n > 0) {
        exe[n] = '\0';
        snprintf(path, sizeof(path), "%s/guests/blk.elf", dirname(exe));
    }
    if (access(path, R_OK)) {
        fprintf(stderr, "blkfront_responses: no guest image %s (set XENSIM_GUEST_DIR)\n",
                path);
        exit(1);
    }
    guest_image = path;
    find_counters(path);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fz f;
    memset(&f, 0, sizeof(f));
    f.verbose = getenv("BLKFRONT_FUZZ_VERBOSE") != NULL;
    uint8_t hdr[4] = {0};
    for (unsigned i = 0; i < 4 && i < size; i++)
        hdr[i] = data[i];
    f.in = data + (size < 4 ? size : 4);
    f.left = size < 4 ? 0 : size - 4;
    FILE *devnull = fopen("/dev/null", "w");
    char err[768] = "", cmdline[160];
    struct xs_sim_config cfg = {.seed = 1,
                                .console_out = f.verbose ? stderr : NULL,
                                .console_prefix = true,
                                .log = f.verbose ? stderr : devnull,
                                .vtime_limit_ns = VTIME_LIMIT,
                                .exit_limit = EXIT_LIMIT};
    if (!devnull || xs_sim_init(&f.sim, &cfg, err, sizeof(err)) ||
        xs_xenstore_attach(&f.sim, NULL, err, sizeof(err))) {
        fprintf(stderr, "blkfront_responses: set-up: %s\n", err);
        abort();
    }
    snprintf(cmdline, sizeof(cmdline),
             "fuzz=1 order=%u queues=%u persistent=%u indirect=%u", hdr[1] & 7,
             ((hdr[1] >> 3) & 3) + 1, (hdr[1] >> 5) & 1, hdr[1] & 64 ? 32 : 0);
    struct xs_domain_config dc = {.name = "g",
                                  .image_path = guest_image,
                                  .memory_mib = GUEST_MIB,
                                  .vcpus = hdr[1] & 128 ? 2 : 1,
                                  .cmdline = cmdline};
    f.dom = xs_domain_create(&f.sim, &dc, err, sizeof(err));
    if (!f.dom) {
        fprintf(stderr, "blkfront_responses: set-up: %s\n", err);
        abort();
    }
    f.late_initwait = hdr[2] & 64;
    device_add(&f, hdr);
    f.gen = f.sim.xenstore->generation;
    run(&f, hdr);
    verdict(&f);
    if (cov_len) memcpy(cov_host, f.dom->base + (uintptr_t)cov_counters_pa, cov_len);
    for (size_t i = 0; cov_seen && i < cov_len; i++)
        cov_seen[i] |= cov_host[i];
    for (unsigned i = 0; i < MAX_Q; i++)
        free(f.q[i].pend);
    free(f.pg);
    xs_sim_destroy(&f.sim);
    fclose(devnull);
    return 0;
}
