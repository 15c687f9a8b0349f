/* Xen's libxc migration stream: a well-formed stream read back record by
 * record (from memory and from a descriptor), then each kind of damage
 * refused with the record named by type, index and offset: bad headers,
 * truncation at every byte, misalignment, oversized lengths, ordering
 * rules, pfns out of range or sent twice, unknown mandatory records; and
 * unknown optional records skipped. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xen/hvm/params.h>

#include <xensim/abi.h>
#include "migstream.h"
#include "migstream_hvm.h"
#include "migstream_image.h"
#include "prng.h"
#include "unit.h"

#define NPAGES 16 /* the synthetic domain's memory */

/* A synthetic stream and where each record starts. */
struct stream {
    struct xs_ms_buf b;
    uint8_t ram[NPAGES * XS_MS_PAGE_SIZE];
    uint64_t off[32];
    uint32_t type[32];
    unsigned n;
};

static void rec(struct stream *s, struct xs_ms_writer *w, uint32_t type, const void *body,
                uint32_t len)
{
    s->off[s->n] = w->offset;
    s->type[s->n++] = type;
    ck_assert_int_eq(xs_ms_write_record(w, type, body, len), 0);
}

static void hvm_context(struct xs_ms_buf *ctx, unsigned vcpus)
{
    struct hvm_save_header h = {
        .magic = HVM_FILE_MAGIC, .version = HVM_FILE_VERSION, .gtsc_khz = 2000000};
    ck_assert_int_eq(xs_ms_hvm_ctx_add(ctx, HVM_SAVE_CODE(HEADER), 0, &h, sizeof(h)), 0);
    for (unsigned i = 0; i < vcpus; i++) {
        struct hvm_hw_cpu c = {.rip = 0x1000 + i, .rsp = 0x8000, .rflags = 2};
        ck_assert_int_eq(
            xs_ms_hvm_ctx_add(ctx, HVM_SAVE_CODE(CPU), (uint16_t)i, &c, sizeof(c)), 0);
    }
    ck_assert_int_eq(xs_ms_hvm_ctx_add(ctx, HVM_SAVE_CODE(END), 0, NULL, 0), 0);
}

/* What xensim writes, in order; options change one thing at a time. */
enum { CTX_BEFORE_PARAMS = 1, UNKNOWN_OPTIONAL = 2, UNKNOWN_MANDATORY = 4, V2 = 8 };

static struct stream *build(unsigned opts)
{
    struct stream *s = calloc(1, sizeof(*s));
    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < sizeof(s->ram); i++)
        s->ram[i] = (uint8_t)(i * 7 + i / 4096);
    struct xs_ms_writer w;
    xs_ms_writer_buf(&w, &s->b);
    ck_assert_int_eq(xs_ms_write_headers(&w, XS_MS_DHDR_X86_HVM, 4, 17), 0);
    if (opts & V2) { /* patch the version: a v2 stream has no STATIC_DATA_END */
        uint32_t v = htobe32(2);
        memcpy(s->b.data + 12, &v, 4);
    }
    const char cfg[] = "name=guest\n";
    rec(s, &w, XS_MS_REC_XENSIM_DOMAIN, cfg, sizeof(cfg) - 1); /* 11: padded */
    if (opts & UNKNOWN_OPTIONAL) rec(s, &w, 0x8000beefu, "opaque", 6);
    if (opts & UNKNOWN_MANDATORY) rec(s, &w, 0x00000013u, "new", 3);
    if (!(opts & V2)) {
        uint32_t leaf[6] = {0x40000000, 0xffffffffu, 0x40000004, 0, 0, 0};
        rec(s, &w, XS_MS_REC_X86_CPUID_POLICY, leaf, sizeof(leaf));
        rec(s, &w, XS_MS_REC_STATIC_DATA_END, NULL, 0);
    }
    uint64_t pfns[NPAGES];
    for (unsigned i = 0; i < NPAGES; i++)
        pfns[i] = i;
    s->off[s->n] = w.offset;
    s->type[s->n++] = XS_MS_REC_PAGE_DATA;
    ck_assert_int_eq(xs_ms_write_page_data(&w, pfns, 10, s->ram), 0);
    s->off[s->n] = w.offset;
    s->type[s->n++] = XS_MS_REC_PAGE_DATA;
    ck_assert_int_eq(xs_ms_write_page_data(&w, pfns + 10, NPAGES - 10, s->ram), 0);
    uint32_t tsc[6] = {1, 2000000, 12345, 0, 1, 0};
    memcpy(&tsc[2], &(uint64_t){12345}, 8);
    rec(s, &w, XS_MS_REC_X86_TSC_INFO, tsc, sizeof(tsc));
    struct xs_ms_buf ctx = {0};
    hvm_context(&ctx, 2);
    uint64_t params[1 + 2 * 2] = {2, HVM_PARAM_STORE_PFN, NPAGES - 4,
                                  HVM_PARAM_STORE_EVTCHN, 1};
    if (opts & CTX_BEFORE_PARAMS)
        rec(s, &w, XS_MS_REC_HVM_CONTEXT, ctx.data, (uint32_t)ctx.len);
    rec(s, &w, XS_MS_REC_HVM_PARAMS, params, sizeof(params));
    if (!(opts & CTX_BEFORE_PARAMS))
        rec(s, &w, XS_MS_REC_HVM_CONTEXT, ctx.data, (uint32_t)ctx.len);
    xs_ms_buf_free(&ctx);
    rec(s, &w, XS_MS_REC_END, NULL, 0);
    ck_assert_uint_eq(w.offset, s->b.len);
    ck_assert_uint_eq(s->b.len % 8, 0);
    return s;
}

static void stream_free(struct stream *s)
{
    xs_ms_buf_free(&s->b);
    free(s);
}

/* Read to the end: 0 and the records seen, or -1 with the error. */
static int read_all(const void *data, size_t len, uint64_t max_pfns, char *err,
                    size_t errlen, unsigned *nrec)
{
    struct xs_ms_reader r;
    struct xs_ms_record rc;
    int ret = xs_ms_reader_open_mem(&r, data, len);
    if (max_pfns) xs_ms_reader_set_max_pfns(&r, max_pfns);
    unsigned n = 0;
    while (ret == 0) {
        int got = xs_ms_next(&r, &rc);
        if (got < 0) ret = -1;
        if (got <= 0) break;
        n++;
    }
    snprintf(err, errlen, "%s", r.err);
    if (nrec) *nrec = n;
    xs_ms_reader_close(&r);
    return ret;
}

/* The error must contain want. */
static void expect_error(const void *data, size_t len, uint64_t max_pfns,
                         const char *want)
{
    char err[512];
    ck_assert_int_eq(read_all(data, len, max_pfns, err, sizeof(err), NULL), -1);
    if (!strstr(err, want))
        ck_abort_msg("error \"%s\" does not contain \"%s\"", err, want);
}

START_TEST(good_stream_reads_back)
{
    struct stream *s = build(0);
    struct xs_ms_reader r;
    ck_assert_int_eq(xs_ms_reader_open_mem(&r, s->b.data, s->b.len), 0);
    ck_assert_uint_eq(r.version, 3);
    ck_assert_uint_eq(r.dom_type, XS_MS_DHDR_X86_HVM);
    ck_assert_uint_eq(r.xen_major, 4);
    ck_assert_uint_eq(r.xen_minor, 17);
    xs_ms_reader_set_max_pfns(&r, NPAGES);
    struct xs_ms_record rc;
    unsigned n = 0, pages = 0, cpus = 0;
    int got;
    while ((got = xs_ms_next(&r, &rc)) == 1) {
        ck_assert_uint_eq(rc.type, s->type[n]);
        ck_assert_uint_eq(rc.offset, s->off[n]);
        ck_assert_uint_eq(rc.index, n);
        if (rc.type == XS_MS_REC_PAGE_DATA)
            for (uint32_t i = 0; i < xs_ms_page_count(&rc); i++) {
                uint64_t pfn = xs_ms_page_entry(&rc, i) & XS_MS_PFN_MASK;
                ck_assert_int_eq(
                    memcmp(xs_ms_page_contents(&rc, i), s->ram + pfn * 4096, 4096), 0);
                pages++;
            }
        if (rc.type == XS_MS_REC_HVM_CONTEXT) {
            uint32_t pos = 0, len;
            uint16_t code, inst;
            const uint8_t *data;
            while (xs_ms_hvm_ctx_next(&rc, &pos, &code, &inst, &data, &len))
                if (code == HVM_SAVE_CODE(CPU)) {
                    struct hvm_hw_cpu c;
                    memcpy(&c, data, sizeof(c));
                    ck_assert_uint_eq(c.rip, 0x1000 + inst);
                    cpus++;
                }
        }
        n++;
    }
    ck_assert_int_eq(got, 0);
    ck_assert_str_eq(r.err, "");
    ck_assert_uint_eq(n, s->n - 1); /* END is not returned as a record */
    ck_assert_uint_eq(pages, NPAGES);
    ck_assert_uint_eq(r.pages, NPAGES);
    ck_assert_uint_eq(cpus, 2);
    ck_assert_int_eq(xs_ms_next(&r, &rc), 0); /* and stays ended */
    xs_ms_reader_close(&r);
    stream_free(s);
}
END_TEST

START_TEST(fd_reader_matches_memory)
{
    struct stream *s = build(0);
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    struct xs_ms_writer w;
    xs_ms_writer_fd(&w, fileno(f));
    /* The same bytes again through the descriptor writer. */
    struct xs_ms_reader m;
    ck_assert_int_eq(xs_ms_reader_open_mem(&m, s->b.data, s->b.len), 0);
    ck_assert_int_eq(xs_ms_write_headers(&w, XS_MS_DHDR_X86_HVM, 4, 17), 0);
    struct xs_ms_record rc;
    while (xs_ms_next(&m, &rc) == 1)
        ck_assert_int_eq(xs_ms_write_record(&w, rc.type, rc.body, rc.length), 0);
    ck_assert_int_eq(xs_ms_write_record(&w, XS_MS_REC_END, NULL, 0), 0);
    xs_ms_reader_close(&m);
    ck_assert_uint_eq(w.offset, s->b.len);
    ck_assert_int_eq(lseek(fileno(f), 0, SEEK_SET), 0);
    struct xs_ms_reader r;
    ck_assert_int_eq(xs_ms_reader_open_fd(&r, fileno(f)), 0);
    unsigned n = 0;
    int got;
    while ((got = xs_ms_next(&r, &rc)) == 1) {
        ck_assert_uint_eq(rc.type, s->type[n]);
        ck_assert_uint_eq(rc.offset, s->off[n]);
        n++;
    }
    ck_assert_msg(got == 0, "%s", r.err);
    xs_ms_reader_close(&r);
    /* Trailing bytes after END in a file are refused. */
    ck_assert_int_eq(write(fileno(f), "x", 1), 1);
    ck_assert_int_eq(lseek(fileno(f), 0, SEEK_SET), 0);
    ck_assert_int_eq(xs_ms_reader_open_fd(&r, fileno(f)), 0);
    while ((got = xs_ms_next(&r, &rc)) == 1)
        ;
    ck_assert_int_eq(got, -1);
    ck_assert_ptr_nonnull(strstr(r.err, "data after the END record"));
    xs_ms_reader_close(&r);
    fclose(f);
    stream_free(s);
}
END_TEST

START_TEST(bad_headers)
{
    struct stream *s = build(0);
    uint8_t *d = malloc(s->b.len);
    ck_assert_ptr_nonnull(d);
#define PATCHED(off, val, want)                                                          \
    do {                                                                                 \
        memcpy(d, s->b.data, s->b.len);                                                  \
        d[off] = (val);                                                                  \
        expect_error(d, s->b.len, NPAGES, want);                                         \
    } while (0)
    PATCHED(3, 0xfe, "image header at offset 0: marker 0xfffffffeffffffff");
    PATCHED(8, 'Y', "image header at offset 8: id 0x59454e46");
    PATCHED(15, 9, "image header at offset 12: version 9 is not supported");
    PATCHED(15, 1, "version 1 is not supported");
    PATCHED(17, 1, "image header at offset 16: options 0x0001: a big-endian stream");
    PATCHED(24, 1, "domain header at offset 24: type 1 (x86 PV) is not supported");
    PATCHED(24, 3, "type 3 (x86 PVH) is not supported");
    PATCHED(28, 13, "domain header at offset 28: page_shift 13");
#undef PATCHED
    /* Reserved option bits are ignored, as the spec says. */
    memcpy(d, s->b.data, s->b.len);
    d[16] = 0x80;
    char err[512];
    ck_assert_int_eq(read_all(d, s->b.len, NPAGES, err, sizeof(err), NULL), 0);
    expect_error(d, 10, 0, "image header at offset 0: truncated: 10 of 24 bytes");
    expect_error(d, 30, 0, "domain header at offset 24: truncated: 6 of 16 bytes");
    expect_error(NULL, 0, 0, "image header at offset 0: truncated: 0 of 24 bytes");
    free(d);
    stream_free(s);
}
END_TEST

/* Every prefix is refused; at a record boundary the error names the
 * missing record, inside one it names the record cut short. */
START_TEST(truncated_everywhere)
{
    struct stream *s = build(0);
    char err[512], want[128];
    unsigned k = 0; /* the record the cut falls in */
    for (size_t len = 0; len < s->b.len; len++) {
        ck_assert_int_eq(read_all(s->b.data, len, NPAGES, err, sizeof(err), NULL), -1);
        if (len < 40) continue; /* the headers: bad_headers covers them */
        while (k + 1 < s->n && s->off[k + 1] <= len)
            k++;
        if (len == s->off[k])
            snprintf(want, sizeof(want),
                     "record %u at offset %" PRIu64 ": the stream ends without an END", k,
                     s->off[k]);
        else if (len - s->off[k] < 4)
            snprintf(want, sizeof(want),
                     "record %u (type unknown) at offset %" PRIu64
                     ": truncated record header",
                     k, s->off[k]);
        else
            snprintf(want, sizeof(want),
                     "record %u (%s) at offset %" PRIu64 ": truncated", k,
                     xs_ms_rec_name(s->type[k]), s->off[k]);
        if (!strstr(err, want))
            ck_abort_msg("cut at %zu: \"%s\" lacks \"%s\"", len, err, want);
    }
    ck_assert_int_eq(read_all(s->b.data, s->b.len, NPAGES, err, sizeof(err), NULL), 0);
    stream_free(s);
}
END_TEST

/* A writer that forgot the padding: the next header lands in it. */
START_TEST(misaligned_record)
{
    struct xs_ms_buf b = {0};
    struct xs_ms_writer w;
    xs_ms_writer_buf(&w, &b);
    ck_assert_int_eq(xs_ms_write_headers(&w, XS_MS_DHDR_X86_HVM, 4, 17), 0);
    uint32_t hdr[2] = {XS_MS_REC_XENSIM_DOMAIN, 5};
    ck_assert_int_eq(xs_ms_buf_append(&b, hdr, 8), 0);
    ck_assert_int_eq(xs_ms_buf_append(&b, "abcde", 5), 0);
    uint32_t end[2] = {XS_MS_REC_STATIC_DATA_END, 0};
    ck_assert_int_eq(xs_ms_buf_append(&b, end, 8), 0);
    expect_error(b.data, b.len, 0,
                 "record 0 (XENSIM_DOMAIN) at offset 40: padding byte 0 after the "
                 "5-byte body is not zero");
    xs_ms_buf_free(&b);
}
END_TEST

START_TEST(oversized_length)
{
    struct stream *s = build(0);
    /* record 0's length field */
    uint32_t big = XS_MS_REC_LEN_MAX + 1;
    memcpy(s->b.data + s->off[0] + 4, &big, 4);
    char want[128];
    snprintf(want, sizeof(want),
             "record 0 (XENSIM_DOMAIN) at offset %" PRIu64 ": body length %u is over",
             s->off[0], big);
    expect_error(s->b.data, s->b.len, NPAGES, want);
    /* Under the limit but past the end: truncated. */
    big = 1u << 20;
    memcpy(s->b.data + s->off[0] + 4, &big, 4);
    expect_error(s->b.data, s->b.len, NPAGES, "(XENSIM_DOMAIN) at offset 40: truncated");
    stream_free(s);
}
END_TEST

START_TEST(context_before_params)
{
    struct stream *s = build(CTX_BEFORE_PARAMS);
    unsigned k = 0;
    while (s->type[k] != XS_MS_REC_HVM_CONTEXT)
        k++;
    char want[128];
    snprintf(want, sizeof(want),
             "record %u (HVM_CONTEXT) at offset %" PRIu64
             ": HVM_CONTEXT before HVM_PARAMS",
             k, s->off[k]);
    expect_error(s->b.data, s->b.len, NPAGES, want);
    stream_free(s);
}
END_TEST

START_TEST(pfn_out_of_range)
{
    struct stream *s = build(0);
    unsigned k = 0;
    while (s->type[k] != XS_MS_REC_PAGE_DATA)
        k++;
    char want[160];
    /* A domain of 12 pages: the first batch (pfns 0-9) fits, the second not. */
    snprintf(want, sizeof(want),
             "record %u (PAGE_DATA) at offset %" PRIu64
             ": pfn entry 2: pfn 0xc is outside the domain's 12 pages",
             k + 1, s->off[k + 1]);
    expect_error(s->b.data, s->b.len, 12, want);
    /* A pfn with the reserved page types of PV guests. */
    uint64_t e = 3 | (uint64_t)1 << 60; /* L1TAB */
    memcpy(s->b.data + s->off[k] + 16 + 8 * 3, &e, 8);
    expect_error(s->b.data, s->b.len, NPAGES,
                 "pfn entry 3 (0x1000000000000003): page "
                 "type L1TAB is not valid");
    stream_free(s);
}
END_TEST

START_TEST(duplicate_page)
{
    struct stream *s = build(0);
    unsigned k = 0;
    while (s->type[k] != XS_MS_REC_PAGE_DATA)
        k++;
    /* The second batch's first pfn (10) becomes 4, sent in the first. */
    uint64_t e = 4;
    memcpy(s->b.data + s->off[k + 1] + 16, &e, 8);
    char want[160];
    snprintf(want, sizeof(want),
             "record %u (PAGE_DATA) at offset %" PRIu64
             ": pfn entry 0: pfn 0x4 was already sent",
             k + 1, s->off[k + 1]);
    expect_error(s->b.data, s->b.len, NPAGES, want);
    /* A live migration's later rounds may resend it. */
    struct xs_ms_reader r;
    struct xs_ms_record rc;
    ck_assert_int_eq(xs_ms_reader_open_mem(&r, s->b.data, s->b.len), 0);
    r.allow_resend = true;
    int got;
    while ((got = xs_ms_next(&r, &rc)) == 1)
        ;
    ck_assert_msg(got == 0, "%s", r.err);
    xs_ms_reader_close(&r);
    /* An XTAB entry carries no data: the body is then a page too long. */
    e = 4 | (uint64_t)XS_MS_PT_XTAB << 60;
    memcpy(s->b.data + s->off[k + 1] + 16, &e, 8);
    expect_error(s->b.data, s->b.len, NPAGES, "pfns with 5 pages of data make");
    stream_free(s);
}
END_TEST

START_TEST(unknown_records)
{
    struct stream *s = build(UNKNOWN_OPTIONAL);
    char err[512];
    unsigned n;
    ck_assert_int_eq(read_all(s->b.data, s->b.len, NPAGES, err, sizeof(err), &n), 0);
    ck_assert_uint_eq(n, s->n - 1); /* returned for the caller to skip */
    stream_free(s);
    s = build(UNKNOWN_MANDATORY);
    char want[160];
    snprintf(want, sizeof(want),
             "record 1 (unknown mandatory type 0x00000013) at offset %" PRIu64
             ": a mandatory record this reader does not know",
             s->off[1]);
    expect_error(s->b.data, s->b.len, NPAGES, want);
    stream_free(s);
}
END_TEST

START_TEST(version_rules)
{
    /* v2: no STATIC_DATA_END, the first PAGE_DATA stands in for it. */
    struct stream *s = build(V2);
    char err[512];
    ck_assert_msg(read_all(s->b.data, s->b.len, NPAGES, err, sizeof(err), NULL) == 0,
                  "%s", err);
    /* The same records in a v3 stream lack STATIC_DATA_END. */
    s->b.data[15] = 3;
    char want[160];
    snprintf(want, sizeof(want),
             "record 1 (PAGE_DATA) at offset %" PRIu64 ": before STATIC_DATA_END",
             s->off[1]);
    expect_error(s->b.data, s->b.len, NPAGES, want);
    stream_free(s);
    /* CPUID policy after STATIC_DATA_END: swap the two records' headers
     * (both bodies: 24 and 0 bytes; rewrite as END-less static data). */
    s = build(0);
    uint32_t hdr[2] = {XS_MS_REC_STATIC_DATA_END, 0};
    memcpy(s->b.data + s->off[1], hdr, 8);
    /* the 24 bytes of leaf that followed become a CPUID record header... */
    uint32_t cp[2] = {XS_MS_REC_X86_CPUID_POLICY, 16};
    memcpy(s->b.data + s->off[1] + 8, cp, 8);
    expect_error(s->b.data, s->b.len, NPAGES,
                 "record 2 (X86_CPUID_POLICY) at offset 72: after STATIC_DATA_END");
    stream_free(s);
}
END_TEST

START_TEST(trailing_and_end_rules)
{
    struct stream *s = build(0);
    uint8_t *d = calloc(1, s->b.len + 8);
    ck_assert_ptr_nonnull(d);
    memcpy(d, s->b.data, s->b.len);
    char want[128];
    snprintf(want, sizeof(want), "8 bytes after the END record at offset %" PRIu64,
             s->off[s->n - 1]);
    expect_error(d, s->b.len + 8, NPAGES, want);
    /* END before HVM_CONTEXT: cut the stream after HVM_PARAMS and end it. */
    unsigned k = 0;
    while (s->type[k] != XS_MS_REC_HVM_CONTEXT)
        k++;
    memset(d + s->off[k], 0, 8);
    snprintf(want, sizeof(want),
             "record %u (END) at offset %" PRIu64 ": the stream has no HVM_CONTEXT", k,
             s->off[k]);
    expect_error(d, s->off[k] + 8, NPAGES, want);
    free(d);
    stream_free(s);
}
END_TEST

/* Damaged HVM contexts: no END entry, a CPU entry of the wrong size, the
 * same vCPU twice, no HEADER first. */
START_TEST(bad_hvm_context)
{
    struct hvm_save_header h = {.magic = HVM_FILE_MAGIC, .version = HVM_FILE_VERSION};
    struct hvm_hw_cpu c = {0};
    for (int variant = 0; variant < 5; variant++) {
        struct xs_ms_buf ctx = {0}, b = {0};
        if (variant != 3)
            xs_ms_hvm_ctx_add(&ctx, HVM_SAVE_CODE(HEADER), 0, &h, sizeof(h));
        xs_ms_hvm_ctx_add(&ctx, HVM_SAVE_CODE(CPU), 0, &c,
                          variant == 1 ? 100 : sizeof(c));
        if (variant == 2) xs_ms_hvm_ctx_add(&ctx, HVM_SAVE_CODE(CPU), 0, &c, sizeof(c));
        if (variant != 0) xs_ms_hvm_ctx_add(&ctx, HVM_SAVE_CODE(END), 0, NULL, 0);
        if (variant == 4) xs_ms_buf_append(&ctx, "junk", 4);
        struct xs_ms_writer w;
        xs_ms_writer_buf(&w, &b);
        xs_ms_write_headers(&w, XS_MS_DHDR_X86_HVM, 4, 17);
        xs_ms_write_record(&w, XS_MS_REC_STATIC_DATA_END, NULL, 0);
        xs_ms_write_record(&w, XS_MS_REC_HVM_PARAMS, NULL, 0);
        xs_ms_write_record(&w, XS_MS_REC_HVM_CONTEXT, ctx.data, (uint32_t)ctx.len);
        xs_ms_write_record(&w, XS_MS_REC_END, NULL, 0);
        static const char *const want[] = {
            "record 2 (HVM_CONTEXT) at offset 56: save entry 2 at body offset 1072: body "
            "ends (no END entry)",
            "CPU save entry 1 (instance 0) at body offset 32: 100 bytes, not 1032",
            "CPU save entry 2 at body offset 1072: vCPU 0 appears twice",
            "save entry 0 is typecode 2 of 1032 bytes, not the 24-byte HEADER",
            "END save entry at body offset 1072 must have length 0 and end the body (4 "
            "bytes follow)",
        };
        expect_error(b.data, b.len, 0, want[variant]);
        xs_ms_buf_free(&ctx);
        xs_ms_buf_free(&b);
    }
}
END_TEST

/* Random damage never crashes the reader (ASan/UBSan runs check it) and
 * never lets a changed stream through unnoticed where it matters. */
START_TEST(random_corruption)
{
    struct stream *s = build(0);
    uint8_t *d = malloc(s->b.len);
    ck_assert_ptr_nonnull(d);
    struct xs_prng p;
    xs_prng_seed(&p, 6);
    unsigned refused = 0;
    for (int iter = 0; iter < 3000; iter++) {
        memcpy(d, s->b.data, s->b.len);
        unsigned flips = 1 + (unsigned)xs_prng_below(&p, 4);
        for (unsigned f = 0; f < flips; f++) {
            /* Mostly the headers and metadata, where damage matters. */
            size_t at = xs_prng_below(&p, 4) ? xs_prng_below(&p, 200)
                                             : xs_prng_below(&p, s->b.len);
            d[at] ^= (uint8_t)(1 + xs_prng_below(&p, 255));
        }
        size_t len = xs_prng_below(&p, 8) ? s->b.len : xs_prng_below(&p, s->b.len + 1);
        char err[512];
        if (read_all(d, len, NPAGES, err, sizeof(err), NULL)) {
            refused++;
            ck_assert_uint_gt(strlen(err), 10);
        }
    }
    ck_assert_uint_gt(refused, 1000);
    free(d);
    stream_free(s);
}
END_TEST

/* ---- a domain image through the stream ------------------------------------ */

#define IMG_MIB 2

static void image_fill(struct xs_domain_image *img, unsigned vcpus)
{
    memset(img, 0, sizeof(*img));
    snprintf(img->name, sizeof(img->name), "guest");
    snprintf(img->image_path, sizeof(img->image_path), "/some/where/blk.elf");
    snprintf(img->cmdline, sizeof(img->cmdline), "console=hvc0 test=suspend");
    img->nr_vcpus = vcpus;
    img->ram_bytes = IMG_MIB << 20;
    img->hc_mode = XS_HC_VMCALL;
    img->directmap_base = XS_DIRECTMAP_BASE + 3 * XS_SLOT_SIZE;
    img->domid = 7;
    img->ram = calloc(1, img->ram_bytes);
    img->vcpus = calloc(vcpus, sizeof(*img->vcpus));
    ck_assert_ptr_nonnull(img->ram);
    ck_assert_ptr_nonnull(img->vcpus);
    /* Some pages with data, most zero. */
    for (unsigned p = 0; p < 40; p++)
        for (unsigned i = 0; i < 4096; i += 64)
            img->ram[(p * 13 % 512) * 4096 + i] = (uint8_t)(p + i / 64 + 1);
    for (unsigned v = 0; v < vcpus; v++) {
        struct xs_image_vcpu *iv = &img->vcpus[v];
        uint64_t *r = (uint64_t *)&iv->regs;
        for (size_t k = 0; k < sizeof(iv->regs) / 8; k++)
            r[k] = 0x1111111111111111ULL * (k + 1) + v;
        iv->regs.rip = img->directmap_base + 0x100000 + v;
        iv->regs.rflags = v & 1 ? 0x246 : 0x46;
        iv->online = v != 2;
        iv->initialised = v != 3;
        if (v == 3) iv->online = false; /* never brought up: no context */
        iv->virt_if = v % 3 == 0;
        iv->idt_base = img->directmap_base + 0x5000;
        iv->idt_limit = 0xfff;
    }
    img->suspend_vcpu = 1;
    img->hvm_params[HVM_PARAM_STORE_PFN] = 512 - 4;
    img->hvm_params[HVM_PARAM_CONSOLE_PFN] = 512 - 7;
    img->hvm_params[HVM_PARAM_STORE_EVTCHN] = 1;
    img->hvm_params[HVM_PARAM_CALLBACK_IRQ] = 2ULL << 56 | 0xf3;
    img->hypercall_page_gpa = 0x3000;
    img->vtime_ns = 123456789;
    img->tsc_khz = 2000000;
    img->nr_devices = 2;
    snprintf(img->devices[0].devclass, sizeof(img->devices[0].devclass), "vbd");
    img->devices[0].id = 51712;
    snprintf(img->devices[0].config, sizeof(img->devices[0].config), "size=4 readonly");
    snprintf(img->devices[1].devclass, sizeof(img->devices[1].devclass), "vshare");
    img->devices[1].id = 0;
    img->devices[1].backend_domid = 2;
}

static void image_save(const struct xs_domain_image *img, struct xs_ms_buf *b)
{
    struct xs_ms_writer w;
    xs_ms_writer_buf(&w, b);
    struct xs_ms_sim_state st = {.seed = 42, .prng = {{1, 2, 3, 4}}, .exits = 99};
    char err[512];
    ck_assert_msg(xs_ms_save_image(&w, img, &st, err, sizeof(err)) == 0, "%s", err);
}

static int image_load(const void *data, size_t len, struct xs_domain_image *img,
                      struct xs_ms_sim_state *st, char *err, size_t errlen)
{
    struct xs_ms_reader r;
    int rc = xs_ms_reader_open_mem(&r, data, len);
    if (rc)
        snprintf(err, errlen, "%s", r.err);
    else
        rc = xs_ms_load_image(&r, img, st, err, errlen);
    xs_ms_reader_close(&r);
    return rc;
}

static void expect_image_error(const void *data, size_t len, const char *want)
{
    struct xs_domain_image img;
    char err[768];
    int rc = image_load(data, len, &img, NULL, err, sizeof(err));
    xs_domain_image_free(&img);
    ck_assert_int_eq(rc, -1);
    if (!strstr(err, want))
        ck_abort_msg("error \"%s\" does not contain \"%s\"", err, want);
}

/* Offset of the first record of a type in a stream written by xensim. */
static uint64_t find_record(const struct xs_ms_buf *b, uint32_t type, unsigned *index)
{
    struct xs_ms_reader r;
    struct xs_ms_record rc;
    ck_assert_int_eq(xs_ms_reader_open_mem(&r, b->data, b->len), 0);
    r.max_pfns = XS_MS_MAX_PFNS;
    while (xs_ms_next(&r, &rc) == 1)
        if (rc.type == type) {
            xs_ms_reader_close(&r);
            if (index) *index = rc.index;
            return rc.offset;
        }
    xs_ms_reader_close(&r);
    ck_abort_msg("no record of type 0x%x", type);
    return 0;
}

START_TEST(image_round_trip)
{
    struct xs_domain_image a, b;
    image_fill(&a, 4);
    struct xs_ms_buf buf = {0};
    image_save(&a, &buf);
    /* Only the 40 pages with data are in it. */
    ck_assert_uint_lt(buf.len, 50 * 4096);
    ck_assert_uint_gt(buf.len, 40 * 4096);
    struct xs_ms_sim_state st;
    char err[768];
    ck_assert_msg(image_load(buf.data, buf.len, &b, &st, err, sizeof(err)) == 0, "%s",
                  err);
    ck_assert_str_eq(b.name, a.name);
    ck_assert_str_eq(b.image_path, a.image_path);
    ck_assert_str_eq(b.cmdline, a.cmdline);
    ck_assert_uint_eq(b.nr_vcpus, a.nr_vcpus);
    ck_assert_uint_eq(b.ram_bytes, a.ram_bytes);
    ck_assert_int_eq(b.hc_mode, a.hc_mode);
    ck_assert_uint_eq(b.directmap_base, a.directmap_base);
    ck_assert_uint_eq(b.domid, a.domid);
    ck_assert_int_eq(memcmp(b.ram, a.ram, a.ram_bytes), 0);
    for (unsigned v = 0; v < a.nr_vcpus; v++) {
        const struct xs_image_vcpu *x = &a.vcpus[v], *y = &b.vcpus[v];
        ck_assert_int_eq(y->online, x->online);
        ck_assert_int_eq(y->initialised, x->initialised);
        if (!x->online && !x->initialised) continue;
        ck_assert_int_eq(memcmp(&y->regs, &x->regs, sizeof(x->regs)), 0);
        ck_assert_int_eq(y->virt_if, x->virt_if);
        ck_assert_uint_eq(y->idt_base, x->idt_base);
        ck_assert_uint_eq(y->idt_limit, x->idt_limit);
    }
    ck_assert_uint_eq(b.suspend_vcpu, a.suspend_vcpu);
    ck_assert_int_eq(memcmp(b.hvm_params, a.hvm_params, sizeof(a.hvm_params)), 0);
    ck_assert_uint_eq(b.hypercall_page_gpa, a.hypercall_page_gpa);
    ck_assert_uint_eq(b.vtime_ns, a.vtime_ns);
    ck_assert_uint_eq(b.tsc_khz, a.tsc_khz);
    ck_assert_uint_eq(b.nr_devices, 2);
    for (unsigned i = 0; i < 2; i++) {
        ck_assert_str_eq(b.devices[i].devclass, a.devices[i].devclass);
        ck_assert_uint_eq(b.devices[i].id, a.devices[i].id);
        ck_assert_uint_eq(b.devices[i].backend_domid, a.devices[i].backend_domid);
        ck_assert_str_eq(b.devices[i].config, a.devices[i].config);
    }
    ck_assert(st.present);
    ck_assert_uint_eq(st.seed, 42);
    ck_assert_uint_eq(st.prng.s[3], 4);
    ck_assert_uint_eq(st.exits, 99);
    /* Xen's own view: vCPU 3 (no context) has no CPU entry, the others do. */
    unsigned k;
    uint64_t off = find_record(&buf, XS_MS_REC_HVM_CONTEXT, &k);
    uint32_t len;
    memcpy(&len, buf.data + off + 4, 4);
    ck_assert_uint_eq(len, 8 + 24 + 3 * (8 + sizeof(struct hvm_hw_cpu)) + 8);
    xs_domain_image_free(&a);
    xs_domain_image_free(&b);
    xs_ms_buf_free(&buf);
}
END_TEST

/* The same stream written again from what was read is byte for byte the
 * same: nothing is lost or made up on the way. */
START_TEST(image_stream_is_stable)
{
    struct xs_domain_image a, b;
    image_fill(&a, 3);
    struct xs_ms_buf one = {0}, two = {0};
    image_save(&a, &one);
    char err[768];
    ck_assert_msg(image_load(one.data, one.len, &b, NULL, err, sizeof(err)) == 0, "%s",
                  err);
    image_save(&b, &two);
    ck_assert_uint_eq(one.len, two.len);
    ck_assert_int_eq(memcmp(one.data, two.data, one.len), 0);
    xs_domain_image_free(&a);
    xs_domain_image_free(&b);
    xs_ms_buf_free(&one);
    xs_ms_buf_free(&two);
}
END_TEST

