/* The control driver: the toolstack's requests in control/shutdown
 * ("suspend", "poweroff", "reboot", "halt"), and suspend/resume as
 * FreeBSD's xctrl_suspend and Linux's xen_suspend do it (docs/suspend.md):
 *
 *   quiesce     xenstore: no new requests, the ones on the ring answered
 *               (an open transaction does not hold it up: after a real
 *               resume it ends with -XEN_EAGAIN and is run again)
 *   acknowledge control/shutdown = ""
 *   suspend     every registered driver's suspend hook, in reverse order
 *   stop APs    each other online CPU parks itself (VCPUOP_down, from an
 *               IPI) and the caller waits until it is down
 *   suspend     SCHEDOP_shutdown(SHUTDOWN_suspend): 1 = cancelled (same
 *               domain), 0 = resumed in a new domain
 *   real resume hypercall page, shared_info, every CPU's vcpu_info, then
 *               the registered resume hooks in order: event channels (ABI
 *               and callback), grant table, every CPU's VIRQ_TIMER and
 *               IPIs rebound, console, APs up (each re-arms its timer),
 *               xenstore (new port, every watch sent again), devices
 *               (frontends reconnect and re-issue what was in flight), one
 *               broadcast of every IPI (those pending at suspend were lost)
 *   cancel      APs up, the hooks' cancel in order (devices connected again)
 *
 * Drivers register hooks with an order; resume and cancel run in ascending
 * order, suspend in descending.  Hooks from CONTROL_ORDER_LATE up run with
 * interrupts on and every CPU up (suspend: before the APs stop; resume and
 * cancel: after they are back).  Lower orders run on the suspending CPU
 * alone with interrupts off (suspend: right before SCHEDOP_shutdown;
 * resume and cancel: right after it, before the APs come back). */
#ifndef GUEST_CONTROL_H
#define GUEST_CONTROL_H
#include <guest/xen.h>

struct percpu;

/* The kernel's own orders; an app's hooks go after the devices. */
enum control_order {
    CONTROL_ORDER_EVTCHN = 10,
    CONTROL_ORDER_GNTTAB = 20,
    CONTROL_ORDER_TIMER = 30,
    CONTROL_ORDER_IPI = 40,
    CONTROL_ORDER_CONSOLE = 50,
    CONTROL_ORDER_BLKFRONT_FREEZE = 60, /* stops taking responses */
    CONTROL_ORDER_NETFRONT_FREEZE = 61,
    CONTROL_ORDER_LATE = 100, /* from here on: interrupts on, APs up */
    CONTROL_ORDER_XENSTORE = 100,
    CONTROL_ORDER_BLKFRONT = 200,
    CONTROL_ORDER_NETFRONT = 210,
    CONTROL_ORDER_APP = 300,
};

struct control_hook {
    const char *name;
    int order;
    /* Before the domain suspends: 0 to go on, or an errno to abort the
     * suspend (the hooks already run get cancel). */
    long (*suspend)(void *arg);
    /* After a real resume in a new domain / a cancelled suspend. */
    void (*resume)(void *arg);
    void (*cancel)(void *arg);
    void *arg;
    /* private */
    bool registered;
};

/* Add h to the registry (once; a hook registered again is ignored).  Equal
 * orders run in registration order.  -XEN_ENOSPC when full. */
long control_register(struct control_hook *h);

/* Watch control/shutdown and advertise feature-suspend (and the others).
 * Boot CPU, after xenstore_init. */
long control_init(void);

/* Run the suspend sequence now, on this CPU (the watch does it when the
 * toolstack writes "suspend").  Thread context, interrupts on, not inside
 * a xenstore request of this CPU that waits for its reply.  Returns 0
 * after a real resume, 1 after a cancelled suspend, or an errno if it was
 * aborted before SCHEDOP_shutdown. */
long control_suspend(void);

/* Called by a driver's resume hook: is this a resume in a new domain
 * (false after a cancel)?  And how many real resumes / cancels so far. */
struct control_stats {
    uint64_t requests;         /* "suspend" requests seen */
    uint64_t resumes, cancels; /* SCHEDOP_shutdown returned 0 / 1 */
    uint64_t aborted;          /* suspends a hook or an AP refused */
    uint64_t last_downtime_ns; /* pvclock from before the call to after it */
};
const struct control_stats *control_stats(void);

/* For ipi.c: a CPU asked to park takes itself down in its CALL IPI (or its
 * idle loop), and comes back through here when brought up again. */
bool control_park_requested(struct percpu *pc);
void control_park(struct percpu *pc);
#endif
