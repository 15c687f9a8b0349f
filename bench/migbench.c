/* migbench: host-side figures for xensim's save/restore in Xen's libxc
 * migration stream (`make bench`, ci/bench), against memcpy of the same
 * guest RAM measured here in the same run.
 *
 *   migbench [GUEST_DIR [MIB]]   (default $XENSIM_GUEST_DIR, else build/guests; 256)
 *
 * One domain built from basic.elf (never run) with MIB MiB of RAM, every
 * page filled with data (so every page goes into the stream), marked
 * suspended as the toolstack finds it after SCHEDOP_shutdown.  Figures,
 * host ns for the whole RAM (best of REPS):
 *   mig.capture_ns     the domain into an image (guest RAM read from its memfd)
 *   mig.write_ns       the image as a stream into memory (PAGE_DATA batches,
 *                      the records around them)
 *   mig.read_ns        that stream read back into an image, every record checked
 *   mig.restore_ns     a new domain built from the image (RAM copied in)
 *   mig.file_write_ns  the image saved to a file in /dev/shm (or $TMPDIR)
 *   mig.file_read_ns   and read back from it
 *   mig.memcpy_ns      anchor: memcpy of the same RAM into a buffer
 * Output: "key value" lines; errors on stderr and exit status 1. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
    fprintf(stderr, "migbench: %s: %s\n", what, err);
    return 1;
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
            .name = "bench", .image_path = path, .memory_mib = mib, .vcpus = 2},
        err, sizeof(err));
    if (!d) return fail("domain", err);
    uint64_t ram = d->ram_bytes;
    /* Every page different, none zero (zero pages are left out of streams). */
    for (uint64_t off = 0; off < ram; off += 8) {
        uint64_t v = off * 0x9e3779b97f4a7c15ULL | 1;
        memcpy(d->base + off, &v, 8);
    }
    /* As SCHEDOP_shutdown(SHUTDOWN_suspend) leaves it (suspend.c). */
    d->suspended = true;
    d->suspend_vcpu = 0;
    d->vcpus[0].suspend_online = true;

    double capture = -1, write = -1, read = -1, restore = -1, fwrite_ns = -1,
           fread_ns = -1, copy = -1;
    struct xs_domain_image img, back;
    struct xs_ms_buf buf = {0};
    uint8_t *dst = malloc(ram);
    if (!dst) return fail("memory", "out of memory");
    memset(dst, 1, ram); /* touched: the anchor copies into present pages */
    for (int rep = 0; rep < REPS; rep++) {
        double t0 = now_ns();
        memcpy(dst, d->base, ram);
        __asm__ __volatile__("" : : "r"(dst) : "memory");
        copy = best(copy, now_ns() - t0);
    }
    for (int rep = 0; rep < REPS; rep++) {
        double t0 = now_ns();
        if (xs_domain_image_capture(d, &img, err, sizeof(err)))
            return fail("capture", err);
        capture = best(capture, now_ns() - t0);
        if (rep + 1 < REPS) xs_domain_image_free(&img);
    }
    struct xs_ms_sim_state st = {.seed = 1, .prng = sim.prng, .present = true};
    for (int rep = 0; rep < REPS; rep++) {
        struct xs_ms_writer w;
        buf.len = 0; /* the buffer stays allocated: no realloc in the timing */
        xs_ms_writer_buf(&w, &buf);
        double t0 = now_ns();
        if (xs_ms_save_image(&w, &img, &st, err, sizeof(err))) return fail("write", err);
        write = best(write, now_ns() - t0);
    }
    for (int rep = 0; rep < REPS; rep++) {
        struct xs_ms_reader r;
        double t0 = now_ns();
        if (xs_ms_reader_open_mem(&r, buf.data, buf.len)) return fail("read", r.err);
        if (xs_ms_load_image(&r, &back, NULL, err, sizeof(err))) return fail("read", err);
        read = best(read, now_ns() - t0);
        xs_ms_reader_close(&r);
        if (memcmp(back.ram, img.ram, ram)) return fail("read", "RAM differs");
        xs_domain_image_free(&back);
    }
    const char *tmpdir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    char file[4200];
    snprintf(file, sizeof(file), "%s/migbench-%d.xen", tmpdir ? tmpdir : "/tmp",
             (int)getpid());
    for (int rep = 0; rep < REPS; rep++) {
        double t0 = now_ns();
        if (xs_ms_save_file(file, &img, &st, err, sizeof(err))) return fail("file", err);
        fwrite_ns = best(fwrite_ns, now_ns() - t0);
        t0 = now_ns();
        if (xs_ms_load_file(file, &back, NULL, err, sizeof(err)))
            return fail("file", err);
        fread_ns = best(fread_ns, now_ns() - t0);
        xs_domain_image_free(&back);
    }
    unlink(file);
    /* The old domain goes (its slot is the image's), then restores. */
    xs_sim_remove_domain(&sim, d);
    xs_domain_destroy(d);
    for (int rep = 0; rep < REPS; rep++) {
        double t0 = now_ns();
        struct xs_domain *n = xs_domain_image_restore(&sim, &img, err, sizeof(err));
        if (!n) return fail("restore", err);
        restore = best(restore, now_ns() - t0);
        xs_sim_remove_domain(&sim, n);
        xs_domain_destroy(n);
    }
    printf("mig.ram_mib %u\nmig.stream_bytes %zu\nmig.reps %d\n", mib, buf.len, REPS);
    printf("mig.capture_ns %.0f\nmig.write_ns %.0f\nmig.read_ns %.0f\n", capture, write,
           read);
    printf("mig.restore_ns %.0f\nmig.file_write_ns %.0f\nmig.file_read_ns %.0f\n",
           restore, fwrite_ns, fread_ns);
    printf("mig.memcpy_ns %.0f\n", copy);
    xs_domain_image_free(&img);
    xs_ms_buf_free(&buf);
    free(dst);
    xs_sim_destroy(&sim);
    return 0;
}
