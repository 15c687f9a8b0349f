/* xen_version: every sub-op, answered as a Xen 4.17 debug build would to an
 * unprivileged guest. */
#include <stdint.h>
#include <string.h>
#include <xen/version.h>
#include <xen/features.h>

#include "guest_mem.h"
#include "hypercall.h"

typedef long (*version_fn)(struct xs_vcpu *v, uint64_t arg);

static long copy_str(struct xs_vcpu *v, uint64_t arg, const char *s, size_t size)
{
    char buf[1024];
    memset(buf, 0, size);
    strncpy(buf, s, size - 1);
    return xs_copy_to_guest(v->dom, arg, buf, size);
}

static long ver_version(struct xs_vcpu *v, uint64_t arg)
{
    (void)v, (void)arg;
    return XS_XEN_MAJOR << 16 | XS_XEN_MINOR;
}

static long ver_extraversion(struct xs_vcpu *v, uint64_t arg)
{
    return copy_str(v, arg, XS_XEN_EXTRAVERSION, XEN_EXTRAVERSION_LEN);
}

static long ver_compile_info(struct xs_vcpu *v, uint64_t arg)
{
    xen_compile_info_t ci;
    memset(&ci, 0, sizeof(ci));
    /* Fixed strings: a run must not depend on when xensim was built. */
    strcpy(ci.compiler, "xensim");
    strcpy(ci.compile_by, "xensim");
    strcpy(ci.compile_domain, "xensim.invalid");
    strcpy(ci.compile_date, "Thu Jan  1 00:00:00 UTC 2026");
    return xs_copy_to_guest(v->dom, arg, &ci, sizeof(ci));
}

static long ver_capabilities(struct xs_vcpu *v, uint64_t arg)
{
    return copy_str(v, arg, "hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64",
                    sizeof(xen_capabilities_info_t));
}

static long ver_changeset(struct xs_vcpu *v, uint64_t arg)
{
    return copy_str(v, arg, "xensim", sizeof(xen_changeset_info_t));
}

static long ver_platform_parameters(struct xs_vcpu *v, uint64_t arg)
{
    xen_platform_parameters_t p = {.virt_start = HYPERVISOR_VIRT_START};
    return xs_copy_to_guest(v->dom, arg, &p, sizeof(p));
}

/* The XENFEAT bits xensim honours for a PVH guest. */
#define XS_FEATURES                                                                      \
    (1u << XENFEAT_auto_translated_physmap | 1u << XENFEAT_hvm_safe_pvclock |            \
     1u << XENFEAT_hvm_callback_vector)

static long ver_get_features(struct xs_vcpu *v, uint64_t arg)
{
    xen_feature_info_t fi;
    if (xs_copy_from_guest(v->dom, &fi, arg, sizeof(fi))) return -XEN_EFAULT;
    if (fi.submap_idx >= XENFEAT_NR_SUBMAPS) return -XEN_EINVAL;
    fi.submap = XS_FEATURES;
    return xs_copy_to_guest(v->dom, arg, &fi, sizeof(fi));
}

static long ver_pagesize(struct xs_vcpu *v, uint64_t arg)
{
    (void)v, (void)arg;
    return XS_PAGE_SIZE;
}

static long ver_guest_handle(struct xs_vcpu *v, uint64_t arg)
{
    xen_domain_handle_t h;
    memset(h, 0, sizeof(h));
    h[15] = (uint8_t)v->dom->domid; /* stable per domain */
    return xs_copy_to_guest(v->dom, arg, h, sizeof(h));
}

static long ver_privileged_only(struct xs_vcpu *v, uint64_t arg)
{
    (void)v, (void)arg;
    return -XEN_EPERM; /* XSM default policy: Dom0 only */
}

static const version_fn ops[] = {
    [XENVER_version] = ver_version,
    [XENVER_extraversion] = ver_extraversion,
    [XENVER_compile_info] = ver_compile_info,
    [XENVER_capabilities] = ver_capabilities,
    [XENVER_changeset] = ver_changeset,
    [XENVER_platform_parameters] = ver_platform_parameters,
    [XENVER_get_features] = ver_get_features,
    [XENVER_pagesize] = ver_pagesize,
    [XENVER_guest_handle] = ver_guest_handle,
    [XENVER_commandline] = ver_privileged_only,
    [XENVER_build_id] = ver_privileged_only,
};

long xs_hc_xen_version(struct xs_vcpu *v, const uint64_t a[5])
{
    uint64_t cmd = a[0];
    if (cmd >= sizeof(ops) / sizeof(ops[0]) || !ops[cmd]) return -XEN_ENOSYS;
    return ops[cmd](v, a[1]);
}
