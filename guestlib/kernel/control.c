/* The control driver (guest/control.h): control/shutdown requests, the
 * registry of suspend/resume hooks, and the suspend sequence itself.
 *
 * The sequence runs on the CPU that took the request, in thread context:
 * from the control/shutdown watch's callback, which first lets go of its
 * place as the CPU delivering watch events (xenstore_watch_detach), since
 * resuming devices waits for their backends' state watches.  The other
 * CPUs park themselves from their CALL IPI: a CPU busy in thread context
 * with interrupts on still takes it, as stop_machine would stop it. */
#include <guest/control.h>
#include <guest/arch.h>
#include <guest/evtchn.h>
#include <guest/hypercall.h>
#include <guest/ipi.h>
#include <guest/irq.h>
#include <guest/kernel.h>
#include <guest/printk.h>
#include <guest/smp.h>
#include <guest/string.h>
#include <guest/time.h>
#include <guest/timer.h>
#include <guest/xenstore.h>

#define MAX_HOOKS 16

/* pc->park */
enum { PARK_NONE, PARK_REQUESTED, PARK_DOWN };
/* How the domain came back, for the CPUs returning from VCPUOP_down. */
enum { BACK_CANCELLED, BACK_RESUMED };

static struct {
    spinlock_t lock;
    struct control_hook *hooks[MAX_HOOKS]; /* by order, then registration */
    unsigned nr_hooks;
    struct xenstore_watch watch;
    bool watching;
    uint32_t back;       /* BACK_*, read by returning APs */
    uint32_t in_suspend; /* a suspend is running (one at a time) */
    struct control_stats stats;
} ctl = {.lock = SPINLOCK_INIT};

long control_register(struct control_hook *h)
{
    long rc = 0;
    unsigned long f = irq_save();
    spin_lock(&ctl.lock);
    if (h->registered) goto out;
    if (ctl.nr_hooks == MAX_HOOKS) {
        rc = -XEN_ENOSPC;
        goto out;
    }
    unsigned i = ctl.nr_hooks;
    while (i > 0 && ctl.hooks[i - 1]->order > h->order) {
        ctl.hooks[i] = ctl.hooks[i - 1];
        i--;
    }
    ctl.hooks[i] = h;
    ctl.nr_hooks++;
    h->registered = true;
out:
    spin_unlock(&ctl.lock);
    irq_restore(f);
    return rc;
}

const struct control_stats *control_stats(void)
{
    return &ctl.stats;
}

/* Hooks with order in [lo, hi), ascending: resume or cancel. */
static void run_hooks(int lo, int hi, bool resumed)
{
    for (unsigned i = 0; i < ctl.nr_hooks; i++) {
        struct control_hook *h = ctl.hooks[i];
        if (h->order < lo || h->order >= hi) continue;
        void (*fn)(void *) = resumed ? h->resume : h->cancel;
        if (fn) fn(h->arg);
    }
}

/* Suspend hooks with order in [lo, hi), descending: 0, or the first
 * refusal (the caller then cancels every hook: cancel must cope with a
 * hook that never suspended). */
static long suspend_hooks(int lo, int hi)
{
    for (unsigned i = ctl.nr_hooks; i-- > 0;) {
        struct control_hook *h = ctl.hooks[i];
        if (h->order < lo || h->order >= hi) continue;
        long rc = h->suspend ? h->suspend(h->arg) : 0;
        if (!rc) continue;
        printk("control: %s refused to suspend: %ld\n", h->name, rc);
        return rc;
    }
    return 0;
}

/* ---- other CPUs ----------------------------------------------------------------- */

bool control_park_requested(struct percpu *pc)
{
    return atomic_load(&pc->park) == PARK_REQUESTED;
}

/* On the parking CPU, interrupts off (its CALL IPI, or its idle loop). */
void control_park(struct percpu *pc)
{
    atomic_store(&pc->park, PARK_DOWN);
    HYPERVISOR_vcpu_op(VCPUOP_down, pc->cpu, NULL);
    /* Up again: in a new domain this CPU's timer is not armed there. */
    if (atomic_load(&ctl.back) == BACK_RESUMED) timer_cpu_resume();
    atomic_store(&pc->park, PARK_NONE);
}

