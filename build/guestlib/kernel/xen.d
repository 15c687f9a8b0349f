build/guestlib/kernel/xen.o: guestlib/kernel/xen.c \
 guestlib/include/guest/visibility.h guestlib/include/guest/kernel.h \
 guestlib/include/guest/xen.h guestlib/include/guest/types.h \
 guestlib/include/guest/arch.h guestlib/include/guest/hypercall.h \
 guestlib/include/guest/printk.h
guestlib/include/guest/visibility.h:
guestlib/include/guest/kernel.h:
guestlib/include/guest/xen.h:
guestlib/include/guest/types.h:
guestlib/include/guest/arch.h:
guestlib/include/guest/hypercall.h:
guestlib/include/guest/printk.h:
