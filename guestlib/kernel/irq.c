/* Interrupt masking, chosen at boot, per CPU.  irq=pv masks with this
 * CPU's vcpu_info evtchn_upcall_mask; irq=cli uses cli/sti and keeps a
 * per-CPU software copy of the flag for irq_save: under xensim pushf cannot
 * see the virtual IF, and the copy behaves identically on real hardware. */
#include <guest/kernel.h>
#include <guest/arch.h>
#include <guest/evtchn.h>
#include <guest/hypercall.h>
#include <guest/irq.h>
#include <guest/percpu.h>
#include <guest/string.h>

static volatile struct vcpu_info *my_vcpu_info(void)
{
    return this_cpu()->vi;
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
        my_vcpu_info()->evtchn_upcall_mask = 1;
        barrier();
    } else {
        cpu_cli();
        this_cpu()->soft_if = false;
    }
}

void irq_enable(void)
{
    if (boot.irq_mode == IRQ_MODE_PV_MASK) {
        volatile struct vcpu_info *vi = my_vcpu_info();
        barrier();
        vi->evtchn_upcall_mask = 0;
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        /* An event that arrived while masked is delivered at the next VM
         * entry: make one happen now (Linux's xen_force_evtchn_callback). */
        if (vi->evtchn_upcall_pending && evtchn_ready())
            HYPERVISOR_xen_version(XENVER_version, NULL);
    } else {
        this_cpu()->soft_if = true;
        cpu_sti();
        /* Same for the virtual IF: the upcall waits for the next VM exit,
         * which the instruction after sti may never cause. */
        volatile struct vcpu_info *vi = my_vcpu_info();
        if (vi && vi->evtchn_upcall_pending && evtchn_ready())
            HYPERVISOR_xen_version(XENVER_version, NULL);
    }
}

bool irq_enabled(void)
{
    return boot.irq_mode == IRQ_MODE_PV_MASK ? !my_vcpu_info()->evtchn_upcall_mask
                                             : this_cpu()->soft_if;
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
