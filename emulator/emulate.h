#ifndef XS_EMULATE_H
#define XS_EMULATE_H
#include "sim.h"
/* A vCPU left guest code through a signal: emulate the trapped instruction,
 * or crash the domain with a report if it was a fault. */
void xs_emulate_signal_exit(struct xs_vcpu *v);
#endif
