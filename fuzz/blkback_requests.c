/* libFuzzer harness for xensim's blkback: a hostile frontend.  One
 * simulation with one domain (a tiny PVH image built in memory, never run)
 * and a 1 MiB disk in memory; each input connects the device with the
 * ring shape its first byte asks for, then plays the frontend: raw request
 * slots, producer indexes, grant entries, scribbles over the ring pages and
 * indirect pages, state changes; the real blkback (emulator/blkback*.c and
 * pvdev.c) serves it through the run loop's poll.  Input format (see
 * fuzz/README.md):
 *
 *   cfg:u8  repeat { op:u8 args }
 *
 *   cfg & 7       ring-page-order 0..4 (5..7: the single-page "ring-ref" form)
 *   (cfg>>3) & 3  queues - 1
 *   cfg & 32      offer feature-persistent
 *   op % 8, queue (op >> 3) % queues:
 *     0 req     n:u8 bytes[min(n,112)]  a request slot (zero-padded), pushed
 *     1 prod    v:u32le                 req_prod = v
 *     2 grant   ref:u16le page:u8 fl:u8 grant entry ref for a data/indirect page
 *     3 poke    off:u16le n:u8 bytes[n] raw bytes into the queue's ring pages
 *     4 ind     page:u8 off:u16le n:u8 bytes[n]  into an indirect page
 *     5 poll
 *     6 state   s:u8                    the frontend's state node, then poll
 *     7 reconnect                       Closed, Initialising, the nodes again
 *
 * Oracles: the sanitizers, and after the frontend closes the backend holds
 * no grant mapping and no ring. */
#include <elf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ring_check.h"
#include <xen/elfnote.h>
#include <xen/io/blkif.h>
#include <xen/memory.h>
#include <xensim/abi.h>

#include "blkback.h"
#include "evtchn.h"
#include "hypercall.h"
#include "pvdev.h"
#include "sim.h"
#include "xenstore.h"

#define PAGE     4096u
#define XATP     0x811000ULL
#define GT_GFN   0xa00ULL
#define RING_GFN 0xb00ULL /* 16 pages per queue */
#define DATA_GFN 0xc00ULL
#define DATA_PGS 64u
#define IND_GFN  0xd00ULL
#define IND_PGS  8u
#define NR_REFS  512u /* one v1 grant frame */
#define REF_RING 8u   /* ring refs 8..71 */
#define CODE_PA  0x100000u
#define VDEV     51712u

struct harness {
    struct xs_sim sim;
    struct xs_domain *dom;
    struct xs_pvdev *dev;
    evtchn_port_t port[XS_BLKBACK_MAX_QUEUES];
    char fe[96];
    /* this input's rings */
    unsigned nq, pages;
    int order;
    blkif_front_ring_t fr[XS_BLKBACK_MAX_QUEUES];
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
    int fd = memfd_create("blkfuzz.elf", 0);
    if (fd < 0 || write(fd, img, code + 16) != (ssize_t)(code + 16)) abort();
    return fd;
}

