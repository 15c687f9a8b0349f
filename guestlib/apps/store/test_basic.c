/* test=basic: the xenstore client against xensim's xenstored, which
 * behaves as Xen 4.17's C xenstored (docs/xenstore.md).  Each line names
 * an operation, its result and what Xen gives; any difference is a FAIL.
 *
 *   - the nodes xl wrote for this domain, and the HVM params they mirror;
 *   - write/read/mkdir/rm/directory/exists, relative paths, implicit
 *     parents, DIRECTORY's creation order;
 *   - permissions: get/set on our nodes, Dom0's nodes (EACCES), who may
 *     change an owner (EPERM), an owner that does not exist (ENOENT);
 *   - errors: ENOENT, EINVAL for bad paths, the 2048-byte path limit, the
 *     2048-byte node quota (ENOSPC), the 4096-byte payload limit (E2BIG,
 *     refused before it reaches the ring), privileged and unknown requests;
 *   - watches: the initial event, events in the subtree and on rm,
 *     relative watches, two tokens on one path, unwatch, and a full event
 *     queue (events dropped and counted);
 *   - every CPU at once, each on its own nodes, counted exactly;
 *   - transactions: isolation, abort, a conflict two CPUs create (EAGAIN),
 *     concurrent increments with retries, an unknown transaction id;
 *   - xenbus: enumeration of a device tree written under data/, and a
 *     frontend/backend handshake between two CPUs. */
#include "store_app.h"
#include <guest/mm.h>

#define NR_CONC  25 /* writes and reads per CPU */
#define NR_INCR  10 /* transactional increments per CPU */
#define NR_FLOOD 70 /* watch events queued at once (the queue holds 64) */
#define LOG_MAX  16
#define PATH_LIM XENSTORE_REL_PATH_MAX

static unsigned failures;
static const char *who = "basic"; /* the line prefix */
static char big[PAGE_SIZE + 64];  /* long values and paths */

static const char *en(long rc)
{
    return xenstore_errname(rc > 0 ? 0 : rc);
}

static void check(const char *what, long got, long want)
{
    if (got > 0) got = 0; /* a length: success */
    bool ok = got == want;
    printk("%s: %s -> %s (Xen: %s): %s\n", who, what, en(got), en(want),
           ok ? "ok" : "FAIL");
    failures += !ok;
}

/* A read that must give want. */
static void check_read(const char *path, const char *want)
{
    char buf[128];
    long rc = xenstore_read(XBT_NIL, path, buf, sizeof(buf));
    bool ok = rc >= 0 && !strcmp(buf, want) && (size_t)rc == strlen(want);
    printk("basic: read %s = \"%s\": %s\n", path, rc >= 0 ? buf : en(rc),
           ok ? "ok" : "FAIL");
    failures += !ok;
}

static void check_true(const char *what, bool ok)
{
    printk("%s: %s: %s\n", who, what, ok ? "ok" : "FAIL");
    failures += !ok;
}

/* NUL-separated strings as "a b c". */
static const char *joined(char *buf, long n, size_t len)
{
    for (size_t i = 0, k = 0; k < (size_t)n && i + 1 < len; i++)
        if (buf[i] == '\0' && ++k < (size_t)n) buf[i] = ' ';
    return n > 0 ? buf : "";
}

static void check_list(const char *what, long n, char *buf, size_t len, const char *want)
{
    const char *got = n < 0 ? en(n) : joined(buf, n, len);
    bool ok = n >= 0 && !strcmp(got, want);
    printk("basic: %s = [%s]: %s\n", what, got, ok ? "ok" : "FAIL");
    failures += !ok;
}

/* ---- what xl wrote ------------------------------------------------------------- */

static void test_xl_nodes(void)
{
    char buf[128], want[64];
    uint64_t v, param;
    long rc = xenstore_read(XBT_NIL, "name", buf, sizeof(buf));
    printk("basic: name = \"%s\"\n", rc >= 0 ? buf : en(rc));
    failures += rc < 0;
    snprintf(want, sizeof(want), "/vm/00000000-0000-0000-0000-%012x", self_domid);
    check_read("vm", want);
    snprintf(want, sizeof(want), "00000000-0000-0000-0000-%012x", self_domid);
    snprintf(buf, sizeof(buf), "/vm/00000000-0000-0000-0000-%012x/uuid", self_domid);
    check_read(buf, want);
    snprintf(want, sizeof(want), "%u", self_domid);
    check_read("domid", want);
    rc = xenstore_read_u64(XBT_NIL, "store/port", &v);
    check_true("store/port is HVM_PARAM_STORE_EVTCHN",
               !rc && !hvm_get_param(HVM_PARAM_STORE_EVTCHN, &param) && v == param);
    rc = xenstore_read_u64(XBT_NIL, "store/ring-ref", &v);
    check_true("store/ring-ref is HVM_PARAM_STORE_PFN",
               !rc && !hvm_get_param(HVM_PARAM_STORE_PFN, &param) && v == param);
    rc = xenstore_read_u64(XBT_NIL, "memory/target", &v);
    printk("basic: memory/target = %lu KiB\n", rc ? 0 : v);
    failures += rc != 0;
    rc = xenstore_directory(XBT_NIL, "cpu", buf, sizeof(buf));
    check_true("cpu/ has an entry per vcpu", rc == (long)nr_cpus);
    snprintf(want, sizeof(want), "cpu/%u/availability", nr_cpus - 1);
    check_read(want, "online");
    check_read("control/platform-feature-xs_reset_watches", "1");
    rc = xenstore_domain_path(0, buf, sizeof(buf));
    check_true("GET_DOMAIN_PATH 0 is /local/domain/0",
               rc > 0 && !strcmp(buf, "/local/domain/0"));
    check("read_u64 name (not a number)", xenstore_read_u64(XBT_NIL, "name", &v),
          -XEN_EINVAL);
}

