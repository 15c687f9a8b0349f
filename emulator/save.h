/* xl save: the toolstack suspends a domain and writes it to a file as a
 * libxc migration stream (docs/migration.md).  Once the file is complete
 * the domain ends (end state "suspend", as xl save destroys it); if the
 * file cannot be written the suspend is cancelled (SCHEDOP_shutdown returns
 * 1) and the guest runs on, nothing lost. */
#ifndef XS_SAVE_H
#define XS_SAVE_H
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "sim.h"

/* One save; the caller owns it and keeps it until the run is over. */
struct xs_save_req {
    char path[PATH_MAX];
    bool done; /* the domain suspended and the save was tried */
    bool ok;   /* ... and the file is complete */
    char err[768];
};

/* At at_ns ask the domain at dom_index of sim->domains to suspend (giving
 * up after timeout_ns, 0: the default) and save it to path.  0, or -1 when
 * out of memory or path is too long. */
int xs_save_at(struct xs_sim *sim, struct xs_save_req *req, unsigned dom_index,
               uint64_t at_ns, uint64_t timeout_ns, const char *path);
#endif
