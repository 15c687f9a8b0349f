/* Hypercall tests: a real domain built from the basic guest image (never
 * run), hypercalls made directly with xs_hypercall_call as a guest would
 * make them, arguments placed in guest RAM and passed as guest pointers.
 * Results are checked against what Xen 4.17 returns to an unprivileged HVM
 * guest, including the exact errno on every error path. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xen/xen.h>
#include <xen/errno.h>
#include <xen/event_channel.h>
#include <xen/features.h>
#include <xen/memory.h>
#include <xen/sched.h>
#include <xen/vcpu.h>
#include <xen/version.h>
#include <xen/hvm/hvm_op.h>
#include <xen/hvm/params.h>
#include <xensim/e820.h>

#include "decode.h"
#include "hypercall.h"
#include "sim.h"
#include "vmentry.h"
#include "unit.h"

#define MEM_MIB   64u
#define RAM_BYTES ((uint64_t)MEM_MIB << 20)
#define RAM_PAGES (RAM_BYTES / 4096)
#define PAGE      4096u
#define SCRATCH   0x800000ULL   /* guest physical area for argument structs */
#define NO_DOMID  ((domid_t)77) /* no such domain in these simulations */

static struct xs_sim sim;
static struct xs_domain *d;
static struct xs_vcpu *v0;
static FILE *console_file, *log_file;

static struct xs_domain *make_sim(struct xs_sim *s, FILE *console, FILE *log)
{
    const char *dir = getenv("XENSIM_GUEST_DIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/basic.elf", dir && *dir ? dir : "build/guests");
    struct xs_sim_config cfg = {.seed = 42, .console_out = console, .log = log};
    char err[512] = "";
    ck_assert_msg(xs_sim_init(s, &cfg, err, sizeof(err)) == 0, "xs_sim_init: %s", err);
    struct xs_domain_config dc = {.name = "hc",
                                  .image_path = path,
                                  .memory_mib = MEM_MIB,
                                  .vcpus = 1,
                                  .cmdline = "",
                                  .hypercalls = XS_HC_DIRECT};
    struct xs_domain *dom = xs_domain_create(s, &dc, err, sizeof(err));
    ck_assert_msg(dom, "xs_domain_create: %s (is XENSIM_GUEST_DIR set?)", err);
    ck_assert_uint_eq(dom->ram_bytes, RAM_BYTES);
    ck_assert_uint_eq(dom->nr_vcpus, 1);
    ck_assert_msg(dom->image.paddr_hi <= SCRATCH && dom->start_info_pa < SCRATCH,
                  "the guest image overlaps the test's scratch area");
    return dom;
}

static void setup(void)
{
    console_file = tmpfile();
    log_file = tmpfile();
    ck_assert_ptr_nonnull(console_file);
    ck_assert_ptr_nonnull(log_file);
    d = make_sim(&sim, console_file, log_file);
    v0 = xs_vcpu_of(d, 0);
    ck_assert_ptr_nonnull(v0);
}

static void teardown(void)
{
    xs_sim_destroy(&sim);
    fclose(console_file);
    fclose(log_file);
    d = NULL;
    v0 = NULL;
}

/* Guest virtual address (the direct map) of guest physical gpa. */
static uint64_t gva(uint64_t gpa)
{
    return (uint64_t)(uintptr_t)d->base + gpa;
}

static void *hp(uint64_t gpa)
{
    return d->base + gpa;
}

static long hc(unsigned nr, uint64_t a0, uint64_t a1, uint64_t a2)
{
    const uint64_t a[5] = {a0, a1, a2, 0, 0};
    return xs_hypercall_call(v0, nr, a);
}

/* Copy an argument struct to the scratch area; returns its guest pointer. */
static uint64_t put(const void *p, size_t len)
{
    memcpy(hp(SCRATCH), p, len);
    return gva(SCRATCH);
}

static void get(void *p, size_t len)
{
    memcpy(p, hp(SCRATCH), len);
}

/* Guest pointers no argument of 16 bytes or more may use. */
#define NR_BAD 6
static void bad_ptrs(uint64_t out[NR_BAD])
{
    out[0] = 0;
    out[1] = 0x1000;
    out[2] = gva(RAM_BYTES - 2); /* starts in RAM, ends past it */
    out[3] = gva(RAM_BYTES);
    out[4] = gva(0) - 8; /* just below the direct map */
    out[5] = ~0ULL;
}

static int all_bytes(const void *p, int c, size_t len)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < len; i++)
        if (b[i] != (uint8_t)c) return 0;
    return 1;
}

/* ---- registry ----------------------------------------------------------- */

START_TEST(unknown_hypercalls)
{
    ck_assert_int_eq(hc(64, 0, 0, 0), -XEN_ENOSYS);
    ck_assert_int_eq(hc(0xffff, 0, 0, 0), -XEN_ENOSYS);
    ck_assert_int_eq(hc(UINT_MAX, 0, 0, 0), -XEN_ENOSYS);
    ck_assert_int_eq(hc(11, 0, 0, 0), -XEN_ENOSYS); /* a hole in the numbering */
    ck_assert_int_eq(hc(__HYPERVISOR_arch_1, 0, 0, 0), -XEN_ENOSYS);
    /* Known to Xen, not provided by xensim. */
    ck_assert_int_eq(hc(__HYPERVISOR_mmu_update, 0, 0, 0), -XEN_ENOSYS);
    ck_assert_int_eq(hc(__HYPERVISOR_set_trap_table, 0, 0, 0), -XEN_ENOSYS);
    ck_assert_int_eq(hc(__HYPERVISOR_xsm_op, 0, 0, 0), -XEN_ENOSYS);
    ck_assert_int_eq(hc(__HYPERVISOR_hypfs_op, 0, 0, 0), -XEN_ENOSYS);
}
END_TEST

START_TEST(hypercall_names)
{
    ck_assert_str_eq(xs_hypercall_name(__HYPERVISOR_set_trap_table), "set_trap_table");
    ck_assert_str_eq(xs_hypercall_name(__HYPERVISOR_mmu_update), "mmu_update");
    ck_assert_str_eq(xs_hypercall_name(__HYPERVISOR_memory_op), "memory_op");
    ck_assert_str_eq(xs_hypercall_name(__HYPERVISOR_xen_version), "xen_version");
    ck_assert_str_eq(xs_hypercall_name(__HYPERVISOR_console_io), "console_io");
    ck_assert_str_eq(xs_hypercall_name(__HYPERVISOR_vcpu_op), "vcpu_op");
    ck_assert_str_eq(xs_hypercall_name(__HYPERVISOR_sched_op), "sched_op");
    ck_assert_str_eq(xs_hypercall_name(__HYPERVISOR_hvm_op), "hvm_op");
    ck_assert_str_eq(xs_hypercall_name(__HYPERVISOR_hypfs_op), "hypfs_op");
    ck_assert_ptr_null(xs_hypercall_name(11));
    ck_assert_ptr_null(xs_hypercall_name(__HYPERVISOR_hypfs_op + 1));
    ck_assert_ptr_null(xs_hypercall_name(64));
    ck_assert_ptr_null(xs_hypercall_name(0xffff));
    ck_assert_ptr_null(xs_hypercall_name(UINT_MAX));
}
END_TEST

/* The register convention: rax = number, rdi, rsi, rdx = arguments, result
 * in rax. */
START_TEST(dispatch_registers)
{
    v0->regs.rax = __HYPERVISOR_xen_version;
    v0->regs.rdi = XENVER_version;
    xs_hypercall_dispatch(v0);
    ck_assert_uint_eq(v0->regs.rax, 4 << 16 | 17);
    /* A number that only matches in its low bits is not that hypercall. */
    v0->regs.rax = 1ULL << 32 | __HYPERVISOR_xen_version;
    v0->regs.rdi = XENVER_version;
    xs_hypercall_dispatch(v0);
    ck_assert_int_eq((int64_t)v0->regs.rax, -XEN_ENOSYS);
    memcpy(hp(SCRATCH), "abc", 3);
    v0->regs.rax = __HYPERVISOR_console_io;
    v0->regs.rdi = CONSOLEIO_write;
    v0->regs.rsi = 3;
    v0->regs.rdx = gva(SCRATCH);
    xs_hypercall_dispatch(v0);
    ck_assert_uint_eq(v0->regs.rax, 0);
    ck_assert_uint_eq(d->console_len, 3);
    ck_assert_int_eq(memcmp(d->console, "abc", 3), 0);
}
END_TEST

/* ---- xen_version -------------------------------------------------------- */

START_TEST(version_values)
{
    ck_assert_int_eq(hc(__HYPERVISOR_xen_version, XENVER_version, 0, 0), 4 << 16 | 17);
    ck_assert_int_eq(hc(__HYPERVISOR_xen_version, XENVER_pagesize, 0, 0), 4096);

    uint8_t *buf = hp(SCRATCH);
    memset(buf, 0xaa, 2 * PAGE);
    ck_assert_int_eq(hc(__HYPERVISOR_xen_version, XENVER_extraversion, gva(SCRATCH), 0),
                     0);
    ck_assert_str_eq((const char *)buf, XS_XEN_EXTRAVERSION);
    ck_assert_str_eq((const char *)buf, ".0-xensim");
    size_t n = strlen((const char *)buf);
    ck_assert_msg(all_bytes(buf + n, 0, sizeof(xen_extraversion_t) - n),
                  "extraversion not zero padded");
    ck_assert_uint_eq(buf[sizeof(xen_extraversion_t)], 0xaa); /* nothing past it */

    memset(buf, 0xaa, 2 * PAGE);
    ck_assert_int_eq(hc(__HYPERVISOR_xen_version, XENVER_capabilities, gva(SCRATCH), 0),
                     0);
    ck_assert_ptr_nonnull(memchr(buf, 0, sizeof(xen_capabilities_info_t)));
    ck_assert_ptr_nonnull(strstr((const char *)buf, "hvm-3.0-x86_64"));
    ck_assert_uint_eq(buf[sizeof(xen_capabilities_info_t)], 0xaa);
}
END_TEST

START_TEST(version_features)
{
    xen_feature_info_t fi = {.submap_idx = 0, .submap = 0};
    ck_assert_int_eq(
        hc(__HYPERVISOR_xen_version, XENVER_get_features, put(&fi, sizeof(fi)), 0), 0);
    get(&fi, sizeof(fi));
    ck_assert_uint_eq(fi.submap_idx, 0);
    ck_assert_msg(fi.submap & 1u << XENFEAT_auto_translated_physmap,
                  "auto_translated_physmap missing: %#x", fi.submap);
    ck_assert_msg(fi.submap & 1u << XENFEAT_hvm_safe_pvclock,
                  "hvm_safe_pvclock missing: %#x", fi.submap);
    /* Only submap 0 exists; the guest's struct is left alone. */
    fi = (xen_feature_info_t){.submap_idx = XENFEAT_NR_SUBMAPS, .submap = 0xdeadbeef};
    ck_assert_int_eq(
        hc(__HYPERVISOR_xen_version, XENVER_get_features, put(&fi, sizeof(fi)), 0),
        -XEN_EINVAL);
    get(&fi, sizeof(fi));
    ck_assert_uint_eq(fi.submap, 0xdeadbeef);
    fi = (xen_feature_info_t){.submap_idx = 0xffffffff};
    ck_assert_int_eq(
        hc(__HYPERVISOR_xen_version, XENVER_get_features, put(&fi, sizeof(fi)), 0),
        -XEN_EINVAL);
}
END_TEST

START_TEST(version_denied_and_unknown)
{
    uint8_t *buf = hp(SCRATCH);
    memset(buf, 0xaa, sizeof(xen_commandline_t));
    ck_assert_int_eq(hc(__HYPERVISOR_xen_version, XENVER_commandline, gva(SCRATCH), 0),
                     -XEN_EPERM);
    ck_assert_int_eq(hc(__HYPERVISOR_xen_version, XENVER_build_id, gva(SCRATCH), 0),
                     -XEN_EPERM);
    ck_assert_msg(all_bytes(buf, 0xaa, sizeof(xen_commandline_t)),
                  "a denied sub-op wrote to the guest");
    ck_assert_int_eq(hc(__HYPERVISOR_xen_version, XENVER_build_id + 1, gva(SCRATCH), 0),
                     -XEN_ENOSYS);
    ck_assert_int_eq(hc(__HYPERVISOR_xen_version, 64, gva(SCRATCH), 0), -XEN_ENOSYS);
    ck_assert_int_eq(hc(__HYPERVISOR_xen_version, 0x7fffffff, gva(SCRATCH), 0),
                     -XEN_ENOSYS);
    ck_assert_int_eq(hc(__HYPERVISOR_xen_version, ~0ULL, gva(SCRATCH), 0), -XEN_ENOSYS);
}
END_TEST

START_TEST(version_efault)
{
    uint64_t bad[NR_BAD];
    bad_ptrs(bad);
    for (int i = 0; i < NR_BAD; i++) {
        ck_assert_int_eq(hc(__HYPERVISOR_xen_version, XENVER_extraversion, bad[i], 0),
                         -XEN_EFAULT);
        ck_assert_int_eq(hc(__HYPERVISOR_xen_version, XENVER_capabilities, bad[i], 0),
                         -XEN_EFAULT);
        ck_assert_int_eq(hc(__HYPERVISOR_xen_version, XENVER_get_features, bad[i], 0),
                         -XEN_EFAULT);
        ck_assert_int_eq(hc(__HYPERVISOR_xen_version, XENVER_compile_info, bad[i], 0),
                         -XEN_EFAULT);
    }
    /* 1 KiB of capabilities do not fit in the last 1000 bytes of RAM. */
    ck_assert_int_eq(
        hc(__HYPERVISOR_xen_version, XENVER_capabilities, gva(RAM_BYTES - 1000), 0),
        -XEN_EFAULT);
    /* Exactly at the end of RAM is fine. */
    ck_assert_int_eq(hc(__HYPERVISOR_xen_version, XENVER_extraversion,
                        gva(RAM_BYTES - sizeof(xen_extraversion_t)), 0),
                     0);
    ck_assert_str_eq((const char *)hp(RAM_BYTES - sizeof(xen_extraversion_t)),
                     XS_XEN_EXTRAVERSION);
    /* Sub-ops that take no buffer do not look at it. */
    ck_assert_int_eq(hc(__HYPERVISOR_xen_version, XENVER_version, 0, 0), 4 << 16 | 17);
}
END_TEST

/* ---- console_io --------------------------------------------------------- */

static size_t read_console_file(char *buf, size_t len)
{
    fflush(console_file);
    rewind(console_file);
    size_t n = fread(buf, 1, len - 1, console_file);
    buf[n] = '\0';
    return n;
}

START_TEST(console_write)
{
    memcpy(hp(SCRATCH), "hello, xen\n", 11);
    ck_assert_int_eq(hc(__HYPERVISOR_console_io, CONSOLEIO_write, 11, gva(SCRATCH)), 0);
    ck_assert_uint_eq(d->console_len, 11);
    ck_assert_int_eq(memcmp(d->console, "hello, xen\n", 11), 0);
    memcpy(hp(SCRATCH), "second", 6);
    ck_assert_int_eq(hc(__HYPERVISOR_console_io, CONSOLEIO_write, 6, gva(SCRATCH)), 0);
    ck_assert_uint_eq(d->console_len, 17);
    ck_assert_int_eq(memcmp(d->console, "hello, xen\nsecond", 17), 0);
    /* Complete lines reach the console output, the open one waits. */
    char out[64];
    read_console_file(out, sizeof(out));
    ck_assert_str_eq(out, "hello, xen\n");
    /* count is an unsigned int in Xen's ABI: the upper half is ignored. */
    memcpy(hp(SCRATCH), "!", 1);
    ck_assert_int_eq(
        hc(__HYPERVISOR_console_io, CONSOLEIO_write, 1ULL << 32 | 1, gva(SCRATCH)), 0);
    ck_assert_uint_eq(d->console_len, 18);
    ck_assert_int_eq(d->console[17], '!');
    /* Nothing to write: fine, whatever the pointer. */
    ck_assert_int_eq(hc(__HYPERVISOR_console_io, CONSOLEIO_write, 0, 0), 0);
    ck_assert_int_eq(hc(__HYPERVISOR_console_io, CONSOLEIO_write, 0, gva(SCRATCH)), 0);
    ck_assert_uint_eq(d->console_len, 18);
}
END_TEST

START_TEST(console_write_large)
{
    enum { N = 10000 }; /* more than one internal chunk */
    uint8_t *src = hp(SCRATCH);
    for (int i = 0; i < N; i++)
        src[i] = i % 100 == 99 ? '\n' : (uint8_t)('a' + i % 26);
    ck_assert_int_eq(hc(__HYPERVISOR_console_io, CONSOLEIO_write, N, gva(SCRATCH)), 0);
    ck_assert_uint_eq(d->console_len, N);
    ck_assert_int_eq(memcmp(d->console, src, N), 0);
}
END_TEST

START_TEST(console_write_bad_buffer)
{
    memcpy(hp(SCRATCH), "keep", 4);
    ck_assert_int_eq(hc(__HYPERVISOR_console_io, CONSOLEIO_write, 4, gva(SCRATCH)), 0);
    const struct {
        uint64_t buf, count;
    } bad[] = {
        {0, 5},
        {0x1000, 5},
        {gva(RAM_BYTES - 2), 5},
        {gva(RAM_BYTES - 3), 4}, /* straddles the end of RAM: all or nothing */
        {gva(SCRATCH), RAM_BYTES},
        {gva(0) - 1, 2},
        {~0ULL, 1},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(
            hc(__HYPERVISOR_console_io, CONSOLEIO_write, bad[i].count, bad[i].buf),
            -XEN_EFAULT);
        ck_assert_uint_eq(d->console_len, 4);
    }
    ck_assert_int_eq(memcmp(d->console, "keep", 4), 0);
}
END_TEST

START_TEST(console_other_cmds)
{
    /* No input on the hypervisor console: a read returns 0 characters. */
    ck_assert_int_eq(hc(__HYPERVISOR_console_io, CONSOLEIO_read, 16, gva(SCRATCH)), 0);
    ck_assert_int_eq(hc(__HYPERVISOR_console_io, 2, 16, gva(SCRATCH)), -XEN_ENOSYS);
    ck_assert_int_eq(hc(__HYPERVISOR_console_io, 99, 16, gva(SCRATCH)), -XEN_ENOSYS);
    ck_assert_uint_eq(d->console_len, 0);
}
END_TEST

