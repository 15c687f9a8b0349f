/* Building struct hvm_start_info (<xen/arch-x86/hvm/start_info.h>) in guest
 * RAM, as Xen's domain builder does for a PVH guest. */
#ifndef XS_START_INFO_H
#define XS_START_INFO_H
#include <stddef.h>
#include <stdint.h>
#include <xen/xen.h>
#include <xen/arch-x86/hvm/start_info.h>

#define XS_CMDLINE_MAX 1024 /* Xen's MAX_GUEST_CMDLINE */

struct xs_module {
    uint64_t paddr, size;
    const char *cmdline; /* may be NULL */
};

struct xs_start_info_layout {
    uint64_t start_info_pa; /* what goes in %rbx */
    uint64_t end_pa;        /* first byte after everything written */
};

/* Write start_info at physical address at_pa (page aligned) followed by the
 * module list, the memory map and the command lines.  Everything must fit in
 * [at_pa, ram_size); -1 with a message in err otherwise.  A NULL cmdline (or
 * module cmdline) gives cmdline_paddr 0; end_pa is not rounded up. */
int xs_start_info_build(uint8_t *ram, uint64_t ram_size, uint64_t at_pa,
                        const char *cmdline, const struct hvm_memmap_table_entry *map,
                        unsigned nr_map, const struct xs_module *mods, unsigned nr_mods,
                        struct xs_start_info_layout *out, char *err, size_t errlen);
#endif
