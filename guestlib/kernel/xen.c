/* Finding Xen and setting up the basic channels to it: CPUID leaves, the
 * hypercall page (installed by wrmsr), feature flags and shared_info. */
#include <guest/kernel.h>
#include <guest/arch.h>
#include <guest/hypercall.h>
#include <guest/printk.h>

uint8_t hypercall_page[PAGE_SIZE] __aligned(PAGE_SIZE) __section(".bss.pagealigned");
static uint8_t shared_info_page[PAGE_SIZE] __aligned(PAGE_SIZE)
    __section(".bss.pagealigned");

bool xen_detect(void)
{
    uint32_t r[4];
    /* Xen moves its leaves up by 0x100 when it also offers Viridian leaves. */
    for (uint32_t base = XEN_CPUID_FIRST_LEAF; base < XEN_CPUID_FIRST_LEAF + 0x10000;
         base += 0x100) {
        xen_cpuid(base, 0, r);
        if (r[1] == XEN_CPUID_SIGNATURE_EBX && r[2] == XEN_CPUID_SIGNATURE_ECX &&
            r[3] == XEN_CPUID_SIGNATURE_EDX && r[0] - base >= 2) {
            boot.xen_leaf_base = base;
            xen_cpuid(base + 1, 0, r);
            boot.xen_version = r[0];
            boot.xen = true;
            return true;
        }
    }
    return false;
}

void xen_hypercall_page_install(void)
{
    uint32_t r[4];
    xen_cpuid(boot.xen_leaf_base + 2, 0, r);
    if (r[0] < 1) panic("xen: CPUID leaf base+2 reports %u hypercall pages", r[0]);
    boot.hypercall_msr = r[1];
    wrmsr(r[1], va_to_pa(hypercall_page));
}

void xen_features_init(void)
{
    xen_feature_info_t fi = {.submap_idx = 0};
    if (HYPERVISOR_xen_version(XENVER_get_features, &fi) == 0)
        boot.features[0] = fi.submap;
}

void shared_info_resume(void)
{
    struct xen_add_to_physmap xatp = {.domid = DOMID_SELF,
                                      .space = XENMAPSPACE_shared_info,
                                      .idx = 0,
                                      .gpfn = boot.shared_info_pfn};
    long rc = HYPERVISOR_memory_op(XENMEM_add_to_physmap, &xatp);
    if (rc) panic("xen: resume: mapping shared_info failed: %ld", rc);
}

void shared_info_init(void)
{
    struct xen_add_to_physmap xatp = {
        .domid = DOMID_SELF,
        .space = XENMAPSPACE_shared_info,
        .idx = 0,
        .gpfn = va_to_pa(shared_info_page) >> PAGE_SHIFT,
    };
    long rc = HYPERVISOR_memory_op(XENMEM_add_to_physmap, &xatp);
    if (rc) panic("xen: mapping shared_info failed: %ld", rc);
    boot.shared_info = (shared_info_t *)shared_info_page;
    boot.shared_info_pfn = xatp.gpfn;
}
