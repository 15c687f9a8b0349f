/* netback: xensim's PV network backend (class "vif"), speaking
 * <xen/io/netif.h> as Linux's xen-netback does: rx-copy, scatter-gather,
 * GSO extra-info slots, multi-queue, split event channels, the slot
 * accounting and request checks of xenvif_count_requests / get_extras /
 * tx_build_gops.  Each vif is a port of a simulated switch (netswitch.h)
 * and may capture what its guest sent and received into a pcap file
 * (docs/devices.md, "Network"). */
#ifndef XS_NETBACK_H
#define XS_NETBACK_H
#include <stdbool.h>
#include <stdint.h>

#include "pvdev.h"

#define XS_NETBACK_MAX_QUEUES     8u /* Linux's MAX_QUEUES_DEFAULT */
#define XS_NETBACK_DEFAULT_QUEUES 4u
#define XS_NETBACK_DEFAULT_SWITCH "xenbr0"
#define XS_NETBACK_MTU            1500u
#define XS_NETBACK_RXQ_MAX        256u /* frames waiting per rx queue */

/* A vif's toolstack settings (xs_pvdev_add's cfg for "vif"). */
struct xs_netback_cfg {
    const char *bridge;  /* the switch, NULL: xenbr0 */
    uint8_t mac[6];      /* the guest's MAC ... */
    bool mac_set;        /* ... or, if not set, xs_netback_default_mac */
    const char *pcap;    /* capture file, or NULL */
    bool pcap_append;    /* continue an existing capture (a restore) */
    unsigned max_queues; /* multi-queue-max-queues, 0: the default */
    /* From the toolstack's suspend request until the domain runs again
     * (a cancel) or is gone (a resume), the rings are left alone (default:
     * they are served, as Linux's netback serves them until the domain is
     * destroyed): a backend paused before its guest.  Requests the guest
     * queues meanwhile are answered by nobody; frames for it wait. */
    bool freeze_suspended;
};

extern const struct xs_pvdev_kind xs_netback_kind;

/* What a vif did, from the guest's side: tx is what it sent, rx what it
 * received. */
struct xs_netback_stats {
    uint64_t tx_frames, tx_bytes; /* frames sent to the switch */
    uint64_t tx_errors;           /* tx requests answered NETIF_RSP_ERROR */
    uint64_t tx_dropped;          /* packets refused (each slot answered with an error) */
    uint64_t tx_gso;              /* frames sent with a GSO extra */
    uint64_t mcast;               /* multicast add/del requests */
    uint64_t rx_frames, rx_bytes; /* frames copied into the guest's rx buffers */
    uint64_t rx_dropped; /* frames for the guest not delivered (queue full, too big,
                            still queued when the vif disconnected) */
    uint64_t rx_errors;  /* rx slots answered with an error (grant copy failed) */
    uint64_t fatal;      /* times the vif was disabled (xenvif_fatal_tx_err) */
    uint64_t connects;
};
const struct xs_netback_stats *xs_netback_stats(const struct xs_pvdev *dev);
/* Queues connected now (0 when not connected). */
unsigned xs_netback_nr_queues(const struct xs_pvdev *dev);
/* Did a fatal error disable the vif (until the frontend reconnects)? */
bool xs_netback_disabled(const struct xs_pvdev *dev);
/* The switch port's number, 0 when not attached. */
unsigned xs_netback_port(const struct xs_pvdev *dev);

/* The rx queue (of nr_queues) a frame for the guest goes to: a
 * deterministic flow hash (netback_rx.c). */
struct xs_netframe;
unsigned xs_netback_rx_queue_of(const struct xs_netframe *f, unsigned nr_queues);

/* "00:16:3e:01:02:03" (hex pairs, ':' separated) into mac: 0, or -1. */
int xs_netback_parse_mac(const char *s, uint8_t mac[6]);
/* xl's prefix 00:16:3e, then bytes derived from domid and device id:
 * 00:16:3e:DD:DD:II (domid high/low byte with the top bit clear, id). */
void xs_netback_default_mac(unsigned domid, unsigned id, uint8_t mac[6]);
#endif
