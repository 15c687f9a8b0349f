/* test=txn: two domains increment one counter, each from all its CPUs,
 * every increment a transaction (read, write read + 1) retried on EAGAIN.
 *
 *   role=owner  creates data/txn/counter under its home, lets the peer
 *               read and write it (set_perms "n<owner> b<peer>"), does its
 *               increments, waits for the peer's count and checks the
 *               counter is the sum: no increment lost, none doubled;
 *   role=peer   waits (a watch) until it may read the counter, does its
 *               increments, and publishes how many in data/txn/done (read
 *               permission for the owner).
 * peer=DOMID names the other domain, n=N the increments per CPU.  Which
 * transactions conflict depends on the schedule: retries are printed
 * "(varies)", the totals are exact. */
#include "store_app.h"

#define MAX_TRIES 100000u

static char counter[64];
static unsigned per_cpu, done[NR_CPUS], retries[NR_CPUS], failed[NR_CPUS];
static unsigned events;

static long incr(xs_transaction_t t, void *arg)
{
    (void)arg;
    uint64_t v;
    long rc = xenstore_read_u64(t, counter, &v);
    return rc ? rc : xenstore_printf(t, counter, "%lu", v + 1);
}

static void worker(void *arg)
{
    (void)arg;
    unsigned me = smp_processor_id();
    for (unsigned i = 0; i < per_cpu; i++) {
        unsigned r = 0;
        long rc = xenstore_transaction(incr, NULL, MAX_TRIES, &r);
        retries[me] += r;
        if (rc) {
            failed[me]++;
            printk("txn: FAIL: cpu%u increment %u: %s\n", me, i, xenstore_errname(rc));
            return;
        }
        done[me]++;
    }
}

static void count_event(struct xenstore_watch *w, const char *path)
{
    (void)w, (void)path;
    atomic_add(&events, 1);
}

static bool event_since(void *arg)
{
    return atomic_load(&events) != *(unsigned *)arg;
}

/* Read path as a number once we may: the watch fires when it appears and
 * when its permissions let us see it. */
static long wait_readable(const char *path, uint64_t *v)
{
    struct xenstore_watch w = {.path = path, .fn = count_event};
    long rc = xenstore_watch(&w);
    if (rc) return rc;
    uint64_t deadline = time_monotonic_ns() + 10 * STORE_WAIT_NS;
    for (;;) {
        unsigned seen = atomic_load(&events);
        rc = xenstore_read_u64(XBT_NIL, path, v);
        if (rc != -XEN_EACCES && rc != -XEN_ENOENT && rc != -XEN_EINVAL) break;
        uint64_t now = time_monotonic_ns();
        if (now >= deadline) break;
        xenstore_wait(event_since, &seen, deadline - now);
    }
    xenstore_unwatch(&w);
    return rc;
}

static unsigned run_increments(const char *role)
{
    run_on_all_cpus(worker, NULL);
    unsigned total = 0, tries = 0, bad = 0;
    for (unsigned c = 0; c < nr_cpus; c++)
        total += done[c], tries += retries[c], bad += failed[c];
    bool ok = !bad && total == per_cpu * nr_cpus;
    printk("txn: %s: %u cpus did %u increments (%u each): %s\n", role, nr_cpus, total,
           per_cpu, ok ? "ok" : "FAIL");
    printk("txn: %s: %u EAGAIN retries (varies)\n", role, tries);
    return ok ? total : 0;
}

static int owner(unsigned peer)
{
    char perms[32];
    snprintf(counter, sizeof(counter), "%s/data/txn/counter", home);
    snprintf(perms, sizeof(perms), "n%u b%u", self_domid, peer);
    long rc = xenstore_write(XBT_NIL, counter, "0");
    if (!rc) rc = xenstore_set_perms(XBT_NIL, counter, perms);
    printk("txn: owner: counter created, peer may read and write it: %s\n",
           rc ? xenstore_errname(rc) : "ok");
    if (rc) return 1;
    unsigned mine = run_increments("owner");
    char done_path[64];
    uint64_t theirs = 0, final = 0;
    snprintf(done_path, sizeof(done_path), "/local/domain/%u/data/txn/done", peer);
    rc = wait_readable(done_path, &theirs);
    if (rc) {
        printk("txn: FAIL: owner: peer's count: %s\n", xenstore_errname(rc));
        return 1;
    }
    rc = xenstore_read_u64(XBT_NIL, counter, &final);
    bool ok = !rc && mine && final == mine + theirs;
    printk("txn: owner: counter %lu = %u (owner) + %lu (peer): %s\n", final, mine, theirs,
           ok ? "ok" : "FAIL");
    return ok ? 0 : 1;
}

static int peer_side(unsigned owner_id)
{
    uint64_t v;
    snprintf(counter, sizeof(counter), "/local/domain/%u/data/txn/counter", owner_id);
    long rc = wait_readable(counter, &v);
    printk("txn: peer: the owner's counter is readable: %s\n",
           rc ? xenstore_errname(rc) : "ok");
    if (rc) return 1;
    unsigned mine = run_increments("peer");
    char perms[32];
    snprintf(perms, sizeof(perms), "n%u r%u", self_domid, owner_id);
    rc = xenstore_printf(XBT_NIL, "data/txn/done", "%u", mine);
    if (!rc) rc = xenstore_set_perms(XBT_NIL, "data/txn/done", perms);
    printk("txn: peer: published %u increments: %s\n", mine,
           rc ? xenstore_errname(rc) : "ok");
    return rc || !mine ? 1 : 0;
}

int test_txn(void)
{
    char role[16];
    per_cpu = cmdline_uint("n", 20);
    unsigned peer = cmdline_uint("peer", 0);
    if (!cmdline_get("role", role, sizeof(role)) || !peer || peer == self_domid) {
        printk("txn: FAIL: needs role=owner|peer and peer=DOMID (another domain)\n");
        return 1;
    }
    int bad;
    if (!strcmp(role, "owner"))
        bad = owner(peer);
    else if (!strcmp(role, "peer"))
        bad = peer_side(peer);
    else {
        printk("txn: FAIL: unknown role=%s\n", role);
        return 1;
    }
    struct xenstore_stats st;
    xenstore_get_stats(&st);
    if (st.watch_dropped || st.bad_replies) {
        printk("txn: FAIL: %lu watch events dropped, %lu bad replies\n", st.watch_dropped,
               st.bad_replies);
        bad = 1;
    }
    return bad;
}
