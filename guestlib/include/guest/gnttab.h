/* Grant tables, the guest's client (v1 and v2).
 *
 * Granting (a frontend): the table's frames are placed in the guest's own
 * physmap with XENMEM_add_to_physmap (XENMAPSPACE_grant_table, and status
 * frames with XENMAPIDX_grant_table_status in v2), over pages taken from
 * the page allocator.  The table grows a frame at a time when the free list
 * runs dry.  Set up lazily on first use; the version comes from the command
 * line (gnttab=v1|v2, default v1) unless gnttab_init() chose one first.
 * Grant transfer (GNTTABOP_transfer) is not offered: Xen refuses it to
 * HVM/PVH guests.
 *
 * Using other domains' grants (a backend): map, unmap and copy.
 *
 * Functions returning long give 0 (or a reference, >= 0) or a negative Xen
 * errno (-XEN_EBUSY ...).  Functions returning int16_t give a GNTST_* code
 * from <xen/grant_table.h> (GNTST_okay is 0). */
#ifndef GUEST_GNTTAB_H
#define GUEST_GNTTAB_H
#include <guest/xen.h>

/* Set the table up with version 1 or 2 (0: from the command line).  Called
 * implicitly by the first grant; -XEN_EBUSY if it already ran with another
 * version, -XEN_ENOSYS without Xen. */
long gnttab_init(unsigned version);
unsigned gnttab_version(void); /* 0 before init */
unsigned gnttab_nr_frames(void);
unsigned gnttab_nr_free(void); /* references on the free list */

/* Grant domid access to guest frame gfn (the guest's own page); returns
 * the new reference, -XEN_ENOSPC when the table is full. */
long gnttab_grant_access(domid_t domid, uint64_t gfn, bool readonly);
/* The same for a page of the guest's direct map. */
long gnttab_grant_page(domid_t domid, const void *va, bool readonly);
/* v2 only: access to bytes [off, off + len) of gfn, for copying (a
 * sub-page grant cannot be mapped).  -XEN_EOPNOTSUPP in v1. */
long gnttab_grant_subpage(domid_t domid, uint64_t gfn, uint16_t off, uint16_t len,
                          bool readonly);
/* End access and free the reference.  -XEN_EBUSY, and nothing changes,
 * while the other domain still has the grant mapped or in use (GTF_reading
 * or GTF_writing in the entry (v1) or the status frame (v2)): retry after
 * it unmapped.  -XEN_EINVAL for a reference not granted through this API. */
long gnttab_end_access(grant_ref_t ref);
/* Is the other domain using the grant right now? */
bool gnttab_in_use(grant_ref_t ref);

/* References without a grant (reserved for later grant_access_ref calls),
 * and granting through one.  Refs 0..7 are Xen's reserved entries and never
 * handed out. */
long gnttab_alloc_ref(void);
void gnttab_free_ref(grant_ref_t ref);
long gnttab_grant_access_ref(grant_ref_t ref, domid_t domid, uint64_t gfn, bool readonly);
/* End access but keep the reference allocated. */
long gnttab_end_access_ref(grant_ref_t ref);

/* Change version: only while nothing is granted through this API (Xen also
 * refuses while other domains hold mappings: -XEN_EBUSY). */
long gnttab_set_version(unsigned version);

/* ---- using other domains' grants ---------------------------------------- */

/* Map grant ref of domain dom over the guest's page at va (page-aligned;
 * its own contents are hidden until the unmap). */
int16_t gnttab_map_grant(domid_t dom, grant_ref_t ref, void *va, bool readonly,
                         grant_handle_t *handle);
int16_t gnttab_unmap_grant(void *va, grant_handle_t handle);
/* GNTTABOP_copy between the guest's buffer and bytes [off, off + len) of
 * grant ref of dom (which must not cross the granted page). */
int16_t gnttab_copy_from_grant(domid_t dom, grant_ref_t ref, uint16_t off, void *dst,
                               uint16_t len);
int16_t gnttab_copy_to_grant(domid_t dom, grant_ref_t ref, uint16_t off, const void *src,
                             uint16_t len);
/* Xen's message for a GNTST_* code. */
const char *gnttab_status_name(int16_t status);
#endif
