/* Decoding the instruction at a trapped guest RIP (capstone). */
#ifndef XS_DECODE_H
#define XS_DECODE_H
#include <stddef.h>
#include <stdint.h>
#include <capstone/capstone.h>

struct xs_regs;

enum xs_trap_kind {
    XS_TRAP_NONE = 0, /* decoded, but not an instruction xensim emulates */
    XS_TRAP_XEN_CPUID,
    XS_TRAP_VMCALL,
    XS_TRAP_CLI,
    XS_TRAP_STI,
    XS_TRAP_HLT,
    XS_TRAP_WRMSR,
    XS_TRAP_RDMSR,
    XS_TRAP_RDTSC,
    XS_TRAP_RDTSCP,
    XS_TRAP_LIDT,
    XS_TRAP_LGDT,
    XS_TRAP_IN,
    XS_TRAP_OUT,
    XS_TRAP_IRET, /* iretq from an injected upcall (the frame's CS is null) */
    XS_TRAP_COUNT
};

struct xs_insn {
    enum xs_trap_kind kind;
    unsigned len;
    char text[200]; /* "mnemonic operands" for reports */
    /* memory operand (lidt/lgdt) */
    int mem_base, mem_index, mem_scale; /* capstone register ids, 0 = none */
    int64_t mem_disp;
    /* port I/O */
    unsigned io_size;
    int io_port; /* immediate port, or -1 when the port is in %dx */
};

/* Decode one instruction from bytes (avail of them readable) at guest
 * address addr.  Returns 0 (kind may be XS_TRAP_NONE) or -1 when the bytes
 * are not a valid instruction. */
int xs_decode(csh cs, const uint8_t *bytes, size_t avail, uint64_t addr,
              struct xs_insn *out);
/* Effective address of the memory operand given the guest's registers. */
uint64_t xs_insn_mem_addr(const struct xs_insn *in, const struct xs_regs *r);
/* A guest register by capstone id (0 for ids it does not model). */
uint64_t xs_reg_by_cs_id(const struct xs_regs *r, int id);
const char *xs_trap_name(unsigned kind);
#endif
