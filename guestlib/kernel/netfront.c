/* netfront: the PV network frontend (guest/netfront.h).
 *
 * Each queue has a tx ring and an rx ring (one page each, granted to the
 * backend), one event channel or two (split), and per-slot state:
 *   - tx: ids 0..ring size-1 on a free list; each id owns a page granted
 *     read-only once (on first use) into which the frame's bytes for that
 *     slot are copied, so a frame never depends on the caller's buffer
 *     after netfront_send returns.  An id is in flight from its request
 *     until the backend's response names it.
 *   - rx: the ring is kept full.  The request in ring index i always has id
 *     i & mask and the page rx[i & mask] (granted writable at connect);
 *     netif requires the backend to answer in the request's slot, so the
 *     response consumed at index c frees exactly that page, which is posted
 *     again at req_prod_pvt == c + ring size (the same index).
 * One lock per queue, taken with interrupts off, covers both rings; the tx
 * event handler collects tx answers under it, rx responses are taken by
 * netfront_recv in thread context.
 *
 * Nothing from the backend is trusted: producers are checked against the
 * requests outstanding before any slot is read, responses are copied out
 * of the ring once and only the copies are used.
 *
 * Suspend and resume (control.c; docs/suspend.md, "netfront"): the suspend
 * hook marks every connected device suspended under each queue's lock;
 * from then on netfront_send and netfront_recv wait (nothing is refused)
 * and the tx path never touches a ring.  A cancel just lets them go on.  A
 * real resume (recover) takes, under each queue's lock, the answers the
 * old backend left in the old tx ring (guest memory, so they came with the
 * domain), notes the frames still unanswered (kept in their pages), counts
 * and drops the frames the old backend put in the old rx ring (Linux drops
 * them too), ends every grant of the old domain and forgets its ports; then
 * runs the handshake again from Initialising on new rings with new grants
 * and a full rx ring, sends every unanswered frame again in its old order,
 * and only then lets the callers go on: a frame the app sent goes out
 * exactly once. */
#include <guest/control.h>
#include <guest/evtchn.h>
#include <guest/gnttab.h>
#include <guest/irq.h>
#include <guest/kernel.h>
#include <guest/mm.h>
#include <guest/netfront.h>
#include <guest/printk.h>
#include <guest/smp.h>
#include <guest/string.h>
#include <guest/time.h>
#include <guest/xenbus.h>
#include <xen/io/netif.h>

#define TX_RING_SIZE __CONST_RING_SIZE(netif_tx, PAGE_SIZE)
#define RX_RING_SIZE __CONST_RING_SIZE(netif_rx, PAGE_SIZE)
#define MAX_SLOTS    XEN_NETIF_NR_SLOTS_MIN /* data slots of one frame */
#define MAX_EXTRAS   (XEN_NETIF_EXTRA_TYPE_MAX - 1)
#define NO_ID        0xffffu
/* Waits poll the rings this often as well (events may go to another CPU),
 * and run xenstore watches (the backend's state) in between. */
#define POLL_SLICE_NS ((uint64_t)1000 * 1000)

struct tx_slot {
    uint8_t *page; /* ours, granted read-only once */
    grant_ref_t ref;
    bool in_flight;
    uint16_t next_free;
    /* What the request said, to send the frame again after a resume. */
    bool first;             /* the frame's first slot */
    uint16_t off, len;      /* the bytes of the frame in this slot's page */
    uint16_t frame_len;     /* first slot: the whole frame's */
    uint16_t next_in_frame; /* the frame's next slot, NO_ID after the last */
    RING_IDX idx;           /* the request's ring index */
};

struct rx_slot {
    uint8_t *page; /* ours, granted writable */
    grant_ref_t ref;
};

struct nf_resend;

struct nf_queue {
    struct netfront *nf;
    unsigned idx;
    netif_tx_front_ring_t tx;
    netif_rx_front_ring_t rx;
    uint8_t *tx_ring_page, *rx_ring_page;
    long tx_ring_ref, rx_ring_ref; /* -1: not granted */
    long tx_port, rx_port;         /* equal unless split; 0: none */
    RING_IDX tx_seen, rx_seen;     /* the last response producers read */
    volatile bool want_tx_event;   /* someone waits for tx answers */
    struct tx_slot txs[TX_RING_SIZE];
    struct rx_slot rxs[RX_RING_SIZE];
    uint16_t tx_free_head;
    unsigned tx_free;
    /* Last: queue_alloc clears everything before it, and a CPU may be
     * spinning on the lock meanwhile (it then sees the device suspended). */
    spinlock_t lock;
};

struct netfront {
    bool used;
    struct xenbus_device dev;
    struct netfront_opts opts;
    struct netfront_info info;
    struct netfront_stats stats;
    struct nf_queue q[NETFRONT_MAX_QUEUES];
    unsigned nq, next_tx, next_rx;
    unsigned grants;
    volatile bool broken, connected;
    volatile bool backend_closing; /* hot-unplug: nothing more is sent */
    /* A suspend is under way (set by the suspend hook under every queue's
     * lock, cleared once a cancel or resume is complete): sends and
     * receives wait. */
    volatile bool suspended;
    bool resuming; /* connect() runs for a resume */
    /* Taken at suspend (a suspend without the memory is refused): where a
     * resume keeps each queue's unanswered frames. */
    struct nf_resend *rs[NETFRONT_MAX_QUEUES];
    /* Bumped by every resume: a sender that waited across one picks its
     * queue again. */
    volatile uint32_t epoch;
};

static struct netfront devs[NETFRONT_MAX_DEVS];

/* ---- helpers ----------------------------------------------------------------------- */

static unsigned umin(unsigned a, unsigned b)
{
    return a < b ? a : b;
}

static uint64_t backend_u64(struct netfront *nf, const char *node, uint64_t dflt)
{
    uint64_t v;
    return xenbus_read_u64(XBT_NIL, nf->dev.otherend, node, &v) ? dflt : v;
}

static domid_t backend_id(struct netfront *nf)
{
    return (domid_t)nf->dev.otherend_id;
}

static long grant(struct netfront *nf, void *page, bool readonly)
{
    long ref = gnttab_grant_page(backend_id(nf), page, readonly);
    if (ref >= 0) nf->grants++;
    return ref;
}

/* End a grant of a page we are about to free: false (the page must not be
 * reused) if the backend still maps it; the reference is then leaked, as
 * Linux does, rather than revoked under a mapping. */
static bool ungrant(struct netfront *nf, grant_ref_t ref)
{
    long rc = gnttab_end_access(ref);
    if (rc) {
        printk("netfront: vif %u: grant %u still in use by the backend, page kept\n",
               nf->info.id, ref);
        return false;
    }
    nf->grants--;
    return true;
}

static void lock_q(struct nf_queue *q, unsigned long *flags)
{
    *flags = irq_save();
    spin_lock(&q->lock);
}

static void unlock_q(struct nf_queue *q, unsigned long flags)
{
    spin_unlock(&q->lock);
    irq_restore(flags);
}

static void mark_broken(struct nf_queue *q, const char *ring, RING_IDX at,
                        const char *why, long a, long b)
{
    struct netfront *nf = q->nf;
    printk("netfront: vif %u: bad %s response on queue %u at %u: %s (%ld, %ld); device "
           "broken\n",
           nf->info.id, ring, q->idx, at, why, a, b);
    nf->broken = true;
    nf->stats.bad_responses++;
}

