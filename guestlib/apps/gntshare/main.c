/* gntshare: two domains share memory through grant tables over a xenbus
 * device of class "vshare" (scenarios/gnttab.scn).
 *
 *   role=front  the granting side: for each of its vshare devices, grants
 *               pages=N pages read-write and one page read-only to the
 *               backend, publishes the references and an event channel,
 *               and checks byte for byte what the backend wrote back (through
 *               its mapping and by GNTTABOP_copy).
 *   role=back   maps every page, verifies the pattern, writes its own
 *               through the mapping and by copy, checks that the read-only
 *               grant refuses writable maps and copies into it (with Xen's
 *               GNTST_general_error), plus Xen's other per-op errors; unmaps
 *               when the frontend closes.
 *   role=leak   a backend that "forgets" to unmap: it reports Closed with
 *               its mappings still in place, so xensim's leak check reports
 *               them with their grant references.
 *
 * The handshake is the one PV drivers use: backend InitWait, frontend
 * Initialised (references written), backend Connected, frontend Connected;
 * frontend Closing, backend Closed, frontend Closed.  Every line the app
 * prints is the same for every seed. */
#include <guest/evtchn.h>
#include <guest/gnttab.h>
#include <guest/hypercall.h>
#include <guest/kernel.h>
#include <guest/mm.h>
#include <guest/printk.h>
#include <guest/smp.h>
#include <guest/string.h>
#include <guest/xenbus.h>
#include <guest/xenstore.h>

#define MAX_DEVS     4
#define MAX_PAGES    32
#define WAIT_NS      ((uint64_t)1000 * 1000 * 1000)
#define COPY_OFF     100u
#define COPY_LEN     1000u
#define DEVCLASS     "vshare"
#define CLOSED_STATE XENBUS_STATE_BIT(XenbusStateClosed)

static unsigned self_domid;
static unsigned nr_pages = 8;
static unsigned failures;

#define CHECK(cond, ...)                                                                 \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            printk("gntshare: FAIL: " __VA_ARGS__);                                      \
            printk("\n");                                                                \
            failures++;                                                                  \
        }                                                                                \
    } while (0)

/* The byte at off of page of the domain that wrote it: differs per writer,
 * page and offset, so a misplaced or stale byte never passes. */
static uint8_t pattern(unsigned domid, unsigned page, unsigned off)
{
    return (uint8_t)(page * 37u + off * 7u + domid * 101u + (off >> 8) + 1u);
}

static void fill(uint8_t *p, unsigned domid, unsigned page, unsigned from, unsigned to)
{
    for (unsigned off = from; off < to; off++)
        p[off] = pattern(domid, page, off);
}

/* Bytes in [from, to) that do not hold domid's pattern for page. */
static unsigned mismatches(const uint8_t *p, unsigned domid, unsigned page, unsigned from,
                           unsigned to)
{
    unsigned bad = 0;
    for (unsigned off = from; off < to; off++)
        bad += p[off] != pattern(domid, page, off);
    return bad;
}

/* A device's event channel: the handler counts notifications. */
struct chan {
    long port;
    volatile unsigned events;
};

static void chan_handler(evtchn_port_t port, void *arg)
{
    (void)port;
    struct chan *c = arg;
    c->events++;
}

static bool chan_has_event(void *arg)
{
    return ((struct chan *)arg)->events > 0;
}

static long wait_state(struct xenbus_device *dev, enum xenbus_state want)
{
    long st = xenbus_wait_otherend(dev, XENBUS_STATE_BIT(want) | CLOSED_STATE, WAIT_NS);
    if (st != (long)want)
        printk("gntshare: FAIL: %s: waited for %s, other end is %s\n", dev->nodename,
               xenbus_state_name(want),
               st < 0 ? xenstore_errname(st) : xenbus_state_name((enum xenbus_state)st));
    return st == (long)want ? 0 : -1;
}

/* ---- frontend --------------------------------------------------------------- */

struct front {
    struct xenbus_device dev;
    uint8_t *page[MAX_PAGES];
    long ref[MAX_PAGES];
    uint8_t *ro_page;
    long ro_ref;
    struct chan chan;
};

