/* Event channels, the ABI-independent core: the port -> handler table,
 * binding and closing through EVTCHNOP_*, the callback that delivers
 * upcalls, and the upcall itself.  The 2-level and FIFO ABIs plug in
 * through struct evtchn_ops (evtchn_2l.c, evtchn_fifo.c).
 *
 * The handler table covers the largest ABI (131072 ports) as a two-level
 * table: a directory allocated at init, and 4 KiB leaves allocated when a
 * port in their range is first bound.  Lookups in the upcall take no lock:
 * a leaf is published only once initialised and never freed. */
#include <guest/kernel.h>
#include <guest/arch.h>
#include <guest/control.h>
#include <guest/hypercall.h>
#include <guest/irq.h>
#include <guest/mm.h>
#include <guest/printk.h>
#include <guest/smp.h>
#include <guest/string.h>
#include "evtchn_abi.h"

#define SLOT_IPI 1u /* an IPI port (the NO_CLEAR bug's path) */

struct evtchn_slot {
    evtchn_handler_t fn;
    void *arg;
    uint32_t cpu;
    uint32_t flags;
    uint64_t pad; /* 32 bytes: a whole number per page */
};
_Static_assert(sizeof(struct evtchn_slot) == 32, "slot size");

#define SLOTS_PER_LEAF (PAGE_SIZE / sizeof(struct evtchn_slot))
#define NR_LEAVES      (EVTCHN_FIFO_NR_CHANNELS / SLOTS_PER_LEAF)
#define LEAVES_PER_DIR (PAGE_SIZE / sizeof(struct evtchn_slot *))
#define NR_DIRS        (NR_LEAVES / LEAVES_PER_DIR)

static struct evtchn_slot **slot_dirs[NR_DIRS];
static spinlock_t table_lock = SPINLOCK_INIT;
static const struct evtchn_ops *ops;
static enum evtchn_callback callback_mode;
static unsigned nr_bound;
static bool initialised;
static uint32_t generation;

extern const uint8_t upcall_entry[];

static struct evtchn_slot *slot_lookup(evtchn_port_t port)
{
    if (port >= EVTCHN_FIFO_NR_CHANNELS) return NULL;
    struct evtchn_slot **dir = slot_dirs[port / SLOTS_PER_LEAF / LEAVES_PER_DIR];
    if (!dir) return NULL;
    struct evtchn_slot *leaf =
        __atomic_load_n(&dir[port / SLOTS_PER_LEAF % LEAVES_PER_DIR], __ATOMIC_ACQUIRE);
    return leaf ? &leaf[port % SLOTS_PER_LEAF] : NULL;
}

/* The slot for port, allocating its leaf; NULL when out of memory. */
static struct evtchn_slot *slot_get(evtchn_port_t port)
{
    struct evtchn_slot *s = slot_lookup(port);
    if (s || port >= EVTCHN_FIFO_NR_CHANNELS) return s;
    spin_lock(&table_lock);
    struct evtchn_slot **dir = slot_dirs[port / SLOTS_PER_LEAF / LEAVES_PER_DIR];
    struct evtchn_slot **entry = &dir[port / SLOTS_PER_LEAF % LEAVES_PER_DIR];
    if (!*entry) {
        struct evtchn_slot *leaf = page_alloc(); /* zeroed: no handlers */
        if (leaf) __atomic_store_n(entry, leaf, __ATOMIC_RELEASE);
    }
    spin_unlock(&table_lock);
    return slot_lookup(port);
}

static enum evtchn_callback parse_callback(void)
{
    char buf[16];
    const char *m = cmdline_get("callback", buf, sizeof(buf));
    if (!m || !strcmp(m, "vector")) return CALLBACK_VECTOR;
    if (!strcmp(m, "percpu")) return CALLBACK_PERCPU;
    if (!strcmp(m, "legacy")) return CALLBACK_LEGACY;
    printk("evtchn: unknown callback=%s, using vector\n", m);
    return CALLBACK_VECTOR;
}

static const struct evtchn_ops *parse_abi(void)
{
    char buf[16];
    const char *m = cmdline_get("evtchn", buf, sizeof(buf));
    if (!m || !strcmp(m, "2l")) return &evtchn_ops_2l;
    if (!strcmp(m, "fifo")) return &evtchn_ops_fifo;
    printk("evtchn: unknown evtchn=%s, using 2l\n", m);
    return &evtchn_ops_2l;
}

/* The domain-wide callback (per-vCPU vectors: evtchn_cpu_init). */
static long set_callback(void)
{
    if (callback_mode == CALLBACK_VECTOR)
        return hvm_set_param(HVM_PARAM_CALLBACK_IRQ,
                             ((uint64_t)HVM_PARAM_CALLBACK_TYPE_VECTOR << 56) |
                                 UPCALL_VECTOR);
    if (callback_mode == CALLBACK_LEGACY)
        return hvm_set_param(HVM_PARAM_CALLBACK_IRQ,
                             ((uint64_t)HVM_PARAM_CALLBACK_TYPE_GSI << 56) | UPCALL_GSI);
    return 0;
}

