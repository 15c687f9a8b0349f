/* vCPU bring-up, timers and upcall delivery: VCPUOP_initialise/up/down, the
 * singleshot and periodic timers and set_timer_op, HVM callback selection,
 * injection through the guest's IDT and the trapped iretq.  A real domain
 * with 4 vCPUs built from the basic guest image, never run; results checked
 * against Xen 4.17's behaviour for an HVM guest. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xen/xen.h>
#include <xen/errno.h>
#include <xen/event_channel.h>
#include <xen/sched.h>
#include <xen/vcpu.h>
#include <xen/hvm/hvm_op.h>
#include <xen/hvm/hvm_vcpu.h>
#include <xen/hvm/params.h>

#include "evtchn.h"
#include "hypercall.h"
#include "sim.h"
#include "unit.h"

#define MEM_MIB  64u
#define SCRATCH  0x800000ULL /* argument structs */
#define IDT_GPA  0x900000ULL /* a 256-entry IDT */
#define STACK    0xa00000ULL /* top of an interrupt stack */
#define HANDLER  0x123456ULL /* guest physical "address" of the upcall handler */
#define NR_VCPUS 4

static struct xs_sim sim;
static struct xs_domain *d;
static FILE *console_file, *log_file;

static void setup(void)
{
    console_file = tmpfile();
    log_file = tmpfile();
    const char *dir = getenv("XENSIM_GUEST_DIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/basic.elf", dir && *dir ? dir : "build/guests");
    struct xs_sim_config cfg = {.seed = 1, .console_out = console_file, .log = log_file};
    char err[512] = "";
    ck_assert_msg(xs_sim_init(&sim, &cfg, err, sizeof(err)) == 0, "%s", err);
    struct xs_domain_config dc = {.name = "v",
                                  .image_path = path,
                                  .memory_mib = MEM_MIB,
                                  .vcpus = NR_VCPUS,
                                  .cmdline = "",
                                  .hypercalls = XS_HC_DIRECT};
    d = xs_domain_create(&sim, &dc, err, sizeof(err));
    ck_assert_msg(d, "xs_domain_create: %s", err);
}

static void teardown(void)
{
    xs_sim_destroy(&sim);
    fclose(console_file);
    fclose(log_file);
}

static struct xs_vcpu *vc(unsigned i)
{
    return xs_vcpu_of(d, i);
}

static uint64_t gva(uint64_t gpa)
{
    return (uint64_t)(uintptr_t)d->base + gpa;
}

static uint64_t put(const void *p, size_t len)
{
    memcpy(d->base + SCRATCH, p, len);
    return gva(SCRATCH);
}

static long hc_on(unsigned vcpu, unsigned nr, uint64_t a0, uint64_t a1, uint64_t a2)
{
    const uint64_t a[5] = {a0, a1, a2, 0, 0};
    return xs_hypercall_call(vc(vcpu), nr, a);
}

static long vcpu_op(unsigned caller, unsigned cmd, unsigned target, const void *arg,
                    size_t len)
{
    return hc_on(caller, __HYPERVISOR_vcpu_op, cmd, target, arg ? put(arg, len) : 0);
}

static struct vcpu_hvm_context long_mode_ctx(uint64_t rip, uint64_t rsp)
{
    struct vcpu_hvm_context c = {.mode = VCPU_HVM_MODE_64B};
    c.cpu_regs.x86_64 = (struct vcpu_hvm_x86_64){.rip = rip,
                                                 .rsp = rsp,
                                                 .rbx = 0xb0b,
                                                 .rdi = 0xd1,
                                                 .rflags = 0x2,
                                                 .cr0 = 0x80000011,
                                                 .cr3 = 0x2000,
                                                 .cr4 = 0x20,
                                                 .efer = 0x500};
    return c;
}

static long initialise(unsigned target, const struct vcpu_hvm_context *c)
{
    return vcpu_op(0, VCPUOP_initialise, target, c, sizeof(*c));
}

/* ---- bring-up ------------------------------------------------------------ */

