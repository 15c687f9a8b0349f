/* Console output: the hypervisor's console_io under Xen, the 16550 serial
 * port otherwise.  Lines go out whole where possible. */
#include <guest/kernel.h>
#include <guest/hypercall.h>
#include <guest/printk.h>

void console_init(void)
{
    if (!boot.xen) serial_init();
}

void console_write(const char *s, size_t len)
{
    if (boot.xen) {
        HYPERVISOR_console_io(CONSOLEIO_write, (unsigned)len, s);
        return;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\n') serial_putc('\r');
        serial_putc(s[i]);
    }
}
