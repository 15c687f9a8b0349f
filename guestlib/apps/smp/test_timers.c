/* test=timers: on every CPU at once, a series of one-shot timers at chosen
 * virtual times (one already past, the rest out of order), each recording
 * the pvclock time its callback ran; then VCPU_SSHOTTMR_future with a past
 * deadline (-ETIME), set_timer_op, stop_singleshot and the periodic timer.
 * The boot CPU prints everything in CPU order: each fired time must be at
 * or after the time asked, and the callbacks must run in deadline order. */
#include "smp_app.h"

#define NR_SHOTS  8
#define WAIT_NS   ((uint64_t)50 * 1000 * 1000)
#define PERIOD_NS ((uint64_t)1000 * 1000)
#define NR_TICKS  5

/* Offsets from the start, in ns; the first is in the past. */
static const int64_t offsets[NR_SHOTS] = {
    -1000000, 30000, 250000, 100000, 1000000, 500000, 3000000, 2000000,
};

struct shot {
    struct timer t;
    uint64_t asked, fired;
    unsigned rank; /* order in which it ran, from 1 */
};

struct cpu_result {
    uint64_t base;
    struct shot shots[NR_SHOTS];
    unsigned ran;
    bool all_fired;
    long future_rc;
    uint64_t op_asked, op_fired;
    long op_rc;
    bool stop_quiet;
    long periodic_rc, short_period_rc, other_vcpu_rc;
    uint64_t periodic_start, ticks[NR_TICKS];
    unsigned nticks;
};

static struct cpu_result results[NR_CPUS];

static void shot_fn(struct timer *t, void *arg)
{
    struct shot *s = arg;
    struct cpu_result *r = &results[smp_processor_id()];
    (void)t;
    s->fired = time_monotonic_ns();
    s->rank = ++r->ran;
}

static bool all_ran(void *arg)
{
    return ((struct cpu_result *)arg)->ran == NR_SHOTS;
}

static void tick_hook(void)
{
    struct cpu_result *r = &results[smp_processor_id()];
    if (r->nticks < NR_TICKS) r->ticks[r->nticks++] = time_monotonic_ns();
}

static bool ticks_done(void *arg)
{
    return ((struct cpu_result *)arg)->nticks >= NR_TICKS;
}

/* Yield (not block) until this CPU has seen more VIRQ_TIMERs than before,
 * or timeout: blocking would need a timeout timer, which would re-program
 * the very one-shot timer under test. */
static bool virq_after(uint64_t before, uint64_t timeout_ns)
{
    struct waiter w;
    for (wait_begin(&w, timeout_ns); timer_virq_count() == before;)
        if (!wait_step(&w)) return false;
    return true;
}

static void timers_on_cpu(void *arg)
{
    (void)arg;
    unsigned cpu = smp_processor_id();
    struct cpu_result *r = &results[cpu];
    /* CPUs start a little apart so their deadlines interleave. */
    r->base = time_monotonic_ns() + cpu * 7000;
    for (unsigned i = 0; i < NR_SHOTS; i++) {
        struct shot *s = &r->shots[i];
        /* (Early in boot "1 ms ago" may be before time 0: use 0.) */
        s->asked = offsets[i] < 0 && r->base < (uint64_t)-offsets[i]
                       ? 0
                       : r->base + (uint64_t)offsets[i];
        timer_init(&s->t, shot_fn, s);
        timer_set(&s->t, s->asked);
    }
    r->all_fired = wait_event(all_ran, r, WAIT_NS);

    /* A deadline already past with VCPU_SSHOTTMR_future is refused. */
    r->future_rc = timer_hw_singleshot(time_monotonic_ns() - 1000, VCPU_SSHOTTMR_future);

    /* set_timer_op: the old one-shot interface, same VIRQ. */
    uint64_t before = timer_virq_count();
    r->op_asked = time_monotonic_ns() + 200000;
    r->op_rc = HYPERVISOR_set_timer_op(r->op_asked);
    if (virq_after(before, 10 * 1000 * 1000))
        r->op_fired = this_cpu()->timer_last_virq_ns;

    /* stop_singleshot: an armed timer that is stopped never fires. */
    timer_hw_singleshot(time_monotonic_ns() + 100000, 0);
    timer_hw_stop_singleshot();
    before = timer_virq_count();
    r->stop_quiet = !virq_after(before, 300000);

    /* Xen's limits: periods under 1 ms, and another vCPU's one-shot. */
    r->short_period_rc = timer_hw_periodic(PERIOD_NS - 1);
    struct vcpu_set_singleshot_timer other = {.timeout_abs_ns =
                                                  time_monotonic_ns() + PERIOD_NS};
    r->other_vcpu_rc =
        HYPERVISOR_vcpu_op(VCPUOP_set_singleshot_timer, (cpu + 1) % nr_cpus, &other);

    /* Periodic: the k-th tick comes no earlier than k periods in. */
    timer_set_tick_hook(tick_hook);
    r->periodic_start = time_monotonic_ns();
    r->periodic_rc = timer_hw_periodic(PERIOD_NS);
    if (!r->periodic_rc) wait_event(ticks_done, r, WAIT_NS);
    timer_hw_periodic(0);
    timer_set_tick_hook(NULL);
}

