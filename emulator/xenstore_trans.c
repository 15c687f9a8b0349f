/* xenstored transactions and watches, as Xen 4.17's
 * xenstored_transaction.c and xenstored_watch.c.
 *
 * Conflicts are found by generation count: every write gives the node the
 * store's next generation; a transaction remembers the generation of each
 * node it read (NO_GENERATION for a node it found missing) and its commit
 * fails with EAGAIN if any of them changed.  Nodes the transaction touched
 * live in its own map until the commit copies them to the store; watch
 * events of the transaction fire at commit. */
#include <stdlib.h>
#include <string.h>

#include "xenstore_int.h"

struct xst_acc {
    struct xst_hent h; /* key = node path */
    struct xst_acc *next;
    uint64_t generation;    /* at the first read, for the conflict check */
    struct xst_perms perms; /* before the transaction changed them */
    bool check_gen, modified, ta_node, fire_watch, watch_exact;
};

struct xst_dchange {
    struct xst_dchange *next;
    unsigned domid;
    int nbentry;
};

struct xst_trans {
    struct xst_trans *next;
    struct xst_conn *conn;
    uint32_t id;
    unsigned nodes;
    uint64_t generation;
    struct xst_acc *acc_head, *acc_tail;
    struct xst_map acc_map;
    struct xst_map db; /* the transaction's copies of nodes */
    struct xst_dchange *changed;
    bool node_created, fail;
};

/* ---- accessed nodes ------------------------------------------------------ */

static struct xst_acc *find_accessed(struct xst_trans *t, const char *name)
{
    return (struct xst_acc *)xst_map_get(&t->acc_map, name);
}

struct xst_map *xst_transaction_map(struct xst_conn *c, const char *name)
{
    if (c->transaction && find_accessed(c->transaction, name)) return &c->transaction->db;
    return &c->xs->db;
}

static void acc_free(struct xst_acc *i)
{
    free(i->h.key);
    free(i->perms.p);
    free(i);
}

static void acc_hent_free(struct xst_hent *e)
{
    acc_free((struct xst_acc *)e);
}

/* Xen's access_node.  Modifying accesses take the next generation.  In a
 * transaction the first access of a node is recorded; a read also copies the
 * node into the transaction, so later reads there see that copy.  map (if
 * wanted) is where the caller should store or delete the node.  Returns -1
 * for a delete of a node the transaction never saw (nothing to delete). */
int xst_access_node(struct xst_conn *c, struct xst_node *node, enum xst_access type,
                    struct xst_map **map)
{
    struct xs_xenstore *xs = c->xs;
    if (type != XST_ACCESS_READ) node->generation = ++xs->generation;
    struct xst_trans *t = c->transaction;
    if (!t) {
        if (map) *map = &xs->db;
        return 0;
    }
    struct xst_acc *i = find_accessed(t, node->name);
    bool introduce = false;
    if (!i) {
        int ret = ENOMEM;
        if (t->nodes >= (unsigned)xs->quota_trans_nodes &&
            xst_domain_is_unprivileged(c)) {
            ret = ENOSPC;
            goto err;
        }
        i = calloc(1, sizeof(*i));
        if (!i || !(i->h.key = strdup(node->name))) goto err;
        if (node->generation != XST_NO_GENERATION && node->perms.num) {
            i->perms.p = malloc(node->perms.num * sizeof(*i->perms.p));
            if (!i->perms.p) goto err;
            memcpy(i->perms.p, node->perms.p, node->perms.num * sizeof(*i->perms.p));
            i->perms.num = node->perms.num;
        }
        introduce = true;
        node->acc.memory = -1; /* its copy in the transaction is not accounted yet */
        if (type == XST_ACCESS_READ) {
            i->generation = node->generation;
            i->check_gen = true;
            if (node->generation != XST_NO_GENERATION) {
                ret = xst_db_store(xs, c, &t->db, node->name, node, &node->acc, true);
                if (ret) goto err;
                i->ta_node = true;
            }
        }
        if (xst_map_put(&t->acc_map, &i->h)) {
            if (i->ta_node) xst_db_delete(xs, c, &t->db, node->name, NULL);
            ret = ENOMEM;
            goto err;
        }
        t->nodes++;
        if (t->acc_tail)
            t->acc_tail->next = i;
        else
            t->acc_head = i;
        t->acc_tail = i;
        goto recorded;
    err:
        if (i) acc_free(i);
        t->fail = true;
        return ret;
    }
recorded:
    if (type != XST_ACCESS_READ) i->modified = true;
    if (introduce && type == XST_ACCESS_DELETE) return -1;
    if (map) {
        *map = &t->db;
        if (type == XST_ACCESS_WRITE) i->ta_node = true;
        if (type == XST_ACCESS_DELETE) i->ta_node = false;
    }
    return 0;
}

