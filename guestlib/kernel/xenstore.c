/* The xenstore client: requests on the store ring, replies matched by
 * request id, watch events queued for thread context (guest/xenstore.h).
 *
 * Request side: any CPU, thread context.  The requester links a waiter
 * (on its stack) into a list, writes its whole message onto the request
 * ring under ring_lock (waiting for room when the ring is full), notifies
 * xenstored and blocks in wait_event().
 *
 * Response side: only the store port's handler, which runs on CPU 0 with
 * interrupts off.  It copies whatever arrived into one staging message
 * (replies and events can span several notifications: a payload is up to
 * 4096 bytes, the ring 1024), then either copies a reply into its waiter's
 * buffer and kicks the waiter's CPU, or queues a watch event.  Other CPUs
 * are woken through a per-CPU IPI port of our own, so blocked requesters
 * need no polling.
 *
 * Watch callbacks run in xenstore_run_watches(), one CPU at a time (like
 * Linux's xenwatch thread); CPU 0 runs it while it waits for replies. */

/* xs_wire.h defines Xen's error table (xsd_errors) only where errno.h's
 * names exist.  Naming Xen's own values so makes the table map xenstored's
 * strings straight to Xen errnos. */
#define EINVAL    XEN_EINVAL
#define EACCES    XEN_EACCES
#define EEXIST    XEN_EEXIST
#define EISDIR    XEN_EISDIR
#define ENOENT    XEN_ENOENT
#define ENOMEM    XEN_ENOMEM
#define ENOSPC    XEN_ENOSPC
#define EIO       XEN_EIO
#define ENOTEMPTY XEN_ENOTEMPTY
#define ENOSYS    XEN_ENOSYS
#define EROFS     XEN_EROFS
#define EBUSY     XEN_EBUSY
#define EAGAIN    XEN_EAGAIN
#define EISCONN   XEN_EISCONN
#define E2BIG     XEN_E2BIG
#define EPERM     XEN_EPERM
#include <guest/xenstore.h>
#include <guest/control.h>
#include <guest/kernel.h>
#include <guest/evtchn.h>
#include <guest/hypercall.h>
#include <guest/irq.h>
#include <guest/mm.h>
#include <guest/printk.h>
#include <guest/smp.h>
#include <guest/string.h>
#include <guest/time.h>

#define HDR_SIZE  ((uint32_t)sizeof(struct xsd_sockmsg))
#define EVQ_BYTES 16384u /* watch event queue: bytes ... */
#define EVQ_MAX   64u    /* ... and events */
#define EVQ_REC   8u     /* record header: watch id, path length */
/* Without a wake port (none left), waiters look every so often. */
#define POLL_NS ((uint64_t)100 * 1000)
#define NO_TYPE 0xffffffffu /* a waiter failed without a reply */
/* Transaction handles: xenstored's id, and the resume generation on top. */
#define TX_GEN_SHIFT 24
#define TX_ID_MASK   ((1u << TX_GEN_SHIFT) - 1)

_Static_assert((EVQ_BYTES & (EVQ_BYTES - 1)) == 0, "EVQ_BYTES is a power of 2");

/* A request waiting for its reply; lives on the requester's stack, on the
 * list while the handler may fill it. */
struct xs_waiter {
    struct xs_waiter *next;
    uint32_t req_id;
    unsigned cpu;
    void *buf;
    size_t len;
    uint32_t type, rlen; /* the reply's */
    char err[16];        /* an XS_ERROR reply's name */
    bool done;           /* set last, under wait_lock */
};

struct seg {
    const void *p;
    size_t n;
};

static struct {
    struct xenstore_domain_interface *intf;
    evtchn_port_t port;
    bool ready, broken;
    spinlock_t ring_lock; /* one message at a time onto the request ring */
    spinlock_t wait_lock; /* waiters; taken by the handler (irq-safe) */
    struct xs_waiter *waiters;
    uint32_t next_req_id;
    unsigned space_waiter;            /* CPU + 1 waiting for room on the ring */
    evtchn_port_t wake_port[NR_CPUS]; /* per-CPU IPI port that wakes it */
    uint64_t watch_waiters[NR_CPUS / 64];
    /* The message the handler is receiving. */
    struct xsd_sockmsg rx_hdr;
    uint32_t rx_got;
    char rx_body[XENSTORE_PAYLOAD_MAX + 1];
    /* Registered watches. */
    spinlock_t watch_lock;
    struct xenstore_watch *watches;
    uint32_t next_watch_id;
    struct xenstore_watch *running; /* its callback is running */
    unsigned running_cpu;
    /* Events waiting for xenstore_run_watches (irq-safe: the handler). */
    spinlock_t evq_lock;
    uint32_t evq_head, evq_tail, evq_count;
    char evq[EVQ_BYTES];
    spinlock_t run_lock; /* one CPU delivers at a time, in order */
    uint64_t run_gen;    /* bumped by every taker of run_lock, and by a detach */
    char run_path[XENSTORE_PAYLOAD_MAX + 1];
    struct xenstore_stats stats;
    /* Suspend (control.c): CPU + 1 that froze requests, 0 when none; the
     * generation in transaction handles' top byte (a resume makes older
     * ones stale); transactions open now; the newest watch id then. */
    unsigned frozen_by;
    uint32_t tx_gen, open_tx, watch_id_at_freeze;
} xs = {
    .ring_lock = SPINLOCK_INIT,
    .wait_lock = SPINLOCK_INIT,
    .watch_lock = SPINLOCK_INIT,
    .evq_lock = SPINLOCK_INIT,
    .run_lock = SPINLOCK_INIT,
};

