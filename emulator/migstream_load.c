/* A libxc migration stream read into a domain image (migstream_image.h).
 * The format layer (migstream_read.c) has checked each record's layout and
 * the ordering rules; this checks what the records say against each other
 * and against what xensim can run, and names the record when it refuses. */
#define __XEN_TOOLS__ 1 /* xen_cpuid_leaf_t: a toolstack type */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xen/xen.h>

#include <xensim/abi.h>
#include "cpuid.h"
#include "errmsg.h"
#include "migstream_hvm.h"
#include "migstream_image.h"
#include "vtime.h"

#define EFER_LMA   (1ULL << 10)
#define AR_L       (1u << 9) /* cs_arbytes: 64-bit code segment */
#define RFLAGS_IF  0x200ULL
#define MAX_SLOTS  1024 /* as domain.c's address-space slots */
#define MAX_MEMORY (65536ULL << 20)

struct load {
    struct xs_ms_reader *r;
    struct xs_domain_image *img;
    struct xs_ms_sim_state *st;
    bool domain, vcpus, devices, tsc, context;
    bool live, suspend;    /* XENSIM_LIVE, XENSIM_SUSPEND read */
    uint64_t suspended_ns; /* XENSIM_SUSPEND's */
    uint32_t *vflags;      /* from XENSIM_VCPU, per vCPU */
    bool *has_cpu;         /* a CPU entry in HVM_CONTEXT, per vCPU */
};

/* A string of len bytes at p into dst (size cap): no NULs, no newlines. */
static int take_string(struct load *l, const struct xs_ms_record *rec, const char *what,
                       const uint8_t *p, size_t len, char *dst, size_t cap)
{
    if (len >= cap)
        return xs_ms_rec_error(l->r, rec, "%s of %zu bytes (at most %zu)", what, len,
                               cap - 1);
    for (size_t i = 0; i < len; i++)
        if (p[i] == 0 || p[i] == '\n')
            return xs_ms_rec_error(l->r, rec, "%s has a NUL or newline at byte %zu", what,
                                   i);
    memcpy(dst, p, len);
    dst[len] = '\0';
    return 0;
}

static int load_domain(struct load *l, const struct xs_ms_record *rec)
{
    struct xs_domain_image *img = l->img;
    struct xs_ms_xensim_domain h;
    if (l->domain) return xs_ms_rec_error(l->r, rec, "a second XENSIM_DOMAIN record");
    if (l->r->page_data)
        return xs_ms_rec_error(l->r, rec,
                               "after PAGE_DATA (the memory size comes first)");
    if (rec->length < sizeof(h))
        return xs_ms_rec_error(l->r, rec,
                               "body of %" PRIu32 " bytes, the header alone is %zu",
                               rec->length, sizeof(h));
    memcpy(&h, rec->body, sizeof(h));
    if (h.version != XS_MS_XENSIM_VERSION)
        return xs_ms_rec_error(l->r, rec, "version %" PRIu32 " (this xensim reads %u)",
                               h.version, XS_MS_XENSIM_VERSION);
    uint64_t strings = (uint64_t)h.name_len + h.image_path_len + h.cmdline_len;
    if (rec->length != sizeof(h) + strings)
        return xs_ms_rec_error(
            l->r, rec, "body is %" PRIu32 " bytes; the header and strings make %" PRIu64,
            rec->length, sizeof(h) + strings);
    if (h.nr_vcpus < 1 || h.nr_vcpus > XS_MAX_VCPUS)
        return xs_ms_rec_error(l->r, rec, "%" PRIu32 " vCPUs (1..%d)", h.nr_vcpus,
                               XS_MAX_VCPUS);
    if (h.ram_bytes == 0 || h.ram_bytes % (1ULL << 20) || h.ram_bytes > MAX_MEMORY)
        return xs_ms_rec_error(l->r, rec,
                               "memory of %" PRIu64 " bytes (whole MiB, 1..65536 MiB)",
                               h.ram_bytes);
    if (h.ram_bytes >> XS_MS_PAGE_SHIFT > l->r->max_pfns)
        return xs_ms_rec_error(
            l->r, rec,
            "memory of %" PRIu64 " MiB is over this reader's limit of %" PRIu64 " MiB",
            h.ram_bytes >> 20, l->r->max_pfns >> (20 - XS_MS_PAGE_SHIFT));
    if (h.directmap_base < XS_DIRECTMAP_BASE ||
        (h.directmap_base - XS_DIRECTMAP_BASE) % XS_SLOT_SIZE ||
        (h.directmap_base - XS_DIRECTMAP_BASE) / XS_SLOT_SIZE >= MAX_SLOTS)
        return xs_ms_rec_error(
            l->r, rec, "direct-map base 0x%" PRIx64 " is not a xensim domain slot",
            h.directmap_base);
    if (h.hypercall_page_gpa != XS_NO_GPA &&
        (h.hypercall_page_gpa % XS_PAGE_SIZE || h.hypercall_page_gpa >= h.ram_bytes))
        return xs_ms_rec_error(
            l->r, rec, "hypercall page at 0x%" PRIx64 " is not a page of its memory",
            h.hypercall_page_gpa);
    if (h.hc_mode != XS_HC_DIRECT && h.hc_mode != XS_HC_VMCALL)
        return xs_ms_rec_error(l->r, rec, "hypercall mode %" PRIu32 " (0 or 1)",
                               h.hc_mode);
    if (h.suspend_vcpu >= h.nr_vcpus)
        return xs_ms_rec_error(l->r, rec, "suspending vCPU %" PRIu32 " of %" PRIu32,
                               h.suspend_vcpu, h.nr_vcpus);
    if (h.domid == 0 || h.domid >= DOMID_FIRST_RESERVED)
        return xs_ms_rec_error(l->r, rec, "domid %" PRIu32 " is not a guest's", h.domid);
    const uint8_t *p = rec->body + sizeof(h);
    if (take_string(l, rec, "name", p, h.name_len, img->name, sizeof(img->name)) ||
        take_string(l, rec, "image path", p + h.name_len, h.image_path_len,
                    img->image_path, sizeof(img->image_path)) ||
        take_string(l, rec, "command line", p + h.name_len + h.image_path_len,
                    h.cmdline_len, img->cmdline, sizeof(img->cmdline)))
        return -1;
    if (h.name_len == 0) return xs_ms_rec_error(l->r, rec, "the name is empty");
    img->nr_vcpus = h.nr_vcpus;
    img->ram_bytes = h.ram_bytes;
    img->directmap_base = h.directmap_base;
    img->hypercall_page_gpa = h.hypercall_page_gpa;
    img->hc_mode = (enum xs_hypercall_mode)h.hc_mode;
    img->suspend_vcpu = h.suspend_vcpu;
    img->domid = (domid_t)h.domid;
    img->ram = calloc(1, h.ram_bytes);
    img->vcpus = calloc(h.nr_vcpus, sizeof(*img->vcpus));
    l->vflags = calloc(h.nr_vcpus, sizeof(*l->vflags));
    l->has_cpu = calloc(h.nr_vcpus, sizeof(*l->has_cpu));
    if (!img->ram || !img->vcpus || !l->vflags || !l->has_cpu)
        return xs_ms_rec_error(l->r, rec, "out of memory for %" PRIu64 " bytes of RAM",
                               h.ram_bytes);
    xs_ms_reader_set_max_pfns(l->r, h.ram_bytes >> XS_MS_PAGE_SHIFT);
    l->domain = true;
    return 0;
}

static int need_domain(struct load *l, const struct xs_ms_record *rec)
{
    if (l->domain) return 0;
    return xs_ms_rec_error(
        l->r, rec,
        "before XENSIM_DOMAIN (xensim needs the domain's configuration "
        "first)");
}

static int load_vcpus(struct load *l, const struct xs_ms_record *rec)
{
    struct xs_ms_xensim_vcpus h;
    if (need_domain(l, rec)) return -1;
    if (l->vcpus) return xs_ms_rec_error(l->r, rec, "a second XENSIM_VCPU record");
    if (rec->length < sizeof(h))
        return xs_ms_rec_error(l->r, rec, "body of %" PRIu32 " bytes has no count",
                               rec->length);
    memcpy(&h, rec->body, sizeof(h));
    if (h.count != l->img->nr_vcpus)
        return xs_ms_rec_error(l->r, rec, "%" PRIu32 " entries for %u vCPUs", h.count,
                               l->img->nr_vcpus);
    if (rec->length != sizeof(h) + (uint64_t)h.count * sizeof(struct xs_ms_xensim_vcpu))
        return xs_ms_rec_error(l->r, rec,
                               "body of %" PRIu32 " bytes for %" PRIu32 " entries",
                               rec->length, h.count);
    bool *seen = calloc(h.count, sizeof(bool));
    if (!seen) return xs_ms_rec_error(l->r, rec, "out of memory");
    int rc = 0;
    for (uint32_t i = 0; i < h.count && !rc; i++) {
        struct xs_ms_xensim_vcpu e;
        memcpy(&e, rec->body + sizeof(h) + i * sizeof(e), sizeof(e));
        if (e.id >= h.count || seen[e.id])
            rc = xs_ms_rec_error(l->r, rec, "entry %" PRIu32 ": vCPU %" PRIu32 " %s", i,
                                 e.id,
                                 e.id >= h.count ? "does not exist" : "appears twice");
        else if (e.flags & ~XS_MS_VCPU_FLAGS)
            rc = xs_ms_rec_error(l->r, rec, "entry %" PRIu32 ": unknown flags 0x%" PRIx32,
                                 i, e.flags);
        else if ((e.flags & XS_MS_VCPU_ONLINE) && !(e.flags & XS_MS_VCPU_INITIALISED))
            rc = xs_ms_rec_error(l->r, rec,
                                 "entry %" PRIu32 ": vCPU %" PRIu32
                                 " is online without a context",
                                 i, e.id);
        else {
            seen[e.id] = true;
            l->vflags[e.id] = e.flags;
        }
    }
    free(seen);
    l->vcpus = !rc;
    return rc;
}

static bool devclass_ok(const char *s)
{
    if (!*s) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' ||
              *s == '-'))
            return false;
    return true;
}

/* "CLASS ID BACKEND-DOMID CONFIG\n" per device. */
static int load_devices(struct load *l, const struct xs_ms_record *rec)
{
    struct xs_domain_image *img = l->img;
    if (need_domain(l, rec)) return -1;
    if (l->devices) return xs_ms_rec_error(l->r, rec, "a second XENSIM_DEVICES record");
    const char *p = (const char *)rec->body, *end = p + rec->length;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        unsigned k = img->nr_devices;
        if (!nl) return xs_ms_rec_error(l->r, rec, "device line %u has no newline", k);
        if (k == XS_IMAGE_MAX_DEVICES)
            return xs_ms_rec_error(l->r, rec, "more than %d devices",
                                   XS_IMAGE_MAX_DEVICES);
        char line[XS_SCN_NAME_MAX + XS_IMAGE_DEVCFG_MAX + 64];
        size_t len = (size_t)(nl - p);
        if (len >= sizeof(line) || memchr(p, 0, len))
            return xs_ms_rec_error(l->r, rec, "device line %u is too long or has a NUL",
                                   k);
        memcpy(line, p, len);
        line[len] = '\0';
        struct xs_image_device *dv = &img->devices[k];
        char cls[XS_SCN_NAME_MAX + 1];
        unsigned long id, be;
        int used = 0;
        if (sscanf(line, "%32s %lu %lu%n", cls, &id, &be, &used) != 3 ||
            strlen(cls) >= sizeof(dv->devclass) || !devclass_ok(cls) || id > UINT32_MAX ||
            be >= DOMID_FIRST_RESERVED || (line[used] && line[used] != ' '))
            return xs_ms_rec_error(l->r, rec,
                                   "device line %u \"%.60s\" is not \"CLASS ID DOMID "
                                   "CONFIG\"",
                                   k, line);
        const char *cfg = line[used] ? line + used + 1 : "";
        if (strlen(cfg) >= sizeof(dv->config))
            return xs_ms_rec_error(l->r, rec, "device line %u: configuration too long",
                                   k);
        memcpy(dv->devclass, cls, strlen(cls) + 1); /* lengths checked above */
        dv->id = (unsigned)id;
        dv->backend_domid = (domid_t)be;
        memcpy(dv->config, cfg, strlen(cfg) + 1);
        for (unsigned j = 0; j < k; j++)
            if (!strcmp(img->devices[j].devclass, dv->devclass) &&
                img->devices[j].id == dv->id)
                return xs_ms_rec_error(l->r, rec, "device line %u: %s %u appears twice",
                                       k, dv->devclass, dv->id);
        img->nr_devices++;
        p = nl + 1;
    }
    l->devices = true;
    return 0;
}

static int load_time(struct load *l, const struct xs_ms_record *rec)
{
    struct xs_ms_xensim_time t;
    if (rec->length != sizeof(t))
        return xs_ms_rec_error(l->r, rec, "body is %" PRIu32 " bytes, not %zu",
                               rec->length, sizeof(t));
    if (l->st && l->st->present)
        return xs_ms_rec_error(l->r, rec, "a second XENSIM_TIME record");
    memcpy(&t, rec->body, sizeof(t));
    if (!(t.prng[0] | t.prng[1] | t.prng[2] | t.prng[3]))
        return xs_ms_rec_error(l->r, rec, "the scheduler's PRNG state is all zeros");
    if (l->st) {
        l->st->seed = t.seed;
        memcpy(l->st->prng.s, t.prng, sizeof(t.prng));
        l->st->exits = t.exits;
        l->st->present = true;
    }
    return 0;
}

/* The guest saw xensim's fixed CPUID; a stream from a different CPU would
 * change it under the guest's feet (Xen refuses an incompatible policy). */
static int load_cpuid(struct load *l, const struct xs_ms_record *rec)
{
    struct xs_domain dom = {.domid = 1};
    struct xs_vcpu v = {.dom = &dom, .id = 0};
    for (uint32_t i = 0; i < rec->length / sizeof(xen_cpuid_leaf_t); i++) {
        xen_cpuid_leaf_t lf;
        uint32_t here[4];
        memcpy(&lf, rec->body + i * sizeof(lf), sizeof(lf));
        if (lf.leaf >= 0x40000000u && lf.leaf < 0x40010000u) continue; /* Xen's own */
        xs_cpuid(&v, lf.leaf, lf.subleaf == XEN_CPUID_NO_SUBLEAF ? 0 : lf.subleaf, here);
        if (lf.a != here[0] || lf.b != here[1] || lf.c != here[2] || lf.d != here[3])
            return xs_ms_rec_error(
                l->r, rec,
                "leaf 0x%" PRIx32 " is %08" PRIx32 " %08" PRIx32 " %08" PRIx32
                " %08" PRIx32 ", xensim's is %08" PRIx32 " %08" PRIx32 " %08" PRIx32
                " %08" PRIx32 " (the guest would see another CPU)",
                lf.leaf, lf.a, lf.b, lf.c, lf.d, here[0], here[1], here[2], here[3]);
    }
    return 0;
}

static int load_pages(struct load *l, const struct xs_ms_record *rec)
{
    if (need_domain(l, rec)) return -1;
    uint32_t count = xs_ms_page_count(rec), n = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint64_t e = xs_ms_page_entry(rec, i);
        if (!xs_ms_page_type_has_data(XS_MS_PFN_TYPE(e))) continue;
        uint64_t pfn = e & XS_MS_PFN_MASK; /* below ram_bytes/4096: the reader checked */
        memcpy(l->img->ram + (pfn << XS_MS_PAGE_SHIFT), xs_ms_page_contents(rec, n++),
               XS_MS_PAGE_SIZE);
    }
    return 0;
}

static int load_tsc(struct load *l, const struct xs_ms_record *rec)
{
    uint32_t mode, khz;
    uint64_t nsec;
    memcpy(&mode, rec->body, 4);
    memcpy(&khz, rec->body + 4, 4);
    memcpy(&nsec, rec->body + 8, 8);
    if (khz != XS_VTSC_KHZ)
        return xs_ms_rec_error(l->r, rec,
                               "TSC of %" PRIu32
                               " kHz: xensim's runs at %u kHz (the guest's "
                               "clock would jump)",
                               khz, XS_VTSC_KHZ);
    l->img->tsc_khz = khz;
    l->img->vtime_ns = nsec;
    l->tsc = true;
    return 0;
}

static int load_params(struct load *l, const struct xs_ms_record *rec)
{
    if (rec->length == 0) return 0;
    uint32_t count;
    memcpy(&count, rec->body, 4);
    for (uint32_t i = 0; i < count; i++) {
        uint64_t index, value;
        memcpy(&index, rec->body + 8 + 16 * (size_t)i, 8);
        memcpy(&value, rec->body + 16 + 16 * (size_t)i, 8);
        l->img->hvm_params[index] = value; /* index < HVM_NR_PARAMS: checked */
    }
    return 0;
}

static void regs_from_cpu(struct xs_regs *r, const struct hvm_hw_cpu *c)
{
    r->rax = c->rax, r->rbx = c->rbx, r->rcx = c->rcx, r->rdx = c->rdx;
    r->rbp = c->rbp, r->rsi = c->rsi, r->rdi = c->rdi, r->rsp = c->rsp;
    r->r8 = c->r8, r->r9 = c->r9, r->r10 = c->r10, r->r11 = c->r11;
    r->r12 = c->r12, r->r13 = c->r13, r->r14 = c->r14, r->r15 = c->r15;
    r->rip = c->rip;
    r->rflags = c->rflags;
}

static int load_context(struct load *l, const struct xs_ms_record *rec)
{
    struct xs_domain_image *img = l->img;
    if (need_domain(l, rec)) return -1;
    uint32_t pos = 0, len;
    uint16_t code, inst;
    const uint8_t *data;
    while (xs_ms_hvm_ctx_next(rec, &pos, &code, &inst, &data, &len)) {
        if (code == HVM_SAVE_CODE(HEADER)) {
            struct hvm_save_header h;
            memcpy(&h, data, sizeof(h));
            if (h.gtsc_khz && h.gtsc_khz != XS_VTSC_KHZ)
                return xs_ms_rec_error(l->r, rec,
                                       "HVM save header: guest TSC %" PRIu32
                                       " kHz, xensim's runs at %u kHz",
                                       h.gtsc_khz, XS_VTSC_KHZ);
            continue;
        }
        if (code != HVM_SAVE_CODE(CPU))
            return xs_ms_rec_error(
                l->r, rec,
                "save entry typecode %u (instance %u) at body offset %" PRIu32
                " is state xensim does not model (it takes HEADER and CPU)",
                code, inst, pos - len - 8);
        if (inst >= img->nr_vcpus)
            return xs_ms_rec_error(l->r, rec, "CPU entry for vCPU %u of %u", inst,
                                   img->nr_vcpus);
        struct hvm_hw_cpu c;
        memcpy(&c, data, sizeof(c));
        if (!(c.msr_efer & EFER_LMA) || !(c.cs_arbytes & AR_L))
            return xs_ms_rec_error(l->r, rec,
                                   "vCPU %u is not in 64-bit mode (EFER 0x%" PRIx64
                                   ", CS attributes 0x%" PRIx32
                                   "): xensim runs 64-bit code",
                                   inst, (uint64_t)c.msr_efer, c.cs_arbytes);
        if (c.pending_valid)
            return xs_ms_rec_error(
                l->r, rec,
                "vCPU %u has a pending event (vector %u): xensim delivers "
                "no exceptions",
                inst, c.pending_vector);
        struct xs_image_vcpu *iv = &img->vcpus[inst];
        regs_from_cpu(&iv->regs, &c);
        iv->idt_base = c.idtr_base;
        iv->idt_limit = (uint16_t)c.idtr_limit;
        iv->virt_if = (c.rflags & RFLAGS_IF) != 0;
        l->has_cpu[inst] = true;
    }
    l->context = true;
    return 0;
}

/* XENSIM_LIVE: a live migration's stream, whose later rounds send again
 * pages that changed since an earlier one (the later copy wins). */
static int load_live(struct load *l, const struct xs_ms_record *rec)
{
    struct xs_ms_xensim_live h;
    if (need_domain(l, rec)) return -1;
    if (l->live) return xs_ms_rec_error(l->r, rec, "a second XENSIM_LIVE record");
    if (l->r->page_data)
        return xs_ms_rec_error(l->r, rec,
                               "after PAGE_DATA (it must say pages may come again "
                               "before the first one comes)");
    if (rec->length != sizeof(h))
        return xs_ms_rec_error(l->r, rec, "body is %" PRIu32 " bytes, not %zu",
                               rec->length, sizeof(h));
    memcpy(&h, rec->body, sizeof(h));
    if (h.version != XS_MS_XENSIM_VERSION)
        return xs_ms_rec_error(l->r, rec, "version %" PRIu32 " (this xensim reads %u)",
                               h.version, XS_MS_XENSIM_VERSION);
    l->r->allow_resend = true;
    l->live = true;
    if (l->st) l->st->live = true;
    return 0;
}

/* XENSIM_SUSPEND: the vCPU that suspended and the hypercall page, known
 * only once the domain stopped (XENSIM_DOMAIN went out while it ran). */
static int load_suspend(struct load *l, const struct xs_ms_record *rec)
{
    struct xs_ms_xensim_suspend h;
    struct xs_domain_image *img = l->img;
    if (!l->live)
        return xs_ms_rec_error(l->r, rec,
                               "in a stream without XENSIM_LIVE (only a live migration "
                               "sends it)");
    if (l->suspend) return xs_ms_rec_error(l->r, rec, "a second XENSIM_SUSPEND record");
    if (rec->length != sizeof(h))
        return xs_ms_rec_error(l->r, rec, "body is %" PRIu32 " bytes, not %zu",
                               rec->length, sizeof(h));
    memcpy(&h, rec->body, sizeof(h));
    if (h.suspend_vcpu >= img->nr_vcpus)
        return xs_ms_rec_error(l->r, rec, "suspending vCPU %" PRIu32 " of %u",
                               h.suspend_vcpu, img->nr_vcpus);
    if (h.hypercall_page_gpa != XS_NO_GPA &&
        (h.hypercall_page_gpa % XS_PAGE_SIZE || h.hypercall_page_gpa >= img->ram_bytes))
        return xs_ms_rec_error(
            l->r, rec, "hypercall page at 0x%" PRIx64 " is not a page of its memory",
            h.hypercall_page_gpa);
    img->suspend_vcpu = h.suspend_vcpu;
    img->hypercall_page_gpa = h.hypercall_page_gpa;
    l->suspended_ns = h.suspended_ns;
    if (l->st) {
        l->st->rounds = h.rounds;
        l->st->suspended_ns = h.suspended_ns;
    }
    l->suspend = true;
    return 0;
}

/* A message about the stream as a whole (records name themselves). */
__attribute__((format(printf, 3, 4))) static int load_fail(char *err, size_t errlen,
                                                           const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* What the records say about the vCPUs, together. */
static int finish_vcpus(struct load *l, char *err, size_t errlen)
{
    struct xs_domain_image *img = l->img;
    for (unsigned i = 0; i < img->nr_vcpus; i++) {
        struct xs_image_vcpu *iv = &img->vcpus[i];
        uint32_t f = l->vflags[i];
        if (!l->vcpus) /* a stream without xensim's record: as Xen, a CPU entry = up */
            f = l->has_cpu[i]
                    ? XS_MS_VCPU_ONLINE | XS_MS_VCPU_INITIALISED |
                          (iv->virt_if ? XS_MS_VCPU_VIRT_IF : 0) | XS_MS_VCPU_HOST_IF
                    : 0;
        bool context = f & (XS_MS_VCPU_ONLINE | XS_MS_VCPU_INITIALISED);
        if (context != l->has_cpu[i])
            return load_fail(err, errlen,
                             "vCPU %u: XENSIM_VCPU says %s, HVM_CONTEXT has %s CPU entry",
                             i, context ? "it has a context" : "it has no context",
                             l->has_cpu[i] ? "a" : "no");
        iv->online = f & XS_MS_VCPU_ONLINE;
        iv->initialised = f & XS_MS_VCPU_INITIALISED;
        iv->virt_if = f & XS_MS_VCPU_VIRT_IF;
        if (context)
            iv->regs.rflags =
                (iv->regs.rflags & ~RFLAGS_IF) | (f & XS_MS_VCPU_HOST_IF ? RFLAGS_IF : 0);
        /* Guest code and stacks live in guest RAM, at the direct map. */
        uint64_t lo = img->directmap_base, hi = lo + img->ram_bytes;
        if (iv->online && (iv->regs.rip < lo || iv->regs.rip >= hi))
            return load_fail(err, errlen,
                             "vCPU %u: rip 0x%" PRIx64 " is outside the domain's memory "
                             "(0x%" PRIx64 "..0x%" PRIx64 ")",
                             i, iv->regs.rip, lo, hi);
    }
    if (!img->vcpus[img->suspend_vcpu].online)
        return load_fail(err, errlen, "vCPU %u made the suspend call but is not online",
                         img->suspend_vcpu);
    return 0;
}

int xs_ms_load_image(struct xs_ms_reader *r, struct xs_domain_image *img,
                     struct xs_ms_sim_state *st, char *err, size_t errlen)
{
    memset(img, 0, sizeof(*img));
    if (st) memset(st, 0, sizeof(*st));
    struct load l = {.r = r, .img = img, .st = st};
    struct xs_ms_record rec;
    int got, rc = 0;
    while (!rc && (got = xs_ms_next(r, &rec)) == 1) {
        switch (rec.type) {
        case XS_MS_REC_XENSIM_DOMAIN:
            rc = load_domain(&l, &rec);
            break;
        case XS_MS_REC_XENSIM_VCPU:
            rc = load_vcpus(&l, &rec);
            break;
        case XS_MS_REC_XENSIM_DEVICES:
            rc = load_devices(&l, &rec);
            break;
        case XS_MS_REC_XENSIM_TIME:
            rc = load_time(&l, &rec);
            break;
        case XS_MS_REC_XENSIM_LIVE:
            rc = load_live(&l, &rec);
            break;
        case XS_MS_REC_XENSIM_SUSPEND:
            rc = need_domain(&l, &rec) ? -1 : load_suspend(&l, &rec);
            break;
        case XS_MS_REC_X86_CPUID_POLICY:
            rc = load_cpuid(&l, &rec);
            break;
        case XS_MS_REC_PAGE_DATA:
            rc = load_pages(&l, &rec);
            break;
        case XS_MS_REC_X86_TSC_INFO:
            rc = load_tsc(&l, &rec);
            break;
        case XS_MS_REC_HVM_PARAMS:
            rc = load_params(&l, &rec);
            break;
        case XS_MS_REC_HVM_CONTEXT:
            rc = load_context(&l, &rec);
            break;
        default:
            break; /* X86_MSR_POLICY, unknown optional records: nothing to do */
        }
    }
    if (!rc && got < 0) rc = -1;
    if (rc) {
        load_fail(err, errlen, "%s", r->err);
    } else if (!l.domain) {
        rc = load_fail(
            err, errlen,
            "no XENSIM_DOMAIN record: not saved by xensim (it needs the domain's "
            "configuration)");
    } else if (!l.tsc) {
        rc = load_fail(err, errlen, "no X86_TSC_INFO record (the guest's time)");
    } else if (l.live && !l.suspend) {
        rc = load_fail(err, errlen,
                       "a live stream (XENSIM_LIVE) without XENSIM_SUSPEND: the sender "
                       "never said which vCPU suspended");
    } else if (l.live && l.suspended_ns > img->vtime_ns) {
        rc = load_fail(err, errlen,
                       "XENSIM_SUSPEND says the guest suspended at %" PRIu64
                       " ns, after the stream's X86_TSC_INFO time %" PRIu64 " ns",
                       l.suspended_ns, img->vtime_ns);
    } else {
        rc = finish_vcpus(&l, err, errlen);
    }
    free(l.vflags);
    free(l.has_cpu);
    return rc;
}

int xs_ms_load_file(const char *path, struct xs_domain_image *img,
                    struct xs_ms_sim_state *st, char *err, size_t errlen)
{
    memset(img, 0, sizeof(*img));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return xs_errf(err, errlen, path, "cannot open: %s", strerror(errno));
    struct xs_ms_reader r;
    char why[768];
    int rc = xs_ms_reader_open_fd(&r, fd);
    if (rc)
        snprintf(why, sizeof(why), "%s", r.err);
    else
        rc = xs_ms_load_image(&r, img, st, why, sizeof(why));
    xs_ms_reader_close(&r);
    close(fd);
    return rc ? xs_errf(err, errlen, path, "%s", why) : 0;
}

int xs_ms_load_fd(int fd, const char *name, struct xs_domain_image *img,
                  struct xs_ms_sim_state *st, char *err, size_t errlen)
{
    memset(img, 0, sizeof(*img));
    struct xs_ms_reader r;
    char why[768];
    int rc = xs_ms_reader_open_fd(&r, fd);
    if (rc)
        snprintf(why, sizeof(why), "%s", r.err);
    else
        rc = xs_ms_load_image(&r, img, st, why, sizeof(why));
    xs_ms_reader_close(&r);
    return rc ? xs_errf(err, errlen, name, "%s", why) : 0;
}

int xs_ms_peek_base(const char *path, uint64_t *base)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    struct xs_ms_reader r;
    struct xs_ms_record rec;
    struct xs_ms_xensim_domain h;
    int rc = -1;
    if (!xs_ms_reader_open_fd(&r, fd))
        while (xs_ms_next(&r, &rec) == 1 && rec.type != XS_MS_REC_PAGE_DATA)
            if (rec.type == XS_MS_REC_XENSIM_DOMAIN && rec.length >= sizeof(h)) {
                memcpy(&h, rec.body, sizeof(h));
                *base = h.directmap_base;
                rc = 0;
                break;
            }
    xs_ms_reader_close(&r);
    close(fd);
    return rc;
}
