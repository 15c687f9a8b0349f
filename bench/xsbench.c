/* xsbench: host-side figures for xenstored and grant tables (`make bench`,
 * ci/bench), each with an anchor measured here in the same run.
 *
 *   xsbench xenstore XENSIM [N_SOCKET [N_RING]]
 *     Small-node XS_WRITE and XS_READ, one request in flight, to NKEYS nodes
 *     in turn (created before timing, so writes overwrite):
 *       xs.socket_*   to `XENSIM xenstored --socket` over a real AF_UNIX
 *                     socket (a Dom0 client, as xenstore-utils are)
 *       xs.echo_ns    anchor: the same request bytes echoed by a bare process
 *                     over a socketpair, i.e. the socket round trip alone
 *       xs.ring_*     a guest domain's ring page (xs_xenstore_ring_conn), the
 *                     client's indexes handled as a guest's; xs_xenstore_service
 *                     between request and reply
 *       xs.mem_*      an in-memory Dom0 connection: the store engine alone
 *   xsbench gnttab [GUEST_DIR]   (default $XENSIM_GUEST_DIR, else build/guests)
 *     Two domains built from basic.elf (never run); domain 1 grants NPAGES
 *     pages to domain 0 (xensim's backends) and to domain 2:
 *       gnt.map_unmap_ns      xs_gnttab_backend_map + _unmap
 *       gnt.mmap_munmap_ns    anchor: mmap + munmap of a memfd page, the
 *                             syscalls a backend map is built on
 *       gnt.map_copy_unmap_ns map, memcpy the page out, unmap
 *       gnt.copy_ns           xs_gnttab_backend_copy of 4096 bytes out
 *       gnt.memcpy_ns         anchor: memcpy of the same pages to the same
 *                             buffer
 *       gnt.guest_map_unmap_ns domain 2's GNTTABOP_map_grant_ref +
 *                             unmap_grant_ref through the hypercall handler
 *                             (xs_hypercall_call: no trap, no guest code)
 *
 * Every figure is ns per operation, the best of REPS timed loops (SOCK_REPS
 * over sockets) in host wall time; xs.ring_notifications counts the ring's
 * event-channel kicks.  Output: "key value" lines; errors on stderr and exit
 * status 1. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xen/xen.h>
#include <xen/grant_table.h>
#include <xen/memory.h>
#include <xen/io/xs_wire.h>

#include "gnttab.h"
#include "hypercall.h"
#include "sim.h"
#include "xenstore.h"

#define REPS        5
#define SOCK_REPS   3
#define NKEYS       256
#define VALUE_BYTES 16
#define RING_DOMID  1u
#define NPAGES      64u
#define PAGE        4096u
/* Guest physical layout of the gnttab domains (as tests/unit/test_gnttab.c):
 * argument area, grant frame 0, granted pages, where domain 2 maps. */
#define SCRATCH    0x800000ULL
#define GT_GFN     0xa00ULL
#define DATA_GFN   0xb00ULL
#define MAP_GFN    0xc00ULL
#define FIRST_REF  8u /* after the reserved entries */
#define GUEST_REF0 (FIRST_REF + NPAGES)

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void barrier_on(const void *p)
{
    __asm__ __volatile__("" ::"r"(p) : "memory");
}

/* ==== xenstore ============================================================= */

enum transport { T_SOCKET, T_ECHO, T_RING, T_MEM };

struct client {
    enum transport t;
    int fd;                                 /* T_SOCKET, T_ECHO */
    struct xs_xenstore *xs;                 /* T_RING, T_MEM */
    struct xst_conn *conn;                  /* T_MEM */
    struct xenstore_domain_interface *intf; /* T_RING */
    unsigned home;                          /* domid whose nodes it uses */
    uint32_t req_id;
    unsigned notified;
};