#define STAT_INC(f) atomic_add(&xs.stats.f, 1)

static uint32_t min32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

static unsigned long lock_irq(spinlock_t *l)
{
    unsigned long f = irq_save();
    spin_lock(l);
    return f;
}

static void unlock_irq(spinlock_t *l, unsigned long f)
{
    spin_unlock(l);
    irq_restore(f);
}

bool xenstore_ready(void)
{
    return atomic_load(&xs.ready);
}

/* ---- waking CPUs ---------------------------------------------------------- */

static void wake_handler(evtchn_port_t port, void *arg)
{
    (void)port, (void)arg; /* being woken was the point */
}

/* This CPU's wake port, bound on first use (CPUs may come up late). */
static void ensure_wake_port(void)
{
    unsigned cpu = smp_processor_id();
    if (cpu >= NR_CPUS || atomic_load(&xs.wake_port[cpu])) return;
    long p = evtchn_bind_ipi(cpu, wake_handler, NULL);
    if (p > 0) atomic_store(&xs.wake_port[cpu], (evtchn_port_t)p);
}

static void kick(unsigned cpu)
{
    if (cpu >= NR_CPUS || cpu == smp_processor_id()) return; /* awake already */
    evtchn_port_t p = atomic_load(&xs.wake_port[cpu]);
    if (p) evtchn_send(p);
}

static void kick_watch_waiters(void)
{
    for (unsigned w = 0; w < ARRAY_SIZE(xs.watch_waiters); w++)
        for (uint64_t m = atomic_load(&xs.watch_waiters[w]); m; m &= m - 1)
            kick(w * 64 + (unsigned)__builtin_ctzll(m));
}

/* CPUs waiting in xenstore_wait (and CPU 0 waiting for a reply) are kicked
 * when events arrive or callbacks ran.  Waits nest (a callback may wait):
 * enter returns whether the CPU was a waiter already, for leave. */
static bool watch_waiter_enter(unsigned cpu)
{
    uint64_t bit = 1ull << (cpu % 64);
    return __atomic_fetch_or(&xs.watch_waiters[cpu / 64], bit, __ATOMIC_SEQ_CST) & bit;
}

static void watch_waiter_leave(unsigned cpu, bool was)
{
    uint64_t bit = 1ull << (cpu % 64);
    if (!was) __atomic_fetch_and(&xs.watch_waiters[cpu / 64], ~bit, __ATOMIC_SEQ_CST);
}

/* How long one wait_event may block: to the deadline, or a short slice
 * when nobody could wake us. */
static uint64_t wait_slice(uint64_t deadline)
{
    uint64_t now = time_monotonic_ns();
    if (now >= deadline) return 0;
    unsigned cpu = smp_processor_id();
    bool wakeable = cpu < NR_CPUS && (cpu == 0 || atomic_load(&xs.wake_port[cpu]));
    return wakeable || deadline - now < POLL_NS ? deadline - now : POLL_NS;
}

/* ---- errors ---------------------------------------------------------------- */

static long errno_of(const char *s)
{
    for (size_t i = 0; i < ARRAY_SIZE(xsd_errors); i++)
        if (!strcmp(s, xsd_errors[i].errstring)) return -xsd_errors[i].errnum;
    return -XEN_EINVAL; /* as libxenstore: an error it cannot name */
}

const char *xenstore_errname(long err)
{
    if (!err) return "OK";
    for (size_t i = 0; i < ARRAY_SIZE(xsd_errors); i++)
        if (-err == xsd_errors[i].errnum) return xsd_errors[i].errstring;
    if (err == -XEN_ETIMEDOUT) return "ETIMEDOUT";
    if (err == -XEN_ENODEV) return "ENODEV";
    if (err == -XEN_ERANGE) return "ERANGE";
    return err > 0 ? "positive" : "EUNKNOWN";
}

/* The ring cannot be trusted any more: no more requests, and everybody
 * waiting gets -XEN_EIO.  Counted (as a bad reply) and said once.  Handler
 * context (or with interrupts off). */
static void ring_broken(const char *why, uint32_t a, uint32_t b)
{
    if (atomic_xchg(&xs.broken, true)) return;
    STAT_INC(bad_replies);
    printk("xenstore: %s (%u, %u): ring abandoned\n", why, a, b);
    spin_lock(&xs.wait_lock);
    for (struct xs_waiter *w = xs.waiters; w; w = w->next) {
        w->type = NO_TYPE;
        atomic_store(&w->done, true);
        kick(w->cpu);
    }
    spin_unlock(&xs.wait_lock);
}

/* ---- the request ring ------------------------------------------------------ */

static void notify(void)
{
    evtchn_send(xs.port);
}

static bool ring_has_room(void *arg)
{
    (void)arg;
    struct xenstore_domain_interface *intf = xs.intf;
    return READ_ONCE(intf->req_prod) - READ_ONCE(intf->req_cons) < XENSTORE_RING_SIZE ||
           atomic_load(&xs.broken);
}

/* Copy n bytes onto the request ring, waiting for room; ring_lock held.
 * *moved tells whether anything was written (a partial message left on
 * the ring breaks it). */
static long ring_write(const void *data, size_t n, uint64_t deadline, bool *moved)
{
    struct xenstore_domain_interface *intf = xs.intf;
    const char *p = data;
    while (n) {
        if (atomic_load(&xs.broken)) return -XEN_EIO;
        XENSTORE_RING_IDX cons = READ_ONCE(intf->req_cons);
        XENSTORE_RING_IDX prod = READ_ONCE(intf->req_prod);
        if (prod - cons > XENSTORE_RING_SIZE) {
            unsigned long f = irq_save();
            ring_broken("request consumer index out of range", cons, prod);
            irq_restore(f);
            return -XEN_EIO;
        }
        uint32_t room = XENSTORE_RING_SIZE - (prod - cons);
        if (!room) {
            /* Tell xenstored what is there, then sleep until the handler
             * (run when xenstored moves req_cons) kicks us. */
            if (*moved) notify();
            uint64_t slice = wait_slice(deadline);
            if (!slice) return -XEN_ETIMEDOUT;
            atomic_store(&xs.space_waiter, smp_processor_id() + 1);
            wait_event(ring_has_room, NULL, slice);
            atomic_store(&xs.space_waiter, 0);
            continue;
        }
        uint32_t chunk =
            min32(min32(room, XENSTORE_RING_SIZE - MASK_XENSTORE_IDX(prod)),
                  (uint32_t)(n < XENSTORE_RING_SIZE ? n : XENSTORE_RING_SIZE));
        xen_mb(); /* the consumer index is read before the data is written */
        memcpy(intf->req + MASK_XENSTORE_IDX(prod), p, chunk);
        xen_wmb(); /* the data is there before the producer index says so */
        WRITE_ONCE(intf->req_prod, prod + chunk);
        *moved = true;
        p += chunk;
        n -= chunk;
    }
    return 0;
}

static long ring_write_msg(const struct xsd_sockmsg *hdr, const struct seg *segs,
                           unsigned nsegs, uint64_t deadline)
{
    bool moved = false;
    spin_lock(&xs.ring_lock);
    long rc = ring_write(hdr, HDR_SIZE, deadline, &moved);
    for (unsigned i = 0; !rc && i < nsegs; i++)
        rc = ring_write(segs[i].p, segs[i].n, deadline, &moved);
    if (moved) notify();
    spin_unlock(&xs.ring_lock);
    if (rc && moved) {
        unsigned long f = irq_save();
        ring_broken("request left half written", hdr->type, hdr->req_id);
        irq_restore(f);
    }
    return rc;
}

/* ---- the response ring: the store port's handler --------------------------- */

static uint32_t evq_room(void)
{
    return EVQ_BYTES - (xs.evq_tail - xs.evq_head);
}

static void evq_put(const void *src, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        xs.evq[(xs.evq_tail + i) & (EVQ_BYTES - 1)] = ((const char *)src)[i];
    xs.evq_tail += n;
}

static void evq_get(void *dst, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        ((char *)dst)[i] = xs.evq[(xs.evq_head + i) & (EVQ_BYTES - 1)];
    xs.evq_head += n;
}

static bool parse_hex(const char *s, uint32_t *out)
{
    uint32_t v = 0;
    unsigned n = 0;
    for (; *s; s++, n++) {
        unsigned d = *s >= '0' && *s <= '9'   ? (unsigned)(*s - '0')
                     : *s >= 'a' && *s <= 'f' ? (unsigned)(*s - 'a' + 10)
                                              : 16;
        if (d > 15 || n >= 8) return false;
        v = v << 4 | d;
    }
    *out = v;
    return n > 0;
}

/* WATCH_EVENT: path\0token\0.  Queued with the watch id from the token. */
static void rx_watch_event(void)
{
    uint32_t len = xs.rx_hdr.len;
    const char *path = xs.rx_body;
    uint32_t plen = (uint32_t)strnlen(path, len);
    uint32_t id;
    if (plen + 1 >= len || !parse_hex(path + plen + 1, &id)) {
        STAT_INC(bad_replies);
        printk("xenstore: malformed watch event (%u bytes) dropped\n", len);
        return;
    }
    STAT_INC(watch_events);
    spin_lock(&xs.evq_lock);
    bool fits = xs.evq_count < EVQ_MAX && EVQ_REC + plen <= evq_room();
    if (fits) {
        uint32_t rec[2] = {id, plen};
        evq_put(rec, EVQ_REC);
        evq_put(path, plen);
        atomic_store(&xs.evq_count, xs.evq_count + 1);
    }
    spin_unlock(&xs.evq_lock);
    if (!fits) {
        /* Said for the first few and then ever more rarely: a flood must
         * not turn into a flood of console lines. */
        uint64_t n = STAT_INC(watch_dropped);
        if (n <= 8 || !(n & (n - 1)))
            printk("xenstore: watch event queue full: event %s for watch %x dropped (%lu "
                   "so far)\n",
                   path, id, n);
        return;
    }
    kick_watch_waiters();
}

static void rx_reply(void)
{
    const struct xsd_sockmsg *h = &xs.rx_hdr;
    unsigned cpu = NR_CPUS;
    spin_lock(&xs.wait_lock);
    struct xs_waiter *w = xs.waiters;
    while (w && w->req_id != h->req_id)
        w = w->next;
    if (w && !w->done) {
        w->type = h->type;
        w->rlen = h->len;
        if (h->type == XS_ERROR) {
            size_t n = min32(h->len, sizeof(w->err) - 1);
            memcpy(w->err, xs.rx_body, n);
            w->err[n] = '\0';
        } else if (w->len) {
            memcpy(w->buf, xs.rx_body, h->len < w->len ? h->len : w->len);
        }
        cpu = w->cpu;
        atomic_store(&w->done, true);
    }
    spin_unlock(&xs.wait_lock);
    if (cpu == NR_CPUS) {
        /* Most likely its requester timed out and left. */
        STAT_INC(bad_replies);
        printk("xenstore: reply (type %u) to unknown request %u dropped\n", h->type,
               h->req_id);
        return;
    }
    kick(cpu);
}

