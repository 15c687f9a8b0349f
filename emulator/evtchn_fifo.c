/* The FIFO event channel ABI (Xen's event_fifo.c): an event word per port
 * (PENDING, MASKED, LINKED, BUSY bits and a 17-bit LINK) in guest pages
 * added by EVTCHNOP_expand_array, and per vCPU a control block (READY bits
 * and the head of each of 16 priority queues) registered with
 * EVTCHNOP_init_control.  The tail of each queue is Xen's private state.
 *
 * All of it is guest memory the guest may scribble on: every word is
 * reached through a range check, and LINK and head values are only ever
 * written, never followed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xen/xen.h>
#include <xen/errno.h>
#include <xen/event_channel.h>

#include "evtchn_port.h"
#include "gnttab.h"
#include "guest_mem.h"

#define WORDS_PER_PAGE (XS_PAGE_SIZE / sizeof(event_word_t))
#define MAX_PAGES      (XS_EVTCHN_FIFO_PORTS / WORDS_PER_PAGE)

struct fifo_vcpu {
    uint64_t cb_gpa; /* control block, XS_NO_GPA until registered */
    evtchn_port_t tail[EVTCHN_FIFO_MAX_QUEUES]; /* 0: queue empty */
};

struct xs_evtchn_fifo {
    unsigned num_evtchns; /* ports with an event word: pages * 1024 */
    uint64_t page_gpa[MAX_PAGES];
    struct fifo_vcpu vcpus[]; /* one per vCPU of the domain */
};

static event_word_t *word_of(struct xs_domain *d, evtchn_port_t port)
{
    struct xs_evtchn_fifo *f = d->evtchn->fifo;
    if (!f || port >= f->num_evtchns) return NULL;
    uint64_t gpa = f->page_gpa[port / WORDS_PER_PAGE] +
                   (port % WORDS_PER_PAGE) * sizeof(event_word_t);
    return xs_gpa_ptr(d, gpa, sizeof(event_word_t));
}

static evtchn_fifo_control_block_t *control_block(struct xs_domain *d, unsigned vcpu)
{
    uint64_t gpa = d->evtchn->fifo->vcpus[vcpu].cb_gpa;
    if (gpa == XS_NO_GPA) return NULL;
    return xs_gpa_ptr(d, gpa, sizeof(evtchn_fifo_control_block_t));
}

static void fifo_init(struct xs_domain *d, struct xs_evtchn *chn)
{
    (void)d;
    chn->priority = EVTCHN_FIFO_PRIORITY_DEFAULT;
}

/* Xen's evtchn_fifo_set_link: point the tail word at port, but only if it
 * is still LINKED (the guest unlinks words as it consumes them; then the
 * queue is empty and port becomes the head). */
static bool set_link(event_word_t *tail, evtchn_port_t port)
{
    event_word_t old = __atomic_load_n(tail, __ATOMIC_SEQ_CST);
    for (;;) {
        if (!(old & (1u << EVTCHN_FIFO_LINKED))) return false;
        event_word_t new =
            (old & ~((1u << EVTCHN_FIFO_BUSY) | EVTCHN_FIFO_LINK_MASK)) | port;
        if (__atomic_compare_exchange_n(tail, &old, new, false, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST))
            return true;
    }
}

