/* basic: boots, prints a summary of what it found, and powers off.
 *
 * Lines starting "boot:", "cmdline:", "alloc:" and "basic:" describe the
 * guest itself and read the same on Xen, xensim and bare QEMU; "xen:",
 * "time:", "memmap:" and "mem:" describe the platform.
 *
 * Command-line switches exercise failure paths on purpose:
 *   fault=pf|ud|gp|de|bp|syscall   take that exception after the summary
 *   irq=cli                use real cli/sti instead of the vcpu_info mask */
#include <guest/kernel.h>
#include <guest/arch.h>
#include <guest/hypercall.h>
#include <guest/mm.h>
#include <guest/irq.h>
#include <guest/time.h>
#include <guest/printk.h>
#include <guest/string.h>

static const char *memtype(uint32_t t)
{
    switch (t) {
    case XEN_HVM_MEMMAP_TYPE_RAM:
        return "ram";
    case XEN_HVM_MEMMAP_TYPE_RESERVED:
        return "reserved";
    case XEN_HVM_MEMMAP_TYPE_ACPI:
        return "acpi";
    case XEN_HVM_MEMMAP_TYPE_NVS:
        return "nvs";
    default:
        return "other";
    }
}

/* Days since 1970-01-01 to a civil date (proleptic Gregorian). */
static void civil_date(uint64_t days, unsigned *y, unsigned *m, unsigned *d)
{
    uint64_t z = days + 719468, era = z / 146097, doe = z - era * 146097;
    uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = (unsigned)(yoe + era * 400 + (*m <= 2));
}

static void summary_boot(void)
{
    const struct hvm_start_info *si = boot.start_info;
    printk("boot: pvh start_info magic=%#x version=%u modules=%u\n", si->magic,
           si->version, si->nr_modules);
    printk("boot: kernel at physical %#lx-%#lx, running at %#lx\n",
           va_to_pa(__image_start), va_to_pa(__image_end),
           (uint64_t)(uintptr_t)__image_start);
    printk("cmdline: %s\n", boot.cmdline);
}

static void summary_memory(void)
{
    uint64_t usable = 0;
    printk("memmap: %u entries from %s\n", boot.nr_memmap, boot.memmap_source);
    for (unsigned i = 0; i < boot.nr_memmap; i++) {
        const struct hvm_memmap_table_entry *e = &boot.memmap[i];
        if (!e->size)
            printk("memmap: [%#018lx] empty %s entry\n", e->addr, memtype(e->type));
        else
            printk("memmap: [%#018lx-%#018lx] %s\n", e->addr, e->addr + e->size - 1,
                   memtype(e->type));
        if (e->type == XEN_HVM_MEMMAP_TYPE_RAM) usable += e->size;
    }
    printk("mem: %lu KiB usable, %lu pages free for allocation\n", usable >> 10,
           page_alloc_free_count());
}

/* Allocate a batch, check the pages are distinct, zeroed and writable,
 * free them, and check the free count comes back. */
static void selftest_alloc(void)
{
    enum { N = 64 };
    void *pages[N];
    uint64_t before = page_alloc_free_count();
    for (int i = 0; i < N; i++) {
        pages[i] = page_alloc();
        if (!pages[i]) panic("alloc: out of pages after %d", i);
        const uint8_t *p = pages[i];
        for (unsigned j = 0; j < PAGE_SIZE; j++)
            if (p[j]) panic("alloc: page %p not zeroed", pages[i]);
        memset(pages[i], i + 1, PAGE_SIZE);
    }
    for (int i = 0; i < N; i++)
        if (*(uint8_t *)pages[i] != i + 1)
            panic("alloc: page %d shared with another allocation", i);
    for (int i = 0; i < N; i++)
        page_free(pages[i]);
    if (page_alloc_free_count() != before)
        panic("alloc: free count %lu after freeing, expected %lu",
              page_alloc_free_count(), before);
    printk("alloc: self-test ok (%d pages allocated, distinct, zeroed, freed)\n", N);
}

static void summary_xen(void)
{
    if (!boot.xen) {
        printk("xen: not found (no Xen CPUID leaves)\n");
        return;
    }
    char extra[XEN_EXTRAVERSION_LEN];
    xen_capabilities_info_t caps;
    long ver = HYPERVISOR_xen_version(XENVER_version, NULL);
    HYPERVISOR_xen_version(XENVER_extraversion, extra);
    HYPERVISOR_xen_version(XENVER_capabilities, caps);
    printk("xen: found at CPUID %#x, version %ld.%ld%s\n", boot.xen_leaf_base, ver >> 16,
           ver & 0xffff, extra);
    printk("xen: capabilities %s\n", caps);
    printk("xen: hypercall page at physical %#lx via MSR %#x\n", va_to_pa(hypercall_page),
           boot.hypercall_msr);
    printk("xen: features %#x%s%s%s\n", boot.features[0],
           boot.features[0] & (1u << XENFEAT_auto_translated_physmap)
               ? " auto_translated_physmap"
               : "",
           boot.features[0] & (1u << XENFEAT_hvm_safe_pvclock) ? " hvm_safe_pvclock" : "",
           boot.features[0] & (1u << XENFEAT_hvm_callback_vector) ? " hvm_callback_vector"
                                                                  : "");
    printk("xen: shared_info at pfn %#lx\n", boot.shared_info_pfn);
    domid_t self = DOMID_SELF;
    long pages = HYPERVISOR_memory_op(XENMEM_current_reservation, &self);
    long up = HYPERVISOR_vcpu_op(VCPUOP_is_up, 0, NULL);
    printk("xen: %ld pages reserved, vcpu0 up=%ld\n", pages, up);
}

static void summary_time(void)
{
    if (!boot.xen) return;
    uint64_t t0 = time_monotonic_ns();
    for (int i = 0; i < 10; i++)
        HYPERVISOR_xen_version(XENVER_version, NULL);
    uint64_t t1 = time_monotonic_ns();
    printk("time: monotonic %lu ns -> %lu ns (%s)\n", t0, t1,
           t1 > t0 ? "advancing" : "NOT ADVANCING");
    uint64_t sec;
    uint32_t nsec;
    time_wallclock(&sec, &nsec);
    unsigned y, m, d;
    civil_date(sec / 86400, &y, &m, &d);
    printk("time: wallclock %04u-%02u-%02u %02lu:%02lu:%02lu.%09u UTC\n", y, m, d,
           sec / 3600 % 24, sec / 60 % 60, sec % 60, nsec);
}

static void selftest_irq(void)
{
    unsigned long f = irq_save();
    bool off = !irq_enabled();
    irq_restore(f);
    irq_enable();
    bool on = irq_enabled();
    irq_disable();
    printk("irq: mode %s, save/restore %s\n", irq_mode_name(),
           off && on ? "ok" : "BROKEN");
}

static void take_fault(const char *kind)
{
    printk("basic: taking a %s fault on purpose\n", kind);
    if (!strcmp(kind, "pf"))
        *(volatile uint64_t *)pa_to_va(1ULL << 40) = 1;
    else if (!strcmp(kind, "ud"))
        __asm__ __volatile__("ud2");
    else if (!strcmp(kind, "gp"))
        wrmsr(0xdeadbeef, 0);
    else if (!strcmp(kind, "de"))
        __asm__ __volatile__("divl %%ecx" ::"a"(1), "d"(0), "c"(0));
    else if (!strcmp(kind, "syscall")) /* exit_group(0) if nothing stops it */
        __asm__ __volatile__("syscall" ::"a"(231), "D"(0) : "rcx", "r11", "memory");
    else if (!strcmp(kind, "bp"))
        __asm__ __volatile__("int3");
    panic("basic: fault=%s did not fault", kind);
}

int app_main(void)
{
    char fault[8];
    printk("basic: boot summary\n");
    summary_boot();
    summary_memory();
    selftest_alloc();
    summary_xen();
    summary_time();
    selftest_irq();
    if (cmdline_get("fault", fault, sizeof(fault))) take_fault(fault);
    printk("basic: done, powering off\n");
    return 0;
}
