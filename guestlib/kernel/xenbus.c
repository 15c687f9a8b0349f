/* xenbus: devices found in xenstore and the XenbusState handshake, on top
 * of the xenstore client (guest/xenbus.h).  Like Linux's xenbus_probe and
 * xenbus_client, minus the driver model: the caller enumerates a class,
 * gets one struct per device and drives the states itself. */
#include <guest/xenbus.h>
#include <guest/mm.h>
#include <guest/printk.h>
#include <guest/string.h>

#define NO_ID (-1l)

/* path = dir/node; dir absolute or relative (xenstored resolves it). */
static long join(char *out, size_t len, const char *dir, const char *node)
{
    int n = node && *node ? snprintf(out, len, "%s/%s", dir, node)
                          : snprintf(out, len, "%s", dir);
    return n < 0 || (size_t)n >= len ? -XEN_E2BIG : 0;
}

/* An absolute path for rel (our home in front of a relative one). */
static long absolute(char *out, size_t len, const char *rel)
{
    if (rel[0] == '/') return join(out, len, rel, NULL);
    unsigned domid;
    long rc = xenstore_self_domid(&domid);
    if (rc) return rc;
    char home[32];
    rc = xenstore_domain_path(domid, home, sizeof(home));
    if (rc < 0) return rc;
    if ((size_t)rc >= sizeof(home)) return -XEN_E2BIG;
    return join(out, len, home, rel);
}

static bool parse_id(const char *s, unsigned long *out)
{
    unsigned long v = 0;
    if (!*s) return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > 0xffffffffu / 10) return false;
        v = v * 10 + (unsigned long)(*s - '0');
    }
    *out = v;
    return v <= 0xffffffffu;
}

/* The smallest numeric child above after (NO_ID: any), or NO_ID. */
static long next_id(const char *list, long count, long after)
{
    long best = NO_ID;
    for (long i = 0; i < count; i++, list += strlen(list) + 1) {
        unsigned long v;
        if (parse_id(list, &v) && (long)v > after && (best == NO_ID || (long)v < best))
            best = (long)v;
    }
    return best;
}

/* The other end's details, as Linux's xenbus_read_otherend_details. */
static void fill_device(struct xenbus_device *dev, const char *nodename,
                        const char *devclass, unsigned devid, bool backend)
{
    memset(dev, 0, sizeof(*dev));
    join(dev->nodename, sizeof(dev->nodename), nodename, NULL);
    snprintf(dev->devclass, sizeof(dev->devclass), "%s", devclass);
    dev->devid = devid;
    dev->backend = backend;
    dev->otherend_state = XenbusStateUnknown;
    dev->otherend_id = DOMID_INVALID;
    const char *end = backend ? "frontend" : "backend";
    const char *id = backend ? "frontend-id" : "backend-id";
    uint64_t v;
    long rc =
        xenbus_read(XBT_NIL, dev->nodename, end, dev->otherend, sizeof(dev->otherend));
    if (rc < 0 || (size_t)rc >= sizeof(dev->otherend) ||
        xenbus_read_u64(XBT_NIL, dev->nodename, id, &v) || v >= DOMID_FIRST_RESERVED) {
        dev->otherend[0] = '\0';
        return;
    }
    dev->otherend_id = (unsigned)v;
    join(dev->otherend_state_path, sizeof(dev->otherend_state_path), dev->otherend,
         "state");
}

/* The devices below dir, ids ascending: fills devs from *n on, counts all. */
static long enumerate_ids(const char *dir, const char *devclass, bool backend, char *list,
                          struct xenbus_device *devs, unsigned max, unsigned *n)
{
    long count = xenstore_directory(XBT_NIL, dir, list, PAGE_SIZE);
    if (count == -XEN_ENOENT) return 0;
    if (count < 0) return count;
    for (long id = next_id(list, count, NO_ID); id != NO_ID;
         id = next_id(list, count, id)) {
        if (*n < max) {
            char path[XENBUS_PATH_MAX];
            char num[16];
            snprintf(num, sizeof(num), "%ld", id);
            if (join(path, sizeof(path), dir, num)) return -XEN_E2BIG;
            fill_device(&devs[*n], path, devclass, (unsigned)id, backend);
        }
        ++*n;
    }
    return 0;
}

