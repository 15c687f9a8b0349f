/* Time from Xen: pvclock in vcpu_info (odd/even version protocol) and the
 * wall clock in shared_info.  The pvclock is per vCPU (each has its own TSC
 * scale and offset on real hardware), so each CPU reads its own vcpu_info. */
#include <guest/kernel.h>
#include <guest/arch.h>
#include <guest/percpu.h>
#include <guest/time.h>

static uint64_t pvclock_scale(uint64_t delta, uint32_t mul, int8_t shift)
{
    if (shift < 0)
        delta >>= -shift;
    else
        delta <<= shift;
    return (uint64_t)(((unsigned __int128)delta * mul) >> 32);
}

uint64_t time_monotonic_ns(void)
{
    struct vcpu_info *vi = this_cpu()->vi;
    if (!boot.shared_info || !vi) return 0;
    volatile struct vcpu_time_info *t = &vi->time;
    uint32_t ver;
    uint64_t ns;
    bool torn;
    do {
        ver = t->version;
        barrier();
        uint64_t tsc = rdtsc();
        uint64_t stamp = t->tsc_timestamp;
        ns = t->system_time +
             pvclock_scale(tsc - stamp, t->tsc_to_system_mul, t->tsc_shift);
        barrier();
        /* A TSC older than the stamp: this CPU was stopped between the two
         * (a suspend parks it from an IPI) and came back to a vcpu_info
         * written again -- with the same version, since a resume starts it
         * over.  Read again rather than return a time 2^63 ns away. */
        torn = (int64_t)(tsc - stamp) < 0;
    } while ((ver & 1) || ver != t->version || torn);
    return ns;
}

void time_wallclock(uint64_t *sec, uint32_t *nsec)
{
    *sec = 0;
    *nsec = 0;
    if (!boot.shared_info) return;
    volatile shared_info_t *s = boot.shared_info;
    uint32_t ver;
    uint64_t wsec;
    uint32_t wnsec;
    do {
        ver = s->wc_version;
        barrier();
        wsec = s->wc_sec | ((uint64_t)s->xen_wc_sec_hi << 32);
        wnsec = s->wc_nsec;
        barrier();
    } while ((ver & 1) || ver != s->wc_version);
    uint64_t total = wnsec + time_monotonic_ns();
    *sec = wsec + total / 1000000000ULL;
    *nsec = (uint32_t)(total % 1000000000ULL);
}
