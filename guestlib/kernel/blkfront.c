/* blkfront: the PV block frontend (guest/blkfront.h).
 *
 * Each queue is a ring (one or more contiguous pages granted to the
 * backend), an event channel and a shadow array: slot i holds the request
 * sent with id i (a copy: what we sent, never read back from the ring),
 * the grants it uses and the caller's request it belongs to.  Free slots
 * form a list.  One lock per queue, taken with interrupts off, covers the
 * ring, the shadows and the grants made for them; the queue's event
 * handler and waiters polling from thread context both take responses
 * under it.
 *
 * The backend is not trusted: the response producer is read once per pass
 * and checked against the requests outstanding before any slot is read,
 * each response is copied once, and its id, operation and status are
 * checked against the shadow. */
#include <guest/blkfront.h>
#include <guest/control.h>
#include <guest/evtchn.h>
#include <guest/gnttab.h>
#include <guest/irq.h>
#include <guest/kernel.h>
#include <guest/mm.h>
#include <guest/printk.h>
#include <guest/smp.h>
#include <guest/string.h>
#include <guest/time.h>
#include <guest/xenbus.h>
#include <xen/io/blkif.h>
#include <xen/io/protocols.h>

#define NO_SLOT                0xffffffffu
#define SECTS_PER_PAGE         (PAGE_SIZE / BLKFRONT_SECTOR)
#define SEGS_PER_INDIRECT_PAGE (PAGE_SIZE / sizeof(struct blkif_request_segment))
/* Waiters on another CPU than the handler's poll the rings this often. */
#define POLL_SLICE_NS ((uint64_t)1000 * 1000)

_Static_assert(BLKFRONT_MAX_SEGS <= SEGS_PER_INDIRECT_PAGE, "one indirect page");

struct seg {
    grant_ref_t ref; /* a grant of the caller's page (not persistent) */
    uint8_t *user;   /* the caller's bytes (persistent: copied) */
    uint16_t len;
};

struct shadow {
    blkif_request_t req; /* as sent */
    struct blkfront_req *owner;
    uint32_t next_free;
    bool in_use;
    uint8_t op; /* the response's expected operation */
    bool write;
    uint16_t nseg;
    struct seg seg[BLKFRONT_MAX_SEGS];
    /* Persistent grants: this slot's own pages, granted once, kept. */
    uint8_t *pg[BLKFRONT_MAX_SEGS];
    grant_ref_t pg_ref[BLKFRONT_MAX_SEGS];
    /* The indirect segment page, granted read-only once, kept. */
    struct blkif_request_segment *ind;
    grant_ref_t ind_ref;
    /* What the request asks, to issue it again after a resume. */
    uint8_t bop; /* enum blkfront_op */
    uint64_t sector, seq;
    uint8_t *ubuf;
    uint32_t ulen;
};

struct bf_ring {
    struct blkfront *bf;
    unsigned idx;
    blkif_front_ring_t fr;
    uint8_t *pages;
    unsigned nr_pages;
    grant_ref_t refs[1u << BLKFRONT_MAX_RING_ORDER];
    long port;
    struct shadow *shadow;
    unsigned nr_shadow, shadow_pages;
    uint32_t free_head;
    unsigned inflight;
    spinlock_t lock;
};

struct blkfront {
    bool used;
    struct xenbus_device dev;
    struct blkfront_opts opts;
    struct blkfront_info info;
    struct blkfront_stats stats;
    struct bf_ring ring[BLKFRONT_MAX_QUEUES];
    unsigned nq, next_queue;
    volatile bool broken, connected;
    volatile bool backend_closing; /* hot-unplug: nothing more is sent */
    volatile bool suspended;       /* a suspend is under way: submits wait */
    uint64_t next_seq;             /* requests in the order they were queued */
};

static struct blkfront devs[BLKFRONT_MAX_DEVS];

/* ---- helpers ------------------------------------------------------------------ */

static unsigned umin(unsigned a, unsigned b)
{
    return a < b ? a : b;
}

static uint64_t backend_u64(struct blkfront *bf, const char *node, uint64_t dflt)
{
    uint64_t v;
    return xenbus_read_u64(XBT_NIL, bf->dev.otherend, node, &v) ? dflt : v;
}

static domid_t backend_id(struct blkfront *bf)
{
    return (domid_t)bf->dev.otherend_id;
}

/* ---- completion ------------------------------------------------------------------ */

static void owner_done(struct blkfront_req *r, long status)
{
    if (!r) return; /* a timed-out synchronous request: nobody waits */
    if (status && !r->first_err) r->first_err = status;
    if (--r->pending) return;
    r->status = r->first_err;
    __atomic_store_n(&r->done, true, __ATOMIC_RELEASE);
    if (r->complete) r->complete(r);
}

/* Slot s is answered (status), or failed (broken device). */
static void slot_complete(struct bf_ring *q, uint32_t id, long status)
{
    struct shadow *s = &q->shadow[id];
    struct blkfront *bf = q->bf;
    for (unsigned i = 0; i < s->nseg; i++) {
        struct seg *g = &s->seg[i];
        if (s->pg[i]) {
            if (!status && !s->write && s->owner) memcpy(g->user, s->pg[i], g->len);
            continue;
        }
        /* A backend still mapping the page keeps the grant: never revoke
         * under a mapping (XSA-396); the reference is leaked instead. */
        if (gnttab_end_access(g->ref))
            printk(
                "blkfront: vbd %u: grant %u still in use by the backend, left granted\n",
                bf->info.vdev, g->ref);
    }
    struct blkfront_req *owner = s->owner;
    s->in_use = false;
    s->owner = NULL;
    s->nseg = 0;
    s->next_free = q->free_head;
    q->free_head = id;
    q->inflight--;
    bf->stats.responses++;
    if (status) bf->stats.errors++;
    if (owner) owner_done(owner, status);
}

static void fail_all(struct bf_ring *q)
{
    for (uint32_t id = 0; id < q->nr_shadow; id++)
        if (q->shadow[id].in_use) slot_complete(q, id, -XEN_EIO);
}

static void mark_broken(struct blkfront *bf)
{
    bf->broken = true;
    bf->stats.bad_responses++;
}

/* Take every response the backend produced (lock held). */
static void ring_poll(struct bf_ring *q)
{
    struct blkfront *bf = q->bf;
    /* Suspended: what the backend answers now is either taken after a
     * cancel, or issued again after a resume -- never both. */
    if (bf->broken || !q->shadow || bf->suspended) return;
    for (;;) {
        RING_IDX rp = READ_ONCE(q->fr.sring->rsp_prod);
        xen_rmb(); /* the responses before the index */
        RING_IDX cons = q->fr.rsp_cons;
        if (rp - cons > q->fr.req_prod_pvt - cons) {
            printk("blkfront: bad response producer on vbd %u queue %u: %u with %u "
                   "requests outstanding from %u\n",
                   bf->info.vdev, q->idx, rp, q->fr.req_prod_pvt - cons, cons);
            mark_broken(bf);
            fail_all(q);
            return;
        }
        for (; cons != rp; cons++) {
            blkif_response_t rsp;
            RING_COPY_RESPONSE(&q->fr, cons, &rsp);
            const char *why = NULL;
            struct shadow *s = rsp.id < q->nr_shadow ? &q->shadow[rsp.id] : NULL;
            if (!s || !s->in_use)
                why = "unknown id";
            else if (rsp.operation != s->op)
                why = "wrong operation";
            else if (rsp.status != BLKIF_RSP_OKAY && rsp.status != BLKIF_RSP_ERROR &&
                     rsp.status != BLKIF_RSP_EOPNOTSUPP)
                why = "bad status";
            if (why) {
                printk("blkfront: bad response on vbd %u queue %u at %u: %s (id %llu, op "
                       "%u, status %d)\n",
                       bf->info.vdev, q->idx, cons, why, (unsigned long long)rsp.id,
                       rsp.operation, rsp.status);
                q->fr.rsp_cons = cons + 1;
                mark_broken(bf);
                fail_all(q);
                return;
            }
            long st = rsp.status == BLKIF_RSP_OKAY         ? 0
                      : rsp.status == BLKIF_RSP_EOPNOTSUPP ? -XEN_EOPNOTSUPP
                                                           : -XEN_EIO;
            slot_complete(q, (uint32_t)rsp.id, st);
        }
        q->fr.rsp_cons = cons;
        int more;
        RING_FINAL_CHECK_FOR_RESPONSES(&q->fr, more);
        if (!more) return;
    }
}

static void ring_poll_locked(struct bf_ring *q)
{
    unsigned long f = irq_save();
    spin_lock(&q->lock);
    ring_poll(q);
    spin_unlock(&q->lock);
    irq_restore(f);
}

static void ring_event(evtchn_port_t port, void *arg)
{
    (void)port;
    ring_poll_locked(arg);
}

static void poll_all(struct blkfront *bf)
{
    for (unsigned i = 0; i < bf->nq; i++)
        ring_poll_locked(&bf->ring[i]);
}

/* ---- rings ------------------------------------------------------------------------- */

/* End a grant of a page we are about to free; false (page must not be
 * reused) if the backend still maps it. */
static bool ungrant(struct blkfront *bf, grant_ref_t ref)
{
    long rc = gnttab_end_access(ref);
    if (rc)
        printk("blkfront: vbd %u: grant %u still in use by the backend at close, page "
               "kept\n",
               bf->info.vdev, ref);
    return rc == 0;
}

static void ring_free(struct bf_ring *q)
{
    struct blkfront *bf = q->bf;
    if (q->port > 0) evtchn_close((evtchn_port_t)q->port);
    q->port = 0;
    if (q->shadow) {
        for (unsigned id = 0; id < q->nr_shadow; id++) {
            struct shadow *s = &q->shadow[id];
            for (unsigned i = 0; i < BLKFRONT_MAX_SEGS; i++)
                if (s->pg[i] && ungrant(bf, s->pg_ref[i])) page_free(s->pg[i]);
            if (s->ind && ungrant(bf, s->ind_ref)) page_free(s->ind);
        }
        for (unsigned i = 0; i < q->shadow_pages; i++)
            page_free((uint8_t *)q->shadow + i * PAGE_SIZE);
    }
    bool all = true;
    for (unsigned i = 0; i < q->nr_pages; i++)
        all &= ungrant(bf, q->refs[i]);
    if (q->pages && all)
        for (unsigned i = 0; i < q->nr_pages; i++)
            page_free(q->pages + i * PAGE_SIZE);
    memset(q, 0, sizeof(*q));
}

static long ring_alloc(struct blkfront *bf, unsigned idx, unsigned order)
{
    struct bf_ring *q = &bf->ring[idx];
    memset(q, 0, sizeof(*q));
    q->bf = bf;
    q->idx = idx;
    q->nr_pages = 1u << order;
    q->pages = page_alloc_contig(q->nr_pages);
    if (!q->pages) return -XEN_ENOMEM;
    blkif_sring_t *s = (blkif_sring_t *)q->pages;
    SHARED_RING_INIT(s);
    FRONT_RING_INIT(&q->fr, s, q->nr_pages * PAGE_SIZE);
    for (unsigned i = 0; i < q->nr_pages; i++) {
        long ref = gnttab_grant_page(backend_id(bf), q->pages + i * PAGE_SIZE, false);
        if (ref < 0) {
            q->nr_pages = i;
            return ref;
        }
        q->refs[i] = (grant_ref_t)ref;
    }
    q->nr_shadow = RING_SIZE(&q->fr);
    size_t bytes = q->nr_shadow * sizeof(struct shadow);
    q->shadow_pages = (unsigned)((bytes + PAGE_SIZE - 1) / PAGE_SIZE);
    q->shadow = page_alloc_contig(q->shadow_pages);
    if (!q->shadow) {
        q->shadow_pages = 0;
        return -XEN_ENOMEM;
    }
    for (uint32_t id = 0; id < q->nr_shadow; id++)
        q->shadow[id].next_free = id + 1 < q->nr_shadow ? id + 1 : NO_SLOT;
    q->free_head = 0;
    q->port = evtchn_alloc_unbound(backend_id(bf), ring_event, q);
    return q->port < 0 ? q->port : 0;
}

