/* The PV console in a simulation (console_sim.h): the toolstack's set-up
 * of a domain's console, as libxl does it for an HVM/PVH guest, and
 * xenconsoled's part -- the ring serviced from the run loop, output into
 * the domain's console, input from the scenario or from stdin. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xen/hvm/params.h>

#include "console_sim.h"
#include "evtchn.h"
#include "gnttab.h"
#include "guest_mem.h"
#include "sim.h"
#include "xenstore.h"

/* Xen's HVM domain builder: SPECIALPAGE_CONSOLE is page 7 of the 8 special
 * pages at the top of RAM (the store is page 4, xenstore_sim.c). */
#define SPECIAL_PAGES       8u
#define SPECIALPAGE_CONSOLE 7u
/* libxl's LIBXL_XENCONSOLE_LIMIT and LIBXL_XENCONSOLE_PROTOCOL. */
#define XENCONSOLE_LIMIT    "1048576"
#define XENCONSOLE_PROTOCOL "vt100"
/* An input fd is read only while less than this waits to go to the ring:
 * a guest that does not read stops xensim reading for it. */
#define INPUT_LOW_WATER 4096u

struct xs_console_be {
    struct xs_domain *dom;
    struct xs_conring ring;
    uint64_t pfn;
    evtchn_port_t port;
    int in_fd; /* -1: none, or end of file seen */
};

uint64_t xs_console_ring_pfn(const struct xs_domain *d)
{
    return d->ram_bytes / XS_PAGE_SIZE - SPECIAL_PAGES + SPECIALPAGE_CONSOLE;
}

const struct xs_conring *xs_console_ring(const struct xs_domain *d)
{
    return d->console_be ? &d->console_be->ring : NULL;
}

static void be_output(void *arg, const char *buf, size_t len)
{
    struct xs_console_be *be = arg;
    xs_console_append(be->dom, buf, len);
}

/* The port is unbound in the guest (remote Dom0 = xensim), as the store
 * port: xensim raises it as the other end would. */
static void be_notify(void *arg)
{
    struct xs_console_be *be = arg;
    if (be->dom->end_state == XS_END_RUNNING) xs_evtchn_notify_local(be->dom, be->port);
}

static void be_report(void *arg, const char *msg)
{
    struct xs_console_be *be = arg;
    xs_report(be->dom, "xensim: console: d%u (%s) %s", be->dom->domid, be->dom->name,
              msg);
}

static const struct xs_conring_ops be_ops = {be_output, be_notify, be_report};

/* ---- the toolstack's nodes --------------------------------------------------- */

struct tool {
    struct xs_xenstore *xs;
    int err;
    char path[160]; /* of the first failure */
};

static void tool_note(struct tool *t, int e, const char *path)
{
    if (e && !t->err) t->err = e, snprintf(t->path, sizeof(t->path), "%s", path);
}

static void tool_mknod(struct tool *t, const char *path, const char *perms)
{
    tool_note(t, xs_xenstore_mknod(t->xs, path, perms), path);
}

static void tool_write(struct tool *t, const char *dir, const char *name, const char *val)
{
    char path[160];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    tool_note(t, xs_xenstore_write(t->xs, path, val, strlen(val)), path);
}

/* libxl__device_console_add for console 0 through libxl__device_generic_add:
 * the frontend directory is /local/domain/<id>/console, owned by the
 * backend (Dom0) and readable by the guest (console 0 is not a regular PV
 * device: the guest must not change it), except backend-id with the usual
 * frontend permissions; the backend directory and libxl's copy of it.
 * tty stays "" as libxl writes it: xensim has no pty for xenconsoled to
 * name. */
