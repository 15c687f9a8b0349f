/* xenstored requests: one handler per message type in a registry indexed by
 * enum xsd_sockmsg_type, with Xen 4.17's flags (privileged only, ignores
 * the transaction id), replies and errors. */
#include <stdlib.h>
#include <string.h>

#include "xenstore_int.h"

/* ---- payload parsing ---------------------------------------------------------- */

unsigned xst_count_strings(const char *s, unsigned len)
{
    unsigned n = 0;
    for (unsigned i = 0; i < len; i++)
        n += s[i] == '\0';
    return n;
}

/* Length (with the nul) of the string at off, 0 if it is not terminated. */
static unsigned get_string(const char *in, unsigned len, unsigned off)
{
    if (off >= len) return 0;
    const char *nul = memchr(in + off, 0, len - off);
    return nul ? (unsigned)(nul - (in + off)) + 1 : 0;
}

unsigned xst_get_strings(char *in, unsigned len, char **vec, unsigned max)
{
    unsigned off = 0, i = 0, l;
    while ((l = get_string(in, len, off)) != 0) {
        if (i < max) vec[i] = in + off;
        i++;
        off += l;
    }
    return i;
}

/* Exactly one string, ending the payload. */
const char *xst_onearg(char *in, unsigned len)
{
    if (!len || get_string(in, len, 0) != len) return NULL;
    return in;
}

/* C's atoi, defined for every input. */
static int xst_atoi(const char *s)
{
    return (int)strtol(s, NULL, 10);
}

/* ---- replies -------------------------------------------------------------------- */

const char *xst_errno_name(int err)
{
    for (size_t i = 0; i < sizeof(xsd_errors) / sizeof(xsd_errors[0]); i++)
        if (xsd_errors[i].errnum == err) return xsd_errors[i].errstring;
    return xsd_errors[0].errstring; /* Xen: an untranslatable error is EINVAL */
}

/* Small replies are always accounted; larger ones must fit the requester's
 * memory quota (else ENOMEM), as Xen's send_reply. */
void xst_send_reply(struct xst_conn *c, enum xsd_sockmsg_type type, const void *data,
                    unsigned len)
{
    if (len > XENSTORE_PAYLOAD_MAX) {
        xst_send_error(c, E2BIG);
        return;
    }
    if (!c->req_open) return;
    long mem = (long)(len + sizeof(struct xsd_sockmsg));
    if (len <= 16)
        xst_domain_memory_add_nochk(c->xs, c->id, mem);
    else if (xst_domain_memory_add(c->xs, c->id, mem, false)) {
        xst_send_error(c, ENOMEM);
        return;
    }
    c->req_open = false;
    struct xsd_sockmsg hdr = c->req_hdr;
    hdr.type = type;
    hdr.len = len;
    if (!xst_queue(c, &hdr, data, false, c->req)) {
        xst_domain_memory_add_nochk(c->xs, c->id, -mem);
        return;
    }
    if (c->domain && c->req) {
        c->domain->nboutstanding++;
        c->req->counted = true;
    }
}

void xst_send_error(struct xst_conn *c, int err)
{
    const char *s = xst_errno_name(err);
    xst_send_reply(c, XS_ERROR, s, (unsigned)strlen(s) + 1);
}

void xst_send_ack(struct xst_conn *c, enum xsd_sockmsg_type type)
{
    xst_send_reply(c, type, "OK", sizeof("OK"));
}

/* ---- nodes --------------------------------------------------------------------------
 */

static int do_read(struct xst_ctx *ctx, struct xst_conn *c, char *in, unsigned len)
{
    struct xst_node *node =
        xst_get_node_canonicalized(c, ctx, xst_onearg(in, len), NULL, XS_PERM_READ);
    if (!node) return errno;
    xst_send_reply(c, XS_READ, node->data, node->datalen);
    return 0;
}