/* count: a set_pending call (stats), not a relink from unmask or expand. */
static void fifo_raise(struct xs_vcpu *v, struct xs_evtchn *chn, bool count)
{
    struct xs_domain *d = v->dom;
    struct xs_evtchn_fifo *f = d->evtchn->fifo;
    event_word_t *word = word_of(d, chn->port);
    /* No event word yet: remembered until expand_array adds its page. */
    if (!word) {
        chn->fifo_pending = true;
        return;
    }
    /* The guest must not unmask before registering the control block, so
     * Xen drops the event. */
    evtchn_fifo_control_block_t *cb = control_block(d, v->id);
    if (!cb) return;
    bool newly = !xs_test_and_set_u32(word, EVTCHN_FIFO_PENDING);
    if (count && newly) xs_evtchn_noted_pending(v, chn);
    if (count && !newly) d->evtchn->stats.coalesced++;
    bool linked = true;
    unsigned prio = chn->priority;
    if (!xs_test_u32(word, EVTCHN_FIFO_MASKED) &&
        !xs_test_and_set_u32(word, EVTCHN_FIFO_LINKED)) {
        /* If it was the tail of its last queue, that queue is now empty
         * and must not be linked onto (it may be another queue now). */
        evtchn_port_t *old_tail = &f->vcpus[chn->last_vcpu].tail[chn->last_priority];
        if (*old_tail == chn->port) *old_tail = 0;
        chn->last_vcpu = (uint16_t)v->id;
        chn->last_priority = (uint8_t)prio;
        evtchn_port_t *tail = &f->vcpus[v->id].tail[prio];
        linked = false;
        if (*tail) {
            event_word_t *tw = word_of(d, *tail);
            linked = tw && set_link(tw, chn->port);
        }
        if (!linked) __atomic_store_n(&cb->head[prio], chn->port, __ATOMIC_SEQ_CST);
        *tail = chn->port;
    }
    if (!linked && !xs_test_and_set_u32(&cb->ready, prio)) xs_evtchn_upcall(v);
    if (newly) xs_sched_check_pollers(d, chn->port);
}

static void fifo_set_pending(struct xs_vcpu *v, struct xs_evtchn *chn)
{
    fifo_raise(v, chn, true);
}

/* Only P: the guest unlinks and skips events that are not pending. */
static void fifo_clear_pending(struct xs_domain *d, struct xs_evtchn *chn)
{
    event_word_t *word = word_of(d, chn->port);
    if (word) xs_clear_u32(word, EVTCHN_FIFO_PENDING);
}

static void fifo_unmask(struct xs_domain *d, struct xs_evtchn *chn)
{
    struct xs_vcpu *v = xs_vcpu_of(d, chn->notify_vcpu);
    event_word_t *word = word_of(d, chn->port);
    if (!word || !v) return;
    xs_clear_u32(word, EVTCHN_FIFO_MASKED);
    if (xs_test_u32(word, EVTCHN_FIFO_PENDING)) fifo_raise(v, chn, false);
}

static bool fifo_is_pending(struct xs_domain *d, const struct xs_evtchn *chn)
{
    event_word_t *word = word_of(d, chn->port);
    return word && xs_test_u32(word, EVTCHN_FIFO_PENDING);
}

static bool fifo_is_masked(struct xs_domain *d, const struct xs_evtchn *chn)
{
    event_word_t *word = word_of(d, chn->port);
    return !word || xs_test_u32(word, EVTCHN_FIFO_MASKED);
}

static bool fifo_is_busy(struct xs_domain *d, const struct xs_evtchn *chn)
{
    event_word_t *word = word_of(d, chn->port);
    return word && xs_test_u32(word, EVTCHN_FIFO_LINKED);
}

/* A pending event stays on its old queue; the next one uses the new. */
static int fifo_set_priority(struct xs_domain *d, struct xs_evtchn *chn, unsigned prio)
{
    (void)d;
    if (prio > EVTCHN_FIFO_PRIORITY_MIN) return -XEN_EINVAL;
    chn->priority = (uint8_t)prio;
    return 0;
}

static void fifo_destroy(struct xs_domain *d)
{
    free(d->evtchn->fifo);
    d->evtchn->fifo = NULL;
}

const struct xs_evtchn_abi xs_evtchn_abi_fifo = {
    .name = "fifo",
    .max_ports = XS_EVTCHN_FIFO_PORTS,
    .init = fifo_init,
    .set_pending = fifo_set_pending,
    .clear_pending = fifo_clear_pending,
    .unmask = fifo_unmask,
    .is_pending = fifo_is_pending,
    .is_masked = fifo_is_masked,
    .is_busy = fifo_is_busy,
    .set_priority = fifo_set_priority,
    .destroy = fifo_destroy,
};

