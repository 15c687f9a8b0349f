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
    /* `restore NAME file=PATH`: the domain is built from a saved image
     * (docs/migration.md) instead of booted; "" for a `domain`. */
    char restore[XS_SCN_TEXT_MAX];
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
    /* The toolstack's suspend outcomes for the domain (`expect D suspends
     * resumed=N cancelled=N failed=N`, each key optional). */
    XS_EXPECT_SUSPENDS,
    /* Live migrations of the domain (`expect D migrates ok=N failed=N
     * max-downtime=TIME`, each key optional). */
    XS_EXPECT_MIGRATES,
};

struct xs_scn_expect {
    enum xs_expect_kind kind;
    unsigned domain; /* index into domains[] */
    char text[XS_SCN_TEXT_MAX];
    int end_state;
    int suspends[3];          /* resumed, cancelled, failed: -1 = not checked */
    int migrates[2];          /* ok, failed: -1 = not checked */
    uint64_t max_downtime_ns; /* migrates: UINT64_MAX = not checked */
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

/* A network interface with xensim as its backend (netback): `nic DOMAIN
 * [switch=NAME] [mac=XX:XX:XX:XX:XX:XX] [pcap=FILE] [id=N] [queues=N]
 * [attach=TIME] [detach=TIME] [suspend=serve|freeze]`, a port of the simulated
 * switch NAME (default xenbr0), created before the domains run or hot-plugged
 * at attach, hot-unplugged at detach. */
#define XS_SCN_MAX_NICS 16
struct xs_scn_nic {
    unsigned domain;          /* the frontend: index into domains[] */
    char sw[XS_SCN_NAME_MAX]; /* switch name ("" for the default) */
    uint8_t mac[6];
    bool mac_set;               /* else derived from domid and id */
    char pcap[XS_SCN_TEXT_MAX]; /* as written ("" for none) */
    unsigned id;                /* the vif's devid: 0, 1, ... */
    unsigned queues;            /* multi-queue-max-queues, 0: the default */
    uint64_t attach_ns;         /* 0: there from the start */
    uint64_t detach_ns;         /* 0: never */
    bool freeze;                /* suspend=freeze: not served while suspended */
    int line;
};

/* The toolstack asks a domain to suspend (`suspend DOMAIN at=TIME [cancel]
 * [timeout=TIME]`): at TIME it writes control/shutdown = "suspend"; once
 * the guest suspended, it resumes it in a new domain, or cancels
 * (docs/suspend.md). */
#define XS_SCN_MAX_SUSPENDS 64
struct xs_scn_suspend {
    unsigned domain; /* index into domains[] */
    uint64_t at_ns;
    uint64_t timeout_ns; /* 0: the default */
    bool cancel;
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

/* The toolstack saves a domain to a file (`save DOMAIN at=TIME file=PATH
 * [timeout=TIME]`), as xl save: at TIME it asks the domain to suspend,
 * writes it as a libxc migration stream and the domain ends (suspend); if
 * the file cannot be written the suspend is cancelled and the guest runs
 * on (docs/migration.md). */
#define XS_SCN_MAX_SAVES 16
struct xs_scn_save {
    unsigned domain; /* index into domains[] */
    uint64_t at_ns;
    uint64_t timeout_ns;        /* 0: the default */
    char file[XS_SCN_TEXT_MAX]; /* as written: relative to the scenario's directory */
    int line;
};

/* Live migration (`migrate DOMAIN at=TIME [rounds=N] [threshold=PAGES]
 * [bandwidth=BYTES_PER_S] [timeout=TIME] [file=PATH] [log=PATH]
 * [cut=BYTES]`): pre-copy rounds from TIME, then stop-and-copy, and the
 * domain resumes in a new domain of this simulation (docs/migration.md). */
#define XS_SCN_MAX_MIGRATES 16
struct xs_scn_migrate {
    unsigned domain; /* index into domains[] */
    uint64_t at_ns;
    uint64_t timeout_ns; /* 0: the default */
    unsigned rounds;     /* pre-copy rounds at most */
    uint64_t threshold;  /* pages */
    uint64_t bandwidth;  /* bytes per virtual second */
    uint64_t cut;        /* testing: the link drops after this many bytes (0: never) */
    char file[XS_SCN_TEXT_MAX]; /* a copy of the stream ("" none) */
    char log[XS_SCN_TEXT_MAX];  /* the rounds as CSV ("" none) */
    /* xensim migrate-send: the destination is another process (not a
     * scenario keyword; file "-" is stdout). */
    bool send_only;
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
    unsigned nr_nics;
    struct xs_scn_nic nics[XS_SCN_MAX_NICS];
    unsigned nr_suspends;
    struct xs_scn_suspend suspends[XS_SCN_MAX_SUSPENDS];
    unsigned nr_saves;
    struct xs_scn_save saves[XS_SCN_MAX_SAVES];
    unsigned nr_migrates;
    struct xs_scn_migrate migrates[XS_SCN_MAX_MIGRATES];
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

/* A nic's pcap file: a relative path is relative to the scenario's
 * directory.  "" when it has none. */
int xs_scenario_nic_pcap_path(const struct xs_scenario *s, unsigned nic, char *out,
                              size_t outlen);

/* A file named in a scenario (save file=, restore file=): relative to the
 * scenario's directory unless absolute. */
int xs_scenario_file_path(const struct xs_scenario *s, const char *file, char *out,
                          size_t outlen);

/* What a run produced for one domain, to check expectations against. */
struct xs_domain_outcome {
    const char *console; /* everything the domain wrote, '\n'-separated */
    size_t console_len;
    int end_state;       /* enum xs_end_state */
    const char *reports; /* sanitizer reports, '\n'-separated lines */
    size_t reports_len;
    unsigned suspends[3];     /* the toolstack's: resumed, cancelled, failed */
    unsigned migrates[2];     /* live migrations: finished, failed */
    uint64_t max_downtime_ns; /* of the finished ones */
};

/* Check every expectation; prints one line per expectation to report
 * ("ok   FILE:LINE: ..." or "FAIL FILE:LINE: ... (why)").  A domain with
 * sanitizer reports but no report/report-re expectation fails too (one
 * line naming its first report).  Returns the number of failures. */
int xs_scenario_check(const struct xs_scenario *s, const struct xs_domain_outcome *out,
                      FILE *report);
#endif
