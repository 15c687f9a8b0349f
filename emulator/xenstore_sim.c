/* xenstored inside a simulation: xensim is Dom0, so it also plays the
 * toolstack (libxl) for each domain: the store ring page and event channel,
 * the nodes xl writes, INTRODUCE, @releaseDomain when the domain shuts down
 * and the clean-up when it is destroyed. */
#include <inttypes.h>
#include <string.h>
#include <xen/hvm/params.h>

#include "console_sim.h"
#include "evtchn.h"
#include "gnttab.h"
#include "guest_mem.h"
#include "sim.h"
#include "xenstore_int.h"

/* Xen's HVM domain builder: special pages at the top of RAM, the store in
 * SPECIALPAGE_XENSTORE (page 4 of 8). */
#define SPECIAL_PAGES        8u
#define SPECIALPAGE_XENSTORE 4u

uint64_t xs_xenstore_ring_pfn(const struct xs_domain *d)
{
    return d->ram_bytes / XS_PAGE_SIZE - SPECIAL_PAGES + SPECIALPAGE_XENSTORE;
}

static struct xs_domain *sim_domain(struct xs_sim *sim, unsigned domid)
{
    for (unsigned i = 0; i < sim->nr_domains; i++)
        if (sim->domains[i]->domid == domid) return sim->domains[i];
    return NULL;
}

/* The store port is unbound in the guest (remote Dom0 = xensim), so xensim
 * raises it as the other end would. */
static void notify_guest(void *arg, evtchn_port_t port)
{
    struct xs_domain *d = arg;
    if (d->end_state == XS_END_RUNNING) xs_evtchn_notify_local(d, port);
}

static struct xenstore_domain_interface *ring_of(struct xs_domain *d)
{
    uint64_t pfn = d->hvm_params[HVM_PARAM_STORE_PFN];
    if (pfn > UINT64_MAX / XS_PAGE_SIZE) return NULL;
    return xs_gpa_ptr(d, pfn * XS_PAGE_SIZE, XS_PAGE_SIZE);
}

/* INTRODUCE from a client: the page is where the domain's HVM_PARAM_STORE_PFN
 * says (Xen maps the grant the toolstack seeded for it). */
static int map_ring(struct xs_xenstore *xs, unsigned domid,
                    struct xenstore_domain_interface **intf,
                    void (**notify)(void *arg, evtchn_port_t port), void **arg)
{
    struct xs_domain *d =
        domid < DOMID_FIRST_RESERVED ? sim_domain(xs->sim, domid) : NULL;
    if (!d || !(*intf = ring_of(d))) return -1;
    *notify = notify_guest;
    *arg = d;
    return 0;
}

int xs_xenstore_attach(struct xs_sim *sim, const char *socket_path, char *err,
                       size_t errlen)
{
    if (!sim->xenstore) {
        struct xs_xenstore *xs = xs_xenstore_new(sim->cfg.log);
        if (!xs) {
            snprintf(err, errlen, "out of memory for xenstored");
            return -1;
        }
        xs->sim = sim;
        xs->map_ring = map_ring;
        sim->xenstore = xs;
    }
    return socket_path ? xs_xenstore_listen(sim->xenstore, socket_path, err, errlen) : 0;
}

void xs_xenstore_sim_free(struct xs_sim *sim)
{
    xs_xenstore_free(sim->xenstore);
    sim->xenstore = NULL;
}

struct tool {
    struct xs_xenstore *xs;
    int err;
    char path[128]; /* of the first failure */
};

static void tool_mknod(struct tool *t, const char *path, const char *perms)
{
    int e = xs_xenstore_mknod(t->xs, path, perms);
    if (e && !t->err) t->err = e, snprintf(t->path, sizeof(t->path), "%s", path);
}

static void tool_write(struct tool *t, const char *path, const char *val)
{
    int e = xs_xenstore_write(t->xs, path, val, strlen(val));
    if (e && !t->err) t->err = e, snprintf(t->path, sizeof(t->path), "%s", path);
}

