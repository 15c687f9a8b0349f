/* xenstored connections: the input state machine, the output queue and
 * the transports (Unix socket, a domain's shared ring, memory), plus the
 * life cycle of domains as xenstored sees them.  Follows Xen 4.17's
 * handle_input/write_messages (xenstored_core.c) and the ring and domain
 * code of xenstored_domain.c. */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "errmsg.h"
#include "xenstore_int.h"

#define MAX_MSGS_PER_SERVICE 64           /* requests taken from one client per pass */
#define MEM_OUT_WINDOW       (64u * 1024) /* a memory client's unread bytes */

/* ---- the store ------------------------------------------------------------- */

static int initial_node(struct xs_xenstore *xs, const char *name, const char *children,
                        const char *data)
{
    struct xs_permissions perm = {.id = 0, .perms = XS_PERM_NONE};
    struct xst_node n = {.name = name, .perms = {1, &perm}};
    n.children = (char *)children;
    n.childlen = children ? (unsigned)strlen(children) + 1 : 0;
    n.data = (char *)data;
    n.datalen = data ? (unsigned)strlen(data) : 0;
    n.acc.memory = -1;
    n.generation = ++xs->generation;
    return xst_db_store(xs, &xs->internal, &xs->db, name, &n, NULL, false);
}

struct xs_xenstore *xs_xenstore_new(FILE *log)
{
    struct xs_xenstore *xs = calloc(1, sizeof(*xs));
    if (!xs) return NULL;
    xs->log = log;
    xs->listen_fd = -1;
    xs->quota_nb_entry_per_domain = 1000;
    xs->quota_nb_watch_per_domain = 128;
    xs->quota_max_entry_size = 2048;
    xs->quota_max_transaction = 10;
    xs->quota_nb_perms_per_node = 5;
    xs->quota_trans_nodes = 1024;
    xs->quota_max_path_len = XENSTORE_REL_PATH_MAX;
    xs->quota_req_outstanding = 20;
    xs->quota_memory_per_domain_soft = 2 * 1024 * 1024;
    xs->quota_memory_per_domain_hard = 2 * 1024 * 1024 + 512 * 1024;
    xs->internal.xs = xs;
    xs->internal.fd = -1;
    xs->internal.pollfd_idx = -1;
    static const struct xs_permissions none = {.id = 0, .perms = XS_PERM_NONE};
    xs->release_perms.p = malloc(sizeof(none));
    xs->introduce_perms.p = malloc(sizeof(none));
    /* Dom0 is introduced before the store is set up (Xen's dom0_init). */
    struct xst_domain *dom0 = xst_alloc_domain(xs, 0);
    if (!xs->release_perms.p || !xs->introduce_perms.p || !dom0) goto fail;
    xs->release_perms.p[0] = xs->introduce_perms.p[0] = none;
    xs->release_perms.num = xs->introduce_perms.num = 1;
    dom0->introduced = true;
    if (initial_node(xs, "/", "tool", NULL) ||
        initial_node(xs, "/tool", "xenstored", NULL) ||
        initial_node(xs, "/tool/xenstored", NULL, NULL))
        goto fail;
    xst_domain_entry_fix(xs, 0, 3, true);
    /* What xen-init-dom0 writes on a Xen host. */
    static const char *const dom0_nodes[][2] = {
        {"/local/domain/0/domid", "0"},
        {"/local/domain/0/name", "Domain-0"},
        {"/local/pool/0/name", "Pool-0"},
    };
    for (size_t i = 0; i < sizeof(dom0_nodes) / sizeof(dom0_nodes[0]); i++)
        if (xs_xenstore_write(xs, dom0_nodes[i][0], dom0_nodes[i][1],
                              strlen(dom0_nodes[i][1])))
            goto fail;
    return xs;
fail:
    xs_xenstore_free(xs);
    return NULL;
}

static void conn_free(struct xst_conn *c);

