/* What live migrations did (migrate.h): downtimes, a summary line each,
 * the rounds as CSV, and the counts a scenario's expectations check. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "migrate_int.h"
#include "sim.h"

void xs_migrate_note_first_runs(struct xs_sim *sim)
{
    for (struct xs_migration *m = sim->migrations ? sim->migrations->head : NULL; m;
         m = m->next) {
        if (m->phase != MIG_DONE || !m->dst_domid || m->first_run_ns != MIG_NO_TIME)
            continue;
        for (unsigned i = 0; i < sim->nr_domains; i++) {
            const struct xs_domain *d = sim->domains[i];
            if (d->domid == m->dst_domid && d->has_run) m->first_run_ns = d->first_run_ns;
        }
    }
}

static bool downtime(const struct xs_migration *m, uint64_t *ns)
{
    if (m->phase != MIG_DONE) return false;
    if (m->cfg.send_only) { /* the other process runs it once it has it all */
        *ns = m->arrival_ns - m->suspended_ns;
        return true;
    }
    if (m->first_run_ns == MIG_NO_TIME) return false;
    *ns = m->first_run_ns - m->suspended_ns;
    return true;
}

static const char *phase_name(enum mig_phase p)
{
    switch (p) {
    case MIG_WAITING:
        return "before it started";
    case MIG_PRECOPY:
        return "in pre-copy";
    case MIG_STOPPING:
        return "waiting for the guest to suspend";
    case MIG_ARRIVING:
        return "sending the stop-and-copy";
    case MIG_DONE:
        return "done";
    case MIG_FAILED:
        return "failed";
    }
    return "?";
}

static void csv_header(FILE *f)
{
    fputs("migration,domain,round,phase,start_ns,duration_ns,pages_sent,pages_dirtied,"
          "bytes,downtime_ns,result\n",
          f);
}

static void csv_rows(const struct xs_migration *m, FILE *f)
{
    uint64_t dt = 0;
    bool have_dt = downtime(m, &dt);
    for (unsigned i = 0; i < m->nr_rounds; i++) {
        const struct mig_round *r = &m->rounds[i];
        fprintf(
            f, "%u,%s,%u,%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",",
            m->number, m->name, i + 1, r->final ? "stop-and-copy" : "pre-copy",
            r->start_ns, r->duration_ns, r->pages, r->dirtied, r->bytes);
        if (r->final && have_dt) fprintf(f, "%" PRIu64, dt);
        fprintf(f, ",%s\n",
                m->phase == MIG_DONE     ? "migrated"
                : m->phase == MIG_FAILED ? "failed"
                                         : "unfinished");
    }
}

void xs_migrate_csv(const struct xs_sim *sim, FILE *f)
{
    csv_header(f);
    for (const struct xs_migration *m = sim->migrations ? sim->migrations->head : NULL; m;
         m = m->next)
        csv_rows(m, f);
}

static int write_csv(struct xs_sim *sim, const char *path,
                     const struct xs_migration *only)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        xs_log(sim, "xensim: error: %s: cannot write the migration log: %s", path,
               strerror(errno));
        return -1;
    }
    if (only) {
        csv_header(f);
        csv_rows(only, f);
    } else {
        xs_migrate_csv(sim, f);
    }
    if (fclose(f)) {
        xs_log(sim, "xensim: error: %s: writing the migration log: %s", path,
               strerror(errno));
        return -1;
    }
    return 0;
}

static void summary(struct xs_sim *sim, const struct xs_migration *m)
{
    uint64_t dt = 0, pages = 0;
    for (unsigned i = 0; i < m->nr_rounds; i++)
        pages += m->rounds[i].pages;
    switch (m->phase) {
    case MIG_DONE:
        if (!downtime(m, &dt))
            xs_log(sim,
                   "xensim: migration %u of %s: d%u -> d%u, %" PRIu64 " pages, %" PRIu64
                   " bytes; d%u never ran (downtime unknown)",
                   m->number, m->name, m->src_domid, m->dst_domid, pages, m->delivered,
                   m->dst_domid);
        else if (m->cfg.send_only)
            xs_log(sim,
                   "xensim: migration %u of %s: d%u sent, %" PRIu64 " pages, %" PRIu64
                   " bytes; suspended at %" PRIu64 " ns, all sent at %" PRIu64
                   " ns: downtime %" PRIu64 " ns",
                   m->number, m->name, m->src_domid, pages, m->delivered, m->suspended_ns,
                   m->arrival_ns, dt);
        else
            xs_log(sim,
                   "xensim: migration %u of %s: d%u -> d%u, %" PRIu64 " pages, %" PRIu64
                   " bytes; suspended at %" PRIu64 " ns, d%u first ran at %" PRIu64
                   " ns: downtime %" PRIu64 " ns",
                   m->number, m->name, m->src_domid, m->dst_domid, pages, m->delivered,
                   m->suspended_ns, m->dst_domid, m->first_run_ns, dt);
        break;
    case MIG_FAILED:
        xs_log(sim, "xensim: migration %u of %s failed: %s", m->number, m->name, m->err);
        break;
    default:
        xs_log(sim, "xensim: %s: migration %u of %s did not finish: the run ended %s",
               m->where, m->number, m->name, phase_name(m->phase));
        break;
    }
}

int xs_migrate_sim_report(struct xs_sim *sim, const char *csv_path)
{
    int rc = 0;
    xs_migrate_note_first_runs(sim);
    for (struct xs_migration *m = sim->migrations ? sim->migrations->head : NULL; m;
         m = m->next) {
        summary(sim, m);
        if (m->cfg.log_path && write_csv(sim, m->cfg.log_path, m)) rc = -1;
    }
    if (csv_path && write_csv(sim, csv_path, NULL)) rc = -1;
    return rc;
}

void xs_migrate_outcome(const struct xs_sim *sim, unsigned dom_index, unsigned *ok,
                        unsigned *failed, uint64_t *max_downtime_ns)
{
    *ok = *failed = 0;
    *max_downtime_ns = 0;
    for (const struct xs_migration *m = sim->migrations ? sim->migrations->head : NULL; m;
         m = m->next) {
        if (m->cfg.dom_index != dom_index) continue;
        uint64_t dt = 0;
        if (m->phase == MIG_DONE) {
            (*ok)++;
            /* A destination that never ran had no end to its downtime. */
            if (!downtime(m, &dt)) dt = UINT64_MAX;
            if (dt > *max_downtime_ns) *max_downtime_ns = dt;
        } else {
            (*failed)++; /* failed, or never finished */
        }
    }
}