/* Take up to avail bytes of the current message from src; dispatch it
 * when complete.  Returns the bytes taken. */
static uint32_t rx_take(const char *src, uint32_t avail)
{
    uint32_t n;
    if (xs.rx_got < HDR_SIZE) {
        n = min32(avail, HDR_SIZE - xs.rx_got);
        memcpy((char *)&xs.rx_hdr + xs.rx_got, src, n);
        xs.rx_got += n;
        if (xs.rx_got < HDR_SIZE) return n;
        if (xs.rx_hdr.len > XENSTORE_PAYLOAD_MAX) {
            ring_broken("reply longer than XENSTORE_PAYLOAD_MAX", xs.rx_hdr.type,
                        xs.rx_hdr.len);
            return n;
        }
    } else {
        n = min32(avail, HDR_SIZE + xs.rx_hdr.len - xs.rx_got);
        memcpy(xs.rx_body + (xs.rx_got - HDR_SIZE), src, n);
        xs.rx_got += n;
    }
    if (xs.rx_got == HDR_SIZE + xs.rx_hdr.len) {
        xs.rx_body[xs.rx_hdr.len] = '\0';
        xs.rx_got = 0;
        if (xs.rx_hdr.type == XS_WATCH_EVENT)
            rx_watch_event();
        else
            rx_reply();
    }
    return n;
}

static void store_handler(evtchn_port_t port, void *arg)
{
    (void)port, (void)arg;
    struct xenstore_domain_interface *intf = xs.intf;
    bool moved = false;
    while (!atomic_load(&xs.broken)) {
        XENSTORE_RING_IDX cons = READ_ONCE(intf->rsp_cons);
        XENSTORE_RING_IDX prod = READ_ONCE(intf->rsp_prod);
        if (prod - cons > XENSTORE_RING_SIZE) {
            ring_broken("response producer index out of range", cons, prod);
            break;
        }
        if (prod == cons) break;
        xen_rmb(); /* the producer index is read before the data */
        uint32_t n =
            rx_take(intf->rsp + MASK_XENSTORE_IDX(cons),
                    min32(prod - cons, XENSTORE_RING_SIZE - MASK_XENSTORE_IDX(cons)));
        xen_mb(); /* the data is copied out before the space is handed back */
        WRITE_ONCE(intf->rsp_cons, cons + n);
        moved = true;
    }
    if (moved) notify();
    /* xenstored notifies when it took requests too: room for a writer. */
    unsigned sw = atomic_load(&xs.space_waiter);
    if (sw) kick(sw - 1);
}

/* ---- requests --------------------------------------------------------------- */

static bool reply_ready(void *arg);

static void unlink_waiter(struct xs_waiter *w)
{
    unsigned long f = lock_irq(&xs.wait_lock);
    for (struct xs_waiter **p = &xs.waiters; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            break;
        }
    unlock_irq(&xs.wait_lock, f);
}

static bool thawed(void *arg)
{
    (void)arg;
    return !atomic_load(&xs.frozen_by);
}

/* One request: its reply's payload (truncated to len) in buf, its full
 * length returned, or an errno. */
static long request(uint32_t type, xs_transaction_t t, const struct seg *segs,
                    unsigned nsegs, void *buf, size_t len)
{
    if (!xenstore_ready()) return -XEN_ENODEV;
    size_t plen = 0;
    for (unsigned i = 0; i < nsegs; i++)
        plen += segs[i].n;
    /* xenstored drops a connection that sends more (XENSTORE_ERROR_PROTO). */
    if (plen > XENSTORE_PAYLOAD_MAX) return -XEN_E2BIG;
    /* A suspend is under way: only its CPU may talk to xenstored. */
    unsigned cpu = smp_processor_id();
    while (atomic_load(&xs.frozen_by) && atomic_load(&xs.frozen_by) != cpu + 1)
        wait_event(thawed, NULL, POLL_NS);
    /* A transaction from before a resume died with the old domain's
     * xenstored: its user starts over, as after a conflict. */
    if (t >> TX_GEN_SHIFT != atomic_load(&xs.tx_gen) && t != XBT_NIL) return -XEN_EAGAIN;
    t &= TX_ID_MASK;
    if (atomic_load(&xs.broken) || READ_ONCE(xs.intf->error) != XENSTORE_ERROR_NONE)
        return -XEN_EIO;
    ensure_wake_port();
    struct xs_waiter w = {.cpu = cpu, .buf = buf, .len = buf ? len : 0};
    unsigned long f = lock_irq(&xs.wait_lock);
    w.req_id = ++xs.next_req_id;
    w.next = xs.waiters;
    xs.waiters = &w;
    unlock_irq(&xs.wait_lock, f);
    STAT_INC(requests);

    struct xsd_sockmsg hdr = {
        .type = type, .req_id = w.req_id, .tx_id = t, .len = (uint32_t)plen};
    uint64_t deadline = time_monotonic_ns() + XENSTORE_TIMEOUT_NS;
    long rc = ring_write_msg(&hdr, segs, nsegs, deadline);
    /* CPU 0 delivers watch events while it waits (the handler runs there,
     * so it is woken for them anyway). */
    bool was = cpu == 0 && watch_waiter_enter(0);
    while (!rc && !atomic_load(&w.done)) {
        if (cpu == 0) xenstore_run_watches();
        uint64_t slice = wait_slice(deadline);
        if (!slice) {
            rc = READ_ONCE(xs.intf->error) ? -XEN_EIO : -XEN_ETIMEDOUT;
            break;
        }
        wait_event(reply_ready, &w, slice);
    }
    if (cpu == 0) watch_waiter_leave(0, was);
    unlink_waiter(&w); /* the handler is done with it once this returns */
    if (atomic_load(&w.done)) rc = 0;
    if (rc) return rc;
    if (w.type == NO_TYPE) return -XEN_EIO;
    STAT_INC(replies);
    if (w.type == XS_ERROR) {
        STAT_INC(errors);
        return errno_of(w.err);
    }
    if (w.type != type) {
        STAT_INC(bad_replies);
        printk("xenstore: reply of type %u to request %u of type %u\n", w.type, w.req_id,
               type);
        return -XEN_EIO;
    }
    return (long)w.rlen;
}

