/* Grant tables, the hypervisor side: each domain's table (v1 and v2, in
 * frames the guest places with XENMEM_add_to_physmap), GNTTABOP_* for
 * PVH guests, mapping another domain's granted page into a guest's physmap,
 * grant copies, an API for xensim's own backends (domain 0), and a
 * sanitizer that reports grants left mapped or access ended while mapped.
 * Semantics follow Xen 4.17 (common/grant_table.c, x86 HVM paths); the
 * differences are listed in docs/gnttab.md. */
#ifndef XS_GNTTAB_H
#define XS_GNTTAB_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xen/xen.h>
#include <xen/grant_table.h>

struct xs_domain;
struct xs_vcpu;

/* Xen's defaults: gnttab_max_frames=64, gnttab_max_maptrack_frames=1024
 * (of 256 handles each), a table starts with one frame. */
#define XS_GNTTAB_MAX_FRAMES     64u
#define XS_GNTTAB_INITIAL_FRAMES 1u
#define XS_GNTTAB_MAX_MAPTRACK   (1024u * 256u)
#define XS_GNTTAB_V1_PER_FRAME   (4096u / sizeof(grant_entry_v1_t))
#define XS_GNTTAB_V2_PER_FRAME   (4096u / sizeof(grant_entry_v2_t))
#define XS_GNTTAB_ST_PER_FRAME   (4096u / sizeof(grant_status_t))
/* Status frames a full v2 table needs (Xen's grant_to_status_frames). */
#define XS_GNTTAB_MAX_STATUS_FRAMES                                                      \
    ((XS_GNTTAB_MAX_FRAMES * XS_GNTTAB_V2_PER_FRAME + XS_GNTTAB_ST_PER_FRAME - 1) /      \
     XS_GNTTAB_ST_PER_FRAME)
/* What setup_table reports for a frame the guest has not placed: Xen's
 * INVALID_M2P_ENTRY, which the public headers do not name. */
#define XS_GNTTAB_NO_GFN (~0ULL)

/* The grant frames live in the domain's memfd after RAM and the
 * shared_info page: the shared frames, then the v2 status frames. */
uint64_t xs_gnttab_memfd_offset(const struct xs_domain *d);

/* Life cycle (domain.c).  Destroy reports leaks first (see below). */
int xs_gnttab_domain_init(struct xs_domain *d, char *err, size_t errlen);
void xs_gnttab_domain_destroy(struct xs_domain *d);

/* __HYPERVISOR_grant_table_op, with Xen's filter for HVM guests
 * (hvm_grant_table_op: other sub-ops are -ENOSYS).  Registered in
 * hypercall.c. */
long xs_hc_grant_table_op(struct xs_vcpu *v, const uint64_t a[5]);
/* Xen's do_grant_table_op without that filter (get_status_frames is only
 * reachable here: tests, and a PV mode if xensim ever has one). */
long xs_gnttab_op(struct xs_vcpu *v, unsigned cmd, uint64_t uop, unsigned count);

/* ---- physmap (hc_memory.c) ------------------------------------------------ */

/* XENMEM_add_to_physmap with XENMAPSPACE_grant_table: show shared frame idx
 * (or status frame idx & ~XENMAPIDX_grant_table_status in v2) at gpfn,
 * growing the table as Xen does.  0 or -XEN_errno. */
long xs_gnttab_add_to_physmap(struct xs_domain *d, uint64_t idx, uint64_t gpfn);
/* gpfn is about to show another special page (shared_info): a grant frame
 * there loses its place.  -XEN_EPERM if a grant mapping shows there. */
long xs_gnttab_physmap_claim(struct xs_domain *d, uint64_t gpfn);

/* ---- guest memory checks ------------------------------------------------ */

/* Does [gpa, gpa+len) touch a page the domain maps read-only from a grant?
 * xensim must not write there (Xen's copy_to_guest fails on such pages). */
bool xs_gnttab_gpa_readonly(struct xs_domain *d, uint64_t gpa, uint64_t len);
/* Write to guest RAM as Xen's copy_to_guest does: bytes falling on pages
 * mapped read-only from a grant are dropped (p2m_grant_map_ro discards
 * writes).  The range must be RAM. */
void xs_gnttab_write_discarding(struct xs_domain *d, uint64_t gpa, const void *src,
                                uint64_t len);
/* Does guest frame gfn show another domain's granted page?  Xen refuses
 * such frames where it wants the guest's own RAM (vcpu_info, FIFO event
 * pages: they are not p2m RAM). */
bool xs_gnttab_gfn_is_mapping(struct xs_domain *d, uint64_t gfn);
/* For crash reports: if gpa lies in a grant mapping, describe it. */
bool xs_gnttab_describe_gpa(struct xs_domain *d, uint64_t gpa, char *buf, size_t len);

/* ---- sanitizer ------------------------------------------------------------ */

/* Report (xensim log and XS_TR_GNTTAB_LEAK trace records) every mapping d
 * still holds of a grant, every grant of d still mapped by someone, and
 * every such grant whose access d has ended.  Nothing is released: device
 * teardown can call it to check it cleaned up.  Returns the number of
 * problems found. */
unsigned xs_gnttab_check_leaks(struct xs_domain *d);
/* The toolstack's seeding of reserved entry ref (< 8: GNTTAB_RESERVED_*),
 * as libxl's xc_dom_gnttab_seed does before the domain runs: full access
 * to gfn for domid.  -1 for a bad ref or frame. */
int xs_gnttab_seed(struct xs_domain *d, grant_ref_t ref, domid_t domid, uint64_t gfn);
/* The check a domain gets once as it is destroyed, or earlier when a
 * scenario run ends (so the verdict sees the reports); later calls do
 * nothing. */
void xs_gnttab_final_check(struct xs_domain *d);

/* ---- xensim's own backends (domain 0, no physmap) ------------------------- */

/* Map grant ref of domain granter for a backend inside xensim; the grant
 * must name domain 0.  *ptr is a host mapping of the page (read-only
 * mappings fault on write).  Returns a GNTST_* code. */
int xs_gnttab_backend_map(struct xs_domain *granter, grant_ref_t ref, bool readonly,
                          void **ptr, grant_handle_t *handle);
/* The same at addr, a page-aligned address inside a region the backend
 * reserved (a multi-page ring needs one contiguous view); the unmap leaves
 * an inaccessible page there, so the reservation stays whole. */
int xs_gnttab_backend_map_at(struct xs_domain *granter, grant_ref_t ref, bool readonly,
                             void *addr, grant_handle_t *handle);
int xs_gnttab_backend_unmap(struct xs_domain *granter, grant_handle_t handle);
/* GNTTABOP_copy between a grant of granter (ref, offset) and a host buffer:
 * into the grant when to_grant, else out of it.  Returns a GNTST_* code. */
int xs_gnttab_backend_copy(struct xs_domain *granter, grant_ref_t ref, uint16_t offset,
                           void *buf, uint16_t len, bool to_grant);

/* ---- queries ------------------------------------------------------------- */

unsigned xs_gnttab_version(const struct xs_domain *d);
unsigned xs_gnttab_nr_frames(const struct xs_domain *d);
struct xs_gnttab_stats {
    /* Successful ops the domain made; xensim's backends' ops count on the
     * domain whose grants they used. */
    uint64_t maps, unmaps, copies;
    uint64_t leaks;              /* problems xs_gnttab_check_leaks found */
    uint64_t ended_while_mapped; /* access ended while the grant was mapped */
};
const struct xs_gnttab_stats *xs_gnttab_stats(const struct xs_domain *d);
#endif
