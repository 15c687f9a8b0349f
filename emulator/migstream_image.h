/* A suspended domain's image (domain_image.h) as a libxc migration stream,
 * and back.  Xen's records carry what Xen would carry:
 *
 *   X86_CPUID_POLICY  leaves 0 and 1 as the guest saw them
 *   STATIC_DATA_END
 *   PAGE_DATA         every guest frame that is not all zeros, in batches
 *   X86_TSC_INFO      TSC mode "always emulate", 2 GHz, nsec = virtual time
 *   HVM_PARAMS        every non-zero param (the restore applies libxc's list)
 *   HVM_CONTEXT       Xen's HEADER, one CPU entry per vCPU with a context
 *                     (struct hvm_hw_cpu), END
 *   END
 *
 * and xensim's own state goes in optional records ahead of them, which a
 * reader that does not know them (Xen's) skips:
 *
 *   XENSIM_DOMAIN   the configuration: memory, vCPUs, direct-map base,
 *                   hypercall mode and page, the suspending vCPU, name,
 *                   kernel path, command line
 *   XENSIM_VCPU     per vCPU: online, initialised, virtual IF
 *   XENSIM_DEVICES  the toolstack's devices, one text line each
 *   XENSIM_TIME     virtual time, the run's seed and scheduler PRNG state
 *
 * Pages missing from the stream are zero in the restored domain. */
#ifndef XS_MIGSTREAM_IMAGE_H
#define XS_MIGSTREAM_IMAGE_H
#include <stddef.h>
#include <stdint.h>

#include "domain_image.h"
#include "migstream.h"
#include "prng.h"

#define XS_MS_XENSIM_VERSION 1u

/* XENSIM_DOMAIN: this, then name, image path and command line (no NULs). */
struct xs_ms_xensim_domain {
    uint32_t version; /* XS_MS_XENSIM_VERSION */
    uint32_t nr_vcpus;
    uint64_t ram_bytes;
    uint64_t directmap_base;
    uint64_t hypercall_page_gpa; /* XS_NO_GPA: not installed */
    uint32_t hc_mode;            /* enum xs_hypercall_mode */
    uint32_t suspend_vcpu;
    uint32_t domid; /* where it was saved from (information) */
    uint16_t name_len, image_path_len, cmdline_len, _pad0;
    uint32_t _pad1;
};

/* XENSIM_VCPU: a count, then one entry per vCPU. */
struct xs_ms_xensim_vcpus {
    uint32_t count;
    uint32_t _pad;
};
struct xs_ms_xensim_vcpu {
    uint32_t id;
    uint32_t flags;
};
#define XS_MS_VCPU_ONLINE      0x1u
#define XS_MS_VCPU_INITIALISED 0x2u
#define XS_MS_VCPU_VIRT_IF     0x4u /* the guest's IF (cli/sti tracking) */
#define XS_MS_VCPU_HOST_IF     0x8u /* IF in the saved native RFLAGS */
#define XS_MS_VCPU_FLAGS       0xfu

/* XENSIM_TIME */
struct xs_ms_xensim_time {
    uint64_t vtime_ns;
    uint64_t seed;    /* the saving run's --seed */
    uint64_t prng[4]; /* its scheduler's state at the save */
    uint64_t exits;   /* VM exits so far (information) */
};

/* XENSIM_LIVE: the sender's live-migration settings (information; the
 * record itself is what matters: it allows pages to come again). */
struct xs_ms_xensim_live {
    uint32_t version;    /* XS_MS_XENSIM_VERSION */
    uint32_t max_rounds; /* pre-copy rounds at most */
    uint64_t threshold;  /* dirty pages below which the sender stopped */
    uint64_t bandwidth;  /* bytes per virtual second */
    uint64_t start_ns;   /* virtual time the migration began */
};

/* XENSIM_SUSPEND: what XENSIM_DOMAIN could only guess while the domain
 * still ran. */
struct xs_ms_xensim_suspend {
    uint32_t suspend_vcpu; /* overrides XENSIM_DOMAIN's */
    uint32_t rounds;       /* pre-copy rounds sent */
    uint64_t hypercall_page_gpa;
    uint64_t suspended_ns; /* virtual time the guest suspended */
};

/* Simulation state that travels with a domain but is not part of it. */
struct xs_ms_sim_state {
    uint64_t seed;
    struct xs_prng prng;
    uint64_t exits;
    bool present; /* a XENSIM_TIME record was read */
    /* A live migration's stream (XENSIM_LIVE and XENSIM_SUSPEND read). */
    bool live;
    unsigned rounds;       /* pre-copy rounds */
    uint64_t suspended_ns; /* the guest suspended then; the stream's
                            * X86_TSC_INFO time is when it was all sent */
};

/* Write img as a complete stream through w.  st may be NULL.  0, or -1
 * with a message in err. */
int xs_ms_save_image(struct xs_ms_writer *w, const struct xs_domain_image *img,
                     const struct xs_ms_sim_state *st, char *err, size_t errlen);

/* Read a complete stream from r (opened, headers checked) into img, which
 * is overwritten; every record is checked, and the image must be complete
 * enough to restore.  st may be NULL.  0, or -1 with a message in err that
 * names the record (type, index, offset).  Free img either way. */
int xs_ms_load_image(struct xs_ms_reader *r, struct xs_domain_image *img,
                     struct xs_ms_sim_state *st, char *err, size_t errlen);

/* A live migration's stream (migrate.c) in two parts around its rounds
 * of PAGE_DATA (xs_ms_write_page_data).  The head, while the domain runs:
 * headers, XENSIM_DOMAIN (img's configuration; the vCPU that will suspend
 * is not known yet), XENSIM_LIVE, X86_CPUID_POLICY, STATIC_DATA_END.  The
 * tail, once it suspended and the last pages went: XENSIM_SUSPEND,
 * XENSIM_VCPU, XENSIM_DEVICES, XENSIM_TIME (st, may be NULL),
 * X86_TSC_INFO, HVM_PARAMS, HVM_CONTEXT, END.  img->ram is not used
 * (pages go as the rounds send them).  0, or -1 with a message in err. */
int xs_ms_save_live_head(struct xs_ms_writer *w, const struct xs_domain_image *img,
                         const struct xs_ms_xensim_live *live, char *err, size_t errlen);
int xs_ms_save_live_tail(struct xs_ms_writer *w, const struct xs_domain_image *img,
                         const struct xs_ms_sim_state *st,
                         const struct xs_ms_xensim_suspend *susp, char *err,
                         size_t errlen);
/* A stream from a descriptor (a pipe, a FIFO, a socket or a file), read
 * once, as it arrives. */
int xs_ms_load_fd(int fd, const char *name, struct xs_domain_image *img,
                  struct xs_ms_sim_state *st, char *err, size_t errlen);

/* Files: a save goes to PATH.tmp first and is renamed over PATH only when
 * complete, so a failed save leaves nothing (and an old PATH) behind. */
int xs_ms_save_file(const char *path, const struct xs_domain_image *img,
                    const struct xs_ms_sim_state *st, char *err, size_t errlen);
int xs_ms_load_file(const char *path, struct xs_domain_image *img,
                    struct xs_ms_sim_state *st, char *err, size_t errlen);
/* The direct-map base recorded in PATH's XENSIM_DOMAIN record, read without
 * loading the rest (0, or -1 if the file has none that can be read). */
int xs_ms_peek_base(const char *path, uint64_t *base);
#endif