static int write_all(int fd, const void *p, size_t len)
{
    const char *b = p;
    while (len) {
        ssize_t n = write(fd, b, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

static int read_all(int fd, void *p, size_t len)
{
    char *b = p;
    while (len) {
        ssize_t n = read(fd, b, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The guest's side of the request ring: only the producer index is ours;
 * the consumer index is xenstored's and is read with acquire ordering. */
static int ring_put(struct xenstore_domain_interface *intf, const void *p, size_t len)
{
    XENSTORE_RING_IDX cons = __atomic_load_n(&intf->req_cons, __ATOMIC_ACQUIRE);
    XENSTORE_RING_IDX prod = intf->req_prod;
    if (len > XENSTORE_RING_SIZE - (prod - cons)) return -1; /* one in flight: fits */
    size_t first = XENSTORE_RING_SIZE - MASK_XENSTORE_IDX(prod);
    if (first > len) first = len;
    memcpy(intf->req + MASK_XENSTORE_IDX(prod), p, first);
    memcpy(intf->req, (const char *)p + first, len - first);
    __atomic_store_n(&intf->req_prod, prod + (XENSTORE_RING_IDX)len, __ATOMIC_RELEASE);
    return 0;
}

/* len bytes of the reply; xenstored is serviced while none are there. */
static int ring_get(struct client *cl, void *p, size_t len)
{
    struct xenstore_domain_interface *intf = cl->intf;
    char *b = p;
    int idle = 0;
    while (len) {
        XENSTORE_RING_IDX cons = intf->rsp_cons;
        XENSTORE_RING_IDX prod = __atomic_load_n(&intf->rsp_prod, __ATOMIC_ACQUIRE);
        if (prod - cons > XENSTORE_RING_SIZE) return -1;
        if (prod == cons) {
            if (++idle > 4) return -1; /* xenstored has nothing for us */
            xs_xenstore_service(cl->xs);
            continue;
        }
        size_t n = prod - cons, to_end = XENSTORE_RING_SIZE - MASK_XENSTORE_IDX(cons);
        if (n > to_end) n = to_end;
        if (n > len) n = len;
        memcpy(b, intf->rsp + MASK_XENSTORE_IDX(cons), n);
        __atomic_store_n(&intf->rsp_cons, cons + (XENSTORE_RING_IDX)n, __ATOMIC_RELEASE);
        b += n;
        len -= n;
        idle = 0;
    }
    return 0;
}

static int mem_get(struct client *cl, void *p, size_t len)
{
    char *b = p;
    int idle = 0;
    while (len) {
        size_t n = xs_xenstore_conn_recv(cl->conn, b, len);
        if (!n) {
            if (++idle > 4) return -1;
            xs_xenstore_service(cl->xs);
            continue;
        }
        b += n;
        len -= n;
        idle = 0;
    }
    return 0;
}

static void ring_notify(void *arg, evtchn_port_t port)
{
    (void)port;
    ((struct client *)arg)->notified++;
}

/* One request and its reply.  msg holds the header and payload. */
static int exchange(struct client *cl, const void *msg, size_t len,
                    struct xsd_sockmsg *rh, char *rbuf, size_t cap)
{
    int rc;
    switch (cl->t) {
    case T_SOCKET:
    case T_ECHO:
        rc = write_all(cl->fd, msg, len) || read_all(cl->fd, rh, sizeof(*rh));
        if (!rc && rh->len > cap) return -1;
        return rc || read_all(cl->fd, rbuf, rh->len) ? -1 : 0;
    case T_RING:
        if (ring_put(cl->intf, msg, len)) return -1;
        xs_xenstore_service(cl->xs);
        if (ring_get(cl, rh, sizeof(*rh)) || rh->len > cap) return -1;
        return ring_get(cl, rbuf, rh->len);
    case T_MEM:
        if (xs_xenstore_conn_send(cl->conn, msg, len)) return -1;
        xs_xenstore_service(cl->xs);
        if (mem_get(cl, rh, sizeof(*rh)) || rh->len > cap) return -1;
        return mem_get(cl, rbuf, rh->len);
    }
    return -1;
}

static void value_of(unsigned key, char v[VALUE_BYTES + 1])
{
    snprintf(v, VALUE_BYTES + 1, "value-%010u", key);
}

/* XS_WRITE (write) or XS_READ of key key, with the reply checked. */
static int xs_op(struct client *cl, bool write, unsigned key)
{
    char msg[sizeof(struct xsd_sockmsg) + 128];
    char *pl = msg + sizeof(struct xsd_sockmsg);
    int n = snprintf(pl, 96, "/local/domain/%u/bench/k%03u", cl->home, key) + 1;
    char val[VALUE_BYTES + 1];
    value_of(key, val);
    if (write) {
        memcpy(pl + n, val, VALUE_BYTES);
        n += VALUE_BYTES;
    }
    struct xsd_sockmsg h = {
        .type = write ? XS_WRITE : XS_READ, .req_id = ++cl->req_id, .len = (uint32_t)n};
    memcpy(msg, &h, sizeof(h));
    struct xsd_sockmsg rh;
    char rbuf[XENSTORE_PAYLOAD_MAX + 1];
    if (exchange(cl, msg, sizeof(h) + (size_t)n, &rh, rbuf, XENSTORE_PAYLOAD_MAX)) {
        fprintf(stderr, "xsbench: transport %d: no reply to request %u\n", (int)cl->t,
                h.req_id);
        return -1;
    }
    if (cl->t == T_ECHO) return memcmp(&rh, &h, sizeof(h)) ? -1 : 0;
    rbuf[rh.len] = '\0';
    if (rh.type != h.type || rh.req_id != h.req_id) {
        fprintf(stderr, "xsbench: transport %d: reply type %u id %u to %s id %u%s%s\n",
                (int)cl->t, rh.type, rh.req_id, write ? "WRITE" : "READ", h.req_id,
                rh.type == XS_ERROR ? ": " : "", rh.type == XS_ERROR ? rbuf : "");
        return -1;
    }
    if (!write && (rh.len != VALUE_BYTES || memcmp(rbuf, val, VALUE_BYTES))) {
        fprintf(stderr, "xsbench: transport %d: read the wrong value\n", (int)cl->t);
        return -1;
    }
    return 0;
}

/* Best ns per op over reps loops of n ops; < 0 on failure. */
static double time_ops(struct client *cl, bool write, unsigned n, int reps)
{
    double best = -1;
    for (int r = 0; r < reps; r++) {
        double t0 = now_ns();
        for (unsigned i = 0; i < n; i++)
            if (xs_op(cl, write, i % NKEYS)) return -1;
        double t = (now_ns() - t0) / n;
        if (best < 0 || t < best) best = t;
    }
    return best;
}

/* Creates the nodes first, so every timed write is an overwrite. */
static int bench_client(struct client *cl, const char *name, unsigned n, int reps)
{
    for (unsigned k = 0; k < NKEYS; k++)
        if (xs_op(cl, true, k)) return -1;
    double w = time_ops(cl, true, n, reps);
    double r = w < 0 ? -1 : time_ops(cl, false, n, reps);
    if (r < 0) return -1;
    printf("xs.%s_write_ns %.1f\nxs.%s_read_ns %.1f\n", name, w, name, r);
    return 0;
}

/* The bare socket round trip: a child echoing each message back. */
static int bench_echo(unsigned n)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        close(sv[0]);
        char buf[sizeof(struct xsd_sockmsg) + XENSTORE_PAYLOAD_MAX];
        struct xsd_sockmsg h;
        while (!read_all(sv[1], &h, sizeof(h)) && h.len <= XENSTORE_PAYLOAD_MAX &&
               !read_all(sv[1], buf + sizeof(h), h.len)) {
            memcpy(buf, &h, sizeof(h));
            if (write_all(sv[1], buf, sizeof(h) + h.len)) break;
        }
        _exit(0);
    }
    close(sv[1]);
    struct client cl = {.t = T_ECHO, .fd = sv[0]};
    double t = time_ops(&cl, true, n, SOCK_REPS);
    close(sv[0]);
    waitpid(pid, NULL, 0);
    if (t < 0) return -1;
    printf("xs.echo_ns %.1f\n", t);
    return 0;
}

static void show_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof(line), f))
        fprintf(stderr, "  %s", line);
    fclose(f);
}

/* xenstored as its own process, as xenstore-utils find it. */
static int bench_socket(const char *xensim, unsigned n)
{
    char dir[] = "/tmp/xsbench.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("xsbench: mkdtemp");
        return -1;
    }
    char sock[sizeof(dir) + 16], logp[sizeof(dir) + 16];
    snprintf(sock, sizeof(sock), "%s/xs.sock", dir);
    snprintf(logp, sizeof(logp), "%s/xenstored.log", dir);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        /* Never outlive the bench, whatever happens to it. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        int lfd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (lfd >= 0) dup2(lfd, 2);
        execl(xensim, xensim, "xenstored", "--socket", sock, (char *)NULL);
        fprintf(stderr, "exec %s: %s\n", xensim, strerror(errno));
        _exit(127);
    }
    int rc = -1, fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
    bool up = false;
    for (int i = 0; i < 500 && fd >= 0 && !up; i++) { /* up to 5 s */
        if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
            up = true;
        } else if (waitpid(pid, NULL, WNOHANG) == pid) {
            pid = -1;
            break;
        } else {
            nanosleep(&(struct timespec){0, 10000000}, NULL);
        }
    }
    if (up) {
        struct client cl = {.t = T_SOCKET, .fd = fd, .home = 0};
        rc = bench_client(&cl, "socket", n, SOCK_REPS);
    } else {
        fprintf(stderr, "xsbench: %s xenstored did not listen on %s\n", xensim, sock);
    }
    if (fd >= 0) close(fd);
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
    if (rc) show_file(logp);
    unlink(logp);
    unlink(sock); /* xenstored removes it; not if it died */
    rmdir(dir);
    return rc;
}

