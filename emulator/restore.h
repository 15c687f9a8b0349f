/* xl restore: a new domain built from a saved image file (a libxc migration
 * stream written by `xensim save` or a scenario's `save`), in this process
 * (docs/migration.md). */
#ifndef XS_RESTORE_H
#define XS_RESTORE_H
#include <stddef.h>

#include "migstream_image.h"
#include "sim.h"

/* Read PATH (every record checked), then build the domain as
 * xs_domain_image_restore does: the next domid, fresh event channels and
 * grant table, memory at the same guest-physical addresses and direct-map
 * base, its devices recreated, the suspending vCPU returning 0; never the
 * domid it was saved with (the next one is skipped if it is).  name, if
 * not NULL, renames it (as a new xl config would).  st, if not NULL, gets
 * the saving run's seed and scheduler state.  The new domain, or NULL with
 * the reason in err (a bad record named by type, index and offset); the
 * file is only read. */
struct xs_domain *xs_restore_file(struct xs_sim *sim, const char *path, const char *name,
                                  struct xs_ms_sim_state *st, char *err, size_t errlen);
/* The same from an image already read (xs_ms_load_fd: a stream from a
 * pipe, read once); from names it in messages.  img stays the caller's. */
struct xs_domain *xs_restore_image(struct xs_sim *sim, const struct xs_domain_image *img,
                                   const char *name, const char *from, char *err,
                                   size_t errlen);
/* A restored domain's RAM must go at the address-space slot it was saved
 * from.  A hold keeps that slot from other domains created before it (the
 * domains of a scenario are created in order); release it just before the
 * restore.  Holding what cannot be held (no such file, a slot in use) does
 * nothing: the restore then reports the problem. */
struct xs_restore_hold {
    void *base;
};
void xs_restore_hold(const char *path, struct xs_restore_hold *h);
void xs_restore_release(struct xs_restore_hold *h);
#endif
