/* The console ring engine (console_ring.h).  xenconsoled's buffer_append
 * silently skips a ring whose producer is out of range; xensim reports the
 * violation once and leaves that ring alone from then on, so a hostile
 * guest costs neither garbage on the console nor an endless loop. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console_ring.h"

/* The guest runs between polls, never during one, so ordering the page
 * accesses against the compiler is enough; each guest-owned index is read
 * exactly once per poll, so it cannot change between check and use. */
static XENCONS_RING_IDX read_idx(const XENCONS_RING_IDX *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void write_idx(XENCONS_RING_IDX *p, XENCONS_RING_IDX v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

void xs_conring_init(struct xs_conring *r, struct xencons_interface *intf,
                     const struct xs_conring_ops *ops, void *arg)
{
    memset(r, 0, sizeof(*r));
    r->intf = intf;
    r->ops = ops;
    r->arg = arg;
}

void xs_conring_fini(struct xs_conring *r)
{
    free(r->input);
    r->input = NULL;
    r->input_head = r->input_len = r->input_cap = 0;
}

size_t xs_conring_input_pending(const struct xs_conring *r)
{
    return r->input_len - r->input_head;
}

int xs_conring_input(struct xs_conring *r, const void *buf, size_t len)
{
    size_t pending = xs_conring_input_pending(r);
    if (len > XS_CONRING_INPUT_MAX - pending) return -1;
    if (r->input_head) { /* what was delivered goes first */
        memmove(r->input, r->input + r->input_head, pending);
        r->input_head = 0;
        r->input_len = pending;
    }
    if (r->input_len + len > r->input_cap) {
        size_t cap = r->input_cap ? r->input_cap : 1024;
        while (cap < r->input_len + len)
            cap *= 2;
        char *n = realloc(r->input, cap);
        if (!n) return -1;
        r->input = n;
        r->input_cap = cap;
    }
    if (len) memcpy(r->input + r->input_len, buf, len);
    r->input_len += len;
    return 0;
}

static void report(struct xs_conring *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void report(struct xs_conring *r, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (r->ops && r->ops->report) r->ops->report(r->arg, msg);
}

/* out[]: the guest produces, we consume everything there is. */
static bool poll_out(struct xs_conring *r)
{
    struct xencons_interface *intf = r->intf;
    XENCONS_RING_IDX prod = read_idx(&intf->out_prod), cons = r->out_cons;
    XENCONS_RING_IDX used = prod - cons;
    if (!used) return false;
    if ((int32_t)used < 0) {
        r->out_broken = true;
        report(r,
               "out ring: out_prod %u moved backwards past out_cons %u; output no "
               "longer read",
               prod, cons);
        return false;
    }
    if (used > XS_CONRING_OUT_SIZE) {
        r->out_broken = true;
        report(r,
               "out ring: out_prod %u is %u bytes ahead of out_cons %u (ring size %zu); "
               "output no longer read",
               prod, used, cons, XS_CONRING_OUT_SIZE);
        return false;
    }
    char buf[XS_CONRING_OUT_SIZE];
    size_t at = MASK_XENCONS_IDX(cons, intf->out);
    size_t first = XS_CONRING_OUT_SIZE - at < used ? XS_CONRING_OUT_SIZE - at : used;
    memcpy(buf, intf->out + at, first);
    memcpy(buf + first, intf->out, used - first);
    r->out_cons = prod;
    /* The bytes are copied before the space goes back to the guest. */
    write_idx(&intf->out_cons, r->out_cons);
    r->out_bytes += used;
    if (r->ops && r->ops->output) r->ops->output(r->arg, buf, used);
    return true;
}

/* in[]: we produce what is queued, the guest consumes.  Its index is
 * checked on every poll, input or not. */
static bool poll_in(struct xs_conring *r)
{
    struct xencons_interface *intf = r->intf;
    XENCONS_RING_IDX cons = read_idx(&intf->in_cons), prod = r->in_prod;
    XENCONS_RING_IDX used = prod - cons;
    if ((int32_t)(cons - prod) > 0) {
        r->in_broken = true;
        report(r, "in ring: in_cons %u passed in_prod %u; input no longer delivered",
               cons, prod);
        return false;
    }
    if ((int32_t)(cons - r->in_cons_seen) < 0 || used > XS_CONRING_IN_SIZE) {
        r->in_broken = true;
        report(r,
               "in ring: in_cons %u moved backwards from %u (in_prod %u); input no "
               "longer delivered",
               cons, r->in_cons_seen, prod);
        return false;
    }
    r->in_cons_seen = cons;
    size_t pending = xs_conring_input_pending(r), space = XS_CONRING_IN_SIZE - used;
    size_t n = pending < space ? pending : space;
    if (!n) return false;
    const char *src = r->input + r->input_head;
    size_t at = MASK_XENCONS_IDX(prod, intf->in);
    size_t first = XS_CONRING_IN_SIZE - at < n ? XS_CONRING_IN_SIZE - at : n;
    memcpy(intf->in + at, src, first);
    memcpy(intf->in, src + first, n - first);
    r->input_head += n;
    if (r->input_head == r->input_len) r->input_head = r->input_len = 0;
    r->in_prod = prod + (XENCONS_RING_IDX)n;
    /* The bytes are in place before the index says so. */
    write_idx(&intf->in_prod, r->in_prod);
    r->in_bytes += n;
    return true;
}

bool xs_conring_poll(struct xs_conring *r)
{
    if (!r->intf) return false;
    bool moved = false;
    if (!r->out_broken) moved |= poll_out(r);
    if (!r->in_broken) moved |= poll_in(r);
    if (moved && r->ops && r->ops->notify) r->ops->notify(r->arg);
    return moved;
}

void xs_conring_drain(struct xs_conring *r)
{
    if (r->intf && !r->out_broken) poll_out(r);
}