static int bench_inproc(unsigned n)
{
    FILE *log = tmpfile();
    struct xs_xenstore *xs = log ? xs_xenstore_new(log) : NULL;
    struct xenstore_domain_interface *intf = aligned_alloc(PAGE, PAGE);
    int rc = -1;
    if (!xs || !intf) goto out;
    memset(intf, 0, PAGE);
    /* A guest's ring, with its home directory as libxl makes it. */
    struct client ring = {.t = T_RING, .xs = xs, .intf = intf, .home = RING_DOMID};
    char home[64];
    snprintf(home, sizeof(home), "/local/domain/%u", RING_DOMID);
    char perms[16];
    snprintf(perms, sizeof(perms), "n%u", RING_DOMID);
    if (!xs_xenstore_ring_conn(xs, RING_DOMID, intf, 1, ring_notify, &ring) ||
        xs_xenstore_mknod(xs, home, perms))
        goto out;
    if (bench_client(&ring, "ring", n, REPS)) goto out;
    struct client mem = {.t = T_MEM, .xs = xs, .home = 0};
    if (!(mem.conn = xs_xenstore_mem_conn(xs, 0))) goto out;
    if (bench_client(&mem, "mem", n, REPS)) goto out;
    printf("xs.ring_notifications %u\n", ring.notified);
    rc = xs_xenstore_corruptions(xs) ? -1 : 0;
out:
    if (rc) {
        fprintf(stderr, "xsbench: in-process xenstored failed\n");
        if (log) {
            rewind(log);
            char line[512];
            while (fgets(line, sizeof(line), log))
                fprintf(stderr, "  %s", line);
        }
    }
    xs_xenstore_free(xs);
    free(intf);
    if (log) fclose(log);
    return rc;
}

static int cmd_xenstore(const char *xensim, unsigned n_socket, unsigned n_ring)
{
    signal(SIGPIPE, SIG_IGN); /* a dead peer is an error return, not death */
    printf("xs.keys %u\nxs.value_bytes %u\nxs.n_socket %u\nxs.n_ring %u\n", NKEYS,
           VALUE_BYTES, n_socket, n_ring);
    int rc = 0;
    rc |= bench_echo(n_socket);
    rc |= bench_socket(xensim, n_socket);
    rc |= bench_inproc(n_ring);
    return rc ? 1 : 0;
}

/* ==== grant tables ========================================================= */

static struct xs_domain *add_domain(struct xs_sim *s, const char *dir, const char *name)
{
    char path[4096], err[512] = "";
    snprintf(path, sizeof(path), "%s/basic.elf", dir);
    struct xs_domain_config dc = {.name = name,
                                  .image_path = path,
                                  .memory_mib = 64,
                                  .vcpus = 1,
                                  .cmdline = "",
                                  .hypercalls = XS_HC_DIRECT};
    struct xs_domain *d = xs_domain_create(s, &dc, err, sizeof(err));
    if (!d) {
        fprintf(stderr, "xsbench: xs_domain_create %s: %s\n", path, err);
        return NULL;
    }
    if (d->image.paddr_hi > SCRATCH || d->start_info_pa >= SCRATCH) {
        fprintf(stderr, "xsbench: %s overlaps the bench's guest memory layout\n", path);
        return NULL;
    }
    return d;
}

/* A grant table sub-op as the guest makes it: arguments in its RAM. */
static long gop(struct xs_vcpu *v, unsigned cmd, void *arg, size_t size)
{
    uint8_t *scratch = v->dom->base + SCRATCH;
    memcpy(scratch, arg, size);
    const uint64_t a[5] = {cmd, (uint64_t)(uintptr_t)scratch, 1};
    long rc = xs_hypercall_call(v, __HYPERVISOR_grant_table_op, a);
    memcpy(arg, scratch, size);
    return rc;
}