/* Patch a field of the XENSIM_DOMAIN header in a copy of the stream. */
static void domain_field(struct xs_ms_buf *b, size_t field, const void *val, size_t n,
                         const char *want)
{
    uint64_t off = find_record(b, XS_MS_REC_XENSIM_DOMAIN, NULL);
    uint8_t *d = malloc(b->len);
    ck_assert_ptr_nonnull(d);
    memcpy(d, b->data, b->len);
    memcpy(d + off + 8 + field, val, n);
    expect_image_error(d, b->len, want);
    free(d);
}

START_TEST(image_bad_config)
{
    struct xs_domain_image a;
    image_fill(&a, 2);
    a.vcpus[0].online = a.vcpus[0].initialised = true;
    a.suspend_vcpu = 0;
    struct xs_ms_buf b = {0};
    image_save(&a, &b);
    char want[200];
    snprintf(want, sizeof(want), "record 0 (XENSIM_DOMAIN) at offset 40: ");
    domain_field(&b, offsetof(struct xs_ms_xensim_domain, nr_vcpus), &(uint32_t){0}, 4,
                 "record 0 (XENSIM_DOMAIN) at offset 40: 0 vCPUs (1..128)");
    domain_field(&b, offsetof(struct xs_ms_xensim_domain, ram_bytes),
                 &(uint64_t){(2 << 20) + 4096}, 8, "memory of 2101248 bytes");
    domain_field(&b, offsetof(struct xs_ms_xensim_domain, directmap_base),
                 &(uint64_t){0x7f0000000000}, 8,
                 "direct-map base 0x7f0000000000 is not a xensim domain slot");
    domain_field(&b, offsetof(struct xs_ms_xensim_domain, version), &(uint32_t){2}, 4,
                 "version 2 (this xensim reads 1)");
    domain_field(&b, offsetof(struct xs_ms_xensim_domain, name_len), &(uint16_t){6}, 2,
                 "the header and strings make");
    domain_field(&b, offsetof(struct xs_ms_xensim_domain, suspend_vcpu), &(uint32_t){2},
                 4, "suspending vCPU 2 of 2");
    domain_field(&b, offsetof(struct xs_ms_xensim_domain, hc_mode), &(uint32_t){5}, 4,
                 "hypercall mode 5");
    domain_field(&b, sizeof(struct xs_ms_xensim_domain) + 1, "\n", 1,
                 "name has a NUL or newline at byte 1");
    /* A smaller memory than the pages sent: the pfn check catches it. */
    domain_field(&b, offsetof(struct xs_ms_xensim_domain, ram_bytes),
                 &(uint64_t){1 << 20}, 8, "is outside the domain's 256 pages");
    /* Without the record at all (a stream xensim did not write). */
    b.data[40 + 2] = 0x77; /* XENSIM_DOMAIN -> an unknown optional type */
    expect_image_error(b.data, b.len,
                       "record 1 (XENSIM_VCPU) at offset 160: before XENSIM_DOMAIN");
    xs_domain_image_free(&a);
    xs_ms_buf_free(&b);
}
END_TEST

START_TEST(image_bad_state)
{
    struct xs_domain_image a;
    image_fill(&a, 2);
    a.vcpus[0].online = a.vcpus[0].initialised = true;
    struct xs_ms_buf b = {0};
    /* rip outside the domain's memory */
    a.vcpus[1].regs.rip = 0x1000;
    image_save(&a, &b);
    expect_image_error(b.data, b.len,
                       "vCPU 1: rip 0x1000 is outside the domain's memory");
    xs_ms_buf_free(&b);
    a.vcpus[1].regs.rip = a.directmap_base + 0x2000;
    /* A TSC at another frequency. */
    a.tsc_khz = 1000000;
    image_save(&a, &b);
    expect_image_error(b.data, b.len, "(X86_TSC_INFO) at offset");
    expect_image_error(b.data, b.len, "TSC of 1000000 kHz");
    xs_ms_buf_free(&b);
    a.tsc_khz = 2000000;
    /* A device line that is not CLASS ID DOMID */
    snprintf(a.devices[0].devclass, sizeof(a.devices[0].devclass), "V BD");
    image_save(&a, &b);
    expect_image_error(b.data, b.len, "record 2 (XENSIM_DEVICES) at offset");
    xs_ms_buf_free(&b);
    snprintf(a.devices[0].devclass, sizeof(a.devices[0].devclass), "vbd");
    image_save(&a, &b);
    /* vCPU flags that disagree with the CPU entries. */
    unsigned k;
    uint64_t off = find_record(&b, XS_MS_REC_XENSIM_VCPU, &k);
    uint32_t flags = 0;
    memcpy(b.data + off + 8 + 8 + 8 + 4, &flags, 4); /* vCPU 1 */
    expect_image_error(
        b.data, b.len,
        "vCPU 1: XENSIM_VCPU says it has no context, HVM_CONTEXT has a CPU");
    flags = 0x10;
    memcpy(b.data + off + 8 + 8 + 8 + 4, &flags, 4);
    expect_image_error(b.data, b.len, "entry 1: unknown flags 0x10");
    flags = XS_MS_VCPU_ONLINE | XS_MS_VCPU_INITIALISED;
    memcpy(b.data + off + 8 + 8 + 8 + 4, &flags, 4);
    /* CPUID of another CPU */
    off = find_record(&b, XS_MS_REC_X86_CPUID_POLICY, &k);
    b.data[off + 8 + 24 + 8] ^= 1; /* leaf 1 eax */
    expect_image_error(b.data, b.len, "leaf 0x1 is 000906eb");
    b.data[off + 8 + 24 + 8] ^= 1;
    /* A CPU entry out of 32-bit code */
    off = find_record(&b, XS_MS_REC_HVM_CONTEXT, &k);
    size_t efer = off + 8 + 8 + 24 + 8 + offsetof(struct hvm_hw_cpu, msr_efer);
    b.data[efer + 1] &= (uint8_t)~0x04; /* LMA off */
    expect_image_error(b.data, b.len, "vCPU 0 is not in 64-bit mode");
    b.data[efer + 1] |= 0x04;
    /* A CPU entry for a vCPU the domain does not have */
    size_t inst = off + 8 + 8 + 24 + 2;
    b.data[inst] = 9;
    expect_image_error(b.data, b.len, "CPU entry for vCPU 9 of 2");
    b.data[inst] = 0;
    char err[768];
    struct xs_domain_image c;
    ck_assert_msg(image_load(b.data, b.len, &c, NULL, err, sizeof(err)) == 0, "%s", err);
    xs_domain_image_free(&c);
    xs_domain_image_free(&a);
    xs_ms_buf_free(&b);
}
END_TEST

START_TEST(image_files)
{
    struct xs_domain_image a, b;
    image_fill(&a, 1);
    a.vcpus[0].online = a.vcpus[0].initialised = true;
    a.suspend_vcpu = 0;
    char dir[] = "/tmp/xs-migstream-XXXXXX", path[128], tmp[160], err[768];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/guest.xen", dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    ck_assert_msg(xs_ms_save_file(path, &a, NULL, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(access(tmp, F_OK), -1);
    uint64_t base = 0;
    ck_assert_int_eq(xs_ms_peek_base(path, &base), 0);
    ck_assert_uint_eq(base, a.directmap_base);
    ck_assert_int_eq(xs_ms_peek_base("/nonexistent/x", &base), -1);
    ck_assert_msg(xs_ms_load_file(path, &b, NULL, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(memcmp(a.ram, b.ram, a.ram_bytes), 0);
    xs_domain_image_free(&b);
    /* A save that cannot be written leaves the old file as it was. */
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    ck_assert_int_eq(mkdir(tmp, 0700), 0); /* PATH.tmp cannot be created */
    snprintf(a.name, sizeof(a.name), "other");
    ck_assert_int_eq(xs_ms_save_file(path, &a, NULL, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "cannot create"));
    ck_assert_msg(xs_ms_load_file(path, &b, NULL, err, sizeof(err)) == 0, "%s", err);
    ck_assert_str_eq(b.name, "guest");
    xs_domain_image_free(&b);
    f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    ck_assert_int_eq(ftell(f), size);
    fclose(f);
    rmdir(tmp);
    /* Missing file, a directory, an empty file, a truncated file. */
    ck_assert_int_eq(xs_ms_load_file("/nonexistent/x", &b, NULL, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/x: cannot open"));
    xs_domain_image_free(&b);
    ck_assert_int_eq(truncate(path, size - 20), 0);
    ck_assert_int_eq(xs_ms_load_file(path, &b, NULL, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "(HVM_CONTEXT) at offset"));
    ck_assert_ptr_nonnull(strstr(err, "truncated"));
    xs_domain_image_free(&b);
    ck_assert_int_eq(truncate(path, 0), 0);
    ck_assert_int_eq(xs_ms_peek_base(path, &base), -1);
    ck_assert_int_eq(xs_ms_load_file(path, &b, NULL, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "image header at offset 0: truncated: 0 of 24"));
    xs_domain_image_free(&b);
    unlink(path);
    rmdir(dir);
    xs_domain_image_free(&a);
}
END_TEST

/* Random damage to a real image's stream: refused or read, never a crash,
 * and never an image the checks would not have passed. */
START_TEST(image_random_corruption)
{
    struct xs_domain_image a;
    image_fill(&a, 3);
    struct xs_ms_buf b = {0};
    image_save(&a, &b);
    uint8_t *d = malloc(b.len);
    ck_assert_ptr_nonnull(d);
    struct xs_prng p;
    xs_prng_seed(&p, 66);
    unsigned refused = 0;
    /* Where the metadata is: everything but the page contents. */
    uint64_t pages = find_record(&b, XS_MS_REC_PAGE_DATA, NULL);
    uint64_t tail = find_record(&b, XS_MS_REC_X86_TSC_INFO, NULL);
    for (int iter = 0; iter < 1500; iter++) {
        memcpy(d, b.data, b.len);
        unsigned flips = 1 + (unsigned)xs_prng_below(&p, 3);
        for (unsigned f = 0; f < flips; f++) {
            size_t at = xs_prng_below(&p, 2) ? xs_prng_below(&p, pages + 8 * 40)
                                             : tail + xs_prng_below(&p, b.len - tail);
            d[at] ^= (uint8_t)(1 + xs_prng_below(&p, 255));
        }
        struct xs_domain_image c;
        char err[768];
        if (image_load(d, b.len, &c, NULL, err, sizeof(err))) {
            refused++;
        } else {
            ck_assert_uint_ge(c.nr_vcpus, 1);
            ck_assert_uint_lt(c.suspend_vcpu, c.nr_vcpus);
            ck_assert(c.vcpus[c.suspend_vcpu].online);
        }
        xs_domain_image_free(&c);
    }
    ck_assert_uint_gt(refused, 300);
    free(d);
    xs_domain_image_free(&a);
    xs_ms_buf_free(&b);
}
END_TEST

Suite *migstream_suite(void)
{
    Suite *s = suite_create("migstream");
    TCase *f = tcase_create("format");
    tcase_add_test(f, good_stream_reads_back);
    tcase_add_test(f, fd_reader_matches_memory);
    tcase_add_test(f, bad_headers);
    tcase_add_test(f, truncated_everywhere);
    tcase_add_test(f, misaligned_record);
    tcase_add_test(f, oversized_length);
    tcase_add_test(f, context_before_params);
    tcase_add_test(f, pfn_out_of_range);
    tcase_add_test(f, duplicate_page);
    tcase_add_test(f, unknown_records);
    tcase_add_test(f, version_rules);
    tcase_add_test(f, trailing_and_end_rules);
    tcase_add_test(f, bad_hvm_context);
    tcase_add_test(f, random_corruption);
    tcase_set_timeout(f, 60);
    suite_add_tcase(s, f);
    TCase *i = tcase_create("image");
    tcase_add_test(i, image_round_trip);
    tcase_add_test(i, image_stream_is_stable);
    tcase_add_test(i, image_bad_config);
    tcase_add_test(i, image_bad_state);
    tcase_add_test(i, image_files);
    tcase_add_test(i, image_random_corruption);
    tcase_set_timeout(i, 60);
    suite_add_tcase(s, i);
    return s;
}
