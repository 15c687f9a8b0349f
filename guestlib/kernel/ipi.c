/* PV IPIs and the services built on them.
 *
 * Each CPU binds one port per IPI kind to itself (EVTCHNOP_bind_ipi); an
 * IPI is EVTCHNOP_send on the target's port.  Events coalesce, so an IPI
 * carries no data: each service keeps its request in memory first and the
 * handler looks there (per-target call slot, one global rendezvous, a TLB
 * generation number).
 *
 * Waits here run with events off when they are inside a handler, and yield
 * rather than spin (smp.h). */
#include <guest/kernel.h>
#include <guest/control.h>
#include <guest/evtchn.h>
#include <guest/ipi.h>
#include <guest/irq.h>
#include <guest/printk.h>
#include <guest/smp.h>

enum { CALL_FREE, CALL_CLAIMED, CALL_POSTED, CALL_RUNNING, CALL_DONE };
enum { CALL_IN_IRQ, CALL_IN_THREAD };

/* FIFO priorities per kind (lower is more urgent); 2-level ignores them. */
static const uint8_t ipi_priority[NR_IPI_KINDS] = {
    [IPI_CALL] = 5,
    [IPI_RENDEZVOUS] = 4,
    [IPI_TLB] = 3,
    [IPI_PING] = EVTCHN_FIFO_PRIORITY_DEFAULT,
};

static void (*ping_hook)(void);

static struct {
    spinlock_t lock;
    void (*setup)(void *), (*action)(void *), (*teardown)(void *);
    void *arg;
    unsigned ncpus;
    unsigned entered, acted, left, timeouts;
    uint64_t gen;
    bool active;
} rv = {.lock = SPINLOCK_INIT};

static struct {
    spinlock_t lock;
    uint64_t gen;
} tlb = {.lock = SPINLOCK_INIT};

const char *ipi_kind_name(enum ipi_kind kind)
{
    static const char names[NR_IPI_KINDS][12] = {"call", "rendezvous", "tlb", "ping"};
    return kind < NR_IPI_KINDS ? names[kind] : "?";
}

long ipi_send(unsigned cpu, enum ipi_kind kind)
{
#ifdef GUEST_BUG_IPI_WRONG_CPU
    /* Deliberate bug: PINGs go to the next CPU's port. */
    if (kind == IPI_PING && nr_cpus > 1) cpu = (cpu + 1) % nr_cpus;
#endif
    struct percpu *pc = percpu_of(cpu);
    evtchn_port_t port = pc ? __atomic_load_n(&pc->ipi_port[kind], __ATOMIC_SEQ_CST) : 0;
    if (!port || kind >= NR_IPI_KINDS) return -XEN_EINVAL;
    return evtchn_send(port);
}

void ipi_broadcast(enum ipi_kind kind)
{
    unsigned self = smp_processor_id();
    for (unsigned cpu = 0; cpu < nr_cpus; cpu++)
        if (cpu != self && cpu_online(cpu)) ipi_send(cpu, kind);
}

void ipi_broadcast_all(void)
{
    for (unsigned k = 0; k < NR_IPI_KINDS; k++)
        for (unsigned cpu = 0; cpu < nr_cpus; cpu++)
            if (cpu_online(cpu)) ipi_send(cpu, (enum ipi_kind)k);
}

void ipi_set_ping_hook(void (*hook)(void))
{
    ping_hook = hook;
}

/* ---- rendezvous ---- */

/* Increment a barrier counter and wait for everyone to reach it. */
static void rv_barrier(unsigned *counter)
{
    struct waiter w;
    atomic_add(counter, 1);
    for (wait_begin(&w, SMP_TIMEOUT_NS); atomic_load(counter) < rv.ncpus;)
        if (!wait_step(&w)) {
            atomic_add(&rv.timeouts, 1);
            return;
        }
}

static void rv_run(void)
{
    if (rv.setup) rv.setup(rv.arg);
    rv_barrier(&rv.entered);
    if (rv.action) rv.action(rv.arg);
    rv_barrier(&rv.acted);
    if (rv.teardown) rv.teardown(rv.arg);
    atomic_add(&rv.left, 1);
}

