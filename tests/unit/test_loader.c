/* Loader tests: ELF images are assembled in memory, then broken one field at
 * a time; every broken image must be refused with a message naming the
 * problem, and no input may crash the parser. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xen/elfnote.h>
#include <xensim/abi.h>

#include "loader.h"
#include "unit.h"

#define MIB        (1024u * 1024u)
#define CODE_PA    0x100000u
#define CODE_SZ    0x100u
#define DATA_PA    0x102000u
#define DATA_FILSZ 0x40u
#define DATA_MEMSZ 0x2000u
#define EXTRA_PA   0x200000u /* extra PT_LOADs, 4 KiB apart */
#define EXTRA_SZ   0x10u
#define RAM_SIZE   (4u * MIB)

/* Program header slots of the built image, in file order. */
enum { PH_CODE, PH_DATA, PH_NOTE, PH_EXTRA };
/* Notes of the built image, in file order. */
enum { N_PHYS32, N_GUEST_OS, N_ENTRY64, N_DUP_PHYS32, N_MAX };

struct elf_opts {
    uint16_t e_type;
    uint64_t phys32, entry64;
    uint32_t phys32_descsz, entry64_descsz;
    bool no_phys32, no_entry64, dup_phys32;
    const char *guest_os; /* NULL: no GUEST_OS note */
    unsigned extra_loads;
};

struct elf_img {
    uint8_t buf[8192];
    size_t size;
    /* Headers as built; tests edit these, then commit() writes them back. */
    Elf64_Ehdr eh;
    Elf64_Phdr ph[32];
    unsigned nph;
    size_t phoff;          /* where commit() writes ph[] (not eh.e_phoff) */
    size_t note_at[N_MAX]; /* file offset of each note header; 0 if absent */
};

static struct elf_opts default_opts(void)
{
    return (struct elf_opts){
        .e_type = ET_EXEC,
        .phys32 = CODE_PA,
        .entry64 = CODE_PA + 0x10,
        .phys32_descsz = 4,
        .entry64_descsz = 8,
        .guest_os = "xstest",
    };
}

static uint8_t code_byte(size_t i)
{
    return (uint8_t)(i * 7 + 1);
}

static uint8_t data_byte(size_t i)
{
    return (uint8_t)(0xc0 ^ i);
}

static size_t align_up(size_t v, size_t a)
{
    return (v + a - 1) / a * a;
}

static void commit(struct elf_img *e)
{
    memcpy(e->buf, &e->eh, sizeof(e->eh));
    memcpy(e->buf + e->phoff, e->ph, e->nph * sizeof(e->ph[0]));
}

/* Append one note at *pos; desc is the little-endian value padded with zeros
 * to descsz bytes. */
static size_t put_note(struct elf_img *e, size_t *pos, const char *name, uint32_t type,
                       const void *desc, size_t desclen, uint32_t descsz)
{
    size_t at = *pos;
    Elf64_Nhdr nh = {
        .n_namesz = (uint32_t)strlen(name) + 1, .n_descsz = descsz, .n_type = type};
    memcpy(e->buf + at, &nh, sizeof(nh));
    memcpy(e->buf + at + sizeof(nh), name, nh.n_namesz);
    size_t d = at + sizeof(nh) + align_up(nh.n_namesz, 4);
    memcpy(e->buf + d, desc, desclen < descsz ? desclen : descsz);
    *pos = d + align_up(descsz, 4);
    return at;
}

/* Layout: ehdr, phdrs, notes, code (R+X at CODE_PA), data (R+W at DATA_PA
 * with a bss tail), then any extra small R-only segments. */
static void build(struct elf_img *e, const struct elf_opts *o)
{
    memset(e, 0, sizeof(*e));
    e->nph = PH_EXTRA + o->extra_loads;
    e->phoff = sizeof(Elf64_Ehdr);
    size_t pos = align_up(e->phoff + e->nph * sizeof(Elf64_Phdr), 16);

    size_t notes = pos;
    if (!o->no_phys32)
        e->note_at[N_PHYS32] = put_note(e, &pos, "Xen", XEN_ELFNOTE_PHYS32_ENTRY,
                                        &o->phys32, 8, o->phys32_descsz);
    if (o->guest_os)
        e->note_at[N_GUEST_OS] =
            put_note(e, &pos, "Xen", XEN_ELFNOTE_GUEST_OS, o->guest_os,
                     strlen(o->guest_os) + 1, (uint32_t)strlen(o->guest_os) + 1);
    if (!o->no_entry64)
        e->note_at[N_ENTRY64] = put_note(e, &pos, XSNOTE_NAME, XSNOTE_ENTRY64,
                                         &o->entry64, 8, o->entry64_descsz);
    if (o->dup_phys32)
        e->note_at[N_DUP_PHYS32] =
            put_note(e, &pos, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &o->phys32, 8, 4);
    size_t notes_len = pos - notes;

    pos = align_up(pos, 16);
    size_t code = pos;
    for (size_t i = 0; i < CODE_SZ; i++)
        e->buf[code + i] = code_byte(i);
    pos += CODE_SZ;
    size_t data = pos;
    for (size_t i = 0; i < DATA_FILSZ; i++)
        e->buf[data + i] = data_byte(i);
    pos += DATA_FILSZ;
    size_t extra = pos;
    pos += o->extra_loads * EXTRA_SZ;
    ck_assert_uint_le(pos, sizeof(e->buf));
    e->size = pos;

    e->ph[PH_CODE] = (Elf64_Phdr){.p_type = PT_LOAD,
                                  .p_flags = PF_R | PF_X,
                                  .p_offset = code,
                                  .p_vaddr = CODE_PA,
                                  .p_paddr = CODE_PA,
                                  .p_filesz = CODE_SZ,
                                  .p_memsz = CODE_SZ,
                                  .p_align = 16};
    e->ph[PH_DATA] = (Elf64_Phdr){.p_type = PT_LOAD,
                                  .p_flags = PF_R | PF_W,
                                  .p_offset = data,
                                  .p_vaddr = DATA_PA,
                                  .p_paddr = DATA_PA,
                                  .p_filesz = DATA_FILSZ,
                                  .p_memsz = DATA_MEMSZ,
                                  .p_align = 16};
    e->ph[PH_NOTE] = (Elf64_Phdr){.p_type = PT_NOTE,
                                  .p_flags = PF_R,
                                  .p_offset = notes,
                                  .p_filesz = notes_len,
                                  .p_memsz = notes_len,
                                  .p_align = 4};
    for (unsigned k = 0; k < o->extra_loads; k++)
        e->ph[PH_EXTRA + k] = (Elf64_Phdr){.p_type = PT_LOAD,
                                           .p_flags = PF_R,
                                           .p_offset = extra + k * EXTRA_SZ,
                                           .p_vaddr = EXTRA_PA + k * 0x1000u,
                                           .p_paddr = EXTRA_PA + k * 0x1000u,
                                           .p_filesz = EXTRA_SZ,
                                           .p_memsz = EXTRA_SZ,
                                           .p_align = 16};

    memcpy(e->eh.e_ident, ELFMAG, SELFMAG);
    e->eh.e_ident[EI_CLASS] = ELFCLASS64;
    e->eh.e_ident[EI_DATA] = ELFDATA2LSB;
    e->eh.e_ident[EI_VERSION] = EV_CURRENT;
    e->eh.e_type = o->e_type;
    e->eh.e_machine = EM_X86_64;
    e->eh.e_version = EV_CURRENT;
    e->eh.e_entry = CODE_PA;
    e->eh.e_phoff = e->phoff;
    e->eh.e_ehsize = sizeof(Elf64_Ehdr);
    e->eh.e_phentsize = sizeof(Elf64_Phdr);
    e->eh.e_phnum = (uint16_t)e->nph;
    commit(e);
}

static void build_default(struct elf_img *e)
{
    struct elf_opts o = default_opts();
    build(e, &o);
}

/* Overwrite a 32-bit field of a note header (0 namesz, 4 descsz, 8 type). */
static void poke_note(struct elf_img *e, int note, size_t field, uint32_t v)
{
    ck_assert_uint_ne(e->note_at[note], 0);
    memcpy(e->buf + e->note_at[note] + field, &v, 4);
}

/* Parse must fail with a one-line message naming the file and the problem. */
static void expect_parse_fail(const struct elf_img *e, const char *what,
                              const char *phrase)
{
    struct xs_image img;
    char err[512] = "";
    int rc = xs_image_parse(&img, "bad.elf", e->buf, e->size, err, sizeof(err));
    ck_assert_msg(rc == -1, "%s: parse succeeded; expected failure mentioning \"%s\"",
                  what, phrase);
    ck_assert_msg(strncmp(err, "bad.elf: ", 9) == 0, "%s: message lacks file name: %s",
                  what, err);
    ck_assert_msg(strstr(err, phrase), "%s: message \"%s\" does not mention \"%s\"", what,
                  err, phrase);
    ck_assert_msg(!strchr(err, '\n'), "%s: message has a newline: %s", what, err);
    ck_assert_ptr_null(img.data);
    xs_image_free(&img);
}

static void parse_ok(struct xs_image *img, const struct elf_img *e)
{
    char err[512] = "";
    int rc = xs_image_parse(img, "good.elf", e->buf, e->size, err, sizeof(err));
    ck_assert_msg(rc == 0, "parse failed: %s", err);
}

