/* The dirtying workload: a working set of pages, rewritten one after the
 * other at the rate main.c sets.  Every write fills the whole page with a
 * pattern of (page, generation) and bumps the page's generation, kept in
 * an array that is guest RAM too: after a migration every page must hold
 * exactly its generation's pattern.  A page the migration failed to send
 * again after its last write (or sent from before the write) shows up as
 * a page whose contents and generation disagree. */
#include <guest/mm.h>
#include <guest/string.h>

#include "migrate_app.h"

static uint64_t *region; /* pages * 512 words */
static uint32_t *gen;    /* per page: writes so far */
static unsigned nr_pages, next_page;
static uint64_t writes;

static uint64_t word(unsigned page, uint32_t g, unsigned k)
{
    uint64_t x = ((uint64_t)page << 32 | g) * 0x9e3779b97f4a7c15ULL;
    return x ^ (k * 0xbf58476d1ce4e5b9ULL) ^ (x >> 29);
}

bool dirty_init(unsigned pages)
{
    nr_pages = pages;
    if (!pages) return true;
    region = page_alloc_contig(pages);
    gen =
        page_alloc_contig((unsigned)((pages * sizeof(*gen) + PAGE_SIZE - 1) / PAGE_SIZE));
    return region && gen;
}

static void write_page(unsigned p)
{
    uint32_t g = ++gen[p];
    uint64_t *w = region + (size_t)p * (PAGE_SIZE / 8);
    for (unsigned k = 0; k < PAGE_SIZE / 8; k++)
        w[k] = word(p, g, k);
    writes++;
}

void dirty_until(uint64_t total, unsigned cap)
{
    for (unsigned n = 0; nr_pages && writes < total && n < cap; n++) {
        write_page(next_page);
        next_page = (next_page + 1) % nr_pages;
    }
}

uint64_t dirty_writes(void)
{
    return writes;
}

unsigned dirty_pages(void)
{
    return nr_pages;
}

unsigned dirty_verify(void)
{
    unsigned bad = 0;
    uint64_t sum = 0;
    for (unsigned p = 0; p < nr_pages; p++) {
        const uint64_t *w = region + (size_t)p * (PAGE_SIZE / 8);
        sum += gen[p];
        if (!gen[p]) continue; /* never written: zeros */
        for (unsigned k = 0; k < PAGE_SIZE / 8; k++)
            if (w[k] != word(p, gen[p], k)) {
                if (bad < 4)
                    printk("migrate: page %u (generation %u) word %u is wrong\n", p,
                           gen[p], k);
                bad++;
                break;
            }
    }
    /* The counter and the generations live in different pages. */
    CHECK(sum == writes, "the generations add up to %lu, %lu writes were made",
          (unsigned long)sum, (unsigned long)writes);
    return bad;
}
