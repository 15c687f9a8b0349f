/* libFuzzer harness for xensim's reader of Xen's libxc migration stream
 * (emulator/migstream_read.c, the format layer, and migstream_load.c, a
 * stream into a domain image): the input is a whole stream, as a hostile
 * file given to `xensim restore` would be.
 *
 * Oracles, besides ASan/UBSan:
 *  - every record the format layer returns lies inside the input, 8-byte
 *    aligned, in order, and an error message names a record or a header;
 *  - an image the loader accepts is complete (a vCPU to resume on, memory,
 *    the TSC at xensim's rate), and written out again and read back it
 *    gives the very same stream (nothing lost or invented on the way). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migstream_image.h"
#include "vtime.h"

#define CHECK(c)                                                                         \
    do {                                                                                 \
        if (!(c)) {                                                                      \
            fprintf(stderr, "migstream_read: check failed: %s (line %d)\n", #c,          \
                    __LINE__);                                                           \
            abort();                                                                     \
        }                                                                                \
    } while (0)

/* Domains up to 16 MiB: enough for every shape of stream, and cheap. */
#define FUZZ_MAX_PFNS (16u << (20 - XS_MS_PAGE_SHIFT))

static void walk_records(const uint8_t *data, size_t size)
{
    struct xs_ms_reader r;
    struct xs_ms_record rec;
    if (xs_ms_reader_open_mem(&r, data, size)) {
        CHECK(strstr(r.err, "header at offset"));
        xs_ms_reader_close(&r);
        return;
    }
    xs_ms_reader_set_max_pfns(&r, FUZZ_MAX_PFNS);
    uint64_t last = 0;
    unsigned n = 0;
    int got;
    while ((got = xs_ms_next(&r, &rec)) == 1) {
        CHECK(rec.index == n++);
        CHECK(rec.offset % 8 == 0 && rec.offset >= 40 && rec.offset >= last);
        CHECK(rec.offset + 8 + rec.length <= size);
        CHECK(rec.length == 0 || rec.body == data + rec.offset + 8);
        last = rec.offset + 8;
    }
    if (got < 0) CHECK(!strncmp(r.err, "record ", 7) || strstr(r.err, "after the END"));
    xs_ms_reader_close(&r);
}

static void save(const struct xs_domain_image *img, const struct xs_ms_sim_state *st,
                 struct xs_ms_buf *b)
{
    struct xs_ms_writer w;
    char err[512];
    xs_ms_writer_buf(&w, b);
    CHECK(xs_ms_save_image(&w, img, st->present ? st : NULL, err, sizeof(err)) == 0);
}

static int load(const uint8_t *data, size_t size, struct xs_domain_image *img,
                struct xs_ms_sim_state *st)
{
    struct xs_ms_reader r;
    char err[768];
    int rc = xs_ms_reader_open_mem(&r, data, size);
    if (!rc) {
        xs_ms_reader_set_max_pfns(&r, FUZZ_MAX_PFNS);
        rc = xs_ms_load_image(&r, img, st, err, sizeof(err));
    } else {
        memset(img, 0, sizeof(*img));
    }
    xs_ms_reader_close(&r);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    walk_records(data, size);
    struct xs_domain_image img, again;
    struct xs_ms_sim_state st, st2;
    if (load(data, size, &img, &st)) {
        xs_domain_image_free(&img);
        return 0;
    }
    CHECK(img.ram && img.vcpus && img.nr_vcpus >= 1);
    CHECK(img.suspend_vcpu < img.nr_vcpus && img.vcpus[img.suspend_vcpu].online);
    CHECK(img.tsc_khz == XS_VTSC_KHZ);
    struct xs_ms_buf one = {0}, two = {0};
    save(&img, &st, &one);
    CHECK(load(one.data, one.len, &again, &st2) == 0);
    save(&again, &st2, &two);
    CHECK(one.len == two.len && !memcmp(one.data, two.data, one.len));
    xs_ms_buf_free(&one);
    xs_ms_buf_free(&two);
    xs_domain_image_free(&img);
    xs_domain_image_free(&again);
    return 0;
}
