/* unplug=1: disks that come and go while the guest uses them
 * (scenarios/hotplug.scn).
 *
 * 1. The disk there at boot carries a stream of I/O, NR_STREAM one-page
 *    requests kept in flight (a write for every two reads), until the
 *    toolstack unplugs it: requests on the ring then fail with an error,
 *    new ones are refused.  Every request submitted is accounted for:
 *    submitted == completed + failed.  Then it is closed.
 * 2. A disk hot-plugged later is found (index 0: the first one is gone),
 *    written and read back.  It stays open.
 * 3. A third disk (index 1) gets a stream like the first until it is
 *    unplugged too, and is closed.
 * 4. The second disk is unplugged while idle: a read is refused, close.
 *
 * Reads must return the pattern or zeros (never-written sectors): every
 * write writes the pattern of its own sectors. */
#include <guest/kernel.h>
#include <guest/mm.h>
#include <guest/printk.h>
#include <guest/string.h>
#include <guest/time.h>
#include <guest/xenstore.h>

#include "blk_app.h"

#define NR_STREAM     8u
#define STREAM_SECTS  8u  /* one page per request */
#define STREAM_SPAN   64u /* requests cycle over 64 pages of the disk */
#define STREAM_MAX_NS ((uint64_t)2 * 1000 * 1000 * 1000)
#define WAIT_NS       (4 * BLKFRONT_TIMEOUT_NS)

static unsigned failures;

#define CHECK(cond, ...)                                                                 \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            printk("blk: FAIL: " __VA_ARGS__);                                           \
            printk("\n");                                                                \
            failures++;                                                                  \
        }                                                                                \
    } while (0)

struct stream {
    struct blkfront_req r[NR_STREAM];
    bool busy[NR_STREAM], write[NR_STREAM];
    uint64_t sector[NR_STREAM];
    uint8_t *buf; /* NR_STREAM pages */
    uint64_t submitted, completed, failed, refused, bad_reads;
};

static bool sector_ok(const uint8_t *p, uint64_t sector)
{
    bool zero = true, pat = true;
    for (unsigned o = 0; o < BLK_SECT; o++) {
        zero &= p[o] == 0;
        pat &= p[o] == blk_pattern(sector, o);
    }
    return zero || pat;
}

/* Slot i's request ended: count it. */
static void reap(struct stream *s, unsigned i)
{
    s->busy[i] = false;
    if (s->r[i].status) {
        s->failed++;
        return;
    }
    s->completed++;
    if (s->write[i]) return;
    for (unsigned n = 0; n < STREAM_SECTS; n++)
        if (!sector_ok(s->buf + (size_t)i * PAGE_SIZE + n * BLK_SECT, s->sector[i] + n)) {
            s->bad_reads++;
            break;
        }
}

/* A new request in slot i: false when blkfront refused it (unplugged). */
static bool issue(struct blkfront *bf, struct stream *s, unsigned i)
{
    uint64_t n = s->submitted + s->refused;
    uint8_t *p = s->buf + (size_t)i * PAGE_SIZE;
    s->write[i] = n % 3 == 0;
    s->sector[i] = (n * 7 % STREAM_SPAN) * STREAM_SECTS;
    for (unsigned b = 0; b < PAGE_SIZE; b++)
        p[b] =
            s->write[i] ? blk_pattern(s->sector[i] + b / BLK_SECT, b % BLK_SECT) : 0xee;
    memset(&s->r[i], 0, sizeof(s->r[i]));
    long rc = blkfront_submit(bf, s->write[i] ? BLKFRONT_WRITE : BLKFRONT_READ,
                              s->sector[i], p, PAGE_SIZE, &s->r[i]);
    if (rc) {
        /* One page is one ring request: a refusal sent nothing. */
        s->refused++;
        return false;
    }
    s->submitted++;
    s->busy[i] = true;
    return true;
}

static bool any_done(void *arg)
{
    struct stream *s = arg;
    for (unsigned i = 0; i < NR_STREAM; i++)
        if (s->busy[i] && s->r[i].done) return true;
    return false;
}

/* I/O until the disk goes away, then close it; every request counted. */
static void stream(struct blkfront *bf, struct stream *s)
{
    unsigned vdev = blkfront_info(bf)->vdev;
    uint64_t end = time_monotonic_ns() + STREAM_MAX_NS;
    bool on = true;
    for (unsigned i = 0; i < NR_STREAM && on; i++)
        on = issue(bf, s, i);
    while (on && time_monotonic_ns() < end) {
        /* Watches run here: the backend leaving is seen by blkfront. */
        xenstore_wait(any_done, s, BLKFRONT_TIMEOUT_NS);
        for (unsigned i = 0; i < NR_STREAM && on; i++)
            if (s->busy[i] && s->r[i].done) {
                reap(s, i);
                on = issue(bf, s, i);
            }
    }
    CHECK(!on, "vbd %u: still usable after %llu requests", vdev,
          (unsigned long long)s->submitted);
    /* What was on the ring when the backend left was answered with an
     * error; what blkfront sent before it saw the backend go is failed by
     * the close (after its drain timeout: nobody answers it). */
    long rc = blkfront_close(bf);
    CHECK(rc == 0, "vbd %u: close after unplug: %ld", vdev, rc);
    for (unsigned i = 0; i < NR_STREAM; i++) {
        if (!s->busy[i]) continue;
        CHECK(s->r[i].done, "vbd %u: request in slot %u not ended by the close", vdev, i);
        reap(s, i);
    }
    printk("blk: vbd %u unplugged under I/O: %llu submitted = %llu completed + %llu "
           "failed; %llu refused; %llu bad reads\n",
           vdev, (unsigned long long)s->submitted, (unsigned long long)s->completed,
           (unsigned long long)s->failed, (unsigned long long)s->refused,
           (unsigned long long)s->bad_reads);
    CHECK(s->submitted == s->completed + s->failed && s->refused == 1 && !s->bad_reads,
          "vbd %u: requests unaccounted for", vdev);
}

static struct blkfront *open_disk(unsigned index)
{
    long rc = blkfront_wait_device(index, WAIT_NS);
    struct blkfront *bf = NULL;
    if (!rc) rc = blkfront_open(index, NULL, &bf);
    CHECK(rc == 0, "no disk at index %u: %ld", index, rc);
    return rc ? NULL : bf;
}

/* The hot-plugged disk is usable: a pattern written and read back. */
static void use(struct blkfront *bf, uint8_t *buf)
{
    for (unsigned b = 0; b < 16 * BLK_SECT; b++)
        buf[b] = blk_pattern(b / BLK_SECT, b % BLK_SECT);
    long w = blkfront_write(bf, 0, buf, 16 * BLK_SECT);
    memset(buf, 0, 16 * BLK_SECT);
    long r = blkfront_read(bf, 0, buf, 16 * BLK_SECT);
    unsigned bad = 0;
    for (unsigned b = 0; b < 16 * BLK_SECT; b++)
        bad += buf[b] != blk_pattern(b / BLK_SECT, b % BLK_SECT);
    printk("blk: vbd %u hot-plugged: write %ld, read %ld, %u bad bytes\n",
           blkfront_info(bf)->vdev, w, r, bad);
    CHECK(!w && !r && !bad, "I/O on the hot-plugged disk");
}

int blk_unplug(void)
{
    static struct stream s1, s3;
    s1.buf = page_alloc_contig(NR_STREAM);
    s3.buf = page_alloc_contig(NR_STREAM);
    uint8_t *buf = page_alloc_contig(4);
    if (!s1.buf || !s3.buf || !buf) {
        printk("blk: FAIL: out of memory\n");
        return 1;
    }
    printk("blk: %ld vbd device(s) at boot\n", blkfront_count());
    struct blkfront *a = open_disk(0);
    if (a) stream(a, &s1);
    struct blkfront *b = open_disk(0); /* the first one went away */
    if (b) use(b, buf);
    struct blkfront *c = b ? open_disk(1) : NULL;
    if (c) stream(c, &s3);
    if (b) {
        long rc = blkfront_wait_unplug(b, WAIT_NS);
        long after = blkfront_read(b, 0, buf, BLK_SECT);
        printk("blk: vbd %u unplugged while idle: %ld; a read now: %ld\n",
               blkfront_info(b)->vdev, rc, after);
        CHECK(rc == 0 && after == -XEN_EIO, "idle unplug");
        rc = blkfront_close(b);
        CHECK(rc == 0, "close after the idle unplug: %ld", rc);
    }
    printk("blk: %ld vbd device(s) at the end\n", blkfront_count());
    if (failures) {
        printk("blk: FAIL: %u checks failed\n", failures);
        return 1;
    }
    printk("blk: done\n");
    return 0;
}
