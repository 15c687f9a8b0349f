/* mode=split: block writes split over several ring requests, in flight
 * across resumes (scenarios/regressions/blk-split-complete.scn).
 *
 * Each write is 24 pages: without indirect segments blkfront sends it as
 * three ring requests (11 + 11 + 2 segments) that complete the caller's
 * request together.  Four such writes are kept in flight, and every free
 * slot is filled at the last moment before the domain suspends, so whole
 * split requests are on the ring then.  Each write carries a generation
 * in its data; its completion callback counts.  In the end: every write
 * completed exactly once, and every block reads back as last written.
 * Switches: duration=MS (default 40), resumes=N (real resumes to wait
 * for first, default 2). */
#include <guest/blkfront.h>
#include <guest/control.h>
#include <guest/mm.h>
#include <guest/string.h>
#include <guest/time.h>
#include <guest/xenstore.h>

#include "regress_app.h"

#define SECT       512u
#define REQ_PAGES  24u
#define REQ_BYTES  (REQ_PAGES * PAGE_SIZE)
#define REQ_SECTS  (REQ_BYTES / SECT)
#define NR_REQ     4u
#define NBLK       8u
#define TIMEOUT_NS (200 * MS)

struct split_req {
    struct blkfront_req r;
    uint8_t *buf;
    unsigned blk, gen;
    bool busy;
    volatile unsigned completions;
};

static struct blkfront *bf;
static struct split_req reqs[NR_REQ];
static unsigned next_blk, written_gen[NBLK], issued_gen[NBLK];
static uint64_t submitted, completed, duplicated, lost, errors;

static uint8_t byte_of(unsigned blk, uint32_t off, unsigned gen)
{
    return (uint8_t)((blk * 31 + off * 7 + (off >> 12) * 3 + gen * 29 + 1) & 0xff);
}

static void on_complete(struct blkfront_req *r)
{
    struct split_req *s = r->arg;
    __atomic_add_fetch(&s->completions, 1, __ATOMIC_SEQ_CST);
}

static void reap(struct split_req *s)
{
    unsigned c = __atomic_load_n(&s->completions, __ATOMIC_SEQ_CST);
    if (c > 1) duplicated += c - 1;
    completed++;
    if (s->r.status)
        errors++;
    else
        written_gen[s->blk] = s->gen;
    s->busy = false;
}

static void submit(struct split_req *s)
{
    s->blk = next_blk++ % NBLK;
    s->gen = ++issued_gen[s->blk];
    for (uint32_t o = 0; o < REQ_BYTES; o++)
        s->buf[o] = byte_of(s->blk, o, s->gen);
    s->r = (struct blkfront_req){.complete = on_complete, .arg = s};
    s->completions = 0;
    s->busy = true;
    submitted++;
    long rc = blkfront_submit(bf, BLKFRONT_WRITE, (uint64_t)s->blk * REQ_SECTS, s->buf,
                              REQ_BYTES, &s->r);
    CHECK(rc == 0, "submit of block %u: %ld", s->blk, rc);
}

static void pump(void)
{
    for (unsigned i = 0; i < NR_REQ; i++) {
        struct split_req *s = &reqs[i];
        if (s->busy && __atomic_load_n(&s->r.done, __ATOMIC_ACQUIRE)) reap(s);
        if (!s->busy) submit(s);
    }
}

/* The last moment before the suspend (events off, before blkfront stops
 * taking responses): every free slot gets a write, so they are on the
 * ring, all their parts, when the domain goes. */
static long fill(void *arg)
{
    (void)arg;
    pump();
    return 0;
}

static struct control_hook fill_hook = {
    .name = "regress-fill", .order = CONTROL_ORDER_BLKFRONT_FREEZE + 10, .suspend = fill};

static unsigned verify(uint8_t *tmp)
{
    unsigned bad = 0;
    for (unsigned b = 0; b < NBLK; b++) {
        if (!written_gen[b]) continue;
        long rc = blkfront_read(bf, (uint64_t)b * REQ_SECTS, tmp, REQ_BYTES);
        bool ok = rc == 0;
        for (uint32_t o = 0; ok && o < REQ_BYTES; o++)
            ok = tmp[o] == byte_of(b, o, written_gen[b]);
        bad += !ok;
    }
    return bad;
}

int regress_split(void)
{
    struct blkfront_opts opts = {0};
    long rc = blkfront_open(0, &opts, &bf);
    if (rc) {
        CHECK(0, "blkfront_open: %ld", rc);
        return 1;
    }
    for (unsigned i = 0; i < NR_REQ; i++)
        reqs[i].buf = page_alloc_contig(REQ_PAGES);
    uint8_t *tmp = page_alloc_contig(REQ_PAGES);
    if (!tmp || !reqs[NR_REQ - 1].buf) {
        CHECK(0, "out of memory");
        return 1;
    }
    control_register(&fill_hook);
    uint64_t resumes = cmdline_uint("resumes", 2);
    uint64_t duration = cmdline_uint("duration", 40) * MS;
    uint64_t start = time_monotonic_ns();
    bool resumed = regress_wait_resumes(resumes, duration, pump);
    while (time_monotonic_ns() - start < duration)
        regress_wait_resumes(resumes + 1000, MS, pump);
    CHECK(resumed, "only %lu of %lu resumes came",
          (unsigned long)control_stats()->resumes, (unsigned long)resumes);
    for (unsigned i = 0; i < NR_REQ; i++) {
        struct split_req *s = &reqs[i];
        if (!s->busy) continue;
        if (blkfront_wait(bf, &s->r, TIMEOUT_NS) == -XEN_ETIMEDOUT) {
            lost++;
            s->busy = false;
            continue;
        }
        reap(s);
    }
    unsigned bad = verify(tmp);
    const struct blkfront_stats *st = blkfront_stats(bf);
    printk("regress: split: %lu writes of %u pages in %lu ring requests (%lu split "
           "parts): %lu completed, %lu lost, %lu duplicated, %lu errors, %u bad blocks\n",
           (unsigned long)submitted, REQ_PAGES, (unsigned long)st->requests,
           (unsigned long)st->splits, (unsigned long)completed, (unsigned long)lost,
           (unsigned long)duplicated, (unsigned long)errors, bad);
    CHECK(st->splits > 0, "no write was split");
    CHECK(submitted == completed && !lost && !duplicated && !errors && !bad,
          "split writes went wrong");
    return 0;
}
