/* Event channels: the port table, port allocation, VIRQs and the EVTCHNOP
 * registry.  Pending and mask state belong to the domain's ABI (evtchn_2l.c
 * or evtchn_fifo.c), reached only through its operations table.  Behaviour
 * follows Xen 4.17's common/event_channel.c for an unprivileged guest. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xen/xen.h>
#include <xen/errno.h>
#include <xen/event_channel.h>

#include "evtchn_port.h"
#include "guest_mem.h"

/* ---- port table ---------------------------------------------------------- */

struct xs_evtchn *xs_evtchn_from_port(struct xs_domain *d, evtchn_port_t port)
{
    struct xs_evtchn_domain *ed = d->evtchn;
    if (!ed || port / XS_EVTCHN_BUCKET >= ed->nr_buckets) return NULL;
    return &ed->buckets[port / XS_EVTCHN_BUCKET][port % XS_EVTCHN_BUCKET];
}

bool xs_evtchn_port_valid(struct xs_domain *d, evtchn_port_t port)
{
    return xs_evtchn_from_port(d, port) != NULL;
}

/* Xen's evtchn_allocate_port: every bucket up to port's exists after it. */
static int grow_to(struct xs_domain *d, evtchn_port_t port)
{
    struct xs_evtchn_domain *ed = d->evtchn;
    while (port / XS_EVTCHN_BUCKET >= ed->nr_buckets) {
        if (ed->nr_buckets == ed->cap_buckets) {
            unsigned cap = ed->cap_buckets ? ed->cap_buckets * 2 : 4;
            if (cap > XS_EVTCHN_MAX_BUCKETS) cap = XS_EVTCHN_MAX_BUCKETS;
            struct xs_evtchn **nb = realloc(ed->buckets, cap * sizeof(*nb));
            if (!nb) return -XEN_ENOMEM;
            ed->buckets = nb;
            ed->cap_buckets = cap;
        }
        struct xs_evtchn *b = calloc(XS_EVTCHN_BUCKET, sizeof(*b));
        if (!b) return -XEN_ENOMEM;
        for (unsigned i = 0; i < XS_EVTCHN_BUCKET; i++)
            b[i].port = ed->nr_buckets * XS_EVTCHN_BUCKET + i;
        ed->buckets[ed->nr_buckets++] = b;
    }
    return 0;
}

/* Xen's get_free_port: the lowest port that is free and not still linked
 * in a FIFO queue.  The hint only skips ports known to be in use, so the
 * answer is the same as a scan from 0. */
static long get_free_port(struct xs_domain *d)
{
    struct xs_evtchn_domain *ed = d->evtchn;
    for (evtchn_port_t p = ed->free_hint; p < ed->abi->max_ports; p++) {
        struct xs_evtchn *chn = xs_evtchn_from_port(d, p);
        if (!chn) {
            int rc = grow_to(d, p);
            return rc ? rc : (long)p;
        }
        if (chn->state != XS_ECS_FREE) {
            if (p == ed->free_hint) ed->free_hint = p + 1;
            continue;
        }
        if (ed->abi->is_busy && ed->abi->is_busy(d, chn)) continue;
        return p;
    }
    return -XEN_ENOSPC;
}

static void port_init(struct xs_domain *d, struct xs_evtchn *chn, unsigned state,
                      unsigned vcpu)
{
    chn->state = (uint8_t)state;
    chn->notify_vcpu = (uint16_t)vcpu;
    if (d->evtchn->abi->init) d->evtchn->abi->init(d, chn);
}

/* Xen's evtchn_free: clear pending so a rebind starts clean. */
static void port_free(struct xs_domain *d, struct xs_evtchn *chn)
{
    struct xs_evtchn_domain *ed = d->evtchn;
    if (xs_evtchn_usable(chn)) ed->abi->clear_pending(d, chn);
    chn->state = XS_ECS_FREE;
    chn->notify_vcpu = 0;
    chn->fifo_pending = false;
    if (chn->port < ed->free_hint) ed->free_hint = chn->port;
}

/* Xen's evtchn_port_set_pending. */
static void raise_port(struct xs_domain *d, unsigned vcpu, struct xs_evtchn *chn)
{
    struct xs_vcpu *v = xs_vcpu_of(d, vcpu);
    if (v && xs_evtchn_usable(chn)) d->evtchn->abi->set_pending(v, chn);
}

void xs_evtchn_noted_pending(struct xs_vcpu *v, const struct xs_evtchn *chn)
{
    struct xs_domain *d = v->dom;
    d->evtchn->stats.sends++;
    xs_trace_emit(&d->sim->trace, d->sim->vtime_ns, d->domid, v->id, XS_TR_EVTCHN, 0,
                  (uint64_t[]){chn->port, v->id}, 2, 0, NULL, 0);
}

void xs_evtchn_upcall(struct xs_vcpu *v)
{
    struct vcpu_info *vi = xs_vcpu_info(v);
    if (vi && !__atomic_load_n(&vi->evtchn_upcall_pending, __ATOMIC_SEQ_CST))
        v->dom->evtchn->stats.upcalls++;
    xs_vcpu_mark_events_pending(v);
}

/* ---- life cycle ------------------------------------------------------------ */

int xs_evtchn_domain_init(struct xs_domain *d, char *err, size_t errlen)
{
    struct xs_evtchn_domain *ed = calloc(1, sizeof(*ed));
    if (ed) ed->virq_to_port = calloc(d->nr_vcpus, sizeof(*ed->virq_to_port));
    d->evtchn = ed;
    if (!ed || !ed->virq_to_port || grow_to(d, 0)) {
        xs_evtchn_domain_destroy(d);
        snprintf(err, errlen, "domain %s: out of memory for event channels", d->name);
        return -1;
    }
    ed->abi = &xs_evtchn_abi_2l;
    ed->buckets[0][0].state = XS_ECS_RESERVED;
    ed->free_hint = 1;
    return 0;
}

/* As Xen's evtchn_destroy, the other end of every interdomain channel is
 * left unbound waiting for this domain, so no pointer to it survives.
 * Guest memory is not touched: it may already be gone. */
void xs_evtchn_domain_destroy(struct xs_domain *d)
{
    struct xs_evtchn_domain *ed = d->evtchn;
    if (!ed) return;
    for (unsigned b = 0; b < ed->nr_buckets; b++)
        for (unsigned i = 0; i < XS_EVTCHN_BUCKET; i++) {
            struct xs_evtchn *chn = &ed->buckets[b][i];
            if (chn->state != XS_ECS_INTERDOMAIN || chn->u.inter.dom == d) continue;
            struct xs_evtchn *r =
                xs_evtchn_from_port(chn->u.inter.dom, chn->u.inter.port);
            if (r && r->state == XS_ECS_INTERDOMAIN && r->u.inter.dom == d) {
                r->state = XS_ECS_UNBOUND;
                r->u.unbound_remote = d->domid;
            }
        }
    if (ed->abi && ed->abi->destroy) ed->abi->destroy(d);
    for (unsigned b = 0; b < ed->nr_buckets; b++)
        free(ed->buckets[b]);
    free(ed->buckets);
    free(ed->virq_to_port);
    free(ed);
    d->evtchn = NULL;
}

/* ---- queries --------------------------------------------------------------- */

bool xs_evtchn_is_pending(struct xs_domain *d, evtchn_port_t port)
{
    struct xs_evtchn *chn = xs_evtchn_from_port(d, port);
    return chn && xs_evtchn_usable(chn) && d->evtchn->abi->is_pending(d, chn);
}

bool xs_evtchn_is_masked(struct xs_domain *d, evtchn_port_t port)
{
    struct xs_evtchn *chn = xs_evtchn_from_port(d, port);
    return !chn || !xs_evtchn_usable(chn) || d->evtchn->abi->is_masked(d, chn);
}

unsigned xs_evtchn_max_ports(struct xs_domain *d)
{
    return d->evtchn->abi->max_ports;
}

const char *xs_evtchn_abi_name(struct xs_domain *d)
{
    return d->evtchn->abi->name;
}

const struct xs_evtchn_stats *xs_evtchn_stats(struct xs_domain *d)
{
    return &d->evtchn->stats;
}

/* ---- VIRQs ----------------------------------------------------------------- */

static bool virq_is_global(unsigned virq)
{
    return virq != VIRQ_TIMER && virq != VIRQ_DEBUG && virq != VIRQ_XENOPROF &&
           virq != VIRQ_XENPMU;
}

void xs_evtchn_send_global_virq(struct xs_domain *d, unsigned virq)
{
    if (virq >= NR_VIRQS || !virq_is_global(virq) || !d->evtchn) return;
    struct xs_evtchn *chn = xs_evtchn_from_port(d, d->evtchn->virq_to_port[0][virq]);
    if (chn && chn->port) raise_port(d, chn->notify_vcpu, chn);
}

/* A global VIRQ given here goes to the domain (Xen asserts instead). */
void xs_evtchn_send_virq(struct xs_vcpu *v, unsigned virq)
{
    struct xs_domain *d = v->dom;
    if (virq >= NR_VIRQS || !d->evtchn) return;
    if (virq_is_global(virq)) {
        xs_evtchn_send_global_virq(d, virq);
        return;
    }
    struct xs_evtchn *chn = xs_evtchn_from_port(d, d->evtchn->virq_to_port[v->id][virq]);
    if (chn && chn->port) raise_port(d, v->id, chn);
}

/* ---- operations (Xen's evtchn_* functions) --------------------------------- */

/* rcu_lock_domain_by_any_id: DOMID_SELF or a domain of this simulation. */
static struct xs_domain *domain_by_id(struct xs_domain *self, domid_t id)
{
    if (id == DOMID_SELF) return self;
    for (unsigned i = 0; i < self->sim->nr_domains; i++)
        if (self->sim->domains[i]->domid == id) return self->sim->domains[i];
    return NULL;
}

static long alloc_unbound(struct xs_domain *d, domid_t remote)
{
    long port = get_free_port(d);
    if (port < 0) return port;
    struct xs_evtchn *chn = xs_evtchn_from_port(d, (evtchn_port_t)port);
    port_init(d, chn, XS_ECS_UNBOUND, 0);
    chn->u.unbound_remote = remote;
    return port;
}

long xs_evtchn_alloc_unbound_for(struct xs_domain *d, domid_t remote)
{
    return alloc_unbound(d, remote == DOMID_SELF ? d->domid : remote);
}

long xs_evtchn_alloc_unbound_from(struct xs_domain *d, domid_t remote, evtchn_port_t min)
{
    struct xs_evtchn_domain *ed = d->evtchn;
    if (min <= ed->free_hint) return xs_evtchn_alloc_unbound_for(d, remote);
    for (evtchn_port_t p = min; p < ed->abi->max_ports; p++) {
        struct xs_evtchn *chn = xs_evtchn_from_port(d, p);
        if (!chn) {
            int rc = grow_to(d, p);
            if (rc) return rc;
            chn = xs_evtchn_from_port(d, p);
        }
        if (chn->state != XS_ECS_FREE || (ed->abi->is_busy && ed->abi->is_busy(d, chn)))
            continue;
        port_init(d, chn, XS_ECS_UNBOUND, 0);
        chn->u.unbound_remote = remote == DOMID_SELF ? d->domid : remote;
        return p;
    }
    return -XEN_ENOSPC;
}

static long evtchn_close(struct xs_domain *d, evtchn_port_t port)
{
    struct xs_evtchn *chn = xs_evtchn_from_port(d, port);
    if (!chn) return -XEN_EINVAL;
    switch (chn->state) {
    case XS_ECS_FREE:
    case XS_ECS_RESERVED:
        return -XEN_EINVAL;
    case XS_ECS_VIRQ: {
        unsigned vcpu = virq_is_global(chn->u.virq) ? 0 : chn->notify_vcpu;
        d->evtchn->virq_to_port[vcpu][chn->u.virq] = 0;
        break;
    }
    case XS_ECS_INTERDOMAIN: {
        struct xs_domain *rd = chn->u.inter.dom;
        struct xs_evtchn *rchn = xs_evtchn_from_port(rd, chn->u.inter.port);
        port_free(d, chn);
        /* The other end waits for this domain to bind again. */
        if (rchn) {
            rchn->state = XS_ECS_UNBOUND;
            rchn->u.unbound_remote = d->domid;
        }
        return 0;
    }
    default: /* unbound, IPI */
        break;
    }
    port_free(d, chn);
    return 0;
}

static long evtchn_send(struct xs_domain *d, evtchn_port_t port)
{
    struct xs_evtchn *chn = xs_evtchn_from_port(d, port);
    if (!chn) return -XEN_EINVAL;
    switch (chn->state) {
    case XS_ECS_INTERDOMAIN: {
        struct xs_domain *rd = chn->u.inter.dom;
        struct xs_evtchn *rchn = xs_evtchn_from_port(rd, chn->u.inter.port);
        if (rchn) raise_port(rd, rchn->notify_vcpu, rchn);
        return 0;
    }
    case XS_ECS_IPI:
        raise_port(d, chn->notify_vcpu, chn);
        return 0;
    case XS_ECS_UNBOUND:
        return 0; /* nobody to tell: dropped */
    default:
        return -XEN_EINVAL;
    }
}

bool xs_evtchn_is_unbound_for(struct xs_domain *d, evtchn_port_t port, domid_t remote)
{
    struct xs_evtchn *chn = xs_evtchn_from_port(d, port);
    return chn && chn->state == XS_ECS_UNBOUND && chn->u.unbound_remote == remote;
}

int xs_evtchn_notify_local(struct xs_domain *d, evtchn_port_t port)
{
    struct xs_evtchn *chn = xs_evtchn_from_port(d, port);
    if (!chn || (chn->state != XS_ECS_UNBOUND && chn->state != XS_ECS_INTERDOMAIN))
        return -XEN_EINVAL;
    raise_port(d, chn->notify_vcpu, chn);
    return 0;
}

/* ---- EVTCHNOP registry ----------------------------------------------------- */

union evtchnop_arg {
    struct evtchn_bind_interdomain bind_interdomain;
    struct evtchn_bind_virq bind_virq;
    struct evtchn_close close;
    struct evtchn_send send;
    struct evtchn_status status;
    struct evtchn_alloc_unbound alloc_unbound;
    struct evtchn_bind_ipi bind_ipi;
    struct evtchn_bind_vcpu bind_vcpu;
    struct evtchn_unmask unmask;
    struct evtchn_reset reset;
    struct evtchn_init_control init_control;
    struct evtchn_expand_array expand_array;
    struct evtchn_set_priority set_priority;
};

typedef long (*evtchnop_fn)(struct xs_vcpu *v, union evtchnop_arg *a);

/* A DomU may only act on itself (XSM_TARGET); the domain must exist first. */
static long target_domain(struct xs_vcpu *v, domid_t id, struct xs_domain **out)
{
    *out = domain_by_id(v->dom, id);
    return *out ? 0 : -XEN_ESRCH;
}

static long op_alloc_unbound(struct xs_vcpu *v, union evtchnop_arg *a)
{
    struct evtchn_alloc_unbound *p = &a->alloc_unbound;
    struct xs_domain *t;
    long rc = target_domain(v, p->dom, &t);
    if (rc) return rc;
    if (t != v->dom) {
        /* Xen finds (and so grows) the port before XSM refuses. */
        rc = get_free_port(t);
        return rc < 0 ? rc : -XEN_EPERM;
    }
    rc = alloc_unbound(t, p->remote_dom == DOMID_SELF ? v->dom->domid : p->remote_dom);
    if (rc < 0) return rc;
    p->port = (evtchn_port_t)rc;
    return 0;
}

static long op_bind_interdomain(struct xs_vcpu *v, union evtchnop_arg *a)
{
    struct evtchn_bind_interdomain *p = &a->bind_interdomain;
    struct xs_domain *ld = v->dom, *rd;
    long rc = target_domain(v, p->remote_dom, &rd);
    if (rc) return rc;
    long lport = get_free_port(ld);
    if (lport < 0) return lport;
    struct xs_evtchn *rchn = xs_evtchn_from_port(rd, p->remote_port);
    if (!rchn || rchn->state != XS_ECS_UNBOUND || rchn->u.unbound_remote != ld->domid)
        return -XEN_EINVAL;
    struct xs_evtchn *lchn = xs_evtchn_from_port(ld, (evtchn_port_t)lport);
    port_init(ld, lchn, XS_ECS_INTERDOMAIN, 0);
    lchn->u.inter.dom = rd;
    lchn->u.inter.port = p->remote_port;
    rchn->state = XS_ECS_INTERDOMAIN;
    rchn->u.inter.dom = ld;
    rchn->u.inter.port = (evtchn_port_t)lport;
    /* As Xen: a notification may have been lost while the remote end was
     * unbound, so the new local port starts pending. */
    raise_port(ld, lchn->notify_vcpu, lchn);
    p->local_port = (evtchn_port_t)lport;
    return 0;
}

static long op_bind_virq(struct xs_vcpu *v, union evtchnop_arg *a)
{
    struct evtchn_bind_virq *p = &a->bind_virq;
    struct xs_domain *d = v->dom;
    if (p->virq >= NR_VIRQS) return -XEN_EINVAL;
    if (virq_is_global(p->virq) && p->vcpu != 0) return -XEN_EINVAL;
    if (!xs_vcpu_of(d, p->vcpu)) return -XEN_ENOENT;
    evtchn_port_t *slot = &d->evtchn->virq_to_port[p->vcpu][p->virq];
    if (*slot) return -XEN_EEXIST;
    long port = get_free_port(d);
    if (port < 0) return port;
    struct xs_evtchn *chn = xs_evtchn_from_port(d, (evtchn_port_t)port);
    port_init(d, chn, XS_ECS_VIRQ, p->vcpu);
    chn->u.virq = p->virq;
    *slot = (evtchn_port_t)port;
    p->port = (evtchn_port_t)port;
    return 0;
}

static long op_bind_ipi(struct xs_vcpu *v, union evtchnop_arg *a)
{
    struct evtchn_bind_ipi *p = &a->bind_ipi;
    struct xs_domain *d = v->dom;
    if (!xs_vcpu_of(d, p->vcpu)) return -XEN_ENOENT;
    long port = get_free_port(d);
    if (port < 0) return port;
    port_init(d, xs_evtchn_from_port(d, (evtchn_port_t)port), XS_ECS_IPI, p->vcpu);
    p->port = (evtchn_port_t)port;
    return 0;
}

static long op_close(struct xs_vcpu *v, union evtchnop_arg *a)
{
    return evtchn_close(v->dom, a->close.port);
}

static long op_send(struct xs_vcpu *v, union evtchnop_arg *a)
{
    return evtchn_send(v->dom, a->send.port);
}

static long op_status(struct xs_vcpu *v, union evtchnop_arg *a)
{
    struct evtchn_status *p = &a->status;
    struct xs_domain *t;
    long rc = target_domain(v, p->dom, &t);
    if (rc) return rc;
    struct xs_evtchn *chn = xs_evtchn_from_port(t, p->port);
    if (!chn) return -XEN_EINVAL;
    if (t != v->dom) return -XEN_EPERM;
    static const uint32_t status_of[] = {
        [XS_ECS_FREE] = EVTCHNSTAT_closed,
        [XS_ECS_RESERVED] = EVTCHNSTAT_closed,
        [XS_ECS_UNBOUND] = EVTCHNSTAT_unbound,
        [XS_ECS_INTERDOMAIN] = EVTCHNSTAT_interdomain,
        [XS_ECS_VIRQ] = EVTCHNSTAT_virq,
        [XS_ECS_IPI] = EVTCHNSTAT_ipi,
    };
    p->status = status_of[chn->state];
    if (chn->state == XS_ECS_UNBOUND) p->u.unbound.dom = chn->u.unbound_remote;
    if (chn->state == XS_ECS_INTERDOMAIN) {
        p->u.interdomain.dom = chn->u.inter.dom->domid;
        p->u.interdomain.port = chn->u.inter.port;
    }
    if (chn->state == XS_ECS_VIRQ) p->u.virq = chn->u.virq;
    p->vcpu = chn->notify_vcpu;
    return 0;
}

static long op_bind_vcpu(struct xs_vcpu *v, union evtchnop_arg *a)
{
    struct evtchn_bind_vcpu *p = &a->bind_vcpu;
    struct xs_domain *d = v->dom;
    if (!xs_vcpu_of(d, p->vcpu)) return -XEN_ENOENT;
    struct xs_evtchn *chn = xs_evtchn_from_port(d, p->port);
    if (!chn) return -XEN_EINVAL;
    switch (chn->state) {
    case XS_ECS_VIRQ:
        if (!virq_is_global(chn->u.virq)) return -XEN_EINVAL;
        break;
    case XS_ECS_UNBOUND:
    case XS_ECS_INTERDOMAIN:
        break;
    default: /* free, reserved, IPI */
        return -XEN_EINVAL;
    }
    /* FIFO: the event moves queue the next time it is linked. */
    chn->notify_vcpu = (uint16_t)p->vcpu;
    return 0;
}

static long op_unmask(struct xs_vcpu *v, union evtchnop_arg *a)
{
    struct xs_domain *d = v->dom;
    struct xs_evtchn *chn = xs_evtchn_from_port(d, a->unmask.port);
    if (!chn) return -XEN_EINVAL;
    if (xs_evtchn_usable(chn)) d->evtchn->abi->unmask(d, chn);
    return 0;
}

/* Xen's evtchn_reset: close every port and go back to the 2-level ABI.
 * xensim never preempts it, so there is no continuation. */
static long op_reset(struct xs_vcpu *v, union evtchnop_arg *a)
{
    struct xs_domain *t;
    long rc = target_domain(v, a->reset.dom, &t);
    if (rc) return rc;
    if (t != v->dom) return -XEN_EPERM;
    struct xs_evtchn_domain *ed = t->evtchn;
    for (evtchn_port_t p = 1; xs_evtchn_port_valid(t, p); p++)
        evtchn_close(t, p);
    if (ed->abi->destroy) ed->abi->destroy(t);
    ed->abi = &xs_evtchn_abi_2l;
    return 0;
}

static long op_init_control(struct xs_vcpu *v, union evtchnop_arg *a)
{
    return xs_evtchn_fifo_init_control(v, &a->init_control);
}

static long op_expand_array(struct xs_vcpu *v, union evtchnop_arg *a)
{
    return xs_evtchn_fifo_expand_array(v, &a->expand_array);
}

static long op_set_priority(struct xs_vcpu *v, union evtchnop_arg *a)
{
    struct xs_domain *d = v->dom;
    struct xs_evtchn *chn = xs_evtchn_from_port(d, a->set_priority.port);
    if (!chn) return -XEN_EINVAL;
    if (!d->evtchn->abi->set_priority) return -XEN_ENOSYS;
    if (!xs_evtchn_usable(chn)) return -XEN_EACCES;
    return d->evtchn->abi->set_priority(d, chn, a->set_priority.priority);
}

struct evtchnop_desc {
    evtchnop_fn fn;
    size_t size;    /* of the argument struct */
    bool copy_back; /* results go back to the guest on success */
};

#define OP(name, out) [EVTCHNOP_##name] = {op_##name, sizeof(struct evtchn_##name), out}

/* EVTCHNOP_bind_pirq is absent: a PVH domain has no PIRQs (-ENOSYS). */
static const struct evtchnop_desc ops[] = {
    OP(bind_interdomain, true), OP(bind_virq, true),
    OP(close, false),           OP(send, false),
    OP(status, true),           OP(alloc_unbound, true),
    OP(bind_ipi, true),         OP(bind_vcpu, false),
    OP(unmask, false),          OP(reset, false),
    OP(init_control, true),     OP(expand_array, false),
    OP(set_priority, false),
};

long xs_hc_event_channel_op(struct xs_vcpu *v, const uint64_t a[5])
{
    /* Xen's do_event_channel_op takes an int: the upper half is ignored. */
    int cmd = (int)(uint32_t)a[0];
    if (cmd < 0 || (size_t)cmd >= sizeof(ops) / sizeof(ops[0]) || !ops[cmd].fn)
        return -XEN_ENOSYS;
    const struct evtchnop_desc *op = &ops[cmd];
    union evtchnop_arg arg;
    if (xs_copy_from_guest(v->dom, &arg, a[1], op->size)) return -XEN_EFAULT;
    long rc = op->fn(v, &arg);
    if (!rc && op->copy_back && xs_copy_to_guest(v->dom, a[1], &arg, op->size))
        rc = -XEN_EFAULT;
    return rc;
}
