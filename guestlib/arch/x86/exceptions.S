/* Entry stubs for exception vectors 0-31.
 *
 * Stub n lives at exception_stubs + n * EXC_STUB_SIZE (idt.c computes the
 * gate addresses from that, so no table of pointers is needed).  Each stub
 * pushes a dummy error code where the CPU does not push one, then the
 * vector, and joins exception_common, which saves the general registers and
 * calls exception_handler(struct exc_frame *).  The frame layout is
 * struct exc_frame in idt.c; keep the two in step.
 *
 * Stack on the call: 15 registers + vector + error code + the CPU's 5-word
 * frame = 22 quadwords, and the CPU aligned %rsp to 16 before pushing, so
 * the call is made with the ABI's 16-byte alignment. */
#define EXC_STUB_SIZE 16

/* Vectors for which the CPU pushes an error code. */
#define HAS_ERR(v) ((v) == 8 || ((v) >= 10 && (v) <= 14) || (v) == 17 || (v) == 21 || \
                    (v) == 29 || (v) == 30)

    .section .text, "ax"
    .code64

    .balign EXC_STUB_SIZE
    .globl exception_stubs
exception_stubs:
    .set vec, 0
    .rept 32
    .if !HAS_ERR(vec)
    pushq   $0
    .endif
    pushq   $vec
    jmp     exception_common
    .set vec, vec + 1
    /* Pads to the next stub; fails to assemble if a stub outgrew its slot. */
    .org    exception_stubs + vec * EXC_STUB_SIZE, 0xcc
    .endr

    .type exception_common, @function
exception_common:
    cld
    pushq   %rax
    pushq   %rbx
    pushq   %rcx
    pushq   %rdx
    pushq   %rsi
    pushq   %rdi
    pushq   %rbp
    pushq   %r8
    pushq   %r9
    pushq   %r10
    pushq   %r11
    pushq   %r12
    pushq   %r13
    pushq   %r14
    pushq   %r15
    movq    %rsp, %rdi
    call    exception_handler
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %r11
    popq    %r10
    popq    %r9
    popq    %r8
    popq    %rbp
    popq    %rdi
    popq    %rsi
    popq    %rdx
    popq    %rcx
    popq    %rbx
    popq    %rax
    addq    $16, %rsp                   /* vector, error code */
    iretq
    .size exception_common, . - exception_common
