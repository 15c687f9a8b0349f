/* Self-relocation of the static-PIE image: runs before anything touches an
 * absolute pointer.  The image is linked at virtual == physical, so every
 * R_X86_64_RELATIVE target moves by exactly the direct-map base. */
#include <guest/types.h>

typedef struct {
    uint64_t r_offset;
    uint64_t r_info;
    int64_t r_addend;
} rela_t;

#define R_X86_64_RELATIVE 8

extern const rela_t __rela_start[], __rela_end[];

void guest_relocate(uint64_t base)
{
    for (const rela_t *r = __rela_start; r < __rela_end; r++) {
        if ((uint32_t)r->r_info == R_X86_64_RELATIVE)
            *(uint64_t *)(base + r->r_offset) = base + (uint64_t)r->r_addend;
    }
}
