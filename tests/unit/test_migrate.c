/* Live migration's parts: the dirty log (every writer of a memfd caught,
 * pages back to zero and punched holes too), the live stream's records
 * (a page sent in several rounds, the later copy wins; XENSIM_LIVE and
 * XENSIM_SUSPEND checked and refused with the record named; a cut stream
 * never accepted) and the migrate statement's parser. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <xensim/abi.h>
#include "dirtylog.h"
#include "migrate.h"
#include "migstream_image.h"
#include "scenario.h"
#include "unit.h"

#define PAGES 64
#define PG    4096

/* ---- the dirty log ------------------------------------------------------------- */

struct ram {
    int fd;
    uint8_t *map; /* a writable mapping, as the guest's */
};

static void ram_new(struct ram *r)
{
    r->fd = memfd_create("dirtylog-test", MFD_CLOEXEC);
    ck_assert_int_ge(r->fd, 0);
    /* One page more, as a domain's memfd holds shared_info past RAM. */
    ck_assert_int_eq(ftruncate(r->fd, (PAGES + 1) * PG), 0);
    r->map = mmap(NULL, PAGES * PG, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
    ck_assert_ptr_ne(r->map, MAP_FAILED);
}

static void ram_free(struct ram *r)
{
    munmap(r->map, PAGES * PG);
    close(r->fd);
}

static int64_t scan(struct xs_dirtylog *dl, uint64_t skip)
{
    char err[256];
    int64_t n = xs_dirtylog_scan(dl, skip, err, sizeof(err));
    ck_assert_msg(n >= 0, "%s", err);
    return n;
}

static bool listed(const struct xs_dirtylog *dl, uint64_t pfn)
{
    for (uint64_t i = 0; i < dl->nr_dirty; i++)
        if (dl->dirty[i] == pfn) return true;
    return false;
}

START_TEST(dirtylog_finds_every_writer)
{
    struct ram r;
    ram_new(&r);
    r.map[3 * PG + 17] = 1;
    r.map[40 * PG] = 2;
    r.map[7 * PG] = 0; /* touched (allocated) but all zeros: not dirty */
    char err[256];
    struct xs_dirtylog dl;
    ck_assert_msg(xs_dirtylog_init(&dl, r.fd, PAGES * PG, err, sizeof(err)) == 0, "%s",
                  err);
    /* The first scan: exactly the pages with data, ascending. */
    ck_assert_int_eq(scan(&dl, XS_DIRTYLOG_NO_PFN), 2);
    ck_assert_uint_eq(dl.dirty[0], 3);
    ck_assert_uint_eq(dl.dirty[1], 40);
    /* Scanning again without sending changes nothing. */
    ck_assert_int_eq(scan(&dl, XS_DIRTYLOG_NO_PFN), 2);
    xs_dirtylog_commit(&dl);
    ck_assert_int_eq(memcmp(xs_dirtylog_shadow(&dl), r.map, PAGES * PG), 0);
    ck_assert_int_eq(scan(&dl, XS_DIRTYLOG_NO_PFN), 0);
    /* Writers other than the guest's mapping: a second mapping (a backend's
     * grant mapping, xensim's shared_info), and write(2) on the memfd. */
    uint8_t *other = mmap(NULL, PAGES * PG, PROT_READ | PROT_WRITE, MAP_SHARED, r.fd, 0);
    ck_assert_ptr_ne(other, MAP_FAILED);
    other[10 * PG + 4095] = 9;
    ck_assert_int_eq(pwrite(r.fd, "x", 1, 63 * PG + 5), 1);
    r.map[3 * PG + 17] = 0; /* back to zeros: the receiver has the old data */
    ck_assert_int_eq(scan(&dl, XS_DIRTYLOG_NO_PFN), 3);
    ck_assert(listed(&dl, 3) && listed(&dl, 10) && listed(&dl, 63));
    /* A page left out (the hypercall page) is never listed. */
    ck_assert_int_eq(scan(&dl, 10), 2);
    ck_assert(!listed(&dl, 10));
    xs_dirtylog_commit(&dl);
    ck_assert_int_eq(scan(&dl, 10), 0);
    ck_assert_int_eq(scan(&dl, XS_DIRTYLOG_NO_PFN), 1);
    xs_dirtylog_commit(&dl);
    /* A page sent with data, then punched out of the memfd, reads as zeros:
     * dirty again, though SEEK_DATA skips it. */
    ck_assert_int_eq(
        fallocate(r.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 40 * PG, PG), 0);
    ck_assert_int_eq(scan(&dl, XS_DIRTYLOG_NO_PFN), 1);
    ck_assert_uint_eq(dl.dirty[0], 40);
    xs_dirtylog_commit(&dl);
    ck_assert_int_eq(memcmp(xs_dirtylog_shadow(&dl), r.map, PAGES * PG), 0);
    ck_assert_uint_eq(dl.total_sent, 2 + 2 + 1 + 1);
    munmap(other, PAGES * PG);
    xs_dirtylog_free(&dl);
    ram_free(&r);
}
END_TEST

START_TEST(dirtylog_bad_input)
{
    struct xs_dirtylog dl;
    char err[256];
    ck_assert_int_eq(xs_dirtylog_init(&dl, -1, 12345, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "12345"));
    ck_assert_int_eq(xs_dirtylog_scan(&dl, XS_DIRTYLOG_NO_PFN, err, sizeof(err)), -1);
    ck_assert_int_eq(xs_dirtylog_init(&dl, -1, PAGES * PG, err, sizeof(err)), -1);
    xs_dirtylog_free(&dl); /* harmless after a failed init */
}
END_TEST

/* ---- the live stream ------------------------------------------------------------ */

#define MIB 1

static void meta_fill(struct xs_domain_image *img)
{
    memset(img, 0, sizeof(*img));
    snprintf(img->name, sizeof(img->name), "g");
    snprintf(img->image_path, sizeof(img->image_path), "/x/migrate.elf");
    snprintf(img->cmdline, sizeof(img->cmdline), "rate=1");
    img->nr_vcpus = 2;
    img->ram_bytes = MIB << 20;
    img->hc_mode = XS_HC_DIRECT;
    img->directmap_base = XS_DIRECTMAP_BASE;
    img->domid = 1;
    img->vcpus = calloc(2, sizeof(*img->vcpus));
    ck_assert_ptr_nonnull(img->vcpus);
    for (unsigned v = 0; v < 2; v++) {
        img->vcpus[v].online = img->vcpus[v].initialised = true;
        img->vcpus[v].regs.rip = XS_DIRECTMAP_BASE + 0x2000 + v;
        img->vcpus[v].regs.rflags = 0x202;
    }
    img->hypercall_page_gpa = XS_NO_GPA;
    img->tsc_khz = 2000000;
    img->vtime_ns = 5000000;
}

/* Options, one thing wrong at a time. */
enum {
    NO_LIVE = 1,          /* no XENSIM_LIVE: resends are duplicates */
    NO_SUSPEND = 2,       /* no XENSIM_SUSPEND */
    LIVE_LATE = 4,        /* XENSIM_LIVE after the first PAGE_DATA */
    SUSPEND_BAD_VCPU = 8, /* XENSIM_SUSPEND names vCPU 2 of 2 */
    SUSPEND_LATE = 16,    /* suspended after the stream's time */
};

/* Round 1: pages 0..3 with 0x11; round 2: page 2 again with 0x22; the
 * stop-and-copy: page 3 with 0x33 and the state. */
static void live_stream(struct xs_ms_buf *b, unsigned opts)
{
    struct xs_domain_image img;
    meta_fill(&img);
    struct xs_ms_writer w;
    xs_ms_writer_buf(&w, b);
    struct xs_ms_xensim_live live = {.version = XS_MS_XENSIM_VERSION,
                                     .max_rounds = 5,
                                     .threshold = 50,
                                     .bandwidth = 1000,
                                     .start_ns = 1000};
    char err[512];
    if (opts & (NO_LIVE | LIVE_LATE)) {
        /* the head without XENSIM_LIVE: an ordinary save's head */
        ck_assert_int_eq(xs_ms_write_headers(&w, XS_MS_DHDR_X86_HVM, 4, 17), 0);
        struct xs_ms_buf tmp = {0};
        struct xs_ms_writer tw;
        xs_ms_writer_buf(&tw, &tmp);
        ck_assert_int_eq(xs_ms_save_live_head(&tw, &img, &live, err, sizeof(err)), 0);
        /* copy XENSIM_DOMAIN (the first record) from a real head */
        uint32_t len;
        memcpy(&len, tmp.data + 40 + 4, 4);
        ck_assert_int_eq(xs_ms_buf_append(b, tmp.data + 40, 8 + ((len + 7) & ~7u)), 0);
        w.offset = b->len;
        xs_ms_buf_free(&tmp);
        ck_assert_int_eq(xs_ms_write_record(&w, XS_MS_REC_STATIC_DATA_END, NULL, 0), 0);
    } else {
        ck_assert_msg(xs_ms_save_live_head(&w, &img, &live, err, sizeof(err)) == 0, "%s",
                      err);
    }
    static uint8_t ram[4 * PG];
    uint64_t pfns[4] = {0, 1, 2, 3};
    memset(ram, 0x11, sizeof(ram));
    ck_assert_int_eq(xs_ms_write_page_data(&w, pfns, 4, ram), 0);
    if (opts & LIVE_LATE)
        ck_assert_int_eq(
            xs_ms_write_record(&w, XS_MS_REC_XENSIM_LIVE, &live, sizeof(live)), 0);
    memset(ram + 2 * PG, 0x22, PG);
    ck_assert_int_eq(xs_ms_write_page_data(&w, pfns + 2, 1, ram), 0);
    memset(ram + 3 * PG, 0x33, PG);
    ck_assert_int_eq(xs_ms_write_page_data(&w, pfns + 3, 1, ram), 0);
    struct xs_ms_xensim_suspend susp = {.suspend_vcpu = opts & SUSPEND_BAD_VCPU ? 2 : 1,
                                        .rounds = 2,
                                        .hypercall_page_gpa = XS_NO_GPA,
                                        .suspended_ns =
                                            opts & SUSPEND_LATE ? 6000000 : 4000000};
    struct xs_ms_sim_state st = {.seed = 7, .prng = {{1, 2, 3, 4}}, .present = true};
    if (opts & NO_SUSPEND) {
        /* the tail without XENSIM_SUSPEND: drop that record from a real one */
        struct xs_ms_buf tmp = {0};
        struct xs_ms_writer tw;
        xs_ms_writer_buf(&tw, &tmp);
        ck_assert_int_eq(xs_ms_save_live_tail(&tw, &img, &st, &susp, err, sizeof(err)),
                         0);
        size_t skip = 8 + ((sizeof(susp) + 7) & ~(size_t)7);
        ck_assert_int_eq(xs_ms_buf_append(b, tmp.data + skip, tmp.len - skip), 0);
        xs_ms_buf_free(&tmp);
    } else if (opts & SUSPEND_BAD_VCPU) {
        /* the writer refuses it: patch a good one */
        susp.suspend_vcpu = 1;
        size_t at = b->len;
        ck_assert_int_eq(xs_ms_save_live_tail(&w, &img, &st, &susp, err, sizeof(err)), 0);
        uint32_t two = 2;
        memcpy(b->data + at + 8, &two, 4);
    } else {
        ck_assert_msg(xs_ms_save_live_tail(&w, &img, &st, &susp, err, sizeof(err)) == 0,
                      "%s", err);
    }
    xs_domain_image_free(&img);
}

static int load(const struct xs_ms_buf *b, size_t len, struct xs_domain_image *img,
                struct xs_ms_sim_state *st, char *err, size_t errlen)
{
    struct xs_ms_reader r;
    int rc = xs_ms_reader_open_mem(&r, b->data, len);
    if (rc) {
        memset(img, 0, sizeof(*img));
        snprintf(err, errlen, "%s", r.err);
    } else {
        rc = xs_ms_load_image(&r, img, st, err, errlen);
    }
    xs_ms_reader_close(&r);
    return rc;
}

START_TEST(live_stream_later_copy_wins)
{
    struct xs_ms_buf b = {0};
    live_stream(&b, 0);
    struct xs_domain_image img;
    struct xs_ms_sim_state st;
    char err[768];
    ck_assert_msg(load(&b, b.len, &img, &st, err, sizeof(err)) == 0, "%s", err);
    ck_assert_uint_eq(img.ram[0], 0x11);
    ck_assert_uint_eq(img.ram[PG + 4095], 0x11);
    ck_assert_uint_eq(img.ram[2 * PG], 0x22); /* sent twice: the later copy */
    ck_assert_uint_eq(img.ram[3 * PG + 100], 0x33);
    ck_assert_uint_eq(img.ram[4 * PG], 0);  /* never sent */
    ck_assert_uint_eq(img.suspend_vcpu, 1); /* XENSIM_SUSPEND's, not the head's 0 */
    ck_assert_uint_eq(img.vtime_ns, 5000000);
    ck_assert(st.live && st.present);
    ck_assert_uint_eq(st.rounds, 2);
    ck_assert_uint_eq(st.suspended_ns, 4000000);
    ck_assert_uint_eq(st.seed, 7);
    xs_domain_image_free(&img);
    /* Through a pipe-like descriptor, read once, as `xensim restore -`. */
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b.data, 1, b.len, f), b.len);
    fflush(f);
    rewind(f);
    ck_assert_msg(xs_ms_load_fd(fileno(f), "pipe", &img, &st, err, sizeof(err)) == 0,
                  "%s", err);
    ck_assert_uint_eq(img.ram[2 * PG], 0x22);
    xs_domain_image_free(&img);
    fclose(f);
    xs_ms_buf_free(&b);
}
END_TEST

static void expect_refused(unsigned opts, const char *want)
{
    struct xs_ms_buf b = {0};
    live_stream(&b, opts);
    struct xs_domain_image img;
    char err[768];
    int rc = load(&b, b.len, &img, NULL, err, sizeof(err));
    xs_domain_image_free(&img);
    xs_ms_buf_free(&b);
    ck_assert_int_eq(rc, -1);
    if (!strstr(err, want))
        ck_abort_msg("error \"%s\" does not contain \"%s\"", err, want);
}

START_TEST(live_stream_rules)
{
    expect_refused(NO_LIVE, "(PAGE_DATA) at offset");
    expect_refused(NO_LIVE, "pfn 0x2 was already sent (duplicate page)");
    expect_refused(NO_SUSPEND, "without XENSIM_SUSPEND");
    expect_refused(LIVE_LATE, "(XENSIM_LIVE) at offset");
    expect_refused(LIVE_LATE, "after PAGE_DATA");
    expect_refused(SUSPEND_BAD_VCPU, "(XENSIM_SUSPEND) at offset");
    expect_refused(SUSPEND_BAD_VCPU, "suspending vCPU 2 of 2");
    expect_refused(SUSPEND_LATE, "after the stream's X86_TSC_INFO time");
}
END_TEST

/* A stream cut anywhere is refused, naming a header or a record by type
 * and offset: the source of a migration whose link dropped runs on. */