/* ---- the handshake ------------------------------------------------------------------
 */

struct publish_arg {
    struct blkfront *bf;
    unsigned order;
};

/* Everything the backend reads at connect, in one transaction. */
/* Remove node (below our directory) if an earlier connection wrote it. */
static long unpublish(xs_transaction_t t, struct xenbus_device *dev, const char *node)
{
    char path[XENBUS_PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/%s", dev->nodename, node);
    long rc = xenstore_rm(t, path);
    return rc == -XEN_ENOENT ? 0 : rc;
}

/* Ring references an earlier connection left in dir ("" or "queue-N/")
 * that this one does not use: "ring-ref" next to "ring-ref0..", or
 * "ring-refN" past this ring's pages (a reconnect with another
 * ring-page-order, as after a restore on a host whose backend offers
 * fewer pages).  A backend reading the wrong form maps pages that are no
 * ring any more. */
static long unpublish_stale_refs(xs_transaction_t t, struct xenbus_device *dev,
                                 const char *dir, unsigned order, unsigned nr_pages)
{
#ifdef GUEST_BUG_BLK_STALE_RING_REF
    /* Deliberate bug: the other form's nodes stay. */
    (void)t, (void)dev, (void)dir, (void)order, (void)nr_pages;
    return 0;
#else
    char path[XENBUS_PATH_MAX + 32], node[40];
    snprintf(path, sizeof(path), "%s/%s", dev->nodename, dir);
    path[strlen(path) - 1] = '\0'; /* "/" or "queue-N/": without the slash */
    char *list = page_alloc();
    if (!list) return -XEN_ENOMEM;
    long count = xenstore_directory(t, path, list, PAGE_SIZE);
    long rc = count == -XEN_ENOENT ? 0 : count < 0 ? count : 0;
    const char *c = list;
    for (long i = 0; !rc && i < count; i++, c += strlen(c) + 1) {
        if (strncmp(c, "ring-ref", 8)) continue;
        /* "ring-ref", or "ring-ref" and a page number (others are not ours) */
        const char *num = c + 8;
        unsigned long idx = 0;
        bool numeric = *num != '\0';
        for (const char *d = num; *d && numeric; d++) {
            numeric = *d >= '0' && *d <= '9' && idx < 1000;
            idx = idx * 10 + (unsigned long)(*d - '0');
        }
        bool stale = !*num ? order > 0 : numeric && (order == 0 || idx >= nr_pages);
        if (!stale) continue;
        snprintf(node, sizeof(node), "%s%s", dir, c);
        rc = unpublish(t, dev, node);
    }
    page_free(list);
    return rc;
#endif
}

static long publish(xs_transaction_t t, void *arg)
{
    struct publish_arg *a = arg;
    struct blkfront *bf = a->bf;
    struct xenbus_device *dev = &bf->dev;
    long rc = 0;
    /* A reconnect may negotiate fewer pages or queues than the last
     * connection: its nodes would name stale rings. */
    if (a->order)
        rc = xenbus_printf(t, dev, "ring-page-order", "%u", a->order);
    else
        rc = unpublish(t, dev, "ring-page-order");
    if (!rc && bf->nq > 1)
        rc = xenbus_printf(t, dev, "multi-queue-num-queues", "%u", bf->nq);
    else if (!rc)
        rc = unpublish(t, dev, "multi-queue-num-queues");
    for (unsigned qi = 0; !rc && qi < bf->nq; qi++) {
        struct bf_ring *q = &bf->ring[qi];
        char dir[16] = "", node[40];
        if (bf->nq > 1) snprintf(dir, sizeof(dir), "queue-%u/", qi);
        for (unsigned i = 0; !rc && i < q->nr_pages; i++) {
            if (a->order)
                snprintf(node, sizeof(node), "%sring-ref%u", dir, i);
            else
                snprintf(node, sizeof(node), "%sring-ref", dir);
            rc = xenbus_printf(t, dev, node, "%u", q->refs[i]);
        }
        if (!rc) rc = unpublish_stale_refs(t, dev, dir, a->order, q->nr_pages);
        snprintf(node, sizeof(node), "%sevent-channel", dir);
        if (!rc) rc = xenbus_printf(t, dev, node, "%ld", q->port);
    }
    if (!rc) rc = xenbus_printf(t, dev, "protocol", "%s", XEN_IO_PROTO_ABI_X86_64);
    if (!rc) rc = xenbus_printf(t, dev, "feature-persistent", "%u", bf->opts.persistent);
    return rc;
}

static long wait_backend(struct blkfront *bf, enum xenbus_state want)
{
    uint32_t mask = XENBUS_STATE_BIT(want) | XENBUS_STATE_BIT(XenbusStateClosing) |
                    XENBUS_STATE_BIT(XenbusStateClosed);
    long st = xenbus_wait_otherend(&bf->dev, mask, BLKFRONT_TIMEOUT_NS);
    if (st == (long)want) return 0;
    printk("blkfront: vbd %u: waited for the backend's %s, it is %s\n", bf->info.vdev,
           xenbus_state_name(want),
           st < 0 ? xenstore_errname(st) : xenbus_state_name((enum xenbus_state)st));
    return st < 0 ? st : -XEN_EIO;
}

static void rings_free(struct blkfront *bf)
{
    for (unsigned i = 0; i < BLKFRONT_MAX_QUEUES; i++)
        if (bf->ring[i].bf) ring_free(&bf->ring[i]);
    bf->nq = 0;
}

/* Connecting failed after the backend was told our rings (Initialised):
 * it may map them.  Closing first, so it lets go (Linux's
 * xenbus_dev_fatal), then the rings go and Closed; otherwise it keeps
 * serving pages we no longer use, and their grants stay open. */
static void connect_abandon(struct blkfront *bf)
{
    xenbus_switch_state(&bf->dev, XenbusStateClosing);
    xenbus_wait_otherend(&bf->dev,
                         XENBUS_STATE_BIT(XenbusStateClosing) |
                             XENBUS_STATE_BIT(XenbusStateClosed) |
                             XENBUS_STATE_BIT(XenbusStateUnknown),
                         BLKFRONT_TIMEOUT_NS);
    rings_free(bf);
    xenbus_switch_state(&bf->dev, XenbusStateClosed);
}

static long connect(struct blkfront *bf)
{
    struct xenbus_device *dev = &bf->dev;
    struct blkfront_info *in = &bf->info;
    long rc = wait_backend(bf, XenbusStateInitWait);
    if (rc) return rc;
    unsigned max_order = (unsigned)backend_u64(bf, "max-ring-page-order", 0);
    unsigned max_q = (unsigned)backend_u64(bf, "multi-queue-max-queues", 1);
    bool be_persistent = backend_u64(bf, "feature-persistent", 0) == 1;
    unsigned be_indirect = (unsigned)backend_u64(bf, "feature-max-indirect-segments", 0);
    unsigned order = umin(umin(bf->opts.ring_order, max_order), BLKFRONT_MAX_RING_ORDER);
    bf->nq = umin(umin(bf->opts.queues ? bf->opts.queues : 1, max_q ? max_q : 1),
                  BLKFRONT_MAX_QUEUES);
    in->persistent = bf->opts.persistent && be_persistent;
    in->max_segs = BLKIF_MAX_SEGMENTS_PER_REQUEST;
    if (bf->opts.indirect_segs > BLKIF_MAX_SEGMENTS_PER_REQUEST &&
        be_indirect > BLKIF_MAX_SEGMENTS_PER_REQUEST)
        in->max_segs = umin(umin(bf->opts.indirect_segs, be_indirect), BLKFRONT_MAX_SEGS);
    in->ring_pages = 1u << order;
    in->nr_queues = bf->nq;
    for (unsigned i = 0; i < bf->nq && !rc; i++)
        rc = ring_alloc(bf, i, order);
    struct publish_arg pa = {bf, order};
    if (!rc) rc = xenstore_transaction(publish, &pa, 0, NULL);
    if (!rc) rc = xenbus_switch_state(dev, XenbusStateInitialised);
    bool told = !rc;
    if (!rc) rc = wait_backend(bf, XenbusStateConnected);
    if (rc) {
        printk("blkfront: vbd %u: connecting failed: %s\n", in->vdev,
               xenstore_errname(rc));
        if (told)
            connect_abandon(bf);
        else
            rings_free(bf);
        return rc;
    }
    in->sectors = backend_u64(bf, "sectors", 0);
    in->sector_size = (unsigned)backend_u64(bf, "sector-size", BLKFRONT_SECTOR);
    in->physical_sector_size =
        (unsigned)backend_u64(bf, "physical-sector-size", in->sector_size);
    in->readonly = backend_u64(bf, "info", 0) & VDISK_READONLY;
    in->flush = backend_u64(bf, "feature-flush-cache", 0) == 1;
    in->barrier = backend_u64(bf, "feature-barrier", 0) == 1;
    in->discard = backend_u64(bf, "feature-discard", 0) == 1;
    in->discard_granularity = (unsigned)backend_u64(bf, "discard-granularity", 0);
    if (in->sector_size != BLKFRONT_SECTOR) {
        /* Requests here count 512-byte sectors, as blkif does. */
        printk("blkfront: vbd %u: sector size %u is not supported\n", in->vdev,
               in->sector_size);
        connect_abandon(bf);
        return -XEN_EOPNOTSUPP;
    }
    bf->broken = false;
    bf->backend_closing = false;
    bf->connected = true;
    rc = xenbus_switch_state(dev, XenbusStateConnected);
    printk("blkfront: vbd %u: connected: %llu sectors%s, %u queue%s of %u ring page%s, "
           "%u segments per request, persistent grants %s, flush %s, discard %s\n",
           in->vdev, (unsigned long long)in->sectors, in->readonly ? " read-only" : "",
           bf->nq, bf->nq == 1 ? "" : "s", in->ring_pages, in->ring_pages == 1 ? "" : "s",
           in->max_segs, in->persistent ? "yes" : "no",
           in->flush     ? "yes"
           : in->barrier ? "barrier"
                         : "no",
           in->discard ? "yes" : "no");
    return rc;
}

/* ---- suspend and resume (control.c) ----------------------------------------------- */

static long issue(struct bf_ring *q, enum blkfront_op op, uint64_t sector, void *buf,
                  size_t len, struct blkfront_req *r, unsigned long *flags);

/* A request part in flight at suspend, to be issued again. */
struct inflight {
    struct blkfront_req *owner;
    enum blkfront_op op;
    uint64_t sector, seq;
    uint8_t *buf;
    uint32_t len;
    unsigned queue;
};

/* The old domain's ring: its grants went with the old grant table and its
 * port with the old event channels.  End our side of every grant (they
 * end at once now), free the pages; nothing is closed or completed. */
static void ring_forget(struct bf_ring *q)
{
    if (q->shadow) {
        for (unsigned id = 0; id < q->nr_shadow; id++) {
            struct shadow *s = &q->shadow[id];
            if (s->in_use && !q->bf->info.persistent)
                for (unsigned i = 0; i < s->nseg; i++)
                    gnttab_end_access(s->seg[i].ref);
        }
    }
    q->port = 0; /* not ours to close: it names nothing of ours any more */
    ring_free(q);
}

/* Collect what is in flight, oldest first, into a page-allocated array
 * (*pages of it); returns the count. */
static unsigned collect(struct blkfront *bf, struct inflight **out, unsigned *pages)
{
    unsigned n = 0;
    for (unsigned i = 0; i < bf->nq; i++)
        n += bf->ring[i].inflight;
    *out = NULL;
    *pages = 0;
    if (!n) return 0;
    *pages = (unsigned)((n * sizeof(struct inflight) + PAGE_SIZE - 1) / PAGE_SIZE);
    struct inflight *a = page_alloc_contig(*pages);
    if (!a) {
        *pages = 0;
        return 0;
    }
    unsigned k = 0;
    for (unsigned i = 0; i < bf->nq; i++) {
        struct bf_ring *q = &bf->ring[i];
        for (unsigned id = 0; q->shadow && id < q->nr_shadow && k < n; id++) {
            struct shadow *s = &q->shadow[id];
            if (!s->in_use) continue;
            /* Insertion by sequence: the backend sees them in the old order. */
            unsigned j = k++;
            while (j > 0 && a[j - 1].seq > s->seq) {
                a[j] = a[j - 1];
                j--;
            }
            a[j] = (struct inflight){
                s->owner, (enum blkfront_op)s->bop, s->sector, s->seq, s->ubuf, s->ulen,
                i};
        }
    }
    *out = a;
    return k;
}

/* One old part again, on the new rings; the old part's count in its
 * owner is released once the new parts are queued (so the owner
 * completes exactly once).  The same queue as before: one request's parts
 * share a queue, and so its lock. */
static void reissue(struct blkfront *bf, const struct inflight *p)
{
    struct bf_ring *q = &bf->ring[p->queue < bf->nq ? p->queue : 0];
    unsigned long flags = irq_save();
    spin_lock(&q->lock);
#ifdef GUEST_BUG_BLK_DOUBLE_COMPLETE
    /* Deliberate bug: each part taken for its whole request (as requeueing
     * every ring entry's request would): issued again for nobody, and the
     * request ended at once -- once for every part of it in flight. */
    long rc = issue(q, p->op, p->sector, p->buf, p->len, NULL, &flags);
    if (p->owner) p->owner->pending = 1;
#else
    long rc = issue(q, p->op, p->sector, p->buf, p->len, p->owner, &flags);
#endif
    owner_done(p->owner, rc);
    spin_unlock(&q->lock);
    irq_restore(flags);
}

/* The new backend: our nodes moved with the domain, the handshake runs
 * again from Initialising, then everything in flight is issued again (the
 * old backend may have done some of it: reads and writes of the same data
 * are harmless twice, a completion is not, and none is taken twice). */
static void recover(struct blkfront *bf)
{
    struct inflight *pend;
    unsigned pages, n = collect(bf, &pend, &pages);
    for (unsigned i = 0; i < BLKFRONT_MAX_QUEUES; i++)
        if (bf->ring[i].bf) ring_forget(&bf->ring[i]);
    bf->nq = 0;
    bf->connected = false;
    long rc = xenbus_resume_device(&bf->dev);
    if (!rc) rc = xenbus_switch_state(&bf->dev, XenbusStateInitialising);
    if (!rc) rc = connect(bf);
    bf->suspended = false;
    if (rc) {
        printk("blkfront: vbd %u: reconnect after resume failed: %s\n", bf->info.vdev,
               xenstore_errname(rc));
        bf->broken = true;
    }
#ifdef GUEST_BUG_BLK_LOST_INFLIGHT
    /* Deliberate bug: what was in flight is forgotten: never issued again,
     * never completed. */
    n = 0;
#endif
#ifdef GUEST_BUG_BLK_RESUME_GONE_HANGS
    /* Deliberate bug: a device that is gone keeps what was in flight for a
     * reconnect that never comes: never completed. */
    if (rc) n = 0;
#endif
    for (unsigned i = 0; i < n; i++) {
        if (rc)
            owner_done(pend[i].owner, -XEN_EIO);
        else
            reissue(bf, &pend[i]);
    }
    if (n)
        printk("blkfront: vbd %u: %u request%s %s after resume\n", bf->info.vdev, n,
               n == 1 ? "" : "s", rc ? "failed: not reconnected" : "issued again");
    for (unsigned i = 0; i < pages; i++)
        page_free((uint8_t *)pend + i * PAGE_SIZE);
}

/* At the last moment (the other CPUs down, events off): from here on no
 * response is taken.  What is on the ring now -- answered or not -- is in
 * flight: completed after a cancel, issued again after a resume. */
static long blk_freeze(void *arg)
{
    (void)arg;
    for (unsigned i = 0; i < BLKFRONT_MAX_DEVS; i++)
        if (devs[i].used && devs[i].connected) devs[i].suspended = true;
    return 0;
}

static void blk_resume(void *arg)
{
    (void)arg;
    for (unsigned i = 0; i < BLKFRONT_MAX_DEVS; i++)
        if (devs[i].used && devs[i].suspended) recover(&devs[i]);
}

static void blk_cancel(void *arg)
{
    (void)arg;
    for (unsigned i = 0; i < BLKFRONT_MAX_DEVS; i++) {
        if (!devs[i].used || !devs[i].suspended) continue;
        devs[i].suspended = false;
        poll_all(&devs[i]); /* what was answered meanwhile */
    }
}

static struct control_hook blk_freeze_hook = {.name = "blkfront-freeze",
                                              .order = CONTROL_ORDER_BLKFRONT_FREEZE,
                                              .suspend = blk_freeze};
static struct control_hook blk_hook = {.name = "blkfront",
                                       .order = CONTROL_ORDER_BLKFRONT,
                                       .resume = blk_resume,
                                       .cancel = blk_cancel};

long blkfront_count(void)
{
    struct xenbus_device list[BLKFRONT_MAX_DEVS];
    return xenbus_enumerate_frontends("vbd", list, BLKFRONT_MAX_DEVS);
}

/* The backend leaving while we are connected: the toolstack unplugs. */
static void backend_changed(struct xenbus_device *dev, enum xenbus_state state)
{
    struct blkfront *bf = dev->priv;
    if (bf->connected && (state == XenbusStateClosing || state == XenbusStateClosed ||
                          state == XenbusStateUnknown)) {
        if (!bf->backend_closing)
            printk("blkfront: vbd %u: backend is %s: no more requests\n", bf->info.vdev,
                   xenbus_state_name(state));
        bf->backend_closing = true;
    }
}

long blkfront_wait_device(unsigned index, uint64_t timeout_ns)
{
    return xenbus_wait_frontend("vbd", index, timeout_ns);
}

long blkfront_wait_unplug(struct blkfront *bf, uint64_t timeout_ns)
{
    long st = xenbus_wait_otherend(&bf->dev,
                                   XENBUS_STATE_BIT(XenbusStateClosing) |
                                       XENBUS_STATE_BIT(XenbusStateClosed) |
                                       XENBUS_STATE_BIT(XenbusStateUnknown),
                                   timeout_ns);
    return st < 0 ? st : 0;
}

long blkfront_open(unsigned index, const struct blkfront_opts *opts,
                   struct blkfront **out)
{
    static struct xenbus_device list[BLKFRONT_MAX_DEVS];
    long n = xenbus_enumerate_frontends("vbd", list, BLKFRONT_MAX_DEVS);
    if (n < 0) return n;
    if (index >= (unsigned)n || index >= BLKFRONT_MAX_DEVS) return -XEN_ENODEV;
    struct blkfront *bf = NULL;
    for (unsigned i = 0; i < BLKFRONT_MAX_DEVS && !bf; i++)
        if (!devs[i].used) bf = &devs[i];
    if (!bf) return -XEN_ENOSPC;
    memset(bf, 0, sizeof(*bf));
    bf->used = true;
    bf->dev = list[index];
    if (opts) bf->opts = *opts;
    bf->info.vdev = bf->dev.devid;
    bf->dev.otherend_changed = backend_changed;
    bf->dev.priv = bf;
    long rc = xenbus_watch_otherend(&bf->dev);
    if (!rc) rc = connect(bf);
    if (rc) {
        xenbus_unwatch_otherend(&bf->dev);
        bf->used = false;
        return rc;
    }
    control_register(&blk_freeze_hook);
    control_register(&blk_hook);
    *out = bf;
    return 0;
}

const struct blkfront_info *blkfront_info(const struct blkfront *bf)
{
    return &bf->info;
}

const struct blkfront_stats *blkfront_stats(const struct blkfront *bf)
{
    return &bf->stats;
}

bool blkfront_broken(const struct blkfront *bf)
{
    return bf->broken;
}

static bool idle(void *arg)
{
    struct blkfront *bf = arg;
    for (unsigned i = 0; i < bf->nq; i++)
        if (READ_ONCE(bf->ring[i].inflight)) return false;
    return true;
}

long blkfront_close(struct blkfront *bf)
{
    if (!bf->connected) return -XEN_EINVAL;
    /* Let what is in flight finish (or fail, if the backend went away). */
    uint64_t deadline = time_monotonic_ns() + BLKFRONT_TIMEOUT_NS;
    while (!idle(bf) && !bf->broken && time_monotonic_ns() < deadline) {
        wait_event(idle, bf, POLL_SLICE_NS);
        poll_all(bf);
    }
    bf->connected = false;
    long rc = xenbus_switch_state(&bf->dev, XenbusStateClosing);
    long st = xenbus_wait_otherend(&bf->dev,
                                   XENBUS_STATE_BIT(XenbusStateClosing) |
                                       XENBUS_STATE_BIT(XenbusStateClosed),
                                   BLKFRONT_TIMEOUT_NS);
    /* The backend has let go of the rings: fail anything it never answered,
     * then end every grant. */
    for (unsigned i = 0; i < bf->nq; i++) {
        unsigned long f = irq_save();
        spin_lock(&bf->ring[i].lock);
        if (bf->ring[i].shadow) fail_all(&bf->ring[i]);
        spin_unlock(&bf->ring[i].lock);
        irq_restore(f);
    }
    rings_free(bf);
    if (!rc) rc = xenbus_switch_state(&bf->dev, XenbusStateClosed);
    /* Unknown: an unplugged device's nodes are gone once it closed. */
    if (!rc)
        st = xenbus_wait_otherend(&bf->dev,
                                  XENBUS_STATE_BIT(XenbusStateClosed) |
                                      XENBUS_STATE_BIT(XenbusStateUnknown),
                                  BLKFRONT_TIMEOUT_NS);
    if (!rc && st < 0) rc = st;
    printk("blkfront: vbd %u: closed%s\n", bf->info.vdev, rc ? " (with errors)" : "");
    return rc;
}

long blkfront_reconnect(struct blkfront *bf)
{
    if (bf->connected) return -XEN_EBUSY;
    long rc = xenbus_switch_state(&bf->dev, XenbusStateInitialising);
    return rc ? rc : connect(bf);
}

/* ---- requests --------------------------------------------------------------------- */

static bool req_done(void *arg)
{
    return __atomic_load_n(&((struct blkfront_req *)arg)->done, __ATOMIC_ACQUIRE);
}

static bool has_free_slot(void *arg)
{
    struct bf_ring *q = arg;
    return READ_ONCE(q->free_head) != NO_SLOT || q->bf->broken;
}

static void push(struct bf_ring *q)
{
    int notify;
    RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&q->fr, notify);
    if (notify) evtchn_send((evtchn_port_t)q->port);
}

