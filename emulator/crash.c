/* A guest fault ends its domain: print where, with registers and the
 * disassembled instruction, so the guest developer sees what happened. */
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include "decode.h"
#include "guest_mem.h"
#include "sim.h"

static void print_insn(struct xs_sim *sim, struct xs_domain *d, uint64_t rip)
{
    uint8_t *code = xs_gva_ptr(d, rip, 1);
    if (!code) {
        xs_log(sim, "  instruction: <rip outside guest RAM>");
        return;
    }
    uint64_t avail = d->ram_bytes - (rip - (uint64_t)(uintptr_t)d->base);
    cs_insn *insn = NULL;
    size_t n = cs_disasm(sim->capstone, code, avail < 15 ? avail : 15, rip, 1, &insn);
    if (n == 1) {
        char hex[64] = "";
        for (unsigned i = 0; i < insn->size && i < 15; i++)
            snprintf(hex + strlen(hex), sizeof(hex) - strlen(hex), "%02x ",
                     insn->bytes[i]);
        xs_log(sim, "  instruction: %s %s   [%s]", insn->mnemonic, insn->op_str, hex);
        cs_free(insn, n);
    } else {
        xs_log(sim, "  instruction: <undecodable: %02x %02x %02x %02x>", code[0],
               avail > 1 ? code[1] : 0, avail > 2 ? code[2] : 0, avail > 3 ? code[3] : 0);
    }
}

void xs_domain_crash(struct xs_vcpu *v, const char *fmt, ...)
{
    struct xs_domain *d = v->dom;
    struct xs_sim *sim = d->sim;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    const struct xs_regs *r = &v->regs;
    uint64_t b = (uint64_t)(uintptr_t)d->base;
    xs_log(sim, "xensim: domain %u (%s) vcpu %u crashed: %s", d->domid, d->name, v->id,
           msg);
    xs_log(sim,
           "  rip %016" PRIx64 " (guest physical %#" PRIx64 ")  rsp %016" PRIx64
           "  rflags %08" PRIx64,
           r->rip, r->rip - b, r->rsp, r->rflags);
    print_insn(sim, d, r->rip);
    xs_log(sim,
           "  rax %016" PRIx64 " rbx %016" PRIx64 " rcx %016" PRIx64 " rdx %016" PRIx64,
           r->rax, r->rbx, r->rcx, r->rdx);
    xs_log(sim,
           "  rsi %016" PRIx64 " rdi %016" PRIx64 " rbp %016" PRIx64 " r8  %016" PRIx64,
           r->rsi, r->rdi, r->rbp, r->r8);
    xs_log(sim,
           "  r9  %016" PRIx64 " r10 %016" PRIx64 " r11 %016" PRIx64 " r12 %016" PRIx64,
           r->r9, r->r10, r->r11, r->r12);
    xs_log(sim, "  r13 %016" PRIx64 " r14 %016" PRIx64 " r15 %016" PRIx64, r->r13, r->r14,
           r->r15);
    uint64_t ta[4] = {(uint64_t)v->sig.signo, (uint64_t)(int64_t)v->sig.code,
                      xs_gva_for_trace(d, r->rip), xs_gva_for_trace(d, v->sig.addr)};
    xs_trace_emit(&sim->trace, sim->vtime_ns, d->domid, v->id, XS_TR_FAULT, 0, ta, 4, 0,
                  msg, (uint32_t)strlen(msg));
    xs_domain_end(d, XS_END_FAULT);
}
