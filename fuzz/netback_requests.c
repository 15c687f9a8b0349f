/* libFuzzer harness for xensim's netback: a hostile frontend.  One
 * simulation with one domain (a tiny PVH image built in memory, never run)
 * and two vifs on one switch: vif 0 is the frontend the input plays, vif 1
 * a well-behaved peer the harness drives (it sends broadcast frames that
 * reach vif 0's rx ring, and swallows what vif 0 sends).  Each input
 * connects both with the shape its first byte asks for, then plays vif 0's
 * frontend: raw tx and rx request slots, producer indexes, grant entries,
 * scribbles over the ring pages, frames from the peer, state changes; the
 * real netback (emulator/netback*.c, netswitch.c, pvdev.c) serves it
 * through the run loop's device poll.  Input format (see fuzz/README.md):
 *
 *   cfg:u8  repeat { op:u8 args }
 *
 *   (cfg & 3) + 1   queues (multi-queue-num-queues when > 1)
 *   cfg & 4         split event channels
 *   cfg & 8         feature-sg
 *   cfg & 16        feature-gso-tcpv4 and -tcpv6
 *   op % 8, queue (op >> 3) % queues:
 *     0 tx     n:u8 bytes[min(n,12)]   a tx request slot (zero-padded), pushed
 *     1 txprod v:u32le                 tx req_prod = v
 *     2 rx     n:u8 bytes[min(n,8)]    an rx request slot (zero-padded), pushed
 *     3 rxprod v:u32le                 rx req_prod = v
 *     4 grant  ref:u16le page:u8 fl:u8 grant entry ref (32..511) for one of 64
 *                                      data pages; fl bit 0 no access, bit 1
 *                                      read-only, bit 2 for domain fl >> 3
 *     5 peer   len:u16le gso:u8        the peer sends a broadcast frame of
 *                                      14 + len % 9000 bytes in up to three
 *                                      slots (GSO TCPv4 if gso & 1)
 *     6 poke   off:u16le n:u8 bytes[n] raw bytes into the queue's tx+rx ring pages
 *     7 ctl    s:u8                    s % 12 < 9: the frontend's state node,
 *                                      then a poll; 9: reconnect; 10, 11: poll
 *   At the end: two polls, then the frontend goes Closed.
 *
 * Oracles: the sanitizers, and after the frontend closes netback holds no
 * grant mapping and no ring.  NETBACK_FUZZ_LOG=1 shows xensim's log (the
 * reports, the connects, each vif's counters) when replaying an input. */
#include <elf.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ring_check.h"
#include <xen/elfnote.h>
#include <xen/io/netif.h>
#include <xen/memory.h>
#include <xensim/abi.h>

#include "evtchn.h"
#include "hypercall.h"
#include "netback.h"
#include "pvdev.h"
#include "sim.h"
#include "xenstore.h"

#define PAGE      4096u
#define XATP      0x811000ULL
#define GT_GFN    0xa00ULL
#define RING_GFN  0xb00ULL /* vif 0: queue q tx at 2q, rx at 2q + 1 */
#define PEER_GFN  0xb40ULL /* vif 1: tx ring, rx ring */
#define DATA_GFN  0xc00ULL
#define DATA_PGS  64u
#define PEER_DATA 0xd00ULL /* the peer's 3 tx pages, then 8 rx buffers from +8 */
#define NR_REFS   512u     /* one v1 grant frame */
#define REF_RING  8u       /* vif 0's ring refs 8..15 */
#define REF_PEER  16u /* the peer's: 16 tx ring, 17 rx ring, 18..20 tx data, 24..31 rx */
#define REF_FUZZ  32u /* the input's grants: 32..511 */
#define MAXQ      4u
#define CODE_PA   0x100000u

struct harness {
    struct xs_sim sim;
    struct xs_domain *dom;
    struct xs_pvdev *dev, *peer;
    evtchn_port_t port[2 * MAXQ], peer_port;
    char fe[96], peer_fe[96];
    /* this input's shape and rings */
    unsigned nq;
    bool split, sg, gso;
    netif_tx_front_ring_t tx[MAXQ];
    netif_rx_front_ring_t rx[MAXQ];
    netif_tx_front_ring_t ptx;
    netif_rx_front_ring_t prx;
};

static struct harness *H;

/* ---- set-up, once -------------------------------------------------------------- */

