/* Writing a libxc migration stream (migstream.h): headers, records padded to
 * 8 bytes, PAGE_DATA straight from guest RAM, HVM context entries. */
#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "migstream.h"
#include "migstream_hvm.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "records are written in host order and flagged little-endian");

int xs_ms_buf_append(struct xs_ms_buf *b, const void *p, size_t len)
{
    if (len > SIZE_MAX - b->len) return -1;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len) {
            if (cap > SIZE_MAX / 2) return -1;
            cap *= 2;
        }
        uint8_t *n = realloc(b->data, cap);
        if (!n) return -1;
        b->data = n;
        b->cap = cap;
    }
    if (len) memcpy(b->data + b->len, p, len);
    b->len += len;
    return 0;
}

void xs_ms_buf_free(struct xs_ms_buf *b)
{
    free(b->data);
    *b = (struct xs_ms_buf){0};
}

static void writer_init(struct xs_ms_writer *w, enum xs_ms_sink_kind kind)
{
    memset(w, 0, sizeof(*w));
    w->kind = kind;
    w->fd = -1;
}

void xs_ms_writer_fd(struct xs_ms_writer *w, int fd)
{
    writer_init(w, XS_MS_SINK_FD);
    w->fd = fd;
}

void xs_ms_writer_file(struct xs_ms_writer *w, FILE *f)
{
    writer_init(w, XS_MS_SINK_FILE);
    w->file = f;
}

void xs_ms_writer_buf(struct xs_ms_writer *w, struct xs_ms_buf *b)
{
    writer_init(w, XS_MS_SINK_BUF);
    w->buf = b;
}

/* writev until everything is out (a pipe or socket takes it in pieces). */
static int fd_writev(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t got = writev(fd, iov, n > IOV_MAX ? IOV_MAX : n);
        if (got < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        size_t left = (size_t)got;
        while (n > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return 0;
}

/* Every byte goes out through here. */
static int sink_writev(struct xs_ms_writer *w, struct iovec *iov, int n)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    int rc = 0;
    switch (w->kind) {
    case XS_MS_SINK_FD:
        rc = fd_writev(w->fd, iov, n);
        break;
    case XS_MS_SINK_FILE:
        for (int i = 0; i < n && !rc; i++)
            if (iov[i].iov_len &&
                fwrite(iov[i].iov_base, 1, iov[i].iov_len, w->file) != iov[i].iov_len)
                rc = -1;
        break;
    case XS_MS_SINK_BUF:
        for (int i = 0; i < n && !rc; i++)
            if (xs_ms_buf_append(w->buf, iov[i].iov_base, iov[i].iov_len)) {
                errno = ENOMEM;
                rc = -1;
            }
        break;
    }
    if (rc) {
        snprintf(w->err, sizeof(w->err), "write at offset %llu failed: %s",
                 (unsigned long long)w->offset, strerror(errno ? errno : EIO));
        return -1;
    }
    w->offset += total;
    return 0;
}

int xs_ms_write_headers(struct xs_ms_writer *w, uint32_t dom_type, uint32_t xen_major,
                        uint32_t xen_minor)
{
    uint8_t h[XS_MS_IHDR_SIZE + XS_MS_DHDR_SIZE] = {0};
    uint64_t marker = htobe64(XS_MS_IHDR_MARKER);
    uint32_t id = htobe32(XS_MS_IHDR_ID), ver = htobe32(XS_MS_VERSION);
    uint16_t opt = htobe16(0); /* little-endian records */
    memcpy(h, &marker, 8);
    memcpy(h + 8, &id, 4);
    memcpy(h + 12, &ver, 4);
    memcpy(h + 16, &opt, 2);
    /* domain header, in the records' byte order */
    uint16_t shift = XS_MS_PAGE_SHIFT;
    memcpy(h + 24, &dom_type, 4);
    memcpy(h + 28, &shift, 2);
    memcpy(h + 32, &xen_major, 4);
    memcpy(h + 36, &xen_minor, 4);
    struct iovec iov = {h, sizeof(h)};
    return sink_writev(w, &iov, 1);
}

#define MAX_PARTS (XS_MS_PAGE_BATCH + 4)

int xs_ms_write_recordv(struct xs_ms_writer *w, uint32_t type, const struct iovec *parts,
                        unsigned nr_parts)
{
    static const uint8_t zeros[XS_MS_REC_ALIGN];
    struct iovec iov[MAX_PARTS + 2];
    if (nr_parts > MAX_PARTS) {
        snprintf(w->err, sizeof(w->err), "record of %u parts: at most %u", nr_parts,
                 MAX_PARTS);
        return -1;
    }
    uint64_t len = 0;
    for (unsigned i = 0; i < nr_parts; i++) {
        len += parts[i].iov_len;
        iov[i + 1] = parts[i];
    }
    if (len > XS_MS_REC_LEN_MAX) {
        snprintf(w->err, sizeof(w->err), "record body of %llu bytes: at most %u",
                 (unsigned long long)len, XS_MS_REC_LEN_MAX);
        return -1;
    }
    uint32_t hdr[2] = {type, (uint32_t)len};
    iov[0] = (struct iovec){hdr, sizeof(hdr)};
    unsigned n = nr_parts + 1;
    size_t pad = (XS_MS_REC_ALIGN - len % XS_MS_REC_ALIGN) % XS_MS_REC_ALIGN;
    if (pad) iov[n++] = (struct iovec){(void *)zeros, pad};
    if (sink_writev(w, iov, (int)n)) return -1;
    w->nr_records++;
    return 0;
}

int xs_ms_write_record(struct xs_ms_writer *w, uint32_t type, const void *body,
                       uint32_t len)
{
    struct iovec part = {(void *)body, len};
    return xs_ms_write_recordv(w, type, &part, len ? 1 : 0);
}

int xs_ms_write_page_data(struct xs_ms_writer *w, const uint64_t *pfns, unsigned count,
                          const uint8_t *ram)
{
    if (count == 0 || count > XS_MS_PAGE_BATCH) {
        snprintf(w->err, sizeof(w->err), "PAGE_DATA of %u pages: 1..%u", count,
                 XS_MS_PAGE_BATCH);
        return -1;
    }
    uint32_t head[2] = {count, 0};
    uint64_t entries[XS_MS_PAGE_BATCH];
    struct iovec parts[XS_MS_PAGE_BATCH + 2];
    parts[0] = (struct iovec){head, sizeof(head)};
    for (unsigned i = 0; i < count; i++) {
        entries[i] = (pfns[i] & XS_MS_PFN_MASK) | (uint64_t)XS_MS_PT_NOTAB
                                                      << XS_MS_PFN_TYPE_SHIFT;
        parts[i + 2] = (struct iovec){(void *)(ram + (pfns[i] << XS_MS_PAGE_SHIFT)),
                                      XS_MS_PAGE_SIZE};
    }
    parts[1] = (struct iovec){entries, 8 * (size_t)count};
    return xs_ms_write_recordv(w, XS_MS_REC_PAGE_DATA, parts, count + 2);
}

int xs_ms_hvm_ctx_add(struct xs_ms_buf *b, uint16_t typecode, uint16_t instance,
                      const void *data, uint32_t len)
{
    struct hvm_save_descriptor d = {
        .typecode = typecode, .instance = instance, .length = len};
    if (xs_ms_buf_append(b, &d, sizeof(d)) || xs_ms_buf_append(b, data, len)) return -1;
    return 0;
}