/* ---- the good image ------------------------------------------------------ */

START_TEST(good_parses)
{
    struct elf_img e;
    struct xs_image img;
    build_default(&e);
    parse_ok(&img, &e);
    ck_assert_str_eq(img.name, "good.elf");
    ck_assert_uint_eq(img.size, e.size);
    ck_assert_mem_eq(img.data, e.buf, e.size);
    ck_assert_uint_eq(img.phys32_entry, CODE_PA);
    ck_assert_uint_eq(img.entry64, CODE_PA + 0x10);
    ck_assert_uint_eq(img.paddr_lo, CODE_PA);
    ck_assert_uint_eq(img.paddr_hi, DATA_PA + DATA_MEMSZ);
    ck_assert_uint_eq(img.nr_segments, 2);
    ck_assert_uint_eq(img.seg[0].paddr, CODE_PA);
    ck_assert_uint_eq(img.seg[0].filesz, CODE_SZ);
    ck_assert_uint_eq(img.seg[0].flags, PF_R | PF_X);
    ck_assert_uint_eq(img.seg[0].phdr, PH_CODE);
    ck_assert_uint_eq(img.seg[1].paddr, DATA_PA);
    ck_assert_uint_eq(img.seg[1].memsz, DATA_MEMSZ);
    ck_assert_uint_eq(img.seg[1].phdr, PH_DATA);
    ck_assert_str_eq(img.guest_os, "xstest");
    xs_image_free(&img);
    ck_assert_ptr_null(img.data);
    xs_image_free(&img); /* twice is harmless */
}
END_TEST

START_TEST(good_loads)
{
    struct elf_img e;
    struct xs_image img;
    char err[256] = "";
    build_default(&e);
    parse_ok(&img, &e);
    uint8_t *ram = malloc(RAM_SIZE);
    ck_assert_ptr_nonnull(ram);
    memset(ram, 0xaa, RAM_SIZE);
    ck_assert_int_eq(xs_image_load(&img, ram, RAM_SIZE, err, sizeof(err)), 0);
    for (size_t i = 0; i < CODE_SZ; i++)
        ck_assert_uint_eq(ram[CODE_PA + i], code_byte(i));
    for (size_t i = 0; i < DATA_FILSZ; i++)
        ck_assert_uint_eq(ram[DATA_PA + i], data_byte(i));
    for (size_t i = DATA_FILSZ; i < DATA_MEMSZ; i++)
        ck_assert_uint_eq(ram[DATA_PA + i], 0); /* bss */
    /* Nothing outside the segments is touched. */
    ck_assert_uint_eq(ram[CODE_PA - 1], 0xaa);
    ck_assert_uint_eq(ram[CODE_PA + CODE_SZ], 0xaa);
    ck_assert_uint_eq(ram[DATA_PA - 1], 0xaa);
    ck_assert_uint_eq(ram[DATA_PA + DATA_MEMSZ], 0xaa);
    free(ram);
    xs_image_free(&img);
}
END_TEST

START_TEST(et_dyn_accepted)
{
    struct elf_img e;
    struct xs_image img;
    struct elf_opts o = default_opts();
    o.e_type = ET_DYN;
    build(&e, &o);
    parse_ok(&img, &e);
    xs_image_free(&img);
}
END_TEST

START_TEST(no_guest_os_is_fine)
{
    struct elf_img e;
    struct xs_image img;
    struct elf_opts o = default_opts();
    o.guest_os = NULL;
    build(&e, &o);
    parse_ok(&img, &e);
    ck_assert_str_eq(img.guest_os, "");
    xs_image_free(&img);
}
END_TEST

START_TEST(guest_os_sanitised)
{
    struct elf_img e;
    struct xs_image img;
    struct elf_opts o = default_opts();
    char long_os[200];
    memset(long_os, 'x', sizeof(long_os) - 1);
    long_os[sizeof(long_os) - 1] = '\0';
    long_os[2] = '\033'; /* an escape sequence must not reach a terminal */
    o.guest_os = long_os;
    build(&e, &o);
    parse_ok(&img, &e);
    ck_assert_uint_eq(strlen(img.guest_os), sizeof(img.guest_os) - 1);
    ck_assert_int_eq(img.guest_os[2], '?');
    xs_image_free(&img);
}
END_TEST

START_TEST(empty_load_ignored)
{
    struct elf_img e;
    struct xs_image img;
    struct elf_opts o = default_opts();
    o.extra_loads = 1;
    build(&e, &o);
    e.ph[PH_EXTRA].p_filesz = 0;
    e.ph[PH_EXTRA].p_memsz = 0;
    e.ph[PH_EXTRA].p_paddr = CODE_PA; /* would overlap if it counted */
    commit(&e);
    parse_ok(&img, &e);
    ck_assert_uint_eq(img.nr_segments, 2);
    xs_image_free(&img);
}
END_TEST

