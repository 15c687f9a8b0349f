/* The simulation and its run loop: a seeded scheduler picks among runnable
 * vCPUs at every VM exit; when nothing can run, virtual time jumps to the
 * next deadline, or the run stops and says why. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "console_sim.h"
#include "pvdev.h"
#include "sim.h"
#include "migrate.h"
#include "suspend.h"
#include "trap.h"
#include "vmentry.h"
#include "vtime.h"
#include "xenstore.h"

void xs_log(struct xs_sim *sim, const char *fmt, ...)
{
    FILE *out = sim->cfg.log ? sim->cfg.log : stderr;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(out, fmt, ap);
    va_end(ap);
    fputc('\n', out);
    fflush(out);
}

bool xs_sim_can_progress(const struct xs_sim *sim)
{
    if (sim->next_timer_ns != XS_NO_DEADLINE) return true;
    for (unsigned i = 0; i < sim->nr_domains; i++) {
        const struct xs_domain *d = sim->domains[i];
        for (unsigned j = 0; j < d->nr_vcpus; j++)
            if (d->vcpus[j].state == XS_VCPU_RUNNABLE) return true;
    }
    return false;
}

int xs_sim_init(struct xs_sim *sim, const struct xs_sim_config *cfg, char *err,
                size_t errlen)
{
    memset(sim, 0, sizeof(*sim));
    sim->cfg = *cfg;
    if (!sim->cfg.vtime_limit_ns) sim->cfg.vtime_limit_ns = 10ULL * 1000000000ULL;
    if (!sim->cfg.exit_limit) sim->cfg.exit_limit = 50000000ULL;
    xs_prng_seed(&sim->prng, cfg->seed);
    sim->next_timer_ns = XS_NO_DEADLINE;
    xs_trace_init(&sim->trace);
    if (cfg->trace_path && xs_trace_open(&sim->trace, cfg->trace_path)) {
        snprintf(err, errlen, "%s: cannot write trace: %s", cfg->trace_path,
                 strerror(errno));
        return -1;
    }
    if (cs_open(CS_ARCH_X86, CS_MODE_64, &sim->capstone) != CS_ERR_OK) {
        snprintf(err, errlen, "capstone: cannot open an x86-64 disassembler");
        xs_trace_close(&sim->trace);
        return -1;
    }
    cs_option(sim->capstone, CS_OPT_DETAIL, CS_OPT_ON);
    sim->altstack = xs_trap_thread_init();
    return 0;
}

void xs_sim_destroy(struct xs_sim *sim)
{
    for (unsigned i = 0; i < sim->nr_domains; i++)
        xs_domain_destroy(sim->domains[i]);
    sim->nr_domains = 0;
    xs_pvdev_sim_free(sim);
    xs_suspend_sim_free(sim);
    xs_migrate_sim_free(sim);
    xs_xenstore_sim_free(sim);
    cs_close(&sim->capstone);
    xs_trace_close(&sim->trace);
    xs_trap_thread_fini(sim->altstack);
}

static void stop(struct xs_sim *sim, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sim->stop_reason, sizeof(sim->stop_reason), fmt, ap);
    va_end(ap);
    xs_trace_emit(&sim->trace, sim->vtime_ns, 0, 0, XS_TR_STOP, 0, NULL, 0, 0,
                  sim->stop_reason, (uint32_t)strlen(sim->stop_reason));
}

static bool all_ended(const struct xs_sim *sim)
{
    for (unsigned i = 0; i < sim->nr_domains; i++)
        if (sim->domains[i]->end_state == XS_END_RUNNING) return false;
    return true;
}

/* Nothing runnable: virtual time jumps to the next timer, which may wake
 * someone.  Returns false when no timer is armed (a deadlock). */
static bool idle(struct xs_sim *sim)
{
    /* Recomputed here, so a domain that ended with timers armed cannot
     * make time jump to a deadline nobody waits for. */
    xs_timers_changed(sim);
    /* The toolstack's hot-plug actions wake the simulation too (pvdev.c). */
    uint64_t next = sim->next_timer_ns, dev = xs_pvdev_next_event(sim);
    if (dev < next) next = dev;
    if (next == XS_NO_DEADLINE) return false;
    /* Never past the run's limit: the loop then stops there. */
    uint64_t to = next < sim->cfg.vtime_limit_ns ? next : sim->cfg.vtime_limit_ns;
    uint64_t ta[2] = {sim->vtime_ns, to};
    xs_trace_emit(&sim->trace, sim->vtime_ns, 0, 0, XS_TR_IDLE, 0, ta, 2, 0, NULL, 0);
    if (to > sim->vtime_ns) sim->vtime_ns = to;
    xs_timers_run(sim);
    return true;
}

