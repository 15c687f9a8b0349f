/* The memory map: from start_info (version >= 1), else XENMEM_memory_map. */
#include <guest/kernel.h>
#include <guest/hypercall.h>
#include <xensim/e820.h>

static struct e820_entry e820_buf[MEMMAP_MAX];

void memmap_init(void)
{
    const struct hvm_start_info *si = boot.start_info;
    if (si->version >= 1 && si->memmap_entries && si->memmap_paddr) {
        unsigned n = si->memmap_entries < MEMMAP_MAX ? si->memmap_entries : MEMMAP_MAX;
        const struct hvm_memmap_table_entry *e = pa_to_va(si->memmap_paddr);
        for (unsigned i = 0; i < n; i++)
            boot.memmap[i] = e[i];
        boot.nr_memmap = n;
        boot.memmap_source = "start_info";
        return;
    }
    if (!boot.xen)
        panic("memmap: start_info has no memory map and there is no Xen to ask");
    struct xen_memory_map mm = {.nr_entries = MEMMAP_MAX};
    set_xen_guest_handle(mm.buffer, e820_buf);
    long rc = HYPERVISOR_memory_op(XENMEM_memory_map, &mm);
    if (rc) panic("memmap: XENMEM_memory_map failed: %ld", rc);
    for (unsigned i = 0; i < mm.nr_entries && i < MEMMAP_MAX; i++) {
        boot.memmap[i].addr = e820_buf[i].addr;
        boot.memmap[i].size = e820_buf[i].size;
        boot.memmap[i].type = e820_buf[i].type;
    }
    boot.nr_memmap = mm.nr_entries < MEMMAP_MAX ? mm.nr_entries : MEMMAP_MAX;
    boot.memmap_source = "XENMEM_memory_map";
}