void xs_xenstore_free(struct xs_xenstore *xs)
{
    if (!xs) return;
    for (struct xst_conn *c = xs->conn_head; c; c = c->next)
        xst_conn_destroy(c);
    while (xs->conn_head)
        conn_free(xs->conn_head);
    while (xs->domains) {
        struct xst_domain *d = xs->domains;
        xs->domains = d->next;
        free(d);
    }
    xst_map_drain(&xs->db, xst_rec_hent_free);
    free(xs->release_perms.p);
    free(xs->introduce_perms.p);
    if (xs->listen_fd >= 0) {
        close(xs->listen_fd);
        if (xs->socket_path) unlink(xs->socket_path);
    }
    free(xs->socket_path);
    free(xs->pfds);
    free(xs);
}

void xs_xenstore_set_domain_exists(struct xs_xenstore *xs, unsigned domid, bool exists)
{
    if (domid == 0 || domid >= DOMID_FIRST_RESERVED) return;
    if (exists)
        xs->hv_domains[domid / 8] |= (uint8_t)(1u << (domid % 8));
    else
        xs->hv_domains[domid / 8] &= (uint8_t) ~(1u << (domid % 8));
}

/* ---- connections and output ------------------------------------------------- */

struct xst_conn *xst_conn_new(struct xs_xenstore *xs, const struct xst_transport *tp)
{
    struct xst_conn *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    c->xs = xs;
    c->tp = tp;
    c->fd = -1;
    c->pollfd_idx = -1;
    c->prev = xs->conn_tail;
    if (xs->conn_tail)
        xs->conn_tail->next = c;
    else
        xs->conn_head = c;
    xs->conn_tail = c;
    return c;
}

struct xst_out *xst_queue(struct xst_conn *c, const struct xsd_sockmsg *hdr,
                          const void *payload, bool is_event, struct xst_req *req)
{
    if (c->dead || c->ignored) return NULL;
    struct xst_out *o = malloc(sizeof(*o) + hdr->len);
    if (!o) return NULL;
    o->next = NULL;
    o->hdr = *hdr;
    o->used = 0;
    o->is_event = is_event;
    o->req = req;
    if (req) req->refs++;
    if (hdr->len) memcpy(o->payload, payload, hdr->len);
    if (c->out_tail)
        c->out_tail->next = o;
    else
        c->out_head = o;
    c->out_tail = o;
    c->out_bytes += sizeof(*hdr) + hdr->len;
    /* Acted on between requests: the connection may be mid-way through a
     * watch list now. */
    if (!c->domain && c->out_bytes > XST_OUT_CAP) c->overflow = c->xs->need_sweep = true;
    return o;
}

void xst_req_put(struct xs_xenstore *xs, struct xst_req *r)
{
    if (!r || --r->refs) return;
    if (r->counted) {
        struct xst_domain *d = xst_find_domain(xs, r->domid);
        if (d && d->nboutstanding > 0) d->nboutstanding--;
    }
    free(r);
}

static void out_free(struct xst_conn *c, struct xst_out *o)
{
    c->out_bytes -= sizeof(o->hdr) + o->hdr.len;
    xst_domain_memory_add_nochk(c->xs, c->id, -(long)(sizeof(o->hdr) + o->hdr.len));
    xst_req_put(c->xs, o->req);
    free(o);
}

void xst_conn_free_output(struct xst_conn *c)
{
    while (c->out_head) {
        struct xst_out *o = c->out_head;
        c->out_head = o->next;
        out_free(c, o);
    }
    c->out_tail = NULL;
}

static void free_input(struct xst_conn *c)
{
    free(c->in_buf);
    c->in_buf = NULL;
    c->in_used = 0;
    c->in_hdr_done = false;
}

/* Xen's ignore_connection: a broken client gets nothing more; a socket is
 * closed, a domain keeps its (silent) connection until it goes away, with
 * the reason in the ring's error field. */
void xst_conn_ignore(struct xst_conn *c, unsigned err)
{
    if (c->ignored) return;
    if (c->intf) __atomic_store_n(&c->intf->error, err, __ATOMIC_SEQ_CST);
    c->ignored = true;
    xst_conn_delete_all_watches(c);
    xst_conn_delete_all_transactions(c);
    xst_conn_free_output(c);
    free_input(c);
    if (c->fd >= 0) xst_conn_destroy(c);
}

