/* SMP bring-up and the primitives every CPU uses to wait.
 *
 * Per-CPU areas: CPU 0's is a static, size-aligned block the boot CPU moves
 * onto before anything else runs (percpu_boot); an AP's comes from the page
 * allocator.  APs start with VCPUOP_initialise (64-bit mode, on their own
 * stack, %rdi = their struct percpu) and VCPUOP_up, register their own
 * vcpu_info, load the IDT, set up events, timer and IPIs, say they are
 * online, and idle in SCHEDOP_block serving IPIs and timers.
 *
 * Waiting never spins without trapping: xensim interleaves vCPUs only at VM
 * exits, and on Xen a spinning vCPU burns the time its peer needs. */
#include <guest/kernel.h>
#include <guest/arch.h>
#include <guest/control.h>
#include <guest/evtchn.h>
#include <guest/hypercall.h>
#include <guest/ipi.h>
#include <guest/irq.h>
#include <guest/mm.h>
#include <guest/printk.h>
#include <guest/smp.h>
#include <guest/string.h>
#include <guest/time.h>
#include <guest/timer.h>
#include <xen/hvm/hvm_vcpu.h>

struct percpu *percpu_table[NR_CPUS];
unsigned nr_cpus = 1;
static unsigned nr_online = 1;

static uint8_t cpu0_block[CPU_STACK_SIZE] __aligned(CPU_STACK_SIZE);

extern uint8_t pvh_pagetables[];
extern const uint8_t ap_start[];
__noreturn void stack_switch_call(void (*fn)(void *), void *arg, void *stack_top);
__noreturn void ap_main(struct percpu *pc);
bool smp_call_run_queued(struct percpu *pc); /* ipi.c */
bool smp_call_queued(struct percpu *pc);     /* ipi.c */
static void halt_irqs_off(struct percpu *pc);

static struct percpu *percpu_setup(void *block, unsigned cpu)
{
    struct percpu *pc = block;
    memset(pc, 0, sizeof(*pc));
    pc->magic = PERCPU_MAGIC;
    pc->cpu = cpu;
    pc->canary = PERCPU_CANARY;
    if (boot.shared_info && cpu < XEN_LEGACY_MAX_VCPUS)
        pc->vi = &boot.shared_info->vcpu_info[cpu];
    percpu_table[cpu] = pc;
    return pc;
}

void percpu_boot(void (*fn)(void *), void *arg)
{
    percpu_setup(cpu0_block, 0);
    stack_switch_call(fn, arg, cpu0_block + CPU_STACK_SIZE);
}

void percpu_bsp_xen_init(void)
{
    percpu_of(0)->vi = &boot.shared_info->vcpu_info[0];
}

/* CPU_STACK_SIZE of contiguous, size-aligned memory from a page allocator
 * that hands out single pages: take pages until the last few form such a
 * block, give the others back.  The allocator walks memory upwards, so
 * this takes at most two blocks' worth of pages. */
static void *alloc_cpu_block(void)
{
    enum { N = CPU_STACK_SIZE / PAGE_SIZE, TRIES = 4 * N + 8 };
    void *got[TRIES];
    void *block = NULL;
    unsigned n = 0;
    while (!block && n < TRIES && (got[n] = page_alloc())) {
        n++;
        if (n < N) continue;
        uintptr_t first = (uintptr_t)got[n - N];
        bool ok = !(first & (CPU_STACK_SIZE - 1));
        for (unsigned i = 1; ok && i < N; i++)
            ok = (uintptr_t)got[n - N + i] == first + i * PAGE_SIZE;
        if (ok) {
            block = (void *)first;
            n -= N;
        }
    }
    for (unsigned i = 0; i < n; i++)
        page_free(got[i]);
    return block;
}

/* The CPU's own vcpu_info at the base of its per-CPU block. */
static long register_vcpu_info(struct percpu *pc)
{
    uint64_t pa = va_to_pa(&pc->vcpu_info);
    struct vcpu_register_vcpu_info r = {
        .mfn = pa >> PAGE_SHIFT,
        .offset = (uint32_t)(pa & (PAGE_SIZE - 1)),
    };
    long rc = HYPERVISOR_vcpu_op(VCPUOP_register_vcpu_info, pc->cpu, &r);
    if (!rc) __atomic_store_n(&pc->vi, &pc->vcpu_info, __ATOMIC_SEQ_CST);
    return rc;
}

void smp_resume_vcpu_info(void)
{
    for (unsigned cpu = 0; cpu < nr_cpus; cpu++) {
        struct percpu *pc = percpu_of(cpu);
        if (pc->vi == &pc->vcpu_info) {
            /* Xen copies the shared_info slot over ours (VCPUOP register's
             * semantics): the mask is set again below. */
            __atomic_store_n(&pc->vi, NULL, __ATOMIC_SEQ_CST);
            long rc = register_vcpu_info(pc);
            if (rc) {
                if (cpu >= XEN_LEGACY_MAX_VCPUS)
                    panic("smp: resume: cpu%u: VCPUOP_register_vcpu_info: %ld", cpu, rc);
                pc->vi = &boot.shared_info->vcpu_info[cpu];
            }
        }
        /* Every CPU stopped with events off (the others in their IPI), so
         * they stay off until it turns them on itself. */
        if (pc->vi)
            pc->vi->evtchn_upcall_mask = boot.irq_mode == IRQ_MODE_PV_MASK ? 1 : 0;
    }
}

