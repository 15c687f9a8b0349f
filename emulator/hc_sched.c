/* sched_op: yield, block, poll (and waking pollers), shutdown. */
#include <stdint.h>
#include <inttypes.h>
#include <xen/sched.h>
#include <xen/event_channel.h>

#include "evtchn.h"
#include "guest_mem.h"
#include "hypercall.h"
#include "suspend.h"

#define POLL_MAX_PORTS 128

typedef long (*sched_fn)(struct xs_vcpu *v, uint64_t arg);

static long sched_yield(struct xs_vcpu *v, uint64_t arg)
{
    (void)v, (void)arg;
    return 0; /* the scheduler decides again at every exit anyway */
}

static long sched_block(struct xs_vcpu *v, uint64_t arg)
{
    (void)arg;
    /* Xen re-enables event delivery, then blocks unless an upcall is due. */
    struct vcpu_info *vi = xs_vcpu_info(v);
    if (vi) vi->evtchn_upcall_mask = 0;
    if (!xs_callback_deliverable(v)) xs_vcpu_set_state(v, XS_VCPU_BLOCKED);
    return 0;
}

/* As Xen's do_poll: returns at once if an upcall is due or a listed port
 * is pending; otherwise waits for one of the ports (any port when not
 * exactly one is listed), an upcall, or the timeout. */
static long sched_poll(struct xs_vcpu *v, uint64_t arg)
{
    struct xs_domain *d = v->dom;
    struct sched_poll p;
    if (xs_copy_from_guest(d, &p, arg, sizeof(p))) return -XEN_EFAULT;
    if (p.nr_ports > POLL_MAX_PORTS) return -XEN_EINVAL;
    uint64_t ports = (uint64_t)(uintptr_t)p.ports.p;
    if (p.nr_ports && !xs_gva_ptr(d, ports, (uint64_t)p.nr_ports * sizeof(evtchn_port_t)))
        return -XEN_EFAULT;
    if (xs_callback_deliverable(v)) return 0;
    xs_copy_from_guest(d, v->poll_ports, ports, p.nr_ports * sizeof(evtchn_port_t));
    for (unsigned i = 0; i < p.nr_ports; i++) {
        if (v->poll_ports[i] >= xs_evtchn_max_ports(d)) return -XEN_EINVAL;
        if (xs_evtchn_is_pending(d, v->poll_ports[i])) return 0;
    }
    v->nr_poll_ports = p.nr_ports;
    /* A deadline already past fires at the next timer check, as Xen's
     * timer fires "immediately". */
    v->poll_deadline_ns = p.timeout ? xs_timer_deadline(p.timeout) : XS_NO_DEADLINE;
    xs_vcpu_set_state(v, XS_VCPU_POLLING);
    xs_timers_changed(d->sim);
    return 0;
}

void xs_sched_check_pollers(struct xs_domain *d, evtchn_port_t port)
{
    for (unsigned i = 0; i < d->nr_vcpus; i++) {
        struct xs_vcpu *v = &d->vcpus[i];
        if (v->state != XS_VCPU_POLLING) continue;
        if (v->nr_poll_ports != 1 || v->poll_ports[0] == port) xs_vcpu_kick(v);
    }
}

/* As Xen's domain_shutdown: a code set earlier with SCHEDOP_shutdown_code
 * is the reason reported (Linux sets "crash" that way before powering off
 * from a panic).  Reasons above SHUTDOWN_MAX, which Xen passes through
 * unchecked, are refused here: no toolstack could act on them. */
static long sched_shutdown(struct xs_vcpu *v, uint64_t arg)
{
    struct sched_shutdown s;
    if (xs_copy_from_guest(v->dom, &s, arg, sizeof(s))) return -XEN_EFAULT;
    if (s.reason > SHUTDOWN_MAX) return -XEN_EINVAL;
    int reason = v->dom->shutdown_code >= 0 ? v->dom->shutdown_code : (int)s.reason;
    /* Suspend parks the domain for the toolstack (suspend.c): the call
     * returns later, 1 if cancelled, 0 in a new domain. */
    if (reason == SHUTDOWN_suspend) return xs_domain_suspend(v);
    xs_domain_end(v->dom, reason);
    return 0;
}

static long sched_shutdown_code(struct xs_vcpu *v, uint64_t arg)
{
    struct sched_shutdown s;
    if (xs_copy_from_guest(v->dom, &s, arg, sizeof(s))) return -XEN_EFAULT;
    if (s.reason > SHUTDOWN_MAX) return -XEN_EINVAL;
    if (v->dom->shutdown_code < 0) v->dom->shutdown_code = (int)s.reason;
    return 0;
}

/* Xen's order: read the argument, find the domain, then refuse a DomU. */
static long sched_remote_shutdown(struct xs_vcpu *v, uint64_t arg)
{
    struct sched_remote_shutdown r;
    if (xs_copy_from_guest(v->dom, &r, arg, sizeof(r))) return -XEN_EFAULT;
    for (unsigned i = 0; i < v->dom->sim->nr_domains; i++)
        if (v->dom->sim->domains[i]->domid == r.domain_id) return -XEN_EPERM;
    return -XEN_ESRCH;
}

static long sched_pin_override(struct xs_vcpu *v, uint64_t arg)
{
    (void)v, (void)arg;
    return -XEN_EPERM; /* Dom0 only */
}

static const sched_fn ops[] = {
    [SCHEDOP_yield] = sched_yield,
    [SCHEDOP_block] = sched_block,
    [SCHEDOP_shutdown] = sched_shutdown,
    [SCHEDOP_poll] = sched_poll,
    [SCHEDOP_remote_shutdown] = sched_remote_shutdown,
    [SCHEDOP_shutdown_code] = sched_shutdown_code,
    [SCHEDOP_pin_override] = sched_pin_override,
};

long xs_hc_sched_op(struct xs_vcpu *v, const uint64_t a[5])
{
    uint64_t cmd = a[0];
    if (cmd >= sizeof(ops) / sizeof(ops[0]) || !ops[cmd]) return -XEN_ENOSYS;
    return ops[cmd](v, a[1]);
}
