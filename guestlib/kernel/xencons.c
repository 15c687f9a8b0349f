/* The PV console frontend (guest/xencons.h).
 *
 * Output: any CPU, any context, under out_lock with interrupts off (so an
 * event handler's printk cannot find its own CPU holding the lock).  The
 * producer index is ours: the page's copy is written, never trusted back.
 *
 * Input: the port's handler (CPU 0, once bound) or a reader moves bytes
 * from in[] into a local queue under in_lock and hands the space back to
 * the backend.  A reader waits with SCHEDOP_poll on the port, with
 * interrupts off so the handler cannot take the event between the check
 * and the poll; without a handler it clears the pending bit itself first.
 *
 * Every index the backend controls is checked each time it is read: a
 * broken ring is abandoned with one message on console_io. */
#include <guest/xencons.h>
#include <guest/control.h>
#include <guest/kernel.h>
#include <guest/evtchn.h>
#include <guest/hypercall.h>
#include <guest/irq.h>
#include <guest/printk.h>
#include <guest/smp.h>
#include <guest/string.h>
#include <xen/io/console.h>
#include "evtchn_abi.h"

#define OUT_SIZE ((uint32_t)sizeof(((struct xencons_interface *)0)->out))
#define IN_SIZE  ((uint32_t)sizeof(((struct xencons_interface *)0)->in))
#define INQ_SIZE 4096u
/* A backend that leaves the ring full this many yields in a row is gone
 * (seconds on Xen; under xensim the first notify makes room). */
#define MAX_FULL_YIELDS 1000000u

_Static_assert((INQ_SIZE & (INQ_SIZE - 1)) == 0, "INQ_SIZE is a power of 2");

static struct {
    struct xencons_interface *intf;
    evtchn_port_t port;
    bool connected, active;
    bool out_broken, in_broken;
    bool bind_tried, bound;
    XENCONS_RING_IDX out_prod, in_cons; /* the indexes we produce */
    spinlock_t out_lock, in_lock;
    uint32_t inq_head, inq_tail; /* input taken off the ring, not yet read */
    char inq[INQ_SIZE];
    struct xencons_stats stats;
} xc = {.out_lock = SPINLOCK_INIT, .in_lock = SPINLOCK_INIT};

static uint32_t min32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

/* Straight to Xen's console: for messages about the ring itself. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char buf[160];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(buf) - 1) n = sizeof(buf) - 1;
    HYPERVISOR_console_io(CONSOLEIO_write, (unsigned)n, buf);
}

static void notify(void)
{
    evtchn_send(xc.port);
}

static void console_event(evtchn_port_t port, void *arg);

/* A new domain: the ring is the same page with its indexes kept (the
 * toolstack carried on from them), but the port is new.  A handler bound
 * before is bound again on it. */
static void xencons_resume(void *arg)
{
    (void)arg;
    uint64_t port = 0;
    if (!atomic_load(&xc.connected)) return;
    long rc = hvm_get_param(HVM_PARAM_CONSOLE_EVTCHN, &port);
#ifdef GUEST_BUG_CONSOLE_PORT_CACHED
    /* Deliberate bug: the port from boot is used after a resume. */
    port = xc.port;
#endif
    if (rc || !port || port >= EVTCHN_2L_NR_CHANNELS) {
        say("xencons: resume: console port %lu unusable (%ld): back to console_io\n",
            port, rc);
        xc.out_broken = true;
        return;
    }
    xc.port = (evtchn_port_t)port;
    if (atomic_load(&xc.bound) &&
        evtchn_bind_existing(xc.port, 0, console_event, NULL) < 0) {
        say("xencons: resume: cannot bind console port %u\n", xc.port);
        atomic_store(&xc.bound, false);
    }
}

static struct control_hook xencons_hook = {
    .name = "xencons", .order = CONTROL_ORDER_CONSOLE, .resume = xencons_resume};

