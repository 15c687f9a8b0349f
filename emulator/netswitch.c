/* The simulated Ethernet switch (netswitch.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netswitch.h"
#include "pvdev.h"
#include "sim.h"

struct fdb_entry {
    bool used;
    uint8_t mac[6];
    unsigned port;
    uint64_t learned; /* the switch's clock when (re)learned: the oldest goes */
};

struct xs_netswitch {
    struct xs_netswitches *all;
    char name[XS_NETSWITCH_NAME_MAX];
    struct xs_netswitch_port *ports; /* sorted by number */
    unsigned next_no;
    struct fdb_entry fdb[XS_NETSWITCH_FDB_MAX];
    uint64_t clock;
    struct xs_netframe *head, *tail;
    unsigned queued;
    struct xs_netswitch_stats stats;
    struct xs_netswitch *next;
};

/* A simulation's switches, by creation order, and whether a forwarding
 * action is queued in the run loop. */
struct xs_netswitches {
    struct xs_sim *sim;
    struct xs_netswitch *head;
    bool flush_pending;
};

struct xs_netframe *xs_netframe_new(uint16_t len)
{
    struct xs_netframe *f = malloc(sizeof(*f) + len);
    if (!f) return NULL;
    memset(f, 0, sizeof(*f));
    f->len = len;
    return f;
}

struct xs_netframe *xs_netframe_dup(const struct xs_netframe *f)
{
    struct xs_netframe *n = xs_netframe_new(f->len);
    if (!n) return NULL;
    memcpy(n, f, sizeof(*f) + f->len);
    n->next = NULL;
    return n;
}

static struct xs_netswitch *find(const struct xs_netswitches *all, const char *name)
{
    for (struct xs_netswitch *sw = all ? all->head : NULL; sw; sw = sw->next)
        if (!strcmp(sw->name, name)) return sw;
    return NULL;
}

int xs_netswitch_attach(struct xs_sim *sim, const char *name, struct xs_netswitch_port *p,
                        char *err, size_t errlen)
{
    if (!name[0] || strlen(name) >= XS_NETSWITCH_NAME_MAX) {
        snprintf(err, errlen, "switch name must be 1..%u characters",
                 XS_NETSWITCH_NAME_MAX - 1);
        return -1;
    }
    if (!sim->netswitches) {
        sim->netswitches = calloc(1, sizeof(*sim->netswitches));
        if (!sim->netswitches) goto oom;
        sim->netswitches->sim = sim;
    }
    struct xs_netswitches *all = sim->netswitches;
    struct xs_netswitch *sw = find(all, name);
    if (!sw) {
        sw = calloc(1, sizeof(*sw));
        if (!sw) goto oom;
        sw->all = all;
        snprintf(sw->name, sizeof(sw->name), "%s", name);
        sw->next_no = 1;
        struct xs_netswitch **pp = &all->head;
        while (*pp)
            pp = &(*pp)->next;
        *pp = sw;
    }
    p->sw = sw;
    p->no = sw->next_no++;
    p->next = NULL;
    struct xs_netswitch_port **pp = &sw->ports;
    while (*pp)
        pp = &(*pp)->next;
    *pp = p; /* numbers only grow: the end keeps the order */
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

static void free_queue(struct xs_netswitch *sw)
{
    while (sw->head) {
        struct xs_netframe *f = sw->head;
        sw->head = f->next;
        free(f);
        sw->stats.discarded++;
    }
    sw->tail = NULL;
    sw->queued = 0;
}

void xs_netswitch_detach(struct xs_netswitch_port *p)
{
    struct xs_netswitch *sw = p->sw;
    if (!sw) return;
    for (struct xs_netswitch_port **pp = &sw->ports; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    for (unsigned i = 0; i < XS_NETSWITCH_FDB_MAX; i++)
        if (sw->fdb[i].used && sw->fdb[i].port == p->no) sw->fdb[i].used = false;
    p->sw = NULL;
    p->next = NULL;
    if (sw->ports) return;
    struct xs_netswitches *all = sw->all;
    for (struct xs_netswitch **pp = &all->head; *pp; pp = &(*pp)->next)
        if (*pp == sw) {
            *pp = sw->next;
            break;
        }
    free_queue(sw);
    /* What became of every frame, for whoever accounts for them. */
    const struct xs_netswitch_stats *st = &sw->stats;
    xs_log(all->sim,
           "xensim: switch %s: %" PRIu64 " frames in, %" PRIu64 " forwarded, %" PRIu64
           " flooded, %" PRIu64 " dropped, %" PRIu64 " unreached, %" PRIu64 " discarded",
           sw->name, st->received, st->forwarded, st->flooded, st->dropped, st->unreached,
           st->discarded);
    free(sw);
    if (!all->head) {
        /* A forwarding action still queued finds no switches and does
         * nothing. */
        all->sim->netswitches = NULL;
        free(all);
    }
}

static void flush_action(struct xs_sim *sim, void *arg)
{
    (void)arg;
    xs_netswitch_flush(sim);
}

bool xs_netswitch_send(struct xs_netswitch_port *p, const struct xs_netframe *f)
{
    struct xs_netswitch *sw = p->sw;
    if (!sw) return false;
    sw->stats.received++;
    struct xs_netswitches *all = sw->all;
    if (sw->queued >= XS_NETSWITCH_QUEUE_MAX) {
        sw->stats.dropped++;
        return false;
    }
    /* Forwarding waits for the run loop: an action due now runs at its next
     * device poll (and keeps an idle simulation from sleeping past it). */
    if (!all->flush_pending) {
        if (xs_pvdev_at(all->sim, all->sim->vtime_ns, flush_action, NULL)) {
            sw->stats.dropped++;
            return false;
        }
        all->flush_pending = true;
    }
    struct xs_netframe *n = xs_netframe_dup(f);
    if (!n) {
        sw->stats.dropped++;
        return false;
    }
    n->src_port = p->no;
    if (sw->tail)
        sw->tail->next = n;
    else
        sw->head = n;
    sw->tail = n;
    sw->queued++;
    return true;
}

static bool is_group(const uint8_t *mac)
{
    return mac[0] & 1; /* broadcast and multicast */
}

static struct xs_netswitch_port *port_by_no(struct xs_netswitch *sw, unsigned no)
{
    for (struct xs_netswitch_port *p = sw->ports; p; p = p->next)
        if (p->no == no) return p;
    return NULL;
}

static void learn(struct xs_netswitch *sw, const uint8_t *mac, unsigned port)
{
    if (is_group(mac) || !port_by_no(sw, port)) return;
    struct fdb_entry *slot = NULL, *victim = NULL;
    for (unsigned i = 0; i < XS_NETSWITCH_FDB_MAX && !slot; i++) {
        struct fdb_entry *e = &sw->fdb[i];
        if (e->used && !memcmp(e->mac, mac, 6)) slot = e;
        /* Else the first free entry, or the one learned longest ago. */
        else if (!e->used ? !victim || victim->used
                          : !victim || (victim->used && e->learned < victim->learned))
            victim = e;
    }
    if (!slot) slot = victim;
    slot->used = true;
    memcpy(slot->mac, mac, 6);
    slot->port = port;
    slot->learned = ++sw->clock;
}

static const struct fdb_entry *lookup(const struct xs_netswitch *sw, const uint8_t *mac)
{
    for (unsigned i = 0; i < XS_NETSWITCH_FDB_MAX; i++)
        if (sw->fdb[i].used && !memcmp(sw->fdb[i].mac, mac, 6)) return &sw->fdb[i];
    return NULL;
}

static void forward(struct xs_netswitch *sw, const struct xs_netframe *f)
{
    const uint8_t *dst = f->data, *src = f->data + 6;
    learn(sw, src, f->src_port);
    const struct fdb_entry *e = is_group(dst) ? NULL : lookup(sw, dst);
    if (e) {
        struct xs_netswitch_port *p = port_by_no(sw, e->port);
        /* A frame for the port it came from goes nowhere (no hairpin). */
        if (!p || p->no == f->src_port) {
            sw->stats.dropped++;
            return;
        }
        sw->stats.forwarded++;
        p->deliver(p, f);
        return;
    }
    sw->stats.flooded++;
    /* deliver() cannot detach ports: the list holds still. */
    bool reached = false;
    for (struct xs_netswitch_port *p = sw->ports; p; p = p->next)
        if (p->no != f->src_port) {
            p->deliver(p, f);
            reached = true;
        }
    /* No other port (its owner is away, e.g. suspended): the frame is lost. */
    if (!reached) sw->stats.unreached++;
}

void xs_netswitch_flush(struct xs_sim *sim)
{
    struct xs_netswitches *all = sim->netswitches;
    if (!all) return;
    all->flush_pending = false;
    for (struct xs_netswitch *sw = all->head; sw; sw = sw->next)
        while (sw->head) {
            struct xs_netframe *f = sw->head;
            sw->head = f->next;
            if (!sw->head) sw->tail = NULL;
            sw->queued--;
            /* Frames are at least a header long: netback refuses shorter. */
            if (f->len >= 14) forward(sw, f);
            free(f);
        }
}

const struct xs_netswitch_stats *xs_netswitch_stats(const struct xs_sim *sim,
                                                    const char *name)
{
    const struct xs_netswitch *sw = find(sim->netswitches, name);
    return sw ? &sw->stats : NULL;
}
