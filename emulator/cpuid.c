#include <stdint.h>
#include <string.h>
#include <xen/arch-x86/cpuid.h>
#include "cpuid.h"
#include "hypercall.h"
#include "vtime.h"

/* What the guest reads at 0x40000000 + n, one function per leaf. */
typedef void (*leaf_fn)(struct xs_vcpu *v, uint32_t sub, uint32_t out[4]);

static void leaf_signature(struct xs_vcpu *v, uint32_t sub, uint32_t out[4])
{
    (void)v, (void)sub;
    out[0] = XEN_CPUID_LEAF(XEN_CPUID_MAX_NUM_LEAVES - 1);
    out[1] = XEN_CPUID_SIGNATURE_EBX;
    out[2] = XEN_CPUID_SIGNATURE_ECX;
    out[3] = XEN_CPUID_SIGNATURE_EDX;
}

static void leaf_version(struct xs_vcpu *v, uint32_t sub, uint32_t out[4])
{
    (void)v, (void)sub;
    out[0] = XS_XEN_MAJOR << 16 | XS_XEN_MINOR;
}

static void leaf_hypercall_page(struct xs_vcpu *v, uint32_t sub, uint32_t out[4])
{
    (void)v, (void)sub;
    out[0] = 1;                /* number of hypercall transfer pages */
    out[1] = XS_HYPERCALL_MSR; /* MSR whose write installs them */
}

static void leaf_tsc(struct xs_vcpu *v, uint32_t sub, uint32_t out[4])
{
    (void)v;
    if (sub == 0) {
        out[1] = 1; /* TSC_MODE_ALWAYS_EMULATE: every rdtsc is emulated */
        out[2] = XS_VTSC_KHZ;
    } else if (sub == 2) {
        out[0] = XS_VTSC_KHZ;
    }
}

static void leaf_hvm(struct xs_vcpu *v, uint32_t sub, uint32_t out[4])
{
    (void)sub;
    out[0] = XEN_HVM_CPUID_VCPU_ID_PRESENT | XEN_HVM_CPUID_DOMID_PRESENT;
    out[1] = v->id;
    out[2] = v->dom->domid;
}

static const leaf_fn xen_leaves[XEN_CPUID_MAX_NUM_LEAVES] = {
    leaf_signature, leaf_version, leaf_hypercall_page, leaf_tsc, leaf_hvm,
};

void xs_cpuid(struct xs_vcpu *v, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
    memset(out, 0, 4 * sizeof(uint32_t));
    if (leaf >= XEN_CPUID_FIRST_LEAF && leaf < XEN_CPUID_LEAF(XEN_CPUID_MAX_NUM_LEAVES)) {
        xen_leaves[leaf - XEN_CPUID_FIRST_LEAF](v, subleaf, out);
        return;
    }
    switch (leaf) {
    case 0:
        out[0] = 0xd;
        memcpy(&out[1], "Genu", 4);
        memcpy(&out[3], "ineI", 4);
        memcpy(&out[2], "ntel", 4);
        break;
    case 1:
        out[0] = 0x000906ea;                      /* family 6 */
        out[1] = (v->id & 0xff) << 24 | 1u << 16; /* initial APIC id */
        out[2] = 1u << 31 | 1u << 0;              /* hypervisor, sse3 */
        out[3] = 0x078bfbff;                      /* fpu..sse2, tsc, msr, apic */
        break;
    default:
        break;
    }
}
