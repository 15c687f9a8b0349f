/* The 64-bit IDT: gates for exception vectors 0-31, all leading to the stubs
 * in arch/x86/exceptions.S and from there to exception_handler(); vectors
 * 32-255 are not present until idt_set_gate() installs one (the event
 * channel upcall).  One table serves every CPU, but each CPU loads it
 * itself (idt_load): the IDT register is per CPU, under xensim too.
 *
 * #UD at Xen's forced-emulation prefix (ud2; "xen") is the one exception
 * that is handled: without Xen underneath nobody emulates the prefixed
 * instruction, so the handler steps over the prefix and the plain
 * instruction after it (cpuid) runs natively.  That is how xen_detect()
 * finds "no Xen" on QEMU and bare metal.  Every other exception is fatal: a
 * crash report on the console, then guest_shutdown(SHUTDOWN_crash).
 *
 * Everything is computed at run time from RIP-relative addresses, so this
 * works at whatever direct-map base the image runs. */
#include <guest/kernel.h>
#include <guest/arch.h>
#include <guest/printk.h>
#include <guest/string.h>

#define NR_EXCEPTIONS 32
#define NR_VECTORS    256
#define EXC_STUB_SIZE 16   /* must match exceptions.S */
#define GATE_INTR64   0x8e /* present, DPL 0, 64-bit interrupt gate */
#define VEC_UD        6

/* What exception_common leaves on the stack, lowest address first. */
struct exc_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error;
    uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};

struct idt_gate {
    uint16_t offset_lo;
    uint16_t selector;
    uint8_t ist;
    uint8_t type_attr;
    uint16_t offset_mid;
    uint32_t offset_hi;
    uint32_t reserved;
};
_Static_assert(sizeof(struct idt_gate) == 16, "IDT gate is 16 bytes");

struct idt_desc {
    uint16_t limit;
    uint64_t base;
} __attribute__((packed));

extern const uint8_t exception_stubs[];
void exception_handler(struct exc_frame *f);

static struct idt_gate idt[NR_VECTORS] __aligned(16);

/* Fixed-width names: no pointers, so no relocations. */
static const char exc_names[NR_EXCEPTIONS][6] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "#CSO", "#TS",
    "#NP", "#SS", "#GP", "#PF", "#15", "#MF", "#AC", "#MC", "#XM", "#VE",  "#CP",
    "#22", "#23", "#24", "#25", "#26", "#27", "#HV", "#VC", "#SX", "#31",
};

static const uint8_t xen_emulate_prefix[] = {0x0f, 0x0b, 0x78, 0x65, 0x6e};

static inline uint16_t read_cs(void)
{
    uint16_t cs;
    __asm__ __volatile__("mov %%cs, %0" : "=r"(cs));
    return cs;
}

static inline uint64_t read_cr2(void)
{
    uint64_t v;
    __asm__ __volatile__("mov %%cr2, %0" : "=r"(v));
    return v;
}

void idt_set_gate(unsigned vector, const void *handler)
{
    uint64_t a = (uint64_t)(uintptr_t)handler;
    if (vector >= NR_VECTORS) panic("idt: vector %u out of range", vector);
    idt[vector] = (struct idt_gate){
        .offset_lo = (uint16_t)a,
        .selector = read_cs(),
        .ist = 0,
        .type_attr = GATE_INTR64,
        .offset_mid = (uint16_t)(a >> 16),
        .offset_hi = (uint32_t)(a >> 32),
    };
}

void idt_load(void)
{
    struct idt_desc d = {.limit = sizeof(idt) - 1, .base = (uint64_t)(uintptr_t)idt};
    __asm__ __volatile__("lidt %0" ::"m"(d) : "memory");
}

void idt_init(void)
{
    for (unsigned v = 0; v < NR_EXCEPTIONS; v++)
        idt_set_gate(v, exception_stubs + v * EXC_STUB_SIZE);
    idt_load();
}

static void report(const struct exc_frame *f, uint64_t cr2)
{
    printk("FATAL: exception %lu (%s) err=%lx rip=%lx rsp=%lx cr2=%lx\n", f->vector,
           exc_names[f->vector], f->error, f->rip, f->rsp, cr2);
    printk("  rax=%016lx rbx=%016lx rcx=%016lx rdx=%016lx\n", f->rax, f->rbx, f->rcx,
           f->rdx);
    printk("  rsi=%016lx rdi=%016lx rbp=%016lx r8 =%016lx\n", f->rsi, f->rdi, f->rbp,
           f->r8);
    printk("  r9 =%016lx r10=%016lx r11=%016lx r12=%016lx\n", f->r9, f->r10, f->r11,
           f->r12);
    printk("  r13=%016lx r14=%016lx r15=%016lx\n", f->r13, f->r14, f->r15);
    printk("  cs=%lx ss=%lx rflags=%lx base=%lx\n", f->cs, f->ss, f->rflags,
           boot.directmap_base);
}

void exception_handler(struct exc_frame *f)
{
    static unsigned depth;

    if (f->vector == VEC_UD && !memcmp((const void *)(uintptr_t)f->rip,
                                       xen_emulate_prefix, sizeof(xen_emulate_prefix))) {
        f->rip += sizeof(xen_emulate_prefix);
        return;
    }
    /* A fault while reporting a fault: skip the report the second time,
     * and stop the CPU outright if even shutting down faults. */
    if (++depth == 1) report(f, f->vector == 14 || f->vector == 8 ? read_cr2() : 0);
    if (depth <= 2) guest_shutdown(SHUTDOWN_crash);
    for (;;)
        cpu_hlt();
}
