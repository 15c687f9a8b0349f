/* GNTTABOP_copy: copies between pages named by grant reference (another
 * domain's grant, full-page, sub-page or transitive in v2) or by the
 * caller's own frame number, and the same for xensim's backends.  The pin
 * a copy takes lasts only for the copy: xensim runs no guest code while a
 * hypercall is handled, so Xen's cached buffers across ops change nothing
 * the guest can see. */
#include <stdint.h>
#include <string.h>
#include <xen/xen.h>
#include <xen/errno.h>
#include <xen/grant_table.h>

#include "gnttab_impl.h"
#include "guest_mem.h"

#define PAGE XS_PAGE_SIZE

static bool pinned(const struct xs_gnttab_active *act)
{
    return act->pin_w || act->pin_r;
}

int xs_gnttab_acquire_for_copy(struct xs_domain *rd, grant_ref_t ref,
                               struct xs_domain *ld, bool readonly, bool allow_transitive,
                               struct xs_domain **owner, uint64_t *off, uint16_t *start,
                               uint16_t *length)
{
    struct xs_gnttab *rgt = rd->gnttab;
    domid_t ldom = ld ? ld->domid : 0;
    if (ref >= xs_gnttab_nr_entries(rgt)) return GNTST_bad_gntref;
    struct xs_gnttab_active *act = &rgt->active[ref];
    xs_gnttab_check_ended(rgt, ref, "copy");
    bool was = pinned(act);
    uint8_t pins = readonly ? act->pin_r : act->pin_w;
    if (was && (act->domid != ldom || pins >= XS_GNTTAB_PIN_LIMIT))
        return GNTST_general_error;
    bool need_status = !was || (!readonly && !act->pin_w);
    grant_entry_v2_t *e2 = rgt->version == 2 ? xs_gnttab_shared_v2(rgt, ref) : NULL;
    int rc;
    if (e2 && (e2->hdr.flags & GTF_type_mask) == GTF_transitive) {
        if (need_status && (rc = xs_gnttab_set_status(rgt, ref, readonly, false, ldom)))
            return rc;
        domid_t tdom = e2->transitive.trans_domid;
        grant_ref_t tref = e2->transitive.gref;
        struct xs_domain *td = NULL;
        /* One level only, never back to the granter itself. */
        if (allow_transitive && tdom != rd->domid) td = xs_gnttab_domain_by_id(rd, tdom);
        rc = GNTST_general_error;
        if (td) {
            struct xs_domain *o;
            uint64_t toff;
            uint16_t tstart, tlen;
            rc = xs_gnttab_acquire_for_copy(td, tref, rd, readonly, false, &o, &toff,
                                            &tstart, &tlen);
            /* Xen retries when the entry changed under an existing pin;
             * here it can only have changed between hypercalls, which is
             * the granter rewriting a grant in use. */
            if (!rc && was && (act->trans_dom != td || act->trans_gref != tref)) {
                xs_gnttab_release_for_copy(td, tref, readonly);
                rc = GNTST_general_error;
            }
            if (!rc && !was)
                *act = (struct xs_gnttab_active){.domid = ldom,
                                                 .holder = ld,
                                                 .is_sub_page = true,
                                                 .start = tstart,
                                                 .length = tlen,
                                                 .gfn = XS_GNTTAB_NO_GFN,
                                                 .off = toff,
                                                 .trans_dom = td,
                                                 .trans_gref = tref};
        }
        if (rc) {
            xs_gnttab_reduce_status(rgt, ref, readonly);
            return rc;
        }
    } else if (need_status) {
        if ((rc = xs_gnttab_set_status(rgt, ref, readonly, false, ldom))) return rc;
        uint64_t gfn;
        uint16_t s = 0, len = PAGE;
        bool sub = false;
        if (!e2) {
            gfn = xs_gnttab_shared_v1(rgt, ref)->frame;
        } else if (!(e2->hdr.flags & GTF_sub_page)) {
            gfn = e2->full_page.frame;
        } else {
            gfn = e2->sub_page.frame;
            s = e2->sub_page.page_off;
            len = e2->sub_page.length;
            sub = true;
        }
        uint64_t foff;
        if ((rc = xs_gnttab_frame_of_gfn(rd, gfn, &foff))) {
            xs_gnttab_reduce_status(rgt, ref, readonly);
            return rc;
        }
        if (!was)
            *act = (struct xs_gnttab_active){.domid = ldom,
                                             .holder = ld,
                                             .is_sub_page = sub,
                                             .start = s,
                                             .length = len,
                                             .gfn = gfn,
                                             .off = foff};
    }
    if (readonly)
        act->pin_r++;
    else
        act->pin_w++;
    *owner = act->trans_dom ? act->trans_dom : rd;
    *off = act->off;
    *start = act->start;
    *length = act->length;
    return GNTST_okay;
}

void xs_gnttab_release_for_copy(struct xs_domain *rd, grant_ref_t ref, bool readonly)
{
    struct xs_gnttab *rgt = rd->gnttab;
    struct xs_gnttab_active *act = &rgt->active[ref];
    struct xs_domain *td = act->trans_dom;
    grant_ref_t tref = act->trans_gref;
    if (readonly)
        act->pin_r--;
    else
        act->pin_w--;
    xs_gnttab_reduce_status(rgt, ref, readonly);
    if (td) xs_gnttab_release_for_copy(td, tref, readonly);
}

/* One side of a copy, claimed (Xen's gnttab_copy_claim_buf). */
struct copy_buf {
    struct xs_domain *rd; /* whose grant, or NULL for a frame of the caller */
    grant_ref_t ref;
    bool readonly;
    struct xs_domain *owner; /* whose memory the page is */
    uint64_t off;
    uint16_t start, len;
};

static int claim(struct xs_domain *ld, const struct gnttab_copy_ptr *p, bool gref,
                 bool readonly, struct copy_buf *b)
{
    /* Only DOMID_SELF may name a frame; a grant may be anyone's. */
    if (!gref && p->domid != DOMID_SELF) return GNTST_permission_denied;
    struct xs_domain *d =
        p->domid == DOMID_SELF ? ld : xs_gnttab_domain_by_id(ld, p->domid);
    if (!d) return GNTST_bad_domain;
    b->readonly = readonly;
    if (gref) {
        int rc = xs_gnttab_acquire_for_copy(d, p->u.ref, ld, readonly, true, &b->owner,
                                            &b->off, &b->start, &b->len);
        if (rc) return rc;
        b->rd = d;
        b->ref = p->u.ref;
        return GNTST_okay;
    }
    b->rd = NULL;
    b->owner = d;
    b->start = 0;
    b->len = PAGE;
    return xs_gnttab_frame_of_gfn(d, p->u.gmfn, &b->off);
}

static void release(struct copy_buf *b)
{
    if (b->rd) xs_gnttab_release_for_copy(b->rd, b->ref, b->readonly);
    b->rd = NULL;
}

static bool crosses_page(uint16_t offset, uint16_t len)
{
    return (unsigned)offset + len > PAGE;
}

/* Inside the part of the page the grant covers (sub-page grants). */
static int in_grant(uint16_t offset, uint16_t len, const struct copy_buf *b)
{
    if (offset < b->start || (unsigned)offset + len > (unsigned)b->start + b->len)
        return GNTST_general_error;
    return GNTST_okay;
}

static int16_t copy_one(struct xs_vcpu *v, const struct gnttab_copy *op)
{
    struct xs_domain *ld = v->dom;
    /* Both domains are looked up before either side is claimed. */
    bool sg = op->flags & GNTCOPY_source_gref, dg = op->flags & GNTCOPY_dest_gref;
    if (!sg && op->source.domid != DOMID_SELF) return GNTST_permission_denied;
    if (op->source.domid != DOMID_SELF && !xs_gnttab_domain_by_id(ld, op->source.domid))
        return GNTST_bad_domain;
    if (!dg && op->dest.domid != DOMID_SELF) return GNTST_permission_denied;
    if (op->dest.domid != DOMID_SELF && !xs_gnttab_domain_by_id(ld, op->dest.domid))
        return GNTST_bad_domain;
    struct copy_buf src = {0}, dst = {0};
    int rc = claim(ld, &op->source, sg, true, &src);
    if (rc) {
        release(&src);
        return (int16_t)rc;
    }
    rc = claim(ld, &op->dest, dg, false, &dst);
    /* Xen's gnttab_copy_buf: page bounds of both sides first. */
    if (!rc && (crosses_page(op->source.offset, op->len) ||
                crosses_page(op->dest.offset, op->len)))
        rc = GNTST_bad_copy_arg;
    if (!rc) rc = in_grant(op->source.offset, op->len, &src);
    if (!rc) rc = in_grant(op->dest.offset, op->len, &dst);
    if (!rc) {
        bool st, dt;
        uint8_t *s = xs_gnttab_frame_get(src.owner, src.off, &st);
        uint8_t *t = xs_gnttab_frame_get(dst.owner, dst.off, &dt);
        if (s && t)
            memmove(t + op->dest.offset, s + op->source.offset, op->len);
        else
            rc = GNTST_general_error;
        xs_gnttab_frame_put(s, st);
        xs_gnttab_frame_put(t, dt);
    }
    release(&dst);
    release(&src);
    if (!rc) ld->gnttab->stats.copies++;
    return (int16_t)rc;
}

long xs_gnttab_op_copy(struct xs_vcpu *v, uint64_t uop, unsigned count)
{
    struct xs_domain *d = v->dom;
    for (unsigned i = 0; i < count; i++) {
        uint64_t at = uop + (uint64_t)i * sizeof(struct gnttab_copy);
        struct gnttab_copy op;
        if (xs_copy_from_guest(d, &op, at, sizeof(op))) return -XEN_EFAULT;
        int16_t st = copy_one(v, &op);
        if (xs_copy_to_guest(d, at + offsetof(struct gnttab_copy, status), &st,
                             sizeof(st)))
            return -XEN_EFAULT;
    }
    return 0;
}

int xs_gnttab_backend_copy(struct xs_domain *granter, grant_ref_t ref, uint16_t offset,
                           void *buf, uint16_t len, bool to_grant)
{
    if (!granter->gnttab) return GNTST_bad_domain;
    struct copy_buf b = {.readonly = !to_grant};
    int rc = xs_gnttab_acquire_for_copy(granter, ref, NULL, !to_grant, true, &b.owner,
                                        &b.off, &b.start, &b.len);
    if (rc) return rc;
    b.rd = granter;
    b.ref = ref;
    rc = crosses_page(offset, len) ? GNTST_bad_copy_arg : in_grant(offset, len, &b);
    if (!rc) {
        bool temp;
        uint8_t *p = xs_gnttab_frame_get(b.owner, b.off, &temp);
        if (!p)
            rc = GNTST_general_error;
        else if (to_grant)
            memcpy(p + offset, buf, len);
        else
            memcpy(buf, p + offset, len);
        xs_gnttab_frame_put(p, temp);
    }
    release(&b);
    if (!rc) granter->gnttab->stats.copies++;
    return rc;
}
