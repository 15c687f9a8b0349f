/* 32-bit Xen PVH entry (XEN_ELFNOTE_PHYS32_ENTRY), used on real Xen, QEMU
 * (-kernel with a PVH note) and bare metal loaders that speak PVH.
 *
 * Entry state (Xen PVH ABI): 32-bit protected mode, paging off, flat
 * CS/DS/ES/SS, interrupts off, %ebx = physical address of hvm_start_info,
 * every other register (including %esp) undefined.
 *
 * The image runs at its link address (virtual == physical), but it is a
 * static PIE: no absolute relocations may appear here.  Every address is
 * computed from the run-time EIP; references to other sections are written
 * as "sym - 1b" with 1b in this section, which the assembler turns into
 * PC-relative relocations that the static link resolves.
 *
 * Work done here, then the common long-mode entry xs_entry64 takes over:
 *   - page tables: physical [0, 1 GiB) identity-mapped (for the switch) and
 *     physical [0, 4 GiB) at XS_DIRECTMAP_BASE, all with 2 MiB pages
 *   - PAE, CR3, EFER.LME, CR0.PG -> IA-32e; far return into a 64-bit CS
 *   - GDT reloaded at its direct-map address, data segments loaded
 *   - jump to XS_DIRECTMAP_BASE + xs_entry64 with
 *       %rbx = start_info physical address, %rsi = XS_DIRECTMAP_BASE  */
#include <xensim/abi.h>

#define MSR_EFER      0xc0000080
#define EFER_LME      (1 << 8)
#define CR0_PE        (1 << 0)
#define CR0_PG        (1 << 31)
#define CR4_PAE       (1 << 5)
#define PTE_P_RW      0x003       /* present, writable */
#define PDE_2M        0x083       /* present, writable, 2 MiB page */
#define DM_PML4_INDEX ((XS_DIRECTMAP_BASE >> 39) & 511)
#define SEL_CODE64    0x08
#define SEL_DATA      0x10
#define PT_PAGES      7           /* PML4, 2 PDPTs, 4 PDs */

    .section .text.boot32, "ax"
    .code32
    .globl pvh_start32
    .type pvh_start32, @function
pvh_start32:
    cld
    cli
    /* No stack yet: borrow the first dword of start_info (its magic) as one,
     * for the call that reveals EIP, then put the magic back. */
    movl    (%ebx), %esi
    leal    4(%ebx), %esp
    call    1f
1:  popl    %ebp                        /* %ebp = run-time address of 1b */
    movl    %esi, (%ebx)
    movl    %ebx, %esi                  /* %esi = start_info PA from here on */

    leal    (pvh_stack_top - 1b)(%ebp), %esp

    /* Zero the page tables (.bss is normally zeroed by the loader, but the
     * PVH ABI does not promise it). */
    leal    (pvh_pagetables - 1b)(%ebp), %edi
    movl    %edi, %edx                  /* %edx = PML4 */
    xorl    %eax, %eax
    movl    $(PT_PAGES * 4096 / 4), %ecx
    rep stosl

    /* Layout: +0 PML4, +4K identity PDPT, +8K direct-map PDPT, +12K..+28K
     * four PDs covering physical [0, 4 GiB).  The first PD also serves the
     * identity map of [0, 1 GiB). */
    leal    0x3000(%edx), %edi          /* PD 0 */
    xorl    %ecx, %ecx                  /* 2 MiB page number */
2:  movl    %ecx, %eax
    shll    $21, %eax
    orl     $PDE_2M, %eax
    movl    %eax, (%edi,%ecx,8)         /* high dword stays 0: below 4 GiB */
    incl    %ecx
    cmpl    $2048, %ecx
    jb      2b

    /* Direct-map PDPT: entries 0..3 -> the four PDs. */
    leal    (0x3000 + PTE_P_RW)(%edx), %eax
    xorl    %ecx, %ecx
3:  movl    %eax, 0x2000(%edx,%ecx,8)
    addl    $0x1000, %eax
    incl    %ecx
    cmpl    $4, %ecx
    jb      3b

    /* Identity PDPT: entry 0 -> PD 0. */
    leal    (0x3000 + PTE_P_RW)(%edx), %eax
    movl    %eax, 0x1000(%edx)

    /* PML4: entry 0 -> identity PDPT, entry DM_PML4_INDEX -> direct map. */
    leal    (0x1000 + PTE_P_RW)(%edx), %eax
    movl    %eax, (%edx)
    leal    (0x2000 + PTE_P_RW)(%edx), %eax
    movl    %eax, (DM_PML4_INDEX * 8)(%edx)

    /* GDT at its physical address for the mode switch. */
    leal    (pvh_gdt - 1b)(%ebp), %eax
    subl    $8, %esp
    movw    $(pvh_gdt_end - pvh_gdt - 1), 2(%esp)
    movl    %eax, 4(%esp)
    lgdt    2(%esp)
    addl    $8, %esp

    movl    %cr4, %eax
    orl     $CR4_PAE, %eax
    movl    %eax, %cr4
    movl    %edx, %cr3
    movl    $MSR_EFER, %ecx
    rdmsr
    orl     $EFER_LME, %eax
    wrmsr
    movl    %cr0, %eax
    orl     $(CR0_PG | CR0_PE), %eax
    movl    %eax, %cr0

    /* Now in compatibility mode; a far return loads the 64-bit CS. */
    leal    (pvh_long - 1b)(%ebp), %eax
    pushl   $SEL_CODE64
    pushl   %eax
    lret

    .code64
pvh_long:
    movl    $SEL_DATA, %eax
    movl    %eax, %ds
    movl    %eax, %es
    movl    %eax, %ss
    movl    %eax, %fs
    movl    %eax, %gs
    /* The upper halves of the registers are undefined after the switch. */
    movl    %esp, %esp
    movl    %esi, %ebx                  /* %rbx = start_info PA */
    movabsq $XS_DIRECTMAP_BASE, %rsi    /* %rsi = direct-map base */

    /* Move the GDT to its direct-map address, so nothing past this point
     * depends on the identity map. */
    leaq    pvh_gdt(%rip), %rax
    addq    %rsi, %rax
    subq    $16, %rsp
    movw    $(pvh_gdt_end - pvh_gdt - 1), 6(%rsp)
    movq    %rax, 8(%rsp)
    lgdt    6(%rsp)
    addq    $16, %rsp

    leaq    xs_entry64(%rip), %rax      /* physical (identity) address */
    addq    %rsi, %rax
    jmp     *%rax
    .size pvh_start32, . - pvh_start32

    /* Flat segments; accessed bits preset so the CPU need not write them. */
    .section .data, "aw"
    .balign 16
pvh_gdt:
    .quad   0
    .quad   0x00af9b000000ffff          /* 0x08: 64-bit code, DPL 0 */
    .quad   0x00cf93000000ffff          /* 0x10: flat data, DPL 0 */
pvh_gdt_end:

    /* Global: secondary vCPUs are started (VCPUOP_initialise) with CR3
     * pointing at these tables, the boot CPU's own. */
    .section .bss.pagealigned, "aw", @nobits
    .balign 4096
    .globl pvh_pagetables
pvh_pagetables:
    .skip   PT_PAGES * 4096

    .section .bss, "aw", @nobits
    .balign 16
pvh_stack:
    .skip   256
pvh_stack_top:
