/* libFuzzer harness for guestlib's netfront: a hostile backend.  Each
 * input boots the real `net` guest app (role=ping) in a fresh simulation
 * with one vif whose backend is this harness, not xensim's netback: it
 * writes the backend's nodes and states, maps the frontend's rings once it
 * is Connected, and takes every backend decision from the next input
 * byte: which responses, with which id, status, offset, flags and length,
 * index moves, rx data, extra-info slots, state and feature changes, event
 * floods.  When the input runs out the harness plays a correct backend
 * (echoing each ping) until the guest ends.
 *
 * The guest image comes from $NETFRONT_FUZZ_GUEST, else
 * $XENSIM_GUEST_DIR/net.elf, else build/guests/net.elf (`make` builds it);
 * $NETFRONT_FUZZ_VERBOSE prints the guest's console after each input.
 *
 * Input format (see fuzz/README.md):
 *
 *   cfg0:u8 cfg1:u8  repeat { op:u8 args }
 *
 *   cfg0 & 3        queues the guest asks for - 1 (queues=1..4)
 *   cfg0 & 4        backend offers feature-sg
 *   cfg0 & 8        backend offers feature-split-event-channels
 *   (cfg0>>4) & 3   multi-queue-max-queues - 1 (1..4)
 *   cfg0 & 64       the guest closes and reconnects half-way (reconnect=1)
 *   cfg0 & 128      the guest does not use sg (sg=0)
 *   cfg1 & 7        frames - 1 (1..8)
 *   (cfg1>>3) & 3   size: 0 the app's mix (60 B .. 64 KiB), 1 60, 2 1514, 3 9018
 *   cfg1 & 32       backend does not offer feature-rx-copy
 *   op & 15 (queue (op >> 4) % queues):
 *     0 run    n:u8                   run the guest 1 + n % 64 exits (at most 1 ms)
 *     1 txrsp  a:u8 [id:u16le]        answer the next tx request: status a & 3 (OKAY,
 *                                     ERROR, DROPPED, NULL), a & 4: id from input,
 *                                     a & 8: also push and notify
 *     2 rxslot m:u8 off:u16le st:u16le fl:u8 [id:u16le]
 *                                     one rx response for the next rx request:
 *                                     offset, status (length), flags; data copied
 *                                     from the last tx frame; m & 1: id from input
 *     3 push   r:u8                   rsp_prod = rsp_prod_pvt (r & 1: rx), notify
 *     4 echo                          a correct backend for one tx frame: answer its
 *                                     slots, send it back as a pong on rx
 *     5 raw    r:u8 bytes[8]          raw bytes over the response slot at
 *                                     rsp_prod_pvt + (r >> 1) % 4 (r & 1: rx)
 *     6 prod   r:u8 v:u32le           rsp_prod = v (r & 1: rx), notify
 *     7 state  s:u8                   backend state node = s % 9
 *     8 events n:u8                   raise the frontend's ports n times
 *     9 node   k:u8 v:u8              rewrite a backend feature node to v % 5
 *    10 unplug                        as xl detach: online 0, backend Closing
 *    11 extra  fl:u8 type:u8 data[6]  an extra-info slot at rsp_prod_pvt (rx)
 *    12..15 run 8 exits
 *
 * Oracles, besides ASan/UBSan on xensim and the harness: the guest never
 * faults or panics (an app that fails its own checks is fine); it never
 * hangs (30 s of virtual time after the input, with a correct backend);
 * while no response lied about an id, every tx frame is well formed (first
 * slot's size is the frame's, slots within their page, at most 18) and
 * carries exactly the bytes the app built, and every posted rx grant can
 * be copied into; after the guest ended, every grant it still has is one
 * netfront reported as still mapped by the backend. */
#include <elf.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ring_check.h" /* the ring macros' barriers, before the Xen headers */
#include <xen/io/netif.h>
#include <xen/io/xenbus.h>

#include "evtchn.h"
#include "gnttab.h"
#include "gnttab_impl.h"
#include "sim.h"
#include "xenstore.h"

#define PAGE          4096u
#define MAX_Q         4u
#define VIF           0u
#define MAX_SLOTS     XEN_NETIF_NR_SLOTS_MIN
#define RX_SIZE       __CONST_RING_SIZE(netif_rx, PAGE)
#define MAX_FRAME     XEN_NETIF_MAX_TX_SIZE
#define TAIL_NS       (30ull * 1000 * 1000 * 1000)
#define BOOT_NS       (5ull * 1000 * 1000 * 1000)
#define STEP_NS       (1000ull * 1000)
#define ETH_HLEN      14u
#define APP_HDR       (ETH_HLEN + 20u)
#define APP_ETYPE     0x88b5u
#define APP_MAGIC     0x584e4554u
#define APP_PONG      2u
#define APP_END       3u
#define APP_END_ACK   4u
#define APP_HELLO     6u
#define APP_HELLO_ACK 7u
#define BACKEND_MAC   "\x00\x16\x3e\xfe\xed\x01"