/* Domain d places grant frame 0 at GT_GFN (XENMEM_add_to_physmap). */
static long place_frame(struct xs_vcpu *v)
{
    struct xen_add_to_physmap x = {
        .domid = DOMID_SELF, .space = XENMAPSPACE_grant_table, .idx = 0, .gpfn = GT_GFN};
    uint8_t *scratch = v->dom->base + SCRATCH;
    memcpy(scratch, &x, sizeof(x));
    const uint64_t a[5] = {XENMEM_add_to_physmap, (uint64_t)(uintptr_t)scratch};
    return xs_hypercall_call(v, __HYPERVISOR_memory_op, a);
}

typedef int (*gnt_step)(void *ctx, unsigned i);

static double time_steps(gnt_step f, void *ctx, unsigned n)
{
    double best = -1;
    for (int r = 0; r < REPS; r++) {
        double t0 = now_ns();
        for (unsigned i = 0; i < n; i++)
            if (f(ctx, i % NPAGES)) return -1;
        double t = (now_ns() - t0) / n;
        if (best < 0 || t < best) best = t;
    }
    return best;
}

struct gctx {
    struct xs_domain *a; /* the granter */
    struct xs_vcpu *b0;  /* the guest mapper */
    int memfd;           /* anchor pages */
    uint8_t *buf;        /* a backend's buffer */
};

static int step_map_unmap(void *p, unsigned i)
{
    struct gctx *g = p;
    void *ptr;
    grant_handle_t h;
    if (xs_gnttab_backend_map(g->a, FIRST_REF + i, false, &ptr, &h) != GNTST_okay)
        return -1;
    return xs_gnttab_backend_unmap(g->a, h) != GNTST_okay;
}

static int step_mmap_munmap(void *p, unsigned i)
{
    struct gctx *g = p;
    void *ptr =
        mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, g->memfd, (off_t)i * PAGE);
    if (ptr == MAP_FAILED) return -1;
    return munmap(ptr, PAGE);
}

static int step_map_copy_unmap(void *p, unsigned i)
{
    struct gctx *g = p;
    void *ptr;
    grant_handle_t h;
    if (xs_gnttab_backend_map(g->a, FIRST_REF + i, true, &ptr, &h) != GNTST_okay)
        return -1;
    memcpy(g->buf, ptr, PAGE);
    barrier_on(g->buf);
    return xs_gnttab_backend_unmap(g->a, h) != GNTST_okay;
}

static int step_copy(void *p, unsigned i)
{
    struct gctx *g = p;
    int rc = xs_gnttab_backend_copy(g->a, FIRST_REF + i, 0, g->buf, PAGE, false);
    barrier_on(g->buf);
    return rc != GNTST_okay;
}

static int step_memcpy(void *p, unsigned i)
{
    struct gctx *g = p;
    memcpy(g->buf, g->a->base + (DATA_GFN + i) * PAGE, PAGE);
    barrier_on(g->buf);
    return 0;
}

static int step_guest_map_unmap(void *p, unsigned i)
{
    struct gctx *g = p;
    struct gnttab_map_grant_ref m = {.host_addr = MAP_GFN * PAGE,
                                     .flags = GNTMAP_host_map,
                                     .ref = GUEST_REF0 + i,
                                     .dom = g->a->domid};
    if (gop(g->b0, GNTTABOP_map_grant_ref, &m, sizeof(m)) || m.status != GNTST_okay)
        return -1;
    struct gnttab_unmap_grant_ref u = {.host_addr = MAP_GFN * PAGE, .handle = m.handle};
    return gop(g->b0, GNTTABOP_unmap_grant_ref, &u, sizeof(u)) || u.status != GNTST_okay;
}

static int cmd_gnttab(const char *dir, unsigned n)
{
    FILE *log = tmpfile();
    if (!log) return 1;
    struct xs_sim sim;
    struct xs_sim_config cfg = {.seed = 1, .log = log};
    char err[512] = "";
    if (xs_sim_init(&sim, &cfg, err, sizeof(err))) {
        fprintf(stderr, "xsbench: xs_sim_init: %s\n", err);
        return 1;
    }
    int rc = 1;
    struct gctx g = {.memfd = -1};
    struct xs_domain *b = NULL;
    if (!(g.a = add_domain(&sim, dir, "granter")) ||
        !(b = add_domain(&sim, dir, "mapper")))
        goto out;
    g.b0 = xs_vcpu_of(b, 0);
    if (place_frame(xs_vcpu_of(g.a, 0))) {
        fprintf(stderr, "xsbench: placing the grant frame failed\n");
        goto out;
    }
    /* The entries as the granter's guest writes them, in its placed frame. */
    grant_entry_v1_t *e = (grant_entry_v1_t *)(g.a->base + GT_GFN * PAGE);
    for (unsigned i = 0; i < NPAGES; i++) {
        memset(g.a->base + (DATA_GFN + i) * PAGE, (int)(i + 1), PAGE);
        e[FIRST_REF + i] = (grant_entry_v1_t){
            .flags = GTF_permit_access, .domid = 0, .frame = (uint32_t)(DATA_GFN + i)};
        e[GUEST_REF0 + i] = (grant_entry_v1_t){.flags = GTF_permit_access,
                                               .domid = b->domid,
                                               .frame = (uint32_t)(DATA_GFN + i)};
    }
    g.buf = aligned_alloc(PAGE, PAGE);
    g.memfd = memfd_create("xsbench", MFD_CLOEXEC);
    if (!g.buf || g.memfd < 0 || ftruncate(g.memfd, (off_t)NPAGES * PAGE)) goto out;
    /* Anchor pages populated, as the granter's RAM is. */
    for (unsigned i = 0; i < NPAGES; i++) {
        uint8_t byte = (uint8_t)i;
        if (pwrite(g.memfd, &byte, 1, (off_t)i * PAGE) != 1) goto out;
    }
    memset(g.buf, 0, PAGE);
    static const struct {
        const char *key;
        gnt_step f;
        unsigned div; /* slow steps run fewer times */
    } steps[] = {
        {"map_unmap", step_map_unmap, 1},
        {"mmap_munmap", step_mmap_munmap, 1},
        {"map_copy_unmap", step_map_copy_unmap, 1},
        {"guest_map_unmap", step_guest_map_unmap, 1},
        {"copy", step_copy, 0},
        {"memcpy", step_memcpy, 0},
    };
    printf("gnt.pages %u\ngnt.n_map %u\ngnt.n_copy %u\n", NPAGES, n, n * 10);
    for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
        /* Copies are ~10 x cheaper than maps: run 10 x as many. */
        double t = time_steps(steps[s].f, &g, steps[s].div ? n : n * 10);
        if (t < 0) {
            fprintf(stderr, "xsbench: gnttab %s failed\n", steps[s].key);
            goto out;
        }
        printf("gnt.%s_ns %.1f\n", steps[s].key, t);
    }
    /* The last step copied page (10 n - 1) % NPAGES into buf. */
    if (memcmp(g.buf, g.a->base + (DATA_GFN + (n * 10 - 1) % NPAGES) * PAGE, PAGE)) {
        fprintf(stderr, "xsbench: copies did not copy\n");
        goto out;
    }
    if (xs_gnttab_check_leaks(g.a) || xs_gnttab_check_leaks(b)) goto out;
    rc = 0;
out:
    if (g.memfd >= 0) close(g.memfd);
    free(g.buf);
    xs_sim_destroy(&sim);
    if (rc) {
        rewind(log);
        char line[512];
        while (fgets(line, sizeof(line), log))
            fprintf(stderr, "  %s", line);
    }
    fclose(log);
    return rc;
}

/* ==== main ================================================================= */

static bool count_arg(const char *s, unsigned *out)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (*end || !v || v > 100000000ul) return false;
    *out = (unsigned)v;
    return true;
}

int main(int argc, char **argv)
{
    const char *usage = "usage: xsbench xenstore XENSIM [N_SOCKET [N_RING]]\n"
                        "       xsbench gnttab [GUEST_DIR [N_MAP]]\n";
    if (argc >= 3 && argc <= 5 && !strcmp(argv[1], "xenstore")) {
        unsigned ns = 10000, nr = 100000;
        if ((argc > 3 && !count_arg(argv[3], &ns)) ||
            (argc > 4 && !count_arg(argv[4], &nr)))
            goto bad;
        return cmd_xenstore(argv[2], ns, nr);
    }
    if (argc >= 2 && argc <= 4 && !strcmp(argv[1], "gnttab")) {
        const char *env = getenv("XENSIM_GUEST_DIR");
        const char *dir = argc > 2 ? argv[2] : env && *env ? env : "build/guests";
        unsigned n = 20000;
        if (argc > 3 && !count_arg(argv[3], &n)) goto bad;
        return cmd_gnttab(dir, n);
    }
bad:
    fputs(usage, stderr);
    return 2;
}
