/* xs_decode tests: which trapped instructions xensim recognises, how long it
 * says they are (the guest resumes at rip + len) and the operands it hands
 * to the emulators.  Every decode reads from a heap copy of exactly `avail`
 * bytes, so under ASan a read past what the caller said is readable fails
 * the test. */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <capstone/capstone.h>

#include "decode.h"
#include "sim.h"
#include "unit.h"

#define GUEST_RIP 0x200000101000ULL

static csh cs;

static void cs_setup(void)
{
    ck_assert_int_eq(cs_open(CS_ARCH_X86, CS_MODE_64, &cs), CS_ERR_OK);
    ck_assert_int_eq(cs_option(cs, CS_OPT_DETAIL, CS_OPT_ON), CS_ERR_OK);
}

static void cs_teardown(void)
{
    cs_close(&cs);
}

/* Decode from an exact-size heap buffer. */
static int decode(const uint8_t *bytes, size_t avail, struct xs_insn *out)
{
    uint8_t *buf = malloc(avail ? avail : 1);
    ck_assert_ptr_nonnull(buf);
    memcpy(buf, bytes, avail);
    memset(out, 0x5a, sizeof(*out)); /* xs_decode must set every field */
    int rc = xs_decode(cs, buf, avail, GUEST_RIP, out);
    free(buf);
    return rc;
}

#define BYTES(...)                                                                       \
    ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})

static void expect_kind(const uint8_t *b, size_t n, enum xs_trap_kind kind, unsigned len)
{
    struct xs_insn in;
    ck_assert_int_eq(decode(b, n, &in), 0);
    ck_assert_msg(in.kind == kind, "'%s': kind %s, want %s", in.text,
                  xs_trap_name(in.kind), xs_trap_name(kind));
    ck_assert_uint_eq(in.len, len);
}

/* ---- Xen's forced-emulation prefix and vmcall ---------------------------- */

START_TEST(xen_cpuid)
{
    struct xs_insn in;
    ck_assert_int_eq(decode(BYTES(0x0f, 0x0b, 0x78, 0x65, 0x6e, 0x0f, 0xa2), &in), 0);
    ck_assert_int_eq(in.kind, XS_TRAP_XEN_CPUID);
    ck_assert_uint_eq(in.len, 7);
    ck_assert_str_eq(xs_trap_name(in.kind), "xen-cpuid");
    /* Followed by more code, it is still 7 bytes long. */
    expect_kind(BYTES(0x0f, 0x0b, 0x78, 0x65, 0x6e, 0x0f, 0xa2, 0x90, 0x90, 0xc3),
                XS_TRAP_XEN_CPUID, 7);
}
END_TEST

START_TEST(plain_ud2_not_emulated)
{
    /* A bare ud2 is the guest's BUG(): xensim must not treat it as cpuid. */
    expect_kind(BYTES(0x0f, 0x0b), XS_TRAP_NONE, 2);
    expect_kind(BYTES(0x0f, 0x0b, 0x90, 0x90, 0x90, 0x90, 0x90), XS_TRAP_NONE, 2);
    /* The signature must be exactly "xen" followed by cpuid. */
    expect_kind(BYTES(0x0f, 0x0b, 0x78, 0x65, 0x4e, 0x0f, 0xa2), XS_TRAP_NONE, 2);
    expect_kind(BYTES(0x0f, 0x0b, 0x58, 0x65, 0x6e, 0x0f, 0xa2), XS_TRAP_NONE, 2);
    expect_kind(BYTES(0x0f, 0x0b, 0x78, 0x65, 0x6e, 0x0f, 0xa3, 0xc0), XS_TRAP_NONE, 2);
    expect_kind(BYTES(0x0f, 0x0b, 0x78, 0x65, 0x6e, 0x90, 0xa2), XS_TRAP_NONE, 2);
}
END_TEST

START_TEST(xen_cpuid_truncated)
{
    /* The prefix cut short by the end of readable memory is only a ud2. */
    static const uint8_t full[] = {0x0f, 0x0b, 0x78, 0x65, 0x6e, 0x0f, 0xa2};
    for (size_t avail = 2; avail < sizeof(full); avail++) {
        struct xs_insn in;
        ck_assert_int_eq(decode(full, avail, &in), 0);
        ck_assert_msg(in.kind == XS_TRAP_NONE, "avail %zu: kind %s", avail,
                      xs_trap_name(in.kind));
        ck_assert_uint_eq(in.len, 2);
    }
}
END_TEST

START_TEST(vmcall_vmmcall)
{
    struct xs_insn in;
    ck_assert_int_eq(decode(BYTES(0x0f, 0x01, 0xc1), &in), 0);
    ck_assert_int_eq(in.kind, XS_TRAP_VMCALL);
    ck_assert_uint_eq(in.len, 3);
    ck_assert_str_eq(in.text, "vmcall");
    ck_assert_int_eq(decode(BYTES(0x0f, 0x01, 0xd9), &in), 0);
    ck_assert_int_eq(in.kind, XS_TRAP_VMCALL);
    ck_assert_uint_eq(in.len, 3);
    ck_assert_str_eq(in.text, "vmmcall");
    /* As the hypercall page lays it out: vmcall; ret. */
    expect_kind(BYTES(0x0f, 0x01, 0xc1, 0xc3), XS_TRAP_VMCALL, 3);
    /* xensim's vmcall-mode hypercall stub: ud2 in front of the vmcall so it
     * traps on every host; the guest resumes after the vmcall. */
    ck_assert_int_eq(decode(BYTES(0x0f, 0x0b, 0x0f, 0x01, 0xc1), &in), 0);
    ck_assert_int_eq(in.kind, XS_TRAP_VMCALL);
    ck_assert_uint_eq(in.len, 5);
    expect_kind(BYTES(0x0f, 0x0b, 0x0f, 0x01, 0xc1, 0xc3), XS_TRAP_VMCALL, 5);
    /* Cut short, it is only a ud2. */
    for (size_t avail = 2; avail < 5; avail++)
        expect_kind((const uint8_t[]){0x0f, 0x0b, 0x0f, 0x01, 0xc1}, avail, XS_TRAP_NONE,
                    2);
    /* Two bytes of it are not a vmcall. */
    ck_assert_msg(decode(BYTES(0x0f, 0x01), &in) == -1 || in.kind != XS_TRAP_VMCALL,
                  "0f 01 alone decoded as vmcall");
    /* Other 0f 01 group members are not vmcall: vmlaunch, vmrun. */
    expect_kind(BYTES(0x0f, 0x01, 0xc2), XS_TRAP_NONE, 3);
    expect_kind(BYTES(0x0f, 0x01, 0xd8), XS_TRAP_NONE, 3);
}
END_TEST

/* ---- simple privileged instructions ------------------------------------- */

static const struct simple {
    const char *name;
    uint8_t bytes[4];
    unsigned len;
    enum xs_trap_kind kind;
} simple[] = {
    {"cli", {0xfa}, 1, XS_TRAP_CLI},
    {"sti", {0xfb}, 1, XS_TRAP_STI},
    {"hlt", {0xf4}, 1, XS_TRAP_HLT},
    {"wrmsr", {0x0f, 0x30}, 2, XS_TRAP_WRMSR},
    {"rdmsr", {0x0f, 0x32}, 2, XS_TRAP_RDMSR},
    {"rdtsc", {0x0f, 0x31}, 2, XS_TRAP_RDTSC},
    {"rdtscp", {0x0f, 0x01, 0xf9}, 3, XS_TRAP_RDTSCP},
};
#define NR_SIMPLE ((int)(sizeof(simple) / sizeof(simple[0])))

START_TEST(simple_insns)
{
    const struct simple *s = &simple[_i];
    uint8_t buf[8];
    memset(buf, 0x90, sizeof(buf)); /* followed by nops */
    memcpy(buf, s->bytes, s->len);
    struct xs_insn in;
    /* Exactly the instruction, then with more code after it. */
    for (size_t avail = s->len; avail <= s->len + 3; avail += 3) {
        ck_assert_int_eq(decode(buf, avail, &in), 0);
        ck_assert_msg(in.kind == s->kind, "%s: kind %s", s->name, xs_trap_name(in.kind));
        ck_assert_uint_eq(in.len, s->len);
        ck_assert_str_eq(in.text, s->name);
        ck_assert_str_eq(xs_trap_name(in.kind), s->name);
    }
}
END_TEST

START_TEST(unprivileged_insns_are_none)
{
    expect_kind(BYTES(0x90), XS_TRAP_NONE, 1);                         /* nop */
    expect_kind(BYTES(0x0f, 0xa2), XS_TRAP_NONE, 2);                   /* plain cpuid */
    expect_kind(BYTES(0x48, 0x89, 0xd8), XS_TRAP_NONE, 3);             /* mov rax, rbx */
    expect_kind(BYTES(0x0f, 0x01, 0x08), XS_TRAP_NONE, 3);             /* sidt [rax] */
    expect_kind(BYTES(0x0f, 0x01, 0x00), XS_TRAP_NONE, 3);             /* sgdt [rax] */
    expect_kind(BYTES(0x0f, 0x00, 0x18), XS_TRAP_NONE, 3);             /* ltr [rax] */
    expect_kind(BYTES(0x0f, 0x22, 0xd8), XS_TRAP_NONE, 3);             /* mov cr3, rax */
    expect_kind(BYTES(0xcd, 0x80), XS_TRAP_NONE, 2);                   /* int 0x80 */
    expect_kind(BYTES(0xe8, 0x00, 0x00, 0x00, 0x00), XS_TRAP_NONE, 5); /* call */
}
END_TEST

/* ---- lidt / lgdt ---------------------------------------------------------- */

static struct xs_regs regs_with(uint64_t seed)
{
    struct xs_regs r;
    uint64_t *p = (uint64_t *)&r;
    for (size_t i = 0; i < sizeof(r) / sizeof(uint64_t); i++)
        p[i] = seed + 0x1111 * (i + 1);
    return r;
}

START_TEST(lidt_lgdt_rax)
{
    struct xs_insn in;
    struct xs_regs r = regs_with(0x200000400000ULL);
    r.rax = 0x200000123450ULL;
    ck_assert_int_eq(decode(BYTES(0x0f, 0x01, 0x18), &in), 0); /* lidt [rax] */
    ck_assert_int_eq(in.kind, XS_TRAP_LIDT);
    ck_assert_uint_eq(in.len, 3);
    ck_assert_int_eq(in.mem_base, X86_REG_RAX);
    ck_assert_int_eq(in.mem_index, 0);
    ck_assert_int_eq(in.mem_disp, 0);
    ck_assert_uint_eq(xs_insn_mem_addr(&in, &r), r.rax);

    ck_assert_int_eq(decode(BYTES(0x0f, 0x01, 0x10), &in), 0); /* lgdt [rax] */
    ck_assert_int_eq(in.kind, XS_TRAP_LGDT);
    ck_assert_uint_eq(in.len, 3);
    ck_assert_uint_eq(xs_insn_mem_addr(&in, &r), r.rax);
}
END_TEST

START_TEST(lidt_rip_relative)
{
    struct xs_insn in;
    struct xs_regs r = regs_with(7);
    r.rip = GUEST_RIP;
    /* lidt [rip + 0x1000]: relative to the end of the 7-byte instruction. */
    ck_assert_int_eq(decode(BYTES(0x0f, 0x01, 0x1d, 0x00, 0x10, 0x00, 0x00), &in), 0);
    ck_assert_int_eq(in.kind, XS_TRAP_LIDT);
    ck_assert_uint_eq(in.len, 7);
    ck_assert_int_eq(in.mem_base, X86_REG_RIP);
    ck_assert_int_eq(in.mem_disp, 0x1000);
    ck_assert_uint_eq(xs_insn_mem_addr(&in, &r), GUEST_RIP + 7 + 0x1000);
    /* A negative displacement: lgdt [rip - 0x10]. */
    ck_assert_int_eq(decode(BYTES(0x0f, 0x01, 0x15, 0xf0, 0xff, 0xff, 0xff), &in), 0);
    ck_assert_int_eq(in.kind, XS_TRAP_LGDT);
    ck_assert_uint_eq(in.len, 7);
    ck_assert_uint_eq(xs_insn_mem_addr(&in, &r), GUEST_RIP + 7 - 0x10);
}
END_TEST

START_TEST(lidt_sib)
{
    struct xs_insn in;
    struct xs_regs r = regs_with(3);
    r.rbx = 0x200000500000ULL;
    r.rcx = 0x31;
    /* lgdt [rbx + rcx*8 + 0x10] */
    ck_assert_int_eq(decode(BYTES(0x0f, 0x01, 0x54, 0xcb, 0x10), &in), 0);
    ck_assert_int_eq(in.kind, XS_TRAP_LGDT);
    ck_assert_uint_eq(in.len, 5);
    ck_assert_int_eq(in.mem_base, X86_REG_RBX);
    ck_assert_int_eq(in.mem_index, X86_REG_RCX);
    ck_assert_int_eq(in.mem_scale, 8);
    ck_assert_int_eq(in.mem_disp, 0x10);
    ck_assert_uint_eq(xs_insn_mem_addr(&in, &r), r.rbx + 0x31 * 8 + 0x10);
    /* lidt [rbx + rcx*8 + 0x10] */
    ck_assert_int_eq(decode(BYTES(0x0f, 0x01, 0x5c, 0xcb, 0x10), &in), 0);
    ck_assert_int_eq(in.kind, XS_TRAP_LIDT);
    ck_assert_uint_eq(xs_insn_mem_addr(&in, &r), r.rbx + 0x31 * 8 + 0x10);
    /* REX registers: lidt [r12 + r13*2 - 8] */
    r.r12 = 0x200000600000ULL;
    r.r13 = 0x100;
    ck_assert_int_eq(decode(BYTES(0x43, 0x0f, 0x01, 0x5c, 0x6c, 0xf8), &in), 0);
    ck_assert_int_eq(in.kind, XS_TRAP_LIDT);
    ck_assert_uint_eq(in.len, 6);
    ck_assert_uint_eq(xs_insn_mem_addr(&in, &r), r.r12 + 0x200 - 8);
    /* No base, no index: lidt [0x2000] */
    ck_assert_int_eq(decode(BYTES(0x0f, 0x01, 0x1c, 0x25, 0x00, 0x20, 0x00, 0x00), &in),
                     0);
    ck_assert_int_eq(in.kind, XS_TRAP_LIDT);
    ck_assert_uint_eq(in.len, 8);
    ck_assert_uint_eq(xs_insn_mem_addr(&in, &r), 0x2000);
}
END_TEST

START_TEST(lidt_segment_override_not_emulated)
{
    /* fs:/gs: would need the segment base, which xensim does not apply. */
    expect_kind(BYTES(0x64, 0x0f, 0x01, 0x18), XS_TRAP_NONE, 4); /* lidt fs:[rax] */
    expect_kind(BYTES(0x65, 0x0f, 0x01, 0x18), XS_TRAP_NONE, 4); /* lidt gs:[rax] */
    expect_kind(BYTES(0x65, 0x0f, 0x01, 0x10), XS_TRAP_NONE, 4); /* lgdt gs:[rax] */
}
END_TEST

/* Xen fidelity (decode.c xs_decode / xs_insn_mem_addr): with an
 * address-size prefix (0x67) the operand is [eax] / [eip + disp], whose
 * effective address is the 32-bit sum zero-extended.  xensim reports
 * XS_TRAP_LIDT with mem_base = X86_REG_EAX, and xs_reg_by_cs_id returns 0 for
 * 32-bit register ids, so the emulator reads the descriptor from address 0
 * (+disp) instead.  Either the decode must say XS_TRAP_NONE or the address
 * must be right. */
START_TEST(lidt_addr32)
{
    struct xs_insn in;
    struct xs_regs r = regs_with(0);
    r.rax = 0xffffffff00345670ULL;
    r.rip = GUEST_RIP;
    ck_assert_int_eq(decode(BYTES(0x67, 0x0f, 0x01, 0x18), &in), 0); /* lidt [eax] */
    ck_assert_uint_eq(in.len, 4);
    ck_assert_msg(in.kind == XS_TRAP_NONE || xs_insn_mem_addr(&in, &r) == 0x345670,
                  "lidt [eax]: emulated with address %#llx, want 0x345670",
                  (unsigned long long)xs_insn_mem_addr(&in, &r));
    /* lidt [eip + 0x10] */
    ck_assert_int_eq(decode(BYTES(0x67, 0x0f, 0x01, 0x1d, 0x10, 0, 0, 0), &in), 0);
    ck_assert_uint_eq(in.len, 8);
    uint64_t want = (uint32_t)(GUEST_RIP + 8 + 0x10);
    ck_assert_msg(in.kind == XS_TRAP_NONE || xs_insn_mem_addr(&in, &r) == want,
                  "lidt [eip+0x10]: emulated with address %#llx, want %#llx",
                  (unsigned long long)xs_insn_mem_addr(&in, &r),
                  (unsigned long long)want);
}
END_TEST

START_TEST(reg_by_cs_id)
{
    struct xs_regs r = regs_with(0x1000);
    static const struct {
        int id;
        size_t off;
    } map[] = {
        {X86_REG_RAX, offsetof(struct xs_regs, rax)},
        {X86_REG_RBX, offsetof(struct xs_regs, rbx)},
        {X86_REG_RCX, offsetof(struct xs_regs, rcx)},
        {X86_REG_RDX, offsetof(struct xs_regs, rdx)},
        {X86_REG_RSI, offsetof(struct xs_regs, rsi)},
        {X86_REG_RDI, offsetof(struct xs_regs, rdi)},
        {X86_REG_RBP, offsetof(struct xs_regs, rbp)},
        {X86_REG_RSP, offsetof(struct xs_regs, rsp)},
        {X86_REG_R8, offsetof(struct xs_regs, r8)},
        {X86_REG_R9, offsetof(struct xs_regs, r9)},
        {X86_REG_R10, offsetof(struct xs_regs, r10)},
        {X86_REG_R11, offsetof(struct xs_regs, r11)},
        {X86_REG_R12, offsetof(struct xs_regs, r12)},
        {X86_REG_R13, offsetof(struct xs_regs, r13)},
        {X86_REG_R14, offsetof(struct xs_regs, r14)},
        {X86_REG_R15, offsetof(struct xs_regs, r15)},
        {X86_REG_RIP, offsetof(struct xs_regs, rip)},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        uint64_t want;
        memcpy(&want, (const uint8_t *)&r + map[i].off, sizeof(want));
        ck_assert_uint_eq(xs_reg_by_cs_id(&r, map[i].id), want);
    }
    ck_assert_uint_eq(xs_reg_by_cs_id(&r, X86_REG_INVALID), 0);
    ck_assert_uint_eq(xs_reg_by_cs_id(&r, X86_REG_CR3), 0);
}
END_TEST

/* ---- port I/O ---------------------------------------------------------------- */

static void expect_io(const uint8_t *b, size_t n, enum xs_trap_kind kind, unsigned len,
                      unsigned size, int port)
{
    struct xs_insn in;
    ck_assert_int_eq(decode(b, n, &in), 0);
    ck_assert_msg(in.kind == kind, "'%s': kind %s", in.text, xs_trap_name(in.kind));
    ck_assert_uint_eq(in.len, len);
    ck_assert_uint_eq(in.io_size, size);
    ck_assert_int_eq(in.io_port, port);
}

START_TEST(port_io)
{
    expect_io(BYTES(0xec), XS_TRAP_IN, 1, 1, -1);                /* in al, dx */
    expect_io(BYTES(0xed), XS_TRAP_IN, 1, 4, -1);                /* in eax, dx */
    expect_io(BYTES(0x66, 0xed), XS_TRAP_IN, 2, 2, -1);          /* in ax, dx */
    expect_io(BYTES(0xe5, 0x71), XS_TRAP_IN, 2, 4, 0x71);        /* in eax, 0x71 */
    expect_io(BYTES(0xe4, 0xff), XS_TRAP_IN, 2, 1, 0xff);        /* in al, 0xff */
    expect_io(BYTES(0xee), XS_TRAP_OUT, 1, 1, -1);               /* out dx, al */
    expect_io(BYTES(0xef), XS_TRAP_OUT, 1, 4, -1);               /* out dx, eax */
    expect_io(BYTES(0x66, 0xef), XS_TRAP_OUT, 2, 2, -1);         /* out dx, ax */
    expect_io(BYTES(0xe6, 0x80), XS_TRAP_OUT, 2, 1, 0x80);       /* out 0x80, al */
    expect_io(BYTES(0x66, 0xe7, 0x70), XS_TRAP_OUT, 3, 2, 0x70); /* out 0x70, ax */
    /* Followed by more code. */
    expect_io(BYTES(0xe6, 0x80, 0xe6, 0x80), XS_TRAP_OUT, 2, 1, 0x80);
}
END_TEST

START_TEST(string_io_not_emulated)
{
    expect_kind(BYTES(0x6e), XS_TRAP_NONE, 1);             /* outsb */
    expect_kind(BYTES(0x6f), XS_TRAP_NONE, 1);             /* outsd */
    expect_kind(BYTES(0x6c), XS_TRAP_NONE, 1);             /* insb */
    expect_kind(BYTES(0xf3, 0x6e), XS_TRAP_NONE, 2);       /* rep outsb */
    expect_kind(BYTES(0xf3, 0x66, 0x6d), XS_TRAP_NONE, 3); /* rep insw */
}
END_TEST

/* ---- bytes that are not an instruction ---------------------------------- */

static void expect_invalid(const uint8_t *b, size_t n)
{
    struct xs_insn in;
    int rc = decode(b, n, &in);
    ck_assert_msg(rc == -1 ||
                      (rc == 0 && in.kind == XS_TRAP_NONE && in.len >= 1 && in.len <= n),
                  "rc %d kind %s len %u", rc, xs_trap_name(in.kind), in.len);
}

START_TEST(invalid_bytes)
{
    struct xs_insn in;
    expect_invalid(BYTES(0x0f));             /* a lone escape byte */
    expect_invalid(BYTES(0x0f, 0x04, 0x90)); /* undefined opcode */
    expect_invalid(BYTES(0x06, 0x90));       /* push es: invalid in 64-bit mode */
    expect_invalid(BYTES(0xf0, 0xfa));       /* lock cli */
    /* Fifteen prefixes and no opcode within the 15-byte limit. */
    expect_invalid(BYTES(0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
                         0x66, 0x66, 0x66, 0x66, 0xfa));
    /* Nothing readable at all. */
    ck_assert_int_eq(xs_decode(cs, (const uint8_t *)"", 0, GUEST_RIP, &in), -1);
    /* A lone escape byte is definitely not decodable. */
    ck_assert_int_eq(decode(BYTES(0x0f), &in), -1);
}
END_TEST

/* Every prefix of every instruction above, in a buffer of exactly that size:
 * either undecodable or shorter than what is readable, never an overread. */
START_TEST(truncated_no_overread)
{
    const uint8_t *const insns[] = {
        (const uint8_t[]){7, 0x0f, 0x0b, 0x78, 0x65, 0x6e, 0x0f, 0xa2},
        (const uint8_t[]){3, 0x0f, 0x01, 0xc1},
        (const uint8_t[]){5, 0x0f, 0x0b, 0x0f, 0x01, 0xc1},
        (const uint8_t[]){3, 0x0f, 0x01, 0xf9},
        (const uint8_t[]){7, 0x0f, 0x01, 0x1d, 0x00, 0x10, 0x00, 0x00},
        (const uint8_t[]){5, 0x0f, 0x01, 0x54, 0xcb, 0x10},
        (const uint8_t[]){6, 0x43, 0x0f, 0x01, 0x5c, 0x6c, 0xf8},
        (const uint8_t[]){8, 0x0f, 0x01, 0x1c, 0x25, 0x00, 0x20, 0x00, 0x00},
        (const uint8_t[]){3, 0x66, 0xe7, 0x70},
        (const uint8_t[]){2, 0xe5, 0x71},
        (const uint8_t[]){2, 0x66, 0xed},
        (const uint8_t[]){4, 0x64, 0x0f, 0x01, 0x18},
    };
    for (size_t k = 0; k < sizeof(insns) / sizeof(insns[0]); k++) {
        size_t full = insns[k][0];
        const uint8_t *b = insns[k] + 1;
        struct xs_insn whole;
        ck_assert_int_eq(decode(b, full, &whole), 0);
        ck_assert_uint_eq(whole.len, full);
        for (size_t avail = 0; avail < full; avail++) {
            struct xs_insn in;
            int rc = decode(b, avail, &in);
            ck_assert_msg(rc == -1 || (in.len >= 1 && in.len <= avail),
                          "insn %zu avail %zu: rc %d len %u", k, avail, rc, in.len);
            if (rc == 0 && whole.kind != XS_TRAP_NONE)
                ck_assert_msg(in.kind != whole.kind,
                              "insn %zu avail %zu: truncated decoded as %s", k, avail,
                              xs_trap_name(in.kind));
        }
    }
}
END_TEST

/* Text for crash reports is bounded and NUL-terminated. */
START_TEST(text_bounded)
{
    struct xs_insn in;
    ck_assert_int_eq(decode(BYTES(0x43, 0x0f, 0x01, 0x5c, 0x6c, 0xf8), &in), 0);
    ck_assert_ptr_nonnull(memchr(in.text, '\0', sizeof(in.text)));
    ck_assert_str_eq(in.text, "lidt [r12 + r13*2 - 8]");
    ck_assert_int_eq(decode(BYTES(0x0f, 0x0b, 0x78, 0x65, 0x6e, 0x0f, 0xa2), &in), 0);
    ck_assert_ptr_nonnull(strstr(in.text, "cpuid"));
}
END_TEST

/* ---- names ------------------------------------------------------------------ */

START_TEST(trap_names)
{
    static const char *const want[XS_TRAP_COUNT] = {
        [XS_TRAP_NONE] = "none",     [XS_TRAP_XEN_CPUID] = "xen-cpuid",
        [XS_TRAP_VMCALL] = "vmcall", [XS_TRAP_CLI] = "cli",
        [XS_TRAP_STI] = "sti",       [XS_TRAP_HLT] = "hlt",
        [XS_TRAP_WRMSR] = "wrmsr",   [XS_TRAP_RDMSR] = "rdmsr",
        [XS_TRAP_RDTSC] = "rdtsc",   [XS_TRAP_RDTSCP] = "rdtscp",
        [XS_TRAP_LIDT] = "lidt",     [XS_TRAP_LGDT] = "lgdt",
        [XS_TRAP_IN] = "in",         [XS_TRAP_OUT] = "out",
        [XS_TRAP_IRET] = "iretq",
    };
    for (unsigned k = 0; k < XS_TRAP_COUNT; k++) {
        ck_assert_msg(want[k], "kind %u has no expected name in this test", k);
        ck_assert_ptr_nonnull(xs_trap_name(k));
        ck_assert_str_eq(xs_trap_name(k), want[k]);
    }
    ck_assert_str_eq(xs_trap_name(XS_TRAP_COUNT), "invalid");
    ck_assert_str_eq(xs_trap_name(1000), "invalid");
    ck_assert_str_eq(xs_trap_name(UINT_MAX), "invalid");
}
END_TEST

Suite *decode_suite(void)
{
    Suite *s = suite_create("decode");
    TCase *tc = tcase_create("decode");
    tcase_add_checked_fixture(tc, cs_setup, cs_teardown);
    tcase_add_test(tc, xen_cpuid);
    tcase_add_test(tc, plain_ud2_not_emulated);
    tcase_add_test(tc, xen_cpuid_truncated);
    tcase_add_test(tc, vmcall_vmmcall);
    tcase_add_loop_test(tc, simple_insns, 0, NR_SIMPLE);
    tcase_add_test(tc, unprivileged_insns_are_none);
    tcase_add_test(tc, lidt_lgdt_rax);
    tcase_add_test(tc, lidt_rip_relative);
    tcase_add_test(tc, lidt_sib);
    tcase_add_test(tc, lidt_segment_override_not_emulated);
    tcase_add_test(tc, lidt_addr32);
    tcase_add_test(tc, reg_by_cs_id);
    tcase_add_test(tc, port_io);
    tcase_add_test(tc, string_io_not_emulated);
    tcase_add_test(tc, invalid_bytes);
    tcase_add_test(tc, truncated_no_overread);
    tcase_add_test(tc, text_bounded);
    tcase_add_test(tc, trap_names);
    suite_add_tcase(s, tc);
    return s;
}
