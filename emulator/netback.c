/* netback, the xenbus side (netback.h): xl's vif nodes, the features the
 * backend publishes, the frontend's nodes read at connect (queues, rings,
 * shared or split event channels, request-rx-copy and the offloads), the
 * switch port and the pcap file, teardown.  The rings are netback_tx.c and
 * netback_rx.c. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evtchn.h"
#include "gnttab.h"
#include "netback_int.h"
#include "sim.h"
#include "suspend.h"
#include "xenstore_int.h"

/* ---- MAC addresses -------------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int xs_netback_parse_mac(const char *s, uint8_t mac[6])
{
    if (!s || strlen(s) != 17) return -1;
    for (unsigned i = 0; i < 6; i++) {
        const char *p = s + 3 * i;
        int hi = hexval(p[0]), lo = hexval(p[1]);
        if (hi < 0 || lo < 0 || (i < 5 && p[2] != ':')) return -1;
        mac[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

void xs_netback_default_mac(unsigned domid, unsigned id, uint8_t mac[6])
{
    /* xl draws the last three bytes at random with the top bit clear;
     * xensim derives them so runs repeat. */
    mac[0] = 0x00;
    mac[1] = 0x16;
    mac[2] = 0x3e;
    mac[3] = (uint8_t)((domid >> 8) & 0x7f);
    mac[4] = (uint8_t)domid;
    mac[5] = (uint8_t)id;
}

#define MAC_FMT     "%02x:%02x:%02x:%02x:%02x:%02x"
#define MAC_ARGS(m) (m)[0], (m)[1], (m)[2], (m)[3], (m)[4], (m)[5]

/* ---- reports, pcap ------------------------------------------------------------------
 */

void xs_nb_disable(struct netback *nb)
{
    if (nb->disabled) return;
    nb->disabled = true;
    nb->stats.fatal++;
    xs_log(nb->dev->sim,
           "xensim: %s: fatal error; vif disabled until the frontend reconnects",
           nb->dev->who);
}

void xs_nb_fatal(struct nb_queue *q, const char *ring, RING_IDX idx, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct xs_pvdev *dev = q->nb->dev;
    xs_report(dev->front, "xensim: %s queue %u %s request %u: %s; fatal, vif disabled",
              dev->who, q->idx, ring, idx, msg);
    xs_nb_disable(q->nb);
}

void xs_nb_capture(struct netback *nb, const struct xs_netframe *f)
{
    if (!nb->pcap) return;
    char err[512];
    if (xs_pcap_write(nb->pcap, nb->dev->sim->vtime_ns, f->data, f->len, err,
                      sizeof(err))) {
        xs_log(nb->dev->sim, "xensim: %s: %s; capture stopped", nb->dev->who, err);
        xs_pcap_close(nb->pcap, err, sizeof(err));
        nb->pcap = NULL;
    }
}

/* ---- create / destroy ------------------------------------------------------------ */

static int toolstack_nodes(struct xs_pvdev *dev)
{
    struct netback *nb = dev->priv;
    char mac[18];
    snprintf(mac, sizeof(mac), MAC_FMT, MAC_ARGS(nb->mac));
    int e = 0;
    /* libxl__set_xenstore_nic's nodes (no hotplug script: xensim is the
     * bridge). */
    e = e ? e : xs_pvdev_printf(dev, "mac", "%s", mac);
    e = e ? e : xs_pvdev_printf(dev, "bridge", "%s", nb->bridge);
    e = e ? e : xs_pvdev_printf(dev, "handle", "%u", dev->id);
    e = e ? e : xs_pvdev_printf(dev, "type", "vif");
    e = e ? e : xs_pvdev_printf_fe(dev, "handle", "%u", dev->id);
    e = e ? e : xs_pvdev_printf_fe(dev, "mac", "%s", mac);
    e = e ? e : xs_pvdev_printf_fe(dev, "mtu", "%u", XS_NETBACK_MTU);
    e = e ? e : xs_pvdev_printf_fe(dev, "trusted", "1");
    return e;
}

static void log_stats(struct netback *nb)
{
    const struct xs_netback_stats *s = &nb->stats;
    xs_log(nb->dev->sim,
           "xensim: %s: tx %" PRIu64 " frames %" PRIu64 " bytes %" PRIu64
           " errors %" PRIu64 " dropped, rx %" PRIu64 " frames %" PRIu64 " bytes %" PRIu64
           " errors %" PRIu64 " dropped",
           nb->dev->who, s->tx_frames, s->tx_bytes, s->tx_errors, s->tx_dropped,
           s->rx_frames, s->rx_bytes, s->rx_errors, s->rx_dropped);
}

static void destroy(struct xs_pvdev *dev)
{
    struct netback *nb = dev->priv;
    if (!nb) return;
    xs_netswitch_detach(&nb->port);
    char err[512];
    if (xs_pcap_close(nb->pcap, err, sizeof(err)))
        xs_log(dev->sim, "xensim: %s: %s", dev->who, err);
    free(nb->frame);
    free(nb);
    dev->priv = NULL;
}

static int create(struct xs_pvdev *dev, const void *vcfg, char *err, size_t errlen)
{
    const struct xs_netback_cfg *cfg = vcfg;
    const char *bridge = cfg->bridge ? cfg->bridge : XS_NETBACK_DEFAULT_SWITCH;
    unsigned maxq = cfg->max_queues ? cfg->max_queues : XS_NETBACK_DEFAULT_QUEUES;
    if (!bridge[0] || strlen(bridge) >= sizeof(((struct netback *)0)->bridge) ||
        strchr(bridge, '/')) {
        snprintf(err, errlen, "nic %u: switch name must be 1..63 characters without '/'",
                 dev->id);
        return -1;
    }
    if (maxq > XS_NETBACK_MAX_QUEUES) {
        snprintf(err, errlen, "nic %u: %u queues (1..%u)", dev->id, maxq,
                 XS_NETBACK_MAX_QUEUES);
        return -1;
    }
    if (cfg->mac_set && (cfg->mac[0] & 1)) {
        snprintf(err, errlen, "nic %u: mac " MAC_FMT " is a multicast address", dev->id,
                 MAC_ARGS(cfg->mac));
        return -1;
    }
    struct netback *nb = calloc(1, sizeof(*nb));
    if (!nb) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    nb->dev = dev;
    dev->priv = nb;
    snprintf(nb->bridge, sizeof(nb->bridge), "%s", bridge);
    if (cfg->mac_set)
        memcpy(nb->mac, cfg->mac, 6);
    else
        xs_netback_default_mac(dev->front->domid, dev->id, nb->mac);
    nb->max_queues = maxq;
    nb->freeze_suspended = cfg->freeze_suspended;
    nb->port.deliver = xs_nb_rx_deliver;
    nb->port.ctx = nb;
    nb->frame = xs_netframe_new(NB_FRAME_MAX);
    if (!nb->frame) {
        snprintf(err, errlen, "out of memory");
        destroy(dev);
        return -1;
    }
    if (cfg->pcap) {
        char perr[4200];
        nb->pcap = cfg->pcap_append ? xs_pcap_open_append(cfg->pcap, perr, sizeof(perr))
                                    : xs_pcap_open(cfg->pcap, perr, sizeof(perr));
        if (!nb->pcap) {
            snprintf(err, errlen, "nic %u: %s", dev->id, perr);
            destroy(dev);
            return -1;
        }
    }
    int e = toolstack_nodes(dev);
    if (e) {
        snprintf(err, errlen, "nic %u: cannot write its xenstore nodes (errno %d)",
                 dev->id, e);
        destroy(dev);
        return -1;
    }
    return 0;
}

/* ---- features -----------------------------------------------------------------------
 */

static int publish(struct xs_pvdev *dev)
{
    struct netback *nb = dev->priv;
    int e = 0;
    /* Linux netback_probe's set, less the control ring, XDP headroom and
     * multicast filtering (multicast extras are accepted all the same). */
    e = e ? e : xs_pvdev_printf(dev, "feature-sg", "1");
    e = e ? e : xs_pvdev_printf(dev, "feature-gso-tcpv4", "1");
    e = e ? e : xs_pvdev_printf(dev, "feature-gso-tcpv6", "1");
    e = e ? e : xs_pvdev_printf(dev, "feature-ipv6-csum-offload", "1");
    e = e ? e : xs_pvdev_printf(dev, "feature-rx-copy", "1");
    e = e ? e : xs_pvdev_printf(dev, "feature-rx-flip", "0");
    e = e ? e : xs_pvdev_printf(dev, "feature-split-event-channels", "1");
    e = e ? e : xs_pvdev_printf(dev, "multi-queue-max-queues", "%u", nb->max_queues);
    return e;
}

/* ---- connect ------------------------------------------------------------------------
 */

static void queue_drop(struct nb_queue *q, bool live)
{
    struct xs_pvdev *dev = q->nb->dev;
    if (live && q->tx_va && !q->nb->disabled) xs_nb_tx_fail_all(q);
    xs_nb_rx_purge(q);
    if (q->tx_va) xs_pvdev_unmap_ring(dev, q->tx_va, 1, &q->tx_handle);
    if (q->rx_va) xs_pvdev_unmap_ring(dev, q->rx_va, 1, &q->rx_handle);
    q->tx_va = q->rx_va = NULL;
}

static void disconnect(struct xs_pvdev *dev, bool live)
{
    struct netback *nb = dev->priv;
    bool was = nb->nr_queues > 0;
    xs_netswitch_detach(&nb->port);
    for (unsigned i = 0; i < nb->nr_queues; i++)
        queue_drop(&nb->queues[i], live);
    nb->nr_queues = 0;
    if (was) log_stats(nb);
}

/* A frontend's mistake in its nodes: reported about it, and fatal. */
static int fe_bad(struct xs_pvdev *dev, int err, const char *what, const char *dir)
{
    xs_report(dev->front, "xensim: %s: bad frontend node %s/%s: %s", dev->who, dir, what,
              err == ENOENT ? "missing" : "not a valid value");
    xs_pvdev_fatal(dev, err, "reading %s/%s", dir, what);
    return -1;
}

/* A 0/1-ish feature flag of the frontend (any unsigned, as Linux's
 * xenbus_read_unsigned): missing is 0, garbage is the frontend's bug. */
static int fe_flag(struct xs_pvdev *dev, const char *node, bool *out)
{
    uint64_t v = 0;
    int e = xs_pvdev_read_uint(dev, dev->fe_path, node, UINT32_MAX, &v);
    if (e && e != ENOENT) return fe_bad(dev, e, node, dev->fe_path);
    *out = !e && v;
    return 0;
}

static int bind_port(struct xs_pvdev *dev, unsigned q, const char *dir, const char *node,
                     evtchn_port_t *port)
{
    uint64_t v;
    int e = xs_pvdev_read_uint(dev, dir, node, UINT32_MAX, &v);
    if (e) return fe_bad(dev, e, node, dir);
    /* Xen's bind_interdomain check: the port waits for us (Dom0). */
    if (!xs_evtchn_is_unbound_for(dev->front, (evtchn_port_t)v, 0)) {
        xs_report(dev->front,
                  "xensim: %s: queue %u: %s %" PRIu64
                  " is not an unbound port for domain 0",
                  dev->who, q, node, v);
        xs_pvdev_fatal(dev, EINVAL, "binding %s %" PRIu64, node, v);
        return -1;
    }
    *port = (evtchn_port_t)v;
    return 0;
}

static void *map_one(struct xs_pvdev *dev, unsigned q, const char *what, grant_ref_t ref,
                     grant_handle_t *h)
{
    unsigned bad;
    int st;
    void *va = xs_pvdev_map_ring(dev, &ref, 1, h, &bad, &st);
    if (!va) {
        xs_report(dev->front,
                  "xensim: %s: queue %u: cannot map %s (grant ref %u): GNTST %d",
                  dev->who, q, what, ref, st);
        xs_pvdev_fatal(dev, EINVAL, "mapping %s %u", what, ref);
    }
    return va;
}

/* One queue: its two rings and event channel(s), in dir (the frontend's
 * directory, or queue-N below it). */
static int queue_connect(struct netback *nb, unsigned qi, const char *dir)
{
    struct xs_pvdev *dev = nb->dev;
    struct nb_queue *q = &nb->queues[qi];
    memset(q, 0, sizeof(*q));
    q->nb = nb;
    q->idx = qi;
    uint64_t txref, rxref;
    int e = xs_pvdev_read_uint(dev, dir, "tx-ring-ref", UINT32_MAX, &txref);
    if (e) return fe_bad(dev, e, "tx-ring-ref", dir);
    e = xs_pvdev_read_uint(dev, dir, "rx-ring-ref", UINT32_MAX, &rxref);
    if (e) return fe_bad(dev, e, "rx-ring-ref", dir);
    /* Split channels when both nodes are there, else the one. */
    char tmp[16];
    bool split = !xs_pvdev_read(dev, dir, "event-channel-tx", tmp, sizeof(tmp)) &&
                 !xs_pvdev_read(dev, dir, "event-channel-rx", tmp, sizeof(tmp));
    if (split) {
        if (bind_port(dev, qi, dir, "event-channel-tx", &q->tx_port) ||
            bind_port(dev, qi, dir, "event-channel-rx", &q->rx_port))
            return -1;
    } else {
        if (bind_port(dev, qi, dir, "event-channel", &q->tx_port)) return -1;
        q->rx_port = q->tx_port;
    }
    if (qi == 0) nb->split = split;
    q->tx_va = map_one(dev, qi, "tx-ring-ref", (grant_ref_t)txref, &q->tx_handle);
    if (!q->tx_va) return -1;
    q->rx_va = map_one(dev, qi, "rx-ring-ref", (grant_ref_t)rxref, &q->rx_handle);
    if (!q->rx_va) return -1;
    /* Attached where the frontend's responses are (xenvif_map_frontend_data_rings),
     * and refused if its requests are already impossible. */
    netif_tx_sring_t *txs = q->tx_va;
    netif_rx_sring_t *rxs = q->rx_va;
    RING_IDX txrsp = __atomic_load_n(&txs->rsp_prod, __ATOMIC_ACQUIRE);
    RING_IDX rxrsp = __atomic_load_n(&rxs->rsp_prod, __ATOMIC_ACQUIRE);
    BACK_RING_ATTACH(&q->tx, txs, txrsp, NB_PAGE);
    BACK_RING_ATTACH(&q->rx, rxs, rxrsp, NB_PAGE);
    RING_IDX txreq = __atomic_load_n(&txs->req_prod, __ATOMIC_ACQUIRE);
    RING_IDX rxreq = __atomic_load_n(&rxs->req_prod, __ATOMIC_ACQUIRE);
    if (txreq - txrsp > RING_SIZE(&q->tx) || rxreq - rxrsp > RING_SIZE(&q->rx)) {
        xs_report(dev->front,
                  "xensim: %s: queue %u: rings hold impossible indexes at connect (tx "
                  "req %u rsp %u, rx req %u rsp %u, %u slots each)",
                  dev->who, qi, txreq, txrsp, rxreq, rxrsp, RING_SIZE(&q->tx));
        xs_pvdev_fatal(dev, EIO, "mapping shared-frames %" PRIu64 "/%" PRIu64, txref,
                       rxref);
        return -1;
    }
    xs_ring_check_init(&q->tx_chk, dev->front, RING_SIZE(&q->tx), txrsp, "%s queue %u tx",
                       dev->who, qi);
    xs_ring_check_init(&q->rx_chk, dev->front, RING_SIZE(&q->rx), rxrsp, "%s queue %u rx",
                       dev->who, qi);
    return 0;
}

static int connect(struct xs_pvdev *dev)
{
    struct netback *nb = dev->priv;
    const char *fe = dev->fe_path;
    uint64_t nq = 1;
    int e = xs_pvdev_read_uint(dev, fe, "multi-queue-num-queues", UINT32_MAX, &nq);
    if (e && e != ENOENT) return fe_bad(dev, e, "multi-queue-num-queues", fe);
    if (nq == 0 || nq > nb->max_queues) {
        xs_report(dev->front,
                  "xensim: %s: frontend asked for %" PRIu64 " queues (1..%u offered)",
                  dev->who, nq, nb->max_queues);
        xs_pvdev_fatal(dev, EINVAL,
                       "guest requested %" PRIu64 " queues, exceeding the "
                       "maximum of %u",
                       nq, nb->max_queues);
        return -1;
    }
    uint64_t copy = 0;
    e = xs_pvdev_read_uint(dev, fe, "request-rx-copy", UINT32_MAX, &copy);
    if (e && e != ENOENT) return fe_bad(dev, e, "request-rx-copy", fe);
    if (!copy) {
        /* Page flipping is gone from Xen: not a protocol error, a frontend
         * this backend cannot serve. */
        xs_pvdev_fatal(dev, EOPNOTSUPP, "only rx-copy supported (%s/request-rx-copy)",
                       fe);
        return -1;
    }
    if (fe_flag(dev, "feature-rx-notify", &nb->rx_notify) ||
        fe_flag(dev, "feature-sg", &nb->sg) ||
        fe_flag(dev, "feature-gso-tcpv4", &nb->gso_v4) ||
        fe_flag(dev, "feature-gso-tcpv6", &nb->gso_v6) ||
        fe_flag(dev, "feature-no-csum-offload", &nb->no_csum) ||
        fe_flag(dev, "feature-ipv6-csum-offload", &nb->ipv6_csum))
        return -1;
    nb->disabled = false;
    nb->frozen = false; /* a new domain: no request of the old one holds */
    nb->seen_gen = 0;
    for (unsigned q = 0; q < nq; q++) {
        char dir[160];
        if (nq == 1)
            snprintf(dir, sizeof(dir), "%s", fe);
        else
            snprintf(dir, sizeof(dir), "%s/queue-%u", fe, q);
        if (queue_connect(nb, q, dir)) {
            nb->nr_queues = q + 1; /* this one's half too */
            for (unsigned i = 0; i < nb->nr_queues; i++)
                queue_drop(&nb->queues[i], false);
            nb->nr_queues = 0;
            return -1;
        }
    }
    nb->nr_queues = (unsigned)nq;
    char err[256];
    if (xs_netswitch_attach(dev->sim, nb->bridge, &nb->port, err, sizeof(err))) {
        xs_pvdev_fatal(dev, ENOMEM, "switch %s: %s", nb->bridge, err);
        disconnect(dev, false);
        return -1;
    }
    nb->stats.connects++;
    xs_log(dev->sim,
           "xensim: %s: connected: " MAC_FMT
           " on switch %s port %u, %u queue%s, %s event "
           "channels%s%s%s",
           dev->who, MAC_ARGS(nb->mac), nb->bridge, nb->port.no, nb->nr_queues,
           nb->nr_queues == 1 ? "" : "s", nb->split ? "split" : "shared",
           nb->sg ? ", sg" : "", nb->gso_v4 ? ", gso-tcpv4" : "",
           nb->gso_v6 ? ", gso-tcpv6" : "");
    return 0;
}

