/* Suspend, capture and restore on the hypervisor side: SCHEDOP_shutdown
 * with SHUTDOWN_suspend parks the domain; a cancel returns 1 in the same
 * domain; a resume builds a new domain from the image (new domid, same
 * RAM and direct-map base, the call returning 0); a restore refuses bad
 * images with a message and leaves nothing behind.  A real domain built
 * from the basic guest, never run. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xen/xen.h>
#include <xen/sched.h>
#include <xen/hvm/params.h>

#include "domain_image.h"
#include "hypercall.h"
#include "sim.h"
#include "suspend.h"
#include "unit.h"

#define MEM_MIB 16u
#define SCRATCH 0x800000ULL
#define MARKER  0x600000ULL

static struct xs_sim sim;
static struct xs_domain *d;
static FILE *console_file, *log_file;

static void setup(void)
{
    console_file = tmpfile();
    log_file = tmpfile();
    const char *dir = getenv("XENSIM_GUEST_DIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/basic.elf", dir && *dir ? dir : "build/guests");
    struct xs_sim_config cfg = {.seed = 1, .console_out = console_file, .log = log_file};
    char err[512] = "";
    ck_assert_msg(xs_sim_init(&sim, &cfg, err, sizeof(err)) == 0, "%s", err);
    struct xs_domain_config dc = {.name = "s",
                                  .image_path = path,
                                  .memory_mib = MEM_MIB,
                                  .vcpus = 2,
                                  .cmdline = "",
                                  .hypercalls = XS_HC_DIRECT};
    d = xs_domain_create(&sim, &dc, err, sizeof(err));
    ck_assert_msg(d, "xs_domain_create: %s", err);
}

static void teardown(void)
{
    xs_sim_destroy(&sim);
    fclose(console_file);
    fclose(log_file);
}

/* vCPU 0 makes SCHEDOP_shutdown(reason); its return value. */
static long shutdown(unsigned reason)
{
    struct sched_shutdown s = {.reason = reason};
    memcpy(d->base + SCRATCH, &s, sizeof(s));
    const uint64_t a[5] = {SCHEDOP_shutdown, (uint64_t)(uintptr_t)d->base + SCRATCH};
    return xs_hypercall_call(&d->vcpus[0], __HYPERVISOR_sched_op, a);
}

START_TEST(suspend_parks_the_domain)
{
    ck_assert_int_eq(d->vcpus[0].state, XS_VCPU_RUNNABLE);
    ck_assert_int_eq(shutdown(SHUTDOWN_suspend), 0);
    ck_assert(d->suspended);
    ck_assert_uint_eq(d->suspend_vcpu, 0);
    /* Not ended: the toolstack decides what happens next. */
    ck_assert_int_eq(d->end_state, XS_END_RUNNING);
    ck_assert_int_eq(d->vcpus[0].state, XS_VCPU_DOWN);
    ck_assert(d->vcpus[0].suspend_online);
    ck_assert(!d->vcpus[1].suspend_online);
}
END_TEST

START_TEST(cancel_returns_one_in_the_same_domain)
{
    char err[256] = "";
    ck_assert_int_eq(xs_suspend_cancel(d, err, sizeof(err)), -1); /* not suspended */
    ck_assert_msg(strstr(err, "is not suspended"), "%s", err);
    shutdown(SHUTDOWN_suspend);
    ck_assert_int_eq(xs_suspend_cancel(d, err, sizeof(err)), 0);
    ck_assert(!d->suspended);
    ck_assert_uint_eq(d->vcpus[0].regs.rax, 1);
    ck_assert_int_eq(d->vcpus[0].state, XS_VCPU_RUNNABLE);
    ck_assert_int_eq(d->vcpus[1].state, XS_VCPU_DOWN); /* was down */
    ck_assert_uint_eq(d->suspends_cancelled, 1);
    ck_assert_uint_eq(d->domid, 1);
}
END_TEST

START_TEST(capture_needs_a_suspended_domain)
{
    struct xs_domain_image img;
    char err[256] = "";
    ck_assert_int_eq(xs_domain_image_capture(d, &img, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "s (d1) is not suspended"), "%s", err);
    xs_domain_image_free(&img);
}
END_TEST

START_TEST(capture_takes_ram_registers_params)
{
    memcpy(d->base + MARKER, "xensim-marker", 14);
    d->hvm_params[HVM_PARAM_CALLBACK_IRQ] = 0x20000000000000f3ULL;
    d->vcpus[0].regs.r12 = 0x1234;
    shutdown(SHUTDOWN_suspend);
    struct xs_domain_image img;
    char err[256] = "";
    ck_assert_msg(xs_domain_image_capture(d, &img, err, sizeof(err)) == 0, "%s", err);
    ck_assert_str_eq(img.name, "s");
    ck_assert_uint_eq(img.ram_bytes, MEM_MIB << 20);
    ck_assert_uint_eq(img.nr_vcpus, 2);
    ck_assert_uint_eq(img.directmap_base, (uint64_t)(uintptr_t)d->base);
    ck_assert_mem_eq(img.ram + MARKER, "xensim-marker", 14);
    ck_assert_uint_eq(img.vcpus[0].regs.r12, 0x1234);
    ck_assert(img.vcpus[0].online && !img.vcpus[1].online);
    ck_assert_uint_eq(img.hvm_params[HVM_PARAM_CALLBACK_IRQ], 0x20000000000000f3ULL);
    ck_assert_uint_eq(img.tsc_khz, 2000000);
    ck_assert(xs_domain_image_param_saved(HVM_PARAM_STORE_PFN));
    ck_assert(!xs_domain_image_param_saved(HVM_PARAM_CALLBACK_IRQ));
    ck_assert(!xs_domain_image_param_saved(HVM_PARAM_STORE_EVTCHN));
    xs_domain_image_free(&img);
}
END_TEST

