/* regress: guest workloads for the migration-bug regression scenarios
 * (scenarios/regressions/, docs/guest-bugs.md) that the suspend app does
 * not cover.  One mode per run (cmdline mode=NAME), each in its own file. */
#ifndef REGRESS_APP_H
#define REGRESS_APP_H
#include <guest/kernel.h>
#include <guest/printk.h>

#define MS ((uint64_t)1000 * 1000)

extern unsigned regress_failures;

#define CHECK(cond, ...)                                                                 \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            printk("regress: FAIL: " __VA_ARGS__);                                       \
            printk("\n");                                                                \
            regress_failures++;                                                          \
        }                                                                                \
    } while (0)

/* Blocked (not spinning) for ns: a timer wakes us. */
void regress_sleep(uint64_t ns);
/* The main loop: run watch callbacks (the control driver takes a suspend
 * request there), call poll (if any), sleep a little; until the control
 * driver counted `resumes` real resumes, or timeout_ns passed.  True if
 * they happened. */
bool regress_wait_resumes(uint64_t resumes, uint64_t timeout_ns, void (*poll)(void));

int regress_console(void); /* console.c */
int regress_split(void);   /* split.c */
int regress_gone(void);    /* gone.c */
int regress_reorder(void); /* reorder.c */
#endif
