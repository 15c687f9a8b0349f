/* basic: boots, prints a summary of what it found, and powers off. */
#include <guest/kernel.h>
#include <guest/hypercall.h>
#include <guest/mm.h>
#include <guest/irq.h>
#include <guest/time.h>
#include <guest/printk.h>

int app_main(void)
{
    printk("basic: hello\n");
    return 0;
}
static const char *const test_names[] = {"alpha", "beta"};
const char *test_name(int i) { return test_names[i]; }
