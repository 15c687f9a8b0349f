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

/* Run fn(arg) on every online CPU at once (each AP in its idle loop, the
 * boot CPU too) and wait for all.  0 or -XEN_ETIMEDOUT. */
long run_on_all_cpus(void (*fn)(void *), void *arg);
#endif
