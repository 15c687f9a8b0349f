/* livebench: host-side figures for live migration's rounds (`make bench`,
 * ci/bench): the dirty log's scans and the stream they write, against
 * memcpy of the same guest RAM measured here in the same run.
 *
 *   livebench [GUEST_DIR [MIB]]   (default $XENSIM_GUEST_DIR, else build/guests; 256)
 *
 * One domain built from basic.elf (never run) with MIB MiB of RAM, every
 * page holding data.  Figures, host ns (best of REPS), each as migrate.c
 * does it (dirtylog.c, then PAGE_DATA into a memory stream):
 *   live.round1_ns     the first round: every page compared with the
 *                      (zero) shadow, copied into it and written out
 *   live.clean_scan_ns a later round with nothing dirty: the compare alone
 *   live.dirty_ns      a round with 1 page in 16 dirtied (rewritten through
 *                      the guest's mapping): scan, copy, write
 *   live.read_ns       the whole stream (head, round 1, tail) read back with
 *                      every record checked
 *   live.memcpy_ns     anchor: memcpy of the same RAM into a buffer
 * Output: "key value" lines; errors on stderr and exit status 1. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dirtylog.h"
#include "domain_image.h"
#include "migstream_image.h"
#include "sim.h"

#define REPS 3

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double best(double a, double b)
{
    return a < 0 || b < a ? b : a;
}

static int fail(const char *what, const char *err)
{
    fprintf(stderr, "livebench: %s: %s\n", what, err);
    return 1;
}

/* One round as migrate.c sends it: scan, commit, PAGE_DATA batches. */
static int round_once(struct xs_dirtylog *dl, struct xs_ms_writer *w, int64_t *pages,
                      char *err, size_t errlen)
{
    *pages = xs_dirtylog_scan(dl, XS_DIRTYLOG_NO_PFN, err, errlen);
    if (*pages < 0) return -1;
    xs_dirtylog_commit(dl);
    for (uint64_t i = 0; i < dl->nr_dirty; i += XS_MS_PAGE_BATCH) {
        uint64_t n =
            dl->nr_dirty - i < XS_MS_PAGE_BATCH ? dl->nr_dirty - i : XS_MS_PAGE_BATCH;
        if (xs_ms_write_page_data(w, dl->dirty + i, (unsigned)n,
                                  xs_dirtylog_shadow(dl))) {
            snprintf(err, errlen, "%s", w->err);
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *env = getenv("XENSIM_GUEST_DIR");
    const char *dir = argc > 1 ? argv[1] : env && *env ? env : "build/guests";
    unsigned mib = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 256;
    if (mib < 8 || mib > 4096) mib = 256;
    char path[4096], err[1024];
    snprintf(path, sizeof(path), "%s/basic.elf", dir);
    static struct xs_sim sim;
    struct xs_sim_config cfg = {
        .seed = 1, .log = stderr, .vtime_limit_ns = UINT64_MAX, .exit_limit = UINT64_MAX};
    if (xs_sim_init(&sim, &cfg, err, sizeof(err))) return fail("sim", err);
    struct xs_domain *d = xs_domain_create(
        &sim,
        &(struct xs_domain_config){
            .name = "bench", .image_path = path, .memory_mib = mib, .vcpus = 1},
        err, sizeof(err));
    if (!d) return fail("domain", err);
    uint64_t ram = d->ram_bytes, pages_total = ram / XS_PAGE_SIZE;
    for (uint64_t off = 0; off < ram; off += 8) {
        uint64_t v = off * 0x9e3779b97f4a7c15ULL | 1;
        memcpy(d->base + off, &v, 8);
    }
    uint8_t *dst = malloc(ram);
    if (!dst) return fail("memory", "out of memory");
    memset(dst, 1, ram);
    double copy = -1, round1 = -1, clean = -1, dirty = -1, read = -1;
    for (int rep = 0; rep < REPS; rep++) {
        double t0 = now_ns();
        memcpy(dst, d->base, ram);
        __asm__ __volatile__("" : : "r"(dst) : "memory");
        copy = best(copy, now_ns() - t0);
    }
    struct xs_domain_image meta;
    if (xs_domain_image_capture_meta(d, &meta, err, sizeof(err)))
        return fail("capture", err);
    struct xs_ms_xensim_live live = {.version = XS_MS_XENSIM_VERSION,
                                     .max_rounds = 5,
                                     .threshold = 50,
                                     .bandwidth = 1250000000};
    struct xs_ms_buf buf = {0};
    size_t stream_len = 0;
    int64_t n = 0, n_dirty = 0;
    for (int rep = 0; rep < REPS; rep++) {
        struct xs_dirtylog dl;
        struct xs_ms_writer w;
        buf.len = 0;
        xs_ms_writer_buf(&w, &buf);
        if (xs_dirtylog_init(&dl, d->memfd, ram, err, sizeof(err)) ||
            xs_ms_save_live_head(&w, &meta, &live, err, sizeof(err)))
            return fail("start", err);
        double t0 = now_ns();
        if (round_once(&dl, &w, &n, err, sizeof(err))) return fail("round 1", err);
        round1 = best(round1, now_ns() - t0);
        if ((uint64_t)n != pages_total) return fail("round 1", "not every page was sent");
        t0 = now_ns();
        int64_t none = xs_dirtylog_scan(&dl, XS_DIRTYLOG_NO_PFN, err, sizeof(err));
        clean = best(clean, now_ns() - t0);
        if (none != 0) return fail("clean scan", "pages dirty with no writes");
        /* The stream as the destination would get it: the tail after round 1. */
        size_t mark = buf.len;
        struct xs_ms_xensim_suspend susp = {.hypercall_page_gpa = XS_NO_GPA};
        meta.vcpus[0].online = meta.vcpus[0].initialised = true;
        meta.vcpus[0].regs.rip = meta.directmap_base + 0x1000;
        meta.vtime_ns = 1;
        if (xs_ms_save_live_tail(&w, &meta, NULL, &susp, err, sizeof(err)))
            return fail("tail", err);
        stream_len = buf.len;
        struct xs_ms_reader r;
        struct xs_domain_image back;
        t0 = now_ns();
        if (xs_ms_reader_open_mem(&r, buf.data, buf.len)) return fail("read", r.err);
        if (xs_ms_load_image(&r, &back, NULL, err, sizeof(err))) return fail("read", err);
        read = best(read, now_ns() - t0);
        xs_ms_reader_close(&r);
        if (memcmp(back.ram, xs_dirtylog_shadow(&dl), ram))
            return fail("read", "differs");
        xs_domain_image_free(&back);
        /* A round with 1 page in 16 rewritten through the guest's mapping. */
        buf.len = mark;
        for (uint64_t p = rep; p < pages_total; p += 16)
            d->base[p * XS_PAGE_SIZE + 8] ^= 0x5a;
        t0 = now_ns();
        if (round_once(&dl, &w, &n_dirty, err, sizeof(err))) return fail("round", err);
        dirty = best(dirty, now_ns() - t0);
        if ((uint64_t)n_dirty != (pages_total - (uint64_t)rep + 15) / 16)
            return fail("round", "the dirty pages were not all found");
        xs_dirtylog_free(&dl);
    }
    printf(
        "live.ram_mib %u\nlive.stream_bytes %zu\nlive.dirty_pages %lld\nlive.reps %d\n",
        mib, stream_len, (long long)n_dirty, REPS);
    printf("live.round1_ns %.0f\nlive.clean_scan_ns %.0f\nlive.dirty_ns %.0f\n", round1,
           clean, dirty);
    printf("live.read_ns %.0f\nlive.memcpy_ns %.0f\n", read, copy);
    xs_domain_image_free(&meta);
    xs_ms_buf_free(&buf);
    free(dst);
    xs_sim_destroy(&sim);
    return 0;
}
