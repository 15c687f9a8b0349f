/* anchor: host-only reference figures for `make bench` (ci/bench).
 *
 * xensim's figures are printed as ratios against these, measured in the same
 * run on the same machine, so they say something across hosts:
 *   anchor.call_ns    one round trip through a plain, non-inlined function
 *   anchor.memcpy_ms  one 64 MiB memcpy (buffers pre-faulted)
 *   anchor.memcpy_gbs the same as GB/s
 * and one fact about the host that xensim's --hypercalls vmcall relies on:
 *   anchor.vmcall_traps 1 if a user-mode vmcall raises a signal (#UD), 0 if
 *                       it completes without one (an outer hypervisor such
 *                       as KVM answering it itself, with rax = -1)
 * Each is the best of a few repetitions.  Output is one "key value" line per
 * figure.  Usage: anchor [CALL_ITERATIONS]  (default 100000000). */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>

#define REPS       5
#define COPY_BYTES (64u << 20)

#if defined(__has_attribute)
#if __has_attribute(noipa)
#define NOIPA __attribute__((noipa))
#endif
#endif
#ifndef NOIPA
#define NOIPA
#endif

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The callee: not inlined, not cloned or analysed across the call (noipa),
 * and the asm makes its result opaque, so every iteration is a real call. */
__attribute__((noinline)) NOIPA static uint64_t callee(uint64_t x)
{
    __asm__ __volatile__("" : "+r"(x));
    return x + 1;
}

static double bench_call(uint64_t iters)
{
    double best = 0;
    for (int rep = 0; rep < REPS; rep++) {
        uint64_t acc = 0;
        double t0 = now_ns();
        for (uint64_t i = 0; i < iters; i++)
            acc = callee(acc);
        double t = now_ns() - t0;
        if (acc != iters) {
            fprintf(stderr, "anchor: callee result %llu, expected %llu\n",
                    (unsigned long long)acc, (unsigned long long)iters);
            exit(1);
        }
        if (rep == 0 || t < best) best = t;
    }
    return best / (double)iters;
}

static double bench_memcpy(void)
{
    char *src = malloc(COPY_BYTES), *dst = malloc(COPY_BYTES);
    if (!src || !dst) {
        fprintf(stderr, "anchor: out of memory\n");
        exit(1);
    }
    memset(src, 0x5a, COPY_BYTES);
    memset(dst, 0, COPY_BYTES); /* fault the pages in before timing */
    double best = 0;
    for (int rep = 0; rep < REPS; rep++) {
        src[rep] = (char)rep;
        double t0 = now_ns();
        memcpy(dst, src, COPY_BYTES);
        __asm__ __volatile__("" ::"r"(dst) : "memory");
        double t = now_ns() - t0;
        if (dst[rep] != (char)rep) {
            fprintf(stderr, "anchor: memcpy did not copy\n");
            exit(1);
        }
        if (rep == 0 || t < best) best = t;
    }
    free(src);
    free(dst);
    return best;
}

#define VMCALL_TRAPPED 0x7a7a7a7aL

/* Steps over the 3-byte vmcall and marks rax, so no state is needed. */
static void vmcall_signal(int sig, siginfo_t *si, void *uctx)
{
    (void)sig, (void)si;
    greg_t *g = ((ucontext_t *)uctx)->uc_mcontext.gregs;
    g[REG_RIP] += 3;
    g[REG_RAX] = VMCALL_TRAPPED;
}

static int vmcall_traps(void)
{
#if defined(__x86_64__)
    struct sigaction sa = {.sa_sigaction = vmcall_signal, .sa_flags = SA_SIGINFO};
    struct sigaction old_ill, old_segv;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGILL, &sa, &old_ill);
    sigaction(SIGSEGV, &sa, &old_segv);
    long rax = 0;
    __asm__ __volatile__("vmcall" : "+a"(rax)::"memory");
    sigaction(SIGILL, &old_ill, NULL);
    sigaction(SIGSEGV, &old_segv, NULL);
    return rax == VMCALL_TRAPPED;
#else
    return 0;
#endif
}

int main(int argc, char **argv)
{
    uint64_t iters = 100000000;
    if (argc > 1) {
        char *end;
        iters = strtoull(argv[1], &end, 10);
        if (*end || !iters) {
            fprintf(stderr, "usage: anchor [CALL_ITERATIONS]\n");
            return 2;
        }
    }
    double call_ns = bench_call(iters);
    double copy_ns = bench_memcpy();
    printf("anchor.call_ns %.3f\n", call_ns);
    printf("anchor.memcpy_ms %.3f\n", copy_ns / 1e6);
    printf("anchor.memcpy_gbs %.2f\n", (double)COPY_BYTES / copy_ns);
    printf("anchor.vmcall_traps %d\n", vmcall_traps());
    return 0;
}
