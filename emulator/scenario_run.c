/* One scenario run: domains from the scenario, the run loop, the verdict. */
#include <inttypes.h>
#include <limits.h>
#include <string.h>

#include "scenario_run.h"
#include "blkback.h"
#include "console_sim.h"
#include "gnttab.h"
#include "pvdev.h"
#include "sim.h"
#include "xenstore.h"

/* A disk of the scenario, as xl block-attach adds it. */
static struct xs_pvdev *disk_add(struct xs_sim *sim, const struct xs_scenario *scn,
                                 unsigned i, char *err, size_t errlen)
{
    const struct xs_scn_disk *dk = &scn->disks[i];
    char path[PATH_MAX];
    struct xs_blkback_cfg bc = {.path = dk->path[0] ? path : NULL,
                                .size_mib = dk->size_mib,
                                .readonly = dk->readonly,
                                .rogue = (enum xs_blkback_rogue)dk->rogue};
    if (xs_scenario_disk_path(scn, i, path, sizeof(path))) {
        snprintf(err, errlen, "disk path is too long");
        return NULL;
    }
    return xs_pvdev_add(sim, "vbd", sim->domains[dk->domain], dk->id, &bc, err, errlen);
}

/* Hot-plug and hot-unplug at a disk's attach= and detach= times. */
struct hotplug {
    const struct xs_scenario *scn;
    unsigned disk;
};

static void hot_attach(struct xs_sim *sim, void *arg)
{
    const struct hotplug *h = arg;
    char err[768];
    if (!disk_add(sim, h->scn, h->disk, err, sizeof(err)))
        xs_log(sim, "xensim: %s:%d: hot-plug failed: %s", h->scn->path,
               h->scn->disks[h->disk].line, err);
}

static void hot_detach(struct xs_sim *sim, void *arg)
{
    const struct hotplug *h = arg;
    const struct xs_scn_disk *dk = &h->scn->disks[h->disk];
    struct xs_pvdev *dev = xs_pvdev_find(sim, sim->domains[dk->domain], "vbd", dk->id);
    if (dev) xs_pvdev_unplug(dev);
}

void xs_scenario_run(const struct xs_scenario *scn, const struct xs_scenario_run_opts *o,
                     struct xs_scenario_result *res)
{
    memset(res, 0, sizeof(*res));
    res->status = 2;
    struct xs_sim sim;
    struct xs_sim_config cfg = {.seed = o->seed,
                                .console_out = o->console,
                                .console_prefix = true,
                                .console_log = o->console_log,
                                .log = o->log,
                                .trace_path = o->trace_path,
                                .vtime_limit_ns = scn->vtime_limit_ns,
                                .exit_limit = scn->exit_limit};
    if (xs_sim_init(&sim, &cfg, res->err, sizeof(res->err))) return;
    if (xs_xenstore_attach(&sim, o->xenstore_socket, res->err, sizeof(res->err))) {
        xs_sim_destroy(&sim);
        return;
    }
    for (unsigned i = 0; i < scn->nr_domains; i++) {
        const struct xs_scn_domain *sd = &scn->domains[i];
        char path[PATH_MAX], err[768] = "";
        if (xs_scenario_image_path(scn, i, o->guest_dir, path, sizeof(path)) ||
            !xs_domain_create(&sim,
                              &(struct xs_domain_config){.name = sd->name,
                                                         .image_path = path,
                                                         .memory_mib = sd->memory_mib,
                                                         .vcpus = sd->vcpus,
                                                         .cmdline = sd->cmdline,
                                                         .hypercalls = sd->hypercalls},
                              err, sizeof(err))) {
            if (!err[0])
                snprintf(err, sizeof(err), "image path for %s is too long", sd->name);
            snprintf(res->err, sizeof(res->err), "%.200s:%d: %s", scn->path, sd->line,
                     err);
            xs_sim_destroy(&sim);
            return;
        }
    }
    for (unsigned i = 0; i < scn->nr_devices; i++) {
        const struct xs_scn_device *dv = &scn->devices[i];
        char err[512];
        if (xs_xenstore_add_device(&sim, dv->devclass, sim.domains[dv->frontend]->domid,
                                   sim.domains[dv->backend]->domid, dv->id, err,
                                   sizeof(err))) {
            snprintf(res->err, sizeof(res->err), "%.200s:%d: %s", scn->path, dv->line,
                     err);
            xs_sim_destroy(&sim);
            return;
        }
    }
    /* Disks, served by xensim's blkback: there before the domains run, or
     * hot-plugged and unplugged at their times. */
    struct hotplug hp[XS_SCN_MAX_DISKS];
    for (unsigned i = 0; i < scn->nr_disks && i < XS_SCN_MAX_DISKS; i++) {
        const struct xs_scn_disk *dk = &scn->disks[i];
        char err[768] = "";
        hp[i] = (struct hotplug){scn, i};
        if (dk->attach_ns ? xs_pvdev_at(&sim, dk->attach_ns, hot_attach, &hp[i])
                          : !disk_add(&sim, scn, i, err, sizeof(err))) {
            if (!err[0]) snprintf(err, sizeof(err), "out of memory");
        } else if (dk->detach_ns &&
                   xs_pvdev_at(&sim, dk->detach_ns, hot_detach, &hp[i])) {
            snprintf(err, sizeof(err), "out of memory");
        }
        if (err[0]) {
            snprintf(res->err, sizeof(res->err), "%.200s:%d: %s", scn->path, dk->line,
                     err);
            xs_sim_destroy(&sim);
            return;
        }
    }
    /* Input is queued before the run: the ring exists from boot. */
    for (unsigned i = 0; i < scn->nr_inputs; i++) {
        const struct xs_scn_input *in = &scn->inputs[i];
        if (xs_console_input(sim.domains[in->domain], in->text, in->len)) {
            snprintf(res->err, sizeof(res->err),
                     "%.200s:%d: input: too much input for %s", scn->path, in->line,
                     sim.domains[in->domain]->name);
            xs_sim_destroy(&sim);
            return;
        }
    }
    xs_sim_run(&sim);
    if (o->console) fflush(o->console);
    if (sim.stop_reason[0]) fprintf(o->report, "stopped: %s\n", sim.stop_reason);
    /* The checks domain destruction makes, now, so the verdict sees them;
     * xl destroy takes the backends down first. */
    xs_pvdev_teardown_all(&sim);
    for (unsigned i = 0; i < sim.nr_domains; i++)
        xs_gnttab_final_check(sim.domains[i]);
    struct xs_domain_outcome out[XS_SCN_MAX_DOMAINS];
    for (unsigned i = 0; i < sim.nr_domains; i++) {
        const struct xs_domain *d = sim.domains[i];
        out[i] = (struct xs_domain_outcome){.console = d->console,
                                            .console_len = d->console_len,
                                            .end_state = d->end_state,
                                            .reports = d->reports,
                                            .reports_len = d->reports_len};
    }
    int failed = xs_scenario_check(scn, out, o->report);
    res->status = failed == 0 ? 0 : 1;
    res->trace_hash = sim.trace.hash;
    res->vtime_ns = sim.vtime_ns;
    res->exits = sim.nr_exits;
    fprintf(o->report, "result: %s trace-hash=%016" PRIx64 " vtime-ns=%" PRIu64 "\n",
            res->status == 0 ? "pass" : "fail", res->trace_hash, res->vtime_ns);
    xs_sim_destroy(&sim);
}