struct bq {
    netif_tx_back_ring_t tx;
    netif_rx_back_ring_t rx;
    void *tx_page, *rx_page;
    grant_handle_t tx_h, rx_h;
    bool tx_mapped, rx_mapped;
    evtchn_port_t tx_port, rx_port;
    bool mid_frame; /* tx req_cons is inside a frame (slots answered singly) */
    /* rx requests read, by ring index: a response overlays its request */
    netif_rx_request_t rxreq[RX_SIZE];
};

struct harness {
    struct xs_sim sim;
    struct xs_domain *dom;
    char fe[96], be[96];
    unsigned nq;
    bool connected, unplugged;
    enum xenbus_state be_state;
    struct bq q[MAX_Q];
    bool tx_lied; /* a tx answer named a wrong id: tx oracles are off */
    bool rx_lied; /* rsp_prod moved by hand: rx request accounting is off */
    /* the last frame read from a tx ring, for rx data */
    uint8_t frame[MAX_FRAME];
    size_t frame_len, frame_pos;
    const uint8_t *in;
    size_t n;
};

static struct harness *H;
static char guest_path[4096];

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "netfront_responses: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (H->dom && H->dom->console)
        fprintf(stderr, "\n--- guest console ---\n%.*s\n", (int)H->dom->console_len,
                H->dom->console);
    abort();
}

/* ---- input ---------------------------------------------------------------------- */

static bool take(void *out, size_t len)
{
    if (H->n < len) return false;
    memcpy(out, H->in, len);
    H->in += len;
    H->n -= len;
    return true;
}

static uint8_t byte(void)
{
    uint8_t b = 0;
    take(&b, 1);
    return b;
}

/* ---- xenstore, as Dom0 --------------------------------------------------------------
 */

