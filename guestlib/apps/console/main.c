/* console: the PV console frontend under test (guest/xencons.h).
 *
 * By default it reads lines and echoes each back upper-cased as
 * "echo: TEXT (N bytes)" until the line "quit", then powers off.
 * Switches:
 *   flood=N    first write N bytes (up to 32768) of numbered 64-byte lines
 *              "flood: NNNN ..." in one console_write: more than the
 *              2048-byte out ring, so the writer waits for room
 *   events=0   read before event channels are up (SCHEDOP_poll on the
 *              console port, no handler); by default the CPUs and event
 *              channels start first and the port's handler feeds the reader
 *   break=out-ahead|out-back|in-passed
 *              a hostile guest: move one ring index where the protocol
 *              forbids (xensim's sanitizer reports it), then print through
 *              console_io */
#include <guest/kernel.h>
#include <guest/evtchn.h>
#include <guest/hypercall.h>
#include <guest/printk.h>
#include <guest/smp.h>
#include <guest/string.h>
#include <guest/xencons.h>
#include <xen/io/console.h>

#define FLOOD_MAX  32768u
#define FLOOD_LINE 64u
#define ECHO_SHOW  200 /* bytes of a line shown in its echo */

static char flood_buf[FLOOD_MAX];
static char line[4096];

static void flood(unsigned bytes)
{
    bytes = bytes > FLOOD_MAX ? FLOOD_MAX : bytes - bytes % FLOOD_LINE;
    for (unsigned i = 0; i < bytes / FLOOD_LINE; i++) {
        char *l = flood_buf + i * FLOOD_LINE;
        snprintf(l, FLOOD_LINE, "flood: %04u ", i);
        for (unsigned j = 12; j < FLOOD_LINE - 1; j++)
            l[j] = (char)('a' + (i + j) % 26);
        l[FLOOD_LINE - 1] = '\n';
    }
    uint64_t waits = xencons_stats()->full_waits;
    console_write(flood_buf, bytes);
    printk("flood: %u bytes in one write, %lu wait(s) for a full ring\n", bytes,
           xencons_stats()->full_waits - waits);
}

static int echo(void)
{
    unsigned lines = 0;
    for (;;) {
        long n = xencons_getline(line, sizeof(line));
        if (n < 0) {
            printk("console: FAIL: getline: %ld\n", n);
            return 1;
        }
        if (!strcmp(line, "quit")) break;
        lines++;
        for (long i = 0; i < n; i++)
            if (line[i] >= 'a' && line[i] <= 'z') line[i] = (char)(line[i] - 'a' + 'A');
        bool cut = n > ECHO_SHOW;
        if (cut) line[ECHO_SHOW] = '\0';
        printk("echo: %s%s (%ld bytes)\n", line, cut ? "..." : "", n);
    }
    const struct xencons_stats *st = xencons_stats();
    printk("console: quit after %u line(s), %lu bytes of input\n", lines, st->in_bytes);
    return 0;
}

/* What a buggy or hostile guest could do to the ring page. */
static int break_ring(const char *how)
{
    uint64_t pfn, port;
    if (hvm_get_param(HVM_PARAM_CONSOLE_PFN, &pfn) ||
        hvm_get_param(HVM_PARAM_CONSOLE_EVTCHN, &port)) {
        printk("console: FAIL: no console params\n");
        return 1;
    }
    struct xencons_interface *intf = pa_to_va(pfn << PAGE_SHIFT);
    printk("console: breaking the ring: %s\n", how);
    xencons_use_console_io();
    if (!strcmp(how, "out-ahead"))
        WRITE_ONCE(intf->out_prod, READ_ONCE(intf->out_cons) + 5000);
    else if (!strcmp(how, "out-back"))
        WRITE_ONCE(intf->out_prod, READ_ONCE(intf->out_cons) - 16);
    else if (!strcmp(how, "in-passed"))
        WRITE_ONCE(intf->in_cons, READ_ONCE(intf->in_prod) + 10);
    else {
        printk("console: FAIL: unknown break=%s\n", how);
        return 1;
    }
    evtchn_send((evtchn_port_t)port);
    HYPERVISOR_sched_op(SCHEDOP_yield, NULL);
    printk("console: ring broken on purpose, now on console_io\n");
    return 0;
}

int app_main(void)
{
    char how[16];
    if (!boot.xen) {
        printk("console: no Xen found, nothing to test\n");
        return 0;
    }
    if (!xencons_connected()) {
        printk("console: FAIL: no PV console ring\n");
        return 1;
    }
    if (cmdline_get("break", how, sizeof(how))) return break_ring(how);
    unsigned bytes = cmdline_uint("flood", 0);
    if (bytes) flood(bytes);
    bool events = cmdline_uint("events", 1) != 0;
    if (events) {
        smp_init();
        smp_start();
    }
    printk("console: ready, input %s\n",
           events ? "through the event handler" : "polled before event channels");
    return echo();
}
