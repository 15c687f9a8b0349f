/* xl save into a file (save.h): suspend through the toolstack's request
 * (suspend.c), capture (domain_image.c), write the stream (migstream_save.c),
 * then end the domain, or cancel the suspend if the file could not be
 * written. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "domain_image.h"
#include "migstream_image.h"
#include "save.h"
#include "suspend.h"

static void save_suspended(struct xs_domain *d, void *arg)
{
    struct xs_save_req *req = arg;
    struct xs_sim *sim = d->sim;
    struct xs_domain_image img;
    struct xs_ms_sim_state st = {.seed = sim->cfg.seed,
                                 .prng = sim->prng,
                                 .exits = sim->nr_exits,
                                 .present = true};
    req->done = true;
    if (!xs_domain_image_capture(d, &img, req->err, sizeof(req->err)))
        req->ok = !xs_ms_save_file(req->path, &img, &st, req->err, sizeof(req->err));
    uint64_t ram = img.ram_bytes;
    xs_domain_image_free(&img);
    if (!req->ok) {
        char cerr[256];
        xs_log(sim, "xensim: save of %s (d%u) failed: %s", d->name, d->domid, req->err);
        if (xs_suspend_cancel(d, cerr, sizeof(cerr)))
            xs_log(sim, "xensim: and the suspend cannot be cancelled: %s", cerr);
        return;
    }
    struct stat sb;
    long long bytes = stat(req->path, &sb) == 0 ? (long long)sb.st_size : -1;
    xs_log(sim,
           "xensim: saved %s (d%u, %" PRIu64 " MiB) to %s: %lld bytes at vtime %" PRIu64
           " ns",
           d->name, d->domid, ram >> 20, req->path, bytes, sim->vtime_ns);
    xs_suspend_finish(d);
}

int xs_save_at(struct xs_sim *sim, struct xs_save_req *req, unsigned dom_index,
               uint64_t at_ns, uint64_t timeout_ns, const char *path)
{
    memset(req, 0, sizeof(*req));
    if (snprintf(req->path, sizeof(req->path), "%s", path) >= (int)sizeof(req->path))
        return -1;
    return xs_suspend_at_then(sim, dom_index, at_ns, timeout_ns, save_suspended, req);
}