/* Everything the backend reads, in one transaction, as blkfront does. */
static long publish(xs_transaction_t t, void *arg)
{
    struct front *f = arg;
    long rc = xenbus_printf(t, &f->dev, "nr-pages", "%u", nr_pages);
    for (unsigned i = 0; !rc && i < nr_pages; i++) {
        char node[16];
        snprintf(node, sizeof(node), "gref-%u", i);
        rc = xenbus_printf(t, &f->dev, node, "%ld", f->ref[i]);
    }
    if (!rc) rc = xenbus_printf(t, &f->dev, "ro-ref", "%ld", f->ro_ref);
    if (!rc) rc = xenbus_printf(t, &f->dev, "event-channel", "%ld", f->chan.port);
    return rc;
}

static int front_setup(struct front *f)
{
    struct xenbus_device *dev = &f->dev;
    unsigned be = dev->otherend_id;
    if (wait_state(dev, XenbusStateInitWait)) return -1;
    for (unsigned i = 0; i < nr_pages; i++) {
        f->page[i] = page_alloc();
        if (!f->page[i]) return -1;
        fill(f->page[i], self_domid, i, 0, PAGE_SIZE);
        f->ref[i] = gnttab_grant_page((domid_t)be, f->page[i], false);
        CHECK(f->ref[i] >= 0, "grant page %u: %ld", i, f->ref[i]);
        if (f->ref[i] < 0) return -1;
    }
    f->ro_page = page_alloc();
    if (!f->ro_page) return -1;
    fill(f->ro_page, self_domid, MAX_PAGES, 0, PAGE_SIZE);
    f->ro_ref = gnttab_grant_page((domid_t)be, f->ro_page, true);
    CHECK(f->ro_ref >= 0, "grant read-only page: %ld", f->ro_ref);
    f->chan.port = evtchn_alloc_unbound((domid_t)be, chan_handler, &f->chan);
    CHECK(f->chan.port >= 0, "alloc_unbound: %ld", f->chan.port);
    if (f->ro_ref < 0 || f->chan.port < 0) return -1;
    unsigned retries = 0;
    long rc = xenstore_transaction(publish, f, 0, &retries);
    CHECK(rc == 0, "publishing references: %s", xenstore_errname(rc));
    if (rc) return -1;
    printk("gntshare: %s: granted %u pages + 1 read-only to d%u (refs %ld..%ld, ro %ld), "
           "port %ld\n",
           dev->nodename, nr_pages, be, f->ref[0], f->ref[nr_pages - 1], f->ro_ref,
           f->chan.port);
    return xenbus_switch_state(dev, XenbusStateInitialised) ? -1 : 0;
}

static int front_check(struct front *f)
{
    struct xenbus_device *dev = &f->dev;
    unsigned be = dev->otherend_id;
    if (wait_state(dev, XenbusStateConnected)) return -1;
    bool ev = wait_event(chan_has_event, &f->chan, WAIT_NS);
    CHECK(ev, "%s: no event from the backend", dev->nodename);
    /* Page 0: rewritten by the backend through its mapping.  Page 1: bytes
     * [COPY_OFF, COPY_OFF + COPY_LEN) by its grant copy, the rest ours. */
    unsigned bad0 = mismatches(f->page[0], be, 0, 0, PAGE_SIZE);
    unsigned bad1 = mismatches(f->page[1], self_domid, 1, 0, COPY_OFF) +
                    mismatches(f->page[1], be, 1, COPY_OFF, COPY_OFF + COPY_LEN) +
                    mismatches(f->page[1], self_domid, 1, COPY_OFF + COPY_LEN, PAGE_SIZE);
    unsigned bad_rest = 0;
    for (unsigned i = 2; i < nr_pages; i++)
        bad_rest += mismatches(f->page[i], self_domid, i, 0, PAGE_SIZE);
    unsigned bad_ro = mismatches(f->ro_page, self_domid, MAX_PAGES, 0, PAGE_SIZE);
    printk("gntshare: %s: page 0 written through d%u's mapping: %u bad bytes; page 1 "
           "copied %u bytes at %u: %u bad; other %u pages unchanged: %u bad; read-only "
           "page unchanged: %u bad\n",
           dev->nodename, be, bad0, COPY_LEN, COPY_OFF, bad1, nr_pages - 2, bad_rest,
           bad_ro);
    CHECK(!bad0 && !bad1 && !bad_rest && !bad_ro, "%s: data mismatch", dev->nodename);
    /* The backend still maps page 0: ending access must be refused. */
    bool in_use = gnttab_in_use((grant_ref_t)f->ref[0]);
    long rc = gnttab_end_access((grant_ref_t)f->ref[0]);
    printk("gntshare: %s: end access to mapped ref %ld: in use %s, %s\n", dev->nodename,
           f->ref[0], in_use ? "yes" : "no", rc == -XEN_EBUSY ? "EBUSY" : "not refused");
    CHECK(in_use && rc == -XEN_EBUSY, "ending access to a mapped grant was not refused");
    return xenbus_switch_state(dev, XenbusStateConnected) ? -1 : 0;
}