START_TEST(live_stream_cut_everywhere)
{
    struct xs_ms_buf b = {0};
    live_stream(&b, 0);
    for (size_t len = 0; len < b.len; len += len < 64 ? 1 : 509) {
        struct xs_domain_image img;
        char err[768];
        int rc = load(&b, len, &img, NULL, err, sizeof(err));
        xs_domain_image_free(&img);
        ck_assert_msg(rc == -1, "a stream cut at %zu of %zu bytes was accepted", len,
                      b.len);
        ck_assert_msg(strstr(err, "header at offset") ||
                          (strstr(err, "record ") && strstr(err, " at offset")),
                      "cut at %zu: \"%s\" names no record", len, err);
    }
    xs_ms_buf_free(&b);
}
END_TEST

/* ---- the migrate statement ----------------------------------------------------------
 */

static int parse(struct xs_scenario *s, const char *text, char *err, size_t errlen)
{
    return xs_scenario_parse_text(s, "m.scn", text, err, errlen);
}

#define DOM "domain g image=migrate\n"

START_TEST(migrate_statement)
{
    struct xs_scenario s;
    char err[1024];
    ck_assert_msg(parse(&s,
                        DOM "migrate g at=20ms\n"
                            "migrate g at=1s rounds=0 threshold=7 bandwidth=1000 "
                            "timeout=5ms file=out.stream log=r.csv cut=99\n"
                            "expect g migrates ok=1 failed=1 max-downtime=2ms\n",
                        err, sizeof(err)) == 0,
                  "%s", err);
    ck_assert_uint_eq(s.nr_migrates, 2);
    const struct xs_scn_migrate *a = &s.migrates[0], *m = &s.migrates[1];
    ck_assert_uint_eq(a->at_ns, 20000000);
    ck_assert_uint_eq(a->rounds, XS_MIGRATE_ROUNDS);
    ck_assert_uint_eq(a->threshold, XS_MIGRATE_THRESHOLD);
    ck_assert_uint_eq(a->bandwidth, XS_MIGRATE_BANDWIDTH);
    ck_assert_str_eq(a->file, "");
    ck_assert_uint_eq(a->cut, 0);
    ck_assert_uint_eq(m->at_ns, 1000000000);
    ck_assert_uint_eq(m->rounds, 0);
    ck_assert_uint_eq(m->threshold, 7);
    ck_assert_uint_eq(m->bandwidth, 1000);
    ck_assert_uint_eq(m->timeout_ns, 5000000);
    ck_assert_str_eq(m->file, "out.stream");
    ck_assert_str_eq(m->log, "r.csv");
    ck_assert_uint_eq(m->cut, 99);
    ck_assert_int_eq(m->line, 3);
    ck_assert_uint_eq(s.nr_expects, 1);
    ck_assert_int_eq(s.expects[0].kind, XS_EXPECT_MIGRATES);
    ck_assert_int_eq(s.expects[0].migrates[0], 1);
    ck_assert_int_eq(s.expects[0].migrates[1], 1);
    ck_assert_uint_eq(s.expects[0].max_downtime_ns, 2000000);
    xs_scenario_free(&s);
}
END_TEST

static void bad(const char *text, const char *want)
{
    struct xs_scenario s;
    char err[1024];
    ck_assert_int_eq(parse(&s, text, err, sizeof(err)), -1);
    if (!strstr(err, want))
        ck_abort_msg("error \"%s\" does not contain \"%s\"", err, want);
}

START_TEST(migrate_statement_errors)
{
    bad(DOM "migrate h at=1ms\n", "migrate: unknown domain 'h'");
    bad(DOM "migrate g\n", "usage: migrate DOMAIN at=TIME");
    bad(DOM "migrate g rounds=2\n", "migrate g: needs at=TIME");
    bad(DOM "migrate g at=1ms at=2ms\n", "duplicate key 'at'");
    bad(DOM "migrate g at=1ms speed=3\n", "unknown key 'speed'");
    bad(DOM "migrate g at=1ms now\n", "unexpected 'now'");
    bad(DOM "migrate g at=1ms bandwidth=0\n", "bandwidth");
    bad(DOM "migrate g at=1ms rounds=1001\n", "rounds");
    bad(DOM "migrate g at=1ms file=\"\"\n", "file must not be empty");
    bad(DOM "migrate g at=1ms cut=0\n", "cut");
    bad(DOM "expect g migrates\n", "give at least one of ok=N");
    bad(DOM "expect g migrates ok=1 ok=2\n", "duplicate key 'ok'");
    bad(DOM "expect g migrates done=1\n", "unexpected 'done'");
    bad(DOM "expect g migrates max-downtime=soon\n", "max-downtime");
}
END_TEST

Suite *migrate_suite(void)
{
    Suite *s = suite_create("migrate");
    TCase *d = tcase_create("dirtylog");
    tcase_add_test(d, dirtylog_finds_every_writer);
    tcase_add_test(d, dirtylog_bad_input);
    suite_add_tcase(s, d);
    TCase *l = tcase_create("live_stream");
    tcase_add_test(l, live_stream_later_copy_wins);
    tcase_add_test(l, live_stream_rules);
    tcase_add_test(l, live_stream_cut_everywhere);
    suite_add_tcase(s, l);
    TCase *p = tcase_create("statement");
    tcase_add_test(p, migrate_statement);
    tcase_add_test(p, migrate_statement_errors);
    suite_add_tcase(s, p);
    return s;
}
