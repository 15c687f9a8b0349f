#ifndef XS_CPUID_H
#define XS_CPUID_H
#include "sim.h"
/* CPUID as the guest sees it through Xen's forced-emulation prefix: Xen's
 * leaves at 0x40000000, fixed synthetic values elsewhere (never the host's,
 * so runs are identical on any machine). */
void xs_cpuid(struct xs_vcpu *v, uint32_t leaf, uint32_t subleaf, uint32_t out[4]);
#endif