static int front_close(struct front *f)
{
    struct xenbus_device *dev = &f->dev;
    if (xenbus_switch_state(dev, XenbusStateClosing)) return -1;
    long st = xenbus_wait_otherend(dev, CLOSED_STATE, WAIT_NS);
    CHECK(st == XenbusStateClosed, "%s: backend did not close", dev->nodename);
    /* A careful frontend never revokes a grant the backend still maps. */
    unsigned ended = 0, busy = 0;
    for (unsigned i = 0; i <= nr_pages; i++) {
        long ref = i < nr_pages ? f->ref[i] : f->ro_ref;
        if (gnttab_in_use((grant_ref_t)ref)) {
            busy++;
            continue;
        }
        long rc = gnttab_end_access((grant_ref_t)ref);
        CHECK(rc == 0, "end access to ref %ld: %ld", ref, rc);
        ended += rc == 0;
    }
    printk("gntshare: %s: backend closed; ended access to %u grants, %u still mapped by "
           "d%u (left granted)\n",
           dev->nodename, ended, busy, dev->otherend_id);
    evtchn_close((evtchn_port_t)f->chan.port);
    return xenbus_switch_state(dev, XenbusStateClosed) ? -1 : 0;
}

static struct front fronts[MAX_DEVS];

static int run_front(void)
{
    struct xenbus_device devs[MAX_DEVS];
    long n = xenbus_enumerate_frontends(DEVCLASS, devs, MAX_DEVS);
    printk("gntshare: front: %ld %s devices\n", n, DEVCLASS);
    if (n <= 0 || n > MAX_DEVS) return 1;
    for (long i = 0; i < n; i++) {
        fronts[i].dev = devs[i];
        printk("gntshare: %s: backend %s (d%u)\n", devs[i].nodename, devs[i].otherend,
               devs[i].otherend_id);
        if (xenbus_watch_otherend(&fronts[i].dev)) return 1;
    }
    /* Stage by stage over all devices, so no backend waits on another. */
    for (long i = 0; i < n; i++)
        if (front_setup(&fronts[i])) return 1;
    for (long i = 0; i < n; i++)
        if (front_check(&fronts[i])) return 1;
    for (long i = 0; i < n; i++)
        if (front_close(&fronts[i])) return 1;
    return 0;
}

/* ---- backend ------------------------------------------------------------------ */

static const char *st_name(int16_t st)
{
    return gnttab_status_name(st);
}

/* Xen's own check of a copy that crosses the end of the granted page (the
 * guestlib wrapper refuses it before the hypercall). */
static int16_t raw_copy_crossing(domid_t dom, grant_ref_t ref, void *buf)
{
    struct gnttab_copy op = {
        .source = {.u.ref = ref, .domid = dom, .offset = 4000},
        .dest = {.u.gmfn = va_to_pa(buf) >> PAGE_SHIFT, .domid = DOMID_SELF},
        .len = 200,
        .flags = GNTCOPY_source_gref};
    long rc = HYPERVISOR_grant_table_op(GNTTABOP_copy, &op, 1);
    return rc ? GNTST_general_error : op.status;
}

