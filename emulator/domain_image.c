/* A suspended domain captured as data, and a new domain built from it
 * (domain_image.h): what libxc's save and restore do, minus the stream
 * (migstream*.c writes and reads that). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xensim/abi.h>

#include "domain_image.h"
#include "guest_mem.h"
#include "hypercall.h"
#include "pvdev.h"
#include "vtime.h"

/* The toolstack's ports of a restored domain start past the old ones, but
 * stay small (a guest that cached them must find them changed, and the
 * 2-level ABI's 4096 ports are plenty). */
#define PORT_WRAP 64u

bool xs_domain_image_param_saved(unsigned index)
{
    /* libxc's write_hvm_params list, less what xensim never sets. */
    switch (index) {
    case HVM_PARAM_STORE_PFN:
    case HVM_PARAM_CONSOLE_PFN:
    case HVM_PARAM_IOREQ_PFN:
    case HVM_PARAM_BUFIOREQ_PFN:
    case HVM_PARAM_PAGING_RING_PFN:
    case HVM_PARAM_MONITOR_RING_PFN:
    case HVM_PARAM_SHARING_RING_PFN:
    case HVM_PARAM_VM86_TSS_SIZED:
    case HVM_PARAM_ACPI_IOPORTS_LOCATION:
    case HVM_PARAM_VIRIDIAN:
    case HVM_PARAM_IDENT_PT:
    case HVM_PARAM_VM_GENERATION_ID_ADDR:
    case HVM_PARAM_IOREQ_SERVER_PFN:
    case HVM_PARAM_NR_IOREQ_SERVER_PAGES:
    case HVM_PARAM_X87_FIP_WIDTH:
    case HVM_PARAM_MCA_CAP:
        return true;
    default:
        return false;
    }
}

void xs_domain_image_free(struct xs_domain_image *img)
{
    if (!img) return;
    free(img->ram);
    free(img->vcpus);
    memset(img, 0, sizeof(*img));
}

/* ---- capture ------------------------------------------------------------------- */

/* The command line the domain booted with, if start_info still holds it
 * (information only: the guest may have reused that memory). */
static void read_cmdline(struct xs_domain *d, char *out, size_t len)
{
    out[0] = '\0';
    const struct hvm_start_info *si =
        xs_gpa_ptr(d, d->start_info_pa, sizeof(struct hvm_start_info));
    if (!si || si->magic != XEN_HVM_START_MAGIC_VALUE || !si->cmdline_paddr) return;
    for (size_t i = 0; i + 1 < len; i++) {
        const char *c = xs_gpa_ptr(d, si->cmdline_paddr + i, 1);
        if (!c || !*c) break;
        out[i] = *c;
        out[i + 1] = '\0';
    }
}

/* Guest RAM from the memfd, not through the domain's mapping: that shows
 * shared_info, grant frames and other domains' granted pages where the
 * guest placed them, and none of those is the guest's memory. */
static int read_ram(struct xs_domain *d, uint8_t *dst, char *err, size_t errlen)
{
    uint64_t off = 0;
    while (off < d->ram_bytes) {
        size_t chunk = d->ram_bytes - off > (1u << 30) ? (1u << 30) : d->ram_bytes - off;
        ssize_t n = pread(d->memfd, dst + off, chunk, (off_t)off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            snprintf(err, errlen, "domain %s: reading guest RAM at %#" PRIx64 ": %s",
                     d->name, off, n < 0 ? strerror(errno) : "short read");
            return -1;
        }
        off += (uint64_t)n;
    }
    return 0;
}

static int capture(struct xs_domain *d, struct xs_domain_image *img, bool ram, char *err,
                   size_t errlen)
{
    memset(img, 0, sizeof(*img));
    if ((ram && !d->suspended) || d->end_state != XS_END_RUNNING) {
        snprintf(err, errlen, "domain %s (d%u) is not %s", d->name, d->domid,
                 ram ? "suspended" : "running");
        return -1;
    }
    snprintf(img->name, sizeof(img->name), "%s", d->name);
    snprintf(img->image_path, sizeof(img->image_path), "%s", d->image.name);
    read_cmdline(d, img->cmdline, sizeof(img->cmdline));
    img->nr_vcpus = d->nr_vcpus;
    img->ram_bytes = d->ram_bytes;
    img->hc_mode = d->hc_mode;
    img->directmap_base = (uint64_t)(uintptr_t)d->base;
    img->domid = d->domid;
    img->ram = ram ? malloc(d->ram_bytes) : NULL;
    img->vcpus = calloc(d->nr_vcpus, sizeof(*img->vcpus));
    if ((ram && !img->ram) || !img->vcpus) {
        xs_domain_image_free(img);
        snprintf(err, errlen, "domain %s: out of memory for its image", d->name);
        return -1;
    }
    if (ram && read_ram(d, img->ram, err, errlen)) {
        xs_domain_image_free(img);
        return -1;
    }
    for (unsigned i = 0; i < d->nr_vcpus; i++) {
        const struct xs_vcpu *v = &d->vcpus[i];
        img->vcpus[i] = (struct xs_image_vcpu){.regs = v->regs,
                                               .online = v->suspend_online,
                                               .initialised = v->initialised,
                                               .virt_if = v->virt_if,
                                               .idt_base = v->idt_base,
                                               .idt_limit = v->idt_limit};
    }
    img->suspend_vcpu = d->suspend_vcpu;
    memcpy(img->hvm_params, d->hvm_params, sizeof(img->hvm_params));
    img->hypercall_page_gpa = d->hypercall_page_gpa;
    img->vtime_ns = d->sim->vtime_ns;
    img->tsc_khz = XS_VTSC_KHZ;
    /* The devices xl would recreate: those xensim serves. */
    const struct xs_pvdev *devs[XS_IMAGE_MAX_DEVICES];
    unsigned n = xs_pvdev_list(d, devs, XS_IMAGE_MAX_DEVICES);
    if (n > XS_IMAGE_MAX_DEVICES) {
        xs_domain_image_free(img);
        snprintf(err, errlen, "domain %s: more than %d devices", d->name,
                 XS_IMAGE_MAX_DEVICES);
        return -1;
    }
    for (unsigned i = 0; i < n; i++) {
        struct xs_image_device *id = &img->devices[i];
        snprintf(id->devclass, sizeof(id->devclass), "%s", devs[i]->kind->devclass);
        id->id = devs[i]->id;
        id->backend_domid = 0;
        snprintf(id->config, sizeof(id->config), "%s", devs[i]->cfg_text);
    }
    img->nr_devices = n;
    return 0;
}

int xs_domain_image_capture(struct xs_domain *d, struct xs_domain_image *img, char *err,
                            size_t errlen)
{
    return capture(d, img, true, err, errlen);
}

int xs_domain_image_capture_meta(struct xs_domain *d, struct xs_domain_image *img,
                                 char *err, size_t errlen)
{
    return capture(d, img, false, err, errlen);
}

/* ---- restore ------------------------------------------------------------------- */

static bool str_ok(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

static bool name_ok(const char *s, size_t cap)
{
    if (!str_ok(s, cap) || !s[0]) return false;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
              (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
            return false;
    return true;
}

/* Everything a file could get wrong, before anything is built. */
static int check_image(const struct xs_domain_image *img, uint64_t *slot, char *err,
                       size_t errlen)
{
#define BAD(...) (snprintf(err, errlen, "image: " __VA_ARGS__), -1)
    if (!name_ok(img->name, sizeof(img->name)))
        return BAD("bad domain name (1-%d of A-Z a-z 0-9 _ -)", XS_SCN_NAME_MAX - 1);
    if (!str_ok(img->image_path, sizeof(img->image_path)) ||
        !str_ok(img->cmdline, sizeof(img->cmdline)))
        return BAD("domain %s: image path or command line not terminated", img->name);
    if (img->nr_vcpus < 1 || img->nr_vcpus > XS_MAX_VCPUS)
        return BAD("domain %s: %u vCPUs outside 1..%d", img->name, img->nr_vcpus,
                   XS_MAX_VCPUS);
    if (!img->ram_bytes || img->ram_bytes % (1u << 20) || (img->ram_bytes >> 20) > 65536)
        return BAD("domain %s: memory size %#" PRIx64 " is not 1..65536 MiB", img->name,
                   img->ram_bytes);
    if (!img->ram || !img->vcpus)
        return BAD("domain %s: no guest memory or vCPUs", img->name);
    if (img->hc_mode != XS_HC_DIRECT && img->hc_mode != XS_HC_VMCALL)
        return BAD("domain %s: unknown hypercall mode %d", img->name, (int)img->hc_mode);
    uint64_t b = img->directmap_base;
    if (b < XS_DIRECTMAP_BASE || (b - XS_DIRECTMAP_BASE) % XS_SLOT_SIZE ||
        (b - XS_DIRECTMAP_BASE) / XS_SLOT_SIZE >= 1024)
        return BAD("domain %s: direct-map base %#" PRIx64 " is not one xensim uses",
                   img->name, b);
    *slot = (b - XS_DIRECTMAP_BASE) / XS_SLOT_SIZE;
    if (img->suspend_vcpu >= img->nr_vcpus || !img->vcpus[img->suspend_vcpu].online)
        return BAD("domain %s: suspending vCPU %u is not an online vCPU", img->name,
                   img->suspend_vcpu);
    for (unsigned i = 0; i < img->nr_vcpus; i++) {
        const struct xs_image_vcpu *v = &img->vcpus[i];
        if (v->online && !v->initialised)
            return BAD("domain %s: vCPU %u is online without a context", img->name, i);
        /* A running vCPU's code must be guest RAM at that base (its stack
         * is checked where it is used, as for any vCPU). */
        if (v->online && (v->regs.rip < b || v->regs.rip - b >= img->ram_bytes))
            return BAD("domain %s: vCPU %u rip %#" PRIx64 " outside guest RAM", img->name,
                       i, v->regs.rip);
    }
    uint64_t hp = img->hypercall_page_gpa;
    if (hp != XS_NO_GPA && (hp % XS_PAGE_SIZE || hp >= img->ram_bytes))
        return BAD("domain %s: hypercall page %#" PRIx64 " outside guest RAM", img->name,
                   hp);
    if (img->tsc_khz != XS_VTSC_KHZ)
        return BAD("domain %s: TSC at %u kHz (xensim's runs at %u)", img->name,
                   img->tsc_khz, XS_VTSC_KHZ);
    if (img->nr_devices > XS_IMAGE_MAX_DEVICES)
        return BAD("domain %s: %u devices (at most %d)", img->name, img->nr_devices,
                   XS_IMAGE_MAX_DEVICES);
    for (unsigned i = 0; i < img->nr_devices; i++) {
        const struct xs_image_device *dv = &img->devices[i];
        if (!name_ok(dv->devclass, sizeof(dv->devclass)) ||
            !str_ok(dv->config, sizeof(dv->config)))
            return BAD("domain %s: device %u: bad class or configuration", img->name, i);
    }
    return 0;
#undef BAD
}

/* Past the old store and console ports (a guest that cached them finds
 * them changed), wrapping to stay small. */
static uint32_t port_floor(const struct xs_domain_image *img)
{
    uint64_t a = img->hvm_params[HVM_PARAM_STORE_EVTCHN];
    uint64_t c = img->hvm_params[HVM_PARAM_CONSOLE_EVTCHN];
    uint64_t m = (a > c ? a : c) + 1;
    return m + 2 > PORT_WRAP ? 1 : (uint32_t)m;
}

static struct xs_domain *restore(struct xs_sim *sim, const struct xs_domain_image *img,
                                 bool devices, char *err, size_t errlen)
{
    uint64_t slot;
    if (check_image(img, &slot, err, errlen)) return NULL;
    /* A fresh process starts at time 0: guest time must not go back. */
    if (sim->vtime_ns < img->vtime_ns) sim->vtime_ns = img->vtime_ns;
    struct xs_domain_config cfg = {.name = img->name,
                                   .memory_mib = img->ram_bytes >> 20,
                                   .vcpus = img->nr_vcpus,
                                   .cmdline = img->cmdline,
                                   .hypercalls = img->hc_mode,
                                   .fixed_slot = true,
                                   .slot = slot};
    struct xs_domain *d = xs_domain_alloc(sim, &cfg, err, errlen);
    if (!d) return NULL;
    snprintf(d->image.name, sizeof(d->image.name), "%.255s", img->image_path);
    memcpy(d->base, img->ram, img->ram_bytes); /* nothing placed over RAM yet */
    for (unsigned i = 0; i < HVM_NR_PARAMS; i++)
        if (xs_domain_image_param_saved(i)) d->hvm_params[i] = img->hvm_params[i];
    d->restored = true;
    d->toolstack_port_min = port_floor(img);
    for (unsigned i = 0; i < img->nr_vcpus; i++) {
        const struct xs_image_vcpu *iv = &img->vcpus[i];
        struct xs_vcpu *v = &d->vcpus[i];
        v->regs = iv->regs;
        v->initialised = iv->initialised;
        v->virt_if = iv->virt_if;
        v->idt_base = iv->idt_base;
        v->idt_limit = iv->idt_limit;
        if (i == img->suspend_vcpu) v->regs.rax = 0; /* SCHEDOP_shutdown: resumed */
        if (iv->online) xs_vcpu_set_state(v, XS_VCPU_RUNNABLE);
    }
    if (img->hypercall_page_gpa != XS_NO_GPA &&
        xs_hypercall_page_fill(&d->vcpus[0], img->hypercall_page_gpa)) {
        snprintf(err, errlen, "domain %s: cannot fill the hypercall page at %#" PRIx64,
                 img->name, img->hypercall_page_gpa);
        xs_domain_destroy(d);
        return NULL;
    }
    if (xs_domain_publish(d, err, errlen)) {
        xs_domain_destroy(d);
        return NULL;
    }
    for (unsigned i = 0; devices && i < img->nr_devices; i++) {
        const struct xs_image_device *dv = &img->devices[i];
        char derr[512];
        if (dv->backend_domid != 0 ||
            !xs_pvdev_add_text(sim, dv->devclass, d, dv->id, dv->config, derr,
                               sizeof(derr))) {
            if (dv->backend_domid != 0)
                snprintf(derr, sizeof(derr), "backend domain %u is not xensim",
                         dv->backend_domid);
            snprintf(err, errlen, "domain %s: device %s/%u: %s", img->name, dv->devclass,
                     dv->id, derr);
            xs_sim_remove_domain(sim, d);
            xs_domain_destroy(d);
            return NULL;
        }
    }
    xs_timers_changed(sim);
    return d;
}

struct xs_domain *xs_domain_image_restore(struct xs_sim *sim,
                                          const struct xs_domain_image *img, char *err,
                                          size_t errlen)
{
    return restore(sim, img, true, err, errlen);
}

struct xs_domain *xs_domain_image_restore_nodev(struct xs_sim *sim,
                                                const struct xs_domain_image *img,
                                                char *err, size_t errlen)
{
    return restore(sim, img, false, err, errlen);
}
