/* Guest code runs natively, so a privileged or emulated instruction (cli,
 * sti, hlt, wrmsr, rdtsc with CR4.TSD, in/out, lidt), Xen's forced-emulation
 * prefix (ud2), vmcall, or a fault arrives as SIGSEGV/SIGILL/SIGBUS/SIGFPE/
 * SIGTRAP.  The handler saves the guest registers into the vCPU and resumes
 * the thread in host context (xs_signal_exit): a VM exit.  Signals raised by
 * xensim's own code are passed on to whoever handled them before (the
 * default action, or a sanitizer's report).
 *
 * Process-wide state here is unavoidable: signal dispositions belong to the
 * process.  They are written once. */
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <linux/prctl.h>
#include <asm/prctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <sys/time.h>
#include <ucontext.h>

#include "sim.h"
#include "trap.h"
#include "vmentry.h"

__thread struct xs_cpu_tls xs_tls;

#define ALTSTACK_SIZE  (256 * 1024)
#define ALTSTACK_MAGIC 0x78656e73696d5347ULL /* "GSmisnex" */

/* At the base of this thread's signal stack (the stack grows down, away
 * from it). */
struct altstack_hdr {
    uint64_t magic;
    unsigned long fs_base; /* this thread's TLS base */
    uint8_t *selector;     /* xs_tls.syscall_sel, by address */
    int fs_clobbered;      /* guest code had changed the FS base */
    stack_t previous;      /* the signal stack before ours (a sanitizer's) */
};

static const int trapped_signals[] = {SIGSEGV, SIGILL, SIGBUS, SIGFPE, SIGTRAP, SIGSYS};
static struct sigaction previous[NSIG];
static atomic_flag installed = ATOMIC_FLAG_INIT;

#define EFL_TF (1u << 8)
#define EFL_DF (1u << 10)
#define EFL_AC (1u << 18)

static void pass_on(int sig, siginfo_t *si, void *uctx)
{
    const struct sigaction *p = &previous[sig];
    if ((p->sa_flags & SA_SIGINFO) && p->sa_sigaction) {
        p->sa_sigaction(sig, si, uctx);
        return;
    }
    if (p->sa_handler != SIG_DFL && p->sa_handler != SIG_IGN) {
        p->sa_handler(sig);
        return;
    }
    /* Restore the default action; the faulting instruction runs again and
     * the process dies the ordinary way (core dump, status). */
    signal(sig, SIG_DFL);
}

void xs_tsc_trap_arm(void)
{
    if (!xs_tls.tsc_trapping) {
        prctl(PR_SET_TSC, PR_TSC_SIGSEGV, 0, 0, 0);
        xs_tls.tsc_trapping = 1;
    }
}

void xs_tsc_trap_disarm(void)
{
    if (xs_tls.tsc_trapping) {
        prctl(PR_SET_TSC, PR_TSC_ENABLE, 0, 0, 0);
        xs_tls.tsc_trapping = 0;
    }
}

/* rdtsc traps only for the guest's sake.  When xensim's own code (the vDSO
 * clock, a sanitizer's allocator) hits it, let rdtsc run natively and
 * re-execute; the next VM entry arms the trap again.  Cheap, because host
 * code rarely reads the TSC. */
static bool host_rdtsc(int sig, const ucontext_t *uc)
{
    if (sig != SIGSEGV || !xs_tls.tsc_trapping) return false;
    const uint8_t *ip = (const uint8_t *)uc->uc_mcontext.gregs[REG_RIP];
    if (!(ip[0] == 0x0f && (ip[1] == 0x31 || (ip[1] == 0x01 && ip[2] == 0xf9))))
        return false;
    xs_tsc_trap_disarm();
    return true;
}

/* First thing in the handler, before any thread-local access: let host
 * system calls through and put back the FS base if guest code changed %fs
 * (`mov %eax,%fs` with a null selector zeroes the base natively). */
__attribute__((no_stack_protector, no_sanitize_address)) static void
restore_host_state(void)
{
    uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
    struct altstack_hdr *h =
        (struct altstack_hdr *)(sp & ~(uintptr_t)(ALTSTACK_SIZE - 1));
    if (h->magic != ALTSTACK_MAGIC) return; /* not on our stack: %fs never left */
    *(volatile uint8_t *)h->selector = SYSCALL_DISPATCH_FILTER_ALLOW;
    unsigned long fs = 0;
    syscall(SYS_arch_prctl, ARCH_GET_FS, &fs);
    if (fs != h->fs_base) {
        syscall(SYS_arch_prctl, ARCH_SET_FS, h->fs_base);
        h->fs_clobbered = 1;
    }
}

