/* migrate: a workload for live migration (scenarios/migrate.scn,
 * docs/migration.md).
 *
 * role=mover (the default) runs for duration=MS of virtual time while the
 * toolstack migrates it, doing at once:
 *
 *   memory   rate=N pages per virtual ms rewritten, in turn, over a
 *            working set of wss=N pages (dirty.c): the pre-copy rounds
 *            chase them, and after each migration every page must hold
 *            what was last written to it;
 *   block    inflight=N 4 KiB writes always in flight on the first disk, if
 *            there is one (blkio.c): each completes exactly once, and every
 *            block reads back as last written;
 *   network  pings to a peer (role=echo, another domain on the switch)
 *            over the first vif, if there is one (net.c): each echoed
 *            exactly once, every byte checked both ways; netfront
 *            reconnects by itself after a resume, or with vif=reopen the
 *            app closes the vif before each suspend and opens it after.
 *
 * After each migration (a resume in a new domain) it prints the domid and
 * ports before and after and checks memory and disk at once; at the end,
 * everything.  role=echo answers the mover's pings until it says END. */
#include <guest/control.h>
#include <guest/hypercall.h>
#include <guest/kernel.h>
#include <guest/smp.h>
#include <guest/string.h>
#include <guest/time.h>
#include <guest/xenstore.h>

#include "migrate_app.h"

#define PACE_NS ((uint64_t)100 * 1000) /* between two turns of the main loop */

unsigned mig_failures;

static bool never(void *arg)
{
    (void)arg;
    return false;
}

void mig_sleep(uint64_t ns)
{
    wait_event(never, NULL, ns);
}

struct identity {
    uint64_t store_port, console_port;
    unsigned domid;
};

static void identity(struct identity *id)
{
    hvm_get_param(HVM_PARAM_STORE_EVTCHN, &id->store_port);
    hvm_get_param(HVM_PARAM_CONSOLE_EVTCHN, &id->console_port);
    id->domid = 0;
    xenstore_self_domid(&id->domid);
}

/* Right after a resume or a cancel: memory and disk as they were left. */
static void check_after(bool resumed, unsigned n, const struct identity *before)
{
    struct identity now;
    identity(&now);
    unsigned bad_pages = dirty_verify(), bad_blocks = blkio_verify();
    printk("migrate: %s %u: domid %u -> %u, store port %lu -> %lu, console port %lu -> "
           "%lu; %u of %u pages wrong, %u blocks wrong\n",
           resumed ? "migration" : "cancel", n, before->domid, now.domid,
           (unsigned long)before->store_port, (unsigned long)now.store_port,
           (unsigned long)before->console_port, (unsigned long)now.console_port,
           bad_pages, dirty_pages(), bad_blocks);
    CHECK(!bad_pages && !bad_blocks, "data lost in the migration");
    if (resumed)
        CHECK(now.domid != before->domid, "a migration kept the domid");
    else
        CHECK(now.domid == before->domid, "a cancel changed the domid");
}

static int mover(void)
{
    uint64_t duration = cmdline_uint("duration", 60) * MS;
    unsigned rate = cmdline_uint("rate", 20); /* pages per virtual ms */
    unsigned wss = cmdline_uint("wss", 256);
    char vif[16] = "keep";
    cmdline_get("vif", vif, sizeof(vif));
    bool vif_reopen = !strcmp(vif, "reopen");
    if (!vif_reopen && strcmp(vif, "keep")) {
        printk("migrate: FAIL: vif=%s is not keep or reopen\n", vif);
        return 1;
    }
    if (!dirty_init(wss) || !blkio_init(cmdline_uint("inflight", 4)) ||
        !net_mover_init(vif_reopen)) {
        CHECK(0, "set-up (wss=%u: out of memory?)", wss);
        return 1;
    }
    struct identity id;
    identity(&id);
    printk("migrate: domid %u: %u pages per ms over %u pages, disk %s, network %s; "
           "running %lu ms\n",
           id.domid, rate, wss, blkio_active() ? "yes" : "no",
           net_active() ? "yes" : "no", (unsigned long)(duration / MS));
    const struct control_stats *cs = control_stats();
    uint64_t resumes = 0, cancels = 0, start = time_monotonic_ns();
    for (uint64_t now = start; now - start < duration; now = time_monotonic_ns()) {
        /* The writes due by now; a burst after a long pause is capped at
         * the working set (the same pages again would change nothing). */
        dirty_until((now - start) * rate / MS, wss ? wss : 1);
        blkio_pump();
        net_mover_step();
        /* Watch callbacks run here: the toolstack's suspend is taken here. */
        xenstore_run_watches();
        mig_sleep(PACE_NS);
        if (cs->resumes != resumes || cs->cancels != cancels) {
            bool resumed = cs->resumes != resumes;
            resumes = cs->resumes;
            cancels = cs->cancels;
            check_after(resumed, (unsigned)(resumed ? resumes : cancels), &id);
            identity(&id);
        }
    }
    blkio_drain();
    unsigned bad = dirty_verify();
    printk("migrate: memory: %lu page writes over %u pages, %u pages wrong\n",
           (unsigned long)dirty_writes(), wss, bad);
    CHECK(!bad, "memory lost in a migration");
    blkio_summary();
    net_mover_finish();
    printk("migrate: %lu suspend requests, %lu migrations, %lu cancels\n",
           (unsigned long)cs->requests, (unsigned long)cs->resumes,
           (unsigned long)cs->cancels);
    return 0;
}

int app_main(void)
{
    if (!boot.xen) {
        printk("migrate: no Xen found, nothing to do\n");
        return 0;
    }
    smp_init();
    smp_start();
    long rc = xenstore_init();
    char role[16] = "mover";
    cmdline_get("role", role, sizeof(role));
    bool echo = !strcmp(role, "echo");
    if (!rc && !echo) rc = control_init();
    if (rc) {
        printk("migrate: FAIL: xenstore/control: %s\n", xenstore_errname(rc));
        return 1;
    }
    if (!echo && strcmp(role, "mover")) {
        printk("migrate: FAIL: role=%s is not mover or echo\n", role);
        return 1;
    }
    if (echo) {
        net_echo_run();
    } else {
        mover();
    }
    printk("migrate: %s\n", mig_failures ? "FAILED" : "done");
    return mig_failures ? 1 : 0;
}
