/* Long-mode entry.  xensim enters here directly; the PVH 32-bit trampoline
 * (pvh32.S) jumps here after building page tables.  In both cases:
 *   %rbx = physical address of struct hvm_start_info
 *   %rsi = virtual address of guest physical 0 (the direct map base)  */
#include <xensim/abi.h>

    .section .text.boot, "ax"
    .code64
    .globl xs_entry64
xs_entry64:
    cld
    lea     boot_stack_top(%rip), %rsp
    mov     %rbx, %r12
    mov     %rsi, %r13
    mov     %rsi, %rdi
    call    guest_relocate
    mov     %r12, %rdi
    mov     %r13, %rsi
    call    kernel_main
1:  hlt
    jmp     1b

    .section .bss, "aw", @nobits
    .balign 16
boot_stack:
    .skip   16384
boot_stack_top:
