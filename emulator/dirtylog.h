/* Dirty logging of guest RAM for live migration (migrate.c,
 * docs/migration.md "Live migration").
 *
 * A page is dirty when its contents differ from what the receiver of the
 * stream holds: the copy sent last, or zeros for a page never sent.  The
 * log keeps that copy (a shadow of guest RAM) and finds dirty pages by
 * comparing, page by page, through a read-only mapping of the domain's
 * memfd.  Comparing rather than trapping writes catches every writer: the
 * guest through its own mapping, xensim itself (shared_info, rings, the
 * console), backends writing through grant mappings, and other domains
 * mapping the pages -- they all write the same memfd pages.  It is exact
 * and deterministic (no hashes that could collide, no host page-table
 * state), at the price of O(RAM with data) work per scan: pages the memfd
 * never allocated are skipped (SEEK_DATA), so an idle 1 GiB guest with 20
 * MiB in use costs a 20 MiB compare.  (This host's kernel has no
 * soft-dirty bits, and write-protecting the guest's mapping would miss the
 * writes through every other mapping.) */
#ifndef XS_DIRTYLOG_H
#define XS_DIRTYLOG_H
#include <stddef.h>
#include <stdint.h>

#define XS_DIRTYLOG_NO_PFN UINT64_MAX

struct xs_dirtylog {
    int fd;              /* the guest RAM memfd (the domain's, not owned) */
    uint64_t nr_pages;   /* guest RAM pages: frames 0..nr_pages-1 */
    const uint8_t *view; /* read-only shared mapping of those pages */
    uint8_t *shadow;     /* what the receiver holds (zeros until sent) */
    uint8_t *sent;       /* bitmap: the page was sent at least once */
    uint64_t *dirty;     /* pfns the last scan found dirty, ascending */
    uint64_t nr_dirty;   /* how many */
    uint64_t scanned;    /* pages compared by the last scan */
    uint64_t total_sent; /* pages committed so far (resends counted) */
};

/* Start logging the ram_bytes of guest RAM at the front of memfd.  Every
 * page starts clean against zeros, so the first scan finds exactly the
 * pages with data.  0, or -1 with a message in err. */
int xs_dirtylog_init(struct xs_dirtylog *dl, int memfd, uint64_t ram_bytes, char *err,
                     size_t errlen);

/* Find the pages whose contents differ from the shadow, except skip_pfn
 * (XS_DIRTYLOG_NO_PFN: none), into dl->dirty.  The shadow is not changed:
 * scanning twice finds the same pages plus any written since.  The count,
 * or -1 with a message in err (the memfd cannot be read). */
int64_t xs_dirtylog_scan(struct xs_dirtylog *dl, uint64_t skip_pfn, char *err,
                         size_t errlen);

/* The pages of the last scan are being sent: copy their current contents
 * into the shadow.  Send them from xs_dirtylog_shadow() afterwards, so
 * what goes out is exactly what the shadow holds. */
void xs_dirtylog_commit(struct xs_dirtylog *dl);

/* The shadow: frame N at + N * 4096. */
static inline const uint8_t *xs_dirtylog_shadow(const struct xs_dirtylog *dl)
{
    return dl->shadow;
}

void xs_dirtylog_free(struct xs_dirtylog *dl);
#endif
