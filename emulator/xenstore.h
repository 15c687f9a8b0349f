/* xenstored: the Xen store daemon as xensim's Dom0 runs it, behaving as
 * Xen 4.17's C xenstored does (docs/xenstore.md).  Clients are Unix-socket
 * connections (privileged, as on Xen's socket), guest domains through the
 * xenstore ring page, and in-memory connections for tests and fuzzers.
 * Everything hangs off one struct xs_xenstore; a simulation owns one through
 * sim->xenstore. */
#ifndef XS_XENSTORE_H
#define XS_XENSTORE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <xen/xen.h>
#include <xen/event_channel.h>
#include <xen/io/xs_wire.h>

struct xs_xenstore;
struct xst_conn;
struct xs_sim;
struct xs_domain;

/* A store with the nodes a Xen host has once xenstored and xen-init-dom0
 * ran (/tool/xenstored, /local/domain/0/{domid,name}, /local/pool/0/name).
 * log: where xenstored's own messages go (stderr if NULL). */
struct xs_xenstore *xs_xenstore_new(FILE *log);
/* Closes every connection, removes the listening socket. */
void xs_xenstore_free(struct xs_xenstore *xs);

/* How many times xenstored found its store inconsistent (Xen's corrupt();
 * logged as "xenstored: corruption: ..."): 0 unless there is a bug. */
unsigned xs_xenstore_corruptions(const struct xs_xenstore *xs);

/* The hypervisor's view: domain domid exists (or is gone).  Permissions
 * naming domains that do not exist are ignored, as on Xen. */
void xs_xenstore_set_domain_exists(struct xs_xenstore *xs, unsigned domid, bool exists);

/* A privileged request made by xensim itself (the toolstack's part, tests):
 * 0 and the reply payload (up to *reply_len bytes; *reply_len becomes its
 * full length; reply may be NULL), or the errno of Xen's ERROR reply. */
int xs_xenstore_request(struct xs_xenstore *xs, enum xsd_sockmsg_type type,
                        uint32_t tx_id, const void *payload, size_t len, void *reply,
                        size_t *reply_len);
int xs_xenstore_write(struct xs_xenstore *xs, const char *path, const void *value,
                      size_t len);
/* libxl's mknod: an empty node with permissions perms ("n0 r5", space
 * separated). */
int xs_xenstore_mknod(struct xs_xenstore *xs, const char *path, const char *perms);
int xs_xenstore_rm(struct xs_xenstore *xs, const char *path);

/* ---- connections -------------------------------------------------------- */

/* An in-memory connection.  domid 0: a privileged client like a socket
 * connection.  Otherwise a guest domain's connection (unprivileged): the
 * domain is marked existing and introduced (firing @introduceDomain), as if
 * its ring were this byte stream.  NULL when out of memory or domid is taken.
 * It stays valid (dead after a RELEASE) until xs_xenstore_conn_close. */
struct xst_conn *xs_xenstore_mem_conn(struct xs_xenstore *xs, unsigned domid);
/* Bytes from the client (queued; processed by xs_xenstore_service). */
int xs_xenstore_conn_send(struct xst_conn *c, const void *buf, size_t len);
/* Bytes for the client: up to cap, returns the count. */
size_t xs_xenstore_conn_recv(struct xst_conn *c, void *buf, size_t cap);
/* False once xenstored dropped the connection (bad input, overflow) */
bool xs_xenstore_conn_alive(const struct xst_conn *c);
/* The client hangs up (Xen: socket closed / RELEASE for a domain). */
void xs_xenstore_conn_close(struct xst_conn *c);

/* A domain's shared ring page (struct xenstore_domain_interface), as Xen's
 * INTRODUCE sets it up: indexes reset, notify(arg, port) called after
 * xenstored moved an index.  A domain introduced already keeps its (reset)
 * connection.  Valid until xs_xenstore_conn_close. */
struct xst_conn *xs_xenstore_ring_conn(struct xs_xenstore *xs, unsigned domid,
                                       struct xenstore_domain_interface *intf,
                                       evtchn_port_t port,
                                       void (*notify)(void *arg, evtchn_port_t port),
                                       void *arg);

/* Process everything that can be processed now (memory connections and
 * rings) without blocking. */
void xs_xenstore_service(struct xs_xenstore *xs);

/* ---- the Unix socket --------------------------------------------------------- */

/* Listen on path (an old socket file there is replaced, as Xen does); every
 * client is Dom0-privileged.  0, or -1 with a message in err. */
int xs_xenstore_listen(struct xs_xenstore *xs, const char *path, char *err,
                       size_t errlen);
bool xs_xenstore_listening(const struct xs_xenstore *xs);
/* Accept, read and write on the sockets, waiting up to timeout_ms (-1:
 * forever, 0: not at all).  extra_fd (or -1) is polled too: returns 1 when
 * it became readable, else 0. */
int xs_xenstore_poll(struct xs_xenstore *xs, int timeout_ms, int extra_fd);

/* ---- in a simulation ------------------------------------------------------- */

/* Give the simulation its store (sim->xenstore): domains created from now on
 * get the nodes xl writes, a store ring page and event channel.  With
 * socket_path, the store also listens there (the run then depends on what
 * the socket's clients do, so it is not reproducible). */
int xs_xenstore_attach(struct xs_sim *sim, const char *socket_path, char *err,
                       size_t errlen);
/* xs_sim_destroy: after every domain is gone. */
void xs_xenstore_sim_free(struct xs_sim *sim);
/* Domain life cycle (domain.c): created (before it runs; -1 and err when out
 * of memory), ended (shutdown: @releaseDomain), destroyed. */
int xs_xenstore_domain_created(struct xs_domain *d, char *err, size_t errlen);
void xs_xenstore_domain_ended(struct xs_domain *d);
/* A cancelled suspend: the domain runs on (a later end fires again). */
void xs_xenstore_domain_resumed(struct xs_domain *d);
void xs_xenstore_domain_destroyed(struct xs_domain *d);
/* The run loop, every iteration: serve the domains' rings (two index words
 * checked per domain when idle) and, with a socket, its clients.  When no
 * vCPU could run and no timer is pending, it waits for socket clients
 * instead of letting the run stop with a deadlock. */
void xs_xenstore_sim_poll(struct xs_sim *sim);
/* A PV device between two domains, as xl creates it: frontend directory
 * /local/domain/<front>/device/<class>/<id> (backend, backend-id, state)
 * and backend directory /local/domain/<back>/backend/<class>/<front>/<id>
 * (frontend, frontend-id, online, state), both state 1 (Initialising). */
int xs_xenstore_add_device(struct xs_sim *sim, const char *devclass, unsigned front_domid,
                           unsigned back_domid, unsigned id, char *err, size_t errlen);
/* Guest frame of the store ring page: special page 4 of the top 8, as Xen's
 * HVM domain builder places SPECIALPAGE_XENSTORE. */
uint64_t xs_xenstore_ring_pfn(const struct xs_domain *d);
#endif
