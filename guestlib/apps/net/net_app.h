/* The net app's shared pieces: the frame format both ends check byte for
 * byte, the command line, and the result counters. */
#ifndef NET_APP_H
#define NET_APP_H
#include <guest/netfront.h>

#define NET_ETHERTYPE 0x88b5u /* IEEE 802 local experimental */
#define NET_MAGIC     0x584e4554u
#define NET_HDR_LEN   (NETFRONT_ETH_HLEN + 20u)
#define NET_MIN_FRAME 60u /* what Ethernet pads to */
#define NET_BUF_BYTES (NETFRONT_MAX_FRAME + PAGE_SIZE)

enum net_kind {
    NET_PING = 1,
    NET_PONG = 2,
    NET_END = 3,     /* ping/flood: no more frames; seq = how many were sent */
    NET_END_ACK = 4, /* pong/sink: seq = how many distinct frames it received */
    NET_FLOOD = 5,
    NET_HELLO = 6,     /* ping/flood, until answered: is the peer there yet? */
    NET_HELLO_ACK = 7, /* pong/sink: here I am */
};

struct net_args {
    unsigned frames, size, queues, id, timeout_ms, verify;
    bool sg, split, reconnect, hotplug;
    /* suspend=1: the toolstack may suspend us (control driver on); ping
     * sends a frame again until it is echoed, and the flood runs on CPU 1
     * while CPU 0 takes the toolstack's requests. */
    bool suspend;
    unsigned duration_ms; /* ping, flood: stop starting frames after this */
    unsigned max_size;    /* the size mix capped (0: not) */
    unsigned gap_us;      /* ping (suspend=1), flood: pause between frames */
    bool have_peer;
    uint8_t peer[6];
};

struct net_result {
    uint64_t sent, received, lost, dup, bad;
    uint64_t again; /* suspend=1 ping: frames sent again (not in sent) */
};

/* A frame's parsed header. */
struct net_hdr {
    uint8_t dst[6], src[6];
    unsigned kind;
    uint32_t seq, len, csum;
};

extern const uint8_t net_broadcast[6];

/* Frame sizes: size=N, or (size=0) a mix from 60 bytes to 64 KiB. */
unsigned net_frame_size(const struct net_args *a, uint32_t seq);
/* Where in buf a frame with this seq starts: varying page offsets, so
 * frames cross pages in different places. */
unsigned net_frame_offset(uint32_t seq);
/* Write a whole frame (header, payload pattern, checksum) at p. */
void net_build(uint8_t *p, unsigned len, const uint8_t dst[6], const uint8_t src[6],
               enum net_kind kind, uint32_t seq);
/* Only the seq field of a built frame (its payload is then another seq's). */
void net_set_seq(uint8_t *p, uint32_t seq);
/* Parse p[0, len): false if it is not one of ours (ethertype, magic, length
 * field).  With verify, the payload pattern and checksum are checked too. */
bool net_parse(const uint8_t *p, size_t len, bool verify, struct net_hdr *h);
/* Rewrite a received frame's addresses and kind in place (an echo). */
void net_readdress(uint8_t *p, const uint8_t dst[6], const uint8_t src[6],
                   enum net_kind kind);
bool net_mac_eq(const uint8_t a[6], const uint8_t b[6]);

/* Bitmap of sequence numbers seen (dup detection), up to NET_MAX_FRAMES. */
#define NET_MAX_FRAMES (1u << 20)
void net_seen_reset(void);
bool net_seen_test_and_set(uint32_t seq);

/* ping/flood: HELLO (to peer, broadcast if unknown) every timeout until a
 * HELLO_ACK comes; learns the peer's MAC.  0, or -XEN_ETIMEDOUT. */
long net_find_peer(struct netfront *nf, const struct net_args *a, uint8_t *buf,
                   uint8_t peer[6]);
/* pong/sink: answer a HELLO in buf. */
void net_answer_hello(struct netfront *nf, const struct net_hdr *h, uint8_t *buf);
int net_pingpong(struct netfront *nf, const struct net_args *a, bool ping);
int net_flood(struct netfront *nf, const struct net_args *a, bool flood);
/* Prints the summary line, and keeps r as the run's result (net_last). */
void net_summary(const struct net_result *r);
extern struct net_result net_last;
#endif