void xst_conn_destroy(struct xst_conn *c)
{
    if (c->dead) return;
    c->dead = true;
    c->xs->need_sweep = true;
    xst_conn_delete_all_watches(c);
    xst_conn_delete_all_transactions(c);
    xst_conn_free_output(c);
    free_input(c);
    if (c->tp->destroy) c->tp->destroy(c);
    if (c->domain && c->domain->conn == c) c->domain->conn = NULL;
    c->domain = NULL;
}

static void conn_free(struct xst_conn *c)
{
    struct xs_xenstore *xs = c->xs;
    if (c->prev)
        c->prev->next = c->next;
    else
        xs->conn_head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        xs->conn_tail = c->prev;
    free(c->mem_in);
    free(c->mem_out);
    free(c);
}

void xst_sweep(struct xs_xenstore *xs)
{
    if (!xs->need_sweep) return;
    xs->need_sweep = false;
    for (struct xst_conn *c = xs->conn_head, *next; c; c = next) {
        next = c->next;
        if (c->overflow && !c->dead && !c->ignored) {
            xst_log(xs,
                    "connection %u: client left %zu bytes of output unread, closing it",
                    c->id, c->out_bytes);
            xst_conn_ignore(c, XENSTORE_ERROR_COMM);
        }
        if (c->dead && !c->owned) conn_free(c);
    }
}

/* Xen's domain_can_read for the unprivileged, and backpressure on the
 * privileged clients that stop reading. */
static bool conn_can_read(struct xst_conn *c)
{
    if (c->ignored || c->dead) return false;
    struct xs_xenstore *xs = c->xs;
    if (xst_domain_is_unprivileged(c)) {
        if (c->domain->nboutstanding >= xs->quota_req_outstanding) return false;
        if (xs->quota_memory_per_domain_hard &&
            c->domain->memory >= xs->quota_memory_per_domain_hard)
            return false;
    } else if (!c->domain && c->out_bytes >= XST_OUT_BACKPRESSURE) {
        return false;
    }
    return c->tp->can_read(c);
}

/* One step of Xen's handle_input: returns true if anything moved. */
static bool handle_input(struct xst_conn *c)
{
    int n;
    if (!c->in_hdr_done) {
        n = c->tp->read(c, (char *)&c->in_hdr + c->in_used,
                        (unsigned)sizeof(c->in_hdr) - c->in_used);
        if (n < 0) {
            xst_conn_ignore(c, XENSTORE_ERROR_RINGIDX);
            return false;
        }
        c->in_used += (unsigned)n;
        if (c->in_used < sizeof(c->in_hdr)) return n > 0;
        if (c->in_hdr.len > XENSTORE_PAYLOAD_MAX) {
            xst_log(c->xs,
                    "connection %u: client tried to feed us %u bytes (more than %u): "
                    "dropping it",
                    c->id, c->in_hdr.len, XENSTORE_PAYLOAD_MAX);
            xst_conn_ignore(c, XENSTORE_ERROR_PROTO);
            return false;
        }
        c->in_buf = malloc(c->in_hdr.len + 1);
        if (!c->in_buf) return false; /* as Xen: try again later */
        c->in_used = 0;
        c->in_hdr_done = true;
    }
    n = 0;
    if (c->in_used < c->in_hdr.len) {
        n = c->tp->read(c, c->in_buf + c->in_used, c->in_hdr.len - c->in_used);
        if (n < 0) {
            xst_conn_ignore(c, XENSTORE_ERROR_RINGIDX);
            return false;
        }
        c->in_used += (unsigned)n;
        if (c->in_used < c->in_hdr.len) return n > 0;
    }
    c->in_buf[c->in_hdr.len] = '\0';
    struct xsd_sockmsg hdr = c->in_hdr;
    char *buf = c->in_buf;
    c->in_buf = NULL;
    c->in_used = 0;
    c->in_hdr_done = false;
    xst_process_message(c, &hdr, buf);
    free(buf);
    return true;
}