void xencons_init(void)
{
    uint64_t pfn = 0, port = 0;
    if (!boot.xen || xc.connected) return;
    if (hvm_get_param(HVM_PARAM_CONSOLE_PFN, &pfn) ||
        hvm_get_param(HVM_PARAM_CONSOLE_EVTCHN, &port) || !pfn || !port)
        return; /* no PV console: console_io it stays */
    /* The direct map covers the low 4 GiB; the 2-level bitmaps 4096 ports. */
    if (pfn >= (1ull << (32 - PAGE_SHIFT)) || port >= EVTCHN_2L_NR_CHANNELS) {
        say("xencons: console pfn %#lx / port %lu unusable, staying on console_io\n", pfn,
            port);
        return;
    }
    struct xencons_interface *intf = pa_to_va(pfn << PAGE_SHIFT);
    /* Take over from whoever used the ring before (a previous kernel). */
    XENCONS_RING_IDX oc = READ_ONCE(intf->out_cons), op = READ_ONCE(intf->out_prod);
    XENCONS_RING_IDX ic = READ_ONCE(intf->in_cons), ip = READ_ONCE(intf->in_prod);
    if (op - oc > OUT_SIZE || ip - ic > IN_SIZE) {
        say("xencons: ring indexes out of range (out %u/%u, in %u/%u), not used\n", oc,
            op, ic, ip);
        return;
    }
    xc.intf = intf;
    xc.port = (evtchn_port_t)port;
    xc.out_prod = op;
    xc.in_cons = ic;
    /* Until a handler is bound, the backend's notifications must not raise
     * upcalls nobody handles (evtchn_init masks every port again). */
    xen_set_bit(xc.port, boot.shared_info->evtchn_mask);
    char buf[8];
    const char *c = cmdline_get("console", buf, sizeof(buf));
    atomic_store(&xc.connected, true);
    atomic_store(&xc.active, !(c && !strcmp(c, "xen")));
    control_register(&xencons_hook);
}

bool xencons_connected(void)
{
    return atomic_load(&xc.connected);
}

bool xencons_active(void)
{
    return atomic_load(&xc.active);
}

/* ---- output ------------------------------------------------------------------ */

size_t xencons_write(const char *s, size_t len)
{
    size_t done = 0;
    if (!xencons_active()) return 0;
    unsigned long f = irq_save();
    spin_lock(&xc.out_lock);
    struct xencons_interface *intf = xc.intf;
    bool moved = false;
    unsigned yields = 0;
    while (done < len && !xc.out_broken) {
        XENCONS_RING_IDX cons = READ_ONCE(intf->out_cons), prod = xc.out_prod;
        if (prod - cons > OUT_SIZE) {
            xc.out_broken = true;
            say("xencons: output consumer index %u out of range (producer %u): back to "
                "console_io\n",
                cons, prod);
            break;
        }
        uint32_t room = OUT_SIZE - (prod - cons);
        if (!room) {
            /* Tell the backend what is there, then give it time. */
            if (!yields) xc.stats.full_waits++;
            notify();
            moved = false;
            if (++yields > MAX_FULL_YIELDS) {
                xc.out_broken = true;
                say("xencons: output ring stayed full: back to console_io\n");
                break;
            }
            if (yields > 1) HYPERVISOR_sched_op(SCHEDOP_yield, NULL);
            continue;
        }
        yields = 0;
        uint32_t at = MASK_XENCONS_IDX(prod, intf->out);
        uint32_t n = min32(min32(room, OUT_SIZE - at),
                           (uint32_t)(len - done < OUT_SIZE ? len - done : OUT_SIZE));
        xen_mb(); /* the consumer index is read before the space is reused */
        memcpy(intf->out + at, s + done, n);
        xen_wmb(); /* the bytes are there before the index says so */
        xc.out_prod = prod + n;
        WRITE_ONCE(intf->out_prod, xc.out_prod);
        done += n;
        moved = true;
    }
    if (moved) notify();
    xc.stats.out_bytes += done;
    spin_unlock(&xc.out_lock);
    irq_restore(f);
    return done;
}

void xencons_use_console_io(void)
{
    if (!atomic_xchg(&xc.active, false)) return;
    /* Whatever is on the ring goes out before what follows on console_io;
     * the writer may be this very CPU (a panic), so no lock, and a bounded
     * wait. */
    for (unsigned i = 0; i < 100; i++) {
        XENCONS_RING_IDX left = READ_ONCE(xc.out_prod) - READ_ONCE(xc.intf->out_cons);
        if (!left || left > OUT_SIZE) break;
        notify();
        HYPERVISOR_sched_op(SCHEDOP_yield, NULL);
    }
}

void xencons_panic(void)
{
    xencons_use_console_io();
}

/* ---- input --------------------------------------------------------------------- */

