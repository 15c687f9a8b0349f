/* fuzz=1: blkfront against the hostile backend that
 * fuzz/blkfront_responses.c plays from the host.  Two rounds (open, then
 * close and reconnect), each a fixed mix of I/O: asynchronous reads and
 * writes of 1 to 100 sectors from buffers at several page offsets (split
 * or indirect requests), a flush, a discard, reads at and past the disk's
 * end, then the synchronous forms.  Any outcome the backend causes is
 * acceptable except these, which fail the app (a crash for the fuzzer):
 *   - a request still not done once the device is closed (every request
 *     ends: answered, or failed by blkfront);
 *   - a byte outside a request's buffer changed (guard bytes around it).
 * A read that completed OKAY must hold the pattern the harness writes:
 * a mismatch prints "blk: fuzz: read data mismatch" (the harness decides
 * whether that is a finding: it is not when it lied about an id). */
#include <guest/kernel.h>
#include <guest/mm.h>
#include <guest/printk.h>
#include <guest/string.h>

#include "blk_app.h"

#define GUARD 0x5a
#define FILL  0xee

struct job {
    enum blkfront_op op;
    uint64_t sector; /* past_end / at_end: counted back from the disk's end */
    unsigned nsect;
    unsigned off; /* of the data in its first page */
    bool at_end;
    /* state */
    uint8_t *mem;
    unsigned pages;
    struct blkfront_req r;
};

static struct job jobs[] = {
    {BLKFRONT_READ, 0, 8, 0, false, NULL, 0, {0}},
    {BLKFRONT_WRITE, 8, 1, 512, false, NULL, 0, {0}},
    {BLKFRONT_READ, 16, 100, 1024, false, NULL, 0, {0}},
    {BLKFRONT_FLUSH, 0, 0, 0, false, NULL, 0, {0}},
    {BLKFRONT_DISCARD, 128, 8, 0, false, NULL, 0, {0}},
    {BLKFRONT_WRITE, 136, 24, 512, false, NULL, 0, {0}},
    {BLKFRONT_READ, 1, 1, 0, true, NULL, 0, {0}}, /* the last sector */
    {BLKFRONT_READ, 1, 2, 0, true, NULL, 0, {0}}, /* past the end: refused */
    {BLKFRONT_WRITE, 200, 40, 0, false, NULL, 0, {0}},
};
#define NR_JOBS (sizeof(jobs) / sizeof(jobs[0]))

static unsigned failures, mismatches;
static uint64_t submitted, ok, failed, timed_out;

static bool has_data(const struct job *j)
{
    return j->op == BLKFRONT_READ || j->op == BLKFRONT_WRITE;
}

static uint64_t job_sector(const struct job *j, const struct blkfront_info *in)
{
    return j->at_end ? in->sectors - j->sector : j->sector;
}

static bool alloc_jobs(void)
{
    for (unsigned i = 0; i < NR_JOBS; i++) {
        struct job *j = &jobs[i];
        if (!has_data(j)) continue;
        /* At least one guard sector after the data. */
        size_t bytes = j->off + (size_t)j->nsect * BLK_SECT + BLK_SECT;
        j->pages = (unsigned)((bytes + PAGE_SIZE - 1) / PAGE_SIZE);
        j->mem = page_alloc_contig(j->pages);
        if (!j->mem) return false;
        memset(j->mem, GUARD, (size_t)j->pages * PAGE_SIZE);
    }
    return true;
}

/* Every byte of every buffer outside its data must still be a guard. */
static void check_guards(void)
{
    for (unsigned i = 0; i < NR_JOBS; i++) {
        struct job *j = &jobs[i];
        size_t end = j->off + (size_t)j->nsect * BLK_SECT;
        for (size_t b = 0; j->mem && b < (size_t)j->pages * PAGE_SIZE; b++) {
            if ((b < j->off || b >= end) && j->mem[b] != GUARD) {
                printk("blk: FAIL: fuzz: job %u: byte %lu outside the buffer changed "
                       "to %#x\n",
                       i, (unsigned long)b, j->mem[b]);
                failures++;
                break;
            }
        }
    }
}