/* ---- tx answers ----------------------------------------------------------------------
 */

/* Take every tx response the backend produced (lock held). */
static void tx_gc(struct nf_queue *q)
{
    struct netfront *nf = q->nf;
    if (nf->broken || !q->tx.sring) return;
    for (;;) {
        RING_IDX rp = READ_ONCE(q->tx.sring->rsp_prod);
        xen_rmb(); /* the responses before the index */
        RING_IDX cons = q->tx.rsp_cons;
        if ((int32_t)(rp - q->tx_seen) < 0) {
            mark_broken(q, "tx", cons, "producer moved backwards", rp, q->tx_seen);
            return;
        }
        q->tx_seen = rp;
        if (rp - cons > q->tx.req_prod_pvt - cons) {
            mark_broken(q, "tx", cons, "producer past the requests outstanding", rp,
                        (long)(q->tx.req_prod_pvt - cons));
            return;
        }
        for (; cons != rp; cons++) {
            netif_tx_response_t rsp;
            RING_COPY_RESPONSE(&q->tx, cons, &rsp);
            /* We send no extra-info slots, so NETIF_RSP_NULL is never due. */
            if (rsp.status != NETIF_RSP_OKAY && rsp.status != NETIF_RSP_ERROR &&
                rsp.status != NETIF_RSP_DROPPED) {
                q->tx.rsp_cons = cons + 1;
                mark_broken(q, "tx", cons, "bad status", rsp.id, rsp.status);
                return;
            }
            if (rsp.id >= TX_RING_SIZE || !q->txs[rsp.id].in_flight) {
                q->tx.rsp_cons = cons + 1;
                mark_broken(q, "tx", cons,
                            rsp.id >= TX_RING_SIZE ? "id out of range"
                                                   : "id not in flight",
                            rsp.id, rsp.status);
                return;
            }
            struct tx_slot *s = &q->txs[rsp.id];
            s->in_flight = false;
            s->next_free = q->tx_free_head;
            q->tx_free_head = rsp.id;
            q->tx_free++;
            if (rsp.status != NETIF_RSP_OKAY) nf->stats.tx_errors++;
        }
        q->tx.rsp_cons = cons;
        /* Answers are reaped on the next send; an event is only wanted
         * while someone waits for slots or a flush (each one is an upcall:
         * a busy sender would take one per frame).  Otherwise rsp_event
         * points half the index space away, where no push reaches. */
        if (!q->want_tx_event) {
            q->tx.sring->rsp_event = cons + 0x80000000u;
            return;
        }
        int more;
        RING_FINAL_CHECK_FOR_RESPONSES(&q->tx, more);
        if (!more) return;
    }
}

static void tx_gc_locked(struct nf_queue *q)
{
    unsigned long f;
    lock_q(q, &f);
    tx_gc(q);
    unlock_q(q, f);
}

static void tx_event(evtchn_port_t port, void *arg)
{
    (void)port;
    struct nf_queue *q = arg;
    q->nf->stats.events++;
    tx_gc_locked(q);
}

/* rx responses are taken by netfront_recv; the event only wakes it. */
static void rx_event(evtchn_port_t port, void *arg)
{
    (void)port;
    struct nf_queue *q = arg;
    q->nf->stats.events++;
}

/* ---- rings ----------------------------------------------------------------------------
 */

static void queue_free(struct nf_queue *q)
{
    struct netfront *nf = q->nf;
    if (q->tx_port > 0) evtchn_close((evtchn_port_t)q->tx_port);
    if (q->rx_port > 0 && q->rx_port != q->tx_port)
        evtchn_close((evtchn_port_t)q->rx_port);
    for (unsigned i = 0; i < TX_RING_SIZE; i++)
        if (q->txs[i].page && ungrant(nf, q->txs[i].ref)) page_free(q->txs[i].page);
    for (unsigned i = 0; i < RX_RING_SIZE; i++)
        if (q->rxs[i].page && ungrant(nf, q->rxs[i].ref)) page_free(q->rxs[i].page);
    if (q->tx_ring_ref >= 0 && ungrant(nf, (grant_ref_t)q->tx_ring_ref))
        page_free(q->tx_ring_page);
    if (q->rx_ring_ref >= 0 && ungrant(nf, (grant_ref_t)q->rx_ring_ref))
        page_free(q->rx_ring_page);
    memset(q, 0, offsetof(struct nf_queue, lock));
}

static void queues_free(struct netfront *nf)
{
    for (unsigned i = 0; i < NETFRONT_MAX_QUEUES; i++)
        if (nf->q[i].nf) queue_free(&nf->q[i]);
    nf->nq = 0;
}

/* Rings, ports and a full rx ring of granted pages for queue idx. */
static long queue_alloc(struct netfront *nf, unsigned idx)
{
    struct nf_queue *q = &nf->q[idx];
    memset(q, 0, offsetof(struct nf_queue, lock));
    q->nf = nf;
    q->idx = idx;
    q->tx_ring_ref = q->rx_ring_ref = -1;
    q->tx_ring_page = page_alloc();
    q->rx_ring_page = page_alloc();
    if (!q->tx_ring_page || !q->rx_ring_page) {
        /* queue_free frees only granted ring pages */
        if (q->tx_ring_page) page_free(q->tx_ring_page);
        if (q->rx_ring_page) page_free(q->rx_ring_page);
        q->tx_ring_page = q->rx_ring_page = NULL;
        return -XEN_ENOMEM;
    }
    netif_tx_sring_t *ts = (netif_tx_sring_t *)q->tx_ring_page;
    netif_rx_sring_t *rs = (netif_rx_sring_t *)q->rx_ring_page;
    SHARED_RING_INIT(ts);
    SHARED_RING_INIT(rs);
    FRONT_RING_INIT(&q->tx, ts, PAGE_SIZE);
    FRONT_RING_INIT(&q->rx, rs, PAGE_SIZE);
    q->tx_ring_ref = grant(nf, q->tx_ring_page, false);
    if (q->tx_ring_ref < 0) {
        page_free(q->tx_ring_page);
        page_free(q->rx_ring_page);
        return q->tx_ring_ref;
    }
    q->rx_ring_ref = grant(nf, q->rx_ring_page, false);
    if (q->rx_ring_ref < 0) {
        page_free(q->rx_ring_page);
        return q->rx_ring_ref;
    }
    for (unsigned i = 0; i < TX_RING_SIZE; i++)
        q->txs[i].next_free = (uint16_t)(i + 1 < TX_RING_SIZE ? i + 1 : NO_ID);
    q->tx_free_head = 0;
    q->tx_free = TX_RING_SIZE;
    /* Every rx slot gets its page now: the ring is posted full. */
    for (unsigned i = 0; i < RX_RING_SIZE; i++) {
        uint8_t *pg = page_alloc();
        long ref = pg ? grant(nf, pg, false) : -XEN_ENOMEM;
        if (ref < 0) {
            if (pg) page_free(pg);
            return ref;
        }
        q->rxs[i].page = pg;
        q->rxs[i].ref = (grant_ref_t)ref;
    }
    bool post = true;
#ifdef GUEST_BUG_NETFRONT_RX_NOT_REPOSTED
    /* Deliberate bug: after a resume the rx buffers are taken to be still
     * posted (they were, on the old ring): the new ring gets none. */
    post = !nf->resuming;
#endif
    for (RING_IDX i = 0; post && i < RX_RING_SIZE; i++) {
        netif_rx_request_t *req = RING_GET_REQUEST(&q->rx, i);
        req->id = (uint16_t)i;
        req->gref = q->rxs[i].ref;
    }
    q->rx.req_prod_pvt = RX_RING_SIZE;
    /* The backend reads the requests when it connects: no notify yet. */
    if (post) RING_PUSH_REQUESTS(&q->rx);
    if (nf->info.split) {
        q->tx_port = evtchn_alloc_unbound(backend_id(nf), tx_event, q);
        if (q->tx_port < 0) return q->tx_port;
        q->rx_port = evtchn_alloc_unbound(backend_id(nf), rx_event, q);
        if (q->rx_port < 0) return q->rx_port;
    } else {
        q->tx_port = q->rx_port = evtchn_alloc_unbound(backend_id(nf), tx_event, q);
        if (q->tx_port < 0) return q->tx_port;
    }
    return 0;
}

