/* start_info tests: the guest reads these bytes by physical address, so they
 * are checked the way a guest sees them, through raw RAM at documented
 * offsets, not only through the C struct. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "start_info.h"
#include "unit.h"

#define RAM_SIZE (1024u * 1024u)
#define AT_PA    0x10000u
#define FILL     0xaa

static uint8_t *new_ram(size_t size)
{
    uint8_t *ram = malloc(size);
    ck_assert_ptr_nonnull(ram);
    memset(ram, FILL, size);
    return ram;
}

static uint32_t rd32(const uint8_t *ram, uint64_t pa)
{
    uint32_t v;
    memcpy(&v, ram + pa, sizeof(v));
    return v;
}

static uint64_t rd64(const uint8_t *ram, uint64_t pa)
{
    uint64_t v;
    memcpy(&v, ram + pa, sizeof(v));
    return v;
}

#define SI(field) (AT_PA + offsetof(struct hvm_start_info, field))

static const struct hvm_memmap_table_entry test_map[] = {
    {.addr = 0, .size = 0x9fc00, .type = 1, .reserved = 0},
    {.addr = 0xf0000, .size = 0x10000, .type = 2, .reserved = 0x55}, /* caller junk */
    {.addr = 0x100000, .size = RAM_SIZE - 0x100000, .type = 1, .reserved = 0},
};
#define NR_MAP ((unsigned)(sizeof(test_map) / sizeof(test_map[0])))

static void expect_fail(int rc, const char *err, const char *phrase)
{
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strncmp(err, "start_info: ", 12) == 0, "no prefix: %s", err);
    ck_assert_msg(strstr(err, phrase), "\"%s\" does not mention \"%s\"", err, phrase);
    ck_assert_msg(!strchr(err, '\n'), "newline in: %s", err);
}

/* The offsets the ABI documents (start_info.h's comment table): the header
 * we compile against must agree, since the guest was built against Xen's. */
START_TEST(abi_offsets)
{
    ck_assert_uint_eq(offsetof(struct hvm_start_info, magic), 0);
    ck_assert_uint_eq(offsetof(struct hvm_start_info, version), 4);
    ck_assert_uint_eq(offsetof(struct hvm_start_info, flags), 8);
    ck_assert_uint_eq(offsetof(struct hvm_start_info, nr_modules), 12);
    ck_assert_uint_eq(offsetof(struct hvm_start_info, modlist_paddr), 16);
    ck_assert_uint_eq(offsetof(struct hvm_start_info, cmdline_paddr), 24);
    ck_assert_uint_eq(offsetof(struct hvm_start_info, rsdp_paddr), 32);
    ck_assert_uint_eq(offsetof(struct hvm_start_info, memmap_paddr), 40);
    ck_assert_uint_eq(offsetof(struct hvm_start_info, memmap_entries), 48);
    ck_assert_uint_eq(offsetof(struct hvm_start_info, reserved), 52);
    ck_assert_uint_eq(sizeof(struct hvm_start_info), 56);
    ck_assert_uint_eq(sizeof(struct hvm_modlist_entry), 32);
    ck_assert_uint_eq(sizeof(struct hvm_memmap_table_entry), 24);
}
END_TEST

