/* libFuzzer harness for xensim's console backend ring engine
 * (emulator/console_ring.c): the fuzz input plays a guest that may be
 * hostile -- any producer/consumer index, any bytes anywhere in the page --
 * interleaved with backend polls and input queued for the guest.  Input
 * format (see fuzz/README.md):
 *
 *   repeat { op:u8 args }, op % 9:
 *     0 write   n:u8 bytes[n]   the guest's output, into free space only
 *     1 outprod v:u32le         out_prod = v (hostile)
 *     2 incons  v:u32le         in_cons = v (hostile)
 *     3 poke    off:u16le n:u8 bytes[n]   raw bytes anywhere in the page
 *     4 poll                    the backend's run-loop poll
 *     5 input   n:u8 bytes[n]   queue console input for the guest
 *     6 read    n:u8            the guest consumes up to n input bytes
 *     7 drain                   the backend's final read (domain ended)
 *     8 restart v:u32le         a fresh page and engine, every index at v
 *
 * Oracles, besides ASan/UBSan (the page is a heap block of exactly the
 * struct's size): output only ever comes from out[] between the
 * backend's consumer and the guest's producer as they were before the
 * poll, in order, at most a ring's worth, and never after that ring was
 * reported; in[] gets exactly the next queued bytes, only into free
 * space; the backend writes nothing else in the page but its two indexes;
 * a notification exactly when an index moved; at most one report per
 * ring. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console_ring.h"

#define OUT_SZ ((uint32_t)XS_CONRING_OUT_SIZE)
#define IN_SZ  ((uint32_t)XS_CONRING_IN_SIZE)
#define CHECK(c)                                                                         \
    do {                                                                                 \
        if (!(c)) {                                                                      \
            fprintf(stderr, "console_ring: check failed: %s (line %d)\n", #c, __LINE__); \
            abort();                                                                     \
        }                                                                                \
    } while (0)

struct harness {
    struct xencons_interface *intf;
    struct xs_conring r;
    /* What the backend did during one poll. */
    char got[2 * XS_CONRING_OUT_SIZE];
    size_t got_len;
    unsigned outputs, notified, reports, out_reports, in_reports;
    /* The input queued and not yet delivered, as the harness sees it. */
    char *model;
    size_t model_len, model_cap;
};

static void h_output(void *arg, const char *buf, size_t len)
{
    struct harness *h = arg;
    CHECK(len > 0 && len <= OUT_SZ && h->got_len + len <= sizeof(h->got));
    memcpy(h->got + h->got_len, buf, len);
    h->got_len += len;
    h->outputs++;
}

static void h_notify(void *arg)
{
    ((struct harness *)arg)->notified++;
}

static void h_report(void *arg, const char *msg)
{
    struct harness *h = arg;
    h->reports++;
    if (!strncmp(msg, "out ring: ", 10)) h->out_reports++;
    if (!strncmp(msg, "in ring: ", 9)) h->in_reports++;
    CHECK(strlen(msg) < 256);
}

static const struct xs_conring_ops ops = {h_output, h_notify, h_report};

static void start(struct harness *h, XENCONS_RING_IDX base)
{
    if (h->intf) xs_conring_fini(&h->r);
    free(h->intf);
    h->intf = calloc(1, sizeof(*h->intf));
    CHECK(h->intf);
    h->intf->in_cons = h->intf->in_prod = h->intf->out_cons = h->intf->out_prod = base;
    xs_conring_init(&h->r, h->intf, &ops, h);
    /* As if the ring had carried base bytes each way already. */
    h->r.out_cons = h->r.in_prod = h->r.in_cons_seen = base;
    h->model_len = 0;
    h->out_reports = h->in_reports = 0;
}

static bool take(const uint8_t **p, size_t *left, void *dst, size_t n)
{
    if (*left < n) return false;
    memcpy(dst, *p, n);
    *p += n;
    *left -= n;
    return true;
}

/* A well-behaved guest producer: only into free space. */
static void guest_write(struct harness *h, const uint8_t *b, size_t n)
{
    struct xencons_interface *in = h->intf;
    for (size_t i = 0; i < n; i++) {
        if (in->out_prod - in->out_cons >= OUT_SZ) return;
        in->out[MASK_XENCONS_IDX(in->out_prod, in->out)] = (char)b[i];
        in->out_prod++;
    }
}

static void guest_read(struct harness *h, unsigned n)
{
    struct xencons_interface *in = h->intf;
    while (n-- && in->in_cons != in->in_prod && in->in_prod - in->in_cons <= IN_SZ)
        in->in_cons++;
}

static void queue_input(struct harness *h, const uint8_t *b, size_t n)
{
    if (xs_conring_input(&h->r, b, n) || !n) return; /* over the bound: nothing queued */
    if (h->model_len + n > h->model_cap) {
        size_t cap = h->model_cap ? h->model_cap * 2 : 1024;
        while (cap < h->model_len + n)
            cap *= 2;
        h->model = realloc(h->model, cap);
        CHECK(h->model);
        h->model_cap = cap;
    }
    memcpy(h->model + h->model_len, b, n);
    h->model_len += n;
    CHECK(xs_conring_input_pending(&h->r) == h->model_len);
}