START_TEST(max_segments_accepted)
{
    struct elf_img e;
    struct xs_image img;
    struct elf_opts o = default_opts();
    o.extra_loads = XS_IMAGE_MAX_SEGMENTS - 2;
    build(&e, &o);
    parse_ok(&img, &e);
    ck_assert_uint_eq(img.nr_segments, XS_IMAGE_MAX_SEGMENTS);
    xs_image_free(&img);
}
END_TEST

/* ---- hostile images: one broken field each ------------------------------- */

static void m_magic(struct elf_img *e)
{
    e->eh.e_ident[EI_MAG1] = 'X';
}
static void m_class32(struct elf_img *e)
{
    e->eh.e_ident[EI_CLASS] = ELFCLASS32;
}
static void m_big_endian(struct elf_img *e)
{
    e->eh.e_ident[EI_DATA] = ELFDATA2MSB;
}
static void m_ident_version(struct elf_img *e)
{
    e->eh.e_ident[EI_VERSION] = EV_NONE;
}
static void m_e_version(struct elf_img *e)
{
    e->eh.e_version = 2;
}
static void m_type_rel(struct elf_img *e)
{
    e->eh.e_type = ET_REL;
}
static void m_type_core(struct elf_img *e)
{
    e->eh.e_type = ET_CORE;
}
static void m_machine(struct elf_img *e)
{
    e->eh.e_machine = EM_386;
}
static void m_phentsize_small(struct elf_img *e)
{
    e->eh.e_phentsize = 32;
}
static void m_phentsize_big(struct elf_img *e)
{
    e->eh.e_phentsize = 64;
}
static void m_phnum_xnum(struct elf_img *e)
{
    e->eh.e_phnum = PN_XNUM;
}
static void m_phoff_past_end(struct elf_img *e)
{
    e->eh.e_phoff = e->size - 8;
}
static void m_phoff_wraps(struct elf_img *e)
{
    e->eh.e_phoff = UINT64_MAX - 16;
}
static void m_phnum_too_many(struct elf_img *e)
{
    e->eh.e_phnum = 1000;
}
static void m_load_offset_past_end(struct elf_img *e)
{
    e->ph[PH_DATA].p_offset = e->size + 1;
}
static void m_load_filesz_past_end(struct elf_img *e)
{
    e->ph[PH_DATA].p_filesz = e->size;
    e->ph[PH_DATA].p_memsz = 0x100000;
}
static void m_load_offset_wraps(struct elf_img *e)
{
    e->ph[PH_CODE].p_offset = UINT64_MAX - 8;
}
static void m_note_offset_past_end(struct elf_img *e)
{
    e->ph[PH_NOTE].p_offset = e->size;
    e->ph[PH_NOTE].p_filesz = 4;
}
static void m_note_filesz_wraps(struct elf_img *e)
{
    e->ph[PH_NOTE].p_filesz = UINT64_MAX;
}
static void m_filesz_gt_memsz(struct elf_img *e)
{
    e->ph[PH_DATA].p_memsz = DATA_FILSZ - 1;
}
static void m_paddr_wraps(struct elf_img *e)
{
    e->ph[PH_DATA].p_paddr = UINT64_MAX - 0x100;
}
static void m_overlap(struct elf_img *e)
{
    e->ph[PH_DATA].p_paddr = CODE_PA + CODE_SZ - 1;
}
static void m_overlap_contained(struct elf_img *e)
{
    e->ph[PH_CODE].p_paddr = DATA_PA + 0x100; /* inside data's bss */
}
static void m_too_many_loads(struct elf_img *e)
{
    struct elf_opts o = default_opts();
    o.extra_loads = XS_IMAGE_MAX_SEGMENTS - 1;
    build(e, &o);
}
static void m_no_load(struct elf_img *e)
{
    e->ph[PH_CODE].p_type = PT_NULL;
    e->ph[PH_DATA].p_type = PT_NULL;
}
static void m_no_phdrs(struct elf_img *e)
{
    e->eh.e_phnum = 0;
}
static void m_namesz_overrun(struct elf_img *e)
{
    poke_note(e, N_ENTRY64, 0, 0x1000);
}
static void m_namesz_huge(struct elf_img *e)
{
    poke_note(e, N_PHYS32, 0, UINT32_MAX);
}
static void m_descsz_overrun(struct elf_img *e)
{
    poke_note(e, N_ENTRY64, 4, 0x1000);
}
static void m_descsz_huge(struct elf_img *e)
{
    poke_note(e, N_GUEST_OS, 4, UINT32_MAX);
}
static void m_phys32_descsz(struct elf_img *e)
{
    struct elf_opts o = default_opts();
    o.phys32_descsz = 8;
    build(e, &o);
}
static void m_phys32_descsz_short(struct elf_img *e)
{
    struct elf_opts o = default_opts();
    o.phys32_descsz = 2;
    build(e, &o);
}
static void m_entry64_descsz(struct elf_img *e)
{
    struct elf_opts o = default_opts();
    o.entry64_descsz = 4;
    build(e, &o);
}
static void m_no_phys32(struct elf_img *e)
{
    struct elf_opts o = default_opts();
    o.no_phys32 = true;
    build(e, &o);
}
static void m_no_entry64(struct elf_img *e)
{
    struct elf_opts o = default_opts();
    o.no_entry64 = true;
    build(e, &o);
}
static void m_no_note_segment(struct elf_img *e)
{
    e->ph[PH_NOTE].p_type = PT_NULL;
}
static void m_dup_phys32(struct elf_img *e)
{
    struct elf_opts o = default_opts();
    o.dup_phys32 = true;
    build(e, &o);
}
static void m_phys32_type_renamed(struct elf_img *e)
{
    poke_note(e, N_PHYS32, 8, XEN_ELFNOTE_ENTRY); /* a PV, not PVH, note */
}
static void m_phys32_outside(struct elf_img *e)
{
    struct elf_opts o = default_opts();
    o.phys32 = 0x80000;
    build(e, &o);
}
static void m_entry64_in_data(struct elf_img *e)
{
    struct elf_opts o = default_opts();
    o.entry64 = DATA_PA;
    build(e, &o);
}
static void m_entry64_past_code(struct elf_img *e)
{
    struct elf_opts o = default_opts();
    o.entry64 = CODE_PA + CODE_SZ;
    build(e, &o);
}
static void m_entry64_in_exec_bss(struct elf_img *e)
{
    struct elf_opts o = default_opts();
    o.entry64 = CODE_PA + CODE_SZ + 0x10;
    build(e, &o);
    e->ph[PH_CODE].p_memsz = CODE_SZ + 0x1000;
}
static void m_phys32_in_nonexec(struct elf_img *e)
{
    e->ph[PH_CODE].p_flags = PF_R | PF_W;
}

