/* test=bench: event channel costs in virtual time (pvclock), which under
 * xensim follows its cost model and is the same on every host.
 *   - self event: EVTCHNOP_send on a port of this CPU, events on, to the
 *     handler's first instruction;
 *   - cross-CPU event: CPU 0 sends to CPU 1, which is blocked in its idle
 *     loop, to CPU 1's handler;
 *   - ping-pong: CPU 0 and CPU 1 bounce a PING, IPIs per second;
 *   - a TLB shootdown to every other CPU, start to last ack. */
#include "smp_app.h"

#define N_SELF   1000
#define N_REMOTE 200
#define N_PONG   1000
#define N_TLB    100

static uint64_t handled_at;
static unsigned handled;

static void stamp_handler(evtchn_port_t port, void *arg)
{
    (void)port, (void)arg;
    atomic_store(&handled_at, time_monotonic_ns());
    atomic_add(&handled, 1);
}

struct stats {
    uint64_t sum, min, max;
    unsigned n;
};

static void stats_add(struct stats *s, uint64_t v)
{
    s->sum += v;
    s->min = s->n && s->min < v ? s->min : v;
    s->max = s->max > v ? s->max : v;
    s->n++;
}

static void stats_print(const char *what, const struct stats *s)
{
    printk("bench: %s: avg %lu ns, min %lu, max %lu over %u events (virtual time)\n",
           what, s->n ? s->sum / s->n : 0, s->min, s->max, s->n);
}

static bool wait_handled(unsigned before)
{
    struct waiter w;
    for (wait_begin(&w, SMP_TIMEOUT_NS); atomic_load(&handled) == before;)
        if (!wait_step(&w)) return false;
    return true;
}

static int bench_latency(unsigned cpu, unsigned n, const char *what)
{
    long port = evtchn_bind_ipi(cpu, stamp_handler, NULL);
    if (port < 0) {
        printk("bench: bind_ipi: %s FAIL\n", errname(port));
        return 1;
    }
    struct stats s = {0};
    for (unsigned i = 0; i < n; i++) {
        unsigned before = atomic_load(&handled);
        uint64_t t0 = time_monotonic_ns();
        evtchn_send((evtchn_port_t)port);
        if (!wait_handled(before)) break;
        stats_add(&s, atomic_load(&handled_at) - t0);
    }
    evtchn_close((evtchn_port_t)port);
    stats_print(what, &s);
    return s.n == n ? 0 : 1;
}

static unsigned pongs;

/* CPU 1 answers each PING with one back to CPU 0; CPU 0 counts them. */
static void pong_hook(void)
{
    if (smp_processor_id() == 1)
        ipi_send(0, IPI_PING);
    else
        atomic_add(&pongs, 1);
}

static bool pong_arrived(void *arg)
{
    return atomic_load(&pongs) != *(unsigned *)arg;
}

/* pongs=N on the command line (default N_PONG): ci/bench runs two counts
 * and divides the difference in host time by the difference in round trips. */
static unsigned nr_pongs(void)
{
    char buf[16];
    const char *s = cmdline_get("pongs", buf, sizeof(buf));
    if (!s || !*s) return N_PONG;
    unsigned n = 0;
    for (; *s >= '0' && *s <= '9' && n < 100000000u; s++)
        n = n * 10 + (unsigned)(*s - '0');
    return *s ? N_PONG : n;
}

static int bench_pingpong(void)
{
    const unsigned want = nr_pongs();
    ipi_set_ping_hook(pong_hook);
    uint64_t t0 = time_monotonic_ns();
    unsigned done = 0;
    for (; done < want; done++) {
        unsigned before = atomic_load(&pongs);
        ipi_send(1, IPI_PING);
        if (!wait_event(pong_arrived, &before, SMP_TIMEOUT_NS)) break;
    }
    uint64_t dt = time_monotonic_ns() - t0;
    ipi_set_ping_hook(NULL);
    printk("bench: cpu0<->cpu1 ping-pong: %u round trips in %lu ns, %lu ns each, "
           "%lu IPIs/s (virtual time)\n",
           done, dt, done ? dt / done : 0,
           dt ? (uint64_t)(2ull * done * 1000000000ull / dt) : 0);
    return done == want ? 0 : 1;
}

static int bench_tlb(void)
{
    uint64_t t0 = time_monotonic_ns();
    unsigned acks = 0;
    for (unsigned i = 0; i < N_TLB; i++)
        acks += smp_tlb_shootdown();
    uint64_t dt = time_monotonic_ns() - t0;
    printk("bench: tlb shootdown to %u cpus: %lu ns each, %u acks (virtual time)\n",
           nr_cpus - 1, dt / N_TLB, acks);
    return acks == N_TLB * (nr_cpus - 1) ? 0 : 1;
}

int test_bench(void)
{
    int bad = bench_latency(smp_processor_id(), N_SELF, "self event send -> handler");
    if (nr_cpus < 2) {
        printk("bench: one cpu, no cross-cpu figures\n");
        return bad;
    }
    bad += bench_latency(1, N_REMOTE, "cpu0 -> idle cpu1 event send -> handler");
    bad += bench_pingpong();
    bad += bench_tlb();
    return bad ? 1 : 0;
}
