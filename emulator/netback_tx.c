/* netback's transmit side: the packets a guest puts on a tx ring, checked
 * and counted as Linux's xen-netback does (xenvif_tx_build_gops with
 * xenvif_get_extras and xenvif_count_requests), assembled by grant copy
 * and handed to the switch.
 *
 * Every slot is copied out of the shared ring once and only the copy is
 * used (XSA-155).  A packet is: a first slot whose size is the whole
 * packet's, optional extra-info slots (NETTXF_extra_info, then
 * XEN_NETIF_EXTRA_FLAG_MORE), and following slots while NETTXF_more_data.
 * Refused with NETIF_RSP_ERROR on every slot and a report: more than
 * 1 + NB_LEGACY_SLOTS_MAX slots, a following slot larger than what is left
 * of the packet, a first slot holding less than an Ethernet header, a
 * grant that cannot be copied, checksum offload (NETTXF_csum_blank, GSO)
 * on a frame without a TCP/UDP checksum (netback_csum.c).  Fatal (reported, the vif
 * disabled as by xenvif_fatal_tx_err): a packet or its extras running past the producer,
 * more than NB_FATAL_SLOTS following slots, a slot crossing its page, an
 * extra of unknown type, a GSO extra with size 0 or an unknown type, and
 * producer indexes the ring sanitizer refuses.  Every request otherwise
 * gets exactly one response, NETIF_RSP_NULL for extra slots. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gnttab.h"
#include "netback_int.h"
#include "sim.h"

/* One packet being taken off the ring: private copies of its slots. */
struct tx_pkt {
    RING_IDX start; /* ring index of the first slot */
    netif_tx_request_t first;
    struct netif_extra_info extras[XEN_NETIF_EXTRA_TYPE_MAX - 1];
    unsigned extra_count;
    netif_tx_request_t frags[NB_FATAL_SLOTS];
    unsigned nr_frags;
};

static void bad(struct nb_queue *q, const struct tx_pkt *p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void bad(struct nb_queue *q, const struct tx_pkt *p, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct xs_pvdev *dev = q->nb->dev;
    xs_report(dev->front, "xensim: %s queue %u tx request %u (id %u): %s; packet dropped",
              dev->who, q->idx, p->start, p->first.id, msg);
}

/* A response, then NETIF_RSP_NULL for each extra slot that followed the
 * request (_make_tx_response). */
static void respond(struct nb_queue *q, uint16_t id, int16_t status, unsigned extras)
{
    netif_tx_response_t *r = RING_GET_RESPONSE(&q->tx, q->tx.rsp_prod_pvt);
    r->id = id;
    r->status = status;
    q->tx.rsp_prod_pvt++;
    while (extras--) {
        r = RING_GET_RESPONSE(&q->tx, q->tx.rsp_prod_pvt);
        r->id = 0;
        r->status = NETIF_RSP_NULL;
        q->tx.rsp_prod_pvt++;
    }
    if (status == NETIF_RSP_ERROR) q->nb->stats.tx_errors++;
}

/* The whole packet refused (xenvif_tx_err). */
static void drop(struct nb_queue *q, const struct tx_pkt *p)
{
    respond(q, p->first.id, NETIF_RSP_ERROR, p->extra_count);
    for (unsigned i = 0; i < p->nr_frags; i++)
        respond(q, p->frags[i].id, NETIF_RSP_ERROR, 0);
    q->nb->stats.tx_dropped++;
}

/* The next slot, copied; consumed. */
static void take(struct nb_queue *q, void *slot)
{
    RING_COPY_REQUEST(&q->tx, q->tx.req_cons, (netif_tx_request_t *)slot);
    q->tx.req_cons++;
}

static bool mcast_add(struct netback *nb, const uint8_t *mac)
{
    if (nb->nr_mcast == NB_MCAST_MAX) return false;
    memcpy(nb->mcast[nb->nr_mcast++], mac, 6);
    return true;
}

static void mcast_del(struct netback *nb, const uint8_t *mac)
{
    for (unsigned i = 0; i < nb->nr_mcast; i++)
        if (!memcmp(nb->mcast[i], mac, 6)) {
            memmove(nb->mcast[i], nb->mcast[i + 1], (nb->nr_mcast - i - 1) * 6u);
            nb->nr_mcast--;
            return;
        }
}

/* Grant-copy the packet's slots into nb->frame; false (reported) when a
 * grant cannot be read. */
static bool gather(struct nb_queue *q, const struct tx_pkt *p, uint16_t first_len)
{
    struct netback *nb = q->nb;
    struct xs_domain *fe = nb->dev->front;
    uint8_t *out = nb->frame->data;
    int st =
        xs_gnttab_backend_copy(fe, p->first.gref, p->first.offset, out, first_len, false);
    if (st != GNTST_okay) {
        bad(q, p, "first slot: grant copy from grant ref %u failed (GNTST %d)",
            p->first.gref, st);
        return false;
    }
    size_t at = first_len;
    for (unsigned i = 0; i < p->nr_frags; i++) {
        const netif_tx_request_t *t = &p->frags[i];
        if (!t->size) continue;
        st = xs_gnttab_backend_copy(fe, t->gref, t->offset, out + at, t->size, false);
        if (st != GNTST_okay) {
            bad(q, p,
                "slot %u (request %u): grant copy from grant ref %u failed (GNTST %d)",
                i + 1, p->start + p->extra_count + 1 + i, t->gref, st);
            return false;
        }
        at += t->size;
    }
    return true;
}

/* One packet off the ring (rp: the producer, checked).  false: fatal. */
static bool tx_packet(struct nb_queue *q, RING_IDX rp)
{
    struct netback *nb = q->nb;
    struct tx_pkt p;
    memset(&p, 0, sizeof(p));
    p.start = q->tx.req_cons;
    take(q, &p.first);
    if (p.first.flags & NETTXF_extra_info) {
        struct netif_extra_info ex;
        do {
            if (q->tx.req_cons == rp) {
                xs_nb_fatal(q, "tx", p.start,
                            "extra info slot %u missing: producer at %u", p.extra_count,
                            rp);
                return false;
            }
            netif_tx_request_t raw;
            RING_IDX at = q->tx.req_cons;
            take(q, &raw);
            memcpy(&ex, &raw, sizeof(ex));
            p.extra_count++;
            if (!ex.type || ex.type >= XEN_NETIF_EXTRA_TYPE_MAX) {
                xs_nb_fatal(q, "tx", at, "extra info of unknown type %u", ex.type);
                return false;
            }
            p.extras[ex.type - 1] = ex;
        } while (ex.flags & XEN_NETIF_EXTRA_FLAG_MORE);
    }
    /* Multicast filter updates carry no packet. */
    if (p.extras[XEN_NETIF_EXTRA_TYPE_MCAST_ADD - 1].type) {
        nb->stats.mcast++;
        bool ok =
            mcast_add(nb, p.extras[XEN_NETIF_EXTRA_TYPE_MCAST_ADD - 1].u.mcast.addr);
        respond(q, p.first.id, ok ? NETIF_RSP_OKAY : NETIF_RSP_ERROR, p.extra_count);
        return true;
    }
    if (p.extras[XEN_NETIF_EXTRA_TYPE_MCAST_DEL - 1].type) {
        nb->stats.mcast++;
        mcast_del(nb, p.extras[XEN_NETIF_EXTRA_TYPE_MCAST_DEL - 1].u.mcast.addr);
        respond(q, p.first.id, NETIF_RSP_OKAY, p.extra_count);
        return true;
    }
    /* The following slots: the first's size is the whole packet's, each
     * following slot's size comes off it (xenvif_count_requests). */
    uint16_t left = p.first.size;
    const char *why = NULL;
    char whybuf[96];
    bool more = p.first.flags & NETTXF_more_data;
    while (more) {
        if (q->tx.req_cons == rp) {
            xs_nb_fatal(q, "tx", p.start,
                        "packet continues past the producer (%u) after %u slots", rp,
                        1 + p.nr_frags);
            return false;
        }
        if (p.nr_frags >= NB_FATAL_SLOTS) {
            xs_nb_fatal(q, "tx", p.start, "packet uses more than %u slots (malicious)",
                        1 + NB_FATAL_SLOTS);
            return false;
        }
        RING_IDX at = q->tx.req_cons;
        netif_tx_request_t *t = &p.frags[p.nr_frags++];
        take(q, t);
        if (!why && p.nr_frags > NB_LEGACY_SLOTS_MAX) {
            snprintf(whybuf, sizeof(whybuf), "more than %u slots",
                     1 + NB_LEGACY_SLOTS_MAX);
            why = whybuf;
        }
        if (!why && t->size > left) {
            snprintf(whybuf, sizeof(whybuf),
                     "slot %u: size %u larger than the %u bytes left of the packet",
                     p.nr_frags, t->size, left);
            why = whybuf;
        }
        left = (uint16_t)(left - t->size);
        if ((unsigned)t->offset + t->size > NB_PAGE) {
            xs_nb_fatal(q, "tx", at, "slot offset %u + size %u crosses the page",
                        t->offset, t->size);
            return false;
        }
        more = t->flags & NETTXF_more_data;
    }
    if (why) {
        bad(q, &p, "%s", why);
        drop(q, &p);
        return true;
    }
    /* What is left is the first slot's own part: the Ethernet header must
     * be in it. */
    if (left < NB_ETH_HLEN) {
        bad(q, &p, "first slot holds %u bytes, less than an Ethernet header (%u)", left,
            NB_ETH_HLEN);
        drop(q, &p);
        return true;
    }
    if ((unsigned)p.first.offset + left > NB_PAGE) {
        xs_nb_fatal(q, "tx", p.start, "first slot offset %u + size %u crosses the page",
                    p.first.offset, left);
        return false;
    }
    const struct netif_extra_info *gso = &p.extras[XEN_NETIF_EXTRA_TYPE_GSO - 1];
    if (gso->type) {
        if (!gso->u.gso.size) {
            xs_nb_fatal(q, "tx", p.start, "GSO size must not be zero");
            return false;
        }
        if (gso->u.gso.type != XEN_NETIF_GSO_TYPE_TCPV4 &&
            gso->u.gso.type != XEN_NETIF_GSO_TYPE_TCPV6) {
            xs_nb_fatal(q, "tx", p.start, "bad GSO type %u", gso->u.gso.type);
            return false;
        }
    }
    if (!gather(q, &p, left)) {
        drop(q, &p);
        return true;
    }
    struct xs_netframe *f = nb->frame;
    f->len = p.first.size;
    /* Checksum offload needs a transport checksum to leave partial
     * (checksum_setup); a GSO frame is always partial, its pseudo-header
     * sum recalculated if the frontend did not say csum_blank. */
    bool blank = p.first.flags & NETTXF_csum_blank;
    if (blank || gso->type) {
        struct nb_csum c;
        if (!xs_nb_csum_locate(f->data, f->len, &c) || (gso->type && c.udp)) {
            bad(q, &p, "%s on a frame that is not %s over IPv4 or IPv6",
                gso->type ? "GSO" : "NETTXF_csum_blank",
                gso->type ? "TCP" : "TCP or UDP");
            drop(q, &p);
            return true;
        }
        if (!blank) xs_nb_csum_pseudo(f->data, &c);
        blank = true;
    }
    respond(q, p.first.id, NETIF_RSP_OKAY, p.extra_count);
    for (unsigned i = 0; i < p.nr_frags; i++)
        respond(q, p.frags[i].id, NETIF_RSP_OKAY, 0);
    f->flags = blank                                   ? XS_NETFRAME_CSUM_BLANK
               : p.first.flags & NETTXF_data_validated ? XS_NETFRAME_DATA_VALIDATED
                                                       : 0;
    f->gso_type = gso->type ? gso->u.gso.type : XEN_NETIF_GSO_TYPE_NONE;
    f->gso_size = gso->type ? gso->u.gso.size : 0;
    nb->stats.tx_frames++;
    nb->stats.tx_bytes += f->len;
    if (gso->type) nb->stats.tx_gso++;
    xs_nb_capture(nb, f);
    xs_netswitch_send(&nb->port, f);
    return true;
}

/* A hostile frontend cannot make one pass loop forever. */
#define MAX_ROUNDS 4

void xs_nb_tx_service(struct nb_queue *q)
{
    struct netback *nb = q->nb;
    netif_tx_sring_t *s = q->tx.sring;
    for (int round = 0; round < MAX_ROUNDS && !nb->disabled; round++) {
        /* The producer is read once per round and checked before any slot. */
        RING_IDX rp = __atomic_load_n(&s->req_prod, __ATOMIC_ACQUIRE);
        if (rp == q->tx.req_cons && round == 0) return; /* idle */
        if (!xs_ring_check_prod(&q->tx_chk, rp, q->tx.req_cons)) {
            xs_nb_disable(nb);
            break;
        }
        while (q->tx.req_cons != rp && tx_packet(q, rp))
            ;
        int notify, more;
        RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&q->tx, notify);
        if (notify) xs_pvdev_notify(nb->dev, q->tx_port);
        if (nb->disabled) return;
        RING_FINAL_CHECK_FOR_REQUESTS(&q->tx, more);
        if (!more) return;
    }
}

