/* x86 instructions the guest issues directly.  Under xensim the privileged
 * ones trap and are emulated; on bare metal / QEMU they run for real. */
#ifndef GUEST_ARCH_H
#define GUEST_ARCH_H
#include <guest/types.h>
#include <xen/arch-x86/xen.h>

/* Architectural control-register bits (Intel SDM vol. 3, 2.5; not Xen
 * ABI), for starting secondary vCPUs in long mode. */
#define X86_CR0_PE       (1ul << 0)
#define X86_CR0_ET       (1ul << 4)
#define X86_CR0_PG       (1ul << 31)
#define X86_CR4_PAE      (1ul << 5)
#define X86_EFER_LME     (1ul << 8)
#define X86_EFER_LMA     (1ul << 10)
#define X86_RFLAGS_FIXED (1ul << 1) /* bit 1 always reads as 1 */

static inline void cpu_cli(void)
{
    __asm__ __volatile__("cli" ::: "memory");
}
static inline void cpu_sti(void)
{
    __asm__ __volatile__("sti" ::: "memory");
}
static inline void cpu_hlt(void)
{
    __asm__ __volatile__("hlt" ::: "memory");
}
static inline void cpu_pause(void)
{
    __asm__ __volatile__("pause");
}

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t val)
{
    __asm__ __volatile__("wrmsr" ::"c"(msr), "a"((uint32_t)val),
                         "d"((uint32_t)(val >> 32))
                         : "memory");
}

static inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ __volatile__("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((uint64_t)hi << 32) | lo;
}

/* Xen's forced-emulation CPUID (ud2; "xen"; cpuid).  On a machine without
 * Xen the #UD handler steps over the prefix and the plain cpuid runs. */
static inline void xen_cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
    __asm__ __volatile__(XEN_CPUID
                         : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
                         : "0"(leaf), "2"(sub));
}

static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ __volatile__("outb %0, %1" ::"a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ __volatile__("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
static inline void outl(uint16_t port, uint32_t v)
{
    __asm__ __volatile__("outl %0, %1" ::"a"(v), "Nd"(port));
}
#endif
