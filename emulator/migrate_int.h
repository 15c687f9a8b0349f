/* Live migration's state, shared by migrate.c (the rounds) and
 * migrate_report.c (summary, CSV, outcomes). */
#ifndef XS_MIGRATE_INT_H
#define XS_MIGRATE_INT_H
#include <limits.h>
#include <xen/xen.h>

#include "dirtylog.h"
#include "migrate.h"
#include "migstream.h"

enum mig_phase {
    MIG_WAITING,  /* before at_ns */
    MIG_PRECOPY,  /* rounds while the domain runs */
    MIG_STOPPING, /* asked to suspend */
    MIG_ARRIVING, /* all sent: the destination is built at arrival_ns */
    MIG_DONE,
    MIG_FAILED,
};

struct mig_round {
    uint64_t start_ns, duration_ns;
    uint64_t pages;   /* sent in this round */
    uint64_t dirtied; /* dirtied while it was sent (found by the next scan) */
    uint64_t bytes;   /* of stream this round produced */
    bool final;       /* the stop-and-copy, domain suspended */
};

#define MIG_NO_TIME UINT64_MAX

struct xs_migration {
    struct xs_sim *sim;
    unsigned number; /* 1, 2, ... in the order they were given */
    struct xs_migrate_cfg cfg;
    char file[PATH_MAX], log_path[PATH_MAX], where[PATH_MAX + 16];
    char name[32]; /* the domain's */
    enum mig_phase phase;
    domid_t src_domid, dst_domid;
    struct xs_dirtylog dl;
    /* The stream: built in buf, delivered to the link (file, destination). */
    struct xs_ms_buf buf;
    struct xs_ms_writer w;
    size_t buf_delivered; /* bytes of buf already on the link */
    uint64_t delivered;   /* bytes on the link in all */
    int fd;               /* file=, or -1 */
    bool own_fd;
    struct mig_round *rounds;
    unsigned nr_rounds, cap_rounds;
    uint64_t requested_ns, suspended_ns, arrival_ns, first_run_ns;
    char err[1024];
    struct xs_migration *next;
};

struct xs_migrations {
    struct xs_migration *head, *tail;
    unsigned count;
};

/* A finished migration's destination that has run: its downtime known.
 * Looks every finished migration's destination up (migrate_report.c). */
void xs_migrate_note_first_runs(struct xs_sim *sim);
#endif