void xst_ta_node_created(struct xst_trans *t)
{
    t->node_created = true;
}

void xst_fail_transaction(struct xst_trans *t)
{
    t->fail = true;
}

static void entry_change(struct xst_trans *t, unsigned domid, int delta)
{
    struct xst_dchange **p = &t->changed;
    for (; *p; p = &(*p)->next)
        if ((*p)->domid == domid) {
            (*p)->nbentry += delta;
            return;
        }
    struct xst_dchange *d = calloc(1, sizeof(*d));
    if (!d) {
        t->fail = true;
        return;
    }
    d->domid = domid;
    d->nbentry = delta;
    *p = d;
}

void xst_transaction_entry_inc(struct xst_trans *t, unsigned domid)
{
    entry_change(t, domid, 1);
}

void xst_transaction_entry_dec(struct xst_trans *t, unsigned domid)
{
    entry_change(t, domid, -1);
}

/* A non-exact event replaces an exact one, not the other way round. */
static void queue_watches(struct xst_conn *c, const char *name, bool exact)
{
    struct xst_acc *i = find_accessed(c->transaction, name);
    if (!i) {
        c->transaction->fail = true;
        return;
    }
    if (!i->fire_watch) {
        i->fire_watch = true;
        i->watch_exact = exact;
    } else if (!exact) {
        i->watch_exact = false;
    }
}

/* ---- transaction life cycle ------------------------------------------------ */

struct xst_trans *xst_transaction_lookup(struct xst_conn *c, uint32_t id, int *err)
{
    *err = 0;
    if (id == 0) return NULL;
    for (struct xst_trans *t = c->transactions; t; t = t->next)
        if (t->id == id) return t;
    *err = ENOENT;
    return NULL;
}

static void unlink_trans(struct xst_conn *c, struct xst_trans *t)
{
    for (struct xst_trans **p = &c->transactions; *p; p = &(*p)->next)
        if (*p == t) {
            *p = t->next;
            c->transaction_started--;
            return;
        }
}

/* Xen's destroy_transaction: the copies go, with their accounting. */
static void free_trans(struct xst_conn *c, struct xst_trans *t)
{
    for (struct xst_acc *i = t->acc_head; i; i = i->next)
        if (i->ta_node) xst_db_delete(c->xs, c, &t->db, i->h.key, NULL);
    t->acc_head = t->acc_tail = NULL;
    xst_map_drain(&t->acc_map, acc_hent_free);
    xst_map_drain(&t->db, xst_rec_hent_free);
    while (t->changed) {
        struct xst_dchange *d = t->changed;
        t->changed = d->next;
        free(d);
    }
    free(t);
}

void xst_conn_delete_all_transactions(struct xst_conn *c)
{
    while (c->transactions) {
        struct xst_trans *t = c->transactions;
        c->transactions = t->next;
        free_trans(c, t);
    }
    c->transaction_started = 0;
    c->transaction = NULL;
}