static unsigned parse_maxcpus(void)
{
    char buf[8];
    unsigned n = 0;
    if (!cmdline_get("maxcpus", buf, sizeof(buf))) return NR_CPUS;
    for (const char *p = buf; *p >= '0' && *p <= '9'; p++)
        n = n * 10 + (unsigned)(*p - '0');
    return n >= 1 && n <= NR_CPUS ? n : NR_CPUS;
}

void smp_init(void)
{
    if (!boot.xen || nr_cpus > 1) return;
    /* The domain's vCPUs are 0..n-1: VCPUOP_is_up answers for each of
     * them (0 or 1) and -ENOENT past the last. */
    unsigned max = parse_maxcpus(), n = 1;
    while (n < max && HYPERVISOR_vcpu_op(VCPUOP_is_up, n, NULL) >= 0)
        n++;
    unsigned cpu;
    for (cpu = 1; cpu < n; cpu++) {
        void *block = alloc_cpu_block();
        if (!block) {
            printk("smp: no memory for cpu%u's stack, using %u cpus\n", cpu, cpu);
            break;
        }
        percpu_setup(block, cpu);
    }
    nr_cpus = cpu;
    long rc = register_vcpu_info(percpu_of(0));
    if (rc) printk("smp: cpu0: VCPUOP_register_vcpu_info failed: %ld\n", rc);
}

/* What every CPU sets up for itself once its vcpu_info is in place. */
static void cpu_setup(struct percpu *pc)
{
    evtchn_cpu_init();
    timer_cpu_init();
    ipi_cpu_init();
    __atomic_store_n(&pc->online, true, __ATOMIC_SEQ_CST);
    atomic_add(&nr_online, 1);
}

static long start_ap(unsigned cpu)
{
    struct percpu *pc = percpu_of(cpu);
    vcpu_hvm_context_t ctx = {.mode = VCPU_HVM_MODE_64B};
    ctx.cpu_regs.x86_64 = (xen_vcpu_hvm_x86_64_t){
        .rip = (uintptr_t)ap_start,
        .rsp = (uintptr_t)pc + CPU_STACK_SIZE,
        .rdi = (uintptr_t)pc,
        .rflags = X86_RFLAGS_FIXED, /* IF clear */
        /* The boot CPU's long-mode setup: its page tables, which map the
         * direct map the AP runs in. */
        .cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_PG,
        .cr3 = va_to_pa(pvh_pagetables),
        .cr4 = X86_CR4_PAE,
        .efer = X86_EFER_LME | X86_EFER_LMA,
    };
    long rc = HYPERVISOR_vcpu_op(VCPUOP_initialise, cpu, &ctx);
    if (rc) {
        printk("smp: cpu%u: VCPUOP_initialise failed: %ld\n", cpu, rc);
        return rc;
    }
    if ((rc = HYPERVISOR_vcpu_op(VCPUOP_up, cpu, NULL))) {
        printk("smp: cpu%u: VCPUOP_up failed: %ld\n", cpu, rc);
        return rc;
    }
    struct waiter w;
    for (wait_begin(&w, SMP_TIMEOUT_NS); !__atomic_load_n(&pc->online, __ATOMIC_SEQ_CST);)
        if (!wait_step(&w)) {
            printk("smp: cpu%u did not come online\n", cpu);
            return -XEN_ETIMEDOUT;
        }
    return 0;
}

unsigned smp_start(void)
{
    static bool started;
    if (!boot.xen || started) return nr_online;
    started = true;
    struct percpu *pc = this_cpu();
    evtchn_init();
    nr_online = 0;
    cpu_setup(pc);
    irq_enable();
    for (unsigned cpu = 1; cpu < nr_cpus; cpu++)
        start_ap(cpu);
    return atomic_load(&nr_online);
}

unsigned smp_nr_online(void)
{
    return atomic_load(&nr_online);
}

bool cpu_online(unsigned cpu)
{
    struct percpu *pc = percpu_of(cpu);
    return pc && __atomic_load_n(&pc->online, __ATOMIC_SEQ_CST);
}

/* The AP's idle loop: run work handed over by smp_call_async, otherwise
 * sleep until an event (the IPI that brings more work, a timer). */
static __noreturn void idle_loop(struct percpu *pc)
{
    for (;;) {
        if (smp_call_run_queued(pc)) continue;
        irq_disable();
        if (control_park_requested(pc)) { /* a suspend: the IPI was taken */
            control_park(pc);
            irq_enable();
            continue;
        }
        if (smp_call_queued(pc)) {
            irq_enable();
            continue;
        }
        halt_irqs_off(pc);
    }
}

