#ifndef GUEST_MM_H
#define GUEST_MM_H
#include <guest/types.h>
/* Page allocator over usable RAM from the memory map. */
void page_alloc_init(void);
void *page_alloc(void); /* one zeroed page, or NULL */
void page_free(void *va);
/* n physically contiguous zeroed pages (a multi-page ring), or NULL; freed
 * one page at a time with page_free. */
void *page_alloc_contig(unsigned n);
uint64_t page_alloc_free_count(void);
uint64_t page_alloc_total_count(void);
#endif
