/* xensim command line: a registry of subcommands. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scenario_run.h"
#include "restore.h"
#include "migrate.h"
#include "blkback.h"
#include "netback.h"
#include "console_sim.h"
#include "sim.h"
#include "xenstore.h"

#define EXIT_BAD_INPUT 2

/* boot's exit status for each way a domain can end (docs/cli.md). */
static int end_state_status(int end_state)
{
    switch (end_state) {
    case XS_END_POWEROFF:
        return 0;
    case XS_END_CRASH:
        return 3;
    case XS_END_FAULT:
        return 4;
    case XS_END_REBOOT:
        return 5;
    case XS_END_SUSPEND:
        return 6;
    case XS_END_WATCHDOG:
        return 7;
    case XS_END_SOFT_RESET:
        return 8;
    default:
        return 9; /* still running when the run stopped */
    }
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("xensim: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n(see 'xensim help')\n", stderr);
    return EXIT_BAD_INPUT;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!s || !*s || *s == '-') return -1;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end) return -1;
    *out = v;
    return 0;
}

static void default_guest_dir(char *out, size_t len)
{
    const char *env = getenv("XENSIM_GUEST_DIR");
    if (env) {
        snprintf(out, len, "%s", env);
        return;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) {
        snprintf(out, len, "build/guests");
        return;
    }
    exe[n] = '\0';
    snprintf(out, len, "%s/guests", dirname(exe));
}

/* Options shared by run and boot. */
struct common_opts {
    uint64_t seed;
    const char *trace;
    char guest_dir[PATH_MAX];
    bool quiet;
    const char *self;            /* how xensim was invoked, for replay commands */
    const char *xenstore_socket; /* --xenstore-socket PATH */
    const char *console_log;     /* --console-log FILE */
};

/* Returns 1 if argv[*i] was a common option (consumed), 0 if not, -1 on error. */
static int common_opt(struct common_opts *o, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    const char *val = *i + 1 < argc ? argv[*i + 1] : NULL;
    if (!strcmp(a, "--seed")) {
        if (parse_u64(val, &o->seed))
            return usage_error("--seed needs a non-negative integer"), -1;
    } else if (!strcmp(a, "--trace")) {
        if (!val) return usage_error("--trace needs a file name"), -1;
        o->trace = val;
    } else if (!strcmp(a, "--guest-dir")) {
        if (!val) return usage_error("--guest-dir needs a directory"), -1;
        snprintf(o->guest_dir, sizeof(o->guest_dir), "%s", val);
    } else if (!strcmp(a, "--xenstore-socket")) {
        if (!val) return usage_error("--xenstore-socket needs a socket path"), -1;
        o->xenstore_socket = val;
    } else if (!strcmp(a, "--console-log")) {
        if (!val) return usage_error("--console-log needs a file name"), -1;
        o->console_log = val;
    } else if (!strcmp(a, "--quiet")) {
        o->quiet = true;
        return 1;
    } else {
        return 0;
    }
    (*i)++;
    return 1;
}

/* --console-log FILE: NULL if not asked for; *bad set if it cannot be
 * written (the message is printed). */
static FILE *open_console_log(const struct common_opts *o, bool *bad)
{
    *bad = false;
    if (!o->console_log) return NULL;
    FILE *f = fopen(o->console_log, "w");
    if (!f) {
        fprintf(stderr, "xensim: error: %s: cannot write console log: %s\n",
                o->console_log, strerror(errno));
        *bad = true;
    }
    return f;
}

/* save and migrate-send: run the scenario for its toolstack action alone
 * (its expectations' report is dropped; the caller judges by res).  0, or
 * EXIT_BAD_INPUT when the console log or the report sink cannot open. */
static int run_for_action(struct xs_scenario *scn, const struct common_opts *o,
                          FILE *console, const char *migrate_log,
                          struct xs_scenario_result *res)
{
    bool bad;
    FILE *clog = open_console_log(o, &bad);
    char *report = NULL;
    size_t report_len = 0;
    FILE *rf = bad ? NULL : open_memstream(&report, &report_len);
    if (!rf) {
        if (clog) fclose(clog);
        return EXIT_BAD_INPUT;
    }
    xs_scenario_run(scn,
                    &(struct xs_scenario_run_opts){.seed = o->seed,
                                                   .guest_dir = o->guest_dir,
                                                   .trace_path = o->trace,
                                                   .console = console,
                                                   .report = rf,
                                                   .log = stderr,
                                                   .xenstore_socket = o->xenstore_socket,
                                                   .console_log = clog,
                                                   .migrate_log = migrate_log},
                    res);
    fclose(rf);
    if (clog) fclose(clog);
    free(report);
    return 0;
}

/* Reads FILE for run and explore; prints the error itself. */
static int load_scenario(struct xs_scenario *scn, const char *file)
{
    char err[1024];
    if (xs_scenario_parse_file(scn, file, err, sizeof(err))) {
        fprintf(stderr, "xensim: error: %s\n", err);
        return -1;
    }
    return 0;
}

static int cmd_run(const char *self, int argc, char **argv)
{
    (void)self;
    struct common_opts o = {0};
    default_guest_dir(o.guest_dir, sizeof(o.guest_dir));
    const char *file = NULL, *migrate_log = NULL;
    for (int i = 0; i < argc; i++) {
        int r = common_opt(&o, argc, argv, &i);
        if (r < 0) return EXIT_BAD_INPUT;
        if (r) continue;
        if (!strcmp(argv[i], "--migrate-log")) {
            if (i + 1 == argc) return usage_error("--migrate-log needs a file name");
            migrate_log = argv[++i];
            continue;
        }
        if (argv[i][0] == '-' || file)
            return usage_error("run: unexpected argument '%s'", argv[i]);
        file = argv[i];
    }
    if (!file) return usage_error("run: which scenario file?");
    struct xs_scenario scn;
    if (load_scenario(&scn, file)) return EXIT_BAD_INPUT;
    bool bad;
    FILE *clog = open_console_log(&o, &bad);
    if (bad) {
        xs_scenario_free(&scn);
        return EXIT_BAD_INPUT;
    }
    struct xs_scenario_result res;
    xs_scenario_run(&scn,
                    &(struct xs_scenario_run_opts){.seed = o.seed,
                                                   .guest_dir = o.guest_dir,
                                                   .trace_path = o.trace,
                                                   .console = o.quiet ? NULL : stdout,
                                                   .report = stdout,
                                                   .log = stderr,
                                                   .xenstore_socket = o.xenstore_socket,
                                                   .console_log = clog,
                                                   .migrate_log = migrate_log},
                    &res);
    if (clog) fclose(clog);
    if (res.status == EXIT_BAD_INPUT) fprintf(stderr, "xensim: error: %s\n", res.err);
    xs_scenario_free(&scn);
    return res.status;
}

/* "A..B" or a single seed "A". */
static int parse_seed_range(const char *s, uint64_t *a, uint64_t *b)
{
    if (!s) return -1;
    const char *dots = strstr(s, "..");
    char first[32];
    if (!dots) {
        if (parse_u64(s, a)) return -1;
        *b = *a;
        return 0;
    }
    size_t n = (size_t)(dots - s);
    if (n == 0 || n >= sizeof(first)) return -1;
    memcpy(first, s, n);
    first[n] = '\0';
    if (parse_u64(first, a) || parse_u64(dots + 2, b) || *b < *a) return -1;
    return 0;
}

/* Runs a scenario over a range of seeds (each twice with --check-determinism)
 * and stops at the first seed that fails, printing how to replay it. */
static int cmd_explore(const char *self, int argc, char **argv)
{
    struct common_opts o = {.self = self};
    default_guest_dir(o.guest_dir, sizeof(o.guest_dir));
    const char *file = NULL;
    uint64_t first = 1, last = 100;
    bool twice = false, guest_dir_given = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--seeds")) {
            if (parse_seed_range(val, &first, &last))
                return usage_error("--seeds needs A..B with A <= B (or one seed)");
            i++;
        } else if (!strcmp(a, "--check-determinism")) {
            twice = true;
        } else if (!strcmp(a, "--guest-dir")) {
            if (!val) return usage_error("--guest-dir needs a directory");
            snprintf(o.guest_dir, sizeof(o.guest_dir), "%s", val);
            guest_dir_given = true;
            i++;
        } else if (a[0] == '-' || file) {
            return usage_error("explore: unexpected argument '%s'", a);
        } else {
            file = a;
        }
    }
    if (!file) return usage_error("explore: which scenario file?");
    struct xs_scenario scn;
    if (load_scenario(&scn, file)) return EXIT_BAD_INPUT;
    uint64_t passed = 0, distinct = 0, prev_hash = 0;
    int status = 0;
    for (uint64_t seed = first;; seed++) {
        char *report = NULL;
        size_t report_len = 0;
        FILE *rf = open_memstream(&report, &report_len);
        if (!rf) {
            fprintf(stderr, "xensim: error: out of memory\n");
            status = EXIT_BAD_INPUT;
            break;
        }
        struct xs_scenario_run_opts ro = {
            .seed = seed, .guest_dir = o.guest_dir, .report = rf, .log = rf};
        struct xs_scenario_result res, again;
        xs_scenario_run(&scn, &ro, &res);
        bool same = true;
        if (res.status == 0 && twice) {
            xs_scenario_run(&scn, &ro, &again);
            same = again.status == 0 && again.trace_hash == res.trace_hash;
        }
        fclose(rf);
        if (res.status == EXIT_BAD_INPUT) {
            fprintf(stderr, "xensim: error: %s\n", res.err);
            free(report);
            status = EXIT_BAD_INPUT;
            break;
        }
        if (res.status != 0 || !same) {
            printf("explore: seed %" PRIu64 " %s after %" PRIu64 " passing seed%s\n",
                   seed, res.status ? "FAILS" : "IS NOT DETERMINISTIC", passed,
                   passed == 1 ? "" : "s");
            if (!same)
                printf("explore: first run trace-hash=%016" PRIx64
                       ", second run %s trace-hash=%016" PRIx64 "\n",
                       res.trace_hash, again.status ? "failed with" : "passed with",
                       again.trace_hash);
            fwrite(report, 1, report_len, stdout);
            printf("replay: %s run %s --seed %" PRIu64 "%s%s\n", o.self, file, seed,
                   guest_dir_given ? " --guest-dir " : "",
                   guest_dir_given ? o.guest_dir : "");
            free(report);
            status = 1;
            break;
        }
        free(report);
        passed++;
        if (passed == 1 || res.trace_hash != prev_hash) distinct++;
        prev_hash = res.trace_hash;
        if (seed == last) break;
    }
    if (status == 0)
        printf("explore: %s: all %" PRIu64 " seeds %" PRIu64 "..%" PRIu64 " pass%s "
               "(%" PRIu64 " hash changes between consecutive seeds)\n",
               file, passed, first, last, twice ? ", each deterministic" : "", distinct);
    xs_scenario_free(&scn);
    return status;
}

