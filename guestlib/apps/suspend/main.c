/* suspend: a workload that runs across suspends and resumes
 * (scenarios/suspend-resume.scn, docs/suspend.md).
 *
 * The toolstack asks for suspends at times the scenario sets; the control
 * driver (kernel/control.c) suspends from the control/shutdown watch,
 * whose callback this app's CPU 0 runs from its main loop
 * (xenstore_run_watches) and whenever it waits for xenstore.  Meanwhile:
 *
 *   block I/O  writes of 8-sector blocks, `inflight` at once, each with a
 *              generation in its data; a request's completion callback
 *              counts: exactly one completion per request, none lost
 *              (a wait that times out) and none twice;
 *   timers     a periodic timer on every CPU (re-armed from its callback)
 *              keeps ticking;
 *   IPIs       a PING sent to CPU 1 at the last moment before each
 *              suspend (CPU 1 is down then: the event is pending) must
 *              arrive -- in a new domain only through the driver's
 *              broadcast after resume -- and a cross-CPU call must work;
 *   xenstore   a watch on data/probe sees the app's writes before and
 *              after; with txn=1 a transaction is held open across the
 *              suspends and must commit in the end (retried after a
 *              resume, where the old one died).
 *
 * After each resume or cancel it prints the store and console ports and
 * the domid (a real resume renumbers them) and checks everything above,
 * reading back every block written so far.  Switches: duration=MS (how
 * long to run, default 60), inflight=N (default 8), txn=1, control=0 (no
 * control driver: suspend requests go unanswered), order=N, queues=N,
 * persistent=1 (blkfront's options). */
#include <guest/blkfront.h>
#include <guest/control.h>
#include <guest/hypercall.h>
#include <guest/ipi.h>
#include <guest/irq.h>
#include <guest/kernel.h>
#include <guest/mm.h>
#include <guest/printk.h>
#include <guest/smp.h>
#include <guest/string.h>
#include <guest/time.h>
#include <guest/timer.h>
#include <guest/xenstore.h>

#define SECT         512u
#define BLK_SECT     8u /* sectors per block */
#define NBLK         64u
#define MAX_INFLIGHT 16u
#define TICK_NS      ((uint64_t)500 * 1000)
#define PACE_NS      ((uint64_t)200 * 1000) /* between two rounds of writes */
#define MS           ((uint64_t)1000 * 1000)

static unsigned failures;

#define CHECK(cond, ...)                                                                 \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            printk("suspend: FAIL: " __VA_ARGS__);                                       \
            printk("\n");                                                                \
            failures++;                                                                  \
        }                                                                                \
    } while (0)

/* ---- block I/O ---------------------------------------------------------------- */

struct slot {
    struct blkfront_req r;
    uint8_t *buf;
    unsigned blk, gen;
    bool busy;
    volatile unsigned completions; /* by the completion callback */
};

static struct blkfront *bf;
static struct slot slots[MAX_INFLIGHT];
static unsigned nr_slots, next_blk;
static unsigned written_gen[NBLK]; /* completed writes' generation, 0: never */
static unsigned issued_gen[NBLK];
static uint64_t submitted, completed, duplicated, lost;
static uint8_t *verify_buf;

static uint8_t byte_of(uint64_t sector, unsigned off, unsigned gen)
{
    return (uint8_t)((sector * 7 + off * 13 + gen * 29 + 1) & 0xff);
}

static void fill_block(uint8_t *p, unsigned blk, unsigned gen)
{
    for (unsigned s = 0; s < BLK_SECT; s++)
        for (unsigned o = 0; o < SECT; o++)
            p[s * SECT + o] = byte_of(blk * BLK_SECT + s, o, gen);
}

static void on_complete(struct blkfront_req *r)
{
    struct slot *s = r->arg;
    __atomic_add_fetch(&s->completions, 1, __ATOMIC_SEQ_CST);
}

/* A finished request: account for it, free the slot. */
static void reap(struct slot *s)
{
    unsigned c = __atomic_load_n(&s->completions, __ATOMIC_SEQ_CST);
    if (c > 1) duplicated += c - 1;
    completed++;
    CHECK(s->r.status == 0, "write of block %u: %ld", s->blk, s->r.status);
    if (!s->r.status) written_gen[s->blk] = s->gen;
    s->busy = false;
}