START_TEST(layout)
{
    uint8_t *ram = new_ram(RAM_SIZE);
    struct xs_start_info_layout out;
    char err[256] = "";
    const char *cmd = "console=hvc0 loglevel=8";
    int rc = xs_start_info_build(ram, RAM_SIZE, AT_PA, cmd, test_map, NR_MAP, NULL, 0,
                                 &out, err, sizeof(err));
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_uint_eq(out.start_info_pa, AT_PA);

    ck_assert_uint_eq(rd32(ram, SI(magic)), XEN_HVM_START_MAGIC_VALUE);
    ck_assert_uint_eq(rd32(ram, SI(version)), 1);
    ck_assert_uint_eq(rd32(ram, SI(flags)), 0);
    ck_assert_uint_eq(rd32(ram, SI(nr_modules)), 0);
    ck_assert_uint_eq(rd64(ram, SI(modlist_paddr)), 0);
    ck_assert_uint_eq(rd64(ram, SI(rsdp_paddr)), 0);
    ck_assert_uint_eq(rd32(ram, SI(memmap_entries)), NR_MAP);
    ck_assert_uint_eq(rd32(ram, SI(reserved)), 0);

    uint64_t map_pa = rd64(ram, SI(memmap_paddr));
    ck_assert_uint_eq(map_pa % 8, 0);
    ck_assert_uint_ge(map_pa, AT_PA + sizeof(struct hvm_start_info));
    for (unsigned i = 0; i < NR_MAP; i++) {
        struct hvm_memmap_table_entry e;
        memcpy(&e, ram + map_pa + i * sizeof(e), sizeof(e));
        ck_assert_uint_eq(e.addr, test_map[i].addr);
        ck_assert_uint_eq(e.size, test_map[i].size);
        ck_assert_uint_eq(e.type, test_map[i].type);
        ck_assert_uint_eq(e.reserved, 0); /* forced to zero for version 1 */
    }

    uint64_t cmd_pa = rd64(ram, SI(cmdline_paddr));
    ck_assert_uint_eq(cmd_pa % 8, 0);
    ck_assert_uint_ge(cmd_pa, map_pa + NR_MAP * sizeof(struct hvm_memmap_table_entry));
    ck_assert_str_eq((const char *)ram + cmd_pa, cmd);
    ck_assert_uint_eq(out.end_pa, cmd_pa + strlen(cmd) + 1);

    /* Nothing outside [AT_PA, end_pa) was touched; padding inside is zero. */
    ck_assert_uint_eq(ram[AT_PA - 1], FILL);
    ck_assert_uint_eq(ram[out.end_pa], FILL);
    for (uint64_t pa = AT_PA; pa < out.end_pa; pa++)
        ck_assert_uint_ne(ram[pa], FILL);
    free(ram);
}
END_TEST

START_TEST(no_cmdline_no_map)
{
    uint8_t *ram = new_ram(RAM_SIZE);
    struct xs_start_info_layout out;
    char err[256] = "";
    int rc = xs_start_info_build(ram, RAM_SIZE, 0, NULL, NULL, 0, NULL, 0, &out, err,
                                 sizeof(err));
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_uint_eq(out.start_info_pa, 0);
    ck_assert_uint_eq(out.end_pa, sizeof(struct hvm_start_info));
    ck_assert_uint_eq(rd32(ram, offsetof(struct hvm_start_info, magic)),
                      XEN_HVM_START_MAGIC_VALUE);
    ck_assert_uint_eq(rd64(ram, offsetof(struct hvm_start_info, cmdline_paddr)), 0);
    ck_assert_uint_eq(rd64(ram, offsetof(struct hvm_start_info, memmap_paddr)), 0);
    ck_assert_uint_eq(rd32(ram, offsetof(struct hvm_start_info, memmap_entries)), 0);
    free(ram);
}
END_TEST

START_TEST(empty_cmdline_written)
{
    uint8_t *ram = new_ram(RAM_SIZE);
    struct xs_start_info_layout out;
    char err[256] = "";
    int rc = xs_start_info_build(ram, RAM_SIZE, AT_PA, "", test_map, NR_MAP, NULL, 0,
                                 &out, err, sizeof(err));
    ck_assert_msg(rc == 0, "%s", err);
    uint64_t cmd_pa = rd64(ram, SI(cmdline_paddr));
    ck_assert_uint_ne(cmd_pa, 0);
    ck_assert_uint_eq(ram[cmd_pa], 0);
    free(ram);
}
END_TEST

START_TEST(cmdline_limit)
{
    uint8_t *ram = new_ram(RAM_SIZE);
    struct xs_start_info_layout out;
    char err[256] = "", cmd[XS_CMDLINE_MAX + 1];
    memset(cmd, 'c', sizeof(cmd));

    cmd[XS_CMDLINE_MAX - 1] = '\0'; /* 1023 characters: the longest allowed */
    int rc = xs_start_info_build(ram, RAM_SIZE, AT_PA, cmd, test_map, NR_MAP, NULL, 0,
                                 &out, err, sizeof(err));
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_str_eq((const char *)ram + rd64(ram, SI(cmdline_paddr)), cmd);

    cmd[XS_CMDLINE_MAX - 1] = 'c';
    cmd[XS_CMDLINE_MAX] = '\0'; /* 1024 */
    memset(ram, FILL, RAM_SIZE);
    rc = xs_start_info_build(ram, RAM_SIZE, AT_PA, cmd, test_map, NR_MAP, NULL, 0, &out,
                             err, sizeof(err));
    expect_fail(rc, err, "command line is 1024 bytes, longer than the limit of 1023");
    ck_assert_uint_eq(ram[AT_PA], FILL); /* nothing written on failure */
    free(ram);
}
END_TEST

