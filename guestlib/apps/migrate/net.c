/* Frames across the migration.  The mover pings a peer that stays put
 * (role=echo, another domain on the same switch), one frame at a time,
 * and checks every byte of every echo; the echo checks every byte of
 * every ping.  A ping whose echo does not come within RETRY_NS is sent
 * again (frames sent while the vif is being reconnected are lost, as on
 * a real network); each ping completes exactly once, at its first echo,
 * and a second echo of a retransmitted ping is counted, not completed.
 * At the end END carries the number of pings, END_ACK the number of
 * distinct pings the echo received: they must match.
 *
 * netfront reconnects itself after a resume (its control hooks: frames in
 * flight go again, rx buffers are posted anew).  With vif=reopen the app
 * does it the blunt way instead: it closes the vif in its own suspend hook,
 * before the domain suspends, and opens it again in the new domain (or
 * reconnects it after a cancelled suspend). */
#include <guest/control.h>
#include <guest/mm.h>
#include <guest/netfront.h>
#include <guest/string.h>
#include <guest/time.h>

#include "migrate_app.h"

#define ETHERTYPE 0x88b6u     /* IEEE 802 local experimental 2 */
#define MAGIC     0x4d494752u /* "MIGR" */
#define HDR       26u
#define RETRY_NS  (2 * MS)
#define MAX_PINGS (1u << 16)

enum kind { HELLO = 1, HELLO_ACK, PING, PONG, END, END_ACK };

static const uint8_t broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static struct netfront *nf;
static bool up;
static uint8_t *txbuf, *rxbuf;

