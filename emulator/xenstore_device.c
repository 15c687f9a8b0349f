/* The toolstack's part of a PV device: the frontend and backend
 * directories libxl__device_generic_add writes, with xl's permissions (each
 * end owns its directory and the other end may read it), both ends in
 * XenbusStateInitialising. */
#include <stdio.h>
#include <string.h>
#include <xen/io/xenbus.h>

#include "sim.h"
#include "xenstore_int.h"

struct node {
    const char *path, *val;
};

int xs_xenstore_add_device(struct xs_sim *sim, const char *devclass, unsigned front_domid,
                           unsigned back_domid, unsigned id, char *err, size_t errlen)
{
    struct xs_xenstore *xs = sim->xenstore;
    if (!xs) {
        snprintf(err, errlen, "device %s/%u: the simulation has no xenstore", devclass,
                 id);
        return -1;
    }
    char fe[128], be[128], path[192], perms[32];
    snprintf(fe, sizeof(fe), "/local/domain/%u/device/%s/%u", front_domid, devclass, id);
    snprintf(be, sizeof(be), "/local/domain/%u/backend/%s/%u/%u", back_domid, devclass,
             front_domid, id);
    struct node nodes[4];
    unsigned n = 0;
    int e;
    /* The two directories, then their contents (which inherit the perms). */
    snprintf(perms, sizeof(perms), "n%u r%u", front_domid, back_domid);
    if ((e = xs_xenstore_mknod(xs, fe, perms))) goto fail_fe;
    snprintf(perms, sizeof(perms), "n%u r%u", back_domid, front_domid);
    if ((e = xs_xenstore_mknod(xs, be, perms))) goto fail_be;
    char fid[16], bid[16], init[8];
    snprintf(fid, sizeof(fid), "%u", front_domid);
    snprintf(bid, sizeof(bid), "%u", back_domid);
    snprintf(init, sizeof(init), "%d", XenbusStateInitialising);
    nodes[n++] = (struct node){"backend", be};
    nodes[n++] = (struct node){"backend-id", bid};
    nodes[n++] = (struct node){"state", init};
    for (unsigned i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%s", fe, nodes[i].path);
        if ((e = xs_xenstore_write(xs, path, nodes[i].val, strlen(nodes[i].val))))
            goto fail_node;
    }
    n = 0;
    nodes[n++] = (struct node){"frontend", fe};
    nodes[n++] = (struct node){"frontend-id", fid};
    nodes[n++] = (struct node){"online", "1"};
    nodes[n++] = (struct node){"state", init};
    for (unsigned i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%s", be, nodes[i].path);
        if ((e = xs_xenstore_write(xs, path, nodes[i].val, strlen(nodes[i].val))))
            goto fail_node;
    }
    return 0;
fail_fe:
    snprintf(path, sizeof(path), "%s", fe);
    goto fail_node;
fail_be:
    snprintf(path, sizeof(path), "%s", be);
fail_node:
    snprintf(err, errlen, "device %s/%u: cannot write %s: %s", devclass, id, path,
             xst_errno_name(e));
    return -1;
}