/* --nic's options, "switch=S,mac=M,pcap=P,queues=N" (any subset, any
 * order), into n (strings copied): 0, or non-zero after the usage error. */
struct boot_nic {
    struct xs_netback_cfg cfg;
    char sw[64], pcap[PATH_MAX];
};

static int parse_nic_opts(const char *opts, struct boot_nic *n)
{
    char buf[PATH_MAX + 128];
    if (strlen(opts) >= sizeof(buf)) return usage_error("--nic: options too long");
    strcpy(buf, opts);
    for (char *save = NULL, *kv = strtok_r(buf, ",", &save); kv;
         kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) return usage_error("--nic: '%s' is not KEY=VALUE", kv);
        *eq = '\0';
        const char *v = eq + 1;
        uint64_t q;
        if (!strcmp(kv, "switch") && *v && strlen(v) < sizeof(n->sw) && !strchr(v, '/')) {
            strcpy(n->sw, v);
            n->cfg.bridge = n->sw;
        } else if (!strcmp(kv, "mac")) {
            if (xs_netback_parse_mac(v, n->cfg.mac) || (n->cfg.mac[0] & 1))
                return usage_error("--nic: mac=%s is not a unicast XX:XX:XX:XX:XX:XX", v);
            n->cfg.mac_set = true;
        } else if (!strcmp(kv, "pcap") && *v && strlen(v) < sizeof(n->pcap)) {
            strcpy(n->pcap, v);
            n->cfg.pcap = n->pcap;
        } else if (!strcmp(kv, "queues") && !parse_u64(v, &q) && q >= 1 &&
                   q <= XS_NETBACK_MAX_QUEUES) {
            n->cfg.max_queues = (unsigned)q;
        } else {
            return usage_error("--nic: bad option '%s=%s' (switch=NAME, mac=MAC, "
                               "pcap=FILE, queues=1..%u)",
                               kv, v, XS_NETBACK_MAX_QUEUES);
        }
    }
    return 0;
}

