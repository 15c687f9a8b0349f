/* Page allocator: a bitmap over usable RAM (type RAM in the memory map),
 * minus page 0, the kernel image, start_info and everything it points at. */
#include <guest/kernel.h>
#include <guest/mm.h>
#include <guest/string.h>

#define MAX_PAGES (4ULL << 30 >> PAGE_SHIFT) /* manage up to 4 GiB */

static uint64_t used_bitmap[MAX_PAGES / 64]; /* 1 = not available */
static uint64_t nr_pages, total_free, nr_free, search_hint;

static void mark(uint64_t pfn, bool used)
{
    if (pfn >= MAX_PAGES) return;
    if (used)
        used_bitmap[pfn / 64] |= 1ULL << (pfn % 64);
    else
        used_bitmap[pfn / 64] &= ~(1ULL << (pfn % 64));
}
static bool is_used(uint64_t pfn)
{
    return pfn >= MAX_PAGES || (used_bitmap[pfn / 64] >> (pfn % 64)) & 1;
}

static void reserve(uint64_t pa, uint64_t len)
{
    for (uint64_t pfn = pa >> PAGE_SHIFT;
         pfn < ALIGN_UP(pa + len, PAGE_SIZE) >> PAGE_SHIFT; pfn++)
        mark(pfn, true);
}

void page_alloc_init(void)
{
    memset(used_bitmap, 0xff, sizeof(used_bitmap));
    for (unsigned i = 0; i < boot.nr_memmap; i++) {
        const struct hvm_memmap_table_entry *e = &boot.memmap[i];
        if (e->type != XEN_HVM_MEMMAP_TYPE_RAM) continue;
        uint64_t first = ALIGN_UP(e->addr, PAGE_SIZE) >> PAGE_SHIFT;
        uint64_t end = (e->addr + e->size) >> PAGE_SHIFT;
        for (uint64_t pfn = first; pfn < end && pfn < MAX_PAGES; pfn++)
            mark(pfn, false);
        if (end > nr_pages) nr_pages = end < MAX_PAGES ? end : MAX_PAGES;
    }
    reserve(0, PAGE_SIZE);
    reserve(va_to_pa(__image_start), (uint64_t)(__image_end - __image_start));
    const struct hvm_start_info *si = boot.start_info;
    reserve(boot.start_info_pa, sizeof(*si));
    if (si->cmdline_paddr) reserve(si->cmdline_paddr, PAGE_SIZE);
    if (si->version >= 1 && si->memmap_paddr)
        reserve(si->memmap_paddr,
                si->memmap_entries * sizeof(struct hvm_memmap_table_entry));
    if (si->nr_modules && si->modlist_paddr) {
        const struct hvm_modlist_entry *m = pa_to_va(si->modlist_paddr);
        reserve(si->modlist_paddr, si->nr_modules * sizeof(*m));
        for (unsigned i = 0; i < si->nr_modules; i++)
            reserve(m[i].paddr, m[i].size);
    }
    nr_free = 0;
    for (uint64_t pfn = 0; pfn < nr_pages; pfn++)
        if (!is_used(pfn)) nr_free++;
    total_free = nr_free;
}

void *page_alloc(void)
{
    for (uint64_t n = 0; n < nr_pages; n++) {
        uint64_t pfn = (search_hint + n) % nr_pages;
        if (!is_used(pfn)) {
            mark(pfn, true);
            nr_free--;
            search_hint = pfn + 1;
            void *va = pa_to_va(pfn << PAGE_SHIFT);
            memset(va, 0, PAGE_SIZE);
            return va;
        }
    }
    return NULL;
}

void *page_alloc_contig(unsigned n)
{
    if (n == 0) return NULL;
    if (n == 1) return page_alloc();
    for (uint64_t pfn = 0; pfn + n <= nr_pages;) {
        unsigned run = 0;
        while (run < n && !is_used(pfn + run))
            run++;
        if (run < n) {
            pfn += run + 1; /* past the used page that cut the run */
            continue;
        }
        for (unsigned i = 0; i < n; i++)
            mark(pfn + i, true);
        nr_free -= n;
        void *va = pa_to_va(pfn << PAGE_SHIFT);
        memset(va, 0, (size_t)n * PAGE_SIZE);
        return va;
    }
    return NULL;
}

void page_free(void *va)
{
    uint64_t pfn = va_to_pa(va) >> PAGE_SHIFT;
    if (pfn >= nr_pages || !is_used(pfn))
        panic("page_free: %p is not an allocated page", va);
    mark(pfn, false);
    nr_free++;
}

uint64_t page_alloc_free_count(void)
{
    return nr_free;
}
uint64_t page_alloc_total_count(void)
{
    return total_free;
}
