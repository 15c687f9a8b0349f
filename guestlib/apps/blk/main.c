/* blk: the PV block frontend under test (guest/blkfront.h), against
 * xensim's blkback (scenarios/blk-io.scn, blk-indirect.scn).
 *
 * On disk 0 (xvda) it writes a pattern over sectors [0, 256) in requests of
 * 1, 8, 24 and 100 sectors (the last split over several ring requests, or
 * one indirect request), from a buffer that starts 512 bytes into a page;
 * reads it back in other sizes and checks every byte; writes 1 MiB at
 * sector 256 in one request and reads it back; runs 16 reads at once;
 * flushes; discards sectors [64, 128) and reads zeros there; checks the
 * frontend's own refusals (past the end, misaligned); then closes,
 * reconnects and reads everything again.
 *
 * The byte at offset o of sector s is (s * 7 + o * 13 + 1) & 0xff, which
 * tests/integration/test_blk.py recomputes to check an image file.
 *
 * Switches: order=N (ring-page-order asked for), queues=N, persistent=1,
 * indirect=N (segments per indirect request), big=0 (no 1 MiB transfer),
 * discard=0 (leave the pattern whole), verify=1 (only read sectors
 * [0, 256) and check the pattern someone else wrote; a write must be
 * refused if the disk is read-only), hotplug=1 (wait for the disk to be
 * hot-plugged, use it, wait for it to be unplugged, close), rogue=1 (the
 * backend corrupts a response: read until a request fails, the device must
 * then be broken), fuzz=1 (fuzz.c: a fixed mix against a hostile backend),
 * unplug=1 (unplug.c: disks unplugged with I/O in flight and plugged). */
#include <guest/blkfront.h>
#include <guest/kernel.h>
#include <guest/mm.h>
#include <guest/printk.h>
#include <guest/smp.h>
#include <guest/string.h>
#include <guest/xenstore.h>

#include "blk_app.h"

#define SECT        512u
#define PATTERN_END 256u /* sectors written with the pattern */
#define BIG_SECTOR  256u
#define BIG_BYTES   (1u << 20)
#define DISCARD_AT  64u
#define DISCARD_N   64u
#define NR_ASYNC    16u

static unsigned failures;

#define CHECK(cond, ...)                                                                 \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            printk("blk: FAIL: " __VA_ARGS__);                                           \
            printk("\n");                                                                \
            failures++;                                                                  \
        }                                                                                \
    } while (0)

static uint8_t pattern(uint64_t sector, unsigned off)
{
    return blk_pattern(sector, off);
}

static void fill(uint8_t *p, uint64_t sector, unsigned nsect)
{
    for (unsigned s = 0; s < nsect; s++)
        for (unsigned o = 0; o < SECT; o++)
            p[s * SECT + o] = pattern(sector + s, o);
}

/* Sectors of p (starting at sector) that differ from the pattern, or from
 * zero for those in [zero_from, zero_to). */
static unsigned bad_sectors(const uint8_t *p, uint64_t sector, unsigned nsect,
                            uint64_t zero_from, uint64_t zero_to)
{
    unsigned bad = 0;
    for (unsigned s = 0; s < nsect; s++) {
        uint64_t abs = sector + s;
        bool zero = abs >= zero_from && abs < zero_to;
        for (unsigned o = 0; o < SECT; o++)
            if (p[s * SECT + o] != (zero ? 0 : pattern(abs, o))) {
                bad++;
                break;
            }
    }
    return bad;
}

static uint8_t *buf_alloc(size_t bytes)
{
    uint8_t *p = page_alloc_contig((unsigned)((bytes + PAGE_SIZE - 1) / PAGE_SIZE));
    if (!p) printk("blk: FAIL: out of memory for %lu bytes\n", (unsigned long)bytes);
    return p;
}

/* The pattern over [0, PATTERN_END) in uneven pieces, read back in others. */
static void pattern_io(struct blkfront *bf, uint8_t *buf)
{
    /* 512 bytes into a page: segments then start mid-page. */
    uint8_t *b = buf + SECT;
    static const unsigned wsizes[] = {1, 8, 24, 100, 3, 120};
    unsigned at = 0, nreq = 0;
    for (unsigned i = 0; at < PATTERN_END; i = (i + 1) % 6) {
        unsigned n = wsizes[i] < PATTERN_END - at ? wsizes[i] : PATTERN_END - at;
        fill(b, at, n);
        long rc = blkfront_write(bf, at, b, n * SECT);
        CHECK(rc == 0, "write of %u sectors at %u: %ld", n, at, rc);
        at += n;
        nreq++;
    }
    unsigned bad = 0;
    static const unsigned rsizes[] = {64, 7, 57, 128};
    at = 0;
    for (unsigned i = 0; at < PATTERN_END; i = (i + 1) % 4) {
        unsigned n = rsizes[i] < PATTERN_END - at ? rsizes[i] : PATTERN_END - at;
        memset(b, 0xee, n * SECT);
        long rc = blkfront_read(bf, at, b, n * SECT);
        CHECK(rc == 0, "read of %u sectors at %u: %ld", n, at, rc);
        bad += bad_sectors(b, at, n, 0, 0);
        at += n;
    }
    printk("blk: pattern over sectors 0..%u in %u writes, read back: %u bad sectors\n",
           PATTERN_END - 1, nreq, bad);
    CHECK(bad == 0, "pattern mismatch");
}

static void big_io(struct blkfront *bf, uint8_t *big)
{
    fill(big, BIG_SECTOR, BIG_BYTES / SECT);
    uint64_t reqs = blkfront_stats(bf)->requests;
    long rc = blkfront_write(bf, BIG_SECTOR, big, BIG_BYTES);
    uint64_t wreqs = blkfront_stats(bf)->requests - reqs;
    CHECK(rc == 0, "1 MiB write: %ld", rc);
    memset(big, 0, BIG_BYTES);
    rc = blkfront_read(bf, BIG_SECTOR, big, BIG_BYTES);
    CHECK(rc == 0, "1 MiB read: %ld", rc);
    unsigned bad = bad_sectors(big, BIG_SECTOR, BIG_BYTES / SECT, 0, 0);
    printk("blk: 1 MiB at sector %u in %lu ring requests, read back: %u bad sectors\n",
           BIG_SECTOR, (unsigned long)wreqs, bad);
    CHECK(bad == 0, "1 MiB mismatch");
}

static void async_io(struct blkfront *bf, uint8_t *buf)
{
    static struct blkfront_req r[NR_ASYNC];
    for (unsigned i = 0; i < NR_ASYNC; i++) {
        memset(&r[i], 0, sizeof(r[i]));
        long rc = blkfront_submit(bf, BLKFRONT_READ, 8 * i, buf + i * PAGE_SIZE,
                                  PAGE_SIZE, &r[i]);
        CHECK(rc == 0, "async submit %u: %ld", i, rc);
    }
    unsigned ok = 0, bad = 0;
    for (unsigned i = 0; i < NR_ASYNC; i++) {
        long rc = blkfront_wait(bf, &r[i], BLKFRONT_TIMEOUT_NS);
        ok += rc == 0;
        bad += bad_sectors(buf + i * PAGE_SIZE, 8 * i, 8, 0, 0);
    }
    printk("blk: %u reads in flight at once: %u completed, %u bad sectors\n", NR_ASYNC,
           ok, bad);
    CHECK(ok == NR_ASYNC && !bad, "async reads");
}

static void flush_discard(struct blkfront *bf, uint8_t *buf, bool discard)
{
    long rc = blkfront_flush(bf);
    printk("blk: flush: %ld\n", rc);
    CHECK(rc == 0, "flush");
    if (!discard) return;
    rc = blkfront_discard(bf, DISCARD_AT, DISCARD_N);
    CHECK(rc == 0, "discard: %ld", rc);
    memset(buf, 0xee, PATTERN_END * SECT);
    long rr = blkfront_read(bf, 0, buf, PATTERN_END * SECT);
    unsigned bad = bad_sectors(buf, 0, PATTERN_END, DISCARD_AT, DISCARD_AT + DISCARD_N);
    printk("blk: discard of sectors %u..%u: %ld; read back %ld: zeros there, pattern "
           "elsewhere: %u bad sectors\n",
           DISCARD_AT, DISCARD_AT + DISCARD_N - 1, rc, rr, bad);
    CHECK(rr == 0 && bad == 0, "discard read-back");
}

