/* bench: the guest half of `make bench` (ci/bench).
 *
 *   hypercalls=N  issue N HYPERVISOR_xen_version(XENVER_version, NULL) calls
 *                 back to back, so the host can time the hypercall round trip
 *                 as (wall(N) - wall(0)) / N
 *   cpuid=N       first, issue N forced-emulation CPUIDs (ud2; "xen"; cpuid):
 *                 under xensim each traps (SIGILL) and is emulated, so this
 *                 times a trapped instruction's round trip
 * With neither (or N=0) it only boots and powers off.  It prints
 * "bench: N cpuid traps done" (only if cpuid=N was given with N > 0), then
 * "bench: N hypercalls done", and powers off. */
#include <guest/kernel.h>
#include <guest/arch.h>
#include <guest/hypercall.h>
#include <guest/printk.h>

/* Decimal digits only; returns false on anything else or on overflow. */
static bool parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s) return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return false;
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* The count given as key=N on the command line (0 if absent), or false. */
static bool count_arg(const char *key, uint64_t *n)
{
    char arg[24];
    *n = 0;
    if (cmdline_get(key, arg, sizeof(arg)) && !parse_u64(arg, n)) {
        printk("bench: bad %s=%s (want a decimal count)\n", key, arg);
        return false;
    }
    if (*n && !boot.xen) {
        printk("bench: no Xen found, cannot run %s=%lu\n", key, *n);
        return false;
    }
    return true;
}

int app_main(void)
{
    uint64_t n, ncpuid;
    if (!count_arg("hypercalls", &n) || !count_arg("cpuid", &ncpuid)) return 1;

    for (uint64_t i = 0; i < ncpuid; i++) {
        uint32_t r[4];
        xen_cpuid(boot.xen_leaf_base + 1, 0, r);
        if (r[0] != boot.xen_version) {
            printk("bench: cpuid %lu returned version %#x, expected %#x\n", i, r[0],
                   boot.xen_version);
            return 1;
        }
    }
    if (ncpuid) printk("bench: %lu cpuid traps done\n", ncpuid);

    long expect = n ? HYPERVISOR_xen_version(XENVER_version, NULL) : 0;
    for (uint64_t i = 1; i < n; i++) {
        long v = HYPERVISOR_xen_version(XENVER_version, NULL);
        if (v != expect) {
            printk("bench: hypercall %lu returned %ld, expected %ld\n", i, v, expect);
            return 1;
        }
    }
    printk("bench: %lu hypercalls done\n", n);
    return 0;
}
