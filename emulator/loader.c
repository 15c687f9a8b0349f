/* Guest image loader: ELF64 x86-64, loaded by physical address.  See loader.h.
 *
 * The file is untrusted.  Every header is copied out with memcpy (no aligned
 * access into the buffer) and every size/offset is checked against the file
 * before it is used, with arithmetic written so that it cannot wrap. */
#include "errmsg.h"
#include "loader.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xen/elfnote.h>
#include <xensim/abi.h>

/* Fields are read by memcpy into host structs: only valid on a little-endian
 * host, which any host able to run x86-64 guest code natively is. */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "xensim's loader assumes a little-endian host"
#endif

/* Refuse absurd files before allocating for them; no guest is this big. */
#define XS_IMAGE_MAX_FILE ((uint64_t)1 << 30)

#define MIB ((uint64_t)1 << 20)

/* Does [off, off + len) lie inside a buffer of size bytes? */
static bool in_bounds(uint64_t off, uint64_t len, uint64_t size)
{
    return off <= size && len <= size - off;
}

static uint64_t align4(uint64_t v)
{
    return (v + 3) & ~(uint64_t)3;
}

/* Matches a note name of namesz bytes against want; the terminating NUL is
 * expected but tolerated missing, as some producers omit it. */
static bool note_name_is(const uint8_t *name, uint32_t namesz, const char *want)
{
    size_t len = strlen(want);
    if (namesz == len + 1) return memcmp(name, want, len + 1) == 0;
    return namesz == len && memcmp(name, want, len) == 0;
}

/* The guest OS string ends up in logs: keep it printable. */
static void copy_printable(char *dst, size_t dstlen, const uint8_t *src, size_t srclen)
{
    size_t i;
    for (i = 0; i + 1 < dstlen && i < srclen && src[i]; i++)
        dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? (char)src[i] : '?';
    dst[i] = '\0';
}

struct note_state {
    bool have_phys32, have_entry64;
};

static int parse_notes(struct xs_image *img, struct note_state *ns, unsigned ph,
                       const uint8_t *seg, uint64_t segsz, char *err, size_t errlen)
{
    const char *nm = img->name;
    uint64_t pos = 0;

    /* A trailing fragment shorter than a note header is padding, not a note. */
    while (segsz - pos >= sizeof(Elf64_Nhdr)) {
        Elf64_Nhdr nh;
        memcpy(&nh, seg + pos, sizeof(nh));
        uint64_t name_off = pos + sizeof(nh);
        if (!in_bounds(name_off, align4(nh.n_namesz), segsz))
            return xs_errf(err, errlen, nm,
                           "note at offset 0x%" PRIx64
                           " in segment %u: name size %" PRIu32
                           " overruns the note segment (0x%" PRIx64 " bytes)",
                           pos, ph, nh.n_namesz, segsz);
        uint64_t desc_off = name_off + align4(nh.n_namesz);
        if (!in_bounds(desc_off, nh.n_descsz, segsz))
            return xs_errf(err, errlen, nm,
                           "note at offset 0x%" PRIx64
                           " in segment %u: descriptor size %" PRIu32
                           " overruns the note segment (0x%" PRIx64 " bytes)",
                           pos, ph, nh.n_descsz, segsz);
        const uint8_t *name = seg + name_off;
        const uint8_t *desc = seg + desc_off;

        if (note_name_is(name, nh.n_namesz, "Xen")) {
            if (nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY) {
                if (nh.n_descsz != 4)
                    return xs_errf(err, errlen, nm,
                                   "XEN_ELFNOTE_PHYS32_ENTRY note has descsz %" PRIu32
                                   ", expected 4",
                                   nh.n_descsz);
                if (ns->have_phys32)
                    return xs_errf(err, errlen, nm,
                                   "duplicate XEN_ELFNOTE_PHYS32_ENTRY note");
                uint32_t e;
                memcpy(&e, desc, 4);
                img->phys32_entry = e;
                ns->have_phys32 = true;
            } else if (nh.n_type == XEN_ELFNOTE_GUEST_OS) {
                copy_printable(img->guest_os, sizeof(img->guest_os), desc, nh.n_descsz);
            }
        } else if (note_name_is(name, nh.n_namesz, XSNOTE_NAME)) {
            if (nh.n_type == XSNOTE_ENTRY64) {
                if (nh.n_descsz != 8)
                    return xs_errf(err, errlen, nm,
                                   "xensim ENTRY64 note has descsz %" PRIu32
                                   ", expected 8",
                                   nh.n_descsz);
                if (ns->have_entry64)
                    return xs_errf(err, errlen, nm, "duplicate xensim ENTRY64 note");
                memcpy(&img->entry64, desc, 8);
                ns->have_entry64 = true;
            }
        }
        /* The last descriptor's padding may be cut off by the segment end. */
        uint64_t next = desc_off + align4(nh.n_descsz);
        if (next >= segsz) break;
        pos = next;
    }
    return 0;
}

