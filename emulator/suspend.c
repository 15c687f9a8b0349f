/* Suspend and resume (suspend.h, docs/suspend.md): the hypervisor parks a
 * domain that made SCHEDOP_shutdown(SHUTDOWN_suspend); the toolstack asks
 * for it through control/shutdown, then cancels or resumes it in a new
 * domain, as xl save followed by xl restore does within one host. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "console_sim.h"
#include "domain_image.h"
#include "gnttab.h"
#include "pvdev.h"
#include "sim.h"
#include "suspend.h"
#include "xenstore.h"

enum req_state { REQ_WAITING, REQ_ASKED, REQ_DONE };

/* One `suspend` statement: which domain (by its index in sim->domains, so
 * a later request finds the newest incarnation), what to do once it
 * suspended, how long to wait. */
struct suspend_req {
    struct xs_sim *sim;
    unsigned dom_index;
    bool cancel;
    uint64_t timeout_ns;
    enum req_state state;
    void (*then)(struct xs_domain *d, void *arg); /* instead of cancel/resume */
    void *then_arg;
    struct suspend_req *next;
};

struct xs_suspends {
    struct suspend_req *head;
};

static void trace(struct xs_domain *d, unsigned what, uint64_t a0, const char *why)
{
    struct xs_sim *sim = d->sim;
    xs_trace_emit(&sim->trace, sim->vtime_ns, d->domid, 0, XS_TR_SUSPEND, what, &a0, 1, 0,
                  why, why ? (uint32_t)strlen(why) : 0);
}

