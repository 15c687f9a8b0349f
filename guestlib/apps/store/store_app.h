/* The store test app's shared pieces (see main.c for the tests). */
#ifndef STORE_APP_H
#define STORE_APP_H
#include <guest/kernel.h>
#include <guest/evtchn.h>
#include <guest/hypercall.h>
#include <guest/irq.h>
#include <guest/printk.h>
#include <guest/smp.h>
#include <guest/string.h>
#include <guest/time.h>
#include <guest/xenbus.h>
#include <guest/xenstore.h>

/* How long a test waits for a watch event or another CPU (virtual). */
#define STORE_WAIT_NS ((uint64_t)500 * 1000 * 1000)

extern unsigned self_domid;
extern char home[32]; /* "/local/domain/<domid>" */

int test_basic(void);
int test_badring(void);
int test_txn(void);
int test_bench(void);

/* Every online CPU runs fn(arg) at once (guest/smp.h). */
#define run_on_all_cpus(fn, arg) smp_call_all((fn), (arg), 20 * SMP_TIMEOUT_NS)
#endif
