/* The PV console backend: the ring engine on a bare page (indexes across
 * the ring's end and the 32-bit wrap, a full ring, input delivery, each
 * sanitizer case with its report), then xensim's toolstack part for a
 * domain (special page, HVM params, port, grant, xenstore nodes) and the
 * run loop's poll. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xen/hvm/params.h>

#include "console_ring.h"
#include "console_sim.h"
#include "evtchn.h"
#include "gnttab.h"
#include "sim.h"
#include "unit.h"
#include "xenstore.h"

/* ---- the engine on a bare page ------------------------------------------------ */

struct fake {
    struct xencons_interface *intf;
    struct xs_conring r;
    char out[1 << 16];
    size_t out_len;
    unsigned notified, reports;
    char report[256];
};

static void f_output(void *arg, const char *buf, size_t len)
{
    struct fake *f = arg;
    ck_assert_uint_le(f->out_len + len, sizeof(f->out));
    memcpy(f->out + f->out_len, buf, len);
    f->out_len += len;
}

static void f_notify(void *arg)
{
    ((struct fake *)arg)->notified++;
}

static void f_report(void *arg, const char *msg)
{
    struct fake *f = arg;
    f->reports++;
    snprintf(f->report, sizeof(f->report), "%s", msg);
}

static const struct xs_conring_ops f_ops = {f_output, f_notify, f_report};

static struct fake *fake_new(void)
{
    struct fake *f = calloc(1, sizeof(*f));
    ck_assert_ptr_nonnull(f);
    f->intf = calloc(1, 4096);
    ck_assert_ptr_nonnull(f->intf);
    xs_conring_init(&f->r, f->intf, &f_ops, f);
    return f;
}

static void fake_free(struct fake *f)
{
    xs_conring_fini(&f->r);
    free(f->intf);
    free(f);
}

/* The guest's side: bytes into out[] at its producer index. */
static void guest_put(struct xencons_interface *intf, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        intf->out[MASK_XENCONS_IDX(intf->out_prod + i, intf->out)] = s[i];
    intf->out_prod += (XENCONS_RING_IDX)n;
}

/* ...and what it reads from in[]. */
static size_t guest_get(struct xencons_interface *intf, char *buf, size_t cap)
{
    size_t n = 0;
    while (intf->in_cons != intf->in_prod && n < cap)
        buf[n++] = intf->in[MASK_XENCONS_IDX(intf->in_cons++, intf->in)];
    return n;
}

START_TEST(ring_out_basic)
{
    struct fake *f = fake_new();
    ck_assert(!xs_conring_poll(&f->r)); /* nothing: no notify */
    ck_assert_uint_eq(f->notified, 0);
    guest_put(f->intf, "hello\n", 6);
    ck_assert(xs_conring_poll(&f->r));
    ck_assert_uint_eq(f->out_len, 6);
    ck_assert_int_eq(memcmp(f->out, "hello\n", 6), 0);
    ck_assert_uint_eq(f->intf->out_cons, 6);
    ck_assert_uint_eq(f->notified, 1);
    ck_assert(!xs_conring_poll(&f->r));
    ck_assert_uint_eq(f->notified, 1);
    ck_assert_uint_eq(f->r.out_bytes, 6);
    fake_free(f);
}
END_TEST

/* Across the ring's end and the 32-bit wrap of the indexes at once. */
START_TEST(ring_out_wraps)
{
    struct fake *f = fake_new();
    XENCONS_RING_IDX start = 0xffffff9cu; /* masked 0x79c: 100 bytes to the end */
    f->r.out_cons = start;
    f->intf->out_cons = f->intf->out_prod = start;
    char msg[300];
    for (unsigned i = 0; i < sizeof(msg); i++)
        msg[i] = (char)('A' + i % 26);
    guest_put(f->intf, msg, sizeof(msg));
    ck_assert_uint_eq(f->intf->out_prod, 200); /* wrapped */
    ck_assert(xs_conring_poll(&f->r));
    ck_assert_uint_eq(f->out_len, sizeof(msg));
    ck_assert_int_eq(memcmp(f->out, msg, sizeof(msg)), 0);
    ck_assert_uint_eq(f->intf->out_cons, 200);
    ck_assert_uint_eq(f->reports, 0);
    fake_free(f);
}
END_TEST

/* Exactly the ring's size waiting is a full ring, not a violation. */
START_TEST(ring_out_full)
{
    struct fake *f = fake_new();
    char big[XS_CONRING_OUT_SIZE];
    for (int round = 0; round < 3; round++) {
        memset(big, 'a' + round, sizeof(big));
        guest_put(f->intf, big, sizeof(big));
        ck_assert_uint_eq(f->intf->out_prod - f->intf->out_cons, XS_CONRING_OUT_SIZE);
        ck_assert(xs_conring_poll(&f->r));
        ck_assert_uint_eq(f->out_len, (size_t)(round + 1) * sizeof(big));
        ck_assert_int_eq(f->out[f->out_len - 1], 'a' + round);
    }
    ck_assert_uint_eq(f->reports, 0);
    fake_free(f);
}
END_TEST

START_TEST(ring_out_too_far_ahead)
{
    struct fake *f = fake_new();
    f->intf->out_prod = XS_CONRING_OUT_SIZE + 1;
    ck_assert(!xs_conring_poll(&f->r));
    ck_assert_uint_eq(f->reports, 1);
    ck_assert_str_eq(f->report,
                     "out ring: out_prod 2049 is 2049 bytes ahead of out_cons 0 "
                     "(ring size 2048); output no longer read");
    ck_assert_uint_eq(f->out_len, 0);
    ck_assert(f->r.out_broken);
    /* Even a sane producer now is ignored, and reported no more. */
    f->intf->out_prod = 10;
    ck_assert(!xs_conring_poll(&f->r));
    ck_assert_uint_eq(f->out_len, 0);
    ck_assert_uint_eq(f->reports, 1);
    ck_assert_uint_eq(f->intf->out_cons, 0);
    fake_free(f);
}
END_TEST

START_TEST(ring_out_backwards)
{
    struct fake *f = fake_new();
    char buf[100];
    memset(buf, 'x', sizeof(buf));
    guest_put(f->intf, buf, sizeof(buf));
    ck_assert(xs_conring_poll(&f->r));
    f->intf->out_prod = 50;
    ck_assert(!xs_conring_poll(&f->r));
    ck_assert_str_eq(f->report, "out ring: out_prod 50 moved backwards past out_cons "
                                "100; output no longer read");
    ck_assert_uint_eq(f->out_len, 100);
    /* Far "ahead" by the wrap is behind too: 2^31 and more. */
    struct fake *g = fake_new();
    g->intf->out_prod = 0x80000000u;
    ck_assert(!xs_conring_poll(&g->r));
    ck_assert_str_eq(g->report, "out ring: out_prod 2147483648 moved backwards past "
                                "out_cons 0; output no longer read");
    fake_free(g);
    fake_free(f);
}
END_TEST

/* The backend's indexes are its own: a guest scribbling on out_cons (or
 * in_prod) changes what the page says until the next move, nothing else. */
START_TEST(ring_guest_scribbles_backend_indexes)
{
    struct fake *f = fake_new();
    guest_put(f->intf, "abc", 3);
    f->intf->out_cons = 0x12345678;
    f->intf->in_prod = 0x9abc;
    ck_assert(xs_conring_poll(&f->r));
    ck_assert_uint_eq(f->out_len, 3);
    ck_assert_uint_eq(f->intf->out_cons, 3);
    ck_assert_int_eq(xs_conring_input(&f->r, "z", 1), 0);
    ck_assert(xs_conring_poll(&f->r));
    ck_assert_uint_eq(f->intf->in_prod, 1);
    ck_assert_int_eq(f->intf->in[0], 'z');
    ck_assert_uint_eq(f->reports, 0);
    fake_free(f);
}
END_TEST