/* ---- requests -------------------------------------------------------------- */

static void test_requests(void)
{
    char buf[256], path[64];
    check("write data/store/hello", xenstore_write(XBT_NIL, "data/store/hello", "world"),
          0);
    check_read("data/store/hello", "world");
    snprintf(path, sizeof(path), "%s/data/store/hello", home);
    check_read(path, "world"); /* relative is relative to the home */
    long rc = xenstore_read(XBT_NIL, "data/store/hello", buf, 3);
    check_true("read into 3 bytes: \"wo\", full length 5", rc == 5 && !strcmp(buf, "wo"));
    check("write data/store/a/b/c (parents made)",
          xenstore_write(XBT_NIL, "data/store/a/b/c", "deep"), 0);
    check_read("data/store/a", "");
    check_read("data/store/a/b/c", "deep");
    check("mkdir data/store/dir", xenstore_mkdir(XBT_NIL, "data/store/dir"), 0);
    check("mkdir data/store/dir again", xenstore_mkdir(XBT_NIL, "data/store/dir"), 0);
    check("write data/store/empty \"\"", xenstore_write(XBT_NIL, "data/store/empty", ""),
          0);
    check_read("data/store/empty", "");
    check_true("exists data/store/dir", xenstore_exists(XBT_NIL, "data/store/dir"));
    check_true("exists data/store/nope is false",
               !xenstore_exists(XBT_NIL, "data/store/nope"));
    rc = xenstore_directory(XBT_NIL, "data/store", buf, sizeof(buf));
    check_list("directory data/store", rc, buf, sizeof(buf), "hello a dir empty");
    rc = xenstore_directory(XBT_NIL, "data/store/dir", buf, sizeof(buf));
    check_list("directory data/store/dir", rc, buf, sizeof(buf), "");
    check("directory into 4 bytes", xenstore_directory(XBT_NIL, "data/store", buf, 4),
          -XEN_E2BIG);
    check("rm data/store/a (a subtree)", xenstore_rm(XBT_NIL, "data/store/a"), 0);
    check("read data/store/a/b/c after rm",
          xenstore_read(XBT_NIL, "data/store/a/b/c", buf, sizeof(buf)), -XEN_ENOENT);
    check("rm data/store/nope (parent exists)", xenstore_rm(XBT_NIL, "data/store/nope"),
          0);
    check("rm data/store/no/such (no parent)", xenstore_rm(XBT_NIL, "data/store/no/such"),
          -XEN_ENOENT);
    check("read data/store/missing",
          xenstore_read(XBT_NIL, "data/store/missing", buf, sizeof(buf)), -XEN_ENOENT);
    check("directory data/store/missing",
          xenstore_directory(XBT_NIL, "data/store/missing", buf, sizeof(buf)),
          -XEN_ENOENT);
    check("printf data/store/num",
          xenstore_printf(XBT_NIL, "data/store/num", "%u-%s", 42u, "x"), 0);
    check_read("data/store/num", "42-x");
}

/* ---- permissions ----------------------------------------------------------- */

static void check_perms(const char *path, const char *want)
{
    char buf[64], what[96];
    long rc = xenstore_get_perms(XBT_NIL, path, buf, sizeof(buf));
    snprintf(what, sizeof(what), "perms of %s", path);
    check_list(what, rc, buf, sizeof(buf), want);
}

static void test_perms(void)
{
    char want[32], perms[32], buf[64];
    snprintf(want, sizeof(want), "n%u", self_domid);
    check("write data/store/perm", xenstore_write(XBT_NIL, "data/store/perm", "p"), 0);
    check_perms("data/store/perm", want); /* inherited from data/, owned by us */
    snprintf(perms, sizeof(perms), "n%u r0", self_domid);
    check("set_perms data/store/perm n<me> r0",
          xenstore_set_perms(XBT_NIL, "data/store/perm", perms), 0);
    check_perms("data/store/perm", perms);
    snprintf(perms, sizeof(perms), "r%u", self_domid);
    check("set_perms data/store/perm r<me> (all may read)",
          xenstore_set_perms(XBT_NIL, "data/store/perm", perms), 0);
    check_perms("data/store/perm", perms);
    check("set_perms owner 0 (only Dom0 gives nodes away)",
          xenstore_set_perms(XBT_NIL, "data/store/perm", "n0"), -XEN_EPERM);
    check("set_perms owner 999 (no such domain)",
          xenstore_set_perms(XBT_NIL, "data/store/perm", "n999"), -XEN_ENOENT);
    check("set_perms \"x1\" (no such letter)",
          xenstore_set_perms(XBT_NIL, "data/store/perm", "x1"), -XEN_EINVAL);
    snprintf(perms, sizeof(perms), "n%u r1 r2 r3 r4 r5", self_domid);
    check("set_perms with 6 entries (quota 5)",
          xenstore_set_perms(XBT_NIL, "data/store/perm", perms), -XEN_ENOSPC);
    snprintf(want, sizeof(want), "n0 r%u", self_domid);
    check_perms(home, want);
    check_perms("name", want);
    check("read /local/domain/0/name",
          xenstore_read(XBT_NIL, "/local/domain/0/name", buf, sizeof(buf)), -XEN_EACCES);
    check("read /local/domain/0/nosuch (existence hidden)",
          xenstore_read(XBT_NIL, "/local/domain/0/nosuch", buf, sizeof(buf)),
          -XEN_EACCES);
    check("write /local/domain/0/x", xenstore_write(XBT_NIL, "/local/domain/0/x", "1"),
          -XEN_EACCES);
    check("directory /", xenstore_directory(XBT_NIL, "/", buf, sizeof(buf)), -XEN_EACCES);
    check("read /tool/xenstored",
          xenstore_read(XBT_NIL, "/tool/xenstored", buf, sizeof(buf)), -XEN_EACCES);
    check("write x (the home is Dom0's)", xenstore_write(XBT_NIL, "x", "1"), -XEN_EACCES);
    check("mkdir device/vtest", xenstore_mkdir(XBT_NIL, "device/vtest"), -XEN_EACCES);
    check("rm name", xenstore_rm(XBT_NIL, "name"), -XEN_EACCES);
    snprintf(perms, sizeof(perms), "n%u", self_domid);
    check("set_perms name", xenstore_set_perms(XBT_NIL, "name", perms), -XEN_EACCES);
    check("write attr/store (attr is ours)", xenstore_write(XBT_NIL, "attr/store", "1"),
          0);
    check("get_perms /local/domain/0",
          xenstore_get_perms(XBT_NIL, "/local/domain/0", buf, sizeof(buf)), -XEN_EACCES);
}

/* ---- errors and limits ------------------------------------------------------- */

static long read_big_path(size_t len)
{
    static const char pre[] = "data/store/";
    memcpy(big, pre, sizeof(pre) - 1);
    memset(big + sizeof(pre) - 1, 'p', len - (sizeof(pre) - 1));
    big[len] = '\0';
    char buf[8];
    return xenstore_read(XBT_NIL, big, buf, sizeof(buf));
}

static void test_limits(void)
{
    char buf[64];
    check("read \"data/bad path\"", xenstore_read(XBT_NIL, "data/bad path", buf, 8),
          -XEN_EINVAL);
    check("read data//x", xenstore_read(XBT_NIL, "data//x", buf, 8), -XEN_EINVAL);
    check("read data/x/", xenstore_read(XBT_NIL, "data/x/", buf, 8), -XEN_EINVAL);
    check("read \"\"", xenstore_read(XBT_NIL, "", buf, 8), -XEN_EINVAL);
    check("write data/store/caf\\xe9", xenstore_write(XBT_NIL, "data/store/caf\xe9", "1"),
          -XEN_EINVAL);
    check("read a 2048-byte relative path", read_big_path(PATH_LIM), -XEN_ENOENT);
    check("read a 2049-byte relative path", read_big_path(PATH_LIM + 1), -XEN_EINVAL);
    /* The node quota counts 24 header bytes and 8 per permission. */
    memset(big, 'v', 2015);
    big[2015] = '\0';
    check("write a 2015-byte value (node of 2047 bytes)",
          xenstore_write(XBT_NIL, "data/store/big", big), 0);
    long rc = xenstore_read(XBT_NIL, "data/store/big", buf, sizeof(buf));
    check_true("read it back: length 2015", rc == 2015);
    big[2015] = 'v';
    big[2016] = '\0';
    check("write a 2016-byte value (node of 2048 bytes)",
          xenstore_write(XBT_NIL, "data/store/big", big), -XEN_ENOSPC);
    memset(big, 'v', 4090);
    big[4090] = '\0';
    check("write path + 4090 bytes (payload over 4096)",
          xenstore_write(XBT_NIL, "data/store/big", big), -XEN_E2BIG);
    check_read("data/store/hello", "world"); /* the connection lives on */
    check("raw CONTROL (privileged)", xenstore_raw(XS_CONTROL, 0, "help", 5, buf, 8),
          -XEN_EACCES);
    check("raw INTRODUCE (privileged)",
          xenstore_raw(XS_INTRODUCE, 0,
                       "9\0"
                       "1\0"
                       "1",
                       6, buf, 8),
          -XEN_EACCES);
    check("raw type 99", xenstore_raw((enum xsd_sockmsg_type)99, 0, "", 1, buf, 8),
          -XEN_ENOSYS);
    check("raw ERROR (not a request)", xenstore_raw(XS_ERROR, 0, "", 1, buf, 8),
          -XEN_ENOSYS);
    check("raw READ without its NUL", xenstore_raw(XS_READ, 0, "domid", 5, buf, 8),
          -XEN_EINVAL);
    check("read in unknown transaction 4242",
          xenstore_read(4242, "data/store/hello", buf, 8), -XEN_ENOENT);
    check("transaction_end of XBT_NIL", xenstore_transaction_end(XBT_NIL, false),
          -XEN_ENOENT);
}

/* ---- watches ------------------------------------------------------------------ */

static struct {
    char path[96];
    unsigned watch;
} ev_log[LOG_MAX];
static unsigned ev_n, flood_n;

static void log_event(struct xenstore_watch *w, const char *path)
{
    unsigned i = atomic_add(&ev_n, 1) - 1;
    if (i >= LOG_MAX) return;
    size_t hl = strlen(home);
    /* Shown relative to the home, so the lines read the same in any domain. */
    if (!strncmp(path, home, hl) && path[hl] == '/') path += hl + 1;
    snprintf(ev_log[i].path, sizeof(ev_log[i].path), "%s", path);
    ev_log[i].watch = (unsigned)(uintptr_t)w->arg;
}

static void count_flood(struct xenstore_watch *w, const char *path)
{
    (void)w, (void)path;
    atomic_add(&flood_n, 1);
}

static bool flood_started(void *arg)
{
    (void)arg;
    return atomic_load(&flood_n) != 0;
}

static bool at_least(void *arg)
{
    return atomic_load(&ev_n) >= *(unsigned *)arg;
}

/* Wait for want events in all, then make sure no more come: xenstored
 * sends a request's events before its reply, so after one more round trip
 * everything caused so far is queued. */
static void expect_events(const char *after, unsigned want, const char *const *paths,
                          const unsigned *watches)
{
    unsigned before = ev_n, total = before + want;
    xenstore_wait(at_least, &total, STORE_WAIT_NS);
    xenstore_exists(XBT_NIL, "data");
    xenstore_run_watches();
    unsigned got = atomic_load(&ev_n) - before;
    bool ok = got == want;
    for (unsigned i = 0; ok && i < want; i++)
        ok = before + i < LOG_MAX && !strcmp(ev_log[before + i].path, paths[i]) &&
             ev_log[before + i].watch == watches[i];
    char list[200] = "";
    size_t l = 0;
    for (unsigned i = before; i < before + got && i < LOG_MAX && l < sizeof(list); i++)
        l += (size_t)snprintf(list + l, sizeof(list) - l, " w%u:%s", ev_log[i].watch,
                              ev_log[i].path);
    printk("basic: watch events after %s:%s: %s\n", after, got ? list : " none",
           ok ? "ok" : "FAIL");
    failures += !ok;
}

static void flood_writer(void *arg)
{
    (void)arg;
    char path[48];
    for (unsigned i = 0; i < NR_FLOOD; i++) {
        snprintf(path, sizeof(path), "data/flood/k%u", i);
        xenstore_write(XBT_NIL, path, "x");
    }
}

