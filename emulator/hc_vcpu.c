/* vcpu_op: is_up, vcpu_info placement, runstate. */
#include <stdint.h>
#include <string.h>
#include <xen/vcpu.h>

#include "guest_mem.h"
#include "hypercall.h"

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
    if (r.mfn >= d->ram_bytes / XS_PAGE_SIZE || r.mfn == d->shared_info_gpfn)
        return -XEN_EINVAL;
    struct vcpu_info *old = xs_vcpu_info(t);
    struct vcpu_info *new = xs_gpa_ptr(d, gpa, sizeof(*new));
    if (old)
        memcpy(new, old, sizeof(*new));
    else
        memset(new, 0, sizeof(*new));
    /* As Xen: make the guest look at every selector once, so no event that
     * arrived during the move is lost. */
    new->evtchn_pending_sel = ~(xen_ulong_t)0;
    new->evtchn_upcall_pending = 1;
    t->vcpu_info_gpa = gpa;
    t->pvclock_stale = true;
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

static const vcpu_fn ops[] = {
    [VCPUOP_is_up] = vcpu_is_up,
    [VCPUOP_register_vcpu_info] = vcpu_register_vcpu_info,
    [VCPUOP_get_runstate_info] = vcpu_get_runstate_info,
    [VCPUOP_register_runstate_memory_area] = vcpu_register_runstate_area,
};

long xs_hc_vcpu_op(struct xs_vcpu *v, const uint64_t a[5])
{
    uint64_t cmd = a[0];
    struct xs_vcpu *t = a[1] < v->dom->nr_vcpus ? &v->dom->vcpus[a[1]] : NULL;
    if (!t) return -XEN_ENOENT;
    if (cmd >= sizeof(ops) / sizeof(ops[0]) || !ops[cmd]) return -XEN_ENOSYS;
    return ops[cmd](v, t, a[2]);
}
