/* Boot-time facts every part of guestlib reads.  Lives in guest RAM (BSS),
 * so it is saved and restored with the domain. */
#ifndef GUEST_KERNEL_H
#define GUEST_KERNEL_H
#include <guest/xen.h>

#define MEMMAP_MAX 128

enum irq_mode { IRQ_MODE_PV_MASK, IRQ_MODE_CLI_STI };

struct boot_info {
    uint64_t directmap_base; /* VA of guest physical 0 */
    uint64_t start_info_pa;
    const struct hvm_start_info *start_info;
    const char *cmdline;
    /* Xen, when found */
    bool xen;
    uint32_t xen_leaf_base;
    uint32_t xen_version; /* major << 16 | minor, from CPUID base+1 */
    uint32_t hypercall_msr;
    shared_info_t *shared_info;
    uint64_t shared_info_pfn;
    uint32_t features[1]; /* XENVER_get_features submap 0 */
    /* memory map */
    struct hvm_memmap_table_entry memmap[MEMMAP_MAX];
    unsigned nr_memmap;
    const char *memmap_source;
    enum irq_mode irq_mode;
};

extern struct boot_info boot;
extern uint8_t __image_start[], __image_end[];

static inline void *pa_to_va(uint64_t pa)
{
    return (void *)(boot.directmap_base + pa);
}
static inline uint64_t va_to_pa(const void *va)
{
    return (uint64_t)(uintptr_t)va - boot.directmap_base;
}

/* The application's entry, called once boot is complete. */
int app_main(void);

/* kernel/ services */
void guest_relocate(uint64_t base);
void memmap_init(void);
void console_init(void);
bool xen_detect(void);
void xen_hypercall_page_install(void);
void xen_features_init(void);
void shared_info_init(void);
/* After a resume in a new domain: shared_info at the same frame again. */
void shared_info_resume(void);
void irq_init(void);
/* The IDT: exception gates, then load it on this CPU.  idt_set_gate
 * installs an interrupt gate in the table all CPUs share; every CPU must
 * load the IDT itself (idt_load). */
void idt_init(void);
void idt_set_gate(unsigned vector, const void *handler);
void idt_load(void);
const char *cmdline_get(const char *key, char *buf, size_t len);
bool cmdline_has(const char *key);
/* KEY=N as a decimal number; def when absent, empty or not a number. */
unsigned cmdline_uint(const char *key, unsigned def);

/* Platform services, only used when no Xen was found (QEMU, bare metal). */
void serial_init(void);
void serial_putc(char c);
__noreturn void bare_poweroff(int code);

/* Shut the domain down (Xen) or power the machine off (bare). */
__noreturn void guest_shutdown(unsigned reason);
__noreturn void panic(const char *fmt, ...);
#endif
