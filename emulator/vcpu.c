/* vCPU execution: enter the guest, take the exit, account runstate. */
#include <inttypes.h>
#include <string.h>

#include "emulate.h"
#include "evtchn.h"
#include "guest_mem.h"
#include "hypercall.h"
#include "vmentry.h"
#include "vtime.h"

struct vcpu_info *xs_vcpu_info(struct xs_vcpu *v)
{
    if (v->vcpu_info_gpa != XS_NO_GPA)
        return xs_gpa_ptr(v->dom, v->vcpu_info_gpa, sizeof(struct vcpu_info));
    if (v->id < XEN_LEGACY_MAX_VCPUS) return &v->dom->shared_info->vcpu_info[v->id];
    return NULL;
}

/* Wake a blocked or polling vCPU (Xen's vcpu_kick/vcpu_unblock). */
void xs_vcpu_kick(struct xs_vcpu *v)
{
    if (v->state == XS_VCPU_BLOCKED || v->state == XS_VCPU_POLLING) {
        bool had_timeout =
            v->state == XS_VCPU_POLLING && v->poll_deadline_ns != XS_NO_DEADLINE;
        v->poll_deadline_ns = XS_NO_DEADLINE;
        xs_vcpu_set_state(v, XS_VCPU_RUNNABLE);
        /* An idle jump must not go to a timeout that no longer exists. */
        if (had_timeout) xs_timers_changed(v->dom->sim);
    }
}

void xs_vcpu_mark_events_pending(struct xs_vcpu *v)
{
    struct vcpu_info *vi = xs_vcpu_info(v);
    if (!vi) return; /* vCPU >= 32 without a registered vcpu_info */
    if (__atomic_exchange_n(&vi->evtchn_upcall_pending, 1, __ATOMIC_SEQ_CST)) return;
    xs_callback_assert(v);
}

static int runstate_of(enum xs_vcpu_state st)
{
    switch (st) {
    case XS_VCPU_DOWN:
        return RUNSTATE_offline;
    case XS_VCPU_RUNNABLE:
        return RUNSTATE_runnable;
    default:
        return RUNSTATE_blocked;
    }
}

static void runstate_enter(struct xs_vcpu *v, int state)
{
    uint64_t now = v->dom->sim->vtime_ns;
    struct vcpu_runstate_info *rs = &v->runstate;
    if (rs->state >= 0 && rs->state < 4)
        rs->time[rs->state] += now - rs->state_entry_time;
    rs->state = state;
    rs->state_entry_time = now;
    if (v->runstate_area_gva)
        xs_copy_to_guest(v->dom, v->runstate_area_gva, rs, sizeof(*rs));
}

void xs_vcpu_set_state(struct xs_vcpu *v, enum xs_vcpu_state st)
{
    v->state = st;
    runstate_enter(v, runstate_of(st));
}

static void take_hypercall_exit(struct xs_vcpu *v)
{
    /* The direct stub was reached by a call: return to the caller. */
    uint64_t rsp = xs_tls.guest_rsp, ret;
    if (xs_copy_from_guest(v->dom, &ret, rsp, sizeof(ret))) {
        v->regs.rsp = rsp;
        xs_domain_crash(v, "hypercall with stack pointer %#" PRIx64 " outside guest RAM",
                        rsp);
        return;
    }
    v->regs.rsp = rsp + 8;
    v->regs.rip = ret;
    xs_hypercall_dispatch(v);
}

void xs_vcpu_run_once(struct xs_vcpu *v)
{
    struct xs_sim *sim = v->dom->sim;
    xs_pvclock_update(v);
    if (v->sti_shadow)
        v->sti_shadow = false;
    else
        xs_callback_inject(v);
    if (v->dom->end_state != XS_END_RUNNING) return; /* injection crashed it */
    runstate_enter(v, RUNSTATE_running);
    xs_tls.vcpu = v;
    xs_tls.regs_start = (uint64_t)(uintptr_t)&v->regs;
    xs_tls.regs_end = (uint64_t)(uintptr_t)&v->regs.rsp;
    xs_tls.resume_rip = v->regs.rip;
    /* Every guest rdtsc traps, so guest time is virtual time. */
    xs_tsc_trap_arm();
    xs_tls.guest_ticks = 0;
    uint64_t exit = xs_vm_enter();
    xs_tls.vcpu = NULL;
    sim->nr_exits++;
    sim->vtime_ns += XS_COST_GUEST_SLICE_NS;
    if (exit == XS_EXIT_HYPERCALL)
        take_hypercall_exit(v);
    else
        xs_emulate_signal_exit(v);
    if (v->state == XS_VCPU_RUNNABLE) runstate_enter(v, RUNSTATE_runnable);
}