START_TEST(initialise_loads_registers)
{
    struct vcpu_hvm_context c = long_mode_ctx(gva(0x5000), gva(0x9000));
    ck_assert_int_eq(vc(1)->state, XS_VCPU_DOWN);
    ck_assert_int_eq(initialise(1, &c), 0);
    ck_assert_uint_eq(vc(1)->regs.rip, gva(0x5000));
    ck_assert_uint_eq(vc(1)->regs.rsp, gva(0x9000));
    ck_assert_uint_eq(vc(1)->regs.rbx, 0xb0b);
    ck_assert_uint_eq(vc(1)->regs.rdi, 0xd1);
    ck_assert(!vc(1)->virt_if);
    /* Initialised is not up. */
    ck_assert_int_eq(vc(1)->state, XS_VCPU_DOWN);
    ck_assert_int_eq(vcpu_op(0, VCPUOP_is_up, 1, NULL, 0), 0);
    ck_assert_int_eq(vcpu_op(0, VCPUOP_up, 1, NULL, 0), 0);
    ck_assert_int_eq(vc(1)->state, XS_VCPU_RUNNABLE);
    ck_assert_int_eq(vcpu_op(0, VCPUOP_is_up, 1, NULL, 0), 1);
    /* Up again is harmless. */
    ck_assert_int_eq(vcpu_op(0, VCPUOP_up, 1, NULL, 0), 0);
    c.cpu_regs.x86_64.rflags = 0x202;
    ck_assert_int_eq(initialise(2, &c), 0);
    ck_assert(vc(2)->virt_if);
}
END_TEST

START_TEST(initialise_errors)
{
    struct vcpu_hvm_context c = long_mode_ctx(gva(0x5000), gva(0x9000));
    /* vCPU0 has its boot context; an initialised vCPU keeps its own. */
    ck_assert_int_eq(initialise(0, &c), -XEN_EEXIST);
    ck_assert_int_eq(initialise(1, &c), 0);
    ck_assert_int_eq(initialise(1, &c), -XEN_EEXIST);
    ck_assert_int_eq(initialise(NR_VCPUS, &c), -XEN_ENOENT);
    ck_assert_int_eq(hc_on(0, __HYPERVISOR_vcpu_op, VCPUOP_initialise, 2, 0),
                     -XEN_EFAULT);
    ck_assert_int_eq(
        hc_on(0, __HYPERVISOR_vcpu_op, VCPUOP_initialise, 2, gva(64ULL << 20)),
        -XEN_EFAULT);
    struct vcpu_hvm_context bad = c;
    bad.mode = VCPU_HVM_MODE_32B; /* no paging-mode switch in a user process */
    ck_assert_int_eq(initialise(2, &bad), -XEN_EINVAL);
    bad = c;
    bad.mode = 7;
    ck_assert_int_eq(initialise(2, &bad), -XEN_EINVAL);
    bad = c;
    bad.cpu_regs.x86_64.cr0 = 0x11; /* no paging */
    ck_assert_int_eq(initialise(2, &bad), -XEN_EINVAL);
    bad = c;
    bad.cpu_regs.x86_64.cr4 = 0; /* no PAE */
    ck_assert_int_eq(initialise(2, &bad), -XEN_EINVAL);
    bad = c;
    bad.cpu_regs.x86_64.efer = 0; /* not long mode */
    ck_assert_int_eq(initialise(2, &bad), -XEN_EINVAL);
    bad = c;
    bad.cpu_regs.x86_64.cr3 = (uint64_t)MEM_MIB << 20; /* past RAM */
    ck_assert_int_eq(initialise(2, &bad), -XEN_EINVAL);
    /* None of the refusals initialised it. */
    ck_assert(!vc(2)->initialised);
    ck_assert_int_eq(vcpu_op(0, VCPUOP_up, 2, NULL, 0), -XEN_EINVAL);
    ck_assert_int_eq(vc(2)->state, XS_VCPU_DOWN);
}
END_TEST

