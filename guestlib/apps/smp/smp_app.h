/* The smp test app's shared pieces (see main.c for the tests). */
#ifndef SMP_APP_H
#define SMP_APP_H
#include <guest/kernel.h>
#include <guest/evtchn.h>
#include <guest/hypercall.h>
#include <guest/ipi.h>
#include <guest/irq.h>
#include <guest/percpu.h>
#include <guest/printk.h>
#include <guest/smp.h>
#include <guest/string.h>
#include <guest/time.h>
#include <guest/timer.h>

int test_ipi(void);
int test_timers(void);
int test_limits(void);
int test_bench(void);

/* Every online CPU runs fn(arg) at once (guest/smp.h). */
#define run_on_all_cpus(fn, arg) smp_call_all((fn), (arg), SMP_TIMEOUT_NS)
/* "EINVAL" for -XEN_EINVAL, "0" for 0, a number otherwise. */
const char *errname(long rc);
#endif