/* A free slot (lock held, interrupts off on entry and exit; the lock is
 * dropped while waiting).  NO_SLOT when broken or timed out. */
static uint32_t get_slot(struct bf_ring *q, unsigned long *flags)
{
    uint64_t deadline = time_monotonic_ns() + BLKFRONT_TIMEOUT_NS;
    while (q->free_head == NO_SLOT && !q->bf->broken) {
        push(q); /* what we queued so far frees slots when answered */
        spin_unlock(&q->lock);
        irq_restore(*flags);
        bool ok = time_monotonic_ns() < deadline;
        if (ok) wait_event(has_free_slot, q, POLL_SLICE_NS);
        *flags = irq_save();
        spin_lock(&q->lock);
        ring_poll(q);
        if (!ok) return NO_SLOT;
    }
    if (q->bf->broken) return NO_SLOT;
    uint32_t id = q->free_head;
    q->free_head = q->shadow[id].next_free;
    return id;
}

/* Fill slot id's segments from buf[0, len) (at most max_segs); returns the
 * bytes covered. */
static size_t fill_segs(struct bf_ring *q, struct shadow *s, bool write, uint8_t *buf,
                        size_t len, struct blkif_request_segment *out)
{
    struct blkfront *bf = q->bf;
    size_t done = 0;
    s->nseg = 0;
    while (done < len && s->nseg < bf->info.max_segs) {
        unsigned i = s->nseg;
        struct seg *g = &s->seg[i];
        uint8_t *p = buf + done;
        unsigned off, n;
        if (bf->info.persistent) {
            /* Whole pages of our own, granted once for this slot. */
            if (!s->pg[i]) {
                s->pg[i] = page_alloc();
                long ref = s->pg[i] ? gnttab_grant_page(backend_id(bf), s->pg[i], false)
                                    : -XEN_ENOMEM;
                if (ref < 0) {
                    if (s->pg[i]) page_free(s->pg[i]);
                    s->pg[i] = NULL;
                    break;
                }
                s->pg_ref[i] = (grant_ref_t)ref;
                bf->stats.pgrants++;
            }
            off = 0;
            n = (unsigned)(len - done < PAGE_SIZE ? len - done : PAGE_SIZE);
            if (write) memcpy(s->pg[i], p, n);
            g->ref = s->pg_ref[i];
        } else {
            /* The caller's page itself (512-byte aligned). */
            off = (unsigned)((uintptr_t)p & (PAGE_SIZE - 1));
            n = (unsigned)(PAGE_SIZE - off < len - done ? PAGE_SIZE - off : len - done);
            long ref =
                gnttab_grant_page(backend_id(bf), (void *)((uintptr_t)p - off), write);
            if (ref < 0) break;
            g->ref = (grant_ref_t)ref;
            bf->stats.grants++;
        }
        g->user = p;
        g->len = (uint16_t)n;
        out[i] = (struct blkif_request_segment){
            .gref = g->ref,
            .first_sect = (uint8_t)(off / BLKFRONT_SECTOR),
            .last_sect = (uint8_t)((off + n) / BLKFRONT_SECTOR - 1)};
        s->nseg++;
        done += n;
    }
    return done;
}

