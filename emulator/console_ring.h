/* The console backend's ring engine: what xenconsoled does with one
 * domain's struct xencons_interface (Xen's <xen/io/console.h>) -- take the
 * guest's output from out[], hand queued input to in[] -- with every index
 * the guest controls checked each time it is read.  It knows nothing of
 * the simulation (console_sim.c plugs it in), so unit tests and the fuzzer
 * drive it with a bare page. */
#ifndef XS_CONSOLE_RING_H
#define XS_CONSOLE_RING_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xen/io/console.h>

#define XS_CONRING_OUT_SIZE sizeof(((struct xencons_interface *)0)->out)
#define XS_CONRING_IN_SIZE  sizeof(((struct xencons_interface *)0)->in)
/* Input queued for a guest that does not read it is bounded. */
#define XS_CONRING_INPUT_MAX (1u << 20)

struct xs_conring_ops {
    /* Bytes the guest wrote, in order, only ever copied out of out[]. */
    void (*output)(void *arg, const char *buf, size_t len);
    /* Raise the guest's console port (an index the backend owns moved). */
    void (*notify)(void *arg);
    /* A protocol violation, one line without the domain's name. */
    void (*report)(void *arg, const char *msg);
};

struct xs_conring {
    struct xencons_interface *intf;
    const struct xs_conring_ops *ops;
    void *arg;
    /* The indexes the backend produces, kept here and written to the page:
     * never read back, so a guest scribbling on them changes nothing. */
    XENCONS_RING_IDX out_cons, in_prod;
    XENCONS_RING_IDX in_cons_seen; /* to notice in_cons moving backwards */
    bool out_broken, in_broken;    /* a violation was reported: ring left alone */
    /* Input not yet in in[]: bytes [input_head, input_len) of input. */
    char *input;
    size_t input_head, input_len, input_cap;
    uint64_t out_bytes, in_bytes; /* moved so far */
};

/* Attach to a page whose indexes are all zero (as the toolstack left it). */
void xs_conring_init(struct xs_conring *r, struct xencons_interface *intf,
                     const struct xs_conring_ops *ops, void *arg);
void xs_conring_fini(struct xs_conring *r);
/* Queue input for the guest; -1 (nothing queued) if more than
 * XS_CONRING_INPUT_MAX bytes would wait or memory is short. */
int xs_conring_input(struct xs_conring *r, const void *buf, size_t len);
/* Queued input not yet handed to in[]. */
size_t xs_conring_input_pending(const struct xs_conring *r);
/* Consume out[] and fill in[] as far as each goes; notify once if an
 * index moved.  Returns whether one did.  Cheap when nothing changed: two
 * index reads. */
bool xs_conring_poll(struct xs_conring *r);
/* Consume out[] only, without notifying: the guest is gone (shut down,
 * crashed) and xenconsoled takes what it left. */
void xs_conring_drain(struct xs_conring *r);
#endif
