/* The PV console in a simulation: xensim plays xl and xenconsoled for every
 * domain (docs/console.md).  The ring page is special page 7 of the top 8
 * (Xen's SPECIALPAGE_CONSOLE), named in HVM_PARAM_CONSOLE_PFN with an
 * unbound port for Dom0 in HVM_PARAM_CONSOLE_EVTCHN; what the guest writes
 * there joins its console as console_io output does, and queued input
 * (scenario `input`, `xensim boot`'s stdin) goes to in[]. */
#ifndef XS_CONSOLE_SIM_H
#define XS_CONSOLE_SIM_H
#include <stddef.h>
#include <stdint.h>

#include "console_ring.h"

struct xs_sim;
struct xs_domain;

/* Domain life cycle (domain.c).  created: right after the store's set-up,
 * so the console port is the one after the store port, and like it only
 * in a simulation with a toolstack (xs_xenstore_attach: run and boot);
 * -1 and err when out of memory.  ended: xenconsoled reads what the guest left on the
 * ring.  destroyed: before the store's clean-up. */
int xs_console_domain_created(struct xs_domain *d, char *err, size_t errlen);
void xs_console_domain_ended(struct xs_domain *d);
void xs_console_domain_destroyed(struct xs_domain *d);

/* The run loop, every iteration: each running domain's ring (two index
 * reads when idle) and input.  When nothing could run and a domain waits
 * for input from a terminal or pipe, it waits for that input. */
void xs_console_sim_poll(struct xs_sim *sim);
/* After the run loop: output written since the last poll. */
void xs_console_sim_flush(struct xs_sim *sim);

/* Queue input for d's console (0, or -1 when too much waits already). */
int xs_console_input(struct xs_domain *d, const void *buf, size_t len);
/* Feed d's console from fd as `xl console` does (xensim boot's stdin):
 * read when it has data and little input waits; end of file stops it.
 * The fd stays open (the caller owns it). */
void xs_console_attach_fd(struct xs_domain *d, int fd);
/* The fd a domain waits on for input, or -1: the store's wait for socket
 * clients watches it too (xenstore_sim.c). */
int xs_console_input_fd(struct xs_sim *sim);

/* Input a domain had not yet received, kept across its resume in a new
 * domain (suspend.c): save takes it (and the fd feeding it) from d;
 * restore queues it for d (NULL: drop it) and frees the copy. */
struct xs_console_pending {
    char *buf;
    size_t len;
    int fd;
};
void xs_console_save_input(struct xs_domain *d, struct xs_console_pending *p);
void xs_console_restore_input(struct xs_domain *d, struct xs_console_pending *p);

/* Guest frame of the ring page, and the engine (tests). */
uint64_t xs_console_ring_pfn(const struct xs_domain *d);
const struct xs_conring *xs_console_ring(const struct xs_domain *d);
#endif
