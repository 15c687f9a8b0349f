/* blkback, the xenbus side (blkback.h): the toolstack's extra vbd nodes,
 * the features the backend publishes, the frontend's nodes read at
 * connect (rings of one or more pages, queues, event channels, protocol,
 * persistent grants), teardown.  The data path is blkback_io.c. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <xen/io/protocols.h>

#include "blkback_int.h"
#include "evtchn.h"
#include "gnttab.h"
#include "sim.h"

/* ---- create / destroy -------------------------------------------------------- */

static int toolstack_nodes(struct xs_pvdev *dev, const struct xs_blkback_cfg *cfg)
{
    struct blkback *be = dev->priv;
    int e = 0;
    /* What libxl writes for a vbd besides the generic nodes. */
    if (cfg->path)
        e = e ? e : xs_pvdev_printf(dev, "params", "%s", cfg->path);
    else
        e = e ? e : xs_pvdev_printf(dev, "params", "memory:%" PRIu64 "M", cfg->size_mib);
    e = e ? e : xs_pvdev_printf(dev, "type", "%s", cfg->path ? "file" : "memory");
    e = e ? e : xs_pvdev_printf(dev, "mode", "%s", be->disk.readonly ? "r" : "w");
    e = e ? e : xs_pvdev_printf(dev, "removable", "0");
    e = e ? e : xs_pvdev_printf(dev, "bootable", "1");
    e = e ? e : xs_pvdev_printf(dev, "device-type", "disk");
    /* xvd<letter> for Xen's own major (202), as xl names them. */
    if (dev->id >> 8 == 202 && (dev->id & 0xff) >> 4 < 26)
        e = e ? e : xs_pvdev_printf(dev, "dev", "xvd%c", 'a' + ((dev->id & 0xff) >> 4));
    e = e ? e : xs_pvdev_printf_fe(dev, "virtual-device", "%u", dev->id);
    e = e ? e : xs_pvdev_printf_fe(dev, "device-type", "disk");
    return e;
}

static void destroy(struct xs_pvdev *dev)
{
    struct blkback *be = dev->priv;
    if (!be) return;
    xs_blk_disk_close(&be->disk);
    free(be->bounce);
    free(be);
    dev->priv = NULL;
}

static int create(struct xs_pvdev *dev, const void *vcfg, char *err, size_t errlen)
{
    const struct xs_blkback_cfg *cfg = vcfg;
    struct blkback *be = calloc(1, sizeof(*be));
    if (!be) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    be->dev = dev;
    be->disk.fd = -1;
    be->rogue = cfg->rogue;
    dev->priv = be;
    char derr[384] = "";
    if (xs_blk_disk_open(&be->disk, cfg, derr, sizeof(derr))) {
        snprintf(err, errlen, "disk %u: %s", dev->id, derr);
        destroy(dev);
        return -1;
    }
    be->bounce = malloc((size_t)XS_BLKBACK_MAX_INDIRECT_SEGS * BLK_PAGE);
    if (!be->bounce) {
        snprintf(err, errlen, "out of memory");
        destroy(dev);
        return -1;
    }
    int e = toolstack_nodes(dev, cfg);
    if (e) {
        snprintf(err, errlen, "disk %u: cannot write its xenstore nodes (errno %d)",
                 dev->id, e);
        destroy(dev);
        return -1;
    }
    return 0;
}

/* ---- features ------------------------------------------------------------------- */

static int publish(struct xs_pvdev *dev)
{
    struct blkback *be = dev->priv;
    const struct blk_disk *d = &be->disk;
    int e = 0;
    e = e ? e : xs_pvdev_printf(dev, "feature-flush-cache", "1");
    e = e ? e : xs_pvdev_printf(dev, "feature-barrier", "1");
    /* Discard changes the disk: not offered on a read-only one. */
    e = e ? e : xs_pvdev_printf(dev, "feature-discard", "%d", d->readonly ? 0 : 1);
    if (!d->readonly) {
        e = e ? e : xs_pvdev_printf(dev, "discard-granularity", "%u", XS_BLKBACK_SECTOR);
        e = e ? e : xs_pvdev_printf(dev, "discard-alignment", "0");
        e = e ? e : xs_pvdev_printf(dev, "discard-secure", "0");
    }
    e = e ? e : xs_pvdev_printf(dev, "feature-persistent", "1");
    e = e ? e
          : xs_pvdev_printf(dev, "feature-max-indirect-segments", "%u",
                            XS_BLKBACK_MAX_INDIRECT_SEGS);
    e = e ? e
          : xs_pvdev_printf(dev, "max-ring-page-order", "%u", XS_BLKBACK_MAX_RING_ORDER);
    e = e ? e
          : xs_pvdev_printf(dev, "multi-queue-max-queues", "%u", XS_BLKBACK_MAX_QUEUES);
    e = e ? e : xs_pvdev_printf(dev, "sectors", "%" PRIu64, d->sectors);
    e = e ? e : xs_pvdev_printf(dev, "info", "%u", d->readonly ? VDISK_READONLY : 0u);
    e = e ? e : xs_pvdev_printf(dev, "sector-size", "%u", XS_BLKBACK_SECTOR);
    e = e ? e : xs_pvdev_printf(dev, "physical-sector-size", "%u", XS_BLKBACK_SECTOR);
    return e;
}

/* ---- connect ---------------------------------------------------------------------- */

static void ring_drop(struct blk_ring *r)
{
    struct xs_pvdev *dev = r->be->dev;
    xs_blk_ring_release_pgrants(r);
    if (r->va) xs_pvdev_unmap_ring(dev, r->va, r->nr_pages, r->handles);
    r->va = NULL;
    r->nr_pages = 0;
}

static void disconnect(struct xs_pvdev *dev, bool live)
{
    struct blkback *be = dev->priv;
    for (unsigned i = 0; i < be->nr_rings; i++) {
        struct blk_ring *r = &be->rings[i];
        if (live && r->va) xs_blk_ring_fail_all(r);
        ring_drop(r);
    }
    be->nr_rings = 0;
    be->persistent = false;
}

/* A frontend's mistake in its nodes: reported about it, and fatal. */
static int fe_bad(struct xs_pvdev *dev, int err, const char *what, const char *dir)
{
    xs_report(dev->front, "xensim: %s: bad frontend node %s/%s: %s", dev->who, dir, what,
              err == ENOENT ? "missing" : "not a valid value");
    xs_pvdev_fatal(dev, err, "reading %s/%s", dir, what);
    return -1;
}

/* Does the frontend node dir/node exist (whatever its value)? */
static bool fe_node_exists(struct xs_pvdev *dev, const char *dir, const char *node)
{
    char val[64];
    int e = xs_pvdev_read(dev, dir, node, val, sizeof(val));
    return e == 0 || e == E2BIG;
}

/* A careful backend's look at the other form of ring reference: "ring-ref"
 * next to ring-page-order's "ring-ref0..", or "ring-refN" past the ring's
 * n pages, are left from an earlier connection with another order (the
 * frontend should have removed them).  Which form wins is the backend's
 * guess; a frontend relying on it breaks on the next backend.  Reported,
 * not fatal: ring-page-order says which form this connection uses. */
static void check_stale_refs(struct xs_pvdev *dev, unsigned q, const char *dir, int order,
                             unsigned n)
{
    char node[24];
    bool found = false;
    if (order < 0) {
        snprintf(node, sizeof(node), "ring-ref0");
        found = fe_node_exists(dev, dir, node);
    } else {
        snprintf(node, sizeof(node), "ring-ref");
        found = fe_node_exists(dev, dir, node);
        for (unsigned i = n; !found && i < XS_BLKBACK_MAX_RING_PAGES; i++) {
            snprintf(node, sizeof(node), "ring-ref%u", i);
            found = fe_node_exists(dev, dir, node);
        }
    }
    if (!found) return;
    if (order < 0)
        xs_report(dev->front,
                  "xensim: %s: ring %u: stale frontend node %s/%s next to ring-ref (no "
                  "ring-page-order): a ring reference left from an earlier connection",
                  dev->who, q, dir, node);
    else
        xs_report(
            dev->front,
            "xensim: %s: ring %u: stale frontend node %s/%s with ring-page-order %d: "
            "a ring reference left from an earlier connection",
            dev->who, q, dir, node, order);
}

/* One ring: its references and event channel, in dir (the frontend's
 * directory, or queue-N below it).  order < 0: a single "ring-ref". */
static int ring_connect(struct blkback *be, unsigned q, const char *dir, int order)
{
    struct xs_pvdev *dev = be->dev;
    struct blk_ring *r = &be->rings[q];
    memset(r, 0, sizeof(*r));
    r->be = be;
    r->idx = q;
    unsigned n = order < 0 ? 1u : 1u << order;
    grant_ref_t refs[XS_BLKBACK_MAX_RING_PAGES];
    for (unsigned i = 0; i < n; i++) {
        char node[24];
        uint64_t v;
        if (order < 0)
            snprintf(node, sizeof(node), "ring-ref");
        else
            snprintf(node, sizeof(node), "ring-ref%u", i);
        int e = xs_pvdev_read_uint(dev, dir, node, UINT32_MAX, &v);
        if (e) return fe_bad(dev, e, node, dir);
        refs[i] = (grant_ref_t)v;
    }
    check_stale_refs(dev, q, dir, order, n);
    uint64_t port;
    int e = xs_pvdev_read_uint(dev, dir, "event-channel", UINT32_MAX, &port);
    if (e) return fe_bad(dev, e, "event-channel", dir);
    /* Xen's bind_interdomain check: the port waits for us (Dom0). */
    if (!xs_evtchn_is_unbound_for(dev->front, (evtchn_port_t)port, 0)) {
        xs_report(dev->front,
                  "xensim: %s: ring %u: event channel %" PRIu64
                  " is not an unbound port for domain 0",
                  dev->who, q, port);
        xs_pvdev_fatal(dev, EINVAL, "binding event channel %" PRIu64, port);
        return -1;
    }
    unsigned badi;
    int st;
    r->va = xs_pvdev_map_ring(dev, refs, n, r->handles, &badi, &st);
    if (!r->va) {
        xs_report(dev->front,
                  "xensim: %s: ring %u: cannot map ring page %u (grant ref %u): GNTST %d",
                  dev->who, q, badi, refs[badi], st);
        xs_pvdev_fatal(dev, EINVAL, "mapping ring-ref %u", refs[badi]);
        return -1;
    }
    r->nr_pages = n;
    r->port = (evtchn_port_t)port;
    blkif_sring_t *s = r->va;
    BACK_RING_INIT(&r->br, s, (size_t)n * BLK_PAGE);
    xs_ring_check_init(&r->chk, dev->front, RING_SIZE(&r->br), 0, "%s ring %u", dev->who,
                       q);
    return 0;
}