static int cmd_boot(const char *self, int argc, char **argv)
{
    (void)self;
    struct common_opts o = {0};
    default_guest_dir(o.guest_dir, sizeof(o.guest_dir));
    struct xs_domain_config dc = {
        .name = "guest", .memory_mib = 64, .vcpus = 1, .cmdline = ""};
    uint64_t vtime_limit = 0;
    /* --disk PATH[,readonly]: xvda, xvdb, ... served by blkback. */
    struct xs_blkback_cfg disks[4];
    char disk_paths[4][PATH_MAX];
    unsigned nr_disks = 0;
    /* --nic [switch=S,mac=M,pcap=P,queues=N]: vif 0, 1, ... served by netback. */
    struct boot_nic nics[4];
    unsigned nr_nics = 0;
    for (int i = 0; i < argc; i++) {
        int r = common_opt(&o, argc, argv, &i);
        if (r < 0) return EXIT_BAD_INPUT;
        if (r) continue;
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t n;
        if (!strcmp(a, "--memory")) {
            if (parse_u64(val, &n)) return usage_error("--memory needs a size in MiB");
            dc.memory_mib = n;
            i++;
        } else if (!strcmp(a, "--vcpus")) {
            if (parse_u64(val, &n) || n > XS_MAX_VCPUS)
                return usage_error("--vcpus needs a count from 1 to %d", XS_MAX_VCPUS);
            dc.vcpus = (unsigned)n;
            i++;
        } else if (!strcmp(a, "--cmdline")) {
            if (!val) return usage_error("--cmdline needs a string");
            dc.cmdline = val;
            i++;
        } else if (!strcmp(a, "--hypercalls")) {
            if (!val || (strcmp(val, "direct") && strcmp(val, "vmcall")))
                return usage_error("--hypercalls is 'direct' or 'vmcall'");
            dc.hypercalls = !strcmp(val, "vmcall") ? XS_HC_VMCALL : XS_HC_DIRECT;
            i++;
        } else if (!strcmp(a, "--vtime-limit-ms")) {
            if (parse_u64(val, &n)) return usage_error("--vtime-limit-ms needs a number");
            vtime_limit = n * 1000000ULL;
            i++;
        } else if (!strcmp(a, "--disk")) {
            if (!val || !*val) return usage_error("--disk needs PATH[,readonly]");
            if (nr_disks == 4) return usage_error("--disk: at most 4 disks");
            const char *comma = strrchr(val, ',');
            bool ro = comma && !strcmp(comma, ",readonly");
            size_t len = ro ? (size_t)(comma - val) : strlen(val);
            if (!len || len >= PATH_MAX)
                return usage_error("--disk needs PATH[,readonly]");
            memcpy(disk_paths[nr_disks], val, len);
            disk_paths[nr_disks][len] = '\0';
            disks[nr_disks] =
                (struct xs_blkback_cfg){.path = disk_paths[nr_disks], .readonly = ro};
            nr_disks++;
            i++;
        } else if (!strcmp(a, "--nic")) {
            if (nr_nics == 4) return usage_error("--nic: at most 4 nics");
            struct boot_nic *n = &nics[nr_nics++];
            memset(n, 0, sizeof(*n));
            /* The options are optional: only a KEY=VALUE word is theirs. */
            if (val && val[0] != '-' && strchr(val, '=')) {
                if (parse_nic_opts(val, n)) return EXIT_BAD_INPUT;
                i++;
            }
        } else if (a[0] == '-' || dc.image_path) {
            return usage_error("boot: unexpected argument '%s'", a);
        } else {
            dc.image_path = a;
        }
    }
    if (!dc.image_path) return usage_error("boot: which image?");
    char path[PATH_MAX + 16];
    struct stat st;
    if (!strchr(dc.image_path, '/') &&
        (stat(dc.image_path, &st) != 0 || !S_ISREG(st.st_mode))) {
        /* A bare name is a guest app: guest_dir/NAME.elf */
        snprintf(path, sizeof(path), "%.*s/%.*s.elf", PATH_MAX / 2, o.guest_dir,
                 PATH_MAX / 4, dc.image_path);
        dc.image_path = path;
    }
    char err[1024];
    bool bad;
    FILE *clog = open_console_log(&o, &bad);
    if (bad) return EXIT_BAD_INPUT;
    struct xs_sim sim;
    struct xs_sim_config cfg = {.seed = o.seed,
                                .console_out = stdout,
                                .log = stderr,
                                .trace_path = o.trace,
                                .vtime_limit_ns = vtime_limit,
                                .console_log = clog};
    if (xs_sim_init(&sim, &cfg, err, sizeof(err))) {
        fprintf(stderr, "xensim: error: %s\n", err);
        if (clog) fclose(clog);
        return EXIT_BAD_INPUT;
    }
    if (xs_xenstore_attach(&sim, o.xenstore_socket, err, sizeof(err))) {
        fprintf(stderr, "xensim: error: %s\n", err);
        xs_sim_destroy(&sim);
        if (clog) fclose(clog);
        return EXIT_BAD_INPUT;
    }
    struct xs_domain *d = xs_domain_create(&sim, &dc, err, sizeof(err));
    for (unsigned k = 0; d && k < nr_disks; k++)
        if (!xs_pvdev_add(&sim, "vbd", d, XS_SCN_DISK_ID0 + 16 * k, &disks[k], err,
                          sizeof(err)))
            d = NULL;
    for (unsigned k = 0; d && k < nr_nics; k++)
        if (!xs_pvdev_add(&sim, "vif", d, k, &nics[k].cfg, err, sizeof(err))) d = NULL;
    if (!d) {
        fprintf(stderr, "xensim: error: %s\n", err);
        xs_sim_destroy(&sim);
        if (clog) fclose(clog);
        return EXIT_BAD_INPUT;
    }
    /* As `xl console`: a terminal or a pipe on stdin types into the guest's
     * console (not /dev/null or a file: no input is the deterministic case). */
    struct stat in;
    if (isatty(STDIN_FILENO) || (fstat(STDIN_FILENO, &in) == 0 && S_ISFIFO(in.st_mode)))
        xs_console_attach_fd(d, STDIN_FILENO);
    xs_sim_run(&sim);
    fflush(stdout);
    if (sim.stop_reason[0]) fprintf(stderr, "xensim: stopped: %s\n", sim.stop_reason);
    fprintf(stderr,
            "xensim: domain %s ended: %s, vtime %" PRIu64 " ns, trace-hash %016" PRIx64
            "\n",
            d->name, xs_end_state_name(d->end_state), sim.vtime_ns, sim.trace.hash);
    int status = end_state_status(d->end_state);
    xs_sim_destroy(&sim);
    if (clog) fclose(clog);
    return status;
}

/* "20ms", "1.5s" is not taken: N with an optional unit ns, us, ms or s. */
static int parse_duration_ns(const char *s, uint64_t *ns)
{
    static const struct {
        const char *unit;
        uint64_t mul;
    } units[] = {{"ns", 1}, {"us", 1000}, {"ms", 1000000}, {"s", 1000000000}, {"", 1}};
    char *end;
    errno = 0;
    if (!s || *s < '0' || *s > '9') return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno) return -1;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (!strcmp(end, units[i].unit)) {
            if (v > UINT64_MAX / units[i].mul) return -1;
            *ns = v * units[i].mul;
            return 0;
        }
    return -1;
}

