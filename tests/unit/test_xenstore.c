/* xenstored tests: every request type and its errors as Xen 4.17's C
 * xenstored answers them, permissions, watches, transactions, quotas, the
 * wire parser, the ring transport and the store inside a simulation.
 * Clients are in-memory connections speaking the real wire protocol:
 * privileged (as on Xen's socket) or as a guest domain. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xen/xen.h>
#include <xen/hvm/params.h>
#include <xen/io/xs_wire.h>

#include "evtchn.h"
#include "gnttab.h"
#include "sim.h"
#include "xenstore.h"
#include "unit.h"

#define MAXEV 256

struct msg {
    struct xsd_sockmsg hdr;
    char body[XENSTORE_PAYLOAD_MAX + 1];
};

struct client {
    struct xst_conn *c;
    struct msg ev[MAXEV]; /* watch events received, in order */
    int nev;
};

static struct xs_xenstore *xs;
static FILE *xlog;
static struct client priv;

static void setup(void)
{
    xlog = tmpfile();
    ck_assert_ptr_nonnull(xlog);
    xs = xs_xenstore_new(xlog);
    ck_assert_ptr_nonnull(xs);
    memset(&priv, 0, sizeof(priv));
    priv.c = xs_xenstore_mem_conn(xs, 0);
    ck_assert_ptr_nonnull(priv.c);
}

static void teardown(void)
{
    ck_assert_uint_eq(xs_xenstore_corruptions(xs), 0);
    xs_xenstore_free(xs);
    fclose(xlog);
    xs = NULL;
}

static struct client *new_domain(unsigned domid)
{
    struct client *cl = calloc(1, sizeof(*cl));
    ck_assert_ptr_nonnull(cl);
    cl->c = xs_xenstore_mem_conn(xs, domid);
    ck_assert_ptr_nonnull(cl->c);
    return cl;
}

static void send_raw(struct client *cl, const void *p, size_t len)
{
    ck_assert_int_eq(xs_xenstore_conn_send(cl->c, p, len), 0);
}

static void send_msg(struct client *cl, uint32_t type, uint32_t req_id, uint32_t tx,
                     const void *p, size_t len)
{
    struct xsd_sockmsg h = {
        .type = type, .req_id = req_id, .tx_id = tx, .len = (uint32_t)len};
    send_raw(cl, &h, sizeof(h));
    if (len) send_raw(cl, p, len);
}

/* Everything the store sends cl now: events go to cl->ev, other messages
 * to out (at most max). */
static int drain(struct client *cl, struct msg *out, int max)
{
    static unsigned char buf[1 << 22];
    int n = 0;
    size_t len = 0;
    for (int round = 0; round < 64; round++) {
        xs_xenstore_service(xs);
        size_t got = xs_xenstore_conn_recv(cl->c, buf + len, sizeof(buf) - len);
        len += got;
        if (!got) break;
    }
    size_t off = 0;
    while (len - off >= sizeof(struct xsd_sockmsg)) {
        struct msg m;
        memcpy(&m.hdr, buf + off, sizeof(m.hdr));
        ck_assert_uint_le(m.hdr.len, XENSTORE_PAYLOAD_MAX);
        ck_assert_uint_ge(len - off, sizeof(m.hdr) + m.hdr.len);
        memcpy(m.body, buf + off + sizeof(m.hdr), m.hdr.len);
        m.body[m.hdr.len] = 0;
        off += sizeof(m.hdr) + m.hdr.len;
        if (m.hdr.type == XS_WATCH_EVENT) {
            ck_assert_uint_eq(m.hdr.req_id, 0);
            ck_assert_uint_eq(m.hdr.tx_id, 0);
            if (cl->nev < MAXEV) cl->ev[cl->nev++] = m;
        } else if (n < max) {
            out[n++] = m;
        }
    }
    ck_assert_uint_eq(off, len);
    return n;
}

/* One request, one reply (checked to echo req_id and tx_id). */
static struct msg rq(struct client *cl, uint32_t type, uint32_t tx, const void *p,
                     size_t len)
{
    static uint32_t req_id = 100;
    struct msg m[2];
    send_msg(cl, type, ++req_id, tx, p, len);
    int n = drain(cl, m, 2);
    ck_assert_int_eq(n, 1);
    ck_assert_uint_eq(m[0].hdr.req_id, req_id);
    ck_assert_uint_eq(m[0].hdr.tx_id, tx);
    return m[0];
}

#define RQ(cl, type, tx, lit) rq(cl, type, tx, lit, sizeof(lit) - 1)

static void expect_ok(struct msg m, uint32_t type)
{
    ck_assert_msg(m.hdr.type == type, "expected %u, got type %u \"%s\"", type, m.hdr.type,
                  m.body);
    if (type != XS_READ && type != XS_DIRECTORY && type != XS_GET_PERMS &&
        type != XS_TRANSACTION_START && type != XS_GET_DOMAIN_PATH &&
        type != XS_IS_DOMAIN_INTRODUCED && type != XS_DIRECTORY_PART &&
        type != XS_CONTROL) {
        ck_assert_uint_eq(m.hdr.len, 3);
        ck_assert_str_eq(m.body, "OK");
    }
}

static void expect_err(struct msg m, const char *err)
{
    ck_assert_msg(m.hdr.type == XS_ERROR, "expected %s, got type %u \"%s\"", err,
                  m.hdr.type, m.body);
    ck_assert_uint_eq(m.hdr.len, strlen(err) + 1);
    ck_assert_str_eq(m.body, err);
}

static void wr(struct client *cl, uint32_t tx, const char *path, const char *val)
{
    char buf[XENSTORE_PAYLOAD_MAX];
    size_t pl = strlen(path) + 1, vl = strlen(val);
    memcpy(buf, path, pl);
    memcpy(buf + pl, val, vl);
    expect_ok(rq(cl, XS_WRITE, tx, buf, pl + vl), XS_WRITE);
}

static struct msg wr_msg(struct client *cl, uint32_t tx, const char *path,
                         const char *val)
{
    char buf[XENSTORE_PAYLOAD_MAX];
    size_t pl = strlen(path) + 1, vl = strlen(val);
    memcpy(buf, path, pl);
    memcpy(buf + pl, val, vl);
    return rq(cl, XS_WRITE, tx, buf, pl + vl);
}

static struct msg op1(struct client *cl, uint32_t type, uint32_t tx, const char *path)
{
    return rq(cl, type, tx, path, strlen(path) + 1);
}

static void expect_read(struct client *cl, uint32_t tx, const char *path, const char *val)
{
    struct msg m = op1(cl, XS_READ, tx, path);
    ck_assert_msg(m.hdr.type == XS_READ, "read %s: %s", path, m.body);
    ck_assert_uint_eq(m.hdr.len, strlen(val));
    ck_assert_str_eq(m.body, val);
}

/* Payload of nul-separated strings as one space-separated string. */
static const char *joined(const struct msg *m)
{
    static char out[XENSTORE_PAYLOAD_MAX + 1];
    memcpy(out, m->body, m->hdr.len);
    out[m->hdr.len] = 0;
    for (uint32_t i = 0; i + 1 < m->hdr.len; i++)
        if (!out[i]) out[i] = ' ';
    if (m->hdr.len && !out[m->hdr.len - 1]) out[m->hdr.len - 1] = 0;
    return out;
}

static void expect_dir(struct client *cl, const char *path, const char *want)
{
    struct msg m = op1(cl, XS_DIRECTORY, 0, path);
    ck_assert_msg(m.hdr.type == XS_DIRECTORY, "directory %s: %s", path, m.body);
    ck_assert_str_eq(joined(&m), want);
}

static void expect_perms(struct client *cl, const char *path, const char *want)
{
    struct msg m = op1(cl, XS_GET_PERMS, 0, path);
    ck_assert_msg(m.hdr.type == XS_GET_PERMS, "get_perms %s: %s", path, m.body);
    ck_assert_str_eq(joined(&m), want);
}

/* SET_PERMS path perms ("n0 r5"). */
static struct msg setp(struct client *cl, uint32_t tx, const char *path,
                       const char *perms)
{
    char buf[XENSTORE_PAYLOAD_MAX];
    size_t pl = strlen(path) + 1, ql = strlen(perms) + 1;
    memcpy(buf, path, pl);
    memcpy(buf + pl, perms, ql);
    for (size_t i = pl; i < pl + ql; i++)
        if (buf[i] == ' ') buf[i] = 0;
    return rq(cl, XS_SET_PERMS, tx, buf, pl + ql);
}

static struct msg watch(struct client *cl, uint32_t type, const char *path,
                        const char *token)
{
    char buf[XENSTORE_PAYLOAD_MAX];
    size_t pl = strlen(path) + 1, tl = strlen(token) + 1;
    memcpy(buf, path, pl);
    memcpy(buf + pl, token, tl);
    return rq(cl, type, 0, buf, pl + tl);
}

static void expect_event(struct client *cl, int i, const char *path, const char *token)
{
    ck_assert_msg(i < cl->nev, "event %d of %d missing (%s %s)", i, cl->nev, path, token);
    ck_assert_str_eq(cl->ev[i].body, path);
    ck_assert_str_eq(cl->ev[i].body + strlen(path) + 1, token);
    ck_assert_uint_eq(cl->ev[i].hdr.len, strlen(path) + strlen(token) + 2);
}

static uint32_t tx_start(struct client *cl)
{
    struct msg m = RQ(cl, XS_TRANSACTION_START, 0, "\0");
    ck_assert_msg(m.hdr.type == XS_TRANSACTION_START, "%s", m.body);
    return (uint32_t)strtoul(m.body, NULL, 10);
}

