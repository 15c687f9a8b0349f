/* role=ping and role=pong: ping sends frames=N frames one at a time and
 * waits for each echo; pong echoes every ping back to its sender.  Both
 * check every byte of what they receive and count what went missing, came
 * twice or arrived corrupt.  The exchange ends with an END frame (how many
 * were sent) answered by END_ACK (how many distinct frames arrived). */
#include <guest/mm.h>
#include <guest/printk.h>
#include <guest/string.h>
#include <guest/time.h>

#include "net_app.h"

#define MS        ((uint64_t)1000 * 1000)
#define END_TRIES 5

static uint8_t *txbuf, *rxbuf;

static bool bufs(void)
{
    unsigned pages = (unsigned)(NET_BUF_BYTES / PAGE_SIZE + 1);
    if (!txbuf) txbuf = page_alloc_contig(pages);
    if (!rxbuf) rxbuf = page_alloc_contig(pages);
    if (!txbuf || !rxbuf) printk("net: FAIL: out of memory for frame buffers\n");
    return txbuf && rxbuf;
}

/* Is this frame addressed to us? */
static bool for_us(const struct net_hdr *h, const uint8_t mac[6])
{
    return net_mac_eq(h->dst, mac) || net_mac_eq(h->dst, net_broadcast);
}

static int ping(struct netfront *nf, const struct net_args *a)
{
    struct net_result res = {0};
    const uint8_t *mac = netfront_info(nf)->mac;
    uint8_t peer[6];
    uint64_t timeout = (uint64_t)a->timeout_ms * MS, t0 = time_monotonic_ns();
    uint32_t peer_got = 0;
    bool acked = false;
    net_seen_reset();
    long found = net_find_peer(nf, a, rxbuf, peer);
    if (found) {
        printk("net: FAIL: no peer: %ld\n", found);
        res.lost = a->frames;
        net_summary(&res);
        return 1;
    }
    for (uint32_t seq = 0; seq < a->frames; seq++) {
        if (a->reconnect && seq == a->frames / 2 && seq) {
            long c = netfront_close(nf);
            long r = netfront_reconnect(nf);
            printk("net: closed (%ld) and reconnected (%ld) after %u frames\n", c, r,
                   seq);
            if (r) break;
        }
        unsigned len = net_frame_size(a, seq), off = net_frame_offset(seq);
        net_build(txbuf + off, len, peer, mac, NET_PING, seq);
        long rc = netfront_send(nf, txbuf + off, len);
        if (rc) {
            /* hotplug=1: the unplug ends the exchange (-XEN_EIO) */
            printk("net: %ssend of frame %u (%u bytes): %ld\n",
                   a->hotplug ? "" : "FAIL: ", seq, len, rc);
            break;
        }
        res.sent++;
        uint64_t deadline = time_monotonic_ns() + timeout;
        for (;;) {
            uint64_t now = time_monotonic_ns();
            if (now >= deadline) break;
            long n = netfront_recv(nf, rxbuf, NET_BUF_BYTES, deadline - now);
            if (n == -XEN_ETIMEDOUT) break;
            if (n < 0) {
                printk("net: %sreceive: %ld\n", a->hotplug ? "" : "FAIL: ", n);
                goto out;
            }
            struct net_hdr h;
            bool ok = net_parse(rxbuf, (size_t)n, a->verify, &h) && for_us(&h, mac);
            if (ok && h.kind == NET_HELLO_ACK) continue; /* a late answer to a hello */
            if (!ok || h.kind != NET_PONG || h.seq >= res.sent) {
                printk(
                    "net: bad frame of %ld bytes (kind %u seq %u) while waiting for %u\n",
                    n, rxbuf[NETFRONT_ETH_HLEN + 4], h.seq, seq);
                res.bad++;
                continue;
            }
            if (net_seen_test_and_set(h.seq))
                res.dup++;
            else
                res.received++;
            if (h.seq == seq) break;
        }
    }
    /* END until it is acknowledged. */
    for (unsigned t = 0; t < END_TRIES && !acked; t++) {
        net_build(txbuf, NET_MIN_FRAME, peer, mac, NET_END, (uint32_t)res.sent);
        if (netfront_send(nf, txbuf, NET_MIN_FRAME)) break;
        uint64_t deadline = time_monotonic_ns() + timeout;
        while (!acked && time_monotonic_ns() < deadline) {
            long n =
                netfront_recv(nf, rxbuf, NET_BUF_BYTES, deadline - time_monotonic_ns());
            struct net_hdr h;
            if (n < 0) break;
            if (!net_parse(rxbuf, (size_t)n, a->verify, &h) || !for_us(&h, mac)) {
                res.bad++;
            } else if (h.kind == NET_END_ACK) {
                acked = true;
                peer_got = h.seq;
            } else if (h.kind == NET_HELLO_ACK) {
                /* a late answer to a hello */
            } else if (h.kind == NET_PONG && h.seq < res.sent) {
                /* a late echo */
                if (net_seen_test_and_set(h.seq))
                    res.dup++;
                else
                    res.received++;
            } else {
                res.bad++;
            }
        }
    }
out:
    res.lost = res.sent - res.received;
    uint64_t dt = time_monotonic_ns() - t0;
    printk("net: ping: %lu frames in %lu us virtual; the peer %s\n",
           (unsigned long)res.sent, (unsigned long)(dt / 1000),
           acked ? "acknowledged the end" : "never acknowledged the end");
    if (acked) printk("net: peer received %u\n", peer_got);
    net_summary(&res);
    return acked && !res.lost && !res.dup && !res.bad ? 0 : 1;
}