START_TEST(down_and_last_down)
{
    struct vcpu_hvm_context c = long_mode_ctx(gva(0x5000), gva(0x9000));
    ck_assert_int_eq(initialise(1, &c), 0);
    ck_assert_int_eq(vcpu_op(0, VCPUOP_up, 1, NULL, 0), 0);
    ck_assert_int_eq(vcpu_op(0, VCPUOP_down, 1, NULL, 0), 0);
    ck_assert_int_eq(vc(1)->state, XS_VCPU_DOWN);
    ck_assert_int_eq(vcpu_op(0, VCPUOP_is_up, 1, NULL, 0), 0);
    ck_assert_int_eq(d->end_state, XS_END_RUNNING);
    /* Up again resumes it; then vCPU0 takes itself down: 1 still runs. */
    ck_assert_int_eq(vcpu_op(0, VCPUOP_up, 1, NULL, 0), 0);
    ck_assert_int_eq(vcpu_op(0, VCPUOP_down, 0, NULL, 0), 0);
    ck_assert_int_eq(vc(0)->state, XS_VCPU_DOWN);
    ck_assert_int_eq(d->end_state, XS_END_RUNNING);
    /* The last vCPU going down powers the domain off. */
    ck_assert_int_eq(vcpu_op(1, VCPUOP_down, 1, NULL, 0), 0);
    ck_assert_int_eq(d->end_state, XS_END_POWEROFF);
}
END_TEST

/* ---- timers -------------------------------------------------------------- */

START_TEST(singleshot_timer)
{
    sim.vtime_ns = 5000000;
    struct vcpu_set_singleshot_timer t = {.timeout_abs_ns = 7000000};
    /* Only the calling vCPU's own timer. */
    ck_assert_int_eq(vcpu_op(0, VCPUOP_set_singleshot_timer, 1, &t, sizeof(t)),
                     -XEN_EINVAL);
    ck_assert_int_eq(vcpu_op(0, VCPUOP_stop_singleshot_timer, 1, NULL, 0), -XEN_EINVAL);
    ck_assert_int_eq(hc_on(0, __HYPERVISOR_vcpu_op, VCPUOP_set_singleshot_timer, 0, 8),
                     -XEN_EFAULT);
    ck_assert_int_eq(vcpu_op(0, VCPUOP_set_singleshot_timer, 0, &t, sizeof(t)), 0);
    ck_assert_uint_eq(vc(0)->sshot_deadline_ns, 7000000);
    ck_assert_uint_eq(sim.next_timer_ns, 7000000);
    /* In the past: -ETIME only with VCPU_SSHOTTMR_future, else it is due. */
    t = (struct vcpu_set_singleshot_timer){.timeout_abs_ns = 4000000,
                                           .flags = VCPU_SSHOTTMR_future};
    ck_assert_int_eq(vcpu_op(0, VCPUOP_set_singleshot_timer, 0, &t, sizeof(t)),
                     -XEN_ETIME);
    ck_assert_uint_eq(vc(0)->sshot_deadline_ns, 7000000); /* unchanged */
    t.flags = 0;
    ck_assert_int_eq(vcpu_op(0, VCPUOP_set_singleshot_timer, 0, &t, sizeof(t)), 0);
    ck_assert_uint_eq(vc(0)->sshot_deadline_ns, 4000000);
    xs_timers_run(&sim);
    ck_assert_uint_eq(vc(0)->sshot_deadline_ns, XS_NO_DEADLINE);
    ck_assert_uint_eq(sim.next_timer_ns, XS_NO_DEADLINE);
    ck_assert_int_eq(
        vcpu_op(0, VCPUOP_set_singleshot_timer, 0,
                &(struct vcpu_set_singleshot_timer){.timeout_abs_ns = 9000000},
                sizeof(t)),
        0);
    ck_assert_int_eq(vcpu_op(0, VCPUOP_stop_singleshot_timer, 0, NULL, 0), 0);
    ck_assert_uint_eq(vc(0)->sshot_deadline_ns, XS_NO_DEADLINE);
    /* Xen's time is signed: 2^64 - 100000 is in the past, even with
     * VCPU_SSHOTTMR_future (the unsigned comparison lets it through). */
    t = (struct vcpu_set_singleshot_timer){.timeout_abs_ns = ~0ULL - 99999,
                                           .flags = VCPU_SSHOTTMR_future};
    ck_assert_int_eq(vcpu_op(0, VCPUOP_set_singleshot_timer, 0, &t, sizeof(t)), 0);
    ck_assert_uint_eq(vc(0)->sshot_deadline_ns, 0);
    xs_timers_run(&sim);
    ck_assert_uint_eq(vc(0)->sshot_deadline_ns, XS_NO_DEADLINE);
}
END_TEST