/* What one request asks (kept with it, to issue it again). */
struct ask {
    enum blkfront_op op;
    uint64_t sector;
    uint8_t *buf;
    size_t len;
};

/* Put one request into slot id and onto the ring (lock held). */
static void queue_req(struct bf_ring *q, uint32_t id, const blkif_request_t *req,
                      uint8_t op, bool write, struct blkfront_req *owner,
                      const struct ask *ask)
{
    struct shadow *s = &q->shadow[id];
    s->req = *req;
    s->req.id = id;
    s->op = op;
    s->write = write;
    s->owner = owner;
    s->in_use = true;
    s->bop = (uint8_t)ask->op;
    s->sector = ask->sector;
    s->ubuf = ask->buf;
    s->ulen = (uint32_t)ask->len;
    s->seq = q->bf->next_seq++;
    if (owner) owner->pending++;
    q->inflight++;
    *RING_GET_REQUEST(&q->fr, q->fr.req_prod_pvt) = s->req;
    q->fr.req_prod_pvt++;
    q->bf->stats.requests++;
}

/* Read or write: as many requests as the segments need. */
static long submit_rw(struct bf_ring *q, bool write, uint64_t sector, uint8_t *buf,
                      size_t len, struct blkfront_req *r, unsigned long *flags)
{
    struct blkfront *bf = q->bf;
    size_t done = 0;
    unsigned parts = 0;
    while (done < len) {
        uint32_t id = get_slot(q, flags);
        if (id == NO_SLOT) return -XEN_EIO;
        struct shadow *s = &q->shadow[id];
        blkif_request_t req = {.operation = write ? BLKIF_OP_WRITE : BLKIF_OP_READ,
                               .handle = (blkif_vdev_t)bf->info.vdev,
                               .sector_number = sector + done / BLKFRONT_SECTOR};
        size_t n;
        uint8_t op = req.operation;
        if (bf->info.max_segs > BLKIF_MAX_SEGMENTS_PER_REQUEST) {
            if (!s->ind) {
                s->ind = page_alloc();
                long ref = s->ind ? gnttab_grant_page(backend_id(bf), s->ind, true)
                                  : -XEN_ENOMEM;
                if (ref < 0) {
                    if (s->ind) page_free(s->ind);
                    s->ind = NULL;
                    s->next_free = q->free_head;
                    q->free_head = id;
                    return ref;
                }
                s->ind_ref = (grant_ref_t)ref;
            }
            n = fill_segs(q, s, write, buf + done, len - done, s->ind);
            struct blkif_request_indirect ind = {.operation = BLKIF_OP_INDIRECT,
                                                 .indirect_op = op,
                                                 .nr_segments = s->nseg,
                                                 .sector_number = req.sector_number,
                                                 .handle = req.handle,
                                                 .indirect_grefs = {s->ind_ref}};
            memcpy(&req, &ind, sizeof(ind));
            bf->stats.indirect++;
        } else {
            n = fill_segs(q, s, write, buf + done, len - done, req.seg);
            req.nr_segments = (uint8_t)s->nseg;
        }
        if (s->nseg == 0) {
            s->next_free = q->free_head;
            q->free_head = id;
            return -XEN_ENOMEM;
        }
        struct ask ask = {write ? BLKFRONT_WRITE : BLKFRONT_READ,
                          sector + done / BLKFRONT_SECTOR, buf + done, n};
        queue_req(q, id, &req, op, write, r, &ask);
        done += n;
        if (parts++) bf->stats.splits++;
    }
    return 0;
}