static struct seg str_seg(const char *s)
{
    return (struct seg){s, strlen(s) + 1};
}

/* A request whose reply is a string: NUL-terminated in buf (truncated to
 * len - 1 bytes); the reply's full length returned. */
static long request_str(uint32_t type, xs_transaction_t t, const struct seg *segs,
                        unsigned nsegs, char *buf, size_t len)
{
    long rc = request(type, t, segs, nsegs, buf, len ? len - 1 : 0);
    if (rc >= 0 && len) buf[(size_t)rc < len - 1 ? (size_t)rc : len - 1] = '\0';
    return rc;
}

long xenstore_raw(enum xsd_sockmsg_type type, xs_transaction_t t, const void *payload,
                  size_t plen, void *buf, size_t len)
{
    struct seg s = {payload, plen};
    return request(type, t, &s, 1, buf, len);
}

long xenstore_read(xs_transaction_t t, const char *path, char *buf, size_t len)
{
    if (!path) return -XEN_EINVAL;
    struct seg s = str_seg(path);
    return request_str(XS_READ, t, &s, 1, buf, len);
}

/* Decimal, as xenstore values are written. */
static long parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s) return -XEN_EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return -XEN_EINVAL;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) return -XEN_ERANGE;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

long xenstore_read_u64(xs_transaction_t t, const char *path, uint64_t *out)
{
    char buf[24];
    long rc = xenstore_read(t, path, buf, sizeof(buf));
    if (rc < 0) return rc;
    if ((size_t)rc >= sizeof(buf)) return -XEN_ERANGE;
    return parse_u64(buf, out);
}

long xenstore_write(xs_transaction_t t, const char *path, const char *value)
{
    if (!path || !value) return -XEN_EINVAL;
    struct seg s[2] = {str_seg(path), {value, strlen(value)}};
    long rc = request(XS_WRITE, t, s, 2, NULL, 0);
    return rc < 0 ? rc : 0;
}

long xenstore_vprintf(xs_transaction_t t, const char *path, const char *fmt, va_list ap)
{
    char small[128];
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    long rc;
    if (n < 0)
        rc = -XEN_EINVAL;
    else if ((size_t)n < sizeof(small))
        rc = xenstore_write(t, path, small);
    else if ((size_t)n >= PAGE_SIZE)
        rc = -XEN_E2BIG;
    else {
        /* Long values from the page allocator, not the (small) stack. */
        char *big = page_alloc();
        rc = -XEN_ENOMEM;
        if (big) {
            vsnprintf(big, PAGE_SIZE, fmt, again);
            rc = xenstore_write(t, path, big);
            page_free(big);
        }
    }
    va_end(again);
    return rc;
}

long xenstore_printf(xs_transaction_t t, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    long rc = xenstore_vprintf(t, path, fmt, ap);
    va_end(ap);
    return rc;
}

long xenstore_mkdir(xs_transaction_t t, const char *path)
{
    if (!path) return -XEN_EINVAL;
    struct seg s = str_seg(path);
    long rc = request(XS_MKDIR, t, &s, 1, NULL, 0);
    return rc < 0 ? rc : 0;
}

long xenstore_rm(xs_transaction_t t, const char *path)
{
    if (!path) return -XEN_EINVAL;
    struct seg s = str_seg(path);
    long rc = request(XS_RM, t, &s, 1, NULL, 0);
    return rc < 0 ? rc : 0;
}

bool xenstore_exists(xs_transaction_t t, const char *path)
{
    if (!path) return false;
    struct seg s = str_seg(path);
    return request(XS_READ, t, &s, 1, NULL, 0) >= 0;
}

static long count_strings(const char *buf, long n)
{
    long count = 0;
    for (long i = 0; i < n; i++)
        count += buf[i] == '\0';
    return count;
}

/* A reply of NUL-terminated strings, all of which must fit. */
static long request_strings(uint32_t type, xs_transaction_t t, const char *path,
                            char *buf, size_t len)
{
    if (!path) return -XEN_EINVAL;
    struct seg s = str_seg(path);
    long rc = request(type, t, &s, 1, buf, len);
    if (rc < 0) return rc;
    if ((size_t)rc > len) return -XEN_E2BIG;
    return count_strings(buf, rc);
}

