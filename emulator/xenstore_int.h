/* xenstored internals shared by the xenstore_*.c files.  The design follows
 * Xen 4.17's C xenstored (tools/xenstore/xenstored_*.c): a key/value
 * database of node records keyed by path (Xen's TDB), working copies of
 * nodes per request, transactions as a per-transaction overlay of accessed
 * nodes checked by generation count at commit, connections with an input
 * state machine and an output queue.  Nothing here is global: everything
 * hangs off struct xs_xenstore. */
#ifndef XS_XENSTORE_INT_H
#define XS_XENSTORE_INT_H
#include <errno.h> /* before xs_wire.h: it defines xsd_errors[] only with errno.h */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <xen/xen.h>
#include <xen/event_channel.h>
#include <xenstore_lib.h> /* struct xs_permissions, XS_PERM_*, xen/io/xs_wire.h */

#include "xenstore.h"

#define XST_NO_GENERATION UINT64_MAX
/* Xen sizes a node for quotas as its TDB record: a header of a 64-bit
 * generation and three 32-bit counts (24 bytes with padding), the
 * permissions, the value and the children list. */
#define XST_REC_HDR_SIZE 24u
/* Socket clients that stop reading: no more requests are read while this
 * much output is queued, and the connection is closed past the cap (watch
 * events can still pile up when it does not read at all). */
#define XST_OUT_BACKPRESSURE (64u * 1024)
#define XST_OUT_CAP          (1u << 20)

/* ---- request-scoped allocations (Xen's talloc ctx per request) ------------ */

