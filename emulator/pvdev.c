/* The PV backend framework (pvdev.h): the registry of backend kinds, one
 * struct xs_pvdev per device, the backend's XenbusState machine driven by
 * the frontend's state node, teardown. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "blkback.h"
#include "evtchn.h"
#include "gnttab.h"
#include "netback.h"
#include "netswitch.h"
#include "pvdev.h"
#include "sim.h"
#include "xenstore_int.h"

#define PAGE 4096u

/* Backend kinds by device class: read-only, so no global state. */
static const struct xs_pvdev_kind *const kinds[] = {&xs_blkback_kind, &xs_netback_kind};

/* A simulation's devices, sorted by frontend domid, class, id (the service
 * order), and the store generation their states were last read at. */
struct pvdev_action {
    uint64_t at_ns;
    void (*fn)(struct xs_sim *sim, void *arg);
    void *arg;
};

struct xs_pvdevs {
    struct xs_pvdev *head;
    uint64_t generation;
    /* Toolstack actions, by time (stable for equal times). */
    struct pvdev_action *actions;
    unsigned nr_actions, cap_actions;
};

const struct xs_pvdev_kind *xs_pvdev_kind_find(const char *devclass)
{
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (!strcmp(kinds[i]->devclass, devclass)) return kinds[i];
    return NULL;
}

/* ---- xenstore helpers ------------------------------------------------------- */

static int vwrite(struct xs_pvdev *dev, const char *dir, const char *node,
                  const char *fmt, va_list ap)
{
    char path[256], val[256];
    int n = snprintf(path, sizeof(path), "%s/%s", dir, node);
    int m = vsnprintf(val, sizeof(val), fmt, ap);
    if (n < 0 || (size_t)n >= sizeof(path) || m < 0 || (size_t)m >= sizeof(val))
        return E2BIG;
    return xs_xenstore_write(dev->sim->xenstore, path, val, (size_t)m);
}

int xs_pvdev_printf(struct xs_pvdev *dev, const char *node, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int e = vwrite(dev, dev->be_path, node, fmt, ap);
    va_end(ap);
    return e;
}

int xs_pvdev_printf_fe(struct xs_pvdev *dev, const char *node, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int e = vwrite(dev, dev->fe_path, node, fmt, ap);
    va_end(ap);
    return e;
}

int xs_pvdev_read(struct xs_pvdev *dev, const char *dir, const char *node, char *buf,
                  size_t len)
{
    char path[256];
    int n = snprintf(path, sizeof(path), "%s/%s", dir, node);
    if (n < 0 || (size_t)n >= sizeof(path) || len == 0) return E2BIG;
    size_t got = len - 1;
    int e = xs_xenstore_request(dev->sim->xenstore, XS_READ, 0, path, (size_t)n + 1, buf,
                                &got);
    if (e) return e;
    if (got > len - 1) return E2BIG;
    buf[got] = '\0';
    return 0;
}

int xs_pvdev_read_uint(struct xs_pvdev *dev, const char *dir, const char *node,
                       uint64_t max, uint64_t *out)
{
    char buf[32];
    int e = xs_pvdev_read(dev, dir, node, buf, sizeof(buf));
    if (e) return e == E2BIG ? EINVAL : e;
    uint64_t v = 0;
    if (!buf[0]) return EINVAL;
    for (const char *p = buf; *p; p++) {
        if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10) return EINVAL;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v > max) return EINVAL;
    *out = v;
    return 0;
}

