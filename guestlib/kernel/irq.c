/* Interrupt masking, chosen at boot.  cli/sti mode keeps a software copy of
 * the flag for irq_save: under xensim pushf cannot see the virtual IF, and
 * the copy behaves identically on real hardware. */
#include <guest/kernel.h>
#include <guest/arch.h>
#include <guest/irq.h>
#include <guest/string.h>

static bool soft_if;

static volatile uint8_t *pv_mask(void)
{
    return &boot.shared_info->vcpu_info[0].evtchn_upcall_mask;
}

void irq_init(void)
{
    char buf[8];
    const char *m = cmdline_get("irq", buf, sizeof(buf));
    boot.irq_mode =
        (m && !strcmp(m, "cli")) || !boot.xen ? IRQ_MODE_CLI_STI : IRQ_MODE_PV_MASK;
    irq_disable();
}

void irq_disable(void)
{
    if (boot.irq_mode == IRQ_MODE_PV_MASK) {
        *pv_mask() = 1;
        barrier();
    } else {
        cpu_cli();
        soft_if = false;
    }
}

void irq_enable(void)
{
    if (boot.irq_mode == IRQ_MODE_PV_MASK) {
        barrier();
        *pv_mask() = 0;
        barrier();
    } else {
        soft_if = true;
        cpu_sti();
    }
}

bool irq_enabled(void)
{
    return boot.irq_mode == IRQ_MODE_PV_MASK ? !*pv_mask() : soft_if;
}

unsigned long irq_save(void)
{
    unsigned long was = irq_enabled();
    irq_disable();
    return was;
}

void irq_restore(unsigned long flags)
{
    if (flags) irq_enable();
}

const char *irq_mode_name(void)
{
    return boot.irq_mode == IRQ_MODE_PV_MASK ? "pv-mask" : "cli-sti";
}
