/* Emulation of the instructions that trap out of guest code, one handler per
 * instruction kind in a registry. */
#include <inttypes.h>
#include <signal.h>
#include <string.h>

#include <xensim/abi.h>
#include "cpuid.h"
#include "decode.h"
#include "emulate.h"
#include "guest_mem.h"
#include "hypercall.h"
#include "msr.h"
#include "vtime.h"

enum emu_result {
    EMU_NEXT,  /* done: continue after the instruction */
    EMU_FAULT, /* the domain was crashed */
    EMU_JUMP,  /* done: the handler set rip itself */
};

struct emu_ctx {
    struct xs_vcpu *v;
    const struct xs_insn *in;
    uint64_t tr[2]; /* operands for the trace */
    uint64_t result;
};

typedef enum emu_result (*emu_fn)(struct emu_ctx *c);

static void set_edx_eax(struct xs_regs *r, uint64_t v)
{
    r->rax = (uint32_t)v;
    r->rdx = v >> 32;
}

static enum emu_result emu_xen_cpuid(struct emu_ctx *c)
{
    struct xs_regs *r = &c->v->regs;
    uint32_t out[4];
    c->tr[0] = (uint32_t)r->rax;
    c->tr[1] = (uint32_t)r->rcx;
    xs_cpuid(c->v, (uint32_t)r->rax, (uint32_t)r->rcx, out);
    r->rax = out[0];
    r->rbx = out[1];
    r->rcx = out[2];
    r->rdx = out[3];
    c->result = out[0];
    return EMU_NEXT;
}

static enum emu_result emu_vmcall(struct emu_ctx *c)
{
    xs_hypercall_dispatch(c->v); /* traces itself; rip moves on like any trap */
    c->tr[0] = c->v->regs.rax;
    return EMU_NEXT;
}

static enum emu_result emu_cli(struct emu_ctx *c)
{
    c->v->virt_if = false;
    return EMU_NEXT;
}

static enum emu_result emu_sti(struct emu_ctx *c)
{
    /* The interrupt shadow: `sti; hlt` must reach the hlt before an upcall. */
    if (!c->v->virt_if) c->v->sti_shadow = true;
    c->v->virt_if = true;
    return EMU_NEXT;
}

static enum emu_result emu_iret(struct emu_ctx *c)
{
    c->tr[0] = xs_gva_for_trace(c->v->dom, c->v->regs.rsp);
    if (xs_callback_iret(c->v)) return EMU_FAULT;
    c->tr[1] = xs_gva_for_trace(c->v->dom, c->v->regs.rip);
    return EMU_JUMP;
}

static enum emu_result emu_hlt(struct emu_ctx *c)
{
    struct xs_vcpu *v = c->v;
    /* As Xen's hvm_hlt: halting with interrupts disabled takes the vCPU
     * down; when the last one goes down the domain powers off. */
    if (!v->virt_if) {
        xs_vcpu_set_state(v, XS_VCPU_DOWN);
        c->result = 1;
        for (unsigned i = 0; i < v->dom->nr_vcpus; i++)
            if (v->dom->vcpus[i].state != XS_VCPU_DOWN) return EMU_NEXT;
        xs_log(v->dom->sim,
               "domain %u (%s): all vCPUs halted with interrupts disabled: "
               "powering off, as Xen does",
               v->dom->domid, v->dom->name);
        xs_domain_end(v->dom, XS_END_POWEROFF);
        return EMU_NEXT;
    }
    /* As hvm_hlt: sleep unless an upcall can be taken at once. */
    if (!xs_callback_deliverable(v)) xs_vcpu_set_state(v, XS_VCPU_BLOCKED);
    return EMU_NEXT;
}

static enum emu_result gp_fault(struct emu_ctx *c, const char *what)
{
    xs_domain_crash(c->v, "%s: guest takes #GP and has no handler xensim can deliver to",
                    what);
    return EMU_FAULT;
}

static enum emu_result emu_wrmsr(struct emu_ctx *c)
{
    struct xs_regs *r = &c->v->regs;
    uint32_t msr = (uint32_t)r->rcx;
    uint64_t val = (uint32_t)r->rax | (r->rdx << 32);
    c->tr[0] = msr;
    c->tr[1] = val;
    if (xs_msr_write(c->v, msr, val)) {
        char what[80];
        snprintf(what, sizeof(what), "wrmsr %#x <- %#" PRIx64, msr, val);
        return gp_fault(c, what);
    }
    return EMU_NEXT;
}

