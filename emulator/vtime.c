/* pvclock and wall clock in the guest's shared_info / vcpu_info. */
#include <stdint.h>
#include <xen/arch-x86/xen.h>
#include "vtime.h"

void xs_pvclock_update(struct xs_vcpu *v)
{
    struct xs_sim *sim = v->dom->sim;
    struct vcpu_info *vi = xs_vcpu_info(v);
    /* The virtual TSC is exactly 2 GHz, so one write stays correct forever;
     * rewriting it while the guest reads would only make it retry. */
    if (!vi || !v->pvclock_stale) return;
    struct vcpu_time_info *t = &vi->time;
    /* Readers retry while the version is odd or changed under them. */
    uint32_t ver = t->version & ~1u;
    __atomic_store_n(&t->version, ver + 1, __ATOMIC_RELEASE);
    t->tsc_timestamp = xs_vtsc(sim);
    t->system_time = sim->vtime_ns;
    t->tsc_to_system_mul = 1u << 31; /* ns = (tsc * 2^31) >> 32 = tsc / 2 */
    t->tsc_shift = 0;
    t->flags = XEN_PVCLOCK_TSC_STABLE_BIT;
    __atomic_store_n(&t->version, ver + 2, __ATOMIC_RELEASE);
    v->pvclock_stale = false;
}

void xs_wallclock_init(struct xs_domain *d)
{
    shared_info_t *s = d->shared_info;
    s->wc_version++;
    s->wc_sec = (uint32_t)XS_WALLCLOCK_EPOCH;
    s->xen_wc_sec_hi = (uint32_t)(XS_WALLCLOCK_EPOCH >> 32);
    s->wc_nsec = 0;
    s->wc_version++;
}