/* Xen's write_messages, for as long as the transport takes bytes. */
static void handle_output(struct xst_conn *c)
{
    while (c->out_head && !c->dead && !c->ignored) {
        struct xst_out *o = c->out_head;
        unsigned total = (unsigned)sizeof(o->hdr) + o->hdr.len;
        int n;
        if (o->used < sizeof(o->hdr))
            n = c->tp->write(c, (const char *)&o->hdr + o->used,
                             (unsigned)sizeof(o->hdr) - o->used);
        else
            n = c->tp->write(c, o->payload + (o->used - sizeof(o->hdr)), total - o->used);
        if (n < 0) {
            xst_conn_ignore(c, XENSTORE_ERROR_RINGIDX);
            return;
        }
        if (n == 0) return;
        o->used += (unsigned)n;
        if (o->used < total) continue;
        xst_trace_out(c, o);
        c->out_head = o->next;
        if (!c->out_head) c->out_tail = NULL;
        out_free(c, o);
    }
}

void xst_conn_service(struct xst_conn *c, unsigned max)
{
    handle_output(c); /* room made here may let more requests in */
    for (unsigned i = 0; i < max && conn_can_read(c); i++) {
        if (!handle_input(c)) break;
        handle_output(c); /* a reply can go out while more requests wait */
    }
    handle_output(c);
    if (c->ring_moved && c->notify && !c->dead) {
        c->ring_moved = false;
        c->notify(c->notify_arg, c->domain ? c->domain->port : 0);
    }
}

static bool ring_can_read(struct xst_conn *c);

/* Cheap enough for every iteration of the run loop: two index words per
 * ring when nothing is pending. */
static bool has_work(struct xst_conn *c)
{
    if (c->dead || c->fd >= 0) return false;
    if (c->out_head) return true;
    if (c->ignored) return false;
    return c->intf ? ring_can_read(c) : c->mem_in_off < c->mem_in_len;
}

void xs_xenstore_service(struct xs_xenstore *xs)
{
    for (struct xst_conn *c = xs->conn_head; c; c = c->next)
        if (has_work(c)) xst_conn_service(c, MAX_MSGS_PER_SERVICE);
    xst_sweep(xs);
}

/* ---- the ring transport -------------------------------------------------------- */

