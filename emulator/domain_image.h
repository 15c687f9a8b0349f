/* A suspended domain as data: everything a restore needs to build a new
 * domain that carries on where the old one stopped (docs/suspend.md).
 *
 * What is in it is what Xen's migration stream carries for an HVM/PVH
 * guest, plus the toolstack's view of the domain: guest RAM (every page,
 * as guest-physical frames 0..ram_bytes/4096-1), each vCPU's registers and
 * whether it is online, the HVM params, virtual time, and the domain's
 * configuration and devices.  What is NOT in it is what Xen does not
 * migrate either: event channels, grant table entries, vcpu_info
 * registrations, upcall vectors, timers, shared_info placement, the
 * xenstore connection and watches.  The guest rebuilds those when
 * SCHEDOP_shutdown(SHUTDOWN_suspend) returns 0.
 *
 * Guest code runs at host addresses (guest virtual == direct-map base +
 * guest physical), so register values such as rip and rsp are only
 * meaningful at the same direct-map base: the image records it, and a
 * restore asks for exactly that base (a restore in the same process after
 * the old domain is destroyed finds it free; so does a fresh process).
 *
 * The image owns its memory (ram, devices); xs_domain_image_free releases
 * it.  Nothing in it points into a simulation, so it can outlive the
 * domain, be written to a file (migstream*.c) and be restored in another
 * process. */
#ifndef XS_DOMAIN_IMAGE_H
#define XS_DOMAIN_IMAGE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xen/xen.h>
#include <xen/hvm/params.h>

#include "sim.h"

#define XS_IMAGE_PATH_MAX    1024 /* image path and command line */
#define XS_IMAGE_MAX_DEVICES 64
#define XS_IMAGE_DEVCFG_MAX  1200

/* One vCPU as Xen's HVM_CONTEXT would carry it (CPU registers), plus the
 * bits of virtual CPU state xensim tracks outside struct xs_regs. */
struct xs_image_vcpu {
    struct xs_regs regs; /* host-address values: valid at directmap_base */
    bool online;         /* runs after restore; false: down (VCPUOP_down) */
    bool initialised;    /* has a context: VCPUOP_up may start it */
    bool virt_if;        /* RFLAGS.IF as tracked through trapped cli/sti */
    uint64_t idt_base;   /* IDTR from the trapped lidt */
    uint16_t idt_limit;
};

/* A PV device the toolstack recreates for the new domain (xl keeps them
 * in the domain's configuration). */
struct xs_image_device {
    char devclass[XS_SCN_NAME_MAX]; /* "vbd", "vif", ... */
    unsigned id;                    /* the device id (virtual-device for vbd) */
    domid_t backend_domid;          /* 0: a backend inside xensim */
    /* The backend's configuration in the words of the scenario statement
     * that created it, space separated: for a vbd "size=4" (a memory disk,
     * MiB) or "path=/abs/disk.img", plus "readonly" and "rogue=KIND" when
     * set; for a vif "switch=NAME mac=MAC", plus "queues=N",
     * "suspend=freeze" and "pcap=\"/abs/file\"" when set.  "" for a
     * device whose backend is another guest. */
    char config[XS_IMAGE_DEVCFG_MAX];
};

struct xs_domain_image {
    /* ---- configuration (xl's domain config) ---- */
    char name[XS_SCN_NAME_MAX];
    char image_path[XS_IMAGE_PATH_MAX]; /* the kernel it booted (information) */
    char cmdline[XS_IMAGE_PATH_MAX];    /* information: the guest parsed it at boot */
    unsigned nr_vcpus;
    uint64_t ram_bytes; /* memory size; a multiple of 1 MiB */
    enum xs_hypercall_mode hc_mode;
    uint64_t directmap_base; /* host address of guest physical 0 */
    domid_t domid;           /* the domain it was captured from (information) */

    /* ---- guest memory (PAGE_DATA) ---- */
    uint8_t *ram; /* ram_bytes bytes: frame N at ram + N * 4096 */

    /* ---- vCPUs (HVM_CONTEXT) ---- */
    struct xs_image_vcpu *vcpus; /* nr_vcpus entries */
    /* The vCPU that made SCHEDOP_shutdown(SHUTDOWN_suspend): the restore
     * returns 0 from that call on it. */
    unsigned suspend_vcpu;

    /* ---- HVM params (HVM_PARAMS) ---- */
    uint64_t hvm_params[HVM_NR_PARAMS]; /* every param, as the domain had it */
    /* The hypercall page's frame (XS_NO_GPA: none).  Xen's page is position
     * independent and survives in RAM; xensim's direct stubs hold a host
     * address, so the restore fills the page again (guests re-install it
     * anyway). */
    uint64_t hypercall_page_gpa;

    /* ---- time (X86_TSC_INFO) ---- */
    uint64_t vtime_ns; /* the simulation's virtual time at capture */
    uint32_t tsc_khz;  /* XS_VTSC_KHZ: tsc = vtime_ns * tsc_khz / 1e6 */

    /* ---- devices (the toolstack's, not the guest's) ---- */
    unsigned nr_devices;
    struct xs_image_device devices[XS_IMAGE_MAX_DEVICES];
};

/* HVM params a restore takes from the image, as libxc's save lists them
 * (the rest -- the callback, the store and console event channels -- are
 * the guest's or the new toolstack's to set). */
bool xs_domain_image_param_saved(unsigned index);

/* Capture d, which must be suspended (it made SCHEDOP_shutdown with
 * SHUTDOWN_suspend and the toolstack has not resumed it): 0, or -1 with a
 * message in err (not suspended, out of memory).  img is overwritten; free
 * it with xs_domain_image_free either way. */
int xs_domain_image_capture(struct xs_domain *d, struct xs_domain_image *img, char *err,
                            size_t errlen);

/* Everything capture takes but guest RAM (img->ram stays NULL), of a
 * running or suspended domain: a live migration sends RAM itself, in
 * rounds (migrate.c).  While d runs, the vCPU registers and suspend_vcpu
 * mean nothing yet; the configuration does.  0, or -1 with err (d has
 * ended, out of memory). */
int xs_domain_image_capture_meta(struct xs_domain *d, struct xs_domain_image *img,
                                 char *err, size_t errlen);

/* Build a new domain from img in sim, as xl restore does: the next free
 * domid, fresh event channels and grant table, guest RAM at the same guest
 * physical addresses and the image's direct-map base, vCPUs as captured
 * (the suspending one returning 0 from SCHEDOP_shutdown), the image's HVM
 * params, then the toolstack's part (xenstore nodes, store ring and port,
 * console, the devices, backends in InitWait).  The new domain is added at
 * the end of sim->domains and is runnable.  Every field is checked (the
 * image may come from a file): NULL and a message in err on failure, with
 * nothing left behind.  If sim's virtual time is behind the image's (a
 * fresh process), it moves forward to it so guest time never goes back. */
struct xs_domain *xs_domain_image_restore(struct xs_sim *sim,
                                          const struct xs_domain_image *img, char *err,
                                          size_t errlen);

/* The same, without creating the devices (the in-process resume moves the
 * old domain's backends over, keeping memory disks). */
struct xs_domain *xs_domain_image_restore_nodev(struct xs_sim *sim,
                                                const struct xs_domain_image *img,
                                                char *err, size_t errlen);

/* Release what img owns and zero it. */
void xs_domain_image_free(struct xs_domain_image *img);
#endif