long xenstore_directory(xs_transaction_t t, const char *path, char *buf, size_t len)
{
    return request_strings(XS_DIRECTORY, t, path, buf, len);
}

long xenstore_get_perms(xs_transaction_t t, const char *path, char *buf, size_t len)
{
    return request_strings(XS_GET_PERMS, t, path, buf, len);
}

long xenstore_set_perms(xs_transaction_t t, const char *path, const char *perms)
{
    char list[128];
    size_t n = 0;
    if (!path || !perms) return -XEN_EINVAL;
    for (const char *p = perms; *p; p++) {
        if (*p == ' ' && (n == 0 || list[n - 1] == '\0')) continue;
        if (n + 2 > sizeof(list)) return -XEN_E2BIG;
        list[n++] = *p == ' ' ? '\0' : *p;
    }
    if (!n) return -XEN_EINVAL;
    if (list[n - 1] != '\0') list[n++] = '\0';
    struct seg s[2] = {str_seg(path), {list, n}};
    long rc = request(XS_SET_PERMS, t, s, 2, NULL, 0);
    return rc < 0 ? rc : 0;
}

long xenstore_domain_path(unsigned domid, char *buf, size_t len)
{
    char id[16];
    snprintf(id, sizeof(id), "%u", domid);
    struct seg s = str_seg(id);
    long rc = request_str(XS_GET_DOMAIN_PATH, XBT_NIL, &s, 1, buf, len);
    return rc < 0 ? rc : (long)strnlen(buf, len);
}

long xenstore_self_domid(unsigned *domid)
{
    uint64_t v;
    long rc = xenstore_read_u64(XBT_NIL, "domid", &v);
    if (rc) return rc;
    if (v >= DOMID_FIRST_RESERVED) return -XEN_ERANGE;
    *domid = (unsigned)v;
    return 0;
}

/* ---- transactions ------------------------------------------------------------- */

long xenstore_transaction_start(xs_transaction_t *t)
{
    char id[16];
    struct seg s = {"", 1};
    long rc = request_str(XS_TRANSACTION_START, XBT_NIL, &s, 1, id, sizeof(id));
    if (rc < 0) return rc;
    uint64_t v;
    if (parse_u64(id, &v) || !v || v > TX_ID_MASK) {
        STAT_INC(bad_replies);
        return -XEN_EIO;
    }
    *t = (xs_transaction_t)v | atomic_load(&xs.tx_gen) << TX_GEN_SHIFT;
    atomic_add(&xs.open_tx, 1);
    return 0;
}

long xenstore_transaction_end(xs_transaction_t t, bool abort)
{
    struct seg s = str_seg(abort ? "F" : "T");
    long rc = request(XS_TRANSACTION_END, t, &s, 1, NULL, 0);
    if (t != XBT_NIL) {
        uint32_t n = atomic_load(&xs.open_tx);
        while (n && !atomic_cas(&xs.open_tx, &n, n - 1))
            ;
    }
    /* Aborting one that a resume already ended is what the caller wanted. */
    if (rc == -XEN_EAGAIN && abort && t >> TX_GEN_SHIFT != atomic_load(&xs.tx_gen))
        return 0;
    return rc < 0 ? rc : 0;
}

long xenstore_transaction(long (*fn)(xs_transaction_t t, void *arg), void *arg,
                          unsigned max_tries, unsigned *retries)
{
    if (!max_tries) max_tries = 64;
    if (retries) *retries = 0;
    for (unsigned i = 0; i < max_tries; i++) {
        xs_transaction_t t;
        long rc = xenstore_transaction_start(&t);
        if (rc) return rc;
        rc = fn(t, arg);
        if (rc) {
            xenstore_transaction_end(t, true);
            return rc;
        }
        rc = xenstore_transaction_end(t, false);
        if (rc != -XEN_EAGAIN) return rc;
        STAT_INC(eagain_retries);
        if (retries) ++*retries;
    }
    return -XEN_EAGAIN;
}

/* ---- watches -------------------------------------------------------------------- */

static bool evq_nonempty(void)
{
    return atomic_load(&xs.evq_count) != 0;
}

/* Events are waiting and nobody is delivering them. */
static bool watches_runnable(void)
{
    return evq_nonempty() && !atomic_load(&xs.run_lock.locked);
}

static bool reply_ready(void *arg)
{
    struct xs_waiter *w = arg;
    return atomic_load(&w->done) || (w->cpu == 0 && watches_runnable());
}

static void watch_token(const struct xenstore_watch *w, char *buf, size_t len)
{
    snprintf(buf, len, "%x", w->id);
}

static void watch_unlink(struct xenstore_watch *w)
{
    spin_lock(&xs.watch_lock);
    for (struct xenstore_watch **p = &xs.watches; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            break;
        }
    w->registered = false;
    spin_unlock(&xs.watch_lock);
}

long xenstore_watch(struct xenstore_watch *w)
{
    if (!w || !w->path || !w->fn) return -XEN_EINVAL;
    if (w->registered) return -XEN_EEXIST;
    /* Registered before asking: the first event may beat the reply. */
    spin_lock(&xs.watch_lock);
    w->id = ++xs.next_watch_id;
    w->next = xs.watches;
    xs.watches = w;
    w->registered = true;
    spin_unlock(&xs.watch_lock);
    char token[12];
    watch_token(w, token, sizeof(token));
    struct seg s[2] = {str_seg(w->path), str_seg(token)};
    long rc = request(XS_WATCH, XBT_NIL, s, 2, NULL, 0);
    if (rc < 0) {
        watch_unlink(w);
        return rc;
    }
    return 0;
}

