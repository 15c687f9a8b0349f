/* Loading a guest kernel image (ELF64, x86-64) by its physical addresses.
 *
 * Every field of the file is treated as hostile: sizes, offsets, counts and
 * note lengths are checked against the file before use, segments against
 * each other and against guest RAM.  Failures return -1 with one clear line
 * in err (no trailing newline) naming the file and what was wrong. */
#ifndef XS_LOADER_H
#define XS_LOADER_H
#include <stddef.h>
#include <stdint.h>

#define XS_IMAGE_MAX_SEGMENTS 16

struct xs_image_segment {
    uint64_t paddr;
    uint64_t offset; /* in the file */
    uint64_t filesz;
    uint64_t memsz;
    uint32_t flags; /* PF_R/W/X */
    uint32_t phdr;  /* index in the program header table, as readelf numbers it */
};

struct xs_image {
    char name[256]; /* file name for messages */
    uint8_t *data;  /* whole file (owned) */
    size_t size;
    uint64_t phys32_entry; /* XEN_ELFNOTE_PHYS32_ENTRY (required) */
    uint64_t entry64;      /* xensim XSNOTE_ENTRY64 physical address (required) */
    uint64_t paddr_lo;     /* lowest loaded physical address */
    uint64_t paddr_hi;     /* one past the highest (memsz) */
    unsigned nr_segments;
    struct xs_image_segment seg[XS_IMAGE_MAX_SEGMENTS];
    char guest_os[64]; /* XEN_ELFNOTE_GUEST_OS if present, else "" */
};

/* Parse and validate an image held in memory (data is copied).  On failure
 * img owns nothing.  Both entries must lie in the file-backed part of an
 * executable PT_LOAD; PT_LOADs with memsz 0 are ignored. */
int xs_image_parse(struct xs_image *img, const char *name, const void *data, size_t size,
                   char *err, size_t errlen);
/* Read a file and parse it. */
int xs_image_open(struct xs_image *img, const char *path, char *err, size_t errlen);
/* Copy segments into guest RAM (ram = host address of guest physical 0),
 * zero-fill memsz beyond filesz.  Checks every segment and both entries lie
 * inside [0, ram_size). */
int xs_image_load(const struct xs_image *img, uint8_t *ram, uint64_t ram_size, char *err,
                  size_t errlen);
void xs_image_free(struct xs_image *img);

#endif
