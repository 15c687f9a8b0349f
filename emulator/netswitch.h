/* The simulated Ethernet switch netback's vifs plug into (docs/devices.md):
 * one per name (xl's "bridge"), hanging off struct xs_sim.  It learns
 * source MACs, forwards known unicast to one port and floods broadcast,
 * multicast and unknown unicast to every other port, in port-number order.
 * A frame a port sends is queued in the switch (bounded) and forwarded
 * from the run loop (a toolstack action at the current virtual time), never
 * from inside the sender's ring processing. */
#ifndef XS_NETSWITCH_H
#define XS_NETSWITCH_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct xs_sim;
struct xs_netswitch;

#define XS_NETSWITCH_NAME_MAX  64u
#define XS_NETSWITCH_QUEUE_MAX 1024u /* frames waiting in one switch */
#define XS_NETSWITCH_FDB_MAX   256u  /* learned MAC addresses per switch */

/* What travels with a frame besides its bytes (netif's offload flags). */
#define XS_NETFRAME_CSUM_BLANK     1u /* checksum left to the receiver */
#define XS_NETFRAME_DATA_VALIDATED 2u /* checksum known good */

/* One Ethernet frame (from the destination MAC, no FCS). */
struct xs_netframe {
    struct xs_netframe *next; /* in whichever FIFO holds it */
    unsigned src_port;        /* the switch port it came in on */
    uint16_t len;
    uint16_t flags;    /* XS_NETFRAME_* */
    uint8_t gso_type;  /* XEN_NETIF_GSO_TYPE_*, NONE for an ordinary frame */
    uint16_t gso_size; /* MSS of a GSO frame */
    uint8_t data[];
};
/* A frame of len bytes (data uninitialised), or NULL. */
struct xs_netframe *xs_netframe_new(uint16_t len);
struct xs_netframe *xs_netframe_dup(const struct xs_netframe *f);

/* A port: the owner embeds it.  deliver() gets every frame for the port
 * (the frame stays the switch's: copy what is kept). */
struct xs_netswitch_port {
    struct xs_netswitch *sw; /* NULL while not attached */
    unsigned no;             /* 1, 2, ... in attach order */
    void (*deliver)(struct xs_netswitch_port *p, const struct xs_netframe *f);
    void *ctx;
    struct xs_netswitch_port *next; /* by number */
};

/* Plug p into switch name (created on first use): 0, or -1 and a message. */
int xs_netswitch_attach(struct xs_sim *sim, const char *name, struct xs_netswitch_port *p,
                        char *err, size_t errlen);
/* Unplug (a no-op when not attached); the last port takes the switch, with
 * the frames still queued in it (counted), away, and its counters are
 * logged: "xensim: switch NAME: N frames in, N forwarded, N flooded, N
 * dropped, N unreached, N discarded". */
void xs_netswitch_detach(struct xs_netswitch_port *p);
/* A frame p sends: copied into the switch's queue.  false when the queue
 * is full (the frame is dropped and counted). */
bool xs_netswitch_send(struct xs_netswitch_port *p, const struct xs_netframe *f);
/* Forward every queued frame of every switch now (the run-loop action;
 * tests may call it). */
void xs_netswitch_flush(struct xs_sim *sim);

struct xs_netswitch_stats {
    uint64_t received;  /* frames sent into the switch */
    uint64_t forwarded; /* frames delivered to one known port */
    uint64_t flooded;   /* frames delivered to every other port */
    uint64_t dropped;   /* queue full, or sent back to its own port */
    uint64_t unreached; /* flooded with no other port to take it (lost) */
    uint64_t discarded; /* still queued when the switch went with its last port */
};
/* The switch called name, NULL if none (no port attached). */
const struct xs_netswitch_stats *xs_netswitch_stats(const struct xs_sim *sim,
                                                    const char *name);
#endif
