#ifndef GUEST_IRQ_H
#define GUEST_IRQ_H
#include <guest/types.h>
/* Interrupt (upcall) masking, chosen at boot: real cli/sti, or the
 * paravirtual mask in vcpu_info (cmdline irq=cli or irq=pv, default pv). */
unsigned long irq_save(void);
void irq_restore(unsigned long flags);
void irq_disable(void);
void irq_enable(void);
bool irq_enabled(void);
const char *irq_mode_name(void);
#endif