/* A new domain has no port bound and no callback: forget every binding
 * (each driver binds again in its own resume hook, getting new port
 * numbers), set the ABI up again with every port masked, then the
 * callback -- for every vCPU, the others being down. */
static void evtchn_resume(void *arg)
{
    (void)arg;
    for (unsigned d = 0; d < NR_DIRS; d++)
        for (unsigned l = 0; slot_dirs[d] && l < LEAVES_PER_DIR; l++)
            if (slot_dirs[d][l]) memset(slot_dirs[d][l], 0, PAGE_SIZE);
    atomic_store(&nr_bound, 0);
    atomic_add(&generation, 1);
    long rc = ops->resume();
    if (rc) panic("evtchn: resume: %s ABI refused: %ld", ops->name, rc);
    rc = set_callback();
    for (unsigned cpu = 0; !rc && callback_mode == CALLBACK_PERCPU && cpu < nr_cpus;
         cpu++) {
        struct xen_hvm_evtchn_upcall_vector uv = {.vcpu = cpu, .vector = UPCALL_VECTOR};
        rc = HYPERVISOR_hvm_op(HVMOP_set_evtchn_upcall_vector, &uv);
    }
    if (rc) panic("evtchn: resume: setting the callback failed: %ld", rc);
}

static struct control_hook evtchn_hook = {
    .name = "evtchn", .order = CONTROL_ORDER_EVTCHN, .resume = evtchn_resume};

void evtchn_init(void)
{
    if (!boot.xen || initialised) return;
    for (unsigned i = 0; i < NR_DIRS; i++)
        if (!(slot_dirs[i] = page_alloc())) panic("evtchn: no memory for the port table");
    /* Every port starts masked; binding unmasks the ones with a handler.
     * (FIFO event array pages are filled with MASKED words instead.) */
    for (unsigned w = 0; w < EVTCHN_2L_WORDS; w++)
        __atomic_store_n(&boot.shared_info->evtchn_mask[w], ~(xen_ulong_t)0,
                         __ATOMIC_SEQ_CST);
    ops = parse_abi();
    long rc = ops->init();
    if (rc) {
        printk("evtchn: %s ABI refused (%ld), using 2l\n", ops->name, rc);
        ops = &evtchn_ops_2l;
    }
    /* The same entry serves every delivery mode; legacy mode arrives at
     * the GSI's vector. */
    idt_set_gate(UPCALL_VECTOR, upcall_entry);
    idt_set_gate(GSI_VECTOR(UPCALL_GSI), upcall_entry);
    callback_mode = parse_callback();
    rc = set_callback();
    if (rc) panic("evtchn: setting the callback failed: %ld", rc);
    initialised = true;
    control_register(&evtchn_hook);
}

void evtchn_cpu_init(void)
{
    if (!initialised) return;
    struct percpu *pc = this_cpu();
    if (callback_mode == CALLBACK_PERCPU) {
        struct xen_hvm_evtchn_upcall_vector uv = {.vcpu = pc->cpu,
                                                  .vector = UPCALL_VECTOR};
        long rc = HYPERVISOR_hvm_op(HVMOP_set_evtchn_upcall_vector, &uv);
        if (rc) panic("evtchn: cpu%u: set_evtchn_upcall_vector: %ld", pc->cpu, rc);
    }
    /* irq=pv masks with evtchn_upcall_mask alone: the virtual IF must be
     * on for the mask to be the only gate.  irq=cli masks with IF alone:
     * the mask (which this vCPU may have inherited set) must be off. */
    if (boot.irq_mode == IRQ_MODE_PV_MASK)
        cpu_sti();
    else
        pc->vi->evtchn_upcall_mask = 0;
}

uint32_t evtchn_generation(void)
{
    return atomic_load(&generation);
}

bool evtchn_ready(void)
{
    return initialised;
}

bool evtchn_cpu_has_upcall(void)
{
    return callback_mode != CALLBACK_LEGACY || this_cpu()->cpu == 0;
}

/* Record a port the hypervisor just bound, and open it. */
static long bind_done(long port, unsigned cpu, evtchn_handler_t fn, void *arg,
                      uint32_t flags)
{
    if (port < 0) return port;
    struct evtchn_slot *s = slot_get((evtchn_port_t)port);
    long rc = s ? ops->setup_port((evtchn_port_t)port) : -XEN_ENOMEM;
    if (rc) {
        struct evtchn_close c = {.port = (evtchn_port_t)port};
        HYPERVISOR_event_channel_op(EVTCHNOP_close, &c);
        return rc;
    }
    s->arg = arg;
    s->cpu = cpu;
    s->flags = flags;
    __atomic_store_n(&s->fn, fn, __ATOMIC_RELEASE);
    ops->own(percpu_of(cpu), (evtchn_port_t)port, true);
    atomic_add(&nr_bound, 1);
    if (fn) ops->unmask((evtchn_port_t)port);
    return port;
}

