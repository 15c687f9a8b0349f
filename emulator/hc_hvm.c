/* hvm_op: HVM parameters (with Xen's guest permission rules) and time. */
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

long xs_hc_hvm_op(struct xs_vcpu *v, const uint64_t a[5])
{
    switch (a[0]) {
    case HVMOP_set_param:
        return hvm_param(v, a[1], true);
    case HVMOP_get_param:
        return hvm_param(v, a[1], false);
    case HVMOP_get_time:
        return hvm_get_time(v, a[1]);
    default:
        return -XEN_ENOSYS;
    }
}
