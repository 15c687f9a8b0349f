/* blkback's internals, shared by blkback.c (xenbus side: disk, features,
 * connecting rings) and blkback_io.c (servicing rings, the requests). */
#ifndef XS_BLKBACK_INT_H
#define XS_BLKBACK_INT_H
#include <stdbool.h>
#include <stdint.h>

#include "ring_check.h"
#include <xen/io/blkif.h>

#include "blkback.h"

#define BLK_PAGE                   4096u
#define BLK_SECTS_PER_PAGE         (BLK_PAGE / XS_BLKBACK_SECTOR)
#define BLK_SEGS_PER_INDIRECT_PAGE (BLK_PAGE / sizeof(struct blkif_request_segment))

struct blk_disk {
    uint8_t *mem; /* memory disk (anonymous mapping), or NULL */
    int fd;       /* image file, or -1 */
    uint64_t bytes, sectors;
    bool readonly;
};

/* A persistent grant: mapped once, kept while the ring lives. */
struct blk_pgrant {
    bool used;
    grant_ref_t ref;
    grant_handle_t handle;
    uint8_t *ptr;
};

struct blk_ring {
    struct blkback *be;
    unsigned idx;
    void *va; /* the shared ring pages, one contiguous view */
    unsigned nr_pages;
    grant_handle_t handles[XS_BLKBACK_MAX_RING_PAGES];
    blkif_back_ring_t br;
    evtchn_port_t port;
    struct xs_ring_check chk;
    /* Persistent grants: open addressing by ref, 2 x the limit slots. */
    struct blk_pgrant *pg;
    unsigned pg_count;
    bool pg_full_logged;
};

struct blkback {
    struct xs_pvdev *dev;
    struct blk_disk disk;
    struct blk_ring rings[XS_BLKBACK_MAX_QUEUES];
    unsigned nr_rings;
    bool persistent; /* both ends said feature-persistent */
    enum xs_blkback_rogue rogue;
    uint64_t responses; /* written so far (the rogue's clock) */
    /* Private copies: a request's data and its indirect segment list. */
    uint8_t *bounce; /* XS_BLKBACK_MAX_INDIRECT_SEGS pages */
    struct blkif_request_segment segs[XS_BLKBACK_MAX_INDIRECT_SEGS];
    struct xs_blkback_stats stats;
};

/* blkback_io.c */
int xs_blk_disk_open(struct blk_disk *d, const struct xs_blkback_cfg *cfg, char *err,
                     size_t errlen);
void xs_blk_disk_close(struct blk_disk *d);
void xs_blk_ring_service(struct blk_ring *r);
/* Answer every request still on the ring with BLKIF_RSP_ERROR (teardown
 * while the frontend lives). */
void xs_blk_ring_fail_all(struct blk_ring *r);
void xs_blk_ring_release_pgrants(struct blk_ring *r);
#endif