static struct msg tx_end(struct client *cl, uint32_t tx, bool commit)
{
    return rq(cl, XS_TRANSACTION_END, tx, commit ? "T" : "F", 2);
}

static char *log_text(void)
{
    static char buf[1 << 16];
    fflush(xlog);
    rewind(xlog);
    size_t n = fread(buf, 1, sizeof(buf) - 1, xlog);
    buf[n] = 0;
    fseek(xlog, 0, SEEK_END);
    return buf;
}

/* ---- the store ------------------------------------------------------------- */

START_TEST(initial_nodes)
{
    expect_dir(&priv, "/", "tool local");
    expect_dir(&priv, "/tool", "xenstored");
    expect_dir(&priv, "/local", "domain pool");
    expect_read(&priv, 0, "/local/domain/0/name", "Domain-0");
    expect_read(&priv, 0, "/local/domain/0/domid", "0");
    expect_read(&priv, 0, "/local/pool/0/name", "Pool-0");
    expect_read(&priv, 0, "/tool", "");
    expect_perms(&priv, "/", "n0");
    expect_perms(&priv, "/local/domain/0/name", "n0");
}
END_TEST

START_TEST(write_read_mkdir_rm)
{
    wr(&priv, 0, "/a/b/c", "hello");
    expect_read(&priv, 0, "/a/b/c", "hello");
    expect_read(&priv, 0, "/a/b", ""); /* implicit parents are empty */
    expect_dir(&priv, "/a", "b");
    /* Values are bytes: nuls included, length exact. */
    struct msg m = RQ(&priv, XS_WRITE, 0, "/bin\0a\0b\0");
    expect_ok(m, XS_WRITE);
    m = op1(&priv, XS_READ, 0, "/bin");
    ck_assert_uint_eq(m.hdr.len, 4);
    ck_assert_int_eq(memcmp(m.body, "a\0b\0", 4), 0);
    wr(&priv, 0, "/a/b/c", "");
    expect_read(&priv, 0, "/a/b/c", "");
    expect_ok(op1(&priv, XS_MKDIR, 0, "/m/n"), XS_MKDIR);
    expect_read(&priv, 0, "/m/n", "");
    wr(&priv, 0, "/m/n", "keep");
    expect_ok(op1(&priv, XS_MKDIR, 0, "/m/n"), XS_MKDIR); /* exists: fine, unchanged */
    expect_read(&priv, 0, "/m/n", "keep");
    expect_ok(op1(&priv, XS_RM, 0, "/a"), XS_RM);
    expect_err(op1(&priv, XS_READ, 0, "/a/b/c"), "ENOENT");
    expect_err(op1(&priv, XS_READ, 0, "/a"), "ENOENT");
    expect_ok(op1(&priv, XS_RM, 0, "/a"), XS_RM);         /* gone, parent there: fine */
    expect_err(op1(&priv, XS_RM, 0, "/a/b/c"), "ENOENT"); /* parent gone too */
    expect_err(op1(&priv, XS_RM, 0, "/"), "EINVAL");
    /* Relative paths of a privileged client start at /local/domain/0. */
    wr(&priv, 0, "rel/x", "1");
    expect_read(&priv, 0, "/local/domain/0/rel/x", "1");
    expect_read(&priv, 0, "rel/x", "1");
}
END_TEST

START_TEST(children_in_creation_order)
{
    wr(&priv, 0, "/o/c", "");
    wr(&priv, 0, "/o/a", "");
    wr(&priv, 0, "/o/b", "");
    wr(&priv, 0, "/o/a", "again"); /* rewriting does not move it */
    expect_dir(&priv, "/o", "c a b");
    expect_ok(op1(&priv, XS_RM, 0, "/o/c"), XS_RM);
    wr(&priv, 0, "/o/c", "");
    expect_dir(&priv, "/o", "a b c");
    expect_dir(&priv, "/o/a", "");
}
END_TEST

START_TEST(path_rules)
{
    static const char *const bad[] = {"/a/",  "//a",  "/a//b", "/a b", "/a\tb",
                                      "/a.b", "/a:b", "@x",    "/a%",  "/\xc3\xa9"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect_err(op1(&priv, XS_READ, 0, bad[i]), "EINVAL");
        expect_err(wr_msg(&priv, 0, bad[i], "x"), "EINVAL");
    }
    expect_err(rq(&priv, XS_READ, 0, "", 1), "EINVAL");
    wr(&priv, 0, "/-_@Az09", "ok");
    /* At most 2048 bytes, not counting a /local/domain/<id>/ prefix. */
    char path[4000];
    memset(path, 'x', sizeof(path));
    path[0] = '/';
    path[2048] = 0;
    wr(&priv, 0, path, "1");
    path[2048] = 'x';
    path[2049] = 0;
    expect_err(wr_msg(&priv, 0, path, "1"), "EINVAL");
    int n = snprintf(path, sizeof(path), "/local/domain/7/");
    memset(path + n, 'y', 2048);
    path[n + 2048] = 0;
    wr(&priv, 0, path, "1");
    path[n + 2048] = 'y';
    path[n + 2049] = 0;
    expect_err(wr_msg(&priv, 0, path, "1"), "EINVAL");
    expect_err(op1(&priv, XS_DIRECTORY, 0, "/x/"), "EINVAL");
    expect_ok(op1(&priv, XS_MKDIR, 0, "/"), XS_MKDIR);
}
END_TEST

START_TEST(malformed_requests)
{
    /* One string, ending the payload, where one path is required. */
    expect_err(RQ(&priv, XS_READ, 0, "/local"), "EINVAL");
    expect_err(RQ(&priv, XS_READ, 0, "/local\0/x\0"), "EINVAL");
    expect_err(RQ(&priv, XS_READ, 0, "/local\0x"), "EINVAL");
    expect_err(rq(&priv, XS_READ, 0, NULL, 0), "EINVAL");
    expect_err(RQ(&priv, XS_DIRECTORY, 0, "/tool"), "EINVAL");
    expect_err(RQ(&priv, XS_MKDIR, 0, "/q"), "EINVAL");
    expect_err(RQ(&priv, XS_RM, 0, "/tool"), "EINVAL");
    expect_err(RQ(&priv, XS_GET_PERMS, 0, "/"), "EINVAL");
    expect_err(RQ(&priv, XS_WRITE, 0, "/nonul"), "EINVAL");
    expect_err(rq(&priv, XS_WRITE, 0, NULL, 0), "EINVAL");
    expect_err(RQ(&priv, XS_DIRECTORY_PART, 0, "/tool\0"), "EINVAL");
    expect_err(RQ(&priv, XS_DIRECTORY_PART, 0,
                  "/tool\0"
                  "0\0x\0"),
               "EINVAL");
    expect_err(RQ(&priv, XS_SET_PERMS, 0, "/tool\0"), "EINVAL");
    expect_err(RQ(&priv, XS_SET_PERMS, 0, "/tool\0x0\0"), "EINVAL");
    expect_err(RQ(&priv, XS_SET_PERMS, 0, "/tool\0r\0"), "EINVAL");
    expect_err(RQ(&priv, XS_SET_PERMS, 0, "/tool\0r0x\0"), "EINVAL");
    expect_err(RQ(&priv, XS_SET_PERMS, 0, "/tool\0\0"), "EINVAL");
    expect_err(RQ(&priv, XS_WATCH, 0, "/w\0"), "EINVAL");
    expect_err(RQ(&priv, XS_WATCH, 0, "/w\0t\0extra\0"), "EINVAL");
    expect_err(RQ(&priv, XS_UNWATCH, 0, "/w"), "EINVAL");
    expect_err(RQ(&priv, XS_TRANSACTION_END, 0, "X\0"), "EINVAL");
    expect_err(RQ(&priv, XS_TRANSACTION_END, 0, "T"), "EINVAL");
    expect_err(RQ(&priv, XS_INTRODUCE, 0,
                  "1\0"
                  "2\0"),
               "EINVAL");
    expect_err(RQ(&priv, XS_GET_DOMAIN_PATH, 0, "1"), "EINVAL");
    expect_err(RQ(&priv, XS_CONTROL, 0, "print"), "EINVAL");
    /* Types xenstored does not take from a client. */
    expect_err(RQ(&priv, XS_WATCH_EVENT, 0, "/x\0t\0"), "ENOSYS");
    expect_err(RQ(&priv, XS_ERROR, 0, "EINVAL\0"), "ENOSYS");
    expect_err(RQ(&priv, 20, 0, "\0"), "ENOSYS"); /* the removed XS_RESTRICT */
    expect_err(RQ(&priv, XS_TYPE_COUNT, 0, "\0"), "ENOSYS");
    expect_err(RQ(&priv, 0xffffffffu, 0, "\0"), "ENOSYS");
    /* A transaction id that does not exist. */
    expect_err(RQ(&priv, XS_READ, 77, "/tool\0"), "ENOENT");
    expect_ok(RQ(&priv, XS_READ, 0, "/tool\0"), XS_READ);
}
END_TEST

START_TEST(oversized_payload_drops_client)
{
    struct xsd_sockmsg h = {.type = XS_READ, .len = XENSTORE_PAYLOAD_MAX + 1};
    send_raw(&priv, &h, sizeof(h));
    struct msg m[1];
    ck_assert_int_eq(drain(&priv, m, 1), 0);
    ck_assert(!xs_xenstore_conn_alive(priv.c));
    ck_assert_ptr_nonnull(strstr(log_text(), "client tried to feed us 4097 bytes"));
    /* Exactly XENSTORE_PAYLOAD_MAX is fine. */
    struct client *c2 = new_domain(0 + 3);
    char big[XENSTORE_PAYLOAD_MAX];
    memset(big, 'a', sizeof(big));
    big[0] = '/';
    big[sizeof(big) - 1] = 0;
    expect_err(rq(c2, XS_READ, 0, big, sizeof(big)), "EINVAL"); /* too long a path */
    ck_assert(xs_xenstore_conn_alive(c2->c));
    free(c2);
}
END_TEST