static int do_directory(struct xst_ctx *ctx, struct xst_conn *c, char *in, unsigned len)
{
    struct xst_node *node =
        xst_get_node_canonicalized(c, ctx, xst_onearg(in, len), NULL, XS_PERM_READ);
    if (!node) return errno;
    xst_send_reply(c, XS_DIRECTORY, node->children, node->childlen);
    return 0;
}

/* The generation, then as many whole children from byte offset off as fit;
 * a final empty string marks the end of the list. */
static int do_directory_part(struct xst_ctx *ctx, struct xst_conn *c, char *in,
                             unsigned len)
{
    if (xst_count_strings(in, len) != 2) return EINVAL;
    struct xst_node *node = xst_get_node_canonicalized(c, ctx, in, NULL, XS_PERM_READ);
    if (!node) return errno;
    unsigned off = (unsigned)xst_atoi(in + strlen(in) + 1);
    char gen[24];
    unsigned genlen = (unsigned)snprintf(gen, sizeof(gen), "%llu",
                                         (unsigned long long)node->generation) +
                      1;
    if (off >= node->childlen) {
        gen[genlen] = 0;
        xst_send_reply(c, XS_DIRECTORY_PART, gen, genlen + 1);
        return 0;
    }
    unsigned n = 0, maxlen = XENSTORE_PAYLOAD_MAX - genlen - 1;
    const char *child = node->children + off;
    while (n + strlen(child) < maxlen) {
        n += (unsigned)strlen(child) + 1;
        child += strlen(child) + 1;
        if (off + n == node->childlen) break;
    }
    char *data = xst_alloc(ctx, genlen + n + 1);
    if (!data) return ENOMEM;
    memcpy(data, gen, genlen);
    memcpy(data + genlen, node->children + off, n);
    if (off + n == node->childlen) data[genlen + n++] = 0;
    xst_send_reply(c, XS_DIRECTORY_PART, data, genlen + n);
    return 0;
}

static int do_write(struct xst_ctx *ctx, struct xst_conn *c, char *in, unsigned len)
{
    char *vec[1];
    if (xst_get_strings(in, len, vec, 1) < 1) return EINVAL;
    unsigned offset = (unsigned)strlen(vec[0]) + 1, datalen = len - offset;
    char *name;
    struct xst_node *node =
        xst_get_node_canonicalized(c, ctx, vec[0], &name, XS_PERM_WRITE);
    if (!node) {
        if (errno != ENOENT) return errno;
        node = xst_create_node(c, ctx, name, in + offset, datalen);
        if (!node) return errno;
    } else {
        node->data = in + offset;
        node->datalen = datalen;
        int ret = xst_write_node(c, node, false);
        if (ret) return ret;
    }
    xst_fire_watches(c, ctx, name, node, false, NULL);
    xst_send_ack(c, XS_WRITE);
    return 0;
}

static int do_mkdir(struct xst_ctx *ctx, struct xst_conn *c, char *in, unsigned len)
{
    char *name;
    struct xst_node *node =
        xst_get_node_canonicalized(c, ctx, xst_onearg(in, len), &name, XS_PERM_WRITE);
    if (!node) { /* an existing node is fine */
        if (errno != ENOENT) return errno;
        if (!name) return ENOMEM;
        node = xst_create_node(c, ctx, name, NULL, 0);
        if (!node) return errno;
        xst_fire_watches(c, ctx, name, node, false, NULL);
    }
    xst_send_ack(c, XS_MKDIR);
    return 0;
}

static int do_rm(struct xst_ctx *ctx, struct xst_conn *c, char *in, unsigned len)
{
    char *name;
    struct xst_node *node =
        xst_get_node_canonicalized(c, ctx, xst_onearg(in, len), &name, XS_PERM_WRITE);
    if (!node) {
        /* Not there already: fine if its parent is. */
        int err = errno;
        if (err == ENOENT) {
            if (!name) return ENOMEM;
            char *parentname = xst_get_parent(ctx, name);
            if (!parentname) return ENOMEM;
            if (xst_read_node(c, ctx, parentname)) {
                xst_send_ack(c, XS_RM);
                return 0;
            }
            if (!xst_read_node_can_propagate_errno(errno)) return ENOENT;
            return errno;
        }
        return err;
    }
    if (!strcmp(name, "/")) return EINVAL;
    int ret = xst_rm_node(c, ctx, name);
    if (ret) return ret;
    xst_send_ack(c, XS_RM);
    return 0;
}