static void xs_put(const char *dir, const char *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void xs_put(const char *dir, const char *node, const char *fmt, ...)
{
    char path[192], val[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(val, sizeof(val), fmt, ap);
    va_end(ap);
    snprintf(path, sizeof(path), "%s/%s", dir, node);
    xs_xenstore_write(H->sim.xenstore, path, val, strlen(val));
}

/* dir/node as a number; false if absent or not one. */
static bool xs_get(const char *dir, const char *node, unsigned long *out)
{
    char path[192], buf[32];
    size_t len = sizeof(buf) - 1;
    snprintf(path, sizeof(path), "%s/%s", dir, node);
    if (xs_xenstore_request(H->sim.xenstore, XS_READ, 0, path, strlen(path) + 1, buf,
                            &len) ||
        len >= sizeof(buf) || len == 0)
        return false;
    buf[len] = '\0';
    char *end;
    *out = strtoul(buf, &end, 10);
    return *end == '\0';
}

static void be_state(enum xenbus_state s)
{
    H->be_state = s;
    xs_put(H->be, "state", "%d", (int)s);
}

static enum xenbus_state fe_state(void)
{
    unsigned long v;
    return xs_get(H->fe, "state", &v) && v <= XenbusStateReconfigured
               ? (enum xenbus_state)v
               : XenbusStateUnknown;
}

/* ---- the simulation ---------------------------------------------------------------- */

static bool guest_running(void)
{
    return H->dom->end_state == XS_END_RUNNING;
}

static void run(uint64_t exits, uint64_t ns)
{
    struct xs_sim *s = &H->sim;
    if (!guest_running()) return;
    s->cfg.exit_limit = s->nr_exits + exits;
    s->cfg.vtime_limit_ns = s->vtime_ns + ns;
    xs_sim_run(s);
}

static void notify(evtchn_port_t port)
{
    if (guest_running() && xs_evtchn_is_unbound_for(H->dom, port, 0))
        xs_evtchn_notify_local(H->dom, port);
}

/* ---- connect and disconnect (the protocol, not fuzzed) ----------------------------- */

static void unmap_all(void)
{
    for (unsigned i = 0; i < MAX_Q; i++) {
        struct bq *q = &H->q[i];
        if (q->tx_mapped) xs_gnttab_backend_unmap(H->dom, q->tx_h);
        if (q->rx_mapped) xs_gnttab_backend_unmap(H->dom, q->rx_h);
        memset(q, 0, sizeof(*q));
    }
    H->connected = false;
    H->nq = 0;
}

/* Read the frontend's nodes and map its rings, as netback does.  Nodes a
 * correct netfront never writes are a finding. */
static void connect(void)
{
    unsigned long nq = 1, v;
    if (!xs_get(H->fe, "request-rx-copy", &v) || v != 1)
        fail("netfront connected without request-rx-copy = 1");
    if (xs_get(H->fe, "multi-queue-num-queues", &nq) && (nq < 2 || nq > MAX_Q))
        fail("netfront wrote multi-queue-num-queues %lu", nq);
    for (unsigned i = 0; i < nq; i++) {
        struct bq *q = &H->q[i];
        char dir[128];
        if (nq > 1)
            snprintf(dir, sizeof(dir), "%s/queue-%u", H->fe, i);
        else
            snprintf(dir, sizeof(dir), "%s", H->fe);
        unsigned long txr, rxr, tp, rp;
        if (!xs_get(dir, "tx-ring-ref", &txr) || !xs_get(dir, "rx-ring-ref", &rxr))
            fail("queue %u: no ring references", i);
        if (xs_get(dir, "event-channel-tx", &tp)) {
            if (!xs_get(dir, "event-channel-rx", &rp))
                fail("queue %u: event-channel-tx without -rx", i);
        } else if (xs_get(dir, "event-channel", &tp)) {
            rp = tp;
        } else {
            fail("queue %u: no event channel", i);
        }
        if (!xs_evtchn_is_unbound_for(H->dom, (evtchn_port_t)tp, 0) ||
            !xs_evtchn_is_unbound_for(H->dom, (evtchn_port_t)rp, 0))
            fail("queue %u: ports %lu/%lu are not unbound for Dom0", i, tp, rp);
        if (xs_gnttab_backend_map(H->dom, (grant_ref_t)txr, false, &q->tx_page,
                                  &q->tx_h) != GNTST_okay ||
            !(q->tx_mapped = true) ||
            xs_gnttab_backend_map(H->dom, (grant_ref_t)rxr, false, &q->rx_page,
                                  &q->rx_h) != GNTST_okay)
            fail("queue %u: ring grants %lu/%lu cannot be mapped", i, txr, rxr);
        q->rx_mapped = true;
        BACK_RING_INIT(&q->tx, (netif_tx_sring_t *)q->tx_page, PAGE);
        BACK_RING_INIT(&q->rx, (netif_rx_sring_t *)q->rx_page, PAGE);
        q->tx_port = (evtchn_port_t)tp;
        q->rx_port = (evtchn_port_t)rp;
    }
    H->nq = (unsigned)nq;
    H->connected = true;
    H->tx_lied = H->rx_lied = false;
    be_state(XenbusStateConnected);
}

/* Follow the frontend's state as pvdev.c does for xensim's backends. */
static void follow(void)
{
    enum xenbus_state fs = fe_state();
    if (H->unplugged) {
        /* As pvdev.c: disconnect on Closing, Closed once the frontend is. */
        if (fs == XenbusStateClosing || fs == XenbusStateClosed || !guest_running())
            unmap_all();
        if (fs == XenbusStateClosed && H->be_state != XenbusStateClosed)
            be_state(XenbusStateClosed);
        return;
    }
    switch (fs) {
    case XenbusStateInitialising:
        if (H->be_state == XenbusStateClosed || H->be_state == XenbusStateClosing) {
            unmap_all();
            be_state(XenbusStateInitWait);
        }
        break;
    case XenbusStateInitialised:
    case XenbusStateConnected:
        if (!H->connected && H->be_state == XenbusStateInitWait) connect();
        break;
    case XenbusStateClosing:
        unmap_all();
        if (H->be_state != XenbusStateClosing) be_state(XenbusStateClosing);
        break;
    case XenbusStateClosed:
    case XenbusStateUnknown:
        unmap_all();
        if (H->be_state != XenbusStateClosed) be_state(XenbusStateClosed);
        break;
    default:
        break;
    }
}

/* The frontend still owns what it posted: its grants must work. */
static bool strict(void)
{
    return H->connected && guest_running() && fe_state() == XenbusStateConnected;
}

/* ---- tx ------------------------------------------------------------------------------
 */

static bool tx_pending(struct bq *q)
{
    RING_IDX prod = q->tx.sring->req_prod;
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (prod - q->tx.req_cons > RING_SIZE(&q->tx)) {
        /* Only possible once answers were made up: netfront then reuses ids
         * whose requests we never read. */
        if (!H->tx_lied)
            fail("tx request producer %u is %u past the consumer", prod,
                 prod - q->tx.req_cons);
        return false;
    }
    return prod != q->tx.req_cons;
}

static void tx_answer(struct bq *q, uint16_t id, int16_t status)
{
    netif_tx_response_t *r = RING_GET_RESPONSE(&q->tx, q->tx.rsp_prod_pvt);
    r->id = id;
    r->status = status;
    q->tx.rsp_prod_pvt++;
}

static void push_tx(struct bq *q)
{
    int n;
    RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&q->tx, n);
    if (n) notify(q->tx_port);
}

static void push_rx(struct bq *q)
{
    int n;
    RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&q->rx, n);
    if (n) notify(q->rx_port);
}

