/* test=bench: xenstore requests per second in virtual time (pvclock),
 * which under xensim follows its cost model and is the same on every host:
 *   - write and read of a small node from CPU 0, one request at a time;
 *   - a transaction (start, read, write, commit) from CPU 0;
 *   - reads from every CPU at once (requests overlap on the ring);
 *   - a watch event: write to a watched node until the callback ran.
 * ops=N (default 1000) sets the count of each, only=write|read|txn|par|watch
 * runs one of them: ci/bench can run two counts and divide the difference
 * in host time by the difference in requests. */
#include "store_app.h"

static unsigned nr_ops, par_done[NR_CPUS];

static uint64_t per_second(uint64_t n, uint64_t ns)
{
    return ns ? n * 1000000000ull / ns : 0;
}

static void report(const char *what, unsigned n, uint64_t ns, unsigned ok)
{
    printk("bench: %s %lu ops/s (virtual), %lu ns each over %u%s\n", what,
           per_second(n, ns), n ? ns / n : 0, n, ok == n ? "" : " FAIL: some failed");
}

static long txn_body(xs_transaction_t t, void *arg)
{
    (void)arg;
    char buf[16];
    long rc = xenstore_read(t, "data/bench/t", buf, sizeof(buf));
    return rc < 0 ? rc : xenstore_write(t, "data/bench/t", "y");
}

static void par_reader(void *arg)
{
    (void)arg;
    char buf[16];
    unsigned me = smp_processor_id();
    for (unsigned i = 0; i < nr_ops; i++)
        par_done[me] += xenstore_read(XBT_NIL, "data/bench/x", buf, sizeof(buf)) == 1;
}

static unsigned fired;

static void bench_event(struct xenstore_watch *w, const char *path)
{
    (void)w, (void)path;
    atomic_add(&fired, 1);
}

static bool fired_since(void *arg)
{
    return atomic_load(&fired) != *(unsigned *)arg;
}

static bool want(const char *what)
{
    char only[16];
    return !cmdline_get("only", only, sizeof(only)) || !strcmp(only, what);
}

int test_bench(void)
{
    char buf[16];
    unsigned ok, n = nr_ops = cmdline_uint("ops", 1000);
    uint64_t t0;
    bool bad = false;
    /* Every phase reads or writes these. */
    xenstore_write(XBT_NIL, "data/bench/x", "x");
    xenstore_write(XBT_NIL, "data/bench/t", "y");

    if (want("write")) {
        ok = 0;
        t0 = time_monotonic_ns();
        for (unsigned i = 0; i < n; i++)
            ok += xenstore_write(XBT_NIL, "data/bench/x", "x") == 0;
        report("xenstore-write", n, time_monotonic_ns() - t0, ok);
        bad |= ok != n;
    }
    if (want("read")) {
        ok = 0;
        t0 = time_monotonic_ns();
        for (unsigned i = 0; i < n; i++)
            ok += xenstore_read(XBT_NIL, "data/bench/x", buf, sizeof(buf)) == 1;
        report("xenstore-read", n, time_monotonic_ns() - t0, ok);
        bad |= ok != n;
    }
    if (want("txn")) {
        ok = 0;
        t0 = time_monotonic_ns();
        for (unsigned i = 0; i < n; i++)
            ok += xenstore_transaction(txn_body, NULL, 0, NULL) == 0;
        report("xenstore-transaction (4 requests)", n, time_monotonic_ns() - t0, ok);
        bad |= ok != n;
    }
    if (want("par")) {
        t0 = time_monotonic_ns();
        run_on_all_cpus(par_reader, NULL);
        uint64_t dt = time_monotonic_ns() - t0;
        ok = 0;
        for (unsigned c = 0; c < nr_cpus; c++)
            ok += par_done[c];
        char what[48];
        snprintf(what, sizeof(what), "xenstore-read on %u cpus at once", nr_cpus);
        report(what, n * nr_cpus, dt, ok);
        bad |= ok != n * nr_cpus;
    }
    struct xenstore_watch w = {.path = "data/bench/w", .fn = bench_event};
    unsigned seen = 0;
    if (want("watch")) {
        ok = 0;
        if (!xenstore_watch(&w) && xenstore_wait(fired_since, &seen, STORE_WAIT_NS)) {
            t0 = time_monotonic_ns();
            for (unsigned i = 0; i < n; i++) {
                seen = atomic_load(&fired);
                xenstore_write(XBT_NIL, "data/bench/w", "w");
                ok += xenstore_wait(fired_since, &seen, STORE_WAIT_NS);
            }
            report("xenstore-watch (write to callback)", n, time_monotonic_ns() - t0, ok);
            xenstore_unwatch(&w);
        }
        bad |= ok != n;
    }
    struct xenstore_stats st;
    xenstore_get_stats(&st);
    if (st.bad_replies || st.watch_dropped) {
        printk("bench: FAIL: %lu bad replies, %lu watch events dropped\n", st.bad_replies,
               st.watch_dropped);
        bad = true;
    }
    return bad ? 1 : 0;
}
