/* Placeholder until the exception handlers land (see pvh32.S/idt.c work). */
#include <guest/kernel.h>
void idt_init(void)
{
}