void ap_main(struct percpu *pc)
{
    idt_load();
    long rc = register_vcpu_info(pc);
    if (rc && !pc->vi) {
        printk("smp: cpu%u: VCPUOP_register_vcpu_info failed: %ld\n", pc->cpu, rc);
        for (;;) { /* never online: halting with IF clear takes the vCPU down */
            cpu_cli();
            cpu_hlt();
        }
    }
    irq_disable();
    cpu_setup(pc);
    irq_enable();
    idle_loop(pc);
}

/* ---- yielding and waiting ---- */

void cpu_yield(void)
{
    if (!boot.xen) {
        cpu_pause();
        return;
    }
    HYPERVISOR_sched_op(SCHEDOP_yield, NULL);
    /* A CPU without upcalls (legacy callback, APs) handles its events
     * wherever it waits. */
    if (evtchn_ready() && !evtchn_cpu_has_upcall()) evtchn_poll();
}

/* Called with events disabled, after the caller found nothing to do:
 * enable events and sleep until one arrives, as one step, so that an event
 * raised after the caller's check still wakes us.  Events are enabled on
 * return and any upcall has been taken.
 *   irq=pv: SCHEDOP_block clears the upcall mask and sleeps unless an
 *     upcall is due;
 *   irq=cli: sti; hlt -- the interrupt shadow keeps the upcall from coming
 *     in between (SCHEDOP_block with IF clear would sleep through an event
 *     already pending);
 *   no upcalls on this CPU (callback=legacy, APs): Xen does not wake a
 *     blocked vCPU for events it cannot deliver, so poll this CPU's ports
 *     (SCHEDOP_poll wakes on them) and handle them here. */
static void halt_irqs_off(struct percpu *pc)
{
    if (!boot.xen) {
        irq_enable();
        cpu_pause();
        return;
    }
    if (evtchn_ready() && !evtchn_cpu_has_upcall()) {
        evtchn_port_t ports[1 + NR_IPI_KINDS];
        unsigned n = 0;
        if (pc->timer_port) ports[n++] = pc->timer_port;
        for (unsigned k = 0; k < NR_IPI_KINDS; k++)
            if (pc->ipi_port[k]) ports[n++] = pc->ipi_port[k];
        struct sched_poll p = {.nr_ports = n, .timeout = 0};
        set_xen_guest_handle(p.ports, ports);
        if (!__atomic_load_n(&pc->vi->evtchn_upcall_pending, __ATOMIC_SEQ_CST))
            HYPERVISOR_sched_op(SCHEDOP_poll, &p);
        irq_enable();
        evtchn_poll();
    } else if (boot.irq_mode == IRQ_MODE_CLI_STI) {
        pc->soft_if = true;
        __asm__ __volatile__("sti; hlt" ::: "memory");
    } else {
        HYPERVISOR_sched_op(SCHEDOP_block, NULL);
        irq_enable();
    }
}

void cpu_block(void)
{
    irq_disable();
    halt_irqs_off(this_cpu());
}

static void wait_timeout(struct timer *t, void *arg)
{
    (void)t;
    *(bool *)arg = true;
}

bool wait_event(bool (*cond)(void *), void *arg, uint64_t timeout_ns)
{
    bool expired = false;
    struct timer t;
    timer_init(&t, wait_timeout, &expired);
    timer_set(&t, time_monotonic_ns() + timeout_ns);
    for (;;) {
        /* Check with events off, then sleep with the check still valid. */
        irq_disable();
        bool done = cond(arg);
        if (done || __atomic_load_n(&expired, __ATOMIC_SEQ_CST)) {
            irq_enable();
            timer_cancel(&t);
            return done;
        }
        halt_irqs_off(this_cpu());
    }
}

void wait_begin(struct waiter *w, uint64_t timeout_ns)
{
    w->deadline = time_monotonic_ns() + timeout_ns;
}

bool wait_step(struct waiter *w)
{
    if (boot.xen && time_monotonic_ns() > w->deadline) return false;
    cpu_yield();
    return true;
}

/* ---- spinlocks ---- */

bool spin_trylock(spinlock_t *l)
{
    return !__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE);
}

void spin_lock(spinlock_t *l)
{
    while (!spin_trylock(l))
        do
            cpu_yield();
        while (__atomic_load_n(&l->locked, __ATOMIC_RELAXED));
}

void spin_unlock(spinlock_t *l)
{
    __atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
}

long smp_call_all(void (*fn)(void *), void *arg, uint64_t timeout_ns)
{
    unsigned self = smp_processor_id();
    long rc = 0;
    for (unsigned cpu = 0; cpu < nr_cpus; cpu++)
        if (cpu != self && cpu_online(cpu) && smp_call_async(cpu, fn, arg))
            rc = -XEN_ETIMEDOUT;
    fn(arg);
    for (unsigned cpu = 0; cpu < nr_cpus; cpu++)
        if (cpu != self && cpu_online(cpu) && smp_call_wait(cpu, timeout_ns))
            rc = -XEN_ETIMEDOUT;
    return rc;
}