static void prepare(struct job *j, const struct blkfront_info *in)
{
    if (!has_data(j)) return;
    uint8_t *p = j->mem + j->off;
    uint64_t s = job_sector(j, in);
    for (unsigned n = 0; n < j->nsect; n++)
        for (unsigned o = 0; o < BLK_SECT; o++)
            p[n * BLK_SECT + o] = j->op == BLKFRONT_WRITE ? blk_pattern(s + n, o) : FILL;
}

static void check_read(unsigned i, const struct blkfront_info *in)
{
    struct job *j = &jobs[i];
    if (j->op != BLKFRONT_READ || j->r.status) return;
    const uint8_t *p = j->mem + j->off;
    uint64_t s = job_sector(j, in);
    for (unsigned n = 0; n < j->nsect; n++)
        for (unsigned o = 0; o < BLK_SECT; o++)
            if (p[n * BLK_SECT + o] != blk_pattern(s + n, o)) {
                printk("blk: fuzz: read data mismatch: job %u sector %lu\n", i,
                       (unsigned long)(s + n));
                mismatches++;
                return;
            }
}

static void count(long st)
{
    if (st == -XEN_ETIMEDOUT)
        timed_out++;
    else if (st)
        failed++;
    else
        ok++;
}

/* The asynchronous mix, every request in flight at once, then the
 * synchronous forms (their own buffers: a timed-out request may still be
 * answered later). */
static void mix(struct blkfront *bf)
{
    const struct blkfront_info *in = blkfront_info(bf);
    for (unsigned i = 0; i < NR_JOBS; i++) {
        struct job *j = &jobs[i];
        prepare(j, in);
        memset(&j->r, 0, sizeof(j->r));
        size_t len = (size_t)j->nsect * BLK_SECT;
        blkfront_submit(bf, j->op, job_sector(j, in), j->mem ? j->mem + j->off : NULL,
                        len, &j->r);
        submitted++;
    }
    for (unsigned i = 0; i < NR_JOBS; i++) {
        long st = blkfront_wait(bf, &jobs[i].r, BLKFRONT_TIMEOUT_NS);
        count(st);
        if (!st) check_read(i, in);
    }
    static uint8_t *sync_buf;
    if (!sync_buf && !(sync_buf = page_alloc_contig(2))) return;
    count(blkfront_read(bf, 32, sync_buf, PAGE_SIZE));
    for (unsigned o = 0; o < 4 * BLK_SECT; o++)
        sync_buf[PAGE_SIZE + o] = blk_pattern(40 + o / BLK_SECT, o % BLK_SECT);
    count(blkfront_write(bf, 40, sync_buf + PAGE_SIZE, 4 * BLK_SECT));
    count(blkfront_flush(bf));
    count(in->discard ? blkfront_discard(bf, 48, 8) : 0);
    submitted += 4;
}

int blk_fuzz(const struct blkfront_opts *o)
{
    if (!alloc_jobs()) {
        printk("blk: FAIL: fuzz: out of memory\n");
        return 1;
    }
    struct blkfront *bf = NULL;
    unsigned rounds = 0;
    for (unsigned round = 0; round < 2; round++) {
        bool again = bf != NULL;
        long rc = bf ? blkfront_reconnect(bf) : blkfront_open(0, o, &bf);
        printk("blk: fuzz: round %u: %s: %ld\n", round, again ? "reconnect" : "open", rc);
        if (rc) continue; /* bf stays NULL after a failed open */
        rounds++;
        mix(bf);
        rc = blkfront_close(bf);
        printk("blk: fuzz: round %u: close: %ld, broken: %s\n", round, rc,
               blkfront_broken(bf) ? "yes" : "no");
        /* Closed: nothing of ours may still be in flight. */
        for (unsigned i = 0; i < NR_JOBS; i++)
            if (!jobs[i].r.done) {
                printk("blk: FAIL: fuzz: job %u still in flight after close\n", i);
                failures++;
            }
        check_guards();
    }
    printk("blk: fuzz: %u rounds, %lu requests: %lu ok, %lu failed, %lu timed out, %u "
           "data mismatches\n",
           rounds, (unsigned long)submitted, (unsigned long)ok, (unsigned long)failed,
           (unsigned long)timed_out, mismatches);
    if (failures) {
        printk("blk: FAIL: %u checks failed\n", failures);
        return 1;
    }
    printk("blk: done\n");
    return 0;
}