START_TEST(ring_in_delivery)
{
    struct fake *f = fake_new();
    ck_assert_int_eq(xs_conring_input(&f->r, "abc", 3), 0);
    ck_assert_uint_eq(xs_conring_input_pending(&f->r), 3);
    ck_assert(xs_conring_poll(&f->r));
    ck_assert_uint_eq(f->notified, 1);
    ck_assert_uint_eq(f->intf->in_prod, 3);
    ck_assert_int_eq(memcmp(f->intf->in, "abc", 3), 0);
    ck_assert_uint_eq(xs_conring_input_pending(&f->r), 0);
    /* More than the ring holds: it goes as the guest makes room, in order,
     * across the ring's end. */
    char big[3000], got[3000 + 3];
    for (unsigned i = 0; i < sizeof(big); i++)
        big[i] = (char)('a' + i % 23);
    ck_assert_int_eq(xs_conring_input(&f->r, big, sizeof(big)), 0);
    size_t n = 0;
    unsigned rounds = 0;
    while (n < sizeof(got)) {
        xs_conring_poll(&f->r);
        ck_assert_uint_le(f->intf->in_prod - f->intf->in_cons, XS_CONRING_IN_SIZE);
        size_t take = guest_get(f->intf, got + n, 700); /* a slow reader */
        ck_assert_uint_gt(take, 0);
        n += take;
        ck_assert_uint_lt(++rounds, 20);
    }
    ck_assert_int_eq(memcmp(got, "abc", 3), 0);
    ck_assert_int_eq(memcmp(got + 3, big, sizeof(big)), 0);
    ck_assert_uint_eq(f->r.in_bytes, sizeof(got));
    ck_assert(!xs_conring_poll(&f->r)); /* all delivered, nothing moved */
    ck_assert_uint_eq(f->reports, 0);
    fake_free(f);
}
END_TEST

/* A full in[] waits for the guest; queued input never exceeds the bound. */
START_TEST(ring_in_full_and_bounded)
{
    struct fake *f = fake_new();
    static char big[XS_CONRING_INPUT_MAX];
    memset(big, 'q', sizeof(big));
    ck_assert_int_eq(xs_conring_input(&f->r, big, sizeof(big)), 0);
    ck_assert_int_eq(xs_conring_input(&f->r, "x", 1), -1);
    ck_assert(xs_conring_poll(&f->r));
    ck_assert_uint_eq(f->intf->in_prod, XS_CONRING_IN_SIZE);
    ck_assert(!xs_conring_poll(&f->r)); /* full: nothing moves */
    ck_assert_uint_eq(f->notified, 1);
    /* What went to the ring makes room in the queue. */
    ck_assert_int_eq(xs_conring_input(&f->r, "x", 1), 0);
    ck_assert_uint_eq(xs_conring_input_pending(&f->r),
                      XS_CONRING_INPUT_MAX - XS_CONRING_IN_SIZE + 1);
    fake_free(f);
}
END_TEST

START_TEST(ring_in_cons_passes_prod)
{
    struct fake *f = fake_new();
    ck_assert_int_eq(xs_conring_input(&f->r, "abc", 3), 0);
    ck_assert(xs_conring_poll(&f->r));
    f->intf->in_cons = 4;
    ck_assert_int_eq(xs_conring_input(&f->r, "def", 3), 0);
    ck_assert(!xs_conring_poll(&f->r));
    ck_assert_uint_eq(f->reports, 1);
    ck_assert_str_eq(f->report,
                     "in ring: in_cons 4 passed in_prod 3; input no longer delivered");
    ck_assert(f->r.in_broken);
    ck_assert_uint_eq(f->intf->in_prod, 3);
    /* Output still flows: only the broken ring is left alone. */
    guest_put(f->intf, "out", 3);
    ck_assert(xs_conring_poll(&f->r));
    ck_assert_uint_eq(f->out_len, 3);
    ck_assert_uint_eq(f->reports, 1);
    fake_free(f);
}
END_TEST

/* Checked on every poll, whether input waits or not. */
START_TEST(ring_in_cons_backwards)
{
    struct fake *f = fake_new();
    ck_assert_int_eq(xs_conring_input(&f->r, "abc", 3), 0);
    ck_assert(xs_conring_poll(&f->r));
    f->intf->in_cons = 3;
    ck_assert(!xs_conring_poll(&f->r));
    f->intf->in_cons = 1;
    ck_assert(!xs_conring_poll(&f->r));
    ck_assert_str_eq(f->report, "in ring: in_cons 1 moved backwards from 3 (in_prod 3); "
                                "input no longer delivered");
    struct fake *g = fake_new();
    g->intf->in_cons = 0x80000000u; /* 2^31 behind in_prod 0 */
    ck_assert(!xs_conring_poll(&g->r));
    ck_assert_str_eq(g->report, "in ring: in_cons 2147483648 moved backwards from 0 "
                                "(in_prod 0); input no longer delivered");
    fake_free(g);
    fake_free(f);
}
END_TEST

START_TEST(ring_drain_does_not_notify)
{
    struct fake *f = fake_new();
    guest_put(f->intf, "bye\n", 4);
    ck_assert_int_eq(xs_conring_input(&f->r, "late", 4), 0);
    xs_conring_drain(&f->r);
    ck_assert_uint_eq(f->out_len, 4);
    ck_assert_uint_eq(f->notified, 0);
    ck_assert_uint_eq(f->intf->in_prod, 0); /* a gone guest gets no input */
    fake_free(f);
}
END_TEST

/* ---- in a simulation ------------------------------------------------------------ */

static struct xs_sim sim;

static struct xs_domain *sim_domain(void)
{
    const char *dir = getenv("XENSIM_GUEST_DIR");
    char path[4096], err[512] = "";
    snprintf(path, sizeof(path), "%s/basic.elf", dir && *dir ? dir : "build/guests");
    struct xs_sim_config cfg = {.seed = 1, .log = stderr};
    ck_assert_int_eq(xs_sim_init(&sim, &cfg, err, sizeof(err)), 0);
    ck_assert_int_eq(xs_xenstore_attach(&sim, NULL, err, sizeof(err)), 0);
    struct xs_domain_config dc = {.name = "guest",
                                  .image_path = path,
                                  .memory_mib = 16,
                                  .vcpus = 1,
                                  .cmdline = "",
                                  .hypercalls = XS_HC_DIRECT};
    struct xs_domain *d = xs_domain_create(&sim, &dc, err, sizeof(err));
    ck_assert_msg(d, "xs_domain_create: %s", err);
    return d;
}

static void store_read(const char *path, const char *want)
{
    char buf[256];
    size_t len = sizeof(buf) - 1;
    int e =
        xs_xenstore_request(sim.xenstore, XS_READ, 0, path, strlen(path) + 1, buf, &len);
    ck_assert_msg(!e, "read %s: errno %d", path, e);
    buf[len] = '\0';
    ck_assert_str_eq(buf, want);
}

static void store_perms(const char *path, const char *want)
{
    char buf[256];
    size_t len = sizeof(buf) - 1;
    int e = xs_xenstore_request(sim.xenstore, XS_GET_PERMS, 0, path, strlen(path) + 1,
                                buf, &len);
    ck_assert_msg(!e, "get_perms %s: errno %d", path, e);
    for (size_t i = 0; i + 1 < len; i++)
        if (!buf[i]) buf[i] = ' ';
    buf[len ? len - 1 : 0] = '\0';
    ck_assert_str_eq(buf, want);
}

START_TEST(sim_toolstack_setup)
{
    struct xs_domain *d = sim_domain();
    uint64_t pfn = d->hvm_params[HVM_PARAM_CONSOLE_PFN];
    uint64_t port = d->hvm_params[HVM_PARAM_CONSOLE_EVTCHN];
    ck_assert_uint_eq(pfn, (16u << 20) / 4096 - 8 + 7);
    ck_assert_uint_eq(pfn, xs_console_ring_pfn(d));
    ck_assert_uint_eq(port, d->hvm_params[HVM_PARAM_STORE_EVTCHN] + 1);
    ck_assert(xs_evtchn_port_valid(d, (evtchn_port_t)port));
    /* The nodes libxl writes for console 0. */
    char want[32];
    store_perms("/local/domain/1/console", "n0 r1");
    store_read("/local/domain/1/console/backend", "/local/domain/0/backend/console/1/0");
    store_read("/local/domain/1/console/backend-id", "0");
    store_perms("/local/domain/1/console/backend-id", "n1 r0");
    store_read("/local/domain/1/console/limit", "1048576");
    store_read("/local/domain/1/console/type", "xenconsoled");
    store_read("/local/domain/1/console/output", "pty");
    store_read("/local/domain/1/console/tty", "");
    snprintf(want, sizeof(want), "%llu", (unsigned long long)port);
    store_read("/local/domain/1/console/port", want);
    store_perms("/local/domain/1/console/port", "n0 r1");
    snprintf(want, sizeof(want), "%llu", (unsigned long long)pfn);
    store_read("/local/domain/1/console/ring-ref", want);
    store_perms("/local/domain/0/backend/console/1/0", "n0 r1");
    store_read("/local/domain/0/backend/console/1/0/frontend", "/local/domain/1/console");
    store_read("/local/domain/0/backend/console/1/0/frontend-id", "1");
    store_read("/local/domain/0/backend/console/1/0/state", "1");
    store_read("/local/domain/0/backend/console/1/0/protocol", "vt100");
    store_read("/libxl/1/device/console/0/online", "1");
    /* xenconsoled's way in: the seeded grant maps the ring page. */
    void *p;
    grant_handle_t h;
    ck_assert_int_eq(xs_gnttab_backend_map(d, GNTTAB_RESERVED_CONSOLE, false, &p, &h),
                     GNTST_okay);
    struct xencons_interface *intf = (void *)(d->base + pfn * 4096);
    intf->out[0] = 'Q';
    ck_assert_int_eq(((struct xencons_interface *)p)->out[0], 'Q');
    ck_assert_int_eq(xs_gnttab_backend_unmap(d, h), GNTST_okay);
    /* Destroyed: the backend directory goes with the domain. */
    xs_domain_destroy(d);
    sim.nr_domains = 0;
    char buf[8];
    size_t len = sizeof(buf);
    const char *gone = "/local/domain/0/backend/console/1";
    ck_assert_int_ne(
        xs_xenstore_request(sim.xenstore, XS_READ, 0, gone, strlen(gone) + 1, buf, &len),
        0);
    xs_sim_destroy(&sim);
}
END_TEST

START_TEST(sim_poll_output_input_and_report)
{
    struct xs_domain *d = sim_domain();
    evtchn_port_t port = (evtchn_port_t)d->hvm_params[HVM_PARAM_CONSOLE_EVTCHN];
    struct xencons_interface *intf =
        (void *)(d->base + d->hvm_params[HVM_PARAM_CONSOLE_PFN] * 4096);
    ck_assert_uint_eq(intf->out_prod | intf->out_cons | intf->in_prod | intf->in_cons, 0);
    guest_put(intf, "from the ring\n", 14);
    xs_console_sim_poll(&sim);
    ck_assert_uint_eq(d->console_len, 14);
    ck_assert_str_eq(d->console, "from the ring\n");
    ck_assert(xs_evtchn_is_pending(d, port)); /* out_cons moved */
    ck_assert_int_eq(xs_console_input(d, "typed\n", 6), 0);
    xs_console_sim_poll(&sim);
    char got[16];
    ck_assert_uint_eq(guest_get(intf, got, sizeof(got)), 6);
    ck_assert_int_eq(memcmp(got, "typed\n", 6), 0);
    /* A violation becomes the domain's sanitizer report. */
    intf->out_prod = intf->out_cons + 4096;
    xs_console_sim_poll(&sim);
    ck_assert_uint_eq(d->nr_reports, 1);
    ck_assert_str_eq(d->reports, "xensim: console: d1 (guest) out ring: out_prod 4110 is "
                                 "4096 bytes ahead of out_cons 14 (ring size 2048); "
                                 "output no longer read\n");
    ck_assert_uint_eq(d->console_len, 14);
    ck_assert_ptr_eq(xs_console_ring(d)->intf, intf);
    xs_sim_destroy(&sim);
}
END_TEST

/* What the guest left on the ring when it ends still reaches its console. */
START_TEST(sim_drained_at_domain_end)
{
    struct xs_domain *d = sim_domain();
    struct xencons_interface *intf =
        (void *)(d->base + d->hvm_params[HVM_PARAM_CONSOLE_PFN] * 4096);
    guest_put(intf, "last words\n", 11);
    xs_domain_end(d, XS_END_CRASH);
    ck_assert_str_eq(d->console, "last words\n");
    xs_sim_destroy(&sim);
}
END_TEST

/* Bare domains (no toolstack) get no console, as they get no store. */
START_TEST(sim_no_toolstack_no_console)
{
    const char *dir = getenv("XENSIM_GUEST_DIR");
    char path[4096], err[512] = "";
    snprintf(path, sizeof(path), "%s/basic.elf", dir && *dir ? dir : "build/guests");
    struct xs_sim_config cfg = {.seed = 1, .log = stderr};
    ck_assert_int_eq(xs_sim_init(&sim, &cfg, err, sizeof(err)), 0);
    struct xs_domain_config dc = {
        .name = "bare", .image_path = path, .memory_mib = 16, .vcpus = 1};
    struct xs_domain *d = xs_domain_create(&sim, &dc, err, sizeof(err));
    ck_assert_msg(d, "xs_domain_create: %s", err);
    ck_assert_uint_eq(d->hvm_params[HVM_PARAM_CONSOLE_PFN], 0);
    ck_assert_ptr_null(xs_console_ring(d));
    ck_assert_int_eq(xs_console_input(d, "x", 1), -1);
    xs_sim_destroy(&sim);
}
END_TEST

Suite *console_suite(void)
{
    Suite *s = suite_create("console");
    TCase *ring = tcase_create("ring");
    tcase_add_test(ring, ring_out_basic);
    tcase_add_test(ring, ring_out_wraps);
    tcase_add_test(ring, ring_out_full);
    tcase_add_test(ring, ring_out_too_far_ahead);
    tcase_add_test(ring, ring_out_backwards);
    tcase_add_test(ring, ring_guest_scribbles_backend_indexes);
    tcase_add_test(ring, ring_in_delivery);
    tcase_add_test(ring, ring_in_full_and_bounded);
    tcase_add_test(ring, ring_in_cons_passes_prod);
    tcase_add_test(ring, ring_in_cons_backwards);
    tcase_add_test(ring, ring_drain_does_not_notify);
    suite_add_tcase(s, ring);
    TCase *simc = tcase_create("sim");
    tcase_add_test(simc, sim_toolstack_setup);
    tcase_add_test(simc, sim_poll_output_input_and_report);
    tcase_add_test(simc, sim_drained_at_domain_end);
    tcase_add_test(simc, sim_no_toolstack_no_console);
    suite_add_tcase(s, simc);
    return s;
}