static bool parked(unsigned cpu)
{
    return atomic_load(&percpu_of(cpu)->park) == PARK_DOWN &&
           HYPERVISOR_vcpu_op(VCPUOP_is_up, cpu, NULL) == 0;
}

static void unpark(unsigned self, unsigned upto)
{
    for (unsigned cpu = 0; cpu < upto; cpu++) {
        struct percpu *pc = percpu_of(cpu);
        if (cpu == self || !pc || atomic_load(&pc->park) == PARK_NONE) continue;
        if (atomic_load(&pc->park) == PARK_REQUESTED) {
            /* Never went: take the request back (it may still come; the
             * CPU then goes down and waits -- so wait for that instead). */
            uint32_t expect = PARK_REQUESTED;
            if (atomic_cas(&pc->park, &expect, PARK_NONE)) continue;
        }
        struct waiter w;
        for (wait_begin(&w, SMP_TIMEOUT_NS); !parked(cpu) && wait_step(&w);)
            ;
        HYPERVISOR_vcpu_op(VCPUOP_up, cpu, NULL);
        for (wait_begin(&w, SMP_TIMEOUT_NS); atomic_load(&pc->park) != PARK_NONE;)
            if (!wait_step(&w)) {
                printk("control: cpu%u did not come back\n", cpu);
                break;
            }
    }
}

/* Every other online CPU goes down; false (and the ones that went are
 * back) if one did not within SMP_TIMEOUT_NS. */
static bool park_others(unsigned self)
{
    for (unsigned cpu = 0; cpu < nr_cpus; cpu++) {
        if (cpu == self || !cpu_online(cpu)) continue;
        atomic_store(&percpu_of(cpu)->park, PARK_REQUESTED);
        ipi_send(cpu, IPI_CALL);
    }
    for (unsigned cpu = 0; cpu < nr_cpus; cpu++) {
        if (cpu == self || !cpu_online(cpu)) continue;
        struct waiter w;
        for (wait_begin(&w, SMP_TIMEOUT_NS); !parked(cpu);)
            if (!wait_step(&w)) {
                printk("control: cpu%u did not stop: suspend abandoned\n", cpu);
                atomic_store(&ctl.back, BACK_CANCELLED);
                unpark(self, nr_cpus);
                return false;
            }
    }
    return true;
}

/* ---- the sequence --------------------------------------------------------------- */

static long ack_in(xs_transaction_t t, void *arg)
{
    (void)arg;
    char val[16];
    long rc = xenstore_read(t, "control/shutdown", val, sizeof(val));
    if (rc < 0) return rc;
    /* Withdrawn meanwhile (the toolstack gave up): nothing to acknowledge. */
    if (strcmp(val, "suspend")) return -XEN_ENODATA;
    return xenstore_write(t, "control/shutdown", "");
}

/* Nothing was suspended after all: every hook's cancel, the APs (if they
 * were stopped) back. */
static long abandon(long rc, bool parked_all, unsigned self, unsigned long irqs)
{
    if (parked_all) {
        atomic_store(&ctl.back, BACK_CANCELLED);
        run_hooks(0, CONTROL_ORDER_LATE, false);
        unpark(self, nr_cpus);
        irq_restore(irqs);
        run_hooks(CONTROL_ORDER_LATE, 1 << 30, false);
    } else {
        run_hooks(0, 1 << 30, false); /* the store thaws, devices run on */
    }
    ctl.stats.aborted++;
    atomic_store(&ctl.in_suspend, 0);
    return rc;
}

