/* The simulation's state: one struct xs_sim owns domains, each domain owns
 * its vCPUs.  Nothing here is global, so tests and fuzzers can run many
 * simulations in one process (one at a time per thread). */
#ifndef XS_SIM_H
#define XS_SIM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <xen/xen.h>
#include <xen/vcpu.h>
#include <xen/hvm/params.h>
#include <xen/arch-x86/hvm/start_info.h>
#include <capstone/capstone.h>

#include "loader.h"
#include "prng.h"
#include "scenario.h"
#include "trace.h"

#define XS_MAX_VCPUS   128
#define XS_MAX_DOMAINS XS_SCN_MAX_DOMAINS
#define XS_PAGE_SIZE   4096ULL
#define XS_CONSOLE_MAX (16u << 20) /* bytes of console kept per domain */
#define XS_MEMMAP_MAX  8
#define XS_NO_GPA      (~0ULL) /* "not placed yet" for guest-chosen addresses */

/* Guest registers as the VM entry/exit code lays them out (vmentry.S). */
struct xs_regs {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t rflags, rsp, rip;
};

enum xs_vcpu_state {
    XS_VCPU_DOWN, /* not brought up, or went down (hlt with IF clear) */
    XS_VCPU_RUNNABLE,
    XS_VCPU_BLOCKED, /* SCHEDOP_block / hlt: waits for an event */
    XS_VCPU_POLLING, /* SCHEDOP_poll: waits for listed ports or timeout */
};

/* Why control came back from guest code. */
enum xs_exit_kind {
    XS_EXIT_HYPERCALL = 1, /* direct stub: rax = nr, return address at [rsp] */
    XS_EXIT_SIGNAL = 2,    /* a trapped instruction or a fault, see xs_vcpu.sig */
};

struct xs_domain;

struct xs_vcpu {
    struct xs_domain *dom;
    unsigned id;
    struct xs_regs regs;
    enum xs_vcpu_state state;
    bool virt_if; /* the guest's RFLAGS.IF, tracked through trapped cli/sti */
    /* Last trap, filled by the signal handler. */
    struct {
        int signo, code;
        uint64_t addr;
        bool fs_clobbered; /* guest code had loaded %fs (xensim's TLS) */
    } sig;
    /* vcpu_info: in shared_info until the guest registers its own. */
    uint64_t vcpu_info_gpa; /* XS_NO_GPA = use shared_info->vcpu_info[id] */
    uint64_t idt_base;      /* from the trapped lidt */
    uint16_t idt_limit;
    /* runstate accounting (VCPUOP_get_runstate_info) */
    struct vcpu_runstate_info runstate;
    uint64_t runstate_area_gva; /* VCPUOP_register_runstate_memory_area, 0 = none */
    /* SCHEDOP_poll */
    uint64_t poll_deadline_ns; /* 0 = none */
    uint32_t poll_ports[128];
    unsigned nr_poll_ports;
    bool pvclock_stale; /* vcpu_info.time needs writing before the next entry */
    /* Event delivery (callback.c) */
    uint8_t upcall_vector; /* HVMOP_set_evtchn_upcall_vector, 0 = none */
    bool upcall_latched;   /* that vector is due (edge: set on 0->1 of pending) */
    bool sti_shadow;  /* just did sti: no injection before the next exit (sti; hlt) */
    bool initialised; /* has a context (vCPU0 at boot, APs by VCPUOP_initialise) */
    uint64_t upcalls; /* callbacks injected */
    /* Timers (timer.c); XS_NO_DEADLINE = not armed */
    uint64_t sshot_deadline_ns;
    uint64_t periodic_period_ns, periodic_next_ns;
    bool suspend_online; /* was not down when its domain suspended (suspend.c) */
};

#define XS_NO_DEADLINE UINT64_MAX

