/* The boot sequence shared by every guest app. */
#include <guest/kernel.h>
#include <guest/hypercall.h>
#include <guest/mm.h>
#include <guest/irq.h>
#include <guest/percpu.h>
#include <guest/printk.h>
#include <guest/xencons.h>

struct boot_info boot;

static __noreturn void kernel_boot(void *unused);

void kernel_main(uint64_t start_info_pa, uint64_t directmap_base)
{
    boot.directmap_base = directmap_base;
    boot.start_info_pa = start_info_pa;
    boot.start_info = pa_to_va(start_info_pa);
    /* Onto CPU 0's per-CPU stack before anything looks for per-CPU data
     * (percpu.h), then boot from there. */
    percpu_boot(kernel_boot, NULL);
}

static void kernel_boot(void *unused)
{
    (void)unused;
    /* Exception handlers first: on a machine without Xen, detection's
     * forced-emulation prefix raises #UD and the handler steps over it. */
    idt_init();
    xen_detect();
    console_init();
    if (boot.start_info->magic != XEN_HVM_START_MAGIC_VALUE)
        panic("boot: bad start_info magic %x", boot.start_info->magic);
    boot.cmdline =
        boot.start_info->cmdline_paddr ? pa_to_va(boot.start_info->cmdline_paddr) : "";
    if (boot.xen) {
        xen_hypercall_page_install();
        xen_features_init();
        shared_info_init();
        percpu_bsp_xen_init();
        xencons_init(); /* printk moves to the PV console ring */
    }
    memmap_init();
    page_alloc_init();
    irq_init();
    int rc = app_main();
    guest_shutdown(rc == 0 ? SHUTDOWN_poweroff : SHUTDOWN_crash);
}

void guest_shutdown(unsigned reason)
{
    if (boot.xen) {
        struct sched_shutdown s = {.reason = reason};
        HYPERVISOR_sched_op(SCHEDOP_shutdown, &s);
    }
    bare_poweroff(reason == SHUTDOWN_poweroff ? 0 : 1);
}

void panic(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    xencons_panic(); /* console_io from here on */
    printk("PANIC: %s\n", buf);
    guest_shutdown(SHUTDOWN_crash);
}
