/* netback's receive side: frames the switch delivers to a vif wait in one
 * of its rx queues (bounded, dropped and counted when full) until the
 * guest has posted enough rx requests, then go by grant copy into its
 * buffers as Linux's xen-netback rx.c does: a response in the slot of the
 * request it answers, one slot per page of data (offset 0, status = the
 * bytes in it, NETRXF_more_data on all but the last), a GSO extra-info
 * slot right after the first data slot when the frame carries GSO and the
 * frontend negotiated that type, the checksum flags of the sender on the
 * first slot (a partial checksum the frontend did not offer to take is
 * completed first, netback_csum.c).
 *
 * Queue choice (multi-queue): a 32-bit FNV-1a hash of the destination and
 * source MACs, for IPv4/IPv6 also the addresses and protocol, and for
 * unfragmented TCP/UDP the ports, modulo the queues: one flow, one queue,
 * the same every run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gnttab.h"
#include "netback_int.h"
#include "sim.h"

_Static_assert(sizeof(struct netif_extra_info) <= sizeof(netif_rx_response_t),
               "an extra-info slot overlays an rx response");

/* ---- the queue ------------------------------------------------------------------ */

static uint32_t fnv(uint32_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

unsigned xs_netback_rx_queue_of(const struct xs_netframe *f, unsigned nr_queues)
{
    if (nr_queues <= 1) return 0;
    const uint8_t *d = f->data;
    uint32_t h = fnv(2166136261u, d, 12);
    unsigned type = f->len >= 14 ? (unsigned)d[12] << 8 | d[13] : 0;
    unsigned l4 = 0, proto = 0;
    if (type == 0x0800 && f->len >= 34) {
        unsigned ihl = (d[14] & 15u) * 4u;
        proto = d[23];
        h = fnv(h, d + 23, 1);
        h = fnv(h, d + 26, 8);
        /* Ports only in the first fragment of an unfragmented packet. */
        if (!((d[20] << 8 | d[21]) & 0x3fff) && ihl >= 20) l4 = 14 + ihl;
    } else if (type == 0x86dd && f->len >= 54) {
        proto = d[20];
        h = fnv(h, d + 20, 1);
        h = fnv(h, d + 22, 32);
        l4 = 54;
    }
    if (l4 && (proto == 6 || proto == 17) && f->len >= l4 + 4) h = fnv(h, d + l4, 4);
    return h % nr_queues;
}

void xs_nb_rx_deliver(struct xs_netswitch_port *p, const struct xs_netframe *f)
{
    struct netback *nb = p->ctx;
    if (!nb->nr_queues || nb->disabled) {
        nb->stats.rx_dropped++;
        return;
    }
    bool gso = f->gso_type == XEN_NETIF_GSO_TYPE_TCPV4   ? nb->gso_v4
               : f->gso_type == XEN_NETIF_GSO_TYPE_TCPV6 ? nb->gso_v6
                                                         : false;
    /* xensim does not segment: a GSO frame the frontend cannot take whole
     * goes only if it is no larger than one MTU-sized frame anyway. */
    if (f->gso_type != XEN_NETIF_GSO_TYPE_NONE && !gso &&
        f->len > NB_ETH_HLEN + XS_NETBACK_MTU) {
        nb->stats.rx_dropped++;
        return;
    }
    /* Without scatter-gather a frame must fit one buffer page. */
    if (!nb->sg && f->len > NB_PAGE) {
        nb->stats.rx_dropped++;
        return;
    }
    struct nb_queue *q = &nb->queues[xs_netback_rx_queue_of(f, nb->nr_queues)];
    if (q->rxq.count >= XS_NETBACK_RXQ_MAX) {
        nb->stats.rx_dropped++;
        return;
    }
    struct xs_netframe *n = xs_netframe_dup(f);
    if (!n) {
        nb->stats.rx_dropped++;
        return;
    }
    if (!gso) {
        n->gso_type = XEN_NETIF_GSO_TYPE_NONE;
        n->gso_size = 0;
    }
    /* A partial checksum the frontend did not offer to take is completed
     * here, as Linux's core does for a device without the offload. */
    struct nb_csum c;
    if ((n->flags & XS_NETFRAME_CSUM_BLANK) && xs_nb_csum_locate(n->data, n->len, &c) &&
        (c.v6 ? !nb->ipv6_csum : nb->no_csum)) {
        xs_nb_csum_complete(n->data, &c);
        n->flags = 0;
    }
    if (q->rxq.tail)
        q->rxq.tail->next = n;
    else
        q->rxq.head = n;
    q->rxq.tail = n;
    q->rxq.count++;
}

void xs_nb_rx_purge(struct nb_queue *q)
{
    /* Frames for the guest that never reached its ring: dropped, counted
     * (a vif disconnecting, e.g. for a suspend, loses them as Xen's does). */
    while (q->rxq.head) {
        struct xs_netframe *f = q->rxq.head;
        q->rxq.head = f->next;
        free(f);
        q->nb->stats.rx_dropped++;
    }
    q->rxq.tail = NULL;
    q->rxq.count = 0;
}

/* ---- the ring ------------------------------------------------------------------- */

static unsigned slots_needed(const struct xs_netframe *f)
{
    return (f->len + NB_PAGE - 1) / NB_PAGE + (f->gso_type != XEN_NETIF_GSO_TYPE_NONE);
}

/* Copy f into the next requests (enough are posted). */
static void rx_frame(struct nb_queue *q, const struct xs_netframe *f)
{
    struct netback *nb = q->nb;
    struct xs_pvdev *dev = nb->dev;
    bool extra = f->gso_type != XEN_NETIF_GSO_TYPE_NONE, failed = false;
    unsigned off = 0, slot = 0;
    do {
        RING_IDX i = q->rx.req_cons;
        netif_rx_request_t req;
        RING_COPY_REQUEST(&q->rx, i, &req);
        netif_rx_response_t *rsp = RING_GET_RESPONSE(&q->rx, i);
        if (slot > 0 && extra) {
            /* Extras go after the first data slot (netfront expects them
             * there). */
            struct netif_extra_info ex;
            memset(&ex, 0, sizeof(ex));
            ex.type = XEN_NETIF_EXTRA_TYPE_GSO;
            ex.u.gso.type = f->gso_type;
            ex.u.gso.size = f->gso_size;
            memcpy(rsp, &ex, sizeof(ex));
            extra = false;
        } else {
            unsigned chunk = f->len - off < NB_PAGE ? f->len - off : NB_PAGE;
            int st = xs_gnttab_backend_copy(
                dev->front, req.gref, 0, (void *)(f->data + off), (uint16_t)chunk, true);
            uint16_t flags = off + chunk < f->len ? NETRXF_more_data : 0;
            if (slot == 0) {
                if (f->flags & XS_NETFRAME_CSUM_BLANK)
                    flags |= NETRXF_csum_blank | NETRXF_data_validated;
                else if (f->flags & XS_NETFRAME_DATA_VALIDATED)
                    flags |= NETRXF_data_validated;
                if (f->gso_type != XEN_NETIF_GSO_TYPE_NONE) flags |= NETRXF_extra_info;
            }
            rsp->id = req.id;
            rsp->offset = 0;
            rsp->flags = flags;
            rsp->status = st == GNTST_okay ? (int16_t)chunk : NETIF_RSP_ERROR;
            if (st != GNTST_okay) {
                xs_report(
                    dev->front,
                    "xensim: %s queue %u rx request %u (id %u): grant copy into grant "
                    "ref %u failed (GNTST %d)",
                    dev->who, q->idx, i, req.id, req.gref, st);
                nb->stats.rx_errors++;
                failed = true;
            }
            off += chunk;
        }
        q->rx.req_cons++;
        slot++;
    } while (off < f->len || extra);
    q->rx.rsp_prod_pvt = q->rx.req_cons;
    if (failed) return;
    nb->stats.rx_frames++;
    nb->stats.rx_bytes += f->len;
    xs_nb_capture(nb, f);
}

void xs_nb_rx_service(struct nb_queue *q)
{
    if (!q->rxq.head) return; /* idle: nothing read from the ring */
    struct netback *nb = q->nb;
    netif_rx_sring_t *s = q->rx.sring;
    bool moved = false;
    while (q->rxq.head && !nb->disabled) {
        struct xs_netframe *f = q->rxq.head;
        RING_IDX rp = __atomic_load_n(&s->req_prod, __ATOMIC_ACQUIRE);
        if (!xs_ring_check_prod(&q->rx_chk, rp, q->rx.req_cons)) {
            xs_nb_disable(nb);
            break;
        }
        if (rp - q->rx.req_cons < slots_needed(f)) {
            /* Not enough buffers: ask to be told when more are posted
             * (xenvif_rx_ring_slots_available), then look once more. */
            s->req_event = rp + 1;
            xen_mb();
            if (__atomic_load_n(&s->req_prod, __ATOMIC_ACQUIRE) == rp) break;
            continue;
        }
        rx_frame(q, f);
        moved = true;
        q->rxq.head = f->next;
        if (!q->rxq.head) q->rxq.tail = NULL;
        q->rxq.count--;
        free(f);
    }
    if (!moved) return;
    int notify;
    RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&q->rx, notify);
    if (notify) xs_pvdev_notify(nb->dev, q->rx_port);
}