/* suspend=1: the network may lose frames while we or the peer are
 * suspended (what the old backend left in the rx ring, what came while the
 * vif was away), as a real one does.  So each PING goes again every
 * timeout until its echo comes (at most AGAIN_MAX times); an echo of a
 * copy after the first one counts as dup.  At the end every frame must
 * have been echoed, and the peer must have got every one. */
#define AGAIN_MAX 200

/* One received frame while waiting for the echo of seq: true when it came. */
static bool take_echo(const uint8_t *mac, long n, bool verify, uint32_t seq,
                      struct net_result *res)
{
    struct net_hdr h;
    bool ok = net_parse(rxbuf, (size_t)n, verify, &h) && for_us(&h, mac);
    if (ok && (h.kind == NET_HELLO_ACK || h.kind == NET_END_ACK)) return false; /* late */
    if (!ok || h.kind != NET_PONG || h.seq > seq) {
        printk("net: bad frame of %ld bytes (kind %u seq %u) while waiting for %u\n", n,
               rxbuf[NETFRONT_ETH_HLEN + 4], h.seq, seq);
        res->bad++;
        return false;
    }
    if (net_seen_test_and_set(h.seq))
        res->dup++;
    else
        res->received++;
    return h.seq == seq;
}

static int ping_retry(struct netfront *nf, const struct net_args *a)
{
    struct net_result res = {0};
    const uint8_t *mac = netfront_info(nf)->mac;
    uint8_t peer[6];
    uint64_t timeout = (uint64_t)a->timeout_ms * MS, t0 = time_monotonic_ns();
    uint32_t peer_got = 0;
    bool acked = false, gave_up = false;
    net_seen_reset();
    long found = net_find_peer(nf, a, rxbuf, peer);
    if (found) {
        printk("net: FAIL: no peer: %ld\n", found);
        return 1;
    }
    uint64_t stop = a->duration_ms ? t0 + a->duration_ms * MS : UINT64_MAX;
    for (uint32_t seq = 0; seq < a->frames && !gave_up; seq++) {
        if (time_monotonic_ns() >= stop) break;
        unsigned len = net_frame_size(a, seq), off = net_frame_offset(seq);
        bool echoed = false;
        for (unsigned t = 0; !echoed; t++) {
            if (t > AGAIN_MAX) {
                printk("net: FAIL: frame %u never echoed (%u copies)\n", seq, t);
                gave_up = true;
                break;
            }
            /* Built each time: the receive buffer is another. */
            net_build(txbuf + off, len, peer, mac, NET_PING, seq);
            long rc = netfront_send(nf, txbuf + off, len);
            if (rc) {
                printk("net: FAIL: send of frame %u (%u bytes): %ld\n", seq, len, rc);
                gave_up = true;
                break;
            }
            if (t)
                res.again++;
            else
                res.sent++;
            uint64_t deadline = time_monotonic_ns() + timeout;
            for (uint64_t now; !echoed && (now = time_monotonic_ns()) < deadline;) {
                long n = netfront_recv(nf, rxbuf, NET_BUF_BYTES, deadline - now);
                if (n == -XEN_ETIMEDOUT) break;
                if (n < 0) {
                    printk("net: FAIL: receive: %ld\n", n);
                    gave_up = true;
                    break;
                }
                echoed = take_echo(mac, n, a->verify, seq, &res);
            }
            if (gave_up) break;
        }
        /* Late echoes of copies sent again are taken here too. */
        uint64_t quiet = time_monotonic_ns() + (uint64_t)a->gap_us * 1000;
        for (uint64_t now;
             !gave_up && a->gap_us && (now = time_monotonic_ns()) < quiet;) {
            long n = netfront_recv(nf, rxbuf, NET_BUF_BYTES, quiet - now);
            if (n == -XEN_ETIMEDOUT) break;
            if (n < 0) {
                printk("net: FAIL: receive: %ld\n", n);
                gave_up = true;
                break;
            }
            take_echo(mac, n, a->verify, seq, &res);
        }
    }
    /* END until it is acknowledged; late echoes still count. */
    for (unsigned t = 0; t < AGAIN_MAX && !acked && !gave_up; t++) {
        net_build(txbuf, NET_MIN_FRAME, peer, mac, NET_END, (uint32_t)res.sent);
        if (netfront_send(nf, txbuf, NET_MIN_FRAME)) break;
        uint64_t deadline = time_monotonic_ns() + timeout;
        for (uint64_t now; !acked && (now = time_monotonic_ns()) < deadline;) {
            long n = netfront_recv(nf, rxbuf, NET_BUF_BYTES, deadline - now);
            if (n < 0) break;
            struct net_hdr h;
            if (net_parse(rxbuf, (size_t)n, a->verify, &h) && for_us(&h, mac) &&
                h.kind == NET_END_ACK) {
                acked = true;
                peer_got = h.seq;
            } else if (res.sent) {
                take_echo(mac, n, a->verify, (uint32_t)res.sent - 1, &res);
            }
        }
    }
    res.lost = res.sent - res.received;
    uint64_t dt = time_monotonic_ns() - t0;
    printk("net: ping: %lu frames in %lu us virtual, %lu sent again; the peer %s\n",
           (unsigned long)res.sent, (unsigned long)(dt / 1000), (unsigned long)res.again,
           acked ? "acknowledged the end" : "never acknowledged the end");
    if (acked) printk("net: peer received %u\n", peer_got);
    net_summary(&res);
    return acked && !gave_up && !res.lost && res.dup <= res.again && !res.bad &&
                   peer_got == res.sent
               ? 0
               : 1;
}

