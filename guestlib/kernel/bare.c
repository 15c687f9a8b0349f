/* Power-off without Xen (QEMU microvm / bare metal): QEMU's isa-debug-exit
 * device at port 0xf4 if present, else a deliberate triple fault, which
 * QEMU run with -no-reboot turns into an exit. */
#include <guest/kernel.h>
#include <guest/arch.h>

void bare_poweroff(int code)
{
    outl(0xf4, (uint32_t)code);
    static const struct {
        uint16_t limit;
        uint64_t base;
    } __attribute__((packed)) null_idt = {0, 0};
    __asm__ __volatile__("lidt %0; int3" ::"m"(null_idt));
    for (;;)
        cpu_hlt();
}
