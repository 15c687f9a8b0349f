/* Upcall delivery: how a pending event becomes an interrupt in the guest.
 *
 * The callback is chosen as on Xen for an HVM/PVH guest:
 *   - HVMOP_set_evtchn_upcall_vector: a per-vCPU vector, edge triggered
 *     (latched when upcall_pending goes 0 -> 1; it takes precedence);
 *   - HVM_PARAM_CALLBACK_IRQ type VECTOR: one vector for every vCPU, level
 *     triggered on that vCPU's upcall_pending;
 *   - HVM_PARAM_CALLBACK_IRQ type GSI or PCI_INTX: the legacy line, which
 *     only vCPU0's upcall_pending drives.  xensim has no IOAPIC: GSI n
 *     arrives at vector 0x20 + n (PCI INTx through Xen's INTx-to-GSI map).
 * An upcall is injected at VM entry when it is due, the vCPU's virtual IF
 * is set and its vcpu_info upcall mask is clear.  (Xen ignores the mask for
 * HVM vCPUs; honouring it lets guests mask without trapping cli.)  The
 * injection is what a CPU does through a 64-bit interrupt gate.  The frame's
 * CS is a null selector, so the handler's iretq faults into xensim, which
 * completes it and restores the virtual IF. */
#include <inttypes.h>
#include <string.h>
#include <xen/hvm/params.h>

#include "guest_mem.h"
#include "sim.h"

#define RFLAGS_IF      0x200ULL
#define RFLAGS_TF      0x100ULL
#define RFLAGS_MBS     0x2ULL
#define RFLAGS_RESTORE 0x40cd5ULL /* CF PF AF ZF SF DF OF AC: what iretq may set here */
#define NR_HVM_GSIS    48         /* Xen's HVM IOAPIC pins */
#define GATE_PRESENT   0x80
#define GATE_INTR64    0xe
#define GATE_TRAP64    0xf

/* Xen's routing of PCI INTx lines to GSIs (hvm_pci_intx_gsi). */
static unsigned pci_intx_gsi(unsigned dev, unsigned intx)
{
    return ((dev << 2) + (dev >> 3) + intx) % 32 + 16;
}

/* The vector due on v now, or -1. */
static int due_vector(struct xs_vcpu *v)
{
    if (v->upcall_vector) return v->upcall_latched ? v->upcall_vector : -1;
    struct vcpu_info *vi = xs_vcpu_info(v);
    uint64_t via = v->dom->hvm_params[HVM_PARAM_CALLBACK_IRQ];
    if (!via || !vi || !vi->evtchn_upcall_pending) return -1;
    switch (via >> 56) {
    case HVM_PARAM_CALLBACK_TYPE_VECTOR:
        return (via & 0xff) >= 0x10 ? (int)(via & 0xff) : -1;
    case HVM_PARAM_CALLBACK_TYPE_GSI: {
        uint32_t gsi = (uint32_t)via;
        return v->id == 0 && gsi && gsi < NR_HVM_GSIS ? 0x20 + (int)gsi : -1;
    }
    case HVM_PARAM_CALLBACK_TYPE_PCI_INTX:
        if (v->id != 0) return -1;
        return 0x20 + (int)pci_intx_gsi((via >> 11) & 0x1f, via & 3);
    default:
        return -1;
    }
}

static bool is_legacy_line(const struct xs_domain *d)
{
    uint64_t t = d->hvm_params[HVM_PARAM_CALLBACK_IRQ] >> 56;
    return d->hvm_params[HVM_PARAM_CALLBACK_IRQ] &&
           (t == HVM_PARAM_CALLBACK_TYPE_GSI || t == HVM_PARAM_CALLBACK_TYPE_PCI_INTX);
}

/* hvm_assert_evtchn_irq: upcall_pending just went 0 -> 1 on v. */
void xs_callback_assert(struct xs_vcpu *v)
{
    if (v->upcall_vector)
        v->upcall_latched = true;
    else if (is_legacy_line(v->dom) && v->id != 0)
        return; /* the legacy line is vCPU0's alone: nobody else is woken */
    xs_vcpu_kick(v);
}

bool xs_callback_deliverable(struct xs_vcpu *v)
{
    struct vcpu_info *vi = xs_vcpu_info(v);
    return v->virt_if && !(vi && vi->evtchn_upcall_mask) && due_vector(v) >= 0;
}

void xs_callback_inject(struct xs_vcpu *v)
{
    if (!xs_callback_deliverable(v)) return;
    struct xs_domain *d = v->dom;
    struct xs_sim *sim = d->sim;
    unsigned vec = (unsigned)due_vector(v);
    uint8_t gate[16];
    if (vec * 16 + 15 > v->idt_limit ||
        xs_copy_from_guest(d, gate, v->idt_base + vec * 16, sizeof(gate))) {
        xs_domain_crash(v,
                        "upcall vector %#x is outside the IDT (base %#" PRIx64
                        " limit %#x): was lidt run on this vCPU?",
                        vec, v->idt_base, v->idt_limit);
        return;
    }
    unsigned type = gate[5] & 0xf;
    if (!(gate[5] & GATE_PRESENT) || (type != GATE_INTR64 && type != GATE_TRAP64)) {
        xs_domain_crash(v,
                        "upcall vector %#x: IDT gate not present or not a 64-bit "
                        "interrupt/trap gate (type/attributes %#x)",
                        vec, gate[5]);
        return;
    }
    uint64_t handler = (uint64_t)gate[0] | (uint64_t)gate[1] << 8 |
                       (uint64_t)gate[6] << 16 | (uint64_t)gate[7] << 24 |
                       (uint64_t)gate[8] << 32 | (uint64_t)gate[9] << 40 |
                       (uint64_t)gate[10] << 48 | (uint64_t)gate[11] << 56;
    uint64_t rsp = (v->regs.rsp & ~15ULL) - 40;
    uint64_t flags = (v->regs.rflags & ~RFLAGS_IF) | (v->virt_if ? RFLAGS_IF : 0);
    /* RIP, CS, RFLAGS, RSP, SS from the lowest address; CS null on purpose. */
    uint64_t frame[5] = {v->regs.rip, 0, flags, v->regs.rsp, 0};
    if (xs_copy_to_guest(d, rsp, frame, sizeof(frame))) {
        xs_domain_crash(v,
                        "upcall vector %#x: cannot push the interrupt frame, stack "
                        "pointer %#" PRIx64 " is outside guest RAM",
                        vec, v->regs.rsp);
        return;
    }
    uint64_t ta[2] = {vec, xs_gva_for_trace(d, v->regs.rip)};
    xs_trace_emit(&sim->trace, sim->vtime_ns, d->domid, v->id, XS_TR_UPCALL, 0, ta, 2, 0,
                  NULL, 0);
    if (v->upcall_vector) v->upcall_latched = false;
    if (type == GATE_INTR64) v->virt_if = false;
    v->regs.rsp = rsp;
    v->regs.rip = handler;
    v->regs.rflags &= ~RFLAGS_TF;
    v->upcalls++;
}

int xs_callback_iret(struct xs_vcpu *v)
{
    uint64_t frame[5];
    if (xs_copy_from_guest(v->dom, frame, v->regs.rsp, sizeof(frame))) {
        xs_domain_crash(v, "iretq with its frame at %#" PRIx64 " outside guest RAM",
                        v->regs.rsp);
        return -1;
    }
    v->regs.rip = frame[0];
    v->regs.rflags = (frame[2] & RFLAGS_RESTORE) | RFLAGS_MBS | RFLAGS_IF;
    v->virt_if = (frame[2] & RFLAGS_IF) != 0;
    v->regs.rsp = frame[3];
    return 0;
}
