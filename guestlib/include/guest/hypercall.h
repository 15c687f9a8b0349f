/* Hypercalls through the page the hypervisor filled: slot nr*32, arguments in
 * rdi, rsi, rdx, r10, r8, result in rax (Xen's 64-bit HVM convention). */
#ifndef GUEST_HYPERCALL_H
#define GUEST_HYPERCALL_H
#include <guest/xen.h>

extern uint8_t hypercall_page[PAGE_SIZE];

static inline long _hypercall(unsigned nr, unsigned long a1, unsigned long a2,
                              unsigned long a3, unsigned long a4, unsigned long a5)
{
    register unsigned long rdi __asm__("rdi") = a1;
    register unsigned long rsi __asm__("rsi") = a2;
    register unsigned long rdx __asm__("rdx") = a3;
    register unsigned long r10 __asm__("r10") = a4;
    register unsigned long r8 __asm__("r8") = a5;
    long rax;
    void *slot = hypercall_page + nr * 32;
    __asm__ __volatile__("call *%[slot]"
                         : "=a"(rax), "+r"(rdi), "+r"(rsi), "+r"(rdx), "+r"(r10), "+r"(r8)
                         : [slot] "r"(slot)
                         : "memory", "cc");
    return rax;
}

#define HC(nr, a1, a2, a3, a4, a5)                                                       \
    _hypercall(nr, (unsigned long)(a1), (unsigned long)(a2), (unsigned long)(a3),        \
               (unsigned long)(a4), (unsigned long)(a5))

/* One wrapper per hypercall family a PVH guest may use. */
static inline long HYPERVISOR_set_timer_op(uint64_t timeout)
{
    return HC(__HYPERVISOR_set_timer_op, timeout, 0, 0, 0, 0);
}
static inline long HYPERVISOR_memory_op(unsigned cmd, void *arg)
{
    return HC(__HYPERVISOR_memory_op, cmd, arg, 0, 0, 0);
}
static inline long HYPERVISOR_multicall(multicall_entry_t *calls, unsigned n)
{
    return HC(__HYPERVISOR_multicall, calls, n, 0, 0, 0);
}
static inline long HYPERVISOR_xen_version(int cmd, void *arg)
{
    return HC(__HYPERVISOR_xen_version, cmd, arg, 0, 0, 0);
}
static inline long HYPERVISOR_console_io(int cmd, unsigned count, const void *buf)
{
    return HC(__HYPERVISOR_console_io, cmd, count, buf, 0, 0);
}
static inline long HYPERVISOR_grant_table_op(unsigned cmd, void *uop, unsigned count)
{
    return HC(__HYPERVISOR_grant_table_op, cmd, uop, count, 0, 0);
}
static inline long HYPERVISOR_vcpu_op(int cmd, unsigned vcpu, void *arg)
{
    return HC(__HYPERVISOR_vcpu_op, cmd, vcpu, arg, 0, 0);
}
static inline long HYPERVISOR_mmuext_op(void *op, unsigned count, unsigned *done,
                                        domid_t dom)
{
    return HC(__HYPERVISOR_mmuext_op, op, count, done, dom, 0);
}
static inline long HYPERVISOR_xsm_op(void *op)
{
    return HC(__HYPERVISOR_xsm_op, op, 0, 0, 0, 0);
}
static inline long HYPERVISOR_sched_op(int cmd, void *arg)
{
    return HC(__HYPERVISOR_sched_op, cmd, arg, 0, 0, 0);
}
static inline long HYPERVISOR_event_channel_op(int cmd, void *arg)
{
    return HC(__HYPERVISOR_event_channel_op, cmd, arg, 0, 0, 0);
}
static inline long HYPERVISOR_physdev_op(int cmd, void *arg)
{
    return HC(__HYPERVISOR_physdev_op, cmd, arg, 0, 0, 0);
}
static inline long HYPERVISOR_hvm_op(int cmd, void *arg)
{
    return HC(__HYPERVISOR_hvm_op, cmd, arg, 0, 0, 0);
}
static inline long HYPERVISOR_sysctl(void *arg)
{
    return HC(__HYPERVISOR_sysctl, arg, 0, 0, 0, 0);
}
static inline long HYPERVISOR_domctl(void *arg)
{
    return HC(__HYPERVISOR_domctl, arg, 0, 0, 0, 0);
}
static inline long HYPERVISOR_platform_op(void *arg)
{
    return HC(__HYPERVISOR_platform_op, arg, 0, 0, 0, 0);
}
static inline long HYPERVISOR_xenpmu_op(unsigned op, void *arg)
{
    return HC(__HYPERVISOR_xenpmu_op, op, arg, 0, 0, 0);
}
static inline long HYPERVISOR_dm_op(domid_t dom, unsigned nr, void *bufs)
{
    return HC(__HYPERVISOR_dm_op, dom, nr, bufs, 0, 0);
}
static inline long HYPERVISOR_hypfs_op(unsigned cmd, const char *path, unsigned long plen,
                                       void *buf, unsigned long blen)
{
    return HC(__HYPERVISOR_hypfs_op, cmd, path, plen, buf, blen);
}
static inline long HYPERVISOR_argo_op(unsigned cmd, void *a1, void *a2, unsigned long a3,
                                      unsigned long a4)
{
    return HC(__HYPERVISOR_argo_op, cmd, a1, a2, a3, a4);
}

static inline long hvm_get_param(unsigned idx, uint64_t *val)
{
    struct xen_hvm_param p = {.domid = DOMID_SELF, .index = idx};
    long rc = HYPERVISOR_hvm_op(HVMOP_get_param, &p);
    if (rc == 0) *val = p.value;
    return rc;
}
static inline long hvm_set_param(unsigned idx, uint64_t val)
{
    struct xen_hvm_param p = {.domid = DOMID_SELF, .index = idx, .value = val};
    return HYPERVISOR_hvm_op(HVMOP_set_param, &p);
}
#endif
