/* One scenario run: domains from the scenario, the run loop, the verdict. */
#include <inttypes.h>
#include <limits.h>
#include <string.h>

#include "scenario_run.h"
#include "gnttab.h"
#include "sim.h"
#include "xenstore.h"

void xs_scenario_run(const struct xs_scenario *scn, const struct xs_scenario_run_opts *o,
                     struct xs_scenario_result *res)
{
    memset(res, 0, sizeof(*res));
    res->status = 2;
    struct xs_sim sim;
    struct xs_sim_config cfg = {.seed = o->seed,
                                .console_out = o->console,
                                .console_prefix = true,
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
    xs_sim_run(&sim);
    if (o->console) fflush(o->console);
    if (sim.stop_reason[0]) fprintf(o->report, "stopped: %s\n", sim.stop_reason);
    /* The checks domain destruction makes, now, so the verdict sees them. */
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
