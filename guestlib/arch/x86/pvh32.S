/* Placeholder 32-bit PVH entry: replaced by the real trampoline. */
    .section .text.boot32, "ax"
    .code32
    .globl pvh_start32
pvh_start32:
    hlt
    jmp pvh_start32
