/* libFuzzer harness for xensim's xenstored: arbitrary bytes as the wire
 * traffic of four clients -- two privileged (socket-like) connections, an
 * unprivileged domain over a byte stream and a domain over a shared ring
 * whose indexes the input may also set to anything.  Input format (see
 * fuzz/README.md):
 *
 *   repeat { op:u8  len:u16le  bytes[len] }
 *
 *   op & 3     target: 0, 1 privileged; 2 domain 5 (stream); 3 domain 6 (ring)
 *   op & 4     read the target's output afterwards (else it piles up)
 *   op & 8     ring target: the first 16 bytes are req_cons, req_prod,
 *              rsp_cons, rsp_prod, stored as they are (a hostile guest)
 *   op & 16    close the target first and open a new one
 *
 * Oracles: the sanitizers, and no inconsistency found by xenstored, in its
 * work or by its consistency check at the end (every stored record
 * reachable from /). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xen/io/xs_wire.h>

#include "xenstore.h"

#define NCLIENTS 4

struct harness {
    struct xs_xenstore *xs;
    struct xst_conn *c[NCLIENTS];
    struct xenstore_domain_interface *ring;
    unsigned notified;
};

static void ring_notify(void *arg, evtchn_port_t port)
{
    (void)port;
    ((struct harness *)arg)->notified++;
}

static void open_client(struct harness *h, unsigned i)
{
    switch (i) {
    case 0:
    case 1:
        h->c[i] = xs_xenstore_mem_conn(h->xs, 0);
        break;
    case 2:
        h->c[i] = xs_xenstore_mem_conn(h->xs, 5);
        break;
    default:
        memset(h->ring, 0, 4096);
        h->c[i] = xs_xenstore_ring_conn(h->xs, 6, h->ring, 3, ring_notify, h);
        break;
    }
}

/* A well-behaved guest writes only into free ring space. */
static void ring_write(struct xenstore_domain_interface *r, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (r->req_prod - r->req_cons >= XENSTORE_RING_SIZE) return;
        r->req[MASK_XENSTORE_IDX(r->req_prod)] = (char)p[i];
        r->req_prod++;
    }
}

static void ring_read(struct xenstore_domain_interface *r)
{
    if (r->rsp_prod - r->rsp_cons <= XENSTORE_RING_SIZE) r->rsp_cons = r->rsp_prod;
}

static void drain(struct harness *h, unsigned i)
{
    if (i == 3) {
        ring_read(h->ring);
        return;
    }
    uint8_t buf[4096];
    while (xs_xenstore_conn_recv(h->c[i], buf, sizeof(buf)))
        ;
}

/* CONTROL check walks the tree; any inconsistency it or xenstored itself
 * found is counted. */
static void check_store(struct harness *h, char **log, size_t *loglen, FILE *logf)
{
    static const char req[] = "check";
    struct xst_conn *c = xs_xenstore_mem_conn(h->xs, 0);
    if (c) {
        struct xsd_sockmsg m = {.type = XS_CONTROL, .len = sizeof(req)};
        xs_xenstore_conn_send(c, &m, sizeof(m));
        xs_xenstore_conn_send(c, req, sizeof(req));
        xs_xenstore_service(h->xs);
        xs_xenstore_conn_close(c);
    }
    if (xs_xenstore_corruptions(h->xs)) {
        fflush(logf);
        fwrite(*log, 1, *loglen, stderr);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *log = NULL;
    size_t loglen = 0;
    FILE *logf = open_memstream(&log, &loglen);
    if (!logf) return 0;
    struct harness h = {.xs = xs_xenstore_new(logf), .ring = calloc(1, 4096)};
    if (!h.xs || !h.ring) goto out;
    for (unsigned i = 0; i < NCLIENTS; i++)
        open_client(&h, i);
    size_t off = 0;
    while (off + 3 <= size) {
        uint8_t op = data[off];
        size_t len = (size_t)data[off + 1] | (size_t)data[off + 2] << 8;
        off += 3;
        if (len > size - off) len = size - off;
        const uint8_t *p = data + off;
        off += len;
        unsigned t = op & 3;
        if (op & 16) {
            if (h.c[t]) xs_xenstore_conn_close(h.c[t]);
            open_client(&h, t);
        }
        if (!h.c[t]) continue;
        if (t == 3) {
            if ((op & 8) && len >= 16) {
                uint32_t idx[4];
                memcpy(idx, p, sizeof(idx));
                h.ring->req_cons = idx[0];
                h.ring->req_prod = idx[1];
                h.ring->rsp_cons = idx[2];
                h.ring->rsp_prod = idx[3];
                p += 16;
                len -= 16;
            }
            ring_write(h.ring, p, len);
        } else {
            xs_xenstore_conn_send(h.c[t], p, len);
        }
        xs_xenstore_service(h.xs);
        if (op & 4) drain(&h, t);
    }
    for (unsigned i = 0; i < NCLIENTS; i++)
        if (h.c[i]) drain(&h, i);
    xs_xenstore_service(h.xs);
    check_store(&h, &log, &loglen, logf);
out:
    xs_xenstore_free(h.xs);
    free(h.ring);
    fclose(logf);
    free(log);
    return 0;
}