/* Move what arrived into the local queue; in_lock held, interrupts off. */
static uint32_t pull_locked(void)
{
    struct xencons_interface *intf = xc.intf;
    if (xc.in_broken) return 0;
    XENCONS_RING_IDX prod = READ_ONCE(intf->in_prod), cons = xc.in_cons;
    if (prod - cons > IN_SIZE) {
        xc.in_broken = true;
        say("xencons: input producer index %u out of range (consumer %u): input "
            "abandoned\n",
            prod, cons);
        return 0;
    }
    xen_rmb(); /* the index is read before the bytes */
    uint32_t n = min32(prod - cons, INQ_SIZE - (xc.inq_tail - xc.inq_head));
    for (uint32_t i = 0; i < n; i++)
        xc.inq[(xc.inq_tail + i) & (INQ_SIZE - 1)] =
            intf->in[MASK_XENCONS_IDX(cons + i, intf->in)];
    if (!n) return 0;
    xen_mb(); /* the bytes are copied before the space goes back */
    xc.in_cons = cons + n;
    WRITE_ONCE(intf->in_cons, xc.in_cons);
    xc.inq_tail += n;
    xc.stats.in_bytes += n;
    notify(); /* room for more */
    return n;
}

static void console_event(evtchn_port_t port, void *arg)
{
    (void)port, (void)arg;
    spin_lock(&xc.in_lock);
    pull_locked();
    xc.stats.events++;
    spin_unlock(&xc.in_lock);
}

/* Event channels are up: from now on the handler takes input as it comes.
 * Bound on first use, so apps that never read keep their port counts. */
static void ensure_bound(void)
{
    if (!evtchn_ready() || atomic_xchg(&xc.bind_tried, true)) return;
    if (evtchn_bind_existing(xc.port, 0, console_event, NULL) >= 0)
        atomic_store(&xc.bound, true);
}

static unsigned long lock_in(void)
{
    unsigned long f = irq_save();
    spin_lock(&xc.in_lock);
    return f;
}

long xencons_read(char *buf, size_t len)
{
    if (!xencons_connected()) return -XEN_ENODEV;
    ensure_bound();
    unsigned long f = lock_in();
    pull_locked();
    size_t n = 0;
    while (n < len && xc.inq_head != xc.inq_tail)
        buf[n++] = xc.inq[xc.inq_head++ & (INQ_SIZE - 1)];
    bool broken = xc.in_broken;
    spin_unlock(&xc.in_lock);
    irq_restore(f);
    return n ? (long)n : broken ? -XEN_EIO : 0;
}

/* Sleep until the port is raised; interrupts are off. */
static void wait_input(void)
{
    if (!atomic_load(&xc.bound)) {
        /* No handler takes the event: clear it ourselves, then look again
         * so a notification in between is not slept through. */
        if (evtchn_ready())
            evtchn_clear(xc.port);
        else
            xen_clear_bit(xc.port, boot.shared_info->evtchn_pending);
        if (READ_ONCE(xc.intf->in_prod) != READ_ONCE(xc.in_cons)) return;
    }
    evtchn_port_t p = xc.port;
    struct sched_poll sp = {.nr_ports = 1, .timeout = 0};
    set_xen_guest_handle(sp.ports, &p);
    HYPERVISOR_sched_op(SCHEDOP_poll, &sp);
}

long xencons_getline(char *buf, size_t len)
{
    if (!xencons_connected()) return -XEN_ENODEV;
    if (!buf || !len) return -XEN_EINVAL;
    ensure_bound();
    size_t n = 0;
    for (;;) {
        unsigned long f = lock_in();
        pull_locked();
        bool line = false;
        while (n + 1 < len && xc.inq_head != xc.inq_tail) {
            char c = xc.inq[xc.inq_head++ & (INQ_SIZE - 1)];
            if (c == '\n') {
                line = true;
                break;
            }
            buf[n++] = c;
        }
        bool broken = xc.in_broken && xc.inq_head == xc.inq_tail;
        spin_unlock(&xc.in_lock);
        if (line || n + 1 >= len || broken) {
            irq_restore(f);
            if (broken && !line && !n) return -XEN_EIO;
            break;
        }
        wait_input();
        irq_restore(f);
    }
    if (n && buf[n - 1] == '\r') n--;
    buf[n] = '\0';
    return (long)n;
}

const struct xencons_stats *xencons_stats(void)
{
    return &xc.stats;
}
