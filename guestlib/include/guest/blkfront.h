/* blkfront: the PV block frontend (<xen/io/blkif.h>), as Linux's
 * xen-blkfront talks to a backend.
 *
 * blkfront_open() runs the whole handshake for one "vbd" device: waits for
 * the backend's InitWait, reads its limits (max-ring-page-order,
 * multi-queue-max-queues, feature-persistent,
 * feature-max-indirect-segments), sets up the rings (one or more pages,
 * one or more queues), writes ring-ref / ring-ref%u + ring-page-order,
 * event-channel, protocol, feature-persistent, multi-queue-num-queues and
 * queue-N/... in one transaction, goes Initialised, waits for the
 * backend's Connected, reads the disk (sectors, info, sector-size,
 * feature-flush-cache, feature-barrier, feature-discard) and goes
 * Connected.
 *
 * I/O: every request sent is kept in a shadow slot whose index is the
 * request id; a response completes the slot with that id.  Every response
 * is checked: a producer index past the requests outstanding, an id that
 * is not in flight, an operation that is not the request's or a status
 * that is not OKAY/ERROR/EOPNOTSUPP prints "blkfront: bad response ..."
 * and marks the device broken (everything in flight fails with -XEN_EIO,
 * nothing more is sent).  Data moves through grants of the caller's pages
 * (buffers 512-byte aligned), or with persistent grants through pages
 * granted once and reused (any alignment).  Requests larger than a ring
 * slot's 11 segments are split, or use indirect segments when negotiated.
 *
 * Responses are taken by each queue's event handler (CPU 0); waiters on
 * other CPUs also poll the rings.  Functions returning long give 0 or a
 * negative Xen errno. */
#ifndef GUEST_BLKFRONT_H
#define GUEST_BLKFRONT_H
#include <guest/xen.h>

#define BLKFRONT_MAX_DEVS       4
#define BLKFRONT_MAX_QUEUES     4
#define BLKFRONT_MAX_RING_ORDER 4
#define BLKFRONT_MAX_SEGS       32 /* per request, with indirect segments */
#define BLKFRONT_SECTOR         512u
#define BLKFRONT_TIMEOUT_NS     ((uint64_t)1000 * 1000 * 1000)

struct blkfront;

/* What the frontend asks for; the backend's limits cap each. */
struct blkfront_opts {
    unsigned ring_order;    /* ring-page-order (0: the single-page ring-ref form) */
    unsigned queues;        /* multi-queue-num-queues (0 or 1: one queue) */
    bool persistent;        /* offer feature-persistent */
    unsigned indirect_segs; /* segments per indirect request (0: no indirect) */
};

/* The disk and what was negotiated. */
struct blkfront_info {
    unsigned vdev; /* virtual-device */
    uint64_t sectors;
    unsigned sector_size, physical_sector_size;
    bool readonly, flush, barrier, discard;
    unsigned discard_granularity;
    bool persistent;   /* both ends */
    unsigned max_segs; /* per request: 11, or the indirect limit */
    unsigned ring_pages, nr_queues;
};

struct blkfront_stats {
    uint64_t requests, responses, errors, bad_responses, splits, indirect;
    uint64_t grants, pgrants; /* data grants made per request / persistent pages */
};

/* A request's completion, owned by the caller (it must stay valid until
 * done).  complete, if set, runs once when done becomes true, possibly in
 * an event handler (interrupts off: it must only look at memory). */
struct blkfront_req {
    volatile bool done;
    long status; /* 0, -XEN_EIO, -XEN_EOPNOTSUPP */
    void (*complete)(struct blkfront_req *r);
    void *arg;
    /* private */
    volatile unsigned pending;
    long first_err;
};

enum blkfront_op { BLKFRONT_READ, BLKFRONT_WRITE, BLKFRONT_FLUSH, BLKFRONT_DISCARD };

/* Frontend vbd devices (device/vbd/<id>, ids ascending): how many. */
long blkfront_count(void);
/* Wait (watching device/vbd) until there are more than index of them: a
 * hot-plugged disk.  0, or -XEN_ETIMEDOUT. */
long blkfront_wait_device(unsigned index, uint64_t timeout_ns);
/* Connect the index-th one (opts NULL: defaults, all zero). */
long blkfront_open(unsigned index, const struct blkfront_opts *opts,
                   struct blkfront **out);
const struct blkfront_info *blkfront_info(const struct blkfront *bf);
const struct blkfront_stats *blkfront_stats(const struct blkfront *bf);
bool blkfront_broken(const struct blkfront *bf);
/* Wait until the backend goes Closing or Closed (hot-unplug: the toolstack
 * takes the disk away; requests then fail); 0 or -XEN_ETIMEDOUT.  The
 * caller then closes the device. */
long blkfront_wait_unplug(struct blkfront *bf, uint64_t timeout_ns);
/* Drain, then Closing, grants ended, Closed (the handshake both ends run). */
long blkfront_close(struct blkfront *bf);
/* After close: Initialising, and the whole handshake again. */
long blkfront_reconnect(struct blkfront *bf);

/* Asynchronous: read or write len bytes (a multiple of 512) at sector from
 * or into buf; flush (sector, buf, len ignored); discard len bytes.
 * -XEN_EINVAL for a range past the disk's end or a misaligned buffer,
 * -XEN_EROFS for a write to a read-only disk, -XEN_EOPNOTSUPP for a
 * discard the backend does not offer, -XEN_EIO when broken.  The request
 * may wait for a free ring slot. */
long blkfront_submit(struct blkfront *bf, enum blkfront_op op, uint64_t sector, void *buf,
                     size_t len, struct blkfront_req *r);
/* Wait for r (thread context); returns its status, or -XEN_ETIMEDOUT. */
long blkfront_wait(struct blkfront *bf, struct blkfront_req *r, uint64_t timeout_ns);

/* Synchronous forms. */
long blkfront_read(struct blkfront *bf, uint64_t sector, void *buf, size_t len);
long blkfront_write(struct blkfront *bf, uint64_t sector, const void *buf, size_t len);
long blkfront_flush(struct blkfront *bf);
long blkfront_discard(struct blkfront *bf, uint64_t sector, uint64_t nr_sectors);
#endif
