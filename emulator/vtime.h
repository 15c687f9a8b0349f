/* Virtual time.  It advances only by the cost model below, charged at each
 * VM exit, and by idle jumps to the next deadline; never by the host clock.
 * The virtual TSC runs at 2 GHz, so tsc = 2 * ns exactly. */
#ifndef XS_VTIME_H
#define XS_VTIME_H
#include "sim.h"

#define XS_VTSC_KHZ            2000000u
#define XS_COST_GUEST_SLICE_NS 100 /* guest work between two exits */
#define XS_COST_HYPERCALL_NS   150
#define XS_COST_TRAP_NS        400 /* an emulated instruction */
#define XS_COST_RDTSC_NS       20

/* Xen's epoch for the default wall clock: 2026-01-01T00:00:00Z. */
#define XS_WALLCLOCK_EPOCH 1767225600ULL

static inline uint64_t xs_vtsc(const struct xs_sim *sim)
{
    return sim->vtime_ns * 2;
}
/* Write vcpu_info.time (odd/even version protocol) if it is stale. */
void xs_pvclock_update(struct xs_vcpu *v);
void xs_wallclock_init(struct xs_domain *d);
#endif