static void refusals(struct blkfront *bf, uint8_t *buf)
{
    const struct blkfront_info *in = blkfront_info(bf);
    long past = blkfront_read(bf, in->sectors - 1, buf, 2 * SECT);
    long odd = blkfront_read(bf, 0, buf, 100);
    long mis = in->persistent ? -XEN_EINVAL : blkfront_read(bf, 0, buf + 3, SECT);
    printk("blk: refused: past the end %ld, odd length %ld, misaligned %ld\n", past, odd,
           mis);
    CHECK(past == -XEN_EINVAL && odd == -XEN_EINVAL && mis == -XEN_EINVAL, "refusals");
}

/* verify=1: the pattern was written by someone else (the host). */
static void verify_only(struct blkfront *bf, uint8_t *buf)
{
    const struct blkfront_info *in = blkfront_info(bf);
    long rc = blkfront_read(bf, 0, buf, PATTERN_END * SECT);
    unsigned bad = bad_sectors(buf, 0, PATTERN_END, 0, 0);
    printk("blk: verify: read %ld, %u bad sectors\n", rc, bad);
    CHECK(rc == 0 && bad == 0, "verify");
    rc = blkfront_write(bf, 0, buf, SECT);
    printk("blk: verify: write on a %s disk: %ld\n",
           in->readonly ? "read-only" : "writable", rc);
    CHECK(in->readonly ? rc == -XEN_EROFS : rc == 0, "write on the verified disk");
}

/* hotplug=1: the toolstack attaches the disk after boot and takes it away. */
static int hotplug(uint8_t *buf)
{
    printk("blk: %ld vbd device(s) at boot\n", blkfront_count());
    long rc = blkfront_wait_device(0, 2 * BLKFRONT_TIMEOUT_NS);
    printk("blk: waited for a disk: %ld, %ld vbd device(s)\n", rc, blkfront_count());
    struct blkfront *bf;
    if (rc || (rc = blkfront_open(0, NULL, &bf))) {
        printk("blk: FAIL: no disk: %ld\n", rc);
        return 1;
    }
    fill(buf, 0, 64);
    long w = blkfront_write(bf, 0, buf, 64 * SECT);
    memset(buf, 0, 64 * SECT);
    long r = blkfront_read(bf, 0, buf, 64 * SECT);
    unsigned bad = bad_sectors(buf, 0, 64, 0, 0);
    printk("blk: hot-plugged disk: write %ld, read %ld, %u bad sectors\n", w, r, bad);
    CHECK(!w && !r && !bad, "I/O on the hot-plugged disk");
    rc = blkfront_wait_unplug(bf, 2 * BLKFRONT_TIMEOUT_NS);
    long after = blkfront_read(bf, 0, buf, SECT);
    printk("blk: unplug seen: %ld; a read now: %ld\n", rc, after);
    CHECK(rc == 0 && after == -XEN_EIO, "unplug");
    rc = blkfront_close(bf);
    CHECK(rc == 0, "close after unplug: %ld", rc);
    printk("blk: %ld vbd device(s) after the unplug\n", blkfront_count());
    if (failures) {
        printk("blk: FAIL: %u checks failed\n", failures);
        return 1;
    }
    printk("blk: done\n");
    return 0;
}

