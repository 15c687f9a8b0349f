/* regress: workloads for scenarios/regressions/ (see regress_app.h).
 *
 * Every mode starts the CPUs, xenstore and the control driver, so the
 * toolstack's suspend requests are taken, then runs:
 *   mode=console  console input read before and after a resume
 *                 (console.c)
 *   mode=split    block writes split over several ring requests, in
 *                 flight across resumes (split.c)
 *   mode=gone     a disk unplugged while the domain resumes (gone.c)
 *   mode=reorder  a disk reopened with other ring sizes after a resume
 *                 (reorder.c) */
#include <guest/control.h>
#include <guest/smp.h>
#include <guest/string.h>
#include <guest/time.h>
#include <guest/xenstore.h>

#include "regress_app.h"

#define PACE_NS ((uint64_t)200 * 1000)

unsigned regress_failures;

static bool never(void *arg)
{
    (void)arg;
    return false;
}

void regress_sleep(uint64_t ns)
{
    wait_event(never, NULL, ns);
}

bool regress_wait_resumes(uint64_t resumes, uint64_t timeout_ns, void (*poll)(void))
{
    const struct control_stats *cs = control_stats();
    uint64_t start = time_monotonic_ns();
    while (cs->resumes < resumes) {
        if (time_monotonic_ns() - start >= timeout_ns) return false;
        if (poll) poll();
        xenstore_run_watches();
        regress_sleep(PACE_NS);
    }
    return true;
}

int app_main(void)
{
    if (!boot.xen) {
        printk("regress: no Xen found, nothing to test\n");
        return 0;
    }
    smp_init();
    unsigned cpus = smp_start();
    long rc = xenstore_init();
    if (!rc) rc = control_init();
    if (rc) {
        printk("regress: FAIL: xenstore/control: %s\n", xenstore_errname(rc));
        return 1;
    }
    char mode[16] = "";
    cmdline_get("mode", mode, sizeof(mode));
    printk("regress: mode %s, %u cpus\n", mode, cpus);
    int ret;
    if (!strcmp(mode, "console"))
        ret = regress_console();
    else if (!strcmp(mode, "split"))
        ret = regress_split();
    else if (!strcmp(mode, "gone"))
        ret = regress_gone();
    else if (!strcmp(mode, "reorder"))
        ret = regress_reorder();
    else {
        printk("regress: FAIL: unknown mode \"%s\"\n", mode);
        return 1;
    }
    const struct control_stats *cs = control_stats();
    printk("regress: %lu suspend requests, %lu resumes, %lu cancels\n",
           (unsigned long)cs->requests, (unsigned long)cs->resumes,
           (unsigned long)cs->cancels);
    printk("regress: %s\n", ret || regress_failures ? "FAILED" : "done");
    return ret || regress_failures ? 1 : 0;
}