static XENSTORE_RING_IDX load_idx(const XENSTORE_RING_IDX *p)
{
    return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

static void broken_ring(struct xst_conn *c, const char *which, XENSTORE_RING_IDX cons,
                        XENSTORE_RING_IDX prod)
{
    xst_log(
        c->xs,
        "domain %u: broken xenstore ring: %s producer %u is %u bytes ahead of consumer "
        "%u (at most %u); the domain's connection is ignored",
        c->id, which, prod, prod - cons, cons, XENSTORE_RING_SIZE);
}

/* Indexes are read once and checked: the guest may write anything there. */
static int ring_read(struct xst_conn *c, void *buf, unsigned len)
{
    struct xenstore_domain_interface *intf = c->intf;
    XENSTORE_RING_IDX cons = load_idx(&intf->req_cons), prod = load_idx(&intf->req_prod);
    if (prod - cons > XENSTORE_RING_SIZE) {
        broken_ring(c, "request", cons, prod);
        return -1;
    }
    unsigned avail = XENSTORE_RING_SIZE - MASK_XENSTORE_IDX(cons);
    if (prod - cons < avail) avail = prod - cons;
    if (len > avail) len = avail;
    memcpy(buf, intf->req + MASK_XENSTORE_IDX(cons), len);
    __atomic_store_n(&intf->req_cons, cons + len, __ATOMIC_SEQ_CST);
    if (len) c->ring_moved = true;
    return (int)len;
}

static int ring_write(struct xst_conn *c, const void *buf, unsigned len)
{
    struct xenstore_domain_interface *intf = c->intf;
    XENSTORE_RING_IDX cons = load_idx(&intf->rsp_cons), prod = load_idx(&intf->rsp_prod);
    if (prod - cons > XENSTORE_RING_SIZE) {
        broken_ring(c, "response", cons, prod);
        return -1;
    }
    unsigned avail = XENSTORE_RING_SIZE - MASK_XENSTORE_IDX(prod);
    if (XENSTORE_RING_SIZE - (prod - cons) < avail)
        avail = XENSTORE_RING_SIZE - (prod - cons);
    if (len > avail) len = avail;
    memcpy(intf->rsp + MASK_XENSTORE_IDX(prod), buf, len);
    __atomic_store_n(&intf->rsp_prod, prod + len, __ATOMIC_SEQ_CST);
    if (len) c->ring_moved = true;
    return (int)len;
}

static bool ring_can_read(struct xst_conn *c)
{
    return load_idx(&c->intf->req_cons) != load_idx(&c->intf->req_prod);
}

static bool ring_can_write(struct xst_conn *c)
{
    return load_idx(&c->intf->rsp_prod) - load_idx(&c->intf->rsp_cons) !=
           XENSTORE_RING_SIZE;
}

static void ring_destroy(struct xst_conn *c)
{
    c->intf = NULL;
    c->notify = NULL;
}

static const struct xst_transport ring_transport = {
    ring_read, ring_write, ring_can_read, ring_can_write, ring_destroy,
};

/* ---- the memory transport --------------------------------------------------------- */

static int mem_read(struct xst_conn *c, void *buf, unsigned len)
{
    size_t avail = c->mem_in_len - c->mem_in_off;
    if (len > avail) len = (unsigned)avail;
    if (!len) return 0;
    memcpy(buf, c->mem_in + c->mem_in_off, len);
    c->mem_in_off += len;
    return (int)len;
}

static int mem_write(struct xst_conn *c, const void *buf, unsigned len)
{
    size_t room = MEM_OUT_WINDOW - c->mem_out_len;
    if (len > room) len = (unsigned)room;
    if (!len) return 0;
    if (c->mem_out_len + len > c->mem_out_cap) {
        unsigned char *n = realloc(c->mem_out, MEM_OUT_WINDOW);
        if (!n) return 0;
        c->mem_out = n;
        c->mem_out_cap = MEM_OUT_WINDOW;
    }
    memcpy(c->mem_out + c->mem_out_len, buf, len);
    c->mem_out_len += len;
    return (int)len;
}

static bool mem_can_read(struct xst_conn *c)
{
    return c->mem_in_off < c->mem_in_len;
}

static bool mem_can_write(struct xst_conn *c)
{
    return c->mem_out_len < MEM_OUT_WINDOW;
}

static const struct xst_transport mem_transport = {
    mem_read, mem_write, mem_can_read, mem_can_write, NULL,
};

int xs_xenstore_conn_send(struct xst_conn *c, const void *buf, size_t len)
{
    if (c->mem_in_off == c->mem_in_len) c->mem_in_off = c->mem_in_len = 0;
    if (c->mem_in_len + len > c->mem_in_cap) {
        size_t cap = c->mem_in_cap ? c->mem_in_cap : 4096;
        while (cap < c->mem_in_len + len)
            cap *= 2;
        unsigned char *n = realloc(c->mem_in, cap);
        if (!n) return -1;
        c->mem_in = n;
        c->mem_in_cap = cap;
    }
    if (len) memcpy(c->mem_in + c->mem_in_len, buf, len);
    c->mem_in_len += len;
    return 0;
}

size_t xs_xenstore_conn_recv(struct xst_conn *c, void *buf, size_t cap)
{
    size_t n = c->mem_out_len < cap ? c->mem_out_len : cap;
    if (!n) return 0;
    memcpy(buf, c->mem_out, n);
    memmove(c->mem_out, c->mem_out + n, c->mem_out_len - n);
    c->mem_out_len -= n;
    return n;
}

bool xs_xenstore_conn_alive(const struct xst_conn *c)
{
    return !c->ignored && !c->dead;
}

void xs_xenstore_conn_close(struct xst_conn *c)
{
    struct xs_xenstore *xs = c->xs;
    if (c->domain && c->domain->conn == c)
        xst_release_domain(xs, c->domain);
    else
        xst_conn_destroy(c);
    c->owned = false;
    xst_sweep(xs);
}

/* ---- domains ------------------------------------------------------------------------
 */

/* Xen's domain_conn_reset: a (re)introduced domain starts from scratch. */
static void conn_reset(struct xst_conn *c)
{
    xst_conn_delete_all_watches(c);
    xst_conn_delete_all_transactions(c);
    xst_conn_free_output(c);
    free_input(c);
    if (c->intf) {
        struct xenstore_domain_interface *intf = c->intf;
        __atomic_store_n(&intf->req_cons, 0, __ATOMIC_SEQ_CST);
        __atomic_store_n(&intf->req_prod, 0, __ATOMIC_SEQ_CST);
        __atomic_store_n(&intf->rsp_cons, 0, __ATOMIC_SEQ_CST);
        __atomic_store_n(&intf->rsp_prod, 0, __ATOMIC_SEQ_CST);
    }
}

static struct xst_domain *introduce(struct xs_xenstore *xs, unsigned domid,
                                    evtchn_port_t port, const struct xst_transport *tp,
                                    struct xenstore_domain_interface *intf,
                                    void (*notify)(void *, evtchn_port_t), void *arg,
                                    int *err)
{
    struct xst_domain *d = xst_find_domain(xs, domid);
    bool fresh = !d;
    if (!d && !(d = xst_alloc_domain(xs, domid))) {
        *err = ENOMEM;
        return NULL;
    }
    if (!d->introduced) {
        struct xst_conn *c = xst_conn_new(xs, tp);
        if (!c) {
            if (fresh) xst_release_domain(xs, d);
            *err = ENOMEM;
            return NULL;
        }
        d->port = port;
        d->shutdown = false;
        d->introduced = true;
        d->conn = c;
        c->domain = d;
        c->id = domid;
        c->intf = intf;
        c->notify = notify;
        c->notify_arg = arg;
        if (domid != 0) xst_fire_special(xs, "@introduceDomain");
    } else if (d->conn) {
        /* Introduced again: a new event channel (and ring) for it. */
        d->port = port;
        if (intf) {
            d->conn->intf = intf;
            d->conn->notify = notify;
            d->conn->notify_arg = arg;
        }
    }
    if (d->conn) {
        conn_reset(d->conn);
        struct xenstore_domain_interface *i = d->conn->intf;
        if (i &&
            __atomic_load_n(&i->connection, __ATOMIC_SEQ_CST) == XENSTORE_RECONNECT) {
            __atomic_store_n(&i->connection, XENSTORE_CONNECTED, __ATOMIC_SEQ_CST);
            if (d->conn->notify) d->conn->notify(d->conn->notify_arg, d->port);
        }
    }
    return d;
}

struct xst_domain *xst_introduce_domain(struct xs_xenstore *xs, unsigned domid,
                                        evtchn_port_t port, int *err)
{
    struct xst_domain *d = xst_find_domain(xs, domid);
    struct xenstore_domain_interface *intf = NULL;
    void (*notify)(void *, evtchn_port_t) = NULL;
    void *arg = NULL;
    /* A domain without a mapped ring cannot be introduced (Xen: the grant
     * mapping fails). */
    if ((!d || !d->introduced) &&
        (!xs->map_ring || xs->map_ring(xs, domid, &intf, &notify, &arg))) {
        *err = EINVAL;
        return NULL;
    }
    return introduce(xs, domid, port, &ring_transport, intf, notify, arg, err);
}

struct xst_conn *xst_ring_conn(struct xs_xenstore *xs, unsigned domid,
                               struct xenstore_domain_interface *intf, evtchn_port_t port,
                               void (*notify)(void *arg, evtchn_port_t port), void *arg,
                               bool owned)
{
    int err;
    if (domid == 0 || domid >= DOMID_FIRST_RESERVED) return NULL;
    xs_xenstore_set_domain_exists(xs, domid, true);
    struct xst_domain *d =
        introduce(xs, domid, port, &ring_transport, intf, notify, arg, &err);
    if (!d || !d->conn) return NULL;
    d->conn->owned |= owned;
    return d->conn;
}

struct xst_conn *xs_xenstore_ring_conn(struct xs_xenstore *xs, unsigned domid,
                                       struct xenstore_domain_interface *intf,
                                       evtchn_port_t port,
                                       void (*notify)(void *arg, evtchn_port_t port),
                                       void *arg)
{
    return xst_ring_conn(xs, domid, intf, port, notify, arg, true);
}

struct xst_conn *xs_xenstore_mem_conn(struct xs_xenstore *xs, unsigned domid)
{
    if (domid == 0) {
        struct xst_conn *c = xst_conn_new(xs, &mem_transport);
        if (c) c->owned = true;
        return c;
    }
    if (domid >= DOMID_FIRST_RESERVED) return NULL;
    struct xst_domain *d = xst_find_domain(xs, domid);
    if (d && d->introduced) return NULL;
    xs_xenstore_set_domain_exists(xs, domid, true);
    int err;
    d = introduce(xs, domid, 0, &mem_transport, NULL, NULL, NULL, &err);
    if (!d || !d->conn) return NULL;
    d->conn->owned = true;
    return d->conn;
}

static int tree_remove_sub(struct xst_ctx *ctx, struct xst_conn *c, struct xst_node *node,
                           void *arg)
{
    struct xst_domain *d = arg;
    if (node->perms.p[0].id != d->domid) return XST_WALK_OK;
    if (xst_rm_node(c, ctx, node->name))
        xst_corrupt(c->xs, "error when deleting orphaned node %s", node->name);
    return d->nbentry > 0 ? XST_WALK_SKIP_CHILDREN : XST_WALK_SUCCESS_STOP;
}

/* Special watch permissions for a gone domain go too. */
static void remove_domid_from_perm(struct xst_perms *perms, unsigned domid)
{
    if (perms->p[0].id == domid) perms->p[0].id = 0;
    unsigned n = 1;
    for (unsigned i = 1; i < perms->num; i++)
        if (perms->p[i].id != domid) perms->p[n++] = perms->p[i];
    perms->num = n;
}

void xst_release_domain(struct xs_xenstore *xs, struct xst_domain *d)
{
    if (d->conn) {
        struct xst_conn *c = d->conn;
        d->conn = NULL;
        c->domain = NULL;
        xst_conn_destroy(c);
    }
    if (d->nbentry > 0) {
        struct xst_ctx ctx = {0};
        const struct xst_walk_funcs f = {.enter = tree_remove_sub};
        if (xst_walk_node_tree(&ctx, &xs->internal, "/", &f, d) == XST_WALK_ERROR_STOP)
            xst_corrupt(xs, "error when looking for orphaned nodes");
        xst_ctx_free(&ctx);
    }
    remove_domid_from_perm(&xs->release_perms, d->domid);
    remove_domid_from_perm(&xs->introduce_perms, d->domid);
    for (struct xst_domain **p = &xs->domains; *p; p = &(*p)->next)
        if (*p == d) {
            *p = d->next;
            break;
        }
    bool introduced = d->introduced;
    free(d);
    if (introduced) xst_fire_special(xs, "@releaseDomain");
}

/* ---- the Unix socket -----------------------------------------------------------------
 */

static int sock_read(struct xst_conn *c, void *buf, unsigned len)
{
    if (!len) return 0;
    for (;;) {
        ssize_t n = recv(c->fd, buf, len, MSG_DONTWAIT);
        if (n > 0) return (int)n;
        if (n == 0) return -1; /* the client hung up */
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        if (errno != EINTR) return -1;
    }
}

static int sock_write(struct xst_conn *c, const void *buf, unsigned len)
{
    for (;;) {
        ssize_t n = send(c->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n >= 0) return (int)n;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        if (errno != EINTR) return -1;
    }
}

static bool sock_can_read(struct xst_conn *c)
{
    (void)c;
    return true; /* polled: a read that finds nothing returns 0 */
}

static bool sock_can_write(struct xst_conn *c)
{
    (void)c;
    return true;
}

static void sock_destroy(struct xst_conn *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
}

static const struct xst_transport sock_transport = {
    sock_read, sock_write, sock_can_read, sock_can_write, sock_destroy,
};

int xs_xenstore_listen(struct xs_xenstore *xs, const char *path, char *err, size_t errlen)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (xs->listen_fd >= 0) return xs_errf(err, errlen, path, "already listening");
    if (strlen(path) >= sizeof(addr.sun_path))
        return xs_errf(err, errlen, path, "socket path longer than %zu bytes",
                       sizeof(addr.sun_path) - 1);
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return xs_errf(err, errlen, path, "socket: %s", strerror(errno));
    unlink(path); /* as Xen: a stale socket from an earlier run goes */
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) || chmod(path, 0600) ||
        listen(fd, 16)) {
        int e = errno;
        close(fd);
        return xs_errf(err, errlen, path, "cannot listen: %s", strerror(e));
    }
    xs->socket_path = strdup(path);
    if (!xs->socket_path) {
        close(fd);
        unlink(path);
        return xs_errf(err, errlen, path, "out of memory");
    }
    xs->listen_fd = fd;
    return 0;
}