static void note(uint8_t *p, size_t *pos, const char *name, uint32_t type,
                 const void *desc, uint32_t descsz)
{
    uint32_t namesz = (uint32_t)strlen(name) + 1, hdr[3] = {namesz, descsz, type};
    memcpy(p + *pos, hdr, sizeof(hdr));
    *pos += sizeof(hdr);
    memcpy(p + *pos, name, namesz);
    *pos += (namesz + 3) & ~3u;
    memcpy(p + *pos, desc, descsz);
    *pos += (descsz + 3) & ~3u;
}

/* The smallest image the loader takes: one R+X segment of hlt, the PVH
 * entry note and xensim's ENTRY64 note.  Written to a memfd. */
static int image_fd(void)
{
    static uint8_t img[1024];
    Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
    Elf64_Phdr *ph = (Elf64_Phdr *)(img + sizeof(*eh));
    size_t pos = sizeof(*eh) + 2 * sizeof(*ph), notes = pos;
    uint32_t phys32 = CODE_PA;
    uint64_t entry64 = CODE_PA;
    note(img, &pos, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &phys32, 4);
    note(img, &pos, XSNOTE_NAME, XSNOTE_ENTRY64, &entry64, 8);
    size_t code = (pos + 15) & ~(size_t)15;
    memset(img + code, 0xf4, 16);
    ph[0] = (Elf64_Phdr){.p_type = PT_LOAD,
                         .p_flags = PF_R | PF_X,
                         .p_offset = code,
                         .p_vaddr = CODE_PA,
                         .p_paddr = CODE_PA,
                         .p_filesz = 16,
                         .p_memsz = 16,
                         .p_align = 16};
    ph[1] = (Elf64_Phdr){.p_type = PT_NOTE,
                         .p_flags = PF_R,
                         .p_offset = notes,
                         .p_filesz = pos - notes,
                         .p_memsz = pos - notes,
                         .p_align = 4};
    memcpy(eh->e_ident, ELFMAG, SELFMAG);
    eh->e_ident[EI_CLASS] = ELFCLASS64;
    eh->e_ident[EI_DATA] = ELFDATA2LSB;
    eh->e_ident[EI_VERSION] = EV_CURRENT;
    eh->e_type = ET_EXEC;
    eh->e_machine = EM_X86_64;
    eh->e_version = EV_CURRENT;
    eh->e_entry = CODE_PA;
    eh->e_phoff = sizeof(*eh);
    eh->e_ehsize = sizeof(*eh);
    eh->e_phentsize = sizeof(*ph);
    eh->e_phnum = 2;
    int fd = memfd_create("netfuzz.elf", 0);
    if (fd < 0 || write(fd, img, code + 16) != (ssize_t)(code + 16)) abort();
    return fd;
}

static void die(const char *what, const char *err)
{
    fprintf(stderr, "netback fuzz set-up: %s: %s\n", what, err);
    abort();
}

static void setup(void)
{
    H = calloc(1, sizeof(*H));
    /* NETBACK_FUZZ_LOG=1: xensim's log and reports on stderr (replaying). */
    FILE *devnull = getenv("NETBACK_FUZZ_LOG") ? stderr : fopen("/dev/null", "w");
    char err[512] = "", path[64];
    struct xs_sim_config cfg = {.seed = 1, .log = devnull};
    if (!H || !devnull || xs_sim_init(&H->sim, &cfg, err, sizeof(err)) ||
        xs_xenstore_attach(&H->sim, NULL, err, sizeof(err)))
        die("simulation", err);
    snprintf(path, sizeof(path), "/proc/self/fd/%d", image_fd());
    struct xs_domain_config dc = {
        .name = "f", .image_path = path, .memory_mib = 16, .vcpus = 1, .cmdline = ""};
    H->dom = xs_domain_create(&H->sim, &dc, err, sizeof(err));
    if (!H->dom) die("domain", err);
    struct xen_add_to_physmap x = {
        .domid = DOMID_SELF, .space = XENMAPSPACE_grant_table, .idx = 0, .gpfn = GT_GFN};
    memcpy(H->dom->base + XATP, &x, sizeof(x));
    const uint64_t a[5] = {XENMEM_add_to_physmap,
                           (uint64_t)(uintptr_t)H->dom->base + XATP};
    if (xs_hypercall_call(xs_vcpu_of(H->dom, 0), __HYPERVISOR_memory_op, a)) abort();
    for (unsigned i = 0; i < 2 * MAXQ; i++)
        H->port[i] = (evtchn_port_t)xs_evtchn_alloc_unbound_for(H->dom, 0);
    H->peer_port = (evtchn_port_t)xs_evtchn_alloc_unbound_for(H->dom, 0);
    struct xs_netback_cfg nc = {0};
    H->dev = xs_pvdev_add(&H->sim, "vif", H->dom, 0, &nc, err, sizeof(err));
    if (!H->dev) die("vif 0", err);
    H->peer = xs_pvdev_add(&H->sim, "vif", H->dom, 1, &nc, err, sizeof(err));
    if (!H->peer) die("vif 1", err);
    snprintf(H->fe, sizeof(H->fe), "/local/domain/%u/device/vif/0", H->dom->domid);
    snprintf(H->peer_fe, sizeof(H->peer_fe), "/local/domain/%u/device/vif/1",
             H->dom->domid);
}

