/* Running a parsed scenario once: build the simulation, run it, check the
 * expectations.  Shared by `xensim run` and `xensim explore`. */
#ifndef XS_SCENARIO_RUN_H
#define XS_SCENARIO_RUN_H
#include <stdint.h>
#include <stdio.h>

#include "scenario.h"

struct xs_domain_image;

struct xs_scenario_run_opts {
    uint64_t seed;
    const char *guest_dir;
    const char *trace_path;      /* or NULL */
    FILE *console;               /* guest consoles as "name| line", or NULL */
    FILE *report;                /* stopped:, ok/FAIL lines and the result line */
    FILE *log;                   /* xensim's own messages (crash reports) */
    const char *xenstore_socket; /* expose the store there (xenstore.h), or NULL */
    FILE *console_log;           /* a copy of the consoles (--console-log), or NULL */
    const char *migrate_log;     /* every migration's rounds as CSV, or NULL */
    /* The image for a domain whose restore file is "-": a stream already
     * read from a pipe (xensim restore -), which cannot be read again. */
    const struct xs_domain_image *restore_image;
};

struct xs_scenario_result {
    int status; /* 0 pass, 1 fail, 2 bad input (message in err) */
    uint64_t trace_hash;
    uint64_t vtime_ns;
    uint64_t exits;
    unsigned saves_ok, saves_failed;       /* `save` statements: file written / not */
    unsigned migrates_ok, migrates_failed; /* `migrate` statements */
    char err[1024];
};

void xs_scenario_run(const struct xs_scenario *scn, const struct xs_scenario_run_opts *o,
                     struct xs_scenario_result *res);
#endif
