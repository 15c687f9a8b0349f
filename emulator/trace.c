/* Trace records, the running hash, and the trace file reader. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "hypercall.h"
#include "scenario.h"
#include "trace.h"

#define REC_BYTES   84
#define PAYLOAD_MAX (1u << 20)

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint64_t get_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Running hash: FNV-1a's offset and prime applied a 64-bit word at a time
 * (a byte at a time cost more than the rest of a hypercall).  Tails are
 * zero-padded. */
static uint64_t hash_words(uint64_t h, const void *data, size_t len)
{
    const uint8_t *p = data;
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x100000001b3ULL;
        h ^= h >> 29;
    }
    if (len) {
        uint64_t w = 0;
        memcpy(&w, p, len);
        h = (h ^ w ^ (uint64_t)len << 56) * 0x100000001b3ULL;
        h ^= h >> 29;
    }
    return h;
}

void xs_trace_init(struct xs_trace *t)
{
    memset(t, 0, sizeof(*t));
    t->hash = 0xcbf29ce484222325ULL;
}

int xs_trace_open(struct xs_trace *t, const char *path)
{
    t->file = fopen(path, "wb");
    if (!t->file) return -1;
    uint8_t hdr[16] = {0};
    memcpy(hdr, XS_TRACE_MAGIC, 8);
    put_le(hdr + 8, 1, 4);
    fwrite(hdr, 1, sizeof(hdr), t->file);
    return 0;
}

void xs_trace_close(struct xs_trace *t)
{
    if (t->file) fclose(t->file);
    t->file = NULL;
}

static void encode(uint8_t *b, const struct xs_trace_rec *r)
{
    put_le(b, r->seq, 8);
    put_le(b + 8, r->vtime, 8);
    put_le(b + 16, r->dom, 2);
    put_le(b + 18, r->vcpu, 2);
    put_le(b + 20, r->kind, 2);
    put_le(b + 22, r->sub, 2);
    for (int i = 0; i < XS_TRACE_NARGS; i++)
        put_le(b + 24 + 8 * i, r->a[i], 8);
    put_le(b + 72, (uint64_t)r->ret, 8);
    put_le(b + 80, r->payload_len, 4);
}

static void decode_rec(const uint8_t *b, struct xs_trace_rec *r)
{
    r->seq = get_le(b, 8);
    r->vtime = get_le(b + 8, 8);
    r->dom = (uint16_t)get_le(b + 16, 2);
    r->vcpu = (uint16_t)get_le(b + 18, 2);
    r->kind = (uint16_t)get_le(b + 20, 2);
    r->sub = (uint16_t)get_le(b + 22, 2);
    for (int i = 0; i < XS_TRACE_NARGS; i++)
        r->a[i] = get_le(b + 24 + 8 * i, 8);
    r->ret = (int64_t)get_le(b + 72, 8);
    r->payload_len = (uint32_t)get_le(b + 80, 4);
}

void xs_trace_emit(struct xs_trace *t, uint64_t vtime, unsigned dom, unsigned vcpu,
                   unsigned kind, unsigned sub, const uint64_t *args, unsigned nargs,
                   int64_t ret, const void *payload, uint32_t payload_len)
{
    struct xs_trace_rec r = {.seq = t->seq++,
                             .vtime = vtime,
                             .dom = (uint16_t)dom,
                             .vcpu = (uint16_t)vcpu,
                             .kind = (uint16_t)kind,
                             .sub = (uint16_t)sub,
                             .ret = ret,
                             .payload_len = payload_len};
    for (unsigned i = 0; i < nargs && i < XS_TRACE_NARGS; i++)
        r.a[i] = args[i];
    uint8_t b[REC_BYTES];
    encode(b, &r);
    t->hash = hash_words(t->hash, b, sizeof(b));
    if (payload_len) t->hash = hash_words(t->hash, payload, payload_len);
    if (t->file) {
        fwrite(b, 1, sizeof(b), t->file);
        if (payload_len) fwrite(payload, 1, payload_len, t->file);
    }
}