static void test_watches(void)
{
    static char abs_w[64];
    snprintf(abs_w, sizeof(abs_w), "%s/data/store/w", home);
    struct xenstore_watch w1 = {.path = abs_w, .fn = log_event, .arg = (void *)1};
    struct xenstore_watch w2 = {
        .path = "data/store/w", .fn = log_event, .arg = (void *)2};
    struct xenstore_watch w3 = {.path = abs_w, .fn = log_event, .arg = (void *)3};

    check("watch <home>/data/store/w", xenstore_watch(&w1), 0);
    expect_events("watch (initial event)", 1, (const char *const[]){"data/store/w"},
                  (const unsigned[]){1});
    check("watch data/store/w (relative)", xenstore_watch(&w2), 0);
    expect_events("relative watch", 1, (const char *const[]){"data/store/w"},
                  (const unsigned[]){2});
    check("watch it again", xenstore_watch(&w2), -XEN_EEXIST);
    check("write data/store/w/x", xenstore_write(XBT_NIL, "data/store/w/x", "1"), 0);
    /* xenstored goes through a connection's watches in the order they
     * were set. */
    expect_events("write below", 2,
                  (const char *const[]){"data/store/w/x", "data/store/w/x"},
                  (const unsigned[]){1, 2});
    check("watch <home>/data/store/w, another token", xenstore_watch(&w3), 0);
    expect_events("third watch", 1, (const char *const[]){"data/store/w"},
                  (const unsigned[]){3});
    check("write data/store/sibling", xenstore_write(XBT_NIL, "data/store/sibling", "1"),
          0);
    expect_events("write elsewhere", 0, NULL, NULL);
    check("rm data/store/w", xenstore_rm(XBT_NIL, "data/store/w"), 0);
    /* Below the removed node only exact watches fire: w itself, not w/x. */
    expect_events("rm", 3,
                  (const char *const[]){"data/store/w", "data/store/w", "data/store/w"},
                  (const unsigned[]){1, 2, 3});
    check("unwatch the relative watch", xenstore_unwatch(&w2), 0);
    check("unwatch it again", xenstore_unwatch(&w2), -XEN_ENOENT);
    check("unwatch the first", xenstore_unwatch(&w1), 0);
    check("write data/store/w", xenstore_write(XBT_NIL, "data/store/w", "2"), 0);
    expect_events("unwatch", 1, (const char *const[]){"data/store/w"},
                  (const unsigned[]){3});
    check("unwatch the third", xenstore_unwatch(&w3), 0);
    struct xenstore_watch bad = {.path = "data/bad path", .fn = log_event};
    check("watch \"data/bad path\"", xenstore_watch(&bad), -XEN_EINVAL);
    check_true("a failed watch is not registered", !bad.registered);

    /* CPU 1 writes while CPU 0 is not delivering: the queue fills up. */
    struct xenstore_watch wf = {.path = "data/flood", .fn = count_flood};
    struct xenstore_stats before, after;
    check("watch data/flood", xenstore_watch(&wf), 0);
    xenstore_wait(flood_started, NULL, STORE_WAIT_NS); /* the initial event */
    atomic_store(&flood_n, 0);
    xenstore_get_stats(&before);
    if (nr_cpus > 1) {
        smp_call_async(1, flood_writer, NULL);
        smp_call_wait(1, 20 * SMP_TIMEOUT_NS);
    }
    xenstore_run_watches();
    xenstore_get_stats(&after);
    unsigned dropped = (unsigned)(after.watch_dropped - before.watch_dropped);
    unsigned got = atomic_load(&flood_n);
    bool ok = nr_cpus < 2 ||
              (got == 64 && dropped == NR_FLOOD - 64 && before.watch_dropped == 0);
    printk("basic: %u events while nobody delivered: %u delivered, %u dropped "
           "(queue of 64): %s\n",
           NR_FLOOD, got, dropped, ok ? "ok" : "FAIL");
    failures += !ok;
    check("unwatch data/flood", xenstore_unwatch(&wf), 0);
    check("rm data/flood", xenstore_rm(XBT_NIL, "data/flood"), 0);
}

/* ---- every CPU at once -------------------------------------------------------- */

static unsigned conc_ok[NR_CPUS], conc_bad[NR_CPUS];

static void conc_worker(void *arg)
{
    (void)arg;
    unsigned me = smp_processor_id();
    char path[48], want[16], buf[16];
    snprintf(path, sizeof(path), "data/store/cpu%u", me);
    for (unsigned i = 0; i < NR_CONC; i++) {
        snprintf(want, sizeof(want), "%u:%u", me, i);
        long rc = xenstore_write(XBT_NIL, path, want);
        if (!rc) rc = xenstore_read(XBT_NIL, path, buf, sizeof(buf));
        if (rc >= 0 && !strcmp(buf, want))
            conc_ok[me]++;
        else
            conc_bad[me]++;
    }
}

static void test_concurrent(void)
{
    long rc = run_on_all_cpus(conc_worker, NULL);
    unsigned total = 0;
    for (unsigned c = 0; c < nr_cpus; c++) {
        bool ok = conc_ok[c] == NR_CONC && !conc_bad[c];
        printk("basic: cpu%u wrote and read back %u of %u values: %s\n", c, conc_ok[c],
               NR_CONC, ok ? "ok" : "FAIL");
        failures += !ok;
        total += conc_ok[c];
    }
    check_true("all cpus finished", rc == 0);
    long n = xenstore_directory(XBT_NIL, "data/store", big, sizeof(big));
    unsigned found = 0;
    for (long i = 0, off = 0; i < n; i++, off += (long)strlen(big + off) + 1)
        found += !strncmp(big + off, "cpu", 3);
    printk("basic: %u requests from %u cpus at once, %u cpu nodes: %s\n", total * 2,
           nr_cpus, found, found == nr_cpus ? "ok" : "FAIL");
    failures += found != nr_cpus;
}

/* ---- transactions ------------------------------------------------------------ */

static struct {
    xs_transaction_t t;
    long start, write, end;
} other;

/* CPU 1: a whole transaction on data/store/c while CPU 0's is open. */
static void conflicting(void *arg)
{
    (void)arg;
    char buf[16];
    other.start = xenstore_transaction_start(&other.t);
    if (other.start) return;
    xenstore_read(other.t, "data/store/c", buf, sizeof(buf));
    other.write = xenstore_write(other.t, "data/store/c", "1");
    other.end = xenstore_transaction_end(other.t, false);
}

static long incr(xs_transaction_t t, void *arg)
{
    uint64_t v;
    long rc = xenstore_read_u64(t, arg, &v);
    return rc ? rc : xenstore_printf(t, arg, "%lu", v + 1);
}

static unsigned incr_done[NR_CPUS], incr_retries[NR_CPUS];

