/* blkback: xensim's PV block backend (class "vbd"), over a raw image file
 * or memory, speaking <xen/io/blkif.h> as Linux's blkback does: one or more
 * rings of one or more pages, read, write, flush, barrier, discard,
 * indirect segments and persistent grants (docs/devices.md). */
#ifndef XS_BLKBACK_H
#define XS_BLKBACK_H
#include <stdbool.h>
#include <stdint.h>

#include "pvdev.h"

/* Published limits (Linux blkback's defaults where it has them). */
#define XS_BLKBACK_MAX_RING_ORDER    4u /* XENBUS_MAX_RING_GRANT_ORDER */
#define XS_BLKBACK_MAX_RING_PAGES    (1u << XS_BLKBACK_MAX_RING_ORDER)
#define XS_BLKBACK_MAX_QUEUES        4u
#define XS_BLKBACK_MAX_INDIRECT_SEGS 256u  /* MAX_INDIRECT_SEGMENTS */
#define XS_BLKBACK_MAX_PGRANTS       1056u /* xen_blkif_max_pgrants, per ring */
#define XS_BLKBACK_SECTOR            512u

/* A deliberately broken backend, to test frontends' response checks:
 * response number XS_BLKBACK_ROGUE_AT (counting from 0 per device) gets a
 * wrong id, status or operation, or the response producer jumps ahead. */
enum xs_blkback_rogue {
    XS_BLKBACK_HONEST,
    XS_BLKBACK_BAD_ID,
    XS_BLKBACK_BAD_STATUS,
    XS_BLKBACK_BAD_OP,
    XS_BLKBACK_RSP_PROD,
};
#define XS_BLKBACK_ROGUE_AT 20u
/* "bad-id", "bad-status", "bad-op", "rsp-prod" -> the mode, or -1. */
int xs_blkback_rogue_parse(const char *name);

/* The disk behind a vbd device (xs_pvdev_add's cfg for "vbd"). */
struct xs_blkback_cfg {
    const char *path;  /* raw image file, or NULL for a disk in memory */
    uint64_t size_mib; /* the memory disk's size (1..XS_BLKBACK_MAX_MIB) */
    bool readonly;
    enum xs_blkback_rogue rogue;
};
#define XS_BLKBACK_MAX_MIB (1u << 20)

extern const struct xs_pvdev_kind xs_blkback_kind;

/* What a device did (tests, benches). */
struct xs_blkback_stats {
    uint64_t reads, writes, flushes, barriers, discards, indirect;
    uint64_t sectors_read, sectors_written;
    uint64_t errors;      /* requests answered BLKIF_RSP_ERROR */
    uint64_t unsupported; /* answered BLKIF_RSP_EOPNOTSUPP */
    uint64_t pgrant_maps; /* persistent grants mapped */
    uint64_t pgrant_hits; /* segments served through one already mapped */
    uint64_t copies;      /* segments moved by grant copy */
    uint64_t connects;
};
const struct xs_blkback_stats *xs_blkback_stats(const struct xs_pvdev *dev);
/* Rings connected now (0 when not connected), and whether ring i was
 * given up on by the ring sanitizer. */
unsigned xs_blkback_nr_rings(const struct xs_pvdev *dev);
bool xs_blkback_ring_broken(const struct xs_pvdev *dev, unsigned i);
#endif