/* Why the request cannot be sent at all, or 0. */
static long refuse(const struct blkfront *bf, enum blkfront_op op, uint64_t sector,
                   const void *buf, size_t len)
{
    const struct blkfront_info *in = &bf->info;
    bool rw = op == BLKFRONT_READ || op == BLKFRONT_WRITE;
    if (!bf->connected || bf->broken || bf->backend_closing) return -XEN_EIO;
    if (op == BLKFRONT_DISCARD && !in->discard) return -XEN_EOPNOTSUPP;
    if ((rw || op == BLKFRONT_DISCARD) &&
        (len == 0 || len % BLKFRONT_SECTOR || sector >= in->sectors ||
         len / BLKFRONT_SECTOR > in->sectors - sector))
        return -XEN_EINVAL;
    if (rw && !in->persistent && ((uintptr_t)buf & (BLKFRONT_SECTOR - 1)))
        return -XEN_EINVAL;
    if ((op == BLKFRONT_WRITE || op == BLKFRONT_DISCARD) && in->readonly)
        return -XEN_EROFS;
    return 0;
}

/* Queue op on q for r (lock held, interrupts off): 0 or the error; parts
 * queued count in r->pending. */
static long issue(struct bf_ring *q, enum blkfront_op op, uint64_t sector, void *buf,
                  size_t len, struct blkfront_req *r, unsigned long *flags)
{
    struct blkfront_info *in = &q->bf->info;
    long rc = 0;
    if (op == BLKFRONT_READ || op == BLKFRONT_WRITE) {
        rc = submit_rw(q, op == BLKFRONT_WRITE, sector, buf, len, r, flags);
    } else if (op == BLKFRONT_FLUSH && !in->flush && !in->barrier) {
        /* No cache to flush (as Linux, which then sends nothing). */
    } else {
        uint32_t id = get_slot(q, flags);
        struct ask ask = {op, sector, buf, len};
        if (id == NO_SLOT) {
            rc = -XEN_EIO;
        } else if (op == BLKFRONT_FLUSH) {
            uint8_t o = in->flush ? BLKIF_OP_FLUSH_DISKCACHE : BLKIF_OP_WRITE_BARRIER;
            blkif_request_t req = {.operation = o, .handle = (blkif_vdev_t)in->vdev};
            queue_req(q, id, &req, o, false, r, &ask);
        } else {
            struct blkif_request_discard d = {.operation = BLKIF_OP_DISCARD,
                                              .handle = (blkif_vdev_t)in->vdev,
                                              .sector_number = sector,
                                              .nr_sectors = len / BLKFRONT_SECTOR};
            blkif_request_t req;
            memset(&req, 0, sizeof(req));
            memcpy(&req, &d, sizeof(d));
            queue_req(q, id, &req, BLKIF_OP_DISCARD, false, r, &ask);
        }
    }
    push(q);
    return rc;
}