START_TEST(byte_at_a_time)
{
    /* Split anywhere: header, payload, between messages. */
    const char req[] = "/local/domain/0/name";
    struct xsd_sockmsg h = {.type = XS_READ, .req_id = 9, .len = sizeof(req)};
    unsigned char buf[sizeof(h) + sizeof(req)];
    memcpy(buf, &h, sizeof(h));
    memcpy(buf + sizeof(h), req, sizeof(req));
    for (int rep = 0; rep < 3; rep++)
        for (size_t i = 0; i < sizeof(buf); i++) {
            send_raw(&priv, buf + i, 1);
            xs_xenstore_service(xs);
        }
    struct msg m[4];
    ck_assert_int_eq(drain(&priv, m, 4), 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_uint_eq(m[i].hdr.req_id, 9);
        ck_assert_str_eq(m[i].body, "Domain-0");
    }
}
END_TEST

START_TEST(directory_part)
{
    /* Children names filling more than one payload. */
    char path[64], want[20000] = "";
    for (int i = 0; i < 300; i++) {
        snprintf(path, sizeof(path), "/big/child-with-a-long-name-%03d", i);
        wr(&priv, 0, path, "");
        strcat(want, path + 5);
        strcat(want, " ");
    }
    want[strlen(want) - 1] = 0;
    expect_err(op1(&priv, XS_DIRECTORY, 0, "/big"), "E2BIG");
    char all[20000] = "", gen[32] = "";
    unsigned off = 0;
    for (int part = 0; part < 10; part++) {
        char req[64];
        int n = snprintf(req, sizeof(req), "/big%c%u", 0, off);
        struct msg m = rq(&priv, XS_DIRECTORY_PART, 0, req, (size_t)n + 1);
        ck_assert_uint_eq(m.hdr.type, XS_DIRECTORY_PART);
        ck_assert_uint_le(m.hdr.len, XENSTORE_PAYLOAD_MAX);
        if (!part)
            strcpy(gen, m.body);
        else
            ck_assert_str_eq(m.body, gen); /* unchanged node, same generation */
        size_t gl = strlen(m.body) + 1;
        unsigned n2 = m.hdr.len - (unsigned)gl;
        memcpy(all + off, m.body + gl, n2);
        off += n2;
        if (n2 >= 2 && !all[off - 2]) { /* the list ends with an empty string */
            off--;
            break;
        }
    }
    for (unsigned i = 0; i + 1 < off; i++)
        if (!all[i]) all[i] = ' ';
    ck_assert_str_eq(all, want);
    /* Past the end: the generation and an empty string.  Adding a child
     * changes the generation. */
    struct msg m = RQ(&priv, XS_DIRECTORY_PART, 0,
                      "/big\0"
                      "99999\0");
    ck_assert_uint_eq(m.hdr.len, strlen(gen) + 2);
    wr(&priv, 0, "/big/one-more", "");
    m = RQ(&priv, XS_DIRECTORY_PART, 0,
           "/big\0"
           "99999\0");
    ck_assert_str_ne(m.body, gen);
    m = RQ(&priv, XS_DIRECTORY_PART, 0,
           "/tool\0"
           "0\0");
    ck_assert_uint_eq(m.hdr.len, strlen(m.body) + 1 + sizeof("xenstored") + 1);
}
END_TEST

/* ---- permissions --------------------------------------------------------------- */

START_TEST(permissions)
{
    struct client *d5 = new_domain(5), *d6 = new_domain(6);
    /* The toolstack's home for domain 5: owned by Dom0, domain 5 may write. */
    expect_ok(op1(&priv, XS_MKDIR, 0, "/local/domain/5"), XS_MKDIR);
    expect_ok(setp(&priv, 0, "/local/domain/5", "n0 b5"), XS_SET_PERMS);
    expect_perms(&priv, "/local/domain/5", "n0 b5");
    /* An unprivileged creator owns what it creates; the rest is inherited. */
    wr(d5, 0, "mine", "1");
    expect_perms(d5, "/local/domain/5/mine", "n5 b5");
    expect_read(d5, 0, "mine", "1");
    expect_read(d5, 0, "/local/domain/5/mine", "1");
    /* Dom0 creating inherits everything, owner included. */
    wr(&priv, 0, "/local/domain/5/tools", "2");
    expect_perms(&priv, "/local/domain/5/tools", "n0 b5");
    /* Another domain sees neither the node nor whether it exists. */
    expect_err(op1(d6, XS_READ, 0, "/local/domain/5/mine"), "EACCES");
    expect_err(op1(d6, XS_READ, 0, "/local/domain/5/nothing"), "EACCES");
    expect_err(op1(d5, XS_READ, 0, "/local/domain/5/nothing"), "ENOENT");
    expect_err(wr_msg(d6, 0, "/local/domain/5/x", "1"), "EACCES");
    expect_err(op1(d6, XS_RM, 0, "/local/domain/5/mine"), "EACCES");
    expect_err(op1(d6, XS_DIRECTORY, 0, "/local/domain/5"), "EACCES");
    expect_err(op1(d6, XS_GET_PERMS, 0, "/local/domain/5"), "EACCES");
    expect_err(op1(d6, XS_MKDIR, 0, "/local/domain/5/mine"), "EACCES");
    /* The root is Dom0's: a domain cannot write there. */
    expect_err(wr_msg(d5, 0, "/d5", "1"), "EACCES");
    expect_err(op1(d5, XS_READ, 0, "/tool"), "EACCES");
    /* Read-only access through the ACL. */
    expect_ok(setp(d5, 0, "/local/domain/5/mine", "n5 r6"), XS_SET_PERMS);
    expect_read(d6, 0, "/local/domain/5/mine", "1");
    expect_err(wr_msg(d6, 0, "/local/domain/5/mine", "x"), "EACCES");
    /* The owner's entry is what everybody else gets. */
    expect_ok(setp(d5, 0, "/local/domain/5/mine", "r5"), XS_SET_PERMS);
    expect_read(d6, 0, "/local/domain/5/mine", "1");
    /* Only the owner sets permissions; only Dom0 gives a node away. */
    expect_err(setp(d6, 0, "/local/domain/5/mine", "n6"), "EACCES");
    expect_err(setp(d5, 0, "/local/domain/5/mine", "n6"), "EPERM");
    expect_ok(setp(&priv, 0, "/local/domain/5/mine", "n6"), XS_SET_PERMS);
    expect_read(d6, 0, "/local/domain/5/mine", "1");
    /* The owner must exist; other entries for missing domains are kept
     * but ignored. */
    expect_err(setp(&priv, 0, "/local/domain/5/mine", "n77"), "ENOENT");
    expect_ok(setp(&priv, 0, "/local/domain/5/tools", "n0 b77 r6"), XS_SET_PERMS);
    expect_perms(&priv, "/local/domain/5/tools", "n0 b77 r6");
    /* At most 5 entries for a domain; Dom0 has no limit. */
    expect_err(setp(d6, 0, "/local/domain/5/mine", "n6 r1 r2 r3 r4 r5"), "ENOSPC");
    expect_ok(setp(d6, 0, "/local/domain/5/mine", "n6 r1 r2 r3 r4"), XS_SET_PERMS);
    expect_ok(setp(&priv, 0, "/local/domain/5/mine", "n6 r1 r2 r3 r4 r5 r7"),
              XS_SET_PERMS);
    /* Privileged requests. */
    expect_err(RQ(d5, XS_INTRODUCE, 0,
                  "5\0"
                  "1\0"
                  "1\0"),
               "EACCES");
    expect_err(RQ(d5, XS_RELEASE, 0, "6\0"), "EACCES");
    expect_err(RQ(d5, XS_CONTROL, 0, "print\0x\0"), "EACCES");
    expect_err(RQ(d5, XS_IS_DOMAIN_INTRODUCED, 0, "6\0"), "EACCES");
    expect_err(RQ(d5, XS_RESUME, 0, "6\0"), "EACCES");
    expect_err(RQ(d5, XS_SET_TARGET, 0,
                  "5\0"
                  "6\0"),
               "EACCES");
    /* GET_DOMAIN_PATH is for everybody. */
    struct msg m = RQ(d5, XS_GET_DOMAIN_PATH, 0, "6\0");
    ck_assert_str_eq(m.body, "/local/domain/6");
    free(d5);
    free(d6);
}
END_TEST

START_TEST(set_target)
{
    struct client *d5 = new_domain(5), *d6 = new_domain(6);
    wr(&priv, 0, "/t6", "secret");
    expect_ok(setp(&priv, 0, "/t6", "n6"), XS_SET_PERMS);
    expect_err(op1(d5, XS_READ, 0, "/t6"), "EACCES");
    expect_err(RQ(&priv, XS_SET_TARGET, 0,
                  "5\0"
                  "66\0"),
               "ENOENT");
    expect_ok(RQ(&priv, XS_SET_TARGET, 0,
                 "5\0"
                 "6\0"),
              XS_SET_TARGET);
    expect_read(d5, 0, "/t6", "secret"); /* acts as the domain it targets */
    free(d5);
    free(d6);
}
END_TEST

