#ifndef GUEST_TIME_H
#define GUEST_TIME_H
#include <guest/types.h>
/* Nanoseconds of Xen system time from this CPU's pvclock (0 without Xen). */
uint64_t time_monotonic_ns(void);
/* Wall clock (seconds, nanoseconds since the epoch) from shared_info. */
void time_wallclock(uint64_t *sec, uint32_t *nsec);
#endif
