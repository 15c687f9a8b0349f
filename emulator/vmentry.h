/* VM entry and exit: the hand-written switch between the simulator's host
 * context and a vCPU's guest context (vmentry.S). */
#ifndef XS_VMENTRY_H
#define XS_VMENTRY_H
#include <stdint.h>

/* Per-thread switch state.  A thread runs at most one vCPU at a time, and
 * the signal handler (which cannot be passed arguments) finds it here: the
 * only thread-global state in xensim.  Offsets are used by vmentry.S. */
struct xs_cpu_tls {
    uint64_t host_rsp;   /*  0: host stack at vm entry */
    uint64_t regs_end;   /*  8: &vcpu->regs.rsp (exit pushes downwards from here) */
    uint64_t regs_start; /* 16: &vcpu->regs (entry pops upwards from here) */
    uint64_t resume_rip; /* 24: where guest execution continues */
    uint64_t guest_rsp;  /* 32: guest %rsp at a direct hypercall exit */
    uint64_t in_guest;   /* 40: nonzero while guest code runs */
    void *vcpu;          /* 48: struct xs_vcpu running on this thread */
    uint8_t syscall_sel; /* 56: syscall user dispatch selector: 1 = block */
    int tsc_trapping;    /* rdtsc faults (PR_TSC_SIGSEGV) on this thread */
    int guest_ticks;     /* watchdog ticks since the last VM entry */
};

/* Make rdtsc trap before guest code runs (see trap.c). */
void xs_tsc_trap_arm(void);
/* Let rdtsc run natively again. */
void xs_tsc_trap_disarm(void);

extern __thread struct xs_cpu_tls xs_tls;

/* Enter the guest; returns an enum xs_exit_kind when it exits. */
uint64_t xs_vm_enter(void);
/* Target of the direct hypercall stubs in the hypercall page. */
void xs_hc_direct_entry(void);
/* Where the signal handler sends the thread to leave guest context. */
void xs_signal_exit(void);
#endif