START_TEST(special_paths_permissions)
{
    struct client *d5 = new_domain(5);
    expect_err(setp(&priv, 0, "@other", "n0"), "EINVAL");
    expect_err(setp(d5, 0, "@releaseDomain", "n5"), "EACCES");
    expect_ok(watch(d5, XS_WATCH, "@releaseDomain", "rel"), XS_WATCH);
    expect_event(d5, 0, "@releaseDomain", "rel"); /* the first event always comes */
    struct client *d7 = new_domain(7);
    xs_xenstore_conn_close(d7->c);
    ck_assert_int_eq(drain(d5, NULL, 0), 0);
    ck_assert_int_eq(d5->nev, 1); /* not allowed to see it */
    expect_ok(setp(&priv, 0, "@releaseDomain", "n0 r5"), XS_SET_PERMS);
    struct client *d8 = new_domain(8);
    xs_xenstore_conn_close(d8->c);
    drain(d5, NULL, 0);
    ck_assert_int_eq(d5->nev, 2);
    expect_event(d5, 1, "@releaseDomain", "rel");
    expect_err(op1(&priv, XS_GET_PERMS, 0, "@releaseDomain"), "EINVAL");
    free(d5);
    free(d7);
    free(d8);
}
END_TEST

/* ---- watches --------------------------------------------------------------------- */

START_TEST(watch_basics)
{
    expect_ok(watch(&priv, XS_WATCH, "/w", "tok"), XS_WATCH);
    ck_assert_int_eq(priv.nev, 1);
    expect_event(&priv, 0, "/w", "tok"); /* fired once when set up */
    wr(&priv, 0, "/w/a", "1");
    wr(&priv, 0, "/wx", "1"); /* not below /w */
    wr(&priv, 0, "/w", "2");
    expect_ok(setp(&priv, 0, "/w/a", "n0 r5"), XS_SET_PERMS);
    expect_ok(op1(&priv, XS_MKDIR, 0, "/w/a"), XS_MKDIR); /* exists: no event */
    ck_assert_int_eq(priv.nev, 4);
    expect_event(&priv, 1, "/w/a", "tok");
    expect_event(&priv, 2, "/w", "tok");
    expect_event(&priv, 3, "/w/a", "tok");
    expect_err(watch(&priv, XS_WATCH, "/w", "tok"), "EEXIST");
    expect_ok(watch(&priv, XS_WATCH, "/w", "tok2"), XS_WATCH);
    expect_err(watch(&priv, XS_UNWATCH, "/w", "nope"), "ENOENT");
    expect_ok(watch(&priv, XS_UNWATCH, "/w", "tok"), XS_UNWATCH);
    wr(&priv, 0, "/w/b", "1");
    ck_assert_int_eq(priv.nev, 6);
    expect_event(&priv, 4, "/w", "tok2");
    expect_event(&priv, 5, "/w/b", "tok2");
    /* A watch on / sees everything. */
    expect_ok(watch(&priv, XS_WATCH, "/", "all"), XS_WATCH);
    wr(&priv, 0, "/zz", "1");
    expect_event(&priv, 7, "/zz", "all");
    /* Bad watch paths. */
    expect_err(watch(&priv, XS_WATCH, "/w/", "t"), "EINVAL");
    char longspecial[XENSTORE_REL_PATH_MAX + 2];
    memset(longspecial, 'x', sizeof(longspecial));
    longspecial[0] = '@';
    longspecial[sizeof(longspecial) - 1] = 0;
    expect_err(watch(&priv, XS_WATCH, longspecial, "t"), "EINVAL");
    expect_ok(RQ(&priv, XS_RESET_WATCHES, 0, "\0"), XS_RESET_WATCHES);
    int before = priv.nev;
    wr(&priv, 0, "/w/c", "1");
    ck_assert_int_eq(priv.nev, before);
}
END_TEST

START_TEST(watch_rm_subtree)
{
    wr(&priv, 0, "/r/a/b", "1");
    wr(&priv, 0, "/r/c", "1");
    expect_ok(watch(&priv, XS_WATCH, "/r", "root"), XS_WATCH);
    expect_ok(watch(&priv, XS_WATCH, "/r/a/b", "deep"), XS_WATCH);
    expect_ok(watch(&priv, XS_WATCH, "/r/a/b/none", "under"), XS_WATCH);
    expect_ok(watch(&priv, XS_WATCH, "/", "all"), XS_WATCH);
    priv.nev = 0;
    expect_ok(op1(&priv, XS_RM, 0, "/r"), XS_RM);
    /* Depth first, each node after its children; below the removed node
     * only exact watches fire, the removed node fires its parents'. */
    ck_assert_int_eq(priv.nev, 3);
    expect_event(&priv, 0, "/r/a/b", "deep");
    expect_event(&priv, 1, "/r", "root");
    expect_event(&priv, 2, "/r", "all");
}
END_TEST

START_TEST(watch_relative_and_permissions)
{
    struct client *d5 = new_domain(5), *d6 = new_domain(6);
    expect_ok(op1(&priv, XS_MKDIR, 0, "/local/domain/5"), XS_MKDIR);
    expect_ok(setp(&priv, 0, "/local/domain/5", "n5"), XS_SET_PERMS);
    expect_ok(watch(d5, XS_WATCH, "data", "rel"), XS_WATCH);
    expect_event(d5, 0, "data", "rel");
    wr(d5, 0, "data/x", "1");
    expect_event(d5, 1, "data/x", "rel");
    /* Domain 6 watches domain 5's directory but may not read it. */
    expect_ok(watch(d6, XS_WATCH, "/local/domain/5", "spy"), XS_WATCH);
    expect_event(d6, 0, "/local/domain/5", "spy");
    wr(d5, 0, "data/y", "1");
    drain(d6, NULL, 0);
    ck_assert_int_eq(d6->nev, 1);
    /* Readable node: the event comes. */
    wr(d5, 0, "pub", "1");
    expect_ok(setp(d5, 0, "pub", "n5 r6"), XS_SET_PERMS);
    drain(d6, NULL, 0);
    ck_assert_int_eq(d6->nev, 2);
    expect_event(d6, 1, "/local/domain/5/pub", "spy");
    /* Losing the permission still reports the change itself. */
    expect_ok(setp(d5, 0, "pub", "n5"), XS_SET_PERMS);
    drain(d6, NULL, 0);
    ck_assert_int_eq(d6->nev, 3);
    expect_ok(watch(d5, XS_UNWATCH, "data", "rel"), XS_UNWATCH);
    free(d5);
    free(d6);
}
END_TEST

START_TEST(watch_special_introduce_release)
{
    expect_ok(watch(&priv, XS_WATCH, "@introduceDomain", "in"), XS_WATCH);
    expect_ok(watch(&priv, XS_WATCH, "@releaseDomain", "out"), XS_WATCH);
    expect_event(&priv, 0, "@introduceDomain", "in");
    expect_event(&priv, 1, "@releaseDomain", "out");
    struct client *d9 = new_domain(9);
    drain(&priv, NULL, 0);
    expect_event(&priv, 2, "@introduceDomain", "in");
    struct msg m = RQ(&priv, XS_IS_DOMAIN_INTRODUCED, 0, "9\0");
    ck_assert_str_eq(m.body, "T");
    /* The domain's nodes go with it. */
    expect_ok(op1(&priv, XS_MKDIR, 0, "/local/domain/9"), XS_MKDIR);
    expect_ok(setp(&priv, 0, "/local/domain/9", "n9"), XS_SET_PERMS);
    wr(d9, 0, "x/y", "1");
    expect_ok(RQ(&priv, XS_RELEASE, 0, "9\0"), XS_RELEASE);
    expect_event(&priv, 3, "@releaseDomain", "out");
    expect_err(op1(&priv, XS_READ, 0, "/local/domain/9"), "ENOENT");
    m = RQ(&priv, XS_IS_DOMAIN_INTRODUCED, 0, "9\0");
    ck_assert_str_eq(m.body, "F");
    m = RQ(&priv, XS_IS_DOMAIN_INTRODUCED, 0, "32752\0"); /* DOMID_SELF */
    ck_assert_str_eq(m.body, "T");
    expect_err(RQ(&priv, XS_RELEASE, 0, "9\0"), "ENOENT");
    expect_err(RQ(&priv, XS_RELEASE, 0, "0\0"), "EINVAL");
    expect_err(RQ(&priv, XS_RELEASE, 0, "x\0"), "EINVAL");
    expect_err(RQ(&priv, XS_RESUME, 0, "9\0"), "ENOENT");
    /* A standalone store maps no rings: INTRODUCE fails as the mapping does. */
    expect_err(RQ(&priv, XS_INTRODUCE, 0,
                  "4\0"
                  "100\0"
                  "3\0"),
               "EINVAL");
    expect_err(RQ(&priv, XS_INTRODUCE, 0,
                  "4\0"
                  "100\0"
                  "0\0"),
               "EINVAL");
    free(d9);
}
END_TEST

START_TEST(watch_quota)
{
    struct client *d5 = new_domain(5);
    char path[32];
    /* As Xen: one over the quota of 128 is still allowed. */
    for (int i = 0; i < 129; i++) {
        snprintf(path, sizeof(path), "/q%d", i);
        expect_ok(watch(d5, XS_WATCH, path, "t"), XS_WATCH);
    }
    expect_err(watch(d5, XS_WATCH, "/q-last", "t"), "E2BIG");
    expect_ok(watch(d5, XS_UNWATCH, "/q0", "t"), XS_UNWATCH);
    expect_ok(watch(d5, XS_WATCH, "/q-last", "t"), XS_WATCH);
    for (int i = 0; i < 200; i++) { /* Dom0: no limit */
        snprintf(path, sizeof(path), "/p%d", i);
        expect_ok(watch(&priv, XS_WATCH, path, "t"), XS_WATCH);
    }
    free(d5);
}
END_TEST

/* ---- transactions ----------------------------------------------------------------- */