START_TEST(resume_builds_a_new_domain)
{
    uint8_t *base = d->base;
    memcpy(d->base + MARKER, "xensim-marker", 14);
    d->hvm_params[HVM_PARAM_CALLBACK_IRQ] = 0x20000000000000f3ULL;
    d->vcpus[0].regs.r12 = 0x1234;
    shutdown(SHUTDOWN_suspend);
    char err[256] = "";
    struct xs_domain *n = xs_suspend_resume_new(d, err, sizeof(err));
    ck_assert_msg(n, "%s", err);
    ck_assert_uint_eq(sim.nr_domains, 1);
    ck_assert_ptr_eq(sim.domains[0], n);
    ck_assert_uint_eq(n->domid, 2); /* the next domid, not the old one */
    ck_assert_ptr_eq(n->base, base);
    ck_assert_mem_eq(n->base + MARKER, "xensim-marker", 14);
    ck_assert(!n->suspended);
    ck_assert_uint_eq(n->vcpus[0].regs.r12, 0x1234);
    ck_assert_uint_eq(n->vcpus[0].regs.rax, 0); /* SCHEDOP_shutdown returns 0 */
    ck_assert_int_eq(n->vcpus[0].state, XS_VCPU_RUNNABLE);
    ck_assert_int_eq(n->vcpus[1].state, XS_VCPU_DOWN);
    /* The callback is the guest's to set again; nothing of the old domain's
     * hypervisor state came along. */
    ck_assert_uint_eq(n->hvm_params[HVM_PARAM_CALLBACK_IRQ], 0);
    ck_assert_uint_eq(n->vcpus[0].vcpu_info_gpa, XS_NO_GPA);
    ck_assert_uint_eq(n->shared_info_gpfn, XS_NO_GPA);
}
END_TEST

/* A valid image of d, suspended, to spoil in the tests below. */
static void good_image(struct xs_domain_image *img)
{
    char err[256] = "";
    shutdown(SHUTDOWN_suspend);
    ck_assert_msg(xs_domain_image_capture(d, img, err, sizeof(err)) == 0, "%s", err);
}

static void refused(const struct xs_domain_image *img, const char *want)
{
    char err[512] = "";
    unsigned before = sim.nr_domains;
    ck_assert(!xs_domain_image_restore(&sim, img, err, sizeof(err)));
    ck_assert_msg(strstr(err, want), "error \"%s\" lacks \"%s\"", err, want);
    ck_assert_uint_eq(sim.nr_domains, before);
}

START_TEST(restore_refuses_the_base_in_use)
{
    struct xs_domain_image img;
    good_image(&img);
    refused(&img, "is not free"); /* the old domain still holds it */
    xs_domain_image_free(&img);
}
END_TEST

START_TEST(restore_refuses_bad_images)
{
    struct xs_domain_image img;
    good_image(&img);
    /* Free the base, so only the spoiled field can be the reason. */
    xs_sim_remove_domain(&sim, d);
    xs_domain_destroy(d);
    struct xs_domain_image bad = img;
    bad.name[0] = '\0';
    refused(&bad, "bad domain name");
    bad = img;
    bad.ram_bytes += 4096;
    refused(&bad, "is not 1..65536 MiB");
    bad = img;
    bad.directmap_base += 4096;
    refused(&bad, "is not one xensim uses");
    bad = img;
    bad.suspend_vcpu = 7;
    refused(&bad, "suspending vCPU 7 is not an online vCPU");
    bad = img;
    struct xs_image_vcpu vcpus[2];
    memcpy(vcpus, img.vcpus, sizeof(vcpus));
    vcpus[0].regs.rip = 0x1000; /* not a direct-map address */
    bad.vcpus = vcpus;
    refused(&bad, "vCPU 0 rip 0x1000");
    bad = img;
    bad.tsc_khz = 1000;
    refused(&bad, "TSC at 1000 kHz");
    bad = img;
    bad.hypercall_page_gpa = 123;
    refused(&bad, "hypercall page 0x7b outside guest RAM");
    bad = img;
    bad.nr_devices = 1;
    snprintf(bad.devices[0].devclass, sizeof(bad.devices[0].devclass), "vbd");
    snprintf(bad.devices[0].config, sizeof(bad.devices[0].config), "size=0");
    refused(&bad, "bad configuration");
    /* The good one still restores, into the freed base. */
    char err[256] = "";
    struct xs_domain *n = xs_domain_image_restore(&sim, &img, err, sizeof(err));
    ck_assert_msg(n, "%s", err);
    /* Not 1, and not 2 either: the restore refused for its device got as far
     * as creating domain 2 (Xen does not hand a domid out twice in a row). */
    ck_assert_uint_eq(n->domid, 3);
    xs_domain_image_free(&img);
}
END_TEST

Suite *suspend_suite(void)
{
    Suite *s = suite_create("suspend");
    TCase *tc = tcase_create("suspend");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, suspend_parks_the_domain);
    tcase_add_test(tc, cancel_returns_one_in_the_same_domain);
    tcase_add_test(tc, capture_needs_a_suspended_domain);
    tcase_add_test(tc, capture_takes_ram_registers_params);
    tcase_add_test(tc, resume_builds_a_new_domain);
    tcase_add_test(tc, restore_refuses_the_base_in_use);
    tcase_add_test(tc, restore_refuses_bad_images);
    suite_add_tcase(s, tc);
    return s;
}