long evtchn_bind_virq(unsigned virq, unsigned cpu, evtchn_handler_t fn, void *arg)
{
    if (!initialised) return -XEN_ENOSYS;
    /* Legacy delivery interrupts vCPU0 only: global VIRQs stay there. */
    struct evtchn_bind_virq b = {.virq = virq, .vcpu = cpu};
    long rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_virq, &b);
    return bind_done(rc ? rc : b.port, cpu, fn, arg, 0);
}

long evtchn_bind_ipi(unsigned cpu, evtchn_handler_t fn, void *arg)
{
    if (!initialised) return -XEN_ENOSYS;
    struct evtchn_bind_ipi b = {.vcpu = cpu};
    long rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_ipi, &b);
    return bind_done(rc ? rc : b.port, cpu, fn, arg, SLOT_IPI);
}

long evtchn_alloc_unbound(domid_t remote, evtchn_handler_t fn, void *arg)
{
    if (!initialised) return -XEN_ENOSYS;
    struct evtchn_alloc_unbound a = {.dom = DOMID_SELF, .remote_dom = remote};
    long rc = HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, &a);
    return bind_done(rc ? rc : a.port, 0, fn, arg, 0);
}

long evtchn_bind_interdomain(domid_t remote, evtchn_port_t remote_port,
                             evtchn_handler_t fn, void *arg)
{
    if (!initialised) return -XEN_ENOSYS;
    struct evtchn_bind_interdomain b = {.remote_dom = remote, .remote_port = remote_port};
    long rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_interdomain, &b);
    return bind_done(rc ? rc : b.local_port, 0, fn, arg, 0);
}

long evtchn_bind_existing(evtchn_port_t port, unsigned cpu, evtchn_handler_t fn,
                          void *arg)
{
    if (!initialised) return -XEN_ENOSYS;
    if (!port || port >= ops->max_ports || !percpu_of(cpu)) return -XEN_EINVAL;
    if (callback_mode == CALLBACK_LEGACY && cpu != 0) return -XEN_EINVAL;
    struct evtchn_slot *s = slot_get(port);
    if (!s) return -XEN_ENOMEM;
    if (__atomic_load_n(&s->fn, __ATOMIC_ACQUIRE)) return -XEN_EEXIST;
    /* Not ours to close on failure: the toolstack allocated it. */
    long rc = ops->setup_port(port);
    if (!rc && cpu != 0) { /* Xen notifies vCPU 0 until told otherwise */
        struct evtchn_bind_vcpu b = {.port = port, .vcpu = cpu};
        rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_vcpu, &b);
    }
    if (rc) return rc;
    s->arg = arg;
    s->cpu = cpu;
    s->flags = 0;
    __atomic_store_n(&s->fn, fn, __ATOMIC_RELEASE);
    ops->own(percpu_of(cpu), port, true);
    atomic_add(&nr_bound, 1);
    if (fn) ops->unmask(port);
    return port;
}

long evtchn_bind_vcpu(evtchn_port_t port, unsigned cpu)
{
    if (!initialised) return -XEN_ENOSYS;
    if (callback_mode == CALLBACK_LEGACY && cpu != 0) return -XEN_EINVAL;
    struct evtchn_slot *s = slot_lookup(port);
    /* Masked across the move so no event is handled by both CPUs; the
     * unmask re-raises one that arrived meanwhile, on the new CPU. */
    bool was_masked = ops->is_masked(port);
    ops->mask(port);
    struct evtchn_bind_vcpu b = {.port = port, .vcpu = cpu};
    long rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_vcpu, &b);
    if (!rc && s && s->fn) {
        ops->own(percpu_of(s->cpu), port, false);
        ops->own(percpu_of(cpu), port, true);
        s->cpu = cpu;
    }
    if (!was_masked) ops->unmask(port);
    return rc;
}

long evtchn_close(evtchn_port_t port)
{
    if (!initialised) return -XEN_ENOSYS;
    struct evtchn_slot *s = slot_lookup(port);
    if (port < ops->max_ports) ops->mask(port);
    struct evtchn_close c = {.port = port};
    long rc = HYPERVISOR_event_channel_op(EVTCHNOP_close, &c);
    if (!rc && s && s->fn) {
        __atomic_store_n(&s->fn, NULL, __ATOMIC_RELEASE);
        ops->own(percpu_of(s->cpu), port, false);
        atomic_add(&nr_bound, -1u);
    }
    return rc;
}