START_TEST(transaction_basics)
{
    uint32_t t1 = tx_start(&priv), t2 = tx_start(&priv);
    ck_assert_uint_eq(t1, 1);
    ck_assert_uint_eq(t2, 2);
    expect_ok(watch(&priv, XS_WATCH, "/t", "w"), XS_WATCH);
    wr(&priv, t1, "/t/a", "in-tx");
    expect_read(&priv, t1, "/t/a", "in-tx");
    expect_err(op1(&priv, XS_READ, 0, "/t/a"), "ENOENT");
    expect_err(op1(&priv, XS_READ, t2, "/t/a"), "ENOENT");
    ck_assert_int_eq(priv.nev, 1); /* events wait for the commit */
    expect_ok(tx_end(&priv, t1, true), XS_TRANSACTION_END);
    expect_read(&priv, 0, "/t/a", "in-tx");
    ck_assert_int_eq(priv.nev, 2);
    expect_event(&priv, 1, "/t/a", "w");
    expect_err(tx_end(&priv, t1, true), "ENOENT"); /* gone */
    expect_err(op1(&priv, XS_READ, t1, "/t/a"), "ENOENT");
    /* Abort. */
    wr(&priv, t2, "/t/b", "x");
    expect_ok(tx_end(&priv, t2, false), XS_TRANSACTION_END);
    expect_err(op1(&priv, XS_READ, 0, "/t/b"), "ENOENT");
    ck_assert_int_eq(priv.nev, 2);
    /* No nesting, no ending without one. */
    uint32_t t3 = tx_start(&priv);
    ck_assert_uint_eq(t3, 3);
    expect_err(RQ(&priv, XS_TRANSACTION_START, t3, "\0"), "EBUSY");
    expect_err(RQ(&priv, XS_TRANSACTION_END, 0, "T\0"), "ENOENT");
    /* Created and removed inside: nothing happens outside. */
    wr(&priv, t3, "/t/tmp/x", "1");
    expect_ok(op1(&priv, XS_RM, t3, "/t/tmp"), XS_RM);
    expect_ok(tx_end(&priv, t3, true), XS_TRANSACTION_END);
    expect_err(op1(&priv, XS_READ, 0, "/t/tmp"), "ENOENT");
    expect_dir(&priv, "/t", "a");
    /* A transaction reads its own snapshot of what it read. */
    uint32_t t4 = tx_start(&priv);
    expect_read(&priv, t4, "/t/a", "in-tx");
    wr(&priv, 0, "/t/a", "outside");
    expect_read(&priv, t4, "/t/a", "in-tx");
    expect_ok(tx_end(&priv, t4, false), XS_TRANSACTION_END);
    /* RESET_WATCHES ends transactions too. */
    uint32_t t5 = tx_start(&priv);
    expect_ok(RQ(&priv, XS_RESET_WATCHES, 0, "\0"), XS_RESET_WATCHES);
    expect_err(op1(&priv, XS_READ, t5, "/t/a"), "ENOENT");
}
END_TEST

START_TEST(transaction_conflicts)
{
    wr(&priv, 0, "/c/a", "0");
    wr(&priv, 0, "/c/b", "0");
    /* Read a, someone else writes a: EAGAIN, nothing committed. */
    uint32_t t = tx_start(&priv);
    expect_read(&priv, t, "/c/a", "0");
    wr(&priv, 0, "/c/a", "1");
    wr(&priv, t, "/c/b", "tx");
    expect_err(tx_end(&priv, t, true), "EAGAIN");
    expect_read(&priv, 0, "/c/b", "0");
    /* Unrelated changes do not conflict. */
    t = tx_start(&priv);
    expect_read(&priv, t, "/c/a", "1");
    wr(&priv, 0, "/c/other", "1");
    wr(&priv, t, "/c/b", "tx");
    expect_ok(tx_end(&priv, t, true), XS_TRANSACTION_END);
    expect_read(&priv, 0, "/c/b", "tx");
    /* A node found missing and created meanwhile conflicts. */
    t = tx_start(&priv);
    expect_err(op1(&priv, XS_READ, t, "/c/new"), "ENOENT");
    wr(&priv, 0, "/c/new", "1");
    wr(&priv, t, "/c/b", "again");
    expect_err(tx_end(&priv, t, true), "EAGAIN");
    /* So does a deletion. */
    t = tx_start(&priv);
    expect_read(&priv, t, "/c/new", "1");
    expect_ok(op1(&priv, XS_RM, 0, "/c/new"), XS_RM);
    wr(&priv, t, "/c/b", "again");
    expect_err(tx_end(&priv, t, true), "EAGAIN");
    /* Two transactions: the first to commit wins. */
    struct client *d5 = new_domain(5);
    expect_ok(setp(&priv, 0, "/c/a", "n0 b5"), XS_SET_PERMS);
    expect_ok(setp(&priv, 0, "/c/b", "n0 b5"), XS_SET_PERMS);
    uint32_t ta = tx_start(&priv), tb = tx_start(d5);
    expect_read(&priv, ta, "/c/a", "1");
    expect_read(d5, tb, "/c/b", "tx");
    wr(&priv, ta, "/c/b", "from-a");
    wr(d5, tb, "/c/a", "from-b");
    expect_ok(tx_end(&priv, ta, true), XS_TRANSACTION_END);
    expect_err(tx_end(d5, tb, true), "EAGAIN");
    expect_read(&priv, 0, "/c/a", "1");
    expect_read(&priv, 0, "/c/b", "from-a");
    free(d5);
}
END_TEST

START_TEST(transaction_quotas)
{
    struct client *d5 = new_domain(5);
    /* As Xen: one over the quota of 10 is still allowed. */
    for (int i = 0; i < 11; i++)
        tx_start(d5);
    expect_err(RQ(d5, XS_TRANSACTION_START, 0, "\0"), "ENOSPC");
    for (int i = 0; i < 20; i++)
        tx_start(&priv);
    /* Accessed nodes per transaction (as set by CONTROL here). */
    expect_ok(RQ(&priv, XS_CONTROL, 0,
                 "quota\0set\0transaction-nodes\0"
                 "3\0"),
              XS_CONTROL);
    expect_ok(op1(&priv, XS_MKDIR, 0, "/local/domain/5"), XS_MKDIR);
    expect_ok(setp(&priv, 0, "/local/domain/5", "n5"), XS_SET_PERMS);
    expect_ok(RQ(d5, XS_RESET_WATCHES, 0, "\0"), XS_RESET_WATCHES);
    uint32_t t = tx_start(d5);
    wr(d5, t, "a", "1"); /* reads a, reads /local/domain/5, writes both */
    expect_err(wr_msg(d5, t, "b/c", "1"), "ENOSPC");
    /* A failed transaction cannot commit (Xen 4.17 says ENOMEM). */
    expect_err(tx_end(d5, t, true), "ENOMEM");
    expect_err(op1(d5, XS_READ, 0, "a"), "ENOENT");
    free(d5);
}
END_TEST

/* ---- quotas
 * ---------------------------------------------------------------------------- */

START_TEST(node_quotas)
{
    struct client *d5 = new_domain(5);
    expect_ok(op1(&priv, XS_MKDIR, 0, "/local/domain/5"), XS_MKDIR);
    expect_ok(setp(&priv, 0, "/local/domain/5", "n5"), XS_SET_PERMS);
    /* Node size: 24 header bytes, 8 per permission, the value and the
     * children must stay below 2048 for an unprivileged domain. */
    char val[4000];
    memset(val, 'v', sizeof(val));
    val[2048 - 24 - 8 - 1] = 0;
    wr(d5, 0, "big", val);
    val[2048 - 24 - 8 - 1] = 'v';
    val[2048 - 24 - 8] = 0;
    expect_err(wr_msg(d5, 0, "big", val), "ENOSPC");
    expect_err(wr_msg(d5, 0, "big2", val), "ENOSPC");
    val[3000] = 0;
    wr(&priv, 0, "/dom0big", val); /* Dom0: no limit */
    /* Nodes per domain: 1000 by default, the domain's own directory is 1. */
    expect_ok(RQ(&priv, XS_CONTROL, 0,
                 "quota\0set\0nodes\0"
                 "5\0"),
              XS_CONTROL);
    wr(d5, 0, "n1", "");
    wr(d5, 0, "n2", "");
    expect_err(wr_msg(d5, 0, "n3/x", ""), "ENOSPC");
    wr(d5, 0, "n3", "");
    expect_err(wr_msg(d5, 0, "n4", ""), "ENOSPC");
    expect_ok(op1(d5, XS_RM, 0, "n1"), XS_RM);
    wr(d5, 0, "n4", "");
    struct msg m = RQ(&priv, XS_CONTROL, 0,
                      "quota\0"
                      "5\0");
    ck_assert_str_eq(m.body, "Domain 5:\n"
                             "nodes           :        5\n"
                             "watches         :        0\n"
                             "transactions    :        0\n"
                             "outstanding     :        0\n"
                             "memory          :     2276\n");
    /* In a transaction the count is checked at the commit, where (as in
     * Xen) reaching the quota already fails. */
    expect_ok(op1(d5, XS_RM, 0, "n4"), XS_RM);
    expect_ok(op1(d5, XS_RM, 0, "n3"), XS_RM);
    uint32_t t = tx_start(d5);
    wr(d5, t, "n5", "");
    expect_ok(tx_end(d5, t, true), XS_TRANSACTION_END);
    t = tx_start(d5);
    wr(d5, t, "n6", "");
    expect_err(tx_end(d5, t, true), "ENOSPC");
    expect_err(op1(d5, XS_READ, 0, "n6"), "ENOENT");
    expect_ok(RQ(&priv, XS_CONTROL, 0,
                 "quota\0set\0nodes\0"
                 "1000\0"),
              XS_CONTROL);
    /* Path length (quota path-max). */
    expect_ok(RQ(&priv, XS_CONTROL, 0,
                 "quota\0set\0path-max\0"
                 "10\0"),
              XS_CONTROL);
    wr(&priv, 0, "/123456789", "");
    expect_err(wr_msg(&priv, 0, "/1234567890", ""), "EINVAL");
    wr(d5, 0, "0123456789", ""); /* below /local/domain/5/ */
    expect_err(RQ(&priv, XS_CONTROL, 0,
                  "quota\0set\0nodes\0"
                  "0\0"),
               "EINVAL");
    expect_err(RQ(&priv, XS_CONTROL, 0,
                  "quota\0set\0bogus\0"
                  "1\0"),
               "EINVAL");
    expect_err(RQ(&priv, XS_CONTROL, 0,
                  "quota\0"
                  "99\0"),
               "ENOENT");
    free(d5);
}
END_TEST