void xs_nb_tx_fail_all(struct nb_queue *q)
{
    if (q->tx_chk.broken) return;
    netif_tx_sring_t *s = q->tx.sring;
    RING_IDX rp = __atomic_load_n(&s->req_prod, __ATOMIC_ACQUIRE);
    if (rp == q->tx.req_cons || !xs_ring_check_prod(&q->tx_chk, rp, q->tx.req_cons))
        return;
    /* Slot by slot, extra-info slots answered NETIF_RSP_NULL. */
    bool extra = false;
    while (q->tx.req_cons != rp) {
        netif_tx_request_t req;
        take(q, &req);
        if (extra) {
            struct netif_extra_info ex;
            memcpy(&ex, &req, sizeof(ex));
            extra = ex.flags & XEN_NETIF_EXTRA_FLAG_MORE;
            netif_tx_response_t *r = RING_GET_RESPONSE(&q->tx, q->tx.rsp_prod_pvt++);
            r->id = 0;
            r->status = NETIF_RSP_NULL;
            continue;
        }
        respond(q, req.id, NETIF_RSP_ERROR, 0);
        extra = req.flags & NETTXF_extra_info;
    }
    int notify;
    RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&q->tx, notify);
    if (notify) xs_pvdev_notify(q->nb->dev, q->tx_port);
}
