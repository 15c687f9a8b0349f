/* Decoding trapped instructions.  Xen's forced-emulation prefix and vmcall
 * are matched by their bytes; everything else goes through capstone. */
#include <stdio.h>
#include <string.h>

#include "decode.h"
#include "sim.h"

static const uint8_t xen_cpuid_bytes[] = {0x0f, 0x0b, 0x78, 0x65, 0x6e, 0x0f, 0xa2};
static const uint8_t vmcall_bytes[] = {0x0f, 0x01, 0xc1};
static const uint8_t vmmcall_bytes[] = {0x0f, 0x01, 0xd9};
static const uint8_t ud2_vmcall_bytes[] = {0x0f, 0x0b, 0x0f, 0x01, 0xc1};

static const char *const trap_names[XS_TRAP_COUNT] = {
    [XS_TRAP_NONE] = "none",     [XS_TRAP_XEN_CPUID] = "xen-cpuid",
    [XS_TRAP_VMCALL] = "vmcall", [XS_TRAP_CLI] = "cli",
    [XS_TRAP_STI] = "sti",       [XS_TRAP_HLT] = "hlt",
    [XS_TRAP_WRMSR] = "wrmsr",   [XS_TRAP_RDMSR] = "rdmsr",
    [XS_TRAP_RDTSC] = "rdtsc",   [XS_TRAP_RDTSCP] = "rdtscp",
    [XS_TRAP_LIDT] = "lidt",     [XS_TRAP_LGDT] = "lgdt",
    [XS_TRAP_IN] = "in",         [XS_TRAP_OUT] = "out",
    [XS_TRAP_IRET] = "iretq",
};

const char *xs_trap_name(unsigned kind)
{
    return kind < XS_TRAP_COUNT ? trap_names[kind] : "invalid";
}

static const struct {
    unsigned cs_id;
    enum xs_trap_kind kind;
} insn_map[] = {
    {X86_INS_CLI, XS_TRAP_CLI},        {X86_INS_STI, XS_TRAP_STI},
    {X86_INS_HLT, XS_TRAP_HLT},        {X86_INS_WRMSR, XS_TRAP_WRMSR},
    {X86_INS_RDMSR, XS_TRAP_RDMSR},    {X86_INS_RDTSC, XS_TRAP_RDTSC},
    {X86_INS_RDTSCP, XS_TRAP_RDTSCP},  {X86_INS_LIDT, XS_TRAP_LIDT},
    {X86_INS_LGDT, XS_TRAP_LGDT},      {X86_INS_IN, XS_TRAP_IN},
    {X86_INS_OUT, XS_TRAP_OUT},        {X86_INS_VMCALL, XS_TRAP_VMCALL},
    {X86_INS_VMMCALL, XS_TRAP_VMCALL}, {X86_INS_IRETQ, XS_TRAP_IRET},
};

static unsigned reg_size(int reg)
{
    switch (reg) {
    case X86_REG_AL:
        return 1;
    case X86_REG_AX:
        return 2;
    case X86_REG_EAX:
        return 4;
    default:
        return 0;
    }
}

int xs_decode(csh cs, const uint8_t *bytes, size_t avail, uint64_t addr,
              struct xs_insn *out)
{
    memset(out, 0, sizeof(*out));
    out->io_port = -1;
    if (avail >= sizeof(xen_cpuid_bytes) &&
        !memcmp(bytes, xen_cpuid_bytes, sizeof(xen_cpuid_bytes))) {
        out->kind = XS_TRAP_XEN_CPUID;
        out->len = sizeof(xen_cpuid_bytes);
        snprintf(out->text, sizeof(out->text), "ud2; .ascii \"xen\"; cpuid");
        return 0;
    }
    /* xensim's vmcall-mode stub: ud2 traps on every host (see hypercall.c). */
    if (avail >= sizeof(ud2_vmcall_bytes) &&
        !memcmp(bytes, ud2_vmcall_bytes, sizeof(ud2_vmcall_bytes))) {
        out->kind = XS_TRAP_VMCALL;
        out->len = sizeof(ud2_vmcall_bytes);
        snprintf(out->text, sizeof(out->text), "ud2; vmcall");
        return 0;
    }
    if (avail >= 3 &&
        (!memcmp(bytes, vmcall_bytes, 3) || !memcmp(bytes, vmmcall_bytes, 3))) {
        out->kind = XS_TRAP_VMCALL;
        out->len = 3;
        snprintf(out->text, sizeof(out->text), bytes[2] == 0xc1 ? "vmcall" : "vmmcall");
        return 0;
    }
    cs_insn *insn = NULL;
    size_t n = cs_disasm(cs, bytes, avail < 15 ? avail : 15, addr, 1, &insn);
    if (n != 1) return -1;
    out->len = insn->size;
    snprintf(out->text, sizeof(out->text), "%s%s%s", insn->mnemonic,
             insn->op_str[0] ? " " : "", insn->op_str);
    for (size_t i = 0; i < sizeof(insn_map) / sizeof(insn_map[0]); i++)
        if (insn_map[i].cs_id == insn->id) out->kind = insn_map[i].kind;
    cs_x86 *x = insn->detail ? &insn->detail->x86 : NULL;
    /* 32-bit address forms (0x67) are not emulated: the guest is 64-bit. */
    if (x && (out->kind == XS_TRAP_LIDT || out->kind == XS_TRAP_LGDT)) {
        if (x->op_count != 1 || x->operands[0].type != X86_OP_MEM ||
            x->operands[0].mem.segment != X86_REG_INVALID ||
            x->prefix[3] == X86_PREFIX_ADDRSIZE)
            out->kind = XS_TRAP_NONE;
        else {
            out->mem_base = x->operands[0].mem.base;
            out->mem_index = x->operands[0].mem.index;
            out->mem_scale = x->operands[0].mem.scale;
            out->mem_disp = x->operands[0].mem.disp;
        }
    }
    if (x && (out->kind == XS_TRAP_IN || out->kind == XS_TRAP_OUT)) {
        /* in reg, port  /  out port, reg;  port is imm8 or dx */
        int data = out->kind == XS_TRAP_IN ? 0 : 1, port = 1 - data;
        if (x->op_count != 2 || x->operands[data].type != X86_OP_REG ||
            !reg_size(x->operands[data].reg))
            out->kind = XS_TRAP_NONE;
        else {
            out->io_size = reg_size(x->operands[data].reg);
            if (x->operands[port].type == X86_OP_IMM)
                out->io_port = (int)(x->operands[port].imm & 0xff);
            else if (x->operands[port].type != X86_OP_REG ||
                     x->operands[port].reg != X86_REG_DX)
                out->kind = XS_TRAP_NONE;
        }
    }
    cs_free(insn, n);
    return 0;
}

uint64_t xs_reg_by_cs_id(const struct xs_regs *r, int id)
{
    switch (id) {
    case X86_REG_RAX:
        return r->rax;
    case X86_REG_RBX:
        return r->rbx;
    case X86_REG_RCX:
        return r->rcx;
    case X86_REG_RDX:
        return r->rdx;
    case X86_REG_RSI:
        return r->rsi;
    case X86_REG_RDI:
        return r->rdi;
    case X86_REG_RBP:
        return r->rbp;
    case X86_REG_RSP:
        return r->rsp;
    case X86_REG_R8:
        return r->r8;
    case X86_REG_R9:
        return r->r9;
    case X86_REG_R10:
        return r->r10;
    case X86_REG_R11:
        return r->r11;
    case X86_REG_R12:
        return r->r12;
    case X86_REG_R13:
        return r->r13;
    case X86_REG_R14:
        return r->r14;
    case X86_REG_R15:
        return r->r15;
    case X86_REG_RIP:
        return r->rip;
    default:
        return 0;
    }
}

uint64_t xs_insn_mem_addr(const struct xs_insn *in, const struct xs_regs *r)
{
    uint64_t a = (uint64_t)in->mem_disp;
    if (in->mem_base == X86_REG_RIP)
        a += r->rip + in->len;
    else if (in->mem_base)
        a += xs_reg_by_cs_id(r, in->mem_base);
    if (in->mem_index) a += xs_reg_by_cs_id(r, in->mem_index) * (uint64_t)in->mem_scale;
    return a;
}
