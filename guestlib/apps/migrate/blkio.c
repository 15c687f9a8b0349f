/* Block writes in flight across the migration: `inflight` slots, each
 * writing a 4 KiB block with a generation in its data and counting its
 * completions (exactly one each: blkfront issues again in the new domain
 * what was in flight, and must not complete anything twice).  Every block
 * written reads back as its last completed write. */
#include <guest/blkfront.h>
#include <guest/mm.h>
#include <guest/string.h>
#include <guest/xenstore.h>

#include "migrate_app.h"

#define BLK_BYTES    4096u
#define BLK_SECT     (BLK_BYTES / BLKFRONT_SECTOR)
#define NBLK         128u
#define MAX_INFLIGHT 16u

struct slot {
    struct blkfront_req r;
    uint8_t *buf;
    unsigned blk, gen;
    bool busy;
    volatile unsigned completions;
};

static struct blkfront *bf;
static struct slot slots[MAX_INFLIGHT];
static unsigned nr_slots, next_blk;
static unsigned written[NBLK], issued[NBLK];
static uint64_t submitted, completed, duplicated, lost;
static uint8_t *readback;

static uint8_t byte_of(unsigned blk, unsigned off, unsigned gen)
{
    return (uint8_t)(blk * 11u + off * 5u + (off >> 9) + gen * 23u + 7u);
}

bool blkio_init(unsigned inflight)
{
    if (!inflight || blkfront_count() <= 0) return true;
    nr_slots = inflight > MAX_INFLIGHT ? MAX_INFLIGHT : inflight;
    long rc = blkfront_open(0, NULL, &bf);
    if (rc) {
        printk("migrate: FAIL: blkfront_open: %s\n", xenstore_errname(rc));
        bf = NULL;
        return false;
    }
    readback = page_alloc();
    for (unsigned i = 0; i < nr_slots; i++)
        slots[i].buf = page_alloc();
    return readback != NULL;
}

bool blkio_active(void)
{
    return bf != NULL;
}

static void on_complete(struct blkfront_req *r)
{
    struct slot *s = r->arg;
    __atomic_add_fetch(&s->completions, 1, __ATOMIC_SEQ_CST);
}

static void reap(struct slot *s)
{
    unsigned c = __atomic_load_n(&s->completions, __ATOMIC_SEQ_CST);
    if (c > 1) duplicated += c - 1;
    completed++;
    CHECK(s->r.status == 0, "write of block %u: %ld", s->blk, s->r.status);
    if (!s->r.status) written[s->blk] = s->gen;
    s->busy = false;
}

static void submit(struct slot *s)
{
    s->blk = next_blk++ % NBLK;
    s->gen = ++issued[s->blk];
    for (unsigned o = 0; o < BLK_BYTES; o++)
        s->buf[o] = byte_of(s->blk, o, s->gen);
    s->r = (struct blkfront_req){.complete = on_complete, .arg = s};
    s->completions = 0;
    s->busy = true;
    submitted++;
    long rc = blkfront_submit(bf, BLKFRONT_WRITE, (uint64_t)s->blk * BLK_SECT, s->buf,
                              BLK_BYTES, &s->r);
    CHECK(rc == 0, "submit of block %u: %ld", s->blk, rc);
}

void blkio_pump(void)
{
    for (unsigned i = 0; bf && i < nr_slots; i++) {
        struct slot *s = &slots[i];
        if (s->busy && __atomic_load_n(&s->r.done, __ATOMIC_ACQUIRE)) reap(s);
        if (!s->busy) submit(s);
    }
}

void blkio_drain(void)
{
    for (unsigned i = 0; bf && i < nr_slots; i++) {
        struct slot *s = &slots[i];
        if (!s->busy) continue;
        if (blkfront_wait(bf, &s->r, BLKFRONT_TIMEOUT_NS / 2) == -XEN_ETIMEDOUT) {
            lost++;
            CHECK(0, "write of block %u never completed", s->blk);
            s->busy = false;
            continue;
        }
        reap(s);
    }
}

unsigned blkio_verify(void)
{
    unsigned bad = 0;
    for (unsigned b = 0; bf && b < NBLK; b++) {
        bool inflight = false; /* may hold either generation */
        for (unsigned i = 0; i < nr_slots; i++)
            inflight |= slots[i].busy && slots[i].blk == b;
        if (inflight || !written[b]) continue;
        long rc = blkfront_read(bf, (uint64_t)b * BLK_SECT, readback, BLK_BYTES);
        if (rc) {
            CHECK(0, "read of block %u: %ld", b, rc);
            bad++;
            continue;
        }
        for (unsigned o = 0; o < BLK_BYTES; o++)
            if (readback[o] != byte_of(b, o, written[b])) {
                bad++;
                break;
            }
    }
    return bad;
}

void blkio_summary(void)
{
    if (!bf) return;
    unsigned bad = blkio_verify();
    printk("migrate: blk: %lu writes, %lu completed, %lu lost, %lu duplicated, %u bad "
           "blocks\n",
           (unsigned long)submitted, (unsigned long)completed, (unsigned long)lost,
           (unsigned long)duplicated, bad);
    CHECK(submitted == completed && !lost && !duplicated && !bad, "block I/O lost data");
}
