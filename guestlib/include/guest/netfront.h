/* netfront: the PV network frontend (<xen/io/netif.h>), as Linux's
 * xen-netfront talks to a backend.
 *
 * netfront_open() runs the handshake for one "vif" device: reads the MAC
 * the toolstack wrote (device/vif/<id>/mac), waits for the backend's
 * InitWait, reads its features (feature-rx-copy, which is required,
 * feature-sg, feature-gso-tcpv4, feature-split-event-channels,
 * multi-queue-max-queues), sets up one tx and one rx ring (a page each)
 * and one or two event channels per queue, writes tx-ring-ref,
 * rx-ring-ref, event-channel or event-channel-tx/-rx (under queue-N/ with
 * multi-queue-num-queues when there are several queues), request-rx-copy,
 * feature-rx-notify, feature-sg, feature-gso-tcpv4 and
 * feature-no-csum-offload in one transaction, fills every rx ring with
 * granted pages, goes Connected (as Linux does, without Initialised) and
 * waits for the backend's Connected.
 *
 * Waits run xenstore watch callbacks between polls, so a backend that
 * goes Closing (hot-unplug) is seen within a millisecond: sends and
 * receives then fail with -XEN_EIO.
 *
 * Transmit copies the frame into pages each tx ring slot owns (granted
 * read-only once, kept until close), at the caller's offset within a
 * page, so a frame crossing a page boundary or larger than a page goes as
 * several slots: the first carries the frame's total size, every slot but
 * the last NETTXF_more_data (only with feature-sg; without it a frame must
 * fit one page).  Queues are used in turn.  Receive takes the next frame
 * from the rx rings (queues in turn), reassembling NETRXF_more_data chains
 * (and skipping extra-info slots) into the caller's buffer, then posts the
 * slots' pages again.
 *
 * The backend is not trusted: each response producer is read once per
 * pass and checked against the requests outstanding, each response is
 * copied once and checked (tx: id in flight, status; rx: id of the slot,
 * status, offset + length within the page, extra-info type, chain length
 * at most XEN_NETIF_NR_SLOTS_MIN slots).  A bad response prints
 * "netfront: vif N: bad ..." and marks the device broken: nothing more is
 * sent or received (-XEN_EIO), close still ends every grant.  Error
 * statuses (NETIF_RSP_ERROR, _DROPPED) are counted, not fatal.
 *
 * Suspend and resume (guest/control.h hooks, docs/suspend.md): from the
 * suspend on, netfront_send, _recv, _flush and _close wait (nothing is
 * refused, nothing is put on a ring).  A cancelled suspend goes on with the
 * same rings.  After a resume in a new domain the device reconnects to the
 * new backend before any caller goes on: new rings, new grants, every rx
 * buffer posted again; a frame in flight that the old backend answered
 * (its answer is in the old ring, guest memory) went out, one it did not
 * answer is sent again, in the old order: each frame leaves once.  Frames
 * the old backend had put in the rx ring are dropped and counted
 * (rx_lost), as Linux's netfront drops them.
 *
 * Functions returning long give 0 (or a length) or a negative Xen errno.
 * Call them from one CPU at a time (a send on one CPU and a receive on
 * another is fine). */
#ifndef GUEST_NETFRONT_H
#define GUEST_NETFRONT_H
#include <guest/xen.h>
#include <xen/io/netif.h>

#define NETFRONT_MAX_DEVS   4
#define NETFRONT_MAX_QUEUES 4
#define NETFRONT_MAX_FRAME  XEN_NETIF_MAX_TX_SIZE
#define NETFRONT_ETH_HLEN   14u
#define NETFRONT_TIMEOUT_NS ((uint64_t)1000 * 1000 * 1000)

struct netfront;

/* What the frontend asks for; the backend's offers cap each. */
struct netfront_opts {
    unsigned queues; /* 0 or 1: one queue */
    bool no_sg;      /* do not use feature-sg even if offered */
    bool no_split;   /* one event channel per queue even if split is offered */
};

struct netfront_info {
    unsigned id; /* <id> of device/vif/<id> */
    uint8_t mac[6];
    unsigned backend_id;
    bool sg, gso, split; /* negotiated */
    unsigned nr_queues;
    unsigned tx_ring_size, rx_ring_size; /* slots per queue */
};

struct netfront_stats {
    uint64_t tx_frames, tx_bytes, tx_slots;
    uint64_t tx_errors; /* NETIF_RSP_ERROR / _DROPPED answers */
    uint64_t rx_frames, rx_bytes, rx_slots;
    uint64_t rx_errors;  /* frames the backend answered with an error status */
    uint64_t rx_dropped; /* runts, and frames larger than the caller's buffer */
    uint64_t rx_extras;  /* extra-info slots skipped */
    uint64_t bad_responses;
    uint64_t events;
    /* Suspend and resume (control.c): resumes in a new domain; frames in
     * flight sent again on the new rings (not counted in tx_frames again);
     * frames in flight that could not be (counted, never silently lost);
     * frames the old backend had put in the old rx ring, dropped at the
     * resume as Linux's netfront drops them. */
    uint64_t resumes, tx_resent, tx_lost, rx_lost;
    uint64_t rx_unread; /* frames still in the rx rings at close */
};

/* Frontend vif devices (device/vif/<id>, ids ascending): how many. */
long netfront_count(void);
/* Wait (watching device/vif) until there are more than index of them:
 * a hot-plugged nic.  0, or -XEN_ETIMEDOUT. */
long netfront_wait_device(unsigned index, uint64_t timeout_ns);
/* Connect the index-th one (opts NULL: defaults). */
long netfront_open(unsigned index, const struct netfront_opts *opts,
                   struct netfront **out);
const struct netfront_info *netfront_info(const struct netfront *nf);
const struct netfront_stats *netfront_stats(const struct netfront *nf);
bool netfront_broken(const struct netfront *nf);
/* Grant references the device holds now (rings, rx pages, tx pages). */
unsigned netfront_grants(const struct netfront *nf);

/* Queue one Ethernet frame (at least NETFRONT_ETH_HLEN, at most
 * NETFRONT_MAX_FRAME bytes; at most a page without feature-sg) for
 * transmission; buf may be reused at once.  Waits (up to
 * NETFRONT_TIMEOUT_NS) for free tx slots.  -XEN_EINVAL or -XEN_EMSGSIZE
 * for a bad length, -XEN_EIO when broken, closed or unplugged,
 * -XEN_ETIMEDOUT when the backend never freed slots. */
long netfront_send(struct netfront *nf, const void *buf, size_t len);
/* Wait until every frame sent has been answered by the backend. */
long netfront_flush(struct netfront *nf, uint64_t timeout_ns);
/* The next frame received, copied into buf: its length, -XEN_ETIMEDOUT,
 * -XEN_EIO when broken, or -XEN_EMSGSIZE (the frame was larger than cap
 * and is dropped). */
long netfront_recv(struct netfront *nf, void *buf, size_t cap, uint64_t timeout_ns);

/* Wait until the backend goes Closing or Closed (hot-unplug); 0 or
 * -XEN_ETIMEDOUT.  The caller then closes the device. */
long netfront_wait_unplug(struct netfront *nf, uint64_t timeout_ns);
/* Wait for tx answers, Closing, Closed, and once the backend is Closed too
 * (or its nodes are gone) end every grant; one it still maps is kept and
 * reported, never revoked. */
long netfront_close(struct netfront *nf);
/* After close: Initialising, and the whole handshake again. */
long netfront_reconnect(struct netfront *nf);
#endif
