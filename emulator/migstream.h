/* Xen's libxc migration stream ("domain save image", version 3): the format
 * `xensim save` writes and `xensim restore` reads.  The layout is Xen's
 * docs/specs/libxc-migration-stream.pandoc:
 *
 *   image header   24 bytes, big-endian: marker ~0, id "XENF", version,
 *                  options (bit 0: endianness)
 *   domain header  16 bytes: type (2 = x86 HVM), page_shift, Xen version
 *   records        type:u32 body_length:u32 body, zero-padded to 8 bytes
 *
 * This file holds the format layer only: a writer that emits headers and
 * records into a file, a descriptor or memory, and a reader that validates
 * every header, record and ordering rule and refuses bad input with one
 * line naming the record (type by name, index, byte offset).  What the
 * records mean for a domain is migstream_image.c's job. */
#ifndef XS_MIGSTREAM_H
#define XS_MIGSTREAM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/uio.h>

/* Numbers from the spec.  Xen defines them only in its tools source
 * (tools/libs/guest/xg_sr_stream_format.h), which libxen-dev does not ship,
 * so they are written down once, here. */
#define XS_MS_IHDR_MARKER  0xffffffffffffffffULL
#define XS_MS_IHDR_ID      0x58454e46u /* "XENF" */
#define XS_MS_VERSION      3u          /* what we write; 2 is read too */
#define XS_MS_OPT_BIG_END  0x0001u     /* options bit 0 */
#define XS_MS_IHDR_SIZE    24u
#define XS_MS_DHDR_SIZE    16u
#define XS_MS_DHDR_X86_PV  1u
#define XS_MS_DHDR_X86_HVM 2u
#define XS_MS_DHDR_X86_PVH 3u
#define XS_MS_DHDR_ARM     4u
#define XS_MS_REC_ALIGN    8u
#define XS_MS_REC_HDR_SIZE 8u
#define XS_MS_REC_LEN_MAX  (128u << 20) /* Xen's REC_LENGTH_MAX */
#define XS_MS_PAGE_SHIFT   12u
#define XS_MS_PAGE_SIZE    (1u << XS_MS_PAGE_SHIFT)
#define XS_MS_REC_OPTIONAL 0x80000000u

enum xs_ms_rec_type {
    XS_MS_REC_END = 0x00,
    XS_MS_REC_PAGE_DATA = 0x01,
    XS_MS_REC_X86_PV_INFO = 0x02,
    XS_MS_REC_X86_PV_P2M_FRAMES = 0x03,
    XS_MS_REC_X86_PV_VCPU_BASIC = 0x04,
    XS_MS_REC_X86_PV_VCPU_EXTENDED = 0x05,
    XS_MS_REC_X86_PV_VCPU_XSAVE = 0x06,
    XS_MS_REC_SHARED_INFO = 0x07,
    XS_MS_REC_X86_TSC_INFO = 0x08,
    XS_MS_REC_HVM_CONTEXT = 0x09,
    XS_MS_REC_HVM_PARAMS = 0x0a,
    XS_MS_REC_TOOLSTACK = 0x0b,
    XS_MS_REC_X86_PV_VCPU_MSRS = 0x0c,
    XS_MS_REC_VERIFY = 0x0d,
    XS_MS_REC_CHECKPOINT = 0x0e,
    XS_MS_REC_CHECKPOINT_DIRTY_PFN_LIST = 0x0f,
    XS_MS_REC_STATIC_DATA_END = 0x10,
    XS_MS_REC_X86_CPUID_POLICY = 0x11,
    XS_MS_REC_X86_MSR_POLICY = 0x12,
    /* xensim's own state, in optional records (bit 31): a reader that does
     * not know them skips them, as the spec requires.  "XS" in the middle
     * bytes keeps them clear of anything Xen might number. */
    XS_MS_REC_XENSIM_DOMAIN = 0x80585301, /* config: name, image, memory, ... */
    XS_MS_REC_XENSIM_VCPU = 0x80585302,   /* per-vCPU state Xen keeps elsewhere */
    XS_MS_REC_XENSIM_DEVICES = 0x80585303,
    XS_MS_REC_XENSIM_TIME = 0x80585304, /* virtual time, scheduler state */
    /* A live migration's stream (migrate.c): XENSIM_LIVE ahead of the
     * memory says pages may come again in later rounds; XENSIM_SUSPEND
     * after the last round says what only the suspend decided. */
    XS_MS_REC_XENSIM_LIVE = 0x80585305,
    XS_MS_REC_XENSIM_SUSPEND = 0x80585306,
};

/* PAGE_DATA pfn entries: type in bits 63-60 (XEN_DOMCTL_PFINFO_* >> 28),
 * reserved bits 59-52, the pfn in bits 51-0. */
#define XS_MS_PFN_MASK       ((1ULL << 52) - 1)
#define XS_MS_PFN_TYPE_SHIFT 60
#define XS_MS_PFN_TYPE(e)    ((unsigned)((e) >> XS_MS_PFN_TYPE_SHIFT))
/* The PFINFO types, shifted down to 0..15. */
#define XS_MS_PT_NOTAB  0x0u
#define XS_MS_PT_BROKEN 0xdu
#define XS_MS_PT_XALLOC 0xeu
#define XS_MS_PT_XTAB   0xfu
/* Pages in one PAGE_DATA record the writer emits (Xen batches 1024). */
#define XS_MS_PAGE_BATCH 1024u
/* xensim's largest domain (65536 MiB): the default pfn limit. */
#define XS_MS_MAX_PFNS (65536ULL << (20 - XS_MS_PAGE_SHIFT))

/* "PAGE_DATA", "X86_TSC_INFO", ..., "XENSIM_DOMAIN"; NULL if unknown. */
const char *xs_ms_rec_name(uint32_t type);
/* The name, or "unknown mandatory 0x..."/"unknown optional 0x..." in buf. */
const char *xs_ms_rec_describe(uint32_t type, char *buf, size_t len);

/* ---- writing ------------------------------------------------------------ */

/* A growable memory buffer (the memory sink, and scratch for bodies). */
struct xs_ms_buf {
    uint8_t *data;
    size_t len, cap;
};
int xs_ms_buf_append(struct xs_ms_buf *b, const void *p, size_t len);
void xs_ms_buf_free(struct xs_ms_buf *b);

enum xs_ms_sink_kind { XS_MS_SINK_FD, XS_MS_SINK_FILE, XS_MS_SINK_BUF };

struct xs_ms_writer {
    enum xs_ms_sink_kind kind;
    int fd;
    FILE *file;
    struct xs_ms_buf *buf;
    uint64_t offset; /* bytes written so far */
    unsigned nr_records;
    char err[256]; /* why the last write failed */
};

void xs_ms_writer_fd(struct xs_ms_writer *w, int fd);
void xs_ms_writer_file(struct xs_ms_writer *w, FILE *f);
void xs_ms_writer_buf(struct xs_ms_writer *w, struct xs_ms_buf *b);
/* Image header (version 3, little-endian) and domain header. */
int xs_ms_write_headers(struct xs_ms_writer *w, uint32_t dom_type, uint32_t xen_major,
                        uint32_t xen_minor);
/* One record whose body is the concatenation of parts (no copy). */
int xs_ms_write_recordv(struct xs_ms_writer *w, uint32_t type, const struct iovec *parts,
                        unsigned nr_parts);
int xs_ms_write_record(struct xs_ms_writer *w, uint32_t type, const void *body,
                       uint32_t len);
/* PAGE_DATA for count (<= XS_MS_PAGE_BATCH) NOTAB pages, their contents
 * read straight from ram + pfn * 4096. */
int xs_ms_write_page_data(struct xs_ms_writer *w, const uint64_t *pfns, unsigned count,
                          const uint8_t *ram);

/* HVM_CONTEXT bodies: Xen's HVM save format (struct hvm_save_descriptor +
 * typed entries from <xen/arch-x86/hvm/save.h>, ended by an END entry). */
int xs_ms_hvm_ctx_add(struct xs_ms_buf *b, uint16_t typecode, uint16_t instance,
                      const void *data, uint32_t len);

/* ---- reading ------------------------------------------------------------ */

struct xs_ms_record {
    uint32_t type;
    uint32_t length;
    const uint8_t *body; /* valid until the next xs_ms_next */
    unsigned index;      /* 0 = first record after the headers */
    uint64_t offset;     /* of the record header in the stream */
};

struct xs_ms_reader {
    /* the source: memory (zero copy) or a descriptor */
    const uint8_t *mem;
    size_t mem_len;
    int fd;
    uint8_t *scratch; /* fd source: the current body */
    size_t scratch_cap;
    bool fd_eof;
    /* headers */
    uint32_t version, dom_type, xen_major, xen_minor;
    uint16_t options;
    uint8_t page_shift;
    /* position */
    uint64_t offset;
    unsigned index;
    /* rules */
    uint64_t max_pfns;  /* pfns must be below this (and a loaded domain fit) */
    bool allow_resend;  /* a page may come more than once (live migration) */
    uint8_t *seen;      /* one bit per pfn already received */
    uint64_t seen_bits; /* the bitmap's size in bits */
    uint64_t pages;     /* pages with data received */
    bool static_end, page_data, tsc, params, context, cpuid, msr, ended;
    char err[512];
};

/* Read and check both headers.  Returns 0, or -1 with r->err. */
int xs_ms_reader_open_mem(struct xs_ms_reader *r, const void *data, size_t len);
int xs_ms_reader_open_fd(struct xs_ms_reader *r, int fd);
/* Narrow the pfn limit (a domain's page count); before any PAGE_DATA. */
void xs_ms_reader_set_max_pfns(struct xs_ms_reader *r, uint64_t max_pfns);
/* The next record, validated (layout of every known body, ordering rules,
 * pfn ranges and duplicates).  Returns 1 with a record, 0 after the END
 * record (the stream is complete and nothing follows it), -1 with r->err.
 * Unknown optional records are returned as they are: skip them. */
int xs_ms_next(struct xs_ms_reader *r, struct xs_ms_record *rec);
void xs_ms_reader_close(struct xs_ms_reader *r);
/* Format an error about rec into r->err ("record 4 (HVM_PARAMS) at offset
 * 0x1a8: ..."); returns -1.  For callers that check bodies further. */
int xs_ms_rec_error(struct xs_ms_reader *r, const struct xs_ms_record *rec,
                    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Accessors for bodies xs_ms_next has validated. */
static inline uint32_t xs_ms_page_count(const struct xs_ms_record *rec)
{
    uint32_t c;
    __builtin_memcpy(&c, rec->body, 4);
    return c;
}
static inline uint64_t xs_ms_page_entry(const struct xs_ms_record *rec, uint32_t i)
{
    uint64_t e;
    __builtin_memcpy(&e, rec->body + 8 + 8 * (size_t)i, 8);
    return e;
}
/* Does a page of this PFINFO type carry data in the record? */
static inline bool xs_ms_page_type_has_data(unsigned type)
{
    return type != XS_MS_PT_BROKEN && type != XS_MS_PT_XALLOC && type != XS_MS_PT_XTAB;
}
/* Contents of the n-th page with data (n counts only those). */
static inline const uint8_t *xs_ms_page_contents(const struct xs_ms_record *rec,
                                                 uint32_t n)
{
    return rec->body + 8 + 8 * (size_t)xs_ms_page_count(rec) +
           (size_t)n * XS_MS_PAGE_SIZE;
}

/* HVM_CONTEXT: walk the save entries after xs_ms_next checked the chain.
 * *pos starts at 0; returns 1 with the next entry (END excluded), 0 at the
 * end. */
int xs_ms_hvm_ctx_next(const struct xs_ms_record *rec, uint32_t *pos, uint16_t *typecode,
                       uint16_t *instance, const uint8_t **data, uint32_t *len);
#endif
