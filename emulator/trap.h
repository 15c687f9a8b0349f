/* Catching the guest's trapped instructions and faults (host signals). */
#ifndef XS_TRAP_H
#define XS_TRAP_H
/* Install the process's handlers (once) and a signal stack for this thread.
 * Returns the stack it allocated (to free with xs_trap_thread_fini) or NULL
 * when the thread already had one. */
void *xs_trap_thread_init(void);
void xs_trap_thread_fini(void *altstack);
#endif