static const char *const kind_names[] = {
    [XS_TR_DOMAIN_CREATE] = "domain-create",
    [XS_TR_SCHED] = "sched",
    [XS_TR_HYPERCALL] = "hypercall",
    [XS_TR_TRAP] = "trap",
    [XS_TR_CONSOLE] = "console",
    [XS_TR_END] = "end",
    [XS_TR_IDLE] = "idle",
    [XS_TR_FAULT] = "fault",
    [XS_TR_STOP] = "stop",
    [XS_TR_EVTCHN] = "evtchn",
    [XS_TR_UPCALL] = "upcall",
    [XS_TR_TIMER] = "timer",
    [XS_TR_VCPU] = "vcpu",
    [XS_TR_GNTTAB_LEAK] = "gnttab-leak",
    [XS_TR_SUSPEND] = "suspend",
};

const char *xs_trace_kind_name(unsigned kind)
{
    if (kind < sizeof(kind_names) / sizeof(kind_names[0]) && kind_names[kind])
        return kind_names[kind];
    return NULL;
}

static void print_payload(FILE *out, const uint8_t *p, uint32_t len)
{
    fputc('"', out);
    for (uint32_t i = 0; i < len; i++) {
        if (p[i] == '\n')
            fputs("\\n", out);
        else if (p[i] == '"' || p[i] == '\\')
            fprintf(out, "\\%c", p[i]);
        else if (p[i] < 0x20 || p[i] >= 0x7f)
            fprintf(out, "\\x%02x", p[i]);
        else
            fputc(p[i], out);
    }
    fputc('"', out);
}

static void print_rec(FILE *out, const struct xs_trace_rec *r, const uint8_t *payload)
{
    fprintf(out, "%8" PRIu64 " %12" PRIu64 "ns d%u.v%u %-13s", r->seq, r->vtime, r->dom,
            r->vcpu, xs_trace_kind_name(r->kind));
    switch (r->kind) {
    case XS_TR_HYPERCALL: {
        const char *n = xs_hypercall_name(r->sub);
        fprintf(out, " %s(%u)", n ? n : "unknown", r->sub);
        for (int i = 0; i < 5; i++)
            fprintf(out, "%s%#" PRIx64, i ? ", " : " ", r->a[i]);
        fprintf(out, " -> %" PRId64, r->ret);
        break;
    }
    case XS_TR_TRAP:
        fprintf(out, " %s a=%#" PRIx64 " b=%#" PRIx64 " -> %#" PRIx64,
                xs_trap_name(r->sub), r->a[0], r->a[1], (uint64_t)r->ret);
        break;
    case XS_TR_END:
        fprintf(out, " %s", xs_end_state_name(r->sub));
        if ((int64_t)r->a[0] >= 0) /* SCHEDOP_shutdown_code, when one was set */
            fprintf(out, " code=%" PRId64, (int64_t)r->a[0]);
        break;
    case XS_TR_SCHED:
        fprintf(out, " runnable=%" PRIu64, r->a[0]);
        break;
    case XS_TR_IDLE:
        fprintf(out, " %" PRIu64 "ns -> %" PRIu64 "ns", r->a[0], r->a[1]);
        break;
    case XS_TR_FAULT:
        fprintf(out,
                " signal=%" PRIu64 " code=%" PRId64 " rip=%#" PRIx64 " addr=%#" PRIx64,
                r->a[0], (int64_t)r->a[1], r->a[2], r->a[3]);
        break;
    case XS_TR_EVTCHN:
        fprintf(out, " port=%" PRIu64 " vcpu=%" PRIu64, r->a[0], r->a[1]);
        break;
    case XS_TR_UPCALL:
        fprintf(out, " vector=%#" PRIx64 " rip=%#" PRIx64, r->a[0], r->a[1]);
        break;
    case XS_TR_TIMER: {
        static const char *const tk[] = {"singleshot", "periodic", "poll-timeout"};
        fprintf(out, " %s deadline=%" PRIu64 "ns", r->sub < 3 ? tk[r->sub] : "?",
                r->a[0]);
        break;
    }
    case XS_TR_VCPU: {
        static const char *const vk[] = {"initialise", "up", "down"};
        fprintf(out, " %s rip=%#" PRIx64, r->sub < 3 ? vk[r->sub] : "?", r->a[0]);
        break;
    }
    case XS_TR_GNTTAB_LEAK: {
        static const char *const gk[] = {"still-maps", "still-mapped",
                                         "ended-while-mapped"};
        fprintf(out,
                " %s granter=d%" PRIu64 " ref=%" PRIu64 " frame=%#" PRIx64
                " mapper=d%" PRIu64 " %#" PRIx64 " %#" PRIx64,
                r->sub < 3 ? gk[r->sub] : "?", r->a[0], r->a[1], r->a[2], r->a[3],
                r->a[4], r->a[5]);
        break;
    }
    case XS_TR_SUSPEND: {
        static const char *const sk[] = {"requested", "suspended", "cancelled", "resumed",
                                         "failed"};
        fprintf(out, " %s", r->sub < 5 ? sk[r->sub] : "?");
        if (r->sub == 3) fprintf(out, " as d%" PRIu64, r->a[0]);
        break;
    }
    case XS_TR_DOMAIN_CREATE:
        fprintf(out, " memory=%" PRIu64 " vcpus=%" PRIu64 " entry=%#" PRIx64, r->a[0],
                r->a[1], r->a[2]);
        break;
    default:
        break;
    }
    if (r->payload_len) {
        fputc(' ', out);
        print_payload(out, payload, r->payload_len);
    }
    fputc('\n', out);
}

