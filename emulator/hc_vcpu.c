/* vcpu_op: bring-up (initialise, up, down, is_up), vcpu_info placement,
 * runstate, and the singleshot and periodic timers. */
#include <inttypes.h>
#include <stdint.h>
#include <string.h>
#include <xen/vcpu.h>
#include <xen/hvm/hvm_vcpu.h>

#include "evtchn.h"
#include "gnttab.h"
#include "guest_mem.h"
#include "hypercall.h"

#define CR0_PE          0x1ULL
#define CR0_PG          0x80000000ULL
#define CR4_PAE         0x20ULL
#define EFER_LME        0x100ULL
#define EFER_LMA        0x400ULL
#define EFER_NXE        0x800ULL
#define EFER_SCE        0x1ULL
#define RFLAGS_IF       0x200ULL
#define MILLISECS(ms)   ((uint64_t)(ms)*1000000ULL)
#define STIME_DELTA_MAX (~0ULL >> 2)

typedef long (*vcpu_fn)(struct xs_vcpu *caller, struct xs_vcpu *target, uint64_t arg);

static long vcpu_is_up(struct xs_vcpu *caller, struct xs_vcpu *t, uint64_t arg)
{
    (void)caller, (void)arg;
    return t->state != XS_VCPU_DOWN;
}

static long vcpu_register_vcpu_info(struct xs_vcpu *caller, struct xs_vcpu *t,
                                    uint64_t arg)
{
    struct xs_domain *d = t->dom;
    struct vcpu_register_vcpu_info r;
    if (xs_copy_from_guest(d, &r, arg, sizeof(r))) return -XEN_EFAULT;
    /* Xen: once per vCPU, for itself or a vCPU that is down. */
    if (t->vcpu_info_gpa != XS_NO_GPA || (t != caller && t->state != XS_VCPU_DOWN))
        return -XEN_EINVAL;
    /* Xen's map_vcpu_info: crossing the page or misaligned is -ENXIO. */
    if (r.offset > XS_PAGE_SIZE - sizeof(struct vcpu_info) ||
        r.offset & (__alignof__(struct vcpu_info) - 1))
        return -XEN_ENXIO;
    uint64_t gpa = r.mfn * XS_PAGE_SIZE + r.offset;
    if (r.mfn >= d->ram_bytes / XS_PAGE_SIZE || r.mfn == d->shared_info_gpfn ||
        xs_gnttab_gfn_is_mapping(d, r.mfn))
        return -XEN_EINVAL;
    struct vcpu_info *old = xs_vcpu_info(t);
    struct vcpu_info *new = xs_gpa_ptr(d, gpa, sizeof(*new));
    if (old)
        memcpy(new, old, sizeof(*new));
    else
        memset(new, 0, sizeof(*new));
    t->vcpu_info_gpa = gpa;
    t->pvclock_stale = true;
    /* As Xen: make the guest look at every selector once, so no event that
     * arrived during the move is lost (a spurious upcall it copes with). */
    new->evtchn_pending_sel = ~(xen_ulong_t)0;
    xs_vcpu_mark_events_pending(t);
    return 0;
}

static long vcpu_get_runstate_info(struct xs_vcpu *caller, struct xs_vcpu *t,
                                   uint64_t arg)
{
    (void)caller;
    struct vcpu_runstate_info rs = t->runstate;
    uint64_t now = t->dom->sim->vtime_ns;
    if (rs.state >= 0 && rs.state < 4) rs.time[rs.state] += now - rs.state_entry_time;
    return xs_copy_to_guest(t->dom, arg, &rs, sizeof(rs));
}

static long vcpu_register_runstate_area(struct xs_vcpu *caller, struct xs_vcpu *t,
                                        uint64_t arg)
{
    (void)caller;
    struct vcpu_register_runstate_memory_area area;
    if (xs_copy_from_guest(t->dom, &area, arg, sizeof(area))) return -XEN_EFAULT;
    uint64_t gva = (uint64_t)(uintptr_t)area.addr.v;
    if (gva && !xs_gva_ptr(t->dom, gva, sizeof(struct vcpu_runstate_info)))
        return -XEN_EFAULT;
    t->runstate_area_gva = gva;
    if (gva) xs_copy_to_guest(t->dom, gva, &t->runstate, sizeof(t->runstate));
    return 0;
}

static void trace_vcpu(struct xs_vcpu *caller, struct xs_vcpu *t, unsigned what)
{
    struct xs_sim *sim = t->dom->sim;
    uint64_t a[2] = {xs_gva_for_trace(t->dom, t->regs.rip), caller->id};
    xs_trace_emit(&sim->trace, sim->vtime_ns, t->dom->domid, t->id, XS_TR_VCPU, what, a,
                  2, 0, NULL, 0);
}

/* Xen's arch_set_info_hvm_guest for VCPU_HVM_MODE_64B: the control
 * registers must describe long mode with paging, and CR3 must be a page of
 * the guest's RAM.  Translation itself always follows xensim's direct map. */
static long check_long_mode(struct xs_domain *d, const struct vcpu_hvm_x86_64 *r)
{
    if ((r->cr0 & (CR0_PE | CR0_PG)) != (CR0_PE | CR0_PG)) return -XEN_EINVAL;
    if (!(r->cr4 & CR4_PAE)) return -XEN_EINVAL;
    if (!(r->efer & EFER_LME)) return -XEN_EINVAL;
    if (r->efer & ~(EFER_LME | EFER_LMA | EFER_NXE | EFER_SCE)) return -XEN_EINVAL;
    if (r->cr3 / XS_PAGE_SIZE >= d->ram_bytes / XS_PAGE_SIZE) return -XEN_EINVAL;
    return 0;
}

static long vcpu_initialise(struct xs_vcpu *caller, struct xs_vcpu *t, uint64_t arg)
{
    struct xs_domain *d = t->dom;
    struct vcpu_hvm_context ctx;
    if (xs_copy_from_guest(d, &ctx, arg, sizeof(ctx))) return -XEN_EFAULT;
    if (t->initialised) return -XEN_EEXIST;
    if (ctx.mode != VCPU_HVM_MODE_64B) {
        /* A user process cannot switch paging modes: APs start in long
         * mode, as the boot vCPU does through xensim's entry note. */
        if (ctx.mode == VCPU_HVM_MODE_32B)
            xs_log(d->sim,
                   "domain %u (%s): VCPUOP_initialise of vcpu %u in 32-bit mode "
                   "refused: xensim starts vCPUs in 64-bit mode only",
                   d->domid, d->name, t->id);
        return -XEN_EINVAL;
    }
    const struct vcpu_hvm_x86_64 *r = &ctx.cpu_regs.x86_64;
    long rc = check_long_mode(d, r);
    if (rc) return rc;
    memset(&t->regs, 0, sizeof(t->regs));
    t->regs.rax = r->rax;
    t->regs.rcx = r->rcx;
    t->regs.rdx = r->rdx;
    t->regs.rbx = r->rbx;
    t->regs.rsp = r->rsp;
    t->regs.rbp = r->rbp;
    t->regs.rsi = r->rsi;
    t->regs.rdi = r->rdi;
    t->regs.rip = r->rip;
    t->regs.rflags = 0x2;
    t->virt_if = (r->rflags & RFLAGS_IF) != 0;
    t->initialised = true;
    trace_vcpu(caller, t, 0);
    return 0;
}

static long vcpu_up(struct xs_vcpu *caller, struct xs_vcpu *t, uint64_t arg)
{
    (void)arg;
    if (!t->initialised) return -XEN_EINVAL;
    if (t->state == XS_VCPU_DOWN) {
        xs_vcpu_set_state(t, XS_VCPU_RUNNABLE);
        trace_vcpu(caller, t, 1);
    }
    return 0;
}

/* As Xen: the last vCPU going down powers the domain off. */
static long vcpu_down(struct xs_vcpu *caller, struct xs_vcpu *t, uint64_t arg)
{
    (void)arg;
    struct xs_domain *d = t->dom;
    bool others = false;
    for (unsigned i = 0; i < d->nr_vcpus; i++)
        if (i != t->id && d->vcpus[i].state != XS_VCPU_DOWN) others = true;
    if (!others) {
        xs_domain_end(d, XS_END_POWEROFF);
        return 0;
    }
    if (t->state != XS_VCPU_DOWN) {
        xs_vcpu_set_state(t, XS_VCPU_DOWN);
        trace_vcpu(caller, t, 2);
    }
    return 0;
}

static long vcpu_set_periodic_timer(struct xs_vcpu *caller, struct xs_vcpu *t,
                                    uint64_t arg)
{
    (void)caller;
    struct vcpu_set_periodic_timer p;
    if (xs_copy_from_guest(t->dom, &p, arg, sizeof(p))) return -XEN_EFAULT;
    if (p.period_ns < MILLISECS(1) || p.period_ns > STIME_DELTA_MAX) return -XEN_EINVAL;
    xs_timer_set_periodic(t, p.period_ns);
    return 0;
}

static long vcpu_stop_periodic_timer(struct xs_vcpu *caller, struct xs_vcpu *t,
                                     uint64_t arg)
{
    (void)caller, (void)arg;
    xs_timer_set_periodic(t, 0);
    return 0;
}

/* Only on the calling vCPU.  A deadline in the past fires at once, unless
 * the guest asked for VCPU_SSHOTTMR_future. */
static long vcpu_set_singleshot_timer(struct xs_vcpu *caller, struct xs_vcpu *t,
                                      uint64_t arg)
{
    if (t != caller) return -XEN_EINVAL;
    struct vcpu_set_singleshot_timer s;
    if (xs_copy_from_guest(t->dom, &s, arg, sizeof(s))) return -XEN_EFAULT;
    if ((s.flags & VCPU_SSHOTTMR_future) && s.timeout_abs_ns < t->dom->sim->vtime_ns)
        return -XEN_ETIME;
    xs_timer_set_singleshot(t, s.timeout_abs_ns);
    return 0;
}

static long vcpu_stop_singleshot_timer(struct xs_vcpu *caller, struct xs_vcpu *t,
                                       uint64_t arg)
{
    (void)arg;
    if (t != caller) return -XEN_EINVAL;
    xs_timer_set_singleshot(t, XS_NO_DEADLINE);
    return 0;
}

static const vcpu_fn ops[] = {
    [VCPUOP_initialise] = vcpu_initialise,
    [VCPUOP_up] = vcpu_up,
    [VCPUOP_down] = vcpu_down,
    [VCPUOP_set_periodic_timer] = vcpu_set_periodic_timer,
    [VCPUOP_stop_periodic_timer] = vcpu_stop_periodic_timer,
    [VCPUOP_set_singleshot_timer] = vcpu_set_singleshot_timer,
    [VCPUOP_stop_singleshot_timer] = vcpu_stop_singleshot_timer,
    [VCPUOP_is_up] = vcpu_is_up,
    [VCPUOP_register_vcpu_info] = vcpu_register_vcpu_info,
    [VCPUOP_get_runstate_info] = vcpu_get_runstate_info,
    [VCPUOP_register_runstate_memory_area] = vcpu_register_runstate_area,
};

/* set_timer_op: the singleshot timer by its older interface.  As Xen: 0
 * stops it; a deadline wrapped negative or more than 2^50 ns ahead (Linux's
 * jiffy wrap) becomes "100 ms from now". */
long xs_hc_set_timer_op(struct xs_vcpu *v, const uint64_t a[5])
{
    int64_t timeout = (int64_t)a[0];
    uint64_t now = v->dom->sim->vtime_ns;
    int64_t offset = timeout - (int64_t)now;
    if (timeout == 0)
        xs_timer_set_singleshot(v, XS_NO_DEADLINE);
    else if (timeout < 0 || (offset > 0 && (uint32_t)(offset >> 50) != 0))
        xs_timer_set_singleshot(v, now + MILLISECS(100));
    else
        xs_timer_set_singleshot(v, (uint64_t)timeout);
    return 0;
}

long xs_hc_vcpu_op(struct xs_vcpu *v, const uint64_t a[5])
{
    uint64_t cmd = a[0];
    struct xs_vcpu *t = a[1] < v->dom->nr_vcpus ? &v->dom->vcpus[a[1]] : NULL;
    if (!t) return -XEN_ENOENT;
    if (cmd >= sizeof(ops) / sizeof(ops[0]) || !ops[cmd]) return -XEN_ENOSYS;
    return ops[cmd](v, t, a[2]);
}
