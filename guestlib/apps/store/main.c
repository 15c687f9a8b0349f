/* store: the guest's xenstore client and xenbus under test.
 *
 *   test=basic  the nodes xl wrote, every request type, paths, permissions
 *               and Xen's errnos, quotas, watches, requests from every CPU
 *               at once, transactions and their conflicts, xenbus
 *               enumeration and a handshake (test_basic.c)
 *   test=badring  a response index out of range, as from a broken
 *               xenstored: counted, reported, not followed
 *   test=txn    two domains increment one counter in transactions from
 *               several CPUs each (role=owner|peer peer=DOMID n=N;
 *               test_txn.c)
 *   test=bench  requests per second in virtual time (ops=N; test_bench.c)
 * Other switches: evtchn=2l|fifo, callback=..., irq=... as for smp.
 *
 * Results are printed by the boot CPU in a fixed order, so the console
 * reads the same for every seed except for lines marked "(varies)".  A
 * failed check prints FAIL and the domain ends with SHUTDOWN_crash. */
#include "store_app.h"

unsigned self_domid;
char home[32];

int app_main(void)
{
    char test[16];
    if (!cmdline_get("test", test, sizeof(test))) memcpy(test, "basic", 6);
    if (!boot.xen) {
        printk("store: no Xen found, nothing to test\n");
        return 0;
    }
    smp_init();
    unsigned online = smp_start();
    printk("store: %u of %u cpus online, evtchn %s, callback %s, irq %s\n", online,
           nr_cpus, evtchn_abi_name(), evtchn_callback_name(), irq_mode_name());
    if (online != nr_cpus) {
        printk("store: FAIL: cpus missing\n");
        return 1;
    }
    long rc = xenstore_init();
    if (!rc) rc = xenstore_self_domid(&self_domid);
    if (!rc) rc = xenstore_domain_path(self_domid, home, sizeof(home));
    if (rc < 0) {
        printk("store: FAIL: xenstore: %s\n", xenstore_errname(rc));
        return 1;
    }
    printk("store: xenstore ready, domid %u, home %s\n", self_domid, home);
    int bad;
    if (!strcmp(test, "basic"))
        bad = test_basic();
    else if (!strcmp(test, "badring"))
        bad = test_badring();
    else if (!strcmp(test, "txn"))
        bad = test_txn();
    else if (!strcmp(test, "bench"))
        bad = test_bench();
    else {
        printk("store: unknown test=%s\n", test);
        return 1;
    }
    printk("store: test %s %s\n", test, bad ? "FAILED" : "passed");
    return bad;
}
