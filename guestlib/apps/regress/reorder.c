/* mode=reorder: a disk reconnected with other ring sizes after a resume
 * (scenarios/regressions/blk-stale-ring-ref.scn).
 *
 * The disk is opened with a 4-page ring (ring-page-order 2: nodes
 * ring-ref0..3), written and read back; the domain is resumed (blkfront
 * reconnects, the toolstack carried the frontend's nodes over); then the
 * driver is unloaded and loaded again with a one-page ring (the
 * "ring-ref" form), as after a move to a host whose backend offers less,
 * and again with two pages (ring-ref0..1).  Each time the bus probes the
 * device afresh (state Initialising), blkfront connects, and the data
 * written first reads back.  xensim's blkback reports a ring reference
 * left from an earlier connection next to the ones in use. */
#include <guest/blkfront.h>
#include <guest/mm.h>
#include <guest/string.h>
#include <guest/xenbus.h>

#include "regress_app.h"

#define BYTES   (16 * PAGE_SIZE)
#define SECTORS (BYTES / 512u)

static uint8_t byte_at(uint32_t off)
{
    return (uint8_t)((off * 11 + (off >> 9) * 5 + 3) & 0xff);
}

/* Open the disk with a ring of 1 << order pages; read back what the
 * first connection wrote (which writes it). */
static struct blkfront *open_and_check(unsigned order, bool write, uint8_t *buf)
{
    struct blkfront_opts opts = {.ring_order = order};
    struct blkfront *bf;
    long rc = blkfront_open(0, &opts, &bf);
    if (rc) {
        CHECK(0, "open with ring-page-order %u: %ld", order, rc);
        return NULL;
    }
    if (write) {
        for (uint32_t o = 0; o < BYTES; o++)
            buf[o] = byte_at(o);
        rc = blkfront_write(bf, 0, buf, BYTES);
        CHECK(rc == 0, "write: %ld", rc);
    }
    memset(buf, 0, BYTES);
    rc = blkfront_read(bf, 0, buf, BYTES);
    unsigned bad = 0;
    for (uint32_t o = 0; o < BYTES; o++)
        bad += buf[o] != byte_at(o);
    printk("regress: reorder: a %u-page ring: read %ld, %u bad bytes\n",
           blkfront_info(bf)->ring_pages, rc, bad);
    CHECK(rc == 0 && !bad, "data lost with ring-page-order %u", order);
    return bf;
}

/* The bus probes the device again for a new driver: Initialising, so the
 * backend waits in InitWait for the new connection. */
static long reprobe(void)
{
    struct xenbus_device dev;
    long n = xenbus_enumerate_frontends("vbd", &dev, 1);
    if (n < 1) return n < 0 ? n : -XEN_ENODEV;
    return xenbus_switch_state(&dev, XenbusStateInitialising);
}

int regress_reorder(void)
{
    uint8_t *buf = page_alloc_contig(BYTES / PAGE_SIZE);
    if (!buf) {
        CHECK(0, "out of memory");
        return 1;
    }
    struct blkfront *bf = open_and_check(2, true, buf);
    if (!bf) return 1;
    if (!regress_wait_resumes(1, 500 * MS, NULL)) {
        CHECK(0, "no resume came");
        return 1;
    }
    static const unsigned orders[] = {0, 1};
    for (unsigned i = 0; i < sizeof(orders) / sizeof(orders[0]); i++) {
        long rc = blkfront_close(bf);
        CHECK(rc == 0, "close: %ld", rc);
        rc = reprobe();
        CHECK(rc == 0, "reprobe: %ld", rc);
        if (!(bf = open_and_check(orders[i], false, buf))) return 1;
    }
    long rc = blkfront_close(bf);
    CHECK(rc == 0, "last close: %ld", rc);
    return 0;
}
