/* PVH start of day: struct hvm_start_info and what it points to, laid out
 * one after another from a page-aligned physical address.  See start_info.h. */
#include "errmsg.h"
#include "start_info.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* x86 base page.  Xen's public headers export it only through io/ring.h. */
#define XS_PAGE_SIZE 4096u

#define fail(err, errlen, ...) xs_errf(err, errlen, "start_info", __VA_ARGS__)

/* Cursor over the area being laid out: each item starts 8-byte aligned, end
 * is one past the last item's last byte.  An overflow sticks, so the whole
 * layout can be checked once. */
struct cursor {
    uint64_t next, end;
    bool overflow;
};

static uint64_t take(struct cursor *c, uint64_t len)
{
    uint64_t at = c->next;
    if (c->overflow || at > UINT64_MAX - 7 - len) {
        c->overflow = true;
        return 0;
    }
    c->end = at + len;
    c->next = (c->end + 7) & ~(uint64_t)7;
    return at;
}

static void put_str(uint8_t *ram, uint64_t pa, const char *s, size_t len)
{
    memcpy(ram + pa, s, len);
    ram[pa + len] = '\0';
}

int xs_start_info_build(uint8_t *ram, uint64_t ram_size, uint64_t at_pa,
                        const char *cmdline, const struct hvm_memmap_table_entry *map,
                        unsigned nr_map, const struct xs_module *mods, unsigned nr_mods,
                        struct xs_start_info_layout *out, char *err, size_t errlen)
{
    if (!ram || !out) return fail(err, errlen, "no guest RAM or no output layout");
    if (at_pa % XS_PAGE_SIZE)
        return fail(err, errlen, "address 0x%" PRIx64 " is not page aligned", at_pa);
    if ((nr_map && !map) || (nr_mods && !mods))
        return fail(err, errlen, "%u memory map entries and %u modules but no array",
                    nr_map, nr_mods);

    size_t cmd_len = 0;
    if (cmdline) {
        cmd_len = strlen(cmdline);
        if (cmd_len > XS_CMDLINE_MAX - 1)
            return fail(err, errlen,
                        "command line is %zu bytes, longer than the limit of %d", cmd_len,
                        XS_CMDLINE_MAX - 1);
    }
    for (unsigned i = 0; i < nr_mods; i++) {
        if (mods[i].cmdline && strlen(mods[i].cmdline) > XS_CMDLINE_MAX - 1)
            return fail(
                err, errlen,
                "module %u command line is %zu bytes, longer than the limit of %d", i,
                strlen(mods[i].cmdline), XS_CMDLINE_MAX - 1);
    }

    /* Lay everything out first, then check it fits, then write. */
    struct cursor c = {at_pa, at_pa, false};
    uint64_t si_pa = take(&c, sizeof(struct hvm_start_info));
    uint64_t mod_pa = take(&c, (uint64_t)nr_mods * sizeof(struct hvm_modlist_entry));
    uint64_t map_pa = take(&c, (uint64_t)nr_map * sizeof(struct hvm_memmap_table_entry));
    /* Strings follow: the main command line, then module command lines.
     * The write pass replays the same takes from this point. */
    struct cursor strs = c;
    if (cmdline) take(&c, cmd_len + 1);
    for (unsigned i = 0; i < nr_mods; i++) {
        if (mods[i].cmdline) take(&c, strlen(mods[i].cmdline) + 1);
    }
    uint64_t end = c.end;
    if (c.overflow || at_pa >= ram_size || end > ram_size)
        return fail(err, errlen,
                    "start info at 0x%" PRIx64 " needs 0x%" PRIx64
                    " bytes: does not fit below the end of guest RAM at 0x%" PRIx64,
                    at_pa, c.overflow ? UINT64_MAX - at_pa : end - at_pa, ram_size);

    for (unsigned i = 0; i < nr_mods; i++) {
        uint64_t pa = mods[i].paddr, size = mods[i].size;
        if (pa > ram_size || size > ram_size - pa)
            return fail(err, errlen,
                        "module %u at 0x%" PRIx64 " (size 0x%" PRIx64
                        ") lies outside guest RAM (ends at 0x%" PRIx64 ")",
                        i, pa, size, ram_size);
        if (size && pa < end && at_pa < pa + size)
            return fail(err, errlen,
                        "module %u [0x%" PRIx64 ", 0x%" PRIx64
                        ") overlaps the start info area [0x%" PRIx64 ", 0x%" PRIx64 ")",
                        i, pa, pa + size, at_pa, end);
    }

    /* Padding is zeroed too: guest memory contents must be deterministic. */
    memset(ram + at_pa, 0, end - at_pa);

    uint64_t cmd_pa = 0;
    if (cmdline) {
        cmd_pa = take(&strs, cmd_len + 1);
        put_str(ram, cmd_pa, cmdline, cmd_len);
    }

    struct hvm_start_info si = {
        .magic = XEN_HVM_START_MAGIC_VALUE,
        .version = 1,
        .flags = 0,
        .nr_modules = nr_mods,
        .modlist_paddr = nr_mods ? mod_pa : 0,
        .cmdline_paddr = cmd_pa,
        .rsdp_paddr = 0,
        .memmap_paddr = nr_map ? map_pa : 0,
        .memmap_entries = nr_map,
        .reserved = 0,
    };
    memcpy(ram + si_pa, &si, sizeof(si));

    for (unsigned i = 0; i < nr_map; i++) {
        struct hvm_memmap_table_entry e = map[i];
        e.reserved = 0; /* must be zero for version 1 */
        memcpy(ram + map_pa + (uint64_t)i * sizeof(e), &e, sizeof(e));
    }

    for (unsigned i = 0; i < nr_mods; i++) {
        struct hvm_modlist_entry m = {
            .paddr = mods[i].paddr,
            .size = mods[i].size,
            .cmdline_paddr = 0,
            .reserved = 0,
        };
        if (mods[i].cmdline) {
            size_t len = strlen(mods[i].cmdline);
            m.cmdline_paddr = take(&strs, len + 1);
            put_str(ram, m.cmdline_paddr, mods[i].cmdline, len);
        }
        memcpy(ram + mod_pa + (uint64_t)i * sizeof(m), &m, sizeof(m));
    }

    out->start_info_pa = si_pa;
    out->end_pa = end;
    return 0;
}
