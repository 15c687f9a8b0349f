/* SMP: bringing up the other vCPUs, locks and waiting that let other vCPUs
 * run, cross-CPU calls and rendezvous.
 *
 * Every wait loop yields the vCPU (SCHEDOP_yield) or blocks
 * (SCHEDOP_block): a vCPU that spins without trapping never lets the others
 * run under xensim, and wastes its time slice on Xen. */
#ifndef GUEST_SMP_H
#define GUEST_SMP_H
#include <guest/percpu.h>

/* ---- bring-up ---- */

/* Count the domain's vCPUs (at most maxcpus=N from the cmdline), give each
 * a per-CPU area, register CPU 0's own vcpu_info.  Boot CPU, once. */
void smp_init(void);
/* Event channels, timer and IPIs on the boot CPU, then start every AP and
 * wait until all reported online.  Returns the number of CPUs online. */
unsigned smp_start(void);
unsigned smp_nr_online(void);
bool cpu_online(unsigned cpu);
/* After a resume in a new domain, on the resuming CPU with the others
 * down: every CPU's own vcpu_info registered again (events stay masked on
 * each, as they were when it stopped). */
void smp_resume_vcpu_info(void);

/* ---- yielding and waiting ---- */

/* Give the physical CPU away once (SCHEDOP_yield; pause without Xen). */
void cpu_yield(void);
/* Block until an event arrives for this CPU (SCHEDOP_block with the
 * check-then-block race closed); interrupts are on when it returns. */
void cpu_block(void);

/* Bounded waiting for other CPUs: for (wait_begin(&w, ns); !cond;) if
 * (!wait_step(&w)) ...  wait_step yields and returns false once the
 * deadline (virtual time) has passed. */
struct waiter {
    uint64_t deadline;
};
void wait_begin(struct waiter *w, uint64_t timeout_ns);
bool wait_step(struct waiter *w);
/* Block (not spin) until cond(arg) is true -- set by one of this CPU's
 * event handlers, or by another CPU that then sends this one an event --
 * or timeout_ns passed (a one-shot timer wakes us).  Returns cond's last
 * value.  Needs this CPU's timer (timer_cpu_init). */
bool wait_event(bool (*cond)(void *), void *arg, uint64_t timeout_ns);

/* ---- locks ---- */

typedef struct {
    uint32_t locked;
} spinlock_t;
#define SPINLOCK_INIT                                                                    \
    {                                                                                    \
        0                                                                                \
    }
void spin_lock(spinlock_t *l);
bool spin_trylock(spinlock_t *l);
void spin_unlock(spinlock_t *l);

/* ---- cross-CPU calls (over the CALL IPI) ---- */

/* Run fn(arg) on cpu inside its IPI handler (interrupts off there: fn must
 * not wait for events) and wait until it has run.  0, or -XEN_ETIMEDOUT
 * if the target never answered (fn may still run later). */
long smp_call(unsigned cpu, void (*fn)(void *), void *arg);
/* Hand fn(arg) to cpu's idle loop (thread context, interrupts on: fn may
 * wait for IPIs and timers).  Returns once posted; smp_call_wait() waits
 * for completion.  On the calling CPU itself fn runs at once. */
long smp_call_async(unsigned cpu, void (*fn)(void *), void *arg);
/* Post fn(arg) to run in cpu's IPI handler, as smp_call does, without
 * waiting: smp_call_wait() collects it. */
long smp_call_post(unsigned cpu, void (*fn)(void *), void *arg);
long smp_call_wait(unsigned cpu, uint64_t timeout_ns);
/* Run fn(arg) on every online CPU at once (each other CPU in its idle
 * loop, the caller itself too) and wait up to timeout_ns for each.  0, or
 * -XEN_ETIMEDOUT if a CPU did not finish in time. */
long smp_call_all(void (*fn)(void *), void *arg, uint64_t timeout_ns);

/* Every online CPU runs setup, then (once all have) action, then (once
 * all have) teardown; the caller takes part.  NULL steps are skipped.
 * One rendezvous at a time.  0, or -XEN_ETIMEDOUT. */
long smp_rendezvous(void (*setup)(void *), void (*action)(void *),
                    void (*teardown)(void *), void *arg);

/* A TLB-shootdown-style broadcast: publish a new generation, IPI every
 * other online CPU, wait until each acknowledged it.  Returns the number of
 * CPUs that acknowledged. */
unsigned smp_tlb_shootdown(void);
uint64_t smp_tlb_generation(void);

/* How long remote waits may take before they are reported (virtual ns). */
#define SMP_TIMEOUT_NS ((uint64_t)200 * 1000 * 1000)

/* Atomics on plain integers (GCC/clang builtins, lock-prefixed on x86). */
#define atomic_load(p)     __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define atomic_store(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define atomic_add(p, v)   __atomic_add_fetch((p), (v), __ATOMIC_SEQ_CST)
#define atomic_xchg(p, v)  __atomic_exchange_n((p), (v), __ATOMIC_SEQ_CST)
#define atomic_cas(p, old, v)                                                            \
    __atomic_compare_exchange_n((p), (old), (v), false, __ATOMIC_SEQ_CST,                \
                                __ATOMIC_SEQ_CST)
#endif