long xenstore_unwatch(struct xenstore_watch *w)
{
    if (!w || !w->registered) return -XEN_ENOENT;
    watch_unlink(w); /* its queued events are dropped from now on */
    /* A callback of w running on another CPU finishes first. */
    unsigned me = smp_processor_id();
    while (atomic_load(&xs.running) == w && atomic_load(&xs.running_cpu) != me)
        cpu_yield();
    char token[12];
    watch_token(w, token, sizeof(token));
    struct seg s[2] = {str_seg(w->path), str_seg(token)};
    long rc = request(XS_UNWATCH, XBT_NIL, s, 2, NULL, 0);
    return rc < 0 ? rc : 0;
}

/* The next queued event: its watch id and path (NUL-terminated). */
static bool evq_pop(uint32_t *id, char *path, size_t len)
{
    unsigned long f = lock_irq(&xs.evq_lock);
    bool got = xs.evq_count != 0;
    if (got) {
        uint32_t rec[2];
        evq_get(rec, EVQ_REC);
        uint32_t n = min32(rec[1], (uint32_t)len - 1);
        evq_get(path, n);
        xs.evq_head += rec[1] - n;
        path[n] = '\0';
        *id = rec[0];
        atomic_store(&xs.evq_count, xs.evq_count - 1);
    }
    unlock_irq(&xs.evq_lock, f);
    return got;
}

unsigned xenstore_run_watches(void)
{
    unsigned n = 0, me = smp_processor_id();
    /* One runner at a time keeps each watch's events in order; a callback
     * that waits for something (and so gets here again) skips this. */
    bool detached = false;
    while (!detached && evq_nonempty() && spin_trylock(&xs.run_lock)) {
        uint64_t gen = atomic_add(&xs.run_gen, 1);
        uint32_t id;
        while (evq_pop(&id, xs.run_path, sizeof(xs.run_path))) {
            spin_lock(&xs.watch_lock);
            struct xenstore_watch *w = xs.watches;
            while (w && w->id != id)
                w = w->next;
            if (w) {
                atomic_store(&xs.running_cpu, me);
                atomic_store(&xs.running, w);
            }
            spin_unlock(&xs.watch_lock);
            if (!w) continue; /* unwatched meanwhile */
            w->fn(w, xs.run_path);
            n++;
            /* The callback let go of the runner's place (a suspend): the
             * lock is not ours any more, and others deliver from here. */
            if ((detached = atomic_load(&xs.run_gen) != gen)) break;
            atomic_store(&xs.running, NULL);
        }
        if (!detached) spin_unlock(&xs.run_lock);
    }
    /* Whatever the callbacks changed may be what other CPUs wait for. */
    if (n) kick_watch_waiters();
    return n;
}

void xenstore_watch_detach(void)
{
    atomic_store(&xs.running, NULL);
    atomic_add(&xs.run_gen, 1);
    spin_unlock(&xs.run_lock);
}

struct wait_cond {
    bool (*cond)(void *);
    void *arg;
};

static bool wait_ready(void *arg)
{
    struct wait_cond *c = arg;
    return c->cond(c->arg) || watches_runnable();
}

bool xenstore_wait(bool (*cond)(void *), void *arg, uint64_t timeout_ns)
{
    unsigned me = smp_processor_id();
    uint64_t deadline = time_monotonic_ns() + timeout_ns;
    struct wait_cond c = {cond, arg};
    bool ok;
    ensure_wake_port();
    bool was = watch_waiter_enter(me);
    for (;;) {
        xenstore_run_watches();
        if ((ok = cond(arg))) break;
        uint64_t slice = wait_slice(deadline);
        if (!slice) break;
        wait_event(wait_ready, &c, slice);
    }
    watch_waiter_leave(me, was);
    return ok;
}

/* ---- suspend and resume (control.c) --------------------------------------------- */

/* Every request on the ring has its reply (callers may not have woken yet). */
static bool quiet(void *arg)
{
    (void)arg;
    bool q = true;
    unsigned long f = lock_irq(&xs.wait_lock);
    for (struct xs_waiter *w = xs.waiters; w && q; w = w->next)
        q = atomic_load(&w->done);
    unlock_irq(&xs.wait_lock, f);
    return q;
}

#ifdef GUEST_BUG_TXN_BLOCKS_SUSPEND
static bool no_transaction(void *arg)
{
    (void)arg;
    return !atomic_load(&xs.open_tx);
}
#endif

long xenstore_suspend(void)
{
    if (!xenstore_ready()) return 0;
    unsigned me = smp_processor_id();
    unsigned expect = 0;
    if (!atomic_cas(&xs.frozen_by, &expect, me + 1)) return -XEN_EBUSY;
    xs.watch_id_at_freeze = atomic_load(&xs.next_watch_id);
    uint64_t deadline = time_monotonic_ns() + XENSTORE_TIMEOUT_NS;
    while (!quiet(NULL)) {
        uint64_t slice = wait_slice(deadline);
        if (!slice) {
            atomic_store(&xs.frozen_by, 0);
            printk("xenstore: requests still unanswered: suspend refused\n");
            return -XEN_ETIMEDOUT;
        }
        wait_event(quiet, NULL, slice < POLL_NS ? slice : POLL_NS);
    }
#ifdef GUEST_BUG_TXN_BLOCKS_SUSPEND
    /* Deliberate bug: wait for open transactions to end first -- and the
     * one this very CPU holds never will. */
    while (!no_transaction(NULL))
        wait_event(no_transaction, NULL, POLL_NS);
#endif
    return 0;
}