START_TEST(control_commands)
{
    struct msg m = RQ(&priv, XS_CONTROL, 0, "quota\0");
    ck_assert_str_eq(
        m.body,
        "Quota settings:\n"
        "nodes            :     1000 Nodes per domain\n"
        "watches          :      128 Watches per domain\n"
        "transactions     :       10 Transactions per domain\n"
        "outstanding      :       20 Outstanding requests per domain\n"
        "transaction-nodes:     1024 Max. number of accessed nodes per transaction\n"
        "memory           :  2621440 Total Xenstore memory per domain (error level)\n"
        "node-size        :     2048 Max. size of a node\n"
        "path-max         :     2048 Max. length of a node path\n"
        "permissions      :        5 Max. number of permissions per node\n");
    m = RQ(&priv, XS_CONTROL, 0, "quota-soft\0");
    ck_assert_str_eq(m.body,
                     "Quota settings:\n"
                     "memory           :  2097152 Total Xenstore memory per domain "
                     "(warning level)\n");
    m = RQ(&priv, XS_CONTROL, 0, "help\0");
    ck_assert_ptr_nonnull(strstr(m.body, "quota\t[set <name> <val>|<domid>]\n"));
    expect_ok(RQ(&priv, XS_CONTROL, 0, "print\0hello there\0"), XS_CONTROL);
    ck_assert_ptr_nonnull(strstr(log_text(), "xenstored: control: hello there\n"));
    expect_err(RQ(&priv, XS_CONTROL, 0, "print\0"), "EINVAL");
    expect_err(RQ(&priv, XS_CONTROL, 0, "live-update\0-a\0"), "EINVAL");
    expect_err(RQ(&priv, XS_CONTROL, 0, "log\0maybe\0"), "EINVAL");
    expect_ok(RQ(&priv, XS_CONTROL, 0, "log\0on\0"), XS_CONTROL);
    expect_read(&priv, 0, "/local/domain/0/name", "Domain-0");
    expect_ok(RQ(&priv, XS_CONTROL, 0, "log\0off\0"), XS_CONTROL);
    ck_assert_ptr_nonnull(strstr(log_text(), "IN  conn 0 READ (/local/domain/0/name )"));
    ck_assert_ptr_nonnull(strstr(log_text(), "OUT conn 0 READ (Domain-0)"));
    expect_ok(RQ(&priv, XS_CONTROL, 0, "check\0"), XS_CONTROL);
    ck_assert_ptr_nonnull(
        strstr(log_text(), "check_store: 11 nodes reachable, 11 stored\n"));
}
END_TEST

START_TEST(xensim_requests)
{
    ck_assert_int_eq(xs_xenstore_write(xs, "/api/x", "v", 1), 0);
    char buf[16];
    size_t len = sizeof(buf);
    ck_assert_int_eq(xs_xenstore_request(xs, XS_READ, 0, "/api/x", 7, buf, &len), 0);
    ck_assert_uint_eq(len, 1);
    ck_assert_int_eq(buf[0], 'v');
    ck_assert_int_eq(xs_xenstore_request(xs, XS_READ, 0, "/api/y", 7, NULL, NULL),
                     ENOENT);
    ck_assert_int_eq(xs_xenstore_mknod(xs, "/api/n", "n0 r3"), 0);
    expect_perms(&priv, "/api/n", "n0 r3");
    ck_assert_int_eq(xs_xenstore_rm(xs, "/api"), 0);
    expect_err(op1(&priv, XS_READ, 0, "/api/x"), "ENOENT");
}
END_TEST

/* ---- output that is never read -------------------------------------------------------
 */

START_TEST(unread_output_is_bounded)
{
    struct client *lazy = calloc(1, sizeof(*lazy));
    lazy->c = xs_xenstore_mem_conn(xs, 0);
    expect_ok(watch(lazy, XS_WATCH, "/", "all"), XS_WATCH);
    /* The client stops reading; events pile up until xenstored gives up on
     * it (1 MiB), then the connection is closed. */
    char name[1001], path[1100];
    memset(name, 'p', sizeof(name));
    name[1000] = 0;
    for (int i = 0; i < 1200 && xs_xenstore_conn_alive(lazy->c); i++) {
        snprintf(path, sizeof(path), "/f/%d/%s", i, name);
        wr(&priv, 0, path, "");
    }
    ck_assert(!xs_xenstore_conn_alive(lazy->c));
    ck_assert_ptr_nonnull(strstr(log_text(), "bytes of output unread, closing it"));
    /* A client sending requests without reading is just not read further. */
    for (int i = 0; i < 5000; i++)
        send_msg(&priv, XS_READ, 0, 0, "/local/domain/0/name", 21);
    xs_xenstore_service(xs);
    ck_assert(xs_xenstore_conn_alive(priv.c));
    xs_xenstore_conn_close(lazy->c);
    free(lazy);
}
END_TEST

START_TEST(random_bytes_never_crash)
{
    /* Garbage as privileged and as domain clients: replies or a dropped
     * connection, never a crash or a leak (ASan). */
    uint64_t x = 88172645463325252ULL;
    for (int round = 0; round < 200; round++) {
        struct client *cl = calloc(1, sizeof(*cl));
        cl->c = xs_xenstore_mem_conn(xs, round % 2 ? 0 : 10 + (unsigned)round);
        ck_assert_ptr_nonnull(cl->c);
        for (int k = 0; k < 20; k++) {
            unsigned char buf[300];
            for (size_t i = 0; i < sizeof(buf); i++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                buf[i] = (unsigned char)x;
            }
            /* Plausible headers now and then. */
            struct xsd_sockmsg h = {.type = (uint32_t)(x % 25),
                                    .tx_id = (uint32_t)(x % 3),
                                    .len = (uint32_t)(x >> 40) % 64};
            if (k % 2) memcpy(buf, &h, sizeof(h));
            xs_xenstore_conn_send(cl->c, buf, sizeof(buf));
            drain(cl, NULL, 0);
        }
        xs_xenstore_conn_close(cl->c);
        free(cl);
    }
    expect_read(&priv, 0, "/local/domain/0/name", "Domain-0");
}
END_TEST

/* ---- the ring
 * ----------------------------------------------------------------------------- */

struct ring_guest {
    struct xenstore_domain_interface *intf;
    int notified;
    evtchn_port_t last_port;
};

static void ring_notify(void *arg, evtchn_port_t port)
{
    struct ring_guest *g = arg;
    g->notified++;
    g->last_port = port;
}

static void ring_put(struct xenstore_domain_interface *intf, const void *p, size_t len)
{
    const char *b = p;
    for (size_t i = 0; i < len; i++) {
        /* A full ring: let xenstored take some. */
        for (int k = 0; k < 4 && intf->req_prod - intf->req_cons == XENSTORE_RING_SIZE;
             k++)
            xs_xenstore_service(xs);
        ck_assert_uint_lt(intf->req_prod - intf->req_cons, XENSTORE_RING_SIZE);
        intf->req[MASK_XENSTORE_IDX(intf->req_prod)] = b[i];
        intf->req_prod++;
    }
}

static size_t ring_get(struct xenstore_domain_interface *intf, void *p, size_t cap)
{
    char *b = p;
    size_t n = 0;
    while (n < cap && intf->rsp_cons != intf->rsp_prod)
        b[n++] = intf->rsp[MASK_XENSTORE_IDX(intf->rsp_cons++)];
    return n;
}

static void ring_req(struct xenstore_domain_interface *intf, uint32_t type, uint32_t id,
                     const void *p, size_t len)
{
    struct xsd_sockmsg h = {.type = type, .req_id = id, .len = (uint32_t)len};
    ring_put(intf, &h, sizeof(h));
    ring_put(intf, p, len);
}