/* Is [pa, pa+1) inside the file-backed part of an executable segment?  Code
 * in the zero-filled tail could never be the kernel's entry. */
static bool entry_ok(const struct xs_image *img, uint64_t pa)
{
    for (unsigned i = 0; i < img->nr_segments; i++) {
        const struct xs_image_segment *s = &img->seg[i];
        if ((s->flags & PF_X) && pa >= s->paddr && pa - s->paddr < s->filesz) return true;
    }
    return false;
}

static int check_ehdr(const char *nm, const uint8_t *d, size_t size, Elf64_Ehdr *eh,
                      char *err, size_t errlen)
{
    if (size >= SELFMAG && memcmp(d, ELFMAG, SELFMAG) != 0)
        return xs_errf(
            err, errlen, nm,
            "not an ELF file (magic %02x %02x %02x %02x, expected 7f 45 4c 46)", d[0],
            d[1], d[2], d[3]);
    if (size < sizeof(*eh))
        return xs_errf(
            err, errlen, nm,
            "truncated: file is %zu bytes, smaller than the %zu-byte ELF header", size,
            sizeof(*eh));
    memcpy(eh, d, sizeof(*eh));
    if (eh->e_ident[EI_CLASS] != ELFCLASS64)
        return xs_errf(err, errlen, nm,
                       "not a 64-bit ELF file (EI_CLASS %u, expected %u)",
                       eh->e_ident[EI_CLASS], ELFCLASS64);
    if (eh->e_ident[EI_DATA] != ELFDATA2LSB)
        return xs_errf(err, errlen, nm,
                       "not a little-endian ELF file (EI_DATA %u, expected %u)",
                       eh->e_ident[EI_DATA], ELFDATA2LSB);
    if (eh->e_ident[EI_VERSION] != EV_CURRENT || eh->e_version != EV_CURRENT)
        return xs_errf(err, errlen, nm,
                       "unsupported ELF version (EI_VERSION %u, e_version %" PRIu32
                       ", expected %u)",
                       eh->e_ident[EI_VERSION], eh->e_version, EV_CURRENT);
    if (eh->e_type != ET_EXEC && eh->e_type != ET_DYN)
        return xs_errf(err, errlen, nm,
                       "ELF type %u is not an executable (expected ET_EXEC or ET_DYN)",
                       eh->e_type);
    if (eh->e_machine != EM_X86_64)
        return xs_errf(err, errlen, nm, "machine %u is not x86-64 (EM_X86_64 = %u)",
                       eh->e_machine, EM_X86_64);
    if (eh->e_phentsize != sizeof(Elf64_Phdr))
        return xs_errf(err, errlen, nm, "e_phentsize is %u, expected %zu",
                       eh->e_phentsize, sizeof(Elf64_Phdr));
    if (eh->e_phnum == PN_XNUM)
        return xs_errf(err, errlen, nm,
                       "extended program header numbering is not supported");
    /* phnum < 0xffff and phentsize == 56, so the product cannot overflow. */
    uint64_t tblsz = (uint64_t)eh->e_phnum * eh->e_phentsize;
    if (!in_bounds(eh->e_phoff, tblsz, size)) {
        if (eh->e_phoff > UINT64_MAX - tblsz)
            return xs_errf(err, errlen, nm,
                           "program header table offset 0x%" PRIx64 " is out of range",
                           (uint64_t)eh->e_phoff);
        return xs_errf(err, errlen, nm,
                       "truncated: program header table ends at 0x%" PRIx64
                       " but file is 0x%zx bytes",
                       eh->e_phoff + tblsz, size);
    }
    return 0;
}

