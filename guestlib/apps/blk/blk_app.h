/* The blk app's modes beyond main.c's (guestlib/apps/blk). */
#ifndef BLK_APP_H
#define BLK_APP_H
#include <guest/blkfront.h>

#define BLK_SECT 512u

/* The byte at offset o of sector s of every disk the app writes (and
 * tests/integration/test_blk.py and fuzz/blkfront_responses.c recompute). */
static inline uint8_t blk_pattern(uint64_t sector, unsigned off)
{
    return (uint8_t)((sector * 7u + off * 13u + 1u) & 0xff);
}

/* fuzz=1: a fixed mix of I/O against fuzz/blkfront_responses.c's hostile
 * backend (fuzz.c). */
int blk_fuzz(const struct blkfront_opts *o);
/* unplug=1: disks hot-unplugged with I/O in flight and hot-plugged while
 * the guest runs (unplug.c, scenarios/hotplug.scn). */
int blk_unplug(void);
#endif