/* The toolstack gives up on a request: said, traced, counted. */
static void fail(struct xs_domain *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void fail(struct xs_domain *d, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    d->suspends_failed++;
    xs_log(d->sim, "xensim: suspend of %s (d%u) failed: %s", d->name, d->domid, why);
    trace(d, 4, 0, why);
}

/* The request waiting for d to suspend, if any. */
static struct suspend_req *asked_of(struct xs_domain *d)
{
    struct xs_suspends *all = d->sim->suspends;
    for (struct suspend_req *r = all ? all->head : NULL; r; r = r->next)
        if (r->state == REQ_ASKED && r->dom_index == d->index) return r;
    return NULL;
}

/* ---- the hypervisor ------------------------------------------------------------ */

static void toolstack_continue(struct xs_sim *sim, void *arg);

long xs_domain_suspend(struct xs_vcpu *v)
{
    struct xs_domain *d = v->dom;
    /* As Xen's domain_shutdown: every vCPU is paused, whatever it was
     * doing; those that were running run again after a cancel, and are
     * saved as running. */
    for (unsigned i = 0; i < d->nr_vcpus; i++) {
        struct xs_vcpu *w = &d->vcpus[i];
        w->suspend_online = w->state != XS_VCPU_DOWN;
        if (w->state != XS_VCPU_DOWN) xs_vcpu_set_state(w, XS_VCPU_DOWN);
    }
    d->suspended = true;
    d->suspend_vcpu = v->id;
    d->suspended_ns = d->sim->vtime_ns;
    xs_timers_changed(d->sim); /* a poll's timeout no longer counts */
    trace(d, 1, v->id, NULL);
    xs_console_domain_ended(d);  /* xenconsoled takes what is on the ring */
    xs_xenstore_domain_ended(d); /* @releaseDomain: xl looks at the reason */
    struct suspend_req *r = asked_of(d);
    if (r) {
        if (xs_pvdev_at(d->sim, d->sim->vtime_ns + XS_SUSPEND_TOOLSTACK_NS,
                        toolstack_continue, r)) {
            r->state = REQ_DONE;
            fail(d, "out of memory");
        }
    } else {
        xs_log(d->sim,
               "xensim: %s (d%u) suspended without a request from the toolstack: it "
               "stays suspended",
               d->name, d->domid);
    }
    return 0;
}

/* ---- the toolstack's ways on ------------------------------------------------------ */

int xs_suspend_cancel(struct xs_domain *d, char *err, size_t errlen)
{
    if (!d->suspended || d->end_state != XS_END_RUNNING) {
        snprintf(err, errlen, "domain %s (d%u) is not suspended", d->name, d->domid);
        return -1;
    }
    d->suspended = false;
    /* SCHEDOP_shutdown returns 1: "cancelled, still the same domain". */
    d->vcpus[d->suspend_vcpu].regs.rax = 1;
    for (unsigned i = 0; i < d->nr_vcpus; i++)
        if (d->vcpus[i].suspend_online) xs_vcpu_set_state(&d->vcpus[i], XS_VCPU_RUNNABLE);
    xs_xenstore_domain_resumed(d);
    d->suspends_cancelled++;
    trace(d, 2, 0, NULL);
    xs_log(d->sim, "xensim: suspend of %s (d%u) cancelled: it runs on", d->name,
           d->domid);
    return 0;
}

/* What the scenario's verdict reads of a domain travels with it. */
static void carry_over(struct xs_domain *from, struct xs_domain *to)
{
    free(to->console);
    to->console = from->console;
    to->console_len = from->console_len;
    to->console_cap = from->console_cap;
    to->console_truncated = from->console_truncated;
    to->console_line_start = from->console_line_start;
    from->console = NULL;
    from->console_len = from->console_cap = from->console_line_start = 0;
    free(to->reports);
    to->reports = from->reports;
    to->reports_len = from->reports_len;
    to->reports_cap = from->reports_cap;
    to->nr_reports = from->nr_reports;
    to->reports_dropped = from->reports_dropped;
    from->reports = NULL;
    from->reports_len = from->reports_cap = 0;
    from->nr_reports = from->reports_dropped = 0;
    to->suspends_resumed = from->suspends_resumed;
    to->suspends_cancelled = from->suspends_cancelled;
    to->suspends_failed = from->suspends_failed;
}

struct xs_domain *xs_suspend_resume_new(struct xs_domain *old, char *err, size_t errlen)
{
    struct xs_domain_image img;
    if (xs_domain_image_capture(old, &img, err, errlen)) return NULL;
    struct xs_domain *d = xs_suspend_resume_image(old, &img, err, errlen);
    xs_domain_image_free(&img);
    return d;
}

struct xs_domain *xs_suspend_resume_image(struct xs_domain *old,
                                          const struct xs_domain_image *img, char *err,
                                          size_t errlen)
{
    struct xs_sim *sim = old->sim;
    if (!old->suspended || old->end_state != XS_END_RUNNING) {
        snprintf(err, errlen, "domain %s (d%u) is not suspended", old->name, old->domid);
        return NULL;
    }
    struct xs_pvdev_parked *parked;
    if (xs_pvdev_park(old, &parked, err, errlen)) return NULL;
    unsigned index = old->index;
    domid_t old_id = old->domid;
    /* xl destroy of the old domain: its grants and event channels go (the
     * checks it gets on destruction now, so their reports stay with it). */
    xs_gnttab_final_check(old);
    struct xs_domain keep = {0};
    carry_over(old, &keep);
    struct xs_console_pending input;
    xs_console_save_input(old, &input); /* scenario input not yet delivered */
    xs_sim_remove_domain(sim, old);
    xs_domain_destroy(old);
    struct xs_domain *d = xs_domain_image_restore_nodev(sim, img, err, errlen);
    if (!d) {
        xs_pvdev_parked_free(sim, parked);
        free(keep.console);
        free(keep.reports);
        xs_console_restore_input(NULL, &input);
        size_t n = strlen(err);
        snprintf(err + n, errlen - n, " (d%u is gone)", old_id);
        return NULL;
    }
    xs_sim_move_domain(sim, d, index);
    carry_over(&keep, d);
    xs_console_restore_input(d, &input);
    int rc = xs_pvdev_unpark(parked, d, err, errlen);
    xs_pvdev_parked_free(sim, parked);
    if (rc) return NULL; /* d runs, some devices did not follow: err says which */
    xs_timers_changed(sim);
    return d;
}

/* ---- requests -----------------------------------------------------------------------
 */

static int write_control(struct xs_domain *d, const char *val)
{
    char path[64];
    snprintf(path, sizeof(path), "/local/domain/%u/control/shutdown", d->domid);
    return xs_xenstore_write(d->sim->xenstore, path, val, strlen(val));
}

static void request_timeout(struct xs_sim *sim, void *arg)
{
    struct suspend_req *r = arg;
    if (r->state != REQ_ASKED || r->dom_index >= sim->nr_domains) return;
    struct xs_domain *d = sim->domains[r->dom_index];
    r->state = REQ_DONE;
    /* As libxl: withdraw the request if the guest never took it. */
    char path[64], val[16];
    size_t len = sizeof(val) - 1;
    snprintf(path, sizeof(path), "/local/domain/%u/control/shutdown", d->domid);
    if (d->end_state == XS_END_RUNNING &&
        !xs_xenstore_request(sim->xenstore, XS_READ, 0, path, strlen(path) + 1, val,
                             &len) &&
        len == 7 && !memcmp(val, "suspend", 7)) {
        write_control(d, "");
        fail(d, "the guest did not acknowledge the request within %" PRIu64 " ns",
             r->timeout_ns);
    } else {
        fail(d, "the guest did not suspend within %" PRIu64 " ns", r->timeout_ns);
    }
}

static void request_start(struct xs_sim *sim, void *arg)
{
    struct suspend_req *r = arg;
    r->state = REQ_DONE;
    if (r->dom_index >= sim->nr_domains) return; /* the domain is gone */
    struct xs_domain *d = sim->domains[r->dom_index];
    if (d->end_state != XS_END_RUNNING) {
        fail(d, "the domain has ended (%s)", xs_end_state_name(d->end_state));
        return;
    }
    if (d->suspended || asked_of(d)) {
        fail(d, "a suspend of the domain is already in progress");
        return;
    }
    if (!sim->xenstore) {
        fail(d, "no xenstore to ask the guest through");
        return;
    }
    int e = write_control(d, "suspend");
    if (e) {
        fail(d, "cannot write control/shutdown (errno %d)", e);
        return;
    }
    r->state = REQ_ASKED;
    trace(d, 0, 0, NULL);
    xs_log(sim, "xensim: asking %s (d%u) to suspend%s", d->name, d->domid,
           r->cancel ? " (to be cancelled)" : "");
    if (xs_pvdev_at(sim, sim->vtime_ns + r->timeout_ns, request_timeout, r)) {
        r->state = REQ_DONE;
        fail(d, "out of memory");
    }
}

static void toolstack_continue(struct xs_sim *sim, void *arg)
{
    struct suspend_req *r = arg;
    if (r->state != REQ_ASKED || r->dom_index >= sim->nr_domains) return;
    struct xs_domain *d = sim->domains[r->dom_index];
    r->state = REQ_DONE;
    if (!d->suspended) return;
    char err[512];
    if (r->then) {
        r->then(d, r->then_arg);
        return;
    }
    if (r->cancel) {
        if (xs_suspend_cancel(d, err, sizeof(err))) fail(d, "%s", err);
        return;
    }
    domid_t old = d->domid;
    unsigned resumed = d->suspends_resumed;
    struct xs_domain *n = xs_suspend_resume_new(d, err, sizeof(err));
    if (!n) {
        /* The old domain may be gone: report on what holds its index now. */
        if (r->dom_index < sim->nr_domains)
            fail(sim->domains[r->dom_index], "%s", err);
        else
            xs_log(sim, "xensim: resume of d%u failed: %s", old, err);
        return;
    }
    n->suspends_resumed = resumed + 1;
    trace(n, 3, n->domid, NULL);
    xs_log(sim,
           "xensim: %s resumed as d%u (was d%u): store port %" PRIu64
           ", console port %" PRIu64,
           n->name, n->domid, old, n->hvm_params[HVM_PARAM_STORE_EVTCHN],
           n->hvm_params[HVM_PARAM_CONSOLE_EVTCHN]);
}

void xs_suspend_finish(struct xs_domain *d)
{
    if (!d->suspended) return;
    d->suspended = false;
    xs_domain_end(d, XS_END_SUSPEND);
}

static struct suspend_req *add_req(struct xs_sim *sim, unsigned dom_index, uint64_t at_ns,
                                   bool cancel, uint64_t timeout_ns);

int xs_suspend_at_then(struct xs_sim *sim, unsigned dom_index, uint64_t at_ns,
                       uint64_t timeout_ns, void (*fn)(struct xs_domain *d, void *arg),
                       void *arg)
{
    struct suspend_req *r = add_req(sim, dom_index, at_ns, false, timeout_ns);
    if (!r) return -1;
    r->then = fn;
    r->then_arg = arg;
    return 0;
}

int xs_suspend_at(struct xs_sim *sim, unsigned dom_index, uint64_t at_ns, bool cancel,
                  uint64_t timeout_ns)
{
    return add_req(sim, dom_index, at_ns, cancel, timeout_ns) ? 0 : -1;
}

static struct suspend_req *add_req(struct xs_sim *sim, unsigned dom_index, uint64_t at_ns,
                                   bool cancel, uint64_t timeout_ns)
{
    if (!sim->suspends && !(sim->suspends = calloc(1, sizeof(*sim->suspends))))
        return NULL;
    struct suspend_req *r = calloc(1, sizeof(*r));
    if (!r) return NULL;
    *r = (struct suspend_req){.sim = sim,
                              .dom_index = dom_index,
                              .cancel = cancel,
                              .timeout_ns =
                                  timeout_ns ? timeout_ns : XS_SUSPEND_TIMEOUT_NS,
                              .state = REQ_WAITING};
    if (xs_pvdev_at(sim, at_ns, request_start, r)) {
        free(r);
        return NULL;
    }
    r->next = sim->suspends->head;
    sim->suspends->head = r;
    return r;
}

void xs_suspend_sim_free(struct xs_sim *sim)
{
    if (!sim->suspends) return;
    for (struct suspend_req *r = sim->suspends->head, *n; r; r = n) {
        n = r->next;
        free(r);
    }
    free(sim->suspends);
    sim->suspends = NULL;
}