static enum emu_result emu_rdmsr(struct emu_ctx *c)
{
    struct xs_regs *r = &c->v->regs;
    uint32_t msr = (uint32_t)r->rcx;
    uint64_t val;
    c->tr[0] = msr;
    if (xs_msr_read(c->v, msr, &val)) {
        char what[40];
        snprintf(what, sizeof(what), "rdmsr %#x", msr);
        return gp_fault(c, what);
    }
    set_edx_eax(r, val);
    c->result = val;
    return EMU_NEXT;
}

static enum emu_result emu_rdtsc(struct emu_ctx *c)
{
    struct xs_sim *sim = c->v->dom->sim;
    sim->vtime_ns += XS_COST_RDTSC_NS;
    set_edx_eax(&c->v->regs, xs_vtsc(sim));
    if (c->in->kind == XS_TRAP_RDTSCP) c->v->regs.rcx = c->v->id; /* TSC_AUX */
    c->result = xs_vtsc(sim);
    return EMU_NEXT;
}

static enum emu_result emu_descriptor_table(struct emu_ctx *c)
{
    struct xs_vcpu *v = c->v;
    uint64_t gva = xs_insn_mem_addr(c->in, &v->regs);
    uint8_t desc[10];
    if (xs_copy_from_guest(v->dom, desc, gva, sizeof(desc))) {
        xs_domain_crash(v, "%s operand %#" PRIx64 " is outside guest RAM",
                        xs_trap_name(c->in->kind), gva);
        return EMU_FAULT;
    }
    uint16_t limit;
    uint64_t base;
    memcpy(&limit, desc, 2);
    memcpy(&base, desc + 2, 8);
    c->tr[0] = xs_gva_for_trace(v->dom, base);
    c->tr[1] = limit;
    if (c->in->kind == XS_TRAP_LIDT) {
        v->idt_base = base;
        v->idt_limit = limit;
    }
    return EMU_NEXT;
}

static uint16_t io_port(const struct emu_ctx *c)
{
    return c->in->io_port >= 0 ? (uint16_t)c->in->io_port : (uint16_t)c->v->regs.rdx;
}

static uint64_t io_mask(const struct emu_ctx *c)
{
    return (1ULL << (8 * c->in->io_size)) - 1; /* io_size is 1, 2 or 4 */
}

/* No legacy devices: reads float high, writes are dropped (both traced). */
static enum emu_result emu_in(struct emu_ctx *c)
{
    struct xs_regs *r = &c->v->regs;
    uint64_t mask = io_mask(c);
    c->tr[0] = io_port(c);
    c->tr[1] = c->in->io_size;
    if (c->in->io_size == 4)
        r->rax = mask; /* 32-bit writes zero-extend */
    else
        r->rax = (r->rax & ~mask) | mask;
    c->result = mask;
    return EMU_NEXT;
}

static enum emu_result emu_out(struct emu_ctx *c)
{
    c->tr[0] = io_port(c);
    c->tr[1] = c->v->regs.rax & io_mask(c);
    return EMU_NEXT;
}

static const struct {
    emu_fn fn;
    uint32_t cost_ns;
} emulators[XS_TRAP_COUNT] = {
    [XS_TRAP_XEN_CPUID] = {emu_xen_cpuid, XS_COST_TRAP_NS},
    [XS_TRAP_VMCALL] = {emu_vmcall, XS_COST_TRAP_NS},
    [XS_TRAP_CLI] = {emu_cli, XS_COST_TRAP_NS},
    [XS_TRAP_STI] = {emu_sti, XS_COST_TRAP_NS},
    [XS_TRAP_HLT] = {emu_hlt, XS_COST_TRAP_NS},
    [XS_TRAP_WRMSR] = {emu_wrmsr, XS_COST_TRAP_NS},
    [XS_TRAP_RDMSR] = {emu_rdmsr, XS_COST_TRAP_NS},
    [XS_TRAP_RDTSC] = {emu_rdtsc, 0},
    [XS_TRAP_RDTSCP] = {emu_rdtsc, 0},
    [XS_TRAP_LIDT] = {emu_descriptor_table, XS_COST_TRAP_NS},
    [XS_TRAP_LGDT] = {emu_descriptor_table, XS_COST_TRAP_NS},
    [XS_TRAP_IN] = {emu_in, XS_COST_TRAP_NS},
    [XS_TRAP_OUT] = {emu_out, XS_COST_TRAP_NS},
    [XS_TRAP_IRET] = {emu_iret, XS_COST_TRAP_NS},
};

static const char *signal_what(int signo)
{
    switch (signo) {
    case SIGFPE:
        return "arithmetic exception (#DE)";
    case SIGTRAP:
        return "breakpoint/debug trap (#BP/#DB)";
    case SIGBUS:
        return "bus error (#AC or misaligned access)";
    case SIGILL:
        return "invalid opcode (#UD)";
    case SIGSEGV:
        return "general protection fault (#GP)";
    case SIGSYS:
        return "host system call from guest code (syscall is not a hypercall)";
    default:
        return "unexpected signal";
    }
}

void xs_emulate_signal_exit(struct xs_vcpu *v)
{
    struct xs_domain *d = v->dom;
    struct xs_sim *sim = d->sim;
    if (v->sig.fs_clobbered) {
        xs_domain_crash(v,
                        "guest code loaded %%fs, which holds xensim's own thread state "
                        "(segment loads are not emulated; %%fs was restored)");
        return;
    }
    if (v->sig.signo == SIGSEGV &&
        (v->sig.code == SEGV_MAPERR || v->sig.code == SEGV_ACCERR)) {
        uint64_t a = v->sig.addr, b = (uint64_t)(uintptr_t)d->base;
        char what[128];
        if (a >= b && a - b < XS_SLOT_SIZE &&
            xs_gnttab_describe_gpa(d, a - b, what, sizeof(what)))
            xs_domain_crash(v, "page fault (#PF) at guest physical %#" PRIx64 " in a %s",
                            a - b, what);
        else if (a >= b && a - b < XS_SLOT_SIZE)
            xs_domain_crash(v,
                            "page fault (#PF) at guest physical %#" PRIx64
                            " (guest RAM ends at %#" PRIx64 ")",
                            a - b, d->ram_bytes);
        else
            xs_domain_crash(v,
                            "page fault (#PF) at %#" PRIx64
                            ", outside this domain's address space",
                            a);
        return;
    }
    if (v->sig.signo == SIGPROF) {
        sim->stuck = v; /* registers saved: the guest could even resume */
        return;
    }
    if (v->sig.signo != SIGSEGV && v->sig.signo != SIGILL) {
        /* int3 reports the address after itself; point at the instruction. */
        if (v->sig.signo == SIGTRAP && v->sig.code == SI_KERNEL) v->regs.rip--;
        /* Likewise syscall (2 bytes). */
        if (v->sig.signo == SIGSYS) v->regs.rip -= 2;
        xs_domain_crash(v, "%s", signal_what(v->sig.signo));
        return;
    }
    uint8_t *code = xs_gva_ptr(d, v->regs.rip, 1);
    if (!code) {
        xs_domain_crash(v, "%s with rip %#" PRIx64 " outside guest RAM",
                        signal_what(v->sig.signo), v->regs.rip);
        return;
    }
    uint64_t avail = d->ram_bytes - (v->regs.rip - (uint64_t)(uintptr_t)d->base);
    struct xs_insn in;
    if (xs_decode(sim->capstone, code, avail < 15 ? avail : 15, v->regs.rip, &in)) {
        xs_domain_crash(v, "%s: undecodable instruction", signal_what(v->sig.signo));
        return;
    }
    if (in.kind == XS_TRAP_NONE || !emulators[in.kind].fn) {
        xs_domain_crash(v, "%s at '%s', which xensim does not emulate",
                        signal_what(v->sig.signo), in.text);
        return;
    }
    struct emu_ctx c = {.v = v, .in = &in};
    sim->vtime_ns += emulators[in.kind].cost_ns;
    uint64_t rip_gpa = v->regs.rip - (uint64_t)(uintptr_t)d->base;
    enum emu_result res = emulators[in.kind].fn(&c);
    if (res == EMU_FAULT) return;
    if (res == EMU_NEXT) v->regs.rip += in.len;
    if (in.kind != XS_TRAP_VMCALL) {
        uint64_t ta[3] = {c.tr[0], c.tr[1], rip_gpa};
        xs_trace_emit(&sim->trace, sim->vtime_ns, d->domid, v->id, XS_TR_TRAP, in.kind,
                      ta, 3, (int64_t)c.result, NULL, 0);
    }
}