__attribute__((no_stack_protector)) static void on_signal(int sig, siginfo_t *si,
                                                          void *uctx)
{
    restore_host_state();
    /* Host code runs from here on: its system calls (sigreturn first) must
     * not be caught by the guest's syscall filter. */
    xs_tls.syscall_sel = SYSCALL_DISPATCH_FILTER_ALLOW;
    if (sig == SIGPROF) {
        /* The watchdog tick: only a guest that has run this long without a
         * single VM exit is taken out (the run then stops, see sim.c).
         * Otherwise resume; the filter is re-armed at the next VM entry. */
        if (!xs_tls.in_guest || ++xs_tls.guest_ticks < XS_STUCK_TICKS) return;
    } else if (!xs_tls.in_guest) {
        if (!host_rdtsc(sig, uctx)) pass_on(sig, si, uctx);
        return;
    }
    ucontext_t *uc = uctx;
    greg_t *g = uc->uc_mcontext.gregs;
    struct xs_vcpu *v = xs_tls.vcpu;
    struct xs_regs *r = &v->regs;
    r->rax = (uint64_t)g[REG_RAX];
    r->rbx = (uint64_t)g[REG_RBX];
    r->rcx = (uint64_t)g[REG_RCX];
    r->rdx = (uint64_t)g[REG_RDX];
    r->rsi = (uint64_t)g[REG_RSI];
    r->rdi = (uint64_t)g[REG_RDI];
    r->rbp = (uint64_t)g[REG_RBP];
    r->rsp = (uint64_t)g[REG_RSP];
    r->r8 = (uint64_t)g[REG_R8];
    r->r9 = (uint64_t)g[REG_R9];
    r->r10 = (uint64_t)g[REG_R10];
    r->r11 = (uint64_t)g[REG_R11];
    r->r12 = (uint64_t)g[REG_R12];
    r->r13 = (uint64_t)g[REG_R13];
    r->r14 = (uint64_t)g[REG_R14];
    r->r15 = (uint64_t)g[REG_R15];
    r->rip = (uint64_t)g[REG_RIP];
    r->rflags = (uint64_t)g[REG_EFL];
    v->sig.signo = sig;
    v->sig.code = si->si_code;
    v->sig.addr = (uint64_t)(uintptr_t)si->si_addr;
    uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
    struct altstack_hdr *h =
        (struct altstack_hdr *)(sp & ~(uintptr_t)(ALTSTACK_SIZE - 1));
    v->sig.fs_clobbered = h->magic == ALTSTACK_MAGIC && h->fs_clobbered;
    if (v->sig.fs_clobbered) h->fs_clobbered = 0;
    xs_tls.in_guest = 0;
    g[REG_RIP] = (greg_t)(uintptr_t)xs_signal_exit;
    g[REG_RSP] = (greg_t)xs_tls.host_rsp;
    g[REG_RAX] = XS_EXIT_SIGNAL;
    g[REG_EFL] &= ~(greg_t)(EFL_TF | EFL_DF | EFL_AC);
}

void *xs_trap_thread_init(void)
{
    if (!atomic_flag_test_and_set(&installed)) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_sigaction = on_signal;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
        sigemptyset(&sa.sa_mask);
        for (size_t i = 0; i < sizeof(trapped_signals) / sizeof(trapped_signals[0]); i++)
            sigaction(trapped_signals[i], &sa, &previous[trapped_signals[i]]);
        sa.sa_flags |= SA_RESTART; /* the watchdog must not disturb host syscalls */
        sigaction(SIGPROF, &sa, NULL);
    }
    /* Guest code runs natively, so a `syscall` instruction in it would be a
     * real system call of xensim's.  Syscall user dispatch turns it into
     * SIGSYS while the selector (set on VM entry) says block.  Kernels
     * before 5.11 lack it; the guest then goes unfiltered. */
    prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, 0, 0, &xs_tls.syscall_sel);
    /* The kernel must not build signal frames on the guest's stack (guest
     * RAM), and the handler must find this thread's FS base without %fs,
     * which a guest can clobber: our own size-aligned stack, whose base
     * holds what the handler needs. */
    struct altstack_hdr *h = aligned_alloc(ALTSTACK_SIZE, ALTSTACK_SIZE);
    if (!h) return NULL;
    h->magic = ALTSTACK_MAGIC;
    h->selector = &xs_tls.syscall_sel;
    h->fs_clobbered = 0;
    syscall(SYS_arch_prctl, ARCH_GET_FS, &h->fs_base);
    stack_t ss = {.ss_sp = h, .ss_size = ALTSTACK_SIZE, .ss_flags = 0};
    if (sigaltstack(&ss, &h->previous) != 0) {
        free(h);
        return NULL;
    }
    return h;
}

void xs_watchdog_arm(bool on)
{
    struct itimerval it = {{0, 0}, {0, 0}};
    if (on) it.it_interval.tv_usec = it.it_value.tv_usec = XS_WATCHDOG_TICK_US;
    setitimer(ITIMER_PROF, &it, NULL);
}

void xs_trap_thread_fini(void *altstack)
{
    prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_OFF, 0, 0, 0);
    if (!altstack) return;
    struct altstack_hdr *h = altstack;
    sigaltstack(&h->previous, NULL);
    free(altstack);
}
