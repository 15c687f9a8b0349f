/* Event channel upcall entry, reached through an IDT interrupt gate (the
 * callback vector, per-vCPU vector, or the legacy GSI's vector).
 *
 * The frame is the CPU's (or xensim's identical one): %rsp aligned down to
 * 16, then SS, RSP, RFLAGS, CS, RIP -- no error code.  evtchn_upcall() is
 * C, so only the caller-saved registers need saving here; nine of them
 * bring %rsp back to a multiple of 16 for the call.  iretq restores the
 * interrupted context, including its IF. */
    .section .text, "ax"
    .code64
    .balign 16
    .globl upcall_entry
    .type upcall_entry, @function
upcall_entry:
    cld
    pushq   %rax
    pushq   %rcx
    pushq   %rdx
    pushq   %rsi
    pushq   %rdi
    pushq   %r8
    pushq   %r9
    pushq   %r10
    pushq   %r11
    call    evtchn_upcall
    popq    %r11
    popq    %r10
    popq    %r9
    popq    %r8
    popq    %rdi
    popq    %rsi
    popq    %rdx
    popq    %rcx
    popq    %rax
    iretq
    .size upcall_entry, . - upcall_entry