START_TEST(periodic_timer)
{
    sim.vtime_ns = 1000;
    struct vcpu_set_periodic_timer p = {.period_ns = 999999};
    ck_assert_int_eq(vcpu_op(0, VCPUOP_set_periodic_timer, 2, &p, sizeof(p)),
                     -XEN_EINVAL);
    p.period_ns = ~0ULL;
    ck_assert_int_eq(vcpu_op(0, VCPUOP_set_periodic_timer, 2, &p, sizeof(p)),
                     -XEN_EINVAL);
    p.period_ns = 1000000;
    /* Unlike the singleshot timer, any vCPU's periodic timer may be set. */
    ck_assert_int_eq(vcpu_op(0, VCPUOP_set_periodic_timer, 2, &p, sizeof(p)), 0);
    ck_assert_uint_eq(vc(2)->periodic_next_ns, 1001000);
    sim.vtime_ns = 3500000; /* missed periods collapse into one expiry */
    xs_timers_run(&sim);
    ck_assert_uint_eq(vc(2)->periodic_next_ns, 4001000);
    ck_assert_uint_eq(sim.next_timer_ns, 4001000);
    ck_assert_int_eq(vcpu_op(0, VCPUOP_stop_periodic_timer, 2, NULL, 0), 0);
    ck_assert_uint_eq(vc(2)->periodic_next_ns, XS_NO_DEADLINE);
    ck_assert_uint_eq(sim.next_timer_ns, XS_NO_DEADLINE);
}
END_TEST

START_TEST(set_timer_op_rules)
{
    sim.vtime_ns = 1000000;
    ck_assert_int_eq(hc_on(1, __HYPERVISOR_set_timer_op, 3000000, 0, 0), 0);
    ck_assert_uint_eq(vc(1)->sshot_deadline_ns, 3000000);
    ck_assert_uint_eq(vc(0)->sshot_deadline_ns, XS_NO_DEADLINE);
    ck_assert_int_eq(hc_on(1, __HYPERVISOR_set_timer_op, 0, 0, 0), 0);
    ck_assert_uint_eq(vc(1)->sshot_deadline_ns, XS_NO_DEADLINE);
    /* Wrapped negative, or more than 2^50 ns ahead: 100 ms from now. */
    ck_assert_int_eq(hc_on(1, __HYPERVISOR_set_timer_op, (uint64_t)-5, 0, 0), 0);
    ck_assert_uint_eq(vc(1)->sshot_deadline_ns, 101000000);
    ck_assert_int_eq(hc_on(1, __HYPERVISOR_set_timer_op, 1000000 + (1ULL << 51), 0, 0),
                     0);
    ck_assert_uint_eq(vc(1)->sshot_deadline_ns, 101000000);
    /* A deadline already past is kept: it fires at once. */
    ck_assert_int_eq(hc_on(1, __HYPERVISOR_set_timer_op, 10, 0, 0), 0);
    ck_assert_uint_eq(vc(1)->sshot_deadline_ns, 10);
}
END_TEST

