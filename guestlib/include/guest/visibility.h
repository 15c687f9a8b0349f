/* Force-included into every guest object: all symbols are hidden, so
 * position-independent code reaches them RIP-relative, never through a GOT
 * entry that would need relocating before guest_relocate() has run. */
#pragma GCC visibility push(hidden)