static const struct hostile {
    const char *what;
    void (*mutate)(struct elf_img *);
    const char *phrase;
} hostile[] = {
    {"bad magic", m_magic, "not an ELF file"},
    {"ELFCLASS32", m_class32, "not a 64-bit ELF"},
    {"big-endian", m_big_endian, "not a little-endian ELF"},
    {"EI_VERSION 0", m_ident_version, "unsupported ELF version"},
    {"e_version 2", m_e_version, "unsupported ELF version"},
    {"ET_REL", m_type_rel, "ELF type 1 is not an executable"},
    {"ET_CORE", m_type_core, "ELF type 4 is not an executable"},
    {"EM_386", m_machine, "machine 3 is not x86-64"},
    {"phentsize 32", m_phentsize_small, "e_phentsize is 32, expected 56"},
    {"phentsize 64", m_phentsize_big, "e_phentsize is 64, expected 56"},
    {"phnum PN_XNUM", m_phnum_xnum, "extended program header numbering"},
    {"phoff past end", m_phoff_past_end, "truncated: program header table ends at"},
    {"phoff wraps", m_phoff_wraps, "program header table offset 0xffffffffffffffef"},
    {"phnum 1000", m_phnum_too_many, "truncated: program header table ends at 0xdb00"},
    {"load offset past end", m_load_offset_past_end, "segment 1 (file offset"},
    {"load filesz past end", m_load_filesz_past_end,
     "extends beyond the end of the file"},
    {"load offset wraps", m_load_offset_wraps,
     "segment 0 (file offset 0xfffffffffffffff7"},
    {"note offset past end", m_note_offset_past_end, "segment 2 (file offset"},
    {"note filesz wraps", m_note_filesz_wraps, "extends beyond the end of the file"},
    {"filesz > memsz", m_filesz_gt_memsz, "file size 0x40 exceeds memory size 0x3f"},
    {"paddr wraps", m_paddr_wraps, "wraps around the address space"},
    {"overlap", m_overlap, "segment 1 [0x1000ff, 0x1020ff) overlaps segment 0"},
    {"overlap contained", m_overlap_contained, "overlaps segment 0"},
    {"17 loads", m_too_many_loads, "more than 16 PT_LOAD segments"},
    {"no PT_LOAD", m_no_load, "no PT_LOAD segment"},
    {"no phdrs", m_no_phdrs, "no PT_LOAD segment"},
    {"namesz overrun", m_namesz_overrun, "name size 4096 overruns the note segment"},
    {"namesz huge", m_namesz_huge, "name size 4294967295 overruns"},
    {"descsz overrun", m_descsz_overrun,
     "descriptor size 4096 overruns the note segment"},
    {"descsz huge", m_descsz_huge, "descriptor size 4294967295 overruns"},
    {"PHYS32 descsz 8", m_phys32_descsz, "PHYS32_ENTRY note has descsz 8, expected 4"},
    {"PHYS32 descsz 2", m_phys32_descsz_short, "PHYS32_ENTRY note has descsz 2"},
    {"ENTRY64 descsz 4", m_entry64_descsz, "ENTRY64 note has descsz 4, expected 8"},
    {"no PHYS32", m_no_phys32, "no XEN_ELFNOTE_PHYS32_ENTRY note (not a PVH kernel)"},
    {"no ENTRY64", m_no_entry64, "no xensim ENTRY64 note"},
    {"no PT_NOTE", m_no_note_segment, "no XEN_ELFNOTE_PHYS32_ENTRY note"},
    {"PHYS32 twice", m_dup_phys32, "duplicate XEN_ELFNOTE_PHYS32_ENTRY"},
    {"PV entry note only", m_phys32_type_renamed, "no XEN_ELFNOTE_PHYS32_ENTRY note"},
    {"PHYS32 outside", m_phys32_outside,
     "PHYS32_ENTRY 0x80000 is not inside a loaded executable segment"},
    {"ENTRY64 in data", m_entry64_in_data,
     "ENTRY64 0x102000 is not inside a loaded executable segment"},
    {"ENTRY64 past code", m_entry64_past_code, "ENTRY64 0x100100 is not inside"},
    {"ENTRY64 in bss", m_entry64_in_exec_bss, "ENTRY64 0x100110 is not inside"},
    {"code not executable", m_phys32_in_nonexec, "PHYS32_ENTRY 0x100000 is not inside"},
};