/* Validate d[0..size) and fill img (except data/size). */
static int parse(struct xs_image *img, const uint8_t *d, size_t size, char *err,
                 size_t errlen)
{
    const char *nm = img->name;
    Elf64_Ehdr eh;
    struct note_state ns = {false, false};

    if (check_ehdr(nm, d, size, &eh, err, errlen)) return -1;

    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, d + eh.e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
        if (ph.p_type != PT_LOAD && ph.p_type != PT_NOTE) continue;
        if (!in_bounds(ph.p_offset, ph.p_filesz, size))
            return xs_errf(err, errlen, nm,
                           "truncated: segment %u (file offset 0x%" PRIx64
                           ", size 0x%" PRIx64
                           ") extends beyond the end of the file (0x%zx bytes)",
                           i, (uint64_t)ph.p_offset, (uint64_t)ph.p_filesz, size);
        if (ph.p_type == PT_NOTE) {
            if (parse_notes(img, &ns, i, d + ph.p_offset, ph.p_filesz, err, errlen))
                return -1;
            continue;
        }
        if (ph.p_filesz > ph.p_memsz)
            return xs_errf(err, errlen, nm,
                           "segment %u: file size 0x%" PRIx64
                           " exceeds memory size 0x%" PRIx64,
                           i, (uint64_t)ph.p_filesz, (uint64_t)ph.p_memsz);
        if (ph.p_memsz == 0) continue; /* occupies nothing; filesz is 0 too */
        if (ph.p_paddr > UINT64_MAX - ph.p_memsz)
            return xs_errf(err, errlen, nm,
                           "segment %u: physical range 0x%" PRIx64 " + 0x%" PRIx64
                           " wraps around the address space",
                           i, (uint64_t)ph.p_paddr, (uint64_t)ph.p_memsz);
        if (img->nr_segments == XS_IMAGE_MAX_SEGMENTS)
            return xs_errf(err, errlen, nm, "more than %d PT_LOAD segments",
                           XS_IMAGE_MAX_SEGMENTS);
        uint64_t lo = ph.p_paddr, hi = ph.p_paddr + ph.p_memsz;
        for (unsigned j = 0; j < img->nr_segments; j++) {
            const struct xs_image_segment *o = &img->seg[j];
            if (lo < o->paddr + o->memsz && o->paddr < hi)
                return xs_errf(err, errlen, nm,
                               "segment %u [0x%" PRIx64 ", 0x%" PRIx64
                               ") overlaps segment %u [0x%" PRIx64 ", 0x%" PRIx64 ")",
                               i, lo, hi, o->phdr, o->paddr, o->paddr + o->memsz);
        }
        img->seg[img->nr_segments++] = (struct xs_image_segment){
            .paddr = ph.p_paddr,
            .offset = ph.p_offset,
            .filesz = ph.p_filesz,
            .memsz = ph.p_memsz,
            .flags = ph.p_flags,
            .phdr = i,
        };
    }

    if (img->nr_segments == 0)
        return xs_errf(err, errlen, nm, "no PT_LOAD segment (nothing to load)");
    if (!ns.have_phys32)
        return xs_errf(err, errlen, nm,
                       "no XEN_ELFNOTE_PHYS32_ENTRY note (not a PVH kernel)");
    if (!ns.have_entry64)
        return xs_errf(err, errlen, nm,
                       "no xensim ENTRY64 note (kernel not built for xensim: "
                       "needs a \"" XSNOTE_NAME "\" note of type %d)",
                       XSNOTE_ENTRY64);
    if (!entry_ok(img, img->phys32_entry))
        return xs_errf(err, errlen, nm,
                       "XEN_ELFNOTE_PHYS32_ENTRY 0x%" PRIx64
                       " is not inside a loaded executable segment",
                       img->phys32_entry);
    if (!entry_ok(img, img->entry64))
        return xs_errf(err, errlen, nm,
                       "xensim ENTRY64 0x%" PRIx64
                       " is not inside a loaded executable segment",
                       img->entry64);

    img->paddr_lo = UINT64_MAX;
    img->paddr_hi = 0;
    for (unsigned i = 0; i < img->nr_segments; i++) {
        const struct xs_image_segment *s = &img->seg[i];
        if (s->paddr < img->paddr_lo) img->paddr_lo = s->paddr;
        if (s->paddr + s->memsz > img->paddr_hi) img->paddr_hi = s->paddr + s->memsz;
    }
    /* Checked last, so a segment cut short is named first. */
    /* Xen's libelf refuses an image whose section headers lie past its end:
     * that is how a truncated file usually shows (debug info comes last). */
    if (eh.e_shnum) {
        uint64_t shsz = (uint64_t)eh.e_shnum * eh.e_shentsize;
        if (!in_bounds(eh.e_shoff, shsz, size))
            return xs_errf(err, errlen, nm,
                           "truncated: section header table [0x%" PRIx64 ", +0x%" PRIx64
                           ") lies beyond the end of the file (0x%zx bytes)",
                           (uint64_t)eh.e_shoff, shsz, size);
    }
    return 0;
}

static void reset(struct xs_image *img, const char *name)
{
    memset(img, 0, sizeof(*img));
    snprintf(img->name, sizeof(img->name), "%s", name ? name : "(image)");
}

/* On failure the image holds no memory but keeps its name. */
static void clear_parsed(struct xs_image *img)
{
    char name[sizeof(img->name)];
    memcpy(name, img->name, sizeof(name));
    memset(img, 0, sizeof(*img));
    memcpy(img->name, name, sizeof(name));
}