static int write_nodes(struct xs_xenstore *xs, struct xs_domain *d, char *err,
                       size_t errlen)
{
    struct tool t = {xs, 0, ""};
    unsigned id = d->domid;
    char fe[48], be[64], lx[64], ro[24], fperm[24], val[80], fid[16];
    snprintf(fe, sizeof(fe), "/local/domain/%u/console", id);
    snprintf(be, sizeof(be), "/local/domain/0/backend/console/%u/0", id);
    snprintf(lx, sizeof(lx), "/libxl/%u/device/console/0", id);
    snprintf(ro, sizeof(ro), "n0 r%u", id);
    snprintf(fperm, sizeof(fperm), "n%u r0", id);
    snprintf(fid, sizeof(fid), "%u", id);
    tool_mknod(&t, fe, ro);
    tool_write(&t, fe, "backend", be);
    snprintf(val, sizeof(val), "%s/backend-id", fe);
    tool_mknod(&t, val, fperm);
    tool_write(&t, fe, "backend-id", "0");
    tool_write(&t, fe, "limit", XENCONSOLE_LIMIT);
    tool_write(&t, fe, "type", "xenconsoled");
    tool_write(&t, fe, "output", "pty");
    tool_write(&t, fe, "tty", "");
    snprintf(val, sizeof(val), "%u", d->console_be->port);
    tool_write(&t, fe, "port", val);
    snprintf(val, sizeof(val), "%" PRIu64, d->console_be->pfn);
    tool_write(&t, fe, "ring-ref", val);
    tool_mknod(&t, be, ro);
    tool_write(&t, be, "frontend", fe);
    const char *dirs[] = {be, lx};
    for (unsigned i = 0; i < 2; i++) {
        tool_write(&t, dirs[i], "frontend-id", fid);
        tool_write(&t, dirs[i], "online", "1");
        tool_write(&t, dirs[i], "state", "1"); /* XenbusStateInitialising */
        tool_write(&t, dirs[i], "protocol", XENCONSOLE_PROTOCOL);
    }
    if (!t.err) return 0;
    snprintf(err, errlen, "domain %s: xenstore: cannot write %s: Xen errno %d", d->name,
             t.path, t.err);
    return -1;
}

/* ---- life cycle ----------------------------------------------------------------- */

int xs_console_domain_created(struct xs_domain *d, char *err, size_t errlen)
{
    /* The toolstack's part, like the store's: only in a simulation that
     * has one (run and boot do; bare domains in unit tests do not). */
    if (!d->sim->xenstore) return 0;
    uint64_t pfn = xs_console_ring_pfn(d);
    struct xencons_interface *intf = xs_gpa_ptr(d, pfn * XS_PAGE_SIZE, XS_PAGE_SIZE);
    struct xs_console_be *be = calloc(1, sizeof(*be));
    long port =
        intf && be ? xs_evtchn_alloc_unbound_from(d, 0, d->toolstack_port_min) : -1;
    if (!be || !intf || port < 0) {
        free(be);
        snprintf(err, errlen, "domain %s: no console ring page or event channel",
                 d->name);
        return -1;
    }
    /* A restored domain's ring came with its memory: xenconsoled carries on
     * from its indexes (output left unread at suspend was taken then). */
    if (!d->restored) memset(intf, 0, XS_PAGE_SIZE);
    be->dom = d;
    be->pfn = pfn;
    be->port = (evtchn_port_t)port;
    be->in_fd = -1;
    xs_conring_init(&be->ring, intf, &be_ops, be);
    if (d->restored) {
        be->ring.out_cons = __atomic_load_n(&intf->out_cons, __ATOMIC_ACQUIRE);
        be->ring.in_prod = __atomic_load_n(&intf->in_prod, __ATOMIC_ACQUIRE);
        be->ring.in_cons_seen = __atomic_load_n(&intf->in_cons, __ATOMIC_ACQUIRE);
    }
    d->console_be = be;
    /* xenconsoled maps the ring through this grant. */
    if (xs_gnttab_seed(d, GNTTAB_RESERVED_CONSOLE, 0, pfn)) {
        snprintf(err, errlen, "domain %s: cannot seed the console grant", d->name);
        return -1;
    }
    d->hvm_params[HVM_PARAM_CONSOLE_PFN] = pfn;
    d->hvm_params[HVM_PARAM_CONSOLE_EVTCHN] = (uint64_t)port;
    return write_nodes(d->sim->xenstore, d, err, errlen);
}

void xs_console_domain_ended(struct xs_domain *d)
{
    if (d->console_be) xs_conring_drain(&d->console_be->ring);
}

void xs_console_domain_destroyed(struct xs_domain *d)
{
    struct xs_console_be *be = d->console_be;
    if (!be) return;
    /* xl destroy removes the backend directory with the device; the
     * frontend's goes with /local/domain/<id>. */
    char path[64];
    snprintf(path, sizeof(path), "/local/domain/0/backend/console/%u", d->domid);
    xs_xenstore_rm(d->sim->xenstore, path);
    xs_conring_fini(&be->ring);
    free(be);
    d->console_be = NULL;
}

/* ---- input -------------------------------------------------------------------- */

int xs_console_input(struct xs_domain *d, const void *buf, size_t len)
{
    return d->console_be ? xs_conring_input(&d->console_be->ring, buf, len) : -1;
}

void xs_console_save_input(struct xs_domain *d, struct xs_console_pending *p)
{
    *p = (struct xs_console_pending){NULL, 0, -1};
    struct xs_console_be *be = d->console_be;
    if (!be) return;
    size_t n = xs_conring_input_pending(&be->ring);
    if (n && (p->buf = malloc(n))) {
        memcpy(p->buf, be->ring.input + be->ring.input_head, n);
        p->len = n;
    }
    p->fd = be->in_fd;
    be->in_fd = -1;
}