START_TEST(ring_wraparound)
{
    struct ring_guest g = {.intf = calloc(1, 4096)};
    struct xst_conn *c = xs_xenstore_ring_conn(xs, 4, g.intf, 7, ring_notify, &g);
    ck_assert_ptr_nonnull(c);
    expect_ok(op1(&priv, XS_MKDIR, 0, "/local/domain/4"), XS_MKDIR);
    expect_ok(setp(&priv, 0, "/local/domain/4", "n4"), XS_SET_PERMS);
    /* Indexes close to the end: both messages cross the wrap. */
    g.intf->req_cons = g.intf->req_prod = 0xfffffff0u;
    g.intf->rsp_cons = g.intf->rsp_prod = 0xfffffffau;
    char val[300];
    memset(val, 'w', sizeof(val));
    char wreq[400];
    memcpy(wreq, "key", 4);
    memcpy(wreq + 4, val, sizeof(val));
    ring_req(g.intf, XS_WRITE, 1, wreq, 4 + sizeof(val));
    ring_req(g.intf, XS_READ, 2, "key", 4);
    xs_xenstore_service(xs);
    ck_assert_int_ge(g.notified, 1);
    ck_assert_uint_eq(g.last_port, 7);
    ck_assert_uint_eq(g.intf->req_cons, g.intf->req_prod);
    unsigned char out[1024];
    size_t n = ring_get(g.intf, out, sizeof(out));
    ck_assert_uint_eq(n, 16 + 3 + 16 + sizeof(val));
    struct xsd_sockmsg h;
    memcpy(&h, out, 16);
    ck_assert_uint_eq(h.type, XS_WRITE);
    ck_assert_uint_eq(h.req_id, 1);
    memcpy(&h, out + 19, 16);
    ck_assert_uint_eq(h.type, XS_READ);
    ck_assert_uint_eq(h.req_id, 2);
    ck_assert_uint_eq(h.len, sizeof(val));
    ck_assert_int_eq(memcmp(out + 35, val, sizeof(val)), 0);
    /* A reply larger than the ring goes out as the guest consumes. */
    char big[2000];
    memset(big, 'b', sizeof(big));
    memcpy(wreq, "big", 4);
    char *w2 = malloc(4 + sizeof(big));
    memcpy(w2, "big", 4);
    memcpy(w2 + 4, big, sizeof(big));
    xs_xenstore_set_domain_exists(xs, 4, true);
    expect_ok(RQ(&priv, XS_CONTROL, 0,
                 "quota\0set\0node-size\0"
                 "4000\0"),
              XS_CONTROL);
    ring_req(g.intf, XS_WRITE, 3, w2, 4 + sizeof(big));
    ring_req(g.intf, XS_READ, 4, "big", 4);
    free(w2);
    size_t total = 0;
    unsigned char got[4096];
    for (int i = 0; i < 10; i++) {
        xs_xenstore_service(xs);
        total += ring_get(g.intf, got + total, sizeof(got) - total);
    }
    ck_assert_uint_eq(total, 16 + 3 + 16 + sizeof(big));
    ck_assert_int_eq(memcmp(got + 35, big, sizeof(big)), 0);
    xs_xenstore_conn_close(c);
    free(g.intf);
}
END_TEST

START_TEST(ring_bad_indexes)
{
    struct ring_guest g = {.intf = calloc(1, 4096)};
    struct xst_conn *c = xs_xenstore_ring_conn(xs, 4, g.intf, 7, ring_notify, &g);
    ck_assert_ptr_nonnull(c);
    expect_ok(watch(&priv, XS_WATCH, "@releaseDomain", "r"), XS_WATCH);
    g.intf->req_cons = 100;
    g.intf->req_prod = 100 + XENSTORE_RING_SIZE + 1;
    xs_xenstore_service(xs);
    ck_assert(!xs_xenstore_conn_alive(c));
    ck_assert_uint_eq(g.intf->error, XENSTORE_ERROR_RINGIDX);
    ck_assert_uint_eq(g.intf->req_cons, 100);
    ck_assert_uint_eq(g.intf->rsp_prod, 0);
    ck_assert_ptr_nonnull(strstr(log_text(),
                                 "domain 4: broken xenstore ring: request producer "
                                 "1125 is 1025 bytes ahead of consumer 100"));
    /* Ignored from now on, whatever the guest does. */
    g.intf->req_prod = 100;
    for (int i = 0; i < 3; i++)
        xs_xenstore_service(xs);
    /* The domain stays introduced until it is released. */
    struct msg m = RQ(&priv, XS_IS_DOMAIN_INTRODUCED, 0, "4\0");
    ck_assert_str_eq(m.body, "T");
    expect_ok(RQ(&priv, XS_RELEASE, 0, "4\0"), XS_RELEASE);
    expect_event(&priv, 1, "@releaseDomain", "r");
    free(g.intf);

    /* A bad response index. */
    g = (struct ring_guest){.intf = calloc(1, 4096)};
    c = xs_xenstore_ring_conn(xs, 5, g.intf, 8, ring_notify, &g);
    g.intf->rsp_prod = 5000;
    ring_req(g.intf, XS_READ, 1, "x", 2);
    xs_xenstore_service(xs);
    ck_assert(!xs_xenstore_conn_alive(c));
    ck_assert_ptr_nonnull(strstr(log_text(), "response producer 5000"));
    free(g.intf);

    /* A payload over XENSTORE_PAYLOAD_MAX. */
    g = (struct ring_guest){.intf = calloc(1, 4096)};
    c = xs_xenstore_ring_conn(xs, 6, g.intf, 9, ring_notify, &g);
    struct xsd_sockmsg h = {.type = XS_READ, .len = XENSTORE_PAYLOAD_MAX + 1};
    ring_put(g.intf, &h, sizeof(h));
    xs_xenstore_service(xs);
    ck_assert(!xs_xenstore_conn_alive(c));
    ck_assert_uint_eq(g.intf->error, XENSTORE_ERROR_PROTO);
    free(g.intf);
}
END_TEST

START_TEST(ring_outstanding_quota)
{
    /* A guest that does not consume replies: xenstored stops taking its
     * requests after 20 outstanding ones. */
    struct ring_guest g = {.intf = calloc(1, 4096)};
    struct xst_conn *c = xs_xenstore_ring_conn(xs, 4, g.intf, 7, ring_notify, &g);
    ck_assert_ptr_nonnull(c);
    char val[300];
    memset(val, 'x', sizeof(val));
    val[sizeof(val) - 1] = 0;
    expect_ok(op1(&priv, XS_MKDIR, 0, "/local/domain/4"), XS_MKDIR);
    expect_ok(setp(&priv, 0, "/local/domain/4", "n0 r4"), XS_SET_PERMS);
    wr(&priv, 0, "/local/domain/4/v", val);
    uint32_t sent = 0;
    for (int round = 0; round < 60; round++) {
        while (g.intf->req_prod - g.intf->req_cons + 16 + 2 <= XENSTORE_RING_SIZE)
            ring_req(g.intf, XS_READ, ++sent, "v", 2);
        xs_xenstore_service(xs);
    }
    struct msg m = RQ(&priv, XS_CONTROL, 0,
                      "quota\0"
                      "4\0");
    ck_assert_ptr_nonnull(strstr(m.body, "outstanding     :       20\n"));
    ck_assert_uint_ne(g.intf->req_cons, g.intf->req_prod);
    /* Consuming replies lets it go on. */
    XENSTORE_RING_IDX before = g.intf->req_cons;
    g.intf->rsp_cons = g.intf->rsp_prod;
    xs_xenstore_service(xs);
    ck_assert_uint_ne(g.intf->req_cons, before);
    xs_xenstore_conn_close(c);
    free(g.intf);
}
END_TEST

START_TEST(ring_reconnect_on_introduce)
{
    struct ring_guest g = {.intf = calloc(1, 4096)};
    ck_assert_ptr_nonnull(xs_xenstore_ring_conn(xs, 4, g.intf, 7, ring_notify, &g));
    g.intf->req_prod = 12;
    g.intf->connection = XENSTORE_RECONNECT;
    int before = g.notified;
    /* Introducing again resets the indexes and acknowledges a reconnect. */
    ck_assert_ptr_nonnull(xs_xenstore_ring_conn(xs, 4, g.intf, 7, ring_notify, &g));
    ck_assert_uint_eq(g.intf->req_prod, 0);
    ck_assert_uint_eq(g.intf->connection, XENSTORE_CONNECTED);
    ck_assert_int_eq(g.notified, before + 1);
    free(g.intf);
}
END_TEST

/* ---- in a simulation
 * --------------------------------------------------------------------- */

static struct xs_sim sim;

static struct xs_domain *sim_domain(const char *name)
{
    const char *dir = getenv("XENSIM_GUEST_DIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/basic.elf", dir && *dir ? dir : "build/guests");
    char err[512] = "";
    struct xs_domain_config dc = {.name = name,
                                  .image_path = path,
                                  .memory_mib = 16,
                                  .vcpus = 2,
                                  .cmdline = "",
                                  .hypercalls = XS_HC_DIRECT};
    struct xs_domain *d = xs_domain_create(&sim, &dc, err, sizeof(err));
    ck_assert_msg(d, "xs_domain_create: %s", err);
    return d;
}

START_TEST(sim_domain_nodes_and_ring)
{
    struct xs_sim_config cfg = {.seed = 1, .log = xlog};
    char err[512];
    ck_assert_int_eq(xs_sim_init(&sim, &cfg, err, sizeof(err)), 0);
    ck_assert_int_eq(xs_xenstore_attach(&sim, NULL, err, sizeof(err)), 0);
    struct xs_xenstore *sx = sim.xenstore;
    struct client w = {.c = xs_xenstore_mem_conn(sx, 0)};
    struct xs_xenstore *saved = xs;
    xs = sx; /* the helpers talk to this store */
    expect_ok(watch(&w, XS_WATCH, "@introduceDomain", "in"), XS_WATCH);
    expect_ok(watch(&w, XS_WATCH, "@releaseDomain", "out"), XS_WATCH);
    struct xs_domain *d = sim_domain("guest");
    drain(&w, NULL, 0);
    expect_event(&w, 2, "@introduceDomain", "in");
    /* What xl writes. */
    expect_perms(&w, "/local/domain/1", "n0 r1");
    expect_read(&w, 0, "/local/domain/1/name", "guest");
    expect_read(&w, 0, "/local/domain/1/domid", "1");
    expect_read(&w, 0, "/local/domain/1/vm", "/vm/00000000-0000-0000-0000-000000000001");
    expect_read(&w, 0, "/vm/00000000-0000-0000-0000-000000000001/name", "guest");
    expect_read(&w, 0, "/local/domain/1/memory/static-max", "16384");
    expect_read(&w, 0, "/local/domain/1/cpu/1/availability", "online");
    expect_read(&w, 0, "/local/domain/1/control/platform-feature-xs_reset_watches", "1");
    expect_perms(&w, "/local/domain/1/control/shutdown", "n1");
    expect_perms(&w, "/local/domain/1/data", "n1");
    expect_read(&w, 0, "/libxl/1/type", "pvh");
    expect_dir(
        &w, "/local/domain/1/control",
        "shutdown feature-poweroff feature-reboot feature-suspend sysrq "
        "platform-feature-multiprocessor-suspend platform-feature-xs_reset_watches");
    uint64_t pfn = d->hvm_params[HVM_PARAM_STORE_PFN];
    evtchn_port_t port = (evtchn_port_t)d->hvm_params[HVM_PARAM_STORE_EVTCHN];
    ck_assert_uint_eq(pfn, xs_xenstore_ring_pfn(d));
    ck_assert_uint_eq(pfn, (16u << 20) / 4096 - 8 + 4);
    char want[32];
    snprintf(want, sizeof(want), "%u", port);
    expect_read(&w, 0, "/local/domain/1/store/port", want);
    snprintf(want, sizeof(want), "%llu", (unsigned long long)pfn);
    expect_read(&w, 0, "/local/domain/1/store/ring-ref", want);
    struct msg m = RQ(&w, XS_IS_DOMAIN_INTRODUCED, 0, "1\0");
    ck_assert_str_eq(m.body, "T");
    /* The guest's side: a request in the ring page of its RAM, then the run
     * loop's poll answers it and raises the store port. */
    struct xenstore_domain_interface *intf =
        (struct xenstore_domain_interface *)(d->base + pfn * 4096);
    ck_assert(!xs_evtchn_is_pending(d, port));
    ring_req(intf, XS_WRITE, 5, "data/hello\0world", 16);
    ring_req(intf, XS_READ, 6, "name", 5);
    xs_xenstore_sim_poll(&sim);
    ck_assert(xs_evtchn_is_pending(d, port));
    char out[256];
    size_t n = ring_get(intf, out, sizeof(out));
    ck_assert_uint_eq(n, 16 + 3 + 16 + 5);
    ck_assert_int_eq(memcmp(out + 35, "guest", 5), 0);
    expect_read(&w, 0, "/local/domain/1/data/hello", "world");
    expect_perms(&w, "/local/domain/1/data/hello", "n1");
    /* INTRODUCE again (as after a resume): the ring is reset. */
    int wl =
        snprintf(want, sizeof(want), "1%c%llu%c%u", 0, (unsigned long long)pfn, 0, port);
    expect_ok(rq(&w, XS_INTRODUCE, 0, want, (size_t)wl + 1), XS_INTRODUCE);
    ck_assert_uint_eq(intf->rsp_prod, 0);
    /* Shutdown: @releaseDomain. */
    int before = w.nev;
    xs_domain_end(d, XS_END_POWEROFF);
    drain(&w, NULL, 0);
    ck_assert_int_eq(w.nev, before + 1);
    expect_event(&w, before, "@releaseDomain", "out");
    xs_xenstore_conn_close(w.c);
    ck_assert_uint_eq(xs_xenstore_corruptions(sx), 0);
    xs = saved;
    xs_sim_destroy(&sim);
    ck_assert_ptr_null(sim.xenstore);
}
END_TEST

/* A device as xl sets it up: each end owns its directory and the other end
 * may read it; a third domain sees neither.  The store ring is seeded in
 * grant entry GNTTAB_RESERVED_XENSTORE for Dom0, as libxl does. */
START_TEST(sim_device_nodes)
{
    struct xs_sim_config cfg = {.seed = 1, .log = xlog};
    char err[512];
    ck_assert_int_eq(xs_sim_init(&sim, &cfg, err, sizeof(err)), 0);
    ck_assert_int_eq(xs_xenstore_attach(&sim, NULL, err, sizeof(err)), 0);
    struct xs_xenstore *saved = xs;
    xs = sim.xenstore;
    struct xs_domain *fe = sim_domain("fe");
    sim_domain("be");
    sim_domain("other");
    /* Dom0 can map the store ring through the seeded grant. */
    void *ring;
    grant_handle_t h;
    ck_assert_int_eq(
        xs_gnttab_backend_map(fe, GNTTAB_RESERVED_XENSTORE, false, &ring, &h),
        GNTST_okay);
    struct xenstore_domain_interface *guest_view =
        (void *)(fe->base + fe->hvm_params[HVM_PARAM_STORE_PFN] * 4096);
    ((struct xenstore_domain_interface *)ring)->server_features = 0x5a;
    ck_assert_uint_eq(guest_view->server_features, 0x5a);
    guest_view->server_features = 0;
    ck_assert_int_eq(xs_gnttab_backend_unmap(fe, h), GNTST_okay);
    ck_assert_int_eq(xs_xenstore_add_device(&sim, "vshare", 1, 2, 0, err, sizeof(err)),
                     0);
    struct client w = {.c = xs_xenstore_mem_conn(xs, 0)};
    expect_perms(&w, "/local/domain/1/device/vshare/0", "n1 r2");
    expect_perms(&w, "/local/domain/1/device/vshare/0/state", "n1 r2");
    expect_read(&w, 0, "/local/domain/1/device/vshare/0/backend",
                "/local/domain/2/backend/vshare/1/0");
    expect_read(&w, 0, "/local/domain/1/device/vshare/0/backend-id", "2");
    expect_read(&w, 0, "/local/domain/1/device/vshare/0/state", "1");
    expect_perms(&w, "/local/domain/2/backend/vshare/1/0", "n2 r1");
    expect_read(&w, 0, "/local/domain/2/backend/vshare/1/0/frontend",
                "/local/domain/1/device/vshare/0");
    expect_read(&w, 0, "/local/domain/2/backend/vshare/1/0/frontend-id", "1");
    expect_read(&w, 0, "/local/domain/2/backend/vshare/1/0/online", "1");
    expect_read(&w, 0, "/local/domain/2/backend/vshare/1/0/state", "1");
    xs_xenstore_conn_close(w.c);
    /* Errors name the device and the node. */
    ck_assert_int_eq(xs_xenstore_add_device(&sim, "bad class", 1, 2, 0, err, sizeof(err)),
                     -1);
    ck_assert_msg(strstr(err, "device bad class/0: cannot write "
                              "/local/domain/1/device/bad class/0: EINVAL"),
                  "%s", err);
    xs = saved;
    xs_sim_destroy(&sim);
}
END_TEST

START_TEST(sim_without_store)
{
    struct xs_sim_config cfg = {.seed = 1, .log = xlog};
    char err[512];
    ck_assert_int_eq(xs_sim_init(&sim, &cfg, err, sizeof(err)), 0);
    struct xs_domain *d = sim_domain("plain");
    ck_assert_uint_eq(d->hvm_params[HVM_PARAM_STORE_PFN], 0);
    xs_xenstore_sim_poll(&sim);
    xs_sim_destroy(&sim);
}
END_TEST

Suite *xenstore_suite(void)
{
    Suite *s = suite_create("xenstore");
    TCase *store = tcase_create("store");
    tcase_add_checked_fixture(store, setup, teardown);
    tcase_set_timeout(store, 60);
    tcase_add_test(store, initial_nodes);
    tcase_add_test(store, write_read_mkdir_rm);
    tcase_add_test(store, children_in_creation_order);
    tcase_add_test(store, path_rules);
    tcase_add_test(store, malformed_requests);
    tcase_add_test(store, oversized_payload_drops_client);
    tcase_add_test(store, byte_at_a_time);
    tcase_add_test(store, directory_part);
    tcase_add_test(store, permissions);
    tcase_add_test(store, set_target);
    tcase_add_test(store, special_paths_permissions);
    tcase_add_test(store, xensim_requests);
    suite_add_tcase(s, store);

    TCase *w = tcase_create("watches");
    tcase_add_checked_fixture(w, setup, teardown);
    tcase_set_timeout(w, 60);
    tcase_add_test(w, watch_basics);
    tcase_add_test(w, watch_rm_subtree);
    tcase_add_test(w, watch_relative_and_permissions);
    tcase_add_test(w, watch_special_introduce_release);
    tcase_add_test(w, watch_quota);
    suite_add_tcase(s, w);

    TCase *t = tcase_create("transactions");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, transaction_basics);
    tcase_add_test(t, transaction_conflicts);
    tcase_add_test(t, transaction_quotas);
    suite_add_tcase(s, t);

    TCase *q = tcase_create("quotas");
    tcase_add_checked_fixture(q, setup, teardown);
    tcase_set_timeout(q, 60);
    tcase_add_test(q, node_quotas);
    tcase_add_test(q, control_commands);
    tcase_add_test(q, unread_output_is_bounded);
    tcase_add_test(q, random_bytes_never_crash);
    suite_add_tcase(s, q);

    TCase *r = tcase_create("ring");
    tcase_add_checked_fixture(r, setup, teardown);
    tcase_set_timeout(r, 60);
    tcase_add_test(r, ring_wraparound);
    tcase_add_test(r, ring_bad_indexes);
    tcase_add_test(r, ring_outstanding_quota);
    tcase_add_test(r, ring_reconnect_on_introduce);
    suite_add_tcase(s, r);

    TCase *sm = tcase_create("simulation");
    tcase_add_checked_fixture(sm, setup, teardown);
    tcase_set_timeout(sm, 60);
    tcase_add_test(sm, sim_domain_nodes_and_ring);
    tcase_add_test(sm, sim_without_store);
    tcase_add_test(sm, sim_device_nodes);
    suite_add_tcase(s, sm);
    return s;
}
