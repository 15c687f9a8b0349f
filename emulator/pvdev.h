/* The PV backend framework (docs/devices.md): xensim is Dom0, so it plays
 * the toolstack (xl's xenstore nodes for a device) and runs the backend
 * drivers itself.  A device is (frontend domain, class, id) with xensim as
 * the backend; each class has a kind (blkback for "vbd", ...) found in a
 * registry.  The framework owns the XenbusState machine on the backend's
 * side: it follows the frontend's state node from the run loop (read only
 * when the store changed), asks the kind to publish its features (then
 * InitWait), to connect once the frontend is Initialised or Connected (then
 * Connected), and to disconnect on the frontend's Closing/Closed, on
 * hot-unplug and when the frontend's domain ends.  Devices are serviced in
 * the order frontend domid, class, id: deterministic. */
#ifndef XS_PVDEV_H
#define XS_PVDEV_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xen/xen.h>
#include <xen/event_channel.h>
#include <xen/grant_table.h>
#include <xen/io/xenbus.h>

struct xs_sim;
struct xs_domain;
struct xs_pvdev;

/* What a backend kind provides.  Callbacks run in the run loop. */
struct xs_pvdev_kind {
    const char *devclass; /* xenstore class: "vbd" */
    const char *name;     /* for messages: "blkback" */
    /* Set up dev->priv from cfg (the kind's own config struct); 0, or -1
     * and a message in err. */
    int (*create)(struct xs_pvdev *dev, const void *cfg, char *err, size_t errlen);
    /* Write the backend's nodes (features) before InitWait: 0 or an errno. */
    int (*publish)(struct xs_pvdev *dev);
    /* The frontend is Initialised or Connected: read its nodes, map its
     * rings.  0: Connected.  -1: failed (the kind called xs_pvdev_fatal or
     * reported): the backend goes Closing with nothing left mapped. */
    int (*connect)(struct xs_pvdev *dev);
    /* Serve the rings: cheap when idle (two index words per ring). */
    void (*service)(struct xs_pvdev *dev);
    /* Answer or fail what is in flight (only when live: the frontend's
     * domain still runs), unmap every grant, forget the rings. */
    void (*disconnect)(struct xs_pvdev *dev, bool live);
    void (*destroy)(struct xs_pvdev *dev);
};

struct xs_pvdev {
    struct xs_sim *sim;
    const struct xs_pvdev_kind *kind;
    struct xs_domain *front;
    unsigned id;
    char fe_path[96];           /* /local/domain/<front>/device/<class>/<id> */
    char be_path[128];          /* /local/domain/0/backend/<class>/<front>/<id> */
    char who[96];               /* "blkback: d1 (g) vbd 51712", for messages */
    enum xenbus_state state;    /* ours, as written to be_path/state */
    enum xenbus_state fe_state; /* the frontend's, as last read */
    bool connected;             /* connect() succeeded, no disconnect since */
    bool unplugging;            /* hot-unplug: the toolstack waits for Closed */
    /* Grant mappings the backend holds now: must be 0 after disconnect (a
     * backend that leaks is a xensim bug, reported). */
    uint64_t grant_maps;
    void *priv; /* the kind's */
    struct xs_pvdev *next;
    /* The configuration it was created with, in the words of the scenario
     * statement ("size=4", "path=/abs/x.img readonly"); "" if unknown. */
    char cfg_text[1200];
};

/* The kind serving devclass, or NULL. */
const struct xs_pvdev_kind *xs_pvdev_kind_find(const char *devclass);

/* The toolstack adds a device with xensim as its backend (before the
 * domain runs, or later: hot-plug): xl's frontend and backend directories
 * (xs_xenstore_add_device with backend domain 0, plus extra nodes from the
 * kind), the kind's state, its features, backend InitWait.  NULL and a
 * message in err on failure. */
struct xs_pvdev *xs_pvdev_add(struct xs_sim *sim, const char *devclass,
                              struct xs_domain *front, unsigned id, const void *cfg,
                              char *err, size_t errlen);
/* Hot-unplug as xl does: the backend goes Closing (online 0); once the
 * frontend is Closed (or its domain ended) the device goes away with its
 * nodes. */
void xs_pvdev_unplug(struct xs_pvdev *dev);
/* The device of front with that class and id, or NULL. */
struct xs_pvdev *xs_pvdev_find(struct xs_sim *sim, const struct xs_domain *front,
                               const char *devclass, unsigned id);

/* A toolstack action at virtual time at_ns (hot-plug, hot-unplug):
 * fn(sim, arg) runs from the run loop's poll once virtual time reached it,
 * in the order the actions were given for equal times; an idle simulation
 * jumps to it as to a timer.  arg stays the caller's.  0, or -1 when out
 * of memory. */
