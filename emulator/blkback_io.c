/* blkback's data path: the disk (memory or raw image file) and the
 * requests on a ring.  Every request is copied out of the shared ring once
 * and only the copy is used (XSA-155); every field the frontend controls
 * (operation, segment count, sectors in a page, the range on the disk,
 * grant references, indirect pages) is checked before use.  A bad request
 * is answered BLKIF_RSP_ERROR (BLKIF_RSP_EOPNOTSUPP for operations this
 * disk does not offer) with a sanitizer report naming domain, device, ring
 * and index.  Requests complete at once: nothing is in flight between two
 * passes. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blkback_int.h"
#include "gnttab.h"
#include "sim.h"

/* ---- the disk ----------------------------------------------------------------- */

int xs_blk_disk_open(struct blk_disk *d, const struct xs_blkback_cfg *cfg, char *err,
                     size_t errlen)
{
    memset(d, 0, sizeof(*d));
    d->fd = -1;
    d->readonly = cfg->readonly;
    if (!cfg->path) {
        if (cfg->size_mib < 1 || cfg->size_mib > XS_BLKBACK_MAX_MIB) {
            snprintf(err, errlen, "disk size %" PRIu64 " MiB outside 1..%u",
                     cfg->size_mib, XS_BLKBACK_MAX_MIB);
            return -1;
        }
        d->bytes = cfg->size_mib << 20;
        /* Zero pages cost nothing until written. */
        d->mem = mmap(NULL, d->bytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (d->mem == MAP_FAILED) {
            d->mem = NULL;
            snprintf(err, errlen, "cannot allocate a %" PRIu64 " MiB disk: %s",
                     cfg->size_mib, strerror(errno));
            return -1;
        }
    } else {
        d->fd = open(cfg->path, (cfg->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
        struct stat st;
        if (d->fd < 0 || fstat(d->fd, &st)) {
            snprintf(err, errlen, "%s: %s", cfg->path, strerror(errno));
            xs_blk_disk_close(d);
            return -1;
        }
        if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
            snprintf(err, errlen, "%s: not a regular file or block device", cfg->path);
            xs_blk_disk_close(d);
            return -1;
        }
        off_t end = lseek(d->fd, 0, SEEK_END);
        d->bytes = end > 0 ? (uint64_t)end : 0;
    }
    /* A trailing partial sector is not part of the disk. */
    d->sectors = d->bytes / XS_BLKBACK_SECTOR;
    if (!d->sectors) {
        snprintf(err, errlen, "%s: smaller than one sector",
                 cfg->path ? cfg->path : "disk");
        xs_blk_disk_close(d);
        return -1;
    }
    return 0;
}

void xs_blk_disk_close(struct blk_disk *d)
{
    if (d->mem) munmap(d->mem, d->bytes);
    if (d->fd >= 0) close(d->fd);
    d->mem = NULL;
    d->fd = -1;
}

static int disk_read(struct blk_disk *d, uint64_t off, uint8_t *buf, size_t len)
{
    if (d->mem) {
        memcpy(buf, d->mem + off, len);
        return 0;
    }
    while (len) {
        ssize_t n = pread(d->fd, buf, len, (off_t)off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return n < 0 ? errno : EIO;
        buf += n, off += (uint64_t)n, len -= (size_t)n;
    }
    return 0;
}

static int disk_write(struct blk_disk *d, uint64_t off, const uint8_t *buf, size_t len)
{
    if (d->mem) {
        memcpy(d->mem + off, buf, len);
        return 0;
    }
    while (len) {
        ssize_t n = pwrite(d->fd, buf, len, (off_t)off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return n < 0 ? errno : EIO;
        buf += n, off += (uint64_t)n, len -= (size_t)n;
    }
    return 0;
}

/* Discarded sectors read back as zeros (the frontend is told so by
 * publishing no discard-zeroes-data=0 surprises: memory and punched holes
 * are zero). */
static int disk_discard(struct blk_disk *d, uint64_t off, uint64_t len)
{
    if (d->mem) {
        uint64_t first = (off + BLK_PAGE - 1) & ~(uint64_t)(BLK_PAGE - 1);
        uint64_t last = (off + len) & ~(uint64_t)(BLK_PAGE - 1);
        if (first >= last) {
            memset(d->mem + off, 0, len);
            return 0;
        }
        memset(d->mem + off, 0, first - off);
        memset(d->mem + last, 0, off + len - last);
        /* Whole pages go back to the zero page. */
        if (madvise(d->mem + first, last - first, MADV_DONTNEED))
            memset(d->mem + first, 0, last - first);
        return 0;
    }
    if (!fallocate(d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
                   (off_t)len))
        return 0;
    /* No hole punching here (a block device, tmpfs of old): write zeros. */
    static const uint8_t zeros[BLK_PAGE];
    while (len) {
        size_t n = len < sizeof(zeros) ? (size_t)len : sizeof(zeros);
        int e = disk_write(d, off, zeros, n);
        if (e) return e;
        off += n, len -= n;
    }
    return 0;
}

static int disk_flush(struct blk_disk *d)
{
    if (d->fd < 0) return 0;
    return fdatasync(d->fd) && errno != EINVAL && errno != EROFS ? errno : 0;
}

/* ---- requests --------------------------------------------------------------------- */

/* One request being handled: where it is for reports, what it answers. */
struct req_ctx {
    struct blk_ring *r;
    RING_IDX idx;
    uint64_t id;
    uint8_t op; /* for the response (an indirect request's indirect_op) */
};

static void bad(const struct req_ctx *q, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void bad(const struct req_ctx *q, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct xs_pvdev *dev = q->r->be->dev;
    xs_report(dev->front, "xensim: %s ring %u request %u (id %#" PRIx64 "): %s", dev->who,
              q->r->idx, q->idx, q->id, msg);
}

static void respond(struct req_ctx *q, int16_t status)
{
    struct blk_ring *r = q->r;
    blkif_response_t *rsp = RING_GET_RESPONSE(&r->br, r->br.rsp_prod_pvt);
    /* Written field by field: the slot is shared memory. */
    bool lie = r->be->rogue && r->be->responses++ == XS_BLKBACK_ROGUE_AT;
    rsp->id = lie && r->be->rogue == XS_BLKBACK_BAD_ID ? q->id ^ 0x5a5a0000u : q->id;
    rsp->operation = lie && r->be->rogue == XS_BLKBACK_BAD_OP ? q->op ^ 0x80 : q->op;
    rsp->status = lie && r->be->rogue == XS_BLKBACK_BAD_STATUS ? 7 : status;
    r->br.rsp_prod_pvt++;
    if (lie) {
        xs_log(r->be->dev->sim,
               "xensim: %s ring %u: rogue backend: corrupting response %u",
               r->be->dev->who, r->idx, r->br.rsp_prod_pvt - 1);
        /* The producer runs ahead of every response actually written. */
        if (r->be->rogue == XS_BLKBACK_RSP_PROD) r->br.rsp_prod_pvt += 100;
    }
    if (status == BLKIF_RSP_ERROR) r->be->stats.errors++;
    if (status == BLKIF_RSP_EOPNOTSUPP) r->be->stats.unsupported++;
}

/* The persistent grant for ref: mapped now if there is room, NULL if it
 * cannot be (the segment then goes by grant copy). */
static uint8_t *pgrant(struct blk_ring *r, grant_ref_t ref)
{
    struct blkback *be = r->be;
    if (!be->persistent) return NULL;
    if (!r->pg) {
        r->pg = calloc(2 * XS_BLKBACK_MAX_PGRANTS, sizeof(*r->pg));
        if (!r->pg) return NULL;
    }
    unsigned cap = 2 * XS_BLKBACK_MAX_PGRANTS;
    unsigned i = (ref * 2654435761u) % cap;
    for (; r->pg[i].used; i = (i + 1) % cap)
        if (r->pg[i].ref == ref) {
            be->stats.pgrant_hits++;
            return r->pg[i].ptr;
        }
    if (r->pg_count >= XS_BLKBACK_MAX_PGRANTS) {
        if (!r->pg_full_logged)
            xs_log(be->dev->sim,
                   "xensim: %s ring %u: %u persistent grants mapped, the rest go by copy",
                   be->dev->who, r->idx, r->pg_count);
        r->pg_full_logged = true;
        return NULL;
    }
    void *p;
    grant_handle_t h;
    /* Writable: the frontend grants persistent pages read-write (they carry
     * reads and writes).  One it granted read-only is copied instead. */
    if (xs_pvdev_map(be->dev, ref, false, &p, &h) != GNTST_okay) return NULL;
    r->pg[i] = (struct blk_pgrant){.used = true, .ref = ref, .handle = h, .ptr = p};
    r->pg_count++;
    be->stats.pgrant_maps++;
    return p;
}

void xs_blk_ring_release_pgrants(struct blk_ring *r)
{
    if (!r->pg) return;
    for (unsigned i = 0; i < 2 * XS_BLKBACK_MAX_PGRANTS; i++)
        if (r->pg[i].used) xs_pvdev_unmap(r->be->dev, r->pg[i].handle);
    free(r->pg);
    r->pg = NULL;
    r->pg_count = 0;
    r->pg_full_logged = false;
}

/* Move one segment's bytes between the frontend's page and buf. */
static int seg_xfer(struct req_ctx *q, unsigned i, const struct blkif_request_segment *s,
                    uint8_t *buf, bool to_grant)
{
    struct blk_ring *r = q->r;
    struct blkback *be = r->be;
    uint16_t off = (uint16_t)(s->first_sect * XS_BLKBACK_SECTOR);
    uint16_t len = (uint16_t)((s->last_sect - s->first_sect + 1) * XS_BLKBACK_SECTOR);
    uint8_t *p = pgrant(r, s->gref);
    if (p) {
        if (to_grant)
            memcpy(p + off, buf, len);
        else
            memcpy(buf, p + off, len);
        return 0;
    }
    int st = xs_gnttab_backend_copy(be->dev->front, s->gref, off, buf, len, to_grant);
    be->stats.copies++;
    if (st != GNTST_okay) {
        bad(q, "segment %u: grant copy %s grant ref %u failed (GNTST %d)", i,
            to_grant ? "into" : "from", s->gref, st);
        return -1;
    }
    return 0;
}

/* Read or write n segments starting at sector. */
static int16_t do_rw(struct req_ctx *q, bool write, uint64_t sector,
                     const struct blkif_request_segment *segs, unsigned n)
{
    struct blkback *be = q->r->be;
    struct blk_disk *d = &be->disk;
    uint64_t nsec = 0;
    for (unsigned i = 0; i < n; i++) {
        const struct blkif_request_segment *s = &segs[i];
        if (s->first_sect > s->last_sect || s->last_sect >= BLK_SECTS_PER_PAGE) {
            bad(q, "segment %u: sectors %u..%u of a page of %u", i, s->first_sect,
                s->last_sect, BLK_SECTS_PER_PAGE);
            return BLKIF_RSP_ERROR;
        }
        nsec += (uint64_t)(s->last_sect - s->first_sect + 1);
    }
    if (sector >= d->sectors || nsec > d->sectors - sector) {
        bad(q,
            "sectors %" PRIu64 "..+%" PRIu64 " past the end of the disk (%" PRIu64
            " sectors)",
            sector, nsec, d->sectors);
        return BLKIF_RSP_ERROR;
    }
    if (write && d->readonly) {
        bad(q, "write to a read-only disk");
        return BLKIF_RSP_ERROR;
    }
    uint64_t off = sector * XS_BLKBACK_SECTOR;
    size_t bytes = (size_t)(nsec * XS_BLKBACK_SECTOR);
    uint8_t *buf = be->bounce;
    if (write) {
        /* Every segment is fetched before the disk changes: a bad grant
         * fails the request with the disk untouched. */
        for (unsigned i = 0, at = 0; i < n; i++) {
            if (seg_xfer(q, i, &segs[i], buf + at, false)) return BLKIF_RSP_ERROR;
            at += (segs[i].last_sect - segs[i].first_sect + 1u) * XS_BLKBACK_SECTOR;
        }
        int e = disk_write(d, off, buf, bytes);
        if (e) {
            xs_log(be->dev->sim, "xensim: %s: write at sector %" PRIu64 ": %s",
                   be->dev->who, sector, strerror(e));
            return BLKIF_RSP_ERROR;
        }
        be->stats.writes++;
        be->stats.sectors_written += nsec;
    } else {
        /* A memory disk is read in place. */
        if (d->mem) {
            buf = d->mem + off;
        } else {
            int e = disk_read(d, off, buf, bytes);
            if (e) {
                xs_log(be->dev->sim, "xensim: %s: read at sector %" PRIu64 ": %s",
                       be->dev->who, sector, strerror(e));
                return BLKIF_RSP_ERROR;
            }
        }
        for (unsigned i = 0, at = 0; i < n; i++) {
            if (seg_xfer(q, i, &segs[i], buf + at, true)) return BLKIF_RSP_ERROR;
            at += (segs[i].last_sect - segs[i].first_sect + 1u) * XS_BLKBACK_SECTOR;
        }
        be->stats.reads++;
        be->stats.sectors_read += nsec;
    }
    return BLKIF_RSP_OKAY;
}

static int16_t do_indirect(struct req_ctx *q, const blkif_request_t *raw)
{
    struct blkback *be = q->r->be;
    struct blkif_request_indirect ind;
    memcpy(&ind, raw, sizeof(ind));
    q->op = ind.indirect_op;
    if (ind.indirect_op != BLKIF_OP_READ && ind.indirect_op != BLKIF_OP_WRITE) {
        bad(q, "indirect operation %u (only read and write)", ind.indirect_op);
        return BLKIF_RSP_ERROR;
    }
    unsigned n = ind.nr_segments;
    if (n == 0 || n > XS_BLKBACK_MAX_INDIRECT_SEGS) {
        bad(q, "indirect request with %u segments (1..%u)", n,
            XS_BLKBACK_MAX_INDIRECT_SEGS);
        return BLKIF_RSP_ERROR;
    }
    /* The segment list, copied once out of the indirect pages. */
    unsigned pages = (n + BLK_SEGS_PER_INDIRECT_PAGE - 1) / BLK_SEGS_PER_INDIRECT_PAGE;
    for (unsigned p = 0; p < pages; p++) {
        unsigned cnt = n - p * BLK_SEGS_PER_INDIRECT_PAGE;
        if (cnt > BLK_SEGS_PER_INDIRECT_PAGE) cnt = BLK_SEGS_PER_INDIRECT_PAGE;
        int st = xs_gnttab_backend_copy(
            be->dev->front, ind.indirect_grefs[p], 0,
            &be->segs[p * BLK_SEGS_PER_INDIRECT_PAGE],
            (uint16_t)(cnt * sizeof(struct blkif_request_segment)), false);
        if (st != GNTST_okay) {
            bad(q, "indirect page %u: grant copy from grant ref %u failed (GNTST %d)", p,
                ind.indirect_grefs[p], st);
            return BLKIF_RSP_ERROR;
        }
    }
    be->stats.indirect++;
    return do_rw(q, ind.indirect_op == BLKIF_OP_WRITE, ind.sector_number, be->segs, n);
}

static int16_t do_discard(struct req_ctx *q, const blkif_request_t *raw)
{
    struct blkback *be = q->r->be;
    struct blk_disk *d = &be->disk;
    struct blkif_request_discard dr;
    memcpy(&dr, raw, sizeof(dr));
    if (d->readonly) {
        bad(q, "discard on a read-only disk (feature-discard not offered)");
        return BLKIF_RSP_EOPNOTSUPP;
    }
    if (dr.sector_number > d->sectors || dr.nr_sectors > d->sectors - dr.sector_number) {
        bad(q,
            "discard of sectors %" PRIu64 "..+%" PRIu64
            " past the end of the disk (%" PRIu64 " sectors)",
            dr.sector_number, dr.nr_sectors, d->sectors);
        return BLKIF_RSP_ERROR;
    }
    int e = disk_discard(d, dr.sector_number * XS_BLKBACK_SECTOR,
                         dr.nr_sectors * XS_BLKBACK_SECTOR);
    if (e) {
        xs_log(be->dev->sim, "xensim: %s: discard: %s", be->dev->who, strerror(e));
        return BLKIF_RSP_ERROR;
    }
    be->stats.discards++;
    return BLKIF_RSP_OKAY;
}

/* Flush and barrier: the cache goes to stable storage before the
 * request's data (if any) is written, as Linux's REQ_PREFLUSH; a barrier
 * also flushes after it.  Requests complete in order, so nothing earlier
 * is still in flight. */
static int16_t do_flush(struct req_ctx *q, const blkif_request_t *req)
{
    struct blkback *be = q->r->be;
    bool barrier = req->operation == BLKIF_OP_WRITE_BARRIER;
    if (req->nr_segments > BLKIF_MAX_SEGMENTS_PER_REQUEST) {
        bad(q, "%s with %u segments (0..%u)", barrier ? "barrier" : "flush",
            req->nr_segments, BLKIF_MAX_SEGMENTS_PER_REQUEST);
        return BLKIF_RSP_ERROR;
    }
    int e = disk_flush(&be->disk);
    int16_t st = BLKIF_RSP_OKAY;
    if (!e && req->nr_segments)
        st = do_rw(q, true, req->sector_number, req->seg, req->nr_segments);
    if (!e && st == BLKIF_RSP_OKAY && barrier) e = disk_flush(&be->disk);
    if (e) {
        xs_log(be->dev->sim, "xensim: %s: flush: %s", be->dev->who, strerror(e));
        return BLKIF_RSP_ERROR;
    }
    if (barrier)
        be->stats.barriers++;
    else
        be->stats.flushes++;
    return st;
}

static void handle(struct blk_ring *r, const blkif_request_t *req, RING_IDX idx)
{
    /* id sits at the same offset in every request layout. */
    struct req_ctx q = {.r = r, .idx = idx, .id = req->id, .op = req->operation};
    int16_t st;
    switch (req->operation) {
    case BLKIF_OP_READ:
    case BLKIF_OP_WRITE:
        if (req->nr_segments == 0 || req->nr_segments > BLKIF_MAX_SEGMENTS_PER_REQUEST) {
            bad(&q, "%s with %u segments (1..%u)",
                req->operation == BLKIF_OP_READ ? "read" : "write", req->nr_segments,
                BLKIF_MAX_SEGMENTS_PER_REQUEST);
            st = BLKIF_RSP_ERROR;
            break;
        }
        st = do_rw(&q, req->operation == BLKIF_OP_WRITE, req->sector_number, req->seg,
                   req->nr_segments);
        break;
    case BLKIF_OP_INDIRECT:
        st = do_indirect(&q, req);
        break;
    case BLKIF_OP_DISCARD:
        st = do_discard(&q, req);
        break;
    case BLKIF_OP_FLUSH_DISKCACHE:
    case BLKIF_OP_WRITE_BARRIER:
        st = do_flush(&q, req);
        break;
    default:
        bad(&q, "unknown operation %u", req->operation);
        st = BLKIF_RSP_EOPNOTSUPP;
        break;
    }
    respond(&q, st);
}

/* A hostile frontend cannot make one pass loop forever: it does not run
 * while the backend does, but be safe against a ring changed underneath. */
#define MAX_ROUNDS 4

void xs_blk_ring_service(struct blk_ring *r)
{
    if (r->chk.broken) return;
    blkif_sring_t *s = r->br.sring;
    for (int round = 0; round < MAX_ROUNDS; round++) {
        /* The producer is read once per round and checked before any slot. */
        RING_IDX rp = __atomic_load_n(&s->req_prod, __ATOMIC_ACQUIRE);
        RING_IDX rc = r->br.req_cons;
        if (rp == rc && round == 0) return; /* idle: nothing written */
        if (!xs_ring_check_prod(&r->chk, rp, rc)) return;
        while (rc != rp) {
            blkif_request_t req;
            RING_COPY_REQUEST(&r->br, rc, &req);
            r->br.req_cons = ++rc;
            handle(r, &req, rc - 1);
        }
        int notify, more;
        RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&r->br, notify);
        if (notify) xs_pvdev_notify(r->be->dev, r->port);
        RING_FINAL_CHECK_FOR_REQUESTS(&r->br, more);
        if (!more) return;
    }
}

void xs_blk_ring_fail_all(struct blk_ring *r)
{
    if (r->chk.broken) return;
    blkif_sring_t *s = r->br.sring;
    RING_IDX rp = __atomic_load_n(&s->req_prod, __ATOMIC_ACQUIRE);
    RING_IDX rc = r->br.req_cons;
    if (rp == rc || !xs_ring_check_prod(&r->chk, rp, rc)) return;
    while (rc != rp) {
        blkif_request_t req;
        RING_COPY_REQUEST(&r->br, rc, &req);
        r->br.req_cons = ++rc;
        uint8_t op = req.operation;
        if (op == BLKIF_OP_INDIRECT) {
            struct blkif_request_indirect ind;
            memcpy(&ind, &req, sizeof(ind));
            op = ind.indirect_op;
        }
        struct req_ctx q = {.r = r, .idx = rc - 1, .id = req.id, .op = op};
        respond(&q, BLKIF_RSP_ERROR);
    }
    int notify;
    RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&r->br, notify);
    if (notify) xs_pvdev_notify(r->be->dev, r->port);
}