static int run_back(bool leak)
{
    struct xenbus_device devs[MAX_DEVS];
    long n = xenbus_enumerate_backends(DEVCLASS, devs, MAX_DEVS);
    printk("gntshare: back: %ld %s devices\n", n, DEVCLASS);
    if (n != 1) return 1;
    struct xenbus_device *dev = &devs[0];
    unsigned fe = dev->otherend_id;
    printk("gntshare: %s: frontend %s (d%u)\n", dev->nodename, dev->otherend, fe);
    if (xenbus_watch_otherend(dev) || xenbus_switch_state(dev, XenbusStateInitWait) ||
        wait_state(dev, XenbusStateInitialised))
        return 1;
    uint64_t np, ro, port, refs[MAX_PAGES];
    long rc = xenbus_read_u64(XBT_NIL, dev->otherend, "nr-pages", &np);
    if (!rc && (np < 2 || np > MAX_PAGES)) rc = -XEN_EINVAL;
    for (unsigned i = 0; !rc && i < np; i++) {
        char node[16];
        snprintf(node, sizeof(node), "gref-%u", i);
        rc = xenbus_read_u64(XBT_NIL, dev->otherend, node, &refs[i]);
    }
    if (!rc) rc = xenbus_read_u64(XBT_NIL, dev->otherend, "ro-ref", &ro);
    if (!rc) rc = xenbus_read_u64(XBT_NIL, dev->otherend, "event-channel", &port);
    CHECK(rc == 0, "reading the frontend's nodes: %s", xenstore_errname(rc));
    if (rc) return 1;
    static struct chan chan;
    chan.port =
        evtchn_bind_interdomain((domid_t)fe, (evtchn_port_t)port, chan_handler, &chan);
    CHECK(chan.port >= 0, "bind_interdomain: %ld", chan.port);
    if (chan.port < 0) return 1;

    /* Map every page over pages of our own and check the frontend's bytes. */
    static uint8_t *va[MAX_PAGES];
    static grant_handle_t h[MAX_PAGES];
    unsigned bad = 0;
    for (unsigned i = 0; i < np; i++) {
        va[i] = page_alloc();
        if (!va[i]) return 1;
        int16_t st =
            gnttab_map_grant((domid_t)fe, (grant_ref_t)refs[i], va[i], false, &h[i]);
        CHECK(st == GNTST_okay, "map ref %llu: %s", (unsigned long long)refs[i],
              st_name(st));
        if (st != GNTST_okay) return 1;
        bad += mismatches(va[i], fe, i, 0, PAGE_SIZE);
    }
    printk("gntshare: %s: mapped %llu grants of d%u, %u bad bytes\n", dev->nodename,
           (unsigned long long)np, fe, bad);
    CHECK(!bad, "the frontend's pages differ");

    /* The read-only grant: copying out and a read-only map work, writing
     * in either way is refused. */
    uint8_t *tmp = page_alloc(), *rova = page_alloc();
    if (!tmp || !rova) return 1;
    grant_handle_t rh;
    int16_t st_w = gnttab_map_grant((domid_t)fe, (grant_ref_t)ro, rova, false, &rh);
    int16_t st_cw = gnttab_copy_to_grant((domid_t)fe, (grant_ref_t)ro, 0, tmp, 64);
    int16_t st_r = gnttab_map_grant((domid_t)fe, (grant_ref_t)ro, rova, true, &rh);
    unsigned bad_ro =
        st_r == GNTST_okay ? mismatches(rova, fe, MAX_PAGES, 0, PAGE_SIZE) : 1;
    int16_t st_u =
        st_r == GNTST_okay ? gnttab_unmap_grant(rova, rh) : GNTST_general_error;
    int16_t st_cr =
        gnttab_copy_from_grant((domid_t)fe, (grant_ref_t)ro, 0, tmp, PAGE_SIZE);
    bad_ro += mismatches(tmp, fe, MAX_PAGES, 0, PAGE_SIZE);
    printk("gntshare: %s: read-only grant: writable map %s, copy into it %s, read-only "
           "map %s, unmap %s, copy out %s, %u bad bytes\n",
           dev->nodename, st_name(st_w), st_name(st_cw), st_name(st_r), st_name(st_u),
           st_name(st_cr), bad_ro);
    /* Xen refuses write-pinning a read-only entry with GNTST_general_error
     * (_set_status: "Attempt to write-pin a r/o grant entry"). */
    CHECK(st_w == GNTST_general_error && st_cw == GNTST_general_error &&
              st_r == GNTST_okay && st_u == GNTST_okay && st_cr == GNTST_okay && !bad_ro,
          "read-only grant not enforced");

    /* Xen's per-op errors. */
    grant_handle_t bh;
    int16_t e_ref = gnttab_map_grant((domid_t)fe, 100000, tmp, false, &bh);
    int16_t e_dom =
        gnttab_map_grant(DOMID_FIRST_RESERVED - 1, (grant_ref_t)refs[0], tmp, false, &bh);
    int16_t e_cross = raw_copy_crossing((domid_t)fe, (grant_ref_t)refs[2], tmp);
    int16_t e_handle = gnttab_unmap_grant(tmp, 999);
    printk("gntshare: %s: errors: bad ref %s, no such domain %s, copy across the page "
           "end %s, bad handle %s\n",
           dev->nodename, st_name(e_ref), st_name(e_dom), st_name(e_cross),
           st_name(e_handle));
    CHECK(e_ref == GNTST_bad_gntref && e_dom == GNTST_bad_domain &&
              e_cross == GNTST_bad_copy_arg && e_handle == GNTST_bad_handle,
          "Xen's grant errors");

    /* Write back: page 0 through the mapping, part of page 1 by copy. */
    fill(va[0], self_domid, 0, 0, PAGE_SIZE);
    fill(tmp, self_domid, 1, 0, PAGE_SIZE);
    int16_t st_c = gnttab_copy_to_grant((domid_t)fe, (grant_ref_t)refs[1], COPY_OFF,
                                        tmp + COPY_OFF, COPY_LEN);
    CHECK(st_c == GNTST_okay, "copy to ref %llu: %s", (unsigned long long)refs[1],
          st_name(st_c));
    evtchn_send((evtchn_port_t)chan.port);
    if (xenbus_switch_state(dev, XenbusStateConnected) ||
        wait_state(dev, XenbusStateClosing))
        return 1;
    unsigned unmapped = 0;
    if (!leak) {
        for (unsigned i = 0; i < np; i++) {
            int16_t st = gnttab_unmap_grant(va[i], h[i]);
            CHECK(st == GNTST_okay, "unmap ref %llu: %s", (unsigned long long)refs[i],
                  st_name(st));
            unmapped += st == GNTST_okay;
        }
    }
    printk("gntshare: %s: frontend closing; unmapped %u of %llu grants%s\n",
           dev->nodename, unmapped, (unsigned long long)np,
           leak ? " (leaking the rest on purpose)" : "");
    evtchn_close((evtchn_port_t)chan.port);
    return xenbus_switch_state(dev, XenbusStateClosed) ? 1 : 0;
}

