/* Suspend and resume (docs/suspend.md): the hypervisor's part --
 * SCHEDOP_shutdown(SHUTDOWN_suspend) parks the domain -- and the
 * toolstack's, as xl save/restore does it within one process: write
 * control/shutdown = "suspend", wait for the domain to suspend, then either
 * cancel (the guest's call returns 1 in the same domain) or resume it in a
 * new domain built from its image (the call returns 0 there). */
#ifndef XS_SUSPEND_H
#define XS_SUSPEND_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct xs_sim;
struct xs_domain;
struct xs_vcpu;

/* Virtual time the toolstack takes between the domain suspending and its
 * resume or cancel (xl noticing @releaseDomain, saving, restoring). */
#define XS_SUSPEND_TOOLSTACK_NS 100000ULL
/* How long the toolstack waits for the guest to suspend by default. */
#define XS_SUSPEND_TIMEOUT_NS 1000000000ULL

/* SCHEDOP_shutdown(SHUTDOWN_suspend) from v (hc_sched.c): every vCPU stops
 * (the ones that were running are remembered), xenconsoled drains the
 * ring, @releaseDomain fires, and a toolstack waiting for this suspend is
 * told.  Backends keep serving, as Dom0's do on Xen until the domain is
 * destroyed.  Returns the call's result for now (0). */
long xs_domain_suspend(struct xs_vcpu *v);

/* The toolstack's two ways on, for a suspended domain (xensim save and
 * restore use them too).  Cancel: xc_domain_resume's fast path, the call
 * returns 1 and the vCPUs that ran run again.  Resume: capture, destroy,
 * restore into a new domain at the same index of sim->domains with the
 * old one's devices, console text and reports; returns it, or NULL and err
 * (the old domain may then be gone: the error says). */
int xs_suspend_cancel(struct xs_domain *d, char *err, size_t errlen);
struct xs_domain *xs_suspend_resume_new(struct xs_domain *d, char *err, size_t errlen);
/* The same resume, from an image the caller has (a live migration's
 * destination, read from its stream: migrate.c) instead of a capture of d:
 * d's devices move over, d is destroyed, the new domain is built from img
 * at d's index.  d must be suspended and img must be of d (its RAM at d's
 * direct-map base). */
struct xs_domain_image;
struct xs_domain *xs_suspend_resume_image(struct xs_domain *d,
                                          const struct xs_domain_image *img, char *err,
                                          size_t errlen);

/* A scenario's `suspend DOMAIN at=TIME [cancel] [timeout=TIME]`: at at_ns
 * the toolstack asks the domain at index dom_index of sim->domains (its
 * current incarnation) to suspend; once it has, it cancels or resumes.
 * The outcome counts on the domain (suspends_resumed, _cancelled,
 * _failed).  0, or -1 when out of memory. */
int xs_suspend_at(struct xs_sim *sim, unsigned dom_index, uint64_t at_ns, bool cancel,
                  uint64_t timeout_ns);
/* Like xs_suspend_at, but once the domain has suspended the toolstack
 * calls fn(d, arg) instead of cancelling or resuming (xensim save).  fn
 * may call xs_suspend_cancel (the save failed: the guest runs on) or
 * xs_suspend_finish.  arg stays the caller's. */
int xs_suspend_at_then(struct xs_sim *sim, unsigned dom_index, uint64_t at_ns,
                       uint64_t timeout_ns, void (*fn)(struct xs_domain *d, void *arg),
                       void *arg);
/* The toolstack is done with a suspended domain (saved): it ends in state
 * suspend, as xl save destroys it; its backends let go. */
void xs_suspend_finish(struct xs_domain *d);
/* xs_sim_destroy. */
void xs_suspend_sim_free(struct xs_sim *sim);
#endif