void xs_console_restore_input(struct xs_domain *d, struct xs_console_pending *p)
{
    if (d && d->console_be) {
        if (p->len && xs_conring_input(&d->console_be->ring, p->buf, p->len))
            xs_log(d->sim, "xensim: domain %u (%s): console input dropped", d->domid,
                   d->name);
        d->console_be->in_fd = p->fd;
    }
    free(p->buf);
    *p = (struct xs_console_pending){NULL, 0, -1};
}

void xs_console_attach_fd(struct xs_domain *d, int fd)
{
    if (d->console_be) d->console_be->in_fd = fd;
}

/* Read what fd has, waiting up to timeout_ms (-1: until it has some). */
static void read_fd(struct xs_console_be *be, int timeout_ms)
{
    if (be->in_fd < 0 || xs_conring_input_pending(&be->ring) >= INPUT_LOW_WATER) return;
    struct pollfd p = {.fd = be->in_fd, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) <= 0 || !(p.revents & (POLLIN | POLLHUP | POLLERR)))
        return; /* nothing yet, or a signal: the caller comes back */
    char buf[4096];
    ssize_t n = read(be->in_fd, buf, sizeof(buf));
    if (n > 0) {
        if (xs_conring_input(&be->ring, buf, (size_t)n))
            xs_log(be->dom->sim, "xensim: domain %u (%s): console input dropped",
                   be->dom->domid, be->dom->name);
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        be->in_fd = -1; /* end of input: the guest just gets no more */
    }
}

/* Could the console port wake one of the domain's vCPUs: one polls on it,
 * or one is blocked and the port is unmasked (a handler takes it)? */
static bool guest_listens(struct xs_console_be *be)
{
    struct xs_domain *d = be->dom;
    bool unmasked = !xs_evtchn_is_masked(d, be->port);
    for (unsigned j = 0; j < d->nr_vcpus; j++) {
        const struct xs_vcpu *v = &d->vcpus[j];
        if (v->state == XS_VCPU_BLOCKED && unmasked) return true;
        if (v->state != XS_VCPU_POLLING) continue;
        for (unsigned k = 0; k < v->nr_poll_ports; k++)
            if (v->poll_ports[k] == be->port) return true;
    }
    return false;
}

/* A domain that reads from an fd, has read everything it was given and
 * waits on its console port: what it waits for is the user's next line.
 * (One that waits for something else is a deadlock, input or not.) */
static struct xs_console_be *input_waiter(struct xs_sim *sim)
{
    for (unsigned i = 0; i < sim->nr_domains; i++) {
        struct xs_console_be *be = sim->domains[i]->console_be;
        if (!be || be->in_fd < 0 || sim->domains[i]->end_state != XS_END_RUNNING ||
            be->ring.in_broken || xs_conring_input_pending(&be->ring))
            continue;
        const struct xencons_interface *intf = be->ring.intf;
        if (__atomic_load_n(&intf->in_cons, __ATOMIC_ACQUIRE) == be->ring.in_prod &&
            guest_listens(be))
            return be;
    }
    return NULL;
}

int xs_console_input_fd(struct xs_sim *sim)
{
    struct xs_console_be *be = input_waiter(sim);
    return be ? be->in_fd : -1;
}

void xs_console_sim_poll(struct xs_sim *sim)
{
    for (unsigned i = 0; i < sim->nr_domains; i++) {
        struct xs_domain *d = sim->domains[i];
        struct xs_console_be *be = d->console_be;
        if (!be || d->end_state != XS_END_RUNNING) continue;
        if (be->in_fd >= 0) read_fd(be, 0);
        xs_conring_poll(&be->ring);
    }
    /* Nothing can run and no timer is due: a guest waiting for input
     * waits for the user, as under `xl console`, instead of the run
     * stopping with a deadlock.  End of input ends the wait.  With a store
     * socket, the store's wait watches the fd along with its clients. */
    if (sim->xenstore && xs_xenstore_listening(sim->xenstore)) return;
    struct xs_console_be *be;
    while ((be = input_waiter(sim)) && !xs_sim_can_progress(sim)) {
        read_fd(be, -1);
        xs_conring_poll(&be->ring);
    }
}

void xs_console_sim_flush(struct xs_sim *sim)
{
    for (unsigned i = 0; i < sim->nr_domains; i++)
        if (sim->domains[i]->console_be)
            xs_conring_drain(&sim->domains[i]->console_be->ring);
}