static uint8_t app_pattern(uint32_t seq, unsigned off)
{
    return (uint8_t)(seq * 31u + off * 7u + (off >> 8) + 3u);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The app's frames are fully determined by their header: check every byte. */
static void check_app_frame(const uint8_t *f, size_t len)
{
    if (len < APP_HDR || f[12] != APP_ETYPE >> 8 || f[13] != (APP_ETYPE & 0xff) ||
        be32(f + ETH_HLEN) != APP_MAGIC || be32(f + ETH_HLEN + 12) != len)
        fail("tx frame of %zu bytes is not the app's (header)", len);
    uint32_t seq = be32(f + ETH_HLEN + 8);
    for (size_t o = APP_HDR; o < len; o++)
        if (f[o] != app_pattern(seq, (unsigned)o))
            fail("tx frame seq %u of %zu bytes: byte %zu is %#x, the app wrote %#x", seq,
                 len, o, f[o], app_pattern(seq, (unsigned)o));
}

/* Consume one whole tx frame from req_cons: check it, copy its bytes into
 * H->frame, answer every slot OKAY.  False if none is complete. */
static bool tx_take_frame(struct bq *q)
{
    netif_tx_request_t req[MAX_SLOTS + 1];
    unsigned n = 0;
    RING_IDX i = q->tx.req_cons, prod = q->tx.sring->req_prod;
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (q->mid_frame) {
        /* Slots of a frame begun by single answers: finish it unechoed. */
        while (i != prod) {
            RING_COPY_REQUEST(&q->tx, i, &req[0]);
            i++;
            tx_answer(q, req[0].id, NETIF_RSP_OKAY);
            if (!(req[0].flags & NETTXF_more_data)) {
                q->mid_frame = false;
                break;
            }
        }
        q->tx.req_cons = i;
        push_tx(q);
        return false;
    }
    for (;;) {
        if (i == prod) return false; /* incomplete: later */
        if (n == MAX_SLOTS) {
            if (!H->tx_lied) fail("tx frame of more than %u slots", MAX_SLOTS);
            return false;
        }
        RING_COPY_REQUEST(&q->tx, i, &req[n]);
        i++;
        if (!(req[n++].flags & NETTXF_more_data)) break;
    }
    /* Linux netback's rules: the first size is the frame's; each slot in its page. */
    size_t total = req[0].size, rest = 0;
    for (unsigned k = 1; k < n; k++)
        rest += req[k].size;
    bool ok = total >= ETH_HLEN && rest < total;
    for (unsigned k = 0; k < n && ok; k++) {
        size_t bytes = k ? req[k].size : total - rest;
        ok = req[k].offset + bytes <= PAGE && bytes > 0;
    }
    if (!ok && !H->tx_lied) fail("malformed tx frame (%u slots, size %zu)", n, total);
    size_t at = 0;
    for (unsigned k = 0; k < n && ok; k++) {
        uint16_t bytes = (uint16_t)(k ? req[k].size : total - rest);
        if (xs_gnttab_backend_copy(H->dom, req[k].gref, req[k].offset, H->frame + at,
                                   bytes, false) != GNTST_okay) {
            if (strict() && !H->tx_lied)
                fail("tx slot %u: grant %u cannot be copied from", k, req[k].gref);
            ok = false;
        }
        at += bytes;
    }
    for (unsigned k = 0; k < n; k++)
        tx_answer(q, req[k].id, ok ? NETIF_RSP_OKAY : NETIF_RSP_ERROR);
    q->tx.req_cons = i;
    push_tx(q);
    if (!ok) return false;
    if (!H->tx_lied) check_app_frame(H->frame, total);
    H->frame_len = total;
    H->frame_pos = 0;
    return true;
}

/* ---- rx ------------------------------------------------------------------------------
 */

static bool rx_request(struct bq *q, netif_rx_request_t *req)
{
    RING_IDX prod = q->rx.sring->req_prod;
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (prod - q->rx.req_cons > RING_SIZE(&q->rx)) {
        if (!H->rx_lied)
            fail("rx request producer %u is %u past the consumer", prod,
                 prod - q->rx.req_cons);
        return false;
    }
    if (prod == q->rx.req_cons) return false;
    RING_COPY_REQUEST(&q->rx, q->rx.req_cons, req);
    q->rx.req_cons++;
    return true;
}

/* Responses overlay requests: the slot at rsp_prod_pvt + k may only be
 * written once its request was read (kept in rxreq).  Reads requests up to
 * there; false if the frontend has not posted that far. */
static bool rx_claim(struct bq *q, unsigned k)
{
    while ((int32_t)(q->rx.rsp_prod_pvt + k - q->rx.req_cons) >= 0) {
        netif_rx_request_t req;
        if (!rx_request(q, &req)) return false;
        q->rxreq[(q->rx.req_cons - 1) % RX_SIZE] = req;
    }
    return true;
}

static const netif_rx_request_t *rx_req_at(struct bq *q, RING_IDX i)
{
    return &q->rxreq[i % RX_SIZE];
}

/* Copy len bytes of src into the frontend's rx page. */
static void rx_fill(const netif_rx_request_t *req, uint16_t off, const uint8_t *src,
                    uint16_t len)
{
    if (!len || off + len > PAGE) return;
    if (xs_gnttab_backend_copy(H->dom, req->gref, off, (void *)src, len, true) !=
            GNTST_okay &&
        strict())
        fail("rx request id %u: grant %u cannot be copied into", req->id, req->gref);
}

/* The last tx frame back to its sender as the app's pong, in page-sized
 * slots (one, without sg); false if the rx ring lacks requests. */
static bool rx_echo(struct bq *q)
{
    size_t len = H->frame_len;
    unsigned need = (unsigned)((len + PAGE - 1) / PAGE);
    /* requests posted from rsp_prod_pvt on (some maybe read already) */
    RING_IDX avail = q->rx.sring->req_prod - q->rx.rsp_prod_pvt;
    if (!len || avail < need || avail > RING_SIZE(&q->rx)) return false;
    uint8_t *f = H->frame;
    uint8_t src[6];
    memcpy(src, f + 6, 6);
    memcpy(f, src, 6);
    memcpy(f + 6, BACKEND_MAC, 6);
    /* ping -> pong, END -> END_ACK (its seq, the count sent, as received),
     * HELLO -> HELLO_ACK */
    if (len >= APP_HDR) {
        uint8_t k = f[ETH_HLEN + 4];
        f[ETH_HLEN + 4] = k == APP_END     ? APP_END_ACK
                          : k == APP_HELLO ? APP_HELLO_ACK
                                           : APP_PONG;
    }
    for (unsigned k = 0; k < need; k++) {
        rx_claim(q, 0);
        netif_rx_request_t req = *rx_req_at(q, q->rx.rsp_prod_pvt);
        uint16_t n = (uint16_t)(len - k * PAGE < PAGE ? len - k * PAGE : PAGE);
        rx_fill(&req, 0, f + k * PAGE, n);
        netif_rx_response_t *r = RING_GET_RESPONSE(&q->rx, q->rx.rsp_prod_pvt);
        r->id = req.id;
        r->offset = 0;
        r->status = (int16_t)n;
        r->flags = k + 1 < need ? NETRXF_more_data : 0;
        q->rx.rsp_prod_pvt++;
    }
    push_rx(q);
    H->frame_len = 0;
    return true;
}

/* ---- the fuzzed operations ------------------------------------------------------------
 */

static void op_txrsp(struct bq *q)
{
    uint8_t a = byte();
    uint16_t id = 0;
    bool raw_id = a & 4;
    if (raw_id) take(&id, 2);
    static const int16_t status[] = {NETIF_RSP_OKAY, NETIF_RSP_ERROR, NETIF_RSP_DROPPED,
                                     NETIF_RSP_NULL};
    if (tx_pending(q)) {
        netif_tx_request_t req;
        RING_COPY_REQUEST(&q->tx, q->tx.req_cons, &req);
        q->tx.req_cons++;
        q->mid_frame = req.flags & NETTXF_more_data;
        if (!raw_id) id = req.id;
        if (id != req.id || (a & 3) == 3) H->tx_lied = true;
    } else {
        H->tx_lied = true; /* a response without a request */
    }
    tx_answer(q, id, status[a & 3]);
    if (a & 8) push_tx(q);
}

static void op_rxslot(struct bq *q)
{
    uint8_t m = byte(), fl = 0;
    uint16_t off = 0, st = 0, id = 0;
    take(&off, 2);
    take(&st, 2);
    take(&fl, 1);
    if (m & 1) take(&id, 2);
    if (!rx_claim(q, 0)) return;
    netif_rx_request_t req = *rx_req_at(q, q->rx.rsp_prod_pvt);
    if (!(m & 1)) id = req.id;
    int16_t status = (int16_t)st;
    /* Data from the last tx frame, where the previous slot stopped. */
    if (status > 0 && off + (unsigned)status <= PAGE) {
        uint8_t data[PAGE];
        for (int k = 0; k < status; k++)
            data[k] = H->frame_len ? H->frame[(H->frame_pos + (size_t)k) % H->frame_len]
                                   : (uint8_t)k;
        H->frame_pos += (size_t)status;
        rx_fill(&req, off, data, (uint16_t)status);
    }
    netif_rx_response_t *r = RING_GET_RESPONSE(&q->rx, q->rx.rsp_prod_pvt);
    r->id = id;
    r->offset = off;
    r->status = status;
    r->flags = fl;
    q->rx.rsp_prod_pvt++;
}

static void op_raw(struct bq *q)
{
    uint8_t r = byte(), b[8] = {0};
    take(b, sizeof(b));
    unsigned k = (r >> 1) % 4;
    if ((r & 1) && rx_claim(q, k))
        memcpy(RING_GET_RESPONSE(&q->rx, q->rx.rsp_prod_pvt + k), b,
               sizeof(netif_rx_response_t));
    else if (!(r & 1))
        memcpy(RING_GET_RESPONSE(&q->tx, q->tx.rsp_prod_pvt + k), b,
               sizeof(netif_tx_response_t));
    if (!(r & 1)) H->tx_lied = true;
}

static void op_prod(struct bq *q)
{
    uint8_t r = byte();
    uint32_t v = 0;
    take(&v, 4);
    if (r & 1) {
        q->rx.sring->rsp_prod = v;
        H->rx_lied = true;
        notify(q->rx_port);
    } else {
        q->tx.sring->rsp_prod = v;
        H->tx_lied = true;
        notify(q->tx_port);
    }
}

static void op_node(void)
{
    static const char *const nodes[] = {"feature-rx-copy", "feature-sg",
                                        "feature-split-event-channels",
                                        "multi-queue-max-queues", "feature-gso-tcpv4"};
    uint8_t k = byte(), v = byte();
    xs_put(H->be, nodes[k % 5], "%u", v % 5);
}

static void op_extra(struct bq *q)
{
    netif_extra_info_t x;
    memset(&x, 0, sizeof(x));
    x.flags = byte();
    x.type = byte();
    take(&x.u, 6);
    if (!rx_claim(q, 0)) return; /* the request it overlays is used up */
    memcpy(RING_GET_RESPONSE(&q->rx, q->rx.rsp_prod_pvt), &x, sizeof(x));
    q->rx.rsp_prod_pvt++;
}

static void do_op(uint8_t op)
{
    unsigned kind = op & 15;
    struct bq *q = H->nq ? &H->q[(op >> 4) % H->nq] : NULL;
    bool ring = q && H->connected;
    switch (kind) {
    case 0:
        run(1 + byte() % 64, STEP_NS);
        break;
    case 1:
        if (ring) op_txrsp(q);
        break;
    case 2:
        if (ring) op_rxslot(q);
        break;
    case 3:
        if (ring && (byte() & 1))
            push_rx(q);
        else if (ring)
            push_tx(q);
        break;
    case 4:
        if (ring && tx_pending(q) && tx_take_frame(q)) rx_echo(q);
        break;
    case 5:
        if (ring) op_raw(q);
        break;
    case 6:
        if (ring) op_prod(q);
        break;
    case 7:
        be_state((enum xenbus_state)(byte() % 9));
        break;
    case 8: {
        unsigned n = byte();
        for (unsigned i = 0; ring && i < n; i++)
            notify(i & 1 ? q->rx_port : q->tx_port);
        break;
    }
    case 9:
        op_node();
        break;
    case 10:
        if (!H->unplugged) {
            H->unplugged = true;
            xs_put(H->be, "online", "0");
            be_state(XenbusStateClosing);
        }
        break;
    case 11:
        if (ring) op_extra(q);
        break;
    default:
        run(8, STEP_NS);
        break;
    }
    follow();
}

/* ---- set-up, per input --------------------------------------------------------------
 */

/* The guest image, copied once into a memfd: a rebuild of the file while
 * the fuzzer runs cannot hand a half-written image to an input. */
static void find_guest(void)
{
    const char *p = getenv("NETFRONT_FUZZ_GUEST"), *dir = getenv("XENSIM_GUEST_DIR");
    char path[4096];
    if (p)
        snprintf(path, sizeof(path), "%s", p);
    else
        snprintf(path, sizeof(path), "%s/net.elf", dir ? dir : "build/guests");
    FILE *f = fopen(path, "rb");
    int fd = memfd_create("net.elf", 0);
    if (!f || fd < 0) {
        fprintf(stderr,
                "netfront_responses: no guest image %s (run make, or set "
                "NETFRONT_FUZZ_GUEST)\n",
                path);
        exit(2);
    }
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        if (write(fd, buf, n) != (ssize_t)n) abort();
    fclose(f);
    snprintf(guest_path, sizeof(guest_path), "/proc/self/fd/%d", fd);
}

static FILE *devnull;
static bool verbose; /* $NETFRONT_FUZZ_VERBOSE: print the guest's console */

static void start(uint8_t cfg0, uint8_t cfg1)
{
    memset(H, 0, offsetof(struct harness, frame));
    char err[512] = "", cmd[256];
    struct xs_sim_config cfg = {.seed = 1, .log = devnull};
    if (xs_sim_init(&H->sim, &cfg, err, sizeof(err)) ||
        xs_xenstore_attach(&H->sim, NULL, err, sizeof(err))) {
        fprintf(stderr, "netfront_responses set-up: %s\n", err);
        abort();
    }
    static const unsigned sizes[] = {0, 60, 1514, 9018};
    snprintf(cmd, sizeof(cmd),
             "role=ping frames=%u size=%u queues=%u timeout=5 reconnect=%u sg=%u",
             (cfg1 & 7) + 1, sizes[(cfg1 >> 3) & 3], (cfg0 & 3) + 1, (cfg0 >> 6) & 1,
             !(cfg0 & 128));
    struct xs_domain_config dc = {.name = "g",
                                  .image_path = guest_path,
                                  .memory_mib = 16,
                                  .vcpus = 1,
                                  .cmdline = cmd};
    H->dom = xs_domain_create(&H->sim, &dc, err, sizeof(err));
    if (!H->dom ||
        xs_xenstore_add_device(&H->sim, "vif", H->dom->domid, 0, VIF, err, sizeof(err))) {
        fprintf(stderr, "netfront_responses set-up: %s\n", err);
        abort();
    }
    snprintf(H->fe, sizeof(H->fe), "/local/domain/%u/device/vif/%u", H->dom->domid, VIF);
    snprintf(H->be, sizeof(H->be), "/local/domain/0/backend/vif/%u/%u", H->dom->domid,
             VIF);
    xs_put(H->fe, "mac", "00:16:3e:00:00:%02x", H->dom->domid);
    xs_put(H->fe, "handle", "%u", VIF);
    xs_put(H->be, "mac", "00:16:3e:00:00:%02x", H->dom->domid);
    xs_put(H->be, "handle", "%u", VIF);
    if (!(cfg1 & 32)) xs_put(H->be, "feature-rx-copy", "1");
    xs_put(H->be, "feature-sg", "%d", !!(cfg0 & 4));
    xs_put(H->be, "feature-gso-tcpv4", "%d", !!(cfg0 & 4));
    xs_put(H->be, "feature-split-event-channels", "%d", !!(cfg0 & 8));
    xs_put(H->be, "multi-queue-max-queues", "%u", ((cfg0 >> 4) & 3) + 1);
    be_state(XenbusStateInitWait);
}

/* Every grant the guest still has must be one netfront said the backend
 * still maps (it must not revoke those). */
static void check_grants(void)
{
    const struct xs_gnttab *gt = H->dom->gnttab;
    if (!gt || !gt->frames || gt->version != 1) return;
    unsigned live = 0;
    unsigned entries = gt->nr_frames * (PAGE / sizeof(grant_entry_v1_t));
    const grant_entry_v1_t *e = (const grant_entry_v1_t *)gt->frames;
    for (unsigned r = GNTTAB_NR_RESERVED_ENTRIES; r < entries; r++)
        if ((e[r].flags & GTF_type_mask) != GTF_invalid) live++;
    unsigned kept = 0;
    static const char msg[] = "still in use by the backend";
    const char *p = H->dom->console, *end = p + H->dom->console_len;
    while (p && (p = memmem(p, (size_t)(end - p), msg, sizeof(msg) - 1))) {
        kept++;
        p += sizeof(msg) - 1;
    }
    if (live != kept)
        fail("the guest ended with %u grants, netfront kept %u because the backend "
             "mapped them",
             live, kept);
}

/* The guest's own code is not instrumented: what netfront and the app
 * said becomes coverage here, one branch per message, so inputs reaching
 * a new check in the guest count as new. */
static unsigned feedback(void)
{
    const char *c = H->dom->console;
    size_t n = H->dom->console_len;
    unsigned hits = 0;
    if (!c) return 0;
#define SEEN(msg)                                                                        \
    if (memmem(c, n, msg, sizeof(msg) - 1)) hits++
    SEEN("producer past the requests outstanding");
    SEEN("producer moved backwards");
    SEEN("bad tx response");
    SEEN("bad rx response");
    SEEN("bad status");
    SEEN("id out of range");
    SEEN("id not in flight");
    SEEN("id is not the slot's request");
    SEEN("offset + length past the page");
    SEEN("more_data chain too long");
    SEEN("bad extra-info type");
    SEEN("too many extra-info slots");
    SEEN("still in use by the backend");
    SEEN("backend is Closing");
    SEEN("backend is Closed");
    SEEN("backend is Unknown");
    SEEN("waited for the backend's");
    SEEN("connecting failed");
    SEEN("does not offer feature-rx-copy");
    SEEN("no usable mac node");
    SEEN("reconnected (0)");
    SEEN("reconnected (-");
    SEEN("sg no");
    SEEN("split event channels no");
    SEEN("2 queues");
    SEEN("3 queues");
    SEEN("4 queues");
    SEEN("net: bad frame");
    SEEN("net: FAIL: send");
    SEEN("net: FAIL: receive");
    SEEN("never acknowledged");
    SEEN("(with errors)");
    SEEN(" errors 0 dropped");
    SEEN("slots 0 errors; rx");
    SEEN("net: done");
#undef SEEN
    const char *st = memmem(c, n, "net: netfront: tx ", 18);
    unsigned long v[8] = {0};
    if (st &&
        sscanf(st,
               "net: netfront: tx %lu frames %lu slots %lu errors; rx %lu frames %lu "
               "slots %lu errors %lu dropped; %lu bad",
               &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8) {
        if (v[1] > v[0]) hits++; /* multi-slot tx frames */
        if (v[4] > v[3]) hits++; /* multi-slot rx frames or extras */
        if (v[2]) hits++;
        if (v[5]) hits++;
        if (v[6]) hits++;
    }
    return hits;
}

static void check_end(void)
{
    struct xs_domain *d = H->dom;
    if (d->end_state == XS_END_FAULT) fail("the guest faulted");
    if (d->console && memmem(d->console, d->console_len, "PANIC", 5))
        fail("the guest panicked");
    if (d->end_state == XS_END_RUNNING)
        fail("the guest still runs %llu s of virtual time after the input (%s)",
             (unsigned long long)(TAIL_NS / 1000000000ull), H->sim.stop_reason);
    unmap_all();
    check_grants();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    find_guest();
    devnull = fopen("/dev/null", "w");
    verbose = getenv("NETFRONT_FUZZ_VERBOSE") != NULL;
    H = calloc(1, sizeof(*H));
    if (!H || !devnull) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    start(data[0], data[1]);
    H->in = data + 2;
    H->n = size - 2;
    /* Boot until the frontend is Connected (or gave up). */
    while (guest_running() && H->sim.vtime_ns < BOOT_NS && !H->connected) {
        run(512, STEP_NS);
        follow();
    }
    uint8_t op;
    while (take(&op, 1) && guest_running())
        do_op(op);
    /* A correct backend from here on, until the guest ends. */
    uint64_t until = H->sim.vtime_ns + TAIL_NS;
    while (guest_running() && H->sim.vtime_ns < until) {
        for (unsigned i = 0; H->connected && i < H->nq; i++) {
            struct bq *q = &H->q[i];
            while (H->connected && tx_pending(q) && tx_take_frame(q) && rx_echo(q))
                ;
        }
        run(256, STEP_NS);
        follow();
    }
    check_end();
    unsigned hits = feedback();
    if (verbose)
        fprintf(
            stderr,
            "--- guest console (%llu ns virtual, %llu exits, %u messages) ---\n%.*s\n",
            (unsigned long long)H->sim.vtime_ns, (unsigned long long)H->sim.nr_exits,
            hits, (int)H->dom->console_len, H->dom->console ? H->dom->console : "");
    xs_sim_destroy(&H->sim);
    return 0;
}
