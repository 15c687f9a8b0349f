/* The PV one-shot timer, per CPU: a sorted list of armed timers, with the
 * hypervisor's one-shot timer (VCPUOP_set_singleshot_timer, no flags, so a
 * deadline already past fires at once) always set to the earliest one.
 * Its expiry raises VIRQ_TIMER on this vCPU; the handler runs every timer
 * that is due and re-arms the hypervisor timer for the next.
 *
 * The list belongs to its CPU and is only touched there, with events off
 * (the VIRQ handler is the only other user), so it needs no lock. */
#include <guest/kernel.h>
#include <guest/control.h>
#include <guest/evtchn.h>
#include <guest/hypercall.h>
#include <guest/irq.h>
#include <guest/percpu.h>
#include <guest/printk.h>
#include <guest/time.h>
#include <guest/timer.h>

#define TIMER_PRIORITY 1 /* FIFO: ahead of IPIs and devices */

#ifdef GUEST_BUG_TIMER_EARLY
/* Deliberate bug: a "slack" applied the wrong way, so timers are armed
 * and run up to this long before their deadline. */
#define EARLY_NS 100000
#else
#define EARLY_NS 0
#endif

long timer_hw_singleshot(uint64_t deadline_ns, uint32_t flags)
{
    struct vcpu_set_singleshot_timer s = {.timeout_abs_ns = deadline_ns, .flags = flags};
    return HYPERVISOR_vcpu_op(VCPUOP_set_singleshot_timer, smp_processor_id(), &s);
}

long timer_hw_stop_singleshot(void)
{
    return HYPERVISOR_vcpu_op(VCPUOP_stop_singleshot_timer, smp_processor_id(), NULL);
}

long timer_hw_periodic(uint64_t period_ns)
{
    if (!period_ns)
        return HYPERVISOR_vcpu_op(VCPUOP_stop_periodic_timer, smp_processor_id(), NULL);
    struct vcpu_set_periodic_timer p = {.period_ns = period_ns};
    return HYPERVISOR_vcpu_op(VCPUOP_set_periodic_timer, smp_processor_id(), &p);
}

static void program(struct percpu *pc)
{
    if (pc->timers) timer_hw_singleshot(pc->timers->deadline - EARLY_NS, 0);
}

static void timer_virq(evtchn_port_t port, void *arg)
{
    (void)port, (void)arg;
    struct percpu *pc = this_cpu();
    uint64_t now = time_monotonic_ns();
    pc->timer_virqs++;
    pc->timer_last_virq_ns = now;
    struct timer *t;
    while ((t = pc->timers) && t->deadline <= now + EARLY_NS) {
        pc->timers = t->next;
        t->next = NULL;
        t->armed = false;
        t->fn(t, t->arg); /* may re-arm itself */
        now = time_monotonic_ns();
    }
    if (pc->timer_tick) pc->timer_tick();
    program(pc);
}

static struct control_hook timer_hook;

void timer_cpu_init(void)
{
    struct percpu *pc = this_cpu();
    if (!evtchn_ready()) return;
    /* Xen may run a periodic timer for a new vCPU; ours are one-shot. */
    timer_hw_periodic(0);
    long port = evtchn_bind_virq(VIRQ_TIMER, pc->cpu, timer_virq, NULL);
    if (port < 0) panic("timer: cpu%u: bind VIRQ_TIMER failed: %ld", pc->cpu, port);
    pc->timer_port = (evtchn_port_t)port;
    if (evtchn_abi() == EVTCHN_ABI_FIFO)
        evtchn_set_priority(pc->timer_port, TIMER_PRIORITY);
    control_register(&timer_hook);
}

/* A new domain: VIRQ_TIMER again for every CPU that had it (the others
 * are down: bound for them from here), and this CPU's timer armed. */
static void timer_resume(void *arg)
{
    (void)arg;
    for (unsigned cpu = 0; cpu < nr_cpus; cpu++) {
        struct percpu *pc = percpu_of(cpu);
        if (!pc || !pc->timer_port) continue;
        long port = evtchn_bind_virq(VIRQ_TIMER, cpu, timer_virq, NULL);
        if (port < 0)
            panic("timer: resume: cpu%u: bind VIRQ_TIMER failed: %ld", cpu, port);
        pc->timer_port = (evtchn_port_t)port;
        if (evtchn_abi() == EVTCHN_ABI_FIFO)
            evtchn_set_priority(pc->timer_port, TIMER_PRIORITY);
    }
    timer_cpu_resume();
}

void timer_cpu_resume(void)
{
#ifndef GUEST_BUG_TIMER_NOT_REARMED
    program(this_cpu());
#endif
    /* (Deliberate bug: without this, timers armed before the suspend never
     * fire, and neither does any later one that is not the earliest.) */
}

static struct control_hook timer_hook = {
    .name = "timer", .order = CONTROL_ORDER_TIMER, .resume = timer_resume};

void timer_init(struct timer *t, timer_fn_t fn, void *arg)
{
    *t = (struct timer){.fn = fn, .arg = arg};
}

static void unlink_timer(struct percpu *pc, struct timer *t)
{
    for (struct timer **p = &pc->timers; *p; p = &(*p)->next)
        if (*p == t) {
            *p = t->next;
            break;
        }
    t->next = NULL;
    t->armed = false;
}

void timer_set(struct timer *t, uint64_t deadline_ns)
{
    struct percpu *pc = this_cpu();
    unsigned long f = irq_save();
    if (t->armed) {
        if (t->cpu != pc->cpu)
            panic("timer: re-armed on cpu%u, armed on cpu%u", pc->cpu, t->cpu);
        unlink_timer(pc, t);
    }
    t->deadline = deadline_ns;
    t->cpu = pc->cpu;
    t->armed = true;
    /* After every timer with the same deadline: equal deadlines fire in
     * the order they were set. */
    struct timer **p = &pc->timers;
    while (*p && (*p)->deadline <= deadline_ns)
        p = &(*p)->next;
    t->next = *p;
    *p = t;
    if (pc->timers == t) program(pc);
    irq_restore(f);
}

bool timer_cancel(struct timer *t)
{
    struct percpu *pc = this_cpu();
    unsigned long f = irq_save();
    bool was = t->armed && t->cpu == pc->cpu;
    /* The hypervisor timer stays set for the old head: its VIRQ then
     * finds nothing due and re-arms for the new head. */
    if (was) unlink_timer(pc, t);
    irq_restore(f);
    return was;
}

void timer_set_tick_hook(void (*hook)(void))
{
    this_cpu()->timer_tick = hook;
}

uint64_t timer_virq_count(void)
{
    return this_cpu()->timer_virqs;
}
