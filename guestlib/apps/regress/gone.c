/* mode=gone: a disk unplugged right after a resume
 * (scenarios/regressions/blk-gone-after-resume.scn).
 *
 * Eight one-page writes are kept in flight, and every free slot is filled
 * at the last moment before the suspend.  After the resume another
 * driver's resume hook (this app's, between xenstore and blkfront) takes
 * resume_delay=MS of virtual time, while the toolstack unplugs the disk:
 * blkfront then finds its device gone.  What was in flight must end --
 * with an error, the disk is gone -- and nothing may wait for it forever;
 * a new write is refused; no vbd is left. */
#include <guest/blkfront.h>
#include <guest/control.h>
#include <guest/mm.h>
#include <guest/smp.h>
#include <guest/string.h>
#include <guest/time.h>

#include "regress_app.h"

#define NR_REQ    8u
#define BLK_BYTES PAGE_SIZE
#define BLK_SECTS (BLK_BYTES / 512u)
#define END_NS    (100 * MS) /* every request ends within this after the resume */

struct gone_req {
    struct blkfront_req r;
    uint8_t *buf;
    bool busy;
};

static struct blkfront *bf;
static struct gone_req reqs[NR_REQ];
static unsigned next_blk;
static uint64_t submitted, ok, failed, refused;
static volatile bool resumed;

static void reap(struct gone_req *s)
{
    if (s->r.status == 0)
        ok++;
    else
        failed++;
    s->busy = false;
}

static void pump(void)
{
    if (resumed) return; /* after the resume: only what was in flight */
    for (unsigned i = 0; i < NR_REQ; i++) {
        struct gone_req *s = &reqs[i];
        if (s->busy && __atomic_load_n(&s->r.done, __ATOMIC_ACQUIRE)) reap(s);
        if (s->busy) continue;
        memset(s->buf, (int)(next_blk & 0xff), BLK_BYTES);
        s->busy = true;
        submitted++;
        long rc =
            blkfront_submit(bf, BLKFRONT_WRITE, (uint64_t)(next_blk++ % 64) * BLK_SECTS,
                            s->buf, BLK_BYTES, &s->r);
        if (rc) {
            refused++;
            s->busy = false;
        }
    }
}

static long fill(void *arg)
{
    (void)arg;
    pump();
    return 0;
}

/* Another driver's resume, slow: the toolstack unplugs the disk meanwhile. */
static void slow_resume(void *arg)
{
    (void)arg;
    resumed = true;
    unsigned delay = cmdline_uint("resume_delay", 0);
    printk("regress: gone: resumed at %lu us; other drivers take %u ms\n",
           (unsigned long)(time_monotonic_ns() / 1000), delay);
    regress_sleep(delay * MS);
}

static struct control_hook fill_hook = {
    .name = "regress-fill", .order = CONTROL_ORDER_BLKFRONT_FREEZE + 10, .suspend = fill};
static struct control_hook slow_hook = {
    .name = "regress-slow", .order = CONTROL_ORDER_XENSTORE + 50, .resume = slow_resume};

static bool all_ended(void *arg)
{
    (void)arg;
    for (unsigned i = 0; i < NR_REQ; i++)
        if (reqs[i].busy && !__atomic_load_n(&reqs[i].r.done, __ATOMIC_ACQUIRE))
            return false;
    return true;
}

int regress_gone(void)
{
    long rc = blkfront_open(0, NULL, &bf);
    if (rc) {
        CHECK(0, "blkfront_open: %ld", rc);
        return 1;
    }
    for (unsigned i = 0; i < NR_REQ; i++)
        if (!(reqs[i].buf = page_alloc())) {
            CHECK(0, "out of memory");
            return 1;
        }
    control_register(&fill_hook);
    control_register(&slow_hook);
    if (!regress_wait_resumes(1, 500 * MS, pump)) {
        CHECK(0, "no resume came");
        return 1;
    }
    printk("regress: gone: resumed: %lu writes before, %lu completed, %lu failed, %lu "
           "refused\n",
           (unsigned long)submitted, (unsigned long)ok, (unsigned long)failed,
           (unsigned long)refused);
    wait_event(all_ended, NULL, END_NS);
    unsigned outstanding = 0, good = 0, bad = 0, hung = 0;
    for (unsigned i = 0; i < NR_REQ; i++) {
        struct gone_req *s = &reqs[i];
        if (!s->busy) continue;
        outstanding++;
        if (!__atomic_load_n(&s->r.done, __ATOMIC_ACQUIRE))
            hung++;
        else if (s->r.status)
            bad++;
        else
            good++;
    }
    struct blkfront_req r = {0};
    long again = blkfront_submit(bf, BLKFRONT_WRITE, 0, reqs[0].buf, BLK_BYTES, &r);
    long left = blkfront_count();
    printk("regress: gone: %u writes outstanding at the resume: %u failed, %u completed, "
           "%u hung; a new write: %ld; %ld vbd devices left\n",
           outstanding, bad, good, hung, again, left);
    CHECK(!hung, "%u writes never ended after the disk went", hung);
    CHECK(again == -XEN_EIO, "a write to the gone disk: %ld", again);
    CHECK(left == 0, "%ld vbd devices left", left);
    return 0;
}
