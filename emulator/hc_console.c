/* console_io: the hypervisor's debug console.  Xen lets only privileged
 * domains use it unless built for debugging; xensim is a debug hypervisor. */
#include <stdint.h>
#include "guest_mem.h"
#include "hypercall.h"

#define CHUNK 4096

long xs_hc_console_io(struct xs_vcpu *v, const uint64_t a[5])
{
    uint64_t cmd = a[0], count = (uint32_t)a[1], buf = a[2];
    char tmp[CHUNK];
    switch (cmd) {
    case CONSOLEIO_write:
        /* Check the whole buffer first, so a bad one writes nothing. */
        if (count && !xs_gva_ptr(v->dom, buf, count)) return -XEN_EFAULT;
        for (uint64_t off = 0; off < count; off += CHUNK) {
            size_t n = count - off < CHUNK ? (size_t)(count - off) : CHUNK;
            xs_copy_from_guest(v->dom, tmp, buf + off, n);
            xs_console_append(v->dom, tmp, n);
        }
        return 0;
    case CONSOLEIO_read:
        return 0; /* no input: like Xen, nothing is copied, so nothing is checked */
    default:
        return -XEN_ENOSYS;
    }
}