static void thaw(void)
{
    atomic_store(&xs.frozen_by, 0);
    /* Waiters at the door look again within POLL_NS; wake them now. */
    for (unsigned cpu = 0; cpu < NR_CPUS; cpu++)
        kick(cpu);
}

/* A new domain, a new xenstored connection: the ring page was reset by
 * the toolstack, the port is new (read it again: a cached one now names
 * another channel, or none), and xenstored knows none of our watches. */
static void xs_resume(void *arg)
{
    (void)arg;
    uint64_t port = 0;
    xs.rx_got = 0;
    atomic_store(&xs.space_waiter, 0);
    long rc = hvm_get_param(HVM_PARAM_STORE_EVTCHN, &port);
#ifdef GUEST_BUG_STORE_PORT_CACHED
    /* Deliberate bug: the port from boot is used after a resume. */
    port = xs.port;
#endif
    if (rc || !port || port >= evtchn_max_ports() ||
        evtchn_bind_existing((evtchn_port_t)port, 0, store_handler, NULL) < 0) {
        printk("xenstore: resume: cannot bind store port %lu (%ld)\n", port, rc);
        atomic_store(&xs.broken, true);
    }
    xs.port = (evtchn_port_t)port;
    /* Each CPU's wake port is bound again for it (they were IPIs of the old
     * domain). */
    for (unsigned cpu = 0; cpu < NR_CPUS; cpu++) {
        if (!atomic_load(&xs.wake_port[cpu])) continue;
        long p = evtchn_bind_ipi(cpu, wake_handler, NULL);
        atomic_store(&xs.wake_port[cpu], p > 0 ? (evtchn_port_t)p : 0);
    }
    atomic_store(&xs.tx_gen, (atomic_load(&xs.tx_gen) + 1) & 0xffu);
    /* Watches again, oldest first (ids ascend), as Linux's xs_resume does;
     * one registered during the freeze sends its own request. */
    for (uint32_t id = 1; id <= xs.watch_id_at_freeze; id++) {
        struct xenstore_watch *w;
        spin_lock(&xs.watch_lock);
        for (w = xs.watches; w && w->id != id; w = w->next)
            ;
        spin_unlock(&xs.watch_lock);
        if (!w) continue;
        char token[12];
        watch_token(w, token, sizeof(token));
        struct seg sg[2] = {str_seg(w->path), str_seg(token)};
        rc = request(XS_WATCH, XBT_NIL, sg, 2, NULL, 0);
        if (rc < 0)
            printk("xenstore: resume: watch %s: %s\n", w->path, xenstore_errname(rc));
    }
    thaw();
}

static void xs_cancel(void *arg)
{
    (void)arg;
    thaw();
}

static struct control_hook xs_hook = {
    .name = "xenstore",
    .order = CONTROL_ORDER_XENSTORE,
    .resume = xs_resume,
    .cancel = xs_cancel,
};

/* ---- set-up and statistics ------------------------------------------------------- */

/* The page must be one the memory map shows (Xen's special pages are
 * reserved there): never dereference a stray frame number. */
static bool in_memmap(uint64_t pa)
{
    for (unsigned i = 0; i < boot.nr_memmap; i++) {
        const struct hvm_memmap_table_entry *e = &boot.memmap[i];
        if (pa >= e->addr && pa - e->addr + PAGE_SIZE <= e->size) return true;
    }
    return false;
}

long xenstore_init(void)
{
    if (xenstore_ready()) return 0;
    if (!boot.xen || !evtchn_ready()) return -XEN_ENODEV;
    uint64_t pfn = 0, port = 0;
    long rc = hvm_get_param(HVM_PARAM_STORE_PFN, &pfn);
    if (!rc) rc = hvm_get_param(HVM_PARAM_STORE_EVTCHN, &port);
    if (rc) return rc;
    if (!pfn || !port) return -XEN_ENOENT;
    if (pfn > UINT64_MAX >> PAGE_SHIFT || !in_memmap(pfn << PAGE_SHIFT) ||
        port >= evtchn_max_ports()) {
        printk("xenstore: ring pfn %#lx or port %lu unusable\n", pfn, port);
        return -XEN_EINVAL;
    }
    xs.intf = pa_to_va(pfn << PAGE_SHIFT);
    xs.port = (evtchn_port_t)port;
    rc = evtchn_bind_existing(xs.port, 0, store_handler, NULL);
    if (rc < 0) return rc;
    atomic_store(&xs.ready, true);
    control_register(&xs_hook);
    return 0;
}

void xenstore_get_stats(struct xenstore_stats *s)
{
    s->requests = atomic_load(&xs.stats.requests);
    s->replies = atomic_load(&xs.stats.replies);
    s->errors = atomic_load(&xs.stats.errors);
    s->watch_events = atomic_load(&xs.stats.watch_events);
    s->watch_dropped = atomic_load(&xs.stats.watch_dropped);
    s->bad_replies = atomic_load(&xs.stats.bad_replies);
    s->eagain_retries = atomic_load(&xs.stats.eagain_retries);
}