static void describe_blocked(struct xs_sim *sim, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < sim->nr_domains; i++) {
        struct xs_domain *d = sim->domains[i];
        for (unsigned j = 0; j < d->nr_vcpus && off < len; j++) {
            struct xs_vcpu *v = &d->vcpus[j];
            if (v->state == XS_VCPU_BLOCKED || v->state == XS_VCPU_POLLING)
                off += (size_t)snprintf(
                    buf + off, len - off, "%s%s.v%u %s", off ? ", " : "", d->name, j,
                    v->state == XS_VCPU_BLOCKED ? "blocked" : "polling");
        }
    }
}

void xs_sim_run(struct xs_sim *sim)
{
    struct xs_vcpu **runnable = calloc(XS_MAX_DOMAINS * XS_MAX_VCPUS, sizeof(*runnable));
    if (!runnable) {
        stop(sim, "out of memory");
        return;
    }
    /* The vCPU picked last, by domid and id: a pointer could be reused by a
     * domain created meanwhile (a resume), which would hide a switch. */
    uint32_t last = UINT32_MAX;
    xs_watchdog_arm(true);
    while (!all_ended(sim)) {
        if (sim->nr_exits >= sim->cfg.exit_limit) {
            stop(sim, "exit limit reached (%" PRIu64 " VM exits)", sim->cfg.exit_limit);
            break;
        }
        if (sim->vtime_ns >= sim->cfg.vtime_limit_ns) {
            stop(sim, "virtual time limit reached (%" PRIu64 " ns)",
                 sim->cfg.vtime_limit_ns);
            break;
        }
        xs_timers_run(sim);
        /* Devices first: the store then delivers the watch events their
         * state changes fire before anyone could go idle. */
        xs_pvdev_sim_poll(sim);    /* hot-plug, device states, rings (pvdev.c) */
        xs_xenstore_sim_poll(sim); /* store rings and sockets (xenstore_sim.c) */
        xs_console_sim_poll(sim);  /* console rings and input (console_sim.c) */
        unsigned n = 0;
        for (unsigned i = 0; i < sim->nr_domains; i++) {
            struct xs_domain *d = sim->domains[i];
            for (unsigned j = 0; j < d->nr_vcpus; j++)
                if (d->vcpus[j].state == XS_VCPU_RUNNABLE) runnable[n++] = &d->vcpus[j];
        }
        if (n == 0) {
            /* The polls above may have ended the last domain (a toolstack
             * action): no jump to a deadline nobody waits for any more. */
            if (all_ended(sim)) break;
            if (idle(sim)) continue;
            char who[160];
            describe_blocked(sim, who, sizeof(who));
            const struct xs_domain *susp = NULL;
            for (unsigned i = 0; i < sim->nr_domains && !susp; i++)
                if (sim->domains[i]->suspended) susp = sim->domains[i];
            if (susp && !who[0])
                stop(sim, "%s (d%u) is suspended and nothing will resume it", susp->name,
                     susp->domid);
            else
                stop(sim, "deadlock: no vCPU can run and no timer is pending (%s)",
                     who[0] ? who : "all vCPUs down");
            break;
        }
        struct xs_vcpu *v = runnable[n == 1 ? 0 : xs_prng_below(&sim->prng, n)];
        /* A choice among one is no decision: trace only real ones. */
        uint32_t who = (uint32_t)v->dom->domid << 16 | v->id;
        if (n > 1 || who != last) {
            uint64_t ta[1] = {n};
            xs_trace_emit(&sim->trace, sim->vtime_ns, v->dom->domid, v->id, XS_TR_SCHED,
                          0, ta, 1, 0, NULL, 0);
        }
        last = who;
        if (!v->dom->has_run) {
            v->dom->has_run = true;
            v->dom->first_run_ns = sim->vtime_ns;
        }
        xs_vcpu_run_once(v);
        if (sim->stuck) {
            stop(
                sim,
                "%s.v%u ran %.1f s of host CPU time without a VM exit (a loop that never "
                "traps?): virtual time cannot advance, so the run stops; guest rip "
                "%#" PRIx64,
                v->dom->name, v->id, XS_STUCK_TICKS * XS_WATCHDOG_TICK_US / 1e6,
                v->regs.rip - (uint64_t)(uintptr_t)v->dom->base);
            break;
        }
    }
    xs_watchdog_arm(false);
    xs_tsc_trap_disarm();
    free(runnable);
    xs_console_sim_flush(sim); /* ring output since the last poll */
    /* A last line without a newline still reaches the console. */
    for (unsigned i = 0; i < sim->nr_domains; i++) {
        struct xs_domain *d = sim->domains[i];
        if (d->console_line_start < d->console_len) xs_console_append(d, "\n", 1);
    }
}