static void setup(void)
{
    H = calloc(1, sizeof(*H));
    FILE *devnull = fopen("/dev/null", "w");
    char err[512] = "", path[64];
    struct xs_sim_config cfg = {.seed = 1, .log = devnull};
    if (!H || !devnull || xs_sim_init(&H->sim, &cfg, err, sizeof(err)) ||
        xs_xenstore_attach(&H->sim, NULL, err, sizeof(err))) {
        fprintf(stderr, "blkback fuzz set-up: %s\n", err);
        abort();
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", image_fd());
    struct xs_domain_config dc = {
        .name = "f", .image_path = path, .memory_mib = 16, .vcpus = 1, .cmdline = ""};
    H->dom = xs_domain_create(&H->sim, &dc, err, sizeof(err));
    if (!H->dom) {
        fprintf(stderr, "blkback fuzz set-up: %s\n", err);
        abort();
    }
    struct xen_add_to_physmap x = {
        .domid = DOMID_SELF, .space = XENMAPSPACE_grant_table, .idx = 0, .gpfn = GT_GFN};
    memcpy(H->dom->base + XATP, &x, sizeof(x));
    const uint64_t a[5] = {XENMEM_add_to_physmap,
                           (uint64_t)(uintptr_t)H->dom->base + XATP};
    if (xs_hypercall_call(xs_vcpu_of(H->dom, 0), __HYPERVISOR_memory_op, a)) abort();
    for (unsigned q = 0; q < XS_BLKBACK_MAX_QUEUES; q++)
        H->port[q] = (evtchn_port_t)xs_evtchn_alloc_unbound_for(H->dom, 0);
    struct xs_blkback_cfg bc = {.size_mib = 1};
    H->dev = xs_pvdev_add(&H->sim, "vbd", H->dom, VDEV, &bc, err, sizeof(err));
    if (!H->dev) {
        fprintf(stderr, "blkback fuzz set-up: %s\n", err);
        abort();
    }
    snprintf(H->fe, sizeof(H->fe), "/local/domain/%u/device/vbd/%u", H->dom->domid, VDEV);
}

/* ---- the frontend ---------------------------------------------------------------- */

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

static void fe_write(const char *node, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void fe_write(const char *node, const char *fmt, ...)
{
    char path[192], val[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(val, sizeof(val), fmt, ap);
    va_end(ap);
    snprintf(path, sizeof(path), "%s/%s", H->fe, node);
    xs_xenstore_write(H->sim.xenstore, path, val, strlen(val));
}

static void fe_rm(const char *node)
{
    char path[192];
    snprintf(path, sizeof(path), "%s/%s", H->fe, node);
    xs_xenstore_rm(H->sim.xenstore, path);
}

static void state(enum xenbus_state s)
{
    fe_write("state", "%d", (int)s);
    xs_pvdev_sim_poll(&H->sim);
}

/* Fresh rings and the nodes naming them, then Initialised. */
static void connect(bool persistent)
{
    state(XenbusStateInitialising);
    fe_rm("ring-page-order");
    fe_rm("multi-queue-num-queues");
    for (unsigned q = 0; q < H->nq; q++) {
        char dir[16] = "", node[40];
        if (H->nq > 1) snprintf(dir, sizeof(dir), "queue-%u/", q);
        blkif_sring_t *s = (blkif_sring_t *)page_of(RING_GFN + 16 * q);
        memset(s, 0, (size_t)H->pages * PAGE);
        SHARED_RING_INIT(s);
        FRONT_RING_INIT(&H->fr[q], s, (size_t)H->pages * PAGE);
        for (unsigned i = 0; i < H->pages; i++) {
            grant_ref_t ref = REF_RING + 16 * q + i;
            grant(ref, RING_GFN + 16 * q + i, GTF_permit_access, 0);
            if (H->order < 0)
                snprintf(node, sizeof(node), "%sring-ref", dir);
            else
                snprintf(node, sizeof(node), "%sring-ref%u", dir, i);
            fe_write(node, "%u", ref);
        }
        snprintf(node, sizeof(node), "%sevent-channel", dir);
        fe_write(node, "%u", H->port[q]);
    }
    if (H->order >= 0) fe_write("ring-page-order", "%d", H->order);
    if (H->nq > 1) fe_write("multi-queue-num-queues", "%u", H->nq);
    fe_write("protocol", "x86_64-abi");
    fe_write("feature-persistent", "%d", persistent);
    state(XenbusStateInitialised);
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
    unsigned order = data[0] & 7;
    H->order = order <= XS_BLKBACK_MAX_RING_ORDER ? (int)order : -1;
    H->pages = H->order < 0 ? 1u : 1u << H->order;
    H->nq = ((data[0] >> 3) & 3) + 1;
    bool persistent = data[0] & 32;
    memset(page_of(GT_GFN), 0, PAGE);
    connect(persistent);
    uint8_t op;
    while (take(&in, &op, 1)) {
        unsigned q = (op >> 3) % H->nq;
        blkif_front_ring_t *fr = &H->fr[q];
        switch (op % 8) {
        case 0: {
            uint8_t n, buf[sizeof(blkif_request_t)] = {0};
            if (!take(&in, &n, 1)) break;
            size_t len = n < sizeof(buf) ? n : sizeof(buf);
            if (!take(&in, buf, len)) break;
            memcpy(RING_GET_REQUEST(fr, fr->req_prod_pvt), buf, sizeof(buf));
            fr->req_prod_pvt++;
            RING_PUSH_REQUESTS(fr);
            break;
        }
        case 1: {
            uint32_t v;
            if (take(&in, &v, 4)) fr->sring->req_prod = v;
            break;
        }
        case 2: {
            uint16_t ref;
            uint8_t pg, fl;
            if (!take(&in, &ref, 2) || !take(&in, &pg, 1) || !take(&in, &fl, 1)) break;
            ref %= NR_REFS;
            if (ref < REF_RING + 16 * XS_BLKBACK_MAX_QUEUES) break; /* the rings' own */
            pg %= DATA_PGS + IND_PGS;
            uint64_t gfn = pg < DATA_PGS ? DATA_GFN + pg : IND_GFN + (pg - DATA_PGS);
            uint16_t flags = fl & 1 ? 0 : GTF_permit_access | (fl & 2 ? GTF_readonly : 0);
            grant(ref, gfn, flags, fl & 4 ? (domid_t)(fl >> 3) : 0);
            break;
        }
        case 3: {
            uint16_t off;
            uint8_t n, buf[255];
            if (!take(&in, &off, 2) || !take(&in, &n, 1) || !take(&in, buf, n)) break;
            size_t room = (size_t)H->pages * PAGE, at = off % room;
            memcpy(page_of(RING_GFN + 16 * q) + at, buf, n < room - at ? n : room - at);
            break;
        }
        case 4: {
            uint8_t pg, n, buf[255];
            uint16_t off;
            if (!take(&in, &pg, 1) || !take(&in, &off, 2) || !take(&in, &n, 1) ||
                !take(&in, buf, n))
                break;
            size_t at = off % PAGE;
            memcpy(page_of(IND_GFN + pg % IND_PGS) + at, buf,
                   n < PAGE - at ? n : PAGE - at);
            break;
        }
        case 5:
            xs_pvdev_sim_poll(&H->sim);
            break;
        case 6: {
            uint8_t s;
            if (take(&in, &s, 1)) state((enum xenbus_state)(s % 9));
            break;
        }
        default:
            state(XenbusStateClosed);
            connect(persistent);
            break;
        }
    }
    xs_pvdev_sim_poll(&H->sim);
    state(XenbusStateClosed);
    /* The backend let go of everything. */
    if (H->dev->grant_maps || xs_blkback_nr_rings(H->dev)) {
        fprintf(stderr,
                "blkback still holds %llu grant mappings, %u rings after Closed\n",
                (unsigned long long)H->dev->grant_maps, xs_blkback_nr_rings(H->dev));
        abort();
    }
    /* Reports pile up per domain: forget them between inputs. */
    free(H->dom->reports);
    H->dom->reports = NULL;
    H->dom->reports_len = H->dom->reports_cap = 0;
    return 0;
}