int xst_do_transaction_start(struct xst_ctx *ctx, struct xst_conn *c, char *in,
                             unsigned len)
{
    (void)ctx, (void)in, (void)len;
    if (c->transaction) return EBUSY; /* no nesting */
    if (xst_domain_is_unprivileged(c) &&
        c->transaction_started > (unsigned)c->xs->quota_max_transaction)
        return ENOSPC;
    struct xst_trans *t = calloc(1, sizeof(*t));
    if (!t) return ENOMEM;
    t->conn = c;
    t->generation = ++c->xs->generation;
    /* The next id not in use and not 0 (0 means "no transaction"). */
    for (;;) {
        int err;
        uint32_t id = c->next_transaction_id++;
        if (id && !xst_transaction_lookup(c, id, &err)) {
            t->id = id;
            break;
        }
    }
    struct xst_trans **p = &c->transactions;
    while (*p)
        p = &(*p)->next;
    *p = t;
    c->transaction_started++;
    char id_str[16];
    snprintf(id_str, sizeof(id_str), "%u", t->id);
    xst_send_reply(c, XS_TRANSACTION_START, id_str, (unsigned)strlen(id_str) + 1);
    return 0;
}

static int fix_domains(struct xst_trans *t, bool chk_quota, bool update)
{
    struct xs_xenstore *xs = t->conn->xs;
    for (struct xst_dchange *d = t->changed; d; d = d->next) {
        int cnt = xst_domain_entry_fix(xs, d->domid, d->nbentry, update);
        if (!update) {
            if (chk_quota && cnt >= xs->quota_nb_entry_per_domain) return ENOSPC;
            if (cnt < 0) return ENOMEM;
        }
    }
    return 0;
}

/* Check every read generation, then copy the transaction's nodes to the
 * store in the order they were first accessed, firing their watches. */
static int finalize(struct xst_conn *c, struct xst_trans *t, bool *is_corrupt)
{
    struct xs_xenstore *xs = c->xs;
    for (struct xst_acc **p = &t->acc_head, *i; (i = *p);) {
        if (i->check_gen) {
            struct xst_rec *r = (struct xst_rec *)xst_map_get(&xs->db, i->h.key);
            uint64_t gen = r ? r->generation : XST_NO_GENERATION;
            if (i->generation != gen) return EAGAIN;
        }
        if (i->modified) {
            p = &i->next;
            continue;
        }
        /* Only read: the copy can go now. */
        if (i->ta_node && xst_db_delete(xs, c, &t->db, i->h.key, NULL)) return EIO;
        *p = i->next;
        xst_map_del(&t->acc_map, i->h.key);
        acc_free(i);
    }
    t->acc_tail = NULL;
    while (t->acc_head) {
        struct xst_acc *i = t->acc_head;
        const char *name = i->h.key;
        if (i->ta_node) {
            struct xst_rec *r = (struct xst_rec *)xst_map_get(&t->db, name);
            if (r) {
                struct xst_node n = {.name = name,
                                     .generation = ++xs->generation,
                                     .perms = r->perms,
                                     .datalen = r->datalen,
                                     .data = r->data,
                                     .childlen = r->childlen,
                                     .children = r->children};
                *is_corrupt |= xst_db_store(xs, c, &xs->db, name, &n, NULL, true) != 0;
                if (xst_db_delete(xs, c, &t->db, name, NULL)) *is_corrupt = true;
            } else {
                *is_corrupt = true;
            }
        } else if (i->generation != XST_NO_GENERATION) {
            /* Deleted in the transaction (a node created and deleted there
             * has no generation and nothing to delete). */
            *is_corrupt |= xst_db_delete(xs, c, &xs->db, name, NULL) != 0;
        }
        if (i->fire_watch) {
            struct xst_ctx ctx = {0};
            xst_fire_watches(c, &ctx, name, NULL, i->watch_exact,
                             i->perms.p ? &i->perms : NULL);
            xst_ctx_free(&ctx);
        }
        t->acc_head = i->next;
        xst_map_del(&t->acc_map, name);
        acc_free(i);
    }
    return 0;
}

int xst_do_transaction_end(struct xst_ctx *ctx, struct xst_conn *c, char *in,
                           unsigned len)
{
    (void)ctx;
    const char *arg = xst_onearg(in, len);
    if (!arg || (strcmp(arg, "T") && strcmp(arg, "F"))) return EINVAL;
    struct xst_trans *t = c->transaction;
    if (!t) return ENOENT;
    c->transaction = NULL;
    unlink_trans(c, t);
    bool chk_quota = t->node_created && xst_domain_is_unprivileged(c);
    int ret = 0;
    if (!strcmp(arg, "T")) {
        bool is_corrupt = false;
        if (t->fail) ret = ENOMEM; /* as Xen 4.17: a failed transaction cannot commit */
        if (!ret) ret = fix_domains(t, chk_quota, false);
        if (!ret) ret = finalize(c, t, &is_corrupt);
        if (!ret) {
            fix_domains(t, false, true);
            if (is_corrupt) xst_corrupt(c->xs, "transaction inconsistency");
        }
    }
    free_trans(c, t);
    if (!ret) xst_send_ack(c, XS_TRANSACTION_END);
    return ret;
}

