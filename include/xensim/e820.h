/* BIOS E820 entry layout, used by XENMEM_memory_map.  Xen's public headers
 * describe the format in prose only (memory.h), so it is spelled out here. */
#ifndef XENSIM_E820_H
#define XENSIM_E820_H
#include <stdint.h>
struct e820_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
} __attribute__((packed));
_Static_assert(sizeof(struct e820_entry) == 20, "E820 entries are 20 bytes");
#endif