START_TEST(hostile_image)
{
    const struct hostile *h = &hostile[_i];
    struct elf_img e;
    build_default(&e);
    h->mutate(&e);
    commit(&e);
    expect_parse_fail(&e, h->what, h->phrase);
}
END_TEST

/* Every prefix of a good image is refused cleanly (ASan watches the reads). */
START_TEST(truncated_everywhere)
{
    struct elf_img e;
    build_default(&e);
    for (size_t len = 0; len <= e.size; len++) {
        struct xs_image img;
        char err[256] = "";
        /* A fresh exact-size copy, so any overread is caught. */
        uint8_t *copy = malloc(len ? len : 1);
        ck_assert_ptr_nonnull(copy);
        memcpy(copy, e.buf, len);
        int rc = xs_image_parse(&img, "cut.elf", copy, len, err, sizeof(err));
        free(copy);
        if (len == e.size) {
            ck_assert_msg(rc == 0, "full image refused: %s", err);
        } else {
            ck_assert_msg(rc == -1, "prefix of %zu bytes accepted", len);
            ck_assert_msg(strncmp(err, "cut.elf: ", 9) == 0 && strlen(err) > 9,
                          "bad message for %zu bytes: \"%s\"", len, err);
        }
        xs_image_free(&img);
    }
}
END_TEST

/* Random corruption: anything may be refused, nothing may crash, and what is
 * accepted must be internally consistent. */
START_TEST(random_corruption)
{
    struct elf_img good;
    build_default(&good);
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (int iter = 0; iter < 4000; iter++) {
        uint8_t *copy = malloc(good.size);
        ck_assert_ptr_nonnull(copy);
        memcpy(copy, good.buf, good.size);
        for (int k = 0; k < 1 + iter % 4; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            copy[x % good.size] = (uint8_t)(x >> 32);
        }
        struct xs_image img;
        char err[256];
        if (xs_image_parse(&img, "fuzz.elf", copy, good.size, err, sizeof(err)) == 0) {
            ck_assert_uint_ge(img.nr_segments, 1);
            ck_assert_uint_le(img.nr_segments, XS_IMAGE_MAX_SEGMENTS);
            for (unsigned i = 0; i < img.nr_segments; i++) {
                ck_assert_uint_le(img.seg[i].filesz, img.seg[i].memsz);
                ck_assert_uint_le(img.seg[i].offset + img.seg[i].filesz, img.size);
            }
        }
        xs_image_free(&img);
        free(copy);
    }
}
END_TEST