struct xst_ctx {
    struct xst_blk *blocks;
};
void *xst_alloc(struct xst_ctx *ctx, size_t len); /* NULL when out of memory */
char *xst_strdup(struct xst_ctx *ctx, const char *s);
char *xst_printf(struct xst_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void xst_ctx_free(struct xst_ctx *ctx);

/* ---- an intrusive string-keyed hash map (lookups only, never iterated for
 * anything observable, so host hashing cannot leak into behaviour) ---------- */

struct xst_hent {
    struct xst_hent *next;
    char *key;
    uint32_t hash;
};
struct xst_map {
    struct xst_hent **slots;
    size_t mask, count;
};
struct xst_hent *xst_map_get(const struct xst_map *m, const char *key);
int xst_map_put(struct xst_map *m, struct xst_hent *e); /* key already set */
struct xst_hent *xst_map_del(struct xst_map *m, const char *key);
/* Remove and hand every entry to fn (teardown only). */
void xst_map_drain(struct xst_map *m, void (*fn)(struct xst_hent *e));

/* ---- nodes ------------------------------------------------------------------ */

struct xst_perms {
    unsigned num;
    struct xs_permissions *p;
};

/* A stored record: the global database or a transaction's copy. */
struct xst_rec {
    struct xst_hent h; /* key = node path */
    uint64_t generation;
    struct xst_perms perms;
    unsigned datalen, childlen;
    char *data, *children; /* children: names, each nul-terminated, in creation order */
};

/* Accounting of a node as stored: its owner and size (-1: look it up). */
struct xst_acc_data {
    unsigned domid;
    long memory;
};

/* A request's working copy of a node (Xen's struct node). */
struct xst_node {
    const char *name;
    struct xst_node *parent; /* set by construct_node and the tree walk only */
    uint64_t generation;
    struct xst_perms perms;
    unsigned datalen, childlen, childoff;
    char *data, *children;
    struct xst_acc_data acc;
};

/* ---- domains, connections, watches, transactions --------------------------- */

struct xst_conn;

struct xst_domain {
    struct xst_domain *next;
    unsigned domid;
    uint64_t generation; /* store generation when xenstored learnt of it */
    bool introduced, shutdown;
    char path[32]; /* /local/domain/<domid> */
    struct xst_conn *conn;
    evtchn_port_t port;
    int nbentry, nbwatch, nboutstanding;
    long memory;
    bool soft_reported, hard_reported;
};

/* The request a reply or watch event belongs to, for Xen's "outstanding
 * requests" quota: a request of a domain stays outstanding until its reply
 * and every watch event it caused have been written out. */
struct xst_req {
    unsigned domid;
    unsigned refs;
    bool counted; /* its reply was queued and counted as outstanding */
};

struct xst_out {
    struct xst_out *next;
    struct xsd_sockmsg hdr;
    unsigned used; /* bytes of header + payload written */
    bool is_event;
    struct xst_req *req;
    char payload[];
};

struct xst_watch {
    struct xst_watch *next;
    char *node; /* canonical path, or @special */
    char *token;
    bool relative; /* registered relative: events come back relative */
};

struct xst_trans;

/* How bytes move for a connection. read/write return bytes moved (0 when
 * nothing can move now) or -1 when the connection is broken. */
struct xst_transport {
    int (*read)(struct xst_conn *c, void *buf, unsigned len);
    int (*write)(struct xst_conn *c, const void *buf, unsigned len);
    bool (*can_read)(struct xst_conn *c);
    bool (*can_write)(struct xst_conn *c);
    void (*destroy)(struct xst_conn *c);
};

struct xst_conn {
    struct xst_conn *next, *prev; /* the store's list, in creation order */
    struct xs_xenstore *xs;
    unsigned id;               /* domid: 0 for sockets */
    struct xst_domain *domain; /* NULL for socket-like (privileged) connections */
    bool has_target;           /* SET_TARGET: acts for domain target_id too */
    unsigned target_id;
    const struct xst_transport *tp;
    bool ignored;  /* broken: no more input or output (Xen's is_ignored) */
    bool dead;     /* to be freed at the next sweep */
    bool overflow; /* a socket client left too much output unread */
    bool owned;    /* the API caller frees it (xs_xenstore_conn_close), not a sweep */
    /* input state machine */
    struct xsd_sockmsg in_hdr;
    unsigned in_used;
    bool in_hdr_done;
    char *in_buf;
    /* the request being processed */
    struct xsd_sockmsg req_hdr;
    bool req_open; /* no reply sent yet */
    struct xst_req *req;
    /* output */
    struct xst_out *out_head, *out_tail;
    size_t out_bytes;
    /* watches and transactions, in creation order */
    struct xst_watch *watches;
    struct xst_trans *transactions;
    struct xst_trans *transaction; /* of the current request */
    uint32_t next_transaction_id;
    unsigned transaction_started;
    /* transport state */
    int fd;                                 /* socket, or -1 */
    int pollfd_idx;                         /* in xs->pfds during a poll, or -1 */
    struct xenstore_domain_interface *intf; /* ring, or NULL */
    void (*notify)(void *arg, evtchn_port_t port);
    void *notify_arg;
    bool ring_moved;                 /* indexes moved since the last notify */
    unsigned char *mem_in, *mem_out; /* memory transport */
    size_t mem_in_len, mem_in_off, mem_in_cap, mem_out_len, mem_out_cap;
};

struct xst_quota {
    const char *name;
    size_t offset; /* of the int in struct xs_xenstore */
    const char *descr;
};

struct xs_xenstore {
    FILE *log;
    bool trace_io;        /* CONTROL log on|off */
    unsigned corruptions; /* inconsistencies found (xst_corrupt) */
    bool need_sweep;      /* a connection died or overflowed */
    struct xst_map db;
    uint64_t generation;
    struct xst_domain *domains;
    struct xst_conn *conn_head, *conn_tail;
    struct xst_perms release_perms,
        introduce_perms; /* @releaseDomain, @introduceDomain */
    /* Xen 4.17's quota defaults */
    int quota_nb_entry_per_domain, quota_nb_watch_per_domain, quota_max_entry_size,
        quota_max_transaction, quota_nb_perms_per_node, quota_trans_nodes,
        quota_max_path_len, quota_req_outstanding, quota_memory_per_domain_soft,
        quota_memory_per_domain_hard;
    uint8_t hv_domains[DOMID_FIRST_RESERVED / 8]; /* domains the "hypervisor" knows */
    struct xs_sim *sim;                           /* NULL for a standalone store */
    /* How INTRODUCE reaches a domain's ring page (Xen maps it through the
     * grant table); NULL in a standalone store: nothing can be mapped. */
    int (*map_ring)(struct xs_xenstore *xs, unsigned domid,
                    struct xenstore_domain_interface **intf,
                    void (**notify)(void *arg, evtchn_port_t port), void **arg);
    /* xenstored's own changes (initial nodes, toolstack writes, domain
     * removal): Xen passes no connection; this one is privileged and never
     * in the connection list. */
    struct xst_conn internal;
    /* sockets */
    int listen_fd;
    char *socket_path;
    struct pollfd *pfds;
    size_t pfd_cap;
};

/* ---- xenstore_db.c ------------------------------------------------------- */
bool xst_hv_domain_exists(struct xs_xenstore *xs, unsigned domid);
bool xst_is_valid_nodename(struct xs_xenstore *xs, const char *node);
char *xst_get_parent(struct xst_ctx *ctx, const char *node);
const char *xst_implicit_path(const struct xst_conn *c);
char *xst_canonicalize(struct xst_conn *c, struct xst_ctx *ctx, const char *node);
bool xst_domain_is_unprivileged(const struct xst_conn *c);
unsigned xst_perm_for_conn(const struct xst_conn *c, const struct xst_perms *perms);
struct xst_node *xst_read_node(struct xst_conn *c, struct xst_ctx *ctx, const char *name);
bool xst_read_node_can_propagate_errno(int err);
int xst_write_node(struct xst_conn *c, struct xst_node *node, bool no_quota_check);
struct xst_node *xst_get_node(struct xst_conn *c, struct xst_ctx *ctx, const char *name,
                              unsigned perm);
struct xst_node *xst_get_node_canonicalized(struct xst_conn *c, struct xst_ctx *ctx,
                                            const char *name, char **canonical,
                                            unsigned perm);
struct xst_node *xst_create_node(struct xst_conn *c, struct xst_ctx *ctx,
                                 const char *name, const char *data, unsigned datalen);
int xst_rm_node(struct xst_conn *c, struct xst_ctx *ctx, const char *name);
char *xst_perms_to_strings(struct xst_ctx *ctx, const struct xst_perms *perms,
                           unsigned *len);
bool xst_strings_to_perms(struct xs_permissions *perms, unsigned num, const char *strings,
                          const char *end);
/* Tree walk in child order (Xen's walk_node_tree); callbacks return these. */
enum {
    XST_WALK_SUCCESS_STOP = -100,
    XST_WALK_ERROR_STOP = -1,
    XST_WALK_OK = 0,
    XST_WALK_SKIP_CHILDREN = 1,
    XST_WALK_RM_CHILDENTRY = 2,
};
struct xst_walk_funcs {
    int (*enter)(struct xst_ctx *ctx, struct xst_conn *c, struct xst_node *n, void *arg);
    int (*exit)(struct xst_ctx *ctx, struct xst_conn *c, struct xst_node *n, void *arg);
};
int xst_walk_node_tree(struct xst_ctx *ctx, struct xst_conn *c, const char *root,
                       const struct xst_walk_funcs *funcs, void *arg);
/* Raw access to the global database (initial nodes, commit). */
int xst_db_store(struct xs_xenstore *xs, struct xst_conn *c, struct xst_map *map,
                 const char *key, const struct xst_node *node, struct xst_acc_data *acc,
                 bool no_quota_check);
int xst_db_delete(struct xs_xenstore *xs, struct xst_conn *c, struct xst_map *map,
                  const char *key, struct xst_acc_data *acc);
void xst_rec_free(struct xst_rec *r);
void xst_rec_hent_free(struct xst_hent *e);
/* Domains as xenstored sees them. */
struct xst_domain *xst_find_domain(struct xs_xenstore *xs, unsigned domid);
struct xst_domain *xst_alloc_domain(struct xs_xenstore *xs, unsigned domid);
struct xst_domain *xst_find_or_alloc_existing_domain(struct xs_xenstore *xs,
                                                     unsigned domid);
int xst_domain_alloc_permrefs(struct xs_xenstore *xs, struct xst_perms *perms);
int xst_domain_entry_inc(struct xst_conn *c, struct xst_node *node);
void xst_domain_entry_dec(struct xst_conn *c, struct xst_node *node);
int xst_domain_entry_fix(struct xs_xenstore *xs, unsigned domid, int num, bool update);
int xst_domain_entry(const struct xst_conn *c);
int xst_domain_memory_add(struct xs_xenstore *xs, unsigned domid, long mem,
                          bool no_quota_check);
void xst_domain_memory_add_nochk(struct xs_xenstore *xs, unsigned domid, long mem);
void xst_log(struct xs_xenstore *xs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void xst_corrupt(struct xs_xenstore *xs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- xenstore_trans.c (transactions and watches) -------------------------- */
enum xst_access { XST_ACCESS_READ, XST_ACCESS_WRITE, XST_ACCESS_DELETE };
/* Where name lives for c: its transaction's copy or the global database. */
struct xst_map *xst_transaction_map(struct xst_conn *c, const char *name);
int xst_access_node(struct xst_conn *c, struct xst_node *node, enum xst_access type,
                    struct xst_map **map);
void xst_ta_node_created(struct xst_trans *t);
void xst_fail_transaction(struct xst_trans *t);
void xst_transaction_entry_inc(struct xst_trans *t, unsigned domid);
void xst_transaction_entry_dec(struct xst_trans *t, unsigned domid);
struct xst_trans *xst_transaction_lookup(struct xst_conn *c, uint32_t id, int *err);
void xst_conn_delete_all_transactions(struct xst_conn *c);
void xst_conn_delete_all_watches(struct xst_conn *c);
void xst_fire_watches(struct xst_conn *c, struct xst_ctx *ctx, const char *name,
                      struct xst_node *node, bool exact, const struct xst_perms *perms);
void xst_fire_special(struct xs_xenstore *xs, const char *name);
int xst_do_watch(struct xst_ctx *ctx, struct xst_conn *c, char *in, unsigned len);
int xst_do_unwatch(struct xst_ctx *ctx, struct xst_conn *c, char *in, unsigned len);
int xst_do_transaction_start(struct xst_ctx *ctx, struct xst_conn *c, char *in,
                             unsigned len);
int xst_do_transaction_end(struct xst_ctx *ctx, struct xst_conn *c, char *in,
                           unsigned len);

/* ---- xenstore_ops.c --------------------------------------------------------- */
void xst_process_message(struct xst_conn *c, const struct xsd_sockmsg *hdr,
                         char *payload);
void xst_send_reply(struct xst_conn *c, enum xsd_sockmsg_type type, const void *data,
                    unsigned len);
void xst_send_ack(struct xst_conn *c, enum xsd_sockmsg_type type);
void xst_send_error(struct xst_conn *c, int err);
const char *xst_type_name(uint32_t type);
const char *xst_errno_name(int err);
unsigned xst_count_strings(const char *s, unsigned len);
/* Number of nul-terminated strings in in[0, len); starts of the first max. */
unsigned xst_get_strings(char *in, unsigned len, char **vec, unsigned max);
const char *xst_onearg(char *in, unsigned len);

/* ---- xenstore_conn.c -------------------------------------------------------- */
struct xst_conn *xst_conn_new(struct xs_xenstore *xs, const struct xst_transport *tp);
/* Queue a message; payload copied.  Returns the queued message or NULL. */
struct xst_out *xst_queue(struct xst_conn *c, const struct xsd_sockmsg *hdr,
                          const void *payload, bool is_event, struct xst_req *req);
void xst_conn_free_output(struct xst_conn *c);
void xst_conn_ignore(struct xst_conn *c, unsigned err);
void xst_conn_destroy(struct xst_conn *c); /* marks dead; freed by xst_sweep */
void xst_sweep(struct xs_xenstore *xs);
void xst_req_put(struct xs_xenstore *xs, struct xst_req *r);
/* Read and process what c has (at most max messages), write what it can. */
void xst_conn_service(struct xst_conn *c, unsigned max);
void xst_trace_out(struct xst_conn *c, const struct xst_out *o);
/* Xen's introduce_domain + domain_conn_reset: connect domid's ring (found
 * with xs->map_ring), or reset its connection if it is connected already. */
struct xst_domain *xst_introduce_domain(struct xs_xenstore *xs, unsigned domid,
                                        evtchn_port_t port, int *err);
/* Xen's destroy_domain through RELEASE or the domain's death: its
 * connection goes, so do the nodes it owns; @releaseDomain fires if it was
 * introduced. */
void xst_release_domain(struct xs_xenstore *xs, struct xst_domain *d);
/* xs_xenstore_ring_conn for xensim's own domains: freed when released. */
struct xst_conn *xst_ring_conn(struct xs_xenstore *xs, unsigned domid,
                               struct xenstore_domain_interface *intf, evtchn_port_t port,
                               void (*notify)(void *arg, evtchn_port_t port), void *arg,
                               bool owned);
#endif
