/* One scenario run: domains from the scenario, the run loop, the verdict. */
#include <inttypes.h>
#include <limits.h>
#include <string.h>

#include "scenario_run.h"
#include "blkback.h"
#include "console_sim.h"
#include "gnttab.h"
#include "migrate.h"
#include "netback.h"
#include "pvdev.h"
#include "restore.h"
#include "save.h"
#include "sim.h"
#include "suspend.h"
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

/* restore NAME file=PATH: the domain from a saved image, in its place in
 * the declaration order (so ${domid:NAME} holds for it too). */
static int restore_domain(struct xs_sim *sim, const struct xs_scenario *scn, unsigned i,
                          const struct xs_domain_image *preloaded, char *err,
                          size_t errlen)
{
    const struct xs_scn_domain *sd = &scn->domains[i];
    char path[PATH_MAX];
    struct xs_domain *d;
    if (!strcmp(sd->restore, "-") && preloaded) {
        d = xs_restore_image(sim, preloaded, sd->name, "the stream", err, errlen);
    } else if (xs_scenario_file_path(scn, sd->restore, path, sizeof(path))) {
        snprintf(err, errlen, "restore %s: file path is too long", sd->name);
        return -1;
    } else {
        d = xs_restore_file(sim, path, sd->name, NULL, err, errlen);
    }
    if (d && d->index != i) { /* cannot happen: domains are made in order */
        snprintf(err, errlen, "restore %s: landed at index %u", sd->name, d->index);
        return -1;
    }
    return d ? 0 : -1;
}

/* A nic of the scenario, as xl network-attach adds it. */
static struct xs_pvdev *nic_add(struct xs_sim *sim, const struct xs_scenario *scn,
                                unsigned i, char *err, size_t errlen)
{
    const struct xs_scn_nic *nc = &scn->nics[i];
    char pcap[PATH_MAX];
    if (xs_scenario_nic_pcap_path(scn, i, pcap, sizeof(pcap))) {
        snprintf(err, errlen, "nic pcap path is too long");
        return NULL;
    }
    struct xs_netback_cfg cfg = {.bridge = nc->sw[0] ? nc->sw : NULL,
                                 .mac_set = nc->mac_set,
                                 .pcap = pcap[0] ? pcap : NULL,
                                 .max_queues = nc->queues,
                                 .freeze_suspended = nc->freeze};
    memcpy(cfg.mac, nc->mac, sizeof(cfg.mac));
    return xs_pvdev_add(sim, "vif", sim->domains[nc->domain], nc->id, &cfg, err, errlen);
}

static void nic_attach(struct xs_sim *sim, void *arg)
{
    const struct hotplug *h = arg;
    char err[768];
    if (!nic_add(sim, h->scn, h->disk, err, sizeof(err)))
        xs_log(sim, "xensim: %s:%d: hot-plug failed: %s", h->scn->path,
               h->scn->nics[h->disk].line, err);
}