START_TEST(error_buffer_limits)
{
    struct elf_img e;
    struct xs_image img;
    build_default(&e);
    e.eh.e_machine = EM_386;
    commit(&e);
    char small[12];
    memset(small, 'Z', sizeof(small));
    ck_assert_int_eq(xs_image_parse(&img, "bad.elf", e.buf, e.size, small, 8), -1);
    ck_assert_str_eq(small, "bad.elf"); /* truncated, terminated, in bounds */
    ck_assert_int_eq(small[8], 'Z');
    ck_assert_int_eq(xs_image_parse(&img, "bad.elf", e.buf, e.size, NULL, 0), -1);
    ck_assert_int_eq(xs_image_parse(&img, "bad.elf", NULL, 0, NULL, 0), -1);
    xs_image_free(&img);
}
END_TEST

START_TEST(long_name_truncated)
{
    struct elf_img e;
    struct xs_image img;
    char name[600], err[1024];
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    build_default(&e);
    ck_assert_int_eq(xs_image_parse(&img, name, e.buf, e.size, err, sizeof(err)), 0);
    ck_assert_uint_eq(strlen(img.name), sizeof(img.name) - 1);
    xs_image_free(&img);
}
END_TEST

/* ---- loading into guest RAM ---------------------------------------------- */

START_TEST(load_outside_ram)
{
    struct elf_img e;
    struct xs_image img;
    char err[256] = "";
    build_default(&e);
    e.ph[PH_DATA].p_paddr = 0x3ff000;
    commit(&e);
    parse_ok(&img, &e);
    uint8_t *ram = calloc(1, RAM_SIZE);
    ck_assert_ptr_nonnull(ram);
    ck_assert_int_eq(xs_image_load(&img, ram, RAM_SIZE, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "good.elf: segment 1 [0x3ff000, 0x401000) lies outside guest "
                          "RAM (4 MiB)");
    /* Checked before anything is written. */
    ck_assert_uint_eq(ram[CODE_PA], 0);
    free(ram);
    xs_image_free(&img);
}
END_TEST

START_TEST(load_ram_too_small)
{
    struct elf_img e;
    struct xs_image img;
    char err[256] = "";
    build_default(&e);
    parse_ok(&img, &e);
    uint8_t ram[4096];
    ck_assert_int_eq(xs_image_load(&img, ram, sizeof(ram), err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "segment 0 [0x100000, 0x100100) lies outside guest RAM "
                              "(0x1000 bytes)"),
                  "%s", err);
    ck_assert_int_eq(xs_image_load(&img, ram, 0, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "lies outside guest RAM (0 MiB)"), "%s", err);
    xs_image_free(&img);
}
END_TEST

START_TEST(load_exact_fit)
{
    struct elf_img e;
    struct xs_image img;
    char err[256] = "";
    build_default(&e);
    parse_ok(&img, &e);
    uint64_t size = DATA_PA + DATA_MEMSZ;
    uint8_t *ram = malloc(size); /* exact: ASan catches a byte too far */
    ck_assert_ptr_nonnull(ram);
    ck_assert_int_eq(xs_image_load(&img, ram, size, err, sizeof(err)), 0);
    ck_assert_int_eq(xs_image_load(&img, ram, size - 1, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "segment 1 [0x102000, 0x104000) lies outside"), "%s", err);
    free(ram);
    xs_image_free(&img);
}
END_TEST

/* xs_image_load does not trust a struct the caller may have edited. */
START_TEST(load_tampered_image)
{
    struct elf_img e;
    struct xs_image img, t;
    char err[256] = "";
    build_default(&e);
    parse_ok(&img, &e);
    uint8_t *ram = calloc(1, RAM_SIZE);
    ck_assert_ptr_nonnull(ram);

    t = img;
    t.seg[1].memsz = UINT64_MAX - DATA_PA + 1; /* end wraps to 0 */
    ck_assert_int_eq(xs_image_load(&t, ram, RAM_SIZE, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "segment 1 at 0x102000"), "%s", err);

    t = img;
    t.entry64 = RAM_SIZE;
    ck_assert_int_eq(xs_image_load(&t, ram, RAM_SIZE, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "ENTRY64 0x400000 lies outside guest RAM"), "%s", err);

    t = img;
    t.phys32_entry = UINT64_MAX;
    ck_assert_int_eq(xs_image_load(&t, ram, RAM_SIZE, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "PHYS32_ENTRY 0xffffffffffffffff lies outside"), "%s", err);

    t = img;
    t.seg[0].offset = img.size;
    ck_assert_int_eq(xs_image_load(&t, ram, RAM_SIZE, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "file range is inconsistent"), "%s", err);

    struct xs_image zero;
    memset(&zero, 0, sizeof(zero));
    ck_assert_int_eq(xs_image_load(&zero, ram, RAM_SIZE, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "not parsed"), "%s", err);
    xs_image_free(&zero);

    free(ram);
    xs_image_free(&img);
}
END_TEST

/* ---- files ----------------------------------------------------------------- */

START_TEST(open_missing)
{
    struct xs_image img;
    char err[256] = "";
    ck_assert_int_eq(
        xs_image_open(&img, "/nonexistent/xensim/none.elf", err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "/nonexistent/xensim/none.elf: cannot open: "), "%s", err);
    ck_assert_msg(strstr(err, strerror(ENOENT)), "%s", err);
    ck_assert_ptr_null(img.data);
    xs_image_free(&img);
}
END_TEST

START_TEST(open_directory)
{
    struct xs_image img;
    char err[256] = "";
    ck_assert_int_eq(xs_image_open(&img, "/", err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "not a regular file"), "%s", err);
    xs_image_free(&img);
}
END_TEST

START_TEST(open_file_roundtrip)
{
    struct elf_img e;
    struct xs_image img;
    char err[256] = "", path[] = "/tmp/xensim-unit-XXXXXX";
    build_default(&e);
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, e.buf, e.size), (ssize_t)e.size);
    close(fd);
    int rc = xs_image_open(&img, path, err, sizeof(err));
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_str_eq(img.name, path);
    ck_assert_mem_eq(img.data, e.buf, e.size);
    ck_assert_uint_eq(img.entry64, CODE_PA + 0x10);
    xs_image_free(&img);

    /* A broken file on disk reports through the same path. */
    fd = open(path, O_WRONLY | O_TRUNC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, e.buf, 10), 10);
    close(fd);
    ck_assert_int_eq(xs_image_open(&img, path, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "truncated: file is 10 bytes"), "%s", err);
    ck_assert_ptr_null(img.data);
    xs_image_free(&img);
    unlink(path);
}
END_TEST

