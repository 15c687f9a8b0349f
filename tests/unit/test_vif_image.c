/* A vif in a domain image (docs/devices.md, "Suspend, save and restore"):
 * the configuration text a vif records (switch, the MAC it has, queues,
 * suspend=freeze, the capture file), a vif recreated from that text with
 * the same nodes, bad texts refused, the image's device list, and the
 * capture file continued by xs_pcap_open_append (a foreign file refused
 * and left alone). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "domain_image.h"
#include "netback.h"
#include "pcap.h"
#include "pvdev.h"
#include "sim.h"
#include "unit.h"
#include "xenstore.h"

static struct xs_sim sim;
static struct xs_domain *dom;
static FILE *log_file;
static char dir[64];

static void setup(void)
{
    log_file = tmpfile();
    ck_assert_ptr_nonnull(log_file);
    struct xs_sim_config cfg = {.seed = 1, .log = log_file};
    char err[512] = "";
    ck_assert_msg(xs_sim_init(&sim, &cfg, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(xs_xenstore_attach(&sim, NULL, err, sizeof(err)), 0);
    const char *gd = getenv("XENSIM_GUEST_DIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/basic.elf", gd && *gd ? gd : "build/guests");
    struct xs_domain_config dc = {
        .name = "g", .image_path = path, .memory_mib = 16, .vcpus = 1, .cmdline = ""};
    dom = xs_domain_create(&sim, &dc, err, sizeof(err));
    ck_assert_msg(dom, "xs_domain_create: %s (is XENSIM_GUEST_DIR set?)", err);
    snprintf(dir, sizeof(dir), "/tmp/xs-vif-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    xs_sim_destroy(&sim);
    fclose(log_file);
    dom = NULL;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* A node's value ("" when missing). */
static const char *node(const char *path)
{
    static char buf[256];
    size_t len = sizeof(buf) - 1;
    if (xs_xenstore_request(sim.xenstore, XS_READ, 0, path, strlen(path) + 1, buf, &len))
        len = 0;
    buf[len < sizeof(buf) ? len : sizeof(buf) - 1] = '\0';
    return buf;
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) ? -1 : (long)st.st_size;
}

START_TEST(test_vif_records_its_configuration)
{
    char pcap[128], err[512] = "", want[512];
    snprintf(pcap, sizeof(pcap), "%s/g.pcap", dir);
    struct xs_pvdev *dev = xs_pvdev_add(
        &sim, "vif", dom, 0,
        &(struct xs_netback_cfg){
            .bridge = "lan", .max_queues = 2, .freeze_suspended = true, .pcap = pcap},
        err, sizeof(err));
    ck_assert_msg(dev, "%s", err);
    /* The derived MAC is written out: a restore under another domid keeps it. */
    snprintf(want, sizeof(want),
             "switch=lan mac=00:16:3e:00:%02x:00 queues=2 suspend=freeze pcap=\"%s\"",
             dom->domid, pcap);
    ck_assert_str_eq(dev->cfg_text, want);
    /* Defaults: the default switch, no queues word, no capture. */
    dev = xs_pvdev_add(&sim, "vif", dom, 1,
                       &(struct xs_netback_cfg){
                           .mac_set = true, .mac = {0x00, 0x16, 0x3e, 0xaa, 0xbb, 0xcc}},
                       err, sizeof(err));
    ck_assert_msg(dev, "%s", err);
    ck_assert_str_eq(dev->cfg_text, "switch=xenbr0 mac=00:16:3e:aa:bb:cc");
}
END_TEST

START_TEST(test_vif_from_its_text)
{
    char err[512] = "";
    const char *text = "switch=lan2 mac=00:16:3e:0a:0b:0c queues=3";
    struct xs_pvdev *dev = xs_pvdev_add_text(&sim, "vif", dom, 4, text, err, sizeof(err));
    ck_assert_msg(dev, "%s", err);
    ck_assert_str_eq(dev->cfg_text, text);
    char fe[96], be[128], path[192];
    snprintf(fe, sizeof(fe), "/local/domain/%u/device/vif/4", dom->domid);
    snprintf(be, sizeof(be), "/local/domain/0/backend/vif/%u/4", dom->domid);
    snprintf(path, sizeof(path), "%s/mac", fe);
    ck_assert_str_eq(node(path), "00:16:3e:0a:0b:0c");
    snprintf(path, sizeof(path), "%s/bridge", be);
    ck_assert_str_eq(node(path), "lan2");
    snprintf(path, sizeof(path), "%s/multi-queue-max-queues", be);
    ck_assert_str_eq(node(path), "3");
    /* And the image of the domain carries it as written. */
    struct xs_domain_image img;
    ck_assert_int_eq(xs_domain_image_capture_meta(dom, &img, err, sizeof(err)), 0);
    ck_assert_uint_eq(img.nr_devices, 1);
    ck_assert_str_eq(img.devices[0].devclass, "vif");
    ck_assert_uint_eq(img.devices[0].id, 4);
    ck_assert_str_eq(img.devices[0].config, text);
    xs_domain_image_free(&img);
}
END_TEST

START_TEST(test_bad_vif_text_refused)
{
    static const char *const bad[] = {
        "switch=lan",                                /* no MAC: the guest would lose it */
        "mac=00:16:3e:00:00:01",                     /* no switch */
        "switch=lan mac=zz:16:3e:00:00:01",          /* not a MAC */
        "switch=lan mac=00:16:3e:00:00:01 queues=9", /* more than 8 queues */
        "switch=lan mac=00:16:3e:00:00:01 queues=0", /* no queue */
        "switch=lan mac=00:16:3e:00:00:01 bogus=1",  /* unknown word */
        "switch=lan mac=00:16:3e:00:00:01 suspend=x", /* serve is not written */
        "switch=a/b mac=00:16:3e:00:00:01",           /* not a switch name */
        "switch=lan mac=01:16:3e:00:00:01",           /* multicast */
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[512] = "";
        struct xs_pvdev *dev =
            xs_pvdev_add_text(&sim, "vif", dom, i, bad[i], err, sizeof(err));
        ck_assert_msg(!dev, "accepted \"%s\"", bad[i]);
        ck_assert_msg(strstr(err, "nic ") || strstr(err, "device vif/"), "%s: %s", bad[i],
                      err);
        ck_assert_ptr_null(xs_pvdev_find(&sim, dom, "vif", i));
    }
}
END_TEST

START_TEST(test_pcap_append_continues_the_capture)
{
    char path[128], err[512] = "";
    snprintf(path, sizeof(path), "%s/c.pcap", dir);
    /* Missing: created with its header. */
    struct xs_pcap *p = xs_pcap_open_append(path, err, sizeof(err));
    ck_assert_msg(p, "%s", err);
    uint8_t frame[60] = {1, 2, 3};
    ck_assert_int_eq(xs_pcap_write(p, 1000, frame, sizeof(frame), err, sizeof(err)), 0);
    ck_assert_int_eq(xs_pcap_close(p, err, sizeof(err)), 0);
    ck_assert_int_eq(file_size(path), 24 + 16 + 60);
    /* Ours: appended, no second header. */
    p = xs_pcap_open_append(path, err, sizeof(err));
    ck_assert_msg(p, "%s", err);
    ck_assert_int_eq(xs_pcap_write(p, 2000, frame, 40, err, sizeof(err)), 0);
    ck_assert_int_eq(xs_pcap_close(p, err, sizeof(err)), 0);
    ck_assert_int_eq(file_size(path), 24 + 16 + 60 + 16 + 40);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    uint8_t buf[200];
    ck_assert_uint_eq(fread(buf, 1, sizeof(buf), f), 156);
    fclose(f);
    uint32_t magic, t2[2];
    memcpy(&magic, buf, 4);
    memcpy(t2, buf + 24 + 16 + 60, 8);
    ck_assert_uint_eq(magic, XS_PCAP_MAGIC_NS);
    ck_assert_uint_eq(t2[0], 0);
    ck_assert_uint_eq(t2[1], 2000);
    /* Someone else's file: refused and left as it was. */
    snprintf(path, sizeof(path), "%s/notes.txt", dir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("a text file, long enough to hold a pcap header\n", f);
    fclose(f);
    long before = file_size(path);
    ck_assert_ptr_null(xs_pcap_open_append(path, err, sizeof(err)));
    ck_assert_msg(strstr(err, "not a capture xensim wrote"), "%s", err);
    ck_assert_int_eq(file_size(path), before);
    /* An empty file: a new capture. */
    snprintf(path, sizeof(path), "%s/empty.pcap", dir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    p = xs_pcap_open_append(path, err, sizeof(err));
    ck_assert_msg(p, "%s", err);
    ck_assert_int_eq(xs_pcap_close(p, err, sizeof(err)), 0);
    ck_assert_int_eq(file_size(path), 24);
}
END_TEST

Suite *vif_image_suite(void)
{
    Suite *s = suite_create("vif_image");
    TCase *tc = tcase_create("vif_image");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_vif_records_its_configuration);
    tcase_add_test(tc, test_vif_from_its_text);
    tcase_add_test(tc, test_bad_vif_text_refused);
    tcase_add_test(tc, test_pcap_append_continues_the_capture);
    suite_add_tcase(s, tc);
    return s;
}