long smp_rendezvous(void (*setup)(void *), void (*action)(void *),
                    void (*teardown)(void *), void *arg)
{
    struct percpu *pc = this_cpu();
    spin_lock(&rv.lock);
    rv.setup = setup;
    rv.action = action;
    rv.teardown = teardown;
    rv.arg = arg;
    rv.ncpus = smp_nr_online();
    rv.entered = rv.acted = rv.left = rv.timeouts = 0;
    atomic_store(&rv.active, true);
    /* A new generation tells participants this is a new request (and an
     * event left over from an old one is not). */
    pc->rv_done_gen = atomic_add(&rv.gen, 1);
    ipi_broadcast(IPI_RENDEZVOUS);
    unsigned long f = irq_save();
    rv_run();
    irq_restore(f);
    struct waiter w;
    long rc = 0;
    for (wait_begin(&w, SMP_TIMEOUT_NS); atomic_load(&rv.left) < rv.ncpus;)
        if (!wait_step(&w)) {
            rc = -XEN_ETIMEDOUT;
            break;
        }
    if (atomic_load(&rv.timeouts)) rc = -XEN_ETIMEDOUT;
    atomic_store(&rv.active, false);
    spin_unlock(&rv.lock);
    return rc;
}

static void rendezvous_ipi(struct percpu *pc)
{
    uint64_t gen = atomic_load(&rv.gen);
    if (!atomic_load(&rv.active) || gen == pc->rv_done_gen) return;
    pc->rv_done_gen = gen;
    rv_run();
}

/* ---- TLB-shootdown-style broadcast ---- */

unsigned smp_tlb_shootdown(void)
{
    spin_lock(&tlb.lock);
    uint64_t gen = atomic_add(&tlb.gen, 1);
    unsigned self = smp_processor_id(), acked = 0;
    atomic_store(&this_cpu()->tlb_gen, gen);
    ipi_broadcast(IPI_TLB);
    for (unsigned cpu = 0; cpu < nr_cpus; cpu++) {
        struct percpu *pc = percpu_of(cpu);
        if (cpu == self || !cpu_online(cpu)) continue;
        struct waiter w;
        bool ok = true;
        for (wait_begin(&w, SMP_TIMEOUT_NS); atomic_load(&pc->tlb_gen) < gen;)
            if (!(ok = wait_step(&w))) break;
        acked += ok;
    }
    spin_unlock(&tlb.lock);
    return acked;
}

uint64_t smp_tlb_generation(void)
{
    return atomic_load(&this_cpu()->tlb_gen);
}

/* The "flush": a ring-3 guest cannot invlpg, so acknowledging the newest
 * generation is all there is to do. */
static void tlb_ipi(struct percpu *pc)
{
    atomic_store(&pc->tlb_gen, atomic_load(&tlb.gen));
}

/* ---- calls ---- */

static bool claim_slot(struct percpu *target)
{
    struct waiter w;
    for (wait_begin(&w, SMP_TIMEOUT_NS);;) {
        uint32_t expect = CALL_FREE;
        if (atomic_cas(&target->call.state, &expect, CALL_CLAIMED)) return true;
        if (!wait_step(&w)) return false;
    }
}

static long post_call(unsigned cpu, void (*fn)(void *), void *arg, uint32_t mode)
{
    struct percpu *pc = percpu_of(cpu);
    if (!pc || !cpu_online(cpu)) return -XEN_EINVAL;
    if (!claim_slot(pc)) return -XEN_ETIMEDOUT;
    pc->call.fn = fn;
    pc->call.arg = arg;
    pc->call.mode = mode;
    atomic_store(&pc->call.state, CALL_POSTED);
    return ipi_send(cpu, IPI_CALL);
}

long smp_call_wait(unsigned cpu, uint64_t timeout_ns)
{
    struct percpu *pc = percpu_of(cpu);
    if (!pc) return -XEN_EINVAL;
    if (cpu == smp_processor_id()) return 0; /* ran inline */
    struct waiter w;
    for (wait_begin(&w, timeout_ns); atomic_load(&pc->call.state) != CALL_DONE;)
        if (!wait_step(&w)) return -XEN_ETIMEDOUT;
    atomic_store(&pc->call.state, CALL_FREE);
    return 0;
}

long smp_call(unsigned cpu, void (*fn)(void *), void *arg)
{
    if (cpu == smp_processor_id()) {
        unsigned long f = irq_save();
        fn(arg);
        irq_restore(f);
        return 0;
    }
    long rc = post_call(cpu, fn, arg, CALL_IN_IRQ);
    return rc ? rc : smp_call_wait(cpu, SMP_TIMEOUT_NS);
}