/* A path given on the command line, made absolute (scenario files resolve
 * relative ones against their own directory). */
static int absolute_path(const char *in, char *out, size_t len)
{
    char cwd[PATH_MAX];
    if (in[0] == '/') return snprintf(out, len, "%s", in) < (int)len ? 0 : -1;
    if (!getcwd(cwd, sizeof(cwd))) return -1;
    return snprintf(out, len, "%s/%s", cwd, in) < (int)len ? 0 : -1;
}

/* xl save, driven by a scenario: run SCENARIO and at --at save DOMAIN to
 * FILE (docs/migration.md).  The scenario's expectations are not checked. */
static int cmd_save(const char *self, int argc, char **argv)
{
    (void)self;
    struct common_opts o = {0};
    default_guest_dir(o.guest_dir, sizeof(o.guest_dir));
    const char *pos[3] = {NULL, NULL, NULL};
    unsigned npos = 0;
    uint64_t at_ns = 0, timeout_ns = 0;
    bool have_at = false;
    for (int i = 0; i < argc; i++) {
        int r = common_opt(&o, argc, argv, &i);
        if (r < 0) return EXIT_BAD_INPUT;
        if (r) continue;
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--at") || !strcmp(a, "--timeout")) {
            bool at = a[2] == 'a';
            if (parse_duration_ns(val, at ? &at_ns : &timeout_ns))
                return usage_error("%s needs a time (N, Nns, Nus, Nms or Ns)", a);
            have_at |= at;
            i++;
        } else if (a[0] == '-' || npos == 3) {
            return usage_error("save: unexpected argument '%s'", a);
        } else {
            pos[npos++] = a;
        }
    }
    if (npos != 3)
        return usage_error("usage: xensim save SCENARIO DOMAIN FILE --at TIME");
    if (!have_at) return usage_error("save: when? (--at TIME, virtual time)");
    struct xs_scenario scn;
    if (load_scenario(&scn, pos[0])) return EXIT_BAD_INPUT;
    int dom = -1;
    for (unsigned i = 0; i < scn.nr_domains; i++)
        if (!strcmp(scn.domains[i].name, pos[1])) dom = (int)i;
    struct xs_scn_save *sv =
        &scn.saves[scn.nr_saves < XS_SCN_MAX_SAVES ? scn.nr_saves : 0];
    if (dom < 0 || scn.nr_saves == XS_SCN_MAX_SAVES) {
        fprintf(stderr, "xensim: error: save: %s\n",
                dom < 0 ? "no such domain in the scenario" : "too many saves");
        xs_scenario_free(&scn);
        return EXIT_BAD_INPUT;
    }
    *sv = (struct xs_scn_save){
        .domain = (unsigned)dom, .at_ns = at_ns, .timeout_ns = timeout_ns};
    if (absolute_path(pos[2], sv->file, sizeof(sv->file))) {
        xs_scenario_free(&scn);
        return usage_error("save: the file name is too long");
    }
    scn.nr_saves++;
    struct xs_scenario_result res;
    if (run_for_action(&scn, &o, o.quiet ? NULL : stdout, NULL, &res)) {
        xs_scenario_free(&scn);
        return EXIT_BAD_INPUT;
    }
    int status = res.status == EXIT_BAD_INPUT ? EXIT_BAD_INPUT : res.saves_ok ? 0 : 1;
    if (res.status == EXIT_BAD_INPUT)
        fprintf(stderr, "xensim: error: %s\n", res.err);
    else if (status == 0)
        printf("saved: %s -> %s\n", pos[1], sv->file);
    else
        printf("save: %s was not saved (the messages above say why)\n", pos[1]);
    xs_scenario_free(&scn);
    return status;
}

/* xl restore into a fresh simulation: the domain in FILE runs to its end;
 * its console, the expectations and the result line as `run` prints them. */