static int connect(struct xs_pvdev *dev)
{
    struct blkback *be = dev->priv;
    const char *fe = dev->fe_path;
    char proto[32];
    int e = xs_pvdev_read(dev, fe, "protocol", proto, sizeof(proto));
    /* No node: the backend's native ABI, which is x86_64's. */
    if (!e && strcmp(proto, XEN_IO_PROTO_ABI_X86_64)) {
        xs_pvdev_fatal(dev, ENOSYS, "unsupported protocol %s (only %s)", proto,
                       XEN_IO_PROTO_ABI_X86_64);
        return -1;
    }
    if (e && e != ENOENT) return fe_bad(dev, e, "protocol", fe);
    uint64_t v = 0;
    e = xs_pvdev_read_uint(dev, fe, "feature-persistent", 1, &v);
    if (e && e != ENOENT) return fe_bad(dev, e, "feature-persistent", fe);
    be->persistent = !e && v == 1;
    uint64_t nq = 1;
    e = xs_pvdev_read_uint(dev, fe, "multi-queue-num-queues", XS_BLKBACK_MAX_QUEUES, &nq);
    if ((e && e != ENOENT) || nq == 0)
        return fe_bad(dev, EINVAL, "multi-queue-num-queues", fe);
    uint64_t order;
    e = xs_pvdev_read_uint(dev, fe, "ring-page-order", XS_BLKBACK_MAX_RING_ORDER, &order);
    if (e && e != ENOENT) return fe_bad(dev, e, "ring-page-order", fe);
    int ord = e == ENOENT ? -1 : (int)order;
    for (unsigned q = 0; q < nq; q++) {
        char dir[160];
        if (nq == 1)
            snprintf(dir, sizeof(dir), "%s", fe);
        else
            snprintf(dir, sizeof(dir), "%s/queue-%u", fe, q);
        if (ring_connect(be, q, dir, ord)) {
            be->nr_rings = q; /* the ones connected go again */
            disconnect(dev, false);
            return -1;
        }
    }
    be->nr_rings = (unsigned)nq;
    be->stats.connects++;
    xs_log(
        dev->sim,
        "xensim: %s: connected: %u ring%s of %u page%s, %s grants, %" PRIu64 " sectors%s",
        dev->who, be->nr_rings, be->nr_rings == 1 ? "" : "s", be->rings[0].nr_pages,
        be->rings[0].nr_pages == 1 ? "" : "s", be->persistent ? "persistent" : "copied",
        be->disk.sectors, be->disk.readonly ? " read-only" : "");
    return 0;
}

static void service(struct xs_pvdev *dev)
{
    struct blkback *be = dev->priv;
    for (unsigned i = 0; i < be->nr_rings; i++)
        xs_blk_ring_service(&be->rings[i]);
}

const struct xs_pvdev_kind xs_blkback_kind = {
    .devclass = "vbd",
    .name = "blkback",
    .create = create,
    .publish = publish,
    .connect = connect,
    .service = service,
    .disconnect = disconnect,
    .destroy = destroy,
};

int xs_blkback_rogue_parse(const char *name)
{
    static const char *const names[] = {"honest", "bad-id", "bad-status", "bad-op",
                                        "rsp-prod"};
    for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++)
        if (!strcmp(names[i], name)) return i;
    return -1;
}

const struct xs_blkback_stats *xs_blkback_stats(const struct xs_pvdev *dev)
{
    return &((const struct blkback *)dev->priv)->stats;
}

unsigned xs_blkback_nr_rings(const struct xs_pvdev *dev)
{
    return ((const struct blkback *)dev->priv)->nr_rings;
}

bool xs_blkback_ring_broken(const struct xs_pvdev *dev, unsigned i)
{
    const struct blkback *be = dev->priv;
    return i < be->nr_rings && be->rings[i].chk.broken;
}
