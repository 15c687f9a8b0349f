/* smp: event channels, SMP bring-up, PV timers and PV IPIs under test.
 *
 *   test=ipi     IPI matrix with exact counts, a concurrent IPI storm,
 *                cross-CPU calls, bind_vcpu, rendezvous rounds, TLB
 *                shootdowns, FIFO priorities (test_ipi.c)
 *   test=timers  one-shot timers at chosen virtual times on every CPU,
 *                VCPU_SSHOTTMR_future, set_timer_op, periodic (test_timers.c)
 *   test=limits  port exhaustion, bad ports, close while pending, Xen's
 *                errnos, FIFO array limit (test_limits.c)
 *   test=bench   event latency and IPI rate in virtual time (test_bench.c)
 * Other switches: evtchn=2l|fifo, callback=vector|percpu|legacy,
 * irq=pv|cli, maxcpus=N.
 *
 * Results are printed by the boot CPU in CPU order, so the console reads
 * the same for every seed except for timings; counts never depend on the
 * seed or the event ABI.  A test that fails prints FAIL and the domain
 * ends with SHUTDOWN_crash. */
#include "smp_app.h"

const char *errname(long rc)
{
    static char buf[24];
    switch (rc) {
    case 0:
        return "0";
    case -XEN_EPERM:
        return "EPERM";
    case -XEN_ENOENT:
        return "ENOENT";
    case -XEN_ESRCH:
        return "ESRCH";
    case -XEN_ENOMEM:
        return "ENOMEM";
    case -XEN_EFAULT:
        return "EFAULT";
    case -XEN_EEXIST:
        return "EEXIST";
    case -XEN_EINVAL:
        return "EINVAL";
    case -XEN_ENOSPC:
        return "ENOSPC";
    case -XEN_ENOSYS:
        return "ENOSYS";
    case -XEN_ETIME:
        return "ETIME";
    case -XEN_EOPNOTSUPP:
        return "EOPNOTSUPP";
    case -XEN_ETIMEDOUT:
        return "ETIMEDOUT";
    default:
        snprintf(buf, sizeof(buf), "%ld", rc);
        return buf;
    }
}

int app_main(void)
{
    char test[16];
    if (!cmdline_get("test", test, sizeof(test))) memcpy(test, "ipi", 4);
    if (!boot.xen) {
        printk("smp: no Xen found, nothing to test\n");
        return 0;
    }
    smp_init();
    unsigned online = smp_start();
    printk("smp: %u of %u cpus online, evtchn %s, callback %s, irq %s\n", online, nr_cpus,
           evtchn_abi_name(), evtchn_callback_name(), irq_mode_name());
    printk("smp: %u ports bound (%u per cpu), limit %u\n", evtchn_nr_bound(),
           evtchn_nr_bound() / online, evtchn_max_ports());
    if (online != nr_cpus) {
        printk("smp: FAIL: cpus missing\n");
        return 1;
    }
    int rc;
    if (!strcmp(test, "ipi"))
        rc = test_ipi();
    else if (!strcmp(test, "timers"))
        rc = test_timers();
    else if (!strcmp(test, "limits"))
        rc = test_limits();
    else if (!strcmp(test, "bench"))
        rc = test_bench();
    else {
        printk("smp: unknown test=%s\n", test);
        return 1;
    }
    printk("smp: test %s %s\n", test, rc ? "FAILED" : "passed");
    return rc;
}