long smp_call_post(unsigned cpu, void (*fn)(void *), void *arg)
{
    if (cpu == smp_processor_id()) return -XEN_EINVAL; /* it would wait for itself */
    return post_call(cpu, fn, arg, CALL_IN_IRQ);
}

long smp_call_async(unsigned cpu, void (*fn)(void *), void *arg)
{
    if (cpu == smp_processor_id()) {
        fn(arg);
        return 0;
    }
    return post_call(cpu, fn, arg, CALL_IN_THREAD);
}

bool smp_call_queued(struct percpu *pc)
{
    return atomic_load(&pc->call.state) == CALL_POSTED &&
           atomic_load(&pc->call.mode) == CALL_IN_THREAD;
}

/* From the idle loop: run work posted for thread context. */
bool smp_call_run_queued(struct percpu *pc)
{
    uint32_t expect = CALL_POSTED;
    if (atomic_load(&pc->call.mode) != CALL_IN_THREAD ||
        !atomic_cas(&pc->call.state, &expect, CALL_RUNNING))
        return false;
    pc->call.fn(pc->call.arg);
    atomic_store(&pc->call.state, CALL_DONE);
    return true;
}

static void call_ipi(struct percpu *pc)
{
    uint32_t expect = CALL_POSTED;
    if (atomic_load(&pc->call.mode) != CALL_IN_IRQ ||
        !atomic_cas(&pc->call.state, &expect, CALL_RUNNING))
        return; /* thread work: the idle loop, which this event woke, runs it */
    pc->call.fn(pc->call.arg);
    atomic_store(&pc->call.state, CALL_DONE);
}

/* ---- the handler and binding ---- */

static void ipi_handler(evtchn_port_t port, void *arg)
{
    (void)port;
    struct percpu *pc = this_cpu();
    enum ipi_kind kind = (enum ipi_kind)(uintptr_t)arg;
    pc->ipi_count[kind]++;
    switch (kind) {
    case IPI_CALL:
        /* A suspend stops this CPU here, and it carries on from here. */
        if (control_park_requested(pc)) control_park(pc);
        call_ipi(pc);
        break;
    case IPI_RENDEZVOUS:
        rendezvous_ipi(pc);
        break;
    case IPI_TLB:
        tlb_ipi(pc);
        break;
    case IPI_PING:
        if (ping_hook) ping_hook();
        break;
    }
}

/* A new domain: every CPU's IPI ports bound again (the others are down:
 * bound for them from here).  Senders read the ports from percpu. */
static void ipi_resume(void *arg)
{
    (void)arg;
    for (unsigned cpu = 0; cpu < nr_cpus; cpu++) {
        struct percpu *pc = percpu_of(cpu);
        for (unsigned k = 0; pc && k < NR_IPI_KINDS; k++) {
            if (!atomic_load(&pc->ipi_port[k])) continue;
            long port = evtchn_bind_ipi(cpu, ipi_handler, (void *)(uintptr_t)k);
            if (port < 0)
                panic("ipi: resume: cpu%u: bind_ipi(%s) failed: %ld", cpu,
                      ipi_kind_name((enum ipi_kind)k), port);
            if (evtchn_abi() == EVTCHN_ABI_FIFO)
                evtchn_set_priority((evtchn_port_t)port, ipi_priority[k]);
            atomic_store(&pc->ipi_port[k], (evtchn_port_t)port);
        }
    }
}

static struct control_hook ipi_hook = {
    .name = "ipi", .order = CONTROL_ORDER_IPI, .resume = ipi_resume};

void ipi_cpu_init(void)
{
    struct percpu *pc = this_cpu();
    if (!evtchn_ready()) return;
    for (unsigned k = 0; k < NR_IPI_KINDS; k++) {
        long port = evtchn_bind_ipi(pc->cpu, ipi_handler, (void *)(uintptr_t)k);
        if (port < 0)
            panic("ipi: cpu%u: bind_ipi(%s) failed: %ld", pc->cpu,
                  ipi_kind_name((enum ipi_kind)k), port);
        if (evtchn_abi() == EVTCHN_ABI_FIFO)
            evtchn_set_priority((evtchn_port_t)port, ipi_priority[k]);
        atomic_store(&pc->ipi_port[k], (evtchn_port_t)port);
    }
    control_register(&ipi_hook);
}
