/* test=limits: the event channel limits and error paths, with Xen's errnos
 * (xen/common/event_channel.c, event_fifo.c):
 *   - alloc_unbound until -ENOSPC: the count is the ABI's limit less the
 *     ports in use and the reserved port 0;
 *   - operations on ports past the limit, on free ports and on port 0;
 *   - close while pending drops the pending bit (masked, and unmasked
 *     with events off: the handler never runs);
 *   - bind_virq twice, bad VIRQs and vCPUs, bind_vcpu of per-vCPU ports;
 *   - another domain's ports and a domain that does not exist;
 *   - FIFO: the event array stops at 131072 ports (-ENOSPC), control
 *     blocks cannot be registered twice, priorities stop at 15;
 *     2-level: no FIFO operations.
 * Each line prints the result next to what Xen returns; any difference is
 * a FAIL. */
#include <guest/mm.h>
#include "smp_app.h"

#define NO_DOMAIN   0x7fef /* below DOMID_FIRST_RESERVED, never created */
#define PORTS_PAGES (EVTCHN_FIFO_NR_CHANNELS * sizeof(evtchn_port_t) / PAGE_SIZE)
#define PER_PAGE    (PAGE_SIZE / sizeof(evtchn_port_t))

static unsigned failures;

static void check(const char *what, long got, long want)
{
    bool ok = got == want;
    printk("limits: %s -> %s (Xen: %s): %s\n", what, errname(got), errname(want),
           ok ? "ok" : "FAIL");
    failures += !ok;
}

static long op(int cmd, void *arg)
{
    return HYPERVISOR_event_channel_op(cmd, arg);
}

static long op_send(evtchn_port_t port)
{
    struct evtchn_send s = {.port = port};
    return op(EVTCHNOP_send, &s);
}
static long op_close(evtchn_port_t port)
{
    struct evtchn_close c = {.port = port};
    return op(EVTCHNOP_close, &c);
}
static long op_unmask(evtchn_port_t port)
{
    struct evtchn_unmask u = {.port = port};
    return op(EVTCHNOP_unmask, &u);
}
static long op_status(domid_t dom, evtchn_port_t port, uint32_t *status)
{
    struct evtchn_status s = {.dom = dom, .port = port};
    long rc = op(EVTCHNOP_status, &s);
    if (status) *status = rc ? ~0u : s.status;
    return rc;
}
static long op_alloc_unbound(domid_t dom, domid_t remote)
{
    struct evtchn_alloc_unbound a = {.dom = dom, .remote_dom = remote};
    long rc = op(EVTCHNOP_alloc_unbound, &a);
    return rc ? rc : (long)a.port;
}
static long op_bind_virq(unsigned virq, unsigned vcpu)
{
    struct evtchn_bind_virq b = {.virq = virq, .vcpu = vcpu};
    long rc = op(EVTCHNOP_bind_virq, &b);
    return rc ? rc : (long)b.port;
}
static long op_bind_vcpu(evtchn_port_t port, unsigned vcpu)
{
    struct evtchn_bind_vcpu b = {.port = port, .vcpu = vcpu};
    return op(EVTCHNOP_bind_vcpu, &b);
}

/* Ports taken by the exhaustion test, kept in pages from the allocator. */
static evtchn_port_t *port_pages[PORTS_PAGES];

/* Ports in use, whoever opened them: ours, and any the toolstack set up
 * before boot (xenstore, console).  Ports past the last valid one answer
 * -EINVAL. */
static unsigned ports_in_use(void)
{
    unsigned n = 0;
    uint32_t st;
    for (evtchn_port_t p = 1; p < evtchn_max_ports(); p++) {
        long rc = op_status(DOMID_SELF, p, &st);
        if (rc == -XEN_EINVAL) break;
        n += !rc && st != EVTCHNSTAT_closed;
    }
    return n;
}