#define P(...) (snprintf(path, sizeof(path), __VA_ARGS__), path)

/* What libxl__domain_make and libxl__build_post write for a PVH guest, in
 * their order (the console nodes belong to the console backend). */
static void write_xl_nodes(struct tool *t, struct xs_domain *d, unsigned port,
                           uint64_t ring_pfn)
{
    char path[128], val[64], ro[32], rw[16];
    unsigned id = d->domid;
    char dp[32], vm[64], lp[32];
    snprintf(dp, sizeof(dp), "/local/domain/%u", id);
    /* xensim is deterministic: the UUID comes from the domid. */
    snprintf(vm, sizeof(vm), "/vm/00000000-0000-0000-0000-%012x", id);
    snprintf(lp, sizeof(lp), "/libxl/%u", id);
    snprintf(ro, sizeof(ro), "n0 r%u", id);
    snprintf(rw, sizeof(rw), "n%u", id);
    tool_mknod(t, dp, ro);
    tool_mknod(t, vm, ro);
    tool_mknod(t, lp, "n0");
    tool_mknod(t, P("%s/device", lp), "n0");
    tool_write(t, P("%s/vm", dp), vm);
    tool_write(t, P("%s/name", dp), d->name);
    tool_mknod(t, P("%s/cpu", dp), ro);
    tool_mknod(t, P("%s/memory", dp), ro);
    tool_mknod(t, P("%s/device", dp), ro);
    tool_mknod(t, P("%s/device/suspend/event-channel", dp), rw);
    tool_mknod(t, P("%s/control", dp), ro);
    static const char *const control_rw[] = {
        "shutdown", "feature-poweroff", "feature-reboot", "feature-suspend", "sysrq"};
    for (size_t i = 0; i < sizeof(control_rw) / sizeof(control_rw[0]); i++)
        tool_mknod(t, P("%s/control/%s", dp, control_rw[i]), rw);
    static const char *const guest_rw[] = {"data", "drivers", "feature", "attr", "error"};
    for (size_t i = 0; i < sizeof(guest_rw) / sizeof(guest_rw[0]); i++)
        tool_mknod(t, P("%s/%s", dp, guest_rw[i]), rw);
    tool_write(t, P("%s/uuid", vm), vm + 4);
    tool_write(t, P("%s/name", vm), d->name);
    tool_write(t, P("%s/control/platform-feature-multiprocessor-suspend", dp), "1");
    tool_write(t, P("%s/control/platform-feature-xs_reset_watches", dp), "1");
    tool_write(t, P("%s/type", lp), "pvh");
    snprintf(val, sizeof(val), "%" PRIu64, d->ram_bytes >> 10);
    tool_write(t, P("%s/memory/static-max", dp), val);
    tool_write(t, P("%s/memory/target", dp), val);
    tool_write(t, P("%s/memory/videoram", dp), "0");
    snprintf(val, sizeof(val), "%u", id);
    tool_write(t, P("%s/domid", dp), val);
    snprintf(val, sizeof(val), "%u", port);
    tool_write(t, P("%s/store/port", dp), val);
    snprintf(val, sizeof(val), "%" PRIu64, ring_pfn);
    tool_write(t, P("%s/store/ring-ref", dp), val);
    for (unsigned i = 0; i < d->nr_vcpus; i++)
        tool_write(t, P("%s/cpu/%u/availability", dp, i), "online");
}