/* suspend=freeze: is the vif frozen now?  The request is seen in
 * control/shutdown (read when the store changed); the freeze ends when
 * the domain runs again after suspending, or did not suspend in time. */
static bool frozen(struct netback *nb)
{
    struct xs_pvdev *dev = nb->dev;
    struct xs_domain *d = dev->front;
    struct xs_sim *sim = dev->sim;
    if (!nb->frozen && sim->xenstore && sim->xenstore->generation != nb->seen_gen) {
        nb->seen_gen = sim->xenstore->generation;
        char dir[48], val[16];
        snprintf(dir, sizeof(dir), "/local/domain/%u/control", d->domid);
        if (!xs_pvdev_read(dev, dir, "shutdown", val, sizeof(val)) &&
            !strcmp(val, "suspend")) {
            nb->frozen = true;
            nb->saw_suspended = false;
            nb->frozen_ns = sim->vtime_ns;
        }
    }
    if (nb->frozen) {
        if (d->suspended)
            nb->saw_suspended = true;
        else if (nb->saw_suspended ||
                 sim->vtime_ns - nb->frozen_ns > XS_SUSPEND_TIMEOUT_NS)
            nb->frozen = false;
    }
    return nb->frozen || d->suspended;
}

static void service(struct xs_pvdev *dev)
{
    struct netback *nb = dev->priv;
    /* Frames for the guest still queue (and are dropped, counted, if the
     * vif goes away with the old domain). */
    if (nb->freeze_suspended && frozen(nb)) return;
    for (unsigned i = 0; i < nb->nr_queues && !nb->disabled; i++)
        xs_nb_tx_service(&nb->queues[i]);
    for (unsigned i = 0; i < nb->nr_queues && !nb->disabled; i++)
        xs_nb_rx_service(&nb->queues[i]);
}

const struct xs_pvdev_kind xs_netback_kind = {
    .devclass = "vif",
    .name = "netback",
    .create = create,
    .publish = publish,
    .connect = connect,
    .service = service,
    .disconnect = disconnect,
    .destroy = destroy,
};

const struct xs_netback_stats *xs_netback_stats(const struct xs_pvdev *dev)
{
    return &((const struct netback *)dev->priv)->stats;
}

unsigned xs_netback_nr_queues(const struct xs_pvdev *dev)
{
    return ((const struct netback *)dev->priv)->nr_queues;
}

bool xs_netback_disabled(const struct xs_pvdev *dev)
{
    return ((const struct netback *)dev->priv)->disabled;
}

unsigned xs_netback_port(const struct xs_pvdev *dev)
{
    const struct netback *nb = dev->priv;
    return nb->port.sw ? nb->port.no : 0;
}