long control_suspend(void)
{
    uint32_t expect = 0;
    if (!atomic_cas(&ctl.in_suspend, &expect, 1)) return -XEN_EBUSY;
    unsigned self = smp_processor_id();
    printk("control: suspending\n");
    /* Quiesce: nothing half-way on the store ring. */
    long rc = xenstore_suspend();
    if (!rc) {
        rc = xenstore_transaction(ack_in, NULL, 0, NULL);
        if (rc == -XEN_ENODATA) printk("control: request withdrawn: suspending anyway\n");
        rc = 0;
    }
    /* Devices and the like, with every CPU still running. */
    if (!rc) rc = suspend_hooks(CONTROL_ORDER_LATE, 1 << 30);
    if (rc) return abandon(rc, false, self, 0);
    unsigned long f = irq_save();
    if (!park_others(self)) {
        irq_restore(f);
        return abandon(-XEN_ETIMEDOUT, false, self, 0);
    }
    /* The last moment: this CPU alone, events off. */
    rc = suspend_hooks(0, CONTROL_ORDER_LATE);
    if (rc) return abandon(rc, true, self, f);
    uint64_t t0 = time_monotonic_ns();
    struct sched_shutdown ss = {.reason = SHUTDOWN_suspend};
    rc = HYPERVISOR_sched_op(SCHEDOP_shutdown, &ss);
    /* 0: a new domain, where nothing the hypervisor held for us is left. */
    bool resumed = rc == 0;
#ifdef GUEST_BUG_SUSPEND_CANCEL_AS_RESUME
    /* Deliberate bug: any return but an error taken for a new domain: a
     * cancel (1) rebuilds what the hypervisor still holds. */
    resumed = rc >= 0;
#endif
    atomic_store(&ctl.back, resumed ? BACK_RESUMED : BACK_CANCELLED);
    if (resumed) {
        /* Before any other hypercall: the page is ours to install again
         * (Xen's survives in RAM; it costs nothing to be sure). */
        xen_hypercall_page_install();
        shared_info_resume();
        smp_resume_vcpu_info();
    }
    ctl.stats.last_downtime_ns = time_monotonic_ns() - t0;
    run_hooks(0, CONTROL_ORDER_LATE, resumed);
    unpark(self, nr_cpus);
    irq_restore(f);
    run_hooks(CONTROL_ORDER_LATE, 1 << 30, resumed);
    if (resumed) {
#ifndef GUEST_BUG_IPI_NOT_RESENT
        /* IPIs pending at suspend were events of the old domain: lost.
         * Every kind once to every CPU; each handler copes with a spurious
         * one. */
        ipi_broadcast_all();
#endif
        ctl.stats.resumes++;
    } else {
        ctl.stats.cancels++;
    }
    printk("control: %s after %lu ns\n",
           resumed   ? "resumed in a new domain"
           : rc == 1 ? "suspend cancelled"
                     : "suspend failed",
           (unsigned long)ctl.stats.last_downtime_ns);
    atomic_store(&ctl.in_suspend, 0);
    return resumed ? 0 : 1;
}

/* ---- control/shutdown --------------------------------------------------------- */

static void shutdown_changed(struct xenstore_watch *w, const char *path)
{
    (void)w, (void)path;
    char val[32];
    long n = xenstore_read(XBT_NIL, "control/shutdown", val, sizeof(val));
    if (n <= 0 || (size_t)n >= sizeof(val)) return; /* "" or gone: nothing asked */
    if (!strcmp(val, "suspend")) {
        ctl.stats.requests++;
        /* Resuming waits for devices' state watches: let them through. */
        xenstore_watch_detach();
        control_suspend();
        return;
    }
    unsigned reason;
    if (!strcmp(val, "poweroff") || !strcmp(val, "halt"))
        reason = SHUTDOWN_poweroff;
    else if (!strcmp(val, "reboot"))
        reason = SHUTDOWN_reboot;
    else {
        printk("control: unknown request \"%s\" ignored\n", val);
        return;
    }
    xenstore_write(XBT_NIL, "control/shutdown", "");
    printk("control: %s requested\n", val);
    guest_shutdown(reason);
}

long control_init(void)
{
    if (ctl.watching) return 0;
    if (!xenstore_ready()) return -XEN_ENODEV;
    /* What Linux advertises, so a toolstack knows it may ask. */
    static const char *const features[] = {
        "control/feature-poweroff", "control/feature-reboot", "control/feature-suspend"};
    for (unsigned i = 0; i < ARRAY_SIZE(features); i++)
        xenstore_write(XBT_NIL, features[i], "1");
    ctl.watch.path = "control/shutdown";
    ctl.watch.fn = shutdown_changed;
    long rc = xenstore_watch(&ctl.watch);
    if (!rc) ctl.watching = true;
    return rc;
}
