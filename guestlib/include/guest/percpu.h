/* Per-CPU data without segment registers.
 *
 * Under xensim %fs and %gs belong to the simulator, so the guest cannot use
 * them for per-CPU data.  Instead every CPU runs on a CPU_STACK_SIZE stack
 * aligned to its size, and the CPU's struct percpu sits at the base (lowest
 * address) of that stack: masking %rsp finds it, in thread context and in
 * the upcall handler alike (the upcall frame is pushed on the interrupted
 * stack).  The stack grows down towards the struct; a canary after it
 * catches overflows.
 *
 * The block's first 64 bytes are the CPU's own vcpu_info (registered with
 * VCPUOP_register_vcpu_info): the block is size-aligned, so the vcpu_info is
 * 64-byte aligned and never crosses a page. */
#ifndef GUEST_PERCPU_H
#define GUEST_PERCPU_H
#include <guest/xen.h>

#define NR_CPUS         128 /* xensim's and the scenario grammar's vCPU limit */
#define CPU_STACK_SIZE  (16 * 1024)
#define PERCPU_MAGIC    0x70657263u /* "perc" */
#define PERCPU_CANARY   0x5354414b43414e59ull
#define EVTCHN_2L_WORDS (sizeof(xen_ulong_t) * 8)
#define NR_IPI_KINDS    4 /* enum ipi_kind in ipi.h */

struct timer;

/* A request to run a function on one CPU (smp.c). */
struct smp_call_slot {
    uint32_t state; /* enum in smp.c; written with atomics */
    uint32_t mode;  /* in the IPI handler, or in the CPU's idle loop */
    void (*fn)(void *arg);
    void *arg;
};

struct percpu {
    /* Offset 0: the vcpu_info this CPU registered (see above). */
    struct vcpu_info vcpu_info;
    /* FIFO control block: 8-byte aligned, inside one page. */
    struct evtchn_fifo_control_block fifo_cb __aligned(64);
    /* The vcpu_info Xen writes for this CPU: the shared_info slot until
     * this CPU has registered its own, NULL without Xen (or vCPU >= 32
     * before registration). */
    struct vcpu_info *vi;
    uint32_t magic;
    unsigned cpu;
    bool online;
    bool soft_if; /* irq=cli: software copy of IF (pushf cannot see it) */
    uint8_t upcall_saved_mask;
    bool in_poll; /* evtchn_poll() is running handlers */
    /* 2-level ABI: ports bound to this CPU (Xen sets this CPU's selector
     * bit for them, but the pending words are shared by all CPUs). */
    xen_ulong_t evtchn_owned[EVTCHN_2L_WORDS];
    unsigned scan_word; /* where the next scan starts: round robin */
    /* FIFO ABI: this CPU's view of each queue's head. */
    uint32_t fifo_head[EVTCHN_FIFO_MAX_QUEUES];
    /* Event statistics */
    uint64_t nr_upcalls, nr_events, nr_spurious;
    /* PV timer (timer.c) */
    evtchn_port_t timer_port;
    struct timer *timers; /* armed one-shot timers, earliest first */
    uint64_t timer_virqs; /* VIRQ_TIMER events handled */
    uint64_t timer_last_virq_ns;
    void (*timer_tick)(void); /* called on every VIRQ_TIMER (periodic tests) */
    /* PV IPIs (ipi.c) */
    evtchn_port_t ipi_port[NR_IPI_KINDS];
    uint64_t ipi_count[NR_IPI_KINDS];
    uint64_t rv_done_gen; /* last rendezvous this CPU took part in */
    uint64_t tlb_gen;     /* last TLB generation this CPU acknowledged */
    struct smp_call_slot call;
    uint32_t park; /* suspend: enum in control.c, written with atomics */
    uint64_t canary;
};

_Static_assert(sizeof(struct percpu) <= 2048, "struct percpu eats the stack");

/* This CPU's data, from the stack pointer.  Not volatile: the answer never
 * changes within a function, so the compiler may reuse it. */
static inline struct percpu *this_cpu(void)
{
    uintptr_t sp;
    __asm__("mov %%rsp, %0" : "=r"(sp));
    return (struct percpu *)(sp & ~(uintptr_t)(CPU_STACK_SIZE - 1));
}

static inline unsigned smp_processor_id(void)
{
    return this_cpu()->cpu;
}

extern struct percpu *percpu_table[NR_CPUS];
extern unsigned nr_cpus; /* vCPUs the domain has (1 until smp_init) */

static inline struct percpu *percpu_of(unsigned cpu)
{
    return cpu < NR_CPUS ? percpu_table[cpu] : NULL;
}

/* Boot: switch the boot CPU onto its per-CPU stack and call fn(arg) there;
 * fn must not return. */
__noreturn void percpu_boot(void (*fn)(void *), void *arg);
/* After shared_info is mapped: point CPU 0's vi at its shared_info slot. */
void percpu_bsp_xen_init(void);
#endif