static int pong(struct netfront *nf, const struct net_args *a)
{
    struct net_result res = {0};
    const uint8_t *mac = netfront_info(nf)->mac;
    uint64_t idle = (uint64_t)a->timeout_ms * MS * 20;
    uint64_t expected = a->frames;
    unsigned hellos = 0;
    bool ended = false;
    net_seen_reset();
    /* After END, a while longer: if the ack was lost, END comes again. */
    for (unsigned count = 0;; count++) {
        uint8_t *p = rxbuf + net_frame_offset(count);
        long n = netfront_recv(nf, p, NETFRONT_MAX_FRAME,
                               ended ? (uint64_t)a->timeout_ms * MS : idle);
        if (n < 0) {
            if (!ended) printk("net: pong: receive: %ld; giving up\n", n);
            break;
        }
        struct net_hdr h;
        if (!net_parse(p, (size_t)n, a->verify, &h) || !for_us(&h, mac)) {
            printk("net: bad frame of %ld bytes (kind %u)\n", n,
                   p[NETFRONT_ETH_HLEN + 4]);
            res.bad++;
            continue;
        }
        uint8_t src[6];
        memcpy(src, h.src, 6);
        if (h.kind == NET_HELLO) {
            net_answer_hello(nf, &h, txbuf);
            hellos++;
            continue;
        }
        if (h.kind == NET_END) {
            ended = true;
            expected = h.seq;
            /* Answered even if sent before: the ack may have been lost. */
            net_build(txbuf, NET_MIN_FRAME, src, mac, NET_END_ACK,
                      (uint32_t)res.received);
            long rc = netfront_send(nf, txbuf, NET_MIN_FRAME);
            if (rc) printk("net: FAIL: send of the end ack: %ld\n", rc);
            continue;
        }
        if (h.kind != NET_PING) {
            res.bad++;
            continue;
        }
        if (net_seen_test_and_set(h.seq))
            res.dup++;
        else
            res.received++;
        net_readdress(p, src, mac, NET_PONG);
        long rc = netfront_send(nf, p, (size_t)n);
        if (rc) {
            printk("net: FAIL: echo of frame %u: %ld\n", h.seq, rc);
            break;
        }
        res.sent++;
    }
    /* Let the last frames leave before the caller closes. */
    netfront_flush(nf, NETFRONT_TIMEOUT_NS);
    res.lost = expected > res.received ? expected - res.received : 0;
    printk("net: pong: answered %u hello%s\n", hellos, hellos == 1 ? "" : "s");
    net_summary(&res);
    /* suspend=1: the pinger sends frames again, so copies come twice. */
    return ended && !res.lost && (a->suspend || !res.dup) && !res.bad ? 0 : 1;
}

int net_pingpong(struct netfront *nf, const struct net_args *a, bool is_ping)
{
    if (!bufs()) return 1;
    if (!is_ping) return pong(nf, a);
    return a->suspend ? ping_retry(nf, a) : ping(nf, a);
}
