/* PV IPIs: one event channel per (CPU, IPI kind), bound with
 * EVTCHNOP_bind_ipi to the CPU that receives it.  Sending an IPI is
 * EVTCHNOP_send on the target's port. */
#ifndef GUEST_IPI_H
#define GUEST_IPI_H
#include <guest/percpu.h>

enum ipi_kind {
    IPI_CALL,       /* run a function on one CPU (smp_call) */
    IPI_RENDEZVOUS, /* smp_rendezvous */
    IPI_TLB,        /* smp_tlb_shootdown */
    IPI_PING,       /* counted by a hook, for tests */
};
_Static_assert(IPI_PING + 1 == NR_IPI_KINDS, "NR_IPI_KINDS in percpu.h");

/* This CPU: bind one port per kind. */
void ipi_cpu_init(void);
long ipi_send(unsigned cpu, enum ipi_kind kind);
/* Every online CPU but this one. */
void ipi_broadcast(enum ipi_kind kind);
/* Every kind to every online CPU, this one too: after a resume, for the
 * IPIs that were pending in the old domain. */
void ipi_broadcast_all(void);
const char *ipi_kind_name(enum ipi_kind kind);
/* Called in the PING handler on the receiving CPU. */
void ipi_set_ping_hook(void (*hook)(void));
#endif
