/* Private to the event channel files (evtchn.c, evtchn_2l.c, evtchn_fifo.c):
 * the port table and the ABI operations table, so the core never asks
 * which ABI a domain uses. */
#ifndef XS_EVTCHN_PORT_H
#define XS_EVTCHN_PORT_H
#include <stdbool.h>
#include <stdint.h>
#include <xen/xen.h>
#include <xen/event_channel.h>

#include "evtchn.h"
#include "sim.h"

/* Ports are allocated a bucket at a time, as in Xen, and a port is valid
 * (port_is_valid) once its bucket exists, bound or not.  Xen's bucket is a
 * page of struct evtchn, which depends on its build (64 ports on x86 builds
 * without XSM); xensim fixes it at 64 so validity never depends on the host. */
#define XS_EVTCHN_BUCKET      64u
#define XS_EVTCHN_MAX_BUCKETS (XS_EVTCHN_FIFO_PORTS / XS_EVTCHN_BUCKET)

enum xs_evtchn_state {
    XS_ECS_FREE,
    XS_ECS_RESERVED, /* port 0 */
    XS_ECS_UNBOUND,
    XS_ECS_INTERDOMAIN,
    XS_ECS_VIRQ,
    XS_ECS_IPI,
};

struct xs_evtchn {
    evtchn_port_t port;
    uint8_t state;         /* enum xs_evtchn_state */
    uint8_t priority;      /* FIFO: queue for the next event */
    uint8_t last_priority; /* FIFO: queue it was last linked on ... */
    uint16_t last_vcpu;    /* ... and that queue's vCPU */
    uint16_t notify_vcpu;
    bool fifo_pending; /* FIFO: raised while its event array page was missing */
    union {
        domid_t unbound_remote; /* the domain allowed to bind */
        struct {
            struct xs_domain *dom;
            evtchn_port_t port;
        } inter;
        unsigned virq;
    } u;
};

/* One ABI's view of the pending/mask state, after Xen's evtchn_port_ops. */
struct xs_evtchn_abi {
    const char *name;
    unsigned max_ports;
    void (*init)(struct xs_domain *d, struct xs_evtchn *chn); /* on bind, or NULL */
    void (*set_pending)(struct xs_vcpu *v, struct xs_evtchn *chn);
    void (*clear_pending)(struct xs_domain *d, struct xs_evtchn *chn);
    void (*unmask)(struct xs_domain *d, struct xs_evtchn *chn);
    bool (*is_pending)(struct xs_domain *d, const struct xs_evtchn *chn);
    bool (*is_masked)(struct xs_domain *d, const struct xs_evtchn *chn);
    /* Closed but still linked in the guest's queue: not reusable.  NULL: never. */
    bool (*is_busy)(struct xs_domain *d, const struct xs_evtchn *chn);
    /* NULL: the ABI has no priorities (-ENOSYS). */
    int (*set_priority)(struct xs_domain *d, struct xs_evtchn *chn, unsigned prio);
    void (*destroy)(struct xs_domain *d); /* drop the ABI's state, or NULL */
};

extern const struct xs_evtchn_abi xs_evtchn_abi_2l;
extern const struct xs_evtchn_abi xs_evtchn_abi_fifo;

struct xs_evtchn_fifo; /* evtchn_fifo.c */

struct xs_evtchn_domain {
    const struct xs_evtchn_abi *abi;
    struct xs_evtchn **buckets; /* grows a bucket at a time */
    unsigned nr_buckets, cap_buckets;
    evtchn_port_t free_hint;                 /* no free port below it */
    evtchn_port_t (*virq_to_port)[NR_VIRQS]; /* per vCPU; global VIRQs on vCPU 0 */
    /* 2-level: the selector word of Xen's dummy vcpu_info, for vCPUs that
     * have none (32 and up before VCPUOP_register_vcpu_info). */
    xen_ulong_t dummy_sel;
    struct xs_evtchn_fifo *fifo; /* NULL until the first EVTCHNOP_init_control */
    struct xs_evtchn_stats stats;
};

/* NULL unless port_is_valid. */
struct xs_evtchn *xs_evtchn_from_port(struct xs_domain *d, evtchn_port_t port);
/* Bound to something a guest uses (not free, not port 0). */
static inline bool xs_evtchn_usable(const struct xs_evtchn *chn)
{
    return chn->state > XS_ECS_RESERVED;
}
/* ABI helpers: a port just became pending (stats, trace), and an upcall
 * for v (stats, vcpu_mark_events_pending). */
void xs_evtchn_noted_pending(struct xs_vcpu *v, const struct xs_evtchn *chn);
void xs_evtchn_upcall(struct xs_vcpu *v);

/* evtchn_fifo.c: the FIFO hypercalls. */
long xs_evtchn_fifo_init_control(struct xs_vcpu *v, struct evtchn_init_control *ic);
long xs_evtchn_fifo_expand_array(struct xs_vcpu *v, const struct evtchn_expand_array *ea);

/* Atomic bit operations on guest-visible words: the guest may run on
 * another thread one day, and they document which updates are
 * read-modify-write. */
static inline bool xs_test_and_set_ulong(xen_ulong_t *w, unsigned bit)
{
    xen_ulong_t m = (xen_ulong_t)1 << bit;
    return __atomic_fetch_or(w, m, __ATOMIC_SEQ_CST) & m;
}
static inline bool xs_test_and_clear_ulong(xen_ulong_t *w, unsigned bit)
{
    xen_ulong_t m = (xen_ulong_t)1 << bit;
    return __atomic_fetch_and(w, ~m, __ATOMIC_SEQ_CST) & m;
}
static inline bool xs_test_ulong(const xen_ulong_t *w, unsigned bit)
{
    return (__atomic_load_n(w, __ATOMIC_SEQ_CST) >> bit) & 1;
}
static inline bool xs_test_and_set_u32(uint32_t *w, unsigned bit)
{
    uint32_t m = (uint32_t)1 << bit;
    return __atomic_fetch_or(w, m, __ATOMIC_SEQ_CST) & m;
}
static inline void xs_clear_u32(uint32_t *w, unsigned bit)
{
    __atomic_fetch_and(w, ~((uint32_t)1 << bit), __ATOMIC_SEQ_CST);
}
static inline bool xs_test_u32(const uint32_t *w, unsigned bit)
{
    return (__atomic_load_n(w, __ATOMIC_SEQ_CST) >> bit) & 1;
}
#endif