/* Expiry raises VIRQ_TIMER on the vCPU's own port, in deadline order. */
START_TEST(timer_raises_virq_timer)
{
    struct evtchn_bind_virq b = {.virq = VIRQ_TIMER, .vcpu = 1};
    ck_assert_int_eq(hc_on(1, __HYPERVISOR_event_channel_op, EVTCHNOP_bind_virq,
                           put(&b, sizeof(b)), 0),
                     0);
    memcpy(&b, d->base + SCRATCH, sizeof(b));
    evtchn_port_t port = b.port;
    ck_assert_uint_gt(port, 0);
    ck_assert(!xs_evtchn_is_pending(d, port));
    ck_assert_int_eq(hc_on(1, __HYPERVISOR_set_timer_op, 2000000, 0, 0), 0);
    sim.vtime_ns = 1999999;
    xs_timers_run(&sim);
    ck_assert(!xs_evtchn_is_pending(d, port));
    sim.vtime_ns = 2000000;
    xs_timers_run(&sim);
    ck_assert(xs_evtchn_is_pending(d, port));
    ck_assert_uint_eq(d->shared_info->vcpu_info[1].evtchn_upcall_pending, 1);
}
END_TEST

/* ---- upcall delivery ----------------------------------------------------- */

static void write_gate(unsigned vec, uint64_t handler, uint8_t type_attr)
{
    uint8_t *g = d->base + IDT_GPA + vec * 16;
    memset(g, 0, 16);
    g[0] = (uint8_t)handler;
    g[1] = (uint8_t)(handler >> 8);
    g[5] = type_attr;
    for (int i = 0; i < 6; i++)
        g[6 + i] = (uint8_t)(handler >> (16 + 8 * i));
}

static void ready_vcpu(struct xs_vcpu *v)
{
    v->idt_base = gva(IDT_GPA);
    v->idt_limit = 256 * 16 - 1;
    v->virt_if = true;
    v->regs.rsp = gva(STACK) - 3; /* misaligned on purpose */
    v->regs.rip = gva(0x4444);
    v->regs.rflags = 0x202 | 0x1; /* CF set */
}

static void set_callback(uint64_t via)
{
    struct xen_hvm_param p = {
        .domid = DOMID_SELF, .index = HVM_PARAM_CALLBACK_IRQ, .value = via};
    ck_assert_int_eq(
        hc_on(0, __HYPERVISOR_hvm_op, HVMOP_set_param, put(&p, sizeof(p)), 0), 0);
}

#define VIA_VECTOR(v) ((uint64_t)HVM_PARAM_CALLBACK_TYPE_VECTOR << 56 | (v))

START_TEST(global_vector_injection_and_iret)
{
    struct xs_vcpu *v = vc(0);
    ready_vcpu(v);
    write_gate(0xf3, gva(HANDLER), 0x8e);
    set_callback(VIA_VECTOR(0xf3));
    ck_assert(!xs_callback_deliverable(v)); /* nothing pending */
    xs_vcpu_mark_events_pending(v);
    ck_assert(xs_callback_deliverable(v));
    /* Masked by IF or by the vcpu_info mask: not deliverable. */
    v->virt_if = false;
    ck_assert(!xs_callback_deliverable(v));
    v->virt_if = true;
    xs_vcpu_info(v)->evtchn_upcall_mask = 1;
    ck_assert(!xs_callback_deliverable(v));
    xs_vcpu_info(v)->evtchn_upcall_mask = 0;
    uint64_t old_rsp = v->regs.rsp;
    xs_callback_inject(v);
    ck_assert_uint_eq(v->regs.rip, gva(HANDLER));
    ck_assert_uint_eq(v->regs.rsp, ((old_rsp & ~15ULL) - 40));
    ck_assert_uint_eq(v->regs.rsp % 16, 8);
    ck_assert(!v->virt_if);
    ck_assert_uint_eq(v->upcalls, 1);
    uint64_t frame[5];
    memcpy(frame, (void *)(uintptr_t)v->regs.rsp, sizeof(frame));
    ck_assert_uint_eq(frame[0], gva(0x4444));
    ck_assert_uint_eq(frame[1], 0); /* null CS: the iretq traps */
    ck_assert_uint_eq(frame[2] & 0x201, 0x201);
    ck_assert_uint_eq(frame[3], old_rsp);
    /* Level triggered: still pending, but IF is now clear. */
    ck_assert(!xs_callback_deliverable(v));
    /* The handler clobbers the flags, then returns. */
    v->regs.rflags = 0x2c6;
    ck_assert_int_eq(xs_callback_iret(v), 0);
    ck_assert_uint_eq(v->regs.rip, gva(0x4444));
    ck_assert_uint_eq(v->regs.rsp, old_rsp);
    ck_assert(v->virt_if);
    ck_assert_uint_eq(v->regs.rflags & 0x1, 0x1);
    ck_assert(xs_callback_deliverable(v)); /* pending was never cleared */
    xs_vcpu_info(v)->evtchn_upcall_pending = 0;
    ck_assert(!xs_callback_deliverable(v));
}
END_TEST