int xs_xenstore_domain_created(struct xs_domain *d, char *err, size_t errlen)
{
    struct xs_xenstore *xs = d->sim->xenstore;
    if (!xs) return 0;
    uint64_t pfn = xs_xenstore_ring_pfn(d);
    struct xenstore_domain_interface *intf =
        xs_gpa_ptr(d, pfn * XS_PAGE_SIZE, XS_PAGE_SIZE);
    long port = xs_evtchn_alloc_unbound_from(d, 0, d->toolstack_port_min);
    if (!intf || port < 0) {
        snprintf(err, errlen, "domain %s: no xenstore ring page or event channel",
                 d->name);
        return -1;
    }
    memset(intf, 0, XS_PAGE_SIZE);
    /* Xen's xenstored maps the ring through this grant. */
    if (xs_gnttab_seed(d, GNTTAB_RESERVED_XENSTORE, 0, pfn)) {
        snprintf(err, errlen, "domain %s: cannot seed the xenstore grant", d->name);
        return -1;
    }
    d->hvm_params[HVM_PARAM_STORE_PFN] = pfn;
    d->hvm_params[HVM_PARAM_STORE_EVTCHN] = (uint64_t)port;
    xs_xenstore_set_domain_exists(xs, d->domid, true);
    struct tool t = {xs, 0, ""};
    write_xl_nodes(&t, d, (unsigned)port, pfn);
    if (t.err) {
        snprintf(err, errlen, "domain %s: xenstore: cannot write %s: %s", d->name, t.path,
                 xst_errno_name(t.err));
        return -1;
    }
    if (!xst_ring_conn(xs, d->domid, intf, (evtchn_port_t)port, notify_guest, d, false)) {
        snprintf(err, errlen, "domain %s: out of memory for its xenstore connection",
                 d->name);
        return -1;
    }
    return 0;
}

/* Xen's check_domains noticing a shut-down domain. */
void xs_xenstore_domain_ended(struct xs_domain *d)
{
    struct xs_xenstore *xs = d->sim->xenstore;
    if (!xs) return;
    struct xst_domain *sd = xst_find_domain(xs, d->domid);
    if (!sd || !sd->introduced || sd->shutdown) return;
    sd->shutdown = true;
    xst_fire_special(xs, "@releaseDomain");
}

/* A cancelled suspend: the domain runs again, and a later shutdown must
 * fire @releaseDomain again (Xen's domain_resume clears is_shut_down). */
void xs_xenstore_domain_resumed(struct xs_domain *d)
{
    struct xs_xenstore *xs = d->sim->xenstore;
    struct xst_domain *sd = xs ? xst_find_domain(xs, d->domid) : NULL;
    if (sd) sd->shutdown = false;
}

/* xl destroy: the toolstack removes the domain's directories, then
 * xenstored notices the domain is gone.  Runs before guest RAM is unmapped. */
void xs_xenstore_domain_destroyed(struct xs_domain *d)
{
    struct xs_xenstore *xs = d->sim->xenstore;
    if (!xs) return;
    if (!xst_hv_domain_exists(xs, d->domid)) return; /* never got that far */
    char path[64];
    xs_xenstore_rm(xs, P("/local/domain/%u", d->domid));
    xs_xenstore_rm(xs, P("/vm/00000000-0000-0000-0000-%012x", d->domid));
    xs_xenstore_rm(xs, P("/libxl/%u", d->domid));
    struct xst_domain *sd = xst_find_domain(xs, d->domid);
    if (sd) xst_release_domain(xs, sd);
    xs_xenstore_set_domain_exists(xs, d->domid, false);
    xst_sweep(xs);
}

static bool all_ended(struct xs_sim *sim)
{
    for (unsigned i = 0; i < sim->nr_domains; i++)
        if (sim->domains[i]->end_state == XS_END_RUNNING) return false;
    return true;
}

void xs_xenstore_sim_poll(struct xs_sim *sim)
{
    struct xs_xenstore *xs = sim->xenstore;
    if (!xs) return;
    xs_xenstore_service(xs);
    if (xs->listen_fd < 0) return;
    xs_xenstore_poll(xs, 0, -1);
    xs_xenstore_service(xs);
    /* Every vCPU waits and no timer will wake one: only a socket client can
     * change that now, so wait for one instead of stopping the run. */
    while (!all_ended(sim) && !xs_sim_can_progress(sim)) {
        /* Console input (boot's stdin) may wake a guest too: the console
         * backend reads it next (console_sim.c). */
        int input = xs_xenstore_poll(xs, -1, xs_console_input_fd(sim));
        xs_xenstore_service(xs);
        if (input) break;
    }
}