/* xenstored allows a domain 10 transactions at once (ENOSPC beyond). */
#define INCR_CPUS 8u

static unsigned incr_cpus(void)
{
    return nr_cpus < INCR_CPUS ? nr_cpus : INCR_CPUS;
}

static void incr_worker(void *arg)
{
    (void)arg;
    unsigned me = smp_processor_id();
    if (me >= INCR_CPUS) return;
    for (unsigned i = 0; i < NR_INCR; i++) {
        unsigned r;
        long rc = xenstore_transaction(incr, "data/store/n", 1000, &r);
        incr_done[me] += rc == 0;
        incr_retries[me] += r;
    }
}

static void test_transactions(void)
{
    char buf[32];
    xs_transaction_t t;
    check("transaction_start", xenstore_transaction_start(&t), 0);
    check("write data/store/t1 in it", xenstore_write(t, "data/store/t1", "1"), 0);
    check("read data/store/t1 outside it",
          xenstore_read(XBT_NIL, "data/store/t1", buf, sizeof(buf)), -XEN_ENOENT);
    long rc = xenstore_read(t, "data/store/t1", buf, sizeof(buf));
    check_true("read data/store/t1 inside it: 1", rc == 1 && !strcmp(buf, "1"));
    check("commit", xenstore_transaction_end(t, false), 0);
    check_read("data/store/t1", "1");
    check("transaction_end again", xenstore_transaction_end(t, false), -XEN_ENOENT);
    check("transaction_start", xenstore_transaction_start(&t), 0);
    check("rm data/store/t1 in it", xenstore_rm(t, "data/store/t1"), 0);
    check("abort", xenstore_transaction_end(t, true), 0);
    check_read("data/store/t1", "1");

    /* A conflict: CPU 0 reads, CPU 1 changes the node and commits, CPU 0
     * writes and commits. */
    check("write data/store/c 0", xenstore_write(XBT_NIL, "data/store/c", "0"), 0);
    check("cpu0: transaction_start", xenstore_transaction_start(&t), 0);
    check("cpu0: read data/store/c", xenstore_read(t, "data/store/c", buf, sizeof(buf)),
          0);
    if (nr_cpus > 1) {
        smp_call_async(1, conflicting, NULL);
        smp_call_wait(1, 20 * SMP_TIMEOUT_NS);
    } else {
        conflicting(NULL);
    }
    check("cpu1: a transaction writing data/store/c",
          other.start ? other.start : other.write, 0);
    check("cpu1: commit", other.end, 0);
    check("cpu0: write data/store/c 2", xenstore_write(t, "data/store/c", "2"), 0);
    check("cpu0: commit", xenstore_transaction_end(t, false), -XEN_EAGAIN);
    check_read("data/store/c", "1");

    /* Every CPU (up to 8) increments one node: conflicts galore, no update
     * lost. */
    check("write data/store/n 0", xenstore_write(XBT_NIL, "data/store/n", "0"), 0);
    run_on_all_cpus(incr_worker, NULL);
    unsigned done = 0, retries = 0;
    for (unsigned c = 0; c < nr_cpus; c++)
        done += incr_done[c], retries += incr_retries[c];
    snprintf(buf, sizeof(buf), "%u", incr_cpus() * NR_INCR);
    check_read("data/store/n", buf);
    check_true("every transactional increment committed", done == incr_cpus() * NR_INCR);
    printk("basic: %u increments took %u EAGAIN retries (varies)\n", done, retries);
}

/* ---- xenbus --------------------------------------------------------------------- */

static long write_dev(const char *dir, const char *end, const char *other, unsigned id)
{
    char path[160];
    snprintf(path, sizeof(path), "%s/%s", dir, end);
    long rc = xenstore_write(XBT_NIL, path, other);
    snprintf(path, sizeof(path), "%s/%s-id", dir, end);
    if (!rc) rc = xenstore_printf(XBT_NIL, path, "%u", id);
    snprintf(path, sizeof(path), "%s/state", dir);
    if (!rc) rc = xenstore_printf(XBT_NIL, path, "%d", XenbusStateInitialising);
    return rc;
}

/* The names the test's device tree gives device d below root. */
static bool dev_names_ok(const struct xenbus_device *d, const char *root)
{
    char node[160], oe[128], st[136];
    if (d->backend) {
        snprintf(node, sizeof(node), "%s/%s/%s/%u/%u", home, root, d->devclass,
                 d->otherend_id, d->devid);
        snprintf(oe, sizeof(oe), "/local/domain/%u/device/%s/%u", d->otherend_id,
                 d->devclass, d->devid);
    } else {
        snprintf(node, sizeof(node), "%s/%s/%s/%u", home, root, d->devclass, d->devid);
        snprintf(oe, sizeof(oe), "/local/domain/0/backend/%s/%u/%u", d->devclass,
                 self_domid, d->devid);
        if (d->otherend_id == DOMID_INVALID) oe[0] = '\0';
    }
    snprintf(st, sizeof(st), "%s/state", oe);
    return !strcmp(d->nodename, node) && !strcmp(d->otherend, oe) &&
           !strcmp(d->otherend_state_path, oe[0] ? st : "") &&
           d->otherend_state == XenbusStateUnknown;
}

/* "front/id@other" per device (backends: frontid/id), names checked. */
static void check_devs(const char *what, const char *root, long n,
                       const struct xenbus_device *d, unsigned max, const char *want)
{
    char got[200];
    size_t l = (size_t)snprintf(got, sizeof(got), "%ld:", n);
    bool names = true;
    for (long i = 0; i < n && i < (long)max && l < sizeof(got); i++) {
        names = names && dev_names_ok(&d[i], root) && !strcmp(d[i].devclass, "vtest");
        if (d[i].backend)
            l += (size_t)snprintf(got + l, sizeof(got) - l, " %u/%u", d[i].otherend_id,
                                  d[i].devid);
        else if (d[i].otherend_id == DOMID_INVALID)
            l += (size_t)snprintf(got + l, sizeof(got) - l, " %u@-", d[i].devid);
        else
            l += (size_t)snprintf(got + l, sizeof(got) - l, " %u@%u", d[i].devid,
                                  d[i].otherend_id);
    }
    bool ok = names && !strcmp(got, want);
    printk("basic: %s: %s%s: %s\n", what, got, names ? "" : " (wrong names)",
           ok ? "ok" : "FAIL");
    failures += !ok;
}

static struct xenbus_device loop_front, loop_back;
static long back_result;

/* The backend's side of the handshake, on CPU 1. */
static void backend_side(void *arg)
{
    (void)arg;
    struct xenbus_device *b = &loop_back;
    long rc = xenbus_switch_state(b, XenbusStateInitWait);
    if (!rc)
        rc = xenbus_wait_otherend(b, XENBUS_STATE_BIT(XenbusStateInitialised),
                                  STORE_WAIT_NS);
    if (rc >= 0) rc = xenbus_switch_state(b, XenbusStateConnected);
    if (!rc)
        rc = xenbus_wait_otherend(b, XENBUS_STATE_BIT(XenbusStateConnected),
                                  STORE_WAIT_NS);
    back_result = rc < 0 ? rc : 0;
}

static enum xenbus_state front_saw;

static void front_changed(struct xenbus_device *dev, enum xenbus_state s)
{
    (void)dev;
    front_saw = s;
}

