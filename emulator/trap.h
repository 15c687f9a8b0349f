/* Catching the guest's trapped instructions and faults (host signals). */
#ifndef XS_TRAP_H
#define XS_TRAP_H
#include <stdbool.h>
/* Install the process's handlers (once) and a signal stack for this thread.
 * Returns the stack it allocated (to free with xs_trap_thread_fini) or NULL
 * when the thread already had one. */
void *xs_trap_thread_init(void);
void xs_trap_thread_fini(void *altstack);

/* Watchdog: guest code runs natively, so a loop that never traps would never
 * give control back.  A profiling timer ticks every XS_WATCHDOG_TICK_US of
 * CPU time; a vCPU still inside guest code after XS_STUCK_TICKS ticks is
 * taken out and the run stops with a report.  Host time decides only when a
 * stuck run is stopped, never what a healthy run does. */
#define XS_WATCHDOG_TICK_US 250000
#define XS_STUCK_TICKS      8
void xs_watchdog_arm(bool on);
#endif