int app_main(void)
{
    char role[8], buf[8];
    if (!cmdline_get("role", role, sizeof(role))) memcpy(role, "front", 6);
    if (cmdline_get("pages", buf, sizeof(buf))) {
        nr_pages = 0;
        for (const char *p = buf; *p >= '0' && *p <= '9'; p++)
            nr_pages = nr_pages * 10 + (unsigned)(*p - '0');
    }
    if (nr_pages < 2 || nr_pages > MAX_PAGES) {
        printk("gntshare: pages must be 2..%u\n", MAX_PAGES);
        return 1;
    }
    if (!boot.xen) {
        printk("gntshare: no Xen found, nothing to test\n");
        return 0;
    }
    smp_init();
    smp_start();
    long rc = xenstore_init();
    if (!rc) rc = xenstore_self_domid(&self_domid);
    if (rc) {
        printk("gntshare: FAIL: no xenstore: %s\n", xenstore_errname(rc));
        return 1;
    }
    rc = gnttab_init(0);
    if (rc) {
        printk("gntshare: FAIL: grant table: %ld\n", rc);
        return 1;
    }
    printk("gntshare: d%u role %s, grant table v%u\n", self_domid, role,
           gnttab_version());
    int r;
    if (!strcmp(role, "front"))
        r = run_front();
    else if (!strcmp(role, "back") || !strcmp(role, "leak"))
        r = run_back(!strcmp(role, "leak"));
    else {
        printk("gntshare: unknown role=%s\n", role);
        return 1;
    }
    if (r || failures) {
        printk("gntshare: FAIL: %u checks failed\n", failures);
        return 1;
    }
    printk("gntshare: %s done\n", role);
    return 0;
}
