/* Writes the seed corpus of fuzz/migstream_read.c: streams as `xensim save`
 * writes them (emulator/migstream_save.c), for small synthetic domains of
 * several shapes, plus variants a reader must take (a version 2 stream, an
 * unknown optional record) and a few it must refuse.  `make
 * migstream-corpus` runs it into fuzz/corpus/migstream_read/.
 *
 *   build/migstream_corpus DIR */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xensim/abi.h>
#include "migstream_image.h"
#include "vtime.h"

/* A domain of mib MiB with vcpus vCPUs, pages of data every stride. */
static void image(struct xs_domain_image *img, unsigned mib, unsigned vcpus,
                  unsigned stride, unsigned devices)
{
    memset(img, 0, sizeof(*img));
    snprintf(img->name, sizeof(img->name), "guest");
    snprintf(img->image_path, sizeof(img->image_path), "/build/guests/blk.elf");
    snprintf(img->cmdline, sizeof(img->cmdline), "console=hvc0");
    img->nr_vcpus = vcpus;
    img->ram_bytes = (uint64_t)mib << 20;
    img->directmap_base = XS_DIRECTMAP_BASE;
    img->domid = 1;
    img->ram = calloc(1, img->ram_bytes);
    img->vcpus = calloc(vcpus, sizeof(*img->vcpus));
    if (!img->ram || !img->vcpus) exit(1);
    for (uint64_t p = 256; p < img->ram_bytes / 4096; p += stride)
        for (unsigned i = 0; i < 4096; i += 512)
            img->ram[p * 4096 + i] = (uint8_t)(p ^ i);
    for (unsigned v = 0; v < vcpus; v++) {
        struct xs_image_vcpu *iv = &img->vcpus[v];
        iv->regs.rip = XS_DIRECTMAP_BASE + 0x100200 + 16 * v;
        iv->regs.rsp = XS_DIRECTMAP_BASE + 0x180000 - 0x1000 * v;
        iv->regs.rflags = 0x246;
        iv->online = iv->initialised = v < 2 || v % 2;
        iv->virt_if = v == 0;
        iv->idt_base = XS_DIRECTMAP_BASE + 0x140000;
        iv->idt_limit = 0xfff;
    }
    img->hvm_params[HVM_PARAM_STORE_PFN] = img->ram_bytes / 4096 - 4;
    img->hvm_params[HVM_PARAM_CONSOLE_PFN] = img->ram_bytes / 4096 - 7;
    img->hvm_params[HVM_PARAM_STORE_EVTCHN] = 1;
    img->hvm_params[HVM_PARAM_CONSOLE_EVTCHN] = 2;
    img->hypercall_page_gpa = 0x101000;
    img->vtime_ns = 5000000;
    img->tsc_khz = XS_VTSC_KHZ;
    for (unsigned d = 0; d < devices; d++) {
        struct xs_image_device *dv = &img->devices[img->nr_devices++];
        snprintf(dv->devclass, sizeof(dv->devclass), "vbd");
        dv->id = 51712 + 16 * d;
        snprintf(dv->config, sizeof(dv->config), d ? "size=2 readonly" : "size=4");
    }
}

static void put(const char *dir, const char *name, const void *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f)) {
        fprintf(stderr, "migstream_corpus: %s: %s\n", path, strerror(errno));
        exit(1);
    }
}

static void save(const struct xs_domain_image *img, struct xs_ms_buf *b)
{
    struct xs_ms_writer w;
    struct xs_ms_sim_state st = {.seed = 7, .prng = {{1, 2, 3, 4}}, .exits = 1000};
    char err[512];
    xs_ms_writer_buf(&w, b);
    if (xs_ms_save_image(&w, img, &st, err, sizeof(err))) {
        fprintf(stderr, "migstream_corpus: %s\n", err);
        exit(1);
    }
}

/* Drop the first record of type from a stream (the rest shifts up). */
static void drop_record(struct xs_ms_buf *b, uint32_t type)
{
    size_t off = 40;
    while (off + 8 <= b->len) {
        uint32_t t, len;
        memcpy(&t, b->data + off, 4);
        memcpy(&len, b->data + off + 4, 4);
        size_t total = 8 + ((len + 7u) & ~7u);
        if (t == type) {
            memmove(b->data + off, b->data + off + total, b->len - off - total);
            b->len -= total;
            return;
        }
        off += total;
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: migstream_corpus DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    struct xs_domain_image img;
    struct xs_ms_buf b = {0};
    static const struct {
        const char *name;
        unsigned mib, vcpus, stride, devices;
    } shapes[] = {
        {"one-vcpu", 2, 1, 97, 0},
        {"four-vcpus-devices", 2, 4, 61, 2},
        {"many-pages", 4, 2, 41, 1},
    };
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        image(&img, shapes[i].mib, shapes[i].vcpus, shapes[i].stride, shapes[i].devices);
        save(&img, &b);
        put(dir, shapes[i].name, b.data, b.len);
        if (i == 0) {
            /* Variants of the smallest one. */
            struct xs_ms_buf v = {0};
            xs_ms_buf_append(&v, b.data, b.len);
            drop_record(&v, XS_MS_REC_STATIC_DATA_END);
            uint32_t two = htobe32(2);
            memcpy(v.data + 12, &two, 4);
            put(dir, "version-2", v.data, v.len);
            v.len = 0;
            xs_ms_buf_append(&v, b.data, 40);
            uint32_t opt[4] = {0x8000beefu, 5, 0x6c6c6568u, 0x6f};
            xs_ms_buf_append(&v, opt, sizeof(opt));
            xs_ms_buf_append(&v, b.data + 40, b.len - 40);
            put(dir, "unknown-optional", v.data, v.len);
            v.len = 0;
            xs_ms_buf_append(&v, b.data, b.len);
            drop_record(&v, XS_MS_REC_XENSIM_VCPU);
            drop_record(&v, XS_MS_REC_XENSIM_TIME);
            drop_record(&v, XS_MS_REC_XENSIM_DEVICES);
            put(dir, "xen-records-only", v.data, v.len);
            v.len = 0;
            xs_ms_buf_append(&v, b.data, b.len);
            drop_record(&v, XS_MS_REC_HVM_PARAMS);
            put(dir, "bad-no-params", v.data, v.len);
            put(dir, "bad-truncated", b.data, b.len / 2);
            /* A live migration's stream (migrate.c): two rounds, the
             * second sending some pages again, then the stop-and-copy. */
            v.len = 0;
            struct xs_ms_writer w;
            char err[512];
            xs_ms_writer_buf(&w, &v);
            struct xs_ms_xensim_live live = {.version = XS_MS_XENSIM_VERSION,
                                             .max_rounds = 5,
                                             .threshold = 50,
                                             .bandwidth = 1250000000,
                                             .start_ns = 4000000};
            struct xs_ms_xensim_suspend susp = {.suspend_vcpu = 0,
                                                .rounds = 2,
                                                .hypercall_page_gpa = 0x101000,
                                                .suspended_ns = 4900000};
            uint64_t pfns[8] = {256, 353, 450, 300, 256, 450, 301, 302};
            struct xs_ms_sim_state st = {.seed = 7, .prng = {{1, 2, 3, 4}}};
            if (xs_ms_save_live_head(&w, &img, &live, err, sizeof(err)) ||
                xs_ms_write_page_data(&w, pfns, 4, img.ram) ||
                xs_ms_write_page_data(&w, pfns + 4, 2, img.ram) ||
                xs_ms_write_page_data(&w, pfns + 6, 2, img.ram) ||
                xs_ms_save_live_tail(&w, &img, &st, &susp, err, sizeof(err))) {
                fprintf(stderr, "migstream_corpus: live: %s%s\n", err, w.err);
                exit(1);
            }
            put(dir, "live-two-rounds", v.data, v.len);
            xs_ms_buf_free(&v);
        }
        xs_domain_image_free(&img);
        b.len = 0;
    }
    xs_ms_buf_free(&b);
    return 0;
}
