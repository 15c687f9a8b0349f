/* The xenstore client on the domain's store ring (HVM_PARAM_STORE_PFN and
 * HVM_PARAM_STORE_EVTCHN), as a guest kernel's xenbus core talks to
 * xenstored.
 *
 * Requests may be made from any CPU at once, in thread context (interrupts
 * on): each gets a request id, its message goes onto the ring under a lock,
 * and the caller blocks until the reply with its id arrives (the store
 * port's handler, on CPU 0, matches replies to requests and wakes the
 * requester's CPU).  Never call these from an event handler.  A payload
 * over XENSTORE_PAYLOAD_MAX is refused here with -XEN_E2BIG (xenstored
 * would drop the connection).
 *
 * Watch events are queued by the handler (at most 64 / 16 KiB waiting;
 * more are dropped, counted and printed) and delivered to their callbacks
 * by xenstore_run_watches(), one CPU at a time, in arrival order.  CPU 0
 * runs it while it waits for a reply, and xenstore_wait (and so
 * xenbus_wait_otherend) on any CPU; callbacks run in thread context and may
 * make requests themselves (they must not take locks the code around a
 * CPU 0 request holds).
 *
 * Functions returning long give 0 (or a length) or a negative Xen errno
 * (-XEN_ENOENT, -XEN_EACCES, -XEN_EAGAIN ...) mapped from xenstored's
 * error string; -XEN_ETIMEDOUT if no reply came within XENSTORE_TIMEOUT_NS
 * of virtual time. */
#ifndef GUEST_XENSTORE_H
#define GUEST_XENSTORE_H
#include <guest/xen.h>
#include <xen/io/xs_wire.h>

#define XENSTORE_TIMEOUT_NS ((uint64_t)2 * 1000 * 1000 * 1000)
#define XBT_NIL             0u

typedef uint32_t xs_transaction_t;

/* Find the ring and port, bind the port; once, on the boot CPU, after
 * smp_start (events, and every CPU's timer for the waits).  -XEN_ENOENT
 * when the domain has no store; requests before it give -XEN_ENODEV. */
long xenstore_init(void);
bool xenstore_ready(void);

/* Read path's value into buf (NUL-terminated, at most len - 1 bytes);
 * returns the value's full length (which may exceed len - 1: truncated). */
long xenstore_read(xs_transaction_t t, const char *path, char *buf, size_t len);
long xenstore_read_u64(xs_transaction_t t, const char *path, uint64_t *out);
long xenstore_write(xs_transaction_t t, const char *path, const char *value);
long xenstore_printf(xs_transaction_t t, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
long xenstore_vprintf(xs_transaction_t t, const char *path, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
long xenstore_mkdir(xs_transaction_t t, const char *path);
long xenstore_rm(xs_transaction_t t, const char *path);
bool xenstore_exists(xs_transaction_t t, const char *path);
/* Children of path, NUL-separated, into buf; returns how many, or an
 * errno (-XEN_E2BIG when they do not fit in len). */
long xenstore_directory(xs_transaction_t t, const char *path, char *buf, size_t len);
/* Permissions as xenstored spells them ("n0\0r1\0"), count returned. */
long xenstore_get_perms(xs_transaction_t t, const char *path, char *buf, size_t len);
/* perms: space-separated ("n1 r2 b3"). */
long xenstore_set_perms(xs_transaction_t t, const char *path, const char *perms);
/* This domain's home: "/local/domain/<domid>" (GET_DOMAIN_PATH). */
long xenstore_domain_path(unsigned domid, char *buf, size_t len);
/* Our own domid, read from "domid" (relative to the home). */
long xenstore_self_domid(unsigned *domid);

/* A request by type with a raw payload, for tests: the reply's payload in
 * buf (not NUL-terminated, truncated to len), its full length returned; an
 * XS_ERROR reply is returned as its errno. */
long xenstore_raw(enum xsd_sockmsg_type type, xs_transaction_t t, const void *payload,
                  size_t plen, void *buf, size_t len);

/* ---- transactions ------------------------------------------------------- */
long xenstore_transaction_start(xs_transaction_t *t);
/* abort: discard.  -XEN_EAGAIN when it conflicted: run it again. */
long xenstore_transaction_end(xs_transaction_t t, bool abort);
/* Run fn in a transaction, starting over on EAGAIN (up to max_tries
 * times, 0 = 64); fn returns 0 or an errno (which aborts).  *retries (may
 * be NULL) counts the restarts. */
long xenstore_transaction(long (*fn)(xs_transaction_t t, void *arg), void *arg,
                          unsigned max_tries, unsigned *retries);

/* ---- watches ------------------------------------------------------------ */
struct xenstore_watch;
/* path: the node that changed (or the watched path for the initial event). */
typedef void (*xenstore_watch_fn)(struct xenstore_watch *w, const char *path);
struct xenstore_watch {
    const char *path; /* caller's string, must stay valid while registered */
    xenstore_watch_fn fn;
    void *arg;
    /* private */
    struct xenstore_watch *next;
    uint32_t id;
    bool registered;
};
/* Register (XS_WATCH; the token, the watch's id in hex, names it).
 * xenstored fires once at once for the path itself, as Xen does.  A
 * relative path gets relative event paths. */
long xenstore_watch(struct xenstore_watch *w);
/* Unregister; a callback of w running on another CPU finishes first. */
long xenstore_unwatch(struct xenstore_watch *w);
/* Deliver queued watch events to their callbacks, on this CPU; returns
 * how many ran.  Events for watches unregistered meanwhile are dropped. */
unsigned xenstore_run_watches(void);
/* Wait (thread context) until cond(arg) holds, running watch callbacks as
 * their events arrive, or timeout_ns passed; returns cond's last value.
 * cond is also called with interrupts off: it must only look at memory. */
bool xenstore_wait(bool (*cond)(void *), void *arg, uint64_t timeout_ns);

/* A watch callback that runs for long and waits for other watches' events
 * (the control driver's suspend) gives up its place as the one CPU
 * delivering events: others, and its own nested waits, deliver from then
 * on.  Its path argument is invalid afterwards. */
void xenstore_watch_detach(void);

/* ---- suspend (control.c) --------------------------------------------------- */
/* Quiesce for a suspend: requests from other CPUs wait until the resume;
 * returns once every request on the ring has its reply (this CPU may still
 * make requests).  An open transaction does not hold it up: after a real
 * resume every older transaction handle gives -XEN_EAGAIN (its commit too;
 * an abort gives 0), so xenstore_transaction() runs it again.  The resume
 * itself is a control hook: the new store port is read and bound, each
 * CPU's wake port bound again, every watch registered again, requests let
 * through.  -XEN_ETIMEDOUT (and nothing frozen) if replies never came. */
long xenstore_suspend(void);

/* ---- statistics (for tests and benches) ----------------------------------- */
struct xenstore_stats {
    uint64_t requests, replies, errors, watch_events, watch_dropped, bad_replies;
    uint64_t eagain_retries;
};
void xenstore_get_stats(struct xenstore_stats *s);

/* Xen's name for a negative errno (xsd_errors), "EIO" etc.; also
 * "ETIMEDOUT", "ENODEV", "ERANGE", "OK" for 0, else "EUNKNOWN". */
const char *xenstore_errname(long err);
#endif