START_TEST(global_vector_reaches_every_vcpu)
{
    write_gate(0xf3, gva(HANDLER), 0x8e);
    set_callback(VIA_VECTOR(0xf3));
    for (unsigned i = 0; i < NR_VCPUS; i++) {
        ready_vcpu(vc(i));
        xs_vcpu_mark_events_pending(vc(i));
        ck_assert(xs_callback_deliverable(vc(i)));
    }
    /* A vector below 0x10 is no callback. */
    set_callback(VIA_VECTOR(0x0f));
    ck_assert(!xs_callback_deliverable(vc(1)));
}
END_TEST

START_TEST(legacy_line_is_vcpu0s)
{
    for (unsigned i = 0; i < NR_VCPUS; i++)
        ready_vcpu(vc(i));
    write_gate(0x25, gva(HANDLER), 0x8e);
    set_callback(5); /* GSI 5 */
    xs_vcpu_mark_events_pending(vc(1));
    ck_assert(!xs_callback_deliverable(vc(1)));
    xs_vcpu_mark_events_pending(vc(0));
    ck_assert(xs_callback_deliverable(vc(0)));
    xs_callback_inject(vc(0));
    ck_assert_uint_eq(vc(0)->regs.rip, gva(HANDLER));
    /* A vCPU blocked on the legacy line is not woken by its own events. */
    xs_vcpu_info(vc(2))->evtchn_upcall_pending = 0;
    xs_vcpu_set_state(vc(2), XS_VCPU_BLOCKED);
    xs_vcpu_mark_events_pending(vc(2));
    ck_assert_int_eq(vc(2)->state, XS_VCPU_BLOCKED);
    /* GSI 0 means no callback. */
    set_callback(0);
    ck_assert(!xs_callback_deliverable(vc(0)));
}
END_TEST

START_TEST(percpu_vector_is_edge)
{
    struct xs_vcpu *v = vc(2);
    ready_vcpu(v);
    write_gate(0xe0, gva(HANDLER), 0x8e);
    struct xen_hvm_evtchn_upcall_vector u = {.vcpu = 2, .vector = 0x0f};
    ck_assert_int_eq(hc_on(0, __HYPERVISOR_hvm_op, HVMOP_set_evtchn_upcall_vector,
                           put(&u, sizeof(u)), 0),
                     -XEN_EINVAL);
    u = (struct xen_hvm_evtchn_upcall_vector){.vcpu = NR_VCPUS, .vector = 0xe0};
    ck_assert_int_eq(hc_on(0, __HYPERVISOR_hvm_op, HVMOP_set_evtchn_upcall_vector,
                           put(&u, sizeof(u)), 0),
                     -XEN_ENOENT);
    ck_assert_int_eq(hc_on(0, __HYPERVISOR_hvm_op, HVMOP_set_evtchn_upcall_vector, 0, 0),
                     -XEN_EFAULT);
    u.vcpu = 2;
    ck_assert_int_eq(hc_on(0, __HYPERVISOR_hvm_op, HVMOP_set_evtchn_upcall_vector,
                           put(&u, sizeof(u)), 0),
                     0);
    ck_assert(!xs_callback_deliverable(v));
    xs_vcpu_set_state(v, XS_VCPU_BLOCKED);
    xs_vcpu_mark_events_pending(v);
    ck_assert_int_eq(v->state, XS_VCPU_RUNNABLE); /* kicked */
    ck_assert(xs_callback_deliverable(v));
    xs_callback_inject(v);
    ck_assert_uint_eq(v->regs.rip, gva(HANDLER));
    ck_assert_int_eq(xs_callback_iret(v), 0);
    /* Edge: pending is still set, but the vector was delivered once. */
    ck_assert_uint_eq(xs_vcpu_info(v)->evtchn_upcall_pending, 1);
    ck_assert(!xs_callback_deliverable(v));
    xs_vcpu_mark_events_pending(v); /* no 0 -> 1 change: no new edge */
    ck_assert(!xs_callback_deliverable(v));
    xs_vcpu_info(v)->evtchn_upcall_pending = 0;
    xs_vcpu_mark_events_pending(v);
    ck_assert(xs_callback_deliverable(v));
}
END_TEST

