build/guestlib/kernel/irq.o: guestlib/kernel/irq.c \
 guestlib/include/guest/kernel.h guestlib/include/guest/xen.h \
 guestlib/include/guest/types.h guestlib/include/guest/arch.h \
 guestlib/include/guest/irq.h guestlib/include/guest/string.h
guestlib/include/guest/kernel.h:
guestlib/include/guest/xen.h:
guestlib/include/guest/types.h:
guestlib/include/guest/arch.h:
guestlib/include/guest/irq.h:
guestlib/include/guest/string.h:
