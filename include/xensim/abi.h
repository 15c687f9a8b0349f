/* xensim's own guest<->simulator conventions (not Xen ABI).
 *
 * Everything Xen defines comes from <xen/...>; this header holds only what
 * xensim adds on top, shared by guestlib and the emulator. */
#ifndef XENSIM_ABI_H
#define XENSIM_ABI_H

/* ELF note namespace for xensim's own notes (Xen's live under "Xen"). */
#define XSNOTE_NAME "xensim"

/* Physical address (u64) of the image's long-mode entry point.  A user
 * process cannot execute the 32-bit PVH trampoline (it switches paging
 * modes), so xensim does what the trampoline would do and enters here:
 *   %rbx = physical address of struct hvm_start_info
 *   %rsi = virtual address at which guest physical 0 is mapped (direct map)
 *   %rsp = 0, interrupts virtually disabled.
 * The PVH trampoline jumps to the same place with the same registers. */
#define XSNOTE_ENTRY64 1

/* Default direct-map base: guest physical 0 appears at this virtual address.
 * Domain slot N of a simulation uses XS_DIRECTMAP_BASE + N * XS_SLOT_SIZE.
 * Chosen above ASan's shadow so instrumented builds can host guests. */
#define XS_DIRECTMAP_BASE 0x200000000000ULL
#define XS_SLOT_SIZE      0x1000000000ULL /* 64 GiB of address space per domain */

#endif