START_TEST(not_page_aligned)
{
    uint8_t *ram = new_ram(RAM_SIZE);
    struct xs_start_info_layout out;
    char err[256] = "";
    int rc = xs_start_info_build(ram, RAM_SIZE, AT_PA + 8, "x", test_map, NR_MAP, NULL, 0,
                                 &out, err, sizeof(err));
    expect_fail(rc, err, "address 0x10008 is not page aligned");
    free(ram);
}
END_TEST

START_TEST(does_not_fit)
{
    uint8_t *ram = new_ram(RAM_SIZE);
    struct xs_start_info_layout out;
    char err[256] = "";
    const char *cmd = "root=/dev/xvda";

    /* Find the exact size, then check one byte less is refused. */
    int rc = xs_start_info_build(ram, RAM_SIZE, AT_PA, cmd, test_map, NR_MAP, NULL, 0,
                                 &out, err, sizeof(err));
    ck_assert_msg(rc == 0, "%s", err);
    uint64_t need = out.end_pa;
    free(ram);

    ram = new_ram(need); /* exact: ASan catches a write past the end */
    rc = xs_start_info_build(ram, need, AT_PA, cmd, test_map, NR_MAP, NULL, 0, &out, err,
                             sizeof(err));
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_uint_eq(out.end_pa, need);
    rc = xs_start_info_build(ram, need - 1, AT_PA, cmd, test_map, NR_MAP, NULL, 0, &out,
                             err, sizeof(err));
    expect_fail(rc, err, "does not fit below the end of guest RAM");

    /* at_pa at or past the end of RAM. */
    rc = xs_start_info_build(ram, AT_PA, AT_PA, cmd, test_map, NR_MAP, NULL, 0, &out, err,
                             sizeof(err));
    expect_fail(rc, err, "does not fit");
    rc = xs_start_info_build(ram, 0x1000, 0x1000, NULL, NULL, 0, NULL, 0, &out, err,
                             sizeof(err));
    expect_fail(rc, err, "does not fit");
    free(ram);
}
END_TEST

/* Sizes near 2^64 must be caught, not wrap into something that "fits".  The
 * call fails before touching RAM, so a tiny buffer is enough. */
START_TEST(overflow_safe)
{
    uint8_t ram[64];
    struct xs_start_info_layout out;
    char err[256] = "";
    int rc = xs_start_info_build(ram, UINT64_MAX, 0xfffffffffffff000ull, "x", test_map,
                                 UINT32_MAX, NULL, 0, &out, err, sizeof(err));
    expect_fail(rc, err, "does not fit");
    rc = xs_start_info_build(ram, UINT64_MAX, 0xffffffffffff0000ull, "x", test_map,
                             0x10000000, NULL, 0, &out, err, sizeof(err));
    expect_fail(rc, err, "does not fit");
}
END_TEST

START_TEST(missing_arrays)
{
    uint8_t *ram = new_ram(RAM_SIZE);
    struct xs_start_info_layout out;
    char err[256] = "";
    int rc = xs_start_info_build(ram, RAM_SIZE, AT_PA, "x", NULL, 2, NULL, 0, &out, err,
                                 sizeof(err));
    expect_fail(rc, err, "but no array");
    rc = xs_start_info_build(ram, RAM_SIZE, AT_PA, "x", test_map, NR_MAP, NULL, 1, &out,
                             err, sizeof(err));
    expect_fail(rc, err, "but no array");
    free(ram);
}
END_TEST

START_TEST(modules)
{
    uint8_t *ram = new_ram(RAM_SIZE);
    struct xs_start_info_layout out;
    char err[256] = "";
    const struct xs_module mods[] = {
        {.paddr = 0x200000 / 4, .size = 0x1234, .cmdline = "initrd"},
        {.paddr = 0x60000, .size = 0x100, .cmdline = NULL},
        {.paddr = 0x70000, .size = 0, .cmdline = "third module, longer command line"},
    };
    const char *cmd = "console=hvc0";
    int rc = xs_start_info_build(ram, RAM_SIZE, AT_PA, cmd, test_map, NR_MAP, mods, 3,
                                 &out, err, sizeof(err));
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_uint_eq(rd32(ram, SI(nr_modules)), 3);
    uint64_t mod_pa = rd64(ram, SI(modlist_paddr));
    ck_assert_uint_eq(mod_pa % 8, 0);
    ck_assert_uint_ge(mod_pa, AT_PA + sizeof(struct hvm_start_info));
    uint64_t map_pa = rd64(ram, SI(memmap_paddr));
    ck_assert_uint_ge(map_pa, mod_pa + 3 * sizeof(struct hvm_modlist_entry));
    uint64_t cmd_pa = rd64(ram, SI(cmdline_paddr));
    ck_assert_str_eq((const char *)ram + cmd_pa, cmd);

    uint64_t last_end = cmd_pa + strlen(cmd) + 1;
    for (unsigned i = 0; i < 3; i++) {
        struct hvm_modlist_entry m;
        memcpy(&m, ram + mod_pa + i * sizeof(m), sizeof(m));
        ck_assert_uint_eq(m.paddr, mods[i].paddr);
        ck_assert_uint_eq(m.size, mods[i].size);
        ck_assert_uint_eq(m.reserved, 0);
        if (!mods[i].cmdline) {
            ck_assert_uint_eq(m.cmdline_paddr, 0);
            continue;
        }
        ck_assert_uint_eq(m.cmdline_paddr % 8, 0);
        ck_assert_uint_ge(m.cmdline_paddr, last_end);
        ck_assert_uint_lt(m.cmdline_paddr, out.end_pa);
        ck_assert_str_eq((const char *)ram + m.cmdline_paddr, mods[i].cmdline);
        last_end = m.cmdline_paddr + strlen(mods[i].cmdline) + 1;
    }
    ck_assert_uint_eq(out.end_pa, last_end);
    ck_assert_uint_eq(ram[out.end_pa], FILL);
    free(ram);
}
END_TEST

START_TEST(module_errors)
{
    uint8_t *ram = new_ram(RAM_SIZE);
    struct xs_start_info_layout out;
    char err[256] = "", longcmd[XS_CMDLINE_MAX + 8];
    memset(longcmd, 'm', sizeof(longcmd) - 1);
    longcmd[sizeof(longcmd) - 1] = '\0';

    struct xs_module m = {.paddr = 0x80000, .size = 0x1000, .cmdline = longcmd};
    int rc = xs_start_info_build(ram, RAM_SIZE, AT_PA, "x", test_map, NR_MAP, &m, 1, &out,
                                 err, sizeof(err));
    expect_fail(rc, err,
                "module 0 command line is 1031 bytes, longer than the limit of 1023");

    m = (struct xs_module){.paddr = RAM_SIZE - 0x10, .size = 0x20};
    rc = xs_start_info_build(ram, RAM_SIZE, AT_PA, "x", test_map, NR_MAP, &m, 1, &out,
                             err, sizeof(err));
    expect_fail(rc, err, "module 0 at 0xffff0 (size 0x20) lies outside guest RAM");

    m = (struct xs_module){.paddr = 0x1000, .size = UINT64_MAX};
    rc = xs_start_info_build(ram, RAM_SIZE, AT_PA, "x", test_map, NR_MAP, &m, 1, &out,
                             err, sizeof(err));
    expect_fail(rc, err, "lies outside guest RAM");

    m = (struct xs_module){.paddr = AT_PA - 0x10, .size = 0x20};
    rc = xs_start_info_build(ram, RAM_SIZE, AT_PA, "x", test_map, NR_MAP, &m, 1, &out,
                             err, sizeof(err));
    expect_fail(rc, err, "module 0 [0xfff0, 0x10010) overlaps the start info area");
    ck_assert_uint_eq(ram[AT_PA], FILL);
    free(ram);
}
END_TEST

Suite *start_info_suite(void)
{
    Suite *s = suite_create("start_info");
    TCase *tc = tcase_create("layout");
    tcase_add_test(tc, abi_offsets);
    tcase_add_test(tc, layout);
    tcase_add_test(tc, no_cmdline_no_map);
    tcase_add_test(tc, empty_cmdline_written);
    tcase_add_test(tc, modules);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_test(tc, cmdline_limit);
    tcase_add_test(tc, not_page_aligned);
    tcase_add_test(tc, does_not_fit);
    tcase_add_test(tc, overflow_safe);
    tcase_add_test(tc, missing_arrays);
    tcase_add_test(tc, module_errors);
    suite_add_tcase(s, tc);
    return s;
}
