/* The 2-level event channel ABI (Xen's event_2l.c): a pending and a mask
 * bit per port in shared_info, and a selector word per vCPU in its
 * vcpu_info with one bit per word of pending bits. */
#include <stdint.h>
#include <xen/xen.h>

#include "evtchn_port.h"

#define BITS_PER_WORD (sizeof(xen_ulong_t) * 8)

/* Xen sends vCPUs without a vcpu_info to a dummy one; xensim keeps its
 * selector per domain (Xen's is one for the whole host). */
static xen_ulong_t *pending_sel(struct xs_vcpu *v)
{
    struct vcpu_info *vi = xs_vcpu_info(v);
    return vi ? &vi->evtchn_pending_sel : &v->dom->evtchn->dummy_sel;
}

static void l2_set_pending(struct xs_vcpu *v, struct xs_evtchn *chn)
{
    struct xs_domain *d = v->dom;
    shared_info_t *s = d->shared_info;
    evtchn_port_t port = chn->port;
    if (port >= XS_EVTCHN_2L_PORTS) return; /* cannot be bound under this ABI */
    xen_ulong_t *pw = &s->evtchn_pending[port / BITS_PER_WORD];
    if (xs_test_and_set_ulong(pw, port % BITS_PER_WORD)) {
        d->evtchn->stats.coalesced++;
        return;
    }
    xs_evtchn_noted_pending(v, chn);
    if (!xs_test_ulong(&s->evtchn_mask[port / BITS_PER_WORD], port % BITS_PER_WORD) &&
        !xs_test_and_set_ulong(pending_sel(v), port / BITS_PER_WORD))
        xs_evtchn_upcall(v);
    xs_sched_check_pollers(d, port);
}

static void l2_clear_pending(struct xs_domain *d, struct xs_evtchn *chn)
{
    if (chn->port >= XS_EVTCHN_2L_PORTS) return;
    xs_test_and_clear_ulong(&d->shared_info->evtchn_pending[chn->port / BITS_PER_WORD],
                            chn->port % BITS_PER_WORD);
}

static void l2_unmask(struct xs_domain *d, struct xs_evtchn *chn)
{
    struct xs_vcpu *v = xs_vcpu_of(d, chn->notify_vcpu);
    shared_info_t *s = d->shared_info;
    evtchn_port_t port = chn->port;
    if (!v || port >= XS_EVTCHN_2L_PORTS) return;
    unsigned w = port / BITS_PER_WORD, b = port % BITS_PER_WORD;
    /* Only an event that arrived while masked needs the upcall now. */
    if (xs_test_and_clear_ulong(&s->evtchn_mask[w], b) &&
        xs_test_ulong(&s->evtchn_pending[w], b) &&
        !xs_test_and_set_ulong(pending_sel(v), w))
        xs_evtchn_upcall(v);
}

static bool l2_is_pending(struct xs_domain *d, const struct xs_evtchn *chn)
{
    return chn->port < XS_EVTCHN_2L_PORTS &&
           xs_test_ulong(&d->shared_info->evtchn_pending[chn->port / BITS_PER_WORD],
                         chn->port % BITS_PER_WORD);
}

static bool l2_is_masked(struct xs_domain *d, const struct xs_evtchn *chn)
{
    return chn->port >= XS_EVTCHN_2L_PORTS ||
           xs_test_ulong(&d->shared_info->evtchn_mask[chn->port / BITS_PER_WORD],
                         chn->port % BITS_PER_WORD);
}

const struct xs_evtchn_abi xs_evtchn_abi_2l = {
    .name = "2l",
    .max_ports = XS_EVTCHN_2L_PORTS,
    .set_pending = l2_set_pending,
    .clear_pending = l2_clear_pending,
    .unmask = l2_unmask,
    .is_pending = l2_is_pending,
    .is_masked = l2_is_masked,
};
