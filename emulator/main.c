/* xensim command line: a registry of subcommands. */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim.h"

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
    } else if (!strcmp(a, "--quiet")) {
        o->quiet = true;
        return 1;
    } else {
        return 0;
    }
    (*i)++;
    return 1;
}

static void result_line(struct xs_sim *sim, bool pass)
{
    printf("result: %s trace-hash=%016" PRIx64 " vtime-ns=%" PRIu64 "\n",
           pass ? "pass" : "fail", sim->trace.hash, sim->vtime_ns);
}

static int cmd_run(int argc, char **argv)
{
    struct common_opts o = {0};
    default_guest_dir(o.guest_dir, sizeof(o.guest_dir));
    const char *file = NULL;
    for (int i = 0; i < argc; i++) {
        int r = common_opt(&o, argc, argv, &i);
        if (r < 0) return EXIT_BAD_INPUT;
        if (r) continue;
        if (argv[i][0] == '-' || file)
            return usage_error("run: unexpected argument '%s'", argv[i]);
        file = argv[i];
    }
    if (!file) return usage_error("run: which scenario file?");
    char err[1024];
    struct xs_scenario scn;
    if (xs_scenario_parse_file(&scn, file, err, sizeof(err))) {
        fprintf(stderr, "xensim: error: %s\n", err);
        return EXIT_BAD_INPUT;
    }
    struct xs_sim sim;
    struct xs_sim_config cfg = {.seed = o.seed,
                                .console_out = o.quiet ? NULL : stdout,
                                .console_prefix = true,
                                .log = stderr,
                                .trace_path = o.trace,
                                .vtime_limit_ns = scn.vtime_limit_ns,
                                .exit_limit = scn.exit_limit};
    if (xs_sim_init(&sim, &cfg, err, sizeof(err))) {
        fprintf(stderr, "xensim: error: %s\n", err);
        xs_scenario_free(&scn);
        return EXIT_BAD_INPUT;
    }
    int status = EXIT_BAD_INPUT;
    err[0] = '\0';
    for (unsigned i = 0; i < scn.nr_domains; i++) {
        const struct xs_scn_domain *sd = &scn.domains[i];
        char path[PATH_MAX];
        if (xs_scenario_image_path(&scn, i, o.guest_dir, path, sizeof(path)) ||
            !xs_domain_create(&sim,
                              &(struct xs_domain_config){.name = sd->name,
                                                         .image_path = path,
                                                         .memory_mib = sd->memory_mib,
                                                         .vcpus = sd->vcpus,
                                                         .cmdline = sd->cmdline,
                                                         .hypercalls = sd->hypercalls},
                              err, sizeof(err))) {
            if (!err[0])
                snprintf(err, sizeof(err), "image path for %s is too long", sd->name);
            fprintf(stderr, "xensim: error: %s:%d: %s\n", scn.path, sd->line, err);
            goto out;
        }
    }
    xs_sim_run(&sim);
    fflush(stdout);
    if (sim.stop_reason[0]) printf("stopped: %s\n", sim.stop_reason);
    struct xs_domain_outcome out[XS_SCN_MAX_DOMAINS];
    for (unsigned i = 0; i < sim.nr_domains; i++)
        out[i] = (struct xs_domain_outcome){sim.domains[i]->console,
                                            sim.domains[i]->console_len,
                                            sim.domains[i]->end_state};
    int failed = xs_scenario_check(&scn, out, stdout);
    result_line(&sim, failed == 0);
    status = failed == 0 ? 0 : 1;
out:
    xs_sim_destroy(&sim);
    xs_scenario_free(&scn);
    return status;
}

static int cmd_boot(int argc, char **argv)
{
    struct common_opts o = {0};
    default_guest_dir(o.guest_dir, sizeof(o.guest_dir));
    struct xs_domain_config dc = {
        .name = "guest", .memory_mib = 64, .vcpus = 1, .cmdline = ""};
    uint64_t vtime_limit = 0;
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
    struct xs_sim sim;
    struct xs_sim_config cfg = {.seed = o.seed,
                                .console_out = stdout,
                                .log = stderr,
                                .trace_path = o.trace,
                                .vtime_limit_ns = vtime_limit};
    if (xs_sim_init(&sim, &cfg, err, sizeof(err))) {
        fprintf(stderr, "xensim: error: %s\n", err);
        return EXIT_BAD_INPUT;
    }
    struct xs_domain *d = xs_domain_create(&sim, &dc, err, sizeof(err));
    if (!d) {
        fprintf(stderr, "xensim: error: %s\n", err);
        xs_sim_destroy(&sim);
        return EXIT_BAD_INPUT;
    }
    xs_sim_run(&sim);
    fflush(stdout);
    if (sim.stop_reason[0]) fprintf(stderr, "xensim: stopped: %s\n", sim.stop_reason);
    fprintf(stderr,
            "xensim: domain %s ended: %s, vtime %" PRIu64 " ns, trace-hash %016" PRIx64
            "\n",
            d->name, xs_end_state_name(d->end_state), sim.vtime_ns, sim.trace.hash);
    int status = end_state_status(d->end_state);
    xs_sim_destroy(&sim);
    return status;
}

static int cmd_trace(int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[0], "dump"))
        return usage_error("usage: xensim trace dump FILE");
    char err[512];
    if (xs_trace_dump(argv[1], stdout, err, sizeof(err))) {
        fprintf(stderr, "xensim: error: %s\n", err);
        return EXIT_BAD_INPUT;
    }
    return 0;
}

static int cmd_help(int argc, char **argv);

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *usage;
} commands[] = {
    {"run", cmd_run, "run FILE [--seed N] [--trace OUT] [--guest-dir DIR] [--quiet]"},
    {"boot", cmd_boot,
     "boot IMAGE [--memory MIB] [--vcpus N] [--cmdline S] [--hypercalls direct|vmcall]\n"
     "            [--seed N] [--trace OUT] [--vtime-limit-ms N]"},
    {"trace", cmd_trace, "trace dump FILE"},
    {"help", cmd_help, "help"},
};

static int cmd_help(int argc, char **argv)
{
    (void)argc, (void)argv;
    puts("xensim: a deterministic simulator of the Xen hypervisor interface\n\nusage:");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        printf("  xensim %s\n", commands[i].usage);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) return usage_error("which command? (run, boot, trace, help)");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 2, argv + 2);
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) return cmd_help(0, NULL);
    return usage_error("unknown command '%s'", argv[1]);
}