static int cmd_restore(const char *self, int argc, char **argv)
{
    (void)self;
    struct common_opts o = {0};
    default_guest_dir(o.guest_dir, sizeof(o.guest_dir));
    const char *file = NULL, *name = NULL;
    bool seed_given = false;
    uint64_t limit_ms = 10000;
    int end_state = XS_END_POWEROFF;
    const char *consoles[64];
    unsigned nr_consoles = 0;
    for (int i = 0; i < argc; i++) {
        seed_given |= !strcmp(argv[i], "--seed");
        int r = common_opt(&o, argc, argv, &i);
        if (r < 0) return EXIT_BAD_INPUT;
        if (r) continue;
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--name")) {
            if (!val) return usage_error("--name needs a domain name");
            name = val;
        } else if (!strcmp(a, "--vtime-limit-ms")) {
            if (parse_u64(val, &limit_ms) || limit_ms > UINT64_MAX / 2000000)
                return usage_error("--vtime-limit-ms needs a number");
        } else if (!strcmp(a, "--expect-end")) {
            end_state = xs_end_state_parse(val ? val : "");
            if (end_state == -2)
                return usage_error("--expect-end needs an end state (poweroff, crash, "
                                   "suspend, ...)");
        } else if (!strcmp(a, "--expect-console")) {
            if (!val || strlen(val) >= XS_SCN_TEXT_MAX || nr_consoles == 64)
                return usage_error("--expect-console needs a text (at most 64 of them)");
            consoles[nr_consoles++] = val;
        } else if ((a[0] == '-' && a[1]) || file) {
            return usage_error("restore: unexpected argument '%s'", a);
        } else {
            file = a;
            continue;
        }
        i++;
    }
    if (!file) return usage_error("restore: which saved image?");
    if (name && (!*name || strlen(name) >= XS_SCN_NAME_MAX))
        return usage_error("--name: 1 to %d characters", XS_SCN_NAME_MAX - 1);
    /* Read it once here: a bad image is refused before anything runs, and
     * its name, time and seed shape the run.  A stream that can only be
     * read once ("-" for stdin, a FIFO, a socket: a live migration's, as
     * migrate-send writes it) is read here only, and the run restores from
     * this image. */
    struct xs_domain_image img;
    struct xs_ms_sim_state st;
    char err[1024];
    struct stat sb;
    bool once = !strcmp(file, "-") || (stat(file, &sb) == 0 && !S_ISREG(sb.st_mode));
    int rc;
    if (!once) {
        rc = xs_ms_load_file(file, &img, &st, err, sizeof(err));
    } else {
        int fd = strcmp(file, "-") ? open(file, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
        if (fd < 0) {
            memset(&img, 0, sizeof(img));
            rc = -1;
            snprintf(err, sizeof(err), "%s: cannot open: %s", file, strerror(errno));
        } else {
            rc = xs_ms_load_fd(fd, strcmp(file, "-") ? file : "stdin", &img, &st, err,
                               sizeof(err));
            if (fd != STDIN_FILENO) close(fd);
        }
    }
    if (rc) {
        fprintf(stderr, "xensim: error: %s\n", err);
        xs_domain_image_free(&img);
        return EXIT_BAD_INPUT;
    }
    uint64_t saved_vtime = img.vtime_ns;
    char saved_name[XS_SCN_NAME_MAX];
    snprintf(saved_name, sizeof(saved_name), "%s", img.name);
    if (st.live)
        fprintf(stderr,
                "xensim: %s: a live migration's stream: %u pre-copy rounds; %s "
                "suspended at %" PRIu64 " ns and resumes here at %" PRIu64
                " ns: downtime %" PRIu64 " ns\n",
                once && !strcmp(file, "-") ? "stdin" : file, st.rounds, saved_name,
                st.suspended_ns, saved_vtime, saved_vtime - st.suspended_ns);
    if (!once) xs_domain_image_free(&img);
    struct xs_scenario scn;
    memset(&scn, 0, sizeof(scn));
    snprintf(scn.path, sizeof(scn.path), "%s", file);
    snprintf(scn.dir, sizeof(scn.dir), ".");
    snprintf(scn.name, sizeof(scn.name), "restore");
    struct xs_scn_domain *sd = &scn.domains[scn.nr_domains++];
    snprintf(sd->name, sizeof(sd->name), "%s", name ? name : saved_name);
    sd->memory_mib = 64;
    sd->vcpus = 1;
    sd->line = 1;
    if (once)
        snprintf(sd->restore, sizeof(sd->restore), "-");
    else if (absolute_path(file, sd->restore, sizeof(sd->restore)))
        return usage_error("restore: file name too long");
    scn.vtime_limit_ns = saved_vtime + limit_ms * 1000000;
    scn.exit_limit = 50000000;
    scn.expects = calloc(nr_consoles + 1, sizeof(*scn.expects));
    if (!scn.expects) return EXIT_BAD_INPUT;
    for (unsigned k = 0; k < nr_consoles; k++) {
        struct xs_scn_expect *e = &scn.expects[scn.nr_expects++];
        e->kind = XS_EXPECT_CONSOLE;
        snprintf(e->text, sizeof(e->text), "%s", consoles[k]);
        e->line = (int)k + 2;
    }
    struct xs_scn_expect *e = &scn.expects[scn.nr_expects++];
    e->kind = XS_EXPECT_END;
    e->end_state = end_state;
    e->line = (int)nr_consoles + 2;
    bool bad;
    FILE *clog = open_console_log(&o, &bad);
    if (bad) {
        xs_scenario_free(&scn);
        return EXIT_BAD_INPUT;
    }
    struct xs_scenario_result res;
    xs_scenario_run(&scn,
                    &(struct xs_scenario_run_opts){.seed = seed_given ? o.seed : st.seed,
                                                   .guest_dir = o.guest_dir,
                                                   .trace_path = o.trace,
                                                   .console = o.quiet ? NULL : stdout,
                                                   .report = stdout,
                                                   .log = stderr,
                                                   .xenstore_socket = o.xenstore_socket,
                                                   .console_log = clog,
                                                   .restore_image = once ? &img : NULL},
                    &res);
    if (clog) fclose(clog);
    xs_domain_image_free(&img);
    if (res.status == EXIT_BAD_INPUT) fprintf(stderr, "xensim: error: %s\n", res.err);
    xs_scenario_free(&scn);
    return res.status;
}

