/* The 2-level event channel ABI: pending and mask bitmaps in shared_info
 * (64 words of 64 bits: 4096 ports), and a per-vCPU selector word whose
 * bit w says "look at pending word w".
 *
 * The pending words are shared by all CPUs while the selector is per vCPU,
 * so each CPU keeps a bitmap of the ports bound to it and only handles
 * those: another CPU's port in the same word is left for its owner, whose
 * selector bit Xen set.  Words are visited round robin from where the last
 * scan stopped, so a busy low word cannot starve the others. */
#include <guest/kernel.h>
#include <guest/hypercall.h>
#include <guest/smp.h>
#include "evtchn_abi.h"

#define NR_PORTS_2L (EVTCHN_2L_WORDS * EVTCHN_2L_WORDS)

static long init_2l(void)
{
    return 0; /* the ABI every domain starts with */
}

/* The new shared_info has every port unmasked: mask them all again. */
static long resume_2l(void)
{
    for (unsigned w = 0; w < EVTCHN_2L_WORDS; w++)
        __atomic_store_n(&boot.shared_info->evtchn_mask[w], ~(xen_ulong_t)0,
                         __ATOMIC_SEQ_CST);
    for (unsigned cpu = 0; cpu < nr_cpus; cpu++) {
        struct percpu *pc = percpu_of(cpu);
        for (unsigned w = 0; w < EVTCHN_2L_WORDS; w++)
            pc->evtchn_owned[w] = 0;
        pc->scan_word = 0;
    }
    return 0;
}

static long setup_port_2l(evtchn_port_t port)
{
    return port < NR_PORTS_2L ? 0 : -XEN_EINVAL;
}

static void mask_2l(evtchn_port_t port)
{
    xen_set_bit(port, boot.shared_info->evtchn_mask);
}

/* Always through the hypercall: Xen re-raises a pending event only if it
 * is the one to clear the mask bit (evtchn_2l_unmask), so clearing it here
 * first could strand an event that arrived while masked. */
static void unmask_2l(evtchn_port_t port)
{
    struct evtchn_unmask u = {.port = port};
    HYPERVISOR_event_channel_op(EVTCHNOP_unmask, &u);
}

static void clear_2l(evtchn_port_t port)
{
    xen_clear_bit(port, boot.shared_info->evtchn_pending);
}

static bool is_pending_2l(evtchn_port_t port)
{
    return xen_test_bit(port, boot.shared_info->evtchn_pending);
}

static bool is_masked_2l(evtchn_port_t port)
{
    return xen_test_bit(port, boot.shared_info->evtchn_mask);
}

static void own_2l(struct percpu *pc, evtchn_port_t port, bool owned)
{
    if (!pc || port >= NR_PORTS_2L) return;
    if (owned)
        xen_set_bit(port, pc->evtchn_owned);
    else
        xen_clear_bit(port, pc->evtchn_owned);
}

static void scan_2l(struct percpu *pc)
{
    volatile shared_info_t *s = boot.shared_info;
    uint32_t gen = evtchn_generation();
    xen_ulong_t sel =
        __atomic_exchange_n(&pc->vi->evtchn_pending_sel, 0, __ATOMIC_SEQ_CST);
    while (sel) {
        unsigned start = pc->scan_word;
        for (unsigned i = 0; i < EVTCHN_2L_WORDS; i++) {
            unsigned w = (start + i) % EVTCHN_2L_WORDS;
            if (!(sel >> w & 1)) continue;
            sel &= ~((xen_ulong_t)1 << w);
            /* A snapshot: bits that become pending meanwhile set the
             * selector again and are found on the next pass. */
            xen_ulong_t bits = __atomic_load_n(&s->evtchn_pending[w], __ATOMIC_SEQ_CST) &
                               ~__atomic_load_n(&s->evtchn_mask[w], __ATOMIC_SEQ_CST) &
                               __atomic_load_n(&pc->evtchn_owned[w], __ATOMIC_SEQ_CST);
            while (bits) {
                unsigned b = (unsigned)__builtin_ctzl(bits);
                bits &= bits - 1;
                evtchn_dispatch(pc, w * EVTCHN_2L_WORDS + b);
                /* Resumed in a new domain meanwhile: bits and sel were the
                 * old one's (Xen flagged every word: we come round again). */
                if (evtchn_generation() != gen) return;
            }
            pc->scan_word = (w + 1) % EVTCHN_2L_WORDS;
        }
        sel |= __atomic_exchange_n(&pc->vi->evtchn_pending_sel, 0, __ATOMIC_SEQ_CST);
    }
}

const struct evtchn_ops evtchn_ops_2l = {
    .name = "2l",
    .max_ports = NR_PORTS_2L,
    .init = init_2l,
    .setup_port = setup_port_2l,
    .mask = mask_2l,
    .unmask = unmask_2l,
    .clear = clear_2l,
    .is_pending = is_pending_2l,
    .is_masked = is_masked_2l,
    .own = own_2l,
    .scan = scan_2l,
    .resume = resume_2l,
};
