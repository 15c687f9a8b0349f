/* xenbus: PV devices found in xenstore, as a frontend or a backend sees
 * them, and the XenbusState handshake (<xen/io/xenbus.h>).
 *
 * A frontend device is device/<class>/<id> under the domain's home; its
 * "backend" and "backend-id" nodes name the other end.  A backend device
 * is backend/<class>/<frontid>/<id>; its "frontend" and "frontend-id" nodes
 * name the other end.  The toolstack (xensim's `device` statement, xl on
 * Xen) writes these nodes before the domains start. */
#ifndef GUEST_XENBUS_H
#define GUEST_XENBUS_H
#include <guest/xenstore.h>
#include <xen/io/xenbus.h>

#define XENBUS_PATH_MAX 128

struct xenbus_device {
    char nodename[XENBUS_PATH_MAX]; /* our end, absolute */
    char otherend[XENBUS_PATH_MAX]; /* the other end, absolute */
    unsigned otherend_id;           /* the other end's domid */
    char devclass[32];
    unsigned devid; /* <id> */
    bool backend;   /* we are the backend end */
    /* The other end's state, kept current by a watch on otherend/state
     * once xenbus_watch_otherend ran. */
    volatile enum xenbus_state otherend_state;
    struct xenstore_watch otherend_watch;
    char otherend_state_path[XENBUS_PATH_MAX + 8];
    /* called (thread context) after otherend_state changed, may be NULL */
    void (*otherend_changed)(struct xenbus_device *dev, enum xenbus_state state);
    void *priv;
};

/* Frontend devices of class (device/<class>/<id>, ids ascending): fills
 * up to max entries of devs (nodename, otherend, ids), returns how many
 * exist, or an errno.  No device/<class> directory: 0. */
long xenbus_enumerate_frontends(const char *devclass, struct xenbus_device *devs,
                                unsigned max);
/* Wait until more than index frontend devices of class exist (a watch on
 * device/<class>: hot-plug): 0, -XEN_ETIMEDOUT or an errno. */
long xenbus_wait_frontend(const char *devclass, unsigned index, uint64_t timeout_ns);
/* Backend devices of class this domain serves
 * (backend/<class>/<frontid>/<id>, in that order). */
long xenbus_enumerate_backends(const char *devclass, struct xenbus_device *devs,
                               unsigned max);
/* Either, below root (absolute, or relative to the home) instead of the
 * home: root/<class>/<id>, or root/<class>/<frontid>/<id> for backends.
 * For tests (a DomU may not write device/ or backend/ itself).  Children
 * that are not decimal numbers are skipped; a device whose other-end nodes
 * are missing has otherend "" and otherend_id DOMID_INVALID. */
long xenbus_enumerate_dir(const char *root, const char *devclass, bool backend,
                          struct xenbus_device *devs, unsigned max);

/* After a resume in a new domain (a device's resume hook): nodename moved
 * to the new home, the other end's nodes read again, its state watched
 * again (the first event comes at once).  The caller then runs the
 * handshake again. */
long xenbus_resume_device(struct xenbus_device *dev);

/* Our state node (nodename/state), in a transaction that finds it first:
 * -XEN_ENOENT once the toolstack removed the device. */
long xenbus_switch_state(struct xenbus_device *dev, enum xenbus_state state);
enum xenbus_state xenbus_read_state(const char *path); /* Unknown if absent */
/* Watch otherend/state; the first event arrives at once.  -XEN_ENOENT
 * without an other end.  The watch points at dev: a watched device must
 * not move (copy enumerated devices to their home first). */
long xenbus_watch_otherend(struct xenbus_device *dev);
long xenbus_unwatch_otherend(struct xenbus_device *dev);
/* Wait until the other end's state is one of mask's bits (1u << state),
 * running watch callbacks meanwhile (watching otherend/state first if
 * needed); returns the state, or -XEN_ETIMEDOUT. */
long xenbus_wait_otherend(struct xenbus_device *dev, uint32_t mask, uint64_t timeout_ns);
#define XENBUS_STATE_BIT(s) (1u << (s))

/* Nodes below dev->nodename (printf), or below dir (read: absolute or
 * relative to the home, e.g. dev->otherend). */
long xenbus_printf(xs_transaction_t t, struct xenbus_device *dev, const char *node,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
long xenbus_read(xs_transaction_t t, const char *dir, const char *node, char *buf,
                 size_t len);
long xenbus_read_u64(xs_transaction_t t, const char *dir, const char *node,
                     uint64_t *out);

const char *xenbus_state_name(enum xenbus_state s);
#endif
