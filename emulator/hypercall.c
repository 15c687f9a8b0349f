/* The hypercall registry, dispatch, and the hypercall page. */
#include <stdint.h>
#include <string.h>
#include <xen/xen.h>
#include <xen/errno.h>

#include "evtchn.h"
#include "gnttab.h"
#include "guest_mem.h"
#include "hypercall.h"
#include "sim.h"
#include "vmentry.h"
#include "vtime.h"

struct hypercall_desc {
    const char *name;
    xs_hypercall_fn fn; /* NULL: known to Xen, not provided by xensim (-ENOSYS) */
};

static const struct hypercall_desc registry[] = {
    [__HYPERVISOR_set_trap_table] = {"set_trap_table", NULL},
    [__HYPERVISOR_mmu_update] = {"mmu_update", NULL},
    [__HYPERVISOR_set_gdt] = {"set_gdt", NULL},
    [__HYPERVISOR_stack_switch] = {"stack_switch", NULL},
    [__HYPERVISOR_set_callbacks] = {"set_callbacks", NULL},
    [__HYPERVISOR_fpu_taskswitch] = {"fpu_taskswitch", NULL},
    [__HYPERVISOR_sched_op_compat] = {"sched_op_compat", NULL},
    [__HYPERVISOR_platform_op] = {"platform_op", NULL},
    [__HYPERVISOR_set_debugreg] = {"set_debugreg", NULL},
    [__HYPERVISOR_get_debugreg] = {"get_debugreg", NULL},
    [__HYPERVISOR_update_descriptor] = {"update_descriptor", NULL},
    [__HYPERVISOR_memory_op] = {"memory_op", xs_hc_memory_op},
    [__HYPERVISOR_multicall] = {"multicall", NULL},
    [__HYPERVISOR_update_va_mapping] = {"update_va_mapping", NULL},
    [__HYPERVISOR_set_timer_op] = {"set_timer_op", xs_hc_set_timer_op},
    [__HYPERVISOR_event_channel_op_compat] = {"event_channel_op_compat", NULL},
    [__HYPERVISOR_xen_version] = {"xen_version", xs_hc_xen_version},
    [__HYPERVISOR_console_io] = {"console_io", xs_hc_console_io},
    [__HYPERVISOR_physdev_op_compat] = {"physdev_op_compat", NULL},
    [__HYPERVISOR_grant_table_op] = {"grant_table_op", xs_hc_grant_table_op},
    [__HYPERVISOR_vm_assist] = {"vm_assist", NULL},
    [__HYPERVISOR_update_va_mapping_otherdomain] = {"update_va_mapping_otherdomain",
                                                    NULL},
    [__HYPERVISOR_iret] = {"iret", NULL},
    [__HYPERVISOR_vcpu_op] = {"vcpu_op", xs_hc_vcpu_op},
    [__HYPERVISOR_set_segment_base] = {"set_segment_base", NULL},
    [__HYPERVISOR_mmuext_op] = {"mmuext_op", NULL},
    [__HYPERVISOR_xsm_op] = {"xsm_op", NULL},
    [__HYPERVISOR_nmi_op] = {"nmi_op", NULL},
    [__HYPERVISOR_sched_op] = {"sched_op", xs_hc_sched_op},
    [__HYPERVISOR_callback_op] = {"callback_op", NULL},
    [__HYPERVISOR_xenoprof_op] = {"xenoprof_op", NULL},
    [__HYPERVISOR_event_channel_op] = {"event_channel_op", xs_hc_event_channel_op},
    [__HYPERVISOR_physdev_op] = {"physdev_op", NULL},
    [__HYPERVISOR_hvm_op] = {"hvm_op", xs_hc_hvm_op},
    [__HYPERVISOR_sysctl] = {"sysctl", NULL},
    [__HYPERVISOR_domctl] = {"domctl", NULL},
    [__HYPERVISOR_kexec_op] = {"kexec_op", NULL},
    [__HYPERVISOR_tmem_op] = {"tmem_op", NULL},
    [__HYPERVISOR_argo_op] = {"argo_op", NULL},
    [__HYPERVISOR_xenpmu_op] = {"xenpmu_op", NULL},
    [__HYPERVISOR_dm_op] = {"dm_op", NULL},
    [__HYPERVISOR_hypfs_op] = {"hypfs_op", NULL},
};

#define NR_REGISTRY (sizeof(registry) / sizeof(registry[0]))

const char *xs_hypercall_name(unsigned nr)
{
    return nr < NR_REGISTRY ? registry[nr].name : NULL;
}

long xs_hypercall_call(struct xs_vcpu *v, unsigned nr, const uint64_t a[5])
{
    if (nr >= NR_REGISTRY || !registry[nr].fn) return -XEN_ENOSYS;
    return registry[nr].fn(v, a);
}

void xs_hypercall_dispatch(struct xs_vcpu *v)
{
    struct xs_domain *d = v->dom;
    struct xs_sim *sim = d->sim;
    struct xs_regs *r = &v->regs;
    uint64_t nr = r->rax;
    uint64_t a[5] = {r->rdi, r->rsi, r->rdx, r->r10, r->r8};
    sim->vtime_ns += XS_COST_HYPERCALL_NS;
    long ret = nr > 0xffff ? -XEN_ENOSYS : xs_hypercall_call(v, (unsigned)nr, a);
    r->rax = (uint64_t)ret;
    uint64_t ta[5];
    for (int i = 0; i < 5; i++)
        ta[i] = xs_gva_for_trace(d, a[i]);
    xs_trace_emit(&sim->trace, sim->vtime_ns, d->domid, v->id, XS_TR_HYPERCALL,
                  (unsigned)(nr > 0xffff ? 0xffff : nr), ta, 5, ret, NULL, 0);
}

/* Slot layouts: direct mode jumps straight into the simulator.  vmcall mode
 * traps like Xen's HVM stubs (mov $nr,%eax; vmcall; ret), with a ud2 in
 * front: inside a KVM guest, KVM answers a user-mode vmcall itself instead
 * of faulting, and every host must run the same bytes for the same trace. */
int xs_hypercall_page_fill(struct xs_vcpu *v, uint64_t gpa)
{
    struct xs_domain *d = v->dom;
    uint8_t *page = xs_gpa_ptr(d, gpa, XS_PAGE_SIZE);
    if (!page || (gpa & (XS_PAGE_SIZE - 1))) return -1;
    /* Xen wants the guest's own RAM there, not a granted page. */
    if (xs_gnttab_gfn_is_mapping(d, gpa / XS_PAGE_SIZE)) return -1;
    memset(page, 0xcc, XS_PAGE_SIZE); /* int3 between slots */
    uint64_t target = (uint64_t)(uintptr_t)xs_hc_direct_entry;
    for (unsigned i = 0; i < XS_PAGE_SIZE / 32; i++) {
        uint8_t *s = page + i * 32;
        s[0] = 0xb8; /* mov $i, %eax */
        memcpy(s + 1, &i, 4);
        if (d->hc_mode == XS_HC_DIRECT) {
            static const uint8_t jmp_rip[] = {0xff, 0x25, 0, 0, 0, 0}; /* jmp *0(%rip) */
            memcpy(s + 5, jmp_rip, sizeof(jmp_rip));
            memcpy(s + 11, &target, 8);
        } else {
            static const uint8_t vmcall_ret[] = {0x0f, 0x0b, 0x0f, 0x01, 0xc1, 0xc3};
            memcpy(s + 5, vmcall_ret, sizeof(vmcall_ret));
        }
    }
    d->hypercall_page_gpa = gpa;
    return 0;
}