/* rogue=1: a backend that lies once; blkfront must notice and stop. */
static void rogue(struct blkfront *bf, uint8_t *buf)
{
    long rc = 0;
    unsigned i;
    for (i = 0; i < 64 && !rc; i++)
        rc = blkfront_read(bf, 8 * i, buf, PAGE_SIZE);
    printk("blk: rogue backend: read %u failed: %ld; device broken: %s\n", i - 1, rc,
           blkfront_broken(bf) ? "yes" : "no");
    CHECK(rc == -XEN_EIO && blkfront_broken(bf), "the bad response went unnoticed");
    long again = blkfront_read(bf, 0, buf, PAGE_SIZE);
    printk("blk: rogue backend: a read afterwards: %ld\n", again);
    CHECK(again == -XEN_EIO, "a broken device took a request");
}

int app_main(void)
{
    if (!boot.xen) {
        printk("blk: no Xen found, nothing to test\n");
        return 0;
    }
    smp_init();
    smp_start();
    long rc = xenstore_init();
    if (rc) {
        printk("blk: FAIL: no xenstore: %s\n", xenstore_errname(rc));
        return 1;
    }
    struct blkfront_opts o = {.ring_order = cmdline_uint("order", 0),
                              .queues = cmdline_uint("queues", 1),
                              .persistent = cmdline_uint("persistent", 0) != 0,
                              .indirect_segs = cmdline_uint("indirect", 0)};
    bool big = cmdline_uint("big", 1) != 0, discard = cmdline_uint("discard", 1) != 0;
    if (cmdline_uint("fuzz", 0)) return blk_fuzz(&o);
    if (cmdline_uint("unplug", 0)) return blk_unplug();
    if (cmdline_uint("hotplug", 0)) {
        uint8_t *hb = buf_alloc(64 * SECT);
        return hb ? hotplug(hb) : 1;
    }
    printk("blk: %ld vbd device(s)\n", blkfront_count());
    struct blkfront *bf;
    rc = blkfront_open(0, &o, &bf);
    if (rc) {
        printk("blk: FAIL: open: %s\n", xenstore_errname(rc));
        return 1;
    }
    uint8_t *buf = buf_alloc(PATTERN_END * SECT + PAGE_SIZE);
    if (!buf) return 1;
    if (cmdline_uint("verify", 0) || cmdline_uint("rogue", 0)) {
        if (cmdline_uint("rogue", 0))
            rogue(bf, buf);
        else
            verify_only(bf, buf);
        rc = blkfront_close(bf);
        CHECK(rc == 0, "close: %ld", rc);
        if (failures) {
            printk("blk: FAIL: %u checks failed\n", failures);
            return 1;
        }
        printk("blk: done\n");
        return 0;
    }
    uint8_t *big_buf = big ? buf_alloc(BIG_BYTES) : NULL;
    if (big && !big_buf) return 1;
    pattern_io(bf, buf);
    if (big) big_io(bf, big_buf);
    async_io(bf, buf);
    flush_discard(bf, buf, discard);
    refusals(bf, buf);
    rc = blkfront_close(bf);
    CHECK(rc == 0, "close: %ld", rc);
    rc = blkfront_reconnect(bf);
    CHECK(rc == 0, "reconnect: %ld", rc);
    if (!rc) {
        memset(buf, 0xee, PATTERN_END * SECT);
        rc = blkfront_read(bf, 0, buf, PATTERN_END * SECT);
        unsigned bad = bad_sectors(buf, 0, PATTERN_END, discard ? DISCARD_AT : 0,
                                   discard ? DISCARD_AT + DISCARD_N : 0);
        printk("blk: after reconnect: read %ld, %u bad sectors\n", rc, bad);
        CHECK(rc == 0 && bad == 0, "after reconnect");
        rc = blkfront_close(bf);
        CHECK(rc == 0, "second close: %ld", rc);
    }
    const struct blkfront_stats *st = blkfront_stats(bf);
    printk("blk: %lu requests, %lu errors, %lu bad responses, %lu split, %lu indirect\n",
           (unsigned long)st->requests, (unsigned long)st->errors,
           (unsigned long)st->bad_responses, (unsigned long)st->splits,
           (unsigned long)st->indirect);
    if (failures) {
        printk("blk: FAIL: %u checks failed\n", failures);
        return 1;
    }
    printk("blk: done\n");
    return 0;
}
