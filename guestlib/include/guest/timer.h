/* The PV timer: per-CPU one-shot event timers on VIRQ_TIMER and
 * VCPUOP_set_singleshot_timer, over the pvclock timecounter (time.h).
 *
 * Timers are per CPU, as the hypervisor's one-shot timer is per vCPU: a
 * timer is armed on the CPU that calls timer_set() and its callback runs
 * there, in the VIRQ_TIMER handler (interrupts off), never before its
 * deadline. */
#ifndef GUEST_TIMER_H
#define GUEST_TIMER_H
#include <guest/types.h>

struct timer;
typedef void (*timer_fn_t)(struct timer *t, void *arg);

struct timer {
    uint64_t deadline; /* absolute pvclock ns */
    timer_fn_t fn;
    void *arg;
    struct timer *next;
    unsigned cpu;
    bool armed;
};

/* This CPU: bind VIRQ_TIMER, stop the periodic timer Xen may run. */
void timer_cpu_init(void);
/* After a resume in a new domain, on each CPU as it comes back: arm the
 * hypervisor's one-shot timer for this CPU's earliest timer again (the
 * old domain's timer died with it).  VIRQ_TIMER itself is bound again for
 * every CPU by the resume hook. */
void timer_cpu_resume(void);

void timer_init(struct timer *t, timer_fn_t fn, void *arg);
/* Arm (or re-arm) t on this CPU for absolute time deadline_ns; a deadline
 * in the past fires as soon as possible. */
void timer_set(struct timer *t, uint64_t deadline_ns);
/* Disarm t (on the CPU that armed it); true if it was armed. */
bool timer_cancel(struct timer *t);

/* Raw access for tests: one-shot with Xen's flags (VCPU_SSHOTTMR_future),
 * periodic, and a hook run on every VIRQ_TIMER of this CPU. */
long timer_hw_singleshot(uint64_t deadline_ns, uint32_t flags);
long timer_hw_stop_singleshot(void);
long timer_hw_periodic(uint64_t period_ns); /* 0 stops it */
void timer_set_tick_hook(void (*hook)(void));
uint64_t timer_virq_count(void);
#endif
