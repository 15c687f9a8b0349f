/* VM entry/exit.  Guest code runs natively on its own stack in guest RAM;
 * these routines swap between it and the host context.  Register layout is
 * struct xs_regs (sim.h): r15 at the lowest address ... rax, rflags, rsp, rip.
 * Thread-local state is struct xs_cpu_tls (vmentry.h). */

#define TLS(off) %fs:xs_tls@tpoff+off
#define T_HOST_RSP   0
#define T_REGS_END   8
#define T_REGS_START 16
#define T_RESUME_RIP 24
#define T_GUEST_RSP  32
#define T_IN_GUEST   40
#define T_SYSCALL_SEL 56
#define EXIT_HYPERCALL 1

    .text
    .globl xs_vm_enter
    .type xs_vm_enter, @function
xs_vm_enter:
    push    %rbp
    push    %rbx
    push    %r12
    push    %r13
    push    %r14
    push    %r15
    mov     %rsp, TLS(T_HOST_RSP)
    mov     TLS(T_REGS_START), %rsp
    pop     %r15
    pop     %r14
    pop     %r13
    pop     %r12
    pop     %r11
    pop     %r10
    pop     %r9
    pop     %r8
    pop     %rbp
    pop     %rdi
    pop     %rsi
    pop     %rdx
    pop     %rcx
    pop     %rbx
    pop     %rax
    popfq
    mov     (%rsp), %rsp            /* guest stack; no flags touched from here */
    movq    $1, TLS(T_IN_GUEST)
    movb    $1, TLS(T_SYSCALL_SEL)  /* a guest `syscall` raises SIGSYS */
    jmp     *TLS(T_RESUME_RIP)
    .size xs_vm_enter, .-xs_vm_enter

/* Hypercall page slot (direct mode): mov $nr,%eax; jmp *xs_hc_direct_entry.
 * The guest reached the slot with a call, so its return address is on top
 * of its stack. */
    .globl xs_hc_direct_entry
    .type xs_hc_direct_entry, @function
xs_hc_direct_entry:
    movb    $0, TLS(T_SYSCALL_SEL)
    movq    $0, TLS(T_IN_GUEST)
    mov     %rsp, TLS(T_GUEST_RSP)
    mov     TLS(T_REGS_END), %rsp
    pushfq
    push    %rax
    push    %rbx
    push    %rcx
    push    %rdx
    push    %rsi
    push    %rdi
    push    %rbp
    push    %r8
    push    %r9
    push    %r10
    push    %r11
    push    %r12
    push    %r13
    push    %r14
    push    %r15
    mov     TLS(T_HOST_RSP), %rsp
    cld
    mov     $EXIT_HYPERCALL, %eax
    jmp     1f
/* The signal handler has saved the guest registers, set %rax to the exit
 * kind and %rsp to the host stack, and "returned" here. */
    .globl xs_signal_exit
xs_signal_exit:
1:  pop     %r15
    pop     %r14
    pop     %r13
    pop     %r12
    pop     %rbx
    pop     %rbp
    ret
    .size xs_hc_direct_entry, .-xs_hc_direct_entry

    .section .note.GNU-stack, "", @progbits
