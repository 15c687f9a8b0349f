build/guestlib/kernel/console.o: guestlib/kernel/console.c \
 guestlib/include/guest/kernel.h guestlib/include/guest/xen.h \
 guestlib/include/guest/types.h guestlib/include/guest/hypercall.h \
 guestlib/include/guest/printk.h
guestlib/include/guest/kernel.h:
guestlib/include/guest/xen.h:
guestlib/include/guest/types.h:
guestlib/include/guest/hypercall.h:
guestlib/include/guest/printk.h:
