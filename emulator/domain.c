/* Domain construction, as Xen's PVH domain builder does it: guest RAM,
 * the kernel loaded by physical address, start_info with memory map and
 * command line, vCPU 0 at the kernel's entry. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <xensim/abi.h>
#include "console_sim.h"
#include "evtchn.h"
#include "gnttab.h"
#include "guest_mem.h"
#include "pvdev.h"
#include "start_info.h"
#include "vtime.h"
#include "xenstore.h"

/* Pages at the top of RAM kept out of the guest's memory map for the
 * simulator's special pages (as Xen's are outside the guest's RAM). */
#define XS_SPECIAL_PAGES 8ULL
#define XS_MAX_SLOTS     1024

static int map_ram(struct xs_domain *d, const struct xs_domain_config *cfg, char *err,
                   size_t errlen)
{
    uint64_t memfd_bytes = d->ram_bytes + XS_PAGE_SIZE; /* + shared_info */
    d->memfd = memfd_create(d->name, MFD_CLOEXEC);
    if (d->memfd < 0 || ftruncate(d->memfd, (off_t)memfd_bytes) != 0) {
        snprintf(err, errlen, "domain %s: cannot create guest memory: %s", d->name,
                 strerror(errno));
        return -1;
    }
    /* Claim a whole slot of address space so stray guest accesses past RAM
     * fault instead of landing in another domain or in xensim.  A restore
     * needs the very slot its image was taken at (guest pointers are host
     * addresses). */
    uint64_t first = cfg->fixed_slot ? cfg->slot : 0;
    uint64_t last = cfg->fixed_slot ? cfg->slot + 1 : XS_MAX_SLOTS;
    for (uint64_t slot = first; slot < last && slot < XS_MAX_SLOTS; slot++) {
        void *want = (void *)(uintptr_t)(XS_DIRECTMAP_BASE + slot * XS_SLOT_SIZE);
        void *got = mmap(
            want, XS_SLOT_SIZE, PROT_NONE,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
        if (got == want) {
            d->slot = slot;
            d->base = want;
            break;
        }
        if (got != MAP_FAILED) munmap(got, XS_SLOT_SIZE);
    }
    if (!d->base) {
        if (cfg->fixed_slot)
            snprintf(err, errlen,
                     "domain %s: direct-map base %#llx (slot %llu) is not free", d->name,
                     (unsigned long long)(XS_DIRECTMAP_BASE + cfg->slot * XS_SLOT_SIZE),
                     (unsigned long long)cfg->slot);
        else
            snprintf(err, errlen, "domain %s: no free address-space slot for guest RAM",
                     d->name);
        return -1;
    }
    if (mmap(d->base, d->ram_bytes, PROT_READ | PROT_WRITE | PROT_EXEC,
             MAP_SHARED | MAP_FIXED, d->memfd, 0) == MAP_FAILED) {
        snprintf(err, errlen, "domain %s: cannot map guest RAM: %s", d->name,
                 strerror(errno));
        return -1;
    }
    void *si = mmap(NULL, XS_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, d->memfd,
                    (off_t)d->ram_bytes);
    if (si == MAP_FAILED) {
        snprintf(err, errlen, "domain %s: cannot map shared_info: %s", d->name,
                 strerror(errno));
        return -1;
    }
    d->shared_info = si;
    return 0;
}

static void build_memmap(struct xs_domain *d)
{
    uint64_t special = XS_SPECIAL_PAGES * XS_PAGE_SIZE;
    d->memmap[0] = (struct hvm_memmap_table_entry){
        .addr = 0, .size = d->ram_bytes - special, .type = XEN_HVM_MEMMAP_TYPE_RAM};
    d->memmap[1] = (struct hvm_memmap_table_entry){.addr = d->ram_bytes - special,
                                                   .size = special,
                                                   .type = XEN_HVM_MEMMAP_TYPE_RESERVED};
    d->nr_memmap = 2;
}

static bool domid_in_use(const struct xs_sim *sim, domid_t id)
{
    for (unsigned i = 0; i < sim->nr_domains; i++)
        if (sim->domains[i]->domid == id) return true;
    return false;
}

/* As Xen: the next domid after the newest one, never 0 or a reserved one,
 * so a restored domain gets a new number. */
static domid_t next_domid(const struct xs_sim *sim)
{
    domid_t id = sim->last_domid;
    do
        id = (unsigned)id + 1 >= DOMID_FIRST_RESERVED ? 1 : (domid_t)(id + 1);
    while (domid_in_use(sim, id));
    return id;
}

struct xs_domain *xs_domain_alloc(struct xs_sim *sim, const struct xs_domain_config *cfg,
                                  char *err, size_t errlen)
{
    if (sim->nr_domains >= XS_MAX_DOMAINS) {
        snprintf(err, errlen, "too many domains (at most %d)", XS_MAX_DOMAINS);
        return NULL;
    }
    if (cfg->memory_mib < 1 || cfg->memory_mib > 65536) {
        snprintf(err, errlen, "domain %s: memory %" PRIu64 " MiB outside 1..65536",
                 cfg->name, cfg->memory_mib);
        return NULL;
    }
    if (cfg->vcpus < 1 || cfg->vcpus > XS_MAX_VCPUS) {
        snprintf(err, errlen, "domain %s: %u vCPUs outside 1..%d", cfg->name, cfg->vcpus,
                 XS_MAX_VCPUS);
        return NULL;
    }
    struct xs_domain *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->sim = sim;
    d->memfd = -1;
    d->index = sim->nr_domains;
    d->domid = next_domid(sim); /* 0 is Dom0: xensim itself */
    snprintf(d->name, sizeof(d->name), "%s", cfg->name);
    d->hc_mode = cfg->hypercalls;
    d->ram_bytes = cfg->memory_mib << 20;
    d->shared_info_gpfn = XS_NO_GPA;
    d->hypercall_page_gpa = XS_NO_GPA;
    d->end_state = XS_END_RUNNING;
    d->shutdown_code = -1;
    if (map_ram(d, cfg, err, errlen)) goto fail;
    build_memmap(d);
    d->nr_vcpus = cfg->vcpus;
    d->vcpus = calloc(cfg->vcpus, sizeof(*d->vcpus));
    if (!d->vcpus) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (unsigned i = 0; i < cfg->vcpus; i++) {
        struct xs_vcpu *v = &d->vcpus[i];
        v->dom = d;
        v->id = i;
        v->state = XS_VCPU_DOWN;
        v->runstate.state = RUNSTATE_offline;
        v->pvclock_stale = true;
        v->vcpu_info_gpa = XS_NO_GPA;
        v->sshot_deadline_ns = XS_NO_DEADLINE;
        v->periodic_next_ns = XS_NO_DEADLINE;
        v->poll_deadline_ns = XS_NO_DEADLINE;
    }
    if (xs_evtchn_domain_init(d, err, errlen)) goto fail;
    if (xs_gnttab_domain_init(d, err, errlen)) goto fail;
    return d;
fail:
    xs_domain_destroy(d);
    return NULL;
}

int xs_domain_publish(struct xs_domain *d, char *err, size_t errlen)
{
    struct xs_sim *sim = d->sim;
    xs_wallclock_init(d);
    if (xs_xenstore_domain_created(d, err, errlen)) return -1;
    if (xs_console_domain_created(d, err, errlen)) return -1; /* port after the store's */
    d->index = sim->nr_domains;
    sim->domains[sim->nr_domains++] = d;
    sim->last_domid = d->domid;
    uint64_t ta[3] = {d->ram_bytes, d->nr_vcpus, d->image.entry64};
    xs_trace_emit(&sim->trace, sim->vtime_ns, d->domid, 0, XS_TR_DOMAIN_CREATE, 0, ta, 3,
                  0, d->name, (uint32_t)strlen(d->name));
    return 0;
}

struct xs_domain *xs_domain_create(struct xs_sim *sim, const struct xs_domain_config *cfg,
                                   char *err, size_t errlen)
{
    struct xs_domain *d = xs_domain_alloc(sim, cfg, err, errlen);
    if (!d) return NULL;
    if (xs_image_open(&d->image, cfg->image_path, err, errlen)) goto fail;
    if (xs_image_load(&d->image, d->base, d->memmap[0].size, err, errlen)) goto fail;
    struct xs_start_info_layout lay;
    uint64_t si_pa = (d->image.paddr_hi + XS_PAGE_SIZE - 1) & ~(XS_PAGE_SIZE - 1);
    if (xs_start_info_build(d->base, d->memmap[0].size, si_pa,
                            cfg->cmdline ? cfg->cmdline : "", d->memmap, d->nr_memmap,
                            NULL, 0, &lay, err, errlen))
        goto fail;
    d->start_info_pa = lay.start_info_pa;
    /* vCPU 0 starts where the PVH trampoline would have arrived. */
    struct xs_vcpu *v0 = &d->vcpus[0];
    v0->regs.rip = (uint64_t)(uintptr_t)d->base + d->image.entry64;
    v0->regs.rbx = d->start_info_pa;
    v0->regs.rsi = (uint64_t)(uintptr_t)d->base;
    v0->regs.rflags = 0x2;
    v0->initialised = true;
    xs_vcpu_set_state(v0, XS_VCPU_RUNNABLE);
    if (xs_domain_publish(d, err, errlen)) goto fail;
    return d;
fail:
    xs_domain_destroy(d);
    return NULL;
}

void xs_sim_remove_domain(struct xs_sim *sim, struct xs_domain *d)
{
    unsigned n = 0;
    for (unsigned i = 0; i < sim->nr_domains; i++)
        if (sim->domains[i] != d) {
            sim->domains[n] = sim->domains[i];
            sim->domains[n]->index = n;
            n++;
        }
    sim->nr_domains = n;
}

void xs_sim_move_domain(struct xs_sim *sim, struct xs_domain *d, unsigned index)
{
    xs_sim_remove_domain(sim, d);
    if (index > sim->nr_domains) index = sim->nr_domains;
    for (unsigned i = sim->nr_domains; i > index; i--) {
        sim->domains[i] = sim->domains[i - 1];
        sim->domains[i]->index = i;
    }
    sim->domains[index] = d;
    d->index = index;
    sim->nr_domains++;
}

void xs_domain_destroy(struct xs_domain *d)
{
    if (!d) return;
    xs_pvdev_domain_destroyed(d);    /* its backends unmap before its grant table goes */
    xs_console_domain_destroyed(d);  /* before the store drops its nodes */
    xs_xenstore_domain_destroyed(d); /* while its ring page is still mapped */
    xs_evtchn_domain_destroy(d);     /* first: it may unbind other domains' ports */
    xs_gnttab_domain_destroy(d);     /* reports leaks, releases other domains' pins */
    if (d->base) munmap(d->base, XS_SLOT_SIZE);
    if (d->shared_info) munmap(d->shared_info, XS_PAGE_SIZE);
    if (d->memfd >= 0) close(d->memfd);
    xs_image_free(&d->image);
    free(d->vcpus);
    free(d->console);
    free(d->reports);
    free(d);
}

void xs_domain_end(struct xs_domain *d, int end_state)
{
    if (d->end_state != XS_END_RUNNING) return;
    xs_console_domain_ended(d); /* xenconsoled takes what is left on the ring */
    d->end_state = end_state;
    for (unsigned i = 0; i < d->nr_vcpus; i++)
        xs_vcpu_set_state(&d->vcpus[i], XS_VCPU_DOWN);
    struct xs_sim *sim = d->sim;
    uint64_t code = (uint64_t)(int64_t)d->shutdown_code;
    xs_trace_emit(&sim->trace, sim->vtime_ns, d->domid, 0, XS_TR_END, (unsigned)end_state,
                  &code, 1, 0, NULL, 0);
    xs_pvdev_domain_ended(d);    /* xensim's backends let go of its rings */
    xs_xenstore_domain_ended(d); /* @releaseDomain */
}

/* Console text is kept whole for scenario checks and echoed line by line. */
void xs_console_append(struct xs_domain *d, const char *buf, size_t len)
{
    struct xs_sim *sim = d->sim;
    xs_trace_emit(&sim->trace, sim->vtime_ns, d->domid, 0, XS_TR_CONSOLE, 0, NULL, 0, 0,
                  buf, (uint32_t)len);
    if (d->console_len + len > XS_CONSOLE_MAX) {
        if (!d->console_truncated)
            xs_log(sim,
                   "xensim: domain %u (%s): console output over %u bytes, rest dropped",
                   d->domid, d->name, XS_CONSOLE_MAX);
        d->console_truncated = true;
        return;
    }
    if (d->console_len + len + 1 > d->console_cap) {
        size_t cap = d->console_cap ? d->console_cap : 4096;
        while (cap < d->console_len + len + 1)
            cap *= 2;
        char *n = realloc(d->console, cap);
        if (!n) return;
        d->console = n;
        d->console_cap = cap;
    }
    memcpy(d->console + d->console_len, buf, len);
    d->console_len += len;
    d->console[d->console_len] = '\0';
    FILE *out = sim->cfg.console_out;
    for (;;) {
        char *nl = memchr(d->console + d->console_line_start, '\n',
                          d->console_len - d->console_line_start);
        if (!nl) break;
        size_t start = d->console_line_start, end = (size_t)(nl - d->console);
        if (out) {
            if (sim->cfg.console_prefix) fprintf(out, "%s| ", d->name);
            fwrite(d->console + start, 1, end - start + 1, out);
        }
        if (sim->cfg.console_log) { /* --console-log */
            if (sim->cfg.console_prefix) fprintf(sim->cfg.console_log, "%s| ", d->name);
            fwrite(d->console + start, 1, end - start + 1, sim->cfg.console_log);
        }
        d->console_line_start = end + 1;
    }
    if (out) fflush(out); /* whoever reads a pipe sees each line as it comes */
    if (sim->cfg.console_log) fflush(sim->cfg.console_log);
}
