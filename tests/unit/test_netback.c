/* netback, the switch and pcap, with the test as the frontends: a domain
 * built from the basic image (never run) whose grant table, event channels
 * and ring pages the test writes as netfront would, two or three vifs of
 * it on switches, xenstore nodes written through the store, and the run
 * loop's device poll called by hand.  Covers the handshake (features,
 * Connected, fatal errors), a frame from one vif reaching another's rx
 * buffers through the switch, scatter-gather both ways, GSO and multicast
 * extras, every malformed transmit case (error responses or a fatal error
 * with its report), the ring sanitizer, multi-queue, split event channels,
 * teardown with no grant left mapped, and the pcap file. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ring_check.h"
#include <xen/io/netif.h>
#include <xen/memory.h>

#include "evtchn.h"
#include "gnttab.h"
#include "hypercall.h"
#include "netback.h"
#include "netswitch.h"
#include "pcap.h"
#include "pvdev.h"
#include "sim.h"
#include "unit.h"
#include "xenstore.h"

#define PAGE        4096u
#define XATP        0x811000ULL /* add_to_physmap argument */
#define GT_GFN      0xa00ULL    /* grant frame */
#define RING_GFN    0xb00ULL    /* per vif 32 pages: queue q tx at 2q, rx at 2q+1 */
#define TXD_GFN     0xc00ULL    /* per vif 32 tx data pages */
#define RXB_GFN     0xd00ULL    /* per vif 64 rx buffer pages */
#define REF_RING    8u          /* per vif 16 ring refs from 8 */
#define REF_TXD     64u         /* per vif 32 tx data refs from 64 */
#define REF_RXB     160u        /* per vif 64 rx buffer refs from 160 */
#define NVIF        3u
#define MAXQ        XS_NETBACK_MAX_QUEUES
#define RXB_PER_VIF 64u

struct fe_vif {
    unsigned id;
    char fe[96], be[128];
    struct xs_pvdev *dev;
    unsigned nq;
    netif_tx_front_ring_t tx[MAXQ];
    netif_rx_front_ring_t rx[MAXQ];
    evtchn_port_t txp[MAXQ], rxp[MAXQ];
    unsigned next_rxb; /* next rx buffer page to post (mod RXB_PER_VIF) */
};

static struct xs_sim sim;
static struct xs_domain *dom;
static FILE *log_file;
static struct fe_vif vifs[NVIF];

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

static void ungrant(grant_ref_t ref)
{
    grant_entry_v1_t *e = (grant_entry_v1_t *)page_of(GT_GFN) + ref;
    e->flags = 0;
}