/* ---- the handshake -------------------------------------------------------------------
 */

/* Nodes an earlier connection may have left: a reconnect with fewer queues
 * or without split channels must not leave the backend reading stale ones. */
static long forget_old_nodes(xs_transaction_t t, struct netfront *nf)
{
    static const char *const flat[] = {
        "multi-queue-num-queues", "tx-ring-ref",      "rx-ring-ref",
        "event-channel",          "event-channel-tx", "event-channel-rx"};
    char path[XENBUS_PATH_MAX + 32];
    for (unsigned i = 0; i < ARRAY_SIZE(flat) + NETFRONT_MAX_QUEUES; i++) {
        if (i < ARRAY_SIZE(flat))
            snprintf(path, sizeof(path), "%s/%s", nf->dev.nodename, flat[i]);
        else
            snprintf(path, sizeof(path), "%s/queue-%u", nf->dev.nodename,
                     (unsigned)(i - ARRAY_SIZE(flat)));
        long rc = xenstore_rm(t, path);
        if (rc && rc != -XEN_ENOENT) return rc;
    }
    return 0;
}

/* Everything the backend reads at connect, in one transaction. */
static long publish(xs_transaction_t t, void *arg)
{
    struct netfront *nf = arg;
    struct xenbus_device *dev = &nf->dev;
    long rc = forget_old_nodes(t, nf);
    if (!rc && nf->nq > 1)
        rc = xenbus_printf(t, dev, "multi-queue-num-queues", "%u", nf->nq);
    for (unsigned qi = 0; !rc && qi < nf->nq; qi++) {
        struct nf_queue *q = &nf->q[qi];
        char dir[16] = "", node[48];
        if (nf->nq > 1) snprintf(dir, sizeof(dir), "queue-%u/", qi);
        snprintf(node, sizeof(node), "%stx-ring-ref", dir);
        rc = xenbus_printf(t, dev, node, "%ld", q->tx_ring_ref);
        snprintf(node, sizeof(node), "%srx-ring-ref", dir);
        if (!rc) rc = xenbus_printf(t, dev, node, "%ld", q->rx_ring_ref);
        if (nf->info.split) {
            snprintf(node, sizeof(node), "%sevent-channel-tx", dir);
            if (!rc) rc = xenbus_printf(t, dev, node, "%ld", q->tx_port);
            snprintf(node, sizeof(node), "%sevent-channel-rx", dir);
            if (!rc) rc = xenbus_printf(t, dev, node, "%ld", q->rx_port);
        } else {
            snprintf(node, sizeof(node), "%sevent-channel", dir);
            if (!rc) rc = xenbus_printf(t, dev, node, "%ld", q->tx_port);
        }
    }
    if (!rc) rc = xenbus_printf(t, dev, "request-rx-copy", "1");
    if (!rc) rc = xenbus_printf(t, dev, "feature-rx-notify", "1");
    if (!rc) rc = xenbus_printf(t, dev, "feature-sg", "%d", nf->info.sg);
    if (!rc) rc = xenbus_printf(t, dev, "feature-gso-tcpv4", "%d", nf->info.gso);
    /* Our frames carry their own checksums: none is left for the backend. */
    if (!rc) rc = xenbus_printf(t, dev, "feature-no-csum-offload", "1");
    return rc;
}

/* Wait for the backend's state want; Closing (and Closed, unless stale_closed:
 * a reconnect finds the backend still Closed from the close) end it. */
