/* net: the PV network frontend under test (guest/netfront.h), against
 * xensim's netback and its switch (scenarios/net-ping.scn), or against the
 * hostile backend of fuzz/netfront_responses.c.
 *
 *   role=ping|pong|flood|sink   what to do (pingpong.c, flood.c)
 *   frames=N     frames to send (ping, flood; pong and sink expect N)
 *   duration=MS  ping, flood: no new frame after MS of virtual time (frames=N
 *                is then an upper bound; the peer learns the count at END)
 *   size=BYTES   frame size (0, the default: a mix from 60 bytes to 64 KiB,
 *                sizes over 4096 need scatter-gather)
 *   maxsize=BYTES  the mix's sizes capped at BYTES
 *   queues=N     queues to ask for (the backend's maximum caps it)
 *   id=N         the vif's device id (default: the first vif)
 *   peer=MAC     where to send (default: broadcast until the peer answers)
 *   timeout=MS   how long ping waits for each echo (pong and sink wait 20x
 *                that for the next frame)
 *   verify=0     check headers only, not every payload byte (bench)
 *   sg=0 split=0 do not use scatter-gather / split event channels
 *   reconnect=1  ping: close and reconnect the device half-way
 *   suspend=1    the toolstack may suspend, save or migrate the guest
 *                meanwhile (the control driver is on): ping sends each
 *                frame again every timeout until it is echoed (every one
 *                echoed, duplicates of the ones sent again counted), pong
 *                echoes every copy; flood runs on CPU 1 (with vcpus >= 2)
 *                while CPU 0 takes the toolstack's requests, and the sink
 *                must get every frame exactly once
 *   gap=US       suspend=1 ping: after each echo, listen US microseconds
 *                before the next frame; flood: pause US after each frame
 *                (fewer frames, the same coverage)
 *   hotplug=1    wait for the vif to be hot-plugged, run until it is
 *                unplugged (frames=N is then an upper bound), close; the
 *                run passes when nothing arrived corrupt or twice and every
 *                grant was ended
 *
 * At the end the device is closed; the app checks that it holds no grant
 * any more and prints netfront's counters.  Exit status 0 when every frame
 * was accounted for. */
#include <guest/control.h>
#include <guest/kernel.h>
#include <guest/printk.h>
#include <guest/smp.h>
#include <guest/string.h>
#include <guest/xenbus.h>
#include <guest/xenstore.h>

#include "net_app.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool parse_mac(const char *s, uint8_t mac[6])
{
    for (unsigned i = 0; i < 6; i++) {
        int hi = hexval(s[3 * i]), lo = hi < 0 ? -1 : hexval(s[3 * i + 1]);
        if (lo < 0 || s[3 * i + 2] != (i == 5 ? '\0' : ':')) return false;
        mac[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

/* The position of vif <id> among the vifs (netfront_open takes that). */
static long vif_index(unsigned id)
{
    static struct xenbus_device list[NETFRONT_MAX_DEVS];
    long n = xenbus_enumerate_frontends("vif", list, NETFRONT_MAX_DEVS);
    for (long i = 0; i < n && i < NETFRONT_MAX_DEVS; i++)
        if (list[i].devid == id) return i;
    return n < 0 ? n : -XEN_ENODEV;
}

/* After close: what suspends and resumes did, and what was left unread. */
static void print_resume_stats(const struct netfront *nf)
{
    const struct netfront_stats *s = netfront_stats(nf);
    const struct control_stats *c = control_stats();
    printk("net: netfront: %lu resumes, %lu cancels: tx %lu sent again %lu lost; rx %lu "
           "dropped at resume, %lu unread at close\n",
           (unsigned long)s->resumes, (unsigned long)c->cancels,
           (unsigned long)s->tx_resent, (unsigned long)s->tx_lost,
           (unsigned long)s->rx_lost, (unsigned long)s->rx_unread);
}

static void print_stats(const struct netfront *nf)
{
    const struct netfront_stats *s = netfront_stats(nf);
    printk(
        "net: netfront: tx %lu frames %lu slots %lu errors; rx %lu frames %lu slots %lu "
        "errors %lu dropped; %lu bad responses\n",
        (unsigned long)s->tx_frames, (unsigned long)s->tx_slots,
        (unsigned long)s->tx_errors, (unsigned long)s->rx_frames,
        (unsigned long)s->rx_slots, (unsigned long)s->rx_errors,
        (unsigned long)s->rx_dropped, (unsigned long)s->bad_responses);
}

int app_main(void)
{
    if (!boot.xen) {
        printk("net: no Xen found, nothing to test\n");
        return 0;
    }
    smp_init();
    smp_start();
    long rc = xenstore_init();
    if (rc) {
        printk("net: FAIL: no xenstore: %s\n", xenstore_errname(rc));
        return 1;
    }
    char role[16] = "ping", mac[32];
    cmdline_get("role", role, sizeof(role));
    struct net_args a = {.frames = cmdline_uint("frames", 10),
                         .size = cmdline_uint("size", 0),
                         .queues = cmdline_uint("queues", 1),
                         .id = cmdline_uint("id", ~0u),
                         .timeout_ms = cmdline_uint("timeout", 100),
                         .verify = cmdline_uint("verify", 1),
                         .sg = cmdline_uint("sg", 1) != 0,
                         .split = cmdline_uint("split", 1) != 0,
                         .reconnect = cmdline_uint("reconnect", 0) != 0,
                         .hotplug = cmdline_uint("hotplug", 0) != 0,
                         .suspend = cmdline_uint("suspend", 0) != 0,
                         .duration_ms = cmdline_uint("duration", 0),
                         .max_size = cmdline_uint("maxsize", 0),
                         .gap_us = cmdline_uint("gap", 0)};
    bool is_ping = !strcmp(role, "ping"), is_pong = !strcmp(role, "pong");
    bool is_flood = !strcmp(role, "flood"), is_sink = !strcmp(role, "sink");
    if (!is_ping && !is_pong && !is_flood && !is_sink) {
        printk("net: FAIL: role=%s is not ping, pong, flood or sink\n", role);
        return 1;
    }
    if (a.suspend && (rc = control_init())) {
        printk("net: FAIL: control driver: %s\n", xenstore_errname(rc));
        return 1;
    }
    if (cmdline_get("peer", mac, sizeof(mac))) {
        if (!parse_mac(mac, a.peer)) {
            printk("net: FAIL: peer=%s is not a MAC address\n", mac);
            return 1;
        }
        a.have_peer = true;
    }
    if (a.frames > NET_MAX_FRAMES ||
        (a.size && (a.size < NET_HDR_LEN || a.size > NETFRONT_MAX_FRAME))) {
        printk("net: FAIL: frames=%u size=%u out of range (frames <= %u, size %u..%u)\n",
               a.frames, a.size, NET_MAX_FRAMES, NET_HDR_LEN, NETFRONT_MAX_FRAME);
        return 1;
    }
    if (a.hotplug) {
        printk("net: %ld vif device(s) at boot\n", netfront_count());
        rc = netfront_wait_device(0, 5 * NETFRONT_TIMEOUT_NS);
        printk("net: waited for a vif: %ld, %ld vif device(s)\n", rc, netfront_count());
    }
    long index = a.id == ~0u ? 0 : vif_index(a.id);
    struct netfront_opts o = {.queues = a.queues, .no_sg = !a.sg, .no_split = !a.split};
    struct netfront *nf = NULL;
    if (index >= 0) rc = netfront_open((unsigned)index, &o, &nf);
    if (index < 0 || rc) {
        printk("net: FAIL: open: %ld\n", index < 0 ? index : rc);
        return 1;
    }
    const struct netfront_info *in = netfront_info(nf);
    /* Sizes past a page need scatter-gather: without it, a page at most. */
    a.sg = in->sg;
    if (!a.sg && a.size > PAGE_SIZE) a.size = PAGE_SIZE;
    printk("net: %s on vif %u, %u frames\n", role, in->id, a.frames);
    int fail =
        is_ping || is_pong ? net_pingpong(nf, &a, is_ping) : net_flood(nf, &a, is_flood);
    print_stats(nf);
    if (netfront_broken(nf)) printk("net: the device is broken\n");
    if (a.hotplug) {
        /* The exchange ended when the toolstack took the vif away. */
        rc = netfront_wait_unplug(nf, 5 * NETFRONT_TIMEOUT_NS);
        printk("net: unplug seen: %ld\n", rc);
        fail = rc || net_last.bad || net_last.dup;
    }
    rc = netfront_close(nf);
    unsigned left = netfront_grants(nf);
    printk("net: closed: %ld, grants left %u\n", rc, left);
    if (a.suspend) print_resume_stats(nf);
    if (rc || left) fail = 1;
    if (a.hotplug) printk("net: %ld vif device(s) after the unplug\n", netfront_count());
    printk(fail ? "net: FAIL\n" : "net: done\n");
    return fail;
}