static int do_get_perms(struct xst_ctx *ctx, struct xst_conn *c, char *in, unsigned len)
{
    struct xst_node *node =
        xst_get_node_canonicalized(c, ctx, xst_onearg(in, len), NULL, XS_PERM_READ);
    if (!node) return errno;
    unsigned n;
    char *s = xst_perms_to_strings(ctx, &node->perms, &n);
    if (!s) return ENOMEM;
    xst_send_reply(c, XS_GET_PERMS, s, n);
    return 0;
}

static int set_perms_special(struct xst_conn *c, const char *name,
                             const struct xst_perms *perms)
{
    struct xs_xenstore *xs = c->xs;
    struct xst_perms *p = !strcmp(name, "@releaseDomain")     ? &xs->release_perms
                          : !strcmp(name, "@introduceDomain") ? &xs->introduce_perms
                                                              : NULL;
    if (!p) return EINVAL;
    unsigned need = XS_PERM_WRITE | XS_PERM_OWNER;
    if ((xst_perm_for_conn(c, p) & need) != need) return EACCES;
    struct xs_permissions *copy = malloc(perms->num * sizeof(*copy));
    if (!copy) return ENOMEM;
    memcpy(copy, perms->p, perms->num * sizeof(*copy));
    free(p->p);
    p->p = copy;
    p->num = perms->num;
    return 0;
}

static int do_set_perms(struct xst_ctx *ctx, struct xst_conn *c, char *in, unsigned len)
{
    struct xst_perms perms = {.num = xst_count_strings(in, len)};
    if (perms.num < 2) return EINVAL;
    perms.num--;
    if (xst_domain_is_unprivileged(c) &&
        perms.num > (unsigned)c->xs->quota_nb_perms_per_node)
        return ENOSPC;
    const char *permstr = in + strlen(in) + 1;
    perms.p = xst_alloc(ctx, perms.num * sizeof(*perms.p));
    if (!perms.p) return ENOMEM;
    if (!xst_strings_to_perms(perms.p, perms.num, permstr, in + len)) return EINVAL;
    if (xst_domain_alloc_permrefs(c->xs, &perms)) return ENOMEM;
    /* The owner must exist. */
    if (perms.p[0].perms & XS_PERM_IGNORE) return ENOENT;
    if (in[0] == '@') {
        int ret = set_perms_special(c, in, &perms);
        if (ret) return ret;
        xst_send_ack(c, XS_SET_PERMS);
        return 0;
    }
    char *name;
    struct xst_node *node =
        xst_get_node_canonicalized(c, ctx, in, &name, XS_PERM_WRITE | XS_PERM_OWNER);
    if (!node) return errno;
    /* Only the privileged may give a node away. */
    if (xst_domain_is_unprivileged(c) && perms.p[0].id != node->perms.p[0].id)
        return EPERM;
    struct xst_perms old = node->perms;
    xst_domain_entry_dec(c, node);
    node->perms = perms;
    if (xst_domain_entry_inc(c, node)) {
        node->perms = old;
        xst_domain_entry_inc(c, node);
        return ENOMEM;
    }
    int ret = xst_write_node(c, node, false);
    if (ret) {
        xst_domain_entry_dec(c, node);
        node->perms = old;
        xst_domain_entry_inc(c, node);
        return ret;
    }
    xst_fire_watches(c, ctx, name, node, false, &old);
    xst_send_ack(c, XS_SET_PERMS);
    return 0;
}

/* ---- domains ---------------------------------------------------------------------- */

