/* role=flood and role=sink, for the bench: flood sends frames=N frames of
 * size=BYTES (the mix when 0) as fast as the ring takes them, then END;
 * sink counts and checks what arrives (verify=0: headers only) until END,
 * answers END_ACK with its count and prints frames/s and MB/s in virtual
 * time.  Frames the switch or the backend drop show as lost. */
#include <guest/mm.h>
#include <guest/percpu.h>
#include <guest/printk.h>
#include <guest/smp.h>
#include <guest/string.h>
#include <guest/time.h>
#include <guest/xenstore.h>

#include "net_app.h"

#define MS ((uint64_t)1000 * 1000)

static uint8_t *buf;

static void rate(const char *who, uint64_t frames, uint64_t bytes, uint64_t ns)
{
    uint64_t fps = ns ? frames * 1000000000ull / ns : 0;
    uint64_t kbps = ns ? bytes * 1000000ull / ns : 0; /* KB/s: bytes/ns * 1e6 */
    printk("net: %s: %lu frames, %lu bytes in %lu us virtual: %lu frames/s, %lu.%03lu "
           "MB/s\n",
           who, (unsigned long)frames, (unsigned long)bytes, (unsigned long)(ns / 1000),
           (unsigned long)fps, (unsigned long)(kbps / 1000),
           (unsigned long)(kbps % 1000));
}

static bool never(void *arg)
{
    (void)arg;
    return false;
}

/* The sending half of a flood, on whichever CPU runs it. */
struct flood_run {
    struct netfront *nf;
    const struct net_args *a;
    const uint8_t *peer;
    struct net_result res;
    uint64_t bytes;
    volatile bool done;
};

static void flood_send(void *arg)
{
    struct flood_run *r = arg;
    const struct net_args *a = r->a;
    const uint8_t *mac = netfront_info(r->nf)->mac;
    /* verify=0 with one size (the bench): the frame is built once, only its
     * seq changes; the sink then checks headers only. */
    bool reuse = !a->verify && a->size;
    uint64_t stop =
        a->duration_ms ? time_monotonic_ns() + (uint64_t)a->duration_ms * MS : UINT64_MAX;
    for (uint32_t seq = 0; seq < a->frames; seq++) {
        if (a->duration_ms && time_monotonic_ns() >= stop) break;
        unsigned len = net_frame_size(a, seq), off = reuse ? 0 : net_frame_offset(seq);
        if (!reuse || !seq)
            net_build(buf + off, len, r->peer, mac, NET_FLOOD, seq);
        else
            net_set_seq(buf, seq);
        long rc = netfront_send(r->nf, buf + off, len);
        if (rc) {
            printk("net: FAIL: send of frame %u: %ld\n", seq, rc);
            break;
        }
        r->res.sent++;
        r->bytes += len;
        if (a->gap_us) wait_event(never, NULL, (uint64_t)a->gap_us * 1000);
    }
    r->done = true;
}

static bool flood_done(void *arg)
{
    return ((struct flood_run *)arg)->done;
}

