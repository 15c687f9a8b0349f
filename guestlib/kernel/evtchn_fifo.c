/* The FIFO event channel ABI (Xen 4.4+): one 32-bit event word per port in
 * an event array the guest grows page by page (EVTCHNOP_expand_array), and
 * per vCPU a control block with 16 priority queues (EVTCHNOP_init_control).
 *
 * Xen links a newly pending, unmasked event at the tail of its queue on
 * the vCPU it is bound to and sets the queue's READY bit; the guest takes
 * events from the heads, highest priority (lowest number) first,
 * re-reading READY after each event so that a higher-priority event raised
 * meanwhile overtakes the rest.  The guest keeps its own head per queue
 * and reads the control block's head only when its own is 0 (Xen writes it
 * when it links to a queue it found empty). */
#include <guest/kernel.h>
#include <guest/hypercall.h>
#include <guest/mm.h>
#include <guest/smp.h>
#include <guest/string.h>
#include "evtchn_abi.h"

#define WORDS_PER_PAGE (PAGE_SIZE / sizeof(event_word_t))
#define MAX_PAGES      (EVTCHN_FIFO_NR_CHANNELS / WORDS_PER_PAGE)
#define BIT(n)         ((event_word_t)1 << (n))

static event_word_t *event_pages[MAX_PAGES];
static unsigned nr_pages; /* published after event_pages[nr_pages - 1] */
static spinlock_t expand_lock = SPINLOCK_INIT;

static volatile event_word_t *word_of(evtchn_port_t port)
{
    unsigned p = port / WORDS_PER_PAGE;
    if (p >= __atomic_load_n(&nr_pages, __ATOMIC_ACQUIRE)) return NULL;
    return &event_pages[p][port % WORDS_PER_PAGE];
}

/* Add one page to the event array: 0 or Xen's errno (-XEN_ENOSPC once the
 * array covers all 131072 ports). */
long evtchn_fifo_expand(void)
{
    event_word_t *page = page_alloc();
    if (!page) return -XEN_ENOMEM;
    /* New ports start masked, so no event is linked before its handler is
     * installed. */
    for (unsigned i = 0; i < WORDS_PER_PAGE; i++)
        page[i] = BIT(EVTCHN_FIFO_MASKED);
    struct evtchn_expand_array ea = {.array_gfn = va_to_pa(page) >> PAGE_SHIFT};
    long rc = HYPERVISOR_event_channel_op(EVTCHNOP_expand_array, &ea);
    if (rc) {
        page_free(page);
        return rc;
    }
    if (nr_pages >= MAX_PAGES)
        panic("evtchn: Xen accepted event array page %u", nr_pages);
    event_pages[nr_pages] = page;
    __atomic_store_n(&nr_pages, nr_pages + 1, __ATOMIC_RELEASE);
    return 0;
}

unsigned evtchn_fifo_array_ports(void)
{
    return __atomic_load_n(&nr_pages, __ATOMIC_ACQUIRE) * WORDS_PER_PAGE;
}

static long init_control(unsigned cpu)
{
    struct percpu *pc = percpu_of(cpu);
    uint64_t pa = va_to_pa(&pc->fifo_cb);
    struct evtchn_init_control ic = {
        .control_gfn = pa >> PAGE_SHIFT,
        .offset = (uint32_t)(pa & (PAGE_SIZE - 1)),
        .vcpu = cpu,
    };
    return HYPERVISOR_event_channel_op(EVTCHNOP_init_control, &ic);
}

/* Every vCPU's control block is registered here by the boot CPU, before
 * any AP runs (as Linux does when it prepares a CPU): an event for a vCPU
 * without a control block would be dropped. */
static long init_fifo(void)
{
    long rc = init_control(0);
    if (rc) return rc; /* still 2-level: the caller falls back */
    for (unsigned cpu = 1; cpu < nr_cpus; cpu++)
        if ((rc = init_control(cpu)))
            panic("evtchn: FIFO init_control for vcpu %u failed: %ld", cpu, rc);
    if ((rc = evtchn_fifo_expand())) panic("evtchn: FIFO expand_array failed: %ld", rc);
    return 0;
}

/* A new domain knows no control block and no event array: register each
 * vCPU's block again (cleared: its heads and READY bits were the old
 * domain's) and give Xen the same array pages, every port masked, as
 * Linux's evtchn_fifo_resume does. */
static long resume_fifo(void)
{
    for (unsigned cpu = 0; cpu < nr_cpus; cpu++) {
        struct percpu *pc = percpu_of(cpu);
        memset((void *)&pc->fifo_cb, 0, sizeof(pc->fifo_cb));
        memset(pc->fifo_head, 0, sizeof(pc->fifo_head));
        long rc = init_control(cpu);
        if (rc) return rc;
    }
    unsigned n = __atomic_load_n(&nr_pages, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n; i++) {
        event_word_t *page = event_pages[i];
        for (unsigned j = 0; j < WORDS_PER_PAGE; j++)
            page[j] = BIT(EVTCHN_FIFO_MASKED);
        struct evtchn_expand_array ea = {.array_gfn = va_to_pa(page) >> PAGE_SHIFT};
        long rc = HYPERVISOR_event_channel_op(EVTCHNOP_expand_array, &ea);
        if (rc) return rc;
    }
    return 0;
}

static long setup_port_fifo(evtchn_port_t port)
{
    long rc = 0;
    if (port >= EVTCHN_FIFO_NR_CHANNELS) return -XEN_EINVAL;
    spin_lock(&expand_lock);
    while (!rc && port >= evtchn_fifo_array_ports())
        rc = evtchn_fifo_expand();
    spin_unlock(&expand_lock);
    return rc;
}

static void mask_fifo(evtchn_port_t port)
{
    volatile event_word_t *w = word_of(port);
    if (w) __atomic_fetch_or(w, BIT(EVTCHN_FIFO_MASKED), __ATOMIC_SEQ_CST);
}

/* Clear MASKED ourselves; if the event is pending it was not linked while
 * masked, so ask Xen to link it (EVTCHNOP_unmask).  An event raised after
 * our clear finds the port unmasked and Xen links it by itself. */
static void unmask_fifo(evtchn_port_t port)
{
    volatile event_word_t *w = word_of(port);
    if (!w) return;
    event_word_t old = __atomic_fetch_and(w, ~BIT(EVTCHN_FIFO_MASKED), __ATOMIC_SEQ_CST);
    if (old & BIT(EVTCHN_FIFO_PENDING)) {
        struct evtchn_unmask u = {.port = port};
        HYPERVISOR_event_channel_op(EVTCHNOP_unmask, &u);
    }
}

static void clear_fifo(evtchn_port_t port)
{
    volatile event_word_t *w = word_of(port);
    if (w) __atomic_fetch_and(w, ~BIT(EVTCHN_FIFO_PENDING), __ATOMIC_SEQ_CST);
}

static bool is_pending_fifo(evtchn_port_t port)
{
    volatile event_word_t *w = word_of(port);
    return w && (__atomic_load_n(w, __ATOMIC_SEQ_CST) & BIT(EVTCHN_FIFO_PENDING));
}

static bool is_masked_fifo(evtchn_port_t port)
{
    volatile event_word_t *w = word_of(port);
    return !w || (__atomic_load_n(w, __ATOMIC_SEQ_CST) & BIT(EVTCHN_FIFO_MASKED));
}

static void own_fifo(struct percpu *pc, evtchn_port_t port, bool owned)
{
    (void)pc, (void)port, (void)owned; /* queues are per vCPU already */
}

/* Take the head event of queue q: unlink it (clear LINKED and the link,
 * keeping the next port), then handle it if still pending and unmasked
 * (closed or masked events stay linked until consumed and are skipped). */
static void consume_one(struct percpu *pc, unsigned q, uint32_t *ready)
{
    volatile struct evtchn_fifo_control_block *cb = &pc->fifo_cb;
    uint32_t port = pc->fifo_head[q];
    if (!port) port = __atomic_load_n(&cb->head[q], __ATOMIC_ACQUIRE);
    volatile event_word_t *w = port ? word_of(port) : NULL;
    if (!w) { /* READY with no head: nothing to take */
        *ready &= ~(1u << q);
        pc->fifo_head[q] = 0;
        return;
    }
    event_word_t old = __atomic_load_n(w, __ATOMIC_SEQ_CST), new;
    do
        new = old & ~(BIT(EVTCHN_FIFO_LINKED) | EVTCHN_FIFO_LINK_MASK);
    while (!__atomic_compare_exchange_n(w, &old, new, false, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST));
    uint32_t next = old & EVTCHN_FIFO_LINK_MASK;
    if (!next) *ready &= ~(1u << q);
    pc->fifo_head[q] = next;
    if ((old & BIT(EVTCHN_FIFO_PENDING)) && !(old & BIT(EVTCHN_FIFO_MASKED)))
        evtchn_dispatch(pc, port);
}

static unsigned pick_queue(uint32_t ready)
{
#ifdef GUEST_BUG_FIFO_PRIO
    /* Deliberate bug: lowest priority (highest number) first. */
    return 31u - (unsigned)__builtin_clz(ready);
#else
    return (unsigned)__builtin_ctz(ready); /* priority 0 is the highest */
#endif
}

static void scan_fifo(struct percpu *pc)
{
    uint32_t gen = evtchn_generation();
    uint32_t ready = __atomic_exchange_n(&pc->fifo_cb.ready, 0, __ATOMIC_SEQ_CST);
    while (ready) {
        consume_one(pc, pick_queue(ready), &ready);
        /* Resumed in a new domain meanwhile: ready was the old one's. */
        if (evtchn_generation() != gen) return;
        ready |= __atomic_exchange_n(&pc->fifo_cb.ready, 0, __ATOMIC_SEQ_CST);
    }
}

const struct evtchn_ops evtchn_ops_fifo = {
    .name = "fifo",
    .max_ports = EVTCHN_FIFO_NR_CHANNELS,
    .init = init_fifo,
    .setup_port = setup_port_fifo,
    .mask = mask_fifo,
    .unmask = unmask_fifo,
    .clear = clear_fifo,
    .is_pending = is_pending_fifo,
    .is_masked = is_masked_fifo,
    .own = own_fifo,
    .scan = scan_fifo,
    .resume = resume_fifo,
};
