/* Per-vCPU timers in virtual time: Xen's singleshot timer (VCPUOP and
 * set_timer_op), the periodic timer, and SCHEDOP_poll's timeout.  Expiry
 * raises VIRQ_TIMER on the vCPU (or ends the poll).  Timers fire in a fixed
 * order (deadline, then domain, then vCPU), so runs are reproducible. */
#include <stdint.h>
#include <xen/xen.h>

#include "evtchn.h"
#include "sim.h"

void xs_timers_changed(struct xs_sim *sim)
{
    uint64_t next = XS_NO_DEADLINE;
    for (unsigned i = 0; i < sim->nr_domains; i++) {
        struct xs_domain *d = sim->domains[i];
        if (d->end_state != XS_END_RUNNING) continue;
        for (unsigned j = 0; j < d->nr_vcpus; j++) {
            const struct xs_vcpu *v = &d->vcpus[j];
            if (v->sshot_deadline_ns < next) next = v->sshot_deadline_ns;
            if (v->periodic_next_ns < next) next = v->periodic_next_ns;
            if (v->state == XS_VCPU_POLLING && v->poll_deadline_ns < next)
                next = v->poll_deadline_ns;
        }
    }
    sim->next_timer_ns = next;
}

/* Xen's timers take a signed s_time_t: a deadline at or past 2^63 is in the
 * past and fires at once. */
uint64_t xs_timer_deadline(uint64_t abs_ns)
{
    return (int64_t)abs_ns < 0 ? 0 : abs_ns;
}

void xs_timer_set_singleshot(struct xs_vcpu *v, uint64_t deadline_ns)
{
    v->sshot_deadline_ns =
        deadline_ns == XS_NO_DEADLINE ? deadline_ns : xs_timer_deadline(deadline_ns);
    xs_timers_changed(v->dom->sim);
}

void xs_timer_set_periodic(struct xs_vcpu *v, uint64_t period_ns)
{
    v->periodic_period_ns = period_ns;
    v->periodic_next_ns = period_ns ? v->dom->sim->vtime_ns + period_ns : XS_NO_DEADLINE;
    xs_timers_changed(v->dom->sim);
}

static void trace_timer(struct xs_vcpu *v, unsigned kind, uint64_t deadline)
{
    struct xs_sim *sim = v->dom->sim;
    xs_trace_emit(&sim->trace, sim->vtime_ns, v->dom->domid, v->id, XS_TR_TIMER, kind,
                  &deadline, 1, 0, NULL, 0);
}

/* One vCPU's due timers.  As Xen's timer handlers: a singleshot or periodic
 * expiry sends VIRQ_TIMER (which wakes the vCPU through its callback if it
 * is bound); a poll timeout ends the poll with 0. */
static void run_vcpu(struct xs_vcpu *v, uint64_t now)
{
    if (v->sshot_deadline_ns <= now) {
        uint64_t dl = v->sshot_deadline_ns;
        v->sshot_deadline_ns = XS_NO_DEADLINE;
        trace_timer(v, 0, dl);
        xs_evtchn_send_virq(v, VIRQ_TIMER);
    }
    if (v->periodic_next_ns <= now) {
        uint64_t dl = v->periodic_next_ns;
        /* Missed periods collapse into one event, as Xen's periodic timer
         * re-arms from the current time. */
        while (v->periodic_next_ns <= now)
            v->periodic_next_ns += v->periodic_period_ns;
        trace_timer(v, 1, dl);
        xs_evtchn_send_virq(v, VIRQ_TIMER);
    }
    if (v->state == XS_VCPU_POLLING && v->poll_deadline_ns <= now) {
        trace_timer(v, 2, v->poll_deadline_ns);
        xs_vcpu_kick(v);
    }
}

void xs_timers_run(struct xs_sim *sim)
{
    uint64_t now = sim->vtime_ns;
    while (sim->next_timer_ns <= now) {
        /* Earliest deadline first; ties in domain, then vCPU order. */
        uint64_t due = sim->next_timer_ns;
        for (unsigned i = 0; i < sim->nr_domains; i++) {
            struct xs_domain *d = sim->domains[i];
            if (d->end_state != XS_END_RUNNING) continue;
            for (unsigned j = 0; j < d->nr_vcpus; j++) {
                struct xs_vcpu *v = &d->vcpus[j];
                if (v->sshot_deadline_ns <= due || v->periodic_next_ns <= due ||
                    (v->state == XS_VCPU_POLLING && v->poll_deadline_ns <= due))
                    run_vcpu(v, due);
            }
        }
        xs_timers_changed(sim);
    }
}
