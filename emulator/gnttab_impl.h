/* Private to the grant table files (gnttab.c: tables, frames, sub-op
 * registry, sanitizer; gnttab_map.c: maptrack, map and unmap;
 * gnttab_copy.c: copies). */
#ifndef XS_GNTTAB_IMPL_H
#define XS_GNTTAB_IMPL_H
#include <stdbool.h>
#include <stdint.h>
#include <xen/xen.h>
#include <xen/grant_table.h>

#include "gnttab.h"
#include "sim.h"

/* Xen's pin counters are 8 bits wide and refuse a new pin once the top bit
 * is set, so at most 128 pins of one kind per grant. */
#define XS_GNTTAB_PIN_LIMIT 128u
#define XS_GNTTAB_NR_FRAMES (XS_GNTTAB_MAX_FRAMES + XS_GNTTAB_MAX_STATUS_FRAMES)
#define XS_GNTTAB_HASH      256u /* buckets of the gfn -> mapping index */
#define XS_GNTTAB_NONE      UINT32_MAX
#define XS_GNTTAB_MT_CHUNK  256u /* maptrack grows a Xen frame's worth at a time */

/* Xen's active_grant_entry: the hypervisor's shadow of a grant in use. */
struct xs_gnttab_active {
    uint8_t pin_w, pin_r; /* writable and read-only pins (maps and copies) */
    bool is_sub_page;
    bool ended_reported; /* the sanitizer already reported an ended access */
    domid_t domid;       /* the domain holding the pins */
    uint16_t start, length;
    struct xs_domain *holder;    /* that domain; NULL for xensim (domain 0) */
    uint64_t gfn;                /* the granter's frame number at the first pin */
    uint64_t off;                /* its page in the granter's memfd */
    struct xs_domain *trans_dom; /* transitive grant being copied, or NULL */
    grant_ref_t trans_gref;
};

/* Xen's grant_mapping: one mapping this domain made of someone's grant. */
struct xs_gnttab_maptrack {
    uint32_t flags; /* GNTMAP_*; 0 = free */
    grant_ref_t ref;
    domid_t domid;             /* the granter */
    struct xs_domain *granter; /* NULL once the granter was destroyed */
    uint64_t gfn;              /* where it shows in this domain's physmap */
    uint64_t off;              /* the page in the granter's memfd */
    uint64_t rgfn;             /* the granter's frame number for it */
    uint32_t next;             /* free list, or chain of its gfn hash bucket */
};

/* A mapping made by one of xensim's backends. */
struct xs_gnttab_bmap {
    bool used, readonly;
    bool fixed; /* placed at the backend's address (xs_gnttab_backend_map_at) */
    grant_ref_t ref;
    void *ptr;
    uint32_t next_free;
};

struct xs_gnttab {
    struct xs_domain *d;
    unsigned version;   /* 1 or 2 */
    bool final_checked; /* xs_gnttab_final_check ran */
    unsigned nr_frames; /* shared frames in use (grown, never shrunk) */
    unsigned nr_status; /* status frames (v2; 0 in v1) */
    uint8_t *frames;    /* xensim's view of all frames, shared then status */
    uint64_t memfd_off; /* offset of frames in the domain's memfd */
    uint64_t frame_gfn[XS_GNTTAB_NR_FRAMES]; /* placement, or XS_GNTTAB_NO_GFN */
    struct xs_gnttab_active *active;         /* one per v1 entry of nr_frames */
    /* maptrack: this domain's mappings of grants (handles index it) */
    struct xs_gnttab_maptrack *mt;
    uint32_t mt_limit, mt_used, mt_free_head, mt_free_tail;
    uint32_t gfn_hash[XS_GNTTAB_HASH];
    unsigned nr_ro_maps;
    /* mappings of this domain's grants by xensim's backends */
    struct xs_gnttab_bmap *bm;
    uint32_t bm_limit, bm_free;
    struct xs_gnttab_stats stats;
};

/* ---- gnttab.c ------------------------------------------------------------ */

unsigned xs_gnttab_nr_entries(const struct xs_gnttab *gt);
grant_entry_header_t *xs_gnttab_shared_hdr(struct xs_gnttab *gt, grant_ref_t ref);
grant_entry_v1_t *xs_gnttab_shared_v1(struct xs_gnttab *gt, grant_ref_t ref);
grant_entry_v2_t *xs_gnttab_shared_v2(struct xs_gnttab *gt, grant_ref_t ref);
/* Where the GTF_reading/GTF_writing bits of ref live (v1 flags, v2 status). */
uint16_t *xs_gnttab_status(struct xs_gnttab *gt, grant_ref_t ref);
/* A domain of the simulation by real id (not DOMID_SELF), or NULL. */
struct xs_domain *xs_gnttab_domain_by_id(struct xs_domain *self, domid_t id);

/* Xen's get_paged_frame: the page guest frame gfn of d shows, as an offset
 * in d's memfd; GNTST_bad_page if d owns nothing there. */
int xs_gnttab_frame_of_gfn(struct xs_domain *d, uint64_t gfn, uint64_t *off);
/* A host pointer to memfd page off of d for xensim to read and write;
 * *temp says it is a temporary mapping to give back with
 * xs_gnttab_frame_put.  NULL if it cannot be mapped. */
uint8_t *xs_gnttab_frame_get(struct xs_domain *d, uint64_t off, bool *temp);
void xs_gnttab_frame_put(uint8_t *p, bool temp);

/* The physmap: show page off of memfd fd at d's guest frame gfn with
 * protection prot, or give gfn its own RAM page back (nothing past RAM). */
int xs_gnttab_physmap_show(struct xs_domain *d, uint64_t gfn, int fd, uint64_t off,
                           int prot);
void xs_gnttab_physmap_restore(struct xs_domain *d, uint64_t gfn);
/* gfn is about to show something else: special pages there lose their place. */
void xs_gnttab_unhook_special(struct xs_domain *d, uint64_t gfn);

/* Xen's _set_status: check the entry lets domid pin it (mapping: no
 * sub-page or transitive grants) and set GTF_reading/GTF_writing. */
int xs_gnttab_set_status(struct xs_gnttab *gt, grant_ref_t ref, bool readonly,
                         bool mapping, domid_t domid);
/* Xen's reduce_status_for_pin: drop status bits the pins no longer need. */
void xs_gnttab_reduce_status(struct xs_gnttab *gt, grant_ref_t ref, bool readonly);
/* Sanitizer: a pinned grant whose entry no longer grants access to the pin
 * holder is reported once per pinning. */
void xs_gnttab_check_ended(struct xs_gnttab *gt, grant_ref_t ref, const char *during);
void xs_gnttab_trace(struct xs_domain *d, unsigned sub, const uint64_t *args,
                     unsigned nargs);

/* ---- gnttab_map.c -------------------------------------------------------- */

long xs_gnttab_op_map(struct xs_vcpu *v, uint64_t uop, unsigned count);
long xs_gnttab_op_unmap(struct xs_vcpu *v, uint64_t uop, unsigned count);
/* The mapping index: which of d's maptrack entries shows at gfn. */
struct xs_gnttab_maptrack *xs_gnttab_mt_at_gfn(struct xs_gnttab *gt, uint64_t gfn);
/* Domain teardown: release d's mappings on their granters, orphan other
 * domains' mappings of d's grants, drop backend mappings. */
void xs_gnttab_release_all(struct xs_domain *d);

/* ---- gnttab_copy.c ------------------------------------------------------- */

long xs_gnttab_op_copy(struct xs_vcpu *v, uint64_t uop, unsigned count);
/* Xen's acquire_grant_for_copy / release_grant_for_copy: pin grant ref of
 * rd for a copy by ld (NULL: xensim, domain 0).  The page is at *off in
 * the memfd of *owner (rd, or the origin of a transitive grant), and the
 * grant covers [*start, *start + *length) of it. */
int xs_gnttab_acquire_for_copy(struct xs_domain *rd, grant_ref_t ref,
                               struct xs_domain *ld, bool readonly, bool allow_transitive,
                               struct xs_domain **owner, uint64_t *off, uint16_t *start,
                               uint16_t *length);
void xs_gnttab_release_for_copy(struct xs_domain *rd, grant_ref_t ref, bool readonly);
#endif