/* ---- memory_op ----------------------------------------------------------- */

#define ENTRIES (SCRATCH + 0x100)
#define E820_SZ sizeof(struct e820_entry)

static long memory_map(unsigned nr, uint64_t buffer, unsigned *nr_out)
{
    struct xen_memory_map map = {.nr_entries = nr};
    set_xen_guest_handle(map.buffer, (void *)(uintptr_t)buffer);
    long rc = hc(__HYPERVISOR_memory_op, XENMEM_memory_map, put(&map, sizeof(map)), 0);
    get(&map, sizeof(map));
    if (nr_out) *nr_out = map.nr_entries;
    return rc;
}

static struct e820_entry entry_at(unsigned i)
{
    struct e820_entry e;
    memcpy(&e, hp(ENTRIES + i * E820_SZ), sizeof(e));
    return e;
}

START_TEST(memory_map_full)
{
    unsigned n;
    memset(hp(ENTRIES), 0xaa, (XS_MEMMAP_MAX + 2) * E820_SZ);
    ck_assert_int_eq(memory_map(XS_MEMMAP_MAX + 2, gva(ENTRIES), &n), 0);
    ck_assert_uint_ge(d->nr_memmap, 1);
    ck_assert_uint_eq(n, d->nr_memmap);
    uint64_t end = 0;
    for (unsigned i = 0; i < n; i++) {
        struct e820_entry e = entry_at(i);
        ck_assert_uint_eq(e.addr, d->memmap[i].addr);
        ck_assert_uint_eq(e.size, d->memmap[i].size);
        ck_assert_uint_eq(e.type, d->memmap[i].type);
        ck_assert_msg(e.addr >= end, "entry %u overlaps the one before", i);
        end = e.addr + e.size;
        ck_assert_uint_le(end, RAM_BYTES);
    }
    /* What the guest boots from: RAM at 0 that holds the kernel. */
    struct e820_entry first = entry_at(0);
    ck_assert_uint_eq(first.addr, 0);
    ck_assert_uint_eq(first.type, XEN_HVM_MEMMAP_TYPE_RAM);
    ck_assert_uint_ge(first.size, SCRATCH + PAGE);
    ck_assert_msg(all_bytes(hp(ENTRIES + n * E820_SZ), 0xaa, E820_SZ),
                  "wrote past the entries it reported");
}
END_TEST

START_TEST(memory_map_clamped)
{
    unsigned n;
    memset(hp(ENTRIES), 0xaa, (XS_MEMMAP_MAX + 2) * E820_SZ);
    ck_assert_int_eq(memory_map(1, gva(ENTRIES), &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(entry_at(0).addr, d->memmap[0].addr);
    ck_assert_uint_eq(entry_at(0).size, d->memmap[0].size);
    ck_assert_msg(all_bytes(hp(ENTRIES + E820_SZ), 0xaa, E820_SZ),
                  "wrote more entries than the guest had room for");
    /* Room for none: nothing written, any buffer. */
    ck_assert_int_eq(memory_map(0, 0, &n), 0);
    ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(memory_map_efault)
{
    unsigned n;
    ck_assert_int_eq(memory_map(XS_MEMMAP_MAX, 0x1000, &n), -XEN_EFAULT);
    ck_assert_int_eq(memory_map(XS_MEMMAP_MAX, 0, &n), -XEN_EFAULT);
    ck_assert_int_eq(memory_map(XS_MEMMAP_MAX, gva(RAM_BYTES - E820_SZ), &n),
                     -XEN_EFAULT);
    uint64_t bad[NR_BAD];
    bad_ptrs(bad);
    for (int i = 0; i < NR_BAD; i++)
        ck_assert_int_eq(hc(__HYPERVISOR_memory_op, XENMEM_memory_map, bad[i], 0),
                         -XEN_EFAULT);
}
END_TEST

static long add_to_physmap(domid_t domid, unsigned space, xen_ulong_t idx, xen_pfn_t gpfn)
{
    struct xen_add_to_physmap x = {
        .domid = domid, .space = space, .idx = idx, .gpfn = gpfn};
    return hc(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, put(&x, sizeof(x)), 0);
}

START_TEST(shared_info_placement)
{
    const uint64_t g1 = (SCRATCH >> 12) + 16, g2 = g1 + 1;
    memset(hp(g1 * PAGE), 0x5a, PAGE);
    memset(hp(g2 * PAGE), 0x6b, PAGE);
    ck_assert_uint_eq(d->shared_info_gpfn, XS_NO_GPA);
    d->shared_info->wc_sec = 0x12345678;
    d->shared_info->evtchn_pending[1] = 0xf0f0;
    d->shared_info->vcpu_info[0].arch.cr2 = 0xc0ffee;

    ck_assert_int_eq(add_to_physmap(DOMID_SELF, XENMAPSPACE_shared_info, 0, g1), 0);
    ck_assert_uint_eq(d->shared_info_gpfn, g1);
    shared_info_t *guest = hp(g1 * PAGE);
    ck_assert_int_eq(memcmp(guest, d->shared_info, PAGE), 0);
    ck_assert_uint_eq(guest->wc_sec, 0x12345678);
    /* One page seen from both sides. */
    guest->evtchn_mask[0] = 0x55;
    ck_assert_uint_eq(d->shared_info->evtchn_mask[0], 0x55);
    d->shared_info->wc_nsec = 999;
    ck_assert_uint_eq(guest->wc_nsec, 999);

    /* Moving it gives the old frame its RAM back. */
    ck_assert_int_eq(add_to_physmap(DOMID_SELF, XENMAPSPACE_shared_info, 0, g2), 0);
    ck_assert_uint_eq(d->shared_info_gpfn, g2);
    ck_assert_msg(all_bytes(hp(g1 * PAGE), 0x5a, PAGE), "RAM at the old frame lost");
    ck_assert_int_eq(memcmp(hp(g2 * PAGE), d->shared_info, PAGE), 0);
    /* The same frame again, and the domain naming itself by id. */
    ck_assert_int_eq(add_to_physmap(DOMID_SELF, XENMAPSPACE_shared_info, 0, g2), 0);
    ck_assert_int_eq(add_to_physmap(d->domid, XENMAPSPACE_shared_info, 0, g1), 0);
    ck_assert_uint_eq(d->shared_info_gpfn, g1);
    ck_assert_msg(all_bytes(hp(g2 * PAGE), 0x6b, PAGE), "RAM at the old frame lost");
    ck_assert_int_eq(memcmp(hp(g1 * PAGE), d->shared_info, PAGE), 0);
}
END_TEST

START_TEST(add_to_physmap_errors)
{
    const uint64_t g = (SCRATCH >> 12) + 16;
    memset(hp(g * PAGE), 0x5a, PAGE);
    ck_assert_int_eq(add_to_physmap(DOMID_SELF, XENMAPSPACE_shared_info, 1, g),
                     -XEN_EINVAL);
    ck_assert_int_eq(add_to_physmap(DOMID_SELF, 99, 0, g), -XEN_EINVAL);
    ck_assert_int_eq(add_to_physmap(DOMID_SELF, XENMAPSPACE_shared_info, 0, RAM_PAGES),
                     -XEN_EINVAL);
    ck_assert_int_eq(add_to_physmap(DOMID_SELF, XENMAPSPACE_shared_info, 0, ~0UL),
                     -XEN_EINVAL);
    ck_assert_int_eq(add_to_physmap(NO_DOMID, XENMAPSPACE_shared_info, 0, g), -XEN_ESRCH);
    uint64_t bad[NR_BAD];
    bad_ptrs(bad);
    for (int i = 0; i < NR_BAD; i++)
        ck_assert_int_eq(hc(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, bad[i], 0),
                         -XEN_EFAULT);
    /* None of it mapped anything. */
    ck_assert_uint_eq(d->shared_info_gpfn, XS_NO_GPA);
    ck_assert_msg(all_bytes(hp(g * PAGE), 0x5a, PAGE), "RAM changed by a failed call");
}
END_TEST

static long reservation_op(unsigned op, domid_t domid)
{
    struct xen_memory_domain md = {.domid = domid};
    return hc(__HYPERVISOR_memory_op, op, put(&md, sizeof(md)), 0);
}

START_TEST(reservations)
{
    ck_assert_int_eq(reservation_op(XENMEM_current_reservation, DOMID_SELF), RAM_PAGES);
    ck_assert_int_eq(reservation_op(XENMEM_maximum_reservation, DOMID_SELF), RAM_PAGES);
    ck_assert_int_eq(reservation_op(XENMEM_maximum_gpfn, DOMID_SELF), RAM_PAGES - 1);
    ck_assert_int_eq(reservation_op(XENMEM_current_reservation, d->domid), RAM_PAGES);
    ck_assert_int_eq(reservation_op(XENMEM_current_reservation, NO_DOMID), -XEN_ESRCH);
    ck_assert_int_eq(reservation_op(XENMEM_maximum_reservation, NO_DOMID), -XEN_ESRCH);
    ck_assert_int_eq(reservation_op(XENMEM_maximum_gpfn, NO_DOMID), -XEN_ESRCH);
    /* The argument is a 2-byte domid_t: the last byte of RAM is too little. */
    uint64_t bad[NR_BAD];
    bad_ptrs(bad);
    bad[2] = gva(RAM_BYTES - 1);
    for (int i = 0; i < NR_BAD; i++) {
        ck_assert_int_eq(
            hc(__HYPERVISOR_memory_op, XENMEM_current_reservation, bad[i], 0),
            -XEN_EFAULT);
        ck_assert_int_eq(hc(__HYPERVISOR_memory_op, XENMEM_maximum_gpfn, bad[i], 0),
                         -XEN_EFAULT);
    }
}
END_TEST

START_TEST(memory_op_unknown)
{
    ck_assert_int_eq(hc(__HYPERVISOR_memory_op, 63, gva(SCRATCH), 0), -XEN_ENOSYS);
    ck_assert_int_eq(hc(__HYPERVISOR_memory_op, 45, gva(SCRATCH), 0), -XEN_ENOSYS);
    ck_assert_int_eq(hc(__HYPERVISOR_memory_op, 45 | 3 << 6, gva(SCRATCH), 0),
                     -XEN_ENOSYS);
}
END_TEST

/* ---- hvm_op -------------------------------------------------------------- */

static long hvm_param(unsigned op, domid_t domid, uint32_t index, uint64_t *value)
{
    struct xen_hvm_param p = {.domid = domid, .index = index, .value = *value};
    long rc = hc(__HYPERVISOR_hvm_op, op, put(&p, sizeof(p)), 0);
    get(&p, sizeof(p));
    *value = p.value;
    return rc;
}

#define CALLBACK_VECTOR(v) ((uint64_t)HVM_PARAM_CALLBACK_TYPE_VECTOR << 56 | (v))

START_TEST(hvm_callback_irq)
{
    uint64_t val = CALLBACK_VECTOR(0xf3);
    ck_assert_int_eq(hvm_param(HVMOP_set_param, DOMID_SELF, HVM_PARAM_CALLBACK_IRQ, &val),
                     0);
    ck_assert_uint_eq(d->hvm_params[HVM_PARAM_CALLBACK_IRQ], CALLBACK_VECTOR(0xf3));
    val = 0;
    ck_assert_int_eq(hvm_param(HVMOP_get_param, DOMID_SELF, HVM_PARAM_CALLBACK_IRQ, &val),
                     0);
    ck_assert_uint_eq(val, CALLBACK_VECTOR(0xf3));
    /* The lowest vector that is not an exception. */
    val = CALLBACK_VECTOR(0x10);
    ck_assert_int_eq(hvm_param(HVMOP_set_param, d->domid, HVM_PARAM_CALLBACK_IRQ, &val),
                     0);
    ck_assert_uint_eq(d->hvm_params[HVM_PARAM_CALLBACK_IRQ], CALLBACK_VECTOR(0x10));
    /* Vector 5 is #BR.  Like Xen 4.17, HVMOP_set_param takes it as given
     * (only HVMOP_set_evtchn_upcall_vector checks for vectors below 0x10). */
    val = CALLBACK_VECTOR(5);
    ck_assert_int_eq(hvm_param(HVMOP_set_param, DOMID_SELF, HVM_PARAM_CALLBACK_IRQ, &val),
                     0);
    ck_assert_uint_eq(d->hvm_params[HVM_PARAM_CALLBACK_IRQ], CALLBACK_VECTOR(5));
    /* A GSI callback. */
    val = (uint64_t)HVM_PARAM_CALLBACK_TYPE_GSI << 56 | 9;
    ck_assert_int_eq(hvm_param(HVMOP_set_param, DOMID_SELF, HVM_PARAM_CALLBACK_IRQ, &val),
                     0);
    ck_assert_uint_eq(d->hvm_params[HVM_PARAM_CALLBACK_IRQ], 9);
}
END_TEST

START_TEST(hvm_param_permissions)
{
    uint64_t val = 0x1234;
    ck_assert_int_eq(hvm_param(HVMOP_set_param, DOMID_SELF, HVM_PARAM_STORE_PFN, &val),
                     -XEN_EPERM);
    ck_assert_uint_eq(d->hvm_params[HVM_PARAM_STORE_PFN], 0);
    /* The toolstack's value is readable. */
    d->hvm_params[HVM_PARAM_STORE_PFN] = 0xfeffc;
    val = 0;
    ck_assert_int_eq(hvm_param(HVMOP_get_param, DOMID_SELF, HVM_PARAM_STORE_PFN, &val),
                     0);
    ck_assert_uint_eq(val, 0xfeffc);
    /* Device-model parameters are not. */
    d->hvm_params[HVM_PARAM_IOREQ_SERVER_PFN] = 0xfe000;
    val = 0x77;
    ck_assert_int_eq(
        hvm_param(HVMOP_get_param, DOMID_SELF, HVM_PARAM_IOREQ_SERVER_PFN, &val),
        -XEN_EPERM);
    ck_assert_uint_eq(val, 0x77); /* not copied back */
    /* Settable by the guest: the store event channel. */
    val = 3;
    ck_assert_int_eq(hvm_param(HVMOP_set_param, DOMID_SELF, HVM_PARAM_STORE_EVTCHN, &val),
                     0);
    ck_assert_uint_eq(d->hvm_params[HVM_PARAM_STORE_EVTCHN], 3);
}
END_TEST

START_TEST(hvm_param_errors)
{
    uint64_t val = 1;
    ck_assert_int_eq(hvm_param(HVMOP_set_param, DOMID_SELF, HVM_NR_PARAMS, &val),
                     -XEN_EINVAL);
    ck_assert_int_eq(hvm_param(HVMOP_get_param, DOMID_SELF, HVM_NR_PARAMS, &val),
                     -XEN_EINVAL);
    ck_assert_int_eq(hvm_param(HVMOP_get_param, DOMID_SELF, UINT32_MAX, &val),
                     -XEN_EINVAL);
    val = CALLBACK_VECTOR(0xf3);
    ck_assert_int_eq(hvm_param(HVMOP_set_param, NO_DOMID, HVM_PARAM_CALLBACK_IRQ, &val),
                     -XEN_ESRCH);
    ck_assert_int_eq(hvm_param(HVMOP_get_param, NO_DOMID, HVM_PARAM_CALLBACK_IRQ, &val),
                     -XEN_ESRCH);
    ck_assert_uint_eq(d->hvm_params[HVM_PARAM_CALLBACK_IRQ], 0);
    uint64_t bad[NR_BAD];
    bad_ptrs(bad);
    for (int i = 0; i < NR_BAD; i++) {
        ck_assert_int_eq(hc(__HYPERVISOR_hvm_op, HVMOP_set_param, bad[i], 0),
                         -XEN_EFAULT);
        ck_assert_int_eq(hc(__HYPERVISOR_hvm_op, HVMOP_get_param, bad[i], 0),
                         -XEN_EFAULT);
        ck_assert_int_eq(hc(__HYPERVISOR_hvm_op, HVMOP_get_time, bad[i], 0), -XEN_EFAULT);
    }
    ck_assert_int_eq(hc(__HYPERVISOR_hvm_op, 0x7fff, gva(SCRATCH), 0), -XEN_ENOSYS);
}
END_TEST

START_TEST(hvm_get_time)
{
    sim.vtime_ns = 987654321;
    struct xen_hvm_get_time t = {.now = 1};
    ck_assert_int_eq(hc(__HYPERVISOR_hvm_op, HVMOP_get_time, put(&t, sizeof(t)), 0), 0);
    get(&t, sizeof(t));
    ck_assert_uint_eq(t.now, 987654321);
}
END_TEST

/* ---- sched_op ------------------------------------------------------------ */

static long shutdown_call(unsigned cmd, unsigned reason)
{
    struct sched_shutdown s = {.reason = reason};
    return hc(__HYPERVISOR_sched_op, cmd, put(&s, sizeof(s)), 0);
}

START_TEST(shutdown_invalid_reason)
{
    /* xensim policy per its design (Xen 4.17 passes the reason on unchecked). */
    ck_assert_int_eq(shutdown_call(SCHEDOP_shutdown, SHUTDOWN_MAX + 1), -XEN_EINVAL);
    ck_assert_int_eq(d->end_state, XS_END_RUNNING);
    ck_assert_int_eq(v0->state, XS_VCPU_RUNNABLE);
    uint64_t bad[NR_BAD];
    bad_ptrs(bad);
    for (int i = 0; i < NR_BAD; i++)
        ck_assert_int_eq(hc(__HYPERVISOR_sched_op, SCHEDOP_shutdown, bad[i], 0),
                         -XEN_EFAULT);
    ck_assert_int_eq(d->end_state, XS_END_RUNNING);
}
END_TEST

START_TEST(shutdown_reasons)
{
    const unsigned reason = (unsigned)_i;
    ck_assert_int_eq(shutdown_call(SCHEDOP_shutdown, reason), 0);
    /* Suspend parks the domain for the toolstack instead (test_suspend.c). */
    ck_assert_int_eq(d->end_state,
                     reason == SHUTDOWN_suspend ? XS_END_RUNNING : (int)reason);
    ck_assert(d->suspended == (reason == SHUTDOWN_suspend));
    ck_assert_int_eq(v0->state, XS_VCPU_DOWN);
    ck_assert_int_eq(v0->runstate.state, RUNSTATE_offline);
    ck_assert_int_eq(hc(__HYPERVISOR_vcpu_op, VCPUOP_is_up, 0, 0), 0);
}
END_TEST

START_TEST(shutdown_poweroff)
{
    ck_assert_int_eq(XS_END_POWEROFF, SHUTDOWN_poweroff);
    ck_assert_int_eq(shutdown_call(SCHEDOP_shutdown, SHUTDOWN_poweroff), 0);
    ck_assert_int_eq(d->end_state, XS_END_POWEROFF);
    for (unsigned i = 0; i < d->nr_vcpus; i++)
        ck_assert_int_eq(d->vcpus[i].state, XS_VCPU_DOWN);
    /* The first shutdown stands. */
    ck_assert_int_eq(shutdown_call(SCHEDOP_shutdown, SHUTDOWN_reboot), 0);
    ck_assert_int_eq(d->end_state, XS_END_POWEROFF);
}
END_TEST

START_TEST(shutdown_code)
{
    ck_assert_int_eq(shutdown_call(SCHEDOP_shutdown_code, SHUTDOWN_crash), 0);
    ck_assert_uint_eq(d->shutdown_code, SHUTDOWN_crash);
    /* It only records the code: the domain keeps running. */
    ck_assert_int_eq(d->end_state, XS_END_RUNNING);
    ck_assert_int_eq(v0->state, XS_VCPU_RUNNABLE);
    uint64_t bad[NR_BAD];
    bad_ptrs(bad);
    for (int i = 0; i < NR_BAD; i++)
        ck_assert_int_eq(hc(__HYPERVISOR_sched_op, SCHEDOP_shutdown_code, bad[i], 0),
                         -XEN_EFAULT);
}
END_TEST

START_TEST(sched_privileged)
{
    struct sched_remote_shutdown r = {.domain_id = d->domid, .reason = SHUTDOWN_poweroff};
    ck_assert_int_eq(
        hc(__HYPERVISOR_sched_op, SCHEDOP_remote_shutdown, put(&r, sizeof(r)), 0),
        -XEN_EPERM);
    ck_assert_int_eq(d->end_state, XS_END_RUNNING);
    struct sched_pin_override p = {.pcpu = 0};
    ck_assert_int_eq(
        hc(__HYPERVISOR_sched_op, SCHEDOP_pin_override, put(&p, sizeof(p)), 0),
        -XEN_EPERM);
    ck_assert_int_eq(hc(__HYPERVISOR_sched_op, 99, gva(SCRATCH), 0), -XEN_ENOSYS);
    ck_assert_int_eq(hc(__HYPERVISOR_sched_op, ~0ULL, gva(SCRATCH), 0), -XEN_ENOSYS);
}
END_TEST

#define PORTS (SCRATCH + 0x100)

static long poll_call(const evtchn_port_t *ports, unsigned nr, uint64_t timeout)
{
    if (nr) memcpy(hp(PORTS), ports, nr * sizeof(*ports));
    struct sched_poll p = {.nr_ports = nr, .timeout = timeout};
    set_xen_guest_handle(p.ports, (evtchn_port_t *)(uintptr_t)gva(PORTS));
    return hc(__HYPERVISOR_sched_op, SCHEDOP_poll, put(&p, sizeof(p)), 0);
}

static void set_pending(unsigned port)
{
    const unsigned w = sizeof(xen_ulong_t) * 8;
    d->shared_info->evtchn_pending[port / w] |= (xen_ulong_t)1 << (port % w);
}

START_TEST(poll_invalid)
{
    evtchn_port_t ports[129];
    for (unsigned i = 0; i < 129; i++)
        ports[i] = i;
    set_pending(0);
    /* More than 128 ports, even with one pending. */
    ck_assert_int_eq(poll_call(ports, 129, 0), -XEN_EINVAL);
    ck_assert_int_eq(v0->state, XS_VCPU_RUNNABLE);
    /* Ports the 2-level ABI does not have. */
    evtchn_port_t big = EVTCHN_2L_NR_CHANNELS;
    ck_assert_uint_eq(EVTCHN_2L_NR_CHANNELS, 4096);
    ck_assert_int_eq(poll_call(&big, 1, 0), -XEN_EINVAL);
    big = UINT32_MAX;
    ck_assert_int_eq(poll_call(&big, 1, 0), -XEN_EINVAL);
    ck_assert_int_eq(v0->state, XS_VCPU_RUNNABLE);
    /* Bad port list, bad argument. */
    struct sched_poll p = {.nr_ports = 1};
    set_xen_guest_handle(p.ports, (evtchn_port_t *)(uintptr_t)0x1000);
    ck_assert_int_eq(hc(__HYPERVISOR_sched_op, SCHEDOP_poll, put(&p, sizeof(p)), 0),
                     -XEN_EFAULT);
    set_xen_guest_handle(p.ports, (evtchn_port_t *)(uintptr_t)gva(RAM_BYTES - 2));
    ck_assert_int_eq(hc(__HYPERVISOR_sched_op, SCHEDOP_poll, put(&p, sizeof(p)), 0),
                     -XEN_EFAULT);
    uint64_t bad[NR_BAD];
    bad_ptrs(bad);
    for (int i = 0; i < NR_BAD; i++)
        ck_assert_int_eq(hc(__HYPERVISOR_sched_op, SCHEDOP_poll, bad[i], 0), -XEN_EFAULT);
    ck_assert_int_eq(v0->state, XS_VCPU_RUNNABLE);
}
END_TEST

/* Ports made pending the way Xen does it: bound IPI ports, then sent. */
static evtchn_port_t pending_ipi_port(void)
{
    struct evtchn_bind_ipi b = {.vcpu = 0};
    ck_assert_int_eq(
        hc(__HYPERVISOR_event_channel_op, EVTCHNOP_bind_ipi, put(&b, sizeof(b)), 0), 0);
    get(&b, sizeof(b));
    struct evtchn_send snd = {.port = b.port};
    ck_assert_int_eq(
        hc(__HYPERVISOR_event_channel_op, EVTCHNOP_send, put(&snd, sizeof(snd)), 0), 0);
    return b.port;
}

START_TEST(poll_pending_returns)
{
    evtchn_port_t p = pending_ipi_port();
    const evtchn_port_t a[] = {7, p};
    ck_assert_int_eq(poll_call(a, 2, 0), 0);
    ck_assert_int_eq(v0->state, XS_VCPU_RUNNABLE);
    const evtchn_port_t b[] = {p};
    ck_assert_int_eq(poll_call(b, 1, 0), 0);
    ck_assert_int_eq(v0->state, XS_VCPU_RUNNABLE);
    /* A bit the guest set itself in shared_info on a port that is not bound
     * is not an event: the poll waits. */
    set_pending(69);
    const evtchn_port_t c[] = {69};
    ck_assert_int_eq(poll_call(c, 1, 0), 0);
    ck_assert_int_eq(v0->state, XS_VCPU_POLLING);
}
END_TEST

START_TEST(poll_blocks)
{
    set_pending(3); /* not one of the ports polled */
    sim.vtime_ns = 5000;
    const evtchn_port_t a[] = {7, 4095};
    ck_assert_int_eq(poll_call(a, 2, 5000 + 123456), 0);
    ck_assert_int_eq(v0->state, XS_VCPU_POLLING);
    ck_assert_uint_eq(v0->poll_deadline_ns, 5000 + 123456);
    ck_assert_uint_eq(v0->nr_poll_ports, 2);
    ck_assert_uint_eq(v0->poll_ports[0], 7);
    ck_assert_uint_eq(v0->poll_ports[1], 4095);
    /* No timeout: no deadline. */
    xs_vcpu_set_state(v0, XS_VCPU_RUNNABLE);
    ck_assert_int_eq(poll_call(a, 1, 0), 0);
    ck_assert_int_eq(v0->state, XS_VCPU_POLLING);
    ck_assert_uint_eq(v0->poll_deadline_ns, XS_NO_DEADLINE);
    /* A timeout already past still wakes the vCPU: at the next timer check. */
    xs_vcpu_set_state(v0, XS_VCPU_RUNNABLE);
    ck_assert_int_eq(poll_call(a, 1, 100), 0);
    ck_assert_int_eq(v0->state, XS_VCPU_POLLING);
    ck_assert_uint_eq(v0->poll_deadline_ns, 100);
    xs_timers_run(&sim);
    ck_assert_int_eq(v0->state, XS_VCPU_RUNNABLE);
}
END_TEST

START_TEST(block_and_yield)
{
    struct vcpu_info *vi = xs_vcpu_info(v0);
    ck_assert_ptr_nonnull(vi);
    vi->evtchn_upcall_mask = 1;
    vi->evtchn_upcall_pending = 0;
    ck_assert_int_eq(hc(__HYPERVISOR_sched_op, SCHEDOP_block, 0, 0), 0);
    ck_assert_int_eq(v0->state, XS_VCPU_BLOCKED);
    ck_assert_uint_eq(vi->evtchn_upcall_mask, 0); /* block enables events */
    /* An upcall pending but not deliverable (no callback chosen, or IF
     * clear) does not stop it blocking, as for an HVM vCPU on Xen. */
    xs_vcpu_set_state(v0, XS_VCPU_RUNNABLE);
    vi->evtchn_upcall_mask = 1;
    vi->evtchn_upcall_pending = 1;
    v0->virt_if = true;
    ck_assert_int_eq(hc(__HYPERVISOR_sched_op, SCHEDOP_block, 0, 0), 0);
    ck_assert_int_eq(v0->state, XS_VCPU_BLOCKED);
    /* With a callback and IF set it returns without blocking. */
    xs_vcpu_set_state(v0, XS_VCPU_RUNNABLE);
    d->hvm_params[HVM_PARAM_CALLBACK_IRQ] =
        (uint64_t)HVM_PARAM_CALLBACK_TYPE_VECTOR << 56 | 0xf3;
    v0->virt_if = false;
    ck_assert_int_eq(hc(__HYPERVISOR_sched_op, SCHEDOP_block, 0, 0), 0);
    ck_assert_int_eq(v0->state, XS_VCPU_BLOCKED);
    xs_vcpu_set_state(v0, XS_VCPU_RUNNABLE);
    v0->virt_if = true;
    vi->evtchn_upcall_mask = 1;
    ck_assert_int_eq(hc(__HYPERVISOR_sched_op, SCHEDOP_block, 0, 0), 0);
    ck_assert_int_eq(v0->state, XS_VCPU_RUNNABLE);
    ck_assert_uint_eq(vi->evtchn_upcall_mask, 0);
    ck_assert_int_eq(hc(__HYPERVISOR_sched_op, SCHEDOP_yield, 0, 0), 0);
    ck_assert_int_eq(v0->state, XS_VCPU_RUNNABLE);
}
END_TEST

/* ---- vcpu_op --------------------------------------------------------------- */

START_TEST(vcpu_ids)
{
    ck_assert_int_eq(hc(__HYPERVISOR_vcpu_op, VCPUOP_is_up, 0, 0), 1);
    ck_assert_int_eq(hc(__HYPERVISOR_vcpu_op, VCPUOP_is_up, 1, 0), -XEN_ENOENT);
    ck_assert_int_eq(hc(__HYPERVISOR_vcpu_op, VCPUOP_is_up, 5, 0), -XEN_ENOENT);
    ck_assert_int_eq(hc(__HYPERVISOR_vcpu_op, VCPUOP_is_up, ~0ULL, 0), -XEN_ENOENT);
    ck_assert_int_eq(hc(__HYPERVISOR_vcpu_op, VCPUOP_get_runstate_info, 5, gva(SCRATCH)),
                     -XEN_ENOENT);
    struct vcpu_register_vcpu_info r = {.mfn = SCRATCH >> 12, .offset = 0};
    ck_assert_int_eq(
        hc(__HYPERVISOR_vcpu_op, VCPUOP_register_vcpu_info, 5, put(&r, sizeof(r))),
        -XEN_ENOENT);
    ck_assert_uint_eq(v0->vcpu_info_gpa, XS_NO_GPA);
    ck_assert_int_eq(hc(__HYPERVISOR_vcpu_op, 99, 0, gva(SCRATCH)), -XEN_ENOSYS);
}
END_TEST

static long register_vcpu_info(uint64_t mfn, uint32_t offset)
{
    struct vcpu_register_vcpu_info r = {.mfn = mfn, .offset = offset};
    return hc(__HYPERVISOR_vcpu_op, VCPUOP_register_vcpu_info, 0, put(&r, sizeof(r)));
}

START_TEST(vcpu_info_registration)
{
    struct vcpu_info *old = &d->shared_info->vcpu_info[0];
    ck_assert_ptr_eq(xs_vcpu_info(v0), old);
    old->evtchn_upcall_mask = 1;
    old->arch.cr2 = 0xc0ffee;
    old->time.version = 6;
    old->time.system_time = 123456789;
    old->time.tsc_to_system_mul = 0x80000000u;
    old->time.tsc_shift = -1;
    struct vcpu_info saved = *old;

    const uint64_t mfn = (SCRATCH >> 12) + 4, off = 64;
    memset(hp(mfn * PAGE), 0xee, PAGE);
    ck_assert_int_eq(register_vcpu_info(mfn, off), 0);
    struct vcpu_info *now = xs_vcpu_info(v0);
    ck_assert_ptr_eq(now, hp(mfn * PAGE + off));
    ck_assert_uint_eq(v0->vcpu_info_gpa, mfn * PAGE + off);
    /* The contents came along. */
    ck_assert_uint_eq(now->evtchn_upcall_mask, 1);
    ck_assert_int_eq(memcmp(&now->arch, &saved.arch, sizeof(saved.arch)), 0);
    ck_assert_int_eq(memcmp(&now->time, &saved.time, sizeof(saved.time)), 0);
    /* Nothing around it was touched. */
    ck_assert(all_bytes(hp(mfn * PAGE), 0xee, off));
    ck_assert(all_bytes(hp(mfn * PAGE + off + sizeof(struct vcpu_info)), 0xee,
                        PAGE - off - sizeof(struct vcpu_info)));

    /* Only once per vCPU. */
    ck_assert_int_eq(register_vcpu_info(mfn + 1, 0), -XEN_EINVAL);
    ck_assert_ptr_eq(xs_vcpu_info(v0), now);
    ck_assert_uint_eq(v0->vcpu_info_gpa, mfn * PAGE + off);
}
END_TEST

/* Guest physical 0 is an ordinary frame: vcpu_info placed there is used
 * (it once read as "not registered" and stayed in shared_info). */
START_TEST(vcpu_info_at_physical_zero)
{
    ck_assert_int_eq(register_vcpu_info(0, 0), 0);
    ck_assert_ptr_eq(xs_vcpu_info(v0), hp(0));
    ck_assert_int_eq(register_vcpu_info(0, 64), -XEN_EINVAL);
}
END_TEST

START_TEST(vcpu_info_registration_errors)
{
    struct vcpu_info *old = xs_vcpu_info(v0);
    ck_assert_int_eq(register_vcpu_info(RAM_PAGES, 0), -XEN_EINVAL);
    ck_assert_int_eq(register_vcpu_info(~0ULL, 0), -XEN_EINVAL);
    uint64_t bad[NR_BAD];
    bad_ptrs(bad);
    for (int i = 0; i < NR_BAD; i++)
        ck_assert_int_eq(hc(__HYPERVISOR_vcpu_op, VCPUOP_register_vcpu_info, 0, bad[i]),
                         -XEN_EFAULT);
    ck_assert_ptr_eq(xs_vcpu_info(v0), old);
    ck_assert_uint_eq(v0->vcpu_info_gpa, XS_NO_GPA);
    /* The failures did not use up the one registration. */
    ck_assert_int_eq(register_vcpu_info((SCRATCH >> 12) + 4, 0), 0);
}
END_TEST

static long runstate(struct vcpu_runstate_info *rs)
{
    memset(hp(SCRATCH), 0xaa, sizeof(*rs));
    long rc = hc(__HYPERVISOR_vcpu_op, VCPUOP_get_runstate_info, 0, gva(SCRATCH));
    get(rs, sizeof(*rs));
    return rc;
}

START_TEST(runstate_info)
{
    /* vCPU 0 is runnable from creation (vtime 0). */
    sim.vtime_ns = 1000;
    xs_vcpu_set_state(v0, XS_VCPU_BLOCKED);
    sim.vtime_ns = 3000;
    xs_vcpu_set_state(v0, XS_VCPU_RUNNABLE);
    sim.vtime_ns = 10000;
    struct vcpu_runstate_info rs, again;
    ck_assert_int_eq(runstate(&rs), 0);
    ck_assert_int_eq(rs.state, RUNSTATE_runnable);
    ck_assert_uint_eq(rs.state_entry_time, 3000);
    ck_assert_uint_eq(rs.time[RUNSTATE_blocked], 2000);
    ck_assert_uint_eq(rs.time[RUNSTATE_running], 0);
    ck_assert_uint_eq(rs.time[RUNSTATE_offline], 0);
    /* The current state's time so far is included. */
    ck_assert_uint_ge(rs.time[RUNSTATE_runnable], 7000);
    /* Asking does not change the accounting. */
    ck_assert_int_eq(runstate(&again), 0);
    ck_assert_int_eq(memcmp(&rs, &again, sizeof(rs)), 0);
    uint64_t bad[NR_BAD];
    bad_ptrs(bad);
    for (int i = 0; i < NR_BAD; i++)
        ck_assert_int_eq(hc(__HYPERVISOR_vcpu_op, VCPUOP_get_runstate_info, 0, bad[i]),
                         -XEN_EFAULT);
}
END_TEST

START_TEST(runstate_area)
{
    const uint64_t at = SCRATCH + 0x200;
    struct vcpu_register_runstate_memory_area a;
    memset(&a, 0, sizeof(a));
    a.addr.p = gva(at);
    memset(hp(at), 0xaa, sizeof(struct vcpu_runstate_info));
    ck_assert_int_eq(hc(__HYPERVISOR_vcpu_op, VCPUOP_register_runstate_memory_area, 0,
                        put(&a, sizeof(a))),
                     0);
    struct vcpu_runstate_info *area = hp(at);
    ck_assert_int_eq(area->state, RUNSTATE_runnable); /* written at once */
    sim.vtime_ns = 4000;
    xs_vcpu_set_state(v0, XS_VCPU_BLOCKED);
    ck_assert_int_eq(area->state, RUNSTATE_blocked); /* and kept up to date */
    ck_assert_uint_eq(area->state_entry_time, 4000);
    a.addr.p = 0x1000;
    ck_assert_int_eq(hc(__HYPERVISOR_vcpu_op, VCPUOP_register_runstate_memory_area, 0,
                        put(&a, sizeof(a))),
                     -XEN_EFAULT);
}
END_TEST

/* ---- hypercall page ------------------------------------------------------ */

#define HC_PAGE (SCRATCH + 0x10000)

START_TEST(hypercall_page_direct)
{
    ck_assert_int_eq(d->hc_mode, XS_HC_DIRECT);
    ck_assert_uint_eq(d->hypercall_page_gpa, ~0ULL);
    memset(hp(HC_PAGE), 0, PAGE);
    ck_assert_int_eq(xs_hypercall_page_fill(v0, HC_PAGE), 0);
    ck_assert_uint_eq(d->hypercall_page_gpa, HC_PAGE);
    const uint64_t target = (uint64_t)(uintptr_t)xs_hc_direct_entry;
    static const uint8_t jmp_rip[] = {0xff, 0x25, 0, 0, 0, 0};
    for (uint32_t i = 0; i < PAGE / 32; i++) {
        const uint8_t *s = hp(HC_PAGE + i * 32);
        uint32_t nr;
        uint64_t t;
        ck_assert_uint_eq(s[0], 0xb8); /* mov $i, %eax */
        memcpy(&nr, s + 1, 4);
        ck_assert_uint_eq(nr, i);
        ck_assert_int_eq(memcmp(s + 5, jmp_rip, sizeof(jmp_rip)), 0);
        memcpy(&t, s + 11, 8);
        ck_assert_uint_eq(t, target);
        ck_assert(all_bytes(s + 19, 0xcc, 32 - 19));
    }
    /* The slot decodes as the guest's CPU will run it. */
    struct xs_insn in;
    const uint8_t *s = hp(HC_PAGE + __HYPERVISOR_sched_op * 32);
    ck_assert_int_eq(xs_decode(sim.capstone, s, 32, gva(HC_PAGE), &in), 0);
    ck_assert_uint_eq(in.len, 5);
    ck_assert_str_eq(in.text, "mov eax, 0x1d");
    ck_assert_int_eq(xs_decode(sim.capstone, s + 5, 27, gva(HC_PAGE) + 5, &in), 0);
    ck_assert_uint_eq(in.len, 6);
    ck_assert_str_eq(in.text, "jmp qword ptr [rip]");
}
END_TEST

START_TEST(hypercall_page_vmcall)
{
    d->hc_mode = XS_HC_VMCALL;
    memset(hp(HC_PAGE), 0, PAGE);
    ck_assert_int_eq(xs_hypercall_page_fill(v0, HC_PAGE), 0);
    ck_assert_uint_eq(d->hypercall_page_gpa, HC_PAGE);
    /* Xen's HVM stub (mov $nr,%eax; vmcall; ret) with xensim's ud2 in front
     * of the vmcall, so that it traps on every host (docs/architecture.md). */
    static const uint8_t vmcall_ret[] = {0x0f, 0x0b, 0x0f, 0x01, 0xc1, 0xc3};
    for (uint32_t i = 0; i < PAGE / 32; i++) {
        const uint8_t *s = hp(HC_PAGE + i * 32);
        uint32_t nr;
        ck_assert_uint_eq(s[0], 0xb8);
        memcpy(&nr, s + 1, 4);
        ck_assert_uint_eq(nr, i);
        ck_assert_int_eq(memcmp(s + 5, vmcall_ret, sizeof(vmcall_ret)), 0);
        ck_assert(all_bytes(s + 11, 0xcc, 32 - 11));
    }
    /* What traps is what the decoder calls a vmcall. */
    struct xs_insn in;
    const uint8_t *s = hp(HC_PAGE + __HYPERVISOR_xen_version * 32);
    ck_assert_int_eq(xs_decode(sim.capstone, s, 32, gva(HC_PAGE), &in), 0);
    ck_assert_int_eq(in.kind, XS_TRAP_NONE);
    ck_assert_uint_eq(in.len, 5);
    ck_assert_int_eq(xs_decode(sim.capstone, s + 5, 27, gva(HC_PAGE) + 5, &in), 0);
    ck_assert_int_eq(in.kind, XS_TRAP_VMCALL);
    ck_assert_uint_eq(in.len, 5);
    /* Resuming after it lands on the ret. */
    ck_assert_uint_eq(s[5 + in.len], 0xc3);
}
END_TEST

START_TEST(hypercall_page_bad_gpa)
{
    memset(hp(HC_PAGE), 0x11, 2 * PAGE);
    ck_assert_int_eq(xs_hypercall_page_fill(v0, HC_PAGE + 8), -1);
    ck_assert_int_eq(xs_hypercall_page_fill(v0, HC_PAGE + PAGE / 2), -1);
    ck_assert(all_bytes(hp(HC_PAGE), 0x11, 2 * PAGE));
    ck_assert_int_eq(xs_hypercall_page_fill(v0, RAM_BYTES), -1);
    ck_assert_int_eq(xs_hypercall_page_fill(v0, RAM_BYTES - PAGE / 2), -1);
    ck_assert_int_eq(xs_hypercall_page_fill(v0, RAM_BYTES + PAGE), -1);
    ck_assert_int_eq(xs_hypercall_page_fill(v0, ~0ULL & ~(uint64_t)(PAGE - 1)), -1);
    ck_assert_uint_eq(d->hypercall_page_gpa, ~0ULL);
    /* The last page of RAM is fine. */
    ck_assert_int_eq(xs_hypercall_page_fill(v0, RAM_BYTES - PAGE), 0);
    ck_assert_uint_eq(d->hypercall_page_gpa, RAM_BYTES - PAGE);
    ck_assert_uint_eq(*(uint8_t *)hp(RAM_BYTES - PAGE), 0xb8);
}
END_TEST

/* ---- simulations one after another ------------------------------------- */

START_TEST(sims_in_sequence)
{
    FILE *log = tmpfile();
    ck_assert_ptr_nonnull(log);
    uint8_t *first_base = NULL;
    for (int round = 0; round < 3; round++) {
        struct xs_sim s;
        struct xs_domain *dom = make_sim(&s, NULL, log);
        struct xs_vcpu *v = xs_vcpu_of(dom, 0);
        if (!first_base) first_base = dom->base;
        /* The address-space slot of the last one is free again. */
        ck_assert_ptr_eq(dom->base, first_base);
        /* Nothing carried over from the previous round. */
        ck_assert_uint_eq(dom->console_len, 0);
        ck_assert_uint_eq(dom->shared_info_gpfn, ~0ULL);
        ck_assert(all_bytes(dom->base + SCRATCH, 0, 2 * PAGE));
        ck_assert_uint_eq(dom->shared_info->evtchn_pending[5], 0);
        const uint64_t a_ver[5] = {XENVER_version};
        ck_assert_int_eq(xs_hypercall_call(v, __HYPERVISOR_xen_version, a_ver),
                         4 << 16 | 17);
        /* Leave state behind for the next round to not see. */
        memcpy(dom->base + SCRATCH, "round", 5);
        const uint64_t a_con[5] = {CONSOLEIO_write, 5,
                                   (uint64_t)(uintptr_t)dom->base + SCRATCH};
        ck_assert_int_eq(xs_hypercall_call(v, __HYPERVISOR_console_io, a_con), 0);
        ck_assert_uint_eq(dom->console_len, 5);
        struct xen_add_to_physmap x = {.domid = DOMID_SELF,
                                       .space = XENMAPSPACE_shared_info,
                                       .gpfn = (SCRATCH >> 12) + 1};
        memcpy(dom->base + SCRATCH + 0x100, &x, sizeof(x));
        const uint64_t a_map[5] = {XENMEM_add_to_physmap,
                                   (uint64_t)(uintptr_t)dom->base + SCRATCH + 0x100};
        ck_assert_int_eq(xs_hypercall_call(v, __HYPERVISOR_memory_op, a_map), 0);
        dom->shared_info->evtchn_pending[5] = 0xabcdef;
        xs_sim_destroy(&s);
    }
    fclose(log);
}
END_TEST

/* ---- corner cases where xensim once differed from Xen 4.17 --------------
 * Each test asserts Xen's behaviour found by reading Xen's source. */

/* Xen fidelity (hc_hvm.c, guest_may_get): Xen 4.17's hvm_allow_get_param lets a
 * guest read only CALLBACK_IRQ, VM86_TSS(_SIZED), ACPI_IOPORTS_LOCATION,
 * VM_GENERATION_ID_ADDR, STORE_PFN/EVTCHN, CONSOLE_PFN/EVTCHN, ALTP2M and
 * X87_FIP_WIDTH; anything else is -EPERM (deprecated ones -EINVAL).  xensim
 * uses a deny list instead: it refuses ALTP2M and returns e.g. TIMER_MODE. */
START_TEST(xen_hvm_get_param_allow_list)
{
    uint64_t val = 0;
    ck_assert_int_eq(hvm_param(HVMOP_get_param, DOMID_SELF, HVM_PARAM_ALTP2M, &val), 0);
    ck_assert_int_eq(hvm_param(HVMOP_get_param, DOMID_SELF, HVM_PARAM_TIMER_MODE, &val),
                     -XEN_EPERM);
    ck_assert_int_eq(hvm_param(HVMOP_get_param, DOMID_SELF, HVM_PARAM_IDENT_PT, &val),
                     -XEN_EPERM);
}
END_TEST

/* Xen fidelity (hc_hvm.c, check_param): Xen checks index < HVM_NR_PARAMS before it
 * looks the domain up, so a bad index is -EINVAL whatever the domid; xensim
 * answers -ESRCH. */
START_TEST(xen_hvm_param_index_before_domain)
{
    uint64_t val = 0;
    ck_assert_int_eq(hvm_param(HVMOP_get_param, NO_DOMID, HVM_NR_PARAMS, &val),
                     -XEN_EINVAL);
    ck_assert_int_eq(hvm_param(HVMOP_set_param, NO_DOMID, HVM_NR_PARAMS, &val),
                     -XEN_EINVAL);
}
END_TEST

/* Xen fidelity (hc_sched.c, sched_shutdown / sched_shutdown_code): in Xen the first
 * SCHEDOP_shutdown_code wins (the code starts as SHUTDOWN_CODE_INVALID) and
 * domain_shutdown() reports that code rather than the reason passed to
 * SCHEDOP_shutdown.  Linux relies on it: its panic notifier sets
 * shutdown_code = crash, then the later poweroff/reboot is reported as a
 * crash.  xensim lets every call overwrite the code and ends the domain with
 * the SCHEDOP_shutdown reason. */
START_TEST(xen_shutdown_code_is_the_reason)
{
    ck_assert_int_eq(shutdown_call(SCHEDOP_shutdown_code, SHUTDOWN_crash), 0);
    ck_assert_int_eq(shutdown_call(SCHEDOP_shutdown_code, SHUTDOWN_reboot), 0);
    ck_assert_uint_eq(d->shutdown_code, SHUTDOWN_crash);
    ck_assert_int_eq(shutdown_call(SCHEDOP_shutdown, SHUTDOWN_poweroff), 0);
    ck_assert_int_eq(d->end_state, XS_END_CRASH);
}
END_TEST

/* Xen fidelity (hc_sched.c, sched_privileged): Xen's SCHEDOP_remote_shutdown copies
 * its argument (-EFAULT) and looks the domain up (-ESRCH) before the XSM
 * check (-EPERM); xensim answers -EPERM to everything. */
START_TEST(xen_remote_shutdown_order)
{
    struct sched_remote_shutdown r = {.domain_id = NO_DOMID, .reason = SHUTDOWN_poweroff};
    ck_assert_int_eq(
        hc(__HYPERVISOR_sched_op, SCHEDOP_remote_shutdown, put(&r, sizeof(r)), 0),
        -XEN_ESRCH);
    ck_assert_int_eq(hc(__HYPERVISOR_sched_op, SCHEDOP_remote_shutdown, 0x1000, 0),
                     -XEN_EFAULT);
}
END_TEST

/* Xen fidelity (hc_vcpu.c, vcpu_register_vcpu_info): Xen's map_vcpu_info (4.17) and
 * map_guest_area (later) return -ENXIO for an offset that makes vcpu_info
 * cross the page or is misaligned; xensim returns -EINVAL. */
START_TEST(xen_vcpu_info_bad_offset)
{
    const uint64_t mfn = (SCRATCH >> 12) + 4;
    ck_assert_int_eq(register_vcpu_info(mfn, PAGE - 8), -XEN_ENXIO);
    ck_assert_int_eq(register_vcpu_info(mfn, 3), -XEN_ENXIO);
    ck_assert_uint_eq(v0->vcpu_info_gpa, XS_NO_GPA);
}
END_TEST

/* Xen fidelity (hc_memory.c, mem_add_to_physmap): XENMAPSPACE_gmfn_foreign through
 * XENMEM_add_to_physmap is -ENOSYS in Xen ("only possible via
 * add_to_physmap_batch"), checked before the domain; xensim says -EINVAL. */
START_TEST(xen_add_to_physmap_foreign)
{
    ck_assert_int_eq(
        add_to_physmap(DOMID_SELF, XENMAPSPACE_gmfn_foreign, 0, (SCRATCH >> 12) + 16),
        -XEN_ENOSYS);
    ck_assert_int_eq(
        add_to_physmap(NO_DOMID, XENMAPSPACE_gmfn_foreign, 0, (SCRATCH >> 12) + 16),
        -XEN_ENOSYS);
}
END_TEST

/* Xen fidelity (hc_memory.c, reservation): Xen rejects a continuation start extent
 * (cmd >> 6) on current/maximum_reservation and maximum_gpfn with -EINVAL;
 * xensim masks it off and answers. */
START_TEST(xen_reservation_start_extent)
{
    struct xen_memory_domain md = {.domid = DOMID_SELF};
    ck_assert_int_eq(hc(__HYPERVISOR_memory_op, XENMEM_current_reservation | 1 << 6,
                        put(&md, sizeof(md)), 0),
                     -XEN_EINVAL);
}
END_TEST

/* Xen fidelity (vcpu.c runstate_enter, hc_vcpu.c vcpu_get_runstate_info): time spent
 * in a state entered at vtime 0 is never counted (state_entry_time == 0 is
 * taken to mean "no state yet"), so the sum of time[] falls behind system
 * time, which vcpu.h guarantees it does not ("The sum of these times is
 * guaranteed not to drift from system time").  Here vCPU 0 was runnable from
 * its creation at vtime 0 until 1000. */
START_TEST(xen_runstate_sum)
{
    sim.vtime_ns = 1000;
    xs_vcpu_set_state(v0, XS_VCPU_BLOCKED);
    sim.vtime_ns = 3000;
    xs_vcpu_set_state(v0, XS_VCPU_RUNNABLE);
    sim.vtime_ns = 10000;
    struct vcpu_runstate_info rs;
    ck_assert_int_eq(runstate(&rs), 0);
    ck_assert_uint_eq(rs.time[RUNSTATE_runnable], 1000 + 7000);
    ck_assert_uint_eq(rs.time[0] + rs.time[1] + rs.time[2] + rs.time[3], 10000);
}
END_TEST

Suite *hypercall_suite(void)
{
    Suite *s = suite_create("hypercall");

    TCase *plain = tcase_create("no_sim");
    tcase_add_test(plain, hypercall_names);
    tcase_add_test(plain, sims_in_sequence);
    tcase_set_timeout(plain, 60);
    suite_add_tcase(s, plain);

    TCase *tc = tcase_create("hypercalls");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, unknown_hypercalls);
    tcase_add_test(tc, dispatch_registers);
    tcase_add_test(tc, version_values);
    tcase_add_test(tc, version_features);
    tcase_add_test(tc, version_denied_and_unknown);
    tcase_add_test(tc, version_efault);
    tcase_add_test(tc, console_write);
    tcase_add_test(tc, console_write_large);
    tcase_add_test(tc, console_write_bad_buffer);
    tcase_add_test(tc, console_other_cmds);
    tcase_add_test(tc, memory_map_full);
    tcase_add_test(tc, memory_map_clamped);
    tcase_add_test(tc, memory_map_efault);
    tcase_add_test(tc, shared_info_placement);
    tcase_add_test(tc, add_to_physmap_errors);
    tcase_add_test(tc, reservations);
    tcase_add_test(tc, memory_op_unknown);
    tcase_add_test(tc, hvm_callback_irq);
    tcase_add_test(tc, hvm_param_permissions);
    tcase_add_test(tc, hvm_param_errors);
    tcase_add_test(tc, hvm_get_time);
    tcase_add_test(tc, shutdown_invalid_reason);
    tcase_add_loop_test(tc, shutdown_reasons, 0, SHUTDOWN_MAX + 1);
    tcase_add_test(tc, shutdown_poweroff);
    tcase_add_test(tc, shutdown_code);
    tcase_add_test(tc, sched_privileged);
    tcase_add_test(tc, poll_invalid);
    tcase_add_test(tc, poll_pending_returns);
    tcase_add_test(tc, poll_blocks);
    tcase_add_test(tc, block_and_yield);
    tcase_add_test(tc, vcpu_ids);
    tcase_add_test(tc, vcpu_info_registration);
    tcase_add_test(tc, vcpu_info_at_physical_zero);
    tcase_add_test(tc, vcpu_info_registration_errors);
    tcase_add_test(tc, runstate_info);
    tcase_add_test(tc, runstate_area);
    tcase_add_test(tc, hypercall_page_direct);
    tcase_add_test(tc, hypercall_page_vmcall);
    tcase_add_test(tc, hypercall_page_bad_gpa);
    suite_add_tcase(s, tc);

    /* Xen's behaviour where xensim currently differs (see each test). */
    TCase *xen = tcase_create("xen_fidelity");
    tcase_add_checked_fixture(xen, setup, teardown);
    tcase_set_timeout(xen, 60);
    tcase_add_test(xen, xen_hvm_get_param_allow_list);
    tcase_add_test(xen, xen_hvm_param_index_before_domain);
    tcase_add_test(xen, xen_shutdown_code_is_the_reason);
    tcase_add_test(xen, xen_remote_shutdown_order);
    tcase_add_test(xen, xen_vcpu_info_bad_offset);
    tcase_add_test(xen, xen_add_to_physmap_foreign);
    tcase_add_test(xen, xen_reservation_start_extent);
    tcase_add_test(xen, xen_runstate_sum);
    suite_add_tcase(s, xen);
    return s;
}
