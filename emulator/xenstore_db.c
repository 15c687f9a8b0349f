/* xenstored's database: node records keyed by path, path rules,
 * permissions, node creation and removal, and the per-domain accounting
 * behind the quotas.  Behaviour (error codes, inheritance, generation
 * counts, child order) follows Xen 4.17's xenstored_core.c and
 * xenstored_domain.c. */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "xenstore_int.h"

/* ---- request-scoped allocations ------------------------------------------ */

struct xst_blk {
    struct xst_blk *next;
    max_align_t data[];
};

void *xst_alloc(struct xst_ctx *ctx, size_t len)
{
    struct xst_blk *b = malloc(sizeof(*b) + len);
    if (!b) return NULL;
    b->next = ctx->blocks;
    ctx->blocks = b;
    return b->data;
}

char *xst_strdup(struct xst_ctx *ctx, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = xst_alloc(ctx, n);
    if (p) memcpy(p, s, n);
    return p;
}

char *xst_printf(struct xst_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *p = xst_alloc(ctx, (size_t)n + 1);
    if (!p) return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void xst_ctx_free(struct xst_ctx *ctx)
{
    while (ctx->blocks) {
        struct xst_blk *b = ctx->blocks;
        ctx->blocks = b->next;
        free(b);
    }
}

/* ---- hash map ----------------------------------------------------------------- */

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

struct xst_hent *xst_map_get(const struct xst_map *m, const char *key)
{
    if (!m->slots) return NULL;
    uint32_t h = hash_str(key);
    for (struct xst_hent *e = m->slots[h & m->mask]; e; e = e->next)
        if (e->hash == h && !strcmp(e->key, key)) return e;
    return NULL;
}

static int map_grow(struct xst_map *m)
{
    size_t cap = m->slots ? (m->mask + 1) * 2 : 64;
    struct xst_hent **n = calloc(cap, sizeof(*n));
    if (!n) return -1;
    if (m->slots) {
        for (size_t i = 0; i <= m->mask; i++)
            while (m->slots[i]) {
                struct xst_hent *e = m->slots[i];
                m->slots[i] = e->next;
                e->next = n[e->hash & (cap - 1)];
                n[e->hash & (cap - 1)] = e;
            }
        free(m->slots);
    }
    m->slots = n;
    m->mask = cap - 1;
    return 0;
}

int xst_map_put(struct xst_map *m, struct xst_hent *e)
{
    if ((!m->slots || m->count + 1 > (m->mask + 1) / 4 * 3) && map_grow(m)) return -1;
    e->hash = hash_str(e->key);
    e->next = m->slots[e->hash & m->mask];
    m->slots[e->hash & m->mask] = e;
    m->count++;
    return 0;
}

struct xst_hent *xst_map_del(struct xst_map *m, const char *key)
{
    if (!m->slots) return NULL;
    uint32_t h = hash_str(key);
    for (struct xst_hent **p = &m->slots[h & m->mask]; *p; p = &(*p)->next)
        if ((*p)->hash == h && !strcmp((*p)->key, key)) {
            struct xst_hent *e = *p;
            *p = e->next;
            m->count--;
            return e;
        }
    return NULL;
}

void xst_map_drain(struct xst_map *m, void (*fn)(struct xst_hent *e))
{
    if (m->slots)
        for (size_t i = 0; i <= m->mask; i++)
            while (m->slots[i]) {
                struct xst_hent *e = m->slots[i];
                m->slots[i] = e->next;
                fn(e);
            }
    free(m->slots);
    m->slots = NULL;
    m->mask = m->count = 0;
}

/* ---- log ------------------------------------------------------------------- */

void xst_log(struct xs_xenstore *xs, const char *fmt, ...)
{
    FILE *out = xs->log ? xs->log : stderr;
    va_list ap;
    va_start(ap, fmt);
    fputs("xenstored: ", out);
    vfprintf(out, fmt, ap);
    va_end(ap);
    fputc('\n', out);
    fflush(out);
}

/* Xen's corrupt(): the store contradicts itself.  Counted, so tests and
 * fuzzers can tell. */
void xst_corrupt(struct xs_xenstore *xs, const char *fmt, ...)
{
    FILE *out = xs->log ? xs->log : stderr;
    va_list ap;
    va_start(ap, fmt);
    fputs("xenstored: corruption: ", out);
    vfprintf(out, fmt, ap);
    va_end(ap);
    fputc('\n', out);
    fflush(out);
    xs->corruptions++;
}

unsigned xs_xenstore_corruptions(const struct xs_xenstore *xs)
{
    return xs->corruptions;
}

/* ---- domains ------------------------------------------------------------------- */

bool xst_hv_domain_exists(struct xs_xenstore *xs, unsigned domid)
{
    if (domid == 0) return true;
    return domid < DOMID_FIRST_RESERVED && (xs->hv_domains[domid / 8] >> (domid % 8)) & 1;
}

struct xst_domain *xst_find_domain(struct xs_xenstore *xs, unsigned domid)
{
    for (struct xst_domain *d = xs->domains; d; d = d->next)
        if (d->domid == domid) return d;
    return NULL;
}

/* The domain's generation is the store's current count, not a new one: a
 * node written for the domain before it is introduced still counts as
 * younger than the domain. */
struct xst_domain *xst_alloc_domain(struct xs_xenstore *xs, unsigned domid)
{
    struct xst_domain *d = calloc(1, sizeof(*d));
    if (!d) return NULL;
    d->domid = domid;
    d->generation = xs->generation;
    snprintf(d->path, sizeof(d->path), "/local/domain/%u", domid);
    d->next = xs->domains;
    xs->domains = d;
    return d;
}

struct xst_domain *xst_find_or_alloc_existing_domain(struct xs_xenstore *xs,
                                                     unsigned domid)
{
    struct xst_domain *d = xst_find_domain(xs, domid);
    if (!d && xst_hv_domain_exists(xs, domid)) d = xst_alloc_domain(xs, domid);
    return d;
}

static bool domid_is_unprivileged(unsigned domid)
{
    return domid != 0; /* Xen's priv_domid is 0 too */
}

bool xst_domain_is_unprivileged(const struct xst_conn *c)
{
    return c && c->domain && domid_is_unprivileged(c->domain->domid);
}

/* Entries for domains that do not exist are kept but ignored. */
int xst_domain_alloc_permrefs(struct xs_xenstore *xs, struct xst_perms *perms)
{
    for (unsigned i = 0; i < perms->num; i++) {
        unsigned domid = perms->p[i].id;
        if (xst_find_domain(xs, domid)) continue;
        if (!xst_hv_domain_exists(xs, domid))
            perms->p[i].perms |= XS_PERM_IGNORE;
        else if (!xst_alloc_domain(xs, domid))
            return ENOMEM;
    }
    return 0;
}

/* An ACL entry for a domain younger than the node (or gone) is ignored, so
 * a new domain reusing a domid does not inherit its predecessor's rights. */
static void adjust_node_perms(struct xs_xenstore *xs, struct xst_perms *perms,
                              uint64_t generation)
{
    for (unsigned i = 1; i < perms->num; i++) {
        if (perms->p[i].perms & XS_PERM_IGNORE) continue;
        struct xst_domain *d = xst_find_domain(xs, perms->p[i].id);
        if (!d || d->generation > generation) perms->p[i].perms |= XS_PERM_IGNORE;
    }
}

int xst_domain_entry_inc(struct xst_conn *c, struct xst_node *node)
{
    if (!node->perms.num) return 0;
    unsigned domid = node->perms.p[0].id;
    if (c->transaction) {
        xst_transaction_entry_inc(c->transaction, domid);
        return 0;
    }
    struct xst_domain *d = (domid == c->id && c->domain)
                               ? c->domain
                               : xst_find_or_alloc_existing_domain(c->xs, domid);
    if (!d) return ENOMEM;
    d->nbentry++;
    return 0;
}

void xst_domain_entry_dec(struct xst_conn *c, struct xst_node *node)
{
    if (!node->perms.num) return;
    unsigned domid = node->perms.p[0].id;
    if (c->transaction) {
        xst_transaction_entry_dec(c->transaction, domid);
        return;
    }
    struct xst_domain *d =
        (domid == c->id && c->domain) ? c->domain : xst_find_domain(c->xs, domid);
    if (d)
        d->nbentry--;
    else
        xst_corrupt(c->xs, "node \"%s\" owned by non-existing domain %u", node->name,
                    domid);
}

int xst_domain_entry_fix(struct xs_xenstore *xs, unsigned domid, int num, bool update)
{
    struct xst_domain *d = update ? xst_find_domain(xs, domid)
                                  : xst_find_or_alloc_existing_domain(xs, domid);
    if (!d) return -1;
    int cnt = d->nbentry + num;
    if (update)
        d->nbentry = cnt < 0 ? 0 : cnt;
    else if (cnt < 0)
        cnt = 0; /* a conflicting change outside: the commit fails anyway */
    return domid_is_unprivileged(domid) ? cnt : 0;
}

int xst_domain_entry(const struct xst_conn *c)
{
    return xst_domain_is_unprivileged(c) ? c->domain->nbentry : 0;
}

/* Xen's domain_chk_quota without the host-clock throttling of messages. */
static bool domain_over_hard_quota(struct xs_xenstore *xs, struct xst_domain *d, long mem)
{
    if (!domid_is_unprivileged(d->domid) || (d->conn && d->conn->ignored)) return false;
    if (xs->quota_memory_per_domain_hard && mem >= xs->quota_memory_per_domain_hard) {
        if (!d->hard_reported)
            xst_log(xs,
                    "domain %u exceeds hard memory quota, Xenstore interface to domain "
                    "stalled",
                    d->domid);
        d->hard_reported = true;
        return true;
    }
    if (d->hard_reported)
        xst_log(xs, "domain %u below hard memory quota again", d->domid);
    d->hard_reported = false;
    bool soft =
        xs->quota_memory_per_domain_soft && mem >= xs->quota_memory_per_domain_soft;
    if (soft && !d->soft_reported)
        xst_log(xs, "domain %u exceeds soft memory quota", d->domid);
    if (!soft && d->soft_reported)
        xst_log(xs, "domain %u below soft memory quota again", d->domid);
    d->soft_reported = soft;
    return false;
}

int xst_domain_memory_add(struct xs_xenstore *xs, unsigned domid, long mem,
                          bool no_quota_check)
{
    struct xst_domain *d = xst_find_domain(xs, domid);
    if (!d) {
        xst_corrupt(xs, "accounting called for non-existing domain %u", domid);
        return ENOENT;
    }
    if (domain_over_hard_quota(xs, d, d->memory + mem) && !no_quota_check) return ENOMEM;
    d->memory += mem;
    return 0;
}

void xst_domain_memory_add_nochk(struct xs_xenstore *xs, unsigned domid, long mem)
{
    struct xst_domain *d = xst_find_domain(xs, domid);
    if (d) d->memory += mem;
}

/* ---- paths ------------------------------------------------------------------------ */

static bool valid_chars(const char *node)
{
    for (; *node; node++)
        if (!isalnum((unsigned char)*node) && !strchr("-/_@", *node)) return false;
    return true;
}

/* Length of a leading "/local/domain/<domid>/" as Xen's
 * sscanf("/local/domain/%5u/%n") finds it (the sign counts in the width),
 * or 0. */
static size_t local_domain_prefix(const char *node)
{
    static const char pfx[] = "/local/domain/";
    size_t i = sizeof(pfx) - 1;
    if (strncmp(node, pfx, i)) return 0;
    while (isspace((unsigned char)node[i]))
        i++;
    size_t width = 0, digits = 0;
    if (node[i] == '-' || node[i] == '+') i++, width++;
    while (width < 5 && isdigit((unsigned char)node[i]))
        i++, width++, digits++;
    return digits && node[i] == '/' ? i + 1 : 0;
}

bool xst_is_valid_nodename(struct xs_xenstore *xs, const char *node)
{
    size_t len = strlen(node);
    if (node[0] != '/') return false;
    if (node[len - 1] == '/' && len != 1) return false;
    if (strstr(node, "//")) return false;
    if (len > local_domain_prefix(node) + (size_t)xs->quota_max_path_len) return false;
    return valid_chars(node);
}

char *xst_get_parent(struct xst_ctx *ctx, const char *node)
{
    const char *slash = node[0] ? strrchr(node + 1, '/') : NULL;
    if (!slash) return xst_strdup(ctx, "/");
    return xst_printf(ctx, "%.*s", (int)(slash - node), node);
}

static const char *basename_of(const char *name)
{
    return strrchr(name, '/') + 1;
}

/* Sockets are Dom0's: their relative paths start at /local/domain/0. */
const char *xst_implicit_path(const struct xst_conn *c)
{
    return c->domain ? c->domain->path : "/local/domain/0";
}

char *xst_canonicalize(struct xst_conn *c, struct xst_ctx *ctx, const char *node)
{
    if (!node || node[0] == '/' || node[0] == '@') return (char *)node;
    return xst_printf(ctx, "%s/%s", xst_implicit_path(c), node);
}

/* ---- permissions ------------------------------------------------------------------- */

unsigned xst_perm_for_conn(const struct xst_conn *c, const struct xst_perms *perms)
{
    const unsigned mask = XS_PERM_READ | XS_PERM_WRITE | XS_PERM_OWNER;
    if (!perms->num) return XS_PERM_NONE;
    /* Owners and the privileged get it all. */
    if (!xst_domain_is_unprivileged(c) || perms->p[0].id == c->id ||
        (c->has_target && perms->p[0].id == c->target_id))
        return mask;
    for (unsigned i = 1; i < perms->num; i++)
        if (!(perms->p[i].perms & XS_PERM_IGNORE) &&
            (perms->p[i].id == c->id ||
             (c->has_target && perms->p[i].id == c->target_id)))
            return perms->p[i].perms & mask;
    /* The owner's entry is what everybody else gets. */
    return perms->p[0].perms & mask;
}

static char perm_letter(unsigned perms)
{
    switch (perms & ~XS_PERM_IGNORE) {
    case XS_PERM_WRITE:
        return 'w';
    case XS_PERM_READ:
        return 'r';
    case XS_PERM_READ | XS_PERM_WRITE:
        return 'b';
    case XS_PERM_NONE:
        return 'n';
    default:
        return 0;
    }
}

/* "b0\0r3\0" as GET_PERMS returns them; ignored entries are still shown. */
char *xst_perms_to_strings(struct xst_ctx *ctx, const struct xst_perms *perms,
                           unsigned *len)
{
    char *out = xst_alloc(ctx, (size_t)perms->num * 13 + 1);
    if (!out) return NULL;
    *len = 0;
    for (unsigned i = 0; i < perms->num; i++) {
        char l = perm_letter(perms->p[i].perms);
        if (!l) return NULL;
        *len += (unsigned)sprintf(out + *len, "%c%i", l, (int)perms->p[i].id) + 1;
    }
    return out;
}

/* Parse num nul-terminated permission strings (the caller counted them in
 * [strings, end)); Xen's xs_strings_to_perms, base prefixes included. */
bool xst_strings_to_perms(struct xs_permissions *perms, unsigned num, const char *strings,
                          const char *end)
{
    const char *p = strings;
    for (unsigned i = 0; i < num; i++) {
        if (p >= end || !memchr(p, 0, (size_t)(end - p))) return false;
        switch (*p) {
        case 'r':
            perms[i].perms = XS_PERM_READ;
            break;
        case 'w':
            perms[i].perms = XS_PERM_WRITE;
            break;
        case 'b':
            perms[i].perms = XS_PERM_READ | XS_PERM_WRITE;
            break;
        case 'n':
            perms[i].perms = XS_PERM_NONE;
            break;
        default:
            return false;
        }
        p++;
        char *e;
        perms[i].id = (unsigned)strtol(p, &e, 0);
        if (*e || !*p) return false;
        p = e + 1;
    }
    return true;
}

/* ---- records --------------------------------------------------------------------- */

static long rec_size(unsigned nperms, unsigned datalen, unsigned childlen)
{
    return (long)XST_REC_HDR_SIZE + (long)nperms * (long)sizeof(struct xs_permissions) +
           datalen + childlen;
}

void xst_rec_free(struct xst_rec *r)
{
    if (!r) return;
    free(r->h.key);
    free(r->perms.p);
    free(r->data);
    free(r->children);
    free(r);
}

void xst_rec_hent_free(struct xst_hent *e)
{
    xst_rec_free((struct xst_rec *)e);
}

static void *dup_bytes(const void *p, size_t n)
{
    void *q = malloc(n ? n : 1);
    if (q && n) memcpy(q, p, n);
    return q;
}

/* Xen's do_tdb_write: store node under key in map, moving its memory
 * accounting from the old owner to the new one.  Records in a transaction's
 * map are accounted to the transaction's connection. */
int xst_db_store(struct xs_xenstore *xs, struct xst_conn *c, struct xst_map *map,
                 const char *key, const struct xst_node *node, struct xst_acc_data *acc,
                 bool no_quota_check)
{
    bool global = map == &xs->db;
    struct xst_rec *old = (struct xst_rec *)xst_map_get(map, key);
    struct xst_acc_data old_acc = acc ? *acc : (struct xst_acc_data){0, -1};
    if (old_acc.memory < 0) {
        old_acc.memory = old ? rec_size(old->perms.num, old->datalen, old->childlen) : 0;
        old_acc.domid = old && old->perms.num ? old->perms.p[0].id : 0;
    }
    unsigned old_domid = global ? old_acc.domid : c->id;
    unsigned new_domid = global ? node->perms.p[0].id : c->id;
    long keylen = (long)strlen(key);
    long size = rec_size(node->perms.num, node->datalen, node->childlen);
    if (old_acc.memory)
        xst_domain_memory_add_nochk(xs, old_domid, -old_acc.memory - keylen);
    int ret = xst_domain_memory_add(xs, new_domid, size + keylen, no_quota_check);
    struct xst_rec *r = ret ? NULL : calloc(1, sizeof(*r));
    if (r) {
        r->h.key = strdup(key);
        r->perms.p = dup_bytes(node->perms.p, node->perms.num * sizeof(*node->perms.p));
        r->data = dup_bytes(node->data, node->datalen);
        r->children = dup_bytes(node->children, node->childlen);
    }
    if (!ret && (!r || !r->h.key || !r->perms.p || !r->data || !r->children)) {
        xst_rec_free(r);
        xst_domain_memory_add_nochk(xs, new_domid, -size - keylen);
        ret = ENOMEM;
    }
    if (ret) {
        if (old_acc.memory)
            xst_domain_memory_add_nochk(xs, old_domid, old_acc.memory + keylen);
        return ret;
    }
    r->generation = node->generation;
    r->perms.num = node->perms.num;
    r->datalen = node->datalen;
    r->childlen = node->childlen;
    if (old) xst_rec_free((struct xst_rec *)xst_map_del(map, key));
    if (xst_map_put(map, &r->h)) {
        xst_rec_free(r);
        xst_domain_memory_add_nochk(xs, new_domid, -size - keylen);
        return ENOMEM;
    }
    if (acc) *acc = (struct xst_acc_data){node->perms.p[0].id, size};
    return 0;
}

/* Xen's do_tdb_delete: EIO when there is nothing under key. */
int xst_db_delete(struct xs_xenstore *xs, struct xst_conn *c, struct xst_map *map,
                  const char *key, struct xst_acc_data *acc)
{
    struct xst_rec *r = (struct xst_rec *)xst_map_del(map, key);
    if (!r) return EIO;
    struct xst_acc_data a =
        acc && acc->memory >= 0
            ? *acc
            : (struct xst_acc_data){r->perms.num ? r->perms.p[0].id : 0,
                                    rec_size(r->perms.num, r->datalen, r->childlen)};
    if (a.memory)
        xst_domain_memory_add_nochk(xs, map == &xs->db ? a.domid : c->id,
                                    -a.memory - (long)strlen(key));
    if (acc) *acc = a;
    xst_rec_free(r);
    return 0;
}

/* ---- nodes ---------------------------------------------------------------------- */

static void *ctx_dup(struct xst_ctx *ctx, const void *p, size_t n)
{
    void *q = xst_alloc(ctx, n);
    if (q && n) memcpy(q, p, n);
    return q;
}

bool xst_read_node_can_propagate_errno(int err)
{
    /* Out of memory and quota errors say nothing about the node. */
    return err == ENOMEM || err == ENOSPC;
}

/* Xen's read_node: a working copy of name as c sees it (its transaction's
 * copy if it has one).  In a transaction the access is recorded, found or
 * not.  NULL with *err = ENOENT (or the recording's error). */
static struct xst_node *read_node_err(struct xst_conn *c, struct xst_ctx *ctx,
                                      const char *name, int *err)
{
    struct xst_node *node = xst_alloc(ctx, sizeof(*node));
    if (node) memset(node, 0, sizeof(*node));
    if (!node || !(node->name = xst_strdup(ctx, name))) {
        *err = ENOMEM;
        return NULL;
    }
    struct xst_rec *r = (struct xst_rec *)xst_map_get(xst_transaction_map(c, name), name);
    if (!r) {
        node->generation = XST_NO_GENERATION;
        int e = xst_access_node(c, node, XST_ACCESS_READ, NULL);
        *err = e ? e : ENOENT;
        return NULL;
    }
    node->generation = r->generation;
    node->perms.num = r->perms.num;
    node->perms.p = ctx_dup(ctx, r->perms.p, r->perms.num * sizeof(*r->perms.p));
    node->datalen = r->datalen;
    node->data = ctx_dup(ctx, r->data, r->datalen);
    node->childlen = r->childlen;
    node->children = ctx_dup(ctx, r->children, r->childlen);
    if (!node->perms.p || !node->data || !node->children) {
        *err = ENOMEM;
        return NULL;
    }
    node->acc = (struct xst_acc_data){r->perms.p[0].id,
                                      rec_size(r->perms.num, r->datalen, r->childlen)};
    adjust_node_perms(c->xs, &node->perms, node->generation);
    int e = xst_access_node(c, node, XST_ACCESS_READ, NULL);
    if (e) {
        *err = e;
        return NULL;
    }
    return node;
}

struct xst_node *xst_read_node(struct xst_conn *c, struct xst_ctx *ctx, const char *name)
{
    int err;
    struct xst_node *n = read_node_err(c, ctx, name, &err);
    if (!n) errno = err;
    return n;
}

/* Xen's write_node_raw: the unprivileged may not store records of
 * quota_max_entry_size bytes or more; any storage failure reads EIO. */
static int write_node_raw(struct xst_conn *c, struct xst_map *map, struct xst_node *node,
                          bool no_quota_check)
{
    struct xs_xenstore *xs = c->xs;
    adjust_node_perms(xs, &node->perms, node->generation);
    if (!no_quota_check && xst_domain_is_unprivileged(c) &&
        rec_size(node->perms.num, node->datalen, node->childlen) >=
            xs->quota_max_entry_size)
        return ENOSPC;
    if (xst_db_store(xs, c, map, node->name, node, &node->acc, no_quota_check))
        return EIO;
    return 0;
}

/* Which map a node was last written to, for undoing a failed create. */
struct written {
    struct xst_node *node;
    struct xst_map *map;
};

static int write_node_map(struct xst_conn *c, struct xst_node *node, bool no_quota_check,
                          struct xst_map **used)
{
    struct xst_map *map;
    int ret = xst_access_node(c, node, XST_ACCESS_WRITE, &map);
    if (ret) return ret;
    ret = write_node_raw(c, map, node, no_quota_check);
    /* Undoing the access record is hard: the transaction fails instead. */
    if (ret && c->transaction) xst_fail_transaction(c->transaction);
    if (used) *used = map;
    return ret;
}

int xst_write_node(struct xst_conn *c, struct xst_node *node, bool no_quota_check)
{
    return write_node_map(c, node, no_quota_check, NULL);
}

/* We tell nothing about a node c may not see: a failure reads EACCES
 * unless the nearest existing ancestor grants some of perm. */
static int errno_from_parents(struct xst_conn *c, struct xst_ctx *ctx, const char *name,
                              int err, unsigned perm)
{
    if (err == ENOMEM) return err;
    struct xst_node *node = NULL;
    int e = 0;
    do {
        name = xst_get_parent(ctx, name);
        if (!name) return ENOMEM;
        node = read_node_err(c, ctx, name, &e);
        if (node) break;
        if (xst_read_node_can_propagate_errno(e)) return e;
    } while (strcmp(name, "/"));
    if (!node) {
        xst_corrupt(c->xs, "no permissions file at root");
        return EACCES;
    }
    return (xst_perm_for_conn(c, &node->perms) & perm) ? err : EACCES;
}

struct xst_node *xst_get_node(struct xst_conn *c, struct xst_ctx *ctx, const char *name,
                              unsigned perm)
{
    if (!name || !xst_is_valid_nodename(c->xs, name)) {
        errno = EINVAL;
        return NULL;
    }
    int err = 0;
    struct xst_node *node = read_node_err(c, ctx, name, &err);
    if (node && (xst_perm_for_conn(c, &node->perms) & perm) != perm) {
        err = EACCES;
        node = NULL;
    }
    if (!node && !xst_read_node_can_propagate_errno(err))
        err = errno_from_parents(c, ctx, name, err, perm);
    if (!node) errno = err;
    return node;
}

/* A missing or malformed argument is EINVAL (Xen 4.17 returned a stale
 * errno here; later Xen made it EINVAL). */
struct xst_node *xst_get_node_canonicalized(struct xst_conn *c, struct xst_ctx *ctx,
                                            const char *name, char **canonical,
                                            unsigned perm)
{
    char *tmp;
    if (!canonical) canonical = &tmp;
    *canonical = xst_canonicalize(c, ctx, name);
    if (!*canonical) {
        errno = name ? ENOMEM : EINVAL;
        return NULL;
    }
    return xst_get_node(c, ctx, *canonical, perm);
}

static int add_child(struct xst_ctx *ctx, struct xst_node *parent, const char *name)
{
    const char *base = basename_of(name);
    size_t baselen = strlen(base) + 1;
    char *children = xst_alloc(ctx, parent->childlen + baselen);
    if (!children) return ENOMEM;
    if (parent->childlen) memcpy(children, parent->children, parent->childlen);
    memcpy(children + parent->childlen, base, baselen);
    parent->children = children;
    parent->childlen += (unsigned)baselen;
    return 0;
}

/* The missing nodes of name, bottom node returned: each inherits its
 * parent's permissions, and an unprivileged creator owns what it creates. */
static struct xst_node *construct_node(struct xst_conn *c, struct xst_ctx *ctx,
                                       const char *name, int *err)
{
    size_t max = 1;
    for (const char *p = name; *p; p++)
        max += *p == '/';
    const char **names = xst_alloc(ctx, max * sizeof(*names));
    if (!names) goto nomem;
    size_t levels = 0;
    struct xst_node *parent = NULL, *node = NULL;
    const char *parentname = name;
    while (!parent) {
        if (levels >= max) goto nomem; /* cannot happen: one level per slash */
        names[levels] = parentname;
        parentname = xst_get_parent(ctx, parentname);
        if (!parentname) goto nomem;
        parent = read_node_err(c, ctx, parentname, err);
        if (!parent && (*err != ENOENT || !strcmp(parentname, "/"))) return NULL;
        levels++;
    }
    for (; levels > 0; levels--) {
        if (add_child(ctx, parent, names[levels - 1])) goto nomem;
        node = xst_alloc(ctx, sizeof(*node));
        if (!node) goto nomem;
        memset(node, 0, sizeof(*node));
        node->name = names[levels - 1];
        node->perms.num = parent->perms.num;
        node->perms.p =
            ctx_dup(ctx, parent->perms.p, parent->perms.num * sizeof(*parent->perms.p));
        if (!node->perms.p) goto nomem;
        if (xst_domain_is_unprivileged(c)) node->perms.p[0].id = c->id;
        node->data = node->children = NULL;
        node->acc.memory = 0;
        node->parent = parent;
        parent = node;
    }
    return node;
nomem:
    *err = ENOMEM;
    return NULL;
}

/* Nodes are written bottom up; new ones are counted against the creator's
 * node quota.  On failure the new nodes written so far are removed. */
struct xst_node *xst_create_node(struct xst_conn *c, struct xst_ctx *ctx,
                                 const char *name, const char *data, unsigned datalen)
{
    int err = 0;
    struct xst_node *node = construct_node(c, ctx, name, &err);
    if (!node) {
        errno = err;
        return NULL;
    }
    if (c->transaction) xst_ta_node_created(c->transaction);
    node->data = (char *)data;
    node->datalen = datalen;
    size_t depth = 0;
    for (struct xst_node *i = node; i; i = i->parent)
        depth++;
    struct written *done = xst_alloc(ctx, depth * sizeof(*done));
    if (!done) {
        errno = ENOMEM;
        return NULL;
    }
    size_t ndone = 0;
    int ret = 0;
    for (struct xst_node *i = node; i; i = i->parent) {
        if (i->parent && xst_domain_entry(c) >= c->xs->quota_nb_entry_per_domain) {
            ret = ENOSPC;
            break;
        }
        struct xst_map *map = NULL;
        ret = write_node_map(c, i, false, &map);
        if (ret) break;
        done[ndone++] = (struct written){i, map};
        if (i->parent && xst_domain_entry_inc(c, i)) {
            xst_db_delete(c->xs, c, map, i->name, &i->acc);
            ndone--;
            ret = ENOMEM;
            break;
        }
    }
    if (!ret) return node;
    /* Only new nodes were written before the failing one. */
    for (size_t k = 0; k < ndone; k++) {
        xst_db_delete(c->xs, c, done[k].map, done[k].node->name, &done[k].node->acc);
        xst_domain_entry_dec(c, done[k].node);
        if (c->transaction) xst_fail_transaction(c->transaction);
    }
    errno = ret;
    return NULL;
}

/* ---- removal and the tree walk ------------------------------------------------ */

static int remove_child_entry(struct xst_conn *c, struct xst_node *node, size_t offset)
{
    size_t len = strlen(node->children + offset) + 1;
    memmove(node->children + offset, node->children + offset + len,
            node->childlen - offset - len);
    node->childlen -= (unsigned)len;
    return xst_write_node(c, node, true);
}

static int delete_child(struct xst_conn *c, struct xst_node *node, const char *childname)
{
    for (unsigned i = 0; i < node->childlen;
         i += (unsigned)strlen(node->children + i) + 1)
        if (!strcmp(node->children + i, childname))
            return remove_child_entry(c, node, i) ? EIO : 0;
    xst_corrupt(c->xs, "can't find child '%s' in %s", childname, node->name);
    return EIO;
}

static int rm_from_parent(struct xst_conn *c, struct xst_node *parent)
{
    if (!parent) return XST_WALK_ERROR_STOP;
    size_t off = parent->childoff - 1;
    while (off && parent->children[off - 1])
        off--;
    if (remove_child_entry(c, parent, off)) {
        xst_corrupt(c->xs, "treewalk: child entry could not be removed from '%s'",
                    parent->name);
        return XST_WALK_ERROR_STOP;
    }
    parent->childoff = (unsigned)off;
    return XST_WALK_OK;
}

static int walk_call(struct xst_ctx *ctx, struct xst_conn *c, struct xst_node *node,
                     struct xst_node *parent, void *arg,
                     int (*fn)(struct xst_ctx *, struct xst_conn *, struct xst_node *,
                               void *))
{
    if (!fn) return XST_WALK_OK;
    int ret = fn(ctx, c, node, arg);
    if (ret == XST_WALK_RM_CHILDENTRY && parent) ret = rm_from_parent(c, parent);
    return ret;
}

static char *child_name(struct xst_ctx *ctx, const char *s1, const char *s2)
{
    return strcmp(s1, "/") ? xst_printf(ctx, "%s/%s", s1, s2)
                           : xst_printf(ctx, "/%s", s2);
}

/* Depth first from root, children in their stored order: enter before a
 * node's children, exit after them. */
int xst_walk_node_tree(struct xst_ctx *ctx, struct xst_conn *c, const char *root,
                       const struct xst_walk_funcs *funcs, void *arg)
{
    int ret = 0;
    const char *name = root;
    struct xst_node *node = NULL, *parent = NULL;
    while (ret >= 0) {
        if (node) {
            if (ret || node->childoff >= node->childlen) {
                parent = node->parent;
                ret = walk_call(ctx, c, node, parent, arg, funcs->exit);
                if (!parent) break;
                node = parent;
                continue;
            }
            name = child_name(ctx, node->name, node->children + node->childoff);
            if (!name) {
                ret = XST_WALK_ERROR_STOP;
                break;
            }
            node->childoff += (unsigned)strlen(node->children + node->childoff) + 1;
            parent = node;
        }
        int err;
        node = read_node_err(c, ctx, name, &err);
        if (!node) {
            errno = err;
            ret = XST_WALK_ERROR_STOP;
            break;
        }
        node->parent = parent;
        node->childoff = 0;
        ret = walk_call(ctx, c, node, parent, arg, funcs->enter);
    }
    return ret < 0 ? ret : XST_WALK_OK;
}

struct rm_arg {
    const char *root;
    int err;
};

static int delnode_sub(struct xst_ctx *ctx, struct xst_conn *c, struct xst_node *node,
                       void *arg)
{
    struct rm_arg *a = arg;
    struct xst_map *map = NULL;
    int ret = xst_access_node(c, node, XST_ACCESS_DELETE, &map);
    if (ret > 0) {
        a->err = ret;
        return XST_WALK_SUCCESS_STOP;
    }
    if (!ret && xst_db_delete(c->xs, c, map, node->name, &node->acc)) {
        a->err = EIO;
        return XST_WALK_SUCCESS_STOP;
    }
    /* Fire now, while the node's permissions can still be seen; below the
     * removed root only watches on exactly this node fire. */
    xst_fire_watches(c, ctx, node->name, node, strcmp(a->root, node->name) != 0, NULL);
    xst_domain_entry_dec(c, node);
    return XST_WALK_RM_CHILDENTRY;
}

int xst_rm_node(struct xst_conn *c, struct xst_ctx *ctx, const char *name)
{
    char *parentname = xst_get_parent(ctx, name);
    if (!parentname) return ENOMEM;
    int err;
    struct xst_node *parent = read_node_err(c, ctx, parentname, &err);
    if (!parent) return xst_read_node_can_propagate_errno(err) ? err : EINVAL;
    struct rm_arg a = {name, 0};
    const struct xst_walk_funcs f = {.exit = delnode_sub};
    int ret = xst_walk_node_tree(ctx, c, name, &f, &a);
    if (ret < 0) {
        if (ret == XST_WALK_ERROR_STOP) {
            xst_corrupt(c->xs, "error when deleting sub-nodes of %s", name);
            return EIO;
        }
        return a.err ? a.err : EIO;
    }
    return delete_child(c, parent, basename_of(name));
}