long evtchn_send(evtchn_port_t port)
{
    struct evtchn_send s = {.port = port};
    return HYPERVISOR_event_channel_op(EVTCHNOP_send, &s);
}

long evtchn_set_priority(evtchn_port_t port, unsigned priority)
{
    struct evtchn_set_priority p = {.port = port, .priority = priority};
    return HYPERVISOR_event_channel_op(EVTCHNOP_set_priority, &p);
}

void evtchn_mask(evtchn_port_t port)
{
    if (initialised && port < ops->max_ports) ops->mask(port);
}
void evtchn_unmask(evtchn_port_t port)
{
    if (initialised && port < ops->max_ports) ops->unmask(port);
}
void evtchn_clear(evtchn_port_t port)
{
    if (initialised && port < ops->max_ports) ops->clear(port);
}
bool evtchn_is_pending(evtchn_port_t port)
{
    return initialised && port < ops->max_ports && ops->is_pending(port);
}
bool evtchn_is_masked(evtchn_port_t port)
{
    return !initialised || port >= ops->max_ports || ops->is_masked(port);
}

enum evtchn_abi evtchn_abi(void)
{
    return ops == &evtchn_ops_fifo ? EVTCHN_ABI_FIFO : EVTCHN_ABI_2L;
}
const char *evtchn_abi_name(void)
{
    return ops ? ops->name : "none";
}
enum evtchn_callback evtchn_callback_mode(void)
{
    return callback_mode;
}
const char *evtchn_callback_name(void)
{
    static const char names[][8] = {"vector", "percpu", "legacy"};
    return names[callback_mode];
}
unsigned evtchn_max_ports(void)
{
    return ops ? ops->max_ports : 0;
}
unsigned evtchn_nr_bound(void)
{
    return atomic_load(&nr_bound);
}

void evtchn_dispatch(struct percpu *pc, evtchn_port_t port)
{
    struct evtchn_slot *s = slot_lookup(port);
    evtchn_handler_t fn = s ? __atomic_load_n(&s->fn, __ATOMIC_ACQUIRE) : NULL;
    pc->nr_events++;
    if (!fn) {
        /* Closed under our feet, or never ours: acknowledge and drop. */
        ops->clear(port);
        pc->nr_spurious++;
        return;
    }
#ifdef GUEST_BUG_EVTCHN_NO_CLEAR
    /* Deliberate bug: IPI ports are never acknowledged, so they stay
     * pending and later sends to them are coalesced away. */
    if (!(s->flags & SLOT_IPI))
#endif
        ops->clear(port);
    fn(port, s->arg);
}

/* Clear upcall_pending first, then look: an event raised after the look
 * sets it again and we go round once more (Xen's protocol). */
static void scan_all(struct percpu *pc)
{
    struct vcpu_info *vi = pc->vi;
    do {
        __atomic_store_n(&vi->evtchn_upcall_pending, 0, __ATOMIC_SEQ_CST);
        ops->scan(pc);
    } while (__atomic_load_n(&vi->evtchn_upcall_pending, __ATOMIC_SEQ_CST));
}

void evtchn_upcall(void)
{
    struct percpu *pc = this_cpu();
    if (!initialised || !pc->vi) return;
    /* The stack grows down onto struct percpu: catch that here, where
     * stacks are deepest (an upcall on top of whatever was running). */
    if (pc->canary != PERCPU_CANARY)
        panic("cpu%u: stack overflow into per-CPU data", pc->cpu);
    /* Entered with the virtual IF clear.  Make irq_save() in handlers see
     * "disabled" in either masking mode, and undo that on the way out (the
     * interrupted context had events enabled, or we would not be here). */
    bool pv = boot.irq_mode == IRQ_MODE_PV_MASK;
    if (pv) {
        pc->upcall_saved_mask = pc->vi->evtchn_upcall_mask;
        pc->vi->evtchn_upcall_mask = 1;
    } else {
        pc->soft_if = false;
    }
    pc->nr_upcalls++;
    scan_all(pc);
    if (pv) {
        barrier();
        pc->vi->evtchn_upcall_mask = pc->upcall_saved_mask;
    } else {
        pc->soft_if = true;
    }
}

void evtchn_poll(void)
{
    struct percpu *pc = this_cpu();
    /* Not from inside a handler: handlers never nest, polled or not (an
     * upcall CPU runs them with IF clear). */
    if (!initialised || !pc->vi || pc->in_poll) return;
    unsigned long f = irq_save();
    pc->in_poll = true;
    if (__atomic_load_n(&pc->vi->evtchn_upcall_pending, __ATOMIC_SEQ_CST)) scan_all(pc);
    pc->in_poll = false;
    irq_restore(f);
}