static bool report_cpu(unsigned cpu)
{
    struct cpu_result *r = &results[cpu];
    unsigned early = 0, misordered = 0, fired = 0;
    uint64_t max_late = 0;
    for (unsigned i = 0; i < NR_SHOTS; i++) {
        struct shot *s = &r->shots[i];
        /* Rank expected: how many deadlines are earlier, plus one. */
        unsigned want = 1;
        for (unsigned j = 0; j < NR_SHOTS; j++)
            want += r->shots[j].asked < s->asked;
        if (!s->rank) {
            printk("timers: cpu%u #%u asked %ld ns: never fired FAIL\n", cpu, i,
                   (long)(s->asked - r->base));
            continue;
        }
        fired++;
        bool is_early = s->fired < s->asked;
        uint64_t late = is_early ? 0 : s->fired - s->asked;
        early += is_early;
        misordered += s->rank != want;
        if (late > max_late) max_late = late;
        printk("timers: cpu%u #%u asked %ld ns fired %ld ns (%s %lu ns) rank %u/%u%s\n",
               cpu, i, (long)(s->asked - r->base), (long)(s->fired - r->base),
               is_early ? "EARLY by" : "late", is_early ? s->asked - s->fired : late,
               s->rank, want, s->rank == want ? "" : " MISORDERED");
    }
    bool shots_ok = fired == NR_SHOTS && !early && !misordered;
    printk("timers: cpu%u %u/%u fired, %s, %s, max late %lu ns: %s\n", cpu, fired,
           NR_SHOTS, misordered ? "OUT OF ORDER" : "in order",
           early ? "SOME EARLY" : "none early", max_late, shots_ok ? "ok" : "FAIL");

    bool future_ok = r->future_rc == -XEN_ETIME;
    printk("timers: cpu%u future flag with a past deadline -> %s: %s\n", cpu,
           errname(r->future_rc), future_ok ? "ok" : "FAIL");

    bool op_ok = !r->op_rc && r->op_fired >= r->op_asked;
    printk("timers: cpu%u set_timer_op -> %s, fired %s: %s\n", cpu, errname(r->op_rc),
           !r->op_fired                 ? "never"
           : r->op_fired >= r->op_asked ? "after the deadline"
                                        : "EARLY",
           op_ok ? "ok" : "FAIL");

    printk("timers: cpu%u stop_singleshot: %s: %s\n", cpu,
           r->stop_quiet ? "no VIRQ" : "VIRQ arrived anyway",
           r->stop_quiet ? "ok" : "FAIL");

    bool limits_ok =
        r->short_period_rc == -XEN_EINVAL &&
        (nr_cpus == 1 ? r->other_vcpu_rc == 0 : r->other_vcpu_rc == -XEN_EINVAL);
    printk("timers: cpu%u periodic under 1 ms -> %s, another vcpu's one-shot -> %s: %s\n",
           cpu, errname(r->short_period_rc), errname(r->other_vcpu_rc),
           limits_ok ? "ok" : "FAIL");

    unsigned bad_ticks = 0;
    for (unsigned k = 0; k < r->nticks; k++)
        bad_ticks += r->ticks[k] < r->periodic_start + (k + 1) * PERIOD_NS;
    bool per_ok = !r->periodic_rc && r->nticks == NR_TICKS && !bad_ticks;
    printk("timers: cpu%u periodic %lu ns -> %s: %u ticks, %u early: %s\n", cpu,
           PERIOD_NS, errname(r->periodic_rc), r->nticks, bad_ticks,
           per_ok ? "ok" : "FAIL");
    return shots_ok && future_ok && op_ok && r->stop_quiet && limits_ok && per_ok;
}

int test_timers(void)
{
    long rc = run_on_all_cpus(timers_on_cpu, NULL);
    unsigned good = 0;
    for (unsigned cpu = 0; cpu < nr_cpus; cpu++)
        good += report_cpu(cpu);
    printk("timers: %u of %u cpus ok%s\n", good, nr_cpus,
           rc ? " (some cpu timed out)" : "");
    return good == nr_cpus && !rc ? 0 : 1;
}