static void exhaust(void)
{
    unsigned limit = evtchn_max_ports(), ours = evtchn_nr_bound(),
             in_use = ports_in_use();
    unsigned n = 0;
    long rc;
    for (;;) {
        rc = op_alloc_unbound(DOMID_SELF, DOMID_SELF);
        if (rc < 0) break;
        if (!port_pages[n / PER_PAGE] && !(port_pages[n / PER_PAGE] = page_alloc()))
            panic("limits: out of memory after %u ports", n);
        port_pages[n / PER_PAGE][n % PER_PAGE] = (evtchn_port_t)rc;
        n++;
    }
    bool ok = rc == -XEN_ENOSPC && n == limit - in_use - 1 && in_use >= ours;
    printk("limits: %s: alloc_unbound gave %u ports, then %s; with %u in use (%u bound "
           "here) and port 0 reserved that is %u of %u: %s\n",
           evtchn_abi_name(), n, errname(rc), in_use, ours, n + in_use + 1, limit,
           ok ? "ok" : "FAIL");
    failures += !ok;

    /* Everything taken: binding anything else fails the same way. */
    struct evtchn_bind_ipi bi = {.vcpu = 0};
    check("bind_ipi with every port taken", op(EVTCHNOP_bind_ipi, &bi), -XEN_ENOSPC);

    unsigned closed = 0;
    for (unsigned i = 0; i < n; i++)
        closed += op_close(port_pages[i / PER_PAGE][i % PER_PAGE]) == 0;
    for (unsigned p = 0; p < PORTS_PAGES && port_pages[p]; p++) {
        page_free(port_pages[p]);
        port_pages[p] = NULL;
    }
    printk("limits: closed %u of %u: %s\n", closed, n, closed == n ? "ok" : "FAIL");
    failures += closed != n;
}

static void bad_ports(void)
{
    evtchn_port_t max = evtchn_max_ports();
    uint32_t st;
    check("send to port limit", op_send(max), -XEN_EINVAL);
    check("close port limit", op_close(max), -XEN_EINVAL);
    check("status of port limit", op_status(DOMID_SELF, max, NULL), -XEN_EINVAL);
    check("unmask port limit", op_unmask(max), -XEN_EINVAL);
    check("unmask port 0xffffffff", op_unmask(0xffffffffu), -XEN_EINVAL);
    check("bind_vcpu port limit", op_bind_vcpu(max, 0), -XEN_EINVAL);
    check("set_priority port limit",
          evtchn_set_priority(max, EVTCHN_FIFO_PRIORITY_DEFAULT), -XEN_EINVAL);
    check("close reserved port 0", op_close(0), -XEN_EINVAL);
    check("send on reserved port 0", op_send(0), -XEN_EINVAL);
    /* After exhaust() every port below the limit is valid but free. */
    evtchn_port_t free_port = max - 1;
    check("close free port", op_close(free_port), -XEN_EINVAL);
    check("send on free port", op_send(free_port), -XEN_EINVAL);
    check("unmask free port", op_unmask(free_port), 0);
    long rc = op_status(DOMID_SELF, free_port, &st);
    check("status of free port", rc, 0);
    bool closed = st == EVTCHNSTAT_closed;
    printk("limits: free port status %u (EVTCHNSTAT_closed %u): %s\n", st,
           EVTCHNSTAT_closed, closed ? "ok" : "FAIL");
    failures += !closed;
    /* An unbound port drops what is sent to it. */
    long u = op_alloc_unbound(DOMID_SELF, DOMID_SELF);
    check("send on unbound port", u < 0 ? u : op_send((evtchn_port_t)u), 0);
    if (u > 0) op_close((evtchn_port_t)u);
}

static void other_domains(void)
{
    check("status in a domain that does not exist", op_status(NO_DOMAIN, 1, NULL),
          -XEN_ESRCH);
    check("alloc_unbound in a domain that does not exist",
          op_alloc_unbound(NO_DOMAIN, DOMID_SELF), -XEN_ESRCH);
    struct evtchn_bind_interdomain bi = {.remote_dom = NO_DOMAIN, .remote_port = 1};
    check("bind_interdomain to a domain that does not exist",
          op(EVTCHNOP_bind_interdomain, &bi), -XEN_ESRCH);
    /* Our own IPI port is not an unbound port offered to us. */
    bi = (struct evtchn_bind_interdomain){.remote_dom = DOMID_SELF,
                                          .remote_port = this_cpu()->ipi_port[IPI_PING]};
    check("bind_interdomain to a port that is not unbound",
          op(EVTCHNOP_bind_interdomain, &bi), -XEN_EINVAL);
    struct evtchn_reset r = {.dom = NO_DOMAIN};
    check("reset of a domain that does not exist", op(EVTCHNOP_reset, &r), -XEN_ESRCH);
}

static unsigned pending_runs;

static void count_handler(evtchn_port_t port, void *arg)
{
    (void)port, (void)arg;
    atomic_add(&pending_runs, 1);
}

static void close_while_pending(void)
{
    /* Masked: pending, closed, gone. */
    long p = evtchn_bind_ipi(smp_processor_id(), count_handler, NULL);
    if (p < 0) {
        check("bind_ipi", p, 0);
        return;
    }
    evtchn_mask((evtchn_port_t)p);
    op_send((evtchn_port_t)p);
    bool before = evtchn_is_pending((evtchn_port_t)p);
    long rc = evtchn_close((evtchn_port_t)p);
    bool after = evtchn_is_pending((evtchn_port_t)p);
    bool ok = before && !after && !rc;
    printk("limits: close while pending (masked): pending %u -> close %s -> pending %u: "
           "%s\n",
           before, errname(rc), after, ok ? "ok" : "FAIL");
    failures += !ok;

    /* Unmasked with events off: raised (linked, for FIFO), then closed;
     * when events come back on, nothing must run. */
    atomic_store(&pending_runs, 0);
    p = evtchn_bind_ipi(smp_processor_id(), count_handler, NULL);
    if (p < 0) {
        check("bind_ipi", p, 0);
        return;
    }
    irq_disable();
    op_send((evtchn_port_t)p);
    before = evtchn_is_pending((evtchn_port_t)p);
    rc = evtchn_close((evtchn_port_t)p);
    after = evtchn_is_pending((evtchn_port_t)p);
    irq_enable();
    cpu_yield();
    unsigned runs = atomic_load(&pending_runs);
    ok = before && !after && !rc && !runs;
    printk(
        "limits: close while pending (unmasked, events off): pending %u -> close %s -> "
        "pending %u, handler ran %u times: %s\n",
        before, errname(rc), after, runs, ok ? "ok" : "FAIL");
    failures += !ok;
}

static void virqs(void)
{
    unsigned cpu = smp_processor_id();
    check("bind_virq VIRQ_TIMER again (bound at boot)", op_bind_virq(VIRQ_TIMER, cpu),
          -XEN_EEXIST);
    check("bind_virq NR_VIRQS", op_bind_virq(NR_VIRQS, 0), -XEN_EINVAL);
    check("bind_virq VIRQ_TIMER on a vcpu that does not exist",
          op_bind_virq(VIRQ_TIMER, nr_cpus), -XEN_ENOENT);
    if (nr_cpus > 1)
        check("bind_virq global VIRQ_CON_RING on vcpu 1", op_bind_virq(VIRQ_CON_RING, 1),
              -XEN_EINVAL);
    struct evtchn_bind_ipi bi = {.vcpu = nr_cpus};
    check("bind_ipi on a vcpu that does not exist", op(EVTCHNOP_bind_ipi, &bi),
          -XEN_ENOENT);
    if (nr_cpus > 1) {
        check("bind_vcpu of an IPI port", op_bind_vcpu(this_cpu()->ipi_port[IPI_PING], 1),
              -XEN_EINVAL);
        check("bind_vcpu of a per-vcpu VIRQ port",
              op_bind_vcpu(this_cpu()->timer_port, 1), -XEN_EINVAL);
    }
    check("bind_vcpu to a vcpu that does not exist",
          op_bind_vcpu(this_cpu()->ipi_port[IPI_PING], nr_cpus), -XEN_ENOENT);
    /* A global VIRQ binds once, on vCPU 0, and can then move. */
    long g = op_bind_virq(VIRQ_CON_RING, 0);
    check("bind_virq global VIRQ_CON_RING on vcpu 0", g < 0 ? g : 0, 0);
    if (g > 0) {
        if (nr_cpus > 1)
            check("bind_vcpu of a global VIRQ port", op_bind_vcpu((evtchn_port_t)g, 1),
                  0);
        check("close of the global VIRQ port", op_close((evtchn_port_t)g), 0);
        check("close of it again", op_close((evtchn_port_t)g), -XEN_EINVAL);
    }
}

static void fifo_limits(void)
{
    struct percpu *pc = this_cpu();
    uint64_t pa = va_to_pa(&pc->fifo_cb);
    struct evtchn_init_control ic = {
        .control_gfn = pa >> PAGE_SHIFT,
        .offset = (uint32_t)(pa & (PAGE_SIZE - 1)),
        .vcpu = pc->cpu,
    };
    if (evtchn_abi() != EVTCHN_ABI_FIFO) {
        struct evtchn_expand_array ea = {.array_gfn = pa >> PAGE_SHIFT};
        check("2l: expand_array", op(EVTCHNOP_expand_array, &ea), -XEN_EOPNOTSUPP);
        check("2l: set_priority of a bound port",
              evtchn_set_priority(pc->ipi_port[IPI_PING], 3), -XEN_ENOSYS);
        return;
    }
    check("fifo: init_control again for this vcpu", op(EVTCHNOP_init_control, &ic),
          -XEN_EINVAL);
    ic.vcpu = nr_cpus;
    check("fifo: init_control for a vcpu that does not exist",
          op(EVTCHNOP_init_control, &ic), -XEN_ENOENT);
    ic.vcpu = pc->cpu;
    ic.offset = (uint32_t)PAGE_SIZE - 8;
    check("fifo: init_control crossing a page", op(EVTCHNOP_init_control, &ic),
          -XEN_EINVAL);
    ic.offset = 4;
    check("fifo: init_control misaligned", op(EVTCHNOP_init_control, &ic), -XEN_EINVAL);
    check("fifo: set_priority 16", evtchn_set_priority(pc->ipi_port[IPI_PING], 16),
          -XEN_EINVAL);
    check("fifo: set_priority 15", evtchn_set_priority(pc->ipi_port[IPI_PING], 15), 0);
    evtchn_set_priority(pc->ipi_port[IPI_PING], EVTCHN_FIFO_PRIORITY_DEFAULT);

    unsigned pages0 = evtchn_fifo_array_ports() / 1024, added = 0;
    long rc;
    while (!(rc = evtchn_fifo_expand()))
        added++;
    unsigned ports = evtchn_fifo_array_ports();
    bool ok = rc == -XEN_ENOSPC && ports == EVTCHN_FIFO_NR_CHANNELS;
    printk("limits: fifo: event array %u pages + %u = %u ports, then expand_array -> %s "
           "(Xen: ENOSPC at %u): %s\n",
           pages0, added, ports, errname(rc), EVTCHN_FIFO_NR_CHANNELS,
           ok ? "ok" : "FAIL");
    failures += !ok;
}

int test_limits(void)
{
    printk("limits: %s ABI, %u ports, %u bound\n", evtchn_abi_name(), evtchn_max_ports(),
           evtchn_nr_bound());
    fifo_limits(); /* first: exhaustion needs the whole FIFO array anyway */
    exhaust();
    bad_ports();
    other_domains();
    close_while_pending();
    virqs();
    /* Events still flow after all that. */
    uint64_t acks = smp_tlb_shootdown();
    bool ok = acks == nr_cpus - 1;
    printk("limits: IPIs still delivered afterwards (%lu of %u acks): %s\n", acks,
           nr_cpus - 1, ok ? "ok" : "FAIL");
    failures += !ok;
    printk("limits: %u failures\n", failures);
    return failures ? 1 : 0;
}