static int do_introduce(struct xst_ctx *ctx, struct xst_conn *c, char *in, unsigned len)
{
    (void)ctx;
    char *vec[3];
    if (xst_get_strings(in, len, vec, 3) < 3) return EINVAL;
    unsigned domid = (unsigned)xst_atoi(vec[0]);
    /* The gfn is not needed: the ring is found as Xen finds it. */
    evtchn_port_t port = (evtchn_port_t)xst_atoi(vec[2]);
    if (port == 0) return EINVAL;
    int err = 0;
    if (!xst_introduce_domain(c->xs, domid, port, &err)) return err;
    xst_send_ack(c, XS_INTRODUCE);
    return 0;
}

static struct xst_domain *find_connected_domain(struct xs_xenstore *xs, unsigned domid,
                                                int *err)
{
    struct xst_domain *d = xst_find_domain(xs, domid);
    if (!d || !d->introduced) {
        *err = ENOENT;
        return NULL;
    }
    if (!d->conn) {
        *err = EINVAL;
        return NULL;
    }
    return d;
}

static struct xst_domain *onearg_domain(struct xst_conn *c, char *in, unsigned len,
                                        int *err)
{
    const char *s = xst_onearg(in, len);
    unsigned domid = s ? (unsigned)xst_atoi(s) : 0;
    if (!domid) {
        *err = EINVAL;
        return NULL;
    }
    return find_connected_domain(c->xs, domid, err);
}

static int do_release(struct xst_ctx *ctx, struct xst_conn *c, char *in, unsigned len)
{
    (void)ctx;
    int err = 0;
    struct xst_domain *d = onearg_domain(c, in, len, &err);
    if (!d) return err;
    xst_release_domain(c->xs, d);
    xst_send_ack(c, XS_RELEASE);
    return 0;
}

static int do_resume(struct xst_ctx *ctx, struct xst_conn *c, char *in, unsigned len)
{
    (void)ctx;
    int err = 0;
    struct xst_domain *d = onearg_domain(c, in, len, &err);
    if (!d) return err;
    d->shutdown = false;
    xst_send_ack(c, XS_RESUME);
    return 0;
}

static int do_set_target(struct xst_ctx *ctx, struct xst_conn *c, char *in, unsigned len)
{
    (void)ctx;
    char *vec[2];
    if (xst_get_strings(in, len, vec, 2) < 2) return EINVAL;
    int err = 0;
    struct xst_domain *d = find_connected_domain(c->xs, (unsigned)xst_atoi(vec[0]), &err);
    if (!d) return err;
    struct xst_domain *t = find_connected_domain(c->xs, (unsigned)xst_atoi(vec[1]), &err);
    if (!t) return err;
    d->conn->has_target = true;
    d->conn->target_id = t->domid;
    xst_send_ack(c, XS_SET_TARGET);
    return 0;
}

static int do_get_domain_path(struct xst_ctx *ctx, struct xst_conn *c, char *in,
                              unsigned len)
{
    const char *s = xst_onearg(in, len);
    if (!s) return EINVAL;
    char *path = xst_printf(ctx, "/local/domain/%u", (unsigned)xst_atoi(s));
    if (!path) return ENOMEM;
    xst_send_reply(c, XS_GET_DOMAIN_PATH, path, (unsigned)strlen(path) + 1);
    return 0;
}

static int do_is_domain_introduced(struct xst_ctx *ctx, struct xst_conn *c, char *in,
                                   unsigned len)
{
    (void)ctx;
    const char *s = xst_onearg(in, len);
    if (!s) return EINVAL;
    unsigned domid = (unsigned)xst_atoi(s);
    struct xst_domain *d = xst_find_domain(c->xs, domid);
    bool yes = domid == DOMID_SELF || (d && d->introduced);
    xst_send_reply(c, XS_IS_DOMAIN_INTRODUCED, yes ? "T" : "F", 2);
    return 0;
}

static int do_reset_watches(struct xst_ctx *ctx, struct xst_conn *c, char *in,
                            unsigned len)
{
    (void)ctx, (void)in, (void)len;
    xst_conn_delete_all_watches(c);
    xst_conn_delete_all_transactions(c);
    xst_send_ack(c, XS_RESET_WATCHES);
    return 0;
}