/* A broken guest setup crashes the domain with a report, never xensim. */
START_TEST(bad_idt_or_stack_crashes_domain)
{
    struct xs_vcpu *v = vc(0);
    ready_vcpu(v);
    set_callback(VIA_VECTOR(0xf3));
    xs_vcpu_mark_events_pending(v);
    write_gate(0xf3, gva(HANDLER), 0x0e); /* not present */
    xs_callback_inject(v);
    ck_assert_int_eq(d->end_state, XS_END_FAULT);
}
END_TEST

START_TEST(bad_stack_crashes_domain)
{
    struct xs_vcpu *v = vc(0);
    ready_vcpu(v);
    write_gate(0xf3, gva(HANDLER), 0x8e);
    set_callback(VIA_VECTOR(0xf3));
    xs_vcpu_mark_events_pending(v);
    v->regs.rsp = gva(16); /* the frame would go below guest RAM */
    xs_callback_inject(v);
    ck_assert_int_eq(d->end_state, XS_END_FAULT);
}
END_TEST

START_TEST(idt_too_short_crashes_domain)
{
    struct xs_vcpu *v = vc(0);
    ready_vcpu(v);
    v->idt_limit = 0xf3 * 16 + 14; /* one byte short of the gate */
    write_gate(0xf3, gva(HANDLER), 0x8e);
    set_callback(VIA_VECTOR(0xf3));
    xs_vcpu_mark_events_pending(v);
    xs_callback_inject(v);
    ck_assert_int_eq(d->end_state, XS_END_FAULT);
}
END_TEST

START_TEST(iret_frame_outside_ram)
{
    struct xs_vcpu *v = vc(0);
    v->regs.rsp = gva((uint64_t)MEM_MIB << 20) - 16;
    ck_assert_int_eq(xs_callback_iret(v), -1);
    ck_assert_int_eq(d->end_state, XS_END_FAULT);
}
END_TEST

/* ---- blocking and polling ------------------------------------------------ */

START_TEST(block_and_wake)
{
    struct xs_vcpu *v = vc(0);
    ready_vcpu(v);
    write_gate(0xf3, gva(HANDLER), 0x8e);
    set_callback(VIA_VECTOR(0xf3));
    xs_vcpu_info(v)->evtchn_upcall_mask = 1;
    ck_assert_int_eq(hc_on(0, __HYPERVISOR_sched_op, SCHEDOP_block, 0, 0), 0);
    ck_assert_uint_eq(xs_vcpu_info(v)->evtchn_upcall_mask, 0); /* re-enabled */
    ck_assert_int_eq(v->state, XS_VCPU_BLOCKED);
    xs_vcpu_mark_events_pending(v);
    ck_assert_int_eq(v->state, XS_VCPU_RUNNABLE);
    /* With an upcall due, block returns at once. */
    ck_assert_int_eq(hc_on(0, __HYPERVISOR_sched_op, SCHEDOP_block, 0, 0), 0);
    ck_assert_int_eq(v->state, XS_VCPU_RUNNABLE);
}
END_TEST