static int flood(struct netfront *nf, const struct net_args *a)
{
    uint8_t peer[6];
    long found = net_find_peer(nf, a, buf, peer);
    if (found) {
        printk("net: FAIL: no peer: %ld\n", found);
        return 1;
    }
    static struct flood_run run;
    run = (struct flood_run){.nf = nf, .a = a, .peer = peer};
    uint64_t t0 = time_monotonic_ns();
    if (a->suspend && nr_cpus > 1 && smp_call_async(1, flood_send, &run) == 0) {
        /* CPU 1 sends; this one takes the toolstack's requests (the
         * control driver's watch) until it is done. */
        printk("net: flood: sending on cpu1\n");
        /* CPU 1 sends no event when it is done: look every 100 us. */
        while (!xenstore_wait(flood_done, &run, 100 * 1000))
            ;
    } else {
        flood_send(&run);
    }
    struct net_result res = run.res;
    uint64_t bytes = run.bytes;
    const uint8_t *mac = netfront_info(nf)->mac;
    long rc = netfront_flush(nf, NETFRONT_TIMEOUT_NS);
    rate("flood", res.sent, bytes, time_monotonic_ns() - t0);
    if (rc) printk("net: flood: flush: %ld\n", rc);
    bool acked = false;
    for (unsigned t = 0; t < 5 && !acked; t++) {
        net_build(buf, NET_MIN_FRAME, peer, mac, NET_END, (uint32_t)res.sent);
        if (netfront_send(nf, buf, NET_MIN_FRAME)) break;
        uint64_t deadline = time_monotonic_ns() + (uint64_t)a->timeout_ms * MS;
        while (!acked && time_monotonic_ns() < deadline) {
            long n =
                netfront_recv(nf, buf, NET_BUF_BYTES, deadline - time_monotonic_ns());
            struct net_hdr h;
            if (n < 0) break;
            if (net_parse(buf, (size_t)n, false, &h) && h.kind == NET_END_ACK) {
                acked = true;
                res.received = h.seq;
            }
        }
    }
    res.lost = res.sent > res.received ? res.sent - res.received : 0;
    printk("net: flood: the sink %s\n",
           acked ? "acknowledged the end" : "never answered");
    net_summary(&res);
    /* suspend=1: a suspend must not cost a frame we sent. */
    return acked && (!a->suspend || !res.lost) ? 0 : 1;
}

static int sink(struct netfront *nf, const struct net_args *a)
{
    struct net_result res = {0};
    const uint8_t *mac = netfront_info(nf)->mac;
    uint64_t bytes = 0, t0 = 0, expected = a->frames;
    unsigned hellos = 0;
    bool ended = false;
    net_seen_reset();
    for (;;) {
        long n = netfront_recv(nf, buf, NET_BUF_BYTES,
                               (uint64_t)a->timeout_ms * MS * (ended ? 1 : 20));
        if (n < 0) {
            if (!ended) printk("net: sink: receive: %ld; giving up\n", n);
            break;
        }
        struct net_hdr h;
        if (!net_parse(buf, (size_t)n, a->verify, &h)) {
            res.bad++;
            continue;
        }
        if (h.kind == NET_HELLO) {
            net_answer_hello(nf, &h, buf);
            hellos++;
            continue;
        }
        if (!t0) t0 = time_monotonic_ns();
        if (h.kind == NET_END) {
            if (!ended) rate("sink", res.received, bytes, time_monotonic_ns() - t0);
            ended = true;
            expected = h.seq;
            uint8_t src[6];
            memcpy(src, h.src, 6);
            net_build(buf, NET_MIN_FRAME, src, mac, NET_END_ACK, (uint32_t)res.received);
            netfront_send(nf, buf, NET_MIN_FRAME);
            continue;
        }
        if (h.kind != NET_FLOOD) {
            res.bad++;
        } else if (net_seen_test_and_set(h.seq)) {
            res.dup++;
        } else {
            res.received++;
            bytes += (uint64_t)n;
        }
    }
    netfront_flush(nf, NETFRONT_TIMEOUT_NS);
    res.lost = expected > res.received ? expected - res.received : 0;
    printk("net: sink: answered %u hello%s\n", hellos, hellos == 1 ? "" : "s");
    net_summary(&res);
    return ended && !res.dup && !res.bad && (!a->suspend || !res.lost) ? 0 : 1;
}

int net_flood(struct netfront *nf, const struct net_args *a, bool is_flood)
{
    if (!buf) buf = page_alloc_contig((unsigned)(NET_BUF_BYTES / PAGE_SIZE + 1));
    if (!buf) {
        printk("net: FAIL: out of memory for the frame buffer\n");
        return 1;
    }
    return is_flood ? flood(nf, a) : sink(nf, a);
}