static void submit(struct slot *s)
{
    s->blk = next_blk++ % NBLK;
    s->gen = ++issued_gen[s->blk];
    fill_block(s->buf, s->blk, s->gen);
    s->r = (struct blkfront_req){.complete = on_complete, .arg = s};
    s->completions = 0;
    s->busy = true;
    submitted++;
    long rc = blkfront_submit(bf, BLKFRONT_WRITE, (uint64_t)s->blk * BLK_SECT, s->buf,
                              BLK_SECT * SECT, &s->r);
    CHECK(rc == 0, "submit of block %u: %ld", s->blk, rc);
}

/* Take what finished, keep every slot busy. */
static void pump(void)
{
    for (unsigned i = 0; i < nr_slots; i++) {
        struct slot *s = &slots[i];
        if (s->busy && __atomic_load_n(&s->r.done, __ATOMIC_ACQUIRE)) reap(s);
        if (!s->busy) submit(s);
    }
}

/* Wait for every request in flight (a lost one times out). */
static void drain(void)
{
    for (unsigned i = 0; i < nr_slots; i++) {
        struct slot *s = &slots[i];
        if (!s->busy) continue;
        long rc = blkfront_wait(bf, &s->r, BLKFRONT_TIMEOUT_NS / 2);
        if (rc == -XEN_ETIMEDOUT) {
            lost++;
            printk("suspend: FAIL: write of block %u never completed\n", s->blk);
            failures++;
            s->busy = false;
            continue;
        }
        reap(s);
    }
}

/* Read back every block written so far; the count of bad ones. */
static unsigned verify_all(void)
{
    unsigned bad = 0;
    for (unsigned b = 0; b < NBLK; b++) {
        /* A block being rewritten may hold either generation: skip it. */
        bool inflight = false;
        for (unsigned i = 0; i < nr_slots; i++)
            inflight |= slots[i].busy && slots[i].blk == b;
        if (inflight || !written_gen[b]) continue;
        long rc = blkfront_read(bf, (uint64_t)b * BLK_SECT, verify_buf, BLK_SECT * SECT);
        if (rc) {
            CHECK(0, "read of block %u: %ld", b, rc);
            bad++;
            continue;
        }
        for (unsigned s = 0; s < BLK_SECT; s++)
            for (unsigned o = 0; o < SECT; o++)
                if (verify_buf[s * SECT + o] !=
                    byte_of(b * BLK_SECT + s, o, written_gen[b])) {
                    bad++;
                    s = BLK_SECT;
                    break;
                }
    }
    return bad;
}

/* ---- timers and IPIs ------------------------------------------------------------ */

static struct timer ticker[NR_CPUS];
static volatile uint64_t ticks[NR_CPUS];

static void tick(struct timer *t, void *arg)
{
    unsigned cpu = (unsigned)(uintptr_t)arg;
    ticks[cpu]++;
    timer_set(t, t->deadline + TICK_NS);
}

static void start_ticker(void *arg)
{
    (void)arg;
    unsigned cpu = smp_processor_id();
    timer_init(&ticker[cpu], tick, (void *)(uintptr_t)cpu);
    timer_set(&ticker[cpu], time_monotonic_ns() + TICK_NS);
}

static volatile uint64_t pings[NR_CPUS];
static uint64_t pings_at_suspend;

static void on_ping(void)
{
    pings[smp_processor_id()]++;
}

/* Right before SCHEDOP_shutdown (this CPU alone, events off, the others
 * down): a PING that CPU 1 can only take after the suspend. */
static long last_moment(void *arg)
{
    (void)arg;
    if (nr_cpus > 1) {
        pings_at_suspend = pings[1];
        ipi_send(1, IPI_PING);
    }
    return 0;
}

static struct control_hook app_early = {
    .name = "app-early", .order = CONTROL_ORDER_LATE - 10, .suspend = last_moment};

static volatile unsigned call_ran;

static void remote_call(void *arg)
{
    (void)arg;
    call_ran++;
}

static bool ping_arrived(void *arg)
{
    (void)arg;
    return pings[1] > pings_at_suspend;
}

/* ---- xenstore ------------------------------------------------------------------- */

static volatile uint64_t probe_seen;
static uint64_t probe_value;

static void probe_changed(struct xenstore_watch *w, const char *path)
{
    (void)w, (void)path;
    uint64_t v;
    if (!xenstore_read_u64(XBT_NIL, "data/probe", &v)) probe_seen = v;
}

static struct xenstore_watch probe_watch = {.path = "data/probe", .fn = probe_changed};

static bool probe_caught_up(void *arg)
{
    (void)arg;
    return probe_seen == probe_value;
}

static long probe(void)
{
    return xenstore_printf(XBT_NIL, "data/probe", "%lu", (unsigned long)++probe_value);
}

struct identity {
    uint64_t store_port, console_port;
    unsigned domid;
};

static void identity(struct identity *id)
{
    hvm_get_param(HVM_PARAM_STORE_EVTCHN, &id->store_port);
    hvm_get_param(HVM_PARAM_CONSOLE_EVTCHN, &id->console_port);
    id->domid = 0;
    xenstore_self_domid(&id->domid);
}

static bool never(void *arg)
{
    (void)arg;
    return false;
}

/* Blocked (not spinning) until ns passed: a timer wakes us. */
static void sleep_ns(uint64_t ns)
{
    wait_event(never, NULL, ns);
}

/* After each resume or cancel: everything still works.  What needs no
 * xenstore comes first: talking to xenstore runs watch callbacks, and a
 * suspend taken there would muddle the counts checked here. */
static void check_after(bool resumed, unsigned n, const struct identity *before)
{
    /* IPIs: the PING pending at suspend, then a call. */
    bool ping = nr_cpus < 2 || wait_event(ping_arrived, NULL, 20 * MS);
    unsigned before_calls = call_ran;
    long call = nr_cpus < 2 ? 0 : smp_call(1, remote_call, NULL);
    /* Timers: every CPU ticks again. */
    uint64_t t[NR_CPUS];
    for (unsigned c = 0; c < nr_cpus; c++)
        t[c] = ticks[c];
    sleep_ns(5 * MS);
    unsigned stuck = 0;
    for (unsigned c = 0; c < nr_cpus; c++)
        stuck += ticks[c] == t[c];
    struct identity now;
    identity(&now);
    printk("suspend: %s %u: store port %lu -> %lu, console port %lu -> %lu, domid %u -> "
           "%u\n",
           resumed ? "resume" : "cancel", n, (unsigned long)before->store_port,
           (unsigned long)now.store_port, (unsigned long)before->console_port,
           (unsigned long)now.console_port, before->domid, now.domid);
    if (resumed)
        CHECK(now.store_port != before->store_port &&
                  now.console_port != before->console_port && now.domid != before->domid,
              "a resume kept the ports or the domid");
    else
        CHECK(now.store_port == before->store_port && now.domid == before->domid,
              "a cancel changed the ports or the domid");
    /* xenstore: the watch fires for a new write. */
    long prc = probe();
    bool watch = !prc && xenstore_wait(probe_caught_up, NULL, 50 * MS);
    unsigned bad = verify_all();
    printk("suspend: after %s %u: timers %s, pending ping %s, call %s, watch %s, %u bad "
           "blocks\n",
           resumed ? "resume" : "cancel", n, stuck ? "STUCK" : "ok", ping ? "ok" : "LOST",
           call == 0 && (nr_cpus < 2 || call_ran == before_calls + 1) ? "ok" : "FAILED",
           watch ? "ok" : "SILENT", bad);
    CHECK(!stuck, "%u cpu timers stopped", stuck);
    CHECK(ping, "the PING pending at suspend never arrived");
    CHECK(call == 0, "cross-CPU call: %ld", call);
    CHECK(watch, "the data/probe watch did not fire (write %ld)", prc);
    CHECK(bad == 0, "%u blocks read back wrong", bad);
}

/* ---- a transaction held across the suspends ------------------------------------- */

static bool txn_open;
static xs_transaction_t txn;

static long txn_body(xs_transaction_t t, void *arg)
{
    (void)arg;
    return xenstore_write(t, "data/txn", "committed");
}

static void txn_finish(void)
{
    if (!txn_open) return;
    long first = xenstore_transaction_end(txn, false);
    unsigned retries = 0;
    long rc = first;
    if (first == -XEN_EAGAIN) rc = xenstore_transaction(txn_body, NULL, 0, &retries);
    char val[16] = "";
    xenstore_read(XBT_NIL, "data/txn", val, sizeof(val));
    printk(
        "suspend: transaction held across the suspends: commit %s, then %s, value %s\n",
        xenstore_errname(first), xenstore_errname(rc), val);
    CHECK(rc == 0 && !strcmp(val, "committed"), "the held transaction did not commit");
}

/* ---- main ---------------------------------------------------------------------- */

/* At the last moment, events off, before blkfront stops taking responses
 * (a higher order runs first): fill every free slot, so writes are on the
 * ring when the domain suspends -- answered or not, blkfront sees no
 * response until it resumes, so it must issue them again in the new
 * domain, or take their responses after a cancel. */
static long fill_ring(void *arg)
{
    (void)arg;
    pump();
    return 0;
}

static struct control_hook app_late = {.name = "app-fill",
                                       .order = CONTROL_ORDER_BLKFRONT_FREEZE + 10,
                                       .suspend = fill_ring};

int app_main(void)
{
    if (!boot.xen) {
        printk("suspend: no Xen found, nothing to test\n");
        return 0;
    }
    smp_init();
    unsigned online = smp_start();
    long rc = xenstore_init();
    /* control=0: no control driver, so no suspend is ever taken (tests of
     * the toolstack giving up). */
    if (!rc && cmdline_uint("control", 1)) rc = control_init();
    if (rc) {
        printk("suspend: FAIL: xenstore/control: %s\n", xenstore_errname(rc));
        return 1;
    }
    uint64_t duration = cmdline_uint("duration", 60) * MS;
    nr_slots = cmdline_uint("inflight", 8);
    if (!nr_slots || nr_slots > MAX_INFLIGHT) nr_slots = 8;
    struct blkfront_opts opts = {.ring_order = cmdline_uint("order", 0),
                                 .queues = cmdline_uint("queues", 1),
                                 .persistent = cmdline_uint("persistent", 0) == 1};
    rc = blkfront_open(0, &opts, &bf);
    if (rc) {
        printk("suspend: FAIL: blkfront_open: %s\n", xenstore_errname(rc));
        return 1;
    }
    verify_buf = page_alloc_contig(BLK_SECT * SECT / PAGE_SIZE);
    for (unsigned i = 0; i < nr_slots; i++)
        slots[i].buf = page_alloc_contig(BLK_SECT * SECT / PAGE_SIZE);
    ipi_set_ping_hook(on_ping);
    control_register(&app_early);
    control_register(&app_late);
    smp_call_all(start_ticker, NULL, SMP_TIMEOUT_NS);
    rc = xenstore_watch(&probe_watch);
    CHECK(rc == 0, "watch data/probe: %ld", rc);
    if (cmdline_uint("txn", 0) == 1) {
        rc = xenstore_transaction_start(&txn);
        if (!rc) rc = xenstore_write(txn, "data/txn", "open");
        txn_open = rc == 0;
        CHECK(txn_open, "transaction: %s", xenstore_errname(rc));
    }
    struct identity id;
    identity(&id);
    printk(
        "suspend: %u cpus, store port %lu, console port %lu, domid %u: running %lu ms\n",
        online, (unsigned long)id.store_port, (unsigned long)id.console_port, id.domid,
        (unsigned long)(duration / MS));
    const struct control_stats *cs = control_stats();
    uint64_t resumes = 0, cancels = 0, start = time_monotonic_ns();
    uint64_t last_probe = 0;
    while (time_monotonic_ns() - start < duration) {
        pump();
        /* Watch callbacks run here (and while CPU 0 waits for xenstore):
         * a suspend request is taken here. */
        xenstore_run_watches();
        if (time_monotonic_ns() - last_probe >= MS) {
            probe();
            last_probe = time_monotonic_ns();
        }
        /* A pause: the backend answers meanwhile, timers and IPIs come. */
        sleep_ns(PACE_NS);
        if (cs->resumes != resumes || cs->cancels != cancels) {
            bool resumed = cs->resumes != resumes;
            resumes = cs->resumes;
            cancels = cs->cancels;
            check_after(resumed, (unsigned)(resumed ? resumes : cancels), &id);
            identity(&id);
        }
    }
    drain();
    txn_finish();
    unsigned bad = verify_all();
    const struct blkfront_stats *st = blkfront_stats(bf);
    printk("suspend: %lu writes, %lu completed, %lu lost, %lu duplicated, %u bad blocks; "
           "%lu requests to the backend\n",
           (unsigned long)submitted, (unsigned long)completed, (unsigned long)lost,
           (unsigned long)duplicated, bad, (unsigned long)st->requests);
    CHECK(submitted == completed && !lost && !duplicated && !bad, "block I/O lost data");
    printk("suspend: %lu suspend requests, %lu resumes, %lu cancels, %lu aborted\n",
           (unsigned long)cs->requests, (unsigned long)cs->resumes,
           (unsigned long)cs->cancels, (unsigned long)cs->aborted);
    printk("suspend: %s\n", failures ? "FAILED" : "done");
    return failures ? 1 : 0;
}
