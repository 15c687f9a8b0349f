/* The migrate app's parts (main.c): a working set dirtied at a set rate
 * (dirty.c), block writes in flight (blkio.c), frames exchanged with a
 * peer that stays put (net.c).  Each part checks its own data; CHECK
 * counts a failure and prints it. */
#ifndef MIGRATE_APP_H
#define MIGRATE_APP_H
#include <guest/printk.h>
#include <guest/xen.h>

#define MS ((uint64_t)1000 * 1000)

extern unsigned mig_failures;

#define CHECK(cond, ...)                                                                 \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            printk("migrate: FAIL: " __VA_ARGS__);                                       \
            printk("\n");                                                                \
            mig_failures++;                                                              \
        }                                                                                \
    } while (0)

/* Blocked (not spinning) for ns of virtual time. */
void mig_sleep(uint64_t ns);

/* dirty.c: pages pages, each rewritten whole with a pattern of (page,
 * generation); the generations are kept in guest RAM too. */
bool dirty_init(unsigned pages);
/* Rewrite pages until `total` writes have been made since the start (a
 * burst of at most `cap` pages). */
void dirty_until(uint64_t total, unsigned cap);
uint64_t dirty_writes(void);
unsigned dirty_pages(void);
/* Every page against its generation: how many are wrong. */
unsigned dirty_verify(void);

/* blkio.c: `inflight` writes of 4 KiB blocks always in flight on the first
 * disk, each completion counted once. */
bool blkio_init(unsigned inflight);
bool blkio_active(void);
void blkio_pump(void);
void blkio_drain(void);
/* Read back every block written: how many are wrong. */
unsigned blkio_verify(void);
void blkio_summary(void);

/* net.c */
bool net_active(void);
/* The migrating side: find the peer, then one ping at a time.  reopen:
 * close the vif before each suspend and open it again after. */
bool net_mover_init(bool reopen);
void net_mover_step(void);
void net_mover_finish(void);
/* The peer: echo every ping until the mover's END. */
int net_echo_run(void);
#endif