START_TEST(free_zeroed)
{
    struct xs_image img;
    memset(&img, 0, sizeof(img));
    xs_image_free(&img);
    xs_image_free(NULL);
}
END_TEST

/* The real guest built by the Makefile, when XENSIM_GUEST_DIR says where. */
START_TEST(real_guest_basic)
{
    const char *dir = getenv("XENSIM_GUEST_DIR");
    char path[4096];
    if (!dir || !*dir) return;
    snprintf(path, sizeof(path), "%s/basic.elf", dir);
    if (access(path, R_OK) != 0) return;
    struct xs_image img;
    char err[512] = "";
    int rc = xs_image_open(&img, path, err, sizeof(err));
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_uint_ne(img.phys32_entry, 0);
    ck_assert_uint_ne(img.entry64, 0);
    ck_assert_uint_ne(img.entry64, img.phys32_entry);
    ck_assert_uint_eq(img.paddr_lo, 0x100000);
    ck_assert_uint_gt(img.paddr_hi, img.paddr_lo);
    uint64_t ram_size = 64 * (uint64_t)MIB;
    uint8_t *ram = calloc(1, ram_size);
    ck_assert_ptr_nonnull(ram);
    rc = xs_image_load(&img, ram, ram_size, err, sizeof(err));
    ck_assert_msg(rc == 0, "%s", err);
    const struct xs_image_segment *s = &img.seg[0];
    ck_assert_mem_eq(ram + s->paddr, img.data + s->offset, s->filesz);
    free(ram);
    xs_image_free(&img);
}
END_TEST

Suite *loader_suite(void)
{
    Suite *s = suite_create("loader");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, good_parses);
    tcase_add_test(tc, et_dyn_accepted);
    tcase_add_test(tc, no_guest_os_is_fine);
    tcase_add_test(tc, guest_os_sanitised);
    tcase_add_test(tc, empty_load_ignored);
    tcase_add_test(tc, max_segments_accepted);
    tcase_add_test(tc, error_buffer_limits);
    tcase_add_test(tc, long_name_truncated);
    suite_add_tcase(s, tc);

    tc = tcase_create("hostile");
    tcase_add_loop_test(tc, hostile_image, 0,
                        (int)(sizeof(hostile) / sizeof(hostile[0])));
    tcase_add_test(tc, truncated_everywhere);
    tcase_add_test(tc, random_corruption);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("load");
    tcase_add_test(tc, good_loads);
    tcase_add_test(tc, load_outside_ram);
    tcase_add_test(tc, load_ram_too_small);
    tcase_add_test(tc, load_exact_fit);
    tcase_add_test(tc, load_tampered_image);
    suite_add_tcase(s, tc);

    tc = tcase_create("file");
    tcase_add_test(tc, open_missing);
    tcase_add_test(tc, open_directory);
    tcase_add_test(tc, open_file_roundtrip);
    tcase_add_test(tc, free_zeroed);
    tcase_add_test(tc, real_guest_basic);
    suite_add_tcase(s, tc);
    return s;
}