static void test_xenbus(void)
{
    static const unsigned ids[] = {12, 3, 0};
    char dir[96], other[96];
    long rc = 0;
    for (unsigned i = 0; i < ARRAY_SIZE(ids) && !rc; i++) {
        snprintf(dir, sizeof(dir), "data/xb/device/vtest/%u", ids[i]);
        snprintf(other, sizeof(other), "/local/domain/0/backend/vtest/%u/%u", self_domid,
                 ids[i]);
        rc = write_dev(dir, "backend", other, 0);
    }
    /* Not a device: a name that is no number, and one missing its nodes. */
    if (!rc) rc = xenstore_write(XBT_NIL, "data/xb/device/vtest/x/state", "1");
    if (!rc) rc = xenstore_write(XBT_NIL, "data/xb/device/vtest/7/state", "1");
    static const unsigned fronts[][2] = {{1001, 5}, {1000, 9}, {1001, 0}, {1000, 0}};
    for (unsigned i = 0; i < ARRAY_SIZE(fronts) && !rc; i++) {
        snprintf(dir, sizeof(dir), "data/xb/backend/vtest/%u/%u", fronts[i][0],
                 fronts[i][1]);
        snprintf(other, sizeof(other), "/local/domain/%u/device/vtest/%u", fronts[i][0],
                 fronts[i][1]);
        rc = write_dev(dir, "frontend", other, fronts[i][0]);
    }
    check("write a device tree under data/xb", rc, 0);
    struct xenbus_device *devs = page_alloc(); /* 8 devices: too big for a stack */
    if (!devs) {
        check_true("memory for the enumeration", false);
        return;
    }
    const unsigned max = PAGE_SIZE / sizeof(*devs);
    const char *fr = "data/xb/device", *bk = "data/xb/backend";
    check_devs("frontends in data/xb", fr,
               xenbus_enumerate_dir(fr, "vtest", false, devs, max), devs, max,
               "4: 0@0 3@0 7@- 12@0");
    check_devs("the first 2 of them", fr,
               xenbus_enumerate_dir(fr, "vtest", false, devs, 2), devs, 2, "4: 0@0 3@0");
    check_devs("backends in data/xb", bk,
               xenbus_enumerate_dir(bk, "vtest", true, devs, max), devs, max,
               "4: 1000/0 1000/9 1001/0 1001/5");
    check_devs("class vnone", fr, xenbus_enumerate_dir(fr, "vnone", false, devs, max),
               devs, max, "0:");
    check_devs("frontends in device/ (none from the toolstack)", "device",
               xenbus_enumerate_frontends("vtest", devs, max), devs, max, "0:");
    page_free(devs);

    /* A loop: our frontend's backend is our own backend directory. */
    char fe[96], be[96];
    snprintf(fe, sizeof(fe), "%s/data/xb/device/vloop/7", home);
    snprintf(be, sizeof(be), "%s/data/xb/backend/vloop/%u/7", home, self_domid);
    rc = write_dev(fe, "backend", be, self_domid);
    if (!rc) rc = write_dev(be, "frontend", fe, self_domid);
    check("write a loop device", rc, 0);
    long nf = xenbus_enumerate_dir("data/xb/device", "vloop", false, &loop_front, 1);
    long nb = xenbus_enumerate_dir("data/xb/backend", "vloop", true, &loop_back, 1);
    check_true("one vloop frontend and one backend, each naming the other",
               nf == 1 && nb == 1 && !strcmp(loop_front.otherend, loop_back.nodename) &&
                   !strcmp(loop_back.otherend, loop_front.nodename) &&
                   loop_front.otherend_id == self_domid);
    if (nr_cpus < 2) {
        printk("basic: handshake skipped (it needs a second cpu)\n");
        return;
    }
    loop_front.otherend_changed = front_changed;
    check("frontend: watch the backend's state", xenbus_watch_otherend(&loop_front), 0);
    smp_call_async(1, backend_side, NULL);
    struct xenbus_device *f = &loop_front;
    rc = xenbus_wait_otherend(f, XENBUS_STATE_BIT(XenbusStateInitWait), STORE_WAIT_NS);
    check("frontend: backend reached InitWait", rc < 0 ? rc : 0, 0);
    check("frontend: switch to Initialised",
          xenbus_switch_state(f, XenbusStateInitialised), 0);
    rc = xenbus_wait_otherend(f, XENBUS_STATE_BIT(XenbusStateConnected), STORE_WAIT_NS);
    check("frontend: backend reached Connected", rc < 0 ? rc : 0, 0);
    check("frontend: switch to Connected", xenbus_switch_state(f, XenbusStateConnected),
          0);
    smp_call_wait(1, 20 * SMP_TIMEOUT_NS);
    check("backend (cpu1): InitWait, saw Initialised, Connected, saw Connected",
          back_result, 0);
    printk("basic: frontend state %s, backend state %s\n",
           xenbus_state_name(xenbus_read_state(loop_back.otherend_state_path)),
           xenbus_state_name(xenbus_read_state(loop_front.otherend_state_path)));
    check_true("frontend's otherend_changed saw Connected last",
               front_saw == XenbusStateConnected);
    check("unwatch", xenbus_unwatch_otherend(&loop_front), 0);
    check("rm the loop device", xenstore_rm(XBT_NIL, fe), 0);
    check("switch_state of a removed device", xenbus_switch_state(f, XenbusStateClosing),
          -XEN_ENOENT);
    check_true("the device stays removed", !xenstore_exists(XBT_NIL, fe));
    check_true("state names",
               !strcmp(xenbus_state_name(XenbusStateReconfigured), "Reconfigured") &&
                   !strcmp(xenbus_state_name((enum xenbus_state)99), "invalid"));
}

int test_basic(void)
{
    test_xl_nodes();
    test_requests();
    test_perms();
    test_limits();
    test_watches();
    test_concurrent();
    test_transactions();
    test_xenbus();
    struct xenstore_stats st;
    xenstore_get_stats(&st);
    bool ok = st.replies == st.requests && st.bad_replies == 0;
    printk("basic: every request answered, no bad replies: %s\n", ok ? "ok" : "FAIL");
    failures += !ok;
    printk("basic: %u failures\n", failures);
    return failures ? 1 : 0;
}

/* test=badring: xenstored gone wrong, played by the guest itself: a
 * response producer index 5000 bytes ahead of the consumer.  The client
 * must count it, say so and give up on the ring (-XEN_EIO), never read
 * past the ring; xensim's xenstored, finding the same index when it
 * replies, ignores the connection (XENSTORE_ERROR_RINGIDX). */
int test_badring(void)
{
    char buf[16];
    uint64_t pfn = 0;
    who = "badring";
    check("read domid", xenstore_read(XBT_NIL, "domid", buf, sizeof(buf)), 0);
    hvm_get_param(HVM_PARAM_STORE_PFN, &pfn);
    struct xenstore_domain_interface *intf = pa_to_va(pfn << PAGE_SHIFT);
    XENSTORE_RING_IDX cons = READ_ONCE(intf->rsp_cons);
    WRITE_ONCE(intf->rsp_prod, cons + 5000);
    check("read with the response producer 5000 bytes ahead",
          xenstore_read(XBT_NIL, "domid", buf, sizeof(buf)), -XEN_EIO);
    check("the next request", xenstore_write(XBT_NIL, "data/x", "1"), -XEN_EIO);
    struct xenstore_stats st;
    xenstore_get_stats(&st);
    check_true("one bad reply counted", st.bad_replies == 1);
    check_true("xenstored flagged the ring (XENSTORE_ERROR_RINGIDX)",
               READ_ONCE(intf->error) == XENSTORE_ERROR_RINGIDX);
    printk("badring: %u failures\n", failures);
    return failures ? 1 : 0;
}
