/* Private to the event channel code: what the 2-level (evtchn_2l.c) and
 * FIFO (evtchn_fifo.c) ABIs each provide to the core (evtchn.c). */
#ifndef GUEST_EVTCHN_ABI_H
#define GUEST_EVTCHN_ABI_H
#include <guest/evtchn.h>
#include <guest/percpu.h>

struct evtchn_ops {
    const char *name;
    unsigned max_ports;
    /* Boot CPU, before any port is bound: switch to this ABI for every
     * vCPU; 0 or a negative Xen errno. */
    long (*init)(void);
    /* A port was just bound: make sure the ABI can carry it (FIFO: event
     * array pages).  0 or a negative Xen errno. */
    long (*setup_port)(evtchn_port_t port);
    void (*mask)(evtchn_port_t port);
    void (*unmask)(evtchn_port_t port);
    void (*clear)(evtchn_port_t port);
    bool (*is_pending)(evtchn_port_t port);
    bool (*is_masked)(evtchn_port_t port);
    /* Ownership bookkeeping when a port is bound to / leaves a CPU. */
    void (*own)(struct percpu *pc, evtchn_port_t port, bool owned);
    /* Find and dispatch this CPU's pending events (interrupts off). */
    void (*scan)(struct percpu *pc);
    /* After a resume in a new domain (which starts 2-level with nothing
     * bound): this ABI again for every vCPU, every port masked.  0 or a
     * negative Xen errno. */
    long (*resume)(void);
};

extern const struct evtchn_ops evtchn_ops_2l;
extern const struct evtchn_ops evtchn_ops_fifo;

/* The core's per-event step, called by the scans: acknowledge (clear the
 * pending bit) and run the port's handler. */
void evtchn_dispatch(struct percpu *pc, evtchn_port_t port);
/* Bumped by a resume in a new domain.  A handler can be where a CPU stops
 * for a suspend (the CALL IPI): a scan that finds it changed after a
 * dispatch drops what it had read, which named the old domain's ports. */
uint32_t evtchn_generation(void);

/* Atomic bit operations on Xen's shared words. */
static inline bool xen_test_bit(unsigned nr, const volatile xen_ulong_t *w)
{
    return (__atomic_load_n(&w[nr / 64], __ATOMIC_SEQ_CST) >> (nr % 64)) & 1;
}
static inline void xen_set_bit(unsigned nr, volatile xen_ulong_t *w)
{
    __atomic_fetch_or(&w[nr / 64], (xen_ulong_t)1 << (nr % 64), __ATOMIC_SEQ_CST);
}
static inline void xen_clear_bit(unsigned nr, volatile xen_ulong_t *w)
{
    __atomic_fetch_and(&w[nr / 64], ~((xen_ulong_t)1 << (nr % 64)), __ATOMIC_SEQ_CST);
}
#endif
