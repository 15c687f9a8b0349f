/* Scenario files, format v1 (docs/scenarios.md): which guests to run, limits,
 * and what must be observed.  Parsing never trusts the file: every error is
 * reported as "FILE:LINE: message" and nothing half-parsed is returned. */
#ifndef XS_SCENARIO_H
#define XS_SCENARIO_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define XS_SCN_MAX_DOMAINS 16
#define XS_SCN_NAME_MAX    32
#define XS_SCN_TEXT_MAX    1024

enum xs_hypercall_mode { XS_HC_DIRECT, XS_HC_VMCALL };

/* How a domain ended.  The Xen SHUTDOWN_* reasons keep their numbers. */
enum xs_end_state {
    XS_END_RUNNING = -1,   /* still running when the run stopped */
    XS_END_POWEROFF = 0,   /* SHUTDOWN_poweroff */
    XS_END_REBOOT = 1,     /* SHUTDOWN_reboot */
    XS_END_SUSPEND = 2,    /* SHUTDOWN_suspend */
    XS_END_CRASH = 3,      /* SHUTDOWN_crash (the guest said so) */
    XS_END_WATCHDOG = 4,   /* SHUTDOWN_watchdog */
    XS_END_SOFT_RESET = 5, /* SHUTDOWN_soft_reset */
    XS_END_FAULT = 100,    /* xensim crashed the domain: guest fault */
};
const char *xs_end_state_name(int state);
int xs_end_state_parse(const char *name); /* -2 if unknown */

struct xs_scn_domain {
    char name[XS_SCN_NAME_MAX];
    char image[XS_SCN_TEXT_MAX]; /* as written: app name or path */
    uint64_t memory_mib;         /* default 64 */
    unsigned vcpus;              /* default 1 */
    char cmdline[XS_SCN_TEXT_MAX];
    enum xs_hypercall_mode hypercalls; /* default direct */
    int line;
};

enum xs_expect_kind {
    XS_EXPECT_CONSOLE,    /* a console line containing text, after the previous match */
    XS_EXPECT_CONSOLE_RE, /* a console line matching a POSIX ERE, after the previous match
                           */
    XS_EXPECT_NO_CONSOLE, /* no console line contains text */
    XS_EXPECT_END,        /* the domain ended in this state */
    /* The same three on xensim's sanitizer reports about the domain. */
    XS_EXPECT_REPORT,
    XS_EXPECT_REPORT_RE,
    XS_EXPECT_NO_REPORT,
};

struct xs_scn_expect {
    enum xs_expect_kind kind;
    unsigned domain; /* index into domains[] */
    char text[XS_SCN_TEXT_MAX];
    int end_state;
    int line;
};

/* A PV device the toolstack sets up before the domains start: xl's
 * frontend and backend nodes in xenstore (docs/scenarios.md). */
#define XS_SCN_MAX_DEVICES 64
struct xs_scn_device {
    char devclass[XS_SCN_NAME_MAX];
    unsigned frontend, backend; /* indexes into domains[] */
    unsigned id;
    int line;
};

/* A disk with xensim as its backend (blkback): `disk DOMAIN path=FILE|size=MiB
 * [readonly] [id=N] [attach=TIME] [detach=TIME]`, created before the domains
 * run or hot-plugged at attach, hot-unplugged at detach. */
#define XS_SCN_MAX_DISKS 16
#define XS_SCN_DISK_ID0  51712u /* xvda: Xen's major 202, minor 0 */
struct xs_scn_disk {
    unsigned domain;            /* the frontend: index into domains[] */
    char path[XS_SCN_TEXT_MAX]; /* as written ("" for a memory disk) */
    uint64_t size_mib;          /* memory disk (path "") */
    bool readonly;
    unsigned id;        /* virtual-device: 51712 (xvda), 51728 (xvdb)... */
    uint64_t attach_ns; /* 0: there from the start */
    uint64_t detach_ns; /* 0: never */
    int rogue;          /* enum xs_blkback_rogue: a deliberately broken backend */
    int line;
};

/* Console input for a domain (`input DOMAIN "TEXT"`): queued in file order
 * before the run starts, delivered through the console ring. */
#define XS_SCN_MAX_INPUTS 1024
struct xs_scn_input {
    unsigned domain; /* index into domains[] */
    char text[XS_SCN_TEXT_MAX];
    size_t len;
    int line;
};

struct xs_scenario {
    char path[4096];
    char dir[4096]; /* directory of the file, for relative image paths */
    char name[64];
    unsigned nr_domains;
    struct xs_scn_domain domains[XS_SCN_MAX_DOMAINS];
    unsigned nr_expects;
    struct xs_scn_expect *expects;
    unsigned nr_devices;
    struct xs_scn_device devices[XS_SCN_MAX_DEVICES];
    unsigned nr_inputs;
    struct xs_scn_input *inputs;
    unsigned nr_disks;
    struct xs_scn_disk disks[XS_SCN_MAX_DISKS];
    uint64_t vtime_limit_ns; /* default 10 s of virtual time */
    uint64_t exit_limit;     /* default 50,000,000 VM exits */
};

int xs_scenario_parse_file(struct xs_scenario *s, const char *path, char *err,
                           size_t errlen);
int xs_scenario_parse_text(struct xs_scenario *s, const char *path, const char *text,
                           char *err, size_t errlen);
void xs_scenario_free(struct xs_scenario *s);

/* An image written as a bare name ("basic") is guest_dir/basic.elf; anything
 * with a '/' is relative to the scenario's directory (or absolute). */
int xs_scenario_image_path(const struct xs_scenario *s, unsigned dom,
                           const char *guest_dir, char *out, size_t outlen);

/* A disk's image: a relative path is relative to the scenario's directory.
 * "" for a memory disk. */
int xs_scenario_disk_path(const struct xs_scenario *s, unsigned disk, char *out,
                          size_t outlen);

/* What a run produced for one domain, to check expectations against. */
struct xs_domain_outcome {
    const char *console; /* everything the domain wrote, '\n'-separated */
    size_t console_len;
    int end_state;       /* enum xs_end_state */
    const char *reports; /* sanitizer reports, '\n'-separated lines */
    size_t reports_len;
};

/* Check every expectation; prints one line per expectation to report
 * ("ok   FILE:LINE: ..." or "FAIL FILE:LINE: ... (why)").  A domain with
 * sanitizer reports but no report/report-re expectation fails too (one
 * line naming its first report).  Returns the number of failures. */
int xs_scenario_check(const struct xs_scenario *s, const struct xs_domain_outcome *out,
                      FILE *report);
#endif
