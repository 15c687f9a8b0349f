/* Console output: under Xen the PV console ring (xencons.c) once it is
 * found, console_io before that; the 16550 serial port otherwise.  Lines
 * go out whole where possible. */
#include <guest/kernel.h>
#include <guest/hypercall.h>
#include <guest/printk.h>
#include <guest/xencons.h>

void console_init(void)
{
    if (!boot.xen) serial_init();
}

void console_write(const char *s, size_t len)
{
    if (boot.xen) {
        /* The PV console ring once xencons_init found one (xencons.c). */
        size_t done = xencons_active() ? xencons_write(s, len) : 0;
        if (done < len)
            HYPERVISOR_console_io(CONSOLEIO_write, (unsigned)(len - done), s + done);
        return;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\n') serial_putc('\r');
        serial_putc(s[i]);
    }
}