/* ---- CONTROL ------------------------------------------------------------------------
 */

#define QUOTA(field, name, descr)                                                        \
    {                                                                                    \
        name, offsetof(struct xs_xenstore, field), descr                                 \
    }
static const struct xst_quota hard_quotas[] = {
    QUOTA(quota_nb_entry_per_domain, "nodes", "Nodes per domain"),
    QUOTA(quota_nb_watch_per_domain, "watches", "Watches per domain"),
    QUOTA(quota_max_transaction, "transactions", "Transactions per domain"),
    QUOTA(quota_req_outstanding, "outstanding", "Outstanding requests per domain"),
    QUOTA(quota_trans_nodes, "transaction-nodes",
          "Max. number of accessed nodes per transaction"),
    QUOTA(quota_memory_per_domain_hard, "memory",
          "Total Xenstore memory per domain (error level)"),
    QUOTA(quota_max_entry_size, "node-size", "Max. size of a node"),
    QUOTA(quota_max_path_len, "path-max", "Max. length of a node path"),
    QUOTA(quota_nb_perms_per_node, "permissions", "Max. number of permissions per node"),
    {NULL, 0, NULL},
};
static const struct xst_quota soft_quotas[] = {
    QUOTA(quota_memory_per_domain_soft, "memory",
          "Total Xenstore memory per domain (warning level)"),
    {NULL, 0, NULL},
};

static int *quota_val(struct xs_xenstore *xs, const struct xst_quota *q)
{
    return (int *)((char *)xs + q->offset);
}

static int quota_show(struct xst_ctx *ctx, struct xst_conn *c, const struct xst_quota *q)
{
    char *resp = xst_strdup(ctx, "Quota settings:\n");
    for (; resp && q->name; q++)
        resp = xst_printf(ctx, "%s%-17s: %8d %s\n", resp, q->name, *quota_val(c->xs, q),
                          q->descr);
    if (!resp) return ENOMEM;
    xst_send_reply(c, XS_CONTROL, resp, (unsigned)strlen(resp) + 1);
    return 0;
}

static int quota_set(struct xst_conn *c, char **vec, unsigned num,
                     const struct xst_quota *q)
{
    if (num != 2) return EINVAL;
    int val = xst_atoi(vec[1]);
    if (val < 1) return EINVAL;
    for (; q->name; q++)
        if (!strcmp(vec[0], q->name)) {
            *quota_val(c->xs, q) = val;
            xst_send_ack(c, XS_CONTROL);
            return 0;
        }
    return EINVAL;
}

static int ctl_quota(struct xst_ctx *ctx, struct xst_conn *c, char **vec, unsigned num)
{
    if (num == 0) return quota_show(ctx, c, hard_quotas);
    if (!strcmp(vec[0], "set")) return quota_set(c, vec + 1, num - 1, hard_quotas);
    if (num != 1) return EINVAL;
    struct xst_domain *d = xst_find_domain(c->xs, (unsigned)xst_atoi(vec[0]));
    if (!d) return ENOENT;
    char *resp =
        xst_printf(ctx,
                   "Domain %u:\n%-16s: %8d\n%-16s: %8d\n%-16s: %8d\n%-16s: %8d\n"
                   "%-16s: %8ld\n",
                   d->domid, "nodes", d->nbentry, "watches", d->nbwatch, "transactions",
                   d->conn ? (int)d->conn->transaction_started : 0, "outstanding",
                   d->nboutstanding, "memory", d->memory);
    if (!resp) return ENOMEM;
    xst_send_reply(c, XS_CONTROL, resp, (unsigned)strlen(resp) + 1);
    return 0;
}

static int ctl_quota_soft(struct xst_ctx *ctx, struct xst_conn *c, char **vec,
                          unsigned num)
{
    if (num == 0) return quota_show(ctx, c, soft_quotas);
    if (!strcmp(vec[0], "set")) return quota_set(c, vec + 1, num - 1, soft_quotas);
    return EINVAL;
}

static int check_step(struct xst_ctx *ctx, struct xst_conn *c, struct xst_node *n,
                      void *arg)
{
    (void)ctx, (void)c, (void)n;
    ++*(size_t *)arg;
    return XST_WALK_OK;
}

/* Xen's check_store repairs; this store cannot get inconsistent the ways
 * TDB could, so it only checks that every record is reachable. */
static int ctl_check(struct xst_ctx *ctx, struct xst_conn *c, char **vec, unsigned num)
{
    (void)vec;
    if (num) return EINVAL;
    size_t reached = 0;
    const struct xst_walk_funcs f = {.enter = check_step};
    int ret = xst_walk_node_tree(ctx, &c->xs->internal, "/", &f, &reached);
    if (ret < 0 || reached != c->xs->db.count)
        xst_corrupt(c->xs, "check_store: %zu nodes reachable, %zu stored", reached,
                    c->xs->db.count);
    else
        xst_log(c->xs, "check_store: %zu nodes reachable, %zu stored", reached,
                c->xs->db.count);
    xst_send_ack(c, XS_CONTROL);
    return 0;
}

static int ctl_log(struct xst_ctx *ctx, struct xst_conn *c, char **vec, unsigned num)
{
    (void)ctx;
    if (num != 1) return EINVAL;
    if (!strcmp(vec[0], "on"))
        c->xs->trace_io = true;
    else if (!strcmp(vec[0], "off"))
        c->xs->trace_io = false;
    else
        return EINVAL;
    xst_send_ack(c, XS_CONTROL);
    return 0;
}

static int ctl_print(struct xst_ctx *ctx, struct xst_conn *c, char **vec, unsigned num)
{
    (void)ctx;
    if (num != 1) return EINVAL;
    xst_log(c->xs, "control: %s", vec[0]);
    xst_send_ack(c, XS_CONTROL);
    return 0;
}

static int ctl_help(struct xst_ctx *ctx, struct xst_conn *c, char **vec, unsigned num);

static const struct {
    const char *cmd;
    int (*fn)(struct xst_ctx *ctx, struct xst_conn *c, char **vec, unsigned num);
    const char *pars;
} ctl_cmds[] = {
    {"check", ctl_check, ""},
    {"log", ctl_log, "on|off"},
    {"print", ctl_print, "<string>"},
    {"quota", ctl_quota, "[set <name> <val>|<domid>]"},
    {"quota-soft", ctl_quota_soft, "[set <name> <val>]"},
    {"help", ctl_help, ""},
};
#define NR_CTL (sizeof(ctl_cmds) / sizeof(ctl_cmds[0]))

static int ctl_help(struct xst_ctx *ctx, struct xst_conn *c, char **vec, unsigned num)
{
    (void)vec;
    if (num) return EINVAL;
    char *resp = xst_strdup(ctx, "");
    for (size_t i = 0; resp && i < NR_CTL; i++)
        resp = xst_printf(ctx, "%s%s\t%s\n", resp, ctl_cmds[i].cmd, ctl_cmds[i].pars);
    if (!resp) return ENOMEM;
    xst_send_reply(c, XS_CONTROL, resp, (unsigned)strlen(resp) + 1);
    return 0;
}

static int do_control(struct xst_ctx *ctx, struct xst_conn *c, char *in, unsigned len)
{
    if (!get_string(in, len, 0)) return EINVAL;
    size_t cmd = 0;
    while (cmd < NR_CTL && strcmp(in, ctl_cmds[cmd].cmd))
        cmd++;
    if (cmd == NR_CTL) return EINVAL;
    unsigned num = xst_count_strings(in, len);
    char **vec = xst_alloc(ctx, num * sizeof(*vec));
    if (!vec) return ENOMEM;
    if (xst_get_strings(in, len, vec, num) < num) return EIO;
    return ctl_cmds[cmd].fn(ctx, c, vec + 1, num - 1);
}

/* ---- the registry
 * ---------------------------------------------------------------------- */

enum {
    F_NOTID = 1, /* the transaction id is ignored */
    F_PRIV = 2,  /* privileged connections only */
};

typedef int (*op_fn)(struct xst_ctx *ctx, struct xst_conn *c, char *in, unsigned len);

static const struct {
    const char *name;
    op_fn fn;
    unsigned flags;
} ops[XS_TYPE_COUNT] = {
    [XS_CONTROL] = {"CONTROL", do_control, F_PRIV},
    [XS_DIRECTORY] = {"DIRECTORY", do_directory, 0},
    [XS_READ] = {"READ", do_read, 0},
    [XS_GET_PERMS] = {"GET_PERMS", do_get_perms, 0},
    [XS_WATCH] = {"WATCH", xst_do_watch, F_NOTID},
    [XS_UNWATCH] = {"UNWATCH", xst_do_unwatch, F_NOTID},
    [XS_TRANSACTION_START] = {"TRANSACTION_START", xst_do_transaction_start, 0},
    [XS_TRANSACTION_END] = {"TRANSACTION_END", xst_do_transaction_end, 0},
    [XS_INTRODUCE] = {"INTRODUCE", do_introduce, F_PRIV},
    [XS_RELEASE] = {"RELEASE", do_release, F_PRIV},
    [XS_GET_DOMAIN_PATH] = {"GET_DOMAIN_PATH", do_get_domain_path, 0},
    [XS_WRITE] = {"WRITE", do_write, 0},
    [XS_MKDIR] = {"MKDIR", do_mkdir, 0},
    [XS_RM] = {"RM", do_rm, 0},
    [XS_SET_PERMS] = {"SET_PERMS", do_set_perms, 0},
    [XS_WATCH_EVENT] = {"WATCH_EVENT", NULL, 0},
    [XS_ERROR] = {"ERROR", NULL, 0},
    [XS_IS_DOMAIN_INTRODUCED] = {"IS_DOMAIN_INTRODUCED", do_is_domain_introduced, F_PRIV},
    [XS_RESUME] = {"RESUME", do_resume, F_PRIV},
    [XS_SET_TARGET] = {"SET_TARGET", do_set_target, F_PRIV},
    [XS_RESET_WATCHES] = {"RESET_WATCHES", do_reset_watches, 0},
    [XS_DIRECTORY_PART] = {"DIRECTORY_PART", do_directory_part, 0},
};

const char *xst_type_name(uint32_t type)
{
    return type < XS_TYPE_COUNT && ops[type].name ? ops[type].name : "**UNKNOWN**";
}

static void trace_io(struct xst_conn *c, const char *dir, const struct xsd_sockmsg *hdr,
                     const char *payload)
{
    FILE *out = c->xs->log ? c->xs->log : stderr;
    fprintf(out, "xenstored: %s conn %u %s (", dir, c->id, xst_type_name(hdr->type));
    for (uint32_t i = 0; i < hdr->len; i++) {
        unsigned char ch = (unsigned char)payload[i];
        fputc(ch == 0 ? ' ' : (ch < 0x20 || ch >= 0x7f) ? '.' : ch, out);
    }
    fputs(")\n", out);
    fflush(out);
}

void xst_trace_out(struct xst_conn *c, const struct xst_out *o)
{
    if (c->xs->trace_io) trace_io(c, "OUT", &o->hdr, o->payload);
}

/* One request: payload has hdr->len bytes (and a nul after them, which is
 * not part of the request). */