int xs_image_parse(struct xs_image *img, const char *name, const void *data, size_t size,
                   char *err, size_t errlen)
{
    reset(img, name);
    if (!data && size) return xs_errf(err, errlen, img->name, "no data");
    if (parse(img, data, size, err, errlen)) {
        clear_parsed(img);
        return -1;
    }
    img->data = malloc(size);
    if (!img->data) {
        clear_parsed(img);
        return xs_errf(err, errlen, img->name, "out of memory copying %zu bytes", size);
    }
    memcpy(img->data, data, size);
    img->size = size;
    return 0;
}

int xs_image_open(struct xs_image *img, const char *path, char *err, size_t errlen)
{
    reset(img, path);
    if (!path) return xs_errf(err, errlen, img->name, "no file name");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return xs_errf(err, errlen, img->name, "cannot open: %s", strerror(errno));

    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return xs_errf(err, errlen, img->name, "cannot stat: %s", strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return xs_errf(err, errlen, img->name, "not a regular file");
    }
    if ((uint64_t)st.st_size > XS_IMAGE_MAX_FILE) {
        close(fd);
        return xs_errf(err, errlen, img->name,
                       "file is %jd bytes, larger than the %" PRIu64 " MiB limit",
                       (intmax_t)st.st_size, XS_IMAGE_MAX_FILE / MIB);
    }

    size_t size = (size_t)st.st_size, got = 0;
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) {
        close(fd);
        return xs_errf(err, errlen, img->name, "out of memory reading %zu bytes", size);
    }
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int e = n < 0 ? errno : 0;
            close(fd);
            free(buf);
            if (n == 0)
                return xs_errf(err, errlen, img->name,
                               "file shrank while reading (%zu of %zu bytes)", got, size);
            return xs_errf(err, errlen, img->name, "read error: %s", strerror(e));
        }
        got += (size_t)n;
    }
    close(fd);

    if (parse(img, buf, size, err, errlen)) {
        free(buf);
        clear_parsed(img);
        return -1;
    }
    img->data = buf;
    img->size = size;
    return 0;
}

static void format_ram(char *buf, size_t len, uint64_t ram_size)
{
    if (ram_size % MIB == 0)
        snprintf(buf, len, "%" PRIu64 " MiB", ram_size / MIB);
    else
        snprintf(buf, len, "0x%" PRIx64 " bytes", ram_size);
}

int xs_image_load(const struct xs_image *img, uint8_t *ram, uint64_t ram_size, char *err,
                  size_t errlen)
{
    const char *nm = img->name[0] ? img->name : "(image)";
    char ramdesc[48];
    format_ram(ramdesc, sizeof(ramdesc), ram_size);

    if (!img->data || img->nr_segments == 0 || img->nr_segments > XS_IMAGE_MAX_SEGMENTS)
        return xs_errf(err, errlen, nm, "image was not parsed successfully");
    if (!ram) return xs_errf(err, errlen, nm, "no guest RAM");

    /* Check everything before writing anything, so failure leaves RAM as it was. */
    for (unsigned i = 0; i < img->nr_segments; i++) {
        const struct xs_image_segment *s = &img->seg[i];
        if (!in_bounds(s->paddr, s->memsz, ram_size)) {
            if (s->paddr > UINT64_MAX - s->memsz)
                return xs_errf(err, errlen, nm,
                               "segment %u at 0x%" PRIx64 " (size 0x%" PRIx64
                               ") lies outside guest RAM (%s)",
                               s->phdr, s->paddr, s->memsz, ramdesc);
            return xs_errf(err, errlen, nm,
                           "segment %u [0x%" PRIx64 ", 0x%" PRIx64
                           ") lies outside guest RAM (%s)",
                           s->phdr, s->paddr, s->paddr + s->memsz, ramdesc);
        }
        /* The image struct is caller-visible: do not trust it blindly. */
        if (s->filesz > s->memsz || !in_bounds(s->offset, s->filesz, img->size))
            return xs_errf(err, errlen, nm, "segment %u: file range is inconsistent",
                           s->phdr);
    }
    if (img->phys32_entry >= ram_size)
        return xs_errf(err, errlen, nm,
                       "XEN_ELFNOTE_PHYS32_ENTRY 0x%" PRIx64
                       " lies outside guest RAM (%s)",
                       img->phys32_entry, ramdesc);
    if (img->entry64 >= ram_size)
        return xs_errf(err, errlen, nm,
                       "xensim ENTRY64 0x%" PRIx64 " lies outside guest RAM (%s)",
                       img->entry64, ramdesc);

    for (unsigned i = 0; i < img->nr_segments; i++) {
        const struct xs_image_segment *s = &img->seg[i];
        memcpy(ram + s->paddr, img->data + s->offset, s->filesz);
        memset(ram + s->paddr + s->filesz, 0, s->memsz - s->filesz);
    }
    return 0;
}

void xs_image_free(struct xs_image *img)
{
    if (!img) return;
    free(img->data);
    img->data = NULL;
    img->size = 0;
}
