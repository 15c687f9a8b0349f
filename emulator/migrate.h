/* Live migration, as xl migrate does it (docs/migration.md "Live
 * migration"): pre-copy rounds of guest RAM while the domain runs, each
 * sending the pages dirtied since the last (dirtylog.h), then, once few
 * pages are dirty or the rounds are used up, the guest is suspended
 * through the normal control/shutdown path (suspend.c), the last dirty
 * pages, vCPU state and params go out and the stream ends.  The stream is
 * Xen's libxc migration stream with xensim's live records
 * (migstream_image.h).
 *
 * Time is virtual: a round takes as long as its bytes take at the
 * migration's bandwidth, and the domain (and every other) runs meanwhile.
 * The destination is built here, in the same simulation, from the stream
 * (a new domid; the source is destroyed), or in another xensim process
 * that reads the stream from a pipe (`xensim migrate-send` / `xensim
 * restore -`).  Downtime runs from the guest's suspend to the
 * destination's first run.  A migration that fails -- the stream cannot
 * be written, the link drops, the destination refuses the stream, the
 * guest never suspends -- leaves the source running, nothing lost: a
 * suspended source is resumed as after a cancelled suspend. */
#ifndef XS_MIGRATE_H
#define XS_MIGRATE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct xs_sim;

/* libxc's defaults for rounds and threshold; a 10 Gbit/s link. */
#define XS_MIGRATE_ROUNDS    5u
#define XS_MIGRATE_THRESHOLD 50u
#define XS_MIGRATE_BANDWIDTH 1250000000ULL /* bytes per virtual second */
#define XS_MIGRATE_BW_MAX    (1ULL << 40)

struct xs_migrate_cfg {
    unsigned dom_index;   /* in sim->domains: its incarnation at at_ns */
    uint64_t at_ns;       /* the first round starts */
    unsigned max_rounds;  /* pre-copy rounds at most (0: stop and copy at once) */
    uint64_t threshold;   /* stop when at most this many pages are dirty */
    uint64_t bandwidth;   /* bytes per virtual second, 1..XS_MIGRATE_BW_MAX */
    uint64_t timeout_ns;  /* for the guest to suspend (0: suspend.c's default) */
    const char *file;     /* also write the stream here ("-": stdout), or NULL */
    bool send_only;       /* no destination here: the source ends once sent */
    uint64_t cut_bytes;   /* testing: the link drops after this many bytes */
    const char *log_path; /* the rounds as CSV, written after the run, or NULL */
    const char *where;    /* "FILE:LINE" for messages, or NULL */
};

/* Schedule a migration (strings are copied).  0, or -1 when out of memory
 * or cfg is out of range. */
int xs_migrate_at(struct xs_sim *sim, const struct xs_migrate_cfg *cfg);

/* After the run: each migration's downtime (its destination's first run),
 * a summary line per migration in the log, each log= file, and all of
 * them into csv_path if not NULL.  0, or -1 if a CSV file could not be
 * written (said in the log). */
int xs_migrate_sim_report(struct xs_sim *sim, const char *csv_path);

/* The migrations of the domain at dom_index: how many finished, how many
 * failed, and the longest downtime of those that finished (0 if none). */
void xs_migrate_outcome(const struct xs_sim *sim, unsigned dom_index, unsigned *ok,
                        unsigned *failed, uint64_t *max_downtime_ns);

/* Write every migration's rounds as CSV to f (a header line, then one line
 * per round). */
void xs_migrate_csv(const struct xs_sim *sim, FILE *f);

void xs_migrate_sim_free(struct xs_sim *sim);
#endif