bool xs_xenstore_listening(const struct xs_xenstore *xs)
{
    return xs->listen_fd >= 0;
}

static void accept_clients(struct xs_xenstore *xs)
{
    for (;;) {
        int fd = accept4(xs->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        struct xst_conn *c = xst_conn_new(xs, &sock_transport);
        if (!c) {
            close(fd);
            return;
        }
        c->fd = fd;
    }
}

int xs_xenstore_poll(struct xs_xenstore *xs, int timeout_ms, int extra_fd)
{
    size_t n = 0, want = 2;
    for (struct xst_conn *c = xs->conn_head; c; c = c->next)
        want++;
    if (want > xs->pfd_cap) {
        struct pollfd *p = realloc(xs->pfds, want * 2 * sizeof(*p));
        if (!p) return 0;
        xs->pfds = p;
        xs->pfd_cap = want * 2;
    }
    struct pollfd *pfds = xs->pfds;
    int listen_idx = -1, extra_idx = -1;
    if (xs->listen_fd >= 0) {
        listen_idx = (int)n;
        pfds[n++] = (struct pollfd){.fd = xs->listen_fd, .events = POLLIN};
    }
    if (extra_fd >= 0) {
        extra_idx = (int)n;
        pfds[n++] = (struct pollfd){.fd = extra_fd, .events = POLLIN};
    }
    for (struct xst_conn *c = xs->conn_head; c; c = c->next) {
        c->pollfd_idx = -1;
        if (c->fd < 0 || c->dead) continue;
        short ev = conn_can_read(c) ? POLLIN : 0;
        if (c->out_head) ev |= POLLOUT;
        c->pollfd_idx = (int)n;
        pfds[n++] = (struct pollfd){.fd = c->fd, .events = ev};
    }
    if (poll(pfds, n, timeout_ms) < 0) return 0; /* EINTR: nothing happened */
    /* A hung-up fd is readable too: read() says end of file. */
    int ret = extra_idx >= 0 && (pfds[extra_idx].revents & (POLLIN | POLLHUP | POLLERR));
    for (struct xst_conn *c = xs->conn_head; c; c = c->next) {
        if (c->pollfd_idx < 0 || c->fd < 0 || c->dead) continue;
        short rev = pfds[c->pollfd_idx].revents;
        if (rev & ~(POLLIN | POLLOUT)) { /* as Xen: hung up or broken */
            xst_conn_destroy(c);
            continue;
        }
        if (rev & POLLIN)
            xst_conn_service(c, MAX_MSGS_PER_SERVICE);
        else if (c->out_head)
            xst_conn_service(c, 0);
    }
    if (listen_idx >= 0 && (pfds[listen_idx].revents & POLLIN)) accept_clients(xs);
    /* Requests may have queued output for other sockets. */
    for (struct xst_conn *c = xs->conn_head; c; c = c->next)
        if (c->fd >= 0 && !c->dead && c->out_head) xst_conn_service(c, 0);
    xst_sweep(xs);
    return ret;
}
