/* hvm_op: HVM parameters (with Xen's guest permission rules), time, and
 * the per-vCPU upcall vector. */
#include <stdint.h>
#include <xen/hvm/hvm_op.h>
#include <xen/hvm/params.h>

#include "guest_mem.h"
#include "hypercall.h"

/* Xen's hvm_allow_set_param / hvm_allow_get_param for a guest acting on
 * itself: what it may write, and the only parameters it may read. */
enum { MAY_GET = 1, MAY_SET = 2 };
static const uint8_t guest_access[HVM_NR_PARAMS] = {
    [HVM_PARAM_CALLBACK_IRQ] = MAY_GET | MAY_SET,
    [HVM_PARAM_VM86_TSS] = MAY_GET | MAY_SET,
    [HVM_PARAM_VM86_TSS_SIZED] = MAY_GET | MAY_SET,
    [HVM_PARAM_ACPI_IOPORTS_LOCATION] = MAY_GET | MAY_SET,
    [HVM_PARAM_VM_GENERATION_ID_ADDR] = MAY_GET | MAY_SET,
    [HVM_PARAM_STORE_PFN] = MAY_GET,
    [HVM_PARAM_STORE_EVTCHN] = MAY_GET | MAY_SET,
    [HVM_PARAM_CONSOLE_PFN] = MAY_GET,
    [HVM_PARAM_CONSOLE_EVTCHN] = MAY_GET | MAY_SET,
    [HVM_PARAM_ALTP2M] = MAY_GET,
    [HVM_PARAM_X87_FIP_WIDTH] = MAY_GET | MAY_SET,
};

/* Xen checks the index before it looks the domain up. */
static long check_param(struct xs_vcpu *v, const struct xen_hvm_param *p)
{
    if (p->index >= HVM_NR_PARAMS) return -XEN_EINVAL;
    if (p->domid != DOMID_SELF && p->domid != v->dom->domid) {
        for (unsigned i = 0; i < v->dom->sim->nr_domains; i++)
            if (v->dom->sim->domains[i]->domid == p->domid) return -XEN_EPERM;
        return -XEN_ESRCH;
    }
    return 0;
}

static long hvm_param(struct xs_vcpu *v, uint64_t arg, bool set)
{
    struct xen_hvm_param p;
    if (xs_copy_from_guest(v->dom, &p, arg, sizeof(p))) return -XEN_EFAULT;
    long rc = check_param(v, &p);
    if (rc) return rc;
    if (set) {
        if (!(guest_access[p.index] & MAY_SET)) return -XEN_EPERM;
        v->dom->hvm_params[p.index] = p.value;
        /* As hvm_set_callback_via: a new callback reaches upcalls already
         * pending (the guest may have raised them before choosing it). */
        if (p.index == HVM_PARAM_CALLBACK_IRQ)
            for (unsigned i = 0; i < v->dom->nr_vcpus; i++) {
                struct vcpu_info *vi = xs_vcpu_info(&v->dom->vcpus[i]);
                if (vi && vi->evtchn_upcall_pending)
                    xs_callback_assert(&v->dom->vcpus[i]);
            }
        return 0;
    }
    if (!(guest_access[p.index] & MAY_GET)) return -XEN_EPERM;
    p.value = v->dom->hvm_params[p.index];
    return xs_copy_to_guest(v->dom, arg, &p, sizeof(p));
}

static long hvm_get_time(struct xs_vcpu *v, uint64_t arg)
{
    struct xen_hvm_get_time t = {.now = v->dom->sim->vtime_ns};
    return xs_copy_to_guest(v->dom, arg, &t, sizeof(t));
}

static long hvm_set_param(struct xs_vcpu *v, uint64_t arg)
{
    return hvm_param(v, arg, true);
}

static long hvm_get_param(struct xs_vcpu *v, uint64_t arg)
{
    return hvm_param(v, arg, false);
}

/* Xen's hvmop_set_evtchn_upcall_vector.  Xen 4.17 then marks the vector
 * pending unconditionally (a spurious upcall); xensim latches it only when
 * an upcall is actually pending, as later Xen does for a disabled LAPIC. */
static long hvm_set_evtchn_upcall_vector(struct xs_vcpu *v, uint64_t arg)
{
    struct xen_hvm_evtchn_upcall_vector u;
    if (xs_copy_from_guest(v->dom, &u, arg, sizeof(u))) return -XEN_EFAULT;
    if (u.vector < 0x10) return -XEN_EINVAL;
    struct xs_vcpu *t = xs_vcpu_of(v->dom, u.vcpu);
    if (!t) return -XEN_ENOENT;
    t->upcall_vector = u.vector;
    struct vcpu_info *vi = xs_vcpu_info(t);
    if (vi && vi->evtchn_upcall_pending) xs_callback_assert(t);
    return 0;
}

typedef long (*hvm_fn)(struct xs_vcpu *v, uint64_t arg);
static const hvm_fn ops[] = {
    [HVMOP_set_param] = hvm_set_param,
    [HVMOP_get_param] = hvm_get_param,
    [HVMOP_get_time] = hvm_get_time,
    [HVMOP_set_evtchn_upcall_vector] = hvm_set_evtchn_upcall_vector,
};

long xs_hc_hvm_op(struct xs_vcpu *v, const uint64_t a[5])
{
    if (a[0] >= sizeof(ops) / sizeof(ops[0]) || !ops[a[0]]) return -XEN_ENOSYS;
    return ops[a[0]](v, a[1]);
}