static void fe_write(struct fe_vif *v, const char *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fe_write(struct fe_vif *v, const char *node, const char *fmt, ...)
{
    char path[192], val[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(val, sizeof(val), fmt, ap);
    va_end(ap);
    snprintf(path, sizeof(path), "%s/%s", v->fe, node);
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

static int be_state(const struct fe_vif *v)
{
    return atoi(node(v->be, "state"));
}

static const char *reports(void)
{
    return dom->reports ? dom->reports : "";
}

static void poll(void)
{
    /* Twice: the switch forwards in the run loop's next pass. */
    xs_pvdev_sim_poll(&sim);
    xs_pvdev_sim_poll(&sim);
}

static void add_vif(unsigned i, const struct xs_netback_cfg *cfg)
{
    struct fe_vif *v = &vifs[i];
    char err[512] = "";
    v->id = i;
    v->dev = xs_pvdev_add(&sim, "vif", dom, i, cfg, err, sizeof(err));
    ck_assert_msg(v->dev, "xs_pvdev_add: %s", err);
    snprintf(v->fe, sizeof(v->fe), "/local/domain/%u/device/vif/%u", dom->domid, i);
    snprintf(v->be, sizeof(v->be), "/local/domain/0/backend/vif/%u/%u", dom->domid, i);
}

static void setup_novif(void)
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
    struct xen_add_to_physmap x = {
        .domid = DOMID_SELF, .space = XENMAPSPACE_grant_table, .idx = 0, .gpfn = GT_GFN};
    memcpy(dom->base + XATP, &x, sizeof(x));
    const uint64_t a[5] = {XENMEM_add_to_physmap, (uint64_t)(uintptr_t)dom->base + XATP};
    ck_assert_int_eq(xs_hypercall_call(xs_vcpu_of(dom, 0), __HYPERVISOR_memory_op, a), 0);
    memset(vifs, 0, sizeof(vifs));
}

static void setup(void)
{
    setup_novif();
    add_vif(0, &(struct xs_netback_cfg){0});
    add_vif(1, &(struct xs_netback_cfg){0});
}

static void teardown(void)
{
    xs_sim_destroy(&sim);
    fclose(log_file);
    dom = NULL;
}

/* netfront's half of the handshake: nq queues, split or shared event
 * channels, the given feature nodes, then Connected. */
struct fe_opts {
    unsigned nq;
    bool split, no_sg, no_gso, no_rx_copy, no_csum;
};

static void front_connect(struct fe_vif *v, struct fe_opts o)
{
    unsigned nq = o.nq ? o.nq : 1;
    v->nq = nq;
    for (unsigned q = 0; q < nq; q++) {
        char dir[32] = "", name[64];
        if (nq > 1) snprintf(dir, sizeof(dir), "queue-%u/", q);
        uint64_t txg = RING_GFN + 32 * v->id + 2 * q, rxg = txg + 1;
        netif_tx_sring_t *ts = (netif_tx_sring_t *)page_of(txg);
        netif_rx_sring_t *rs = (netif_rx_sring_t *)page_of(rxg);
        memset(ts, 0, PAGE);
        memset(rs, 0, PAGE);
        SHARED_RING_INIT(ts);
        SHARED_RING_INIT(rs);
        FRONT_RING_INIT(&v->tx[q], ts, PAGE);
        FRONT_RING_INIT(&v->rx[q], rs, PAGE);
        grant_ref_t tref = REF_RING + 16 * v->id + 2 * q, rref = tref + 1;
        grant(tref, txg, false);
        grant(rref, rxg, false);
        snprintf(name, sizeof(name), "%stx-ring-ref", dir);
        fe_write(v, name, "%u", tref);
        snprintf(name, sizeof(name), "%srx-ring-ref", dir);
        fe_write(v, name, "%u", rref);
        long p = xs_evtchn_alloc_unbound_for(dom, 0);
        ck_assert_int_gt(p, 0);
        v->txp[q] = v->rxp[q] = (evtchn_port_t)p;
        if (o.split) {
            long p2 = xs_evtchn_alloc_unbound_for(dom, 0);
            ck_assert_int_gt(p2, 0);
            v->rxp[q] = (evtchn_port_t)p2;
            snprintf(name, sizeof(name), "%sevent-channel-tx", dir);
            fe_write(v, name, "%ld", p);
            snprintf(name, sizeof(name), "%sevent-channel-rx", dir);
            fe_write(v, name, "%ld", p2);
        } else {
            snprintf(name, sizeof(name), "%sevent-channel", dir);
            fe_write(v, name, "%ld", p);
        }
    }
    if (nq > 1) fe_write(v, "multi-queue-num-queues", "%u", nq);
    fe_write(v, "request-rx-copy", "%d", o.no_rx_copy ? 0 : 1);
    fe_write(v, "feature-rx-notify", "1");
    fe_write(v, "feature-sg", "%d", o.no_sg ? 0 : 1);
    fe_write(v, "feature-gso-tcpv4", "%d", o.no_gso ? 0 : 1);
    if (o.no_csum) fe_write(v, "feature-no-csum-offload", "1");
    fe_write(v, "state", "%d", XenbusStateConnected);
    xs_pvdev_sim_poll(&sim);
}

static void connect2(void)
{
    front_connect(&vifs[0], (struct fe_opts){0});
    front_connect(&vifs[1], (struct fe_opts){0});
    ck_assert_int_eq(be_state(&vifs[0]), XenbusStateConnected);
    ck_assert_int_eq(be_state(&vifs[1]), XenbusStateConnected);
}

/* ---- frames ------------------------------------------------------------------------ */

static const uint8_t BCAST[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static void mac_of(unsigned vif, uint8_t mac[6])
{
    xs_netback_default_mac(dom->domid, vif, mac);
}

/* A frame of len bytes from src to dst, with a recognisable payload. */
static void make_frame(uint8_t *f, size_t len, const uint8_t dst[6], const uint8_t src[6],
                       unsigned seed)
{
    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    f[12] = 0x88; /* a local experimental ethertype */
    f[13] = 0xb5;
    for (size_t i = 14; i < len; i++)
        f[i] = (uint8_t)(seed * 13u + i * 7u + (i >> 8));
}

/* An IPv4 TCP (udp false) or UDP frame of len bytes, the checksum field
 * holding the pseudo-header's sum, as netfront leaves a partial checksum. */
static uint16_t fold16(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

static uint32_t sum_be16(const uint8_t *p, size_t n)
{
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    if (n & 1) sum += (uint32_t)p[n - 1] << 8;
    return sum;
}

static void make_ip4(uint8_t *f, size_t len, const uint8_t dst[6], const uint8_t src[6],
                     bool udp, unsigned seed)
{
    make_frame(f, len, dst, src, seed);
    f[12] = 0x08, f[13] = 0x00;
    uint8_t *ip = f + 14;
    memset(ip, 0, 20);
    ip[0] = 0x45;
    ip[2] = (uint8_t)((len - 14) >> 8), ip[3] = (uint8_t)(len - 14);
    ip[8] = 64;
    ip[9] = udp ? 17 : 6;
    memcpy(ip + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
    uint8_t *l4 = f + 34;
    size_t l4len = len - 34;
    unsigned field = udp ? 6 : 16;
    if (udp) {
        l4[4] = (uint8_t)(l4len >> 8), l4[5] = (uint8_t)l4len;
    } else {
        l4[12] = 0x50; /* data offset: 5 words */
    }
    uint16_t pseudo = fold16(sum_be16(ip + 12, 8) + ip[9] + (uint32_t)l4len);
    l4[field] = (uint8_t)(pseudo >> 8), l4[field + 1] = (uint8_t)pseudo;
}

/* Does a TCP/UDP over IPv4 frame's checksum verify (pseudo-header included)? */
static bool ip4_csum_ok(const uint8_t *f, size_t len)
{
    const uint8_t *ip = f + 14;
    size_t l4len = len - 34;
    uint32_t sum =
        sum_be16(ip + 12, 8) + ip[9] + (uint32_t)l4len + sum_be16(f + 34, l4len);
    return fold16(sum) == 0xffff;
}

/* Post n rx buffers on queue q of v. */
static void post_rx(struct fe_vif *v, unsigned q, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        unsigned b = v->next_rxb++ % RXB_PER_VIF;
        grant_ref_t ref = REF_RXB + RXB_PER_VIF * v->id + b;
        uint64_t gfn = RXB_GFN + RXB_PER_VIF * v->id + b;
        memset(page_of(gfn), 0xee, PAGE);
        grant(ref, gfn, false);
        netif_rx_request_t *r = RING_GET_REQUEST(&v->rx[q], v->rx[q].req_prod_pvt);
        r->id = (uint16_t)(v->rx[q].req_prod_pvt & 0xff);
        r->gref = ref;
        v->rx[q].req_prod_pvt++;
    }
    RING_PUSH_REQUESTS(&v->rx[q]);
}

/* One tx slot: a grant of tx data page `page` of v holding bytes. */
struct slot {
    uint16_t offset, size, flags, id;
    int page; /* tx data page, -1: raw gref below */
    grant_ref_t gref;
};

static netif_tx_request_t *tx_slot(struct fe_vif *v, unsigned q)
{
    netif_tx_request_t *r = RING_GET_REQUEST(&v->tx[q], v->tx[q].req_prod_pvt);
    memset(r, 0, sizeof(*r));
    v->tx[q].req_prod_pvt++;
    return r;
}

static void tx_push(struct fe_vif *v, unsigned q)
{
    RING_PUSH_REQUESTS(&v->tx[q]);
}

static grant_ref_t txd_ref(const struct fe_vif *v, unsigned page)
{
    return REF_TXD + 32 * v->id + page;
}

static uint8_t *txd_page(const struct fe_vif *v, unsigned page)
{
    return page_of(TXD_GFN + 32 * v->id + page);
}

/* Queue a frame on v's tx ring q in slots of at most chunk bytes each (one
 * data page per slot, from page 0), ids from id0; returns the slots used. */
static unsigned tx_frame(struct fe_vif *v, unsigned q, const uint8_t *f, size_t len,
                         size_t chunk, uint16_t id0)
{
    unsigned n = 0;
    for (size_t off = 0; off < len; off += chunk, n++) {
        size_t c = len - off < chunk ? len - off : chunk;
        memcpy(txd_page(v, n) + 100, f + off, c);
        grant(txd_ref(v, n), TXD_GFN + 32 * v->id + n, true);
        netif_tx_request_t *r = tx_slot(v, q);
        r->gref = txd_ref(v, n);
        r->offset = 100;
        r->size = n == 0 ? (uint16_t)len : (uint16_t)c;
        r->id = (uint16_t)(id0 + n);
        r->flags = off + c < len ? NETTXF_more_data : 0;
    }
    tx_push(v, q);
    return n;
}

static netif_tx_response_t *tx_rsp(struct fe_vif *v, unsigned q, RING_IDX i)
{
    return RING_GET_RESPONSE(&v->tx[q], i);
}

static netif_rx_response_t *rx_rsp(struct fe_vif *v, unsigned q, RING_IDX i)
{
    return RING_GET_RESPONSE(&v->rx[q], i);
}

static RING_IDX tx_rsp_prod(const struct fe_vif *v, unsigned q)
{
    return v->tx[q].sring->rsp_prod;
}

static RING_IDX rx_rsp_prod(const struct fe_vif *v, unsigned q)
{
    return v->rx[q].sring->rsp_prod;
}

/* The rx buffer page behind v's rx request i of queue q (posted by post_rx
 * from buffer 0 on a fresh vif). */
static uint8_t *rx_buf(const struct fe_vif *v, unsigned i)
{
    return page_of(RXB_GFN + RXB_PER_VIF * v->id + i % RXB_PER_VIF);
}

/* ---- tests ------------------------------------------------------------------------- */

START_TEST(test_publish)
{
    struct fe_vif *v = &vifs[0];
    ck_assert_int_eq(be_state(v), XenbusStateInitWait);
    ck_assert_str_eq(node(v->be, "feature-rx-copy"), "1");
    ck_assert_str_eq(node(v->be, "feature-sg"), "1");
    ck_assert_str_eq(node(v->be, "feature-gso-tcpv4"), "1");
    ck_assert_str_eq(node(v->be, "feature-gso-tcpv6"), "1");
    ck_assert_str_eq(node(v->be, "feature-split-event-channels"), "1");
    ck_assert_str_eq(node(v->be, "multi-queue-max-queues"), "4");
    ck_assert_str_eq(node(v->be, "type"), "vif");
    ck_assert_str_eq(node(v->be, "bridge"), "xenbr0");
    ck_assert_str_eq(node(v->be, "handle"), "0");
    ck_assert_str_eq(node(v->be, "online"), "1");
    ck_assert_str_eq(node(v->be, "frontend-id"), "1");
    char mac[32];
    snprintf(mac, sizeof(mac), "00:16:3e:00:%02x:00", dom->domid);
    ck_assert_str_eq(node(v->be, "mac"), mac);
    ck_assert_str_eq(node(v->fe, "mac"), mac);
    ck_assert_str_eq(node(v->fe, "handle"), "0");
    ck_assert_str_eq(node(v->fe, "backend-id"), "0");
    ck_assert_str_eq(node(v->fe, "mtu"), "1500");
    ck_assert_str_eq(node(vifs[1].fe, "handle"), "1");
}
END_TEST

START_TEST(test_tx_reaches_peer)
{
    connect2();
    struct fe_vif *a = &vifs[0], *b = &vifs[1];
    post_rx(b, 0, 8);
    uint8_t f[60], src[6];
    mac_of(0, src);
    make_frame(f, sizeof(f), BCAST, src, 1);
    tx_frame(a, 0, f, sizeof(f), PAGE, 7);
    xs_pvdev_sim_poll(&sim);
    /* Answered at once, delivered only in the next pass. */
    ck_assert_uint_eq(tx_rsp_prod(a, 0), 1);
    ck_assert_int_eq(tx_rsp(a, 0, 0)->id, 7);
    ck_assert_int_eq(tx_rsp(a, 0, 0)->status, NETIF_RSP_OKAY);
    ck_assert_uint_eq(rx_rsp_prod(b, 0), 0);
    xs_pvdev_sim_poll(&sim);
    ck_assert_uint_eq(rx_rsp_prod(b, 0), 1);
    netif_rx_response_t *r = rx_rsp(b, 0, 0);
    ck_assert_int_eq(r->status, 60);
    ck_assert_int_eq(r->offset, 0);
    ck_assert_int_eq(r->flags, 0);
    ck_assert_int_eq(r->id, 0);
    ck_assert_mem_eq(rx_buf(b, 0), f, sizeof(f));
    ck_assert_int_eq(rx_buf(b, 0)[60], 0xee);
    const struct xs_netback_stats *sa = xs_netback_stats(a->dev),
                                  *sb = xs_netback_stats(b->dev);
    ck_assert_uint_eq(sa->tx_frames, 1);
    ck_assert_uint_eq(sa->tx_bytes, 60);
    ck_assert_uint_eq(sb->rx_frames, 1);
    ck_assert_uint_eq(sb->rx_bytes, 60);
    ck_assert_uint_eq(sa->rx_frames, 0); /* not back to its sender */
    ck_assert_str_eq(reports(), "");
}
END_TEST

/* A frame of 9000 bytes in three slots, to a peer with scatter-gather:
 * three rx slots, NETRXF_more_data on the first two. */
START_TEST(test_sg_both_ways)
{
    connect2();
    struct fe_vif *a = &vifs[0], *b = &vifs[1];
    post_rx(b, 0, 4);
    static uint8_t f[9000];
    uint8_t src[6];
    mac_of(0, src);
    make_frame(f, sizeof(f), BCAST, src, 2);
    ck_assert_uint_eq(tx_frame(a, 0, f, sizeof(f), 3500, 1), 3);
    poll();
    ck_assert_uint_eq(tx_rsp_prod(a, 0), 3);
    for (unsigned i = 0; i < 3; i++) {
        ck_assert_int_eq(tx_rsp(a, 0, i)->id, 1 + i);
        ck_assert_int_eq(tx_rsp(a, 0, i)->status, NETIF_RSP_OKAY);
    }
    ck_assert_uint_eq(rx_rsp_prod(b, 0), 3);
    unsigned sizes[3] = {4096, 4096, 9000 - 8192};
    for (unsigned i = 0; i < 3; i++) {
        netif_rx_response_t *r = rx_rsp(b, 0, i);
        ck_assert_int_eq(r->status, (int)sizes[i]);
        ck_assert_int_eq(r->offset, 0);
        ck_assert_int_eq(r->flags & NETRXF_more_data, i < 2 ? NETRXF_more_data : 0);
        ck_assert_mem_eq(rx_buf(b, i), f + 4096 * i, sizes[i]);
    }
    ck_assert_uint_eq(xs_netback_stats(b->dev)->rx_bytes, 9000);
    ck_assert_str_eq(reports(), "");
}
END_TEST

/* Without feature-sg the peer cannot take a frame larger than a page. */
START_TEST(test_rx_no_sg_drops_big)
{
    front_connect(&vifs[0], (struct fe_opts){0});
    front_connect(&vifs[1], (struct fe_opts){.no_sg = true});
    struct fe_vif *a = &vifs[0], *b = &vifs[1];
    post_rx(b, 0, 4);
    static uint8_t f[5000];
    uint8_t src[6];
    mac_of(0, src);
    make_frame(f, sizeof(f), BCAST, src, 3);
    tx_frame(a, 0, f, sizeof(f), 3000, 0);
    make_frame(f, 1000, BCAST, src, 4);
    tx_frame(a, 0, f, 1000, 3000, 9);
    poll();
    ck_assert_uint_eq(tx_rsp_prod(a, 0), 3);
    ck_assert_uint_eq(rx_rsp_prod(b, 0), 1);
    ck_assert_int_eq(rx_rsp(b, 0, 0)->status, 1000);
    ck_assert_uint_eq(xs_netback_stats(b->dev)->rx_dropped, 1);
}
END_TEST

/* Frames wait for rx buffers and go once they are posted. */
START_TEST(test_rx_waits_for_buffers)
{
    connect2();
    struct fe_vif *a = &vifs[0], *b = &vifs[1];
    uint8_t f[100], src[6];
    mac_of(0, src);
    for (unsigned i = 0; i < 3; i++) {
        make_frame(f, sizeof(f), BCAST, src, 10 + i);
        tx_frame(a, 0, f, sizeof(f), PAGE, (uint16_t)i);
    }
    poll();
    ck_assert_uint_eq(rx_rsp_prod(b, 0), 0);
    /* The backend asked to be told about new buffers. */
    ck_assert_uint_eq(b->rx[0].sring->req_event, 1);
    post_rx(b, 0, 2);
    xs_pvdev_sim_poll(&sim);
    ck_assert_uint_eq(rx_rsp_prod(b, 0), 2);
    post_rx(b, 0, 2);
    xs_pvdev_sim_poll(&sim);
    ck_assert_uint_eq(rx_rsp_prod(b, 0), 3);
    make_frame(f, sizeof(f), BCAST, src, 12);
    ck_assert_mem_eq(rx_buf(b, 2), f, sizeof(f));
    ck_assert_uint_eq(xs_netback_stats(b->dev)->rx_frames, 3);
}
END_TEST

/* The switch learns where a MAC is: unicast to a known MAC goes to one port,
 * to an unknown one everywhere else. */
START_TEST(test_switch_learning)
{
    add_vif(2, &(struct xs_netback_cfg){0});
    connect2();
    front_connect(&vifs[2], (struct fe_opts){0});
    for (unsigned i = 0; i < 3; i++)
        post_rx(&vifs[i], 0, 8);
    uint8_t f[64], m0[6], m1[6], m2[6];
    mac_of(0, m0);
    mac_of(1, m1);
    mac_of(2, m2);
    /* vif 0 to vif 1's MAC, not learned yet: flooded to 1 and 2. */
    make_frame(f, sizeof(f), m1, m0, 1);
    tx_frame(&vifs[0], 0, f, sizeof(f), PAGE, 0);
    poll();
    ck_assert_uint_eq(rx_rsp_prod(&vifs[1], 0), 1);
    ck_assert_uint_eq(rx_rsp_prod(&vifs[2], 0), 1);
    /* vif 1 answers: vif 0's MAC is known, only vif 0 gets it. */
    make_frame(f, sizeof(f), m0, m1, 2);
    tx_frame(&vifs[1], 0, f, sizeof(f), PAGE, 0);
    poll();
    ck_assert_uint_eq(rx_rsp_prod(&vifs[0], 0), 1);
    ck_assert_uint_eq(rx_rsp_prod(&vifs[2], 0), 1);
    /* And now vif 1's MAC is known too. */
    make_frame(f, sizeof(f), m1, m0, 3);
    tx_frame(&vifs[0], 0, f, sizeof(f), PAGE, 1);
    poll();
    ck_assert_uint_eq(rx_rsp_prod(&vifs[1], 0), 2);
    ck_assert_uint_eq(rx_rsp_prod(&vifs[2], 0), 1);
    const struct xs_netswitch_stats *st = xs_netswitch_stats(&sim, "xenbr0");
    ck_assert_ptr_nonnull(st);
    ck_assert_uint_eq(st->received, 3);
    ck_assert_uint_eq(st->flooded, 1);
    ck_assert_uint_eq(st->forwarded, 2);
    ck_assert_uint_eq(xs_netback_port(vifs[0].dev), 1);
    ck_assert_uint_eq(xs_netback_port(vifs[2].dev), 3);
}
END_TEST

/* Vifs on different switches do not see each other. */
START_TEST(test_switches_apart)
{
    teardown(); /* the fixture's vifs, for two on their own switches */
    setup_novif();
    add_vif(0, &(struct xs_netback_cfg){.bridge = "left"});
    add_vif(1, &(struct xs_netback_cfg){.bridge = "right"});
    connect2();
    post_rx(&vifs[1], 0, 4);
    uint8_t f[64], src[6];
    mac_of(0, src);
    make_frame(f, sizeof(f), BCAST, src, 1);
    tx_frame(&vifs[0], 0, f, sizeof(f), PAGE, 0);
    poll();
    ck_assert_uint_eq(tx_rsp_prod(&vifs[0], 0), 1);
    ck_assert_uint_eq(rx_rsp_prod(&vifs[1], 0), 0);
    ck_assert_uint_eq(xs_netswitch_stats(&sim, "left")->flooded, 1);
    ck_assert_uint_eq(xs_netswitch_stats(&sim, "right")->received, 0);
}
END_TEST

/* ---- malformed transmit requests ----------------------------------------- */

/* Each slot of a refused packet is answered NETIF_RSP_ERROR, with a report,
 * and the ring goes on. */
static void expect_dropped(struct fe_vif *a, RING_IDX from, unsigned n, const char *why)
{
    ck_assert_uint_eq(tx_rsp_prod(a, 0), from + n);
    for (unsigned i = 0; i < n; i++)
        ck_assert_int_eq(tx_rsp(a, 0, from + i)->status, NETIF_RSP_ERROR);
    ck_assert_msg(strstr(reports(), why), "no report '%s' in: %s", why, reports());
    ck_assert(!xs_netback_disabled(a->dev));
}

START_TEST(test_tx_short_header)
{
    connect2();
    struct fe_vif *a = &vifs[0];
    uint8_t f[10] = {0};
    tx_frame(a, 0, f, sizeof(f), PAGE, 3);
    xs_pvdev_sim_poll(&sim);
    expect_dropped(a, 0, 1,
                   "tx request 0 (id 3): first slot holds 10 bytes, less than an "
                   "Ethernet header (14); packet dropped");
    /* The header split over slots (XSA-423's shape): 8 + 52 bytes. */
    static uint8_t g[60];
    make_frame(g, sizeof(g), BCAST, BCAST, 1);
    tx_frame(a, 0, g, sizeof(g), 8, 10);
    xs_pvdev_sim_poll(&sim);
    expect_dropped(a, 1, 8, "first slot holds 8 bytes");
    ck_assert_uint_eq(xs_netback_stats(a->dev)->tx_dropped, 2);
    ck_assert_uint_eq(xs_netback_stats(a->dev)->tx_errors, 9);
    /* A good frame still goes. */
    tx_frame(a, 0, g, sizeof(g), PAGE, 20);
    xs_pvdev_sim_poll(&sim);
    ck_assert_int_eq(tx_rsp(a, 0, 9)->status, NETIF_RSP_OKAY);
}
END_TEST

START_TEST(test_tx_sizes_do_not_add_up)
{
    connect2();
    struct fe_vif *a = &vifs[0];
    static uint8_t g[200];
    make_frame(g, sizeof(g), BCAST, BCAST, 1);
    tx_frame(a, 0, g, sizeof(g), 100, 0);
    /* The second slot claims more than the packet has left. */
    RING_GET_REQUEST(&a->tx[0], 1)->size = 250;
    xs_pvdev_sim_poll(&sim);
    expect_dropped(a, 0, 2,
                   "slot 1: size 250 larger than the 200 bytes left of the packet");
}
END_TEST

START_TEST(test_tx_bad_grant)
{
    connect2();
    struct fe_vif *a = &vifs[0];
    static uint8_t g[300];
    make_frame(g, sizeof(g), BCAST, BCAST, 1);
    tx_frame(a, 0, g, sizeof(g), 100, 0);
    ungrant(txd_ref(a, 2));
    xs_pvdev_sim_poll(&sim);
    expect_dropped(a, 0, 3, "grant copy from grant ref");
    /* A grant ref past the table. */
    tx_frame(a, 0, g, 100, PAGE, 5);
    RING_GET_REQUEST(&a->tx[0], 3)->gref = 100000;
    xs_pvdev_sim_poll(&sim);
    expect_dropped(a, 3, 1, "grant ref 100000");
    ck_assert_uint_eq(xs_netback_stats(a->dev)->tx_frames, 0);
}
END_TEST

/* 19 slots go, 20 and 21 are refused, 22 are fatal (Linux's
 * XEN_NETBK_LEGACY_SLOTS_MAX and fatal_skb_slots). */
START_TEST(test_tx_slot_limits)
{
    connect2();
    struct fe_vif *a = &vifs[0];
    static uint8_t g[2000];
    make_frame(g, sizeof(g), BCAST, BCAST, 1);
    RING_IDX at = 0;
    for (unsigned n = 19; n <= 21; n++) {
        ck_assert_uint_eq(tx_frame(a, 0, g, 20 * n, 20, 0), n);
        xs_pvdev_sim_poll(&sim);
        ck_assert_uint_eq(tx_rsp_prod(a, 0), at + n);
        int want = n == 19 ? NETIF_RSP_OKAY : NETIF_RSP_ERROR;
        for (unsigned i = 0; i < n; i++)
            ck_assert_int_eq(tx_rsp(a, 0, at + i)->status, want);
        at += n;
    }
    ck_assert(strstr(reports(), "more than 19 slots; packet dropped"));
    ck_assert(!xs_netback_disabled(a->dev));
    tx_frame(a, 0, g, 20 * 22, 20, 0);
    xs_pvdev_sim_poll(&sim);
    ck_assert(xs_netback_disabled(a->dev));
    ck_assert(strstr(reports(), "packet uses more than 21 slots (malicious); fatal, vif "
                                "disabled"));
    ck_assert_uint_eq(tx_rsp_prod(a, 0), at); /* nothing answered after a fatal error */
    ck_assert_uint_eq(xs_netback_stats(a->dev)->fatal, 1);
}
END_TEST

static void expect_fatal(struct fe_vif *a, const char *why)
{
    xs_pvdev_sim_poll(&sim);
    ck_assert(xs_netback_disabled(a->dev));
    ck_assert_msg(strstr(reports(), why), "no report '%s' in: %s", why, reports());
    ck_assert_msg(strstr(reports(), "fatal, vif disabled") ||
                      strstr(reports(), "ring no longer serviced"),
                  "%s", reports());
    /* Disabled: later requests are not serviced. */
    RING_IDX before = tx_rsp_prod(a, 0);
    uint8_t g[64];
    make_frame(g, sizeof(g), BCAST, BCAST, 1);
    a->tx[0].req_prod_pvt = a->tx[0].sring->req_prod;
    tx_frame(a, 0, g, sizeof(g), PAGE, 0);
    xs_pvdev_sim_poll(&sim);
    ck_assert_uint_eq(tx_rsp_prod(a, 0), before);
    /* The backend stays Connected (as Linux's) and lets go at Closed. */
    ck_assert_int_eq(be_state(a), XenbusStateConnected);
    fe_write(a, "state", "%d", XenbusStateClosed);
    xs_pvdev_sim_poll(&sim);
    ck_assert_uint_eq(a->dev->grant_maps, 0);
}

START_TEST(test_tx_crosses_page)
{
    connect2();
    struct fe_vif *a = &vifs[0];
    uint8_t g[100];
    make_frame(g, sizeof(g), BCAST, BCAST, 1);
    tx_frame(a, 0, g, sizeof(g), PAGE, 0);
    RING_GET_REQUEST(&a->tx[0], 0)->offset = 4000;
    expect_fatal(a,
                 "vif 0 queue 0 tx request 0: first slot offset 4000 + size 100 crosses "
                 "the page");
}
END_TEST

START_TEST(test_tx_frag_crosses_page)
{
    connect2();
    struct fe_vif *a = &vifs[0];
    uint8_t g[100];
    make_frame(g, sizeof(g), BCAST, BCAST, 1);
    tx_frame(a, 0, g, sizeof(g), 50, 0);
    RING_GET_REQUEST(&a->tx[0], 1)->offset = 4090;
    expect_fatal(a, "tx request 1: slot offset 4090 + size 50 crosses the page");
}
END_TEST

START_TEST(test_tx_past_producer)
{
    connect2();
    struct fe_vif *a = &vifs[0];
    uint8_t g[100];
    make_frame(g, sizeof(g), BCAST, BCAST, 1);
    tx_frame(a, 0, g, sizeof(g), PAGE, 0);
    RING_GET_REQUEST(&a->tx[0], 0)->flags |= NETTXF_more_data;
    expect_fatal(a, "packet continues past the producer (1) after 1 slots");
}
END_TEST

/* A packet with extra-info slots (GSO here) and the extras' checks. */
static void tx_gso(struct fe_vif *a, const uint8_t *g, size_t len, uint8_t type,
                   uint16_t mss, uint8_t extra_type, bool more)
{
    memcpy(txd_page(a, 0), g, len);
    grant(txd_ref(a, 0), TXD_GFN + 32 * a->id, true);
    netif_tx_request_t *r = tx_slot(a, 0);
    r->gref = txd_ref(a, 0);
    r->size = (uint16_t)len;
    r->id = 42;
    r->flags = NETTXF_extra_info | NETTXF_csum_blank | NETTXF_data_validated;
    struct netif_extra_info *ex = (struct netif_extra_info *)tx_slot(a, 0);
    ex->type = extra_type;
    ex->flags = more ? XEN_NETIF_EXTRA_FLAG_MORE : 0;
    ex->u.gso.type = type;
    ex->u.gso.size = mss;
    tx_push(a, 0);
}

START_TEST(test_tx_gso_to_peer)
{
    connect2();
    struct fe_vif *a = &vifs[0], *b = &vifs[1];
    post_rx(b, 0, 4);
    static uint8_t g[3000];
    make_ip4(g, sizeof(g), BCAST, BCAST, false, 1);
    tx_gso(a, g, sizeof(g), XEN_NETIF_GSO_TYPE_TCPV4, 1448, XEN_NETIF_EXTRA_TYPE_GSO,
           false);
    poll();
    ck_assert_uint_eq(tx_rsp_prod(a, 0), 2);
    ck_assert_int_eq(tx_rsp(a, 0, 0)->id, 42);
    ck_assert_int_eq(tx_rsp(a, 0, 0)->status, NETIF_RSP_OKAY);
    ck_assert_int_eq(tx_rsp(a, 0, 1)->status, NETIF_RSP_NULL);
    /* Data slot, then the GSO extra in the next slot. */
    ck_assert_uint_eq(rx_rsp_prod(b, 0), 2);
    netif_rx_response_t *r = rx_rsp(b, 0, 0);
    ck_assert_int_eq(r->status, 3000);
    ck_assert_int_eq(r->flags,
                     NETRXF_extra_info | NETRXF_csum_blank | NETRXF_data_validated);
    struct netif_extra_info *ex = (struct netif_extra_info *)rx_rsp(b, 0, 1);
    ck_assert_int_eq(ex->type, XEN_NETIF_EXTRA_TYPE_GSO);
    ck_assert_int_eq(ex->flags, 0);
    ck_assert_int_eq(ex->u.gso.type, XEN_NETIF_GSO_TYPE_TCPV4);
    ck_assert_int_eq(ex->u.gso.size, 1448);
    ck_assert_mem_eq(rx_buf(b, 0), g, sizeof(g));
    ck_assert_uint_eq(xs_netback_stats(a->dev)->tx_gso, 1);
    ck_assert_str_eq(reports(), "");
}
END_TEST

START_TEST(test_tx_gso_peer_without_gso)
{
    front_connect(&vifs[0], (struct fe_opts){0});
    front_connect(&vifs[1], (struct fe_opts){.no_gso = true});
    struct fe_vif *a = &vifs[0], *b = &vifs[1];
    post_rx(b, 0, 4);
    static uint8_t g[3000], h[1000];
    make_ip4(g, sizeof(g), BCAST, BCAST, false, 1);
    make_ip4(h, sizeof(h), BCAST, BCAST, false, 2);
    tx_gso(a, g, sizeof(g), XEN_NETIF_GSO_TYPE_TCPV4, 1448, XEN_NETIF_EXTRA_TYPE_GSO,
           false);
    /* Small enough for one frame: goes without the extra. */
    tx_gso(a, h, sizeof(h), XEN_NETIF_GSO_TYPE_TCPV4, 1448, XEN_NETIF_EXTRA_TYPE_GSO,
           false);
    poll();
    ck_assert_uint_eq(tx_rsp_prod(a, 0), 4);
    ck_assert_uint_eq(rx_rsp_prod(b, 0), 1);
    ck_assert_int_eq(rx_rsp(b, 0, 0)->status, 1000);
    ck_assert_int_eq(rx_rsp(b, 0, 0)->flags & NETRXF_extra_info, 0);
    ck_assert_uint_eq(xs_netback_stats(b->dev)->rx_dropped, 1);
}
END_TEST

START_TEST(test_tx_gso_size_zero)
{
    connect2();
    uint8_t g[100];
    make_frame(g, sizeof(g), BCAST, BCAST, 1);
    tx_gso(&vifs[0], g, sizeof(g), XEN_NETIF_GSO_TYPE_TCPV4, 0, XEN_NETIF_EXTRA_TYPE_GSO,
           false);
    expect_fatal(&vifs[0], "GSO size must not be zero");
}
END_TEST

START_TEST(test_tx_gso_bad_type)
{
    connect2();
    uint8_t g[100];
    make_frame(g, sizeof(g), BCAST, BCAST, 1);
    tx_gso(&vifs[0], g, sizeof(g), 7, 1448, XEN_NETIF_EXTRA_TYPE_GSO, false);
    expect_fatal(&vifs[0], "bad GSO type 7");
}
END_TEST

START_TEST(test_tx_extra_bad_type)
{
    connect2();
    uint8_t g[100];
    make_frame(g, sizeof(g), BCAST, BCAST, 1);
    tx_gso(&vifs[0], g, sizeof(g), 1, 1448, XEN_NETIF_EXTRA_TYPE_MAX, false);
    expect_fatal(&vifs[0], "tx request 1: extra info of unknown type 5");
}
END_TEST

START_TEST(test_tx_extra_missing)
{
    connect2();
    uint8_t g[100];
    make_frame(g, sizeof(g), BCAST, BCAST, 1);
    /* MORE on the last extra: the next extra never comes. */
    tx_gso(&vifs[0], g, sizeof(g), 1, 1448, XEN_NETIF_EXTRA_TYPE_GSO, true);
    expect_fatal(&vifs[0], "extra info slot 1 missing: producer at 2");
}
END_TEST

START_TEST(test_tx_mcast)
{
    connect2();
    struct fe_vif *a = &vifs[0];
    netif_tx_request_t *r = tx_slot(a, 0);
    r->id = 9;
    r->flags = NETTXF_extra_info;
    struct netif_extra_info *ex = (struct netif_extra_info *)tx_slot(a, 0);
    ex->type = XEN_NETIF_EXTRA_TYPE_MCAST_ADD;
    memcpy(ex->u.mcast.addr, "\x01\x00\x5e\x00\x00\x01", 6);
    tx_push(a, 0);
    xs_pvdev_sim_poll(&sim);
    ck_assert_uint_eq(tx_rsp_prod(a, 0), 2);
    ck_assert_int_eq(tx_rsp(a, 0, 0)->id, 9);
    ck_assert_int_eq(tx_rsp(a, 0, 0)->status, NETIF_RSP_OKAY);
    ck_assert_int_eq(tx_rsp(a, 0, 1)->status, NETIF_RSP_NULL);
    ck_assert_uint_eq(xs_netback_stats(a->dev)->mcast, 1);
    ck_assert_uint_eq(xs_netback_stats(a->dev)->tx_frames, 0);
}
END_TEST

/* A partial checksum reaches a frontend that takes them as is (flags say
 * so), and is completed for one that said feature-no-csum-offload. */
START_TEST(test_csum_offload)
{
    add_vif(2, &(struct xs_netback_cfg){0});
    connect2();
    front_connect(&vifs[2], (struct fe_opts){.no_csum = true});
    struct fe_vif *a = &vifs[0], *b = &vifs[1], *c = &vifs[2];
    post_rx(b, 0, 4);
    post_rx(c, 0, 4);
    uint8_t g[301], src[6];
    mac_of(0, src);
    make_ip4(g, sizeof(g), BCAST, src, true, 3);
    tx_frame(a, 0, g, sizeof(g), PAGE, 0);
    RING_GET_REQUEST(&a->tx[0], 0)->flags |= NETTXF_csum_blank | NETTXF_data_validated;
    poll();
    ck_assert_int_eq(tx_rsp(a, 0, 0)->status, NETIF_RSP_OKAY);
    ck_assert_int_eq(rx_rsp(b, 0, 0)->flags, NETRXF_csum_blank | NETRXF_data_validated);
    ck_assert_mem_eq(rx_buf(b, 0), g, sizeof(g)); /* untouched, still partial */
    ck_assert(!ip4_csum_ok(rx_buf(b, 0), sizeof(g)));
    ck_assert_int_eq(rx_rsp(c, 0, 0)->flags, 0);
    ck_assert(ip4_csum_ok(rx_buf(c, 0), sizeof(g)));
    ck_assert_mem_eq(rx_buf(c, 0), g, 34 + 6); /* only the checksum changed */
    ck_assert_mem_eq(rx_buf(c, 0) + 42, g + 42, sizeof(g) - 42);
    /* The same for TCP. */
    make_ip4(g, 200, BCAST, src, false, 4);
    tx_frame(a, 0, g, 200, PAGE, 1);
    RING_GET_REQUEST(&a->tx[0], 1)->flags |= NETTXF_csum_blank;
    poll();
    ck_assert(ip4_csum_ok(rx_buf(c, 1), 200));
    ck_assert_str_eq(reports(), "");
}
END_TEST

/* Offload asked for a frame that has no TCP/UDP checksum: refused. */
START_TEST(test_csum_blank_not_ip)
{
    connect2();
    struct fe_vif *a = &vifs[0];
    uint8_t g[100];
    make_frame(g, sizeof(g), BCAST, BCAST, 1);
    tx_frame(a, 0, g, sizeof(g), PAGE, 4);
    RING_GET_REQUEST(&a->tx[0], 0)->flags |= NETTXF_csum_blank;
    xs_pvdev_sim_poll(&sim);
    expect_dropped(a, 0, 1,
                   "tx request 0 (id 4): NETTXF_csum_blank on a frame that is not TCP or "
                   "UDP over IPv4 or IPv6; packet dropped");
    /* A GSO frame must be TCP. */
    make_ip4(g, sizeof(g), BCAST, BCAST, true, 2);
    tx_gso(a, g, sizeof(g), XEN_NETIF_GSO_TYPE_TCPV4, 1448, XEN_NETIF_EXTRA_TYPE_GSO,
           false);
    xs_pvdev_sim_poll(&sim);
    ck_assert_int_eq(tx_rsp(a, 0, 1)->status, NETIF_RSP_ERROR);
    ck_assert_int_eq(tx_rsp(a, 0, 2)->status, NETIF_RSP_NULL);
    ck_assert(strstr(reports(), "GSO on a frame that is not TCP over IPv4 or IPv6"));
}
END_TEST

/* A GSO frame without csum_blank gets its pseudo-header sum (Linux's
 * recalculated partial checksum) and arrives as partial. */
START_TEST(test_gso_pseudo_header)
{
    connect2();
    struct fe_vif *a = &vifs[0], *b = &vifs[1];
    post_rx(b, 0, 4);
    static uint8_t g[2000];
    make_ip4(g, sizeof(g), BCAST, BCAST, false, 5);
    uint8_t want[2] = {g[50], g[51]};
    g[50] = g[51] = 0x77; /* garbage where the partial sum goes */
    memcpy(txd_page(a, 0), g, sizeof(g));
    grant(txd_ref(a, 0), TXD_GFN + 32 * a->id, true);
    netif_tx_request_t *r = tx_slot(a, 0);
    r->gref = txd_ref(a, 0);
    r->size = sizeof(g);
    r->flags = NETTXF_extra_info;
    struct netif_extra_info *ex = (struct netif_extra_info *)tx_slot(a, 0);
    ex->type = XEN_NETIF_EXTRA_TYPE_GSO;
    ex->u.gso.type = XEN_NETIF_GSO_TYPE_TCPV4;
    ex->u.gso.size = 1000;
    tx_push(a, 0);
    poll();
    ck_assert_uint_eq(rx_rsp_prod(b, 0), 2);
    ck_assert_int_eq(rx_rsp(b, 0, 0)->flags,
                     NETRXF_extra_info | NETRXF_csum_blank | NETRXF_data_validated);
    ck_assert_mem_eq(rx_buf(b, 0) + 50, want, 2);
}
END_TEST

/* ---- the ring sanitizer -------------------------------------------------- */

START_TEST(test_tx_prod_too_far)
{
    connect2();
    vifs[0].tx[0].sring->req_prod = 300;
    expect_fatal(&vifs[0],
                 "vif 0 queue 0 tx: request producer 300 is 300 requests ahead of "
                 "consumer 0 (ring size 256); ring no longer serviced");
}
END_TEST

START_TEST(test_tx_prod_backwards)
{
    connect2();
    struct fe_vif *a = &vifs[0];
    uint8_t g[64];
    make_frame(g, sizeof(g), BCAST, BCAST, 1);
    tx_frame(a, 0, g, sizeof(g), PAGE, 0);
    tx_frame(a, 0, g, sizeof(g), PAGE, 1);
    xs_pvdev_sim_poll(&sim);
    ck_assert_uint_eq(tx_rsp_prod(a, 0), 2);
    a->tx[0].sring->req_prod = 1;
    expect_fatal(a, "request producer moved backwards from 2 to 1");
}
END_TEST

START_TEST(test_rx_prod_too_far)
{
    connect2();
    struct fe_vif *a = &vifs[0], *b = &vifs[1];
    b->rx[0].sring->req_prod = 1000;
    uint8_t g[64];
    make_frame(g, sizeof(g), BCAST, BCAST, 1);
    tx_frame(a, 0, g, sizeof(g), PAGE, 0);
    poll();
    ck_assert(xs_netback_disabled(b->dev));
    ck_assert(strstr(reports(),
                     "vif 1 queue 0 rx: request producer 1000 is 1000 requests "
                     "ahead of consumer 0 (ring size 256)"));
    ck_assert_uint_eq(rx_rsp_prod(b, 0), 0);
}
END_TEST

START_TEST(test_rx_bad_buffer)
{
    connect2();
    struct fe_vif *a = &vifs[0], *b = &vifs[1];
    post_rx(b, 0, 2);
    ungrant(REF_RXB + RXB_PER_VIF * 1 + 0);
    uint8_t g[64];
    make_frame(g, sizeof(g), BCAST, BCAST, 1);
    tx_frame(a, 0, g, sizeof(g), PAGE, 0);
    tx_frame(a, 0, g, sizeof(g), PAGE, 1);
    poll();
    ck_assert_uint_eq(rx_rsp_prod(b, 0), 2);
    ck_assert_int_eq(rx_rsp(b, 0, 0)->status, NETIF_RSP_ERROR);
    ck_assert_int_eq(rx_rsp(b, 0, 1)->status, 64);
    ck_assert(strstr(reports(),
                     "vif 1 queue 0 rx request 0 (id 0): grant copy into grant ref"));
    ck_assert_uint_eq(xs_netback_stats(b->dev)->rx_errors, 1);
    ck_assert_uint_eq(xs_netback_stats(b->dev)->rx_frames, 1);
}
END_TEST

/* ---- handshake ----------------------------------------------------------- */

START_TEST(test_no_rx_copy)
{
    front_connect(&vifs[0], (struct fe_opts){.no_rx_copy = true});
    ck_assert_int_eq(be_state(&vifs[0]), XenbusStateClosing);
    char path[128];
    snprintf(path, sizeof(path), "/local/domain/0/error/backend/vif/%u/0", dom->domid);
    ck_assert(strstr(node(path, "error"), "only rx-copy supported"));
    ck_assert_uint_eq(vifs[0].dev->grant_maps, 0);
}
END_TEST

START_TEST(test_too_many_queues)
{
    front_connect(&vifs[0], (struct fe_opts){.nq = 5});
    ck_assert_int_eq(be_state(&vifs[0]), XenbusStateClosing);
    ck_assert(strstr(reports(), "frontend asked for 5 queues (1..4 offered)"));
    ck_assert_uint_eq(vifs[0].dev->grant_maps, 0);
}
END_TEST

START_TEST(test_bad_port)
{
    struct fe_vif *v = &vifs[0];
    front_connect(v, (struct fe_opts){.nq = 2});
    ck_assert_int_eq(be_state(v), XenbusStateConnected);
    fe_write(v, "state", "%d", XenbusStateClosed);
    xs_pvdev_sim_poll(&sim);
    fe_write(v, "state", "%d", XenbusStateInitialising);
    xs_pvdev_sim_poll(&sim);
    /* Queue 1's port is not unbound for Dom0: queue 0 goes again too. */
    fe_write(v, "queue-1/event-channel", "%d", 4000);
    fe_write(v, "state", "%d", XenbusStateConnected);
    xs_pvdev_sim_poll(&sim);
    ck_assert_int_eq(be_state(v), XenbusStateClosing);
    ck_assert(strstr(reports(), "queue 1: event-channel 4000 is not an unbound port"));
    ck_assert_uint_eq(v->dev->grant_maps, 0);
}
END_TEST

/* Split event channels: tx completions raise the tx port, rx the rx port. */
START_TEST(test_split_event_channels)
{
    front_connect(&vifs[0], (struct fe_opts){.split = true});
    front_connect(&vifs[1], (struct fe_opts){.split = true});
    struct fe_vif *a = &vifs[0], *b = &vifs[1];
    ck_assert_uint_ne(a->txp[0], a->rxp[0]);
    post_rx(b, 0, 2);
    uint8_t g[64];
    make_frame(g, sizeof(g), BCAST, BCAST, 1);
    tx_frame(a, 0, g, sizeof(g), PAGE, 0);
    poll();
    ck_assert(xs_evtchn_is_pending(dom, a->txp[0]));
    ck_assert(!xs_evtchn_is_pending(dom, a->rxp[0]));
    ck_assert(xs_evtchn_is_pending(dom, b->rxp[0]));
    ck_assert(!xs_evtchn_is_pending(dom, b->txp[0]));
    ck_assert_uint_eq(rx_rsp_prod(b, 0), 1);
}
END_TEST

/* Two queues: a flow lands on the queue its hash picks, both tx rings
 * work. */
START_TEST(test_multi_queue)
{
    front_connect(&vifs[0], (struct fe_opts){.nq = 2});
    front_connect(&vifs[1], (struct fe_opts){.nq = 2});
    struct fe_vif *a = &vifs[0], *b = &vifs[1];
    ck_assert_uint_eq(xs_netback_nr_queues(a->dev), 2);
    post_rx(b, 0, 8);
    post_rx(b, 1, 8);
    uint8_t src[6];
    mac_of(0, src);
    unsigned per_queue[2] = {0, 0};
    for (unsigned i = 0; i < 8; i++) {
        /* IPv4 UDP from port 1000 + i. */
        uint8_t g[60];
        make_frame(g, sizeof(g), BCAST, src, i);
        g[12] = 0x08, g[13] = 0x00, g[14] = 0x45, g[20] = g[21] = 0, g[23] = 17;
        g[34] = (uint8_t)((1000 + i) >> 8), g[35] = (uint8_t)(1000 + i);
        struct xs_netframe *fr = xs_netframe_new(sizeof(g));
        memcpy(fr->data, g, sizeof(g));
        per_queue[xs_netback_rx_queue_of(fr, 2)]++;
        free(fr);
        tx_frame(a, i & 1, g, sizeof(g), PAGE, (uint16_t)i);
        xs_pvdev_sim_poll(&sim);
    }
    poll();
    ck_assert_uint_eq(tx_rsp_prod(a, 0), 4);
    ck_assert_uint_eq(tx_rsp_prod(a, 1), 4);
    ck_assert_uint_gt(per_queue[0], 0);
    ck_assert_uint_gt(per_queue[1], 0);
    ck_assert_uint_eq(rx_rsp_prod(b, 0), per_queue[0]);
    ck_assert_uint_eq(rx_rsp_prod(b, 1), per_queue[1]);
    ck_assert_uint_eq(xs_netback_stats(b->dev)->rx_frames, 8);
}
END_TEST

/* Closing answers tx requests left on the ring; Closed unmaps everything
 * and drops queued frames; the frontend can connect again. */
START_TEST(test_disconnect_and_reconnect)
{
    connect2();
    struct fe_vif *a = &vifs[0], *b = &vifs[1];
    ck_assert_uint_eq(a->dev->grant_maps, 2);
    uint8_t g[64];
    make_frame(g, sizeof(g), BCAST, BCAST, 1);
    tx_frame(a, 0, g, sizeof(g), PAGE, 0); /* queued at b, no buffers */
    poll();
    tx_frame(b, 0, g, sizeof(g), PAGE, 5); /* left on b's ring */
    fe_write(b, "state", "%d", XenbusStateClosing);
    xs_pvdev_sim_poll(&sim);
    ck_assert_int_eq(be_state(b), XenbusStateClosing);
    ck_assert_uint_eq(tx_rsp_prod(b, 0), 1);
    ck_assert_int_eq(tx_rsp(b, 0, 0)->id, 5);
    ck_assert_int_eq(tx_rsp(b, 0, 0)->status, NETIF_RSP_ERROR);
    ck_assert_uint_eq(b->dev->grant_maps, 0);
    ck_assert_uint_eq(xs_netback_nr_queues(b->dev), 0);
    fe_write(b, "state", "%d", XenbusStateClosed);
    xs_pvdev_sim_poll(&sim);
    ck_assert_int_eq(be_state(b), XenbusStateClosed);
    fe_write(b, "state", "%d", XenbusStateInitialising);
    xs_pvdev_sim_poll(&sim);
    ck_assert_int_eq(be_state(b), XenbusStateInitWait);
    front_connect(b, (struct fe_opts){0});
    ck_assert_int_eq(be_state(b), XenbusStateConnected);
    post_rx(b, 0, 2);
    tx_frame(a, 0, g, sizeof(g), PAGE, 1);
    poll();
    ck_assert_uint_eq(rx_rsp_prod(b, 0), 1);
    ck_assert_uint_eq(xs_netback_stats(b->dev)->connects, 2);
    /* Hot-unplug: the device goes once the frontend is Closed. */
    xs_pvdev_unplug(b->dev);
    ck_assert_int_eq(be_state(b), XenbusStateClosing);
    fe_write(b, "state", "%d", XenbusStateClosed);
    xs_pvdev_sim_poll(&sim);
    ck_assert_ptr_null(xs_pvdev_find(&sim, dom, "vif", 1));
    ck_assert_str_eq(node(b->be, "state"), "");
}
END_TEST

/* The rx queue is bounded: frames beyond it are dropped and counted. */
START_TEST(test_rx_queue_bound)
{
    connect2();
    struct fe_vif *a = &vifs[0], *b = &vifs[1];
    uint8_t g[64];
    make_frame(g, sizeof(g), BCAST, BCAST, 1);
    unsigned sent = 0;
    while (sent < XS_NETBACK_RXQ_MAX + 20) {
        for (unsigned i = 0; i < 100; i++, sent++)
            tx_frame(a, 0, g, sizeof(g), PAGE, (uint16_t)sent);
        poll();
    }
    ck_assert_uint_eq(xs_netback_stats(a->dev)->tx_frames, sent);
    ck_assert_uint_eq(xs_netback_stats(b->dev)->rx_dropped, sent - XS_NETBACK_RXQ_MAX);
}
END_TEST

/* ---- pcap ---------------------------------------------------------------- */

START_TEST(test_pcap_file)
{
    char path[] = "/tmp/xensim-netback-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    teardown();
    setup_novif();
    add_vif(0, &(struct xs_netback_cfg){.pcap = path});
    add_vif(1, &(struct xs_netback_cfg){0});
    connect2();
    struct fe_vif *a = &vifs[0], *b = &vifs[1];
    post_rx(a, 0, 4);
    uint8_t g[100], h[70];
    make_frame(g, sizeof(g), BCAST, BCAST, 1);
    make_frame(h, sizeof(h), BCAST, BCAST, 2);
    sim.vtime_ns = 1500000123;
    tx_frame(a, 0, g, sizeof(g), PAGE, 0); /* sent by a */
    tx_frame(b, 0, h, sizeof(h), PAGE, 0); /* received by a */
    poll();
    ck_assert_uint_eq(rx_rsp_prod(a, 0), 1);
    teardown();
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    uint8_t buf[512];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    unlink(path);
    ck_assert_uint_eq(n, 24 + 16 + 100 + 16 + 70);
    uint32_t w[6];
    memcpy(w, buf, sizeof(w));
    ck_assert_uint_eq(w[0], 0xa1b23c4d);
    ck_assert_uint_eq(w[0 + 4], 65535);
    ck_assert_uint_eq(w[5], 1);
    memcpy(w, buf + 24, 16);
    ck_assert_uint_eq(w[0], 1);
    ck_assert_uint_eq(w[1], 500000123);
    ck_assert_uint_eq(w[2], 100);
    ck_assert_uint_eq(w[3], 100);
    ck_assert_mem_eq(buf + 40, g, 100);
    memcpy(w, buf + 140, 16);
    ck_assert_uint_eq(w[2], 70);
    ck_assert_mem_eq(buf + 156, h, 70);
    setup_novif(); /* for the fixture's teardown */
}
END_TEST

START_TEST(test_pcap_open_error)
{
    char err[512] = "";
    struct xs_pvdev *d = xs_pvdev_add(
        &sim, "vif", dom, 5, &(struct xs_netback_cfg){.pcap = "/nonexistent/x.pcap"}, err,
        sizeof(err));
    ck_assert_ptr_null(d);
    ck_assert_str_eq(
        err, "nic 5: /nonexistent/x.pcap: cannot create pcap file: No such file or "
             "directory");
    ck_assert_ptr_null(xs_pvdev_find(&sim, dom, "vif", 5));
}
END_TEST

START_TEST(test_mac_parse)
{
    uint8_t m[6];
    ck_assert_int_eq(xs_netback_parse_mac("00:16:3e:AB:cd:09", m), 0);
    ck_assert_mem_eq(m, "\x00\x16\x3e\xab\xcd\x09", 6);
    ck_assert_int_eq(xs_netback_parse_mac("00:16:3e:ab:cd", m), -1);
    ck_assert_int_eq(xs_netback_parse_mac("00:16:3e:ab:cd:0g", m), -1);
    ck_assert_int_eq(xs_netback_parse_mac("00-16-3e-ab-cd-09", m), -1);
    ck_assert_int_eq(xs_netback_parse_mac("00:16:3e:ab:cd:091", m), -1);
    xs_netback_default_mac(0x1234, 7, m);
    ck_assert_mem_eq(m, "\x00\x16\x3e\x12\x34\x07", 6);
}
END_TEST

Suite *netback_suite(void)
{
    Suite *s = suite_create("netback");
    TCase *tc = tcase_create("netback");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_publish);
    tcase_add_test(tc, test_tx_reaches_peer);
    tcase_add_test(tc, test_sg_both_ways);
    tcase_add_test(tc, test_rx_no_sg_drops_big);
    tcase_add_test(tc, test_rx_waits_for_buffers);
    tcase_add_test(tc, test_switch_learning);
    tcase_add_test(tc, test_switches_apart);
    tcase_add_test(tc, test_tx_short_header);
    tcase_add_test(tc, test_tx_sizes_do_not_add_up);
    tcase_add_test(tc, test_tx_bad_grant);
    tcase_add_test(tc, test_tx_slot_limits);
    tcase_add_test(tc, test_tx_crosses_page);
    tcase_add_test(tc, test_tx_frag_crosses_page);
    tcase_add_test(tc, test_tx_past_producer);
    tcase_add_test(tc, test_tx_gso_to_peer);
    tcase_add_test(tc, test_tx_gso_peer_without_gso);
    tcase_add_test(tc, test_tx_gso_size_zero);
    tcase_add_test(tc, test_tx_gso_bad_type);
    tcase_add_test(tc, test_tx_extra_bad_type);
    tcase_add_test(tc, test_tx_extra_missing);
    tcase_add_test(tc, test_tx_mcast);
    tcase_add_test(tc, test_csum_offload);
    tcase_add_test(tc, test_csum_blank_not_ip);
    tcase_add_test(tc, test_gso_pseudo_header);
    tcase_add_test(tc, test_tx_prod_too_far);
    tcase_add_test(tc, test_tx_prod_backwards);
    tcase_add_test(tc, test_rx_prod_too_far);
    tcase_add_test(tc, test_rx_bad_buffer);
    tcase_add_test(tc, test_no_rx_copy);
    tcase_add_test(tc, test_too_many_queues);
    tcase_add_test(tc, test_bad_port);
    tcase_add_test(tc, test_split_event_channels);
    tcase_add_test(tc, test_multi_queue);
    tcase_add_test(tc, test_disconnect_and_reconnect);
    tcase_add_test(tc, test_rx_queue_bound);
    tcase_add_test(tc, test_pcap_file);
    tcase_add_test(tc, test_pcap_open_error);
    tcase_add_test(tc, test_mac_parse);
    suite_add_tcase(s, tc);
    return s;
}