/* ---- the frontends --------------------------------------------------------------- */

static uint8_t *page_of(uint64_t gfn)
{
    return H->dom->base + gfn * PAGE;
}

static void grant(grant_ref_t ref, uint64_t gfn, uint16_t flags, domid_t domid)
{
    grant_entry_v1_t *e = (grant_entry_v1_t *)page_of(GT_GFN) + ref;
    e->domid = domid;
    e->frame = (uint32_t)gfn;
    e->flags = flags;
}

static void xs_write(const char *dir, const char *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void xs_write(const char *dir, const char *node, const char *fmt, ...)
{
    char path[192], val[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(val, sizeof(val), fmt, ap);
    va_end(ap);
    snprintf(path, sizeof(path), "%s/%s", dir, node);
    xs_xenstore_write(H->sim.xenstore, path, val, strlen(val));
}

static void xs_rm(const char *dir, const char *node)
{
    char path[192];
    snprintf(path, sizeof(path), "%s/%s", dir, node);
    xs_xenstore_rm(H->sim.xenstore, path);
}

static void state(const char *dir, enum xenbus_state s)
{
    xs_write(dir, "state", "%d", (int)s);
    xs_pvdev_sim_poll(&H->sim);
}

/* vif 0: fresh rings and the nodes naming them, then Connected. */
static void connect(void)
{
    const char *fe = H->fe;
    state(fe, XenbusStateInitialising);
    xs_rm(fe, "multi-queue-num-queues");
    for (unsigned q = 0; q < MAXQ; q++) {
        char node[32];
        snprintf(node, sizeof(node), "queue-%u", q);
        xs_rm(fe, node);
    }
    static const char *const nodes[] = {"tx-ring-ref", "rx-ring-ref", "event-channel",
                                        "event-channel-tx", "event-channel-rx"};
    for (unsigned i = 0; i < 5; i++)
        xs_rm(fe, nodes[i]);
    for (unsigned q = 0; q < H->nq; q++) {
        char dir[16] = "", node[48];
        if (H->nq > 1) snprintf(dir, sizeof(dir), "queue-%u/", q);
        uint64_t txg = RING_GFN + 2 * q, rxg = txg + 1;
        netif_tx_sring_t *ts = (netif_tx_sring_t *)page_of(txg);
        netif_rx_sring_t *rs = (netif_rx_sring_t *)page_of(rxg);
        memset(ts, 0, PAGE);
        memset(rs, 0, PAGE);
        SHARED_RING_INIT(ts);
        SHARED_RING_INIT(rs);
        FRONT_RING_INIT(&H->tx[q], ts, PAGE);
        FRONT_RING_INIT(&H->rx[q], rs, PAGE);
        grant(REF_RING + 2 * q, txg, GTF_permit_access, 0);
        grant(REF_RING + 2 * q + 1, rxg, GTF_permit_access, 0);
        snprintf(node, sizeof(node), "%stx-ring-ref", dir);
        xs_write(fe, node, "%u", REF_RING + 2 * q);
        snprintf(node, sizeof(node), "%srx-ring-ref", dir);
        xs_write(fe, node, "%u", REF_RING + 2 * q + 1);
        if (H->split) {
            snprintf(node, sizeof(node), "%sevent-channel-tx", dir);
            xs_write(fe, node, "%u", H->port[2 * q]);
            snprintf(node, sizeof(node), "%sevent-channel-rx", dir);
            xs_write(fe, node, "%u", H->port[2 * q + 1]);
        } else {
            snprintf(node, sizeof(node), "%sevent-channel", dir);
            xs_write(fe, node, "%u", H->port[2 * q]);
        }
    }
    if (H->nq > 1) xs_write(fe, "multi-queue-num-queues", "%u", H->nq);
    xs_write(fe, "request-rx-copy", "1");
    xs_write(fe, "feature-rx-notify", "1");
    xs_write(fe, "feature-sg", "%d", H->sg);
    xs_write(fe, "feature-gso-tcpv4", "%d", H->gso);
    xs_write(fe, "feature-gso-tcpv6", "%d", H->gso);
    state(fe, XenbusStateConnected);
}

/* The peer: one queue, shared channel, sg, 8 rx buffers. */
static void peer_connect(void)
{
    const char *fe = H->peer_fe;
    state(fe, XenbusStateInitialising);
    netif_tx_sring_t *ts = (netif_tx_sring_t *)page_of(PEER_GFN);
    netif_rx_sring_t *rs = (netif_rx_sring_t *)page_of(PEER_GFN + 1);
    memset(ts, 0, PAGE);
    memset(rs, 0, PAGE);
    SHARED_RING_INIT(ts);
    SHARED_RING_INIT(rs);
    FRONT_RING_INIT(&H->ptx, ts, PAGE);
    FRONT_RING_INIT(&H->prx, rs, PAGE);
    grant(REF_PEER, PEER_GFN, GTF_permit_access, 0);
    grant(REF_PEER + 1, PEER_GFN + 1, GTF_permit_access, 0);
    xs_write(fe, "tx-ring-ref", "%u", REF_PEER);
    xs_write(fe, "rx-ring-ref", "%u", REF_PEER + 1);
    xs_write(fe, "event-channel", "%u", H->peer_port);
    xs_write(fe, "request-rx-copy", "1");
    xs_write(fe, "feature-sg", "1");
    state(fe, XenbusStateConnected);
    for (unsigned i = 0; i < 8; i++) {
        grant(REF_PEER + 8 + i, PEER_DATA + 8 + i, GTF_permit_access, 0);
        netif_rx_request_t *r = RING_GET_REQUEST(&H->prx, H->prx.req_prod_pvt);
        r->id = (uint16_t)i;
        r->gref = REF_PEER + 8 + i;
        H->prx.req_prod_pvt++;
    }
    RING_PUSH_REQUESTS(&H->prx);
}

/* The peer sends a broadcast frame (a GSO frame with its extra) in slots
 * of at most a page, if its ring has room. */
static void peer_send(uint16_t len, bool gso)
{
    if (H->ptx.req_prod_pvt - H->ptx.sring->rsp_prod > RING_SIZE(&H->ptx) - 8) return;
    unsigned size = 14u + len % 9000u;
    uint8_t *d = page_of(PEER_DATA);
    for (unsigned i = 0; i < size; i++)
        d[i] = (uint8_t)i; /* the pages are consecutive */
    memset(d, 0xff, 6);
    memset(d + 6, 0x02, 6);
    d[12] = 0x08;
    d[13] = 0x00;
    if (gso && size >= 54) {
        /* IPv4 and TCP headers: GSO needs them (netback_csum.c). */
        memset(d + 14, 0, 40);
        d[14] = 0x45;
        d[16] = (uint8_t)((size - 14) >> 8);
        d[17] = (uint8_t)(size - 14);
        d[23] = 6;
        d[46] = 0x50;
    }
    for (unsigned off = 0, n = 0; off < size; off += PAGE, n++) {
        unsigned chunk = size - off < PAGE ? size - off : PAGE;
        grant(REF_PEER + 2 + n, PEER_DATA + n, GTF_permit_access | GTF_readonly, 0);
        netif_tx_request_t *r = RING_GET_REQUEST(&H->ptx, H->ptx.req_prod_pvt++);
        memset(r, 0, sizeof(*r));
        r->gref = REF_PEER + 2 + n;
        r->size = (uint16_t)(n == 0 ? size : chunk);
        r->flags = off + chunk < size ? NETTXF_more_data : 0;
        if (n == 0 && gso) {
            r->flags |= NETTXF_extra_info | NETTXF_csum_blank;
            struct netif_extra_info *ex = (struct netif_extra_info *)RING_GET_REQUEST(
                &H->ptx, H->ptx.req_prod_pvt++);
            memset(ex, 0, sizeof(netif_tx_request_t));
            ex->type = XEN_NETIF_EXTRA_TYPE_GSO;
            ex->u.gso.type = XEN_NETIF_GSO_TYPE_TCPV4;
            ex->u.gso.size = 1000;
        }
    }
    RING_PUSH_REQUESTS(&H->ptx);
}

struct in {
    const uint8_t *p;
    size_t n;
};

static bool take(struct in *in, void *out, size_t len)
{
    if (in->n < len) return false;
    memcpy(out, in->p, len);
    in->p += len;
    in->n -= len;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!H) setup();
    if (size < 1) return 0;
    struct in in = {data + 1, size - 1};
    H->nq = (data[0] & 3) + 1;
    H->split = data[0] & 4;
    H->sg = data[0] & 8;
    H->gso = data[0] & 16;
    memset(page_of(GT_GFN), 0, PAGE);
    peer_connect();
    connect();
    uint8_t op;
    while (take(&in, &op, 1)) {
        unsigned q = (op >> 3) % H->nq;
        switch (op % 8) {
        case 0: {
            uint8_t n, buf[sizeof(netif_tx_request_t)] = {0};
            if (!take(&in, &n, 1)) break;
            if (!take(&in, buf, n < sizeof(buf) ? n : sizeof(buf))) break;
            memcpy(RING_GET_REQUEST(&H->tx[q], H->tx[q].req_prod_pvt), buf, sizeof(buf));
            H->tx[q].req_prod_pvt++;
            RING_PUSH_REQUESTS(&H->tx[q]);
            break;
        }
        case 1: {
            uint32_t v;
            if (take(&in, &v, 4)) H->tx[q].sring->req_prod = v;
            break;
        }
        case 2: {
            uint8_t n, buf[sizeof(netif_rx_request_t)] = {0};
            if (!take(&in, &n, 1)) break;
            if (!take(&in, buf, n < sizeof(buf) ? n : sizeof(buf))) break;
            memcpy(RING_GET_REQUEST(&H->rx[q], H->rx[q].req_prod_pvt), buf, sizeof(buf));
            H->rx[q].req_prod_pvt++;
            RING_PUSH_REQUESTS(&H->rx[q]);
            break;
        }
        case 3: {
            uint32_t v;
            if (take(&in, &v, 4)) H->rx[q].sring->req_prod = v;
            break;
        }
        case 4: {
            uint16_t ref;
            uint8_t pg, fl;
            if (!take(&in, &ref, 2) || !take(&in, &pg, 1) || !take(&in, &fl, 1)) break;
            ref %= NR_REFS;
            if (ref < REF_FUZZ) break; /* the rings' and the peer's own */
            uint16_t flags = fl & 1 ? 0 : GTF_permit_access | (fl & 2 ? GTF_readonly : 0);
            grant(ref, DATA_GFN + pg % DATA_PGS, flags, fl & 4 ? (domid_t)(fl >> 3) : 0);
            break;
        }
        case 5: {
            uint16_t len;
            uint8_t g;
            if (take(&in, &len, 2) && take(&in, &g, 1)) peer_send(len, g & 1);
            break;
        }
        case 6: {
            uint16_t off;
            uint8_t n, buf[255];
            if (!take(&in, &off, 2) || !take(&in, &n, 1) || !take(&in, buf, n)) break;
            size_t at = off % (2 * PAGE);
            memcpy(page_of(RING_GFN + 2 * q) + at, buf,
                   n < 2 * PAGE - at ? n : 2 * PAGE - at);
            break;
        }
        default: {
            uint8_t s;
            if (!take(&in, &s, 1)) break;
            if (s % 12 < 9) {
                state(H->fe, (enum xenbus_state)(s % 12));
            } else if (s % 12 == 9) {
                state(H->fe, XenbusStateClosed);
                connect();
            } else {
                xs_pvdev_sim_poll(&H->sim);
            }
            break;
        }
        }
    }
    xs_pvdev_sim_poll(&H->sim);
    xs_pvdev_sim_poll(&H->sim);
    state(H->fe, XenbusStateClosed);
    state(H->peer_fe, XenbusStateClosed);
    /* The backend let go of everything. */
    if (H->dev->grant_maps || xs_netback_nr_queues(H->dev) || H->peer->grant_maps) {
        fprintf(stderr,
                "netback still holds %llu grant mappings, %u queues after Closed\n",
                (unsigned long long)H->dev->grant_maps, xs_netback_nr_queues(H->dev));
        abort();
    }
    /* Reports pile up per domain: forget them between inputs. */
    free(H->dom->reports);
    H->dom->reports = NULL;
    H->dom->reports_len = H->dom->reports_cap = 0;
    return 0;
}
