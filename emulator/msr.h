#ifndef XS_MSR_H
#define XS_MSR_H
#include "sim.h"
/* MSR accesses the guest makes with rdmsr/wrmsr.  Returns 0, or -1 where Xen
 * would raise #GP in the guest (unknown MSR, bad value). */
int xs_msr_read(struct xs_vcpu *v, uint32_t msr, uint64_t *val);
int xs_msr_write(struct xs_vcpu *v, uint32_t msr, uint64_t val);
#endif