int xs_pvdev_at(struct xs_sim *sim, uint64_t at_ns, void (*fn)(struct xs_sim *, void *),
                void *arg);
/* The earliest pending action's time, or XS_NO_DEADLINE. */
uint64_t xs_pvdev_next_event(const struct xs_sim *sim);

/* The run loop, every iteration: due toolstack actions, states (when the store changed
 * since the last look), then every connected device's rings. */
void xs_pvdev_sim_poll(struct xs_sim *sim);
/* The frontend's domain ended: its devices disconnect (nothing is written
 * to its rings any more) and go Closed. */
void xs_pvdev_domain_ended(struct xs_domain *d);
/* Its devices go with their backend nodes (before its grant table). */
void xs_pvdev_domain_destroyed(struct xs_domain *d);
/* Disconnect every device (xl destroy does before the leak checks a
 * scenario's verdict runs). */
void xs_pvdev_teardown_all(struct xs_sim *sim);
/* xs_sim_destroy: whatever is left. */
void xs_pvdev_sim_free(struct xs_sim *sim);

/* ---- suspend and restore (suspend.c, domain_image.c) --------------------- */

/* front's devices in service order: up to max into out, the count returned. */
unsigned xs_pvdev_list(const struct xs_domain *front, const struct xs_pvdev **out,
                       unsigned max);

/* xs_pvdev_add with the configuration as cfg_text words (an image restored
 * in another process).  Classes without a text form are refused. */
struct xs_pvdev *xs_pvdev_add_text(struct xs_sim *sim, const char *devclass,
                                   struct xs_domain *front, unsigned id, const char *text,
                                   char *err, size_t errlen);
/* The in-process resume moves d's devices to the new domain, as xl restore
 * recreates them, keeping each backend's state (a memory disk's data):
 * park disconnects them (d is not running: nothing is answered), copies
 * their nodes and removes them from the store; unpark gives them to the
 * new domain -- the frontend directory copied back (state Initialising,
 * the new backend path), the backend's nodes, features published, backend
 * InitWait.  0, or -1 and err (out of memory: nothing moved). */
struct xs_pvdev_parked;
int xs_pvdev_park(struct xs_domain *d, struct xs_pvdev_parked **out, char *err,
                  size_t errlen);
int xs_pvdev_unpark(struct xs_pvdev_parked *p, struct xs_domain *d, char *err,
                    size_t errlen);
/* Whatever unpark did not take (devices destroyed). */
void xs_pvdev_parked_free(struct xs_sim *sim, struct xs_pvdev_parked *p);

/* ---- for kinds ---------------------------------------------------------- */

/* Write node below the backend directory (printf value): 0 or an errno. */
int xs_pvdev_printf(struct xs_pvdev *dev, const char *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Write node below the frontend directory (the toolstack's frontend nodes). */
int xs_pvdev_printf_fe(struct xs_pvdev *dev, const char *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Read dir/node (dir: the frontend's directory or one below it); 0 and a
 * NUL-terminated value, ENOENT, E2BIG (longer than len - 1) or an errno. */
int xs_pvdev_read(struct xs_pvdev *dev, const char *dir, const char *node, char *buf,
                  size_t len);
/* A decimal value <= max at dir/node: 0, ENOENT, or EINVAL (not a number,
 * too large). */
int xs_pvdev_read_uint(struct xs_pvdev *dev, const char *dir, const char *node,
                       uint64_t max, uint64_t *out);
/* xenbus_dev_fatal: the message goes to the log and to Dom0's
 * error/backend/<class>/<front>/<id>/error node; the caller's connect then
 * fails (backend Closing). */
void xs_pvdev_fatal(struct xs_pvdev *dev, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Map n grants of the frontend (ring pages) read-write as one contiguous
 * view, counted in grant_maps.  NULL (nothing left mapped) and the failing
 * index and GNTST_* code in *bad / *status on failure. */
void *xs_pvdev_map_ring(struct xs_pvdev *dev, const grant_ref_t *refs, unsigned n,
                        grant_handle_t *handles, unsigned *bad, int *status);
void xs_pvdev_unmap_ring(struct xs_pvdev *dev, void *va, unsigned n,
                         const grant_handle_t *handles);
/* One grant mapped for the backend (persistent grants), counted. */
int xs_pvdev_map(struct xs_pvdev *dev, grant_ref_t ref, bool readonly, void **ptr,
                 grant_handle_t *handle);
void xs_pvdev_unmap(struct xs_pvdev *dev, grant_handle_t handle);
/* Raise the frontend's port, as the backend end of an interdomain channel
 * would (only while the domain runs). */
void xs_pvdev_notify(struct xs_pvdev *dev, evtchn_port_t port);
#endif