struct xs_domain {
    struct xs_sim *sim;
    unsigned index; /* position in sim->domains */
    domid_t domid;
    char name[XS_SCN_NAME_MAX];
    enum xs_hypercall_mode hc_mode;
    /* Guest RAM: [0, ram_bytes) physical at host address base.  Backed by a
     * memfd; pages past ram_bytes in the memfd hold shared_info. */
    uint8_t *base;
    uint64_t ram_bytes;
    int memfd;
    uint64_t slot;              /* which XS_SLOT_SIZE window of address space */
    shared_info_t *shared_info; /* emulator's own mapping */
    uint64_t shared_info_gpfn;  /* where the guest mapped it, or ~0 */
    uint64_t hvm_params[HVM_NR_PARAMS];
    uint64_t hypercall_page_gpa; /* ~0 until installed */
    struct hvm_memmap_table_entry memmap[XS_MEMMAP_MAX];
    unsigned nr_memmap;
    uint64_t start_info_pa;
    struct xs_image image;
    unsigned nr_vcpus;
    struct xs_vcpu *vcpus;
    int end_state;     /* enum xs_end_state, XS_END_RUNNING while alive */
    int shutdown_code; /* SCHEDOP_shutdown_code, -1 until set: the first wins */
    char *console;     /* everything the guest wrote */
    size_t console_len, console_cap;
    bool console_truncated;
    size_t console_line_start;        /* where the current (unprinted) line begins */
    struct xs_evtchn_domain *evtchn;  /* event channels (evtchn.c) */
    struct xs_gnttab *gnttab;         /* grant table (gnttab.c) */
    struct xs_console_be *console_be; /* PV console backend (console_sim.c) */
    /* Sanitizer reports (report.c): '\n'-terminated lines. */
    char *reports;
    size_t reports_len, reports_cap;
    unsigned nr_reports, reports_dropped;
    /* Suspend (suspend.c): SCHEDOP_shutdown(SHUTDOWN_suspend) parked the
     * domain (every vCPU down, nothing else changed) until the toolstack
     * cancels (the call returns 1) or resumes it in a new domain. */
    bool suspended;
    unsigned suspend_vcpu; /* the vCPU that made the call */
    uint64_t suspended_ns; /* virtual time it made it (migrate.c's downtime) */
    /* The first time one of its vCPUs ran (migrate.c: a destination's
     * downtime ends there). */
    bool has_run;
    uint64_t first_run_ns;
    /* A restored domain (domain_image.c): its toolstack ports (store,
     * console) are allocated from here up, so they differ from the old
     * domain's, and the console ring keeps its indexes. */
    uint32_t toolstack_port_min;
    bool restored;
    /* The toolstack's suspend outcomes, carried over to the new domain. */
    unsigned suspends_resumed, suspends_cancelled, suspends_failed;
};

struct xs_sim_config {
    uint64_t seed;
    FILE *console_out;      /* guest console goes here (NULL: nowhere) */
    bool console_prefix;    /* prefix lines with "name| " */
    FILE *console_log;      /* a copy of console_out's lines (NULL: none) */
    FILE *log;              /* xensim's own messages (crash reports) */
    const char *trace_path; /* binary trace file, or NULL */
    uint64_t vtime_limit_ns;
    uint64_t exit_limit;
};

struct xs_sim {
    struct xs_sim_config cfg;
    struct xs_prng prng;
    uint64_t vtime_ns;
    uint64_t nr_exits;
    struct xs_trace trace;
    csh capstone;
    unsigned nr_domains;
    struct xs_domain *domains[XS_MAX_DOMAINS];
    char stop_reason[256];  /* why the run loop stopped, "" if all domains ended */
    struct xs_vcpu *stuck;  /* a vCPU the watchdog took out of a loop without exits */
    void *altstack;         /* signal stack for this simulation's thread */
    uint64_t next_timer_ns; /* earliest armed vCPU timer or poll timeout (timer.c) */
    struct xs_xenstore *xenstore; /* xenstored (xenstore.h), NULL if none */
    struct xs_pvdevs *pvdevs;     /* devices with xensim as backend (pvdev.c) */
    domid_t last_domid;           /* the newest domain's: domids are not reused */
    struct xs_suspends *suspends; /* the toolstack's suspend requests (suspend.c) */
    /* netback's switches by name (netswitch.c) */
    struct xs_netswitches *netswitches;
    struct xs_migrations *migrations; /* live migrations (migrate.c) */
};