static void backend(struct harness *h, bool drain)
{
    struct xencons_interface before = *h->intf;
    XENCONS_RING_IDX cons0 = h->r.out_cons, prod0 = before.out_prod;
    XENCONS_RING_IDX inprod0 = h->r.in_prod;
    bool out_broken0 = h->r.out_broken, in_broken0 = h->r.in_broken;
    unsigned notified0 = h->notified;
    size_t pending0 = xs_conring_input_pending(&h->r);
    h->got_len = 0;
    bool moved = false;
    if (drain)
        xs_conring_drain(&h->r);
    else
        moved = xs_conring_poll(&h->r);
    const struct xencons_interface *after = h->intf;

    /* Output: exactly out[cons0, prod0) of the page before the poll. */
    if (h->got_len) {
        CHECK(!out_broken0);
        CHECK(h->got_len == (XENCONS_RING_IDX)(prod0 - cons0) && h->got_len <= OUT_SZ);
        for (size_t i = 0; i < h->got_len; i++)
            CHECK(h->got[i] == before.out[MASK_XENCONS_IDX(cons0 + i, before.out)]);
        CHECK(h->r.out_cons == prod0 && after->out_cons == prod0);
    } else {
        CHECK(h->r.out_cons == cons0);
    }
    /* Input: the next queued bytes, into the space the guest freed. */
    uint32_t n = h->r.in_prod - inprod0;
    if (n) {
        CHECK(!drain && !in_broken0 && !h->r.in_broken);
        CHECK(n <= pending0 && n <= h->model_len);
        CHECK(n <= IN_SZ - (inprod0 - before.in_cons));
        for (uint32_t i = 0; i < n; i++)
            CHECK(after->in[MASK_XENCONS_IDX(inprod0 + i, after->in)] == h->model[i]);
        CHECK(after->in_prod == h->r.in_prod);
        memmove(h->model, h->model + n, h->model_len - n);
        h->model_len -= n;
    }
    CHECK(xs_conring_input_pending(&h->r) == h->model_len);
    /* Nothing else in the page changed: all of out[], and in[] outside
     * the window just filled (which may wrap). */
    CHECK(!memcmp(after->out, before.out, OUT_SZ));
    uint32_t rest = MASK_XENCONS_IDX(inprod0 + n, after->in), left = IN_SZ - n;
    uint32_t first = left < IN_SZ - rest ? left : IN_SZ - rest;
    CHECK(!memcmp(after->in + rest, before.in + rest, first));
    CHECK(!memcmp(after->in, before.in, left - first));
    CHECK(after->out_prod == before.out_prod && after->in_cons == before.in_cons);
    if (!h->got_len) CHECK(after->out_cons == before.out_cons);
    if (!n) CHECK(after->in_prod == before.in_prod);
    /* One notification exactly when an index moved (none for a drain). */
    if (!drain) CHECK(moved == (h->got_len || n));
    CHECK(h->notified == notified0 + (moved && !drain));
    CHECK(h->out_reports <= 1 && h->in_reports <= 1);
    CHECK(h->out_reports == h->r.out_broken && h->in_reports == h->r.in_broken);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct harness h;
    memset(&h, 0, sizeof(h));
    start(&h, 0);
    const uint8_t *p = data;
    size_t left = size;
    uint8_t op, n;
    uint8_t buf[256];
    uint32_t v;
    uint16_t off;
    while (take(&p, &left, &op, 1)) {
        switch (op % 9) {
        case 0:
            if (!take(&p, &left, &n, 1) || !take(&p, &left, buf, n)) goto out;
            guest_write(&h, buf, n);
            break;
        case 1:
            if (!take(&p, &left, &v, 4)) goto out;
            h.intf->out_prod = v;
            break;
        case 2:
            if (!take(&p, &left, &v, 4)) goto out;
            h.intf->in_cons = v;
            break;
        case 3:
            if (!take(&p, &left, &off, 2) || !take(&p, &left, &n, 1) ||
                !take(&p, &left, buf, n))
                goto out;
            off %= sizeof(*h.intf);
            if (n > sizeof(*h.intf) - off) n = (uint8_t)(sizeof(*h.intf) - off);
            memcpy((char *)h.intf + off, buf, n);
            break;
        case 4:
            backend(&h, false);
            break;
        case 5:
            if (!take(&p, &left, &n, 1) || !take(&p, &left, buf, n)) goto out;
            queue_input(&h, buf, n);
            break;
        case 6:
            if (!take(&p, &left, &n, 1)) goto out;
            guest_read(&h, n);
            break;
        case 7:
            backend(&h, true);
            break;
        case 8:
            if (!take(&p, &left, &v, 4)) goto out;
            start(&h, v);
            break;
        }
    }
out:
    /* A last poll sees whatever the guest left. */
    backend(&h, false);
    xs_conring_fini(&h.r);
    free(h.intf);
    free(h.model);
    return 0;
}