static bool not_suspended(void *arg)
{
    return !((struct blkfront *)arg)->suspended;
}

long blkfront_submit(struct blkfront *bf, enum blkfront_op op, uint64_t sector, void *buf,
                     size_t len, struct blkfront_req *r)
{
    /* A suspend is under way: the request goes to the device it resumes
     * with (or the same one, if cancelled). */
    while (bf->suspended)
        wait_event(not_suspended, bf, POLL_SLICE_NS);
    long rc = refuse(bf, op, sector, buf, len);
    if (rc) {
        /* Nothing sent: the request is over at once. */
        r->status = rc;
        r->pending = 0;
        r->done = true;
        return rc;
    }
    r->done = false;
    r->status = 0;
    r->first_err = 0;
    r->pending = 1; /* ours until every part is queued */
    /* Queues in turn, so every ring carries requests. */
    struct bf_ring *q = &bf->ring[atomic_add(&bf->next_queue, 1) % bf->nq];
    unsigned long flags = irq_save();
    spin_lock(&q->lock);
    rc = issue(q, op, sector, buf, len, r, &flags);
    /* Parts already queued still complete; the error is the request's. */
    owner_done(r, rc);
    spin_unlock(&q->lock);
    irq_restore(flags);
    return rc;
}

long blkfront_wait(struct blkfront *bf, struct blkfront_req *r, uint64_t timeout_ns)
{
    uint64_t deadline = time_monotonic_ns() + timeout_ns;
    while (!req_done(r)) {
        uint64_t now = time_monotonic_ns();
        if (now >= deadline) return -XEN_ETIMEDOUT;
        uint64_t slice = deadline - now < POLL_SLICE_NS ? deadline - now : POLL_SLICE_NS;
        if (!wait_event(req_done, r, slice)) poll_all(bf);
    }
    return r->status;
}