static long wait_backend(struct netfront *nf, enum xenbus_state want, bool stale_closed)
{
    uint32_t mask = XENBUS_STATE_BIT(want) | XENBUS_STATE_BIT(XenbusStateClosing);
    if (!stale_closed) mask |= XENBUS_STATE_BIT(XenbusStateClosed);
    long st = xenbus_wait_otherend(&nf->dev, mask, NETFRONT_TIMEOUT_NS);
    if (st == (long)want) return 0;
    printk("netfront: vif %u: waited for the backend's %s, it is %s\n", nf->info.id,
           xenbus_state_name(want),
           st < 0 ? xenstore_errname(st) : xenbus_state_name((enum xenbus_state)st));
    return st < 0 ? st : -XEN_EIO;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* "xx:xx:xx:xx:xx:xx" as xl writes it. */
static bool parse_mac(const char *s, uint8_t mac[6])
{
    for (unsigned i = 0; i < 6; i++) {
        int hi = hexval(s[3 * i]), lo = hi < 0 ? -1 : hexval(s[3 * i + 1]);
        char sep = s[3 * i + 2];
        if (lo < 0 || sep != (i == 5 ? '\0' : ':')) return false;
        mac[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

static long read_mac(struct netfront *nf)
{
    char buf[32];
    long rc = xenbus_read(XBT_NIL, nf->dev.nodename, "mac", buf, sizeof(buf));
    if (rc >= 0 && (size_t)rc < sizeof(buf) && parse_mac(buf, nf->info.mac)) return 0;
    printk("netfront: vif %u: no usable mac node (%s)\n", nf->info.id,
           rc < 0 ? xenstore_errname(rc) : buf);
    return rc < 0 ? rc : -XEN_EINVAL;
}

static long connect(struct netfront *nf, bool reconnect)
{
    struct netfront_info *in = &nf->info;
    long rc = read_mac(nf);
    if (!rc) rc = wait_backend(nf, XenbusStateInitWait, reconnect);
    if (rc) return rc;
    if (backend_u64(nf, "feature-rx-copy", 0) != 1) {
        /* The flipping receive path went away long ago (Linux refuses too). */
        printk("netfront: vif %u: the backend does not offer feature-rx-copy\n", in->id);
        return -XEN_EOPNOTSUPP;
    }
    in->sg = !nf->opts.no_sg && backend_u64(nf, "feature-sg", 0) == 1;
    in->gso = in->sg; /* we take GSO frames (as any multi-slot frame) */
    in->split =
        !nf->opts.no_split && backend_u64(nf, "feature-split-event-channels", 0) == 1;
    unsigned max_q = (unsigned)backend_u64(nf, "multi-queue-max-queues", 1);
    nf->nq = umin(umin(nf->opts.queues ? nf->opts.queues : 1, max_q ? max_q : 1),
                  NETFRONT_MAX_QUEUES);
    in->nr_queues = nf->nq;
    in->tx_ring_size = TX_RING_SIZE;
    in->rx_ring_size = RX_RING_SIZE;
    for (unsigned i = 0; i < nf->nq && !rc; i++)
        rc = queue_alloc(nf, i);
    if (!rc) rc = xenstore_transaction(publish, nf, 0, NULL);
    nf->broken = false;
    nf->backend_closing = false;
    nf->next_tx = nf->next_rx = 0;
    if (!rc) rc = xenbus_switch_state(&nf->dev, XenbusStateConnected);
    if (!rc) rc = wait_backend(nf, XenbusStateConnected, false);
    if (rc) {
        printk("netfront: vif %u: connecting failed: %ld\n", in->id, rc);
        /* Closed before the grants end: a backend that mapped the rings
         * sees it and lets go (what it still maps is kept, not revoked). */
        xenbus_switch_state(&nf->dev, XenbusStateClosed);
        queues_free(nf);
        return rc;
    }
    nf->connected = true;
    printk("netfront: vif %u: connected: mac %02x:%02x:%02x:%02x:%02x:%02x, %u queue%s, "
           "sg %s, split event channels %s\n",
           in->id, in->mac[0], in->mac[1], in->mac[2], in->mac[3], in->mac[4], in->mac[5],
           nf->nq, nf->nq == 1 ? "" : "s", in->sg ? "yes" : "no",
           in->split ? "yes" : "no");
    return 0;
}

/* Suspend and resume: at the end of the file. */
static struct control_hook nf_hook;

long netfront_count(void)
{
    struct xenbus_device list[NETFRONT_MAX_DEVS];
    return xenbus_enumerate_frontends("vif", list, NETFRONT_MAX_DEVS);
}

/* The backend leaving while we are connected: the toolstack unplugs. */
static void backend_changed(struct xenbus_device *dev, enum xenbus_state state)
{
    struct netfront *nf = dev->priv;
    /* Suspended: the old backend's nodes go with the old domain; that is
     * no unplug (the resume watches the new one). */
    if (nf->connected && !nf->suspended &&
        (state == XenbusStateClosing || state == XenbusStateClosed ||
         state == XenbusStateUnknown)) {
        if (!nf->backend_closing)
            printk("netfront: vif %u: backend is %s: no more frames\n", nf->info.id,
                   xenbus_state_name(state));
        nf->backend_closing = true;
    }
}

long netfront_wait_device(unsigned index, uint64_t timeout_ns)
{
    return xenbus_wait_frontend("vif", index, timeout_ns);
}

long netfront_open(unsigned index, const struct netfront_opts *opts,
                   struct netfront **out)
{
    static struct xenbus_device list[NETFRONT_MAX_DEVS];
    long n = xenbus_enumerate_frontends("vif", list, NETFRONT_MAX_DEVS);
    if (n < 0) return n;
    if (index >= (unsigned)n || index >= NETFRONT_MAX_DEVS) return -XEN_ENODEV;
    struct netfront *nf = NULL;
    for (unsigned i = 0; i < NETFRONT_MAX_DEVS && !nf; i++)
        if (!devs[i].used) nf = &devs[i];
    if (!nf) return -XEN_ENOSPC;
    memset(nf, 0, sizeof(*nf));
    nf->used = true;
    nf->dev = list[index];
    if (opts) nf->opts = *opts;
    nf->info.id = nf->dev.devid;
    nf->info.backend_id = nf->dev.otherend_id;
    nf->dev.otherend_changed = backend_changed;
    nf->dev.priv = nf;
    long rc = xenbus_watch_otherend(&nf->dev);
    if (!rc) rc = connect(nf, false);
    if (rc) {
        xenbus_unwatch_otherend(&nf->dev);
        nf->used = false;
        return rc;
    }
    control_register(&nf_hook);
    *out = nf;
    return 0;
}

const struct netfront_info *netfront_info(const struct netfront *nf)
{
    return &nf->info;
}

const struct netfront_stats *netfront_stats(const struct netfront *nf)
{
    return &nf->stats;
}

bool netfront_broken(const struct netfront *nf)
{
    return nf->broken;
}

unsigned netfront_grants(const struct netfront *nf)
{
    return nf->grants;
}

/* ---- transmit ------------------------------------------------------------------------
 */

struct slots_wait {
    struct nf_queue *q;
    unsigned need;
};

static bool has_slots(void *arg)
{
    struct slots_wait *w = arg;
    return READ_ONCE(w->q->tx_free) >= w->need || w->q->nf->broken;
}

static void tx_push(struct nf_queue *q)
{
    int notify;
    RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&q->tx, notify);
    if (notify) evtchn_send((evtchn_port_t)q->tx_port);
}

static bool not_suspended(void *arg)
{
    return !((struct netfront *)arg)->suspended;
}

/* A suspend is under way: wait (interrupts on, so this CPU can be parked)
 * until the device is back -- the same one after a cancel, new rings after
 * a resume.  Nothing wakes us when it is: poll briefly. */
static void wait_resumed(struct netfront *nf)
{
    while (nf->suspended)
        wait_event(not_suspended, nf, POLL_SLICE_NS / 10);
}

/* Would a sender have to wait for the suspend to end (lock held)?  A
 * resend during the resume itself never does. */
static bool tx_gated(struct netfront *nf, bool resend)
{
#ifdef GUEST_BUG_NETFRONT_TX_DURING_RECONNECT
    /* Deliberate bug: the transmit path ignores a suspend, so it queues
     * frames on rings that are being replaced (lost) with grants the
     * replacement forgets (leaked). */
    (void)nf, (void)resend;
    return false;
#else
    return !resend && nf->suspended;
#endif
}

/* Queue one frame on queue qi (or, qi < 0, the next queue in turn), copied
 * into its slots' pages at off within the first page. */
static long xmit(struct netfront *nf, int qi, const uint8_t *buf, unsigned off,
                 size_t len, bool resend)
{
    unsigned nslots = (unsigned)((off + len + PAGE_SIZE - 1) / PAGE_SIZE);
    uint64_t deadline = 0; /* read the clock only when waiting: rdtsc traps */
    unsigned long f;
    struct nf_queue *q;
    uint32_t epoch;
again:
    if (tx_gated(nf, resend)) wait_resumed(nf);
    epoch = nf->epoch;
    if (nf->broken || !nf->nq) return -XEN_EIO;
    q = &nf->q[qi >= 0 ? (unsigned)qi % nf->nq : nf->next_tx++ % nf->nq];
    struct slots_wait sw = {q, nslots};
    lock_q(q, &f);
    if (tx_gated(nf, resend)) {
        unlock_q(q, f);
        goto again; /* the queue may be another after a resume */
    }
    tx_gc(q);
    while (q->tx_free < nslots && !nf->broken) {
        q->want_tx_event = true;
        tx_gc(q); /* arms the event */
        unlock_q(q, f);
        uint64_t now = time_monotonic_ns();
        if (!deadline) deadline = now + NETFRONT_TIMEOUT_NS;
        if (nf->backend_closing || now >= deadline) {
            q->want_tx_event = false;
            return nf->backend_closing ? -XEN_EIO : -XEN_ETIMEDOUT;
        }
        wait_event(has_slots, &sw, POLL_SLICE_NS);
        xenstore_run_watches(); /* the backend's state: an unplug */
        lock_q(q, &f);
        if (tx_gated(nf, resend) || nf->epoch != epoch) {
            q->want_tx_event = false;
            unlock_q(q, f);
            goto again;
        }
        tx_gc(q);
    }
    q->want_tx_event = false;
    if (nf->broken) {
        unlock_q(q, f);
        return -XEN_EIO;
    }
    /* Every slot's page first (kept for reuse by its id): a failure then
     * leaves nothing half-queued. */
    uint16_t id = q->tx_free_head;
    for (unsigned k = 0; k < nslots; k++, id = q->txs[id].next_free) {
        struct tx_slot *s = &q->txs[id];
        if (s->page) continue;
        uint8_t *pg = page_alloc();
        long ref = pg ? grant(nf, pg, true) : -XEN_ENOMEM;
        if (ref < 0) {
            if (pg) page_free(pg);
            unlock_q(q, f);
            return ref;
        }
        s->page = pg;
        s->ref = (grant_ref_t)ref;
    }
    size_t done = 0;
    struct tx_slot *prev = NULL;
    for (unsigned k = 0; k < nslots; k++) {
        id = q->tx_free_head;
        struct tx_slot *s = &q->txs[id];
        unsigned at = k == 0 ? off : 0;
        size_t n = PAGE_SIZE - at < len - done ? PAGE_SIZE - at : len - done;
        memcpy(s->page + at, buf + done, n);
        netif_tx_request_t *req = RING_GET_REQUEST(&q->tx, q->tx.req_prod_pvt);
        req->gref = s->ref;
        req->offset = (uint16_t)at;
        req->flags = k + 1 < nslots ? NETTXF_more_data : 0;
        req->id = id;
        /* The first slot carries the frame's size, the others their own. */
        req->size = (uint16_t)(k == 0 ? len : n);
        s->first = k == 0;
        s->off = (uint16_t)at;
        s->len = (uint16_t)n;
        s->frame_len = (uint16_t)len;
        s->next_in_frame = NO_ID;
        s->idx = q->tx.req_prod_pvt;
        if (prev) prev->next_in_frame = id;
        prev = s;
        q->tx.req_prod_pvt++;
        q->tx_free_head = s->next_free;
        q->tx_free--;
        s->in_flight = true;
        done += n;
    }
    if (resend) {
        nf->stats.tx_resent++; /* counted as sent the first time */
    } else {
        nf->stats.tx_frames++;
        nf->stats.tx_bytes += len;
    }
    nf->stats.tx_slots += nslots;
    tx_push(q);
    unlock_q(q, f);
    return 0;
}

long netfront_send(struct netfront *nf, const void *buf, size_t len)
{
    if (!nf->connected || nf->broken || nf->backend_closing) return -XEN_EIO;
    if (len < NETFRONT_ETH_HLEN) return -XEN_EINVAL;
    if (len > NETFRONT_MAX_FRAME || (!nf->info.sg && len > PAGE_SIZE))
        return -XEN_EMSGSIZE;
    /* The frame keeps the caller's offset within a page, so its layout
     * decides the slots, as an skb's does in Linux; like Linux, a frame
     * whose Ethernet header would straddle two pages starts a page instead
     * (netback drops a first slot shorter than the header). */
    unsigned off = (unsigned)((uintptr_t)buf & (PAGE_SIZE - 1));
    if (off + NETFRONT_ETH_HLEN > PAGE_SIZE || (!nf->info.sg && off + len > PAGE_SIZE))
        off = 0;
    return xmit(nf, -1, buf, off, len, false);
}

static bool tx_idle(void *arg)
{
    struct netfront *nf = arg;
    if (nf->broken) return true;
    if (nf->suspended) return false; /* what is in flight may go again */
    for (unsigned i = 0; i < nf->nq; i++)
        if (READ_ONCE(nf->q[i].tx_free) != TX_RING_SIZE) return false;
    return true;
}

long netfront_flush(struct netfront *nf, uint64_t timeout_ns)
{
    uint64_t deadline = time_monotonic_ns() + timeout_ns;
    long rc;
    for (unsigned i = 0; i < nf->nq; i++)
        nf->q[i].want_tx_event = true;
    for (;;) {
        for (unsigned i = 0; i < nf->nq; i++)
            tx_gc_locked(&nf->q[i]);
        if (nf->broken) {
            rc = -XEN_EIO;
            break;
        }
        if (tx_idle(nf)) {
            rc = 0;
            break;
        }
        if (nf->backend_closing || time_monotonic_ns() >= deadline) {
            /* it will not answer now / in time */
            rc = nf->backend_closing ? -XEN_EIO : -XEN_ETIMEDOUT;
            break;
        }
        wait_event(tx_idle, nf, POLL_SLICE_NS);
        xenstore_run_watches();
    }
    for (unsigned i = 0; i < nf->nq; i++)
        nf->q[i].want_tx_event = false;
    return rc;
}

/* ---- receive -------------------------------------------------------------------------
 */

/* What take_frame found. */
enum { RX_NONE = 1, RX_AGAIN = 2 };

/* Post the pages of ring indexes [from, to) again (lock held): the ring
 * stays full, so each goes back to the index it came from. */
static void rx_repost(struct nf_queue *q, RING_IDX from, RING_IDX to)
{
    for (RING_IDX i = from; i != to; i++) {
        unsigned slot = q->rx.req_prod_pvt & (RX_RING_SIZE - 1);
        netif_rx_request_t *req = RING_GET_REQUEST(&q->rx, q->rx.req_prod_pvt);
        req->id = (uint16_t)slot;
        req->gref = q->rxs[slot].ref;
        q->rx.req_prod_pvt++;
    }
    int notify;
    RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&q->rx, notify);
    if (notify) evtchn_send((evtchn_port_t)q->rx_port);
}

/* Ask for an event once the producer passes rp (lock held); true if it
 * already has. */
static bool rx_arm(struct nf_queue *q, RING_IDX rp)
{
    q->rx.sring->rsp_event = rp + 1;
    xen_mb();
    return READ_ONCE(q->rx.sring->rsp_prod) != rp;
}

/* The next frame of queue q into buf (lock held): its length, RX_NONE
 * (nothing complete yet), RX_AGAIN (look again: a frame was dropped and
 * counted, or the producer moved), -XEN_EMSGSIZE, or -XEN_EIO (broken).
 * buf NULL (a resume, on the old ring, or a close): the frame is counted
 * in *dropped and its slots are not posted again. */
static long take_frame(struct nf_queue *q, uint8_t *buf, size_t cap, uint64_t *dropped)
{
    struct netfront *nf = q->nf;
    if (nf->broken) return -XEN_EIO;
    /* Suspended: the frames stay where they are until it is over (buf
     * NULL: the resume drops what the old backend left). */
    if (nf->suspended && buf) return RX_NONE;
    RING_IDX rp = READ_ONCE(q->rx.sring->rsp_prod);
    xen_rmb(); /* the responses before the index */
    RING_IDX cons = q->rx.rsp_cons;
    if ((int32_t)(rp - q->rx_seen) < 0) {
        mark_broken(q, "rx", cons, "producer moved backwards", rp, q->rx_seen);
        return -XEN_EIO;
    }
    q->rx_seen = rp;
    RING_IDX avail = rp - cons;
    if (avail > q->rx.req_prod_pvt - cons) {
        mark_broken(q, "rx", cons, "producer past the requests outstanding", rp,
                    (long)(q->rx.req_prod_pvt - cons));
        return -XEN_EIO;
    }
    /* Walk the frame's slots, each response copied once. */
    netif_rx_response_t data[MAX_SLOTS];
    RING_IDX at[MAX_SLOTS]; /* where each data response sat */
    unsigned ndata = 0, nextra = 0;
    bool frame_err = false;
    RING_IDX i = cons;
    for (;;) {
        if (i - cons == avail) return rx_arm(q, rp) ? RX_AGAIN : RX_NONE;
        netif_rx_response_t r;
        RING_COPY_RESPONSE(&q->rx, i, &r);
        unsigned slot = i & (RX_RING_SIZE - 1);
        if (r.id != slot) {
            mark_broken(q, "rx", i, "id is not the slot's request", r.id, slot);
            return -XEN_EIO;
        }
        if (r.status < NETIF_RSP_DROPPED) {
            mark_broken(q, "rx", i, "bad status", r.id, r.status);
            return -XEN_EIO;
        }
        if (r.status > 0 && (uint32_t)r.offset + (uint32_t)r.status > PAGE_SIZE) {
            mark_broken(q, "rx", i, "offset + length past the page", r.offset, r.status);
            return -XEN_EIO;
        }
        if (ndata == MAX_SLOTS) {
            mark_broken(q, "rx", i, "more_data chain too long", MAX_SLOTS + 1, r.status);
            return -XEN_EIO;
        }
        if (r.status < 0) frame_err = true;
        at[ndata] = i;
        data[ndata++] = r;
        i++;
        /* Extra-info slots follow the first response only. */
        bool more_extra = ndata == 1 && (r.flags & NETRXF_extra_info);
        while (more_extra) {
            if (i - cons == avail) return rx_arm(q, rp) ? RX_AGAIN : RX_NONE;
            netif_extra_info_t x;
            memcpy(&x, RING_GET_RESPONSE(&q->rx, i), sizeof(x));
            if (x.type == XEN_NETIF_EXTRA_TYPE_NONE ||
                x.type >= XEN_NETIF_EXTRA_TYPE_MAX) {
                mark_broken(q, "rx", i, "bad extra-info type", x.type, x.flags);
                return -XEN_EIO;
            }
            if (++nextra > MAX_EXTRAS) {
                mark_broken(q, "rx", i, "too many extra-info slots", nextra, x.type);
                return -XEN_EIO;
            }
            /* A GSO frame arrives whole: its segment size does not matter. */
            if (x.type == XEN_NETIF_EXTRA_TYPE_GSO &&
                (x.u.gso.size == 0 || (x.u.gso.type != XEN_NETIF_GSO_TYPE_TCPV4 &&
                                       x.u.gso.type != XEN_NETIF_GSO_TYPE_TCPV6)))
                frame_err = true;
            more_extra = x.flags & XEN_NETIF_EXTRA_FLAG_MORE;
            i++;
        }
        if (!(r.flags & NETRXF_more_data)) break;
    }
    /* The whole frame is there: take it. */
    q->rx.rsp_cons = i;
    nf->stats.rx_slots += i - cons;
    nf->stats.rx_extras += nextra;
    size_t total = 0;
    for (unsigned k = 0; k < ndata; k++)
        if (data[k].status > 0) total += (size_t)data[k].status;
    long ret;
    if (!buf) {
        (*dropped)++;
        return RX_AGAIN;
    }
    if (frame_err) {
        nf->stats.rx_errors++;
        ret = RX_AGAIN;
    } else if (total < NETFRONT_ETH_HLEN) {
        nf->stats.rx_dropped++;
        ret = RX_AGAIN;
    } else if (total > cap) {
        nf->stats.rx_dropped++;
        ret = -XEN_EMSGSIZE;
    } else {
        size_t pos = 0;
        for (unsigned k = 0; k < ndata; k++) {
            if (data[k].status <= 0) continue;
            const uint8_t *pg = q->rxs[at[k] & (RX_RING_SIZE - 1)].page;
            memcpy(buf + pos, pg + data[k].offset, (size_t)data[k].status);
            pos += (size_t)data[k].status;
        }
        nf->stats.rx_frames++;
        nf->stats.rx_bytes += total;
        ret = (long)total;
    }
    rx_repost(q, cons, i);
    return ret;
}

static bool rx_ready(void *arg)
{
    struct netfront *nf = arg;
    if (nf->broken || nf->backend_closing) return true;
    if (nf->suspended) return false;
    for (unsigned i = 0; i < nf->nq; i++) {
        struct nf_queue *q = &nf->q[i];
        if (READ_ONCE(q->rx.sring->rsp_prod) != q->rx.rsp_cons) return true;
    }
    return false;
}

long netfront_recv(struct netfront *nf, void *buf, size_t cap, uint64_t timeout_ns)
{
    if (!nf->connected) return -XEN_EIO;
    uint64_t deadline = 0; /* read the clock only when waiting: rdtsc traps */
    for (;;) {
        bool again = false;
        if (!nf->nq) return -XEN_EIO; /* a failed reconnect left no queues */
        for (unsigned n = 0; n < nf->nq; n++) {
            struct nf_queue *q = &nf->q[nf->next_rx++ % nf->nq];
            unsigned long f;
            lock_q(q, &f);
            long r = take_frame(q, buf, cap, NULL);
            unlock_q(q, f);
            if (r == RX_AGAIN)
                again = true;
            else if (r != RX_NONE)
                return r;
        }
        if (again) continue;
        if (nf->broken) return -XEN_EIO;
        if (nf->backend_closing) return -XEN_EIO;
        uint64_t now = time_monotonic_ns();
        if (!deadline) deadline = now + timeout_ns;
        if (now >= deadline) return -XEN_ETIMEDOUT;
        uint64_t left = deadline - now;
        wait_event(rx_ready, nf, left < POLL_SLICE_NS ? left : POLL_SLICE_NS);
        xenstore_run_watches();
    }
}

/* ---- close and reconnect
 * --------------------------------------------------------------- */

long netfront_wait_unplug(struct netfront *nf, uint64_t timeout_ns)
{
    long st = xenbus_wait_otherend(&nf->dev,
                                   XENBUS_STATE_BIT(XenbusStateClosing) |
                                       XENBUS_STATE_BIT(XenbusStateClosed) |
                                       XENBUS_STATE_BIT(XenbusStateUnknown),
                                   timeout_ns);
    return st < 0 ? st : 0;
}

long netfront_close(struct netfront *nf)
{
    wait_resumed(nf);
    if (!nf->connected) return -XEN_EINVAL;
    /* Let the backend answer what was sent (unless it is gone or broken). */
    if (!nf->backend_closing) netfront_flush(nf, NETFRONT_TIMEOUT_NS);
    nf->connected = false;
    /* As Linux's netfront: Closing, Closed, and only once the backend is
     * Closed too (it has unmapped the rings) are the grants ended. */
    uint32_t gone =
        XENBUS_STATE_BIT(XenbusStateClosed) | XENBUS_STATE_BIT(XenbusStateUnknown);
    long rc = xenbus_switch_state(&nf->dev, XenbusStateClosing);
    long st = xenbus_wait_otherend(&nf->dev, gone | XENBUS_STATE_BIT(XenbusStateClosing),
                                   NETFRONT_TIMEOUT_NS);
    if (!rc) rc = xenbus_switch_state(&nf->dev, XenbusStateClosed);
    /* Unknown: an unplugged device's nodes are gone once it closed. */
    if (!rc) st = xenbus_wait_otherend(&nf->dev, gone, NETFRONT_TIMEOUT_NS);
    if (!rc && st < 0) rc = st;
    /* Frames that came and were never asked for: counted (the backend
     * has let go of the rings, nothing more comes). */
    for (unsigned i = 0; i < nf->nq; i++) {
        unsigned long f;
        lock_q(&nf->q[i], &f);
        while (take_frame(&nf->q[i], NULL, 0, &nf->stats.rx_unread) == RX_AGAIN)
            ;
        unlock_q(&nf->q[i], f);
    }
    unsigned before = nf->grants;
    queues_free(nf);
    printk("netfront: vif %u: closed, %u grants ended, %u left%s\n", nf->info.id,
           before - nf->grants, nf->grants, rc ? " (with errors)" : "");
    return rc;
}

long netfront_reconnect(struct netfront *nf)
{
    if (nf->connected) return -XEN_EBUSY;
    long rc = xenbus_switch_state(&nf->dev, XenbusStateInitialising);
    return rc ? rc : connect(nf, true);
}

/* ---- suspend and resume (control.c) -------------------------------------------------
 */

/* One queue's frames in flight at a resume, to be sent again: the old tx
 * slots (their pages hold the bytes) and the frames' first slots in ring
 * order. */
struct nf_resend {
    struct tx_slot txs[TX_RING_SIZE];
    uint16_t first[TX_RING_SIZE];
    unsigned nframes;
    uint8_t *ring_pages[2]; /* the old rings, freed once the new are up */
};

#define RESEND_PAGES ((sizeof(struct nf_resend) + PAGE_SIZE - 1) / PAGE_SIZE)

/* A frame's bytes are put back together here to go again. */
static uint8_t *resend_buf;
#define RESEND_BUF_PAGES (NETFRONT_MAX_FRAME / PAGE_SIZE + 2)

/* The frames of q's old ring the old backend did not answer, oldest first,
 * into r (lock held).  A frame whose first slot was answered but not all of
 * the others (no backend answers half a packet) is counted in tx_lost. */
static void collect_unanswered(struct nf_queue *q, struct nf_resend *r)
{
    struct netfront *nf = q->nf;
    bool reached[TX_RING_SIZE];
    memset(reached, 0, sizeof(reached));
    memcpy(r->txs, q->txs, sizeof(r->txs));
    r->nframes = 0;
    for (unsigned id = 0; id < TX_RING_SIZE; id++) {
        const struct tx_slot *s = &r->txs[id];
        if (!s->in_flight || !s->first) continue;
        bool whole = true;
        for (uint16_t k = (uint16_t)id; k != NO_ID && k < TX_RING_SIZE;
             k = r->txs[k].next_in_frame) {
            whole &= r->txs[k].in_flight;
            reached[k] = true;
        }
        if (!whole) continue; /* counted below with its orphans */
        /* Insertion by ring index, relative to the oldest possible one. */
        RING_IDX base = q->tx.req_prod_pvt - TX_RING_SIZE;
        unsigned j = r->nframes++;
        while (j > 0 && r->txs[r->first[j - 1]].idx - base > s->idx - base) {
            r->first[j] = r->first[j - 1];
            j--;
        }
        r->first[j] = (uint16_t)id;
    }
    /* Slots in flight that no whole frame reached: one lost frame per
     * chain (a slot no other orphan points to starts one). */
    bool pointed[TX_RING_SIZE];
    memset(pointed, 0, sizeof(pointed));
    for (unsigned id = 0; id < TX_RING_SIZE; id++) {
        const struct tx_slot *s = &r->txs[id];
        if (s->in_flight && !reached[id] && s->next_in_frame < TX_RING_SIZE)
            pointed[s->next_in_frame] = true;
    }
    for (unsigned id = 0; id < TX_RING_SIZE; id++)
        if (r->txs[id].in_flight && !reached[id] && !pointed[id]) nf->stats.tx_lost++;
}

/* The old domain's queue (lock held): the old backend's last answers are
 * taken, what it left in the rx ring is dropped and counted, the
 * unanswered frames go to r, every grant of the old domain is ended (they
 * went with it: ending just succeeds now) and its ports forgotten (the
 * numbers may name new channels).  The queue is left idle on its old ring
 * pages, which r keeps until the new rings replace them. */
static void queue_forget(struct nf_queue *q, struct nf_resend *r)
{
    struct netfront *nf = q->nf;
    q->tx_port = q->rx_port = 0;
    tx_gc(q);
    if (!nf->broken) {
        long got;
        do
            got = take_frame(q, NULL, 0, &nf->stats.rx_lost);
        while (got == RX_AGAIN);
        /* A chain the old backend never finished: one frame too. */
        if (!nf->broken && READ_ONCE(q->rx.sring->rsp_prod) != q->rx.rsp_cons)
            nf->stats.rx_lost++;
    }
    if (r) {
        collect_unanswered(q, r);
    } else {
        /* No memory to keep them: lost, and counted. */
        for (unsigned i = 0; i < TX_RING_SIZE; i++)
            nf->stats.tx_lost += q->txs[i].in_flight && q->txs[i].first;
    }
    for (unsigned i = 0; i < TX_RING_SIZE; i++) {
        struct tx_slot *s = &q->txs[i];
        /* The page stays in r (or goes now, its grant ended). */
        if (s->page && ungrant(nf, s->ref) && !r) page_free(s->page);
        *s = (struct tx_slot){.next_free =
                                  (uint16_t)(i + 1 < TX_RING_SIZE ? i + 1 : NO_ID)};
    }
    q->tx_free_head = 0;
    q->tx_free = TX_RING_SIZE;
    for (unsigned i = 0; i < RX_RING_SIZE; i++) {
        struct rx_slot *s = &q->rxs[i];
        if (s->page && ungrant(nf, s->ref)) page_free(s->page);
        s->page = NULL;
    }
    if (q->tx_ring_ref >= 0) ungrant(nf, (grant_ref_t)q->tx_ring_ref);
    if (q->rx_ring_ref >= 0) ungrant(nf, (grant_ref_t)q->rx_ring_ref);
    q->tx_ring_ref = q->rx_ring_ref = -1;
    if (r) {
        r->ring_pages[0] = q->tx_ring_page;
        r->ring_pages[1] = q->rx_ring_page;
    }
    /* Without r the old pages stay with the queue: a sender that ignores
     * the suspend (GUEST_BUG_NETFRONT_TX_DURING_RECONNECT) may write there
     * until the new rings replace them; they are not freed (a few pages,
     * only when memory ran out). */
}

/* Send r's frames again on queue qi of the new rings, in their old order. */
static void resend(struct netfront *nf, unsigned qi, struct nf_resend *r)
{
    for (unsigned k = 0; k < r->nframes; k++) {
        const struct tx_slot *s = &r->txs[r->first[k]];
        unsigned off = s->off;
        size_t len = s->frame_len, pos = 0;
        for (uint16_t id = r->first[k]; id != NO_ID && id < TX_RING_SIZE;
             id = r->txs[id].next_in_frame) {
            const struct tx_slot *p = &r->txs[id];
            if (pos + p->len > len || p->off + p->len > PAGE_SIZE) break;
            memcpy(resend_buf + off + pos, p->page + p->off, p->len);
            pos += p->len;
        }
        long rc = pos == len && !nf->broken
                      ? xmit(nf, (int)qi, resend_buf + off, off, len, true)
                      : -XEN_EIO;
        if (rc) nf->stats.tx_lost++;
    }
}

/* What r kept of the old domain's queue, and r itself. */
static void resend_free(struct nf_resend *r)
{
    for (unsigned i = 0; i < TX_RING_SIZE; i++)
        if (r->txs[i].page) page_free(r->txs[i].page);
    for (unsigned i = 0; i < 2; i++)
        if (r->ring_pages[i]) page_free(r->ring_pages[i]);
    for (unsigned i = 0; i < RESEND_PAGES; i++)
        page_free((uint8_t *)r + i * PAGE_SIZE);
}

/* The new backend, as Linux's netfront_resume and xennet_connect: the old
 * domain's rings, grants and ports let go of, our nodes moved to the new
 * home, the handshake from Initialising on new rings (rx posted full), and
 * the frames in flight sent again -- all before the callers go on. */
static void recover(struct netfront *nf)
{
    unsigned oldq = nf->nq;
    uint64_t lost_tx = nf->stats.tx_lost, lost_rx = nf->stats.rx_lost;
    uint64_t resent = nf->stats.tx_resent;
    for (unsigned i = 0; i < oldq; i++) {
        struct nf_queue *q = &nf->q[i];
        /* Taken at suspend; a queue made since (a reconnect meanwhile)
         * gets one now, or loses what it had in flight (counted). */
        if (!nf->rs[i]) nf->rs[i] = page_alloc_contig(RESEND_PAGES);
        unsigned long f;
        lock_q(q, &f);
        queue_forget(q, nf->rs[i]);
        unlock_q(q, f);
    }
    nf->resuming = true;
    long rc = xenbus_resume_device(&nf->dev);
    if (!rc) rc = xenbus_switch_state(&nf->dev, XenbusStateInitialising);
    uint8_t mac[6];
    memcpy(mac, nf->info.mac, sizeof(mac));
    if (!rc) rc = connect(nf, true);
    nf->resuming = false;
    nf->stats.resumes++;
    if (rc) {
        printk("netfront: vif %u: reconnect after resume failed: %s\n", nf->info.id,
               xenstore_errname(rc));
        nf->broken = true;
    } else if (memcmp(mac, nf->info.mac, sizeof(mac))) {
        printk("netfront: vif %u: the new backend gave another MAC\n", nf->info.id);
    }
    nf->epoch++;
    for (unsigned i = 0; i < oldq; i++) {
        if (!nf->rs[i]) continue;
        if (rc)
            nf->stats.tx_lost += nf->rs[i]->nframes;
        else
            resend(nf, i, nf->rs[i]);
        resend_free(nf->rs[i]);
        nf->rs[i] = NULL;
    }
    printk("netfront: vif %u: resumed: %lu frame%s sent again, %lu lost; %lu received "
           "frame%s dropped\n",
           nf->info.id, (unsigned long)(nf->stats.tx_resent - resent),
           nf->stats.tx_resent - resent == 1 ? "" : "s",
           (unsigned long)(nf->stats.tx_lost - lost_tx),
           (unsigned long)(nf->stats.rx_lost - lost_rx),
           nf->stats.rx_lost - lost_rx == 1 ? "" : "s");
}

/* The resend areas of every device (a cancel, or a refused suspend). */
static void resend_areas_free(void)
{
    for (unsigned i = 0; i < NETFRONT_MAX_DEVS; i++)
        for (unsigned k = 0; k < NETFRONT_MAX_QUEUES; k++)
            if (devs[i].rs[k]) {
                for (unsigned p = 0; p < RESEND_PAGES; p++)
                    page_free((uint8_t *)devs[i].rs[k] + p * PAGE_SIZE);
                devs[i].rs[k] = NULL;
            }
}

/* Before the domain suspends (every CPU up): the memory a resume needs
 * (none: the suspend is refused), then every device suspended under each
 * queue's lock, so a sender has either queued its frame or will wait. */
static long nf_suspend(void *arg)
{
    (void)arg;
    if (!resend_buf) resend_buf = page_alloc_contig(RESEND_BUF_PAGES);
    bool ok = resend_buf != NULL;
    for (unsigned i = 0; i < NETFRONT_MAX_DEVS && ok; i++) {
        struct netfront *nf = &devs[i];
        if (!nf->used || !nf->connected) continue;
        for (unsigned k = 0; k < nf->nq && ok; k++) {
            if (!nf->rs[k]) nf->rs[k] = page_alloc_contig(RESEND_PAGES);
            ok = nf->rs[k] != NULL;
        }
    }
    if (!ok) {
        resend_areas_free();
        printk("netfront: no memory to keep the frames in flight\n");
        return -XEN_ENOMEM;
    }
    for (unsigned i = 0; i < NETFRONT_MAX_DEVS; i++) {
        struct netfront *nf = &devs[i];
        if (!nf->used || !nf->connected) continue;
        for (unsigned k = 0; k < nf->nq; k++) {
            unsigned long f;
            lock_q(&nf->q[k], &f);
            nf->suspended = true;
            unlock_q(&nf->q[k], f);
        }
        nf->suspended = true; /* no queues: still suspended */
    }
    return 0;
}

static void nf_resume(void *arg)
{
    (void)arg;
    for (unsigned i = 0; i < NETFRONT_MAX_DEVS; i++) {
        struct netfront *nf = &devs[i];
        /* A closed device moves home too: a later reconnect finds it. */
        if (nf->used && !nf->suspended && !nf->connected) xenbus_resume_device(&nf->dev);
        if (!nf->used || !nf->suspended) continue;
        recover(nf);
        xen_mb();
        nf->suspended = false;
    }
}

/* The same domain: the rings, grants and ports are still ours, and the
 * backend served them meanwhile. */
static void nf_cancel(void *arg)
{
    (void)arg;
    resend_areas_free();
    for (unsigned i = 0; i < NETFRONT_MAX_DEVS; i++) {
        struct netfront *nf = &devs[i];
        if (!nf->used || !nf->suspended) continue;
        xen_mb();
        nf->suspended = false;
        for (unsigned k = 0; k < nf->nq; k++)
            tx_gc_locked(&nf->q[k]);
    }
}

static struct control_hook nf_hook = {.name = "netfront",
                                      .order = CONTROL_ORDER_NETFRONT,
                                      .suspend = nf_suspend,
                                      .resume = nf_resume,
                                      .cancel = nf_cancel};