/* ---- watches ------------------------------------------------------------------ */

static bool is_child(const char *child, const char *parent)
{
    size_t len = strlen(parent);
    if (!strcmp(parent, "/")) return true;
    return !strncmp(child, parent, len) && (child[len] == '/' || child[len] == '\0');
}

/* A relative watch gets its events relative to the connection's home. */
static const char *watch_path(const struct xst_conn *c, const struct xst_watch *w,
                              const char *name)
{
    if (!w->relative) return name;
    const char *home = xst_implicit_path(c);
    size_t len = strlen(home);
    if (strncmp(name, home, len)) return name;
    name += len;
    return *name == '/' ? name + 1 : name;
}

static const struct xst_perms *special_perms(struct xs_xenstore *xs, const char *name)
{
    if (!strcmp(name, "@releaseDomain")) return &xs->release_perms;
    if (!strcmp(name, "@introduceDomain")) return &xs->introduce_perms;
    return NULL;
}

static bool check_perms_special(struct xs_xenstore *xs, const char *name,
                                const struct xst_conn *c)
{
    const struct xst_perms *p = special_perms(xs, name);
    return p && (xst_perm_for_conn(c, p) & XS_PERM_READ);
}

/* The watcher must be able to read the node or its parent (or could read
 * the node before its permissions changed). */
static bool watch_permitted(struct xst_conn *c, struct xst_ctx *ctx, const char *name,
                            struct xst_node *node, const struct xst_perms *perms)
{
    if (perms && (xst_perm_for_conn(c, perms) & XS_PERM_READ)) return true;
    if (!node) {
        node = xst_read_node(c, ctx, name);
        if (!node) return false;
    }
    if (xst_perm_for_conn(c, &node->perms) & XS_PERM_READ) return true;
    struct xst_node *parent = node->parent;
    if (!parent) {
        char *pname = xst_get_parent(ctx, node->name);
        if (!pname) return false;
        parent = xst_read_node(c, ctx, pname);
        if (!parent) return false;
    }
    return xst_perm_for_conn(c, &parent->perms) & XS_PERM_READ;
}

/* Xen's send_event: too long events are dropped, and so is an event
 * identical to one still queued (special events excepted), and one the
 * watcher's memory quota has no room for. */
static void send_event(struct xst_req *req, struct xst_conn *c, const char *path,
                       const char *token)
{
    size_t plen = strlen(path) + 1, tlen = strlen(token) + 1;
    if (plen + tlen > XENSTORE_PAYLOAD_MAX) return;
    char buf[XENSTORE_PAYLOAD_MAX];
    memcpy(buf, path, plen);
    memcpy(buf + plen, token, tlen);
    unsigned len = (unsigned)(plen + tlen);
    if (path[0] != '@')
        for (struct xst_out *o = c->out_head; o; o = o->next)
            if (o->is_event && o->hdr.len == len && !memcmp(o->payload, buf, len)) return;
    if (xst_domain_memory_add(c->xs, c->id, (long)(len + sizeof(struct xsd_sockmsg)),
                              false))
        return;
    struct xsd_sockmsg hdr = {
        .type = XS_WATCH_EVENT, .req_id = 0, .tx_id = 0, .len = len};
    if (!xst_queue(c, &hdr, buf, true, req))
        xst_domain_memory_add_nochk(c->xs, c->id,
                                    -(long)(len + sizeof(struct xsd_sockmsg)));
}