struct xs_domain_config {
    const char *name;
    const char *image_path;
    uint64_t memory_mib;
    unsigned vcpus;
    const char *cmdline;
    enum xs_hypercall_mode hypercalls;
    /* Guest RAM at this slot's direct-map base (a restore asks for the
     * base its image records), instead of the first free one. */
    bool fixed_slot;
    uint64_t slot;
};

/* sim.c */
int xs_sim_init(struct xs_sim *sim, const struct xs_sim_config *cfg, char *err,
                size_t errlen);
void xs_sim_destroy(struct xs_sim *sim);
/* Runs until every domain ended, or a limit/deadlock stopped it. */
void xs_sim_run(struct xs_sim *sim);
void xs_log(struct xs_sim *sim, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Could the run go on by itself: a runnable vCPU or an armed timer?  (Else
 * it waits for outside input, or stops as deadlocked.) */
bool xs_sim_can_progress(const struct xs_sim *sim);

/* domain.c */
struct xs_domain *xs_domain_create(struct xs_sim *sim, const struct xs_domain_config *cfg,
                                   char *err, size_t errlen);
void xs_domain_destroy(struct xs_domain *d);
void xs_domain_end(struct xs_domain *d, int end_state);
/* The two halves of xs_domain_create, for a restore (domain_image.c):
 * alloc gives a domain with RAM, vCPUs (all down), event channels and a
 * grant table, not yet in the simulation; publish does the toolstack's
 * part (store, console) and adds it to sim->domains.  On failure the
 * caller destroys it. */
struct xs_domain *xs_domain_alloc(struct xs_sim *sim, const struct xs_domain_config *cfg,
                                  char *err, size_t errlen);
int xs_domain_publish(struct xs_domain *d, char *err, size_t errlen);
/* Take d out of sim->domains (it stays allocated), or move it to index
 * (the others keep their order). */
void xs_sim_remove_domain(struct xs_sim *sim, struct xs_domain *d);
void xs_sim_move_domain(struct xs_sim *sim, struct xs_domain *d, unsigned index);
static inline struct xs_vcpu *xs_vcpu_of(struct xs_domain *d, unsigned id)
{
    return id < d->nr_vcpus ? &d->vcpus[id] : NULL;
}
void xs_console_append(struct xs_domain *d, const char *buf, size_t len);

/* report.c: a sanitizer finding about d, logged and kept for the verdict. */
void xs_report(struct xs_domain *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* vcpu.c */
struct vcpu_info *xs_vcpu_info(struct xs_vcpu *v);
void xs_vcpu_set_state(struct xs_vcpu *v, enum xs_vcpu_state st);
void xs_vcpu_run_once(struct xs_vcpu *v);
void xs_vcpu_kick(struct xs_vcpu *v);

/* callback.c: upcall delivery (HVM_PARAM_CALLBACK_IRQ, per-vCPU vectors) */
void xs_callback_assert(struct xs_vcpu *v);
/* Is an upcall due and deliverable to v right now (Xen's
 * local_events_need_delivery)? */
bool xs_callback_deliverable(struct xs_vcpu *v);
/* At VM entry: inject the due upcall into v's guest context, if any. */
void xs_callback_inject(struct xs_vcpu *v);
/* An iretq trapped: return from the interrupt frame at rsp. */
int xs_callback_iret(struct xs_vcpu *v);

/* timer.c: per-vCPU singleshot and periodic timers in virtual time */
void xs_timer_set_singleshot(struct xs_vcpu *v, uint64_t deadline_ns);
/* A guest's absolute deadline as Xen's signed time sees it. */
uint64_t xs_timer_deadline(uint64_t abs_ns);
void xs_timer_set_periodic(struct xs_vcpu *v, uint64_t period_ns);
/* Recompute sim->next_timer_ns after any timer or poll deadline changed. */
void xs_timers_changed(struct xs_sim *sim);
/* Fire every timer whose deadline is <= now. */
void xs_timers_run(struct xs_sim *sim);

/* crash.c: a guest fault ends the domain with registers and disassembly. */
void xs_domain_crash(struct xs_vcpu *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
#endif
