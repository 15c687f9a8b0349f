/* The PV console frontend: the ring page (struct xencons_interface from
 * Xen's <xen/io/console.h>) and event channel the toolstack named in
 * HVM_PARAM_CONSOLE_PFN / HVM_PARAM_CONSOLE_EVTCHN, as Linux's hvc_xen uses
 * them.
 *
 * Output: once xencons_init() found a ring, console_write() (so printk)
 * goes to it; lines printed before stay where they went (console_io).  A
 * full ring is waited on (notify, yield).  cmdline console=xen keeps
 * output on console_io (Xen's debug console); anything else, or nothing,
 * means the ring.  panic() switches back to console_io for good.
 *
 * Input: xencons_read() takes what has arrived without waiting;
 * xencons_getline() waits for a whole line.  Once event channels are up
 * (evtchn_init), the first use of either binds a handler to the console
 * port on CPU 0 that moves input off the ring as it comes; before that
 * they read the ring themselves and wait with SCHEDOP_poll on the port. */
#ifndef GUEST_XENCONS_H
#define GUEST_XENCONS_H
#include <guest/xen.h>

/* Boot CPU, once the hypercall page and shared_info are set up. */
void xencons_init(void);
/* A ring was found (input is possible). */
bool xencons_connected(void);
/* printk output goes to the ring. */
bool xencons_active(void);
/* Onto the ring, waiting for room.  Returns how many bytes went there:
 * fewer than len once the ring cannot be used (broken indexes, a backend
 * that never makes room), and the caller sends the rest to console_io, as
 * console_write() does. */
size_t xencons_write(const char *s, size_t len);
/* Up to len bytes of input that arrived, without waiting: the count (0 if
 * none), or -XEN_ENODEV without a ring, -XEN_EIO once its input indexes
 * were found broken. */
long xencons_read(char *buf, size_t len);
/* Wait for a line of input: it is stored NUL-terminated without its '\n'
 * (and a '\r' before it); returns its length.  A line longer than len - 1
 * bytes comes back in pieces.  Errors as xencons_read. */
long xencons_getline(char *buf, size_t len);
/* Output back to console_io for good, once the ring's last bytes went to
 * the backend (a bounded wait, no lock: the writer may be this CPU).
 * panic() calls it; so may code that no longer trusts the ring. */
void xencons_use_console_io(void);
void xencons_panic(void);

struct xencons_stats {
    uint64_t out_bytes, in_bytes;
    uint64_t full_waits; /* writes that found the ring full */
    uint64_t events;     /* console port events handled */
};
const struct xencons_stats *xencons_stats(void);
#endif
