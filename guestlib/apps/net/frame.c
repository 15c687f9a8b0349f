/* The net app's frames: Ethernet header, then magic, kind, seq, length and
 * a checksum of the payload, then payload bytes that depend on seq and
 * offset, so a byte from another frame or another place never passes. */
#include <guest/printk.h>
#include <guest/string.h>
#include <guest/time.h>

#include "net_app.h"

const uint8_t net_broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static uint8_t seen[NET_MAX_FRAMES / 8];

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
    return (uint8_t)(seq * 31u + off * 7u + (off >> 8) + 3u);
}

/* Fletcher-style sum over the payload: order matters. */
static uint32_t checksum(const uint8_t *p, size_t n)
{
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < n; i++) {
        a = (a + p[i]) % 65521u;
        b = (b + a) % 65521u;
    }
    return b << 16 | a;
}

unsigned net_frame_size(const struct net_args *a, uint32_t seq)
{
    static const unsigned mix[] = {60,  1514, 4096,  4200, 9018,
                                   128, 1514, 16384, 200,  65535};
    if (a->size) return a->size;
    unsigned s = mix[seq % ARRAY_SIZE(mix)];
    if (a->max_size && s > a->max_size)
        s = a->max_size < NET_MIN_FRAME ? NET_MIN_FRAME : a->max_size;
    return !a->sg && s > PAGE_SIZE ? PAGE_SIZE : s;
}

unsigned net_frame_offset(uint32_t seq)
{
    return seq % 3 == 0 ? 0 : (seq * 1237u) % PAGE_SIZE;
}

void net_build(uint8_t *p, unsigned len, const uint8_t dst[6], const uint8_t src[6],
               enum net_kind kind, uint32_t seq)
{
    memcpy(p, dst, 6);
    memcpy(p + 6, src, 6);
    p[12] = NET_ETHERTYPE >> 8;
    p[13] = NET_ETHERTYPE & 0xff;
    uint8_t *h = p + NETFRONT_ETH_HLEN;
    put32(h, NET_MAGIC);
    h[4] = (uint8_t)kind;
    h[5] = h[6] = h[7] = 0;
    put32(h + 8, seq);
    put32(h + 12, len);
    for (unsigned o = NET_HDR_LEN; o < len; o++)
        p[o] = pattern(seq, o);
    put32(h + 16, checksum(p + NET_HDR_LEN, len - NET_HDR_LEN));
}

void net_set_seq(uint8_t *p, uint32_t seq)
{
    put32(p + NETFRONT_ETH_HLEN + 8, seq);
}

bool net_parse(const uint8_t *p, size_t len, bool verify, struct net_hdr *h)
{
    if (len < NET_HDR_LEN || p[12] != NET_ETHERTYPE >> 8 ||
        p[13] != (NET_ETHERTYPE & 0xff))
        return false;
    const uint8_t *q = p + NETFRONT_ETH_HLEN;
    memcpy(h->dst, p, 6);
    memcpy(h->src, p + 6, 6);
    h->kind = q[4];
    h->seq = get32(q + 8);
    h->len = get32(q + 12);
    h->csum = get32(q + 16);
    if (get32(q) != NET_MAGIC || h->len != len || q[5] || q[6] || q[7]) return false;
    if (!verify) return true;
    for (unsigned o = NET_HDR_LEN; o < len; o++)
        if (p[o] != pattern(h->seq, o)) return false;
    return checksum(p + NET_HDR_LEN, len - NET_HDR_LEN) == h->csum;
}

void net_readdress(uint8_t *p, const uint8_t dst[6], const uint8_t src[6],
                   enum net_kind kind)
{
    memcpy(p, dst, 6);
    memcpy(p + 6, src, 6);
    p[NETFRONT_ETH_HLEN + 4] = (uint8_t)kind;
}

bool net_mac_eq(const uint8_t a[6], const uint8_t b[6])
{
    return !memcmp(a, b, 6);
}

void net_seen_reset(void)
{
    memset(seen, 0, sizeof(seen));
}

bool net_seen_test_and_set(uint32_t seq)
{
    seq %= NET_MAX_FRAMES;
    bool was = seen[seq / 8] & (1u << (seq % 8));
    seen[seq / 8] |= (uint8_t)(1u << (seq % 8));
    return was;
}

struct net_result net_last;

void net_summary(const struct net_result *r)
{
    net_last = *r;
    printk("net: sent %lu received %lu lost %lu dup %lu bad %lu\n",
           (unsigned long)r->sent, (unsigned long)r->received, (unsigned long)r->lost,
           (unsigned long)r->dup, (unsigned long)r->bad);
}

#define HELLO_TRIES 100

long net_find_peer(struct netfront *nf, const struct net_args *a, uint8_t *buf,
                   uint8_t peer[6])
{
    const uint8_t *mac = netfront_info(nf)->mac;
    uint64_t timeout = (uint64_t)a->timeout_ms * 1000 * 1000;
    memcpy(peer, a->have_peer ? a->peer : net_broadcast, 6);
    for (unsigned t = 1; t <= HELLO_TRIES; t++) {
        net_build(buf, NET_MIN_FRAME, peer, mac, NET_HELLO, t);
        long rc = netfront_send(nf, buf, NET_MIN_FRAME);
        if (rc) return rc;
        uint64_t deadline = time_monotonic_ns() + timeout;
        for (uint64_t now; (now = time_monotonic_ns()) < deadline;) {
            long n = netfront_recv(nf, buf, NET_BUF_BYTES, deadline - now);
            if (n == -XEN_ETIMEDOUT) break;
            if (n < 0) return n;
            struct net_hdr h;
            if (net_parse(buf, (size_t)n, true, &h) && h.kind == NET_HELLO_ACK &&
                net_mac_eq(h.dst, mac)) {
                memcpy(peer, h.src, 6);
                printk("net: peer %02x:%02x:%02x:%02x:%02x:%02x answered hello %u\n",
                       peer[0], peer[1], peer[2], peer[3], peer[4], peer[5], h.seq);
                return 0;
            }
        }
    }
    printk("net: no answer to %u hellos\n", HELLO_TRIES);
    return -XEN_ETIMEDOUT;
}

void net_answer_hello(struct netfront *nf, const struct net_hdr *h, uint8_t *buf)
{
    uint8_t src[6];
    memcpy(src, h->src, 6);
    net_build(buf, NET_MIN_FRAME, src, netfront_info(nf)->mac, NET_HELLO_ACK, h->seq);
    long rc = netfront_send(nf, buf, NET_MIN_FRAME);
    if (rc) printk("net: FAIL: send of a hello answer: %ld\n", rc);
}
