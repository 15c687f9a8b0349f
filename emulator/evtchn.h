/* Event channels, the hypervisor side: each domain's port table, the
 * 2-level and FIFO ABIs behind one set of port operations, and the
 * EVTCHNOP hypercalls.  Semantics follow Xen 4.17 (common/event_channel.c,
 * event_2l.c, event_fifo.c). */
#ifndef XS_EVTCHN_H
#define XS_EVTCHN_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xen/event_channel.h>

struct xs_domain;
struct xs_vcpu;

#define XS_EVTCHN_2L_PORTS   4096u   /* 64 words of 64 bits */
#define XS_EVTCHN_FIFO_PORTS 131072u /* 1 << EVTCHN_FIFO_LINK_BITS */

/* Set up a new domain's table (2-level ABI, port 0 reserved); -1 and a
 * message in err when out of memory. */
int xs_evtchn_domain_init(struct xs_domain *d, char *err, size_t errlen);
void xs_evtchn_domain_destroy(struct xs_domain *d);

/* __HYPERVISOR_event_channel_op (registered in hypercall.c). */
long xs_hc_event_channel_op(struct xs_vcpu *v, const uint64_t a[5]);

/* Raise a per-vCPU VIRQ (VIRQ_TIMER, VIRQ_DEBUG) on v, or a global VIRQ on
 * the domain (delivered to the vCPU it is bound to).  Unbound: dropped. */
void xs_evtchn_send_virq(struct xs_vcpu *v, unsigned virq);
void xs_evtchn_send_global_virq(struct xs_domain *d, unsigned virq);
/* Notify a local port as a backend in xensim would (EVTCHNOP_send's effect
 * for an interdomain port, from the other end): 0 or -XEN_EINVAL. */
int xs_evtchn_notify_local(struct xs_domain *d, evtchn_port_t port);
/* Is port an unbound port of d waiting for remote (Xen's check before
 * EVTCHNOP_bind_interdomain)?  A backend in xensim checks a frontend's port
 * this way before using it. */
bool xs_evtchn_is_unbound_for(struct xs_domain *d, evtchn_port_t port, domid_t remote);
/* Allocate an unbound port in d for remote domain remote (for xensim's own
 * backends and the toolstack); returns the port or -XEN_errno. */
long xs_evtchn_alloc_unbound_for(struct xs_domain *d, domid_t remote);
/* The same, at the lowest free port >= min (a restored domain's toolstack
 * ports, which must not be the old ones). */
long xs_evtchn_alloc_unbound_from(struct xs_domain *d, domid_t remote, evtchn_port_t min);

bool xs_evtchn_port_valid(struct xs_domain *d, evtchn_port_t port);
/* The port's pending bit as the current ABI holds it. */
bool xs_evtchn_is_pending(struct xs_domain *d, evtchn_port_t port);
/* The port's mask as the current ABI holds it (true for unusable ports,
 * as Xen's evtchn_is_masked). */
bool xs_evtchn_is_masked(struct xs_domain *d, evtchn_port_t port);
/* Ports the domain's current ABI can address (4096 or 131072). */
unsigned xs_evtchn_max_ports(struct xs_domain *d);
/* "2l" or "fifo". */
const char *xs_evtchn_abi_name(struct xs_domain *d);

/* Counters for reports and benchmarks. */
struct xs_evtchn_stats {
    uint64_t sends;     /* set_pending calls that found the port not pending */
    uint64_t coalesced; /* set_pending calls on an already pending port */
    uint64_t upcalls;   /* upcall_pending raised 0 -> 1 */
};
const struct xs_evtchn_stats *xs_evtchn_stats(struct xs_domain *d);

/* ---- provided by the rest of xensim, called by the event channel code ---- */

/* vcpu_mark_events_pending: set v's evtchn_upcall_pending; on a 0->1 change
 * assert the callback (vector latch, vCPU0's legacy line) and kick v awake.
 * (vcpu.c) */
void xs_vcpu_mark_events_pending(struct xs_vcpu *v);
/* evtchn_check_pollers: port became pending; wake vCPUs of d in
 * SCHEDOP_poll on it (or on any port). (hc_sched.c) */
void xs_sched_check_pollers(struct xs_domain *d, evtchn_port_t port);
#endif