/* Xen's map_guest_page: the frame must be the domain's RAM. */
static bool gfn_is_ram(struct xs_domain *d, uint64_t gfn)
{
    /* A grant mapping there could be read-only: xensim must not write it. */
    return gfn < d->ram_bytes / XS_PAGE_SIZE && !xs_gnttab_gfn_is_mapping(d, gfn);
}

long xs_evtchn_fifo_init_control(struct xs_vcpu *v, struct evtchn_init_control *ic)
{
    struct xs_domain *d = v->dom;
    struct xs_evtchn_domain *ed = d->evtchn;
    ic->link_bits = EVTCHN_FIFO_LINK_BITS;
    if (!xs_vcpu_of(d, ic->vcpu)) return -XEN_ENOENT;
    if (ic->offset > XS_PAGE_SIZE - sizeof(evtchn_fifo_control_block_t) ||
        (ic->offset & 7))
        return -XEN_EINVAL;
    if (ed->fifo) {
        if (ed->fifo->vcpus[ic->vcpu].cb_gpa != XS_NO_GPA) return -XEN_EINVAL;
        if (!gfn_is_ram(d, ic->control_gfn)) return -XEN_EINVAL;
        ed->fifo->vcpus[ic->vcpu].cb_gpa = ic->control_gfn * XS_PAGE_SIZE + ic->offset;
        return 0;
    }
    /* The first control block switches the domain to FIFO: every vCPU gets
     * its queues, the event array starts empty. */
    if (!gfn_is_ram(d, ic->control_gfn)) return -XEN_EINVAL;
    struct xs_evtchn_fifo *f =
        calloc(1, sizeof(*f) + d->nr_vcpus * sizeof(struct fifo_vcpu));
    if (!f) return -XEN_ENOMEM;
    for (unsigned i = 0; i < d->nr_vcpus; i++)
        f->vcpus[i].cb_gpa = XS_NO_GPA;
    f->vcpus[ic->vcpu].cb_gpa = ic->control_gfn * XS_PAGE_SIZE + ic->offset;
    unsigned prev_ports = ed->abi->max_ports;
    /* Ports already bound keep their pending state (raised again once their
     * page exists) and get the default priority. */
    for (evtchn_port_t p = 1; p < prev_ports; p++) {
        struct xs_evtchn *chn = xs_evtchn_from_port(d, p);
        if (!chn) break;
        if (xs_evtchn_usable(chn) && ed->abi->is_pending(d, chn))
            chn->fifo_pending = true;
        chn->priority = EVTCHN_FIFO_PRIORITY_DEFAULT;
    }
    ed->fifo = f;
    ed->abi = &xs_evtchn_abi_fifo;
    return 0;
}

long xs_evtchn_fifo_expand_array(struct xs_vcpu *v, const struct evtchn_expand_array *ea)
{
    struct xs_domain *d = v->dom;
    struct xs_evtchn_fifo *f = d->evtchn->fifo;
    if (!f) return -XEN_EOPNOTSUPP;
    unsigned slot = f->num_evtchns / WORDS_PER_PAGE;
    if (slot >= MAX_PAGES) return -XEN_ENOSPC;
    if (!gfn_is_ram(d, ea->array_gfn)) return -XEN_EINVAL;
    f->page_gpa[slot] = ea->array_gfn * XS_PAGE_SIZE;
    evtchn_port_t first = f->num_evtchns;
    f->num_evtchns += WORDS_PER_PAGE;
    /* Events raised while the page was missing are raised now. */
    for (evtchn_port_t p = first; p < f->num_evtchns; p++) {
        struct xs_evtchn *chn = xs_evtchn_from_port(d, p);
        if (!chn) break;
        if (!chn->fifo_pending) continue;
        chn->fifo_pending = false;
        struct xs_vcpu *nv = xs_vcpu_of(d, chn->notify_vcpu);
        if (nv && xs_evtchn_usable(chn)) fifo_raise(nv, chn, true);
    }
    return 0;
}