START_TEST(poll_wakes_on_its_port_or_timeout)
{
    struct evtchn_bind_ipi b = {.vcpu = 0};
    ck_assert_int_eq(
        hc_on(0, __HYPERVISOR_event_channel_op, EVTCHNOP_bind_ipi, put(&b, sizeof(b)), 0),
        0);
    memcpy(&b, d->base + SCRATCH, sizeof(b));
    evtchn_port_t p1 = b.port;
    ck_assert_int_eq(
        hc_on(0, __HYPERVISOR_event_channel_op, EVTCHNOP_bind_ipi, put(&b, sizeof(b)), 0),
        0);
    memcpy(&b, d->base + SCRATCH, sizeof(b));
    evtchn_port_t p2 = b.port;
    /* Poll on p1 only, with a timeout. */
    memcpy(d->base + SCRATCH + 256, &p1, sizeof(p1));
    struct sched_poll sp = {.nr_ports = 1, .timeout = 5000000};
    set_xen_guest_handle(sp.ports, (evtchn_port_t *)(uintptr_t)gva(SCRATCH + 256));
    memcpy(d->base + SCRATCH + 512, &sp, sizeof(sp));
    ck_assert_int_eq(hc_on(0, __HYPERVISOR_sched_op, SCHEDOP_poll, gva(SCRATCH + 512), 0),
                     0);
    ck_assert_int_eq(vc(0)->state, XS_VCPU_POLLING);
    ck_assert_uint_eq(sim.next_timer_ns, 5000000);
    /* Another port does not end the poll; its own does. */
    xs_sched_check_pollers(d, p2);
    ck_assert_int_eq(vc(0)->state, XS_VCPU_POLLING);
    xs_sched_check_pollers(d, p1);
    ck_assert_int_eq(vc(0)->state, XS_VCPU_RUNNABLE);
    /* The ended poll's timeout is no deadline any more. */
    ck_assert_uint_eq(sim.next_timer_ns, XS_NO_DEADLINE);
    /* Again, now ended by the timeout. */
    ck_assert_int_eq(hc_on(0, __HYPERVISOR_sched_op, SCHEDOP_poll, gva(SCRATCH + 512), 0),
                     0);
    ck_assert_int_eq(vc(0)->state, XS_VCPU_POLLING);
    sim.vtime_ns = 5000000;
    xs_timers_run(&sim);
    ck_assert_int_eq(vc(0)->state, XS_VCPU_RUNNABLE);
    /* A port past the ABI's limit is -EINVAL. */
    evtchn_port_t huge = XS_EVTCHN_2L_PORTS;
    memcpy(d->base + SCRATCH + 256, &huge, sizeof(huge));
    ck_assert_int_eq(hc_on(0, __HYPERVISOR_sched_op, SCHEDOP_poll, gva(SCRATCH + 512), 0),
                     -XEN_EINVAL);
}
END_TEST

Suite *vcpu_suite(void)
{
    Suite *s = suite_create("vcpu");
    TCase *tc = tcase_create("bringup");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, initialise_loads_registers);
    tcase_add_test(tc, initialise_errors);
    tcase_add_test(tc, down_and_last_down);
    suite_add_tcase(s, tc);
    tc = tcase_create("timers");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, singleshot_timer);
    tcase_add_test(tc, periodic_timer);
    tcase_add_test(tc, set_timer_op_rules);
    tcase_add_test(tc, timer_raises_virq_timer);
    suite_add_tcase(s, tc);
    tc = tcase_create("upcall");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, global_vector_injection_and_iret);
    tcase_add_test(tc, global_vector_reaches_every_vcpu);
    tcase_add_test(tc, legacy_line_is_vcpu0s);
    tcase_add_test(tc, percpu_vector_is_edge);
    tcase_add_test(tc, bad_idt_or_stack_crashes_domain);
    tcase_add_test(tc, bad_stack_crashes_domain);
    tcase_add_test(tc, idt_too_short_crashes_domain);
    tcase_add_test(tc, iret_frame_outside_ram);
    tcase_add_test(tc, block_and_wake);
    tcase_add_test(tc, poll_wakes_on_its_port_or_timeout);
    suite_add_tcase(s, tc);
    return s;
}