long xenbus_enumerate_dir(const char *root, const char *devclass, bool backend,
                          struct xenbus_device *devs, unsigned max)
{
    if (!root || !devclass || (max && !devs)) return -XEN_EINVAL;
    char base[XENBUS_PATH_MAX], rel[XENBUS_PATH_MAX];
    long rc = join(rel, sizeof(rel), root, devclass);
    if (!rc) rc = absolute(base, sizeof(base), rel);
    if (rc) return rc;
    /* Child lists in pages: they can be long, stacks are not. */
    char *list = page_alloc(), *inner = backend ? page_alloc() : NULL;
    unsigned n = 0;
    if (!list || (backend && !inner)) {
        rc = -XEN_ENOMEM;
    } else if (!backend) {
        rc = enumerate_ids(base, devclass, false, list, devs, max, &n);
    } else {
        /* backend/<class>/<frontid>/<id>: front domains ascending. */
        long count = xenstore_directory(XBT_NIL, base, list, PAGE_SIZE);
        rc = count == -XEN_ENOENT ? 0 : count < 0 ? count : 0;
        for (long f = count > 0 ? next_id(list, count, NO_ID) : NO_ID; !rc && f != NO_ID;
             f = next_id(list, count, f)) {
            char dir[XENBUS_PATH_MAX], num[16];
            snprintf(num, sizeof(num), "%ld", f);
            rc = join(dir, sizeof(dir), base, num);
            if (!rc) rc = enumerate_ids(dir, devclass, true, inner, devs, max, &n);
        }
    }
    if (list) page_free(list);
    if (inner) page_free(inner);
    return rc ? rc : (long)n;
}

long xenbus_enumerate_frontends(const char *devclass, struct xenbus_device *devs,
                                unsigned max)
{
    return xenbus_enumerate_dir("device", devclass, false, devs, max);
}

struct frontend_wait {
    struct xenstore_watch w;
    const char *devclass;
    unsigned index;
    volatile bool found;
};

static void frontends_changed(struct xenstore_watch *w, const char *path)
{
    (void)path;
    struct frontend_wait *fw = w->arg;
    if (xenbus_enumerate_frontends(fw->devclass, NULL, 0) > (long)fw->index)
        fw->found = true;
}

static bool frontend_found(void *arg)
{
    return ((struct frontend_wait *)arg)->found;
}

long xenbus_wait_frontend(const char *devclass, unsigned index, uint64_t timeout_ns)
{
    char path[XENBUS_PATH_MAX];
    long rc = devclass ? join(path, sizeof(path), "device", devclass) : -XEN_EINVAL;
    if (rc) return rc;
    struct frontend_wait fw = {.devclass = devclass, .index = index};
    fw.w.path = path;
    fw.w.fn = frontends_changed;
    fw.w.arg = &fw;
    /* The watch fires once at once, then whenever a device comes;
     * xenstore_unwatch waits for a callback still running elsewhere. */
    rc = xenstore_watch(&fw.w);
    if (rc) return rc;
    bool ok = xenstore_wait(frontend_found, &fw, timeout_ns);
    xenstore_unwatch(&fw.w);
    return ok ? 0 : -XEN_ETIMEDOUT;
}

long xenbus_enumerate_backends(const char *devclass, struct xenbus_device *devs,
                               unsigned max)
{
    return xenbus_enumerate_dir("backend", devclass, true, devs, max);
}

/* After a resume in a new domain: our home has the new domid in it, the
 * other end may live elsewhere now, and the old watch named old paths. */
long xenbus_resume_device(struct xenbus_device *dev)
{
    static const char prefix[] = "/local/domain/";
    if (dev->otherend_watch.registered) xenstore_unwatch(&dev->otherend_watch);
    /* nodename is /local/domain/<old>/<rest>: <rest> below the new home. */
    const char *rest = dev->nodename;
    if (!strncmp(rest, prefix, sizeof(prefix) - 1)) {
        rest += sizeof(prefix) - 1;
        while (*rest >= '0' && *rest <= '9')
            rest++;
        if (*rest == '/') rest++;
    }
    char rel[XENBUS_PATH_MAX], path[XENBUS_PATH_MAX];
    snprintf(rel, sizeof(rel), "%s", rest);
    long rc = absolute(path, sizeof(path), rel);
    if (rc) return rc;
    void (*changed)(struct xenbus_device *, enum xenbus_state) = dev->otherend_changed;
    void *priv = dev->priv;
    char devclass[sizeof(dev->devclass)];
    snprintf(devclass, sizeof(devclass), "%s", dev->devclass);
    fill_device(dev, path, devclass, dev->devid, dev->backend);
    dev->otherend_changed = changed;
    dev->priv = priv;
    return dev->otherend[0] ? xenbus_watch_otherend(dev) : -XEN_ENOENT;
}

/* ---- states -------------------------------------------------------------------- */

const char *xenbus_state_name(enum xenbus_state s)
{
    static const char *const names[] = {
        [XenbusStateUnknown] = "Unknown",
        [XenbusStateInitialising] = "Initialising",
        [XenbusStateInitWait] = "InitWait",
        [XenbusStateInitialised] = "Initialised",
        [XenbusStateConnected] = "Connected",
        [XenbusStateClosing] = "Closing",
        [XenbusStateClosed] = "Closed",
        [XenbusStateReconfiguring] = "Reconfiguring",
        [XenbusStateReconfigured] = "Reconfigured",
    };
    return (unsigned)s < ARRAY_SIZE(names) && names[s] ? names[s] : "invalid";
}

enum xenbus_state xenbus_read_state(const char *path)
{
    uint64_t v;
    if (xenstore_read_u64(XBT_NIL, path, &v) || v > XenbusStateReconfigured)
        return XenbusStateUnknown;
    return (enum xenbus_state)v;
}

struct switch_arg {
    const char *path;
    enum xenbus_state state;
};

/* As Linux: only a state node that is still there is switched, so a
 * device the toolstack removed is not brought back half-made. */
static long switch_in(xs_transaction_t t, void *p)
{
    struct switch_arg *a = p;
    char cur[16];
    long rc = xenstore_read(t, a->path, cur, sizeof(cur));
    if (rc < 0) return rc;
    return xenstore_printf(t, a->path, "%d", a->state);
}

long xenbus_switch_state(struct xenbus_device *dev, enum xenbus_state state)
{
    char path[XENBUS_PATH_MAX + 8];
    long rc = join(path, sizeof(path), dev->nodename, "state");
    if (rc) return rc;
    struct switch_arg a = {path, state};
    return xenstore_transaction(switch_in, &a, 0, NULL);
}

static void otherend_event(struct xenstore_watch *w, const char *path)
{
    (void)path;
    struct xenbus_device *dev = w->arg;
    enum xenbus_state s = xenbus_read_state(dev->otherend_state_path);
    if (s == dev->otherend_state) return;
    dev->otherend_state = s;
    if (dev->otherend_changed) dev->otherend_changed(dev, s);
}

long xenbus_watch_otherend(struct xenbus_device *dev)
{
    if (!dev->otherend[0]) return -XEN_ENOENT;
    struct xenstore_watch *w = &dev->otherend_watch;
    if (w->registered) return 0;
    w->path = dev->otherend_state_path;
    w->fn = otherend_event;
    w->arg = dev;
    return xenstore_watch(w);
}

long xenbus_unwatch_otherend(struct xenbus_device *dev)
{
    return xenstore_unwatch(&dev->otherend_watch);
}

struct state_wait {
    struct xenbus_device *dev;
    uint32_t mask;
};

static bool state_in_mask(void *p)
{
    struct state_wait *sw = p;
    unsigned s = (unsigned)sw->dev->otherend_state;
    return s < 32 && (sw->mask & (1u << s));
}

long xenbus_wait_otherend(struct xenbus_device *dev, uint32_t mask, uint64_t timeout_ns)
{
    long rc = xenbus_watch_otherend(dev);
    if (rc) return rc;
    struct state_wait sw = {dev, mask};
    if (!xenstore_wait(state_in_mask, &sw, timeout_ns)) return -XEN_ETIMEDOUT;
    return (long)dev->otherend_state;
}

/* ---- nodes --------------------------------------------------------------------- */

long xenbus_printf(xs_transaction_t t, struct xenbus_device *dev, const char *node,
                   const char *fmt, ...)
{
    char path[XENBUS_PATH_MAX * 2];
    long rc = join(path, sizeof(path), dev->nodename, node);
    if (rc) return rc;
    va_list ap;
    va_start(ap, fmt);
    rc = xenstore_vprintf(t, path, fmt, ap);
    va_end(ap);
    return rc;
}

long xenbus_read(xs_transaction_t t, const char *dir, const char *node, char *buf,
                 size_t len)
{
    char path[XENBUS_PATH_MAX * 2];
    long rc = join(path, sizeof(path), dir, node);
    return rc ? rc : xenstore_read(t, path, buf, len);
}

long xenbus_read_u64(xs_transaction_t t, const char *dir, const char *node, uint64_t *out)
{
    char path[XENBUS_PATH_MAX * 2];
    long rc = join(path, sizeof(path), dir, node);
    return rc ? rc : xenstore_read_u64(t, path, out);
}