void xs_pvdev_fatal(struct xs_pvdev *dev, int err, const char *fmt, ...)
{
    char msg[256], path[192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    xs_log(dev->sim, "xensim: %s: %s (errno %d)", dev->who, msg, err);
    /* xenbus_dev_fatal's node: error/<nodename>/error in the backend's home. */
    snprintf(path, sizeof(path), "/local/domain/0/error/backend/%s/%u/%u/error",
             dev->kind->devclass, dev->front->domid, dev->id);
    char val[300];
    int n = snprintf(val, sizeof(val), "%d %s", err, msg);
    if (n > 0) xs_xenstore_write(dev->sim->xenstore, path, val, strlen(val));
}

/* ---- grants and events -------------------------------------------------------- */

void *xs_pvdev_map_ring(struct xs_pvdev *dev, const grant_ref_t *refs, unsigned n,
                        grant_handle_t *handles, unsigned *bad, int *status)
{
    /* One reservation, each page mapped into it: the ring macros need the
     * pages contiguous. */
    uint8_t *va = mmap(NULL, (size_t)n * PAGE, PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (va == MAP_FAILED) {
        *bad = 0;
        *status = GNTST_no_space;
        return NULL;
    }
    for (unsigned i = 0; i < n; i++) {
        int st = xs_gnttab_backend_map_at(dev->front, refs[i], false,
                                          va + (size_t)i * PAGE, &handles[i]);
        if (st != GNTST_okay) {
            xs_pvdev_unmap_ring(dev, NULL, i, handles); /* the pages mapped so far */
            munmap(va, (size_t)n * PAGE);
            *bad = i;
            *status = st;
            return NULL;
        }
        dev->grant_maps++;
    }
    return va;
}

void xs_pvdev_unmap_ring(struct xs_pvdev *dev, void *va, unsigned n,
                         const grant_handle_t *handles)
{
    for (unsigned i = 0; i < n; i++)
        xs_pvdev_unmap(dev, handles[i]);
    if (va) munmap(va, (size_t)n * PAGE);
}

int xs_pvdev_map(struct xs_pvdev *dev, grant_ref_t ref, bool readonly, void **ptr,
                 grant_handle_t *handle)
{
    int st = xs_gnttab_backend_map(dev->front, ref, readonly, ptr, handle);
    if (st == GNTST_okay) dev->grant_maps++;
    return st;
}

void xs_pvdev_unmap(struct xs_pvdev *dev, grant_handle_t handle)
{
    if (xs_gnttab_backend_unmap(dev->front, handle) == GNTST_okay) dev->grant_maps--;
}

void xs_pvdev_notify(struct xs_pvdev *dev, evtchn_port_t port)
{
    if (dev->front->end_state == XS_END_RUNNING) xs_evtchn_notify_local(dev->front, port);
}

/* ---- the state machine -------------------------------------------------------- */

static void switch_state(struct xs_pvdev *dev, enum xenbus_state st)
{
    if (dev->state == st) return;
    dev->state = st;
    xs_pvdev_printf(dev, "state", "%d", (int)st);
}

static enum xenbus_state read_fe_state(struct xs_pvdev *dev)
{
    uint64_t v;
    /* Missing or garbage reads as Unknown, as xenbus_read_driver_state. */
    if (xs_pvdev_read_uint(dev, dev->fe_path, "state", XenbusStateReconfigured, &v))
        return XenbusStateUnknown;
    return (enum xenbus_state)v;
}

static void disconnect(struct xs_pvdev *dev, bool live)
{
    if (dev->connected) {
        dev->kind->disconnect(dev, live);
        dev->connected = false;
    }
    if (dev->grant_maps)
        xs_report(dev->front,
                  "xensim: %s: %" PRIu64 " grant mappings still held after disconnect "
                  "(a xensim backend bug)",
                  dev->who, dev->grant_maps);
}

static int publish(struct xs_pvdev *dev)
{
    int e = dev->kind->publish ? dev->kind->publish(dev) : 0;
    if (e) xs_log(dev->sim, "xensim: %s: cannot publish features: errno %d", dev->who, e);
    return e;
}

static void device_remove(struct xs_pvdev *dev);

/* React to the frontend's state (Linux blkback's frontend_changed, made
 * robust to states missed between two looks). */
static void follow(struct xs_pvdev *dev)
{
    enum xenbus_state fe = read_fe_state(dev);
    if (fe == dev->fe_state) return;
    dev->fe_state = fe;
    switch (fe) {
    case XenbusStateInitialising:
        if (dev->unplugging || dev->state == XenbusStateInitWait) break;
        /* A frontend starting over (reconnect, or a restarted driver): the
         * features are still published. */
        disconnect(dev, true);
        switch_state(dev, XenbusStateInitWait);
        break;
    case XenbusStateInitialised:
    case XenbusStateConnected:
        if (dev->unplugging || dev->state == XenbusStateConnected) break;
        if (dev->state != XenbusStateInitWait && dev->state != XenbusStateClosed) break;
        if (dev->kind->connect(dev) == 0) {
            dev->connected = true;
            switch_state(dev, XenbusStateConnected);
        } else {
            disconnect(dev, true); /* only checks: connect left nothing */
            switch_state(dev, XenbusStateClosing);
        }
        break;
    case XenbusStateClosing:
        disconnect(dev, true);
        switch_state(dev, XenbusStateClosing);
        break;
    case XenbusStateClosed:
    case XenbusStateUnknown:
        disconnect(dev, true);
        switch_state(dev, XenbusStateClosed);
        if (dev->unplugging) device_remove(dev);
        break;
    default: /* Reconfiguring, Reconfigured: not used by these devices */
        break;
    }
}

/* ---- configurations as text (images) ----------------------------------------- */

static const char *const rogue_names[] = {"honest", "bad-id", "bad-status", "bad-op",
                                          "rsp-prod"};

/* An absolute form of path (realpath when it exists): an image restored in
 * another process, or another directory, finds the same file.  false if
 * it does not fit. */
static bool abs_path(const char *path, char *out, size_t len)
{
    char *abs = realpath(path, NULL);
    char cwd[4096];
    int n;
    if (abs)
        n = snprintf(out, len, "%s", abs);
    else if (path[0] != '/' && getcwd(cwd, sizeof(cwd)))
        n = snprintf(out, len, "%s/%s", cwd, path);
    else
        n = snprintf(out, len, "%s", path);
    free(abs);
    return n >= 0 && (size_t)n < len;
}

/* A vif's xs_netback_cfg in the words of the nic statement, with the MAC
 * it has (xl keeps a generated one in the domain's configuration too). */
static void format_vif_cfg(struct xs_pvdev *dev, const struct xs_netback_cfg *nc)
{
    uint8_t mac[6];
    if (nc->mac_set)
        memcpy(mac, nc->mac, sizeof(mac));
    else
        xs_netback_default_mac(dev->front->domid, dev->id, mac);
    char *t = dev->cfg_text, pcap[1024];
    size_t len = sizeof(dev->cfg_text), n;
    n = (size_t)snprintf(t, len, "switch=%s mac=%02x:%02x:%02x:%02x:%02x:%02x",
                         nc->bridge ? nc->bridge : XS_NETBACK_DEFAULT_SWITCH, mac[0],
                         mac[1], mac[2], mac[3], mac[4], mac[5]);
    if (n < len && nc->max_queues)
        n += (size_t)snprintf(t + n, len - n, " queues=%u", nc->max_queues);
    if (n < len && nc->freeze_suspended)
        n += (size_t)snprintf(t + n, len - n, " suspend=freeze");
    if (n < len && nc->pcap) {
        if (!abs_path(nc->pcap, pcap, sizeof(pcap)) || strchr(pcap, '"'))
            n = len; /* not recordable */
        else
            n += (size_t)snprintf(t + n, len - n, " pcap=\"%s\"", pcap);
    }
    if (n >= len) t[0] = '\0'; /* too long to record: not restorable */
}

/* A vbd's xs_blkback_cfg in the words of the disk statement (a vif's:
 * format_vif_cfg). */
static void format_cfg(struct xs_pvdev *dev, const void *cfg)
{
    dev->cfg_text[0] = '\0';
    if (cfg && !strcmp(dev->kind->devclass, "vif")) {
        format_vif_cfg(dev, cfg);
        return;
    }
    if (strcmp(dev->kind->devclass, "vbd") || !cfg) return;
    const struct xs_blkback_cfg *bc = cfg;
    char *t = dev->cfg_text;
    size_t len = sizeof(dev->cfg_text), n;
    if (bc->path) {
        /* Absolute, so an image restored elsewhere finds the file. */
        char *abs = realpath(bc->path, NULL);
        n = (size_t)snprintf(t, len, "path=\"%s\"", abs ? abs : bc->path);
        free(abs);
    } else {
        n = (size_t)snprintf(t, len, "size=%" PRIu64, bc->size_mib);
    }
    if (n < len && bc->readonly) n += (size_t)snprintf(t + n, len - n, " readonly");
    if (n < len && bc->rogue > 0 &&
        (size_t)bc->rogue < sizeof(rogue_names) / sizeof(rogue_names[0]))
        n += (size_t)snprintf(t + n, len - n, " rogue=%s", rogue_names[bc->rogue]);
    if (n >= len) t[0] = '\0'; /* a path too long to record: not restorable */
}

/* One word of cfg text at *p: key (or the bare word) and value. */
static bool next_word(const char **p, char *key, size_t klen, char *val, size_t vlen)
{
    const char *s = *p;
    while (*s == ' ')
        s++;
    if (!*s) return false;
    size_t k = 0, v = 0;
    while (*s && *s != ' ' && *s != '=' && k + 1 < klen)
        key[k++] = *s++;
    key[k] = '\0';
    if (*s == '=') {
        s++;
        bool q = *s == '"';
        if (q) s++;
        while (*s && (q ? *s != '"' : *s != ' ') && v + 1 < vlen)
            val[v++] = *s++;
        if (q && *s == '"') s++;
    }
    val[v] = '\0';
    *p = s;
    return true;
}

/* A vif from its words: switch=NAME mac=MAC [queues=N] [suspend=freeze]
 * [pcap="PATH"] (the capture continues in the file). */
static struct xs_pvdev *add_vif_text(struct xs_sim *sim, struct xs_domain *front,
                                     unsigned id, const char *text, char *err,
                                     size_t errlen)
{
    char key[16], val[sizeof(((struct xs_pvdev *)0)->cfg_text)];
    char bridge[XS_NETSWITCH_NAME_MAX] = "", pcap[sizeof(val)] = "";
    struct xs_netback_cfg nc = {.pcap_append = true};
    const char *p = text;
    while (next_word(&p, key, sizeof(key), val, sizeof(val))) {
        char *end = NULL;
        if (!strcmp(key, "switch") && val[0] && strlen(val) < sizeof(bridge)) {
            snprintf(bridge, sizeof(bridge), "%s", val);
            nc.bridge = bridge;
        } else if (!strcmp(key, "mac") && !xs_netback_parse_mac(val, nc.mac)) {
            nc.mac_set = true;
        } else if (!strcmp(key, "queues") && val[0]) {
            unsigned long q = strtoul(val, &end, 10);
            if (*end || !q || q > XS_NETBACK_MAX_QUEUES) goto bad;
            nc.max_queues = (unsigned)q;
        } else if (!strcmp(key, "pcap") && val[0]) {
            snprintf(pcap, sizeof(pcap), "%s", val);
            nc.pcap = pcap;
        } else if (!strcmp(key, "suspend") && !strcmp(val, "freeze")) {
            nc.freeze_suspended = true;
        } else {
            goto bad;
        }
    }
    /* The MAC is what the guest knows itself by: it must come back. */
    if (!nc.bridge || !nc.mac_set) goto bad;
    return xs_pvdev_add(sim, "vif", front, id, &nc, err, errlen);
bad:
    snprintf(err, errlen, "device vif/%u: bad configuration \"%.200s\"", id, text);
    return NULL;
}

struct xs_pvdev *xs_pvdev_add_text(struct xs_sim *sim, const char *devclass,
                                   struct xs_domain *front, unsigned id, const char *text,
                                   char *err, size_t errlen)
{
    if (!strcmp(devclass, "vif")) return add_vif_text(sim, front, id, text, err, errlen);
    if (strcmp(devclass, "vbd")) {
        snprintf(err, errlen,
                 "device %s/%u: xensim cannot recreate a %s device from an "
                 "image",
                 devclass, id, devclass);
        return NULL;
    }
    char key[16], path[sizeof(((struct xs_pvdev *)0)->cfg_text)], val[sizeof(path)];
    struct xs_blkback_cfg bc = {0};
    bool have_path = false;
    const char *p = text;
    while (next_word(&p, key, sizeof(key), val, sizeof(val))) {
        char *end = NULL;
        if (!strcmp(key, "path") && val[0]) {
            snprintf(path, sizeof(path), "%s", val);
            bc.path = path;
            have_path = true;
        } else if (!strcmp(key, "size") && val[0]) {
            bc.size_mib = strtoull(val, &end, 10);
            if (*end || !bc.size_mib) goto bad;
        } else if (!strcmp(key, "readonly") && !val[0]) {
            bc.readonly = true;
        } else if (!strcmp(key, "rogue") && xs_blkback_rogue_parse(val) > 0) {
            bc.rogue = (enum xs_blkback_rogue)xs_blkback_rogue_parse(val);
        } else {
            goto bad;
        }
    }
    if (have_path == (bc.size_mib != 0)) goto bad;
    return xs_pvdev_add(sim, devclass, front, id, &bc, err, errlen);
bad:
    snprintf(err, errlen, "device vbd/%u: bad configuration \"%.200s\"", id, text);
    return NULL;
}

/* ---- devices ------------------------------------------------------------------- */

static struct xs_pvdevs *devs_of(struct xs_sim *sim)
{
    if (!sim->pvdevs) sim->pvdevs = calloc(1, sizeof(*sim->pvdevs));
    return sim->pvdevs;
}

static int cmp_dev(const struct xs_pvdev *a, const struct xs_pvdev *b)
{
    if (a->front->domid != b->front->domid)
        return a->front->domid < b->front->domid ? -1 : 1;
    int c = strcmp(a->kind->devclass, b->kind->devclass);
    if (c) return c;
    return a->id < b->id ? -1 : a->id > b->id;
}

struct xs_pvdev *xs_pvdev_find(struct xs_sim *sim, const struct xs_domain *front,
                               const char *devclass, unsigned id)
{
    if (!sim->pvdevs) return NULL;
    for (struct xs_pvdev *d = sim->pvdevs->head; d; d = d->next)
        if (d->front == front && d->id == id && !strcmp(d->kind->devclass, devclass))
            return d;
    return NULL;
}

struct xs_pvdev *xs_pvdev_add(struct xs_sim *sim, const char *devclass,
                              struct xs_domain *front, unsigned id, const void *cfg,
                              char *err, size_t errlen)
{
    const struct xs_pvdev_kind *kind = xs_pvdev_kind_find(devclass);
    if (!kind) {
        snprintf(err, errlen, "device %s/%u: xensim has no backend for class %s",
                 devclass, id, devclass);
        return NULL;
    }
    if (!sim->xenstore) {
        snprintf(err, errlen, "device %s/%u: the simulation has no xenstore", devclass,
                 id);
        return NULL;
    }
    if (xs_pvdev_find(sim, front, devclass, id)) {
        snprintf(err, errlen, "device %s/%u of %s exists already", devclass, id,
                 front->name);
        return NULL;
    }
    struct xs_pvdevs *all = devs_of(sim);
    struct xs_pvdev *dev = calloc(1, sizeof(*dev));
    if (!all || !dev) {
        free(dev);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    dev->sim = sim;
    dev->kind = kind;
    dev->front = front;
    dev->id = id;
    snprintf(dev->fe_path, sizeof(dev->fe_path), "/local/domain/%u/device/%s/%u",
             front->domid, devclass, id);
    snprintf(dev->be_path, sizeof(dev->be_path), "/local/domain/0/backend/%s/%u/%u",
             devclass, front->domid, id);
    snprintf(dev->who, sizeof(dev->who), "%s: d%u (%s) %s %u", kind->name, front->domid,
             front->name, devclass, id);
    dev->state = XenbusStateInitialising;
    dev->fe_state = XenbusStateInitialising;
    format_cfg(dev, cfg);
    if (xs_xenstore_add_device(sim, devclass, front->domid, 0, id, err, errlen)) {
        free(dev);
        return NULL;
    }
    if (kind->create(dev, cfg, err, errlen)) {
        xs_xenstore_rm(sim->xenstore, dev->fe_path);
        xs_xenstore_rm(sim->xenstore, dev->be_path);
        free(dev);
        return NULL;
    }
    /* Into the service order. */
    struct xs_pvdev **pp = &all->head;
    while (*pp && cmp_dev(*pp, dev) < 0)
        pp = &(*pp)->next;
    dev->next = *pp;
    *pp = dev;
    /* The backend driver probes at once: features, then InitWait. */
    if (publish(dev) == 0) switch_state(dev, XenbusStateInitWait);
    return dev;
}

/* Out of the list, nodes removed (as libxl does once the device closed). */
static void device_remove(struct xs_pvdev *dev)
{
    struct xs_pvdevs *all = dev->sim->pvdevs;
    disconnect(dev, dev->front->end_state == XS_END_RUNNING);
    for (struct xs_pvdev **pp = &all->head; *pp; pp = &(*pp)->next)
        if (*pp == dev) {
            *pp = dev->next;
            break;
        }
    struct xs_xenstore *xs = dev->sim->xenstore;
    if (xs) {
        xs_xenstore_rm(xs, dev->be_path);
        xs_xenstore_rm(xs, dev->fe_path);
    }
    dev->kind->destroy(dev);
    free(dev);
}

void xs_pvdev_unplug(struct xs_pvdev *dev)
{
    if (dev->unplugging) return;
    dev->unplugging = true;
    xs_pvdev_printf(dev, "online", "0");
    if (dev->fe_state == XenbusStateClosed || dev->fe_state == XenbusStateUnknown ||
        dev->fe_state == XenbusStateInitialising ||
        dev->front->end_state != XS_END_RUNNING) {
        /* Nobody to wait for. */
        device_remove(dev);
        return;
    }
    /* The backend's Closing asks the frontend to close; in-flight requests
     * are answered first. */
    disconnect(dev, true);
    switch_state(dev, XenbusStateClosing);
}

int xs_pvdev_at(struct xs_sim *sim, uint64_t at_ns, void (*fn)(struct xs_sim *, void *),
                void *arg)
{
    struct xs_pvdevs *all = devs_of(sim);
    if (!all) return -1;
    if (all->nr_actions == all->cap_actions) {
        unsigned cap = all->cap_actions ? 2 * all->cap_actions : 8;
        struct pvdev_action *a = realloc(all->actions, cap * sizeof(*a));
        if (!a) return -1;
        all->actions = a;
        all->cap_actions = cap;
    }
    unsigned i = all->nr_actions;
    while (i > 0 && all->actions[i - 1].at_ns > at_ns) {
        all->actions[i] = all->actions[i - 1];
        i--;
    }
    all->actions[i] = (struct pvdev_action){at_ns, fn, arg};
    all->nr_actions++;
    return 0;
}

uint64_t xs_pvdev_next_event(const struct xs_sim *sim)
{
    const struct xs_pvdevs *all = sim->pvdevs;
    return all && all->nr_actions ? all->actions[0].at_ns : XS_NO_DEADLINE;
}

static void run_actions(struct xs_sim *sim)
{
    struct xs_pvdevs *all = sim->pvdevs;
    while (all->nr_actions && all->actions[0].at_ns <= sim->vtime_ns) {
        struct pvdev_action a = all->actions[0];
        memmove(all->actions, all->actions + 1,
                (all->nr_actions - 1) * sizeof(*all->actions));
        all->nr_actions--;
        a.fn(sim, a.arg); /* may add devices, or actions */
    }
}

void xs_pvdev_sim_poll(struct xs_sim *sim)
{
    struct xs_pvdevs *all = sim->pvdevs;
    if (!all) return;
    if (all->nr_actions) run_actions(sim);
    if (!all->head || !sim->xenstore) return;
    if (sim->xenstore->generation != all->generation) {
        for (struct xs_pvdev *dev = all->head, *next; dev; dev = next) {
            next = dev->next; /* follow may remove dev */
            if (dev->front->end_state == XS_END_RUNNING) follow(dev);
        }
        /* After our own writes: they need no second look. */
        all->generation = sim->xenstore->generation;
    }
    for (struct xs_pvdev *dev = all->head; dev; dev = dev->next)
        if (dev->connected) dev->kind->service(dev);
}

void xs_pvdev_domain_ended(struct xs_domain *d)
{
    struct xs_pvdevs *all = d->sim->pvdevs;
    if (!all) return;
    for (struct xs_pvdev *dev = all->head, *next; dev; dev = next) {
        next = dev->next;
        if (dev->front != d) continue;
        disconnect(dev, false);
        switch_state(dev, XenbusStateClosed);
        if (dev->unplugging) device_remove(dev);
    }
}

void xs_pvdev_domain_destroyed(struct xs_domain *d)
{
    struct xs_pvdevs *all = d->sim->pvdevs;
    if (!all) return;
    for (struct xs_pvdev *dev = all->head, *next; dev; dev = next) {
        next = dev->next;
        if (dev->front == d) device_remove(dev);
    }
}

void xs_pvdev_teardown_all(struct xs_sim *sim)
{
    if (!sim->pvdevs) return;
    for (struct xs_pvdev *dev = sim->pvdevs->head; dev; dev = dev->next)
        disconnect(dev, false);
}

void xs_pvdev_sim_free(struct xs_sim *sim)
{
    if (!sim->pvdevs) return;
    while (sim->pvdevs->head)
        device_remove(sim->pvdevs->head);
    free(sim->pvdevs->actions);
    free(sim->pvdevs);
    sim->pvdevs = NULL;
}

unsigned xs_pvdev_list(const struct xs_domain *front, const struct xs_pvdev **out,
                       unsigned max)
{
    unsigned n = 0;
    for (struct xs_pvdev *dev = front->sim->pvdevs ? front->sim->pvdevs->head : NULL; dev;
         dev = dev->next)
        if (dev->front == front) {
            if (n < max) out[n] = dev;
            n++;
        }
    return n;
}

/* ---- moving devices to a restored domain (suspend.c) ---------------------------- */

#define SNAP_DEPTH 4 /* queue-N/ring-refM is as deep as device nodes go */

struct snap_node {
    char rel[96]; /* below the device directory */
    char *val;
    size_t len;
};

struct snap {
    struct snap_node *n;
    unsigned nr, cap;
};

static void snap_free(struct snap *t)
{
    for (unsigned i = 0; i < t->nr; i++)
        free(t->n[i].val);
    free(t->n);
    memset(t, 0, sizeof(*t));
}

/* Every node below root (values and empty directories), depth first in
 * the store's child order: deterministic. */
static int snap_take(struct xs_xenstore *xs, const char *root, const char *rel,
                     struct snap *t, unsigned depth)
{
    char path[256], buf[XENSTORE_PAYLOAD_MAX + 1];
    int n = rel[0] ? snprintf(path, sizeof(path), "%s/%s", root, rel)
                   : snprintf(path, sizeof(path), "%s", root);
    if (n < 0 || (size_t)n >= sizeof(path)) return 0; /* too deep to matter */
    size_t len = XENSTORE_PAYLOAD_MAX;
    if (rel[0] && !xs_xenstore_request(xs, XS_READ, 0, path, (size_t)n + 1, buf, &len) &&
        len <= XENSTORE_PAYLOAD_MAX) {
        if (t->nr == t->cap) {
            unsigned cap = t->cap ? 2 * t->cap : 16;
            struct snap_node *m = realloc(t->n, cap * sizeof(*m));
            if (!m) return -1;
            t->n = m;
            t->cap = cap;
        }
        struct snap_node *sn = &t->n[t->nr];
        snprintf(sn->rel, sizeof(sn->rel), "%s", rel);
        sn->val = malloc(len + 1);
        if (!sn->val) return -1;
        memcpy(sn->val, buf, len);
        sn->val[len] = '\0';
        sn->len = len;
        t->nr++;
    }
    if (depth >= SNAP_DEPTH) return 0;
    len = XENSTORE_PAYLOAD_MAX;
    if (xs_xenstore_request(xs, XS_DIRECTORY, 0, path, (size_t)n + 1, buf, &len) ||
        len > XENSTORE_PAYLOAD_MAX)
        return 0;
    for (size_t off = 0; off < len;) {
        const char *child = buf + off;
        size_t cl = strnlen(child, len - off);
        off += cl + 1;
        if (!cl) continue;
        char sub[96];
        int m = rel[0] ? snprintf(sub, sizeof(sub), "%s/%s", rel, child)
                       : snprintf(sub, sizeof(sub), "%s", child);
        if (m < 0 || (size_t)m >= sizeof(sub)) continue;
        if (snap_take(xs, root, sub, t, depth + 1)) return -1;
    }
    return 0;
}

static bool skip_node(const char *rel, const char *const *skip)
{
    for (; *skip; skip++)
        if (!strcmp(rel, *skip)) return true;
    return false;
}

static int snap_write(struct xs_xenstore *xs, const char *root, const struct snap *t,
                      const char *const *skip)
{
    for (unsigned i = 0; i < t->nr; i++) {
        char path[256];
        if (skip_node(t->n[i].rel, skip)) continue;
        int n = snprintf(path, sizeof(path), "%s/%s", root, t->n[i].rel);
        if (n < 0 || (size_t)n >= sizeof(path)) continue;
        int e = xs_xenstore_write(xs, path, t->n[i].val, t->n[i].len);
        if (e) return e;
    }
    return 0;
}

struct parked_dev {
    struct xs_pvdev *dev;
    struct snap fe, be;
};

struct xs_pvdev_parked {
    struct parked_dev *d;
    unsigned nr;
};

void xs_pvdev_parked_free(struct xs_sim *sim, struct xs_pvdev_parked *p)
{
    (void)sim;
    if (!p) return;
    for (unsigned i = 0; i < p->nr; i++) {
        struct xs_pvdev *dev = p->d[i].dev;
        if (dev) {
            dev->kind->destroy(dev);
            free(dev);
        }
        snap_free(&p->d[i].fe);
        snap_free(&p->d[i].be);
    }
    free(p->d);
    free(p);
}

int xs_pvdev_park(struct xs_domain *d, struct xs_pvdev_parked **out, char *err,
                  size_t errlen)
{
    struct xs_sim *sim = d->sim;
    struct xs_pvdevs *all = sim->pvdevs;
    *out = NULL;
    struct xs_pvdev_parked *p = calloc(1, sizeof(*p));
    unsigned n = 0;
    for (struct xs_pvdev *dev = all ? all->head : NULL; dev; dev = dev->next)
        n += dev->front == d;
    if (p && n) p->d = calloc(n, sizeof(*p->d));
    if (!p || (n && !p->d)) {
        free(p);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* Copies first: nothing is moved unless every copy could be taken. */
    unsigned i = 0;
    for (struct xs_pvdev *dev = all ? all->head : NULL; dev; dev = dev->next) {
        if (dev->front != d) continue;
        struct parked_dev *pd = &p->d[i++];
        if (snap_take(sim->xenstore, dev->fe_path, "", &pd->fe, 0) ||
            snap_take(sim->xenstore, dev->be_path, "", &pd->be, 0)) {
            p->nr = i;
            xs_pvdev_parked_free(sim, p);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    p->nr = n;
    i = 0;
    for (struct xs_pvdev **pp = all ? &all->head : NULL; pp && *pp;) {
        struct xs_pvdev *dev = *pp;
        if (dev->front != d) {
            pp = &dev->next;
            continue;
        }
        *pp = dev->next; /* out of the service list */
        dev->next = NULL;
        disconnect(dev, false); /* the domain is not running: nothing answered */
        xs_xenstore_rm(sim->xenstore, dev->be_path);
        xs_xenstore_rm(sim->xenstore, dev->fe_path);
        dev->unplugging = false;
        p->d[i++].dev = dev;
    }
    *out = p;
    return 0;
}

int xs_pvdev_unpark(struct xs_pvdev_parked *p, struct xs_domain *d, char *err,
                    size_t errlen)
{
    static const char *const fe_skip[] = {"state", "backend", "backend-id", NULL};
    static const char *const be_skip[] = {"state", "frontend", "frontend-id", "online",
                                          NULL};
    struct xs_sim *sim = d->sim;
    struct xs_pvdevs *all = devs_of(sim);
    if (!all) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (unsigned i = 0; i < p->nr; i++) {
        struct xs_pvdev *dev = p->d[i].dev;
        if (!dev) continue;
        const char *devclass = dev->kind->devclass;
        dev->front = d;
        snprintf(dev->fe_path, sizeof(dev->fe_path), "/local/domain/%u/device/%s/%u",
                 d->domid, devclass, dev->id);
        snprintf(dev->be_path, sizeof(dev->be_path), "/local/domain/0/backend/%s/%u/%u",
                 devclass, d->domid, dev->id);
        snprintf(dev->who, sizeof(dev->who), "%s: d%u (%s) %s %u", dev->kind->name,
                 d->domid, d->name, devclass, dev->id);
        dev->state = XenbusStateInitialising;
        dev->fe_state = XenbusStateInitialising;
        dev->connected = false;
        if (xs_xenstore_add_device(sim, devclass, d->domid, 0, dev->id, err, errlen))
            return -1;
        int e = snap_write(sim->xenstore, dev->fe_path, &p->d[i].fe, fe_skip);
        if (!e) e = snap_write(sim->xenstore, dev->be_path, &p->d[i].be, be_skip);
        if (e) {
            snprintf(err, errlen, "%s: cannot write its nodes again (errno %d)", dev->who,
                     e);
            return -1;
        }
        p->d[i].dev = NULL; /* the simulation's again */
        struct xs_pvdev **pp = &all->head;
        while (*pp && cmp_dev(*pp, dev) < 0)
            pp = &(*pp)->next;
        dev->next = *pp;
        *pp = dev;
        if (publish(dev) == 0) switch_state(dev, XenbusStateInitWait);
    }
    return 0;
}
