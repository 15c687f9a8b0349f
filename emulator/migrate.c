/* Live migration's rounds (migrate.h): pre-copy while the domain runs,
 * stop-and-copy once it suspended, the destination built from the stream.
 * Every step is a toolstack action at a virtual time (xs_pvdev_at), so a
 * migration interleaves with the guests deterministically. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "domain_image.h"
#include "migrate_int.h"
#include "migstream_image.h"
#include "pvdev.h"
#include "sim.h"
#include "suspend.h"

/* ---- the link --------------------------------------------------------------------- */

static uint64_t transfer_ns(const struct xs_migration *m, uint64_t bytes)
{
    unsigned __int128 ns = (unsigned __int128)bytes * 1000000000u / m->cfg.bandwidth;
    return ns ? (uint64_t)ns : 1; /* time always moves: a round is never free */
}

static const char *link_name(const struct xs_migration *m)
{
    return strcmp(m->file, "-") ? m->file : "stdout";
}

static int write_all(int fd, const uint8_t *p, size_t n, char *err, size_t errlen)
{
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            snprintf(err, errlen, "%s", k < 0 ? strerror(errno) : "wrote nothing");
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Put what the writer produced since the last call on the link: the file
 * (or pipe) if any; the destination here reads buf itself.  A cut= link
 * drops at its byte.  0, or -1 with m->err. */
static int deliver(struct xs_migration *m)
{
    size_t n = m->buf.len - m->buf_delivered;
    bool cut = false;
    if (m->cfg.cut_bytes && m->delivered + n > m->cfg.cut_bytes) {
        n = (size_t)(m->cfg.cut_bytes - m->delivered);
        cut = true;
    }
    char why[256];
    if (m->fd >= 0 && n &&
        write_all(m->fd, m->buf.data + m->buf_delivered, n, why, sizeof(why))) {
        snprintf(m->err, sizeof(m->err),
                 "writing the stream to %.300s at byte %" PRIu64 ": %s", link_name(m),
                 m->delivered, why);
        return -1;
    }
    m->buf_delivered += n;
    m->delivered += n;
    if (cut) {
        snprintf(m->err, sizeof(m->err),
                 "the link dropped after %" PRIu64 " bytes of stream (cut=%" PRIu64 ")",
                 m->delivered, m->cfg.cut_bytes);
        return -1;
    }
    /* Nobody reads buf here: keep only what is not on the link yet. */
    if (m->cfg.send_only) m->buf.len = m->buf_delivered = 0;
    return 0;
}

static void close_link(struct xs_migration *m)
{
    if (m->own_fd && m->fd >= 0) close(m->fd);
    m->fd = -1;
    m->own_fd = false;
}

/* ---- outcome ---------------------------------------------------------------------- */

static struct xs_domain *domain_now(struct xs_migration *m)
{
    struct xs_sim *sim = m->sim;
    return m->cfg.dom_index < sim->nr_domains ? sim->domains[m->cfg.dom_index] : NULL;
}

/* What a destination here would have said about the stream it got. */
static void receiver_verdict(struct xs_migration *m, char *out, size_t len)
{
    out[0] = '\0';
    if (m->cfg.send_only || !m->buf.data) return;
    struct xs_ms_reader r;
    struct xs_domain_image img = {0};
    char why[768];
    int rc = xs_ms_reader_open_mem(&r, m->buf.data, m->buf_delivered);
    if (rc)
        snprintf(why, sizeof(why), "%s", r.err);
    else
        rc = xs_ms_load_image(&r, &img, NULL, why, sizeof(why));
    xs_ms_reader_close(&r);
    xs_domain_image_free(&img); /* the loader leaves it to free either way */
    if (rc) snprintf(out, len, "; the destination refused it: %s", why);
}

static void fail(struct xs_migration *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void fail(struct xs_migration *m, const char *fmt, ...)
{
    struct xs_sim *sim = m->sim;
    char why[sizeof(m->err)]; /* fmt's arguments may be m->err itself */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    memcpy(m->err, why, sizeof(why));
    enum mig_phase was = m->phase;
    m->phase = MIG_FAILED;
    xs_dirtylog_free(&m->dl);
    close_link(m);
    char verdict[900] = "";
    if (strstr(m->err, "link dropped")) receiver_verdict(m, verdict, sizeof(verdict));
    /* The source runs on: a suspended one as after a cancelled suspend. */
    struct xs_domain *d = domain_now(m);
    const char *after = "";
    char cerr[256];
    if (d && d->domid == m->src_domid && d->end_state == XS_END_RUNNING) {
        if (was >= MIG_STOPPING && d->suspended &&
            xs_suspend_cancel(d, cerr, sizeof(cerr)))
            after = " (and its suspend cannot be cancelled)";
    } else {
        after = " (the source domain is gone)";
    }
    xs_log(sim, "xensim: migration of %s (d%u) failed: %s%s; %s runs on%s", m->name,
           m->src_domid, m->err, verdict, m->name, after);
    if (verdict[0]) {
        size_t n = strlen(m->err);
        snprintf(m->err + n, sizeof(m->err) - n, "%s", verdict);
    }
}

static struct mig_round *add_round(struct xs_migration *m)
{
    if (m->nr_rounds == m->cap_rounds) {
        unsigned cap = m->cap_rounds ? 2 * m->cap_rounds : 8;
        struct mig_round *r = realloc(m->rounds, cap * sizeof(*r));
        if (!r) return NULL;
        m->rounds = r;
        m->cap_rounds = cap;
    }
    struct mig_round *r = &m->rounds[m->nr_rounds++];
    memset(r, 0, sizeof(*r));
    return r;
}

/* The source, if it is still the domain this migration started with. */
static struct xs_domain *source(struct xs_migration *m, const char *when)
{
    struct xs_domain *d = domain_now(m);
    if (!d || d->domid != m->src_domid) {
        fail(m, "the domain was replaced during %s (now %s%u)", when, d ? "d" : "gone ",
             d ? d->domid : 0);
        return NULL;
    }
    if (d->end_state != XS_END_RUNNING) {
        fail(m, "the domain ended (%s) during %s", xs_end_state_name(d->end_state), when);
        return NULL;
    }
    return d;
}

/* Xen's page of direct stubs jumps to xensim's host addresses: never sent
 * (as save leaves it out), the destination fills it again. */
static uint64_t hypercall_pfn(const struct xs_domain *d)
{
    return d->hc_mode == XS_HC_DIRECT && d->hypercall_page_gpa != XS_NO_GPA
               ? d->hypercall_page_gpa / XS_PAGE_SIZE
               : XS_DIRTYLOG_NO_PFN;
}

/* The pages of the last scan, from the shadow, into the stream. */
static int send_dirty(struct xs_migration *m)
{
    xs_dirtylog_commit(&m->dl);
    for (uint64_t i = 0; i < m->dl.nr_dirty; i += XS_MS_PAGE_BATCH) {
        uint64_t n = m->dl.nr_dirty - i;
        if (n > XS_MS_PAGE_BATCH) n = XS_MS_PAGE_BATCH;
        if (xs_ms_write_page_data(&m->w, m->dl.dirty + i, (unsigned)n,
                                  xs_dirtylog_shadow(&m->dl))) {
            snprintf(m->err, sizeof(m->err), "%s", m->w.err);
            return -1;
        }
    }
    return 0;
}

/* ---- the steps -------------------------------------------------------------------- */

static void round_due(struct xs_sim *sim, void *arg);
static void suspended(struct xs_domain *d, void *arg);
static void stop_timeout(struct xs_sim *sim, void *arg);
static void arrive(struct xs_sim *sim, void *arg);

static void start(struct xs_sim *sim, void *arg)
{
    struct xs_migration *m = arg;
    struct xs_domain *d = domain_now(m);
    if (!d) {
        m->phase = MIG_FAILED;
        snprintf(m->err, sizeof(m->err), "no domain at index %u", m->cfg.dom_index);
        xs_log(sim, "xensim: %s: migration failed: %s", m->where, m->err);
        return;
    }
    xs_migrate_note_first_runs(sim);
    snprintf(m->name, sizeof(m->name), "%s", d->name);
    m->src_domid = d->domid;
    m->phase = MIG_PRECOPY;
    if (d->end_state != XS_END_RUNNING || d->suspended) {
        fail(m, "the domain %s", d->suspended ? "is suspended" : "has ended");
        return;
    }
    for (const struct xs_migration *o = sim->migrations->head; o; o = o->next)
        if (o != m && o->cfg.dom_index == m->cfg.dom_index && o->phase >= MIG_PRECOPY &&
            o->phase <= MIG_ARRIVING) {
            fail(m, "migration %u of the domain is still under way", o->number);
            return;
        }
    if (m->cfg.file) {
        if (!strcmp(m->file, "-")) {
            m->fd = STDOUT_FILENO;
        } else {
            /* A FIFO's open waits for its reader, as a socket's connect would. */
            m->fd = open(m->file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
            m->own_fd = m->fd >= 0;
            if (m->fd < 0) {
                fail(m, "cannot open %s for the stream: %s", m->file, strerror(errno));
                return;
            }
        }
    }
    char err[512];
    struct xs_domain_image meta;
    if (xs_dirtylog_init(&m->dl, d->memfd, d->ram_bytes, err, sizeof(err)) ||
        xs_domain_image_capture_meta(d, &meta, err, sizeof(err))) {
        fail(m, "%s", err);
        return;
    }
    meta.suspend_vcpu = 0; /* not known yet: XENSIM_SUSPEND says */
    struct xs_ms_xensim_live live = {.version = XS_MS_XENSIM_VERSION,
                                     .max_rounds = m->cfg.max_rounds,
                                     .threshold = m->cfg.threshold,
                                     .bandwidth = m->cfg.bandwidth,
                                     .start_ns = sim->vtime_ns};
    xs_ms_writer_buf(&m->w, &m->buf);
    int rc = xs_ms_save_live_head(&m->w, &meta, &live, err, sizeof(err));
    xs_domain_image_free(&meta);
    if (rc) {
        fail(m, "%s", err);
        return;
    }
    if (deliver(m)) {
        fail(m, "%s", m->err);
        return;
    }
    xs_log(sim,
           "xensim: migrating %s (d%u): at most %u pre-copy rounds, stop at %" PRIu64
           " dirty pages, %" PRIu64 " bytes per virtual second%s%s",
           m->name, m->src_domid, m->cfg.max_rounds, m->cfg.threshold, m->cfg.bandwidth,
           m->cfg.file ? ", stream to " : "", m->cfg.file ? link_name(m) : "");
    round_due(sim, m);
}

/* Ask the guest to suspend: the stop-and-copy follows once it has. */
static void stop(struct xs_migration *m, const char *why)
{
    struct xs_sim *sim = m->sim;
    xs_log(sim, "xensim: migrate %s (d%u): %s: stop and copy", m->name, m->src_domid,
           why);
    m->phase = MIG_STOPPING;
    m->requested_ns = sim->vtime_ns;
    uint64_t timeout = m->cfg.timeout_ns ? m->cfg.timeout_ns : XS_SUSPEND_TIMEOUT_NS;
    if (xs_suspend_at_then(sim, m->cfg.dom_index, sim->vtime_ns, timeout, suspended, m) ||
        xs_pvdev_at(sim, sim->vtime_ns + timeout + 1, stop_timeout, m))
        fail(m, "out of memory");
}

static void round_due(struct xs_sim *sim, void *arg)
{
    struct xs_migration *m = arg;
    if (m->phase != MIG_PRECOPY) return;
    struct xs_domain *d = source(m, "pre-copy");
    if (!d) return;
    if (d->suspended) {
        fail(m, "the domain suspended by itself during pre-copy");
        return;
    }
    char err[512];
    int64_t n = xs_dirtylog_scan(&m->dl, hypercall_pfn(d), err, sizeof(err));
    if (n < 0) {
        fail(m, "%s", err);
        return;
    }
    unsigned done = m->nr_rounds;
    if (done) m->rounds[done - 1].dirtied = (uint64_t)n;
    char why[160];
    if (done >= m->cfg.max_rounds) {
        snprintf(why, sizeof(why), "%u pre-copy round%s done, %" PRId64 " pages dirty",
                 done, done == 1 ? "" : "s", n);
        stop(m, why);
        return;
    }
    if (done && (uint64_t)n <= m->cfg.threshold) {
        snprintf(why, sizeof(why),
                 "%" PRId64 " pages dirtied in round %u, at most %" PRIu64, n, done,
                 m->cfg.threshold);
        stop(m, why);
        return;
    }
    struct mig_round *r = add_round(m);
    if (!r) {
        fail(m, "out of memory");
        return;
    }
    uint64_t before = m->w.offset;
    if (send_dirty(m) || deliver(m)) {
        fail(m, "%s", m->err);
        return;
    }
    r->start_ns = sim->vtime_ns;
    r->pages = (uint64_t)n;
    r->bytes = m->w.offset - before;
    r->duration_ns = transfer_ns(m, r->bytes);
    xs_log(sim,
           "xensim: migrate %s (d%u) round %u: %" PRIu64 " pages, %" PRIu64
           " bytes, %" PRIu64 " ns",
           m->name, m->src_domid, m->nr_rounds, r->pages, r->bytes, r->duration_ns);
    if (xs_pvdev_at(sim, sim->vtime_ns + r->duration_ns, round_due, m))
        fail(m, "out of memory");
}

static void stop_timeout(struct xs_sim *sim, void *arg)
{
    (void)sim;
    struct xs_migration *m = arg;
    if (m->phase != MIG_STOPPING) return;
    /* suspend.c gave up too (it withdrew the request). */
    uint64_t timeout = m->cfg.timeout_ns ? m->cfg.timeout_ns : XS_SUSPEND_TIMEOUT_NS;
    fail(m, "the guest did not suspend within %" PRIu64 " ns", timeout);
}

/* The domain suspended (after the toolstack's XS_SUSPEND_TOOLSTACK_NS):
 * the last dirty pages and the state go out. */
static void suspended(struct xs_domain *d, void *arg)
{
    struct xs_migration *m = arg;
    struct xs_sim *sim = d->sim;
    if (m->phase != MIG_STOPPING || d->domid != m->src_domid) return;
    m->suspended_ns = d->suspended_ns;
    char err[512];
    int64_t n = xs_dirtylog_scan(&m->dl, hypercall_pfn(d), err, sizeof(err));
    if (n < 0) {
        fail(m, "%s", err);
        return;
    }
    struct mig_round *r = add_round(m);
    struct xs_domain_image meta;
    if (!r || xs_domain_image_capture_meta(d, &meta, err, sizeof(err))) {
        fail(m, "%s", r ? err : "out of memory");
        return;
    }
    uint64_t before = m->w.offset;
    if (send_dirty(m)) {
        xs_domain_image_free(&meta);
        fail(m, "%s", m->err);
        return;
    }
    struct xs_ms_sim_state st = {.seed = sim->cfg.seed,
                                 .prng = sim->prng,
                                 .exits = sim->nr_exits,
                                 .present = true};
    struct xs_ms_xensim_suspend susp = {.suspend_vcpu = d->suspend_vcpu,
                                        .rounds = m->nr_rounds - 1,
                                        .hypercall_page_gpa = d->hypercall_page_gpa,
                                        .suspended_ns = d->suspended_ns};
    /* The tail says when the stream is complete (its time is the guest's
     * TSC in the destination): measure it once, then write it for real. */
    struct xs_ms_buf scratch = {0};
    struct xs_ms_writer sw;
    xs_ms_writer_buf(&sw, &scratch);
    int rc = xs_ms_save_live_tail(&sw, &meta, &st, &susp, err, sizeof(err));
    uint64_t tail = sw.offset;
    xs_ms_buf_free(&scratch);
    if (!rc) {
        r->start_ns = sim->vtime_ns;
        r->pages = (uint64_t)n;
        r->bytes = m->w.offset - before + tail;
        r->duration_ns = transfer_ns(m, r->bytes);
        r->final = true;
        m->arrival_ns = sim->vtime_ns + r->duration_ns;
        meta.vtime_ns = m->arrival_ns;
        rc = xs_ms_save_live_tail(&m->w, &meta, &st, &susp, err, sizeof(err));
    }
    xs_domain_image_free(&meta);
    if (rc) {
        fail(m, "%s", err);
        return;
    }
    if (deliver(m)) {
        fail(m, "%s", m->err);
        return;
    }
    xs_dirtylog_free(&m->dl);
    close_link(m);
    xs_log(sim,
           "xensim: migrate %s (d%u): suspended at %" PRIu64
           " ns; stop and copy: %" PRIu64 " pages, %" PRIu64 " bytes, %" PRIu64 " ns",
           m->name, m->src_domid, m->suspended_ns, r->pages, r->bytes, r->duration_ns);
    if (m->cfg.send_only) {
        /* The destination is another process: the stream is all it needs. */
        m->phase = MIG_DONE;
        xs_log(sim, "xensim: migrate %s (d%u): %" PRIu64 " bytes sent; the source ends",
               m->name, m->src_domid, m->delivered);
        xs_suspend_finish(d);
        return;
    }
    m->phase = MIG_ARRIVING;
    if (xs_pvdev_at(sim, m->arrival_ns, arrive, m)) fail(m, "out of memory");
}

/* The whole stream is at the destination: it reads it, checking every
 * record, and only then does the source go. */
static void arrive(struct xs_sim *sim, void *arg)
{
    struct xs_migration *m = arg;
    if (m->phase != MIG_ARRIVING) return;
    struct xs_domain *d = source(m, "the stop-and-copy");
    if (!d) return;
    xs_migrate_note_first_runs(sim);
    struct xs_ms_reader r;
    struct xs_domain_image img = {0};
    struct xs_ms_sim_state st;
    char err[900];
    int rc = xs_ms_reader_open_mem(&r, m->buf.data, m->buf.len);
    if (rc)
        snprintf(err, sizeof(err), "%s", r.err);
    else
        rc = xs_ms_load_image(&r, &img, &st, err, sizeof(err));
    xs_ms_reader_close(&r);
    if (rc) {
        xs_domain_image_free(&img);
        fail(m, "the destination refused the stream: %s", err);
        return;
    }
    struct xs_domain *n = xs_suspend_resume_image(d, &img, err, sizeof(err));
    xs_domain_image_free(&img);
    if (!n) {
        fail(m, "the destination could not be built: %s", err);
        return;
    }
    m->phase = MIG_DONE;
    m->dst_domid = n->domid;
    xs_ms_buf_free(&m->buf); /* the stream has served */
    m->buf_delivered = 0;
    xs_log(sim,
           "xensim: %s migrated: d%u -> d%u, %u pre-copy round%s, %" PRIu64
           " bytes of stream; runnable at %" PRIu64 " ns",
           n->name, m->src_domid, n->domid, m->nr_rounds - 1,
           m->nr_rounds == 2 ? "" : "s", m->delivered, sim->vtime_ns);
}

/* ---- scheduling ------------------------------------------------------------------- */

int xs_migrate_at(struct xs_sim *sim, const struct xs_migrate_cfg *cfg)
{
    if (cfg->bandwidth == 0 || cfg->bandwidth > XS_MIGRATE_BW_MAX) return -1;
    if (!sim->migrations && !(sim->migrations = calloc(1, sizeof(*sim->migrations))))
        return -1;
    struct xs_migration *m = calloc(1, sizeof(*m));
    if (!m) return -1;
    m->sim = sim;
    m->cfg = *cfg;
    m->fd = -1;
    m->first_run_ns = MIG_NO_TIME;
    if ((cfg->file &&
         snprintf(m->file, sizeof(m->file), "%s", cfg->file) >= (int)sizeof(m->file)) ||
        (cfg->log_path && snprintf(m->log_path, sizeof(m->log_path), "%s",
                                   cfg->log_path) >= (int)sizeof(m->log_path))) {
        free(m);
        return -1;
    }
    snprintf(m->where, sizeof(m->where), "%s", cfg->where ? cfg->where : "migrate");
    m->cfg.file = cfg->file ? m->file : NULL;
    m->cfg.log_path = cfg->log_path ? m->log_path : NULL;
    m->cfg.where = m->where;
    snprintf(m->name, sizeof(m->name), "domain %u", cfg->dom_index);
    if (xs_pvdev_at(sim, cfg->at_ns, start, m)) {
        free(m);
        return -1;
    }
    struct xs_migrations *all = sim->migrations;
    m->number = ++all->count;
    if (all->tail)
        all->tail->next = m;
    else
        all->head = m;
    all->tail = m;
    return 0;
}

void xs_migrate_sim_free(struct xs_sim *sim)
{
    if (!sim->migrations) return;
    for (struct xs_migration *m = sim->migrations->head, *n; m; m = n) {
        n = m->next;
        xs_dirtylog_free(&m->dl);
        close_link(m);
        xs_ms_buf_free(&m->buf);
        free(m->rounds);
        free(m);
    }
    free(sim->migrations);
    sim->migrations = NULL;
}