void xst_fire_watches(struct xst_conn *c, struct xst_ctx *ctx, const char *name,
                      struct xst_node *node, bool exact, const struct xst_perms *perms)
{
    if (c->transaction) {
        queue_watches(c, name, exact);
        return;
    }
    struct xs_xenstore *xs = c->xs;
    struct xst_req *req = xst_domain_is_unprivileged(c) ? c->req : NULL;
    for (struct xst_conn *i = xs->conn_head; i; i = i->next) {
        bool any = false;
        for (struct xst_watch *w = i->watches; w && !any; w = w->next)
            any = exact ? !strcmp(name, w->node) : is_child(name, w->node);
        if (!any) continue;
        if (name[0] == '@' ? !check_perms_special(xs, name, i)
                           : !watch_permitted(i, ctx, name, node, perms))
            continue;
        for (struct xst_watch *w = i->watches; w; w = w->next)
            if (exact ? !strcmp(name, w->node) : is_child(name, w->node))
                send_event(req, i, watch_path(i, w, name), w->token);
    }
}

void xst_fire_special(struct xs_xenstore *xs, const char *name)
{
    struct xst_ctx ctx = {0};
    xs->internal.transaction = NULL;
    xst_fire_watches(&xs->internal, &ctx, name, NULL, true, NULL);
    xst_ctx_free(&ctx);
}

static long watch_mem(const struct xst_watch *w)
{
    return (long)(strlen(w->node) + strlen(w->token));
}

static void free_watch(struct xst_conn *c, struct xst_watch *w)
{
    xst_domain_memory_add_nochk(c->xs, c->id, -watch_mem(w));
    if (c->domain && c->domain->nbwatch) c->domain->nbwatch--;
    free(w->node);
    free(w->token);
    free(w);
}

void xst_conn_delete_all_watches(struct xst_conn *c)
{
    while (c->watches) {
        struct xst_watch *w = c->watches;
        c->watches = w->next;
        free_watch(c, w);
    }
}

int xst_do_watch(struct xst_ctx *ctx, struct xst_conn *c, char *in, unsigned len)
{
    char *vec[2];
    if (xst_get_strings(in, len, vec, 2) != 2) return EINVAL;
    char *path = vec[0];
    bool relative = false;
    if (path[0] == '@') {
        if (strlen(path) > XENSTORE_REL_PATH_MAX) return EINVAL;
    } else {
        relative = path[0] != '/';
        path = xst_canonicalize(c, ctx, path);
        if (!path) return ENOMEM;
        if (!xst_is_valid_nodename(c->xs, path)) return EINVAL;
    }
    struct xst_watch **p = &c->watches;
    for (; *p; p = &(*p)->next)
        if (!strcmp((*p)->node, path) && !strcmp((*p)->token, vec[1])) return EEXIST;
    /* As Xen: one more than the quota is allowed. */
    if (xst_domain_is_unprivileged(c) &&
        c->domain->nbwatch > c->xs->quota_nb_watch_per_domain)
        return E2BIG;
    struct xst_watch *w = calloc(1, sizeof(*w));
    if (!w || !(w->node = strdup(path)) || !(w->token = strdup(vec[1]))) {
        if (w) free(w->node);
        free(w);
        return ENOMEM;
    }
    w->relative = relative;
    if (xst_domain_memory_add(c->xs, c->id, watch_mem(w), false)) {
        free(w->node);
        free(w->token);
        free(w);
        return ENOMEM;
    }
    if (c->domain) c->domain->nbwatch++;
    *p = w;
    xst_send_ack(c, XS_WATCH);
    /* Fired once straight away; not linked to the WATCH request. */
    send_event(NULL, c, watch_path(c, w, w->node), w->token);
    return 0;
}

int xst_do_unwatch(struct xst_ctx *ctx, struct xst_conn *c, char *in, unsigned len)
{
    char *vec[2];
    if (xst_get_strings(in, len, vec, 2) != 2) return EINVAL;
    char *node = xst_canonicalize(c, ctx, vec[0]);
    if (!node) return ENOMEM;
    for (struct xst_watch **p = &c->watches; *p; p = &(*p)->next)
        if (!strcmp((*p)->node, node) && !strcmp((*p)->token, vec[1])) {
            struct xst_watch *w = *p;
            *p = w->next;
            free_watch(c, w);
            xst_send_ack(c, XS_UNWATCH);
            return 0;
        }
    return ENOENT;
}