int xs_trace_dump(const char *path, FILE *out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    uint8_t hdr[16];
    if (fread(hdr, 1, 16, f) != 16 || memcmp(hdr, XS_TRACE_MAGIC, 8) ||
        get_le(hdr + 8, 4) != 1) {
        snprintf(err, errlen, "%s: not an xensim trace (bad header)", path);
        fclose(f);
        return -1;
    }
    uint8_t *payload = malloc(PAYLOAD_MAX);
    if (!payload) {
        snprintf(err, errlen, "out of memory");
        fclose(f);
        return -1;
    }
    int rc = -1;
    uint64_t off = 16, hash = 0xcbf29ce484222325ULL, n = 0;
    for (;;) {
        uint8_t b[REC_BYTES];
        size_t got = fread(b, 1, sizeof(b), f);
        if (got == 0) break;
        struct xs_trace_rec r;
        if (got != sizeof(b)) {
            snprintf(err, errlen, "%s: truncated record at offset %" PRIu64, path, off);
            goto out;
        }
        decode_rec(b, &r);
        if (!xs_trace_kind_name(r.kind) || r.payload_len > PAYLOAD_MAX || r.seq != n) {
            snprintf(err, errlen,
                     "%s: corrupt record at offset %" PRIu64 " (kind %u, seq %" PRIu64
                     ", payload %u bytes)",
                     path, off, r.kind, r.seq, r.payload_len);
            goto out;
        }
        if (r.payload_len && fread(payload, 1, r.payload_len, f) != r.payload_len) {
            snprintf(err, errlen, "%s: truncated payload at offset %" PRIu64, path,
                     off + REC_BYTES);
            goto out;
        }
        hash = hash_words(hash, b, sizeof(b));
        hash = hash_words(hash, payload, r.payload_len);
        print_rec(out, &r, payload);
        off += REC_BYTES + r.payload_len;
        n++;
    }
    fprintf(out, "# %" PRIu64 " records, trace-hash=%016" PRIx64 "\n", n, hash);
    rc = 0;
out:
    free(payload);
    fclose(f);
    return rc;
}
