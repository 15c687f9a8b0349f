/* mode=console: console input across a resume
 * (scenarios/regressions/console-port.scn).
 *
 * Reads the line "before" (its first read binds the console port's input
 * handler), waits for a real resume, then reads lines until "end".  The
 * scenario gives more input than the 1 KiB input ring holds, so after the
 * resume the reader must wait for the backend to refill the ring: woken
 * by the new domain's console port, whose handler takes the input. */
#include <guest/hypercall.h>
#include <guest/string.h>
#include <guest/xencons.h>

#include "regress_app.h"

int regress_console(void)
{
    static char line[256];
    long n = xencons_getline(line, sizeof(line));
    CHECK(n >= 0 && !strcmp(line, "before"), "first line: %ld \"%s\"", n,
          n >= 0 ? line : "");
    uint64_t port = 0;
    hvm_get_param(HVM_PARAM_CONSOLE_EVTCHN, &port);
    printk("regress: console: read \"%s\" on port %lu before the suspend\n",
           n >= 0 ? line : "", (unsigned long)port);
    if (!regress_wait_resumes(1, 500 * MS, NULL)) {
        CHECK(0, "no resume came");
        return 1;
    }
    hvm_get_param(HVM_PARAM_CONSOLE_EVTCHN, &port);
    const struct xencons_stats *st = xencons_stats();
    uint64_t events = st->events, bytes = st->in_bytes;
    unsigned lines = 0;
    bool end = false;
    while ((n = xencons_getline(line, sizeof(line))) >= 0) {
        if (!strcmp(line, "end")) {
            end = true;
            break;
        }
        lines++;
    }
    printk("regress: console: after the resume, port %lu: %u lines, %lu bytes, %s; input "
           "events %s\n",
           (unsigned long)port, lines, (unsigned long)(st->in_bytes - bytes),
           end ? "end seen" : "no end", st->events > events ? "handled" : "NONE");
    CHECK(end, "input after the resume: %ld", n);
    CHECK(st->events > events, "no console event handled after the resume");
    return 0;
}
