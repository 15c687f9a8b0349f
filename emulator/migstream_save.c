/* A domain image written as a libxc migration stream (migstream_image.h):
 * xensim's optional records, the CPUID policy, memory, TSC, params and
 * Xen's HVM context with one CPU entry per vCPU. */
#define __XEN_TOOLS__ 1 /* xen_cpuid_leaf_t: a toolstack type */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xen/xen.h>

#include "cpuid.h"
#include "errmsg.h"
#include "hypercall.h"
#include "migstream_hvm.h"
#include "migstream_image.h"

/* Long mode as Xen's HVM context describes it: the state a PVH kernel is in
 * once it runs 64-bit code.  xensim does not model these registers (guest
 * code runs natively in the host's long mode); they are written so a
 * reader sees a consistent 64-bit vCPU. */
#define CR0_LONG    0x80050033ULL /* PG WP NE ET MP PE, AM */
#define CR4_LONG    0x000006a0ULL /* PAE PGE OSFXSR OSXMMEXCPT */
#define EFER_LONG   0x00000d01ULL /* SCE LME LMA NXE */
#define AR_CODE64   0xa9bu        /* present code, L and G set (SVM format) */
#define AR_DATA     0xc93u        /* present data, D/B and G set */
#define AR_TSS_BUSY 0x08bu
#define RFLAGS_IF   0x200ULL

static void cpu_from_vcpu(const struct xs_domain_image *img, unsigned id,
                          struct hvm_hw_cpu *c)
{
    const struct xs_image_vcpu *iv = &img->vcpus[id];
    const struct xs_regs *r = &iv->regs;
    memset(c, 0, sizeof(*c));
    c->rax = r->rax, c->rbx = r->rbx, c->rcx = r->rcx, c->rdx = r->rdx;
    c->rbp = r->rbp, c->rsi = r->rsi, c->rdi = r->rdi, c->rsp = r->rsp;
    c->r8 = r->r8, c->r9 = r->r9, c->r10 = r->r10, c->r11 = r->r11;
    c->r12 = r->r12, c->r13 = r->r13, c->r14 = r->r14, c->r15 = r->r15;
    c->rip = r->rip;
    /* Architectural IF is the one the guest controls (cli/sti). */
    c->rflags = (r->rflags & ~RFLAGS_IF) | (iv->virt_if ? RFLAGS_IF : 0);
    c->cr0 = CR0_LONG;
    c->cr4 = CR4_LONG;
    c->msr_efer = EFER_LONG;
    c->dr6 = 0xffff0ff0;
    c->dr7 = 0x400;
    c->cs_arbytes = AR_CODE64;
    c->ds_arbytes = c->es_arbytes = c->ss_arbytes = c->fs_arbytes = c->gs_arbytes =
        AR_DATA;
    c->tr_arbytes = AR_TSS_BUSY;
    c->cs_limit = c->ds_limit = c->es_limit = c->ss_limit = c->fs_limit = c->gs_limit =
        0xffffffff;
    c->idtr_base = iv->idt_base;
    c->idtr_limit = iv->idt_limit;
    /* The guest's TSC at the save: xensim's runs at tsc_khz from 0. */
    c->tsc = img->vtime_ns / 1000000 * img->tsc_khz +
             img->vtime_ns % 1000000 * img->tsc_khz / 1000000;
}

static int write_xensim_domain(struct xs_ms_writer *w, const struct xs_domain_image *img)
{
    struct xs_ms_xensim_domain h = {
        .version = XS_MS_XENSIM_VERSION,
        .nr_vcpus = img->nr_vcpus,
        .ram_bytes = img->ram_bytes,
        .directmap_base = img->directmap_base,
        .hypercall_page_gpa = img->hypercall_page_gpa,
        .hc_mode = (uint32_t)img->hc_mode,
        .suspend_vcpu = img->suspend_vcpu,
        .domid = img->domid,
        .name_len = (uint16_t)strnlen(img->name, sizeof(img->name) - 1),
        .image_path_len = (uint16_t)strnlen(img->image_path, sizeof(img->image_path) - 1),
        .cmdline_len = (uint16_t)strnlen(img->cmdline, sizeof(img->cmdline) - 1),
    };
    struct iovec parts[4] = {{&h, sizeof(h)},
                             {(void *)img->name, h.name_len},
                             {(void *)img->image_path, h.image_path_len},
                             {(void *)img->cmdline, h.cmdline_len}};
    return xs_ms_write_recordv(w, XS_MS_REC_XENSIM_DOMAIN, parts, 4);
}

static int write_xensim_vcpus(struct xs_ms_writer *w, const struct xs_domain_image *img)
{
    struct xs_ms_xensim_vcpus h = {.count = img->nr_vcpus};
    struct xs_ms_xensim_vcpu *e = calloc(img->nr_vcpus, sizeof(*e));
    if (!e) {
        snprintf(w->err, sizeof(w->err), "out of memory");
        return -1;
    }
    for (unsigned i = 0; i < img->nr_vcpus; i++) {
        const struct xs_image_vcpu *iv = &img->vcpus[i];
        e[i].id = i;
        e[i].flags = (iv->online ? XS_MS_VCPU_ONLINE : 0) |
                     (iv->initialised ? XS_MS_VCPU_INITIALISED : 0) |
                     (iv->virt_if ? XS_MS_VCPU_VIRT_IF : 0) |
                     (iv->regs.rflags & RFLAGS_IF ? XS_MS_VCPU_HOST_IF : 0);
    }
    struct iovec parts[2] = {{&h, sizeof(h)}, {e, sizeof(*e) * img->nr_vcpus}};
    int rc = xs_ms_write_recordv(w, XS_MS_REC_XENSIM_VCPU, parts, 2);
    free(e);
    return rc;
}

/* One line per device: "CLASS ID BACKEND-DOMID CONFIG\n". */
static int write_xensim_devices(struct xs_ms_writer *w, const struct xs_domain_image *img)
{
    struct xs_ms_buf b = {0};
    int rc = 0;
    for (unsigned i = 0; i < img->nr_devices && !rc; i++) {
        const struct xs_image_device *dv = &img->devices[i];
        char line[XS_SCN_NAME_MAX + XS_IMAGE_DEVCFG_MAX + 64];
        int n = snprintf(line, sizeof(line), "%.*s %u %u %.*s\n",
                         (int)sizeof(dv->devclass) - 1, dv->devclass, dv->id,
                         (unsigned)dv->backend_domid, (int)sizeof(dv->config) - 1,
                         dv->config);
        rc = n < 0 || xs_ms_buf_append(&b, line, (size_t)n);
    }
    if (rc) snprintf(w->err, sizeof(w->err), "out of memory");
    if (!rc)
        rc = xs_ms_write_record(w, XS_MS_REC_XENSIM_DEVICES, b.data, (uint32_t)b.len);
    xs_ms_buf_free(&b);
    return rc;
}

static int write_xensim_time(struct xs_ms_writer *w, const struct xs_domain_image *img,
                             const struct xs_ms_sim_state *st)
{
    if (!st) return 0; /* no simulation to speak of: the record is optional */
    struct xs_ms_xensim_time t = {
        .vtime_ns = img->vtime_ns, .seed = st->seed, .exits = st->exits};
    memcpy(t.prng, st->prng.s, sizeof(t.prng));
    return xs_ms_write_record(w, XS_MS_REC_XENSIM_TIME, &t, sizeof(t));
}

/* The basic leaves as vCPU 0 sees them (Xen's policy leaves out the
 * hypervisor leaves at 0x40000000). */
static int write_cpuid_policy(struct xs_ms_writer *w, const struct xs_domain_image *img)
{
    struct xs_domain dom = {.domid = img->domid};
    struct xs_vcpu v = {.dom = &dom, .id = 0};
    xen_cpuid_leaf_t leaves[2];
    for (uint32_t i = 0; i < 2; i++) {
        uint32_t out[4];
        xs_cpuid(&v, i, 0, out);
        leaves[i] = (xen_cpuid_leaf_t){.leaf = i,
                                       .subleaf = XEN_CPUID_NO_SUBLEAF,
                                       .a = out[0],
                                       .b = out[1],
                                       .c = out[2],
                                       .d = out[3]};
    }
    return xs_ms_write_record(w, XS_MS_REC_X86_CPUID_POLICY, leaves, sizeof(leaves));
}

static int write_pages(struct xs_ms_writer *w, const struct xs_domain_image *img)
{
    static const uint8_t zero[XS_MS_PAGE_SIZE];
    uint64_t pfns[XS_MS_PAGE_BATCH];
    unsigned n = 0;
    uint64_t nr = img->ram_bytes >> XS_MS_PAGE_SHIFT;
    /* Direct-stub hypercall pages jump to a host address of xensim's (which
     * moves from process to process): left out, a restore fills the page
     * again, so the same domain always gives the same stream. */
    uint64_t hcall = img->hc_mode == XS_HC_DIRECT && img->hypercall_page_gpa != XS_NO_GPA
                         ? img->hypercall_page_gpa >> XS_MS_PAGE_SHIFT
                         : UINT64_MAX;
    for (uint64_t pfn = 0; pfn < nr; pfn++) {
        if (pfn == hcall) continue;
        if (!memcmp(img->ram + (pfn << XS_MS_PAGE_SHIFT), zero, sizeof(zero))) continue;
        pfns[n++] = pfn;
        if (n == XS_MS_PAGE_BATCH) {
            if (xs_ms_write_page_data(w, pfns, n, img->ram)) return -1;
            n = 0;
        }
    }
    return n ? xs_ms_write_page_data(w, pfns, n, img->ram) : 0;
}

static int write_tsc_info(struct xs_ms_writer *w, const struct xs_domain_image *img)
{
    uint8_t b[24] = {0};
    uint32_t mode = 1; /* TSC_MODE_ALWAYS_EMULATE: xensim traps every rdtsc */
    memcpy(b, &mode, 4);
    memcpy(b + 4, &img->tsc_khz, 4);
    memcpy(b + 8, &img->vtime_ns, 8);
    return xs_ms_write_record(w, XS_MS_REC_X86_TSC_INFO, b, sizeof(b));
}

static int write_hvm_params(struct xs_ms_writer *w, const struct xs_domain_image *img)
{
    uint64_t body[1 + 2 * HVM_NR_PARAMS];
    uint32_t count = 0;
    for (unsigned i = 0; i < HVM_NR_PARAMS; i++)
        if (img->hvm_params[i]) {
            body[1 + 2 * count] = i;
            body[2 + 2 * count] = img->hvm_params[i];
            count++;
        }
    body[0] = count; /* count:u32, then 4 reserved bytes */
    return xs_ms_write_record(w, XS_MS_REC_HVM_PARAMS, body, 8 + 16 * count);
}

static int write_hvm_context(struct xs_ms_writer *w, const struct xs_domain_image *img)
{
    struct xs_ms_buf b = {0};
    struct hvm_save_header h = {.magic = HVM_FILE_MAGIC,
                                .version = HVM_FILE_VERSION,
                                .cpuid = 0x000906ea, /* xensim's CPUID.1.EAX */
                                .gtsc_khz = img->tsc_khz};
    int rc = xs_ms_hvm_ctx_add(&b, HVM_SAVE_CODE(HEADER), 0, &h, sizeof(h));
    /* As Xen, no entry for a vCPU that is down and has no context. */
    for (unsigned i = 0; i < img->nr_vcpus && !rc; i++) {
        if (!img->vcpus[i].online && !img->vcpus[i].initialised) continue;
        struct hvm_hw_cpu c;
        cpu_from_vcpu(img, i, &c);
        rc = xs_ms_hvm_ctx_add(&b, HVM_SAVE_CODE(CPU), (uint16_t)i, &c, sizeof(c));
    }
    if (!rc) rc = xs_ms_hvm_ctx_add(&b, HVM_SAVE_CODE(END), 0, NULL, 0);
    if (rc) snprintf(w->err, sizeof(w->err), "out of memory");
    if (!rc) rc = xs_ms_write_record(w, XS_MS_REC_HVM_CONTEXT, b.data, (uint32_t)b.len);
    xs_ms_buf_free(&b);
    return rc;
}

int xs_ms_save_image(struct xs_ms_writer *w, const struct xs_domain_image *img,
                     const struct xs_ms_sim_state *st, char *err, size_t errlen)
{
    if (!img->ram || !img->vcpus || img->nr_vcpus == 0 || img->nr_vcpus > XS_MAX_VCPUS ||
        img->ram_bytes % XS_MS_PAGE_SIZE || img->nr_devices > XS_IMAGE_MAX_DEVICES)
        return xs_errf(err, errlen, "save", "the domain image is incomplete");
    if (xs_ms_write_headers(w, XS_MS_DHDR_X86_HVM, XS_XEN_MAJOR, XS_XEN_MINOR) ||
        write_xensim_domain(w, img) || write_xensim_vcpus(w, img) ||
        write_xensim_devices(w, img) || write_xensim_time(w, img, st) ||
        write_cpuid_policy(w, img) ||
        xs_ms_write_record(w, XS_MS_REC_STATIC_DATA_END, NULL, 0) ||
        write_pages(w, img) || write_tsc_info(w, img) || write_hvm_params(w, img) ||
        write_hvm_context(w, img) || xs_ms_write_record(w, XS_MS_REC_END, NULL, 0))
        return xs_errf(err, errlen, "save", "%s", w->err);
    return 0;
}

int xs_ms_save_file(const char *path, const struct xs_domain_image *img,
                    const struct xs_ms_sim_state *st, char *err, size_t errlen)
{
    char tmp[4096 + 8];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return xs_errf(err, errlen, path, "path too long");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return xs_errf(err, errlen, tmp, "cannot create: %s", strerror(errno));
    struct xs_ms_writer w;
    xs_ms_writer_fd(&w, fd);
    char why[512];
    int rc = xs_ms_save_image(&w, img, st, why, sizeof(why));
    if (!rc && fsync(fd) && errno != EINVAL) {
        snprintf(why, sizeof(why), "fsync: %s", strerror(errno));
        rc = -1;
    }
    if (close(fd) && !rc) {
        snprintf(why, sizeof(why), "close: %s", strerror(errno));
        rc = -1;
    }
    if (!rc && rename(tmp, path)) {
        snprintf(why, sizeof(why), "cannot rename the .tmp file over it: %s",
                 strerror(errno));
        rc = -1;
    }
    if (rc) {
        unlink(tmp);
        return xs_errf(err, errlen, path, "%s", why);
    }
    return 0;
}

/* ---- a live migration's stream (migrate.c) ------------------------------------- */

static int live_config_ok(const struct xs_domain_image *img, bool vcpus)
{
    return (!vcpus || img->vcpus) && img->nr_vcpus >= 1 &&
           img->nr_vcpus <= XS_MAX_VCPUS && img->ram_bytes &&
           img->ram_bytes % XS_MS_PAGE_SIZE == 0 &&
           img->nr_devices <= XS_IMAGE_MAX_DEVICES;
}

int xs_ms_save_live_head(struct xs_ms_writer *w, const struct xs_domain_image *img,
                         const struct xs_ms_xensim_live *live, char *err, size_t errlen)
{
    if (!live_config_ok(img, false))
        return xs_errf(err, errlen, "live stream", "the domain's configuration is bad");
    if (xs_ms_write_headers(w, XS_MS_DHDR_X86_HVM, XS_XEN_MAJOR, XS_XEN_MINOR) ||
        write_xensim_domain(w, img) ||
        xs_ms_write_record(w, XS_MS_REC_XENSIM_LIVE, live, sizeof(*live)) ||
        write_cpuid_policy(w, img) ||
        xs_ms_write_record(w, XS_MS_REC_STATIC_DATA_END, NULL, 0))
        return xs_errf(err, errlen, "live stream", "%s", w->err);
    return 0;
}

int xs_ms_save_live_tail(struct xs_ms_writer *w, const struct xs_domain_image *img,
                         const struct xs_ms_sim_state *st,
                         const struct xs_ms_xensim_suspend *susp, char *err,
                         size_t errlen)
{
    if (!live_config_ok(img, true) || susp->suspend_vcpu >= img->nr_vcpus)
        return xs_errf(err, errlen, "live stream", "the domain image is incomplete");
    if (xs_ms_write_record(w, XS_MS_REC_XENSIM_SUSPEND, susp, sizeof(*susp)) ||
        write_xensim_vcpus(w, img) || write_xensim_devices(w, img) ||
        write_xensim_time(w, img, st) || write_tsc_info(w, img) ||
        write_hvm_params(w, img) || write_hvm_context(w, img) ||
        xs_ms_write_record(w, XS_MS_REC_END, NULL, 0))
        return xs_errf(err, errlen, "live stream", "%s", w->err);
    return 0;
}
