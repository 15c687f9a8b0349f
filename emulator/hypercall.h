/* Hypercall dispatch: one registry indexed by hypercall number. */
#ifndef XS_HYPERCALL_H
#define XS_HYPERCALL_H
#include <stdint.h>

struct xs_vcpu;

#define XS_XEN_MAJOR        4
#define XS_XEN_MINOR        17
#define XS_XEN_EXTRAVERSION ".0-xensim"
#define XS_HYPERCALL_MSR    0x40000000u

typedef long (*xs_hypercall_fn)(struct xs_vcpu *v, const uint64_t a[5]);

/* The guest's registers hold a hypercall (rax = nr, args in rdi, rsi, rdx,
 * r10, r8): run it, put the result in rax and trace it. */
void xs_hypercall_dispatch(struct xs_vcpu *v);
/* Run hypercall nr with explicit args (tests, fuzzers); returns the result. */
long xs_hypercall_call(struct xs_vcpu *v, unsigned nr, const uint64_t a[5]);
const char *xs_hypercall_name(unsigned nr);
/* Fill a hypercall page at guest physical gpa in the domain's mode. */
int xs_hypercall_page_fill(struct xs_vcpu *v, uint64_t gpa);

/* Families (hc_*.c). */
long xs_hc_xen_version(struct xs_vcpu *v, const uint64_t a[5]);
long xs_hc_console_io(struct xs_vcpu *v, const uint64_t a[5]);
long xs_hc_memory_op(struct xs_vcpu *v, const uint64_t a[5]);
long xs_hc_hvm_op(struct xs_vcpu *v, const uint64_t a[5]);
long xs_hc_sched_op(struct xs_vcpu *v, const uint64_t a[5]);
long xs_hc_vcpu_op(struct xs_vcpu *v, const uint64_t a[5]);
long xs_hc_set_timer_op(struct xs_vcpu *v, const uint64_t a[5]);
#endif
