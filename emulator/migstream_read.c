/* Reading a libxc migration stream (migstream.h) as a hostile input: every
 * header field, record length, body layout and ordering rule is checked
 * before anything is used, and the first problem ends the stream with one
 * line naming the record by type, index and byte offset. */
#define __XEN_TOOLS__ 1 /* xen_cpuid_leaf_t, xen_msr_entry_t: toolstack types */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xen/xen.h>
#include <xen/hvm/params.h>

#include "migstream.h"
#include "migstream_hvm.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "little-endian records are read in host order");

static const char *const rec_names[] = {
    [XS_MS_REC_END] = "END",
    [XS_MS_REC_PAGE_DATA] = "PAGE_DATA",
    [XS_MS_REC_X86_PV_INFO] = "X86_PV_INFO",
    [XS_MS_REC_X86_PV_P2M_FRAMES] = "X86_PV_P2M_FRAMES",
    [XS_MS_REC_X86_PV_VCPU_BASIC] = "X86_PV_VCPU_BASIC",
    [XS_MS_REC_X86_PV_VCPU_EXTENDED] = "X86_PV_VCPU_EXTENDED",
    [XS_MS_REC_X86_PV_VCPU_XSAVE] = "X86_PV_VCPU_XSAVE",
    [XS_MS_REC_SHARED_INFO] = "SHARED_INFO",
    [XS_MS_REC_X86_TSC_INFO] = "X86_TSC_INFO",
    [XS_MS_REC_HVM_CONTEXT] = "HVM_CONTEXT",
    [XS_MS_REC_HVM_PARAMS] = "HVM_PARAMS",
    [XS_MS_REC_TOOLSTACK] = "TOOLSTACK",
    [XS_MS_REC_X86_PV_VCPU_MSRS] = "X86_PV_VCPU_MSRS",
    [XS_MS_REC_VERIFY] = "VERIFY",
    [XS_MS_REC_CHECKPOINT] = "CHECKPOINT",
    [XS_MS_REC_CHECKPOINT_DIRTY_PFN_LIST] = "CHECKPOINT_DIRTY_PFN_LIST",
    [XS_MS_REC_STATIC_DATA_END] = "STATIC_DATA_END",
    [XS_MS_REC_X86_CPUID_POLICY] = "X86_CPUID_POLICY",
    [XS_MS_REC_X86_MSR_POLICY] = "X86_MSR_POLICY",
};

const char *xs_ms_rec_name(uint32_t type)
{
    if (type < sizeof(rec_names) / sizeof(rec_names[0])) return rec_names[type];
    switch (type) {
    case XS_MS_REC_XENSIM_DOMAIN:
        return "XENSIM_DOMAIN";
    case XS_MS_REC_XENSIM_VCPU:
        return "XENSIM_VCPU";
    case XS_MS_REC_XENSIM_DEVICES:
        return "XENSIM_DEVICES";
    case XS_MS_REC_XENSIM_TIME:
        return "XENSIM_TIME";
    case XS_MS_REC_XENSIM_LIVE:
        return "XENSIM_LIVE";
    case XS_MS_REC_XENSIM_SUSPEND:
        return "XENSIM_SUSPEND";
    }
    return NULL;
}

const char *xs_ms_rec_describe(uint32_t type, char *buf, size_t len)
{
    const char *n = xs_ms_rec_name(type);
    if (n) return n;
    snprintf(buf, len, "unknown %s type 0x%08" PRIx32,
             type & XS_MS_REC_OPTIONAL ? "optional" : "mandatory", type);
    return buf;
}

static const char *dom_type_name(uint32_t t)
{
    switch (t) {
    case XS_MS_DHDR_X86_PV:
        return "x86 PV";
    case XS_MS_DHDR_X86_HVM:
        return "x86 HVM";
    case XS_MS_DHDR_X86_PVH:
        return "x86 PVH";
    case XS_MS_DHDR_ARM:
        return "ARM";
    }
    return "reserved";
}

__attribute__((format(printf, 2, 3))) static int fail(struct xs_ms_reader *r,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof(r->err), fmt, ap);
    va_end(ap);
    return -1;
}

int xs_ms_rec_error(struct xs_ms_reader *r, const struct xs_ms_record *rec,
                    const char *fmt, ...)
{
    char tb[48], msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return fail(r, "record %u (%s) at offset %" PRIu64 ": %s", rec->index,
                xs_ms_rec_describe(rec->type, tb, sizeof(tb)), rec->offset, msg);
}

/* ---- the source --------------------------------------------------------- */

/* Up to len bytes at the current offset: *p points at them, the return
 * value says how many there were (less than len only at the end). */
static size_t take(struct xs_ms_reader *r, size_t len, const uint8_t **p)
{
    if (r->mem) {
        size_t left = r->offset < r->mem_len ? r->mem_len - (size_t)r->offset : 0;
        size_t n = len < left ? len : left;
        *p = r->mem + r->offset;
        r->offset += n;
        return n;
    }
    if (len > r->scratch_cap) {
        uint8_t *n = realloc(r->scratch, len);
        if (!n) return 0;
        r->scratch = n;
        r->scratch_cap = len;
    }
    size_t got = 0;
    while (got < len && !r->fd_eof) {
        ssize_t n = read(r->fd, r->scratch + got, len - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            r->fd_eof = true; /* a read error ends the stream as a truncation */
            break;
        }
        got += (size_t)n;
    }
    *p = r->scratch;
    r->offset += got;
    return got;
}

/* ---- headers ------------------------------------------------------------ */

static void reader_init(struct xs_ms_reader *r)
{
    memset(r, 0, sizeof(*r));
    r->fd = -1;
    r->max_pfns = XS_MS_MAX_PFNS;
}

static int read_headers(struct xs_ms_reader *r)
{
    const uint8_t *p;
    size_t got = take(r, XS_MS_IHDR_SIZE, &p);
    if (got < XS_MS_IHDR_SIZE)
        return fail(r, "image header at offset 0: truncated: %zu of %u bytes", got,
                    XS_MS_IHDR_SIZE);
    uint64_t marker;
    uint32_t id, version;
    uint16_t options;
    memcpy(&marker, p, 8);
    memcpy(&id, p + 8, 4);
    memcpy(&version, p + 12, 4);
    memcpy(&options, p + 16, 2);
    marker = be64toh(marker);
    id = be32toh(id);
    version = be32toh(version);
    options = be16toh(options);
    if (marker != XS_MS_IHDR_MARKER)
        return fail(r,
                    "image header at offset 0: marker 0x%016" PRIx64
                    " is not 0xffffffffffffffff (not a Xen migration stream, or a "
                    "legacy image)",
                    marker);
    if (id != XS_MS_IHDR_ID)
        return fail(r,
                    "image header at offset 8: id 0x%08" PRIx32
                    " is not 0x58454e46 (\"XENF\")",
                    id);
    if (version != 2 && version != 3)
        return fail(r,
                    "image header at offset 12: version %" PRIu32
                    " is not supported (this reader takes 2 and 3)",
                    version);
    if (options & XS_MS_OPT_BIG_END)
        return fail(r,
                    "image header at offset 16: options 0x%04x: a big-endian stream "
                    "(x86 streams are little-endian)",
                    options);
    r->version = version;
    r->options = options;
    got = take(r, XS_MS_DHDR_SIZE, &p);
    if (got < XS_MS_DHDR_SIZE)
        return fail(r, "domain header at offset 24: truncated: %zu of %u bytes", got,
                    XS_MS_DHDR_SIZE);
    uint16_t shift;
    memcpy(&r->dom_type, p, 4);
    memcpy(&shift, p + 4, 2);
    memcpy(&r->xen_major, p + 8, 4);
    memcpy(&r->xen_minor, p + 12, 4);
    if (r->dom_type != XS_MS_DHDR_X86_HVM)
        return fail(r,
                    "domain header at offset 24: type %" PRIu32
                    " (%s) is not supported: xensim restores x86 HVM domains (type 2)",
                    r->dom_type, dom_type_name(r->dom_type));
    if (shift != XS_MS_PAGE_SHIFT)
        return fail(r,
                    "domain header at offset 28: page_shift %u: x86 pages are 4096 "
                    "bytes (page_shift 12)",
                    shift);
    r->page_shift = (uint8_t)shift;
    return 0;
}

int xs_ms_reader_open_mem(struct xs_ms_reader *r, const void *data, size_t len)
{
    reader_init(r);
    static const uint8_t empty;
    r->mem = data ? data : &empty;
    r->mem_len = data ? len : 0;
    return read_headers(r);
}

int xs_ms_reader_open_fd(struct xs_ms_reader *r, int fd)
{
    reader_init(r);
    r->fd = fd;
    return read_headers(r);
}

void xs_ms_reader_set_max_pfns(struct xs_ms_reader *r, uint64_t max_pfns)
{
    if (max_pfns > XS_MS_MAX_PFNS) max_pfns = XS_MS_MAX_PFNS;
    if (!r->page_data) {
        free(r->seen);
        r->seen = NULL;
        r->seen_bits = 0;
    }
    r->max_pfns = max_pfns;
}

void xs_ms_reader_close(struct xs_ms_reader *r)
{
    free(r->scratch);
    free(r->seen);
    r->scratch = NULL;
    r->seen = NULL;
}

/* ---- record bodies ------------------------------------------------------ */

static const char *page_type_name(unsigned t)
{
    static const char *const names[16] = {
        "NOTAB",      "L1TAB",      "L2TAB",      "L3TAB",     "L4TAB",     "reserved 5",
        "reserved 6", "reserved 7", "reserved 8", "L1TAB_PIN", "L2TAB_PIN", "L3TAB_PIN",
        "L4TAB_PIN",  "BROKEN",     "XALLOC",     "XTAB"};
    return names[t & 15];
}

static int check_page_data(struct xs_ms_reader *r, const struct xs_ms_record *rec)
{
    if (rec->length < 8)
        return xs_ms_rec_error(r, rec, "body of %" PRIu32 " bytes has no count",
                               rec->length);
    uint32_t count = xs_ms_page_count(rec);
    if (count == 0) return xs_ms_rec_error(r, rec, "count is 0 (must be > 0)");
    if ((uint64_t)count * 8 > rec->length - 8)
        return xs_ms_rec_error(r, rec,
                               "count %" PRIu32 " needs %" PRIu64
                               " bytes of pfns, the body has %" PRIu32,
                               count, (uint64_t)count * 8, rec->length - 8);
    if (!r->seen) {
        r->seen_bits = r->max_pfns;
        r->seen = calloc(1, (size_t)((r->seen_bits + 7) / 8) + 1);
        if (!r->seen) return xs_ms_rec_error(r, rec, "out of memory");
    }
    uint64_t with_data = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint64_t e = xs_ms_page_entry(rec, i), pfn = e & XS_MS_PFN_MASK;
        unsigned type = XS_MS_PFN_TYPE(e);
        if (type != XS_MS_PT_NOTAB && type != XS_MS_PT_BROKEN &&
            type != XS_MS_PT_XALLOC && type != XS_MS_PT_XTAB)
            return xs_ms_rec_error(r, rec,
                                   "pfn entry %" PRIu32 " (0x%016" PRIx64
                                   "): page type %s is not valid in an x86 HVM stream",
                                   i, e, page_type_name(type));
        if (pfn >= r->max_pfns)
            return xs_ms_rec_error(r, rec,
                                   "pfn entry %" PRIu32 ": pfn 0x%" PRIx64
                                   " is outside the domain's %" PRIu64 " pages",
                                   i, pfn, r->max_pfns);
        if (!xs_ms_page_type_has_data(type)) continue;
        with_data++;
        uint8_t bit = (uint8_t)(1u << (pfn & 7));
        if ((r->seen[pfn >> 3] & bit) && !r->allow_resend)
            return xs_ms_rec_error(r, rec,
                                   "pfn entry %" PRIu32 ": pfn 0x%" PRIx64
                                   " was already sent (duplicate page)",
                                   i, pfn);
        r->seen[pfn >> 3] |= bit;
    }
    uint64_t want = 8 + 8 * (uint64_t)count + with_data * XS_MS_PAGE_SIZE;
    if (rec->length != want)
        return xs_ms_rec_error(r, rec,
                               "body is %" PRIu32 " bytes; %" PRIu32 " pfns with %" PRIu64
                               " pages of data make %" PRIu64,
                               rec->length, count, with_data, want);
    r->pages += with_data;
    return 0;
}

static int check_tsc_info(struct xs_ms_reader *r, const struct xs_ms_record *rec)
{
    if (rec->length != 24)
        return xs_ms_rec_error(r, rec, "body is %" PRIu32 " bytes, not 24", rec->length);
    if (r->tsc) return xs_ms_rec_error(r, rec, "a second X86_TSC_INFO record");
    uint32_t mode, khz;
    memcpy(&mode, rec->body, 4);
    memcpy(&khz, rec->body + 4, 4);
    if (mode > 3) /* Xen's TSC_MODE_DEFAULT..TSC_MODE_PVRDTSCP */
        return xs_ms_rec_error(r, rec, "unknown TSC mode %" PRIu32, mode);
    if (khz == 0) return xs_ms_rec_error(r, rec, "TSC frequency is 0 kHz");
    r->tsc = true;
    return 0;
}

static int check_hvm_params(struct xs_ms_reader *r, const struct xs_ms_record *rec)
{
    if (r->params) return xs_ms_rec_error(r, rec, "a second HVM_PARAMS record");
    r->params = true;
    if (rec->length == 0) return 0; /* the spec's errata: Xen 4.6-4.8 wrote these */
    if (rec->length < 8)
        return xs_ms_rec_error(r, rec, "body of %" PRIu32 " bytes has no count",
                               rec->length);
    uint32_t count;
    memcpy(&count, rec->body, 4);
    if (rec->length != 8 + 16 * (uint64_t)count)
        return xs_ms_rec_error(
            r, rec, "body is %" PRIu32 " bytes; %" PRIu32 " params make %" PRIu64,
            rec->length, count, 8 + 16 * (uint64_t)count);
    uint8_t dup[(HVM_NR_PARAMS + 7) / 8] = {0};
    for (uint32_t i = 0; i < count; i++) {
        uint64_t index;
        memcpy(&index, rec->body + 8 + 16 * (size_t)i, 8);
        if (index >= HVM_NR_PARAMS)
            return xs_ms_rec_error(r, rec,
                                   "param entry %" PRIu32 ": index %" PRIu64
                                   " is not an HVM param (0..%d)",
                                   i, index, HVM_NR_PARAMS - 1);
        if (dup[index / 8] & (1u << (index % 8)))
            return xs_ms_rec_error(
                r, rec, "param entry %" PRIu32 ": index %" PRIu64 " appears twice", i,
                index);
        dup[index / 8] |= (uint8_t)(1u << (index % 8));
    }
    return 0;
}

/* One save entry of an HVM context body at *pos (checked by the caller
 * to leave room for the descriptor). */
static struct hvm_save_descriptor hvm_desc_at(const struct xs_ms_record *rec,
                                              uint32_t pos)
{
    struct hvm_save_descriptor d;
    memcpy(&d, rec->body + pos, sizeof(d));
    return d;
}

static int check_hvm_context(struct xs_ms_reader *r, const struct xs_ms_record *rec)
{
    if (!r->params)
        return xs_ms_rec_error(r, rec,
                               "HVM_CONTEXT before HVM_PARAMS (params must come first: "
                               "they decide what the context may hold)");
    if (r->context) return xs_ms_rec_error(r, rec, "a second HVM_CONTEXT record");
    const uint32_t dsz = sizeof(struct hvm_save_descriptor);
    uint8_t cpus[65536 / 8] = {0};
    uint32_t pos = 0;
    for (unsigned n = 0;; n++) {
        if (rec->length - pos < dsz)
            return xs_ms_rec_error(
                r, rec, "save entry %u at body offset %" PRIu32 ": %s (no END entry)", n,
                pos, pos == rec->length ? "body ends" : "truncated");
        struct hvm_save_descriptor d = hvm_desc_at(rec, pos);
        uint32_t at = pos;
        pos += dsz;
        if (d.length > rec->length - pos)
            return xs_ms_rec_error(r, rec,
                                   "save entry %u (typecode %u) at body offset %" PRIu32
                                   ": length %" PRIu32 " runs past the body's end",
                                   n, d.typecode, at, d.length);
        const uint8_t *data = rec->body + pos;
        pos += d.length;
        if (n == 0) {
            struct hvm_save_header h;
            if (d.typecode != HVM_SAVE_CODE(HEADER) || d.length != sizeof(h))
                return xs_ms_rec_error(r, rec,
                                       "save entry 0 is typecode %u of %" PRIu32
                                       " bytes, not the %zu-byte HEADER (typecode %zu)",
                                       d.typecode, d.length, sizeof(h),
                                       (size_t)HVM_SAVE_CODE(HEADER));
            memcpy(&h, data, sizeof(h));
            if (h.magic != HVM_FILE_MAGIC || h.version != HVM_FILE_VERSION)
                return xs_ms_rec_error(r, rec,
                                       "HVM save header: magic 0x%08" PRIx32
                                       " version %" PRIu32 " (want 0x%08x version %d)",
                                       h.magic, h.version, HVM_FILE_MAGIC,
                                       HVM_FILE_VERSION);
            continue;
        }
        if (d.typecode == HVM_SAVE_CODE(END)) {
            if (d.length != 0 || pos != rec->length)
                return xs_ms_rec_error(r, rec,
                                       "END save entry at body offset %" PRIu32
                                       " must have length 0 and end the body (%" PRIu32
                                       " bytes follow)",
                                       at, rec->length - pos);
            break;
        }
        if (d.typecode == HVM_SAVE_CODE(HEADER))
            return xs_ms_rec_error(
                r, rec, "save entry %u at body offset %" PRIu32 ": a second HEADER", n,
                at);
        if (d.typecode == HVM_SAVE_CODE(CPU)) {
            if (d.length != HVM_SAVE_LENGTH(CPU))
                return xs_ms_rec_error(r, rec,
                                       "CPU save entry %u (instance %u) at body offset "
                                       "%" PRIu32 ": %" PRIu32 " bytes, not %zu",
                                       n, d.instance, at, d.length,
                                       (size_t)HVM_SAVE_LENGTH(CPU));
            if (cpus[d.instance / 8] & (1u << (d.instance % 8)))
                return xs_ms_rec_error(r, rec,
                                       "CPU save entry %u at body offset %" PRIu32
                                       ": vCPU %u appears twice",
                                       n, at, d.instance);
            cpus[d.instance / 8] |= (uint8_t)(1u << (d.instance % 8));
        }
    }
    r->context = true;
    return 0;
}

static int check_policy(struct xs_ms_reader *r, const struct xs_ms_record *rec,
                        size_t entry, bool *seen)
{
    if (r->static_end)
        return xs_ms_rec_error(r, rec, "after STATIC_DATA_END (it is static data)");
    if (*seen) return xs_ms_rec_error(r, rec, "a second record of this type");
    if (rec->length == 0 || rec->length % entry)
        return xs_ms_rec_error(r, rec,
                               "body of %" PRIu32
                               " bytes is not a non-empty array of %zu-byte entries",
                               rec->length, entry);
    if (rec->type == XS_MS_REC_X86_MSR_POLICY)
        for (uint32_t i = 0; i < rec->length / entry; i++) {
            xen_msr_entry_t m;
            memcpy(&m, rec->body + i * entry, sizeof(m));
            if (m.flags)
                return xs_ms_rec_error(r, rec,
                                       "MSR entry %" PRIu32 " (0x%08" PRIx32
                                       "): flags 0x%" PRIx32 " are reserved (must be 0)",
                                       i, m.idx, m.flags);
        }
    *seen = true;
    return 0;
}

/* Records that describe the domain's contents (not static configuration):
 * in a v3 stream they need STATIC_DATA_END first; a v2 stream has none, and
 * the first of them stands in for it, as the spec says. */
static int contents_record(struct xs_ms_reader *r, const struct xs_ms_record *rec)
{
    if (r->static_end) return 0;
    if (r->version >= 3)
        return xs_ms_rec_error(r, rec,
                               "before STATIC_DATA_END (required in a version 3 "
                               "stream ahead of memory and register content)");
    r->static_end = true;
    return 0;
}

static int check_record(struct xs_ms_reader *r, const struct xs_ms_record *rec)
{
    switch (rec->type) {
    case XS_MS_REC_END:
        if (rec->length) return xs_ms_rec_error(r, rec, "body must be empty");
        if (r->version >= 3 && !r->static_end)
            return xs_ms_rec_error(r, rec, "the stream has no STATIC_DATA_END");
        if (!r->context)
            return xs_ms_rec_error(r, rec,
                                   "the stream has no HVM_CONTEXT (no vCPU state)");
        return 0;
    case XS_MS_REC_PAGE_DATA:
        if (contents_record(r, rec)) return -1;
        if (check_page_data(r, rec)) return -1;
        r->page_data = true;
        return 0;
    case XS_MS_REC_X86_TSC_INFO:
        return contents_record(r, rec) || check_tsc_info(r, rec) ? -1 : 0;
    case XS_MS_REC_HVM_PARAMS:
        return contents_record(r, rec) || check_hvm_params(r, rec) ? -1 : 0;
    case XS_MS_REC_HVM_CONTEXT:
        return contents_record(r, rec) || check_hvm_context(r, rec) ? -1 : 0;
    case XS_MS_REC_STATIC_DATA_END:
        if (r->version < 3)
            return xs_ms_rec_error(r, rec, "not part of a version 2 stream");
        if (r->static_end)
            return xs_ms_rec_error(r, rec,
                                   "a second STATIC_DATA_END, or one after memory or "
                                   "register content");
        if (rec->length) return xs_ms_rec_error(r, rec, "body must be empty");
        r->static_end = true;
        return 0;
    case XS_MS_REC_X86_CPUID_POLICY:
        return check_policy(r, rec, sizeof(xen_cpuid_leaf_t), &r->cpuid);
    case XS_MS_REC_X86_MSR_POLICY:
        return check_policy(r, rec, sizeof(xen_msr_entry_t), &r->msr);
    case XS_MS_REC_X86_PV_INFO:
    case XS_MS_REC_X86_PV_P2M_FRAMES:
    case XS_MS_REC_X86_PV_VCPU_BASIC:
    case XS_MS_REC_X86_PV_VCPU_EXTENDED:
    case XS_MS_REC_X86_PV_VCPU_XSAVE:
    case XS_MS_REC_X86_PV_VCPU_MSRS:
    case XS_MS_REC_SHARED_INFO:
        return xs_ms_rec_error(r, rec, "a PV-guest record in an x86 HVM stream");
    case XS_MS_REC_TOOLSTACK:
    case XS_MS_REC_VERIFY:
    case XS_MS_REC_CHECKPOINT:
    case XS_MS_REC_CHECKPOINT_DIRTY_PFN_LIST:
        return xs_ms_rec_error(r, rec,
                               "not supported by this reader (deprecated, or for "
                               "checkpointed streams)");
    }
    if (!(rec->type & XS_MS_REC_OPTIONAL))
        return xs_ms_rec_error(r, rec,
                               "a mandatory record this reader does not know (the spec "
                               "says to refuse the stream)");
    return 0; /* optional: the caller uses or skips it */
}

int xs_ms_next(struct xs_ms_reader *r, struct xs_ms_record *rec)
{
    if (r->err[0]) return -1;
    if (r->ended) return 0;
    memset(rec, 0, sizeof(*rec));
    rec->index = r->index;
    rec->offset = r->offset;
    const uint8_t *p;
    size_t got = take(r, XS_MS_REC_HDR_SIZE, &p);
    char tb[48];
    if (got == 0)
        return fail(r,
                    "record %u at offset %" PRIu64 ": the stream ends without an END "
                    "record",
                    rec->index, rec->offset);
    if (got >= 4) memcpy(&rec->type, p, 4);
    if (got < XS_MS_REC_HDR_SIZE)
        return fail(r,
                    "record %u (%s) at offset %" PRIu64
                    ": truncated record header (%zu of 8 bytes)",
                    rec->index,
                    got >= 4 ? xs_ms_rec_describe(rec->type, tb, sizeof(tb))
                             : "type unknown",
                    rec->offset, got);
    memcpy(&rec->length, p + 4, 4);
    if (rec->length > XS_MS_REC_LEN_MAX)
        return xs_ms_rec_error(r, rec,
                               "body length %" PRIu32 " is over the %u-byte limit",
                               rec->length, XS_MS_REC_LEN_MAX);
    size_t padded = ((size_t)rec->length + XS_MS_REC_ALIGN - 1) & ~(size_t)7;
    got = take(r, padded, &p);
    if (got < padded)
        return xs_ms_rec_error(r, rec,
                               "truncated: the body needs %zu bytes (%" PRIu32
                               " + padding), the stream has %zu",
                               padded, rec->length, got);
    for (size_t i = rec->length; i < padded; i++)
        if (p[i])
            return xs_ms_rec_error(
                r, rec,
                "padding byte %zu after the %" PRIu32
                "-byte body is not zero (a record not 8-byte aligned?)",
                i - rec->length, rec->length);
    rec->body = p;
    r->index++;
    if (check_record(r, rec)) return -1;
    if (rec->type != XS_MS_REC_END) return 1;
    r->ended = true;
    /* Nothing may follow END in a file or buffer (a pipe may carry more). */
    struct stat st;
    if (r->mem && r->offset < r->mem_len)
        return fail(r, "%zu bytes after the END record at offset %" PRIu64,
                    r->mem_len - (size_t)r->offset, rec->offset);
    if (!r->mem && fstat(r->fd, &st) == 0 && S_ISREG(st.st_mode) && take(r, 1, &p) == 1)
        return fail(r, "data after the END record at offset %" PRIu64, rec->offset);
    return 0;
}

int xs_ms_hvm_ctx_next(const struct xs_ms_record *rec, uint32_t *pos, uint16_t *typecode,
                       uint16_t *instance, const uint8_t **data, uint32_t *len)
{
    const uint32_t dsz = sizeof(struct hvm_save_descriptor);
    if (rec->length - *pos < dsz) return 0;
    struct hvm_save_descriptor d = hvm_desc_at(rec, *pos);
    if (d.typecode == HVM_SAVE_CODE(END) || d.length > rec->length - *pos - dsz) return 0;
    *typecode = d.typecode;
    *instance = d.instance;
    *data = rec->body + *pos + dsz;
    *len = d.length;
    *pos += dsz + d.length;
    return 1;
}
