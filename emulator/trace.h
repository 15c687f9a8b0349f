/* The trace: every VM exit with its arguments and result, every scheduling
 * decision, console output and domain life-cycle event.  Each record feeds a
 * running hash (FNV-1a constants, a word at a time); the same inputs give the same hash
 * on any machine. Records never contain host addresses: guest pointers are recorded as
 * guest physical addresses. */
#ifndef XS_TRACE_H
#define XS_TRACE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define XS_TRACE_MAGIC "XSTRACE1"
#define XS_TRACE_NARGS 6

enum xs_trace_kind {
    XS_TR_DOMAIN_CREATE = 1, /* a0 = memory bytes, a1 = vcpus, a2 = entry gpa */
    XS_TR_SCHED = 2,         /* vcpu picked; a0 = number runnable */
    XS_TR_HYPERCALL = 3,     /* sub = hypercall nr; a0..a4 args; ret */
    XS_TR_TRAP = 4,          /* sub = trapped instruction kind; a0.. operands; ret */
    XS_TR_CONSOLE = 5,       /* payload = bytes written */
    XS_TR_END = 6,           /* sub = end state; a0 = shutdown code */
    XS_TR_IDLE = 7,          /* all blocked: virtual time jumps; a0 = from, a1 = to */
    XS_TR_FAULT = 8,   /* guest fault; a0 = signal, a1 = code, a2 = rip gpa, a3 = addr */
    XS_TR_STOP = 9,    /* the run stopped early; payload = reason */
    XS_TR_EVTCHN = 10, /* port newly pending; a0 = port, a1 = notified vcpu */
    XS_TR_UPCALL = 11, /* callback injected; a0 = vector, a1 = interrupted rip gpa */
    XS_TR_TIMER =
        12,          /* sub = 0 singleshot / 1 periodic / 2 poll timeout; a0 = deadline */
    XS_TR_VCPU = 13, /* sub = 0 initialised / 1 up / 2 down; a0 = rip gpa */
    XS_TR_GNTTAB_LEAK = 14, /* grant sanitizer; sub and a0..a5: docs/gnttab.md */
    XS_TR_SUSPEND = 15,     /* sub = 0 requested / 1 suspended / 2 cancelled / 3 resumed
                               (a0 = new domid) / 4 failed; payload = reason if failed */
};

struct xs_trace_rec {
    uint64_t seq;
    uint64_t vtime;
    uint16_t dom, vcpu, kind, sub;
    uint64_t a[XS_TRACE_NARGS];
    int64_t ret;
    uint32_t payload_len;
};

struct xs_trace {
    uint64_t seq;
    uint64_t hash;
    FILE *file; /* NULL: hash only */
};

void xs_trace_init(struct xs_trace *t);
int xs_trace_open(struct xs_trace *t, const char *path);
void xs_trace_close(struct xs_trace *t);
void xs_trace_emit(struct xs_trace *t, uint64_t vtime, unsigned dom, unsigned vcpu,
                   unsigned kind, unsigned sub, const uint64_t *args, unsigned nargs,
                   int64_t ret, const void *payload, uint32_t payload_len);
const char *xs_trace_kind_name(unsigned kind);
/* Print a trace file readably; returns 0, or -1 with a message in err. */
int xs_trace_dump(const char *path, FILE *out, char *err, size_t errlen);
#endif
