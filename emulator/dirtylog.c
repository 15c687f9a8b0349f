/* Dirty logging by comparison with a shadow copy (dirtylog.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dirtylog.h"

#define PAGE       4096u
#define PAGE_SHIFT 12

static bool test_bit(const uint8_t *map, uint64_t n)
{
    return map[n >> 3] & (1u << (n & 7));
}

int xs_dirtylog_init(struct xs_dirtylog *dl, int memfd, uint64_t ram_bytes, char *err,
                     size_t errlen)
{
    memset(dl, 0, sizeof(*dl));
    dl->fd = -1;
    if (!ram_bytes || ram_bytes % PAGE) {
        snprintf(err, errlen, "dirty log: guest RAM of %" PRIu64 " bytes", ram_bytes);
        return -1;
    }
    dl->nr_pages = ram_bytes >> PAGE_SHIFT;
    void *view = mmap(NULL, ram_bytes, PROT_READ, MAP_SHARED, memfd, 0);
    /* Untouched until a page is sent: the kernel's zero pages stand in. */
    void *shadow = mmap(NULL, ram_bytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    dl->sent = calloc(1, (size_t)((dl->nr_pages + 7) / 8));
    dl->dirty = malloc(sizeof(*dl->dirty) * (size_t)dl->nr_pages);
    if (view == MAP_FAILED || shadow == MAP_FAILED || !dl->sent || !dl->dirty) {
        snprintf(err, errlen, "dirty log: cannot map or allocate %" PRIu64 " MiB: %s",
                 ram_bytes >> 20, strerror(errno ? errno : ENOMEM));
        if (view != MAP_FAILED) munmap(view, ram_bytes);
        if (shadow != MAP_FAILED) munmap(shadow, ram_bytes);
        free(dl->sent);
        free(dl->dirty);
        memset(dl, 0, sizeof(*dl));
        dl->fd = -1;
        return -1;
    }
    dl->fd = memfd;
    dl->view = view;
    dl->shadow = shadow;
    return 0;
}

/* Where the memfd's next allocated page at or after off is (end if none). */
static uint64_t next_data(int fd, uint64_t off, uint64_t end)
{
    off_t o = lseek(fd, (off_t)off, SEEK_DATA);
    /* ENXIO: nothing allocated past off.  Another error: compare it all. */
    if (o < 0) return errno == ENXIO ? end : off;
    return (uint64_t)o < end ? (uint64_t)o & ~(uint64_t)(PAGE - 1) : end;
}

static uint64_t next_hole(int fd, uint64_t off, uint64_t end)
{
    off_t o = lseek(fd, (off_t)off, SEEK_HOLE);
    if (o < 0) return end;
    uint64_t h = ((uint64_t)o + PAGE - 1) & ~(uint64_t)(PAGE - 1);
    return h < end ? h : end;
}

int64_t xs_dirtylog_scan(struct xs_dirtylog *dl, uint64_t skip_pfn, char *err,
                         size_t errlen)
{
    static const uint8_t zero[PAGE];
    if (!dl->view) {
        snprintf(err, errlen, "dirty log: not started");
        return -1;
    }
    uint64_t end = dl->nr_pages << PAGE_SHIFT, off = 0, n = 0;
    dl->scanned = 0;
    while (off < end) {
        /* A hole reads as zeros: only a page sent with data can differ. */
        uint64_t data = next_data(dl->fd, off, end);
        for (uint64_t pfn = off >> PAGE_SHIFT; pfn < data >> PAGE_SHIFT; pfn++) {
            if (!(dl->sent[pfn >> 3])) {
                pfn |= 7; /* none of these 8 was ever sent */
                continue;
            }
            if (!test_bit(dl->sent, pfn) || pfn == skip_pfn) continue;
            dl->scanned++;
            if (memcmp(dl->shadow + (pfn << PAGE_SHIFT), zero, PAGE))
                dl->dirty[n++] = pfn;
        }
        if (data >= end) break;
        uint64_t hole = next_hole(dl->fd, data, end);
        if (hole <= data) hole = data + PAGE; /* always make progress */
        for (uint64_t pfn = data >> PAGE_SHIFT; pfn < hole >> PAGE_SHIFT; pfn++) {
            if (pfn == skip_pfn) continue;
            dl->scanned++;
            if (memcmp(dl->view + (pfn << PAGE_SHIFT), dl->shadow + (pfn << PAGE_SHIFT),
                       PAGE))
                dl->dirty[n++] = pfn;
        }
        off = hole;
    }
    dl->nr_dirty = n;
    return (int64_t)n;
}

void xs_dirtylog_commit(struct xs_dirtylog *dl)
{
    for (uint64_t i = 0; i < dl->nr_dirty; i++) {
        uint64_t pfn = dl->dirty[i];
        memcpy(dl->shadow + (pfn << PAGE_SHIFT), dl->view + (pfn << PAGE_SHIFT), PAGE);
        dl->sent[pfn >> 3] |= (uint8_t)(1u << (pfn & 7));
    }
    dl->total_sent += dl->nr_dirty;
}

void xs_dirtylog_free(struct xs_dirtylog *dl)
{
    uint64_t bytes = dl->nr_pages << PAGE_SHIFT;
    if (dl->view) munmap((void *)dl->view, bytes);
    if (dl->shadow) munmap(dl->shadow, bytes);
    free(dl->sent);
    free(dl->dirty);
    memset(dl, 0, sizeof(*dl));
    dl->fd = -1;
}