static void nic_detach(struct xs_sim *sim, void *arg)
{
    const struct hotplug *h = arg;
    const struct xs_scn_nic *nc = &h->scn->nics[h->disk];
    struct xs_pvdev *dev = xs_pvdev_find(sim, sim->domains[nc->domain], "vif", nc->id);
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
    /* Slots restored domains need are kept from the domains before them. */
    struct xs_restore_hold holds[XS_SCN_MAX_DOMAINS] = {{0}};
    for (unsigned i = 0; i < scn->nr_domains; i++) {
        char path[PATH_MAX];
        if (scn->domains[i].restore[0] && strcmp(scn->domains[i].restore, "-") &&
            !xs_scenario_file_path(scn, scn->domains[i].restore, path, sizeof(path)))
            xs_restore_hold(path, &holds[i]);
    }
    for (unsigned i = 0; i < scn->nr_domains; i++) {
        const struct xs_scn_domain *sd = &scn->domains[i];
        char path[PATH_MAX], err[768] = "";
        if (sd->restore[0]) {
            xs_restore_release(&holds[i]);
            if (!restore_domain(&sim, scn, i, o->restore_image, err, sizeof(err)))
                continue;
            for (unsigned k = i; k < scn->nr_domains; k++)
                xs_restore_release(&holds[k]);
            snprintf(res->err, sizeof(res->err), "%.200s:%d: %s", scn->path, sd->line,
                     err);
            xs_sim_destroy(&sim);
            return;
        }
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
            for (unsigned k = i; k < scn->nr_domains; k++)
                xs_restore_release(&holds[k]);
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
    /* Nics, served by netback on xensim's switches, the same way (the
     * hotplug index names the nic). */
    struct hotplug nhp[XS_SCN_MAX_NICS];
    for (unsigned i = 0; i < scn->nr_nics && i < XS_SCN_MAX_NICS; i++) {
        const struct xs_scn_nic *nc = &scn->nics[i];
        char err[768] = "";
        nhp[i] = (struct hotplug){scn, i};
        if (nc->attach_ns ? xs_pvdev_at(&sim, nc->attach_ns, nic_attach, &nhp[i])
                          : !nic_add(&sim, scn, i, err, sizeof(err))) {
            if (!err[0]) snprintf(err, sizeof(err), "out of memory");
        } else if (nc->detach_ns &&
                   xs_pvdev_at(&sim, nc->detach_ns, nic_detach, &nhp[i])) {
            snprintf(err, sizeof(err), "out of memory");
        }
        if (err[0]) {
            snprintf(res->err, sizeof(res->err), "%.200s:%d: %s", scn->path, nc->line,
                     err);
            xs_sim_destroy(&sim);
            return;
        }
    }
    /* The toolstack's suspend requests, at their times (suspend.c). */
    for (unsigned i = 0; i < scn->nr_suspends; i++) {
        const struct xs_scn_suspend *sp = &scn->suspends[i];
        if (xs_suspend_at(&sim, sp->domain, sp->at_ns, sp->cancel, sp->timeout_ns)) {
            snprintf(res->err, sizeof(res->err), "%.200s:%d: out of memory", scn->path,
                     sp->line);
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
    /* The toolstack's saves, at their times (save.c): each request lives
     * until the simulation is gone. */
    struct xs_save_req *saves = calloc(scn->nr_saves ? scn->nr_saves : 1, sizeof(*saves));
    for (unsigned i = 0; saves && i < scn->nr_saves; i++) {
        const struct xs_scn_save *sv = &scn->saves[i];
        char path[PATH_MAX];
        if (xs_scenario_file_path(scn, sv->file, path, sizeof(path)) ||
            xs_save_at(&sim, &saves[i], sv->domain, sv->at_ns, sv->timeout_ns, path)) {
            snprintf(res->err, sizeof(res->err),
                     "%.200s:%d: save: path too long or out of memory", scn->path,
                     sv->line);
            xs_sim_destroy(&sim);
            free(saves);
            return;
        }
    }
    if (!saves) {
        snprintf(res->err, sizeof(res->err), "out of memory");
        xs_sim_destroy(&sim);
        return;
    }
    /* Live migrations, at their times (migrate.c). */
    for (unsigned i = 0; i < scn->nr_migrates; i++) {
        const struct xs_scn_migrate *mg = &scn->migrates[i];
        char file[PATH_MAX], log[PATH_MAX], where[PATH_MAX];
        bool stdout_file = mg->send_only && !strcmp(mg->file, "-");
        int bad = (mg->file[0] && !stdout_file &&
                   xs_scenario_file_path(scn, mg->file, file, sizeof(file))) ||
                  (mg->log[0] && xs_scenario_file_path(scn, mg->log, log, sizeof(log)));
        snprintf(where, sizeof(where), "%.200s:%d", scn->path, mg->line);
        struct xs_migrate_cfg mc = {.dom_index = mg->domain,
                                    .at_ns = mg->at_ns,
                                    .max_rounds = mg->rounds,
                                    .threshold = mg->threshold,
                                    .bandwidth = mg->bandwidth,
                                    .timeout_ns = mg->timeout_ns,
                                    .file = stdout_file   ? "-"
                                            : mg->file[0] ? file
                                                          : NULL,
                                    .send_only = mg->send_only,
                                    .cut_bytes = mg->cut,
                                    .log_path = mg->log[0] ? log : NULL,
                                    .where = where};
        if (bad || xs_migrate_at(&sim, &mc)) {
            snprintf(res->err, sizeof(res->err),
                     "%.200s:%d: migrate: path too long or out of memory", scn->path,
                     mg->line);
            xs_sim_destroy(&sim);
            free(saves);
            return;
        }
    }
    xs_sim_run(&sim);
    xs_migrate_sim_report(&sim, o->migrate_log);
    for (unsigned i = 0; i < scn->nr_saves; i++) {
        if (saves[i].ok)
            res->saves_ok++;
        else
            res->saves_failed++;
        if (!saves[i].done && sim.vtime_ns < scn->saves[i].at_ns)
            xs_log(&sim,
                   "xensim: %.200s:%d: save of %s at %" PRIu64
                   " ns: the run was over at %" PRIu64 " ns",
                   scn->path, scn->saves[i].line, scn->domains[scn->saves[i].domain].name,
                   scn->saves[i].at_ns, sim.vtime_ns);
    }
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
        out[i] = (struct xs_domain_outcome){
            .console = d->console,
            .console_len = d->console_len,
            .end_state = d->end_state,
            .reports = d->reports,
            .reports_len = d->reports_len,
            .suspends = {d->suspends_resumed, d->suspends_cancelled, d->suspends_failed}};
        xs_migrate_outcome(&sim, i, &out[i].migrates[0], &out[i].migrates[1],
                           &out[i].max_downtime_ns);
        res->migrates_ok += out[i].migrates[0];
        res->migrates_failed += out[i].migrates[1];
    }
    int failed = xs_scenario_check(scn, out, o->report);
    res->status = failed == 0 ? 0 : 1;
    res->trace_hash = sim.trace.hash;
    res->vtime_ns = sim.vtime_ns;
    res->exits = sim.nr_exits;
    fprintf(o->report, "result: %s trace-hash=%016" PRIx64 " vtime-ns=%" PRIu64 "\n",
            res->status == 0 ? "pass" : "fail", res->trace_hash, res->vtime_ns);
    xs_sim_destroy(&sim);
    free(saves);
}
