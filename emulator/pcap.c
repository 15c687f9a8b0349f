/* The pcap writer (pcap.h).  Fields are written in the host's byte order,
 * as libpcap does; readers tell the order from the magic number. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcap.h"

struct xs_pcap {
    FILE *f;
    char path[4096];
};

static int fail(const struct xs_pcap *p, int e, const char *what, char *err,
                size_t errlen)
{
    snprintf(err, errlen, "%s: %s: %s", p->path, what, strerror(e ? e : EIO));
    return -1;
}

struct xs_pcap *xs_pcap_open(const char *path, char *err, size_t errlen)
{
    struct xs_pcap *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    if (strlen(path) >= sizeof(p->path)) {
        snprintf(err, errlen, "pcap path too long");
        free(p);
        return NULL;
    }
    strcpy(p->path, path);
    p->f = fopen(path, "wb");
    if (!p->f) {
        fail(p, errno, "cannot create pcap file", err, errlen);
        free(p);
        return NULL;
    }
    /* magic, version 2.4, thiszone, sigfigs, snaplen, network */
    uint32_t magic = XS_PCAP_MAGIC_NS, snap = XS_PCAP_SNAPLEN,
             link = XS_PCAP_LINKTYPE_ETHERNET, zero = 0;
    uint16_t major = 2, minor = 4;
    if (fwrite(&magic, 4, 1, p->f) != 1 || fwrite(&major, 2, 1, p->f) != 1 ||
        fwrite(&minor, 2, 1, p->f) != 1 || fwrite(&zero, 4, 1, p->f) != 1 ||
        fwrite(&zero, 4, 1, p->f) != 1 || fwrite(&snap, 4, 1, p->f) != 1 ||
        fwrite(&link, 4, 1, p->f) != 1 || fflush(p->f)) {
        fail(p, errno, "cannot write pcap header", err, errlen);
        fclose(p->f);
        free(p);
        return NULL;
    }
    return p;
}

struct xs_pcap *xs_pcap_open_append(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return xs_pcap_open(path, err, errlen);
        snprintf(err, errlen, "%s: cannot open pcap file: %s", path, strerror(errno));
        return NULL;
    }
    uint8_t h[24], want[24] = {0};
    size_t got = fread(h, 1, sizeof(h), f);
    fclose(f);
    if (got == 0) return xs_pcap_open(path, err, errlen);
    /* The header xs_pcap_open writes, in the host's order. */
    uint32_t magic = XS_PCAP_MAGIC_NS, snap = XS_PCAP_SNAPLEN,
             link = XS_PCAP_LINKTYPE_ETHERNET;
    uint16_t major = 2, minor = 4;
    memcpy(want, &magic, 4);
    memcpy(want + 4, &major, 2);
    memcpy(want + 6, &minor, 2);
    memcpy(want + 16, &snap, 4);
    memcpy(want + 20, &link, 4);
    if (got != sizeof(h) || memcmp(h, want, sizeof(h))) {
        snprintf(err, errlen, "%s: not a capture xensim wrote: not appending to it",
                 path);
        return NULL;
    }
    struct xs_pcap *p = calloc(1, sizeof(*p));
    if (!p || strlen(path) >= sizeof(p->path)) {
        snprintf(err, errlen, "%s: %s", path, p ? "path too long" : "out of memory");
        free(p);
        return NULL;
    }
    strcpy(p->path, path);
    p->f = fopen(path, "ab");
    if (!p->f) {
        fail(p, errno, "cannot append to pcap file", err, errlen);
        free(p);
        return NULL;
    }
    return p;
}

int xs_pcap_write(struct xs_pcap *p, uint64_t t_ns, const void *data, uint32_t len,
                  char *err, size_t errlen)
{
    uint32_t incl = len < XS_PCAP_SNAPLEN ? len : XS_PCAP_SNAPLEN;
    uint32_t hdr[4] = {(uint32_t)(t_ns / 1000000000u), (uint32_t)(t_ns % 1000000000u),
                       incl, len};
    if (fwrite(hdr, sizeof(hdr), 1, p->f) != 1 ||
        (incl && fwrite(data, incl, 1, p->f) != 1))
        return fail(p, errno, "cannot write pcap record", err, errlen);
    return 0;
}

int xs_pcap_close(struct xs_pcap *p, char *err, size_t errlen)
{
    if (!p) return 0;
    int rc = 0;
    if (fflush(p->f)) rc = fail(p, errno, "cannot write pcap file", err, errlen);
    if (fclose(p->f) && !rc) rc = fail(p, errno, "cannot close pcap file", err, errlen);
    free(p);
    return rc;
}