/* xl migrate's sending half, driven by a scenario: run SCENARIO and from
 * --at migrate DOMAIN live, writing the stream to --to (stdout by default)
 * as it is produced; another process (xensim restore -) is the
 * destination (docs/migration.md).  The scenario's expectations are not
 * checked. */
static int cmd_migrate_send(const char *self, int argc, char **argv)
{
    (void)self;
    struct common_opts o = {0};
    default_guest_dir(o.guest_dir, sizeof(o.guest_dir));
    const char *pos[2] = {NULL, NULL}, *to = "-", *migrate_log = NULL;
    unsigned npos = 0;
    bool have_at = false;
    struct xs_scn_migrate mg = {.rounds = XS_MIGRATE_ROUNDS,
                                .threshold = XS_MIGRATE_THRESHOLD,
                                .bandwidth = XS_MIGRATE_BANDWIDTH,
                                .send_only = true,
                                .line = 0};
    for (int i = 0; i < argc; i++) {
        int r = common_opt(&o, argc, argv, &i);
        if (r < 0) return EXIT_BAD_INPUT;
        if (r) continue;
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t v;
        if (!strcmp(a, "--at") || !strcmp(a, "--timeout")) {
            bool at = a[2] == 'a';
            if (parse_duration_ns(val, at ? &mg.at_ns : &mg.timeout_ns))
                return usage_error("%s needs a time (N, Nns, Nus, Nms or Ns)", a);
            have_at |= at;
        } else if (!strcmp(a, "--rounds")) {
            if (parse_u64(val, &v) || v > 1000)
                return usage_error("--rounds needs a count from 0 to 1000");
            mg.rounds = (unsigned)v;
        } else if (!strcmp(a, "--threshold")) {
            if (parse_u64(val, &mg.threshold))
                return usage_error("--threshold needs a number of pages");
        } else if (!strcmp(a, "--bandwidth")) {
            if (parse_u64(val, &mg.bandwidth) || !mg.bandwidth ||
                mg.bandwidth > XS_MIGRATE_BW_MAX)
                return usage_error("--bandwidth needs bytes per second, 1 to %llu",
                                   (unsigned long long)XS_MIGRATE_BW_MAX);
        } else if (!strcmp(a, "--to") || !strcmp(a, "--migrate-log")) {
            if (!val || !*val) return usage_error("%s needs a file name", a);
            *(a[2] == 't' ? &to : &migrate_log) = val;
        } else if (a[0] == '-' || npos == 2) {
            return usage_error("migrate-send: unexpected argument '%s'", a);
        } else {
            pos[npos++] = a;
            continue;
        }
        i++;
    }
    if (npos != 2)
        return usage_error("usage: xensim migrate-send SCENARIO DOMAIN --at TIME [--to "
                           "PATH]");
    if (!have_at) return usage_error("migrate-send: when? (--at TIME, virtual time)");
    struct xs_scenario scn;
    if (load_scenario(&scn, pos[0])) return EXIT_BAD_INPUT;
    int dom = -1;
    for (unsigned i = 0; i < scn.nr_domains; i++)
        if (!strcmp(scn.domains[i].name, pos[1])) dom = (int)i;
    if (dom < 0 || scn.nr_migrates == XS_SCN_MAX_MIGRATES) {
        fprintf(stderr, "xensim: error: migrate-send: %s\n",
                dom < 0 ? "no such domain in the scenario" : "too many migrations");
        xs_scenario_free(&scn);
        return EXIT_BAD_INPUT;
    }
    mg.domain = (unsigned)dom;
    if (strcmp(to, "-") ? absolute_path(to, mg.file, sizeof(mg.file))
                        : snprintf(mg.file, sizeof(mg.file), "-") < 0) {
        xs_scenario_free(&scn);
        return usage_error("migrate-send: the file name is too long");
    }
    scn.migrates[scn.nr_migrates++] = mg;
    bool to_stdout = !strcmp(to, "-");
    struct xs_scenario_result res;
    /* stdout may be the stream itself */
    FILE *console = o.quiet ? NULL : to_stdout ? stderr : stdout;
    if (run_for_action(&scn, &o, console, migrate_log, &res)) {
        xs_scenario_free(&scn);
        return EXIT_BAD_INPUT;
    }
    /* Only this command's migration decides (the scenario may have others). */
    int status = res.status == EXIT_BAD_INPUT ? EXIT_BAD_INPUT
                 : res.migrates_failed        ? 1
                                              : 0;
    if (res.status == EXIT_BAD_INPUT)
        fprintf(stderr, "xensim: error: %s\n", res.err);
    else
        fprintf(stderr, "migrate-send: %s %s %s\n", pos[1],
                status ? "was not migrated (the messages above say why); it ran on"
                       : "sent to",
                status      ? ""
                : to_stdout ? "stdout"
                            : mg.file);
    xs_scenario_free(&scn);
    return status;
}