/* r timed out: its parts still in flight forget it (r is on sync_op's
 * stack), and complete later for nobody. */
static void forget_owner(struct blkfront *bf, struct blkfront_req *r)
{
    for (unsigned i = 0; i < bf->nq; i++) {
        struct bf_ring *q = &bf->ring[i];
        unsigned long f = irq_save();
        spin_lock(&q->lock);
        for (uint32_t id = 0; q->shadow && id < q->nr_shadow; id++)
            if (q->shadow[id].in_use && q->shadow[id].owner == r)
                q->shadow[id].owner = NULL;
        spin_unlock(&q->lock);
        irq_restore(f);
    }
}

static long sync_op(struct blkfront *bf, enum blkfront_op op, uint64_t sector, void *buf,
                    size_t len)
{
    struct blkfront_req r = {0};
    long rc = blkfront_submit(bf, op, sector, buf, len, &r);
    /* Even a refused submit may have parts in flight: wait for them. */
    long st = blkfront_wait(bf, &r, BLKFRONT_TIMEOUT_NS);
    if (st == -XEN_ETIMEDOUT) forget_owner(bf, &r);
    return rc ? rc : st;
}

long blkfront_read(struct blkfront *bf, uint64_t sector, void *buf, size_t len)
{
    return sync_op(bf, BLKFRONT_READ, sector, buf, len);
}

long blkfront_write(struct blkfront *bf, uint64_t sector, const void *buf, size_t len)
{
    return sync_op(bf, BLKFRONT_WRITE, sector, (void *)buf, len);
}

long blkfront_flush(struct blkfront *bf)
{
    return sync_op(bf, BLKFRONT_FLUSH, 0, NULL, 0);
}

long blkfront_discard(struct blkfront *bf, uint64_t sector, uint64_t nr_sectors)
{
    return sync_op(bf, BLKFRONT_DISCARD, sector, NULL,
                   (size_t)(nr_sectors * BLKFRONT_SECTOR));
}
