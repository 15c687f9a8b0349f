build/guestlib/kernel/main.o: guestlib/kernel/main.c \
 guestlib/include/guest/kernel.h guestlib/include/guest/xen.h \
 guestlib/include/guest/types.h guestlib/include/guest/hypercall.h \
 guestlib/include/guest/mm.h guestlib/include/guest/irq.h \
 guestlib/include/guest/printk.h
guestlib/include/guest/kernel.h:
guestlib/include/guest/xen.h:
guestlib/include/guest/types.h:
guestlib/include/guest/hypercall.h:
guestlib/include/guest/mm.h:
guestlib/include/guest/irq.h:
guestlib/include/guest/printk.h:
