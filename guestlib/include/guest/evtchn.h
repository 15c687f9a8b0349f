/* Event channels: binding ports to handlers, masking, and the upcall.
 *
 * The ABI (2-level or FIFO) is chosen at boot by cmdline evtchn=2l|fifo
 * (default 2l).  Functions returning long give a port number (>= 0) or a
 * negative Xen errno (-XEN_EINVAL ...), as the hypercall returned it.
 *
 * Handlers run in the upcall, on the CPU the port is bound to, with
 * interrupts off; the port's pending bit has been cleared (acknowledged)
 * before the handler is called, so an event raised while it runs is
 * delivered again afterwards. */
#ifndef GUEST_EVTCHN_H
#define GUEST_EVTCHN_H
#include <guest/xen.h>

typedef void (*evtchn_handler_t)(evtchn_port_t port, void *arg);

enum evtchn_abi { EVTCHN_ABI_2L, EVTCHN_ABI_FIFO };
/* How events reach the guest (cmdline callback=vector|percpu|legacy). */
enum evtchn_callback { CALLBACK_VECTOR, CALLBACK_PERCPU, CALLBACK_LEGACY };

#define UPCALL_VECTOR 0xf3 /* global and per-vCPU callback vector */
#define UPCALL_GSI    9    /* legacy mode: GSI 9 -> IDT vector 0x29 */
#define GSI_VECTOR(g) (0x20 + (g))

/* Boot CPU, once, before any port is bound: pick the ABI (FIFO control
 * blocks for every vCPU), mask every port, install the callback.  Needs
 * smp_init() to have allocated the per-CPU areas. */
void evtchn_init(void);
/* Every CPU, on itself, once its vcpu_info is registered and it has done
 * lidt: per-vCPU upcall vector (callback=percpu), and open the way for
 * upcalls (virtual IF on in irq=pv mode). */
void evtchn_cpu_init(void);

long evtchn_bind_virq(unsigned virq, unsigned cpu, evtchn_handler_t fn, void *arg);
long evtchn_bind_ipi(unsigned cpu, evtchn_handler_t fn, void *arg);
long evtchn_alloc_unbound(domid_t remote, evtchn_handler_t fn, void *arg);
long evtchn_bind_interdomain(domid_t remote, evtchn_port_t remote_port,
                             evtchn_handler_t fn, void *arg);
/* A handler for a port the toolstack allocated for us and named in an HVM
 * param (the store and console ports: unbound, remote Dom0), used as it
 * is, as Linux does; delivered to cpu (EVTCHNOP_bind_vcpu unless 0).
 * -XEN_EEXIST if the port has a handler already. */
long evtchn_bind_existing(evtchn_port_t port, unsigned cpu, evtchn_handler_t fn,
                          void *arg);
/* Move delivery of port to cpu (EVTCHNOP_bind_vcpu) and its ownership. */
long evtchn_bind_vcpu(evtchn_port_t port, unsigned cpu);
/* Mask, close and forget the handler. */
long evtchn_close(evtchn_port_t port);
long evtchn_send(evtchn_port_t port);
/* FIFO only (2-level: -XEN_ENOSYS from Xen). */
long evtchn_set_priority(evtchn_port_t port, unsigned priority);

void evtchn_mask(evtchn_port_t port);
void evtchn_unmask(evtchn_port_t port);
void evtchn_clear(evtchn_port_t port);
bool evtchn_is_pending(evtchn_port_t port);
bool evtchn_is_masked(evtchn_port_t port);

enum evtchn_abi evtchn_abi(void);
const char *evtchn_abi_name(void);
enum evtchn_callback evtchn_callback_mode(void);
const char *evtchn_callback_name(void);
unsigned evtchn_max_ports(void); /* 4096 or 131072 */
unsigned evtchn_nr_bound(void);  /* ports bound through this API */
bool evtchn_ready(void);         /* evtchn_init() has run */

/* FIFO only: add one page (1024 ports) to the event array; 0 or Xen's
 * errno.  And how many ports the array covers now. */
long evtchn_fifo_expand(void);
unsigned evtchn_fifo_array_ports(void);

/* Called from arch/x86/upcall.S with interrupts off. */
void evtchn_upcall(void);
/* Handle this CPU's pending events from thread context (interrupts are
 * disabled around the scan).  CPUs that never take an upcall (APs with
 * callback=legacy) call it from their idle loop. */
void evtchn_poll(void);
/* Whether this CPU takes upcalls (false: it must poll). */
bool evtchn_cpu_has_upcall(void);
#endif
