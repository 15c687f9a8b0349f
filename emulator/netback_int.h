/* netback's internals, shared by netback.c (xenbus side: nodes, features,
 * connecting queues, the switch port, pcap), netback_tx.c (the guest's
 * transmit ring) and netback_rx.c (its receive ring and the frames queued
 * for it). */
#ifndef XS_NETBACK_INT_H
#define XS_NETBACK_INT_H
#include <stdbool.h>
#include <stdint.h>

#include "ring_check.h"
#include <xen/io/netif.h>

#include "netback.h"
#include "netswitch.h"
#include "pcap.h"

#define NB_PAGE     4096u
#define NB_ETH_HLEN 14u
/* Linux netback: packets of more than 1 + XEN_NETBK_LEGACY_SLOTS_MAX
 * slots are dropped, a packet still going after fatal_skb_slots following
 * slots is fatal. */
#define NB_LEGACY_SLOTS_MAX XEN_NETIF_NR_SLOTS_MIN
#define NB_FATAL_SLOTS      20u
#define NB_MCAST_MAX        64u /* XEN_NETBK_MCAST_MAX */
#define NB_FRAME_MAX        65535u

/* A FIFO of frames waiting for the guest's rx buffers. */
struct nb_fifo {
    struct xs_netframe *head, *tail;
    unsigned count;
};

struct nb_queue {
    struct netback *nb;
    unsigned idx;
    void *tx_va, *rx_va; /* the shared ring pages */
    grant_handle_t tx_handle, rx_handle;
    netif_tx_back_ring_t tx;
    netif_rx_back_ring_t rx;
    evtchn_port_t tx_port, rx_port; /* the same port unless split */
    struct xs_ring_check tx_chk, rx_chk;
    struct nb_fifo rxq;
};

struct netback {
    struct xs_pvdev *dev;
    char bridge[64];
    uint8_t mac[6];
    unsigned max_queues;
    struct nb_queue queues[XS_NETBACK_MAX_QUEUES];
    unsigned nr_queues;
    /* The frontend's features, read at connect. */
    bool sg, gso_v4, gso_v6, rx_notify, split;
    bool no_csum, ipv6_csum; /* feature-no-csum-offload, feature-ipv6-csum-offload */
    /* xenvif_fatal_tx_err: no ring of this vif is serviced any more. */
    bool disabled;
    /* xs_netback_cfg's freeze_suspended, and its state: frozen from the
     * toolstack's suspend request (seen at store generation seen_gen) until
     * the domain runs again after suspending, or never suspended within
     * XS_SUSPEND_TIMEOUT_NS (the request was withdrawn). */
    bool freeze_suspended, frozen, saw_suspended;
    uint64_t frozen_ns, seen_gen;
    struct xs_netswitch_port port;
    struct xs_pcap *pcap;
    uint8_t mcast[NB_MCAST_MAX][6]; /* XEN_NETIF_EXTRA_TYPE_MCAST_ADD list */
    unsigned nr_mcast;
    struct xs_netframe *frame; /* a transmitted packet, assembled */
    struct xs_netback_stats stats;
};

/* netback.c */
/* A frontend's protocol violation that disables the vif, as Linux's
 * xenvif_fatal_tx_err: reported (domain, device, queue, ring, index). */
void xs_nb_fatal(struct nb_queue *q, const char *ring, RING_IDX idx, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The ring sanitizer gave up on a ring (it reported): disable the vif. */
void xs_nb_disable(struct netback *nb);
/* A frame the guest sent or received, into the pcap file if any. */
void xs_nb_capture(struct netback *nb, const struct xs_netframe *f);

/* netback_csum.c: where a frame's TCP/UDP checksum is. */
struct nb_csum {
    unsigned l4, end; /* the transport header and payload: [l4, end) */
    unsigned field;   /* the checksum field's offset */
    bool udp, v6;
};
/* TCP or UDP over IPv4 (not a fragment) or IPv6 (no extension headers),
 * lengths consistent with the frame's: true and c filled. */
bool xs_nb_csum_locate(const uint8_t *d, unsigned len, struct nb_csum *c);
/* The checksum field set to the pseudo-header's sum (a partial checksum,
 * as Linux's skb_checksum_setup recalculates it for GSO frames). */
void xs_nb_csum_pseudo(uint8_t *d, const struct nb_csum *c);
/* A partial checksum completed (skb_checksum_help). */
void xs_nb_csum_complete(uint8_t *d, const struct nb_csum *c);

/* netback_tx.c */
void xs_nb_tx_service(struct nb_queue *q);
/* Answer every request still on the ring with NETIF_RSP_ERROR (teardown
 * while the frontend lives). */
void xs_nb_tx_fail_all(struct nb_queue *q);

/* netback_rx.c */
/* The switch port's deliver(): queue a frame for the guest. */
void xs_nb_rx_deliver(struct xs_netswitch_port *p, const struct xs_netframe *f);
void xs_nb_rx_service(struct nb_queue *q);
void xs_nb_rx_purge(struct nb_queue *q);
#endif