void xst_process_message(struct xst_conn *c, const struct xsd_sockmsg *hdr, char *payload)
{
    struct xst_ctx ctx = {0};
    uint32_t type = hdr->type;
    if (c->xs->trace_io) trace_io(c, "IN ", hdr, payload);
    c->req_hdr = *hdr;
    c->req_open = true;
    c->req = NULL;
    if (c->domain) {
        c->req = calloc(1, sizeof(*c->req));
        if (c->req) *c->req = (struct xst_req){.domid = c->id, .refs = 1};
    }
    if (type >= XS_TYPE_COUNT || !ops[type].fn) {
        xst_send_error(c, ENOSYS);
    } else if ((ops[type].flags & F_PRIV) && xst_domain_is_unprivileged(c)) {
        xst_send_error(c, EACCES);
    } else {
        int err = 0;
        struct xst_trans *t = (ops[type].flags & F_NOTID)
                                  ? NULL
                                  : xst_transaction_lookup(c, hdr->tx_id, &err);
        if (err) {
            xst_send_error(c, err);
        } else {
            c->transaction = t;
            int ret = ops[type].fn(&ctx, c, payload, hdr->len);
            if (ret) xst_send_error(c, ret);
            c->transaction = NULL;
        }
    }
    xst_ctx_free(&ctx);
    c->req_open = false;
    xst_req_put(c->xs, c->req); /* this request's own reference */
    c->req = NULL;
}

/* ---- xensim's own requests ----------------------------------------------------------
 */

static int errno_of(const char *s, size_t len)
{
    for (size_t i = 0; i < sizeof(xsd_errors) / sizeof(xsd_errors[0]); i++)
        if (strlen(xsd_errors[i].errstring) + 1 == len &&
            !strcmp(xsd_errors[i].errstring, s))
            return xsd_errors[i].errnum;
    return EINVAL;
}

int xs_xenstore_request(struct xs_xenstore *xs, enum xsd_sockmsg_type type,
                        uint32_t tx_id, const void *payload, size_t len, void *reply,
                        size_t *reply_len)
{
    if (len > XENSTORE_PAYLOAD_MAX) return E2BIG;
    struct xst_conn *c = &xs->internal;
    char *buf = malloc(len + 1);
    if (!buf) return ENOMEM;
    if (len) memcpy(buf, payload, len);
    struct xsd_sockmsg hdr = {
        .type = type, .req_id = 0, .tx_id = tx_id, .len = (uint32_t)len};
    xst_process_message(c, &hdr, buf);
    free(buf);
    int ret = ENOMEM;
    struct xst_out *o = c->out_head;
    if (o && o->hdr.type == XS_ERROR) {
        ret = errno_of(o->payload, o->hdr.len);
    } else if (o) {
        ret = 0;
        if (reply_len) {
            size_t n = o->hdr.len < *reply_len ? o->hdr.len : *reply_len;
            if (reply && n) memcpy(reply, o->payload, n);
            *reply_len = o->hdr.len;
        }
    }
    xst_conn_free_output(c);
    return ret;
}

int xs_xenstore_write(struct xs_xenstore *xs, const char *path, const void *value,
                      size_t len)
{
    size_t plen = strlen(path) + 1;
    if (plen + len > XENSTORE_PAYLOAD_MAX) return E2BIG;
    char buf[XENSTORE_PAYLOAD_MAX];
    memcpy(buf, path, plen);
    if (len) memcpy(buf + plen, value, len);
    return xs_xenstore_request(xs, XS_WRITE, 0, buf, plen + len, NULL, NULL);
}

int xs_xenstore_mknod(struct xs_xenstore *xs, const char *path, const char *perms)
{
    int ret = xs_xenstore_write(xs, path, "", 0);
    if (ret) return ret;
    size_t plen = strlen(path) + 1, qlen = strlen(perms) + 1;
    if (plen + qlen > XENSTORE_PAYLOAD_MAX) return E2BIG;
    char buf[XENSTORE_PAYLOAD_MAX];
    memcpy(buf, path, plen);
    memcpy(buf + plen, perms, qlen);
    for (size_t i = plen; i < plen + qlen; i++)
        if (buf[i] == ' ') buf[i] = '\0';
    return xs_xenstore_request(xs, XS_SET_PERMS, 0, buf, plen + qlen, NULL, NULL);
}

int xs_xenstore_rm(struct xs_xenstore *xs, const char *path)
{
    return xs_xenstore_request(xs, XS_RM, 0, path, strlen(path) + 1, NULL, NULL);
}
