/* Where secondary vCPUs start, and the boot CPU's move to its per-CPU
 * stack.
 *
 * VCPUOP_initialise starts an AP in long mode at ap_start with
 *   %rsp = top of its size-aligned per-CPU stack (struct percpu at the base)
 *   %rdi = that struct percpu, IF clear. */
    .section .text, "ax"
    .code64
    .balign 16
    .globl ap_start
    .type ap_start, @function
ap_start:
    cld
    xorl    %ebp, %ebp                  /* end of frame-pointer chains */
    call    ap_main
    /* ap_main does not return; if it did, halting with IF clear takes the
     * vCPU down. */
1:  cli
    hlt
    jmp     1b
    .size ap_start, . - ap_start

/* void stack_switch_call(void (*fn)(void *), void *arg, void *stack_top):
 * call fn(arg) on the stack ending at stack_top (16-byte aligned), never to
 * come back. */
    .globl stack_switch_call
    .type stack_switch_call, @function
stack_switch_call:
    movq    %rdx, %rsp
    xorl    %ebp, %ebp
    movq    %rdi, %rax
    movq    %rsi, %rdi
    call    *%rax
    ud2
    .size stack_switch_call, . - stack_switch_call
