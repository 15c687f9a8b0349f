/* xl restore from a file (restore.h): the stream read into an image
 * (migstream_load.c), then a new domain from the image (domain_image.c). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <xensim/abi.h>

#include "domain_image.h"
#include "restore.h"

struct xs_domain *xs_restore_file(struct xs_sim *sim, const char *path, const char *name,
                                  struct xs_ms_sim_state *st, char *err, size_t errlen)
{
    struct xs_domain_image img;
    if (xs_ms_load_file(path, &img, st, err, errlen)) {
        xs_domain_image_free(&img);
        return NULL;
    }
    struct xs_domain *d = xs_restore_image(sim, &img, name, path, err, errlen);
    xs_domain_image_free(&img);
    return d;
}

struct xs_domain *xs_restore_image(struct xs_sim *sim,
                                   const struct xs_domain_image *image, const char *name,
                                   const char *from, char *err, size_t errlen)
{
    struct xs_domain_image img = *image; /* shallow: only the name changes */
    domid_t saved_as = img.domid;
    if (name) snprintf(img.name, sizeof(img.name), "%s", name);
    /* A guest must not get its old domid back (one that cached it would go
     * unnoticed): when the next domid would be the saved one, skip it. */
    if ((domid_t)(sim->last_domid + 1) == saved_as) sim->last_domid = saved_as;
    char why[768];
    struct xs_domain *d = xs_domain_image_restore(sim, &img, why, sizeof(why));
    if (!d) {
        snprintf(err, errlen, "%s: %s", from, why);
        return NULL;
    }
    xs_log(sim,
           "xensim: restored %s as d%u from %s (saved as d%u at vtime %" PRIu64 " ns)",
           d->name, d->domid, from, saved_as, img.vtime_ns);
    return d;
}

void xs_restore_hold(const char *path, struct xs_restore_hold *h)
{
    uint64_t base;
    h->base = NULL;
    if (xs_ms_peek_base(path, &base) || base < XS_DIRECTMAP_BASE ||
        (base - XS_DIRECTMAP_BASE) % XS_SLOT_SIZE)
        return;
    /* Address space only, as domain.c claims a slot: nothing is backed. */
    void *want = (void *)(uintptr_t)base;
    void *got =
        mmap(want, XS_SLOT_SIZE, PROT_NONE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
    if (got == want)
        h->base = got;
    else if (got != MAP_FAILED)
        munmap(got, XS_SLOT_SIZE);
}

void xs_restore_release(struct xs_restore_hold *h)
{
    if (h->base) munmap(h->base, XS_SLOT_SIZE);
    h->base = NULL;
}