static int cmd_trace(const char *self, int argc, char **argv)
{
    (void)self;
    if (argc != 2 || strcmp(argv[0], "dump"))
        return usage_error("usage: xensim trace dump FILE");
    char err[512];
    if (xs_trace_dump(argv[1], stdout, err, sizeof(err))) {
        fprintf(stderr, "xensim: error: %s\n", err);
        return EXIT_BAD_INPUT;
    }
    return 0;
}

/* The store alone, in the foreground, until SIGINT or SIGTERM.  The signals
 * arrive through a signalfd polled with the sockets, so no handler (and no
 * global flag) is needed. */
static int cmd_xenstored(const char *self, int argc, char **argv)
{
    (void)self;
    const char *path = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--socket") && i + 1 < argc)
            path = argv[++i];
        else if (!strcmp(argv[i], "--socket"))
            return usage_error("--socket needs a socket path");
        else
            return usage_error("xenstored: unexpected argument '%s'", argv[i]);
    }
    if (!path) return usage_error("xenstored: which socket? (--socket PATH)");
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int sfd = -1;
    if (sigprocmask(SIG_BLOCK, &set, NULL) ||
        (sfd = signalfd(-1, &set, SFD_CLOEXEC)) < 0) {
        fprintf(stderr, "xensim: error: signalfd: %s\n", strerror(errno));
        return EXIT_BAD_INPUT;
    }
    char err[512];
    struct xs_xenstore *xs = xs_xenstore_new(stderr);
    if (!xs || xs_xenstore_listen(xs, path, err, sizeof(err))) {
        fprintf(stderr, "xensim: error: %s\n", xs ? err : "out of memory");
        xs_xenstore_free(xs);
        close(sfd);
        return EXIT_BAD_INPUT;
    }
    fprintf(stderr, "xensim: xenstored listening on %s\n", path);
    while (!xs_xenstore_poll(xs, -1, sfd))
        ;
    struct signalfd_siginfo si;
    if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
        fprintf(stderr, "xensim: xenstored: %s, shutting down\n",
                strsignal((int)si.ssi_signo));
    xs_xenstore_free(xs); /* closes the clients, removes the socket */
    close(sfd);
    return 0;
}

static int cmd_help(const char *self, int argc, char **argv);

static const struct {
    const char *name;
    int (*fn)(const char *self, int argc, char **argv);
    const char *usage;
} commands[] = {
    {"run", cmd_run,
     "run FILE [--seed N] [--trace OUT] [--guest-dir DIR] [--quiet]\n"
     "            [--xenstore-socket PATH] [--console-log FILE] [--migrate-log FILE]"},
    {"explore", cmd_explore,
     "explore FILE [--seeds A..B] [--check-determinism] [--guest-dir DIR]"},
    {"boot", cmd_boot,
     "boot IMAGE [--memory MIB] [--vcpus N] [--cmdline S] [--hypercalls direct|vmcall]\n"
     "            [--seed N] [--trace OUT] [--vtime-limit-ms N] [--xenstore-socket "
     "PATH]\n"
     "            [--console-log FILE] [--disk PATH[,readonly]]...\n"
     "            [--nic [switch=NAME,mac=MAC,pcap=FILE,queues=N]]...\n"
     "            (stdin, a terminal or pipe, is console input)"},
    {"save", cmd_save,
     "save SCENARIO DOMAIN FILE --at TIME [--timeout TIME] [--seed N] [--guest-dir DIR]\n"
     "            [--quiet] [--trace OUT] [--console-log FILE]"},
    {"migrate-send", cmd_migrate_send,
     "migrate-send SCENARIO DOMAIN --at TIME [--to PATH|-] [--rounds N] [--threshold "
     "PAGES]\n"
     "            [--bandwidth BYTES_PER_S] [--timeout TIME] [--migrate-log FILE] "
     "[--seed "
     "N]\n"
     "            [--guest-dir DIR] [--quiet] [--trace OUT] [--console-log FILE]"},
    {"restore", cmd_restore,
     "restore FILE|- [--name NAME] [--seed N] [--vtime-limit-ms N] [--expect-console "
     "TEXT]...\n"
     "            [--expect-end STATE] [--trace OUT] [--quiet] [--console-log FILE]"},
    {"trace", cmd_trace, "trace dump FILE"},
    {"xenstored", cmd_xenstored, "xenstored --socket PATH"},
    {"help", cmd_help, "help"},
};

static int cmd_help(const char *self, int argc, char **argv)
{
    (void)self, (void)argc, (void)argv;
    puts("xensim: a deterministic simulator of the Xen hypervisor interface\n\nusage:");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        printf("  xensim %s\n", commands[i].usage);
    return 0;
}

int main(int argc, char **argv)
{
    /* A stream or socket whose reader went away is an error to report
     * (EPIPE), not a reason to die: a live migration's source runs on. */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2)
        return usage_error(
            "which command? (run, explore, boot, save, restore, migrate-send, trace, "
            "xenstored, help)");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argv[0], argc - 2, argv + 2);
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
        return cmd_help(argv[0], 0, NULL);
    return usage_error("unknown command '%s'", argv[1]);
}