static void put32(uint8_t *p, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint8_t pattern(uint32_t seq, unsigned off)
{
    return (uint8_t)(seq * 13u + off * 3u + (off >> 7) + 1u);
}

static unsigned frame_len(enum kind k, uint32_t seq)
{
    return k == PING ? 64u + (seq * 167u) % 1451u : 64u;
}

static void build(uint8_t *p, unsigned len, const uint8_t dst[6], enum kind k,
                  uint32_t seq)
{
    memcpy(p, dst, 6);
    memcpy(p + 6, netfront_info(nf)->mac, 6);
    p[12] = ETHERTYPE >> 8;
    p[13] = ETHERTYPE & 0xff;
    put32(p + 14, MAGIC);
    p[18] = (uint8_t)k;
    p[19] = 0;
    put32(p + 20, seq);
    p[24] = (uint8_t)(len >> 8);
    p[25] = (uint8_t)len;
    for (unsigned o = HDR; o < len; o++)
        p[o] = pattern(seq, o);
}

struct hdr {
    const uint8_t *src;
    enum kind kind;
    uint32_t seq;
    bool payload_ok;
};

/* One of ours, addressed to us?  The payload is checked too. */
static bool parse(const uint8_t *p, long n, struct hdr *h)
{
    const uint8_t *mac = netfront_info(nf)->mac;
    if (n < (long)HDR || p[12] != ETHERTYPE >> 8 || p[13] != (ETHERTYPE & 0xff) ||
        get32(p + 14) != MAGIC || ((unsigned)p[24] << 8 | p[25]) != (unsigned long)n)
        return false;
    if (memcmp(p, mac, 6) && memcmp(p, broadcast, 6)) return false;
    h->src = p + 6;
    h->kind = (enum kind)p[18];
    h->seq = get32(p + 20);
    h->payload_ok = true;
    for (long o = HDR; o < n && h->payload_ok; o++)
        h->payload_ok = p[o] == pattern(h->seq, (unsigned)o);
    return true;
}

static long send(const uint8_t dst[6], enum kind k, uint32_t seq)
{
    unsigned len = frame_len(k, seq);
    build(txbuf, len, dst, k, seq);
    return netfront_send(nf, txbuf, len);
}

static bool bufs(void)
{
    txbuf = page_alloc();
    rxbuf = page_alloc_contig(NETFRONT_MAX_FRAME / PAGE_SIZE + 1);
    return txbuf && rxbuf;
}

bool net_active(void)
{
    return nf != NULL;
}

/* ---- the mover ----------------------------------------------------------------------
 */

static uint8_t peer[6];
static bool have_peer, outstanding, finishing;
static uint32_t next_seq, out_seq;
static uint64_t sent_at, last_hello, echoed, retransmits, late, bad, reopens;

static long vif_open(void)
{
    struct netfront_opts o = {.queues = 1, .no_sg = true};
    long rc = netfront_open(0, &o, &nf);
    up = rc == 0;
    return rc;
}

/* Before the domain suspends (every CPU up, xenstore working): close the
 * vif, so nothing is left half-way on its rings. */
static long net_suspend(void *arg)
{
    (void)arg;
    if (!up) return 0;
    up = false;
    long rc = netfront_close(nf);
    CHECK(rc == 0 && netfront_grants(nf) == 0,
          "closing the vif before suspend: %ld, %u "
          "grants left",
          rc, netfront_grants(nf));
    return 0;
}

static void net_resume(void *arg)
{
    (void)arg;
    if (!nf || up) return;
    /* A new domain: the old device's paths name the old domid. */
    long rc = vif_open();
    reopens++;
    CHECK(rc == 0, "opening the vif in the new domain: %ld", rc);
    sent_at = 0; /* whatever was outstanding goes again at once */
}

static void net_cancel(void *arg)
{
    (void)arg;
    if (!nf || up) return;
    long rc = netfront_reconnect(nf);
    up = rc == 0;
    CHECK(rc == 0, "reconnecting the vif after a cancelled suspend: %ld", rc);
    sent_at = 0;
}

static struct control_hook net_hook = {.name = "migrate-net",
                                       .order = CONTROL_ORDER_APP,
                                       .suspend = net_suspend,
                                       .resume = net_resume,
                                       .cancel = net_cancel};

bool net_mover_init(bool reopen)
{
    if (netfront_count() <= 0) return true; /* no nic: block and memory only */
    if (!bufs()) return false;
    long rc = vif_open();
    if (rc) {
        printk("migrate: FAIL: netfront_open: %ld\n", rc);
        nf = NULL;
        return false;
    }
    if (reopen) control_register(&net_hook);
    return true;
}

static void mover_take(const struct hdr *h)
{
    switch (h->kind) {
    case HELLO_ACK:
        memcpy(peer, h->src, 6);
        have_peer = true;
        break;
    case PONG:
        if (!h->payload_ok) {
            bad++;
        } else if (outstanding && h->seq == out_seq) {
            echoed++;
            outstanding = false;
        } else if (h->seq < next_seq) {
            late++; /* the second echo of a ping sent twice */
        } else {
            bad++;
        }
        break;
    case END_ACK:
        break; /* net_mover_finish reads it */
    default:
        bad++;
    }
}

static void mover_receive(void)
{
    for (;;) {
        long n = netfront_recv(nf, rxbuf, NETFRONT_MAX_FRAME, 0);
        if (n == -XEN_ETIMEDOUT) return;
        if (n < 0) {
            CHECK(0, "receive: %ld", n);
            up = false;
            return;
        }
        struct hdr h;
        if (parse(rxbuf, n, &h)) mover_take(&h);
    }
}

void net_mover_step(void)
{
    if (!nf || !up) return;
    mover_receive();
    if (!up) return;
    uint64_t now = time_monotonic_ns();
    if (!have_peer) {
        if (now - last_hello >= MS) {
            send(broadcast, HELLO, 0);
            last_hello = now;
        }
        return;
    }
    if (outstanding && now - sent_at >= RETRY_NS) {
        if (send(peer, PING, out_seq) == 0) retransmits++;
        sent_at = now;
    }
    if (!outstanding && !finishing && next_seq < MAX_PINGS) {
        out_seq = next_seq++;
        outstanding = true;
        sent_at = now;
        long rc = send(peer, PING, out_seq);
        CHECK(rc == 0, "send of ping %u: %ld", out_seq, rc);
    }
}

void net_mover_finish(void)
{
    if (!nf) return;
    CHECK(up, "the vif is not connected at the end");
    CHECK(have_peer, "the peer never answered");
    /* The last ping, then END until it is acknowledged. */
    finishing = true;
    uint64_t start = time_monotonic_ns();
    while (up && outstanding && time_monotonic_ns() - start < 200 * MS) {
        net_mover_step();
        mig_sleep(100 * 1000);
    }
    CHECK(!outstanding, "ping %u was never echoed", out_seq);
    uint32_t peer_got = 0;
    bool acked = false;
    for (unsigned t = 0; up && have_peer && t < 20 && !acked; t++) {
        send(peer, END, next_seq);
        uint64_t deadline = time_monotonic_ns() + RETRY_NS;
        while (!acked && time_monotonic_ns() < deadline) {
            long n = netfront_recv(nf, rxbuf, NETFRONT_MAX_FRAME, RETRY_NS);
            struct hdr h;
            if (n < 0 || !parse(rxbuf, n, &h)) continue;
            if (h.kind == END_ACK) {
                acked = true;
                peer_got = h.seq;
            } else {
                mover_take(&h);
            }
        }
    }
    printk(
        "migrate: net: %u pings, %lu echoed, %lu sent again, %lu late echoes, %lu bad; "
        "the peer got %u distinct\n",
        next_seq, (unsigned long)echoed, (unsigned long)retransmits, (unsigned long)late,
        (unsigned long)bad, peer_got);
    if (reopens)
        printk("migrate: net: vif opened again %lu times\n", (unsigned long)reopens);
    CHECK(acked, "the peer never acknowledged the end");
    CHECK(echoed == next_seq && peer_got == next_seq && !bad,
          "frames lost or corrupt (%u pings, %lu echoed, peer got %u, %lu bad)", next_seq,
          (unsigned long)echoed, peer_got, (unsigned long)bad);
    if (up) {
        long rc = netfront_close(nf);
        CHECK(rc == 0 && netfront_grants(nf) == 0, "close: %ld, %u grants left", rc,
              netfront_grants(nf));
    }
}

/* ---- the echo -----------------------------------------------------------------------
 */

static uint8_t seen[MAX_PINGS / 8];

int net_echo_run(void)
{
    if (!bufs() || vif_open()) {
        printk("migrate: FAIL: echo: no vif\n");
        return 1;
    }
    const uint8_t *m = netfront_info(nf)->mac;
    printk("migrate: echo on %02x:%02x:%02x:%02x:%02x:%02x\n", m[0], m[1], m[2], m[3],
           m[4], m[5]);
    uint64_t pings = 0, distinct = 0, again = 0, wrong = 0;
    bool ended = false;
    for (;;) {
        /* Once END came, a while longer: END comes again if the ack was lost. */
        long n =
            netfront_recv(nf, rxbuf, NETFRONT_MAX_FRAME, ended ? 20 * MS : 5000 * MS);
        if (n == -XEN_ETIMEDOUT) break;
        if (n < 0) {
            CHECK(0, "echo: receive: %ld", n);
            break;
        }
        struct hdr h;
        if (!parse(rxbuf, n, &h)) continue;
        uint8_t src[6];
        memcpy(src, h.src, 6);
        if (h.kind == HELLO) {
            send(src, HELLO_ACK, 0);
        } else if (h.kind == PING && h.seq < MAX_PINGS && h.payload_ok) {
            pings++;
            uint8_t bit = (uint8_t)(1u << (h.seq & 7));
            if (seen[h.seq >> 3] & bit) {
                again++;
            } else {
                seen[h.seq >> 3] |= bit;
                distinct++;
            }
            long rc = send(src, PONG, h.seq);
            CHECK(rc == 0, "echo of ping %u: %ld", h.seq, rc);
        } else if (h.kind == END) {
            ended = true;
            send(src, END_ACK, (uint32_t)distinct);
        } else {
            wrong++;
        }
    }
    printk("migrate: echo: %lu pings, %lu distinct, %lu sent again, %lu bad\n",
           (unsigned long)pings, (unsigned long)distinct, (unsigned long)again,
           (unsigned long)wrong);
    CHECK(ended, "echo: the mover never sent END");
    CHECK(!wrong, "echo: %lu bad frames", (unsigned long)wrong);
    netfront_flush(nf, NETFRONT_TIMEOUT_NS);
    long rc = netfront_close(nf);
    CHECK(rc == 0 && netfront_grants(nf) == 0, "echo: close: %ld", rc);
    return mig_failures ? 1 : 0;
}
